// The page: visibility, online state and the connection, read at call time
// (nothing at import: server rendering and workers have no document).

export const visible = () => globalThis.document?.visibilityState !== 'hidden'
export const online = () => globalThis.navigator?.onLine !== false

/** Is the user saving data, or on a 2G connection? */
export function slowConnection() {
  const c = globalThis.navigator?.connection
  return c != null && (c.saveData === true || c.effectiveType === '2g' || c.effectiveType === 'slow-2g')
}

/** Call `onVisible()` and `onOnline()` on changes; returns the function that stops. */
export function watch(onVisible, onOnline) {
  const d = globalThis.document
  const w = globalThis
  d?.addEventListener?.('visibilitychange', onVisible)
  w.addEventListener?.('online', onOnline)
  w.addEventListener?.('offline', onOnline)
  return () => {
    d?.removeEventListener?.('visibilitychange', onVisible)
    w.removeEventListener?.('online', onOnline)
    w.removeEventListener?.('offline', onOnline)
  }
}
