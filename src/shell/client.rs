//! `WasmClient`: the browser half of a calmfetch client.
//!
//! It feeds the core calls, answers and the clock, and carries out the
//! core's actions: `fetch` with an `AbortController` per flight, one
//! `setTimeout` for the core's next deadline, promise settlement and
//! listener calls. It holds no request logic of its own.

use crate::core::map::Map;
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use js_sys::{Function, Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, AbortSignal, RequestCredentials, RequestInit, Response};

use super::js::{self, fetch_error, invalid, make_error, message_of, now, ErrorInfo};
use super::options::{self as opt, Checked};
use super::poll::Tabs;
use super::socket::{socket_config, SocketSlot};
use crate::core::retry::parse_retry_after;
use crate::core::{
    normalize_url, Action, BatchConfig, BatchFailure, BatchId, CircuitConfig, Config, Core,
    Credentials, FetchError, FetchSpec, FlightId, GetRequest, Identity, Key, Outcome, SocketState,
    WaiterId,
};

/// A caller's promise, waiting for the core to settle it.
struct Pending {
    resolve: Function,
    reject: Function,
    url: String,
    abort: Option<(AbortSignal, Closure<dyn FnMut()>)>,
}

impl Pending {
    /// Detach from the caller's signal; the promise settles right after.
    fn detach(&mut self) {
        if let Some((signal, listener)) = self.abort.take() {
            let _ = signal
                .remove_event_listener_with_callback("abort", listener.as_ref().unchecked_ref());
        }
    }
}

struct Listener {
    key: Key,
    callback: Function,
    /// The request that keeps the key live on the socket, if any.
    live: Option<GetRequest>,
}

/// The client-wide request defaults.
struct Defaults {
    base_url: Option<String>,
    headers: Vec<(String, String)>,
    identity: Identity,
    /// Lower-case names of the headers that identify the user besides
    /// `Authorization` (they go into the key).
    credential_headers: Vec<String>,
}

pub(super) struct Inner {
    pub(super) core: RefCell<Core<JsValue>>,
    defaults: Defaults,
    pending: RefCell<Map<WaiterId, Pending>>,
    /// The `AbortController` of every request on the wire, by flight or
    /// batch id (the core draws both from one counter).
    requests: RefCell<Map<u64, AbortController>>,
    /// Raw URL argument -> its resolved, normalised form (see `absolute`).
    resolved: RefCell<Map<String, String>>,
    listeners: RefCell<Map<u32, Listener>>,
    snapshots: RefCell<Map<Key, (u64, JsValue)>>,
    next_listener: Cell<u32>,
    timer: RefCell<Option<(u64, JsValue)>>,
    on_timer: RefCell<Option<Closure<dyn FnMut()>>>,
    /// `run` is carrying out actions: a nested call (from a listener, an
    /// adapter that calls back at once) leaves them to the running loop.
    running: Cell<bool>,
    pub(super) tabs: RefCell<Tabs>,
    pub(super) socket: SocketSlot,
    /// Skip prefetches on Save-Data and 2G connections.
    pub(super) respect_save_data: bool,
}

/// The wasm side of a client; the package's `Client` class wraps it.
#[wasm_bindgen]
pub struct WasmClient {
    pub(super) inner: Rc<Inner>,
}

impl std::fmt::Debug for WasmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmClient")
            .field("stats", &self.inner.core.borrow().stats())
            .finish_non_exhaustive()
    }
}

const CLIENT_OPTIONS: &[&str] = &[
    "baseUrl",
    "credentialHeaders",
    "batch",
    "circuit",
    "cache",
    "timeoutMs",
    "headers",
    "credentials",
    "partition",
    "poll",
    "prefetch",
    "socket",
];
const POLL_CLIENT_OPTIONS: &[&str] = &["jitter", "maxBackoffMs"];
const CIRCUIT_OPTIONS: &[&str] = &["failures", "coolDownMs"];
const PREFETCH_CLIENT_OPTIONS: &[&str] = &["intentMs", "concurrency", "respectSaveData"];
const CACHE_OPTIONS: &[&str] = &["ttlMs", "maxEntries", "maxBodyBytes", "maxBytes"];
const BATCH_OPTIONS: &[&str] = &[
    "endpoint",
    "windowMs",
    "maxSize",
    "maxBytes",
    "stream",
    "crossOrigin",
];
const GET_OPTIONS: &[&str] = &["signal", "ttlMs", "headers", "fresh", "partition"];
const KEY_OPTIONS: &[&str] = &["headers", "partition"];
/// How many resolved URLs `absolute` remembers before it starts over.
const RESOLVED_MEMO: usize = 1024;

#[wasm_bindgen]
impl WasmClient {
    /// Validate `options` and make a client. Throws a `CalmfetchError` of
    /// kind `invalid` that names the bad option.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<WasmClient, JsValue> {
        Self::build(&options).map_err(|m| invalid(format!("createClient: {m}")))
    }

    /// `client.get(url, options)`: a promise of the parsed JSON body.
    pub fn get(&self, url: JsValue, options: JsValue) -> Promise {
        match self.inner.request(&url, &options, GET_OPTIONS, "get") {
            Ok(req) => self.start_get(req, &options),
            Err(m) => Promise::reject(&invalid(format!("get: {m}"))),
        }
    }

    /// Start listening to `url`'s entry; returns a listener id for
    /// `unsubscribe`. Throws on a bad URL, options or listener.
    pub fn subscribe(
        &self,
        url: JsValue,
        listener: JsValue,
        options: JsValue,
    ) -> Result<u32, JsValue> {
        let callback: Function = listener.dyn_into().map_err(|v| {
            invalid(format!(
                "subscribe: the listener must be a function, got {}",
                opt::describe(&v)
            ))
        })?;
        let req = self
            .inner
            .request(&url, &options, KEY_OPTIONS, "subscribe")
            .map_err(|m| invalid(format!("subscribe: {m}")))?;
        let key = Key::get(&req.url, &req.identity);
        let id = self.inner.next_listener.get().wrapping_add(1);
        self.inner.next_listener.set(id);
        let live = {
            let mut core = self.inner.core.borrow_mut();
            core.watch(&key);
            core.live_add(now(), req.clone()).then_some(req)
        };
        self.inner.listeners.borrow_mut().insert(
            id,
            Listener {
                key,
                callback,
                live,
            },
        );
        self.inner.run();
        Ok(id)
    }

    /// Remove a listener added by `subscribe`. Unknown ids are ignored.
    pub fn unsubscribe(&self, id: u32) {
        let Some(l) = self.inner.listeners.borrow_mut().remove(&id) else {
            return;
        };
        {
            let mut core = self.inner.core.borrow_mut();
            core.unwatch(&l.key);
            if let Some(req) = &l.live {
                core.live_remove(now(), req);
            }
        }
        self.inner.run();
        let still_watched = self
            .inner
            .listeners
            .borrow()
            .values()
            .any(|o| o.key == l.key);
        if !still_watched {
            self.inner.snapshots.borrow_mut().remove(&l.key);
        }
    }

    /// The current snapshot of `url`'s entry: `{ data, error, updatedAt,
    /// stale, isFetching }`. The same object comes back until it changes.
    pub fn peek(&self, url: JsValue, options: JsValue) -> Result<JsValue, JsValue> {
        let key = self
            .inner
            .key(&url, &options)
            .map_err(|m| invalid(format!("peek: {m}")))?;
        Ok(self.inner.snapshot(&key))
    }

    /// Is `url` kept live over the socket when subscribed? Only with a
    /// socket, for the client's own credentials and origin.
    #[wasm_bindgen(js_name = isLive)]
    pub fn is_live(&self, url: JsValue, options: JsValue) -> Result<bool, JsValue> {
        let req = self
            .inner
            .request(&url, &options, KEY_OPTIONS, "isLive")
            .map_err(|m| invalid(format!("isLive: {m}")))?;
        Ok(self.inner.core.borrow().can_live(&req))
    }

    /// `url`'s whole cache key (URL and credentials), for the persisted
    /// cache, which stores only a salted SHA-256 of it.
    #[wasm_bindgen(js_name = keyText)]
    pub fn key_text(&self, url: JsValue, options: JsValue) -> Result<String, JsValue> {
        let key = self
            .inner
            .key(&url, &options)
            .map_err(|m| invalid(format!("keyText: {m}")))?;
        Ok(key.as_str().to_string())
    }

    /// The size in bytes of the body `url`'s entry keeps (0 when it keeps
    /// none), so the persisted cache can store it with the body.
    #[wasm_bindgen(js_name = keptBytes)]
    pub fn kept_bytes(&self, url: JsValue, options: JsValue) -> Result<f64, JsValue> {
        let key = self
            .inner
            .key(&url, &options)
            .map_err(|m| invalid(format!("keptBytes: {m}")))?;
        let core = self.inner.core.borrow();
        Ok(core.entry(&key).map_or(0, |e| e.bytes) as f64)
    }

    /// Put data kept from an earlier visit (the persisted cache), `size`
    /// bytes, into an entry that has none, as of `updated_at` (ms since the
    /// epoch), marked stale. `false` when the entry already had data or the
    /// data is not allowed in the cache.
    pub fn seed(
        &self,
        url: JsValue,
        options: JsValue,
        body: JsValue,
        updated_at: f64,
        size: f64,
    ) -> Result<bool, JsValue> {
        let key = self
            .inner
            .key(&url, &options)
            .map_err(|m| invalid(format!("seed: {m}")))?;
        let at = if updated_at.is_finite() && updated_at > 0.0 {
            updated_at as u64
        } else {
            0
        };
        let size = if size.is_finite() && size >= 0.0 {
            size as usize
        } else {
            usize::MAX
        };
        let restored = self
            .inner
            .core
            .borrow_mut()
            .restore(now(), &key, body, size, at);
        if !restored {
            return Ok(false);
        }
        self.inner.run();
        Ok(true)
    }

    /// Mark entries under `url_or_prefix` stale; returns how many.
    pub fn invalidate(&self, url_or_prefix: JsValue) -> Result<u32, JsValue> {
        let prefix = self
            .inner
            .absolute(&url_or_prefix)
            .map_err(|m| invalid(format!("invalidate: {m}")))?;
        let n = self.inner.core.borrow_mut().invalidate(&prefix);
        self.inner.run();
        Ok(n as u32)
    }

    /// Forget every cached entry (call it on logout).
    pub fn clear(&self) {
        self.inner.core.borrow_mut().clear(now());
        self.inner.run();
    }

    /// Counters: `{ requested, networkRequests, dedupHits, cacheHits, ... }`.
    pub fn stats(&self) -> JsValue {
        let s = self.inner.core.borrow().stats();
        let o = Object::new();
        for (name, v) in [
            ("requested", s.requested),
            ("networkRequests", s.network_requests),
            ("dedupHits", s.dedup_hits),
            ("cacheHits", s.cache_hits),
            ("errors", s.errors),
            ("timeouts", s.timeouts),
            ("abortedCalls", s.aborted_calls),
            ("cancelledRequests", s.cancelled_requests),
            ("evictions", s.evictions),
            ("batchesSent", s.batches_sent),
            ("batchedItems", s.batched_items),
            ("batchFallbacks", s.batch_fallbacks),
            ("batchIgnoredAnswers", s.batch_ignored_answers),
            ("batchProtocolErrors", s.batch_protocol_errors),
            ("revalidated", s.revalidated),
            ("pollTicks", s.poll_ticks),
            ("socketMessages", s.socket_messages),
            ("socketMalformed", s.socket_malformed),
            ("socketSubscribes", s.socket_subscribes),
            ("socketDrops", s.socket_drops),
            ("socketReconnects", s.socket_reconnects),
            ("socketTimeouts", s.socket_timeouts),
            ("prefetched", s.prefetched),
            ("prefetchFailures", s.prefetch_failures),
            ("prefetchSkipped", s.prefetch_skipped),
            ("socketRiders", s.socket_riders),
            ("circuitOpens", s.circuit_opens),
            ("circuitStale", s.circuit_stale),
            ("circuitRefused", s.circuit_refused),
            (
                "memoryBytes",
                wasm_bindgen::memory()
                    .unchecked_into::<js_sys::WebAssembly::Memory>()
                    .buffer()
                    .unchecked_into::<js_sys::ArrayBuffer>()
                    .byte_length() as u64,
            ),
            ("cacheEntries", s.cache_entries),
            ("inFlight", s.in_flight),
        ] {
            js::set(&o, name, v as f64);
        }
        let core = self.inner.core.borrow();
        let state = match core.socket_state() {
            None => "none",
            Some(SocketState::Idle) => "idle",
            Some(SocketState::Connecting { fallen_back: false }) => "connecting",
            Some(SocketState::Connecting { fallen_back: true }) => "connecting-fallback",
            Some(SocketState::Open) => "open",
            Some(SocketState::Waiting) => "reconnecting",
        };
        js::set(&o, "socketState", state);
        js::set(
            &o,
            "socketSubscriptions",
            core.socket_subscriptions() as f64,
        );
        o.into()
    }
}

impl WasmClient {
    /// Hand `req` to the core with a promise for the caller, wired to the
    /// `signal` in `options` if there is one.
    pub(super) fn start_get(&self, req: GetRequest, options: &JsValue) -> Promise {
        let signal = js::get(options, "signal");
        let signal = if signal.is_undefined() {
            None
        } else {
            match signal.dyn_into::<AbortSignal>() {
                Ok(s) => Some(s),
                Err(v) => {
                    return Promise::reject(&invalid(format!(
                        "option `signal` must be an AbortSignal, got {}",
                        opt::describe(&v)
                    )))
                }
            }
        };
        if let Some(s) = &signal {
            if s.aborted() {
                return Promise::reject(&abort_error(&req.url));
            }
        }
        // A fresh cache entry: no waiter, no executor, no action queue.
        let cached = self.inner.core.borrow_mut().get_cached(now(), &req);
        if let Some(body) = cached {
            return Promise::resolve(&body);
        }
        let mut handles: Option<(Function, Function)> = None;
        let promise = Promise::new(&mut |resolve, reject| handles = Some((resolve, reject)));
        let (resolve, reject) = handles.expect("the executor runs at once");
        let url = req.url.clone();
        let waiter = self.inner.core.borrow_mut().get(now(), req);
        let abort = signal.map(|signal| {
            let weak = Rc::downgrade(&self.inner);
            let listener = Closure::<dyn FnMut()>::new(move || {
                if let Some(inner) = weak.upgrade() {
                    inner.core.borrow_mut().abort(now(), waiter);
                    inner.run();
                }
            });
            let _ =
                signal.add_event_listener_with_callback("abort", listener.as_ref().unchecked_ref());
            (signal, listener)
        });
        self.inner.pending.borrow_mut().insert(
            waiter,
            Pending {
                resolve,
                reject,
                url,
                abort,
            },
        );
        self.inner.run();
        promise
    }

    fn build(options: &JsValue) -> Checked<WasmClient> {
        opt::only_known(options, CLIENT_OPTIONS, "createClient options")?;
        let cache = js::get(options, "cache");
        opt::only_known(&cache, CACHE_OPTIONS, "`cache`")?;
        let mut config = Config::default();
        if let Some(ttl) = opt::whole(&cache, "ttlMs", "cache", 0)? {
            config.default_ttl_ms = ttl;
        }
        if let Some(n) = opt::whole(&cache, "maxEntries", "cache", 1)? {
            config.max_entries = n as usize;
        }
        if let Some(n) = opt::whole(&cache, "maxBodyBytes", "cache", 0)? {
            config.max_body_bytes = n.min(usize::MAX as u64) as usize;
        }
        if let Some(n) = opt::whole(&cache, "maxBytes", "cache", 0)? {
            config.max_bytes = n.min(usize::MAX as u64) as usize;
        }
        if let Some(t) = opt::whole(options, "timeoutMs", "createClient", 0)? {
            config.timeout_ms = (t > 0).then_some(t);
        }
        let base_url = match opt::string(options, "baseUrl", "createClient")? {
            Some(b) => Some(
                resolve(&b, page_url().as_deref())
                    .map_err(|m| format!("option `createClient.baseUrl`: {m}"))?,
            ),
            None => page_url(),
        };
        config.batch = batch_config(&js::get(options, "batch"), base_url.as_deref())?;
        let socket = socket_config(&js::get(options, "socket"), base_url.as_deref())?;
        let socket = socket.map(|(cfg, shell)| {
            config.socket = Some(cfg);
            shell
        });
        config.seed = (js_sys::Math::random() * 9.0e15) as u64;
        let prefetch = js::get(options, "prefetch");
        opt::only_known(&prefetch, PREFETCH_CLIENT_OPTIONS, "`prefetch`")?;
        if let Some(ms) = opt::whole(&prefetch, "intentMs", "prefetch", 0)? {
            config.prefetch.intent_ms = ms;
        }
        if let Some(n) = opt::whole(&prefetch, "concurrency", "prefetch", 1)? {
            config.prefetch.concurrency = n as usize;
        }
        let respect_save_data =
            opt::flag(&prefetch, "respectSaveData", "prefetch")?.unwrap_or(true);
        config.circuit = circuit_config(&js::get(options, "circuit"))?;
        let poll = js::get(options, "poll");
        opt::only_known(&poll, POLL_CLIENT_OPTIONS, "`poll`")?;
        let jitter = js::get(&poll, "jitter");
        if !jitter.is_undefined() {
            match jitter.as_f64() {
                Some(j) if (0.0..=0.5).contains(&j) => config.poll.jitter = j,
                _ => {
                    return Err(format!(
                        "option `poll.jitter` must be a number from 0 to 0.5, got {}",
                        opt::describe(&jitter)
                    ))
                }
            }
        }
        if let Some(ms) = opt::whole(&poll, "maxBackoffMs", "poll", 1)? {
            config.poll.max_backoff_ms = ms;
        }
        let credential_headers = opt::credential_headers(options)?;
        let mut headers = opt::headers(options, "createClient")?;
        let mut identity = Identity {
            credentials: opt::credentials(options, "createClient")?.unwrap_or_default(),
            partition: opt::string(options, "partition", "createClient")?,
            ..Identity::default()
        };
        opt::take_credentials(&mut headers, &credential_headers, &mut identity);
        if let Some(sock) = config.socket.as_mut() {
            sock.identity = identity.clone();
            sock.origin = base_url
                .as_deref()
                .map(|b| crate::core::engine::origin(b).to_string());
        }
        let inner = Rc::new(Inner {
            core: RefCell::new(Core::new(config)),
            defaults: Defaults {
                base_url,
                headers,
                identity,
                credential_headers,
            },
            pending: RefCell::default(),
            requests: RefCell::default(),
            resolved: RefCell::default(),
            listeners: RefCell::default(),
            snapshots: RefCell::default(),
            next_listener: Cell::new(0),
            timer: RefCell::new(None),
            on_timer: RefCell::new(None),
            running: Cell::new(false),
            tabs: RefCell::default(),
            socket: RefCell::new(socket),
            respect_save_data,
        });
        let weak = Rc::downgrade(&inner);
        *inner.on_timer.borrow_mut() = Some(Closure::new(move || {
            if let Some(inner) = weak.upgrade() {
                inner.timer.borrow_mut().take();
                inner.core.borrow_mut().handle_timeout(now());
                inner.run();
            }
        }));
        Ok(WasmClient { inner })
    }
}

impl Drop for Inner {
    /// The client was garbage-collected (or freed): cancel its timer and
    /// detach it from the page, so that no event or timeout calls a closure
    /// that died with it. (The page's tabs and socket parts drop likewise.)
    fn drop(&mut self) {
        if let Some((_, handle)) = self.timer.get_mut().take() {
            js::clear_timeout(&handle);
        }
        if let Some(sock) = self.socket.get_mut().as_mut() {
            if let Some(adapter) = super::socket::forget_current(sock) {
                let _ = js::get(&adapter, "close")
                    .unchecked_into::<Function>()
                    .call0(&adapter);
            }
        }
        for pending in self.pending.get_mut().values_mut() {
            pending.detach();
        }
        for request in self.requests.get_mut().values() {
            request.abort();
        }
    }
}

impl Inner {
    /// Resolve and normalise a URL argument.
    fn absolute(&self, url: &JsValue) -> Checked<String> {
        let Some(s) = url.as_string() else {
            return Err(format!(
                "the URL must be a string, got {}",
                opt::describe(url)
            ));
        };
        // Apps ask for the same few URLs again and again: remember how each
        // resolved (the platform's URL parser is the costly part of a `get`).
        if let Some(done) = self.resolved.borrow().get(&s) {
            return Ok(done.clone());
        }
        let done = resolve(&s, self.defaults.base_url.as_deref())?;
        let mut memo = self.resolved.borrow_mut();
        if memo.len() >= RESOLVED_MEMO {
            memo.clear();
        }
        memo.insert(s, done.clone());
        Ok(done)
    }

    /// The request a call describes, defaults merged in.
    pub(super) fn request(
        &self,
        url: &JsValue,
        options: &JsValue,
        allowed: &[&str],
        what: &str,
    ) -> Checked<GetRequest> {
        opt::only_known_in(options, allowed, what, " options")?;
        let url = self.absolute(url)?;
        let mut headers = self.defaults.headers.clone();
        for (n, v) in opt::headers(options, what)? {
            opt::merge_header(&mut headers, n, v);
        }
        let mut identity = self.defaults.identity.clone();
        opt::take_credentials(
            &mut headers,
            &self.defaults.credential_headers,
            &mut identity,
        );
        if let Some(p) = opt::string(options, "partition", what)? {
            identity.partition = Some(p);
        }
        let ttl_ms = if allowed.contains(&"ttlMs") {
            opt::whole(options, "ttlMs", what, 0)?
        } else {
            None
        };
        let fresh = if allowed.contains(&"fresh") {
            opt::flag(options, "fresh", what)?.unwrap_or(false)
        } else {
            false
        };
        Ok(GetRequest {
            url,
            identity,
            headers,
            ttl_ms,
            fresh,
        })
    }

    fn key(&self, url: &JsValue, options: &JsValue) -> Checked<Key> {
        let r = self.request(url, options, KEY_OPTIONS, "subscribe")?;
        Ok(Key::get(&r.url, &r.identity))
    }

    /// Carry out every queued action, then re-arm the timer. Not re-entrant:
    /// JS called from here (a listener, a socket adapter) may call back into
    /// the client, and what that queues is carried out by the loop already
    /// running, after the current action, never in the middle of it.
    pub(super) fn run(self: &Rc<Self>) {
        if self.running.replace(true) {
            return;
        }
        self.drain_actions();
        self.running.set(false);
    }

    fn drain_actions(self: &Rc<Self>) {
        loop {
            // Take one action at a time so listeners may call back in.
            let action = self.core.borrow_mut().poll_action();
            let Some(action) = action else { break };
            match action {
                Action::Fetch { flight, spec } => self.start_fetch(flight, spec),
                Action::SendBatch { batch, spec, body } => self.start_batch(batch, spec, body),
                Action::Cancel {
                    flight: FlightId(id),
                }
                | Action::CancelBatch { batch: BatchId(id) } => {
                    if let Some(c) = self.requests.borrow_mut().remove(&id) {
                        c.abort();
                    }
                }
                Action::Resolve { waiters, body } => {
                    for p in self.take_pending(&waiters) {
                        let _ = p.resolve.call1(&JsValue::NULL, &body);
                    }
                }
                Action::Reject { waiters, error } => {
                    let pending = self.take_pending(&waiters);
                    if let Some(first) = pending.first() {
                        let e = match error {
                            FetchError::Abort => abort_error(&first.url),
                            _ => fetch_error(&first.url, &error),
                        };
                        for p in &pending {
                            let _ = p.reject.call1(&JsValue::NULL, &e);
                        }
                    }
                }
                Action::Notify { key } => self.notify(&key),
                Action::Polled { key } => self.share_polled(&key),
                Action::SocketOpen => self.socket_open(),
                Action::SocketSend { text } => self.socket_send(&text),
                Action::SocketClose => self.socket_close(),
                Action::SocketProblem { message } => self.socket_problem(&message),
            }
        }
        self.arm_timer();
    }

    fn take_pending(&self, waiters: &[WaiterId]) -> Vec<Pending> {
        let mut table = self.pending.borrow_mut();
        waiters
            .iter()
            .filter_map(|w| table.remove(w))
            .map(|mut p| {
                p.detach();
                p
            })
            .collect()
    }

    fn notify(self: &Rc<Self>, key: &Key) {
        self.snapshots.borrow_mut().remove(key);
        let callbacks: Vec<Function> = self
            .listeners
            .borrow()
            .values()
            .filter(|l| &l.key == key)
            .map(|l| l.callback.clone())
            .collect();
        if callbacks.is_empty() {
            return;
        }
        let snapshot = self.snapshot(key);
        for cb in callbacks {
            if let Err(e) = cb.call1(&JsValue::NULL, &snapshot) {
                web_sys::console::error_2(&"calmfetch: a subscribe listener threw".into(), &e);
            }
        }
    }

    /// The snapshot object of `key`, cached while the entry is unchanged.
    fn snapshot(&self, key: &Key) -> JsValue {
        let t = now();
        let core = self.core.borrow();
        let entry = core.entry(key);
        let fetching = core.is_fetching(key);
        let stale = entry.is_none_or(|e| e.is_stale(t));
        let version = entry.map_or(0, |e| e.version);
        let stamp = version << 2 | (fetching as u64) << 1 | stale as u64;
        if let Some((s, v)) = self.snapshots.borrow().get(key) {
            if *s == stamp {
                return v.clone();
            }
        }
        let o = Object::new();
        let (data, error, updated_at) = match entry {
            Some(e) => (
                e.data.clone().unwrap_or(JsValue::UNDEFINED),
                e.error
                    .as_ref()
                    .map_or(JsValue::UNDEFINED, |err| fetch_error(key.url(), err)),
                e.updated_at
                    .map_or(JsValue::UNDEFINED, |t| (t as f64).into()),
            ),
            None => (JsValue::UNDEFINED, JsValue::UNDEFINED, JsValue::UNDEFINED),
        };
        js::set(&o, "data", data);
        js::set(&o, "error", error);
        js::set(&o, "updatedAt", updated_at);
        js::set(&o, "stale", stale);
        js::set(&o, "isFetching", fetching);
        let o: JsValue = Object::freeze(&o).into();
        if self.listeners.borrow().values().any(|l| &l.key == key) {
            self.snapshots
                .borrow_mut()
                .insert(key.clone(), (stamp, o.clone()));
        }
        o
    }

    fn arm_timer(&self) {
        let due = self.core.borrow().poll_timeout();
        let mut timer = self.timer.borrow_mut();
        if timer.as_ref().map(|(at, _)| *at) == due {
            return;
        }
        if let Some((_, handle)) = timer.take() {
            js::clear_timeout(&handle);
        }
        if let Some(at) = due {
            let delay = at.saturating_sub(now()) as f64; // clamped by set_timeout
            if let Some(cb) = self.on_timer.borrow().as_ref() {
                *timer = Some((at, js::set_timeout(cb.as_ref().unchecked_ref(), delay)));
            }
        }
    }

    /// Send a request and register its `AbortController` under `id`.
    /// `None` if the platform refused to make a controller.
    fn send(&self, id: u64, spec: &FetchSpec, body: Option<&str>) -> Result<Promise, String> {
        let controller = AbortController::new().map_err(|e| message_of(&e))?;
        let init = RequestInit::new();
        init.set_method(if body.is_some() { "POST" } else { "GET" });
        let headers = Object::new();
        for (n, v) in &spec.headers {
            js::set(&headers, n, v.as_str());
        }
        init.set_headers(&headers);
        init.set_credentials(match spec.credentials {
            Credentials::SameOrigin => RequestCredentials::SameOrigin,
            Credentials::Include => RequestCredentials::Include,
            Credentials::Omit => RequestCredentials::Omit,
        });
        if let Some(body) = body {
            init.set_body(&JsValue::from_str(body));
        }
        init.set_signal(Some(&controller.signal()));
        let promise = js::fetch_with_init(&spec.url, &init).map_err(|e| message_of(&e))?;
        self.requests.borrow_mut().insert(id, controller);
        Ok(promise)
    }

    /// Is the request `id` still wanted? (Takes it off the table when
    /// `finished`.)
    fn still_wanted(&self, id: u64, finished: bool) -> bool {
        let mut requests = self.requests.borrow_mut();
        if finished {
            requests.remove(&id).is_some()
        } else {
            requests.contains_key(&id)
        }
    }

    fn start_fetch(self: &Rc<Self>, flight: FlightId, spec: FetchSpec) {
        let promise = match self.send(flight.0, &spec, None) {
            Ok(p) => p,
            Err(why) => {
                let outcome = Outcome::Failed(FetchError::Network(why));
                self.core.borrow_mut().fetch_done(now(), flight, outcome);
                return;
            }
        };
        let weak: Weak<Inner> = Rc::downgrade(self);
        wasm_bindgen_futures::spawn_local(async move {
            let max_body = inner_max_body(&weak);
            let outcome = perform(promise, max_body).await;
            let Some(inner) = weak.upgrade() else { return };
            if !inner.still_wanted(flight.0, true) {
                return; // cancelled: the core has already settled its callers
            }
            inner.core.borrow_mut().fetch_done(now(), flight, outcome);
            inner.run();
        });
    }

    fn start_batch(self: &Rc<Self>, batch: BatchId, spec: FetchSpec, body: String) {
        let promise = match self.send(batch.0, &spec, Some(&body)) {
            Ok(p) => p,
            Err(why) => {
                let failure = BatchFailure::Network(why);
                self.core.borrow_mut().batch_failed(now(), batch, failure);
                return;
            }
        };
        let weak: Weak<Inner> = Rc::downgrade(self);
        wasm_bindgen_futures::spawn_local(async move {
            let result = read_batch(&weak, batch, promise).await;
            let Some(inner) = weak.upgrade() else { return };
            if !inner.still_wanted(batch.0, true) {
                return;
            }
            if let Err(failure) = result {
                inner.core.borrow_mut().batch_failed(now(), batch, failure);
            }
            inner.run();
        });
    }
}

/// Parse one item body with the platform's JSON parser.
fn parse_json(raw: &str) -> Result<JsValue, String> {
    js_sys::JSON::parse(raw).map_err(|e| message_of(&e))
}

/// Read a batch answer, feeding the core as it arrives: line by line for
/// NDJSON, whole for plain JSON. `Err` is a failure of the whole batch.
async fn read_batch(
    weak: &Weak<Inner>,
    batch: BatchId,
    promise: Promise,
) -> Result<(), BatchFailure> {
    let net = |e: JsValue| BatchFailure::Network(message_of(&e));
    let response: Response = JsFuture::from(promise).await.map_err(net)?.unchecked_into();
    let ndjson = response
        .headers()
        .get("content-type")
        .ok()
        .flatten()
        .is_some_and(|t| crate::core::key::contains(&t, "ndjson"));
    if !response.ok() || !ndjson {
        let text = JsFuture::from(response.text().map_err(net)?)
            .await
            .map_err(net)?;
        let text = text.as_string().unwrap_or_default();
        if !response.ok() {
            return Err(BatchFailure::Status {
                status: response.status(),
                body: text,
            });
        }
        if let Some(inner) = weak.upgrade() {
            if inner.still_wanted(batch.0, false) {
                inner
                    .core
                    .borrow_mut()
                    .batch_body(now(), batch, &text, &mut parse_json);
            }
        }
        return Ok(());
    }
    let Some(stream) = response.body() else {
        return Err(BatchFailure::Network(
            "the NDJSON answer has no body".into(),
        ));
    };
    let reader: web_sys::ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    let decoder = web_sys::TextDecoder::new().map_err(net)?;
    let streaming = web_sys::TextDecodeOptions::new();
    streaming.set_stream(true);
    let mut buffer = String::new();
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(|e| {
            BatchFailure::Network(format!("the answer stream broke: {}", message_of(&e)))
        })?;
        let Some(inner) = weak.upgrade() else {
            return Ok(());
        };
        if !inner.still_wanted(batch.0, false) {
            let _ = reader.cancel();
            return Ok(());
        }
        if js::get(&chunk, "done").is_truthy() {
            buffer.push_str(&decoder.decode().unwrap_or_default());
            inner
                .core
                .borrow_mut()
                .batch_end(now(), batch, &buffer, &mut parse_json);
            return Ok(());
        }
        let bytes: Object = js::get(&chunk, "value").unchecked_into();
        buffer.push_str(
            &decoder
                .decode_with_buffer_source_and_options(&bytes, &streaming)
                .map_err(net)?,
        );
        while let Some(end) = buffer.find('\n') {
            let line: String = buffer.drain(..=end).collect();
            inner
                .core
                .borrow_mut()
                .batch_line(now(), batch, &line, &mut parse_json);
        }
        inner.run();
    }
}

fn inner_max_body(weak: &Weak<Inner>) -> usize {
    weak.upgrade()
        .map_or(usize::MAX, |i| i.core.borrow().config().max_body_bytes)
}

/// Await a `fetch` and turn its answer into an outcome. The body stays a
/// JS string (its length is its size; `JSON.parse` reads it in JS): it never
/// enters wasm memory, except an error body within `max_body` bytes, which
/// the error carries.
async fn perform(promise: Promise, max_body: usize) -> Outcome<JsValue> {
    let net = |e: JsValue| Outcome::Failed(FetchError::Network(message_of(&e)));
    let response: Response = match JsFuture::from(promise).await {
        Ok(r) => r.unchecked_into(),
        Err(e) => return net(e),
    };
    let text: js_sys::JsString = match response.text() {
        Ok(p) => match JsFuture::from(p).await {
            Ok(t) => t.unchecked_into(),
            Err(e) => return net(e),
        },
        Err(e) => return net(e),
    };
    // UTF-16 code units: the UTF-8 size is at least this, at most 3x.
    let size = text.length() as usize;
    let status = response.status();
    let headers = response.headers();
    if !response.ok() {
        let retry_after = headers
            .get("retry-after")
            .ok()
            .flatten()
            .and_then(|v| parse_retry_after(&v, js::wall_now()));
        let body = if size <= max_body {
            String::from(text)
        } else {
            String::new()
        };
        return Outcome::Failed(FetchError::Http {
            status,
            body,
            retry_after,
        });
    }
    let body = if text.trim().length() == 0 {
        JsValue::NULL
    } else {
        match js::json_parse(&text) {
            Ok(v) => v,
            Err(e) => return Outcome::Failed(FetchError::Parse(message_of(&e))),
        }
    };
    let etag = headers.get("etag").ok().flatten();
    let no_store = headers
        .get("cache-control")
        .ok()
        .flatten()
        .is_some_and(|c| crate::core::key::no_store(&c));
    Outcome::Body {
        body,
        etag,
        no_store,
        size,
    }
}

fn abort_error(url: &str) -> JsValue {
    make_error(
        &format!("calmfetch: GET {url} failed: {}", FetchError::Abort),
        ErrorInfo {
            kind: "abort",
            url: Some(url),
            ..Default::default()
        },
    )
}

/// The page's own URL, when there is a page (not in a worker without one).
fn page_url() -> Option<String> {
    js::get(&js::get(&js_sys::global(), "location"), "href").as_string()
}

/// Resolve `url` against `base` with the platform's URL parser, then
/// normalise it for the key.
fn resolve(url: &str, base: Option<&str>) -> Checked<String> {
    let parsed = match base {
        Some(b) => web_sys::Url::new_with_base(url, b),
        None => web_sys::Url::new(url),
    };
    let href = match parsed {
        Ok(u) => u.href(),
        Err(_) if base.is_none() => {
            return Err(format!(
                "`{}` is not an absolute URL, and there is no page location or `baseUrl` to resolve it against",
                redact(url)
            ))
        }
        Err(_) => return Err(format!("`{}` is not a valid URL", redact(url))),
    };
    normalize_url(&href).map_err(|e| e.to_string())
}

/// `url` fit to appear in an error: with a user name or password in it,
/// only its scheme is shown.
fn redact(url: &str) -> &str {
    let b = url.as_bytes();
    let start = b.windows(3).position(|w| w == b"://").map_or(0, |i| i + 3);
    let authority = b[start..]
        .iter()
        .take_while(|&&c| c != b'/' && c != b'?' && c != b'#');
    if authority.clone().any(|&c| c == b'@') {
        &url[..start]
    } else {
        url
    }
}

/// Read `batch: true | { endpoint, windowMs, maxSize, maxBytes, stream, crossOrigin }`.
fn batch_config(v: &JsValue, base: Option<&str>) -> Checked<Option<BatchConfig>> {
    if v.is_undefined() || v.as_bool() == Some(false) {
        return Ok(None);
    }
    let obj = if v.as_bool() == Some(true) {
        JsValue::UNDEFINED
    } else {
        opt::only_known(v, BATCH_OPTIONS, "`batch`")?;
        v.clone()
    };
    let endpoint = opt::string(&obj, "endpoint", "batch")?.unwrap_or_else(|| "/batch".into());
    let endpoint = resolve(&endpoint, base).map_err(|m| format!("option `batch.endpoint`: {m}"))?;
    let mut cfg = BatchConfig::new(endpoint);
    if let Some(w) = opt::whole(&obj, "windowMs", "batch", 0)? {
        cfg.window_ms = w;
    }
    if let Some(n) = opt::whole(&obj, "maxSize", "batch", 1)? {
        cfg.max_size = n as usize;
    }
    if let Some(n) = opt::whole(&obj, "maxBytes", "batch", 1)? {
        cfg.max_bytes = n as usize;
    }
    cfg.stream = opt::flag(&obj, "stream", "batch")?.unwrap_or(false);
    let cross = opt::flag(&obj, "crossOrigin", "batch")?.unwrap_or(false);
    if let Some(page) = page_url() {
        let same = crate::core::origin(&cfg.endpoint) == crate::core::origin(&page);
        if !same && !cross {
            return Err(format!(
                "option `batch.endpoint` ({}) is on another origin than the page; set `batch.crossOrigin: true` to allow it",
                cfg.endpoint
            ));
        }
    }
    Ok(Some(cfg))
}

/// `circuit`: on by default; `false` turns it off.
fn circuit_config(v: &JsValue) -> Checked<Option<CircuitConfig>> {
    if v.is_undefined() || *v == JsValue::TRUE {
        return Ok(Some(CircuitConfig::default()));
    }
    if *v == JsValue::FALSE {
        return Ok(None);
    }
    opt::only_known(v, CIRCUIT_OPTIONS, "`circuit`")?;
    let mut cfg = CircuitConfig::default();
    if let Some(n) = opt::whole(v, "failures", "circuit", 1)? {
        cfg.failures = n.min(u32::MAX as u64) as u32;
    }
    if let Some(ms) = opt::whole(v, "coolDownMs", "circuit", 1)? {
        cfg.cool_down_ms = ms;
    }
    Ok(Some(cfg))
}
