// Defect 11 of issue 14: memory is bounded in bytes. The 30 MB test comes
// first: wasm memory never shrinks, so it must start from a small module.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { clientOf, rejection, reply, serve } from './helpers.mjs'

test('a 30 MB answer reaches its caller without growing wasm memory by its size', { timeout: 20_000 }, async (t) => {
  const item = 'x'.repeat(1_000)
  const big = JSON.stringify(Array.from({ length: 30_000 }, () => item))
  const srv = await serve(t, (req, res) => reply(res, 200, big))
  const client = clientOf(srv)
  const before = client.stats().memoryBytes
  const body = await client.get('/big')
  assert.equal(body.length, 30_000)
  const grown = client.stats().memoryBytes - before
  assert.ok(grown < 8 * 2 ** 20, `wasm memory grew by ${(grown / 2 ** 20).toFixed(1)} MB`)
  assert.equal(client.peek('/big').data, undefined, 'a body over maxBodyBytes was cached')
})

test('cache.maxBytes bounds the bytes of cached bodies', { timeout: 5_000 }, async (t) => {
  const srv = await serve(t, (req, res) => reply(res, 200, { path: req.url, pad: 'p'.repeat(2_970) }))
  const client = clientOf(srv, { cache: { maxBytes: 10_000, ttlMs: 60_000 } })
  const urls = ['/1', '/2', '/3', '/4', '/5']
  for (const url of urls) {
    const body = await client.get(url)
    assert.ok(JSON.stringify(body).length > 2_900 && JSON.stringify(body).length < 3_100)
  }
  const entries = client.stats().cacheEntries
  assert.ok(entries <= 3, `${entries} bodies of ~3,000 bytes cached under maxBytes 10,000`)
  await client.get('/1')
  assert.equal(srv.count('/1'), 2, 'the oldest body was still cached')
})

test('an error body over maxBodyBytes is not kept', { timeout: 5_000 }, async (t) => {
  const srv = await serve(t, (req, res) => reply(res, 500, { error: 'e'.repeat(5_000) }))
  const client = clientOf(srv, { cache: { maxBodyBytes: 1_000 }, circuit: false })
  const e = await rejection(client.get('/boom'), 'a get answered 500')
  assert.equal(e.kind, 'http')
  assert.equal(e.status, 500)
  assert.ok(e.body === undefined, `the ${JSON.stringify(e.body)?.length}-byte error body was kept`)
})
