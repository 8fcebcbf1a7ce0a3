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
    push_bytes(&mut v, bytes);
    v.into_boxed_slice()
}

/// Append `b` to `v` with one copy. (allocator-api2's `extend_from_slice` goes through the
/// generic iterator path, a byte at a time: several times slower on kilobyte values.)
pub fn push_bytes(v: &mut HeapBytes, b: &[u8]) {
    v.reserve(b.len());
    let len = v.len();
    // SAFETY: `reserve` made room for `b.len()` bytes after `len`; the copy fills exactly
    // those before `set_len` exposes them, and `b` cannot overlap `v`'s spare capacity (it is
    // either another buffer or `v`'s initialized part, which is borrowed immutably here only
    // through a separate slice the caller owns).
    unsafe {
        std::ptr::copy_nonoverlapping(b.as_ptr(), v.as_mut_ptr().add(len), b.len());
        v.set_len(len + b.len());
    }
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

/// A double-ended queue on the value heap (a quicklist's node index): a ring buffer with O(1)
/// pushes and pops at both ends; inserting or removing inside shifts the shorter-lived tail.
pub struct HeapDeque<T> {
    /// The ring; every slot outside `head..head + len` (mod capacity) is `None`.
    slots: HeapVec<Option<T>>,
    head: usize,
    len: usize,
}

impl<T> Default for HeapDeque<T> {
    fn default() -> Self {
        HeapDeque {
            slots: heap_vec(),
            head: 0,
            len: 0,
        }
    }
}

impl<T> HeapDeque<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The ring slot of element `i` (`i < len`, so the ring is not empty).
    fn slot(&self, i: usize) -> usize {
        (self.head + i) % self.slots.len()
    }

    fn grow_if_full(&mut self) {
        if self.len < self.slots.len() {
            return;
        }
        // From one slot: most lists are a single node.
        let cap = (self.slots.len() * 2).max(1);
        let mut fresh: HeapVec<Option<T>> = HeapVec::with_capacity_in(cap, ValueHeap);
        for i in 0..self.len {
            let s = self.slot(i);
            fresh.push(self.slots[s].take());
        }
        fresh.resize_with(cap, || None);
        self.slots = fresh;
        self.head = 0;
    }

    pub fn push_back(&mut self, x: T) {
        self.grow_if_full();
        let s = (self.head + self.len) % self.slots.len();
        self.slots[s] = Some(x);
        self.len += 1;
    }

    pub fn push_front(&mut self, x: T) {
        self.grow_if_full();
        self.head = (self.head + self.slots.len() - 1) % self.slots.len();
        self.slots[self.head] = Some(x);
        self.len += 1;
    }

    pub fn pop_front(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let x = self.slots[self.head].take();
        self.head = (self.head + 1) % self.slots.len();
        self.len -= 1;
        x
    }

    pub fn pop_back(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let s = self.slot(self.len - 1);
        self.len -= 1;
        self.slots[s].take()
    }

    pub fn get(&self, i: usize) -> Option<&T> {
        if i >= self.len {
            return None;
        }
        self.slots[self.slot(i)].as_ref()
    }

    pub fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        if i >= self.len {
            return None;
        }
        let s = self.slot(i);
        self.slots[s].as_mut()
    }

    pub fn front_mut(&mut self) -> Option<&mut T> {
        self.get_mut(0)
    }

    pub fn back_mut(&mut self) -> Option<&mut T> {
        self.len.checked_sub(1).and_then(|i| self.get_mut(i))
    }

    /// Insert `x` before element `i` (`i <= len`, else it goes at the back).
    pub fn insert(&mut self, i: usize, x: T) {
        self.push_back(x);
        let mut j = self.len - 1;
        while j > i {
            let (a, b) = (self.slot(j), self.slot(j - 1));
            self.slots.swap(a, b);
            j -= 1;
        }
    }

    /// Remove and return element `i`.
    pub fn remove(&mut self, i: usize) -> Option<T> {
        if i >= self.len {
            return None;
        }
        for j in i..self.len - 1 {
            let (a, b) = (self.slot(j), self.slot(j + 1));
            self.slots.swap(a, b);
        }
        self.pop_back()
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator {
        (0..self.len).map(move |i| &self[i])
    }
}

impl<T> std::ops::Index<usize> for HeapDeque<T> {
    type Output = T;
    fn index(&self, i: usize) -> &T {
        match self.get(i) {
            Some(x) => x,
            None => panic!("HeapDeque index {i} out of bounds (len {})", self.len),
        }
    }
}

impl<T> std::ops::IndexMut<usize> for HeapDeque<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        let len = self.len;
        match self.get_mut(i) {
            Some(x) => x,
            None => panic!("HeapDeque index {i} out of bounds (len {len})"),
        }
    }
}

impl<T: Clone> Clone for HeapDeque<T> {
    fn clone(&self) -> Self {
        let mut d = HeapDeque::default();
        for x in self.iter() {
            d.push_back(x.clone());
        }
        d
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for HeapDeque<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: PartialEq> PartialEq for HeapDeque<T> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    #[test]
    fn deque_behaves_like_vecdeque() {
        let mut rng = crate::db::Rng::from_seed(7);
        let mut d: HeapDeque<u64> = HeapDeque::default();
        let mut m: VecDeque<u64> = VecDeque::new();
        for step in 0..20_000u64 {
            let r = rng.next_u64();
            match r % 8 {
                0 | 1 => {
                    d.push_back(step);
                    m.push_back(step);
                }
                2 | 3 => {
                    d.push_front(step);
                    m.push_front(step);
                }
                4 => assert_eq!(d.pop_front(), m.pop_front()),
                5 => assert_eq!(d.pop_back(), m.pop_back()),
                6 => {
                    let i = (r >> 8) as usize % (m.len() + 1);
                    d.insert(i, step);
                    m.insert(i, step);
                }
                _ => {
                    let i = (r >> 8) as usize % (m.len() + 1);
                    assert_eq!(d.remove(i), m.remove(i));
                }
            }
            assert_eq!(d.len(), m.len());
            if step % 97 == 0 {
                assert!(d.iter().eq(m.iter()));
                assert!(d.iter().rev().eq(m.iter().rev()));
                if let (Some(a), Some(b)) = (d.back_mut(), m.back_mut()) {
                    *a += 1;
                    *b += 1;
                }
            }
        }
        assert_eq!(d.clone(), d);
        assert!(d.iter().eq(m.iter()));
    }
}
