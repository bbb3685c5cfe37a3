//! calmfetch: request dedup, a bounded TTL cache, batching, shared polling,
//! realtime-first fetching with fallback, and hover prefetch for web apps.
//!
//! The crate is the deterministic [`core`]: a state machine that takes time,
//! ids and events as inputs and returns actions, with no I/O and no strings.
//! On wasm32 it is exported to the package's JavaScript shell as plain
//! functions over numbers (`exports`, see `docs/boundary.md`).
#![cfg_attr(all(target_arch = "wasm32", not(test)), no_std)]
#![deny(missing_docs, missing_debug_implementations)]

extern crate alloc;

pub mod core;

#[cfg(all(target_arch = "wasm32", not(test)))]
mod exports;
#[cfg(all(target_arch = "wasm32", not(test)))]
mod heap;
