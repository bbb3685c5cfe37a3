// The tabs of an origin: one poller per key (Web Locks), the keys of one
// identity led by one tab, poll results shared over a BroadcastChannel, and
// `clear()` reaching every tab.

/** FNV-1a (64-bit) of a key's UTF-8 text, in hex: lock names never show credentials. */
export function hash(text) {
  let h = 0xcbf29ce484222325n
  for (const b of new TextEncoder().encode(text)) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn
  return h.toString(16).padStart(16, '0')
}

/** Can the tabs share polling here? */
export const shared = () => typeof BroadcastChannel === 'function' && globalThis.navigator?.locks != null

/** A BroadcastChannel that does not keep a Node process alive; null where there is none. */
export function channel(name, onMessage) {
  if (typeof BroadcastChannel !== 'function') return null
  try {
    const c = new BroadcastChannel(name)
    c.unref?.()
    c.onmessage = (e) => onMessage(e.data)
    return c
  } catch {
    return null
  }
}

/**
 * Ask for the Web Lock `name`. `granted()` when this tab holds it, `alone()`
 * when locks cannot be used here (poll on your own), `lost()` when another
 * tab stole it. `steal` takes it at once from whichever tab holds it.
 * Returns the function that gives it up (or withdraws the request).
 */
export function lock(name, granted, alone, steal = false, lost = alone) {
  const abort = new AbortController()
  let release = null
  let gone = false
  const held = () =>
    new Promise((resolve) => {
      release = resolve
      if (gone) resolve()
      else granted()
    })
  try {
    // (A stealing request is granted at once: it takes no signal.)
    globalThis.navigator.locks.request(name, steal ? { steal } : { signal: abort.signal }, held).then(
      () => {},
      // An AbortError when this tab stepped down (expected) or another tab
      // stole the lock; otherwise the page may not use locks (a
      // SecurityError in a sandboxed frame): poll alone.
      (e) => gone || (e?.name === 'AbortError' ? lost() : alone()),
    )
  } catch {
    alone()
  }
  return () => {
    gone = true
    abort.abort()
    release?.()
  }
}

// --- clear() reaches every client in every tab of the origin (logout) -------
const clients = new Set() // WeakRef<{ clearHere(): void }>
let clearChannel

/**
 * Are there tabs here? A page or a worker has; a server (Node, where
 * request-scoped clients of different users share one process) has none:
 * one user's `clear()` there must not empty the others' clients.
 */
const tabbed = () => typeof window === 'object' || typeof WorkerGlobalScope === 'function'

function openClear() {
  if (clearChannel === undefined) {
    clearChannel = typeof WeakRef === 'function' && tabbed() ? channel('calmfetch-clear', (m) => {
      if (m?.t !== 'clear') return
      for (const ref of clients) {
        const c = ref.deref()
        if (c === undefined) clients.delete(ref)
        else c.clearHere()
      }
    }) : null
  }
  return clearChannel
}

/** Add a WeakRef of `value` to `set`, forgetting the collected ones each time the set doubles. */
export function keepWeak(set, value) {
  if (set.size >= 64 && (set.size & (set.size - 1)) === 0) {
    for (const ref of set) if (ref.deref() === undefined) set.delete(ref)
  }
  set.add(new WeakRef(value))
}

/** Let `client.clearHere()` be called when another tab clears. */
export function joinClear(client) {
  if (openClear() !== null) keepWeak(clients, client)
}

/** Tell the other tabs to clear. */
export const announceClear = () => openClear()?.postMessage({ t: 'clear' })
