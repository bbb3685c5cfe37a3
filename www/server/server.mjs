// calmfetch reference server: HTTP entry point.
//
//   const srv = await startServer({ port: 0, staticDir: 'www/dist', knobs: { latencyMs: 20 } });
//   srv.url            // "http://127.0.0.1:PORT"
//   srv.stats()        // counters snapshot (same JSON as GET /__stats)
//   srv.reset()        // zero counters (same as POST /__reset)
//   srv.setKnobs({..}) // change knobs (same as POST /__knobs)
//   await srv.close()  // stop listening, drop every connection and socket
//
// This file wires together CORS, control routes (/__*), counting + the
// per-request auth query, the route runner (routes.mjs), POST /batch
// (batch.mjs), the WebSocket hub (socket.mjs) and static files. It only ever
// listens on 127.0.0.1.

import http from 'node:http';
import fs from 'node:fs/promises';
import path from 'node:path';
import { DbPool, DEFAULT_KNOBS, PoolTimeoutError, bump, emptyStats, sleep, validateKnobs } from './model.mjs';
import { createRoutes, jsonResult, parseUrl, tagOf } from './routes.mjs';
import { batchItemOf } from '../../js/server/index.js';
import { createBatch } from './batch.mjs';
import { createSocketHub } from './socket.mjs';

export { DEFAULT_KNOBS };

const HOST = '127.0.0.1';
const MAX_BODY_BYTES = 1024 * 1024;

const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.txt': 'text/plain; charset=utf-8',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
};

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// ---------------------------------------------------------------------------
// Small HTTP helpers
// ---------------------------------------------------------------------------

/** CORS headers carried by every response. */
function applyCors(req, res) {
  const origin = req.headers.origin;
  res.setHeader('Access-Control-Allow-Origin', origin || '*');
  if (origin) {
    res.setHeader('Access-Control-Allow-Credentials', 'true');
    res.setHeader('Vary', 'Origin');
  }
  res.setHeader('Access-Control-Expose-Headers', 'ETag, Retry-After, Cache-Control, Content-Type');
}

function sendJson(res, status, body, headers = {}) {
  writeResult(res, jsonResult(status, body, headers));
}

/**
 * Write a route result ({ status, headers, raw, mode }) to the response,
 * including the two misbehaving test modes (reset / trickle).
 */
function writeResult(res, result, signal) {
  if (res.destroyed || res.writableEnded) return;
  if (result.status === 304) {
    res.writeHead(304, result.headers);
    res.end();
    return;
  }
  const buf = Buffer.from(result.raw ?? '');
  res.writeHead(result.status, { ...result.headers, 'Content-Length': buf.length });

  if (result.mode === 'reset') {
    // Half the body, then kill the TCP connection: the client sees a
    // response that ends before Content-Length bytes arrived.
    res.write(buf.subarray(0, Math.floor(buf.length / 2)), () => {
      setImmediate(() => res.socket?.destroy());
    });
    return;
  }

  if (result.mode === 'trickle' && result.trickleMs > 0 && buf.length > 0) {
    // One byte every trickleMs; stops if the client goes away or we close.
    let offset = 0;
    res.flushHeaders();
    const timer = setInterval(() => {
      if (res.destroyed) return stop();
      res.write(buf.subarray(offset, offset + 1));
      offset++;
      if (offset >= buf.length) {
        stop();
        res.end();
      }
    }, result.trickleMs);
    const stop = () => {
      clearInterval(timer);
      signal?.removeEventListener('abort', stop);
    };
    res.on('close', stop);
    signal?.addEventListener('abort', stop);
    return;
  }

  res.end(buf);
}

/** Read a request body as UTF-8 text, refusing more than MAX_BODY_BYTES. */
function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, `request body larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
    // A client that went away (say, during the latency sleep) never sends
    // 'end': without this the handler would wait, in flight, for good.
    const gone = () => reject(new HttpError(499, 'the client closed the request before its body arrived'));
    // (A body that fully arrived before the client left still never ends:
    // `complete` is true but `readableEnded` is not.)
    req.on('close', () => {
      if (!req.readableEnded) gone();
    });
    if ((req.destroyed || req.readableAborted) && !req.readableEnded) gone();
  });
}

async function readJsonBody(req) {
  const text = await readBody(req);
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `request body is not valid JSON (${err.message})`);
  }
}

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => {
      server.off('error', reject);
      resolve(server.address().port);
    });
  });
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

/**
 * Start the reference server.
 * @param {object} [opts]
 * @param {number} [opts.port=0]      TCP port on 127.0.0.1 (0 = any free port)
 * @param {string} [opts.staticDir]   directory of a built app to serve
 * @param {object} [opts.knobs]       initial knob values (see DEFAULT_KNOBS)
 */
export async function startServer(opts = {}) {
  const initialKnobs = {};
  for (const key of Object.keys(DEFAULT_KNOBS)) {
    if (opts[key] !== undefined) initialKnobs[key] = opts[key];
  }
  Object.assign(initialKnobs, opts.knobs ?? {});

  const abort = new AbortController();
  const state = {
    knobs: { ...DEFAULT_KNOBS, ...validateKnobs(initialKnobs) },
    stats: emptyStats(),
    signal: abort.signal,
    versions: new Map(), // path -> version, bumped by POST /__bump
    echoCounts: new Map(), // tag -> number of /test/echo requests
  };
  state.pool = new DbPool(state);
  const routes = createRoutes(state);
  const hub = createSocketHub(state, routes);
  const handleBatch = createBatch(state, routes, listener);
  const staticRoot = opts.staticDir ? path.resolve(opts.staticDir) : null;

  // --- public operations (also reachable over HTTP) ---

  function stats() {
    const snapshot = structuredClone(state.stats);
    snapshot.db = { size: state.knobs.dbPool, busy: state.pool.busy, queued: state.pool.queue.length };
    return snapshot;
  }

  function reset() {
    state.stats = emptyStats({ inFlight: state.stats.inFlight, ...hub.gauges() });
    state.echoCounts.clear();
  }

  function setKnobs(patch) {
    Object.assign(state.knobs, validateKnobs(patch));
    state.pool.pump(); // a bigger pool may unblock waiters right away
    return { ...state.knobs };
  }

  function bumpVersion(p) {
    const version = (state.versions.get(p) ?? 0) + 1;
    state.versions.set(p, version);
    hub.notify(p);
    return version;
  }

  // --- request handling ---

  /** /__* control routes: never counted, no DB. */
  async function control(req, res, url) {
    const route = `${req.method} ${url.pathname}`;
    switch (route) {
      case 'GET /__stats':
        return sendJson(res, 200, stats(), { 'Cache-Control': 'no-store' });
      case 'POST /__reset':
        reset();
        return sendJson(res, 200, { ok: true });
      case 'GET /__knobs':
        return sendJson(res, 200, { ...state.knobs }, { 'Cache-Control': 'no-store' });
      case 'POST /__knobs': {
        const patch = await readJsonBody(req);
        try {
          return sendJson(res, 200, setKnobs(patch));
        } catch (err) {
          throw new HttpError(400, err.message);
        }
      }
      case 'POST /__bump': {
        const p = url.searchParams.get('path');
        if (!p || !p.startsWith('/')) throw new HttpError(400, 'POST /__bump needs ?path=/some/path');
        const pathname = parseUrl(p).pathname;
        const version = bumpVersion(pathname);
        // ?delay=ms answers that much later (tests watch a write in flight); at most 5 s.
        const delay = Math.min(Math.max(Number(url.searchParams.get('delay')) || 0, 0), 5000);
        if (delay > 0) await sleep(delay, state.signal);
        return sendJson(res, 200, { path: pathname, version });
      }
      case 'POST /__socket/drop':
        return sendJson(res, 200, { dropped: hub.dropAll() });
      case 'POST /__socket/send':
        return sendJson(res, 200, { sent: hub.sendRaw(await readBody(req)) });
      default:
        throw new HttpError(404, `no control route ${route}`);
    }
  }

  /** Counted requests: /api/*, /test/* and POST /batch. */
  async function counted(req, res, url) {
    const s = state.stats;
    s.requests++;
    bump(s.byPath, url.pathname);
    const tag = tagOf(url, req.headers);
    if (tag !== null) bump(s.byTag, tag);
    s.inFlight++;
    if (s.inFlight > s.maxConcurrentRequests) s.maxConcurrentRequests = s.inFlight;
    try {
      await sleep(state.knobs.latencyMs, state.signal);

      if (url.pathname === '/batch') {
        if (req.method !== 'POST') throw new HttpError(405, 'use POST for /batch');
        const bodyText = await readBody(req);
        await handleBatch(req, res, url, bodyText);
        return;
      }

      try {
        await state.pool.query('auth');
      } catch (err) {
        if (!(err instanceof PoolTimeoutError)) throw err;
        state.stats.status503++;
        return sendJson(res, 503, { error: 'db pool exhausted' }, { 'Retry-After': '1' });
      }
      const result = await routes.run(req.method, req.url, req.headers);
      writeResult(res, result, state.signal);
    } finally {
      // Decrement whichever stats object is current (reset may have swapped it).
      state.stats.inFlight = Math.max(0, state.stats.inFlight - 1);
    }
  }

  /** Static files of a built app, with index.html fallback. */
  async function serveStatic(req, res, url) {
    if (!staticRoot) throw new HttpError(404, `not found: ${url.pathname}`);
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'static files are GET only');
    let decoded;
    try {
      decoded = decodeURIComponent(url.pathname);
    } catch {
      throw new HttpError(400, 'bad path encoding');
    }
    let file = path.resolve(staticRoot, '.' + path.posix.normalize(decoded));
    if (file !== staticRoot && !file.startsWith(staticRoot + path.sep)) {
      throw new HttpError(403, 'path escapes the static directory');
    }
    let info = await fs.stat(file).catch(() => null);
    if (info?.isDirectory()) {
      file = path.join(file, 'index.html');
      info = await fs.stat(file).catch(() => null);
    }
    if (!info?.isFile()) {
      // SPA fallback: unknown paths get the app shell.
      file = path.join(staticRoot, 'index.html');
      info = await fs.stat(file).catch(() => null);
      if (!info?.isFile()) throw new HttpError(404, `not found: ${url.pathname}`);
    }
    const data = await fs.readFile(file);
    if (res.destroyed) return;
    const type = CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
    res.writeHead(200, { 'Content-Type': type, 'Content-Length': data.length, 'Cache-Control': 'no-cache' });
    res.end(req.method === 'HEAD' ? undefined : data);
  }

  /**
   * One item of a POST /batch, replayed here by calmfetch/server: the same
   * route runner as a direct GET, but not counted as a request (the batch
   * counts its items), with no latency and no auth query of its own (the
   * batch ran one). A connection reset cannot happen inside a batch: 502.
   */
  async function batchItem(req, res) {
    const result = await routes.run(req.method, req.url, req.headers);
    if (result.mode === 'reset') return sendJson(res, 502, { error: 'upstream reset mid-body' });
    writeResult(res, { ...result, mode: undefined });
  }

  async function handle(req, res) {
    if (batchItemOf(req) !== undefined) return batchItem(req, res);
    applyCors(req, res);

    if (req.method === 'OPTIONS') {
      state.stats.preflights++;
      res.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
      const asked = req.headers['access-control-request-headers'];
      if (asked) res.setHeader('Access-Control-Allow-Headers', asked);
      res.writeHead(204, { 'Content-Length': 0 });
      res.end();
      return;
    }

    let url;
    try {
      url = parseUrl(req.url);
    } catch {
      throw new HttpError(400, 'bad request url');
    }

    if (url.pathname.startsWith('/__')) return control(req, res, url);
    if (url.pathname === '/batch' || routes.isCounted(url.pathname)) return counted(req, res, url);
    if (url.pathname === '/test/count') {
      // Not counted and no DB: answers from the counters directly.
      return writeResult(res, await routes.run(req.method, req.url, req.headers));
    }
    return serveStatic(req, res, url);
  }

  function listener(req, res) {
    handle(req, res).catch((err) => {
      if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
      }
      if (err instanceof HttpError) return sendJson(res, err.status, { error: err.message });
      if (state.signal.aborted) return res.destroy();
      console.error('[calmfetch server] unexpected error:', err);
      sendJson(res, 500, { error: 'internal server error' });
    });
  }

  const server = http.createServer(listener);
  server.on('upgrade', hub.handleUpgrade);
  server.on('clientError', (err, socket) => socket.destroy());

  const port = await listen(server, opts.port ?? 0);
  const url = `http://${HOST}:${port}`;

  let closing = null;
  function close() {
    closing ??= new Promise((resolve) => {
      abort.abort(); // cancels latency/delay/query sleeps and trickles
      hub.close();
      state.pool.shutdown();
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closing;
  }

  return { url, port, close, stats, reset, setKnobs };
}
