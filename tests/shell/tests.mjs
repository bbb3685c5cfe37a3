// The shell tests, run in the page (page.html) through the public API only:
// the port of the 34 wasm-bindgen-test tests that tests/web/*.rs held while
// the browser shell was Rust. Each keeps its name (the Rust module path, as
// cargo printed it), its intent and its assertions: exact request counts from
// the reference server's own counters, exact error kinds, the same message
// fragments.
//
// SERVER is the reference server that serves this page; SLOW (`?slow=` in
// the page's URL) a second one whose WebSocket handshake takes 6 s. Every
// test tags its requests with a unique `tag` so it counts only its own.
import { createClient } from './pkg/index.js'

const SERVER = location.origin
const SLOW = new URLSearchParams(location.search).get('slow') ?? 'http://127.0.0.1:8788'

/** name -> async test function, in the order they are declared. */
export const tests = new Map()
const test = (name, fn) => tests.set(name, fn)

// --- helpers ----------------------------------------------------------------

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const tag = (name) => `${name}-${Math.floor(Math.random() * 1e9)}`
const show = (v) => {
  try {
    return typeof v === 'string' ? JSON.stringify(v) : v instanceof Error ? `${v.name}: ${v.message}` : JSON.stringify(v)
  } catch {
    return String(v)
  }
}

function assert(cond, message) {
  if (!cond) throw new Error(`assertion failed: ${message}`)
}
function eq(actual, expected, what) {
  if (!Object.is(actual, expected)) throw new Error(`assertion failed: ${what}: got ${show(actual)}, expected ${show(expected)}`)
}
function contains(message, needle, what = 'the message') {
  if (typeof message !== 'string' || !message.includes(needle)) {
    throw new Error(`assertion failed: ${what} does not contain ${show(needle)}: ${show(message)}`)
  }
}

/** A client against SERVER with `options` added. */
const client = (options = {}) => createClient({ baseUrl: SERVER, ...options })

/**
 * Wait until the wasm module is ready (it loads asynchronously; calls made
 * before are queued): a call that settles only once it is, and sends
 * nothing (its signal is already aborted).
 */
async function ready(c) {
  const ctrl = new AbortController()
  ctrl.abort()
  const e = await c.get('/__ready', { signal: ctrl.signal }).then(
    () => null,
    (e) => e,
  )
  eq(e?.kind, 'abort', 'the readiness call')
}

/** `{ ok: true, value }` or `{ ok: false, error }`: a promise, settled. */
const settle = (p) => p.then((value) => ({ ok: true, value }), (error) => ({ ok: false, error }))
/** The rejection of `p`; fails if it resolves. */
async function failure(p, what = 'the call') {
  const r = await settle(p)
  if (r.ok) throw new Error(`assertion failed: ${what} resolved with ${show(r.value)}; an error was expected`)
  return r.error
}
/** The value of `p`; fails (with its error) if it rejects. */
async function value(p, what = 'the call') {
  const r = await settle(p)
  if (!r.ok) throw new Error(`assertion failed: ${what} rejected: ${show(r.error)}`)
  return r.value
}
/** Settle each promise in order. */
async function all(ps) {
  const out = []
  for (const p of ps) out.push(await settle(p))
  return out
}
/** The synchronous throw of `f`; fails if it returns. */
function thrown(f, what) {
  try {
    f()
  } catch (e) {
    return e
  }
  throw new Error(`assertion failed: ${what} did not throw`)
}

const json = async (url, init) => {
  const r = await fetch(url, init)
  assert(r.ok, `${url}: HTTP ${r.status}`)
  return r.json()
}
/** How many requests with `tag` the server has counted. */
const serverCount = async (tag) => (await json(`${SERVER}/test/count?tag=${encodeURIComponent(tag)}`)).count
/** The reference server's own counters (`GET /__stats`) of `server`. */
const serverStats = (server) => json(`${server}/__stats`)
/** POST to a control route of `server`. */
const control = (server, path, body) => json(`${server}${path}`, { method: 'POST', body })
const stat = (c, name) => {
  const v = c.stats()[name]
  assert(typeof v === 'number', `stats().${name} is a number: ${show(v)}`)
  return v
}

// --- main.rs -----------------------------------------------------------------

test('hundred_concurrent_gets_are_one_request', async () => {
  const c = client()
  const t = tag('hundred')
  const url = `/test/echo?tag=${t}&delay=50`
  const calls = Array.from({ length: 100 }, () => c.get(url))
  const bodies = await value(Promise.all(calls), 'the 100 gets')
  eq(bodies.length, 100, 'answers')
  const first = bodies[0]
  eq(first.query.tag, t, 'the body is the echo of the request')
  for (const v of bodies) assert(Object.is(v, first), 'every caller gets the same body')
  eq(await serverCount(t), 1, 'requests at the server')
  eq(stat(c, 'networkRequests'), 1, 'networkRequests')
  eq(stat(c, 'dedupHits'), 99, 'dedupHits')
})

test('ttl_expiry_refetches', async () => {
  const c = client({ cache: { ttlMs: 300 } })
  const t = tag('ttl')
  const url = `/test/echo?tag=${t}`
  const a = await value(c.get(url))
  const b = await value(c.get(url))
  assert(Object.is(a, b), 'served from cache')
  eq(await serverCount(t), 1, 'requests at the server')
  await sleep(400)
  const d = await value(c.get(url))
  eq(d.n, 2, 'the server answered a second time')
  eq(await serverCount(t), 2, 'requests at the server after the TTL')
  eq(stat(c, 'cacheHits'), 1, 'cacheHits')
})

test('aborting_one_caller_keeps_the_request', async () => {
  const c = client()
  await ready(c)
  const t = tag('abort-one')
  const url = `/test/echo?tag=${t}&delay=300`
  const ctrl = new AbortController()
  const a = c.get(url, { signal: ctrl.signal })
  const b = c.get(url)
  await sleep(50)
  ctrl.abort()
  const ea = await failure(a, 'the aborted caller')
  eq(ea.kind, 'abort', 'kind')
  eq(ea.name, 'AbortError', 'name')
  const vb = await value(b, 'the other caller')
  eq(vb.query.tag, t, 'the other caller got the body')
  eq(await serverCount(t), 1, 'requests at the server')
  eq(stat(c, 'cancelledRequests'), 0, 'cancelledRequests')
})

test('aborting_every_caller_aborts_the_request', async () => {
  const c = client()
  await ready(c)
  const t = tag('abort-all')
  const url = `/test/echo?tag=${t}&delay=500`
  const c1 = new AbortController()
  const c2 = new AbortController()
  const a = c.get(url, { signal: c1.signal })
  const b = c.get(url, { signal: c2.signal })
  await sleep(50)
  c1.abort()
  c2.abort()
  eq((await failure(a)).kind, 'abort', 'first caller')
  eq((await failure(b)).kind, 'abort', 'second caller')
  eq(stat(c, 'cancelledRequests'), 1, 'cancelledRequests')
  eq(stat(c, 'inFlight'), 0, 'inFlight')
  // Nothing was cached from the aborted request.
  eq(c.peek(url).data, undefined, 'data after the aborted request')
  // An already-aborted signal rejects at once without a request.
  const p = c.get(`/test/echo?tag=${t}-pre`, { signal: c1.signal })
  eq((await failure(p)).kind, 'abort', 'a call with an aborted signal')
  eq(await serverCount(`${t}-pre`), 0, 'requests at the server for the pre-aborted call')
})

test('timeout_rejects_with_a_timeout_error', async () => {
  const c = client({ timeoutMs: 200 })
  await ready(c)
  const t = tag('timeout')
  const start = performance.now()
  const url = `/test/echo?tag=${t}&delay=2000`
  const a = c.get(url)
  const b = c.get(url)
  const ea = await failure(a)
  const eb = await failure(b)
  const took = performance.now() - start
  eq(ea.kind, 'timeout', 'kind')
  eq(ea.name, 'TimeoutError', 'name')
  assert(Object.is(ea, eb), 'joined callers get the same error')
  contains(ea.message, 'timed out after 200 ms')
  assert(took < 1500, `took ${took} ms`)
  eq(stat(c, 'timeouts'), 1, 'timeouts')
})

test('http_500_is_an_http_error_with_status_and_body', async () => {
  const c = client({ retryDelayMs: 10 })
  const t = tag('h500')
  const url = `/test/echo?tag=${t}&status=500`
  const a = c.get(url)
  const b = c.get(url)
  const ea = await failure(a)
  const eb = await failure(b)
  assert(Object.is(ea, eb), 'joined callers get the same error')
  assert(ea instanceof Error, 'the error is an Error')
  eq(ea.kind, 'http', 'kind')
  eq(ea.status, 500, 'status')
  eq(ea.body?.error, 'status 500', 'body.error')
  contains(ea.message, t, 'the message names the URL:')
  // A 500 is retried twice (the default) before its callers get the error.
  eq(await serverCount(t), 3, 'requests at the server: one, then two retries')
  // Errors are not cached.
  await settle(c.get(url, { retry: 0 }))
  eq(await serverCount(t), 4, 'requests at the server')
})

test('non_json_body_is_a_parse_error', async () => {
  const c = client()
  const t = tag('text')
  const e = await failure(c.get(`/test/text?tag=${t}`))
  eq(e.kind, 'parse', 'kind')
  contains(e.message, 'not JSON')
  contains(e.message, '/test/text')
})

test('closed_port_is_a_network_error', async () => {
  const c = client()
  const e = await failure(c.get('http://127.0.0.1:9/nothing'))
  eq(e.kind, 'network', 'kind')
  contains(e.message, 'http://127.0.0.1:9/nothing')
})

test('bad_input_is_refused_with_a_named_error', async () => {
  const c = client()
  let e = await failure(c.get('http://[oops'))
  eq(e.kind, 'invalid', 'kind')
  contains(e.message, 'http://[oops')
  e = await failure(c.get('ftp://x.test/a'))
  contains(e.message, 'not an http')
  e = await failure(c.get(42))
  contains(e.message, 'must be a string')
  e = await failure(c.get('/x', { ttl: 5 }))
  contains(e.message, 'unknown option `ttl`')
  e = await failure(c.get('/x', { ttlMs: -1 }))
  contains(e.message, 'get.ttlMs')
  e = await failure(c.get('/x', { signal: 'no' }))
  contains(e.message, 'AbortSignal')

  const bad = (o) => thrown(() => createClient(o), `createClient(${show(o)})`)
  e = bad({ cache: { maxEntries: 0 } })
  eq(e.kind, 'invalid', 'kind')
  contains(e.message, 'cache.maxEntries')
  e = bad({ credentials: 'sometimes' })
  contains(e.message, 'credentials')
  e = bad({ timeout: 5 })
  contains(e.message, 'unknown option `timeout`')
  e = bad({ headers: { 'X-A': 1 } })
  contains(e.message, 'X-A')
  e = bad('nope')
  contains(e.message, 'must be an object')
})

test('credentials_partition_the_cache', async () => {
  const c = client({ cache: { ttlMs: 60_000 } })
  const t = tag('cred')
  const url = `/test/echo?tag=${t}`
  const asUser = (u) => ({ headers: { Authorization: `Bearer ${u}` } })
  const a = await value(c.get(url, asUser('alice')))
  const b = await value(c.get(url, asUser('bob')))
  eq(a.auth, 'Bearer alice', "alice's answer")
  eq(b.auth, 'Bearer bob', "bob's answer")
  const a2 = await value(c.get(url, asUser('alice')))
  assert(Object.is(a, a2), "alice's second get is served from her entry")
  const p = await value(c.get(url, { partition: 'user-7' }))
  eq(p.auth, null, 'a partition sends no Authorization')
  eq(await serverCount(t), 3, 'requests at the server')
})

test('subscribe_hears_its_key_and_stops_when_removed', async () => {
  const c = client()
  await ready(c)
  const t = tag('sub')
  const url = `/test/echo?tag=${t}`
  const seen = []
  const stop = c.subscribe(url, (s) => seen.push(s))
  // Another key does not reach this listener.
  await value(c.get(`/test/echo?tag=${t}-other`))
  eq(seen.length, 0, 'snapshots heard from another key')
  const body = await value(c.get(url))
  eq(seen.length, 2, 'snapshots (fetching, then data)')
  eq(seen[0].isFetching, true, 'the first snapshot is fetching')
  const last = seen[1]
  assert(Object.is(last.data, body), 'the snapshot holds the body the get resolved with')
  eq(last.stale, false, 'stale')
  assert(last.updatedAt > 0, `updatedAt: ${last.updatedAt}`)
  // The snapshot object is stable while nothing changes.
  const p1 = c.peek(url)
  const p2 = c.peek(url)
  assert(Object.is(p1, p2), 'peek returns the same object while nothing changes')
  eq(c.invalidate(url), 1, 'entries invalidated')
  eq(seen.length, 3, 'snapshots after invalidate')
  eq(seen[2].stale, true, 'stale after invalidate')
  stop()
  stop()
  await value(c.get(url))
  eq(seen.length, 3, 'nothing after unsubscribe: snapshots')
  eq(await serverCount(t), 2, 'requests at the server')
})

test('subscribers_see_errors_and_listener_errors_are_contained', async () => {
  const uncaught = []
  const onError = (e) => uncaught.push(String(e.message ?? e.reason?.message ?? e.reason))
  addEventListener('error', onError)
  addEventListener('unhandledrejection', onError)
  try {
    const c = client()
    const t = tag('suberr')
    const url = `/test/echo?tag=${t}&status=503`
    c.subscribe(url, () => {
      throw new Error('listener bug')
    })
    const e = await failure(c.get(url))
    eq(e.status, 503, 'status')
    const snap = c.peek(url)
    eq(snap.error?.kind, 'http', 'the snapshot shows the error')
    eq(snap.data, undefined, 'data')
    await sleep(0)
    eq(uncaught.join(' | '), '', 'errors that escaped to the page')
  } finally {
    removeEventListener('error', onError)
    removeEventListener('unhandledrejection', onError)
  }
})

// --- batch.rs ----------------------------------------------------------------

/** A batching client whose endpoint is `path` on the test server. */
const batching = (path, extra = {}) => client({ batch: { endpoint: `${SERVER}${path}`, crossOrigin: true, ...extra } })

test('batch::eight_component_calls_leave_as_one_post_and_fan_out_in_any_order', async () => {
  const c = batching('/batch')
  const t = tag('fan')
  // Different delays make the server finish items out of order.
  const urls = Array.from({ length: 8 }, (_, i) => `/test/echo?tag=${t}-${i}&delay=${(8 - i) * 15}`)
  const results = await all(urls.map((u) => c.get(u)))
  for (const [i, r] of results.entries()) {
    assert(r.ok, `item ${i} answers: ${show(r.error)}`)
    eq(r.value.query.tag, `${t}-${i}`, 'each caller gets its own answer')
    eq(await serverCount(`${t}-${i}`), 1, `requests at the server for item ${i}`)
  }
  eq(stat(c, 'batchesSent'), 1, 'batchesSent')
  eq(stat(c, 'batchedItems'), 8, 'batchedItems')
})

test('batch::a_streamed_batch_does_not_wait_for_its_slowest_item', async () => {
  const c = batching('/batch', { stream: true })
  await ready(c)
  const t = tag('stream')
  const start = performance.now()
  const slow = c.get(`/test/echo?tag=${t}-slow&delay=2000`)
  const fast = c.get(`/test/echo?tag=${t}-fast&delay=10`)
  const body = await value(fast, 'the fast item')
  const fastMs = performance.now() - start
  eq(body.query.tag, `${t}-fast`, 'the fast item')
  assert(fastMs < 1000, `the fast item took ${fastMs} ms`)
  await value(slow, 'the slow item')
  const slowMs = performance.now() - start
  assert(slowMs >= 1900, `the slow item took ${slowMs} ms`)
  eq(stat(c, 'batchesSent'), 1, 'batchesSent')
})

test('batch::a_missing_id_rejects_only_its_caller_with_a_named_error', async () => {
  const c = batching('/batch?fault=missing-id')
  const t = tag('missing')
  const r = await all([c.get(`/test/echo?tag=${t}-a`), c.get(`/test/echo?tag=${t}-b`)])
  assert(!r[0].ok, `the first item resolved: ${show(r[0].value)}`)
  const e = r[0].error
  eq(e.kind, 'batch', 'kind')
  contains(e.message, 'has no item with id')
  contains(e.message, `${t}-a`, 'the message (names the URL)')
  assert(r[1].ok, `the second item: ${show(r[1].error)}`)
  eq(stat(c, 'batchProtocolErrors'), 1, 'batchProtocolErrors')
})

test('batch::extra_and_duplicate_ids_are_ignored_and_counted', async () => {
  for (const fault of ['extra-id', 'duplicate-id']) {
    const c = batching(`/batch?fault=${fault}`)
    const t = tag(fault)
    const r = await all([c.get(`/test/echo?tag=${t}-a`), c.get(`/test/echo?tag=${t}-b`)])
    assert(r.every((x) => x.ok), `${fault}: ${show(r.map((x) => (x.ok ? 'ok' : `${x.error.kind}: ${x.error.message}`)))}`)
    eq(stat(c, 'batchIgnoredAnswers'), 1, `${fault}: batchIgnoredAnswers`)
  }
})

test('batch::truncated_or_garbage_answers_reject_every_waiting_caller', async () => {
  for (const [fault, stream, needle] of [
    ['truncated-json', false, 'truncated'],
    ['garbage', false, 'not the expected JSON'],
    ['truncated-ndjson', true, 'mid-line'],
  ]) {
    const c = batching(`/batch?fault=${fault}`, { stream })
    const t = tag(fault)
    const urls = Array.from({ length: 3 }, (_, i) => `/test/echo?tag=${t}-${i}&delay=${i * 50}`)
    const r = await all(urls.map((u) => c.get(u)))
    const failed = r.filter((x) => !x.ok).map((x) => x.error)
    assert(failed.length > 0, `${fault}: someone must fail`)
    for (const e of failed) {
      eq(e.kind, 'batch', `${fault}: kind`)
      contains(e.message, needle, `${fault}: the message`)
    }
    if (fault === 'truncated-ndjson') eq(failed.length, 2, `${fault}: failed callers (the first line arrived whole and resolved its caller)`)
    else eq(failed.length, 3, `${fault}: failed callers`)
  }
})

test('batch::a_whole_batch_500_rejects_each_caller_with_it', async () => {
  // retry: 0: how the POST's failure reaches each caller (retried, the items
  // may leave alone as plain GETs, which succeed here).
  const c = client({ batch: { endpoint: `${SERVER}/batch?fault=status-500`, crossOrigin: true }, retry: 0 })
  const t = tag('b500')
  const r = await all([c.get(`/test/echo?tag=${t}-a`), c.get(`/test/echo?tag=${t}-b`)])
  for (const x of r) {
    assert(!x.ok, `a caller resolved: ${show(x.value)}`)
    eq(x.error.kind, 'http', 'kind')
    eq(x.error.status, 500, 'status')
  }
})

test('batch::a_server_without_the_endpoint_gets_plain_requests_and_no_errors', async () => {
  const c = batching('/test/no-batch-endpoint-here')
  const t = tag('fallback')
  let r = await all([0, 1, 2].map((i) => c.get(`/test/echo?tag=${t}-${i}`)))
  assert(r.every((x) => x.ok), show(r.map((x) => (x.ok ? 'ok' : `${x.error.kind}: ${x.error.message}`))))
  for (const i of [0, 1, 2]) eq(await serverCount(`${t}-${i}`), 1, `requests at the server for item ${i}`)
  eq(stat(c, 'batchFallbacks'), 3, 'batchFallbacks')
  // Remembered: the next burst goes straight out as plain requests.
  r = await all([0, 1].map((i) => c.get(`/test/echo?tag=${t}-again-${i}`)))
  assert(r.every((x) => x.ok), show(r.map((x) => (x.ok ? 'ok' : `${x.error.kind}: ${x.error.message}`))))
  eq(stat(c, 'batchesSent'), 1, 'batchesSent')
})

test('batch::an_item_error_rejects_only_its_callers', async () => {
  const c = batching('/batch')
  const t = tag('item404')
  const r = await all([c.get(`/test/echo?tag=${t}-a&status=404`), c.get(`/test/echo?tag=${t}-b`)])
  assert(!r[0].ok, `the 404 item resolved: ${show(r[0].value)}`)
  const e = r[0].error
  eq(e.kind, 'http', 'kind')
  eq(e.status, 404, 'status')
  eq(e.body?.error, 'status 404', 'body.error')
  assert(r[1].ok, `the other item: ${show(r[1].error)}`)
})

test('batch::stale_entries_revalidate_with_etags_and_304', async () => {
  const c = client({ cache: { ttlMs: 100 }, batch: { endpoint: `${SERVER}/batch`, crossOrigin: true } })
  const urls = ['/api/games/3', '/api/games/4']
  const first = await all(urls.map((u) => c.get(u)))
  await sleep(150)
  const second = await all(urls.map((u) => c.get(u)))
  for (const [i, a] of first.entries()) {
    const b = second[i]
    assert(a.ok && b.ok, `${urls[i]}: ${show(a.error ?? b.error)}`)
    assert(Object.is(a.value, b.value), `${urls[i]}: a 304 hands back the cached body`)
  }
  eq(stat(c, 'batchesSent'), 2, 'batchesSent')
  eq(stat(c, 'revalidated'), 2, 'revalidated')
})

test('batch::an_aborted_item_is_dropped_before_the_batch_leaves', async () => {
  const c = batching('/batch', { windowMs: 50 })
  await ready(c)
  const t = tag('dropped')
  const ctrl = new AbortController()
  const a = c.get(`/test/echo?tag=${t}-a`, { signal: ctrl.signal })
  const b = c.get(`/test/echo?tag=${t}-b`)
  const d = c.get(`/test/echo?tag=${t}-d`)
  ctrl.abort()
  eq((await failure(a)).kind, 'abort', 'the aborted item')
  await value(b, 'item b')
  await value(d, 'item d')
  eq(await serverCount(`${t}-a`), 0, 'the aborted item never left: requests at the server')
  eq(stat(c, 'batchedItems'), 2, 'batchedItems')
})

test('batch::bad_batch_options_are_refused', async () => {
  const bad = (o) => thrown(() => createClient(o), `createClient(${show(o)})`)
  // An endpoint on another origin than the page's (the slow server's).
  let e = bad({ batch: { endpoint: `${SLOW}/batch` } })
  contains(e.message, 'crossOrigin')
  e = bad({ batch: { window: 5 } })
  contains(e.message, 'unknown option `window`')
  e = bad({ batch: { maxSize: 0 } })
  contains(e.message, 'batch.maxSize')
})

// --- poll.rs -----------------------------------------------------------------

test('poll::pollers_of_one_key_share_one_schedule_and_stop_cleanly', async () => {
  const c = client({ cache: { ttlMs: 0 } })
  await ready(c)
  const t = tag('poll')
  const url = `/test/echo?tag=${t}`
  const start = performance.now()
  const arrived = [] // when each new body reached the first poller, for the failure message
  const a = c.poll(url, { intervalMs: 300, onData: () => arrived.push(Math.round(performance.now() - start)) })
  const b = c.poll(url, { intervalMs: 300 })
  const slow = c.poll(url, { intervalMs: 5_000 })
  await sleep(1_000)
  const n = await serverCount(t)
  // Ticks at about 0, 300, 600, 900 ms (±10% jitter): three pollers, one schedule.
  assert(n >= 3 && n <= 5, `${n} requests in 1 s (data arrived at ${arrived.join(', ')} ms)`)
  a.stop()
  b.stop()
  await sleep(700)
  const afterFastStopped = await serverCount(t)
  assert(afterFastStopped <= n + 1, `the 5 s poller is left: ${afterFastStopped} requests (${n} before)`)
  slow.stop()
  slow.stop() // twice is harmless
  const stopped = await serverCount(t)
  await sleep(900)
  eq(await serverCount(t), stopped, 'nothing polls after the last stop: requests at the server')
})

test('poll::a_poll_tick_answers_from_fresh_cache_and_joins_gets', async () => {
  const c = client({ cache: { ttlMs: 60_000 } })
  await ready(c)
  const t = tag('pollcache')
  const url = `/test/echo?tag=${t}&delay=100`
  const get = c.get(url)
  const p = c.poll(url, { intervalMs: 400 })
  await value(get)
  eq(await serverCount(t), 1, 'the first tick joined the get in flight: requests at the server')
  await sleep(1_000)
  const n = await serverCount(t)
  assert(n >= 2 && n <= 4, `polling refreshes even a long-TTL entry: ${n} requests`)
  p.stop()
  assert(stat(c, 'pollTicks') >= 2, `pollTicks: ${stat(c, 'pollTicks')}`)
})

test('poll::retry_after_is_honoured_in_the_browser', async () => {
  const c = client()
  await ready(c)
  const t = tag('retry')
  const p = c.poll(`/test/echo?tag=${t}&status=429&retryAfter=1`, { intervalMs: 100 })
  await sleep(700)
  eq(await serverCount(t), 1, 'Retry-After: 1 holds the next tick for a second: requests at the server')
  await sleep(600)
  eq(await serverCount(t), 2, 'requests at the server after a second')
  p.stop()
})

test('poll::refreshes_in_a_burst_collapse_into_one_request', async () => {
  const c = client()
  const t = tag('refresh')
  const url = `/test/echo?tag=${t}`
  const ps = Array.from({ length: 5 }, () => c.refresh(url))
  for (const p of ps) await value(p, 'a refresh of the burst')
  await value(c.refresh(url), 'a refresh right after')
  eq(await serverCount(t), 1, 'requests at the server')
  await sleep(300)
  await value(c.refresh(url), 'a refresh after the debounce window')
  eq(await serverCount(t), 2, 'after the debounce window a refresh goes out: requests at the server')
})

test('poll::bad_poll_options_are_refused', async () => {
  const c = client()
  let e = thrown(() => c.poll('/x', {}), 'poll without intervalMs')
  eq(e.kind, 'invalid', 'kind')
  contains(e.message, 'intervalMs')
  e = thrown(() => c.poll('/x', { intervalMs: 0 }), 'poll with intervalMs 0')
  contains(e.message, 'poll.intervalMs')
  e = thrown(() => c.poll('/x', { intervalMs: 10, every: 1 }), 'poll with an unknown option')
  contains(e.message, 'unknown option `every`')
})

// --- socket.rs ---------------------------------------------------------------

function socketClient(server, extra = {}) {
  return createClient({
    baseUrl: server,
    socket: { url: `${server}/ws`, reconnect: { minMs: 100, maxMs: 400 }, ...extra },
    batch: { endpoint: `${server}/batch`, crossOrigin: true },
  })
}

/** A listener that records every snapshot it hears. */
function recorder() {
  const seen = []
  return [seen, (s) => seen.push(s)]
}
const lastData = (seen) => seen.findLast((s) => s.data !== undefined)?.data
const socketStat = async (server, name) => (await serverStats(server)).socket?.[name] ?? -1
const requests = async (server) => (await serverStats(server)).requests

test('socket::fifty_subscribers_of_one_key_make_one_socket_subscription', async () => {
  const subscribes = await socketStat(SERVER, 'subscribeMessages')
  const before = await requests(SERVER)
  const c = socketClient(SERVER)
  const [seen, listener] = recorder()
  const stops = Array.from({ length: 50 }, () => c.subscribe('/api/games/7', listener))
  await sleep(400)
  eq(await socketStat(SERVER, 'subscribeMessages'), subscribes + 1, 'subscribe messages at the server')
  eq(stat(c, 'socketSubscriptions'), 1, 'socketSubscriptions')
  eq(lastData(seen)?.id, 7, 'pushed data reached listeners: id')
  eq(await requests(SERVER), before, 'no HTTP request at all: requests at the server')
  // Pushed updates reach listeners too.
  const n = seen.length
  await control(SERVER, '/__bump?path=/api/games/7', '')
  await sleep(200)
  assert(seen.length > n, `a bump is pushed: ${seen.length} snapshots, ${n} before`)
  for (const stop of stops) stop()
  await sleep(1_300) // the linger
  eq(stat(c, 'socketSubscriptions'), 0, 'socketSubscriptions after the linger')
  eq(c.stats().socketState, 'idle', 'socketState')
})

test('socket::a_six_second_handshake_falls_back_to_one_http_request_and_then_goes_live', async () => {
  const before = await requests(SLOW)
  const c = socketClient(SLOW, { connectTimeoutMs: 5_000 })
  await ready(c)
  const [seen, listener] = recorder()
  const keys = ['/api/games/1', '/api/games/1/odds', '/api/leaderboard']
  for (const k of keys) c.subscribe(k, listener)
  await sleep(4_500)
  eq(lastData(seen), undefined, 'waiting for the socket until the timeout: data')
  await sleep(1_000) // t = 5.5 s
  eq(await requests(SLOW), before + 1, 'the three keys came in one batch: requests at the server')
  for (const k of keys) assert(c.peek(k).data !== undefined, `${k} has data from HTTP`)
  await sleep(1_500) // t = 7 s: the handshake completed at 6 s
  eq(c.stats().socketState, 'open', 'socketState')
  eq(stat(c, 'socketSubscriptions'), 3, 'socketSubscriptions')
  await sleep(1_700) // past the resync window: every key was pushed
  eq(await requests(SLOW), before + 1, 'no duplicate fetch once the socket is open: requests at the server')
})

test('socket::a_dropped_socket_reconnects_resubscribes_and_keeps_data', async () => {
  const c = socketClient(SERVER)
  await ready(c)
  const [seen, listener] = recorder()
  c.subscribe('/api/games/8', listener)
  await sleep(300)
  const first = lastData(seen)
  assert(first !== undefined, 'data before the drop')
  const subscribes = await socketStat(SERVER, 'subscribeMessages')
  await control(SERVER, '/__socket/drop', '')
  await sleep(100)
  assert(c.peek('/api/games/8').data !== undefined, 'the cached data is still shown')
  await sleep(700)
  assert(stat(c, 'socketDrops') >= 1, `socketDrops: ${stat(c, 'socketDrops')}`)
  assert(stat(c, 'socketReconnects') >= 1, `socketReconnects: ${stat(c, 'socketReconnects')}`)
  const now = await socketStat(SERVER, 'subscribeMessages')
  assert(now > subscribes, `resubscribed: subscribe messages at the server ${now}, ${subscribes} before`)
  eq(c.stats().socketState, 'open', 'socketState')
  eq(c.peek('/api/games/8').stale, false, 'fresh again after the resubscribe push: stale')
})

test('socket::malformed_messages_are_reported_and_do_not_break_other_keys', async () => {
  const problems = []
  const c = socketClient(SERVER, { onError: (e) => problems.push(e) })
  await ready(c)
  const [seen, listener] = recorder()
  c.subscribe('/api/games/9', listener)
  await sleep(300)
  await control(SERVER, '/__socket/send', 'this is not json')
  await control(SERVER, '/__socket/send', '{"type":"data"}')
  await sleep(200)
  assert(problems.length >= 2, `${problems.length} problems`)
  const e = problems[0]
  eq(e.kind, 'socket', 'kind')
  contains(e.message, 'malformed socket message')
  assert(stat(c, 'socketMalformed') >= 2, `socketMalformed: ${stat(c, 'socketMalformed')}`)
  const n = seen.length
  await control(SERVER, '/__bump?path=/api/games/9', '')
  await sleep(200)
  assert(seen.length > n, `the subscription still works: ${seen.length} snapshots, ${n} before`)
})

test('socket::an_adapter_carries_the_protocol', async () => {
  // A fake transport: records what calmfetch sends and lets the test play
  // the server through the handlers calmfetch gives it.
  const sent = []
  let handlers = null
  const adapter = {
    connect: (h) => {
      handlers = h
    },
    send: (text) => sent.push(text),
  }
  const c = createClient({ baseUrl: SERVER, socket: { adapter } })
  // The module loads asynchronously: `connect` comes once it is ready.
  await ready(c)
  const [seen, listener] = recorder()
  c.subscribe('/api/user', listener)
  assert(handlers !== null, 'connect was called with the handlers')
  handlers.open()
  eq(sent[0], '{"type":"subscribe","key":"/api/user"}', 'the first message sent')
  handlers.message('{"type":"data","key":"/api/user","body":{"user":"sam"}}')
  eq(lastData(seen)?.user, 'sam', 'the pushed body reached the listener: user')
  eq(stat(c, 'networkRequests'), 0, 'networkRequests')
  await Promise.resolve(null)
})

test('socket::bad_socket_options_are_refused', async () => {
  const bad = (s) => thrown(() => createClient({ socket: s }), `createClient({ socket: ${show(s)} })`)
  contains(bad({}).message, 'needs a `url` or an `adapter`')
  contains(bad({ url: 'ftp://x/ws' }).message, 'scheme')
  contains(bad({ adapter: {} }).message, 'connect')
  contains(bad({ url: '/ws', reconnect: { minMs: 10, maxMs: 5 } }).message, 'maxMs')
})

// --- the harness ---------------------------------------------------------------

/**
 * Run the test `name` within `limitMs`; resolves (never rejects) with
 * `{ ok, message, ms }`.
 */
export async function run(name, limitMs) {
  const fn = tests.get(name)
  if (fn === undefined) return { ok: false, message: `no test named ${name}`, ms: 0 }
  const start = performance.now()
  let timer
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not finish within ${limitMs} ms`)), limitMs)
  })
  try {
    await Promise.race([fn(), limit])
    return { ok: true, ms: performance.now() - start }
  } catch (e) {
    const message = !(e instanceof Error) ? show(e) : typeof e.stack === 'string' && e.stack.includes(e.message) ? e.stack : `${e.message}\n${e.stack ?? ''}`
    return { ok: false, message, ms: performance.now() - start }
  } finally {
    clearTimeout(timer)
  }
}
