// The shell tests: calmfetch's public API in a browser page against the
// reference server, in the browser that BROWSER names:
//
//   node tests/shell/run.mjs                      # Chromium (Playwright)
//   BROWSER=firefox node tests/shell/run.mjs      # Firefox ESR (geckodriver)
//   BROWSER=webkit node tests/shell/run.mjs       # WebKitGTK (WebKitWebDriver, on Xvfb)
//   node tests/shell/run.mjs socket:: ttl         # only the tests whose name contains one of these
//
// The tests are in tests.mjs, run in page.html. The page and the package
// (CALMFETCH_PKG, else pkg/) are served by one reference server; a second
// one, whose WebSocket handshake takes 6 s (the incident), is passed to the
// page as `?slow=`. Each test runs in a freshly loaded page, within
// TEST_MS; prints ok/FAIL per test and `N passed, M failed`; exits 1 if any
// failed. Every browser and server it started is closed, whatever happens.
import { cpSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startServer } from '../../www/server/server.mjs'
import { BROWSER, launchBrowser, runner, servePage } from '../lib/browser.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')
const TEST_MS = 30_000 // each test, in the page
const GRACE_MS = 20_000 // on top of it, for the driver to answer
const TOTAL_MS = 10 * 60_000 // the whole run
const only = process.argv.slice(2)

const t = runner()
const started = Date.now()
let server = null
let slow = null
let browser = null
let page = null

async function closeAll() {
  const b = browser
  browser = page = null
  await Promise.allSettled([b?.close(), server?.close(), slow?.close()])
}

const watchdog = setTimeout(async () => {
  console.error(`the shell tests in ${BROWSER} did not finish within ${TOTAL_MS / 1000} s`)
  await Promise.race([closeAll(), new Promise((r) => setTimeout(r, 10_000))])
  process.exit(1)
}, TOTAL_MS)

/** `p`, or a rejection after `ms`. */
function within(p, ms, what) {
  let timer
  return Promise.race([
    p,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

let ok = false
try {
  server = await servePage(join(here, 'page.html'), 'shell')
  // servePage copies the page and the package; the tests module goes next to them.
  cpSync(join(here, 'tests.mjs'), join(root, 'tests', '.out', 'shell', 'tests.mjs'))
  slow = await startServer({ port: 0, socketDelayMs: 6000 })
  const pageUrl = `${server.url}/?slow=${encodeURIComponent(slow.url)}`
  browser = await launchBrowser()
  console.log(`shell tests in ${BROWSER} ${browser.version()}, against ${server.url} and ${slow.url} (6 s socket handshake)`)

  let pageErrors = []
  /** A freshly loaded test page. */
  async function fresh() {
    if (page === null) {
      page = await browser.newPage()
      page.on('pageerror', (e) => pageErrors.push(e.message))
    }
    await page.goto(pageUrl)
    await page.waitForFunction(() => window.ready === true, undefined, { timeout: 30_000 })
    pageErrors = []
  }

  await fresh()
  const names = (await page.evaluate(() => window.testNames)).filter((n) => only.length === 0 || only.some((o) => n.includes(o)))
  if (names.length === 0) throw new Error(`no test matches ${only.join(' ')}`)
  for (const name of names) {
    await t.check(name, async () => {
      await within(fresh(), 45_000, 'loading the test page')
      let r
      try {
        r = await within(page.evaluate(([n, ms]) => window.runTest(n, ms), [name, TEST_MS]), TEST_MS + GRACE_MS, 'the page')
      } catch (e) {
        // The page (or its driver) is stuck: start over with a new browser.
        await Promise.race([browser.close().catch(() => {}), new Promise((r) => setTimeout(r, 10_000))])
        page = null
        browser = await launchBrowser()
        throw e
      }
      // Errors that escaped to the page during the test (an unhandled rejection, a throwing timer).
      if (BROWSER !== 'chromium') await page.evaluate(() => 0) // the WebDriver facade reports them with a command's answer
      const escaped = pageErrors.splice(0)
      if (!r.ok) throw new Error(`${r.message}${escaped.length ? `\n     page errors: ${escaped.join(' | ')}` : ''}`)
      if (escaped.length) throw new Error(`uncaught errors in the page: ${escaped.join(' | ')}`)
      if (process.env.SHELL_TIMES) console.log(`     ${Math.round(r.ms)} ms`)
    })
  }
  ok = t.report()
} catch (e) {
  console.error(`the shell tests could not run: ${e?.stack ?? e}`)
  t.report()
} finally {
  await closeAll()
  clearTimeout(watchdog)
}
console.log(`shell tests in ${BROWSER}: ${((Date.now() - started) / 1000).toFixed(1)} s`)
process.exit(ok ? 0 : 1)
