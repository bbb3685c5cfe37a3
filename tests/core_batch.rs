//! Native tests of the batch scheduler: window, splits, dedup, identities,
//! answers (item by item, partial, broken), fallback, abort, 304.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use calmfetch::core::{Answer, BatchConfig, Config, Fail};
use common::{item_bytes, origin_id, status_answer, Identity, Sim};

const O: &str = "http://h.test";

fn config(f: impl FnOnce(&mut BatchConfig)) -> Config {
    let mut b = BatchConfig::new(origin_id(O));
    f(&mut b);
    Config {
        batch: Some(b),
        ..Config::default()
    }
}

fn url(p: &str) -> String {
    format!("{O}{p}")
}

#[test]
fn requests_within_the_window_leave_as_one_post() {
    let mut s = Sim::new(config(|_| {}));
    let a = s.get(&url("/api/games/1"));
    s.now = 4;
    let b = s.get(&url("/api/user?a=1&b=2"));
    let c = s.get(&url("/api/games/1")); // same key: joins, no new item
    assert!(s.batches.is_empty() && s.fetches.is_empty());
    assert_eq!(
        s.core.poll_timeout(),
        Some(10),
        "the window opened with the first request"
    );
    s.advance(5);
    assert!(s.batches.is_empty());
    s.advance(1);
    assert_eq!(s.batches.len(), 1);
    let (batch, items) = s.last_batch();
    assert_eq!(
        s.batch_urls(&items),
        vec![url("/api/games/1"), url("/api/user?a=1&b=2")]
    );
    assert!(items.iter().all(|i| !i.etag));
    // Answers in any order fan back out by flight.
    s.item(batch, items[1].flight, 2);
    s.item(batch, items[0].flight, 1);
    assert_eq!(s.settled[&a], Ok(1));
    assert_eq!(s.settled[&b], Ok(2));
    assert_eq!(s.settled[&c], Ok(1));
    let st = s.core.stats();
    assert_eq!(
        (st.batches_sent, st.batched_items, st.network_requests),
        (1, 2, 2)
    );
    assert_eq!(s.core.pending_batches(), 0);
    assert_eq!(s.core.pending_timers(), 0);
    assert!(s.fetches.is_empty());
}

#[test]
fn a_single_request_goes_out_as_a_plain_get() {
    let mut s = Sim::new(config(|_| {}));
    let a = s.get(&url("/api/user"));
    s.advance(10);
    assert!(s.batches.is_empty());
    assert_eq!(s.fetches.len(), 1);
    assert_eq!(s.fetches[0].1, url("/api/user"));
    s.answer(s.last_flight(), 3);
    assert_eq!(s.settled[&a], Ok(3));
}

#[test]
fn a_full_batch_leaves_at_once_and_a_new_one_opens() {
    let mut s = Sim::new(config(|b| b.max_size = 2));
    for i in 0..5 {
        s.get(&url(&format!("/api/games/{i}")));
    }
    assert_eq!(s.batches.len(), 2, "two full batches left without waiting");
    assert_eq!(s.batches[0].1.len(), 2);
    s.advance(10);
    assert_eq!(s.fetches.len(), 1, "the fifth, alone, as a plain GET");

    let mut s = Sim::new(config(|b| b.max_bytes = 200));
    for i in 0..6 {
        s.get(&url(&format!("/api/a-rather-long-path-for-bytes/{i}")));
    }
    assert!(
        s.batches.len() >= 2,
        "maxBytes split the batch: {}",
        s.batches.len()
    );
    for (_, items) in &s.batches {
        let sizes: Vec<u64> = s.batch_urls(items).iter().map(|u| item_bytes(u)).collect();
        let before_last: u64 = sizes[..sizes.len() - 1].iter().sum();
        assert!(before_last < 200, "it left as soon as it reached 200 bytes");
    }
}

#[test]
fn batches_never_mix_credentials() {
    let mut s = Sim::new(config(|_| {}));
    for user in ["alice", "bob"] {
        for p in ["/api/user", "/api/bills"] {
            s.get_with(&url(p), |r| r.who = Identity::bearer(user));
        }
    }
    s.advance(10);
    assert_eq!(s.batches.len(), 2);
    for (i, user) in ["alice", "bob"].iter().enumerate() {
        let (_, items) = &s.batches[i];
        assert_eq!(items.len(), 2);
        for it in items {
            let who = s.core.key_info(it.key).unwrap().who;
            assert_eq!(who, Identity::bearer(user).id());
        }
    }
}

#[test]
fn other_origins_are_never_batched() {
    let mut s = Sim::new(config(|_| {}));
    s.get("http://elsewhere.test/api/user");
    s.get("http://elsewhere.test/api/bills");
    assert_eq!(s.fetches.len(), 2);
    s.advance(20);
    assert!(s.batches.is_empty());
}

#[test]
fn an_item_error_rejects_only_its_callers() {
    let mut s = Sim::new(config(|_| {}));
    let a = s.get(&url("/a"));
    let b = s.get(&url("/b"));
    let c = s.get(&url("/c"));
    s.advance(10);
    let (batch, items) = s.last_batch();
    let fa = s.flight_in(&items, &url("/a"));
    let fc = s.flight_in(&items, &url("/c"));
    s.item_answer(batch, fa, 0, status_answer(404, None));
    s.item(batch, s.flight_in(&items, &url("/b")), 7);
    s.item_answer(batch, fc, 0, status_answer(302, None));
    assert_eq!(
        s.settled[&a],
        Err(Fail::Http {
            flight: fa,
            status: 404,
            retry_after: None,
        })
    );
    assert_eq!(s.settled[&b], Ok(7));
    assert_eq!(
        s.settled[&c],
        Err(Fail::BatchStatus { flight: fc }),
        "a redirect is not an answer"
    );
}

#[test]
fn a_missing_id_is_named_and_extra_or_duplicate_ids_are_ignored() {
    let mut s = Sim::new(config(|_| {}));
    let a = s.get(&url("/a"));
    let b = s.get(&url("/b"));
    s.advance(10);
    let (batch, items) = s.last_batch();
    let fa = s.flight_in(&items, &url("/a"));
    let fb = s.flight_in(&items, &url("/b"));
    s.item(batch, fa, 1);
    s.item(batch, fa, 9);
    s.item(batch, 999, 5);
    s.core.batch_ignored(); // an item without an id
    s.batch_end(batch, false);
    assert_eq!(
        s.settled[&a],
        Ok(1),
        "the first answer wins, the duplicate is ignored"
    );
    assert_eq!(s.settled[&b], Err(Fail::BatchMissing { flight: fb }));
    let st = s.core.stats();
    assert_eq!((st.batch_ignored_answers, st.batch_protocol_errors), (3, 1));
    assert!(s.double_settled.is_empty());
    assert_eq!(s.core.pending_batches(), 0);
}

#[test]
fn garbage_and_truncated_answers_reject_everyone_still_waiting() {
    for answered_first in [false, true] {
        let mut s = Sim::new(config(|_| {}));
        let a = s.get(&url("/a"));
        let b = s.get(&url("/b"));
        s.advance(10);
        let (batch, items) = s.last_batch();
        if answered_first {
            s.item(batch, s.flight_in(&items, &url("/a")), 1);
        }
        s.batch_end(batch, true);
        if answered_first {
            assert_eq!(s.settled[&a], Ok(1));
        } else {
            assert_eq!(s.settled[&a], Err(Fail::BatchBroken { batch }));
        }
        assert_eq!(s.settled[&b], Err(Fail::BatchBroken { batch }));
        assert_eq!(s.core.pending_batches(), 0);
        assert_eq!(s.core.pending_waiters(), 0);
    }
}

#[test]
fn streamed_answers_resolve_item_by_item() {
    let mut s = Sim::new(config(|_| {}));
    let a = s.get(&url("/fast"));
    let b = s.get(&url("/slow"));
    let c = s.get(&url("/never"));
    s.advance(10);
    let (batch, items) = s.last_batch();
    let fc = s.flight_in(&items, &url("/never"));
    s.item(batch, s.flight_in(&items, &url("/fast")), 1);
    assert_eq!(s.settled[&a], Ok(1), "resolved before the rest arrived");
    assert!(!s.settled.contains_key(&b));
    s.item(batch, s.flight_in(&items, &url("/slow")), 2);
    assert_eq!(s.settled[&b], Ok(2));
    s.batch_end(batch, false);
    assert_eq!(s.settled[&c], Err(Fail::BatchMissing { flight: fc }));
}

#[test]
fn a_stream_cut_mid_line_rejects_the_rest_and_is_aborted() {
    let mut s = Sim::new(config(|_| {}));
    let a = s.get(&url("/a"));
    let b = s.get(&url("/b"));
    s.advance(10);
    let (batch, items) = s.last_batch();
    s.item(batch, s.flight_in(&items, &url("/a")), 1);
    // A garbage line (or a line cut short): the answer is broken, and a
    // stream that may still be open is aborted.
    s.batch_end(batch, true);
    assert_eq!(s.settled[&a], Ok(1));
    assert_eq!(s.settled[&b], Err(Fail::BatchBroken { batch }));
    assert_eq!(s.cancelled_batches, vec![batch]);
    assert_eq!(s.core.stats().batch_protocol_errors, 1);
}

#[test]
fn no_batch_endpoint_falls_back_to_plain_requests_without_errors() {
    for status in [404, 405, 501] {
        let mut s = Sim::new(config(|_| {}));
        let a = s.get(&url("/a"));
        let b = s.get(&url("/b"));
        s.advance(10);
        let (batch, _) = s.last_batch();
        s.batch_failed(batch, status);
        assert!(s.settled.is_empty(), "no caller sees the {status}");
        assert_eq!(s.fetches.len(), 2);
        let (f1, f2) = (s.fetches[0].0, s.fetches[1].0);
        s.answer(f1, 1);
        s.answer(f2, 2);
        assert_eq!((s.settled[&a], s.settled[&b]), (Ok(1), Ok(2)));
        // Remembered: later requests are not batched.
        s.get(&url("/c"));
        s.get(&url("/d"));
        assert_eq!(s.fetches.len(), 4);
        assert_eq!(s.core.stats().batch_fallbacks, 2);
    }
}

#[test]
fn other_whole_batch_failures_reject_each_caller() {
    let mut s = Sim::new(config(|_| {}));
    let a = s.get(&url("/a"));
    let b = s.get(&url("/b"));
    s.advance(10);
    let (batch, _) = s.last_batch();
    s.batch_failed(batch, 500);
    let e = Fail::BatchHttp { batch, status: 500 };
    assert_eq!(s.settled[&a], Err(e));
    assert_eq!(s.settled[&b], Err(e));
    let c = s.get(&url("/c"));
    s.get(&url("/d"));
    s.advance(10);
    let (batch, _) = s.last_batch();
    s.batch_failed(batch, 0);
    assert_eq!(s.settled[&c], Err(Fail::BatchNetwork { batch }));
    assert!(s.fetches.is_empty(), "batching stays on");
}

#[test]
fn abort_drops_an_unsent_item_and_a_sent_batch_still_fills_the_cache() {
    let mut s = Sim::new(config(|_| {}));
    let a = s.get(&url("/a"));
    let b = s.get(&url("/b"));
    let c = s.get(&url("/c"));
    s.abort(b);
    s.advance(10);
    let (batch, items) = s.last_batch();
    assert_eq!(
        s.batch_urls(&items),
        vec![url("/a"), url("/c")],
        "the aborted item was dropped"
    );
    assert!(s.freed.contains(&url("/b")));
    s.abort(a);
    s.abort(c);
    assert_eq!(s.settled[&a], Err(Fail::Abort));
    assert_eq!(s.settled[&c], Err(Fail::Abort));
    // The batch has left: the server works on it anyway, so it is not
    // aborted, and its answers fill the cache for a user who comes back.
    assert!(s.cancelled_batches.is_empty());
    s.item(batch, items[0].flight, 1);
    s.item(batch, items[1].flight, 2);
    assert!(s.double_settled.is_empty());
    assert_eq!(s.core.pending_batches(), 0);
    let back = s.get(&url("/a"));
    assert_eq!(
        s.settled[&back],
        Ok(1),
        "a revisit is served from the cache"
    );
    assert_eq!(s.core.stats().cache_hits, 1);
    // Everyone aborting before the window closes sends nothing at all.
    let d = s.get(&url("/d"));
    let e = s.get(&url("/e"));
    s.abort(d);
    s.abort(e);
    s.advance(50);
    assert_eq!(s.batches.len(), 1);
    assert!(s.fetches.is_empty());
    assert_eq!(s.core.pending_timers(), 0);
    assert_eq!(s.core.pending_batches(), 0);
}

#[test]
fn cached_etags_revalidate_with_304() {
    let mut s = Sim::new(config(|_| {}));
    let a = s.get(&url("/a"));
    let b = s.get(&url("/b"));
    s.advance(10);
    let (batch, items) = s.last_batch();
    let with_etag = Answer {
        flags: Answer::ETAG,
        ..Answer::ok(1)
    };
    s.item_answer(batch, s.flight_in(&items, &url("/a")), 1, with_etag);
    s.item_answer(batch, s.flight_in(&items, &url("/b")), 2, with_etag);
    assert_eq!((s.settled[&a], s.settled[&b]), (Ok(1), Ok(2)));
    s.advance(5_000); // both stale
    let a2 = s.get(&url("/a"));
    let b2 = s.get(&url("/b"));
    s.advance(10);
    let (batch, items) = s.last_batch();
    assert!(items.iter().all(|i| i.etag), "If-None-Match: {items:?}");
    s.item_answer(
        batch,
        s.flight_in(&items, &url("/a")),
        0,
        status_answer(304, None),
    );
    s.item(batch, s.flight_in(&items, &url("/b")), 3);
    assert_eq!(s.settled[&a2], Ok(1), "304 serves the cached body");
    assert_eq!(s.settled[&b2], Ok(3));
    assert_eq!(s.core.stats().revalidated, 1);
    let a3 = s.get(&url("/a"));
    assert_eq!(s.settled[&a3], Ok(1), "and the entry is fresh again");
    assert!(s.hits.contains(&a3));
    assert!(!s.info(&url("/b")).unwrap().etag, "b's new answer had none");
}

#[test]
fn a_304_for_an_entry_evicted_meanwhile_asks_again_in_full() {
    let mut s = Sim::new(Config {
        max_entries: 2,
        ..config(|_| {})
    });
    let with_etag = Answer {
        flags: Answer::ETAG,
        ..Answer::ok(1)
    };
    for p in ["/a", "/b"] {
        s.get(&url(p));
    }
    s.advance(10);
    let (batch, items) = s.last_batch();
    s.item_answer(batch, items[0].flight, 1, with_etag);
    s.item_answer(batch, items[1].flight, 2, with_etag);
    s.advance(5_000);
    let a = s.get(&url("/a"));
    s.get(&url("/b"));
    s.advance(10);
    let (batch, items) = s.last_batch();
    let fa = s.flight_in(&items, &url("/a"));
    // Two others fill the cache and evict a's entry.
    for p in ["/x", "/y"] {
        s.get(&url(p));
    }
    s.advance(10);
    let (b2, others) = s.last_batch();
    s.item(b2, others[0].flight, 8);
    s.item(b2, others[1].flight, 9);
    assert_eq!(s.data(&url("/a")), None);
    s.item_answer(batch, fa, 0, status_answer(304, None));
    assert!(!s.settled.contains_key(&a));
    assert_eq!(s.fetches.last().unwrap(), &(fa, url("/a")), "asked again");
    s.answer(fa, 4);
    assert_eq!(s.settled[&a], Ok(4));
}

#[test]
fn a_batched_item_times_out_alone() {
    let mut s = Sim::new(Config {
        timeout_ms: Some(100),
        ..config(|_| {})
    });
    let a = s.get(&url("/a"));
    s.now = 50;
    let b = s.get(&url("/b"));
    s.advance(10); // the window (opened at 0) closed at 10: sent at 60
    let (batch, items) = s.last_batch();
    let (fa, fb) = (
        s.flight_in(&items, &url("/a")),
        s.flight_in(&items, &url("/b")),
    );
    s.advance(40); // t = 100: a's deadline
    assert_eq!(s.settled[&a], Err(Fail::Timeout { ms: 100 }));
    assert!(s.cancelled_batches.is_empty());
    s.item(batch, fa, 1);
    s.item(batch, fb, 2);
    assert_eq!(s.settled[&b], Ok(2));
    assert_eq!(
        s.core.stats().batch_ignored_answers,
        1,
        "the late answer for a is ignored"
    );
}

#[test]
fn bodies_over_max_body_bytes_reach_their_callers_but_are_not_cached() {
    let mut s = Sim::new(Config {
        max_body_bytes: 3,
        ..config(|_| {})
    });
    let small = s.get(&url("/small"));
    let big = s.get(&url("/big"));
    s.advance(10);
    let (batch, items) = s.last_batch();
    s.item_answer(
        batch,
        s.flight_in(&items, &url("/small")),
        12,
        Answer::ok(2),
    );
    s.item_answer(
        batch,
        s.flight_in(&items, &url("/big")),
        1234,
        Answer::ok(4),
    );
    assert_eq!(s.settled[&small], Ok(12));
    assert_eq!(s.settled[&big], Ok(1234), "the caller gets the big body");
    assert_eq!(s.data(&url("/small")), Some(12));
    assert_eq!(s.data(&url("/big")), None, "the big body is not cached");
    assert_eq!(s.core.kept_bytes(), 2);
}

#[test]
fn a_batch_of_one_sent_as_a_plain_get_is_not_aborted_when_its_caller_leaves() {
    let mut s = Sim::new(config(|_| {}));
    let a = s.get(&url("/only"));
    s.advance(10); // the window closes with one item: a plain GET
    assert_eq!(s.fetches.len(), 1);
    s.abort(a);
    assert_eq!(s.settled[&a], Err(Fail::Abort));
    assert!(s.cancels.is_empty(), "the request that left is not aborted");
    s.answer(s.last_flight(), 7);
    let back = s.get(&url("/only"));
    assert_eq!(s.settled[&back], Ok(7), "its answer filled the cache");
    // Without batching, a request nobody waits for is aborted (issue 2).
    let mut plain = Sim::new(Config::default());
    let b = plain.get(&url("/x"));
    plain.abort(b);
    assert_eq!(plain.cancels.len(), 1);
}

#[test]
fn a_stream_that_stays_open_after_its_last_answer_is_closed() {
    let mut s = Sim::new(config(|_| {}));
    let a = s.get(&url("/a"));
    let b = s.get(&url("/b"));
    s.advance(10);
    let (batch, items) = s.last_batch();
    s.item(batch, items[0].flight, 1);
    assert!(s.cancelled_batches.is_empty(), "one item still to come");
    s.item(batch, items[1].flight, 2);
    assert_eq!((&s.settled[&a], &s.settled[&b]), (&Ok(1), &Ok(2)));
    assert_eq!(s.cancelled_batches, vec![batch], "nothing left to read for");
    // A late extra item, or the end of the stream, changes nothing.
    s.item(batch, items[1].flight, 3);
    s.batch_end(batch, false);
    s.batch_end(batch, true);
    assert_eq!(s.cancelled_batches, vec![batch]);
    assert_eq!(s.core.pending_batches(), 0);
    assert!(s.double_settled.is_empty());
    assert_eq!(s.data(&url("/b")), Some(2));
}

#[test]
fn an_item_body_that_is_not_json_breaks_only_that_item() {
    let mut s = Sim::new(config(|_| {}));
    let bad = s.get(&url("/bad"));
    let plain = s.get(&url("/plain"));
    s.advance(10);
    let (batch, items) = s.last_batch();
    let fbad = s.flight_in(&items, &url("/bad"));
    let not_json = Answer {
        flags: Answer::NOT_JSON,
        ..Answer::ok(1)
    };
    s.item_answer(batch, fbad, 0, not_json);
    s.item(batch, s.flight_in(&items, &url("/plain")), 2);
    assert_eq!(s.settled[&bad], Err(Fail::Parse { flight: fbad }));
    assert_eq!(s.settled[&plain], Ok(2));
}

#[test]
fn answers_naming_a_batch_still_queued_are_ignored() {
    // A stale batch id (its number reused by a batch still in its window)
    // must neither settle the queued items nor break the scheduler.
    let mut s = Sim::new(config(|_| {}));
    let a = s.get(&url("/a"));
    let b = s.get(&url("/b"));
    s.advance(10);
    let (old, items) = s.last_batch();
    s.item(old, items[0].flight, 1);
    s.item(old, items[1].flight, 2);
    assert_eq!((s.settled[&a], s.settled[&b]), (Ok(1), Ok(2)));
    let c = s.get(&url("/c"));
    let d = s.get(&url("/d"));
    s.batch_end(old, true);
    s.batch_failed(old, 404);
    s.item(old, 1, 9);
    assert!(!s.settled.contains_key(&c) && !s.settled.contains_key(&d));
    assert!(s.fetches.is_empty(), "batching is still on");
    s.get(&url("/e"));
    s.advance(10);
    let (batch, items) = s.last_batch();
    assert_eq!(items.len(), 3);
    for i in &items {
        s.item(batch, i.flight, 3);
    }
    assert_eq!((s.settled[&c], s.settled[&d]), (Ok(3), Ok(3)));
    assert_eq!(s.core.pending_batches(), 0);
}
