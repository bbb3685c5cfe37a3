//! calmfetch: request dedup, a TTL cache and (in later modules) batching,
//! shared polling and socket fallback for web apps.
//!
//! The crate has two halves:
//! - [`core`]: a deterministic state machine that takes time and events as
//!   inputs and returns actions. It has no dependencies and runs anywhere.
//! - `shell` (wasm32 only): the browser side that performs the actions with
//!   `fetch`, `AbortController` and timers, exported to JavaScript with
//!   wasm-bindgen. The npm package in `pkg/` wraps it.
#![deny(missing_docs, missing_debug_implementations)]

pub mod core;

#[cfg(target_arch = "wasm32")]
pub mod shell;
