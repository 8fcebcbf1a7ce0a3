//! Sets: an intset while every member is an integer and there are at most
//! `set-max-intset-entries` of them, otherwise a hash table (Redis 7.0 has no listpack sets).

use super::intset::IntSet;
use crate::db::{KeyHasher, Rng};
use crate::resp::parse_i64;

pub enum SetValue {
    Ints(IntSet),
    Table(Box<super::ValueDict<()>>),
}

impl Clone for SetValue {
    fn clone(&self) -> Self {
        match self {
            SetValue::Ints(s) => SetValue::Ints(s.clone()),
            SetValue::Table(d) => {
                let mut n = super::value_dict(d.hasher());
                d.for_each(|k, _| n.insert_new(k, ()));
                SetValue::Table(Box::new(n))
            }
        }
    }
}

impl std::fmt::Debug for SetValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SetValue({} members)", self.len())
    }
}

impl PartialEq for SetValue {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && {
            let mut same = true;
            self.for_each(|m| same &= other.contains(m));
            same
        }
    }
}

fn as_int(m: &[u8]) -> Option<i64> {
    if m.len() <= 20 { parse_i64(m) } else { None }
}

impl SetValue {
    /// An empty set of the encoding Redis picks for a first member (setTypeCreate).
    pub fn for_member(m: &[u8], hasher: &KeyHasher) -> SetValue {
        if as_int(m).is_some() {
            SetValue::Ints(IntSet::new())
        } else {
            SetValue::Table(Box::new(super::value_dict(hasher)))
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            SetValue::Ints(_) => "intset",
            SetValue::Table(_) => "hashtable",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            SetValue::Ints(s) => s.len(),
            SetValue::Table(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        match self {
            SetValue::Ints(s) => as_int(m).is_some_and(|v| s.contains(v)),
            SetValue::Table(d) => d.contains(m),
        }
    }

    pub fn convert_to_table(&mut self, hasher: &KeyHasher) {
        if let SetValue::Ints(s) = self {
            let mut d = super::value_dict(hasher);
            for v in s.iter() {
                d.insert_new(&crate::types::listpack::itoa(v), ());
            }
            *self = SetValue::Table(Box::new(d));
        }
    }

    /// Add a member; true if it was new.
    pub fn add(&mut self, m: &[u8], max_intset: usize, hasher: &KeyHasher) -> bool {
        if let SetValue::Ints(s) = self {
            match as_int(m) {
                Some(v) => {
                    if !s.insert(v) {
                        return false;
                    }
                    if s.len() > max_intset {
                        self.convert_to_table(hasher);
                    }
                    return true;
                }
                None => self.convert_to_table(hasher),
            }
        }
        match self {
            SetValue::Table(d) => {
                if d.contains(m) {
                    false
                } else {
                    d.insert_new(m, ());
                    true
                }
            }
            SetValue::Ints(_) => unreachable!("converted above"),
        }
    }

    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            SetValue::Ints(s) => as_int(m).is_some_and(|v| s.remove(v)),
            SetValue::Table(d) => {
                let r = d.remove(m).is_some();
                if r {
                    d.shrink_if_sparse();
                }
                r
            }
        }
    }

    pub fn for_each(&self, mut f: impl FnMut(&[u8])) {
        match self {
            SetValue::Ints(s) => {
                for v in s.iter() {
                    f(&crate::types::listpack::itoa(v));
                }
            }
            SetValue::Table(d) => d.for_each(|k, _| f(k)),
        }
    }

    pub fn members(&self) -> Vec<Vec<u8>> {
        let mut v = Vec::with_capacity(self.len());
        self.for_each(|m| v.push(m.to_vec()));
        v
    }

    pub fn random(&self, rng: &mut Rng) -> Option<Vec<u8>> {
        match self {
            SetValue::Ints(s) => {
                let n = s.len();
                (n > 0).then(|| crate::types::listpack::itoa(s.get(rng.below(n as u64) as usize)))
            }
            SetValue::Table(d) => d.random_entry_ro(rng).map(|(k, _)| k.to_vec()),
        }
    }

    pub fn alloc_size(&self) -> usize {
        match self {
            SetValue::Ints(s) => s.alloc_size(),
            SetValue::Table(d) => {
                let mut n = d.slots() * 8;
                d.for_each(|k, _| n += 40 + k.len());
                n
            }
        }
    }
}
