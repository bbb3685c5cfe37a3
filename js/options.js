// Option validation and defaults. Every option is checked: unknown names,
// wrong types and out-of-range numbers are refused with a message that names
// the option and the value. Problems are thrown as message strings; the
// caller wraps them in an `invalid` CalmfetchError with its own prefix.
import { CalmfetchError, describe } from './errors.js'
import { origin, pageUrl, Refused, resolve } from './url.js'

const CLIENT = ['baseUrl', 'credentialHeaders', 'batch', 'circuit', 'cache', 'timeoutMs', 'headers', 'credentials', 'partition', 'poll', 'prefetch', 'socket', 'fetch', 'retry', 'retryDelayMs']
const CACHE = ['ttlMs', 'maxEntries', 'maxBodyBytes', 'maxBytes']
const BATCH = ['endpoint', 'windowMs', 'maxSize', 'maxBytes', 'stream', 'crossOrigin']
const CIRCUIT = ['failures', 'coolDownMs']
const PREFETCH = ['intentMs', 'concurrency', 'respectSaveData']
const POLL = ['jitter', 'maxBackoffMs']
const SOCKET = ['url', 'adapter', 'connectTimeoutMs', 'reconnect', 'lingerMs', 'resyncMs', 'onError']
const RECONNECT = ['minMs', 'maxMs']
/** What each call takes, and the name its messages use. */
export const GET = ['signal', 'ttlMs', 'headers', 'fresh', 'partition', 'retry', 'responseType']
export const KEY = ['headers', 'partition', 'responseType']
export const REFRESH = ['headers', 'partition', 'signal', 'responseType']
export const PREFETCH_CALL = ['headers', 'partition', 'ttlMs', 'responseType']
export const POLL_CALL = ['intervalMs', 'inBackground', 'headers', 'partition', 'responseType']

/** The key's separator between the URL and the identity's parts. */
export const SEP = '\u001f'

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v)
const get = (o, name) => (o !== null && (typeof o === 'object' || typeof o === 'function') ? o[name] : undefined)

/** Refuse option names outside `allowed`. */
export function known(o, allowed, what) {
  if (o === undefined || o === null) return
  if (!isObject(o)) throw `${what} must be an object, got ${describe(o)}`
  for (const name in o) {
    if (!allowed.includes(name)) throw `unknown option \`${name}\` in ${what} (known: ${allowed.join(', ')})`
  }
}

/** A whole number within `min..=9e15`, or undefined. */
export function whole(o, name, what, min) {
  const v = get(o, name)
  if (v === undefined) return v
  if (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= 9e15) return v
  throw `option \`${what}.${name}\` must be a whole number >= ${min}, got ${describe(v)}`
}

export function flag(o, name, what) {
  const v = get(o, name)
  if (v === undefined || typeof v === 'boolean') return v
  throw `option \`${what}.${name}\` must be true or false, got ${describe(v)}`
}

export function string(o, name, what) {
  const v = get(o, name)
  if (v === undefined || typeof v === 'string') return v
  throw `option \`${what}.${name}\` must be a string, got ${describe(v)}`
}

const check = (r, prefix) => {
  if (r instanceof Refused) throw prefix + r.why
  return r
}

/** `headers`: an object of strings or a `Headers`; names compare case-insensitively, later ones win. */
export function headers(o, what, into = []) {
  const v = get(o, 'headers')
  if (v === undefined) return into
  let pairs
  if (typeof Headers === 'function' && v instanceof Headers) pairs = [...v]
  else if (isObject(v)) pairs = Object.entries(v)
  else throw `option \`${what}.headers\` must be an object of strings, got ${describe(v)}`
  for (const [name, value] of pairs) {
    if (typeof value !== 'string') throw `header \`${name}\` in \`${what}.headers\` must be a string, got ${describe(value)}`
    merge(into, name, value)
  }
  return into
}

function merge(list, name, value) {
  const lower = name.toLowerCase()
  const i = list.findIndex((h) => h[0].toLowerCase() === lower)
  if (i >= 0) list.splice(i, 1)
  list.push([name, value])
}

/** UTF-8 length of a string (the key spells lengths in bytes). */
function utf8(s) {
  let n = s.length
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0x80) n += c < 0x800 || (c >= 0xd800 && c <= 0xdfff) ? 1 : 2
  }
  return n
}

/**
 * Split `list` into the headers sent as they are and the identity: the
 * `Authorization` header and the credential headers (`names`, lower case)
 * move into `id` (a copy is returned), replacing what it had.
 */
function takeCredentials(list, names, id) {
  const out = { ...id, secrets: id.secrets.slice() }
  const rest = []
  for (const h of list) {
    const lower = h[0].toLowerCase()
    if (lower === 'authorization') out.auth = h[1]
    else if (names.includes(lower)) {
      const s = out.secrets.filter((x) => x[0] !== lower)
      s.push([lower, h[1]])
      out.secrets = s.sort((a, b) => (a[0] < b[0] ? -1 : 1))
    } else rest.push(h)
  }
  return [rest, out]
}

/**
 * The identity's part of a key, as today's keys spell it (persisted names
 * depend on it). A `partition` is the identity: the credentials are then
 * left out, so that a new token keeps the cache.
 */
function whoText(id) {
  let k = id.mode
  const p = id.partition !== undefined
  for (const f of [p ? undefined : id.auth, id.partition, ...(p ? [] : id.secrets.flat())]) k += SEP + (f === undefined ? '-' : `${utf8(f)}:${f}`)
  return k
}

/**
 * A request's settings, ready for the hot path: `send` (every header for
 * `fetch`), `plain` (the headers a batch item carries), `cred` (those its
 * POST carries), `mode`, `who` (the identity's text), `ttl` (-1: the
 * client's), `fresh`, and `extra` (the item's header bytes in a batch).
 */
function settings(list, id, ttl, fresh, text) {
  const send = {}
  const plain = {}
  let extra = 0
  for (const [n, v] of list) {
    send[n] = plain[n] = v
    extra += n.length + v.length + 6
  }
  const cred = id.auth === undefined ? [] : [['Authorization', id.auth]]
  cred.push(...id.secrets)
  for (const [n, v] of cred) send[n] = v
  return { send, plain, cred, mode: id.mode, who: whoText(id), ttl: ttl ?? -1, fresh: fresh ? 1 : 0, extra, text: text ? ' text' : '' }
}

/**
 * A call's options merged with the client's defaults `d`. `allowed` is the
 * list the call takes, `what` names it in messages.
 */
export function callOptions(o, allowed, what, d) {
  known(o, allowed, `${what} options`)
  if (o === undefined || o === null) return settings(d.headers, d.id)
  const merged = headers(o, what, d.headers.slice())
  const [list, id] = takeCredentials(merged, d.names, d.id)
  const partition = string(o, 'partition', what)
  if (partition !== undefined) id.partition = partition
  const ttl = allowed.includes('ttlMs') ? whole(o, 'ttlMs', what, 0) : undefined
  const fresh = allowed.includes('fresh') && flag(o, 'fresh', what)
  const type = string(o, 'responseType', what)
  if (type !== undefined && type !== 'json' && type !== 'text') throw `option \`${what}.responseType\` must be "json" or "text", got ${describe(type)}`
  const R = settings(list, id, ttl, fresh, type === 'text')
  const retry = allowed.includes('retry') ? whole(o, 'retry', what, 0) : undefined
  // cf_get's flags: bit 0 fresh, then the call's retries + 1 (0: the client's).
  if (retry !== undefined) R.fresh |= (Math.min(retry, 100) + 1) << 1
  return R
}

const CREDENTIALS = ['same-origin', 'include', 'omit']

function batchConfig(v, base) {
  if (v === undefined || v === false) return null
  const o = v === true ? undefined : v
  if (v !== true) known(v, BATCH, '`batch`')
  const endpoint = check(resolve(string(o, 'endpoint', 'batch') ?? '/batch', base), 'option `batch.endpoint`: ')
  const cfg = {
    endpoint,
    windowMs: whole(o, 'windowMs', 'batch', 0) ?? 10,
    maxSize: whole(o, 'maxSize', 'batch', 1) ?? 50,
    maxBytes: whole(o, 'maxBytes', 'batch', 1) ?? 32768,
    stream: flag(o, 'stream', 'batch') ?? false,
  }
  const cross = flag(o, 'crossOrigin', 'batch') ?? false
  const page = pageUrl()
  if (page !== undefined && !cross && origin(endpoint) !== origin(page)) {
    throw `option \`batch.endpoint\` (${endpoint}) is on another origin than the page; set \`batch.crossOrigin: true\` to allow it`
  }
  return cfg
}

function circuitConfig(v) {
  if (v === undefined || v === true) return { failures: 5, coolDownMs: 10000 }
  if (v === false) return null
  known(v, CIRCUIT, '`circuit`')
  return { failures: Math.min(whole(v, 'failures', 'circuit', 1) ?? 5, 2 ** 32 - 1), coolDownMs: whole(v, 'coolDownMs', 'circuit', 1) ?? 10000 }
}

/** `ws:`/`wss:` from a `ws:`, `http:` or relative URL. */
function wsUrl(url, base) {
  let u
  try {
    u = base === undefined ? new URL(url) : new URL(url, base)
  } catch {
    throw `option \`socket.url\`: \`${url}\` is not a valid URL`
  }
  const p = u.protocol
  if (p === 'http:' || p === 'https:') u.protocol = p === 'http:' ? 'ws:' : 'wss:'
  else if (p !== 'ws:' && p !== 'wss:') throw `option \`socket.url\`: \`${url}\` has the scheme \`${p}\``
  return u.href
}

function socketConfig(v, base) {
  if (v === undefined) return null
  known(v, SOCKET, '`socket`')
  const adapter = get(v, 'adapter')
  let url
  if (adapter !== undefined) {
    for (const m of ['connect', 'send']) {
      if (typeof get(adapter, m) !== 'function') throw `option \`socket.adapter\` needs a \`${m}\` method`
    }
  } else {
    url = string(v, 'url', 'socket')
    if (url === undefined) throw 'option `socket` needs a `url` or an `adapter`'
    url = wsUrl(url, base)
  }
  const cfg = {
    url,
    adapter,
    connectTimeoutMs: whole(v, 'connectTimeoutMs', 'socket', 0) ?? 5000,
    lingerMs: whole(v, 'lingerMs', 'socket', 0) ?? 1000,
    resyncMs: whole(v, 'resyncMs', 'socket', 0) ?? 1500,
  }
  const r = get(v, 'reconnect')
  known(r, RECONNECT, '`socket.reconnect`')
  cfg.minMs = whole(r, 'minMs', 'socket.reconnect', 1) ?? 1000
  cfg.maxMs = whole(r, 'maxMs', 'socket.reconnect', 1) ?? 30000
  if (cfg.maxMs < cfg.minMs) throw 'option `socket.reconnect.maxMs` must not be below `minMs`'
  const onError = get(v, 'onError')
  if (onError !== undefined && typeof onError !== 'function') {
    throw `option \`socket.onError\` must be a function, got ${describe(onError)}`
  }
  cfg.onError = onError
  return cfg
}

/**
 * Validate `createClient`'s options (without `persist`) and fill in the
 * defaults. `nums` is the core's configuration in `cf_new`'s order; the
 * batch endpoint's origin, the socket's identity and origin are strings in
 * `batchOrigin`, `socketWho` and `socketOrigin`, for the client to intern
 * into `nums[6]`, `nums[18]` and `nums[19]`.
 */
export function clientOptions(options) {
  known(options, CLIENT, 'createClient options')
  const cache = get(options, 'cache')
  known(cache, CACHE, '`cache`')
  const ttl = whole(cache, 'ttlMs', 'cache', 0) ?? 2000
  const maxEntries = whole(cache, 'maxEntries', 'cache', 1) ?? 500
  const maxBody = whole(cache, 'maxBodyBytes', 'cache', 0) ?? 1048576
  const maxBytes = whole(cache, 'maxBytes', 'cache', 0) ?? 16777216
  const timeout = whole(options, 'timeoutMs', 'createClient', 0) ?? 30000
  const b = string(options, 'baseUrl', 'createClient')
  const page = pageUrl()
  const base = b === undefined ? page : check(resolve(b, page), 'option `createClient.baseUrl`: ')
  const batch = batchConfig(get(options, 'batch'), base)
  const socket = socketConfig(get(options, 'socket'), base)
  const prefetch = get(options, 'prefetch')
  known(prefetch, PREFETCH, '`prefetch`')
  const intentMs = whole(prefetch, 'intentMs', 'prefetch', 0) ?? 65
  const concurrency = whole(prefetch, 'concurrency', 'prefetch', 1) ?? 4
  const respectSaveData = flag(prefetch, 'respectSaveData', 'prefetch') ?? true
  const circuit = circuitConfig(get(options, 'circuit'))
  const poll = get(options, 'poll')
  known(poll, POLL, '`poll`')
  let jitter = get(poll, 'jitter')
  if (jitter === undefined) jitter = 0.1
  else if (!(typeof jitter === 'number' && jitter >= 0 && jitter <= 0.5)) {
    throw `option \`poll.jitter\` must be a number from 0 to 0.5, got ${describe(jitter)}`
  }
  const maxBackoff = whole(poll, 'maxBackoffMs', 'poll', 1) ?? 60000
  const names = ['cookie', 'proxy-authorization']
  const ch = get(options, 'credentialHeaders')
  if (ch !== undefined) {
    const bad = `option \`createClient.credentialHeaders\` must be an array of header names, got ${describe(ch)}`
    if (!Array.isArray(ch)) throw bad
    for (const n of ch) {
      if (typeof n !== 'string' || n === '') throw bad
      names.push(n.toLowerCase())
    }
  }
  const hv = get(options, 'headers')
  const dynamic = typeof hv === 'function'
  const list = dynamic ? [] : headers(options, 'createClient')
  const fetch = get(options, 'fetch')
  if (fetch !== undefined && typeof fetch !== 'function') throw `option \`createClient.fetch\` must be a function, got ${describe(fetch)}`
  const mode = string(options, 'credentials', 'createClient') ?? 'same-origin'
  if (!CREDENTIALS.includes(mode)) {
    throw `option \`createClient.credentials\` must be "same-origin", "include" or "omit", got "${mode}"`
  }
  const partition = string(options, 'partition', 'createClient')
  // A function's headers (a token that changes) cannot be part of the key: the partition says whose data it is.
  if (dynamic && partition === undefined) {
    throw 'option `createClient.headers` is a function: set `partition` too (the user the headers authenticate), which keys the cache instead of the credentials'
  }
  const [rest, id] = takeCredentials(list, names, { auth: undefined, mode, partition, secrets: [] })
  const defaults = { headers: rest, id, names }
  const s = socket ?? {}
  const c = circuit ?? {}
  const bt = batch ?? {}
  return {
    base,
    batch,
    socket,
    defaults,
    respectSaveData,
    maxBody,
    fetch,
    headersFn: dynamic ? hv : undefined,
    batchOrigin: batch && origin(batch.endpoint),
    socketWho: socket && whoText(id),
    socketOrigin: socket && base !== undefined ? origin(base) : undefined,
    nums: [
      ttl, maxEntries, maxBody, maxBytes, timeout,
      batch ? 1 : 0, -1, bt.windowMs ?? 0, bt.maxSize ?? 0, bt.maxBytes ?? 0,
      jitter, maxBackoff,
      socket ? 1 : 0, s.connectTimeoutMs ?? 0, s.minMs ?? 0, s.maxMs ?? 0, s.lingerMs ?? 0, s.resyncMs ?? 0, -1, -1,
      intentMs, concurrency,
      circuit ? 1 : 0, c.failures ?? 0, c.coolDownMs ?? 0,
      Math.floor(Math.random() * 9e15),
      Math.min(whole(options, 'retry', 'createClient', 0) ?? 2, 100), whole(options, 'retryDelayMs', 'createClient', 0) ?? 1000, 30000,
    ],
  }
}

/**
 * The entries of a `dehydrate()` output, checked: each `{ url, data, at,
 * ttl, etag, size }`. Throws the first problem.
 */
export function hydration(state) {
  if (state == null) return []
  const entries = get(state, 'entries')
  if (!Array.isArray(entries)) throw `the state must be what \`dehydrate()\` returns, got ${describe(state)}`
  return entries.map((e, i) => {
    const what = `entries[${i}]`
    if (!isObject(e)) throw `${what} must be an object, got ${describe(e)}`
    known(e, ['url', 'data', 'updatedAt', 'ttlMs', 'etag'], what)
    const url = string(e, 'url', what)
    const at = whole(e, 'updatedAt', what, 0)
    const ttl = whole(e, 'ttlMs', what, 0)
    const size = JSON.stringify(e.data)?.length
    if (url === undefined || at === undefined || ttl === undefined || size === undefined) {
      throw `${what} needs a \`url\`, JSON \`data\`, \`updatedAt\` and \`ttlMs\``
    }
    return { url, data: e.data, at, ttl, etag: string(e, 'etag', what), size }
  })
}

// Does the client say whose data it fetches? (A partition, or a header that
// carries credentials.)
function hasIdentity(options) {
  if (typeof options.partition === 'string' && options.partition !== '') return true
  const headers = options.headers
  if (headers === null || typeof headers !== 'object') return false
  const names = ['authorization', 'cookie', 'proxy-authorization']
  if (Array.isArray(options.credentialHeaders)) {
    for (const n of options.credentialHeaders) if (typeof n === 'string') names.push(n.toLowerCase())
  }
  const present = typeof headers.keys === 'function' && !Array.isArray(headers) ? [...headers.keys()] : Object.keys(headers)
  return present.some((n) => names.includes(n.toLowerCase()))
}

/** `persist`'s options, checked when the client is made (persist.js loads later). */
export function persistOptions(persist, options) {
  if (persist === undefined || persist === false) return null
  const cache = options.cache
  const fail = (what) => {
    throw new CalmfetchError(`calmfetch: createClient: option \`persist\` ${what}`, { kind: 'invalid' })
  }
  if (persist !== true && (persist === null || typeof persist !== 'object')) fail('must be true, false or { name, maxEntries }')

  const { name = 'calmfetch', maxEntries = cache?.maxEntries ?? 500, ...unknown } = persist === true ? {} : persist
  const extra = Object.keys(unknown)
  if (extra.length > 0) fail(`has unknown option \`${extra[0]}\` (known: name, maxEntries)`)
  if (typeof name !== 'string' || name === '') fail('`name` must be a non-empty string')
  if (!Number.isInteger(maxEntries) || maxEntries < 1) fail('`maxEntries` must be a positive integer')
  if (!hasIdentity(options)) {
    fail(
      'needs to know whose data it keeps: set `partition` (the user id, for cookie sessions) or an ' +
        '`Authorization` header; otherwise the next user of this browser would be shown the last one\'s data',
    )
  }
  return { name, maxEntries }
}

