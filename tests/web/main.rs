//! The browser shell in headless Chromium against the reference server.
//!
//! `scripts/test.sh` starts the server on 127.0.0.1 and passes its address
//! at compile time in `CALMFETCH_TEST_SERVER`. Each test tags its requests
//! with a unique `tag` so it counts only its own at the server.
#![cfg(target_arch = "wasm32")]

use calmfetch::shell::WasmClient;
use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

mod batch;
mod poll;
mod socket;

pub(crate) const SERVER: &str = match option_env!("CALMFETCH_TEST_SERVER") {
    Some(s) => s,
    None => "http://127.0.0.1:8787",
};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(f: &Function, ms: f64) -> JsValue;
}

pub(crate) async fn sleep(ms: u32) {
    let p = Promise::new(&mut |resolve, _| {
        set_timeout(&resolve, ms as f64);
    });
    JsFuture::from(p).await.unwrap();
}

pub(crate) fn tag(name: &str) -> String {
    format!("{name}-{}", (js_sys::Math::random() * 1e9) as u64)
}

pub(crate) fn prop(v: &JsValue, name: &str) -> JsValue {
    Reflect::get(v, &name.into()).unwrap()
}

pub(crate) fn opts(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &(*k).into(), v).unwrap();
    }
    o.into()
}

pub(crate) fn client(pairs: &[(&str, JsValue)]) -> WasmClient {
    let mut all = vec![("baseUrl", JsValue::from_str(SERVER))];
    all.extend(pairs.iter().cloned());
    WasmClient::new(opts(&all)).expect("valid options")
}

/// How many requests with `tag` the server has counted.
pub(crate) async fn server_count(tag: &str) -> u32 {
    let url = format!("{SERVER}/test/count?tag={tag}");
    let resp: web_sys::Response = JsFuture::from(web_sys::window().unwrap().fetch_with_str(&url))
        .await
        .unwrap()
        .unchecked_into();
    let body = JsFuture::from(resp.json().unwrap()).await.unwrap();
    prop(&body, "count").as_f64().unwrap() as u32
}

pub(crate) async fn settle(p: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(p).await
}

pub(crate) fn kind(e: &JsValue) -> String {
    prop(e, "kind").as_string().unwrap_or_default()
}

pub(crate) fn message(e: &JsValue) -> String {
    prop(e, "message").as_string().unwrap_or_default()
}

pub(crate) fn stat(c: &WasmClient, name: &str) -> u32 {
    prop(&c.stats(), name).as_f64().unwrap() as u32
}

#[wasm_bindgen_test]
async fn hundred_concurrent_gets_are_one_request() {
    let c = client(&[]);
    let t = tag("hundred");
    let url = format!("/test/echo?tag={t}&delay=50");
    let calls: Vec<Promise> = (0..100)
        .map(|_| c.get(url.clone().into(), JsValue::UNDEFINED))
        .collect();
    let all = settle(Promise::all(&calls.into_iter().collect::<js_sys::Array>()))
        .await
        .unwrap();
    let all: js_sys::Array = all.unchecked_into();
    assert_eq!(all.length(), 100);
    let first = all.get(0);
    assert_eq!(prop(&prop(&first, "query"), "tag").as_string().unwrap(), t);
    for v in all.iter() {
        assert!(Object::is(&v, &first), "every caller gets the same body");
    }
    assert_eq!(server_count(&t).await, 1);
    assert_eq!(stat(&c, "networkRequests"), 1);
    assert_eq!(stat(&c, "dedupHits"), 99);
}

#[wasm_bindgen_test]
async fn ttl_expiry_refetches() {
    let c = client(&[("cache", opts(&[("ttlMs", 300.into())]))]);
    let t = tag("ttl");
    let url = JsValue::from_str(&format!("/test/echo?tag={t}"));
    let a = settle(c.get(url.clone(), JsValue::UNDEFINED))
        .await
        .unwrap();
    let b = settle(c.get(url.clone(), JsValue::UNDEFINED))
        .await
        .unwrap();
    assert!(Object::is(&a, &b), "served from cache");
    assert_eq!(server_count(&t).await, 1);
    sleep(400).await;
    let d = settle(c.get(url.clone(), JsValue::UNDEFINED))
        .await
        .unwrap();
    assert_eq!(prop(&d, "n").as_f64(), Some(2.0));
    assert_eq!(server_count(&t).await, 2);
    assert_eq!(stat(&c, "cacheHits"), 1);
}

#[wasm_bindgen_test]
async fn aborting_one_caller_keeps_the_request() {
    let c = client(&[]);
    let t = tag("abort-one");
    let url = JsValue::from_str(&format!("/test/echo?tag={t}&delay=300"));
    let ctrl = web_sys::AbortController::new().unwrap();
    let a = c.get(url.clone(), opts(&[("signal", ctrl.signal().into())]));
    let b = c.get(url.clone(), JsValue::UNDEFINED);
    sleep(50).await;
    ctrl.abort();
    let ea = settle(a).await.unwrap_err();
    assert_eq!(kind(&ea), "abort");
    assert_eq!(prop(&ea, "name").as_string().unwrap(), "AbortError");
    let vb = settle(b).await.unwrap();
    assert_eq!(prop(&prop(&vb, "query"), "tag").as_string().unwrap(), t);
    assert_eq!(server_count(&t).await, 1);
    assert_eq!(stat(&c, "cancelledRequests"), 0);
}

#[wasm_bindgen_test]
async fn aborting_every_caller_aborts_the_request() {
    let c = client(&[]);
    let t = tag("abort-all");
    let url = JsValue::from_str(&format!("/test/echo?tag={t}&delay=500"));
    let c1 = web_sys::AbortController::new().unwrap();
    let c2 = web_sys::AbortController::new().unwrap();
    let a = c.get(url.clone(), opts(&[("signal", c1.signal().into())]));
    let b = c.get(url.clone(), opts(&[("signal", c2.signal().into())]));
    sleep(50).await;
    c1.abort();
    c2.abort();
    assert_eq!(kind(&settle(a).await.unwrap_err()), "abort");
    assert_eq!(kind(&settle(b).await.unwrap_err()), "abort");
    assert_eq!(stat(&c, "cancelledRequests"), 1);
    assert_eq!(stat(&c, "inFlight"), 0);
    // Nothing was cached from the aborted request.
    let e = c.peek(url.clone(), JsValue::UNDEFINED).unwrap();
    assert!(prop(&e, "data").is_undefined());
    // An already-aborted signal rejects at once without a request.
    let p = c.get(
        format!("/test/echo?tag={t}-pre").into(),
        opts(&[("signal", c1.signal().into())]),
    );
    assert_eq!(kind(&settle(p).await.unwrap_err()), "abort");
    assert_eq!(server_count(&format!("{t}-pre")).await, 0);
}

#[wasm_bindgen_test]
async fn timeout_rejects_with_a_timeout_error() {
    let c = client(&[("timeoutMs", 200.into())]);
    let t = tag("timeout");
    let start = js_sys::Date::now();
    let url = JsValue::from_str(&format!("/test/echo?tag={t}&delay=2000"));
    let a = c.get(url.clone(), JsValue::UNDEFINED);
    let b = c.get(url.clone(), JsValue::UNDEFINED);
    let ea = settle(a).await.unwrap_err();
    let eb = settle(b).await.unwrap_err();
    let took = js_sys::Date::now() - start;
    assert_eq!(kind(&ea), "timeout");
    assert_eq!(prop(&ea, "name").as_string().unwrap(), "TimeoutError");
    assert!(Object::is(&ea, &eb), "joined callers get the same error");
    assert!(
        message(&ea).contains("timed out after 200 ms"),
        "{}",
        message(&ea)
    );
    assert!(took < 1500.0, "took {took} ms");
    assert_eq!(stat(&c, "timeouts"), 1);
}

#[wasm_bindgen_test]
async fn http_500_is_an_http_error_with_status_and_body() {
    let c = client(&[]);
    let t = tag("h500");
    let url = JsValue::from_str(&format!("/test/echo?tag={t}&status=500"));
    let a = c.get(url.clone(), JsValue::UNDEFINED);
    let b = c.get(url.clone(), JsValue::UNDEFINED);
    let ea = settle(a).await.unwrap_err();
    let eb = settle(b).await.unwrap_err();
    assert!(Object::is(&ea, &eb));
    assert!(ea.is_instance_of::<js_sys::Error>());
    assert_eq!(kind(&ea), "http");
    assert_eq!(prop(&ea, "status").as_f64(), Some(500.0));
    assert_eq!(
        prop(&prop(&ea, "body"), "error").as_string().unwrap(),
        "status 500"
    );
    assert!(
        message(&ea).contains(&t),
        "the message names the URL: {}",
        message(&ea)
    );
    // Errors are not cached.
    let _ = settle(c.get(url.clone(), JsValue::UNDEFINED)).await;
    assert_eq!(server_count(&t).await, 2);
}

#[wasm_bindgen_test]
async fn non_json_body_is_a_parse_error() {
    let c = client(&[]);
    let t = tag("text");
    let e = settle(c.get(format!("/test/text?tag={t}").into(), JsValue::UNDEFINED))
        .await
        .unwrap_err();
    assert_eq!(kind(&e), "parse");
    assert!(message(&e).contains("not JSON"), "{}", message(&e));
    assert!(message(&e).contains("/test/text"), "{}", message(&e));
}

#[wasm_bindgen_test]
async fn closed_port_is_a_network_error() {
    let c = client(&[]);
    let e = settle(c.get("http://127.0.0.1:9/nothing".into(), JsValue::UNDEFINED))
        .await
        .unwrap_err();
    assert_eq!(kind(&e), "network");
    assert!(
        message(&e).contains("http://127.0.0.1:9/nothing"),
        "{}",
        message(&e)
    );
}

#[wasm_bindgen_test]
async fn bad_input_is_refused_with_a_named_error() {
    let c = client(&[]);
    let e = settle(c.get("http://[oops".into(), JsValue::UNDEFINED))
        .await
        .unwrap_err();
    assert_eq!(kind(&e), "invalid");
    assert!(message(&e).contains("http://[oops"), "{}", message(&e));
    let e = settle(c.get("ftp://x.test/a".into(), JsValue::UNDEFINED))
        .await
        .unwrap_err();
    assert!(message(&e).contains("not an http"), "{}", message(&e));
    let e = settle(c.get(42.into(), JsValue::UNDEFINED))
        .await
        .unwrap_err();
    assert!(message(&e).contains("must be a string"), "{}", message(&e));
    let e = settle(c.get("/x".into(), opts(&[("ttl", 5.into())])))
        .await
        .unwrap_err();
    assert!(
        message(&e).contains("unknown option `ttl`"),
        "{}",
        message(&e)
    );
    let e = settle(c.get("/x".into(), opts(&[("ttlMs", (-1).into())])))
        .await
        .unwrap_err();
    assert!(message(&e).contains("get.ttlMs"), "{}", message(&e));
    let e = settle(c.get("/x".into(), opts(&[("signal", "no".into())])))
        .await
        .unwrap_err();
    assert!(message(&e).contains("AbortSignal"), "{}", message(&e));

    let bad = |o: JsValue| WasmClient::new(o).map(|_| ()).unwrap_err();
    let e = bad(opts(&[("cache", opts(&[("maxEntries", 0.into())]))]));
    assert_eq!(kind(&e), "invalid");
    assert!(message(&e).contains("cache.maxEntries"), "{}", message(&e));
    let e = bad(opts(&[("credentials", "sometimes".into())]));
    assert!(message(&e).contains("credentials"), "{}", message(&e));
    let e = bad(opts(&[("timeout", 5.into())]));
    assert!(
        message(&e).contains("unknown option `timeout`"),
        "{}",
        message(&e)
    );
    let e = bad(opts(&[("headers", opts(&[("X-A", 1.into())]))]));
    assert!(message(&e).contains("X-A"), "{}", message(&e));
    let e = bad("nope".into());
    assert!(message(&e).contains("must be an object"), "{}", message(&e));
}

#[wasm_bindgen_test]
async fn credentials_partition_the_cache() {
    let c = client(&[("cache", opts(&[("ttlMs", 60_000.into())]))]);
    let t = tag("cred");
    let url = JsValue::from_str(&format!("/test/echo?tag={t}"));
    let as_user = |u: &str| {
        opts(&[(
            "headers",
            opts(&[("Authorization", format!("Bearer {u}").into())]),
        )])
    };
    let a = settle(c.get(url.clone(), as_user("alice"))).await.unwrap();
    let b = settle(c.get(url.clone(), as_user("bob"))).await.unwrap();
    assert_eq!(prop(&a, "auth").as_string().unwrap(), "Bearer alice");
    assert_eq!(prop(&b, "auth").as_string().unwrap(), "Bearer bob");
    let a2 = settle(c.get(url.clone(), as_user("alice"))).await.unwrap();
    assert!(Object::is(&a, &a2));
    let p = settle(c.get(url.clone(), opts(&[("partition", "user-7".into())])))
        .await
        .unwrap();
    assert!(prop(&p, "auth").is_null());
    assert_eq!(server_count(&t).await, 3);
}

#[wasm_bindgen_test]
async fn subscribe_hears_its_key_and_stops_when_removed() {
    let c = client(&[]);
    let t = tag("sub");
    let url = JsValue::from_str(&format!("/test/echo?tag={t}"));
    let seen = js_sys::Array::new();
    let seen2 = seen.clone();
    let listener = Closure::<dyn FnMut(JsValue)>::new(move |s: JsValue| {
        seen2.push(&s);
    });
    let id = c
        .subscribe(url.clone(), listener.as_ref().clone(), JsValue::UNDEFINED)
        .unwrap();
    // Another key does not reach this listener.
    settle(c.get(
        format!("/test/echo?tag={t}-other").into(),
        JsValue::UNDEFINED,
    ))
    .await
    .unwrap();
    assert_eq!(seen.length(), 0);
    let body = settle(c.get(url.clone(), JsValue::UNDEFINED))
        .await
        .unwrap();
    assert_eq!(seen.length(), 2, "fetching, then data");
    assert_eq!(prop(&seen.get(0), "isFetching").as_bool(), Some(true));
    let last = seen.get(1);
    assert!(Object::is(&prop(&last, "data"), &body));
    assert_eq!(prop(&last, "stale").as_bool(), Some(false));
    assert!(prop(&last, "updatedAt").as_f64().unwrap() > 0.0);
    // The snapshot object is stable while nothing changes.
    let p1 = c.peek(url.clone(), JsValue::UNDEFINED).unwrap();
    let p2 = c.peek(url.clone(), JsValue::UNDEFINED).unwrap();
    assert!(Object::is(&p1, &p2));
    assert_eq!(c.invalidate(url.clone()).unwrap(), 1);
    assert_eq!(seen.length(), 3);
    assert_eq!(prop(&seen.get(2), "stale").as_bool(), Some(true));
    c.unsubscribe(id);
    c.unsubscribe(id);
    settle(c.get(url.clone(), JsValue::UNDEFINED))
        .await
        .unwrap();
    assert_eq!(seen.length(), 3, "nothing after unsubscribe");
    assert_eq!(server_count(&t).await, 2);
}

#[wasm_bindgen_test]
async fn subscribers_see_errors_and_listener_errors_are_contained() {
    let c = client(&[]);
    let t = tag("suberr");
    let url = JsValue::from_str(&format!("/test/echo?tag={t}&status=503"));
    let thrower = Function::new_no_args("throw new Error('listener bug')");
    c.subscribe(url.clone(), thrower.into(), JsValue::UNDEFINED)
        .unwrap();
    let e = settle(c.get(url.clone(), JsValue::UNDEFINED))
        .await
        .unwrap_err();
    assert_eq!(prop(&e, "status").as_f64(), Some(503.0));
    let snap = c.peek(url.clone(), JsValue::UNDEFINED).unwrap();
    assert_eq!(kind(&prop(&snap, "error")), "http");
    assert!(prop(&snap, "data").is_undefined());
}

/// The reference server's own counters (`GET /__stats`) of `server`.
pub(crate) async fn server_stats(server: &str) -> JsValue {
    let url = format!("{server}/__stats");
    let resp: web_sys::Response = JsFuture::from(web_sys::window().unwrap().fetch_with_str(&url))
        .await
        .unwrap()
        .unchecked_into();
    JsFuture::from(resp.json().unwrap()).await.unwrap()
}

/// POST to a control route of `server`.
pub(crate) async fn control(server: &str, path: &str, body: &str) {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str(body));
    let url = format!("{server}{path}");
    JsFuture::from(
        web_sys::window()
            .unwrap()
            .fetch_with_str_and_init(&url, &init),
    )
    .await
    .unwrap();
}
