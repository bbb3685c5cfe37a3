// Defect 6 of issue 14: headers that identify the user are part of the key,
// so two users never share a request or a cache entry.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { clientOf, reply, serve, sleep } from './helpers.mjs'

/** A server whose `/me` echoes the header `name` after 50 ms (so gets overlap). */
async function echoServer(t, name) {
  return serve(t, async (req, res) => {
    await sleep(50)
    reply(res, 200, { seen: req.headers[name.toLowerCase()] ?? null })
  })
}

/** Two concurrent gets of `/me`, one per header value: each gets its own answer. */
async function eachUserGetsTheirOwn(t, name, options = {}) {
  const srv = await echoServer(t, name)
  const client = clientOf(srv, options)
  const [a, b] = await Promise.all([
    client.get('/me', { headers: { [name]: 'alice' } }),
    client.get('/me', { headers: { [name]: 'bob' } }),
  ])
  assert.deepEqual(a, { seen: 'alice' }, `alice's get got ${JSON.stringify(a)}`)
  assert.deepEqual(b, { seen: 'bob' }, `bob's get got ${JSON.stringify(b)}`)
  assert.equal(srv.count('/me'), 2)
  // And the cache keeps them apart too.
  assert.deepEqual(await client.get('/me', { headers: { [name]: 'bob' } }), { seen: 'bob' })
  assert.deepEqual(client.peek('/me', { headers: { [name]: 'alice' } }).data, { seen: 'alice' })
}

test('gets with different Cookie headers never share a request or an entry', { timeout: 5_000 }, async (t) => {
  await eachUserGetsTheirOwn(t, 'Cookie')
})

test('gets with different Proxy-Authorization headers never share a request or an entry', { timeout: 5_000 }, async (t) => {
  await eachUserGetsTheirOwn(t, 'Proxy-Authorization')
})

test('headers named in credentialHeaders are part of the key', { timeout: 5_000 }, async (t) => {
  await eachUserGetsTheirOwn(t, 'X-Api-Key', { credentialHeaders: ['X-Api-Key'] })
})

test('gets with the same Cookie still share one request', { timeout: 5_000 }, async (t) => {
  const srv = await echoServer(t, 'Cookie')
  const client = clientOf(srv)
  const answers = await Promise.all([1, 2, 3].map(() => client.get('/me', { headers: { Cookie: 'sid=alice' } })))
  for (const a of answers) assert.deepEqual(a, { seen: 'sid=alice' })
  assert.equal(srv.count('/me'), 1)
})
