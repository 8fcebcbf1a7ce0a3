//! DEBUG DIGEST and DEBUG DIGEST-VALUE: Redis's dataset digest, computed the same way (SHA1,
//! xor for unordered elements, "mix" for ordered ones), so a keyspace can be compared across a
//! reload and against a real Redis holding the same data.

use super::Db;
use crate::types::Value;
use crate::types::stream::StreamId;

/// SHA-1 (FIPS 180-1); the digest needs nothing else, so it is written here.
struct Sha1 {
    h: [u32; 5],
    buf: [u8; 64],
    buf_len: usize,
    total: u64,
}

impl Sha1 {
    fn new() -> Sha1 {
        Sha1 {
            h: [
                0x6745_2301,
                0xEFCD_AB89,
                0x98BA_DCFE,
                0x1032_5476,
                0xC3D2_E1F0,
            ],
            buf: [0; 64],
            buf_len: 0,
            total: 0,
        }
    }

    fn block(&mut self, b: &[u8; 64]) {
        let mut w = [0u32; 80];
        for (i, c) in b.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut bb, mut c, mut d, mut e] = self.h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((bb & c) | (!bb & d), 0x5A82_7999),
                20..=39 => (bb ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((bb & c) | (bb & d) | (c & d), 0x8F1B_BCDC),
                _ => (bb ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = bb.rotate_left(30);
            bb = a;
            a = t;
        }
        for (h, v) in self.h.iter_mut().zip([a, bb, c, d, e]) {
            *h = h.wrapping_add(v);
        }
    }

    fn update(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        while !data.is_empty() {
            let n = (64 - self.buf_len).min(data.len());
            self.buf[self.buf_len..self.buf_len + n].copy_from_slice(&data[..n]);
            self.buf_len += n;
            data = &data[n..];
            if self.buf_len == 64 {
                let b = self.buf;
                self.block(&b);
                self.buf_len = 0;
            }
        }
    }

    fn finish(mut self) -> [u8; 20] {
        let bits = self.total.wrapping_mul(8);
        self.update(&[0x80]);
        while self.buf_len != 56 {
            self.update(&[0]);
        }
        self.update(&bits.to_be_bytes());
        let mut out = [0u8; 20];
        for (i, h) in self.h.iter().enumerate() {
            out[i * 4..i * 4 + 4].copy_from_slice(&h.to_be_bytes());
        }
        out
    }
}

fn sha1(data: &[u8]) -> [u8; 20] {
    let mut s = Sha1::new();
    s.update(data);
    s.finish()
}

/// digest ^= SHA1(data): order-independent accumulation.
fn xor_digest(digest: &mut [u8; 20], data: &[u8]) {
    for (d, h) in digest.iter_mut().zip(sha1(data)) {
        *d ^= h;
    }
}

/// digest = SHA1(digest ^ SHA1(data)): order-dependent accumulation.
fn mix_digest(digest: &mut [u8; 20], data: &[u8]) {
    xor_digest(digest, data);
    *digest = sha1(digest);
}

/// Redis's xorObjectDigest: the value's type, content and whether it expires.
fn mix_value(digest: &mut [u8; 20], val: &Value, expires: bool) {
    let ty: u32 = match val {
        Value::Str(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::Zset(_) => 3,
        Value::Hash(_) => 4,
        Value::Stream(_) => 6,
    };
    mix_digest(digest, &ty.to_be_bytes());
    match val {
        Value::Str(s) => mix_digest(digest, &s.bytes()),
        Value::List(ql) => {
            let mut b = Vec::new();
            ql.for_each(|e| {
                b.clear();
                e.write_to(&mut b);
                mix_digest(digest, &b);
            });
        }
        Value::Set(s) => s.for_each(|m| xor_digest(digest, m)),
        Value::Zset(z) => z.for_each(|m, score| {
            let mut ele = [0u8; 20];
            mix_digest(&mut ele, m);
            mix_digest(&mut ele, crate::resp::writer::fmt_g17(score).as_bytes());
            xor_digest(digest, &ele);
        }),
        Value::Hash(h) => h.for_each(|f, v| {
            let mut ele = [0u8; 20];
            mix_digest(&mut ele, f);
            mix_digest(&mut ele, v);
            xor_digest(digest, &ele);
        }),
        Value::Stream(st) => {
            let mut b = Vec::new();
            st.range(StreamId::MIN, StreamId::MAX, false, |node, e| {
                mix_digest(digest, format!("{}.{}", e.id.ms, e.id.seq).as_bytes());
                node.for_each_field(e, |f, v| {
                    b.clear();
                    f.write_to(&mut b);
                    mix_digest(digest, &b);
                    b.clear();
                    v.write_to(&mut b);
                    mix_digest(digest, &b);
                });
                true
            });
        }
    }
    if expires {
        xor_digest(digest, b"!!expire!!");
    }
}

pub fn hex(d: &[u8; 20]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// DEBUG DIGEST-VALUE of one key (all zeros when absent; expired keys count, as in Redis).
pub fn value_digest(db: &Db, key: &[u8]) -> [u8; 20] {
    let mut d = [0u8; 20];
    if let Some(o) = db.dict.get(key) {
        mix_value(&mut d, &o.val, db.expires.contains(key));
    }
    d
}

/// DEBUG DIGEST of every database.
pub fn dataset_digest(dbs: &[Db]) -> [u8; 20] {
    let mut fin = [0u8; 20];
    for (j, db) in dbs.iter().enumerate() {
        if db.dict.is_empty() {
            continue;
        }
        mix_digest(&mut fin, &(j as u32).to_be_bytes());
        db.dict.for_each(|k, o| {
            let mut d = [0u8; 20];
            mix_digest(&mut d, k);
            mix_value(&mut d, &o.val, db.expires.contains(k));
            xor_digest(&mut fin, &d);
        });
    }
    fin
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_known_answers() {
        assert_eq!(
            hex(&sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        let long = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(hex(&sha1(long)), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    }
}
