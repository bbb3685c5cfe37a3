// Installs the built package (npm pack of pkg/) into a fresh Vite + React app
// the way a user would, builds it, serves it from the reference server and
// loads it in headless Chromium. Also imports the installed package from
// Node, as server-side rendering would.
import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { startServer } from '../../www/server/server.mjs'
import { assert, launchChromium, runner } from '../lib/browser.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')
const pkgDir = process.env.CALMFETCH_PKG ?? join(root, 'pkg')
const app = join(root, 'tests', '.out', 'install-app')
const rootManifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const dev = rootManifest.devDependencies

rmSync(app, { recursive: true, force: true })
mkdirSync(app, { recursive: true })
cpSync(join(here, 'app'), app, { recursive: true })
execFileSync('npm', ['pack', pkgDir, '--pack-destination', app, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] })
const tarball = readdirSync(app).find((f) => f.endsWith('.tgz'))
writeFileSync(join(app, 'package.json'), JSON.stringify({
  name: 'install-check',
  private: true,
  type: 'module',
  dependencies: { calmfetch: `file:./${tarball}`, react: dev.react, 'react-dom': dev['react-dom'] },
  devDependencies: { vite: dev.vite },
}, null, 2))
const npm = (args) => execFileSync('npm', args, { cwd: app, stdio: ['ignore', 'ignore', 'inherit'] })
npm(['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'])
execFileSync(join(app, 'node_modules', '.bin', 'vite'), ['build', '--logLevel', 'error'], { cwd: app, stdio: 'inherit' })

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
  })

  const page = await browser.newPage()
  const errors = []
  page.on('pageerror', (e) => errors.push(String(e)))
  // The browser logs every non-2xx response; the 404 below is deliberate.
page.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && errors.push(m.text()))
  const tag = `install-${Date.now()}`
  await page.goto(`${server.url}/?tag=${tag}`)
  await t.check('five components asking for one URL render its data with one request', async () => {
    await page.waitForFunction(() => [...document.querySelectorAll('.widget')].every((li) => li.textContent !== 'loading'), null, { timeout: 10000 })
    const texts = await page.$$eval('.widget', (lis) => lis.map((li) => li.textContent))
    assert(texts.length === 5 && texts.every((s) => s.endsWith(`:${tag}`)), `rendered ${JSON.stringify(texts)}`)
    const count = await (await fetch(`${server.url}/test/count?tag=${tag}`)).json()
    assert(count.count === 1, `server saw ${count.count} requests`)
    const stats = await page.evaluate(() => window.__stats())
    assert(stats.networkRequests === 1 && stats.dedupHits === 4, `stats ${JSON.stringify(stats)}`)
  })
  await t.check('errors are CalmfetchError instances with a kind', async () => {
    const r = await page.evaluate(() => window.__checks())
    assert(r.badOptions?.isCalmfetchError && r.badOptions.kind === 'invalid', JSON.stringify(r.badOptions))
    assert(r.badOptions.message.includes('unknown option `ttl`'), r.badOptions.message)
    assert(r.httpError.isCalmfetchError && r.httpError.kind === 'http' && r.httpError.status === 404, JSON.stringify(r.httpError))
  })
  await t.check('the page logged no errors', async () => {
    assert(errors.length === 0, errors.join('\n'))
  })
  await t.check('Node (server-side rendering) can import and use the installed package', async () => {
    const mod = await import(pathToFileURL(join(app, 'node_modules', 'calmfetch', 'index.js')).href)
    const client = mod.createClient({ baseUrl: server.url })
    const [a, b] = await Promise.all([client.get(`/test/echo?tag=${tag}-node`), client.get(`/test/echo?tag=${tag}-node`)])
    assert(a === b && a.query.tag === `${tag}-node`, JSON.stringify(a))
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
