//! One table for every deadline of the core (quinn-proto's `TimerTable`):
//! owners `set` and `stop` their timer by name and never remember when it
//! was due.

use alloc::vec::Vec;

use super::slab::{swap_take, take};

/// A deadline: what it is for, and whose (the id of its flight, batch,
/// poll group, intent, live key or write; 0 for the socket's). Two plain
/// numbers, so that finding one in the table is two comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer(pub Kind, pub u32);

/// What a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Kind {
    /// A flight's timeout.
    Flight,
    /// A failed flight's retry.
    Retry,
    /// A batch window closing.
    Window,
    /// A poll group's next tick.
    Poll,
    /// A hover intent.
    Intent,
    /// The socket's connect timeout.
    Connect,
    /// The socket's next reconnect.
    Reconnect,
    /// The resync check after (re)subscribing.
    Resync,
    /// A live key's linger after its last listener left.
    Linger,
    /// A write's timeout.
    Write,
}

impl Timer {
    /// The socket's connect timeout.
    pub const CONNECT: Timer = Timer(Kind::Connect, 0);
    /// The socket's next reconnect.
    pub const RECONNECT: Timer = Timer(Kind::Reconnect, 0);
    /// The resync check after (re)subscribing.
    pub const RESYNC: Timer = Timer(Kind::Resync, 0);
}

/// The armed deadlines.
#[derive(Debug, Default)]
pub struct Timers {
    armed: Vec<(u64, Timer)>,
}

impl Timers {
    /// Arm `timer` at `at`, replacing its earlier deadline.
    pub fn set(&mut self, timer: Timer, at: u64) {
        match self.armed.iter_mut().find(|(_, t)| *t == timer) {
            Some(slot) => slot.0 = at,
            None => self.armed.push((at, timer)),
        }
    }

    /// Disarm `timer` (nothing if it is not armed). It is armed at most
    /// once; the others keep their order (which of equal deadlines is first).
    pub fn stop(&mut self, timer: Timer) {
        if let Some(i) = self.armed.iter().position(|(_, t)| *t == timer) {
            take(&mut self.armed, i);
        }
    }

    /// Is `timer` armed?
    pub fn is_set(&self, timer: Timer) -> bool {
        self.armed.iter().any(|(_, t)| *t == timer)
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<u64> {
        let mut next = None;
        for &(at, _) in &self.armed {
            next = Some(next.map_or(at, |n: u64| n.min(at)));
        }
        next
    }

    /// Take one timer due at `now` or before, the earliest first.
    pub fn pop_due(&mut self, now: u64) -> Option<Timer> {
        // (The first of equal deadlines, as `min_by_key` would take.)
        let mut due: Option<(usize, u64)> = None;
        for (i, &(at, _)) in self.armed.iter().enumerate() {
            if at <= now && due.is_none_or(|(_, d)| at < d) {
                due = Some((i, at));
            }
        }
        Some(swap_take(&mut self.armed, due?.0).1)
    }

    /// How many are armed (for leak checks).
    pub fn len(&self) -> usize {
        self.armed.len()
    }

    /// Is none armed?
    pub fn is_empty(&self) -> bool {
        self.armed.is_empty()
    }
}
