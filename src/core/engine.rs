//! The request engine: dedup table, cache, abort and timeout bookkeeping.
//!
//! [`Core`] is a deterministic state machine in the manner of quinn-proto. It
//! never reads a clock and never does I/O. Its methods are of four kinds:
//!
//! - getters: [`Core::entry`], [`Core::is_fetching`], [`Core::stats`];
//! - inputs: [`Core::get`], [`Core::abort`], [`Core::fetch_done`],
//!   [`Core::handle_timeout`], each taking `now` in milliseconds;
//! - mutators: [`Core::invalidate`], [`Core::clear`], [`Core::watch`],
//!   [`Core::unwatch`];
//! - outputs: [`Core::poll_action`] (what to do now) and
//!   [`Core::poll_timeout`] (when to call `handle_timeout` next).
//!
//! After any input or mutator the shell drains `poll_action` until it returns
//! `None`, then re-arms its one timer at `poll_timeout`.
//!
//! The body type `B` is opaque: the browser shell stores JS values, the tests
//! store integers or strings.

use std::collections::VecDeque;

use super::map::{Map, Set, SortedSet};

use super::cache::{Cache, Entry};
use super::error::FetchError;
use super::key::{Credentials, Identity, Key};

mod batching;
mod circuit;
mod polling;
mod prefetch;
mod socket;
use batching::Batch;
pub use batching::{origin, BatchConfig, BatchFailure, BatchId};
use circuit::Circuit;
pub use circuit::{CircuitConfig, MAX_ORIGINS};
use polling::Group;
pub use polling::{GroupId, PollConfig, PollerId};
pub use prefetch::{IntentId, PrefetchConfig};
use socket::Socket;
pub use socket::{SocketConfig, SocketState, SocketTimer};

/// Identifies one caller's promise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WaiterId(pub u64);

/// Identifies one network request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlightId(pub u64);

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
    /// Bodies longer than this (in bytes of JSON text) are handed to their
    /// callers and shown to listeners but not kept: one huge answer cannot
    /// fill the memory.
    pub max_body_bytes: usize,
    /// Bound on the bytes of all the bodies kept in the cache.
    pub max_bytes: usize,
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
            circuit: None,
            max_body_bytes: 1 << 20,
            max_bytes: 16 << 20,
        }
    }
}

/// One `get` call.
#[derive(Debug, Clone, Default)]
pub struct GetRequest {
    /// Normalised absolute URL.
    pub url: String,
    /// Whose request this is.
    pub identity: Identity,
    /// Headers to send besides `Authorization` (which is in `identity`).
    pub headers: Vec<(String, String)>,
    /// Freshness wanted by this caller; `None` is the client default.
    pub ttl_ms: Option<u64>,
    /// Skip the cache (but still join an identical request in flight).
    pub fresh: bool,
}

/// What the shell must send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchSpec {
    /// Absolute URL.
    pub url: String,
    /// Every header to send, `Authorization` included.
    pub headers: Vec<(String, String)>,
    /// `fetch`'s credentials mode.
    pub credentials: Credentials,
}

/// What a finished network request produced.
#[derive(Debug, Clone)]
pub enum Outcome<B> {
    /// A 2xx answer with a JSON body.
    Body {
        /// The parsed body.
        body: B,
        /// The `ETag` header.
        etag: Option<String>,
        /// `Cache-Control: no-store` was present.
        no_store: bool,
        /// The body's size in bytes (of its text): over
        /// [`Config::max_body_bytes`] it is not kept.
        size: usize,
    },
    /// The request failed.
    Failed(FetchError),
}

/// What the core asks the shell to do.
#[derive(Debug, Clone)]
pub enum Action<B> {
    /// Start a network request and report it with [`Core::fetch_done`].
    Fetch {
        /// Which flight this is.
        flight: FlightId,
        /// What to send.
        spec: FetchSpec,
    },
    /// Abort a network request; its result, if any, is no longer wanted.
    Cancel {
        /// The flight to abort.
        flight: FlightId,
    },
    /// POST a batch and report its answer with the `batch_*` inputs.
    SendBatch {
        /// Which batch this is.
        batch: BatchId,
        /// The endpoint, headers (`Content-Type`, `Accept`, `Authorization`)
        /// and credentials mode.
        spec: FetchSpec,
        /// The JSON body.
        body: String,
    },
    /// Abort a batch request: none of its callers is waiting any more.
    CancelBatch {
        /// The batch to abort.
        batch: BatchId,
    },
    /// Fulfil these waiters with `body`.
    Resolve {
        /// The waiters, each settled by this action and never again.
        waiters: Vec<WaiterId>,
        /// The body they all get.
        body: B,
    },
    /// Reject these waiters with `error`.
    Reject {
        /// The waiters, each settled by this action and never again.
        waiters: Vec<WaiterId>,
        /// The error they all get.
        error: FetchError,
    },
    /// The state of a watched key changed: tell its listeners.
    Notify {
        /// The key.
        key: Key,
    },
    /// This tab's poll of `key` brought new data from the network: share it
    /// with other tabs.
    Polled {
        /// The key.
        key: Key,
    },
    /// Open the socket; report with `socket_opened` / `socket_closed`.
    SocketOpen,
    /// Send this text on the open socket.
    SocketSend {
        /// The message.
        text: String,
    },
    /// Close the socket: nobody listens any more.
    SocketClose,
    /// A socket message was malformed: tell the app's error callback.
    SocketProblem {
        /// What was wrong.
        message: String,
    },
}

/// Counters since the client was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// `get` calls.
    pub requested: u64,
    /// Network requests started.
    pub network_requests: u64,
    /// Calls that joined a request already in flight.
    pub dedup_hits: u64,
    /// Calls answered from a fresh cache entry.
    pub cache_hits: u64,
    /// Network requests that failed (HTTP, network, parse, timeout).
    pub errors: u64,
    /// Network requests that timed out.
    pub timeouts: u64,
    /// Callers whose signal aborted them.
    pub aborted_calls: u64,
    /// Network requests aborted because every caller left.
    pub cancelled_requests: u64,
    /// Entries evicted to respect `max_entries`.
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
    /// Poll ticks (each one a request, a join or a cache answer).
    pub poll_ticks: u64,
    /// Socket messages received.
    pub socket_messages: u64,
    /// Malformed socket messages (counted and reported, never fatal).
    pub socket_malformed: u64,
    /// Socket subscriptions sent (one per key per connection).
    pub socket_subscribes: u64,
    /// Times the socket closed or failed.
    pub socket_drops: u64,
    /// Reconnect attempts.
    pub socket_reconnects: u64,
    /// Times the socket was not open within the connect timeout.
    pub socket_timeouts: u64,
    /// Prefetches that completed.
    pub prefetched: u64,
    /// Prefetches that failed (never shown to anyone).
    pub prefetch_failures: u64,
    /// Prefetches skipped: fresh, already in flight or queued, or dropped.
    pub prefetch_skipped: u64,
    /// Live keys without data that rode along in a batch leaving anyway
    /// while the socket was not open.
    pub socket_riders: u64,
    /// Times a circuit opened (or reopened after a failed probe).
    pub circuit_opens: u64,
    /// Calls answered with cached (possibly stale) data while a circuit was open.
    pub circuit_stale: u64,
    /// Calls refused with `CircuitOpen` (no cached data).
    pub circuit_refused: u64,
    /// Entries in the cache now.
    pub cache_entries: u64,
    /// Network requests in flight now.
    pub in_flight: u64,
}

/// How a flight travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// A request of its own.
    Alone,
    /// Waiting in a batch that has not left yet.
    Queued(BatchId),
    /// Inside a batch that was sent.
    Sent(BatchId),
}

/// Something with a deadline in the timer table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Deadline {
    /// A flight's timeout.
    Flight(FlightId),
    /// A batch window closing.
    Window(BatchId),
    /// A poll group's next tick.
    Poll(GroupId),
    /// A socket deadline.
    Socket(SocketTimer),
    /// A hover intent.
    Intent(IntentId),
}

#[derive(Debug)]
struct Flight {
    key: Key,
    spec: FetchSpec,
    route: Route,
    waiters: Vec<WaiterId>,
    deadline: Option<u64>,
    ttl_ms: u64,
    /// Invalidated or cleared while in flight: the answer still goes to the
    /// waiters but is stored stale (or not at all after `clear`).
    stale_on_arrival: bool,
    store: bool,
    /// It went through the batch scheduler (and left in a batch, or alone
    /// as a batch of one, or alone when the server has no `/batch`).
    batched: bool,
    /// It is the probe of its origin's half-open circuit.
    probe: bool,
}

/// The deterministic request engine. See the module docs.
#[derive(Debug)]
pub struct Core<B> {
    config: Config,
    cache: Cache<B>,
    flights: Map<FlightId, Flight>,
    by_key: Map<Key, FlightId>,
    waiters: Map<WaiterId, FlightId>,
    timers: SortedSet<(u64, Deadline)>,
    batches: Map<BatchId, Batch>,
    open_batches: Map<Identity, BatchId>,
    batch_unavailable: bool,
    polls: Map<GroupId, Group>,
    poll_by_key: Map<Key, GroupId>,
    pollers: Map<PollerId, GroupId>,
    poll_waiters: Map<WaiterId, GroupId>,
    /// Internal requests whose result only feeds the cache.
    detached: Set<WaiterId>,
    socket: Option<Socket>,
    intents: Map<IntentId, (u64, GetRequest)>,
    prefetch_queue: VecDeque<GetRequest>,
    prefetch_active: usize,
    prefetch_waiters: Set<WaiterId>,
    visible: bool,
    online: bool,
    rng: u64,
    watched: Map<Key, usize>,
    circuits: Map<String, Circuit>,
    /// When `clear` last ran: data fetched before it (another tab's poll
    /// result still on its way) is not stored.
    cleared_at: Option<u64>,
    actions: VecDeque<Action<B>>,
    next_id: u64,
    stats: Stats,
}

impl<B: Clone> Core<B> {
    /// A new engine.
    pub fn new(config: Config) -> Self {
        Core {
            cache: Cache::new(config.max_entries, config.max_bytes),
            rng: splitmix64(config.seed) | 1,
            socket: config.socket.clone().map(Socket::new),
            config,
            flights: Map::default(),
            by_key: Map::default(),
            waiters: Map::default(),
            timers: SortedSet::default(),
            batches: Map::default(),
            open_batches: Map::default(),
            batch_unavailable: false,
            polls: Map::default(),
            poll_by_key: Map::default(),
            pollers: Map::default(),
            poll_waiters: Map::default(),
            detached: Default::default(),
            intents: Map::default(),
            prefetch_queue: VecDeque::new(),
            prefetch_active: 0,
            prefetch_waiters: Default::default(),
            visible: true,
            online: true,
            watched: Map::default(),
            circuits: Map::default(),
            cleared_at: None,
            actions: VecDeque::new(),
            next_id: 0,
            stats: Stats::default(),
        }
    }

    /// The client-wide settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A new `get`. Returns the waiter that a later `Resolve` or `Reject`
    /// settles (possibly before this returns, as a queued action).
    pub fn get(&mut self, now: u64, req: GetRequest) -> WaiterId {
        self.stats.requested += 1;
        let waiter = WaiterId(self.bump());
        self.start(now, waiter, req);
        waiter
    }

    /// A `get` answered at once from a fresh cache entry, with no waiter:
    /// the body (counted as a request and a cache hit), or `None` when it
    /// needs [`Core::get`]. The shell's fast path; same result as `get`.
    pub fn get_cached(&mut self, now: u64, req: &GetRequest) -> Option<B> {
        if req.fresh {
            return None;
        }
        let key = Key::get(&req.url, &req.identity);
        let ttl_ms = req.ttl_ms.unwrap_or(self.config.default_ttl_ms);
        let body = self
            .cache
            .touch(&key)
            .filter(|e| e.is_fresh(now, ttl_ms))
            .and_then(|e| e.data.clone())?;
        self.stats.requested += 1;
        self.stats.cache_hits += 1;
        Some(body)
    }

    /// `get` for any waiter, the caller's or a poll tick's.
    fn start(&mut self, now: u64, waiter: WaiterId, req: GetRequest) {
        let key = Key::get(&req.url, &req.identity);
        let ttl_ms = req.ttl_ms.unwrap_or(self.config.default_ttl_ms);

        if !req.fresh {
            if let Some(body) = self
                .cache
                .touch(&key)
                .filter(|e| e.is_fresh(now, ttl_ms))
                .and_then(|e| e.data.clone())
            {
                self.stats.cache_hits += 1;
                self.resolve(now, vec![waiter], body, false);
                return;
            }
        }

        if let Some(&flight_id) = self.by_key.get(&key) {
            self.stats.dedup_hits += 1;
            let flight = self.flights.get_mut(&flight_id).expect("by_key is in sync");
            flight.waiters.push(waiter);
            self.waiters.insert(waiter, flight_id);
            return;
        }

        let probe = match self.circuit_refuses(now, &req.url) {
            Ok(probe) => probe,
            Err(error) => {
                // The origin is failing: serve what the cache kept, even stale.
                let kept = self
                    .cache
                    .touch(&key)
                    .filter(|e| !e.shown_only)
                    .and_then(|e| e.data.clone());
                if let Some(body) = kept {
                    self.stats.circuit_stale += 1;
                    self.resolve(now, vec![waiter], body, false);
                } else {
                    self.stats.circuit_refused += 1;
                    self.reject(now, vec![waiter], error);
                }
                return;
            }
        };

        let flight_id = FlightId(self.bump());
        let deadline = self.config.timeout_ms.map(|t| now.saturating_add(t));
        if let Some(d) = deadline {
            self.timers.insert((d, Deadline::Flight(flight_id)));
        }
        let mut headers = req.headers;
        headers.extend(
            req.identity
                .headers()
                .map(|(n, v)| (n.to_string(), v.to_string())),
        );
        let spec = FetchSpec {
            url: req.url,
            headers,
            credentials: req.identity.credentials,
        };
        self.flights.insert(
            flight_id,
            Flight {
                key: key.clone(),
                spec,
                route: Route::Alone,
                waiters: vec![waiter],
                deadline,
                ttl_ms,
                stale_on_arrival: false,
                store: true,
                batched: false,
                probe,
            },
        );
        self.by_key.insert(key.clone(), flight_id);
        self.waiters.insert(waiter, flight_id);
        self.stats.network_requests += 1;
        if !self.enqueue(now, flight_id, &req.identity) {
            self.send_alone(flight_id);
        }
        self.notify(&key);
    }

    /// The caller behind `waiter` aborted. It is rejected with
    /// [`FetchError::Abort`]; its network request is cancelled only when no
    /// other caller waits on it. Unknown or settled waiters are ignored.
    pub fn abort(&mut self, _now: u64, waiter: WaiterId) {
        if !self.waiters.contains_key(&waiter) {
            return;
        }
        self.stats.aborted_calls += 1;
        self.actions.push_back(Action::Reject {
            waiters: vec![waiter],
            error: FetchError::Abort,
        });
        self.release(waiter);
    }

    /// A network request finished. Results for flights that were cancelled
    /// or timed out are ignored.
    pub fn fetch_done(&mut self, now: u64, flight_id: FlightId, outcome: Outcome<B>) {
        if !self.flights.contains_key(&flight_id) {
            return;
        }
        let flight = self.remove_flight(flight_id);
        for w in &flight.waiters {
            self.waiters.remove(w);
        }
        let result = match &outcome {
            Outcome::Failed(e) => Err(e),
            Outcome::Body { .. } => Ok(()),
        };
        self.circuit_record(now, &flight.spec.url, result, flight.probe);
        match outcome {
            Outcome::Body {
                body,
                etag,
                no_store,
                size,
            } => {
                if flight.store {
                    let kept = self.store(
                        now,
                        &flight.key,
                        body.clone(),
                        size,
                        no_store,
                        flight.ttl_ms,
                        etag,
                    );
                    if kept && flight.stale_on_arrival {
                        self.cache.expire(&flight.key);
                    }
                }
                self.resolve(now, flight.waiters, body, true);
                self.data_changed(now, &flight.key);
            }
            Outcome::Failed(error) => {
                self.stats.errors += 1;
                if flight.store && self.watched.contains_key(&flight.key) {
                    let evicted = self.cache.put_error(&flight.key, error.clone());
                    self.evicted(evicted);
                }
                self.reject(now, flight.waiters, error);
            }
        }
        self.notify(&flight.key);
    }

    /// New data for `key`: kept in the cache when the rules allow it
    /// (not `no_store`, not over `max_body_bytes` or `max_bytes`); otherwise
    /// only shown to the key's listeners, and whatever the entry kept before
    /// is dropped, since this answer replaces it. Returns whether it was kept.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn store(
        &mut self,
        now: u64,
        key: &Key,
        body: B,
        size: usize,
        no_store: bool,
        ttl_ms: u64,
        etag: Option<String>,
    ) -> bool {
        let keep = !no_store && size <= self.config.max_body_bytes && self.cache.fits(size);
        let evicted = if keep {
            self.cache.put_data(key, body, size, now, ttl_ms, etag)
        } else if self.watched.contains_key(key) {
            self.cache.show(key, body)
        } else {
            self.cache.remove(key);
            Vec::new()
        };
        self.evicted(evicted);
        keep
    }

    /// Settle `waiters` with `body`: callers through an action, poll ticks
    /// through their schedule.
    fn resolve(&mut self, now: u64, mut waiters: Vec<WaiterId>, body: B, from_network: bool) {
        for g in self.take_internal(now, &mut waiters, true) {
            self.poll_result(now, g, Ok(()), from_network);
        }
        if !waiters.is_empty() {
            self.actions.push_back(Action::Resolve { waiters, body });
        }
    }

    /// Settle `waiters` with `error`.
    fn reject(&mut self, now: u64, mut waiters: Vec<WaiterId>, error: FetchError) {
        for g in self.take_internal(now, &mut waiters, false) {
            self.poll_result(now, g, Err(&error), true);
        }
        if !waiters.is_empty() {
            self.actions.push_back(Action::Reject { waiters, error });
        }
    }

    /// Take the internal waiters out of `waiters`: detached ones are
    /// dropped, prefetches are counted, poll ticks are returned by group.
    fn take_internal(&mut self, now: u64, waiters: &mut Vec<WaiterId>, ok: bool) -> Vec<GroupId> {
        if self.poll_waiters.is_empty()
            && self.detached.is_empty()
            && self.prefetch_waiters.is_empty()
        {
            return Vec::new();
        }
        let mut groups = Vec::new();
        let mut prefetches = 0;
        waiters.retain(|w| {
            if self.detached.remove(w) {
                return false;
            }
            if self.prefetch_waiters.remove(w) {
                prefetches += 1;
                return false;
            }
            match self.poll_waiters.remove(w) {
                Some(g) => {
                    groups.push(g);
                    false
                }
                None => true,
            }
        });
        for _ in 0..prefetches {
            self.prefetch_done(now, ok);
        }
        groups
    }

    /// Fetch `req` for the cache alone: nobody waits on the result.
    pub(super) fn fetch_detached(&mut self, now: u64, req: GetRequest) {
        let waiter = WaiterId(self.bump());
        self.detached.insert(waiter);
        self.start(now, waiter, req);
    }

    /// Internal requests nobody waits on yet (for leak checks).
    pub fn pending_detached(&self) -> usize {
        self.detached.len()
    }

    /// Drop an internal waiter without settling anyone: its request is
    /// cancelled when nobody else waits on it.
    fn release(&mut self, waiter: WaiterId) {
        let Some(flight_id) = self.waiters.remove(&waiter) else {
            return;
        };
        let flight = self.flights.get_mut(&flight_id).expect("waiter's flight");
        flight.waiters.retain(|w| *w != waiter);
        if flight.waiters.is_empty() {
            let route = flight.route;
            let left_batched = match route {
                Route::Sent(_) => true,
                Route::Alone => flight.batched,
                Route::Queued(_) => false,
            };
            if left_batched {
                // It left through the batch scheduler: the server does the
                // work whether or not anyone waits, so the answer still fills
                // the cache (a user coming back finds it) and nothing is
                // aborted. Plain requests (no batching) are aborted.
                return;
            }
            let flight = self.remove_flight(flight_id);
            if flight.probe {
                // The probe will never answer: the next request probes.
                self.circuit_probe_gone(&flight.spec.url);
            }
            if route == Route::Alone {
                self.stats.cancelled_requests += 1;
                self.actions.push_back(Action::Cancel { flight: flight_id });
            }
            self.notify(&flight.key);
        }
    }

    /// Time has passed: time out every flight whose deadline is `<= now`.
    pub fn handle_timeout(&mut self, now: u64) {
        while let Some(&(at, deadline)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.remove(&(at, deadline));
            match deadline {
                Deadline::Window(batch) => self.flush(now, batch),
                Deadline::Poll(group) => self.tick(now, group),
                Deadline::Socket(t) => self.socket_deadline(now, t),
                Deadline::Intent(id) => self.intent_due(now, id),
                Deadline::Flight(flight_id) => {
                    self.stats.timeouts += 1;
                    let alone = self.flights.get(&flight_id).map(|f| f.route) == Some(Route::Alone);
                    if alone {
                        self.stats.cancelled_requests += 1;
                        self.actions.push_back(Action::Cancel { flight: flight_id });
                    }
                    let ms = self.config.timeout_ms.unwrap_or(0);
                    self.fetch_done(now, flight_id, Outcome::Failed(FetchError::Timeout { ms }));
                }
            }
        }
    }

    /// When `handle_timeout` must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.timers.first().map(|&(t, _)| t)
    }

    /// The next thing to do, if any.
    pub fn poll_action(&mut self) -> Option<Action<B>> {
        self.actions.pop_front()
    }

    /// Make every entry under `prefix` stale (see [`Key::url_under`]): the
    /// next `get` goes to the network. Requests already in flight still
    /// answer their callers, but their data is stored stale. Returns how many
    /// entries and flights were touched.
    pub fn invalidate(&mut self, prefix: &str) -> usize {
        let mut touched = 0;
        for key in self.cache.keys_under(prefix) {
            self.cache.expire(&key);
            self.notify(&key);
            touched += 1;
        }
        for flight in self.flights.values_mut() {
            if flight.key.url_under(prefix) {
                flight.stale_on_arrival = true;
                touched += 1;
            }
        }
        touched
    }

    /// Forget everything cached (logout). Requests in flight still answer
    /// their callers but store nothing.
    pub fn clear(&mut self, now: u64) {
        self.cleared_at = Some(now);
        for key in self.cache.clear() {
            self.notify(&key);
        }
        // Requests in flight still answer their callers but store nothing,
        // so a new request for the same key must not join them.
        for flight in self.flights.values_mut() {
            flight.store = false;
        }
        self.by_key.clear();
        // The socket's subscriptions and pushes belong to the old session.
        self.socket_restart(now);
        // Live keys already served over HTTP while the socket is down would
        // otherwise stay empty until it opens: fetch them again.
        self.refetch_live(now);
    }

    /// A listener started watching `key`: from now on its changes produce
    /// [`Action::Notify`].
    pub fn watch(&mut self, key: &Key) {
        *self.watched.entry(key.clone()).or_insert(0) += 1;
    }

    /// A listener of `key` left.
    pub fn unwatch(&mut self, key: &Key) {
        if let Some(n) = self.watched.get_mut(key) {
            *n -= 1;
            if *n == 0 {
                self.watched.remove(key);
                // Data that was only shown goes with its last listener.
                if self.cache.peek(key).is_some_and(|e| e.shown_only) {
                    self.cache.remove(key);
                }
            }
        }
    }

    /// The cache entry of `key`, without changing its recency.
    pub fn entry(&self, key: &Key) -> Option<&Entry<B>> {
        self.cache.peek(key)
    }

    /// Is a network request for `key` in flight?
    pub fn is_fetching(&self, key: &Key) -> bool {
        self.by_key.contains_key(key)
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        Stats {
            cache_entries: self.cache.len() as u64,
            in_flight: self.flights.len() as u64,
            ..self.stats
        }
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

    fn send_alone(&mut self, flight_id: FlightId) {
        let flight = self.flights.get_mut(&flight_id).expect("known flight");
        flight.route = Route::Alone;
        self.actions.push_back(Action::Fetch {
            flight: flight_id,
            spec: flight.spec.clone(),
        });
    }

    fn remove_flight(&mut self, flight_id: FlightId) -> Flight {
        let flight = self.flights.remove(&flight_id).expect("known flight");
        if self.by_key.get(&flight.key) == Some(&flight_id) {
            self.by_key.remove(&flight.key);
        }
        if let Some(d) = flight.deadline {
            self.timers.remove(&(d, Deadline::Flight(flight_id)));
        }
        match flight.route {
            Route::Alone => {}
            Route::Queued(b) => self.unqueue(b, flight_id),
            Route::Sent(b) => self.leave_sent_batch(b, flight_id),
        }
        flight
    }

    fn evicted(&mut self, keys: Vec<Key>) {
        self.stats.evictions += keys.len() as u64;
        for k in keys {
            self.notify(&k);
        }
    }

    fn notify(&mut self, key: &Key) {
        if self.watched.contains_key(key) {
            self.actions.push_back(Action::Notify { key: key.clone() });
        }
    }

    fn bump(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

/// Spread a seed's bits (splitmix64), so that nearby seeds such as 1, 2, 3
/// do not give nearby first draws.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
