//! The batch scheduler: which flights share a `POST /batch`, and how its
//! answers fan back out.
//!
//! A flight to the endpoint's origin joins the open batch of its identity (a
//! batch never mixes credentials). The window opens with the first item and
//! closes `window_ms` later, or at once when the batch reaches `max_size`
//! items or `max_bytes`. A batch of one leaves as a plain GET. Answers are
//! matched by flight id; whatever the answer leaves out is rejected by name,
//! so no caller ever waits on an answer that will not come. Once every item
//! has its answer, the request is cancelled (a stream left open is closed).

use super::*;
#[cfg(not(target_arch = "wasm32"))]
use crate::core::action::Item;

/// How requests are batched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchConfig {
    /// The origin id of the batch endpoint: only keys of that origin are
    /// batched.
    pub origin: u32,
    /// How long a batch waits for company after its first item.
    pub window_ms: u64,
    /// A batch with this many items leaves at once.
    pub max_size: usize,
    /// A batch whose body reaches this many bytes leaves at once.
    pub max_bytes: u64,
}

impl BatchConfig {
    /// The defaults for an endpoint on `origin`.
    pub fn new(origin: u32) -> Self {
        BatchConfig {
            origin,
            window_ms: 10,
            max_size: 50,
            max_bytes: 32 * 1024,
        }
    }
}

#[derive(Debug)]
pub(super) struct Batch {
    who: u32,
    /// Queued: the items. Sent: the items still waiting for an answer.
    flights: Vec<u32>,
    bytes: u64,
    /// `flush` is closing it: riders join, but nothing flushes it again.
    closing: bool,
    sent: bool,
}

impl Core {
    /// Put a new flight into its identity's open batch, if batching applies.
    pub(super) fn enqueue(&mut self, now: u64, flight: u32) -> bool {
        let Some(cfg) = &self.config.batch else {
            return false;
        };
        let (window_ms, max_size, max_bytes) = (cfg.window_ms, cfg.max_size, cfg.max_bytes);
        let key = self.flights.get(flight).must().key;
        let k = self.keys.get(key).must();
        if self.batch_unavailable || k.origin != cfg.origin {
            return false;
        }
        let (who, size) = (k.who, k.item_bytes);
        // The identity's open batch: queued, or closing (riders join it).
        let mut open = None;
        for b in self.batches.ids() {
            if self.batches.get(b).is_some_and(|b| b.who == who && !b.sent) {
                open = Some(b);
                break;
            }
        }
        let batch_id = match open {
            Some(b) => b,
            None => {
                let b = self.batches.insert(Batch {
                    who,
                    flights: Vec::new(),
                    bytes: 0,
                    closing: false,
                    sent: false,
                });
                self.timers
                    .set(Timer(Kind::Window, b), now.saturating_add(window_ms));
                b
            }
        };
        let batch = self.batches.get_mut(batch_id).must();
        batch.flights.push(flight);
        batch.bytes += size;
        let full = !batch.closing && (batch.flights.len() >= max_size || batch.bytes >= max_bytes);
        let f = self.flights.get_mut(flight).must();
        f.route = Route::Queued(batch_id);
        f.batched = true;
        if full {
            self.flush(now, batch_id);
        }
        true
    }

    /// Close a queued batch and send it.
    pub(super) fn flush(&mut self, now: u64, batch_id: u32) {
        match self.batches.get_mut(batch_id) {
            Some(b) if !b.sent && !b.closing => b.closing = true,
            _ => return,
        }
        self.add_riders(now, batch_id);
        self.timers.stop(Timer(Kind::Window, batch_id));
        let batch = self.batches.get_mut(batch_id).must();
        if batch.flights.len() <= 1 || self.batch_unavailable {
            let batch = self.batches.remove(batch_id).must();
            for &f in &batch.flights {
                self.send_alone(f);
            }
            return;
        }
        batch.sent = true;
        // The words, written as the items are (no list of them in the wasm).
        let n = batch.flights.len() as u32;
        put(&mut self.words, &[op::BATCH, batch_id, n]);
        #[cfg(not(target_arch = "wasm32"))]
        let mut items = Vec::new();
        for &flight in &batch.flights {
            let f = self.flights.get_mut(flight).must();
            f.route = Route::Sent(batch_id);
            let key = f.key;
            let etag = self.keys.get(key).is_some_and(|k| k.data && k.etag);
            put(&mut self.words, &[flight, key, etag as u32]);
            #[cfg(not(target_arch = "wasm32"))]
            items.push(Item { flight, key, etag });
        }
        self.stats.batches_sent += 1;
        self.stats.batched_items += n as u64;
        #[cfg(not(target_arch = "wasm32"))]
        self.actions.push(Action::Batch {
            batch: batch_id,
            items,
        });
    }

    /// A queued flight left (all its callers aborted, or it timed out).
    pub(super) fn unqueue(&mut self, batch_id: u32, flight: u32) {
        let Some(batch) = self.batches.get_mut(batch_id) else {
            return;
        };
        remove_id(&mut batch.flights, flight);
        if batch.flights.is_empty() {
            self.batches.remove(batch_id);
            self.timers.stop(Timer(Kind::Window, batch_id));
        }
    }

    /// A flight of a sent batch left before its answer: when nobody in the
    /// batch waits any more, the batch request is aborted.
    pub(super) fn leave_sent_batch(&mut self, batch_id: u32, flight: u32) {
        let Some(batch) = self.batches.get_mut(batch_id) else {
            return;
        };
        let before = batch.flights.len();
        remove_id(&mut batch.flights, flight);
        if batch.flights.is_empty() && before > 0 {
            self.batches.remove(batch_id);
            self.emit(op::CANCEL_BATCH, batch_id, 0);
        }
    }

    /// A batch is leaving anyway: live keys of its identity that have no
    /// data yet, while the socket is not open, ride along (as requests that
    /// only fill the cache).
    fn add_riders(&mut self, now: u64, batch_id: u32) {
        let Some(cfg) = self.config.batch.clone() else {
            return;
        };
        let who = self.batches.get(batch_id).must().who;
        if self
            .socket
            .as_ref()
            .is_none_or(|s| matches!(s.state, SocketState::Open))
        {
            return;
        }
        // Live keys of `who` with no data and no request in flight. (A
        // rider changes only its own key, and none is made live here.)
        let mut i = 0;
        while let Some(&socket::Live { key, .. }) = self.live_at(i) {
            i += 1;
            if self.keys.get(key).is_none_or(|r| r.who != who) || !self.needs_fetch(key) {
                continue;
            }
            let batch = self.batches.get(batch_id).must();
            let size = self.keys.get(key).map_or(0, |k| k.item_bytes);
            // Stop before the batch is full.
            if batch.flights.len() + 1 >= cfg.max_size || batch.bytes + size >= cfg.max_bytes {
                break;
            }
            self.stats.socket_riders += 1;
            self.fetch_detached(now, key, false);
        }
    }

    /// Take out a batch that was sent; answers naming a batch still queued
    /// (a stale or wrong id) must not touch it.
    fn take_sent(&mut self, batch_id: u32) -> Option<Batch> {
        if !self.batches.get(batch_id).is_some_and(|b| b.sent) {
            return None;
        }
        self.batches.remove(batch_id)
    }

    /// The batch request failed as a whole (`status` 0: on the network). A
    /// server without the endpoint (404, 405, 501) turns batching off and the
    /// items go out alone; any other failure rejects every caller still
    /// waiting.
    pub fn batch_failed(&mut self, now: u64, batch_id: u32, status: u16) {
        let Some(batch) = self.take_sent(batch_id) else {
            return;
        };
        if matches!(status, 404 | 405 | 501) {
            self.batch_unavailable = true;
            self.stats.batch_fallbacks += batch.flights.len() as u64;
            for &f in &batch.flights {
                self.send_alone(f);
            }
            return;
        }
        let fail = if status == 0 {
            Fail::BatchNetwork { batch: batch_id }
        } else {
            Fail::BatchHttp {
                batch: batch_id,
                status,
            }
        };
        for &f in &batch.flights {
            self.outcome(now, f, Err(fail));
        }
    }

    /// One answer of a batch, for `flight`. Unknown or duplicate ones, and
    /// those for callers that left, are counted and ignored.
    pub fn batch_item(&mut self, now: u64, batch_id: u32, flight: u32, answer: Answer) {
        let wanted = self
            .batches
            .get_mut(batch_id)
            .filter(|b| b.sent)
            .and_then(|batch| {
                remove_id(&mut batch.flights, flight).then_some(batch.flights.is_empty())
            });
        let Some(last) = wanted else {
            self.stats.batch_ignored_answers += 1;
            return;
        };
        if last {
            // Nothing is left to read for: a streamed answer that stays open
            // must not hold its connection.
            self.batches.remove(batch_id);
            self.emit(op::CANCEL_BATCH, batch_id, 0);
        }
        if answer.status == 304 && answer.flags & Answer::NETWORK == 0 {
            self.not_modified(now, flight);
            return;
        }
        self.outcome(now, flight, classify(flight, answer));
    }

    /// An answer the shell could not read at all (no id, no status).
    pub fn batch_ignored(&mut self) {
        self.stats.batch_ignored_answers += 1;
    }

    /// A 304: the kept data is current again.
    fn not_modified(&mut self, now: u64, flight: u32) {
        let Some(f) = self.flights.get(flight) else {
            return;
        };
        let (key, ttl) = (f.key, f.ttl_ms);
        let kept = self.keys.get(key).is_some_and(|k| k.data && !k.shown);
        if !kept {
            // The entry was evicted meanwhile: ask again in full.
            self.send_alone(flight);
            return;
        }
        self.stats.revalidated += 1;
        let f = self.remove_flight(now, flight);
        self.circuit_record(now, key, None, f.probe);
        let k = self.keys.get_mut(key).must();
        // (An error the entry shows stays until new data replaces it: the
        // shell is told of errors and data, not of their clearing.)
        k.updated_at = Some(now);
        k.ttl_ms = ttl;
        k.invalidated = false;
        k.version = k.version.wrapping_add(1);
        for &waiter in &f.waiters {
            self.settle(now, waiter, op::RESOLVE_KEY, key, None, true);
        }
        self.data_changed(now, key);
        self.notify(key);
        self.release_key(key);
    }

    /// The answer ended. `broken`: it could not be read to the end (every
    /// item still waiting is rejected with the reason the shell recorded);
    /// otherwise whoever it left out is rejected by name. A broken answer is
    /// aborted.
    pub fn batch_end(&mut self, now: u64, batch_id: u32, broken: bool) {
        let Some(batch) = self.take_sent(batch_id) else {
            return;
        };
        if broken {
            // A garbage line may leave the stream open: nothing more is read
            // from it, so it must not hold its connection.
            self.emit(op::CANCEL_BATCH, batch_id, 0);
        }
        for &flight in &batch.flights {
            self.stats.batch_protocol_errors += 1;
            let fail = if broken {
                Fail::BatchBroken { batch: batch_id }
            } else {
                Fail::BatchMissing { flight }
            };
            self.outcome(now, flight, Err(fail));
        }
    }
}
