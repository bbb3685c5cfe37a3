// What calmfetch does where the browser lacks an API, in the browser that
// BROWSER names (README: "Browser support"). Each API is taken away before
// the package loads (page.html), so every browser shows every fallback:
// - without Web Locks, or without BroadcastChannel, there is no leader: every
//   tab polls on its own schedule;
// - without BroadcastChannel, clear() reaches only the tab that calls it
//   (and IndexedDB);
// - without navigator.connection, Save-Data is not seen: prefetch goes ahead;
// - without IndexedDB, `persist: true` keeps data in memory only;
// - while navigator.onLine is false, polling waits for the 'online' event.
// The first check also asserts which of these APIs the browser itself has.
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BROWSER, assert, countTag, launchBrowser, runner, servePage, sleep } from '../lib/browser.mjs'

const server = await servePage(join(dirname(fileURLToPath(import.meta.url)), 'page.html'), 'fallbacks')
const browser = await launchBrowser()
const t = runner()
const count = (tag) => countTag(server, tag)

// The README's browser-support table, as this suite checks it.
const HAS = {
  chromium: { locks: true, broadcastChannel: true, connection: true, indexedDB: true, onLine: true },
  firefox: { locks: true, broadcastChannel: true, connection: false, indexedDB: true, onLine: true },
  webkit: { locks: true, broadcastChannel: true, connection: false, indexedDB: true, onLine: true },
}

async function tabs(n, query) {
  const context = await browser.newContext()
  const pages = []
  for (let i = 0; i < n; i++) {
    const page = await context.newPage()
    await page.goto(`${server.url}/?${query}`)
    await page.waitForFunction(() => window.ready === true)
    pages.push(page)
  }
  return { context, pages }
}
const noErrors = async (pages) => {
  const errors = (await Promise.all(pages.map((p) => p.evaluate(() => window.errors)))).flat()
  assert(errors.length === 0, `errors in the page: ${errors}`)
}

/**
 * Two tabs poll one key every 300 ms for 1.5 s, with no leader: each keeps
 * its own schedule. Where BroadcastChannel still carries one tab's results to
 * the other (`heard`), they count there as fresh data and may stand in for a
 * tick; without it each tab makes all of its own requests.
 */
async function eachTabPolls(query, heard) {
  const tag = `fb-${query.replace(/\W/g, '')}-${Date.now()}`
  const { context, pages } = await tabs(2, query)
  for (const p of pages) await p.evaluate((u) => window.startPolling(u, 300), `/test/echo?tag=${tag}`)
  await sleep(1500)
  const ticks = await Promise.all(pages.map((p) => p.evaluate(() => window.client.stats().pollTicks)))
  const received = await Promise.all(pages.map((p) => p.evaluate(() => window.received())))
  const n = await count(tag)
  // One poller makes about 1500/300 + 1 = 6 requests; two tabs on their own about 12.
  assert(received.every((r) => r >= 3), `every tab gets data: ${received}`)
  if (heard) {
    assert(ticks.every((k) => k >= 1) && n >= 6, `every tab polls: ticks ${ticks}, ${n} requests at the server`)
  } else {
    assert(ticks.every((k) => k >= 3) && n >= 8, `every tab makes its own requests: ticks ${ticks}, ${n} at the server`)
  }
  // No hand-over is needed: when the busiest tab stops, the other goes on at its pace.
  const busiest = ticks[0] >= ticks[1] ? 0 : 1
  await pages[busiest].evaluate(() => window.poller.stop())
  const other = pages[1 - busiest]
  const before = await other.evaluate(() => window.client.stats().pollTicks)
  await sleep(1000)
  const after = await other.evaluate(() => window.client.stats().pollTicks)
  assert(after - before >= 2, `the other tab polled ${after - before} times in 1 s after the first stopped`)
  await other.evaluate(() => window.poller.stop())
  await noErrors(pages)
  return { context, pages, tag }
}

try {
  await t.check(`${BROWSER} has the APIs the README's browser-support table says`, async () => {
    const { context, pages: [page] } = await tabs(1, '')
    const apis = await page.evaluate(() => window.apis)
    console.log(`     ${BROWSER} ${browser.version()}: ${JSON.stringify(apis)}`)
    const want = HAS[BROWSER]
    for (const k of Object.keys(want)) assert(apis[k] === want[k], `${k}: the table says ${want[k]}, the browser has ${apis[k]}`)
    await context.close()
  })

  await t.check('without Web Locks every tab polls on its own, and nothing throws', async () => {
    const { context } = await eachTabPolls('no=locks', true)
    await context.close()
  })

  await t.check('without BroadcastChannel every tab polls on its own, and clear() reaches only its own tab and IndexedDB', async () => {
    const { context, pages: [a, b], tag } = await eachTabPolls('no=channel&persist=1', false)
    const url = `/test/echo?tag=${tag}-clear`
    for (const p of [a, b]) await p.evaluate((u) => window.client.get(u), url)
    await sleep(300) // the IndexedDB writes
    await b.evaluate(() => window.client.clear())
    await sleep(300)
    assert(await b.evaluate((u) => window.client.peek(u).data === undefined, url), 'clear() emptied its own tab')
    assert(await a.evaluate((u) => window.client.peek(u).data !== undefined, url), 'the other tab keeps its data in memory')
    await noErrors([a, b])
    await a.reload()
    await a.waitForFunction(() => window.ready === true)
    await a.evaluate((u) => window.watch(u), url)
    await sleep(400)
    assert((await a.evaluate(() => window.seen.length)) === 0, 'the kept data came back from IndexedDB after clear()')
    await context.close()
  })

  await t.check('without navigator.connection Save-Data is not seen: a prefetch goes ahead', async () => {
    const tag = `fb-noconn-${Date.now()}`
    const { context, pages: [page] } = await tabs(1, 'no=connection')
    const stats = await page.evaluate(async (tag) => {
      window.client.prefetch(`/test/echo?tag=${tag}`)
      await new Promise((r) => setTimeout(r, 300))
      return window.client.stats()
    }, tag)
    assert((await count(tag)) === 1, 'the prefetch reached the server')
    assert(stats.prefetched === 1 && stats.prefetchSkipped === 0, JSON.stringify(stats))
    await noErrors([page])
    await context.close()
  })

  await t.check('without IndexedDB persist: true keeps data in memory only, and nothing throws', async () => {
    const tag = `fb-noidb-${Date.now()}`
    const url = `/test/echo?tag=${tag}`
    const { context, pages: [page] } = await tabs(1, 'no=idb&persist=1')
    const got = await page.evaluate(async (u) => (await window.client.get(u)).query.tag, url)
    assert(got === tag, `get: ${got}`)
    await sleep(300)
    await page.reload()
    await page.waitForFunction(() => window.ready === true)
    await page.evaluate((u) => window.watch(u), url)
    await sleep(400)
    assert((await page.evaluate(() => window.seen.length)) === 0, 'data came back after a reload without IndexedDB')
    assert((await count(tag)) === 1, 'subscribe alone fetched')
    await noErrors([page])
    await context.close()
  })

  await t.check('while navigator.onLine is false polling waits, and resumes with one request on the online event', async () => {
    const tag = `fb-offline-${Date.now()}`
    const { context, pages: [page] } = await tabs(1, '')
    await page.evaluate((u) => window.startPolling(u, 200), `/test/echo?tag=${tag}`)
    await sleep(300)
    await page.evaluate(() => window.setOffline(true))
    const paused = await count(tag)
    await sleep(800)
    assert((await count(tag)) === paused, `requests while offline: ${paused} -> ${await count(tag)}`)
    await page.evaluate(() => window.setOffline(false))
    await sleep(100)
    assert((await count(tag)) === paused + 1, `one request on coming back online: ${paused} -> ${await count(tag)}`)
    await page.evaluate(() => window.poller.stop())
    await noErrors([page])
    await context.close()
  })
} finally {
  await browser.close()
  await server.close()
}
process.exit(t.report() ? 0 : 1)
