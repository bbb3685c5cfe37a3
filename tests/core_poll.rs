//! Native tests of shared polling with a simulated clock.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use calmfetch::core::{Config, FetchError, GetRequest, Identity, Key, PollConfig};
use common::Sim;

const VALIDATE: &str = "http://h.test/api/validate";
const ACTIVITY: &str = "http://h.test/api/activity";
const GAMES: &str = "http://h.test/api/games";

fn sim(jitter: f64) -> Sim {
    Sim::new(Config {
        poll: PollConfig {
            jitter,
            max_backoff_ms: 60_000,
        },
        ..Config::default()
    })
}

fn req(url: &str) -> GetRequest {
    GetRequest {
        url: url.into(),
        ..Default::default()
    }
}

fn key(url: &str) -> Key {
    Key::get(url, &Identity::default())
}

fn ok(_: &str, _: u64) -> Result<u32, FetchError> {
    Ok(1)
}

#[test]
fn a_thousand_pollers_on_three_keys_make_exact_request_counts() {
    let mut s = sim(0.0);
    let bases = [(ACTIVITY, 5_000), (VALIDATE, 10_000), (GAMES, 30_000)];
    for i in 0..1000u64 {
        let (url, base) = bases[(i % 3) as usize];
        // Some pollers ask for slower intervals; the fastest one wins.
        s.core
            .poll_start(s.now, req(url), base * (1 + i % 4), false, true);
        s.drain();
    }
    s.run_until(600_000, ok);
    // Ticks at 0, interval, 2 x interval, ... up to and including 600 s.
    assert_eq!(s.requests_to(ACTIVITY), 121);
    assert_eq!(s.requests_to(VALIDATE), 61);
    assert_eq!(s.requests_to(GAMES), 21);
    assert_eq!(s.fetches.len(), 203, "1,000 pollers, 203 requests");
}

#[test]
fn jitter_spreads_ticks_but_keeps_the_rate() {
    let mut s = sim(0.1);
    s.core.poll_start(0, req(ACTIVITY), 5_000, false, true);
    s.drain();
    s.run_until(600_000, ok);
    let n = s.requests_to(ACTIVITY);
    assert!((109..=134).contains(&n), "{n} requests");
    // Two clients started together do not stay in lockstep.
    let mut a = Sim::new(Config {
        seed: 1,
        ..Config::default()
    });
    let mut b = Sim::new(Config {
        seed: 2,
        ..Config::default()
    });
    for c in [&mut a, &mut b] {
        c.core.poll_start(0, req(ACTIVITY), 5_000, false, true);
        c.drain();
        c.run_until(30_000, ok);
    }
    let due_a = a.core.poll_timeout();
    let due_b = b.core.poll_timeout();
    assert_ne!(due_a, due_b);
}

#[test]
fn errors_back_off_exponentially_with_a_cap_and_recover() {
    let mut s = Sim::new(Config {
        poll: PollConfig {
            jitter: 0.0,
            max_backoff_ms: 40_000,
        },
        ..Config::default()
    });
    s.core.poll_start(0, req(ACTIVITY), 5_000, false, true);
    s.drain();
    let mut times = Vec::new();
    s.run_until(200_000, |_, now| {
        times.push(now);
        if now < 100_000 {
            Err(FetchError::Network("down".into()))
        } else {
            Ok(1)
        }
    });
    let gaps: Vec<u64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    // 10, 20, 40 (cap), 40 ... then, after the first success, 5 s again.
    assert_eq!(&gaps[..4], &[10_000, 20_000, 40_000, 40_000], "{gaps:?}");
    let first_ok = times.iter().position(|t| *t >= 100_000).unwrap();
    assert!(gaps[first_ok..].iter().all(|g| *g == 5_000), "{gaps:?}");
}

#[test]
fn retry_after_is_honoured_exactly() {
    let mut s = sim(0.1);
    s.core.poll_start(0, req(VALIDATE), 10_000, false, true);
    s.drain();
    let mut times = Vec::new();
    let mut n = 0;
    s.run_until(100_000, |_, now| {
        times.push(now);
        n += 1;
        match n {
            1 => Err(FetchError::Http {
                status: 429,
                body: String::new(),
                retry_after: Some(7_000),
            }),
            2 => Err(FetchError::Http {
                status: 503,
                body: String::new(),
                retry_after: Some(31_000),
            }),
            _ => Ok(1),
        }
    });
    assert_eq!(times[1] - times[0], 7_000);
    assert_eq!(times[2] - times[1], 31_000);
    let g = times[3] - times[2];
    assert!((9_000..=11_000).contains(&g), "back to the interval: {g}");
}

#[test]
fn hidden_pages_pause_and_resume_only_when_data_is_old() {
    let mut s = sim(0.0);
    s.core.poll_start(0, req(ACTIVITY), 5_000, false, true);
    s.core.poll_start(0, req(VALIDATE), 10_000, true, true); // inBackground
    s.drain();
    s.run_until(1_000, ok);
    s.core.set_visible(s.now, false);
    s.drain();
    s.run_until(60_000, ok);
    assert_eq!(s.requests_to(ACTIVITY), 1, "paused while hidden");
    assert_eq!(
        s.requests_to(VALIDATE),
        7,
        "in the background it keeps going"
    );
    s.core.set_visible(s.now, true);
    s.drain();
    s.run_until(s.now, ok);
    assert_eq!(
        s.requests_to(ACTIVITY),
        2,
        "old data: refreshed at once on becoming visible"
    );
    // Hidden and visible again within the interval: no immediate refresh.
    s.core.set_visible(s.now, false);
    s.drain();
    s.run_until(s.now + 2_000, ok);
    s.core.set_visible(s.now, true);
    s.drain();
    s.run_until(s.now, ok);
    assert_eq!(s.requests_to(ACTIVITY), 2);
    s.run_until(s.now + 3_000, ok);
    assert_eq!(
        s.requests_to(ACTIVITY),
        3,
        "the normal tick, one interval after the data"
    );
}

#[test]
fn offline_pauses_everything_and_online_resumes() {
    let mut s = sim(0.0);
    s.core.poll_start(0, req(VALIDATE), 10_000, true, true);
    s.drain();
    s.run_until(1, ok);
    s.core.set_online(s.now, false);
    s.drain();
    s.run_until(100_000, ok);
    assert_eq!(s.requests_to(VALIDATE), 1);
    assert_eq!(s.core.pending_timers(), 0);
    s.core.set_online(s.now, true);
    s.drain();
    s.run_until(s.now, ok);
    assert_eq!(s.requests_to(VALIDATE), 2);
}

#[test]
fn data_from_elsewhere_pushes_polling_back_and_ticks_join_requests_in_flight() {
    let mut s = sim(0.0);
    s.core.poll_start(0, req(ACTIVITY), 5_000, false, true);
    s.drain();
    s.run_until(3_000, ok);
    // A component's own get at 3 s: the next tick moves to 8 s.
    s.get(ACTIVITY);
    s.answer(s.last_flight(), 2);
    s.answered = s.fetches.len();
    s.run_until(7_999, ok);
    assert_eq!(s.requests_to(ACTIVITY), 2);
    // Another tab's data at 9 s (leader elsewhere) moves it again.
    s.run_until(8_000, ok);
    assert_eq!(s.requests_to(ACTIVITY), 3);
    s.core
        .external_data(9_000, &key(ACTIVITY), 5, 1, None, 9_000);
    s.drain();
    s.run_until(13_999, ok);
    assert_eq!(s.requests_to(ACTIVITY), 3);
    // A tick that comes due while a get is in flight joins it.
    s.now = 13_990;
    let w = s.get(ACTIVITY);
    let flights = s.fetches.len();
    s.core.handle_timeout(14_000);
    s.drain();
    assert_eq!(
        s.fetches.len(),
        flights,
        "the tick joined the get in flight"
    );
    s.answer(s.last_flight(), 6);
    assert_eq!(s.settled[&w], Ok(6));
}

#[test]
fn only_the_leader_polls_and_live_keys_are_not_polled() {
    let mut s = sim(0.0);
    s.core.poll_start(0, req(ACTIVITY), 5_000, false, false);
    s.drain();
    s.run_until(30_000, ok);
    assert_eq!(s.fetches.len(), 0, "a follower tab does not poll");
    s.core.set_poll_leader(s.now, &key(ACTIVITY), true);
    s.drain();
    s.run_until(30_000, ok);
    assert_eq!(
        s.fetches.len(),
        1,
        "the new leader polls at once: its data is old"
    );
    assert_eq!(s.polled, vec![key(ACTIVITY)], "and shares what it got");
    s.core.set_live(s.now, &key(ACTIVITY), true);
    s.drain();
    s.run_until(100_000, ok);
    assert_eq!(s.fetches.len(), 1, "the socket keeps it live: no polling");
    s.core.set_live(s.now, &key(ACTIVITY), false);
    s.drain();
    s.run_until(100_000, ok);
    assert_eq!(s.fetches.len(), 2, "the socket went away: polling resumes");
}

#[test]
fn stopping_the_last_poller_leaves_nothing_running() {
    let mut s = sim(0.0);
    let p1 = s.core.poll_start(0, req(ACTIVITY), 5_000, false, true);
    let p2 = s.core.poll_start(0, req(ACTIVITY), 1_000, false, true);
    s.drain();
    s.run_until(2_000, ok);
    assert_eq!(s.requests_to(ACTIVITY), 3, "the smallest interval wins");
    s.core.poll_stop(s.now, p2);
    s.drain();
    s.run_until(7_000, ok);
    assert_eq!(s.requests_to(ACTIVITY), 4, "back to 5 s");
    // Stop the last poller while its tick is in flight.
    s.now = 12_000;
    s.core.handle_timeout(s.now);
    s.drain();
    assert_eq!(s.requests_to(ACTIVITY), 5, "a tick in flight, unanswered");
    s.core.poll_stop(s.now, p1);
    s.drain();
    assert_eq!(
        s.cancels,
        vec![s.last_flight()],
        "its lone request is aborted"
    );
    assert_eq!(s.core.pending_polls(), (0, 0));
    assert_eq!(s.core.pending_timers(), 0);
    assert_eq!(s.core.pending_waiters(), 0);
    s.answered = s.fetches.len();
    s.run_until(100_000, ok);
    assert_eq!(s.fetches.len(), 5, "nothing keeps running");
}
