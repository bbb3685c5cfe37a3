//! What the core asks the shell to do, and why a request failed.
//!
//! Actions are typed here (the native tests read them as they are) and
//! written as `u32` words for the shell by [`Action::encode`]; the opcodes
//! and arities are those of `docs/boundary.md`. The core writes the words
//! as it queues each action: a plain one ([`op`]) straight from its numbers
//! ([`put_plain`]), so that the wasm holds no code that builds and matches
//! an [`Action`] for it.

use alloc::vec::Vec;

use super::slab::Must;

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
    /// Its word: the flight, or [`STAGED`].
    pub fn word(self) -> u32 {
        match self {
            Src::Flight(f) => f,
            Src::Staged => STAGED,
        }
    }
}

/// Why a request failed. Each carries only numbers: the shell recorded the
/// rest (status text, body, network message) when it reported the outcome,
/// and builds the error and its message. Each variant's discriminant is
/// its code in `docs/boundary.md` (`repr(u32)`: the tag is the code, which
/// makes [`Fail::words`] little more than loads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
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
    } = 1,
    /// The flight failed on the network.
    Network {
        /// The flight.
        flight: u32,
    } = 2,
    /// No answer within the timeout.
    Timeout {
        /// The limit, in ms.
        ms: u64,
    } = 3,
    /// The caller's signal aborted.
    Abort = 4,
    /// The flight's 2xx body was not JSON.
    Parse {
        /// The flight.
        flight: u32,
    } = 5,
    /// A batch answer has no item for the flight.
    BatchMissing {
        /// The flight.
        flight: u32,
    } = 6,
    /// A batch answer could not be read (the shell recorded why).
    BatchBroken {
        /// The batch.
        batch: u32,
    } = 7,
    /// A batch item came with a status that is not an answer (1xx, 3xx).
    BatchStatus {
        /// The flight.
        flight: u32,
    } = 8,
    /// The origin's circuit is open.
    Circuit {
        /// The origin.
        origin: u32,
        /// How long until the next probe, in ms (0 while one is out).
        retry_in_ms: u64,
        /// The consecutive failures that opened it.
        failures: u32,
    } = 9,
    /// The batch POST failed with this status.
    BatchHttp {
        /// The batch.
        batch: u32,
        /// Its status.
        status: u16,
    } = 10,
    /// The batch POST failed on the network.
    BatchNetwork {
        /// The batch.
        batch: u32,
    } = 11,
    /// The socket reported an error for the key.
    Socket {
        /// The key.
        key: u32,
    } = 12,
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

/// The opcodes of the plain actions: an opcode and up to two numbers
/// (`docs/boundary.md`). The core queues them as words, with no [`Action`]
/// in between (less code in the wasm).
pub mod op {
    /// [`super::Action::Fetch`]: flight, key.
    pub const FETCH: u32 = 1;
    /// [`super::Action::CancelFlight`]: flight.
    pub const CANCEL_FLIGHT: u32 = 2;
    /// [`super::Action::CancelBatch`]: batch.
    pub const CANCEL_BATCH: u32 = 4;
    /// [`super::Action::Resolve`]: waiter, the body's word.
    pub const RESOLVE: u32 = 5;
    /// [`super::Action::ResolveKey`]: waiter, key.
    pub const RESOLVE_KEY: u32 = 6;
    /// [`super::Action::Keep`]: key, the body's word.
    pub const KEEP: u32 = 8;
    /// [`super::Action::Show`]: key, the body's word.
    pub const SHOW: u32 = 9;
    /// [`super::Action::Batch`]: batch, n, then n × flight, key, etag.
    pub const BATCH: u32 = 3;
    /// [`super::Action::Reject`]: waiter, then the failure's four words.
    pub const REJECT: u32 = 7;
    /// [`super::Action::Error`]: key, then the failure's four words.
    pub const ERROR: u32 = 10;
    /// [`super::Action::Drop`]: key.
    pub const DROP: u32 = 11;
    /// [`super::Action::Notify`]: key.
    pub const NOTIFY: u32 = 12;
    /// [`super::Action::Polled`]: key.
    pub const POLLED: u32 = 13;
    /// [`super::Action::Lead`]: key, 1 to ask.
    pub const LEAD: u32 = 14;
    /// [`super::Action::SocketOpen`].
    pub const SOCKET_OPEN: u32 = 15;
    /// [`super::Action::SocketClose`].
    pub const SOCKET_CLOSE: u32 = 16;
    /// [`super::Action::Sub`]: key.
    pub const SUB: u32 = 17;
    /// [`super::Action::Unsub`]: key.
    pub const UNSUB: u32 = 18;
    /// [`super::Action::KeyFree`]: key.
    pub const KEY_FREE: u32 = 19;
    /// [`super::Action::Send`]: write.
    pub const SEND: u32 = 20;
    /// [`super::Action::Written`]: write, then the failure's four words
    /// (zeros: it succeeded).
    pub const WRITTEN: u32 = 21;
    /// [`super::Action::Prefetched`]: key.
    pub const PREFETCHED: u32 = 22;
}

impl Src {
    /// The body a word names (the inverse of its word).
    pub fn from_word(w: u32) -> Src {
        match w {
            STAGED => Src::Staged,
            f => Src::Flight(f),
        }
    }
}

/// Append a plain action's words: `op`, then `a` and `b` as its arity says.
pub fn put_plain(out: &mut Vec<u32>, op: u32, a: u32, b: u32) {
    // Words: 3 for FETCH, RESOLVE, RESOLVE_KEY, KEEP, SHOW and LEAD; 1 for
    // SOCKET_OPEN and SOCKET_CLOSE; 2 for the rest.
    const THREE: u32 = 1 << 1 | 1 << 5 | 1 << 6 | 1 << 8 | 1 << 9 | 1 << 14;
    const ONE: u32 = 1 << 15 | 1 << 16;
    let n = 2 + (THREE >> op & 1) - (ONE >> op & 1);
    put(out, [op, a, b].get(..n as usize).must());
}

impl Action {
    /// The plain action of `op` and its numbers (see [`put_plain`]); panics
    /// for an opcode that is not a plain action's.
    pub fn plain(op: u32, a: u32, b: u32) -> Action {
        match op {
            op::FETCH => Action::Fetch { flight: a, key: b },
            op::CANCEL_FLIGHT => Action::CancelFlight(a),
            op::CANCEL_BATCH => Action::CancelBatch(a),
            op::RESOLVE => Action::Resolve {
                waiter: a,
                src: Src::from_word(b),
            },
            op::RESOLVE_KEY => Action::ResolveKey { waiter: a, key: b },
            op::KEEP => Action::Keep {
                key: a,
                src: Src::from_word(b),
            },
            op::SHOW => Action::Show {
                key: a,
                src: Src::from_word(b),
            },
            op::DROP => Action::Drop(a),
            op::NOTIFY => Action::Notify(a),
            op::POLLED => Action::Polled(a),
            op::LEAD => Action::Lead {
                key: a,
                want: b != 0,
            },
            op::SOCKET_OPEN => Action::SocketOpen,
            op::SOCKET_CLOSE => Action::SocketClose,
            op::SUB => Action::Sub(a),
            op::UNSUB => Action::Unsub(a),
            op::KEY_FREE => Action::KeyFree(a),
            op::SEND => Action::Send(a),
            op::PREFETCHED => Action::Prefetched(a),
            _ => panic!("opcode {op} is not a plain action's"),
        }
    }

    /// Append this action's words to `out`.
    pub fn encode(&self, out: &mut Vec<u32>) {
        let (op, a, b) = match *self {
            Action::Fetch { flight, key } => (op::FETCH, flight, key),
            Action::CancelFlight(f) => (op::CANCEL_FLIGHT, f, 0),
            Action::CancelBatch(b) => (op::CANCEL_BATCH, b, 0),
            Action::Resolve { waiter, src } => (op::RESOLVE, waiter, src.word()),
            Action::ResolveKey { waiter, key } => (op::RESOLVE_KEY, waiter, key),
            Action::Keep { key, src } => (op::KEEP, key, src.word()),
            Action::Show { key, src } => (op::SHOW, key, src.word()),
            Action::Drop(k) => (op::DROP, k, 0),
            Action::Notify(k) => (op::NOTIFY, k, 0),
            Action::Polled(k) => (op::POLLED, k, 0),
            Action::Lead { key, want } => (op::LEAD, key, want as u32),
            Action::SocketOpen => (op::SOCKET_OPEN, 0, 0),
            Action::SocketClose => (op::SOCKET_CLOSE, 0, 0),
            Action::Sub(k) => (op::SUB, k, 0),
            Action::Unsub(k) => (op::UNSUB, k, 0),
            Action::KeyFree(k) => (op::KEY_FREE, k, 0),
            Action::Send(w) => (op::SEND, w, 0),
            Action::Prefetched(k) => (op::PREFETCHED, k, 0),
            _ => return self.encode_rest(out),
        };
        put_plain(out, op, a, b);
    }

    /// Append the words of an action that is not plain: a batch, or one
    /// that carries a failure.
    fn encode_rest(&self, out: &mut Vec<u32>) {
        match *self {
            Action::Batch { batch, ref items } => {
                put(out, &[op::BATCH, batch, items.len() as u32]);
                for i in items {
                    put(out, &[i.flight, i.key, i.etag as u32]);
                }
            }
            Action::Reject { waiter, fail } => put_fail(out, op::REJECT, waiter, Some(fail)),
            Action::Error { key, fail } => put_fail(out, op::ERROR, key, Some(fail)),
            Action::Written { write, fail } => put_fail(out, op::WRITTEN, write, fail),
            _ => {}
        }
    }

    /// The action of `op` (`REJECT`, `ERROR` or `WRITTEN`) for `id` and
    /// `fail` (see [`put_fail`]); panics for another opcode, or without a
    /// failure where one is needed.
    pub fn failed(op: u32, id: u32, fail: Option<Fail>) -> Action {
        match (op, fail) {
            (op::REJECT, Some(fail)) => Action::Reject { waiter: id, fail },
            (op::ERROR, Some(fail)) => Action::Error { key: id, fail },
            (op::WRITTEN, fail) => Action::Written { write: id, fail },
            _ => panic!("opcode {op} with {fail:?} is not an action's"),
        }
    }
}

/// Append the words of `REJECT`, `ERROR` or `WRITTEN`: `op`, `id`, then
/// the four words of `fail` (zeros for none).
pub fn put_fail(out: &mut Vec<u32>, op: u32, id: u32, fail: Option<Fail>) {
    put(out, &[op, id]);
    put(out, &fail.map_or([0; 4], Fail::words));
}

/// Append `w` to `out` (one copy of the append for every action).
#[inline(never)]
pub fn put(out: &mut Vec<u32>, w: &[u32]) {
    out.extend_from_slice(w);
}

#[cfg(test)]
mod tests {
    use super::{op, put_fail, put_plain, Action, Fail, Src, STAGED};
    use alloc::vec::Vec;

    #[test]
    fn plain_actions_are_their_opcode_and_as_many_numbers_as_docs_boundary_says() {
        let arity = [
            (op::FETCH, 3),
            (op::CANCEL_FLIGHT, 2),
            (op::CANCEL_BATCH, 2),
            (op::RESOLVE, 3),
            (op::RESOLVE_KEY, 3),
            (op::KEEP, 3),
            (op::SHOW, 3),
            (op::DROP, 2),
            (op::NOTIFY, 2),
            (op::POLLED, 2),
            (op::LEAD, 3),
            (op::SOCKET_OPEN, 1),
            (op::SOCKET_CLOSE, 1),
            (op::SUB, 2),
            (op::UNSUB, 2),
            (op::KEY_FREE, 2),
            (op::SEND, 2),
            (op::PREFETCHED, 2),
        ];
        for (code, n) in arity {
            let (mut words, mut encoded) = (Vec::new(), Vec::new());
            put_plain(&mut words, code, 7, 1);
            assert_eq!(words, [code, 7, 1][..n], "opcode {code}");
            Action::plain(code, 7, 1).encode(&mut encoded);
            assert_eq!(encoded, words, "opcode {code}");
        }
        for (code, fail) in [
            (op::REJECT, Some(Fail::Abort)),
            (op::ERROR, Some(Fail::Network { flight: 4 })),
            (op::WRITTEN, Some(Fail::Timeout { ms: 9 })),
            (op::WRITTEN, None),
        ] {
            let (mut words, mut encoded) = (Vec::new(), Vec::new());
            put_fail(&mut words, code, 7, fail);
            let four = fail.map_or([0; 4], Fail::words);
            assert_eq!(words, [code, 7, four[0], four[1], four[2], four[3]]);
            Action::failed(code, 7, fail).encode(&mut encoded);
            assert_eq!(encoded, words, "opcode {code}");
        }
        assert_eq!(Src::from_word(STAGED), Src::Staged);
        assert_eq!(Src::from_word(3), Src::Flight(3));
    }
}
