//! Page-backed arrays for big tables (the keyspace's bucket arrays).
//!
//! A large zeroed array comes straight from `mmap`: the kernel zero-fills pages on first touch,
//! so creating a 128 MB table costs nothing up front (glibc's calloc would memset it when the
//! size is under its dynamic mmap threshold). Returning it is done in slices with
//! `MADV_DONTNEED` from cron (`release_some`) before the final `munmap`, so dropping a big
//! table never stalls the loop for milliseconds. The bytes are counted in `used_memory`.

use std::marker::PhantomData;

/// Arrays smaller than this use the ordinary allocator.
const MMAP_MIN_BYTES: usize = 256 * 1024;

pub struct PageArray<T> {
    ptr: *mut T,
    len: usize,
    /// Bytes mapped (0 when heap-allocated).
    map_len: usize,
    /// Bytes at the start already given back with MADV_DONTNEED (retiring arrays only).
    released: usize,
    _own: PhantomData<T>,
}

// SAFETY: a PageArray owns its memory exclusively, like a Box<[T]>.
unsafe impl<T: Send> Send for PageArray<T> {}

impl<T> PageArray<T> {
    pub fn empty() -> Self {
        PageArray {
            ptr: std::ptr::NonNull::dangling().as_ptr(),
            len: 0,
            map_len: 0,
            released: 0,
            _own: PhantomData,
        }
    }

    /// `n` elements of all-zero bytes.
    ///
    /// # Safety
    /// All-zero bytes must be a valid `T` (e.g. `Option<Box<_>>`, integers).
    pub unsafe fn zeroed(n: usize) -> Self {
        let layout = std::alloc::Layout::array::<T>(n).expect("array size");
        if layout.size() == 0 {
            return Self::empty();
        }
        if layout.size() < MMAP_MIN_BYTES {
            // SAFETY: non-zero layout; the caller guarantees zero is a valid T.
            let ptr = unsafe { std::alloc::alloc_zeroed(layout) } as *mut T;
            if ptr.is_null() {
                std::alloc::handle_alloc_error(layout);
            }
            return PageArray {
                ptr,
                len: n,
                map_len: 0,
                released: 0,
                _own: PhantomData,
            };
        }
        let map_len = layout.size().next_multiple_of(4096);
        // SAFETY: a fresh private anonymous mapping, checked before use; anonymous memory reads
        // as zero, which the caller guarantees is a valid T.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            std::alloc::handle_alloc_error(layout);
        }
        // No MADV_HUGEPAGE here: measured, a table growing to 10M keys then stalled for up to
        // 250 ms in the kernel's huge-page allocation (direct compaction) at each resize.
        super::account_alloc(map_len);
        PageArray {
            ptr: p as *mut T,
            len: n,
            map_len,
            released: 0,
            _own: PhantomData,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Give back up to `bytes` more of a retired array's pages. Only for an array whose
    /// elements are all in their zero state (nothing to drop). Returns true when all is released.
    pub fn release_some(&mut self, bytes: usize) -> bool {
        if self.map_len == 0 {
            return true;
        }
        let end = (self.released + bytes.next_multiple_of(4096)).min(self.map_len);
        if end > self.released {
            // SAFETY: the range lies inside our mapping; its contents are dead (all zero-state
            // elements, which own nothing), so discarding the pages loses nothing.
            unsafe {
                libc::madvise(
                    (self.ptr as *mut u8).add(self.released) as *mut libc::c_void,
                    end - self.released,
                    libc::MADV_DONTNEED,
                );
            }
            self.released = end;
        }
        self.released >= self.map_len
    }
}

impl<T> std::ops::Deref for PageArray<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: ptr/len describe our live allocation of `len` initialised elements.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl<T> std::ops::DerefMut for PageArray<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in Deref, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl<T> Drop for PageArray<T> {
    fn drop(&mut self) {
        if self.len == 0 {
            return;
        }
        // SAFETY: every element is initialised and dropped exactly once here.
        unsafe { std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(self.ptr, self.len)) };
        if self.map_len == 0 {
            let layout = std::alloc::Layout::array::<T>(self.len).expect("array size");
            // SAFETY: allocated with this layout by `zeroed`.
            unsafe { std::alloc::dealloc(self.ptr as *mut u8, layout) };
        } else {
            // SAFETY: our own mapping, unmapped once.
            unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.map_len) };
            super::account_free(self.map_len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_small_and_large() {
        // SAFETY: zero is a valid Option<Box<u8>> (None).
        let mut a: PageArray<Option<Box<u8>>> = unsafe { PageArray::zeroed(10) };
        assert!(a.iter().all(|x| x.is_none()));
        a[3] = Some(Box::new(7));
        // SAFETY: as above.
        let mut b: PageArray<Option<Box<u8>>> = unsafe { PageArray::zeroed(1 << 20) };
        assert!(b.iter().all(|x| x.is_none()));
        b[12345] = Some(Box::new(1));
        b[12345] = None;
        while !b.release_some(1 << 20) {}
        assert!(b.iter().all(|x| x.is_none()));
    }
}
