// Structural sharing (TanStack Query's replaceEqualDeep): a new JSON body
// takes the parts of the previous one that are equal to its own, so that an
// answer with nothing new is the previous object itself and a change keeps
// the identity of every unchanged subtree (React skips what did not change).

/** Bodies larger than this (bytes of text) are not compared: the walk would cost more than it saves. */
export const SHARE_MAX = 262144

const plain = (v) => v !== null && typeof v === 'object' && (Array.isArray(v) || Object.getPrototypeOf(v) === Object.prototype)

/**
 * `next`, with every part equal to the same part of `prev` replaced by that
 * part of `prev`. Below `depth` 200 nothing is compared (no deep recursion).
 */
export function share(prev, next, depth = 0) {
  if (prev === next || depth > 200 || !plain(prev) || !plain(next) || Array.isArray(prev) !== Array.isArray(next)) return next
  const keys = Object.keys(next)
  let same = keys.length === Object.keys(prev).length
  for (const k of keys) {
    // (An own `__proto__` from JSON.parse is left alone: assigning it would set the prototype.)
    if (k === '__proto__') same = false
    else if ((next[k] = share(prev[k], next[k], depth + 1)) !== prev[k]) same = false
  }
  return same ? prev : next
}
