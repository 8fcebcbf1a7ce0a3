//! The event loop (DESIGN §3): one io_uring ring, no epoll, no thread per client.
//!
//! One iteration: submit and wait for a completion (or the cron timer); dispatch completions
//! (accept → new client with a multishot recv; recv → bytes into the query buffer; send →
//! advance output; signalfd → shutdown; timer → cron); run the commands of clients with input,
//! at most `COMMAND_BUDGET` per client per iteration so one pipeline cannot starve the rest;
//! queue at most one send per client, holding back output whose stamp is not yet durable.

use super::listener::{self, Listener};
use super::{PauseKind, Server, ShutdownRequest, now_ms};
use crate::cmd::CommandTable;
use crate::config::{Config, P};
use crate::db::{Db, KeyHasher, Rng};
use crate::io::ring::{Completion, Kind, Ring, Tag};
use crate::net::bufring::{self, BufRing};
use crate::net::client::{Client, Closing};
use crate::persist::propagate::Propagator;
use io_uring::{opcode, types};
use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// What `queue_send` did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SendState {
    Queued,
    InFlight,
    Idle,
    /// Everything owed was sent and the client asked to be closed after its reply.
    CloseNow,
}

/// Queued reply bytes, or time spent in a pass, after which the loop submits the queued sends
/// before running the remaining clients (see `process_pending_input`).
pub const EARLY_SUBMIT_BYTES: usize = 512 * 1024;
pub const EARLY_SUBMIT_AFTER: std::time::Duration = std::time::Duration::from_micros(200);

/// Query bytes one client may consume per pass before the others get their turn (with the
/// command budget below): replies to a deep pipeline flow while it is still being read, as
/// Redis's 16 KiB reads make them.
pub const INPUT_BUDGET: usize = 16 * 1024;

/// Commands one client may run per loop iteration before the others get their turn.
pub const COMMAND_BUDGET: usize = 1024;
/// Descriptors Redis keeps in reserve beyond maxclients (CONFIG_MIN_RESERVED_FDS).
const RESERVED_FDS: u64 = 32;
const RING_ENTRIES: u32 = 4096;
const RECV_BUFFERS: u16 = 512;
const RECV_BUFFER_SIZE: usize = 16 * 1024;
/// Longest single send we submit (the kernel caps a send at about 2 GiB anyway).
const MAX_SEND: usize = 64 * 1024 * 1024;

const MAXCLIENTS_ERR: &[u8] = b"-ERR max number of clients reached\r\n";
const DENIED_ERR: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Raise RLIMIT_NOFILE so maxclients connections fit, lowering maxclients if the limit can't move
/// (as Redis's adjustOpenFilesLimit).
fn adjust_open_files_limit(cfg: &mut Config) {
    let want = cfg.int(P::Maxclients) as u64 + RESERVED_FDS;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a pointer to a local rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return;
        }
        if lim.rlim_cur >= want {
            return;
        }
        let mut try_to = want;
        while try_to > lim.rlim_cur {
            let new = libc::rlimit {
                rlim_cur: try_to,
                rlim_max: lim.rlim_max.max(try_to),
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &new) == 0 {
                return;
            }
            try_to -= 16.min(try_to);
        }
        let got = lim.rlim_cur;
        if got > RESERVED_FDS {
            let max = got - RESERVED_FDS;
            log::warn!(
                "Your current 'ulimit -n' of {got} is not enough for the server to start. Setting maxclients to {max}."
            );
            cfg.set_val(P::Maxclients, crate::config::Val::Int(max as i64));
        }
    }
}

fn block_signals_to_signalfd() -> std::io::Result<i32> {
    // SAFETY: signal-mask manipulation on local sigset_t values; signalfd gets a valid mask.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        // An inherited SIG_IGN for SIGCHLD would auto-reap children and lose their status.
        libc::signal(libc::SIGCHLD, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(fd)
    }
}

/// How long start-up waits for a port another process is still letting go of.
const BIND_RETRY: std::time::Duration = std::time::Duration::from_secs(3);

/// Bind, retrying briefly on EADDRINUSE: a previous server killed with SIGKILL keeps its
/// listening socket until the kernel has torn down its io_uring instance, which happens
/// asynchronously after the process is reaped (a supervisor's immediate restart would
/// otherwise fail).
fn listen_retrying(ip: IpAddr, port: u16, backlog: i32) -> std::io::Result<Listener> {
    let start = std::time::Instant::now();
    loop {
        match listener::listen(ip, port, backlog) {
            Err(e)
                if e.raw_os_error() == Some(libc::EADDRINUSE) && start.elapsed() < BIND_RETRY =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            r => return r,
        }
    }
}

fn open_listeners(
    port: i64,
    bind: &[String],
    backlog: i32,
    retry: bool,
) -> Result<Vec<Listener>, String> {
    if port == 0 {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for raw in bind {
        let (optional, addr) = match raw.strip_prefix('-') {
            Some(a) => (true, a),
            None => (false, raw.as_str()),
        };
        let ip: IpAddr = match addr {
            "*" => IpAddr::from([0u8, 0, 0, 0]),
            "::*" => IpAddr::from([0u16; 8]),
            a => match a.parse() {
                Ok(ip) => ip,
                Err(_) => return Err(format!("Invalid bind address '{a}'")),
            },
        };
        let bound = if retry {
            listen_retrying(ip, port as u16, backlog)
        } else {
            listener::listen(ip, port as u16, backlog)
        };
        match bound {
            Ok(l) => out.push(l),
            Err(e) => {
                let unsupported = matches!(
                    e.raw_os_error(),
                    Some(libc::EADDRNOTAVAIL)
                        | Some(libc::EAFNOSUPPORT)
                        | Some(libc::EPROTONOSUPPORT)
                );
                if optional && unsupported {
                    log::warn!(
                        "Could not create server TCP listening socket {addr}:{port}: {e} (optional, skipped)"
                    );
                    continue;
                }
                return Err(format!(
                    "Warning: Could not create server TCP listening socket {addr}:{port}: bind: {e}\nFailed listening on port {port} (TCP), aborting."
                ));
            }
        }
    }
    if out.is_empty() {
        return Err(format!("Failed listening on port {port} (TCP), aborting."));
    }
    Ok(out)
}

fn random_run_id() -> String {
    let mut r = Rng::seeded();
    (0..40).map(|_| format!("{:x}", r.below(16))).collect()
}

/// How long an idle loop polls before it sleeps. With 50 clients at pipeline 1 the loop slept
/// about twice as often per request as Redis's, and the benchmark client was preempted 4× more
/// often; polling 20 µs took redis-benchmark from 0.88–1.05× to 1.0–1.18× Redis's ops/s
/// (0/10/20/30/40/50 µs compared: 20 was the best or tied in every row).
const IDLE_SPIN: std::time::Duration = std::time::Duration::from_micros(20);

impl Server {
    /// Set up everything the loop needs. Errors are printed by main and end the process.
    pub fn new(mut cfg: Config, executable: String) -> Result<Server, String> {
        let dir = cfg.str(P::Dir).to_string();
        if !dir.is_empty() {
            std::env::set_current_dir(&dir).map_err(|e| format!("Can't chdir to '{dir}': {e}"))?;
        }
        let cwd = std::env::current_dir()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        cfg.set_val(P::Dir, crate::config::Val::Str(cwd));
        adjust_open_files_limit(&mut cfg);
        let signal_fd = block_signals_to_signalfd().map_err(|e| format!("signalfd: {e}"))?;
        let ring = Ring::new(RING_ENTRIES)?;
        let bufring =
            BufRing::new(&ring.submitter(), RECV_BUFFERS, RECV_BUFFER_SIZE).map_err(|e| {
                format!("io_uring provided-buffer ring: {e} (forkv needs Linux >= 6.1)")
            })?;
        let mut listeners = open_listeners(
            cfg.int(P::Port),
            cfg.list(P::Bind),
            cfg.int(P::TcpBacklog) as i32,
            true,
        )?;
        for (i, l) in listeners.iter_mut().enumerate() {
            l.id = i as u32;
        }
        let pidfile = cfg.str(P::Pidfile).to_string();
        if !pidfile.is_empty()
            && let Err(e) = std::fs::write(&pidfile, format!("{}\n", std::process::id()))
        {
            log::warn!("Failed to write PID file '{pidfile}': {e}");
        }
        if cfg.bool(P::Daemonize) {
            return Err("forkv does not daemonize ('daemonize yes'): run it in the foreground under a supervisor (systemd, runit, ...)".into());
        }
        let bound = (cfg.int(P::Port), cfg.list(P::Bind).to_vec());
        let hasher = KeyHasher::default();
        let ndb = cfg.int(P::Databases) as usize;
        let dbs = (0..ndb).map(|_| Db::new(&hasher)).collect();
        let config_file = cfg
            .file
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let now = now_ms();
        Ok(Server {
            ring,
            bufring,
            cfg,
            dbs,
            hasher,
            clients: Vec::new(),
            generations: Vec::new(),
            free_slots: Vec::new(),
            client_ids: BTreeMap::new(),
            next_client_id: 1,
            pending_input: VecDeque::new(),
            pending_send: Vec::new(),
            closing: Vec::new(),
            bytes_queued_unsubmitted: 0,
            rearm_later: Vec::new(),
            stats_enobufs: 0,
            next_listener_id: listeners.len() as u32,
            bound,
            listeners,
            cmds: CommandTable::new(),
            prop: Propagator::default(),
            stats: Default::default(),
            dirty: 0,
            cmd_time_ms: now,
            rng: Rng::seeded(),
            start_ms: now,
            start_instant: std::time::Instant::now(),
            run_id: random_run_id(),
            loading: false,
            active_expire_enabled: true,
            pause: PauseKind::None,
            running_write: false,
            pause_end_ms: 0,
            monitors: Vec::new(),
            shutdown: ShutdownRequest::default(),
            to_close: Vec::new(),
            signal_buf: Box::new([0u8; 128]),
            signal_fd,
            timer_spec: Box::new(types::Timespec::new()),
            cron: Default::default(),
            slowlog: Default::default(),
            executable,
            config_file,
            pubsub: Default::default(),
            running_client: None,
            self_out: crate::resp::Out::new(),
            delivered: Vec::new(),
            watches: Default::default(),
            in_exec: false,
            busy_deferred: Vec::new(),
            errors_accounted: 0,
            last_call_usec: 0,
            oom_at_command_start: false,
            scripting: crate::scripting::ScriptEngine::new()
                .map_err(|e| format!("initialising Lua: {e}"))?,
            blocking: Default::default(),
            serving_blocked: false,
            migrate_sockets: Default::default(),
            last_call_failed: false,
            ready_key: None,
            block_timer_spec: Box::new(types::Timespec::new()),
            touches_signalled: false,
            evict_next_db: 0,
            rdb: Default::default(),
        })
    }

    fn arm_accepts(&mut self) {
        for i in 0..self.listeners.len() {
            if !self.listeners[i].armed {
                let fd = self.listeners[i].fd.as_raw_fd();
                let e = opcode::AcceptMulti::new(types::Fd(fd))
                    .flags(libc::SOCK_CLOEXEC)
                    .build();
                self.ring
                    .push(e, Tag::new(Kind::Accept, self.listeners[i].id, 0));
                self.listeners[i].armed = true;
            }
        }
    }

    /// Replace the listening sockets (CONFIG SET port/bind), as Redis's changeListener: the old
    /// sockets close first; if the new addresses cannot be bound the old ones are restored.
    pub fn rebind(&mut self, port: i64, bind: &[String]) -> Result<(), String> {
        let (old_port, old_bind) = self.bound.clone();
        if old_port == port && old_bind == bind {
            return Ok(());
        }
        let backlog = self.cfg.int(P::TcpBacklog) as i32;
        if port != old_port {
            // A new port is opened before the old listeners close (as Redis's
            // changeListenPort): on failure nothing changed. (A cancelled accept keeps its
            // socket alive until the ring lets go of it, so closing first and reopening the old
            // port on failure can find it still in use.)
            let new =
                open_listeners(port, bind, backlog, false).inspect_err(|e| log::warn!("{e}"))?;
            self.close_listeners();
            self.install_listeners(new);
            self.bound = (port, bind.to_vec());
            return Ok(());
        }
        self.close_listeners();
        match open_listeners(port, bind, backlog, false) {
            Ok(new) => {
                self.install_listeners(new);
                self.bound = (port, bind.to_vec());
                Ok(())
            }
            Err(e) => {
                log::warn!("{e}");
                if let Ok(old) = open_listeners(old_port, &old_bind, backlog, false) {
                    self.install_listeners(old);
                }
                Err(e)
            }
        }
    }

    fn install_listeners(&mut self, mut new: Vec<Listener>) {
        for l in &mut new {
            l.id = self.next_listener_id;
            self.next_listener_id += 1;
        }
        self.listeners = new;
        self.arm_accepts();
    }

    /// Cancel the accepts synchronously, then close the sockets (no request names them now).
    fn close_listeners(&mut self) {
        for l in &self.listeners {
            if l.armed {
                let ud = Tag::new(Kind::Accept, l.id, 0).encode();
                if let Err(e) = self
                    .ring
                    .submitter()
                    .register_sync_cancel(None, types::CancelBuilder::user_data(ud))
                {
                    log::warn!("cancelling accept on {}: {e}", l.addr);
                }
            }
        }
        self.listeners.clear();
    }

    fn arm_signal_read(&mut self) {
        let e =
            opcode::Read::new(types::Fd(self.signal_fd), self.signal_buf.as_mut_ptr(), 128).build();
        self.ring.push(e, Tag::new(Kind::Signal, 0, 0));
    }

    fn arm_timer(&mut self) {
        let period_ns = 1_000_000_000u64 / self.hz() as u64;
        *self.timer_spec = types::Timespec::new()
            .sec(period_ns / 1_000_000_000)
            .nsec((period_ns % 1_000_000_000) as u32);
        let e = opcode::Timeout::new(&*self.timer_spec as *const types::Timespec).build();
        self.ring.push(e, Tag::new(Kind::Timer, 0, 0));
    }

    pub fn arm_recv(&mut self, slot: u32) {
        let Some(c) = self.clients[slot as usize].as_deref_mut() else {
            return;
        };
        if c.recv_armed || c.recv_paused || c.closing != Closing::No {
            return;
        }
        let e = opcode::RecvMulti::new(types::Fd(c.raw_fd()), bufring::GROUP_ID).build();
        c.recv_armed = true;
        let tag = Tag::new(Kind::Recv, slot, c.generation);
        self.ring.push(e, tag);
    }

    /// Run until shutdown. Returns the process exit code.
    ///
    /// When an iteration ends with nothing to do, the loop polls the ring for `IDLE_SPIN`
    /// before sleeping in the kernel: with many clients at pipeline 1 the next request usually
    /// arrives within microseconds, and sleeping for it costs a context switch on each side.
    pub fn run(&mut self) -> i32 {
        self.arm_accepts();
        self.arm_signal_read();
        self.arm_timer();
        let mut completions = Vec::with_capacity(1024);
        if let Err(e) = self.start_loading() {
            log::error!("{e}");
            return 1;
        }
        loop {
            // While loading, a slice of the file per iteration; the loop keeps answering
            // -LOADING in between (Redis processes events every 2 MB loaded).
            if self.rdb.loading.is_some()
                && let Err(e) = self.loading_step()
            {
                log::error!("{e}");
                return 1;
            }
            let want = if self.pending_input.is_empty() && self.rdb.loading.is_none() {
                1
            } else {
                0
            };
            let r = if want == 1 {
                self.ring.submit_and_wait_spinning(IDLE_SPIN)
            } else {
                self.ring.submit_and_wait(want)
            };
            if let Err(e) = r {
                log::warn!("io_uring_enter: {e}");
            }
            completions.clear();
            // What arrived while a slow script ran and had to wait for it comes first.
            completions.append(&mut self.busy_deferred);
            self.ring.drain(&mut completions);
            let mut cron_due = false;
            for c in completions.iter() {
                match c.tag.kind {
                    Kind::Accept => self.on_accept(c),
                    Kind::Recv => self.on_recv(c),
                    Kind::Send => self.on_send(c),
                    Kind::Signal => self.on_signal(c),
                    Kind::Timer => cron_due = true,
                    Kind::BlockTimer => self.blocking.timer_armed_for = None,
                    Kind::ChildExit => self.on_child_exit(c.tag.generation),
                    Kind::Ignore => {}
                }
            }
            self.process_pending_input();
            self.close_requested_clients();
            if cron_due {
                self.cron_tick();
                self.arm_timer();
            }
            self.before_sleep();
            for slot in std::mem::take(&mut self.rearm_later) {
                self.arm_recv(slot);
            }
            self.flush_sends();
            self.reap_closing();
            self.prop.discard_unread();
            self.bytes_queued_unsubmitted = 0;

            if self.shutdown.requested {
                if let Some(code) = self.finish_shutdown() {
                    return code;
                }
                self.shutdown.requested = false;
            }
        }
    }

    fn alloc_slot(&mut self) -> (u32, u32) {
        if let Some(slot) = self.free_slots.pop() {
            let g = self.generations[slot as usize].wrapping_add(1) & 0xff_ffff;
            self.generations[slot as usize] = g;
            (slot, g)
        } else {
            self.clients.push(None);
            self.generations.push(0);
            ((self.clients.len() - 1) as u32, 0)
        }
    }

    pub(crate) fn on_accept(&mut self, c: &Completion) {
        let li = self.listeners.iter().position(|l| l.id == c.tag.slot);
        if li.is_none() {
            // A listener that has been replaced: its descriptor (if any) is not ours any more.
            if c.result >= 0 {
                // SAFETY: an accept completion hands us a new descriptor; close it.
                drop(unsafe { OwnedFd::from_raw_fd(c.result) });
            }
            return;
        }
        if !c.more()
            && let Some(l) = li.and_then(|i| self.listeners.get_mut(i))
        {
            l.armed = false;
            self.arm_accepts();
        }
        if c.result < 0 {
            let err = std::io::Error::from_raw_os_error(-c.result);
            log::warn!("Accepting client connection: {err}");
            return;
        }
        // SAFETY: a successful accept completion hands us a new descriptor we now own.
        let fd = unsafe { OwnedFd::from_raw_fd(c.result) };
        self.stats.total_connections += 1;
        let peer = listener::peer_addr(fd.as_raw_fd());
        let local = listener::local_addr(fd.as_raw_fd());
        if self.client_ids.len() >= self.cfg.int(P::Maxclients) as usize {
            write_and_drop(fd, MAXCLIENTS_ERR);
            self.stats.rejected_conn += 1;
            return;
        }
        if self.cfg.bool(P::ProtectedMode)
            && self.cfg.str(P::Requirepass).is_empty()
            && !peer.is_some_and(|p| is_loopback(&p.ip()))
        {
            write_and_drop(fd, DENIED_ERR);
            self.stats.rejected_conn += 1;
            return;
        }
        listener::tune_client_socket(&fd, self.cfg.int(P::TcpKeepalive));
        let (slot, generation) = self.alloc_slot();
        let id = self.next_client_id;
        self.next_client_id += 1;
        let now = now_ms();
        let mut client = Box::new(Client::new(
            id,
            slot,
            generation,
            fd,
            peer.map(|a| listener::fmt_addr(&a)).unwrap_or_default(),
            local.map(|a| listener::fmt_addr(&a)).unwrap_or_default(),
            now,
        ));
        client.authenticated = self.cfg.str(P::Requirepass).is_empty();
        self.clients[slot as usize] = Some(client);
        self.client_ids.insert(id, slot);
        self.arm_recv(slot);
    }

    fn live_client(&mut self, tag: Tag) -> Option<&mut Client> {
        let c = self.clients.get_mut(tag.slot as usize)?.as_deref_mut()?;
        (c.generation == tag.generation).then_some(c)
    }

    pub(crate) fn on_recv(&mut self, comp: &Completion) {
        let bid = comp.buffer_id();
        let limit = self.cfg.int(P::ClientQueryBufferLimit) as usize;
        let mut rearm = false;
        let mut close = false;
        let mut over_limit = false;
        let mut got = 0usize;
        let bufring = &self.bufring;
        let live = self
            .clients
            .get_mut(comp.tag.slot as usize)
            .and_then(|c| c.as_deref_mut())
            .filter(|c| c.generation == comp.tag.generation);
        if let Some(c) = live {
            if !comp.more() {
                c.recv_armed = false;
            }
            if comp.result > 0 {
                let n = comp.result as usize;
                if let Some(bid) = bid
                    && c.closing == Closing::No
                {
                    c.qbuf.extend_from_slice(bufring.data(bid, n));
                    c.net_in += n as u64;
                    got = n;
                    if c.qbuf.len() > c.qbuf_peak {
                        c.qbuf_peak = c.qbuf.len();
                    }
                    if c.qbuf.len() > limit {
                        over_limit = true;
                    }
                }
                rearm = !comp.more();
            } else if comp.result == -libc::ENOBUFS {
                // Every provided buffer was in use. Re-arming now would fail the same way until
                // this iteration recycles its buffers, so re-arm at the end of the iteration; the
                // data waits in the socket meanwhile.
                self.stats_enobufs += 1;
                if self.stats_enobufs.is_power_of_two() {
                    log::debug!(
                        "provided receive buffers ran out {} times",
                        self.stats_enobufs
                    );
                }
                self.rearm_later.push(comp.tag.slot);
            } else if comp.result != -libc::ECANCELED {
                // EOF or a socket error: the peer is gone.
                close = c.closing != Closing::Now;
            }
        }
        if let Some(bid) = bid {
            self.bufring.recycle(bid);
        }
        if got > 0 {
            self.stats.net_input_bytes += got as u64;
            self.stats.io_reads_processed += 1;
            if over_limit {
                let slot = comp.tag.slot;
                if let Some(c) = self.clients[slot as usize].as_deref() {
                    log::warn!(
                        "Closing client that reached max query buffer length: id={} addr={} qbuf={} (qbuf initial bytes: {:?})",
                        c.id,
                        c.addr,
                        c.qbuf.len(),
                        String::from_utf8_lossy(&c.qbuf[..c.qbuf.len().min(64)])
                    );
                }
                self.stats.client_qbuf_limit_disconnections += 1;
                self.close_client_slot(slot);
                return;
            }
            self.mark_pending_input(comp.tag.slot);
        }
        if close {
            self.close_client_slot(comp.tag.slot);
        } else if rearm {
            self.arm_recv(comp.tag.slot);
        }
    }

    /// Stop reading from a client whose unparsed input is over the backlog bound.
    pub fn pause_recv(&mut self, slot: u32) {
        let Some(c) = self.clients[slot as usize].as_deref_mut() else {
            return;
        };
        if c.recv_paused {
            return;
        }
        c.recv_paused = true;
        if c.recv_armed {
            let tag = Tag::new(Kind::Recv, slot, c.generation);
            let e = opcode::AsyncCancel::new(tag.encode()).build();
            self.ring.push(e, Tag::new(Kind::Ignore, 0, 0));
        }
    }

    /// Read again from a client paused by `pause_recv`.
    pub fn resume_recv(&mut self, slot: u32) {
        let Some(c) = self.clients[slot as usize].as_deref_mut() else {
            return;
        };
        if c.recv_paused {
            c.recv_paused = false;
            self.arm_recv(slot);
        }
    }

    pub fn mark_pending_input(&mut self, slot: u32) {
        if let Some(c) = self.clients[slot as usize].as_deref_mut()
            && !c.pending_input
        {
            c.pending_input = true;
            self.pending_input.push_back(slot);
        }
    }

    pub(crate) fn on_send(&mut self, comp: &Completion) {
        let slot = comp.tag.slot;
        let mut close = false;
        if let Some(c) = self.live_client(comp.tag) {
            c.send_inflight = false;
            if comp.result < 0 {
                close = c.closing != Closing::Now;
                c.sending.clear();
                c.send_off = 0;
            } else {
                let n = comp.result as usize;
                c.send_off += n;
                c.net_out += n as u64;
                self.stats.net_output_bytes += n as u64;
                self.stats.io_writes_processed += 1;
            }
        }
        if close {
            self.close_client_slot(slot);
        } else {
            self.pending_send.push(slot);
        }
    }

    fn on_signal(&mut self, comp: &Completion) {
        if comp.result >= 4 {
            let signo = u32::from_ne_bytes([
                self.signal_buf[0],
                self.signal_buf[1],
                self.signal_buf[2],
                self.signal_buf[3],
            ]);
            let name = if signo == libc::SIGINT as u32 {
                "SIGINT"
            } else {
                "SIGTERM"
            };
            log::warn!("Received {name} scheduling shutdown...");
            self.shutdown.requested = true;
        }
        self.arm_signal_read();
    }

    /// Queue one send per client whose output may leave (DESIGN §3 step 5).
    pub(crate) fn flush_sends(&mut self) {
        let mut slots = std::mem::take(&mut self.pending_send);
        slots.sort_unstable();
        slots.dedup();
        let mut to_close = Vec::new();
        for &slot in &slots {
            if self.queue_send(slot) == SendState::CloseNow {
                to_close.push(slot);
            }
        }
        slots.clear();
        if self.pending_send.is_empty() {
            self.pending_send = slots;
        }
        for slot in to_close {
            self.close_client_slot(slot);
        }
    }

    /// Queue the send of whatever output of `slot` may leave now (at most one in flight).
    pub fn queue_send(&mut self, slot: u32) -> SendState {
        let durable = self.durable_offset();
        let Some(c) = self
            .clients
            .get_mut(slot as usize)
            .and_then(|c| c.as_deref_mut())
        else {
            return SendState::Idle;
        };
        if c.closing == Closing::Now {
            return SendState::Idle;
        }
        if c.send_inflight {
            return SendState::InFlight;
        }
        if c.send_off >= c.sending.len() {
            let n = c.sendable_len(durable);
            if n == 0 {
                if c.closing == Closing::AfterReply && !c.has_output() {
                    return SendState::CloseNow;
                }
                return SendState::Idle;
            }
            c.take_for_send(n);
        }
        let rest = &c.sending[c.send_off..];
        let len = rest.len().min(MAX_SEND);
        let e = opcode::Send::new(types::Fd(c.raw_fd()), rest.as_ptr(), len as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build();
        c.send_inflight = true;
        let tag = Tag::new(Kind::Send, slot, c.generation);
        self.ring.push(e, tag);
        self.bytes_queued_unsubmitted += len;
        SendState::Queued
    }

    /// Start closing a client: it leaves the client list now; its memory goes once the ring no
    /// longer references it.
    pub fn close_client_slot(&mut self, slot: u32) {
        let Some(c) = self
            .clients
            .get_mut(slot as usize)
            .and_then(|c| c.as_deref_mut())
        else {
            return;
        };
        // A client may already be marked Closing::Now by the code that decided to close it;
        // what matters is whether the close has started (it leaves the id map then).
        if !self.client_ids.contains_key(&c.id) {
            return;
        }
        c.closing = Closing::Now;
        let id = c.id;
        let fd = c.raw_fd();
        let recv_armed = c.recv_armed;
        let tag = Tag::new(Kind::Recv, slot, c.generation);
        // SAFETY: shutdown on a socket we own; it makes in-flight recv/send complete promptly.
        unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
        if recv_armed {
            let e = opcode::AsyncCancel::new(tag.encode()).build();
            self.ring.push(e, Tag::new(Kind::Ignore, 0, 0));
        }
        self.client_ids.remove(&id);
        self.monitors.retain(|m| *m != id);
        self.closing.push(slot);
        self.forget_client_state(slot);
    }

    /// Drop what the server keeps about a closing client: subscriptions, watches, blocking.
    fn forget_client_state(&mut self, slot: u32) {
        let Some(mut c) = self.clients[slot as usize].take() else {
            return;
        };
        self.unsubscribe_all(&mut c, false);
        self.punsubscribe_all(&mut c, false);
        self.sunsubscribe_all(&mut c, false);
        self.unwatch_all(c.id);
        self.unblock_client(&mut c);
        c.multi = None;
        self.clients[slot as usize] = Some(c);
    }

    /// Free clients whose last request has completed.
    pub(crate) fn reap_closing(&mut self) {
        let mut i = 0;
        while i < self.closing.len() {
            let slot = self.closing[i];
            let done = self.clients[slot as usize]
                .as_deref()
                .is_none_or(|c| !c.in_flight());
            if done {
                self.clients[slot as usize] = None;
                self.free_slots.push(slot);
                self.closing.swap_remove(i);
            } else {
                i += 1;
            }
        }
    }

    pub(crate) fn close_requested_clients(&mut self) {
        for id in std::mem::take(&mut self.to_close) {
            if let Some(&slot) = self.client_ids.get(&id) {
                self.close_client_slot(slot);
            }
        }
    }

    /// Arm the ring timer for the nearest deadline of a blocked client, if it is earlier than
    /// the one armed.
    fn arm_block_timer(&mut self, deadline: i64) {
        if self.blocking.timer_armed_for.is_some_and(|d| d <= deadline) {
            return;
        }
        let ms = (deadline - now_ms()).max(1) as u64;
        // The kernel copies the timespec when the request is submitted, at the top of the next
        // iteration, before this box can be written again.
        *self.block_timer_spec = types::Timespec::new()
            .sec(ms / 1000)
            .nsec(((ms % 1000) * 1_000_000) as u32);
        let e = opcode::Timeout::new(&*self.block_timer_spec as *const types::Timespec).build();
        self.ring.push(e, Tag::new(Kind::BlockTimer, 0, 0));
        self.blocking.timer_armed_for = Some(deadline);
    }

    /// Work done before the loop sleeps: blocked clients' timeouts, the fast expiry cycle,
    /// client pause end, releasing pub/sub messages that work produced.
    fn before_sleep(&mut self) {
        if self.blocking.blocked_clients > 0
            && let Some(next) = self.check_block_timeouts()
        {
            self.arm_block_timer(next);
        }
        if self.pause != PauseKind::None && now_ms() >= self.pause_end_ms {
            self.unpause_clients();
        }
        if self.active_expire_enabled {
            self.active_expire_cycle(crate::db::expire::CycleKind::Fast);
        }
        // Events of cron's and the expiry cycle's deletions (already propagated).
        self.settle_deliveries();
        self.evict_clients();
    }

    /// Whether a CLIENT PAUSE is in force now (its end may have passed since the last sleep).
    pub fn clients_paused(&self) -> bool {
        self.pause != PauseKind::None && now_ms() < self.pause_end_ms
    }

    pub fn unpause_clients(&mut self) {
        self.pause = PauseKind::None;
        self.release_postponed();
    }

    /// Orderly shutdown (SIGTERM/SIGINT or SHUTDOWN): returns the exit code, or None when the
    /// shutdown was refused and the server goes on.
    pub fn finish_shutdown(&mut self) -> Option<i32> {
        log::warn!("User requested shutdown...");
        if !std::mem::take(&mut self.shutdown.prepared)
            && self.prepare_shutdown(false, false, false).is_err()
        {
            log::warn!(
                "SIGTERM received but errors trying to shut down the server, check the logs for more information"
            );
            return None;
        }
        let pidfile = self.cfg.str(P::Pidfile).to_string();
        if !pidfile.is_empty() {
            let _ = std::fs::remove_file(&pidfile);
        }
        // Flush what clients are owed, best effort, with plain blocking writes.
        for c in self.clients.iter_mut().flatten() {
            if c.closing != Closing::Now
                && !c.send_inflight
                && c.send_off >= c.sending.len()
                && !c.out.buf.is_empty()
            {
                // SAFETY: write from a live buffer to a socket we own.
                unsafe {
                    libc::send(
                        c.raw_fd(),
                        c.out.buf.as_ptr() as *const libc::c_void,
                        c.out.buf.len(),
                        libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
                    )
                };
            }
        }
        self.close_listeners();
        log::warn!("forkv is now ready to exit, bye bye...");
        Some(0)
    }
}

fn is_loopback(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => v.is_loopback(),
        IpAddr::V6(v) => v.is_loopback() || v.to_ipv4_mapped().is_some_and(|m| m.is_loopback()),
    }
}

/// Write a final error to a connection we refuse, then close it.
fn write_and_drop(fd: OwnedFd, msg: &[u8]) {
    // SAFETY: a non-blocking best-effort write of a static buffer to a socket we own.
    unsafe {
        libc::send(
            fd.as_raw_fd(),
            msg.as_ptr() as *const libc::c_void,
            msg.len(),
            libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
        );
    }
    drop(fd);
}
