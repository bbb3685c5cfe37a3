// calmfetch/server behind an Express app, with the built client (pkg/) in a
// page of headless Chromium: the page's cookie reaches every batch item, a
// slow item does not hold up the NDJSON answer, and the socket endpoint
// serves the page's subscription with its own user's data.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { once } from 'node:events'
import express from 'express'
import { launchChromium } from '../lib/browser.mjs'
import { PKG, recorder, server, sleep } from './harness.mjs'

const PAGE = `<!doctype html><meta charset="utf-8"><title>calmfetch/server</title>
<script type="module">
  import { createClient } from '/pkg/index.js'
  document.cookie = 'sid=zoe; path=/'
  window.client = createClient({ batch: { endpoint: '/batch', windowMs: 20, stream: true }, socket: { url: '/ws', lingerMs: 50 } })
  window.ready = true
</script>`

const cookieUser = (req) => /(?:^|;\s*)sid=([\w-]+)/.exec(req.headers.cookie ?? '')?.[1] ?? null

test('in Chromium: cookie on every item, NDJSON arrival, a live key over the socket', { timeout: 60_000 }, async (t) => {
  const rec = recorder()
  const app = express()
  app.get('/', (req, res) => res.type('html').send(PAGE))
  app.use('/pkg', express.static(PKG))
  app.post('/batch', server.batchHandler(app))
  app.get('/item/:name', async (req, res) => {
    rec.enter(req)
    await sleep(Number(req.query.delay ?? 0))
    rec.leave()
    res.json({ name: req.params.name, user: cookieUser(req), item: server.batchItemOf(req)?.id ?? null })
  })
  const live = server.socketHandler({
    authorize: (req, key) => cookieUser(req) !== null && key.startsWith('/item/'),
    load: (key, req) => ({ live: key, user: cookieUser(req) }),
  })
  const srv = http.createServer(app)
  live.attach(srv, { path: '/ws' })
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  const url = `http://127.0.0.1:${srv.address().port}`
  const browser = await launchChromium()
  t.after(async () => {
    await browser.close()
    live.close()
    srv.closeAllConnections()
    await new Promise((r) => srv.close(r))
  })
  const page = await browser.newPage()
  const errors = []
  page.on('pageerror', (e) => errors.push(String(e)))
  await page.goto(url)
  await page.waitForFunction(() => window.ready === true, null, { timeout: 10_000 })

  const got = await page.evaluate(async () => {
    const t0 = performance.now()
    const at = {}
    const urls = ['/item/slow?delay=800', '/item/a', '/item/a', '/item/b?delay=30']
    const bodies = await Promise.all(urls.map((u) => window.client.get(u).then((b) => ((at[u] = performance.now() - t0), b))))
    return { at, bodies, stats: window.client.stats() }
  })
  console.log(`# Chromium NDJSON arrival (ms): ${Object.entries(got.at).map(([u, ms]) => `${u} ${ms.toFixed(0)}`).join(', ')}`)
  assert.equal(got.stats.batchesSent, 1)
  assert.equal(rec.count('/item/a'), 1, 'the two gets of /item/a were one item')
  assert.ok(got.bodies.every((b) => b.user === 'zoe' && b.item !== null), JSON.stringify(got.bodies))
  assert.ok(got.at['/item/a'] < 500 && got.at['/item/b?delay=30'] < 500, JSON.stringify(got.at))
  assert.ok(got.at['/item/slow?delay=800'] >= 790, JSON.stringify(got.at))

  await page.evaluate(() => {
    window.seen = []
    window.stop = window.client.subscribe('/item/live', (s) => s.data !== undefined && window.seen.push(s.data))
  })
  const end = Date.now() + 5000
  while (live.subscriptions !== 1 && Date.now() < end) await sleep(20)
  assert.equal(live.subscriptions, 1)
  await page.waitForFunction(() => window.seen.some((d) => d.live === '/item/live'), null, { timeout: 5000 })
  assert.equal(live.publish('/item/live', { pushed: 1 }), 1)
  await page.waitForFunction(() => window.seen.some((d) => d.pushed === 1), null, { timeout: 5000 })
  const seen = await page.evaluate(() => window.seen)
  assert.ok(seen.some((d) => d.user === 'zoe' && d.live === '/item/live'), JSON.stringify(seen))
  await page.evaluate(() => window.stop())
  while (live.subscriptions !== 0 && Date.now() < end + 3000) await sleep(20)
  assert.equal(live.subscriptions, 0)
  assert.deepEqual(errors, [])
})
