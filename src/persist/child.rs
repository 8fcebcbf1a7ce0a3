//! The snapshot child (DESIGN §8): made with a raw `clone3(CLONE_PIDFD | CLONE_CLEAR_SIGHAND)`,
//! never libc `fork()` or `std::process`, so it shares the parent's memory copy-on-write and
//! runs no `pthread_atfork` handlers. Everything it needs is prepared before the clone.
//!
//! In the child, first thing: all signals unblocked, `oom_score_adj` 1000, no core dumps, death
//! with the parent (PR_SET_PDEATHSIG),
//! every fd closed but its info pipe, allocation switched to `alloc::child_arena`, a panic hook
//! that writes with raw `write(2)`; then the body runs under `catch_unwind` and the child always
//! leaves with `_exit` (0 success, 1 failure), running no destructors. It never touches the
//! logger or stdout/stderr locks: its messages go to the parent over the info pipe.
//!
//! The parent keeps the pidfd (for the ring's poll and for `pidfd_send_signal`) and the
//! non-blocking read end of the info pipe.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

const CLONE_PIDFD: u64 = 0x1000;
const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;
const P_PIDFD: libc::idtype_t = 3;

/// The kernel's `struct clone_args` (version 2, 88 bytes).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Set in the child only: the panic hook writes there and `_exit`s.
static IN_CHILD: AtomicBool = AtomicBool::new(false);
static CHILD_INFO_FD: AtomicI32 = AtomicI32::new(-1);
static HOOK: Once = Once::new();

/// Message kinds on the info pipe.
const MSG_PROGRESS: u8 = 1;
const MSG_DONE: u8 = 2;
const MSG_LOG: u8 = 3;
const HEADER: usize = 24;
/// Longest log line sent (a pipe write up to PIPE_BUF is atomic).
const MAX_LOG: usize = 4000;

/// What the child reported.
#[derive(Debug, Clone, PartialEq)]
pub enum ChildMsg {
    /// Keys written so far and the child's copy-on-write bytes.
    Progress {
        keys: u64,
        cow: u64,
    },
    /// The work is complete (sent just before `_exit(0)`).
    Done {
        keys: u64,
        cow: u64,
    },
    Log(String),
}

/// The child's side of the info pipe.
pub struct ChildCtx {
    fd: RawFd,
    last_cow_sample: Option<std::time::Instant>,
    cow_sample_cost: std::time::Duration,
    cow: u64,
}

fn raw_write(fd: RawFd, b: &[u8]) {
    // SAFETY: writes from a live buffer; the result is deliberately ignored (a full pipe or a
    // gone parent only loses a report).
    unsafe { libc::write(fd, b.as_ptr() as *const libc::c_void, b.len()) };
}

fn record(kind: u8, a: u64, b: u64, text: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(HEADER + text.len());
    m.push(kind);
    m.extend_from_slice(&[0; 7]);
    m.extend_from_slice(&a.to_le_bytes());
    m.extend_from_slice(&b.to_le_bytes());
    m.extend_from_slice(text);
    m
}

/// Private_Dirty of this process from /proc/self/smaps_rollup, in bytes.
pub fn private_dirty_bytes() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/smaps_rollup") else {
        return 0;
    };
    s.lines()
        .find(|l| l.starts_with("Private_Dirty:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

impl ChildCtx {
    /// The copy-on-write size, re-read at most about 1% of the time (the read walks every
    /// mapping) and at most once a second.
    pub fn cow_bytes(&mut self) -> u64 {
        let due = match self.last_cow_sample {
            None => true,
            Some(t) => {
                let e = t.elapsed();
                e >= std::time::Duration::from_secs(1) && e >= self.cow_sample_cost * 100
            }
        };
        if due {
            let t = std::time::Instant::now();
            self.cow = private_dirty_bytes();
            self.cow_sample_cost = t.elapsed();
            self.last_cow_sample = Some(t);
        }
        self.cow
    }

    pub fn progress(&mut self, keys: u64) {
        let cow = self.cow_bytes();
        raw_write(self.fd, &record(MSG_PROGRESS, keys, cow, &[]));
    }

    pub fn done(&mut self, keys: u64) {
        let cow = private_dirty_bytes();
        raw_write(self.fd, &record(MSG_DONE, keys, cow, &[]));
    }

    pub fn log(&self, text: &str) {
        let t = &text.as_bytes()[..text.len().min(MAX_LOG)];
        raw_write(self.fd, &record(MSG_LOG, t.len() as u64, 0, t));
    }
}

/// Install, once and before any clone, the panic hook a child relies on: in a child it writes
/// the message to the info pipe with a raw write and `_exit(1)`s (no stderr lock, no
/// backtrace); in the parent it defers to the hook that was there before.
fn install_panic_hook() {
    HOOK.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_CHILD.load(Ordering::Relaxed) {
                let fd = CHILD_INFO_FD.load(Ordering::Relaxed);
                let msg = format!("child panicked: {info}");
                let t = &msg.as_bytes()[..msg.len().min(MAX_LOG)];
                raw_write(fd, &record(MSG_LOG, t.len() as u64, 0, t));
                // SAFETY: leaving the child at once, running nothing else.
                unsafe { libc::_exit(1) };
            }
            prev(info);
        }));
    });
}

/// A running child, seen from the parent.
pub struct SnapshotChild {
    pub pid: i32,
    pub pidfd: OwnedFd,
    info: OwnedFd,
    pending: Vec<u8>,
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildExit {
    Code(i32),
    Signal(i32),
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 fills two fds on success.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds are fresh and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Close every fd except those in `keep` (sorted here).
fn close_all_but(keep: &mut [RawFd]) {
    keep.sort_unstable();
    let mut from: u32 = 0;
    for &k in keep.iter() {
        if (k as u32) > from {
            // SAFETY: closes a range of this process's fds; nothing in the child uses them.
            unsafe { libc::syscall(libc::SYS_close_range, from, k as u32 - 1, 0) };
        }
        from = k as u32 + 1;
    }
    // SAFETY: as above, up to the highest fd number.
    unsafe { libc::syscall(libc::SYS_close_range, from, u32::MAX, 0) };
}

/// The child's first steps (DESIGN §8), before any allocation.
fn child_setup(info_fd: RawFd, parent: libc::pid_t) {
    // SAFETY: plain system calls on this (child) process only; the buffers are on the stack.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        let path = c"/proc/self/oom_score_adj";
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd >= 0 {
            libc::write(fd, b"1000".as_ptr() as *const libc::c_void, 4);
            libc::close(fd);
        }
        let zero = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &zero);
        // A child outliving a killed server would hold its whole copy-on-write image for
        // the rest of the save: die with the parent (checked again in case it died first).
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() != parent {
            libc::_exit(1);
        }
    }
    close_all_but(&mut [info_fd]);
    crate::alloc::child_arena::activate();
    CHILD_INFO_FD.store(info_fd, Ordering::Relaxed);
    IN_CHILD.store(true, Ordering::Relaxed);
}

/// Start a child that runs `body` and exits 0 if it returns true, 1 otherwise.
pub fn spawn(body: impl FnOnce(&mut ChildCtx) -> bool) -> io::Result<SnapshotChild> {
    install_panic_hook();
    let (rd, wr) = pipe()?;
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    let mut pidfd: i32 = -1;
    let args = CloneArgs {
        flags: CLONE_PIDFD | CLONE_CLEAR_SIGHAND,
        pidfd: &mut pidfd as *mut i32 as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    // SAFETY: clone3 without a new stack behaves like fork: the child continues here on a
    // copy of this thread's stack, and only this thread exists in it. The child never returns
    // from this function (it `_exit`s), so nothing of the parent's is dropped twice.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    if r == 0 {
        let fd = wr.as_raw_fd();
        child_setup(fd, parent);
        let mut ctx = ChildCtx {
            fd,
            last_cow_sample: None,
            cow_sample_cost: std::time::Duration::ZERO,
            cow: 0,
        };
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&mut ctx)))
            .unwrap_or(false);
        // SAFETY: the child ends here without running destructors or atexit handlers.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    drop(wr);
    // SAFETY: CLONE_PIDFD stored a fresh pidfd owned by us.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    Ok(SnapshotChild {
        pid: r as i32,
        pidfd,
        info: rd,
        pending: Vec::new(),
    })
}

impl SnapshotChild {
    /// Messages the child has sent so far (non-blocking).
    pub fn read_messages(&mut self) -> Vec<ChildMsg> {
        let mut buf = [0u8; 8192];
        loop {
            // SAFETY: reads into a stack buffer from our non-blocking pipe end.
            let n = unsafe {
                libc::read(
                    self.info.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                )
            };
            if n <= 0 {
                break;
            }
            self.pending.extend_from_slice(&buf[..n as usize]);
        }
        let mut out = Vec::new();
        let mut pos = 0;
        while self.pending.len() - pos >= HEADER {
            let h = &self.pending[pos..pos + HEADER];
            let a = u64::from_le_bytes(h[8..16].try_into().unwrap_or([0; 8]));
            let b = u64::from_le_bytes(h[16..24].try_into().unwrap_or([0; 8]));
            let (msg, len) = match h[0] {
                MSG_PROGRESS => (ChildMsg::Progress { keys: a, cow: b }, 0),
                MSG_DONE => (ChildMsg::Done { keys: a, cow: b }, 0),
                _ => {
                    let l = (a as usize).min(MAX_LOG);
                    if self.pending.len() - pos - HEADER < l {
                        break;
                    }
                    let t = &self.pending[pos + HEADER..pos + HEADER + l];
                    (ChildMsg::Log(String::from_utf8_lossy(t).into_owned()), l)
                }
            };
            out.push(msg);
            pos += HEADER + len;
        }
        self.pending.drain(..pos);
        out
    }

    /// waitid on the pidfd: Ok(None) when `nohang` and the child still runs.
    fn waitid(&self, nohang: bool) -> std::io::Result<Option<ChildExit>> {
        let flags = libc::WEXITED | if nohang { libc::WNOHANG } else { 0 };
        // SAFETY: waitid on our own pidfd with a zeroed siginfo it fills in.
        unsafe {
            let mut si: libc::siginfo_t = std::mem::zeroed();
            if libc::waitid(
                P_PIDFD,
                self.pidfd.as_raw_fd() as libc::id_t,
                &mut si,
                flags,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            if si.si_pid() == 0 {
                return Ok(None);
            }
            let status = si.si_status();
            Ok(Some(if si.si_code == libc::CLD_EXITED {
                ChildExit::Code(status)
            } else {
                ChildExit::Signal(status)
            }))
        }
    }

    /// Reap the child if it has exited (after the ring reported its pidfd readable).
    pub fn try_reap(&self) -> Option<ChildExit> {
        self.waitid(true).ok().flatten()
    }

    /// Block until the child exits (tests, shutdown).
    pub fn wait(&self) -> ChildExit {
        loop {
            match self.waitid(false) {
                Ok(Some(e)) => return e,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                _ => return ChildExit::Code(-1),
            }
        }
    }

    /// Send a signal through the pidfd (no pid-reuse race).
    pub fn kill(&self, sig: i32) {
        // SAFETY: pidfd_send_signal on our own pidfd with no siginfo.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.pidfd.as_raw_fd(),
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
    }
}
