/** A JSON value, as `JSON.parse` returns it. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/** Which class of failure a `CalmfetchError` is. */
export type ErrorKind = 'http' | 'network' | 'timeout' | 'abort' | 'parse' | 'invalid' | 'batch' | 'socket' | 'circuit' | 'internal'

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
  /** Bodies longer than this (bytes of JSON text) reach their callers and listeners but are not cached. Default 1048576. */
  maxBodyBytes?: number
  /** Bound on the bytes of all cached bodies together; the least recently used go first. Default 16777216 (16 MiB). */
  maxBytes?: number
}

export interface BatchOptions {
  /** Where batches go. Default `'/batch'`; must be same-origin unless `crossOrigin`. */
  endpoint?: string
  /** How long the first queued request waits for company, in ms. Default 10. */
  windowMs?: number
  /** Items per batch before it leaves at once. Default 50. */
  maxSize?: number
  /** Request body bytes before it leaves at once. Default 32768. */
  maxBytes?: number
  /** Ask for NDJSON so each caller settles as its own answer arrives. Default false. */
  stream?: boolean
  /** Allow an endpoint on another origin. Default false. */
  crossOrigin?: boolean
}

/** A socket the app already has, plugged in as calmfetch's transport. */
export interface SocketAdapter {
  /** Open the connection; call `open()`, `close()` and `message(text)` as things happen. */
  connect(handlers: { open(): void; close(): void; message(text: string): void }): void
  /** Send one protocol message (a JSON string). */
  send(text: string): void
  /** Close the connection: calmfetch no longer needs it. */
  close?(): void
}

export interface SocketOptions {
  /** `ws:`/`wss:` URL, or `http(s):` / relative (converted). Either this or `adapter`. */
  url?: string
  adapter?: SocketAdapter
  /** Fall back to the cache and HTTP if not open within this many ms. Default 5000. */
  connectTimeoutMs?: number
  /** Reconnect with full jitter in windows from `minMs` doubling up to `maxMs`. Default 1000 / 30000. */
  reconnect?: { minMs?: number; maxMs?: number }
  /** How long a subscription outlives its last listener, in ms. Default 1000. */
  lingerMs?: number
  /** After (re)subscribing, keys the socket has not refreshed within this many ms are fetched over HTTP together. Default 1500. */
  resyncMs?: number
  /** Malformed messages and transport failures (kind `'socket'`). Default: console.warn. */
  onError?: (error: CalmfetchError) => void
}

export interface PrefetchOptions {
  /** How long a hover or focus must last before it prefetches, in ms. Default 65. */
  intentMs?: number
  /** Prefetches in flight at once. Default 4. */
  concurrency?: number
  /** Skip prefetching when the user saves data or is on 2G. Default true. */
  respectSaveData?: boolean
}

/** Event handler props for a link, from `prefetchHandlers` / `usePrefetch`. */
export interface PrefetchHandlers {
  onMouseEnter(): void
  onMouseLeave(): void
  onFocus(): void
  onBlur(): void
  onTouchStart(): void
  onMouseDown(): void
}

/**
 * Headers computed for each network request (each GET, each batch POST),
 * for tokens that change: may return a promise, awaited before sending. A
 * rejection (or a bad value) fails that request with a `'network'` error.
 */
export type HeadersFunction = () => HeaderInit | Promise<HeaderInit>

/** A `fetch`-compatible function: MSW, Node, instrumentation, an auth-refresh wrapper. */
export type Fetcher = (url: string, init: RequestInit) => Promise<Response>

/**
 * `createClient`'s options. `headers` may be a function (token refresh); a
 * function's headers cannot be part of the cache key, so it needs
 * `partition`, which then is the identity the cache is keyed by.
 */
export type ClientOptions = ClientOptionsBase &
  (
    | {
        /** Headers sent with every request. `Authorization`, `Cookie`, `Proxy-Authorization` and the `credentialHeaders` are part of the cache key, unless `partition` is set. */
        headers?: HeaderInit
        /** Who the requests belong to (for example a user id): the cache key's identity. With it, `Authorization` and the credential headers are sent but left out of the key (a new token keeps the cache). */
        partition?: string
      }
    | {
        /** Called for each network request; its headers go on top of the others. Needs `partition`. */
        headers: HeadersFunction
        /** The identity the function's credentials belong to: the cache is keyed by it. */
        partition: string
      }
  )

export interface ClientOptionsBase {
  /** Relative URLs resolve against this. Default: the page's location. */
  baseUrl?: string
  cache?: CacheOptions
  /** Abort a request after this many ms; 0 never. Default 30000. */
  timeoutMs?: number
  /** Names of more headers that say who the user is (for example `'X-Api-Key'`): part of the cache key, like `Authorization`. */
  credentialHeaders?: string[]
  /** `fetch`'s credentials mode, part of the cache key. Default `'same-origin'`. */
  credentials?: RequestCredentials
  /** The `fetch` to send with, for gets and batches. Default: the global `fetch`, looked up at each request. */
  fetch?: Fetcher
  /**
   * Retries of a failed read (network error, 429, 5xx; not other 4xx, not
   * timeouts, never a write), after a backoff of `retryDelayMs` doubling each
   * time (less a random half, at most 30 s) or the answer's `Retry-After`
   * when longer. Default 2; 0 turns retries off.
   */
  retry?: number
  /** The backoff before the first retry, in ms. Default 1000. */
  retryDelayMs?: number
  /** Send GETs made close together as one `POST /batch`. */
  batch?: boolean | BatchOptions
  /** Prefer a realtime socket for keys that have subscribers. */
  socket?: SocketOptions
  prefetch?: PrefetchOptions
  /**
   * The circuit breaker per origin, on by default: after `failures` (5)
   * consecutive network errors, timeouts, 429s or 5xx answers from one origin,
   * nothing is sent there for `coolDownMs` (10000); calls get cached data,
   * even stale, or a `'circuit'` error. Then one probe decides. `false` turns it off.
   */
  circuit?: boolean | { failures?: number; coolDownMs?: number }
  /** Client-wide polling behaviour (see `poll`). */
  poll?: {
    /** Each interval is stretched or shrunk at random by up to this fraction, 0 to 0.5. Default 0.1 (±10%). */
    jitter?: number
    /** Longest wait between attempts while a key keeps failing, in ms. Default 60000. */
    maxBackoffMs?: number
  }
  /**
   * Keep last-known data in IndexedDB, so that a cold page load shows it at
   * once (marked stale) while the socket or HTTP catches up. Needs an
   * identity (`partition` or an `Authorization` header): kept data belongs to
   * one user. Entries are stored under a salted SHA-256 of their key;
   * `clear()` wipes them. Default false.
   */
  persist?: boolean | PersistOptions
}

export interface PersistOptions {
  /** IndexedDB database name. Default `'calmfetch'`. */
  name?: string
  /** Most entries kept on disk; the oldest go first. Default: `cache.maxEntries`. */
  maxEntries?: number
}

/** Options that pick a cache entry: they change the key. */
export interface KeyOptions {
  headers?: HeaderInit
  /** The identity: with it, `Authorization` and the credential headers are sent but not part of the key. */
  partition?: string
  /** `'text'`: the body is the response's text, not parsed JSON (a separate cache entry). Default `'json'`. */
  responseType?: 'json' | 'text'
}

export interface GetOptions extends KeyOptions {
  /** Aborting rejects this call; the request is aborted when no caller is left. */
  signal?: AbortSignal
  /** How fresh an entry must be to be served without the network, in ms. */
  ttlMs?: number
  /** Skip the cache (an identical request in flight is still joined). */
  fresh?: boolean
  /** Retries of this call's request if it fails (default: the client's `retry`); 0: none. */
  retry?: number
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
  socketMessages: number
  socketMalformed: number
  socketSubscribes: number
  socketDrops: number
  socketReconnects: number
  socketTimeouts: number
  /** `'none'` without a socket option. */
  socketState: 'none' | 'idle' | 'connecting' | 'connecting-fallback' | 'open' | 'reconnecting'
  socketSubscriptions: number
  prefetched: number
  prefetchFailures: number
  prefetchSkipped: number
  /** Live keys without data that rode along in a batch leaving anyway while the socket was not open. */
  socketRiders: number
  /** Times a circuit opened (or reopened after a failed probe). */
  circuitOpens: number
  /** Calls answered with cached, possibly stale, data while a circuit was open. */
  circuitStale: number
  /** Calls refused with a `'circuit'` error. */
  circuitRefused: number
  /** Failed reads sent again after their backoff. */
  retries: number
  /** Size of the wasm module's memory, in bytes (it grows, never shrinks). */
  memoryBytes: number
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

/** A write's method. */
export type WriteMethod = 'POST' | 'PUT' | 'PATCH' | 'DELETE'

/**
 * What a write sends: a plain object, an array, a number, a boolean or null
 * goes as JSON (`Content-Type: application/json`); a string, `FormData`,
 * `Blob`, `URLSearchParams`, `ArrayBuffer` or typed array as it is. Any other
 * object (a `Date`, a `Map`, a class instance) is refused with kind `'invalid'`.
 */
export type WriteBody = string | number | boolean | null | object

/** An entry changed at once while a write is out, and changed back if it fails. */
export interface OptimisticUpdate<D = unknown, B = WriteBody> {
  /** The entry (with the write's `headers` and `partition`). Default: the written url. */
  url?: string
  /**
   * The entry's next value from the one it shows (`undefined`: it has none).
   * It runs again over newer data that arrives while the write is out, so it
   * must be pure; returning `undefined` changes nothing; throwing rejects the
   * write before it is sent.
   */
  update: (current: D | undefined, body: B | undefined) => D | undefined
}

export interface MutateOptions<B = WriteBody, D = unknown> extends KeyOptions {
  /** Default `'POST'`. */
  method?: WriteMethod
  body?: B
  /** Aborting rejects the call (kind `'abort'`) and aborts the request. */
  signal?: AbortSignal
  /**
   * URLs or prefixes to invalidate when the write succeeds, besides the
   * written url (and the optimistic entry): listened-to entries are fetched
   * again at once, the others on their next read.
   */
  invalidates?: string | string[]
  optimistic?: OptimisticUpdate<D, B>
}

export interface Client {
  /**
   * Send a write and resolve with its answer: JSON parsed, `null` when
   * empty, text otherwise. Never deduplicated, cached, batched or retried;
   * the timeout, the circuit breaker and the typed errors apply as to reads.
   */
  mutate<T = unknown, B extends WriteBody = WriteBody, D = unknown>(url: string, options?: MutateOptions<B, D>): Promise<T>
  /**
   * Set `url`'s entry by hand (a value, or a function of the current one:
   * `undefined` changes nothing). Listeners see it; it is fresh for the
   * entry's TTL, and kept within the cache's byte limits. Returns the value.
   * Throws kind `'invalid'` for data that is not JSON.
   */
  setData<T = unknown>(url: string, data: T | ((current: T | undefined) => T | undefined), options?: KeyOptions): T | undefined
  /** GET `url` and resolve with its body as text (`responseType: 'text'`). */
  get(url: string, options: GetOptions & { responseType: 'text' }): Promise<string>
  /** GET `url` and resolve with its parsed JSON body. */
  get<T = unknown>(url: string, options?: GetOptions): Promise<T>
  /** Hear every change of `url`'s entry; with a socket, the key is kept live. Returns the function that stops it. */
  subscribe<T = unknown>(url: string, listener: (snapshot: Snapshot<T>) => void, options?: KeyOptions): () => void
  /** The current snapshot of `url`'s entry, without fetching. */
  peek<T = unknown>(url: string, options?: KeyOptions): Snapshot<T>
  /**
   * Would `subscribe(url)` keep the key live over the socket? Only with a
   * `socket`, for the client's own credentials and origin: a key with its own
   * `Authorization` header or `partition` is served over HTTP only.
   */
  isLive(url: string, options?: KeyOptions): boolean
  /** Poll `url`: one timer and one request per key however many pollers, paused while hidden or offline, one poller across tabs. */
  poll<T = unknown>(url: string, options: PollOptions<T>): PollHandle
  /** Fetch `url` again now, unless it is in flight or was fetched in the last 250 ms. */
  refresh<T = unknown>(url: string, options?: RefreshOptions): Promise<T>
  /**
   * Fetch `url` at low priority so a later `get` finds it. Resolves `true`
   * once its data is in the cache and fresh (fetched now, joined, or already
   * there), `false` when skipped (Save-Data, bad input, a full queue) or
   * failed. Never throws, never rejects.
   */
  prefetch(url: string, options?: KeyOptions & { ttlMs?: number }): Promise<boolean>
  /** Prefetch when the pointer rests on `element` (or it gets focus); at once on touch or mouse down. Returns the cleanup. */
  prefetchOnHover(element: EventTarget, url: string, options?: KeyOptions & { ttlMs?: number }): () => void
  /** The same as event handler props, for frameworks (see `usePrefetch`). */
  prefetchHandlers(url: string, options?: KeyOptions & { ttlMs?: number }): PrefetchHandlers
  /** Mark `url` and everything under it stale. Returns how many entries and requests it touched. */
  invalidate(urlOrPrefix: string): number
  /** Forget every cached entry, in memory, in IndexedDB (`persist`) and in the other tabs of the origin. Call it on logout. */
  clear(): void
  /**
   * The fresh entries fetched with the client's own identity (its
   * `createClient` headers, credentials and partition), as plain JSON for
   * `hydrate` in another client: no stale, failed or `no-store` entry, no
   * entry of a call with its own credentials or partition, and no header value.
   */
  dehydrate(): DehydratedState
  /**
   * Seed the cache with `dehydrate()`'s output, under this client's own
   * identity: the data keeps its age, newer data here stays, and doing it
   * twice changes nothing. Throws a `CalmfetchError` (kind `'invalid'`) on a
   * bad shape, taking nothing.
   */
  hydrate(state: DehydratedState | null | undefined): void
  stats(): Stats
}

/** One entry of `dehydrate()`'s output. */
export interface DehydratedEntry {
  /** The path and query when on the `baseUrl`'s origin, else the absolute URL. */
  url: string
  data: Json
  /** When the data was fetched, in ms since the epoch. */
  updatedAt: number
  /** How long it stays fresh after `updatedAt`, in ms. */
  ttlMs: number
  etag?: string
}

/** `dehydrate()`'s output: plain JSON, safe to put in a page. */
export interface DehydratedState {
  calmfetch: 1
  entries: DehydratedEntry[]
}
/**
 * `next` with every part deep-equal to the same part of `prev` replaced by
 * `prev`'s (structural sharing, as the client does for each new body): equal
 * JSON gives back `prev` itself.
 */
export declare function replaceEqualDeep<T>(prev: unknown, next: T): T

/** Make a client. Synchronous; throws a `CalmfetchError` of kind `'invalid'` on bad options. */
export declare function createClient(options?: ClientOptions): Client
