// persist: true — last-known data kept in IndexedDB. Its own module, loaded
// only by a client with `persist` (the option is checked in options.js).

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

export class Persisted {
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
