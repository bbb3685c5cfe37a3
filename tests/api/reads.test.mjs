// Requests real backends need (issue 16): a headers function (token refresh),
// a partition that keys the cache instead of the token, a custom fetch,
// text bodies, and structural sharing of equal answers.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { batchRoute, CalmfetchError, clientOf, closeBroadcastChannelsAfter, dataMessage, fakeAdapter, snapshots, createClient, patchGlobal, rejection, reply, routes, serve, sleep, within } from './helpers.mjs'

/** A server whose every path echoes the Authorization it got, counting requests. */
const echoAuth = (t) => serve(t, (req, res, srv) => reply(res, 200, { auth: req.headers.authorization ?? null, n: srv.total() }))

test('a headers function is called for each request, its promise awaited, its headers sent', { timeout: 5_000 }, async (t) => {
  const srv = await echoAuth(t)
  let token = 'one'
  let calls = 0
  const client = clientOf(srv, {
    partition: 'user-1',
    headers: async () => {
      calls++
      await sleep(5)
      return { Authorization: `Bearer ${token}` }
    },
  })
  assert.equal((await client.get('/a')).auth, 'Bearer one')
  token = 'two'
  assert.equal((await client.get('/b')).auth, 'Bearer two')
  assert.equal(calls, 2)
  // A fresh hit sends nothing and calls nothing.
  await client.get('/a')
  assert.equal(calls, 2)
})

test('with a partition, a new token keeps the cache (the partition is the identity)', { timeout: 5_000 }, async (t) => {
  const srv = await echoAuth(t)
  const client = clientOf(srv, { cache: { ttlMs: 60_000 } })
  const a = await client.get('/me', { partition: 'u1', headers: { Authorization: 'Bearer old' } })
  const b = await client.get('/me', { partition: 'u1', headers: { Authorization: 'Bearer new' } })
  assert.equal(b, a, 'the refreshed token is served the entry its partition keeps')
  assert.equal(srv.count('/me'), 1)
  // Another partition is another user.
  const c = await client.get('/me', { partition: 'u2', headers: { Authorization: 'Bearer new' } })
  assert.notEqual(c, a)
  assert.equal(srv.count('/me'), 2)
  // Without a partition the credentials still key the cache.
  const d = await client.get('/me', { headers: { Authorization: 'Bearer x' } })
  const e = await client.get('/me', { headers: { Authorization: 'Bearer y' } })
  assert.deepEqual([d.auth, e.auth], ['Bearer x', 'Bearer y'])
})

test('a headers function needs a partition, and a failing one fails its request once with a network error', { timeout: 5_000 }, async (t) => {
  assert.throws(
    () => createClient({ baseUrl: 'http://127.0.0.1:9', headers: () => ({}) }),
    (e) => e instanceof CalmfetchError && e.kind === 'invalid' && /headers` is a function: set `partition`/.test(e.message),
  )
  const srv = await echoAuth(t)
  let fail = true
  const client = clientOf(srv, {
    partition: 'u',
    retry: 0,
    headers: () => (fail ? Promise.reject(new Error('refresh token expired')) : { Authorization: 'Bearer ok' }),
  })
  let settled = 0
  const e = await rejection(client.get('/a').finally(() => settled++))
  assert.ok(e instanceof CalmfetchError)
  assert.equal(e.kind, 'network')
  assert.match(e.message, /the headers function failed: refresh token expired/)
  assert.equal(srv.total(), 0, 'nothing was sent')
  const bad = clientOf(srv, { partition: 'u', retry: 0, headers: () => ({ Authorization: 5 }) })
  assert.match((await rejection(bad.get('/a'))).message, /the headers function returned a bad value/)
  const throws = clientOf(srv, {
    partition: 'u',
    retry: 0,
    headers: () => {
      throw new Error('no session')
    },
  })
  assert.match((await rejection(throws.get('/a'))).message, /the headers function failed: no session/)
  fail = false
  assert.equal((await client.get('/a')).auth, 'Bearer ok')
  await sleep(20)
  assert.equal(settled, 1)
})

test('a headers function also authenticates each batch POST', { timeout: 5_000 }, async (t) => {
  const posts = []
  const srv = await serve(
    t,
    routes({
      '/batch': (req, res, srv, entry) => {
        posts.push(req.headers.authorization)
        return batchRoute((item) => ({ status: 200, body: { url: item.url } }))(req, res, srv, entry)
      },
    }),
  )
  let n = 0
  const client = clientOf(srv, { batch: true, partition: 'u', headers: () => ({ Authorization: `Bearer ${++n}` }) })
  await Promise.all([client.get('/x'), client.get('/y')])
  await Promise.all([client.get('/z'), client.get('/w')])
  assert.deepEqual(posts, ['Bearer 1', 'Bearer 2'])
})

test('a custom fetch is used for gets and batches', { timeout: 5_000 }, async (t) => {
  const srv = await serve(t, routes({ '/a': { a: 1 }, '/batch': batchRoute((item) => ({ status: 200, body: { url: item.url } })) }))
  const seen = []
  const fetch = (url, init) => {
    seen.push(`${init.method} ${new URL(url).pathname}`)
    return globalThis.fetch(url, init)
  }
  assert.deepEqual(await clientOf(srv, { fetch }).get('/a'), { a: 1 })
  const batched = clientOf(srv, { fetch, batch: true })
  await Promise.all([batched.get('/x'), batched.get('/y')])
  assert.deepEqual(seen.slice(0, 1), ['GET /a'])
  assert.deepEqual(seen.slice(1), ['POST /batch'])
  assert.throws(() => createClient({ baseUrl: srv.url, fetch: 'no' }), /option `createClient.fetch` must be a function, got "no"/)
})

test('without the option, the global fetch is looked up at each request, not at createClient', { timeout: 5_000 }, async (t) => {
  const srv = await serve(t, routes({ '/a': { a: 1 }, '/b': { b: 1 } }))
  const client = clientOf(srv)
  assert.deepEqual(await client.get('/a'), { a: 1 })
  let calls = 0
  patchGlobal(t, 'fetch', (original) => (url, init) => {
    calls++
    return original(url, init)
  })
  assert.deepEqual(await client.get('/b'), { b: 1 })
  assert.equal(calls, 1)
})

test("responseType: 'text' reads the body as text, in its own cache entry", { timeout: 5_000 }, async (t) => {
  const srv = await serve(
    t,
    routes({
      '/readme': (req, res) => reply(res, 200, '# Title\nnot JSON', { 'Content-Type': 'text/markdown' }),
      '/n': { n: 1 },
    }),
  )
  const client = clientOf(srv, { cache: { ttlMs: 60_000 } })
  assert.equal(await client.get('/readme', { responseType: 'text' }), '# Title\nnot JSON')
  assert.equal(client.peek('/readme', { responseType: 'text' }).data, '# Title\nnot JSON')
  // The JSON read of the same URL is another entry (and this body is no JSON).
  assert.equal((await rejection(client.get('/readme', { retry: 0 }))).kind, 'parse')
  assert.equal(await client.get('/n', { responseType: 'text' }), '{"n":1}')
  assert.deepEqual(await client.get('/n'), { n: 1 })
  assert.equal(srv.count('/n'), 2)
  assert.equal(await client.get('/readme', { responseType: 'text' }), '# Title\nnot JSON')
  assert.equal(srv.count('/readme'), 2)
  assert.throws(() => client.peek('/n', { responseType: 'xml' }), /option `subscribe.responseType` must be "json" or "text", got "xml"/)
})

test('a refetch with equal JSON keeps the previous object; a change keeps the unchanged parts', { timeout: 5_000 }, async (t) => {
  let version = 1
  const srv = await serve(t, (req, res) => reply(res, 200, { list: [{ id: 1 }, { id: 2 }], meta: { v: version } }))
  const client = clientOf(srv)
  const a = await client.get('/s')
  const b = await client.get('/s', { fresh: true })
  assert.equal(b, a, 'an equal answer is the same object')
  assert.equal(client.peek('/s').data, a)
  version = 2
  const c = await client.get('/s', { fresh: true })
  assert.notEqual(c, a)
  assert.equal(c.list, a.list, 'the unchanged list keeps its identity')
  assert.notEqual(c.meta, a.meta)
  assert.deepEqual(c.meta, { v: 2 })
  assert.equal(srv.total(), 3)
})

test("a poll and a refresh of a text read stay on the text entry", { timeout: 5_000 }, async (t) => {
  closeBroadcastChannelsAfter(t)
  let n = 0
  const srv = await serve(t, (req, res) => reply(res, 200, `line ${++n}`, { 'Content-Type': 'text/plain' }))
  const client = clientOf(srv)
  const seen = []
  const handle = client.poll('/log', { intervalMs: 50, responseType: 'text', onData: (d) => seen.push(d) })
  try {
    await within(
      (async () => {
        while (seen.length < 2) await sleep(10)
      })(),
      3_000,
      'two polled texts',
    )
  } finally {
    handle.stop()
  }
  assert.match(seen[0], /^line \d+$/)
  assert.match(await client.refresh('/log', { responseType: 'text' }), /^line \d+$/)
  assert.match(client.peek('/log', { responseType: 'text' }).data, /^line \d+$/)
  assert.equal(client.peek('/log').data, undefined, 'nothing went to the JSON entry')
})

test('text reads in a batch take each item body as text', { timeout: 5_000 }, async (t) => {
  const srv = await serve(t, routes({ '/batch': batchRoute((item) => ({ status: 200, body: item.url === '/a' ? 'plain a' : { b: 1 } })) }))
  const client = clientOf(srv, { batch: true })
  const [a, b, c] = await Promise.all([
    client.get('/a', { responseType: 'text' }),
    client.get('/b', { responseType: 'text' }),
    client.get('/b'),
  ])
  assert.deepEqual([a, b, c], ['plain a', '{"b":1}', { b: 1 }])
  assert.equal(srv.count('/batch'), 1)
})

test('a socket push with equal data keeps the object the listeners have', { timeout: 5_000 }, async (t) => {
  const srv = await serve(t, (req, res) => reply(res, 200, { over: 'http' }))
  const sock = fakeAdapter({ openInConnect: true })
  const client = clientOf(srv, { socket: { adapter: sock.adapter } })
  const seen = snapshots()
  const stop = client.subscribe('/live', seen.listener)
  t.after(stop)
  await within(
    (async () => {
      while (!sock.handlers) await sleep(5)
    })(),
    2_000,
    'the socket',
  )
  sock.handlers.message(dataMessage('/live', { score: 3, teams: ['a', 'b'] }))
  const first = (await seen.next((s) => s.data !== undefined, 1_000, 'the first push')).data
  sock.handlers.message(dataMessage('/live', { score: 3, teams: ['a', 'b'] }))
  sock.handlers.message(dataMessage('/live', { score: 4, teams: ['a', 'b'] }))
  const last = (await seen.next((s) => s.data?.score === 4, 1_000, 'the changed push')).data
  assert.ok(seen.seen.filter((s) => s.data?.score === 3).every((s) => s.data === first), 'an equal push made a new object')
  assert.equal(last.teams, first.teams, 'the unchanged part kept its identity')
})
