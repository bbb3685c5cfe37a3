//! Slabs: the core's tables, each a `Vec` indexed by id with a free list.
//!
//! Ids are dense `u32`s starting at 1 (0 means "none" across the boundary),
//! reused after removal, but never before the shell has read every action
//! that names the old item: a removed id waits, retired, until
//! [`Slab::recycle`] (through `Core::actions_read`: once native code has
//! drained the action queue; in the wasm, at the start of the shell's next
//! call, as it reads the words of each call right after it).
//! Whoever keeps an id must drop it when the item is removed: the core
//! removes timers and references along with their owner, and the shell
//! compares its own records before it reports a late answer.

use alloc::vec::Vec;

/// A table of `T` by id.
#[derive(Debug)]
pub struct Slab<T> {
    items: Vec<Option<T>>,
    /// The free ids: the first `ready` may be reused, the rest are retired
    /// (one list instead of two: less code in the wasm).
    free: Vec<u32>,
    ready: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            items: Vec::new(),
            free: Vec::new(),
            ready: 0,
        }
    }
}

impl<T> Slab<T> {
    /// Store `v`; returns its id (>= 1).
    pub fn insert(&mut self, v: T) -> u32 {
        let id = reuse(&mut self.free, &mut self.ready);
        if id == 0 {
            self.items.push(Some(v));
            return self.items.len() as u32;
        }
        // (The slot of a free id is empty: nothing to drop.)
        core::mem::forget(self.items.get_mut(id as usize - 1).must().replace(v));
        id
    }

    /// The item `id`, if present.
    pub fn get(&self, id: u32) -> Option<&T> {
        self.items.get((id as usize).wrapping_sub(1))?.as_ref()
    }

    /// The item `id`, mutably, if present.
    pub fn get_mut(&mut self, id: u32) -> Option<&mut T> {
        self.items.get_mut((id as usize).wrapping_sub(1))?.as_mut()
    }

    /// Is `id` present?
    pub fn contains(&self, id: u32) -> bool {
        self.get(id).is_some()
    }

    /// Take the item `id` out; its id is reused after the next `recycle`.
    pub fn remove(&mut self, id: u32) -> Option<T> {
        let v = self.items.get_mut((id as usize).wrapping_sub(1))?.take()?;
        retire(&mut self.free, id);
        Some(v)
    }

    /// The ids removed since the last call may be reused now.
    pub fn recycle(&mut self) {
        self.ready = self.free.len();
    }

    /// Every item with its id.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.as_ref().map(|v| (i as u32 + 1, v)))
    }

    /// Every item with its id, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (u32, &mut T)> {
        self.items
            .iter_mut()
            .enumerate()
            .filter_map(|(i, v)| v.as_mut().map(|v| (i as u32 + 1, v)))
    }

    /// Every id handed out so far, `1..` the next new one: every id in use
    /// is in it (a loop over them needs no list of the ids; a half-open
    /// range is less code than `1..=`, and no table holds `u32::MAX` items).
    pub fn ids(&self) -> core::ops::Range<u32> {
        1..self.items.len() as u32 + 1
    }

    /// How many items there are.
    pub fn len(&self) -> usize {
        self.items.len() - self.free.len()
    }

    /// Is it empty?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The id a new item reuses (0: none is ready): the last one made ready
/// (the retired ones after it keep their order). Not generic: one copy for
/// every table.
#[inline(never)]
fn reuse(free: &mut Vec<u32>, ready: &mut usize) -> u32 {
    if *ready == 0 {
        return 0;
    }
    *ready -= 1;
    take(free, *ready)
}

/// A removed item's id waits, retired (one copy for every table).
#[inline(never)]
fn retire(free: &mut Vec<u32>, id: u32) {
    free.push(id);
}

/// Take every `id` out of `v`, keeping the order of the rest (`retain`,
/// one shared copy in the wasm for every list of ids); whether any was there.
#[inline(never)]
pub fn remove_id(v: &mut Vec<u32>, id: u32) -> bool {
    let before = v.len();
    let mut i = 0;
    while i < v.len() {
        if v[i] == id {
            take(v, i);
        } else {
            i += 1;
        }
    }
    v.len() != before
}

/// `v.remove(i)`, whose index is known to be in range: an index out of
/// range fails at [`Must`]'s panic site, not with a formatted message (the
/// wasm then carries no text or location for it).
pub fn take<T>(v: &mut Vec<T>, i: usize) -> T {
    let len = v.len();
    if i >= len {
        gone()
    }
    // SAFETY: `i < len`: the item is read out once, the ones after it move
    // down over it, and the length drops by one (`Vec::remove`'s own steps).
    unsafe {
        let at = v.as_mut_ptr().add(i);
        let item = core::ptr::read(at);
        core::ptr::copy(at.add(1), at, len - i - 1);
        v.set_len(len - 1);
        item
    }
}

/// `v.swap_remove(i)`, whose index is known to be in range (see [`take`]).
#[inline]
pub fn swap_take<T>(v: &mut Vec<T>, i: usize) -> T {
    if i >= v.len() {
        gone()
    }
    v.swap_remove(i)
}

/// `unwrap` without the caller's location: the engine's invariants (an id
/// it holds is in its table) fail at one panic site, which makes every such
/// check a few bytes instead of a location and a call each (-0.4 KB
/// deflated). A panic still reports a file and line: this one.
pub trait Must<T> {
    /// The value; panics if there is none.
    fn must(self) -> T;
}

impl<T> Must<T> for Option<T> {
    #[inline]
    fn must(self) -> T {
        match self {
            Some(v) => v,
            None => gone(),
        }
    }
}

#[cold]
#[inline(never)]
fn gone() -> ! {
    panic!() // an id the core holds is missing from its table: a bug
}

#[cfg(test)]
mod tests {
    use super::{swap_take, take};
    use alloc::string::{String, ToString};
    use alloc::vec::Vec;

    #[test]
    fn take_and_swap_take_do_what_remove_and_swap_remove_do() {
        for len in 1..6 {
            for i in 0..len {
                let v: Vec<String> = (0..len).map(|n| n.to_string()).collect();
                let (mut a, mut b) = (v.clone(), v.clone());
                assert_eq!(take(&mut a, i), b.remove(i));
                assert_eq!(a, b);
                let (mut a, mut b) = (v.clone(), v);
                assert_eq!(swap_take(&mut a, i), b.swap_remove(i));
                assert_eq!(a, b);
            }
        }
    }

    #[test]
    #[should_panic]
    fn take_out_of_range_panics() {
        take(&mut Vec::<u32>::new(), 0);
    }
}
