// The JS shell's pure parts: messages, URLs, Retry-After, the batch and
// socket wire formats, the loader. `node --test tests/shell-js/`.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { deflateRawSync } from 'node:zlib'
import { CalmfetchError, describe, failure, HTTP, TIMEOUT, abortError } from '../../js/errors.js'
import { normalize, resolve, Refused, origin, pathOf, under, redact } from '../../js/url.js'
import { retryAfter, MAX_RETRY_AFTER_MS } from '../../js/retry.js'
import { clientOptions, callOptions, GET, KEY, SEP } from '../../js/options.js'
import { batchBody, envelope, item, itemResult, answer, NO_STORE, HAS_ETAG, NOT_JSON, NETWORK, EMPTY } from '../../js/fetch.js'
import { line, Lines } from '../../js/stream.js'
import { decode, encode } from '../../js/socket.js'
import { hash } from '../../js/tabs.js'
import { persistOptions } from '../../js/options.js'
import { bytesOf, instantiate } from '../../js/load.js'

const refusal = (f) => {
  try {
    f()
  } catch (e) {
    return e
  }
  assert.fail('no error')
}

test('URLs: fragment dropped, query sorted by name (stable), scheme lower-cased', () => {
  assert.equal(normalize('http://h.test/p?z=1&a=2&m=3#f'), 'http://h.test/p?a=2&m=3&z=1')
  assert.equal(normalize('http://h.test/p?#f'), 'http://h.test/p')
  assert.equal(normalize('HTTPS://h.test/p'), 'https://h.test/p')
  assert.equal(normalize('http://h.test/?b=1&a=2&a=1'), 'http://h.test/?a=2&a=1&b=1')
  assert.notEqual(normalize('http://h.test/?a=2&a=1'), normalize('http://h.test/?a=1&a=2'))
  assert.equal(resolve('/x?b=1&a=2', 'http://h.test/app/'), 'http://h.test/x?a=2&b=1')
  assert.ok(normalize('ftp://x/y').why.includes('not an http: or https: URL'))
  assert.ok(resolve('/relative').why.includes('no page location or `baseUrl`'))
  assert.ok(resolve('http://[oops', 'http://h.test/').why.includes('http://[oops'))
  const long = `javascript:${'x'.repeat(1000)}`
  assert.ok(normalize(long).why.length < 260)
  // 200,000 parameters sort in n log n, repeated names in order.
  const q = Array.from({ length: 200_000 }, (_, i) => `p${199_999 - i}=1`).join('&')
  const out = normalize(`http://h.test/?${q}&p5=2`)
  assert.ok(out.startsWith('http://h.test/?p0=1&p1=1&p10=1'))
  assert.ok(out.includes('&p5=1&p5=2&'))
})

test('URLs with a user name or password are refused without repeating them', () => {
  for (const u of ['http://user:s3cret@h.test/p', 'https://s3cret@h.test', 'http://u:s3cret@h.test?x=1', 'ftp://u:s3cret@h.test/p', 'ws://u:s3cret@h.test/']) {
    const r = resolve(u, 'http://base.test/')
    assert.ok(r instanceof Refused)
    assert.doesNotMatch(r.why, /s3cret/)
  }
  assert.equal(redact('http://u:s3cret@h.test/x'), 'http://')
  assert.ok(!(resolve('http://h.test/a@b?c=d@e') instanceof Refused))
  assert.doesNotMatch(resolve('http://u:s3cret@[bad', 'http://h.test/').why, /s3cret/)
})

test('origins, paths and prefixes', () => {
  assert.equal(origin('http://h.test:8/a?b'), 'http://h.test:8')
  assert.equal(pathOf('http://h.test'), '/')
  assert.equal(pathOf('http://h.test/a?b=1'), '/a?b=1')
  const p = 'http://h.test/api/games/1'
  assert.ok(under('http://h.test/api/games/1', p))
  assert.ok(under('http://h.test/api/games/1/players', p))
  assert.ok(under('http://h.test/api/games/1?x=2', p))
  assert.ok(!under('http://h.test/api/games/10', p))
  assert.ok(under('http://h.test/api/games/10', 'http://h.test/api/games/'))
})

test('Retry-After: seconds and the three date forms, capped at a day', () => {
  assert.equal(retryAfter(' 5 ', 0), 5000)
  assert.equal(retryAfter('0', 0), 0)
  assert.equal(retryAfter('99999999999999999999999', 0), MAX_RETRY_AFTER_MS)
  assert.equal(retryAfter('Fri, 31 Dec 9999 23:59:59 GMT', 0), MAX_RETRY_AFTER_MS)
  const at = 784_111_777_000 // 1994-11-06T08:49:37Z
  for (const form of ['Sun, 06 Nov 1994 08:49:37 GMT', 'Sunday, 06-Nov-94 08:49:37 GMT', 'Sun Nov  6 08:49:37 1994']) {
    assert.equal(retryAfter(form, at - 1000), 1000, form)
  }
  assert.equal(retryAfter('Sun, 06 Nov 1994 08:49:37 GMT', at + 10), 0)
  assert.equal(retryAfter('Tue, 29 Feb 2028 00:00:00 GMT', 1_835_395_200_000 - 5000), 5000)
  assert.equal(retryAfter('Thursday, 31-Dec-26 23:59:59 GMT', 0), MAX_RETRY_AFTER_MS)
  assert.equal(retryAfter('Thursday, 01-Jan-70 00:00:10 GMT', 4000), 6000)
  for (const bad of ['', '-1', '1.5', 'soon', 'Sun, 06-Nov-94 08:49:37 GMT', 'Sunday, 06-Nov-1994 08:49:37 GMT',
    'Sun Nov  6 08:49:37 94', 'Sun, 06 Nov 1994 08:49:37 UTC', 'Sun, 32 Nov 1994 08:49:37 GMT',
    'Sun, 06 Nox 1994 08:49:37 GMT', 'Sun, 06 Nov 1994 25:49:37 GMT', 'Sun,\u00e906 Nov 1994 08:49:37 GM']) {
    assert.equal(retryAfter(bad, 0), -1, bad)
  }
})

test('errors: messages, names and bodies', () => {
  const e = failure('https://a.test/x', 'http', HTTP(503), 503, '{"why":"busy"}')
  assert.ok(e instanceof CalmfetchError && e instanceof Error)
  assert.equal(e.message, 'calmfetch: GET https://a.test/x failed: HTTP 503')
  assert.deepEqual([e.name, e.kind, e.status, e.url], ['CalmfetchError', 'http', 503, 'https://a.test/x'])
  assert.deepEqual(e.body, { why: 'busy' })
  assert.equal(failure('u', 'http', HTTP(500), 500, 'plain').body, 'plain')
  assert.ok(!('body' in failure('u', 'http', HTTP(500), 500, '')))
  assert.equal(failure('u', 'timeout', TIMEOUT(5)).name, 'TimeoutError')
  assert.equal(abortError('u').name, 'AbortError')
  assert.equal(abortError('u').message, "calmfetch: GET u failed: aborted by the caller's signal")
  assert.equal(describe('x'.repeat(100)), `"${'x'.repeat(60)}"`)
  assert.deepEqual([null, () => 1, [], {}, undefined, 1e21, true].map(describe), ['null', 'a function', 'an array', 'an object', 'undefined', '1e+21', 'true'])
})

test('client options: defaults, and every refusal names the option', () => {
  const c = clientOptions(undefined)
  assert.deepEqual(c.nums.slice(0, 5), [2000, 500, 1048576, 16777216, 30000])
  assert.equal(c.nums.length, 29)
  assert.deepEqual(c.nums.slice(26), [2, 1000, 30000], 'retries, retryDelayMs and the longest wait')
  assert.deepEqual(c.nums.slice(20, 25), [65, 4, 1, 5, 10000])
  const bad = [
    ['nope', /createClient options must be an object, got "nope"/],
    [{ timeout: 5 }, /unknown option `timeout` in createClient options \(known: baseUrl, /],
    [{ cache: { ttl: 1 } }, /unknown option `ttl` in `cache` \(known: ttlMs, maxEntries, maxBodyBytes, maxBytes\)/],
    [{ cache: { maxEntries: 0 } }, /option `cache.maxEntries` must be a whole number >= 1, got 0/],
    [{ credentials: 'sometimes' }, /option `createClient.credentials` must be "same-origin", "include" or "omit", got "sometimes"/],
    [{ headers: { 'X-A': 1 } }, /header `X-A` in `createClient.headers` must be a string, got 1/],
    [{ poll: { jitter: 2 } }, /`poll.jitter` must be a number from 0 to 0.5, got 2/],
    [{ poll: { maxBackoffMs: -1 } }, /`poll.maxBackoffMs` must be a whole number/],
    [{ poll: { jiter: 0.1 } }, /unknown option `jiter`/],
    [{ baseUrl: 'http://user:s3cret@127.0.0.1:9/' }, /option `createClient.baseUrl`: a URL with a user name/],
    [{ baseUrl: 'http://h.test', socket: { url: 'ftp://x' } }, /option `socket.url`: `ftp:\/\/x` has the scheme `ftp:`/],
    [{ baseUrl: 'http://h.test', socket: {} }, /option `socket` needs a `url` or an `adapter`/],
    [{ socket: { adapter: { connect() {} } } }, /option `socket.adapter` needs a `send` method/],
    [{ baseUrl: 'http://h.test', socket: { url: '/ws', reconnect: { minMs: 5, maxMs: 1 } } }, /must not be below `minMs`/],
    [{ baseUrl: 'http://h.test', batch: { endpoint: 5 } }, /option `batch.endpoint` must be a string, got 5/],
    [{ circuit: { failures: 0 } }, /option `circuit.failures` must be a whole number >= 1/],
    [{ credentialHeaders: 'x' }, /credentialHeaders` must be an array of header names/],
    [{ headers: () => ({}) }, /option `createClient.headers` is a function: set `partition` too/],
    [{ fetch: {} }, /option `createClient.fetch` must be a function, got an object/],
    [{ retry: 1.5 }, /option `createClient.retry` must be a whole number >= 0, got 1.5/],
    [{ retryDelayMs: -5 }, /option `createClient.retryDelayMs` must be a whole number >= 0, got -5/],
  ]
  for (const [o, want] of bad) assert.match(refusal(() => clientOptions(o)), want)
  // A socket URL with a user name and password is refused without them.
  const secret = refusal(() => clientOptions({ socket: { url: 'ftp://u:s3cret@h.test/ws' } }))
  assert.match(secret, /option `socket.url`: `ftp:\/\/` has the scheme `ftp:`/)
  assert.doesNotMatch(secret, /s3cret/)
  const s = clientOptions({ baseUrl: 'https://h.test/app/', socket: { url: '/ws' }, batch: true, headers: { Authorization: 'a', 'X-T': '1' } })
  assert.equal(s.socket.url, 'wss://h.test/ws')
  assert.equal(s.batch.endpoint, 'https://h.test/batch')
  assert.equal(s.batchOrigin, 'https://h.test')
  assert.equal(s.socketOrigin, 'https://h.test')
  assert.deepEqual(s.defaults.headers, [['X-T', '1']])
  assert.equal(s.socketWho, `same-origin${SEP}1:a${SEP}-`)
})

test('call options: merged with the defaults, credentials in the key', () => {
  const d = clientOptions({ headers: { Authorization: 'Bearer a', 'X-T': '1' }, credentialHeaders: ['X-Api-Key'], partition: 'p' }).defaults
  const r = callOptions({ headers: { 'x-t': '2', Cookie: 'sid=1', 'X-Api-Key': 'k' }, ttlMs: 5, fresh: true }, GET, 'get', d)
  assert.deepEqual(r.plain, { 'x-t': '2' })
  assert.deepEqual(r.send, { 'x-t': '2', Authorization: 'Bearer a', cookie: 'sid=1', 'x-api-key': 'k' })
  // A partition is the identity: the credentials are sent but left out of the key.
  assert.equal(r.who, ['same-origin', '-', '1:p'].join(SEP))
  const u = callOptions({ headers: { Authorization: 'Bearer b', Cookie: 'sid=1' } }, GET, 'get', clientOptions({ credentialHeaders: ['X-Api-Key'] }).defaults)
  assert.equal(u.who, ['same-origin', '8:Bearer b', '-', '6:cookie', '5:sid=1'].join(SEP))
  assert.deepEqual([r.ttl, r.fresh, r.extra], [5, 1, 3 + 1 + 6])
  assert.equal(callOptions(undefined, KEY, 'subscribe', d).ttl, -1)
  assert.equal(callOptions({ partition: 'é' }, KEY, 'subscribe', d).who.split(SEP)[2], '2:é')
  assert.match(refusal(() => callOptions({ ttl: 5 }, GET, 'get', d)), /unknown option `ttl` in get options \(known: signal, ttlMs, headers, fresh, partition, retry, responseType\)/)
  assert.match(refusal(() => callOptions({ ttlMs: -1 }, GET, 'get', d)), /option `get.ttlMs` must be a whole number >= 0, got -1/)
  assert.match(refusal(() => callOptions({ retry: -1 }, GET, 'get', d)), /option `get.retry` must be a whole number >= 0, got -1/)
  assert.match(refusal(() => callOptions({ responseType: 'blob' }, GET, 'get', d)), /option `get.responseType` must be "json" or "text", got "blob"/)
  // cf_get's flags: fresh in bit 0, the call's retries + 1 above it.
  assert.equal(callOptions({ retry: 3, fresh: true }, GET, 'get', d).fresh, 1 | (4 << 1))
  assert.equal(callOptions({ retry: 0 }, GET, 'get', d).fresh, 1 << 1)
  const withFn = clientOptions({ partition: 'u', headers: () => ({}) })
  assert.equal(typeof withFn.headersFn, 'function')
  assert.equal(withFn.defaults.id.partition, 'u')
  assert.match(refusal(() => callOptions({ headers: [] }, KEY, 'subscribe', d)), /option `subscribe.headers` must be an object of strings, got an array/)
  const token = refusal(() => callOptions({ headers: 'Bearer s3cret' }, KEY, 'subscribe', d))
  assert.match(token, /option `subscribe.headers` must be an object of strings, got a string/)
  assert.doesNotMatch(token, /s3cret/)
})

test('persist options', () => {
  const m = (p, o = {}) => refusal(() => persistOptions(p, o)).message
  assert.match(m('yes'), /must be true, false/)
  assert.match(m({ name: '' }, { partition: 'u' }), /`name`/)
  assert.match(m({ maxEntries: 0 }, { partition: 'u' }), /`maxEntries`/)
  assert.match(m({ nmae: 'x' }, { partition: 'u' }), /unknown option `nmae`/)
  assert.match(m(true), /partition/)
  assert.deepEqual(persistOptions(true, { headers: { authorization: 'x' } }), { name: 'calmfetch', maxEntries: 500 })
})

test('batch request body and answers', () => {
  assert.equal(
    batchBody([[1, '/api/games/1', { 'If-None-Match': '"abc"' }], [2, '/api/user', {}]]),
    '{"requests":[{"id":"1","method":"GET","url":"/api/games/1","headers":{"If-None-Match":"\\"abc\\""}},{"id":"2","method":"GET","url":"/api/user"}]}',
  )
  const list = envelope('{"responses":[{"id":"2","status":404,"body":{"error":"nope"}},{"id":"1","status":200,"headers":{"ETag":"\\"abd\\"","X-N":5},"body":{"a":[1,2]}},{"id":3,"status":304},{"status":200},{"id":"9","status":"ok"}],"extra":true}')
  const items = list.map(item)
  assert.deepEqual(items[1], { id: 1, status: 200, headers: { etag: '"abd"' }, body: { a: [1, 2] } })
  assert.equal(items[2].id, 3)
  assert.equal(typeof items[3], 'string')
  assert.equal(items[4], "an answer's status is not an HTTP status")
  assert.equal(item({ id: 'abc', status: 200 }).id, -1)
  const ok = itemResult(items[1], 100)
  assert.deepEqual([ok.status, ok.size, ok.flags, ok.etag], [200, 11, HAS_ETAG, '"abd"'])
  const err = itemResult(items[0], 100)
  assert.deepEqual([err.status, err.errorBody], [404, '{"error":"nope"}'])
  assert.equal(itemResult({ status: 503, headers: { 'retry-after': '2' }, body: 'oops' }, 100).errorBody, 'oops')
  assert.equal(itemResult({ status: 503, headers: { 'retry-after': '2' }, body: 'oops' }, 100).retryAfter, 2000)
  assert.equal(itemResult({ status: 500, headers: {}, body: 'x'.repeat(101) }, 100).errorBody, '')
  const none = itemResult({ status: 200, headers: { 'cache-control': 'No-Store' } }, 100)
  assert.deepEqual([none.body, none.size, none.flags], [null, 0, EMPTY | NO_STORE])
  // A Cache-Control that a batch answer gives as another JSON value is read as its text, never thrown on.
  assert.equal(itemResult({ status: 200, headers: { 'cache-control': ['no-store'] }, body: 1 }, 100).flags, NO_STORE)
  assert.equal(itemResult({ status: 200, headers: { 'cache-control': 5 }, body: 1 }, 100).flags, 0)
  assert.match(envelope('<html>oops</html>'), /not the expected JSON/)
  assert.match(envelope('{"responses":[{"id":"1","status":200,"bo'), /truncated/)
  assert.match(envelope('{"answers":[]}'), /no `responses` array/)
  assert.match(envelope('{"responses":[]} x'), /not the expected JSON/)
})

test('NDJSON: lines split across chunks, a broken line or an end mid-line', () => {
  const l = new Lines()
  assert.deepEqual(l.push('{"id":"1","sta'), [])
  assert.deepEqual(l.push('tus":200}\n\n{"id":"2"'), ['{"id":"1","status":200}'])
  assert.deepEqual(l.push(',"status":200}\n{"id'), ['{"id":"2","status":200}'])
  assert.equal(l.rest, '{"id')
  assert.deepEqual(line('{"id":"1","status":200,"body":null}', false), { id: '1', status: 200, body: null })
  assert.match(line('{"id":"1","status":200,"body":{"a":', true), /ended mid-line/)
  assert.match(line('nope', false), /an NDJSON line is not the expected JSON/)
  assert.match(line('[1]', false), /not an object/)
})

test('socket messages', () => {
  assert.equal(encode(true, '/api/games/1'), '{"type":"subscribe","key":"/api/games/1"}')
  assert.equal(encode(false, '/a'), '{"type":"unsubscribe","key":"/a"}')
  assert.deepEqual(decode('{"type":"data","key":"/a","body":{"x":[1]}}'), { data: '/a', body: { x: [1] } })
  assert.deepEqual(decode('{"key":"/a","type":"error","message":"no such key"}'), { error: '/a', message: 'no such key' })
  for (const bad of ['hello', '{"type":"data","key":"/a"}', '{"type":"data","body":1}', '{"type":"ping","key":"/a"}', '{"type":"data","key":"/a","body":', '[1]']) {
    assert.equal(typeof decode(bad), 'string', bad)
  }
})

test('lock names: FNV-1a 64 of the key text, as before', () => {
  assert.equal(hash(''), 'cbf29ce484222325')
  assert.equal(hash('a'), 'af63dc4c8601ec8c')
})

test('answers of a fetch: body, flags, errors', async () => {
  const res = (body, init) => Promise.resolve(new Response(body, init))
  let r = await answer(res('{"a":1}', { headers: { ETag: '"e"', 'Cache-Control': 'private, no-store' } }), 10)
  assert.deepEqual([r.status, r.size, r.flags, r.body, r.etag], [200, 7, HAS_ETAG | NO_STORE, { a: 1 }, '"e"'])
  r = await answer(res('  '), 10)
  assert.deepEqual([r.body, r.flags], [null, EMPTY])
  r = await answer(res('<html>'), 10)
  assert.equal(r.flags, NOT_JSON)
  assert.ok(r.message.length > 0)
  r = await answer(res('{"e":1}', { status: 429, headers: { 'Retry-After': '3' } }), 10)
  assert.deepEqual([r.status, r.errorBody, r.retryAfter], [429, '{"e":1}', 3000])
  r = await answer(res('x'.repeat(11), { status: 500 }), 10)
  assert.equal(r.errorBody, '')
  r = await answer(Promise.reject(new TypeError('refused')), 10)
  assert.deepEqual([r.status, r.flags, r.message], [0, NETWORK, 'refused'])
})

test('the loader: base64 of raw deflate back to an instantiated module', async () => {
  // (module (import "env" "cf_panic" (func (param i32 i32 i32))) (func (export "answer") (result i32) i32.const 42))
  const wasm = Uint8Array.from([
    0, 97, 115, 109, 1, 0, 0, 0, 1, 11, 2, 96, 3, 127, 127, 127, 0, 96, 0, 1, 127, 2, 16, 1, 3, 101, 110, 118, 8, 99, 102,
    95, 112, 97, 110, 105, 99, 0, 0, 3, 2, 1, 1, 7, 10, 1, 6, 97, 110, 115, 119, 101, 114, 0, 1, 10, 6, 1, 4, 0, 65, 42, 11,
  ])
  const b64 = deflateRawSync(wasm, { level: 9 }).toString('base64')
  assert.deepEqual(bytesOf(Buffer.from('hello').toString('base64')), new Uint8Array(Buffer.from('hello')))
  const exports = await instantiate(b64, { cf_panic() {} })
  assert.equal(exports.answer(), 42)
})

test('structural sharing: equal is identical, unchanged parts keep their identity', async () => {
  const { share } = await import('../../js/share.js')
  const prev = { list: [{ id: 1 }, { id: 2 }], meta: { v: 1 }, s: 'x' }
  const copy = () => JSON.parse(JSON.stringify(prev))
  assert.equal(share(prev, copy()), prev)
  const changed = copy()
  changed.meta.v = 2
  const out = share(prev, changed)
  assert.notEqual(out, prev)
  assert.equal(out.list, prev.list)
  assert.equal(out.list[1], prev.list[1])
  assert.deepEqual(out.meta, { v: 2 })
  // A key more or less, an array for an object, a shorter array: new.
  assert.notEqual(share(prev, { ...copy(), extra: 1 }), prev)
  const { s, ...fewer } = copy()
  assert.notEqual(share(prev, fewer), prev)
  assert.deepEqual(share({ a: [1, 2] }, { a: { 0: 1, 1: 2 } }).a, { 0: 1, 1: 2 })
  assert.deepEqual(share([1, 2, 3], [1, 2]), [1, 2])
  // An own `__proto__` (from JSON.parse) stays an own property; no prototype is set.
  const p = share(JSON.parse('{"__proto__":{"x":1}}'), JSON.parse('{"__proto__":{"x":1}}'))
  assert.equal(Object.getPrototypeOf(p), Object.prototype)
  assert.deepEqual(Object.getOwnPropertyDescriptor(p, '__proto__').value, { x: 1 })
  // Not plain JSON values: left as they are.
  const d = new Date(0)
  assert.equal(share(new Date(0), d), d)
  assert.equal(share(null, 5), 5)
  // Nested deeper than any stack: compared down to a bound, never a RangeError.
  const deep = () => JSON.parse('['.repeat(100_000) + ']'.repeat(100_000))
  const a = deep()
  const b = deep()
  assert.notEqual(share(a, b), a)
})
