//! The deterministic core: no I/O, no clock, no JavaScript, no strings.
//!
//! Everything here is plain Rust that takes `now`, ids and numbers and hands
//! back actions, so it is tested natively with `cargo test` in simulated
//! time. The JavaScript shell (`js/`) interns urls and identities into ids,
//! keeps every body, and carries the actions out (see `docs/boundary.md`).

pub mod action;
pub mod engine;
pub mod slab;
pub mod timers;

pub use action::{Action, Fail, Item, Src, STAGED};
pub use engine::{
    Answer, BatchConfig, CircuitConfig, Config, Core, KeyRec, PollConfig, PrefetchConfig,
    RetryConfig, SocketConfig, SocketState, Stats, MAX_ORIGINS,
};

/// The longest wait a `Retry-After` can ask for: a day.
pub const MAX_RETRY_AFTER_MS: u64 = 86_400_000;
