//! The wasm32 exports: the core as plain functions over numbers, for the
//! JavaScript shell (`js/client.js`). See `docs/boundary.md` for the ABI.
//!
//! No wasm-bindgen: with only numbers crossing there is no glue to generate,
//! and the module's one import is `env.cf_panic`. A panic (a bug) cannot be
//! unwound on wasm32: the handler tells the shell where it happened, and the
//! shell stops every client before the instance traps.

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::core::{
    Answer, BatchConfig, CircuitConfig, Config, Core, PollConfig, PrefetchConfig, RetryConfig,
    SocketConfig,
};

#[global_allocator]
static ALLOC: crate::heap::SizeClasses = crate::heap::SizeClasses;

extern "C" {
    fn cf_panic(file: *const u8, len: usize, line: u32);
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let (file, line) = info.location().map_or(("?", 0), |l| (l.file(), l.line()));
    // SAFETY: the shell reads `len` bytes at `file` from this memory.
    unsafe { cf_panic(file.as_ptr(), file.len(), line) };
    core::arch::wasm32::unreachable()
}

/// One client: its core.
struct Client {
    core: Core,
}

/// f64s in the area the shell reads the counters from.
const STATS: usize = 34;
/// f64s the shell writes to the area before `cf_new` (the config).
const CONFIG: usize = 29;
const _: () = assert!(CONFIG <= STATS);

struct Clients(Vec<Option<Box<Client>>>);

static mut CLIENTS: Clients = Clients(Vec::new());
/// The numbers the shell hands in or reads right away (the config before
/// `cf_new`, the counters after `cf_stats`): one area for every client.
static mut AREA: [f64; STATS] = [0.0; STATS];

#[allow(static_mut_refs)]
fn clients() -> &'static mut Vec<Option<Box<Client>>> {
    // SAFETY: wasm32 without threads, and no export re-enters another.
    unsafe { &mut CLIENTS.0 }
}

/// The client `h`. The shell has read the action words of every call
/// before this one (it reads them right after each input), so the ids its
/// core freed so far may be reused from now on: one place for every export
/// to say so.
fn client(h: u32) -> &'static mut Client {
    match clients().get_mut(h as usize) {
        Some(Some(c)) => {
            c.core.actions_read();
            c
        }
        _ => panic!(),
    }
}

/// Milliseconds from the shell: negative and NaN give 0 (`as` saturates;
/// wasm's `i64.trunc_sat_f64_u` does exactly that, with no branch).
fn ms(v: f64) -> u64 {
    v as u64
}

fn opt_ms(v: f64) -> Option<u64> {
    (v >= 0.0).then_some(v as u64)
}

/// An answer as the shell reports it (one copy for the three exports).
#[inline(never)]
fn answer(status: u32, size: f64, flags: u32, retry_after: f64) -> Answer {
    Answer {
        status: status as u16,
        size: ms(size),
        flags,
        retry_after: opt_ms(retry_after),
    }
}

/// The area `cf_new` reads the config from.
#[no_mangle]
pub extern "C" fn cf_config_ptr() -> *mut f64 {
    // The shell writes it right before `cf_new`.
    core::ptr::addr_of_mut!(AREA) as *mut f64
}

/// A new client from the config area (see docs/boundary.md for the order).
#[no_mangle]
pub extern "C" fn cf_new() -> u32 {
    // SAFETY: see `cf_config_ptr` and `clients`.
    let c = unsafe { &*core::ptr::addr_of!(AREA) };
    // The numbers as u64s (in a loop: smaller than a conversion each).
    let mut n = [0u64; CONFIG];
    for i in 0..CONFIG {
        n[i] = ms(c[i]);
    }
    let flag = |i: usize| c[i] != 0.0;
    let config = Config {
        default_ttl_ms: n[0],
        max_entries: c[1] as usize,
        max_body_bytes: n[2],
        max_bytes: n[3],
        timeout_ms: (c[4] > 0.0).then_some(n[4]),
        batch: flag(5).then(|| BatchConfig {
            origin: c[6] as u32,
            window_ms: n[7],
            max_size: c[8] as usize,
            max_bytes: n[9],
        }),
        poll: PollConfig {
            jitter: c[10],
            max_backoff_ms: n[11],
        },
        socket: flag(12).then(|| SocketConfig {
            connect_timeout_ms: n[13],
            reconnect_min_ms: n[14],
            reconnect_max_ms: n[15],
            linger_ms: n[16],
            resync_ms: n[17],
            who: c[18] as u32,
            origin: (c[19] >= 0.0).then(|| c[19] as u32),
        }),
        prefetch: PrefetchConfig {
            intent_ms: n[20],
            concurrency: c[21] as usize,
            ..PrefetchConfig::default()
        },
        circuit: flag(22).then(|| CircuitConfig {
            failures: c[23] as u32,
            cool_down_ms: n[24],
        }),
        seed: n[25],
        retry: RetryConfig {
            retries: c[26] as u32,
            base_ms: n[27],
            max_ms: n[28],
        },
    };
    let client = Box::new(Client {
        core: Core::new(config),
    });
    let all = clients();
    match all.iter().position(Option::is_none) {
        Some(i) => {
            all[i] = Some(client);
            i as u32
        }
        None => {
            all.push(Some(client));
            (all.len() - 1) as u32
        }
    }
}

/// Drop a client (the shell's was garbage-collected).
#[no_mangle]
pub extern "C" fn cf_free(h: u32) {
    if let Some(slot) = clients().get_mut(h as usize) {
        *slot = None;
    }
}

/// Where the action words are.
#[no_mangle]
pub extern "C" fn cf_actions(h: u32) -> *const u32 {
    client(h).core.words().as_ptr()
}

/// How many action words there are.
#[no_mangle]
pub extern "C" fn cf_actions_len(h: u32) -> u32 {
    client(h).core.words().len() as u32
}

/// The shell has copied the action words out.
#[no_mangle]
pub extern "C" fn cf_actions_clear(h: u32) {
    let words = client(h).core.words();
    if words.capacity() > 4096 {
        // (A fresh vector, not `shrink_to`: no reallocation code.)
        *words = Vec::new();
    } else {
        words.clear();
    }
}

macro_rules! input {
    ($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty => |$c:ident| $body:expr) => {
        $(#[$doc])*
        #[no_mangle]
        pub extern "C" fn $name(h: u32, $($arg: $ty),*) -> $ret {
            let $c = client(h);
            $body
        }
    };
}

input!(
    /// A new key.
    fn cf_key(origin: u32, who: u32, item_bytes: f64) -> u32 => |c| c.core.key(origin, who, ms(item_bytes)));
input!(
/// A get: 0 for a fresh hit, else the waiter.
fn cf_get(now: f64, key: u32, ttl: f64, flags: u32) -> u32 => |c| {
    // flags: bit 0 fresh; bits 1..30: the call's retries + 1 (0: the
    // client's); bit 31: the call cannot abort, so it may share a waiter.
    let retries = ((flags & 0x7fff_ffff) >> 1).checked_sub(1);
    let fresh = flags & 1 != 0;
    match retries {
        None if flags >> 31 == 1 => c.core.get_shared(ms(now), key, opt_ms(ttl), fresh),
        _ => c.core.get_retry(ms(now), key, opt_ms(ttl), fresh, retries),
    }
    .unwrap_or(0)
});
input!(
    /// A get with the refresh debounce (250 ms).
    fn cf_refresh(now: f64, key: u32) -> u32 => |c| c.core.get(ms(now), key, Some(250), false).unwrap_or(0));
input!(
    /// The caller of `waiter` aborted.
    fn cf_abort(now: f64, waiter: u32) -> () => |c| c.core.abort(ms(now), waiter));
input!(
/// A plain request's answer.
fn cf_done(now: f64, flight: u32, status: u32, size: f64, flags: u32, retry_after: f64) -> () => |c| {
    c.core.fetch_done(ms(now), flight, answer(status, size, flags, retry_after))
});
input!(
/// One answer of a batch.
fn cf_item(now: f64, batch: u32, flight: u32, status: u32, size: f64, flags: u32, retry_after: f64) -> () => |c| {
    c.core.batch_item(ms(now), batch, flight, answer(status, size, flags, retry_after))
});
input!(
    /// An answer that could not be read.
    fn cf_ignored() -> () => |c| c.core.batch_ignored());
input!(
    /// A batch answer ended (`broken`: it could not be read to the end).
    fn cf_batch_end(now: f64, batch: u32, broken: u32) -> () => |c| c.core.batch_end(ms(now), batch, broken != 0));
input!(
    /// A batch request failed (0: on the network).
    fn cf_batch_failed(now: f64, batch: u32, status: u32) -> () => |c| c.core.batch_failed(ms(now), batch, status as u16));
input!(
    /// Make a key stale.
    fn cf_invalidate(key: u32) -> u32 => |c| c.core.invalidate(key) as u32);
input!(
    /// Forget everything cached.
    fn cf_clear(now: f64) -> () => |c| c.core.clear(ms(now)));
input!(
    /// A listener came.
    fn cf_watch(key: u32) -> () => |c| c.core.watch(key));
input!(
    /// A listener left.
    fn cf_unwatch(key: u32) -> () => |c| c.core.unwatch(key));
input!(
    /// Start polling.
    fn cf_poll_start(now: f64, key: u32, interval: f64, background: u32) -> u32 => |c| c.core.poll_start(ms(now), key, ms(interval), background != 0));
input!(
    /// Stop a poller.
    fn cf_poll_stop(now: f64, poller: u32) -> () => |c| c.core.poll_stop(ms(now), poller));
input!(
    /// The page became visible (1) or hidden (0).
    fn cf_visible(now: f64, visible: u32) -> () => |c| c.core.set_visible(ms(now), visible != 0));
input!(
    /// The browser went online (1) or offline (0).
    fn cf_online(now: f64, online: u32) -> () => |c| c.core.set_online(ms(now), online != 0));
input!(
    /// Leadership of a key: 1 granted, 2 alone, 0 not held.
    fn cf_lead(now: f64, key: u32, held: u32) -> () => |c| c.core.lead(ms(now), key, held != 0));
input!(
    /// Another tab's poll result (staged body).
    fn cf_tab_data(now: f64, key: u32, at: f64, size: f64, etag: u32) -> u32 => |c| c.core.tab_data(ms(now), key, ms(size), etag != 0, ms(at)) as u32);
input!(
    /// Data kept in IndexedDB (staged body).
    fn cf_restore(now: f64, key: u32, size: f64, at: f64) -> u32 => |c| c.core.restore(ms(now), key, ms(size), ms(at)) as u32);
input!(
    /// Data a server rendered with (staged body), fetched at `at`, fresh for `ttl`.
    fn cf_hydrate(now: f64, key: u32, size: f64, at: f64, ttl: f64, etag: u32) -> u32 => |c| c.core.hydrate(ms(now), key, ms(size), ms(at), ms(ttl), etag != 0) as u32);
input!(
    /// A listener wants the key live.
    fn cf_live_add(now: f64, key: u32) -> u32 => |c| c.core.live_add(ms(now), key) as u32);
input!(
    /// A listener of a live key left.
    fn cf_live_remove(now: f64, key: u32) -> () => |c| c.core.live_remove(ms(now), key));
input!(
    /// The socket opened.
    fn cf_sock_open(now: f64) -> () => |c| c.core.socket_opened(ms(now)));
input!(
    /// The socket closed.
    fn cf_sock_close(now: f64) -> () => |c| c.core.socket_closed(ms(now)));
input!(
    /// Data pushed for a key (staged body).
    fn cf_sock_data(now: f64, key: u32, size: f64) -> () => |c| c.core.socket_data(ms(now), key, ms(size)));
input!(
    /// The socket reported an error for a key.
    fn cf_sock_error(now: f64, key: u32) -> () => |c| c.core.socket_error(ms(now), key));
input!(
    /// A socket message that could not be read.
    fn cf_sock_malformed() -> () => |c| c.core.socket_malformed());
input!(
    /// Prefetch a key.
    fn cf_prefetch(now: f64, key: u32, ttl: f64) -> u32 => |c| c.core.prefetch(ms(now), key, opt_ms(ttl)) as u32);
input!(
    /// A prefetch skipped by the shell (Save-Data).
    fn cf_prefetch_skip() -> () => |c| c.core.prefetch_skip());
input!(
    /// A prefetch refused by the shell (bad input).
    fn cf_prefetch_invalid() -> () => |c| c.core.prefetch_invalid());
input!(
    /// A hover intent starts.
    fn cf_hover(now: f64, key: u32) -> u32 => |c| c.core.intent_start(ms(now), key));
input!(
    /// A hover intent ends.
    fn cf_hover_end(intent: u32) -> () => |c| c.core.intent_cancel(intent));
input!(
    /// A write to `origin`: its id.
    fn cf_write(now: f64, origin: u32) -> u32 => |c| c.core.write(ms(now), origin));
input!(
/// A write's answer.
fn cf_write_done(now: f64, write: u32, status: u32, size: f64, flags: u32, retry_after: f64) -> () => |c| {
    c.core.write_done(ms(now), write, answer(status, size, flags, retry_after))
});
input!(
    /// The caller of a write aborted.
    fn cf_write_abort(now: f64, write: u32) -> () => |c| c.core.write_abort(ms(now), write));
input!(
    /// A write changed a key.
    fn cf_written(now: f64, key: u32) -> u32 => |c| c.core.written(ms(now), key) as u32);
input!(
    /// Data set by hand for a key (staged body; a negative size: none), or an optimistic value (1).
    fn cf_set(now: f64, key: u32, size: f64, optimistic: u32) -> () => |c| c.core.set_data(ms(now), key, (size >= 0.0).then(|| ms(size)), optimistic != 0));
input!(
    /// Time has passed.
    fn cf_timeout(now: f64) -> () => |c| c.core.handle_timeout(ms(now)));

/// When `cf_timeout` is due next (-1: never).
#[no_mangle]
pub extern "C" fn cf_next(h: u32) -> f64 {
    client(h).core.poll_timeout().map_or(-1.0, |t| t as f64)
}

/// Can a key of `origin` and `who` be kept live?
#[no_mangle]
pub extern "C" fn cf_can_live(h: u32, origin: u32, who: u32) -> u32 {
    client(h).core.can_live(origin, who) as u32
}

/// The snapshot bits of a key (see `Core::state`).
#[no_mangle]
pub extern "C" fn cf_state(h: u32, now: f64, key: u32) -> u32 {
    client(h).core.state(ms(now), key)
}

/// The key's snapshot stamp.
#[no_mangle]
pub extern "C" fn cf_version(h: u32, key: u32) -> u32 {
    client(h).core.key_info(key).map_or(0, |k| k.version)
}

/// When the key's data arrived (-1: it has none kept).
#[no_mangle]
pub extern "C" fn cf_updated(h: u32, key: u32) -> f64 {
    client(h)
        .core
        .key_info(key)
        .and_then(|k| k.updated_at)
        .map_or(-1.0, |t| t as f64)
}

/// How long the key's data stays fresh.
#[no_mangle]
pub extern "C" fn cf_ttl(h: u32, key: u32) -> f64 {
    client(h)
        .core
        .key_info(key)
        .map_or(0.0, |k| k.ttl_ms as f64)
}

/// Bytes the key keeps.
#[no_mangle]
pub extern "C" fn cf_bytes(h: u32, key: u32) -> f64 {
    client(h).core.key_info(key).map_or(0.0, |k| k.bytes as f64)
}

/// The counters, as f64s in the order of `Stats`, then the socket's state
/// (0 no socket) and subscriptions.
#[no_mangle]
pub extern "C" fn cf_stats(h: u32) -> *const f64 {
    let c = client(h);
    // SAFETY: `Stats` is `repr(C)` and holds only `u64`s (the size is checked).
    let counters: [u64; STATS - 2] = unsafe { core::mem::transmute(c.core.stats()) };
    // SAFETY: see `clients`; the shell copies the counters out at once.
    let area = unsafe { &mut *core::ptr::addr_of_mut!(AREA) };
    // (An index loop: 16 bytes smaller in the wasm than zipping iterators.)
    #[allow(clippy::needless_range_loop)]
    for i in 0..STATS - 2 {
        area[i] = counters[i] as f64;
    }
    area[STATS - 2] = c.core.socket_state().map_or(0, |s| s.code()) as f64;
    area[STATS - 1] = c.core.socket_subscriptions() as f64;
    area.as_ptr()
}

/// Panics on purpose: lets `tests/faults` check that a panic stops every
/// client cleanly. Not part of the public API.
#[no_mangle]
pub extern "C" fn cf_test_panic() {
    panic!()
}
