// POST /batch: many GETs in one HTTP request, answered by calmfetch/server's
// batchHandler, which replays each item through this server's own request
// listener (server.mjs runs an item like a direct GET, minus the latency and
// the auth query: `batchItemOf(req)`).
//
// This file adds what only the reference server has: the whole batch's one
// auth query, the batch counters (onItem), and test-only fault injection,
// selected with `?fault=` on the POST url, which edits the library's answer
// on its way out.

import { batchHandler } from '../../js/server/index.js';
import { bump, PoolTimeoutError } from './model.mjs';
import { parseUrl, tagOf } from './routes.mjs';

const FAULTS = new Set([
  'missing-id',
  'extra-id',
  'duplicate-id',
  'truncated-json',
  'truncated-ndjson',
  'status-500',
  'garbage',
]);

const EXTRA = { id: '__unexpected__', status: 200, headers: {}, body: { extra: true } };

function send(res, status, body, headers = {}) {
  if (res.destroyed || res.writableEnded) return;
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(raw),
    ...headers,
  });
  res.end(raw);
}

/** The id of the first item of a batch body, if it has one. */
function firstIdOf(bodyText) {
  try {
    return JSON.parse(bodyText)?.requests?.[0]?.id;
  } catch {
    return undefined;
  }
}

/**
 * Make `res` apply an id-level fault to the answer the library writes: the
 * plain answer is one `res.end(json)`, the NDJSON answer one `res.write(line)`
 * per item and a final `res.end()`.
 */
function injectFault(res, fault, firstId) {
  const write = res.write.bind(res);
  const end = res.end.bind(res);
  res.end = (data, ...rest) => {
    if (typeof data === 'string' && data !== '') {
      // The plain answer, in request order.
      if (fault === 'truncated-json') return end(data.slice(0, Math.floor(data.length / 2)), ...rest);
      const doc = JSON.parse(data);
      if (!Array.isArray(doc.responses)) return end(data, ...rest); // a refusal: no ids to edit
      const list = [];
      for (const entry of doc.responses) {
        if (fault === 'missing-id' && entry.id === firstId) continue;
        list.push(entry);
        if (fault === 'duplicate-id' && entry.id === firstId) list.push(entry);
      }
      if (fault === 'extra-id') list.push(EXTRA);
      return end(JSON.stringify({ responses: list }), ...rest);
    }
    if (fault === 'extra-id' && !res.writableEnded) write(JSON.stringify(EXTRA) + '\n');
    return end(data, ...rest);
  };
  let lines = 0;
  res.write = (line, ...rest) => {
    const { id } = JSON.parse(line);
    lines++;
    if (fault === 'truncated-ndjson' && lines === 2) {
      // Half of the second line, then end the answer.
      end(line.slice(0, Math.floor(line.length / 2)));
      return true;
    }
    if (fault === 'missing-id' && id === firstId) return true;
    if (fault === 'duplicate-id' && id === firstId) write(line);
    return write(line, ...rest);
  };
}

/**
 * The reference server's batch endpoint. `listener` is the server's request
 * listener; the library's handler is rebuilt when the knobs it reads change.
 */
export function createBatch(state, routes, listener) {
  let built = null;
  const onItem = (item) => {
    const { stats } = state;
    stats.batchItems++;
    let parsed;
    try {
      parsed = parseUrl(item.url);
    } catch {
      return;
    }
    bump(stats.itemsByPath, parsed.pathname);
    const tag = tagOf(parsed, item.headers);
    if (tag !== null && routes.isCounted(parsed.pathname)) bump(stats.byTag, tag);
  };
  const handlerFor = ({ batchMaxItems, batchItemConcurrency }) => {
    if (built?.maxItems !== batchMaxItems || built.concurrency !== batchItemConcurrency) {
      built = {
        maxItems: batchMaxItems,
        concurrency: batchItemConcurrency,
        handle: batchHandler(listener, {
          maxItems: batchMaxItems,
          concurrency: batchItemConcurrency,
          maxBytes: 1024 * 1024,
          onItem,
        }),
      };
    }
    return built.handle;
  };

  /** Handle an already-counted POST /batch whose body is `bodyText`. */
  return async function handleBatch(req, res, url, bodyText) {
    const { knobs } = state;
    if (!knobs.batchEnabled) return send(res, 404, { error: 'batching is disabled on this server' });

    const fault = url.searchParams.get('fault');
    if (fault !== null && !FAULTS.has(fault)) {
      return send(res, 400, { error: `unknown fault "${fault}"; known: ${[...FAULTS].join(', ')}` });
    }
    if (fault === 'status-500') return send(res, 500, { error: 'injected batch failure' });
    if (fault === 'garbage') return send(res, 200, '<html>oops</html>', { 'Content-Type': 'text/html' });

    // One auth query for the whole batch.
    try {
      await state.pool.query('auth');
    } catch (err) {
      if (!(err instanceof PoolTimeoutError)) throw err;
      state.stats.status503++;
      return send(res, 503, { error: 'db pool exhausted' }, { 'Retry-After': '1' });
    }

    if (fault === 'truncated-ndjson') req.headers.accept = 'application/x-ndjson';
    if (fault === 'truncated-json') req.headers.accept = 'application/json';
    if (fault !== null) injectFault(res, fault, firstIdOf(bodyText));
    req.body = bodyText;
    await handlerFor(knobs)(req, res);
  };
}
