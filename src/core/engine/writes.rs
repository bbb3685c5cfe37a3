//! Writes: POST, PUT, PATCH and DELETE requests.
//!
//! A write is no key: it is never joined, cached or batched, and never
//! retried. It is a flight of its own ([`Core::write`]) that the circuit
//! breaker and the timeout govern like a read: a write to an origin whose
//! circuit is open is refused at once, and its failures and successes count
//! toward the origin's circuit. It ends once with [`Action::Written`]: its
//! answer (classified by the rules of reads), its timeout, or its caller's
//! abort. When it succeeds the shell tells the core which keys it changed
//! ([`Core::written`]).

use super::*;

impl Core {
    /// A write to `origin`: its id. [`Action::Send`] asks the shell to send
    /// it, unless the origin's circuit refuses it ([`Action::Written`] at
    /// once). Report its answer with [`Core::write_done`].
    pub fn write(&mut self, now: u64, origin: u32) -> u32 {
        let refused = self.circuit_refuses(now, origin);
        // A write in flight is its origin, shifted, and 1 if it is the probe
        // of the origin's half-open circuit.
        let id = self
            .writes
            .insert(origin << 1 | (refused == Ok(true)) as u32);
        if let Err(fail) = refused {
            self.stats.circuit_refused += 1;
            self.writes.remove(id);
            self.emit_fail(op::WRITTEN, id, Some(fail));
            return id;
        }
        if let Some(t) = self.config.timeout_ms {
            self.timers
                .set(Timer(Kind::Write, id), now.saturating_add(t));
        }
        self.stats.network_requests += 1;
        self.emit(op::SEND, id, 0);
        id
    }

    /// A write's answer (ignored once it ended: timed out or aborted).
    pub fn write_done(&mut self, now: u64, write: u32, answer: Answer) {
        let fail = classify(write, answer).err();
        self.write_end(now, write, fail);
    }

    /// The caller of `write` aborted.
    pub fn write_abort(&mut self, now: u64, write: u32) {
        self.write_end(now, write, Some(Fail::Abort));
    }

    pub(super) fn write_end(&mut self, now: u64, write: u32, fail: Option<Fail>) {
        let Some(w) = self.writes.remove(write) else {
            return;
        };
        self.timers.stop(Timer(Kind::Write, write));
        self.circuit_count(now, w >> 1, fail, w & 1 != 0);
        match fail {
            Some(Fail::Timeout { .. }) => self.stats.timeouts += 1,
            Some(Fail::Abort) => self.stats.aborted_calls += 1,
            None => {}
            Some(_) => self.stats.errors += 1,
        }
        self.emit_fail(op::WRITTEN, write, fail);
    }

    /// A write changed `key`: its data is stale now, and with listeners it
    /// is fetched again at once, unless an open socket pushes it. A request
    /// of the key already out may have been answered before the write: it
    /// still answers its callers but is neither joined nor kept; one still
    /// waiting in its batch window leaves after the write and is kept fresh.
    /// Returns whether anything was touched.
    pub fn written(&mut self, now: u64, key: u32) -> bool {
        let touched = self.invalidate(key);
        let watched = self.keys.get(key).is_some_and(|k| k.watchers > 0);
        if !watched || self.pushed(key) {
            return touched;
        }
        let k = self.keys.get_mut(key).must();
        if let Some(f) = self.flights.get_mut(k.flight) {
            if matches!(f.route, Route::Queued(_)) {
                f.stale_on_arrival = false;
                return true;
            }
            f.store = false;
            k.flight = 0;
            k.orphans += 1;
            k.version = k.version.wrapping_add(1);
        }
        // Fetched for the cache, with the TTL the entry had.
        let ttl = if k.data && !k.shown {
            k.ttl_ms
        } else {
            self.config.default_ttl_ms
        };
        self.start_internal(now, Waits::Detached, key, ttl);
        true
    }

    /// Data a caller set by hand for `key` (`None`: it has none any more),
    /// `size` bytes the shell staged: kept within the byte limits and fresh
    /// for the entry's TTL, else only shown to listeners. An optimistic value
    /// (`optimistic`) is as old as the data it stands for: no fresher than
    /// the entry's kept data, and stale without any.
    pub fn set_data(&mut self, now: u64, key: u32, size: Option<u64>, optimistic: bool) {
        let Some(k) = self.keys.get(key) else {
            return;
        };
        let kept = k.data && !k.shown;
        let ttl = if kept {
            k.ttl_ms
        } else {
            self.config.default_ttl_ms
        };
        let at = k.updated_at.filter(|_| optimistic).unwrap_or(now);
        let stale = optimistic && (!kept || k.invalidated);
        match size {
            Some(size) => {
                if self.store(at, key, Src::Staged, size, false, ttl, false) && stale {
                    self.expire(key);
                }
                self.data_changed(now, key);
            }
            None => self.remove_entry(key),
        }
        self.notify(key);
        self.release_key(key);
    }

    /// Writes in flight (for tests and leak checks).
    pub fn pending_writes(&self) -> usize {
        self.writes.len()
    }
}
