//! Batching in the browser against the reference server's `/batch`.

use calmfetch::shell::WasmClient;
use js_sys::{Array, Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

use crate::{client, kind, message, opts, prop, server_count, settle, sleep, stat, tag, SERVER};

/// A batching client whose endpoint is `path` on the test server.
fn batching(path: &str, extra: &[(&str, JsValue)]) -> WasmClient {
    let mut b = vec![
        ("endpoint", JsValue::from_str(&format!("{SERVER}{path}"))),
        ("crossOrigin", true.into()),
    ];
    b.extend(extra.iter().cloned());
    client(&[("batch", opts(&b))])
}

fn get(c: &WasmClient, url: &str) -> Promise {
    c.get(url.into(), JsValue::UNDEFINED)
}

async fn all(ps: Vec<Promise>) -> Vec<Result<JsValue, JsValue>> {
    let mut out = Vec::new();
    for p in ps {
        out.push(settle(p).await);
    }
    out
}

#[wasm_bindgen_test]
async fn eight_component_calls_leave_as_one_post_and_fan_out_in_any_order() {
    let c = batching("/batch", &[]);
    let t = tag("fan");
    // Different delays make the server finish items out of order.
    let urls: Vec<String> = (0..8)
        .map(|i| format!("/test/echo?tag={t}-{i}&delay={}", (8 - i) * 15))
        .collect();
    let results = all(urls.iter().map(|u| get(&c, u)).collect()).await;
    for (i, r) in results.into_iter().enumerate() {
        let body = r.expect("every item answers");
        let got = prop(&prop(&body, "query"), "tag").as_string().unwrap();
        assert_eq!(got, format!("{t}-{i}"), "each caller gets its own answer");
        assert_eq!(server_count(&format!("{t}-{i}")).await, 1);
    }
    assert_eq!(stat(&c, "batchesSent"), 1);
    assert_eq!(stat(&c, "batchedItems"), 8);
}

#[wasm_bindgen_test]
async fn a_streamed_batch_does_not_wait_for_its_slowest_item() {
    let c = batching("/batch", &[("stream", true.into())]);
    let t = tag("stream");
    let start = js_sys::Date::now();
    let slow = get(&c, &format!("/test/echo?tag={t}-slow&delay=2000"));
    let fast = get(&c, &format!("/test/echo?tag={t}-fast&delay=10"));
    let body = settle(fast).await.unwrap();
    let fast_ms = js_sys::Date::now() - start;
    assert_eq!(
        prop(&prop(&body, "query"), "tag").as_string().unwrap(),
        format!("{t}-fast")
    );
    assert!(fast_ms < 1000.0, "the fast item took {fast_ms} ms");
    settle(slow).await.unwrap();
    let slow_ms = js_sys::Date::now() - start;
    assert!(slow_ms >= 1900.0, "the slow item took {slow_ms} ms");
    assert_eq!(stat(&c, "batchesSent"), 1);
}

#[wasm_bindgen_test]
async fn a_missing_id_rejects_only_its_caller_with_a_named_error() {
    let c = batching("/batch?fault=missing-id", &[]);
    let t = tag("missing");
    let r = all(vec![
        get(&c, &format!("/test/echo?tag={t}-a")),
        get(&c, &format!("/test/echo?tag={t}-b")),
    ])
    .await;
    let e = r[0].clone().unwrap_err();
    assert_eq!(kind(&e), "batch");
    assert!(
        message(&e).contains("has no item with id"),
        "{}",
        message(&e)
    );
    assert!(
        message(&e).contains(&format!("{t}-a")),
        "names the URL: {}",
        message(&e)
    );
    assert!(r[1].is_ok());
    assert_eq!(stat(&c, "batchProtocolErrors"), 1);
}

#[wasm_bindgen_test]
async fn extra_and_duplicate_ids_are_ignored_and_counted() {
    for fault in ["extra-id", "duplicate-id"] {
        let c = batching(&format!("/batch?fault={fault}"), &[]);
        let t = tag(fault);
        let r = all(vec![
            get(&c, &format!("/test/echo?tag={t}-a")),
            get(&c, &format!("/test/echo?tag={t}-b")),
        ])
        .await;
        assert!(r.iter().all(Result::is_ok), "{fault}: {r:?}");
        assert_eq!(stat(&c, "batchIgnoredAnswers"), 1, "{fault}");
    }
}

#[wasm_bindgen_test]
async fn truncated_or_garbage_answers_reject_every_waiting_caller() {
    for (fault, stream, needle) in [
        ("truncated-json", false, "truncated"),
        ("garbage", false, "not the expected JSON"),
        ("truncated-ndjson", true, "mid-line"),
    ] {
        let c = batching(
            &format!("/batch?fault={fault}"),
            &[("stream", stream.into())],
        );
        let t = tag(fault);
        let urls: Vec<String> = (0..3)
            .map(|i| format!("/test/echo?tag={t}-{i}&delay={}", i * 50))
            .collect();
        let r = all(urls.iter().map(|u| get(&c, u)).collect()).await;
        let failed: Vec<JsValue> = r.into_iter().filter_map(Result::err).collect();
        assert!(!failed.is_empty(), "{fault}: someone must fail");
        for e in &failed {
            assert_eq!(kind(e), "batch", "{fault}");
            assert!(message(e).contains(needle), "{fault}: {}", message(e));
        }
        if fault == "truncated-ndjson" {
            assert_eq!(
                failed.len(),
                2,
                "the first line arrived whole and resolved its caller"
            );
        } else {
            assert_eq!(failed.len(), 3);
        }
    }
}

#[wasm_bindgen_test]
async fn a_whole_batch_500_rejects_each_caller_with_it() {
    let c = batching("/batch?fault=status-500", &[]);
    let t = tag("b500");
    let r = all(vec![
        get(&c, &format!("/test/echo?tag={t}-a")),
        get(&c, &format!("/test/echo?tag={t}-b")),
    ])
    .await;
    for e in r.into_iter().map(Result::unwrap_err) {
        assert_eq!(kind(&e), "http");
        assert_eq!(prop(&e, "status").as_f64(), Some(500.0));
    }
}

#[wasm_bindgen_test]
async fn a_server_without_the_endpoint_gets_plain_requests_and_no_errors() {
    let c = batching("/test/no-batch-endpoint-here", &[]);
    let t = tag("fallback");
    let r = all((0..3)
        .map(|i| get(&c, &format!("/test/echo?tag={t}-{i}")))
        .collect())
    .await;
    assert!(r.iter().all(Result::is_ok), "{r:?}");
    for i in 0..3 {
        assert_eq!(server_count(&format!("{t}-{i}")).await, 1);
    }
    assert_eq!(stat(&c, "batchFallbacks"), 3);
    // Remembered: the next burst goes straight out as plain requests.
    let r = all((0..2)
        .map(|i| get(&c, &format!("/test/echo?tag={t}-again-{i}")))
        .collect())
    .await;
    assert!(r.iter().all(Result::is_ok));
    assert_eq!(stat(&c, "batchesSent"), 1);
}

#[wasm_bindgen_test]
async fn an_item_error_rejects_only_its_callers() {
    let c = batching("/batch", &[]);
    let t = tag("item404");
    let r = all(vec![
        get(&c, &format!("/test/echo?tag={t}-a&status=404")),
        get(&c, &format!("/test/echo?tag={t}-b")),
    ])
    .await;
    let e = r[0].clone().unwrap_err();
    assert_eq!(kind(&e), "http");
    assert_eq!(prop(&e, "status").as_f64(), Some(404.0));
    assert_eq!(
        prop(&prop(&e, "body"), "error").as_string().unwrap(),
        "status 404"
    );
    assert!(r[1].is_ok());
}

#[wasm_bindgen_test]
async fn stale_entries_revalidate_with_etags_and_304() {
    let c = client(&[
        ("cache", opts(&[("ttlMs", 100.into())])),
        (
            "batch",
            opts(&[
                ("endpoint", format!("{SERVER}/batch").into()),
                ("crossOrigin", true.into()),
            ]),
        ),
    ]);
    let urls = ["/api/games/3", "/api/games/4"];
    let first = all(urls.iter().map(|u| get(&c, u)).collect()).await;
    sleep(150).await;
    let second = all(urls.iter().map(|u| get(&c, u)).collect()).await;
    for (a, b) in first.iter().zip(&second) {
        let (a, b) = (a.clone().unwrap(), b.clone().unwrap());
        assert!(Object::is(&a, &b), "a 304 hands back the cached body");
    }
    assert_eq!(stat(&c, "batchesSent"), 2);
    assert_eq!(stat(&c, "revalidated"), 2);
}

#[wasm_bindgen_test]
async fn an_aborted_item_is_dropped_before_the_batch_leaves() {
    let c = batching("/batch", &[("windowMs", 50.into())]);
    let t = tag("dropped");
    let ctrl = web_sys::AbortController::new().unwrap();
    let a = c.get(
        format!("/test/echo?tag={t}-a").into(),
        opts(&[("signal", ctrl.signal().into())]),
    );
    let b = get(&c, &format!("/test/echo?tag={t}-b"));
    let d = get(&c, &format!("/test/echo?tag={t}-d"));
    ctrl.abort();
    assert_eq!(kind(&settle(a).await.unwrap_err()), "abort");
    assert!(settle(b).await.is_ok() && settle(d).await.is_ok());
    assert_eq!(
        server_count(&format!("{t}-a")).await,
        0,
        "the aborted item never left"
    );
    assert_eq!(stat(&c, "batchedItems"), 2);
}

#[wasm_bindgen_test]
async fn bad_batch_options_are_refused() {
    let bad = |o: JsValue| WasmClient::new(o).map(|_| ()).unwrap_err();
    let e = bad(opts(&[(
        "batch",
        opts(&[("endpoint", format!("{SERVER}/batch").into())]),
    )]));
    assert!(message(&e).contains("crossOrigin"), "{}", message(&e));
    let e = bad(opts(&[("batch", opts(&[("window", 5.into())]))]));
    assert!(
        message(&e).contains("unknown option `window`"),
        "{}",
        message(&e)
    );
    let e = bad(opts(&[("batch", opts(&[("maxSize", 0.into())]))]));
    assert!(message(&e).contains("batch.maxSize"), "{}", message(&e));
    let _ = Array::new().unchecked_into::<JsValue>();
}
