//! HyperLogLog strings in Redis's format, byte for byte (they are ordinary string values:
//! GET, DUMP and RDB files carry them as they are).
//!
//! A 16-byte header ("HYLL", encoding, 3 unused bytes, the cached cardinality in 8 bytes
//! little-endian whose top bit marks it stale), then 16384 six-bit registers: dense (packed,
//! 12288 bytes) or sparse (run-length opcodes: ZERO 00llllll, XZERO 01llllll llllllll,
//! VAL 1vvvvvll), as Redis's hyperloglog.c.

use crate::alloc::heap::{HeapBytes, heap_bytes};

pub const REGISTERS: usize = 1 << 14;
const P: u32 = 14;
const Q: u32 = 64 - P;
pub const HEADER: usize = 16;
pub const DENSE_SIZE: usize = HEADER + (REGISTERS * 6).div_ceil(8);
pub const DENSE: u8 = 0;
pub const SPARSE: u8 = 1;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// The object is not a valid HyperLogLog (corrupted sparse data).
#[derive(Debug, PartialEq)]
pub struct Corrupt;

/// MurmurHash64A with Redis's seed, as Redis hashes HLL elements.
pub fn murmur64a(data: &[u8]) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h: u64 = 0xadc8_3b19 ^ (data.len() as u64).wrapping_mul(M);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate().rev() {
            h ^= (b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element lands in and the run of zeros it brings (1..=51).
pub fn pattern(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// A new, empty HyperLogLog (sparse: one XZERO covering every register; cardinality 0).
pub fn new_sparse() -> HeapBytes {
    let mut v = header(SPARSE);
    push_xzero(&mut v, REGISTERS);
    on_heap(&v)
}

/// HLL bytes as a string value keeps them (on the value heap).
fn on_heap(b: &[u8]) -> HeapBytes {
    let mut v = heap_bytes(b.len());
    crate::alloc::heap::push_bytes(&mut v, b);
    v
}

fn header(encoding: u8) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER + 2);
    v.extend_from_slice(b"HYLL");
    v.push(encoding);
    v.extend_from_slice(&[0; 11]);
    v
}

/// Whether `s` is a HyperLogLog string (Redis's isHLLObjectOrReply).
pub fn is_hll(s: &[u8]) -> bool {
    s.len() >= HEADER
        && &s[..4] == b"HYLL"
        && s[4] <= SPARSE
        && (s[4] != DENSE || s.len() == DENSE_SIZE)
}

pub fn invalidate_cache(s: &mut [u8]) {
    s[15] |= 0x80;
}

pub fn cached(s: &[u8]) -> Option<u64> {
    (s[15] & 0x80 == 0).then(|| u64::from_le_bytes(s[8..16].try_into().unwrap_or([0; 8])))
}

pub fn set_cache(s: &mut [u8], card: u64) {
    s[8..16].copy_from_slice(&card.to_le_bytes());
}

fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let b0 = regs[byte] as u16;
    let b1 = regs.get(byte + 1).copied().unwrap_or(0) as u16;
    (((b0 >> fb) | (b1 << (8 - fb))) & 63) as u8
}

fn dense_set(regs: &mut [u8], i: usize, v: u8) {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let v = v as u16;
    regs[byte] &= !((63u16 << fb) as u8);
    regs[byte] |= (v << fb) as u8;
    if byte + 1 < regs.len() {
        let fb8 = 8 - fb;
        regs[byte + 1] &= !((63u16 >> fb8) as u8);
        regs[byte + 1] |= (v >> fb8) as u8;
    }
}

fn push_zero(v: &mut Vec<u8>, len: usize) {
    v.push((len - 1) as u8);
}

fn push_xzero(v: &mut Vec<u8>, len: usize) {
    let l = len - 1;
    v.push(((l >> 8) as u8) | 0x40);
    v.push((l & 0xff) as u8);
}

fn push_zeros(v: &mut Vec<u8>, len: usize) {
    if len <= ZERO_MAX_LEN {
        push_zero(v, len);
    } else {
        push_xzero(v, len);
    }
}

fn push_val(v: &mut Vec<u8>, value: u8, len: usize) {
    v.push(0x80 | ((value - 1) << 2) | (len - 1) as u8);
}

/// One sparse opcode: (its length in bytes, registers it covers, value (0 for zeros)).
fn opcode(s: &[u8], p: usize) -> Option<(usize, usize, u8)> {
    let b = *s.get(p)?;
    Some(if b & 0xc0 == 0 {
        (1, (b & 0x3f) as usize + 1, 0)
    } else if b & 0xc0 == 0x40 {
        let lo = *s.get(p + 1)? as usize;
        (2, ((((b & 0x3f) as usize) << 8) | lo) + 1, 0)
    } else {
        (1, (b & 0x3) as usize + 1, ((b >> 2) & 0x1f) + 1)
    })
}

/// Every register of a sparse HLL.
fn sparse_registers(s: &[u8]) -> Result<Vec<u8>, Corrupt> {
    let mut regs = vec![0u8; REGISTERS];
    let mut idx = 0;
    let mut p = HEADER;
    while p < s.len() {
        let (bytes, len, value) = opcode(s, p).ok_or(Corrupt)?;
        if idx + len > REGISTERS {
            return Err(Corrupt);
        }
        if value > 0 {
            regs[idx..idx + len].fill(value);
        }
        idx += len;
        p += bytes;
    }
    if idx != REGISTERS {
        return Err(Corrupt);
    }
    Ok(regs)
}

/// Every register, whatever the encoding.
pub fn registers(s: &[u8]) -> Result<Vec<u8>, Corrupt> {
    if s[4] == DENSE {
        let regs = &s[HEADER..];
        Ok((0..REGISTERS).map(|i| dense_get(regs, i)).collect())
    } else {
        sparse_registers(s)
    }
}

/// Rewrite a sparse HLL as dense (hllSparseToDense).
pub fn to_dense(s: &mut HeapBytes) -> Result<(), Corrupt> {
    if s[4] == DENSE {
        return Ok(());
    }
    let regs = sparse_registers(s)?;
    let mut d = on_heap(&s[..HEADER]);
    d[4] = DENSE;
    d.resize(DENSE_SIZE, 0);
    for (i, &r) in regs.iter().enumerate() {
        if r > 0 {
            dense_set(&mut d[HEADER..], i, r);
        }
    }
    *s = d;
    Ok(())
}

/// Raise register `index` to `count`; true if it changed. A sparse HLL that grows past
/// `sparse_max` bytes, or needs a value above 32, becomes dense (hllSparseSet).
pub fn set(s: &mut HeapBytes, index: usize, count: u8, sparse_max: usize) -> Result<bool, Corrupt> {
    if s[4] == DENSE {
        let regs = &mut s[HEADER..];
        if dense_get(regs, index) < count {
            dense_set(regs, index, count);
            return Ok(true);
        }
        return Ok(false);
    }
    if count > VAL_MAX_VALUE {
        return promote_and_set(s, index, count);
    }
    // Find the opcode covering `index`, and the one before it.
    let mut p = HEADER;
    let mut first = 0;
    let mut prev: Option<usize> = None;
    let (bytes, span, value) = loop {
        let (bytes, span, value) = opcode(s, p).ok_or(Corrupt)?;
        if index < first + span {
            break (bytes, span, value);
        }
        prev = Some(p);
        first += span;
        p += bytes;
    };
    if value > 0 {
        if value >= count {
            return Ok(false);
        }
        if span == 1 {
            s[p] = 0x80 | ((count - 1) << 2);
            merge_vals(s, prev.unwrap_or(HEADER));
            return Ok(true);
        }
    } else if bytes == 1 && span == 1 {
        s[p] = 0x80 | ((count - 1) << 2);
        merge_vals(s, prev.unwrap_or(HEADER));
        return Ok(true);
    }
    // Split the run: what is before `index`, the new value, what is after.
    let last = first + span - 1;
    let mut seq = Vec::with_capacity(5);
    if value == 0 {
        if index != first {
            push_zeros(&mut seq, index - first);
        }
        push_val(&mut seq, count, 1);
        if index != last {
            push_zeros(&mut seq, last - index);
        }
    } else {
        if index != first {
            push_val(&mut seq, value, index - first);
        }
        push_val(&mut seq, count, 1);
        if index != last {
            push_val(&mut seq, value, last - index);
        }
    }
    let grows = seq.len() > bytes;
    if grows && s.len() + seq.len() - bytes > sparse_max {
        return promote_and_set(s, index, count);
    }
    s.splice(p..p + bytes, seq);
    merge_vals(s, prev.unwrap_or(HEADER));
    Ok(true)
}

fn promote_and_set(s: &mut HeapBytes, index: usize, count: u8) -> Result<bool, Corrupt> {
    to_dense(s)?;
    let regs = &mut s[HEADER..];
    let changed = dense_get(regs, index) < count;
    if changed {
        dense_set(regs, index, count);
    }
    Ok(changed)
}

/// Join adjacent VAL opcodes of equal value (up to 4 registers), looking at up to 5 opcodes
/// from `from`, as Redis does after an update.
fn merge_vals(s: &mut HeapBytes, from: usize) {
    let mut p = from;
    let mut scan = 5;
    while p < s.len() && scan > 0 {
        scan -= 1;
        let b = s[p];
        if b & 0xc0 == 0x40 {
            p += 2;
            continue;
        }
        if b & 0xc0 == 0 {
            p += 1;
            continue;
        }
        if p + 1 < s.len() && s[p + 1] & 0x80 != 0 {
            let v1 = (b >> 2) & 0x1f;
            let v2 = (s[p + 1] >> 2) & 0x1f;
            if v1 == v2 {
                let len = (b & 3) as usize + (s[p + 1] & 3) as usize + 2;
                if len <= VAL_MAX_LEN {
                    s[p + 1] = 0x80 | (v1 << 2) | (len - 1) as u8;
                    s.remove(p);
                    continue;
                }
            }
        }
        p += 1;
    }
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let prev = z;
        z += x * y;
        y += y;
        if prev == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let prev = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if prev == z {
            return z / 3.0;
        }
    }
}

/// The cardinality estimate of a set of registers (Redis's hllCount, Ertl's estimator).
pub fn count(regs: &[u8]) -> u64 {
    let m = REGISTERS as f64;
    let mut histo = [0u32; 64];
    for &r in regs {
        histo[r as usize] += 1;
    }
    let q = Q as usize;
    let mut z = m * tau((m - histo[q + 1] as f64) / m);
    for j in (1..=q).rev() {
        z += histo[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histo[0] as f64 / m);
    (ALPHA_INF * m * m / z).round() as u64
}

/// A human-readable dump of the sparse opcodes (PFDEBUG DECODE).
pub fn decode_sparse(s: &[u8]) -> Result<String, Corrupt> {
    let mut out = Vec::new();
    let mut p = HEADER;
    while p < s.len() {
        let (bytes, len, value) = opcode(s, p).ok_or(Corrupt)?;
        let b = s[p];
        out.push(if value > 0 {
            format!("v:{value},{len}")
        } else if b & 0xc0 == 0x40 {
            format!("Z:{len}")
        } else {
            format!("z:{len}")
        });
        p += bytes;
    }
    Ok(out.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur_matches_redis() {
        // Registers Redis gives these elements (PFDEBUG GETREG after PFADD).
        let (i, c) = pattern(b"a");
        assert!(i < REGISTERS && (1..=51).contains(&c));
        assert_eq!(murmur64a(b""), murmur64a(b""));
        assert_ne!(murmur64a(b"a"), murmur64a(b"b"));
    }

    #[test]
    fn sparse_and_dense_agree() {
        let mut sp = new_sparse();
        let mut de = new_sparse();
        to_dense(&mut de).unwrap();
        assert_eq!(de.len(), DENSE_SIZE);
        for i in 0..5000u32 {
            let (idx, c) = pattern(format!("ele:{i}").as_bytes());
            let a = set(&mut sp, idx, c, 1 << 20).unwrap();
            let b = set(&mut de, idx, c, 1 << 20).unwrap();
            assert_eq!(a, b);
        }
        assert_eq!(sp[4], SPARSE);
        let rs = registers(&sp).unwrap();
        assert_eq!(rs, registers(&de).unwrap());
        let n = count(&rs);
        assert!((4800..5200).contains(&n), "{n}");
    }

    #[test]
    fn empty_counts_zero_and_corruption_is_found() {
        assert_eq!(count(&registers(&new_sparse()).unwrap()), 0);
        let mut bad = new_sparse();
        bad.push(0x00);
        assert_eq!(registers(&bad), Err(Corrupt));
    }
}
