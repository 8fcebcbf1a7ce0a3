//! Transactions: the queue MULTI starts, and WATCH's optimistic locks. Watch state lives in the
//! server (not the client) so that a key touched by the watching client's own command, while
//! that client is out of its slot, still marks it.

use super::Server;
use crate::cmd::CommandDef;
use crate::net::client::ClientId;
use std::collections::HashMap;

pub struct MultiState {
    pub cmds: Vec<(&'static CommandDef, Vec<Vec<u8>>)>,
    /// A command failed to queue: EXEC answers EXECABORT.
    pub aborted: bool,
}

#[derive(Default)]
pub struct ClientWatch {
    /// (db, key, the key was already expired when watched)
    keys: Vec<(usize, Vec<u8>, bool)>,
    /// A watched key changed: the next EXEC fails (kept until EXEC, DISCARD or UNWATCH).
    dirty: bool,
}

/// A watched key and its watchers.
type WatchEntry = ((usize, Vec<u8>), Vec<ClientId>);

#[derive(Default)]
pub struct Watches {
    by_key: HashMap<(usize, Vec<u8>), Vec<ClientId>>,
    by_client: HashMap<ClientId, ClientWatch>,
}

impl Watches {
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

impl Server {
    /// Whether `key` has a deadline in the past (without deleting it): keyIsExpired.
    pub fn key_is_expired(&self, db: usize, key: &[u8]) -> bool {
        !self.loading
            && self.dbs[db]
                .get_expire(key)
                .is_some_and(|w| w < super::now_ms())
    }

    pub fn watch_key(&mut self, id: ClientId, db: usize, key: &[u8]) {
        let expired = self.key_is_expired(db, key);
        let w = self.watches.by_client.entry(id).or_default();
        if w.keys.iter().any(|(d, k, _)| *d == db && k == key) {
            return;
        }
        w.keys.push((db, key.to_vec(), expired));
        self.watches
            .by_key
            .entry((db, key.to_vec()))
            .or_default()
            .push(id);
    }

    fn drop_watched_keys(&mut self, id: ClientId) {
        let Some(w) = self.watches.by_client.get_mut(&id) else {
            return;
        };
        for (db, key, _) in std::mem::take(&mut w.keys) {
            let k = (db, key);
            if let Some(v) = self.watches.by_key.get_mut(&k) {
                v.retain(|x| *x != id);
                if v.is_empty() {
                    self.watches.by_key.remove(&k);
                }
            }
        }
    }

    /// UNWATCH, DISCARD, EXEC, RESET and disconnect: forget keys and the dirty flag.
    pub fn unwatch_all(&mut self, id: ClientId) {
        self.drop_watched_keys(id);
        self.watches.by_client.remove(&id);
    }

    /// EXEC: whether the transaction must fail because a watched key changed or expired.
    pub fn watch_failed(&mut self, id: ClientId) -> bool {
        let Some(w) = self.watches.by_client.get(&id) else {
            return false;
        };
        if w.dirty {
            return true;
        }
        let keys: Vec<(usize, Vec<u8>, bool)> = w.keys.clone();
        keys.iter()
            .any(|(db, k, was_expired)| !was_expired && self.key_is_expired(*db, k))
    }

    /// A key changed (signalModifiedKey): transactions watching it fail.
    pub fn touch_watched(&mut self, db: usize, key: &[u8]) {
        if self.watches.by_key.is_empty() {
            return;
        }
        let Some(ids) = self.watches.by_key.get(&(db, key.to_vec())).cloned() else {
            return;
        };
        let exists = self.dbs[db].dict.contains(key);
        for id in ids {
            let Some(w) = self.watches.by_client.get_mut(&id) else {
                continue;
            };
            let entry = w.keys.iter_mut().find(|(d, k, _)| *d == db && k == key);
            if let Some(e) = entry
                && e.2
            {
                if !exists {
                    // It was expired when watched and is now deleted: no logical change.
                    e.2 = false;
                    continue;
                }
                // Redis 7.0 stops looking at the remaining watchers here.
                break;
            }
            w.dirty = true;
            self.drop_watched_keys(id);
        }
    }

    /// FLUSHDB / FLUSHALL / SWAPDB: every watched key of `emptied` that exists (or exists in
    /// `replaced_with`) is touched. Called before the databases change.
    pub fn touch_all_watched_in_db(&mut self, emptied: usize, replaced_with: Option<usize>) {
        if self.watches.by_key.is_empty() {
            return;
        }
        let entries: Vec<WatchEntry> = self
            .watches
            .by_key
            .iter()
            .filter(|((d, _), _)| *d == emptied)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for ((db, key), ids) in entries {
            let in_emptied = self.dbs[db].dict.contains(&key);
            let in_other = replaced_with.is_some_and(|r| self.dbs[r].dict.contains(&key));
            if !in_emptied && !in_other {
                continue;
            }
            let other_expired = replaced_with.is_some_and(|r| self.key_is_expired(r, &key));
            for id in ids {
                let Some(w) = self.watches.by_client.get_mut(&id) else {
                    continue;
                };
                let Some(e) = w.keys.iter_mut().find(|(d, k, _)| *d == db && *k == key) else {
                    continue;
                };
                if e.2 {
                    if !in_other {
                        e.2 = false;
                        continue;
                    } else if other_expired {
                        continue;
                    }
                } else if !in_emptied && other_expired {
                    e.2 = true;
                    continue;
                }
                w.dirty = true;
            }
        }
    }
}
