export const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)))

/** mulberry32: the same simulated users for every client. */
export function rng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** How a failed component read failed. */
export function errorClass(e) {
  const status = e?.status
  if (status === 503) return 'http503'
  if (typeof status === 'number') return 'httpOther'
  if (e?.name === 'AbortError' || e?.kind === 'abort') return 'abort'
  if (e?.name === 'TimeoutError' || e?.kind === 'timeout') return 'timeout'
  if (e instanceof TypeError || e?.kind === 'network') return 'network'
  return 'other'
}

export function countInto(map, key) {
  map[key] = (map[key] ?? 0) + 1
}
