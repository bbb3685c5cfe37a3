// Server rendering in Node: `await client.prefetch` (a Promise<boolean> that
// never rejects), `dehydrate` (plain JSON of the fresh entries of the
// client's own identity, never a credential's value) and `hydrate` (the data
// keeps its age, newer data stays, bad shapes are refused whole).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { clientOf, createClient, rejection, reply, serve, sleep, within } from './helpers.mjs'

const SECRET = 'Bearer s3cr3t-token'
const COOKIE = 'session=c00kie-value'

function users(t) {
  return serve(t, (req, res) => {
    const path = req.url.split('?')[0]
    if (path === '/fail') return reply(res, 500, { no: 1 })
    if (path === '/nostore') return reply(res, 200, { n: 1 }, { 'Cache-Control': 'no-store' })
    if (path === '/slow') return setTimeout(() => reply(res, 200, { slow: true }), 150)
    // The data depends on who asks, without echoing the credential itself.
    const user = req.headers.cookie === COOKIE ? 'alice' : req.headers.cookie === undefined ? 'nobody' : 'someone'
    reply(res, 200, { path, user, signedIn: req.headers.authorization === SECRET }, { ETag: `"${path}"` })
  })
}

test('await prefetch: true once the data is in the cache, false when it failed or was skipped; it never rejects', { timeout: 5_000 }, async (t) => {
  const srv = await users(t)
  const client = clientOf(srv)
  assert.equal(await within(client.prefetch('/a'), 2_000, 'prefetch'), true)
  assert.equal(client.peek('/a').data.path, '/a', 'in the cache')
  assert.equal(await client.prefetch('/a'), true, 'already fresh: true, no request')
  assert.equal(srv.count('/a'), 1)
  assert.equal(await client.prefetch('/fail'), false)
  assert.equal(await client.prefetch('/nostore'), false, 'not kept: not in the cache')
  assert.equal(await client.prefetch('http://[bad'), false)
  // Two prefetches of one url (the second finds the first in flight) share one request.
  const both = await Promise.all([client.prefetch('/slow'), client.prefetch('/slow')])
  assert.deepEqual(both, [true, true])
  assert.equal(srv.count('/slow'), 1)
  // More than the concurrency (4) and the queue: every promise settles.
  const many = await within(Promise.all(Array.from({ length: 40 }, (_, i) => client.prefetch(`/m/${i}`))), 3_000, '40 prefetches')
  assert.equal(many.length, 40)
  assert.ok(many.filter(Boolean).length >= 8, `${many.filter(Boolean).length} of 40 landed`)
  for (const [i, ok] of many.entries()) assert.equal(ok, client.peek(`/m/${i}`).data !== undefined, `/m/${i}`)
  assert.equal(client.stats().inFlight, 0)
})

test('prefetch needs a baseUrl in Node: a relative url resolves false, and get says why', { timeout: 5_000 }, async () => {
  const client = createClient()
  assert.equal(await client.prefetch('/x'), false)
  const e = await rejection(client.get('/x'))
  assert.equal(e.kind, 'invalid')
  assert.match(e.message, /baseUrl/)
  assert.equal(client.stats().prefetchFailures, 1)
})

test('dehydrate: the fresh entries of the client own identity as JSON, no credential value in it', { timeout: 5_000 }, async (t) => {
  const srv = await users(t)
  const client = createClient({ baseUrl: srv.url, headers: { Cookie: COOKIE, Authorization: SECRET }, cache: { ttlMs: 60_000 } })
  assert.equal(await client.prefetch('/me'), true)
  await client.get('/list?b=2&a=1')
  await client.get('/short', { ttlMs: 1 }) // stale 1 ms later
  await client.get('/other', { headers: { Authorization: 'Bearer someone-else' } })
  await client.get('/part', { partition: 'tenant-2' })
  await client.get('/stale')
  client.invalidate('/stale')
  await rejection(client.get('/fail', { retry: 0 })) // (retried, it would age the others)
  await client.get('/nostore')
  const state = client.dehydrate()
  const text = JSON.stringify(state)
  assert.deepEqual(JSON.parse(text), state, 'plain JSON')
  assert.ok(!text.includes('s3cr3t') && !text.includes('c00kie') && !text.includes('someone-else'), text)
  const urls = state.entries.map((e) => e.url).sort()
  assert.deepEqual(urls, ['/list?a=1&b=2', '/me'])
  const me = state.entries.find((e) => e.url === '/me')
  assert.deepEqual(me.data, { path: '/me', user: 'alice', signedIn: true }, 'the data is what the server answered this user')
  assert.equal(me.etag, '"/me"')
  assert.equal(me.ttlMs, 60_000)
  assert.ok(Math.abs(me.updatedAt - Date.now()) < 1_000, `updatedAt ${me.updatedAt} is ms since the epoch`)
  // Another origin than baseUrl's keeps its absolute url.
  const other = await users(t)
  await client.get(`${other.url}/far`)
  assert.ok(client.dehydrate().entries.some((e) => e.url === `${other.url}/far`))
})

test('hydrate: the first read has the data and sends no request; it keeps its age', { timeout: 5_000 }, async (t) => {
  const srv = await users(t)
  const server = createClient({ baseUrl: srv.url, headers: { Cookie: COOKIE }, cache: { ttlMs: 60_000 } })
  await server.prefetch('/me')
  await server.prefetch('/old', { ttlMs: 300 })
  const state = JSON.parse(JSON.stringify(server.dehydrate()))
  // Hydrated before the module is ready: peek shows it at once.
  const browser = createClient({ baseUrl: srv.url })
  browser.hydrate(state)
  assert.equal(browser.peek('/me').data.user, 'alice')
  assert.equal(browser.peek('/me').stale, false)
  const body = await browser.get('/me')
  assert.equal(body.user, 'alice')
  assert.equal(srv.count('/me'), 1, 'no request for hydrated data')
  assert.equal(browser.peek('/me').updatedAt, state.entries.find((e) => e.url === '/me').updatedAt, 'its age is the server’s')
  // Hydrating again (a second render) is idempotent.
  browser.hydrate(state)
  assert.equal(browser.peek('/me').data, body)
  await sleep(350)
  assert.equal(browser.peek('/old').stale, true, 'stale once its TTL has passed since the server fetched it')
  await browser.get('/old', { ttlMs: 300 })
  assert.equal(srv.count('/old'), 2)
  // Newer data here is never overwritten by an older render.
  const newer = await browser.get('/me', { fresh: true })
  browser.hydrate(state)
  assert.equal(browser.peek('/me').data, newer)
  // Hydrated into a ready client too.
  const ready = createClient({ baseUrl: srv.url })
  await ready.get('/warm')
  ready.hydrate(state)
  assert.equal(ready.peek('/me').data.user, 'alice')
  await ready.get('/me')
  assert.equal(srv.count('/me'), 2, 'only the fresh get above went out')
})

test('hydrate into a client with no base (a server rendering the page): peek finds relative urls as spelled', { timeout: 5_000 }, async () => {
  const client = createClient()
  client.hydrate({ entries: [{ url: '/me', data: { n: 1 }, updatedAt: Date.now(), ttlMs: 10_000 }] })
  assert.deepEqual(client.peek('/me').data, { n: 1 })
  assert.throws(() => client.peek('/other'), (e) => e.kind === 'invalid')
  await sleep(50)
  assert.deepEqual(client.peek('/me').data, { n: 1 }, 'still there once the module is ready')
})

test('hydrate refuses a bad shape whole, with a typed error naming what is wrong', { timeout: 5_000 }, async () => {
  const client = createClient({ baseUrl: 'http://127.0.0.1:9' })
  const good = { url: '/ok', data: 1, updatedAt: Date.now(), ttlMs: 1000 }
  const bad = [
    [42, /state must be what `dehydrate\(\)` returns, got 42/],
    [{ entries: 'x' }, /state must be what/],
    [{ entries: [good, null] }, /entries\[1\]/],
    [{ entries: [{ ...good, url: 7 }] }, /entries\[0\]\.url/],
    [{ entries: [{ ...good, updatedAt: -1 }] }, /entries\[0\]\.updatedAt` must be a whole number >= 0, got -1/],
    [{ entries: [{ url: '/a', data: 1, ttlMs: 1 }] }, /entries\[0\] needs a `url`, JSON `data`, `updatedAt` and `ttlMs`/],
    [{ entries: [{ ...good, ttlMs: 'x' }] }, /ttlMs/],
    [{ entries: [{ ...good, data: undefined }] }, /JSON `data`/],
    [{ entries: [{ ...good, extra: 1 }] }, /unknown option `extra`/],
    [{ entries: [good, { ...good, url: 'ftp://x/y' }] }, /entries\[1\]\.url: `ftp:\/\/x\/y` is not an http/],
  ]
  for (const [state, message] of bad) {
    assert.throws(() => client.hydrate(state), (e) => e.kind === 'invalid' && message.test(e.message) && e.message.startsWith('calmfetch: hydrate: '), JSON.stringify(state))
  }
  assert.equal(client.peek('/ok').data, undefined, 'nothing taken from a refused state')
  client.hydrate(undefined)
  client.hydrate({ entries: [] })
})
