//! Prefetch: hover intent and a low-priority lane.
//!
//! Hovering or focusing a link starts an intent; if the pointer stays for
//! `intent_ms` the key is prefetched, and leaving before that cancels it.
//! Prefetches never fail anyone (failures are counted), skip keys that are
//! fresh or already in flight, and run at most `concurrency` at a time; the
//! rest wait in a short queue. User `get`s never wait behind them: they join
//! a prefetch of the same key in flight or take its cached answer.

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

impl Core {
    /// Prefetch `key` now (low priority). `false` when it was skipped
    /// because the data is fresh or already on its way.
    pub fn prefetch(&mut self, now: u64, key: u32, ttl_ms: Option<u64>) -> bool {
        let ttl = ttl_ms.unwrap_or(self.config.default_ttl_ms);
        let Some(k) = self.keys.get(key) else {
            return false;
        };
        if k.is_fresh(now, ttl) || k.queued || k.flight != 0 {
            self.stats.prefetch_skipped += 1;
            self.release_key(key);
            return false;
        }
        self.keys.get_mut(key).must().queued = true;
        self.prefetch_queue.push((key, ttl));
        if self.prefetch_queue.len() > self.config.prefetch.queue_limit {
            let (old, _) = take(&mut self.prefetch_queue, 0);
            self.emit(op::PREFETCHED, old, 0);
            self.unqueue_prefetch(old);
            self.stats.prefetch_skipped += 1;
        }
        self.pump_prefetches(now);
        true
    }

    /// A pointer entered (or focus reached) a link to `key`: prefetch it if
    /// it stays `intent_ms`. Returns the intent.
    pub fn intent_start(&mut self, now: u64, key: u32) -> u32 {
        let Some(k) = self.keys.get_mut(key) else {
            return 0;
        };
        k.intents += 1;
        let id = self.intents.insert(key);
        let at = now.saturating_add(self.config.prefetch.intent_ms);
        self.timers.set(Timer(Kind::Intent, id), at);
        id
    }

    /// The pointer left before the intent fired: nothing is fetched.
    pub fn intent_cancel(&mut self, id: u32) {
        if let Some(key) = self.intents.remove(id) {
            self.timers.stop(Timer(Kind::Intent, id));
            self.drop_intent(key);
        }
    }

    fn drop_intent(&mut self, key: u32) {
        if let Some(k) = self.keys.get_mut(key) {
            k.intents = k.intents.saturating_sub(1);
        }
        self.release_key(key);
    }

    pub(super) fn intent_due(&mut self, now: u64, id: u32) {
        if let Some(key) = self.intents.remove(id) {
            if let Some(k) = self.keys.get_mut(key) {
                k.intents = k.intents.saturating_sub(1);
            }
            self.prefetch(now, key, None);
            self.release_key(key);
        }
    }

    /// A prefetch of `key` settled: count it, tell the shell and start the
    /// next one.
    pub(super) fn prefetch_done(&mut self, now: u64, key: u32, ok: bool) {
        self.prefetch_active = self.prefetch_active.saturating_sub(1);
        self.emit(op::PREFETCHED, key, 0);
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

    /// Intents, queued and active prefetches (for leak checks).
    pub fn pending_prefetches(&self) -> (usize, usize, usize) {
        (
            self.intents.len(),
            self.prefetch_queue.len(),
            self.prefetch_active,
        )
    }

    fn unqueue_prefetch(&mut self, key: u32) {
        if let Some(k) = self.keys.get_mut(key) {
            k.queued = false;
        }
        self.release_key(key);
    }

    fn pump_prefetches(&mut self, now: u64) {
        while self.prefetch_active < self.config.prefetch.concurrency.max(1) {
            if self.prefetch_queue.is_empty() {
                return;
            }
            let (key, ttl) = take(&mut self.prefetch_queue, 0);
            let Some(k) = self.keys.get_mut(key) else {
                self.emit(op::PREFETCHED, key, 0);
                continue;
            };
            k.queued = false;
            if k.flight != 0 || k.is_fresh(now, ttl) {
                // Its turn came too late: a get fetched it meanwhile.
                self.emit(op::PREFETCHED, key, 0);
                self.stats.prefetch_skipped += 1;
                self.release_key(key);
                continue;
            }
            self.prefetch_active += 1;
            self.start_internal(now, Waits::Prefetch(key), key, ttl);
            self.release_key(key);
        }
    }
}
