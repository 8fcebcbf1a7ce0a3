//! The ordered half of a large sorted set: Redis's skiplist (p = 1/4, at most 32 levels) with
//! spans, so ranks are O(log n). Order is by score, then member bytes.
//!
//! Nodes are variable-size records in one word arena, levels inline as in Redis's node: a
//! descent that moves to a node finds its levels in the same cache lines. Each level also keeps
//! the score of the node it points to, so comparing with a node the descent does not move to
//! costs no memory access. Members are not copied: a record holds a thin pointer (`KeyRef`,
//! read only on score ties and at the end of a search) to the key its sorted set's hash table
//! owns, as Redis's skiplist and dict share one sds. Freed records are reused by height.

use crate::alloc::heap::{HeapVec, heap_vec};
use crate::db::KeyRef;

const MAX_LEVEL: usize = 32;
const NIL: u32 = u32::MAX;
const HEAD: u32 = 0;
/// Words before a record's levels: score, backward|height, member (`KeyRef` bits).
const HDR: usize = 3;
/// The member of the head and of fresh records: the empty string, length-prefixed.
static EMPTY_MEMBER: [u8; 1] = [0];

/// Not `Clone`: a copy would point at the original set's members.
#[derive(Debug)]
pub struct SkipList {
    arena: HeapVec<u64>,
    /// Free records by height.
    free: HeapVec<HeapVec<u32>>,
    tail: u32,
    len: usize,
    level: usize,
    seed: u64,
}

/// A score interval (ZRANGEBYSCORE's min/max with exclusive bounds).
#[derive(Clone, Copy, Debug)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub minex: bool,
    pub maxex: bool,
}

impl ScoreRange {
    pub fn gte_min(&self, v: f64) -> bool {
        if self.minex {
            v > self.min
        } else {
            v >= self.min
        }
    }
    pub fn lte_max(&self, v: f64) -> bool {
        if self.maxex {
            v < self.max
        } else {
            v <= self.max
        }
    }
    pub fn contains(&self, v: f64) -> bool {
        self.gte_min(v) && self.lte_max(v)
    }
    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }
}

/// A bound of a lexicographic range: -, +, [x or (x.
#[derive(Clone, Debug, PartialEq)]
pub enum LexBound {
    MinusInf,
    PlusInf,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

#[derive(Clone, Debug)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    pub fn gte_min(&self, v: &[u8]) -> bool {
        match &self.min {
            LexBound::MinusInf => true,
            LexBound::PlusInf => false,
            LexBound::Incl(m) => v >= &m[..],
            LexBound::Excl(m) => v > &m[..],
        }
    }
    pub fn lte_max(&self, v: &[u8]) -> bool {
        match &self.max {
            LexBound::MinusInf => false,
            LexBound::PlusInf => true,
            LexBound::Incl(m) => v <= &m[..],
            LexBound::Excl(m) => v < &m[..],
        }
    }
    pub fn contains(&self, v: &[u8]) -> bool {
        self.gte_min(v) && self.lte_max(v)
    }
    pub fn is_empty(&self) -> bool {
        use LexBound::*;
        match (&self.min, &self.max) {
            (PlusInf, _) | (_, MinusInf) => true,
            (MinusInf, _) | (_, PlusInf) => false,
            (Incl(a), Incl(b)) => a > b,
            (Incl(a), Excl(b)) | (Excl(a), Incl(b)) | (Excl(a), Excl(b)) => a >= b,
        }
    }
}

impl Default for SkipList {
    fn default() -> Self {
        Self::new()
    }
}

impl SkipList {
    pub fn new() -> SkipList {
        let mut sl = SkipList {
            arena: heap_vec(),
            free: {
                let mut by_height = heap_vec();
                by_height.resize_with(MAX_LEVEL + 1, heap_vec);
                by_height
            },
            tail: NIL,
            len: 0,
            level: 1,
            seed: 0x2545_F491_4F6C_DD1D,
        };
        let h = sl.alloc_record(MAX_LEVEL);
        debug_assert_eq!(h, HEAD);
        sl
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn random_level(&mut self) -> usize {
        let mut lvl = 1;
        loop {
            self.seed ^= self.seed << 13;
            self.seed ^= self.seed >> 7;
            self.seed ^= self.seed << 17;
            if (self.seed & 0xFFFF) < 0xFFFF / 4 && lvl < MAX_LEVEL {
                lvl += 1;
            } else {
                return lvl;
            }
        }
    }

    /// A record of `h` levels, every level pointing nowhere.
    fn alloc_record(&mut self, h: usize) -> u32 {
        let x = match self.free[h].pop() {
            Some(x) => x,
            None => {
                let x = self.arena.len();
                let need = HDR + 2 * h;
                if self.arena.capacity() - x < need {
                    // Grow by a quarter rather than doubling: a big set's arena is most of its
                    // memory, and used_memory (maxmemory) counts the capacity.
                    self.arena.reserve_exact(need.max(x / 4));
                }
                self.arena.resize(x + need, 0);
                x as u32
            }
        };
        let b = x as usize;
        self.arena[b] = 0;
        self.arena[b + 1] = (NIL as u64) | ((h as u64) << 32);
        self.arena[b + 2] = KeyRef::of_encoded(&EMPTY_MEMBER).to_bits();
        for i in 0..h {
            self.arena[b + HDR + 2 * i] = NIL as u64;
            self.arena[b + HDR + 2 * i + 1] = 0;
        }
        x
    }

    #[inline]
    fn score(&self, x: u32) -> f64 {
        f64::from_bits(self.arena[x as usize])
    }

    #[inline]
    fn backward(&self, x: u32) -> u32 {
        self.arena[x as usize + 1] as u32
    }

    fn set_backward(&mut self, x: u32, b: u32) {
        let w = &mut self.arena[x as usize + 1];
        *w = (*w & !0xFFFF_FFFF) | b as u64;
    }

    fn height(&self, x: u32) -> usize {
        (self.arena[x as usize + 1] >> 32) as usize
    }

    #[inline]
    fn ele(&self, x: u32) -> &[u8] {
        // SAFETY: a linked record's member word holds the bits of a KeyRef whose key
        // `insert`'s contract keeps alive and unchanged until the member is deleted; the head
        // and fresh records hold the static empty member.
        unsafe { KeyRef::from_bits(self.arena[x as usize + 2]).bytes() }
    }

    /// (forward, span) of level `i` of `x`.
    #[inline]
    fn lvl(&self, x: u32, i: usize) -> (u32, u32) {
        let w = self.arena[x as usize + HDR + 2 * i];
        (w as u32, (w >> 32) as u32)
    }

    /// The score of the node level `i` of `x` points to.
    #[inline]
    fn fscore(&self, x: u32, i: usize) -> f64 {
        f64::from_bits(self.arena[x as usize + HDR + 2 * i + 1])
    }

    fn set_lvl(&mut self, x: u32, i: usize, forward: u32, span: u32, fscore: f64) {
        let b = x as usize + HDR + 2 * i;
        self.arena[b] = forward as u64 | ((span as u64) << 32);
        self.arena[b + 1] = fscore.to_bits();
    }

    fn set_span(&mut self, x: u32, i: usize, span: u32) {
        let w = &mut self.arena[x as usize + HDR + 2 * i];
        *w = (*w & 0xFFFF_FFFF) | ((span as u64) << 32);
    }

    #[inline]
    fn fwd(&self, x: u32, i: usize) -> u32 {
        self.lvl(x, i).0
    }

    /// Whether the node after `x` at level `i` orders before (score, ele).
    #[inline]
    fn next_is_less(&self, x: u32, i: usize, score: f64, ele: &[u8]) -> bool {
        let (f, _) = self.lvl(x, i);
        if f == NIL {
            return false;
        }
        let fs = self.fscore(x, i);
        fs < score || (fs == score && self.ele(f) < ele)
    }

    /// Whether the node after `x` at level `i` orders before or is (score, ele).
    #[inline]
    fn next_is_less_or_eq(&self, x: u32, i: usize, score: f64, ele: &[u8]) -> bool {
        let (f, _) = self.lvl(x, i);
        if f == NIL {
            return false;
        }
        let fs = self.fscore(x, i);
        fs < score || (fs == score && self.ele(f) <= ele)
    }

    /// Insert a member known to be absent. The list keeps the reference `member`, not a copy.
    ///
    /// # Safety
    /// The key `member` refers to must stay valid and unchanged until the member is deleted
    /// from the list (or the list is dropped). The sorted set passes its hash table's own key.
    pub unsafe fn insert(&mut self, score: f64, member: KeyRef) {
        // SAFETY: per the contract the key is alive.
        let ele = unsafe { member.bytes() };
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0u32; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            while self.next_is_less(x, i, score, ele) {
                rank[i] += self.lvl(x, i).1;
                x = self.fwd(x, i);
            }
            update[i] = x;
        }
        let lvl = self.random_level();
        if lvl > self.level {
            for i in self.level..lvl {
                rank[i] = 0;
                update[i] = HEAD;
                let (f, _) = self.lvl(HEAD, i);
                let fs = self.fscore(HEAD, i);
                self.set_lvl(HEAD, i, f, self.len as u32, fs);
            }
            self.level = lvl;
        }
        let nx = self.alloc_record(lvl);
        self.arena[nx as usize] = score.to_bits();
        self.arena[nx as usize + 2] = member.to_bits();
        for i in 0..lvl {
            let u = update[i];
            let (uf, us) = self.lvl(u, i);
            let ufs = self.fscore(u, i);
            self.set_lvl(nx, i, uf, us - (rank[0] - rank[i]), ufs);
            self.set_lvl(u, i, nx, (rank[0] - rank[i]) + 1, score);
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(lvl) {
            let (_, sp) = self.lvl(u, i);
            self.set_span(u, i, sp + 1);
        }
        self.set_backward(nx, if update[0] == HEAD { NIL } else { update[0] });
        let f = self.fwd(nx, 0);
        if f != NIL {
            self.set_backward(f, nx);
        } else {
            self.tail = nx;
        }
        self.len += 1;
    }

    fn unlink(&mut self, x: u32, update: &[u32; MAX_LEVEL]) {
        for (i, &u) in update.iter().enumerate().take(self.level) {
            let (uf, us) = self.lvl(u, i);
            if uf == x {
                let (xf, xs) = self.lvl(x, i);
                let xfs = self.fscore(x, i);
                self.set_lvl(u, i, xf, us + xs - 1, xfs);
            } else {
                self.set_span(u, i, us - 1);
            }
        }
        let f = self.fwd(x, 0);
        let b = self.backward(x);
        if f != NIL {
            self.set_backward(f, b);
        } else {
            self.tail = b;
        }
        while self.level > 1 && self.fwd(HEAD, self.level - 1) == NIL {
            self.level -= 1;
        }
        self.len -= 1;
        let h = self.height(x);
        self.free[h].push(x);
    }

    /// Delete the member with this score; false if absent.
    pub fn delete(&mut self, score: f64, ele: &[u8]) -> bool {
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            while self.next_is_less(x, i, score, ele) {
                x = self.fwd(x, i);
            }
            update[i] = x;
        }
        let f = self.fwd(x, 0);
        if f != NIL && self.score(f) == score && self.ele(f) == ele {
            self.unlink(f, &update);
            true
        } else {
            false
        }
    }

    /// 1-based rank of a member with this score (0 if absent).
    pub fn rank(&self, score: f64, ele: &[u8]) -> usize {
        let mut r = 0usize;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            while self.next_is_less_or_eq(x, i, score, ele) {
                r += self.lvl(x, i).1 as usize;
                x = self.fwd(x, i);
            }
            if x != HEAD && self.ele(x) == ele {
                return r;
            }
        }
        0
    }

    /// The node at 1-based `rank`.
    fn by_rank(&self, rank: usize) -> u32 {
        let mut t = 0usize;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let (f, sp) = self.lvl(x, i);
                if f != NIL && t + sp as usize <= rank {
                    t += sp as usize;
                    x = f;
                } else {
                    break;
                }
            }
            if t == rank {
                return x;
            }
        }
        NIL
    }

    /// Element at 0-based rank.
    pub fn get(&self, rank0: usize) -> Option<(&[u8], f64)> {
        if rank0 >= self.len {
            return None;
        }
        let x = self.by_rank(rank0 + 1);
        (x != NIL).then(|| (self.ele(x), self.score(x)))
    }

    /// Visit from 0-based `start`, forward or backward; `f` returns false to stop.
    pub fn walk(&self, start: usize, rev: bool, mut f: impl FnMut(&[u8], f64) -> bool) {
        if start >= self.len {
            return;
        }
        let mut x = self.by_rank(start + 1);
        while x != NIL && x != HEAD {
            if !f(self.ele(x), self.score(x)) {
                return;
            }
            x = if rev {
                self.backward(x)
            } else {
                self.fwd(x, 0)
            };
        }
    }

    /// 0-based rank of the first element with score in range (from the low end), if any.
    pub fn first_in_score(&self, r: &ScoreRange) -> Option<usize> {
        let mut x = HEAD;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let (f, sp) = self.lvl(x, i);
                if f != NIL && !r.gte_min(self.fscore(x, i)) {
                    rank += sp as usize;
                    x = f;
                } else {
                    break;
                }
            }
        }
        let f = self.fwd(x, 0);
        (f != NIL && r.lte_max(self.score(f))).then_some(rank)
    }

    /// 0-based rank of the last element with score in range.
    pub fn last_in_score(&self, r: &ScoreRange) -> Option<usize> {
        let mut x = HEAD;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let (f, sp) = self.lvl(x, i);
                if f != NIL && r.lte_max(self.fscore(x, i)) {
                    rank += sp as usize;
                    x = f;
                } else {
                    break;
                }
            }
        }
        (x != HEAD && r.gte_min(self.score(x))).then(|| rank - 1)
    }

    pub fn first_in_lex(&self, r: &LexRange) -> Option<usize> {
        let mut x = HEAD;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let (f, sp) = self.lvl(x, i);
                if f != NIL && !r.gte_min(self.ele(f)) {
                    rank += sp as usize;
                    x = f;
                } else {
                    break;
                }
            }
        }
        let f = self.fwd(x, 0);
        (f != NIL && r.lte_max(self.ele(f))).then_some(rank)
    }

    pub fn last_in_lex(&self, r: &LexRange) -> Option<usize> {
        let mut x = HEAD;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let (f, sp) = self.lvl(x, i);
                if f != NIL && r.lte_max(self.ele(f)) {
                    rank += sp as usize;
                    x = f;
                } else {
                    break;
                }
            }
        }
        (x != HEAD && r.gte_min(self.ele(x))).then(|| rank - 1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        let mut x = self.fwd(HEAD, 0);
        std::iter::from_fn(move || {
            if x == NIL {
                return None;
            }
            let item = (self.ele(x), self.score(x));
            x = self.fwd(x, 0);
            Some(item)
        })
    }

    pub fn alloc_size(&self) -> usize {
        self.arena.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_and_ranges_against_model() {
        let mut sl = SkipList::new();
        let mut model: Vec<(f64, Vec<u8>)> = Vec::new();
        // The list refers to member bytes: keep every inserted member alive for the test.
        let mut keep: Vec<Box<[u8]>> = Vec::new();
        let mut rng = crate::db::Rng::from_seed(11);
        for _ in 0..3000 {
            let r = rng.next_u64();
            let ele = format!("m{}", r % 500).into_bytes();
            let score = ((r >> 20) % 50) as f64;
            if let Some(pos) = model.iter().position(|(_, e)| *e == ele) {
                let (s, _) = model.remove(pos);
                assert!(sl.delete(s, &ele));
            } else {
                let owned = KeyRef::encode(&ele);
                // SAFETY: `owned` moves into `keep`, which outlives `sl`; its heap bytes do not
                // move.
                unsafe { sl.insert(score, KeyRef::of_encoded(&owned)) };
                keep.push(owned);
                model.push((score, ele));
            }
            model.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap().then(a.1.cmp(&b.1)));
        }
        assert_eq!(sl.len(), model.len());
        let got: Vec<(f64, Vec<u8>)> = sl.iter().map(|(e, s)| (s, e.to_vec())).collect();
        assert_eq!(got, model);
        for (i, (s, e)) in model.iter().enumerate() {
            assert_eq!(sl.rank(*s, e), i + 1);
            assert_eq!(sl.get(i).map(|(e, _)| e.to_vec()), Some(e.clone()));
        }
        let r = ScoreRange {
            min: 10.0,
            max: 20.0,
            minex: true,
            maxex: false,
        };
        let first = model.iter().position(|(s, _)| r.contains(*s));
        let last = model.iter().rposition(|(s, _)| r.contains(*s));
        assert_eq!(sl.first_in_score(&r), first);
        assert_eq!(sl.last_in_score(&r), last);
        let mut back = Vec::new();
        sl.walk(model.len() - 1, true, |e, _| {
            back.push(e.to_vec());
            true
        });
        assert_eq!(back.len(), model.len());
    }
}
