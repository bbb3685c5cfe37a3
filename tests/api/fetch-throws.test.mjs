// Defect 8 of issue 14: a `fetch` that throws synchronously (the package
// looks `fetch` up when it sends) fails its request cleanly and leaves
// nothing behind.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { CalmfetchError, clientOf, patchGlobal, rejection, reply, serve, within } from './helpers.mjs'

test('a fetch that throws synchronously rejects as network and leaves no dead request', { timeout: 5_000 }, async (t) => {
  const srv = await serve(t, (req, res) => reply(res, 200, { ok: true }))
  // retry: 0: a throwing fetch is a network failure, which reads retry by default (tests/api/retry.test.mjs).
  const client = clientOf(srv, { timeoutMs: 0, circuit: false, retry: 0 })
  let calls = 0
  const restore = patchGlobal(t, 'fetch', () => () => {
    calls++
    throw new TypeError('fetch is broken here')
  })
  const e = await rejection(client.get('/a'), 'the get whose fetch threw')
  assert.equal(calls, 1, 'the package did not call the replaced globalThis.fetch')
  assert.ok(e instanceof CalmfetchError, `not a CalmfetchError: ${e?.name}: ${e?.message}`)
  assert.equal(e.kind, 'network')
  assert.equal(client.stats().inFlight, 0, 'the failed request is still in flight')
  restore()
  assert.deepEqual(await within(client.get('/a'), 2_000, 'the next get of the key (timeoutMs: 0)'), { ok: true })
  assert.equal(srv.count('/a'), 1)
})
