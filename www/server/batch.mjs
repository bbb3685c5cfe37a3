// POST /batch: many GETs in one HTTP request.
//
// The batch costs one auth query; every item then goes through the very same
// route runner as a direct GET (routes.run), with at most
// `batchItemConcurrency` items in flight per batch. The answer is either a
// single JSON document, or NDJSON (one line per item, written as soon as the
// item completes) when the client sends `Accept: application/x-ndjson`.
//
// Test-only fault injection is selected with `?fault=` on the POST url.

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

/** Request headers an item inherits from the outer POST unless it sets them. */
const INHERITED_HEADERS = ['authorization', 'cookie'];

/** Thrown by validation; carries the 400 message. */
class BatchError extends Error {}

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

/** Validate the parsed body and return normalised items. */
function parseItems(bodyText, maxItems) {
  let doc;
  try {
    doc = JSON.parse(bodyText);
  } catch (err) {
    throw new BatchError(`request body is not valid JSON (${err.message})`);
  }
  if (doc === null || typeof doc !== 'object' || !Array.isArray(doc.requests)) {
    throw new BatchError('request body must be an object with a "requests" array');
  }
  const list = doc.requests;
  if (list.length > maxItems) {
    throw new BatchError(`batch has ${list.length} items; this server accepts at most ${maxItems}`);
  }
  const seen = new Set();
  return list.map((item, i) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      throw new BatchError(`requests[${i}] must be an object`);
    }
    if (typeof item.id !== 'string') throw new BatchError(`requests[${i}].id must be a string`);
    if (typeof item.url !== 'string' || item.url === '') {
      throw new BatchError(`requests[${i}].url must be a non-empty string`);
    }
    if (seen.has(item.id)) throw new BatchError(`requests[${i}].id "${item.id}" is used twice`);
    seen.add(item.id);
    if (item.method !== undefined && typeof item.method !== 'string') {
      throw new BatchError(`requests[${i}].method must be a string`);
    }
    if (item.headers !== undefined && (item.headers === null || typeof item.headers !== 'object')) {
      throw new BatchError(`requests[${i}].headers must be an object`);
    }
    // Header names are case-insensitive: lower-case them like node does.
    const headers = {};
    for (const [name, value] of Object.entries(item.headers ?? {})) {
      headers[name.toLowerCase()] = String(value);
    }
    return { id: item.id, method: (item.method ?? 'GET').toUpperCase(), url: item.url, headers };
  });
}

/** Turn a route result into a batch response entry. */
function toEntry(id, result) {
  if (result.mode === 'reset') {
    // A connection reset cannot happen inside a batch; report it as 502.
    return { id, status: 502, headers: { 'Content-Type': 'application/json' }, body: { error: 'upstream reset mid-body' } };
  }
  const entry = { id, status: result.status, headers: result.headers };
  if (result.status !== 304) entry.body = result.body;
  return entry;
}

/**
 * Handle an already-counted POST /batch.
 * ctx = { state, routes, url (URL of the POST), headers (lower-case), bodyText }
 */
export async function handleBatch(ctx, res) {
  const { state, routes, url, headers } = ctx;
  const { knobs } = state;

  if (!knobs.batchEnabled) return send(res, 404, { error: 'batching is disabled on this server' });

  const fault = url.searchParams.get('fault');
  if (fault !== null && !FAULTS.has(fault)) {
    return send(res, 400, { error: `unknown fault "${fault}"; known: ${[...FAULTS].join(', ')}` });
  }

  let items;
  try {
    items = parseItems(ctx.bodyText, knobs.batchMaxItems);
  } catch (err) {
    if (err instanceof BatchError) return send(res, 400, { error: err.message });
    throw err;
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

  const wantsNdjson = /application\/x-ndjson/i.test(headers.accept ?? '');
  const ndjson = fault === 'truncated-ndjson' || (wantsNdjson && fault !== 'truncated-json');
  const out = ndjson ? ndjsonWriter(res, fault) : plainWriter(res, fault);
  const firstId = items[0]?.id;

  // Emit one entry, applying the id-level faults.
  const emit = (entry, index) => {
    if (fault === 'missing-id' && entry.id === firstId) return;
    out.add(entry, index);
    if (fault === 'duplicate-id' && entry.id === firstId) out.add(entry, index);
  };

  // Run one item through the shared route runner and count it.
  const runItem = async (item, index) => {
    let parsed;
    try {
      parsed = parseUrl(item.url);
    } catch {
      parsed = null;
    }
    const { stats } = state;
    stats.batchItems++;
    if (parsed) {
      bump(stats.itemsByPath, parsed.pathname);
      const tag = tagOf(parsed, item.headers);
      if (tag !== null && routes.isCounted(parsed.pathname)) bump(stats.byTag, tag);
    }
    const itemHeaders = { ...item.headers };
    for (const name of INHERITED_HEADERS) {
      if (itemHeaders[name] === undefined && headers[name] !== undefined) itemHeaders[name] = headers[name];
    }
    const result = await routes.run(item.method, item.url, itemHeaders);
    emit(toEntry(item.id, result), index);
  };

  // Simple worker pool: `batchItemConcurrency` workers pull items in order.
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      try {
        await runItem(items[index], index);
      } catch (err) {
        if (state.signal.aborted) return; // server is closing
        emit({ id: items[index].id, status: 500, headers: {}, body: { error: String(err?.message ?? err) } }, index);
      }
    }
  };
  const workers = Math.min(knobs.batchItemConcurrency, items.length);
  await Promise.all(Array.from({ length: workers }, worker));
  if (state.signal.aborted) return;

  if (fault === 'extra-id') out.add({ id: '__unexpected__', status: 200, headers: {}, body: { extra: true } }, items.length);
  out.finish();
}

/** Collects entries and writes one JSON document at the end (request order). */
function plainWriter(res, fault) {
  const entries = [];
  return {
    add(entry, index) {
      entries.push({ entry, index, seq: entries.length });
    },
    finish() {
      entries.sort((a, b) => a.index - b.index || a.seq - b.seq);
      let raw = JSON.stringify({ responses: entries.map((e) => e.entry) });
      if (fault === 'truncated-json') raw = raw.slice(0, Math.floor(raw.length / 2));
      send(res, 200, raw);
    },
  };
}

/** Streams one JSON line per entry as soon as it is available. */
function ndjsonWriter(res, fault) {
  let lines = 0;
  let done = false;
  const open = () => !done && !res.destroyed && !res.writableEnded;
  if (open()) {
    res.writeHead(200, { 'Content-Type': 'application/x-ndjson', 'Cache-Control': 'no-store' });
    res.flushHeaders();
  }
  return {
    add(entry) {
      if (!open()) return;
      const line = JSON.stringify(entry) + '\n';
      lines++;
      if (fault === 'truncated-ndjson' && lines === 2) {
        // Half of the second line, then end the response.
        res.end(line.slice(0, Math.floor(line.length / 2)));
        done = true;
        return;
      }
      res.write(line);
    },
    finish() {
      if (open()) res.end();
      done = true;
    },
  };
}
