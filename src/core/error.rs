//! The one error type every settled-with-failure waiter gets.

use std::fmt;

/// Why a request failed. The shell turns it into a JS `CalmfetchError`
/// whose `kind` is [`FetchError::kind`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The server answered with status >= 400.
    Http {
        /// The HTTP status.
        status: u16,
        /// The body as text (the shell parses it as JSON when it can).
        body: String,
        /// The `Retry-After` header as a delay in ms, if the server sent one.
        retry_after: Option<u64>,
    },
    /// `fetch` itself failed: refused connection, DNS, CORS, reset.
    Network(String),
    /// No answer within the client's `timeoutMs`.
    Timeout {
        /// The limit that ran out.
        ms: u64,
    },
    /// The caller's `AbortSignal` fired.
    Abort,
    /// The body was not JSON.
    Parse(String),
    /// The request was refused before it was sent.
    Invalid(String),
    /// A `/batch` answer broke the protocol (missing id, not JSON, truncated).
    Batch(String),
    /// The origin's circuit breaker is open after consecutive failures.
    CircuitOpen {
        /// The failing origin.
        origin: String,
        /// Consecutive failures that opened it.
        failures: u32,
        /// Until the next probe may go, in ms (0 while a probe is in flight).
        retry_in_ms: u64,
    },
}

impl FetchError {
    /// The stable, machine-readable name of the error class.
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::Http { .. } => "http",
            FetchError::Network(_) => "network",
            FetchError::Timeout { .. } => "timeout",
            FetchError::Abort => "abort",
            FetchError::Parse(_) => "parse",
            FetchError::Invalid(_) => "invalid",
            FetchError::Batch(_) => "batch",
            FetchError::CircuitOpen { .. } => "circuit",
        }
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Http { status, .. } => write!(f, "HTTP {status}"),
            FetchError::Network(why) => write!(f, "network error: {why}"),
            FetchError::Timeout { ms } => write!(f, "timed out after {ms} ms"),
            FetchError::Abort => f.write_str("aborted by the caller's signal"),
            FetchError::Parse(why) => write!(f, "response is not JSON: {why}"),
            FetchError::Invalid(why) => f.write_str(why),
            FetchError::Batch(why) => write!(f, "batch protocol error: {why}"),
            FetchError::CircuitOpen {
                origin,
                failures,
                retry_in_ms,
            } => write!(
                f,
                "circuit open: {origin} failed {failures} times in a row; \
                 nothing is sent there for {retry_in_ms} ms more"
            ),
        }
    }
}
