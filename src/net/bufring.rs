//! The provided-buffer ring that multishot `recv` reads into.
//!
//! The kernel picks a free buffer for each receive and names it in the completion; the loop copies
//! the bytes into the client's query buffer and hands the buffer straight back. The memory is a
//! private anonymous mapping, small (PLATFORM.md: registered or pinned memory makes fork copy it),
//! and `MADV_DONTFORK` so a snapshot child never shares it.

use io_uring::types::BufRingEntry;
use std::sync::atomic::{AtomicU16, Ordering};

pub const GROUP_ID: u16 = 0;

pub struct BufRing {
    /// Ring entries followed by the buffers, one mapping.
    base: *mut u8,
    map_len: usize,
    entries: u16,
    buf_size: usize,
    buffers_off: usize,
    tail: u16,
}

impl BufRing {
    /// Map and register `entries` buffers (a power of two) of `buf_size` bytes each.
    pub fn new(
        submitter: &io_uring::Submitter<'_>,
        entries: u16,
        buf_size: usize,
    ) -> std::io::Result<BufRing> {
        assert!(entries.is_power_of_two());
        let ring_bytes = entries as usize * std::mem::size_of::<BufRingEntry>();
        let buffers_off = ring_bytes.next_multiple_of(4096);
        let map_len = buffers_off + entries as usize * buf_size;
        let base = crate::alloc::pages::map_anonymous(map_len)
            .ok_or_else(std::io::Error::last_os_error)? as *mut libc::c_void;
        // SAFETY: base/map_len is the mapping just made.
        unsafe { libc::madvise(base, map_len, libc::MADV_DONTFORK) };
        let mut br = BufRing {
            base: base as *mut u8,
            map_len,
            entries,
            buf_size,
            buffers_off,
            tail: 0,
        };
        // SAFETY: the ring memory is page aligned and lives until Drop, which the owner runs only
        // after the ring (and so the registration) is gone.
        unsafe {
            submitter.register_buf_ring_with_flags(base as u64, entries, GROUP_ID, 0)?;
        }
        for bid in 0..entries {
            br.stage(bid);
        }
        br.publish();
        Ok(br)
    }

    fn stage(&mut self, bid: u16) {
        let idx = (self.tail & (self.entries - 1)) as usize;
        // SAFETY: idx < entries, inside the ring part of the mapping; the kernel reads only
        // entries below the published tail, and this one is past it until `publish`.
        unsafe {
            let e = (self.base as *mut BufRingEntry).add(idx);
            (*e).set_addr(self.buffer_ptr(bid) as u64);
            (*e).set_len(self.buf_size as u32);
            (*e).set_bid(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: the tail field lives inside entry 0 of our mapping; the kernel reads it
        // concurrently, so it is written with a release store through an atomic view.
        unsafe {
            let tail = BufRingEntry::tail(self.base as *const BufRingEntry) as *const AtomicU16;
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    fn buffer_ptr(&self, bid: u16) -> *mut u8 {
        // SAFETY: bid < entries keeps the pointer inside the buffer part of the mapping.
        unsafe {
            self.base
                .add(self.buffers_off + bid as usize * self.buf_size)
        }
    }

    /// The bytes the kernel put into buffer `bid`.
    pub fn data(&self, bid: u16, len: usize) -> &[u8] {
        assert!(bid < self.entries && len <= self.buf_size);
        // SAFETY: the kernel has finished writing `len` bytes into this buffer (its completion was
        // reaped) and does not touch it again until we give it back with `recycle`.
        unsafe { std::slice::from_raw_parts(self.buffer_ptr(bid), len) }
    }

    /// Give buffer `bid` back to the kernel.
    pub fn recycle(&mut self, bid: u16) {
        self.stage(bid);
        self.publish();
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: our own mapping, no longer registered (the ring was dropped first).
        unsafe { libc::munmap(self.base as *mut libc::c_void, self.map_len) };
    }
}
