//! Native tests of the batch scheduler: window, splits, dedup, partitions,
//! answers (well-formed, partial, garbage, streamed), fallback, abort, 304.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use calmfetch::core::{
    normalize_url, BatchConfig, BatchFailure, Config, FetchError, Identity, Key, Outcome,
};
use common::{ids, Sim};

const O: &str = "http://h.test";

fn config(f: impl FnOnce(&mut BatchConfig)) -> Config {
    let mut b = BatchConfig::new(format!("{O}/batch"));
    f(&mut b);
    Config {
        batch: Some(b),
        ..Config::default()
    }
}

fn url(p: &str) -> String {
    format!("{O}{p}")
}

/// `{"responses":[...]}` answering `(id, status, body)`.
fn answer(items: &[(String, u16, &str)]) -> String {
    let inner: Vec<String> = items
        .iter()
        .map(|(id, st, body)| format!(r#"{{"id":"{id}","status":{st},"body":{body}}}"#))
        .collect();
    format!(r#"{{"responses":[{}]}}"#, inner.join(","))
}

#[test]
fn requests_within_the_window_leave_as_one_post() {
    let mut s = Sim::new(config(|_| {}));
    let a = s.get(&url("/api/games/1"));
    s.now = 4;
    let b = s.get(&normalize_url(&url("/api/user?b=2&a=1")).unwrap());
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
    let (batch, spec, body) = s.batches[0].clone();
    assert_eq!(spec.url, url("/batch"));
    assert!(spec
        .headers
        .contains(&("Content-Type".into(), "application/json".into())));
    let id = ids(&body);
    assert_eq!(
        body,
        format!(
            r#"{{"requests":[{{"id":"{}","method":"GET","url":"/api/games/1"}},{{"id":"{}","method":"GET","url":"/api/user?a=1&b=2"}}]}}"#,
            id[0], id[1]
        )
    );
    // Answers in any order fan back out by id.
    s.batch_body(
        batch,
        &answer(&[(id[1].clone(), 200, "2"), (id[0].clone(), 200, "1")]),
    );
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
    assert_eq!(s.fetches[0].1.url, url("/api/user"));
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
    assert_eq!(ids(&s.batches[0].2).len(), 2);
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
    assert!(s.batches.iter().all(|(_, _, body)| body.len() <= 400));
}

#[test]
fn batches_never_mix_credentials() {
    let mut s = Sim::new(config(|_| {}));
    for user in ["alice", "bob"] {
        for p in ["/api/user", "/api/bills"] {
            s.get_with(&url(p), |r| {
                r.identity = Identity {
                    authorization: Some(format!("Bearer {user}")),
                    ..Default::default()
                }
            });
        }
    }
    s.advance(10);
    assert_eq!(s.batches.len(), 2);
    for (i, user) in ["alice", "bob"].iter().enumerate() {
        let (_, spec, body) = &s.batches[i];
        assert!(spec
            .headers
            .contains(&("Authorization".into(), format!("Bearer {user}"))));
        assert!(
            !body.contains("Bearer"),
            "credentials ride on the POST, not in items"
        );
        assert_eq!(ids(body).len(), 2);
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
    s.advance(10);
    let (batch, body) = s.last_batch();
    let id = ids(&body);
    s.batch_body(
        batch,
        &answer(&[
            (id[0].clone(), 404, r#"{"error":"no such game"}"#),
            (id[1].clone(), 200, "7"),
        ]),
    );
    assert_eq!(
        s.settled[&a],
        Err(FetchError::Http {
            status: 404,
            body: r#"{"error":"no such game"}"#.into(),
            retry_after: None,
        })
    );
    assert_eq!(s.settled[&b], Ok(7));
}

#[test]
fn a_missing_id_is_named_and_extra_or_duplicate_ids_are_ignored() {
    let mut s = Sim::new(config(|_| {}));
    let a = s.get(&url("/a"));
    let b = s.get(&url("/b"));
    s.advance(10);
    let (batch, body) = s.last_batch();
    let id = ids(&body);
    s.batch_body(
        batch,
        &answer(&[
            (id[0].clone(), 200, "1"),
            (id[0].clone(), 200, "9"),
            ("999".into(), 200, "5"),
        ]),
    );
    assert_eq!(
        s.settled[&a],
        Ok(1),
        "the first answer wins, the duplicate is ignored"
    );
    match &s.settled[&b] {
        Err(FetchError::Batch(why)) => {
            assert!(why.contains(&format!("id \"{}\"", id[1])), "{why}");
            assert!(why.contains("/b"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    let st = s.core.stats();
    assert_eq!((st.batch_ignored_answers, st.batch_protocol_errors), (2, 1));
    assert!(s.double_settled.is_empty());
}

#[test]
fn garbage_and_truncated_answers_reject_everyone_still_waiting() {
    for (text, needle) in [
        ("<html>oops</html>", "not the expected JSON"),
        (r#"{"responses":[{"id":"1","status":200,"bo"#, "truncated"),
        (r#"{"answers":[]}"#, "no `responses` array"),
    ] {
        let mut s = Sim::new(config(|_| {}));
        let a = s.get(&url("/a"));
        let b = s.get(&url("/b"));
        s.advance(10);
        let (batch, _) = s.last_batch();
        s.batch_body(batch, text);
        for w in [a, b] {
            match &s.settled[&w] {
                Err(FetchError::Batch(why)) => assert!(why.contains(needle), "{why}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        assert_eq!(s.core.pending_batches(), 0);
    }
}

#[test]
fn streamed_answers_resolve_line_by_line() {
    let mut s = Sim::new(config(|b| b.stream = true));
    let a = s.get(&url("/fast"));
    let b = s.get(&url("/slow"));
    let c = s.get(&url("/never"));
    s.advance(10);
    let (batch, spec, body) = s.batches[0].clone();
    assert!(spec
        .headers
        .contains(&("Accept".into(), "application/x-ndjson".into())));
    let id = ids(&body);
    s.batch_line(
        batch,
        &format!(r#"{{"id":"{}","status":200,"body":1}}"#, id[0]),
    );
    assert_eq!(s.settled[&a], Ok(1), "resolved before the rest arrived");
    assert!(!s.settled.contains_key(&b));
    s.batch_line(
        batch,
        &format!(r#"{{"id":"{}","status":200,"body":2}}"#, id[1]),
    );
    assert_eq!(s.settled[&b], Ok(2));
    s.batch_end(batch, "");
    assert!(matches!(&s.settled[&c], Err(FetchError::Batch(w)) if w.contains(&id[2])));
}

#[test]
fn a_stream_cut_mid_line_rejects_the_rest() {
    let mut s = Sim::new(config(|b| b.stream = true));
    let a = s.get(&url("/a"));
    let b = s.get(&url("/b"));
    s.advance(10);
    let (batch, body) = s.last_batch();
    let id = ids(&body);
    s.batch_line(
        batch,
        &format!(r#"{{"id":"{}","status":200,"body":1}}"#, id[0]),
    );
    s.batch_end(batch, &format!(r#"{{"id":"{}","status":200,"bo"#, id[1]));
    assert_eq!(s.settled[&a], Ok(1));
    assert!(matches!(&s.settled[&b], Err(FetchError::Batch(w)) if w.contains("ended mid-line")));
    // A garbage line ends the batch and aborts its request.
    let mut s = Sim::new(config(|b| b.stream = true));
    let c = s.get(&url("/c"));
    s.get(&url("/d"));
    s.advance(10);
    let (batch, _) = s.last_batch();
    s.batch_line(batch, "<html>");
    assert!(matches!(&s.settled[&c], Err(FetchError::Batch(_))));
    assert_eq!(s.cancelled_batches, vec![batch]);
}

#[test]
fn no_batch_endpoint_falls_back_to_plain_requests_without_errors() {
    for status in [404, 405, 501] {
        let mut s = Sim::new(config(|_| {}));
        let a = s.get(&url("/a"));
        let b = s.get(&url("/b"));
        s.advance(10);
        let (batch, _) = s.last_batch();
        s.core.batch_failed(
            s.now,
            batch,
            BatchFailure::Status {
                status,
                body: String::new(),
            },
        );
        s.drain();
        assert!(s.settled.is_empty(), "no caller sees the 404");
        assert_eq!(s.fetches.len(), 2);
        let (f1, f2) = (s.fetches[0].0, s.fetches[1].0);
        s.answer(f1, 1);
        s.answer(f2, 2);
        assert_eq!(
            (s.settled[&a].clone(), s.settled[&b].clone()),
            (Ok(1), Ok(2))
        );
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
    s.core.batch_failed(
        s.now,
        batch,
        BatchFailure::Status {
            status: 500,
            body: "down".into(),
        },
    );
    s.drain();
    let e = FetchError::Http {
        status: 500,
        body: "down".into(),
        retry_after: None,
    };
    assert_eq!(s.settled[&a], Err(e.clone()));
    assert_eq!(s.settled[&b], Err(e));
    let c = s.get(&url("/c"));
    s.get(&url("/d"));
    s.advance(10);
    s.core.batch_failed(
        s.now,
        s.last_batch().0,
        BatchFailure::Network("reset".into()),
    );
    s.drain();
    assert_eq!(s.settled[&c], Err(FetchError::Network("reset".into())));
}

#[test]
fn abort_drops_an_unsent_item_and_a_sent_batch_still_fills_the_cache() {
    let mut s = Sim::new(config(|_| {}));
    let a = s.get(&url("/a"));
    let b = s.get(&url("/b"));
    let c = s.get(&url("/c"));
    s.core.abort(s.now, b);
    s.drain();
    s.advance(10);
    let (batch, body) = s.last_batch();
    assert_eq!(ids(&body).len(), 2, "the aborted item was dropped: {body}");
    assert!(!body.contains("/b"));
    s.core.abort(s.now, a);
    s.core.abort(s.now, c);
    s.drain();
    assert_eq!(s.settled[&a], Err(FetchError::Abort));
    assert_eq!(s.settled[&c], Err(FetchError::Abort));
    // The batch has left: the server works on it anyway, so it is not
    // aborted, and its answers fill the cache for a user who comes back.
    assert!(s.cancelled_batches.is_empty());
    let ids_sent = ids(&body);
    s.batch_body(
        batch,
        &answer(&[
            (ids_sent[0].clone(), 200, "1"),
            (ids_sent[1].clone(), 200, "2"),
        ]),
    );
    assert!(s.double_settled.is_empty());
    assert_eq!(s.core.pending_batches(), 0);
    let back = s.get(&url("/a"));
    assert!(
        s.settled[&back].is_ok(),
        "a revisit is served from the cache"
    );
    assert_eq!(s.core.stats().cache_hits, 1);
    // Everyone aborting before the window closes sends nothing at all.
    let d = s.get(&url("/d"));
    let e = s.get(&url("/e"));
    s.core.abort(s.now, d);
    s.core.abort(s.now, e);
    s.drain();
    s.advance(50);
    assert_eq!(s.batches.len(), 1);
    assert!(s.fetches.is_empty());
    assert_eq!(s.core.pending_timers(), 0);
}

#[test]
fn cached_etags_revalidate_with_304() {
    let mut s = Sim::new(config(|_| {}));
    let a = s.get(&url("/a"));
    let b = s.get(&url("/b"));
    s.advance(10);
    let (batch, body) = s.last_batch();
    let id = ids(&body);
    s.batch_body(
        batch,
        &format!(
            r#"{{"responses":[{{"id":"{}","status":200,"headers":{{"ETag":"\"e1\""}},"body":1}},{{"id":"{}","status":200,"headers":{{"etag":"\"e2\""}},"body":2}}]}}"#,
            id[0], id[1]
        ),
    );
    assert_eq!(
        (s.settled[&a].clone(), s.settled[&b].clone()),
        (Ok(1), Ok(2))
    );
    s.advance(5_000); // both stale
    let a2 = s.get(&url("/a"));
    let b2 = s.get(&url("/b"));
    s.advance(10);
    let (batch, body) = s.last_batch();
    assert!(body.contains(r#""If-None-Match":"\"e1\"""#), "{body}");
    assert!(body.contains(r#""If-None-Match":"\"e2\"""#), "{body}");
    let id = ids(&body);
    s.batch_body(
        batch,
        &format!(
            r#"{{"responses":[{{"id":"{}","status":304}},{{"id":"{}","status":200,"body":3}}]}}"#,
            id[0], id[1]
        ),
    );
    assert_eq!(s.settled[&a2], Ok(1), "304 serves the cached body");
    assert_eq!(s.settled[&b2], Ok(3));
    assert_eq!(s.core.stats().revalidated, 1);
    let a3 = s.get(&url("/a"));
    assert_eq!(s.settled[&a3], Ok(1), "and the entry is fresh again");
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
    let (batch, body) = s.last_batch();
    s.advance(40); // t = 100: a's deadline
    assert_eq!(s.settled[&a], Err(FetchError::Timeout { ms: 100 }));
    assert!(s.cancelled_batches.is_empty());
    let id = ids(&body);
    s.batch_body(
        batch,
        &answer(&[(id[0].clone(), 200, "1"), (id[1].clone(), 200, "2")]),
    );
    assert_eq!(s.settled[&b], Ok(2));
    assert_eq!(
        s.core.stats().batch_ignored_answers,
        1,
        "the late answer for a is ignored"
    );
    let _ = Outcome::<u32>::Failed(FetchError::Abort);
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
    let (batch, body) = s.last_batch();
    let ids = ids(&body);
    let (small_id, big_id) = if body.find("/small") < body.find("/big") {
        (ids[0].clone(), ids[1].clone())
    } else {
        (ids[1].clone(), ids[0].clone())
    };
    s.batch_body(
        batch,
        &answer(&[(small_id, 200, "12"), (big_id, 200, "1234")]),
    );
    assert_eq!(s.settled[&small], Ok(12));
    assert_eq!(s.settled[&big], Ok(1234), "the caller gets the big body");
    assert!(s
        .core
        .entry(&Key::get(&url("/small"), &Identity::default()))
        .is_some());
    let cached_big = s.core.entry(&Key::get(&url("/big"), &Identity::default()));
    assert!(
        cached_big.is_none_or(|e| e.data.is_none()),
        "the big body is not cached"
    );
}

#[test]
fn a_batch_of_one_sent_as_a_plain_get_is_not_aborted_when_its_caller_leaves() {
    let mut s = Sim::new(config(|_| {}));
    let a = s.get(&url("/only"));
    s.advance(10); // the window closes with one item: a plain GET
    assert_eq!(s.fetches.len(), 1);
    s.core.abort(s.now, a);
    s.drain();
    assert_eq!(s.settled[&a], Err(FetchError::Abort));
    assert!(s.cancels.is_empty(), "the request that left is not aborted");
    s.answer(s.last_flight(), 7);
    let back = s.get(&url("/only"));
    assert_eq!(s.settled[&back], Ok(7), "its answer filled the cache");
    // Without batching, a request nobody waits for is aborted (issue 2).
    let mut plain = Sim::new(Config::default());
    let b = plain.get(&url("/x"));
    plain.core.abort(plain.now, b);
    plain.drain();
    assert_eq!(plain.cancels.len(), 1);
}

#[test]
fn a_stream_that_stays_open_after_its_last_answer_is_closed() {
    let mut s = Sim::new(config(|b| b.stream = true));
    let a = s.get(&url("/a"));
    let b = s.get(&url("/b"));
    s.advance(10);
    let (batch, body) = s.last_batch();
    let id = ids(&body);
    s.batch_line(
        batch,
        &format!(r#"{{"id":"{}","status":200,"body":1}}"#, id[0]),
    );
    assert!(s.cancelled_batches.is_empty(), "one item still to come");
    s.batch_line(
        batch,
        &format!(r#"{{"id":"{}","status":200,"body":2}}"#, id[1]),
    );
    assert_eq!((&s.settled[&a], &s.settled[&b]), (&Ok(1), &Ok(2)));
    assert_eq!(s.cancelled_batches, vec![batch], "nothing left to read for");
    // A late extra line, or the end of the stream, changes nothing.
    s.batch_line(
        batch,
        &format!(r#"{{"id":"{}","status":200,"body":3}}"#, id[1]),
    );
    s.batch_end(batch, "");
    assert_eq!(s.core.pending_batches(), 0);
    assert!(s.double_settled.is_empty());
}

#[test]
fn a_deeply_nested_item_body_breaks_only_that_item() {
    let mut s = Sim::new(config(|_| {}));
    let deep = s.get(&url("/deep"));
    let plain = s.get(&url("/plain"));
    s.advance(10);
    let (batch, body) = s.last_batch();
    let id = ids(&body);
    let nested = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    s.batch_body(
        batch,
        &answer(&[(id[0].clone(), 200, &nested), (id[1].clone(), 200, "2")]),
    );
    // The simulation's bodies are numbers, so the nested one fails to parse
    // (the platform's JSON.parse reads it in the browser); the other item
    // is not touched.
    assert!(matches!(s.settled[&deep], Err(FetchError::Parse(_))));
    assert_eq!(s.settled[&plain], Ok(2));
}
