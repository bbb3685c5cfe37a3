// The network: one GET and its answer, the `/batch` wire format (request
// body, plain answers, NDJSON lines). Bodies are parsed here with
// `JSON.parse` and never reach the wasm; the core gets sizes and flags.
import { isObject, messageOf } from './errors.js'
import { retryAfter } from './retry.js'

/** Flags of `cf_done` / `cf_item`. */
export const NO_STORE = 1
export const HAS_ETAG = 2
export const NOT_JSON = 4
export const NETWORK = 8
export const EMPTY = 16

/**
 * What a finished request brought: `{ status, size, flags, retryAfter, body,
 * etag, errorBody, message }` (errorBody: the error's text, kept only within
 * `maxBody`; message: why it failed on the network or to parse).
 */
export const result = (status, size, flags, extra) => ({ status, size, flags, retryAfter: -1, ...extra })

/** The flags of a good answer's ETag and Cache-Control (absent: null or undefined; a batch item's may be any JSON value). */
const okFlags = (etag, cacheControl) => (etag != null ? HAS_ETAG : 0) | (cacheControl != null && `${cacheControl}`.toLowerCase().includes('no-store') ? NO_STORE : 0)

/** A failed answer with the error's `text` (kept within `maxBody`) and its Retry-After (absent: null or undefined). */
function failed(status, text, maxBody, after) {
  const r = result(status, text.length, 0, { errorBody: text.length <= maxBody ? text : '' })
  if (after != null) r.retryAfter = retryAfter(after, Date.now())
  return r
}

/**
 * The client's `fetch` (option `fetch`), else the global one, looked up at
 * each call (a test or an instrumentation may replace it after `createClient`).
 */
export const fetcher = (cfg) => (url, init) => (cfg.fetch ?? globalThis.fetch)(url, init)

/** Await a `fetch` and read its answer (`asText`: the body is the text, not JSON). Never rejects. */
export async function answer(pending, maxBody, asText) {
  let res, text
  try {
    res = await pending
    text = await res.text()
  } catch (e) {
    return result(0, 0, NETWORK, { message: messageOf(e) })
  }
  const { status, headers } = res
  const size = text.length // UTF-16 units: at most the UTF-8 size
  if (!res.ok) return failed(status, text, maxBody, headers.get('retry-after'))
  let body = null
  let flags = 0
  if (asText) body = text
  else if (text.trim() === '') flags = EMPTY
  else {
    try {
      body = JSON.parse(text)
    } catch (e) {
      return result(status, size, NOT_JSON, { message: messageOf(e) })
    }
  }
  const etag = headers.get('etag') ?? undefined
  return result(status, size, flags | okFlags(etag, headers.get('cache-control')), { body, etag })
}

/**
 * The JSON body of a batch request. `items`: `[id, path, headers]`, where
 * headers is an object (empty: left out).
 */
export function batchBody(items) {
  const requests = items.map(([id, url, headers]) => {
    const r = { id: String(id), method: 'GET', url }
    for (const _ in headers) {
      r.headers = headers
      break
    }
    return r
  })
  return JSON.stringify({ requests })
}

/**
 * Read one answer object of a batch: `{ id, status, headers, body }` with
 * `id` a flight number (-1 when it cannot be one) and `headers` lower-cased,
 * string values only; a string when the object is no usable answer (no id,
 * no HTTP status), which the core counts and ignores.
 */
export function item(a) {
  const s = a.status
  if (!(Number.isInteger(s) && s >= 100 && s <= 599)) return s === undefined ? 'an answer has no status' : "an answer's status is not an HTTP status"
  let id = a.id
  if (typeof id === 'string') id = /^\d{1,10}$/.test(id) ? Number(id) : -1
  else if (!(Number.isInteger(id) && id >= 0)) return 'an answer has no id'
  if (!(id <= 0xfffffffe)) id = -1
  const headers = {}
  if (isObject(a.headers)) for (const n in a.headers) if (typeof a.headers[n] === 'string') headers[n.toLowerCase()] = a.headers[n]
  return { id, status: s, headers, body: a.body }
}

/**
 * What one item's answer means for the core: `cf_item`'s status, size,
 * flags and Retry-After, with the body or the error's text.
 */
export function itemResult(a, maxBody, asText) {
  const { status, headers } = a
  const body = asText && a.body !== undefined && typeof a.body !== 'string' ? JSON.stringify(a.body) : a.body
  if (status >= 200 && status < 300) {
    const flags = (body === undefined ? EMPTY : 0) | okFlags(headers.etag, headers['cache-control'])
    const size = body === undefined ? 0 : JSON.stringify(body).length
    return result(status, size, flags, { body: body ?? null, etag: headers.etag })
  }
  if (status < 400) return result(status, 0, 0)
  // An error body that is a JSON string is its text; anything else its JSON.
  const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body)
  return failed(status, text, maxBody, headers['retry-after'])
}

const looksCut = (text) => {
  const t = text.trim()
  return t[0] === '{' && t[t.length - 1] !== '}'
}

/**
 * A whole plain answer: the list of answer objects, or a string that says
 * why it cannot be read.
 */
export function envelope(text) {
  let v
  try {
    v = JSON.parse(text)
  } catch (e) {
    return unexpected(looksCut(text) ? `truncated at byte ${text.length}` : messageOf(e))
  }
  if (!isObject(v) || !Array.isArray(v.responses)) return unexpected('no `responses` array')
  if (!v.responses.every(isObject)) return unexpected('an answer is not an object')
  return v.responses
}

const unexpected = (why) => `the answer is not the expected JSON (${why})`
