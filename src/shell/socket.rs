//! The realtime socket in the browser: a `WebSocket` of calmfetch's own, or
//! an adapter over a socket the app already has.
//!
//! An adapter is a plain object:
//! `{ connect({ open, close, message }), send(text), close() }`. calmfetch
//! calls `connect` with three callbacks and expects `open()` when the
//! connection is up, `close()` when it is gone, and `message(text)` for each
//! server message. `send` and `close` are called by calmfetch.
//!
//! Events of a socket that calmfetch has already given up on are ignored
//! (each connection has a generation number). No borrow is held while
//! calmfetch calls into JS (`connect`, `send`, `close`, `onError`): an
//! adapter may call `open()`, `message()` or `close()` from inside them, and
//! what those do is queued by the core and carried out once the call
//! returns (see `Inner::run`).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Function, Object};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{MessageEvent, WebSocket};

use super::client::Inner;
use super::js::{self, make_error, now, ErrorInfo};
use super::options::{self as opt, Checked};
use crate::core::SocketConfig;

const SOCKET_OPTIONS: &[&str] = &[
    "url",
    "adapter",
    "connectTimeoutMs",
    "reconnect",
    "lingerMs",
    "resyncMs",
    "onError",
];
const RECONNECT_OPTIONS: &[&str] = &["minMs", "maxMs"];

/// How to reach the server.
enum Transport {
    Url(String),
    Adapter(JsValue),
}

/// The shell's half of the socket.
pub(super) struct SocketShell {
    transport: Transport,
    on_error: Option<Function>,
    ws: Option<WebSocket>,
    generation: Rc<Cell<u32>>,
    /// A connection was opened and not yet forgotten.
    connected: bool,
    /// The event handlers, made at the first connection and kept for the
    /// client's life (see `socket_handlers`).
    handlers: Vec<Closure<dyn FnMut(u32, JsValue)>>,
}

/// Read the `socket` option. `base` resolves a relative `url`.
pub(super) fn socket_config(
    v: &JsValue,
    base: Option<&str>,
) -> Checked<Option<(SocketConfig, SocketShell)>> {
    if v.is_undefined() {
        return Ok(None);
    }
    opt::only_known(v, SOCKET_OPTIONS, "`socket`")?;
    let adapter = js::get(v, "adapter");
    let transport = if !adapter.is_undefined() {
        for m in ["connect", "send"] {
            if !js::get(&adapter, m).is_function() {
                return Err(format!("option `socket.adapter` needs a `{m}` method"));
            }
        }
        Transport::Adapter(adapter)
    } else {
        let url = opt::string(v, "url", "socket")?
            .ok_or("option `socket` needs a `url` or an `adapter`")?;
        Transport::Url(ws_url(&url, base)?)
    };
    let mut cfg = SocketConfig::default();
    if let Some(ms) = opt::whole(v, "connectTimeoutMs", "socket", 0)? {
        cfg.connect_timeout_ms = ms;
    }
    if let Some(ms) = opt::whole(v, "lingerMs", "socket", 0)? {
        cfg.linger_ms = ms;
    }
    if let Some(ms) = opt::whole(v, "resyncMs", "socket", 0)? {
        cfg.resync_ms = ms;
    }
    let reconnect = js::get(v, "reconnect");
    opt::only_known(&reconnect, RECONNECT_OPTIONS, "`socket.reconnect`")?;
    if let Some(ms) = opt::whole(&reconnect, "minMs", "socket.reconnect", 1)? {
        cfg.reconnect_min_ms = ms;
    }
    if let Some(ms) = opt::whole(&reconnect, "maxMs", "socket.reconnect", 1)? {
        cfg.reconnect_max_ms = ms;
    }
    if cfg.reconnect_max_ms < cfg.reconnect_min_ms {
        return Err("option `socket.reconnect.maxMs` must not be below `minMs`".into());
    }
    let on_error = js::get(v, "onError");
    let on_error = if on_error.is_undefined() {
        None
    } else {
        Some(on_error.dyn_into::<Function>().map_err(|v| {
            format!(
                "option `socket.onError` must be a function, got {}",
                opt::describe(&v)
            )
        })?)
    };
    Ok(Some((
        cfg,
        SocketShell {
            transport,
            on_error,
            ws: None,
            generation: Rc::new(Cell::new(0)),
            connected: false,
            handlers: Vec::new(),
        },
    )))
}

/// `ws:`/`wss:` URL from a `ws:`, `http:` or relative one.
fn ws_url(url: &str, base: Option<&str>) -> Checked<String> {
    let parsed = match base {
        Some(b) => web_sys::Url::new_with_base(url, b),
        None => web_sys::Url::new(url),
    }
    .map_err(|_| format!("option `socket.url`: `{url}` is not a valid URL"))?;
    match parsed.protocol().as_str() {
        "ws:" | "wss:" => {}
        "http:" => parsed.set_protocol("ws:"),
        "https:" => parsed.set_protocol("wss:"),
        p => return Err(format!("option `socket.url`: `{url}` has the scheme `{p}`")),
    }
    Ok(parsed.href())
}

impl Inner {
    /// Open a connection (the core's `SocketOpen`).
    pub(super) fn socket_open(self: &Rc<Self>) {
        self.socket_close();
        let (current, transport) = {
            let guard = self.socket.borrow();
            let Some(sock) = guard.as_ref() else { return };
            let transport = match &sock.transport {
                Transport::Url(u) => Transport::Url(u.clone()),
                Transport::Adapter(a) => Transport::Adapter(a.clone()),
            };
            (sock.generation.clone(), transport)
        };
        let generation = current.get().wrapping_add(1);
        current.set(generation);
        // Each connection's handlers are the client's three long-lived
        // closures bound to its generation: after a reconnect or `clear()`
        // the old ones stay callable (an app's socket may still fire them)
        // and do nothing.
        let [on_open, on_close, on_message] = self.socket_handlers(&current).map(|f| {
            let bound: JsValue = f.bind1(&JsValue::NULL, &generation.into()).into();
            bound.unchecked_into::<Function>()
        });
        let mut ws = None;
        let result = match &transport {
            Transport::Url(url) => match WebSocket::new(url) {
                Ok(socket) => {
                    socket.set_onopen(Some(&on_open));
                    socket.set_onclose(Some(&on_close));
                    socket.set_onmessage(Some(&on_message));
                    ws = Some(socket);
                    Ok(())
                }
                Err(e) => Err(js::message_of(&e)),
            },
            Transport::Adapter(adapter) => {
                let handlers = Object::new();
                js::set(&handlers, "open", on_open);
                js::set(&handlers, "close", on_close);
                js::set(&handlers, "message", on_message);
                // The adapter may call the handlers before `connect` returns:
                // they only feed the core; `run` carries out the rest later.
                call(adapter, "connect", &handlers.into())
            }
        };
        if let Some(sock) = self.socket.borrow_mut().as_mut() {
            sock.ws = ws;
            sock.connected = true;
        }
        if let Err(why) = result {
            self.socket_problem(&format!("the socket could not be opened: {why}"));
            self.core.borrow_mut().socket_closed(now());
        }
    }

    /// The socket's three event handlers, `(generation, event)`, made once
    /// per client: events of any generation but `current` are ignored.
    fn socket_handlers(self: &Rc<Self>, current: &Rc<Cell<u32>>) -> [Function; 3] {
        let mut guard = self.socket.borrow_mut();
        let Some(sock) = guard.as_mut() else {
            unreachable!("socket_open checked the socket")
        };
        if sock.handlers.is_empty() {
            let make = |f: fn(&Rc<Inner>, JsValue)| {
                let weak = Rc::downgrade(self);
                let current = current.clone();
                Closure::<dyn FnMut(u32, JsValue)>::new(move |generation: u32, e: JsValue| {
                    if current.get() != generation {
                        return; // an old connection
                    }
                    if let Some(inner) = weak.upgrade() {
                        f(&inner, e);
                        inner.run();
                    }
                })
            };
            sock.handlers = vec![
                make(|inner, _| inner.core.borrow_mut().socket_opened(now())),
                make(|inner, _| inner.core.borrow_mut().socket_closed(now())),
                make(on_message),
            ];
        }
        [0, 1, 2].map(|i| {
            sock.handlers[i]
                .as_ref()
                .unchecked_ref::<Function>()
                .clone()
        })
    }

    /// Send a message (the core's `SocketSend`).
    pub(super) fn socket_send(&self, text: &str) {
        let target = {
            let guard = self.socket.borrow();
            let Some(sock) = guard.as_ref() else { return };
            match (&sock.transport, &sock.ws) {
                (Transport::Url(_), Some(ws)) => Some(Ok(ws.clone())),
                (Transport::Url(_), None) => None,
                (Transport::Adapter(a), _) => Some(Err(a.clone())),
            }
        };
        let result = match target {
            None => Ok(()),
            Some(Ok(ws)) => ws.send_with_str(text).map_err(|e| js::message_of(&e)),
            Some(Err(adapter)) => call(&adapter, "send", &JsValue::from_str(text)),
        };
        if let Err(why) = result {
            self.socket_problem(&format!("a socket message could not be sent: {why}"));
        }
    }

    /// Close for good (the core's `SocketClose`): nobody listens.
    pub(super) fn socket_close(&self) {
        let closing = self.socket.borrow_mut().as_mut().and_then(forget_current);
        if let Some(adapter) = closing {
            let _ = call(&adapter, "close", &JsValue::UNDEFINED);
        }
    }

    /// Tell the app's `socket.onError` (or the console).
    pub(super) fn socket_problem(&self, message: &str) {
        let e = make_error(
            &format!("calmfetch: {message}"),
            ErrorInfo {
                kind: "socket",
                ..Default::default()
            },
        );
        let handler = self
            .socket
            .borrow()
            .as_ref()
            .and_then(|s| s.on_error.clone());
        match handler {
            Some(f) => {
                if let Err(thrown) = f.call1(&JsValue::NULL, &e) {
                    web_sys::console::error_2(&"calmfetch: socket.onError threw".into(), &thrown);
                }
            }
            None => web_sys::console::warn_1(&e),
        }
    }
}

/// A message from the socket: a WebSocket hands a `MessageEvent`, an adapter
/// the text.
fn on_message(inner: &Rc<Inner>, e: JsValue) {
    let data = match e.dyn_ref::<MessageEvent>() {
        Some(m) => m.data(),
        None => e,
    };
    let text = data.as_string();
    let mut core = inner.core.borrow_mut();
    match text {
        Some(t) => core.socket_message(now(), &t, &mut |raw| {
            js_sys::JSON::parse(raw).map_err(|e| js::message_of(&e))
        }),
        None => core.socket_message(now(), "<binary frame>", &mut |_| Err(String::new())),
    }
}

/// Forget the current connection: its late events are ignored from now on,
/// and a `WebSocket` is closed. Returns the adapter whose `close()` the
/// caller must call, once no borrow is held.
pub(super) fn forget_current(sock: &mut SocketShell) -> Option<JsValue> {
    sock.generation.set(sock.generation.get().wrapping_add(1));
    let connected = std::mem::take(&mut sock.connected);
    match &sock.transport {
        Transport::Url(_) => {
            if let Some(ws) = sock.ws.take() {
                ws.set_onopen(None);
                ws.set_onclose(None);
                ws.set_onmessage(None);
                let _ = ws.close();
            }
            None
        }
        Transport::Adapter(a) => {
            (connected && js::get(a, "close").is_function()).then(|| a.clone())
        }
    }
}

fn call(obj: &JsValue, method: &str, arg: &JsValue) -> Result<(), String> {
    let f: Function = js::get(obj, method)
        .dyn_into()
        .map_err(|_| format!("the adapter has no `{method}` method"))?;
    f.call1(obj, arg).map(drop).map_err(|e| js::message_of(&e))
}

/// Keeps `RefCell` in scope for the field type in `client.rs`.
pub(super) type SocketSlot = RefCell<Option<SocketShell>>;
