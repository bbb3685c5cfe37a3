// Builds the npm package in pkg/:
//   1. cargo compiles the numbers-only core for wasm32 (no wasm-bindgen);
//   2. binaryen 132's wasm-opt (from node_modules) shrinks the wasm;
//   3. the wasm is inlined as base64 of raw deflate (core_wasm.js), which
//      js/load.js inflates with DecompressionStream (this script checks the
//      round trip);
//   4. the JS shell is bundled and minified with esbuild into index.js, and
//      react.js (its 'use client' kept first), the types, package.json (with
//      the repository fields of the workspace's package.json), the licenses
//      and the README (its relative links made absolute) are added.
// Prints the size of what a user's bundle gets, raw, gzip and brotli.
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync, copyFileSync, existsSync } from 'node:fs'
import { gzipSync, brotliCompressSync, constants, inflateRawSync } from 'node:zlib'
import { dirname, join, resolve as resolvePath } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
// `--out DIR` builds elsewhere (so parallel work does not race on pkg/).
const outArg = process.argv.indexOf('--out')
const pkg = outArg > 0 ? resolvePath(process.argv[outArg + 1]) : join(root, 'pkg')
const wasmOpt = join(root, 'node_modules', '.bin', 'wasm-opt')
/** The modules a client imports only when it uses them (lazy chunks). */
const LAZY = ['persist.js', 'socket.js', 'stream.js', 'polling.js']
const version = JSON.parse(readFileSync(join(root, 'js', 'package.template.json'), 'utf8')).version

/** The license files of `license` ("MIT OR Apache-2.0"), shipped in the package. */
const LICENSES = ['LICENSE-MIT', 'LICENSE-APACHE']

/** Does the built file start with the `'use client'` directive? */
function esbuildDirective(file) {
  return /^(['"])use client\1;?/.test(readFileSync(file, 'utf8'))
}

/**
 * The README as npm shows it: relative links point at the repository
 * (`blob/main/...`; images at their raw file, so that they display).
 */
function absoluteLinks(md, repoUrl) {
  const repo = repoUrl.replace(/^git\+/, '').replace(/\.git$/, '')
  const raw = repo.replace('https://github.com/', 'https://raw.githubusercontent.com/')
  return md.replace(/(!?)\[([^\]]*)\]\(([^)\s]+)\)/g, (all, bang, text, target) => {
    if (/^(?:[a-z][a-z0-9+.-]*:|#)/i.test(target)) return all
    const path = target.replace(/^\.\//, '')
    return `${bang}[${text}](${bang ? `${raw}/main/${path}` : `${repo}/blob/main/${path}`})`
  })
}

function run(cmd, args) {
  execFileSync(cmd, args, {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, PATH: `${join(root, 'node_modules', '.bin')}:${process.env.PATH}` },
  })
}

/** Read an unsigned LEB128 at `at`: [value, next offset]. */
function leb(buf, at) {
  let v = 0
  let shift = 0
  for (;;) {
    const b = buf[at++]
    v += (b & 0x7f) * 2 ** shift
    shift += 7
    if (b < 0x80) return [v, at]
  }
}
const uleb = (v) => {
  const out = []
  do {
    let b = v & 0x7f
    v = Math.floor(v / 128)
    if (v > 0) b |= 0x80
    out.push(b)
  } while (v > 0)
  return Buffer.from(out)
}

/**
 * The module with its `cf_*` exports renamed `a`, `b`, … (in name order)
 * and the linker's symbols left out, and the map from each old name to its
 * new one.
 */
function shortExports(buf) {
  const parts = [buf.subarray(0, 8)]
  const names = new Map()
  let at = 8
  while (at < buf.length) {
    const id = buf[at]
    const [size, body] = leb(buf, at + 1)
    const end = body + size
    if (id !== 7) {
      parts.push(buf.subarray(at, end))
      at = end
      continue
    }
    let [count, p] = leb(buf, body)
    const entries = []
    for (let i = 0; i < count; i++) {
      const [len, q] = leb(buf, p)
      const name = buf.subarray(q, q + len).toString('utf8')
      const [, r] = leb(buf, q + len + 1)
      entries.push({ name, rest: buf.subarray(q + len, r) })
      p = r
    }
    const letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'
    const short = (i) => (i < letters.length ? letters[i] : letters[Math.floor(i / letters.length) - 1] + letters[i % letters.length])
    entries.filter((e) => e.name.startsWith('cf_')).map((e) => e.name).sort().forEach((n, i) => names.set(n, short(i)))
    // (The linker's `__heap_base` and `__data_end` are of no use outside.)
    const kept = entries.filter((e) => e.name !== '__heap_base' && e.name !== '__data_end')
    const payload = [uleb(kept.length)]
    for (const e of kept) {
      const n = Buffer.from(names.get(e.name) ?? e.name, 'utf8')
      payload.push(uleb(n.length), n, e.rest)
    }
    const section = Buffer.concat(payload)
    parts.push(Buffer.from([7]), uleb(section.length), section)
    at = end
  }
  return { wasm: Buffer.concat(parts), names }
}

if (!existsSync(wasmOpt)) {
  console.error('build: node_modules/.bin/wasm-opt is missing; run `npm ci` first')
  process.exit(1)
}

rmSync(pkg, { recursive: true, force: true })
mkdirSync(pkg, { recursive: true })
// The core is a plain `extern "C"` cdylib: only numbers cross (docs/boundary.md),
// so there is no wasm-bindgen glue.
run('cargo', ['build', '--release', '--lib', '--target', 'wasm32-unknown-unknown'])
const wasmPath = join(pkg, 'core.wasm')
copyFileSync(join(root, 'target', 'wasm32-unknown-unknown', 'release', 'calmfetch.wasm'), wasmPath)
// Beyond -Oz: the module never reads below address 1024 and starts with zeroed
// memory (a fresh instance), functions that differ only in constants are
// merged, and flattening then re-looping before two -Oz rounds run to a fixed
// point gives the smallest code (measured: -0.4 KB gzip). Functions of up to 6
// instructions are inlined everywhere (-Oz's default is 2): 161 -> 147
// functions, 19 B less gzip, and a first read compiles 50 functions lazily
// instead of 57 (V8 compiles each on its first call, on the main thread).
run(wasmOpt, ['-aimfs', '6', '--low-memory-unused', '--zero-filled-memory', '--gufa-optimizing',
  '--merge-similar-functions', '--flatten', '--rereloop', '-Oz', '-Oz', '--converge',
  '--strip-debug', '--strip-producers', '--enable-bulk-memory',
  '--enable-nontrapping-float-to-int', '--enable-sign-ext', '--enable-mutable-globals',
  '--enable-multivalue', wasmPath, '-o', wasmPath])

// Inline the wasm as base64 of raw deflate: js/load.js inflates it with the
// platform's DecompressionStream and compiles it asynchronously (no long task
// on the main thread, no .wasm file to serve, no bundler configuration).
// Zopfli writes the same raw deflate format, 6% smaller than zlib's level 9
// (measured: -1.1 KB gzip in the package); zlib checks the round trip.
// The exports' names (`cf_get`, …: docs/boundary.md) become one or two
// letters in the shipped module and in index.js, which the build rewrites
// to match (measured: -0.4 KB gzip). The import `env.cf_panic` and
// `memory` keep their names.
const { wasm, names: exportNames } = shortExports(readFileSync(wasmPath))
const { deflate: zopfli } = (await import('@gfx/zopfli')).default
const packed = await new Promise((res, rej) =>
  zopfli(wasm, { numiterations: 15 }, (e, out) => (e ? rej(e) : res(Buffer.from(out)))))
if (Buffer.compare(inflateRawSync(packed), wasm) !== 0) {
  console.error('build: raw deflate does not give back the wasm; refusing to ship it')
  process.exit(1)
}
writeFileSync(join(pkg, 'core_wasm.js'),
  `// The calmfetch core, raw deflate, base64. Generated by scripts/build.mjs.\n` +
  `export default ${JSON.stringify(packed.toString('base64'))}\n`)
rmSync(wasmPath)

for (const f of ['index.d.ts', 'react.d.ts', 'server.d.ts']) copyFileSync(join(root, 'js', f), join(pkg, f))

// One minified module for the entry (the shell's files, bundled), and the
// React entry, which imports the package's entry. (`CalmfetchError` sets
// its `name` itself: no `keepNames` needed.)
const esbuild = await import('esbuild')
esbuild.buildSync({
  entryPoints: [join(root, 'js', 'index.js')], outfile: join(pkg, 'index.js'), bundle: true,
  format: 'esm', minify: true, legalComments: 'none', external: ['./core_wasm.js', ...LAZY.map((f) => `./${f}`)],
})
/** Give the wasm's exports their short names in a built file (`cf_panic` is the import). */
function renameExports(f) {
  const file = join(pkg, f)
  const js = readFileSync(file, 'utf8').replace(/\bcf_[a-z_]+\b/g, (name) => {
    if (name === 'cf_panic') return name
    const short = exportNames.get(name)
    if (short === undefined) {
      console.error(`build: ${f} uses ${name}, which the wasm module does not export`)
      process.exit(1)
    }
    return short
  })
  writeFileSync(file, js)
}
renameExports('index.js')
// IndexedDB persistence, the realtime socket, the reader of streamed batch
// answers and polling are modules of their own, imported dynamically by a
// client that uses them: bundlers ship them as lazy chunks that other apps
// never load.
for (const f of LAZY) {
  esbuild.buildSync({
    entryPoints: [join(root, 'js', f)], outfile: join(pkg, f), bundle: true,
    format: 'esm', minify: true, legalComments: 'none',
  })
  renameExports(f)
}
writeFileSync(join(pkg, 'react.js'), esbuild.transformSync(readFileSync(join(root, 'js', 'react.js'), 'utf8'), {
  format: 'esm', minify: true, legalComments: 'none',
}).code)
if (!esbuildDirective(join(pkg, 'react.js'))) {
  console.error("build: pkg/react.js does not start with 'use client'")
  process.exit(1)
}
// calmfetch/server, the backend half for Node: its own entry point, which no
// browser bundle reaches. Bundled (it shares errors.js) but not minified;
// light-my-request (a dependency) and ws (an optional peer) stay imports.
esbuild.buildSync({
  entryPoints: [join(root, 'js', 'server', 'index.js')], outfile: join(pkg, 'server.js'), bundle: true,
  format: 'esm', platform: 'node', target: 'node20', legalComments: 'none', external: ['light-my-request', 'ws'],
})
const manifest = JSON.parse(readFileSync(join(root, 'js', 'package.template.json'), 'utf8'))
if (!existsSync(join(root, 'js', 'react.js'))) {
  // The React entry point is not written yet: do not promise it.
  delete manifest.exports['./react']
  manifest.files = manifest.files.filter((f) => !f.startsWith('react.'))
}
// Where the project lives: said once, in the workspace's package.json.
const workspace = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const { repository, homepage, bugs } = workspace
Object.assign(manifest, { repository, homepage, bugs })
for (const f of LICENSES) {
  copyFileSync(join(root, f), join(pkg, f))
  if (!manifest.files.includes(f)) manifest.files.push(f)
}
writeFileSync(join(pkg, 'package.json'), JSON.stringify(manifest, null, 2) + '\n')
// (scripts/check-package.mjs checks that no relative link is left.)
writeFileSync(join(pkg, 'README.md'), absoluteLinks(readFileSync(join(root, 'README.md'), 'utf8'), repository.url))

// What a user's bundle gets: the files the browser entry points pull in
// (server.js runs in Node only; the lazy chunks are counted apart), in the
// order a bundler puts them: a module before the one that imports it, so
// the inlined wasm (core_wasm.js) first. (One gzip stream sees 32 KB back:
// with the wasm between them, react.js could not refer to index.js, which
// measured 1.6 KB more than a bundler's output.)
const shipped = manifest.files.filter((f) => f.endsWith('.js') && f !== 'server.js' && !LAZY.includes(f))
  .sort((a, b) => (b === 'core_wasm.js') - (a === 'core_wasm.js'))
const all = Buffer.concat(shipped.map((f) => readFileSync(join(pkg, f))))
const lazy = Buffer.concat(LAZY.map((f) => readFileSync(join(pkg, f))))
const sizes = {
  wasm: wasm.length,
  raw: all.length,
  gzip: gzipSync(all, { level: 9 }).length,
  brotli: brotliCompressSync(all, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
  lazyGzip: gzipSync(lazy, { level: 9 }).length,
}
writeFileSync(join(pkg, 'size.json'), JSON.stringify(sizes, null, 2))
const kb = (n) => `${(n / 1024).toFixed(1)} KB`
console.log(`calmfetch ${version}: wasm ${kb(sizes.wasm)}; package JS (wasm inlined) ${kb(sizes.raw)} raw, ${kb(sizes.gzip)} gzip, ${kb(sizes.brotli)} brotli; lazy ${LAZY.join(' + ')} ${kb(sizes.lazyGzip)} gzip`)
