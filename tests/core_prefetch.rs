//! Native tests of hover intent and the prefetch lane.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use calmfetch::core::{BatchConfig, Config};
use common::{origin_id, Reply, Sim};

const O: &str = "http://h.test";

fn url(p: &str) -> String {
    format!("{O}{p}")
}

#[test]
fn a_hover_prefetches_only_after_the_intent_delay() {
    let mut s = Sim::new(Config::default());
    // The cursor brushes three links on its way (30 ms each)...
    for p in ["/games/1", "/games/2", "/games/3"] {
        let i = s.hover(&url(p));
        s.advance(30);
        s.hover_end(i);
    }
    assert_eq!(s.core.live_keys(), 0, "brushed links leave no key behind");
    // ...and rests on the fourth for 150 ms before the click.
    s.hover(&url("/games/4"));
    s.advance(64);
    assert!(s.fetches.is_empty(), "not before 65 ms");
    s.advance(1);
    assert_eq!(
        s.fetches.len(),
        1,
        "exactly one request: the link the user stayed on"
    );
    assert_eq!(s.fetches[0].1, url("/games/4"));
    s.advance(85);
    s.answer(s.last_flight(), 4);
    // The click: the data is already there.
    let w = s.get(&url("/games/4"));
    assert_eq!(s.settled[&w], Ok(4));
    assert!(s.hits.contains(&w));
    assert_eq!(s.fetches.len(), 1);
    assert_eq!(s.core.stats().prefetched, 1);
    assert_eq!(s.core.pending_prefetches(), (0, 0, 0));
}

#[test]
fn a_click_joins_a_prefetch_in_flight() {
    let mut s = Sim::new(Config::default());
    assert!(s.prefetch(&url("/games/1")));
    let w = s.get(&url("/games/1"));
    assert_eq!(s.fetches.len(), 1, "joined");
    s.answer(s.last_flight(), 9);
    assert_eq!(s.settled[&w], Ok(9));
    assert_eq!(s.core.stats().dedup_hits, 1);
}

#[test]
fn a_prefetch_whose_click_left_still_fills_the_cache() {
    let mut s = Sim::new(Config::default());
    s.prefetch(&url("/games/1"));
    let w = s.get(&url("/games/1"));
    s.abort(w);
    assert!(s.cancels.is_empty(), "the prefetch still waits on it");
    s.answer(s.last_flight(), 3);
    assert_eq!(s.data(&url("/games/1")), Some(3));
}

#[test]
fn at_most_four_prefetches_run_and_gets_never_wait_behind_them() {
    let mut s = Sim::new(Config::default());
    for i in 0..10 {
        s.prefetch(&url(&format!("/p/{i}")));
    }
    assert_eq!(s.fetches.len(), 4);
    assert_eq!(s.core.pending_prefetches(), (0, 6, 4));
    let w = s.get(&url("/user"));
    assert_eq!(s.fetches.len(), 5, "a user get goes out at once");
    assert_eq!(s.fetches[4].1, url("/user"));
    let first = s.fetches[0].0;
    s.answer(first, 1);
    assert_eq!(
        s.fetches.len(),
        6,
        "a finished prefetch lets the next one go"
    );
    let user = s.fetches[4].0;
    s.answer(user, 2);
    assert_eq!(s.settled[&w], Ok(2));
    // Prefetch failures are counted and reach nobody.
    let f = s.fetches[1].0;
    s.fail_network(f);
    assert_eq!(s.core.stats().prefetch_failures, 1);
    assert_eq!(s.settled.len(), 1);
    s.answered = 2;
    while s.core.pending_prefetches() != (0, 0, 0) {
        s.run_until(s.now, |_, _| Reply::Ok(1));
    }
    assert_eq!(s.fetches.len(), 11);
    assert_eq!(s.core.pending_waiters(), 0);
    assert_eq!(s.core.stats().prefetched, 9);
}

#[test]
fn fresh_in_flight_and_queued_urls_are_skipped() {
    let mut s = Sim::new(Config {
        prefetch: calmfetch::core::PrefetchConfig {
            concurrency: 1,
            ..Default::default()
        },
        ..Config::default()
    });
    s.get(&url("/a"));
    s.answer(s.last_flight(), 1);
    assert!(!s.prefetch(&url("/a")), "fresh");
    s.get(&url("/b"));
    assert!(!s.prefetch(&url("/b")), "in flight");
    assert!(s.prefetch(&url("/c")));
    assert!(s.prefetch(&url("/d")));
    assert!(!s.prefetch(&url("/d")), "queued");
    s.core.prefetch_skip(); // Save-Data: the shell skipped one
    assert_eq!(s.core.stats().prefetch_skipped, 4);
    assert_eq!(s.fetches.len(), 3);
}

#[test]
fn the_prefetch_queue_drops_its_oldest_beyond_its_limit() {
    let mut s = Sim::new(Config {
        prefetch: calmfetch::core::PrefetchConfig {
            concurrency: 1,
            queue_limit: 2,
            ..Default::default()
        },
        ..Config::default()
    });
    for i in 0..5 {
        s.prefetch(&url(&format!("/q/{i}")));
    }
    // One runs; /q/1 and /q/2 were dropped for /q/3 and /q/4.
    assert_eq!(s.core.pending_prefetches(), (0, 2, 1));
    assert_eq!(s.core.stats().prefetch_skipped, 2);
    assert!(s.freed.contains(&url("/q/1")) && s.freed.contains(&url("/q/2")));
    s.run_until(s.now, |_, _| Reply::Ok(1));
    s.run_until(s.now, |_, _| Reply::Ok(1));
    let urls: Vec<&str> = s.fetches.iter().map(|(_, u)| u.as_str()).collect();
    assert_eq!(urls, [url("/q/0"), url("/q/3"), url("/q/4")]);
}

#[test]
fn prefetches_ride_in_batches() {
    let mut s = Sim::new(Config {
        batch: Some(BatchConfig::new(origin_id(O))),
        ..Config::default()
    });
    for p in ["/a", "/b", "/c"] {
        s.prefetch(&url(p));
    }
    s.advance(10);
    assert_eq!(s.batches.len(), 1);
    assert!(s.fetches.is_empty());
}
