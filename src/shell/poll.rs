//! Polling in the browser: page visibility, online state, and one poller per
//! key across the tabs of an origin.
//!
//! Leadership: each tab that polls a key asks the Web Locks API for a lock
//! named after the key (a hash of it, so credentials never appear in lock
//! names). The holder polls; its results go out on a `BroadcastChannel` and
//! the other tabs store them without touching the network. A tab that is
//! closed drops its locks; a tab that is hidden (and has no `inBackground`
//! poller of the key) gives them up, so a visible tab takes over. Where Web
//! Locks or BroadcastChannel are missing, every tab polls on its own.
//!
//! Page listeners are attached only while something polls.

use crate::core::map::Map;
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use js_sys::{Function, Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{AbortController, BroadcastChannel, EventTarget, MessageEvent};

use super::client::{Inner, WasmClient};
use super::js::{self, invalid, now};
use super::options as opt;
use crate::core::{Key, PollerId};

/// `refresh` calls closer together than this share one request.
pub(super) const REFRESH_DEBOUNCE_MS: u64 = 250;

const POLL_OPTIONS: &[&str] = &["intervalMs", "inBackground", "headers", "partition"];
const CHANNEL: &str = "calmfetch";

type Channel = (BroadcastChannel, Closure<dyn FnMut(MessageEvent)>);

/// This tab's side of polling.
#[derive(Default)]
pub(super) struct Tabs {
    pollers: Map<PollerId, (Key, bool)>,
    page: Option<PageListeners>,
    channel: Option<Channel>,
    leads: Map<Key, Lead>,
}

struct PageListeners {
    document: Option<EventTarget>,
    window: EventTarget,
    visibility: Closure<dyn FnMut()>,
    online: Closure<dyn FnMut()>,
}

impl Drop for PageListeners {
    /// A listener must not outlive its closure (the client may be gone).
    fn drop(&mut self) {
        if let Some(d) = &self.document {
            let _ = d.remove_event_listener_with_callback(
                "visibilitychange",
                self.visibility.as_ref().unchecked_ref(),
            );
        }
        for ev in ["online", "offline"] {
            let _ = self
                .window
                .remove_event_listener_with_callback(ev, self.online.as_ref().unchecked_ref());
        }
    }
}

impl Drop for Tabs {
    /// The client is gone: close its channel and give up its locks, so that
    /// nothing calls into closures that no longer exist and another tab can lead.
    fn drop(&mut self) {
        if let Some((channel, _)) = &self.channel {
            channel.set_onmessage(None);
            channel.close();
        }
        for lead in self.leads.values() {
            lead.cancelled.set(true);
            lead.abort.abort();
            if let Some(r) = lead.release.borrow_mut().take() {
                let _ = r.call0(&JsValue::NULL);
            }
        }
    }
}

/// A lock request for one key: pending, or held until `release` is called.
/// Its callback lives until the request's promise settles (see `request_lead`).
struct Lead {
    abort: AbortController,
    release: Rc<RefCell<Option<Function>>>,
    cancelled: Rc<Cell<bool>>,
}

pub(super) fn hash(key: &Key) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.as_str().bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn global(name: &str) -> JsValue {
    js::get(&js_sys::global(), name)
}

fn page_visible() -> bool {
    js::get(&global("document"), "visibilityState")
        .as_string()
        .as_deref()
        != Some("hidden")
}

fn online() -> bool {
    js::get(&global("navigator"), "onLine").as_bool() != Some(false)
}

fn locks() -> Option<JsValue> {
    let l = js::get(&global("navigator"), "locks");
    (!l.is_undefined() && !l.is_null()).then_some(l)
}

#[wasm_bindgen]
impl WasmClient {
    /// `client.poll(url, { intervalMs, inBackground, headers, partition })`:
    /// returns a poller id for `pollStop`. The package wraps it with
    /// `onData` / `onError` and a `{ stop }` handle.
    pub fn poll(&self, url: JsValue, options: JsValue) -> Result<f64, JsValue> {
        let inner = &self.inner;
        let err = |m: String| invalid(format!("poll: {m}"));
        let req = inner
            .request(&url, &options, POLL_OPTIONS, "poll")
            .map_err(err)?;
        let interval = opt::whole(&options, "intervalMs", "poll", 1)
            .map_err(err)?
            .ok_or_else(|| err("option `poll.intervalMs` is required".into()))?;
        let in_background = opt::flag(&options, "inBackground", "poll")
            .map_err(err)?
            .unwrap_or(false);
        let key = Key::get(&req.url, &req.identity);
        inner.watch_page();
        let shared = inner.ensure_channel() && locks().is_some();
        let id = inner
            .core
            .borrow_mut()
            .poll_start(now(), req, interval, in_background, !shared);
        inner
            .tabs
            .borrow_mut()
            .pollers
            .insert(id, (key.clone(), in_background));
        // Also when this tab already polls the key in the foreground but is
        // hidden now: a background poller needs the lead (`request_lead`
        // does nothing when this tab already holds or asked for it).
        if shared && (page_visible() || in_background) {
            inner.request_lead(&key);
        }
        inner.run();
        Ok(id.0 as f64)
    }

    /// Stop a poller. Unknown ids are ignored.
    #[wasm_bindgen(js_name = pollStop)]
    pub fn poll_stop(&self, id: f64) {
        let inner = &self.inner;
        let id = PollerId(id as u64);
        let Some((key, _)) = inner.tabs.borrow_mut().pollers.remove(&id) else {
            return;
        };
        inner.core.borrow_mut().poll_stop(now(), id);
        let still = inner.tabs.borrow().pollers.values().any(|(k, _)| *k == key);
        if !still {
            inner.step_down(&key);
        }
        if inner.tabs.borrow().pollers.is_empty() {
            inner.unwatch_page();
            inner.close_channel();
        }
        inner.run();
    }

    /// `client.refresh(url, options)`: a new request unless one is in flight
    /// or finished less than 250 ms ago, so bursts of refreshes collapse.
    pub fn refresh(&self, url: JsValue, options: JsValue) -> Promise {
        match self.inner.request(
            &url,
            &options,
            &["headers", "partition", "signal"],
            "refresh",
        ) {
            Ok(mut req) => {
                req.ttl_ms = Some(REFRESH_DEBOUNCE_MS);
                self.start_get(req, &options)
            }
            Err(m) => Promise::reject(&invalid(format!("refresh: {m}"))),
        }
    }
}

impl Inner {
    /// Attach visibility and online listeners (once).
    fn watch_page(self: &Rc<Self>) {
        if self.tabs.borrow().page.is_some() {
            return;
        }
        let Ok(window) = js_sys::global().dyn_into::<EventTarget>() else {
            return;
        };
        let document = global("document").dyn_into::<EventTarget>().ok();
        let weak = Rc::downgrade(self);
        let visibility = Closure::<dyn FnMut()>::new(move || {
            if let Some(inner) = weak.upgrade() {
                inner.page_changed();
            }
        });
        let weak = Rc::downgrade(self);
        let online_cb = Closure::<dyn FnMut()>::new(move || {
            if let Some(inner) = weak.upgrade() {
                inner.core.borrow_mut().set_online(now(), online());
                inner.run();
            }
        });
        if let Some(d) = &document {
            let _ = d.add_event_listener_with_callback(
                "visibilitychange",
                visibility.as_ref().unchecked_ref(),
            );
        }
        for ev in ["online", "offline"] {
            let _ = window.add_event_listener_with_callback(ev, online_cb.as_ref().unchecked_ref());
        }
        {
            let mut core = self.core.borrow_mut();
            core.set_visible(now(), page_visible());
            core.set_online(now(), online());
        }
        self.tabs.borrow_mut().page = Some(PageListeners {
            document,
            window,
            visibility,
            online: online_cb,
        });
    }

    fn unwatch_page(&self) {
        // Dropping the listeners removes them (see `Drop for PageListeners`).
        let listeners = self.tabs.borrow_mut().page.take();
        drop(listeners);
    }

    /// Visibility changed: tell the core, and hand leadership of keys that
    /// are polled only in the foreground to a visible tab.
    fn page_changed(self: &Rc<Self>) {
        let visible = page_visible();
        self.core.borrow_mut().set_visible(now(), visible);
        if locks().is_some() && self.tabs.borrow().channel.is_some() {
            let mut keys: Map<Key, bool> = Map::default();
            for (k, bg) in self.tabs.borrow().pollers.values() {
                *keys.entry(k.clone()).or_insert(false) |= *bg;
            }
            for (key, background) in keys {
                if visible || background {
                    self.request_lead(&key);
                } else {
                    self.step_down(&key);
                }
            }
        }
        self.run();
    }

    /// Close the BroadcastChannel: nothing polls any more (an open channel
    /// would also keep a Node process alive).
    fn close_channel(&self) {
        let channel = self.tabs.borrow_mut().channel.take();
        if let Some((channel, _listener)) = channel {
            channel.set_onmessage(None);
            channel.close();
        }
    }

    /// Open the BroadcastChannel (once). `false` where there is none.
    fn ensure_channel(self: &Rc<Self>) -> bool {
        if self.tabs.borrow().channel.is_some() {
            return true;
        }
        if global("BroadcastChannel").is_undefined() {
            return false;
        }
        let Ok(channel) = BroadcastChannel::new(CHANNEL) else {
            return false;
        };
        let weak = Rc::downgrade(self);
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            if let Some(inner) = weak.upgrade() {
                inner.from_other_tab(e.data());
            }
        });
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        self.tabs.borrow_mut().channel = Some((channel, on_message));
        true
    }

    /// A message from another tab of this origin.
    fn from_other_tab(self: &Rc<Self>, msg: JsValue) {
        if js::get(&msg, "t").as_string().as_deref() != Some("poll") {
            return;
        }
        let Some(h) = js::get(&msg, "h").as_string() else {
            return;
        };
        let key = self
            .tabs
            .borrow()
            .pollers
            .values()
            .map(|(k, _)| k)
            .find(|k| hash(k) == h)
            .cloned();
        let Some(key) = key else { return };
        let at = js::get(&msg, "at").as_f64().unwrap_or(0.0) as u64;
        let etag = js::get(&msg, "etag").as_string();
        let body = js::get(&msg, "body");
        // A message without its size is not kept (only shown).
        let size = js::get(&msg, "size")
            .as_f64()
            .map_or(usize::MAX, |n| n as usize);
        self.core
            .borrow_mut()
            .external_data(now(), &key, body, size, etag, at);
        self.run();
    }

    /// This tab's poll of `key` got new data: share it.
    pub(super) fn share_polled(&self, key: &Key) {
        let tabs = self.tabs.borrow();
        let Some((channel, _)) = &tabs.channel else {
            return;
        };
        let core = self.core.borrow();
        let Some(entry) = core.entry(key) else { return };
        let Some(body) = &entry.data else { return };
        let msg = Object::new();
        js::set(&msg, "t", "poll");
        js::set(&msg, "h", hash(key));
        js::set(&msg, "body", body.clone());
        js::set(&msg, "at", entry.updated_at.unwrap_or(0) as f64);
        js::set(&msg, "size", entry.bytes as f64);
        if let Some(etag) = &entry.etag {
            js::set(&msg, "etag", etag.as_str());
        }
        let _ = channel.post_message(&msg);
    }

    /// Ask for the lock of `key`; when granted, this tab polls it.
    fn request_lead(self: &Rc<Self>, key: &Key) {
        if self.tabs.borrow().leads.contains_key(key) {
            return;
        }
        let Some(locks) = locks() else { return };
        let Ok(request) = js::get(&locks, "request").dyn_into::<Function>() else {
            return;
        };
        let Ok(abort) = AbortController::new() else {
            return;
        };
        let release: Rc<RefCell<Option<Function>>> = Rc::default();
        let cancelled = Rc::new(Cell::new(false));
        let weak: Weak<Inner> = Rc::downgrade(self);
        let (k, slot, gone) = (key.clone(), release.clone(), cancelled.clone());
        let granted = Closure::<dyn FnMut(JsValue) -> Promise>::new(move |_lock: JsValue| {
            let held = Promise::new(&mut |resolve, _| {
                *slot.borrow_mut() = Some(resolve);
            });
            if gone.get() {
                if let Some(r) = slot.borrow_mut().take() {
                    let _ = r.call0(&JsValue::NULL);
                }
                return held;
            }
            if let Some(inner) = weak.upgrade() {
                inner.core.borrow_mut().set_poll_leader(now(), &k, true);
                inner.run();
            }
            held
        });
        let options = Object::new();
        js::set(&options, "signal", abort.signal());
        let name = JsValue::from_str(&format!("calmfetch-poll-{}", hash(key)));
        // The lock manager may call `granted` after this tab stepped down (a
        // grant already queued when the request is aborted), so the callback
        // must outlive the `Lead`: it is freed when the request's promise
        // settles, after which it can no longer be called.
        //
        // The request settles with `undefined` once the lock is released, or
        // rejects: with an AbortError when this tab stepped down (expected),
        // or because the page may not use locks at all (a `SecurityError` in
        // a sandboxed or third-party frame). Then this tab polls on its own,
        // as it does where Web Locks are missing.
        let weak = Rc::downgrade(self);
        let (k, gone) = (key.clone(), cancelled.clone());
        let on_settled = move |granted: Closure<dyn FnMut(JsValue) -> Promise>| {
            let keep = RefCell::new(Some(granted));
            Closure::once_into_js(move |reason: JsValue| {
                drop(keep.take());
                if reason.is_undefined() || gone.get() {
                    return;
                }
                if let Some(inner) = weak.upgrade() {
                    inner.core.borrow_mut().set_poll_leader(now(), &k, true);
                    inner.run();
                }
            })
        };
        match request.call3(&locks, &name, &options, granted.as_ref()) {
            Ok(p) => {
                let settled = on_settled(granted);
                if let Ok(then) = js::get(&p, "then").dyn_into::<Function>() {
                    let _ = then.call2(&p, &settled, &settled);
                }
            }
            Err(_) => {
                // `locks.request` threw: poll on our own.
                self.core.borrow_mut().set_poll_leader(now(), key, true);
            }
        }
        self.tabs.borrow_mut().leads.insert(
            key.clone(),
            Lead {
                abort,
                release,
                cancelled,
            },
        );
    }

    /// Give up the lock of `key` (or the request for it).
    fn step_down(&self, key: &Key) {
        let Some(lead) = self.tabs.borrow_mut().leads.remove(key) else {
            return;
        };
        lead.cancelled.set(true);
        lead.abort.abort();
        if let Some(r) = lead.release.borrow_mut().take() {
            let _ = r.call0(&JsValue::NULL);
        }
        self.core.borrow_mut().set_poll_leader(now(), key, false);
    }
}
