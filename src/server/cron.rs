//! Work done at `hz` (DESIGN §3 step 6): active expiry, client timeouts, incremental rehash of
//! the keyspace tables, table shrinking, instantaneous-metrics samples.

use super::Server;
use crate::config::P;
use crate::db::expire::{CycleKind, ExpireCycleState};
use crate::net::client::Closing;
use std::time::Duration;

/// Rehash time per cron tick and database (Redis's incrementallyRehash uses 1 ms).
const REHASH_BUDGET: Duration = Duration::from_millis(1);
/// Bytes of retired bucket arrays given back per table per cron tick.
const RELEASE_PER_TICK: usize = 4 * 1024 * 1024;

#[derive(Default, Debug)]
pub struct CronState {
    pub expire: ExpireCycleState,
    pub ticks: u64,
    pub resize_db: usize,
}

/// A client quiet this long gives back the capacity of its empty buffers.
const BUFFER_IDLE_MS: i64 = 2000;

impl Server {
    pub fn cron_tick(&mut self) {
        self.cron.ticks += 1;
        let now = super::now_ms();
        self.stats.sample(now);
        self.clients_cron(now);
        if !self.migrate_sockets.is_empty() {
            self.migrate_sockets.close_idle(now);
        }
        self.persistence_cron();
        if self.loading {
            return;
        }
        self.databases_cron();
        // Memory above a lowered maxmemory is evicted even if no command arrives.
        if self.cfg.int(P::Maxmemory) > 0 {
            self.cmd_time_ms = now;
            self.perform_evictions();
        }
    }

    fn clients_cron(&mut self, now: i64) {
        // Buffers a burst left behind go back once the client has been quiet for a while (as
        // Redis's clientsCronResizeQueryBuffer/OutputBuffer).
        for c in self.clients.iter_mut().flatten() {
            if now - c.last_interaction_ms >= BUFFER_IDLE_MS {
                c.release_idle_buffers();
            }
        }
        let timeout = self.cfg.int(P::Timeout);
        if timeout <= 0 {
            return;
        }
        let mut idle = Vec::new();
        for c in self.clients.iter().flatten() {
            // Blocked clients wait under their own timeout; subscribers only listen (Redis
            // exempts both from the idle timeout).
            if c.closing == Closing::No
                && !c.monitor
                && c.blocked.is_none()
                && !c.in_pubsub()
                && now - c.last_interaction_ms > timeout * 1000
            {
                idle.push(c.slot);
            }
        }
        for slot in idle {
            log::info!("Closing idle client");
            self.close_client_slot(slot);
        }
    }

    fn databases_cron(&mut self) {
        if self.active_expire_enabled {
            self.active_expire_cycle(CycleKind::Slow);
        }
        let ndb = self.dbs.len();
        let n = ndb.min(16);
        for _ in 0..n {
            let db = self.cron.resize_db % ndb;
            self.cron.resize_db = self.cron.resize_db.wrapping_add(1);
            self.dbs[db].dict.shrink_if_sparse();
            self.dbs[db].expires.shrink_if_sparse();
        }
        // Return the pages of tables left behind by finished resizes, a slice per tick.
        for d in &mut self.dbs {
            d.dict.release_retired(RELEASE_PER_TICK);
            d.expires.release_retired(RELEASE_PER_TICK);
        }
        if self.cfg.bool(P::Activerehashing) {
            for db in 0..ndb {
                let d = &mut self.dbs[db];
                if d.dict.is_rehashing() {
                    d.dict.rehash_for(REHASH_BUDGET);
                    break;
                }
                if d.expires.is_rehashing() {
                    d.expires.rehash_for(REHASH_BUDGET);
                    break;
                }
            }
        }
    }
}
