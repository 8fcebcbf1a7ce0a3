//! RDB reader for versions 1 to 12: every string, list, set, sorted set and hash encoding Redis
//! has written (zipmap, ziplist, intset, listpack, quicklist, quicklist2, set-listpack), turned
//! into forkv's Redis 7.0 encodings with the thresholds of the running config. Anything it
//! cannot represent (streams, modules, functions, hash field expiry) or cannot trust (bad
//! lengths, a bad checksum, a short file) is refused with the byte offset and the reason.
//! Every embedded structure is checked in full before it is used, so a corrupt file or DUMP
//! payload is an error, never a panic.

use super::{MAX_READ_VERSION, crc64, opcode, rtype, ziplist};
use crate::db::KeyHasher;
use crate::types::hash::HashLimits;
use crate::types::intset::IntSet;
use crate::types::listpack::{Listpack, LpVal};
use crate::types::quicklist::{End, QlNode, Quicklist};
use crate::types::stream::{Consumer, ConsumerGroup, Nack, StreamId};
use crate::types::zset::ZsetLimits;
use crate::types::{HashValue, SetValue, StrValue, Stream, Value, ZsetValue};
use std::io::Read;

/// Where and why a file or payload was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct RdbError {
    pub offset: u64,
    pub reason: String,
}

impl std::fmt::Display for RdbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at offset {}: {}", self.offset, self.reason)
    }
}

pub type Result<T> = std::result::Result<T, RdbError>;

/// The config a loaded value's encoding follows.
#[derive(Clone)]
pub struct LoadLimits {
    pub hasher: KeyHasher,
    pub list_fill: i64,
    pub list_compress_depth: usize,
    pub hash: HashLimits,
    pub zset: ZsetLimits,
    pub set_max_intset: usize,
}

impl LoadLimits {
    /// Redis 7.0's defaults (forkv-check-rdb and tests).
    pub fn defaults() -> LoadLimits {
        LoadLimits {
            hasher: KeyHasher::default(),
            list_fill: -2,
            list_compress_depth: 0,
            hash: HashLimits {
                max_entries: 128,
                max_value: 64,
            },
            zset: ZsetLimits {
                max_entries: 128,
                max_value: 64,
            },
            set_max_intset: 512,
        }
    }
}

/// One key read from a file.
pub struct Entry {
    /// The RDB type byte the value was stored with.
    pub rdb_type: u8,
    pub key: Vec<u8>,
    pub value: Value,
    pub expire_ms: Option<i64>,
    pub idle_secs: Option<u64>,
    pub freq: Option<u8>,
}

/// What the next step of a file holds.
pub enum Item {
    Aux(Vec<u8>, Vec<u8>),
    SelectDb(u64),
    ResizeDb(u64, u64),
    Entry(Entry),
    /// A FUNCTION library: its code, shebang line included.
    Function(Vec<u8>),
    /// A key whose value was empty (Redis skips these with a warning).
    EmptyKey(Vec<u8>),
    /// The end, checksum verified (or absent / disabled in the file).
    Eof {
        checksum: Option<u64>,
    },
}

const READ_CHUNK: usize = 256 * 1024;
/// LZF expands at most 88× (3 bytes of back-reference for 264 bytes of output).
const LZF_MAX_RATIO: usize = 88;

pub struct RdbReader<R: Read> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    /// Offset in the input of `buf[0]`.
    base: u64,
    crc: u64,
    /// `buf[..crc_pos]` is already in `crc`.
    crc_pos: usize,
    pub version: u32,
    pub limits: LoadLimits,
    /// Verify the trailing checksum (rdbchecksum yes).
    pub verify_checksum: bool,
}

fn err<T>(offset: u64, reason: impl Into<String>) -> Result<T> {
    Err(RdbError {
        offset,
        reason: reason.into(),
    })
}

impl<R: Read> RdbReader<R> {
    pub fn new(inner: R, limits: LoadLimits) -> RdbReader<R> {
        RdbReader {
            inner,
            buf: Vec::new(),
            pos: 0,
            base: 0,
            crc: 0,
            crc_pos: 0,
            version: super::RDB_VERSION,
            limits,
            verify_checksum: true,
        }
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn fail<T>(&self, reason: impl Into<String>) -> Result<T> {
        err(self.offset(), reason)
    }

    /// Make at least `n` bytes available (fewer only at the end of input).
    fn fill(&mut self, n: usize) -> Result<bool> {
        if self.buf.len() - self.pos >= n {
            return Ok(true);
        }
        // Checksum what is about to be dropped, then move the unread tail to the front.
        self.crc = crc64::update(self.crc, &self.buf[self.crc_pos..self.pos]);
        self.buf.drain(..self.pos);
        self.base += self.pos as u64;
        self.pos = 0;
        self.crc_pos = 0;
        while self.buf.len() < n {
            let have = self.buf.len();
            let want = (n - have).max(READ_CHUNK);
            self.buf.resize(have + want, 0);
            let got = loop {
                match self.inner.read(&mut self.buf[have..]) {
                    Ok(g) => break g,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.buf.truncate(have);
                        return err(self.offset() + have as u64, format!("read error: {e}"));
                    }
                }
            };
            self.buf.truncate(have + got);
            if got == 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn take(&mut self, n: usize) -> Result<&[u8]> {
        if !self.fill(n)? {
            return self.fail(format!(
                "unexpected end of file (wanted {n} bytes, {} left)",
                self.buf.len() - self.pos
            ));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    /// `n` bytes into a fresh vector, read in chunks so a corrupt length cannot make us
    /// allocate more than the input holds.
    fn bytes(&mut self, n: u64) -> Result<Vec<u8>> {
        // Exact capacity when it is small enough to trust: the key or value is then boxed
        // without a reallocation; a huge claimed length grows only with the data read.
        let mut out = Vec::with_capacity(n.min(READ_CHUNK as u64) as usize);
        self.read_chunks(n, |c| out.extend_from_slice(c))?;
        Ok(out)
    }

    /// Hand `n` bytes of input to `sink`, a chunk at a time.
    fn read_chunks(&mut self, n: u64, mut sink: impl FnMut(&[u8])) -> Result<()> {
        let start = self.offset();
        let mut left = n;
        while left > 0 {
            let step = left.min(READ_CHUNK as u64) as usize;
            if !self.fill(step)? {
                return err(
                    start,
                    format!("unexpected end of file inside a {n}-byte string"),
                );
            }
            sink(&self.buf[self.pos..self.pos + step]);
            self.pos += step;
            left -= step as u64;
        }
        Ok(())
    }

    /// A length, or an encoding marker (`(value, true)`) for special strings.
    fn len_or_enc(&mut self) -> Result<(u64, bool)> {
        let b = self.byte()?;
        match b >> 6 {
            0 => Ok(((b & 0x3F) as u64, false)),
            1 => {
                let b2 = self.byte()?;
                Ok(((((b & 0x3F) as u64) << 8) | b2 as u64, false))
            }
            2 => match b {
                0x80 => {
                    let s = self.take(4)?;
                    Ok((u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as u64, false))
                }
                0x81 => {
                    let s = self.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(s);
                    Ok((u64::from_be_bytes(a), false))
                }
                _ => self.fail(format!("unknown length encoding {b:#04x}")),
            },
            _ => Ok(((b & 0x3F) as u64, true)),
        }
    }

    pub fn length(&mut self) -> Result<u64> {
        let at = self.offset();
        match self.len_or_enc()? {
            (n, false) => Ok(n),
            (_, true) => err(at, "a length was expected, found an encoded string marker"),
        }
    }

    /// A length that counts in-memory things: refuse the absurd before anything is reserved.
    fn count(&mut self, what: &str) -> Result<u64> {
        let at = self.offset();
        let n = self.length()?;
        if n > (1 << 40) {
            return err(at, format!("{what} count {n} is not plausible"));
        }
        Ok(n)
    }

    /// A string in any of its encodings, as bytes.
    pub fn string(&mut self) -> Result<Vec<u8>> {
        let at = self.offset();
        let (n, enc) = self.len_or_enc()?;
        self.string_body(at, n, enc)
    }

    /// The rest of a string whose length or encoding marker was read at `at`.
    fn string_body(&mut self, at: u64, n: u64, enc: bool) -> Result<Vec<u8>> {
        if !enc {
            return self.bytes(n);
        }
        match n {
            0 => Ok(itoa(self.byte()? as i8 as i64)),
            1 => {
                let s = self.take(2)?;
                Ok(itoa(i16::from_le_bytes([s[0], s[1]]) as i64))
            }
            2 => {
                let s = self.take(4)?;
                Ok(itoa(i32::from_le_bytes([s[0], s[1], s[2], s[3]]) as i64))
            }
            3 => {
                let clen = self.length()?;
                let rlen = self.length()?;
                if rlen > clen.saturating_mul(LZF_MAX_RATIO as u64) + 64 {
                    return err(
                        at,
                        format!("LZF string claims {rlen} bytes from {clen} compressed"),
                    );
                }
                let data = self.bytes(clen)?;
                match crate::types::lzf::decompress(&data, rlen as usize) {
                    Some(v) if v.len() == rlen as usize => Ok(v),
                    _ => err(at, "invalid LZF compressed string"),
                }
            }
            _ => err(at, format!("unknown string encoding {n}")),
        }
    }

    /// A string value, encoded as Redis's tryObjectEncoding would. A long plain string is read
    /// straight into its value-heap buffer (a big value is never held twice while loading).
    fn str_value(&mut self) -> Result<StrValue> {
        let at = self.offset();
        let (n, enc) = self.len_or_enc()?;
        if !enc && n > crate::types::string::EMBSTR_LIMIT as u64 {
            let mut v = crate::alloc::heap::heap_bytes(n.min(READ_CHUNK as u64) as usize);
            self.read_chunks(n, |c| crate::alloc::heap::push_bytes(&mut v, c))?;
            if v.capacity() > v.len() {
                v.shrink_to_fit();
            }
            return Ok(StrValue::Raw(v));
        }
        let s = self.string_body(at, n, enc)?;
        Ok(StrValue::from_bytes(&s))
    }

    fn binary_double(&mut self) -> Result<f64> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(f64::from_le_bytes(a))
    }

    /// The old ZSET encoding's text doubles (length byte; 253 NaN, 254 +inf, 255 -inf).
    fn text_double(&mut self) -> Result<f64> {
        let at = self.offset();
        let l = self.byte()?;
        match l {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            _ => {
                let s = self.take(l as usize)?;
                std::str::from_utf8(s)
                    .ok()
                    .and_then(|t| t.trim().parse::<f64>().ok())
                    .map_or_else(|| err(at, "invalid double"), Ok)
            }
        }
    }

    /// "REDIS" and a version this reader knows.
    pub fn header(&mut self) -> Result<u32> {
        let h = self.take(9)?;
        if &h[..5] != b"REDIS" {
            return err(0, "wrong signature (not an RDB file)");
        }
        let v = std::str::from_utf8(&h[5..])
            .ok()
            .and_then(|t| t.parse::<u32>().ok());
        match v {
            Some(v) if (1..=MAX_READ_VERSION).contains(&v) => {
                self.version = v;
                Ok(v)
            }
            _ => err(
                5,
                format!(
                    "can't handle RDB format version {}",
                    String::from_utf8_lossy(&h[5..])
                ),
            ),
        }
    }

    /// The next item of the file.
    pub fn next_item(&mut self) -> Result<Item> {
        self.next_item_with(&mut |_| {})
    }

    /// `next_item`, calling `on_key` with a key's name as soon as it is read, before its
    /// value is parsed (the loader starts fetching the key's table slot meanwhile).
    pub fn next_item_with(&mut self, on_key: &mut dyn FnMut(&[u8])) -> Result<Item> {
        let mut expire_ms = None;
        let mut idle_secs = None;
        let mut freq = None;
        loop {
            let at = self.offset();
            let t = self.byte()?;
            match t {
                opcode::EXPIRETIME_MS => {
                    let s = self.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(s);
                    expire_ms = Some(i64::from_le_bytes(a));
                }
                opcode::EXPIRETIME => {
                    let s = self.take(4)?;
                    expire_ms = Some(i32::from_le_bytes([s[0], s[1], s[2], s[3]]) as i64 * 1000);
                }
                opcode::FREQ => freq = Some(self.byte()?),
                opcode::IDLE => idle_secs = Some(self.length()?),
                opcode::EOF => return self.trailer(),
                opcode::SELECTDB => return Ok(Item::SelectDb(self.length()?)),
                opcode::RESIZEDB => {
                    let a = self.length()?;
                    let b = self.length()?;
                    return Ok(Item::ResizeDb(a, b));
                }
                opcode::AUX => {
                    let k = self.string()?;
                    let v = self.string()?;
                    return Ok(Item::Aux(k, v));
                }
                opcode::MODULE_AUX => {
                    return err(at, "module auxiliary data is not supported (no modules)");
                }
                opcode::FUNCTION2 => return Ok(Item::Function(self.string()?)),
                opcode::FUNCTION => {
                    return err(at, "Pre-GA function format not supported");
                }
                opcode::SLOT_INFO => {
                    // Cluster slot sizes (7.4): hints only.
                    self.length()?;
                    self.length()?;
                    self.length()?;
                }
                _ => {
                    let key = self.string()?;
                    on_key(&key);
                    return Ok(match self.object(t, at)? {
                        Some(value) => Item::Entry(Entry {
                            rdb_type: t,
                            key,
                            value,
                            expire_ms,
                            idle_secs,
                            freq,
                        }),
                        None => Item::EmptyKey(key),
                    });
                }
            }
        }
    }

    fn trailer(&mut self) -> Result<Item> {
        if self.version < 5 {
            return Ok(Item::Eof { checksum: None });
        }
        self.crc = crc64::update(self.crc, &self.buf[self.crc_pos..self.pos]);
        self.crc_pos = self.pos;
        let expected = self.crc;
        let at = self.offset();
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        let got = u64::from_le_bytes(a);
        self.crc_pos = self.pos;
        if got != 0 && self.verify_checksum && got != expected {
            return err(
                at,
                format!("wrong RDB checksum: expected {expected:016x}, file has {got:016x}"),
            );
        }
        Ok(Item::Eof {
            checksum: (got != 0).then_some(got),
        })
    }

    /// A value of RDB type `t` (read after its key). `None` for an empty collection.
    pub fn object(&mut self, t: u8, at: u64) -> Result<Option<Value>> {
        let lim = self.limits.clone();
        match t {
            rtype::STRING => Ok(Some(Value::Str(self.str_value()?))),
            rtype::LIST => {
                let n = self.count("list element")?;
                let mut ql = new_list(&lim);
                for _ in 0..n {
                    let e = self.string()?;
                    ql.push(End::Tail, &e, lim.list_fill);
                }
                Ok((!ql.is_empty()).then(|| Value::List(Box::new(ql))))
            }
            rtype::SET => {
                let n = self.count("set member")?;
                let mut set = if n as usize > lim.set_max_intset {
                    SetValue::Table(Box::new(crate::types::value_dict(&lim.hasher)))
                } else {
                    SetValue::Ints(IntSet::new())
                };
                for _ in 0..n {
                    let m_at = self.offset();
                    let m = self.string()?;
                    if !set.add(&m, usize::MAX, &lim.hasher) {
                        return err(m_at, "duplicate set members detected");
                    }
                }
                Ok((!set.is_empty()).then_some(Value::Set(set)))
            }
            rtype::ZSET | rtype::ZSET_2 => {
                let n = self.count("sorted set member")?;
                let mut z = ZsetValue::new_skiplist(&lim.hasher);
                let (mut maxlen, mut total) = (0usize, 0usize);
                for _ in 0..n {
                    let m_at = self.offset();
                    let m = self.string()?;
                    let s = if t == rtype::ZSET_2 {
                        self.binary_double()?
                    } else {
                        self.text_double()?
                    };
                    if s.is_nan() {
                        return err(m_at, "zset with NAN score detected");
                    }
                    if z.score(&m).is_some() {
                        return err(m_at, "duplicate zset fields detected");
                    }
                    maxlen = maxlen.max(m.len());
                    total += m.len();
                    z.insert(&m, s, lim.zset, &lim.hasher);
                }
                if z.is_empty() {
                    return Ok(None);
                }
                if z.len() <= lim.zset.max_entries
                    && maxlen <= lim.zset.max_value
                    && total < (1 << 30)
                {
                    z.maybe_to_listpack(lim.zset);
                }
                Ok(Some(Value::Zset(z)))
            }
            rtype::HASH => {
                let n = self.count("hash field")?;
                let mut h = HashValue::new();
                if n as usize > lim.hash.max_entries {
                    h.convert_to_table(&lim.hasher);
                }
                for _ in 0..n {
                    let f_at = self.offset();
                    let f = self.string()?;
                    let v = self.string()?;
                    if h.contains(&f) {
                        return err(f_at, "duplicate hash fields detected");
                    }
                    h.convert_for_lengths([f.len(), v.len()].into_iter(), lim.hash, &lim.hasher);
                    h.set(&f, &v, lim.hash, &lim.hasher);
                }
                Ok((!h.is_empty()).then_some(Value::Hash(h)))
            }
            rtype::LIST_QUICKLIST | rtype::LIST_QUICKLIST_2 => {
                let n = self.count("quicklist node")?;
                let mut ql = new_list(&lim);
                for _ in 0..n {
                    let mut container = 2;
                    if t == rtype::LIST_QUICKLIST_2 {
                        let c_at = self.offset();
                        container = self.length()?;
                        if container != 1 && container != 2 {
                            return err(c_at, "quicklist integrity check failed (container)");
                        }
                    }
                    let n_at = self.offset();
                    let data = self.string()?;
                    if data.is_empty() {
                        return err(n_at, "empty quicklist node");
                    }
                    if container == 1 {
                        ql.append_node(Quicklist::plain_node(&data));
                        continue;
                    }
                    let lp = if t == rtype::LIST_QUICKLIST_2 {
                        Listpack::from_bytes(&data)
                            .map_or_else(|| err(n_at, "listpack integrity check failed"), Ok)?
                    } else {
                        let mut lp = Listpack::new();
                        ziplist::for_each(&data, |v| push_lpval(&mut lp, v)).map_or_else(
                            |e| err(n_at, format!("ziplist integrity check failed: {e}")),
                            Ok,
                        )?;
                        lp
                    };
                    if !lp.is_empty() {
                        ql.append_node(QlNode::Packed(lp));
                    }
                }
                Ok((!ql.is_empty()).then(|| Value::List(Box::new(ql))))
            }
            rtype::HASH_ZIPMAP => {
                let data = self.string()?;
                let pairs = ziplist::zipmap_pairs(&data).map_or_else(
                    |e| err(at, format!("zipmap integrity check failed: {e}")),
                    Ok,
                )?;
                let mut h = HashValue::new();
                let maxlen = pairs
                    .iter()
                    .map(|(f, v)| f.len().max(v.len()))
                    .max()
                    .unwrap_or(0);
                if pairs.len() > lim.hash.max_entries || maxlen > lim.hash.max_value {
                    h.convert_to_table(&lim.hasher);
                }
                for (f, v) in &pairs {
                    if h.contains(f) {
                        return err(at, "hash zipmap with duplicate fields");
                    }
                    h.set(f, v, unlimited_hash(), &lim.hasher);
                }
                Ok((!h.is_empty()).then_some(Value::Hash(h)))
            }
            rtype::LIST_ZIPLIST => {
                let data = self.string()?;
                let mut ql = new_list(&lim);
                ziplist::for_each(&data, |v| {
                    let mut b = Vec::new();
                    v.write_to(&mut b);
                    ql.push(End::Tail, &b, lim.list_fill);
                })
                .map_or_else(
                    |e| err(at, format!("list ziplist integrity check failed: {e}")),
                    Ok,
                )?;
                Ok((!ql.is_empty()).then(|| Value::List(Box::new(ql))))
            }
            rtype::SET_INTSET => {
                let data = self.string()?;
                let is = IntSet::from_bytes(&data)
                    .map_or_else(|| err(at, "intset integrity check failed"), Ok)?;
                if is.is_empty() {
                    return Ok(None);
                }
                let mut set = SetValue::Ints(is);
                if set.len() > lim.set_max_intset {
                    set.convert_to_table(&lim.hasher);
                }
                Ok(Some(Value::Set(set)))
            }
            rtype::SET_LISTPACK => {
                let data = self.string()?;
                let lp = Listpack::from_bytes(&data)
                    .map_or_else(|| err(at, "set listpack integrity check failed"), Ok)?;
                let mut set = if lp.len() > lim.set_max_intset {
                    SetValue::Table(Box::new(crate::types::value_dict(&lim.hasher)))
                } else {
                    SetValue::Ints(IntSet::new())
                };
                let mut b = Vec::new();
                for v in lp.iter() {
                    b.clear();
                    v.write_to(&mut b);
                    if !set.add(&b, lim.set_max_intset, &lim.hasher) {
                        return err(at, "duplicate set members detected");
                    }
                }
                Ok((!set.is_empty()).then_some(Value::Set(set)))
            }
            rtype::ZSET_ZIPLIST | rtype::ZSET_LISTPACK => {
                let data = self.string()?;
                let lp = self.pairs_listpack(t == rtype::ZSET_ZIPLIST, &data, at, "zset")?;
                for (i, v) in lp.iter().enumerate() {
                    if i % 2 == 1 && score_of(v).is_none() {
                        return err(at, "zset listpack holds a score that is not a number");
                    }
                }
                if lp.is_empty() {
                    return Ok(None);
                }
                let mut z = ZsetValue::Listpack(lp);
                if z.len() > lim.zset.max_entries {
                    z = self.zset_from_pairs(&z, at)?;
                }
                Ok(Some(Value::Zset(z)))
            }
            rtype::HASH_ZIPLIST | rtype::HASH_LISTPACK => {
                let data = self.string()?;
                let lp = self.pairs_listpack(t == rtype::HASH_ZIPLIST, &data, at, "hash")?;
                if lp.is_empty() {
                    return Ok(None);
                }
                let mut h = HashValue::Listpack(lp);
                if h.len() > lim.hash.max_entries {
                    h = hash_table_from(&h, &lim.hasher)
                        .map_or_else(|| err(at, "hash listpack with duplicate fields"), Ok)?;
                }
                Ok(Some(Value::Hash(h)))
            }
            rtype::STREAM_LISTPACKS | rtype::STREAM_LISTPACKS_2 | rtype::STREAM_LISTPACKS_3 => {
                Ok(Some(Value::Stream(Box::new(self.stream(t, at)?))))
            }
            rtype::MODULE | rtype::MODULE_2 => err(
                at,
                format!("module values (RDB type {t}) are not supported"),
            ),
            rtype::HASH_METADATA_PRE_GA
            | rtype::HASH_LISTPACK_EX_PRE_GA
            | rtype::HASH_METADATA
            | rtype::HASH_LISTPACK_EX => err(
                at,
                format!("hashes with field expiration (RDB type {t}) are not supported"),
            ),
            _ => err(at, format!("unknown RDB value type {t}")),
        }
    }

    fn stream_id(&mut self) -> Result<StreamId> {
        Ok(StreamId::new(self.length()?, self.length()?))
    }

    fn raw_stream_id(&mut self, at: u64) -> Result<StreamId> {
        let b = self.take(16)?;
        StreamId::decode(b).map_or_else(|| err(at, "bad stream ID"), Ok)
    }

    fn millis(&mut self) -> Result<i64> {
        let b = self.take(8)?;
        Ok(i64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
    }

    /// A stream of any of the three stream types (rdbLoadObject's checks included).
    fn stream(&mut self, t: u8, at: u64) -> Result<Stream> {
        let mut st = Stream::new();
        let nodes = self.count("stream node")?;
        for _ in 0..nodes {
            let key = self.string()?;
            let Some(master) = StreamId::decode(&key) else {
                return err(at, "stream node key entry is not the size of a stream ID");
            };
            let data = self.string()?;
            let lp = Listpack::from_bytes(&data)
                .filter(crate::types::stream::valid_node)
                .map_or_else(|| err(at, "stream listpack integrity check failed"), Ok)?;
            if lp.is_empty() {
                return err(at, "empty listpack inside stream");
            }
            if st.nodes.insert(master, lp).is_some() {
                return err(at, "listpack re-added with existing key");
            }
        }
        st.length = self.length()?;
        st.last_id = self.stream_id()?;
        if t == rtype::STREAM_LISTPACKS {
            st.entries_added = st.length;
            st.first_id = st.edge_id(true, true);
        } else {
            st.first_id = self.stream_id()?;
            st.max_deleted_entry_id = self.stream_id()?;
            st.entries_added = self.length()?;
        }
        if !st.consistent() {
            return err(at, "stream length inconsistent with its nodes");
        }
        let groups = self.count("stream consumer group")?;
        for _ in 0..groups {
            let name = self.string()?;
            let last_id = self.stream_id()?;
            let entries_read = if t == rtype::STREAM_LISTPACKS {
                st.estimate_distance(last_id)
            } else {
                self.length()? as i64
            };
            let mut g = ConsumerGroup::new(last_id, entries_read);
            let pel = self.count("stream PEL")?;
            for _ in 0..pel {
                let id = self.raw_stream_id(at)?;
                let nack = Nack {
                    delivery_time: self.millis()?,
                    delivery_count: self.length()?,
                    consumer: Box::default(),
                };
                if g.pel.insert(id, nack).is_some() {
                    return err(
                        at,
                        "duplicated global PEL entry loading stream consumer group",
                    );
                }
            }
            let consumers = self.count("stream consumer")?;
            let mut owned_ids = std::collections::BTreeSet::new();
            for _ in 0..consumers {
                let cname = self.string()?;
                let seen_time = self.millis()?;
                if t == rtype::STREAM_LISTPACKS_3 {
                    self.millis()?; // active time (Redis 7.4), not kept
                }
                if g.consumers.contains_key(cname.as_slice()) {
                    return err(at, "duplicate stream consumer detected");
                }
                let mut c = Consumer {
                    seen_time,
                    pel: Default::default(),
                };
                let owned = self.count("stream consumer PEL")?;
                for _ in 0..owned {
                    let id = self.raw_stream_id(at)?;
                    let Some(nack) = g.pel.get_mut(&id) else {
                        return err(at, "consumer entry not found in group global PEL");
                    };
                    nack.consumer = cname.as_slice().into();
                    owned_ids.insert(id);
                    if !c.pel.insert(id) {
                        return err(
                            at,
                            "duplicated consumer PEL entry loading a stream consumer group",
                        );
                    }
                }
                g.consumers.insert(cname.into_boxed_slice(), c);
            }
            if owned_ids.len() != g.pel.len() {
                return err(at, "stream CG PEL entry without consumer");
            }
            if st.cgroups.insert(name.into_boxed_slice(), g).is_some() {
                return err(at, "duplicated consumer group name");
            }
        }
        Ok(st)
    }

    /// A listpack of pairs from a pairs listpack or ziplist; checked, even.
    fn pairs_listpack(&self, ziplist: bool, data: &[u8], at: u64, what: &str) -> Result<Listpack> {
        let lp = if ziplist {
            let mut lp = Listpack::new();
            ziplist::for_each(data, |v| push_lpval(&mut lp, v)).map_or_else(
                |e| err(at, format!("{what} ziplist integrity check failed: {e}")),
                Ok,
            )?;
            lp
        } else {
            Listpack::from_bytes(data).map_or_else(
                || err(at, format!("{what} listpack integrity check failed")),
                Ok,
            )?
        };
        if lp.len() % 2 != 0 {
            return err(at, format!("{what} listpack has an odd number of entries"));
        }
        Ok(lp)
    }

    fn zset_from_pairs(&self, z: &ZsetValue, at: u64) -> Result<ZsetValue> {
        let mut out = ZsetValue::new_skiplist(&self.limits.hasher);
        let mut dup = false;
        z.for_each(|m, s| {
            if out.score(m).is_some() {
                dup = true;
            } else {
                out.insert(m, s, self.limits.zset, &self.limits.hasher);
            }
        });
        if dup {
            return err(at, "zset listpack with duplicate members");
        }
        Ok(out)
    }
}

fn new_list(lim: &LoadLimits) -> Quicklist {
    let mut ql = Quicklist::new();
    ql.set_compress_depth(lim.list_compress_depth);
    ql
}

fn unlimited_hash() -> HashLimits {
    HashLimits {
        max_entries: usize::MAX,
        max_value: usize::MAX,
    }
}

fn hash_table_from(h: &HashValue, hasher: &KeyHasher) -> Option<HashValue> {
    let mut t = HashValue::new();
    t.convert_to_table(hasher);
    let mut dup = false;
    h.for_each(|f, v| {
        if t.contains(f) {
            dup = true;
        } else {
            t.set(f, v, unlimited_hash(), hasher);
        }
    });
    (!dup).then_some(t)
}

fn score_of(v: LpVal<'_>) -> Option<f64> {
    match v {
        LpVal::Int(i) => Some(i as f64),
        LpVal::Str(s) => crate::cmd::parse_f64(s).filter(|f| !f.is_nan()),
    }
}

fn push_lpval(lp: &mut Listpack, v: LpVal<'_>) {
    match v {
        LpVal::Str(s) => lp.push_back(s),
        LpVal::Int(i) => lp.push_back(&itoa(i)),
    }
}

fn itoa(v: i64) -> Vec<u8> {
    crate::resp::writer::itoa_buf(v).as_bytes().to_vec()
}

/// Check a DUMP payload's footer (RDB version ≤ what we read, CRC64) and return its body.
pub fn verify_dump_payload(p: &[u8]) -> Option<&[u8]> {
    if p.len() < 10 {
        return None;
    }
    let body_end = p.len() - 10;
    let ver = u16::from_le_bytes([p[body_end], p[body_end + 1]]) as u32;
    if ver > MAX_READ_VERSION {
        return None;
    }
    let mut c = [0u8; 8];
    c.copy_from_slice(&p[p.len() - 8..]);
    let crc = u64::from_le_bytes(c);
    (crc64::update(0, &p[..p.len() - 8]) == crc).then_some(&p[..body_end])
}

/// The libraries of a verified FUNCTION DUMP payload body, or FUNCTION RESTORE's error text.
pub fn function_records(body: &[u8]) -> std::result::Result<Vec<Vec<u8>>, String> {
    let mut r = RdbReader::new(body, LoadLimits::defaults());
    let mut out = Vec::new();
    while r.offset() < body.len() as u64 {
        match r.byte() {
            Ok(opcode::FUNCTION2) => {}
            Ok(opcode::FUNCTION) => return Err("Pre-GA function format not supported".into()),
            Ok(_) => return Err("given type is not a function".into()),
            Err(_) => return Err("can not read data type".into()),
        }
        match r.string() {
            Ok(code) => out.push(code),
            Err(_) => return Err("failed loading the given functions payload".into()),
        }
    }
    Ok(out)
}

/// Decode a verified DUMP payload body into a value (None: bad format or empty).
pub fn value_from_dump(body: &[u8], limits: LoadLimits) -> Result<Value> {
    let mut r = RdbReader::new(body, limits);
    let t = r.byte()?;
    match r.object(t, 0)? {
        Some(v) => Ok(v),
        None => err(0, "empty value"),
    }
}
