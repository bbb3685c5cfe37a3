// The Client over a fake core (fake-core.mjs) against a loopback server: the
// queue before the module is ready, the hot path, dedup, errors, abort,
// listeners, snapshots and invalid input. The real core's decisions are
// tested natively in Rust; this checks that the shell carries them out.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { once } from 'node:events'
import { create } from '../../js/client.js'
import { CalmfetchError } from '../../js/errors.js'
import { fakeCore } from './fake-core.mjs'

let fake
const seen = []
const server = createServer((req, res) => {
  seen.push(req)
  if (req.url.startsWith('/slow')) return setTimeout(() => res.end('{"slow":true}'), 50)
  if (req.url === '/503') {
    res.writeHead(503, { 'Retry-After': '1' })
    return res.end('{"why":"busy"}')
  }
  if (req.url === '/html') return res.end('<html>')
  res.setHeader('ETag', '"e1"')
  res.end(JSON.stringify({ path: req.url, auth: req.headers.authorization ?? null, x: req.headers['x-t'] ?? null }))
})
server.listen(0, '127.0.0.1')
await once(server, 'listening')
const base = `http://127.0.0.1:${server.address().port}`
const client = create({ baseUrl: base, headers: { Authorization: 'Bearer a' }, cache: { ttlMs: 60_000 } }, (env) => new Promise((r) => setTimeout(() => r((fake = fakeCore(env))), 30)))
test.after(() => server.close())

test('calls before the module is ready are queued and replayed in order', async () => {
  assert.equal(client.peek('/a').data, undefined)
  assert.equal(client.stats().requested, 0)
  assert.equal(client.isLive('/a'), false)
  const heard = []
  const stop = client.subscribe('/a?a=1&b=2', (s) => heard.push(s))
  const body = await client.get('/a?b=2&a=1#x')
  assert.deepEqual(body, { path: '/a?a=1&b=2', auth: 'Bearer a', x: null })
  assert.ok(heard.some((s) => s.data === body), 'the listener heard the data')
  const s = client.peek('/a?a=1&b=2')
  assert.equal(s.data, body)
  assert.equal(s.stale, false)
  assert.equal(typeof s.updatedAt, 'number')
  assert.equal(client.peek('/a?a=1&b=2'), s, 'the same frozen snapshot until it changes')
  assert.ok(Object.isFrozen(s))
  stop()
})

test('a cached get crosses one call and answers the same object', async () => {
  const a = await client.get('/c')
  const n = seen.length
  assert.equal(await client.get('/c'), a)
  assert.equal(await client.get('/c', { headers: { 'X-T': '1' } }), a, 'headers outside the key share the entry')
  assert.equal(seen.length, n)
  const b = await client.get('/c', { headers: { Authorization: 'Bearer b' } })
  assert.equal(b.auth, 'Bearer b', 'another identity is another key')
  assert.equal(client.stats().cacheHits, 2)
})

test('identical requests share one fetch; every caller gets the same body', async () => {
  const n = seen.length
  const all = await Promise.all(Array.from({ length: 10 }, () => client.get('/slow')))
  assert.equal(seen.length, n + 1)
  assert.ok(all.every((b) => b === all[0]))
})

test('HTTP and parse errors: one error object for every waiter and the snapshot', async () => {
  const heard = []
  const stop = client.subscribe('/503', (s) => heard.push(s))
  const [e1, e2] = await Promise.all([client.get('/503').catch((e) => e), client.get('/503').catch((e) => e)])
  assert.ok(e1 instanceof CalmfetchError)
  assert.equal(e1, e2)
  assert.equal(e1.message, `calmfetch: GET ${base}/503 failed: HTTP 503`)
  assert.deepEqual([e1.kind, e1.status, e1.body, e1.url], ['http', 503, { why: 'busy' }, `${base}/503`])
  assert.equal(client.peek('/503').error, e1)
  stop()
  const p = await client.get('/html').catch((e) => e)
  assert.equal(p.kind, 'parse')
  assert.match(p.message, /failed: response is not JSON: /)
  const d = await fake.calls.find((c) => c[0] === 'done' && c[2] === 503)
  assert.deepEqual(d.slice(2), [503, 14, 0])
})

test('abort rejects the caller with an AbortError; the last one cancels the request', async () => {
  const c = new AbortController()
  const p = client.get('/slow2', { signal: c.signal })
  c.abort()
  const e = await p.catch((e) => e)
  assert.deepEqual([e.name, e.kind], ['AbortError', 'abort'])
  assert.equal((await client.get('/x', { signal: c.signal }).catch((e) => e)).name, 'AbortError')
})

test('bad input is refused with a named error', async () => {
  const msg = async (p) => (await p.catch((e) => e)).message
  assert.match(await msg(client.get(42)), /calmfetch: get: the URL must be a string, got 42/)
  assert.match(await msg(client.get('ftp://x.test/a')), /not an http/)
  assert.match(await msg(client.get('/x', { ttl: 5 })), /unknown option `ttl` in get options/)
  assert.match(await msg(client.get('/x', { ttlMs: -1 })), /get.ttlMs/)
  assert.match(await msg(client.get('/x', { signal: 'no' })), /AbortSignal/)
  assert.match(await msg(client.get('http://u:s3cret@h.test/')), /user name or password/)
  assert.doesNotMatch(await msg(client.get('http://u:s3cret@h.test/')), /s3cret/)
  assert.throws(() => client.subscribe('/x', 5), /subscribe: the listener must be a function, got 5/)
  assert.throws(() => client.peek('/x', { nope: 1 }), /calmfetch: peek: unknown option `nope` in subscribe options \(known: headers, partition, responseType\)/)
  assert.throws(() => client.poll('/x', {}), /poll: option `poll.intervalMs` is required/)
  assert.throws(() => client.poll('/x', { intervalMs: 5, onData: 1 }), /poll: option `poll.onData` must be a function/)
  assert.throws(() => create({ timeout: 5 }, () => fake), /createClient: unknown option `timeout`/)
  assert.throws(() => create('nope', () => fake), (e) => e.kind === 'invalid' && /must be an object/.test(e.message))
})

test('invalidate marks entries under a prefix stale', async () => {
  await client.get('/inv/1')
  await client.get('/inv/1/x')
  await client.get('/inv/10')
  assert.equal(client.invalidate('/inv/1'), 2)
  assert.equal(client.peek('/inv/1').stale, true)
  assert.equal(client.peek('/inv/10').stale, false)
})

test('a cached get costs well under a microsecond in the shell', async () => {
  await client.get('/hot')
  const o = { headers: { 'X-T': '1' } }
  const time = (f) => {
    for (let i = 0; i < 20_000; i++) f()
    const t = performance.now()
    const n = 200_000
    for (let i = 0; i < n; i++) f()
    return ((performance.now() - t) * 1000) / n
  }
  const plain = time(() => client.get('/hot'))
  const reused = time(() => client.get('/hot', o))
  const inline = time(() => client.get('/hot', { headers: { 'X-T': '1' } }))
  console.log(`cached get: ${plain.toFixed(3)} µs; with a reused options object ${reused.toFixed(3)} µs; with an inline literal ${inline.toFixed(3)} µs`)
  assert.ok(plain < 5, `${plain} µs`)
})
