//! The batch scheduler: which flights share a `POST /batch`, and how its
//! answers fan back out.
//!
//! A flight that may be batched joins the open batch of its identity (a batch
//! never mixes credentials). The window opens with the first item and closes
//! `window_ms` later, or at once when the batch reaches `max_size` items or
//! `max_bytes`. A batch of one leaves as a plain GET. Answers are matched by
//! id; whatever the server leaves out is rejected with a protocol error that
//! names the id, so no caller ever waits on an answer that will not come.

use super::*;
use crate::core::batch::{self, Decoded, OutItem};

/// Identifies one batch, queued or sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BatchId(pub u64);

/// How requests are batched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchConfig {
    /// The absolute URL of the batch endpoint. Only requests to its origin
    /// are batched.
    pub endpoint: String,
    /// How long a batch waits for company after its first item.
    pub window_ms: u64,
    /// A batch with this many items leaves at once.
    pub max_size: usize,
    /// A batch whose request body reaches this many bytes leaves at once.
    pub max_bytes: usize,
    /// Ask for NDJSON, so each answer arrives as soon as it is ready.
    pub stream: bool,
}

impl BatchConfig {
    /// The defaults for `endpoint`.
    pub fn new(endpoint: String) -> Self {
        BatchConfig {
            endpoint,
            window_ms: 10,
            max_size: 50,
            max_bytes: 32 * 1024,
            stream: false,
        }
    }
}

/// A batch request that failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchFailure {
    /// The endpoint answered with this status.
    Status {
        /// HTTP status.
        status: u16,
        /// Body text.
        body: String,
    },
    /// The request or the answer's body failed on the network.
    Network(String),
}

#[derive(Debug)]
pub(super) struct Batch {
    identity: Identity,
    /// Queued: the items. Sent: the items still waiting for an answer.
    flights: Vec<FlightId>,
    bytes: usize,
    window: Option<u64>,
    /// `flush` is closing it: riders join, but nothing flushes it again.
    closing: bool,
    sent: bool,
}

/// The scheme, host and port of an absolute URL.
pub fn origin(url: &str) -> &str {
    let start = url
        .as_bytes()
        .windows(3)
        .position(|w| w == b"://")
        .map_or(0, |i| i + 3);
    match url[start..].find(['/', '?']) {
        Some(j) => &url[..start + j],
        None => url,
    }
}

impl<B: Clone> Core<B> {
    /// Put a new flight into its identity's open batch, if batching applies.
    pub(super) fn enqueue(&mut self, now: u64, flight_id: FlightId, identity: &Identity) -> bool {
        let Some(cfg) = &self.config.batch else {
            return false;
        };
        let flight = &self.flights[&flight_id];
        if self.batch_unavailable || origin(&flight.spec.url) != origin(&cfg.endpoint) {
            return false;
        }
        let (window_ms, max_size, max_bytes) = (cfg.window_ms, cfg.max_size, cfg.max_bytes);
        // What the item carries: the credential headers go once, on the
        // batch request itself.
        let size = batch::item_size(
            &flight.spec.url,
            flight
                .spec
                .headers
                .iter()
                .filter(|(n, _)| !identity.is_credential(n)),
        );
        let batch_id = match self.open_batches.get(identity) {
            Some(&b) => b,
            None => {
                let b = BatchId(self.bump());
                let at = now.saturating_add(window_ms);
                self.timers.insert((at, Deadline::Window(b)));
                self.batches.insert(
                    b,
                    Batch {
                        identity: identity.clone(),
                        flights: Vec::new(),
                        bytes: 0,
                        window: Some(at),
                        closing: false,
                        sent: false,
                    },
                );
                self.open_batches.insert(identity.clone(), b);
                b
            }
        };
        let batch = self.batches.get_mut(&batch_id).expect("open batch");
        batch.flights.push(flight_id);
        batch.bytes += size;
        let full = !batch.closing && (batch.flights.len() >= max_size || batch.bytes >= max_bytes);
        let flight = self.flights.get_mut(&flight_id).expect("flight");
        flight.route = Route::Queued(batch_id);
        flight.batched = true;
        if full {
            self.flush(now, batch_id);
        }
        true
    }

    /// Close a queued batch and send it.
    pub(super) fn flush(&mut self, now: u64, batch_id: BatchId) {
        match self.batches.get_mut(&batch_id) {
            Some(batch) if !batch.sent && !batch.closing => batch.closing = true,
            _ => return,
        }
        self.add_riders(now, batch_id);
        let Some(batch) = self.batches.get_mut(&batch_id) else {
            return;
        };
        if let Some(at) = batch.window.take() {
            self.timers.remove(&(at, Deadline::Window(batch_id)));
        }
        if self.open_batches.get(&batch.identity) == Some(&batch_id) {
            self.open_batches.remove(&batch.identity);
        }
        let Some(cfg) = self.config.batch.clone() else {
            return;
        };
        if batch.flights.len() <= 1 || self.batch_unavailable {
            let batch = self.batches.remove(&batch_id).expect("batch");
            for f in batch.flights {
                self.send_alone(f);
            }
            return;
        }
        batch.sent = true;
        let flights = batch.flights.clone();
        let identity = batch.identity.clone();
        let base = origin(&cfg.endpoint);
        let mut items = Vec::with_capacity(flights.len());
        let mut headers_of = Vec::with_capacity(flights.len());
        for f in &flights {
            let flight = self.flights.get_mut(f).expect("queued flight");
            flight.route = Route::Sent(batch_id);
            let mut h: Vec<(String, String)> = flight
                .spec
                .headers
                .iter()
                .filter(|(n, _)| !identity.is_credential(n))
                .cloned()
                .collect();
            if let Some(etag) = self
                .cache
                .peek(&flight.key)
                .filter(|e| e.data.is_some())
                .and_then(|e| e.etag.clone())
            {
                h.push(("If-None-Match".to_string(), etag));
            }
            headers_of.push(h);
        }
        for (f, h) in flights.iter().zip(&headers_of) {
            let url = &self.flights[f].spec.url;
            let path = match &url[base.len()..] {
                "" => "/",
                p => p,
            };
            items.push(OutItem {
                id: f.0.to_string(),
                url: path,
                headers: h,
            });
        }
        let body = batch::encode_request(&items);
        let mut headers = vec![
            ("Content-Type".to_string(), "application/json".to_string()),
            (
                "Accept".to_string(),
                if cfg.stream {
                    "application/x-ndjson"
                } else {
                    "application/json"
                }
                .to_string(),
            ),
        ];
        headers.extend(
            identity
                .headers()
                .map(|(n, v)| (n.to_string(), v.to_string())),
        );
        self.stats.batches_sent += 1;
        self.stats.batched_items += flights.len() as u64;
        self.actions.push_back(Action::SendBatch {
            batch: batch_id,
            spec: FetchSpec {
                url: cfg.endpoint,
                headers,
                credentials: identity.credentials,
            },
            body,
        });
    }

    /// A queued flight left (all its callers aborted, or it timed out).
    pub(super) fn unqueue(&mut self, batch_id: BatchId, flight_id: FlightId) {
        let Some(batch) = self.batches.get_mut(&batch_id) else {
            return;
        };
        batch.flights.retain(|f| *f != flight_id);
        if batch.flights.is_empty() {
            let batch = self.batches.remove(&batch_id).expect("batch");
            if let Some(at) = batch.window {
                self.timers.remove(&(at, Deadline::Window(batch_id)));
            }
            if self.open_batches.get(&batch.identity) == Some(&batch_id) {
                self.open_batches.remove(&batch.identity);
            }
        }
    }

    /// A flight of a sent batch left before its answer: when nobody in the
    /// batch waits any more, the batch request is aborted.
    pub(super) fn leave_sent_batch(&mut self, batch_id: BatchId, flight_id: FlightId) {
        let Some(batch) = self.batches.get_mut(&batch_id) else {
            return;
        };
        let before = batch.flights.len();
        batch.flights.retain(|f| *f != flight_id);
        if batch.flights.is_empty() && before > 0 {
            self.batches.remove(&batch_id);
            self.actions
                .push_back(Action::CancelBatch { batch: batch_id });
        }
    }

    /// A batch is leaving anyway: live keys of its identity that have no
    /// data yet, while the socket is not open, ride along (as requests that
    /// only fill the cache). They cost no extra HTTP request, the page gets
    /// their data now rather than after `connect_timeout_ms`, and there is
    /// nothing left to fetch at the fallback.
    fn add_riders(&mut self, now: u64, batch_id: BatchId) {
        let Some(cfg) = self.config.batch.clone() else {
            return;
        };
        let identity = self.batches[&batch_id].identity.clone();
        for req in self.live_without_data(&identity) {
            let batch = &self.batches[&batch_id];
            let size = batch::item_size(&req.url, req.headers.iter());
            // Stop before the batch is full: enqueue would flush it.
            if batch.flights.len() + 1 >= cfg.max_size || batch.bytes + size >= cfg.max_bytes {
                break;
            }
            if self.open_batches.get(&identity) != Some(&batch_id) {
                break;
            }
            self.stats.socket_riders += 1;
            self.fetch_detached(now, req);
        }
    }

    /// The batch request failed as a whole. A server without the endpoint
    /// (404, 405, 501) turns batching off and the items go out alone; any
    /// other failure rejects every caller still waiting with that error.
    pub fn batch_failed(&mut self, now: u64, batch_id: BatchId, failure: BatchFailure) {
        let Some(batch) = self.batches.remove(&batch_id) else {
            return;
        };
        if let BatchFailure::Status {
            status: 404 | 405 | 501,
            ..
        } = failure
        {
            self.batch_unavailable = true;
            self.stats.batch_fallbacks += batch.flights.len() as u64;
            for f in batch.flights {
                self.send_alone(f);
            }
            return;
        }
        let error = match failure {
            BatchFailure::Status { status, body } => FetchError::Http {
                status,
                body,
                retry_after: None,
            },
            BatchFailure::Network(why) => FetchError::Network(why),
        };
        for f in batch.flights {
            self.fetch_done(now, f, Outcome::Failed(error.clone()));
        }
    }

    /// The whole body of a plain (non-streamed) batch answer.
    pub fn batch_body(
        &mut self,
        now: u64,
        batch_id: BatchId,
        text: &str,
        parse: &mut dyn FnMut(&str) -> Result<B, String>,
    ) {
        if !self.batches.contains_key(&batch_id) {
            return;
        }
        match batch::decode_envelope(text) {
            Err(e) => self.batch_broken(
                now,
                batch_id,
                format!("the answer is not the expected JSON ({e})"),
            ),
            Ok(items) => {
                for item in items {
                    self.batch_answer(now, batch_id, item, parse);
                }
                self.batch_finish(now, batch_id);
            }
        }
    }

    /// One complete line of a streamed (NDJSON) batch answer.
    pub fn batch_line(
        &mut self,
        now: u64,
        batch_id: BatchId,
        line: &str,
        parse: &mut dyn FnMut(&str) -> Result<B, String>,
    ) {
        if line.trim().is_empty() || !self.batches.contains_key(&batch_id) {
            return;
        }
        match batch::decode_line(line) {
            Ok(item) => self.batch_answer(now, batch_id, item, parse),
            Err(e) => {
                self.batch_broken(
                    now,
                    batch_id,
                    format!("an NDJSON line is not the expected JSON ({e})"),
                );
                self.actions
                    .push_back(Action::CancelBatch { batch: batch_id });
            }
        }
    }

    /// A streamed answer ended; `rest` is whatever followed the last newline.
    pub fn batch_end(
        &mut self,
        now: u64,
        batch_id: BatchId,
        rest: &str,
        parse: &mut dyn FnMut(&str) -> Result<B, String>,
    ) {
        if !self.batches.contains_key(&batch_id) {
            return;
        }
        if !rest.trim().is_empty() {
            match batch::decode_line(rest) {
                Ok(item) => self.batch_answer(now, batch_id, item, parse),
                Err(e) => {
                    return self.batch_broken(
                        now,
                        batch_id,
                        format!("the NDJSON answer ended mid-line ({e})"),
                    )
                }
            }
        }
        self.batch_finish(now, batch_id);
    }

    fn batch_answer(
        &mut self,
        now: u64,
        batch_id: BatchId,
        item: Decoded<'_>,
        parse: &mut dyn FnMut(&str) -> Result<B, String>,
    ) {
        let Ok(answer) = item else {
            self.stats.batch_ignored_answers += 1;
            return;
        };
        let wanted = self.batches.get_mut(&batch_id).and_then(|batch| {
            let id = answer.id.parse::<u64>().ok()?;
            let pos = batch.flights.iter().position(|f| f.0 == id)?;
            Some((batch.flights.remove(pos), batch.flights.is_empty()))
        });
        let Some((flight_id, last)) = wanted else {
            // Unknown, duplicate, or for a caller that already left.
            self.stats.batch_ignored_answers += 1;
            return;
        };
        if last {
            // Nothing is left to read for: a streamed answer that stays open
            // must not hold its connection.
            self.batches.remove(&batch_id);
            self.actions
                .push_back(Action::CancelBatch { batch: batch_id });
        }
        let outcome = match answer.status {
            200..=299 => match parse(answer.body.unwrap_or("null")) {
                Ok(body) => Outcome::Body {
                    body,
                    etag: answer.header("etag").map(str::to_string),
                    no_store: answer
                        .header("cache-control")
                        .is_some_and(crate::core::key::no_store),
                    size: answer.body.map_or(0, str::len),
                },
                Err(why) => Outcome::Failed(FetchError::Parse(why)),
            },
            304 => {
                let flight = &self.flights[&flight_id];
                let (key, ttl) = (flight.key.clone(), flight.ttl_ms);
                let cached = self
                    .cache
                    .peek(&key)
                    .and_then(|e| e.data.clone().map(|d| (d, e.etag.clone())));
                match cached {
                    Some((body, etag)) => {
                        self.stats.revalidated += 1;
                        self.cache.refresh(&key, now, ttl);
                        let size = self.cache.peek(&key).map_or(0, |e| e.bytes);
                        Outcome::Body {
                            body,
                            etag,
                            no_store: false,
                            size,
                        }
                    }
                    None => {
                        // The entry was evicted meanwhile: ask again in full.
                        self.send_alone(flight_id);
                        return;
                    }
                }
            }
            400..=599 => Outcome::Failed(FetchError::Http {
                status: answer.status,
                body: answer.body.map(unquote_text).unwrap_or_default(),
                retry_after: answer
                    .header("retry-after")
                    .and_then(|v| crate::core::retry::parse_retry_after(v, now)),
            }),
            s => Outcome::Failed(FetchError::Batch(format!(
                "unexpected status {s} for id {}",
                answer.id
            ))),
        };
        self.fetch_done(now, flight_id, outcome);
    }

    /// The answer is complete: whoever it left out is rejected by name.
    fn batch_finish(&mut self, now: u64, batch_id: BatchId) {
        let Some(batch) = self.batches.remove(&batch_id) else {
            return;
        };
        for f in batch.flights {
            let url = self.flights[&f].spec.url.clone();
            self.stats.batch_protocol_errors += 1;
            let why = format!("the answer has no item with id \"{}\" ({url})", f.0);
            self.fetch_done(now, f, Outcome::Failed(FetchError::Batch(why)));
        }
    }

    /// The answer cannot be read: every caller still waiting is rejected.
    fn batch_broken(&mut self, now: u64, batch_id: BatchId, why: String) {
        let Some(batch) = self.batches.remove(&batch_id) else {
            return;
        };
        for f in batch.flights {
            self.stats.batch_protocol_errors += 1;
            self.fetch_done(now, f, Outcome::Failed(FetchError::Batch(why.clone())));
        }
    }
}

/// An item's error body as text: a JSON string is unquoted, anything else is
/// kept as its JSON text (the shell parses it back when it can).
fn unquote_text(raw: &str) -> String {
    crate::core::json::Scanner::new(raw)
        .string()
        .unwrap_or_else(|_| raw.to_string())
}
