//! The browser shell (wasm32 only): carries out the core's actions with
//! `fetch`, `AbortController` and timers, and exports the JS API.

mod client;
mod js;
mod options;
mod poll;
mod prefetch;
mod socket;

pub use client::WasmClient;
