/** A JSON value, as `JSON.parse` returns it. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/** Which class of failure a `CalmfetchError` is. */
export type ErrorKind = 'http' | 'network' | 'timeout' | 'abort' | 'parse' | 'invalid' | 'batch'

/** Every error calmfetch hands out is an instance of this class. */
export declare class CalmfetchError extends Error {
  /** `'AbortError'` for aborts, `'TimeoutError'` for timeouts, else `'CalmfetchError'`. */
  readonly name: 'CalmfetchError' | 'AbortError' | 'TimeoutError'
  readonly kind: ErrorKind
  /** The normalised absolute URL of the failed request (not set for bad options). */
  readonly url?: string
  /** The HTTP status, for `kind: 'http'`. */
  readonly status?: number
  /** The response body (parsed JSON, or text), for `kind: 'http'`. */
  readonly body?: unknown
  constructor(message: string, details?: { kind?: ErrorKind; name?: string; url?: string; status?: number; body?: unknown })
}

/** Header values by name; a `Headers` instance works too. */
export type HeaderInit = Record<string, string> | Headers

export interface CacheOptions {
  /** How long a response stays fresh, in ms. Default 2000. */
  ttlMs?: number
  /** Most entries kept; the least recently used goes first. Default 500. */
  maxEntries?: number
}

export interface ClientOptions {
  /** Relative URLs resolve against this. Default: the page's location. */
  baseUrl?: string
  cache?: CacheOptions
  /** Abort a request after this many ms; 0 never. Default 30000. */
  timeoutMs?: number
  /** Headers sent with every request. `Authorization` is part of the cache key. */
  headers?: HeaderInit
  /** `fetch`'s credentials mode, part of the cache key. Default `'same-origin'`. */
  credentials?: RequestCredentials
  /** Who the requests belong to (for example a user id), part of the cache key. */
  partition?: string
}

/** Options that pick a cache entry: they change the key. */
export interface KeyOptions {
  headers?: HeaderInit
  partition?: string
}

export interface GetOptions extends KeyOptions {
  /** Aborting rejects this call; the request is aborted when no caller is left. */
  signal?: AbortSignal
  /** How fresh an entry must be to be served without the network, in ms. */
  ttlMs?: number
  /** Skip the cache (an identical request in flight is still joined). */
  fresh?: boolean
}

/** The state of one key. The same object is returned until something changes. */
export interface Snapshot<T> {
  readonly data: T | undefined
  readonly error: CalmfetchError | undefined
  /** When `data` arrived, ms since the epoch. */
  readonly updatedAt: number | undefined
  /** True when there is no data, or it is older than its TTL or invalidated. */
  readonly stale: boolean
  readonly isFetching: boolean
}

export interface Stats {
  /** `get` calls. */
  requested: number
  /** Requests sent to the network. */
  networkRequests: number
  /** Calls that joined an identical request in flight. */
  dedupHits: number
  /** Calls answered from a fresh cache entry. */
  cacheHits: number
  errors: number
  timeouts: number
  abortedCalls: number
  cancelledRequests: number
  evictions: number
  batchesSent: number
  batchedItems: number
  batchFallbacks: number
  batchIgnoredAnswers: number
  batchProtocolErrors: number
  revalidated: number
  pollTicks: number
  cacheEntries: number
  inFlight: number
}

export interface PollOptions<T> extends KeyOptions {
  /** How often to poll, in ms. Pollers of one key share one schedule at the smallest interval. */
  intervalMs: number
  /** Called with each new body. */
  onData?: (data: T) => void
  /** Called with each failed attempt's error. */
  onError?: (error: CalmfetchError) => void
  /** Keep polling while the page is hidden. Default false. */
  inBackground?: boolean
}

export interface PollHandle {
  /** Stop this poller. The last poller of a key clears its timer. */
  stop(): void
}

export interface RefreshOptions extends KeyOptions {
  signal?: AbortSignal
}

export interface Client {
  /** GET `url` and resolve with its parsed JSON body. */
  get<T = unknown>(url: string, options?: GetOptions): Promise<T>
  /** Hear every change of `url`'s entry. Returns the function that stops it. */
  subscribe<T = unknown>(url: string, listener: (snapshot: Snapshot<T>) => void, options?: KeyOptions): () => void
  /** The current snapshot of `url`'s entry, without fetching. */
  peek<T = unknown>(url: string, options?: KeyOptions): Snapshot<T>
  /** Poll `url`: one timer and one request per key however many pollers, paused while hidden or offline, one poller across tabs. */
  poll<T = unknown>(url: string, options: PollOptions<T>): PollHandle
  /** Fetch `url` again now, unless it is in flight or was fetched in the last 250 ms. */
  refresh<T = unknown>(url: string, options?: RefreshOptions): Promise<T>
  /** Mark `url` and everything under it stale. Returns how many entries and requests it touched. */
  invalidate(urlOrPrefix: string): number
  /** Forget every cached entry (call it on logout). */
  clear(): void
  stats(): Stats
}

/** Make a client. Synchronous; throws a `CalmfetchError` of kind `'invalid'` on bad options. */
export declare function createClient(options?: ClientOptions): Client
