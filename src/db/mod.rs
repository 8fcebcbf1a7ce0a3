//! The databases (DESIGN §4): each is a main table of keys to values and a separate table of
//! expiry deadlines. `keyspace.rs` holds the lookups that apply lazy expiry and propagate it;
//! `expire.rs` the active expiry cycle.

pub mod dict;
pub mod digest;
pub mod evict;
pub mod expire;
pub mod keyspace;

pub use dict::{Dict, KeyHasher, KeyRef};

use crate::types::Value;

/// A stored value with its access clock (OBJECT IDLETIME).
#[derive(Debug)]
pub struct Obj {
    pub val: Value,
    /// LRU clock (seconds, 24 bits, as Redis) of the last access.
    pub lru: u32,
}

/// Redis's LRU clock: seconds, wrapping at 24 bits.
pub const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;

pub fn lru_clock(now_ms: i64) -> u32 {
    ((now_ms / 1000) as u32) & LRU_CLOCK_MAX
}

/// The LRU stamp of an object idle for `idle_secs` at `clock` (objectSetLRUOrLFU's LRU
/// branch: RDB IDLE opcodes, RESTORE IDLETIME), handling the 24-bit wrap.
pub fn lru_stamp_for_idle(clock: u32, idle_secs: u64) -> u32 {
    let i = idle_secs.min(LRU_CLOCK_MAX as u64) as u32;
    if clock >= i {
        clock - i
    } else {
        LRU_CLOCK_MAX - (i - clock) + 1
    }
}

/// Seconds since `lru` given the current clock, handling the 24-bit wrap.
pub fn lru_idle_secs(clock: u32, lru: u32) -> u64 {
    if clock >= lru {
        (clock - lru) as u64
    } else {
        (clock as u64 + (LRU_CLOCK_MAX - lru) as u64) + 1
    }
}

pub struct Db {
    pub dict: Dict<Obj>,
    pub expires: Dict<i64>,
    /// Average TTL of keys seen by the active expiry cycle (INFO keyspace avg_ttl).
    pub avg_ttl: i64,
    /// Where the active expiry cycle continues its scan of `expires`.
    pub expires_cursor: u64,
}

impl Db {
    pub fn new(hasher: &KeyHasher) -> Db {
        Db {
            dict: Dict::new(hasher.clone()),
            expires: Dict::new(hasher.clone()),
            avg_ttl: 0,
            expires_cursor: 0,
        }
    }

    pub fn get_expire(&self, key: &[u8]) -> Option<i64> {
        self.expires.get(key).copied()
    }

    /// Remove key and its expiry; returns the value if it existed. No expiry check.
    pub fn remove(&mut self, key: &[u8]) -> Option<Obj> {
        let v = self.dict.remove(key)?;
        if !self.expires.is_empty() {
            self.expires.remove(key);
        }
        Some(v)
    }

    pub fn clear(&mut self) -> usize {
        let n = self.dict.len();
        self.dict.clear();
        self.expires.clear();
        self.avg_ttl = 0;
        self.expires_cursor = 0;
        n
    }
}

/// A small fast PRNG (xorshift64*), seeded per process. Not for anything secret.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn seeded() -> Rng {
        let mut seed = [0u8; 8];
        // SAFETY: getrandom writes at most 8 bytes into our 8-byte buffer.
        let n = unsafe { libc::getrandom(seed.as_mut_ptr() as *mut libc::c_void, 8, 0) };
        let s = if n == 8 {
            u64::from_le_bytes(seed)
        } else {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0x9E37_79B9_7F4A_7C15)
        };
        Rng(s | 1)
    }
    pub fn from_seed(s: u64) -> Rng {
        Rng(s | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_wraps() {
        assert_eq!(lru_idle_secs(10, 5), 5);
        assert_eq!(lru_idle_secs(2, LRU_CLOCK_MAX), 3);
    }
}
