//! The RDB format (DESIGN §11 persist/rdb): `encode` writes what Redis 7.0 writes (version 10),
//! `decode` reads versions 1 to 12, `ziplist` the retired encodings old files hold, `crc64`
//! the checksum of files and DUMP payloads. No file or fsync policy lives here.

pub mod crc64;
pub mod decode;
pub mod encode;
pub mod ziplist;

pub use decode::{Entry, Item, LoadLimits, RdbError, RdbReader};
pub use encode::RdbWriter;

/// The version this writer produces (Redis 7.0).
pub const RDB_VERSION: u32 = 10;
/// The newest version the reader accepts (Redis 7.4).
pub const MAX_READ_VERSION: u32 = 12;

/// Value type bytes.
pub mod rtype {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    pub const SET_LISTPACK: u8 = 20;
    pub const STREAM_LISTPACKS_3: u8 = 21;
    pub const HASH_METADATA_PRE_GA: u8 = 22;
    pub const HASH_LISTPACK_EX_PRE_GA: u8 = 23;
    pub const HASH_METADATA: u8 = 24;
    pub const HASH_LISTPACK_EX: u8 = 25;

    /// A readable name for a type byte (forkv-check-rdb).
    pub fn name(t: u8) -> &'static str {
        match t {
            STRING => "string",
            LIST => "list-linked",
            SET => "set-hashtable",
            ZSET => "zset-v1",
            HASH => "hash-hashtable",
            ZSET_2 => "zset-skiplist",
            HASH_ZIPMAP => "hash-zipmap",
            LIST_ZIPLIST => "list-ziplist",
            SET_INTSET => "set-intset",
            ZSET_ZIPLIST => "zset-ziplist",
            HASH_ZIPLIST => "hash-ziplist",
            LIST_QUICKLIST => "list-quicklist",
            HASH_LISTPACK => "hash-listpack",
            ZSET_LISTPACK => "zset-listpack",
            LIST_QUICKLIST_2 => "list-quicklist2",
            SET_LISTPACK => "set-listpack",
            STREAM_LISTPACKS => "stream-listpacks",
            STREAM_LISTPACKS_2 => "stream-listpacks-2",
            STREAM_LISTPACKS_3 => "stream-listpacks-3",
            _ => "other",
        }
    }
}

/// Opcodes between keys.
pub mod opcode {
    pub const SLOT_INFO: u8 = 244;
    pub const FUNCTION2: u8 = 245;
    pub const FUNCTION: u8 = 246;
    pub const MODULE_AUX: u8 = 247;
    pub const IDLE: u8 = 248;
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const EXPIRETIME: u8 = 253;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;
}

#[cfg(test)]
mod tests;
