//! Keyspace notifications (`notify-keyspace-events`): events published on
//! `__keyspace@<db>__:<key>` and `__keyevent@<db>__:<event>` when the class is enabled.

use super::Server;
use crate::config::P;

pub const KEYSPACE: u32 = 1 << 0;
pub const KEYEVENT: u32 = 1 << 1;
pub const GENERIC: u32 = 1 << 2;
pub const STRING: u32 = 1 << 3;
pub const LIST: u32 = 1 << 4;
pub const SET: u32 = 1 << 5;
pub const HASH: u32 = 1 << 6;
pub const ZSET: u32 = 1 << 7;
pub const EXPIRED: u32 = 1 << 8;
pub const EVICTED: u32 = 1 << 9;
pub const STREAM: u32 = 1 << 10;
pub const KEY_MISS: u32 = 1 << 11;
pub const MODULE: u32 = 1 << 13;
pub const NEW: u32 = 1 << 14;
/// The `A` alias (every class but key-miss and new).
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

const LETTERS: &[(char, u32)] = &[
    ('g', GENERIC),
    ('$', STRING),
    ('l', LIST),
    ('s', SET),
    ('h', HASH),
    ('z', ZSET),
    ('x', EXPIRED),
    ('e', EVICTED),
    ('t', STREAM),
    ('d', MODULE),
    ('n', NEW),
];

/// Class letters to flags; None on an unknown letter.
pub fn parse_classes(s: &str) -> Option<u32> {
    let mut f = 0;
    for ch in s.chars() {
        f |= match ch {
            'A' => ALL,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            'm' => KEY_MISS,
            c => LETTERS.iter().find(|(l, _)| *l == c)?.1,
        };
    }
    Some(f)
}

/// Flags back to letters, in Redis's order (CONFIG GET).
pub fn format_classes(f: u32) -> String {
    let mut s = String::new();
    if f & ALL == ALL {
        s.push('A');
    } else {
        for (l, bit) in LETTERS {
            if f & bit != 0 {
                s.push(*l);
            }
        }
    }
    if f & KEYSPACE != 0 {
        s.push('K');
    }
    if f & KEYEVENT != 0 {
        s.push('E');
    }
    if f & KEY_MISS != 0 {
        s.push('m');
    }
    s
}

impl Server {
    /// Publish a keyspace event of `class` for `key` in `db`, if enabled.
    pub fn notify(&mut self, class: u32, event: &str, key: &[u8], db: usize) {
        let flags = self.cfg.int(P::NotifyKeyspaceEvents) as u32;
        if flags & class == 0 {
            return;
        }
        if flags & KEYSPACE != 0 {
            let mut ch = format!("__keyspace@{db}__:").into_bytes();
            ch.extend_from_slice(key);
            self.publish(&ch, event.as_bytes());
        }
        if flags & KEYEVENT != 0 {
            let ch = format!("__keyevent@{db}__:{event}").into_bytes();
            self.publish(&ch, key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_round_trip_as_redis_prints_them() {
        assert_eq!(format_classes(parse_classes("KEA").unwrap()), "AKE");
        assert_eq!(format_classes(parse_classes("Elgx").unwrap()), "glxE");
        assert_eq!(format_classes(parse_classes("Km").unwrap()), "Km");
        assert!(parse_classes("Kq").is_none());
        assert_eq!(parse_classes(""), Some(0));
    }
}
