//! Streams, encoded as Redis 7.0 encodes them: an ordered map from a node's master ID to a
//! listpack of entries, so nodes are stored in RDB byte for byte and `XINFO` counts match.
//!
//! A node's listpack starts with a master entry (`count`, `deleted`, `num-fields`, the fields
//! of the node's first entry, `0`), then one record per entry: `flags`, the ID as ms and seq
//! deltas from the master ID, `num-fields` and the fields unless the entry has the master's
//! fields (`SAMEFIELDS`), the values, and `lp-count` (how many items the record spans before
//! it, so the node can be walked backwards). Deleted entries stay as tombstones flagged
//! `DELETED` until their whole node goes.

use std::collections::{BTreeMap, BTreeSet};

use super::listpack::{Listpack, LpVal};

pub const FLAG_DELETED: i64 = 1;
pub const FLAG_SAMEFIELDS: i64 = 2;

/// Listpacks may not outgrow what their 32-bit header can describe.
const LISTPACK_MAX_SIZE: usize = 1 << 30;

/// A group's `entries_read` when it cannot be known.
pub const ENTRIES_READ_INVALID: i64 = -1;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    pub fn is_zero(&self) -> bool {
        *self == StreamId::MIN
    }

    /// The next ID; false (and 0-0) past the last one.
    pub fn incr(&mut self) -> bool {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                *self = StreamId::MIN;
                return false;
            }
            self.ms += 1;
            self.seq = 0;
        } else {
            self.seq += 1;
        }
        true
    }

    /// The previous ID; false (and the last ID) before 0-0.
    pub fn decr(&mut self) -> bool {
        if self.seq == 0 {
            if self.ms == 0 {
                *self = StreamId::MAX;
                return false;
            }
            self.ms -= 1;
            self.seq = u64::MAX;
        } else {
            self.seq -= 1;
        }
        true
    }

    pub fn to_bytes(self) -> Vec<u8> {
        format!("{}-{}", self.ms, self.seq).into_bytes()
    }

    /// The 128-bit big-endian form (rax keys, RDB).
    pub fn encode(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ms.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Option<StreamId> {
        if b.len() != 16 {
            return None;
        }
        Some(StreamId {
            ms: u64::from_be_bytes(b[..8].try_into().ok()?),
            seq: u64::from_be_bytes(b[8..].try_into().ok()?),
        })
    }
}

/// How an ID argument is read (Redis's streamGenericParseIDOrReply).
#[derive(Clone, Copy)]
pub struct IdSyntax {
    /// The sequence of an ID given as `<ms>` only.
    pub missing_seq: u64,
    /// Refuse `-` and `+`.
    pub strict: bool,
    /// Accept `<ms>-*` (XADD).
    pub allow_auto_seq: bool,
}

/// A parsed ID argument; `seq_given` is false for `<ms>-*`.
pub fn parse_id(arg: &[u8], how: IdSyntax) -> Option<(StreamId, bool)> {
    if arg.len() > 127 {
        return None;
    }
    if arg == b"-" || arg == b"+" {
        if how.strict {
            return None;
        }
        let id = if arg == b"-" {
            StreamId::MIN
        } else {
            StreamId::MAX
        };
        return Some((id, true));
    }
    let (ms_part, seq_part) = match arg.iter().position(|&b| b == b'-') {
        Some(i) => (&arg[..i], Some(&arg[i + 1..])),
        None => (arg, None),
    };
    let ms = parse_u64(ms_part)?;
    let (seq, given) = match seq_part {
        Some(b"*") if how.allow_auto_seq => (0, false),
        Some(s) => (parse_u64(s)?, true),
        None => (how.missing_seq, true),
    };
    Some((StreamId { ms, seq }, given))
}

/// Redis's string2ull: decimal digits only, no sign, no overflow.
fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// A pending entry: delivered to `consumer` and not acknowledged yet.
#[derive(Clone, Debug, PartialEq)]
pub struct Nack {
    pub delivery_time: i64,
    pub delivery_count: u64,
    /// Empty only between RDB loading a group's PEL and its consumers, or after XCLAIM FORCE
    /// created it and before it is given to the claimer.
    pub consumer: Box<[u8]>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Consumer {
    pub seen_time: i64,
    pub pel: BTreeSet<StreamId>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ConsumerGroup {
    pub last_id: StreamId,
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Nack>,
    pub consumers: BTreeMap<Box<[u8]>, Consumer>,
}

impl ConsumerGroup {
    pub fn new(last_id: StreamId, entries_read: i64) -> ConsumerGroup {
        ConsumerGroup {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// Add a consumer; false if it exists.
    pub fn create_consumer(&mut self, name: &[u8], now_ms: i64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumers.insert(
            name.into(),
            Consumer {
                seen_time: now_ms,
                pel: BTreeSet::new(),
            },
        );
        true
    }

    /// Remove a consumer and its pending entries; returns how many it had.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }

    /// Drop a pending entry from the group and its owner.
    pub fn remove_pending(&mut self, id: StreamId) -> bool {
        let Some(n) = self.pel.remove(&id) else {
            return false;
        };
        if let Some(c) = self.consumers.get_mut(&n.consumer) {
            c.pel.remove(&id);
        }
        true
    }

    /// Give the pending entry `id` to `consumer` (which exists).
    pub fn assign(&mut self, id: StreamId, consumer: &[u8]) {
        let Some(n) = self.pel.get_mut(&id) else {
            return;
        };
        if &*n.consumer != consumer {
            if let Some(old) = self.consumers.get_mut(&n.consumer) {
                old.pel.remove(&id);
            }
            n.consumer = consumer.into();
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
    }
}

/// Node size limits (`stream-node-max-bytes`, `stream-node-max-entries`; 0 = no limit).
#[derive(Clone, Copy, Debug)]
pub struct NodeLimits {
    pub max_bytes: usize,
    pub max_entries: i64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stream {
    pub nodes: BTreeMap<StreamId, Listpack>,
    pub length: u64,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted_entry_id: StreamId,
    pub entries_added: u64,
    pub cgroups: BTreeMap<Box<[u8]>, ConsumerGroup>,
}

/// One entry record inside a node.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub id: StreamId,
    pub flags: i64,
    flags_pos: usize,
    pub numfields: usize,
    /// First field (or first value with `SAMEFIELDS`).
    data_pos: usize,
    /// The record's last item.
    count_pos: usize,
}

/// A node being read: its listpack and where its master fields are.
pub struct Node<'a> {
    pub master: StreamId,
    pub lp: &'a Listpack,
    master_fields: usize,
    master_fields_pos: usize,
    /// The master entry's `0` terminator.
    master_end: usize,
}

fn int_at(lp: &Listpack, pos: usize) -> i64 {
    lp.get(pos).as_i64().unwrap_or(0)
}

impl<'a> Node<'a> {
    pub fn new(master: StreamId, lp: &'a Listpack) -> Node<'a> {
        let count = lp.first().unwrap_or(super::listpack::HDR);
        let deleted = lp.next(count).unwrap_or(count);
        let nf_pos = lp.next(deleted).unwrap_or(deleted);
        let master_fields = int_at(lp, nf_pos).max(0) as usize;
        let mut p = nf_pos;
        for _ in 0..master_fields {
            p = lp.next(p).unwrap_or(p);
        }
        let master_end = lp.next(p).unwrap_or(p);
        Node {
            master,
            lp,
            master_fields,
            master_fields_pos: nf_pos,
            master_end,
        }
    }

    /// Live entries (the master entry's count).
    pub fn live(&self) -> i64 {
        self.lp.first().map(|p| int_at(self.lp, p)).unwrap_or(0)
    }

    /// Tombstones (the master entry's deleted count).
    pub fn deleted(&self) -> i64 {
        let p = self.lp.first().and_then(|p| self.lp.next(p));
        p.map(|p| int_at(self.lp, p)).unwrap_or(0)
    }

    fn entry_at(&self, flags_pos: usize) -> Entry {
        let lp = self.lp;
        let flags = int_at(lp, flags_pos);
        let ms_pos = lp.next(flags_pos).unwrap_or(flags_pos);
        let seq_pos = lp.next(ms_pos).unwrap_or(ms_pos);
        let id = StreamId {
            ms: self.master.ms.wrapping_add(int_at(lp, ms_pos) as u64),
            seq: self.master.seq.wrapping_add(int_at(lp, seq_pos) as u64),
        };
        let mut p = lp.next(seq_pos).unwrap_or(seq_pos);
        let (numfields, items) = if flags & FLAG_SAMEFIELDS != 0 {
            (self.master_fields, self.master_fields)
        } else {
            let n = int_at(lp, p).max(0) as usize;
            p = lp.next(p).unwrap_or(p);
            (n, n * 2)
        };
        let data_pos = p;
        for _ in 0..items {
            p = lp.next(p).unwrap_or(p);
        }
        Entry {
            id,
            flags,
            flags_pos,
            numfields,
            data_pos,
            count_pos: p,
        }
    }

    pub fn first_entry(&self) -> Option<Entry> {
        self.lp.next(self.master_end).map(|p| self.entry_at(p))
    }

    pub fn last_entry(&self) -> Option<Entry> {
        self.entry_ending_at(self.lp.last()?)
    }

    /// The record whose `lp-count` is at `pos` (None at the master terminator).
    fn entry_ending_at(&self, pos: usize) -> Option<Entry> {
        let n = int_at(self.lp, pos);
        if n <= 0 {
            return None;
        }
        let mut p = pos;
        for _ in 0..n {
            p = self.lp.prev(p)?;
        }
        Some(self.entry_at(p))
    }

    pub fn next_entry(&self, e: &Entry) -> Option<Entry> {
        self.lp.next(e.count_pos).map(|p| self.entry_at(p))
    }

    pub fn prev_entry(&self, e: &Entry) -> Option<Entry> {
        self.entry_ending_at(self.lp.prev(e.flags_pos)?)
    }

    /// The entry's field-value pairs, in order.
    pub fn for_each_field(&self, e: &Entry, mut f: impl FnMut(LpVal<'a>, LpVal<'a>)) {
        let lp = self.lp;
        let mut p = Some(e.data_pos);
        if e.flags & FLAG_SAMEFIELDS != 0 {
            let mut fp = lp.next(self.master_fields_pos);
            for _ in 0..e.numfields {
                let (Some(fpos), Some(vpos)) = (fp, p) else {
                    return;
                };
                f(lp.get(fpos), lp.get(vpos));
                fp = lp.next(fpos);
                p = lp.next(vpos);
            }
        } else {
            for _ in 0..e.numfields {
                let Some(fpos) = p else { return };
                let Some(vpos) = lp.next(fpos) else { return };
                f(lp.get(fpos), lp.get(vpos));
                p = lp.next(vpos);
            }
        }
    }
}

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    /// Heap bytes held (estimate for MEMORY USAGE and DEBUG OBJECT).
    pub fn alloc_size(&self) -> usize {
        let nodes: usize = self.nodes.values().map(|lp| lp.alloc_size() + 48).sum();
        let groups: usize = self
            .cgroups
            .iter()
            .map(|(n, g)| {
                n.len() + 96 + g.pel.len() * 64 + g.consumers.len() * 64 + g.pel.len() * 24
            })
            .sum();
        std::mem::size_of::<Stream>() + nodes + groups
    }

    /// Call `f` for each live entry from `start` to `end` (inclusive), backwards when `rev`;
    /// `f` returns false to stop.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        mut f: impl FnMut(&Node<'_>, &Entry) -> bool,
    ) {
        self.range_with_tombstones(start, end, rev, false, &mut f)
    }

    fn range_with_tombstones(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        tombstones: bool,
        f: &mut dyn FnMut(&Node<'_>, &Entry) -> bool,
    ) {
        if start > end {
            return;
        }
        if !rev {
            // The node holding `start` begins at or before it.
            let first_key = self
                .nodes
                .range(..=start)
                .next_back()
                .map(|(k, _)| *k)
                .unwrap_or(StreamId::MIN);
            for (k, lp) in self.nodes.range(first_key..) {
                if *k > end {
                    return;
                }
                let node = Node::new(*k, lp);
                let mut e = node.first_entry();
                while let Some(en) = e {
                    if en.id > end {
                        return;
                    }
                    let live = tombstones || en.flags & FLAG_DELETED == 0;
                    if en.id >= start && live && !f(&node, &en) {
                        return;
                    }
                    e = node.next_entry(&en);
                }
            }
        } else {
            for (k, lp) in self.nodes.range(..=end).rev() {
                let node = Node::new(*k, lp);
                let mut e = node.last_entry();
                while let Some(en) = e {
                    if en.id < start {
                        return;
                    }
                    let live = tombstones || en.flags & FLAG_DELETED == 0;
                    if en.id <= end && live && !f(&node, &en) {
                        return;
                    }
                    e = node.prev_entry(&en);
                }
            }
        }
    }

    /// The first or last entry's ID, tombstones included or not; MAX (first) or MIN (last)
    /// when there is none (streamGetEdgeID).
    pub fn edge_id(&self, first: bool, skip_tombstones: bool) -> StreamId {
        let mut found = None;
        self.range_with_tombstones(
            StreamId::MIN,
            StreamId::MAX,
            !first,
            !skip_tombstones,
            &mut |_, e| {
                found = Some(e.id);
                false
            },
        );
        found.unwrap_or(if first { StreamId::MAX } else { StreamId::MIN })
    }

    /// The last live entry's ID (MIN when empty).
    pub fn last_valid_id(&self) -> StreamId {
        self.edge_id(false, true)
    }

    pub fn entry_exists(&self, id: StreamId) -> bool {
        let mut found = false;
        self.range(id, id, false, |_, _| {
            found = true;
            false
        });
        found
    }

    /// The entry `id`'s field-value pairs, if it is live.
    pub fn entry_fields(&self, id: StreamId) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = None;
        self.range(id, id, false, |node, e| {
            let mut v = Vec::with_capacity(e.numfields);
            node.for_each_field(e, |f, val| v.push((f.to_vec(), val.to_vec())));
            out = Some(v);
            false
        });
        out
    }

    /// The next ID XADD `*` would generate.
    pub fn next_id(&self, now_ms: u64) -> StreamId {
        if now_ms > self.last_id.ms {
            StreamId::new(now_ms, 0)
        } else {
            let mut id = self.last_id;
            id.incr();
            id
        }
    }

    /// Append an entry (streamAppendItem). `use_id` is the ID given (with whether its sequence
    /// was); Err(true) when the ID is not above the last one, Err(false) when the entry is too
    /// big to store.
    pub fn append(
        &mut self,
        fields: &[&[u8]],
        use_id: Option<(StreamId, bool)>,
        now_ms: u64,
        limits: NodeLimits,
    ) -> Result<StreamId, bool> {
        let id = match use_id {
            Some((id, true)) => id,
            Some((id, false)) => {
                if self.last_id.ms == id.ms {
                    if self.last_id.seq == u64::MAX {
                        return Err(true);
                    }
                    StreamId::new(id.ms, self.last_id.seq + 1)
                } else {
                    id
                }
            }
            None => self.next_id(now_ms),
        };
        if id <= self.last_id {
            return Err(true);
        }
        let total: usize = fields.iter().map(|f| f.len()).sum();
        if total > LISTPACK_MAX_SIZE {
            return Err(false);
        }
        let numfields = fields.len() / 2;
        let max_bytes = if limits.max_bytes == 0 || limits.max_bytes > LISTPACK_MAX_SIZE {
            LISTPACK_MAX_SIZE
        } else {
            limits.max_bytes
        };
        // Whether the tail node can take the entry.
        let mut tail = self.nodes.last_key_value().map(|(k, _)| *k);
        if let Some(k) = tail {
            let lp = &self.nodes[&k];
            let node = Node::new(k, lp);
            let full = lp.bytes() + total >= max_bytes
                || (limits.max_entries > 0 && node.live() + node.deleted() >= limits.max_entries);
            if full {
                if let Some(lp) = self.nodes.get_mut(&k) {
                    lp.shrink_to_fit();
                }
                tail = None;
            }
        }
        let mut flags = 0;
        let master = match tail {
            None => {
                let mut lp = Listpack::new();
                lp.push_int(1);
                lp.push_int(0);
                lp.push_int(numfields as i64);
                for i in 0..numfields {
                    lp.push_back(fields[i * 2]);
                }
                lp.push_int(0);
                self.nodes.insert(id, lp);
                flags |= FLAG_SAMEFIELDS;
                id
            }
            Some(k) => {
                let lp = self.nodes.get_mut(&k).expect("tail node");
                let count_pos = lp.first().expect("master entry");
                let count = int_at(lp, count_pos);
                lp.replace_int(count_pos, count + 1);
                let node = Node::new(k, lp);
                if numfields == node.master_fields {
                    let mut p = lp.next(node.master_fields_pos);
                    let mut same = true;
                    for i in 0..numfields {
                        match p {
                            Some(q) if lp.get(q).eq_bytes(fields[i * 2]) => p = lp.next(q),
                            _ => {
                                same = false;
                                break;
                            }
                        }
                    }
                    if same {
                        flags |= FLAG_SAMEFIELDS;
                    }
                }
                k
            }
        };
        let lp = self.nodes.get_mut(&master).expect("node");
        lp.push_int(flags);
        lp.push_int(id.ms.wrapping_sub(master.ms) as i64);
        lp.push_int(id.seq.wrapping_sub(master.seq) as i64);
        if flags & FLAG_SAMEFIELDS == 0 {
            lp.push_int(numfields as i64);
        }
        for i in 0..numfields {
            if flags & FLAG_SAMEFIELDS == 0 {
                lp.push_back(fields[i * 2]);
            }
            lp.push_back(fields[i * 2 + 1]);
        }
        let mut lp_count = numfields as i64 + 3;
        if flags & FLAG_SAMEFIELDS == 0 {
            lp_count += numfields as i64 + 1;
        }
        lp.push_int(lp_count);
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
        Ok(id)
    }

    /// Mark a live entry deleted (dropping its node when it was the node's last live one).
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((&k, _)) = self.nodes.range(..=id).next_back() else {
            return false;
        };
        let lp = &self.nodes[&k];
        let node = Node::new(k, lp);
        let mut e = node.first_entry();
        let mut target = None;
        while let Some(en) = e {
            if en.id == id {
                if en.flags & FLAG_DELETED == 0 {
                    target = Some(en);
                }
                break;
            }
            if en.id > id {
                break;
            }
            e = node.next_entry(&en);
        }
        let Some(en) = target else {
            return false;
        };
        let live = node.live();
        if live == 1 {
            self.nodes.remove(&k);
        } else {
            let lp = self.nodes.get_mut(&k).expect("node");
            lp.replace_int(en.flags_pos, en.flags | FLAG_DELETED);
            let p = lp.first().expect("master entry");
            lp.replace_int(p, live - 1);
            let p = lp.next(p).expect("deleted count");
            let deleted = int_at(lp, p);
            lp.replace_int(p, deleted + 1);
        }
        self.length = self.length.saturating_sub(1);
        true
    }

    /// XDEL: delete the live entries among `ids`, keeping the first ID and the largest deleted
    /// ID up to date; returns how many went.
    pub fn delete_entries(&mut self, ids: &[StreamId]) -> u64 {
        let mut deleted = 0;
        let mut first_entry = false;
        for &id in ids {
            if self.delete(id) {
                first_entry |= id == self.first_id;
                self.max_deleted_entry_id = self.max_deleted_entry_id.max(id);
                deleted += 1;
            }
        }
        if deleted > 0 {
            if self.length == 0 {
                self.first_id = StreamId::MIN;
            } else if first_entry {
                self.first_id = self.edge_id(true, true);
            }
        }
        deleted
    }

    /// Trim from the head (streamTrim); returns how many entries went.
    pub fn trim(&mut self, t: &Trim) -> u64 {
        let mut deleted: u64 = 0;
        // Only the head node is ever looked at: it is either removed whole (and the next one
        // becomes the head) or trimmed inside, which ends the work.
        while let Some(k) = self.nodes.keys().next().copied() {
            if let TrimBy::MaxLen(maxlen) = t.by
                && self.length <= maxlen
            {
                break;
            }
            let lp = &self.nodes[&k];
            let node = Node::new(k, lp);
            let entries = node.live().max(0) as u64;
            if t.limit > 0 && deleted + entries > t.limit {
                break;
            }
            let remove_node = match t.by {
                TrimBy::MaxLen(maxlen) => self.length.saturating_sub(entries) >= maxlen,
                TrimBy::MinId(min) => node.last_entry().is_some_and(|e| e.id < min),
            };
            if remove_node {
                self.nodes.remove(&k);
                self.length = self.length.saturating_sub(entries);
                deleted += entries;
                continue;
            }
            if t.approx {
                break;
            }
            // Mark entries deleted from the node's head until the target is met.
            let mut marks = Vec::new();
            let mut e = node.first_entry();
            let mut length = self.length;
            while let Some(en) = e {
                let stop = match t.by {
                    TrimBy::MaxLen(maxlen) => length <= maxlen,
                    TrimBy::MinId(min) => en.id >= min,
                };
                if stop {
                    break;
                }
                if en.flags & FLAG_DELETED == 0 {
                    marks.push((en.flags_pos, en.flags | FLAG_DELETED));
                    length -= 1;
                }
                e = node.next_entry(&en);
            }
            let from_node = marks.len() as u64;
            let old_deleted = node.deleted();
            let lp = self.nodes.get_mut(&k).expect("node");
            // Flags are small integers: replacing one keeps every later position.
            for (pos, flags) in marks {
                lp.replace_int(pos, flags);
            }
            let p = lp.first().expect("master entry");
            lp.replace_int(p, entries as i64 - from_node as i64);
            let p = lp.next(p).expect("deleted count");
            lp.replace_int(p, old_deleted + from_node as i64);
            self.length = self.length.saturating_sub(from_node);
            deleted += from_node;
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if deleted > 0 {
            self.first_id = self.edge_id(true, true);
        }
        deleted
    }

    /// Whether the nodes agree with the stream's counters: entries in ID order across nodes,
    /// none below its node's master ID or above the last ID, node counts that match what the
    /// nodes hold, and a length that is the sum of them (loading checks untrusted input).
    pub fn consistent(&self) -> bool {
        let mut live_total: u64 = 0;
        let mut prev: Option<StreamId> = None;
        for (k, lp) in &self.nodes {
            let node = Node::new(*k, lp);
            let (mut live, mut dead) = (0i64, 0i64);
            let mut e = node.first_entry();
            while let Some(en) = e {
                if en.id < *k || en.id > self.last_id || prev.is_some_and(|p| en.id <= p) {
                    return false;
                }
                prev = Some(en.id);
                if en.flags & FLAG_DELETED != 0 {
                    dead += 1;
                } else {
                    live += 1;
                }
                e = node.next_entry(&en);
            }
            if live != node.live() || dead != node.deleted() {
                return false;
            }
            live_total += live as u64;
        }
        live_total == self.length
    }

    /// Whether a tombstone may lie between `start` and `end` (streamRangeHasTombstones).
    pub fn range_has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.length == 0 || self.max_deleted_entry_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_entry_id {
            return false;
        }
        start <= self.max_deleted_entry_id && self.max_deleted_entry_id <= end
    }

    /// An ID's distance from the first entry ever added, when it can be known
    /// (streamEstimateDistanceFromFirstEverEntry); ENTRIES_READ_INVALID otherwise.
    pub fn estimate_distance(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        if self.length == 0 && id <= self.last_id {
            return self.entries_added as i64;
        }
        if id == self.last_id {
            return self.entries_added as i64;
        } else if id > self.last_id {
            return ENTRIES_READ_INVALID;
        }
        if self.max_deleted_entry_id.is_zero() || self.max_deleted_entry_id < self.first_id {
            if id < self.first_id {
                return (self.entries_added - self.length) as i64;
            } else if id == self.first_id {
                return (self.entries_added - self.length + 1) as i64;
            }
        }
        ENTRIES_READ_INVALID
    }

    /// A group's lag (entries not delivered yet), when it can be known.
    pub fn group_lag(&self, g: &ConsumerGroup) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != ENTRIES_READ_INVALID
            && !self.range_has_tombstones(g.last_id, StreamId::MAX)
        {
            return Some(self.entries_added as i64 - g.entries_read);
        }
        let read = self.estimate_distance(g.last_id);
        (read != ENTRIES_READ_INVALID).then(|| self.entries_added as i64 - read)
    }

    /// Advance a group past an entry it delivers (the read counter as streamReplyWithRange
    /// keeps it). Returns whether the group's last ID moved.
    pub fn advance_group(&mut self, group: &[u8], id: StreamId) -> bool {
        let has_tombstones = self.range_has_tombstones(id, StreamId::MAX);
        let estimate = if self.entries_added > 0 {
            Some(self.estimate_distance(id))
        } else {
            None
        };
        let Some(g) = self.cgroups.get_mut(group) else {
            return false;
        };
        if id <= g.last_id {
            return false;
        }
        if g.entries_read != ENTRIES_READ_INVALID && !has_tombstones {
            g.entries_read += 1;
        } else if let Some(e) = estimate {
            g.entries_read = e;
        }
        g.last_id = id;
        true
    }

    /// The number of nodes a rax holding the node keys has (XINFO's radix-tree-nodes): the
    /// root, every key, every branching prefix and every child of one.
    pub fn radix_tree_nodes(&self) -> usize {
        let keys: Vec<[u8; 16]> = self.nodes.keys().map(|k| k.encode()).collect();
        if keys.is_empty() {
            return 1;
        }
        let mut prefixes: std::collections::HashSet<&[u8]> = std::collections::HashSet::new();
        prefixes.insert(&[]);
        for k in &keys {
            prefixes.insert(&k[..]);
        }
        for w in keys.windows(2) {
            let l = w[0]
                .iter()
                .zip(w[1].iter())
                .take_while(|(a, b)| a == b)
                .count();
            prefixes.insert(&w[0][..l]);
            prefixes.insert(&w[0][..l + 1]);
            prefixes.insert(&w[1][..l + 1]);
        }
        prefixes.len()
    }
}

#[derive(Clone, Copy, Debug)]
pub enum TrimBy {
    MaxLen(u64),
    MinId(StreamId),
}

/// A trimming request: the strategy, whether only whole nodes go (`~`), and the most entries
/// it may remove (0: no limit).
#[derive(Clone, Copy, Debug)]
pub struct Trim {
    pub by: TrimBy,
    pub approx: bool,
    pub limit: u64,
}

/// Check a node's listpack is a well-formed stream node (streamValidateListpackIntegrity, deep).
pub fn valid_node(lp: &Listpack) -> bool {
    struct Cursor<'a> {
        lp: &'a Listpack,
        p: Option<usize>,
    }
    impl Cursor<'_> {
        fn int(&mut self) -> Option<i64> {
            let q = self.p?;
            let v = self.lp.get(q).as_i64()?;
            self.p = self.lp.next(q);
            Some(v)
        }
        fn skip(&mut self, n: i64) -> Option<()> {
            for _ in 0..n {
                self.p = self.lp.next(self.p?);
            }
            Some(())
        }
        fn node(&mut self) -> Option<()> {
            let count = self.int()?;
            let deleted = self.int()?;
            let master_fields = self.int()?;
            if count < 0 || deleted < 0 || master_fields < 0 {
                return None;
            }
            self.skip(master_fields)?;
            if self.int()? != 0 {
                return None;
            }
            for _ in 0..count + deleted {
                let flags = self.int()?;
                self.int()?;
                self.int()?;
                let (fields, extra) = if flags & FLAG_SAMEFIELDS == 0 {
                    let f = self.int()?;
                    if f < 0 {
                        return None;
                    }
                    self.skip(f)?;
                    (f, 3 + f + 1)
                } else {
                    (master_fields, 3)
                };
                self.skip(fields)?;
                if self.int()? != fields + extra {
                    return None;
                }
            }
            self.p.is_none().then_some(())
        }
    }
    Cursor { lp, p: lp.first() }.node().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: NodeLimits = NodeLimits {
        max_bytes: 4096,
        max_entries: 100,
    };

    fn add(s: &mut Stream, id: u64, fields: &[&[u8]]) -> StreamId {
        s.append(fields, Some((StreamId::new(id, 0), true)), 0, LIMITS)
            .unwrap()
    }

    fn ids(s: &Stream, rev: bool) -> Vec<u64> {
        let mut v = Vec::new();
        s.range(StreamId::MIN, StreamId::MAX, rev, |_, e| {
            v.push(e.id.ms);
            true
        });
        v
    }

    #[test]
    fn entries_read_back_with_their_fields_both_ways() {
        let mut s = Stream::new();
        add(&mut s, 1, &[b"a", b"1", b"b", b"x"]);
        add(&mut s, 2, &[b"a", b"2", b"b", b"y"]);
        add(&mut s, 3, &[b"c", b"3"]);
        assert_eq!(ids(&s, false), vec![1, 2, 3]);
        assert_eq!(ids(&s, true), vec![3, 2, 1]);
        assert_eq!(
            s.entry_fields(StreamId::new(2, 0)).unwrap(),
            vec![
                (b"a".to_vec(), b"2".to_vec()),
                (b"b".to_vec(), b"y".to_vec())
            ]
        );
        assert_eq!(
            s.entry_fields(StreamId::new(3, 0)).unwrap(),
            vec![(b"c".to_vec(), b"3".to_vec())]
        );
        assert!(valid_node(s.nodes.values().next().unwrap()));
    }

    #[test]
    fn nodes_split_at_the_entry_limit_and_deletes_leave_tombstones() {
        let mut s = Stream::new();
        for i in 1..=250 {
            add(&mut s, i, &[b"f", b"v"]);
        }
        assert_eq!(s.nodes.len(), 3);
        assert!(s.delete(StreamId::new(5, 0)));
        assert!(!s.delete(StreamId::new(5, 0)));
        assert_eq!(s.length, 249);
        assert!(!ids(&s, false).contains(&5));
        assert_eq!(s.edge_id(true, false), StreamId::new(1, 0));
        for i in 201..=250 {
            assert!(s.delete(StreamId::new(i, 0)));
        }
        assert_eq!(s.nodes.len(), 2);
        assert_eq!(s.last_valid_id(), StreamId::new(200, 0));
    }

    #[test]
    fn trimming_by_length_exact_and_approximate() {
        let mut s = Stream::new();
        for i in 1..=250 {
            add(&mut s, i, &[b"f", b"v"]);
        }
        let approx = Trim {
            by: TrimBy::MaxLen(120),
            approx: true,
            limit: 0,
        };
        assert_eq!(s.trim(&approx), 100);
        assert_eq!(s.length, 150);
        let exact = Trim {
            by: TrimBy::MaxLen(120),
            approx: false,
            limit: 0,
        };
        assert_eq!(s.trim(&exact), 30);
        assert_eq!(ids(&s, false).first(), Some(&131));
        assert_eq!(s.first_id, StreamId::new(131, 0));
        let by_id = Trim {
            by: TrimBy::MinId(StreamId::new(240, 0)),
            approx: false,
            limit: 0,
        };
        assert_eq!(s.trim(&by_id), 109);
        assert_eq!(ids(&s, false), (240..=250).collect::<Vec<_>>());
    }

    #[test]
    fn ids_parse_as_redis_reads_them() {
        let strict = IdSyntax {
            missing_seq: 0,
            strict: true,
            allow_auto_seq: false,
        };
        let loose = IdSyntax {
            missing_seq: u64::MAX,
            strict: false,
            allow_auto_seq: true,
        };
        assert_eq!(parse_id(b"5-3", strict), Some((StreamId::new(5, 3), true)));
        assert_eq!(
            parse_id(b"5", loose),
            Some((StreamId::new(5, u64::MAX), true))
        );
        assert_eq!(parse_id(b"5-*", loose), Some((StreamId::new(5, 0), false)));
        assert_eq!(parse_id(b"5-*", strict), None);
        assert_eq!(parse_id(b"+", strict), None);
        assert_eq!(parse_id(b"+", loose), Some((StreamId::MAX, true)));
        assert_eq!(parse_id(b"-1", strict), None);
        assert_eq!(parse_id(b"18446744073709551616", strict), None);
    }

    #[test]
    fn rax_node_count_matches_redis_for_small_trees() {
        let mut s = Stream::new();
        assert_eq!(s.radix_tree_nodes(), 1);
        add(&mut s, 1, &[b"f", b"v"]);
        // One key: a compressed root and the key node.
        assert_eq!(s.radix_tree_nodes(), 2);
    }
}
