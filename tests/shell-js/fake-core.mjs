// A fake core for the shell's tests: a few of the cf_* calls of
// docs/boundary.md over a real WebAssembly.Memory, enough for get, dedup,
// the cache, errors, abort and listeners. It decides the way the real core
// does for these paths, in a few lines, and records every call.
export function fakeCore(env) {
  const memory = new WebAssembly.Memory({ initial: 2 })
  const CONFIG = 0
  const STATS = 1024
  const ACTIONS = 4096
  const f64 = () => new Float64Array(memory.buffer)
  let out = []
  let ttl = 0
  let nextKey = 0
  let nextWaiter = 1
  let nextFlight = 1
  const entries = new Map() // key -> { at, version, watched }
  const flights = new Map() // flight -> { key, waiters }
  const byKey = new Map()
  const waiterFlight = new Map()
  const stats = { requested: 0, network: 0, hits: 0, dedup: 0 }
  const calls = []
  const entry = (k) => entries.get(k) ?? entries.set(k, { at: -1, version: 0, watched: 0, bytes: 0, errored: false }).get(k)
  const notify = (k) => {
    const e = entry(k)
    e.version++
    if (e.watched > 0) out.push(12, k)
  }
  const x = {
    memory,
    calls,
    panic: () => env.cf_panic(0, 0, 7),
    cf_config_ptr: () => CONFIG,
    cf_new: () => {
      ttl = f64()[CONFIG / 8]
      return 0
    },
    cf_free: () => {},
    cf_key: (h, origin, who, bytes) => {
      calls.push(['key', origin, who, bytes])
      return nextKey++
    },
    cf_get(h, now, key, t, fresh) {
      stats.requested++
      const e = entry(key)
      if (!(fresh & 1) && e.at >= 0 && now < e.at + (t < 0 ? ttl : t)) {
        stats.hits++
        return 0
      }
      const w = nextWaiter++
      const f = byKey.get(key)
      if (f !== undefined) {
        stats.dedup++
        flights.get(f).waiters.push(w)
        waiterFlight.set(w, f)
        return w
      }
      const flight = nextFlight++
      stats.network++
      flights.set(flight, { key, waiters: [w] })
      byKey.set(key, flight)
      waiterFlight.set(w, flight)
      out.push(1, flight, key)
      notify(key)
      return w
    },
    cf_abort(h, now, w) {
      const f = waiterFlight.get(w)
      if (f === undefined) return
      waiterFlight.delete(w)
      out.push(7, w, 4, 0, 0, 0)
      const fl = flights.get(f)
      fl.waiters = fl.waiters.filter((v) => v !== w)
      if (fl.waiters.length === 0) {
        flights.delete(f)
        byKey.delete(fl.key)
        out.push(2, f)
        notify(fl.key)
      }
    },
    cf_done(h, now, flight, status, size, flags) {
      calls.push(['done', flight, status, size, flags])
      const fl = flights.get(flight)
      if (fl === undefined) return
      flights.delete(flight)
      byKey.delete(fl.key)
      const ok = status >= 200 && status < 300 && (flags & 12) === 0
      if (ok) {
        entry(fl.key).at = now
        entry(fl.key).bytes = size
        entry(fl.key).errored = false
        out.push(8, fl.key, flight)
      } else {
        const code = flags & 8 ? 2 : flags & 4 ? 5 : 1
        out.push(10, fl.key, code, flight, 0, 0)
        entry(fl.key).errored = true
      }
      for (const w of fl.waiters) {
        waiterFlight.delete(w)
        if (ok) out.push(5, w, flight)
        else out.push(7, w, status >= 400 ? 1 : flags & 8 ? 2 : 5, flight, 0, 0)
      }
      notify(fl.key)
    },
    cf_watch: (h, k) => void entry(k).watched++,
    cf_unwatch: (h, k) => void entry(k).watched--,
    cf_live_add: () => 0,
    cf_can_live: () => 0,
    cf_live_remove: () => {},
    cf_state(h, now, k) {
      const e = entry(k)
      return (e.at >= 0 ? 1 : 0) | (e.errored ? 8 : 0) | (e.at < 0 || now >= e.at + ttl ? 2 : 0) | (byKey.has(k) ? 4 : 0)
    },
    cf_version: (h, k) => entry(k).version,
    cf_updated: (h, k) => entry(k).at,
    cf_bytes: (h, k) => entry(k).bytes,
    cf_invalidate(h, k) {
      const e = entry(k)
      if (e.at < 0) return 0
      e.at = -Infinity
      notify(k)
      return 1
    },
    cf_clear: () => {},
    cf_next: () => -1,
    cf_timeout: () => {},
    cf_stats() {
      const a = f64()
      a.fill(0, STATS / 8, STATS / 8 + 33)
      a[STATS / 8] = stats.requested
      a[STATS / 8 + 1] = stats.network
      a[STATS / 8 + 2] = stats.dedup
      a[STATS / 8 + 3] = stats.hits
      return STATS
    },
    cf_actions() {
      new Uint32Array(memory.buffer, ACTIONS, out.length).set(out)
      return ACTIONS
    },
    cf_actions_len: () => out.length,
    cf_actions_clear() {
      out = []
    },
  }
  return x
}
