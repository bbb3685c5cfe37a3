//! Prefetch in the browser: the intent timers and the prefetch lane live in
//! the core; this checks the connection and feeds hovers in.

use wasm_bindgen::prelude::*;

use super::client::WasmClient;
use super::js::{self, now};
use crate::core::IntentId;

const PREFETCH_OPTIONS: &[&str] = &["headers", "partition", "ttlMs"];

/// Is the user saving data, or on a 2G connection?
fn slow_connection() -> bool {
    let conn = js::get(&js::get(&js_sys::global(), "navigator"), "connection");
    if conn.is_undefined() || conn.is_null() {
        return false;
    }
    js::get(&conn, "saveData").as_bool() == Some(true)
        || matches!(
            js::get(&conn, "effectiveType").as_string().as_deref(),
            Some("2g" | "slow-2g")
        )
}

#[wasm_bindgen]
impl WasmClient {
    /// `client.prefetch(url, options)`: fetch at low priority for a later
    /// `get`. Never throws; returns whether a prefetch was started or queued.
    pub fn prefetch(&self, url: JsValue, options: JsValue) -> bool {
        let Some(req) = self.prefetch_request(&url, &options) else {
            return false;
        };
        let started = self.inner.core.borrow_mut().prefetch(now(), req);
        self.inner.run();
        started
    }

    /// A hover or focus began on a link to `url`: returns an intent id for
    /// `hoverEnd` (0 when nothing will be prefetched).
    #[wasm_bindgen(js_name = hoverStart)]
    pub fn hover_start(&self, url: JsValue, options: JsValue) -> f64 {
        let Some(req) = self.prefetch_request(&url, &options) else {
            return 0.0;
        };
        let id = self.inner.core.borrow_mut().intent_start(now(), req);
        self.inner.run();
        id.0 as f64
    }

    /// The hover or focus ended.
    #[wasm_bindgen(js_name = hoverEnd)]
    pub fn hover_end(&self, id: f64) {
        if id > 0.0 {
            self.inner
                .core
                .borrow_mut()
                .intent_cancel(IntentId(id as u64));
            self.inner.run();
        }
    }
}

impl WasmClient {
    /// The request to prefetch, or `None` when prefetching is off for this
    /// call: a slow connection, or bad input (counted as a failure, since a
    /// prefetch never throws).
    fn prefetch_request(
        &self,
        url: &JsValue,
        options: &JsValue,
    ) -> Option<crate::core::GetRequest> {
        if self.inner.respect_save_data && slow_connection() {
            self.inner.core.borrow_mut().prefetch_skip();
            return None;
        }
        match self
            .inner
            .request(url, options, PREFETCH_OPTIONS, "prefetch")
        {
            Ok(req) => Some(req),
            Err(_) => {
                self.inner.core.borrow_mut().prefetch_invalid();
                None
            }
        }
    }
}
