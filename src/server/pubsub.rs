//! Pub/sub: channel and pattern subscriptions and message delivery. Messages to the client
//! whose command is running (it is out of its slot meanwhile) are kept in `self_out` and placed
//! before that command's reply, where Redis would have written them.

use super::Server;
use crate::config::glob_match;
use crate::net::client::{Client, ClientId};
use crate::resp::Out;
use std::collections::HashMap;

#[derive(Default)]
pub struct PubSub {
    /// Subscribers of each channel, in subscription order.
    pub channels: HashMap<Vec<u8>, Vec<ClientId>>,
    /// Subscribers of each pattern, in subscription order; `pattern_order` keeps patterns in
    /// the order they were first subscribed.
    pub patterns: HashMap<Vec<u8>, Vec<ClientId>>,
    pub pattern_order: Vec<Vec<u8>>,
    /// Subscribers of each shard channel (SSUBSCRIBE; without a cluster, one shard).
    pub shard_channels: HashMap<Vec<u8>, Vec<ClientId>>,
}

/// Drop `id` from the subscribers of `ch` in `map`, and the entry once nobody is left.
fn remove_subscriber(map: &mut HashMap<Vec<u8>, Vec<ClientId>>, ch: &[u8], id: ClientId) {
    if let Some(v) = map.get_mut(ch) {
        v.retain(|x| *x != id);
        if v.is_empty() {
            map.remove(ch);
        }
    }
}

/// Write a pub/sub message frame (`message`, `pmessage`, `subscribe`, ...).
pub fn write_message(out: &mut Out, parts: &[&[u8]], count: Option<i64>) {
    let start = out.buf.len();
    out.push(parts.len() + usize::from(count.is_some()));
    for p in parts {
        out.bulk(p);
    }
    if let Some(n) = count {
        out.int(n);
    }
    out.push_frames.push((start, out.buf.len()));
}

impl Server {
    /// Run `f` on the output of client `id`, whether it is in its slot or is the client whose
    /// command is running.
    pub fn with_client_out(&mut self, id: ClientId, f: impl FnOnce(&mut Out)) {
        if self.running_client == Some(id) {
            f(&mut self.self_out);
            return;
        }
        // Not stamped here: the command that published may not have propagated its effects
        // yet. `settle_deliveries` stamps the bytes once it has (DESIGN §6).
        if let Some(c) = self.client_by_id_mut(id) {
            f(&mut c.out);
            self.delivered.push(id);
        }
    }

    /// Deliver `msg` on `channel`; returns the number of receivers.
    pub fn publish(&mut self, channel: &[u8], msg: &[u8]) -> usize {
        let mut n = 0;
        if let Some(subs) = self.pubsub.channels.get(channel).cloned() {
            for id in subs {
                self.with_client_out(id, |o| write_message(o, &[b"message", channel, msg], None));
                n += 1;
            }
        }
        if !self.pubsub.pattern_order.is_empty() {
            let pats: Vec<Vec<u8>> = self
                .pubsub
                .pattern_order
                .iter()
                .filter(|p| glob_match(p, channel, false))
                .cloned()
                .collect();
            for p in pats {
                for id in self.pubsub.patterns.get(&p).cloned().unwrap_or_default() {
                    self.with_client_out(id, |o| {
                        write_message(o, &[b"pmessage", &p, channel, msg], None)
                    });
                    n += 1;
                }
            }
        }
        n
    }

    /// Deliver `msg` on shard channel `channel` (SPUBLISH); returns the number of receivers.
    pub fn spublish(&mut self, channel: &[u8], msg: &[u8]) -> usize {
        let subs = self
            .pubsub
            .shard_channels
            .get(channel)
            .cloned()
            .unwrap_or_default();
        for id in &subs {
            self.with_client_out(*id, |o| {
                write_message(o, &[b"smessage", channel, msg], None)
            });
        }
        subs.len()
    }

    pub fn ssubscribe(&mut self, c: &mut Client, ch: &[u8]) {
        if c.ssubs.insert(ch.to_vec()) {
            self.pubsub
                .shard_channels
                .entry(ch.to_vec())
                .or_default()
                .push(c.id);
        }
        let n = c.ssubs.len() as i64;
        write_message(&mut c.out, &[b"ssubscribe", ch], Some(n));
    }

    pub fn sunsubscribe(&mut self, c: &mut Client, ch: &[u8], notify: bool) {
        if c.ssubs.remove(ch) {
            remove_subscriber(&mut self.pubsub.shard_channels, ch, c.id);
        }
        if notify {
            let n = c.ssubs.len() as i64;
            write_message(&mut c.out, &[b"sunsubscribe", ch], Some(n));
        }
    }

    pub fn sunsubscribe_all(&mut self, c: &mut Client, notify: bool) {
        let chans: Vec<Vec<u8>> = c.ssubs.iter().cloned().collect();
        for ch in chans {
            self.sunsubscribe(c, &ch, notify);
        }
    }

    pub fn subscribe(&mut self, c: &mut Client, ch: &[u8]) {
        if c.subs.insert(ch.to_vec()) {
            self.pubsub
                .channels
                .entry(ch.to_vec())
                .or_default()
                .push(c.id);
        }
        let n = c.subscription_count() as i64;
        write_message(&mut c.out, &[b"subscribe", ch], Some(n));
    }

    pub fn unsubscribe(&mut self, c: &mut Client, ch: &[u8], notify: bool) {
        if c.subs.remove(ch) {
            remove_subscriber(&mut self.pubsub.channels, ch, c.id);
        }
        if notify {
            let n = c.subscription_count() as i64;
            write_message(&mut c.out, &[b"unsubscribe", ch], Some(n));
        }
    }

    pub fn psubscribe(&mut self, c: &mut Client, pat: &[u8]) {
        if !c.psubs.iter().any(|p| p == pat) {
            c.psubs.push(pat.to_vec());
            let e = self.pubsub.patterns.entry(pat.to_vec()).or_default();
            if e.is_empty() {
                self.pubsub.pattern_order.push(pat.to_vec());
            }
            e.push(c.id);
        }
        let n = c.subscription_count() as i64;
        write_message(&mut c.out, &[b"psubscribe", pat], Some(n));
    }

    pub fn punsubscribe(&mut self, c: &mut Client, pat: &[u8], notify: bool) {
        if let Some(i) = c.psubs.iter().position(|p| p == pat) {
            c.psubs.remove(i);
            if let Some(v) = self.pubsub.patterns.get_mut(pat) {
                v.retain(|id| *id != c.id);
                if v.is_empty() {
                    self.pubsub.patterns.remove(pat);
                    self.pubsub.pattern_order.retain(|p| p != pat);
                }
            }
        }
        if notify {
            let n = c.subscription_count() as i64;
            write_message(&mut c.out, &[b"punsubscribe", pat], Some(n));
        }
    }

    /// Drop every subscription of a client (disconnect, RESET). With `notify`, reply as
    /// UNSUBSCRIBE / PUNSUBSCRIBE with no arguments would.
    pub fn unsubscribe_all(&mut self, c: &mut Client, notify: bool) {
        let chans: Vec<Vec<u8>> = c.subs.iter().cloned().collect();
        for ch in chans {
            self.unsubscribe(c, &ch, notify);
        }
    }

    pub fn punsubscribe_all(&mut self, c: &mut Client, notify: bool) {
        let pats = c.psubs.clone();
        for p in pats {
            self.punsubscribe(c, &p, notify);
        }
    }
}
