//! Retries of failed reads.
//!
//! A flight that fails on the network, or with a 429 or 5xx answer (alone or
//! as the whole batch POST), is sent again after a backoff, up to its count
//! of retries: the caller's own (`get_retry`) or the client's. Its waiters
//! stay attached to it meanwhile, and a new `get` of the key joins it, so
//! the key shows one fetch from the first attempt to the last. Nothing else
//! is retried: 4xx answers other than 429, timeouts, bodies that are not
//! JSON, broken batch answers, aborts, polls and prefetches.
//!
//! The wait before retry `n` (from 0) is `min(max_ms, base_ms * 2^n)`, of
//! which a random half is taken off (equal jitter); an answer's
//! `Retry-After` is honoured (the wait is at least that), and one beyond
//! `max_ms` is not waited for: the failure settles the flight at once.
//!
//! The circuit breaker bounds it all: every failed attempt counts, no retry
//! is scheduled while the origin's circuit is open (the failure settles the
//! flight), and a retry that comes due while it is open settles with the
//! circuit's error. A retry to the batch endpoint's origin goes out in the
//! next batch. When its last waiter leaves during the backoff, or `clear()`
//! runs, the retry is cancelled (`clear` rejects its waiters as aborted).

use super::*;

/// How failed reads are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    /// Retries of a read, unless the call gives its own count.
    pub retries: u32,
    /// The wait before the first retry (doubling for each next one).
    pub base_ms: u64,
    /// The longest wait; a longer `Retry-After` is not waited for.
    pub max_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            retries: 0,
            base_ms: 1_000,
            max_ms: 30_000,
        }
    }
}

impl Core {
    /// A caller of `waiter` wants `retries`: its flight (new, or joined)
    /// gets at least as many left.
    pub(super) fn want_retries(&mut self, waiter: u32, retries: u32) {
        let flight = self.waiters.get(waiter).map_or(0, |w| w.flight);
        if let Some(f) = self.flights.get_mut(flight) {
            f.retries = f.retries.max(retries.saturating_sub(f.attempt));
        }
    }

    /// `flight` failed with `fail`: schedule its retry if the rules allow
    /// one. `true` when the flight is taken care of (retried later, or
    /// settled because its circuit opened).
    pub(super) fn retry_later(&mut self, now: u64, flight: u32, fail: Fail) -> bool {
        let cfg = self.config.retry;
        let Some(f) = self.flights.get(flight) else {
            return false;
        };
        let wait = match fail {
            Fail::Network { .. } | Fail::BatchNetwork { .. } => None,
            Fail::Http {
                status,
                retry_after,
                ..
            } if status == 429 || status >= 500 => retry_after,
            Fail::BatchHttp { status, .. } if status == 429 || status >= 500 => None,
            _ => return false,
        };
        if f.retries == 0
            || !f.store
            || f.waiters.is_empty()
            || wait.is_some_and(|w| w > cfg.max_ms)
        {
            return false;
        }
        let (key, probe, attempt) = (f.key, f.probe, f.attempt);
        self.stats.errors += 1;
        self.circuit_record(now, key, Some(fail), probe);
        let origin = self.keys.get(key).map_or(0, |k| k.origin);
        if self.circuit_open(now, origin) {
            self.finish(now, flight, Err(fail));
            return true;
        }
        let full = doubled(cfg.base_ms, attempt.min(30)).min(cfg.max_ms);
        let backoff = full - (self.next_unit() * (full / 2) as f64) as u64;
        let delay = wait.map_or(backoff, |w| w.max(backoff));
        let f = self.flights.get_mut(flight).must();
        f.route = Route::Backoff;
        f.probe = false;
        f.retries -= 1;
        f.attempt += 1;
        self.timers.stop(Timer(Kind::Flight, flight));
        self.timers
            .set(Timer(Kind::Retry, flight), now.saturating_add(delay));
        true
    }

    /// The backoff of `flight` is over: send it again, unless its origin's
    /// circuit refuses.
    pub(super) fn retry_due(&mut self, now: u64, flight: u32) {
        let Some(f) = self.flights.get(flight) else {
            return;
        };
        let origin = self.keys.get(f.key).map_or(0, |k| k.origin);
        match self.circuit_refuses(now, origin) {
            Err(fail) => self.finish(now, flight, Err(fail)),
            Ok(probe) => {
                let f = self.flights.get_mut(flight).must();
                f.probe = probe;
                f.route = Route::Alone;
                self.stats.network_requests += 1;
                self.stats.retries += 1;
                if let Some(t) = self.config.timeout_ms {
                    self.timers
                        .set(Timer(Kind::Flight, flight), now.saturating_add(t));
                }
                if !self.enqueue(now, flight) {
                    self.send_alone(flight);
                }
            }
        }
    }

    /// `clear()`: every retry waiting for its backoff is cancelled, its
    /// waiters rejected as aborted.
    pub(super) fn cancel_retries(&mut self, now: u64) {
        // (A flight made meanwhile is not waiting for its backoff.)
        for flight in self.flights.ids() {
            if self
                .flights
                .get(flight)
                .is_some_and(|f| matches!(f.route, Route::Backoff))
            {
                self.finish(now, flight, Err(Fail::Abort));
            }
        }
    }
}
