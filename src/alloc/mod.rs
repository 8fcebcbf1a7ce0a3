//! Memory accounting (DESIGN §9).
//!
//! Every heap byte of the process goes through `CountingAlloc`, the global allocator, which keeps
//! `used_memory` exact for INFO (and later `maxmemory`): blocks up to 4 KiB come from the
//! size-class slabs of `slab.rs` (counted at their class size, as Redis counts jemalloc's usable
//! size), larger ones from the system allocator. Callers only ever see `used_memory()` and
//! `peak_memory()`.

pub mod child_arena;
pub mod heap;
pub mod pages;
pub mod slab;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

static USED: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

pub struct CountingAlloc;

fn add(n: usize) {
    let now = USED.fetch_add(n, Ordering::Relaxed) + n;
    if now > PEAK.load(Ordering::Relaxed) {
        PEAK.store(now, Ordering::Relaxed);
    }
}

/// Whether a layout is served by the slabs (small, at most 8-aligned).
#[inline]
fn small(layout: &Layout) -> bool {
    layout.size() <= slab::MAX_SMALL && layout.align() <= 8 && layout.size() > 0
}

// SAFETY: small layouts are served by `slab` (blocks of at least the layout's size, 8-aligned,
// valid until freed with the same layout, which maps to the same class); the rest forward to
// `System` unchanged. Bookkeeping on the side does not affect the returned memory.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if child_arena::is_active() {
            // SAFETY: only a snapshot child activates the arena.
            return unsafe { child_arena::alloc(layout) };
        }
        if small(&layout) {
            let c = slab::class_of(layout.size());
            let p = slab::alloc(c);
            if !p.is_null() {
                add(slab::CLASSES[c]);
            }
            return p;
        }
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if small(&layout) || child_arena::is_active() {
            // SAFETY: same contract as alloc; the block is then zeroed over the layout's size.
            let p = unsafe { self.alloc(layout) };
            if !p.is_null() {
                // SAFETY: `p` is valid for `layout.size()` bytes.
                unsafe { std::ptr::write_bytes(p, 0, layout.size()) };
            }
            return p;
        }
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if child_arena::is_active() {
            // SAFETY: only a snapshot child activates the arena; it ignores parent blocks.
            return unsafe { child_arena::dealloc(ptr, layout) };
        }
        if small(&layout) {
            let c = slab::class_of(layout.size());
            // SAFETY: the caller returns a block allocated with this layout, hence this class.
            unsafe { slab::free(ptr, c) };
            USED.fetch_sub(slab::CLASSES[c], Ordering::Relaxed);
            return;
        }
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) };
        USED.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if child_arena::is_active() {
            // SAFETY: as in dealloc.
            return unsafe { child_arena::realloc(ptr, layout, new_size) };
        }
        // SAFETY: `layout.align()` is a valid alignment and `new_size` fits it (caller).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let (old_small, new_small) = (small(&layout), small(&new_layout));
        if !old_small && !new_small {
            // SAFETY: forwarded unchanged.
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                if new_size >= layout.size() {
                    add(new_size - layout.size());
                } else {
                    USED.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
                }
            }
            return p;
        }
        if old_small && new_small && slab::class_of(layout.size()) == slab::class_of(new_size) {
            return ptr;
        }
        // Across classes or between the slabs and System: move the bytes.
        // SAFETY: a fresh block for the new layout; the old one stays valid until freed below.
        let p = unsafe { self.alloc(new_layout) };
        if !p.is_null() {
            // SAFETY: both blocks are valid for the smaller of the two sizes and distinct.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, p, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        p
    }
}

/// Settle glibc's behaviour for the large blocks it still serves (query and reply buffers,
/// big tables): blocks from 128 KiB up are mapped and unmapped on free. Without fixing the
/// threshold glibc raises it after every large free, so buffers a burst left behind stay in the
/// heap, resident, long after the burst.
pub fn configure_system_allocator() {
    // SAFETY: mallopt only changes malloc tuning parameters; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 * 1024);
    }
}

/// Count memory obtained outside the global allocator (page-backed arrays).
pub fn account_alloc(n: usize) {
    add(n);
}

pub fn account_free(n: usize) {
    USED.fetch_sub(n, Ordering::Relaxed);
}

/// Bytes currently allocated through the global allocator.
pub fn used_memory() -> usize {
    USED.load(Ordering::Relaxed)
}

/// The highest `used_memory` seen.
pub fn peak_memory() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// Resident set size of the process, from /proc/self/statm.
pub fn rss_bytes() -> usize {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = s
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}
