//! A client connection: its socket, query buffer and parser, its pending output with the
//! propagation stamps that gate sending (DESIGN §3, §6), and its session state.
//!
//! Output is appended to `out`; after every command the loop records a mark `(end, stamp)`: the
//! bytes up to `end` may leave once the durable offset reaches `stamp`. `sending` holds the bytes
//! of the one `send` in flight and never moves while the kernel reads it.

use crate::resp::{Out, RequestParser};
use std::collections::VecDeque;
use std::os::fd::{AsRawFd, OwnedFd};

pub type ClientId = u64;

/// Largest empty query buffer a client keeps for its next burst.
const QBUF_KEEP_MAX: usize = 2 * 1024 * 1024;
/// Smallest consumed prefix worth moving the query buffer for.
const COMPACT_MIN: usize = 16 * 1024;
/// Unparsed input beyond which a client that still has complete commands waiting stops being
/// read (its recv is cancelled) until the loop catches up: TCP back-pressure instead of an
/// ever-growing query buffer.
pub const RECV_PAUSE_BACKLOG: usize = 512 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    SkipNext,
    /// Skipping the current command's reply (SkipNext became this for one command).
    Skip,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closing {
    No,
    /// Stop reading; close once all output has been sent (QUIT, protocol errors).
    AfterReply,
    /// Close as soon as in-flight requests complete; discard output.
    Now,
}

pub struct Client {
    pub id: ClientId,
    pub slot: u32,
    pub generation: u32,
    /// The socket; None for the client scripts run their commands through.
    pub fd: Option<OwnedFd>,
    pub addr: String,
    pub laddr: String,
    pub qbuf: Vec<u8>,
    pub qpos: usize,
    /// The most the query buffer held since the last cron check (Redis's querybuf_peak).
    pub qbuf_peak: usize,
    pub parser: RequestParser,
    pub out: Out,
    /// (end offset in `out.buf`, propagation stamp) for every command's output.
    pub marks: VecDeque<(usize, u64)>,
    pub sending: Vec<u8>,
    pub send_off: usize,
    pub send_inflight: bool,
    pub recv_armed: bool,
    /// Reading is paused because too much input is waiting (see RECV_PAUSE_BACKLOG).
    pub recv_paused: bool,
    pub closing: Closing,
    /// Set while the client sits in the loop's list of clients with unparsed input.
    pub pending_input: bool,
    pub db: usize,
    pub name: Option<Vec<u8>>,
    pub authenticated: bool,
    pub created_ms: i64,
    pub last_interaction_ms: i64,
    pub reply_mode: ReplyMode,
    pub monitor: bool,
    pub no_evict: bool,
    pub last_cmd: Option<&'static crate::cmd::CommandDef>,
    /// Query bytes held while the loop runs this client's commands (CLIENT LIST qbuf).
    pub qbuf_in_use: usize,
    /// Bytes of the arguments of the command running or last run (CLIENT LIST argv-mem).
    pub argv_mem: usize,
    /// Bytes read and written on this connection.
    pub net_in: u64,
    pub net_out: u64,
    /// When the output first passed the soft limit (for client-output-buffer-limit).
    pub obuf_soft_since: Option<i64>,
    pub lib_name: Option<Vec<u8>>,
    pub lib_ver: Option<Vec<u8>>,
    /// The running command recorded its effects itself: do not propagate its argv.
    pub suppress_propagation: bool,
    /// Propagate this command even if the dirty counter does not show a change
    /// (forceCommandPropagation: FLUSHALL, whose save resets the counter).
    pub force_propagation: bool,
    /// The running command asks to be propagated as this argv instead of its own.
    pub rewritten_argv: Option<Vec<Vec<u8>>>,
    /// Subscribed channels and patterns (patterns in subscription order).
    pub subs: std::collections::HashSet<Vec<u8>>,
    pub psubs: Vec<Vec<u8>>,
    /// Shard channels (SSUBSCRIBE).
    pub ssubs: std::collections::HashSet<Vec<u8>>,
    /// Commands queued since MULTI.
    pub multi: Option<Box<crate::server::multi::MultiState>>,
    /// Set while the client waits in a blocking command.
    pub blocked: Option<Box<crate::server::blocking::Blocked>>,
    /// A command CLIENT PAUSE held, to run before the rest of the input once released.
    pub postponed_argv: Option<Vec<Vec<u8>>>,
    /// The client scripts run their commands through (Redis's CLIENT_SCRIPT).
    pub is_script: bool,
}

impl Client {
    pub fn new(
        id: ClientId,
        slot: u32,
        generation: u32,
        fd: OwnedFd,
        addr: String,
        laddr: String,
        now_ms: i64,
    ) -> Client {
        Client::with_fd(id, slot, generation, Some(fd), addr, laddr, now_ms)
    }

    fn with_fd(
        id: ClientId,
        slot: u32,
        generation: u32,
        fd: Option<OwnedFd>,
        addr: String,
        laddr: String,
        now_ms: i64,
    ) -> Client {
        Client {
            id,
            slot,
            generation,
            fd,
            addr,
            laddr,
            qbuf: Vec::new(),
            qpos: 0,
            qbuf_peak: 0,
            parser: RequestParser::default(),
            out: Out::new(),
            marks: VecDeque::new(),
            sending: Vec::new(),
            send_off: 0,
            send_inflight: false,
            recv_armed: false,
            recv_paused: false,
            closing: Closing::No,
            pending_input: false,
            db: 0,
            name: None,
            authenticated: false,
            created_ms: now_ms,
            last_interaction_ms: now_ms,
            reply_mode: ReplyMode::On,
            monitor: false,
            no_evict: false,
            last_cmd: None,
            qbuf_in_use: 0,
            argv_mem: 0,
            net_in: 0,
            net_out: 0,
            obuf_soft_since: None,
            lib_name: None,
            lib_ver: None,
            suppress_propagation: false,
            force_propagation: false,
            rewritten_argv: None,
            subs: Default::default(),
            psubs: Vec::new(),
            ssubs: Default::default(),
            multi: None,
            blocked: None,
            postponed_argv: None,
            is_script: false,
        }
    }

    /// The client scripts run commands through (Redis's CLIENT_SCRIPT): no socket, always
    /// authenticated, and named `lua` where MONITOR shows an address.
    pub fn new_script() -> Client {
        let mut c = Client::with_fd(0, u32::MAX, 0, None, "lua".into(), String::new(), 0);
        c.authenticated = true;
        c.is_script = true;
        c
    }

    pub fn raw_fd(&self) -> i32 {
        self.fd.as_ref().map_or(-1, |f| f.as_raw_fd())
    }

    /// Record that everything written to `out` so far may leave once `stamp` is durable.
    /// Channels plus patterns subscribed (the count SUBSCRIBE replies carry).
    pub fn subscription_count(&self) -> usize {
        self.subs.len() + self.psubs.len()
    }

    /// Every subscription, shard channels included (pub/sub mode, the pubsub buffer class).
    pub fn in_pubsub(&self) -> bool {
        self.subscription_count() + self.ssubs.len() > 0
    }

    pub fn mark_output(&mut self, stamp: u64) {
        let end = self.out.buf.len();
        match self.marks.back_mut() {
            Some(last) if last.1 == stamp => last.0 = end,
            Some(last) if last.0 == end => {}
            _ => self.marks.push_back((end, stamp)),
        }
    }

    /// Bytes of `out` that may be sent when the durable offset is `durable`.
    pub fn sendable_len(&self, durable: u64) -> usize {
        let mut len = 0;
        for &(end, stamp) in &self.marks {
            if stamp > durable {
                break;
            }
            len = end;
        }
        len
    }

    /// Move the first `n` bytes of `out` into `sending`.
    pub fn take_for_send(&mut self, n: usize) {
        debug_assert!(!self.send_inflight && self.sending.len() == self.send_off);
        self.sending.clear();
        self.send_off = 0;
        if n == self.out.buf.len() {
            std::mem::swap(&mut self.sending, &mut self.out.buf);
        } else {
            self.sending.extend_from_slice(&self.out.buf[..n]);
            self.out.buf.drain(..n);
        }
        while let Some(m) = self.marks.front_mut() {
            if m.0 <= n {
                self.marks.pop_front();
            } else {
                m.0 -= n;
                break;
            }
        }
    }

    /// Memory held by the commands queued since MULTI (CLIENT LIST multi-mem): their
    /// arguments and the queue's slots.
    pub fn multi_mem(&self) -> usize {
        self.multi.as_ref().map_or(0, |m| {
            let args: usize = m
                .cmds
                .iter()
                .map(|(_, argv)| {
                    argv.iter().map(|a| a.capacity()).sum::<usize>()
                        + argv.capacity() * std::mem::size_of::<Vec<u8>>()
                })
                .sum();
            args + m.cmds.capacity()
                * std::mem::size_of::<(&'static crate::cmd::CommandDef, Vec<Vec<u8>>)>()
        })
    }

    /// Everything the connection holds in memory (CLIENT LIST tot-mem, and what client
    /// eviction weighs): the client itself, query and output buffers, the arguments of its
    /// command, its transaction queue and its subscriptions' entries.
    pub fn memory_usage(&self) -> usize {
        let subs = self.subs.len() + self.psubs.len() + self.ssubs.len();
        std::mem::size_of::<Client>()
            + self.qbuf.capacity()
            + self.out.buf.capacity()
            + self.sending.capacity()
            + self.argv_mem
            + self.multi_mem()
            + subs * std::mem::size_of::<Vec<u8>>()
    }

    /// Output waiting in memory: not yet handed to the kernel.
    pub fn output_bytes(&self) -> usize {
        self.out.buf.len() + (self.sending.len() - self.send_off)
    }

    pub fn has_output(&self) -> bool {
        !self.out.buf.is_empty() || self.send_off < self.sending.len()
    }

    /// Unparsed bytes in the query buffer.
    pub fn query_backlog(&self) -> usize {
        self.qbuf.len() - self.qpos
    }

    /// Requests in the ring that still name this client's fd or buffers.
    pub fn in_flight(&self) -> bool {
        self.send_inflight || self.recv_armed
    }

    /// Free the capacity of empty query and output buffers above a small size (called for
    /// clients that have been idle for a while).
    pub fn release_idle_buffers(&mut self) {
        const KEEP: usize = 32 * 1024;
        if self.qbuf.capacity() > KEEP && self.qpos >= self.qbuf.len() && !self.parser.in_progress()
        {
            self.compact_query();
            if self.qbuf.is_empty() {
                self.qbuf = Vec::new();
            }
        }
        if self.out.buf.is_empty() && self.out.buf.capacity() > KEEP && self.marks.is_empty() {
            self.out.buf = Vec::new();
        }
        if !self.send_inflight
            && self.sending.capacity() > KEEP
            && self.sending.len() <= self.send_off
        {
            self.sending = Vec::new();
            self.send_off = 0;
        }
    }

    /// Drop consumed query bytes, keeping whatever a partial command refers to. Moving the
    /// unconsumed tail costs its length, so it is only done once the consumed prefix is at
    /// least as large (amortised O(1) per byte, even for a deep pipeline).
    pub fn compact_query(&mut self) {
        let keep = self.parser.keep_from(self.qpos);
        if keep == 0 {
            return;
        }
        if keep >= self.qbuf.len() {
            self.qbuf.clear();
        } else if keep >= COMPACT_MIN && keep >= self.qbuf.len() - keep {
            self.qbuf.drain(..keep);
        } else {
            return;
        }
        self.parser.shift(keep);
        self.qpos -= keep;
        // Give back an unusually large buffer once it is empty again; smaller ones are kept,
        // since re-growing a buffer means fresh pages and page faults on every burst.
        if self.qbuf.is_empty() && self.qbuf.capacity() > QBUF_KEEP_MAX {
            self.qbuf = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        let fd = std::fs::File::open("/dev/null").unwrap();
        Client::new(1, 0, 0, fd.into(), String::new(), String::new(), 0)
    }

    #[test]
    fn output_is_gated_by_stamp() {
        let mut c = client();
        c.out.ok();
        c.mark_output(10);
        c.out.ok();
        c.mark_output(20);
        assert_eq!(c.sendable_len(9), 0);
        assert_eq!(c.sendable_len(10), 5);
        assert_eq!(c.sendable_len(25), 10);
        c.take_for_send(5);
        assert_eq!(c.sending, b"+OK\r\n");
        assert_eq!(c.marks.front(), Some(&(5, 20)));
    }
}
