//! Value encodings. A key's value is a `Value`; each type keeps Redis 7.0's encodings so that
//! `OBJECT ENCODING`, memory use and RDB output follow Redis.

pub mod string;

pub use string::StrValue;

/// Redis's shared integers 0..OBJ_SHARED_INTEGERS report this refcount in OBJECT REFCOUNT.
pub const SHARED_REFCOUNT: i64 = i32::MAX as i64;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(StrValue),
}

impl Value {
    /// The TYPE name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
        }
    }

    /// The OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding(),
        }
    }

    pub fn as_str(&self) -> Option<&StrValue> {
        match self {
            Value::Str(s) => Some(s),
        }
    }

    pub fn as_str_mut(&mut self) -> Option<&mut StrValue> {
        match self {
            Value::Str(s) => Some(s),
        }
    }
}
