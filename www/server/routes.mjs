// Route handlers of the calmfetch reference server.
//
// Every data and test route is a plain async function of
// (method, url, headers) -> { status, headers, body, raw, mode }, so that a
// direct HTTP GET and an item inside POST /batch run exactly the same code
// (same body, same ETag, same data query). The HTTP layer (server.mjs) only
// adds counting, latency, the auth query and the actual socket writes.

import { createHash } from 'node:crypto';
import { PoolTimeoutError, sleep } from './model.mjs';

export const GAME_COUNT = 20;
const MAX_DELAY_MS = 60_000;

// ---------------------------------------------------------------------------
// Deterministic data helpers
// ---------------------------------------------------------------------------

/** 32-bit FNV-1a hash of a string: cheap deterministic "randomness". */
function fnv(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Deterministic integer in [0, n) derived from the given parts. */
function pick(n, ...parts) {
  return fnv(parts.join(':')) % n;
}

const ADJECTIVES = ['Crimson', 'Silent', 'Rapid', 'Golden', 'Hidden', 'Frozen', 'Electric'];
const NOUNS = ['Falcons', 'Rivers', 'Comets', 'Wolves', 'Towers', 'Otters', 'Knights', 'Pilots', 'Meteors'];
const PEOPLE = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy'];
const PHRASES = ['nice shot', 'what a game', 'go go go', 'unbelievable', 'ref?!', 'gg', 'that was close'];
const STATUSES = ['scheduled', 'live', 'final'];

function gameName(id) {
  return `${ADJECTIVES[id % ADJECTIVES.length]} ${NOUNS[(id * 5) % NOUNS.length]}`;
}

/** Player count of a game; grows with the version of /api/games. */
function gamePlayers(id, listVersion) {
  return 2 + pick(9, 'players', id) + listVersion;
}

/** Weak ETag of a payload string. */
export function weakEtag(raw) {
  return `W/"${createHash('sha1').update(raw).digest('hex').slice(0, 16)}"`;
}

/** Weak comparison of an If-None-Match header against an ETag. */
export function etagMatches(ifNoneMatch, etag) {
  if (!ifNoneMatch || !etag) return false;
  const strip = (tag) => tag.trim().replace(/^W\//, '');
  const want = strip(etag);
  return String(ifNoneMatch)
    .split(',')
    .some((candidate) => candidate.trim() === '*' || strip(candidate) === want);
}

/** Integer query parameter clamped to [min, max]; `fallback` when absent/bad. */
function intParam(url, name, fallback, min, max) {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n)) return fallback;
  return Math.min(max, Math.max(min, Math.round(n)));
}

/** The test tag of a request: `?tag=` wins over the `X-Test-Tag` header. */
export function tagOf(url, headers) {
  const fromQuery = url.searchParams.get('tag');
  if (fromQuery !== null && fromQuery !== '') return fromQuery;
  const fromHeader = headers['x-test-tag'];
  return fromHeader ? String(fromHeader) : null;
}

/** Parse a request-relative url (or absolute one; only path+query matter). */
export function parseUrl(raw) {
  return new URL(raw, 'http://calmfetch.invalid');
}

// ---------------------------------------------------------------------------
// Route table
// ---------------------------------------------------------------------------
//
// Each entry builds the response content *without* touching the DB; the
// runner below then decides between 304, injected failure, or running the
// data query. Flags:
//   data:    true for /api/* routes (subject to failRate, socket-subscribable)
//   noDb:    route answers without a data query (/test/count)
//   counted: false for routes that must not appear in the counters

function buildRoutes() {
  /** Resolve :id of a game route or produce a 404 result. */
  const gameId = (params) => {
    const id = Number(params[0]);
    return Number.isInteger(id) && id >= 1 && id <= GAME_COUNT ? id : null;
  };
  const noGame = (params) => ({ status: 404, body: { error: `no game ${params[0]}` } });

  return [
    {
      pattern: /^\/api\/games$/,
      data: true,
      build: ({ version }) => ({
        body: Array.from({ length: GAME_COUNT }, (_, i) => ({
          id: i + 1,
          name: gameName(i + 1),
          players: gamePlayers(i + 1, version),
        })),
      }),
    },
    {
      pattern: /^\/api\/games\/([^/]+)$/,
      data: true,
      build: ({ params, version, versionOf }) => {
        const id = gameId(params);
        if (id === null) return noGame(params);
        return {
          body: {
            id,
            name: gameName(id),
            players: gamePlayers(id, versionOf('/api/games')),
            status: STATUSES[(pick(3, 'status', id) + version) % 3],
            score: { home: pick(4, 'home', id) + version, away: pick(4, 'away', id) + (version >> 1) },
            version,
          },
        };
      },
    },
    {
      pattern: /^\/api\/games\/([^/]+)\/players$/,
      data: true,
      build: ({ params, version, versionOf }) => {
        const id = gameId(params);
        if (id === null) return noGame(params);
        const count = gamePlayers(id, versionOf('/api/games'));
        return {
          body: {
            gameId: id,
            version,
            players: Array.from({ length: count }, (_, i) => ({
              id: id * 100 + i,
              name: PEOPLE[(id + i) % PEOPLE.length],
              score: pick(50, 'score', id, i) + version,
            })),
          },
        };
      },
    },
    {
      pattern: /^\/api\/games\/([^/]+)\/odds$/,
      data: true,
      build: ({ params, version }) => {
        const id = gameId(params);
        if (id === null) return noGame(params);
        const odd = (side) => Math.round((1.2 + pick(300, side, id, version) / 100) * 100) / 100;
        return { body: { gameId: id, version, home: odd('home'), draw: odd('draw'), away: odd('away') } };
      },
    },
    {
      pattern: /^\/api\/games\/([^/]+)\/chat$/,
      data: true,
      build: ({ params, version }) => {
        const id = gameId(params);
        if (id === null) return noGame(params);
        // A sliding window of the 5 latest messages; each bump adds one.
        const messages = Array.from({ length: 5 }, (_, i) => {
          const seq = version + i + 1;
          return {
            id: `${id}-${seq}`,
            from: PEOPLE[pick(PEOPLE.length, 'from', id, seq)],
            text: PHRASES[pick(PHRASES.length, 'text', id, seq)],
          };
        });
        return { body: { gameId: id, version, messages } };
      },
    },
    {
      pattern: /^\/api\/user$/,
      data: true,
      build: ({ headers, version }) => {
        const auth = headers.authorization;
        let user = null;
        if (auth) {
          const m = /^Bearer\s+(.+)$/i.exec(String(auth));
          user = m ? m[1].trim() : String(auth);
        }
        return { body: { user, version } };
      },
    },
    {
      pattern: /^\/api\/notifications$/,
      data: true,
      build: ({ version }) => {
        const items = Array.from({ length: 4 + (version % 4) }, (_, i) => ({
          id: i + 1,
          text: `${PEOPLE[pick(PEOPLE.length, 'n', i)]} ${PHRASES[pick(PHRASES.length, 'nt', i, version)]}`,
          read: i >= 2,
        }));
        return { body: { version, unread: items.filter((n) => !n.read).length, items } };
      },
    },
    {
      pattern: /^\/api\/bills$/,
      data: true,
      build: ({ version }) => {
        const bills = Array.from({ length: 3 }, (_, i) => ({
          id: `bill-${i + 1}`,
          amount: 10 + pick(90, 'bill', i) + version,
          due: `2030-0${i + 1}-15`,
          paid: i === 0,
        }));
        return { body: { version, bills, total: bills.reduce((s, b) => s + b.amount, 0) } };
      },
    },
    {
      pattern: /^\/api\/validate$/,
      data: true,
      build: ({ url, version }) => {
        const value = url.searchParams.get('value') ?? '';
        return { body: { version, value, valid: value.length >= 3 } };
      },
    },
    {
      pattern: /^\/api\/activity$/,
      data: true,
      build: ({ version }) => ({
        body: {
          version,
          events: Array.from({ length: 5 }, (_, i) => ({
            id: version * 5 + i + 1,
            who: PEOPLE[pick(PEOPLE.length, 'act', version, i)],
            what: ['joined', 'scored', 'left', 'commented'][pick(4, 'what', version, i)],
            game: 1 + pick(GAME_COUNT, 'g', version, i),
          })),
        },
      }),
    },
    {
      pattern: /^\/api\/leaderboard$/,
      data: true,
      build: ({ version }) => ({
        body: {
          version,
          entries: PEOPLE.map((name, i) => ({ name, points: 1000 - i * 37 + pick(30, 'lb', name, version) }))
            .sort((a, b) => b.points - a.points)
            .map((entry, i) => ({ rank: i + 1, ...entry })),
        },
      }),
    },
    {
      pattern: /^\/test\/echo$/,
      build: ({ url, headers, state }) => {
        // n counts /test/echo requests per tag (including this one).
        const tag = tagOf(url, headers) ?? '';
        const n = (state.echoCounts.get(tag) ?? 0) + 1;
        state.echoCounts.set(tag, n);

        const out = { headers: {} };
        const status = intParam(url, 'status', 200, 200, 599);
        if (status !== 200) {
          out.status = status;
          out.body = { error: `status ${status}` };
        } else {
          out.body = {
            path: url.pathname,
            query: Object.fromEntries(url.searchParams),
            auth: headers.authorization ?? null,
            n,
          };
        }
        const etag = url.searchParams.get('etag');
        if (etag) out.headers.ETag = `"${etag}"`;
        if (url.searchParams.get('cache') === 'no-store') out.headers['Cache-Control'] = 'no-store';
        const retryAfter = url.searchParams.get('retryAfter');
        if (retryAfter) out.headers['Retry-After'] = retryAfter;
        return out;
      },
    },
    {
      pattern: /^\/test\/text$/,
      build: () => ({ text: 'not json at all', headers: { 'Content-Type': 'text/plain; charset=utf-8' } }),
    },
    {
      pattern: /^\/test\/reset-mid-body$/,
      build: () => ({
        mode: 'reset',
        body: { message: 'this body is cut off half way through', padding: 'x'.repeat(64) },
      }),
    },
    {
      pattern: /^\/test\/trickle$/,
      build: ({ url }) => ({
        mode: 'trickle',
        trickleMs: intParam(url, 'ms', 50, 0, 10_000),
        body: { trickle: true, data: 'slow bytes' },
      }),
    },
    {
      pattern: /^\/test\/count$/,
      noDb: true,
      counted: false,
      build: ({ url, headers, state }) => {
        const tag = tagOf(url, headers);
        return { body: { tag, count: tag === null ? 0 : (state.stats.byTag[tag] ?? 0) } };
      },
    },
  ];
}

// ---------------------------------------------------------------------------
// Runner
// ---------------------------------------------------------------------------

/** Build a JSON result object. */
export function jsonResult(status, body, headers = {}) {
  const raw = JSON.stringify(body);
  return { status, headers: { 'Content-Type': 'application/json', ...headers }, body, raw };
}

/**
 * Create the route layer bound to the shared server state
 * ({ knobs, stats, signal, pool, versions, echoCounts }).
 */
export function createRoutes(state) {
  const table = buildRoutes();
  const versionOf = (path) => state.versions.get(path) ?? 0;

  /** Find the route for a pathname: { route, params } or null. */
  function match(pathname) {
    for (const route of table) {
      const m = route.pattern.exec(pathname);
      if (!m) continue;
      const params = m.slice(1).map((p) => {
        try {
          return decodeURIComponent(p);
        } catch {
          return p; // malformed %-escape: keep it raw (the route will 404)
        }
      });
      return { route, params };
    }
    return null;
  }

  /** Build the full (not yet DB-charged) result of a matched route. */
  function prepare(found, url, headers) {
    const out = found.route.build({
      url,
      params: found.params,
      headers,
      state,
      version: versionOf(url.pathname),
      versionOf,
    });
    const status = out.status ?? 200;
    const extra = out.headers ?? {};
    const raw = out.text ?? JSON.stringify(out.body);
    const result = {
      status,
      headers: { 'Content-Type': 'application/json', ...extra },
      body: out.text ?? out.body,
      raw,
      mode: out.mode,
      trickleMs: out.trickleMs,
    };
    if (status >= 200 && status < 300 && !extra.ETag) result.headers.ETag = weakEtag(raw);
    return result;
  }

  /**
   * Run one GET against the route table, charging a data query. Used for
   * direct requests (after the auth query) and for every batch item.
   * `headers` must have lower-case names.
   */
  async function run(method, rawUrl, headers) {
    let url;
    try {
      url = parseUrl(rawUrl);
    } catch {
      return jsonResult(400, { error: `bad url ${JSON.stringify(rawUrl)}` });
    }
    const found = match(url.pathname);
    if (!found) return jsonResult(404, { error: `no route for ${url.pathname}` });
    if (method !== 'GET') {
      return jsonResult(405, { error: `method ${method} not allowed for ${url.pathname}` }, { Allow: 'GET' });
    }

    const result = prepare(found, url, headers);

    // Conditional request: answer 304 after the auth check, no data query.
    if (result.status === 200 && etagMatches(headers['if-none-match'], result.headers.ETag)) {
      const notModified = { ETag: result.headers.ETag };
      if (result.headers['Cache-Control']) notModified['Cache-Control'] = result.headers['Cache-Control'];
      return { status: 304, headers: notModified, body: undefined, raw: '' };
    }

    if (found.route.data && state.knobs.failRate > 0 && Math.random() < state.knobs.failRate) {
      return jsonResult(500, { error: 'injected failure' });
    }

    if (!found.route.noDb) {
      try {
        await state.pool.query('data');
      } catch (err) {
        if (!(err instanceof PoolTimeoutError)) throw err;
        state.stats.status503++;
        return jsonResult(503, { error: 'db pool exhausted' }, { 'Retry-After': '1' });
      }
    }

    await sleep(intParam(url, 'delay', 0, 0, MAX_DELAY_MS), state.signal);
    return result;
  }

  /**
   * Current body of a subscribable key (an /api/* GET path) without any DB
   * cost; used by the WebSocket push. Returns { ok, body } or { ok:false, message }.
   */
  function snapshot(key, headers = {}) {
    let url;
    try {
      url = parseUrl(key);
    } catch {
      return { ok: false, message: 'key is not a valid path' };
    }
    const found = match(url.pathname);
    if (!found || !found.route.data) return { ok: false, message: `unknown key ${key}` };
    const result = prepare(found, url, headers);
    if (result.status !== 200) return { ok: false, message: `unknown key ${key}` };
    return { ok: true, body: result.body };
  }

  /**
   * Whether a request to this pathname is a counted, DB-charged request:
   * every /api/* and /test/* path (known or not) except /test/count.
   */
  function isCounted(pathname) {
    const found = match(pathname);
    if (found) return found.route.counted !== false;
    return pathname.startsWith('/api/') || pathname.startsWith('/test/');
  }

  return { match, run, snapshot, isCounted };
}
