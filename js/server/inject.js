// Replaying a GET through the app's own request listener, in process, with
// light-my-request: shared by the batch handler (each item) and the socket
// handler (a subscription's first data when it has a `listener`).
import inject from 'light-my-request'
import { CalmfetchError } from '../errors.js'

/** A bad option: a CalmfetchError of kind 'invalid'. */
export const fail = (message) => new CalmfetchError(`calmfetch/server: ${message}`, { kind: 'invalid' })

/**
 * `options` checked against the names `known` takes: the whole-number options
 * of `defaults` (each at least 1, or 0 when `zero` names it) filled in, and
 * every function option (`fns`) a function or undefined.
 */
export function checked(options, what, known, defaults, fns, zero = []) {
  if (options === null || typeof options !== 'object') throw fail(`${what} options must be an object`)
  for (const k of Object.keys(options)) if (!known.includes(k)) throw fail(`unknown option \`${k}\` of ${what}`)
  const o = { ...options, ...defaults }
  for (const k of Object.keys(defaults)) {
    const v = options[k]
    const min = zero.includes(k) ? 0 : 1
    if (v === undefined) continue
    if (!Number.isInteger(v) || v < min) throw fail(`option \`${k}\` must be a whole number >= ${min}`)
    o[k] = v
  }
  for (const k of fns) if (options[k] !== undefined && typeof options[k] !== 'function') throw fail(`option \`${k}\` must be a function`)
  return o
}

/** Injected request -> { id, batch } of the batch item it stands for. */
const items = new WeakMap()

/**
 * The batch item an (injected) request stands for: `{ id, batch }`, where
 * `batch` is the `POST` it came in; undefined for any other request.
 */
export const batchItemOf = (req) => items.get(req)

// Headers a replayed GET never takes from the item: the connection's own.
const HOP = new Set([
  'host', 'content-length', 'content-type', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade',
  'expect', 'te', 'trailer', 'proxy-connection', 'http2-settings',
])

/** Headers of the outer request that every replayed GET gets (and items cannot set). */
export const FORWARD = [
  'authorization', 'cookie', 'proxy-authorization', 'accept-language', 'user-agent', 'forwarded',
  'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-real-ip',
]

/** Response headers an answer keeps, with their usual spelling. */
export const KEEP = ['ETag', 'Cache-Control', 'Content-Type', 'Retry-After', 'Last-Modified', 'Expires', 'Vary', 'Allow', 'Location']

/** `Retry-After`, `ETag`, `WWW-Authenticate`: a lower-case header name spelled as usual. */
export function spell(name) {
  const known = KEEP.find((k) => k.toLowerCase() === name)
  if (known !== undefined) return known
  if (name === 'www-authenticate') return 'WWW-Authenticate'
  return name.replace(/(^|-)([a-z])/g, (_, d, c) => d + c.toUpperCase())
}

/** The lower-case names of `list` (an option of header names), checked. */
export function names(list, what, fail) {
  if (list === undefined) return []
  if (!Array.isArray(list) || list.some((n) => typeof n !== 'string' || !TOKEN.test(n))) {
    throw fail(`option \`${what}\` must be an array of header names`)
  }
  return list.map((n) => n.toLowerCase())
}

export const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

// Express sets its own prototypes on the request and response it handles;
// light-my-request then copies its methods onto Express's shared prototypes,
// which breaks the app's real requests afterwards. Instead, the injected
// objects get light-my-request's methods as their own properties, which
// survive any prototype Express (or a mounted sub-app) gives them, and the
// listener is wrapped so light-my-request never sees an Express app.
const RES = ['setTimeout', 'writeHead', 'write', 'end', 'destroy', 'addTrailers']
function own(req, res) {
  req.destroy = Object.getPrototypeOf(req).destroy
  const proto = Object.getPrototypeOf(res)
  for (const m of RES) if (typeof proto[m] === 'function') res[m] = proto[m]
}

/**
 * GET `url` through `listener` with `headers` (lower-case names, a fresh
 * object), on behalf of `outer` (the request whose credentials and address
 * it carries). `answer` resolves with light-my-request's response, or rejects
 * when the listener throws or the response is destroyed; `abort()` destroys
 * the request and its response (the handler sees both close).
 */
export function replay(listener, outer, url, headers, item) {
  let pair = null
  const dispatch = (req, res) => {
    own(req, res)
    pair = [req, res]
    if (item !== undefined) items.set(req, item)
    listener(req, res)
  }
  const answer = inject(dispatch, {
    method: 'GET',
    url,
    headers,
    remoteAddress: outer.socket?.remoteAddress ?? '127.0.0.1',
    validate: false, // built here, always valid: skip light-my-request's schema check
  })
  const abort = () => {
    pair?.[0].destroy()
    pair?.[1].destroy()
  }
  return { answer, abort }
}

/** The headers of a replayed GET: the item's own, minus hop and forwarded ones, plus the outer request's. */
export function itemHeaders(own, outer, forward) {
  const out = {}
  for (const n in own) if (!HOP.has(n) && !forward.includes(n)) out[n] = own[n]
  for (const n of forward) if (outer.headers[n] !== undefined) out[n] = outer.headers[n]
  if (outer.headers.host !== undefined) out.host = outer.headers.host
  return out
}

/** `{ status, headers, body }` of a replayed GET's response (body left out when there is none). */
export function answerOf(r, keep) {
  const status = r.statusCode
  const headers = {}
  for (const n of keep) {
    const v = r.headers[n]
    if (v !== undefined) headers[spell(n)] = Array.isArray(v) ? v.join(', ') : String(v)
  }
  const out = { status, headers }
  if (status === 304 || status === 204 || r.payload === '') return out
  if (/[/+]json\b/i.test(headers['Content-Type'] ?? '')) {
    try {
      out.body = JSON.parse(r.payload)
      return out
    } catch {}
  }
  out.body = r.payload
  return out
}

/** Whether `url` is a path on this origin (`/x?y`, not `//host/x` nor `http://…`). */
export const isPath = (url) => typeof url === 'string' && url.startsWith('/') && !url.startsWith('//') && !url.includes('\\') && url.length <= 8192
