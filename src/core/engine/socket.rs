//! Realtime first: one socket, one subscription per key, and a gentle
//! fallback when the socket is slow or down.
//!
//! - Listeners of a key share one subscription; when the last one leaves, it
//!   lingers `linger_ms` before it is dropped.
//! - Pushed data goes into the cache and to listeners, and HTTP polling of a
//!   live key is suspended.
//! - Not open within `connect_timeout_ms`, or closed: listeners keep the
//!   cached data (marked stale after a drop), keys with no data are fetched
//!   over HTTP (batched when batching is on), pollers resume.
//! - Reconnects wait a random time in `[0, min(max_ms, min_ms * 2^n)]`;
//!   the backoff starts over only after a connection stayed open for
//!   `reconnect_max_ms`. On every (re)connect each key is subscribed again;
//!   keys the socket has not refreshed within `resync_ms` are fetched.
//! - `clear()` replaces the connection: it carried the old session.

use super::*;

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
    /// After (re)subscribing, keys not refreshed within this long are fetched.
    pub resync_ms: u64,
    /// Whose connection it is: only keys of this identity go live.
    pub who: u32,
    /// The origin whose paths the server's keys name (`None`: any).
    pub origin: Option<u32>,
}

impl Default for SocketConfig {
    fn default() -> Self {
        SocketConfig {
            connect_timeout_ms: 5_000,
            reconnect_min_ms: 1_000,
            reconnect_max_ms: 30_000,
            linger_ms: 1_000,
            resync_ms: 1_500,
            who: 0,
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

impl SocketState {
    /// The number the shell reads: 1 idle, 2 connecting, 3 connecting with
    /// HTTP serving, 4 open, 5 reconnecting.
    pub fn code(self) -> u32 {
        match self {
            SocketState::Idle => 1,
            SocketState::Connecting { fallen_back: false } => 2,
            SocketState::Connecting { fallen_back: true } => 3,
            SocketState::Open => 4,
            SocketState::Waiting => 5,
        }
    }
}

#[derive(Debug)]
pub(super) struct Live {
    pub(super) key: u32,
    listeners: u32,
    subscribed: bool,
    refreshed: bool,
    lingering: bool,
}

#[derive(Debug)]
pub(super) struct Socket {
    pub(super) cfg: SocketConfig,
    pub(super) state: SocketState,
    attempt: u32,
    opened_at: Option<u64>,
    live: Vec<Live>,
}

impl Socket {
    pub(super) fn new(cfg: SocketConfig) -> Self {
        Socket {
            cfg,
            state: SocketState::Idle,
            attempt: 0,
            opened_at: None,
            live: Vec::new(),
        }
    }

    fn find(&mut self, key: u32) -> Option<&mut Live> {
        self.live.iter_mut().find(|l| l.key == key)
    }
}

impl Core {
    /// The `i`th live key. (The loops over them call into the rest of the
    /// core, which never adds or removes a live key: only `live_add` and the
    /// linger timer do.)
    #[inline(never)]
    pub(super) fn live_at(&self, i: usize) -> Option<&Live> {
        self.socket.as_ref()?.live.get(i)
    }

    /// A live key with no data and no request in flight.
    pub(super) fn needs_fetch(&self, key: u32) -> bool {
        self.keys.get(key).is_some_and(|k| k.flight == 0 && !k.data)
    }

    /// After `clear`: while HTTP serves live keys, fetch those now empty.
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
        let mut i = 0;
        while let Some(&Live { key, .. }) = self.live_at(i) {
            i += 1;
            self.fetch_if_missing(now, key);
        }
    }

    /// Is `key` kept live by an open socket (its changes are pushed)?
    pub(super) fn pushed(&self, key: u32) -> bool {
        self.socket.as_ref().is_some_and(|s| {
            matches!(s.state, SocketState::Open)
                && s.live.iter().any(|l| l.key == key && l.subscribed)
        })
    }

    /// Can a key of `origin` and `who` be kept live? Only with a socket, and
    /// only for the socket's own identity and origin.
    pub fn can_live(&self, origin: u32, who: u32) -> bool {
        self.socket
            .as_ref()
            .is_some_and(|s| who == s.cfg.who && s.cfg.origin.is_none_or(|o| o == origin))
    }

    /// A listener wants `key` live; `false` when it cannot be.
    pub fn live_add(&mut self, now: u64, key: u32) -> bool {
        let Some(k) = self.keys.get(key) else {
            return false;
        };
        if !self.can_live(k.origin, k.who) {
            self.release_key(key);
            return false;
        }
        let sock = self.socket.as_mut().must();
        match sock.find(key) {
            Some(l) => {
                l.listeners += 1;
                if l.lingering {
                    l.lingering = false;
                    self.timers.stop(Timer(Kind::Linger, key));
                }
                return true;
            }
            None => sock.live.push(Live {
                key,
                listeners: 1,
                subscribed: false,
                refreshed: false,
                lingering: false,
            }),
        }
        self.keys.get_mut(key).must().live = true;
        match sock.state {
            SocketState::Idle => self.socket_connect(now),
            SocketState::Open => self.socket_subscribe(now, key),
            SocketState::Connecting { fallen_back: true } | SocketState::Waiting => {
                self.fetch_if_missing(now, key)
            }
            SocketState::Connecting { fallen_back: false } => {}
        }
        true
    }

    /// A listener of `key` left: after the last one, the subscription
    /// lingers.
    pub fn live_remove(&mut self, now: u64, key: u32) {
        let Some(sock) = self.socket.as_mut() else {
            return;
        };
        let linger = sock.cfg.linger_ms;
        let Some(l) = sock.find(key) else {
            return;
        };
        l.listeners = l.listeners.saturating_sub(1);
        if l.listeners == 0 && !l.lingering {
            l.lingering = true;
            self.timers
                .set(Timer(Kind::Linger, key), now.saturating_add(linger));
        }
    }

    /// The socket opened.
    pub fn socket_opened(&mut self, now: u64) {
        let Some(sock) = self.socket.as_mut() else {
            return;
        };
        if matches!(sock.state, SocketState::Idle) {
            return;
        }
        sock.state = SocketState::Open;
        sock.opened_at = Some(now);
        let resync = sock.cfg.resync_ms;
        self.timers.stop(Timer::CONNECT);
        let mut i = 0;
        while let Some(&Live { key, .. }) = self.live_at(i) {
            i += 1;
            self.socket_subscribe(now, key);
        }
        self.timers.set(Timer::RESYNC, now.saturating_add(resync));
    }

    /// The socket closed (or failed to open).
    pub fn socket_closed(&mut self, now: u64) {
        let jitter = self.next_unit();
        let Some(sock) = self.socket.as_mut() else {
            return;
        };
        if matches!(sock.state, SocketState::Idle) {
            return;
        }
        self.stats.socket_drops += 1;
        if let Some(at) = sock.opened_at.take() {
            if now.saturating_sub(at) >= sock.cfg.reconnect_max_ms {
                sock.attempt = 0;
            }
        }
        self.timers.stop(Timer::CONNECT);
        self.timers.stop(Timer::RESYNC);
        if sock.live.is_empty() {
            sock.state = SocketState::Idle;
            return;
        }
        sock.state = SocketState::Waiting;
        let window = doubled(sock.cfg.reconnect_min_ms, sock.attempt.min(20))
            .min(sock.cfg.reconnect_max_ms.max(sock.cfg.reconnect_min_ms));
        sock.attempt = sock.attempt.saturating_add(1);
        let delay = (window as f64 * jitter) as u64;
        self.timers.set(Timer::RECONNECT, now.saturating_add(delay));
        for l in sock.live.iter_mut() {
            l.subscribed = false;
            l.refreshed = false;
        }
        let mut i = 0;
        while let Some(&Live { key, .. }) = self.live_at(i) {
            i += 1;
            // What the socket pushed may be out of date now: stale, not gone.
            if self.expire(key) {
                self.notify(key);
            }
            self.set_live(now, key, false);
            self.fetch_if_missing(now, key);
        }
    }

    /// Data pushed for `key`, `size` bytes (the shell staged the body).
    pub fn socket_data(&mut self, now: u64, key: u32, size: u64) {
        self.stats.socket_messages += 1;
        let Some(l) = self.socket.as_mut().and_then(|s| s.find(key)) else {
            self.release_key(key);
            return;
        };
        l.refreshed = true;
        self.store_staged(now, key, size, false, now);
        self.notify(key);
        self.data_changed(now, key);
    }

    /// The socket reported an error for `key` (the shell recorded it).
    pub fn socket_error(&mut self, _now: u64, key: u32) {
        self.stats.socket_messages += 1;
        if self.socket.as_mut().and_then(|s| s.find(key)).is_none() {
            self.release_key(key);
            return;
        }
        // Like an HTTP error: shown while someone listens, never kept.
        if self.keys.get(key).is_some_and(|k| k.watchers > 0) {
            self.put_error(key, Fail::Socket { key });
            self.notify(key);
        }
    }

    /// A message the shell could not read (counted; other keys carry on).
    pub fn socket_malformed(&mut self) {
        self.stats.socket_messages += 1;
        self.stats.socket_malformed += 1;
    }

    /// The socket's state.
    pub fn socket_state(&self) -> Option<SocketState> {
        self.socket.as_ref().map(|s| s.state)
    }

    /// Socket subscriptions held now.
    pub fn socket_subscriptions(&self) -> usize {
        self.socket.as_ref().map_or(0, |s| {
            let mut n = 0;
            for l in &s.live {
                n += l.subscribed as usize;
            }
            n
        })
    }

    pub(super) fn socket_deadline(&mut self, now: u64, timer: Timer) {
        let Some(sock) = self.socket.as_mut() else {
            return;
        };
        match timer {
            Timer::CONNECT => {
                if let SocketState::Connecting { .. } = sock.state {
                    sock.state = SocketState::Connecting { fallen_back: true };
                    self.stats.socket_timeouts += 1;
                    let mut i = 0;
                    while let Some(&Live { key, .. }) = self.live_at(i) {
                        i += 1;
                        self.fetch_if_missing(now, key);
                    }
                }
            }
            Timer::RECONNECT if matches!(sock.state, SocketState::Waiting) => {
                self.stats.socket_reconnects += 1;
                self.socket_connect(now);
            }
            Timer::RESYNC => {
                // (Fetching a key changes no key's `refreshed`.)
                let mut i = 0;
                while let Some(&Live { key, refreshed, .. }) = self.live_at(i) {
                    i += 1;
                    if !refreshed {
                        self.fetch_detached(now, key, true);
                    }
                }
            }
            Timer(Kind::Linger, key) => {
                let Some(pos) = sock
                    .live
                    .iter()
                    .position(|l| l.key == key && l.listeners == 0)
                else {
                    return;
                };
                let l = swap_take(&mut sock.live, pos);
                let unsub = l.subscribed && matches!(sock.state, SocketState::Open);
                let idle = sock.live.is_empty();
                if idle {
                    sock.state = SocketState::Idle;
                    sock.attempt = 0;
                    sock.opened_at = None;
                }
                if unsub {
                    self.emit(op::UNSUB, key, 0);
                }
                if idle {
                    self.stop_socket_timers();
                    self.emit(op::SOCKET_CLOSE, 0, 0);
                }
                if let Some(k) = self.keys.get_mut(key) {
                    k.live = false;
                }
                self.set_live(now, key, false);
                self.release_key(key);
            }
            _ => {}
        }
    }

    /// After `clear`: drop the connection, whose subscriptions and pushes
    /// belong to the old session, and open a new one for the live keys.
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
        for l in sock.live.iter_mut() {
            l.subscribed = false;
            l.refreshed = false;
        }
        self.stop_socket_timers();
        let mut i = 0;
        while let Some(&Live { key, .. }) = self.live_at(i) {
            i += 1;
            self.set_live(now, key, false);
        }
        self.emit(op::SOCKET_CLOSE, 0, 0);
        self.socket_connect(now);
        self.socket.as_mut().must().state = SocketState::Connecting { fallen_back };
    }

    fn stop_socket_timers(&mut self) {
        self.timers.stop(Timer::CONNECT);
        self.timers.stop(Timer::RECONNECT);
        self.timers.stop(Timer::RESYNC);
    }

    fn socket_connect(&mut self, now: u64) {
        let sock = self.socket.as_mut().must();
        sock.state = SocketState::Connecting { fallen_back: false };
        let at = now.saturating_add(sock.cfg.connect_timeout_ms);
        self.timers.set(Timer::CONNECT, at);
        self.emit(op::SOCKET_OPEN, 0, 0);
    }

    fn socket_subscribe(&mut self, now: u64, key: u32) {
        let Some(l) = self.socket.as_mut().and_then(|s| s.find(key)) else {
            return;
        };
        if l.subscribed {
            return;
        }
        l.subscribed = true;
        self.stats.socket_subscribes += 1;
        self.emit(op::SUB, key, 0);
        self.set_live(now, key, true);
    }

    /// Fall back to HTTP for a live key that has no data at all.
    fn fetch_if_missing(&mut self, now: u64, key: u32) {
        if self.needs_fetch(key) {
            self.fetch_detached(now, key, false);
        }
    }
}
