//! The two retired compact encodings older RDB files hold: ziplist (lists, hashes and sorted
//! sets before Redis 7.0) and zipmap (hashes before 2.6). Only read, fully checked, and
//! converted: forkv never keeps either in memory.

use crate::types::listpack::LpVal;

const ZL_HEADER: usize = 10;
const ZL_END: u8 = 0xFF;

fn u32le(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Visit every entry of a ziplist, after checking its header, each entry's bounds and
/// back-length, the entry count and the tail offset.
pub fn for_each(z: &[u8], mut f: impl FnMut(LpVal<'_>)) -> Result<(), String> {
    if z.len() < ZL_HEADER + 1 {
        return Err("ziplist shorter than its header".into());
    }
    if u32le(z) as usize != z.len() {
        return Err("ziplist byte count does not match its size".into());
    }
    if z[z.len() - 1] != ZL_END {
        return Err("ziplist does not end with 0xFF".into());
    }
    let tail = u32le(&z[4..]) as usize;
    let count = u16::from_le_bytes([z[8], z[9]]);
    let mut pos = ZL_HEADER;
    let mut prev_size = 0usize;
    let mut last = ZL_HEADER;
    let mut n = 0usize;
    let end = z.len() - 1;
    while pos < end {
        let start = pos;
        // Previous entry's length.
        let prevlen = if z[pos] < 254 {
            pos += 1;
            z[start] as usize
        } else if z[pos] == 254 {
            if pos + 5 > end {
                return Err(format!("entry at {start} runs past the end"));
            }
            pos += 5;
            u32le(&z[start + 1..]) as usize
        } else {
            return Err(format!("bad previous-length byte at {start}"));
        };
        if prevlen != prev_size {
            return Err(format!("entry at {start} has a wrong previous length"));
        }
        if pos >= end {
            return Err(format!("entry at {start} runs past the end"));
        }
        let e = z[pos];
        let (hdr, data_len, int): (usize, usize, Option<i64>) = match e >> 6 {
            0 => (1, (e & 0x3F) as usize, None),
            1 => {
                if pos + 2 > end {
                    return Err(format!("entry at {start} runs past the end"));
                }
                (2, (((e & 0x3F) as usize) << 8) | z[pos + 1] as usize, None)
            }
            2 => {
                if pos + 5 > end {
                    return Err(format!("entry at {start} runs past the end"));
                }
                let l = u32::from_be_bytes([z[pos + 1], z[pos + 2], z[pos + 3], z[pos + 4]]);
                (5, l as usize, None)
            }
            _ => {
                let need = match e {
                    0xC0 => 2,
                    0xD0 => 4,
                    0xE0 => 8,
                    0xF0 => 3,
                    0xFE => 1,
                    0xF1..=0xFD => 0,
                    _ => return Err(format!("bad entry encoding {e:#04x} at {start}")),
                };
                if pos + 1 + need > end {
                    return Err(format!("entry at {start} runs past the end"));
                }
                let d = &z[pos + 1..pos + 1 + need];
                let v = match e {
                    0xC0 => i16::from_le_bytes([d[0], d[1]]) as i64,
                    0xD0 => i32::from_le_bytes([d[0], d[1], d[2], d[3]]) as i64,
                    0xE0 => i64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]),
                    0xF0 => (i32::from_le_bytes([0, d[0], d[1], d[2]]) >> 8) as i64,
                    0xFE => d[0] as i8 as i64,
                    _ => (e & 0x0F) as i64 - 1,
                };
                (1, need, Some(v))
            }
        };
        let data_start = pos + hdr;
        if data_start.checked_add(data_len).is_none_or(|x| x > end) {
            return Err(format!("entry at {start} runs past the end"));
        }
        match int {
            Some(v) => f(LpVal::Int(v)),
            None => f(LpVal::Str(&z[data_start..data_start + data_len])),
        }
        pos = data_start + data_len;
        prev_size = pos - start;
        last = start;
        n += 1;
    }
    if count != u16::MAX && count as usize != n {
        return Err(format!("header counts {count} entries, found {n}"));
    }
    if tail != last {
        return Err("tail offset does not point at the last entry".into());
    }
    Ok(())
}

/// The field/value pairs of a zipmap, checked.
/// A field and its value.
pub type Pair = (Vec<u8>, Vec<u8>);

pub fn zipmap_pairs(z: &[u8]) -> Result<Vec<Pair>, String> {
    fn zm_len(z: &[u8], pos: &mut usize) -> Result<Option<usize>, String> {
        let b = *z.get(*pos).ok_or("zipmap runs past the end")?;
        match b {
            0..=253 => {
                *pos += 1;
                Ok(Some(b as usize))
            }
            254 => {
                if *pos + 5 > z.len() {
                    return Err("zipmap runs past the end".into());
                }
                let l = u32le(&z[*pos + 1..]) as usize;
                *pos += 5;
                Ok(Some(l))
            }
            255 => Ok(None),
        }
    }
    fn slice(z: &[u8], pos: usize, n: usize) -> Result<&[u8], String> {
        pos.checked_add(n)
            .and_then(|e| z.get(pos..e))
            .ok_or_else(|| "zipmap runs past the end".to_string())
    }
    if z.len() < 2 {
        return Err("zipmap too short".into());
    }
    let mut pos = 1;
    let mut out = Vec::new();
    while let Some(klen) = zm_len(z, &mut pos)? {
        let k = slice(z, pos, klen)?.to_vec();
        pos += klen;
        let vlen = zm_len(z, &mut pos)?.ok_or("zipmap field without a value")?;
        let free = *z.get(pos).ok_or("zipmap runs past the end")? as usize;
        pos += 1;
        let v = slice(z, pos, vlen)?.to_vec();
        pos += vlen + free;
        out.push((k, v));
    }
    if pos != z.len() - 1 {
        return Err("zipmap has bytes after its end marker".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(z: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        let mut v = Vec::new();
        for_each(z, |e| v.push(e.to_vec()))?;
        Ok(v)
    }

    #[test]
    fn reads_a_ziplist_of_strings_and_small_ints() {
        let mut z = vec![0u8; ZL_HEADER];
        z.extend_from_slice(&[0, 0x02, b'a', b'b']); // prevlen 0, 2-byte string
        z.extend_from_slice(&[4, 0xF6]); // prevlen 4, immediate integer 5
        z.push(ZL_END);
        let total = z.len() as u32;
        z[0..4].copy_from_slice(&total.to_le_bytes());
        z[4..8].copy_from_slice(&14u32.to_le_bytes());
        z[8..10].copy_from_slice(&2u16.to_le_bytes());
        assert_eq!(collect(&z).unwrap(), vec![b"ab".to_vec(), b"5".to_vec()]);
        // A wrong previous length is refused.
        let mut bad = z.clone();
        bad[14] = 3;
        assert!(collect(&bad).is_err());
        // A truncated one too.
        assert!(collect(&z[..z.len() - 2]).is_err());
    }

    #[test]
    fn reads_a_zipmap() {
        // zmlen 1, "a" -> "xy" with one free byte, end.
        let z = [1, 1, b'a', 2, 1, b'x', b'y', 0, 255];
        assert_eq!(
            zipmap_pairs(&z).unwrap(),
            vec![(b"a".to_vec(), b"xy".to_vec())]
        );
        assert!(zipmap_pairs(&z[..6]).is_err());
    }
}
