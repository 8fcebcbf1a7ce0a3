//! Hashes: a listpack of field, value pairs while small (`hash-max-listpack-entries`,
//! `hash-max-listpack-value`), a hash table past either limit, never back (as Redis 7.0).

use crate::alloc::heap::{HeapBox, heap_box};

use super::listpack::Listpack;
use crate::db::KeyHasher;

pub enum HashValue {
    Listpack(Listpack),
    Table(Box<super::ValueDict<HeapBox>>),
}

/// Thresholds read from the config at the time of a write.
#[derive(Clone, Copy, Debug)]
pub struct HashLimits {
    pub max_entries: usize,
    pub max_value: usize,
}

impl Clone for HashValue {
    fn clone(&self) -> Self {
        match self {
            HashValue::Listpack(lp) => HashValue::Listpack(lp.clone()),
            HashValue::Table(d) => {
                let mut n = super::value_dict(d.hasher());
                d.for_each(|k, v| n.insert_new(k, v.clone()));
                HashValue::Table(Box::new(n))
            }
        }
    }
}

impl std::fmt::Debug for HashValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HashValue({} fields)", self.len())
    }
}

impl PartialEq for HashValue {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && {
            let mut same = true;
            self.for_each(|k, v| {
                if other.get(k).as_deref() != Some(v) {
                    same = false;
                }
            });
            same
        }
    }
}

impl HashValue {
    pub fn new() -> HashValue {
        HashValue::Listpack(Listpack::new())
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            HashValue::Listpack(_) => "listpack",
            HashValue::Table(_) => "hashtable",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            HashValue::Listpack(lp) => lp.len() / 2,
            HashValue::Table(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lp_find(lp: &Listpack, field: &[u8]) -> Option<usize> {
        lp.find(lp.first(), field, 1)
    }

    pub fn get(&self, field: &[u8]) -> Option<Vec<u8>> {
        match self {
            HashValue::Listpack(lp) => {
                let p = Self::lp_find(lp, field)?;
                lp.next(p).map(|v| lp.get(v).to_vec())
            }
            HashValue::Table(d) => d.get(field).map(|v| v.to_vec()),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        match self {
            HashValue::Listpack(lp) => Self::lp_find(lp, field).is_some(),
            HashValue::Table(d) => d.contains(field),
        }
    }

    /// Convert to a table if adding these lengths would pass the value limit (Redis's
    /// hashTypeTryConversion, applied before the write).
    pub fn convert_for_lengths(
        &mut self,
        lens: impl Iterator<Item = usize>,
        lim: HashLimits,
        hasher: &KeyHasher,
    ) {
        if let HashValue::Listpack(_) = self {
            for l in lens {
                if l > lim.max_value {
                    self.convert_to_table(hasher);
                    return;
                }
            }
        }
    }

    pub fn convert_to_table(&mut self, hasher: &KeyHasher) {
        if let HashValue::Listpack(lp) = self {
            let mut d: super::ValueDict<HeapBox> = super::value_dict(hasher);
            let mut it = lp.iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                d.insert_new(&k.to_vec(), heap_box(&v.to_vec()));
            }
            *self = HashValue::Table(Box::new(d));
        }
    }

    /// Set a field; returns true if it was new.
    pub fn set(&mut self, field: &[u8], value: &[u8], lim: HashLimits, hasher: &KeyHasher) -> bool {
        let new = match self {
            HashValue::Listpack(lp) => match Self::lp_find(lp, field) {
                Some(p) => {
                    let vp = lp.next(p).expect("value follows field");
                    lp.replace(vp, value);
                    false
                }
                None => {
                    lp.push_back(field);
                    lp.push_back(value);
                    true
                }
            },
            HashValue::Table(d) => d.insert(field, heap_box(value)).is_none(),
        };
        if let HashValue::Listpack(lp) = self
            && lp.len() / 2 > lim.max_entries
        {
            self.convert_to_table(hasher);
        }
        new
    }

    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            HashValue::Listpack(lp) => match Self::lp_find(lp, field) {
                Some(p) => {
                    lp.delete_n(p, 2);
                    true
                }
                None => false,
            },
            HashValue::Table(d) => {
                let r = d.remove(field).is_some();
                if r {
                    d.shrink_if_sparse();
                }
                r
            }
        }
    }

    pub fn for_each(&self, mut f: impl FnMut(&[u8], &[u8])) {
        match self {
            HashValue::Listpack(lp) => {
                let mut it = lp.iter();
                let mut kb = Vec::new();
                let mut vb = Vec::new();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    kb.clear();
                    vb.clear();
                    k.write_to(&mut kb);
                    v.write_to(&mut vb);
                    f(&kb, &vb);
                }
            }
            HashValue::Table(d) => d.for_each(|k, v| f(k, v)),
        }
    }

    pub fn alloc_size(&self) -> usize {
        match self {
            HashValue::Listpack(lp) => lp.alloc_size(),
            HashValue::Table(d) => {
                let mut n = d.slots() * 8;
                d.for_each(|k, v| n += 48 + k.len() + v.len());
                n
            }
        }
    }
}

impl Default for HashValue {
    fn default() -> Self {
        Self::new()
    }
}
