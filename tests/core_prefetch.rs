//! Native tests of hover intent and the prefetch lane.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use calmfetch::core::{BatchConfig, Config, FetchError, GetRequest};
use common::Sim;

const O: &str = "http://h.test";

fn req(p: &str) -> GetRequest {
    GetRequest {
        url: format!("{O}{p}"),
        ..Default::default()
    }
}

fn url(p: &str) -> String {
    format!("{O}{p}")
}

#[test]
fn a_hover_prefetches_only_after_the_intent_delay() {
    let mut s = Sim::new(Config::default());
    // The cursor brushes three links on its way (30 ms each)...
    for p in ["/games/1", "/games/2", "/games/3"] {
        let i = s.core.intent_start(s.now, req(p));
        s.drain();
        s.advance(30);
        s.core.intent_cancel(i);
    }
    // ...and rests on the fourth for 150 ms before the click.
    s.core.intent_start(s.now, req("/games/4"));
    s.drain();
    s.advance(64);
    assert!(s.fetches.is_empty(), "not before 65 ms");
    s.advance(1);
    assert_eq!(
        s.fetches.len(),
        1,
        "exactly one request: the link the user stayed on"
    );
    assert_eq!(s.fetches[0].1.url, url("/games/4"));
    s.advance(85);
    s.answer(s.last_flight(), 4);
    // The click: the data is already there.
    let w = s.get(&url("/games/4"));
    assert_eq!(s.settled[&w], Ok(4));
    assert_eq!(s.fetches.len(), 1);
    assert_eq!(s.core.stats().prefetched, 1);
    assert_eq!(s.core.pending_prefetches(), (0, 0, 0));
}

#[test]
fn a_click_joins_a_prefetch_in_flight() {
    let mut s = Sim::new(Config::default());
    assert!(s.core.prefetch(0, req("/games/1")));
    s.drain();
    let w = s.get(&url("/games/1"));
    assert_eq!(s.fetches.len(), 1, "joined");
    s.answer(s.last_flight(), 9);
    assert_eq!(s.settled[&w], Ok(9));
}

#[test]
fn at_most_four_prefetches_run_and_gets_never_wait_behind_them() {
    let mut s = Sim::new(Config::default());
    for i in 0..10 {
        s.core.prefetch(0, req(&format!("/p/{i}")));
        s.drain();
    }
    assert_eq!(s.fetches.len(), 4);
    let w = s.get(&url("/user"));
    assert_eq!(s.fetches.len(), 5, "a user get goes out at once");
    assert_eq!(s.fetches[4].1.url, url("/user"));
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
    s.fail(f, FetchError::Network("down".into()));
    assert_eq!(s.core.stats().prefetch_failures, 1);
    assert_eq!(s.settled.len(), 1);
    while s.answered < s.fetches.len() || s.core.pending_prefetches() != (0, 0, 0) {
        s.run_until(s.now, |_, _| Ok(1));
    }
    assert_eq!(s.fetches.len(), 11);
    assert_eq!(s.core.pending_waiters(), 0);
}

#[test]
fn fresh_in_flight_and_queued_urls_are_skipped() {
    let mut s = Sim::new(Config::default());
    s.get(&url("/a"));
    s.answer(s.last_flight(), 1);
    assert!(!s.core.prefetch(s.now, req("/a")), "fresh");
    s.get(&url("/b"));
    assert!(!s.core.prefetch(s.now, req("/b")), "in flight");
    assert_eq!(s.core.stats().prefetch_skipped, 2);
    assert_eq!(s.fetches.len(), 2);
}

#[test]
fn prefetches_ride_in_batches() {
    let mut s = Sim::new(Config {
        batch: Some(BatchConfig::new(url("/batch"))),
        ..Config::default()
    });
    for p in ["/a", "/b", "/c"] {
        s.core.prefetch(s.now, req(p));
        s.drain();
    }
    s.advance(10);
    assert_eq!(s.batches.len(), 1);
    assert!(s.fetches.is_empty());
}
