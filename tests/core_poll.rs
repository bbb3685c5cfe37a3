//! Native tests of shared polling with a simulated clock.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use calmfetch::core::{BatchConfig, Config, PollConfig, SocketConfig};
use common::{origin_id, Reply, Sim};

const VALIDATE: &str = "http://h.test/api/validate";
const ACTIVITY: &str = "http://h.test/api/activity";
const GAMES: &str = "http://h.test/api/games";

fn config(jitter: f64) -> Config {
    Config {
        poll: PollConfig {
            jitter,
            max_backoff_ms: 60_000,
        },
        ..Config::default()
    }
}

fn sim(jitter: f64) -> Sim {
    Sim::new(config(jitter))
}

fn ok(_: &str, _: u64) -> Reply {
    Reply::Ok(1)
}

fn lead(url: &str, want: bool) -> (String, bool) {
    (url.to_string(), want)
}

#[test]
fn a_thousand_pollers_on_three_keys_make_exact_request_counts() {
    let mut s = sim(0.0);
    let bases = [(ACTIVITY, 5_000), (VALIDATE, 10_000), (GAMES, 30_000)];
    for i in 0..1000u64 {
        let (url, base) = bases[(i % 3) as usize];
        // Some pollers ask for slower intervals; the fastest one wins.
        s.poll_start(url, base * (1 + i % 4), false);
    }
    assert_eq!(s.leads.len(), 3, "leadership is asked for once per key");
    s.run_until(600_000, ok);
    // Ticks at 0, interval, 2 x interval, ... up to and including 600 s.
    assert_eq!(s.requests_to(ACTIVITY), 121);
    assert_eq!(s.requests_to(VALIDATE), 61);
    assert_eq!(s.requests_to(GAMES), 21);
    assert_eq!(s.fetches.len(), 203, "1,000 pollers, 203 requests");
    assert_eq!(s.core.stats().poll_ticks, 203);
}

#[test]
fn jitter_spreads_ticks_but_keeps_the_rate() {
    let mut s = sim(0.1);
    s.poll_start(ACTIVITY, 5_000, false);
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
        c.poll_start(ACTIVITY, 5_000, false);
        c.run_until(30_000, ok);
    }
    assert_ne!(a.core.poll_timeout(), b.core.poll_timeout());
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
    s.poll_start(ACTIVITY, 5_000, false);
    let mut times = Vec::new();
    s.run_until(200_000, |_, now| {
        times.push(now);
        if now < 100_000 {
            Reply::Network
        } else {
            Reply::Ok(1)
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
    s.poll_start(VALIDATE, 10_000, false);
    let mut times = Vec::new();
    let mut n = 0;
    s.run_until(100_000, |_, now| {
        times.push(now);
        n += 1;
        match n {
            1 => Reply::Status(429, Some(7_000)),
            2 => Reply::Status(503, Some(31_000)),
            _ => Reply::Ok(1),
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
    s.poll_start(ACTIVITY, 5_000, false);
    s.poll_start(VALIDATE, 10_000, true); // inBackground
    s.run_until(1_000, ok);
    s.set_visible(false);
    assert_eq!(
        s.leads.last(),
        Some(&lead(ACTIVITY, false)),
        "a hidden tab gives up what it does not poll"
    );
    s.run_until(60_000, ok);
    assert_eq!(s.requests_to(ACTIVITY), 1, "paused while hidden");
    assert_eq!(
        s.requests_to(VALIDATE),
        7,
        "in the background it keeps going"
    );
    s.set_visible(true);
    assert_eq!(s.leads.last(), Some(&lead(ACTIVITY, true)));
    s.run_until(s.now, ok);
    assert_eq!(
        s.requests_to(ACTIVITY),
        2,
        "old data: refreshed at once on becoming visible"
    );
    // Hidden and visible again within the interval: no immediate refresh.
    s.set_visible(false);
    s.run_until(s.now + 2_000, ok);
    s.set_visible(true);
    s.run_until(s.now, ok);
    assert_eq!(s.requests_to(ACTIVITY), 2);
    s.run_until(s.now + 3_000, ok);
    assert_eq!(
        s.requests_to(ACTIVITY),
        3,
        "the normal tick, one interval after the data"
    );
    assert!(
        s.leads.iter().all(|(u, _)| u == ACTIVITY || u == VALIDATE)
            && s.leads.iter().filter(|(u, _)| u == VALIDATE).count() == 1,
        "the background poller kept its leadership: {:?}",
        s.leads
    );
}

#[test]
fn offline_pauses_everything_and_online_resumes() {
    let mut s = sim(0.0);
    s.poll_start(VALIDATE, 10_000, true);
    s.run_until(1, ok);
    s.set_online(false);
    s.run_until(100_000, ok);
    assert_eq!(s.requests_to(VALIDATE), 1);
    assert_eq!(s.core.pending_timers(), 0);
    s.set_online(true);
    s.run_until(s.now, ok);
    assert_eq!(s.requests_to(VALIDATE), 2);
}

#[test]
fn data_from_elsewhere_pushes_polling_back_and_ticks_join_requests_in_flight() {
    let mut s = sim(0.0);
    s.poll_start(ACTIVITY, 5_000, false);
    s.run_until(3_000, ok);
    // A component's own get at 3 s: the next tick moves to 8 s.
    s.get(ACTIVITY);
    s.answer(s.last_flight(), 2);
    s.answered = s.fetches.len();
    s.run_until(7_999, ok);
    assert_eq!(s.requests_to(ACTIVITY), 2);
    s.run_until(8_000, ok);
    assert_eq!(s.requests_to(ACTIVITY), 3);
    // Another tab's data at 9 s moves it again.
    s.now = 9_000;
    assert!(s.tab_data(ACTIVITY, 5, 9_000));
    assert_eq!(s.data(ACTIVITY), Some(5));
    s.run_until(13_999, ok);
    assert_eq!(s.requests_to(ACTIVITY), 3);
    // A tick that comes due while a get is in flight joins it.
    s.now = 13_990;
    let w = s.get(ACTIVITY);
    let flights = s.fetches.len();
    s.advance(10);
    assert_eq!(
        s.fetches.len(),
        flights,
        "the tick joined the get in flight"
    );
    s.answer(s.last_flight(), 6);
    assert_eq!(s.settled[&w], Ok(6));
    assert_eq!(s.core.stats().poll_ticks, 3);
}

#[test]
fn only_the_leader_polls_and_live_keys_are_not_polled() {
    let mut s = Sim::new(Config {
        socket: Some(SocketConfig::default()),
        ..config(0.0)
    });
    s.auto_lead = false;
    let p = s.poll_start(ACTIVITY, 5_000, false);
    assert_eq!(s.leads, vec![lead(ACTIVITY, true)], "the core asks to lead");
    s.run_until(30_000, ok);
    assert_eq!(s.fetches.len(), 0, "a follower tab does not poll");
    s.lead(ACTIVITY, true);
    s.run_until(30_000, ok);
    assert_eq!(
        s.fetches.len(),
        1,
        "the new leader polls at once: its data is old"
    );
    assert_eq!(
        s.polled,
        vec![ACTIVITY.to_string()],
        "and shares what it got"
    );
    // The socket keeps the key live: no polling.
    assert!(s.live_add(ACTIVITY));
    s.socket_opened();
    s.socket_data(ACTIVITY, 2); // within resync_ms: no resync fetch
    s.run_until(100_000, ok);
    assert_eq!(s.fetches.len(), 1, "the socket keeps it live: no polling");
    // The socket went away: polling resumes.
    s.socket_closed();
    s.run_until(100_000, ok);
    assert_eq!(s.fetches.len(), 2, "the socket went away: polling resumes");
    // The lock is lost (another tab took it): this tab stops polling, and
    // the shell queues for the lock again on its own.
    let leads = s.leads.len();
    s.lead(ACTIVITY, false);
    s.run_until(200_000, ok);
    assert_eq!(s.fetches.len(), 2);
    assert_eq!(s.leads.len(), leads, "the shell asks again by itself");
    // Granted again: polling resumes.
    s.lead(ACTIVITY, true);
    s.run_until(300_000, ok);
    assert!(s.fetches.len() > 2, "the lock came back: polling resumes");
    // The last poller stops: the held lock (or the queued request) is given up.
    s.poll_stop(p);
    assert_eq!(s.leads.last(), Some(&lead(ACTIVITY, false)));
}

#[test]
fn a_lock_granted_after_this_tab_stepped_down_is_not_used() {
    let mut s = sim(0.0);
    s.auto_lead = false;
    s.poll_start(ACTIVITY, 5_000, false);
    s.set_visible(false);
    assert_eq!(
        s.leads,
        vec![lead(ACTIVITY, true), lead(ACTIVITY, false)],
        "asked, then given up"
    );
    // The grant arrives late: the tab hidden meanwhile does not poll.
    s.lead(ACTIVITY, true);
    s.run_until(60_000, ok);
    assert!(s.fetches.is_empty());
    s.set_visible(true);
    assert_eq!(s.leads.last(), Some(&lead(ACTIVITY, true)));
    s.lead(ACTIVITY, true);
    s.run_until(s.now, ok);
    assert_eq!(s.fetches.len(), 1);
}

#[test]
fn a_followers_poll_result_only_comes_from_the_leader() {
    // A tick answered from the cache is not shared: only the network's
    // data goes to the other tabs.
    let mut s = sim(0.0);
    s.get(ACTIVITY);
    s.answer(s.last_flight(), 1);
    s.poll_start(ACTIVITY, 5_000, false);
    s.run_until(1_000, ok);
    assert!(s.polled.is_empty(), "the first tick was a cache hit");
    s.run_until(5_000, ok);
    assert_eq!(s.polled, vec![ACTIVITY.to_string()]);
}

#[test]
fn ticks_of_one_identity_due_within_their_jitter_leave_in_one_batch() {
    // Validate every 10 s and activity every 5 s: when validate falls due
    // within its jitter of an activity tick, it rides along in one batch.
    let mut s = Sim::new(Config {
        batch: Some(BatchConfig::new(origin_id("http://h.test"))),
        ..config(0.1)
    });
    s.poll_start(ACTIVITY, 5_000, false);
    s.poll_start(VALIDATE, 10_000, false);
    let mut posts = 0;
    // When each url was requested (alone or in a batch).
    let mut sent: Vec<(u64, String)> = Vec::new();
    while s.now < 600_000 {
        let before = s.fetches.len();
        s.run_until(s.now + 10, ok);
        for (_, u) in &s.fetches[before..] {
            sent.push((s.now, u.clone()));
        }
        while let Some((b, items)) = s.batches.get(posts).cloned() {
            posts += 1;
            for u in s.batch_urls(&items) {
                sent.push((s.now, u));
            }
            for i in items {
                s.item(b, i.flight, 1);
            }
        }
    }
    let requests = posts + s.fetches.len();
    let ticks = s.core.stats().poll_ticks as usize;
    assert!(posts >= 10, "{posts} batches");
    // The floor is one request per activity tick (600 s / 5 s = 120):
    // validate rides along with every other one.
    assert!(requests <= 126, "{requests} requests for {ticks} ticks");
    // A tick that leaves early still goes to the network: no poller ever
    // waits much more than its interval (plus jitter and the window).
    for (url, interval) in [(ACTIVITY, 5_000), (VALIDATE, 10_000)] {
        let times: Vec<u64> = sent
            .iter()
            .filter(|(_, u)| u == url)
            .map(|(t, _)| *t)
            .collect();
        let worst = times.windows(2).map(|w| w[1] - w[0]).max().unwrap();
        assert!(
            worst <= interval * 11 / 10 + 30,
            "{url}: a gap of {worst} ms between polls"
        );
    }
}

#[test]
fn stopping_the_last_poller_leaves_nothing_running() {
    let mut s = sim(0.0);
    let p1 = s.poll_start(ACTIVITY, 5_000, false);
    let p2 = s.poll_start(ACTIVITY, 1_000, false);
    s.run_until(2_000, ok);
    assert_eq!(s.requests_to(ACTIVITY), 3, "the smallest interval wins");
    s.poll_stop(p2);
    s.run_until(7_000, ok);
    assert_eq!(s.requests_to(ACTIVITY), 4, "back to 5 s");
    // Stop the last poller while its tick is in flight.
    s.now = 12_000;
    s.core.handle_timeout(s.now);
    s.drain();
    assert_eq!(s.requests_to(ACTIVITY), 5, "a tick in flight, unanswered");
    s.poll_stop(p1);
    assert_eq!(
        s.cancels,
        vec![s.last_flight()],
        "its lone request is aborted"
    );
    assert_eq!(s.leads.last(), Some(&lead(ACTIVITY, false)));
    assert_eq!(s.core.pending_polls(), (0, 0));
    assert_eq!(s.core.pending_timers(), 0);
    assert_eq!(s.core.pending_waiters(), 0);
    s.answered = s.fetches.len();
    s.run_until(100_000, ok);
    assert_eq!(s.fetches.len(), 5, "nothing keeps running");
}

#[test]
fn a_polled_key_lives_while_polled_and_is_freed_after() {
    let mut s = sim(0.0);
    let p = s.poll_start(ACTIVITY, 5_000, false);
    s.run_until(1, |_, _| Reply::Status(500, None));
    assert_eq!(s.core.live_keys(), 1, "the poller keeps it");
    s.poll_stop(p);
    assert_eq!(s.freed, vec![ACTIVITY.to_string()]);
    assert_eq!(s.core.live_keys(), 0);
}
