//! Native tests of server-rendered data (`hydrate`) and of the end of a
//! prefetch (`Prefetched`), which `prefetch`'s promise waits for.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use calmfetch::core::{Config, PrefetchConfig};
use common::Sim;

const O: &str = "http://h.test";

fn url(p: &str) -> String {
    format!("{O}{p}")
}

#[test]
fn hydrated_data_serves_gets_without_a_request_and_keeps_its_age() {
    let mut s = Sim::new(Config::default());
    s.advance(10_000);
    // Rendered on the server 500 ms ago with a TTL of 2 s.
    assert!(s.hydrate(&url("/user"), 7, s.now - 500, 2_000));
    assert_eq!(s.state(&url("/user")), 1, "data, fresh");
    let w = s.get(&url("/user"));
    assert_eq!(s.settled[&w], Ok(7));
    assert!(s.hits.contains(&w) && s.fetches.is_empty());
    s.advance(1_499);
    let w = s.get(&url("/user"));
    assert!(
        s.hits.contains(&w),
        "still fresh 1,999 ms after it was fetched"
    );
    s.advance(1);
    assert_eq!(
        s.state(&url("/user")),
        3,
        "stale once its TTL has passed since the server fetched it"
    );
    s.get(&url("/user"));
    assert_eq!(
        s.fetches.len(),
        1,
        "a stale hydrated entry is fetched again"
    );
}

#[test]
fn data_older_than_its_ttl_is_kept_stale() {
    let mut s = Sim::new(Config::default());
    s.advance(60_000);
    assert!(s.hydrate(&url("/old"), 4, s.now - 5_000, 1_000));
    assert_eq!(s.state(&url("/old")), 3, "shown, stale");
    s.get(&url("/old"));
    assert_eq!(s.fetches.len(), 1);
}

#[test]
fn hydrating_never_overwrites_newer_data_and_twice_changes_nothing() {
    let mut s = Sim::new(Config::default());
    s.advance(1_000);
    s.get(&url("/a"));
    s.answer(s.last_flight(), 3);
    let k = s.key(&url("/a"));
    // The page was rendered before this client fetched /a itself.
    assert!(
        !s.hydrate(&url("/a"), 9, s.now - 1, 60_000),
        "older data refused"
    );
    assert!(
        !s.hydrate(&url("/a"), 9, s.now, 60_000),
        "data as old refused"
    );
    assert_eq!(s.bodies[&k], 3);
    // A fresh key takes it once; the same state again is refused.
    s.advance(10);
    assert!(s.hydrate(&url("/b"), 5, s.now - 5, 60_000));
    let notified = s.notified.len();
    assert!(!s.hydrate(&url("/b"), 5, s.now - 5, 60_000));
    assert_eq!(
        s.notified.len(),
        notified,
        "nobody hears of a refused hydrate"
    );
    // Newer data replaces what an older render left.
    assert!(s.hydrate(&url("/b"), 6, s.now - 1, 60_000));
    let b = s.key(&url("/b"));
    assert_eq!(s.bodies[&b], 6);
    assert!(s.fetches.len() == 1);
}

#[test]
fn a_clear_refuses_data_fetched_before_it_and_a_future_time_counts_as_now() {
    let mut s = Sim::new(Config::default());
    s.advance(1_000);
    s.clear();
    s.advance(100);
    assert!(
        !s.hydrate(&url("/a"), 1, s.now - 200, 60_000),
        "fetched before the clear"
    );
    assert!(s.hydrate(&url("/a"), 1, s.now - 50, 60_000));
    // A server clock ahead of this one: the data is as old as now, not younger.
    assert!(s.hydrate(&url("/f"), 2, s.now + 10_000, 1_000));
    s.advance(1_000);
    assert_eq!(s.state(&url("/f")), 3);
}

#[test]
fn a_prefetch_reports_its_end_whatever_happens() {
    let mut s = Sim::new(Config {
        prefetch: PrefetchConfig {
            concurrency: 1,
            queue_limit: 1,
            ..Default::default()
        },
        ..Config::default()
    });
    assert!(s.prefetch(&url("/ok")));
    assert!(s.prefetch(&url("/late")));
    assert!(s.prefetch(&url("/dropped-for-next")));
    assert_eq!(s.prefetched, [url("/late")], "dropped from the full queue");
    assert!(s.prefetch(&url("/next")));
    assert_eq!(s.prefetched, [url("/late"), url("/dropped-for-next")]);
    s.answer(s.last_flight(), 1);
    assert_eq!(&s.prefetched[2..], [url("/ok")], "fetched");
    assert_eq!(s.state(&url("/ok")), 1);
    s.fail_status(s.last_flight(), 500);
    assert_eq!(&s.prefetched[3..], [url("/next")], "failed");
    assert_eq!(s.state(&url("/next")) & 1, 0);
    // A get fetches a queued url before its turn: its prefetch is skipped then.
    let mut s = Sim::new(Config {
        prefetch: PrefetchConfig {
            concurrency: 1,
            ..Default::default()
        },
        ..Config::default()
    });
    s.prefetch(&url("/x"));
    s.prefetch(&url("/y"));
    s.get(&url("/y"));
    let y = s.last_flight();
    s.answer(s.fetches[0].0, 1);
    assert_eq!(s.prefetched, [url("/x"), url("/y")]);
    assert_eq!(
        s.state(&url("/y")),
        6,
        "no data, the get's request is still out"
    );
    s.answer(y, 2);
    assert_eq!(s.core.pending_prefetches(), (0, 0, 0));
    assert_eq!(s.core.pending_waiters(), 0);
}
