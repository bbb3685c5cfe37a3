//! Small helpers over the JS globals the shell needs, and error objects.
//!
//! Globals are bound directly (`fetch`, `setTimeout`) rather than through
//! `window`, so the shell also runs in workers.

use js_sys::{Function, Object, Reflect};
use wasm_bindgen::prelude::*;

use crate::core::FetchError;

#[wasm_bindgen]
extern "C" {
    /// The global `fetch`, looked up at each call. It may throw at once
    /// (a bad init, a wrapper that throws): that is an `Err`, never an
    /// exception through the shell.
    #[wasm_bindgen(catch, js_name = fetch)]
    pub fn fetch_with_init(
        input: &str,
        init: &web_sys::RequestInit,
    ) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout_raw(handler: &Function, ms: f64) -> JsValue;
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
    /// `JSON.parse` of a JS string, which stays in JS (no copy into wasm
    /// memory).
    #[wasm_bindgen(catch, js_namespace = JSON, js_name = parse)]
    pub fn json_parse(text: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = clearTimeout)]
    pub fn clear_timeout(handle: &JsValue);
    /// JS `String(value)`.
    #[wasm_bindgen(js_name = String)]
    pub fn to_string(value: &JsValue) -> String;
}

thread_local! {
    static ERROR_CLASS: std::cell::RefCell<Option<Function>> = const { std::cell::RefCell::new(None) };
    static PANIC_HANDLER: std::cell::RefCell<Option<Function>> = const { std::cell::RefCell::new(None) };
}

/// Called once by the package's `index.js` with the function that stops
/// every client when the wasm panics. A panic aborts the wasm instance (there
/// is no unwinding on wasm32), so its state can no longer be trusted: before
/// it aborts, the hook hands the message to JS, which rejects every pending
/// promise and makes every later call fail fast with a clear error.
#[wasm_bindgen(js_name = __setPanicHandler)]
pub fn set_panic_handler(handler: Function) {
    PANIC_HANDLER.with(|h| *h.borrow_mut() = Some(handler));
    std::panic::set_hook(Box::new(|info| {
        let message = info.to_string();
        let handler = PANIC_HANDLER.with(|h| h.try_borrow().ok().and_then(|h| h.clone()));
        if let Some(f) = handler {
            let _ = f.call1(&JsValue::NULL, &JsValue::from_str(&message));
        }
    }));
}

/// Panics on purpose: lets the tests check that a panic stops every client
/// cleanly (`tests/faults`). Not part of the public API.
#[wasm_bindgen(js_name = __panicForTests)]
pub fn panic_for_tests() {
    panic!("a deliberate panic for the tests");
}

/// Called once by the package's `index.js` with its `CalmfetchError` class,
/// so that every error the shell makes is an instance of it.
#[wasm_bindgen(js_name = __setErrorClass)]
pub fn set_error_class(class: Function) {
    ERROR_CLASS.with(|c| *c.borrow_mut() = Some(class));
}

/// The longest delay `setTimeout` takes: longer ones fire at once.
const MAX_DELAY_MS: f64 = 2_147_483_647.0;

/// `setTimeout(handler, ms)` with `ms` clamped to what timers accept (a
/// delay of 2^31 ms or more would fire at once, and re-arm in a busy loop).
/// Whoever arms a longer deadline finds it not yet due when this fires, and
/// arms again.
pub fn set_timeout(handler: &Function, ms: f64) -> JsValue {
    set_timeout_raw(handler, ms.clamp(0.0, MAX_DELAY_MS))
}

thread_local! {
    /// Wall-clock ms at `performance.now() == 0`, read once.
    static CLOCK_ORIGIN: std::cell::Cell<Option<f64>> = const { std::cell::Cell::new(None) };
}

/// The core's clock: monotonic milliseconds (`performance.now()`), offset
/// once to read like ms since the epoch. When the wall clock steps back or
/// forward, no deadline moves.
pub fn now() -> u64 {
    let origin = CLOCK_ORIGIN.with(|o| match o.get() {
        Some(v) => v,
        None => {
            let v = js_sys::Date::now() - performance_now();
            o.set(Some(v));
            v
        }
    });
    (origin + performance_now()) as u64
}

/// The wall clock, for HTTP dates (`Retry-After`).
pub fn wall_now() -> u64 {
    js_sys::Date::now() as u64
}

/// `obj[name]`, or `undefined`.
pub fn get(obj: &JsValue, name: &str) -> JsValue {
    // Not `Reflect.get` on `undefined` and friends: it throws, and with
    // wasm-bindgen 0.2.130 each caught exception keeps one externref slot
    // for good (measured: 5 slots leaked per `get(url)` without options).
    if !obj.is_object() && !obj.is_function() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(obj, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

/// `obj[name] = value` on a plain object.
pub fn set(obj: &Object, name: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(obj, &JsValue::from_str(name), &value.into());
}

/// The details every calmfetch error carries besides its message.
#[derive(Debug, Default)]
pub struct ErrorInfo<'a> {
    pub kind: &'a str,
    pub url: Option<&'a str>,
    pub status: Option<u16>,
    pub body: Option<JsValue>,
}

/// Make a `CalmfetchError` (a plain `Error` with the same fields if the
/// class was never registered). `name` is `AbortError` for aborts and
/// `TimeoutError` for timeouts, as `fetch` users expect.
pub fn make_error(message: &str, info: ErrorInfo<'_>) -> JsValue {
    let details = Object::new();
    set(&details, "kind", info.kind);
    let name = match info.kind {
        "abort" => "AbortError",
        "timeout" => "TimeoutError",
        _ => "CalmfetchError",
    };
    set(&details, "name", name);
    if let Some(url) = info.url {
        set(&details, "url", url);
    }
    if let Some(status) = info.status {
        set(&details, "status", status);
    }
    if let Some(body) = info.body {
        set(&details, "body", body);
    }
    let class = ERROR_CLASS.with(|c| c.borrow().clone());
    if let Some(class) = class {
        let args = js_sys::Array::of2(&JsValue::from_str(message), &details);
        if let Ok(e) = Reflect::construct(&class, &args) {
            return e;
        }
    }
    let e = js_sys::Error::new(message);
    e.set_name(name);
    for key in ["kind", "url", "status", "body"] {
        let v = get(&details, key);
        if !v.is_undefined() {
            let _ = Reflect::set(&e, &JsValue::from_str(key), &v);
        }
    }
    e.into()
}

/// An `invalid` error: bad URL or bad options.
pub fn invalid(message: String) -> JsValue {
    make_error(
        &format!("calmfetch: {message}"),
        ErrorInfo {
            kind: "invalid",
            ..Default::default()
        },
    )
}

/// The JS error for a failed GET of `url`.
pub fn fetch_error(url: &str, error: &FetchError) -> JsValue {
    let message = format!("calmfetch: GET {url} failed: {error}");
    let (status, body) = match error {
        // An empty body (or one the shell did not keep, over the body
        // limit) is no body.
        FetchError::Http { status, body, .. } => (
            Some(*status),
            (!body.is_empty())
                .then(|| js_sys::JSON::parse(body).unwrap_or_else(|_| JsValue::from_str(body))),
        ),
        _ => (None, None),
    };
    make_error(
        &message,
        ErrorInfo {
            kind: error.kind(),
            url: Some(url),
            status,
            body,
        },
    )
}

/// The message of a thrown JS value.
pub fn message_of(err: &JsValue) -> String {
    if let Some(e) = err.dyn_ref::<js_sys::Error>() {
        return String::from(e.message());
    }
    err.as_string()
        .unwrap_or_else(|| "unknown JS exception".into())
}
