// On a server, request-scoped clients of different users share one process,
// often through several copies of the package (a framework's server bundles,
// worker threads): one client's clear() (a user logging out) empties that
// client only, not the clients of another copy.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { createClient } from '../../pkg/index.js'

const { createClient: createOther } = await import('../../pkg/index.js?copy=2') // a second module instance

test("a client's clear() in Node leaves the other clients of the process alone", { timeout: 5_000 }, async (t) => {
  let hits = 0
  const srv = createServer((req, res) => {
    hits++
    res.setHeader('Content-Type', 'application/json')
    res.end(JSON.stringify({ n: hits }))
  })
  await new Promise((r) => srv.listen(0, '127.0.0.1', r))
  t.after(() => srv.close())
  const baseUrl = `http://127.0.0.1:${srv.address().port}`
  const alice = createClient({ baseUrl, partition: 'alice', cache: { ttlMs: 60_000 } })
  const bob = createOther({ baseUrl, partition: 'bob', cache: { ttlMs: 60_000 } })
  await alice.get('/me')
  await bob.get('/me')
  bob.clear()
  await new Promise((r) => setTimeout(r, 100)) // a broadcast would have arrived by now
  assert.equal(bob.peek('/me').data, undefined, 'the client that cleared is empty')
  assert.deepEqual(alice.peek('/me').data, { n: 1 }, 'the other client keeps its data')
  await alice.get('/me')
  assert.equal(hits, 2, 'and serves it from its cache')
})
