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

struct State {
    free: [*mut u8; CLASSES.len()],
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
        let need = CLASSES[c];
        if st.end - st.bump < need {
            let Some(p) = map(CHUNK) else {
                return std::ptr::null_mut();
            };
            record(st, p, CHUNK);
            st.bump = p;
            st.end = p + CHUNK;
        }
        let p = st.bump;
        st.bump += need;
        return p as *mut u8;
    }
    if layout.align() > 4096 {
        return std::ptr::null_mut();
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
