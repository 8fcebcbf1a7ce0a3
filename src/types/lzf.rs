//! LZF compression (the format of liblzf, which Redis uses for quicklist nodes and RDB
//! strings): a stream of literal runs (control byte 0..31 = run length - 1) and back
//! references (3 bits of length, 13 bits of offset). Any valid stream decompresses the same
//! way, so files and nodes written here load in Redis and the other way round.

const HLOG: u32 = 14;
const MAX_LIT: usize = 32;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

fn hash3(b: &[u8], hlog: u32) -> usize {
    let v = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
    (v.wrapping_mul(2654435761) >> (32 - hlog)) as usize
}

/// Compress `input`; None when the result would not be smaller than `max_out` bytes (the
/// caller keeps the input as it is).
pub fn compress(input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    let n = input.len();
    if n < 4 {
        return None;
    }
    let mut out: Vec<u8> = Vec::with_capacity(max_out.min(n + n / 32 + 2));
    // The table is sized to the input: a 100-byte string must not pay for zeroing 64 KiB.
    let hlog = n.next_power_of_two().trailing_zeros().clamp(6, HLOG);
    let mut htab = vec![0u32; 1 << hlog];
    let mut lit_start = 0usize;
    let mut ip = 0usize;
    // Flush literals input[lit_start..end] as runs of at most MAX_LIT.
    let flush = |out: &mut Vec<u8>, from: usize, to: usize| {
        let mut s = from;
        while s < to {
            let len = (to - s).min(MAX_LIT);
            out.push((len - 1) as u8);
            out.extend_from_slice(&input[s..s + len]);
            s += len;
        }
    };
    while ip + 2 < n {
        let h = hash3(&input[ip..], hlog);
        let r = htab[h] as usize;
        htab[h] = (ip + 1) as u32; // 0 means empty
        if r > 0 {
            let r = r - 1;
            let off = ip - r - 1;
            if off < MAX_OFF && input[r..r + 3] == input[ip..ip + 3] {
                let maxlen = (n - ip).min(MAX_REF);
                let mut len = 3;
                while len < maxlen && input[r + len] == input[ip + len] {
                    len += 1;
                }
                flush(&mut out, lit_start, ip);
                let l = len - 2;
                if l < 7 {
                    out.push(((off >> 8) as u8) | ((l as u8) << 5));
                } else {
                    out.push(((off >> 8) as u8) | (7 << 5));
                    out.push((l - 7) as u8);
                }
                out.push(off as u8);
                if out.len() >= max_out {
                    return None;
                }
                // Index only the last two positions inside the match, as liblzf's VERY_FAST
                // mode does: indexing every one made long runs (a 512 MiB string of zeros)
                // cost a hash per byte.
                let end = ip + len;
                for p in end.saturating_sub(2).max(ip + 1)..end {
                    if p + 2 < n {
                        htab[hash3(&input[p..], hlog)] = (p + 1) as u32;
                    }
                }
                ip = end;
                lit_start = ip;
                continue;
            }
        }
        ip += 1;
    }
    flush(&mut out, lit_start, n);
    (out.len() < max_out).then_some(out)
}

/// Decompress into exactly `out_len` bytes; None on a malformed stream.
pub fn decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(out_len);
    let mut ip = 0;
    while ip < input.len() {
        let ctrl = input[ip] as usize;
        ip += 1;
        if ctrl < 32 {
            let len = ctrl + 1;
            if ip + len > input.len() || out.len() + len > out_len {
                return None;
            }
            out.extend_from_slice(&input[ip..ip + len]);
            ip += len;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(ip)? as usize;
                ip += 1;
            }
            let off = ((ctrl & 0x1f) << 8) + *input.get(ip)? as usize + 1;
            ip += 1;
            len += 2;
            if off > out.len() || out.len() + len > out_len {
                return None;
            }
            let start = out.len() - off;
            if off >= len {
                out.extend_from_within(start..start + len);
            } else {
                // Overlapping: the run repeats the last `off` bytes. Everything from `start`
                // on is periodic with period `off` and its length stays a multiple of it, so
                // the copied block can double each round.
                let mut left = len;
                while left > 0 {
                    let n = left.min(out.len() - start);
                    out.extend_from_within(start..start + n);
                    left -= n;
                }
            }
        }
    }
    (out.len() == out_len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_incompressible_data() {
        let mut rng = crate::db::Rng::from_seed(5);
        for case in 0..200 {
            let n = 4 + (rng.next_u64() % 20000) as usize;
            let alphabet = 1 + case % 20;
            let data: Vec<u8> = (0..n)
                .map(|_| b'a' + (rng.next_u64() % alphabet as u64) as u8)
                .collect();
            if let Some(c) = compress(&data, data.len()) {
                assert!(c.len() < data.len());
                assert_eq!(decompress(&c, data.len()).as_deref(), Some(&data[..]));
            }
        }
        let rep = vec![b'x'; 10000];
        let c = compress(&rep, rep.len()).unwrap();
        assert!(c.len() < 200);
        assert_eq!(decompress(&c, rep.len()).unwrap(), rep);
        let random: Vec<u8> = (0..1000).map(|_| rng.next_u64() as u8).collect();
        assert!(compress(&random, random.len()).is_none());
        // A stream from Redis's lzf_compress("aaaaaaaaaa"): literal 'a', then a back
        // reference of length 9 at offset 0 (ctrl 0xE0, extra length 0, offset 0).
        assert_eq!(
            decompress(&[0x00, b'a', 0xE0, 0x00, 0x00], 10).unwrap(),
            vec![b'a'; 10]
        );
        assert!(decompress(&[0xE0, 0x00, 0x05], 10).is_none());
    }
}
