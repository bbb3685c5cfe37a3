//! Native tests of writes (POST/PUT/PATCH/DELETE) with a simulated clock:
//! timeout, circuit breaker, no dedup, abort, invalidation and set_data.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use calmfetch::core::{Answer, BatchConfig, CircuitConfig, Config, Fail, SocketConfig};
use common::{origin_id, status_answer, Sim};

const A: &str = "http://a.test/api/items";
const A1: &str = "http://a.test/api/items/1";
const B: &str = "http://b.test/api/items";

fn sim() -> Sim {
    Sim::new(Config {
        timeout_ms: Some(1_000),
        circuit: Some(CircuitConfig {
            failures: 3,
            cool_down_ms: 5_000,
        }),
        ..Config::default()
    })
}

/// Every write ended once, nothing is left armed or out.
fn settled_all(s: &Sim) {
    assert_eq!(s.core.pending_writes(), 0, "writes left in flight");
    assert!(s.writes_out.is_empty(), "the shell still has writes out");
}

#[test]
fn a_write_is_sent_and_its_answer_ends_it_once() {
    let mut s = sim();
    let w = s.write(A);
    assert_eq!(s.sends, vec![w]);
    assert_eq!(s.ended(w), None, "not ended before its answer");
    s.write_done(w, Answer::ok(12));
    assert_eq!(s.ended(w), Some(None));
    // A late second answer (the shell never sends one, but the core must not care).
    s.write_done(w, Answer::ok(12));
    assert_eq!(s.written.len(), 1);
    settled_all(&s);
    assert_eq!(s.core.pending_timers(), 0);
    assert!(
        s.fetches.is_empty() && s.batches.is_empty(),
        "a write is no read"
    );
}

#[test]
fn two_identical_writes_are_two_requests() {
    let mut s = sim();
    let a = s.write(A);
    let b = s.write(A);
    assert_ne!(a, b);
    assert_eq!(s.sends, vec![a, b], "no dedup of writes");
    s.write_done(b, status_answer(409, None));
    s.write_done(a, Answer::ok(1));
    assert_eq!(s.ended(a), Some(None));
    assert!(
        matches!(s.ended(b), Some(Some(Fail::Http { status: 409, flight, .. })) if flight == b)
    );
    assert_eq!(s.core.stats().dedup_hits, 0);
    assert_eq!(s.core.stats().network_requests, 2);
    settled_all(&s);
}

#[test]
fn a_write_times_out_after_the_client_timeout() {
    let mut s = sim();
    let w = s.write(A);
    s.advance(999);
    assert_eq!(s.ended(w), None);
    s.advance(1);
    assert_eq!(s.ended(w), Some(Some(Fail::Timeout { ms: 1_000 })));
    assert_eq!(s.core.stats().timeouts, 1);
    // The answer that comes after the timeout is ignored.
    s.write_done(w, Answer::ok(1));
    assert_eq!(s.written.len(), 1);
    settled_all(&s);
    assert_eq!(s.core.pending_timers(), 0);
}

#[test]
fn without_a_timeout_a_write_waits() {
    let mut s = Sim::new(Config {
        timeout_ms: None,
        ..Config::default()
    });
    let w = s.write(A);
    s.advance(3_600_000);
    assert_eq!(s.ended(w), None);
    assert_eq!(s.core.pending_timers(), 0);
    s.write_done(w, Answer::ok(1));
    settled_all(&s);
}

#[test]
fn the_outcome_rules_of_reads_apply() {
    let mut s = sim();
    let w = s.write(A);
    s.write_done(w, Answer::network());
    assert_eq!(s.ended(w), Some(Some(Fail::Network { flight: w })));
    let w = s.write(A);
    s.write_done(w, status_answer(429, Some(2_000)));
    assert!(matches!(
        s.ended(w),
        Some(Some(Fail::Http {
            status: 429,
            retry_after: Some(2_000),
            ..
        }))
    ));
    assert_eq!(s.core.stats().errors, 2);
}

#[test]
fn failed_writes_open_the_circuit_and_a_write_to_it_is_refused() {
    let mut s = sim();
    let w = s.write(A);
    s.write_done(w, status_answer(503, None));
    let w = s.write(A1);
    s.write_done(w, Answer::network());
    let w = s.write(A);
    s.advance(1_000); // times out
    assert_eq!(s.ended(w), Some(Some(Fail::Timeout { ms: 1_000 })));
    assert_eq!(s.core.stats().circuit_opens, 1);
    let sent = s.sends.len();
    let w = s.write(A);
    assert_eq!(s.sends.len(), sent, "nothing is sent to an open circuit");
    assert_eq!(
        s.ended(w),
        Some(Some(Fail::Circuit {
            origin: origin_id("http://a.test"),
            retry_in_ms: 5_000,
            failures: 3,
        }))
    );
    assert_eq!(s.core.stats().circuit_refused, 1);
    // Reads of that origin are refused too; other origins go on.
    let r = s.get(A);
    assert!(matches!(s.settled[&r], Err(Fail::Circuit { .. })));
    let w = s.write(B);
    assert_eq!(s.sends.last(), Some(&w));
    s.write_done(w, Answer::ok(1));
    settled_all(&s);
}

#[test]
fn failed_reads_refuse_writes_and_a_write_probe_closes_the_circuit() {
    let mut s = sim();
    for _ in 0..3 {
        s.get(A);
        let f = s.last_flight();
        s.fail_status(f, 500);
    }
    let w = s.write(A);
    assert!(matches!(s.ended(w), Some(Some(Fail::Circuit { .. }))));
    s.advance(5_000);
    // The first request after the cool-down is the probe: a write here.
    let probe = s.write(A);
    assert_eq!(s.sends.last(), Some(&probe));
    let r = s.get(A1);
    assert!(
        matches!(s.settled[&r], Err(Fail::Circuit { retry_in_ms: 0, .. })),
        "one probe at a time"
    );
    s.write_done(probe, Answer::ok(1));
    assert_eq!(
        s.core.open_circuits(),
        0,
        "the write's success closed the circuit"
    );
    s.get(A1);
    assert_eq!(s.fetches.len(), 4, "reads go out again");
}

#[test]
fn a_successful_write_resets_the_count_of_failures() {
    let mut s = sim();
    for _ in 0..2 {
        let w = s.write(A);
        s.write_done(w, status_answer(502, None));
    }
    let w = s.write(A);
    s.write_done(w, Answer::ok(1));
    for _ in 0..2 {
        let w = s.write(A);
        s.write_done(w, status_answer(502, None));
    }
    assert_eq!(s.core.open_circuits(), 0);
    // 4xx other than 429 says nothing about the origin's health.
    let w = s.write(A);
    s.write_done(w, status_answer(422, None));
    assert_eq!(s.core.open_circuits(), 0);
    assert_eq!(s.core.stats().circuit_opens, 0);
}

#[test]
fn an_aborted_write_ends_once_and_a_probe_that_leaves_lets_the_next_probe() {
    let mut s = sim();
    let w = s.write(A);
    s.write_abort(w);
    assert_eq!(s.ended(w), Some(Some(Fail::Abort)));
    s.write_abort(w);
    s.write_done(w, Answer::ok(1));
    assert_eq!(s.written.len(), 1, "ended exactly once");
    assert_eq!(s.core.stats().aborted_calls, 1);
    for _ in 0..3 {
        let w = s.write(A);
        s.write_done(w, Answer::network());
    }
    s.advance(5_000);
    let probe = s.write(A);
    s.write_abort(probe);
    assert_eq!(
        s.core.stats().circuit_opens,
        1,
        "an abort says nothing about the origin"
    );
    let next = s.write(A);
    assert_eq!(s.sends.last(), Some(&next), "the next request probes");
    s.write_done(next, Answer::ok(1));
    settled_all(&s);
    assert_eq!(s.core.pending_timers(), 0);
}

#[test]
fn a_written_key_with_listeners_is_fetched_again_and_an_older_request_is_not_kept() {
    let mut s = sim();
    s.watch(A);
    let first = s.get(A);
    let old = s.last_flight();
    // The write lands while the read is out: its answer may predate the write.
    assert!(s.written(A));
    assert_eq!(s.fetches.len(), 2, "a new request went out");
    let new = s.last_flight();
    assert_ne!(old, new);
    let later = s.get(A);
    assert_eq!(s.fetches.len(), 2, "a new get joins the new request");
    s.answer(old, 1);
    assert_eq!(
        s.settled[&first],
        Ok(1),
        "the older caller still gets its answer"
    );
    assert_eq!(s.data(A), None, "but it is not kept");
    s.answer(new, 2);
    assert_eq!(s.settled[&later], Ok(2));
    assert_eq!(s.data(A), Some(2));
    assert!(!s.is_stale(A));
}

#[test]
fn a_request_still_in_its_batch_window_is_joined_and_kept_fresh() {
    let mut s = Sim::new(Config {
        batch: Some(BatchConfig::new(origin_id("http://a.test"))),
        ..Config::default()
    });
    s.watch(A);
    let c = s.get(A);
    assert!(s.batches.is_empty(), "in the batch window");
    assert!(s.written(A));
    s.advance(10);
    // A batch of one leaves alone.
    assert!(s.batches.is_empty());
    assert_eq!(s.fetches.len(), 1, "one request for the key, not two");
    let f = s.last_flight();
    s.answer(f, 4);
    assert_eq!(s.settled[&c], Ok(4));
    assert_eq!(s.data(A), Some(4));
    assert!(!s.is_stale(A), "it left after the write: fresh");
}

#[test]
fn a_written_key_without_listeners_is_only_marked_stale() {
    let mut s = sim();
    let c = s.get(A);
    let f = s.last_flight();
    s.answer(f, 1);
    assert_eq!(s.settled[&c], Ok(1));
    assert!(s.written(A));
    assert!(s.is_stale(A));
    assert_eq!(s.fetches.len(), 1, "nothing fetched");
    s.get(A);
    assert_eq!(s.fetches.len(), 2, "the next get goes out");
}

#[test]
fn a_key_pushed_by_an_open_socket_is_not_fetched_again() {
    let mut s = Sim::new(Config {
        socket: Some(SocketConfig::default()),
        ..Config::default()
    });
    assert!(s.live_add(A));
    s.watch(A);
    s.socket_opened();
    s.socket_data(A, 5);
    let sent = s.fetches.len();
    s.written(A);
    assert_eq!(s.fetches.len(), sent, "the socket pushes the change");
    assert!(s.batches.is_empty());
}

#[test]
fn set_data_is_kept_fresh_for_the_ttl_and_seen_by_listeners() {
    let mut s = sim();
    s.watch(A);
    let n = s.notified.len();
    s.set_data(A, Some(7), 10);
    assert!(s.notified.len() > n, "listeners hear it");
    assert_eq!(s.data(A), Some(7));
    let c = s.get(A);
    assert_eq!(s.settled[&c], Ok(7), "a fresh hit");
    assert!(s.fetches.is_empty());
    s.advance(2_000); // the client's TTL
    s.get(A);
    assert_eq!(s.fetches.len(), 1, "stale after the TTL");
}

#[test]
fn set_data_keeps_the_ttl_the_entry_had() {
    let mut s = sim();
    let c = s.get_with(A, |r| r.ttl_ms = Some(60_000));
    let f = s.last_flight();
    s.answer(f, 1);
    assert_eq!(s.settled[&c], Ok(1));
    s.set_data(A, Some(2), 1);
    s.advance(30_000);
    assert!(!s.is_stale(A), "the key's own TTL");
}

#[test]
fn set_data_respects_the_byte_limits_and_none_removes() {
    let mut s = Sim::new(Config {
        max_body_bytes: 100,
        ..Config::default()
    });
    s.set_data(A, Some(1), 101);
    assert_eq!(s.data(A), None, "too big, nobody listens: not kept");
    assert_eq!(s.core.kept_bytes(), 0);
    s.watch(A);
    s.set_data(A, Some(2), 101);
    assert_eq!(s.data(A), Some(2), "shown to the listener");
    assert_eq!(s.state(A) & 16, 16, "only shown");
    assert_eq!(s.core.kept_bytes(), 0);
    s.set_data(A, Some(3), 50);
    assert_eq!(s.core.kept_bytes(), 50);
    s.set_data(A, None, 0);
    assert_eq!(s.data(A), None);
    assert_eq!(s.core.kept_bytes(), 0);
    s.unwatch(A);
    assert_eq!(s.core.live_keys(), 0, "nothing is left behind");
}

#[test]
fn an_optimistic_value_is_as_old_as_the_data_it_stands_for() {
    let mut s = sim();
    s.watch(A);
    let c = s.get(A);
    let f = s.last_flight();
    s.answer(f, 1);
    assert_eq!(s.settled[&c], Ok(1));
    s.advance(500);
    s.set_data_as(A, Some(2), 1, true);
    assert_eq!(s.data(A), Some(2));
    assert_eq!(
        s.info(A).unwrap().updated_at,
        Some(0),
        "no fresher than the data under it"
    );
    s.advance(1_500);
    assert!(s.is_stale(A), "stale at the base's TTL");
    // A stale (invalidated) entry stays stale under an optimistic value.
    s.set_data(A, Some(3), 1);
    assert!(!s.is_stale(A), "set by hand: fresh");
    s.invalidate(A);
    s.set_data_as(A, Some(4), 1, true);
    assert!(s.is_stale(A));
    // An entry with no data: the optimistic value is stale.
    s.watch(A1);
    s.set_data_as(A1, Some(5), 1, true);
    assert_eq!(s.data(A1), Some(5));
    assert!(s.is_stale(A1));
}

#[test]
fn the_refetch_after_a_write_keeps_the_ttl_the_entry_had() {
    let mut s = sim();
    s.watch(A);
    let c = s.get_with(A, |r| r.ttl_ms = Some(60_000));
    let f = s.last_flight();
    s.answer(f, 1);
    assert_eq!(s.settled[&c], Ok(1));
    s.written(A);
    let f = s.last_flight();
    s.answer(f, 2);
    s.advance(30_000);
    assert!(!s.is_stale(A), "the entry's own TTL, not the client's 2 s");
}
