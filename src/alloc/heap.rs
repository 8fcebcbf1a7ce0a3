//! The value heap handle (DESIGN §9): every collection's heap memory is allocated through
//! `ValueHeap`, so a big value can later be moved into a big-key region by swapping the handle
//! its buffers carry, without re-encoding it. For now the handle is backed by the global
//! allocator (and so counted in `used_memory`).

use allocator_api2::alloc::{AllocError, Allocator, Global, Layout};
use std::ptr::NonNull;

/// Where a value's buffers live. Zero-sized while every value lives in the shared heap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ValueHeap;

// SAFETY: every method forwards to `Global` with the same arguments, so the Allocator
// contract (blocks valid until deallocated, layouts honoured) is Global's.
unsafe impl Allocator for ValueHeap {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        Global.allocate(layout)
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: the caller guarantees `ptr` came from this allocator (i.e. Global) with `layout`.
        unsafe { Global.deallocate(ptr, layout) }
    }

    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: forwarded unchanged; the caller's guarantees are Global's preconditions.
        unsafe { Global.grow(ptr, old, new) }
    }

    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: forwarded unchanged; the caller's guarantees are Global's preconditions.
        unsafe { Global.shrink(ptr, old, new) }
    }
}

/// A growable byte buffer on the value heap (listpacks, intsets, plain list nodes).
pub type HeapBytes = allocator_api2::vec::Vec<u8, ValueHeap>;

/// A vector on the value heap (skiplist records and their side tables).
pub type HeapVec<T> = allocator_api2::vec::Vec<T, ValueHeap>;

/// A fixed byte string on the value heap (the field values of a hash table).
pub type HeapBox = allocator_api2::boxed::Box<[u8], ValueHeap>;

pub fn heap_vec<T>() -> HeapVec<T> {
    HeapVec::new_in(ValueHeap)
}

pub fn heap_box(bytes: &[u8]) -> HeapBox {
    let mut v = HeapVec::with_capacity_in(bytes.len(), ValueHeap);
    v.extend_from_slice(bytes);
    v.into_boxed_slice()
}

pub fn heap_bytes(cap: usize) -> HeapBytes {
    HeapBytes::with_capacity_in(cap, ValueHeap)
}

/// Open a gap of `n` bytes at `at` in `buf` (the gap's contents are left as they were moved).
/// The buffer grows to the exact size (as Redis's listpacks and intsets are reallocated), not by
/// doubling: a small collection's memory is its bytes.
pub fn insert_gap(buf: &mut HeapBytes, at: usize, n: usize) {
    let old = buf.len();
    buf.reserve_exact(n);
    buf.resize(old + n, 0);
    buf.copy_within(at..old, at + n);
}

/// Remove `start..end` from `buf`.
pub fn remove_range(buf: &mut HeapBytes, start: usize, end: usize) {
    let len = buf.len();
    buf.copy_within(end..len, start);
    buf.truncate(len - (end - start));
    // Give memory back once a buffer is less than half used (Redis reallocs to size on
    // every delete; halving keeps repeated pops from reallocating each time).
    if buf.capacity() > 64 && buf.len() < buf.capacity() / 2 {
        buf.shrink_to_fit();
    }
}
