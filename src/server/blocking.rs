//! Blocking commands (BLPOP, BLMOVE, BZPOPMIN, ...): clients waiting for keys.
//!
//! A command that finds nothing to pop blocks its client: the client is queued, first come
//! first served, on each key it waits for. A write that may feed a waiter marks the key ready;
//! after the command that did it (and after a whole EXEC), `handle_ready_keys` re-runs the
//! waiting command for each queued client in order, as Redis 7.0 serves them: the command pops
//! for the client and propagates its non-blocking form after the push that woke it. A client
//! the re-run cannot serve stays blocked. Deadlines are checked before every sleep and a ring
//! timer wakes the loop for the nearest one, so timeouts have millisecond resolution.

use super::Server;
use crate::cmd::CommandDef;
use crate::net::client::{Client, ClientId};
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

pub struct Blocked {
    pub db: usize,
    pub keys: Vec<Vec<u8>>,
    /// Absolute deadline in ms (None: forever).
    pub deadline_ms: Option<i64>,
    pub def: &'static CommandDef,
    pub argv: Vec<Vec<u8>>,
    /// Held by CLIENT PAUSE (Redis's BLOCKED_POSTPONE) rather than waiting for keys.
    pub postponed: bool,
}

impl Blocked {
    /// The type of key the blocked command pops from.
    pub fn key_type(&self) -> &'static str {
        if self.def.name.starts_with("bz") {
            "zset"
        } else if self.def.name.starts_with("xread") {
            "stream"
        } else {
            "list"
        }
    }

    /// An XREADGROUP waits on a group, which goes away with its key.
    pub fn reads_group(&self) -> bool {
        self.def.name == "xreadgroup"
    }
}

#[derive(Default)]
pub struct BlockingState {
    /// Clients waiting on each key, in arrival order.
    pub by_key: HashMap<(usize, Vec<u8>), VecDeque<ClientId>>,
    ready: VecDeque<(usize, Vec<u8>)>,
    ready_set: HashSet<(usize, Vec<u8>)>,
    timeouts: BTreeSet<(i64, ClientId)>,
    /// Clients whose command waits for the end of a CLIENT PAUSE, in arrival order.
    postponed: VecDeque<ClientId>,
    /// Deadline the ring's block timer is armed for.
    pub timer_armed_for: Option<i64>,
    pub blocked_clients: usize,
    /// Blocked XREADGROUP clients (their keys are checked after each command).
    group_readers: usize,
}

impl BlockingState {
    /// Blocked clients with a deadline (INFO clients_in_timeout_table).
    pub fn timeouts_len(&self) -> usize {
        self.timeouts.len()
    }
}

/// How a blocked client leaves without being served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnblockReply {
    Timeout,
    Error,
}

impl Server {
    /// Block `c` on `keys` (the running command's arguments are kept to re-run it). Inside
    /// EXEC a blocking command must not block: the caller replies as on timeout instead; in a
    /// re-run the client simply stays blocked.
    pub fn block_client(
        &mut self,
        c: &mut Client,
        keys: &[&[u8]],
        deadline_ms: Option<i64>,
        def: &'static CommandDef,
        args: &[&[u8]],
    ) {
        if self.serving_blocked {
            return;
        }
        let mut uniq: Vec<Vec<u8>> = Vec::new();
        for k in keys {
            if !uniq.iter().any(|u| u == k) {
                uniq.push(k.to_vec());
            }
        }
        for k in &uniq {
            self.blocking
                .by_key
                .entry((c.db, k.clone()))
                .or_default()
                .push_back(c.id);
        }
        if let Some(d) = deadline_ms {
            self.blocking.timeouts.insert((d, c.id));
        }
        self.blocking.blocked_clients += 1;
        if def.name == "xreadgroup" {
            self.blocking.group_readers += 1;
        }
        c.blocked = Some(Box::new(Blocked {
            db: c.db,
            keys: uniq,
            deadline_ms,
            def,
            argv: args.iter().map(|a| a.to_vec()).collect(),
            postponed: false,
        }));
    }

    /// Hold `c`'s command until the pause ends (CLIENT PAUSE): the client counts as blocked,
    /// its later commands wait behind it, and the command runs again from the start, checks
    /// included, once clients are unpaused (it may be paused again).
    pub fn postpone_client(&mut self, c: &mut Client, def: &'static CommandDef, args: &[&[u8]]) {
        self.blocking.blocked_clients += 1;
        self.blocking.postponed.push_back(c.id);
        c.blocked = Some(Box::new(Blocked {
            db: c.db,
            keys: Vec::new(),
            deadline_ms: None,
            def,
            argv: args.iter().map(|a| a.to_vec()).collect(),
            postponed: true,
        }));
    }

    /// Release every postponed client: each runs its held command on its next input pass.
    pub fn release_postponed(&mut self) {
        for id in std::mem::take(&mut self.blocking.postponed) {
            let Some(&slot) = self.client_ids.get(&id) else {
                continue;
            };
            let Some(mut c) = self.clients[slot as usize].take() else {
                continue;
            };
            let held = c.blocked.as_ref().is_some_and(|b| b.postponed);
            if held {
                self.resume_postponed(&mut c);
            }
            self.clients[slot as usize] = Some(c);
            if held {
                self.mark_pending_input(slot);
            }
        }
    }

    /// Unblock a client CLIENT PAUSE held, keeping its command to run before its other input.
    fn resume_postponed(&mut self, c: &mut Client) {
        let argv = c.blocked.as_mut().map(|b| std::mem::take(&mut b.argv));
        self.unblock_client(c);
        c.postponed_argv = argv;
    }

    /// Whether the running command may block (not inside EXEC, not while serving).
    pub fn may_block(&self) -> bool {
        !self.in_exec
    }

    /// Remove `c` from the waiting structures (it was served, timed out, or is leaving).
    pub fn unblock_client(&mut self, c: &mut Client) {
        let Some(b) = c.blocked.take() else {
            return;
        };
        if b.reads_group() && !b.postponed {
            self.blocking.group_readers -= 1;
        }
        for k in b.keys {
            let key = (b.db, k);
            if let Some(q) = self.blocking.by_key.get_mut(&key) {
                q.retain(|id| *id != c.id);
                if q.is_empty() {
                    self.blocking.by_key.remove(&key);
                }
            }
        }
        if let Some(d) = b.deadline_ms {
            self.blocking.timeouts.remove(&(d, c.id));
        }
        if b.postponed {
            self.blocking.postponed.retain(|id| *id != c.id);
        }
        self.blocking.blocked_clients -= 1;
    }

    /// A key may now satisfy waiters (a push, a new list or sorted set, a rename onto it).
    pub fn signal_key_ready(&mut self, db: usize, key: &[u8]) {
        if self.blocking.by_key.is_empty() {
            return;
        }
        let k = (db, key.to_vec());
        if self.blocking.by_key.contains_key(&k) && self.blocking.ready_set.insert(k.clone()) {
            self.blocking.ready.push_back(k);
        }
    }

    /// Serve clients blocked on keys that became ready (after each top-level command).
    pub fn handle_ready_keys(&mut self) {
        if self.blocking.group_readers > 0 {
            self.signal_lost_groups();
        }
        while let Some(k) = self.blocking.ready.pop_front() {
            self.blocking.ready_set.remove(&k);
            let Some(waiters) = self.blocking.by_key.get(&k).cloned() else {
                continue;
            };
            self.ready_key = Some(k.clone());
            for id in waiters {
                // Only a key of the type the waiters pop from can serve them (a key replaced
                // by a string meanwhile wakes nobody), except XREADGROUP readers, who are told
                // their stream is gone.
                let ty = self.dbs[k.0].dict.get(&k.1).map(|o| o.val.type_name());
                let Some(&slot) = self.client_ids.get(&id) else {
                    continue;
                };
                let Some(mut c) = self.clients[slot as usize].take() else {
                    continue;
                };
                let serve = c.blocked.as_ref().is_some_and(|b| {
                    Some(b.key_type()) == ty || (b.reads_group() && ty != Some("stream"))
                });
                if serve {
                    self.serve_blocked(&mut c);
                }
                self.clients[slot as usize] = Some(c);
            }
            self.ready_key = None;
        }
    }

    /// Mark ready the keys XREADGROUP readers wait on whose stream or group is gone (deleted,
    /// overwritten, flushed, swapped away, XGROUP DESTROY), so they get their error now.
    fn signal_lost_groups(&mut self) {
        let mut lost = Vec::new();
        for ((db, key), ids) in &self.blocking.by_key {
            let groups: Vec<Vec<u8>> = ids
                .iter()
                .filter_map(|id| self.client_ids.get(id))
                .filter_map(|&slot| self.clients[slot as usize].as_ref())
                .filter_map(|c| c.blocked.as_ref())
                .filter(|b| b.reads_group())
                .filter_map(|b| b.argv.get(2).cloned())
                .collect();
            if groups.is_empty() {
                continue;
            }
            let gone = match self.dbs[*db].dict.get(key).map(|o| &o.val) {
                Some(crate::types::Value::Stream(s)) => {
                    groups.iter().any(|g| !s.cgroups.contains_key(g.as_slice()))
                }
                _ => true,
            };
            if gone {
                lost.push((*db, key.clone()));
            }
        }
        for (db, key) in lost {
            self.signal_key_ready(db, &key);
        }
    }

    /// Re-run a blocked client's command; it is served if the command replied.
    fn serve_blocked(&mut self, c: &mut Client) {
        let Some(b) = c.blocked.as_ref() else {
            return;
        };
        let def = b.def;
        let argv = b.argv.clone();
        let before = c.out.buf.len();
        self.serving_blocked = true;
        self.cmd_time_ms = super::now_ms();
        let refs: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
        self.running_client = Some(c.id);
        self.call(c, def, &refs);
        self.running_client = None;
        self.serving_blocked = false;
        if c.out.buf.len() > before {
            let usec = self.last_call_usec;
            let st = self.stats.command(def);
            st.usec += usec;
            if self.last_call_failed {
                st.failed_calls += 1;
            }
            self.slow_log(c, def, &refs, usec);
            self.unblock_client(c);
            self.after_reply(c);
        }
    }

    /// Output for a client that is not the one running: stamp it and have it sent. A client
    /// leaving a blocking command resumes the commands it pipelined behind it.
    pub fn after_reply(&mut self, c: &mut Client) {
        c.mark_output(self.stamp());
        self.pending_send.push(c.slot);
        if c.blocked.is_none() && !c.pending_input {
            c.pending_input = true;
            self.pending_input.push_back(c.slot);
        }
    }

    /// Reply to and release a blocked client without serving it (timeout, CLIENT UNBLOCK). A
    /// client held by CLIENT PAUSE and unblocked with TIMEOUT runs its command again instead.
    pub fn unblock_with(&mut self, c: &mut Client, how: UnblockReply) {
        let Some(postponed) = c.blocked.as_ref().map(|b| b.postponed) else {
            return;
        };
        if postponed && how == UnblockReply::Timeout {
            // Like the pause ending for this client: its command runs again, no reply here.
            self.resume_postponed(c);
            self.after_reply(c);
            return;
        }
        self.unblock_client(c);
        match how {
            UnblockReply::Timeout => c.out.null_array(),
            UnblockReply::Error => {
                c.out
                    .error("-UNBLOCKED client unblocked via CLIENT UNBLOCK");
                self.collect_errors(c);
            }
        }
        self.after_reply(c);
    }

    /// Time out clients whose deadline passed; returns the nearest remaining deadline.
    pub fn check_block_timeouts(&mut self) -> Option<i64> {
        let now = super::now_ms();
        while let Some(&(d, id)) = self.blocking.timeouts.first() {
            if d > now {
                return Some(d);
            }
            self.blocking.timeouts.pop_first();
            let Some(&slot) = self.client_ids.get(&id) else {
                continue;
            };
            let Some(mut c) = self.clients[slot as usize].take() else {
                continue;
            };
            self.unblock_with(&mut c, UnblockReply::Timeout);
            self.clients[slot as usize] = Some(c);
        }
        None
    }
}

/// Parse a blocking timeout (seconds, fractions allowed, rounded up to milliseconds) into an
/// absolute deadline; None for 0 (forever). Errors are Redis's texts.
pub fn parse_timeout(arg: &[u8], now_ms: i64) -> Result<Option<i64>, &'static str> {
    let Some(secs) = crate::cmd::parse_f64(arg) else {
        return Err("timeout is not a float or out of range");
    };
    let ms = (secs * 1000.0).ceil();
    if ms < 0.0 {
        return Err("timeout is negative");
    }
    if ms == 0.0 {
        return Ok(None);
    }
    Ok(Some(now_ms.saturating_add(ms as i64)))
}
