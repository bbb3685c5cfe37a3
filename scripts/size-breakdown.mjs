#!/usr/bin/env node
// Where the bytes of calmfetch's wasm module go: a twiggy-style breakdown
// without twiggy. Takes the release build cargo left behind (it keeps
// function names), runs the same wasm-opt -Oz step as scripts/build.mjs but
// keeps the names, then sums the size of each function body by the Rust
// module it comes from.
//
//   node scripts/size-breakdown.mjs [--top N]      (after `npm run build`)
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const input = join(root, 'target', 'wasm32-unknown-unknown', 'release', 'calmfetch.wasm')
const top = Number(process.argv[process.argv.indexOf('--top') + 1]) || 15
if (!existsSync(input)) {
  console.error(`size-breakdown: ${input} is missing; run \`npm run build\` first`)
  process.exit(1)
}

const tmp = mkdtempSync(join(os.tmpdir(), 'calmfetch-size-'))
let wasm
try {
  const opt = join(tmp, 'opt.wasm')
  execFileSync(join(root, 'node_modules', '.bin', 'wasm-opt'), ['-Oz', '--debuginfo', '--strip-dwarf', '--enable-bulk-memory',
    '--enable-nontrapping-float-to-int', '--enable-sign-ext', '--enable-mutable-globals', '--enable-multivalue',
    input, '-o', opt], { stdio: 'inherit' })
  wasm = readFileSync(opt)
} finally {
  rmSync(tmp, { recursive: true, force: true })
}

// --- a minimal reader of the wasm binary format --------------------------------
let pos = 8
const u32 = () => {
  let n = 0
  let shift = 0
  for (;;) {
    const b = wasm[pos++]
    n += (b & 0x7f) * 2 ** shift
    if (b < 0x80) return n
    shift += 7
  }
}
const str = () => {
  const len = u32()
  const s = wasm.toString('utf8', pos, pos + len)
  pos += len
  return s
}
const sections = [] // { id, name, start, end }
while (pos < wasm.length) {
  const id = wasm[pos++]
  const size = u32()
  const start = pos
  const name = id === 0 ? str() : null
  sections.push({ id, name, start, body: pos, end: start + size, size })
  pos = start + size
}
const section = (id, name) => sections.find((s) => s.id === id && (name === undefined || s.name === name))

// Imported functions come first in the function index space.
let imported = 0
const imports = section(2)
if (imports) {
  pos = imports.start
  for (let n = u32(); n > 0; n--) {
    str()
    str()
    const kind = wasm[pos++]
    if (kind === 0) {
      imported++
      u32()
    } else if (kind === 1) {
      pos++
      const flags = u32()
      u32()
      if (flags & 1) u32()
    } else if (kind === 2) {
      const flags = u32()
      u32()
      if (flags & 1) u32()
    } else if (kind === 3) pos += 2
    else throw new Error(`unknown import kind ${kind}`)
  }
}
const bodies = [] // size of each defined function's body
const code = section(10)
pos = code.start
for (let n = u32(); n > 0; n--) {
  const size = u32()
  bodies.push(size)
  pos += size
}
const names = new Map()
const nameSec = section(0, 'name')
if (nameSec) {
  pos = nameSec.body
  while (pos < nameSec.end) {
    const sub = wasm[pos++]
    const size = u32()
    const end = pos + size
    if (sub === 1) for (let n = u32(); n > 0; n--) names.set(u32(), str())
    pos = end
  }
}

// Legacy Rust mangling (`_ZN9calmfetch4core6engine4Core5start17h…E`) to
// `calmfetch::core::engine::Core::start`.
function demangle(name) {
  if (!name.startsWith('_ZN')) return name
  const parts = []
  let i = 3
  while (i < name.length && name[i] !== 'E') {
    let j = i
    while (j < name.length && name[j] >= '0' && name[j] <= '9') j++
    const len = Number(name.slice(i, j))
    if (!(len > 0)) break
    const part = name.slice(j, j + len)
    i = j + len
    if (/^h[0-9a-f]{16}$/.test(part)) break
    parts.push(part.replace(/\$LT\$/g, '<').replace(/\$GT\$/g, '>').replace(/\$u20\$/g, ' ').replace(/\.\./g, '::'))
  }
  return parts.join('::')
}

// --- group by where the code comes from ----------------------------------------
function groupOf(name) {
  const own = /calmfetch(?:::|\.\.)(core|exports)(?:::|\.\.)(\w+)/.exec(name)
  if (own) return `calmfetch ${own[1]}::${own[2]}`
  if (/^cf_/.test(name)) return 'calmfetch exports (cf_*, the core inlined into them)'
  if (/heap::|SizeClasses|__rdl|__rust_(alloc|dealloc|realloc)/.test(name)) return 'allocator (src/heap.rs)'
  if (/fmt|Formatter|Debug|Display|printable|escape|panic/.test(name)) return 'formatting and panics (core::fmt)'
  if (/hashbrown|alloc::|RawVec|Vec<|String|collections|sort/.test(name)) return 'collections, strings, sorting (alloc)'
  if (/^(core|std)|core\[|std\[/.test(name)) return 'other core/std'
  if (/calmfetch/.test(name)) return 'calmfetch (other)'
  return 'unnamed or other'
}
const groups = new Map()
const fns = []
bodies.forEach((size, i) => {
  const name = demangle(names.get(imported + i) ?? `func[${imported + i}]`)
  fns.push({ name, size })
  groups.set(groupOf(name), (groups.get(groupOf(name)) ?? 0) + size)
})
const dataSize = section(11)?.size ?? 0
const codeSize = code.size
const strippedTotal = sections.filter((s) => s.id !== 0).reduce((a, s) => a + s.size, 0)
const kb = (n) => (n / 1024).toFixed(1).padStart(6)
const pct = (n) => `${((100 * n) / strippedTotal).toFixed(1).padStart(5)}%`

console.log(`calmfetch wasm after wasm-opt -Oz, without names: ${kb(strippedTotal)} KB (code ${kb(codeSize)} KB in ${bodies.length} functions, data ${kb(dataSize)} KB)\n`)
console.log('   KB  share  where the code comes from')
for (const [g, size] of [...groups].sort((a, b) => b[1] - a[1])) console.log(`${kb(size)} ${pct(size)}  ${g}`)
console.log(`${kb(dataSize)} ${pct(dataSize)}  data (string constants: error messages, option names)`)
const rest = strippedTotal - codeSize - dataSize
console.log(`${kb(rest)} ${pct(rest)}  types, imports, exports, tables`)
console.log(`\nlargest functions:`)
for (const f of fns.sort((a, b) => b.size - a.size).slice(0, top)) console.log(`${kb(f.size)}  ${f.name.replace(/::h[0-9a-f]{16}$/, '').replace(/\[[0-9a-f]{16}\]/g, '').slice(0, 110)}`)
