//! A simulated shell for the core: drains actions, records what it was
//! asked to do, and checks that every waiter settles exactly once.
#![allow(dead_code)]

use std::collections::HashMap;

use calmfetch::core::{
    Action, BatchId, Config, Core, FetchError, FetchSpec, FlightId, GetRequest, Key, Outcome,
    WaiterId,
};

/// Bodies in the simulation are numbers; a batch item body parses as one.
pub fn parse_u32(raw: &str) -> Result<u32, String> {
    raw.trim().parse::<u32>().map_err(|e| format!("{e}: {raw}"))
}

/// A harness that drains actions and records how every waiter settled.
pub struct Sim {
    pub core: Core<u32>,
    pub now: u64,
    pub settled: HashMap<WaiterId, Result<u32, FetchError>>,
    pub double_settled: Vec<WaiterId>,
    pub fetches: Vec<(FlightId, FetchSpec)>,
    pub cancels: Vec<FlightId>,
    pub notified: Vec<Key>,
    pub batches: Vec<(BatchId, FetchSpec, String)>,
    pub cancelled_batches: Vec<BatchId>,
    pub polled: Vec<Key>,
    /// Socket actions: "open", "close", sent texts, "problem: ...".
    pub socket: Vec<String>,
    /// How many of `fetches` `run_until` has answered.
    pub answered: usize,
}

impl Sim {
    pub fn new(config: Config) -> Self {
        Sim {
            core: Core::new(config),
            now: 0,
            settled: HashMap::new(),
            double_settled: Vec::new(),
            fetches: Vec::new(),
            cancels: Vec::new(),
            notified: Vec::new(),
            batches: Vec::new(),
            cancelled_batches: Vec::new(),
            polled: Vec::new(),
            socket: Vec::new(),
            answered: 0,
        }
    }

    pub fn get(&mut self, url: &str) -> WaiterId {
        self.get_with(url, |_| {})
    }

    pub fn get_with(&mut self, url: &str, f: impl FnOnce(&mut GetRequest)) -> WaiterId {
        let mut req = GetRequest {
            url: url.to_string(),
            ..Default::default()
        };
        f(&mut req);
        let w = self.core.get(self.now, req);
        self.drain();
        w
    }

    pub fn drain(&mut self) {
        while let Some(a) = self.core.poll_action() {
            match a {
                Action::Fetch { flight, spec } => self.fetches.push((flight, spec)),
                Action::Cancel { flight } => self.cancels.push(flight),
                Action::Resolve { waiters, body } => {
                    for w in waiters {
                        self.settle(w, Ok(body));
                    }
                }
                Action::Reject { waiters, error } => {
                    for w in waiters {
                        self.settle(w, Err(error.clone()));
                    }
                }
                Action::Notify { key } => self.notified.push(key),
                Action::SendBatch { batch, spec, body } => self.batches.push((batch, spec, body)),
                Action::CancelBatch { batch } => self.cancelled_batches.push(batch),
                Action::Polled { key } => self.polled.push(key),
                Action::SocketOpen => self.socket.push("open".into()),
                Action::SocketSend { text } => self.socket.push(text),
                Action::SocketClose => self.socket.push("close".into()),
                Action::SocketProblem { message } => {
                    self.socket.push(format!("problem: {message}"))
                }
            }
        }
    }

    pub fn settle(&mut self, w: WaiterId, r: Result<u32, FetchError>) {
        if self.settled.insert(w, r).is_some() {
            self.double_settled.push(w);
        }
    }

    pub fn answer(&mut self, flight: FlightId, body: u32) {
        self.core.fetch_done(
            self.now,
            flight,
            Outcome::Body {
                body,
                etag: None,
                no_store: false,
                size: 1,
            },
        );
        self.drain();
    }

    pub fn fail(&mut self, flight: FlightId, e: FetchError) {
        self.core.fetch_done(self.now, flight, Outcome::Failed(e));
        self.drain();
    }

    pub fn advance(&mut self, ms: u64) {
        self.now += ms;
        self.core.handle_timeout(self.now);
        self.drain();
    }

    pub fn last_flight(&self) -> FlightId {
        self.fetches.last().expect("a fetch").0
    }
}

impl Sim {
    pub fn batch_body(&mut self, b: BatchId, text: &str) {
        self.core.batch_body(self.now, b, text, &mut parse_u32);
        self.drain();
    }

    pub fn batch_line(&mut self, b: BatchId, line: &str) {
        self.core.batch_line(self.now, b, line, &mut parse_u32);
        self.drain();
    }

    pub fn batch_end(&mut self, b: BatchId, rest: &str) {
        self.core.batch_end(self.now, b, rest, &mut parse_u32);
        self.drain();
    }

    pub fn last_batch(&self) -> (BatchId, String) {
        let (b, _, body) = self.batches.last().expect("a batch");
        (*b, body.clone())
    }
}

/// The ids in a batch request body, in order.
pub fn ids(body: &str) -> Vec<String> {
    body.split(r#""id":""#)
        .skip(1)
        .map(|s| s.split('"').next().unwrap_or("").to_string())
        .collect()
}

impl Sim {
    /// Let simulated time run to `until`, answering every plain request at
    /// once with `reply(url)` (Ok: a body; Err: an error).
    pub fn run_until(
        &mut self,
        until: u64,
        mut reply: impl FnMut(&str, u64) -> Result<u32, FetchError>,
    ) {
        loop {
            while self.answered < self.fetches.len() {
                let (f, spec) = self.fetches[self.answered].clone();
                self.answered += 1;
                match reply(&spec.url, self.now) {
                    Ok(b) => self.answer(f, b),
                    Err(e) => self.fail(f, e),
                }
            }
            match self.core.poll_timeout() {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    self.core.handle_timeout(self.now);
                    self.drain();
                }
                _ => break,
            }
        }
        self.now = until;
    }

    /// How many plain requests went to `url`.
    pub fn requests_to(&self, url: &str) -> usize {
        self.fetches.iter().filter(|(_, s)| s.url == url).count()
    }
}
