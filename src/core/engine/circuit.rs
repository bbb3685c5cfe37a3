//! A circuit breaker per origin.
//!
//! After `failures` consecutive failed requests to one origin (network
//! errors, timeouts, 429 and 5xx answers; each batch item counts), the
//! circuit opens: for `cool_down_ms` nothing is sent there. A `get` in that
//! time is answered with the cached data, even stale, or rejected at once
//! with [`FetchError::CircuitOpen`]. The first request after the cool-down
//! is a probe (the circuit is half-open: others are refused meanwhile). The
//! probe always ends the half-open state: any answer from the origin that is
//! not a counted failure (a success, a 4xx, a body that is not JSON, a broken
//! batch answer) closes the circuit, since the origin answers; a counted
//! failure opens it for another cool-down; a probe that never gets an answer
//! (every caller left) lets the next request probe instead.
//!
//! At most [`MAX_ORIGINS`] origins are tracked: a page that talks to many
//! failing origins cannot grow the table without bound.

use super::*;

/// Circuit breaker settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircuitConfig {
    /// Consecutive failures that open the circuit.
    pub failures: u32,
    /// How long an open circuit sends nothing.
    pub cool_down_ms: u64,
}

impl Default for CircuitConfig {
    fn default() -> Self {
        CircuitConfig {
            failures: 5,
            cool_down_ms: 10_000,
        }
    }
}

/// How many origins the breaker keeps track of at most.
pub const MAX_ORIGINS: usize = 64;

/// One origin's circuit.
#[derive(Debug, Default)]
pub(super) struct Circuit {
    failures: u32,
    open_until: Option<u64>,
    probing: bool,
}

/// Does this failure count against the origin's health?
fn counts(error: &FetchError) -> bool {
    match error {
        FetchError::Network(_) | FetchError::Timeout { .. } => true,
        FetchError::Http { status, .. } => *status == 429 || *status >= 500,
        _ => false,
    }
}

impl<B: Clone> Core<B> {
    /// `Err(error)` when the circuit of `url`'s origin refuses a new request
    /// now; `Ok(probe)` lets it go, `Ok(true)` when it is the probe of a
    /// half-open circuit (see [`Core::circuit_probe_gone`]).
    pub(super) fn circuit_refuses(&mut self, now: u64, url: &str) -> Result<bool, FetchError> {
        let Some(cfg) = self.config.circuit.as_ref() else {
            return Ok(false);
        };
        let o = origin(url);
        let Some(c) = self.circuits.get_mut(o) else {
            return Ok(false);
        };
        let Some(until) = c.open_until else {
            return Ok(false);
        };
        if now < until || c.probing {
            return Err(FetchError::CircuitOpen {
                origin: o.to_string(),
                failures: c.failures.max(cfg.failures),
                retry_in_ms: until.saturating_sub(now),
            });
        }
        c.probing = true;
        Ok(true)
    }

    /// The probe of `url`'s origin left without an answer: the circuit
    /// stays half-open and the next request is the probe.
    pub(super) fn circuit_probe_gone(&mut self, url: &str) {
        if let Some(c) = self.circuits.get_mut(origin(url)) {
            c.probing = false;
        }
    }

    /// A request to `url` finished (`probe`: it was the half-open
    /// circuit's probe). A counted failure counts; any other answer from the
    /// origin closes its circuit.
    pub(super) fn circuit_record(
        &mut self,
        now: u64,
        url: &str,
        result: Result<(), &FetchError>,
        probe: bool,
    ) {
        let Some(cfg) = self.config.circuit.clone() else {
            return;
        };
        let o = origin(url);
        match result {
            Err(e) if counts(e) => {
                if !self.circuits.contains_key(o) && !self.circuit_room(now) {
                    return;
                }
                let c = self.circuits.entry(o.to_string()).or_default();
                c.failures = c.failures.saturating_add(1);
                let reopen = probe && c.probing;
                if reopen || (c.open_until.is_none() && c.failures >= cfg.failures) {
                    c.probing = false;
                    c.open_until = Some(now.saturating_add(cfg.cool_down_ms));
                    self.stats.circuit_opens += 1;
                }
            }
            // The caller left or the request was never sent: says nothing
            // about the origin.
            Err(FetchError::Abort | FetchError::Invalid(_) | FetchError::CircuitOpen { .. }) => {
                if probe {
                    self.circuit_probe_gone(url);
                }
            }
            // Any other answer (a 4xx, a body that is not JSON, a broken
            // batch answer) came from an origin that is up.
            Err(_) | Ok(()) => {
                self.circuits.remove(o);
            }
        }
    }

    /// Make room for one more origin: forget the ones whose circuit is
    /// closed, then those whose cool-down is over. `false` if every tracked
    /// origin is still cooling down (the new one is then not tracked).
    fn circuit_room(&mut self, now: u64) -> bool {
        if self.circuits.len() < MAX_ORIGINS {
            return true;
        }
        self.circuits.retain(|_, c| c.open_until.is_some());
        if self.circuits.len() >= MAX_ORIGINS {
            self.circuits
                .retain(|_, c| c.probing || c.open_until.is_some_and(|t| now < t));
        }
        self.circuits.len() < MAX_ORIGINS
    }

    /// Origins the breaker tracks (for tests and leak checks).
    pub fn tracked_origins(&self) -> usize {
        self.circuits.len()
    }

    /// Origins whose circuit is not closed (for tests and leak checks).
    pub fn open_circuits(&self) -> usize {
        self.circuits
            .values()
            .filter(|c| c.open_until.is_some())
            .count()
    }
}
