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

/// Open the circuit of a.test and let the cool-down pass.
fn open_then_cool_down(s: &mut Sim) {
    for _ in 0..3 {
        failed(s, A, http(503));
    }
    s.advance(5_000);
}

#[test]
fn a_probe_whose_caller_left_lets_the_next_request_probe() {
    let mut s = sim();
    open_then_cool_down(&mut s);
    let probe = s.get(A2);
    let sent = s.fetches.len();
    s.core.abort(s.now, probe);
    s.drain();
    assert_eq!(s.cancels.len(), 1, "the probe's request is aborted");
    let next = s.get(A2);
    assert_eq!(s.fetches.len(), sent + 1, "a new probe goes out");
    assert!(!s.settled.contains_key(&next));
    s.answer(s.last_flight(), 1);
    assert_eq!(s.core.open_circuits(), 0);
}

#[test]
fn any_answer_from_the_origin_ends_the_probe_and_closes_the_circuit() {
    for answer in [
        http(401),
        http(404),
        FetchError::Parse("not JSON".into()),
        FetchError::Batch("no item with id 3".into()),
    ] {
        let mut s = sim();
        open_then_cool_down(&mut s);
        s.get(A2);
        s.fail(s.last_flight(), answer.clone());
        assert_eq!(s.core.open_circuits(), 0, "{answer:?} closes the circuit");
        let before = s.fetches.len();
        s.get("http://a.test/api/next");
        assert_eq!(s.fetches.len(), before + 1, "after {answer:?}");
    }
}

#[test]
fn a_probe_that_times_out_reopens_for_another_cool_down() {
    let mut s = sim();
    open_then_cool_down(&mut s);
    s.get(A2);
    s.fail(s.last_flight(), FetchError::Timeout { ms: 30_000 });
    assert_eq!(s.core.stats().circuit_opens, 2);
    let w = s.get(A2);
    assert!(matches!(s.settled[&w], Err(FetchError::CircuitOpen { .. })));
}

#[test]
fn the_table_of_failing_origins_stays_bounded() {
    let mut s = sim();
    for i in 0..1_000 {
        failed(&mut s, &format!("http://o{i}.test/x"), http(503));
    }
    assert!(
        s.core.tracked_origins() <= calmfetch::core::engine::MAX_ORIGINS,
        "{} origins tracked",
        s.core.tracked_origins()
    );
    // An origin failing over and over is still caught.
    for _ in 0..3 {
        failed(&mut s, B, http(503));
    }
    assert_eq!(s.core.stats().circuit_opens, 1);
}
