// Shared harness of the public-API suite (tests/api/*.test.mjs, run with
// `node --test tests/api/`): the package under test, a loopback HTTP server
// whose routes each test defines, a fake socket adapter, and small waiting
// and counting tools. Everything a helper opens is closed by `t.after`, so a
// test file's process exits by itself.
import { createServer } from 'node:http'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'

export { sleep }

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
/** The built package's directory: `$CALMFETCH_PKG`, else this checkout's `pkg/`. */
export const PKG = resolve(process.env.CALMFETCH_PKG ?? join(repo, 'pkg'))
/** `import()`-able URL of the package's entry. */
export const PKG_ENTRY = pathToFileURL(join(PKG, 'index.js')).href

const calmfetch = await import(PKG_ENTRY)
export const { createClient, CalmfetchError } = calmfetch

/** Send `body` as JSON (or as is, when it is a string or a Buffer). */
export function reply(res, status, body, headers = {}) {
  if (res.destroyed || res.writableEnded) return
  const raw = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body)
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(raw), ...headers })
  res.end(raw)
}

export async function readBody(req) {
  const chunks = []
  for await (const c of req) chunks.push(c)
  return Buffer.concat(chunks).toString('utf8')
}

/**
 * A `node:http` server on 127.0.0.1, port 0, closed after the test.
 * `handle(req, res, srv)` answers each request (it may be async); a request
 * it leaves unanswered stays open until the server closes. Requests are
 * counted per path (`srv.count('/x')`), and each is logged in `srv.log` as
 * `{ method, path, url, headers, body }` (POST bodies read first).
 */
export async function serve(t, handle, { maxHeaderSize } = {}) {
  const sockets = new Set()
  const counts = new Map()
  const log = []
  const srv = {
    url: '',
    log,
    count: (path) => counts.get(path) ?? 0,
    total: () => log.length,
  }
  const server = createServer({ maxHeaderSize }, async (req, res) => {
    const path = req.url.split('?')[0]
    counts.set(path, (counts.get(path) ?? 0) + 1)
    const entry = { method: req.method, path, url: req.url, headers: req.headers, body: undefined }
    log.push(entry)
    try {
      if (req.method === 'POST') entry.body = await readBody(req)
      await handle(req, res, srv, entry)
    } catch (e) {
      reply(res, 500, { error: String(e?.message ?? e) })
    }
  })
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  srv.port = server.address().port
  srv.url = `http://127.0.0.1:${srv.port}`
  srv.close = async () => {
    if (!server.listening) return
    const closed = once(server, 'close')
    server.close()
    for (const s of sockets) s.destroy()
    await closed
  }
  t.after(srv.close)
  return srv
}

/** A route table for `serve`: `{ '/path': (req, res, srv, entry) => ... }`, 404 otherwise. */
export function routes(table) {
  return (req, res, srv, entry) => {
    const route = table[entry.path]
    if (route === undefined) return reply(res, 404, { error: `no route ${entry.path}` })
    if (typeof route === 'function') return route(req, res, srv, entry)
    return reply(res, 200, route)
  }
}

/** The items of a `/batch` POST body: `[{ id, url, headers }]`. */
export const batchItems = (entry) => JSON.parse(entry.body).requests

/**
 * A `/batch` handler: each item is answered by `answer(item)` →
 * `{ status, body, headers }` (or a promise of it); all answers go back in
 * one JSON document.
 */
export function batchRoute(answer) {
  return async (req, res, srv, entry) => {
    const items = batchItems(entry)
    const responses = await Promise.all(items.map(async (item) => ({ id: item.id, ...(await answer(item)) })))
    reply(res, 200, { responses })
  }
}

/** Every item URL the server was asked for, through `/batch` or alone. */
export function itemsSeen(srv, batchPath = '/batch') {
  const seen = []
  for (const e of srv.log) {
    if (e.path === batchPath && e.method === 'POST') seen.push(...batchItems(e).map((i) => i.url))
    else seen.push(e.url)
  }
  return seen
}

/** A client on `srv` (its `baseUrl`), with `options` merged in. */
export function clientOf(srv, options = {}) {
  return createClient({ baseUrl: srv.url, ...options })
}

/** The error `promise` rejects with; fails if it resolves. */
export async function rejection(promise, what = 'the promise') {
  let value
  try {
    value = await promise
  } catch (e) {
    return e
  }
  throw new Error(`${what} resolved (with ${JSON.stringify(value)?.slice(0, 200)}) instead of rejecting`)
}

/** `promise`, or a rejection saying `what` did not settle within `ms`. */
export async function within(promise, ms, what) {
  const timer = new AbortController()
  const late = sleep(ms, undefined, { signal: timer.signal }).then(
    () => {
      throw new Error(`${what} did not settle within ${ms} ms`)
    },
    () => {},
  )
  try {
    return await Promise.race([promise, late])
  } finally {
    timer.abort()
  }
}

/** Wait until `check()` is truthy (polled every 5 ms); fails after `ms` saying `what`. */
export async function waitFor(check, ms, what) {
  const end = performance.now() + ms
  for (;;) {
    const v = await check()
    if (v) return v
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(5)
  }
}

/**
 * Replace `globalThis[name]` by `make(original)` until the test ends (or
 * `restore()` is called).
 */
export function patchGlobal(t, name, make) {
  const original = globalThis[name]
  globalThis[name] = make(original)
  let restored = false
  const restore = () => {
    if (!restored) {
      restored = true
      globalThis[name] = original
    }
  }
  t.after(restore)
  return restore
}

/** Count calls of `globalThis.setTimeout` from now until the test ends. */
export function countSetTimeout(t) {
  const counter = { calls: 0 }
  patchGlobal(t, 'setTimeout', (original) => function countedSetTimeout(...args) {
    counter.calls++
    return original.apply(this, args)
  })
  return counter
}

/**
 * Close every `BroadcastChannel` made from now on when the test ends. A
 * poller opens one and (defect 13, tested on its own in a child process) may
 * never close it; without this a test that polls would keep the file's
 * process alive.
 */
export function closeBroadcastChannelsAfter(t) {
  const made = []
  patchGlobal(t, 'BroadcastChannel', (Original) => class TrackedBroadcastChannel extends Original {
    constructor(...args) {
      super(...args)
      made.push(this)
    }
  })
  t.after(() => {
    for (const c of made) c.close()
  })
}

/**
 * A socket adapter (README "Realtime socket") that records what calmfetch
 * does with it. `openInConnect: true` calls `open()` inside `connect()`, as
 * an already-connected socket would. `connections[i]` holds the handlers of
 * the i-th `connect`.
 */
export function fakeAdapter({ openInConnect = false } = {}) {
  const a = {
    connections: [],
    sent: [],
    closes: 0,
    get handlers() {
      return a.connections.at(-1)
    },
    subscribed: () => a.sent.map((s) => JSON.parse(s)).filter((m) => m.type === 'subscribe').map((m) => m.key),
    adapter: {
      connect(handlers) {
        a.connections.push(handlers)
        if (openInConnect) handlers.open()
      },
      send(text) {
        a.sent.push(text)
      },
      close() {
        a.closes++
      },
    },
  }
  return a
}

/** A protocol `data` message for `key`. */
export const dataMessage = (key, body) => JSON.stringify({ type: 'data', key, body })

/** The next snapshot from a `subscribe` listener that satisfies `test`. */
export function snapshots() {
  const seen = []
  const waiting = []
  return {
    seen,
    listener(s) {
      seen.push(s)
      for (const w of [...waiting]) {
        if (w.test(s)) {
          waiting.splice(waiting.indexOf(w), 1)
          w.resolve(s)
        }
      }
    },
    next(test, ms, what) {
      const found = seen.find(test)
      if (found) return Promise.resolve(found)
      return within(new Promise((resolve) => waiting.push({ test, resolve })), ms, `the listener receiving ${what}`)
    },
  }
}

/**
 * Run an ES module `source` in a child `node` (its stdout/stderr kept);
 * `SIGKILL` after `ms`. Resolves `{ code, signal, killed, stdout, stderr, ms }`.
 * The source may `import` the package (`process.env.CALMFETCH_ENTRY`) and
 * these helpers (`process.env.CALMFETCH_API_HELPERS`).
 */
export async function runScript(t, source, { ms, env = {} } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'calmfetch-api-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'script.mjs')
  writeFileSync(file, source)
  const started = performance.now()
  const child = spawn(process.execPath, [file], {
    env: { ...process.env, ...env, CALMFETCH_ENTRY: PKG_ENTRY, CALMFETCH_API_HELPERS: import.meta.url },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.on('data', (d) => (stderr += d))
  let killed = false
  const killer = setTimeout(() => {
    killed = true
    child.kill('SIGKILL')
  }, ms)
  t.after(() => {
    clearTimeout(killer)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  const [code, signal] = await once(child, 'close')
  clearTimeout(killer)
  return { code, signal, killed, stdout, stderr, ms: performance.now() - started }
}
