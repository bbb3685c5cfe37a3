//! Native tests of the deterministic core: dedup, cache, abort, timeout,
//! shown-only data, key lifetimes.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use calmfetch::core::{Answer, Config, Fail};
use common::{Identity, Sim};

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
    assert!(s.double_settled.is_empty());
}

#[test]
fn all_joined_callers_get_the_same_error_and_errors_are_not_cached() {
    let mut s = Sim::new(Config::default());
    let a = s.get(U);
    let b = s.get(U);
    let flight = s.last_flight();
    s.fail_status(flight, 500);
    let err = Fail::Http {
        flight,
        status: 500,
        retry_after: None,
    };
    assert_eq!(s.settled[&a], Err(err));
    assert_eq!(s.settled[&b], Err(err));
    assert_eq!(s.error(U), None, "nobody listens: no error entry");
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
    assert_eq!(s.hits, vec![w], "answered at once, without a waiter");
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
    let alice = Identity::bearer("alice");
    let bob = Identity::bearer("bob");
    let a = s.get_with(U, |r| r.who = alice.clone());
    let b = s.get_with(U, |r| r.who = bob.clone());
    assert_eq!(s.fetches.len(), 2);
    let (fa, fb) = (s.fetches[0].0, s.fetches[1].0);
    s.answer(fa, 1);
    s.answer(fb, 2);
    assert_eq!((s.settled[&a], s.settled[&b]), (Ok(1), Ok(2)));
    let b2 = s.get_with(U, |r| r.who = bob.clone());
    assert_eq!(s.settled[&b2], Ok(2));
    let p = s.get_with(U, |r| {
        r.who = Identity {
            partition: Some("user-9".into()),
            ..Identity::default()
        }
    });
    assert_eq!(s.fetches.len(), 3);
    assert!(!s.settled.contains_key(&p));
}

#[test]
fn aborting_one_caller_keeps_the_request_for_the_others() {
    let mut s = Sim::new(Config::default());
    let a = s.get(U);
    let b = s.get(U);
    s.abort(a);
    assert_eq!(s.settled[&a], Err(Fail::Abort));
    assert!(s.cancels.is_empty());
    s.answer(s.last_flight(), 3);
    assert_eq!(s.settled[&b], Ok(3));
    assert_eq!(s.double_settled, Vec::<u32>::new());
}

#[test]
fn aborting_every_caller_cancels_the_request() {
    let mut s = Sim::new(Config::default());
    let a = s.get(U);
    let b = s.get(U);
    let wb = s.core.pending_waiters();
    assert_eq!(wb, 2);
    s.abort(a);
    s.abort(b);
    s.abort(b); // a second abort is ignored
    assert_eq!(s.cancels, vec![s.last_flight()]);
    assert_eq!(s.settled[&b], Err(Fail::Abort));
    // A late answer for the cancelled flight changes nothing.
    s.core.fetch_done(s.now, s.last_flight(), Answer::ok(1));
    s.drain();
    assert_eq!(s.double_settled, Vec::<u32>::new());
    assert_eq!(s.data(U), None);
    assert_eq!(
        s.freed,
        vec![U.to_string()],
        "nothing uses the key any more"
    );
    assert_eq!(s.core.live_keys(), 0);
    assert_eq!(s.core.stats().cancelled_requests, 1);
    assert_eq!(s.core.stats().aborted_calls, 2);
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
    assert_eq!(s.settled[&a], Err(Fail::Timeout { ms: 500 }));
    assert_eq!(s.settled[&b], Err(Fail::Timeout { ms: 500 }));
    assert_eq!(s.cancels.len(), 1);
    assert_eq!(s.core.poll_timeout(), None);
    assert_eq!(s.core.stats().timeouts, 1);
}

#[test]
fn no_store_is_not_cached() {
    let mut s = Sim::new(Config::default());
    let a = s.get(U);
    let no_store = Answer {
        flags: Answer::NO_STORE,
        ..Answer::ok(1)
    };
    s.respond(s.last_flight(), 1, no_store);
    assert_eq!(s.settled[&a], Ok(1), "the caller gets it");
    assert_eq!(s.core.stats().cache_entries, 0);
    s.get(U);
    assert_eq!(s.fetches.len(), 2);
}

#[test]
fn the_outcome_rules_turn_each_answer_into_data_or_an_error() {
    let mut s = Sim::new(Config::default());
    // The answer, and the error it makes of its flight (None: data).
    type Expect = Option<fn(u32) -> Fail>;
    let cases: [(Answer, Expect); 6] = [
        (Answer::ok(1), None),
        (
            Answer {
                flags: Answer::NOT_JSON,
                ..Answer::ok(1)
            },
            Some(|flight| Fail::Parse { flight }),
        ),
        (Answer::network(), Some(|flight| Fail::Network { flight })),
        (
            common::status_answer(404, None),
            Some(|flight| Fail::Http {
                flight,
                status: 404,
                retry_after: None,
            }),
        ),
        (
            common::status_answer(302, None),
            Some(|flight| Fail::BatchStatus { flight }),
        ),
        (
            common::status_answer(503, Some(u64::MAX)),
            Some(|flight| Fail::Http {
                flight,
                status: 503,
                retry_after: Some(calmfetch::core::MAX_RETRY_AFTER_MS),
            }),
        ),
    ];
    for (i, (answer, fail)) in cases.into_iter().enumerate() {
        let url = format!("{U}/{i}");
        let w = s.get(&url);
        let f = s.last_flight();
        s.respond(f, 9, answer);
        match fail {
            None => assert_eq!(s.settled[&w], Ok(9)),
            Some(fail) => assert_eq!(s.settled[&w], Err(fail(f)), "{answer:?}"),
        }
    }
}

#[test]
fn invalidate_each_key_and_clear() {
    // The shell finds the keys under a prefix; the core invalidates each.
    let mut s = Sim::new(Config::default());
    let urls = [
        "http://h.test/api/games/1",
        "http://h.test/api/games/1/odds",
        "http://h.test/api/games/10",
        "http://h.test/api/user",
    ];
    for u in urls {
        s.get(u);
        s.answer(s.last_flight(), 1);
    }
    assert!(s.invalidate(urls[0]));
    assert!(s.invalidate(urls[1]));
    assert!(!s.invalidate("http://h.test/unknown"), "nothing touched");
    let before = s.fetches.len();
    for u in urls {
        s.get(u);
    }
    assert_eq!(s.fetches.len(), before + 2);
    // Invalidated while in flight: callers get the answer, the cache holds it stale.
    let f = s.fetches[before].0;
    assert!(s.invalidate(urls[0]));
    let w = s.get(urls[0]);
    s.answer(f, 5);
    assert_eq!(s.settled[&w], Ok(5));
    assert_eq!(s.data(urls[0]), Some(5));
    assert!(s.is_stale(urls[0]));
    s.get(urls[0]);
    assert_eq!(s.fetches.len(), before + 3);
    s.clear();
    assert_eq!(s.core.stats().cache_entries, 0);
    assert!(s.bodies.is_empty(), "the shell forgot every body");
    s.get(urls[3]);
    assert_eq!(s.fetches.len(), before + 4);
}

#[test]
fn watchers_hear_their_key_only() {
    let mut s = Sim::new(Config::default());
    s.watch(U);
    s.get("http://h.test/other");
    s.answer(s.last_flight(), 1);
    assert!(s.notified.is_empty());
    s.get(U); // starts fetching: a change
    s.answer(s.last_flight(), 2); // data: a change
    assert_eq!(s.notified, vec![U.to_string(), U.to_string()]);
    s.unwatch(U);
    s.invalidate(U);
    assert_eq!(s.notified.len(), 2);
}

#[test]
fn every_change_of_an_entry_bumps_its_version() {
    let mut s = Sim::new(Config::default());
    s.watch(U);
    let v = |s: &Sim| s.info(U).unwrap().version;
    let mut last = v(&s);
    let mut changed = |s: &Sim, what: &str| {
        let now = v(s);
        assert_ne!(now, last, "{what} did not bump the version");
        last = now;
    };
    s.get(U);
    changed(&s, "fetching");
    s.answer(s.last_flight(), 1);
    changed(&s, "data");
    s.invalidate(U);
    changed(&s, "invalidate");
    s.get(U);
    changed(&s, "fetching again");
    s.fail_status(s.last_flight(), 500);
    changed(&s, "an error");
    assert_eq!(s.state(U) & 0b1011, 0b1011, "data, stale, error");
    assert_eq!(s.data(U), Some(1), "the error keeps the data");
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
    assert_eq!(s.core.live_keys(), 50, "evicted keys are freed");
    assert_eq!(s.interned(), 50);
    assert_eq!(s.bodies.len(), 50, "the shell keeps 50 bodies");
}

#[test]
fn restored_data_is_stale_never_overwrites_and_a_get_still_fetches() {
    let mut s = Sim::new(Config::default());
    s.watch(U);
    assert!(s.restore(U, 3, s.now));
    assert_eq!(
        s.notified.last().map(String::as_str),
        Some(U),
        "listeners hear restored data"
    );
    assert_eq!(s.data(U), Some(3));
    assert!(s.is_stale(U), "restored data is stale");
    // A get goes to the network; the answer replaces the restored data.
    let w = s.get(U);
    assert_eq!(s.fetches.len(), 1);
    s.answer(s.last_flight(), 9);
    assert_eq!(s.settled[&w], Ok(9));
    // Restoring again does not overwrite newer data.
    assert!(!s.restore(U, 3, 0));
    assert_eq!(s.data(U), Some(9));
}

#[test]
fn get_answers_at_once_exactly_when_the_cache_holds_fresh_data() {
    let mut s = Sim::new(Config::default());
    let first = s.get(U);
    assert!(s.hits.is_empty(), "nothing cached yet: a waiter");
    s.answer(s.last_flight(), 5);
    assert_eq!(s.settled[&first], Ok(5));
    let w = s.get(U);
    assert_eq!(s.hits, vec![w], "fresh: no waiter");
    assert_eq!(s.settled[&w], Ok(5));
    let f = s.get_with(U, |r| r.fresh = true);
    assert!(!s.hits.contains(&f), "fresh: true skips the cache");
    s.answer(s.last_flight(), 6);
    let other = s.get_with(U, |r| r.who = Identity::bearer("b"));
    assert!(!s.hits.contains(&other), "never another user's entry");
    s.advance(2_000); // the default TTL
    let stale = s.get(U);
    assert!(!s.hits.contains(&stale), "stale");
    let st = s.core.stats();
    assert_eq!((st.requested, st.cache_hits), (5, 1));
}

#[test]
fn answers_that_may_not_be_kept_are_shown_to_listeners_only() {
    let mut s = Sim::new(Config {
        max_body_bytes: 100,
        ..Config::default()
    });
    s.watch(U);
    for (no_store, size) in [(true, 10), (false, 101)] {
        let w = s.get(U);
        let before = s.fetches.len();
        let answer = Answer {
            status: 200,
            size,
            flags: Answer::ETAG | if no_store { Answer::NO_STORE } else { 0 },
            retry_after: None,
        };
        s.respond(s.last_flight(), 5, answer);
        assert_eq!(s.settled[&w], Ok(5));
        assert_eq!(s.data(U), Some(5), "listeners see the answer");
        let st = s.state(U);
        assert_eq!(st & 16, 16, "shown only");
        assert_eq!(st & 2, 2, "and stale");
        assert!(!s.info(U).unwrap().etag, "no ETag is kept with it");
        assert_eq!(s.core.kept_bytes(), 0);
        assert!(s.notified.iter().any(|u| u == U));
        let again = s.get(U);
        assert!(!s.hits.contains(&again), "never served from the cache");
        assert_eq!(s.fetches.len(), before + 1);
        s.answer(s.last_flight(), 6);
        assert_eq!(s.data(U), Some(6));
        assert_eq!(s.state(U) & 16, 0, "kept now");
        s.invalidate(U);
    }
    // Shown data goes with the last listener.
    s.get(U);
    let no_store = Answer {
        flags: Answer::NO_STORE,
        ..Answer::ok(1)
    };
    s.respond(s.last_flight(), 7, no_store);
    assert_eq!(s.data(U), Some(7));
    s.unwatch(U);
    assert_eq!(s.data(U), None);
    assert_eq!(s.core.stats().cache_entries, 0);
    assert_eq!(s.freed, vec![U.to_string()], "and the key with it");
}

#[test]
fn an_answer_too_big_to_keep_drops_what_the_entry_kept_before() {
    let mut s = Sim::new(Config {
        max_body_bytes: 100,
        default_ttl_ms: 10,
        ..Config::default()
    });
    s.get(U);
    s.answer(s.last_flight(), 1);
    s.advance(10);
    let w = s.get(U);
    s.respond(s.last_flight(), 2, Answer::ok(500));
    assert_eq!(s.settled[&w], Ok(2));
    assert_eq!(s.data(U), None, "the old data is not served in its place");
    assert_eq!(s.core.stats().cache_entries, 0);
    assert_eq!(s.core.live_keys(), 0);
}

#[test]
fn the_cache_is_bounded_in_bytes() {
    let mut s = Sim::new(Config {
        max_bytes: 10_000,
        ..Config::default()
    });
    for i in 0..5 {
        s.get(&format!("{U}/{i}"));
        s.respond(s.last_flight(), i, Answer::ok(3_000));
    }
    assert_eq!(s.core.stats().cache_entries, 3);
    assert_eq!(s.core.stats().evictions, 2);
    assert_eq!(s.core.kept_bytes(), 9_000);
    let before = s.fetches.len();
    s.get(&format!("{U}/0"));
    assert_eq!(s.fetches.len(), before + 1, "the oldest went first");
}

#[test]
fn cookies_and_named_credential_headers_separate_users() {
    let mut s = Sim::new(Config::default());
    let who = |c: &str| Identity {
        cookie: Some(c.into()),
        ..Identity::default()
    };
    let a = s.get_with(U, |r| r.who = who("sid=alice"));
    let b = s.get_with(U, |r| r.who = who("sid=bob"));
    let a2 = s.get_with(U, |r| r.who = who("sid=alice"));
    assert_eq!(s.fetches.len(), 2, "one request per cookie");
    s.answer(s.fetches[0].0, 1);
    s.answer(s.fetches[1].0, 2);
    assert_eq!(
        (&s.settled[&a], &s.settled[&b], &s.settled[&a2]),
        (&Ok(1), &Ok(2), &Ok(1))
    );
}

#[test]
fn keys_are_freed_once_nothing_uses_them() {
    let mut s = Sim::new(Config::default());
    // An error nobody listens to leaves nothing behind.
    s.get(U);
    s.fail_network(s.last_flight());
    assert_eq!(s.freed, vec![U.to_string()]);
    // Kept data keeps its key alive; a watched key lives without data.
    s.get(U);
    s.answer(s.last_flight(), 1);
    let w = "http://h.test/watched";
    s.watch(w);
    assert_eq!(s.core.live_keys(), 2);
    // A watched key's error is its entry, and goes with the last listener.
    s.get(w);
    s.fail_status(s.last_flight(), 500);
    assert!(matches!(s.error(w), Some(Fail::Http { status: 500, .. })));
    s.unwatch(w);
    assert_eq!(s.error(w), None);
    assert_eq!(s.freed.last().map(String::as_str), Some(w));
    // clear drops the entries, and with them the keys.
    s.clear();
    assert_eq!(s.core.live_keys(), 0);
    assert_eq!(s.interned(), 0);
    // A new key for the same url is a new id: the shell interns it again.
    s.get(U);
    assert_eq!(s.core.live_keys(), 1);
}

#[test]
fn a_stale_key_id_is_refused_without_a_panic() {
    let mut s = Sim::new(Config::default());
    let a = s.get(U);
    let k = s.key_of(U).unwrap();
    s.abort(a);
    assert!(s.freed.contains(&U.to_string()));
    assert!(s.core.key_info(k).is_none());
    // A freed id (a bug in the shell) is rejected, not a panic.
    let w = s.core.get(s.now, k, None, false).expect("a waiter");
    let actions: Vec<_> = std::iter::from_fn(|| s.core.poll_action()).collect();
    assert_eq!(
        actions,
        vec![calmfetch::core::Action::Reject {
            waiter: w,
            fail: Fail::Abort
        }]
    );
    assert_eq!(s.core.pending_waiters(), 0);
    assert_eq!(s.core.live_keys(), 0);
}

#[test]
fn callers_that_cannot_abort_share_one_waiter_and_others_keep_their_own() {
    use calmfetch::core::{Action, Core};
    let mut core = Core::new(Config::default());
    let key = core.key(0, 0, 64);
    let actions = |core: &mut Core| std::iter::from_fn(|| core.poll_action()).collect::<Vec<_>>();
    let a = core.get_shared(0, key, None, false).unwrap();
    let flight = match actions(&mut core).as_slice() {
        [Action::Fetch { flight, .. }, ..] => *flight,
        other => panic!("expected a fetch, got {other:?}"),
    };
    let b = core.get_shared(0, key, None, false).unwrap();
    let c = core.get_shared(0, key, None, true).unwrap();
    assert_eq!(
        (b, c),
        (a, a),
        "calls without a signal share the first one's waiter"
    );
    // A caller with a signal has its own waiter, and aborting it leaves the others alone.
    let d = core.get(0, key, None, false).unwrap();
    assert_ne!(d, a);
    core.abort(0, d);
    assert_eq!(core.get_shared(0, key, None, false), Some(a));
    actions(&mut core);
    let st = core.stats();
    assert_eq!(
        (st.requested, st.dedup_hits, st.network_requests),
        (5, 4, 1)
    );
    core.fetch_done(
        1,
        flight,
        Answer {
            status: 200,
            size: 10,
            flags: 0,
            retry_after: None,
        },
    );
    let resolved: Vec<u32> = actions(&mut core)
        .into_iter()
        .filter_map(|x| match x {
            Action::Resolve { waiter, .. } => Some(waiter),
            _ => None,
        })
        .collect();
    assert_eq!(resolved, vec![a], "one waiter settles for the four calls");
    assert_eq!(core.pending_waiters(), 0);
    // The flight is over: the next call is a cache hit, a fresh one a new request and waiter.
    assert_eq!(core.get_shared(2, key, None, false), None);
    assert!(core.get_shared(2, key, None, true).is_some());
}
