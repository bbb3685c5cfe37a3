//! Native tests of the circuit breaker with a simulated clock.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use calmfetch::core::{CircuitConfig, Config, FetchError};
use common::Sim;

const A: &str = "http://a.test/api/x";
const A2: &str = "http://a.test/api/y";
const B: &str = "http://b.test/api/x";

fn sim() -> Sim {
    Sim::new(Config {
        circuit: Some(CircuitConfig {
            failures: 3,
            cool_down_ms: 5_000,
        }),
        ..Config::default()
    })
}

fn http(status: u16) -> FetchError {
    FetchError::Http {
        status,
        body: String::new(),
        retry_after: None,
    }
}

/// `get` `url` and fail its request with `e`.
fn failed(s: &mut Sim, url: &str, e: FetchError) {
    let before = s.fetches.len();
    s.get(url);
    assert_eq!(s.fetches.len(), before + 1, "the request went out");
    s.fail(s.last_flight(), e);
}

#[test]
fn consecutive_failures_open_the_circuit_for_that_origin_only() {
    let mut s = sim();
    failed(&mut s, A, http(503));
    failed(&mut s, A2, FetchError::Network("reset".into()));
    failed(&mut s, A, FetchError::Timeout { ms: 30_000 });
    assert_eq!(s.core.stats().circuit_opens, 1);
    let sent = s.fetches.len();
    let w = s.get(A2);
    assert_eq!(s.fetches.len(), sent, "nothing is sent to a.test");
    match &s.settled[&w] {
        Err(FetchError::CircuitOpen {
            origin,
            failures,
            retry_in_ms,
        }) => {
            assert_eq!(
                (origin.as_str(), *failures, *retry_in_ms),
                ("http://a.test", 3, 5_000)
            );
        }
        other => panic!("expected a circuit-open error, got {other:?}"),
    }
    let msg = s.settled[&w].clone().unwrap_err().to_string();
    assert!(
        msg.contains("http://a.test failed 3 times in a row"),
        "{msg}"
    );
    // Another origin is not affected.
    s.get(B);
    assert_eq!(s.fetches.len(), sent + 1);
    assert_eq!(s.core.pending_waiters(), 1);
}

#[test]
fn client_errors_do_not_count_and_a_success_resets_the_count() {
    let mut s = sim();
    for _ in 0..10 {
        failed(&mut s, A, http(404));
    }
    failed(&mut s, A, http(500));
    failed(&mut s, A, http(429));
    s.get(A2);
    s.answer(s.last_flight(), 1);
    failed(&mut s, A, http(502));
    failed(&mut s, A, http(504));
    assert_eq!(s.core.stats().circuit_opens, 0);
    assert_eq!(s.core.open_circuits(), 0);
}

#[test]
fn an_open_circuit_serves_stale_cache_and_a_probe_closes_or_reopens_it() {
    let mut s = sim();
    let w = s.get(A);
    s.answer(s.last_flight(), 7);
    assert_eq!(s.settled[&w], Ok(7));
    s.advance(10_000); // A's entry is stale now
    for _ in 0..3 {
        failed(&mut s, A2, http(500));
    }
    let sent = s.fetches.len();
    let stale = s.get(A);
    assert_eq!(
        s.settled[&stale],
        Ok(7),
        "stale data while the circuit is open"
    );
    assert_eq!(s.fetches.len(), sent);
    assert_eq!(s.core.stats().circuit_stale, 1);

    // After the cool-down one probe goes; others are refused meanwhile.
    s.advance(5_000);
    s.get(A2);
    assert_eq!(s.fetches.len(), sent + 1, "the probe");
    let probe = s.last_flight();
    let refused = s.get("http://a.test/api/z");
    assert!(matches!(
        s.settled[&refused],
        Err(FetchError::CircuitOpen { .. })
    ));
    assert_eq!(s.fetches.len(), sent + 1);
    // The probe fails: open for another cool-down.
    s.fail(probe, http(503));
    assert_eq!(s.core.stats().circuit_opens, 2);
    s.advance(4_999);
    s.get("http://a.test/api/w");
    assert_eq!(s.fetches.len(), sent + 1);
    // The next probe succeeds: closed, everything flows again.
    s.advance(1);
    s.get(A2);
    s.answer(s.last_flight(), 8);
    assert_eq!(s.core.open_circuits(), 0);
    let before = s.fetches.len();
    s.get("http://a.test/api/v");
    assert_eq!(s.fetches.len(), before + 1);
}

#[test]
fn without_a_circuit_config_nothing_is_ever_refused() {
    let mut s = Sim::new(Config::default());
    for _ in 0..20 {
        failed(&mut s, A, http(503));
    }
    assert_eq!(s.core.open_circuits(), 0);
}
