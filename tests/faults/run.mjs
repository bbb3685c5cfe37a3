// Fault injection in headless Chromium against the reference server: resets
// mid-body, trickling answers, 503s with Retry-After, a circuit that opens
// and closes, a socket that flaps every 200 ms, and a server restart. Every
// promise must settle with a clear error, the request rate at the server
// must stay bounded, and everything must recover.
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startServer } from '../../www/server/server.mjs'
import { assert, countTag, launchBrowser, runner, servePage, sleep } from '../lib/browser.mjs'

const site = join(dirname(fileURLToPath(import.meta.url)), 'page.html')
let server = await servePage(site, 'faults')
const browser = await launchBrowser()
const t = runner()
const uid = (name) => `faults-${name}-${Date.now()}`

async function page() {
  const p = await browser.newPage()
  await p.goto(server.url + '/')
  await p.waitForFunction(() => window.ready === true)
  return p
}

try {
  await t.check('a connection reset mid-body rejects with a network error; a trickle past the timeout with a timeout error', async () => {
    const p = await page()
    const r = await p.evaluate(async () => {
      const client = createClient({ timeoutMs: 500, circuit: false })
      return Promise.all([
        settle(client.get('/test/reset-mid-body')),
        settle(client.get('/test/trickle?ms=400')),
        settle(client.get('/test/trickle?ms=5')),
      ])
    })
    assert(r[0].ok === false && r[0].kind === 'network' && r[0].isError, `reset: ${JSON.stringify(r[0])}`)
    assert(r[1].ok === false && r[1].kind === 'timeout' && r[1].name === 'TimeoutError', `slow trickle: ${JSON.stringify(r[1])}`)
    assert(r[2].ok === true && r[2].data.trickle === true, `fast trickle: ${JSON.stringify(r[2])}`)
    assert((await p.evaluate(() => window.errors)).length === 0, 'uncaught errors')
    await p.close()
  })

  await t.check('the circuit opens after consecutive 500s, serves stale data or a circuit error, and a probe closes it', async () => {
    const p = await page()
    const tag = uid('circuit')
    const r = await p.evaluate(async (tag) => {
      // retry: 0: the three failures are three calls here (retried, the first call's attempts would open it).
      const client = createClient({ circuit: { failures: 3, coolDownMs: 800 }, cache: { ttlMs: 1 }, retry: 0 })
      const cached = await client.get(`/test/echo?tag=${tag}-cached`)
      const fails = []
      for (let i = 0; i < 3; i++) fails.push((await settle(client.get(`/test/echo?tag=${tag}-bad&status=500&i=${i}`))).kind)
      await new Promise((r) => setTimeout(r, 5)) // the cached entry is stale now
      const stale = await settle(client.get(`/test/echo?tag=${tag}-cached`))
      const refused = await settle(client.get(`/test/echo?tag=${tag}-refused`))
      await new Promise((r) => setTimeout(r, 900))
      const probe = await settle(client.get(`/test/echo?tag=${tag}-probe`))
      const after = await settle(client.get(`/test/echo?tag=${tag}-after`))
      return { cachedN: cached.n, fails, stale, refused, probe: probe.ok, after: after.ok, stats: client.stats() }
    }, tag)
    assert(r.fails.join() === 'http,http,http', `failures: ${r.fails}`)
    assert(r.stale.ok && r.stale.data.n === r.cachedN, `stale data while open: ${JSON.stringify(r.stale)}`)
    assert(!r.refused.ok && r.refused.kind === 'circuit' && /circuit open: .* failed 3 times in a row/.test(r.refused.message), JSON.stringify(r.refused))
    assert((await countTag(server, `${tag}-refused`)) === 0, 'the refused call reached the server')
    assert((await countTag(server, `${tag}-cached`)) === 1, 'the stale answer went to the server')
    assert(r.probe && r.after, 'the probe and the next call succeed')
    assert(r.stats.circuitOpens === 1 && r.stats.circuitStale === 1 && r.stats.circuitRefused === 1, JSON.stringify(r.stats))
    await p.close()
  })

  await t.check('polling a 503 with Retry-After: 1 for 3 s costs the server at most one request per second', async () => {
    const p = await page()
    const tag = uid('retry')
    const errors = await p.evaluate(async (tag) => {
      const client = createClient({ circuit: false })
      let errors = 0
      const h = client.poll(`/test/echo?tag=${tag}&status=503&retryAfter=1`, { intervalMs: 100, onError: () => errors++ })
      await new Promise((r) => setTimeout(r, 3000))
      h.stop()
      return errors
    }, tag)
    const n = await countTag(server, tag)
    console.log(`     503 + Retry-After 1 s, polled every 100 ms for 3 s: ${n} requests at the server`)
    assert(n >= 3 && n <= 4, `server saw ${n} requests in 3 s (interval 100 ms, Retry-After 1 s)`)
    assert(errors === n, `onError heard ${errors} of ${n} failures`)
    await p.close()
  })

  await t.check('a socket that flaps every 200 ms: data keeps arriving, reconnects stay bounded, nothing hangs', async () => {
    server.setKnobs({ socketFlapMs: 200 })
    const p = await page()
    const before = server.stats().socket
    const r = await p.evaluate(async () => {
      const problems = []
      const client = createClient({
        socket: { url: `ws://${location.host}/ws`, reconnect: { minMs: 300, maxMs: 2000 }, onError: (e) => problems.push(e.kind) },
      })
      let seen = 0
      const stop = client.subscribe('/api/games/2', (s) => {
        if (s.data !== undefined) seen++
      })
      await new Promise((r) => setTimeout(r, 3000))
      const got = await settle(client.get('/api/games/2'), 3000)
      stop()
      return { seen, got: got.ok, stats: client.stats(), problems }
    })
    server.setKnobs({ socketFlapMs: 0 })
    const after = server.stats().socket
    const connections = (after.connections ?? after.opened ?? 0) - (before.connections ?? before.opened ?? 0)
    console.log(`     flapping 3 s: ${r.stats.socketDrops} drops, ${r.stats.socketReconnects} reconnects, ${connections} connections at the server, ${r.seen} data deliveries`)
    assert(r.seen >= 1 && r.got, `data: seen ${r.seen}, get ${r.got}`)
    assert(r.stats.socketDrops >= 2, `drops seen: ${r.stats.socketDrops}`)
    // Windows from 300 ms doubling to 2 s, not reset by a connection that
    // drops within reconnect.maxMs: ~4 reconnects in 3 s (restarting the
    // backoff at every open made ~8, one per flap).
    assert(r.stats.socketReconnects <= 6, `reconnects in 3 s: ${r.stats.socketReconnects}`)
    assert(connections <= 7, `connections at the server: ${connections}`)
    assert((await p.evaluate(() => window.errors)).length === 0, 'uncaught errors')
    await p.close()
  })

  await t.check('a server restart: calls fail fast and clearly while it is down, the rate stays bounded, and it recovers', async () => {
    const p = await page()
    const tag = uid('restart')
    await p.evaluate((tag) => {
      window.client = createClient({ circuit: { failures: 3, coolDownMs: 500 }, cache: { ttlMs: 1 } })
      window.kinds = []
      window.handle = window.client.poll(`/test/echo?tag=${tag}`, { intervalMs: 100, onError: (e) => window.kinds.push(e.kind) })
    }, tag)
    await sleep(500)
    const port = server.port
    await server.close()
    const downAt = await p.evaluate(() => window.client.stats().networkRequests)
    await sleep(2000)
    const whileDown = (await p.evaluate(() => window.client.stats().networkRequests)) - downAt
    const kinds = await p.evaluate(() => [...new Set(window.kinds)])
    server = await startServer({ port, staticDir: join(dirname(fileURLToPath(import.meta.url)), '..', '.out', 'faults') })
    const upAt = Date.now()
    let recovered = false
    while (Date.now() - upAt < 8000 && !recovered) {
      await sleep(100)
      recovered = (await countTag(server, tag)) > 0
    }
    const pending = await p.evaluate(async (tag) => {
      window.handle.stop()
      return (await settle(window.client.get(`/test/echo?tag=${tag}-after`), 3000)).ok
    }, tag)
    console.log(`     server down 2 s, polling every 100 ms: ${whileDown} requests attempted; recovered ${Date.now() - upAt} ms after restart`)
    // Down for 2 s with a 100 ms interval: without backoff and the circuit it would be ~20 requests.
    assert(whileDown <= 8, `requests sent while the server was down: ${whileDown}`)
    assert(kinds.every((k) => k === 'network' || k === 'circuit'), `error kinds: ${kinds}`)
    assert(recovered, 'polling reached the restarted server within 8 s')
    assert(pending, 'a get succeeds after the restart')
    await p.close()
  })
  await t.check('a body over cache.maxBodyBytes reaches its caller but is not cached', async () => {
    const p = await page()
    const tag = uid('big')
    const r = await p.evaluate(async (tag) => {
      const client = createClient({ cache: { maxBodyBytes: 40 } })
      const url = `/test/echo?tag=${tag}`
      const first = await client.get(url)
      const cached = client.peek(url).data !== undefined
      await client.get(url)
      return { got: first.query.tag === tag, cached }
    }, tag)
    assert(r.got, 'the caller got the body')
    assert(!r.cached, 'the big body was cached')
    assert((await countTag(server, tag)) === 2, 'the second get went to the network')
    await p.close()
  })

  await t.check('a panic in the wasm module rejects every pending promise and makes later calls fail fast and clearly', async () => {
    const p = await page()
    const tag = uid('panic')
    const r = await p.evaluate(async (tag) => {
      const { __panicForTests } = await window.importFromPage('./pkg/index.js')
      const a = createClient()
      const b = createClient({ batch: true })
      const slow = settle(a.get(`/test/echo?tag=${tag}&delay=1500`), 1000)
      const batched = settle(b.get(`/test/echo?tag=${tag}-b&delay=1500`), 1000)
      let heard = 0
      a.subscribe(`/test/echo?tag=${tag}`, () => heard++)
      // The module loads asynchronously: panic once both requests are out.
      for (let i = 0; i < 200 && (a.stats().inFlight < 1 || b.stats().inFlight < 1); i++) await new Promise((r) => setTimeout(r, 5))
      let thrown
      try {
        __panicForTests()
      } catch (e) {
        thrown = e.constructor.name
      }
      const results = await Promise.all([slow, batched])
      const later = await settle(a.get('/test/echo?tag=later'), 500)
      const attempts = {}
      for (const [name, call] of Object.entries({
        peek: () => a.peek('/x'),
        createClient: () => createClient(),
        stats: () => b.stats(),
      })) {
        try {
          call()
          attempts[name] = 'no error'
        } catch (e) {
          attempts[name] = `${e.kind}`
        }
      }
      const h = a.prefetchHandlers('/test/echo?tag=h')
      h.onMouseEnter()
      h.onTouchStart()
      return { thrown, results, later, attempts, prefetch: await a.prefetch('/y') }
    }, tag)
    assert(r.thrown === 'RuntimeError', `the panicking call threw ${r.thrown}`)
    for (const x of r.results) {
      assert(!x.hung, 'a pending promise hung')
      assert(x.kind === 'internal' && /panicked at src\/exports\.rs:\d+/.test(x.message) && /reload the page/.test(x.message), JSON.stringify(x))
    }
    assert(r.later.kind === 'internal', `a later get: ${JSON.stringify(r.later)}`)
    assert(Object.values(r.attempts).every((k) => k === 'internal'), JSON.stringify(r.attempts))
    assert(r.prefetch === false, 'prefetch is skipped (resolves false)')
    await sleep(1800) // the aborted requests' answers arrive
    const errors = await p.evaluate(() => window.errors)
    assert(errors.length === 0, `page errors after the panic: ${JSON.stringify(errors)}`)
    await p.close()
  })
} finally {
  await browser.close()
  await server.close()
}
process.exit(t.report() ? 0 : 1)
