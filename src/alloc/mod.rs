//! Memory accounting (DESIGN §9).
//!
//! Every heap byte of the process goes through `CountingAlloc`, the global allocator, which keeps
//! `used_memory` exact for INFO (and later `maxmemory`). For now it is backed by the system
//! allocator; the arena and big-key-region allocator replaces the backing without changing this
//! interface: callers only ever see `used_memory()` and `peak_memory()`.

pub mod heap;
pub mod pages;

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

// SAFETY: every method forwards to `System` with the same layout and only adds bookkeeping on the
// side, so the GlobalAlloc contract is whatever System guarantees.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) };
        USED.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                add(new_size - layout.size());
            } else {
                USED.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
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
