//! Redis's intset, byte for byte: encoding width u32 LE (2, 4 or 8), length u32 LE, then the
//! sorted integers little-endian at that width. A set of integers stays in this form up to
//! `set-max-intset-entries`; RDB stores it as is.

use crate::alloc::heap::{HeapBytes, heap_bytes, insert_gap, push_bytes, remove_range};

const HDR: usize = 8;

#[derive(Clone, Debug, PartialEq)]
pub struct IntSet {
    buf: HeapBytes,
}

impl Default for IntSet {
    fn default() -> Self {
        Self::new()
    }
}

fn width_for(v: i64) -> usize {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

impl IntSet {
    pub fn new() -> IntSet {
        let mut buf = heap_bytes(HDR);
        buf.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 0]);
        IntSet { buf }
    }

    /// An intset from serialized bytes, checked (sorted, unique, sizes consistent).
    pub fn from_bytes(b: &[u8]) -> Option<IntSet> {
        if b.len() < HDR {
            return None;
        }
        let w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let n = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
        if !matches!(w, 2 | 4 | 8) || b.len() != HDR + w * n {
            return None;
        }
        let mut buf = heap_bytes(b.len());
        push_bytes(&mut buf, b);
        let s = IntSet { buf };
        for i in 1..n {
            if s.get(i - 1) >= s.get(i) {
                return None;
            }
        }
        Some(s)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn alloc_size(&self) -> usize {
        self.buf.capacity()
    }

    fn width(&self) -> usize {
        self.buf[0] as usize
    }

    pub fn len(&self) -> usize {
        u32::from_le_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn set_len(&mut self, n: usize) {
        self.buf[4..8].copy_from_slice(&(n as u32).to_le_bytes());
    }

    pub fn get(&self, i: usize) -> i64 {
        let w = self.width();
        let p = &self.buf[HDR + i * w..HDR + (i + 1) * w];
        match w {
            2 => i16::from_le_bytes([p[0], p[1]]) as i64,
            4 => i32::from_le_bytes([p[0], p[1], p[2], p[3]]) as i64,
            _ => i64::from_le_bytes(p.try_into().unwrap_or([0; 8])),
        }
    }

    fn put(&mut self, i: usize, v: i64) {
        let w = self.width();
        let at = HDR + i * w;
        match w {
            2 => self.buf[at..at + 2].copy_from_slice(&(v as i16).to_le_bytes()),
            4 => self.buf[at..at + 4].copy_from_slice(&(v as i32).to_le_bytes()),
            _ => self.buf[at..at + 8].copy_from_slice(&v.to_le_bytes()),
        }
    }

    /// Binary search: Ok(index) if present, Err(insert position) if not.
    fn search(&self, v: i64) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0usize, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            let x = self.get(mid);
            if x == v {
                return Ok(mid);
            } else if x < v {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Err(lo)
    }

    pub fn contains(&self, v: i64) -> bool {
        width_for(v) <= self.width() && self.search(v).is_ok()
    }

    /// Add `v`; false if it was already there.
    pub fn insert(&mut self, v: i64) -> bool {
        let n = self.len();
        if width_for(v) > self.width() {
            // Upgrade: every element is re-encoded wider; the new value goes first or last.
            let old: Vec<i64> = (0..n).map(|i| self.get(i)).collect();
            let w = width_for(v);
            self.buf.truncate(HDR);
            self.buf[0..4].copy_from_slice(&(w as u32).to_le_bytes());
            self.buf.resize(HDR + (n + 1) * w, 0);
            let off = usize::from(v >= 0);
            let start = 1 - off;
            for (i, x) in old.into_iter().enumerate() {
                self.put(i + start, x);
            }
            self.put(if v < 0 { 0 } else { n }, v);
            self.set_len(n + 1);
            return true;
        }
        match self.search(v) {
            Ok(_) => false,
            Err(at) => {
                let w = self.width();
                insert_gap(&mut self.buf, HDR + at * w, w);
                self.put(at, v);
                self.set_len(n + 1);
                true
            }
        }
    }

    pub fn remove(&mut self, v: i64) -> bool {
        if width_for(v) > self.width() {
            return false;
        }
        match self.search(v) {
            Ok(at) => {
                let w = self.width();
                remove_range(&mut self.buf, HDR + at * w, HDR + (at + 1) * w);
                let n = self.len();
                self.set_len(n - 1);
                true
            }
            Err(_) => false,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upgrade_and_order() {
        let mut s = IntSet::new();
        for v in [5, -3, 100, 5] {
            s.insert(v);
        }
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![-3, 5, 100]);
        assert_eq!(s.as_bytes()[0], 2);
        s.insert(1 << 40);
        assert_eq!(s.as_bytes()[0], 8);
        s.insert(-(1 << 20));
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            vec![-(1 << 20), -3, 5, 100, 1 << 40]
        );
        assert!(s.remove(5));
        assert!(!s.remove(5));
        assert!(s.contains(100) && !s.contains(101));
        assert!(IntSet::from_bytes(s.as_bytes()).is_some());
        // Redis's layout for {1, 2} at 16 bits.
        let mut t = IntSet::new();
        t.insert(2);
        t.insert(1);
        assert_eq!(t.as_bytes(), &[2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 2, 0]);
    }
}
