//! Realtime first: one socket, one subscription per key, and a gentle
//! fallback when the socket is slow or down.
//!
//! - Listeners of a key share one socket subscription; when the last one
//!   leaves, the subscription lingers `linger_ms` before it is dropped.
//! - Pushed data goes into the cache and to listeners, and HTTP polling of a
//!   live key is suspended.
//! - Not open within `connect_timeout_ms`, or closed: listeners keep the
//!   cached data (marked stale after a drop), keys with no data are fetched
//!   over HTTP (batched when batching is on), pollers resume. A slow
//!   handshake that completes later still takes over.
//! - Reconnects wait a random time in `[0, min(max_ms, min_ms * 2^n)]` (full
//!   jitter), so a thousand clients losing a server do not come back as one
//!   wave. On every (re)connect each key is subscribed again; keys the socket
//!   has not refreshed within `resync_ms` are fetched over HTTP together,
//!   which is one batch when batching is on.

use super::*;
use crate::core::socket_msg::{self, ServerMsg};

/// Socket settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketConfig {
    /// Fall back to HTTP when the socket is not open after this long.
    pub connect_timeout_ms: u64,
    /// Smallest reconnect window.
    pub reconnect_min_ms: u64,
    /// Largest reconnect window.
    pub reconnect_max_ms: u64,
    /// How long a subscription outlives its last listener.
    pub linger_ms: u64,
    /// After (re)subscribing, keys the socket has not refreshed within this
    /// long are fetched over HTTP.
    pub resync_ms: u64,
    /// Whose connection it is. Only keys with exactly this identity go live:
    /// a socket carries the credentials it was opened with (cookies or its
    /// URL), never a caller's own `Authorization` or partition, so keys of
    /// any other identity are served over HTTP only.
    pub identity: Identity,
    /// The origin whose paths the server's keys name (`None`: any). Keys on
    /// other origins are served over HTTP only.
    pub origin: Option<String>,
}

impl Default for SocketConfig {
    fn default() -> Self {
        SocketConfig {
            connect_timeout_ms: 5_000,
            reconnect_min_ms: 1_000,
            reconnect_max_ms: 30_000,
            linger_ms: 1_000,
            resync_ms: 1_500,
            identity: Identity::default(),
            origin: None,
        }
    }
}

/// Where the socket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketState {
    /// Nobody listens; no socket.
    Idle,
    /// Opening. `fallen_back` once `connect_timeout_ms` has passed.
    Connecting {
        /// The connect timeout has passed and HTTP served the page.
        fallen_back: bool,
    },
    /// Open and subscribed.
    Open,
    /// Closed; reconnecting at the armed deadline.
    Waiting,
}

/// What the socket deadlines are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SocketTimer {
    /// The connect timeout.
    Connect,
    /// The next reconnect.
    Reconnect,
    /// The resync check after subscribing.
    Resync,
    /// A subscription's linger after its last listener left.
    Linger(u64),
}

#[derive(Debug)]
pub(super) struct Live {
    id: u64,
    key: Key,
    req: GetRequest,
    listeners: usize,
    subscribed: bool,
    refreshed: bool,
    linger_at: Option<u64>,
}

#[derive(Debug)]
pub(super) struct Socket {
    pub(super) cfg: SocketConfig,
    pub(super) state: SocketState,
    attempt: u32,
    /// When the current connection opened. The reconnect backoff starts
    /// over only after a connection stayed open for `reconnect_max_ms`, so a
    /// server that accepts and drops at once is not hammered.
    opened_at: Option<u64>,
    /// Live keys by socket topic (path and query).
    live: Map<String, Live>,
    timers: Vec<(u64, SocketTimer)>,
}

impl Socket {
    pub(super) fn new(cfg: SocketConfig) -> Self {
        Socket {
            cfg,
            state: SocketState::Idle,
            attempt: 0,
            opened_at: None,
            live: Map::default(),
            timers: Vec::new(),
        }
    }
}

/// The socket topic of a URL: its path and query.
fn topic(url: &str) -> String {
    match &url[origin(url).len()..] {
        "" => "/".into(),
        p => p.into(),
    }
}

impl<B: Clone> Core<B> {
    /// A live key with no data and no request in flight.
    fn needs_fetch(&self, key: &Key) -> bool {
        !self.by_key.contains_key(key) && self.cache.peek(key).is_none_or(|e| e.data.is_none())
    }

    /// After `clear`: while the socket is down and HTTP serves live keys,
    /// fetch the ones that now have no data.
    pub(super) fn refetch_live(&mut self, now: u64) {
        let Some(sock) = self.socket.as_ref() else {
            return;
        };
        if !matches!(
            sock.state,
            SocketState::Connecting { fallen_back: true } | SocketState::Waiting
        ) {
            return;
        }
        let mut topics: Vec<String> = sock.live.keys().cloned().collect();
        topics.sort_unstable();
        for t in topics {
            self.fetch_if_missing(now, &t);
        }
    }

    /// Live keys of `identity` with no data and no request in flight, while
    /// the socket is not open (the candidates to ride along in a batch).
    pub(super) fn live_without_data(&self, identity: &Identity) -> Vec<GetRequest> {
        let Some(sock) = self.socket.as_ref() else {
            return Vec::new();
        };
        if sock.state == SocketState::Open {
            return Vec::new();
        }
        let mut out: Vec<GetRequest> = sock
            .live
            .values()
            .filter(|l| l.req.identity == *identity && self.needs_fetch(&l.key))
            .map(|l| l.req.clone())
            .collect();
        // A stable order, whatever the map's.
        out.sort_unstable_by(|a, b| a.url.cmp(&b.url));
        out
    }

    /// Can `req`'s key be kept live? Only with a socket, and only for the
    /// socket's own identity and origin (see [`SocketConfig::identity`]).
    pub fn can_live(&self, req: &GetRequest) -> bool {
        self.socket.as_ref().is_some_and(|sock| {
            req.identity == sock.cfg.identity
                && sock
                    .cfg
                    .origin
                    .as_deref()
                    .is_none_or(|o| origin(&req.url) == o)
        })
    }

    /// A listener wants `req`'s key live. Returns `false` when it cannot be
    /// (no socket, or another identity or origin: see [`Core::can_live`]);
    /// the key is then only served over HTTP.
    pub fn live_add(&mut self, now: u64, req: GetRequest) -> bool {
        if !self.can_live(&req) {
            return false;
        }
        let Some(sock) = self.socket.as_mut() else {
            return false;
        };
        let t = topic(&req.url);
        let key = Key::get(&req.url, &req.identity);
        let id = self.next_id + 1;
        self.next_id = id;
        let live = sock.live.entry(t.clone()).or_insert_with(|| Live {
            id,
            key,
            req,
            listeners: 0,
            subscribed: false,
            refreshed: false,
            linger_at: None,
        });
        live.listeners += 1;
        if let Some(at) = live.linger_at.take() {
            let lid = live.id;
            self.socket_disarm(at, SocketTimer::Linger(lid));
        }
        let sock = self.socket.as_mut().expect("socket");
        match sock.state {
            SocketState::Idle => self.socket_connect(now),
            SocketState::Open => self.socket_subscribe(now, &t),
            SocketState::Connecting { fallen_back: true } | SocketState::Waiting => {
                self.fetch_if_missing(now, &t)
            }
            SocketState::Connecting { fallen_back: false } => {}
        }
        true
    }

    /// A listener of `req`'s key left.
    pub fn live_remove(&mut self, now: u64, req: &GetRequest) {
        let Some(sock) = self.socket.as_mut() else {
            return;
        };
        let t = topic(&req.url);
        let linger = sock.cfg.linger_ms;
        let Some(live) = sock.live.get_mut(&t) else {
            return;
        };
        live.listeners = live.listeners.saturating_sub(1);
        if live.listeners == 0 && live.linger_at.is_none() {
            let at = now.saturating_add(linger);
            live.linger_at = Some(at);
            let lid = live.id;
            self.socket_arm(at, SocketTimer::Linger(lid));
        }
    }

    /// The socket opened.
    pub fn socket_opened(&mut self, now: u64) {
        let Some(sock) = self.socket.as_mut() else {
            return;
        };
        sock.state = SocketState::Open;
        sock.opened_at = Some(now);
        let topics: Vec<String> = sock.live.keys().cloned().collect();
        self.socket_disarm_kind(SocketTimer::Connect);
        for t in &topics {
            self.socket_subscribe(now, t);
        }
        let resync = self.socket.as_ref().expect("socket").cfg.resync_ms;
        self.socket_arm(now.saturating_add(resync), SocketTimer::Resync);
    }

    /// The socket closed (or failed to open).
    pub fn socket_closed(&mut self, now: u64) {
        let jitter = self.next_unit();
        let Some(sock) = self.socket.as_mut() else {
            return;
        };
        if sock.state == SocketState::Idle {
            return;
        }
        self.stats.socket_drops += 1;
        if let Some(at) = sock.opened_at.take() {
            if now.saturating_sub(at) >= sock.cfg.reconnect_max_ms {
                sock.attempt = 0;
            }
        }
        self.socket_disarm_kind(SocketTimer::Connect);
        self.socket_disarm_kind(SocketTimer::Resync);
        let sock = self.socket.as_mut().expect("socket");
        let topics: Vec<String> = sock.live.keys().cloned().collect();
        if topics.is_empty() {
            sock.state = SocketState::Idle;
            return;
        }
        sock.state = SocketState::Waiting;
        let window = sock
            .cfg
            .reconnect_min_ms
            .saturating_mul(1u64 << sock.attempt.min(20))
            .min(sock.cfg.reconnect_max_ms.max(sock.cfg.reconnect_min_ms));
        sock.attempt = sock.attempt.saturating_add(1);
        let delay = (window as f64 * jitter) as u64;
        self.socket_arm(now.saturating_add(delay), SocketTimer::Reconnect);
        for t in &topics {
            let live = self
                .socket
                .as_mut()
                .expect("socket")
                .live
                .get_mut(t)
                .expect("live");
            live.subscribed = false;
            live.refreshed = false;
            let key = live.key.clone();
            // What the socket pushed may be out of date now: stale, not gone.
            if self.cache.expire(&key) {
                self.notify(&key);
            }
            self.set_live(now, &key, false);
            self.fetch_if_missing(now, t);
        }
    }

    /// A text message from the socket. Malformed ones are counted and
    /// reported with [`Action::SocketProblem`]; they never affect other keys.
    pub fn socket_message(
        &mut self,
        now: u64,
        text: &str,
        parse: &mut dyn FnMut(&str) -> Result<B, String>,
    ) {
        if self.socket.is_none() {
            return;
        }
        self.stats.socket_messages += 1;
        let problem = match socket_msg::decode(text) {
            Err(why) => Some(why),
            Ok(ServerMsg::Data { key, body }) => match parse(body) {
                Err(why) => Some(format!("the body for `{key}` is not JSON ({why})")),
                Ok(body) => {
                    let sock = self.socket.as_mut().expect("socket");
                    if let Some(live) = sock.live.get_mut(&key) {
                        live.refreshed = true;
                        let k = live.key.clone();
                        let size = text.len();
                        self.external_data(now, &k, body, size, None, now);
                    }
                    None
                }
            },
            Ok(ServerMsg::Error { key, message }) => {
                let sock = self.socket.as_mut().expect("socket");
                if let Some(live) = sock.live.get(&key) {
                    let k = live.key.clone();
                    let evicted = self
                        .cache
                        .put_error(&k, FetchError::Network(format!("socket: {message}")));
                    self.evicted(evicted);
                    self.notify(&k);
                }
                None
            }
        };
        if let Some(why) = problem {
            self.stats.socket_malformed += 1;
            let shown: String = text.chars().take(80).collect();
            self.actions.push_back(Action::SocketProblem {
                message: format!("malformed socket message: {why}: {shown}"),
            });
        }
    }

    /// The socket's state.
    pub fn socket_state(&self) -> Option<SocketState> {
        self.socket.as_ref().map(|s| s.state)
    }

    /// Socket subscriptions held now.
    pub fn socket_subscriptions(&self) -> usize {
        self.socket
            .as_ref()
            .map_or(0, |s| s.live.values().filter(|l| l.subscribed).count())
    }

    pub(super) fn socket_deadline(&mut self, now: u64, timer: SocketTimer) {
        if let Some(sock) = self.socket.as_mut() {
            sock.timers.retain(|&(at, t)| !(t == timer && at <= now));
        }
        let Some(sock) = self.socket.as_mut() else {
            return;
        };
        match timer {
            SocketTimer::Connect => {
                if let SocketState::Connecting { .. } = sock.state {
                    sock.state = SocketState::Connecting { fallen_back: true };
                    self.stats.socket_timeouts += 1;
                    let topics: Vec<String> = sock.live.keys().cloned().collect();
                    for t in &topics {
                        self.fetch_if_missing(now, t);
                    }
                }
            }
            SocketTimer::Reconnect => {
                if sock.state == SocketState::Waiting {
                    self.stats.socket_reconnects += 1;
                    self.socket_connect(now);
                }
            }
            SocketTimer::Resync => {
                let stale: Vec<GetRequest> = sock
                    .live
                    .values()
                    .filter(|l| !l.refreshed)
                    .map(|l| GetRequest {
                        fresh: true,
                        ..l.req.clone()
                    })
                    .collect();
                for req in stale {
                    self.fetch_detached(now, req);
                }
            }
            SocketTimer::Linger(id) => {
                let Some(t) = sock
                    .live
                    .iter()
                    .find(|(_, l)| l.id == id && l.listeners == 0)
                    .map(|(t, _)| t.clone())
                else {
                    return;
                };
                let live = sock.live.remove(&t).expect("live");
                if live.subscribed && sock.state == SocketState::Open {
                    self.actions.push_back(Action::SocketSend {
                        text: socket_msg::encode(false, &t),
                    });
                }
                self.set_live(now, &live.key, false);
                let sock = self.socket.as_mut().expect("socket");
                if sock.live.is_empty() {
                    sock.state = SocketState::Idle;
                    sock.attempt = 0;
                    sock.opened_at = None;
                    let timers = std::mem::take(&mut sock.timers);
                    for (at, t) in timers {
                        self.timers.remove(&(at, Deadline::Socket(t)));
                    }
                    self.actions.push_back(Action::SocketClose);
                }
            }
        }
    }

    /// After `clear`: the connection was opened with the old session's
    /// credentials and carries its subscriptions, so it is dropped (what it
    /// still pushes is ignored) and a new one opens for the live keys.
    pub(super) fn socket_restart(&mut self, now: u64) {
        let Some(sock) = self.socket.as_mut() else {
            return;
        };
        // HTTP was serving the live keys: it goes on doing so until the new
        // connection opens.
        let fallen_back = match sock.state {
            SocketState::Idle => return,
            SocketState::Connecting { fallen_back } => fallen_back,
            SocketState::Waiting => true,
            SocketState::Open => false,
        };
        sock.attempt = 0;
        sock.opened_at = None;
        let mut keys = Vec::new();
        for live in sock.live.values_mut() {
            live.subscribed = false;
            live.refreshed = false;
            keys.push(live.key.clone());
        }
        for t in [
            SocketTimer::Connect,
            SocketTimer::Reconnect,
            SocketTimer::Resync,
        ] {
            self.socket_disarm_kind(t);
        }
        for key in keys {
            self.set_live(now, &key, false);
        }
        self.actions.push_back(Action::SocketClose);
        self.socket_connect(now);
        self.socket.as_mut().expect("socket").state = SocketState::Connecting { fallen_back };
    }

    fn socket_connect(&mut self, now: u64) {
        let sock = self.socket.as_mut().expect("socket");
        sock.state = SocketState::Connecting { fallen_back: false };
        let at = now.saturating_add(sock.cfg.connect_timeout_ms);
        self.socket_arm(at, SocketTimer::Connect);
        self.actions.push_back(Action::SocketOpen);
    }

    fn socket_subscribe(&mut self, now: u64, t: &str) {
        let sock = self.socket.as_mut().expect("socket");
        let Some(live) = sock.live.get_mut(t) else {
            return;
        };
        if live.subscribed {
            return;
        }
        live.subscribed = true;
        let key = live.key.clone();
        self.stats.socket_subscribes += 1;
        self.actions.push_back(Action::SocketSend {
            text: socket_msg::encode(true, t),
        });
        self.set_live(now, &key, true);
    }

    /// Fall back to HTTP for a live key that has no data at all.
    fn fetch_if_missing(&mut self, now: u64, t: &str) {
        let sock = self.socket.as_ref().expect("socket");
        let Some(live) = sock.live.get(t) else {
            return;
        };
        if self.needs_fetch(&live.key) {
            let req = live.req.clone();
            self.fetch_detached(now, req);
        }
    }

    fn socket_arm(&mut self, at: u64, t: SocketTimer) {
        if let Some(sock) = self.socket.as_mut() {
            sock.timers.push((at, t));
            self.timers.insert((at, Deadline::Socket(t)));
        }
    }

    fn socket_disarm(&mut self, at: u64, t: SocketTimer) {
        if let Some(sock) = self.socket.as_mut() {
            sock.timers.retain(|&x| x != (at, t));
        }
        self.timers.remove(&(at, Deadline::Socket(t)));
    }

    fn socket_disarm_kind(&mut self, t: SocketTimer) {
        let Some(sock) = self.socket.as_mut() else {
            return;
        };
        let gone: Vec<(u64, SocketTimer)> =
            sock.timers.iter().copied().filter(|x| x.1 == t).collect();
        for (at, t) in gone {
            self.socket_disarm(at, t);
        }
    }
}
