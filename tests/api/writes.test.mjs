// Writes (issue 16): client.mutate and client.setData through the public API,
// against a loopback server that records what it was sent.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { CalmfetchError, clientOf, readBody, rejection, reply, routes, runScript, serve, sleep, snapshots, waitFor, within } from './helpers.mjs'

/** A server whose `/echo` answers what it got: method, content type, body text. */
async function echoServer(t, extra = {}) {
  return serve(t, routes({
    '/echo': async (req, res, srv, entry) => {
      const body = entry.body ?? (await readBody(req))
      reply(res, 200, { method: req.method, type: req.headers['content-type'] ?? null, body, auth: req.headers.authorization ?? null })
    },
    ...extra,
  }))
}

test('bodies: plain objects and arrays go as JSON, the rest as they are', { timeout: 5_000 }, async (t) => {
  const srv = await echoServer(t)
  const client = clientOf(srv)
  let r = await client.mutate('/echo', { body: { a: 1, b: [2] } })
  assert.deepEqual(r, { method: 'POST', type: 'application/json', body: '{"a":1,"b":[2]}', auth: null })
  r = await client.mutate('/echo', { method: 'PUT', body: [1, 'x'] })
  assert.deepEqual([r.method, r.type, r.body], ['PUT', 'application/json', '[1,"x"]'])
  r = await client.mutate('/echo', { method: 'PATCH', body: 'plain text' })
  assert.equal(r.method, 'PATCH')
  assert.match(r.type, /^text\/plain/)
  assert.equal(r.body, 'plain text')
  r = await client.mutate('/echo', { body: new URLSearchParams({ q: 'a b' }) })
  assert.match(r.type, /^application\/x-www-form-urlencoded/)
  assert.equal(r.body, 'q=a+b')
  const form = new FormData()
  form.set('field', 'value')
  r = await client.mutate('/echo', { body: form })
  assert.match(r.type, /^multipart\/form-data; boundary=/)
  assert.match(r.body, /name="field"\r\n\r\nvalue/)
  r = await client.mutate('/echo', { body: new Blob(['blob!'], { type: 'text/x-blob' }) })
  assert.deepEqual([r.type, r.body], ['text/x-blob', 'blob!'])
  r = await client.mutate('/echo', { body: new TextEncoder().encode('bytes').buffer })
  assert.equal(r.body, 'bytes')
  r = await client.mutate('/echo', { body: new TextEncoder().encode('typed') })
  assert.equal(r.body, 'typed')
  r = await client.mutate('/echo', { method: 'DELETE' })
  assert.deepEqual([r.method, r.type, r.body], ['DELETE', null, ''])
  // The caller's own Content-Type wins; the client's headers go along.
  const withAuth = clientOf(srv, { headers: { Authorization: 'Bearer a' } })
  r = await withAuth.mutate('/echo', { body: { x: 1 }, headers: { 'content-type': 'application/merge-patch+json' } })
  assert.deepEqual([r.type, r.auth], ['application/merge-patch+json', 'Bearer a'])
})

test('bad input is refused with an invalid error naming it, before anything is sent', { timeout: 5_000 }, async (t) => {
  const srv = await echoServer(t)
  const client = clientOf(srv)
  const cases = [
    [{ method: 'GET' }, /mutate\.method.*"GET"/],
    [{ method: 'post' }, /mutate\.method/],
    [{ body: new Map() }, /mutate\.body/],
    [{ body: new Date() }, /mutate\.body/],
    [{ bodyy: 1 }, /unknown option `bodyy`/],
    [{ invalidates: 3 }, /mutate\.invalidates/],
    [{ invalidates: [3] }, /URL must be a string/],
    [{ optimistic: { update: 1 } }, /optimistic\.update/],
    [{ optimistic: { update: (x) => x, urll: '/a' } }, /unknown option `urll`/],
    [{ signal: {} }, /AbortSignal/],
    [{ headers: { 'X-A': 1 } }, /header `X-A`/],
  ]
  for (const [o, re] of cases) {
    const e = await rejection(client.mutate('/echo', o), JSON.stringify(o))
    assert.ok(e instanceof CalmfetchError)
    assert.equal(e.kind, 'invalid', e.message)
    assert.match(e.message, re)
  }
  const e = await rejection(client.mutate(42), 'a url that is no string')
  assert.equal(e.kind, 'invalid')
  assert.equal(srv.total(), 0, 'nothing was sent')
})

test('answers parse like a get: JSON, null when empty, text otherwise; HTTP errors are typed', { timeout: 5_000 }, async (t) => {
  const srv = await serve(t, routes({
    '/json': { ok: true },
    '/empty': (req, res) => {
      res.writeHead(204)
      res.end()
    },
    '/text': (req, res) => reply(res, 201, 'created it', { 'Content-Type': 'text/plain' }),
    '/conflict': (req, res) => reply(res, 409, { error: 'taken' }),
  }))
  const client = clientOf(srv)
  assert.deepEqual(await client.mutate('/json', { body: {} }), { ok: true })
  assert.equal(await client.mutate('/empty', { method: 'DELETE' }), null)
  assert.equal(await client.mutate('/text', { body: 'x' }), 'created it')
  const e = await rejection(client.mutate('/conflict', { method: 'PUT', body: { a: 1 } }))
  assert.ok(e instanceof CalmfetchError)
  assert.equal(e.kind, 'http')
  assert.equal(e.status, 409)
  assert.deepEqual(e.body, { error: 'taken' })
  assert.equal(e.url, `${srv.url}/conflict`)
  assert.match(e.message, /^calmfetch: PUT .*\/conflict failed: HTTP 409/)
})

test('two identical writes are two requests, never cached, never retried', { timeout: 5_000 }, async (t) => {
  let n = 0
  const srv = await serve(t, routes({
    '/post': (req, res) => reply(res, 200, { n: ++n }),
    '/down': (req, res) => reply(res, 503, { error: 'down' }),
  }))
  const client = clientOf(srv)
  const [a, b] = await Promise.all([client.mutate('/post', { body: { x: 1 } }), client.mutate('/post', { body: { x: 1 } })])
  assert.deepEqual([a.n, b.n].sort(), [1, 2])
  assert.equal(srv.count('/post'), 2)
  assert.equal(client.peek('/post').data, undefined, 'the answer is not cached')
  const e = await rejection(client.mutate('/down'))
  assert.equal(e.status, 503)
  await sleep(100)
  assert.equal(srv.count('/down'), 1, 'not retried')
})

test('the client timeout applies to writes', { timeout: 5_000 }, async (t) => {
  const srv = await serve(t, routes({ '/hang': () => {} }))
  const client = clientOf(srv, { timeoutMs: 150 })
  const started = performance.now()
  const e = await within(rejection(client.mutate('/hang', { body: {} })), 2_000, 'the write')
  assert.equal(e.kind, 'timeout')
  assert.equal(e.name, 'TimeoutError')
  assert.ok(performance.now() - started >= 140)
  assert.equal(client.stats().timeouts, 1)
})

test('the circuit breaker: failed writes open it, a write to an open circuit is refused, reads too', { timeout: 5_000 }, async (t) => {
  const srv = await serve(t, routes({
    '/down': (req, res) => reply(res, 503, { error: 'down' }),
    '/ok': { ok: true },
  }))
  const client = clientOf(srv, { circuit: { failures: 2, coolDownMs: 10_000 } })
  for (let i = 0; i < 2; i++) assert.equal((await rejection(client.mutate('/down'))).status, 503)
  const e = await rejection(client.mutate('/ok', { body: {} }), 'a write to an open circuit')
  assert.equal(e.kind, 'circuit')
  assert.match(e.message, /^calmfetch: POST .* failed: circuit open/)
  assert.equal((await rejection(client.get('/ok'))).kind, 'circuit', 'failed writes count for reads too')
  assert.equal(srv.count('/ok'), 0)
  assert.equal(client.stats().circuitRefused, 2)
})

test('a successful write counts for the circuit: failures in between do not add up', { timeout: 5_000 }, async (t) => {
  const srv = await serve(t, routes({
    '/down': (req, res) => reply(res, 500, {}),
    '/ok': { ok: true },
  }))
  // (Without retries: each read is one counted failure.)
  const client = clientOf(srv, { circuit: { failures: 2, coolDownMs: 10_000 }, retry: 0 })
  await rejection(client.get('/down', { fresh: true }))
  await client.mutate('/ok')
  await rejection(client.get('/down', { fresh: true }))
  assert.deepEqual(await client.get('/ok'), { ok: true }, 'the circuit is still closed')
  assert.equal(client.stats().circuitOpens, 0)
})

test('abort via signal: rejects once with an abort error; an aborted signal sends nothing', { timeout: 5_000 }, async (t) => {
  const srv = await serve(t, routes({ '/hang': () => {}, '/ok': { ok: 1 } }))
  const client = clientOf(srv)
  const ctl = new AbortController()
  const p = client.mutate('/hang', { body: {}, signal: ctl.signal })
  await waitFor(() => srv.count('/hang') === 1, 1_000, 'the write to go out')
  ctl.abort()
  const e = await within(rejection(p), 1_000, 'the aborted write')
  assert.equal(e.kind, 'abort')
  assert.equal(e.name, 'AbortError')
  ctl.abort() // nothing more happens
  const gone = await rejection(client.mutate('/ok', { signal: ctl.signal }))
  assert.equal(gone.kind, 'abort')
  assert.equal(srv.count('/ok'), 0)
  // A signal that aborts after the write settled changes nothing.
  const late = new AbortController()
  assert.deepEqual(await client.mutate('/ok', { signal: late.signal }), { ok: 1 })
  late.abort()
  assert.equal(client.stats().inFlight, 0)
})

/** A counter resource: GET /counter answers its value; POST /counter/add adds `by` (or fails with `fail`; `wait`: held until the test lets it go). */
async function counter(t) {
  const state = { value: 0, hold: [] }
  const srv = await serve(t, async (req, res, srv, entry) => {
    if (entry.path === '/counter') return reply(res, 200, { value: state.value })
    if (entry.path === '/other') return reply(res, 200, { other: true })
    if (entry.path === '/counter/add') {
      const { by, fail, wait } = JSON.parse(entry.body)
      if (wait) await new Promise((r) => state.hold.push(r))
      if (fail) return reply(res, 500, { error: 'no' })
      state.value += by
      return reply(res, 200, { value: state.value })
    }
    reply(res, 404, {})
  })
  return { srv, state }
}
test('invalidates: a subscriber of what the write changed refetches; others do not', { timeout: 5_000 }, async (t) => {
  const { srv } = await counter(t)
  const client = clientOf(srv, { cache: { ttlMs: 60_000 } })
  const seen = snapshots()
  const stop = client.subscribe('/counter', seen.listener)
  t.after(stop)
  const stopOther = client.subscribe('/other', () => {})
  t.after(stopOther)
  await client.get('/counter')
  await client.get('/other')
  assert.equal(srv.count('/counter'), 1)
  const r = await client.mutate('/counter/add', { body: { by: 5 }, invalidates: '/counter' })
  assert.deepEqual(r, { value: 5 })
  await seen.next((s) => s.data?.value === 5 && !s.isFetching, 2_000, 'the refetched value')
  assert.equal(srv.count('/counter'), 2, 'one refetch of the invalidated key')
  assert.equal(srv.count('/other'), 1, 'nothing else is fetched')
  // A key nobody listens to is only marked stale: the next get fetches it.
  const lone = clientOf(srv, { cache: { ttlMs: 60_000 } })
  await lone.get('/counter')
  const before = srv.count('/counter')
  await lone.mutate('/counter/add', { body: { by: 1 }, invalidates: ['/counter'] })
  await sleep(50)
  assert.equal(srv.count('/counter'), before, 'no listener, no refetch')
  assert.equal(lone.peek('/counter').stale, true)
  assert.deepEqual(await lone.get('/counter'), { value: 6 })
})

test('a failed write invalidates nothing', { timeout: 5_000 }, async (t) => {
  const { srv } = await counter(t)
  const client = clientOf(srv, { cache: { ttlMs: 60_000 } })
  await client.get('/counter')
  await rejection(client.mutate('/counter/add', { body: { by: 1, fail: true }, invalidates: '/counter' }))
  assert.equal(client.peek('/counter').stale, false)
})

test('an optimistic update shows at once and rolls back when the write fails; the error reaches the caller', { timeout: 5_000 }, async (t) => {
  const { srv, state } = await counter(t)
  const client = clientOf(srv, { cache: { ttlMs: 60_000 } })
  const seen = snapshots()
  t.after(client.subscribe('/counter', seen.listener))
  await client.get('/counter')
  const at = client.peek('/counter').updatedAt
  await sleep(20)
  const p = client.mutate('/counter/add', {
    body: { by: 1, fail: true, wait: true },
    optimistic: { url: '/counter', update: (c) => ({ value: c.value + 1 }) },
  })
  assert.deepEqual(client.peek('/counter').data, { value: 1 }, 'at once')
  assert.equal(client.peek('/counter').updatedAt, at, 'as old as the data it stands for')
  assert.ok(seen.seen.some((s) => s.data?.value === 1), 'subscribers saw it')
  await waitFor(() => state.hold.length === 1, 1_000, 'the write at the server')
  state.hold.shift()()
  const e = await rejection(p)
  assert.equal(e.status, 500)
  assert.deepEqual(client.peek('/counter').data, { value: 0 }, 'rolled back')
  assert.equal(client.peek('/counter').updatedAt, at, 'no fresher than before the write')
  assert.deepEqual(seen.seen.at(-1).data, { value: 0 })
})

test('overlapping writes roll back in the right order', { timeout: 5_000 }, async (t) => {
  const { srv, state } = await counter(t)
  const client = clientOf(srv, { cache: { ttlMs: 60_000 } })
  const seen = snapshots()
  t.after(client.subscribe('/counter', seen.listener))
  await client.get('/counter')
  const add = (by) => (c) => ({ value: c.value + by })
  const a = client.mutate('/counter/add', { body: { by: 1, fail: true, wait: true }, optimistic: { url: '/counter', update: add(1) } })
  const b = client.mutate('/counter/add', { body: { by: 10, wait: true }, invalidates: '/counter', optimistic: { url: '/counter', update: add(10) } })
  assert.deepEqual(client.peek('/counter').data, { value: 11 })
  await waitFor(() => state.hold.length === 2, 1_000, 'both writes at the server')
  state.hold.shift()() // A fails
  assert.equal((await rejection(a)).status, 500)
  assert.deepEqual(client.peek('/counter').data, { value: 10 }, "A's failure keeps B's optimistic change")
  state.hold.shift()() // B succeeds
  const n = seen.seen.length
  assert.deepEqual(await b, { value: 10 })
  await waitFor(() => seen.seen.slice(n).some((s) => s.isFetching), 1_000, 'the refetch B asked for')
  await seen.next((s) => seen.seen.indexOf(s) > n && s.data?.value === 10 && !s.isFetching && !s.stale, 2_000, 'the server truth')
  assert.equal(srv.count('/counter'), 2, 'B invalidated the counter: refetched once')
})

test('an aborted optimistic write rolls back and rejects once', { timeout: 5_000 }, async (t) => {
  const { srv, state } = await counter(t)
  const client = clientOf(srv, { cache: { ttlMs: 60_000 } })
  await client.get('/counter')
  const ctl = new AbortController()
  let settled = 0
  const p = client.mutate('/counter/add', {
    body: { by: 3, wait: true },
    signal: ctl.signal,
    optimistic: { url: '/counter', update: (c) => ({ value: c.value + 3 }) },
  })
  p.then(() => settled++, () => settled++)
  assert.deepEqual(client.peek('/counter').data, { value: 3 })
  await waitFor(() => state.hold.length === 1, 1_000, 'the write at the server')
  ctl.abort()
  assert.equal((await rejection(p)).kind, 'abort')
  assert.deepEqual(client.peek('/counter').data, { value: 0 }, 'rolled back')
  state.hold.shift()() // the server finishes the write anyway: nothing changes here
  await sleep(50)
  assert.equal(settled, 1)
  assert.deepEqual(client.peek('/counter').data, { value: 0 })
  assert.equal(client.stats().inFlight, 0)
})

test('data from the server while writes are out becomes the base under their updates', { timeout: 5_000 }, async (t) => {
  const { srv, state } = await counter(t)
  const client = clientOf(srv, { cache: { ttlMs: 60_000 } })
  t.after(client.subscribe('/counter', () => {}))
  await client.get('/counter')
  const a = client.mutate('/counter/add', { body: { by: 1, fail: true, wait: true }, optimistic: { url: '/counter', update: (c) => ({ value: c.value + 1 }) } })
  state.value = 100 // someone else wrote
  await client.get('/counter', { fresh: true })
  assert.deepEqual(client.peek('/counter').data, { value: 101 }, 'the new base, with the pending update')
  await waitFor(() => state.hold.length === 1, 1_000, 'the write')
  state.hold.shift()()
  await rejection(a)
  assert.deepEqual(client.peek('/counter').data, { value: 100 }, 'rolled back to the new base')
})

test('an optimistic update of an entry with no data, and one that throws', { timeout: 5_000 }, async (t) => {
  const { srv } = await counter(t)
  const client = clientOf(srv)
  const e = await rejection(client.mutate('/counter/add', { body: { by: 1, fail: true }, optimistic: { url: '/counter', update: () => ({ value: 7 }) } }))
  assert.equal(e.status, 500)
  assert.equal(client.peek('/counter').data, undefined, 'back to no data')
  const boom = new Error('boom')
  const thrown = await rejection(client.mutate('/counter/add', { body: { by: 1 }, optimistic: { url: '/counter', update: () => { throw boom } } }))
  assert.equal(thrown, boom, "the update's own error")
  assert.equal(srv.count('/counter/add'), 1, 'nothing sent for it')
})

test('setData: subscribers see it, it is fresh for the TTL, scoped to its identity, within the byte limits', { timeout: 5_000 }, async (t) => {
  const { srv } = await counter(t)
  const client = clientOf(srv, { cache: { ttlMs: 60_000, maxBodyBytes: 100 } })
  const seen = snapshots()
  t.after(client.subscribe('/counter', seen.listener))
  assert.deepEqual(client.setData('/counter', { value: 42 }), { value: 42 })
  await seen.next((s) => s.data?.value === 42, 1_000, 'the data set by hand')
  assert.deepEqual(await client.get('/counter'), { value: 42 })
  assert.equal(srv.count('/counter'), 0, 'fresh: no request')
  assert.equal(client.peek('/counter').stale, false)
  assert.deepEqual(client.setData('/counter', (c) => ({ value: c.value + 1 })), { value: 43 })
  assert.deepEqual(client.peek('/counter').data, { value: 43 })
  assert.equal(client.peek('/counter', { partition: 'bob' }).data, undefined, "another identity's entry is untouched")
  client.setData('/counter', { value: 1 }, { partition: 'bob' })
  assert.deepEqual(client.peek('/counter', { partition: 'bob' }).data, { value: 1 })
  assert.deepEqual(client.peek('/counter').data, { value: 43 })
  // Over maxBodyBytes: shown to the listener, not kept.
  client.setData('/counter', { value: 'x'.repeat(200) })
  assert.equal(client.peek('/counter').data.value.length, 200)
  assert.equal(client.stats().cacheEntries, 2)
  await client.get('/counter')
  assert.equal(srv.count('/counter'), 1, 'not kept: the get fetched')
  client.setData('/nobody', { big: 'y'.repeat(200) })
  assert.equal(client.peek('/nobody').data, undefined, 'too big and nobody listens: not kept')
  const e = (() => {
    try {
      client.setData('/counter', { n: 1n })
    } catch (err) {
      return err
    }
  })()
  assert.equal(e?.kind, 'invalid')
  assert.match(e.message, /setData: the data must be a JSON value/)
  assert.equal(client.setData('/counter', () => undefined), undefined, 'undefined changes nothing')
})

test('writes and setData made before the module is ready are queued, and settle; and when it cannot load', { timeout: 15_000 }, async (t) => {
  const { srv } = await counter(t)
  // A fresh process: the first client's module is still loading when the calls are made.
  const scenario = (refuse) => `
${refuse ? `for (const name of ['instantiate', 'instantiateStreaming']) {
  const real = WebAssembly[name]
  WebAssembly[name] = (bytes, imports) => imports?.env?.cf_panic ? Promise.reject(new Error('no wasm')) : real(bytes, imports)
}` : ''}
const { createClient } = await import(process.env.CALMFETCH_ENTRY)
const c = createClient({ baseUrl: ${JSON.stringify(srv.url)} })
const set = c.setData('/counter', { value: 5 })
const write = c.mutate('/counter/add', { body: { by: 2 }, optimistic: { url: '/counter', update: (v) => v && { value: v.value + 100 } } })
const shown = c.peek('/counter').data
const out = await Promise.race([write.then((v) => ({ ok: v }), (e) => ({ kind: e.kind })), new Promise((r) => setTimeout(() => r('hung'), 3000))])
let after
try {
  after = c.peek('/counter').data ?? null
} catch (e) {
  after = e.kind // a client whose module cannot load has stopped: later calls throw
}
console.log('RESULT ' + JSON.stringify({ set: set ?? null, shown: shown ?? null, out, after }))
`
  for (const refuse of [false, true]) {
    const run = await runScript(t, scenario(refuse), { ms: 6_000 })
    const line = run.stdout.split('\n').find((l) => l.startsWith('RESULT '))
    assert.ok(line, `no result (killed: ${run.killed}); stderr: ${run.stderr.slice(0, 1500)}`)
    const r = JSON.parse(line.slice(7))
    assert.equal(r.set, null, 'setData before the module is ready returns nothing')
    assert.equal(r.shown, null, 'nothing shows before the module is ready')
    if (refuse) assert.deepEqual([r.out, r.after], [{ kind: 'internal' }, 'internal'])
    else {
      assert.deepEqual(r.out, { ok: { value: 2 } })
      assert.deepEqual(r.after, { value: 105 }, 'the queued setData, then the optimistic update over it (the write invalidates it: stale, no listener)')
    }
    assert.equal(run.code, 0, run.stderr.slice(0, 1500))
  }
})
