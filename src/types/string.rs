//! Strings in Redis's three encodings: `int` (a 64-bit integer), `embstr` (short, immutable
//! until written), `raw` (anything longer, and every string a command modified in place).

use crate::alloc::heap::{HeapBox, HeapBytes, heap_box, heap_bytes};
use crate::resp::parse_i64;
use std::borrow::Cow;

/// Longest string Redis keeps embedded in its object header.
pub const EMBSTR_LIMIT: usize = 44;
/// Integers below this are Redis's shared objects (refcount reported as INT_MAX).
pub const SHARED_INTEGERS: i64 = 10000;

#[derive(Clone, Debug, PartialEq)]
pub enum StrValue {
    Int(i64),
    /// An integer that is an object of its own: Redis shares small integers (OBJECT REFCOUNT
    /// reports INT_MAX for them) except in copies (COPY duplicates the object).
    IntPrivate(i64),
    /// Both byte forms live on the value heap (DESIGN §9), like the collections' buffers.
    Emb(HeapBox),
    Raw(HeapBytes),
}

fn raw_from(b: &[u8]) -> HeapBytes {
    let mut v = heap_bytes(b.len());
    crate::alloc::heap::push_bytes(&mut v, b);
    v
}

impl StrValue {
    /// The encoding `SET` and friends give a new value (Redis's tryObjectEncoding).
    pub fn from_bytes(b: &[u8]) -> StrValue {
        if b.len() <= 20
            && let Some(v) = parse_i64(b)
        {
            return StrValue::Int(v);
        }
        if b.len() <= EMBSTR_LIMIT {
            StrValue::Emb(heap_box(b))
        } else {
            StrValue::Raw(raw_from(b))
        }
    }

    /// A string created without trying the integer encoding (createStringObject).
    pub fn plain(b: &[u8]) -> StrValue {
        if b.len() <= EMBSTR_LIMIT {
            StrValue::Emb(heap_box(b))
        } else {
            StrValue::Raw(raw_from(b))
        }
    }

    /// A `raw` string of `len` zero bytes (SETBIT, SETRANGE and BITFIELD growing a new key).
    pub fn zeroed(len: usize) -> StrValue {
        let mut v = heap_bytes(len);
        v.resize(len, 0);
        StrValue::Raw(v)
    }

    /// A `raw` string holding `b` as is (HyperLogLogs, BITOP results).
    pub fn raw(b: &[u8]) -> StrValue {
        StrValue::Raw(raw_from(b))
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            StrValue::Int(_) | StrValue::IntPrivate(_) => "int",
            StrValue::Emb(_) => "embstr",
            StrValue::Raw(_) => "raw",
        }
    }

    pub fn bytes(&self) -> Cow<'_, [u8]> {
        match self {
            StrValue::Int(v) | StrValue::IntPrivate(v) => {
                Cow::Owned(crate::resp::writer::itoa_buf(*v).as_bytes().to_vec())
            }
            StrValue::Emb(b) => Cow::Borrowed(&b[..]),
            StrValue::Raw(b) => Cow::Borrowed(&b[..]),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            StrValue::Int(v) | StrValue::IntPrivate(v) => {
                crate::resp::writer::itoa_buf(*v).as_bytes().len()
            }
            StrValue::Emb(b) => b.len(),
            StrValue::Raw(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value as an integer, as getLongLongFromObject reads it.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            StrValue::Int(v) | StrValue::IntPrivate(v) => Some(*v),
            StrValue::Emb(b) => parse_i64(b),
            StrValue::Raw(b) => parse_i64(b),
        }
    }

    /// Make the value a modifiable `raw` buffer (dbUnshareStringValue) and return it.
    pub fn make_raw(&mut self) -> &mut HeapBytes {
        if !matches!(self, StrValue::Raw(_)) {
            *self = StrValue::Raw(raw_from(&self.bytes()));
        }
        match self {
            StrValue::Raw(v) => v,
            _ => unreachable!("just converted to raw"),
        }
    }

    /// OBJECT REFCOUNT as Redis reports it.
    pub fn refcount(&self) -> i64 {
        match self {
            StrValue::Int(v) if (0..SHARED_INTEGERS).contains(v) => super::SHARED_REFCOUNT,
            _ => 1,
        }
    }

    /// The value as COPY creates it (Redis's dupStringObject): same encoding, own object.
    pub fn duplicate(&self) -> StrValue {
        match self {
            StrValue::Int(v) | StrValue::IntPrivate(v) => StrValue::IntPrivate(*v),
            other => other.clone(),
        }
    }

    /// Heap bytes this value holds (for accounting and DEBUG OBJECT serializedlength estimates).
    pub fn heap_size(&self) -> usize {
        match self {
            StrValue::Int(_) | StrValue::IntPrivate(_) => 0,
            StrValue::Emb(b) => b.len(),
            StrValue::Raw(b) => b.capacity(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_follow_redis() {
        assert_eq!(StrValue::from_bytes(b"123").encoding(), "int");
        assert_eq!(StrValue::from_bytes(b"0123").encoding(), "embstr");
        assert_eq!(StrValue::from_bytes(&[b'a'; 44]).encoding(), "embstr");
        assert_eq!(StrValue::from_bytes(&[b'a'; 45]).encoding(), "raw");
        let mut v = StrValue::from_bytes(b"12");
        v.make_raw().push(b'3');
        assert_eq!(v.encoding(), "raw");
        assert_eq!(v.as_i64(), Some(123));
    }
}
