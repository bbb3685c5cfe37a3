//! A simulated shell for the core: interns urls and identities into ids,
//! keeps the bodies (numbers here) the way the JavaScript shell does, drains
//! actions, records what it was asked to do, and checks that every waiter
//! settles exactly once.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Mutex;

use calmfetch::core::{Action, Answer, Config, Core, Fail, Item, KeyRec, Src};

/// Whose request it is: the test-side stand-in for the shell's identity
/// string (Authorization, partition, credential headers). The default one
/// (anonymous) is id 0, the socket's default identity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Identity {
    pub authorization: Option<String>,
    pub partition: Option<String>,
    pub cookie: Option<String>,
}

impl Identity {
    /// `Authorization: Bearer <token>`.
    pub fn bearer(token: &str) -> Self {
        Identity {
            authorization: Some(format!("Bearer {token}")),
            ..Identity::default()
        }
    }

    /// The interned id (the same in every test).
    pub fn id(&self) -> u32 {
        if *self == Identity::default() {
            return 0;
        }
        intern(&IDENTITIES, format!("{self:?}"))
    }
}

static IDENTITIES: Mutex<Vec<String>> = Mutex::new(Vec::new());
static ORIGINS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn intern(table: &Mutex<Vec<String>>, s: String) -> u32 {
    let mut t = table.lock().unwrap_or_else(|e| e.into_inner());
    match t.iter().position(|x| *x == s) {
        Some(i) => i as u32 + 1,
        None => {
            t.push(s);
            t.len() as u32
        }
    }
}

/// `scheme://host[:port]` of a url.
pub fn origin_of(url: &str) -> &str {
    let rest = url.find("://").map_or(0, |i| i + 3);
    match url[rest..].find('/') {
        Some(i) => &url[..rest + i],
        None => url,
    }
}

/// The interned id of an origin (`http://h.test`), the same in every test.
pub fn origin_id(origin: &str) -> u32 {
    intern(&ORIGINS, origin.to_string())
}

/// The size of a url's item in a `/batch` body, as the shell measures it:
/// `{"id":"…","method":"GET","url":"/path"}`.
pub fn item_bytes(url: &str) -> u64 {
    (url.len() - origin_of(url).len()) as u64 + 36
}

/// Options of one `get`.
#[derive(Debug, Clone, Default)]
pub struct Req {
    pub who: Identity,
    pub ttl_ms: Option<u64>,
    pub fresh: bool,
    /// The call's own count of retries (`None`: the client's).
    pub retries: Option<u32>,
}

/// A test-side call: what `Sim::get` returns (a waiter id, or a fresh hit
/// that has none, both settle into `settled`).
pub type Call = usize;

/// How `run_until` answers a plain request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// A 200 with this body.
    Ok(u32),
    /// This status, with a `Retry-After` in ms.
    Status(u16, Option<u64>),
    /// The network failed.
    Network,
}

/// A simulated shell.
pub struct Sim {
    pub core: Core,
    pub now: u64,
    /// How every call settled: a body, or why it failed.
    pub settled: HashMap<Call, Result<u32, Fail>>,
    /// Calls answered at once from a fresh entry (no waiter).
    pub hits: Vec<Call>,
    /// Waiters settled a second time (or never given out).
    pub double_settled: Vec<u32>,
    calls: usize,
    waiting: HashMap<u32, Call>,
    waiter_of: HashMap<Call, u32>,
    /// Plain requests, `(flight, url)`.
    pub fetches: Vec<(u32, String)>,
    /// Requests in flight: flight to its index in `fetches`.
    open: HashMap<u32, usize>,
    pub cancels: Vec<u32>,
    /// Batch requests, `(batch, items)`.
    pub batches: Vec<(u32, Vec<Item>)>,
    pub cancelled_batches: Vec<u32>,
    pub notified: Vec<String>,
    pub polled: Vec<String>,
    /// `Lead` actions, `(url, want)`.
    pub leads: Vec<(String, bool)>,
    /// Answer `Lead { want: true }` at once with `lead(key, true)` (one tab).
    pub auto_lead: bool,
    /// Socket actions: "open", "close", "sub <url>", "unsub <url>".
    pub socket: Vec<String>,
    /// Urls whose key was freed.
    pub freed: Vec<String>,
    /// Urls of the `Prefetched` actions, in order.
    pub prefetched: Vec<String>,
    keys: HashMap<(String, u32), u32>,
    urls: HashMap<u32, (String, u32)>,
    flight_bodies: HashMap<u32, u32>,
    /// The body handed in with `socket_data`, `tab_data` or `restore`.
    staged: Option<u32>,
    /// The body the shell keeps (or shows) for each key.
    pub bodies: HashMap<u32, u32>,
    /// The error each key's entry shows.
    pub errors: HashMap<u32, Fail>,
    /// How many of `fetches` `run_until` has answered.
    pub answered: usize,
    /// Writes the core asked to send, in order.
    pub sends: Vec<u32>,
    /// How writes ended, in order (`None`: it succeeded).
    pub written: Vec<(u32, Option<Fail>)>,
    /// Writes sent and not yet ended.
    pub writes_out: Vec<u32>,
}

impl Sim {
    pub fn new(config: Config) -> Self {
        Sim {
            core: Core::new(config),
            now: 0,
            settled: HashMap::new(),
            hits: Vec::new(),
            double_settled: Vec::new(),
            calls: 0,
            waiting: HashMap::new(),
            waiter_of: HashMap::new(),
            fetches: Vec::new(),
            open: HashMap::new(),
            cancels: Vec::new(),
            batches: Vec::new(),
            cancelled_batches: Vec::new(),
            notified: Vec::new(),
            polled: Vec::new(),
            leads: Vec::new(),
            auto_lead: true,
            socket: Vec::new(),
            freed: Vec::new(),
            prefetched: Vec::new(),
            keys: HashMap::new(),
            urls: HashMap::new(),
            flight_bodies: HashMap::new(),
            staged: None,
            bodies: HashMap::new(),
            errors: HashMap::new(),
            answered: 0,
            sends: Vec::new(),
            written: Vec::new(),
            writes_out: Vec::new(),
        }
    }

    // ---- keys ------------------------------------------------------------

    /// The key of `url` for `who`, interned (with `core.key`) if new.
    pub fn key_as(&mut self, url: &str, who: &Identity) -> u32 {
        let id = who.id();
        if let Some(k) = self.keys.get(&(url.to_string(), id)) {
            return *k;
        }
        let origin = origin_id(origin_of(url));
        let k = self.core.key(origin, id, item_bytes(url));
        assert!(!self.urls.contains_key(&k), "key {k} given out twice");
        self.keys.insert((url.to_string(), id), k);
        self.urls.insert(k, (url.to_string(), id));
        k
    }

    /// The key of `url` (anonymous), interned if new.
    pub fn key(&mut self, url: &str) -> u32 {
        self.key_as(url, &Identity::default())
    }

    /// The key of `url` (anonymous) if it is alive, without interning it.
    pub fn key_of(&self, url: &str) -> Option<u32> {
        self.keys.get(&(url.to_string(), 0)).copied()
    }

    /// The url of a live key.
    pub fn url(&self, key: u32) -> String {
        match self.urls.get(&key) {
            Some((u, _)) => u.clone(),
            None => panic!("an action names key {key}, which is not alive"),
        }
    }

    /// What the core knows of `url`'s key (`None` once it was freed).
    pub fn info(&self, url: &str) -> Option<&KeyRec> {
        self.key_of(url).and_then(|k| self.core.key_info(k))
    }

    /// The body the shell keeps or shows for `url` (anonymous).
    pub fn data(&self, url: &str) -> Option<u32> {
        self.key_of(url).and_then(|k| self.bodies.get(&k).copied())
    }

    /// The error `url`'s entry shows.
    pub fn error(&self, url: &str) -> Option<Fail> {
        self.key_of(url).and_then(|k| self.errors.get(&k).copied())
    }

    /// The snapshot bits of `url` (1 data, 2 stale, 4 fetching, 8 error, 16
    /// shown only); an unknown key is just stale.
    pub fn state(&self, url: &str) -> u32 {
        self.key_of(url).map_or(2, |k| self.core.state(self.now, k))
    }

    pub fn is_stale(&self, url: &str) -> bool {
        self.state(url) & 2 != 0
    }

    // ---- calls -------------------------------------------------------------

    pub fn get(&mut self, url: &str) -> Call {
        self.get_with(url, |_| {})
    }

    pub fn get_with(&mut self, url: &str, f: impl FnOnce(&mut Req)) -> Call {
        let mut r = Req::default();
        f(&mut r);
        let key = self.key_as(url, &r.who);
        let call = self.calls;
        self.calls += 1;
        match self
            .core
            .get_retry(self.now, key, r.ttl_ms, r.fresh, r.retries)
        {
            None => {
                let body = *self
                    .bodies
                    .get(&key)
                    .unwrap_or_else(|| panic!("a fresh hit on {url}, whose body the shell lacks"));
                self.hits.push(call);
                self.settled.insert(call, Ok(body));
            }
            Some(w) => {
                assert!(
                    self.waiting.insert(w, call).is_none(),
                    "waiter {w} given out while still waiting"
                );
                self.waiter_of.insert(call, w);
            }
        }
        self.drain();
        call
    }

    /// The caller's signal aborts (ignored once the call settled, as the
    /// shell does).
    pub fn abort(&mut self, call: Call) {
        if let Some(&w) = self.waiter_of.get(&call) {
            if self.waiting.get(&w) == Some(&call) {
                self.core.abort(self.now, w);
            }
        }
        self.drain();
    }

    pub fn watch(&mut self, url: &str) -> u32 {
        let k = self.key(url);
        self.core.watch(k);
        self.drain();
        k
    }

    pub fn unwatch(&mut self, url: &str) {
        let k = self.key_of(url).expect("a watched key is alive");
        self.core.unwatch(k);
        self.drain();
    }

    pub fn invalidate(&mut self, url: &str) -> bool {
        let touched = self.key_of(url).is_some_and(|k| self.core.invalidate(k));
        self.drain();
        touched
    }

    pub fn clear(&mut self) {
        self.core.clear(self.now);
        self.drain();
    }

    pub fn poll_start(&mut self, url: &str, interval_ms: u64, in_background: bool) -> u32 {
        let k = self.key(url);
        let p = self
            .core
            .poll_start(self.now, k, interval_ms, in_background);
        self.drain();
        p
    }

    pub fn poll_stop(&mut self, poller: u32) {
        self.core.poll_stop(self.now, poller);
        self.drain();
    }

    pub fn set_visible(&mut self, visible: bool) {
        self.core.set_visible(self.now, visible);
        self.drain();
    }

    pub fn set_online(&mut self, online: bool) {
        self.core.set_online(self.now, online);
        self.drain();
    }

    /// The shell's answer about `url`'s poll leadership.
    pub fn lead(&mut self, url: &str, held: bool) {
        let k = self.key_of(url).expect("a polled key is alive");
        self.core.lead(self.now, k, held);
        self.drain();
    }

    pub fn live_add_as(&mut self, url: &str, who: &Identity) -> bool {
        let k = self.key_as(url, who);
        let live = self.core.live_add(self.now, k);
        self.drain();
        live
    }

    pub fn live_add(&mut self, url: &str) -> bool {
        self.live_add_as(url, &Identity::default())
    }

    pub fn live_remove(&mut self, url: &str) {
        let k = self.key_of(url).expect("a live key is alive");
        self.core.live_remove(self.now, k);
        self.drain();
    }

    pub fn socket_opened(&mut self) {
        self.core.socket_opened(self.now);
        self.drain();
    }

    pub fn socket_closed(&mut self) {
        self.core.socket_closed(self.now);
        self.drain();
    }

    /// The socket pushed `body` for `url`.
    pub fn socket_data(&mut self, url: &str, body: u32) {
        let k = self.key(url);
        self.staged = Some(body);
        self.core.socket_data(self.now, k, 1);
        self.drain();
        self.staged = None;
    }

    /// Another tab's poll result for `url`, fetched there at `at`.
    pub fn tab_data(&mut self, url: &str, body: u32, at: u64) -> bool {
        let k = self.key(url);
        self.staged = Some(body);
        let taken = self.core.tab_data(self.now, k, 1, false, at);
        self.drain();
        self.staged = None;
        taken
    }

    /// Data a server rendered with for `url`, fetched there at `at`, fresh for `ttl`.
    pub fn hydrate(&mut self, url: &str, body: u32, at: u64, ttl: u64) -> bool {
        let k = self.key(url);
        self.staged = Some(body);
        let taken = self.core.hydrate(self.now, k, 1, at, ttl, false);
        self.drain();
        self.staged = None;
        taken
    }

    /// Data kept in IndexedDB for `url`, from `at`.
    pub fn restore(&mut self, url: &str, body: u32, at: u64) -> bool {
        let k = self.key(url);
        self.staged = Some(body);
        let taken = self.core.restore(self.now, k, 1, at);
        self.drain();
        self.staged = None;
        taken
    }

    pub fn prefetch(&mut self, url: &str) -> bool {
        let k = self.key(url);
        let started = self.core.prefetch(self.now, k, None);
        self.drain();
        started
    }

    pub fn hover(&mut self, url: &str) -> u32 {
        let k = self.key(url);
        let i = self.core.intent_start(self.now, k);
        self.drain();
        i
    }

    pub fn hover_end(&mut self, intent: u32) {
        self.core.intent_cancel(intent);
        self.drain();
    }

    // ---- writes ------------------------------------------------------------

    /// A write to `url`'s origin: its id.
    pub fn write(&mut self, url: &str) -> u32 {
        let w = self.core.write(self.now, origin_id(origin_of(url)));
        self.drain();
        w
    }

    /// The write's request answered `answer`.
    pub fn write_done(&mut self, write: u32, answer: Answer) {
        self.core.write_done(self.now, write, answer);
        self.drain();
    }

    /// The write's caller aborted.
    pub fn write_abort(&mut self, write: u32) {
        self.core.write_abort(self.now, write);
        self.drain();
    }

    /// How `write` ended last (`None`: not yet; `Some(None)`: it succeeded).
    pub fn ended(&self, write: u32) -> Option<Option<Fail>> {
        self.written
            .iter()
            .rev()
            .find(|(w, _)| *w == write)
            .map(|(_, f)| *f)
    }

    /// A write changed `url` (anonymous).
    pub fn written(&mut self, url: &str) -> bool {
        let k = self.key(url);
        let touched = self.core.written(self.now, k);
        self.drain();
        touched
    }

    /// Data set by hand for `url` (`None`: none any more).
    pub fn set_data(&mut self, url: &str, body: Option<u32>, size: u64) {
        self.set_data_as(url, body, size, false);
    }

    /// Data set by hand for `url`, or an optimistic value.
    pub fn set_data_as(&mut self, url: &str, body: Option<u32>, size: u64, optimistic: bool) {
        let k = self.key(url);
        self.staged = body;
        self.core
            .set_data(self.now, k, body.map(|_| size), optimistic);
        self.drain();
        self.staged = None;
    }

    // ---- answers -----------------------------------------------------------

    /// The flight's request answered 200 with `body`.
    pub fn answer(&mut self, flight: u32, body: u32) {
        self.respond(flight, body, Answer::ok(1));
    }

    /// The flight's request answered `answer`, whose body is `body`.
    pub fn respond(&mut self, flight: u32, body: u32, answer: Answer) {
        self.open.remove(&flight);
        self.flight_bodies.insert(flight, body);
        self.core.fetch_done(self.now, flight, answer);
        self.drain();
    }

    /// The flight's request answered with `status`.
    pub fn fail_status(&mut self, flight: u32, status: u16) {
        self.respond(flight, 0, status_answer(status, None));
    }

    /// The flight's request failed on the network.
    pub fn fail_network(&mut self, flight: u32) {
        self.respond(flight, 0, Answer::network());
    }

    /// One item of a batch answered 200 with `body`.
    pub fn item(&mut self, batch: u32, flight: u32, body: u32) {
        self.item_answer(batch, flight, body, Answer::ok(1));
    }

    /// One item of a batch answered `answer`, whose body is `body`.
    pub fn item_answer(&mut self, batch: u32, flight: u32, body: u32, answer: Answer) {
        self.flight_bodies.insert(flight, body);
        self.core.batch_item(self.now, batch, flight, answer);
        self.drain();
    }

    /// The batch answer ended (`broken`: it could not be read to the end).
    pub fn batch_end(&mut self, batch: u32, broken: bool) {
        self.core.batch_end(self.now, batch, broken);
        self.drain();
    }

    /// The batch POST failed (0: on the network).
    pub fn batch_failed(&mut self, batch: u32, status: u16) {
        self.core.batch_failed(self.now, batch, status);
        self.drain();
    }

    pub fn advance(&mut self, ms: u64) {
        self.now += ms;
        self.core.handle_timeout(self.now);
        self.drain();
    }

    pub fn last_flight(&self) -> u32 {
        self.fetches.last().expect("a fetch").0
    }

    pub fn last_batch(&self) -> (u32, Vec<Item>) {
        self.batches.last().expect("a batch").clone()
    }

    /// The urls of a batch's items, in order.
    pub fn batch_urls(&self, items: &[Item]) -> Vec<String> {
        items.iter().map(|i| self.url(i.key)).collect()
    }

    /// The flight of `url`'s item in a batch.
    pub fn flight_in(&self, items: &[Item], url: &str) -> u32 {
        items
            .iter()
            .find(|i| self.urls.get(&i.key).is_some_and(|(u, _)| u == url))
            .unwrap_or_else(|| panic!("{url} is not in the batch"))
            .flight
    }

    /// Is this flight's plain request still in flight (not answered, not
    /// cancelled)?
    pub fn is_open(&self, flight: u32) -> bool {
        self.open.contains_key(&flight)
    }

    /// Plain requests in flight, as the shell sees them.
    pub fn open_flights(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.open.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Let simulated time run to `until`, answering every plain request
    /// still in flight at once with `reply(url, now)`.
    pub fn run_until(&mut self, until: u64, mut reply: impl FnMut(&str, u64) -> Reply) {
        loop {
            while self.answered < self.fetches.len() {
                let i = self.answered;
                self.answered += 1;
                let (f, url) = self.fetches[i].clone();
                if self.open.get(&f) != Some(&i) {
                    continue; // cancelled: the shell ignores it
                }
                match reply(&url, self.now) {
                    Reply::Ok(b) => self.answer(f, b),
                    Reply::Status(st, ra) => self.respond(f, 0, status_answer(st, ra)),
                    Reply::Network => self.fail_network(f),
                }
            }
            match self.core.poll_timeout() {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    self.core.handle_timeout(self.now);
                    self.drain();
                }
                _ => break,
            }
        }
        self.now = self.now.max(until);
    }

    /// How many plain requests went to `url`.
    pub fn requests_to(&self, url: &str) -> usize {
        self.fetches.iter().filter(|(_, u)| u == url).count()
    }

    // ---- the actions -------------------------------------------------------

    fn body(&self, src: Src) -> u32 {
        match src {
            Src::Flight(f) => *self
                .flight_bodies
                .get(&f)
                .unwrap_or_else(|| panic!("no body was reported for flight {f}")),
            Src::Staged => self.staged.expect("a staged body"),
        }
    }

    fn settle(&mut self, waiter: u32, r: Result<u32, Fail>) {
        match self.waiting.remove(&waiter) {
            Some(call) => {
                self.settled.insert(call, r);
            }
            None => self.double_settled.push(waiter),
        }
    }

    /// Carry out every action, as the shell does.
    pub fn drain(&mut self) {
        // The words the wasm hands the shell are these actions, encoded.
        let mut encoded = Vec::new();
        while let Some(a) = self.core.poll_action() {
            a.encode(&mut encoded);
            assert_eq!(
                self.core.words().get(..encoded.len()),
                Some(&encoded[..]),
                "the action words differ from the actions"
            );
            match a {
                Action::Fetch { flight, key } => {
                    let url = self.url(key);
                    assert!(
                        self.open.insert(flight, self.fetches.len()).is_none(),
                        "flight {flight} sent twice"
                    );
                    self.fetches.push((flight, url));
                }
                Action::CancelFlight(f) => {
                    self.open.remove(&f);
                    self.cancels.push(f);
                }
                Action::Batch { batch, items } => {
                    for i in &items {
                        self.url(i.key);
                    }
                    self.batches.push((batch, items));
                }
                Action::CancelBatch(b) => self.cancelled_batches.push(b),
                Action::Resolve { waiter, src } => {
                    let body = self.body(src);
                    self.settle(waiter, Ok(body));
                }
                Action::ResolveKey { waiter, key } => {
                    let body = *self
                        .bodies
                        .get(&key)
                        .unwrap_or_else(|| panic!("ResolveKey of key {key}, which keeps no body"));
                    self.settle(waiter, Ok(body));
                }
                Action::Reject { waiter, fail } => self.settle(waiter, Err(fail)),
                Action::Keep { key, src } | Action::Show { key, src } => {
                    self.url(key);
                    let body = self.body(src);
                    self.bodies.insert(key, body);
                    self.errors.remove(&key);
                }
                Action::Error { key, fail } => {
                    self.url(key);
                    self.errors.insert(key, fail);
                }
                Action::Drop(key) => {
                    self.url(key);
                    self.bodies.remove(&key);
                    self.errors.remove(&key);
                }
                Action::Notify(key) => {
                    let u = self.url(key);
                    self.notified.push(u);
                }
                Action::Polled(key) => {
                    let u = self.url(key);
                    self.polled.push(u);
                }
                Action::Lead { key, want } => {
                    let u = self.url(key);
                    self.leads.push((u, want));
                    if want && self.auto_lead {
                        self.core.lead(self.now, key, true);
                    }
                }
                Action::SocketOpen => self.socket.push("open".into()),
                Action::SocketClose => self.socket.push("close".into()),
                Action::Sub(key) => {
                    let u = self.url(key);
                    self.socket.push(format!("sub {u}"));
                }
                Action::Unsub(key) => {
                    let u = self.url(key);
                    self.socket.push(format!("unsub {u}"));
                }
                Action::Send(w) => {
                    assert!(!self.writes_out.contains(&w), "write {w} sent twice");
                    self.writes_out.push(w);
                    self.sends.push(w);
                }
                Action::Written { write, fail } => {
                    let out = self.writes_out.iter().position(|x| *x == write);
                    match (out, fail) {
                        (Some(i), _) => {
                            self.writes_out.swap_remove(i);
                        }
                        (None, Some(Fail::Circuit { .. })) => {}
                        _ => panic!("write {write} ended without being out"),
                    }
                    self.written.push((write, fail));
                }
                Action::Prefetched(key) => {
                    let u = self.urls[&key].0.clone();
                    self.prefetched.push(u);
                }
                Action::KeyFree(key) => {
                    let (u, who) = self
                        .urls
                        .remove(&key)
                        .unwrap_or_else(|| panic!("KeyFree of key {key}, which is not alive"));
                    assert!(
                        !self.bodies.contains_key(&key) && !self.errors.contains_key(&key),
                        "{u} was freed while the shell still keeps its body or error"
                    );
                    self.keys.remove(&(u.clone(), who));
                    self.freed.push(u);
                }
            }
        }
        assert!(self.core.words().is_empty(), "the words were not cleared");
    }

    /// Keys the test side still has interned.
    pub fn interned(&self) -> usize {
        self.urls.len()
    }
}

/// An answer with `status` (and `Retry-After`).
pub fn status_answer(status: u16, retry_after: Option<u64>) -> Answer {
    Answer {
        status,
        size: 1,
        flags: 0,
        retry_after,
    }
}
