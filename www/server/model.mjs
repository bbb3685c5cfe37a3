// Backend cost model for the calmfetch reference server: runtime knobs,
// counters, and a simulated database connection pool.
//
// The point of this module is to make the server behave like a real backend
// under load: every request has to get a DB connection for its auth check
// and one per data item, connections are limited, and waiting too long for
// one produces a 503. Benchmarks read the counters to compare strategies.

import { setTimeout as sleepTimer } from 'node:timers/promises';

/** Default values for every runtime knob. */
export const DEFAULT_KNOBS = Object.freeze({
  latencyMs: 0, // added to every counted request (network/app latency)
  dbPool: 50, // number of DB connections
  authQueryMs: 2, // connection hold time of the per-request auth query
  dataQueryMs: 5, // connection hold time of each data item's query
  queueTimeoutMs: 1000, // max wait for a connection before answering 503
  batchItemConcurrency: 4, // data queries run in parallel per batch
  socketDelayMs: 0, // delay before completing a WebSocket handshake
  socketFlapMs: 0, // close every socket this long after it opens (0 = off)
  failRate: 0, // fraction (0..1) of data-route requests answered with 500
  batchEnabled: true, // false => POST /batch answers 404
  batchMaxItems: 100, // larger batches are rejected with 400
});

// Validation rules per knob: [type, min, max].
const KNOB_RULES = {
  latencyMs: ['number', 0, 600_000],
  dbPool: ['integer', 1, 100_000],
  authQueryMs: ['number', 0, 600_000],
  dataQueryMs: ['number', 0, 600_000],
  queueTimeoutMs: ['number', 0, 600_000],
  batchItemConcurrency: ['integer', 1, 10_000],
  socketDelayMs: ['number', 0, 600_000],
  socketFlapMs: ['number', 0, 600_000],
  failRate: ['number', 0, 1],
  batchEnabled: ['boolean'],
  batchMaxItems: ['integer', 1, 1_000_000],
};

/**
 * Check a partial knob object. Returns a cleaned copy or throws an Error whose
 * message is suitable for a 400 answer.
 */
export function validateKnobs(patch) {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
    throw new Error('knobs must be a JSON object');
  }
  const out = {};
  for (const [key, value] of Object.entries(patch)) {
    const rule = KNOB_RULES[key];
    if (!rule) throw new Error(`unknown knob "${key}"`);
    const [type, min, max] = rule;
    if (type === 'boolean') {
      if (typeof value !== 'boolean') throw new Error(`knob "${key}" must be a boolean`);
    } else {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw new Error(`knob "${key}" must be a finite number`);
      }
      if (type === 'integer' && !Number.isInteger(value)) {
        throw new Error(`knob "${key}" must be an integer`);
      }
      if (value < min || value > max) {
        throw new Error(`knob "${key}" must be between ${min} and ${max}`);
      }
    }
    out[key] = value;
  }
  return out;
}

/** A fresh, zeroed counter object. Gauges are passed in so reset keeps them. */
export function emptyStats(gauges = {}) {
  return {
    requests: 0,
    byPath: {},
    batchItems: 0,
    itemsByPath: {},
    dbQueries: 0,
    authQueries: 0,
    dataQueries: 0,
    status503: 0,
    maxDbWait: 0,
    maxConcurrentRequests: gauges.inFlight ?? 0,
    inFlight: gauges.inFlight ?? 0,
    preflights: 0,
    socket: {
      connections: 0, // sockets opened since reset
      open: gauges.openSockets ?? 0, // sockets open right now
      subscriptions: gauges.subscriptions ?? 0, // active (socket, key) pairs
      subscribeMessages: 0,
      peakSubscriptions: gauges.subscriptions ?? 0,
      messagesIn: 0,
      messagesOut: 0,
    },
    byTag: {},
  };
}

/** Increment `map[key]` (plain object used as a counter map). */
export function bump(map, key, by = 1) {
  map[key] = (map[key] ?? 0) + by;
}

/** Thrown when a query waited longer than queueTimeoutMs for a connection. */
export class PoolTimeoutError extends Error {
  constructor(waitedMs) {
    super('db pool exhausted');
    this.name = 'PoolTimeoutError';
    this.waitedMs = waitedMs;
  }
}

/** Abort-aware sleep; resolves immediately for ms <= 0. */
export function sleep(ms, signal) {
  if (!(ms > 0)) return Promise.resolve();
  return sleepTimer(ms, undefined, { signal });
}

/**
 * Simulated DB connection pool with a FIFO wait queue.
 *
 * `state` is the shared server state ({ knobs, stats, signal }); the pool
 * reads knobs live so `dbPool` / timings can change at runtime.
 */
export class DbPool {
  constructor(state) {
    this.state = state;
    this.busy = 0;
    this.queue = []; // waiters: { resolve, reject, timer, started }
  }

  get size() {
    return this.state.knobs.dbPool;
  }

  /**
   * Wait for a free connection (FIFO). Resolves with the time waited in ms;
   * rejects with PoolTimeoutError after queueTimeoutMs (and records that wait).
   */
  acquire() {
    if (this.busy < this.size && this.queue.length === 0) {
      this.busy++;
      return Promise.resolve(0);
    }
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const waiter = { resolve, reject, timer: null, started };
      waiter.timer = setTimeout(() => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        const waited = performance.now() - started;
        if (waited > this.state.stats.maxDbWait) this.state.stats.maxDbWait = Math.round(waited * 10) / 10;
        reject(new PoolTimeoutError(waited));
      }, this.state.knobs.queueTimeoutMs);
      this.queue.push(waiter);
    });
  }

  release() {
    this.busy--;
    this.pump();
  }

  /** Hand free connections to queued waiters; also called after a resize. */
  pump() {
    while (this.busy < this.size && this.queue.length > 0) {
      const waiter = this.queue.shift();
      clearTimeout(waiter.timer);
      this.busy++;
      waiter.resolve(performance.now() - waiter.started);
    }
  }

  /**
   * Run one simulated query of the given kind ('auth' | 'data'): wait for a
   * connection, hold it for the configured time, release it. Throws
   * PoolTimeoutError when the wait exceeded queueTimeoutMs.
   */
  async query(kind) {
    const waited = await this.acquire();
    // Read state.stats after the wait: a reset may have replaced it.
    if (waited > this.state.stats.maxDbWait) this.state.stats.maxDbWait = Math.round(waited * 10) / 10;
    const { stats, knobs, signal } = this.state;
    stats.dbQueries++;
    if (kind === 'auth') stats.authQueries++;
    else stats.dataQueries++;
    try {
      await sleep(kind === 'auth' ? knobs.authQueryMs : knobs.dataQueryMs, signal);
    } finally {
      this.release();
    }
  }

  /** Fail every waiter (used when the server closes). */
  shutdown() {
    for (const waiter of this.queue.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error('server closed'));
    }
  }
}
