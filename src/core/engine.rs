//! The request engine: keys and their cache entries, dedup, abort, timeout.
//!
//! [`Core`] is a deterministic state machine in the manner of quinn-proto. It
//! never reads a clock and never does I/O, and it holds no string and no
//! body: keys, origins and identities are ids the shell interned, and every
//! body stays in JavaScript. Its methods are of four kinds:
//!
//! - getters: [`Core::state`], [`Core::stats`], [`Core::key_info`];
//! - inputs: [`Core::get`], [`Core::abort`], [`Core::fetch_done`],
//!   [`Core::handle_timeout`] and the rest, each taking `now` in ms;
//! - mutators: [`Core::invalidate`], [`Core::clear`], [`Core::watch`];
//! - outputs: [`Core::poll_action`] (what to do now) and
//!   [`Core::poll_timeout`] (when to call `handle_timeout` next).
//!
//! After any input or mutator the shell drains `poll_action` until it returns
//! `None`, then arms its one timer at `poll_timeout`.

use alloc::vec::Vec;

#[cfg(not(target_arch = "wasm32"))]
use super::action::Action;
use super::action::{op, put, put_fail, put_plain, Fail, Src};
use super::slab::{remove_id, swap_take, take, Must, Slab};
use super::timers::{Kind, Timer, Timers};

mod batching;
mod circuit;
mod polling;
mod prefetch;
mod retry;
mod socket;
mod writes;
pub use batching::BatchConfig;
pub use circuit::{CircuitConfig, MAX_ORIGINS};
pub use polling::PollConfig;
pub use prefetch::PrefetchConfig;
pub use retry::RetryConfig;
pub use socket::{SocketConfig, SocketState};

/// Client-wide settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Bound on cache entries.
    pub max_entries: usize,
    /// TTL when a request does not give one.
    pub default_ttl_ms: u64,
    /// Abort a request after this long; `None` never.
    pub timeout_ms: Option<u64>,
    /// Batching to a `/batch` endpoint; `None` sends every request alone.
    pub batch: Option<BatchConfig>,
    /// Polling behaviour.
    pub poll: PollConfig,
    /// Seed of the jitter generator (the shell passes a random one).
    pub seed: u64,
    /// The realtime socket; `None` serves everything over HTTP.
    pub socket: Option<SocketConfig>,
    /// Prefetch behaviour.
    pub prefetch: PrefetchConfig,
    /// The circuit breaker per origin; `None` never stops sending.
    pub circuit: Option<CircuitConfig>,
    /// Bodies longer than this (bytes of text) are handed to their callers
    /// and shown to listeners but not kept.
    pub max_body_bytes: u64,
    /// Bound on the bytes of all the bodies kept.
    pub max_bytes: u64,
    /// Retries of failed reads. The default here is none (the native tests
    /// count single failures); the package's shell passes its own default.
    pub retry: RetryConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_entries: 500,
            default_ttl_ms: 2_000,
            timeout_ms: Some(30_000),
            batch: None,
            poll: PollConfig::default(),
            seed: 0x9E37_79B9_7F4A_7C15,
            socket: None,
            prefetch: PrefetchConfig::default(),
            circuit: Some(CircuitConfig::default()),
            max_body_bytes: 1 << 20,
            max_bytes: 16 << 20,
            retry: RetryConfig::default(),
        }
    }
}

/// How the shell reports one answer (a plain response or a batch item).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Answer {
    /// The HTTP status (0 with [`Answer::NETWORK`]).
    pub status: u16,
    /// The body's size in bytes of text.
    pub size: u64,
    /// [`Answer::NO_STORE`] and friends.
    pub flags: u32,
    /// `Retry-After`, in ms.
    pub retry_after: Option<u64>,
}

impl Answer {
    /// `Cache-Control: no-store`.
    pub const NO_STORE: u32 = 1;
    /// The answer has an `ETag`.
    pub const ETAG: u32 = 2;
    /// A 2xx body that is not JSON.
    pub const NOT_JSON: u32 = 4;
    /// No answer: the network failed.
    pub const NETWORK: u32 = 8;

    /// A 200 with a JSON body of `size` bytes.
    pub fn ok(size: u64) -> Self {
        Answer {
            status: 200,
            size,
            ..Answer::default()
        }
    }

    /// No answer: the network failed.
    pub fn network() -> Self {
        Answer {
            flags: Answer::NETWORK,
            ..Answer::default()
        }
    }

    fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }
}

/// Counters since the client was made, in the order the shell reads them.
/// Only `u64`s, `repr(C)`: `cf_stats` reads it as an array.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Stats {
    /// `get` calls.
    pub requested: u64,
    /// Network requests started.
    pub network_requests: u64,
    /// Calls that joined a request already in flight.
    pub dedup_hits: u64,
    /// Calls answered from a fresh cache entry.
    pub cache_hits: u64,
    /// Network requests that failed.
    pub errors: u64,
    /// Network requests that timed out.
    pub timeouts: u64,
    /// Callers whose signal aborted them.
    pub aborted_calls: u64,
    /// Network requests aborted because every caller left.
    pub cancelled_requests: u64,
    /// Entries evicted to respect the bounds.
    pub evictions: u64,
    /// Batch requests sent.
    pub batches_sent: u64,
    /// Items that went out inside a batch.
    pub batched_items: u64,
    /// Items re-sent alone because the server has no batch endpoint.
    pub batch_fallbacks: u64,
    /// Answers ignored: unknown, duplicate or malformed ids.
    pub batch_ignored_answers: u64,
    /// Callers rejected because a batch answer broke the protocol.
    pub batch_protocol_errors: u64,
    /// Entries refreshed by a 304 without a body.
    pub revalidated: u64,
    /// Poll ticks.
    pub poll_ticks: u64,
    /// Socket messages received.
    pub socket_messages: u64,
    /// Malformed socket messages.
    pub socket_malformed: u64,
    /// Socket subscriptions sent.
    pub socket_subscribes: u64,
    /// Times the socket closed or failed.
    pub socket_drops: u64,
    /// Reconnect attempts.
    pub socket_reconnects: u64,
    /// Times the socket was not open within the connect timeout.
    pub socket_timeouts: u64,
    /// Prefetches that completed.
    pub prefetched: u64,
    /// Prefetches that failed.
    pub prefetch_failures: u64,
    /// Prefetches skipped.
    pub prefetch_skipped: u64,
    /// Live keys that rode along in a batch while the socket was not open.
    pub socket_riders: u64,
    /// Times a circuit opened.
    pub circuit_opens: u64,
    /// Calls answered with kept (possibly stale) data while a circuit was open.
    pub circuit_stale: u64,
    /// Calls refused while a circuit was open.
    pub circuit_refused: u64,
    /// Failed reads sent again after their backoff.
    pub retries: u64,
    /// Entries in the cache now.
    pub cache_entries: u64,
    /// Network requests in flight now.
    pub in_flight: u64,
}

/// What the core knows of a key: who and where, and its cache entry.
#[derive(Debug, Default)]
pub struct KeyRec {
    /// The origin id.
    pub origin: u32,
    /// The identity id.
    pub who: u32,
    /// The size of its item in a batch body.
    pub item_bytes: u64,
    /// The entry keeps data (the shell has `bodies[key]`).
    pub data: bool,
    /// The data is only shown to listeners, never kept or served.
    pub shown: bool,
    /// The entry shows an error.
    pub error: bool,
    /// Marked stale by `invalidate` or a socket drop.
    pub invalidated: bool,
    /// The kept data has an ETag.
    pub etag: bool,
    /// When the data arrived.
    pub updated_at: Option<u64>,
    /// How long the data stays fresh.
    pub ttl_ms: u64,
    /// Bytes kept.
    pub bytes: u64,
    /// Bumped on every change of the entry, flight state or error.
    pub version: u32,
    tick: u64,
    flight: u32,
    /// Flights of the key that `clear` made unjoinable, still out.
    orphans: u32,
    watchers: u32,
    group: u32,
    live: bool,
    intents: u32,
    queued: bool,
}

impl KeyRec {
    fn has_entry(&self) -> bool {
        self.data || self.error
    }

    /// Is the data younger than `ttl_ms` at `now` (and may it be served)?
    pub fn is_fresh(&self, now: u64, ttl_ms: u64) -> bool {
        match (
            self.data && !self.shown && !self.invalidated,
            self.updated_at,
        ) {
            (true, Some(at)) => now < at.saturating_add(ttl_ms),
            _ => false,
        }
    }

    /// Is the data older than its own TTL (or missing)?
    pub fn is_stale(&self, now: u64) -> bool {
        !self.is_fresh(now, self.ttl_ms)
    }

    fn in_use(&self) -> bool {
        self.has_entry()
            || self.flight != 0
            || self.orphans > 0
            || self.watchers > 0
            || self.group != 0
            || self.live
            || self.intents > 0
            || self.queued
    }
}

/// Who waits on a flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waits {
    /// A caller's promise.
    Caller,
    /// A poll group's tick.
    Poll(u32),
    /// A prefetch of the key.
    Prefetch(u32),
    /// Nobody: the result only feeds the cache.
    Detached,
}

#[derive(Debug)]
struct Waiter {
    flight: u32,
    waits: Waits,
}

/// How a flight travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Alone,
    Queued(u32),
    Sent(u32),
    /// Failed; waiting for its retry (nothing is out).
    Backoff,
}

#[derive(Debug)]
struct Flight {
    key: u32,
    route: Route,
    waiters: Vec<u32>,
    ttl_ms: u64,
    /// Invalidated while in flight: stored stale.
    stale_on_arrival: bool,
    /// Cleared while in flight: stored nowhere.
    store: bool,
    /// It went through the batch scheduler.
    batched: bool,
    /// It is the probe of its origin's half-open circuit.
    probe: bool,
    /// Retries left.
    retries: u32,
    /// Retries made.
    attempt: u32,
    /// The waiter that callers who cannot abort share (0: none yet).
    shared: u32,
}

/// The deterministic request engine. See the module docs.
#[derive(Debug)]
pub struct Core {
    config: Config,
    keys: Slab<KeyRec>,
    entries: usize,
    kept_bytes: u64,
    next_tick: u64,
    flights: Slab<Flight>,
    waiters: Slab<Waiter>,
    timers: Timers,
    batches: Slab<batching::Batch>,
    batch_unavailable: bool,
    polls: Slab<polling::Group>,
    pollers: Slab<u32>,
    socket: Option<socket::Socket>,
    intents: Slab<u32>,
    /// Prefetches waiting, oldest first (at most `queue_limit + 1`).
    prefetch_queue: Vec<(u32, u64)>,
    prefetch_active: usize,
    visible: bool,
    online: bool,
    rng: u64,
    circuits: Vec<(u32, circuit::Circuit)>,
    writes: Slab<u32>,
    cleared_at: Option<u64>,
    /// The actions' words for the shell (`docs/boundary.md`), written as
    /// each action is queued (no queue of typed actions in the wasm).
    words: Vec<u32>,
    /// The typed actions for native code; those before `acted` are handed
    /// out already.
    #[cfg(not(target_arch = "wasm32"))]
    actions: Vec<Action>,
    #[cfg(not(target_arch = "wasm32"))]
    acted: usize,
    stats: Stats,
}

impl Core {
    /// A new engine.
    pub fn new(config: Config) -> Self {
        Core {
            rng: splitmix64(config.seed) | 1,
            socket: config.socket.clone().map(socket::Socket::new),
            config,
            keys: Slab::default(),
            entries: 0,
            kept_bytes: 0,
            next_tick: 0,
            flights: Slab::default(),
            waiters: Slab::default(),
            timers: Timers::default(),
            batches: Slab::default(),
            batch_unavailable: false,
            polls: Slab::default(),
            pollers: Slab::default(),
            intents: Slab::default(),
            prefetch_queue: Vec::new(),
            prefetch_active: 0,
            visible: true,
            online: true,
            circuits: Vec::new(),
            writes: Slab::default(),
            cleared_at: None,
            words: Vec::new(),
            #[cfg(not(target_arch = "wasm32"))]
            actions: Vec::new(),
            #[cfg(not(target_arch = "wasm32"))]
            acted: 0,
            stats: Stats::default(),
        }
    }

    /// The client-wide settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A new key: a url and identity the shell interned, from `origin`, whose
    /// item in a batch body is `item_bytes` long. It lives while anything
    /// uses it, then [`Action::KeyFree`] says it is gone.
    pub fn key(&mut self, origin: u32, who: u32, item_bytes: u64) -> u32 {
        self.keys.insert(KeyRec {
            origin,
            who,
            item_bytes,
            ..KeyRec::default()
        })
    }

    /// What the core knows of `key`.
    pub fn key_info(&self, key: u32) -> Option<&KeyRec> {
        self.keys.get(key)
    }

    /// A `get` of `key`: `None` when a fresh entry answers it at once (the
    /// shell hands out the body it keeps for the key), else the waiter that a
    /// later [`Action::Resolve`] or [`Action::Reject`] settles.
    pub fn get(&mut self, now: u64, key: u32, ttl_ms: Option<u64>, fresh: bool) -> Option<u32> {
        self.get_retry(now, key, ttl_ms, fresh, None)
    }

    /// [`Core::get`] for a caller that cannot abort (no signal): joining a
    /// flight that such a caller already waits on gives back that caller's
    /// waiter, so the shell settles one promise for all of them (10,000
    /// identical calls are one waiter, not 10,000).
    pub fn get_shared(
        &mut self,
        now: u64,
        key: u32,
        ttl_ms: Option<u64>,
        fresh: bool,
    ) -> Option<u32> {
        let ttl = ttl_ms.unwrap_or(self.config.default_ttl_ms);
        let flight = self.keys.get(key).map_or(0, |k| k.flight);
        let shared = self.flights.get(flight).map_or(0, |f| f.shared);
        let joinable = self.waiters.get(shared).is_some_and(|w| w.flight == flight);
        if joinable && (fresh || !self.keys.get(key).must().is_fresh(now, ttl)) {
            self.stats.requested += 1;
            self.stats.dedup_hits += 1;
            return Some(shared);
        }
        let waiter = self.get(now, key, ttl_ms, fresh)?;
        let flight = self.waiters.get(waiter).map_or(0, |w| w.flight);
        if let Some(f) = self.flights.get_mut(flight) {
            if f.shared == 0 {
                f.shared = waiter;
            }
        }
        Some(waiter)
    }

    /// [`Core::get`] with its own count of retries (`None`: the client's).
    /// A caller that joins a flight raises the flight's retries to its own.
    #[inline(never)] // (two exports' paths call it: one copy in the wasm)
    pub fn get_retry(
        &mut self,
        now: u64,
        key: u32,
        ttl_ms: Option<u64>,
        fresh: bool,
        retries: Option<u32>,
    ) -> Option<u32> {
        self.stats.requested += 1;
        let ttl = ttl_ms.unwrap_or(self.config.default_ttl_ms);
        if !fresh && self.touch_fresh(now, key, ttl) {
            self.stats.cache_hits += 1;
            return None;
        }
        let waiter = self.waiters.insert(Waiter {
            flight: 0,
            waits: Waits::Caller,
        });
        self.start(now, waiter, key, ttl, fresh);
        self.want_retries(waiter, retries.unwrap_or(self.config.retry.retries));
        self.release_key(key);
        Some(waiter)
    }

    /// Is `key`'s entry fresh for `ttl`? (Marks it used.)
    fn touch_fresh(&mut self, now: u64, key: u32, ttl: u64) -> bool {
        self.next_tick += 1;
        let tick = self.next_tick;
        match self.keys.get_mut(key) {
            Some(k) if k.is_fresh(now, ttl) => {
                k.tick = tick;
                true
            }
            _ => false,
        }
    }

    /// Start `waiter`'s request of `key`: from the cache, joined to one in
    /// flight, refused by the circuit, or sent.
    fn start(&mut self, now: u64, waiter: u32, key: u32, ttl: u64, fresh: bool) {
        if !self.keys.contains(key) {
            self.settle_err(now, waiter, Fail::Abort);
            return;
        }
        if !fresh && self.touch_fresh(now, key, ttl) {
            self.stats.cache_hits += 1;
            self.settle_from_key(now, waiter, key);
            return;
        }
        let k = &self.keys.get(key).must();
        if k.flight != 0 {
            self.stats.dedup_hits += 1;
            let f = k.flight;
            self.flights.get_mut(f).must().waiters.push(waiter);
            self.waiters.get_mut(waiter).must().flight = f;
            return;
        }
        let origin = k.origin;
        let probe = match self.circuit_refuses(now, origin) {
            Ok(probe) => probe,
            Err(fail) => {
                // The origin is failing: serve what the cache kept, even stale.
                let kept = self.keys.get(key).is_some_and(|k| k.data && !k.shown);
                if kept {
                    self.stats.circuit_stale += 1;
                    self.settle_from_key(now, waiter, key);
                } else {
                    self.stats.circuit_refused += 1;
                    self.settle_err(now, waiter, fail);
                }
                return;
            }
        };
        let flight = self.flights.insert(Flight {
            key,
            route: Route::Alone,
            waiters: Vec::new(),
            ttl_ms: ttl,
            stale_on_arrival: false,
            store: true,
            batched: false,
            probe,
            retries: 0,
            attempt: 0,
            shared: 0,
        });
        if let Some(t) = self.config.timeout_ms {
            self.timers
                .set(Timer(Kind::Flight, flight), now.saturating_add(t));
        }
        // (A push, not `vec![waiter]`: the growth code is there anyway.)
        self.flights.get_mut(flight).must().waiters.push(waiter);
        self.waiters.get_mut(waiter).must().flight = flight;
        let k = self.keys.get_mut(key).must();
        k.flight = flight;
        k.version = k.version.wrapping_add(1);
        self.stats.network_requests += 1;
        if !self.enqueue(now, flight) {
            self.send_alone(flight);
        }
        self.notify(key);
    }

    /// A cache answer for a waiter: callers through an action, internal
    /// waiters through their owner.
    fn settle_from_key(&mut self, now: u64, waiter: u32, key: u32) {
        self.settle(now, waiter, op::RESOLVE_KEY, key, None, false);
    }

    /// Settle `waiter`: a caller with `Reject` when it failed (`fail`),
    /// else with the plain action `op` (`RESOLVE` with a body's word,
    /// `RESOLVE_KEY` with a key), an internal waiter through its owner. One
    /// copy for every kind of answer.
    #[inline(never)]
    pub(super) fn settle(
        &mut self,
        now: u64,
        waiter: u32,
        op: u32,
        b: u32,
        fail: Option<Fail>,
        from_network: bool,
    ) {
        let Some(w) = self.waiters.remove(waiter) else {
            return;
        };
        match (w.waits, fail) {
            (Waits::Caller, Some(_)) => self.emit_fail(op::REJECT, waiter, fail),
            (Waits::Caller, None) => self.emit(op, waiter, b),
            (other, _) => self.internal_done(now, other, fail, from_network),
        }
    }

    /// Settle `waiter` with `fail`.
    fn settle_err(&mut self, now: u64, waiter: u32, fail: Fail) {
        self.settle(now, waiter, 0, 0, Some(fail), true);
    }

    /// The caller behind `waiter` aborted: it is rejected, and its request
    /// is cancelled when nobody else waits on it.
    pub fn abort(&mut self, now: u64, waiter: u32) {
        let Some(w) = self.waiters.get(waiter) else {
            return;
        };
        if !matches!(w.waits, Waits::Caller) || w.flight == 0 {
            return;
        }
        self.stats.aborted_calls += 1;
        self.emit_fail(op::REJECT, waiter, Some(Fail::Abort));
        self.release(now, waiter);
    }

    /// A plain request finished. Answers for flights that were cancelled or
    /// timed out are ignored.
    pub fn fetch_done(&mut self, now: u64, flight: u32, answer: Answer) {
        if !self.flights.contains(flight) {
            return;
        }
        self.outcome(now, flight, classify(flight, answer));
    }

    /// Settle a flight with its outcome: `Ok(size, no_store, etag)` or why
    /// it failed.
    fn outcome(&mut self, now: u64, flight: u32, result: Result<(u64, bool, bool), Fail>) {
        let Some(f) = self.flights.get(flight) else {
            return;
        };
        let (key, probe) = (f.key, f.probe);
        if let Err(fail) = result {
            if self.retry_later(now, flight, fail) {
                return;
            }
            self.stats.errors += 1;
        }
        self.circuit_record(now, key, result.err(), probe);
        self.finish(now, flight, result);
    }

    /// Settle a flight for good: store its data or show its error, and
    /// settle its waiters.
    pub(super) fn finish(
        &mut self,
        now: u64,
        flight: u32,
        result: Result<(u64, bool, bool), Fail>,
    ) {
        let f = self.remove_flight(now, flight);
        let key = f.key;
        match result {
            Ok((size, no_store, etag)) => {
                if f.store {
                    let kept = self.store(
                        now,
                        key,
                        Src::Flight(flight),
                        size,
                        no_store,
                        f.ttl_ms,
                        etag,
                    );
                    if kept && f.stale_on_arrival {
                        self.expire(key);
                    }
                }
                self.resolve(now, f.waiters, Src::Flight(flight), true);
                self.data_changed(now, key);
            }
            Err(fail) => {
                let watched = self.keys.get(key).is_some_and(|k| k.watchers > 0);
                if f.store && watched {
                    self.put_error(key, fail);
                }
                self.reject(now, f.waiters, fail);
            }
        }
        self.notify(key);
        self.release_key(key);
    }

    /// New data for `key` from `src`: kept when the rules allow it (not
    /// `no_store`, within `max_body_bytes` and `max_bytes`); otherwise only
    /// shown to the key's listeners, and whatever the entry kept before is
    /// dropped, since this data replaces it. Returns whether it was kept.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn store(
        &mut self,
        now: u64,
        key: u32,
        src: Src,
        size: u64,
        no_store: bool,
        ttl_ms: u64,
        etag: bool,
    ) -> bool {
        let keep = !no_store && size <= self.config.max_body_bytes && size <= self.config.max_bytes;
        let Some(k) = self.keys.get(key) else {
            return false;
        };
        let watched = k.watchers > 0;
        let had_entry = k.has_entry();
        if !keep && !watched {
            if had_entry {
                self.remove_entry(key);
            }
            return false;
        }
        if !had_entry {
            self.entries += 1;
        }
        self.next_tick += 1;
        let tick = self.next_tick;
        let k = self.keys.get_mut(key).must();
        self.kept_bytes -= k.bytes;
        k.data = true;
        k.error = false;
        k.shown = !keep;
        k.invalidated = false;
        k.tick = tick;
        k.version = k.version.wrapping_add(1);
        if keep {
            k.bytes = size;
            k.updated_at = Some(now);
            k.ttl_ms = ttl_ms;
            k.etag = etag;
            self.kept_bytes += size;
            self.emit(op::KEEP, key, src.word());
        } else {
            k.bytes = 0;
            k.updated_at = None;
            k.etag = false;
            self.emit(op::SHOW, key, src.word());
        }
        self.evict(key);
        keep
    }

    /// Record a failed attempt for the key's listeners, keeping its data.
    fn put_error(&mut self, key: u32, fail: Fail) {
        let Some(k) = self.keys.get_mut(key) else {
            return;
        };
        if !k.has_entry() {
            self.entries += 1;
        }
        k.error = true;
        k.version = k.version.wrapping_add(1);
        self.next_tick += 1;
        k.tick = self.next_tick;
        self.emit_fail(op::ERROR, key, Some(fail));
        self.evict(key);
    }

    /// Make `key`'s data stale at once, keeping it for listeners.
    pub(super) fn expire(&mut self, key: u32) -> bool {
        match self.keys.get_mut(key) {
            Some(k) if k.has_entry() => {
                k.invalidated = true;
                k.version = k.version.wrapping_add(1);
                true
            }
            _ => false,
        }
    }

    /// Drop `key`'s entry (the key itself lives on while it is used).
    fn remove_entry(&mut self, key: u32) {
        let Some(k) = self.keys.get_mut(key) else {
            return;
        };
        if !k.has_entry() {
            return;
        }
        self.entries -= 1;
        self.kept_bytes -= k.bytes;
        k.data = false;
        k.shown = false;
        k.error = false;
        k.etag = false;
        k.invalidated = false;
        k.bytes = 0;
        k.updated_at = None;
        k.version = k.version.wrapping_add(1);
        self.emit(op::DROP, key, 0);
    }

    /// Evict the least recently used entries other than `keep` beyond the
    /// bounds (entries and bytes).
    fn evict(&mut self, keep: u32) {
        while self.entries > self.config.max_entries.max(1)
            || self.kept_bytes > self.config.max_bytes
        {
            let by_bytes = self.entries <= self.config.max_entries.max(1);
            let (mut oldest, mut tick) = (0, u64::MAX);
            for id in self.keys.ids() {
                match self.keys.get(id) {
                    Some(k)
                        if id != keep
                            && k.has_entry()
                            && (!by_bytes || k.bytes > 0)
                            && k.tick < tick =>
                    {
                        (oldest, tick) = (id, k.tick);
                    }
                    _ => {}
                }
            }
            if oldest == 0 {
                break;
            }
            self.remove_entry(oldest);
            self.stats.evictions += 1;
            self.notify(oldest);
            self.release_key(oldest);
        }
    }

    /// Settle `waiters` with the body of `src`.
    fn resolve(&mut self, now: u64, waiters: Vec<u32>, src: Src, from_network: bool) {
        for &waiter in &waiters {
            self.settle(now, waiter, op::RESOLVE, src.word(), None, from_network);
        }
    }

    /// Settle `waiters` with `fail`.
    fn reject(&mut self, now: u64, waiters: Vec<u32>, fail: Fail) {
        for &waiter in &waiters {
            self.settle_err(now, waiter, fail);
        }
    }

    /// An internal waiter settled (`fail`: how, if it failed).
    fn internal_done(&mut self, now: u64, waits: Waits, fail: Option<Fail>, from_network: bool) {
        match waits {
            Waits::Poll(g) => self.poll_result(now, g, fail, from_network),
            Waits::Prefetch(key) => self.prefetch_done(now, key, fail.is_none()),
            Waits::Detached | Waits::Caller => {}
        }
    }

    /// Fetch `key` for the cache alone: nobody waits on the result.
    pub(super) fn fetch_detached(&mut self, now: u64, key: u32, fresh: bool) {
        let waiter = self.waiters.insert(Waiter {
            flight: 0,
            waits: Waits::Detached,
        });
        let ttl = self.config.default_ttl_ms;
        self.start(now, waiter, key, ttl, fresh);
    }

    /// Start an internal waiter of `waits` for `key`.
    fn start_internal(&mut self, now: u64, waits: Waits, key: u32, ttl: u64) -> u32 {
        let waiter = self.waiters.insert(Waiter { flight: 0, waits });
        self.start(now, waiter, key, ttl, false);
        waiter
    }

    /// Drop a waiter without settling it (it was an internal one, or its
    /// caller was already rejected): its request is cancelled when nobody
    /// else waits on it.
    fn release(&mut self, now: u64, waiter: u32) {
        let Some(w) = self.waiters.remove(waiter) else {
            return;
        };
        let flight = w.flight;
        let Some(f) = self.flights.get_mut(flight) else {
            return;
        };
        remove_id(&mut f.waiters, waiter);
        if f.shared == waiter {
            f.shared = 0;
        }
        if !f.waiters.is_empty() {
            return;
        }
        let left_batched = match f.route {
            Route::Sent(_) => true,
            Route::Alone => f.batched,
            Route::Queued(_) | Route::Backoff => false,
        };
        if left_batched {
            // It left through the batch scheduler: the server does the work
            // whether or not anyone waits, so the answer still fills the
            // cache and nothing is aborted.
            return;
        }
        let route = f.route;
        let f = self.remove_flight(now, flight);
        if f.probe {
            self.circuit_probe_gone(f.key);
        }
        if matches!(route, Route::Alone) {
            self.stats.cancelled_requests += 1;
            self.emit(op::CANCEL_FLIGHT, flight, 0);
        }
        self.notify(f.key);
        self.release_key(f.key);
    }

    /// Time has passed: act on every deadline that is due at `now`.
    pub fn handle_timeout(&mut self, now: u64) {
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
                Timer(Kind::Window, batch) => self.flush(now, batch),
                Timer(Kind::Poll, group) => self.tick_due(now, group),
                Timer(Kind::Intent, id) => self.intent_due(now, id),
                Timer(Kind::Flight, flight) => self.time_out(now, flight),
                Timer(Kind::Write, write) => {
                    let ms = self.config.timeout_ms.unwrap_or(0);
                    self.write_end(now, write, Some(Fail::Timeout { ms }))
                }
                Timer(Kind::Retry, flight) => self.retry_due(now, flight),
                t => self.socket_deadline(now, t),
            }
        }
    }

    fn time_out(&mut self, now: u64, flight: u32) {
        let Some(f) = self.flights.get(flight) else {
            return;
        };
        self.stats.timeouts += 1;
        if matches!(f.route, Route::Alone) {
            self.stats.cancelled_requests += 1;
            self.emit(op::CANCEL_FLIGHT, flight, 0);
        }
        let ms = self.config.timeout_ms.unwrap_or(0);
        self.outcome(now, flight, Err(Fail::Timeout { ms }));
    }

    /// When `handle_timeout` must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.timers.next()
    }

    /// The next thing to do, if any. Once none is left, the ids of removed
    /// items may be reused: no action the shell has yet to read names them.
    /// (Native code only: the wasm hands the shell [`Core::words`].)
    #[cfg(not(target_arch = "wasm32"))]
    pub fn poll_action(&mut self) -> Option<Action> {
        if let Some(a) = self.actions.get_mut(self.acted) {
            self.acted += 1;
            return Some(core::mem::replace(a, Action::SocketOpen));
        }
        self.actions.clear();
        self.acted = 0;
        self.words.clear();
        self.actions_read();
        None
    }

    /// The words of every action queued since the shell last cleared them
    /// (`docs/boundary.md`); the shell reads them after each input, clears
    /// them, and calls [`Core::actions_read`].
    pub fn words(&mut self) -> &mut Vec<u32> {
        &mut self.words
    }

    /// The shell has read every action queued so far: the ids of removed
    /// items may be reused now.
    pub fn actions_read(&mut self) {
        self.keys.recycle();
        self.flights.recycle();
        self.waiters.recycle();
        self.batches.recycle();
        self.polls.recycle();
        self.pollers.recycle();
        self.intents.recycle();
        self.writes.recycle();
    }

    /// Queue `REJECT`, `ERROR` or `WRITTEN` for `id` with `fail` (see
    /// [`put_fail`]), written as words at once.
    #[inline(never)]
    pub(super) fn emit_fail(&mut self, op: u32, id: u32, fail: Option<Fail>) {
        put_fail(&mut self.words, op, id, fail);
        #[cfg(not(target_arch = "wasm32"))]
        self.actions.push(Action::failed(op, id, fail));
    }

    /// Queue a plain action for the shell: `op` and its numbers, written
    /// as words at once (one copy for every site).
    #[inline(never)]
    pub(super) fn emit(&mut self, op: u32, a: u32, b: u32) {
        put_plain(&mut self.words, op, a, b);
        #[cfg(not(target_arch = "wasm32"))]
        self.actions.push(Action::plain(op, a, b));
    }

    /// Make `key` stale: the next `get` goes to the network; a request in
    /// flight still answers its callers but stores its data stale. Returns
    /// whether anything was touched.
    pub fn invalidate(&mut self, key: u32) -> bool {
        let mut touched = false;
        if self.expire(key) {
            self.notify(key);
            touched = true;
        }
        let flight = self.keys.get(key).map_or(0, |k| k.flight);
        if let Some(f) = self.flights.get_mut(flight) {
            f.stale_on_arrival = true;
            touched = true;
        }
        touched
    }

    /// Forget everything cached (logout): nothing old comes back. Requests
    /// in flight answer their callers but store nothing and are not joined;
    /// data from before now (another tab's) is refused; the socket, opened
    /// with the old session, is replaced.
    pub fn clear(&mut self, now: u64) {
        self.cleared_at = Some(now);
        // (Nothing here makes keys: the core never does.)
        let keys = self.keys.ids();
        for key in keys.clone() {
            if self.keys.get(key).is_some_and(|k| k.has_entry()) {
                self.remove_entry(key);
                self.notify(key);
            }
        }
        for id in self.flights.ids() {
            if let Some(f) = self.flights.get_mut(id) {
                f.store = false;
            }
        }
        self.cancel_retries(now);
        // A new request of a key must not join one whose answer is not kept.
        // Its flight still names the key: the key lives until it is done.
        for key in keys.clone() {
            let Some(k) = self.keys.get_mut(key) else {
                continue;
            };
            if k.flight != 0 {
                k.flight = 0;
                k.orphans += 1;
                k.version = k.version.wrapping_add(1);
            }
        }
        self.socket_restart(now);
        self.refetch_live(now);
        for key in keys {
            self.release_key(key);
        }
    }

    /// A listener started watching `key`: its changes now produce
    /// [`Action::Notify`].
    pub fn watch(&mut self, key: u32) {
        if let Some(k) = self.keys.get_mut(key) {
            k.watchers += 1;
        }
    }

    /// A listener of `key` left. Data only shown goes with the last one.
    pub fn unwatch(&mut self, key: u32) {
        let Some(k) = self.keys.get_mut(key) else {
            return;
        };
        k.watchers = k.watchers.saturating_sub(1);
        if k.watchers == 0 && (k.shown || (k.error && !k.data)) {
            self.remove_entry(key);
        }
        self.release_key(key);
    }

    /// The snapshot bits of `key` at `now`: 1 has data, 2 stale, 4 fetching,
    /// 8 has an error, 16 the data is only shown.
    pub fn state(&self, now: u64, key: u32) -> u32 {
        let Some(k) = self.keys.get(key) else {
            return 2;
        };
        (k.data as u32)
            | (k.is_stale(now) as u32) << 1
            | ((k.flight != 0) as u32) << 2
            | (k.error as u32) << 3
            | (k.shown as u32) << 4
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        let mut stats = self.stats;
        stats.cache_entries = self.entries as u64;
        stats.in_flight = self.flights.len() as u64;
        stats
    }

    /// Waiters not yet settled (for tests and leak checks).
    pub fn pending_waiters(&self) -> usize {
        self.waiters.len()
    }

    /// Armed deadlines (for tests and leak checks).
    pub fn pending_timers(&self) -> usize {
        self.timers.len()
    }

    /// Batches queued or in flight (for tests and leak checks).
    pub fn pending_batches(&self) -> usize {
        self.batches.len()
    }

    /// Keys alive (for tests and leak checks).
    pub fn live_keys(&self) -> usize {
        self.keys.len()
    }

    /// Bytes of the bodies kept.
    pub fn kept_bytes(&self) -> u64 {
        self.kept_bytes
    }

    fn send_alone(&mut self, flight: u32) {
        let f = self.flights.get_mut(flight).must();
        f.route = Route::Alone;
        let key = f.key;
        self.emit(op::FETCH, flight, key);
    }

    fn remove_flight(&mut self, _now: u64, flight: u32) -> Flight {
        let f = self.flights.remove(flight).must();
        if let Some(k) = self.keys.get_mut(f.key) {
            if k.flight == flight {
                k.flight = 0;
                k.version = k.version.wrapping_add(1);
            } else {
                k.orphans = k.orphans.saturating_sub(1);
            }
        }
        self.timers.stop(Timer(Kind::Flight, flight));
        self.timers.stop(Timer(Kind::Retry, flight));
        for w in &f.waiters {
            if let Some(w) = self.waiters.get_mut(*w) {
                w.flight = 0;
            }
        }
        match f.route {
            Route::Alone | Route::Backoff => {}
            Route::Queued(b) => self.unqueue(b, flight),
            Route::Sent(b) => self.leave_sent_batch(b, flight),
        }
        f
    }

    pub(super) fn notify(&mut self, key: u32) {
        if self.keys.get(key).is_some_and(|k| k.watchers > 0) {
            self.emit(op::NOTIFY, key, 0);
        }
    }

    /// Free `key` if nothing uses it any more.
    pub(super) fn release_key(&mut self, key: u32) {
        if self.keys.get(key).is_some_and(|k| !k.in_use()) {
            self.keys.remove(key);
            self.emit(op::KEY_FREE, key, 0);
        }
    }
}

/// What an answer means: the outcome rules, written once.
pub(super) fn classify(flight: u32, a: Answer) -> Result<(u64, bool, bool), Fail> {
    if a.has(Answer::NETWORK) {
        return Err(Fail::Network { flight });
    }
    match a.status {
        200..=299 if a.has(Answer::NOT_JSON) => Err(Fail::Parse { flight }),
        200..=299 => Ok((a.size, a.has(Answer::NO_STORE), a.has(Answer::ETAG))),
        400..=599 => Err(Fail::Http {
            flight,
            status: a.status,
            retry_after: a.retry_after.map(|ms| ms.min(super::MAX_RETRY_AFTER_MS)),
        }),
        _ => Err(Fail::BatchStatus { flight }),
    }
}

/// `v * 2^n`, saturating (`n` < 64): a shift, where `saturating_mul` needs
/// a 128-bit multiply on wasm32.
pub(super) fn doubled(v: u64, n: u32) -> u64 {
    if v.leading_zeros() >= n {
        v << n
    } else {
        u64::MAX
    }
}

/// Spread a seed's bits (splitmix64).
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::doubled;

    #[test]
    fn doubled_is_a_saturating_multiply_by_a_power_of_two() {
        for v in [
            0,
            1,
            3,
            1_000,
            30_000,
            u64::MAX >> 20,
            u64::MAX >> 1,
            u64::MAX,
        ] {
            for n in 0..=30 {
                assert_eq!(doubled(v, n), v.saturating_mul(1 << n), "{v} << {n}");
            }
        }
    }
}
