// The package under a strict Content-Security-Policy: no eval, no inline
// script, wasm compiled only because of 'wasm-unsafe-eval'. A tiny server on
// 127.0.0.1 sends the header with every response.
import { createServer } from 'node:http'
import { readFileSync } from 'node:fs'
import { dirname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'
import { assert, launchBrowser, runner } from '../lib/browser.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const pkg = process.env.CALMFETCH_PKG ?? join(root, 'pkg')
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'"
const page = `<!doctype html><html><head><meta charset="utf-8"><title>csp</title></head>
<body><script type="module" src="/main.js"></script></body></html>`
const main = `import { createClient } from '/pkg/index.js'
window.violations = []
document.addEventListener('securitypolicyviolation', (e) => window.violations.push(e.violatedDirective + ' ' + e.blockedURI))
const client = createClient()
Promise.all([client.get('/api/x'), client.get('/api/x')]).then(
  ([a, b]) => { window.result = { a, same: a === b, stats: client.stats() } },
  (e) => { window.result = { error: String(e) } },
)`
let apiCalls = 0
const server = createServer((req, res) => {
  const url = new URL(req.url, 'http://x')
  const send = (status, type, body) => {
    res.writeHead(status, { 'Content-Type': type, 'Content-Security-Policy': CSP })
    res.end(body)
  }
  if (url.pathname === '/') return send(200, 'text/html', page)
  if (url.pathname === '/main.js') return send(200, 'text/javascript', main)
  if (url.pathname === '/api/x') {
    apiCalls++
    return send(200, 'application/json', JSON.stringify({ ok: true, n: apiCalls }))
  }
  if (url.pathname.startsWith('/pkg/')) {
    const file = normalize(join(pkg, url.pathname.slice(5)))
    if (!file.startsWith(pkg)) return send(403, 'text/plain', 'no')
    try {
      return send(200, 'text/javascript', readFileSync(file))
    } catch {
      return send(404, 'text/plain', 'not found')
    }
  }
  send(404, 'text/plain', 'not found')
})
await new Promise((r) => server.listen(0, '127.0.0.1', r))
const base = `http://127.0.0.1:${server.address().port}`
const browser = await launchBrowser()
const t = runner()
try {
  await t.check(`works under "${CSP}"`, async () => {
    const p = await browser.newPage()
    const errors = []
    p.on('pageerror', (e) => errors.push(String(e)))
    await p.goto(base + '/')
    await p.waitForFunction(() => window.result !== undefined, null, { timeout: 10000 })
    const r = await p.evaluate(() => ({ result: window.result, violations: window.violations }))
    assert(r.result.a?.ok === true && r.result.same, `result: ${JSON.stringify(r.result)}`)
    assert(apiCalls === 1, `server saw ${apiCalls} calls`)
    assert(r.violations.length === 0, `CSP violations: ${r.violations}`)
    assert(errors.length === 0, `page errors: ${errors}`)
  })
} finally {
  await browser.close()
  server.close()
}
process.exit(t.report() ? 0 : 1)
