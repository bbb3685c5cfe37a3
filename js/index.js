// calmfetch: the JS face of the wasm client.
//
// The wasm module is inlined (LZMA-compressed, in base64) and instantiated
// synchronously the first time a client is made, so `createClient` is
// synchronous, there is no `init()` to call, and nothing runs at import time
// (safe for SSR).
import { initSync, WasmClient, __setErrorClass, __setPanicHandler } from './calmfetch_wasm.js'
import wasmBase64, { size as wasmSize } from './calmfetch_wasm_bytes.js'
import { unlzma } from './unlzma.js'

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

let loaded = false
function loadWasm() {
  if (loaded) return
  const text = atob(wasmBase64)
  const bytes = new Uint8Array(text.length)
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i)
  initSync({ module: unlzma(bytes, wasmSize) })
  __setErrorClass(CalmfetchError)
  __setPanicHandler(stopEverything)
  loaded = true
}

// --- a wasm panic stops every client cleanly --------------------------------
// A panic aborts the wasm instance (wasm32 has no unwinding), so nothing in
// it can be trusted afterwards. Its panic hook calls `stopEverything` first:
// every promise still pending rejects, and every later call fails fast, with
// a CalmfetchError of kind 'internal' that says what happened, instead of
// hanging or throwing `RuntimeError: unreachable` from deep inside.
let stopped = null
const unsettled = new Set() // reject functions of the promises handed out
function stopEverything(message) {
  if (stopped !== null) return
  stopped = new CalmfetchError(
    `calmfetch: internal error (a panic in the wasm module): ${message}. Every calmfetch client on this page ` +
      'has stopped; reload the page. Please report this.',
    { kind: 'internal' },
  )
  for (const reject of unsettled) reject(stopped)
  unsettled.clear()
}
// Runs `call` unless the module stopped; a panic during it throws the clear error.
function guard(call) {
  if (stopped !== null) throw stopped
  try {
    return call()
  } catch (e) {
    if (stopped !== null) throw stopped
    throw e
  }
}
// The same for calls that hand out a promise: it is tracked until it settles.
function guardPromise(call) {
  if (stopped !== null) return Promise.reject(stopped)
  return new Promise((resolve, reject) => {
    let inner
    try {
      inner = call()
    } catch (e) {
      return reject(stopped ?? e)
    }
    unsettled.add(reject)
    inner.then(
      (value) => {
        unsettled.delete(reject)
        resolve(value)
      },
      (error) => {
        unsettled.delete(reject)
        reject(error)
      },
    )
  })
}


// --- persist: true — last-known data kept in IndexedDB ----------------------
// Each entry is stored as `{ body, at, size }` under a salted SHA-256 of its
// cache key (URL + credentials), so no token is written to disk and the key
// cannot be recovered or forged from the stored name. The salt is random,
// made once per origin and kept in the same database. A client must have an
// identity (`partition` or a credential header) to persist: kept data is the
// data of one user, and the next user of the browser never gets it. Entries
// the core did not keep (errors, `no-store`, over the size limits) are never
// written, and `clear()` ends every read and write begun before it.
const STORE = 'entries'
const META = 'meta'
const DB_VERSION = 2

function idbRequest(request) {
  return new Promise((resolve) => {
    request.onsuccess = () => resolve(request.result)
    request.onerror = () => resolve(undefined)
  })
}

function hex(buffer) {
  let out = ''
  for (const b of new Uint8Array(buffer)) out += b.toString(16).padStart(2, '0')
  return out
}

class Persisted {
  #db
  #salt
  #max
  #writes = 0
  #generation = 0 // bumped by wipe(): reads and writes begun before it are dropped
  #written = new Map() // hash -> `at` last written, to skip rewriting cache hits
  constructor(name, maxEntries) {
    this.#max = maxEntries
    this.#db = new Promise((resolve) => {
      let open
      try {
        open = indexedDB.open(name, DB_VERSION)
      } catch {
        return resolve(null) // storage disabled (private mode, sandboxed frame)
      }
      open.onupgradeneeded = (e) => {
        const db = open.result
        // Version 1 named entries with an unsalted 64-bit hash and kept
        // them for no user in particular: they are dropped.
        if (e.oldVersion >= 1 && db.objectStoreNames.contains(STORE)) db.deleteObjectStore(STORE)
        db.createObjectStore(STORE).createIndex('at', 'at')
        if (!db.objectStoreNames.contains(META)) db.createObjectStore(META)
      }
      open.onsuccess = () => resolve(open.result)
      open.onerror = () => resolve(null)
      open.onblocked = () => resolve(null)
    })
    this.#salt = this.#db.then((db) => (db === null || !globalThis.crypto?.subtle ? null : this.#loadSalt(db)))
  }
  // The origin's salt: read, or made and stored by the first tab to ask.
  async #loadSalt(db) {
    try {
      const meta = db.transaction(META, 'readwrite').objectStore(META)
      const kept = await idbRequest(meta.get('salt'))
      if (typeof kept === 'string') return kept
      const fresh = hex(crypto.getRandomValues(new Uint8Array(32)))
      // `add` fails if another tab stored one meanwhile: then read that one.
      const added = await idbRequest(db.transaction(META, 'readwrite').objectStore(META).add(fresh, 'salt'))
      if (added !== undefined) return fresh
      const theirs = await idbRequest(db.transaction(META, 'readonly').objectStore(META).get('salt'))
      return typeof theirs === 'string' ? theirs : null
    } catch {
      return null
    }
  }
  /** The stored name of a cache key; `null` where it cannot be made safely. */
  async name(keyText) {
    const salt = await this.#salt
    if (salt === null) return null
    const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(`${salt}\u0000${keyText}`))
    return hex(digest)
  }
  get generation() {
    return this.#generation
  }
  async #store(mode) {
    const db = await this.#db
    if (db === null) return null
    try {
      return db.transaction(STORE, mode).objectStore(STORE)
    } catch {
      return null
    }
  }
  /** What was kept under `keyText`, or undefined; also after a wipe began. */
  async read(keyText) {
    const generation = this.#generation
    const hash = await this.name(keyText)
    if (hash === null || generation !== this.#generation) return undefined
    const store = await this.#store('readonly')
    if (store === null || generation !== this.#generation) return undefined
    const kept = await idbRequest(store.get(hash))
    return generation === this.#generation ? kept : undefined
  }
  async write(keyText, body, at, size) {
    const generation = this.#generation
    const hash = await this.name(keyText)
    if (hash === null || this.#written.get(hash) === at) return
    if (this.#written.size >= 4 * this.#max) this.#written.clear()
    const store = await this.#store('readwrite')
    if (store === null || generation !== this.#generation) return
    this.#written.set(hash, at)
    try {
      store.put({ body, at, size }, hash)
    } catch {
      return // not cloneable: keep it in memory only
    }
    if (++this.#writes % 64 === 0) await this.#trim()
  }
  // Keep at most `maxEntries`: the oldest go first.
  async #trim() {
    const store = await this.#store('readwrite')
    if (store === null) return
    let extra = (await idbRequest(store.count())) - this.#max
    if (!(extra > 0)) return
    const cursor = store.index('at').openCursor()
    cursor.onsuccess = () => {
      const c = cursor.result
      if (c === null || extra-- <= 0) return
      c.delete()
      c.continue()
    }
  }
  async wipe() {
    this.#generation++
    this.#written.clear()
    const store = await this.#store('readwrite')
    if (store !== null) await idbRequest(store.clear())
  }
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

function persistOptions(persist, options) {
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

// --- clear() reaches every client in every tab of the origin (logout) -------
const clients = new Set() // WeakRef<Client>
let clearChannel
function announceClear() {
  openClearChannel()?.postMessage({ t: 'clear' })
}
function openClearChannel() {
  if (clearChannel === undefined) {
    clearChannel = null
    if (typeof BroadcastChannel === 'function' && typeof WeakRef === 'function') {
      try {
        clearChannel = new BroadcastChannel('calmfetch-clear')
        clearChannel.unref?.() // Node (server rendering): do not keep the process alive
        clearChannel.onmessage = (e) => {
          if (e.data?.t !== 'clear') return
          for (const ref of clients) {
            const client = ref.deref()
            if (client === undefined) clients.delete(ref)
            else client._clearHere()
          }
        }
      } catch {
        clearChannel = null
      }
    }
  }
  return clearChannel
}

const noop = () => {}
const keyOptionsOf = (o) => (o === undefined || o === null ? o : { headers: o.headers, partition: o.partition })

class Client {
  #wasm
  #persisted
  constructor(wasm, persist) {
    this.#wasm = wasm
    this.#persisted = persist === null || typeof indexedDB === 'undefined' ? null : new Persisted(persist.name, persist.maxEntries)
    if (openClearChannel() !== null) {
      // Forget clients that were garbage-collected, so the set stays small.
      if (clients.size >= 64 && (clients.size & (clients.size - 1)) === 0) {
        for (const ref of clients) if (ref.deref() === undefined) clients.delete(ref)
      }
      clients.add(new WeakRef(this))
    }
  }
  get(url, options) {
    const pending = guardPromise(() => this.#wasm.get(url, options))
    if (this.#persisted !== null) {
      pending.then((body) => this.#keep(url, options, body), noop)
    }
    return pending
  }
  subscribe(url, listener, options) {
    let deliver = listener
    if (this.#persisted !== null && typeof listener === 'function') {
      deliver = (snapshot) => {
        if (snapshot.data !== undefined && !snapshot.stale) this.#keep(url, options, snapshot.data)
        listener(snapshot)
      }
    }
    const id = guard(() => this.#wasm.subscribe(url, deliver, options))
    let active = true
    if (this.#persisted !== null) this.#restore(url, options, () => active)
    return () => {
      if (active) {
        active = false
        if (stopped === null) this.#wasm.unsubscribe(id)
      }
    }
  }
  // Write `body` to IndexedDB if it is what the cache keeps for the key
  // (data only shown to listeners has no `updatedAt` and is never written).
  #keep(url, options, body) {
    if (stopped !== null) return
    const keyOptions = keyOptionsOf(options)
    const snapshot = this.#wasm.peek(url, keyOptions)
    if (snapshot.data !== body || snapshot.updatedAt === undefined) return
    const size = this.#wasm.keptBytes(url, keyOptions)
    if (size === 0) return
    this.#persisted.write(this.#wasm.keyText(url, keyOptions), body, snapshot.updatedAt, size).catch(noop)
  }
  // An entry with no data takes what an earlier visit kept (stale once older
  // than its TTL); not if `clear()` ran meanwhile (the read then gives nothing).
  #restore(url, options, wanted) {
    const keyOptions = keyOptionsOf(options)
    if (this.#wasm.peek(url, keyOptions).data !== undefined) return
    this.#persisted.read(this.#wasm.keyText(url, keyOptions)).then((kept) => {
      if (kept === undefined || kept === null || !wanted() || stopped !== null) return
      const size = Number.isFinite(kept.size) ? kept.size : JSON.stringify(kept.body)?.length ?? 0
      this.#wasm.seed(url, keyOptions, kept.body, kept.at, size)
    }, noop)
  }
  peek(url, options) {
    return guard(() => this.#wasm.peek(url, options))
  }
  isLive(url, options) {
    return guard(() => this.#wasm.isLive(url, options))
  }
  poll(url, options) {
    const { onData, onError, ...rest } = options ?? {}
    for (const [name, fn] of [['onData', onData], ['onError', onError]]) {
      if (fn !== undefined && typeof fn !== 'function') {
        throw new CalmfetchError(`calmfetch: poll: option \`poll.${name}\` must be a function`, { kind: 'invalid' })
      }
    }
    const keyOptions = keyOptionsOf(rest)
    const id = guard(() => this.#wasm.poll(url, rest))
    let lastData = undefined
    let errorSeen = false
    let wasFetching = false
    // Each new body once; each failed attempt once: an error is new when a
    // request ended with it (the snapshot is rebuilt on every change, so
    // its error object alone does not tell).
    const deliver = (snapshot) => {
      if (snapshot.data !== undefined && snapshot.data !== lastData && snapshot.error === undefined) {
        lastData = snapshot.data
        errorSeen = false
        onData?.(snapshot.data)
      } else if (snapshot.error !== undefined && !snapshot.isFetching && (wasFetching || !errorSeen)) {
        errorSeen = true
        onError?.(snapshot.error)
      }
      wasFetching = snapshot.isFetching
    }
    const unsubscribe = this.subscribe(url, deliver, keyOptions)
    let active = true
    // Data already cached is delivered at once (after this call returns).
    queueMicrotask(() => active && deliver(this.#wasm.peek(url, keyOptions)))
    return {
      stop: () => {
        if (active) {
          active = false
          unsubscribe()
          if (stopped === null) this.#wasm.pollStop(id)
        }
      },
    }
  }
  refresh(url, options) {
    return guardPromise(() => this.#wasm.refresh(url, options))
  }
  prefetch(url, options) {
    // Prefetch never throws: after a stop it is skipped.
    return stopped === null && guard(() => this.#wasm.prefetch(url, options))
  }
  prefetchOnHover(element, url, options) {
    const h = this.prefetchHandlers(url, options)
    const events = [
      ['mouseenter', h.onMouseEnter], ['focus', h.onFocus], ['mouseleave', h.onMouseLeave],
      ['blur', h.onBlur], ['touchstart', h.onTouchStart], ['mousedown', h.onMouseDown],
    ]
    for (const [type, fn] of events) element.addEventListener(type, fn, { passive: true })
    return () => {
      h.onMouseLeave()
      for (const [type, fn] of events) element.removeEventListener(type, fn)
    }
  }
  /** Hover handlers for a link (used by \`usePrefetch\`). */
  prefetchHandlers(url, options) {
    let intent = 0
    // Event handlers: never throw, do nothing once the module stopped.
    const start = () => {
      if (stopped !== null) return
      this.#wasm.hoverEnd(intent)
      intent = this.#wasm.hoverStart(url, options)
    }
    const end = () => {
      if (stopped !== null) return
      this.#wasm.hoverEnd(intent)
      intent = 0
    }
    const now = () => {
      if (stopped !== null) return
      this.#wasm.prefetch(url, options)
    }
    return { onMouseEnter: start, onMouseLeave: end, onFocus: start, onBlur: end, onTouchStart: now, onMouseDown: now }
  }
  invalidate(urlOrPrefix) {
    return guard(() => this.#wasm.invalidate(urlOrPrefix))
  }
  /** Forget every cached entry, here, in IndexedDB and in the other tabs. */
  clear() {
    this._clearHere()
    announceClear()
  }
  /** @internal: another tab cleared. */
  _clearHere() {
    if (stopped === null) this.#wasm.clear()
    this.#persisted?.wipe()
  }
  stats() {
    return guard(() => this.#wasm.stats())
  }
}

/** Make a client. Throws a `CalmfetchError` (kind `invalid`) on bad options. */
export function createClient(options) {
  loadWasm()
  if (stopped !== null) throw stopped
  if (options !== undefined && options !== null && typeof options === 'object' && 'persist' in options) {
    const { persist: p, ...rest } = options
    const persist = persistOptions(p, rest)
    return new Client(new WasmClient(rest), persist)
  }
  return new Client(new WasmClient(options), null)
}
