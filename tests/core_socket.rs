//! Native tests of the socket state machine and its HTTP fallback.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use calmfetch::core::{BatchConfig, Config, Fail, PollConfig, SocketConfig, SocketState};
use common::{origin_id, Identity, Reply, Sim};

const O: &str = "http://h.test";

fn sim(batch: bool) -> Sim {
    Sim::new(Config {
        socket: Some(SocketConfig::default()),
        batch: batch.then(|| BatchConfig::new(origin_id(O))),
        poll: PollConfig {
            jitter: 0.0,
            ..PollConfig::default()
        },
        ..Config::default()
    })
}

fn url(p: &str) -> String {
    format!("{O}{p}")
}

fn live(s: &mut Sim, p: &str) {
    assert!(s.live_add(&url(p)));
}

fn push(s: &mut Sim, p: &str, body: u32) {
    s.socket_data(&url(p), body);
}

fn subscribes(s: &Sim) -> usize {
    s.socket.iter().filter(|m| m.starts_with("sub ")).count()
}

fn ok(_: &str, _: u64) -> Reply {
    Reply::Ok(1)
}

/// Answer every item of the last batch with `body`.
fn answer_batch(s: &mut Sim, body: u32) {
    let (batch, items) = s.last_batch();
    for i in items {
        s.item(batch, i.flight, body);
    }
}

#[test]
fn fifty_listeners_of_one_key_make_one_subscription() {
    let mut s = sim(false);
    for _ in 0..50 {
        live(&mut s, "/api/games/1");
    }
    assert_eq!(s.socket, vec!["open"]);
    s.socket_opened();
    assert_eq!(subscribes(&s), 1);
    assert_eq!(s.socket[1], format!("sub {}", url("/api/games/1")));
    push(&mut s, "/api/games/1", 7);
    assert_eq!(s.data(&url("/api/games/1")), Some(7));
    assert!(
        s.fetches.is_empty() && s.batches.is_empty(),
        "no HTTP at all"
    );
    assert_eq!(s.core.socket_subscriptions(), 1);
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
    assert!(s.tab_data(&url("/api/user"), 1, 0));
    s.now = 100_000;
    for p in keys {
        live(&mut s, p);
    }
    s.run_until(104_999, ok);
    assert!(
        s.batches.is_empty() && s.fetches.is_empty(),
        "waiting for the socket"
    );
    s.run_until(105_020, ok);
    assert_eq!(
        s.batches.len(),
        1,
        "the keys with no data leave as one batch"
    );
    let (_, items) = s.last_batch();
    assert_eq!(items.len(), 3, "the cached key is not fetched");
    assert!(!s.batch_urls(&items).contains(&url("/api/user")));
    answer_batch(&mut s, 2);
    // The handshake completes at 6 s: subscriptions, pushes, no more HTTP.
    s.now = 106_000;
    s.socket_opened();
    assert_eq!(subscribes(&s), 4, "one subscription per key");
    for p in keys {
        push(&mut s, p, 3);
    }
    s.run_until(120_000, ok);
    assert_eq!(s.batches.len(), 1);
    assert!(s.fetches.is_empty());
    assert_eq!(s.core.socket_state(), Some(SocketState::Open));
    assert_eq!(s.core.stats().socket_timeouts, 1);
}

#[test]
fn a_drop_marks_data_stale_resumes_pollers_and_reconnects_with_one_resync_batch() {
    let mut s = sim(true);
    let poller = s.poll_start(&url("/api/activity"), 5_000, false);
    s.run_until(10, ok);
    let polled_before = s.fetches.len();
    for p in ["/api/activity", "/api/games/1", "/api/games/2"] {
        live(&mut s, p);
    }
    s.socket_opened();
    for p in ["/api/activity", "/api/games/1", "/api/games/2"] {
        push(&mut s, p, 5);
    }
    s.run_until(60_000, ok);
    assert_eq!(s.fetches.len(), polled_before, "a live key is not polled");
    let k = url("/api/games/1");
    s.watch(&k);
    // The server goes away.
    s.socket_closed();
    assert!(s.is_stale(&k), "pushed data is marked stale");
    assert_eq!(s.data(&k), Some(5), "but still shown");
    assert!(s.notified.contains(&k));
    s.run_until(61_001, ok);
    assert!(s.fetches.len() > polled_before, "the poller resumed");
    assert_eq!(
        s.core.stats().socket_reconnects,
        1,
        "reconnected within the first window"
    );
    s.socket_opened();
    assert_eq!(subscribes(&s), 6, "every key subscribed again");
    // Only /api/games/2 is pushed again; the others are resynced together.
    push(&mut s, "/api/games/2", 9);
    let batches = s.batches.len();
    s.run_until(s.now + 1_499, ok);
    assert_eq!(
        s.batches.len(),
        batches,
        "the socket has until then to push"
    );
    s.run_until(s.now + 11, ok); // the resync, and its batch window
    assert_eq!(s.batches.len(), batches + 1, "one resync batch");
    let (_, items) = s.last_batch();
    let urls = s.batch_urls(&items);
    assert_eq!(urls.len(), 2, "{urls:?}");
    assert!(!urls.contains(&url("/api/games/2")), "{urls:?}");
    s.poll_stop(poller);
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
        s.socket_opened();
        s.socket_closed();
        let due = s.core.poll_timeout().unwrap();
        let opens = s.socket.iter().filter(|m| *m == "open").count();
        s.run_until(1_000, ok);
        assert_eq!(
            s.core.stats().socket_reconnects,
            1,
            "seed {seed} reconnected within the 1 s window"
        );
        assert_eq!(s.socket.iter().filter(|m| *m == "open").count(), opens + 1);
        times.push(due);
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
        s.socket_closed();
        let due = s.core.poll_timeout().unwrap();
        windows.push(due - s.now);
        s.run_until(due, ok);
    }
    assert!(windows.iter().all(|w| *w <= 30_000), "{windows:?}");
}

#[test]
fn malformed_messages_are_counted_and_break_nothing() {
    let mut s = sim(false);
    live(&mut s, "/api/a");
    live(&mut s, "/api/b");
    s.socket_opened();
    for _ in 0..3 {
        s.core.socket_malformed();
    }
    assert_eq!(s.core.stats().socket_malformed, 3);
    assert_eq!(s.core.stats().socket_messages, 3);
    push(&mut s, "/api/b", 4);
    assert_eq!(s.data(&url("/api/b")), Some(4));
    // An error for a key is shown to its listeners.
    let a = s.watch(&url("/api/a"));
    s.core.socket_error(s.now, a);
    s.drain();
    assert_eq!(s.error(&url("/api/a")), Some(Fail::Socket { key: a }));
    assert!(s.notified.contains(&url("/api/a")));
}

#[test]
fn pushes_and_errors_for_keys_that_are_not_live_are_ignored() {
    let mut s = sim(false);
    live(&mut s, "/api/a");
    s.socket_opened();
    let other = s.watch(&url("/api/other"));
    s.core.socket_error(s.now, other);
    s.drain();
    push(&mut s, "/api/other", 3);
    push(&mut s, "/api/never-seen", 3);
    assert!(
        s.freed.contains(&url("/api/never-seen")),
        "its key is freed"
    );
    assert_eq!(s.error(&url("/api/other")), None);
    assert_eq!(s.data(&url("/api/other")), None);
    assert_eq!(s.core.stats().socket_messages, 3, "counted all the same");
}

#[test]
fn the_last_listener_leaving_unsubscribes_after_a_linger() {
    let mut s = sim(false);
    live(&mut s, "/api/a");
    s.socket_opened();
    s.live_remove(&url("/api/a"));
    s.run_until(500, ok);
    live(&mut s, "/api/a"); // back within the linger: nothing changes
    assert_eq!(subscribes(&s), 1);
    s.live_remove(&url("/api/a"));
    s.run_until(5_000, ok);
    assert!(s.socket.contains(&format!("unsub {}", url("/api/a"))));
    assert_eq!(
        s.socket.last().unwrap(),
        "close",
        "nobody listens: the socket closes"
    );
    assert_eq!(s.core.socket_state(), Some(SocketState::Idle));
    assert_eq!(s.core.pending_timers(), 0);
    assert!(!s.core.is_polled(s.key_of(&url("/api/a")).unwrap()));
}

#[test]
fn without_a_socket_nothing_is_live() {
    let mut s = Sim::new(Config::default());
    assert!(!s.live_add(&url("/api/a")));
    assert!(s.socket.is_empty());
    assert!(!s.core.can_live(origin_id(O), 0));
}

#[test]
fn keys_of_another_identity_or_origin_never_go_live() {
    // The socket carries the credentials it was opened with: a key with its
    // own Authorization or partition, or on another origin, must be served
    // over HTTP only, or another user's (or server's) data would fill it.
    let mut s = Sim::new(Config {
        socket: Some(SocketConfig {
            who: 0,
            origin: Some(origin_id(O)),
            ..SocketConfig::default()
        }),
        ..Config::default()
    });
    let alice = Identity::bearer("alice");
    let partitioned = Identity {
        partition: Some("b".into()),
        ..Identity::default()
    };
    for (u, who) in [
        (url("/api/user"), alice),
        (url("/api/games/1"), partitioned),
        (
            "http://other.test/api/games/1".to_string(),
            Identity::default(),
        ),
    ] {
        assert!(!s.core.can_live(origin_id(common::origin_of(&u)), who.id()));
        assert!(!s.live_add_as(&u, &who));
    }
    assert_eq!(
        s.core.socket_state(),
        Some(SocketState::Idle),
        "no socket was opened for them"
    );
    assert_eq!(s.core.live_keys(), 0, "and their keys were not kept");
    assert!(s.core.can_live(origin_id(O), 0));
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
        s.socket_opened();
        s.advance(200);
        s.socket_closed();
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
    s.socket_opened();
    s.advance(8_000);
    s.socket_closed();
    assert!(s.core.poll_timeout().unwrap() - s.now <= 1_000);
}

#[test]
fn live_keys_without_data_ride_along_in_a_batch_that_leaves_while_the_socket_connects() {
    // The storm page: 2 REST components and 3 realtime ones, socket slow.
    let mut s = sim(true);
    let live_keys = ["/api/games/1", "/api/games/1/odds", "/api/games/1/chat"];
    for p in live_keys {
        live(&mut s, p);
    }
    let rest: Vec<_> = ["/api/user", "/api/bills"]
        .iter()
        .map(|p| s.get(&url(p)))
        .collect();
    s.advance(10); // the batch window
    assert_eq!(s.batches.len(), 1, "one HTTP request for the whole page");
    let (_, items) = s.last_batch();
    assert_eq!(items.len(), 5, "the REST items and the live keys");
    answer_batch(&mut s, 2);
    for w in rest {
        assert_eq!(s.settled[&w], Ok(2));
    }
    for p in live_keys {
        assert_eq!(s.data(&url(p)), Some(2), "{p} has data");
    }
    assert_eq!(s.core.stats().socket_riders, 3);
    // The connect timeout passes: nothing is left to fetch.
    s.run_until(s.now + 6_000, ok);
    assert_eq!(s.batches.len(), 1);
    assert!(s.fetches.is_empty());
    // Once the socket is open, nothing rides along any more.
    s.socket_opened();
    live(&mut s, "/api/games/2");
    s.get(&url("/api/notifications"));
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
    s.run_until(s.now + 5_001, ok); // connect timeout: HTTP fallback, answered
    assert_eq!(s.data(&url("/api/games/1")), Some(1));
    let before = s.fetches.len();
    s.clear();
    assert_eq!(s.fetches.len(), before + 1, "fetched again after clear");
    assert_eq!(
        s.core.socket_state(),
        Some(SocketState::Connecting { fallen_back: true }),
        "a new connection, and HTTP goes on serving meanwhile"
    );
    s.answer(s.last_flight(), 2);
    assert_eq!(s.data(&url("/api/games/1")), Some(2));
}

#[test]
fn an_answer_in_flight_at_clear_is_not_stored_and_not_joined() {
    let mut s = Sim::new(Config::default());
    let u = url("/api/user");
    let a = s.get(&u);
    let old = s.last_flight();
    s.clear();
    assert!(s.freed.is_empty(), "the old request still names the key");
    let b = s.get(&u);
    assert_eq!(
        s.fetches.len(),
        2,
        "a get after clear does not join the old request"
    );
    s.answer(old, 1);
    assert_eq!(s.settled[&a], Ok(1), "the old caller still gets its answer");
    assert_eq!(s.data(&u), None, "not stored");
    s.answer(s.last_flight(), 2);
    assert_eq!(s.settled[&b], Ok(2));
    assert_eq!(s.data(&u), Some(2));
    // Queued in a batch window at clear: it still leaves, naming a live key.
    let mut s = Sim::new(Config {
        batch: Some(BatchConfig::new(origin_id(O))),
        ..Config::default()
    });
    assert!(s.prefetch(&u));
    s.clear();
    s.advance(10);
    assert_eq!(s.fetches.len(), 1);
    s.answer(s.last_flight(), 1);
    assert_eq!(s.data(&u), None, "not stored");
    assert_eq!(s.core.live_keys(), 0, "freed once it is done");
}

#[test]
fn a_rider_that_fills_the_batch_never_makes_it_leave_twice() {
    let who = Identity::bearer(&"t".repeat(1_000));
    for max_bytes in (40..400).step_by(5) {
        let mut batch = BatchConfig::new(origin_id(O));
        batch.max_bytes = max_bytes;
        let mut s = Sim::new(Config {
            socket: Some(SocketConfig {
                who: who.id(),
                ..SocketConfig::default()
            }),
            batch: Some(batch),
            ..Config::default()
        });
        assert!(s.live_add_as(&url("/live1"), &who));
        assert!(s.live_add_as(&url("/live/number/2"), &who));
        for p in ["/r1", "/r2"] {
            s.get_with(&url(p), |r| r.who = who.clone());
        }
        s.advance(10);
        let mut sent: Vec<u32> = s
            .batches
            .iter()
            .flat_map(|(_, items)| items.iter().map(|i| i.flight))
            .collect();
        sent.extend(s.fetches.iter().map(|(f, _)| *f));
        let n = sent.len();
        sent.sort_unstable();
        sent.dedup();
        assert_eq!(
            sent.len(),
            n,
            "an item left twice with maxBytes {max_bytes}"
        );
        let ids: std::collections::HashSet<_> = s.batches.iter().map(|(b, _)| *b).collect();
        assert_eq!(ids.len(), s.batches.len(), "a batch was sent twice");
        assert_eq!(s.core.pending_batches(), s.batches.len());
    }
}

#[test]
fn clear_drops_the_connection_and_opens_a_new_one() {
    let mut s = sim(false);
    live(&mut s, "/api/user");
    s.socket_opened();
    push(&mut s, "/api/user", 1);
    s.socket.clear();
    s.clear();
    assert_eq!(s.socket, vec!["close".to_string(), "open".to_string()]);
    assert_eq!(s.data(&url("/api/user")), None);
    assert_eq!(s.core.socket_subscriptions(), 0);
    s.socket_opened();
    assert_eq!(
        subscribes(&s),
        1,
        "the live key is subscribed on the new connection"
    );
    push(&mut s, "/api/user", 2);
    assert_eq!(s.data(&url("/api/user")), Some(2));
}

#[test]
fn clear_while_reconnecting_opens_at_once_and_keeps_http_serving() {
    let mut s = sim(false);
    live(&mut s, "/api/user");
    s.socket_opened();
    s.socket_closed();
    assert_eq!(s.core.socket_state(), Some(SocketState::Waiting));
    s.socket.clear();
    s.clear();
    assert_eq!(s.socket, vec!["close".to_string(), "open".to_string()]);
    assert_eq!(
        s.core.socket_state(),
        Some(SocketState::Connecting { fallen_back: true })
    );
    // The reconnect timer is gone: only the connect timeout is armed.
    assert_eq!(s.core.poll_timeout(), Some(s.now + 5_000));
    let reconnects = s.core.stats().socket_reconnects;
    s.run_until(s.now + 10_000, ok);
    assert_eq!(s.core.stats().socket_reconnects, reconnects);
    // With nobody live, clear leaves the socket alone.
    let mut idle = sim(false);
    idle.clear();
    assert!(idle.socket.is_empty());
}

#[test]
fn another_tabs_data_from_before_clear_is_dropped() {
    let mut s = sim(false);
    s.now = 1_000;
    s.clear();
    assert!(!s.tab_data(&url("/a"), 1, 999));
    assert_eq!(s.data(&url("/a")), None);
    assert_eq!(s.core.live_keys(), 0, "its key is freed at once");
    assert!(s.tab_data(&url("/a"), 2, 1_000));
    assert_eq!(s.data(&url("/a")), Some(2));
    assert!(
        !s.restore(&url("/b"), 3, 500),
        "nor a restore of older data"
    );
}
