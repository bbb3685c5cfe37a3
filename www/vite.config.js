// Vite config for the calmfetch demo. `vite build www` (from the repo root)
// writes www/dist. The package under test comes from CALMFETCH_PKG
// (default: ../pkg, the one `node scripts/build.mjs` writes).
import { defineConfig } from 'vite'
import { existsSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const pkg = resolve(process.env.CALMFETCH_PKG || resolve(here, '../pkg'))
for (const file of ['index.js', 'react.js']) {
  if (!existsSync(resolve(pkg, file))) {
    throw new Error(`calmfetch demo: no ${file} in ${pkg}; run \`node scripts/build.mjs\` (or set CALMFETCH_PKG)`)
  }
}

// `vite dev`: send API traffic to a reference server started separately
// (node www/server/cli.mjs --port 8787).
const backend = process.env.CALMFETCH_BACKEND || 'http://127.0.0.1:8787'

export default defineConfig({
  root: here,
  resolve: {
    alias: [
      { find: /^calmfetch\/react$/, replacement: resolve(pkg, 'react.js') },
      { find: /^calmfetch$/, replacement: resolve(pkg, 'index.js') },
    ],
    // The package lives outside node_modules: make its `import 'react'` find
    // the app's one copy of React.
    dedupe: ['react', 'react-dom'],
  },
  // JSX without @vitejs/plugin-react: Vite 8 transforms it with Oxc.
  oxc: { jsx: { runtime: 'automatic' } },
  build: {
    outDir: resolve(here, 'dist'),
    emptyOutDir: true,
    target: 'es2022',
    // One chunk of about 600 KB, most of it calmfetch's inlined wasm (base64):
    // above Vite's 500 KB default, expected, and not worth splitting for a demo.
    chunkSizeWarningLimit: 1024,
  },
  server: {
    host: '127.0.0.1',
    fs: { allow: [here, pkg, resolve(here, '..')] },
    proxy: {
      '/api': backend,
      '/batch': backend,
      '/__': backend,
      '/ws': { target: backend.replace(/^http/, 'ws'), ws: true },
    },
  },
})
