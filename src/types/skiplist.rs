//! The ordered half of a large sorted set: Redis's skiplist (p = 1/4, at most 32 levels) with
//! spans, so ranks are O(log n). Nodes live in one vector and link by index; freed slots are
//! reused. Order is by score, then member bytes.

const MAX_LEVEL: usize = 32;
const NIL: u32 = u32::MAX;
const HEAD: u32 = 0;

#[derive(Clone, Copy, Debug, PartialEq)]
struct Level {
    forward: u32,
    span: u32,
}

#[derive(Clone, Debug, PartialEq)]
struct Node {
    ele: Box<[u8]>,
    score: f64,
    backward: u32,
    levels: Box<[Level]>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SkipList {
    nodes: Vec<Node>,
    free: Vec<u32>,
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

fn less(s1: f64, e1: &[u8], s2: f64, e2: &[u8]) -> bool {
    s1 < s2 || (s1 == s2 && e1 < e2)
}

impl Default for SkipList {
    fn default() -> Self {
        Self::new()
    }
}

impl SkipList {
    pub fn new() -> SkipList {
        let head = Node {
            ele: Box::default(),
            score: 0.0,
            backward: NIL,
            levels: vec![
                Level {
                    forward: NIL,
                    span: 0
                };
                MAX_LEVEL
            ]
            .into_boxed_slice(),
        };
        SkipList {
            nodes: vec![head],
            free: Vec::new(),
            tail: NIL,
            len: 0,
            level: 1,
            seed: 0x2545_F491_4F6C_DD1D,
        }
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

    fn fwd(&self, x: u32, i: usize) -> u32 {
        self.nodes[x as usize].levels[i].forward
    }

    fn node(&self, x: u32) -> &Node {
        &self.nodes[x as usize]
    }

    /// Insert a member known to be absent.
    pub fn insert(&mut self, score: f64, ele: &[u8]) {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0u32; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            loop {
                let f = self.fwd(x, i);
                if f != NIL && less(self.node(f).score, &self.node(f).ele, score, ele) {
                    rank[i] += self.nodes[x as usize].levels[i].span;
                    x = f;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        let lvl = self.random_level();
        if lvl > self.level {
            for i in self.level..lvl {
                rank[i] = 0;
                update[i] = HEAD;
                self.nodes[0].levels[i].span = self.len as u32;
            }
            self.level = lvl;
        }
        let node = Node {
            ele: ele.into(),
            score,
            backward: NIL,
            levels: vec![
                Level {
                    forward: NIL,
                    span: 0
                };
                lvl
            ]
            .into_boxed_slice(),
        };
        let nx = match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        for i in 0..lvl {
            let u = update[i] as usize;
            let ul = self.nodes[u].levels[i];
            self.nodes[nx as usize].levels[i] = Level {
                forward: ul.forward,
                span: ul.span - (rank[0] - rank[i]),
            };
            self.nodes[u].levels[i] = Level {
                forward: nx,
                span: (rank[0] - rank[i]) + 1,
            };
        }
        for (i, u) in update.iter().enumerate().take(self.level).skip(lvl) {
            self.nodes[*u as usize].levels[i].span += 1;
        }
        self.nodes[nx as usize].backward = if update[0] == HEAD { NIL } else { update[0] };
        let f = self.fwd(nx, 0);
        if f != NIL {
            self.nodes[f as usize].backward = nx;
        } else {
            self.tail = nx;
        }
        self.len += 1;
    }

    fn unlink(&mut self, x: u32, update: &[u32; MAX_LEVEL]) {
        for (i, &u) in update.iter().enumerate().take(self.level) {
            let u = u as usize;
            if self.nodes[u].levels[i].forward == x {
                self.nodes[u].levels[i].span += self.nodes[x as usize].levels[i].span;
                self.nodes[u].levels[i].span -= 1;
                self.nodes[u].levels[i].forward = self.nodes[x as usize].levels[i].forward;
            } else {
                self.nodes[u].levels[i].span -= 1;
            }
        }
        let f = self.fwd(x, 0);
        let b = self.node(x).backward;
        if f != NIL {
            self.nodes[f as usize].backward = b;
        } else {
            self.tail = b;
        }
        while self.level > 1 && self.nodes[0].levels[self.level - 1].forward == NIL {
            self.level -= 1;
        }
        self.len -= 1;
        self.nodes[x as usize].ele = Box::default();
        self.nodes[x as usize].levels = Box::default();
        self.free.push(x);
    }

    /// Delete the member with this score; false if absent.
    pub fn delete(&mut self, score: f64, ele: &[u8]) -> bool {
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f != NIL && less(self.node(f).score, &self.node(f).ele, score, ele) {
                    x = f;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        let f = self.fwd(x, 0);
        if f != NIL && self.node(f).score == score && &*self.node(f).ele == ele {
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
            loop {
                let f = self.fwd(x, i);
                if f != NIL
                    && (less(self.node(f).score, &self.node(f).ele, score, ele)
                        || (self.node(f).score == score && &*self.node(f).ele == ele))
                {
                    r += self.nodes[x as usize].levels[i].span as usize;
                    x = f;
                } else {
                    break;
                }
            }
            if x != HEAD && &*self.node(x).ele == ele {
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
                let f = self.fwd(x, i);
                let sp = self.nodes[x as usize].levels[i].span as usize;
                if f != NIL && t + sp <= rank {
                    t += sp;
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
        (x != NIL).then(|| (&*self.node(x).ele, self.node(x).score))
    }

    /// Visit from 0-based `start`, forward or backward, up to `n` elements; `f` returns false
    /// to stop.
    pub fn walk(&self, start: usize, rev: bool, mut f: impl FnMut(&[u8], f64) -> bool) {
        if start >= self.len {
            return;
        }
        let mut x = self.by_rank(start + 1);
        while x != NIL && x != HEAD {
            let n = self.node(x);
            if !f(&n.ele, n.score) {
                return;
            }
            x = if rev { n.backward } else { n.levels[0].forward };
        }
    }

    /// 0-based rank of the first element with score in range (from the low end), if any.
    pub fn first_in_score(&self, r: &ScoreRange) -> Option<usize> {
        let mut x = HEAD;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f != NIL && !r.gte_min(self.node(f).score) {
                    rank += self.nodes[x as usize].levels[i].span as usize;
                    x = f;
                } else {
                    break;
                }
            }
        }
        let f = self.fwd(x, 0);
        (f != NIL && r.lte_max(self.node(f).score)).then_some(rank)
    }

    /// 0-based rank of the last element with score in range.
    pub fn last_in_score(&self, r: &ScoreRange) -> Option<usize> {
        let mut x = HEAD;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f != NIL && r.lte_max(self.node(f).score) {
                    rank += self.nodes[x as usize].levels[i].span as usize;
                    x = f;
                } else {
                    break;
                }
            }
        }
        (x != HEAD && r.gte_min(self.node(x).score)).then(|| rank - 1)
    }

    pub fn first_in_lex(&self, r: &LexRange) -> Option<usize> {
        let mut x = HEAD;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f != NIL && !r.gte_min(&self.node(f).ele) {
                    rank += self.nodes[x as usize].levels[i].span as usize;
                    x = f;
                } else {
                    break;
                }
            }
        }
        let f = self.fwd(x, 0);
        (f != NIL && r.lte_max(&self.node(f).ele)).then_some(rank)
    }

    pub fn last_in_lex(&self, r: &LexRange) -> Option<usize> {
        let mut x = HEAD;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f != NIL && r.lte_max(&self.node(f).ele) {
                    rank += self.nodes[x as usize].levels[i].span as usize;
                    x = f;
                } else {
                    break;
                }
            }
        }
        (x != HEAD && r.gte_min(&self.node(x).ele)).then(|| rank - 1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        let mut x = self.fwd(HEAD, 0);
        std::iter::from_fn(move || {
            if x == NIL {
                return None;
            }
            let n = self.node(x);
            x = n.levels[0].forward;
            Some((&*n.ele, n.score))
        })
    }

    pub fn alloc_size(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self
                .nodes
                .iter()
                .map(|n| n.ele.len() + n.levels.len() * 8)
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_and_ranges_against_model() {
        let mut sl = SkipList::new();
        let mut model: Vec<(f64, Vec<u8>)> = Vec::new();
        let mut rng = crate::db::Rng::from_seed(11);
        for _ in 0..3000 {
            let r = rng.next_u64();
            let ele = format!("m{}", r % 500).into_bytes();
            let score = ((r >> 20) % 50) as f64;
            if let Some(pos) = model.iter().position(|(_, e)| *e == ele) {
                let (s, _) = model.remove(pos);
                assert!(sl.delete(s, &ele));
            } else {
                sl.insert(score, &ele);
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
