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

export async function microHot({ minMs, user }) {
  const base = hostOf(user)
  const out = {}
  {
    const map = new Map([[KEY, { entries: [] }]])
    out['Map.get + await (floor)'] = await opsPerSecond(async () => map.get(KEY), minMs)
  }
  {
    const c = createClient({ baseUrl: base, cache: { ttlMs: 3_600_000 } })
    await c.get(KEY)
    // As the README writes it, and with an (empty) options object: calls
    // without options are much slower (see bench/README.md, known issues).
    const r = await opsPerSecond(() => c.get(KEY), minMs)
    r.networkRequests = c.stats().networkRequests
    out['calmfetch get(url)'] = r
    const none = {}
    out['calmfetch get(url, {})'] = await opsPerSecond(() => c.get(KEY, none), minMs)
  }
  {
    const qc = new QueryClient()
    const q = { queryKey: [KEY], queryFn: () => getJson(base + KEY), staleTime: Infinity }
    await qc.fetchQuery(q)
    out['TanStack fetchQuery (staleTime Infinity)'] = await opsPerSecond(() => qc.fetchQuery(q), minMs)
  }
  return out
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
    const qc = new QueryClient()
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
