//! The one io_uring ring of the main thread (DESIGN §3).
//!
//! Every request carries a `Tag` in its user data: what kind of request it is and which object
//! (client slot + generation, listener, ...) it belongs to, so a completion is dispatched without
//! a lookup table and a completion for a client that has since been replaced is recognised.
//! Submissions are batched: `push` only queues, the loop submits once per iteration.

use io_uring::{IoUring, cqueue, squeue};
use std::io;

/// What a request is for. Kept in the top byte of the user data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Accept = 1,
    Recv = 2,
    Send = 3,
    Signal = 4,
    Timer = 5,
    /// Requests whose completion carries no information (cancels, shutdowns).
    Ignore = 6,
    /// The earliest deadline of a blocked client.
    BlockTimer = 7,
    /// The snapshot child's pidfd became readable (it exited); generation tells which child.
    ChildExit = 8,
}

/// User data of a request: kind, generation and slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag {
    pub kind: Kind,
    pub generation: u32,
    pub slot: u32,
}

impl Tag {
    pub fn new(kind: Kind, slot: u32, generation: u32) -> Tag {
        Tag {
            kind,
            generation: generation & 0xff_ffff,
            slot,
        }
    }
    pub fn encode(self) -> u64 {
        ((self.kind as u64) << 56)
            | (((self.generation & 0xff_ffff) as u64) << 32)
            | self.slot as u64
    }
    pub fn decode(v: u64) -> Option<Tag> {
        let kind = match (v >> 56) as u8 {
            1 => Kind::Accept,
            2 => Kind::Recv,
            3 => Kind::Send,
            4 => Kind::Signal,
            5 => Kind::Timer,
            6 => Kind::Ignore,
            7 => Kind::BlockTimer,
            8 => Kind::ChildExit,
            _ => return None,
        };
        Some(Tag {
            kind,
            generation: ((v >> 32) & 0xff_ffff) as u32,
            slot: v as u32,
        })
    }
}

/// A completion, copied out of the ring.
#[derive(Clone, Copy, Debug)]
pub struct Completion {
    pub tag: Tag,
    pub result: i32,
    pub flags: u32,
}

impl Completion {
    pub fn more(&self) -> bool {
        cqueue::more(self.flags)
    }
    pub fn buffer_id(&self) -> Option<u16> {
        cqueue::buffer_select(self.flags)
    }
}

pub struct Ring {
    ring: IoUring,
}

/// Explains a refused io_uring in words an operator can act on (DESIGN §1).
fn explain_setup_error(e: &io::Error) -> String {
    let disabled = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    match e.raw_os_error() {
        Some(libc::EPERM) if disabled == "2" => {
            "io_uring is disabled by the kernel (kernel.io_uring_disabled=2). Fix: sysctl -w kernel.io_uring_disabled=0".into()
        }
        Some(libc::EPERM) if disabled == "1" => {
            "io_uring is restricted to a group by the kernel (kernel.io_uring_disabled=1) and this user is not in io_uring_group. Fix: sysctl -w kernel.io_uring_disabled=0, or run as a member of kernel.io_uring_group".into()
        }
        Some(libc::EPERM) | Some(libc::ENOSYS) => format!(
            "io_uring_setup was refused ({e}). This is usually a seccomp profile (Docker's default \
             blocks io_uring). Fix: run with a seccomp profile that allows io_uring_setup, \
             io_uring_enter and io_uring_register (e.g. docker run --security-opt seccomp=unconfined)"
        ),
        Some(libc::EINVAL) => format!(
            "io_uring_setup rejected our flags ({e}): forkv needs Linux >= 6.1 \
             (IORING_SETUP_SINGLE_ISSUER, DEFER_TASKRUN). Fix: upgrade the kernel"
        ),
        Some(libc::ENOMEM) => format!(
            "io_uring_setup could not get memory ({e}). Fix: raise RLIMIT_MEMLOCK (ulimit -l)"
        ),
        _ => format!("io_uring_setup failed: {e}"),
    }
}

impl Ring {
    /// DEFER_TASKRUN posts completions only when we enter the kernel with GETEVENTS; the
    /// TASKRUN flag tells us (and the io-uring crate's submit) when such work is waiting, so a
    /// non-blocking pass of the loop still collects new input instead of starving it.
    pub fn new(entries: u32) -> Result<Ring, String> {
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_taskrun_flag()
            .setup_cqsize(entries * 4)
            .dontfork()
            .build(entries)
            .map_err(|e| explain_setup_error(&e))?;
        Ok(Ring { ring })
    }

    pub fn submitter(&self) -> io_uring::Submitter<'_> {
        self.ring.submitter()
    }

    /// Queue a request; submits the queue first if it is full.
    pub fn push(&mut self, entry: squeue::Entry, tag: Tag) {
        let entry = entry.user_data(tag.encode());
        loop {
            // SAFETY: every buffer a request names is owned by an object (client, listener,
            // signal buffer, timer) that keeps it alive and unmoved until the request's last
            // completion has been reaped; the loop only frees those objects after that.
            let pushed = unsafe { self.ring.submission().push(&entry) };
            if pushed.is_ok() {
                return;
            }
            if let Err(e) = self.ring.submit() {
                log::warn!("io_uring submit while queue full: {e}");
            }
        }
    }

    /// Submit what is queued without waiting.
    pub fn submit(&mut self) -> io::Result<usize> {
        self.ring.submit()
    }

    /// Submit what is queued and wait for at least `want` completions.
    pub fn submit_and_wait(&mut self, want: usize) -> io::Result<usize> {
        match self.ring.submit_and_wait(want) {
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => Ok(0),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Ok(0),
            r => r,
        }
    }

    /// Submit what is queued; if no completion is ready, poll the ring's shared flags for up to
    /// `spin` before sleeping in the kernel for one.
    pub fn submit_and_wait_spinning(&mut self, spin: std::time::Duration) -> io::Result<usize> {
        let n = self.submit_and_wait(0)?;
        if !self.ring.completion().is_empty() {
            return Ok(n);
        }
        let start = std::time::Instant::now();
        loop {
            for _ in 0..64 {
                // DEFER_TASKRUN: new completions wait as task work, flagged in shared memory;
                // reading the flag costs no system call.
                if self.ring.submission().taskrun() {
                    return self.submit_and_wait(0);
                }
                std::hint::spin_loop();
            }
            if start.elapsed() >= spin {
                return self.submit_and_wait(1);
            }
        }
    }

    /// Move completions out of the ring into `out`.
    pub fn drain(&mut self, out: &mut Vec<Completion>) {
        let cq = self.ring.completion();
        for cqe in cq {
            if let Some(tag) = Tag::decode(cqe.user_data()) {
                out.push(Completion {
                    tag,
                    result: cqe.result(),
                    flags: cqe.flags(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_round_trip() {
        let t = Tag::new(Kind::Send, 123456, 0xabcdef);
        assert_eq!(Tag::decode(t.encode()), Some(t));
        assert_eq!(Tag::decode(0), None);
    }
}
