//! Native tests of the retries of failed reads, in simulated time.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use calmfetch::core::{BatchConfig, CircuitConfig, Config, Fail, RetryConfig};
use common::{origin_id, origin_of, status_answer, Sim};

const A: &str = "http://a.test/api/x";
const A2: &str = "http://a.test/api/y";

fn config(retries: u32) -> Config {
    Config {
        retry: RetryConfig {
            retries,
            base_ms: 1_000,
            max_ms: 8_000,
        },
        circuit: None,
        ..Config::default()
    }
}

fn sim(retries: u32) -> Sim {
    Sim::new(config(retries))
}

/// Advance 1 ms at a time until a new plain request goes out (at most
/// `limit` ms); returns how long that took.
fn until_sent(s: &mut Sim, limit: u64) -> u64 {
    let before = s.fetches.len();
    let start = s.now;
    while s.fetches.len() == before {
        assert!(s.now - start <= limit, "no request within {limit} ms");
        s.advance(1);
    }
    s.now - start
}

fn assert_clean(s: &Sim) {
    assert!(
        s.double_settled.is_empty(),
        "settled twice: {:?}",
        s.double_settled
    );
    assert_eq!(s.core.pending_waiters(), 0, "waiters left");
    assert_eq!(s.core.pending_timers(), 0, "timers left");
    assert_eq!(s.core.stats().in_flight, 0, "flights left");
}

#[test]
fn a_network_failure_is_retried_with_jittered_exponential_backoff_then_settles_once() {
    for seed in 1..40u64 {
        let mut s = Sim::new(Config { seed, ..config(3) });
        let w = s.get(A);
        s.fail_network(s.last_flight());
        assert!(
            !s.settled.contains_key(&w),
            "a retry is due: the caller still waits"
        );
        assert!(
            s.state(A) & 4 != 0,
            "the key still shows a fetch during the backoff"
        );
        // Retry n waits within [base * 2^n / 2, base * 2^n].
        for (n, full) in [1_000u64, 2_000, 4_000].into_iter().enumerate() {
            let waited = until_sent(&mut s, full);
            assert!(
                waited >= full / 2 && waited <= full,
                "retry {n} after {waited} ms (full {full})"
            );
            s.fail_network(s.last_flight());
        }
        assert_eq!(
            s.settled[&w],
            Err(Fail::Network {
                flight: s.last_flight()
            })
        );
        let st = s.core.stats();
        assert_eq!((st.network_requests, st.retries, st.errors), (4, 3, 4));
        s.advance(60_000);
        assert_eq!(s.fetches.len(), 4, "nothing more went out");
        assert_clean(&s);
    }
}

#[test]
fn the_waits_are_capped() {
    let mut s = Sim::new(Config {
        retry: RetryConfig {
            retries: 6,
            base_ms: 1_000,
            max_ms: 3_000,
        },
        circuit: None,
        ..Config::default()
    });
    s.get(A);
    for _ in 0..6 {
        s.fail_status(s.last_flight(), 503);
        let waited = until_sent(&mut s, 3_000);
        assert!(waited <= 3_000, "waited {waited}");
    }
    s.answer(s.last_flight(), 7);
    assert_eq!(s.data(A), Some(7));
    assert_clean(&s);
}

#[test]
fn a_retry_that_succeeds_answers_every_caller_and_fills_the_cache() {
    let mut s = sim(2);
    s.watch(A);
    let w1 = s.get(A);
    s.fail_status(s.last_flight(), 502);
    assert_eq!(s.error(A), None, "no error is shown while a retry is due");
    // A caller during the backoff joins the same flight.
    let w2 = s.get(A);
    assert_eq!(s.core.stats().dedup_hits, 1);
    until_sent(&mut s, 1_000);
    s.answer(s.last_flight(), 9);
    assert_eq!((s.settled[&w1], s.settled[&w2]), (Ok(9), Ok(9)));
    assert_eq!(s.data(A), Some(9));
    assert_eq!(s.fetches.len(), 2);
    s.unwatch(A);
}

#[test]
fn retry_after_is_honoured() {
    let mut s = sim(2);
    let w = s.get(A);
    s.respond(s.last_flight(), 0, status_answer(429, Some(5_000)));
    let waited = until_sent(&mut s, 6_000);
    assert_eq!(waited, 5_000, "the retry waits for Retry-After");
    s.respond(s.last_flight(), 0, status_answer(503, Some(0)));
    // Retry-After: 0 still waits for the backoff.
    let waited = until_sent(&mut s, 2_000);
    assert!((1_000..=2_000).contains(&waited), "waited {waited}");
    s.answer(s.last_flight(), 3);
    assert_eq!(s.settled[&w], Ok(3));
    assert_clean(&s);
}

#[test]
fn a_retry_after_beyond_the_cap_is_not_waited_for() {
    let mut s = sim(2);
    let w = s.get(A);
    let f = s.last_flight();
    s.respond(f, 0, status_answer(503, Some(60_000)));
    assert_eq!(
        s.settled[&w],
        Err(Fail::Http {
            flight: f,
            status: 503,
            retry_after: Some(60_000)
        })
    );
    s.advance(120_000);
    assert_eq!(s.fetches.len(), 1);
    assert_clean(&s);
}

#[test]
fn client_errors_other_than_429_timeouts_and_parse_errors_are_not_retried() {
    for status in [400u16, 401, 403, 404, 410, 422] {
        let mut s = sim(2);
        let w = s.get(A);
        s.fail_status(s.last_flight(), status);
        assert!(matches!(s.settled[&w], Err(Fail::Http { status: st, .. }) if st == status));
        s.advance(60_000);
        assert_eq!(s.fetches.len(), 1, "{status} was retried");
        assert_clean(&s);
    }
    let mut s = sim(2);
    let w = s.get(A);
    s.advance(30_000);
    assert_eq!(s.settled[&w], Err(Fail::Timeout { ms: 30_000 }));
    s.advance(60_000);
    assert_eq!(s.fetches.len(), 1, "a timeout was retried");
    let w = s.get(A2);
    s.respond(
        s.last_flight(),
        0,
        calmfetch::core::Answer {
            flags: 4,
            ..calmfetch::core::Answer::ok(3)
        },
    );
    assert!(matches!(s.settled[&w], Err(Fail::Parse { .. })));
    s.advance(60_000);
    assert_eq!(s.fetches.len(), 2);
    assert_clean(&s);
}

#[test]
fn the_call_decides_its_count() {
    let mut s = sim(2);
    let w = s.get_with(A, |r| r.retries = Some(0));
    s.fail_network(s.last_flight());
    assert!(s.settled.contains_key(&w), "retries 0: settled at once");
    let w = s.get_with(A2, |r| r.retries = Some(1));
    s.fail_network(s.last_flight());
    until_sent(&mut s, 1_000);
    s.fail_network(s.last_flight());
    assert!(s.settled.contains_key(&w));
    s.advance(60_000);
    assert_eq!(s.fetches.len(), 3);
    // A client with none, and a call that asks for one.
    let mut s = sim(0);
    let w = s.get(A);
    s.fail_network(s.last_flight());
    assert!(s.settled.contains_key(&w));
    let w = s.get_with(A, |r| r.retries = Some(1));
    s.fail_network(s.last_flight());
    assert!(!s.settled.contains_key(&w));
    until_sent(&mut s, 1_000);
    s.answer(s.last_flight(), 1);
    assert_eq!(s.settled[&w], Ok(1));
    assert_clean(&s);
}

#[test]
fn polls_and_prefetches_are_not_retried() {
    let mut s = sim(3);
    s.prefetch(A);
    s.fail_network(s.last_flight());
    s.advance(10_000);
    assert_eq!(s.fetches.len(), 1, "a prefetch was retried");
    let p = s.poll_start(A2, 60_000, true);
    s.advance(1);
    let n = s.fetches.len();
    s.fail_network(s.last_flight());
    s.advance(10_000);
    assert_eq!(s.fetches.len(), n, "a poll tick was retried");
    s.poll_stop(p);
}

#[test]
fn an_abort_during_the_backoff_cancels_the_retry_and_settles_once() {
    let mut s = sim(2);
    let w = s.get(A);
    s.fail_network(s.last_flight());
    s.abort(w);
    assert_eq!(s.settled[&w], Err(Fail::Abort));
    s.advance(60_000);
    assert_eq!(s.fetches.len(), 1, "the retry went out after the abort");
    assert_eq!(s.state(A) & 4, 0, "no fetch is shown");
    assert_clean(&s);
    assert_eq!(s.core.live_keys(), 0, "the key is freed");
}

#[test]
fn one_of_two_callers_leaving_keeps_the_retry() {
    let mut s = sim(2);
    let w1 = s.get(A);
    let w2 = s.get(A);
    s.fail_network(s.last_flight());
    s.abort(w1);
    until_sent(&mut s, 1_000);
    s.answer(s.last_flight(), 4);
    assert_eq!((s.settled[&w1], s.settled[&w2]), (Err(Fail::Abort), Ok(4)));
    assert_clean(&s);
}

#[test]
fn clear_cancels_a_pending_retry() {
    let mut s = sim(2);
    s.watch(A);
    let w = s.get(A);
    s.fail_network(s.last_flight());
    s.clear();
    assert_eq!(s.settled[&w], Err(Fail::Abort));
    s.advance(60_000);
    assert_eq!(s.fetches.len(), 1);
    assert_eq!(s.error(A), None, "nothing is kept after clear");
    s.unwatch(A);
    assert_clean(&s);
}

#[test]
fn failed_retries_count_for_the_circuit_which_stops_them() {
    let mut s = Sim::new(Config {
        circuit: Some(CircuitConfig {
            failures: 3,
            cool_down_ms: 60_000,
        }),
        ..config(5)
    });
    let w = s.get(A);
    s.fail_status(s.last_flight(), 503);
    until_sent(&mut s, 1_000);
    s.fail_status(s.last_flight(), 503);
    until_sent(&mut s, 2_000);
    let f = s.last_flight();
    s.fail_status(f, 503);
    // The third failure opened the circuit: no retry is scheduled.
    assert_eq!(s.core.stats().circuit_opens, 1);
    assert!(matches!(s.settled[&w], Err(Fail::Http { status: 503, .. })));
    s.advance(30_000);
    assert_eq!(s.fetches.len(), 3);
    assert_clean(&s);
}

#[test]
fn a_retry_due_while_the_circuit_is_open_is_refused() {
    let mut s = Sim::new(Config {
        circuit: Some(CircuitConfig {
            failures: 2,
            cool_down_ms: 60_000,
        }),
        ..config(2)
    });
    let w1 = s.get_with(A, |r| r.retries = Some(2));
    s.fail_network(s.last_flight());
    // Another key of the origin fails: the circuit opens during A's backoff.
    let w2 = s.get_with(A2, |r| r.retries = Some(0));
    s.fail_network(s.last_flight());
    assert_eq!(s.core.open_circuits(), 1);
    assert!(s.settled.contains_key(&w2));
    s.advance(2_000);
    assert_eq!(
        s.fetches.len(),
        2,
        "no retry goes out while the circuit is open"
    );
    assert!(
        matches!(s.settled[&w1], Err(Fail::Circuit { origin, .. }) if origin == origin_id(origin_of(A)))
    );
    assert_clean(&s);
}

#[test]
fn batched_items_are_retried_in_the_next_batch() {
    let mut s = Sim::new(Config {
        batch: Some(BatchConfig::new(origin_id(origin_of(A)))),
        ..config(2)
    });
    let w1 = s.get(A);
    let w2 = s.get(A2);
    s.advance(10);
    let (b, items) = s.last_batch();
    assert_eq!(items.len(), 2);
    // The whole POST fails with a 503: both items are retried, together.
    s.batch_failed(b, 503);
    assert!(s.settled.is_empty());
    s.advance(1_000);
    s.advance(10);
    assert_eq!(s.batches.len(), 2, "the retries left in a second batch");
    let (b, items) = s.last_batch();
    assert_eq!(items.len(), 2);
    // One item fails again, alone; the other answers.
    let fa = s.flight_in(&items, A);
    let fb = s.flight_in(&items, A2);
    s.item_answer(b, fa, 0, status_answer(500, None));
    s.item(b, fb, 2);
    s.batch_end(b, false);
    assert_eq!(s.settled[&w2], Ok(2));
    until_sent(&mut s, 2_010);
    // A batch of one leaves as a plain GET.
    s.answer(s.last_flight(), 1);
    assert_eq!(s.settled[&w1], Ok(1));
    assert_eq!(s.core.stats().retries, 3);
    assert_clean(&s);
}
