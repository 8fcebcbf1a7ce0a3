//! Value encodings. A key's value is a `Value`; each type keeps Redis 7.0's encodings so that
//! `OBJECT ENCODING`, memory use and RDB output follow Redis.

pub mod geohash;
pub mod hash;
pub mod hll;
pub mod intset;
pub mod listpack;
pub mod lzf;
pub mod quicklist;
pub mod set;
pub mod skiplist;
pub mod stream;
pub mod string;
pub mod zset;

pub use hash::HashValue;
pub use quicklist::Quicklist;
pub use set::SetValue;
pub use stream::Stream;
pub use string::StrValue;
pub use zset::ZsetValue;

/// The hash table inside a hash, set or sorted set: its nodes live on the value heap (DESIGN §9).
pub type ValueDict<V> = crate::db::Dict<V, crate::alloc::heap::ValueHeap>;

pub fn value_dict<V>(hasher: &crate::db::KeyHasher) -> ValueDict<V> {
    crate::db::Dict::new_in(hasher.clone(), crate::alloc::heap::ValueHeap)
}

/// Redis's shared integers 0..OBJ_SHARED_INTEGERS report this refcount in OBJECT REFCOUNT.
pub const SHARED_REFCOUNT: i64 = i32::MAX as i64;

/// A value. Collections keep their small encodings inline (a listpack or intset is one pointer
/// and two lengths) and box their large ones, so a key's slot stays as small as a string's.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(StrValue),
    List(Box<Quicklist>),
    Hash(HashValue),
    Set(SetValue),
    Zset(ZsetValue),
    Stream(Box<Stream>),
}

impl Value {
    /// The TYPE name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::Zset(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// The OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding(),
            Value::List(_) => "quicklist",
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::Zset(z) => z.encoding(),
            Value::Stream(_) => "stream",
        }
    }

    pub fn as_str(&self) -> Option<&StrValue> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_str_mut(&mut self) -> Option<&mut StrValue> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Heap bytes the value holds (MEMORY USAGE-style estimate; DEBUG OBJECT).
    pub fn alloc_size(&self) -> usize {
        match self {
            Value::Str(s) => s.heap_size(),
            Value::List(q) => q.alloc_size(),
            Value::Hash(h) => h.alloc_size(),
            Value::Set(s) => s.alloc_size(),
            Value::Zset(z) => z.alloc_size(),
            Value::Stream(s) => s.alloc_size(),
        }
    }

    /// Number of elements for a collection (1 for a string).
    pub fn element_count(&self) -> usize {
        match self {
            Value::Str(_) => 1,
            Value::List(q) => q.len(),
            Value::Hash(h) => h.len(),
            Value::Set(s) => s.len(),
            Value::Zset(z) => z.len(),
            Value::Stream(s) => s.length as usize,
        }
    }
}

macro_rules! projections {
    ($($read:ident, $write:ident, $variant:ident, $t:ty);* $(;)?) => {
        impl Value {
            $(
                pub fn $read(&self) -> Option<&$t> {
                    match self {
                        Value::$variant(x) => Some(x),
                        _ => None,
                    }
                }
                pub fn $write(&mut self) -> Option<&mut $t> {
                    match self {
                        Value::$variant(x) => Some(x),
                        _ => None,
                    }
                }
            )*
        }
    };
}

projections! {
    as_list, as_list_mut, List, Quicklist;
    as_hash, as_hash_mut, Hash, HashValue;
    as_set, as_set_mut, Set, SetValue;
    as_zset, as_zset_mut, Zset, ZsetValue;
    as_stream, as_stream_mut, Stream, Box<Stream>;
}

#[cfg(test)]
mod size_tests {
    /// A key's slot holds its value inline: collections must not make every string key bigger.
    #[test]
    fn values_stay_as_small_as_a_string_slot() {
        assert!(std::mem::size_of::<super::Value>() <= 32);
        assert!(std::mem::size_of::<crate::db::Obj>() <= 40);
    }
}
