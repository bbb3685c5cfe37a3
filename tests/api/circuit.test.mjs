// Defect 1 of issue 14: after the cool-down, the probe always ends the
// probing state, however it ends.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { clientOf, rejection, reply, routes, serve, sleep, waitFor } from './helpers.mjs'

const COOL_DOWN_MS = 200

/**
 * A server with `/fail` (503), `/ok*` (200 JSON), `/unauthorized` (401),
 * `/text` (a 200 that is not JSON) and `/hang` (never answers), and a client
 * whose circuit to it is open, its cool-down over: the next `get` is the probe.
 */
async function openCircuit(t) {
  const srv = await serve(t, routes({
    '/fail': (req, res) => reply(res, 503, { error: 'down' }),
    '/ok': { ok: true },
    '/ok2': { ok: 2 },
    '/unauthorized': (req, res) => reply(res, 401, { error: 'session expired' }),
    '/text': (req, res) => reply(res, 200, '<html>maintenance</html>', { 'Content-Type': 'text/html' }),
    '/hang': () => {},
  }))
  // retry: 0: each get is one request here, so the failures that open the circuit are counted one by one.
  const client = clientOf(srv, { circuit: { failures: 2, coolDownMs: COOL_DOWN_MS }, timeoutMs: 5_000, retry: 0 })
  for (let i = 0; i < 2; i++) {
    const e = await rejection(client.get('/fail', { fresh: true }), 'a get of /fail')
    assert.equal(e.status, 503)
  }
  const refused = await rejection(client.get('/ok'), 'a get while the circuit is open')
  assert.equal(refused.kind, 'circuit', `expected the circuit to be open, got: ${refused.message}`)
  assert.equal(srv.count('/ok'), 0)
  await sleep(COOL_DOWN_MS + 50)
  return { srv, client }
}

/** The next get of `path` reaches the server and resolves. */
async function nextGetGoesOut(srv, client, path = '/ok') {
  const before = srv.count(path)
  let result
  try {
    result = await client.get(path)
  } catch (e) {
    assert.fail(`the get after the probe was refused (${e.kind}): ${e.message}`)
  }
  assert.equal(srv.count(path), before + 1, 'the server did not see the get after the probe')
  return result
}

test('an aborted circuit probe lets the next get probe again', { timeout: 5_000 }, async (t) => {
  const { srv, client } = await openCircuit(t)
  const ctl = new AbortController()
  const probe = client.get('/hang', { signal: ctl.signal })
  await waitFor(() => srv.count('/hang') === 1, 1_000, 'the probe')
  ctl.abort()
  const e = await rejection(probe, 'the aborted probe')
  assert.equal(e.kind, 'abort')
  assert.deepEqual(await nextGetGoesOut(srv, client), { ok: true })
})

test('a circuit probe answered 401 closes the circuit', { timeout: 5_000 }, async (t) => {
  const { srv, client } = await openCircuit(t)
  const e = await rejection(client.get('/unauthorized'), 'the probe answered 401')
  assert.equal(e.kind, 'http')
  assert.equal(e.status, 401)
  // Closed, not half-open: two gets at once both go out.
  const both = await Promise.allSettled([client.get('/ok'), client.get('/ok2')])
  for (const r of both) {
    assert.equal(r.status, 'fulfilled', `a get after the 401 probe was refused: ${r.reason?.message}`)
  }
  assert.equal(srv.count('/ok'), 1)
  assert.equal(srv.count('/ok2'), 1)
})

test('a circuit probe answered 200 with a body that is not JSON closes the circuit', { timeout: 5_000 }, async (t) => {
  const { srv, client } = await openCircuit(t)
  const e = await rejection(client.get('/text'), 'the probe answered with HTML')
  assert.equal(e.kind, 'parse')
  assert.deepEqual(await nextGetGoesOut(srv, client), { ok: true })
})

test('a circuit probe answered 503 opens the circuit for another cool-down', { timeout: 5_000 }, async (t) => {
  const { srv, client } = await openCircuit(t)
  const e = await rejection(client.get('/fail', { fresh: true }), 'the probe answered 503')
  assert.equal(e.status, 503)
  const refused = await rejection(client.get('/ok'), 'a get right after a failed probe')
  assert.equal(refused.kind, 'circuit')
  assert.equal(srv.count('/ok'), 0)
  await sleep(COOL_DOWN_MS + 50)
  assert.deepEqual(await nextGetGoesOut(srv, client), { ok: true })
})
