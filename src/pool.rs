//! The filter's allocator: small blocks are kept on a free list per size class and handed out
//! again without asking the general allocator, which costs each request a few hundred wasm
//! operators per allocation (a first-seen token makes about thirty: the token, its decoded
//! parts, its claims, the header edits). Larger or over-aligned blocks go straight to it.
//!
//! A Wasm VM runs one thread, so the lists need no lock. Each list keeps at most `KEEP` blocks;
//! beyond that a freed block goes back to the general allocator. `KEEP` is above what a
//! generation of the token caches holds (512 entries at the default size), so what one
//! generation frees when it is dropped is what the next one is built from: with 64, first-seen
//! tokens past a full cache went to the general allocator for most of their blocks (RS256:
//! 3.1k operators more per token). A Wasm memory never shrinks, so a list holds memory that
//! was already the VM's; at most 1024 blocks of each class (3.5 MiB over all twelve, reached
//! only by a burst that fills every class at once).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr::null_mut;

/// Block sizes, smallest first. Every block is 16-aligned.
const CLASSES: [usize; 12] = [16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024];
const ALIGN: usize = 16;
/// Most blocks a list keeps: more than one cache generation's entries.
const KEEP: u32 = 1024;

struct Lists {
    heads: [*mut u8; CLASSES.len()],
    counts: [u32; CLASSES.len()],
}

pub struct Pool(UnsafeCell<Lists>);

// SAFETY: a wasm32 VM runs a single thread; nothing here is shared across threads.
unsafe impl Sync for Pool {}

impl Pool {
    pub const fn new() -> Pool {
        Pool(UnsafeCell::new(Lists { heads: [null_mut(); CLASSES.len()], counts: [0; CLASSES.len()] }))
    }
}

/// The class of each size in 16-byte steps: `CLASS_OF[(size + 15) / 16]` is the first class
/// that holds `size` (one load where a search of `CLASSES` took a loop per allocation).
// Evaluated while compiling: an index out of range fails the build, never the VM.
#[allow(clippy::indexing_slicing)]
const CLASS_OF: [u8; 1024 / ALIGN + 1] = {
    let mut table = [0u8; 1024 / ALIGN + 1];
    let (mut step, mut c) = (0, 0);
    while step < table.len() {
        while CLASSES[c] < step * ALIGN {
            c += 1;
        }
        table[step] = c as u8;
        step += 1;
    }
    table
};

/// The class of a layout the pool serves, None for the others.
#[inline]
fn class(l: &Layout) -> Option<usize> {
    if l.align() > ALIGN {
        return None;
    }
    CLASS_OF.get(l.size().div_ceil(ALIGN)).map(|&c| c as usize)
}

/// The layout of a class's blocks in the general allocator.
#[inline]
fn block(c: usize) -> Layout {
    // SAFETY: every class size is a non-zero multiple of ALIGN, a power of two.
    unsafe { Layout::from_size_align_unchecked(*CLASSES.get_unchecked(c), ALIGN) }
}

// SAFETY: every block handed out is at least the layout's size and 16-aligned (≥ its align);
// a block is on a list only after its owner freed it, and each list link lives in the first
// bytes of a free block (every class holds a pointer).
unsafe impl GlobalAlloc for Pool {
    #[inline]
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let Some(c) = class(&l) else { return unsafe { System.alloc(l) } };
        let lists = unsafe { &mut *self.0.get() };
        let head = unsafe { *lists.heads.get_unchecked(c) };
        if head.is_null() {
            return unsafe { System.alloc(block(c)) };
        }
        unsafe {
            *lists.heads.get_unchecked_mut(c) = *(head as *mut *mut u8);
            *lists.counts.get_unchecked_mut(c) -= 1;
        }
        head
    }

    #[inline]
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        let Some(c) = class(&l) else { return unsafe { System.dealloc(p, l) } };
        let lists = unsafe { &mut *self.0.get() };
        unsafe {
            if *lists.counts.get_unchecked(c) >= KEEP {
                return System.dealloc(p, block(c));
            }
            *(p as *mut *mut u8) = *lists.heads.get_unchecked(c);
            *lists.heads.get_unchecked_mut(c) = p;
            *lists.counts.get_unchecked_mut(c) += 1;
        }
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        // SAFETY (both layouts): the caller guarantees `new_size` with `l.align()` is a layout.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, l.align()) };
        match (class(&l), class(&new)) {
            (Some(a), Some(b)) if a == b => p,
            (None, None) => unsafe { System.realloc(p, l, new_size) },
            _ => unsafe {
                let q = self.alloc(new);
                if !q.is_null() {
                    std::ptr::copy_nonoverlapping(p, q, l.size().min(new_size));
                    self.dealloc(p, l);
                }
                q
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_class_table_gives_the_first_class_that_holds_each_size() {
        for size in 0..=2048 {
            let l = Layout::from_size_align(size, 1).unwrap();
            assert_eq!(class(&l), CLASSES.iter().position(|&c| size <= c), "{size}");
        }
    }

    #[test]
    fn blocks_are_reused_aligned_and_bounded() {
        let pool = Pool::new();
        let l = Layout::from_size_align(40, 8).unwrap();
        unsafe {
            let a = pool.alloc(l);
            assert_eq!(a as usize % ALIGN, 0);
            pool.dealloc(a, l);
            // Same class (33..=48 bytes): the same block comes back.
            let b = pool.alloc(Layout::from_size_align(33, 1).unwrap());
            assert_eq!(a, b);
            // Grown within its class: not moved; grown past it: moved, contents kept.
            b.write_bytes(7, 33);
            assert_eq!(pool.realloc(b, Layout::from_size_align(33, 1).unwrap(), 48), b);
            let c = pool.realloc(b, Layout::from_size_align(48, 1).unwrap(), 600);
            assert_eq!(std::slice::from_raw_parts(c, 33), &[7u8; 33][..]);
            pool.dealloc(c, Layout::from_size_align(600, 1).unwrap());
            // Freed past KEEP: the list stops growing.
            let many: Vec<*mut u8> = (0..KEEP + 10).map(|_| pool.alloc(l)).collect();
            for p in many {
                pool.dealloc(p, l);
            }
            assert_eq!((*pool.0.get()).counts[class(&l).unwrap()], KEEP);
            // Over-aligned: not pooled.
            assert_eq!(class(&Layout::from_size_align(16, 32).unwrap()), None);
        }
    }
}
