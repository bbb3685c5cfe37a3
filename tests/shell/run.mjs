// The shell tests (tests/web, wasm-bindgen-test) in Firefox ESR or WebKitGTK:
//
//   BROWSER=firefox node tests/shell/run.mjs
//   BROWSER=webkit node tests/shell/run.mjs
//
// Starts the two reference servers that scripts/test.sh starts for the
// Chromium run (one with a 6 s WebSocket handshake), then runs
// `cargo test --target wasm32-unknown-unknown --test web` with
// wasm-bindgen-test-runner driving the browser: geckodriver for Firefox;
// for WebKit, WebKitWebDriver behind a small proxy that adds the MiniBrowser
// to the new-session request (the runner's Safari mode sends none).
// Exits with cargo's status; every process it started is ended.
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startServer } from '../../www/server/server.mjs'
import { BROWSER } from '../lib/browser.mjs'
import { KINDS, freePort, kill, start, xDisplay } from '../lib/webdriver.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const LIMIT_S = 480 // build and run; the Chromium run takes about a minute
if (!['firefox', 'webkit'].includes(BROWSER)) {
  console.error(`BROWSER=${BROWSER}: this runs firefox or webkit (Chromium: wasm-pack test --headless --chrome, see scripts/test.sh)`)
  process.exit(2)
}

const server = await startServer({ port: 0 })
const slow = await startServer({ port: 0, socketDelayMs: 6000 })
const env = {
  ...process.env,
  CALMFETCH_TEST_SERVER: server.url,
  CALMFETCH_SLOW_SERVER: slow.url,
  WASM_BINDGEN_TEST_TIMEOUT: '300',
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER: 'wasm-bindgen-test-runner',
}
const cleanups = [() => server.close(), () => slow.close()]

if (BROWSER === 'firefox') {
  // The runner starts geckodriver itself and merges this into its capabilities.
  const dir = join(root, 'tests', '.out', 'shell')
  mkdirSync(dir, { recursive: true })
  const caps = join(dir, 'webdriver-firefox.json')
  writeFileSync(caps, JSON.stringify(KINDS.firefox.capabilities()))
  Object.assign(env, { GECKODRIVER: KINDS.firefox.driver(), WASM_BINDGEN_TEST_WEBDRIVER_JSON: caps })
} else {
  const x = await xDisplay()
  cleanups.push(() => x.close())
  const driverPort = await freePort()
  const driver = start(KINDS.webkit.driver(), KINDS.webkit.args(driverPort), { ...process.env, DISPLAY: x.display })
  cleanups.push(() => kill(driver))
  const upstream = `http://127.0.0.1:${driverPort}`
  const proxy = createServer(async (req, res) => {
    let body = ''
    for await (const chunk of req) body += chunk
    if (req.method === 'POST' && req.url === '/session') {
      body = JSON.stringify({ capabilities: { alwaysMatch: KINDS.webkit.capabilities() } })
    }
    try {
      const r = await fetch(upstream + req.url, {
        method: req.method,
        headers: { 'Content-Type': 'application/json' },
        body: ['GET', 'HEAD'].includes(req.method) ? undefined : body,
        signal: AbortSignal.timeout(120_000),
      })
      res.writeHead(r.status, { 'Content-Type': 'application/json' })
      res.end(await r.text())
    } catch (e) {
      res.writeHead(500, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify({ value: { error: 'unknown error', message: `proxy: ${e.message}` } }))
    }
  })
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r))
  cleanups.push(() => proxy.close())
  // Wait for the driver, then hand the runner the proxy as a remote Safari driver.
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${upstream}/status`, { signal: AbortSignal.timeout(1000) })).ok) break
    } catch {}
    if (i > 150) throw new Error('WebKitWebDriver did not start')
    await new Promise((r) => setTimeout(r, 100))
  }
  env.SAFARIDRIVER_REMOTE = `http://127.0.0.1:${proxy.address().port}`
}

const cargo = spawn('cargo', ['test', '--target', 'wasm32-unknown-unknown', '--test', 'web'], { cwd: root, env, stdio: 'inherit' })
const timer = setTimeout(() => {
  console.error(`the shell tests in ${BROWSER} did not finish within ${LIMIT_S} s`)
  cargo.kill('SIGKILL')
}, LIMIT_S * 1000)
const code = await new Promise((r) => cargo.on('exit', (c) => r(c ?? 1)))
clearTimeout(timer)
for (const c of cleanups) await c()
process.exit(code)
