//! Native tests of the socket state machine and its HTTP fallback.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use calmfetch::core::{
    BatchConfig, Config, FetchError, GetRequest, Identity, Key, PollConfig, SocketConfig,
    SocketState,
};
use common::{ids, parse_u32, Sim};

const O: &str = "http://h.test";

fn sim(batch: bool) -> Sim {
    Sim::new(Config {
        socket: Some(SocketConfig::default()),
        batch: batch.then(|| BatchConfig::new(format!("{O}/batch"))),
        poll: PollConfig {
            jitter: 0.0,
            ..PollConfig::default()
        },
        ..Config::default()
    })
}

fn req(p: &str) -> GetRequest {
    GetRequest {
        url: format!("{O}{p}"),
        ..Default::default()
    }
}

fn key(p: &str) -> Key {
    Key::get(&format!("{O}{p}"), &Identity::default())
}

fn live(s: &mut Sim, p: &str) {
    assert!(s.core.live_add(s.now, req(p)));
    s.drain();
}

fn push(s: &mut Sim, p: &str, body: u32) {
    s.core.socket_message(
        s.now,
        &format!(r#"{{"type":"data","key":"{p}","body":{body}}}"#),
        &mut parse_u32,
    );
    s.drain();
}

fn subscribes(s: &Sim) -> usize {
    s.socket
        .iter()
        .filter(|m| m.contains("\"subscribe\""))
        .count()
}

#[test]
fn fifty_listeners_of_one_key_make_one_subscription() {
    let mut s = sim(false);
    for _ in 0..50 {
        live(&mut s, "/api/games/1");
    }
    assert_eq!(s.socket, vec!["open"]);
    s.core.socket_opened(s.now);
    s.drain();
    assert_eq!(subscribes(&s), 1);
    assert_eq!(s.socket[1], r#"{"type":"subscribe","key":"/api/games/1"}"#);
    push(&mut s, "/api/games/1", 7);
    assert_eq!(s.core.entry(&key("/api/games/1")).unwrap().data, Some(7));
    assert!(
        s.fetches.is_empty() && s.batches.is_empty(),
        "no HTTP at all"
    );
}

#[test]
fn a_slow_handshake_falls_back_to_one_batch_and_no_duplicate_fetch_after() {
    let mut s = sim(true);
    let keys = [
        "/api/games/1",
        "/api/games/1/odds",
        "/api/user",
        "/api/leaderboard",
    ];
    // One of them is cached already (stale is fine: it is shown at once).
    s.core.external_data(0, &key("/api/user"), 1, 1, None, 0);
    s.now = 100_000;
    for p in keys {
        live(&mut s, p);
    }
    s.run_until(104_999, |_, _| Ok(1));
    assert!(
        s.batches.is_empty() && s.fetches.is_empty(),
        "waiting for the socket"
    );
    s.run_until(105_020, |_, _| Ok(1));
    assert_eq!(
        s.batches.len(),
        1,
        "the keys with no data leave as one batch"
    );
    let (batch, body) = s.last_batch();
    assert_eq!(ids(&body).len(), 3, "the cached key is not fetched: {body}");
    let answer: Vec<String> = ids(&body)
        .iter()
        .map(|id| format!(r#"{{"id":"{id}","status":200,"body":2}}"#))
        .collect();
    s.batch_body(batch, &format!(r#"{{"responses":[{}]}}"#, answer.join(",")));
    // The handshake completes at 6 s: subscriptions, pushes, no more HTTP.
    s.now = 106_000;
    s.core.socket_opened(s.now);
    s.drain();
    assert_eq!(subscribes(&s), 4, "one subscription per key");
    for p in keys {
        push(&mut s, p, 3);
    }
    s.run_until(120_000, |_, _| Ok(1));
    assert_eq!(s.batches.len(), 1);
    assert!(s.fetches.is_empty());
    assert_eq!(s.core.socket_state(), Some(SocketState::Open));
    assert_eq!(s.core.stats().socket_timeouts, 1);
}

#[test]
fn a_drop_marks_data_stale_resumes_pollers_and_reconnects_with_one_resync_batch() {
    let mut s = sim(true);
    let poller = s
        .core
        .poll_start(0, req("/api/activity"), 5_000, false, true);
    s.drain();
    s.run_until(10, |_, _| Ok(1));
    let polled_before = s.fetches.len();
    for p in ["/api/activity", "/api/games/1", "/api/games/2"] {
        live(&mut s, p);
    }
    s.core.socket_opened(s.now);
    s.drain();
    for p in ["/api/activity", "/api/games/1", "/api/games/2"] {
        push(&mut s, p, 5);
    }
    s.run_until(60_000, |_, _| Ok(1));
    assert_eq!(s.fetches.len(), polled_before, "a live key is not polled");
    let k = key("/api/games/1");
    s.core.watch(&k);
    // The server goes away.
    s.core.socket_closed(s.now);
    s.drain();
    assert!(
        s.core.entry(&k).unwrap().is_stale(s.now),
        "pushed data is marked stale"
    );
    assert_eq!(s.core.entry(&k).unwrap().data, Some(5), "but still shown");
    assert!(s.notified.contains(&k));
    s.run_until(61_001, |_, _| Ok(1));
    assert!(s.fetches.len() > polled_before, "the poller resumed");
    assert_eq!(
        s.core.stats().socket_reconnects,
        1,
        "reconnected within the first window"
    );
    s.core.socket_opened(s.now);
    s.drain();
    assert_eq!(subscribes(&s), 6, "every key subscribed again");
    // Only /api/games/2 is pushed again; the others are resynced together.
    push(&mut s, "/api/games/2", 9);
    let batches = s.batches.len();
    s.run_until(s.now + 1_499, |_, _| Ok(1));
    assert_eq!(
        s.batches.len(),
        batches,
        "the socket has until then to push"
    );
    s.run_until(s.now + 11, |_, _| Ok(1)); // the resync, and its batch window
    assert_eq!(s.batches.len(), batches + 1, "one resync batch");
    let (_, body) = s.last_batch();
    assert_eq!(ids(&body).len(), 2, "{body}");
    assert!(!body.contains("games/2"), "{body}");
    s.core.poll_stop(s.now, poller);
}

#[test]
fn a_thousand_clients_reconnect_spread_over_the_window() {
    let mut times = Vec::new();
    for seed in 1..=1000u64 {
        let mut s = Sim::new(Config {
            seed,
            socket: Some(SocketConfig::default()),
            ..Config::default()
        });
        live(&mut s, "/api/games/1");
        s.core.socket_opened(0);
        s.drain();
        s.core.socket_closed(0);
        s.drain();
        let opens = s.socket.iter().filter(|m| *m == "open").count();
        s.run_until(1_000, |_, _| Ok(1));
        let at = s.core.stats().socket_reconnects;
        assert_eq!(at, 1, "seed {seed} reconnected within the 1 s window");
        assert_eq!(s.socket.iter().filter(|m| *m == "open").count(), opens + 1);
        // Find when: binary search is overkill; replay with a finer clock.
        let mut t = Sim::new(Config {
            seed,
            socket: Some(SocketConfig::default()),
            ..Config::default()
        });
        live(&mut t, "/api/games/1");
        t.core.socket_opened(0);
        t.core.socket_closed(0);
        t.drain();
        times.push(t.core.poll_timeout().unwrap());
    }
    let mut buckets = [0u32; 10];
    for &at in &times {
        buckets[(at.min(999) / 100) as usize] += 1;
    }
    assert!(
        buckets.iter().all(|&b| (50..=150).contains(&b)),
        "spread over 1 s: {buckets:?}"
    );
    // Repeated failures widen the window up to its cap.
    let mut s = sim(false);
    live(&mut s, "/api/games/1");
    let mut windows = Vec::new();
    for _ in 0..8 {
        s.core.socket_closed(s.now);
        s.drain();
        let due = s.core.poll_timeout().unwrap();
        windows.push(due - s.now);
        s.run_until(due, |_, _| Ok(1));
    }
    assert!(windows.iter().all(|w| *w <= 30_000), "{windows:?}");
}

#[test]
fn malformed_messages_are_counted_and_reported_and_break_nothing() {
    let mut s = sim(false);
    live(&mut s, "/api/a");
    live(&mut s, "/api/b");
    s.core.socket_opened(0);
    s.drain();
    for bad in [
        "not json",
        r#"{"type":"data"}"#,
        r#"{"type":"data","key":"/api/a","body":"x"}"#,
    ] {
        s.core.socket_message(0, bad, &mut parse_u32);
        s.drain();
    }
    assert_eq!(s.core.stats().socket_malformed, 3);
    assert_eq!(
        s.socket
            .iter()
            .filter(|m| m.starts_with("problem: malformed socket message"))
            .count(),
        3
    );
    push(&mut s, "/api/b", 4);
    assert_eq!(s.core.entry(&key("/api/b")).unwrap().data, Some(4));
    s.core.socket_message(
        0,
        r#"{"type":"error","key":"/api/a","message":"no such key"}"#,
        &mut parse_u32,
    );
    s.drain();
    assert!(
        matches!(&s.core.entry(&key("/api/a")).unwrap().error, Some(FetchError::Network(m)) if m.contains("no such key"))
    );
}

#[test]
fn the_last_listener_leaving_unsubscribes_after_a_linger() {
    let mut s = sim(false);
    live(&mut s, "/api/a");
    s.core.socket_opened(0);
    s.drain();
    s.core.live_remove(s.now, &req("/api/a"));
    s.drain();
    s.run_until(500, |_, _| Ok(1));
    live(&mut s, "/api/a"); // back within the linger: nothing changes
    assert_eq!(subscribes(&s), 1);
    s.core.live_remove(s.now, &req("/api/a"));
    s.drain();
    s.run_until(5_000, |_, _| Ok(1));
    assert!(s
        .socket
        .contains(&r#"{"type":"unsubscribe","key":"/api/a"}"#.to_string()));
    assert_eq!(
        s.socket.last().unwrap(),
        "close",
        "nobody listens: the socket closes"
    );
    assert_eq!(s.core.socket_state(), Some(SocketState::Idle));
    assert_eq!(s.core.pending_timers(), 0);
}

#[test]
fn without_a_socket_nothing_is_live() {
    let mut s = Sim::new(Config::default());
    assert!(!s.core.live_add(0, req("/api/a")));
    s.drain();
    assert!(s.socket.is_empty());
}

#[test]
fn keys_of_another_identity_or_origin_never_go_live() {
    // The socket carries the credentials it was opened with: a key with its
    // own Authorization or partition, or on another origin, must be served
    // over HTTP only, or another user's (or server's) data would fill it.
    let mut s = Sim::new(Config {
        socket: Some(SocketConfig {
            identity: Identity::default(),
            origin: Some(O.to_string()),
            ..SocketConfig::default()
        }),
        ..Config::default()
    });
    let alice = GetRequest {
        identity: Identity {
            authorization: Some("Bearer alice".into()),
            ..Identity::default()
        },
        ..req("/api/user")
    };
    let partitioned = GetRequest {
        identity: Identity {
            partition: Some("b".into()),
            ..Identity::default()
        },
        ..req("/api/games/1")
    };
    let elsewhere = GetRequest {
        url: "http://other.test/api/games/1".into(),
        ..Default::default()
    };
    for r in [alice, partitioned, elsewhere] {
        assert!(!s.core.can_live(&r));
        assert!(!s.core.live_add(s.now, r));
    }
    s.drain();
    assert_eq!(
        s.core.socket_state(),
        Some(SocketState::Idle),
        "no socket was opened for them"
    );
    assert!(s.core.can_live(&req("/api/games/1")));
    live(&mut s, "/api/games/1");
    assert_ne!(s.core.socket_state(), Some(SocketState::Idle));
}

#[test]
fn a_flapping_server_does_not_reset_the_backoff_but_a_stable_connection_does() {
    // A server that accepts and drops at once: the reconnect windows keep
    // widening (1, 2, 4, 8, 8 s...) instead of starting over at each open.
    let cfg = SocketConfig {
        reconnect_min_ms: 1_000,
        reconnect_max_ms: 8_000,
        ..SocketConfig::default()
    };
    let mut s = Sim::new(Config {
        socket: Some(cfg),
        ..Config::default()
    });
    live(&mut s, "/api/games/1");
    let mut total = 0;
    for flap in 0..12u32 {
        s.core.socket_opened(s.now);
        s.drain();
        s.advance(200);
        s.core.socket_closed(s.now);
        s.drain();
        let delay = s.core.poll_timeout().unwrap() - s.now;
        let window = (1_000u64 << flap.min(3)).min(8_000);
        assert!(
            delay <= window,
            "flap {flap}: delay {delay} > window {window}"
        );
        total += delay;
        s.advance(delay);
    }
    // Twelve windows of 1+2+4+8*9 = 79 s average 39.5 s of waiting; resetting
    // on every open would average 6 s. (Deterministic: the seed is fixed.)
    assert!(total > 20_000, "waited {total} ms over 12 flaps");
    // A connection that stays open for reconnect_max_ms starts over.
    s.core.socket_opened(s.now);
    s.drain();
    s.advance(8_000);
    s.core.socket_closed(s.now);
    s.drain();
    assert!(s.core.poll_timeout().unwrap() - s.now <= 1_000);
}

#[test]
fn live_keys_without_data_ride_along_in_a_batch_that_leaves_while_the_socket_connects() {
    // The storm page: 3 REST components and 5 realtime ones, socket slow.
    let mut s = sim(true);
    let live_keys = ["/api/games/1", "/api/games/1/odds", "/api/games/1/chat"];
    for p in live_keys {
        live(&mut s, p);
    }
    let rest: Vec<_> = ["/api/user", "/api/bills"]
        .iter()
        .map(|p| s.get(&format!("{O}{p}")))
        .collect();
    s.advance(10); // the batch window
    assert_eq!(s.batches.len(), 1, "one HTTP request for the whole page");
    let (batch, body) = s.last_batch();
    assert_eq!(
        ids(&body).len(),
        5,
        "the REST items and the live keys: {body}"
    );
    let answer: Vec<String> = ids(&body)
        .iter()
        .map(|id| format!(r#"{{"id":"{id}","status":200,"body":2}}"#))
        .collect();
    s.batch_body(batch, &format!(r#"{{"responses":[{}]}}"#, answer.join(",")));
    for w in rest {
        assert_eq!(s.settled[&w], Ok(2));
    }
    for p in live_keys {
        assert_eq!(s.core.entry(&key(p)).unwrap().data, Some(2), "{p} has data");
    }
    assert_eq!(s.core.stats().socket_riders, 3);
    // The connect timeout passes: nothing is left to fetch.
    s.run_until(s.now + 6_000, |_, _| Ok(1));
    assert_eq!(s.batches.len(), 1);
    assert!(s.fetches.is_empty());
    // Once the socket is open, nothing rides along any more.
    s.core.socket_opened(s.now);
    s.drain();
    live(&mut s, "/api/games/2");
    s.get(&format!("{O}/api/notifications"));
    s.advance(10);
    assert_eq!(
        s.fetches.len(),
        1,
        "a batch of one goes out as a plain GET, alone"
    );
    assert_eq!(s.core.stats().socket_riders, 3);
}

#[test]
fn clear_while_http_serves_live_keys_fetches_them_again() {
    // The socket is still connecting after its timeout, so HTTP serves the
    // live key; `clear()` (another tab logging out, say) empties it, and it
    // must not stay empty until the socket opens.
    let mut s = sim(false);
    live(&mut s, "/api/games/1");
    s.run_until(s.now + 5_001, |_, _| Ok(1)); // connect timeout: HTTP fallback, answered
    assert_eq!(
        s.core.entry(&key("/api/games/1")).and_then(|e| e.data),
        Some(1)
    );
    let before = s.fetches.len();
    s.core.clear(s.now);
    s.drain();
    assert_eq!(s.fetches.len(), before + 1, "fetched again after clear");
    s.answer(s.last_flight(), 2);
    assert_eq!(
        s.core.entry(&key("/api/games/1")).and_then(|e| e.data),
        Some(2)
    );
}

#[test]
fn an_answer_in_flight_at_clear_is_not_stored_and_not_joined() {
    let mut s = Sim::new(Config::default());
    let u = format!("{O}/api/user");
    let a = s.get(&u);
    let old = s.last_flight();
    s.core.clear(s.now);
    s.drain();
    let b = s.get(&u);
    assert_eq!(
        s.fetches.len(),
        2,
        "a get after clear does not join the old request"
    );
    s.answer(old, 1);
    assert_eq!(s.settled[&a], Ok(1), "the old caller still gets its answer");
    assert_eq!(
        s.core.entry(&key("/api/user")).and_then(|e| e.data),
        None,
        "not stored"
    );
    s.answer(s.last_flight(), 2);
    assert_eq!(s.settled[&b], Ok(2));
    assert_eq!(
        s.core.entry(&key("/api/user")).and_then(|e| e.data),
        Some(2)
    );
}

#[test]
fn a_rider_that_fills_the_batch_never_makes_it_leave_twice() {
    // A long token: riders used to be sized without it and counted with it,
    // so one could fill the batch and flush it from inside its own flush.
    let token = format!("Bearer {}", "t".repeat(1_000));
    let who = Identity {
        authorization: Some(token.clone()),
        ..Default::default()
    };
    for max_bytes in (100..3_500).step_by(50) {
        let mut batch = BatchConfig::new(format!("{O}/batch"));
        batch.max_bytes = max_bytes;
        let mut s = Sim::new(Config {
            socket: Some(SocketConfig {
                identity: who.clone(),
                ..SocketConfig::default()
            }),
            batch: Some(batch),
            ..Config::default()
        });
        assert!(s.core.live_add(
            s.now,
            GetRequest {
                identity: who.clone(),
                ..req("/live1")
            }
        ));
        s.drain();
        for p in ["/r1", "/r2"] {
            s.get_with(&format!("{O}{p}"), |r| r.identity = who.clone());
        }
        s.advance(10);
        let mut sent: Vec<String> = s.batches.iter().flat_map(|(_, _, b)| ids(b)).collect();
        sent.extend(s.fetches.iter().map(|(f, _)| f.0.to_string()));
        let n = sent.len();
        sent.sort();
        sent.dedup();
        assert_eq!(
            sent.len(),
            n,
            "an item left twice with maxBytes {max_bytes}"
        );
        let ids_once: std::collections::HashSet<_> = s.batches.iter().map(|(b, _, _)| *b).collect();
        assert_eq!(ids_once.len(), s.batches.len(), "a batch was sent twice");
        for (_, spec, body) in &s.batches {
            assert!(spec
                .headers
                .contains(&("Authorization".into(), token.clone())));
            assert!(!body.contains("Bearer"));
        }
    }
}

#[test]
fn clear_drops_the_connection_and_opens_a_new_one() {
    let mut s = sim(false);
    live(&mut s, "/api/user");
    s.core.socket_opened(s.now);
    s.drain();
    push(&mut s, "/api/user", 1);
    s.socket.clear();
    s.core.clear(s.now);
    s.drain();
    assert_eq!(s.socket[..2], ["close".to_string(), "open".to_string()]);
    assert!(s
        .core
        .entry(&key("/api/user"))
        .is_none_or(|e| e.data.is_none()));
    s.core.socket_opened(s.now);
    s.drain();
    assert_eq!(
        subscribes(&s),
        1,
        "the live key is subscribed on the new connection"
    );
    push(&mut s, "/api/user", 2);
    assert_eq!(s.core.entry(&key("/api/user")).unwrap().data, Some(2));
}

#[test]
fn another_tabs_data_from_before_clear_is_dropped() {
    let mut s = sim(false);
    s.now = 1_000;
    s.core.clear(s.now);
    assert!(!s.core.external_data(s.now, &key("/a"), 1, 1, None, 999));
    assert!(s.core.entry(&key("/a")).is_none());
    assert!(s.core.external_data(s.now, &key("/a"), 2, 1, None, 1_000));
    assert_eq!(s.core.entry(&key("/a")).unwrap().data, Some(2));
    assert!(
        !s.core.restore(s.now, &key("/b"), 3, 1, 500),
        "nor a restore of older data"
    );
}
