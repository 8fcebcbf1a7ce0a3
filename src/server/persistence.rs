//! RDB persistence as the server runs it: SAVE, BGSAVE through the snapshot child, save rules
//! in cron, the child's exit seen through the ring, loading at start-up a step per loop
//! iteration, and the INFO persistence fields.

use super::{Server, now_ms};
use crate::config::P;
use crate::db::evict::LFU_INIT_VAL;
use crate::db::{lru_clock, lru_stamp_for_idle};
use crate::io::ring::{Kind, Tag};
use crate::persist::child::{self, ChildExit, ChildMsg, SnapshotChild};
use crate::persist::fs::RealFs;
use crate::persist::rdb::LoadLimits;
use crate::persist::snapshot::{self, LoadStats, Loader, SaveOptions};
use io_uring::{opcode, types};
use std::io::BufReader;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

/// Retry a failed background save only after this many seconds (CONFIG_BGSAVE_RETRY_DELAY).
const BGSAVE_RETRY_DELAY: i64 = 5;

/// The running snapshot child, as the parent tracks it.
pub struct ActiveChild {
    pub child: SnapshotChild,
    pub generation: u32,
    pub start_ms: i64,
    /// Killed by us (FLUSHALL, SHUTDOWN): its death is not a failed save.
    pub killed_by_us: bool,
    pub keys_total: u64,
    pub keys_done: u64,
    pub cow: u64,
    pub cow_peak: u64,
    pub cow_updated_ms: i64,
    pub done_cow: Option<u64>,
}

pub struct LoadingState {
    pub loader: Loader<BufReader<std::fs::File>>,
    pub start_secs: i64,
    pub start_instant: std::time::Instant,
    /// When progress was last logged.
    pub logged: std::time::Instant,
}

/// How often a long load logs its progress.
const LOAD_LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

pub struct RdbState {
    pub child: Option<ActiveChild>,
    pub generation: u32,
    pub bgsave_scheduled: bool,
    /// Unix time of the last successful save (LASTSAVE).
    pub lastsave: i64,
    pub lastbgsave_try: i64,
    pub last_bgsave_ok: bool,
    pub save_time_last: i64,
    pub saves: u64,
    pub last_cow: u64,
    pub fork_usec: u64,
    pub total_forks: u64,
    pub dirty_before_bgsave: u64,
    pub last_load: LoadStats,
    pub loading: Option<LoadingState>,
}

impl Default for RdbState {
    fn default() -> Self {
        RdbState {
            child: None,
            generation: 0,
            bgsave_scheduled: false,
            lastsave: now_ms() / 1000,
            lastbgsave_try: 0,
            last_bgsave_ok: true,
            save_time_last: -1,
            saves: 0,
            last_cow: 0,
            fork_usec: 0,
            total_forks: 0,
            dirty_before_bgsave: 0,
            last_load: LoadStats::default(),
            loading: None,
        }
    }
}

/// The save points of the `save` config: (seconds, changes).
fn save_params(srv: &Server) -> Vec<(i64, u64)> {
    srv.cfg
        .list(P::Save)
        .chunks(2)
        .filter_map(|p| Some((p.first()?.parse().ok()?, p.get(1)?.parse().ok()?)))
        .collect()
}

impl Server {
    pub fn rdb_dir(&self) -> PathBuf {
        PathBuf::from(self.cfg.str(P::Dir))
    }

    pub fn rdb_path(&self) -> PathBuf {
        self.rdb_dir().join(self.cfg.str(P::Dbfilename))
    }

    pub fn load_limits(&self) -> LoadLimits {
        use crate::types::hash::HashLimits;
        use crate::types::zset::ZsetLimits;
        LoadLimits {
            hasher: self.hasher.clone(),
            list_fill: self.cfg.int(P::ListMaxListpackSize),
            list_compress_depth: self.cfg.int(P::ListCompressDepth).max(0) as usize,
            hash: HashLimits {
                max_entries: self.cfg.int(P::HashMaxListpackEntries) as usize,
                max_value: self.cfg.int(P::HashMaxListpackValue) as usize,
            },
            zset: ZsetLimits {
                max_entries: self.cfg.int(P::ZsetMaxListpackEntries) as usize,
                max_value: self.cfg.int(P::ZsetMaxListpackValue) as usize,
            },
            set_max_intset: self.cfg.int(P::SetMaxIntsetEntries) as usize,
        }
    }

    pub fn save_options(&self) -> SaveOptions {
        let policy = self.maxmemory_policy();
        use crate::db::evict::Policy;
        SaveOptions {
            checksum: self.cfg.bool(P::Rdbchecksum),
            compress: self.cfg.bool(P::Rdbcompression),
            incremental_fsync: self.cfg.bool(P::RdbSaveIncrementalFsync),
            save_lru: matches!(policy, Policy::AllkeysLru | Policy::VolatileLru),
            save_lfu: policy.is_lfu(),
            lfu_decay_time: self.cfg.int(P::LfuDecayTime),
            now_ms: now_ms(),
            used_mem: crate::alloc::used_memory() as u64,
            key_save_delay: self.cfg.int(P::RdbKeySaveDelay),
            function_libraries: self
                .scripting
                .functions
                .libs
                .values()
                .map(|l| l.code.clone())
                .collect(),
        }
    }

    /// Whether a BGSAVE failure blocks writes (stop-writes-on-bgsave-error with save points).
    pub fn writes_denied_by_disk_error(&self) -> bool {
        // The flag first: this runs for every command.
        !self.rdb.last_bgsave_ok
            && self.cfg.bool(P::StopWritesOnBgsaveError)
            && !self.cfg.list(P::Save).is_empty()
    }

    /// SAVE: write the snapshot in the foreground.
    pub fn save_foreground(&mut self) -> Result<(), String> {
        let o = self.save_options();
        let dir = self.rdb_dir();
        let name = self.cfg.str(P::Dbfilename).to_string();
        self.rdb.saves += 1;
        match snapshot::save_file(&RealFs, &dir, &name, &self.dbs, &o, &mut |_| {}) {
            Ok(_) => {
                log::info!("DB saved on disk");
                self.dirty = 0;
                self.rdb.lastsave = now_ms() / 1000;
                self.rdb.last_bgsave_ok = true;
                Ok(())
            }
            Err(e) => {
                log::warn!("Failed saving the DB: {e}");
                Err(e.to_string())
            }
        }
    }

    /// BGSAVE: clone the snapshot child. Err when a child already runs or the clone failed.
    pub fn bgsave_start(&mut self) -> Result<(), String> {
        if self.rdb.child.is_some() {
            return Err("child already running".into());
        }
        self.rdb.saves += 1;
        self.rdb.dirty_before_bgsave = self.dirty;
        self.rdb.lastbgsave_try = now_ms() / 1000;
        let o = self.save_options();
        let dir = self.rdb_dir();
        let name = self.cfg.str(P::Dbfilename).to_string();
        let keys_total: u64 = self.dbs.iter().map(|d| d.dict.len() as u64).sum();
        let dbs = &self.dbs;
        let t0 = std::time::Instant::now();
        let spawned = child::spawn(|ctx| {
            let mut last_report = std::time::Instant::now();
            let r = snapshot::save_file(&RealFs, &dir, &name, dbs, &o, &mut |keys| {
                if last_report.elapsed() >= std::time::Duration::from_secs(1) {
                    ctx.progress(keys);
                    last_report = std::time::Instant::now();
                }
            });
            match r {
                Ok(keys) => {
                    ctx.log(&format!("DB saved on disk ({keys} keys)"));
                    ctx.done(keys);
                    true
                }
                Err(e) => {
                    ctx.log(&format!("Write error saving DB on disk: {e}"));
                    false
                }
            }
        });
        let elapsed = t0.elapsed().as_micros() as u64;
        let child = match spawned {
            Ok(c) => c,
            Err(e) => {
                self.rdb.last_bgsave_ok = false;
                log::warn!("Can't save in background: fork: {e}");
                return Err(e.to_string());
            }
        };
        self.rdb.fork_usec = elapsed;
        self.rdb.total_forks += 1;
        log::info!("Background saving started by pid {}", child.pid);
        // Tags carry 24 bits of generation.
        self.rdb.generation = self.rdb.generation.wrapping_add(1) & 0xff_ffff;
        let generation = self.rdb.generation;
        let e =
            opcode::PollAdd::new(types::Fd(child.pidfd.as_raw_fd()), libc::POLLIN as u32).build();
        self.ring.push(e, Tag::new(Kind::ChildExit, 0, generation));
        self.rdb.child = Some(ActiveChild {
            child,
            generation,
            start_ms: now_ms(),
            killed_by_us: false,
            keys_total,
            keys_done: 0,
            cow: 0,
            cow_peak: 0,
            cow_updated_ms: 0,
            done_cow: None,
        });
        Ok(())
    }

    /// Take in what the child reported (cron and at its exit).
    pub fn read_child_messages(&mut self) {
        let Some(a) = self.rdb.child.as_mut() else {
            return;
        };
        for m in a.child.read_messages() {
            match m {
                ChildMsg::Progress { keys, cow } => {
                    a.keys_done = keys;
                    a.cow = cow;
                    a.cow_peak = a.cow_peak.max(cow);
                    a.cow_updated_ms = now_ms();
                }
                ChildMsg::Done { keys, cow } => {
                    a.keys_done = keys;
                    a.done_cow = Some(cow);
                    log::info!(
                        "Fork CoW for RDB: current {} MB, peak {} MB",
                        cow / (1024 * 1024),
                        a.cow_peak.max(cow) / (1024 * 1024)
                    );
                }
                ChildMsg::Log(s) => log::info!("(child {}) {s}", a.child.pid),
            }
        }
    }

    /// The ring says the child's pidfd is readable: reap it and account the save.
    pub fn on_child_exit(&mut self, generation: u32) {
        if self.rdb.child.as_ref().map(|a| a.generation) != Some(generation) {
            return;
        }
        self.read_child_messages();
        let Some(exit) = self.rdb.child.as_ref().and_then(|a| a.child.try_reap()) else {
            // Not exited after all: wait again.
            if let Some(a) = self.rdb.child.as_ref() {
                let e =
                    opcode::PollAdd::new(types::Fd(a.child.pidfd.as_raw_fd()), libc::POLLIN as u32)
                        .build();
                self.ring.push(e, Tag::new(Kind::ChildExit, 0, generation));
            }
            return;
        };
        let Some(a) = self.rdb.child.take() else {
            return;
        };
        self.background_save_done(&a, exit);
    }

    fn background_save_done(&mut self, a: &ActiveChild, exit: ChildExit) {
        let now = now_ms();
        match exit {
            ChildExit::Code(0) => {
                log::info!("Background saving terminated with success");
                self.dirty = self.dirty.saturating_sub(self.rdb.dirty_before_bgsave);
                self.rdb.lastsave = now / 1000;
                self.rdb.last_bgsave_ok = true;
                self.rdb.last_cow = a.done_cow.unwrap_or(a.cow);
            }
            ChildExit::Code(_) => {
                log::warn!("Background saving error");
                self.rdb.last_bgsave_ok = false;
            }
            ChildExit::Signal(sig) => {
                log::warn!("Background saving terminated by signal {sig}");
                let _ = std::fs::remove_file(
                    self.rdb_dir().join(snapshot::temp_name(a.child.pid as u32)),
                );
                if !(a.killed_by_us || sig == libc::SIGUSR1) {
                    self.rdb.last_bgsave_ok = false;
                }
            }
        }
        self.rdb.save_time_last = (now - a.start_ms) / 1000;
    }

    /// Kill the running child (FLUSHALL, SHUTDOWN); its end is not a failed save.
    pub fn kill_child(&mut self) {
        if let Some(a) = self.rdb.child.as_mut() {
            a.killed_by_us = true;
            a.child.kill(libc::SIGUSR1);
        }
    }

    /// The persistence part of shutting down (prepareForShutdown): kill a running child and
    /// drop its temp file, then save if there are save points (or SAVE was asked) unless
    /// NOSAVE or still loading. Err when the save failed and FORCE was not given.
    pub fn prepare_shutdown(
        &mut self,
        save: bool,
        nosave: bool,
        force: bool,
    ) -> Result<(), String> {
        if let Some(a) = self.rdb.child.take() {
            log::warn!("There is a child saving an .rdb. Killing it!");
            a.child.kill(libc::SIGUSR1);
            let _ =
                std::fs::remove_file(self.rdb_dir().join(snapshot::temp_name(a.child.pid as u32)));
            // Reap it so no zombie outlives us if the exit is refused.
            a.child.wait();
        }
        if !self.loading && !nosave && (save || !self.cfg.list(P::Save).is_empty()) {
            log::warn!("Saving the final RDB snapshot before exiting.");
            if self.save_foreground().is_err() {
                if force {
                    log::warn!("Error trying to save the DB. Exit anyway.");
                } else {
                    log::warn!("Error trying to save the DB, can't exit.");
                    return Err("the final save failed".into());
                }
            }
        }
        Ok(())
    }

    /// Save rules and scheduled saves (serverCron's part).
    pub fn persistence_cron(&mut self) {
        self.read_child_messages();
        if self.rdb.child.is_some() || self.loading {
            return;
        }
        let now = now_ms() / 1000;
        let retry_ok =
            now - self.rdb.lastbgsave_try > BGSAVE_RETRY_DELAY || self.rdb.last_bgsave_ok;
        if self.rdb.bgsave_scheduled && retry_ok {
            self.rdb.bgsave_scheduled = false;
            let _ = self.bgsave_start();
            return;
        }
        for (secs, changes) in save_params(self) {
            if self.dirty >= changes && now - self.rdb.lastsave > secs && retry_ok {
                log::info!("{changes} changes in {secs} seconds. Saving...");
                let _ = self.bgsave_start();
                return;
            }
        }
    }

    /// Begin loading dir/dbfilename if it exists (start-up).
    pub fn start_loading(&mut self) -> Result<(), String> {
        let path = self.rdb_path();
        let Some(mut loader) = Loader::open(&path, self.load_limits())? else {
            return Ok(());
        };
        loader.set_verify_checksum(self.cfg.bool(P::Rdbchecksum));
        loader
            .start()
            .map_err(|e| format!("Fatal error loading the DB: {e}. Exiting."))?;
        self.loading = true;
        self.rdb.loading = Some(LoadingState {
            loader,
            start_secs: now_ms() / 1000,
            start_instant: std::time::Instant::now(),
            logged: std::time::Instant::now(),
        });
        Ok(())
    }

    /// The access stamp a loaded key gets (objectSetLRUOrLFU).
    fn loaded_stamp(&self, now: i64) -> impl Fn(Option<u64>, Option<u8>) -> u32 + use<> {
        let lfu = self.maxmemory_policy().is_lfu();
        let base = self.new_access_stamp();
        let clock = lru_clock(now);
        move |idle, freq| {
            if lfu {
                match freq {
                    Some(f) => (base & !0xFF) | f as u32,
                    None => (base & !0xFF) | LFU_INIT_VAL,
                }
            } else {
                idle.map_or(base, |i| lru_stamp_for_idle(clock, i))
            }
        }
    }

    /// Load one slice of the file. Ok(true) when the load is over.
    pub fn loading_step(&mut self) -> Result<bool, String> {
        let Some(mut st) = self.rdb.loading.take() else {
            return Ok(true);
        };
        let now = now_ms();
        let stamp = self.loaded_stamp(now);
        let budget = self.cfg.int(P::LoadingProcessEventsIntervalBytes).max(1024) as u64;
        let delay = self.cfg.int(P::KeyLoadDelay);
        let done = st
            .loader
            .step(&mut self.dbs, now, budget, &stamp, delay)
            .map_err(|e| format!("Fatal error loading the DB: {e}. Exiting."))?;
        if !done {
            if st.logged.elapsed() >= LOAD_LOG_EVERY {
                st.logged = std::time::Instant::now();
                let total = st.loader.total_bytes.max(1);
                log::info!(
                    "Loading RDB: {:.1}% ({} of {} bytes, {} keys)",
                    st.loader.loaded_bytes() as f64 * 100.0 / total as f64,
                    st.loader.loaded_bytes(),
                    total,
                    st.loader.stats.loaded
                );
            }
            self.rdb.loading = Some(st);
            return Ok(false);
        }
        self.loading = false;
        self.scripting
            .functions
            .restore(&st.loader.function_libraries, true, false)
            .map_err(|e| {
                format!("Fatal error loading the DB: Failed loading library: {e}. Exiting.")
            })?;
        let s = st.loader.stats.clone();
        if s.empty_skipped > 0 {
            log::warn!(
                "Done loading RDB, keys loaded: {}, keys expired: {}, empty keys skipped: {}.",
                s.loaded,
                s.expired,
                s.empty_skipped
            );
        } else {
            log::info!(
                "Done loading RDB, keys loaded: {}, keys expired: {}.",
                s.loaded,
                s.expired
            );
        }
        log::info!(
            "DB loaded from disk: {:.3} seconds",
            st.start_instant.elapsed().as_secs_f64()
        );
        self.rdb.last_load = s;
        Ok(true)
    }

    /// Load the whole file now (DEBUG RELOAD). `merge` replaces keys that exist.
    pub fn load_now(&mut self, merge: bool) -> Result<(), String> {
        let path = self.rdb_path();
        let mut loader = Loader::open(&path, self.load_limits())?
            .ok_or_else(|| format!("{} does not exist", path.display()))?;
        loader.allow_dup = merge;
        loader.set_verify_checksum(self.cfg.bool(P::Rdbchecksum));
        loader.start().map_err(|e| e.to_string())?;
        let now = now_ms();
        let stamp = self.loaded_stamp(now);
        while !loader
            .step(&mut self.dbs, now, u64::MAX, &stamp, 0)
            .map_err(|e| e.to_string())?
        {}
        // DEBUG RELOAD replaces the libraries with the file's; MERGE keeps the others.
        self.scripting
            .functions
            .restore(&loader.function_libraries, true, !merge)
            .map_err(|e| format!("Failed loading library: {e}"))?;
        self.rdb.last_load = loader.stats.clone();
        Ok(())
    }

    /// INFO persistence.
    pub fn info_persistence(&self, s: &mut String) {
        use std::fmt::Write;
        let now = now_ms();
        let (cow_peak, cow, cow_age, perc, processed, total, in_progress, cur_time) =
            match &self.rdb.child {
                Some(a) => (
                    a.cow_peak,
                    a.cow,
                    if a.cow_updated_ms > 0 {
                        (now - a.cow_updated_ms) / 1000
                    } else {
                        0
                    },
                    if a.keys_total > 0 {
                        a.keys_done as f64 * 100.0 / a.keys_total as f64
                    } else {
                        0.0
                    },
                    a.keys_done,
                    a.keys_total,
                    1,
                    (now - a.start_ms) / 1000,
                ),
                None => (0, 0, 0, 0.0, 0, 0, 0, -1),
            };
        let _ = write!(
            s,
            "# Persistence\r\nloading:{}\r\nasync_loading:0\r\ncurrent_cow_peak:{}\r\ncurrent_cow_size:{}\r\ncurrent_cow_size_age:{}\r\ncurrent_fork_perc:{:.2}\r\ncurrent_save_keys_processed:{}\r\ncurrent_save_keys_total:{}\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\nrdb_last_bgsave_time_sec:{}\r\nrdb_current_bgsave_time_sec:{}\r\nrdb_saves:{}\r\nrdb_last_cow_size:{}\r\nrdb_last_load_keys_expired:{}\r\nrdb_last_load_keys_loaded:{}\r\naof_enabled:0\r\naof_rewrite_in_progress:0\r\naof_rewrite_scheduled:0\r\naof_last_rewrite_time_sec:-1\r\naof_current_rewrite_time_sec:-1\r\naof_last_bgrewrite_status:ok\r\naof_rewrites:0\r\naof_rewrites_consecutive_failures:0\r\naof_last_write_status:ok\r\naof_last_cow_size:0\r\nmodule_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n",
            self.loading as i32,
            cow_peak,
            cow,
            cow_age,
            perc,
            processed,
            total,
            self.dirty,
            in_progress,
            self.rdb.lastsave,
            if self.rdb.last_bgsave_ok { "ok" } else { "err" },
            self.rdb.save_time_last,
            cur_time,
            self.rdb.saves,
            self.rdb.last_cow,
            self.rdb.last_load.expired,
            self.rdb.last_load.loaded,
        );
        if let Some(st) = &self.rdb.loading {
            let loaded = st.loader.loaded_bytes();
            let total = st.loader.total_bytes;
            let (perc, remaining) = if total > 0 {
                (
                    loaded as f64 * 100.0 / total as f64,
                    total.saturating_sub(loaded),
                )
            } else {
                (0.0, 1)
            };
            let elapsed = (now / 1000 - st.start_secs).max(0) as u64;
            let eta = if elapsed == 0 {
                1
            } else {
                elapsed * remaining / (loaded + 1)
            };
            let _ = write!(
                s,
                "loading_start_time:{}\r\nloading_total_bytes:{}\r\nloading_rdb_used_mem:{}\r\nloading_loaded_bytes:{}\r\nloading_loaded_perc:{:.2}\r\nloading_eta_seconds:{}\r\n",
                st.start_secs, total, st.loader.used_mem_hint, loaded, perc, eta
            );
        }
    }
}
