//! Generic key commands: DEL, EXISTS, TYPE, RENAME, COPY, MOVE, expiry, KEYS, SCAN, databases.

use super::{DB_INDEX_OOR, NO_SUCH_KEY, NOT_INT, SYNTAX, arg_i64, eq_ic};
use crate::config::{P, glob_match};
use crate::db::Obj;
use crate::net::client::Client;
use crate::resp::parse_i64;
use crate::server::Server;
use crate::server::notify;
use crate::types::Value;

const SAME_OBJECT: &str = "source and destination objects are the same";

fn del_generic(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let mut n = 0;
    for k in &args[1..] {
        if srv.delete_key(c.db, k) {
            srv.notify(notify::GENERIC, "del", k, c.db);
            n += 1;
        }
    }
    srv.dirty += n as u64;
    c.out.int(n);
}

pub fn del(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    del_generic(srv, c, args)
}

pub fn unlink(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    del_generic(srv, c, args)
}

pub fn exists(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let mut n = 0;
    for k in &args[1..] {
        if srv.lookup_notouch(c.db, k).is_some() {
            n += 1;
        }
    }
    c.out.int(n);
}

pub fn touch(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let mut n = 0;
    for k in &args[1..] {
        if srv.lookup_read(c.db, k).is_some() {
            n += 1;
        }
    }
    c.out.int(n);
}

pub fn type_cmd(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let t = srv
        .lookup_notouch(c.db, args[1])
        .map_or("none", |o| o.val.type_name());
    c.out.simple(t);
}

fn rename_generic(srv: &mut Server, c: &mut Client, args: &[&[u8]], nx: bool) {
    let (src, dst) = (args[1], args[2]);
    if srv.lookup_write(c.db, src).is_none() {
        c.out.error(NO_SUCH_KEY);
        return;
    }
    if src == dst {
        if nx {
            c.out.int(0)
        } else {
            c.out.ok()
        }
        return;
    }
    let expire = srv.dbs[c.db].get_expire(src);
    if srv.lookup_write(c.db, dst).is_some() {
        if nx {
            c.out.int(0);
            return;
        }
        srv.dbs[c.db].remove(dst);
    }
    let obj = srv.dbs[c.db].remove(src).expect("looked up above");
    let ready = matches!(obj.val, Value::List(_) | Value::Zset(_) | Value::Stream(_));
    srv.dbs[c.db].dict.insert_new(dst, obj);
    if let Some(e) = expire {
        srv.set_expire(c.db, dst, e);
    }
    if ready {
        srv.signal_key_ready(c.db, dst);
    }
    srv.notify(notify::GENERIC, "rename_from", src, c.db);
    srv.notify(notify::GENERIC, "rename_to", dst, c.db);
    srv.dirty += 1;
    if nx { c.out.int(1) } else { c.out.ok() }
}

pub fn rename(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    rename_generic(srv, c, args, false)
}

pub fn renamenx(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    rename_generic(srv, c, args, true)
}

/// Parse a database index as getIntFromObjectOrReply + selectDb validate it.
fn db_index(srv: &Server, c: &mut Client, a: &[u8]) -> Option<usize> {
    let v = arg_i64(c, a, NOT_INT)?;
    if v < i32::MIN as i64 || v > i32::MAX as i64 {
        c.out.error(NOT_INT);
        return None;
    }
    if v < 0 || v as usize >= srv.dbs.len() {
        c.out.error(DB_INDEX_OOR);
        return None;
    }
    Some(v as usize)
}

pub fn move_cmd(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let key = args[1];
    let Some(dst) = db_index(srv, c, args[2]) else {
        return;
    };
    if dst == c.db {
        c.out.error(SAME_OBJECT);
        return;
    }
    if srv.lookup_write(c.db, key).is_none() {
        c.out.int(0);
        return;
    }
    let expire = srv.dbs[c.db].get_expire(key);
    if srv.lookup_write(dst, key).is_some() {
        c.out.int(0);
        return;
    }
    let obj = srv.dbs[c.db].remove(key).expect("looked up above");
    let ready = matches!(obj.val, Value::List(_) | Value::Zset(_) | Value::Stream(_));
    srv.dbs[dst].dict.insert_new(key, obj);
    if let Some(e) = expire {
        srv.set_expire(dst, key, e);
    }
    if ready {
        srv.signal_key_ready(dst, key);
    }
    srv.touch_watched(dst, key);
    srv.notify(notify::GENERIC, "move_from", key, c.db);
    srv.notify(notify::GENERIC, "move_to", key, dst);
    srv.dirty += 1;
    c.out.int(1);
}

pub fn copy(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let (src, dst) = (args[1], args[2]);
    let mut dst_db = c.db;
    let mut replace = false;
    let mut j = 3;
    while j < args.len() {
        if eq_ic(args[j], "replace") {
            replace = true;
        } else if eq_ic(args[j], "db") && j + 1 < args.len() {
            let Some(d) = db_index(srv, c, args[j + 1]) else {
                return;
            };
            dst_db = d;
            j += 1;
        } else {
            c.out.error(SYNTAX);
            return;
        }
        j += 1;
    }
    if dst_db == c.db && src == dst {
        c.out.error(SAME_OBJECT);
        return;
    }
    let Some(val) = srv.lookup_read(c.db, src).map(|o| match &o.val {
        crate::types::Value::Str(s) => crate::types::Value::Str(s.duplicate()),
        v => v.clone(),
    }) else {
        c.out.int(0);
        return;
    };
    let expire = srv.dbs[c.db].get_expire(src);
    if srv.lookup_write(dst_db, dst).is_some() {
        if !replace {
            c.out.int(0);
            return;
        }
        srv.dbs[dst_db].remove(dst);
    }
    srv.add_key(dst_db, dst, val);
    if let Some(e) = expire {
        srv.set_expire(dst_db, dst, e);
    }
    if dst_db != c.db {
        srv.touch_watched(dst_db, dst);
    }
    srv.notify(notify::GENERIC, "copy_to", dst, dst_db);
    srv.dirty += 1;
    c.out.int(1);
}

// ---- expiry ---------------------------------------------------------------------------------

fn expire_generic(
    srv: &mut Server,
    c: &mut Client,
    args: &[&[u8]],
    basetime: i64,
    seconds: bool,
    cmd: &str,
) {
    let key = args[1];
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for a in &args[3..] {
        if eq_ic(a, "nx") {
            nx = true;
        } else if eq_ic(a, "xx") {
            xx = true;
        } else if eq_ic(a, "gt") {
            gt = true;
        } else if eq_ic(a, "lt") {
            lt = true;
        } else {
            c.out.error(&format!(
                "Unsupported option {}",
                String::from_utf8_lossy(a)
            ));
            return;
        }
    }
    if nx && (xx || gt || lt) {
        c.out
            .error("NX and XX, GT or LT options at the same time are not compatible");
        return;
    }
    if gt && lt {
        c.out
            .error("GT and LT options at the same time are not compatible");
        return;
    }
    let Some(mut when) = arg_i64(c, args[2], NOT_INT) else {
        return;
    };
    let bad = || format!("invalid expire time in '{cmd}' command");
    if seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            c.out.error(&bad());
            return;
        }
        when *= 1000;
    }
    if when > i64::MAX - basetime {
        c.out.error(&bad());
        return;
    }
    when += basetime;
    if srv.lookup_write(c.db, key).is_none() {
        c.out.int(0);
        return;
    }
    let current = srv.dbs[c.db].get_expire(key);
    if (nx && current.is_some())
        || (xx && current.is_none())
        || (gt && current.is_none_or(|cur| when <= cur))
        || (lt && current.is_some_and(|cur| when >= cur))
    {
        c.out.int(0);
        return;
    }
    if srv.already_expired(when) {
        srv.dbs[c.db].remove(key);
        srv.notify(notify::GENERIC, "del", key, c.db);
        srv.dirty += 1;
        let del: &[u8] = if srv.cfg.bool(P::LazyfreeLazyExpire) {
            b"UNLINK"
        } else {
            b"DEL"
        };
        c.rewritten_argv = Some(vec![del.to_vec(), key.to_vec()]);
        c.out.int(1);
        return;
    }
    srv.set_expire(c.db, key, when);
    let mut argv = vec![
        b"PEXPIREAT".to_vec(),
        key.to_vec(),
        when.to_string().into_bytes(),
    ];
    argv.extend(args[3..].iter().map(|a| a.to_vec()));
    c.rewritten_argv = Some(argv);
    srv.notify(notify::GENERIC, "expire", key, c.db);
    srv.dirty += 1;
    c.out.int(1);
}

pub fn expire(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let now = srv.cmd_time_ms;
    expire_generic(srv, c, args, now, true, "expire")
}

pub fn pexpire(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let now = srv.cmd_time_ms;
    expire_generic(srv, c, args, now, false, "pexpire")
}

pub fn expireat(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    expire_generic(srv, c, args, 0, true, "expireat")
}

pub fn pexpireat(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    expire_generic(srv, c, args, 0, false, "pexpireat")
}

/// TTL family: `ms` chooses the unit, `absolute` reports the deadline itself.
fn ttl_generic(srv: &mut Server, c: &mut Client, key: &[u8], ms: bool, absolute: bool) {
    if srv.lookup_notouch(c.db, key).is_none() {
        c.out.int(-2);
        return;
    }
    let Some(when) = srv.dbs[c.db].get_expire(key) else {
        c.out.int(-1);
        return;
    };
    let v = if absolute {
        when
    } else {
        (when - srv.cmd_time_ms).max(0)
    };
    if ms {
        c.out.int(v);
    } else {
        c.out.int((v + 500) / 1000);
    }
}

pub fn ttl(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    ttl_generic(srv, c, args[1], false, false)
}

pub fn pttl(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    ttl_generic(srv, c, args[1], true, false)
}

pub fn expiretime(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if srv.lookup_notouch(c.db, args[1]).is_none() {
        c.out.int(-2);
        return;
    }
    match srv.dbs[c.db].get_expire(args[1]) {
        None => c.out.int(-1),
        Some(w) => c.out.int(w / 1000),
    }
}

pub fn pexpiretime(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    ttl_generic(srv, c, args[1], true, true)
}

pub fn persist(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if srv.lookup_write(c.db, args[1]).is_none() {
        c.out.int(0);
        return;
    }
    if srv.remove_expire(c.db, args[1]) {
        srv.notify(notify::GENERIC, "persist", args[1], c.db);
        srv.dirty += 1;
        c.out.int(1);
    } else {
        c.out.int(0);
    }
}

// ---- iteration ------------------------------------------------------------------------------

pub fn keys(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let pat = args[1];
    let all = pat == b"*";
    let mut found: Vec<Vec<u8>> = Vec::new();
    srv.dbs[c.db].dict.for_each(|k, _| {
        if all || glob_match(pat, k, false) {
            found.push(k.to_vec());
        }
    });
    let mut live = Vec::with_capacity(found.len());
    for k in found {
        if !srv.expire_if_needed(c.db, &k) {
            live.push(k);
        }
    }
    c.out.array(live.len());
    for k in &live {
        c.out.bulk(k);
    }
}

/// Parse a SCAN cursor as Redis does with strtoul: optional sign, decimal digits, nothing
/// after them; `-n` wraps modulo 2^64 (so `-1` is the last cursor), overflow and a leading
/// space are errors, the empty string is cursor 0.
pub fn parse_cursor(c: &mut Client, a: &[u8]) -> Option<u64> {
    fn strtoul(a: &[u8]) -> Option<u64> {
        if a.is_empty() {
            return Some(0);
        }
        let (neg, digits) = match a[0] {
            b'-' => (true, &a[1..]),
            b'+' => (false, &a[1..]),
            _ => (false, a),
        };
        if digits.is_empty() || !digits.iter().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut v: u64 = 0;
        for &d in digits {
            v = v.checked_mul(10)?.checked_add((d - b'0') as u64)?;
        }
        Some(if neg { v.wrapping_neg() } else { v })
    }
    match strtoul(a) {
        Some(v) => Some(v),
        None => {
            c.out.error("invalid cursor");
            None
        }
    }
}

/// The SCAN-family reply: the next cursor and the items.
pub fn reply_scan(c: &mut Client, cursor: u64, items: &[Vec<u8>]) {
    c.out.array(2);
    c.out.bulk(cursor.to_string().as_bytes());
    c.out.array(items.len());
    for i in items {
        c.out.bulk(i);
    }
}

/// SCAN options shared by SCAN, SSCAN, HSCAN, ZSCAN.
pub struct ScanOpts<'a> {
    pub count: usize,
    pub pattern: Option<&'a [u8]>,
    pub type_name: Option<&'a [u8]>,
}

pub fn parse_scan_opts<'a>(
    c: &mut Client,
    args: &[&'a [u8]],
    from: usize,
    allow_type: bool,
) -> Option<ScanOpts<'a>> {
    let mut o = ScanOpts {
        count: 10,
        pattern: None,
        type_name: None,
    };
    let mut i = from;
    while i < args.len() {
        let left = args.len() - i;
        if eq_ic(args[i], "count") && left >= 2 {
            let v = arg_i64(c, args[i + 1], NOT_INT)?;
            if v < 1 {
                c.out.error(SYNTAX);
                return None;
            }
            o.count = v as usize;
            i += 2;
        } else if eq_ic(args[i], "match") && left >= 2 {
            o.pattern = (args[i + 1] != b"*").then_some(args[i + 1]);
            i += 2;
        } else if eq_ic(args[i], "type") && allow_type && left >= 2 {
            o.type_name = Some(args[i + 1]);
            i += 2;
        } else {
            c.out.error(SYNTAX);
            return None;
        }
    }
    Some(o)
}

pub fn scan(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some(mut cursor) = parse_cursor(c, args[1]) else {
        return;
    };
    let Some(opts) = parse_scan_opts(c, args, 2, true) else {
        return;
    };
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut max_iter = opts.count.saturating_mul(10);
    let d = &srv.dbs[c.db].dict;
    loop {
        cursor = d.scan(cursor, |k, _: &Obj| keys.push(k.to_vec()));
        max_iter -= 1;
        if cursor == 0 || max_iter == 0 || keys.len() >= opts.count {
            break;
        }
    }
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        if let Some(p) = opts.pattern
            && !glob_match(p, &k, false)
        {
            continue;
        }
        if let Some(t) = opts.type_name {
            let tn = srv.dbs[c.db]
                .dict
                .get(&k)
                .map_or("none", |o| o.val.type_name());
            if !t.eq_ignore_ascii_case(tn.as_bytes()) {
                continue;
            }
        }
        if srv.expire_if_needed(c.db, &k) {
            continue;
        }
        out.push(k);
    }
    reply_scan(c, cursor, &out);
}

pub fn randomkey(srv: &mut Server, c: &mut Client, _args: &[&[u8]]) {
    // Try a bounded number of samples so a db full of expired keys cannot loop for ever.
    for _ in 0..100 {
        let d = &mut srv.dbs[c.db];
        let Some((k, _)) = d.dict.random_entry(&mut srv.rng) else {
            c.out.null();
            return;
        };
        let k = k.to_vec();
        if srv.expire_if_needed(c.db, &k) {
            continue;
        }
        c.out.bulk(&k);
        return;
    }
    match srv.dbs[c.db].dict.random_entry(&mut srv.rng) {
        Some((k, _)) => {
            let k = k.to_vec();
            c.out.bulk(&k)
        }
        None => c.out.null(),
    }
}

pub fn dbsize(srv: &mut Server, c: &mut Client, _args: &[&[u8]]) {
    c.out.int(srv.dbs[c.db].dict.len() as i64);
}

pub fn select(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some(v) = parse_i64(args[1]).filter(|v| *v >= i32::MIN as i64 && *v <= i32::MAX as i64)
    else {
        c.out.error(NOT_INT);
        return;
    };
    if v < 0 || v as usize >= srv.dbs.len() {
        c.out.error(DB_INDEX_OOR);
        return;
    }
    c.db = v as usize;
    c.out.ok();
}

pub fn swapdb(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let parse = |a: &[u8]| parse_i64(a).filter(|v| *v >= i32::MIN as i64 && *v <= i32::MAX as i64);
    let Some(a) = parse(args[1]) else {
        c.out.error("invalid first DB index");
        return;
    };
    let Some(b) = parse(args[2]) else {
        c.out.error("invalid second DB index");
        return;
    };
    let n = srv.dbs.len() as i64;
    if a < 0 || a >= n || b < 0 || b >= n {
        c.out.error(DB_INDEX_OOR);
        return;
    }
    let (a, b) = (a as usize, b as usize);
    srv.touch_all_watched_in_db(a, Some(b));
    srv.touch_all_watched_in_db(b, Some(a));
    srv.dbs.swap(a, b);
    // Clients blocked on a key that now exists in their database can be served.
    for db in [a, b] {
        let keys: Vec<Vec<u8>> = srv
            .blocking
            .by_key
            .keys()
            .filter(|(d, _)| *d == db)
            .map(|(_, k)| k.clone())
            .collect();
        for k in keys {
            if srv.dbs[db].dict.contains(&k) {
                srv.signal_key_ready(db, &k);
            }
        }
    }
    srv.dirty += 1;
    c.out.ok();
}

fn flush_flags(srv: &Server, c: &mut Client, args: &[&[u8]]) -> Option<bool> {
    if args.len() == 2 && eq_ic(args[1], "sync") {
        Some(false)
    } else if args.len() == 2 && eq_ic(args[1], "async") {
        Some(true)
    } else if args.len() == 1 {
        Some(srv.cfg.bool(P::LazyfreeLazyUserFlush))
    } else {
        c.out.error(SYNTAX);
        None
    }
}

pub fn flushdb(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if flush_flags(srv, c, args).is_none() {
        return;
    }
    srv.touch_all_watched_in_db(c.db, None);
    let n = srv.dbs[c.db].clear();
    srv.dirty += n as u64;
    // FLUSHDB propagates even on an empty database.
    srv.dirty += 1;
    c.out.ok();
}

pub fn flushall(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if flush_flags(srv, c, args).is_none() {
        return;
    }
    let mut n = 0;
    for db in 0..srv.dbs.len() {
        srv.touch_all_watched_in_db(db, None);
        n += srv.dbs[db].clear();
    }
    srv.dirty += n as u64;
    // As Redis's flushAllDataAndResetRDB: the running snapshot is obsolete, and with save
    // points the empty dataset is saved at once.
    srv.kill_child();
    if !srv.cfg.list(P::Save).is_empty() {
        let _ = srv.save_foreground();
    }
    srv.dirty += 1;
    c.force_propagation = true;
    c.out.ok();
}
