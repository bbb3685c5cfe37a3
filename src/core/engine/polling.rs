//! Shared polling: one schedule per key, however many pollers ask.
//!
//! Pollers of one key form a group that polls at the smallest interval any of
//! them asks. A tick is an ordinary request made through the engine, so it
//! joins an identical request in flight and is answered from the cache when
//! the data is young enough. The next tick is due one (jittered) interval
//! after the key's data last arrived, from whatever source: a `get`, another
//! tab, the socket. Data that arrives by other means pushes polling back.
//!
//! A group ticks only while it is active: the page is online, this tab leads
//! the key across tabs, the key is not kept live by the socket, and the page
//! is visible (or a poller asked to poll in the background). Errors back off
//! exponentially up to `max_backoff_ms`; a 429 or 503 with `Retry-After` is
//! honoured exactly; the first success restores the normal schedule.

use super::*;

/// Identifies one poller (one `client.poll` call).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PollerId(pub u64);

/// Identifies the group of pollers of one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(pub u64);

/// How polling behaves, client-wide.
#[derive(Debug, Clone, PartialEq)]
pub struct PollConfig {
    /// Each interval is stretched or shrunk by up to this fraction at random
    /// (0.1 is ±10%), so clients started together drift apart.
    pub jitter: f64,
    /// The longest wait between attempts while a key keeps failing.
    pub max_backoff_ms: u64,
}

impl Default for PollConfig {
    fn default() -> Self {
        PollConfig {
            jitter: 0.1,
            max_backoff_ms: 60_000,
        }
    }
}

#[derive(Debug)]
pub(super) struct Poller {
    id: PollerId,
    interval_ms: u64,
    in_background: bool,
}

#[derive(Debug)]
pub(super) struct Group {
    key: Key,
    req: GetRequest,
    pollers: Vec<Poller>,
    due: Option<u64>,
    waiter: Option<WaiterId>,
    failures: u32,
    retry_at: Option<u64>,
    last_error_at: u64,
    last_ok_at: Option<u64>,
    jitter: f64,
    leader: bool,
    live: bool,
}

impl<B: Clone> Core<B> {
    /// Start polling `req` every `interval_ms`. `leader` says whether this
    /// tab may poll the key now (the shell settles leadership across tabs;
    /// without that, pass `true`).
    pub fn poll_start(
        &mut self,
        now: u64,
        req: GetRequest,
        interval_ms: u64,
        in_background: bool,
        leader: bool,
    ) -> PollerId {
        let key = Key::get(&req.url, &req.identity);
        let id = PollerId(self.bump());
        let group_id = match self.poll_by_key.get(&key) {
            Some(&g) => g,
            None => {
                let g = GroupId(self.bump());
                let jitter = self.next_jitter();
                self.polls.insert(
                    g,
                    Group {
                        key: key.clone(),
                        req,
                        pollers: Vec::new(),
                        due: None,
                        waiter: None,
                        failures: 0,
                        retry_at: None,
                        last_error_at: 0,
                        last_ok_at: None,
                        jitter,
                        leader,
                        live: false,
                    },
                );
                self.poll_by_key.insert(key, g);
                g
            }
        };
        let group = self.polls.get_mut(&group_id).expect("group");
        group.pollers.push(Poller {
            id,
            interval_ms: interval_ms.max(1),
            in_background,
        });
        self.pollers.insert(id, group_id);
        self.schedule(now, group_id);
        id
    }

    /// Stop one poller. The last one of a key clears its timer and drops its
    /// tick in flight (the request is aborted unless someone else waits).
    pub fn poll_stop(&mut self, now: u64, poller: PollerId) {
        let Some(group_id) = self.pollers.remove(&poller) else {
            return;
        };
        let group = self.polls.get_mut(&group_id).expect("group");
        group.pollers.retain(|p| p.id != poller);
        if !group.pollers.is_empty() {
            self.schedule(now, group_id);
            return;
        }
        let group = self.polls.remove(&group_id).expect("group");
        self.poll_by_key.remove(&group.key);
        if let Some(at) = group.due {
            self.timers.remove(&(at, Deadline::Poll(group_id)));
        }
        if let Some(w) = group.waiter {
            self.poll_waiters.remove(&w);
            self.release(w);
        }
    }

    /// The page became visible or hidden.
    pub fn set_visible(&mut self, now: u64, visible: bool) {
        if self.visible != visible {
            self.visible = visible;
            self.reschedule_all(now);
        }
    }

    /// The browser went online or offline.
    pub fn set_online(&mut self, now: u64, online: bool) {
        if self.online != online {
            self.online = online;
            self.reschedule_all(now);
        }
    }

    /// Whether this tab leads polling of `key` across tabs.
    pub fn set_poll_leader(&mut self, now: u64, key: &Key, leader: bool) {
        if let Some(&g) = self.poll_by_key.get(key) {
            self.polls.get_mut(&g).expect("group").leader = leader;
            self.schedule(now, g);
        }
    }

    /// Whether the socket keeps `key` live (HTTP polling is suspended then).
    pub fn set_live(&mut self, now: u64, key: &Key, live: bool) {
        if let Some(&g) = self.poll_by_key.get(key) {
            self.polls.get_mut(&g).expect("group").live = live;
            self.schedule(now, g);
        }
    }

    /// Data for `key` that arrived from elsewhere (another tab, the socket),
    /// `size` bytes of JSON text: cached as if fetched at `updated_at` (within
    /// the same limits as fetched data), and listeners hear of it. Data from
    /// before the last `clear` (another tab's result still on its way) is
    /// dropped; returns whether it was taken.
    pub fn external_data(
        &mut self,
        now: u64,
        key: &Key,
        body: B,
        size: usize,
        etag: Option<String>,
        updated_at: u64,
    ) -> bool {
        if self.cleared_at.is_some_and(|c| updated_at < c) {
            return false;
        }
        let ttl = self.config.default_ttl_ms;
        self.store(updated_at.min(now), key, body, size, false, ttl, etag);
        self.notify(key);
        self.data_changed(now, key);
        true
    }

    /// Data kept from an earlier visit (the shell's persisted cache), `size`
    /// bytes, for a key with no data: stored as of `updated_at` and always
    /// stale, since nothing says it is still current. Returns false if the
    /// key had data or the data is not allowed in the cache.
    pub fn restore(&mut self, now: u64, key: &Key, body: B, size: usize, updated_at: u64) -> bool {
        if self.cache.peek(key).is_some_and(|e| e.data.is_some())
            || self.cleared_at.is_some_and(|c| updated_at < c)
        {
            return false;
        }
        let ttl = self.config.default_ttl_ms;
        if !self.store(updated_at.min(now), key, body, size, false, ttl, None) {
            return false;
        }
        self.cache.expire(key);
        self.notify(key);
        true
    }

    /// Is `key` polled in this tab (by any poller)?
    pub fn is_polled(&self, key: &Key) -> bool {
        self.poll_by_key.contains_key(key)
    }

    /// Pollers and scheduled ticks (for tests and leak checks).
    pub fn pending_polls(&self) -> (usize, usize) {
        (self.pollers.len(), self.polls.len())
    }

    /// New data for `key` was stored: move its poll schedule.
    pub(super) fn data_changed(&mut self, now: u64, key: &Key) {
        if let Some(&g) = self.poll_by_key.get(key) {
            self.schedule(now, g);
        }
    }

    /// A tick's request settled.
    pub(super) fn poll_result(
        &mut self,
        now: u64,
        group_id: GroupId,
        result: Result<(), &FetchError>,
        from_network: bool,
    ) {
        let jitter = self.next_jitter();
        let Some(group) = self.polls.get_mut(&group_id) else {
            return;
        };
        group.waiter = None;
        match result {
            Ok(()) => {
                group.failures = 0;
                group.retry_at = None;
                group.last_ok_at = Some(now);
                group.jitter = jitter;
                if from_network && group.leader {
                    let key = group.key.clone();
                    self.actions.push_back(Action::Polled { key });
                }
            }
            Err(e) => {
                group.failures = group.failures.saturating_add(1);
                group.last_error_at = now;
                group.retry_at = match e {
                    FetchError::Http {
                        status: 429 | 503,
                        retry_after: Some(ms),
                        ..
                    } => Some(now.saturating_add(*ms)),
                    _ => None,
                };
            }
        }
        self.schedule(now, group_id);
    }

    /// The interval this group polls at now, or `None` while it must not.
    fn active_interval(&self, group: &Group) -> Option<u64> {
        if group.live || !group.leader || !self.online {
            return None;
        }
        group
            .pollers
            .iter()
            .filter(|p| self.visible || p.in_background)
            .map(|p| p.interval_ms)
            .min()
    }

    fn reschedule_all(&mut self, now: u64) {
        let ids: Vec<GroupId> = self.polls.keys().copied().collect();
        for g in ids {
            self.schedule(now, g);
        }
    }

    /// Re-arm a group's tick from its state; tick at once if it is due.
    fn schedule(&mut self, now: u64, group_id: GroupId) {
        let Some(group) = self.polls.get(&group_id) else {
            return;
        };
        let interval = self.active_interval(group);
        let max_backoff = self.config.poll.max_backoff_ms;
        let data_at = self
            .cache
            .peek(&group.key)
            .filter(|e| e.data.is_some())
            .and_then(|e| e.updated_at);
        let group = self.polls.get_mut(&group_id).expect("group");
        if let Some(at) = group.due.take() {
            self.timers.remove(&(at, Deadline::Poll(group_id)));
        }
        let Some(interval) = interval else { return };
        if group.waiter.is_some() {
            return; // rescheduled when the tick settles
        }
        let due = if let Some(at) = group.retry_at {
            at
        } else if group.failures > 0 {
            let backoff = interval
                .saturating_mul(1u64 << group.failures.min(20))
                .min(max_backoff.max(interval));
            group.last_error_at.saturating_add(backoff)
        } else {
            match data_at.max(group.last_ok_at) {
                Some(at) => at.saturating_add(jittered(interval, group.jitter)),
                None => now,
            }
        };
        if due <= now {
            self.tick(now, group_id);
        } else {
            group.due = Some(due);
            self.timers.insert((due, Deadline::Poll(group_id)));
        }
    }

    /// Make the group's request.
    pub(super) fn tick(&mut self, now: u64, group_id: GroupId) {
        let Some(group) = self.polls.get_mut(&group_id) else {
            return;
        };
        group.due = None;
        let interval = group
            .pollers
            .iter()
            .map(|p| p.interval_ms)
            .min()
            .unwrap_or(1);
        let mut req = group.req.clone();
        // Data younger than this tick's interval answers it from the cache.
        req.ttl_ms = Some(jittered(interval, group.jitter));
        req.fresh = false;
        self.stats.poll_ticks += 1;
        let waiter = WaiterId(self.bump());
        self.polls.get_mut(&group_id).expect("group").waiter = Some(waiter);
        self.poll_waiters.insert(waiter, group_id);
        self.start(now, waiter, req);
    }

    /// A jitter factor in `[1 - jitter, 1 + jitter]`.
    fn next_jitter(&mut self) -> f64 {
        let unit = self.next_unit();
        let j = self.config.poll.jitter.clamp(0.0, 1.0);
        1.0 - j + 2.0 * j * unit
    }

    /// A number in `[0, 1)` from a xorshift PRNG seeded by the shell.
    pub(super) fn next_unit(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn jittered(interval: u64, factor: f64) -> u64 {
    ((interval as f64) * factor).round().max(1.0) as u64
}
