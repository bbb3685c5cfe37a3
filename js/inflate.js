// A small raw-DEFLATE decoder (RFC 1951), after zlib's puff.c.
//
// The package inlines its wasm compressed, because gzip or brotli cannot
// compress base64 text well: shipping deflate's output in base64 makes the
// package about a fifth smaller over the wire than shipping the plain wasm
// in base64. `DecompressionStream` would do the same job, but only
// asynchronously, and `createClient` is synchronous.
//
// `inflate(bytes, size)` returns the `size` decompressed bytes. The build
// (scripts/build.mjs) checks that it reproduces the wasm exactly.

const ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

// Base values and extra bits of the length (257..285) and distance codes.
const LBASE = [], LEXT = [], DBASE = [], DEXT = []
for (let i = 0, l = 3, d = 1; i < 30; i++) {
  LEXT[i] = i < 8 || i > 27 ? 0 : (i - 4) >> 2
  LBASE[i] = i === 28 ? 258 : l
  l += 1 << LEXT[i]
  DEXT[i] = i < 4 ? 0 : (i - 2) >> 1
  DBASE[i] = d
  d += 1 << DEXT[i]
}

// A canonical Huffman code from code lengths: symbols by length, and how
// many codes each length has.
function table(lengths) {
  const count = new Uint16Array(16)
  const offset = new Uint16Array(16)
  const symbol = new Uint16Array(lengths.length)
  for (const n of lengths) count[n]++
  count[0] = 0
  for (let i = 1; i < 16; i++) offset[i] = offset[i - 1] + count[i - 1]
  lengths.forEach((n, s) => {
    if (n) symbol[offset[n]++] = s
  })
  return { count, symbol }
}

export function inflate(src, size) {
  const out = new Uint8Array(size)
  let pos = 0 // next input byte
  let buf = 0 // bit buffer
  let cnt = 0 // bits in it
  let o = 0 // output position
  const bits = (n) => {
    while (cnt < n) {
      buf |= src[pos++] << cnt
      cnt += 8
    }
    const v = buf & ((1 << n) - 1)
    buf >>>= n
    cnt -= n
    return v
  }
  const decode = ({ count, symbol }) => {
    let code = 0, first = 0, index = 0
    for (let len = 1; len < 16; len++) {
      code |= bits(1)
      const c = count[len]
      if (code - c < first) return symbol[index + code - first]
      index += c
      first = (first + c) << 1
      code <<= 1
    }
    throw new Error('calmfetch: the inlined wasm is corrupt')
  }
  let last
  do {
    last = bits(1)
    const type = bits(2)
    if (type === 0) {
      // Stored: byte-aligned LEN, NLEN, then LEN raw bytes.
      buf = cnt = 0
      const len = src[pos] | (src[pos + 1] << 8)
      out.set(src.subarray(pos + 4, pos + 4 + len), o)
      pos += 4 + len
      o += len
      continue
    }
    let lengths
    let hlit = 288
    if (type === 1) {
      lengths = new Uint8Array(320)
      lengths.fill(8, 0, 144).fill(9, 144, 256).fill(7, 256, 280).fill(8, 280, 288).fill(5, 288)
    } else {
      hlit = bits(5) + 257
      const n = hlit + bits(5) + 1
      const hclen = bits(4) + 4
      const cl = new Uint8Array(19)
      for (let i = 0; i < hclen; i++) cl[ORDER[i]] = bits(3)
      const ct = table(cl)
      lengths = new Uint8Array(n)
      for (let i = 0; i < n; ) {
        const s = decode(ct)
        if (s < 16) {
          lengths[i++] = s
        } else {
          const v = s === 16 ? lengths[i - 1] : 0
          let rep = s === 16 ? 3 + bits(2) : s === 17 ? 3 + bits(3) : 11 + bits(7)
          while (rep--) lengths[i++] = v
        }
      }
    }
    const lt = table(lengths.subarray(0, hlit))
    const dt = table(lengths.subarray(hlit))
    for (;;) {
      let s = decode(lt)
      if (s < 256) {
        out[o++] = s
      } else if (s === 256) {
        break
      } else {
        s -= 257
        const len = LBASE[s] + bits(LEXT[s])
        const d = decode(dt)
        const dist = DBASE[d] + bits(DEXT[d])
        for (let k = 0; k < len; k++, o++) out[o] = out[o - dist]
      }
    }
  } while (!last)
  return out
}
