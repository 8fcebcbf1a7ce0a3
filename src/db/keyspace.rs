//! Keyspace access for commands: lookups that apply lazy expiry (and propagate it as DEL, as
//! Redis 7.0 does), writes that keep the expiry table consistent, and hit/miss statistics.

use super::{Obj, lru_clock};
use crate::config::P;
use crate::server::Server;
use crate::types::Value;

impl Server {
    /// If `key` has a deadline in the past, delete it and propagate the deletion. Returns true
    /// when the key is (now) expired. Nothing expires while loading.
    pub fn expire_if_needed(&mut self, db: usize, key: &[u8]) -> bool {
        let Some(when) = self.dbs[db].get_expire(key) else {
            return false;
        };
        if self.loading || when >= self.cmd_time_ms {
            return false;
        }
        // While clients are paused the dataset stays still: a read sees the key as gone, but
        // it is deleted (and the deletion propagated) only after the pause, as in Redis 7.0.
        if self.clients_paused() && !self.running_write {
            return true;
        }
        self.delete_expired(db, key);
        true
    }

    /// Delete an expired key and record it: stats, propagation (DEL or UNLINK).
    pub fn delete_expired(&mut self, db: usize, key: &[u8]) {
        self.dbs[db].remove(key);
        self.stats.expired_keys += 1;
        self.notify(crate::server::notify::EXPIRED, "expired", key, db);
        self.touch_watched(db, key);
        let cmd: &[u8] = if self.cfg.bool(P::LazyfreeLazyExpire) {
            b"UNLINK"
        } else {
            b"DEL"
        };
        self.prop.also_propagate(db, &[cmd, key]);
    }

    /// Lookup for reading: applies expiry, updates the access clock and hit/miss counters.
    pub fn lookup_read(&mut self, db: usize, key: &[u8]) -> Option<&Obj> {
        let expired = self.expire_if_needed(db, key);
        let miss_events =
            self.cfg.int(P::NotifyKeyspaceEvents) as u32 & crate::server::notify::KEY_MISS != 0;
        if expired || (miss_events && !self.dbs[db].dict.contains(key)) {
            self.stats.keyspace_misses += 1;
            if miss_events {
                self.notify(crate::server::notify::KEY_MISS, "keymiss", key, db);
            }
            return None;
        }
        let lfu = self.maxmemory_policy().is_lfu();
        if lfu && let Some(old) = self.dbs[db].dict.get(key).map(|o| o.lru) {
            let stamp = self.touched_stamp(old);
            if let Some(o) = self.dbs[db].dict.get_mut(key) {
                o.lru = stamp;
            }
        }
        let clock = lru_clock(self.cmd_time_ms);
        match self.dbs[db].dict.get_mut(key) {
            Some(o) => {
                self.stats.keyspace_hits += 1;
                if !lfu {
                    o.lru = clock;
                }
                Some(o)
            }
            None => {
                self.stats.keyspace_misses += 1;
                None
            }
        }
    }

    /// Lookup for writing: applies expiry and touches the access clock, no hit/miss counting.
    pub fn lookup_write(&mut self, db: usize, key: &[u8]) -> Option<&mut Obj> {
        if self.expire_if_needed(db, key) {
            return None;
        }
        let stamp = if self.maxmemory_policy().is_lfu() {
            let old = self.dbs[db].dict.get(key)?.lru;
            self.touched_stamp(old)
        } else {
            lru_clock(self.cmd_time_ms)
        };
        let o = self.dbs[db].dict.get_mut(key)?;
        o.lru = stamp;
        Some(o)
    }

    /// Lookup for reading that leaves the access clock alone (TYPE, EXISTS, TTL, OBJECT:
    /// Redis's LOOKUP_NOTOUCH). Still applies expiry and counts hits and misses.
    pub fn lookup_notouch(&mut self, db: usize, key: &[u8]) -> Option<&Obj> {
        if self.expire_if_needed(db, key) {
            self.stats.keyspace_misses += 1;
            return None;
        }
        let found = self.dbs[db].dict.get(key);
        if found.is_some() {
            self.stats.keyspace_hits += 1;
        } else {
            self.stats.keyspace_misses += 1;
        }
        found
    }

    pub fn key_exists(&mut self, db: usize, key: &[u8]) -> bool {
        !self.expire_if_needed(db, key) && self.dbs[db].dict.contains(key)
    }

    /// Store `val` under `key`: overwrite or add. The key's TTL is removed unless `keep_ttl`.
    pub fn set_key(&mut self, db: usize, key: &[u8], val: Value, keep_ttl: bool) {
        let lru = self.new_access_stamp();
        let lfu = self.maxmemory_policy().is_lfu();
        let d = &mut self.dbs[db];
        match d.dict.get_mut(key) {
            Some(o) => {
                o.val = val;
                // Under LFU an overwrite keeps the key's counter, as Redis's dbOverwrite.
                if !lfu {
                    o.lru = lru;
                }
            }
            None => {
                let ready = matches!(val, Value::List(_) | Value::Zset(_) | Value::Stream(_));
                d.dict.insert_new(key, Obj { val, lru });
                if !keep_ttl && !d.expires.is_empty() {
                    d.expires.remove(key);
                }
                self.key_added(db, key, ready);
                return;
            }
        }
        if !keep_ttl && !d.expires.is_empty() {
            d.expires.remove(key);
        }
    }

    /// What dbAdd does after adding: wake waiters of a list or sorted set, the "new" event.
    fn key_added(&mut self, db: usize, key: &[u8], ready: bool) {
        if ready {
            self.signal_key_ready(db, key);
        }
        self.notify(crate::server::notify::NEW, "new", key, db);
    }

    /// Delete `key` if its collection became empty, with the "del" event (as Redis does after
    /// popping or removing the last element). Returns true if deleted.
    pub fn delete_if_empty(&mut self, db: usize, key: &[u8]) -> bool {
        let empty = self.dbs[db]
            .dict
            .get(key)
            .is_some_and(|o| o.val.element_count() == 0);
        if empty {
            self.dbs[db].remove(key);
            self.notify(crate::server::notify::GENERIC, "del", key, db);
        }
        empty
    }

    /// Store a string as SET does. Overwriting an `embstr` of the same length that stays an
    /// `embstr`, or a `raw` string of the same length, rewrites its bytes in place: no free and
    /// no allocation on the common same-size overwrite (and, later, no new memory while a
    /// snapshot child shares the old).
    pub fn set_string(&mut self, db: usize, key: &[u8], bytes: &[u8], keep_ttl: bool) {
        use crate::types::StrValue;
        let lru = self.new_access_stamp();
        let lfu = self.maxmemory_policy().is_lfu();
        let d = &mut self.dbs[db];
        match d.dict.get_mut(key) {
            Some(o) => {
                // Under LFU an overwrite keeps the key's counter, as Redis's dbOverwrite.
                if !lfu {
                    o.lru = lru;
                }
                match &mut o.val {
                    Value::Str(StrValue::Emb(b))
                        if b.len() == bytes.len()
                            && (bytes.len() > 20 || crate::resp::parse_i64(bytes).is_none()) =>
                    {
                        b.copy_from_slice(bytes)
                    }
                    // A raw string replaced by one of the same length (the common overwrite
                    // of fixed-size values) keeps its buffer: no allocation, no free.
                    Value::Str(StrValue::Raw(b))
                        if b.capacity() == bytes.len()
                            && bytes.len() > crate::types::string::EMBSTR_LIMIT =>
                    {
                        b.clear();
                        crate::alloc::heap::push_bytes(b, bytes);
                    }
                    v => *v = Value::Str(StrValue::from_bytes(bytes)),
                }
            }
            None => {
                d.dict.insert_new(
                    key,
                    Obj {
                        val: Value::Str(StrValue::from_bytes(bytes)),
                        lru,
                    },
                );
                if !keep_ttl && !d.expires.is_empty() {
                    d.expires.remove(key);
                }
                self.key_added(db, key, false);
                return;
            }
        }
        if !keep_ttl && !d.expires.is_empty() {
            d.expires.remove(key);
        }
    }

    /// Add a key known to be absent.
    pub fn add_key(&mut self, db: usize, key: &[u8], val: Value) {
        let lru = self.new_access_stamp();
        let ready = matches!(val, Value::List(_) | Value::Zset(_) | Value::Stream(_));
        self.dbs[db].dict.insert_new(key, Obj { val, lru });
        self.key_added(db, key, ready);
    }

    /// Delete a key (after expiry); returns whether it existed.
    pub fn delete_key(&mut self, db: usize, key: &[u8]) -> bool {
        !self.expire_if_needed(db, key) && self.dbs[db].remove(key).is_some()
    }

    pub fn set_expire(&mut self, db: usize, key: &[u8], when_ms: i64) {
        debug_assert!(self.dbs[db].dict.contains(key));
        self.dbs[db].expires.insert(key, when_ms);
    }

    pub fn remove_expire(&mut self, db: usize, key: &[u8]) -> bool {
        self.dbs[db].expires.remove(key).is_some()
    }

    /// Whether an absolute deadline is already past for the running command (Redis's
    /// checkAlreadyExpired: then the key is deleted instead of given a TTL).
    pub fn already_expired(&self, when_ms: i64) -> bool {
        !self.loading && when_ms <= self.cmd_time_ms
    }
}
