// Self-test of the calmfetch reference server.
//
//   node --test www/server/selftest.mjs
//
// Starts the server on a random loopback port, exercises every route, the
// batch protocol (plain + NDJSON + faults), counters, knobs, static files and
// the WebSocket channel, then closes everything. Every test has a 10 s cap.

import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { startServer, DEFAULT_KNOBS } from './server.mjs';

const T = { timeout: 10_000 };
let srv;
let base;

before(async () => {
  srv = await startServer({ port: 0 });
  base = srv.url;
});
after(async () => {
  await srv.close();
});
beforeEach(() => {
  srv.setKnobs({ ...DEFAULT_KNOBS });
  srv.reset();
});

// --- helpers ---------------------------------------------------------------

const get = (p, headers = {}) => fetch(base + p, { headers });
const getJson = async (p, headers) => {
  const res = await get(p, headers);
  return { res, body: await res.json() };
};
const post = (p, body, headers = {}) =>
  fetch(base + p, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
const batch = (requests, { query = '', headers = {} } = {}) => post(`/batch${query}`, { requests }, headers);
const ndjsonLines = (text) =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));

/** Open a WebSocket and collect its messages; `next()` awaits the next one. */
function openSocket(p = '/ws') {
  const ws = new WebSocket(base.replace('http', 'ws') + p);
  const inbox = [];
  const waiters = [];
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString());
    const w = waiters.shift();
    if (w) w(msg);
    else inbox.push(msg);
  });
  const next = (ms = 2000) =>
    inbox.length
      ? Promise.resolve(inbox.shift())
      : new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no socket message in time')), ms);
          waiters.push((m) => {
            clearTimeout(timer);
            resolve(m);
          });
        });
  const opened = new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
  const send = (m) => ws.send(typeof m === 'string' ? m : JSON.stringify(m));
  return { ws, next, opened, closed, send };
}

// --- basics ----------------------------------------------------------------

test('listens on 127.0.0.1 only', T, () => {
  assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/);
});

test('CORS headers and preflight counting', T, async () => {
  const res = await get('/api/games', { Origin: 'http://app.test' });
  assert.equal(res.headers.get('access-control-allow-origin'), 'http://app.test');
  assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
  assert.match(res.headers.get('access-control-expose-headers'), /ETag.*Retry-After.*Cache-Control.*Content-Type/);
  await res.arrayBuffer();

  const noOrigin = await get('/api/games');
  assert.equal(noOrigin.headers.get('access-control-allow-origin'), '*');
  assert.equal(noOrigin.headers.get('access-control-allow-credentials'), null);
  await noOrigin.arrayBuffer();

  const pre = await fetch(base + '/api/games/1', {
    method: 'OPTIONS',
    headers: { Origin: 'http://app.test', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'x-test-tag, authorization' },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-methods'), 'GET, POST, OPTIONS');
  assert.equal(pre.headers.get('access-control-allow-headers'), 'x-test-tag, authorization');
  const s = srv.stats();
  assert.equal(s.preflights, 1);
  assert.equal(s.requests, 2);
});

test('data routes answer deterministic JSON', T, async () => {
  const { res, body: games } = await getJson('/api/games');
  assert.equal(res.headers.get('content-type'), 'application/json');
  assert.match(res.headers.get('etag'), /^W\/"[0-9a-f]+"$/);
  assert.equal(games.length, 20);
  assert.deepEqual(Object.keys(games[0]).sort(), ['id', 'name', 'players']);

  const one = await getJson('/api/games/3');
  const again = await getJson('/api/games/3');
  assert.deepEqual(one.body, again.body);
  assert.equal(one.res.headers.get('etag'), again.res.headers.get('etag'));
  assert.equal(one.body.id, 3);

  for (const sub of ['players', 'odds', 'chat']) {
    const { res: r, body } = await getJson(`/api/games/3/${sub}`);
    assert.equal(r.status, 200, sub);
    assert.equal(body.gameId, 3);
  }
  for (const p of ['/api/notifications', '/api/bills', '/api/validate?value=abcd', '/api/activity', '/api/leaderboard']) {
    const { res: r } = await getJson(p);
    assert.equal(r.status, 200, p);
  }
  const missing = await getJson('/api/games/99');
  assert.equal(missing.res.status, 404);
  const unknown = await getJson('/api/nope');
  assert.equal(unknown.res.status, 404);
});

test('/api/user echoes the bearer user', T, async () => {
  assert.equal((await getJson('/api/user', { Authorization: 'Bearer alice' })).body.user, 'alice');
  assert.equal((await getJson('/api/user')).body.user, null);
});

test('ETag revalidation gives 304 with an auth query but no data query', T, async () => {
  const first = await get('/api/games/1');
  const etag = first.headers.get('etag');
  await first.arrayBuffer();
  srv.reset();
  const res = await get('/api/games/1', { 'If-None-Match': etag });
  assert.equal(res.status, 304);
  assert.equal((await res.text()), '');
  const s = srv.stats();
  assert.equal(s.requests, 1);
  assert.equal(s.authQueries, 1);
  assert.equal(s.dataQueries, 0);
});

test('POST /__bump changes the body and version', T, async () => {
  const before = await getJson('/api/games/2');
  const bumped = await (await post('/__bump?path=/api/games/2', '')).json();
  assert.equal(bumped.path, '/api/games/2');
  const afterBump = await getJson('/api/games/2');
  assert.equal(afterBump.body.version, before.body.version + 1);
  assert.notEqual(afterBump.res.headers.get('etag'), before.res.headers.get('etag'));
});

// --- test routes -------------------------------------------------------------

test('/test/echo options', T, async () => {
  const a = await getJson('/test/echo?tag=echo1&x=1', { Authorization: 'Bearer bob' });
  assert.deepEqual(a.body, { path: '/test/echo', query: { tag: 'echo1', x: '1' }, auth: 'Bearer bob', n: 1 });
  const b = await getJson('/test/echo?tag=echo1');
  assert.equal(b.body.n, 2);

  const st = await getJson('/test/echo?tag=echo1&status=418');
  assert.equal(st.res.status, 418);
  assert.deepEqual(st.body, { error: 'status 418' });

  const e = await get('/test/echo?tag=echo1&etag=v1&cache=no-store&retryAfter=3');
  assert.equal(e.headers.get('etag'), '"v1"');
  assert.equal(e.headers.get('cache-control'), 'no-store');
  assert.equal(e.headers.get('retry-after'), '3');
  await e.arrayBuffer();
  const nm = await get('/test/echo?tag=echo1&etag=v1', { 'If-None-Match': '"v1"' });
  assert.equal(nm.status, 304);
  await nm.arrayBuffer();

  const t0 = performance.now();
  await (await get('/test/echo?tag=echo1&delay=150')).json();
  assert.ok(performance.now() - t0 >= 140);
});

test('/test/text, /test/reset-mid-body, /test/trickle', T, async () => {
  const text = await get('/test/text?tag=t');
  assert.match(text.headers.get('content-type'), /^text\/plain/);
  assert.equal(await text.text(), 'not json at all');

  const reset = await get('/test/reset-mid-body?tag=t');
  assert.equal(reset.status, 200);
  await assert.rejects(reset.text());

  const t0 = performance.now();
  const trickle = await get('/test/trickle?ms=5&tag=t');
  const body = await trickle.json();
  assert.equal(body.trickle, true);
  const bytes = JSON.stringify(body).length;
  assert.ok(performance.now() - t0 >= bytes * 4, 'trickle was not slow');
});

test('/test/count counts tagged requests and is not counted itself', T, async () => {
  await (await get('/api/games?tag=cnt')).arrayBuffer();
  await (await get('/api/games/1', { 'X-Test-Tag': 'cnt' })).arrayBuffer();
  await (await batch([{ id: 'a', url: '/api/games/2?tag=cnt' }])).arrayBuffer();
  const { body } = await getJson('/test/count?tag=cnt');
  assert.deepEqual(body, { tag: 'cnt', count: 3 });
  const s = srv.stats();
  assert.equal(s.requests, 3);
  assert.equal(s.byTag.cnt, 3);
  assert.equal(s.byPath['/test/count'], undefined);
});

// --- batch -------------------------------------------------------------------

test('plain batch uses the same handlers and counters', T, async () => {
  const direct = await get('/api/games/1');
  const etag = direct.headers.get('etag');
  const directBody = await direct.json();
  srv.reset();

  const res = await batch([
    { id: '1', method: 'GET', url: '/api/games/1' },
    { id: '2', url: '/api/games/1', headers: { 'If-None-Match': etag } },
    { id: '3', method: 'POST', url: '/api/games/1' },
    { id: '4', url: '/api/missing' },
    { id: '5', url: '/test/echo?tag=bt&status=500' },
    { id: '6', url: '/api/user' },
  ], { headers: { Authorization: 'Bearer carol' } });
  assert.equal(res.status, 200);
  const { responses } = await res.json();
  const byId = Object.fromEntries(responses.map((r) => [r.id, r]));
  assert.deepEqual(responses.map((r) => r.id), ['1', '2', '3', '4', '5', '6']);
  assert.equal(byId[1].status, 200);
  assert.deepEqual(byId[1].body, directBody);
  assert.equal(byId[1].headers.ETag, etag);
  assert.equal(byId[2].status, 304);
  assert.equal('body' in byId[2], false);
  assert.equal(byId[3].status, 405);
  assert.equal(byId[4].status, 404);
  assert.equal(byId[5].status, 500);
  assert.equal(byId[6].body.user, 'carol', 'items inherit Authorization');

  const s = srv.stats();
  assert.equal(s.requests, 1);
  assert.equal(s.byPath['/batch'], 1);
  assert.equal(s.authQueries, 1);
  assert.equal(s.batchItems, 6);
  assert.equal(s.itemsByPath['/api/games/1'], 3);
  assert.equal(s.dataQueries, 3); // items 1, 5, 6 (304/405/404 cost none)
  assert.equal(s.byTag.bt, 1);
});

test('NDJSON batch streams items as they complete', T, async () => {
  const t0 = performance.now();
  const res = await batch(
    [
      { id: 'slow', url: '/test/echo?tag=nd&delay=1500' },
      { id: 'fast', url: '/test/echo?tag=nd&delay=10' },
    ],
    { headers: { Accept: 'application/x-ndjson' } },
  );
  assert.equal(res.headers.get('content-type'), 'application/x-ndjson');
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (!text.includes('\n')) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  const firstAt = performance.now() - t0;
  assert.equal(JSON.parse(text.split('\n')[0]).id, 'fast');
  assert.ok(firstAt < 1000, `first line took ${firstAt} ms`);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  assert.deepEqual(ndjsonLines(text).map((l) => l.id), ['fast', 'slow']);
});

test('batch validation errors', T, async () => {
  const cases = [
    ['{not json', /not valid JSON/],
    [{ nope: [] }, /"requests" array/],
    [{ requests: [{ url: '/api/games' }] }, /requests\[0\]\.id must be a string/],
    [{ requests: [{ id: '1' }] }, /requests\[0\]\.url/],
  ];
  for (const [body, pattern] of cases) {
    const res = await post('/batch', body);
    assert.equal(res.status, 400);
    assert.match((await res.json()).error, pattern);
  }
  srv.setKnobs({ batchMaxItems: 2 });
  const tooMany = await batch([1, 2, 3].map((i) => ({ id: String(i), url: '/api/games' })));
  assert.equal(tooMany.status, 400);
  assert.deepEqual(await tooMany.json(), { error: 'batch has 3 items; this server accepts at most 2' });

  srv.setKnobs({ batchEnabled: false });
  const off = await batch([{ id: '1', url: '/api/games' }]);
  assert.equal(off.status, 404);
  await off.arrayBuffer();
});

test('batch fault injection', T, async () => {
  const items = [
    { id: 'a', url: '/api/games/1' },
    { id: 'b', url: '/api/games/2' },
  ];
  const ids = async (fault) => (await (await batch(items, { query: `?fault=${fault}` })).json()).responses.map((r) => r.id);
  assert.deepEqual(await ids('missing-id'), ['b']);
  assert.deepEqual(await ids('extra-id'), ['a', 'b', '__unexpected__']);
  assert.deepEqual(await ids('duplicate-id'), ['a', 'a', 'b']);

  const truncated = await batch(items, { query: '?fault=truncated-json' });
  await assert.rejects(truncated.json());

  const nd = await batch(items, { query: '?fault=truncated-ndjson', headers: { Accept: 'application/x-ndjson' } });
  const text = await nd.text();
  const [line1, line2] = text.split('\n');
  assert.doesNotThrow(() => JSON.parse(line1));
  assert.throws(() => JSON.parse(line2));

  const s500 = await batch(items, { query: '?fault=status-500' });
  assert.equal(s500.status, 500);
  await s500.arrayBuffer();

  const garbage = await batch(items, { query: '?fault=garbage' });
  assert.equal(garbage.status, 200);
  assert.equal(await garbage.text(), '<html>oops</html>');
});

// --- backend model & knobs -------------------------------------------------------

test('DB pool exhaustion answers 503 with Retry-After', T, async () => {
  srv.setKnobs({ dbPool: 1, authQueryMs: 100, queueTimeoutMs: 30 });
  const responses = await Promise.all([1, 2, 3, 4].map(() => get('/api/games?tag=pool')));
  const statuses = responses.map((r) => r.status).sort();
  const busy = responses.find((r) => r.status === 503);
  assert.ok(busy, `expected a 503, got ${statuses}`);
  assert.equal(busy.headers.get('retry-after'), '1');
  assert.deepEqual(await busy.json(), { error: 'db pool exhausted' });
  await Promise.all(responses.filter((r) => r !== busy).map((r) => r.arrayBuffer()));
  const s = srv.stats();
  assert.ok(s.status503 >= 1);
  assert.ok(s.maxDbWait >= 25);
  assert.ok(s.maxConcurrentRequests >= 2);
  assert.equal(s.inFlight, 0);
});

test('batch items get 503 inside the batch when the pool is exhausted', T, async () => {
  srv.setKnobs({ dbPool: 1, dataQueryMs: 150, queueTimeoutMs: 40, batchItemConcurrency: 4 });
  const res = await batch([1, 2, 3].map((i) => ({ id: String(i), url: `/api/games/${i}` })));
  assert.equal(res.status, 200);
  const { responses } = await res.json();
  assert.ok(responses.some((r) => r.status === 503 && r.headers['Retry-After'] === '1'));
  assert.ok(responses.some((r) => r.status === 200));

  // If the batch's own auth query times out, the whole batch is 503.
  srv.setKnobs({ dbPool: 1, authQueryMs: 200, dataQueryMs: 5, queueTimeoutMs: 30 });
  const both = await Promise.all([1, 2].map(() => batch([{ id: '1', url: '/api/games/1' }])));
  const whole = both.find((r) => r.status === 503);
  assert.ok(whole, 'expected one whole-batch 503');
  assert.equal(whole.headers.get('retry-after'), '1');
  await Promise.all(both.map((r) => r.arrayBuffer()));
});

test('latencyMs, failRate and knob validation', T, async () => {
  srv.setKnobs({ latencyMs: 120 });
  const t0 = performance.now();
  await (await get('/api/games')).arrayBuffer();
  assert.ok(performance.now() - t0 >= 110);

  const setOverHttp = await post('/__knobs', { latencyMs: 0, failRate: 1 });
  assert.equal(setOverHttp.status, 200);
  assert.equal((await setOverHttp.json()).failRate, 1);
  const knobs = await (await get('/__knobs')).json();
  assert.equal(knobs.latencyMs, 0);

  const failed = await get('/api/games');
  assert.equal(failed.status, 500);
  await failed.arrayBuffer();
  const echo = await get('/test/echo');
  assert.equal(echo.status, 200, 'failRate only hits data routes');
  await echo.arrayBuffer();

  for (const bad of [{ nope: 1 }, { dbPool: 0 }, { failRate: 2 }, { batchEnabled: 'yes' }]) {
    const r = await post('/__knobs', bad);
    assert.equal(r.status, 400, JSON.stringify(bad));
    await r.arrayBuffer();
  }
});

test('control routes are not counted; /__stats and /__reset work', T, async () => {
  await (await get('/api/games')).arrayBuffer();
  const s = await (await get('/__stats')).json();
  assert.equal(s.requests, 1);
  assert.equal(s.dbQueries, 2);
  assert.equal(s.byPath['/api/games'], 1);
  const r = await post('/__reset', '');
  assert.equal(r.status, 200);
  await r.arrayBuffer();
  assert.equal(srv.stats().requests, 0);
});

// --- WebSocket ---------------------------------------------------------------

test('socket subscribe, push on bump, errors, unsubscribe', T, async () => {
  const sock = openSocket();
  await sock.opened;
  sock.send({ type: 'subscribe', key: '/api/games/5' });
  const first = await sock.next();
  assert.equal(first.type, 'data');
  assert.equal(first.key, '/api/games/5');
  const direct = await (await get('/api/games/5')).json();
  assert.deepEqual(first.body, direct);

  await (await post('/__bump?path=/api/games/5', '')).arrayBuffer();
  const pushed = await sock.next();
  assert.equal(pushed.body.version, direct.version + 1);

  sock.send({ type: 'subscribe', key: '/api/nothing' });
  assert.equal((await sock.next()).type, 'error');
  sock.send('not json');
  assert.deepEqual(await sock.next(), { type: 'error', key: null, message: 'malformed message: not JSON' });
  sock.send({ key: '/api/games/5' });
  assert.equal((await sock.next()).type, 'error');

  let s = srv.stats().socket;
  assert.equal(s.connections, 1);
  assert.equal(s.subscriptions, 1);
  assert.equal(s.subscribeMessages, 2);
  assert.equal(s.peakSubscriptions, 1);
  assert.equal(s.messagesIn, 4);
  assert.equal(s.messagesOut, 5);

  sock.send({ type: 'unsubscribe', key: '/api/games/5' });
  sock.send({ type: 'subscribe', key: '/api/games/6' }); // ordering barrier
  await sock.next();
  await (await post('/__bump?path=/api/games/5', '')).arrayBuffer();
  s = srv.stats().socket;
  assert.equal(s.subscriptions, 1);
  sock.ws.close();
  await sock.closed;
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(srv.stats().socket.subscriptions, 0);
});

test('socket drop, flap and handshake delay knobs', T, async () => {
  const a = openSocket();
  await a.opened;
  const dropped = await (await post('/__socket/drop', '')).json();
  assert.equal(dropped.dropped, 1);
  assert.equal(await a.closed, 1012);

  srv.setKnobs({ socketFlapMs: 100 });
  const b = openSocket();
  await b.opened;
  const t0 = performance.now();
  await b.closed;
  assert.ok(performance.now() - t0 >= 80);

  srv.setKnobs({ socketFlapMs: 0, socketDelayMs: 200 });
  const t1 = performance.now();
  const c = openSocket();
  await c.opened;
  assert.ok(performance.now() - t1 >= 190);
  c.ws.close();
  await c.closed;

  const bad = new WebSocket(base.replace('http', 'ws') + '/elsewhere');
  await new Promise((resolve) => bad.once('error', resolve));
});

// --- static files & shutdown -------------------------------------------------

test('static files with content types and index.html fallback', T, async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'calmfetch-static-'));
  await fs.mkdir(path.join(dir, 'assets'));
  await fs.writeFile(path.join(dir, 'index.html'), '<!doctype html><title>app</title>');
  await fs.writeFile(path.join(dir, 'assets', 'app.js'), 'export {}');
  await fs.writeFile(path.join(dir, 'assets', 'core.wasm'), Buffer.from([0, 97, 115, 109, 1, 0, 0, 0]));
  const s2 = await startServer({ port: 0, staticDir: dir });
  try {
    const js = await fetch(s2.url + '/assets/app.js');
    assert.match(js.headers.get('content-type'), /^text\/javascript/);
    assert.equal(await js.text(), 'export {}');
    const wasm = await fetch(s2.url + '/assets/core.wasm');
    assert.equal(wasm.headers.get('content-type'), 'application/wasm');
    assert.equal((await wasm.arrayBuffer()).byteLength, 8);
    const spa = await fetch(s2.url + '/some/client/route');
    assert.match(spa.headers.get('content-type'), /^text\/html/);
    assert.match(await spa.text(), /<title>app<\/title>/);
    const api = await fetch(s2.url + '/api/games');
    assert.equal(api.headers.get('content-type'), 'application/json');
    await api.arrayBuffer();
    const escape = await fetch(s2.url + '/..%2f..%2f..%2fetc%2fpasswd');
    assert.doesNotMatch(await escape.text(), /root:/);
    assert.equal(s2.stats().requests, 1, 'static files are not counted');
  } finally {
    await s2.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('close() ends in-flight requests and open sockets', T, async () => {
  const s3 = await startServer({ port: 0 });
  const ws = new WebSocket(s3.url.replace('http', 'ws') + '/ws');
  await new Promise((resolve) => ws.once('open', resolve));
  const slow = fetch(s3.url + '/test/echo?delay=5000').then(
    (r) => r.text(),
    (err) => err,
  );
  await new Promise((r) => setTimeout(r, 50));
  const t0 = performance.now();
  await s3.close();
  assert.ok(performance.now() - t0 < 1000);
  assert.ok((await slow) instanceof Error);
  await new Promise((resolve) => (ws.readyState === ws.CLOSED ? resolve() : ws.once('close', resolve)));
});

for (const [how, send] of [
  ['with its body half sent', (req, body) => req.write(body)],
  ['after sending all of its body', (req, body) => req.end(body)],
]) {
  test(`a POST /batch whose client leaves during the latency sleep, ${how}, still finishes`, T, async () => {
    srv.setKnobs({ latencyMs: 300 });
    const { request } = await import('node:http');
    const body = JSON.stringify({ requests: [{ id: '1', method: 'GET', url: '/api/games/1' }] });
    const req = request(`${base}/batch`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) + 1 },
    });
    if (how.startsWith('after')) req.setHeader('Content-Length', Buffer.byteLength(body));
    req.on('error', () => {});
    send(req, body);
    await new Promise((r) => setTimeout(r, 50));
    req.destroy();
    const end = Date.now() + 2000;
    let inFlight = 1;
    while (Date.now() < end && inFlight !== 0) {
      await new Promise((r) => setTimeout(r, 50));
      inFlight = srv.stats().inFlight;
    }
    assert.equal(inFlight, 0, 'the aborted batch is no longer in flight');
  });
}
