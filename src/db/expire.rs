//! Active expiry: Redis's adaptive cycle (activeExpireCycle).
//!
//! Each database's deadline table is sampled with a persistent scan cursor; expired keys are
//! deleted and propagated. A database is revisited while more than `acceptable_stale` percent of
//! the sample was expired. The slow cycle (cron) may use `25 + 2*effort` percent of a cron
//! period; the fast cycle (before sleeping) runs only when the slow one hit its time limit and
//! is capped at `1000 + 250*effort` microseconds. Both bounds are checked every 16 samples.

use crate::config::P;
use crate::server::Server;
use std::time::Instant;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CycleKind {
    Slow,
    Fast,
}

/// State carried between cycles.
#[derive(Default, Debug)]
pub struct ExpireCycleState {
    pub current_db: usize,
    pub timelimit_exit: bool,
    pub last_fast_start_us: i64,
    pub stale_perc: f64,
}

impl Server {
    pub fn active_expire_cycle(&mut self, kind: CycleKind) {
        // While clients are paused the dataset stays still (Redis 7.0).
        if self.clients_paused() {
            return;
        }
        let effort = self.cfg.int(P::ActiveExpireEffort) - 1;
        let keys_per_loop = (20 + 20 / 4 * effort) as usize;
        let fast_duration_us = 1000 + 1000 / 4 * effort;
        let slow_time_perc = 25 + 2 * effort;
        let acceptable_stale = (10 - effort) as f64;
        let now_us = crate::server::now_us();
        let st = &mut self.cron.expire;
        if kind == CycleKind::Fast {
            if !st.timelimit_exit && st.stale_perc < acceptable_stale {
                return;
            }
            if now_us < st.last_fast_start_us + fast_duration_us * 2 {
                return;
            }
            st.last_fast_start_us = now_us;
        }
        let timelimit_us = match kind {
            CycleKind::Fast => fast_duration_us,
            CycleKind::Slow => (slow_time_perc * 1_000_000 / self.hz() / 100).max(1),
        };
        self.cron.expire.timelimit_exit = false;
        let start = Instant::now();
        let ndb = self.dbs.len();
        let dbs_per_call = ndb.min(16);
        let mut total_sampled = 0u64;
        let mut total_expired = 0u64;
        self.cmd_time_ms = crate::server::now_ms();
        let mut iteration = 0u64;
        'dbs: for _ in 0..dbs_per_call {
            let db = self.cron.expire.current_db % ndb;
            self.cron.expire.current_db = self.cron.expire.current_db.wrapping_add(1);
            loop {
                if self.dbs[db].expires.is_empty() {
                    self.dbs[db].avg_ttl = 0;
                    break;
                }
                iteration += 1;
                let mut sampled = 0usize;
                let mut expired_keys: Vec<Vec<u8>> = Vec::new();
                let mut ttl_sum = 0i64;
                let mut ttl_samples = 0i64;
                let now = self.cmd_time_ms;
                let max_buckets = keys_per_loop * 20;
                let mut buckets = 0;
                let d = &mut self.dbs[db];
                let mut cursor = d.expires_cursor;
                while sampled < keys_per_loop && buckets < max_buckets {
                    cursor = d.expires.scan(cursor, |k, when| {
                        sampled += 1;
                        if *when < now {
                            expired_keys.push(k.to_vec());
                        } else {
                            ttl_sum += *when - now;
                            ttl_samples += 1;
                        }
                    });
                    buckets += 1;
                    if cursor == 0 {
                        break;
                    }
                }
                d.expires_cursor = cursor;
                if ttl_samples > 0 {
                    let avg = ttl_sum / ttl_samples;
                    d.avg_ttl = if d.avg_ttl == 0 {
                        avg
                    } else {
                        (d.avg_ttl / 50) * 49 + avg / 50
                    };
                }
                let n_expired = expired_keys.len();
                for k in expired_keys {
                    self.delete_expired(db, &k);
                    self.prop.flush_command(false);
                }
                total_sampled += sampled as u64;
                total_expired += n_expired as u64;
                if iteration.is_multiple_of(16) && start.elapsed().as_micros() as i64 > timelimit_us
                {
                    self.cron.expire.timelimit_exit = true;
                    self.stats.expired_time_cap_reached += 1;
                    break 'dbs;
                }
                let repeat =
                    sampled > 0 && (n_expired as f64) * 100.0 / (sampled as f64) > acceptable_stale;
                if !repeat || cursor == 0 && sampled == 0 {
                    break;
                }
                if start.elapsed().as_micros() as i64 > timelimit_us {
                    self.cron.expire.timelimit_exit = true;
                    self.stats.expired_time_cap_reached += 1;
                    break 'dbs;
                }
            }
        }
        let elapsed_ms = start.elapsed().as_millis() as u64;
        self.stats.expire_cycle_cpu_ms += elapsed_ms;
        let current_perc = if total_sampled > 0 {
            total_expired as f64 / total_sampled as f64
        } else {
            0.0
        };
        self.cron.expire.stale_perc = current_perc * 0.05 + self.cron.expire.stale_perc * 0.95;
        self.stats.expired_stale_perc = self.cron.expire.stale_perc * 100.0;
    }
}
