// Persistence (`persist: true`) and logout in headless Chromium: last-known
// data survives a reload and shows at once while the socket is slow;
// `clear()` wipes it here, on disk and in the other tabs.
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { assert, countTag, launchBrowser, runner, servePage, sleep } from '../lib/browser.mjs'

const server = await servePage(join(dirname(fileURLToPath(import.meta.url)), 'page.html'), 'persist')
const browser = await launchBrowser()
const t = runner()

async function open(context, query = '') {
  const page = await context.newPage()
  await page.goto(`${server.url}/${query}`)
  await page.waitForFunction(() => window.ready === true)
  return page
}
const seen = (page) => page.evaluate(() => window.seen)
const waitSeen = (page, n = 1) => page.waitForFunction((n) => window.seen.length >= n, n, { timeout: 8000 })

try {
  await t.check('after a reload with a 6 s socket handshake, last-known data shows at once, marked stale, with no HTTP', async () => {
    const context = await browser.newContext()
    const key = '/api/games/4'
    server.setKnobs({ socketDelayMs: 0 })
    const first = await open(context, '?socket=1')
    await first.evaluate((k) => window.watch(k), key)
    await waitSeen(first)
    const body = (await seen(first))[0].data
    await sleep(300) // the IndexedDB write
    server.setKnobs({ socketDelayMs: 6000 })
    const before = server.stats().requests
    await first.reload()
    await first.waitForFunction(() => window.ready === true)
    await first.evaluate((k) => window.watch(k), key)
    await waitSeen(first)
    const [s] = await seen(first)
    assert(s.ms < 200, `kept data took ${s.ms} ms`)
    assert(s.stale === true, 'kept data is marked stale')
    assert(JSON.stringify(s.data) === JSON.stringify(body), 'kept data is what the first visit saw')
    await sleep(300)
    assert(server.stats().requests === before, `HTTP requests while the socket connects: ${server.stats().requests - before}`)
    server.setKnobs({ socketDelayMs: 0 })
    await context.close()
  })

  await t.check('clear() wipes the kept data: the next load starts empty', async () => {
    const context = await browser.newContext()
    const tag = `persist-clear-${Date.now()}`
    const url = `/test/echo?tag=${tag}`
    const page = await open(context)
    await page.evaluate((u) => window.client.get(u), url)
    await sleep(300)
    await page.reload()
    await page.waitForFunction(() => window.ready === true)
    await page.evaluate((u) => window.watch(u), url)
    await waitSeen(page)
    await page.evaluate(() => window.client.clear())
    await sleep(200)
    await page.reload()
    await page.waitForFunction(() => window.ready === true)
    await page.evaluate((u) => window.watch(u), url)
    await sleep(400)
    assert((await seen(page)).length === 0, 'data came back after clear()')
    assert((await countTag(server, tag)) === 1, 'nothing fetched by subscribe alone')
    await context.close()
  })

  await t.check('clear() in one tab clears the other tabs', async () => {
    const context = await browser.newContext()
    const url = `/test/echo?tag=persist-tabs-${Date.now()}`
    const [a, b] = [await open(context), await open(context)]
    await a.evaluate((u) => window.client.get(u), url)
    assert(await a.evaluate((u) => window.client.peek(u).data !== undefined, url), 'tab A has the data')
    await b.evaluate(() => window.client.clear())
    await a.waitForFunction((u) => window.client.peek(u).data === undefined, url, { timeout: 2000 })
    await context.close()
  })

  await t.check('Cache-Control: no-store answers are neither cached nor kept', async () => {
    const context = await browser.newContext()
    const tag = `persist-nostore-${Date.now()}`
    const url = `/test/echo?tag=${tag}&cache=no-store`
    const page = await open(context)
    await page.evaluate((u) => window.client.get(u), url)
    assert(await page.evaluate((u) => window.client.peek(u).data === undefined, url), 'no-store answer cached in memory')
    await page.evaluate((u) => window.client.get(u), url)
    assert((await countTag(server, tag)) === 2, 'the second get went to the network')
    await sleep(300)
    await page.reload()
    await page.waitForFunction(() => window.ready === true)
    await page.evaluate((u) => window.watch(u), url)
    await sleep(400)
    assert((await seen(page)).length === 0, 'a no-store answer was kept on disk')
    await context.close()
  })

  await t.check('kept entries are named by a salted SHA-256 of their key, never by the key', async () => {
    const context = await browser.newContext()
    const url = `/test/echo?tag=persist-names-${Date.now()}`
    const page = await open(context)
    await page.evaluate((u) => window.client.get(u), url)
    await sleep(300)
    const { names, salt } = await page.evaluate(() => new Promise((resolve) => {
      const open = indexedDB.open('calmfetch')
      open.onsuccess = () => {
        const tx = open.result.transaction(['entries', 'meta'])
        const keys = tx.objectStore('entries').getAllKeys()
        const salt = tx.objectStore('meta').get('salt')
        tx.oncomplete = () => resolve({ names: keys.result, salt: salt.result })
      }
    }))
    assert(names.length >= 1, 'something was kept')
    assert(names.every((n) => /^[0-9a-f]{64}$/.test(n)), `names: ${names}`)
    assert(/^[0-9a-f]{64}$/.test(salt), `the origin's salt: ${salt}`)
    await context.close()
  })

  await t.check('another user (partition) of the same browser never gets the kept data', async () => {
    const context = await browser.newContext()
    const url = `/test/echo?tag=persist-users-${Date.now()}`
    const alice = await open(context, '?partition=alice')
    await alice.evaluate((u) => window.client.get(u), url)
    await sleep(300)
    await alice.close()
    const bob = await open(context, '?partition=bob')
    await bob.evaluate((u) => window.watch(u), url)
    await sleep(400)
    assert((await seen(bob)).length === 0, "bob was shown alice's kept data")
    await context.close()
  })

  await t.check('persist without an identity is refused', async () => {
    const context = await browser.newContext()
    const page = await open(context)
    const message = await page.evaluate(async () => {
      const { createClient } = await import('./pkg/index.js')
      try {
        createClient({ persist: true })
        return 'no error'
      } catch (e) {
        return `${e.kind}: ${e.message}`
      }
    })
    assert(/^invalid: .*`persist`.*`partition`/.test(message), message)
    await context.close()
  })

  await t.check('a restore begun before clear() brings nothing back', async () => {
    const context = await browser.newContext()
    const url = `/test/echo?tag=persist-race-${Date.now()}`
    const page = await open(context)
    await page.evaluate((u) => window.client.get(u), url)
    await sleep(300)
    await page.reload()
    await page.waitForFunction(() => window.ready === true)
    // The subscribe starts reading IndexedDB; clear() lands before the read does.
    await page.evaluate((u) => {
      window.watch(u)
      window.client.clear()
    }, url)
    await sleep(400)
    assert((await seen(page)).length === 0, 'kept data came back after clear()')
    await context.close()
  })

  await t.check('bad persist and poll options are refused with a clear error', async () => {
    const context = await browser.newContext()
    const page = await open(context)
    const messages = await page.evaluate(async () => {
      const { createClient } = await import('./pkg/index.js')
      const out = []
      const bad = [
        { persist: 'yes' }, { persist: { name: '' } }, { persist: { maxEntries: 0 } }, { persist: { nmae: 'x' } },
        { poll: { jitter: 2 } }, { poll: { maxBackoffMs: -1 } }, { poll: { jiter: 0.1 } },
      ]
      for (const options of bad) {
        try {
          createClient(options)
          out.push('no error')
        } catch (e) {
          out.push(`${e.name}/${e.kind}: ${e.message}`)
        }
      }
      return out
    })
    const want = [
      /must be true, false/, /`name`/, /`maxEntries`/, /unknown option `nmae`/,
      /`poll.jitter` must be a number from 0 to 0.5, got 2/, /`poll.maxBackoffMs` must be a whole number/, /unknown option `jiter`/,
    ]
    messages.forEach((m, i) => assert(want[i].test(m) && m.startsWith('CalmfetchError/invalid'), m))
    await context.close()
  })
} finally {
  await browser.close()
  await server.close()
}
process.exit(t.report() ? 0 : 1)
