// Polling: a poll once `client.poll` has checked its arguments, one poller
// per key across the tabs of an origin (Web Locks), the keys of one identity
// led by one tab, poll results shared over a BroadcastChannel, and the page's
// visibility and online state fed to the core. A module of its own, which a
// client loads with its first poll (client.js); the core decides when to
// poll, who leads and what to share, and this carries it out.
import { online, visible, watch } from './page.js'
import { channel, hash, lock, shared } from './tabs.js'

const noop = () => {}
/** The key's separator (options.js's SEP: this module does not import options.js). */
const SEP = '\u001f'

export class Polling {
  #c
  #polls = 0
  #polled = new Map() // hash -> key record
  #groups = new Map() // identity lock name -> { held, recs, free }
  #channel = null
  #unwatch = null

  /**
   * @param c the client's side: `x` (the core's exports), `h()` (its
   *   handle), `now()`, `call(f)` and `run()` (an event, carried out),
   *   `incoming`, `bodies`, `etags` (its tables), `client` (its public API)
   */
  constructor(c) {
    this.#c = c
  }

  /** Poll `rec` (the key of `url`); `keyOptions` read it. Returns `{ stop() }`. */
  poll(rec, url, keyOptions, interval, background, onData, onError) {
    const c = this.#c
    const poller = this.#start(rec, interval, background)
    let lastData
    let errorSeen = false
    let wasFetching = false
    // Each new body once; each failed attempt once.
    const deliver = (s) => {
      if (s.data !== undefined && s.data !== lastData && s.error === undefined) {
        lastData = s.data
        errorSeen = false
        onData?.(s.data)
      } else if (s.error !== undefined && !s.isFetching && (wasFetching || !errorSeen)) {
        errorSeen = true
        onError?.(s.error)
      }
      wasFetching = s.isFetching
    }
    const unsubscribe = c.client.subscribe(url, deliver, keyOptions)
    let active = true
    queueMicrotask(() => active && c.h() >= 0 && deliver(c.client.peek(url, keyOptions)))
    return {
      stop: () => {
        if (!active) return
        active = false
        unsubscribe()
        c.call((x, h) => {
          x.cf_poll_stop(h, c.now(), poller)
          if (--rec.polls === 0) this.#polled.delete(rec.hash)
          if (--this.#polls === 0) this.close()
        })
      },
    }
  }

  #start(rec, interval, background) {
    const c = this.#c
    const x = c.x
    const h = c.h()
    if (this.#polls++ === 0) {
      const changed = (f) => () => c.call(f)
      this.#unwatch = watch(changed(() => x.cf_visible(h, c.now(), visible() ? 1 : 0)), changed(() => x.cf_online(h, c.now(), online() ? 1 : 0)))
      x.cf_visible(h, c.now(), visible() ? 1 : 0)
      x.cf_online(h, c.now(), online() ? 1 : 0)
      if (shared()) this.#channel = channel('calmfetch', (m) => c.call(() => this.#fromTab(m)))
    }
    if (rec.polls++ === 0) this.#polled.set((rec.hash ??= hash(rec.text)), rec)
    const poller = x.cf_poll_start(h, c.now(), rec.id, interval, background ? 1 : 0)
    c.run()
    return poller
  }

  /** Stop watching the page and the other tabs (no poll left, or the client stopped). */
  close() {
    this.#unwatch?.()
    this.#channel?.close()
    this.#unwatch = this.#channel = null
  }

  /** Another tab's poll result. */
  #fromTab(m) {
    if (m?.t !== 'poll' || typeof m.h !== 'string') return
    const rec = this.#polled.get(m.h)
    if (rec === undefined) return
    const c = this.#c
    const at = typeof m.at === 'number' ? m.at : 0
    const size = Number.isFinite(m.size) ? m.size : 0xffffffff // without its size it is only shown
    const etag = typeof m.etag === 'string' ? m.etag : undefined
    c.incoming.set(rec.id, { body: m.body, etag, size })
    c.x.cf_tab_data(c.h(), c.now(), rec.id, at, size, etag === undefined ? 0 : 2)
  }

  /** Tell the other tabs what `rec`'s poll brought (the core's POLLED). */
  share(rec) {
    const c = this.#c
    const id = rec.id
    if (this.#channel === null || c.bodies[id] === undefined) return
    const h = c.h()
    const m = { t: 'poll', h: (rec.hash ??= hash(rec.text)), body: c.bodies[id], at: Math.max(c.x.cf_updated(h, id), 0), size: c.x.cf_bytes(h, id) }
    if (c.etags[id] !== undefined) m.etag = c.etags[id]
    try {
      this.#channel.postMessage(m)
    } catch {}
  }

  /** `rec`'s key is gone. */
  forget(rec) {
    if (rec.hash !== undefined && this.#polled.get(rec.hash) === rec) this.#polled.delete(rec.hash)
  }

  /**
   * Ask for (or give up) leading `rec`'s polling across tabs (the core's
   * LEAD): one Web Lock per key, and one per identity and origin. The tab
   * holding the identity's lock steals the locks of every key of that
   * identity it polls, so one tab leads them all and their ticks can leave
   * together (riders).
   */
  lead(rec, want) {
    const c = this.#c
    if (!want) {
      rec.lead?.()
      rec.lead = undefined
    } else if (rec.lead === undefined) {
      if (this.#channel === null || !shared()) return c.x.cf_lead(c.h(), c.now(), rec.id, 2)
      const name = `calmfetch-lead-${hash(rec.o.text + SEP + rec.W.text)}`
      let g = this.#groups.get(name)
      if (g === undefined) {
        g = { held: false, recs: new Set(), free: noop }
        this.#groups.set(name, g)
        g.free = lock(name, () => {
          g.held = true
          for (const r of g.recs) if (!r.held) this.#ask(r, g, true)
        }, noop)
      }
      g.recs.add(rec)
      this.#ask(rec, g, g.held)
      rec.lead = () => {
        rec.unlock()
        rec.unlock = undefined
        rec.held = false
        g.recs.delete(rec)
        if (g.recs.size === 0 && this.#groups.get(name) === g) {
          g.free()
          this.#groups.delete(name)
        }
      }
    }
  }

  /** Queue for `rec`'s key lock, or take it at once (`steal`). */
  #ask(rec, g, steal) {
    const c = this.#c
    rec.unlock?.()
    rec.held = false
    const id = rec.id
    const unlock = lock(
      `calmfetch-poll-${(rec.hash ??= hash(rec.text))}`,
      () => {
        rec.held = true
        c.call((x, h) => x.cf_lead(h, c.now(), id, 1))
      },
      () => c.call((x, h) => x.cf_lead(h, c.now(), id, 2)),
      steal,
      () => {
        // Another tab's leader took it: stop polling here, and queue again.
        if (rec.unlock !== unlock) return
        c.call((x, h) => x.cf_lead(h, c.now(), id, 0))
        if (rec.unlock === unlock) this.#ask(rec, g, false)
      },
    )
    rec.unlock = unlock
  }
}
