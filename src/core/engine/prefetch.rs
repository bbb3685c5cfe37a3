//! Prefetch: hover intent and a low-priority lane.
//!
//! Hovering or focusing a link starts an intent; if the pointer stays for
//! `intent_ms` the URL is prefetched, and leaving before that cancels it, so
//! a cursor that brushes past links on its way elsewhere costs nothing.
//! Prefetches never fail anyone (failures are counted), skip URLs that are
//! fresh in the cache or already in flight, and run at most `concurrency` at
//! a time; the rest wait in a short queue. User `get`s never wait behind
//! them: they take the ordinary path, and join a prefetch of the same key
//! that is already in flight or take its cached answer.

use super::*;

/// Prefetch settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefetchConfig {
    /// How long a hover or focus must last before it prefetches.
    pub intent_ms: u64,
    /// Prefetches in flight at once.
    pub concurrency: usize,
    /// Prefetches waiting beyond this many drop the oldest.
    pub queue_limit: usize,
}

impl Default for PrefetchConfig {
    fn default() -> Self {
        PrefetchConfig {
            intent_ms: 65,
            concurrency: 4,
            queue_limit: 32,
        }
    }
}

/// Identifies a hover intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IntentId(pub u64);

impl<B: Clone> Core<B> {
    /// Prefetch `req` now (low priority). Returns `false` when it was
    /// skipped because the data is fresh or already on its way.
    pub fn prefetch(&mut self, now: u64, req: GetRequest) -> bool {
        let key = Key::get(&req.url, &req.identity);
        let ttl = req.ttl_ms.unwrap_or(self.config.default_ttl_ms);
        let fresh = self.cache.peek(&key).is_some_and(|e| e.is_fresh(now, ttl));
        let queued = self
            .prefetch_queue
            .iter()
            .any(|r| Key::get(&r.url, &r.identity) == key);
        if fresh || queued || self.by_key.contains_key(&key) {
            self.stats.prefetch_skipped += 1;
            return false;
        }
        self.prefetch_queue.push_back(req);
        if self.prefetch_queue.len() > self.config.prefetch.queue_limit {
            self.prefetch_queue.pop_front();
            self.stats.prefetch_skipped += 1;
        }
        self.pump_prefetches(now);
        true
    }

    /// A pointer entered (or focus reached) a link to `req`: prefetch it if
    /// it stays `intent_ms`.
    pub fn intent_start(&mut self, now: u64, req: GetRequest) -> IntentId {
        let id = IntentId(self.bump());
        let at = now.saturating_add(self.config.prefetch.intent_ms);
        self.intents.insert(id, (at, req));
        self.timers.insert((at, Deadline::Intent(id)));
        id
    }

    /// The pointer left before the intent fired: nothing is fetched.
    pub fn intent_cancel(&mut self, id: IntentId) {
        if let Some((at, _)) = self.intents.remove(&id) {
            self.timers.remove(&(at, Deadline::Intent(id)));
        }
    }

    pub(super) fn intent_due(&mut self, now: u64, id: IntentId) {
        if let Some((_, req)) = self.intents.remove(&id) {
            self.prefetch(now, req);
        }
    }

    /// A prefetch settled: count it and start the next one.
    pub(super) fn prefetch_done(&mut self, now: u64, ok: bool) {
        self.prefetch_active = self.prefetch_active.saturating_sub(1);
        if ok {
            self.stats.prefetched += 1;
        } else {
            self.stats.prefetch_failures += 1;
        }
        self.pump_prefetches(now);
    }

    /// A prefetch the shell refused before it reached the core (bad input).
    pub fn prefetch_invalid(&mut self) {
        self.stats.prefetch_failures += 1;
    }

    /// A prefetch the shell skipped (Save-Data, 2G).
    pub fn prefetch_skip(&mut self) {
        self.stats.prefetch_skipped += 1;
    }

    /// Intents and prefetches pending (for leak checks).
    pub fn pending_prefetches(&self) -> (usize, usize, usize) {
        (
            self.intents.len(),
            self.prefetch_queue.len(),
            self.prefetch_active,
        )
    }

    fn pump_prefetches(&mut self, now: u64) {
        while self.prefetch_active < self.config.prefetch.concurrency.max(1) {
            let Some(req) = self.prefetch_queue.pop_front() else {
                return;
            };
            let key = Key::get(&req.url, &req.identity);
            let ttl = req.ttl_ms.unwrap_or(self.config.default_ttl_ms);
            if self.by_key.contains_key(&key)
                || self.cache.peek(&key).is_some_and(|e| e.is_fresh(now, ttl))
            {
                self.stats.prefetch_skipped += 1;
                continue;
            }
            self.prefetch_active += 1;
            let waiter = WaiterId(self.bump());
            self.prefetch_waiters.insert(waiter);
            self.start(now, waiter, req);
        }
    }
}
