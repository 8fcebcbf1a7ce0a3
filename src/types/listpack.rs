//! Redis's listpack, byte for byte: a 6-byte header (total bytes u32 LE, element count u16 LE,
//! 65535 meaning "count by scanning"), entries, and a 0xFF terminator. Each entry is an encoding
//! byte (small ints and short strings inline), its data, and a backward length so the pack can
//! be walked from either end. Lists' quicklist nodes, small hashes and small sorted sets use it,
//! and RDB stores it as is.
//!
//! Positions are byte offsets of entries. Strings that are canonical integers are stored as
//! integers, as Redis does (so `OBJECT ENCODING` thresholds and memory match).

use crate::alloc::heap::{HeapBytes, heap_bytes, insert_gap, push_bytes, remove_range};
use crate::resp::parse_i64;

pub const HDR: usize = 6;
const EOF: u8 = 0xFF;
const COUNT_UNKNOWN: u16 = u16::MAX;

/// One entry's value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LpVal<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl LpVal<'_> {
    pub fn to_vec(self) -> Vec<u8> {
        match self {
            LpVal::Str(s) => s.to_vec(),
            LpVal::Int(v) => itoa(v),
        }
    }

    /// Append the value's bytes to `out`.
    pub fn write_to(self, out: &mut Vec<u8>) {
        match self {
            LpVal::Str(s) => out.extend_from_slice(s),
            LpVal::Int(v) => out.extend_from_slice(&itoa(v)),
        }
    }

    pub fn len(self) -> usize {
        match self {
            LpVal::Str(s) => s.len(),
            LpVal::Int(v) => itoa(v).len(),
        }
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// Whether the value equals the string `b` (an integer entry equals its canonical digits).
    pub fn eq_bytes(self, b: &[u8]) -> bool {
        match self {
            LpVal::Str(s) => s == b,
            LpVal::Int(v) => b.len() <= 20 && parse_i64(b) == Some(v),
        }
    }

    pub fn as_i64(self) -> Option<i64> {
        match self {
            LpVal::Int(v) => Some(v),
            LpVal::Str(s) => parse_i64(s),
        }
    }
}

pub fn itoa(v: i64) -> Vec<u8> {
    crate::resp::writer::itoa_buf(v).as_bytes().to_vec()
}

/// The encoded form of one entry (encoding + data + backlen), built on the stack for short
/// values.
pub struct Encoded {
    small: [u8; 32],
    big: Vec<u8>,
    len: usize,
}

impl Encoded {
    pub fn bytes(&self) -> &[u8] {
        if self.big.is_empty() {
            &self.small[..self.len]
        } else {
            &self.big
        }
    }
}

fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

fn put_backlen(out: &mut [u8], l: usize) -> usize {
    let n = backlen_size(l);
    // First byte holds the highest 7 bits (no continuation flag); the rest carry 0x80.
    for (i, b) in out.iter_mut().take(n).enumerate() {
        let shift = 7 * (n - 1 - i);
        let bits = ((l >> shift) & 127) as u8;
        *b = if i == 0 { bits } else { bits | 128 };
    }
    n
}

/// Encode a value given as a string (stored as an integer when it is a canonical one).
pub fn encode(s: &[u8]) -> Encoded {
    if s.len() <= 20
        && let Some(v) = parse_i64(s)
    {
        return encode_int(v);
    }
    encode_str(s)
}

pub fn encode_int(v: i64) -> Encoded {
    let mut e = Encoded {
        small: [0; 32],
        big: Vec::new(),
        len: 0,
    };
    let n = if (0..=127).contains(&v) {
        e.small[0] = v as u8;
        1
    } else if (-4096..=4095).contains(&v) {
        let u = (v as u64) & 0x1FFF;
        e.small[0] = 0xC0 | (u >> 8) as u8;
        e.small[1] = u as u8;
        2
    } else if (-32768..=32767).contains(&v) {
        e.small[0] = 0xF1;
        e.small[1..3].copy_from_slice(&(v as i16).to_le_bytes());
        3
    } else if (-8388608..=8388607).contains(&v) {
        e.small[0] = 0xF2;
        e.small[1..4].copy_from_slice(&(v as i32).to_le_bytes()[..3]);
        4
    } else if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
        e.small[0] = 0xF3;
        e.small[1..5].copy_from_slice(&(v as i32).to_le_bytes());
        5
    } else {
        e.small[0] = 0xF4;
        e.small[1..9].copy_from_slice(&v.to_le_bytes());
        9
    };
    let b = put_backlen(&mut e.small[n..], n);
    e.len = n + b;
    e
}

pub fn encode_str(s: &[u8]) -> Encoded {
    let l = s.len();
    let hdr = if l < 64 {
        1
    } else if l < 4096 {
        2
    } else {
        5
    };
    let enc_len = hdr + l;
    let total = enc_len + backlen_size(enc_len);
    let mut e = Encoded {
        small: [0; 32],
        big: Vec::new(),
        len: total,
    };
    let buf: &mut [u8] = if total <= 32 {
        &mut e.small[..]
    } else {
        e.big.resize(total, 0);
        &mut e.big[..]
    };
    match hdr {
        1 => buf[0] = 0x80 | l as u8,
        2 => {
            buf[0] = 0xE0 | (l >> 8) as u8;
            buf[1] = l as u8;
        }
        _ => {
            buf[0] = 0xF0;
            buf[1..5].copy_from_slice(&(l as u32).to_le_bytes());
        }
    }
    buf[hdr..hdr + l].copy_from_slice(s);
    put_backlen(&mut buf[enc_len..], enc_len);
    e
}

/// Size of the encoding byte(s) + data of the entry starting with `b`.
fn enc_len(p: &[u8]) -> usize {
    let b = p[0];
    if b < 0x80 {
        1
    } else if b < 0xC0 {
        1 + (b & 0x3F) as usize
    } else if b < 0xE0 {
        2
    } else if b < 0xF0 {
        2 + (((b & 0x0F) as usize) << 8 | p[1] as usize)
    } else {
        match b {
            0xF0 => 5 + u32::from_le_bytes([p[1], p[2], p[3], p[4]]) as usize,
            0xF1 => 3,
            0xF2 => 4,
            0xF3 => 5,
            0xF4 => 9,
            _ => 1,
        }
    }
}

fn decode(p: &[u8]) -> LpVal<'_> {
    let b = p[0];
    if b < 0x80 {
        LpVal::Int(b as i64)
    } else if b < 0xC0 {
        let l = (b & 0x3F) as usize;
        LpVal::Str(&p[1..1 + l])
    } else if b < 0xE0 {
        let u = (((b & 0x1F) as i64) << 8) | p[1] as i64;
        LpVal::Int(if u >= 1 << 12 { u - (1 << 13) } else { u })
    } else if b < 0xF0 {
        let l = ((b & 0x0F) as usize) << 8 | p[1] as usize;
        LpVal::Str(&p[2..2 + l])
    } else {
        match b {
            0xF0 => {
                let l = u32::from_le_bytes([p[1], p[2], p[3], p[4]]) as usize;
                LpVal::Str(&p[5..5 + l])
            }
            0xF1 => LpVal::Int(i16::from_le_bytes([p[1], p[2]]) as i64),
            0xF2 => {
                let u = i32::from_le_bytes([0, p[1], p[2], p[3]]) >> 8;
                LpVal::Int(u as i64)
            }
            0xF3 => LpVal::Int(i32::from_le_bytes([p[1], p[2], p[3], p[4]]) as i64),
            _ => LpVal::Int(i64::from_le_bytes(p[1..9].try_into().unwrap_or([0; 8]))),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Listpack {
    buf: HeapBytes,
}

impl Default for Listpack {
    fn default() -> Self {
        Self::new()
    }
}

impl Listpack {
    pub fn new() -> Listpack {
        let mut buf = heap_bytes(HDR + 1);
        buf.extend_from_slice(&[(HDR + 1) as u8, 0, 0, 0, 0, 0, EOF]);
        Listpack { buf }
    }

    /// A listpack from serialized bytes, checked entry by entry (RDB loading, DEBUG).
    pub fn from_bytes(b: &[u8]) -> Option<Listpack> {
        if b.len() < HDR + 1 || b[b.len() - 1] != EOF {
            return None;
        }
        let total = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        if total != b.len() {
            return None;
        }
        let mut pos = HDR;
        let mut n = 0usize;
        while b[pos] != EOF {
            if b[pos] >= 0xF5 {
                return None;
            }
            let need = match b[pos] {
                0xF0 => 5,
                x if (0xE0..0xF0).contains(&x) || (0xC0..0xE0).contains(&x) => 2,
                _ => 1,
            };
            if pos + need >= b.len() {
                return None;
            }
            let el = enc_len(&b[pos..]);
            let end = pos + el + backlen_size(el);
            if end >= b.len() {
                return None;
            }
            // The back-length must be exactly what walking backwards will read.
            let mut bl = [0u8; 5];
            let n_bl = put_backlen(&mut bl, el);
            if b[pos + el..end] != bl[..n_bl] {
                return None;
            }
            pos = end;
            n += 1;
        }
        if pos != b.len() - 1 {
            return None;
        }
        let hdr_count = u16::from_le_bytes([b[4], b[5]]);
        if hdr_count != COUNT_UNKNOWN && hdr_count as usize != n {
            return None;
        }
        let mut buf = heap_bytes(b.len());
        push_bytes(&mut buf, b);
        Some(Listpack { buf })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Total bytes (lpBytes).
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// Heap bytes held (for memory estimates).
    pub fn alloc_size(&self) -> usize {
        self.buf.capacity()
    }

    pub fn len(&self) -> usize {
        let c = u16::from_le_bytes([self.buf[4], self.buf[5]]);
        if c != COUNT_UNKNOWN {
            return c as usize;
        }
        let mut n = 0;
        let mut p = self.first();
        while let Some(q) = p {
            n += 1;
            p = self.next(q);
        }
        n
    }

    pub fn is_empty(&self) -> bool {
        self.buf[HDR] == EOF
    }

    fn set_header(&mut self, count: usize) {
        let total = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        let c = if count >= COUNT_UNKNOWN as usize {
            COUNT_UNKNOWN
        } else {
            count as u16
        };
        self.buf[4..6].copy_from_slice(&c.to_le_bytes());
    }

    fn adjust_count(&mut self, delta: isize) {
        let c = u16::from_le_bytes([self.buf[4], self.buf[5]]);
        let n = if c == COUNT_UNKNOWN {
            // Recount after the change: the header is rewritten below with the true number.
            self.set_header(0);
            self.len_by_scan()
        } else {
            (c as isize + delta) as usize
        };
        self.set_header(n);
    }

    fn len_by_scan(&self) -> usize {
        let mut n = 0;
        let mut pos = HDR;
        while self.buf[pos] != EOF {
            let el = enc_len(&self.buf[pos..]);
            pos += el + backlen_size(el);
            n += 1;
        }
        n
    }

    pub fn first(&self) -> Option<usize> {
        (self.buf[HDR] != EOF).then_some(HDR)
    }

    pub fn last(&self) -> Option<usize> {
        self.prev(self.buf.len() - 1)
    }

    /// Size of the whole entry at `pos`.
    fn entry_size(&self, pos: usize) -> usize {
        let el = enc_len(&self.buf[pos..]);
        el + backlen_size(el)
    }

    pub fn next(&self, pos: usize) -> Option<usize> {
        let n = pos + self.entry_size(pos);
        (self.buf[n] != EOF).then_some(n)
    }

    /// The entry before `pos` (`pos` may be the terminator's offset).
    pub fn prev(&self, pos: usize) -> Option<usize> {
        if pos <= HDR {
            return None;
        }
        let mut p = pos - 1;
        let mut val = 0usize;
        let mut shift = 0;
        loop {
            let b = self.buf[p];
            val |= ((b & 127) as usize) << shift;
            if b & 128 == 0 {
                break;
            }
            shift += 7;
            p -= 1;
        }
        Some(pos - val - backlen_size(val))
    }

    pub fn get(&self, pos: usize) -> LpVal<'_> {
        decode(&self.buf[pos..])
    }

    /// Position of element `index` (negative counts from the end).
    pub fn seek(&self, index: i64) -> Option<usize> {
        if index >= 0 {
            let mut p = self.first();
            for _ in 0..index {
                p = self.next(p?);
            }
            p
        } else {
            let mut p = self.last();
            for _ in 0..(-index - 1) {
                p = self.prev(p?);
            }
            p
        }
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter {
            lp: self,
            pos: self.first(),
        }
    }

    pub fn push_back(&mut self, s: &[u8]) {
        let end = self.buf.len() - 1;
        self.insert_encoded(end, &encode(s));
    }

    /// Append an integer entry (stream records' flags, deltas and counts).
    pub fn push_int(&mut self, v: i64) {
        let end = self.buf.len() - 1;
        self.insert_encoded(end, &encode_int(v));
    }

    /// Replace the entry at `pos` with an integer.
    pub fn replace_int(&mut self, pos: usize, v: i64) {
        self.replace_encoded(pos, &encode_int(v));
    }

    pub fn push_front(&mut self, s: &[u8]) {
        self.insert_encoded(HDR, &encode(s));
    }

    /// Insert before the entry at `pos` (or at the end when `pos` is the terminator).
    pub fn insert_at(&mut self, pos: usize, s: &[u8]) {
        self.insert_encoded(pos, &encode(s));
    }

    fn insert_encoded(&mut self, pos: usize, e: &Encoded) {
        let b = e.bytes();
        insert_gap(&mut self.buf, pos, b.len());
        self.buf[pos..pos + b.len()].copy_from_slice(b);
        self.adjust_count(1);
    }

    /// Delete the entry at `pos`; returns the position of the entry that followed, if any.
    pub fn delete(&mut self, pos: usize) -> Option<usize> {
        let sz = self.entry_size(pos);
        remove_range(&mut self.buf, pos, pos + sz);
        self.adjust_count(-1);
        (self.buf[pos] != EOF).then_some(pos)
    }

    /// Delete `count` entries starting at the entry at `pos`.
    pub fn delete_n(&mut self, pos: usize, count: usize) {
        let mut end = pos;
        let mut n = 0;
        while n < count && self.buf[end] != EOF {
            end += self.entry_size(end);
            n += 1;
        }
        remove_range(&mut self.buf, pos, end);
        self.adjust_count(-(n as isize));
    }

    /// Delete elements `start..start+count` by index.
    pub fn delete_range(&mut self, start: i64, count: usize) {
        if let Some(p) = self.seek(start) {
            self.delete_n(p, count);
        }
    }

    /// Replace the entry at `pos` with `s`.
    pub fn replace(&mut self, pos: usize, s: &[u8]) {
        self.replace_encoded(pos, &encode(s));
    }

    fn replace_encoded(&mut self, pos: usize, e: &Encoded) {
        let b = e.bytes();
        let old = self.entry_size(pos);
        if b.len() > old {
            insert_gap(&mut self.buf, pos + old, b.len() - old);
        } else if b.len() < old {
            remove_range(&mut self.buf, pos + b.len(), pos + old);
        }
        self.buf[pos..pos + b.len()].copy_from_slice(b);
        let total = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
    }

    /// Find the entry equal to `s` starting at `pos`, looking at every `skip+1`-th entry
    /// (skip 1 visits only hash fields / zset members).
    pub fn find(&self, mut pos: Option<usize>, s: &[u8], skip: usize) -> Option<usize> {
        let as_int = if s.len() <= 20 { parse_i64(s) } else { None };
        while let Some(p) = pos {
            let hit = match self.get(p) {
                LpVal::Str(x) => as_int.is_none() && x == s,
                LpVal::Int(v) => as_int == Some(v),
            };
            if hit {
                return Some(p);
            }
            pos = self.next(p);
            for _ in 0..skip {
                match pos {
                    Some(q) => pos = self.next(q),
                    None => break,
                }
            }
        }
        None
    }

    /// Append every entry of `other` (quicklist node merge).
    pub fn append_all(&mut self, other: &Listpack) {
        let n = self.len() + other.len();
        let end = self.buf.len() - 1;
        let body = &other.buf[HDR..other.buf.len() - 1];
        self.buf.truncate(end);
        push_bytes(&mut self.buf, body);
        self.buf.push(EOF);
        self.set_header(n);
    }

    /// Split off the entries from index `at` on into a new listpack.
    pub fn split_off(&mut self, at: usize) -> Listpack {
        let n = self.len();
        let mut tail = Listpack::new();
        let Some(pos) = self.seek(at as i64) else {
            return tail;
        };
        let end = self.buf.len() - 1;
        tail.buf.truncate(HDR);
        push_bytes(&mut tail.buf, &self.buf[pos..end]);
        tail.buf.push(EOF);
        tail.set_header(n - at);
        self.buf.truncate(pos);
        self.buf.push(EOF);
        self.set_header(at);
        self.buf.shrink_to_fit();
        tail
    }

    pub fn shrink_to_fit(&mut self) {
        self.buf.shrink_to_fit();
    }
}

pub struct Iter<'a> {
    lp: &'a Listpack,
    pos: Option<usize>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = LpVal<'a>;
    fn next(&mut self) -> Option<LpVal<'a>> {
        let p = self.pos?;
        self.pos = self.lp.next(p);
        Some(self.lp.get(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(lp: &Listpack) -> Vec<Vec<u8>> {
        lp.iter().map(|v| v.to_vec()).collect()
    }

    #[test]
    fn encodings_round_trip() {
        let mut lp = Listpack::new();
        let samples: Vec<Vec<u8>> = [
            "0",
            "127",
            "128",
            "-1",
            "-4096",
            "4095",
            "4096",
            "-32768",
            "32767",
            "40000",
            "-8388608",
            "8388607",
            "9000000",
            "-2147483648",
            "2147483647",
            "3000000000",
            "-9223372036854775808",
            "9223372036854775807",
            "",
            "a",
            "007",
            "-0",
            "+1",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .chain([
            vec![b'x'; 63],
            vec![b'y'; 64],
            vec![b'z'; 4095],
            vec![b'w'; 4096],
            vec![b'v'; 20000],
        ])
        .collect();
        for s in &samples {
            lp.push_back(s);
        }
        assert_eq!(vals(&lp), samples);
        assert_eq!(lp.len(), samples.len());
        // Walk backwards too.
        let mut back = Vec::new();
        let mut p = lp.last();
        while let Some(q) = p {
            back.push(lp.get(q).to_vec());
            p = lp.prev(q);
        }
        back.reverse();
        assert_eq!(back, samples);
        assert!(Listpack::from_bytes(lp.as_bytes()).is_some());
    }

    #[test]
    fn redis_byte_layout() {
        // Redis: lpAppend("hello") then lpAppend("1024") on an empty listpack.
        let mut lp = Listpack::new();
        lp.push_back(b"hello");
        lp.push_back(b"1024");
        let mut want = vec![17u8, 0, 0, 0, 2, 0, 0x85];
        want.extend_from_slice(b"hello");
        want.extend_from_slice(&[6, 0xC4, 0x00, 2, 0xFF]);
        assert_eq!(lp.as_bytes(), &want[..]);
    }

    #[test]
    fn insert_delete_replace() {
        let mut lp = Listpack::new();
        for i in 0..10 {
            lp.push_back(format!("e{i}").as_bytes());
        }
        let p = lp.seek(3).unwrap();
        lp.insert_at(p, b"new");
        assert_eq!(lp.get(lp.seek(3).unwrap()).to_vec(), b"new");
        let p = lp.seek(-1).unwrap();
        lp.replace(p, &[b'q'; 300]);
        assert_eq!(lp.get(lp.seek(-1).unwrap()).to_vec(), vec![b'q'; 300]);
        lp.delete_range(0, 2);
        assert_eq!(lp.len(), 9);
        assert_eq!(lp.get(lp.first().unwrap()).to_vec(), b"e2");
        let tail = lp.split_off(4);
        assert_eq!(lp.len(), 4);
        assert_eq!(tail.len(), 5);
        let mut a = lp.clone();
        a.append_all(&tail);
        assert_eq!(a.len(), 9);
        assert!(Listpack::from_bytes(a.as_bytes()).is_some());
        assert_eq!(
            a.find(a.first(), b"e5", 0).map(|p| a.get(p).to_vec()),
            Some(b"e5".to_vec())
        );
    }
}
