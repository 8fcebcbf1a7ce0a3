//! The command table (name, arity, flags, key positions, docs) and the helpers command
//! implementations share. One file per command family; `table.rs` lists them all.

pub mod bits;
pub mod client_cmd;
pub mod cluster_cmd;
pub mod command_cmd;
pub mod config_cmd;
pub mod connection;
pub mod debug;
pub mod function_cmd;
pub mod geo;
pub mod hashes;
pub mod hll_cmd;
pub mod keys;
pub mod lists;
pub mod memory;
pub mod migrate;
pub mod multi;
pub mod object;
pub mod persist_cmd;
pub mod pubsub_cmd;
pub mod scripting_cmd;
pub mod server_cmds;
pub mod sets;
pub mod slowlog_cmd;
pub mod sort;
pub mod stream_groups;
pub mod streams;
pub mod strings;
pub mod table;
pub mod zsets;

use crate::net::client::Client;
use crate::resp::parse_i64;
use crate::server::Server;
use std::collections::HashMap;

pub type Handler = fn(&mut Server, &mut Client, &[&[u8]]);

/// Command flags, named as COMMAND INFO prints them.
pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const SKIP_MONITOR: u32 = 1 << 9;
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    pub const FAST: u32 = 1 << 11;
    pub const NO_AUTH: u32 = 1 << 12;
    pub const MAY_REPLICATE: u32 = 1 << 13;
    pub const NO_MULTI: u32 = 1 << 14;
    pub const MOVABLEKEYS: u32 = 1 << 15;
    pub const ALLOW_BUSY: u32 = 1 << 16;
    pub const PROTECTED: u32 = 1 << 17;
    pub const TOUCHES_ARBITRARY_KEYS: u32 = 1 << 18;
    pub const SENTINEL: u32 = 1 << 19;
    /// The command's key arguments may all be absent (EVAL with numkeys 0).
    pub const NO_MANDATORY_KEYS: u32 = 1 << 20;

    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        // (MAY_REPLICATE is not shown: Redis hides it on purpose.)
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (SENTINEL, "sentinel"),
        (NO_MULTI, "no_multi"),
        (MOVABLEKEYS, "movablekeys"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// How a key specification finds its keys after the first one (Redis 7.0 key-specs).
pub enum FindKeys {
    /// Keys up to `lastkey` relative to the first (negative: counted from the end of the
    /// arguments), every `step`.
    Range { lastkey: i32, step: i32, limit: i32 },
    /// The argument at `keynumidx` (relative to the first) says how many keys follow from
    /// `firstkey`, every `step`.
    Keynum {
        keynumidx: i32,
        firstkey: i32,
        step: i32,
    },
}

/// One key specification.
pub struct KeySpec {
    /// Argument index where the search starts (for a keyword search, where the keyword is
    /// looked for: from the end when negative).
    pub index: i32,
    /// Keyword begin-search: the keys follow this argument (XREAD's STREAMS).
    pub keyword: Option<&'static str>,
    pub find: FindKeys,
    /// Flags as COMMAND prints them ("RW", "access", ...).
    pub flags: &'static [&'static str],
}

pub struct CommandDef {
    /// Lower-case name (for a subcommand, without the container's name).
    pub name: &'static str,
    /// The container's name for subcommands ("config" for CONFIG GET).
    pub parent: Option<&'static str>,
    pub arity: i32,
    pub flags: u32,
    /// ACL categories beyond those the flags imply ("keyspace", "string", ...).
    pub acl: &'static [&'static str],
    /// first key, last key, step (0,0,0 for none).
    pub keys: (i32, i32, i32),
    pub key_specs: &'static [KeySpec],
    /// Command tips as COMMAND INFO lists them ("request_policy:all_shards", ...).
    pub tips: &'static [&'static str],
    pub group: &'static str,
    pub since: &'static str,
    pub summary: &'static str,
    pub handler: Handler,
    pub subs: &'static [CommandDef],
}

impl CommandDef {
    pub fn full_name(&self) -> String {
        match self.parent {
            Some(p) => format!("{p}|{}", self.name),
            None => self.name.to_string(),
        }
    }

    pub fn arity_ok(&self, argc: usize) -> bool {
        let a = self.arity;
        if a > 0 {
            argc as i32 == a
        } else {
            argc as i32 >= -a
        }
    }

    /// ACL categories as COMMAND INFO lists them: from flags, then the explicit ones.
    pub fn acl_categories(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for extra in self.acl {
            v.push(format!("@{extra}"));
        }
        if self.flags & flags::WRITE != 0 {
            v.push("@write".into());
        }
        if self.flags & flags::READONLY != 0 && !self.acl.contains(&"scripting") {
            v.push("@read".into());
        }
        if self.flags & flags::ADMIN != 0 {
            v.push("@admin".into());
            v.push("@dangerous".into());
        }
        if self.flags & flags::PUBSUB != 0 {
            v.push("@pubsub".into());
        }
        if self.flags & flags::FAST != 0 {
            v.push("@fast".into());
        }
        if self.flags & flags::BLOCKING != 0 {
            v.push("@blocking".into());
        }
        if self.flags & flags::FAST == 0 {
            v.push("@slow".into());
        }
        v.sort_by_key(|c| category_order(c));
        v.dedup();
        v
    }
}

fn category_order(c: &str) -> usize {
    const ORDER: &[&str] = &[
        "@keyspace",
        "@read",
        "@write",
        "@set",
        "@sortedset",
        "@list",
        "@hash",
        "@string",
        "@bitmap",
        "@hyperloglog",
        "@geo",
        "@stream",
        "@pubsub",
        "@admin",
        "@fast",
        "@slow",
        "@blocking",
        "@dangerous",
        "@connection",
        "@transaction",
        "@scripting",
    ];
    ORDER.iter().position(|o| *o == c).unwrap_or(ORDER.len())
}

/// Name → definition, case-insensitive. Lookups return the static definitions, so callers
/// hold no borrow of the table while a command runs.
pub struct CommandTable {
    map: HashMap<Vec<u8>, &'static CommandDef>,
}

impl Default for CommandTable {
    fn default() -> Self {
        Self::new()
    }
}

impl CommandTable {
    pub fn new() -> CommandTable {
        let mut map = HashMap::new();
        for def in table::COMMANDS {
            map.insert(def.name.as_bytes().to_vec(), def);
        }
        CommandTable { map }
    }

    pub fn lookup(&self, name: &[u8]) -> Option<&'static CommandDef> {
        if name.len() > 64 {
            return None;
        }
        let mut buf = [0u8; 64];
        let lower = &mut buf[..name.len()];
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        self.map.get(&lower[..]).copied()
    }

    pub fn all(&self) -> impl Iterator<Item = &'static CommandDef> + '_ {
        self.map.values().copied()
    }

    /// The command (or subcommand) `args` names, or Redis's error text for an unknown one.
    pub fn lookup_with_sub(&self, args: &[&[u8]]) -> Result<&'static CommandDef, String> {
        let Some(def) = self.lookup(args[0]) else {
            let mut list = String::new();
            for a in &args[1..] {
                if list.len() >= 128 {
                    break;
                }
                let room = 128 - list.len();
                let s = String::from_utf8_lossy(a);
                let t: String = s.chars().take(room).collect();
                list.push_str(&format!("'{t}' "));
            }
            let name: String = String::from_utf8_lossy(args[0]).chars().take(128).collect();
            return Err(format!(
                "unknown command '{name}', with args beginning with: {list}"
            ));
        };
        if def.subs.is_empty() || args.len() < 2 {
            return Ok(def);
        }
        let sub = String::from_utf8_lossy(args[1]).to_ascii_lowercase();
        match def.subs.iter().find(|s| s.name == sub) {
            Some(s) => Ok(s),
            None => {
                let shown: String = String::from_utf8_lossy(args[1]).chars().take(128).collect();
                Err(format!(
                    "unknown subcommand '{shown}'. Try {} HELP.",
                    def.name.to_ascii_uppercase()
                ))
            }
        }
    }
}

/// Handler for a container called without a subcommand: Redis reports wrong arity.
pub fn container_without_sub(_: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let name = String::from_utf8_lossy(args[0]).to_ascii_lowercase();
    c.out
        .error(&format!("wrong number of arguments for '{name}' command"));
}

/// Redis's addReplySubcommandSyntaxError.
pub fn subcommand_syntax_error(c: &mut Client, args: &[&[u8]]) {
    let sub = String::from_utf8_lossy(args.get(1).copied().unwrap_or_default()).into_owned();
    let cmd = String::from_utf8_lossy(args[0]).to_ascii_uppercase();
    let sub: String = sub.chars().take(128).collect();
    c.out.error(&format!(
        "unknown subcommand or wrong number of arguments for '{sub}'. Try {cmd} HELP."
    ));
}

/// A HELP reply in Redis's shape: a header line, the given lines, and HELP itself, as status
/// replies.
pub fn reply_help(c: &mut Client, cmd: &str, lines: &[&str]) {
    c.out.array(lines.len() + 3);
    c.out.simple(&format!(
        "{cmd} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for l in lines {
        c.out.simple(l);
    }
    c.out.simple("HELP");
    c.out.simple("    Print this help.");
}

// ---- shared reply texts -------------------------------------------------------------------

pub const WRONGTYPE: &str = "-WRONGTYPE Operation against a key holding the wrong kind of value";
pub const SYNTAX: &str = "syntax error";
pub const NOT_INT: &str = "value is not an integer or out of range";
pub const NOT_FLOAT: &str = "value is not a valid float";
pub const OVERFLOW: &str = "increment or decrement would overflow";
pub const NO_SUCH_KEY: &str = "no such key";
pub const DB_INDEX_OOR: &str = "DB index is out of range";

/// Parse an integer argument, replying with `err` when it is not one.
pub fn arg_i64(c: &mut Client, a: &[u8], err: &str) -> Option<i64> {
    match parse_i64(a) {
        Some(v) => Some(v),
        None => {
            c.out.error(err);
            None
        }
    }
}

/// The error of a lookup that already wrote its error reply (WRONGTYPE).
#[derive(Debug)]
pub struct Replied;

/// A key's value projected to one type for reading: Ok(None) when missing, Err after replying
/// WRONGTYPE.
pub fn read_typed<'a, T: ?Sized>(
    srv: &'a mut Server,
    c: &mut Client,
    key: &[u8],
    proj: fn(&crate::types::Value) -> Option<&T>,
) -> Result<Option<&'a T>, Replied> {
    match srv.lookup_read(c.db, key) {
        None => Ok(None),
        Some(o) => match proj(&o.val) {
            Some(t) => Ok(Some(t)),
            None => {
                c.out.error(WRONGTYPE);
                Err(Replied)
            }
        },
    }
}

/// The same for writing.
pub fn write_typed<'a, T: ?Sized>(
    srv: &'a mut Server,
    c: &mut Client,
    key: &[u8],
    proj: fn(&mut crate::types::Value) -> Option<&mut T>,
) -> Result<Option<&'a mut T>, Replied> {
    match srv.lookup_write(c.db, key) {
        None => Ok(None),
        Some(o) => match proj(&mut o.val) {
            Some(t) => Ok(Some(t)),
            None => {
                c.out.error(WRONGTYPE);
                Err(Replied)
            }
        },
    }
}

/// HDEL / SREM / ZREM: remove the members named from `args[2]` on with `remove`, stopping once
/// the collection is empty; then the event, deletion of an emptied key, and the count reply.
pub fn remove_members<T: ?Sized>(
    srv: &mut Server,
    c: &mut Client,
    args: &[&[u8]],
    proj: fn(&mut crate::types::Value) -> Option<&mut T>,
    remove: fn(&mut T, &[u8]) -> bool,
    len: fn(&T) -> usize,
    event: (u32, &str),
) {
    let mut n = 0;
    match write_typed(srv, c, args[1], proj) {
        Err(_) => return,
        Ok(None) => {}
        Ok(Some(v)) => {
            for m in &args[2..] {
                if remove(v, m) {
                    n += 1;
                    if len(v) == 0 {
                        break;
                    }
                }
            }
        }
    }
    if n > 0 {
        srv.notify(event.0, event.1, args[1], c.db);
        srv.delete_if_empty(c.db, args[1]);
        srv.dirty += n;
    }
    c.out.int(n as i64);
}

/// Whether `key` holds a value of another type than `type_name` (replying WRONGTYPE if so).
pub fn wrong_type(srv: &mut Server, c: &mut Client, key: &[u8], type_name: &str) -> bool {
    match srv.lookup_write(c.db, key) {
        Some(o) if o.val.type_name() != type_name => {
            c.out.error(WRONGTYPE);
            true
        }
        _ => false,
    }
}

/// A positive count argument as Redis's getPositiveLongFromObjectOrReply reads it.
pub fn arg_positive(c: &mut Client, a: &[u8]) -> Option<i64> {
    match parse_i64(a) {
        Some(v) if v >= 0 => Some(v),
        _ => {
            c.out.error("value is out of range, must be positive");
            None
        }
    }
}

/// Parse `numkeys key... <A>|<B> [COUNT n]` from `at` (LMPOP's LEFT|RIGHT, ZMPOP's MIN|MAX) with
/// Redis's errors. Returns the keys, whether the second word was given, and the count.
pub fn parse_multi_pop<'a>(
    c: &mut Client,
    args: &[&'a [u8]],
    at: usize,
    words: (&str, &str),
) -> Option<(Vec<&'a [u8]>, bool, usize)> {
    let n = match parse_i64(args[at]) {
        Some(n) if n > 0 => n as usize,
        _ => {
            c.out.error("numkeys should be greater than 0");
            return None;
        }
    };
    let first = at + 1;
    if n >= args.len() - first {
        c.out.error(SYNTAX);
        return None;
    }
    let which = args[first + n];
    let second = if eq_ic(which, words.0) {
        false
    } else if eq_ic(which, words.1) {
        true
    } else {
        c.out.error(SYNTAX);
        return None;
    };
    let mut count = None;
    let mut i = first + n + 1;
    while i < args.len() {
        if count.is_none() && eq_ic(args[i], "count") && i + 1 < args.len() {
            match parse_i64(args[i + 1]) {
                Some(v) if v > 0 => count = Some(v as usize),
                _ => {
                    c.out.error("count should be greater than 0");
                    return None;
                }
            }
            i += 2;
        } else {
            c.out.error(SYNTAX);
            return None;
        }
    }
    Some((args[first..first + n].to_vec(), second, count.unwrap_or(1)))
}

/// LMPOP/ZMPOP and their blocking forms (`timeout` first): the deadline (Some for the
/// blocking form), then what `parse_multi_pop` returns. None after replying an error.
#[allow(clippy::type_complexity)]
pub fn multi_pop_args<'a>(
    srv: &Server,
    c: &mut Client,
    args: &[&'a [u8]],
    blocking: bool,
    words: (&str, &str),
) -> Option<(Option<Option<i64>>, Vec<&'a [u8]>, bool, usize)> {
    let deadline = if blocking {
        Some(arg_timeout(srv, c, args[1])?)
    } else {
        None
    };
    let at = if blocking { 2 } else { 1 };
    let (keys, second, count) = parse_multi_pop(c, args, at, words)?;
    Some((deadline, keys, second, count))
}

/// A blocking command's timeout argument as an absolute deadline (None: forever); the outer
/// None after replying the error.
pub fn arg_timeout(srv: &Server, c: &mut Client, a: &[u8]) -> Option<Option<i64>> {
    match crate::server::blocking::parse_timeout(a, srv.cmd_time_ms) {
        Ok(d) => Some(d),
        Err(e) => {
            c.out.error(e);
            None
        }
    }
}

/// Normalise a Redis start/end index pair against `len` (LRANGE, ZRANGE, GETRANGE rules):
/// None when the range is empty.
pub fn clamp_range(mut start: i64, mut end: i64, len: usize) -> Option<(usize, usize)> {
    let n = len as i64;
    if start < 0 {
        start += n;
    }
    if end < 0 {
        end += n;
    }
    if start < 0 {
        start = 0;
    }
    if start > end || start >= n {
        return None;
    }
    if end >= n {
        end = n - 1;
    }
    Some((start as usize, end as usize))
}

pub fn eq_ic(a: &[u8], b: &str) -> bool {
    a.eq_ignore_ascii_case(b.as_bytes())
}

/// Parse a float argument the way Redis's string2ld/strtod path accepts it: no spaces,
/// no NaN; `inf`, `-inf`, `+inf` allowed.
pub fn parse_f64(a: &[u8]) -> Option<f64> {
    if a.is_empty() || a.len() > 5000 {
        return None;
    }
    let s = std::str::from_utf8(a).ok()?;
    if s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => {
            if lower.contains("nan") || lower.contains("inf") {
                return None;
            }
            // Rust accepts forms strtod does not ("1_0" is refused by both); hex floats are rare.
            lower.parse::<f64>().ok()?
        }
    };
    if v.is_nan() { None } else { Some(v) }
}

/// Redis's sdscatrepr: a quoted, escaped rendering of binary data (MONITOR, DEBUG).
pub fn repr_bytes(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() + 2);
    s.push('"');
    for &ch in b {
        match ch {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            7 => s.push_str("\\a"),
            8 => s.push_str("\\b"),
            c if c.is_ascii_graphic() || c == b' ' => s.push(c as char),
            c => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_command_text_matches_redis() {
        let t = CommandTable::new();
        let e = t.lookup_with_sub(&[b"foo", b"a", b"b"]).err().unwrap();
        assert_eq!(
            e,
            "unknown command 'foo', with args beginning with: 'a' 'b' "
        );
        let e = t.lookup_with_sub(&[b"config", b"nope"]).err().unwrap();
        assert_eq!(e, "unknown subcommand 'nope'. Try CONFIG HELP.");
        assert!(t.lookup(b"GeT").is_some());
    }

    #[test]
    fn float_parsing() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b""), None);
        assert_eq!(repr_bytes(b"a\n\x01"), "\"a\\n\\x01\"");
    }
}
