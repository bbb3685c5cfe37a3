// Defects 9, 12 and 16 (deep item) of issue 14: `/batch` requests are sent
// once, streamed answers do not hold their connection, and one odd item does
// not break its batch. Wire protocol: docs/batch-protocol.md.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  batchItems, batchRoute, clientOf, fakeAdapter, itemsSeen, rejection, reply, serve, sleep, waitFor, within,
} from './helpers.mjs'

test('a batch with a socket rider and a long Authorization header is sent once', { timeout: 5_000 }, async (t) => {
  const srv = await serve(t, (req, res, srv, entry) => {
    if (entry.path === '/batch') return batchRoute((item) => ({ status: 200, body: { url: item.url } }))(req, res, srv, entry)
    reply(res, 200, { url: entry.url })
  })
  const sock = fakeAdapter() // never opens: live keys ride along in batches
  // Each of /r1 and /r2 weighs ~1,090 bytes with the 1,000-character token, a
  // rider ~80 without it and ~1,095 with it: 3,000 lets a rider in that
  // then overfills the batch.
  const client = clientOf(srv, {
    headers: { Authorization: `Bearer ${'t'.repeat(993)}` },
    batch: { endpoint: '/batch', windowMs: 10, maxBytes: 3_000 },
    socket: { adapter: sock.adapter, connectTimeoutMs: 3_000 },
  })
  const stop = client.subscribe('/live1', () => {})
  t.after(stop)
  const [r1, r2] = await Promise.all([client.get('/r1'), client.get('/r2')])
  assert.deepEqual([r1, r2], [{ url: '/r1' }, { url: '/r2' }])
  await sleep(50) // a second POST, if any, arrives
  const seen = itemsSeen(srv)
  const posts = srv.log.filter((e) => e.path === '/batch').map((e) => batchItems(e).map((i) => i.url).join(','))
  for (const url of ['/r1', '/r2', '/live1']) {
    assert.ok(seen.filter((u) => u === url).length <= 1, `${url} was sent ${seen.filter((u) => u === url).length} times; batches: ${JSON.stringify(posts)}`)
  }
  assert.equal(seen.filter((u) => u === '/r1').length, 1)
  assert.equal(seen.filter((u) => u === '/r2').length, 1)
})

/** A `/batch` that streams one NDJSON line per item in `answered`, then keeps the answer open. */
async function streamingServer(t, answered) {
  const closed = []
  const srv = await serve(t, (req, res, srv, entry) => {
    if (entry.path !== '/batch') return reply(res, 404, {})
    res.writeHead(200, { 'Content-Type': 'application/x-ndjson' })
    for (const item of batchItems(entry)) {
      if (answered.includes(item.url)) res.write(JSON.stringify({ id: item.id, status: 200, body: { url: item.url } }) + '\n')
    }
    srv.lastLineAt = performance.now()
    res.on('close', () => closed.push(performance.now()))
  })
  return { srv, closed }
}

test('a streamed batch whose every item is answered is closed by the client', { timeout: 5_000 }, async (t) => {
  const { srv, closed } = await streamingServer(t, ['/a', '/b'])
  const client = clientOf(srv, { batch: { stream: true }, timeoutMs: 30_000 })
  assert.deepEqual(await Promise.all([client.get('/a'), client.get('/b')]), [{ url: '/a' }, { url: '/b' }])
  assert.equal(srv.count('/batch'), 1)
  await waitFor(() => closed.length > 0, 1_000, 'the client to close the answered stream')
  assert.ok(closed[0] - srv.lastLineAt < 1_000)
})

test('a streamed batch that stalls times its unanswered items out and is closed', { timeout: 5_000 }, async (t) => {
  const { srv, closed } = await streamingServer(t, ['/a'])
  const client = clientOf(srv, { batch: { stream: true }, timeoutMs: 300 })
  const a = client.get('/a')
  const b = client.get('/b')
  assert.deepEqual(await a, { url: '/a' })
  const e = await rejection(within(b, 2_000, 'the get left unanswered by a stalled stream'), 'the unanswered get')
  assert.equal(e.kind, 'timeout', `rejected with ${e.kind}: ${e.message}`)
  await waitFor(() => closed.length > 0, 1_000, 'the client to close the stalled stream after its last item timed out')
})

test('an item nested 200 levels deep does not break the other items of its batch', { timeout: 5_000 }, async (t) => {
  const deep = JSON.parse('['.repeat(200) + ']'.repeat(200))
  const srv = await serve(t, batchRoute((item) => ({ status: 200, body: item.url === '/deep' ? deep : { url: item.url } })))
  const client = clientOf(srv, { batch: true })
  const results = await Promise.allSettled([client.get('/a'), client.get('/deep'), client.get('/b')])
  assert.equal(srv.count('/batch'), 1)
  const why = (r) => r.reason?.message
  assert.equal(results[0].status, 'fulfilled', `/a: ${why(results[0])}`)
  assert.deepEqual(results[0].value, { url: '/a' })
  assert.equal(results[2].status, 'fulfilled', `/b: ${why(results[2])}`)
  assert.deepEqual(results[2].value, { url: '/b' })
  assert.equal(results[1].status, 'fulfilled', `/deep: ${why(results[1])}`)
  assert.deepEqual(results[1].value, deep)
})
