//! Page-backed arrays for big tables (the keyspace's bucket arrays).
//!
//! A large zeroed array comes straight from `mmap`: the kernel zero-fills pages on first touch,
//! so creating a 128 MB table costs nothing up front (glibc's calloc would memset it when the
//! size is under its dynamic mmap threshold). Returning it is done in slices with
//! `MADV_DONTNEED` from cron (`release_some`) before the final `munmap`, so dropping a big
//! table never stalls the loop for milliseconds. The bytes are counted in `used_memory`.
//!
//! A big array can also be prepared off the main thread (`prepare_async`): a helper thread maps
//! it and faults every page in, so the kernel zero-fills them there. A table that grows to
//! 16M buckets would otherwise take ~32K page faults on the main thread during its rehash, a
//! fault per step at first (several milliseconds per loop iteration, measured).

use std::marker::PhantomData;

/// Arrays smaller than this use the ordinary allocator.
pub const MMAP_MIN_BYTES: usize = 256 * 1024;

/// A fresh private, readable and writable anonymous mapping of `len` bytes (zero-filled lazily
/// by the kernel), or None if the kernel refused it.
pub fn map_anonymous(len: usize) -> Option<*mut u8> {
    // SAFETY: asks for a new mapping and touches nothing; the result is checked.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    (p != libc::MAP_FAILED).then_some(p as *mut u8)
}

/// A populated, zeroed anonymous mapping made by the helper thread, not yet typed.
pub struct PreparedPages {
    addr: usize,
    map_len: usize,
}

impl Drop for PreparedPages {
    fn drop(&mut self) {
        if self.map_len != 0 {
            // SAFETY: an unclaimed mapping made by `map_populated`, unmapped once.
            unsafe { libc::munmap(self.addr as *mut libc::c_void, self.map_len) };
            super::account_free(self.map_len);
        }
    }
}

/// Map `bytes` and fault every page in, a slice at a time. One MAP_POPULATE of the whole range
/// would hold the address-space lock for the whole fill (tens of milliseconds for 128 MB) and
/// block every mmap/brk of the main thread meanwhile; slices let it in between.
fn map_populated(bytes: usize) -> Option<PreparedPages> {
    const SLICE: usize = 1024 * 1024;
    let map_len = bytes.next_multiple_of(4096);
    let p = map_anonymous(map_len)? as *mut libc::c_void;
    super::account_alloc(map_len);
    let mut off = 0;
    while off < map_len {
        let len = SLICE.min(map_len - off);
        // SAFETY: the slice lies inside the mapping we just made; populating only allocates
        // zeroed pages. If the kernel lacks MADV_POPULATE_WRITE, writing a zero to each page
        // does the same.
        unsafe {
            let at = (p as *mut u8).add(off);
            if libc::madvise(at as *mut libc::c_void, len, libc::MADV_POPULATE_WRITE) != 0 {
                for page in (0..len).step_by(4096) {
                    std::ptr::write_volatile(at.add(page), 0);
                }
            }
        }
        off += len;
    }
    Some(PreparedPages {
        addr: p as usize,
        map_len,
    })
}

type PrepareRequest = (usize, std::sync::mpsc::Sender<PreparedPages>);

/// Ask the helper thread for `bytes` of populated zeroed memory; the answer arrives on the
/// returned channel (nothing arrives if the mapping failed: callers fall back to `zeroed`).
pub fn prepare_async(bytes: usize) -> std::sync::mpsc::Receiver<PreparedPages> {
    use std::sync::{Mutex, OnceLock};
    static WORKER: OnceLock<Mutex<std::sync::mpsc::Sender<PrepareRequest>>> = OnceLock::new();
    let worker = WORKER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<PrepareRequest>();
        std::thread::Builder::new()
            .name("forkv-pages".into())
            .spawn(move || {
                for (bytes, reply) in rx {
                    if let Some(p) = map_populated(bytes) {
                        let _ = reply.send(p);
                    }
                }
            })
            .expect("spawn page helper thread");
        Mutex::new(tx)
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let sent = worker
        .lock()
        .map(|w| w.send((bytes, tx)).is_ok())
        .unwrap_or(false);
    if !sent {
        log::warn!("page helper thread unavailable; tables will be allocated inline");
    }
    rx
}

pub struct PageArray<T> {
    ptr: *mut T,
    len: usize,
    /// Bytes mapped (0 when heap-allocated).
    map_len: usize,
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
                _own: PhantomData,
            };
        }
        let map_len = layout.size().next_multiple_of(4096);
        // Anonymous memory reads as zero, which the caller guarantees is a valid T.
        let Some(p) = map_anonymous(map_len) else {
            std::alloc::handle_alloc_error(layout);
        };
        // No MADV_HUGEPAGE here: measured, a table growing to 10M keys then stalled for up to
        // 250 ms in the kernel's huge-page allocation (direct compaction) at each resize.
        super::account_alloc(map_len);
        PageArray {
            ptr: p as *mut T,
            len: n,
            map_len,
            _own: PhantomData,
        }
    }

    /// Take a prepared mapping as `n` elements.
    ///
    /// # Safety
    /// All-zero bytes must be a valid `T`, and the mapping must hold at least `n` elements.
    pub unsafe fn from_prepared(mut p: PreparedPages, n: usize) -> Self {
        assert!(n * std::mem::size_of::<T>() <= p.map_len);
        let a = PageArray {
            ptr: p.addr as *mut T,
            len: n,
            map_len: p.map_len,
            _own: PhantomData,
        };
        p.map_len = 0; // ownership moved: PreparedPages' drop does nothing now
        a
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stop treating the memory as elements (all of which must be in their zero state, owning
    /// nothing) and keep it only to give it back, a slice at a time.
    pub fn into_retired(self) -> RetiredPages {
        let me = std::mem::ManuallyDrop::new(self);
        let layout = std::alloc::Layout::array::<T>(me.len).expect("array size");
        RetiredPages {
            addr: me.ptr as usize,
            map_len: me.map_len,
            released: 0,
            heap_layout: (me.map_len == 0 && me.len > 0).then_some(layout),
        }
    }
}

/// Memory of an emptied array, waiting to be returned (no element is ever read again: reading
/// released pages would fault them back in).
pub struct RetiredPages {
    addr: usize,
    map_len: usize,
    released: usize,
    heap_layout: Option<std::alloc::Layout>,
}

// SAFETY: plain owned memory with no elements.
unsafe impl Send for RetiredPages {}

impl RetiredPages {
    /// Whether this is a mapping to return slice by slice (heap arrays are freed at once).
    pub fn is_mapped(&self) -> bool {
        self.map_len != 0
    }

    /// Give back up to `bytes` more pages. Returns true when everything is released (the
    /// final munmap, in Drop, is then cheap).
    pub fn release_some(&mut self, bytes: usize) -> bool {
        if self.map_len == 0 {
            return true;
        }
        let end = (self.released + bytes.next_multiple_of(4096)).min(self.map_len);
        if end > self.released {
            // SAFETY: the range lies inside our mapping, whose contents are dead.
            unsafe {
                libc::madvise(
                    (self.addr + self.released) as *mut libc::c_void,
                    end - self.released,
                    libc::MADV_DONTNEED,
                );
            }
            self.released = end;
        }
        self.released >= self.map_len
    }
}

impl Drop for RetiredPages {
    fn drop(&mut self) {
        if let Some(layout) = self.heap_layout {
            // SAFETY: allocated with this layout by PageArray::zeroed; no elements to drop.
            unsafe { std::alloc::dealloc(self.addr as *mut u8, layout) };
        } else if self.map_len != 0 {
            // SAFETY: our mapping, unmapped once.
            unsafe { libc::munmap(self.addr as *mut libc::c_void, self.map_len) };
            super::account_free(self.map_len);
        }
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
        let mut r = b.into_retired();
        while !r.release_some(1 << 20) {}
    }
}
