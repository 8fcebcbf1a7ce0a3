//! Lists: Redis 7.0's quicklist, a deque of listpack nodes. A node grows while it stays within
//! `list-max-listpack-size` (negative: a byte budget of 4/8/16/32/64 KiB; positive: an element
//! count, capped at 8 KiB) and an element at least `packed_threshold` bytes long gets a plain
//! node of its own, exactly as Redis decides.

use super::listpack::{Listpack, LpVal};
use crate::alloc::heap::HeapDeque;
use crate::alloc::heap::{HeapBytes, heap_bytes, push_bytes};
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
    /// An inner node compressed with LZF (`list-compress-depth`).
    Lzf(Box<LzfNode>),
}

/// A compressed node: the LZF bytes of a listpack (or of a plain node's element).
#[derive(Clone, Debug, PartialEq)]
pub struct LzfNode {
    data: HeapBytes,
    raw_len: usize,
    count: usize,
    plain: bool,
}

/// Nodes smaller than this are not worth compressing; compression must save this much.
const MIN_COMPRESS_BYTES: usize = 48;
const MIN_COMPRESS_IMPROVE: usize = 8;

impl QlNode {
    pub fn count(&self) -> usize {
        match self {
            QlNode::Packed(lp) => lp.len(),
            QlNode::Plain(_) => 1,
            QlNode::Lzf(z) => z.count,
        }
    }

    /// The node with its data readable: itself, or a decompressed copy.
    fn raw(&self) -> std::borrow::Cow<'_, QlNode> {
        match self {
            QlNode::Lzf(z) => std::borrow::Cow::Owned(z.expand()),
            other => std::borrow::Cow::Borrowed(other),
        }
    }

    /// Compress if worthwhile (Redis's __quicklistCompressNode rules).
    fn compress(&mut self) {
        let (bytes, plain): (&[u8], bool) = match self {
            QlNode::Packed(lp) => (lp.as_bytes(), false),
            QlNode::Plain(b) => (b, true),
            QlNode::Lzf(_) => return,
        };
        if bytes.len() < MIN_COMPRESS_BYTES {
            return;
        }
        let Some(c) = super::lzf::compress(bytes, bytes.len() - MIN_COMPRESS_IMPROVE) else {
            return;
        };
        let mut data = heap_bytes(c.len());
        push_bytes(&mut data, &c);
        let z = LzfNode {
            data,
            raw_len: bytes.len(),
            count: self.count(),
            plain,
        };
        *self = QlNode::Lzf(Box::new(z));
    }

    fn decompress(&mut self) {
        if let QlNode::Lzf(z) = self {
            *self = z.expand();
        }
    }

    pub fn size(&self) -> usize {
        match self {
            QlNode::Packed(lp) => lp.bytes(),
            QlNode::Plain(b) => b.len(),
            QlNode::Lzf(z) => z.raw_len,
        }
    }

    pub fn is_compressed(&self) -> bool {
        matches!(self, QlNode::Lzf(_))
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
        push_bytes(&mut b, v);
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
    pub fn get(&self, i: usize) -> Vec<u8> {
        match &*self.raw() {
            QlNode::Plain(b) => b.to_vec(),
            QlNode::Packed(lp) => lp
                .seek(i as i64)
                .map(|p| lp.get(p).to_vec())
                .unwrap_or_default(),
            QlNode::Lzf(_) => unreachable!("raw() decompresses"),
        }
    }

    pub fn alloc_size(&self) -> usize {
        match self {
            QlNode::Packed(lp) => lp.alloc_size(),
            QlNode::Plain(b) => b.capacity(),
            QlNode::Lzf(z) => z.data.capacity() + std::mem::size_of::<LzfNode>(),
        }
    }
}

impl LzfNode {
    /// The compressed bytes, the uncompressed size, and whether the node is a plain one (what
    /// an RDB file stores for a compressed node).
    pub fn parts(&self) -> (&[u8], usize, bool) {
        (&self.data, self.raw_len, self.plain)
    }

    fn expand(&self) -> QlNode {
        let bytes = super::lzf::decompress(&self.data, self.raw_len)
            .expect("a node this process compressed decompresses");
        let mut b = heap_bytes(bytes.len());
        push_bytes(&mut b, &bytes);
        if self.plain {
            QlNode::Plain(b)
        } else {
            QlNode::Packed(Listpack::from_bytes(&b).expect("a listpack this process wrote"))
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Quicklist {
    nodes: HeapDeque<QlNode>,
    count: usize,
    /// Nodes kept uncompressed at each end (`list-compress-depth`; 0: no compression).
    depth: usize,
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

    pub fn nodes(&self) -> &HeapDeque<QlNode> {
        &self.nodes
    }

    pub fn alloc_size(&self) -> usize {
        self.nodes.iter().map(|n| n.alloc_size() + 32).sum()
    }

    /// The compression depth to keep from now on (from the config, set before each write).
    pub fn set_compress_depth(&mut self, depth: usize) {
        self.depth = depth;
    }

    fn ensure_raw(&mut self, ni: usize) {
        if let Some(n) = self.nodes.get_mut(ni) {
            n.decompress();
        }
    }

    /// Keep the `depth` nodes at each end uncompressed and compress the first inner ones and
    /// `touched` (Redis's __quicklistCompress).
    fn recompress(&mut self, touched: Option<usize>) {
        let n = self.nodes.len();
        if self.depth == 0 || n < self.depth * 2 {
            return;
        }
        let mut in_depth = false;
        for d in 0..self.depth {
            let (f, r) = (d, n - 1 - d);
            self.nodes[f].decompress();
            self.nodes[r].decompress();
            if touched == Some(f) || touched == Some(r) {
                in_depth = true;
            }
            if f == r || f + 1 == r {
                return;
            }
        }
        if !in_depth && let Some(t) = touched.filter(|&t| t < n) {
            self.nodes[t].compress();
        }
        let (f, r) = (self.depth, n - 1 - self.depth);
        self.nodes[f].compress();
        self.nodes[r].compress();
    }

    /// Compress every inner node that should be (after an operation that touched many).
    fn recompress_all(&mut self) {
        let n = self.nodes.len();
        if self.depth == 0 || n < self.depth * 2 {
            return;
        }
        for i in 0..n {
            if i < self.depth || i >= n - self.depth {
                self.nodes[i].decompress();
            } else {
                self.nodes[i].compress();
            }
        }
    }

    /// Append a whole node at the tail (RDB loading: quicklistAppendListpack and
    /// quicklistAppendPlainNode). Empty listpacks are the caller's to skip.
    pub fn append_node(&mut self, node: QlNode) {
        self.count += node.count();
        self.nodes.push_back(node);
        let n = self.nodes.len();
        if n >= 2 {
            self.recompress(Some(n - 2));
        }
    }

    /// A plain node holding `v` (RDB loading).
    pub fn plain_node(v: &[u8]) -> QlNode {
        QlNode::plain(v)
    }

    pub fn push(&mut self, end: End, v: &[u8], fill: i64) {
        self.push_inner(end, v, fill);
        let touched = match end {
            End::Head => 0,
            End::Tail => self.nodes.len() - 1,
        };
        self.recompress(Some(touched));
    }

    fn push_inner(&mut self, end: End, v: &[u8], fill: i64) {
        match end {
            End::Head => self.ensure_raw(0),
            End::Tail => self.ensure_raw(self.nodes.len().wrapping_sub(1)),
        }
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
        match end {
            End::Head => self.nodes.push_front(n),
            End::Tail => self.nodes.push_back(n),
        }
    }

    pub fn pop(&mut self, end: End) -> Option<Vec<u8>> {
        let v = self.pop_inner(end);
        if self.depth > 0 {
            self.recompress(None);
        }
        v
    }

    fn pop_inner(&mut self, end: End) -> Option<Vec<u8>> {
        match end {
            End::Head => self.ensure_raw(0),
            End::Tail => self.ensure_raw(self.nodes.len().wrapping_sub(1)),
        }
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
            QlNode::Lzf(_) => unreachable!("decompressed above"),
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

    pub fn get(&self, i: usize) -> Option<Vec<u8>> {
        let (ni, off) = self.locate(i)?;
        Some(self.nodes[ni].get(off))
    }

    /// Replace element `i`; false if out of range.
    pub fn set(&mut self, i: usize, v: &[u8], fill: i64) -> bool {
        let Some((ni, off)) = self.locate(i) else {
            return false;
        };
        self.ensure_raw(ni);
        self.set_inner(ni, off, i, v, fill);
        let touched = self.locate(i).map(|(n, _)| n);
        self.recompress(touched);
        true
    }

    fn set_inner(&mut self, ni: usize, off: usize, i: usize, v: &[u8], fill: i64) {
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
                self.insert_node_at(i, QlNode::plain(v));
                self.count += 1;
            }
            QlNode::Lzf(_) => unreachable!("decompressed by the caller"),
        }
    }

    /// Put `node` (one element, not yet counted) so that it becomes element `i`.
    fn insert_node_at(&mut self, i: usize, node: QlNode) {
        if i >= self.count {
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
        self.ensure_raw(ni);
        match &mut self.nodes[ni] {
            QlNode::Plain(_) | QlNode::Lzf(_) => {
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
        self.insert_inner(i, after, v, fill);
        let at = if after { i + 1 } else { i };
        let touched = self
            .locate(at.min(self.count.saturating_sub(1)))
            .map(|(n, _)| n);
        // Splits and merges may have touched neighbours too.
        if let Some(t) = touched {
            for n in [t.wrapping_sub(1), t + 1] {
                if n < self.nodes.len() {
                    self.recompress(Some(n));
                }
            }
        }
        self.recompress(touched);
    }

    fn insert_inner(&mut self, i: usize, after: bool, v: &[u8], fill: i64) {
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
        self.ensure_raw(ni);
        if ni > 0 {
            self.ensure_raw(ni - 1);
        }
        if ni + 1 < self.nodes.len() {
            self.ensure_raw(ni + 1);
        }
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
        let first = ni;
        self.count -= n;
        while n > 0 {
            let c = self.nodes[ni].count();
            let take = (c - off).min(n);
            if off == 0 && take == c {
                self.nodes.remove(ni);
            } else {
                self.ensure_raw(ni);
                if let QlNode::Packed(lp) = &mut self.nodes[ni] {
                    lp.delete_range(off as i64, take);
                }
                ni += 1;
            }
            n -= take;
            off = 0;
        }
        if self.depth > 0 {
            self.recompress(None);
            if first < self.nodes.len() {
                self.recompress(Some(first));
            }
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
                match &*self.nodes[ni].raw() {
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
                    QlNode::Lzf(_) => unreachable!("raw() decompresses"),
                }
                first = None;
                ni += 1;
            }
        } else {
            let (mut ni, off) = self.locate(end).expect("in range");
            let mut left = end - start + 1;
            let mut first = Some(off);
            loop {
                match &*self.nodes[ni].raw() {
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
                    QlNode::Lzf(_) => unreachable!("raw() decompresses"),
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
        for n in self.nodes.iter() {
            match &*n.raw() {
                QlNode::Plain(b) => f(LpVal::Str(b)),
                QlNode::Packed(lp) => lp.iter().for_each(&mut f),
                QlNode::Lzf(_) => unreachable!("raw() decompresses"),
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
            self.nodes[ni].decompress();
            match &mut self.nodes[ni] {
                QlNode::Lzf(_) => unreachable!("decompressed above"),
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
        self.recompress_all();
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

    /// Against a model deque, with the default threshold, then with elements of 3000 bytes or
    /// more in plain nodes (one test: the threshold is process-wide).
    #[test]
    fn push_pop_insert_against_model() {
        model_run(1 << 30);
        model_run(3000);
        set_packed_threshold(1 << 30);
    }

    fn model_run(threshold: usize) {
        set_packed_threshold(threshold);
        let mut rng = crate::db::Rng::from_seed(7);
        for (fill, depth) in [
            (-2i64, 0),
            (-1, 1),
            (-5, 2),
            (1, 1),
            (3, 0),
            (5, 3),
            (16, 2),
            (2, 1),
        ] {
            let mut q = Quicklist::new();
            q.set_compress_depth(depth);
            let mut m: std::collections::VecDeque<Vec<u8>> = Default::default();
            let mut saw_compressed = false;
            let mut had_inner_nodes = false;
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
                let n = q.nodes().len();
                saw_compressed |= q.nodes().iter().any(|n| n.is_compressed());
                had_inner_nodes |= depth > 0 && n > 2 * depth + 2;
                // (Shorter than both windows: Redis leaves nodes as they are, and so do we.)
                for (i, node) in q.nodes().iter().enumerate() {
                    if n >= 2 * depth && (i < depth || i + depth >= n) {
                        assert!(
                            !node.is_compressed(),
                            "end node {i} of {n} compressed at step {step} op {}",
                            r % 9
                        );
                    }
                }
            }
            assert_eq!(all(&q), m.iter().cloned().collect::<Vec<_>>());
            // Compression happens exactly when there were inner nodes to compress.
            assert!(
                saw_compressed || !had_inner_nodes,
                "fill {fill} depth {depth}"
            );
            assert!(had_inner_nodes || !saw_compressed || depth > 0);
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
