// The four clients, one instance per simulated user (or per tab), each used
// the way its documentation shows. Every client offers the same operations:
//
//   read(path, { signal })   a component that needs `path` once; Promise of the data
//   mount(path, onData)      a mounted component (useQuery / useRequest / useEffect+fetch);
//                            returns its unmount function
//   live(path)               a realtime component of the storm scenario (socket first)
//   poll(path, ms, onData)   a polling component; returns its stop function
//   hover(el, path)          link prefetch on hover (none for plain fetch); returns cleanup
//   destroy()                the user leaves: close sockets, stop everything
//
// Settings shared by the peers so that they are compared like for like:
//   FRESH_MS        calmfetch `cache.ttlMs` = TanStack `staleTime`
//   WINDOW_MS       calmfetch `batch.windowMs` (its default) = DataLoader's batch window
//   BATCH_MAX       calmfetch `batch.maxSize` (its default) = DataLoader `maxBatchSize`
import { QueryClient, QueryObserver } from '@tanstack/query-core'
import DataLoader from 'dataloader'
import { createClient } from 'calmfetch'

/**
 * Whether a calmfetch client (hence its wasm instance) exists in this page,
 * and the last one made (its `stats().memoryBytes` is the page's wasm memory).
 */
export const calmState = { loaded: false, client: null }

export const KINDS = ['fetch', 'tanstack', 'tanstack+dataloader', 'calmfetch']
export const FRESH_MS = 10_000
export const WINDOW_MS = 10
export const BATCH_MAX = 50

let PORT = location.port
export function setPort(p) {
  PORT = String(p)
}
/** Each simulated user has its own host name, hence its own connections. */
export const hostOf = (user) => `http://u${user}.bench:${PORT}`
export const wsOf = (user) => `ws://u${user}.bench:${PORT}/ws`

class HttpError extends Error {
  constructor(status, url) {
    super(`HTTP ${status} for ${url}`)
    this.status = status
  }
}

async function fetchJson(url, signal) {
  const res = await fetch(url, signal ? { signal } : undefined)
  if (!res.ok) throw new HttpError(res.status, url)
  const text = await res.text()
  return text === '' ? null : JSON.parse(text)
}

/** DataLoader whose batch function speaks docs/batch-protocol.md. */
function batchLoader(base, windowMs) {
  return new DataLoader(
    async (paths) => {
      const res = await fetch(base + '/batch', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ requests: paths.map((url, i) => ({ id: String(i), method: 'GET', url })) }),
      })
      if (!res.ok) throw new HttpError(res.status, base + '/batch')
      const { responses } = await res.json()
      const byId = new Map(responses.map((r) => [String(r.id), r]))
      return paths.map((p, i) => {
        const r = byId.get(String(i))
        if (!r) return new Error(`batch answer has no id ${i} (${p})`)
        return r.status >= 400 ? new HttpError(r.status, p) : (r.body ?? null)
      })
    },
    {
      // TanStack Query caches and de-duplicates; a DataLoader cache on top
      // would never refetch (polling would freeze), so it is off.
      cache: false,
      maxBatchSize: BATCH_MAX,
      batchScheduleFn: (run) => setTimeout(run, windowMs),
    },
  )
}

/**
 * The storm's "wait for the socket, then fall back to REST", written the way
 * a careful app does it: one socket per user, one `ready` promise that
 * settles on open, on error/close, or after `timeoutMs`; components that
 * find it rejected fetch over HTTP. A handshake that completes later still
 * subscribes the components' keys (updates flow; no second fetch).
 */
class PeerSocket {
  constructor(url, timeoutMs) {
    this.waiting = new Map() // key -> [[resolve, reject]]
    this.data = new Map() // key -> last body pushed
    this.keys = new Set()
    this.ws = new WebSocket(url)
    this.open = false
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('socket: no handshake within the timeout')), timeoutMs)
      this.ws.onopen = () => {
        clearTimeout(timer)
        this.open = true
        for (const k of this.keys) this.send(k)
        resolve()
      }
      this.ws.onerror = this.ws.onclose = () => {
        clearTimeout(timer)
        this.open = false
        reject(new Error('socket closed'))
      }
    })
    this.ready.catch(() => {})
    this.ws.onmessage = (ev) => {
      let msg
      try {
        msg = JSON.parse(ev.data)
      } catch {
        return
      }
      if (msg.type === 'data') this.data.set(msg.key, msg.body)
      const list = this.waiting.get(msg.key)
      if (!list) return
      this.waiting.delete(msg.key)
      for (const [resolve, reject] of list) msg.type === 'data' ? resolve(msg.body) : reject(new Error(msg.message))
    }
  }
  send(key) {
    this.ws.send(JSON.stringify({ type: 'subscribe', key }))
  }
  /** Remember `key` (subscribed when the socket opens, even late). */
  watch(key) {
    if (this.keys.has(key)) return
    this.keys.add(key)
    if (this.open) this.send(key)
  }
  /** First data for `key` over the open socket. */
  live(key) {
    if (this.data.has(key)) return Promise.resolve(this.data.get(key))
    return new Promise((resolve, reject) => {
      const list = this.waiting.get(key) ?? []
      list.push([resolve, reject])
      this.waiting.set(key, list)
      this.watch(key)
    })
  }
  close() {
    this.ws.onclose = this.ws.onerror = this.ws.onmessage = null
    try {
      this.ws.close()
    } catch {}
  }
}

/** Turn a QueryObserver's results into one `onData` per new data. */
function observe(observer, onData) {
  let last
  const handle = (r) => {
    if (r.status === 'success' && r.dataUpdatedAt !== last) {
      last = r.dataUpdatedAt
      onData(r.data)
    } else if (r.status === 'error' && r.errorUpdatedAt !== last) {
      last = r.errorUpdatedAt
      onData(undefined, r.error)
    }
  }
  const unsubscribe = observer.subscribe(handle)
  // useQuery renders the current result at once (a fresh cache hit calls no listener).
  handle(observer.getCurrentResult())
  return unsubscribe
}

/**
 * A new client for simulated user `user`. Options (the same for every client):
 * `freshMs` (default FRESH_MS), `windowMs` (default WINDOW_MS), `base` (the
 * API's origin; default the user's own host) and `socket: { timeoutMs }` for
 * the storm.
 */
export function makeClient(kind, user, opts = {}) {
  const base = opts.base ?? hostOf(user)
  const freshMs = opts.freshMs ?? FRESH_MS
  const windowMs = opts.windowMs ?? WINDOW_MS
  const cleanups = []
  const peerSocket = () => {
    if (!opts.socket) return null
    if (!makeClient.sockets.has(user)) {
      const s = new PeerSocket(wsOf(user), opts.socket.timeoutMs)
      makeClient.sockets.set(user, s)
      cleanups.push(() => {
        s.close()
        makeClient.sockets.delete(user)
      })
    }
    return makeClient.sockets.get(user)
  }
  // Peers' realtime component: wait for the socket, else REST via `read`.
  const peerLive = (path, read) => {
    const sock = peerSocket()
    sock.watch(path)
    return sock.ready.then(
      () => sock.live(path),
      () => read(path),
    )
  }

  if (kind === 'fetch') {
    const read = (path, o = {}) => fetchJson(base + path, o.signal)
    return {
      kind,
      read,
      mount(path, onData) {
        // useEffect(() => { fetch(url, { signal }) ...; return () => controller.abort() })
        const controller = new AbortController()
        read(path, { signal: controller.signal }).then(onData, (e) => controller.signal.aborted || onData(undefined, e))
        return () => controller.abort()
      },
      live: (path) => peerLive(path, read),
      poll(path, ms, onData) {
        // setInterval in every tab, hidden or not: what a component with
        // useEffect + setInterval does.
        const tick = () => read(path).then(onData, (e) => onData(undefined, e))
        tick()
        const t = setInterval(tick, ms)
        return () => clearInterval(t)
      },
      hover: () => () => {},
      destroy: () => cleanups.forEach((f) => f()),
    }
  }

  if (kind === 'tanstack' || kind === 'tanstack+dataloader') {
    // staleTime as the TanStack docs recommend setting it (default 0 refetches on every use).
    // networkMode 'always': navigator.onLine can be false in a sandbox, and
    // the default ('online') would then pause every query.
    const qc = new QueryClient({ defaultOptions: { queries: { staleTime: freshMs, networkMode: 'always' } } })
    let queryFn
    if (kind === 'tanstack') {
      queryFn = ({ queryKey, signal }) => fetchJson(base + queryKey[0], signal)
    } else {
      const loader = batchLoader(base, windowMs)
      // DataLoader cannot abort a batch, so TanStack is not handed a signal
      // to consume: an unmounted query's fetch runs to the end.
      queryFn = ({ queryKey }) => loader.load(queryKey[0])
    }
    const read = (path) => qc.fetchQuery({ queryKey: [path], queryFn })
    return {
      kind,
      read,
      mount(path, onData) {
        // useQuery: a QueryObserver, subscribed on mount, unsubscribed on unmount
        // (TanStack cancels the fetch when the last observer leaves and the
        // queryFn consumed the signal).
        const observer = new QueryObserver(qc, { queryKey: [path], queryFn })
        return observe(observer, onData)
      },
      live: (path) => peerLive(path, read),
      poll(path, ms, onData) {
        // useQuery({ refetchInterval }); refetchIntervalInBackground stays
        // false (the default), so hidden tabs pause.
        const observer = new QueryObserver(qc, { queryKey: [path], queryFn, refetchInterval: ms })
        return observe(observer, onData)
      },
      hover(el, path) {
        // The TanStack docs' prefetching example: prefetchQuery on mouseenter / focus.
        const prefetch = () => qc.prefetchQuery({ queryKey: [path], queryFn })
        el.addEventListener('mouseenter', prefetch)
        el.addEventListener('focus', prefetch)
        return () => {
          el.removeEventListener('mouseenter', prefetch)
          el.removeEventListener('focus', prefetch)
        }
      },
      destroy() {
        cleanups.forEach((f) => f())
        qc.clear()
      },
    }
  }

  if (kind === 'calmfetch') {
    const options = {
      baseUrl: base,
      cache: { ttlMs: freshMs },
      // The batch endpoint is the user's host; the page is on 127.0.0.1,
      // another origin (a benchmark artifact, see bench/README.md).
      batch: { crossOrigin: true, windowMs },
    }
    if (opts.socket) options.socket = { url: wsOf(user), connectTimeoutMs: opts.socket.timeoutMs }
    const client = createClient(options)
    calmState.loaded = true
    calmState.client = client
    const read = (path, o = {}) => client.get(path, o.signal ? { signal: o.signal } : undefined)
    return {
      kind,
      client,
      read,
      mount(path, onData) {
        // useRequest (js/react.js): subscribe to the entry, `get` when it has
        // no fresh data, abort that get one macrotask after unmount (so the
        // next page's call for the same key joins the request first) unless
        // it has settled by then.
        const controller = new AbortController()
        let done = false
        const deliver = (s) => {
          if (done) return
          if (s.data !== undefined) {
            done = true
            onData(s.data)
          }
        }
        const stop = client.subscribe(path, deliver)
        const snap = client.peek(path)
        deliver(snap)
        let settled = true
        if (snap.data === undefined || snap.stale) {
          settled = false
          client.get(path, { signal: controller.signal }).then(
            () => {
              settled = true
              deliver(client.peek(path))
            },
            (e) => {
              settled = true
              if (!controller.signal.aborted && !done) {
                done = true
                onData(undefined, e)
              }
            },
          )
        }
        return () => {
          stop()
          if (!settled) setTimeout(() => settled || controller.abort(), 0)
        }
      },
      live(path) {
        // useLive with a socket: subscribing is what fetches (the socket, or
        // HTTP for keys without data once connectTimeoutMs has passed).
        return new Promise((resolve, reject) => {
          let stop = null
          let settled = false
          const deliver = (s) => {
            if (settled) return
            if (s.data !== undefined) {
              settled = true
              resolve(s.data)
            } else if (s.error !== undefined) {
              settled = true
              reject(s.error)
            }
          }
          stop = client.subscribe(path, deliver)
          cleanups.push(stop)
          deliver(client.peek(path))
        })
      },
      poll(path, ms, onData) {
        const h = client.poll(path, { intervalMs: ms, onData, onError: (e) => onData(undefined, e) })
        return () => h.stop()
      },
      hover(el, path) {
        return client.prefetchOnHover(el, path)
      },
      // No client.clear(): it reaches every client of the origin, i.e. every
      // other simulated user (users share the page's origin here).
      destroy: () => cleanups.forEach((f) => f()),
    }
  }
  throw new Error(`unknown client ${kind}`)
}
makeClient.sockets = new Map()
