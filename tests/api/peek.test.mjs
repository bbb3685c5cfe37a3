// `peek` reads the core's entry of a request: under any spelling of its url,
// and without making a key for a url nothing asked for (a key made only to be
// read would never be freed: memory must stay flat).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { clientOf, reply, serve } from './helpers.mjs'

test('peek finds an entry under another spelling of its url', { timeout: 5_000 }, async (t) => {
  const srv = await serve(t, (req, res) => reply(res, 200, { n: 1 }))
  const client = clientOf(srv)
  await client.get('/x?b=2&a=1')
  assert.deepEqual(client.peek('/x?a=1&b=2').data, { n: 1 })
  assert.deepEqual(client.peek('/x?b=2&a=1#top').data, { n: 1 })
})

test('peeking at 100,000 urls nothing asked for keeps no key and grows no memory', { timeout: 20_000 }, async (t) => {
  const srv = await serve(t, (req, res) => reply(res, 200, {}))
  const client = clientOf(srv)
  await client.get('/warm')
  const before = client.stats().memoryBytes
  for (let i = 0; i < 100_000; i++) {
    const s = client.peek(`/never/${i}`)
    assert.ok(s.data === undefined && s.stale === true && s.isFetching === false)
  }
  assert.equal(client.stats().memoryBytes, before, 'wasm memory grew')
  assert.equal(srv.count('/never/0'), 0)
})
