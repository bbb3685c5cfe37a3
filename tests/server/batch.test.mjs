// calmfetch/server's batchHandler in front of a real Express app and a plain
// `node:http` listener, with the built client (pkg/) sending the batches:
// dedup, ETag/304, NDJSON streaming, every limit, credentials, no leak
// between items, bounded concurrency. Run: node --test tests/server/
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import express from 'express'
import { APPS, CalmfetchError, byId, createClient, expressApp, plainApp, post, server, sleep } from './harness.mjs'

const T = { timeout: 10_000 }
const clientOf = (url, options = {}) =>
  createClient({ baseUrl: url, batch: { endpoint: '/batch', windowMs: 20 }, ...options })

for (const [name, start] of Object.entries(APPS)) {
  test(`${name}: identical gets are one item, and one POST carries them all`, T, async (t) => {
    const app = await start(t)
    const client = clientOf(app.url)
    const [a1, a2, a3, b, c] = await Promise.all([
      client.get('/data/a'), client.get('/data/a'), client.get('/data/a'), client.get('/data/b'), client.get('/data/c'),
    ])
    assert.equal(a1.name, 'a')
    assert.equal(a1, a2)
    assert.equal(a2, a3)
    assert.deepEqual([b.name, c.name], ['b', 'c'])
    assert.equal(app.rec.count('/data/a'), 1, 'the item handler ran once for /data/a')
    assert.equal(app.rec.count('/data/b'), 1)
    assert.equal(client.stats().batchesSent, 1)
    assert.equal(client.stats().batchedItems, 3)
    assert.equal(client.stats().dedupHits, 2)
    assert.ok(app.rec.seen.every((s) => s.item !== undefined), 'every data request was a replayed batch item')
  })

  test(`${name}: a revalidation sends If-None-Match in the item and gets its 304 through`, T, async (t) => {
    const app = await start(t)
    const client = clientOf(app.url)
    const [x, y] = await Promise.all([client.get('/data/x'), client.get('/data/y')])
    await sleep(300) // refresh() skips a key fetched in the last 250 ms
    const [x2, y2] = await Promise.all([client.refresh('/data/x'), client.refresh('/data/y')])
    assert.equal(app.rec.notModified, 2, 'both items were answered 304 by the route')
    assert.deepEqual(x2, x, 'the client kept its body on 304')
    assert.deepEqual(y2, y)
    const conditional = app.rec.seen.filter((s) => s.headers['if-none-match'] !== undefined).map((s) => s.headers['if-none-match'])
    assert.deepEqual(conditional.sort(), ['"x-v1"', '"y-v1"'])
    // On the wire: status, ETag and Cache-Control of the 304, no body; Retry-After of a 200.
    const { status, body } = await post(app.url, {
      requests: [{ id: '1', url: '/data/x', headers: { 'If-None-Match': '"x-v1"' } }, { id: '2', url: '/data/y' }],
    })
    assert.equal(status, 200)
    const by = byId(body)
    assert.deepEqual(by[1], { id: '1', status: 304, headers: { ETag: '"x-v1"', 'Cache-Control': 'max-age=0' } })
    assert.equal(by[2].status, 200)
    assert.equal(by[2].headers.ETag, '"y-v1"')
    assert.equal(by[2].headers['Retry-After'], '7')
    assert.match(by[2].headers['Content-Type'], /^application\/json/)
  })

  test(`${name}: with NDJSON a slow item does not hold up the others`, T, async (t) => {
    const app = await start(t)
    const client = clientOf(app.url, { batch: { endpoint: '/batch', windowMs: 20, stream: true } })
    const t0 = performance.now()
    const at = {}
    await Promise.all(['/data/slow?delay=800', '/data/f1', '/data/f2?delay=50'].map((u) =>
      client.get(u).then(() => (at[u] = performance.now() - t0))))
    assert.equal(client.stats().batchesSent, 1)
    assert.ok(at['/data/f1'] < 400, `a fast item arrived after ${at['/data/f1']} ms`)
    assert.ok(at['/data/f2?delay=50'] < 400, `a fast item arrived after ${at['/data/f2?delay=50']} ms`)
    assert.ok(at['/data/slow?delay=800'] >= 790, `the slow item arrived after ${at['/data/slow?delay=800']} ms`)
    console.log(`# ${name} NDJSON arrival (ms): ${Object.entries(at).map(([u, ms]) => `${u} ${ms.toFixed(0)}`).join(', ')}`)

    // On the wire: the fast line is written (and read) before the slow one is done.
    const t1 = performance.now()
    const res = await fetch(`${app.url}/batch`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/x-ndjson' },
      body: JSON.stringify({ requests: [{ id: 's', url: '/data/s?delay=600' }, { id: 'f', url: '/data/f' }] }),
    })
    assert.equal(res.headers.get('content-type'), 'application/x-ndjson')
    const lines = []
    let text = ''
    for await (const chunk of res.body) {
      text += Buffer.from(chunk).toString('utf8')
      while (text.includes('\n')) {
        const i = text.indexOf('\n')
        lines.push({ id: JSON.parse(text.slice(0, i)).id, ms: performance.now() - t1 })
        text = text.slice(i + 1)
      }
    }
    assert.deepEqual(lines.map((l) => l.id), ['f', 's'])
    assert.ok(lines[0].ms < 300 && lines[1].ms >= 590, JSON.stringify(lines))
  })

  test(`${name}: the batch's Authorization and Cookie reach every item; an item cannot set its own`, T, async (t) => {
    const app = await start(t)
    const client = clientOf(app.url, { headers: { Authorization: 'Bearer alice', Cookie: 'sid=a1' } })
    const [a, b] = await Promise.all([client.get('/data/p'), client.get('/data/q')])
    assert.deepEqual([a.auth, a.cookie, b.auth, b.cookie], ['Bearer alice', 'sid=a1', 'Bearer alice', 'sid=a1'])
    const posts = app.rec.seen.map((s) => s.item.batch.headers.authorization)
    assert.deepEqual(posts, ['Bearer alice', 'Bearer alice'], 'they rode on the POST')
    const { body } = await post(app.url, {
      requests: [
        { id: '1', url: '/whoami', headers: { Authorization: 'Bearer mallory', Cookie: 'sid=m' } },
        { id: '2', url: '/whoami' },
      ],
    }, { Authorization: 'Bearer bob', Cookie: 'sid=b2' })
    const by = byId(body)
    assert.deepEqual(by[1].body, { auth: 'Bearer bob', cookie: 'sid=b2', mine: null })
    assert.deepEqual(by[2].body, { auth: 'Bearer bob', cookie: 'sid=b2', mine: null })
    const { body: anon } = await post(app.url, { requests: [{ id: '1', url: '/whoami', headers: { Authorization: 'Bearer mallory' } }] })
    assert.deepEqual(byId(anon)[1].body, { auth: null, cookie: null, mine: null }, 'no credentials on the POST: none on its items')
  })

  test(`${name}: nothing of one item reaches another's answer, nor one batch's another's`, T, async (t) => {
    const app = await start(t)
    const items = (who) => ({
      requests: Array.from({ length: 8 }, (_, i) => ({ id: `${who}${i}`, url: i % 2 ? '/leaky' : '/whoami', headers: { 'X-Mine': `${who}${i}` } })),
    })
    const [alice, bob] = await Promise.all([
      post(app.url, items('a'), { Authorization: 'Bearer alice' }),
      post(app.url, items('b'), { Authorization: 'Bearer bob' }),
    ])
    for (const [who, auth, { body }] of [['a', 'Bearer alice', alice], ['b', 'Bearer bob', bob]]) {
      assert.equal(body.responses.length, 8)
      for (const a of body.responses) {
        assert.equal(a.body.mine, a.id, `item ${a.id} saw its own X-Mine only`)
        if (a.body.auth !== undefined) assert.equal(a.body.auth, auth)
        assert.equal(a.headers['X-Secret'], undefined, 'unlisted response headers stay on the server')
        assert.equal(a.headers['Set-Cookie'], undefined, 'an item cannot set a cookie')
        assert.ok(a.id.startsWith(who))
      }
    }
    const { res } = await post(app.url, items('c'))
    assert.equal(res.headers.get('set-cookie'), null)
  })

  test(`${name}: at most \`concurrency\` items of a batch run at once`, T, async (t) => {
    for (const [concurrency, expected] of [[undefined, 6], [3, 3]]) {
      const app = await start(t, concurrency === undefined ? {} : { concurrency })
      const requests = Array.from({ length: 20 }, (_, i) => ({ id: String(i), url: `/data/c${i}?delay=30` }))
      const t0 = performance.now()
      const { status, body } = await post(app.url, { requests })
      const ms = performance.now() - t0
      assert.equal(status, 200)
      assert.equal(body.responses.filter((a) => a.status === 200).length, 20)
      assert.equal(app.rec.peak, expected, `peak ${app.rec.peak} items at once, expected ${expected}`)
      console.log(`# ${name} concurrency ${concurrency ?? 'default'}: peak ${app.rec.peak} items at once; 20 items of 30 ms in ${ms.toFixed(0)} ms`)
    }
  })
}

test('limits: too many items, too large, too deep, duplicate ids, not JSON, bad items', T, async (t) => {
  const app = await expressApp(t, { maxItems: 3, maxBytes: 2000, maxDepth: 6 })
  const item = (id, url = '/data/l') => ({ id, url })
  const cases = [
    [{ requests: [item('1'), item('2'), item('3'), item('4')] }, 400, /batch has 4 items; this server accepts at most 3/],
    [{ requests: [item('1', `/data/l?pad=${'x'.repeat(3000)}`)] }, 413, /larger than 2000 bytes/],
    [{ requests: [item('1')], deep: [[[[[[[1]]]]]]] }, 400, /nests deeper than 6 levels/],
    [{ requests: [item('1'), item('1')] }, 400, /requests\[1\]\.id "1" is used twice/],
    [{ requests: [{ url: '/data/l' }] }, 400, /requests\[0\]\.id must be a string/],
    [{ requests: [{ id: '1' }] }, 400, /requests\[0\]\.url must be a non-empty string/],
    [{ requests: [{ id: '1', url: '/x', headers: { 'Bad Name': 'v' } }] }, 400, /requests\[0\]\.headers has a bad header/],
    [{ requests: 'nope' }, 400, /"requests" array/],
  ]
  for (const [doc, status, pattern] of cases) {
    const r = await post(app.url, doc)
    assert.equal(r.status, status, JSON.stringify(doc).slice(0, 80))
    assert.match(r.res.headers.get('content-type'), /^application\/json/)
    assert.match(r.body.error, pattern)
  }
  assert.equal(app.rec.hits.size, 0, 'no item of a refused batch ran')
  // The plain listener reads the body itself (no body parser in front).
  const plain = await plainApp(t, { maxBytes: 100, maxDepth: 4 })
  assert.equal((await post(plain.url, '{"requests":[')).status, 400)
  assert.match((await post(plain.url, '{"requests":[')).body.error, /not valid JSON/)
  assert.equal((await post(plain.url, { requests: [item('1', `/d?${'y'.repeat(200)}`)] })).status, 413)
  assert.match((await post(plain.url, '{"requests":[],"x":[[[[1]]]]}')).body.error, /nests deeper than 4/)
  const form = await fetch(`${plain.url}/batch`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: '{"requests":[]}' })
  assert.equal(form.status, 415)
  await form.arrayBuffer()
  const get = await fetch(`${plain.url}/batch`)
  assert.equal(get.status, 405)
  assert.equal(get.headers.get('allow'), 'POST')
  await get.arrayBuffer()
})

test('per-item refusals: a non-GET, another origin, the batch itself, a timeout; the other items are answered', T, async (t) => {
  const app = await expressApp(t, { timeoutMs: 300 })
  const t0 = performance.now()
  const { status, body } = await post(app.url, {
    requests: [
      { id: 'post', method: 'POST', url: '/data/a' },
      { id: 'abs', url: 'http://evil.test/data/a' },
      { id: 'proto', url: '//evil.test/data/a' },
      { id: 'self', url: '/batch' },
      { id: 'slow', url: '/data/slow?delay=3000' },
      { id: 'ok', url: '/data/ok' },
    ],
  })
  const ms = performance.now() - t0
  assert.equal(status, 200)
  const by = byId(body)
  assert.equal(by.post.status, 405)
  assert.equal(by.post.headers.Allow, 'GET')
  assert.equal(by.abs.status, 400)
  assert.equal(by.proto.status, 400)
  assert.equal(by.self.status, 400)
  assert.match(by.self.body.error, /cannot be a batch/)
  assert.equal(by.slow.status, 504)
  assert.match(by.slow.body.error, /no answer within 300 ms/)
  assert.equal(by.ok.status, 200)
  assert.ok(ms < 1500, `the batch took ${ms} ms: the timed-out item held it`)
  assert.equal(app.rec.count('/batch'), 0)
  assert.equal(app.rec.aborted, 1, 'the timed-out item\'s response was closed under its handler')
})

test('a batch item that reaches a batchHandler by another path is refused, not run as a batch', T, async (t) => {
  let handler
  const listener = (req, res) => {
    if (req.url.startsWith('/batch') || req.url.startsWith('/alias')) return handler(req, res)
    res.writeHead(200, { 'Content-Type': 'application/json' })
    res.end('{}')
  }
  handler = server.batchHandler(listener)
  const srv = http.createServer(listener).listen(0, '127.0.0.1')
  t.after(() => new Promise((r) => srv.close(r)))
  await new Promise((r) => srv.once('listening', r))
  const { body } = await post(`http://127.0.0.1:${srv.address().port}`, { requests: [{ id: '1', url: '/alias' }] })
  assert.equal(byId(body)[1].status, 400)
  assert.match(byId(body)[1].body.error, /a batch item cannot be a batch/)
})

test('Express: its real requests still work after items were replayed through it', T, async (t) => {
  const app = await expressApp(t)
  assert.equal((await post(app.url, { requests: [{ id: '1', url: '/data/e' }, { id: '2', url: '/whoami' }] })).status, 200)
  const r = await fetch(`${app.url}/echo`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"x":1}' })
  assert.deepEqual(await r.json(), { body: { x: 1 }, ip: '127.0.0.1' })
  assert.equal(Object.getPrototypeOf(express.request), http.IncomingMessage.prototype, "Express's shared request prototype is untouched")
  assert.equal(Object.getPrototypeOf(express.response), http.ServerResponse.prototype)
})

test('a client that leaves mid-batch stops the items that have not started', T, async (t) => {
  const app = await plainApp(t, { concurrency: 1 })
  const ctrl = new AbortController()
  const requests = Array.from({ length: 10 }, (_, i) => ({ id: String(i), url: `/data/g${i}?delay=100` }))
  const sent = fetch(`${app.url}/batch`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ requests }), signal: ctrl.signal })
  await sleep(150)
  ctrl.abort()
  await sent.catch(() => {})
  await sleep(400)
  const ran = [...app.rec.hits.values()].reduce((a, b) => a + b, 0)
  assert.ok(ran <= 3, `${ran} items ran after the client left`)
  assert.equal(app.rec.aborted, 1, 'the item running when the client left was aborted')
  assert.equal(app.rec.inFlight, 0)
})

test('bad options are a CalmfetchError of kind invalid', () => {
  const bad = [
    () => server.batchHandler(),
    () => server.batchHandler(() => {}, { maxItems: 0 }),
    () => server.batchHandler(() => {}, { concurrency: 1.5 }),
    () => server.batchHandler(() => {}, { nope: 1 }),
    () => server.batchHandler(() => {}, { forwardHeaders: ['bad name'] }),
    () => server.batchHandler(() => {}, { onItem: 1 }),
  ]
  for (const f of bad) {
    assert.throws(f, (e) => e.name === 'CalmfetchError' && e.kind === 'invalid' && /^calmfetch\/server: /.test(e.message))
  }
  assert.ok(CalmfetchError)
})
