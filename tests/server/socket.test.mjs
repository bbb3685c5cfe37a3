// calmfetch/server's socketHandler on an Express app's HTTP server, with the
// built client's `socket` option on the other end (Node 20 has no global
// WebSocket: the `ws` package's stands in), and raw `ws` clients for the
// protocol's edges. Run: node --test tests/server/
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import net from 'node:net'
import { once } from 'node:events'
import express from 'express'
import WebSocket from 'ws'
import { createClient, server, sleep } from './harness.mjs'

globalThis.WebSocket ??= WebSocket
const T = { timeout: 10_000 }

/** Who the connection is: `?user=` of the socket URL (a stand-in for a session cookie). */
const userOf = (req) => new URL(req.url, 'http://x').searchParams.get('user')
const exposed = (message) => Object.assign(new Error(message), { expose: true })

/** An Express app with a socket at /ws; `store` holds the public keys' data. */
async function start(t, options = {}) {
  const store = new Map([['/games/1', { id: 1, score: 0 }]])
  const asked = []
  const app = express()
  app.get('/games/:id', (req, res) => res.json(store.get(req.path) ?? { none: true }))
  app.get('/me', (req, res) => res.json({ user: req.headers.cookie ?? null }))
  const live = server.socketHandler({
    authorize: (req, key) => {
      asked.push(key)
      if (key === '/private') return false
      if (key === '/me') return Promise.resolve(userOf(req) !== null)
      return true
    },
    load: async (key, req) => {
      if (key === '/me') return { user: userOf(req) }
      if (!store.has(key)) throw exposed(`unknown key ${key}`)
      return store.get(key)
    },
    ...options,
  })
  const srv = http.createServer(app)
  live.attach(srv, { path: '/ws' })
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  const url = `http://127.0.0.1:${srv.address().port}`
  t.after(() => {
    live.close()
    srv.closeAllConnections()
    return new Promise((r) => srv.close(r))
  })
  return { app, live, srv, url, ws: url.replace('http', 'ws') + '/ws', store, asked }
}

/** Resolves when `cond()` holds (checked every 10 ms), or rejects after `ms`. */
async function until(cond, ms = 3000, what = 'the condition') {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} did not hold within ${ms} ms`)
    await sleep(10)
  }
}

/** A raw `ws` client collecting its messages; `next()` awaits the next one. */
async function raw(t, url, options) {
  const ws = new WebSocket(url, options)
  const inbox = []
  const waiters = []
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString())
    const w = waiters.shift()
    if (w) w(msg)
    else inbox.push(msg)
  })
  t.after(() => ws.terminate())
  await once(ws, 'open')
  const next = (ms = 2000) =>
    inbox.length
      ? Promise.resolve(inbox.shift())
      : new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no socket message in time')), ms)
          waiters.push((m) => {
            clearTimeout(timer)
            resolve(m)
          })
        })
  return { ws, next, send: (m) => ws.send(typeof m === 'string' ? m : JSON.stringify(m)), inbox }
}

test('the client subscribes, gets the data at once and every publish; unsubscribing ends it', T, async (t) => {
  const s = await start(t)
  const client = createClient({ baseUrl: s.url, socket: { url: `${s.ws}?user=alice`, lingerMs: 50 } })
  const seen = []
  const stop = client.subscribe('/games/1', (snap) => snap.data !== undefined && seen.push(snap.data))
  await until(() => seen.length === 1, 3000, 'the first data message')
  assert.deepEqual(seen[0], { id: 1, score: 0 })
  assert.equal(client.isLive('/games/1'), true)
  await until(() => s.live.subscriptions === 1, 3000, 'the subscription')
  assert.equal(s.live.publish('/games/1', { id: 1, score: 2 }), 1)
  await until(() => seen.length === 2, 3000, 'the published data')
  assert.deepEqual(seen[1], { id: 1, score: 2 })
  assert.deepEqual(client.peek('/games/1').data, { id: 1, score: 2 })
  stop()
  await until(() => s.live.subscriptions === 0, 3000, 'the unsubscribe')
  assert.equal(s.live.publish('/games/1', { id: 1, score: 3 }), 0)
  assert.ok(client.stats().socketMessages >= 2)
  await until(() => s.live.connections === 0, 3000, 'the client closing its idle socket')
})

test('a denied subscription is an error for its key only, and a publish never reaches it', T, async (t) => {
  const s = await start(t)
  const errors = []
  const client = createClient({ baseUrl: s.url, socket: { url: `${s.ws}?user=alice`, lingerMs: 50, onError: (e) => errors.push(e) } })
  const snaps = []
  const stops = [
    client.subscribe('/private', (snap) => snaps.push(snap)),
    client.subscribe('/games/1', () => {}),
  ]
  await until(() => snaps.some((x) => x.error !== undefined), 3000, 'the denial')
  const denied = snaps.find((x) => x.error !== undefined)
  assert.match(denied.error.message, /not authorized/)
  assert.ok(s.asked.includes('/private'))
  await until(() => s.live.subscriptions === 1, 3000, 'the allowed subscription')
  assert.equal(s.live.publish('/private', { secret: true }), 0, 'nobody is subscribed to the denied key')
  await sleep(50)
  assert.ok(snaps.every((x) => x.data === undefined || x.data.secret === undefined))
  assert.deepEqual(errors, [])
  stops.forEach((f) => f())
  await until(() => s.live.connections === 0, 3000, 'the client closing its idle socket')
})

test('each connection is its own user: /me is loaded and refreshed with each one\'s credentials', T, async (t) => {
  const s = await start(t)
  const anon = createClient({ baseUrl: s.url, socket: { url: s.ws, lingerMs: 50 } })
  const who = {}
  const clients = ['alice', 'bob'].map((u) => createClient({ baseUrl: s.url, socket: { url: `${s.ws}?user=${u}`, lingerMs: 50 } }))
  const stops = clients.map((c, i) => c.subscribe('/me', (snap) => snap.data !== undefined && (who[i] = snap.data.user)))
  const anonSnaps = []
  stops.push(anon.subscribe('/me', (snap) => anonSnaps.push(snap)))
  await until(() => who[0] !== undefined && who[1] !== undefined, 3000, 'both users\' data')
  assert.deepEqual(who, { 0: 'alice', 1: 'bob' })
  await until(() => anonSnaps.some((x) => x.error !== undefined), 3000, 'the anonymous denial')
  assert.ok(anonSnaps.every((x) => x.data === undefined), 'an anonymous connection never got a user')
  who[0] = who[1] = undefined
  assert.equal(await s.live.refresh('/me'), 2)
  await until(() => who[0] !== undefined && who[1] !== undefined, 3000, 'the refreshed data')
  assert.deepEqual(who, { 0: 'alice', 1: 'bob' })
  stops.forEach((f) => f())
  await until(() => s.live.connections === 0, 5000, 'the clients closing their idle sockets')
})

test('protocol edges: malformed messages, unknown keys, unsubscribe, too many subscriptions', T, async (t) => {
  const s = await start(t, { maxSubscriptions: 2 })
  s.store.set('/games/2', { id: 2 })
  s.store.set('/games/3', { id: 3 })
  const c = await raw(t, `${s.ws}?user=carol`)
  c.send('not json')
  assert.deepEqual(await c.next(), { type: 'error', key: null, message: 'malformed message: not JSON' })
  c.send({ key: '/games/1' })
  assert.deepEqual(await c.next(), { type: 'error', key: null, message: 'malformed message: missing "type"' })
  c.send({ type: 'shout', key: '/games/1' })
  assert.deepEqual(await c.next(), { type: 'error', key: '/games/1', message: 'unknown message type "shout"' })
  c.send({ type: 'subscribe' })
  assert.equal((await c.next()).type, 'error')
  c.send({ type: 'subscribe', key: 'http://evil.test/x' })
  assert.deepEqual(await c.next(), { type: 'error', key: 'http://evil.test/x', message: 'subscribe needs a string "key" that is a path' })
  c.send({ type: 'subscribe', key: '/games/9' })
  assert.deepEqual(await c.next(), { type: 'error', key: '/games/9', message: 'unknown key /games/9' })
  c.send({ type: 'subscribe', key: '/games/1' })
  assert.deepEqual(await c.next(), { type: 'data', key: '/games/1', body: { id: 1, score: 0 } })
  c.send({ type: 'subscribe', key: '/games/2' })
  assert.deepEqual(await c.next(), { type: 'data', key: '/games/2', body: { id: 2 } })
  c.send({ type: 'subscribe', key: '/games/3' })
  assert.deepEqual(await c.next(), { type: 'error', key: '/games/3', message: 'too many subscriptions on this connection (at most 2)' })
  assert.equal(s.live.subscriptions, 2)
  c.send({ type: 'unsubscribe', key: '/games/2' })
  c.send({ type: 'subscribe', key: '/games/3' })
  assert.deepEqual(await c.next(), { type: 'data', key: '/games/3', body: { id: 3 } })
  assert.equal(s.live.publish((key) => key.startsWith('/games/'), { all: true }), 2)
  const pushed = [await c.next(), await c.next()].map((m) => m.key).sort()
  assert.deepEqual(pushed, ['/games/1', '/games/3'])
  c.ws.close()
  await until(() => s.live.connections === 0 && s.live.subscriptions === 0, 3000, 'the cleanup on close')
})

test('refresh loads at most `concurrency` subscriptions\' data at a time, and each gets its own', T, async (t) => {
  let inFlight = 0
  let peak = 0
  const s = await start(t, {
    concurrency: 3,
    load: async (key, req) => {
      inFlight++
      peak = Math.max(peak, inFlight)
      await sleep(20)
      inFlight--
      return { user: userOf(req) }
    },
  })
  const socks = []
  for (let i = 0; i < 10; i++) {
    const c = await raw(t, `${s.ws}?user=u${i}`)
    c.send({ type: 'subscribe', key: '/me' })
    socks.push(c)
  }
  for (const [i, c] of socks.entries()) assert.deepEqual(await c.next(), { type: 'data', key: '/me', body: { user: `u${i}` } })
  peak = 0
  assert.equal(await s.live.refresh('/me'), 10)
  assert.equal(peak, 3)
  for (const [i, c] of socks.entries()) assert.deepEqual(await c.next(), { type: 'data', key: '/me', body: { user: `u${i}` } })
})

test('an unsubscribe while authorize is pending wins; the subscription is never made', T, async (t) => {
  let release
  const gate = new Promise((r) => (release = r))
  const s = await start(t, { authorize: () => gate.then(() => true) })
  const c = await raw(t, s.ws)
  c.send({ type: 'subscribe', key: '/games/1' })
  c.send({ type: 'unsubscribe', key: '/games/1' })
  await sleep(20)
  release()
  await sleep(50)
  assert.equal(s.live.subscriptions, 0)
  assert.deepEqual(c.inbox, [])
})

test('a page of another origin is refused; same origin and non-browser clients are let in', T, async (t) => {
  const s = await start(t)
  const host = new URL(s.url).host
  const evil = new WebSocket(s.ws, { headers: { Origin: 'http://evil.test' } })
  evil.on('error', () => {})
  const [, res] = await once(evil, 'unexpected-response')
  assert.equal(res.statusCode, 403)
  res.destroy()
  const same = await raw(t, s.ws, { headers: { Origin: `http://${host}` } })
  same.send({ type: 'subscribe', key: '/games/1' })
  assert.equal((await same.next()).type, 'data')
  const other = new WebSocket(s.url.replace('http', 'ws') + '/elsewhere')
  other.on('error', () => {})
  const [, notFound] = await once(other, 'unexpected-response')
  assert.equal(notFound.statusCode, 404)
  notFound.destroy()
})

test('with `listener` a key\'s data is a GET through the app with the connection\'s cookie', T, async (t) => {
  const app = express()
  app.get('/me', (req, res) => res.json({ cookie: req.headers.cookie ?? null, auth: req.headers.authorization ?? null }))
  app.get('/gone', (req, res) => res.status(404).json({ error: 'gone' }))
  const live = server.socketHandler({ authorize: () => true, listener: app })
  const srv = http.createServer(app)
  live.attach(srv)
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  t.after(() => {
    live.close()
    return new Promise((r) => srv.close(r))
  })
  const c = await raw(t, `ws://127.0.0.1:${srv.address().port}/ws`, { headers: { Cookie: 'sid=dave' } })
  c.send({ type: 'subscribe', key: '/me' })
  assert.deepEqual(await c.next(), { type: 'data', key: '/me', body: { cookie: 'sid=dave', auth: null } })
  c.send({ type: 'subscribe', key: '/gone' })
  assert.deepEqual(await c.next(), { type: 'error', key: '/gone', message: 'GET /gone answered 404' })
})

test('a peer that stops answering pings is dropped, and its subscriptions with it', T, async (t) => {
  const s = await start(t, { pingMs: 100 })
  // A hand-made WebSocket client that never answers a ping.
  const sock = net.connect(Number(new URL(s.url).port), '127.0.0.1')
  t.after(() => sock.destroy())
  await once(sock, 'connect')
  sock.write('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
  const [head] = await once(sock, 'data')
  assert.match(head.toString(), /^HTTP\/1.1 101/)
  // One masked text frame: {"type":"subscribe","key":"/games/1"}
  const payload = Buffer.from(JSON.stringify({ type: 'subscribe', key: '/games/1' }))
  const mask = Buffer.from([1, 2, 3, 4])
  const frame = Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, payload.map((b, i) => b ^ mask[i % 4])])
  sock.write(frame)
  await until(() => s.live.subscriptions === 1, 2000, 'the subscription')
  const t0 = performance.now()
  await until(() => s.live.connections === 0, 2000, 'the drop')
  assert.equal(s.live.subscriptions, 0)
  assert.ok(performance.now() - t0 < 500)
})

test('bad options are a CalmfetchError of kind invalid', () => {
  const bad = [
    () => server.socketHandler(),
    () => server.socketHandler({}),
    () => server.socketHandler({ authorize: () => true, origins: 5 }),
    () => server.socketHandler({ authorize: () => true, maxSubscriptions: 0 }),
    () => server.socketHandler({ authorize: () => true, load: 'x' }),
    () => server.socketHandler({ authorize: () => true, WebSocketServer: 1 }),
    () => server.socketHandler({ authorize: () => true, what: 1 }),
  ]
  for (const f of bad) {
    assert.throws(f, (e) => e.name === 'CalmfetchError' && e.kind === 'invalid' && /^calmfetch\/server: /.test(e.message))
  }
  assert.throws(() => server.socketHandler({ authorize: () => true, pingMs: 0 }).publish(5, 1), /publish and refresh take a key/)
})
