//! Lists: Redis 7.0's quicklist, a deque of listpack nodes. A node grows while it stays within
//! `list-max-listpack-size` (negative: a byte budget of 4/8/16/32/64 KiB; positive: an element
//! count, capped at 8 KiB) and an element at least `packed_threshold` bytes long gets a plain
//! node of its own, exactly as Redis decides.

use super::listpack::{Listpack, LpVal};
use crate::alloc::heap::{HeapBytes, heap_bytes};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};

const OPTIMIZATION_LEVEL: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
const SIZE_SAFETY_LIMIT: usize = 8192;
const SIZE_ESTIMATE_OVERHEAD: usize = 8;

/// Elements this long or longer are stored in plain nodes (DEBUG QUICKLIST-PACKED-THRESHOLD).
static PACKED_THRESHOLD: AtomicUsize = AtomicUsize::new(1 << 30);

pub fn set_packed_threshold(sz: usize) {
    PACKED_THRESHOLD.store(sz, Ordering::Relaxed);
}

fn is_large(sz: usize) -> bool {
    sz >= PACKED_THRESHOLD.load(Ordering::Relaxed)
}

fn size_meets_optimization(sz: usize, fill: i64) -> bool {
    if fill >= 0 {
        return false;
    }
    let off = (-fill - 1) as usize;
    off < OPTIMIZATION_LEVEL.len() && sz <= OPTIMIZATION_LEVEL[off]
}

#[derive(Clone, Debug, PartialEq)]
pub enum QlNode {
    Packed(Listpack),
    Plain(HeapBytes),
}

impl QlNode {
    pub fn count(&self) -> usize {
        match self {
            QlNode::Packed(lp) => lp.len(),
            QlNode::Plain(_) => 1,
        }
    }

    pub fn size(&self) -> usize {
        match self {
            QlNode::Packed(lp) => lp.bytes(),
            QlNode::Plain(b) => b.len(),
        }
    }

    fn allow_insert(&self, fill: i64, sz: usize) -> bool {
        let QlNode::Packed(lp) = self else {
            return false;
        };
        if is_large(sz) {
            return false;
        }
        let new_sz = lp.bytes() + sz + SIZE_ESTIMATE_OVERHEAD;
        if size_meets_optimization(new_sz, fill) {
            true
        } else if new_sz > SIZE_SAFETY_LIMIT {
            false
        } else {
            (lp.len() as i64) < fill
        }
    }

    fn plain(v: &[u8]) -> QlNode {
        let mut b = heap_bytes(v.len());
        b.extend_from_slice(v);
        QlNode::Plain(b)
    }

    fn packed_with(v: &[u8]) -> QlNode {
        let mut lp = Listpack::new();
        lp.push_back(v);
        QlNode::Packed(lp)
    }

    fn new_for(v: &[u8]) -> QlNode {
        if is_large(v.len()) {
            QlNode::plain(v)
        } else {
            QlNode::packed_with(v)
        }
    }

    /// Element `i` of the node.
    pub fn get(&self, i: usize) -> LpVal<'_> {
        match self {
            QlNode::Plain(b) => LpVal::Str(b),
            QlNode::Packed(lp) => lp
                .seek(i as i64)
                .map(|p| lp.get(p))
                .unwrap_or(LpVal::Str(b"")),
        }
    }

    pub fn alloc_size(&self) -> usize {
        match self {
            QlNode::Packed(lp) => lp.alloc_size(),
            QlNode::Plain(b) => b.capacity(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Quicklist {
    nodes: VecDeque<QlNode>,
    count: usize,
}

/// Which end of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Head,
    Tail,
}

impl Quicklist {
    pub fn new() -> Quicklist {
        Quicklist::default()
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn nodes(&self) -> &VecDeque<QlNode> {
        &self.nodes
    }

    /// Build from loaded nodes (RDB); empty nodes are dropped.
    pub fn from_nodes(nodes: Vec<QlNode>) -> Quicklist {
        let nodes: VecDeque<QlNode> = nodes.into_iter().filter(|n| n.count() > 0).collect();
        let count = nodes.iter().map(|n| n.count()).sum();
        Quicklist { nodes, count }
    }

    pub fn alloc_size(&self) -> usize {
        self.nodes.iter().map(|n| n.alloc_size() + 32).sum()
    }

    pub fn push(&mut self, end: End, v: &[u8], fill: i64) {
        self.count += 1;
        let node = match end {
            End::Head => self.nodes.front_mut(),
            End::Tail => self.nodes.back_mut(),
        };
        if let Some(n) = node
            && n.allow_insert(fill, v.len())
            && let QlNode::Packed(lp) = n
        {
            match end {
                End::Head => lp.push_front(v),
                End::Tail => lp.push_back(v),
            }
            return;
        }
        let n = QlNode::new_for(v);
        if self.nodes.capacity() == 0 {
            // Most lists are one node: don't let the deque start at four.
            self.nodes.reserve_exact(1);
        }
        match end {
            End::Head => self.nodes.push_front(n),
            End::Tail => self.nodes.push_back(n),
        }
    }

    pub fn pop(&mut self, end: End) -> Option<Vec<u8>> {
        let node = match end {
            End::Head => self.nodes.front_mut()?,
            End::Tail => self.nodes.back_mut()?,
        };
        let v = match node {
            QlNode::Plain(b) => {
                let v = b.to_vec();
                match end {
                    End::Head => self.nodes.pop_front(),
                    End::Tail => self.nodes.pop_back(),
                };
                v
            }
            QlNode::Packed(lp) => {
                let p = match end {
                    End::Head => lp.first(),
                    End::Tail => lp.last(),
                }?;
                let v = lp.get(p).to_vec();
                lp.delete(p);
                if lp.is_empty() {
                    match end {
                        End::Head => self.nodes.pop_front(),
                        End::Tail => self.nodes.pop_back(),
                    };
                }
                v
            }
        };
        self.count -= 1;
        Some(v)
    }

    /// Node index and offset inside it of element `i` (0-based from the head).
    fn locate(&self, i: usize) -> Option<(usize, usize)> {
        if i >= self.count {
            return None;
        }
        if i < self.count / 2 {
            let mut acc = 0;
            for (ni, n) in self.nodes.iter().enumerate() {
                let c = n.count();
                if i < acc + c {
                    return Some((ni, i - acc));
                }
                acc += c;
            }
        } else {
            let mut acc = self.count;
            for (ni, n) in self.nodes.iter().enumerate().rev() {
                let c = n.count();
                acc -= c;
                if i >= acc {
                    return Some((ni, i - acc));
                }
            }
        }
        None
    }

    /// Normalize a Redis index (negative from the tail) to 0-based, if in range.
    pub fn norm_index(&self, i: i64) -> Option<usize> {
        let n = self.count as i64;
        let j = if i < 0 { n + i } else { i };
        (0..n).contains(&j).then_some(j as usize)
    }

    pub fn get(&self, i: usize) -> Option<LpVal<'_>> {
        let (ni, off) = self.locate(i)?;
        Some(self.nodes[ni].get(off))
    }

    /// Replace element `i`; false if out of range.
    pub fn set(&mut self, i: usize, v: &[u8], fill: i64) -> bool {
        let Some((ni, off)) = self.locate(i) else {
            return false;
        };
        match &mut self.nodes[ni] {
            QlNode::Packed(lp) if !is_large(v.len()) => {
                let p = lp.seek(off as i64).expect("located");
                lp.replace(p, v);
                if lp.bytes() > SIZE_SAFETY_LIMIT.max(limit_bytes(fill)) && lp.len() > 1 {
                    // Too big now: give the replaced element a node of its own.
                    self.split_node(ni, off + 1);
                    self.split_node(ni, off);
                }
            }
            QlNode::Plain(_) => self.nodes[ni] = QlNode::new_for(v),
            QlNode::Packed(_) => {
                // A large value in a packed node: cut the node around it and give the value a
                // plain node of its own.
                self.delete_at(ni, off);
                self.count += 1;
                self.insert_node_at(i, QlNode::plain(v));
            }
        }
        true
    }

    /// Put `node` (one element) so that it becomes element `i`.
    fn insert_node_at(&mut self, i: usize, node: QlNode) {
        if i >= self.count - 1 {
            self.nodes.push_back(node);
            return;
        }
        let (ni, off) = self.locate(i).expect("in range");
        if off == 0 {
            self.nodes.insert(ni, node);
        } else {
            self.split_node(ni, off);
            self.nodes.insert(ni + 1, node);
        }
    }

    /// Split node `ni` so that its elements from `at` on form a new node after it.
    fn split_node(&mut self, ni: usize, at: usize) {
        if at == 0 || at >= self.nodes[ni].count() {
            return;
        }
        if let QlNode::Packed(lp) = &mut self.nodes[ni] {
            let tail = lp.split_off(at);
            if !tail.is_empty() {
                self.nodes.insert(ni + 1, QlNode::Packed(tail));
            }
        }
    }

    /// Delete element `off` of node `ni` (removing the node when it empties).
    fn delete_at(&mut self, ni: usize, off: usize) {
        match &mut self.nodes[ni] {
            QlNode::Plain(_) => {
                self.nodes.remove(ni);
            }
            QlNode::Packed(lp) => {
                lp.delete_range(off as i64, 1);
                if lp.is_empty() {
                    self.nodes.remove(ni);
                }
            }
        }
        self.count -= 1;
    }

    /// Insert `v` before (or after) element `i`, as LINSERT does.
    pub fn insert(&mut self, i: usize, after: bool, v: &[u8], fill: i64) {
        let target = if after { i + 1 } else { i };
        if target == self.count {
            self.push(End::Tail, v, fill);
            return;
        }
        if target == 0 {
            self.push(End::Head, v, fill);
            return;
        }
        let (ni, off) = self.locate(target).expect("in range");
        if self.nodes[ni].allow_insert(fill, v.len())
            && let QlNode::Packed(lp) = &mut self.nodes[ni]
        {
            let p = lp.seek(off as i64).expect("located");
            lp.insert_at(p, v);
            self.count += 1;
            return;
        }
        // Inserting at the start of a full node: try the end of the previous one.
        if off == 0
            && ni > 0
            && self.nodes[ni - 1].allow_insert(fill, v.len())
            && let QlNode::Packed(lp) = &mut self.nodes[ni - 1]
        {
            lp.push_back(v);
            self.count += 1;
            return;
        }
        self.count += 1;
        let node = QlNode::new_for(v);
        if off == 0 {
            self.nodes.insert(ni, node);
        } else {
            self.split_node(ni, off);
            self.nodes.insert(ni + 1, node);
        }
        self.merge_around(ni, fill);
    }

    /// Merge small neighbours around node `ni` (after a split) where the fill allows.
    fn merge_around(&mut self, ni: usize, fill: i64) {
        let lo = ni.saturating_sub(1);
        let hi = (ni + 2).min(self.nodes.len().saturating_sub(1));
        let mut j = hi;
        while j > lo {
            if j < self.nodes.len() && self.allow_merge(j - 1, j, fill) {
                let b = self.nodes.remove(j).expect("exists");
                if let (QlNode::Packed(a), QlNode::Packed(b)) = (&mut self.nodes[j - 1], &b) {
                    a.append_all(b);
                }
            }
            j -= 1;
        }
    }

    fn allow_merge(&self, a: usize, b: usize, fill: i64) -> bool {
        let (QlNode::Packed(x), QlNode::Packed(y)) = (&self.nodes[a], &self.nodes[b]) else {
            return false;
        };
        let merge_sz = (x.bytes() + y.bytes()).saturating_sub(11);
        if size_meets_optimization(merge_sz, fill) {
            true
        } else if merge_sz > SIZE_SAFETY_LIMIT {
            false
        } else {
            (x.len() + y.len()) as i64 <= fill
        }
    }

    /// Delete `n` elements starting at element `start` (LTRIM, LREM ranges).
    pub fn delete_range(&mut self, start: usize, mut n: usize) {
        n = n.min(self.count.saturating_sub(start));
        if n == 0 {
            return;
        }
        let Some((mut ni, mut off)) = self.locate(start) else {
            return;
        };
        self.count -= n;
        while n > 0 {
            let c = self.nodes[ni].count();
            let take = (c - off).min(n);
            if off == 0 && take == c {
                self.nodes.remove(ni);
            } else {
                if let QlNode::Packed(lp) = &mut self.nodes[ni] {
                    lp.delete_range(off as i64, take);
                }
                ni += 1;
            }
            n -= take;
            off = 0;
        }
    }

    /// Visit elements `start..=end` (0-based, in range) from the head, or from `end` down to
    /// `start` when `rev`.
    pub fn for_range(&self, start: usize, end: usize, rev: bool, mut f: impl FnMut(LpVal<'_>)) {
        if start > end || end >= self.count {
            return;
        }
        if !rev {
            let (mut ni, off) = self.locate(start).expect("in range");
            let mut left = end - start + 1;
            let mut first = Some(off);
            while left > 0 {
                match &self.nodes[ni] {
                    QlNode::Plain(b) => {
                        f(LpVal::Str(b));
                        left -= 1;
                    }
                    QlNode::Packed(lp) => {
                        let mut p = lp.seek(first.unwrap_or(0) as i64);
                        while let Some(q) = p {
                            if left == 0 {
                                break;
                            }
                            f(lp.get(q));
                            left -= 1;
                            p = lp.next(q);
                        }
                    }
                }
                first = None;
                ni += 1;
            }
        } else {
            let (mut ni, off) = self.locate(end).expect("in range");
            let mut left = end - start + 1;
            let mut first = Some(off);
            loop {
                match &self.nodes[ni] {
                    QlNode::Plain(b) => {
                        f(LpVal::Str(b));
                        left -= 1;
                    }
                    QlNode::Packed(lp) => {
                        let mut p = match first {
                            Some(o) => lp.seek(o as i64),
                            None => lp.last(),
                        };
                        while let Some(q) = p {
                            if left == 0 {
                                break;
                            }
                            f(lp.get(q));
                            left -= 1;
                            p = lp.prev(q);
                        }
                    }
                }
                first = None;
                if left == 0 || ni == 0 {
                    break;
                }
                ni -= 1;
            }
        }
    }

    /// Every element, head to tail.
    pub fn for_each(&self, mut f: impl FnMut(LpVal<'_>)) {
        for n in &self.nodes {
            match n {
                QlNode::Plain(b) => f(LpVal::Str(b)),
                QlNode::Packed(lp) => lp.iter().for_each(&mut f),
            }
        }
    }

    /// Keep only the elements for which `keep(index, value)` says so, visiting from the head
    /// (or the tail when `rev`), and stop removing after `limit` removals (0: no limit).
    /// Returns the number removed. (LREM.)
    pub fn remove_matching(
        &mut self,
        rev: bool,
        limit: usize,
        mut matches: impl FnMut(LpVal<'_>) -> bool,
    ) -> usize {
        let mut removed = 0;
        let order: Vec<usize> = if rev {
            (0..self.nodes.len()).rev().collect()
        } else {
            (0..self.nodes.len()).collect()
        };
        let mut emptied = Vec::new();
        for ni in order {
            if limit != 0 && removed >= limit {
                break;
            }
            match &mut self.nodes[ni] {
                QlNode::Plain(b) => {
                    if matches(LpVal::Str(b)) {
                        removed += 1;
                        emptied.push(ni);
                    }
                }
                QlNode::Packed(lp) => {
                    let mut p = if rev { lp.last() } else { lp.first() };
                    while let Some(q) = p {
                        if limit != 0 && removed >= limit {
                            break;
                        }
                        if matches(lp.get(q)) {
                            removed += 1;
                            let next = lp.delete(q);
                            p = if rev {
                                // The entry before the deleted one is still at its position.
                                match next {
                                    Some(n) => lp.prev(n),
                                    None => lp.last(),
                                }
                            } else {
                                next
                            };
                        } else {
                            p = if rev { lp.prev(q) } else { lp.next(q) };
                        }
                    }
                    if lp.is_empty() {
                        emptied.push(ni);
                    }
                }
            }
        }
        emptied.sort_unstable();
        for ni in emptied.into_iter().rev() {
            self.nodes.remove(ni);
        }
        self.count -= removed;
        removed
    }
}

/// The byte budget a negative fill allows (for replace overflow checks).
fn limit_bytes(fill: i64) -> usize {
    if fill < 0 {
        let off = ((-fill - 1) as usize).min(OPTIMIZATION_LEVEL.len() - 1);
        OPTIMIZATION_LEVEL[off]
    } else {
        SIZE_SAFETY_LIMIT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(q: &Quicklist) -> Vec<Vec<u8>> {
        let mut v = Vec::new();
        q.for_each(|x| v.push(x.to_vec()));
        v
    }

    #[test]
    fn push_pop_insert_against_model() {
        let mut rng = crate::db::Rng::from_seed(7);
        for fill in [-2i64, -1, -5, 1, 3, 5, 16] {
            let mut q = Quicklist::new();
            let mut m: VecDeque<Vec<u8>> = VecDeque::new();
            for step in 0..4000 {
                let r = rng.next_u64();
                let mut v = format!("v{}", r % 1000).into_bytes();
                if r.is_multiple_of(5) {
                    v = vec![b'x'; (r >> 30) as usize % 10000];
                }
                match r % 9 {
                    8 if !m.is_empty() => {
                        let i = (r as usize / 9) % m.len();
                        assert!(q.set(i, &v, fill));
                        m[i] = v;
                    }
                    0 | 1 => {
                        q.push(End::Head, &v, fill);
                        m.push_front(v);
                    }
                    2 | 3 => {
                        q.push(End::Tail, &v, fill);
                        m.push_back(v);
                    }
                    4 => assert_eq!(q.pop(End::Head), m.pop_front()),
                    5 => assert_eq!(q.pop(End::Tail), m.pop_back()),
                    6 if !m.is_empty() => {
                        let i = (r as usize / 8) % m.len();
                        let after = r & 64 != 0;
                        q.insert(i, after, &v, fill);
                        m.insert(if after { i + 1 } else { i }, v);
                    }
                    7 if !m.is_empty() => {
                        let i = (r as usize / 8) % m.len();
                        let n = (r as usize / 4096) % 5;
                        q.delete_range(i, n);
                        for _ in 0..n.min(m.len() - i) {
                            m.remove(i);
                        }
                    }
                    _ => {}
                }
                assert_eq!(q.len(), m.len(), "step {step}");
                assert!(
                    q.nodes().iter().all(|n| n.count() > 0),
                    "empty node at step {step}"
                );
            }
            assert_eq!(all(&q), m.iter().cloned().collect::<Vec<_>>());
            let n = q.len();
            if n > 2 {
                let mut r = Vec::new();
                q.for_range(1, n - 2, true, |x| r.push(x.to_vec()));
                let want: Vec<Vec<u8>> = m.iter().skip(1).take(n - 2).rev().cloned().collect();
                assert_eq!(r, want);
            }
            let removed = q.remove_matching(true, 3, |x| x.eq_bytes(b"v1"));
            assert!(removed <= 3);
            assert_eq!(q.len(), all(&q).len());
        }
    }
}
