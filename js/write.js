// Writes (`mutate`): the request's body, its answer and its error, and the
// optimistic layers of an entry. The Client drives them with the core, which
// decides the timeout, the circuit and the outcome (docs/boundary.md).
import { ABORT, CIRCUIT, describe, failure, HTTP, NETWORK, TIMEOUT } from './errors.js'
import { answer, NOT_JSON } from './fetch.js'

export const METHODS = ['POST', 'PUT', 'PATCH', 'DELETE']
export const MUTATE = ['method', 'body', 'headers', 'partition', 'signal', 'invalidates', 'optimistic']

const is = (v, name) => typeof globalThis[name] === 'function' && v instanceof globalThis[name]

/**
 * `[payload, content type]` of a body: JSON for plain objects, arrays and
 * other JSON values; strings, FormData, Blob, URLSearchParams, ArrayBuffer
 * and typed arrays as they are. Throws the message for anything else.
 */
export function bodyOf(body) {
  if (body === undefined) return []
  if (typeof body === 'string' || body instanceof ArrayBuffer || ArrayBuffer.isView(body) || is(body, 'FormData') || is(body, 'Blob') || is(body, 'URLSearchParams')) return [body]
  const proto = body !== null && typeof body === 'object' && Object.getPrototypeOf(body)
  if (body === null || typeof body === 'number' || typeof body === 'boolean' || Array.isArray(body) || proto === Object.prototype || proto === null) {
    return [JSON.stringify(body), 'application/json']
  }
  throw `option \`mutate.body\` must be a plain object, an array, a string, FormData, a Blob, URLSearchParams or an ArrayBuffer, got ${describe(body)}`
}

/**
 * Send a write with `go(url, init)` (the client's fetch, with its headers
 * function) and read its answer like a get's, except that a 2xx body that
 * is not JSON is its text. Never rejects.
 */
export function send(w, signal, maxBody, go) {
  let text
  let pending
  try {
    pending = go(w.url, { method: w.method, headers: w.headers, body: w.payload, credentials: w.mode, signal })
  } catch (e) {
    pending = Promise.reject(e)
  }
  const read = pending.then((res) => ({ ok: res.ok, status: res.status, headers: res.headers, text: async () => (text = await res.text()) }))
  return answer(read, maxBody).then((r) => {
    if (r.flags & NOT_JSON) {
      r.body = text
      r.flags = 0
    }
    return r
  })
}

/** The error `code` (docs/boundary.md) of write `w`. */
export function writeError(code, a, b, c, w) {
  const r = w.r ?? {}
  const f = (kind, reason, status, body) => failure(w.url, kind, reason, status, body, w.method)
  if (code === 1) return f('http', HTTP(r.status), r.status, r.errorBody)
  if (code === 3) return f('timeout', TIMEOUT(a))
  if (code === 4) return f('abort', ABORT)
  if (code === 9) return f('circuit', CIRCUIT(w.O.text, c, b))
  return f('network', NETWORK(code === 2 ? r.message : `unexpected status ${r.status}`))
}

/** An entry's value: `base` with each pending optimistic update applied in order. */
export function layered(base, list) {
  let v = base
  for (const p of list) {
    try {
      const next = p.update(v, p.body)
      if (next !== undefined) v = next
    } catch {} // an update that cannot apply to this value changes nothing
  }
  return v
}

/** The size the core counts for a value set by hand (a value that is not JSON is only shown). */
export function sizeOf(v) {
  try {
    return JSON.stringify(v)?.length ?? 9e15
  } catch {
    return 9e15
  }
}
