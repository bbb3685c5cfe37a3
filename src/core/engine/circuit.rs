//! A circuit breaker per origin.
//!
//! After `failures` consecutive failed requests to one origin (network
//! errors, timeouts, 429 and 5xx answers; each batch item counts), the
//! circuit opens: for `cool_down_ms` nothing is sent there. A `get` in that
//! time is answered with the cached data, even stale, or rejected at once
//! with [`FetchError::CircuitOpen`]. The first request after the cool-down
//! is a probe (the circuit is half-open: others are refused meanwhile); its
//! success closes the circuit, its failure opens it for another cool-down.

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
    /// `Some(error)` when the circuit of `url`'s origin refuses a new request
    /// now; `None` lets it go (and makes it the probe of a half-open circuit).
    pub(super) fn circuit_refuses(&mut self, now: u64, url: &str) -> Option<FetchError> {
        let cfg = self.config.circuit.as_ref()?;
        let o = origin(url);
        let c = self.circuits.get_mut(o)?;
        let until = c.open_until?;
        if now < until || c.probing {
            return Some(FetchError::CircuitOpen {
                origin: o.to_string(),
                failures: c.failures.max(cfg.failures),
                retry_in_ms: until.saturating_sub(now),
            });
        }
        c.probing = true;
        None
    }

    /// A request to `url` finished: `Ok` for any answer that is not a
    /// counted failure.
    pub(super) fn circuit_record(&mut self, now: u64, url: &str, result: Result<(), &FetchError>) {
        let Some(cfg) = self.config.circuit.clone() else {
            return;
        };
        let o = origin(url);
        match result {
            Err(e) if counts(e) => {
                let c = self.circuits.entry(o.to_string()).or_default();
                c.failures = c.failures.saturating_add(1);
                if c.probing || (c.open_until.is_none() && c.failures >= cfg.failures) {
                    c.probing = false;
                    c.open_until = Some(now.saturating_add(cfg.cool_down_ms));
                    self.stats.circuit_opens += 1;
                }
            }
            Err(_) => {}
            Ok(()) => {
                self.circuits.remove(o);
            }
        }
    }

    /// Origins whose circuit is not closed (for tests and leak checks).
    pub fn open_circuits(&self) -> usize {
        self.circuits
            .values()
            .filter(|c| c.open_until.is_some())
            .count()
    }
}
