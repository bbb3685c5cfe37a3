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
import { CalmfetchError, replaceEqualDeep } from './index.js'

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
    throw new Error('calmfetch/react: no client: wrap the component in <CalmfetchProvider client={createClient()}>')
  }
  return client
}

const noop = () => {}

// `fn()`'s promise; a rejected one if it throws.
function attempt(fn) {
  try {
    return fn()
  } catch (e) {
    return Promise.reject(e)
  }
}

// A view of the client's snapshot `s` of a key (`{ data, error, updatedAt,
// stale, isFetching }`) showing `data` and `error`. `raw` is the entry's data
// (before `select`, never a placeholder).
const viewOf = (s, data, error, isPlaceholder) => ({
  data,
  error,
  updatedAt: s.updatedAt,
  isStale: s.stale,
  isFetching: s.isFetching,
  isPlaceholder,
  raw: s.data,
})

// The snapshot of a key the client cannot read (bad url or options).
const UNREADABLE = { stale: true, isFetching: false }

// The view of a request that waits (null url, enabled: false), and the
// server's one for a request without data. Constant, so React sees no change.
const IDLE = Object.freeze(viewOf(UNREADABLE, undefined, undefined, false))

// The key options of a hook's options (undefined: none), and a value-based
// identity of them, so that inline literals (`{ headers: { ... } }` written
// in the render) do not resubscribe each render.
function keyOf(o) {
  const { headers, partition, responseType } = o ?? {}
  let h = null
  if (headers !== undefined && headers !== null) {
    if (typeof Headers !== 'undefined' && headers instanceof Headers) {
      h = [...headers]
    } else if (typeof headers === 'object') {
      h = Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value])
    } else {
      h = [['', headers]] // not a header object: the core says what is wrong with it
    }
    h.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  }
  const none = headers === undefined && partition === undefined && responseType === undefined
  return [JSON.stringify([h, partition ?? null, responseType ?? null]), none ? undefined : { headers, partition, responseType }]
}

// Errors equal for rendering: the same object, or the same refusal of bad input
// (a peek that throws makes a new one each time).
function sameError(a, b) {
  return a === b || (a?.kind === 'invalid' && b?.kind === 'invalid' && a.message === b.message)
}

// Does field `f` of the result differ between views `a` and `b`?
// (`raw`: the hook only asks whether there is data.)
const differs = (a, b, f) =>
  f === 'error'
    ? !sameError(a.error, b.error)
    : f === 'status'
      ? (a.data === undefined) !== (b.data === undefined) || !sameError(a.error, b.error)
      : f === 'raw'
        ? (a.raw === undefined) !== (b.raw === undefined)
        : a[f] !== b[f]

// The result object: each field read is remembered in `tracked`, and a change
// of the entry re-renders the component only when a field it read changed
// (TanStack Query's tracked properties): a poll tick that brings nothing new
// re-renders nothing.
function track(values, tracked) {
  const r = {}
  for (const k in values) Object.defineProperty(r, k, { enumerable: true, get: () => (tracked.add(k), values[k]) })
  return r
}

// What the hook itself reads of a view to decide to fetch.
const FETCH_FIELDS = ['raw', 'isStale']
const FETCH_TTL_FIELDS = ['raw', 'isStale', 'updatedAt']

const result = (view, error, status, refetch) => ({
  data: view.data,
  error,
  status,
  isFetching: view.isFetching,
  isStale: view.isStale,
  isPlaceholder: view.isPlaceholder,
  updatedAt: view.updatedAt,
  refetch,
})

const statusOf = (active, data, error) => (!active ? 'idle' : error !== undefined ? 'error' : data !== undefined ? 'success' : 'pending')

// The part every data hook shares: the key's view through
// useSyncExternalStore (with `select` and placeholder data), errors of calls
// the snapshot does not carry, and `refetch`. `useFetch(entry)` runs the
// hook's own effects (`entry`: `[client, active, url, keyOptions, view,
// report]`); `fields` are the view fields those read.
function useEntry(url, options, hookName, useFetch, fields) {
  const client = useClient()
  const o = options ?? {}
  const { enabled = true, select } = o
  const placeholder = o.keepPreviousData === true || o.placeholderData === 'previous'
  const active = enabled !== false && url !== null && url !== undefined
  const [keyId, latest] = keyOf(o)
  // Kept until the options change by value.
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const keyOptions = useMemo(() => latest, [keyId])
  const requestId = active ? `${url}\n${keyId}` : null

  // The fields the component read, and those the hook reads.
  const tracked = useRef(null)
  tracked.current ??= new Set()
  const compared = useRef(fields)
  compared.current = fields
  const selected = useRef(select)
  selected.current = select
  const last = useRef(null) // { client, requestId, snap, sel, view, fresh }
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
    let s
    try {
      s = client.peek(url, keyOptions)
    } catch (error) {
      s = { ...UNREADABLE, error }
    }
    const prev = last.current
    const mine = prev !== null && prev.client === client && prev.requestId === requestId
    const sel = selected.current
    // (When the view handed out kept older values of untracked fields, compare
    // again: the component may read one of them now.)
    if (mine && prev.snap === s && prev.sel === sel && prev.view === prev.fresh) return prev.view
    let data = s.data
    let error = s.error
    let thrown // by select
    if (data !== undefined && typeof sel === 'function') {
      if (mine && prev.fresh.raw === data && prev.sel === sel) ({ data, thrown } = prev)
      else {
        // The selection shares what it has in common with the last one: equal is identical.
        try {
          data = replaceEqualDeep(mine ? prev.view.data : undefined, sel(data))
        } catch (e) {
          thrown = e
        }
      }
      if (thrown !== undefined) {
        error = thrown
        data = undefined
      }
    }
    const picked = data
    let isPlaceholder = false
    // Placeholder data: what this hook showed last (another url), until the new data comes.
    const before = prev !== null && prev.client === client ? prev.view : IDLE
    if (placeholder && data === undefined && error === undefined && before.data !== undefined) {
      data = before.data
      isPlaceholder = true
    }
    const fresh = viewOf(s, data, error, isPlaceholder)
    const view = mine && ![...tracked.current, ...compared.current].some((f) => differs(prev.view, fresh, f)) ? prev.view : fresh
    last.current = { client, requestId, snap: s, sel, view, fresh, data: picked, thrown }
    return view
  }, [client, active, url, keyOptions, requestId, placeholder])

  // On the server, and in the browser's hydrating render: the data the
  // client holds (hydrated on both sides alike), else nothing.
  const getServerSnapshot = useCallback(() => {
    const s = getSnapshot()
    return s.data === undefined ? IDLE : s
  }, [getSnapshot])

  const view = useSyncExternalStore(subscribe, getSnapshot, getServerSnapshot)

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

  useFetch([client, active, url, keyOptions, view, report])

  // Resolves with the new result, never rejects: errors land in it.
  const refetch = useCallback(() => {
    if (!active) {
      const error = new CalmfetchError(`calmfetch/react: ${hookName}: refetch: the request waits (its url is null or enabled is false)`, {
        kind: 'invalid',
      })
      return Promise.resolve(result(IDLE, error, 'idle', refetch))
    }
    const done = (value, error) => {
      let s
      try {
        s = client.peek(url, keyOptions)
      } catch {
        s = UNREADABLE
      }
      let data = error === undefined ? value : s.data
      const sel = selected.current
      if (data !== undefined && typeof sel === 'function') {
        try {
          data = sel(data)
        } catch (e) {
          error = e
        }
      }
      return result(viewOf(s, data, undefined, false), error, statusOf(true, data, error), refetch)
    }
    return attempt(() => client.get(url, { ...keyOptions, fresh: true })).then(
      (value) => done(value, undefined),
      (error) => done(undefined, error),
    )
  }, [client, active, url, keyOptions, hookName])

  let error = view.error
  if (
    error === undefined &&
    failure !== null &&
    failure.client === client &&
    failure.requestId === requestId &&
    failure.updatedAt === view.updatedAt &&
    !view.isFetching
  ) {
    error = failure.error
  }
  const status = statusOf(active, view.data, error)
  return useMemo(() => track(result(view, error, status, refetch), tracked.current), [view, error, status, refetch])
}

// Cleanups run one macrotask late: StrictMode's unmount + remount (and a
// re-run with the same key) start the new call first, which joins the old
// one's request or schedule and so keeps it alive.
const later = (fn) => setTimeout(fn, 0)

// The page came back: it was shown (`focus`) or went online (`reconnect`).
// The same page events the client's poller rides.
function onPageBack(fn, focus, reconnect) {
  const d = globalThis.document
  const w = globalThis
  const shown = () => d.visibilityState !== 'hidden' && fn()
  const online = () => w.navigator?.onLine !== false && fn()
  if (focus) d?.addEventListener?.('visibilitychange', shown)
  if (reconnect) w.addEventListener?.('online', online)
  return () => {
    d?.removeEventListener?.('visibilitychange', shown)
    w.removeEventListener?.('online', online)
  }
}

// `get` the key when the view has no fresh data; abort it on cleanup if it
// has not settled (the shared request is cancelled only when nobody else
// waits for it).
// When the page comes back, `get` again: the client answers fresh data from
// the cache, so only stale data goes to the network, and components sharing a
// key share one request.
function useGetWhenNeeded([client, active, url, keyOptions, view, report], o, skip) {
  const { ttlMs, retry, refetchOnFocus = true, refetchOnReconnect = true } = o ?? {}
  const needsData =
    active &&
    !skip &&
    (view.raw === undefined ||
      view.isStale ||
      (ttlMs !== undefined && (view.updatedAt === undefined || Date.now() - view.updatedAt >= ttlMs)))

  useEffect(() => {
    if (!needsData) return undefined
    const controller = new AbortController()
    let settled = false
    // (An option left undefined is as good as absent.)
    attempt(() => client.get(url, { ...keyOptions, signal: controller.signal, ttlMs, retry })).then(
      () => (settled = true),
      (error) => {
        settled = true
        if (controller.signal.aborted || (error && error.kind === 'abort')) return
        report(error)
      },
    )
    // (A get that has settled is not aborted: each abort makes an AbortError with its stack.)
    return () => settled || later(() => settled || controller.abort())
  }, [client, url, keyOptions, ttlMs, retry, needsData, report])

  const focus = refetchOnFocus !== false
  const reconnect = refetchOnReconnect !== false
  useEffect(() => {
    if (!active || skip || (!focus && !reconnect)) return undefined
    return onPageBack(
      () => attempt(() => client.get(url, { ...keyOptions, ttlMs })).catch(noop), // a watched key shows its error
      focus,
      reconnect,
    )
  }, [client, active, skip, url, keyOptions, ttlMs, focus, reconnect])
}

// Poll the key while `on` (components and tabs polling one key share one schedule).
function usePolling([client, active, url, keyOptions, , report], on, intervalMs, options) {
  const inBackground = options?.inBackground
  useEffect(() => {
    if (!active || !on) return undefined
    let handle
    try {
      handle = client.poll(url, { ...keyOptions, intervalMs, inBackground, onError: noop })
    } catch (error) {
      report(error) // bad interval or options
      return undefined
    }
    return () => later(() => handle.stop())
  }, [client, active, on, url, keyOptions, intervalMs, inBackground, report])
}

/**
 * Read `url` from the client: `{ data, error, status, isFetching, isStale,
 * isPlaceholder, updatedAt, refetch }`. A null url (or `enabled: false`)
 * waits: status 'idle', no request. `pollMs` polls it through the shared
 * poller; `select`, `keepPreviousData`, `refetchOnFocus`, `refetchOnReconnect`.
 */
export function useRequest(url, options) {
  const pollMs = options?.pollMs
  const polling = pollMs !== undefined && pollMs !== null
  const fields = polling ? [] : options?.ttlMs === undefined ? FETCH_FIELDS : FETCH_TTL_FIELDS
  return useEntry(
    url,
    options,
    'useRequest',
    (entry) => {
      usePolling(entry, polling, pollMs, options)
      useGetWhenNeeded(entry, options, polling)
    },
    fields,
  )
}

/**
 * Poll `url` every `intervalMs` while the component is mounted. Components
 * (and tabs) polling one key share one schedule at the smallest interval.
 */
export function usePoll(url, intervalMs, options) {
  return useEntry(url, options, 'usePoll', (entry) => usePolling(entry, true, intervalMs, options), [])
}

/**
 * Keep `url` live: with a `socket` on the client, its data comes pushed over
 * the socket (falling back to the cache and HTTP when the socket is slow or
 * down). Without one, or for a key with its own credentials (which the
 * socket cannot carry), it reads like `useRequest`.
 */
export function useLive(url, options) {
  return useEntry(
    url,
    options,
    'useLive',
    (entry) => {
      // For a key the socket keeps live, subscribing (done by useEntry) is
      // what fetches; any other key is fetched like useRequest.
      let live = false
      const [client, active, url, keyOptions] = entry
      if (active && typeof client.isLive === 'function') {
        try {
          live = client.isLive(url, keyOptions)
        } catch {
          live = false // a bad url: get() reports it
        }
      }
      useGetWhenNeeded(entry, options, live)
    },
    FETCH_FIELDS,
  )
}

// The promise a suspended component throws, per client and request: React
// renders again once it settles, and finds it here instead of asking anew.
const suspended = new WeakMap()

/**
 * `useRequest` for React Suspense: suspends (throws a promise cached per key)
 * until there is data, and throws the error to the nearest error boundary
 * when there is none. The result's `data` is always there.
 */
export function useSuspenseRequest(url, options) {
  const client = useClient()
  const r = useRequest(url, options)
  if (r.status === 'idle') return r
  const [keyId, keyOptions] = keyOf(options)
  const id = `${url}\n${keyId}`
  let byId = suspended.get(client)
  if (byId === undefined) suspended.set(client, (byId = new Map()))
  if (r.data !== undefined && !r.isPlaceholder) {
    byId.delete(id)
    return r
  }
  let wait = byId.get(id)
  if (wait === undefined) {
    if (r.status === 'error') throw r.error
    if (byId.size >= 256) byId.clear()
    wait = { done: false }
    wait.promise = attempt(() => client.get(url, keyOptions)).then(
      (value) => Object.assign(wait, { done: true, value }),
      (error) => Object.assign(wait, { done: true, error }),
    )
    byId.set(id, wait)
  }
  if (!wait.done) throw wait.promise
  if (wait.error !== undefined) {
    // React may render again at once after an error (React 18 does): it gets
    // the same one. Once that is over, an error boundary's reset asks anew.
    later(() => byId.get(id) === wait && byId.delete(id))
    throw wait.error
  }
  // Data that is not kept (no-store, too large): the answer itself.
  const select = options?.select
  const data = typeof select === 'function' ? select(wait.value) : wait.value
  return { ...r, data, status: 'success', error: undefined, isPlaceholder: false }
}

/**
 * Props for a link that prefetch `url` when the pointer rests on it (or it
 * gets focus) and at once on touch or mouse down:
 * `<a href=… {...usePrefetch(url)}>`. A null url gives handlers that do nothing.
 */
export function usePrefetch(url, options) {
  const client = useClient()
  const ttlMs = options?.ttlMs
  const [keyId, keyOptions] = keyOf(options)
  const handlers = useMemo(() => {
    if (url === null || url === undefined) return IDLE_HANDLERS
    return client.prefetchHandlers(url, { ...keyOptions, ttlMs })
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

const mutation = (status, data, error) => ({ status, data, error })
const MUTATION_IDLE = Object.freeze(mutation('idle'))
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
  latest.current = [url, options]
  const call = useRef(0) // the latest call's number; 0 after unmount
  useEffect(() => {
    call.current = 1
    return () => {
      call.current = 0
    }
  }, [])
  const mutateAsync = useCallback(
    (body) => {
      const [u, o = {}] = latest.current
      const { method, invalidates, optimistic, onSuccess, onError, headers, partition } = o
      const n = call.current && ++call.current
      const set = (s) => n !== 0 && call.current === n && setState(s)
      set(mutation('pending'))
      const m = { method, body, headers, partition, invalidates: pick(invalidates, body) }
      if (optimistic) m.optimistic = { url: pick(optimistic.url, body), update: optimistic.update }
      // (A url function may throw.)
      return attempt(() => client.mutate(pick(u, body), m)).then(
        (data) => {
          set(mutation('success', data))
          onSuccess?.(data, body)
          return data
        },
        (error) => {
          set(mutation('error', undefined, error))
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
