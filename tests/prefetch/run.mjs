// Hover prefetch with real pointer movement in headless Chromium.
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { assert, countTag, launchBrowser, runner, servePage, sleep } from '../lib/browser.mjs'

const server = await servePage(join(dirname(fileURLToPath(import.meta.url)), 'page.html'), 'prefetch')
const browser = await launchBrowser()
const t = runner()
let n = 0

async function fresh(options) {
  const page = await browser.newPage()
  await page.goto(server.url + '/')
  await page.waitForFunction(() => window.ready === true)
  const tag = `pf-${Date.now()}-${n++}`
  await page.evaluate(([tag, options]) => window.setup(tag, options), [tag, options])
  const counts = async () => Promise.all([1, 2, 3, 4].map((i) => countTag(server, `${tag}-${i}`)))
  const centre = async (id) => {
    const b = await page.locator(`#${id}`).boundingBox()
    return [b.x + b.width / 2, b.y + b.height / 2]
  }
  return { page, tag, counts, centre }
}

try {
  await t.check('a brief pass over a link fetches nothing; resting on it prefetches once', async () => {
    // The pass must stay under 65 ms on the link; a driver slowed by a loaded
    // machine can take longer (the page measures it), and then it is retried.
    for (let attempt = 1; ; attempt++) {
      const { page, counts, centre } = await fresh()
      await page.mouse.move(...(await centre('l1')))
      await sleep(30)
      await page.mouse.move(600, 600)
      const dwell = await page.evaluate(() => window.dwell.l1.ms)
      if (dwell >= 65) {
        await page.close()
        assert(attempt < 3, `the driver passed over the link too slowly in 3 attempts: ${dwell} ms`)
        continue
      }
      await sleep(150)
      assert((await counts())[0] === 0, `no request for a ${dwell} ms pass`)
      await page.mouse.move(...(await centre('l1')))
      await sleep(150)
      assert((await counts())[0] === 1, 'one request after resting 150 ms')
      await page.close()
      return
    }
  })

  await t.check('brushing three links on the way to the fourth costs one request, and the click has its data at once', async () => {
    // The pointer must pass each brushed link in under 65 ms; on a loaded
    // machine the driver can be slower than that, so a slow pass is retried.
    for (let attempt = 1; ; attempt++) {
      const { page, counts, centre } = await fresh()
      const points = {}
      for (const id of ['l1', 'l2', 'l3', 'l4']) points[id] = await centre(id)
      await page.mouse.move(600, 600)
      for (const id of ['l1', 'l2', 'l3', 'l4']) await page.mouse.move(...points[id])
      const dwell = await page.evaluate(() => ['l1', 'l2', 'l3'].map((id) => window.dwell[id].ms))
      if (dwell.some((ms) => ms >= 65)) {
        await page.close()
        assert(attempt < 3, `the driver brushed the links too slowly in 3 attempts: ${dwell} ms`)
        continue
      }
      await sleep(150)
      await page.mouse.down()
      await page.mouse.up()
      await page.waitForFunction(() => typeof window.clickToData === 'number')
      const c = await counts()
      assert(c.join(',') === '0,0,0,1', `requests per link: ${c} (dwell ${dwell} ms)`)
      const ms = await page.evaluate(() => window.clickToData)
      assert(ms < 10, `click-to-data ${ms} ms`)
      await page.close()
      return
    }
  })

  await t.check('touchstart and mousedown prefetch at once', async () => {
    const { page, counts } = await fresh()
    await page.evaluate(() => document.getElementById('l2').dispatchEvent(new Event('touchstart')))
    await sleep(20)
    assert((await counts())[1] === 1, 'requested within 20 ms, before the intent delay')
    await page.close()
  })

  await t.check('Save-Data skips prefetching, and respectSaveData: false overrides it', async () => {
    for (const [options, want] of [[{}, 0], [{ respectSaveData: false }, 1]]) {
      const page = await browser.newPage()
      await page.addInitScript(() => Object.defineProperty(navigator, 'connection', { value: { saveData: true, effectiveType: '4g' } }))
      await page.goto(server.url + '/')
      await page.waitForFunction(() => window.ready === true)
      const tag = `pfsave-${Date.now()}-${n++}`
      await page.evaluate(([tag, o]) => window.setup(tag, o), [tag, options])
      await page.hover('#l3')
      await sleep(150)
      assert((await countTag(server, `${tag}-3`)) === want, `${JSON.stringify(options)}: ${want} request(s) expected`)
      if (want === 0) assert((await page.evaluate(() => window.client().stats().prefetchSkipped)) >= 1, 'counted as skipped')
      await page.close()
    }
  })

  await t.check('at most four prefetches run at once, and a get joins one in flight', async () => {
    const { page, tag } = await fresh()
    const started = await page.evaluate(async (tag) => {
      const c = window.client()
      // The module loads asynchronously: count in-flight requests once it is ready.
      await c.get(`/test/echo?tag=${tag}-ready`)
      for (let i = 0; i < 10; i++) c.prefetch(`/test/echo?tag=${tag}-cap-${i}&delay=300`)
      return c.stats().inFlight
    }, tag)
    assert(started === 4, `${started} in flight`)
    await sleep(100)
    let total = 0
    for (let i = 0; i < 10; i++) total += await countTag(server, `${tag}-cap-${i}`)
    assert(total === 4, `the server saw ${total} so far`)
    const joined = await page.evaluate(async (tag) => {
      const c = window.client()
      const body = await c.get(`/test/echo?tag=${tag}-cap-0&delay=300`)
      return body.query.tag
    }, tag)
    assert(joined === `${tag}-cap-0`, joined)
    assert((await countTag(server, `${tag}-cap-0`)) === 1, 'the get joined the prefetch')
    await sleep(900)
    total = 0
    for (let i = 0; i < 10; i++) total += await countTag(server, `${tag}-cap-${i}`)
    assert(total === 10, `all ten ran eventually: ${total}`)
    await page.close()
  })

  await t.check('a failing prefetch never throws and is counted', async () => {
    const { page, tag } = await fresh()
    const stats = await page.evaluate(async (tag) => {
      const c = window.client()
      c.prefetch(`/test/echo?tag=${tag}-f&status=500`)
      c.prefetch('http://[not a url')
      await new Promise((r) => setTimeout(r, 200))
      return c.stats()
    }, tag)
    assert(stats.prefetchFailures === 2, JSON.stringify(stats))
    await page.close()
  })
} finally {
  await browser.close()
  await server.close()
}
process.exit(t.report() ? 0 : 1)
