// Retries of failed reads (issue 16): the core schedules them (tests/core_retry.rs
// checks the rules in simulated time); these check them through the public API
// against a loopback server, in real time.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { clientOf, rejection, reply, serve, within } from './helpers.mjs'

/** A server whose `/flaky` fails `failures` times with `status` (and `headers`), then answers. */
async function flaky(t, failures, status, headers = {}) {
  const times = []
  const srv = await serve(t, (req, res) => {
    times.push(performance.now())
    if (times.length <= failures) return reply(res, status, { error: 'not now' }, headers)
    reply(res, 200, { n: times.length })
  })
  return { srv, times }
}

test('a 503 with Retry-After is retried once the server asked for, and the caller gets the data', { timeout: 10_000 }, async (t) => {
  const { srv, times } = await flaky(t, 1, 503, { 'Retry-After': '1' })
  const client = clientOf(srv, { retryDelayMs: 20 })
  const started = performance.now()
  assert.deepEqual(await within(client.get('/flaky'), 5_000, 'the retried get'), { n: 2 })
  const waited = times[1] - times[0]
  assert.ok(waited >= 990, `the retry went out ${waited.toFixed(0)} ms after the 503 (Retry-After: 1 s)`)
  assert.ok(waited < 2_500, `the retry waited ${waited.toFixed(0)} ms`)
  assert.ok(performance.now() - started >= 990)
  const s = client.stats()
  assert.deepEqual([s.networkRequests, s.retries, s.errors], [2, 1, 1])
})

test('network failures and 5xx are retried twice by default with a growing backoff, then the last error settles the call once', { timeout: 10_000 }, async (t) => {
  const { srv, times } = await flaky(t, 5, 500)
  const client = clientOf(srv, { retryDelayMs: 100 })
  let settled = 0
  const p = client.get('/flaky').finally(() => settled++)
  const e = await rejection(within(p, 5_000, 'the get'))
  assert.equal(e.kind, 'http')
  assert.equal(e.status, 500)
  assert.equal(times.length, 3, 'one request and two retries')
  const [d1, d2] = [times[1] - times[0], times[2] - times[1]]
  // Retry n waits within [base * 2^n / 2, base * 2^n] (plus the timer's lateness).
  assert.ok(d1 >= 45 && d1 < 400, `first wait ${d1.toFixed(0)} ms`)
  assert.ok(d2 >= 95 && d2 < 600, `second wait ${d2.toFixed(0)} ms`)
  assert.equal(settled, 1)
  assert.equal(client.stats().inFlight, 0)
})

test('a 404 is not retried, a 429 is', { timeout: 10_000 }, async (t) => {
  const { srv, times } = await flaky(t, 1, 404)
  const client = clientOf(srv, { retryDelayMs: 10 })
  const e = await rejection(client.get('/flaky'))
  assert.equal(e.status, 404)
  await new Promise((r) => setTimeout(r, 100))
  assert.equal(times.length, 1, 'the 404 was retried')
  const b = await flaky(t, 1, 429)
  const other = clientOf(b.srv, { retryDelayMs: 10 })
  assert.deepEqual(await within(other.get('/flaky'), 3_000, 'the get after a 429'), { n: 2 })
})

test('retry: 0 turns retries off, per client and per call', { timeout: 10_000 }, async (t) => {
  const { srv, times } = await flaky(t, 1, 503)
  const off = clientOf(srv, { retry: 0, retryDelayMs: 10 })
  assert.equal((await rejection(off.get('/flaky'))).status, 503)
  assert.equal(times.length, 1)
  // The call's own count wins over the client's.
  const b = await flaky(t, 1, 503)
  const on = clientOf(b.srv, { retryDelayMs: 10 })
  assert.equal((await rejection(on.get('/flaky', { retry: 0 }))).status, 503)
  assert.equal(b.times.length, 1)
  const c = await flaky(t, 1, 503)
  assert.deepEqual(await clientOf(c.srv, { retry: 0, retryDelayMs: 10 }).get('/flaky', { retry: 1 }), { n: 2 })
})

test('an abort during the backoff settles the caller once and sends no retry', { timeout: 10_000 }, async (t) => {
  const { srv, times } = await flaky(t, 5, 503)
  const client = clientOf(srv, { retryDelayMs: 400 })
  const ctrl = new AbortController()
  let settled = 0
  const p = client.get('/flaky', { signal: ctrl.signal }).finally(() => settled++)
  await within(
    (async () => {
      while (times.length < 1) await new Promise((r) => setTimeout(r, 5))
    })(),
    2_000,
    'the first request',
  )
  await new Promise((r) => setTimeout(r, 50))
  ctrl.abort()
  const e = await rejection(p)
  assert.equal(e.kind, 'abort')
  await new Promise((r) => setTimeout(r, 600))
  assert.equal(times.length, 1, 'a retry went out after the abort')
  assert.equal(settled, 1)
  assert.equal(client.stats().inFlight, 0)
})

test('clear() cancels a pending retry', { timeout: 10_000 }, async (t) => {
  const { srv, times } = await flaky(t, 5, 503)
  const client = clientOf(srv, { retryDelayMs: 400 })
  const p = client.get('/flaky')
  while (times.length < 1) await new Promise((r) => setTimeout(r, 5))
  await new Promise((r) => setTimeout(r, 50))
  client.clear()
  assert.equal((await rejection(p)).kind, 'abort')
  await new Promise((r) => setTimeout(r, 600))
  assert.equal(times.length, 1)
})

test('bad retry options are refused by name', () => {
  assert.throws(() => clientOf({ url: 'http://127.0.0.1:9' }, { retry: -1 }), /option `createClient.retry` must be a whole number >= 0/)
  assert.throws(() => clientOf({ url: 'http://127.0.0.1:9' }, { retryDelayMs: 1.5 }), /option `createClient.retryDelayMs`/)
})
