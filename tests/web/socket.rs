//! The realtime socket against the reference server's `/ws`.
//!
//! `SLOW` is a second reference server whose WebSocket handshake takes 6 s
//! (started by `scripts/test.sh` with `--socket-delay-ms 6000`).

use calmfetch::shell::WasmClient;
use js_sys::{Array, Function};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

use crate::{
    client, control, kind, message, opts, prop, server_stats, settle, sleep, stat, SERVER,
};

const SLOW: &str = match option_env!("CALMFETCH_SLOW_SERVER") {
    Some(s) => s,
    None => "http://127.0.0.1:8788",
};

fn socket_client(server: &str, extra: &[(&str, JsValue)]) -> WasmClient {
    let mut s = vec![
        ("url", JsValue::from_str(&format!("{server}/ws"))),
        (
            "reconnect",
            opts(&[("minMs", 100.into()), ("maxMs", 400.into())]),
        ),
    ];
    s.extend(extra.iter().cloned());
    WasmClient::new(opts(&[
        ("baseUrl", server.into()),
        ("socket", opts(&s)),
        (
            "batch",
            opts(&[
                ("endpoint", format!("{server}/batch").into()),
                ("crossOrigin", true.into()),
            ]),
        ),
    ]))
    .expect("valid options")
}

/// A listener that records every snapshot it hears.
fn recorder() -> (Array, Closure<dyn FnMut(JsValue)>) {
    let seen = Array::new();
    let s2 = seen.clone();
    (
        seen,
        Closure::new(move |snap: JsValue| {
            s2.push(&snap);
        }),
    )
}

fn last_data(seen: &Array) -> JsValue {
    (0..seen.length())
        .rev()
        .map(|i| prop(&seen.get(i), "data"))
        .find(|d| !d.is_undefined())
        .unwrap_or(JsValue::UNDEFINED)
}

async fn socket_stat(server: &str, name: &str) -> f64 {
    prop(&prop(&server_stats(server).await, "socket"), name)
        .as_f64()
        .unwrap_or(-1.0)
}

async fn requests(server: &str) -> f64 {
    prop(&server_stats(server).await, "requests")
        .as_f64()
        .unwrap()
}

#[wasm_bindgen_test]
async fn fifty_subscribers_of_one_key_make_one_socket_subscription() {
    let subscribes = socket_stat(SERVER, "subscribeMessages").await;
    let before = requests(SERVER).await;
    let c = socket_client(SERVER, &[]);
    let (seen, listener) = recorder();
    let ids: Vec<u32> = (0..50)
        .map(|_| {
            c.subscribe(
                "/api/games/7".into(),
                listener.as_ref().clone(),
                JsValue::UNDEFINED,
            )
            .unwrap()
        })
        .collect();
    sleep(400).await;
    assert_eq!(
        socket_stat(SERVER, "subscribeMessages").await,
        subscribes + 1.0
    );
    assert_eq!(stat(&c, "socketSubscriptions"), 1);
    assert_eq!(
        prop(&last_data(&seen), "id").as_f64(),
        Some(7.0),
        "pushed data reached listeners"
    );
    assert_eq!(requests(SERVER).await, before, "no HTTP request at all");
    // Pushed updates reach listeners too.
    let n = seen.length();
    control(SERVER, "/__bump?path=/api/games/7", "").await;
    sleep(200).await;
    assert!(seen.length() > n, "a bump is pushed");
    for id in ids {
        c.unsubscribe(id);
    }
    sleep(1_300).await; // the linger
    assert_eq!(stat(&c, "socketSubscriptions"), 0);
    assert_eq!(prop(&c.stats(), "socketState").as_string().unwrap(), "idle");
}

#[wasm_bindgen_test]
async fn a_six_second_handshake_falls_back_to_one_http_request_and_then_goes_live() {
    let before = requests(SLOW).await;
    let c = socket_client(SLOW, &[("connectTimeoutMs", 5_000.into())]);
    let (seen, listener) = recorder();
    let keys = ["/api/games/1", "/api/games/1/odds", "/api/leaderboard"];
    for k in keys {
        c.subscribe(k.into(), listener.as_ref().clone(), JsValue::UNDEFINED)
            .unwrap();
    }
    sleep(4_500).await;
    assert!(
        last_data(&seen).is_undefined(),
        "waiting for the socket until the timeout"
    );
    sleep(1_000).await; // t = 5.5 s
    assert_eq!(
        requests(SLOW).await,
        before + 1.0,
        "the three keys came in one batch"
    );
    for k in keys {
        let snap = c.peek(k.into(), JsValue::UNDEFINED).unwrap();
        assert!(
            !prop(&snap, "data").is_undefined(),
            "{k} has data from HTTP"
        );
    }
    sleep(1_500).await; // t = 7 s: the handshake completed at 6 s
    assert_eq!(prop(&c.stats(), "socketState").as_string().unwrap(), "open");
    assert_eq!(stat(&c, "socketSubscriptions"), 3);
    sleep(1_700).await; // past the resync window: every key was pushed
    assert_eq!(
        requests(SLOW).await,
        before + 1.0,
        "no duplicate fetch once the socket is open"
    );
}

#[wasm_bindgen_test]
async fn a_dropped_socket_reconnects_resubscribes_and_keeps_data() {
    let c = socket_client(SERVER, &[]);
    let (seen, listener) = recorder();
    c.subscribe(
        "/api/games/8".into(),
        listener.as_ref().clone(),
        JsValue::UNDEFINED,
    )
    .unwrap();
    sleep(300).await;
    let first = last_data(&seen);
    assert!(!first.is_undefined());
    let subscribes = socket_stat(SERVER, "subscribeMessages").await;
    control(SERVER, "/__socket/drop", "").await;
    sleep(100).await;
    let snap = c.peek("/api/games/8".into(), JsValue::UNDEFINED).unwrap();
    assert!(
        !prop(&snap, "data").is_undefined(),
        "the cached data is still shown"
    );
    sleep(700).await;
    assert!(stat(&c, "socketDrops") >= 1);
    assert!(stat(&c, "socketReconnects") >= 1);
    assert!(
        socket_stat(SERVER, "subscribeMessages").await > subscribes,
        "resubscribed"
    );
    assert_eq!(prop(&c.stats(), "socketState").as_string().unwrap(), "open");
    let snap = c.peek("/api/games/8".into(), JsValue::UNDEFINED).unwrap();
    assert_eq!(
        prop(&snap, "stale").as_bool(),
        Some(false),
        "fresh again after the resubscribe push"
    );
}

#[wasm_bindgen_test]
async fn malformed_messages_are_reported_and_do_not_break_other_keys() {
    let problems = Array::new();
    let p2 = problems.clone();
    let on_error = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        p2.push(&e);
    });
    let c = socket_client(SERVER, &[("onError", on_error.as_ref().clone())]);
    let (seen, listener) = recorder();
    c.subscribe(
        "/api/games/9".into(),
        listener.as_ref().clone(),
        JsValue::UNDEFINED,
    )
    .unwrap();
    sleep(300).await;
    control(SERVER, "/__socket/send", "this is not json").await;
    control(SERVER, "/__socket/send", r#"{"type":"data"}"#).await;
    sleep(200).await;
    assert!(problems.length() >= 2, "{} problems", problems.length());
    let e = problems.get(0);
    assert_eq!(kind(&e), "socket");
    assert!(
        message(&e).contains("malformed socket message"),
        "{}",
        message(&e)
    );
    assert!(stat(&c, "socketMalformed") >= 2);
    let n = seen.length();
    control(SERVER, "/__bump?path=/api/games/9", "").await;
    sleep(200).await;
    assert!(seen.length() > n, "the subscription still works");
}

#[wasm_bindgen_test]
async fn an_adapter_carries_the_protocol() {
    // A fake transport: records what calmfetch sends and lets the test play
    // the server through the handlers calmfetch gives it.
    let sent = Array::new();
    let handlers: std::rc::Rc<std::cell::RefCell<JsValue>> = Default::default();
    let (s2, h2) = (sent.clone(), handlers.clone());
    let connect = Closure::<dyn FnMut(JsValue)>::new(move |h: JsValue| {
        *h2.borrow_mut() = h;
    });
    let send = Closure::<dyn FnMut(JsValue)>::new(move |t: JsValue| {
        s2.push(&t);
    });
    let adapter = opts(&[
        ("connect", connect.as_ref().clone()),
        ("send", send.as_ref().clone()),
    ]);
    let c = WasmClient::new(opts(&[
        ("baseUrl", SERVER.into()),
        ("socket", opts(&[("adapter", adapter)])),
    ]))
    .unwrap();
    let (seen, listener) = recorder();
    c.subscribe(
        "/api/user".into(),
        listener.as_ref().clone(),
        JsValue::UNDEFINED,
    )
    .unwrap();
    let h = handlers.borrow().clone();
    let call = |name: &str, arg: &JsValue| {
        let f: Function = prop(&h, name).into();
        f.call1(&JsValue::NULL, arg).unwrap();
    };
    call("open", &JsValue::UNDEFINED);
    assert_eq!(
        sent.get(0).as_string().unwrap(),
        r#"{"type":"subscribe","key":"/api/user"}"#
    );
    call(
        "message",
        &r#"{"type":"data","key":"/api/user","body":{"user":"sam"}}"#.into(),
    );
    assert_eq!(prop(&last_data(&seen), "user").as_string().unwrap(), "sam");
    assert_eq!(stat(&c, "networkRequests"), 0);
    let _ = settle(js_sys::Promise::resolve(&JsValue::NULL)).await;
}

#[wasm_bindgen_test]
async fn bad_socket_options_are_refused() {
    let bad = |s: JsValue| {
        WasmClient::new(opts(&[("socket", s)]))
            .map(|_| ())
            .unwrap_err()
    };
    assert!(message(&bad(opts(&[]))).contains("needs a `url` or an `adapter`"));
    assert!(message(&bad(opts(&[("url", "ftp://x/ws".into())]))).contains("scheme"));
    assert!(message(&bad(opts(&[("adapter", opts(&[]))]))).contains("connect"));
    let e = bad(opts(&[
        ("url", "/ws".into()),
        (
            "reconnect",
            opts(&[("minMs", 10.into()), ("maxMs", 5.into())]),
        ),
    ]));
    assert!(message(&e).contains("maxMs"), "{}", message(&e));
    let _ = client(&[]);
}
