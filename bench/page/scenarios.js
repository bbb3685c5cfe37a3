// The load scenarios, as run inside one page. run.mjs drives them, spreads
// users over pages, and reads the server's counters around each run.
import { makeClient } from './clients.js'
import { net, netSnapshot } from './net.js'
import { countInto, errorClass, rng, sleep } from './util.js'
import { wasmMemoryBytes } from './probe.js'

/** Sum the numeric fields of calmfetch's stats() over clients (what calmfetch says it did). */
function calmStats(clients) {
  const sum = {}
  for (const c of clients) {
    if (!c.client) continue
    // memoryBytes is the page's one wasm memory, not per client: probe.js reports it.
    for (const [k, v] of Object.entries(c.client.stats())) if (typeof v === 'number' && k !== 'memoryBytes') sum[k] = (sum[k] ?? 0) + v
  }
  return Object.keys(sum).length ? sum : null
}

// The calmfetch clients of the last scenario run in this page. Their counters
// are summed by `takeCalm`, which the driver calls after it has read the
// page's main-thread time: reading 100 clients' stats costs milliseconds that
// no peer pays, so it must not count as the scenario's work.
let measured = []
const keep = (clients) => {
  measured = clients.filter((c) => c.client)
  return null
}

/** The summed counters of the last scenario's calmfetch clients (null for peers). */
export function takeCalm() {
  const calm = calmStats(measured)
  measured = []
  return calm
}

/** A calmfetch snapshot as plain data. */
function describe(snap) {
  return { hasData: snap.data !== undefined, error: snap.error ? String(snap.error.message) : undefined, stale: snap.stale, isFetching: snap.isFetching }
}

// ---------------------------------------------------------------------------
// storm: users open a game page while the realtime socket's handshake hangs
// ---------------------------------------------------------------------------

/** The game page: 3 REST components in the app shell, 5 realtime ones. */
export function stormPage(user) {
  const g = (user % 20) + 1
  return {
    rest: ['/api/user', '/api/notifications', '/api/bills'],
    live: [
      `/api/games/${g}`, // header
      `/api/games/${g}`, // scoreboard (same key)
      `/api/games/${g}/odds`,
      `/api/games/${g}/players`,
      `/api/games/${g}/chat`,
    ],
  }
}

/**
 * Users `lo..hi-1` of `users` arrive evenly over `rampMs` from epoch time
 * `t0`. Each makes its client and mounts the 8 components at once; the page
 * "has its data" when all 8 settled. Components stay mounted until the end.
 */
export async function storm({ kind, lo, hi, users, t0, rampMs, socketTimeoutMs, maxMs, restOnly = false, clientOpts = {} }) {
  const times = []
  const errors = {}
  let incomplete = 0
  let pagesWithErrors = 0
  const stuck = []
  const clients = []
  await Promise.all(
    Array.from({ length: hi - lo }, async (_, i) => {
      const u = lo + i
      await sleep(t0 + (u / users) * rampMs - Date.now())
      // (restOnly: no client is given a socket; calmfetch would set up its socket driver for nothing.)
      const c = makeClient(kind, u, restOnly ? clientOpts : { ...clientOpts, socket: { timeoutMs: socketTimeoutMs } })
      clients.push(c)
      const page = stormPage(u)
      const start = performance.now()
      const paths = [...page.rest, ...page.live]
      const done = paths.map(() => false)
      // restOnly: issue 3's storm, every component reads over REST.
      const calls = paths.map((p, j) => (restOnly || j < page.rest.length ? c.read(p) : c.live(p)).finally(() => (done[j] = true)))
      const all = Promise.allSettled(calls)
      const settled = await Promise.race([all, sleep(maxMs).then(() => null)])
      if (!settled) {
        incomplete++
        // What a page still waits for, for the report (the first few pages).
        if (stuck.length < 5) {
          stuck.push({
            user: u,
            waitingFor: paths.filter((_, j) => !done[j]),
            snapshots: c.client ? paths.filter((_, j) => !done[j]).map((p) => ({ path: p, ...describe(c.client.peek(p)) })) : undefined,
            stats: c.client?.stats(),
          })
        }
        return
      }
      times.push(performance.now() - start)
      const failed = settled.filter((s) => s.status === 'rejected')
      if (failed.length) pagesWithErrors++
      for (const f of failed) countInto(errors, errorClass(f.reason))
    }),
  )
  const calm = keep(clients)
  for (const c of clients) c.destroy()
  return { times, errors, incomplete, stuck, pagesWithErrors, users: hi - lo, calm, net: netSnapshot() }
}

// ---------------------------------------------------------------------------
// churn: users click through pages faster than the data comes
// ---------------------------------------------------------------------------

export function churnSequence(user, pages) {
  const g1 = (user % 20) + 1
  const g2 = ((user + 7) % 20) + 1
  const game = (g) => ['/api/user', `/api/games/${g}`, `/api/games/${g}`, `/api/games/${g}/odds`, `/api/games/${g}/players`, `/api/games/${g}/chat`]
  const templates = [
    ['/api/user', '/api/notifications', '/api/games', '/api/leaderboard'], // home
    game(g1),
    game(g2),
    ['/api/user', '/api/notifications', '/api/bills', '/api/activity'], // bills
    ['/api/user', '/api/bills', '/api/activity', '/api/leaderboard', '/api/validate?value=abc'], // profile
  ]
  const r = rng(7919 * (user + 1))
  return Array.from({ length: pages }, () => templates[Math.floor(r() * templates.length)])
}

/**
 * The fewest server requests and DB queries any client can make for users
 * `lo..hi-1` without fetching before a page is visited: every page that shows
 * a key for the first time needs a request (pages last longer than a batch
 * window, so two pages never share one), each of those keys a data query, and
 * each request an auth query. Nothing goes stale during the run.
 */
export function churnFloor(lo, hi, pages) {
  let requests = 0
  let items = 0
  for (let u = lo; u < hi; u++) {
    const seen = new Set()
    for (const paths of churnSequence(u, pages)) {
      const fresh = new Set(paths.filter((p) => !seen.has(p)))
      if (fresh.size) requests++
      items += fresh.size
      for (const p of fresh) seen.add(p)
    }
  }
  return { requests, dbQueries: requests + items }
}

/**
 * Users `lo..hi-1` start at epoch `t0` and visit `pages` pages each, staying
 * a seeded random `dwellMs[0]..dwellMs[1]` on each. Navigating unmounts the
 * page's components (each client's own unmount: abort, observer removal),
 * then mounts the next page's.
 */
export async function churn({ kind, lo, hi, pages, dwellMs, t0, clientOpts = {}, lingerMs = 1500 }) {
  const current = new Map() // user -> Set of paths its mounted page wants
  net.wanted = (u, paths) => {
    const cur = current.get(u)
    return cur !== undefined && paths.some((p) => cur.has(p))
  }
  const times = []
  const errors = {}
  let complete = 0
  let leftEarly = 0
  let visits = 0
  const clients = []
  await Promise.all(
    Array.from({ length: hi - lo }, async (_, i) => {
      const u = lo + i
      const r = rng(104729 * (u + 1))
      const seq = churnSequence(u, pages)
      await sleep(t0 - Date.now())
      const c = makeClient(kind, u, clientOpts)
      clients.push(c)
      let unmount = []
      for (const paths of seq) {
        visits++
        current.set(u, new Set(paths))
        for (const f of unmount) f()
        const start = performance.now()
        let pending = paths.length
        let doneAt = null
        unmount = paths.map((p) => {
          let first = true
          return c.mount(p, (data, err) => {
            if (!first) return
            first = false
            if (err) countInto(errors, errorClass(err))
            if (--pending === 0) doneAt = performance.now()
          })
        })
        await sleep(dwellMs[0] + r() * (dwellMs[1] - dwellMs[0]))
        if (doneAt !== null) {
          complete++
          times.push(doneAt - start)
        } else leftEarly++
      }
      current.delete(u)
      for (const f of unmount) f()
    }),
  )
  const calm = keep(clients)
  // Let late answers arrive (and be counted as wasted) before tearing down.
  await sleep(lingerMs)
  for (const c of clients) c.destroy()
  const out = { times, errors, visits, complete, leftEarly, calm, net: netSnapshot(), floor: churnFloor(lo, hi, pages) }
  net.wanted = null
  return out
}

// ---------------------------------------------------------------------------
// poll: every user has 3 tabs; each tab polls two keys
// ---------------------------------------------------------------------------

/**
 * One tab of each of `userList`: make its client at epoch `t0` and poll
 * /api/validate every `validateMs` and /api/activity every `activityMs` for
 * `durationMs`. The page's visibility was set before load. run.mjs calls it
 * in a frame of the user's own origin (one user per frame), so that a
 * user's tabs share BroadcastChannel and Web Locks with each other only.
 */
export async function pollTab({ kind, userList, t0, durationMs, validateMs, activityMs, clientOpts = {} }) {
  await sleep(t0 - Date.now())
  const clients = []
  const stops = []
  let updates = 0
  let errors = 0
  const updatesByPath = {}
  const onDataOf = (path) => (data, err) => {
    if (err) errors++
    else {
      updates++
      countInto(updatesByPath, path)
    }
  }
  for (const u of userList) {
    const c = makeClient(kind, u, clientOpts)
    clients.push(c)
    for (const [path, ms] of [['/api/validate?value=abc', validateMs], ['/api/activity', activityMs]]) stops.push(c.poll(path, ms, onDataOf(path)))
  }
  await sleep(t0 + durationMs - Date.now())
  for (const s of stops) s()
  const calm = keep(clients)
  for (const c of clients) c.destroy()
  return {
    updates,
    updatesByPath,
    errors,
    tabs: userList.length,
    hidden: document.visibilityState === 'hidden',
    calm,
    net: netSnapshot(),
    wasmMemoryBytes: wasmMemoryBytes(),
  }
}

