//! Sorted sets: a listpack of member, score pairs in order while small
//! (`zset-max-listpack-entries`, `zset-max-listpack-value`), else a hash table from member to
//! score plus a skiplist for order (Redis's zset).

use super::listpack::{Listpack, LpVal};
use super::skiplist::{LexRange, ScoreRange, SkipList};
use crate::db::KeyHasher;

/// A large sorted set. The skiplist refers to the member bytes the dict owns, so a member is
/// always deleted from the skiplist before it leaves the dict.
pub struct ZSkip {
    pub dict: super::ValueDict<f64>,
    pub sl: SkipList,
}

impl ZSkip {
    /// Add a member known to be absent.
    fn add(&mut self, m: &[u8], score: f64) {
        self.dict.insert_new(m, score);
        let (key, _) = self.dict.get_key_ref_mut(m).expect("just inserted");
        // SAFETY: `key` is the dict's own allocation for this member: it stays put until the
        // member is removed, and every removal deletes it from the skiplist first.
        unsafe { self.sl.insert(score, key) };
    }

    /// Change an existing member's score.
    fn rescore(&mut self, m: &[u8], old: f64, new: f64) {
        self.sl.delete(old, m);
        if let Some((key, s)) = self.dict.get_key_ref_mut(m) {
            *s = new;
            // SAFETY: as in `add`.
            unsafe { self.sl.insert(new, key) };
        }
    }

    /// Remove a member; its score if it was there.
    fn take(&mut self, m: &[u8]) -> Option<f64> {
        let s = *self.dict.get(m)?;
        self.sl.delete(s, m);
        self.dict.remove(m);
        self.dict.shrink_if_sparse();
        Some(s)
    }
}

pub enum ZsetValue {
    Listpack(Listpack),
    Skip(Box<ZSkip>),
}

#[derive(Clone, Copy, Debug)]
pub struct ZsetLimits {
    pub max_entries: usize,
    pub max_value: usize,
}

/// Redis's double2ll: the integer a double equals exactly, within ±LLONG_MAX/2.
fn double2ll(v: f64) -> Option<i64> {
    let half = (i64::MAX / 2) as f64;
    if !(-half..=half).contains(&v) {
        return None;
    }
    let l = v as i64;
    (l as f64 == v).then_some(l)
}

/// Redis's d2string (ZSCAN scores): signed zero kept, integral values as integers.
pub fn d2string(v: f64) -> Vec<u8> {
    if v.is_infinite() {
        return if v > 0.0 {
            b"inf".to_vec()
        } else {
            b"-inf".to_vec()
        };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            b"-0".to_vec()
        } else {
            b"0".to_vec()
        };
    }
    if let Some(l) = double2ll(v) {
        return crate::types::listpack::itoa(l);
    }
    crate::resp::writer::fmt_g17(v).into_bytes()
}

/// How a score is written into a listpack (zzlInsertAt): an integer when the double is one
/// (so -0 is stored as 0), else d2string.
fn lp_score_bytes(v: f64) -> Vec<u8> {
    match double2ll(v) {
        Some(l) => crate::types::listpack::itoa(l),
        None => d2string(v),
    }
}

fn lp_score(v: LpVal<'_>) -> f64 {
    match v {
        LpVal::Int(i) => i as f64,
        LpVal::Str(s) => crate::cmd::parse_f64(s).unwrap_or(0.0),
    }
}

fn lp_member_cmp(v: LpVal<'_>, m: &[u8]) -> std::cmp::Ordering {
    match v {
        LpVal::Str(s) => s.cmp(m),
        LpVal::Int(i) => crate::types::listpack::itoa(i).as_slice().cmp(m),
    }
}

impl Clone for ZsetValue {
    fn clone(&self) -> Self {
        match self {
            ZsetValue::Listpack(lp) => ZsetValue::Listpack(lp.clone()),
            ZsetValue::Skip(z) => {
                let mut c = ZSkip {
                    dict: super::value_dict(z.dict.hasher()),
                    sl: SkipList::new(),
                };
                for (m, s) in z.sl.iter() {
                    c.add(m, s);
                }
                ZsetValue::Skip(Box::new(c))
            }
        }
    }
}

impl std::fmt::Debug for ZsetValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ZsetValue({} members)", self.len())
    }
}

impl PartialEq for ZsetValue {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && {
            let mut a = Vec::new();
            let mut b = Vec::new();
            self.for_each(|m, s| a.push((m.to_vec(), s)));
            other.for_each(|m, s| b.push((m.to_vec(), s)));
            a == b
        }
    }
}

impl ZsetValue {
    pub fn new_listpack() -> ZsetValue {
        ZsetValue::Listpack(Listpack::new())
    }

    pub fn new_skiplist(hasher: &KeyHasher) -> ZsetValue {
        ZsetValue::Skip(Box::new(ZSkip {
            dict: super::value_dict(hasher),
            sl: SkipList::new(),
        }))
    }

    /// An empty set for `n` elements whose longest member is `maxlen` bytes.
    pub fn with_hint(n: usize, maxlen: usize, lim: ZsetLimits, hasher: &KeyHasher) -> ZsetValue {
        if n > lim.max_entries || maxlen > lim.max_value || lim.max_entries == 0 {
            Self::new_skiplist(hasher)
        } else {
            Self::new_listpack()
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            ZsetValue::Listpack(_) => "listpack",
            ZsetValue::Skip(_) => "skiplist",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ZsetValue::Listpack(lp) => lp.len() / 2,
            ZsetValue::Skip(z) => z.sl.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lp_find(lp: &Listpack, m: &[u8]) -> Option<usize> {
        lp.find(lp.first(), m, 1)
    }

    pub fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            ZsetValue::Listpack(lp) => {
                let p = Self::lp_find(lp, m)?;
                lp.next(p).map(|s| lp_score(lp.get(s)))
            }
            ZsetValue::Skip(z) => z.dict.get(m).copied(),
        }
    }

    fn lp_insert(lp: &mut Listpack, m: &[u8], score: f64) {
        let mut p = lp.first();
        while let Some(q) = p {
            let sp = lp.next(q).expect("score follows member");
            let s = lp_score(lp.get(sp));
            if s > score || (s == score && lp_member_cmp(lp.get(q), m).is_gt()) {
                let sc = lp_score_bytes(score);
                lp.insert_at(q, m);
                let after = lp.next(q).expect("just inserted");
                lp.insert_at(after, &sc);
                return;
            }
            p = lp.next(sp);
        }
        lp.push_back(m);
        lp.push_back(&lp_score_bytes(score));
    }

    pub fn to_skiplist(&mut self, hasher: &KeyHasher) {
        if let ZsetValue::Listpack(lp) = self {
            let mut z = ZSkip {
                dict: super::value_dict(hasher),
                sl: SkipList::new(),
            };
            let mut it = lp.iter();
            while let (Some(m), Some(s)) = (it.next(), it.next()) {
                z.add(&m.to_vec(), lp_score(s));
            }
            *self = ZsetValue::Skip(Box::new(z));
        }
    }

    /// Back to a listpack if small enough (results of store commands).
    pub fn maybe_to_listpack(&mut self, lim: ZsetLimits) {
        if let ZsetValue::Skip(z) = self
            && z.sl.len() <= lim.max_entries
        {
            let mut maxlen = 0;
            for (m, _) in z.sl.iter() {
                maxlen = maxlen.max(m.len());
            }
            if maxlen <= lim.max_value {
                let mut lp = Listpack::new();
                for (m, s) in z.sl.iter() {
                    lp.push_back(m);
                    lp.push_back(&lp_score_bytes(s));
                }
                *self = ZsetValue::Listpack(lp);
            }
        }
    }

    /// Insert a member known to be absent, converting first when limits require.
    pub fn insert(&mut self, m: &[u8], score: f64, lim: ZsetLimits, hasher: &KeyHasher) {
        if let ZsetValue::Listpack(lp) = self
            && (lp.len() / 2 + 1 > lim.max_entries || m.len() > lim.max_value)
        {
            self.to_skiplist(hasher);
        }
        match self {
            ZsetValue::Listpack(lp) => Self::lp_insert(lp, m, score),
            ZsetValue::Skip(z) => z.add(m, score),
        }
    }

    /// One lookup of `m`: if present, `decide(old)` returns its new score (None: unchanged),
    /// applied at once. Returns the old score, None if `m` is absent.
    pub fn modify(&mut self, m: &[u8], decide: impl FnOnce(f64) -> Option<f64>) -> Option<f64> {
        match self {
            ZsetValue::Skip(z) => {
                let (key, s) = z.dict.get_key_ref_mut(m)?;
                let old = *s;
                if let Some(new) = decide(old)
                    && new != old
                {
                    *s = new;
                    z.sl.delete(old, m);
                    // SAFETY: `key` is the dict's own allocation for this member (see ZSkip).
                    unsafe { z.sl.insert(new, key) };
                }
                Some(old)
            }
            ZsetValue::Listpack(_) => {
                let old = self.score(m)?;
                if let Some(new) = decide(old)
                    && new != old
                {
                    self.update(m, old, new);
                }
                Some(old)
            }
        }
    }

    /// Change the score of an existing member.
    pub fn update(&mut self, m: &[u8], old: f64, new: f64) {
        match self {
            ZsetValue::Listpack(lp) => {
                if let Some(p) = Self::lp_find(lp, m) {
                    lp.delete_n(p, 2);
                }
                Self::lp_insert(lp, m, new);
            }
            ZsetValue::Skip(z) => z.rescore(m, old, new),
        }
    }

    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            ZsetValue::Listpack(lp) => match Self::lp_find(lp, m) {
                Some(p) => {
                    lp.delete_n(p, 2);
                    true
                }
                None => false,
            },
            ZsetValue::Skip(z) => z.take(m).is_some(),
        }
    }

    /// 0-based rank from the low end (or the high end when `rev`).
    pub fn rank(&self, m: &[u8], rev: bool) -> Option<usize> {
        let n = self.len();
        let r = match self {
            ZsetValue::Listpack(lp) => {
                let p = Self::lp_find(lp, m)?;
                let mut r = 0;
                let mut q = lp.first();
                while let Some(x) = q {
                    if x == p {
                        break;
                    }
                    r += 1;
                    q = lp.next(x).and_then(|s| lp.next(s));
                }
                r
            }
            ZsetValue::Skip(z) => {
                let s = *z.dict.get(m)?;
                z.sl.rank(s, m) - 1
            }
        };
        Some(if rev { n - 1 - r } else { r })
    }

    /// Visit members from 0-based rank `start` (counted from the low end), forward or
    /// backward; `f` returns false to stop.
    pub fn walk(&self, start: usize, rev: bool, mut f: impl FnMut(&[u8], f64) -> bool) {
        match self {
            ZsetValue::Listpack(lp) => {
                let mut p = lp.seek(2 * start as i64);
                let mut buf = Vec::new();
                while let Some(q) = p {
                    let sp = lp.next(q).expect("score follows member");
                    buf.clear();
                    lp.get(q).write_to(&mut buf);
                    if !f(&buf, lp_score(lp.get(sp))) {
                        return;
                    }
                    p = if rev {
                        lp.prev(q).and_then(|x| lp.prev(x))
                    } else {
                        lp.next(sp)
                    };
                }
            }
            ZsetValue::Skip(z) => z.sl.walk(start, rev, f),
        }
    }

    pub fn for_each(&self, mut f: impl FnMut(&[u8], f64)) {
        self.walk(0, false, |m, s| {
            f(m, s);
            true
        });
    }

    pub fn get_rank(&self, r: usize) -> Option<(Vec<u8>, f64)> {
        let mut out = None;
        self.walk(r, false, |m, s| {
            out = Some((m.to_vec(), s));
            false
        });
        out
    }

    /// Ranks (0-based from the low end) of the first and last members in a score range.
    pub fn score_span(&self, r: &ScoreRange) -> Option<(usize, usize)> {
        if r.is_empty() {
            return None;
        }
        match self {
            ZsetValue::Skip(z) => Some((z.sl.first_in_score(r)?, z.sl.last_in_score(r)?)),
            ZsetValue::Listpack(_) => {
                let mut first = None;
                let mut last = None;
                let mut i = 0;
                self.walk(0, false, |_, s| {
                    if r.contains(s) {
                        first.get_or_insert(i);
                        last = Some(i);
                    } else if !r.lte_max(s) {
                        return false;
                    }
                    i += 1;
                    true
                });
                Some((first?, last?))
            }
        }
    }

    pub fn lex_span(&self, r: &LexRange) -> Option<(usize, usize)> {
        if r.is_empty() {
            return None;
        }
        match self {
            ZsetValue::Skip(z) => Some((z.sl.first_in_lex(r)?, z.sl.last_in_lex(r)?)),
            ZsetValue::Listpack(_) => {
                let mut first = None;
                let mut last = None;
                let mut i = 0;
                self.walk(0, false, |m, _| {
                    if r.contains(m) {
                        first.get_or_insert(i);
                        last = Some(i);
                    } else if !r.lte_max(m) {
                        return false;
                    }
                    i += 1;
                    true
                });
                Some((first?, last?))
            }
        }
    }

    /// Remove ranks `start..=end` (0-based from the low end); returns how many.
    pub fn remove_rank_range(&mut self, start: usize, end: usize) -> usize {
        if start > end || start >= self.len() {
            return 0;
        }
        let end = end.min(self.len() - 1);
        let n = end - start + 1;
        match self {
            ZsetValue::Listpack(lp) => lp.delete_range(2 * start as i64, 2 * n),
            ZsetValue::Skip(_) => {
                let mut victims = Vec::with_capacity(n);
                self.walk(start, false, |m, _| {
                    victims.push(m.to_vec());
                    victims.len() < n
                });
                for m in victims {
                    self.remove(&m);
                }
            }
        }
        n
    }

    pub fn alloc_size(&self) -> usize {
        match self {
            ZsetValue::Listpack(lp) => lp.alloc_size(),
            ZsetValue::Skip(z) => {
                let mut n = z.dict.slots() * 8 + z.sl.alloc_size();
                z.dict.for_each(|k, _| n += 40 + k.len());
                n
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_as_redis_writes_them() {
        assert_eq!(d2string(1.0), b"1");
        assert_eq!(d2string(-0.0), b"-0");
        assert_eq!(d2string(1.5), b"1.5");
        assert_eq!(d2string(0.1), b"0.10000000000000001");
        assert_eq!(d2string(f64::NEG_INFINITY), b"-inf");
    }

    #[test]
    fn listpack_and_skiplist_agree() {
        let h = KeyHasher::default();
        let lim = ZsetLimits {
            max_entries: 1000,
            max_value: 64,
        };
        let mut a = ZsetValue::new_listpack();
        let mut b = ZsetValue::new_skiplist(&h);
        let mut rng = crate::db::Rng::from_seed(3);
        for _ in 0..600 {
            let r = rng.next_u64();
            let m = format!("{}", r % 90).into_bytes();
            let s = ((r >> 10) % 7) as f64 - 3.0;
            for z in [&mut a, &mut b] {
                match z.score(&m) {
                    Some(old) if r & 1 == 0 => z.update(&m, old, s),
                    Some(_) => {
                        z.remove(&m);
                    }
                    None => z.insert(&m, s, lim, &h),
                }
            }
        }
        assert_eq!(a, b);
        let r = ScoreRange {
            min: -1.0,
            max: 2.0,
            minex: false,
            maxex: true,
        };
        assert_eq!(a.score_span(&r), b.score_span(&r));
        let mut any = None;
        a.for_each(|m, _| any = Some(m.to_vec()));
        let m = any.unwrap();
        assert_eq!(a.rank(&m, true), b.rank(&m, true));
        assert_eq!(a.remove_rank_range(2, 5), b.remove_rank_range(2, 5));
        assert_eq!(a, b);
    }
}
