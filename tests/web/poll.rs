//! Polling in the browser against the reference server.

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

use crate::{client, kind, message, opts, server_count, settle, sleep, stat, tag};

#[wasm_bindgen_test]
async fn pollers_of_one_key_share_one_schedule_and_stop_cleanly() {
    let c = client(&[("cache", opts(&[("ttlMs", 0.into())]))]);
    let t = tag("poll");
    let url = JsValue::from_str(&format!("/test/echo?tag={t}"));
    let a = c
        .poll(url.clone(), opts(&[("intervalMs", 300.into())]))
        .unwrap();
    let b = c
        .poll(url.clone(), opts(&[("intervalMs", 300.into())]))
        .unwrap();
    let slow = c
        .poll(url.clone(), opts(&[("intervalMs", 5_000.into())]))
        .unwrap();
    sleep(1_000).await;
    let n = server_count(&t).await;
    // Ticks at about 0, 300, 600, 900 ms (±10% jitter): three pollers, one schedule.
    assert!((3..=5).contains(&n), "{n} requests in 1 s");
    c.poll_stop(a);
    c.poll_stop(b);
    sleep(700).await;
    let after_fast_stopped = server_count(&t).await;
    assert!(
        after_fast_stopped <= n + 1,
        "the 5 s poller is left: {after_fast_stopped}"
    );
    c.poll_stop(slow);
    c.poll_stop(slow); // twice is harmless
    let stopped = server_count(&t).await;
    sleep(900).await;
    assert_eq!(
        server_count(&t).await,
        stopped,
        "nothing polls after the last stop"
    );
}

#[wasm_bindgen_test]
async fn a_poll_tick_answers_from_fresh_cache_and_joins_gets() {
    let c = client(&[("cache", opts(&[("ttlMs", 60_000.into())]))]);
    let t = tag("pollcache");
    let url = JsValue::from_str(&format!("/test/echo?tag={t}&delay=100"));
    let get = c.get(url.clone(), JsValue::UNDEFINED);
    let p = c
        .poll(url.clone(), opts(&[("intervalMs", 400.into())]))
        .unwrap();
    settle(get).await.unwrap();
    assert_eq!(
        server_count(&t).await,
        1,
        "the first tick joined the get in flight"
    );
    sleep(1_000).await;
    let n = server_count(&t).await;
    assert!(
        (2..=4).contains(&n),
        "polling refreshes even a long-TTL entry: {n}"
    );
    c.poll_stop(p);
    assert!(stat(&c, "pollTicks") >= 2);
}

#[wasm_bindgen_test]
async fn retry_after_is_honoured_in_the_browser() {
    let c = client(&[]);
    let t = tag("retry");
    let url = JsValue::from_str(&format!("/test/echo?tag={t}&status=429&retryAfter=1"));
    let p = c.poll(url, opts(&[("intervalMs", 100.into())])).unwrap();
    sleep(700).await;
    assert_eq!(
        server_count(&t).await,
        1,
        "Retry-After: 1 holds the next tick for a second"
    );
    sleep(600).await;
    assert_eq!(server_count(&t).await, 2);
    c.poll_stop(p);
}

#[wasm_bindgen_test]
async fn refreshes_in_a_burst_collapse_into_one_request() {
    let c = client(&[]);
    let t = tag("refresh");
    let url = JsValue::from_str(&format!("/test/echo?tag={t}"));
    let ps: Vec<Promise> = (0..5)
        .map(|_| c.refresh(url.clone(), JsValue::UNDEFINED))
        .collect();
    for p in ps {
        settle(p).await.unwrap();
    }
    settle(c.refresh(url.clone(), JsValue::UNDEFINED))
        .await
        .unwrap();
    assert_eq!(server_count(&t).await, 1);
    sleep(300).await;
    settle(c.refresh(url.clone(), JsValue::UNDEFINED))
        .await
        .unwrap();
    assert_eq!(
        server_count(&t).await,
        2,
        "after the debounce window a refresh goes out"
    );
}

#[wasm_bindgen_test]
async fn bad_poll_options_are_refused() {
    let c = client(&[]);
    let e = c.poll("/x".into(), opts(&[])).unwrap_err();
    assert_eq!(kind(&e), "invalid");
    assert!(message(&e).contains("intervalMs"), "{}", message(&e));
    let e = c
        .poll("/x".into(), opts(&[("intervalMs", 0.into())]))
        .unwrap_err();
    assert!(message(&e).contains("poll.intervalMs"), "{}", message(&e));
    let e = c
        .poll(
            "/x".into(),
            opts(&[("intervalMs", 10.into()), ("every", 1.into())]),
        )
        .unwrap_err();
    assert!(
        message(&e).contains("unknown option `every`"),
        "{}",
        message(&e)
    );
}
