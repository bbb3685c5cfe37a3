// The Client: the public API over the numbers-only core (docs/boundary.md).
// It interns URLs and options to key ids, keeps every body, ETag and error
// by id, builds snapshots, stats and errors, and carries out the core's
// action words with the drivers (fetch.js; and, loaded when first used,
// socket.js, stream.js, polling.js with tabs.js and page.js, persist.js).
// The core decides everything else.
import { abortError, BATCH, CIRCUIT, describe, failure, HTTP, internal, invalid, messageOf, NETWORK, PARSE, TIMEOUT } from './errors.js'
import { origin, pathOf, Refused, resolve, under } from './url.js'
import { callOptions, clientOptions, flag, GET, headers, hydration, KEY, known, persistOptions, POLL_CALL, PREFETCH_CALL, REFRESH, SEP, settings, whole } from './options.js'
import { answer, batchBody, envelope, fetcher, item, itemResult, NETWORK as NET, result } from './fetch.js'
import { announceClear, joinClear, keepWeak } from './tabs.js'
import { slowConnection } from './page.js'
import { instantiate } from './load.js'
import { bodyOf, layered, METHODS, MUTATE, send, sizeOf, writeError } from './write.js'
import { share, SHARE_MAX } from './share.js'

const NONE = 0xffffffff
/** cf_get's flag: the call has no signal, so it may share the promise of another such call. */
const SHARE = 0x80000000
const MAX_DELAY = 2 ** 31 - 1
const MEMO = 1024
const EMPTY = Object.freeze({ data: undefined, error: undefined, updatedAt: undefined, stale: true, isFetching: false })
const STATS = ('requested networkRequests dedupHits cacheHits errors timeouts abortedCalls cancelledRequests evictions ' +
  'batchesSent batchedItems batchFallbacks batchIgnoredAnswers batchProtocolErrors revalidated pollTicks socketMessages ' +
  'socketMalformed socketSubscribes socketDrops socketReconnects socketTimeouts prefetched prefetchFailures prefetchSkipped ' +
  'socketRiders circuitOpens circuitStale circuitRefused retries').split(' ')
const SOCKET_STATES = ['none', 'idle', 'connecting', 'connecting-fallback', 'open', 'reconnecting']
const noop = () => {}
/** Words of each action (BATCH: 3 + 3n). */
const LENGTHS = [, 3, 2, 3, 2, 3, 3, 6, 3, 3, 6, 2, 2, 2, 3, 1, 1, 2, 2, 2, 2, 6, 2]

let t0 = -1
/** The core's clock: monotonic ms that read like ms since the epoch. */
const now = () => Math.floor((t0 < 0 ? (t0 = performance.timeOrigin) : t0) + performance.now())

// --- the module, shared by every client -------------------------------------
let core = null // the exports, once instantiated
let loading = null
let stopped = null // the error every call fails with after a panic
const clients = new Set() // WeakRef<Client>

function stop(error) {
  if (stopped !== null) return
  stopped = error
  for (const ref of clients) ref.deref()?._stop(error)
  clients.clear()
}

function onPanic(ptr, len, line) {
  let file = 'an unknown file'
  try {
    file = new TextDecoder().decode(new Uint8Array(core.memory.buffer, ptr, len))
  } catch {}
  stop(internal('a panic in the wasm module', `panicked at ${file}:${line}`))
}

function load(wasm) {
  // (A function instead of the module's text makes the exports itself: the shell's tests use a fake core.)
  loading ??= (typeof wasm === 'function' ? Promise.resolve(wasm({ cf_panic: onPanic })) : instantiate(wasm, { cf_panic: onPanic })).then(
    (x) => {
      core = x
    },
    (e) => stop(internal('the wasm module could not be loaded', messageOf(e))),
  )
  return loading
}

/** Panics inside the core on purpose (tests/faults): not public API. */
export function panicForTests() {
  core?.cf_test_panic()
}

/**
 * IndexedDB persistence (persist.js), a module of its own that only a client
 * with `persist` loads. Calls made before it is loaded run in order once it
 * is (so a `wipe` still ends the reads and writes begun before it); if it
 * cannot load, nothing is kept or restored.
 */
function lazyPersisted(name, maxEntries) {
  const p = import('./persist.js').then((m) => new m.Persisted(name, maxEntries), () => null)
  const call = (f) => p.then((x) => (x === null ? undefined : f(x)))
  return {
    read: (key) => call((x) => x.read(key)),
    write: (key, body, at, size) => call((x) => x.write(key, body, at, size)),
    wipe: () => call((x) => x.wipe()).catch(noop),
  }
}

/**
 * The realtime socket driver (socket.js), a module of its own that only a
 * client with `socket` loads: `Socket` once loaded, null if it could not be
 * (then the core's opens fail, and it stays on HTTP).
 */
let Socket
let socketLoad = null
const loadSocket = () =>
  (socketLoad ??= import('./socket.js').then(
    (m) => (Socket = m.Socket),
    () => (Socket = null),
  ))

/**
 * Polling (polling.js: pollers across tabs, leadership, the page's
 * visibility and online state), a module of its own that a client loads
 * with its first poll: `Polling` once loaded.
 */
let Polling
let pollingLoad = null
const loadPolling = () => (pollingLoad ??= import('./polling.js').then((m) => (Polling = m.Polling)))

let freed // FinalizationRegistry: cf_free when a client is garbage-collected

/** Interned strings (origins, identities) with small ids and use counts. */
class Names {
  #by = new Map()
  #free = []
  #next = 0
  list = []
  /** The record of `text`: `{ id, text, n, dead, map }`. */
  get(text) {
    let r = this.#by.get(text)
    if (r === undefined) {
      r = { id: this.#free.pop() ?? this.#next++, text, n: 0, dead: false, map: new Map(), tm: new Map() }
      this.#by.set(text, r)
      this.list[r.id] = r
    }
    return r
  }
  /** Forget `r` when nothing uses it. */
  release(r) {
    if (r.n > 0 || r.dead) return
    r.dead = true
    this.#by.delete(r.text)
    this.list[r.id] = undefined
    this.#free.push(r.id)
  }
}

/** The raw urls of a settings' kind of read (JSON or text) to their key records, in identity `W`. */
const urls = (R, W) => (R.text === '' ? W.map : W.tm)

/**
 * `baseUrl`-resolved, normalised URL of a raw argument; throws the message.
 * @returns {string}
 */
function absolute(url, base, memo) {
  if (typeof url !== 'string') throw `the URL must be a string, got ${describe(url)}`
  let abs = memo.get(url)
  if (abs === undefined) {
    abs = resolve(url, base)
    if (abs instanceof Refused) throw abs.why
    if (memo.size >= MEMO) memo.clear()
    memo.set(url, abs)
  }
  return abs
}

/**
 * An options object's content as an unambiguous string (every part
 * length-prefixed), or undefined when it holds anything but strings,
 * numbers, booleans and a plain `headers` object of strings (a `signal` is
 * left out: it is read on every call).
 */
function signature(o, what) {
  if (typeof o !== 'object') return
  let s = what
  for (const k in o) {
    const v = o[k]
    s += `|${k.length}:${k}`
    if (typeof v === 'string') s += `s${v.length}:${v}`
    else if (typeof v === 'number' || typeof v === 'boolean' || v === undefined) s += `v${v};`
    else if (k === 'signal') continue
    else if (k === 'headers' && v !== null && typeof v === 'object' && !Array.isArray(v) && !(typeof Headers === 'function' && v instanceof Headers)) {
      s += 'h'
      for (const n in v) {
        const x = v[n]
        if (typeof x !== 'string') return
        s += `${n.length}:${n}${x.length}:${x}`
      }
      s += ';'
    } else return
  }
  return s
}

class Client {
  #h = -1 // -1 loading, -2 stopped
  #cfg
  #persisted
  #queue = []
  #running = false
  #timer
  #due = -1
  #origins = new Names()
  #whos = new Names()
  #R0
  #options = new WeakMap() // options object -> { [what]: settings }
  #sigs = new Map() // signature of an options object's content -> settings
  #resolved = new Map()
  #keys = [] // key id -> record
  #byText = new Map()
  #bodies = []
  #etags = []
  #errors = []
  #waiters = []
  #flights = new Map() // flight id -> { ctrl, body, etag, status, errorBody, message }
  #batches = new Map() // batch id -> { ctrl, reason, status, body, message }
  #done = [] // [map, id, record] to forget when the drain ends
  #incoming = new Map() // key id -> { body, etag, restored } of a cf_sock_data, cf_tab_data or cf_restore
  #memo = new Map() // the error objects made in this drain
  #socket = null
  #topics = new Map() // socket topic -> key record
  #sockErrors = new Map() // key id -> message
  #polling = null // polling.js's Polling, from the first poll
  #writes = new Map() // write id -> record (see #mutate)
  #pre = new Map() // key id -> resolvers of prefetch promises, settled by PREFETCHED
  #seeds = null // key text -> snapshot of hydrated data the core does not hold yet

  constructor(cfg, persist) {
    this.#cfg = cfg
    this.#persisted = persist === null || typeof indexedDB === 'undefined' ? null : lazyPersisted(persist.name, persist.maxEntries)
    this.#R0 = this.#prep(settings(cfg.defaults.headers, cfg.defaults.id))
    this.#R0.W.n++ // the client's own identity stays interned
    joinClear(this)
    keepWeak(clients, this) // every client, to stop them all on a panic
    // The client is ready once the core is, and its socket driver if it has one.
    const sock = cfg.socket !== null && Socket === undefined
    if (core !== null && !sock) this.#init()
    else Promise.all([loading, sock && loadSocket()]).then(() => core !== null && this.#init())
  }

  #init() {
    if (stopped !== null) return
    const c = this.#cfg
    const x = core
    const nums = c.nums.slice()
    if (c.batch !== null) nums[6] = this.#pin(this.#origins, c.batchOrigin)
    if (c.socket !== null) this.#withSocket(c, nums)
    new Float64Array(x.memory.buffer, x.cf_config_ptr(), nums.length).set(nums)
    this.#h = x.cf_new()
    freed ??= typeof FinalizationRegistry === 'function' ? new FinalizationRegistry((h) => stopped === null && core.cf_free(h)) : null
    freed?.register(this, this.#h)
    this.#flush()
  }

  /** The id of `text` in `names`, kept interned for the client's life. */
  #pin(names, text) {
    const r = names.get(text)
    r.n++
    return r.id
  }

  /** A client with a socket: its driver, and the socket's part of `cf_new`'s numbers. */
  #withSocket(c, nums) {
    if (Socket !== null) {
      this.#socket = new Socket(c.socket, {
        open: () => this.#call((x, h) => x.cf_sock_open(h, now())),
        close: () => this.#call((x, h) => x.cf_sock_close(h, now())),
        message: (m, text) => this.#call(() => this.#message(m, text)),
      })
    }
    nums[18] = this.#pin(this.#whos, c.socketWho)
    if (c.socketOrigin !== undefined) nums[19] = this.#pin(this.#origins, c.socketOrigin)
  }

  /**
   * Run the calls queued before the module was ready (or failed to load):
   * each on its own, so that one that throws does not strand the others.
   */
  #flush() {
    const queue = this.#queue
    this.#queue = null
    if (queue === null) return
    for (const f of queue) {
      try {
        f()
      } catch {}
    }
  }

  /** Every client stops (a panic): pending promises reject, later calls throw. */
  _stop(error) {
    this.#h = -2
    globalThis.clearTimeout(this.#timer)
    this.#socket?.close()
    this.#polling?.close()
    for (const w of this.#waiters) w?.rej(error)
    for (const w of this.#writes.values()) w.rej(error)
    this.#waiters = []
    this.#writes.clear()
    for (const list of this.#pre.values()) for (const res of list) res(false)
    this.#pre.clear()
    this.#flush()
  }

  /** Run `f(exports, h)` from an event, then carry out what it asked for. */
  #call(f) {
    if (this.#h < 0) return
    try {
      f(core, this.#h)
      this.#run()
    } catch (e) {
      if (stopped === null) throw e
    }
  }

  /** The error to hand out for `e`, thrown by a call named `what`. */
  #fault(e, what) {
    if (stopped !== null) return stopped
    return typeof e === 'string' ? invalid(what + e) : e
  }

  /**
   * Settings of a call's options: validated once per options object, and
   * once per distinct content for literals written inline (a new object on
   * every call), found by their signature.
   */
  #opts(o, allowed, what) {
    return o === undefined || o === null ? this.#R0 : this.#given(o, allowed, what)
  }

  /** `#opts` for options that were given (apart, so that a first call without options compiles less). */
  #given(o, allowed, what) {
    let byWhat = this.#options.get(o)
    let R = byWhat?.[what]
    if (R === undefined) {
      const sig = signature(o, what)
      R = sig === undefined ? undefined : this.#sigs.get(sig)
      if (R === undefined) {
        R = this.#prep(callOptions(o, allowed, what, this.#cfg.defaults))
        if (sig !== undefined) {
          if (this.#sigs.size >= MEMO) this.#sigs.clear()
          this.#sigs.set(sig, R)
        }
        if (typeof o === 'object') {
          if (byWhat === undefined) this.#options.set(o, (byWhat = {}))
          byWhat[what] = R
        }
      }
    }
    if (R.W.dead) R.W = this.#whos.get(R.who)
    return R
  }

  #prep(R) {
    R.W = this.#whos.get(R.who)
    return R
  }

  /** The key record of `url` (raw) for the settings `R`, interned on first use. */
  #key(url, abs, R) {
    const W = R.W.dead ? (R.W = this.#whos.get(R.who)) : R.W
    const text = `${abs}${SEP}GET${R.text}${SEP}${R.who}`
    let rec = this.#byText.get(text)
    if (rec === undefined) {
      const o = this.#origins.get(origin(abs))
      const id = core.cf_key(this.#h, o.id, W.id, 48 + pathOf(abs).length + R.extra)
      rec = { id, url: abs, text, o, W, m: urls(R, W), req: R, aliases: [], listeners: [], snap: null, stamp: -1, topic: undefined, hash: undefined, polls: 0, lead: undefined, unlock: undefined, held: false }
      o.n++
      W.n++
      this.#keys[id] = rec
      this.#byText.set(text, rec)
    }
    if (rec.m.get(url) !== rec) {
      rec.m.set(url, rec)
      rec.aliases.push(url)
    }
    rec.req = R
    return rec
  }

  /** Resolve and intern: the key record of a call, or throws the message. */
  #lookup(url, R) {
    return urls(R, R.W).get(url) ?? this.#key(url, absolute(url, this.#cfg.base, this.#resolved), R)
  }

  /** Queue a call made before the module is ready. */
  #later(f) {
    if (this.#queue === null) return f()
    this.#queue.push(f)
  }

  // --- the public API --------------------------------------------------------

  /** A promise of the parsed JSON body of `url`. */
  get(url, o) {
    const h = this.#h
    try {
      if (h >= 0) {
        const R = o === undefined ? this.#R0 : this.#opts(o, GET, 'get')
        const rec = urls(R, R.W).get(url)
        if (rec !== undefined && (o == null || o.signal === undefined)) {
          rec.req = R
          const w = core.cf_get(h, now(), rec.id, R.ttl, R.fresh | SHARE)
          return w === 0 ? Promise.resolve(this.#bodies[rec.id]) : this.#wait(w, rec.url)
        }
      }
      return this.#start(url, o, GET, 'get')
    } catch (e) {
      return Promise.reject(this.#fault(e, 'get: '))
    }
  }

  /** Fetch `url` again now; calls within 250 ms of each other share one request. */
  refresh(url, o) {
    try {
      return this.#start(url, o, REFRESH, 'refresh')
    } catch (e) {
      return Promise.reject(this.#fault(e, 'refresh: '))
    }
  }

  #start(url, o, allowed, what) {
    if (this.#h === -2) throw stopped
    const R = this.#opts(o, allowed, what)
    const abs = absolute(url, this.#cfg.base, this.#resolved)
    if (this.#h < 0) {
      // Queued until the module is ready; settles whatever then happens.
      return new Promise((res, rej) =>
        this.#later(() => {
          try {
            this.#start(url, o, allowed, what).then(res, rej)
          } catch (e) {
            rej(this.#fault(e, `${what}: `))
          }
        }),
      )
    }
    const signal = o?.signal
    if (signal !== undefined) {
      if (typeof AbortSignal === 'function' && !(signal instanceof AbortSignal)) {
        return Promise.reject(invalid(`option \`signal\` must be an AbortSignal, got ${describe(signal)}`))
      }
      if (signal.aborted) return Promise.reject(abortError(abs))
    }
    const rec = this.#key(url, abs, R)
    const h = this.#h
    const w = what === 'get' ? core.cf_get(h, now(), rec.id, R.ttl, signal === undefined ? R.fresh | SHARE : R.fresh) : core.cf_refresh(h, now(), rec.id)
    if (w === 0) {
      this.#run()
      return Promise.resolve(this.#bodies[rec.id])
    }
    return this.#wait(w, rec.url, signal)
  }

  /** A promise for `waiter`, settled by the core's actions. */
  #wait(waiter, url, signal) {
    // A call that cannot abort joined one that cannot either: one promise.
    const joined = this.#waiters[waiter]
    if (joined !== undefined) return joined.p
    let res, rej
    const p = new Promise((a, b) => {
      res = a
      rej = b
    })
    const w = { res, rej, signal, off: undefined, p }
    this.#waiters[waiter] = w
    w.url = url
    if (signal !== undefined) {
      w.off = () => this.#call((x, h) => x.cf_abort(h, now(), waiter))
      signal.addEventListener('abort', w.off)
    }
    this.#run()
    return p
  }

  #settle(waiter, ok, value) {
    const w = this.#waiters[waiter]
    if (w === undefined) return
    this.#waiters[waiter] = undefined
    w.signal?.removeEventListener('abort', w.off)
    if (ok) w.res(value)
    else w.rej(value)
  }

  /** Call `listener(snapshot)` on every change of `url`'s entry; returns the function that stops. */
  subscribe(url, listener, o) {
    try {
      if (typeof listener !== 'function') throw `the listener must be a function, got ${describe(listener)}`
      const R = this.#opts(o, KEY, 'subscribe')
      const abs = absolute(url, this.#cfg.base, this.#resolved)
      if (this.#h === -2) throw stopped
      if (this.#h === -1) {
        let stop = null
        this.#later(() => {
          if (stop !== null || this.#h < 0) return
          stop = this.subscribe(url, listener, o)
          const s = this.peek(url, o)
          if (s.data !== undefined || s.error !== undefined || s.isFetching) listener(s)
        })
        return () => {
          stop?.()
          stop = noop
        }
      }
      const rec = this.#key(url, abs, R)
      const x = core
      const h = this.#h
      x.cf_watch(h, rec.id)
      const l = { fn: listener, live: x.cf_live_add(h, now(), rec.id) === 1 }
      rec.listeners.push(l)
      this.#run()
      let active = true
      if (this.#persisted !== null) this.#restore(rec, () => active)
      return () => {
        if (!active) return
        active = false
        rec.listeners.splice(rec.listeners.indexOf(l), 1)
        this.#call((x, h) => {
          x.cf_unwatch(h, rec.id)
          if (l.live) x.cf_live_remove(h, now(), rec.id)
        })
      }
    } catch (e) {
      throw this.#fault(e, 'subscribe: ')
    }
  }

  /** The current snapshot of `url`'s entry; the same frozen object until it changes. */
  peek(url, o) {
    try {
      const R = this.#opts(o, KEY, 'subscribe')
      const rec = urls(R, R.W).get(url)
      if (rec !== undefined && this.#h >= 0) return this.#snapshot(rec)
      let abs
      try {
        abs = absolute(url, this.#cfg.base, this.#resolved)
      } catch (e) {
        // A relative url hydrated into a client with no base (rendering on a server).
        const seed = this.#seeds?.get(`${url}${SEP}GET${R.text}${SEP}${R.who}`)
        if (seed === undefined) throw e
        return seed
      }
      if (this.#h === -2) throw stopped
      // The same request under another spelling of its url has a key; a
      // request with no key has no entry, and a key made only to be read
      // would never be freed.
      const text = `${abs}${SEP}GET${R.text}${SEP}${R.who}`
      const known = this.#h >= 0 && this.#byText.get(text)
      return known ? this.#snapshot(known) : (this.#seeds?.get(text) ?? EMPTY)
    } catch (e) {
      throw this.#fault(e, 'peek: ')
    }
  }

  #snapshot(rec) {
    const x = core
    const id = rec.id
    const state = x.cf_state(this.#h, now(), id)
    const stamp = x.cf_version(this.#h, id) * 32 + state
    if (rec.stamp === stamp) return rec.snap
    const at = x.cf_updated(this.#h, id)
    rec.stamp = stamp
    return (rec.snap = Object.freeze({
      data: state & 1 ? this.#bodies[id] : undefined,
      error: state & 8 ? this.#errors[id] : undefined,
      updatedAt: at < 0 ? undefined : at,
      stale: (state & 2) !== 0,
      isFetching: (state & 4) !== 0,
    }))
  }

  /** Is `url` kept live over the socket when subscribed? */
  isLive(url, o) {
    try {
      const R = this.#opts(o, KEY, 'isLive')
      const abs = absolute(url, this.#cfg.base, this.#resolved)
      if (this.#h === -2) throw stopped
      if (this.#h === -1) return false
      const O = this.#origins.get(origin(abs))
      const W = R.W.dead ? (R.W = this.#whos.get(R.who)) : R.W
      const live = core.cf_can_live(this.#h, O.id, W.id) === 1
      this.#origins.release(O)
      return live
    } catch (e) {
      throw this.#fault(e, 'isLive: ')
    }
  }

  /** Poll `url` every `intervalMs`; returns `{ stop() }`. */
  poll(url, options) {
    try {
      const { onData, onError, ...rest } = options ?? {}
      for (const [name, fn] of [['onData', onData], ['onError', onError]]) {
        if (fn !== undefined && typeof fn !== 'function') throw `option \`poll.${name}\` must be a function`
      }
      const R = this.#prep(callOptions(rest, POLL_CALL, 'poll', this.#cfg.defaults))
      const abs = absolute(url, this.#cfg.base, this.#resolved)
      const interval = whole(rest, 'intervalMs', 'poll', 1)
      if (interval === undefined) throw 'option `poll.intervalMs` is required'
      const background = flag(rest, 'inBackground', 'poll') ?? false
      if (this.#h === -2) throw stopped
      const keyOptions = { headers: rest.headers, partition: rest.partition, responseType: rest.responseType }
      if (this.#h >= 0 && this.#polling === null && Polling) {
        this.#polling = new Polling({ x: core, h: () => this.#h, now, call: (f) => this.#call(f), run: () => this.#run(), incoming: this.#incoming, bodies: this.#bodies, etags: this.#etags, client: this })
      }
      if (this.#polling === null) {
        // Until the core and the polling module are ready.
        let handle = null
        const start = () => {
          if (handle === null && this.#h >= 0) handle = this.poll(url, options)
        }
        loadPolling().then(
          () => this.#later(start),
          (e) => handle === null && onError?.(failure(abs, 'network', NETWORK(`the polling module could not be loaded: ${messageOf(e)}`))),
        )
        return { stop: () => (handle ??= { stop: noop }).stop() }
      }
      return this.#polling.poll(this.#key(url, abs, R), url, keyOptions, interval, background, onData, onError)
    } catch (e) {
      throw this.#fault(e, 'poll: ')
    }
  }

  /**
   * Fetch `url` at low priority for a later `get`. Resolves true once its
   * data is in the cache, fresh (fetched now, or already there), false when
   * skipped or failed; never rejects.
   */
  prefetch(url, o) {
    return new Promise((res) => {
      try {
        this.#prefetch(url, o, (x, h, id, R) => {
          if (x.cf_prefetch(h, now(), id, R.ttl) === 1) {
            const list = this.#pre.get(id)
            if (list === undefined) this.#pre.set(id, [res])
            else list.push(res)
          } else this.#landed(id, R.ttl, res, true)
        }, () => res(false))
      } catch {
        res(false)
      }
    })
  }

  /**
   * `done(true)` when `key` has fresh data; when a request for it is out,
   * once that has landed; else `done(false)`, or with `start`, once a
   * request `get` starts has landed.
   */
  #landed(id, ttl, done, start) {
    const x = core
    const h = this.#h
    const state = x.cf_state(h, now(), id)
    if ((state & 27) === 1) return done(true) // data, not stale, no error, kept
    if (!start && (state & 4) === 0) return done(false)
    const w = x.cf_get(h, now(), id, ttl, 0) // joins a request in flight
    if (w === 0) return done(true)
    this.#waiters[w] = { res: () => done((x.cf_state(this.#h, now(), id) & 25) === 1), rej: () => done(false) }
  }

  /** `start(exports, h, key, settings)` unless the connection or the input says skip (then `skip()`). */
  #prefetch(url, o, start, skip) {
    if (this.#h === -2) return skip()
    if (this.#h === -1) {
      this.#later(() => this.#prefetch(url, o, start, skip))
      return -1
    }
    const x = core
    const h = this.#h
    try {
      if (this.#cfg.respectSaveData && slowConnection()) {
        x.cf_prefetch_skip(h)
        return skip()
      }
      let rec, R
      try {
        R = this.#opts(o, PREFETCH_CALL, 'prefetch')
        rec = this.#lookup(url, R)
      } catch (e) {
        if (typeof e !== 'string') throw e
        x.cf_prefetch_invalid(h)
        return skip()
      }
      const r = start(x, h, rec.id, R)
      this.#run()
      return r
    } catch (e) {
      if (stopped !== null) return skip()
      throw e
    }
  }

  /** Prefetch when the pointer rests on `element` or it gets focus; returns the cleanup. */
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

  /** Hover handlers for a link (used by `usePrefetch`). */
  prefetchHandlers(url, options) {
    let intent = -1
    const end = () => {
      if (intent >= 0) {
        const i = intent
        intent = -1
        this.#call((x, h) => x.cf_hover_end(h, i))
      }
    }
    const start = () => {
      end()
      if (this.#h >= 0) intent = this.#prefetch(url, options, (x, h, id) => x.cf_hover(h, now(), id), () => -1)
    }
    const at = () => {
      this.prefetch(url, options)
    }
    return { onMouseEnter: start, onMouseLeave: end, onFocus: start, onBlur: end, onTouchStart: at, onMouseDown: at }
  }

  /** Mark `urlOrPrefix` and everything under it stale; returns how many entries. */
  invalidate(urlOrPrefix) {
    try {
      const abs = absolute(urlOrPrefix, this.#cfg.base, this.#resolved)
      if (this.#h === -2) throw stopped
      if (this.#h === -1) return this.#later(() => this.invalidate(urlOrPrefix)) ?? 0
      let n = 0
      for (const rec of this.#byText.values()) if (under(rec.url, abs)) n += core.cf_invalidate(this.#h, rec.id)
      this.#run()
      return n
    } catch (e) {
      throw this.#fault(e, 'invalidate: ')
    }
  }

  // --- writes -------------------------------------------------------------------

  /** Send a write (POST by default); resolves with its parsed answer. */
  mutate(url, o) {
    try {
      return this.#mutate(url, o)
    } catch (e) {
      return Promise.reject(this.#fault(e, 'mutate: '))
    }
  }

  #mutate(url, o) {
    if (this.#h === -2) throw stopped
    const R = this.#opts(o, MUTATE, 'mutate') // the names, headers and partition
    const { method = 'POST', body, signal, invalidates, optimistic } = o ?? {}
    if (!METHODS.includes(method)) throw `option \`mutate.method\` must be "POST", "PUT", "PATCH" or "DELETE", got ${describe(method)}`
    const [payload, type] = bodyOf(body)
    const base = this.#cfg.base
    const abs = absolute(url, base, this.#resolved)
    const list = invalidates === undefined ? [] : typeof invalidates === 'string' ? [invalidates] : invalidates
    if (!Array.isArray(list)) throw `option \`mutate.invalidates\` must be a URL or an array of URLs, got ${describe(invalidates)}`
    const targets = [abs]
    for (const u of list) targets.push(absolute(u, base, this.#resolved))
    let ou, oabs
    if (optimistic !== undefined) {
      known(optimistic, ['url', 'update'], '`mutate.optimistic`')
      if (typeof optimistic.update !== 'function') throw 'option `mutate.optimistic.update` must be a function'
      targets.push((oabs = absolute((ou = optimistic.url ?? url), base, this.#resolved)))
    }
    if (signal !== undefined && typeof AbortSignal === 'function' && !(signal instanceof AbortSignal)) {
      throw `option \`signal\` must be an AbortSignal, got ${describe(signal)}`
    }
    if (this.#h === -1) {
      return new Promise((res, rej) =>
        this.#later(() => {
          try {
            this.#mutate(url, o).then(res, rej)
          } catch (e) {
            rej(this.#fault(e, 'mutate: '))
          }
        }),
      )
    }
    const hd = { ...R.send }
    if (type !== undefined && !Object.keys(hd).some((n) => n.toLowerCase() === 'content-type')) hd['Content-Type'] = type
    const w = { url: abs, method, headers: hd, payload, mode: R.mode, targets, signal, rec: undefined, p: undefined }
    if (signal?.aborted) return Promise.reject(writeError(4, 0, 0, 0, w))
    if (optimistic !== undefined) {
      // The entry changes at once (an update that throws rejects the call
      // and changes nothing); it applies again over newer data while the
      // write is out.
      const had = this.#had(ou, oabs, R)
      const opt = had?.opt ?? { base: had && this.#shown(had), list: [] }
      const v = layered(opt.base, opt.list)
      const next = optimistic.update(v, body)
      const rec = (w.rec = this.#key(ou, oabs, R))
      rec.opt = opt
      opt.list.push((w.p = { update: optimistic.update, body }))
      this.#put(rec, next === undefined ? v : next)
    }
    const p = new Promise((res, rej) => {
      w.res = res
      w.rej = rej
    })
    const O = (w.O = this.#origins.get(origin(abs)))
    O.n++
    const id = core.cf_write(this.#h, now(), O.id)
    this.#writes.set(id, w)
    if (signal !== undefined) {
      w.off = () => this.#call((x, h) => x.cf_write_abort(h, now(), id))
      signal.addEventListener('abort', w.off)
    }
    this.#run()
    return p
  }

  /** The data `rec`'s entry shows now. */
  #shown(rec) {
    return core.cf_state(this.#h, now(), rec.id) & 1 ? this.#bodies[rec.id] : undefined
  }

  /** The key record of a url if it has one (none is made). */
  #had(url, abs, R) {
    return urls(R, R.W).get(url) ?? this.#byText.get(`${abs}${SEP}GET${R.text}${SEP}${R.who}`)
  }

  /**
   * Set `rec`'s data to `v`, `size` bytes: an optimistic value (1, as old as
   * the data it stands for) or data set by hand (0, fresh). Not persisted
   * while it holds optimistic updates.
   */
  #put(rec, v, size = v === undefined ? -1 : sizeOf(v), optimistic = 1) {
    this.#incoming.set(rec.id, { body: v, mine: true, restored: rec.opt !== undefined })
    core.cf_set(this.#h, now(), rec.id, size, optimistic)
  }

  #sendWrite(id) {
    const w = this.#writes.get(id)
    if (w === undefined) return
    w.ctrl = new AbortController()
    send(w, w.ctrl.signal, this.#cfg.maxBody, (url, init) => this.#send(url, init)).then((r) => {
      if (this.#writes.get(id) !== w) return // it ended: timed out or aborted
      w.r = r
      this.#call((x, h) => x.cf_write_done(h, now(), id, r.status, r.size, r.flags, r.retryAfter))
    })
  }

  /** The write ended: code 0 it succeeded. */
  #written(id, code, a, b, c) {
    const w = this.#writes.get(id)
    if (w === undefined) return
    this.#writes.delete(id)
    w.signal?.removeEventListener('abort', w.off)
    if (w.r === undefined) w.ctrl?.abort() // (an answer read whole has nothing to abort)
    w.O.n--
    this.#origins.release(w.O)
    const { rec, p } = w
    if (p !== undefined) {
      const list = rec.opt.list
      list.splice(list.indexOf(p), 1)
      // A failed write's update goes; those of later writes stay, over the base.
      if (code !== 0 && this.#keys[rec.id] === rec) this.#put(rec, layered(rec.opt.base, list))
      if (list.length === 0) rec.opt = undefined
    }
    if (code !== 0) return w.rej(writeError(code, a, b, c, w))
    const touched = new Set()
    for (const t of w.targets) for (const r of this.#byText.values()) if (under(r.url, t)) touched.add(r.id)
    for (const k of touched) core.cf_written(this.#h, now(), k)
    w.res(w.r.body)
  }

  /** Set `url`'s data by hand (a value, or a function of the current one); returns it. */
  setData(url, v, o) {
    try {
      const R = this.#opts(o, KEY, 'setData')
      const abs = absolute(url, this.#cfg.base, this.#resolved)
      if (this.#h === -2) throw stopped
      if (this.#h === -1) return void this.#later(() => this.setData(url, v, o))
      const had = this.#had(url, abs, R)
      if (typeof v === 'function') v = v(had === undefined ? undefined : had.opt !== undefined ? had.opt.base : this.#shown(had))
      if (v === undefined) return v
      let text
      try {
        text = JSON.stringify(v)
      } catch {}
      if (typeof text !== 'string') throw `the data must be a JSON value, got ${describe(v)}`
      const rec = this.#key(url, abs, R)
      const opt = rec.opt
      if (opt !== undefined) opt.base = v
      this.#put(rec, opt === undefined ? v : layered(v, opt.list), text.length, 0)
      this.#run()
      return v
    } catch (e) {
      throw this.#fault(e, 'setData: ')
    }
  }

  /** Forget every cached entry, here, in IndexedDB and in the other tabs. */
  clear() {
    this.clearHere()
    announceClear()
  }

  /** @internal: forget every entry here (another tab cleared). */
  clearHere() {
    if (this.#h === -1) this.#later(() => this.#call((x, h) => x.cf_clear(h, now())))
    else this.#call((x, h) => x.cf_clear(h, now()))
    this.#persisted?.wipe()
  }

  /**
   * The fresh entries of the client's own identity as plain JSON, for
   * `hydrate` in another client: urls (relative to `baseUrl`'s origin when
   * on it), data, `updatedAt`, TTL and ETag. Never an identity's values.
   */
  dehydrate() {
    if (this.#h === -2) throw stopped
    const entries = []
    const x = core
    const h = this.#h
    const base = this.#cfg.base === undefined ? undefined : origin(this.#cfg.base)
    const own = this.#R0.who
    if (h >= 0) {
      for (const rec of this.#byText.values()) {
        const id = rec.id
        // JSON data kept, not stale, no error; fetched with the client's own identity.
        if (rec.W.text !== own || rec.req.text !== '' || (x.cf_state(h, now(), id) & 27) !== 1) continue
        const e = { url: origin(rec.url) === base ? pathOf(rec.url) : rec.url, data: this.#bodies[id], updatedAt: x.cf_updated(h, id), ttlMs: x.cf_ttl(h, id) }
        if (this.#etags[id] !== undefined) e.etag = this.#etags[id]
        entries.push(e)
      }
    }
    return { calmfetch: 1, entries }
  }

  /**
   * Take the entries of `dehydrate`'s output under the client's own
   * identity, keeping their age; newer data here stays. Throws a
   * `CalmfetchError` (kind `invalid`) on a bad shape, taking nothing.
   * `quiet` (the provider, while rendering) leaves out keys somebody
   * listens to, so that no listener runs during a render.
   */
  hydrate(state, quiet) {
    try {
      if (this.#h === -2) throw stopped
      const R = this.#R0
      const list = hydration(state).map((e, i) => {
        const abs = resolve(e.url, this.#cfg.base)
        // A relative url in a client with no base (rendering on a server)
        // is only seen by `peek` under the same spelling.
        if (abs instanceof Refused && (this.#cfg.base !== undefined || !e.url.startsWith('/'))) throw `entries[${i}].url: ${abs.why}`
        e.abs = abs instanceof Refused ? undefined : abs
        e.text = `${e.abs ?? e.url}${SEP}GET${R.text}${SEP}${R.who}`
        return e
      })
      for (const e of list) if (!quiet || !this.#byText.get(e.text)?.listeners.length) this.#seed(e, R)
    } catch (e) {
      throw this.#fault(e, 'hydrate: ')
    }
  }

  #seed(e, R) {
    if (this.#h >= 0 && e.abs !== undefined) {
      const rec = this.#key(e.url, e.abs, R)
      return this.#call((x, h) => {
        this.#incoming.set(rec.id, { body: e.data, etag: e.etag })
        x.cf_hydrate(h, now(), rec.id, e.size, e.at, e.ttl, e.etag === undefined ? 0 : 1)
      })
    }
    // Until the core is ready, `peek` shows the data; the newest seed wins.
    const seeds = (this.#seeds ??= new Map())
    if (seeds.get(e.text)?.updatedAt >= e.at) return
    const snap = Object.freeze({ data: e.data, error: undefined, updatedAt: e.at, stale: now() >= e.at + e.ttl, isFetching: false })
    seeds.set(e.text, snap)
    if (e.abs !== undefined) {
      this.#later(() => {
        if (seeds.get(e.text) === snap) seeds.delete(e.text)
        if (this.#h >= 0) this.#seed(e, R)
      })
    }
  }

  /** Counters. */
  stats() {
    if (this.#h === -2) throw stopped
    const out = {}
    const ready = this.#h >= 0
    const f = ready ? new Float64Array(core.memory.buffer, core.cf_stats(this.#h), STATS.length + 4) : []
    STATS.forEach((name, i) => (out[name] = f[i] ?? 0))
    const n = STATS.length
    out.memoryBytes = ready ? core.memory.buffer.byteLength : 0
    out.cacheEntries = f[n] ?? 0
    out.inFlight = f[n + 1] ?? 0
    out.socketState = SOCKET_STATES[ready ? f[n + 2] : this.#cfg.socket === null ? 0 : 1] ?? 'none'
    out.socketSubscriptions = f[n + 3] ?? 0
    return out
  }

  // --- persistence ------------------------------------------------------------

  /** An entry with no data takes what an earlier visit kept (stale); not after clear(). */
  #restore(rec, wanted) {
    if (core.cf_state(this.#h, now(), rec.id) & 1) return
    this.#persisted.read(rec.text).then((kept) => {
      if (kept == null || !wanted()) return
      const size = Number.isFinite(kept.size) ? kept.size : (JSON.stringify(kept.body)?.length ?? 0)
      const at = Number.isFinite(kept.at) && kept.at > 0 ? kept.at : 0
      this.#call((x, h) => {
        this.#incoming.set(rec.id, { body: kept.body, restored: true, size })
        x.cf_restore(h, now(), rec.id, size, at)
      })
    }, noop)
  }

  // --- carrying out the core's actions ----------------------------------------

  /**
   * Carry out every action word, then re-arm the timer. Not re-entrant: a
   * call made meanwhile (a listener calling `get`, an adapter calling back)
   * appends to a fresh buffer, which this loop drains next.
   */
  #run() {
    if (this.#running || this.#h < 0) return
    this.#running = true
    const x = core
    const h = this.#h
    try {
      let n
      while ((n = x.cf_actions_len(h)) !== 0) {
        const words = new Uint32Array(x.memory.buffer, x.cf_actions(h), n).slice()
        x.cf_actions_clear(h)
        this.#carry(words)
      }
      this.#arm()
    } finally {
      this.#running = false
      for (const [map, id, r] of this.#done) if (map.get(id) === r) map.delete(id)
      this.#done.length = 0
      this.#incoming.clear()
      this.#memo.clear()
    }
  }

  #arm() {
    const at = core.cf_next(this.#h)
    if (at === this.#due) return
    globalThis.clearTimeout(this.#timer)
    this.#due = at
    if (at < 0) return
    this.#timer = globalThis.setTimeout(() => {
      this.#due = -1
      this.#call((x, h) => x.cf_timeout(h, now()))
    }, Math.min(Math.max(at - now(), 0), MAX_DELAY))
  }

  #carry(w) {
    for (let i = 0; i < w.length; ) {
      const op = w[i]
      const a = w[i + 1]
      const b = w[i + 2]
      const rec = this.#keys[a]
      i += op === 3 ? 3 + 3 * b : LENGTHS[op]
      if (op === 1) this.#fetch(a, this.#keys[b]) // FETCH flight key
      else if (op === 3) this.#batch(a, w.subarray(i - 3 * b, i)) // BATCH batch n, n x (flight key etag)
      else if (op === 5) this.#settle(a, true, this.#flights.get(b)?.body) // RESOLVE_FLIGHT waiter flight
      else if (op === 6) this.#settle(a, true, this.#bodies[b]) // RESOLVE_KEY waiter key
      else if (op === 8 || op === 9) {
        // KEEP / SHOW key flight (0xFFFFFFFF: the body handed in by the call)
        const r = b === NONE ? this.#incoming.get(a) : this.#flights.get(b)
        const opt = rec?.opt
        const prev = opt === undefined ? this.#bodies[a] : opt.base
        // A body equal to the one kept keeps its identity (and its unchanged parts theirs).
        if (prev !== undefined && r !== undefined && !r.mine && r.size <= SHARE_MAX) r.body = share(prev, r.body)
        // Data from the server becomes the base under the pending optimistic updates.
        this.#bodies[a] = opt === undefined || r?.mine ? r?.body : layered((opt.base = r?.body), opt.list)
        this.#etags[a] = op === 8 ? r?.etag : undefined
        this.#errors[a] = undefined
        if (op === 8 && this.#persisted !== null && rec !== undefined && r !== undefined && !r.restored) this.#persist(rec, r.body)
      } else if (op === 12) rec === undefined || this.#notify(rec) // NOTIFY key
      else this.#rare(op, a, b, w, i, rec)
    }
  }

  /** The actions that are not on the path of every read (kept apart, so that a first read compiles less). */
  #rare(op, a, b, w, i, rec) {
    const x = core
    const h = this.#h
    if (op === 2) {
      // CANCEL_FLIGHT flight
      this.#flights.get(a)?.ctrl?.abort()
      this.#flights.delete(a)
    } else if (op === 4) {
      // CANCEL_BATCH batch
      const bt = this.#batches.get(a)
      if (bt !== undefined) {
        bt.ctrl?.abort()
        bt.ctrl = null
        this.#done.push([this.#batches, a, bt])
      }
    } else if (op === 7) {
      // REJECT waiter code a b c
      const waiter = this.#waiters[a]
      if (waiter !== undefined) this.#settle(a, false, this.#error(b, w[i - 3], w[i - 2], w[i - 1], waiter.url))
    } else if (op === 11) {
      // DROP key
      this.#bodies[a] = this.#etags[a] = this.#errors[a] = undefined
      if (rec?.opt !== undefined) rec.opt.base = undefined
    } else if (op === 22) {
      // PREFETCHED key (its promises settle even if the key was freed before)
      const list = this.#pre.get(a)
      if (list !== undefined) {
        this.#pre.delete(a)
        for (const res of list) this.#landed(a, -1, res, false)
      }
    } else if (op === 20) this.#sendWrite(a) // SEND write
    else if (op === 21) this.#written(a, b, w[i - 3], w[i - 2], w[i - 1]) // WRITTEN write code a b c
    else if (op === 15) {
      // SOCKET_OPEN
      if (this.#socket?.open() !== true) x.cf_sock_close(h, now())
    } else if (op === 16) this.#socket?.close() // SOCKET_CLOSE
    else if (op === undefined || LENGTHS[op] === undefined) throw internal('an unknown action from the wasm module', `opcode ${op}`)
    else if (rec === undefined) return
    else if (op === 10) this.#errors[a] = this.#error(b, w[i - 3], w[i - 2], w[i - 1], rec.url) // ERROR key code a b c
    else if (op === 13) this.#polling?.share(rec) // POLLED key
    else if (op === 14) {
      // LEAD key want (only a polled key, so polling.js is loaded)
      if (this.#polling !== null) this.#polling.lead(rec, b === 1)
      else if (b === 1) x.cf_lead(h, now(), a, 2)
    } else if (op === 19) this.#forget(rec) // KEY_FREE key
    else this.#subscribeTopic(rec, op === 17) // SUB / UNSUB key
  }

  #notify(rec) {
    rec.stamp = -1
    if (rec.listeners.length === 0) return
    const s = this.#snapshot(rec)
    for (const l of rec.listeners.slice()) {
      try {
        l.fn(s)
      } catch (e) {
        console.error('calmfetch: a subscribe listener threw', e)
      }
    }
  }

  #persist(rec, body) {
    const x = core
    const at = x.cf_updated(this.#h, rec.id)
    const size = x.cf_bytes(this.#h, rec.id)
    if (at >= 0 && size > 0) this.#persisted.write(rec.text, body, at, size).catch(noop)
  }

  #forget(rec) {
    const id = rec.id
    this.#keys[id] = this.#bodies[id] = this.#etags[id] = this.#errors[id] = undefined
    this.#byText.delete(rec.text)
    for (const u of rec.aliases) if (rec.m.get(u) === rec) rec.m.delete(u)
    rec.o.n--
    rec.W.n--
    this.#origins.release(rec.o)
    this.#whos.release(rec.W)
    if (rec.topic !== undefined && this.#topics.get(rec.topic) === rec) this.#topics.delete(rec.topic)
    this.#polling?.forget(rec)
    this.#sockErrors.delete(id)
    rec.lead?.()
  }

  /** The error `code` (docs/boundary.md) of a request for `url`; one object per drain. */
  #error(code, a, b, c, url) {
    const memo = `${code} ${a} ${b} ${c} ${url}`
    let e = this.#memo.get(memo)
    if (e !== undefined) return e
    const f = this.#flights.get(a) ?? {}
    const bt = this.#batches.get(a) ?? {}
    switch (code) {
      case 1: e = failure(url, 'http', HTTP(f.status), f.status, f.errorBody); break
      case 2: e = failure(url, 'network', NETWORK(f.message)); break
      case 3: e = failure(url, 'timeout', TIMEOUT(a)); break
      case 4: e = abortError(url); break
      case 5: e = failure(url, 'parse', PARSE(f.message)); break
      case 6: e = failure(url, 'batch', BATCH(`the answer has no item with id "${a}" (${url})`)); break
      case 7: e = failure(url, 'batch', BATCH(bt.reason)); break
      case 8: e = failure(url, 'batch', BATCH(`unexpected status ${f.status} for id ${a}`)); break
      case 9: e = failure(url, 'circuit', CIRCUIT(this.#origins.list[a]?.text, c, b)); break
      case 10: e = failure(url, 'http', HTTP(bt.status), bt.status, bt.body); break
      case 11: e = failure(url, 'network', NETWORK(bt.message)); break
      case 12: e = failure(url, 'network', NETWORK(`socket: ${this.#sockErrors.get(a) ?? 'error'}`)); break
      default: e = failure(url, 'network', NETWORK(`error code ${code}`))
    }
    this.#memo.set(memo, e)
    return e
  }

  // --- fetch and batches --------------------------------------------------------

  /** Record `r` as the outcome of `flight` and tell the core (`cf_done`). */
  #done1(flight, r) {
    this.#flights.set(flight, r)
    this.#done.push([this.#flights, flight, r])
    core.cf_done(this.#h, now(), flight, r.status, r.size, r.flags, r.retryAfter)
  }

  #fetch(flight, rec) {
    const R = rec.req
    const ctrl = new AbortController()
    const f = { ctrl }
    this.#flights.set(flight, f)
    let pending
    try {
      pending = this.#send(rec.url, { method: 'GET', headers: R.send, credentials: R.mode, signal: ctrl.signal })
    } catch (e) {
      // A fetch that throws at once fails its request now: nothing is left behind.
      return this.#done1(flight, result(0, 0, NET, { message: messageOf(e) }))
    }
    answer(pending, this.#cfg.maxBody, R.text !== '').then((r) => {
      if (this.#flights.get(flight) !== f) return // cancelled: the core settled its callers
      this.#call(() => this.#done1(flight, r))
    })
  }

  /**
   * `fetch(url, init)` with the client's fetch; with a `headers` function,
   * its headers (awaited) go on top of `init.headers`.
   */
  #send(url, init) {
    const c = this.#cfg
    if (c.headersFn === undefined) return fetcher(c)(url, init)
    return new Promise((res) => res(c.headersFn())).then(
      (h) => {
        let list
        try {
          list = headers({ headers: h }, 'createClient.headers()')
        } catch (e) {
          throw new TypeError(`the headers function returned a bad value: ${e}`)
        }
        const all = {}
        for (const n in init.headers) all[n.toLowerCase()] = init.headers[n]
        for (const [n, v] of list) all[n.toLowerCase()] = v
        init.headers = all
        return fetcher(c)(url, init)
      },
      (e) => {
        throw new TypeError(`the headers function failed: ${messageOf(e)}`)
      },
    )
  }

  #batch(batch, items) {
    const { endpoint, stream } = this.#cfg.batch
    const base = origin(endpoint).length
    const out = []
    let R, text
    if (items.length === 0) return
    for (let j = 0; j < items.length; j += 3) {
      const key = items[j + 1]
      const rec = this.#keys[key]
      R = rec.req
      let headers = R.plain
      const etag = this.#etags[key]
      if (items[j + 2] === 1 && etag !== undefined) headers = { ...headers, 'If-None-Match': etag }
      out.push([items[j], rec.url.slice(base) || '/', headers])
      if (R.text !== '') (text ??= new Set()).add(items[j])
    }
    const headers = { 'Content-Type': 'application/json', Accept: stream ? 'application/x-ndjson' : 'application/json' }
    for (const [n, v] of R.cred) headers[n] = v
    const ctrl = new AbortController()
    const bt = { ctrl, text }
    this.#batches.set(batch, bt)
    const alive = () => bt.ctrl === ctrl && this.#h >= 0
    const failed = (status, why, body) => {
      if (!alive()) return
      bt.ctrl = null
      bt.status = status
      bt.message = why
      bt.body = body === undefined || body.length > this.#cfg.maxBody ? '' : body
      this.#done.push([this.#batches, batch, bt])
      this.#call((x, h) => x.cf_batch_failed(h, now(), batch, status))
    }
    let pending
    try {
      pending = this.#send(endpoint, { method: 'POST', headers, credentials: R.mode, body: batchBody(out), signal: ctrl.signal })
    } catch (e) {
      bt.ctrl = null
      bt.message = messageOf(e)
      this.#done.push([this.#batches, batch, bt])
      core.cf_batch_failed(this.#h, now(), batch, 0)
      return
    }
    this.#read(batch, bt, pending, alive).then(
      (failure) => failure && failed(...failure),
      (e) => failed(0, messageOf(e)),
    )
  }

  /** Read a batch answer, feeding the core as it arrives. Resolves with a failure of the whole batch, if any. */
  async #read(batch, bt, pending, alive) {
    const res = await pending
    const ndjson = (res.headers.get('content-type') ?? '').includes('ndjson')
    if (!res.ok || !ndjson) {
      const text = await res.text()
      if (!res.ok) return [res.status, '', text]
      if (!alive()) return
      // Read whole: the core's CANCEL_BATCH after its last item has nothing
      // to abort (an abort makes an AbortError, with its stack: about 30 µs).
      bt.ctrl = null
      const list = envelope(text)
      this.#call((x, h) => {
        if (typeof list === 'string') return this.#end(batch, bt, list)
        for (const a of list) this.#item(batch, a)
        this.#end(batch, bt)
      })
      return
    }
    // (A lazy chunk: only streamed answers need it. If it cannot load, the batch fails.)
    const { read } = await import('./stream.js').catch((e) => {
      res.body?.cancel().catch(noop)
      throw e
    })
    return read(res, alive, (f) => this.#call(f), (a) => this.#item(batch, a), (why) => this.#end(batch, bt, why))
  }

  /** One answer of a batch: `cf_item`, or `cf_ignored` when it cannot be one. */
  #item(batch, a) {
    const x = core
    const it = item(a)
    if (typeof it === 'string' || it.id < 0) return x.cf_ignored(this.#h)
    const r = itemResult(it, this.#cfg.maxBody, this.#batches.get(batch)?.text?.has(it.id))
    this.#flights.set(it.id, r)
    this.#done.push([this.#flights, it.id, r])
    x.cf_item(this.#h, now(), batch, it.id, r.status, r.size, r.flags, r.retryAfter)
  }

  /** The answer ended: complete, or broken for `reason`. */
  #end(batch, bt, reason) {
    bt.reason = reason
    this.#done.push([this.#batches, batch, bt])
    core.cf_batch_end(this.#h, now(), batch, reason === undefined ? 0 : 1)
  }

  // --- the socket --------------------------------------------------------------------

  #subscribeTopic(rec, on) {
    const topic = pathOf(rec.url)
    if (on) {
      rec.topic = topic
      this.#topics.set(topic, rec)
    } else if (this.#topics.get(topic) === rec) this.#topics.delete(topic)
    this.#socket?.send(on, topic)
  }

  /** A message from the socket, decoded (or why it is malformed). */
  #message(m, text) {
    const x = core
    const h = this.#h
    if (typeof m === 'string') x.cf_sock_malformed(h)
    else if (m.error === undefined) {
      const rec = this.#topics.get(m.data)
      if (rec !== undefined) this.#incoming.set(rec.id, { body: m.body, size: text.length })
      x.cf_sock_data(h, now(), rec?.id ?? NONE, text.length)
    } else {
      const rec = this.#topics.get(m.error)
      if (rec !== undefined) this.#sockErrors.set(rec.id, m.message)
      x.cf_sock_error(h, now(), rec?.id ?? NONE)
    }
  }
}

/**
 * Make a client over the core in `wasm` (base64 of raw deflate). Throws a
 * `CalmfetchError` (kind `invalid`) on bad options.
 */
export function create(options, wasm) {
  if (stopped !== null) throw stopped
  let persist = null
  if (options !== null && typeof options === 'object' && 'persist' in options) {
    const { persist: p, ...rest } = options
    persist = persistOptions(p, rest)
    options = rest
  }
  let cfg
  try {
    cfg = clientOptions(options)
  } catch (e) {
    throw typeof e === 'string' ? invalid(`createClient: ${e}`) : e
  }
  load(wasm)
  return new Client(cfg, persist)
}
