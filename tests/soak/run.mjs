// Soak: SOAK_GETS `get`s (default 1,000,000) over 100,000 distinct keys with
// maxEntries 1,000, in headless Chromium with the network stubbed in the
// page. JS heap and wasm memory must stay flat once the cache is full.
//   node tests/soak/run.mjs                 # 1,000,000 gets
//   SOAK_GETS=200000 node tests/soak/run.mjs
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { assert, launchChromium, runner, servePage } from '../lib/browser.mjs'

const total = Number(process.env.SOAK_GETS ?? 1_000_000)
const server = await servePage(join(dirname(fileURLToPath(import.meta.url)), 'page.html'), 'soak')
const browser = await launchChromium(['--enable-precise-memory-info', '--js-flags=--expose-gc'])
const t = runner()
try {
  await t.check(`${total.toLocaleString('en')} gets over 100,000 keys with maxEntries 1,000: memory stays flat`, async () => {
    const page = await browser.newPage()
    await page.goto(server.url + '/')
    await page.waitForFunction(() => window.ready === true)
    const r = await page.evaluate(([n]) => window.soak(n, 100_000, 1_000, 10), [total])
    for (const p of r.points) {
      console.log(`     ${String(p.gets).padStart(9)} gets: JS heap ${p.heapMB.toFixed(1)} MB, wasm memory ${p.wasmMB.toFixed(1)} MB, ${p.cacheEntries} entries`)
    }
    console.log(`     ${r.seconds.toFixed(1)} s; ${JSON.stringify(r.stats)}`)
    const [first, ...rest] = r.points.slice(1) // after the cache filled up
    const last = r.points[r.points.length - 1]
    assert(r.points.every((p) => p.cacheEntries <= 1000), 'the cache went over maxEntries')
    assert(r.stats.inFlight === 0 && r.stats.requested === total, JSON.stringify(r.stats))
    assert(last.wasmMB <= first.wasmMB * 1.1 + 1, `wasm memory grew from ${first.wasmMB} to ${last.wasmMB} MB`)
    assert(Math.max(...rest.map((p) => p.heapMB)) <= first.heapMB * 1.5 + 5, `JS heap grew: ${r.points.map((p) => p.heapMB.toFixed(1))}`)
    await page.close()
  })
} finally {
  await browser.close()
  await server.close()
}
process.exit(t.report() ? 0 : 1)
