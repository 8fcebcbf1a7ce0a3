//! The snapshot child's allocator (DESIGN §8–9, fork safety).
//!
//! A raw clone copies the parent's memory with whatever locks other threads held at that
//! instant: glibc's malloc locks, our slab spin locks. A child that took one of them would wait
//! forever (PLATFORM.md: 58–63 of 200 children hung in glibc malloc). So the child, first
//! thing, switches every allocation to this arena, which no other thread has ever seen: its own
//! mappings, a free list per size class, no lock at all (the child has one thread). Memory the
//! parent allocated is never freed here, only left behind; the child `_exit`s soon anyway.

use std::alloc::Layout;
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, Ordering};

use super::slab::{CLASSES, MAX_SMALL, class_of};

/// Mapped per chunk; chunks are reserved with MAP_NORESERVE and only touched pages count.
const CHUNK: usize = 64 * 1024 * 1024;
/// Ranges the child owns (chunks and single big mappings); beyond this, big blocks leak.
const MAX_RANGES: usize = 1024;

static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Blocks above the slab classes and up to this size are powers of two from the chunks, with
/// free lists (a serializing child grows buffers often: one mmap each would cost a TLB flush).
const MAX_MEDIUM: usize = 1 << 20;
const MEDIUM_CLASSES: usize = 8; // 8 KiB .. 1 MiB

struct State {
    free: [*mut u8; CLASSES.len()],
    medium: [*mut u8; MEDIUM_CLASSES],
    bump: usize,
    end: usize,
    ranges: [(usize, usize); MAX_RANGES],
    nranges: usize,
}

struct Cell(UnsafeCell<State>);
// SAFETY: the state is only touched in the child, which runs a single thread (clone without
// CLONE_THREAD copies only the calling thread).
unsafe impl Sync for Cell {}

static STATE: Cell = Cell(UnsafeCell::new(State {
    free: [std::ptr::null_mut(); CLASSES.len()],
    medium: [std::ptr::null_mut(); MEDIUM_CLASSES],
    bump: 0,
    end: 0,
    ranges: [(0, 0); MAX_RANGES],
    nranges: 0,
}));

/// Whether this process is a snapshot child using the arena.
#[inline]
pub fn is_active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// Switch this (child) process to the arena. Call only in a freshly cloned child, before it
/// allocates anything.
pub fn activate() {
    // SAFETY: single-threaded child; nothing else reads STATE.
    unsafe {
        let st = &mut *STATE.0.get();
        st.free = [std::ptr::null_mut(); CLASSES.len()];
        st.medium = [std::ptr::null_mut(); MEDIUM_CLASSES];
        st.bump = 0;
        st.end = 0;
        st.nranges = 0;
    }
    ACTIVE.store(true, Ordering::Relaxed);
}

fn map(len: usize) -> Option<usize> {
    // SAFETY: a fresh private anonymous mapping; no existing memory is affected.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    (p != libc::MAP_FAILED).then_some(p as usize)
}

fn record(st: &mut State, start: usize, len: usize) {
    if st.nranges < MAX_RANGES {
        st.ranges[st.nranges] = (start, start + len);
        st.nranges += 1;
    }
}

fn owned(st: &State, p: usize) -> Option<usize> {
    st.ranges[..st.nranges]
        .iter()
        .position(|&(s, e)| p >= s && p < e)
}

/// The medium class of a size in (MAX_SMALL, MAX_MEDIUM]: 0 for 8 KiB, 7 for 1 MiB.
fn medium_class(size: usize) -> usize {
    (size.next_power_of_two().trailing_zeros() - 13) as usize
}

/// `len` bytes aligned to `align` from the current chunk, mapping a new chunk when needed.
fn bump(st: &mut State, len: usize, align: usize) -> *mut u8 {
    let mut p = st.bump.next_multiple_of(align);
    if st.bump == 0 || p + len > st.end {
        let Some(c) = map(CHUNK) else {
            return std::ptr::null_mut();
        };
        record(st, c, CHUNK);
        st.end = c + CHUNK;
        p = c;
    }
    st.bump = p + len;
    p as *mut u8
}

/// Allocate in the child.
///
/// # Safety
/// Only after `activate`, in the single-threaded child.
pub unsafe fn alloc(layout: Layout) -> *mut u8 {
    // SAFETY: single-threaded child (caller's contract).
    let st = unsafe { &mut *STATE.0.get() };
    let size = layout.size().max(1);
    if size <= MAX_SMALL && layout.align() <= 8 {
        let c = class_of(size);
        let head = st.free[c];
        if !head.is_null() {
            // SAFETY: free blocks hold the next free block's address in their first word.
            st.free[c] = unsafe { *(head as *mut *mut u8) };
            return head;
        }
        return bump(st, CLASSES[c], 8);
    }
    if layout.align() > 4096 {
        return std::ptr::null_mut();
    }
    if size <= MAX_MEDIUM {
        let m = medium_class(size.max(MAX_SMALL + 1));
        let head = st.medium[m];
        if !head.is_null() {
            // SAFETY: free medium blocks hold the next one's address in their first word.
            st.medium[m] = unsafe { *(head as *mut *mut u8) };
            return head;
        }
        return bump(st, 1 << (m + 13), 4096);
    }
    // Big blocks get a mapping of their own, unmapped on free.
    let len = size.div_ceil(4096) * 4096;
    match map(len) {
        Some(p) => {
            record(st, p, len);
            p as *mut u8
        }
        None => std::ptr::null_mut(),
    }
}

/// Free in the child: blocks of the arena are reused or unmapped; the parent's are left alone.
///
/// # Safety
/// `p` came from an allocation with `layout` (in the child or, before the clone, the parent).
pub unsafe fn dealloc(p: *mut u8, layout: Layout) {
    // SAFETY: single-threaded child.
    let st = unsafe { &mut *STATE.0.get() };
    let Some(i) = owned(st, p as usize) else {
        return;
    };
    let size = layout.size().max(1);
    if size <= MAX_SMALL && layout.align() <= 8 {
        let c = class_of(size);
        // SAFETY: a live block of this class, at least 8 bytes, now free.
        unsafe { *(p as *mut *mut u8) = st.free[c] };
        st.free[c] = p;
        return;
    }
    if size <= MAX_MEDIUM && layout.align() <= 4096 {
        let m = medium_class(size.max(MAX_SMALL + 1));
        // SAFETY: a live medium block of this class, now free.
        unsafe { *(p as *mut *mut u8) = st.medium[m] };
        st.medium[m] = p;
        return;
    }
    let (s, e) = st.ranges[i];
    if s == p as usize {
        // SAFETY: the whole mapping made for this block.
        unsafe { libc::munmap(s as *mut libc::c_void, e - s) };
        st.nranges -= 1;
        st.ranges[i] = st.ranges[st.nranges];
    }
}

/// Reallocate in the child: a new block, the bytes copied, the old one freed if it is ours.
///
/// # Safety
/// As `alloc` and `dealloc`.
pub unsafe fn realloc(p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
    // SAFETY: the alignment is the old layout's, valid; the size is the caller's.
    let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
    // SAFETY: caller's contract.
    let q = unsafe { alloc(new_layout) };
    if !q.is_null() {
        // SAFETY: both blocks are valid for the smaller size and distinct.
        unsafe {
            std::ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
            dealloc(p, layout);
        }
    }
    q
}
