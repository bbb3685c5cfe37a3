// Bundle sizes: what each library adds to an app's start-up code, built the same
// way (esbuild, minified ESM for the browser with code splitting, react and
// react-dom left out) and compressed
// with node:zlib (gzip level 9, brotli quality 11).
import { existsSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { gzipSync, brotliCompressSync, constants, inflateRawSync } from 'node:zlib'
import * as esbuild from 'esbuild'

function measure(buf) {
  return {
    raw: buf.length,
    gzip: gzipSync(buf, { level: 9 }).length,
    brotli: brotliCompressSync(buf, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
  }
}

/**
 * The code an app loads at start: the entry chunk and the chunks it imports
 * statically. Code splitting is on, as in Vite, webpack and Next.js, so a
 * module imported dynamically (calmfetch's `persist.js`, `socket.js`, `stream.js`, `polling.js`) is a lazy chunk,
 * counted apart (`lazy`).
 */
async function bundle(contents, root) {
  const out = await esbuild.build({
    stdin: { contents, resolveDir: root, loader: 'js' },
    bundle: true,
    minify: true,
    format: 'esm',
    splitting: true,
    outdir: join(root, '.size-out'),
    metafile: true,
    platform: 'browser',
    target: 'es2022',
    write: false,
    external: ['react', 'react-dom', 'react/jsx-runtime', 'react-dom/client'],
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"production"' },
  })
  const byPath = new Map(out.outputFiles.map((f) => [relative(root, f.path), Buffer.from(f.contents)]))
  const outputs = out.metafile.outputs
  const entry = Object.keys(outputs).find((p) => outputs[p].entryPoint !== undefined)
  const initial = new Set([entry])
  for (const p of initial) for (const i of outputs[p].imports) if (i.kind === 'import-statement' && outputs[i.path]) initial.add(i.path)
  const lazy = [...byPath.keys()].filter((p) => p.endsWith('.js') && !initial.has(p))
  return {
    code: Buffer.concat([...initial].map((p) => byPath.get(p))),
    lazy: lazy.length === 0 ? undefined : measure(Buffer.concat(lazy.map((p) => byPath.get(p)))),
  }
}

/** [{ name, raw, gzip, brotli, entry }] */
export async function bundleSizes({ root, pkg }) {
  const cf = JSON.stringify(join(pkg, 'index.js'))
  const hasReact = existsSync(join(pkg, 'react.js'))
  const cfAll = hasReact ? `export * from ${cf}; export * from ${JSON.stringify(join(pkg, 'react.js'))}` : `export * from ${cf}`
  const entries = [
    [`calmfetch (index.js${hasReact ? ' + react.js' : ''}, wasm inlined)`, cfAll],
    ['calmfetch (index.js alone, wasm inlined)', `export * from ${cf}`],
    ['@tanstack/react-query', `export * from '@tanstack/react-query'`],
    ['@tanstack/react-query + dataloader', `export * from '@tanstack/react-query'; export { default as DataLoader } from 'dataloader'`],
    ['swr', `export * from 'swr'; export { default } from 'swr'`],
    ['dataloader', `export { default } from 'dataloader'`],
  ]
  const out = []
  for (const [name, entry] of entries) {
    const { code, lazy } = await bundle(entry, root)
    out.push({ name, entry, ...measure(code), ...(lazy && { lazyGzip: lazy.gzip }) })
  }
  // The wasm module alone. The package inlines it (core_wasm.js) as base64
  // of raw deflate, which js/load.js inflates with DecompressionStream.
  const bytesJs = readFileSync(join(pkg, 'core_wasm.js'), 'utf8')
  const packed = Buffer.from(/"([A-Za-z0-9+/=]+)"/.exec(bytesJs)[1], 'base64')
  const wasm = inflateRawSync(packed)
  out.push({ name: 'calmfetch wasm module alone (binary)', entry: 'core_wasm.js', ...measure(wasm) })
  out.push({ name: 'calmfetch wasm as inlined (raw deflate, before base64)', entry: 'core_wasm.js', ...measure(packed) })
  out.push({ name: 'calmfetch core_wasm.js (the inlined module as shipped)', entry: 'core_wasm.js', ...measure(Buffer.from(bytesJs)) })
  return out
}
