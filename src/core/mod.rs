//! The deterministic core: no I/O, no clock, no JS.
//!
//! Everything here is plain Rust that takes `now` and inputs and hands back
//! actions, so it is tested natively with `cargo test`. The browser shell in
//! `src/shell` carries the actions out.

pub mod batch;
pub mod cache;
pub mod engine;
pub mod error;
pub mod json;
pub mod key;
pub(crate) mod map;
pub mod retry;
pub mod socket_msg;

pub use engine::{
    origin, Action, BatchConfig, BatchFailure, BatchId, CircuitConfig, Config, Core, FetchSpec,
    FlightId, GetRequest, GroupId, IntentId, Outcome, PollConfig, PollerId, PrefetchConfig,
    SocketConfig, SocketState, SocketTimer, Stats, WaiterId,
};
pub use error::FetchError;
pub use key::{normalize_url, Credentials, Identity, Key, UrlError};
