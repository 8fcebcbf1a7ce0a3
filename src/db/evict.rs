//! `maxmemory`: eviction as Redis 7.0 does it (evict.c). Before a command runs, while
//! `used_memory` is above the limit, keys are evicted by the configured policy: approximated
//! LRU or LFU (sampling `maxmemory-samples` keys per database into a pool of the 16 best
//! candidates), random, or nearest expiry. Evictions are propagated as DEL (UNLINK with
//! `lazyfree-lazy-eviction`), touch WATCHed keys and publish the `evicted` event. When nothing
//! can be evicted, commands that may grow memory are refused with -OOM.
//!
//! The per-key access data is the object's 24-bit `lru` field: an LRU clock in seconds, or with
//! an LFU policy Redis's layout of 16 bits of minutes and an 8-bit logarithmic counter.

use super::{LRU_CLOCK_MAX, lru_clock, lru_idle_secs};
use crate::config::P;
use crate::server::Server;
use crate::server::notify;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
    AllkeysLru,
    AllkeysLfu,
    AllkeysRandom,
    NoEviction,
}

impl Policy {
    fn from_index(i: usize) -> Policy {
        [
            Policy::VolatileLru,
            Policy::VolatileLfu,
            Policy::VolatileRandom,
            Policy::VolatileTtl,
            Policy::AllkeysLru,
            Policy::AllkeysLfu,
            Policy::AllkeysRandom,
            Policy::NoEviction,
        ][i.min(7)]
    }

    pub fn is_lfu(self) -> bool {
        matches!(self, Policy::VolatileLfu | Policy::AllkeysLfu)
    }

    fn volatile(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }
}

/// Counter given to new keys under LFU (LFU_INIT_VAL).
pub const LFU_INIT_VAL: u32 = 5;
const POOL_SIZE: usize = 16;

fn lfu_minutes(now_ms: i64) -> u32 {
    ((now_ms / 60_000) & 0xFFFF) as u32
}

fn lfu_elapsed(now_min: u32, ldt: u32) -> u32 {
    if now_min >= ldt {
        now_min - ldt
    } else {
        65535 - ldt + now_min
    }
}

/// The decayed counter of an LFU stamp (LFUDecrAndReturn).
pub fn lfu_counter(stamp: u32, now_ms: i64, decay_time: i64) -> u32 {
    let ldt = stamp >> 8;
    let counter = stamp & 255;
    let periods = if decay_time > 0 {
        lfu_elapsed(lfu_minutes(now_ms), ldt) / decay_time as u32
    } else {
        0
    };
    counter.saturating_sub(periods)
}

impl Server {
    pub fn maxmemory_policy(&self) -> Policy {
        match self.cfg.val(P::MaxmemoryPolicy) {
            crate::config::Val::Enum(i) => Policy::from_index(*i),
            _ => Policy::NoEviction,
        }
    }

    /// The access stamp of a new key.
    pub fn new_access_stamp(&self) -> u32 {
        if self.maxmemory_policy().is_lfu() {
            (lfu_minutes(self.cmd_time_ms) << 8) | LFU_INIT_VAL
        } else {
            lru_clock(self.cmd_time_ms)
        }
    }

    /// The access stamp after an access (LRU clock, or LFU decay then logarithmic increment).
    pub fn touched_stamp(&mut self, old: u32) -> u32 {
        if !self.maxmemory_policy().is_lfu() {
            return lru_clock(self.cmd_time_ms);
        }
        let mut counter = lfu_counter(old, self.cmd_time_ms, self.cfg.int(P::LfuDecayTime));
        if counter < 255 {
            let r = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
            let p = 1.0 / (base * self.cfg.int(P::LfuLogFactor) as f64 + 1.0);
            if r < p {
                counter += 1;
            }
        }
        (lfu_minutes(self.cmd_time_ms) << 8) | counter
    }

    /// How good a candidate a key is (higher evicts first), by policy.
    fn eviction_score(&self, policy: Policy, db: usize, key: &[u8]) -> Option<u64> {
        let d = &self.dbs[db];
        match policy {
            Policy::VolatileTtl => {
                let when = d.get_expire(key)?;
                Some(u64::MAX - when.max(0) as u64)
            }
            Policy::AllkeysLfu | Policy::VolatileLfu => {
                let o = d.dict.get(key)?;
                let c = lfu_counter(o.lru, self.cmd_time_ms, self.cfg.int(P::LfuDecayTime));
                Some(255 - c as u64)
            }
            _ => {
                let o = d.dict.get(key)?;
                let clock = lru_clock(self.cmd_time_ms) & LRU_CLOCK_MAX;
                Some(lru_idle_secs(clock, o.lru))
            }
        }
    }

    /// Choose the next key to evict, or None when there is none.
    fn eviction_candidate(&mut self, policy: Policy) -> Option<(usize, Vec<u8>)> {
        let ndb = self.dbs.len();
        if matches!(policy, Policy::AllkeysRandom | Policy::VolatileRandom) {
            for k in 0..ndb {
                let db = (self.evict_next_db + k) % ndb;
                let d = &mut self.dbs[db];
                let key = if policy == Policy::AllkeysRandom {
                    d.dict.random_entry(&mut self.rng).map(|(k, _)| k.to_vec())
                } else {
                    d.expires
                        .random_entry(&mut self.rng)
                        .map(|(k, _)| k.to_vec())
                };
                if let Some(key) = key {
                    self.evict_next_db = db + 1;
                    return Some((db, key));
                }
            }
            return None;
        }
        let samples = self.cfg.int(P::MaxmemorySamples).max(1) as usize;
        let mut pool: Vec<(u64, usize, Vec<u8>)> = Vec::with_capacity(POOL_SIZE + samples);
        for db in 0..ndb {
            let d = &mut self.dbs[db];
            let n = if policy.volatile() {
                d.expires.len()
            } else {
                d.dict.len()
            };
            if n == 0 {
                continue;
            }
            let mut sampled: Vec<Vec<u8>> = Vec::with_capacity(samples);
            for _ in 0..samples.min(n) {
                let k = if policy.volatile() {
                    d.expires
                        .random_entry(&mut self.rng)
                        .map(|(k, _)| k.to_vec())
                } else {
                    d.dict.random_entry(&mut self.rng).map(|(k, _)| k.to_vec())
                };
                if let Some(k) = k
                    && !sampled.contains(&k)
                {
                    sampled.push(k);
                }
            }
            for k in sampled {
                if let Some(score) = self.eviction_score(policy, db, &k) {
                    pool.push((score, db, k));
                }
            }
        }
        pool.sort_by_key(|p| std::cmp::Reverse(p.0));
        pool.truncate(POOL_SIZE);
        pool.into_iter()
            .map(|(_, db, k)| (db, k))
            .find(|(db, k)| self.dbs[*db].dict.contains(k))
    }

    /// Memory counted against `maxmemory`.
    fn memory_for_maxmemory(&self) -> usize {
        crate::alloc::used_memory()
    }

    /// Evict until under `maxmemory`. Returns false when memory is still above it (nothing
    /// left to evict, or the policy is noeviction).
    pub fn perform_evictions(&mut self) -> bool {
        let max = self.cfg.int(P::Maxmemory) as usize;
        // While clients are paused nothing is evicted (and nothing is refused for memory).
        if max == 0 || self.loading || self.clients_paused() || self.memory_for_maxmemory() <= max {
            return true;
        }
        let policy = self.maxmemory_policy();
        if policy == Policy::NoEviction {
            return false;
        }
        let lazy = self.cfg.bool(P::LazyfreeLazyEviction);
        while self.memory_for_maxmemory() > max {
            let Some((db, key)) = self.eviction_candidate(policy) else {
                break;
            };
            self.dbs[db].remove(&key);
            self.stats.evicted_keys += 1;
            let cmd: &[u8] = if lazy { b"UNLINK" } else { b"DEL" };
            self.prop.also_propagate(db, &[cmd, &key]);
            self.touch_watched(db, &key);
            self.notify(notify::EVICTED, "evicted", &key, db);
        }
        // The deletions leave as their own unit, before the command that triggered them.
        self.prop.flush_command(false);
        self.memory_for_maxmemory() <= max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lfu_counter_decays_by_minutes() {
        let now = 10 * 60_000;
        let stamp = (lfu_minutes(now) << 8) | 20;
        assert_eq!(lfu_counter(stamp, now, 1), 20);
        assert_eq!(lfu_counter(stamp, now + 3 * 60_000, 1), 17);
        assert_eq!(lfu_counter(stamp, now + 3 * 60_000, 0), 20);
        assert_eq!(lfu_counter(stamp, now + 300 * 60_000, 1), 0);
    }
}
