//! Shared polling: one schedule per key, however many pollers ask, and one
//! polling tab per key across the tabs of an origin.
//!
//! Pollers of one key form a group that polls at the smallest interval any of
//! them asks. A tick is an ordinary request, so it joins one in flight and is
//! answered from the cache when the data is young enough. The next tick is
//! due one (jittered) interval after the key's data last arrived, from any
//! source: a `get`, another tab, the socket.
//!
//! A group ticks only while it is active: the page is online, this tab leads
//! the key across tabs, the socket does not keep the key live, and the page
//! is visible (or a poller asked to poll in the background). Leadership is
//! asked for with [`Action::Lead`] while the group may poll here and given up
//! when it may not; the shell answers with [`Core::lead`].
//!
//! With batching on, ticks of one identity that fall due within their own
//! jitter of a tick that leaves now leave with it, in one batch: a 10 s poll
//! rides with every other tick of a 5 s one.
//!
//! Errors back off exponentially up to `max_backoff_ms`; a 429 or 503 with
//! `Retry-After` is honoured exactly; the first success restores the
//! schedule.

use super::*;

/// How polling behaves, client-wide.
#[derive(Debug, Clone, PartialEq)]
pub struct PollConfig {
    /// Each interval is stretched or shrunk by up to this fraction at random.
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

/// Where a group stands on leadership across tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lead {
    /// Not asked for.
    None,
    /// Asked for, not granted yet.
    Asking,
    /// Held (or no other tab can poll: this one polls alone).
    Held,
}

#[derive(Debug)]
pub(super) struct Group {
    key: u32,
    /// `(poller, interval, in background)`.
    pollers: Vec<(u32, u64, bool)>,
    /// When its armed tick is due (0: none is armed; an armed one is due
    /// after the `now` that armed it, so never at 0).
    due: u64,
    waiter: u32,
    failures: u32,
    /// A `Retry-After` to honour (only after a failure: `failures > 0`).
    retry_at: Option<u64>,
    last_error_at: u64,
    last_ok_at: Option<u64>,
    jitter: f64,
    lead: Lead,
    live: bool,
}

impl Core {
    /// Start polling `key` every `interval_ms`; returns the poller.
    pub fn poll_start(&mut self, now: u64, key: u32, interval_ms: u64, in_background: bool) -> u32 {
        if !self.keys.contains(key) {
            return 0;
        }
        let group_id = match self.keys.get(key).map_or(0, |k| k.group) {
            0 => {
                let jitter = self.next_jitter();
                let g = self.polls.insert(Group {
                    key,
                    pollers: Vec::new(),
                    due: 0,
                    waiter: 0,
                    failures: 0,
                    retry_at: None,
                    last_error_at: 0,
                    last_ok_at: None,
                    jitter,
                    lead: Lead::None,
                    live: false,
                });
                self.keys.get_mut(key).must().group = g;
                g
            }
            g => g,
        };
        let poller = self.pollers.insert(group_id);
        let group = self.polls.get_mut(group_id).must();
        group
            .pollers
            .push((poller, interval_ms.max(1), in_background));
        self.sync_lead(group_id);
        self.schedule(now, group_id);
        poller
    }

    /// Stop one poller. The last one of a key clears its timer, gives up its
    /// leadership and drops its tick in flight.
    pub fn poll_stop(&mut self, now: u64, poller: u32) {
        let Some(group_id) = self.pollers.remove(poller) else {
            return;
        };
        let group = self.polls.get_mut(group_id).must();
        // (Each poller once; their order does not matter.)
        if let Some(i) = group.pollers.iter().position(|p| p.0 == poller) {
            swap_take(&mut group.pollers, i);
        }
        if !group.pollers.is_empty() {
            self.sync_lead(group_id);
            self.schedule(now, group_id);
            return;
        }
        let group = self.polls.remove(group_id).must();
        self.timers.stop(Timer(Kind::Poll, group_id));
        if group.lead != Lead::None {
            self.emit(op::LEAD, group.key, 0);
        }
        if let Some(k) = self.keys.get_mut(group.key) {
            k.group = 0;
        }
        if group.waiter != 0 {
            self.release(now, group.waiter);
        }
        self.release_key(group.key);
    }

    /// The page became visible or hidden.
    pub fn set_visible(&mut self, now: u64, visible: bool) {
        if self.visible != visible {
            self.visible = visible;
            for g in self.polls.ids() {
                self.sync_lead(g);
            }
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

    /// The shell's answer to [`Action::Lead`] for `key`: `held` (granted, or
    /// polling alone where tabs cannot share), or not held any more (another
    /// tab took the lock: this tab stops polling and the shell queues for the
    /// lock again, so the group is asking once more).
    pub fn lead(&mut self, now: u64, key: u32, held: bool) {
        let g = self.keys.get(key).map_or(0, |k| k.group);
        let Some(group) = self.polls.get_mut(g) else {
            return;
        };
        if group.lead == Lead::None {
            return; // granted after this tab stepped down: the shell releases it
        }
        group.lead = if held { Lead::Held } else { Lead::Asking };
        self.schedule(now, g);
    }

    /// Ask for or give up leadership as the group's pollers and the page's
    /// visibility say.
    fn sync_lead(&mut self, group_id: u32) {
        let visible = self.visible;
        let Some(group) = self.polls.get_mut(group_id) else {
            return;
        };
        let want = group.pollers.iter().any(|p| visible || p.2);
        let key = group.key;
        match (want, group.lead) {
            (true, Lead::None) => group.lead = Lead::Asking,
            (false, Lead::Asking | Lead::Held) => group.lead = Lead::None,
            _ => return,
        }
        self.emit(op::LEAD, key, want as u32);
    }

    /// Whether the socket keeps `key` live (HTTP polling is suspended then).
    pub(super) fn set_live(&mut self, now: u64, key: u32, live: bool) {
        let g = self.keys.get(key).map_or(0, |k| k.group);
        if let Some(group) = self.polls.get_mut(g) {
            group.live = live;
            self.schedule(now, g);
        }
    }

    /// Data for `key` that arrived from another tab, `size` bytes, fetched
    /// there at `updated_at`: kept within the same limits as fetched data,
    /// and dropped if it is older than the last `clear`. Returns whether it
    /// was taken. The shell staged its body.
    pub fn tab_data(&mut self, now: u64, key: u32, size: u64, etag: bool, updated_at: u64) -> bool {
        if self.cleared_at.is_some_and(|c| updated_at < c) || !self.keys.contains(key) {
            self.release_key(key);
            return false;
        }
        self.store_staged(now, key, size, etag, updated_at);
        self.notify(key);
        self.data_changed(now, key);
        self.release_key(key);
        true
    }

    /// Store the body the shell staged (another tab's, IndexedDB's, the
    /// socket's), fetched at `at`, with the client's TTL.
    pub(super) fn store_staged(
        &mut self,
        now: u64,
        key: u32,
        size: u64,
        etag: bool,
        at: u64,
    ) -> bool {
        let ttl = self.config.default_ttl_ms;
        self.store(at.min(now), key, Src::Staged, size, false, ttl, etag)
    }

    /// Data kept from an earlier visit (IndexedDB), `size` bytes, for a key
    /// with no data: kept as of `updated_at` and stale. Returns whether it
    /// was taken. The shell staged its body.
    pub fn restore(&mut self, now: u64, key: u32, size: u64, updated_at: u64) -> bool {
        let taken = match self.keys.get(key) {
            Some(k) if !k.data && self.cleared_at.is_none_or(|c| updated_at >= c) => {
                let kept = self.store_staged(now, key, size, false, updated_at);
                if kept {
                    self.expire(key);
                    self.notify(key);
                }
                kept
            }
            _ => false,
        };
        self.release_key(key);
        taken
    }

    /// Data a server rendered with (its `dehydrate`), `size` bytes, fetched
    /// there at `updated_at` with a TTL of `ttl_ms`: kept with that age, so
    /// it is stale when its TTL says so. Refused when the entry keeps data
    /// as new or newer, or the cache was cleared after it was fetched; taking
    /// it again changes nothing. Returns whether it was taken. The shell
    /// staged its body.
    pub fn hydrate(
        &mut self,
        now: u64,
        key: u32,
        size: u64,
        updated_at: u64,
        ttl_ms: u64,
        etag: bool,
    ) -> bool {
        let at = updated_at.min(now);
        let newer = |k: &KeyRec| k.data && !k.shown && k.updated_at.is_some_and(|u| u >= at);
        let taken = match self.keys.get(key) {
            Some(k) if !newer(k) && self.cleared_at.is_none_or(|c| at >= c) => {
                let kept = self.store(at, key, Src::Staged, size, false, ttl_ms, etag);
                if kept {
                    self.notify(key);
                    self.data_changed(now, key);
                }
                kept
            }
            _ => false,
        };
        self.release_key(key);
        taken
    }

    /// Is `key` polled here?
    pub fn is_polled(&self, key: u32) -> bool {
        self.keys.get(key).is_some_and(|k| k.group != 0)
    }

    /// Pollers and groups (for tests and leak checks).
    pub fn pending_polls(&self) -> (usize, usize) {
        (self.pollers.len(), self.polls.len())
    }

    /// New data for `key` was stored: move its poll schedule.
    pub(super) fn data_changed(&mut self, now: u64, key: u32) {
        let g = self.keys.get(key).map_or(0, |k| k.group);
        if g != 0 {
            self.schedule(now, g);
        }
    }

    /// A tick's request settled (`fail`: why, if it failed).
    pub(super) fn poll_result(
        &mut self,
        now: u64,
        group_id: u32,
        fail: Option<Fail>,
        from_network: bool,
    ) {
        let jitter = self.next_jitter();
        let Some(group) = self.polls.get_mut(group_id) else {
            return;
        };
        group.waiter = 0;
        let key = group.key;
        match fail {
            None => {
                group.failures = 0;
                group.retry_at = None;
                group.last_ok_at = Some(now);
                group.jitter = jitter;
                if from_network && group.lead == Lead::Held {
                    self.emit(op::POLLED, key, 0);
                }
            }
            Some(f) => {
                group.failures = group.failures.saturating_add(1);
                group.last_error_at = now;
                group.retry_at = match f {
                    Fail::Http {
                        status: 429 | 503,
                        retry_after: Some(ms),
                        ..
                    } => Some(now.saturating_add(ms)),
                    _ => None,
                };
            }
        }
        self.schedule(now, group_id);
    }

    /// The interval this group polls at now, or `None` while it must not.
    fn active_interval(&self, group: &Group) -> Option<u64> {
        if group.live || group.lead != Lead::Held || !self.online {
            return None;
        }
        let mut min = None;
        for &(_, interval, background) in &group.pollers {
            if self.visible || background {
                min = Some(min.map_or(interval, |m: u64| m.min(interval)));
            }
        }
        min
    }

    fn reschedule_all(&mut self, now: u64) {
        for g in self.polls.ids() {
            self.schedule(now, g);
        }
    }

    /// Re-arm a group's tick from its state; tick at once if it is due.
    fn schedule(&mut self, now: u64, group_id: u32) {
        let Some(due) = self.due(now, group_id) else {
            self.timers.stop(Timer(Kind::Poll, group_id));
            if let Some(g) = self.polls.get_mut(group_id) {
                g.due = 0;
            }
            return;
        };
        let due = self.companion(now, group_id).unwrap_or(due);
        if due <= now {
            self.timers.stop(Timer(Kind::Poll, group_id));
            self.tick_due(now, group_id);
        } else {
            self.polls.get_mut(group_id).must().due = due;
            self.timers.set(Timer(Kind::Poll, group_id), due);
            // Others of the identity whose range holds this tick move to it.
            let mut others = Vec::new();
            for o in self.polls.ids() {
                if o != group_id && self.companion(now, o) == Some(due) {
                    others.push(o);
                }
            }
            for &o in &others {
                self.polls.get_mut(o).must().due = due;
                self.timers.set(Timer(Kind::Poll, o), due);
            }
        }
    }

    /// The range a healthy group's next tick may fall in, its jitter's:
    /// `interval * (1 - jitter)` to `interval * (1 + jitter)` after its data.
    fn jitter_range(&self, g: &Group) -> Option<(u64, u64)> {
        // (A `retry_at` comes with `failures > 0`.)
        if g.failures > 0 || g.waiter != 0 {
            return None;
        }
        let base = self.poll_base(g)?;
        let interval = self.active_interval(g)? as f64;
        let j = self.jitter();
        Some((
            base + (interval * (1.0 - j)) as u64,
            base + (interval * (1.0 + j)) as u64,
        ))
    }

    /// With batching on, a tick of another group of the same identity that
    /// falls in this group's jitter range: this one is moved to it, so the
    /// two leave in one batch.
    fn companion(&self, now: u64, group_id: u32) -> Option<u64> {
        let origin = self.config.batch.as_ref()?.origin;
        let g = self.polls.get(group_id)?;
        let k = self.keys.get(g.key).filter(|k| k.origin == origin)?;
        let (low, high) = self.jitter_range(g)?;
        let mut best = None;
        for id in self.polls.ids() {
            let Some(o) = self.polls.get(id) else {
                continue;
            };
            let same = self
                .keys
                .get(o.key)
                .is_some_and(|ok| ok.who == k.who && ok.origin == origin);
            // (`d > now`: one is armed.)
            let d = o.due;
            if id != group_id && same && d > now && low <= d && d <= high {
                best = Some(best.map_or(d, |b: u64| b.min(d)));
            }
        }
        best
    }

    /// When the group's data last arrived: the kept data's time, or its
    /// last good tick's (whose answer may have been only shown).
    #[inline(never)]
    fn poll_base(&self, g: &Group) -> Option<u64> {
        self.keys
            .get(g.key)
            .filter(|k| k.data && !k.shown)
            .and_then(|k| k.updated_at)
            .max(g.last_ok_at)
    }

    /// When the group's next tick is due, or `None` while it must not tick
    /// (inactive, or a tick is in flight: rescheduled when it settles).
    fn due(&self, now: u64, group_id: u32) -> Option<u64> {
        let group = self.polls.get(group_id)?;
        let interval = self.active_interval(group)?;
        if group.waiter != 0 {
            return None;
        }
        let max_backoff = self.config.poll.max_backoff_ms;
        Some(if let Some(at) = group.retry_at {
            at
        } else if group.failures > 0 {
            let backoff = doubled(interval, group.failures.min(20)).min(max_backoff.max(interval));
            group.last_error_at.saturating_add(backoff)
        } else {
            match self.poll_base(group) {
                Some(at) => at.saturating_add(jittered(interval, group.jitter)),
                None => now,
            }
        })
    }

    /// A group's tick is due: it leaves, and with batching on, the ticks of
    /// the same identity that would fall due within their own jitter leave
    /// with it (one batch instead of several).
    pub(super) fn tick_due(&mut self, now: u64, group_id: u32) {
        self.tick(now, group_id);
        let Some(cfg) = &self.config.batch else {
            return;
        };
        let origin = cfg.origin;
        let Some(who) = self
            .polls
            .get(group_id)
            .and_then(|g| self.keys.get(g.key))
            .filter(|k| k.origin == origin)
            .map(|k| k.who)
        else {
            return;
        };
        // A rider may leave as early as the low end of its own jitter range:
        // `interval * (1 - jitter)` after its data, where its schedule might
        // have put it anyway.
        let low = 1.0 - self.jitter();
        let mut riders = Vec::new();
        for id in self.polls.ids() {
            let Some(g) = self.polls.get(id) else {
                continue;
            };
            let Some(k) = self.keys.get(g.key) else {
                continue;
            };
            let interval = self.active_interval(g).unwrap_or(0);
            if id != group_id
                && g.waiter == 0
                && g.failures == 0
                && g.due != 0
                && k.who == who
                && k.origin == origin
                && self
                    .poll_base(g)
                    .is_some_and(|b| b + (interval as f64 * low) as u64 <= now)
            {
                riders.push(id);
            }
        }
        for &g in &riders {
            self.timers.stop(Timer(Kind::Poll, g));
            self.tick(now, g);
        }
    }

    /// Make the group's request. It may leave anywhere in its jitter range
    /// (on its own timer, moved to a companion's, or riding along), so the
    /// cache answers it only with data younger than the low end of that
    /// range: a tick that leaves early still polls.
    pub(super) fn tick(&mut self, now: u64, group_id: u32) {
        let Some(group) = self.polls.get_mut(group_id) else {
            return;
        };
        group.due = 0;
        let mut interval = u64::MAX;
        for p in &group.pollers {
            interval = interval.min(p.1);
        }
        let interval = if group.pollers.is_empty() {
            1
        } else {
            interval
        };
        let key = group.key;
        // Data younger than this tick's interval answers it from the cache.
        let low = 1.0 - self.jitter();
        let ttl = jittered(interval, low);
        self.stats.poll_ticks += 1;
        let waiter = self.waiters.insert(Waiter {
            flight: 0,
            waits: Waits::Poll(group_id),
        });
        self.polls.get_mut(group_id).must().waiter = waiter;
        self.start(now, waiter, key, ttl, false);
    }

    /// The configured jitter, within `[0, 1]` (one copy of the clamp).
    #[inline(never)]
    fn jitter(&self) -> f64 {
        self.config.poll.jitter.clamp(0.0, 1.0)
    }

    /// A jitter factor in `[1 - jitter, 1 + jitter]`.
    fn next_jitter(&mut self) -> f64 {
        let unit = self.next_unit();
        let j = self.jitter();
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
    let v = interval as f64 * factor + 0.5;
    if v < 1.0 {
        1
    } else {
        v as u64
    }
}
