// A small LZMA decoder, after the LZMA SDK's reference decoder (LzmaSpec).
//
// The package inlines its wasm compressed, because gzip or brotli cannot
// compress base64 text well: base64 of the wasm's LZMA stream is about a
// third smaller over the wire than base64 of the plain wasm, and about a
// fifth smaller than base64 of its deflate stream. `DecompressionStream`
// would only work asynchronously, and `createClient` is synchronous.
//
// `unlzma(bytes, size)` decodes an `.lzma` stream (13-byte header, then
// the range-coded data) into `size` bytes. The build (scripts/build.mjs)
// checks that it reproduces the wasm exactly before shipping it.

export function unlzma(src, size) {
  const out = new Uint8Array(size)
  let d = src[0]
  const lc = d % 9
  d = (d / 9) | 0
  const lp = d % 5
  const pb = (d / 5) | 0
  let pos = 13 + 1 // after the header and the range coder's zero byte
  let range = 0xffffffff
  let code = 0
  for (let i = 0; i < 4; i++) code = code * 256 + src[pos++]
  const probs = (n) => new Uint16Array(n).fill(1024)
  const norm = () => {
    if (range < 0x1000000) {
      range *= 256
      code = code * 256 + (src[pos++] | 0)
    }
  }
  // One bit with the adaptive probability p[i].
  const bit = (p, i) => {
    const bound = (range >>> 11) * p[i]
    let b
    if (code < bound) {
      p[i] += (2048 - p[i]) >> 5
      range = bound
      b = 0
    } else {
      p[i] -= p[i] >> 5
      code -= bound
      range -= bound
      b = 1
    }
    norm()
    return b
  }
  // n bits with probability 1/2 each.
  const direct = (n) => {
    let r = 0
    while (n--) {
      range = range >>> 1
      let b = 1
      code -= range
      if (code < 0) {
        code += range
        b = 0
      }
      r = r * 2 + b
      norm()
    }
    return r
  }
  const tree = (p, base, n) => {
    let m = 1
    for (let i = 0; i < n; i++) m = m * 2 + bit(p, base + m)
    return m - (1 << n)
  }
  const reverse = (p, base, n) => {
    let m = 1
    let r = 0
    for (let i = 0; i < n; i++) {
      const b = bit(p, base + m)
      m = m * 2 + b
      r |= b << i
    }
    return r
  }
  // A length decoder: choice bits, then 8 low, 8 mid or 256 high lengths.
  const lengths = () => {
    const p = probs(2 + 16 * 8 * 2 + 256)
    return (posState) =>
      bit(p, 0) === 0
        ? tree(p, 2 + posState * 8, 3)
        : bit(p, 1) === 0
          ? 8 + tree(p, 2 + 128 + posState * 8, 3)
          : 16 + tree(p, 2 + 256, 8)
  }
  const literal = probs(0x300 << (lc + lp))
  const isMatch = probs(192)
  const isRep = probs(12)
  const isRepG0 = probs(12)
  const isRepG1 = probs(12)
  const isRepG2 = probs(12)
  const isRep0Long = probs(192)
  const posSlot = probs(4 * 64)
  const posSpec = probs(115)
  const align = probs(16)
  const matchLen = lengths()
  const repLen = lengths()
  let state = 0
  let rep0 = 0, rep1 = 0, rep2 = 0, rep3 = 0
  let o = 0
  while (o < size) {
    const posState = o & ((1 << pb) - 1)
    if (bit(isMatch, (state << 4) + posState) === 0) {
      const prev = o > 0 ? out[o - 1] : 0
      const base = 0x300 * (((o & ((1 << lp) - 1)) << lc) + (prev >> (8 - lc)))
      let s = 1
      if (state >= 7) {
        let match = out[o - rep0 - 1]
        do {
          const mb = (match >> 7) & 1
          match <<= 1
          const b = bit(literal, base + ((1 + mb) << 8) + s)
          s = (s << 1) | b
          if (mb !== b) break
        } while (s < 0x100)
      }
      while (s < 0x100) s = (s << 1) | bit(literal, base + s)
      out[o++] = s - 0x100
      state = state < 4 ? 0 : state < 10 ? state - 3 : state - 6
      continue
    }
    let len
    if (bit(isRep, state)) {
      if (bit(isRepG0, state) === 0) {
        if (bit(isRep0Long, (state << 4) + posState) === 0) {
          state = state < 7 ? 9 : 11
          out[o] = out[o - rep0 - 1]
          o++
          continue
        }
      } else {
        let dist
        if (bit(isRepG1, state) === 0) {
          dist = rep1
        } else {
          if (bit(isRepG2, state) === 0) {
            dist = rep2
          } else {
            dist = rep3
            rep3 = rep2
          }
          rep2 = rep1
        }
        rep1 = rep0
        rep0 = dist
      }
      len = repLen(posState)
      state = state < 7 ? 8 : 11
    } else {
      rep3 = rep2
      rep2 = rep1
      rep1 = rep0
      len = matchLen(posState)
      state = state < 7 ? 7 : 10
      const slot = tree(posSlot, (len < 3 ? len : 3) * 64, 6)
      if (slot < 4) {
        rep0 = slot
      } else {
        const n = (slot >> 1) - 1
        rep0 = (2 | (slot & 1)) * 2 ** n
        if (slot < 14) rep0 += reverse(posSpec, rep0 - slot, n)
        else rep0 += direct(n - 4) * 16 + reverse(align, 0, 4)
      }
      if (rep0 >= o) break // the end marker, or a corrupt stream
    }
    for (len += 2; len > 0 && o < size; len--, o++) out[o] = out[o - rep0 - 1]
  }
  if (o !== size) throw new Error('calmfetch: the inlined wasm is corrupt')
  return out
}
