'use client'
// calmfetch/react: React bindings for a calmfetch client (client components:
// the directive above makes a React Server Components bundler treat them so).
//
// `useRequest` reads a key's snapshot with `useSyncExternalStore`
// (client.subscribe + client.peek) and, in an effect, asks `client.get` for
// the data when the snapshot has none that is fresh. Nothing here runs at
// import time and nothing touches window/document. Rendering on a server,
// hooks show the data the provider's client holds (its `hydrate`d state).
import {
  createContext,
  createElement,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  useSyncExternalStore,
} from 'react'
import { CalmfetchError } from './index.js'

const ClientContext = createContext(null)

/**
 * Makes `client` available to `useClient` and `useRequest` below it. A
 * `state` (a server's `client.dehydrate()`) is hydrated into it during this
 * render, before any child reads the cache.
 */
export function CalmfetchProvider({ client, state, children }) {
  const seen = useRef(null)
  if (state != null && (seen.current?.[0] !== client || seen.current[1] !== state)) {
    // Keys nobody listens to yet, now; hydrating is idempotent (StrictMode).
    client.hydrate(state, true)
    seen.current = [client, state]
  }
  // Keys already shown (a later page's state): once committed, so that
  // their listeners do not run during this render.
  useEffect(() => {
    if (state != null) client.hydrate(state)
  }, [client, state])
  return createElement(ClientContext.Provider, { value: client }, children)
}

/** The client of the nearest `CalmfetchProvider`. Throws without one. */
export function useClient() {
  const client = useContext(ClientContext)
  if (client === null || client === undefined) {
    throw new Error(
      'calmfetch/react: no client: wrap the component in <CalmfetchProvider client={createClient()}> ' +
        '(useClient and useRequest need it)',
    )
  }
  return client
}

const noop = () => {}

// The snapshot of a request that waits (null url, enabled: false), and the
// server's one for a request without data. Constant, so React sees no change.
const IDLE = Object.freeze({
  data: undefined,
  error: undefined,
  updatedAt: undefined,
  stale: true,
  isFetching: false,
})

// A value-based identity for the key options, so that inline literals
// (`{ headers: { ... } }` written in the render) do not resubscribe each render.
function keyIdentity(headers, partition) {
  let h = null
  if (headers !== undefined && headers !== null) {
    if (typeof Headers !== 'undefined' && headers instanceof Headers) {
      h = [...headers.entries()]
    } else if (typeof headers === 'object') {
      h = Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value])
    } else {
      h = [['', headers]] // not a header object: the core says what is wrong with it
    }
    h.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  }
  return JSON.stringify([h, partition === undefined ? null : partition])
}

function keyOptionsOf(headers, partition) {
  if (headers === undefined && partition === undefined) return undefined
  const options = {}
  if (headers !== undefined) options.headers = headers
  if (partition !== undefined) options.partition = partition
  return options
}

// Snapshots equal field by field. The core hands out the same object while a
// key has listeners; without listeners (the first render) every peek is a new
// object, and useSyncExternalStore needs a stable one.
function sameError(a, b) {
  return (
    a === b ||
    (a !== undefined && b !== undefined && a.kind === 'invalid' && b.kind === 'invalid' && a.message === b.message)
  )
}
function sameSnapshot(a, b) {
  return (
    a.data === b.data &&
    sameError(a.error, b.error) &&
    a.updatedAt === b.updatedAt &&
    a.stale === b.stale &&
    a.isFetching === b.isFetching
  )
}

// The part every data hook shares: the key's snapshot through
// useSyncExternalStore, errors of calls the snapshot does not carry, and
// `refetch`. `useFetch(snapshot, report)` runs the hook's own effect.
function useEntry(url, options, hookName, useFetch) {
  const client = useClient()
  const { headers, partition, enabled = true } = options ?? {}
  const active = enabled !== false && url !== null && url !== undefined
  const keyId = keyIdentity(headers, partition)
  // Rebuilt only when the options change by value.
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const keyOptions = useMemo(() => keyOptionsOf(headers, partition), [keyId])
  const requestId = active ? `${url}\n${keyId}` : null

  const last = useRef(null)
  const subscribe = useCallback(
    (onChange) => {
      if (!active) return noop
      try {
        return client.subscribe(url, onChange, keyOptions)
      } catch {
        return noop // invalid url or options: getSnapshot reports the error
      }
    },
    [client, active, url, keyOptions],
  )
  const getSnapshot = useCallback(() => {
    if (!active) return IDLE
    let next
    try {
      next = client.peek(url, keyOptions)
    } catch (error) {
      next = Object.freeze({ ...IDLE, error })
    }
    const prev = last.current
    if (prev !== null && prev.client === client && prev.requestId === requestId && sameSnapshot(prev.snapshot, next)) {
      return prev.snapshot
    }
    last.current = { client, requestId, snapshot: next }
    return next
  }, [client, active, url, keyOptions, requestId])

  // On the server, and in the browser's hydrating render: the data the
  // client holds (hydrated on both sides alike), else nothing.
  const getServerSnapshot = useCallback(() => {
    const s = getSnapshot()
    return s.data === undefined ? IDLE : s
  }, [getSnapshot])

  const snapshot = useSyncExternalStore(subscribe, getSnapshot, getServerSnapshot)

  // Errors the snapshot does not carry (bad options are refused before any
  // request). Kept per request and per data version.
  const [failure, setFailure] = useState(null)
  const report = useCallback(
    (error) => {
      let current
      try {
        current = client.peek(url, keyOptions)
      } catch {
        return // getSnapshot already shows why
      }
      if (current.error !== error) {
        setFailure({ client, requestId, updatedAt: current.updatedAt, error })
      }
    },
    [client, url, keyOptions, requestId],
  )

  useFetch({ client, active, url, keyOptions, snapshot, report })

  const refetch = useCallback(() => {
    if (!active) {
      return Promise.reject(
        new CalmfetchError(`calmfetch/react: ${hookName}: refetch: the request waits (its url is null or enabled is false)`, {
          kind: 'invalid',
        }),
      )
    }
    return client.get(url, { ...keyOptions, fresh: true })
  }, [client, active, url, keyOptions, hookName])

  let error = snapshot.error
  if (
    error === undefined &&
    failure !== null &&
    failure.client === client &&
    failure.requestId === requestId &&
    failure.updatedAt === snapshot.updatedAt &&
    !snapshot.isFetching
  ) {
    error = failure.error
  }
  const data = snapshot.data
  const status = !active ? 'idle' : error !== undefined ? 'error' : data !== undefined ? 'success' : 'pending'
  const isFetching = snapshot.isFetching
  const isStale = snapshot.stale
  return useMemo(
    () => ({ data, error, status, isFetching, isStale, refetch }),
    [data, error, status, isFetching, isStale, refetch],
  )
}

// Cleanups run one macrotask late: StrictMode's unmount + remount (and a
// re-run with the same key) start the new call first, which joins the old
// one's request or schedule and so keeps it alive.
const later = (fn) => setTimeout(fn, 0)

// `get` the key when the snapshot has no fresh data; abort it on cleanup
// (the shared request is cancelled only when nobody else waits for it).
function useGetWhenNeeded({ client, active, url, keyOptions, snapshot, report }, ttlMs, skip) {
  const needsData =
    active &&
    !skip &&
    (snapshot.data === undefined ||
      snapshot.stale ||
      (ttlMs !== undefined && (snapshot.updatedAt === undefined || Date.now() - snapshot.updatedAt >= ttlMs)))

  useEffect(() => {
    if (!needsData) return undefined
    const controller = new AbortController()
    const getOptions = { ...keyOptions, signal: controller.signal }
    if (ttlMs !== undefined) getOptions.ttlMs = ttlMs
    let pending
    try {
      pending = client.get(url, getOptions)
    } catch (error) {
      pending = Promise.reject(error)
    }
    pending.then(noop, (error) => {
      if (controller.signal.aborted || (error && error.kind === 'abort')) return
      report(error)
    })
    return () => later(() => controller.abort())
  }, [client, url, keyOptions, ttlMs, needsData, report])
}

/**
 * Read `url` from the client: `{ data, error, status, isFetching, isStale, refetch }`.
 * A null url (or `enabled: false`) waits: status 'idle', no request.
 */
export function useRequest(url, options) {
  const ttlMs = options?.ttlMs
  return useEntry(url, options, 'useRequest', (entry) => useGetWhenNeeded(entry, ttlMs, false))
}

/**
 * Poll `url` every `intervalMs` while the component is mounted. Components
 * (and tabs) polling one key share one schedule at the smallest interval.
 */
export function usePoll(url, intervalMs, options) {
  const inBackground = options?.inBackground
  return useEntry(url, options, 'usePoll', ({ client, active, url: u, keyOptions, report }) => {
    useEffect(() => {
      if (!active) return undefined
      let handle
      try {
        handle = client.poll(u, { ...keyOptions, intervalMs, inBackground, onError: noop })
      } catch (error) {
        report(error) // bad interval or options
        return undefined
      }
      return () => later(() => handle.stop())
    }, [client, active, u, keyOptions, intervalMs, inBackground, report])
  })
}

/**
 * Keep `url` live: with a `socket` on the client, its data comes pushed over
 * the socket (falling back to the cache and HTTP when the socket is slow or
 * down). Without one, or for a key with its own credentials (which the
 * socket cannot carry), it reads like `useRequest`.
 */
export function useLive(url, options) {
  return useEntry(url, options, 'useLive', (entry) => {
    // For a key the socket keeps live, subscribing (done by useEntry) is
    // what fetches; any other key is fetched like useRequest.
    let live = false
    if (entry.active && typeof entry.client.isLive === 'function') {
      try {
        live = entry.client.isLive(entry.url, entry.keyOptions)
      } catch {
        live = false // a bad url: get() reports it
      }
    }
    useGetWhenNeeded(entry, undefined, live)
  })
}

/**
 * Props for a link that prefetch `url` when the pointer rests on it (or it
 * gets focus) and at once on touch or mouse down:
 * `<a href=… {...usePrefetch(url)}>`. A null url gives handlers that do nothing.
 */
export function usePrefetch(url, options) {
  const client = useClient()
  const { headers, partition, ttlMs } = options ?? {}
  const keyId = keyIdentity(headers, partition)
  const handlers = useMemo(() => {
    if (url === null || url === undefined) return IDLE_HANDLERS
    const o = keyOptionsOf(headers, partition) ?? {}
    if (ttlMs !== undefined) o.ttlMs = ttlMs
    return client.prefetchHandlers(url, o)
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, url, keyId, ttlMs])
  // A hover in progress when the link goes away (or its url changes) is cancelled.
  useEffect(() => () => handlers.onMouseLeave(), [handlers])
  return handlers
}

const IDLE_HANDLERS = Object.freeze({
  onMouseEnter: noop,
  onMouseLeave: noop,
  onFocus: noop,
  onBlur: noop,
  onTouchStart: noop,
  onMouseDown: noop,
})

// --- writes -------------------------------------------------------------------

const MUTATION_IDLE = Object.freeze({ status: 'idle', data: undefined, error: undefined })
const pick = (v, body) => (typeof v === 'function' ? v(body) : v)

/**
 * A write through the client: `{ mutate, mutateAsync, status, data, error,
 * reset }`. `url`, `invalidates` and `optimistic.url` may be functions of the
 * body. The state shows the latest call; nothing is set after unmount.
 */
export function useMutation(url, options) {
  const client = useClient()
  const [state, setState] = useState(MUTATION_IDLE)
  const latest = useRef(null)
  latest.current = { url, options }
  const call = useRef(0) // the latest call's number; 0 after unmount
  useEffect(() => {
    call.current = 1
    return () => {
      call.current = 0
    }
  }, [])
  const mutateAsync = useCallback(
    (body) => {
      const { url: u, options: o = {} } = latest.current
      const { method, invalidates, optimistic, onSuccess, onError, headers, partition } = o
      const n = call.current && ++call.current
      const set = (s) => n !== 0 && call.current === n && setState(s)
      set({ status: 'pending', data: undefined, error: undefined })
      const m = { method, body, headers, partition, invalidates: pick(invalidates, body) }
      if (optimistic) m.optimistic = { url: pick(optimistic.url, body), update: optimistic.update }
      let p
      try {
        p = client.mutate(pick(u, body), m)
      } catch (e) {
        p = Promise.reject(e) // a url function that threw
      }
      return p.then(
        (data) => {
          set({ status: 'success', data, error: undefined })
          onSuccess?.(data, body)
          return data
        },
        (error) => {
          set({ status: 'error', data: undefined, error })
          onError?.(error, body)
          throw error
        },
      )
    },
    [client],
  )
  const mutate = useCallback((body) => void mutateAsync(body).catch(noop), [mutateAsync])
  const reset = useCallback(() => {
    if (call.current !== 0) {
      call.current++
      setState(MUTATION_IDLE)
    }
  }, [])
  return useMemo(() => ({ ...state, mutate, mutateAsync, reset }), [state, mutate, mutateAsync, reset])
}
