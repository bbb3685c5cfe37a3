/// <reference types="node" />
// Types of calmfetch/server: the backend half of calmfetch, for Node.
// (docs/server.md describes every option.)
import type { IncomingMessage, ServerResponse, Server } from 'node:http'
import type { Duplex } from 'node:stream'

/** A Node request listener: an Express app, `koa.callback()`, `fastify.routing`, or `(req, res) => {}`. */
export type RequestListener = (req: IncomingMessage, res: ServerResponse) => unknown

/** One item of a batch, as `onItem` sees it (header names lower-case). */
export interface BatchItem {
  id: string
  method: string
  url: string
  headers: Record<string, string>
}

export interface BatchHandlerOptions {
  /** Most items in one batch; more is a 400. Default 100. */
  maxItems?: number
  /** Most bytes of the batch's body; more is a 413. Default 262144 (256 KB). */
  maxBytes?: number
  /** Deepest nesting of the body's JSON; deeper is a 400. Default 8. */
  maxDepth?: number
  /** An item that has not answered within this many ms is answered 504 (the others carry on). Default 10000. */
  timeoutMs?: number
  /** Items of one batch run at the same time, at most. Default 6. */
  concurrency?: number
  /**
   * More request headers that every item takes from the `POST` (and that an item cannot set),
   * besides Authorization, Cookie, Proxy-Authorization, Accept-Language, User-Agent, Forwarded,
   * X-Forwarded-For/-Host/-Proto and X-Real-IP. Add your client's `credentialHeaders` here.
   */
  forwardHeaders?: string[]
  /**
   * More response headers an item's answer keeps, besides ETag, Cache-Control, Content-Type,
   * Retry-After, Last-Modified, Expires, Vary, Allow and Location.
   */
  responseHeaders?: string[]
  /** Called for each item of an accepted batch as it starts (or is refused): metrics, logs. */
  onItem?: (item: BatchItem, req: IncomingMessage) => void
}

/**
 * A handler of `POST /batch` that replays each item as a GET through `listener`.
 * Use it as a route or middleware (`app.post('/batch', batchHandler(app))`) or call it
 * from any Node server. Its promise settles (it never rejects) when the answer is written.
 */
export function batchHandler(
  listener: RequestListener,
  options?: BatchHandlerOptions,
): (req: IncomingMessage, res: ServerResponse, next?: unknown) => Promise<void>

/** The batch item an (injected) request stands for: `{ id, batch }` (`batch` is the `POST`); undefined for other requests. */
export function batchItemOf(req: IncomingMessage): { id: string; batch: IncomingMessage } | undefined

/** A socket connection, as the hooks see it. */
export interface SocketConnection {
  /** The `ws` WebSocket (typed here by what the hooks may need). */
  readonly ws: {
    readonly readyState: number
    send(data: string): void
    close(code?: number, reason?: string): void
    terminate(): void
  }
  /** The upgrade request: its headers say who the user is. */
  readonly req: IncomingMessage
  /** Its subscribed keys. */
  readonly keys: ReadonlyMap<string, unknown>
}

export interface SocketHandlerOptions {
  /** Whether the connection of `req` may subscribe to `key` (the URL's path and query). Required. */
  authorize: (req: IncomingMessage, key: string) => boolean | Promise<boolean>
  /**
   * The current data of `key` for the connection of `req`, sent at once on subscribe and by `refresh`.
   * A thrown error with `expose: true` sends its message to the client; others send a generic one.
   */
  load?: (key: string, req: IncomingMessage) => unknown
  /** Without `load`: get a key's data by a GET of it through this listener, with the connection's credentials. */
  listener?: RequestListener
  /** Browser pages allowed to connect: "same-origin" (default), "*", a list of origins, or a function. */
  origins?: 'same-origin' | '*' | string[] | ((origin: string, req: IncomingMessage) => boolean)
  /** Most subscriptions per connection. Default 100. */
  maxSubscriptions?: number
  /** Largest incoming message in bytes. Default 65536. */
  maxPayload?: number
  /** Ping every connection this often and drop those that did not answer the last ping (0: never). Default 30000. */
  pingMs?: number
  /** A `listener` GET that has not answered within this many ms fails. Default 10000. */
  timeoutMs?: number
  /** `refresh` loads at most this many keys' data at a time. Default 8. */
  concurrency?: number
  /** A connection with more than this many bytes waiting to be sent is dropped. Default 4194304 (4 MB). */
  maxBufferedBytes?: number
  /** `ws`'s WebSocketServer class; by default the `ws` package is loaded. */
  WebSocketServer?: new (options: { noServer: true; maxPayload: number }) => unknown
  onOpen?: (conn: SocketConnection) => void
  onClose?: (conn: SocketConnection) => void
  /** Every message received (undefined when it was not JSON). */
  onMessage?: (msg: unknown, conn: SocketConnection) => void
  /** Every message sent. */
  onSend?: (msg: { type: 'data' | 'error'; key: string | null; body?: unknown; message?: string }, conn: SocketConnection) => void
}

export interface SocketHandler {
  /** Take over an HTTP upgrade (call it from your server's 'upgrade' event). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void
  /** Serve the upgrades of `server` at `path` (default '/ws'); returns a function that detaches. */
  attach(server: Server, options?: { path?: string }): () => void
  /** Send `data` to every connection subscribed to the key (or to the keys `match` accepts); returns how many got it. */
  publish(key: string | ((key: string) => boolean), data: unknown): number
  /** Load the key(s) again for each subscribed connection, with its own credentials, and send the data; resolves with how many got a message. */
  refresh(key: string | ((key: string) => boolean)): Promise<number>
  /** Open connections now. */
  readonly connections: number
  /** (connection, key) subscriptions now. */
  readonly subscriptions: number
  /** Close every connection (code 1001 by default) and stop accepting new ones. */
  close(code?: number, reason?: string): void
}

export function socketHandler(options: SocketHandlerOptions): SocketHandler
