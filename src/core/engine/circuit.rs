//! A circuit breaker per origin.
//!
//! After `failures` consecutive failed requests to one origin (network
//! errors, timeouts, 429 and 5xx answers; each batch item counts), the
//! circuit opens: for `cool_down_ms` nothing is sent there. A `get` in that
//! time is answered with the kept data, even stale, or rejected at once with
//! [`Fail::Circuit`]. The first request after the cool-down is a probe (the
//! circuit is half-open: others are refused meanwhile). The probe always
//! ends the half-open state: any answer from the origin that is not a
//! counted failure closes the circuit; a counted failure opens it for
//! another cool-down; a probe that never gets an answer (every caller left)
//! lets the next request probe instead.
//!
//! At most [`MAX_ORIGINS`] origins are tracked.

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

impl Core {
    fn circuit_mut(&mut self, origin: u32) -> Option<&mut Circuit> {
        self.circuits
            .iter_mut()
            .find(|(o, _)| *o == origin)
            .map(|(_, c)| c)
    }

    /// `Err` when the circuit of `origin` refuses a new request now;
    /// `Ok(true)` when the request is the probe of a half-open circuit.
    pub(super) fn circuit_refuses(&mut self, now: u64, origin: u32) -> Result<bool, Fail> {
        let Some(threshold) = self.config.circuit.as_ref().map(|c| c.failures) else {
            return Ok(false);
        };
        let Some(c) = self.circuit_mut(origin) else {
            return Ok(false);
        };
        let Some(until) = c.open_until else {
            return Ok(false);
        };
        if now < until || c.probing {
            return Err(Fail::Circuit {
                origin,
                retry_in_ms: until.saturating_sub(now),
                failures: c.failures.max(threshold),
            });
        }
        c.probing = true;
        Ok(true)
    }

    /// Is the circuit of `origin` open (or half-open with its probe out) at `now`?
    pub(super) fn circuit_open(&mut self, now: u64, origin: u32) -> bool {
        self.config.circuit.is_some()
            && self
                .circuit_mut(origin)
                .is_some_and(|c| c.probing || c.open_until.is_some_and(|t| now < t))
    }

    /// The probe of `key`'s origin left without an answer: the next request
    /// probes.
    pub(super) fn circuit_probe_gone(&mut self, key: u32) {
        let origin = self.keys.get(key).map_or(0, |k| k.origin);
        if let Some(c) = self.circuit_mut(origin) {
            c.probing = false;
        }
    }

    /// A request of `key` finished (`probe`: it was the probe). A counted
    /// failure counts; any other answer from the origin closes its circuit.
    pub(super) fn circuit_record(&mut self, now: u64, key: u32, fail: Option<Fail>, probe: bool) {
        if let Some(origin) = self.keys.get(key).map(|k| k.origin) {
            self.circuit_count(now, origin, fail, probe);
        }
    }

    /// A request to `origin` finished (`probe`: it was the probe).
    pub(super) fn circuit_count(&mut self, now: u64, origin: u32, fail: Option<Fail>, probe: bool) {
        let Some(cfg) = self.config.circuit.clone() else {
            return;
        };
        match fail {
            Some(f) if f.counts() => {
                if self.circuit_mut(origin).is_none() {
                    if !self.circuit_room(now) {
                        return;
                    }
                    self.circuits.push((origin, Circuit::default()));
                }
                let c = self.circuit_mut(origin).must();
                c.failures = c.failures.saturating_add(1);
                let reopen = probe && c.probing;
                if reopen || (c.open_until.is_none() && c.failures >= cfg.failures) {
                    c.probing = false;
                    c.open_until = Some(now.saturating_add(cfg.cool_down_ms));
                    self.stats.circuit_opens += 1;
                }
            }
            Some(f) if !f.answered() => {
                if let Some(c) = self.circuit_mut(origin).filter(|_| probe) {
                    c.probing = false;
                }
            }
            _ => {
                // (One circuit per origin; their order does not matter.)
                if let Some(i) = self.circuits.iter().position(|(o, _)| *o == origin) {
                    swap_take(&mut self.circuits, i);
                }
            }
        }
    }

    /// Make room for one more origin: forget closed circuits, then those
    /// whose cool-down is over.
    fn circuit_room(&mut self, now: u64) -> bool {
        // (One loop for both passes; the circuits' order does not matter.)
        for pass in 0..2 {
            if self.circuits.len() < MAX_ORIGINS {
                return true;
            }
            let mut i = 0;
            while let Some((_, c)) = self.circuits.get(i) {
                // Pass 0 keeps the open ones; pass 1 (all open now) those
                // probing or still cooling down.
                if c.open_until
                    .is_some_and(|t| pass == 0 || c.probing || now < t)
                {
                    i += 1;
                } else {
                    swap_take(&mut self.circuits, i);
                }
            }
        }
        self.circuits.len() < MAX_ORIGINS
    }

    /// Origins whose circuit is not closed (for tests).
    pub fn open_circuits(&self) -> usize {
        self.circuits
            .iter()
            .filter(|(_, c)| c.open_until.is_some())
            .count()
    }

    /// Origins the breaker tracks (for tests).
    pub fn tracked_origins(&self) -> usize {
        self.circuits.len()
    }
}
