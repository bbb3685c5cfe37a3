// Option validation and defaults. Every option is checked: unknown names,
// wrong types and out-of-range numbers are refused with a message that names
// the option and the value. Problems are thrown as message strings; the
// caller wraps them in an `invalid` CalmfetchError with its own prefix.
import { CalmfetchError, describe, isObject } from './errors.js'
import { origin, pageUrl, redact, Refused, resolve } from './url.js'

// Each group's options, in the order messages list them, with how each is
// checked (see `value`) and its default.
const CLIENT = {
  baseUrl: 'string', credentialHeaders: null, batch: null, circuit: null, cache: null, timeoutMs: [0, 30000],
  headers: null, credentials: null, partition: 'string', poll: null, prefetch: null, socket: null,
  fetch: 'function', retry: [0, 2], retryDelayMs: [0, 1000],
}
const CACHE = { ttlMs: [0, 2000], maxEntries: [1, 500], maxBodyBytes: [0, 1048576], maxBytes: [0, 16777216] }
const BATCH = { endpoint: 'string', windowMs: [0, 10], maxSize: [1, 50], maxBytes: [1, 32768], stream: false, crossOrigin: false }
const CIRCUIT = { failures: [1, 5], coolDownMs: [1, 10000] }
const PREFETCH = { intentMs: [0, 65], concurrency: [1, 4], respectSaveData: true }
const POLL = { jitter: null, maxBackoffMs: [1, 60000] }
const SOCKET = { url: null, adapter: null, connectTimeoutMs: [0, 5000], reconnect: null, lingerMs: [0, 1000], resyncMs: [0, 1500], onError: 'function' }
const RECONNECT = { minMs: [1, 1000], maxMs: [1, 30000] }
/** An entry of a `dehydrate()` output. */
const ENTRY = { url: 'string', data: null, updatedAt: [0], ttlMs: [0], etag: 'string' }
/** What each call takes, and the name its messages use. */
export const GET = ['signal', 'ttlMs', 'headers', 'fresh', 'partition', 'retry', 'responseType']
export const KEY = ['headers', 'partition', 'responseType']
export const REFRESH = [...KEY, 'signal']
export const PREFETCH_CALL = [...KEY, 'ttlMs']
export const POLL_CALL = ['intervalMs', 'inBackground', ...KEY]

/** The key's separator between the URL and the identity's parts. */
export const SEP = '\u001f'

/**
 * Refuse option names outside `allowed`, and an `o` that is not an object,
 * null or undefined (after this check, options are read as `o?.[name]`).
 */
export function known(o, allowed, what) {
  if (o === undefined || o === null) return
  if (!isObject(o)) throw `${what} must be an object, got ${describe(o)}`
  for (const name in o) {
    if (!allowed.includes(name)) throw `unknown option \`${name}\` in ${what} (known: ${allowed.join(', ')})`
  }
}

/** The message for option `what.name`, which is not `need` but `v`. */
const bad = (what, name, need, v) => `option \`${what}.${name}\` must be ${need}, got ${describe(v)}`

const NEEDS = { boolean: 'true or false', string: 'a string', function: 'a function' }

/**
 * Option `name` of `o`, checked against `spec`: `[min, default]`, a whole
 * number within `min..=9e15`; `true` or `false`, a flag and its default;
 * 'boolean', 'string' or 'function', a value of that type; null, any value
 * (its own code checks it). Undefined when absent without a default.
 */
function value(o, name, what, spec) {
  const v = o?.[name]
  const range = Array.isArray(spec)
  if (v === undefined) return range ? spec[1] : typeof spec === 'boolean' ? spec : undefined
  if (spec === null) return v
  const type = range ? 'number' : typeof spec === 'boolean' ? 'boolean' : spec
  if (typeof v === type && (!range || (Number.isInteger(v) && v >= spec[0] && v <= 9e15))) return v
  throw bad(what, name, range ? `a whole number >= ${spec[0]}` : NEEDS[type], v)
}

/**
 * The options `o` of a group (`schema`: name -> spec, see `value`), checked:
 * their values in the schema's order, defaults filled in. `label` names the
 * group in the message about an unknown option.
 */
function group(o, schema, what, label = `\`${what}\``) {
  const names = Object.keys(schema)
  known(o, names, label)
  return names.map((name) => value(o, name, what, schema[name]))
}

/** Option `name`: one of the strings in `list` (the first when absent). */
function oneOf(o, name, what, list) {
  const v = o?.[name]
  if (v === undefined || list.includes(v)) return v ?? list[0]
  const quoted = list.map((s) => `"${s}"`)
  throw bad(what, name, `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`, v)
}

/** A whole number within `min..=9e15`, or undefined. */
export const whole = (o, name, what, min) => value(o, name, what, [min])
export const flag = (o, name, what) => value(o, name, what, 'boolean')
export const string = (o, name, what) => value(o, name, what, 'string')

const check = (r, prefix) => {
  if (r instanceof Refused) throw prefix + r.why
  return r
}

/** `headers`: an object of strings or a `Headers`; names compare case-insensitively, later ones win. */
export function headers(o, what, into = []) {
  const v = o?.headers
  if (v === undefined) return into
  let pairs
  if (typeof Headers === 'function' && v instanceof Headers) pairs = [...v]
  else if (isObject(v)) pairs = Object.entries(v)
  // (A string is not shown: it may well be a token.)
  else throw `option \`${what}.headers\` must be an object of strings, got ${typeof v === 'string' ? 'a string' : describe(v)}`
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
export function settings(list, id, ttl, fresh, text) {
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
  const [list, id] = takeCredentials(headers(o, what, d.headers.slice()), d.names, d.id)
  const partition = string(o, 'partition', what)
  if (partition !== undefined) id.partition = partition
  // (An option the call does not take is refused above: it reads undefined.)
  const R = settings(list, id, whole(o, 'ttlMs', what, 0), flag(o, 'fresh', what), oneOf(o, 'responseType', what, ['json', 'text']) === 'text')
  const retry = whole(o, 'retry', what, 0)
  // cf_get's flags: bit 0 fresh, then the call's retries + 1 (0: the client's).
  if (retry !== undefined) R.fresh |= (Math.min(retry, 100) + 1) << 1
  return R
}

/** `batch` (given: not undefined or false): its settings and its part of `cf_new`'s numbers. */
function batchConfig(v, base) {
  const [path = '/batch', windowMs, maxSize, maxBytes, stream, cross] = group(v === true ? undefined : v, BATCH, 'batch')
  const endpoint = check(resolve(path, base), 'option `batch.endpoint`: ')
  const page = pageUrl()
  if (page !== undefined && !cross && origin(endpoint) !== origin(page)) {
    throw `option \`batch.endpoint\` (${endpoint}) is on another origin than the page; set \`batch.crossOrigin: true\` to allow it`
  }
  return [{ endpoint, stream }, [1, -1, windowMs, maxSize, maxBytes]]
}

/** `circuit`'s part of `cf_new`'s numbers. */
function circuitNums(v) {
  if (v === false) return [0, 0, 0]
  const [failures, coolDownMs] = group(v === true ? undefined : v, CIRCUIT, 'circuit')
  return [1, Math.min(failures, 2 ** 32 - 1), coolDownMs]
}

/** `ws:`/`wss:` from a `ws:`, `http:` or relative URL (messages leave out a user name and password). */
function wsUrl(url, base) {
  let u
  try {
    u = new URL(url, base) // (an undefined base is no base)
  } catch {
    throw `option \`socket.url\`: \`${redact(url)}\` is not a valid URL`
  }
  const p = u.protocol
  if (p === 'http:' || p === 'https:') u.protocol = p === 'http:' ? 'ws:' : 'wss:'
  else if (p !== 'ws:' && p !== 'wss:') throw `option \`socket.url\`: \`${redact(url)}\` has the scheme \`${p}\``
  return u.href
}

/** `socket` (given): its settings and its part of `cf_new`'s numbers. */
function socketConfig(v, base) {
  const [, adapter, connectTimeoutMs, reconnect, lingerMs, resyncMs, onError] = group(v, SOCKET, 'socket')
  let url
  if (adapter !== undefined) {
    for (const m of ['connect', 'send']) {
      if (typeof adapter?.[m] !== 'function') throw `option \`socket.adapter\` needs a \`${m}\` method`
    }
  } else {
    url = string(v, 'url', 'socket')
    if (url === undefined) throw 'option `socket` needs a `url` or an `adapter`'
    url = wsUrl(url, base)
  }
  const [minMs, maxMs] = group(reconnect, RECONNECT, 'socket.reconnect')
  if (maxMs < minMs) throw 'option `socket.reconnect.maxMs` must not be below `minMs`'
  return [{ url, adapter, onError }, [1, connectTimeoutMs, minMs, maxMs, lingerMs, resyncMs, -1, -1]]
}

/** `credentialHeaders`, checked, added to `names` in lower case. */
function credentialNames(ch, names) {
  if (!Array.isArray(ch) || ch.some((n) => typeof n !== 'string' || n === '')) {
    throw bad('createClient', 'credentialHeaders', 'an array of header names', ch)
  }
  for (const n of ch) names.push(n.toLowerCase())
}

/**
 * Validate `createClient`'s options (without `persist`) and fill in the
 * defaults. `nums` is the core's configuration in `cf_new`'s order; the
 * batch endpoint's origin, the socket's identity and origin are strings in
 * `batchOrigin`, `socketWho` and `socketOrigin`, for the client to intern
 * into `nums[6]`, `nums[18]` and `nums[19]`.
 */
export function clientOptions(options) {
  const [b, ch, batchO, circuitO, cacheO, timeout, hv, , partition, pollO, prefetchO, socketO, fetch, retry, retryDelayMs] =
    group(options, CLIENT, 'createClient', 'createClient options')
  const cache = group(cacheO, CACHE, 'cache') // ttlMs, maxEntries, maxBodyBytes, maxBytes
  const page = pageUrl()
  const base = b === undefined ? page : check(resolve(b, page), 'option `createClient.baseUrl`: ')
  // (Checked here, not in the functions: a client without them compiles neither.)
  const [batch, batchNums] = batchO === undefined || batchO === false ? [null, [0, -1, 0, 0, 0]] : batchConfig(batchO, base)
  const [socket, socketNums] = socketO === undefined ? [null, [0, 0, 0, 0, 0, 0, -1, -1]] : socketConfig(socketO, base)
  const [intentMs, concurrency, respectSaveData] = group(prefetchO, PREFETCH, 'prefetch')
  const circuitN = circuitNums(circuitO)
  const [jitter = 0.1, maxBackoff] = group(pollO, POLL, 'poll')
  if (!(typeof jitter === 'number' && jitter >= 0 && jitter <= 0.5)) throw bad('poll', 'jitter', 'a number from 0 to 0.5', jitter)
  const names = ['cookie', 'proxy-authorization']
  if (ch !== undefined) credentialNames(ch, names)
  const dynamic = typeof hv === 'function'
  const list = dynamic || hv === undefined ? [] : headers(options, 'createClient')
  const mode = oneOf(options, 'credentials', 'createClient', ['same-origin', 'include', 'omit'])
  // A function's headers (a token that changes) cannot be part of the key: the partition says whose data it is.
  if (dynamic && partition === undefined) {
    throw 'option `createClient.headers` is a function: set `partition` too (the user the headers authenticate), which keys the cache instead of the credentials'
  }
  const [rest, id] = takeCredentials(list, names, { auth: undefined, mode, partition, secrets: [] })
  return {
    base,
    batch,
    socket,
    defaults: { headers: rest, id, names },
    respectSaveData,
    maxBody: cache[2],
    fetch,
    headersFn: dynamic ? hv : undefined,
    batchOrigin: batch && origin(batch.endpoint),
    socketWho: socket && whoText(id),
    socketOrigin: socket && base !== undefined ? origin(base) : undefined,
    nums: [
      ...cache, timeout, ...batchNums, jitter, maxBackoff, ...socketNums, intentMs, concurrency, ...circuitN,
      Math.floor(Math.random() * 9e15), Math.min(retry, 100), retryDelayMs, 30000,
    ],
  }
}

/**
 * The entries of a `dehydrate()` output, checked: each `{ url, data, at,
 * ttl, etag, size }`. Throws the first problem.
 */
export function hydration(state) {
  if (state == null) return []
  const entries = state.entries
  if (!Array.isArray(entries)) throw `the state must be what \`dehydrate()\` returns, got ${describe(state)}`
  return entries.map((e, i) => {
    const what = `entries[${i}]`
    if (!isObject(e)) throw `${what} must be an object, got ${describe(e)}`
    const [url, data, at, ttl, etag] = group(e, ENTRY, what, what)
    const size = JSON.stringify(data)?.length
    if (url === undefined || at === undefined || ttl === undefined || size === undefined) {
      throw `${what} needs a \`url\`, JSON \`data\`, \`updatedAt\` and \`ttlMs\``
    }
    return { url, data, at, ttl, etag, size }
  })
}

// Does the client say whose data it fetches? (A partition, or a header that
// carries credentials.)
function hasIdentity(options) {
  let id
  try {
    id = clientOptions(options).defaults.id
  } catch {
    return true // createClient refuses these options: that is the error to show
  }
  return (id.partition ?? '') !== '' || id.auth !== undefined || id.secrets.length > 0
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

