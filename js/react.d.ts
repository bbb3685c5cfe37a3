import type { ReactElement, ReactNode } from 'react'
import type { CalmfetchError, Client, DehydratedState, HeaderInit, PrefetchHandlers, WriteBody, WriteMethod } from './index.js'

export interface CalmfetchProviderProps {
  /** The client the hooks below use (one per browser tab; one per request on a server). */
  client: Client
  /** A server's `client.dehydrate()`: hydrated into `client` before the children render. */
  state?: DehydratedState | null
  children?: ReactNode
}

/**
 * Makes `client` available to `useClient` and `useRequest` below it, after
 * hydrating `state` into it (see "Next.js and server rendering" in the README).
 */
export declare function CalmfetchProvider(props: CalmfetchProviderProps): ReactElement

/** The client of the nearest `CalmfetchProvider`. Throws an `Error` without one. */
export declare function useClient(): Client

/** What every data hook takes: the key, `enabled`, and how the data is shown. */
export interface ViewOptions<T, S = T> {
  /** Part of the cache key. Compared by value: inline literals are fine. */
  headers?: HeaderInit
  /** Part of the cache key: the identity (with it, `Authorization` is not part of the key). */
  partition?: string
  /** `'text'`: the body as text (another cache entry than the JSON read). Default `'json'`. */
  responseType?: 'json' | 'text'
  /** `false` waits like a null url: status `'idle'`, no request. Default true. */
  enabled?: boolean
  /**
   * Transform the data. Its result is shared with the last one (equal JSON is
   * the same object), and the component renders again only when it changes.
   */
  select?: (data: T) => S
  /** While a new url (or key) has no data, show the last data with `isPlaceholder: true`. */
  keepPreviousData?: boolean
  /** `'previous'`: the same as `keepPreviousData: true` (TanStack Query's spelling). */
  placeholderData?: 'previous'
}

export interface UseRequestOptions<T = unknown, S = T> extends ViewOptions<T, S> {
  /** How fresh cached data must be to be used without the network, in ms. */
  ttlMs?: number
  /** Retries of the hook's request if it fails (default: the client's `retry`). */
  retry?: number
  /** Poll the url every `pollMs` through the shared poller; `undefined` stops polling and keeps the data. */
  pollMs?: number
  /** With `pollMs`: keep polling while the page is hidden. Default false. */
  inBackground?: boolean
  /** When the page is shown again, fetch the data if it is stale (fresh data is not refetched). Default true. */
  refetchOnFocus?: boolean
  /** When the browser goes back online, fetch the data if it is stale. Default true. */
  refetchOnReconnect?: boolean
}

/**
 * - `'idle'`: the url is null or `enabled` is false; nothing is fetched.
 * - `'pending'`: no data and no error yet.
 * - `'success'`: there is data and the last attempt did not fail.
 * - `'error'`: the last attempt failed (`data` may still hold older data).
 */
export type RequestStatus = 'idle' | 'pending' | 'success' | 'error'

/**
 * A hook's result. The component renders again only when a field it has
 * read changes (tracked fields, as in TanStack Query): read in the render
 * what the render shows.
 */
export interface RequestResult<T> {
  readonly data: T | undefined
  /** The error of the last failed attempt, cleared by a successful one. Aborts are not errors. (A `select` that throws: what it threw.) */
  readonly error: CalmfetchError | undefined
  readonly status: RequestStatus
  /** A request for this key is in flight (whoever started it), retries included. */
  readonly isFetching: boolean
  /** There is no data, or it is older than its TTL or was invalidated. */
  readonly isStale: boolean
  /** `data` is the previous url's (`keepPreviousData`), until this one's arrives. */
  readonly isPlaceholder: boolean
  /** When the data arrived, ms since the epoch. */
  readonly updatedAt: number | undefined
  /**
   * Fetch again now, skipping the cache. Never rejects: resolves with the
   * new result, an error in `error` (status `'idle'` with an `'invalid'`
   * error when the request waits: null url, `enabled: false`).
   */
  readonly refetch: () => Promise<RequestResult<T>>
}

/**
 * Read `url` through the client of the nearest `CalmfetchProvider`: subscribes
 * to its cache entry and fetches it when there is no fresh data (and when the
 * page is shown again or back online, if it is stale). Components using the
 * same url share one request. A null url waits.
 */
export declare function useRequest<T = unknown, S = T>(url: string | null, options?: UseRequestOptions<T, S>): RequestResult<S>

/** The result of `useSuspenseRequest`: the data is there. */
export interface SuspenseResult<T> extends RequestResult<T> {
  readonly data: T
  readonly status: 'success' | 'error'
}

/**
 * `useRequest` for React Suspense: suspends the component (throwing a
 * promise cached per key) until there is data, and throws the error to the
 * nearest error boundary when the request fails with no data to show.
 */
export declare function useSuspenseRequest<T = unknown, S = T>(url: string, options?: UseRequestOptions<T, S>): SuspenseResult<S>

export interface UsePollOptions<T = unknown, S = T> extends ViewOptions<T, S> {
  /** Keep polling while the page is hidden. Default false. */
  inBackground?: boolean
}

/**
 * Poll `url` every `intervalMs` while mounted (`useRequest(url, { pollMs })`
 * in short). Components and tabs polling one key share one schedule at the
 * smallest interval; polling pauses while the page is hidden or offline. A
 * null url waits.
 */
export declare function usePoll<T = unknown, S = T>(
  url: string | null,
  intervalMs: number,
  options?: UsePollOptions<T, S>,
): RequestResult<S>

export interface UseLiveOptions<T = unknown, S = T> extends ViewOptions<T, S> {
  /** When the page is shown again, fetch stale data that is not live. Default true. */
  refetchOnFocus?: boolean
  /** When the browser goes back online, fetch stale data that is not live. Default true. */
  refetchOnReconnect?: boolean
}

/**
 * Keep `url` live: with a `socket` on the client its data is pushed over the
 * socket, with the cache and HTTP as fallback while the socket is slow or
 * down. Without a socket it reads like `useRequest`. A null url waits.
 */
export declare function useLive<T = unknown, S = T>(url: string | null, options?: UseLiveOptions<T, S>): RequestResult<S>

export interface UsePrefetchOptions {
  headers?: HeaderInit
  partition?: string
  responseType?: 'json' | 'text'
  /** TTL of the prefetched entry, in ms. */
  ttlMs?: number
}

/**
 * Event handler props for a link: prefetch `url` when the pointer rests on it
 * or it gets focus (after the client's intent delay), at once on touch or
 * mouse down. `<a href={href} {...usePrefetch(url)}>`. A null url gives
 * handlers that do nothing.
 */
export declare function usePrefetch(url: string | null, options?: UsePrefetchOptions): PrefetchHandlers

export interface UseMutationOptions<T, B, D> {
  /** Default `'POST'`. */
  method?: WriteMethod
  /** URLs or prefixes to invalidate when the write succeeds (besides the written url), or a function of the body. */
  invalidates?: string | string[] | ((body: B) => string | string[])
  /** An entry changed at once, and changed back if the write fails (see `MutateOptions.optimistic`). */
  optimistic?: {
    /** Default: the written url. */
    url?: string | ((body: B) => string)
    update: (current: D | undefined, body: B) => D | undefined
  }
  /** Called with the answer of each write that succeeds. */
  onSuccess?: (data: T, body: B) => void
  /** Called with the error of each write that fails. */
  onError?: (error: CalmfetchError, body: B) => void
  headers?: HeaderInit
  partition?: string
}

/**
 * - `'idle'`: no write yet (or `reset`).
 * - `'pending'`: the latest write is out.
 * - `'success'` / `'error'`: how the latest write ended.
 */
export type MutationStatus = 'idle' | 'pending' | 'success' | 'error'

/** The body argument: optional when the body may be `undefined`. */
export type MutationArgs<B> = undefined extends B ? [body?: B] : [body: B]

export interface MutationResult<T, B> {
  /** Send a write; never rejects (the error lands in `error`, `onError` is called). Stable. */
  readonly mutate: (...args: MutationArgs<B>) => void
  /** Send a write; resolves with its answer, rejects with its error. Stable. */
  readonly mutateAsync: (...args: MutationArgs<B>) => Promise<T>
  readonly status: MutationStatus
  /** The answer of the latest write, when it succeeded. */
  readonly data: T | undefined
  /** The error of the latest write, when it failed. */
  readonly error: CalmfetchError | undefined
  /** Back to `'idle'`; a write still out no longer changes the state. Stable. */
  readonly reset: () => void
}

/**
 * Writes to `url` (or to `url(body)`) through the client of the nearest
 * `CalmfetchProvider`. The state follows the latest call; nothing is set
 * after the component unmounts.
 */
export declare function useMutation<T = unknown, B extends WriteBody | undefined = WriteBody | undefined, D = unknown>(
  url: string | ((body: B) => string),
  options?: UseMutationOptions<T, B, D>,
): MutationResult<T, B>
