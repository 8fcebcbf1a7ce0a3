//! RDB writer: values in the encodings Redis 7.0 writes (RDB version 10). No I/O policy here:
//! bytes go to any `std::io::Write` (a file the caller fsyncs as it likes, or a `Vec` for
//! DUMP), through a buffer that also feeds the CRC64.

use super::{RDB_VERSION, crc64, opcode, rtype};
use crate::types::quicklist::QlNode;
use crate::types::{HashValue, SetValue, StrValue, Value, ZsetValue};
use std::io::{self, Write};

/// Bytes buffered before they are handed to the output.
const BUF_FLUSH: usize = 64 * 1024;

pub struct RdbWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    crc: u64,
    checksum: bool,
    compress: bool,
    /// Bytes handed to `out` so far.
    flushed: u64,
}

/// The type byte Redis 7.0 writes for a value.
pub fn type_byte(v: &Value) -> u8 {
    match v {
        Value::Str(_) => rtype::STRING,
        Value::List(_) => rtype::LIST_QUICKLIST_2,
        Value::Set(SetValue::Ints(_)) => rtype::SET_INTSET,
        Value::Set(SetValue::Table(_)) => rtype::SET,
        Value::Zset(ZsetValue::Listpack(_)) => rtype::ZSET_LISTPACK,
        Value::Zset(ZsetValue::Skip(_)) => rtype::ZSET_2,
        Value::Hash(HashValue::Listpack(_)) => rtype::HASH_LISTPACK,
        Value::Hash(HashValue::Table(_)) => rtype::HASH,
        Value::Stream(_) => rtype::STREAM_LISTPACKS_2,
    }
}

/// Redis's rdbEncodeInteger: the 8/16/32-bit encodings, or None when the value needs more.
fn int_encoding(v: i64, out: &mut [u8; 5]) -> Option<usize> {
    if let Ok(b) = i8::try_from(v) {
        out[0] = 0xC0;
        out[1] = b as u8;
        Some(2)
    } else if let Ok(h) = i16::try_from(v) {
        out[0] = 0xC1;
        out[1..3].copy_from_slice(&h.to_le_bytes());
        Some(3)
    } else if let Ok(w) = i32::try_from(v) {
        out[0] = 0xC2;
        out[1..5].copy_from_slice(&w.to_le_bytes());
        Some(5)
    } else {
        None
    }
}

/// A string that is the canonical decimal form of an integer (what Redis may store as one);
/// parse_i64 is Redis's strict string2ll (no sign but '-', no leading zeros), so what it
/// accepts prints back the same.
fn canonical_int(s: &[u8]) -> Option<i64> {
    crate::resp::parse_i64(s)
}

impl<W: Write> RdbWriter<W> {
    pub fn new(out: W, checksum: bool, compress: bool) -> RdbWriter<W> {
        RdbWriter {
            out,
            buf: Vec::with_capacity(BUF_FLUSH + 1024),
            crc: 0,
            checksum,
            compress,
            flushed: 0,
        }
    }

    /// Bytes produced so far (flushed or buffered).
    pub fn position(&self) -> u64 {
        self.flushed + self.buf.len() as u64
    }

    fn maybe_flush(&mut self) -> io::Result<()> {
        if self.buf.len() >= BUF_FLUSH {
            self.flush_buf()?;
        }
        Ok(())
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        if self.checksum {
            self.crc = crc64::update(self.crc, &self.buf);
        }
        self.out.write_all(&self.buf)?;
        self.flushed += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    fn raw(&mut self, b: &[u8]) -> io::Result<()> {
        if b.len() >= BUF_FLUSH {
            self.flush_buf()?;
            if self.checksum {
                self.crc = crc64::update(self.crc, b);
            }
            self.out.write_all(b)?;
            self.flushed += b.len() as u64;
            return Ok(());
        }
        self.buf.extend_from_slice(b);
        self.maybe_flush()
    }

    fn byte(&mut self, b: u8) -> io::Result<()> {
        self.buf.push(b);
        self.maybe_flush()
    }

    /// rdbSaveLen.
    pub fn len(&mut self, n: u64) -> io::Result<()> {
        if n < 1 << 6 {
            self.byte(n as u8)
        } else if n < 1 << 14 {
            self.raw(&[0x40 | (n >> 8) as u8, n as u8])
        } else if n <= u32::MAX as u64 {
            let mut b = [0x80, 0, 0, 0, 0];
            b[1..].copy_from_slice(&(n as u32).to_be_bytes());
            self.raw(&b)
        } else {
            let mut b = [0x81, 0, 0, 0, 0, 0, 0, 0, 0];
            b[1..].copy_from_slice(&n.to_be_bytes());
            self.raw(&b)
        }
    }

    /// rdbSaveRawString: integer encoding for short canonical integers, LZF for strings over
    /// 20 bytes when compression is on and saves something, else length + bytes.
    pub fn string(&mut self, s: &[u8]) -> io::Result<()> {
        if s.len() <= 11
            && let Some(v) = canonical_int(s)
        {
            let mut enc = [0u8; 5];
            if let Some(n) = int_encoding(v, &mut enc) {
                return self.raw(&enc[..n]);
            }
        }
        if self.compress
            && s.len() > 20
            && let Some(c) = crate::types::lzf::compress(s, s.len() - 4)
        {
            return self.lzf_blob(&c, s.len());
        }
        self.len(s.len() as u64)?;
        self.raw(s)
    }

    /// An integer string object (rdbSaveLongLongAsStringObject).
    pub fn int_string(&mut self, v: i64) -> io::Result<()> {
        let mut enc = [0u8; 5];
        if let Some(n) = int_encoding(v, &mut enc) {
            return self.raw(&enc[..n]);
        }
        let s = crate::resp::writer::itoa_buf(v);
        self.len(s.as_bytes().len() as u64)?;
        self.raw(s.as_bytes())
    }

    /// Already LZF-compressed bytes of a `raw_len`-byte string (rdbSaveLzfBlob).
    pub fn lzf_blob(&mut self, data: &[u8], raw_len: usize) -> io::Result<()> {
        self.byte(0xC3)?;
        self.len(data.len() as u64)?;
        self.len(raw_len as u64)?;
        self.raw(data)
    }

    pub fn header(&mut self) -> io::Result<()> {
        self.raw(format!("REDIS{RDB_VERSION:04}").as_bytes())
    }

    /// A FUNCTION library record (RDB_OPCODE_FUNCTION2 and the library's code).
    pub fn function_library(&mut self, code: &[u8]) -> io::Result<()> {
        self.byte(opcode::FUNCTION2)?;
        self.string(code)
    }

    pub fn aux(&mut self, key: &str, val: &[u8]) -> io::Result<()> {
        self.byte(opcode::AUX)?;
        self.string(key.as_bytes())?;
        self.string(val)
    }

    pub fn aux_int(&mut self, key: &str, val: i64) -> io::Result<()> {
        self.aux(key, crate::resp::writer::itoa_buf(val).as_bytes())
    }

    /// The AUX fields Redis 7.0 writes for a plain snapshot (no replication info).
    pub fn standard_aux(&mut self, ctime: i64, used_mem: u64, aof_base: bool) -> io::Result<()> {
        self.aux("redis-ver", crate::server::VERSION.as_bytes())?;
        self.aux_int("redis-bits", 64)?;
        self.aux_int("ctime", ctime)?;
        self.aux_int("used-mem", used_mem as i64)?;
        self.aux_int("aof-base", aof_base as i64)
    }

    pub fn select_db(&mut self, db: usize, keys: usize, expires: usize) -> io::Result<()> {
        self.byte(opcode::SELECTDB)?;
        self.len(db as u64)?;
        self.byte(opcode::RESIZEDB)?;
        self.len(keys as u64)?;
        self.len(expires as u64)
    }

    /// One key: its expiry, LRU idle seconds or LFU counter (as the eviction policy asks),
    /// type, name and value.
    pub fn key_value(
        &mut self,
        key: &[u8],
        val: &Value,
        expire_ms: Option<i64>,
        idle_secs: Option<u64>,
        freq: Option<u8>,
    ) -> io::Result<()> {
        if let Some(t) = expire_ms {
            self.byte(opcode::EXPIRETIME_MS)?;
            self.raw(&t.to_le_bytes())?;
        }
        if let Some(i) = idle_secs {
            self.byte(opcode::IDLE)?;
            self.len(i)?;
        }
        if let Some(f) = freq {
            self.raw(&[opcode::FREQ, f])?;
        }
        self.byte(type_byte(val))?;
        self.string(key)?;
        self.value(val)
    }

    /// The type byte and the value (the body of a DUMP payload).
    pub fn typed_value(&mut self, val: &Value) -> io::Result<()> {
        self.byte(type_byte(val))?;
        self.value(val)
    }

    /// A value's serialization (rdbSaveObject), without its type byte.
    pub fn value(&mut self, val: &Value) -> io::Result<()> {
        match val {
            Value::Str(StrValue::Int(v) | StrValue::IntPrivate(v)) => self.int_string(*v),
            Value::Str(s) => self.string(&s.bytes()),
            Value::List(ql) => {
                self.len(ql.nodes().len() as u64)?;
                for node in ql.nodes().iter() {
                    match node {
                        QlNode::Packed(lp) => {
                            self.len(2)?;
                            self.string(lp.as_bytes())?;
                        }
                        QlNode::Plain(b) => {
                            self.len(1)?;
                            self.string(b)?;
                        }
                        QlNode::Lzf(z) => {
                            let (data, raw_len, plain) = z.parts();
                            self.len(if plain { 1 } else { 2 })?;
                            self.lzf_blob(data, raw_len)?;
                        }
                    }
                }
                Ok(())
            }
            Value::Set(SetValue::Ints(is)) => self.string(is.as_bytes()),
            Value::Set(SetValue::Table(d)) => {
                self.len(d.len() as u64)?;
                let mut res = Ok(());
                d.for_each(|m, _| {
                    if res.is_ok() {
                        res = self.string(m);
                    }
                });
                res
            }
            Value::Zset(ZsetValue::Listpack(lp)) => self.string(lp.as_bytes()),
            Value::Zset(z @ ZsetValue::Skip(_)) => {
                // Highest score first, as Redis writes them: loading then inserts at the head.
                self.len(z.len() as u64)?;
                let mut res = Ok(());
                z.walk(z.len().saturating_sub(1), true, |m, s| {
                    res = self.string(m).and_then(|_| self.raw(&s.to_le_bytes()));
                    res.is_ok()
                });
                res
            }
            Value::Hash(HashValue::Listpack(lp)) => self.string(lp.as_bytes()),
            Value::Hash(HashValue::Table(d)) => {
                self.len(d.len() as u64)?;
                let mut res = Ok(());
                d.for_each(|f, v| {
                    if res.is_ok() {
                        res = self.string(f).and_then(|_| self.string(v));
                    }
                });
                res
            }
            Value::Stream(st) => self.stream(st),
        }
    }

    /// A stream (RDB_TYPE_STREAM_LISTPACKS_2): its nodes as stored, its counters, then each
    /// group with its PEL (IDs, delivery times and counts) and consumers (names, seen times and
    /// the IDs they own).
    fn stream(&mut self, st: &crate::types::Stream) -> io::Result<()> {
        self.len(st.nodes.len() as u64)?;
        for (master, lp) in &st.nodes {
            self.string(&master.encode())?;
            self.string(lp.as_bytes())?;
        }
        self.len(st.length)?;
        for id in [st.last_id, st.first_id, st.max_deleted_entry_id] {
            self.len(id.ms)?;
            self.len(id.seq)?;
        }
        self.len(st.entries_added)?;
        self.len(st.cgroups.len() as u64)?;
        for (name, g) in &st.cgroups {
            self.string(name)?;
            self.len(g.last_id.ms)?;
            self.len(g.last_id.seq)?;
            // Redis writes the signed counter through its unsigned length encoding.
            self.len(g.entries_read as u64)?;
            self.len(g.pel.len() as u64)?;
            for (id, nack) in &g.pel {
                self.raw(&id.encode())?;
                self.raw(&nack.delivery_time.to_le_bytes())?;
                self.len(nack.delivery_count)?;
            }
            self.len(g.consumers.len() as u64)?;
            for (cname, c) in &g.consumers {
                self.string(cname)?;
                self.raw(&c.seen_time.to_le_bytes())?;
                self.len(c.pel.len() as u64)?;
                for id in &c.pel {
                    self.raw(&id.encode())?;
                }
            }
        }
        Ok(())
    }

    /// The EOF opcode and the checksum (zero when checksums are off); hands back the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.byte(opcode::EOF)?;
        self.flush_buf()?;
        let crc = if self.checksum { self.crc } else { 0 };
        self.out.write_all(&crc.to_le_bytes())?;
        self.flushed += 8;
        Ok(self.out)
    }

    /// Flush buffered bytes and hand back the output without an EOF (DUMP payloads).
    pub fn into_inner(mut self) -> io::Result<W> {
        self.flush_buf()?;
        Ok(self.out)
    }
}

/// A DUMP payload: type byte, value, RDB version (2 bytes LE), CRC64 of all that (8 bytes LE).
pub fn dump_payload(val: &Value, compress: bool) -> Vec<u8> {
    let mut w = RdbWriter::new(Vec::new(), false, compress);
    // Writing into a Vec cannot fail.
    let _ = w.typed_value(val);
    let mut out = w.into_inner().unwrap_or_default();
    out.extend_from_slice(&(RDB_VERSION as u16).to_le_bytes());
    let crc = crc64::update(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}
