// Micro-benchmarks, in the page:
//   hot:        `get` of a key that is fresh in the cache, awaited one after another
//   concurrent: N identical calls for a cold key at once, time until all settled
import { QueryClient } from '@tanstack/query-core'
import DataLoader from 'dataloader'
import { createClient } from 'calmfetch'
import { hostOf } from './clients.js'
import { net } from './net.js'

const KEY = '/api/leaderboard'

async function getJson(url) {
  const res = await fetch(url)
  if (!res.ok) throw new Error(`HTTP ${res.status}`)
  return res.json()
}

/** Awaited calls of `fn`, in rounds of 1000, for at least `minMs`. */
async function opsPerSecond(fn, minMs) {
  for (let i = 0; i < 2000; i++) await fn() // warm up the JIT
  let ops = 0
  const t0 = performance.now()
  let t = t0
  while (t - t0 < minMs) {
    for (let i = 0; i < 1000; i++) await fn()
    ops += 1000
    t = performance.now()
  }
  return { ops, ms: t - t0, opsPerSec: (ops / (t - t0)) * 1000 }
}

/** One inline headers literal, written out at every call as an app would. */
const TRACE = () => ({ headers: { 'X-Trace': '1' } })

/**
 * The cached-call variants, each made ready (its key fetched once) in this
 * page: `fn` is the awaited call measured. Everything is made once and kept
 * for the rounds below.
 */
let hotCalls = null
async function hotSetup(user) {
  if (hotCalls) return hotCalls
  const base = hostOf(user)
  const calls = {}
  const map = new Map([[KEY, { entries: [] }]])
  calls['Map.get + await (floor)'] = async () => map.get(KEY)
  const c = createClient({ baseUrl: base, cache: { ttlMs: 3_600_000 } })
  await c.get(KEY)
  await c.get(KEY, { headers: { 'X-Trace': '1' } })
  // As the README writes it; with an (empty) options object kept in a
  // variable; and with an inline literal of headers, a new object every call.
  calls['calmfetch get(url)'] = () => c.get(KEY)
  const none = {}
  calls['calmfetch get(url, {})'] = () => c.get(KEY, none)
  calls["calmfetch get(url, { headers: { 'X-Trace': '1' } }) inline"] = () => c.get(KEY, { headers: { 'X-Trace': '1' } })
  const qc = new QueryClient({ defaultOptions: { queries: { networkMode: 'always' } } })
  const q = { queryKey: [KEY], queryFn: () => getJson(base + KEY), staleTime: Infinity }
  await qc.fetchQuery(q)
  calls['TanStack fetchQuery (staleTime Infinity)'] = () => qc.fetchQuery(q)
  // TanStack's closest equivalent of a call with headers: an inline options
  // literal, the headers part of the query key.
  const traced = ({ queryKey }) => fetch(base + queryKey[0], queryKey[1]).then((r) => r.json())
  await qc.fetchQuery({ queryKey: [KEY, TRACE()], queryFn: traced, staleTime: Infinity })
  calls["TanStack fetchQuery({ queryKey: [url, { headers }] }) inline"] = () => qc.fetchQuery({ queryKey: [KEY, { headers: { 'X-Trace': '1' } }], queryFn: traced, staleTime: Infinity })
  calls.networkRequests = () => c.stats().networkRequests
  hotCalls = calls
  return calls
}

/** Names of the cached-call variants (the order of a round). */
export async function microHotNames({ user }) {
  const calls = await hotSetup(user)
  return Object.keys(calls).filter((k) => k !== 'networkRequests')
}

/** One round of variant `which`: awaited calls for at least `minMs`. */
export async function microHot({ which, minMs, user }) {
  const calls = await hotSetup(user)
  const r = await opsPerSecond(calls[which], minMs)
  if (which.startsWith('calmfetch')) r.networkRequests = calls.networkRequests()
  return r
}

/**
 * Start-up in a fresh page: the first client of the page and its first
 * call, awaited until it settles (0 ms server latency). Returns the
 * synchronous durations of the two calls; run.mjs reads the main thread's
 * task time around it with the Chrome DevTools Protocol. `which`:
 *   calmfetch  createClient() + get(url)  (the module loads asynchronously; get is queued)
 *   tanstack   new QueryClient() + fetchQuery()
 *   fetch      fetch(url) + res.json(), no library (the floor: the request's own main-thread work)
 */
export async function microStartup({ which, user }) {
  const url = hostOf(user) + KEY
  const long = []
  let obs = null
  try {
    obs = new PerformanceObserver((l) => long.push(...l.getEntries().map((e) => e.duration)))
    obs.observe({ type: 'longtask' })
  } catch {}
  let createMs = 0
  let callMs = 0
  let p
  const t0 = performance.now()
  if (which === 'calmfetch') {
    const c = createClient()
    const t1 = performance.now()
    p = c.get(url)
    callMs = performance.now() - t1
    createMs = t1 - t0
  } else if (which === 'tanstack') {
    const qc = new QueryClient({ defaultOptions: { queries: { networkMode: 'always' } } })
    const t1 = performance.now()
    p = qc.fetchQuery({ queryKey: [url], queryFn: () => getJson(url) })
    callMs = performance.now() - t1
    createMs = t1 - t0
  } else if (which === 'fetch') {
    p = getJson(url)
    callMs = performance.now() - t0
  } else throw new Error(`unknown ${which}`)
  const data = await p
  const settledMs = performance.now() - t0
  // Long-task entries arrive after the task; give them a frame.
  await new Promise((r) => setTimeout(r, 50))
  obs?.disconnect()
  return { which, createMs, callMs, syncMs: createMs + callMs, settledMs, longTasks: long.length, longTaskMs: long.reduce((a, b) => a + b, 0), ok: data !== undefined }
}

/** One round of `n` identical calls made at once; which library is `which`. */
export async function microConcurrent({ which, n, user }) {
  const base = hostOf(user)
  let issue
  if (which === 'calmfetch get(url)') {
    const c = createClient({ baseUrl: base })
    issue = () => c.get(KEY)
  } else if (which === 'calmfetch get(url, {})') {
    const c = createClient({ baseUrl: base })
    const none = {}
    issue = () => c.get(KEY, none)
  } else if (which === 'TanStack fetchQuery') {
    const qc = new QueryClient({ defaultOptions: { queries: { networkMode: 'always' } } })
    const q = { queryKey: [KEY], queryFn: ({ signal }) => fetch(base + KEY, { signal }).then((r) => r.json()) }
    issue = () => qc.fetchQuery(q)
  } else if (which === 'DataLoader load') {
    const loader = new DataLoader(async (keys) => {
      const res = await fetch(base + '/batch', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ requests: keys.map((url, i) => ({ id: String(i), method: 'GET', url })) }),
      })
      const { responses } = await res.json()
      return keys.map((_, i) => responses.find((r) => r.id === String(i))?.body ?? new Error('missing'))
    })
    issue = () => loader.load(KEY)
  } else throw new Error(`unknown ${which}`)
  // Warm the connection so the round measures the library, not TCP setup.
  await fetch(`${base}/test/count?tag=warm`).then((r) => r.text())
  if (typeof gc === 'function') gc()
  const sent = net.sent
  const t0 = performance.now()
  const calls = new Array(n)
  for (let i = 0; i < n; i++) calls[i] = issue()
  const issuedMs = performance.now() - t0
  const settled = await Promise.allSettled(calls)
  const ms = performance.now() - t0
  return {
    n,
    issuedMs,
    ms,
    fulfilled: settled.filter((s) => s.status === 'fulfilled').length,
    httpRequests: net.sent - sent,
  }
}
