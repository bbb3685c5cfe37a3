// Defect 4 of issue 14: answers that are not cached (`no-store`, over
// `maxBodyBytes`) still reach the key's subscribers.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { clientOf, reply, serve, snapshots } from './helpers.mjs'

/**
 * Subscribe to `/data`, then `load` it (a get or a refresh): the listener and
 * `peek` see the body, and the next get goes to the network again.
 */
async function subscribersSeeUncachedData(t, { body, headers = {}, options = {}, load }) {
  const srv = await serve(t, (req, res) => reply(res, 200, body, headers))
  const client = clientOf(srv, options)
  const seen = snapshots()
  const stop = client.subscribe('/data', seen.listener)
  t.after(stop)
  assert.deepEqual(await load(client, '/data'), body)
  const withData = await seen.next((s) => s.data !== undefined, 1_000, 'a snapshot with data')
  assert.deepEqual(withData.data, body)
  assert.deepEqual(client.peek('/data').data, body, 'peek while subscribed')
  assert.deepEqual(await client.get('/data'), body)
  assert.equal(srv.count('/data'), 2, 'the second get was answered from a cache that must not hold this body')
}

test('a no-store answer reaches subscribers but is not cached', { timeout: 5_000 }, async (t) => {
  await subscribersSeeUncachedData(t, {
    body: { user: 'alice', n: 1 },
    headers: { 'Cache-Control': 'no-store' },
    load: (client, url) => client.get(url),
  })
})

test('a no-store answer to refresh reaches subscribers', { timeout: 5_000 }, async (t) => {
  await subscribersSeeUncachedData(t, {
    body: { user: 'alice', n: 2 },
    headers: { 'Cache-Control': 'no-store' },
    load: (client, url) => client.refresh(url),
  })
})

test('a body over cache.maxBodyBytes reaches subscribers but is not cached', { timeout: 5_000 }, async (t) => {
  await subscribersSeeUncachedData(t, {
    body: { blob: 'x'.repeat(2_000) },
    options: { cache: { maxBodyBytes: 1_000 } },
    load: (client, url) => client.get(url),
  })
})
