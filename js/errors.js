// calmfetch's errors: the class, the messages, and short descriptions of bad
// values. Every message is built here, in JS, from numbers and codes.

/** Every error calmfetch hands out. `kind` says which class of failure. */
export class CalmfetchError extends Error {
  constructor(message, details = {}) {
    super(message)
    this.name = details.name ?? 'CalmfetchError'
    this.kind = details.kind
    if (details.url !== undefined) this.url = details.url
    if (details.status !== undefined) this.status = details.status
    if ('body' in details) this.body = details.body
  }
}

/** A bad URL or option, refused before anything is sent. */
export const invalid = (message) => new CalmfetchError(`calmfetch: ${message}`, { kind: 'invalid' })

/** Is `v` an object, not null nor an array? */
export const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v)

/** A short description of a value for error messages. */
export function describe(v) {
  if (typeof v === 'string') return `"${Array.from(v).slice(0, 60).join('')}"`
  if (typeof v === 'number' || typeof v === 'boolean') return String(v)
  if (v === null) return 'null'
  if (typeof v === 'function') return 'a function'
  if (Array.isArray(v)) return 'an array'
  return typeof v === 'object' ? 'an object' : typeof v
}

/** The message of a thrown value. */
export const messageOf = (e) => (e instanceof Error ? e.message : typeof e === 'string' ? e : 'unknown JS exception')

/**
 * The error of a failed GET (or `method`) of `url`: `kind` is one of http, network,
 * timeout, abort, parse, batch, circuit; `reason` ends the message. `body`
 * is the error body's text ('' or undefined: none); it is parsed as JSON
 * when it can be.
 */
export function failure(url, kind, reason, status, body, method = 'GET') {
  const details = { kind, url, name: kind === 'abort' ? 'AbortError' : kind === 'timeout' ? 'TimeoutError' : undefined }
  if (status !== undefined) {
    details.status = status
    if (body) {
      try {
        details.body = JSON.parse(body)
      } catch {
        details.body = body
      }
    }
  }
  return new CalmfetchError(`calmfetch: ${method} ${url} failed: ${reason}`, details)
}

export const HTTP = (status) => `HTTP ${status}`
export const NETWORK = (why) => `network error: ${why}`
export const TIMEOUT = (ms) => `timed out after ${ms} ms`
export const ABORT = "aborted by the caller's signal"
export const PARSE = (why) => `response is not JSON: ${why}`
export const BATCH = (why) => `batch protocol error: ${why}`
export const CIRCUIT = (origin, failures, ms) =>
  `circuit open: ${origin} failed ${failures} times in a row; nothing is sent there for ${ms} ms more`

/** The caller's signal aborted. */
export const abortError = (url) => failure(url, 'abort', ABORT)

/** Something calmfetch reports to `socket.onError`. */
export const socketError = (message) => new CalmfetchError(`calmfetch: ${message}`, { kind: 'socket' })

/** calmfetch itself failed: every client on the page has stopped. */
export const internal = (cause, detail) =>
  new CalmfetchError(
    `calmfetch: internal error (${cause}): ${detail}. Every calmfetch client on this page has stopped; reload the page. Please report this.`,
    { kind: 'internal' },
  )
