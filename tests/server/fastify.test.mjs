// calmfetch/server in a Fastify app, wired as docs/server.md shows: items
// replayed through `fastify.routing`, the socket on `fastify.server`; the
// built client on the other end.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import Fastify from 'fastify'
import WebSocket from 'ws'
import { createClient, server, sleep } from './harness.mjs'

globalThis.WebSocket ??= WebSocket

test('Fastify: batch items go through its routes with the batch\'s credentials; the socket serves live keys', { timeout: 10_000 }, async (t) => {
  const hits = new Map()
  const fastify = Fastify()
  fastify.get('/data/:n', async (req, reply) => {
    hits.set(req.params.n, (hits.get(req.params.n) ?? 0) + 1)
    await sleep(Number(req.query.delay ?? 0))
    reply.header('ETag', `"${req.params.n}"`)
    return { n: req.params.n, auth: req.headers.authorization ?? null, item: server.batchItemOf(req.raw)?.id ?? null }
  })
  const batch = server.batchHandler((req, res) => fastify.routing(req, res))
  fastify.post('/batch', (request, reply) => {
    reply.hijack()
    request.raw.body = request.body // Fastify has parsed it
    return batch(request.raw, reply.raw)
  })
  const live = server.socketHandler({ authorize: () => true, load: (key) => ({ live: key }) })
  live.attach(fastify.server, { path: '/ws' })
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  t.after(async () => {
    live.close()
    await fastify.close()
  })
  const url = `http://127.0.0.1:${fastify.server.address().port}`

  const client = createClient({
    baseUrl: url,
    headers: { Authorization: 'Bearer fay' },
    batch: { endpoint: '/batch', windowMs: 20, stream: true },
  })
  const t0 = performance.now()
  const at = {}
  const bodies = await Promise.all(['/data/slow?delay=600', '/data/1', '/data/1', '/data/2'].map((u) =>
    client.get(u).then((b) => ((at[u] = performance.now() - t0), b))))
  assert.equal(client.stats().batchesSent, 1)
  assert.equal(hits.get('1'), 1)
  assert.ok(bodies.every((b) => b.auth === 'Bearer fay' && b.item !== null), JSON.stringify(bodies))
  assert.ok(at['/data/1'] < 400 && at['/data/slow?delay=600'] >= 590, JSON.stringify(at))

  const sock = createClient({ baseUrl: url, socket: { url: url.replace('http', 'ws') + '/ws', lingerMs: 50 } })
  const seen = []
  const stop = sock.subscribe('/data/live', (s) => s.data !== undefined && seen.push(s.data))
  const end = Date.now() + 3000
  while (!seen.some((d) => d.live === '/data/live') && Date.now() < end) await sleep(10)
  assert.ok(seen.some((d) => d.live === '/data/live'), JSON.stringify(seen))
  assert.equal(live.publish('/data/live', { pushed: true }), 1)
  while (!seen.some((d) => d.pushed) && Date.now() < end) await sleep(10)
  assert.ok(seen.some((d) => d.pushed))
  stop()
  while (live.connections !== 0 && Date.now() < end + 3000) await sleep(10)
  assert.equal(live.connections, 0)
})
