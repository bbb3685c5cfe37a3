//! Native tests of the deterministic core: dedup, cache, abort, timeout.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use calmfetch::core::{
    BatchConfig, BatchFailure, CircuitConfig, Config, FetchError, GetRequest, Identity, Key,
    Outcome, SocketConfig, WaiterId,
};
use common::{ids, Sim};
use proptest::prelude::*;

const U: &str = "http://h.test/api/games/1";

#[test]
fn concurrent_identical_gets_make_one_request() {
    let mut s = Sim::new(Config::default());
    let ws: Vec<_> = (0..100).map(|_| s.get(U)).collect();
    assert_eq!(s.fetches.len(), 1);
    assert!(s.settled.is_empty());
    s.answer(s.last_flight(), 7);
    for w in ws {
        assert_eq!(s.settled[&w], Ok(7));
    }
    let st = s.core.stats();
    assert_eq!(
        (st.requested, st.network_requests, st.dedup_hits),
        (100, 1, 99)
    );
    assert_eq!(s.core.pending_waiters(), 0);
    assert_eq!(s.core.pending_timers(), 0);
}

#[test]
fn all_joined_callers_get_the_same_error_and_errors_are_not_cached() {
    let mut s = Sim::new(Config::default());
    let a = s.get(U);
    let b = s.get(U);
    let err = FetchError::Http {
        status: 500,
        body: "boom".into(),
        retry_after: None,
    };
    s.fail(s.last_flight(), err.clone());
    assert_eq!(s.settled[&a], Err(err.clone()));
    assert_eq!(s.settled[&b], Err(err));
    s.get(U);
    assert_eq!(s.fetches.len(), 2, "an error is not served from cache");
}

#[test]
fn fresh_entry_is_served_without_network_until_ttl() {
    let mut s = Sim::new(Config {
        default_ttl_ms: 1000,
        ..Config::default()
    });
    s.get(U);
    s.answer(s.last_flight(), 1);
    s.now = 999;
    let w = s.get(U);
    assert_eq!(s.settled[&w], Ok(1));
    assert_eq!(s.fetches.len(), 1);
    s.now = 1000;
    s.get(U);
    assert_eq!(s.fetches.len(), 2, "expired at exactly ttl");
    assert_eq!(s.core.stats().cache_hits, 1);
}

#[test]
fn per_request_ttl_and_fresh_flag() {
    let mut s = Sim::new(Config::default());
    s.get_with(U, |r| r.ttl_ms = Some(10_000));
    s.answer(s.last_flight(), 1);
    s.now = 5_000;
    let w = s.get_with(U, |r| r.ttl_ms = Some(10_000));
    assert_eq!(s.settled[&w], Ok(1));
    s.get(U); // default 2 s ttl: stale for this caller
    assert_eq!(s.fetches.len(), 2);
    // fresh: skips the cache but joins the request in flight
    let f = s.get_with(U, |r| r.fresh = true);
    assert_eq!(s.fetches.len(), 2);
    s.answer(s.last_flight(), 2);
    assert_eq!(s.settled[&f], Ok(2));
    let g = s.get_with(U, |r| r.fresh = true);
    assert_eq!(s.fetches.len(), 3, "fresh bypasses a fresh entry");
    assert!(!s.settled.contains_key(&g));
}

#[test]
fn credentials_never_share() {
    let mut s = Sim::new(Config::default());
    let alice = Identity {
        authorization: Some("Bearer alice".into()),
        ..Default::default()
    };
    let bob = Identity {
        authorization: Some("Bearer bob".into()),
        ..Default::default()
    };
    let a = s.get_with(U, |r| r.identity = alice.clone());
    let b = s.get_with(U, |r| r.identity = bob.clone());
    assert_eq!(s.fetches.len(), 2);
    let (fa, fb) = (s.fetches[0].0, s.fetches[1].0);
    s.answer(fa, 1);
    s.answer(fb, 2);
    assert_eq!(
        (s.settled[&a].clone(), s.settled[&b].clone()),
        (Ok(1), Ok(2))
    );
    let b2 = s.get_with(U, |r| r.identity = bob.clone());
    assert_eq!(s.settled[&b2], Ok(2));
    let p = s.get_with(U, |r| r.identity.partition = Some("user-9".into()));
    assert_eq!(s.fetches.len(), 3);
    assert!(!s.settled.contains_key(&p));
}

#[test]
fn authorization_and_headers_are_sent() {
    let mut s = Sim::new(Config::default());
    s.get_with(U, |r| {
        r.identity.authorization = Some("Bearer t".into());
        r.headers.push(("Accept".into(), "application/json".into()));
    });
    let spec = &s.fetches[0].1;
    assert_eq!(spec.url, U);
    assert_eq!(
        spec.headers,
        vec![
            ("Accept".to_string(), "application/json".to_string()),
            ("Authorization".to_string(), "Bearer t".to_string())
        ]
    );
}

#[test]
fn aborting_one_caller_keeps_the_request_for_the_others() {
    let mut s = Sim::new(Config::default());
    let a = s.get(U);
    let b = s.get(U);
    s.core.abort(s.now, a);
    s.drain();
    assert_eq!(s.settled[&a], Err(FetchError::Abort));
    assert!(s.cancels.is_empty());
    s.answer(s.last_flight(), 3);
    assert_eq!(s.settled[&b], Ok(3));
    assert_eq!(s.double_settled, vec![]);
}

#[test]
fn aborting_every_caller_cancels_the_request() {
    let mut s = Sim::new(Config::default());
    let a = s.get(U);
    let b = s.get(U);
    s.core.abort(s.now, a);
    s.core.abort(s.now, b);
    s.core.abort(s.now, b); // a second abort is ignored
    s.drain();
    assert_eq!(s.cancels, vec![s.last_flight()]);
    assert_eq!(s.settled[&b], Err(FetchError::Abort));
    // A late answer for the cancelled flight changes nothing.
    s.answer(s.last_flight(), 9);
    assert_eq!(s.double_settled, vec![]);
    assert!(s.core.entry(&Key::get(U, &Identity::default())).is_none());
    assert_eq!(s.core.stats().cancelled_requests, 1);
    assert_eq!(s.core.pending_timers(), 0);
}

#[test]
fn timeout_rejects_every_caller_and_cancels() {
    let mut s = Sim::new(Config {
        timeout_ms: Some(500),
        ..Config::default()
    });
    let a = s.get(U);
    s.now = 100;
    let b = s.get(U);
    assert_eq!(s.core.poll_timeout(), Some(500));
    s.advance(399);
    assert!(s.settled.is_empty());
    s.advance(1);
    assert_eq!(s.settled[&a], Err(FetchError::Timeout { ms: 500 }));
    assert_eq!(s.settled[&b], Err(FetchError::Timeout { ms: 500 }));
    assert_eq!(s.cancels.len(), 1);
    assert_eq!(s.core.poll_timeout(), None);
    assert_eq!(s.core.stats().timeouts, 1);
}

#[test]
fn no_store_is_not_cached() {
    let mut s = Sim::new(Config::default());
    s.get(U);
    s.core.fetch_done(
        0,
        s.last_flight(),
        Outcome::Body {
            body: 1,
            etag: None,
            no_store: true,
            size: 1,
        },
    );
    s.drain();
    s.get(U);
    assert_eq!(s.fetches.len(), 2);
}

#[test]
fn invalidate_by_prefix_and_clear() {
    let mut s = Sim::new(Config::default());
    for u in [
        "/api/games/1",
        "/api/games/1/odds",
        "/api/games/10",
        "/api/user",
    ] {
        s.get(&format!("http://h.test{u}"));
        s.answer(s.last_flight(), 1);
    }
    assert_eq!(s.core.invalidate("http://h.test/api/games/1"), 2);
    let before = s.fetches.len();
    for u in [
        "/api/games/1",
        "/api/games/1/odds",
        "/api/games/10",
        "/api/user",
    ] {
        s.get(&format!("http://h.test{u}"));
    }
    assert_eq!(s.fetches.len(), before + 2);
    // Invalidated while in flight: callers get the answer, the cache holds it stale.
    s.core.invalidate("http://h.test/api/");
    let f = s.fetches[before].0;
    s.answer(f, 5);
    s.get("http://h.test/api/games/1");
    assert_eq!(s.fetches.len(), before + 3);
    s.core.clear(s.now);
    assert_eq!(s.core.stats().cache_entries, 0);
    s.get("http://h.test/api/user");
    assert_eq!(s.fetches.len(), before + 4);
}

#[test]
fn watchers_hear_their_key_only() {
    let mut s = Sim::new(Config::default());
    let key = Key::get(U, &Identity::default());
    s.core.watch(&key);
    s.get("http://h.test/other");
    s.answer(s.last_flight(), 1);
    assert!(s.notified.is_empty());
    s.get(U); // starts fetching: a change
    s.answer(s.last_flight(), 2); // data: a change
    assert_eq!(s.notified, vec![key.clone(), key.clone()]);
    s.core.unwatch(&key);
    s.core.invalidate(U);
    s.drain();
    assert_eq!(s.notified.len(), 2);
}

#[test]
fn cache_stays_within_max_entries() {
    let mut s = Sim::new(Config {
        max_entries: 50,
        ..Config::default()
    });
    for i in 0..5_000 {
        s.get(&format!("http://h.test/item/{i}"));
        s.answer(s.last_flight(), i);
    }
    let st = s.core.stats();
    assert_eq!(st.cache_entries, 50);
    assert_eq!(st.evictions, 4_950);
}

// ---- property test -------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Get {
        url: u8,
        user: u8,
        fresh: bool,
    },
    Abort(usize),
    Answer(usize, u32),
    Fail(usize),
    Advance(u16),
    Invalidate(u8),
    Clear,
    /// Answer a sent batch: 0 full, 1 partial, 2 garbage, 3 truncated,
    /// 4 streamed then end, 5 streamed and cut, 6 HTTP 404, 7 HTTP 500.
    Batch(usize, u8),
    Poll(u8, u16, bool),
    StopPoll(usize),
    Visible(bool),
    Online(bool),
    Live(u8, bool),
    SocketOpen,
    SocketClose,
    SocketMessage(u8, u8),
    Prefetch(u8),
    Intent(u8),
    IntentCancel(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..4, 0u8..2, any::<bool>()).prop_map(|(url, user, fresh)| Op::Get { url, user, fresh }),
        2 => any::<usize>().prop_map(Op::Abort),
        2 => (any::<usize>(), any::<u32>()).prop_map(|(i, b)| Op::Answer(i, b)),
        1 => any::<usize>().prop_map(Op::Fail),
        2 => (0u16..1500).prop_map(Op::Advance),
        1 => (0u8..4).prop_map(Op::Invalidate),
        1 => Just(Op::Clear),
        3 => (any::<usize>(), 0u8..8).prop_map(|(i, k)| Op::Batch(i, k)),
        1 => (0u8..4, 1u16..3000, any::<bool>()).prop_map(|(u, ms, bg)| Op::Poll(u, ms, bg)),
        1 => any::<usize>().prop_map(Op::StopPoll),
        1 => any::<bool>().prop_map(Op::Visible),
        1 => any::<bool>().prop_map(Op::Online),
        2 => (0u8..4, any::<bool>()).prop_map(|(u, add)| Op::Live(u, add)),
        1 => Just(Op::SocketOpen),
        1 => Just(Op::SocketClose),
        2 => (0u8..4, 0u8..3).prop_map(|(u, k)| Op::SocketMessage(u, k)),
        2 => (0u8..6).prop_map(Op::Prefetch),
        1 => (0u8..6).prop_map(Op::Intent),
        1 => any::<usize>().prop_map(Op::IntentCancel),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    /// Random interleavings of start / join / abort / success / failure /
    /// timeout settle every waiter exactly once and leave nothing behind.
    #[test]
    fn every_waiter_settles_exactly_once(ops in proptest::collection::vec(op(), 1..80), batching in any::<bool>(), socket in any::<bool>()) {
        let batch = batching.then(|| BatchConfig { max_size: 3, ..BatchConfig::new("http://h.test/batch".into()) });
        let socket = socket.then(SocketConfig::default);
        let circuit = Some(CircuitConfig { failures: 2, cool_down_ms: 300 });
        let mut s = Sim::new(Config { max_entries: 3, default_ttl_ms: 700, timeout_ms: Some(1000), batch, socket, circuit, ..Config::default() });
        let mut lives: Vec<u8> = Vec::new();
        let mut intents = Vec::new();
        let mut waiters: Vec<WaiterId> = Vec::new();
        let mut pollers = Vec::new();
        for op in ops {
            match op {
                Op::Get { url, user, fresh } => {
                    let w = s.get_with(&format!("http://h.test/{url}"), |r| {
                        r.fresh = fresh;
                        r.identity.authorization = Some(format!("u{user}"));
                    });
                    waiters.push(w);
                }
                Op::Abort(i) if !waiters.is_empty() => {
                    let w = waiters[i % waiters.len()];
                    s.core.abort(s.now, w);
                    s.drain();
                }
                Op::Answer(i, b) if !s.fetches.is_empty() => {
                    let f = s.fetches[i % s.fetches.len()].0;
                    s.answer(f, b);
                }
                Op::Fail(i) if !s.fetches.is_empty() => {
                    let f = s.fetches[i % s.fetches.len()].0;
                    s.fail(f, FetchError::Network("x".into()));
                }
                Op::Advance(ms) => s.advance(ms as u64),
                Op::Invalidate(u) => { s.core.invalidate(&format!("http://h.test/{u}")); s.drain(); }
                Op::Clear => { s.core.clear(s.now); s.drain(); }
                Op::Batch(i, kind) if !s.batches.is_empty() => {
                    let (b, _, body) = s.batches[i % s.batches.len()].clone();
                    let ids = ids(&body);
                    let line = |id: &String| format!(r#"{{"id":"{id}","status":200,"body":{}}}"#, id.len());
                    let full: Vec<String> = ids.iter().map(line).collect();
                    match kind {
                        0 => s.batch_body(b, &format!(r#"{{"responses":[{}]}}"#, full.join(","))),
                        1 => s.batch_body(b, &format!(r#"{{"responses":[{}]}}"#, full[..full.len() / 2].join(","))),
                        2 => s.batch_body(b, "<html>oops</html>"),
                        3 => s.batch_body(b, r#"{"responses":[{"id":"#),
                        4 => { for l in &full { s.batch_line(b, l); } s.batch_end(b, ""); }
                        5 => { s.batch_line(b, &full[0]); s.batch_end(b, r#"{"id":"1","sta"#); }
                        6 => { s.core.batch_failed(s.now, b, BatchFailure::Status { status: 404, body: String::new() }); s.drain(); }
                        _ => { s.core.batch_failed(s.now, b, BatchFailure::Status { status: 500, body: String::new() }); s.drain(); }
                    }
                }
                Op::Poll(u, ms, bg) => {
                    let req = GetRequest { url: format!("http://h.test/{u}"), ..Default::default() };
                    pollers.push(s.core.poll_start(s.now, req, ms as u64, bg, true));
                    s.drain();
                }
                Op::StopPoll(i) if !pollers.is_empty() => {
                    let p = pollers.swap_remove(i % pollers.len());
                    s.core.poll_stop(s.now, p);
                    s.drain();
                }
                Op::Visible(v) => { s.core.set_visible(s.now, v); s.drain(); }
                Op::Online(v) => { s.core.set_online(s.now, v); s.drain(); }
                Op::Live(u, true) => {
                    let req = GetRequest { url: format!("http://h.test/{u}"), ..Default::default() };
                    if s.core.live_add(s.now, req) { lives.push(u); }
                    s.drain();
                }
                Op::Live(u, false) => {
                    if let Some(i) = lives.iter().position(|x| *x == u) {
                        lives.swap_remove(i);
                        let req = GetRequest { url: format!("http://h.test/{u}"), ..Default::default() };
                        s.core.live_remove(s.now, &req);
                        s.drain();
                    }
                }
                Op::SocketOpen => { s.core.socket_opened(s.now); s.drain(); }
                Op::SocketClose => { s.core.socket_closed(s.now); s.drain(); }
                Op::SocketMessage(u, kind) => {
                    let text = match kind {
                        0 => format!(r#"{{"type":"data","key":"/{u}","body":{u}}}"#),
                        1 => format!(r#"{{"type":"error","key":"/{u}","message":"x"}}"#),
                        _ => "garbage".to_string(),
                    };
                    s.core.socket_message(s.now, &text, &mut common::parse_u32);
                    s.drain();
                }
                Op::Prefetch(u) => {
                    let req = GetRequest { url: format!("http://h.test/{u}"), ..Default::default() };
                    s.core.prefetch(s.now, req);
                    s.drain();
                }
                Op::Intent(u) => {
                    let req = GetRequest { url: format!("http://h.test/{u}"), ..Default::default() };
                    intents.push(s.core.intent_start(s.now, req));
                    s.drain();
                }
                Op::IntentCancel(i) if !intents.is_empty() => {
                    let id = intents.swap_remove(i % intents.len());
                    s.core.intent_cancel(id);
                }
                _ => {}
            }
            prop_assert!(s.core.stats().cache_entries <= 3);
            prop_assert_eq!(&s.double_settled, &Vec::<WaiterId>::new());
        }
        // Nobody polls any more; let every deadline pass: whatever is still
        // waiting must time out.
        for p in pollers {
            s.core.poll_stop(s.now, p);
            s.drain();
        }
        prop_assert_eq!(s.core.pending_polls(), (0, 0));
        for u in lives {
            let req = GetRequest { url: format!("http://h.test/{u}"), ..Default::default() };
            s.core.live_remove(s.now, &req);
            s.drain();
        }
        for _ in 0..12 {
            s.advance(1000);
        }
        for w in &waiters {
            prop_assert!(s.settled.contains_key(w), "waiter {:?} never settled", w);
        }
        prop_assert_eq!(s.settled.len(), waiters.len());
        prop_assert_eq!(s.core.pending_waiters(), 0);
        prop_assert_eq!(s.core.pending_timers(), 0);
        prop_assert_eq!(s.core.pending_batches(), 0);
        prop_assert_eq!(s.core.pending_detached(), 0);
        prop_assert_eq!(s.core.pending_prefetches(), (0, 0, 0));
        prop_assert_eq!(s.core.socket_subscriptions(), 0);
        prop_assert_eq!(s.core.stats().in_flight, 0);
    }
}

#[test]
fn restored_data_is_stale_never_overwrites_and_a_get_still_fetches() {
    let mut s = Sim::new(Config::default());
    let key = Key::get(U, &Identity::default());
    s.core.watch(&key);
    assert!(s.core.restore(s.now, &key, 3, 1, s.now));
    s.drain();
    assert_eq!(
        s.notified.last(),
        Some(&key),
        "listeners hear restored data"
    );
    let entry = s.core.entry(&key).unwrap();
    assert_eq!(entry.data, Some(3));
    assert!(!entry.is_fresh(s.now, 60_000), "restored data is stale");
    // A get goes to the network; the answer replaces the restored data.
    let w = s.get(U);
    assert_eq!(s.fetches.len(), 1);
    s.answer(s.last_flight(), 9);
    assert_eq!(s.settled[&w], Ok(9));
    // Restoring again does not overwrite newer data.
    assert!(!s.core.restore(s.now, &key, 3, 1, 0));
    assert_eq!(s.core.entry(&key).unwrap().data, Some(9));
}

#[test]
fn get_cached_answers_exactly_when_get_would_from_the_cache() {
    let mut s = Sim::new(Config::default());
    let req = |fresh| GetRequest {
        url: U.into(),
        fresh,
        ..Default::default()
    };
    assert_eq!(
        s.core.get_cached(s.now, &req(false)),
        None,
        "nothing cached yet"
    );
    let w = s.get(U);
    s.answer(s.last_flight(), 5);
    assert_eq!(s.settled[&w], Ok(5));
    assert_eq!(s.core.get_cached(s.now, &req(false)), Some(5));
    assert_eq!(
        s.core.get_cached(s.now, &req(true)),
        None,
        "fresh: true skips the cache"
    );
    let other_user = GetRequest {
        identity: Identity {
            authorization: Some("Bearer b".into()),
            ..Identity::default()
        },
        ..req(false)
    };
    assert_eq!(
        s.core.get_cached(s.now, &other_user),
        None,
        "never another user's entry"
    );
    s.advance(2_000); // the default TTL
    assert_eq!(s.core.get_cached(s.now, &req(false)), None, "stale");
    let st = s.core.stats();
    assert_eq!((st.requested, st.cache_hits), (2, 1));
}

#[test]
fn answers_that_may_not_be_kept_are_shown_to_listeners_only() {
    let mut s = Sim::new(Config {
        max_body_bytes: 100,
        ..Config::default()
    });
    let k = Key::get(U, &Identity::default());
    s.core.watch(&k);
    for (no_store, size) in [(true, 10), (false, 101)] {
        s.get(U);
        let before = s.fetches.len();
        s.core.fetch_done(
            s.now,
            s.last_flight(),
            Outcome::Body {
                body: 5,
                etag: Some("e".into()),
                no_store,
                size,
            },
        );
        s.drain();
        let e = s.core.entry(&k).expect("listeners see the answer");
        assert_eq!(e.data, Some(5));
        assert!(e.shown_only && e.is_stale(s.now));
        assert!(s.notified.contains(&k));
        s.get(U);
        assert_eq!(s.fetches.len(), before + 1, "never served from the cache");
        s.answer(s.last_flight(), 6);
        assert_eq!(s.core.entry(&k).unwrap().data, Some(6));
        s.core.invalidate(U);
    }
    // Shown data goes with the last listener.
    s.get(U);
    s.core.fetch_done(
        s.now,
        s.last_flight(),
        Outcome::Body {
            body: 7,
            etag: None,
            no_store: true,
            size: 1,
        },
    );
    s.drain();
    s.core.unwatch(&k);
    assert!(s.core.entry(&k).is_none());
}

#[test]
fn the_cache_is_bounded_in_bytes() {
    let mut s = Sim::new(Config {
        max_bytes: 10_000,
        ..Config::default()
    });
    for i in 0..5 {
        s.get(&format!("{U}/{i}"));
        s.core.fetch_done(
            s.now,
            s.last_flight(),
            Outcome::Body {
                body: i,
                etag: None,
                no_store: false,
                size: 3_000,
            },
        );
        s.drain();
    }
    assert_eq!(s.core.stats().cache_entries, 3);
    assert_eq!(s.core.stats().evictions, 2);
    let before = s.fetches.len();
    s.get(&format!("{U}/0"));
    assert_eq!(s.fetches.len(), before + 1, "the oldest went first");
}

#[test]
fn cookies_and_named_credential_headers_separate_users_and_are_sent() {
    let mut s = Sim::new(Config::default());
    let who = |c: &str| Identity {
        secrets: vec![("cookie".into(), c.into())],
        ..Default::default()
    };
    let a = s.get_with(U, |r| r.identity = who("sid=alice"));
    let b = s.get_with(U, |r| r.identity = who("sid=bob"));
    let a2 = s.get_with(U, |r| r.identity = who("sid=alice"));
    assert_eq!(s.fetches.len(), 2, "one request per cookie");
    assert!(s.fetches[0]
        .1
        .headers
        .contains(&("cookie".into(), "sid=alice".into())));
    s.answer(s.fetches[0].0, 1);
    s.answer(s.fetches[1].0, 2);
    assert_eq!(
        (&s.settled[&a], &s.settled[&b], &s.settled[&a2]),
        (&Ok(1), &Ok(2), &Ok(1))
    );
}
