// Server rendering with Next.js (App Router at /, Pages Router at /legacy): installs the packed package
// (npm pack of pkg/) into a small Next app (tests/ssr/app), runs `next build`
// and `next start` on a free loopback port, and checks, with plain HTTP and
// in headless Chromium, that
//   - the server HTML holds the data a server component prefetched;
//   - hydration logs no mismatch (nor any other console error);
//   - the browser sends no request for the prefetched key (the app's route
//     handler counts requests per user), also after a client-side
//     navigation, whose page's state reaches the tab's one client;
//   - two users rendered one after the other never see each other's data.
// This is also the install check for Next.js (tests/install covers Vite,
// webpack and Node).
import { execFileSync, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { assert, launchChromium, runner, sleep } from '../lib/browser.mjs'
import { installPacked } from '../lib/pack.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const env = { ...process.env, NEXT_TELEMETRY_DISABLED: '1' }

const { app, installSeconds } = installPacked(join(here, 'app'), 'ssr-app', ['next', 'react', 'react-dom'])
const t0 = performance.now()
execFileSync(join(app, 'node_modules', '.bin', 'next'), ['build'], { cwd: app, env, stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 })
console.log(`     npm install ${installSeconds.toFixed(1)} s, next build ${((performance.now() - t0) / 1000).toFixed(1)} s`)

/** A free loopback port (the OS picks it; next start binds it right after). */
async function freePort() {
  const srv = createServer()
  await new Promise((res) => srv.listen(0, '127.0.0.1', res))
  const { port } = srv.address()
  await new Promise((res) => srv.close(res))
  return port
}

const port = await freePort()
const origin = `http://127.0.0.1:${port}`
const next = spawn(join(app, 'node_modules', '.bin', 'next'), ['start', '-H', '127.0.0.1', '-p', String(port)], {
  cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
})
let log = ''
next.stdout.on('data', (d) => (log += d))
next.stderr.on('data', (d) => (log += d))
const stop = () => {
  try {
    process.kill(-next.pid, 'SIGTERM') // the group of the process started here
  } catch {}
}
process.on('exit', stop)

const t = runner()
let browser
try {
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${origin}/api/count`)).ok) break
    } catch {}
    if (i >= 300 || next.exitCode !== null) throw new Error(`next start did not answer within 30 s:\n${log}`)
    await sleep(100)
  }
  const counts = async () => (await fetch(`${origin}/api/count`)).json()
  const html = async (user, path = '/') => (await fetch(`${origin}${path}`, { headers: { cookie: `user=${user}` } })).text()

  for (const [path, user, how] of [['/', 'alice', 'a server component'], ['/legacy', 'erin', 'getServerSideProps']]) {
    await t.check(`${path}: the server HTML holds the data ${how} prefetched`, async () => {
      const page = await html(user, path)
      assert(page.includes('<p id="prefetched">true</p>'), 'prefetch resolved true')
      assert(new RegExp(`<section id="profile" data-status="success">${user}: private-${user}-1</section>`).test(page), page.slice(0, 2000))
      // The state the page carries names no credential value.
      assert(!page.includes(`user=${user}`), 'the cookie value is in the HTML')
      assert((await counts())[user] === 1, JSON.stringify(await counts()))
    })
  }

  await t.check('two users rendered one after the other see only their own data', async () => {
    const bob = await html('bob')
    assert(bob.includes('bob: private-bob-1'), 'bob sees his data')
    assert(!bob.includes('alice'), 'bob sees none of alice’s')
    const alice = await html('alice')
    assert(alice.includes('alice: private-alice-2') && !alice.includes('bob'), 'alice sees only hers')
  })

  browser = await launchChromium()
  for (const [path, user] of [['/', 'carol'], ['/', 'dave'], ['/legacy', 'frank']]) {
    await t.check(`in Chromium (${user}, ${path}): the page hydrates without a mismatch and sends no request for the prefetched key${path === '/' ? ', nor after a client-side navigation to a page with its own state' : ''}`, async () => {
      const context = await browser.newContext()
      await context.addCookies([{ name: 'user', value: user, url: origin }])
      const page = await context.newPage()
      const problems = []
      const asked = []
      page.on('pageerror', (e) => problems.push(String(e)))
      page.on('console', (m) => {
        if (m.type() !== 'error' && m.type() !== 'warning') return
        if (m.location().url?.endsWith('/favicon.ico')) return // the app has no icon
        problems.push(`${m.type()}: ${m.text()}`)
      })
      page.on('request', (r) => r.url().includes('/api/') && asked.push(r.url()))
      await page.goto(`${origin}${path}`)
      await page.waitForFunction(() => window.__calmfetch?.stats().cacheEntries === 1, null, { timeout: 10_000 })
      await sleep(300) // effects, and any request they would send
      const text = await page.textContent('#profile')
      assert(text === `${user}: private-${user}-1`, `rendered ${JSON.stringify(text)}`)
      const stats = await page.evaluate(() => window.__calmfetch.stats())
      assert(stats.networkRequests === 0, `the browser client fetched: ${JSON.stringify(stats)}`)
      assert(asked.length === 0, `the browser asked for ${asked.join(', ')}`)
      assert((await counts())[user] === 1, `the backend saw ${(await counts())[user]} requests of ${user} (the server's only)`)
      if (path === '/') {
        // Client-side navigation: the next page's state reaches the same client.
        await page.evaluate(() => (window.__calmfetch.firstPage = true))
        await page.click('#to-other')
        await page.waitForSelector('#other[data-status="success"]', { timeout: 10_000 })
        assert((await page.textContent('#other')) === `${user}: private-${user}-2`, await page.textContent('#other'))
        assert(await page.evaluate(() => window.__calmfetch.firstPage === true), 'the tab made a second client')
        assert(asked.length === 0 && (await page.evaluate(() => window.__calmfetch.stats().networkRequests)) === 0, `the browser fetched: ${asked}`)
        assert((await counts())[user] === 2, 'one request per page, both from the server')
      }
      assert(problems.length === 0, problems.join('\n'))
      await context.close()
    })
  }
} finally {
  await browser?.close()
  stop()
}
process.exit(t.report() ? 0 : 1)
