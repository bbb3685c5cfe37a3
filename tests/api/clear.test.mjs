// Defect 3 of issue 14: nothing that began before `clear()` refills the
// cleared cache: not the old socket connection, not a request in flight.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { clientOf, dataMessage, fakeAdapter, reply, serve, sleep, snapshots, waitFor } from './helpers.mjs'

test('clear() reconnects the socket and ignores pushes from the old connection', { timeout: 5_000 }, async (t) => {
  const srv = await serve(t, (req, res) => reply(res, 200, { over: 'http' }))
  const sock = fakeAdapter()
  const client = clientOf(srv, {
    socket: { adapter: sock.adapter, reconnect: { minMs: 10, maxMs: 50 }, connectTimeoutMs: 3_000 },
  })
  const seen = snapshots()
  const stop = client.subscribe('/me', seen.listener)
  t.after(stop)
  await waitFor(() => sock.connections.length === 1, 1_000, 'connect')
  const old = sock.handlers
  old.open()
  await waitFor(() => sock.subscribed().includes('/me'), 1_000, 'the subscribe message')
  old.message(dataMessage('/me', { user: 'alice' }))
  await seen.next((s) => s.data?.user === 'alice', 1_000, "alice's pushed data")

  client.clear()
  assert.equal(client.peek('/me').data, undefined, 'clear() left the data')
  // The app's socket may still deliver the old connection's events: they
  // must be ignored, not stored and not thrown back at the adapter.
  try {
    old.message(dataMessage('/me', { user: 'alice' }))
  } catch (e) {
    assert.fail(`the old connection's message handler threw: ${e?.message ?? e}`)
  }
  await sleep(20)
  const after = client.peek('/me')
  assert.equal(after.data, undefined, `a push on the connection from before clear() was stored: ${JSON.stringify(after)}`)
  await waitFor(() => sock.closes >= 1, 1_000, "the adapter's close() after clear()")
  await waitFor(() => sock.connections.length >= 2, 1_000, 'connect again after clear()')
  assert.equal(srv.total(), 0)
})

test('a get in flight at clear() answers its caller but stores nothing', { timeout: 5_000 }, async (t) => {
  let release
  const held = new Promise((r) => (release = r))
  const srv = await serve(t, async (req, res) => {
    if (srv.count('/me') === 1) await held
    reply(res, 200, { user: 'alice', n: srv.count('/me') })
  })
  const client = clientOf(srv)
  const inFlight = client.get('/me')
  await waitFor(() => srv.count('/me') === 1, 1_000, 'the first request')
  client.clear()
  release()
  assert.deepEqual(await inFlight, { user: 'alice', n: 1 })
  await sleep(10)
  assert.equal(client.peek('/me').data, undefined, 'the answer of a request in flight at clear() was stored')
  assert.deepEqual(await client.get('/me'), { user: 'alice', n: 2 })
  assert.equal(srv.count('/me'), 2)
})
