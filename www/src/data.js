// Data layer of the demo: the calmfetch clients, the mode switch, the counters
// the live panel shows, and the two ways a component gets its data:
//   - 'plain':     each component runs its own fetch() in useEffect (the incident);
//   - 'calmfetch': each component calls a calmfetch/react hook.
import { createClient } from 'calmfetch'
import { CalmfetchProvider, useLive, usePoll, usePrefetch, useRequest } from 'calmfetch/react'
import { createElement, useEffect, useMemo, useState } from 'react'

// Everyone is logged in as alice: /api/user answers her name.
export const AUTH = { Authorization: 'Bearer alice' }

/** The app's client: every request of the page, batched, as alice. */
export const client = createClient({
  cache: { ttlMs: 10_000, maxEntries: 500 },
  timeoutMs: 10_000,
  headers: AUTH,
  batch: true,
})

/**
 * The live score's client: public data kept live over the reference server's
 * WebSocket. It is a second client because a client with `socket` keeps every
 * key that has a subscriber live, and a browser WebSocket cannot send the
 * Authorization header the app's client sends (the socket would answer
 * /api/user for nobody).
 */
export const liveClient = createClient({
  cache: { ttlMs: 10_000, maxEntries: 100 },
  timeoutMs: 10_000,
  batch: true,
  socket: { url: '/ws', connectTimeoutMs: 2_000 },
})

export const clients = [client, liveClient]

// --- settings from the URL --------------------------------------------------
const params = new URLSearchParams(location.search)
/** `?poll=fast` divides the poll intervals by 10 (used by the e2e tests). */
export const POLL_SCALE = params.get('poll') === 'fast' ? 0.1 : 1
export const INTERVALS = { validate: 10_000 * POLL_SCALE, activity: 5_000 * POLL_SCALE, score: 5_000 * POLL_SCALE }

export function initialMode() {
  return params.get('mode') === 'plain' ? 'plain' : 'calmfetch'
}

// --- counters -----------------------------------------------------------------
/**
 * What the components asked for, and what plain fetch sent. calmfetch's own
 * numbers come from client.stats(); the server's from GET /__stats.
 */
export const metrics = {
  asked: 0,          // data wanted by components: one per mount/URL change, one per poll interval
  fromCache: 0,      // calmfetch mode: asks a fresh cache entry answered when the component mounted
  plainRequests: 0,  // fetch() calls made by the plain mode
  plainErrors: 0,
  pageViews: 0,
}
/** Server requests per finished storm, for the panel: [{ mode, requests, asked }]. */
export const stormResults = []

export function resetMetrics() {
  for (const k of Object.keys(metrics)) metrics[k] = 0
}

/** Sum of both clients' stats (socket fields from the live client). */
export function calmStats() {
  const [a, b] = clients.map((c) => c.stats())
  const sum = {}
  for (const [k, v] of Object.entries(a)) sum[k] = typeof v === 'number' ? v + b[k] : v
  sum.socketState = b.socketState
  return sum
}

/** HTTP requests calmfetch sent: a batch counts once, whatever it carries. */
export function calmHttpRequests(s) {
  return s.networkRequests - s.batchedItems + s.batchesSent
}

// --- plain fetch, as the incident's components did it -------------------------
const EMPTY = { data: undefined, error: undefined, status: 'idle' }

function plainGet(url) {
  metrics.plainRequests++
  return fetch(url, { headers: AUTH })
    .then(async (r) => {
      if (!r.ok) throw new Error(`HTTP ${r.status}`)
      return r.json()
    })
    .catch((e) => {
      metrics.plainErrors++
      throw e
    })
}

/** fetch in useEffect; with `intervalMs`, again every interval. No sharing, no abort. */
function usePlainFetch(url, intervalMs) {
  const [state, setState] = useState(EMPTY)
  useEffect(() => {
    if (url == null) return undefined
    let live = true
    const tick = () =>
      plainGet(url).then(
        (data) => live && setState({ data, error: undefined, status: 'success' }),
        (error) => live && setState((s) => ({ ...s, error, status: 'error' })),
      )
    setState((s) => (s.data === undefined ? { ...s, status: 'pending' } : s))
    tick()
    const timer = intervalMs ? setInterval(tick, intervalMs) : undefined
    return () => {
      live = false
      clearInterval(timer)
    }
  }, [url, intervalMs])
  return state
}

/** Count one ask per mount/URL change and, with `intervalMs`, one per interval. */
function useAsks(url, intervalMs) {
  useEffect(() => {
    if (url == null) return undefined
    metrics.asked++
    const timer = intervalMs ? setInterval(() => metrics.asked++, intervalMs) : undefined
    return () => clearInterval(timer)
  }, [url, intervalMs])
}

/** In calmfetch mode, count the asks a fresh cache entry answered at mount. */
function useCountFromCache(active, url) {
  const fresh = useMemo(() => {
    if (!active || url == null) return false
    const s = client.peek(url)
    return s.data !== undefined && !s.stale
  }, [active, url])
  useEffect(() => {
    if (fresh) metrics.fromCache++
  }, [fresh])
}

/**
 * One component's data. Both hooks are always called (rules of hooks); the one
 * not in use gets `null` and does nothing.
 */
export function useData(mode, url) {
  useAsks(url)
  useCountFromCache(mode === 'calmfetch', url)
  const plain = usePlainFetch(mode === 'plain' ? url : null)
  const calm = useRequest(mode === 'calmfetch' ? url : null)
  return mode === 'plain' ? plain : calm
}

/**
 * A polled value: plain mode runs setInterval + fetch per component; calmfetch
 * mode uses usePoll (one schedule per key, one poller across tabs).
 */
export function usePolled(mode, url, intervalMs) {
  useAsks(url, intervalMs)
  useCountFromCache(mode === 'calmfetch', url)
  const plain = usePlainFetch(mode === 'plain' ? url : null, intervalMs)
  const calm = usePoll(mode === 'calmfetch' ? url : null, intervalMs)
  return mode === 'plain' ? plain : calm
}

/**
 * Live data: calmfetch mode keeps the key live over the live client's socket
 * (useLive); plain mode polls it every `intervalMs`, as the incident's code did.
 * Must be rendered inside <LiveProvider>.
 */
export function useLiveData(mode, url, intervalMs) {
  useAsks(url)
  const plain = usePlainFetch(mode === 'plain' ? url : null, intervalMs)
  const calm = useLive(mode === 'calmfetch' ? url : null)
  return mode === 'plain' ? plain : calm
}

/** Makes the live client the one the hooks below it use. */
export function LiveProvider({ children }) {
  return createElement(CalmfetchProvider, { client: liveClient }, children)
}
/** Makes the app's client the one the hooks below it use. */
export function AppProvider({ children }) {
  return createElement(CalmfetchProvider, { client }, children)
}

/** The URLs a game page needs that are about that game. */
export function gameUrls(id) {
  return [`/api/games/${id}`, `/api/games/${id}/players`, `/api/games/${id}/odds`, `/api/games/${id}/chat`]
}

/**
 * Hover props for a game link: calmfetch's hover-intent handlers for each of
 * the game's four URLs, merged. Nothing in plain mode.
 */
export function useGameLinkPrefetch(mode, id) {
  const on = mode === 'calmfetch'
  const [a, b, c, d] = gameUrls(id)
  const handlers = [usePrefetch(on ? a : null), usePrefetch(on ? b : null), usePrefetch(on ? c : null), usePrefetch(on ? d : null)]
  return useMemo(() => {
    if (!on) return {}
    const merged = {}
    for (const name of Object.keys(handlers[0])) merged[name] = () => handlers.forEach((h) => h[name]())
    return merged
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [on, ...handlers])
}
