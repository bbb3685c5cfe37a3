//! What the core asks the shell to do, and why a request failed.
//!
//! Actions are typed here (the native tests read them as they are) and
//! written as `u32` words for the shell by [`Action::encode`]; the opcodes
//! and arities are those of `docs/boundary.md`.

use alloc::vec::Vec;

/// Where a body to hand out is: the shell keeps every body, by flight (an
/// answer it reported) or by key (the data an entry keeps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Src {
    /// The answer to this flight.
    Flight(u32),
    /// The body the shell just handed in with `socket_data`, `tab_data` or
    /// `restore` (no flight carries it).
    Staged,
}

/// Sent in the words for [`Src::Staged`].
pub const STAGED: u32 = u32::MAX;

impl Src {
    fn word(self) -> u32 {
        match self {
            Src::Flight(f) => f,
            Src::Staged => STAGED,
        }
    }
}

/// Why a request failed. Each carries only numbers: the shell recorded the
/// rest (status text, body, network message) when it reported the outcome,
/// and builds the error and its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fail {
    /// The flight's answer had status >= 400 (`retry_after`: its
    /// `Retry-After` in ms).
    Http {
        /// The flight.
        flight: u32,
        /// The status.
        status: u16,
        /// `Retry-After`, in ms.
        retry_after: Option<u64>,
    },
    /// The flight failed on the network.
    Network {
        /// The flight.
        flight: u32,
    },
    /// No answer within the timeout.
    Timeout {
        /// The limit, in ms.
        ms: u64,
    },
    /// The caller's signal aborted.
    Abort,
    /// The flight's 2xx body was not JSON.
    Parse {
        /// The flight.
        flight: u32,
    },
    /// A batch answer has no item for the flight.
    BatchMissing {
        /// The flight.
        flight: u32,
    },
    /// A batch answer could not be read (the shell recorded why).
    BatchBroken {
        /// The batch.
        batch: u32,
    },
    /// A batch item came with a status that is not an answer (1xx, 3xx).
    BatchStatus {
        /// The flight.
        flight: u32,
    },
    /// The origin's circuit is open.
    Circuit {
        /// The origin.
        origin: u32,
        /// How long until the next probe, in ms (0 while one is out).
        retry_in_ms: u64,
        /// The consecutive failures that opened it.
        failures: u32,
    },
    /// The batch POST failed with this status.
    BatchHttp {
        /// The batch.
        batch: u32,
        /// Its status.
        status: u16,
    },
    /// The batch POST failed on the network.
    BatchNetwork {
        /// The batch.
        batch: u32,
    },
    /// The socket reported an error for the key.
    Socket {
        /// The key.
        key: u32,
    },
}

impl Fail {
    /// Code and arguments, as in `docs/boundary.md`.
    pub fn words(self) -> [u32; 4] {
        let ms = |v: u64| v.min(u32::MAX as u64) as u32;
        match self {
            Fail::Http { flight, .. } => [1, flight, 0, 0],
            Fail::Network { flight } => [2, flight, 0, 0],
            Fail::Timeout { ms: t } => [3, ms(t), 0, 0],
            Fail::Abort => [4, 0, 0, 0],
            Fail::Parse { flight } => [5, flight, 0, 0],
            Fail::BatchMissing { flight } => [6, flight, 0, 0],
            Fail::BatchBroken { batch } => [7, batch, 0, 0],
            Fail::BatchStatus { flight } => [8, flight, 0, 0],
            Fail::Circuit {
                origin,
                retry_in_ms,
                failures,
            } => [9, origin, ms(retry_in_ms), failures],
            Fail::BatchHttp { batch, .. } => [10, batch, 0, 0],
            Fail::BatchNetwork { batch } => [11, batch, 0, 0],
            Fail::Socket { key } => [12, key, 0, 0],
        }
    }

    /// Does it count against the origin's health (circuit breaker)?
    pub fn counts(self) -> bool {
        match self {
            Fail::Network { .. } | Fail::Timeout { .. } | Fail::BatchNetwork { .. } => true,
            Fail::Http { status, .. } | Fail::BatchHttp { status, .. } => {
                status == 429 || status >= 500
            }
            _ => false,
        }
    }

    /// Did the origin answer at all? (Aborts and refusals say nothing.)
    pub fn answered(self) -> bool {
        !matches!(self, Fail::Abort | Fail::Circuit { .. })
    }
}

/// One item of a batch to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    /// The flight (its id is the item's id on the wire).
    pub flight: u32,
    /// Whose request it is.
    pub key: u32,
    /// Send `If-None-Match` with the key's ETag.
    pub etag: bool,
}

/// What the core asks the shell to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send the key's request as flight `flight`; report with `fetch_done`.
    Fetch {
        /// The flight.
        flight: u32,
        /// The key.
        key: u32,
    },
    /// Abort a flight.
    CancelFlight(u32),
    /// POST these items as one batch; report with the `batch_*` inputs.
    Batch {
        /// The batch.
        batch: u32,
        /// Its items.
        items: Vec<Item>,
    },
    /// Abort a batch request.
    CancelBatch(u32),
    /// Settle a waiter with the body of a flight (or the staged one).
    Resolve {
        /// The waiter.
        waiter: u32,
        /// The body.
        src: Src,
    },
    /// Settle a waiter with the body the key's entry keeps.
    ResolveKey {
        /// The waiter.
        waiter: u32,
        /// The key.
        key: u32,
    },
    /// Settle a waiter with an error.
    Reject {
        /// The waiter.
        waiter: u32,
        /// Why.
        fail: Fail,
    },
    /// The key's entry keeps this body now (and its ETag); its error goes.
    Keep {
        /// The key.
        key: u32,
        /// The body.
        src: Src,
    },
    /// The key's listeners are shown this body, which is not kept.
    Show {
        /// The key.
        key: u32,
        /// The body.
        src: Src,
    },
    /// The key's entry shows this error.
    Error {
        /// The key.
        key: u32,
        /// Why.
        fail: Fail,
    },
    /// Forget the key's body, ETag and error.
    Drop(u32),
    /// The key's listeners get a new snapshot.
    Notify(u32),
    /// Share the key's new data with the other tabs.
    Polled(u32),
    /// Ask for (`true`) or give up the key's poll leadership across tabs.
    Lead {
        /// The key.
        key: u32,
        /// Ask, or give up.
        want: bool,
    },
    /// Open the socket.
    SocketOpen,
    /// Close the socket.
    SocketClose,
    /// Subscribe the key on the socket.
    Sub(u32),
    /// Unsubscribe the key on the socket.
    Unsub(u32),
    /// The key is gone: the shell forgets it.
    KeyFree(u32),
    /// Send the write's request; report with `write_done`.
    Send(u32),
    /// The write ended: it succeeded (`None`) or why it failed. The shell
    /// aborts its request if still out.
    Written {
        /// The write.
        write: u32,
        /// Why it failed.
        fail: Option<Fail>,
    },
    /// A prefetch of the key ended: fetched, failed, or skipped when its
    /// turn came (the shell reads the key's state to tell which).
    Prefetched(u32),
}

impl Action {
    /// Append this action's words to `out`.
    pub fn encode(&self, out: &mut Vec<u32>) {
        match self {
            Action::Fetch { flight, key } => put(out, &[1, *flight, *key]),
            Action::CancelFlight(f) => put(out, &[2, *f]),
            Action::Batch { batch, items } => {
                put(out, &[3, *batch, items.len() as u32]);
                for i in items {
                    put(out, &[i.flight, i.key, i.etag as u32]);
                }
            }
            Action::CancelBatch(b) => put(out, &[4, *b]),
            Action::Resolve { waiter, src } => put(out, &[5, *waiter, src.word()]),
            Action::ResolveKey { waiter, key } => put(out, &[6, *waiter, *key]),
            Action::Reject { waiter, fail } => {
                put(out, &[7, *waiter]);
                put(out, &fail.words());
            }
            Action::Keep { key, src } => put(out, &[8, *key, src.word()]),
            Action::Show { key, src } => put(out, &[9, *key, src.word()]),
            Action::Error { key, fail } => {
                put(out, &[10, *key]);
                put(out, &fail.words());
            }
            Action::Drop(k) => put(out, &[11, *k]),
            Action::Notify(k) => put(out, &[12, *k]),
            Action::Polled(k) => put(out, &[13, *k]),
            Action::Lead { key, want } => put(out, &[14, *key, *want as u32]),
            Action::SocketOpen => put(out, &[15]),
            Action::SocketClose => put(out, &[16]),
            Action::Sub(k) => put(out, &[17, *k]),
            Action::Unsub(k) => put(out, &[18, *k]),
            Action::KeyFree(k) => put(out, &[19, *k]),
            Action::Send(w) => put(out, &[20, *w]),
            Action::Written { write, fail } => {
                put(out, &[21, *write]);
                put(out, &fail.map_or([0; 4], Fail::words));
            }
            Action::Prefetched(k) => put(out, &[22, *k]),
        }
    }
}

/// Append `w` to `out` (one copy of the append for every action).
#[inline(never)]
fn put(out: &mut Vec<u32>, w: &[u32]) {
    out.extend_from_slice(w);
}
