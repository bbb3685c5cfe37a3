// Installs the built package (npm pack of pkg/) into a fresh app the way a
// user would, builds the same page with Vite and with webpack 5 (no loader,
// no plugin, no configuration for the inlined wasm: entry and output only),
// serves both from the reference server and loads each in headless Chromium.
// Also imports the installed package from Node, as server-side rendering
// would. (Next.js: tests/ssr installs the packed package into a Next app.)
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { startServer } from '../../www/server/server.mjs'
import { assert, launchChromium, runner } from '../lib/browser.mjs'
import { installPacked } from '../lib/pack.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const { app, installSeconds } = installPacked(join(here, 'app'), 'install-app', ['react', 'react-dom', 'vite', 'webpack'])
const seconds = (t0) => ((performance.now() - t0) / 1000).toFixed(1)
let t0 = performance.now()
execFileSync(join(app, 'node_modules', '.bin', 'vite'), ['build', '--logLevel', 'error'], { cwd: app, stdio: 'inherit' })
const viteSeconds = seconds(t0)

// webpack through its Node API (no webpack-cli), as plain as a config gets.
t0 = performance.now()
const { default: webpack } = await import(pathToFileURL(join(app, 'node_modules', 'webpack', 'lib', 'index.js')).href)
const out = join(app, 'dist', 'webpack')
const stats = await new Promise((res, rej) =>
  webpack({ mode: 'production', context: app, entry: './src/main.js', output: { path: out, filename: 'main.js' } }, (e, s) => (e ? rej(e) : res(s))),
)
// Only webpack's size hints may warn (React's own weight: 277 KiB with react-dom).
const { errors, warnings } = stats.toJson({ all: false, errors: true, warnings: true })
const other = warnings.filter((w) => !/size limit|performance recommendations/.test(w.message))
if (errors.length > 0 || other.length > 0) {
  console.error(stats.toString('errors-warnings'))
  process.exit(1)
}
mkdirSync(out, { recursive: true })
writeFileSync(join(out, 'index.html'), readFileSync(join(app, 'index.html'), 'utf8').replace('<script type="module" src="/src/main.js"></script>', '<script src="./main.js"></script>'))
console.log(`     npm install ${installSeconds.toFixed(1)} s, vite build ${viteSeconds} s, webpack build ${seconds(t0)} s`)

const t = runner()
const server = await startServer({ port: 0, staticDir: join(app, 'dist') })
const browser = await launchChromium()
try {
  const installed = JSON.parse(readFileSync(join(app, 'node_modules', 'calmfetch', 'package.json'), 'utf8'))
  await t.check('the installed package has no wasm file to fetch and declares its entry points', async () => {
    assert(installed.exports['.'].types === './index.d.ts', 'exports["."].types')
    assert(installed.sideEffects === false, 'sideEffects false')
    const files = readdirSync(join(app, 'node_modules', 'calmfetch'))
    assert(!files.some((f) => f.endsWith('.wasm')), `no .wasm shipped: ${files}`)
    assert(files.includes('index.d.ts'), 'types shipped')
    assert(files.includes('LICENSE-MIT') && files.includes('LICENSE-APACHE'), `the licenses are shipped: ${files}`)
    assert(installed.repository?.url && installed.homepage && installed.bugs?.url, 'repository, homepage and bugs')
  })

  for (const [bundler, path] of [['Vite', '/'], ['webpack', '/webpack/index.html']]) {
    const page = await browser.newPage()
    const errors = []
    page.on('pageerror', (e) => errors.push(String(e)))
    // The browser logs every non-2xx response; the 404 below is deliberate.
    page.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && errors.push(m.text()))
    const tag = `install-${bundler}-${Date.now()}`
    await page.goto(`${server.url}${path}?tag=${tag}`)
    await t.check(`${bundler}: five components asking for one URL render its data with one request`, async () => {
      await page.waitForFunction(() => [...document.querySelectorAll('.widget')].every((li) => li.textContent !== 'loading'), null, { timeout: 10000 })
      const texts = await page.$$eval('.widget', (lis) => lis.map((li) => li.textContent))
      assert(texts.length === 5 && texts.every((s) => s.endsWith(`:${tag}`)), `rendered ${JSON.stringify(texts)}`)
      const count = await (await fetch(`${server.url}/test/count?tag=${tag}`)).json()
      assert(count.count === 1, `server saw ${count.count} requests`)
      const stats = await page.evaluate(() => window.__stats())
      assert(stats.networkRequests === 1 && stats.dedupHits === 4, `stats ${JSON.stringify(stats)}`)
    })
    await t.check(`${bundler}: errors are CalmfetchError instances with a kind`, async () => {
      const r = await page.evaluate(() => window.__checks())
      assert(r.badOptions?.isCalmfetchError && r.badOptions.kind === 'invalid', JSON.stringify(r.badOptions))
      assert(r.badOptions.message.includes('unknown option `ttl`'), r.badOptions.message)
      assert(r.httpError.isCalmfetchError && r.httpError.kind === 'http' && r.httpError.status === 404, JSON.stringify(r.httpError))
    })
    await t.check(`${bundler}: the page logged no errors`, async () => {
      assert(errors.length === 0, errors.join('\n'))
    })
    await page.close()
  }
  await t.check('Node (server-side rendering) can import and use the installed package', async () => {
    const mod = await import(pathToFileURL(join(app, 'node_modules', 'calmfetch', 'index.js')).href)
    const client = mod.createClient({ baseUrl: server.url })
    const tag = `install-node-${Date.now()}`
    const [a, b] = await Promise.all([client.get(`/test/echo?tag=${tag}`), client.get(`/test/echo?tag=${tag}`)])
    assert(a === b && a.query.tag === tag, JSON.stringify(a))
  })
  await t.check('Node can import calmfetch/server from the installed package, with its light-my-request', async () => {
    assert(installed.exports['./server']?.node === './server.js', 'exports["./server"].node')
    assert(installed.dependencies?.['light-my-request'] !== undefined, 'light-my-request is a dependency')
    const { batchHandler } = await import(pathToFileURL(join(app, 'node_modules', 'calmfetch', 'server.js')).href)
    const listener = (req, res) => {
      if (req.method === 'POST') return batch(req, res)
      res.writeHead(200, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify({ url: req.url }))
    }
    const batch = batchHandler(listener)
    const { createServer } = await import('node:http')
    const srv = createServer(listener).listen(0, '127.0.0.1')
    try {
      await new Promise((r) => srv.once('listening', r))
      const res = await fetch(`http://127.0.0.1:${srv.address().port}/batch`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ requests: [{ id: '1', url: '/x' }] }),
      })
      const body = await res.json()
      assert(body.responses?.[0]?.body?.url === '/x', JSON.stringify(body))
    } finally {
      srv.close()
    }
  })
} finally {
  await browser.close()
  await server.close()
}
process.exit(t.report() ? 0 : 1)
