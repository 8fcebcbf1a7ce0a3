//! Size-class slabs for small allocations (DESIGN §9, the arenas' first form).
//!
//! Blocks of 8 B to 4 KiB come from per-class free lists and spans carved out of large
//! anonymous regions, with no per-block header: Rust hands the layout back on free, so the
//! class is known. Compared with glibc's malloc this removes 8–16 bytes of header and
//! alignment per block and rounds sizes to classes spaced about 25% apart, as jemalloc does for
//! Redis. Each class has its own spin lock (the main thread does nearly every allocation, so
//! the lock is almost never contended). Freed blocks are reused, not returned to the kernel.
//!
//! Not yet here (later issues): huge-page regions, post-fork spans and deferred frees while a
//! snapshot child lives, and a private arena for the child.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, Ordering};

/// Block sizes: 8-byte steps to 96 (the keyspace's table node is 72 bytes), 16-byte steps to
/// 128, then four classes per doubling.
pub const CLASSES: [usize; 34] = [
    8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448,
    512, 640, 768, 896, 1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096,
];
pub const MAX_SMALL: usize = 4096;
/// Bytes a class takes from the region at a time.
const SPAN: usize = 64 * 1024;
/// Regions are mapped this big (only touched pages become resident).
const REGION: usize = 64 * 1024 * 1024;

/// The class index for `size` (1..=MAX_SMALL).
#[inline]
pub fn class_of(size: usize) -> usize {
    if size <= 96 {
        size.max(1).div_ceil(8) - 1
    } else if size <= 128 {
        12 + (size - 97) / 16
    } else {
        // Four classes per doubling above 128: 160, 192, 224, 256, 320, ...
        let lg = usize::BITS - 1 - (size - 1).leading_zeros(); // floor(log2(size - 1))
        let step = 1usize << (lg - 2);
        let base = 1usize << lg;
        let idx_in = (size - 1 - base) / step; // 0..3
        14 + (lg as usize - 7) * 4 + idx_in
    }
}

struct ClassState {
    free: *mut u8,
    bump: *mut u8,
    end: *mut u8,
}

struct Class {
    lock: AtomicBool,
    state: UnsafeCell<ClassState>,
}

struct Region {
    lock: AtomicBool,
    cur: UnsafeCell<(usize, usize)>,
}

// SAFETY: every access to the UnsafeCell contents happens with the struct's spin lock held.
unsafe impl Sync for Class {}
// SAFETY: as above, `cur` is only touched under `lock`.
unsafe impl Sync for Region {}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_CLASS: Class = Class {
    lock: AtomicBool::new(false),
    state: UnsafeCell::new(ClassState {
        free: std::ptr::null_mut(),
        bump: std::ptr::null_mut(),
        end: std::ptr::null_mut(),
    }),
};

static STATE: [Class; CLASSES.len()] = [EMPTY_CLASS; CLASSES.len()];
static REGIONS: Region = Region {
    lock: AtomicBool::new(false),
    cur: UnsafeCell::new((0, 0)),
};

fn lock(l: &AtomicBool) {
    let mut spins = 0u32;
    while l
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        spins += 1;
        if spins < 64 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

fn unlock(l: &AtomicBool) {
    l.store(false, Ordering::Release);
}

/// A fresh span of SPAN bytes from the current region (mapping a new region when it is used
/// up); null if the kernel refuses memory.
fn new_span() -> *mut u8 {
    lock(&REGIONS.lock);
    // SAFETY: the region cursor is only read and written with REGIONS.lock held.
    let cur = unsafe { &mut *REGIONS.cur.get() };
    if cur.0 + SPAN > cur.1 {
        match super::pages::map_anonymous(REGION) {
            Some(p) => *cur = (p as usize, p as usize + REGION),
            None => {
                unlock(&REGIONS.lock);
                return std::ptr::null_mut();
            }
        }
    }
    let p = cur.0 as *mut u8;
    cur.0 += SPAN;
    unlock(&REGIONS.lock);
    p
}

/// A block of class `c`, or null when out of memory.
pub fn alloc(c: usize) -> *mut u8 {
    let class = &STATE[c];
    let size = CLASSES[c];
    lock(&class.lock);
    // SAFETY: the class state is only touched with its lock held; free blocks hold the next
    // free block's address in their first word (every class is at least 8 bytes and 8-aligned).
    let p = unsafe {
        let st = &mut *class.state.get();
        if !st.free.is_null() {
            let p = st.free;
            st.free = *(p as *mut *mut u8);
            p
        } else {
            if st.bump.is_null() || (st.end as usize - st.bump as usize) < size {
                let span = new_span();
                if span.is_null() {
                    unlock(&class.lock);
                    return std::ptr::null_mut();
                }
                st.bump = span;
                st.end = span.add(SPAN);
            }
            let p = st.bump;
            st.bump = p.add(size);
            p
        }
    };
    unlock(&class.lock);
    p
}

/// Return a block of class `c`.
///
/// # Safety
/// `p` must have come from `alloc(c)` and not have been freed since.
pub unsafe fn free(p: *mut u8, c: usize) {
    let class = &STATE[c];
    lock(&class.lock);
    // SAFETY: lock held; `p` is a live block of this class (caller's contract), big enough for
    // the link word.
    unsafe {
        let st = &mut *class.state.get();
        *(p as *mut *mut u8) = st.free;
        st.free = p;
    }
    unlock(&class.lock);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_size_gets_the_smallest_class_that_fits() {
        for size in 1..=MAX_SMALL {
            let c = class_of(size);
            assert!(CLASSES[c] >= size, "size {size} class {}", CLASSES[c]);
            assert!(
                c == 0 || CLASSES[c - 1] < size,
                "size {size} class {}",
                CLASSES[c]
            );
        }
    }

    #[test]
    fn blocks_are_distinct_and_reused_after_free() {
        let c = class_of(100);
        let a = alloc(c);
        let b = alloc(c);
        assert!(!a.is_null() && !b.is_null() && a != b);
        assert!((a as usize).abs_diff(b as usize) >= CLASSES[c]);
        // SAFETY: `b` came from alloc(c) just above.
        unsafe { free(b, c) };
        assert_eq!(alloc(c), b);
    }
}
