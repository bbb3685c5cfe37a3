//! The wasm32 allocator: power-of-two size classes, one free list each, and
//! a bump pointer over the module's memory.
//!
//! Allocation and release are O(1): a block is taken from its class's list
//! or cut from the end of the heap, and a freed block goes back to the head
//! of its list. (The free-list allocator this replaces kept one address-ordered
//! list and walked it on every release: with a thousand clients in a page,
//! releasing took longer than the work around it.) Blocks are never split or
//! merged; the core's vectors grow by doubling, so the blocks a class frees
//! are the ones it asks for next, and memory stays bounded by the largest
//! live set of each class.

use core::alloc::{GlobalAlloc, Layout};
use core::arch::wasm32;

/// Size classes 2^0 .. 2^31 (the smallest used is 8 bytes).
const CLASSES: usize = 32;
const PAGE: usize = 65536;

/// The allocator. Single-threaded: wasm32 without threads.
#[derive(Debug)]
pub struct SizeClasses;

static mut FREE: [usize; CLASSES] = [0; CLASSES];
static mut NEXT: usize = 0;
static mut END: usize = 0;

extern "C" {
    static __heap_base: u8;
}

/// The class of a layout: the power of two that holds it, at least 8 bytes.
fn class(layout: &Layout) -> usize {
    let n = layout.size().max(layout.align()).max(8);
    (usize::BITS - (n - 1).leading_zeros()) as usize
}

// SAFETY: wasm32 without threads, so the statics are never used concurrently;
// every block handed out is `1 << class` bytes inside memory this module owns,
// aligned as its layout asks, and used by one owner until it is freed.
#[allow(static_mut_refs)]
unsafe impl GlobalAlloc for SizeClasses {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let c = class(&layout);
        // (A layout's size and align are at most `isize::MAX`, rounded to
        // its align: the class is below CLASSES.)
        let free = FREE.get_unchecked_mut(c);
        let align = layout.align();
        let head = *free;
        if head != 0 && head & (align - 1) == 0 {
            *free = *(head as *const usize);
            return head as *mut u8;
        }
        if NEXT == 0 {
            NEXT = core::ptr::addr_of!(__heap_base) as usize;
            END = wasm32::memory_size(0) * PAGE;
        }
        let size = 1usize << c;
        let start = (NEXT + align.max(8) - 1) & !(align.max(8) - 1);
        let Some(end) = start.checked_add(size) else {
            return core::ptr::null_mut();
        };
        if end > END {
            let pages = (end - END).div_ceil(PAGE);
            if wasm32::memory_grow(0, pages) == usize::MAX {
                return core::ptr::null_mut();
            }
            END += pages * PAGE;
        }
        NEXT = end;
        start as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // (The block came from `alloc`: its class is below CLASSES.)
        let free = FREE.get_unchecked_mut(class(&layout));
        *(ptr as *mut usize) = *free;
        *free = ptr as usize;
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `layout.align()` is a power of two (it came from a Layout).
        let new = Layout::from_size_align_unchecked(new_size, layout.align());
        if class(&new) == class(&layout) {
            return ptr; // the block already holds `new_size` bytes
        }
        let out = self.alloc(new);
        if !out.is_null() {
            core::ptr::copy_nonoverlapping(ptr, out, layout.size().min(new_size));
            self.dealloc(ptr, layout);
        }
        out
    }
}
