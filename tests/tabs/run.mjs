// Several pages of one browser context act as tabs of one origin: one poller
// across tabs (Web Locks + BroadcastChannel), hand-over when the leader closes
// or is hidden, the hidden-page pause, and nothing left after stop().
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { assert, countTag, launchBrowser, runner, servePage, sleep } from '../lib/browser.mjs'

const server = await servePage(join(dirname(fileURLToPath(import.meta.url)), 'page.html'), 'tabs')
const browser = await launchBrowser()
const t = runner()
const count = (tag) => countTag(server, tag)

async function tabs(n) {
  const context = await browser.newContext()
  const pages = []
  for (let i = 0; i < n; i++) {
    const page = await context.newPage()
    await page.goto(server.url + '/')
    await page.waitForFunction(() => window.ready === true)
    pages.push(page)
  }
  return { context, pages }
}

const ticks = (pages) => Promise.all(pages.map((p) => p.evaluate(() => window.ticks())))
const leaderOf = async (pages) => {
  const before = await ticks(pages)
  await sleep(700)
  const after = await ticks(pages)
  const active = pages.filter((_, i) => after[i] > before[i])
  assert(active.length === 1, `exactly one tab polls; ticks went ${before} -> ${after}`)
  return active[0]
}

try {
  await t.check('three tabs polling one key make the requests of one', async () => {
    const tag = `tabs-${Date.now()}`
    const { context, pages } = await tabs(3)
    for (const p of pages) await p.evaluate((u) => window.startPolling(u, 300), `/test/echo?tag=${tag}`)
    await sleep(2000)
    const n = await count(tag)
    // About 2000/300 + 1 = 7 ticks for one poller; three independent tabs would make ~21.
    assert(n >= 5 && n <= 9, `server saw ${n} requests`)
    const received = await Promise.all(pages.map((p) => p.evaluate(() => window.received())))
    assert(received.every((r) => r >= 4), `every tab got the data: ${received}`)
    await context.close()
  })

  await t.check('when the leader tab closes, another takes over within one interval', async () => {
    const tag = `handoff-${Date.now()}`
    const { context, pages } = await tabs(3)
    for (const p of pages) await p.evaluate((u) => window.startPolling(u, 300), `/test/echo?tag=${tag}`)
    await sleep(600)
    const leader = await leaderOf(pages)
    await leader.close()
    const rest = pages.filter((p) => p !== leader)
    const before = await count(tag)
    await sleep(450) // one interval (300 ms + 10% jitter) and some slack
    assert((await count(tag)) > before, 'polling went on after the leader closed')
    await leaderOf(rest)
    await context.close()
  })

  await t.check('a hidden leader hands over to a visible tab', async () => {
    const tag = `hidden-${Date.now()}`
    const { context, pages } = await tabs(2)
    for (const p of pages) await p.evaluate((u) => window.startPolling(u, 300), `/test/echo?tag=${tag}`)
    await sleep(600)
    const leader = await leaderOf(pages)
    await leader.evaluate(() => window.setHidden(true))
    const other = pages.find((p) => p !== leader)
    const next = await leaderOf(pages)
    assert(next === other, 'the visible tab polls now')
    await context.close()
  })

  await t.check('a hidden page pauses polling and refreshes on return only if its data is old', async () => {
    const tag = `pause-${Date.now()}`
    const { context, pages: [page] } = await tabs(1)
    await page.evaluate((u) => window.startPolling(u, 300), `/test/echo?tag=${tag}`)
    await sleep(400)
    await page.evaluate(() => window.setHidden(true))
    const paused = await count(tag)
    await sleep(1000)
    assert((await count(tag)) === paused, `no requests while hidden (${paused} -> ${await count(tag)})`)
    await page.evaluate(() => window.setHidden(false))
    await sleep(100)
    assert((await count(tag)) === paused + 1, 'old data: one request at once on becoming visible')
    await context.close()
  })

  await t.check('a background poller added in a hidden tab that polls the key in the foreground takes the lead', async () => {
    const tag = `bg-late-${Date.now()}`
    const url = `/test/echo?tag=${tag}`
    const { context, pages: [page] } = await tabs(1)
    await page.evaluate((u) => window.startPolling(u, 300), url)
    await sleep(400)
    await page.evaluate(() => window.setHidden(true))
    await sleep(100)
    const paused = await count(tag)
    await page.evaluate((u) => window.startPolling(u, 300, true), url)
    await sleep(1000)
    const n = (await count(tag)) - paused
    assert(n >= 2, `the hidden tab polls for its background poller: ${n} requests in 1 s`)
    await page.evaluate(() => window.stopPolling())
    await context.close()
  })

  await t.check("one tab leads all of an identity's polled keys, even when another tab led one of them first", async () => {
    const tag = `group-${Date.now()}`
    const one = `/test/echo?tag=${tag}&k=1`
    const two = `/test/echo?tag=${tag}&k=2`
    const { context, pages } = await tabs(2)
    const [a, b] = pages
    await a.evaluate((u) => window.startPolling(u, 300), one) // a leads the identity and key 1
    await sleep(200)
    await b.evaluate((u) => window.startPolling(u, 300), two) // key 2's lock is free: b takes it
    await sleep(400)
    await a.evaluate((u) => window.startPolling(u, 300), two) // a takes key 2 from b
    await b.evaluate((u) => window.startPolling(u, 300), one)
    await sleep(300)
    const leader = await leaderOf(pages)
    assert(leader === a, 'the tab that leads the identity polls both keys')
    const received = await b.evaluate(() => window.received())
    assert(received >= 2, `the other tab still gets both keys' data: ${received}`)
    for (const p of pages) await p.evaluate(() => window.stopPolling())
    await context.close()
  })

  await t.check('after stop() nothing polls in any tab', async () => {
    const tag = `stop-${Date.now()}`
    const { context, pages } = await tabs(2)
    for (const p of pages) await p.evaluate((u) => window.startPolling(u, 200), `/test/echo?tag=${tag}`)
    await sleep(500)
    for (const p of pages) await p.evaluate(() => window.stopPolling())
    await sleep(100)
    const n = await count(tag)
    await sleep(800)
    assert((await count(tag)) === n, 'no request after stop()')
    await context.close()
  })
  await t.check('where the page may not use Web Locks (a SecurityError), each tab polls on its own', async () => {
    const tag = `nolocks-${Date.now()}`
    const { context, pages } = await tabs(2)
    for (const p of pages) {
      await p.evaluate(() => {
        navigator.locks.request = () => Promise.reject(new DOMException('third-party storage is blocked', 'SecurityError'))
      })
      await p.evaluate((u) => window.startPolling(u, 300), `/test/echo?tag=${tag}`)
    }
    await sleep(1000)
    const received = await Promise.all(pages.map((p) => p.evaluate(() => window.received())))
    assert(received.every((r) => r >= 2), `every tab got data: ${received}`)
    const n = await count(tag)
    assert(n >= 4, `server saw ${n} requests: both tabs poll`)
    await context.close()
  })

} finally {
  await browser.close()
  await server.close()
}
process.exit(t.report() ? 0 : 1)
