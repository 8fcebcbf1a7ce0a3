//! The server: all state the main thread owns (DESIGN §2) and the event loop's phases.
//!
//! - `event_loop.rs`: the io_uring loop of DESIGN §3 (completions, input, send, cron).
//! - `exec.rs`: turning a parsed request into a command call (checks, stats, propagation).
//! - `cron.rs`: the `hz` timer work; `info.rs`: INFO; `stats.rs`: counters.

pub mod blocking;
pub mod busy;
pub mod client_eviction;
pub mod cron;
pub mod event_loop;
pub mod exec;
pub mod info;
pub mod listener;
pub mod multi;
pub mod notify;
pub mod persistence;
pub mod pubsub;
pub mod slowlog;
pub mod stats;
#[cfg(test)]
pub mod tests;

use crate::cmd::CommandTable;
use crate::config::{Config, P};
use crate::db::{Db, KeyHasher, Rng};
use crate::io::ring::Ring;
use crate::net::bufring::BufRing;
use crate::net::client::{Client, ClientId};
use crate::persist::propagate::Propagator;
use std::collections::{BTreeMap, VecDeque};

pub const VERSION: &str = "7.0.15";
pub const FORKV_VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// CLIENT PAUSE state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PauseKind {
    None,
    Write,
    All,
}

/// A shutdown that has been asked for (SHUTDOWN, SIGTERM/SIGINT).
#[derive(Clone, Copy, Debug, Default)]
pub struct ShutdownRequest {
    pub requested: bool,
    /// The final save and child cleanup already ran (SHUTDOWN did them before replying).
    pub prepared: bool,
}

pub struct Server {
    // Field order is drop order: the ring goes before the buffers it names.
    pub ring: Ring,
    pub bufring: BufRing,
    pub cfg: Config,
    pub dbs: Vec<Db>,
    pub hasher: KeyHasher,
    /// Client slots; a slot's generation changes each time it is reused.
    pub clients: Vec<Option<Box<Client>>>,
    pub generations: Vec<u32>,
    pub free_slots: Vec<u32>,
    /// Live clients by id (CLIENT LIST order, CLIENT KILL ID).
    pub client_ids: BTreeMap<ClientId, u32>,
    pub next_client_id: ClientId,
    /// Clients with unparsed input, in arrival order.
    pub pending_input: VecDeque<u32>,
    /// Clients whose output may need a send this iteration.
    pub pending_send: Vec<u32>,
    /// Clients being closed, waiting for their last completion.
    pub closing: Vec<u32>,
    /// Bytes of sends queued in the ring since the last submit (see EARLY_SUBMIT_BYTES).
    pub bytes_queued_unsubmitted: usize,
    /// Clients whose receive ran out of provided buffers; re-armed at the end of the iteration.
    pub rearm_later: Vec<u32>,
    pub stats_enobufs: u64,
    pub listeners: Vec<listener::Listener>,
    pub next_listener_id: u32,
    /// The port and bind list the current listeners were opened for.
    pub bound: (i64, Vec<String>),
    pub cmds: CommandTable,
    pub prop: Propagator,
    pub stats: stats::Stats,
    /// Changes since the last save (rdb_changes_since_last_save).
    pub dirty: u64,
    /// Time cached for the command being executed (expiry decisions are consistent within it).
    pub cmd_time_ms: i64,
    pub rng: Rng,
    pub start_ms: i64,
    pub start_instant: std::time::Instant,
    pub run_id: String,
    pub loading: bool,
    pub active_expire_enabled: bool,
    pub pause: PauseKind,
    /// Whether the running command may write (expiry then deletes even while paused).
    pub running_write: bool,
    pub pause_end_ms: i64,
    pub monitors: Vec<ClientId>,
    pub shutdown: ShutdownRequest,
    /// Set by CLIENT KILL / timeouts on clients other than the running one.
    pub to_close: Vec<ClientId>,
    pub signal_buf: Box<[u8; 128]>,
    pub signal_fd: i32,
    pub timer_spec: Box<io_uring::types::Timespec>,
    pub cron: cron::CronState,
    pub slowlog: slowlog::SlowLog,
    pub executable: String,
    pub config_file: String,
    pub pubsub: pubsub::PubSub,
    /// The client whose command is running (it is out of its slot meanwhile).
    pub running_client: Option<ClientId>,
    /// Pub/sub messages for the running client, placed before its reply.
    pub self_out: crate::resp::Out,
    /// Clients that received pub/sub messages not yet stamped (see `settle_deliveries`).
    pub delivered: Vec<ClientId>,
    pub watches: multi::Watches,
    /// Queued commands of an EXEC, or a script's commands, are running (no blocking, one
    /// propagation unit).
    pub in_exec: bool,
    /// Completions that came while a slow script ran and wait for the main loop (see busy.rs).
    pub busy_deferred: Vec<crate::io::ring::Completion>,
    /// Used memory was over maxmemory when the running command was checked (scripts keep it).
    pub oom_at_command_start: bool,
    /// total_error_replies when the running command's errors were last attributed (a script's
    /// commands claim their own errors, so the script does not fail for them).
    pub errors_accounted: u64,
    /// Microseconds the last command call took (a served blocked command is slow-logged after).
    pub last_call_usec: u64,
    /// Lua: the state, the script cache, the running script.
    pub scripting: crate::scripting::ScriptEngine,
    pub blocking: blocking::BlockingState,
    /// A blocked client's command is being re-run to serve it.
    pub serving_blocked: bool,
    /// Connections MIGRATE keeps to its targets.
    pub migrate_sockets: crate::cmd::migrate::MigrateSockets,
    /// Whether the last serving re-run of a blocked command replied an error.
    pub last_call_failed: bool,
    /// The key whose waiters are being served (a stream reader is served that key only).
    pub ready_key: Option<(usize, Vec<u8>)>,
    pub block_timer_spec: Box<io_uring::types::Timespec>,
    /// The running command touched watched keys itself (a key it names may be unchanged).
    pub touches_signalled: bool,
    /// Where random eviction continues (round robin over databases).
    pub evict_next_db: usize,
    /// RDB saves, the snapshot child, loading.
    pub rdb: persistence::RdbState,
}

impl Server {
    pub fn hz(&self) -> i64 {
        self.cfg.int(P::Hz).clamp(1, 500)
    }

    /// The offset output is stamped with: everything propagated so far.
    pub fn stamp(&self) -> u64 {
        self.prop.offset
    }

    /// How far propagation is durable. With no AOF everything propagated is as durable as the
    /// policy promises (nothing), so output is never held back; the AOF changes this one function.
    pub fn durable_offset(&self) -> u64 {
        self.prop.offset
    }

    pub fn client_by_id(&self, id: ClientId) -> Option<&Client> {
        let slot = *self.client_ids.get(&id)?;
        self.clients.get(slot as usize)?.as_deref()
    }

    pub fn client_by_id_mut(&mut self, id: ClientId) -> Option<&mut Client> {
        let slot = *self.client_ids.get(&id)?;
        self.clients.get_mut(slot as usize)?.as_deref_mut()
    }

    pub fn uptime_secs(&self) -> u64 {
        self.start_instant.elapsed().as_secs()
    }

    pub fn connected_clients(&self) -> usize {
        self.client_ids.len()
    }
}
