//! String commands: SET and its variants, GET family, counters, ranges, LCS.

use super::{NOT_INT, OVERFLOW, SYNTAX, WRONGTYPE, arg_i64, eq_ic};
use crate::config::P;
use crate::net::client::Client;
use crate::server::Server;
use crate::server::notify;
use crate::types::{StrValue, Value};

/// The value of `key` as a string: Ok(None) when missing, Err after replying WRONGTYPE.
fn get_string(srv: &mut Server, c: &mut Client, key: &[u8]) -> Result<Option<Vec<u8>>, ()> {
    match srv.lookup_read(c.db, key) {
        None => Ok(None),
        Some(o) => match &o.val {
            Value::Str(s) => Ok(Some(s.bytes().into_owned())),
            _ => {
                c.out.error(WRONGTYPE);
                Err(())
            }
        },
    }
}

/// The string value for modification, Err after replying WRONGTYPE.
fn write_string<'a>(
    srv: &'a mut Server,
    c: &mut Client,
    key: &[u8],
) -> Result<Option<&'a mut StrValue>, ()> {
    match srv.lookup_write(c.db, key) {
        None => Ok(None),
        Some(o) => match &mut o.val {
            Value::Str(s) => Ok(Some(s)),
            _ => {
                c.out.error(WRONGTYPE);
                Err(())
            }
        },
    }
}

#[derive(Default, Clone, Copy)]
struct SetFlags {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    ex: bool,
    px: bool,
    exat: bool,
    pxat: bool,
}

impl SetFlags {
    fn has_expire(&self) -> bool {
        self.ex || self.px || self.exat || self.pxat
    }
}

/// Parse SET/GETEX options (Redis's parseExtendedStringArgumentsOrReply). Returns the flags and
/// the expire argument, or None after replying a syntax error.
fn parse_ext<'a>(
    c: &mut Client,
    args: &[&'a [u8]],
    is_set: bool,
) -> Option<(SetFlags, Option<&'a [u8]>)> {
    let mut f = SetFlags::default();
    let mut expire = None;
    let mut j = if is_set { 3 } else { 2 };
    while j < args.len() {
        let o = args[j];
        let next = args.get(j + 1).copied();
        if eq_ic(o, "nx") && !f.xx && is_set {
            f.nx = true;
        } else if eq_ic(o, "xx") && !f.nx && is_set {
            f.xx = true;
        } else if eq_ic(o, "get") && is_set {
            f.get = true;
        } else if eq_ic(o, "keepttl") && !f.persist && !f.has_expire() && is_set {
            f.keepttl = true;
        } else if eq_ic(o, "persist") && !is_set && !f.has_expire() && !f.keepttl {
            f.persist = true;
        } else if eq_ic(o, "ex")
            && !f.keepttl
            && !f.persist
            && !f.exat
            && !f.px
            && !f.pxat
            && next.is_some()
        {
            f.ex = true;
            expire = next;
            j += 1;
        } else if eq_ic(o, "px")
            && !f.keepttl
            && !f.persist
            && !f.ex
            && !f.exat
            && !f.pxat
            && next.is_some()
        {
            f.px = true;
            expire = next;
            j += 1;
        } else if eq_ic(o, "exat")
            && !f.keepttl
            && !f.persist
            && !f.ex
            && !f.px
            && !f.pxat
            && next.is_some()
        {
            f.exat = true;
            expire = next;
            j += 1;
        } else if eq_ic(o, "pxat")
            && !f.keepttl
            && !f.persist
            && !f.ex
            && !f.exat
            && !f.px
            && next.is_some()
        {
            f.pxat = true;
            expire = next;
            j += 1;
        } else {
            c.out.error(SYNTAX);
            return None;
        }
        j += 1;
    }
    Some((f, expire))
}

/// Resolve an expire argument to absolute milliseconds (getExpireMillisecondsOrReply).
fn expire_ms(srv: &Server, c: &mut Client, cmd: &str, f: &SetFlags, arg: &[u8]) -> Option<i64> {
    let v = arg_i64(c, arg, NOT_INT)?;
    let seconds = f.ex || f.exat;
    if v <= 0 || (seconds && v > i64::MAX / 1000) {
        c.out
            .error(&format!("invalid expire time in '{cmd}' command"));
        return None;
    }
    let mut ms = if seconds { v * 1000 } else { v };
    if f.ex || f.px {
        ms = match ms.checked_add(srv.cmd_time_ms) {
            Some(m) => m,
            None => {
                c.out
                    .error(&format!("invalid expire time in '{cmd}' command"));
                return None;
            }
        };
    }
    if ms <= 0 {
        c.out
            .error(&format!("invalid expire time in '{cmd}' command"));
        return None;
    }
    Some(ms)
}

/// The common path of SET, SETNX, SETEX, PSETEX.
#[allow(clippy::too_many_arguments)]
fn set_generic(
    srv: &mut Server,
    c: &mut Client,
    f: SetFlags,
    key: &[u8],
    val: &[u8],
    expire: Option<i64>,
    ok_int_reply: bool,
) {
    if f.get {
        match get_string(srv, c, key) {
            Err(()) => return,
            Ok(Some(v)) => c.out.bulk(&v),
            Ok(None) => c.out.null(),
        }
    }
    if f.nx || f.xx {
        let found = srv.lookup_write(c.db, key).is_some();
        if (f.nx && found) || (f.xx && !found) {
            if !f.get {
                if ok_int_reply {
                    c.out.int(0);
                } else {
                    c.out.null();
                }
            }
            return;
        }
    } else {
        srv.expire_if_needed(c.db, key);
    }
    srv.set_string(c.db, key, val, f.keepttl);
    srv.dirty += 1;
    srv.notify(notify::STRING, "set", key, c.db);
    if let Some(ms) = expire {
        srv.set_expire(c.db, key, ms);
        srv.notify(notify::GENERIC, "expire", key, c.db);
        c.rewritten_argv = Some(vec![
            b"SET".to_vec(),
            key.to_vec(),
            val.to_vec(),
            b"PXAT".to_vec(),
            ms.to_string().into_bytes(),
        ]);
    }
    if !f.get {
        if ok_int_reply {
            c.out.int(1);
        } else {
            c.out.ok();
        }
    }
}

pub fn set(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some((f, exp)) = parse_ext(c, args, true) else {
        return;
    };
    let ms = match exp {
        Some(e) => match expire_ms(srv, c, "set", &f, e) {
            Some(ms) => Some(ms),
            None => return,
        },
        None => None,
    };
    set_generic(srv, c, f, args[1], args[2], ms, false);
    if f.get && ms.is_none() {
        // Propagate without GET (it may be repeated), keeping the other options.
        let mut v: Vec<Vec<u8>> = Vec::with_capacity(args.len());
        for (i, a) in args.iter().enumerate() {
            if i >= 3 && eq_ic(a, "get") {
                continue;
            }
            v.push(a.to_vec());
        }
        c.rewritten_argv = Some(v);
    }
}

pub fn setnx(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let f = SetFlags {
        nx: true,
        ..Default::default()
    };
    set_generic(srv, c, f, args[1], args[2], None, true);
}

fn setex_generic(srv: &mut Server, c: &mut Client, args: &[&[u8]], millis: bool) {
    let f = SetFlags {
        ex: !millis,
        px: millis,
        ..Default::default()
    };
    let name = if millis { "psetex" } else { "setex" };
    let Some(ms) = expire_ms(srv, c, name, &f, args[2]) else {
        return;
    };
    set_generic(srv, c, f, args[1], args[3], Some(ms), false);
}

pub fn setex(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    setex_generic(srv, c, args, false)
}

pub fn psetex(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    setex_generic(srv, c, args, true)
}

pub fn get(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    match srv.lookup_read(c.db, args[1]) {
        None => c.out.null(),
        Some(o) => match &o.val {
            Value::Str(StrValue::Int(v) | StrValue::IntPrivate(v)) => c.out.bulk_i64(*v),
            Value::Str(StrValue::Emb(b)) => c.out.bulk(b),
            Value::Str(StrValue::Raw(b)) => c.out.bulk(b),
            _ => c.out.error(WRONGTYPE),
        },
    }
}

pub fn getex(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some((f, exp)) = parse_ext(c, args, false) else {
        return;
    };
    let key = args[1];
    let val = match get_string(srv, c, key) {
        Err(()) => return,
        Ok(None) => {
            c.out.null();
            return;
        }
        Ok(Some(v)) => v,
    };
    let ms = match exp {
        Some(e) => match expire_ms(srv, c, "getex", &f, e) {
            Some(ms) => Some(ms),
            None => return,
        },
        None => None,
    };
    c.out.bulk(&val);
    if (f.pxat || f.exat) && ms.is_some_and(|m| srv.already_expired(m)) {
        srv.dbs[c.db].remove(key);
        srv.notify(notify::GENERIC, "del", key, c.db);
        let cmd: &[u8] = if srv.cfg.bool(P::LazyfreeLazyExpire) {
            b"UNLINK"
        } else {
            b"DEL"
        };
        c.rewritten_argv = Some(vec![cmd.to_vec(), key.to_vec()]);
        srv.dirty += 1;
    } else if let Some(ms) = ms {
        srv.set_expire(c.db, key, ms);
        srv.notify(notify::GENERIC, "expire", key, c.db);
        c.rewritten_argv = Some(vec![
            b"PEXPIREAT".to_vec(),
            key.to_vec(),
            ms.to_string().into_bytes(),
        ]);
        srv.dirty += 1;
    } else if f.persist && srv.remove_expire(c.db, key) {
        srv.notify(notify::GENERIC, "persist", key, c.db);
        c.rewritten_argv = Some(vec![b"PERSIST".to_vec(), key.to_vec()]);
        srv.dirty += 1;
    }
}

pub fn getdel(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    match get_string(srv, c, args[1]) {
        Err(()) => {}
        Ok(None) => c.out.null(),
        Ok(Some(v)) => {
            c.out.bulk(&v);
            srv.dbs[c.db].remove(args[1]);
            srv.notify(notify::GENERIC, "del", args[1], c.db);
            let cmd: &[u8] = if srv.cfg.bool(P::LazyfreeLazyUserDel) {
                b"UNLINK"
            } else {
                b"DEL"
            };
            c.rewritten_argv = Some(vec![cmd.to_vec(), args[1].to_vec()]);
            srv.dirty += 1;
        }
    }
}

pub fn getset(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    match get_string(srv, c, args[1]) {
        Err(()) => return,
        Ok(Some(v)) => c.out.bulk(&v),
        Ok(None) => c.out.null(),
    }
    srv.set_key(
        c.db,
        args[1],
        Value::Str(StrValue::from_bytes(args[2])),
        false,
    );
    srv.notify(notify::STRING, "set", args[1], c.db);
    srv.dirty += 1;
    c.rewritten_argv = Some(vec![b"SET".to_vec(), args[1].to_vec(), args[2].to_vec()]);
}

pub fn mget(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    c.out.array(args.len() - 1);
    for k in &args[1..] {
        match srv.lookup_read(c.db, k) {
            Some(o) => match &o.val {
                Value::Str(s) => {
                    let b = s.bytes();
                    c.out.bulk(&b);
                }
                _ => c.out.null(),
            },
            None => c.out.null(),
        }
    }
}

fn mset_generic(srv: &mut Server, c: &mut Client, args: &[&[u8]], nx: bool) {
    if args.len().is_multiple_of(2) {
        let name = if nx { "msetnx" } else { "mset" };
        c.out
            .error(&format!("wrong number of arguments for '{name}' command"));
        return;
    }
    if nx {
        for pair in args[1..].chunks(2) {
            if srv.key_exists(c.db, pair[0]) {
                c.out.int(0);
                return;
            }
        }
    }
    for pair in args[1..].chunks(2) {
        srv.set_string(c.db, pair[0], pair[1], false);
        srv.notify(notify::STRING, "set", pair[0], c.db);
    }
    srv.dirty += (args.len() / 2) as u64;
    if nx {
        c.out.int(1);
    } else {
        c.out.ok();
    }
}

pub fn mset(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    mset_generic(srv, c, args, false)
}

pub fn msetnx(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    mset_generic(srv, c, args, true)
}

pub fn append(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let (key, add) = (args[1], args[2]);
    let max = srv.cfg.int(P::ProtoMaxBulkLen) as usize;
    let newlen = match write_string(srv, c, key) {
        Err(()) => return,
        Ok(None) => {
            // A new key takes the encoding SET would give it (Redis runs tryObjectEncoding).
            srv.add_key(c.db, key, Value::Str(StrValue::from_bytes(add)));
            add.len()
        }
        Ok(Some(s)) => {
            if s.len() + add.len() > max {
                c.out
                    .error("string exceeds maximum allowed size (proto-max-bulk-len)");
                return;
            }
            let raw = s.make_raw();
            raw.extend_from_slice(add);
            raw.len()
        }
    };
    srv.notify(notify::STRING, "append", key, c.db);
    srv.dirty += 1;
    c.out.int(newlen as i64);
}

pub fn strlen(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    match srv.lookup_read(c.db, args[1]) {
        None => c.out.int(0),
        Some(o) => match &o.val {
            Value::Str(s) => c.out.int(s.len() as i64),
            _ => c.out.error(WRONGTYPE),
        },
    }
}

fn incr_by(srv: &mut Server, c: &mut Client, key: &[u8], by: i64) {
    let cur = match write_string(srv, c, key) {
        Err(()) => return,
        Ok(None) => 0,
        Ok(Some(s)) => match s.as_i64() {
            Some(v) => v,
            None => {
                c.out.error(NOT_INT);
                return;
            }
        },
    };
    let Some(new) = cur.checked_add(by) else {
        c.out.error(OVERFLOW);
        return;
    };
    match srv.lookup_write(c.db, key) {
        Some(o) => o.val = Value::Str(StrValue::Int(new)),
        None => srv.add_key(c.db, key, Value::Str(StrValue::Int(new))),
    }
    srv.notify(notify::STRING, "incrby", key, c.db);
    srv.dirty += 1;
    c.out.int(new);
}

pub fn incr(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    incr_by(srv, c, args[1], 1)
}

pub fn decr(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    incr_by(srv, c, args[1], -1)
}

pub fn incrby(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some(by) = arg_i64(c, args[2], NOT_INT) else {
        return;
    };
    incr_by(srv, c, args[1], by)
}

pub fn decrby(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some(by) = arg_i64(c, args[2], NOT_INT) else {
        return;
    };
    if by == i64::MIN {
        c.out.error("decrement would overflow");
        return;
    }
    incr_by(srv, c, args[1], -by)
}

unsafe extern "C" {
    fn forkv_ld_incr(
        cur: *const u8,
        curlen: usize,
        has_cur: i32,
        inc: *const u8,
        inclen: usize,
        out: *mut u8,
        outlen: usize,
        used: *mut i32,
    ) -> i32;
}

/// Result of a long-double increment (INCRBYFLOAT, HINCRBYFLOAT).
pub enum LdIncr {
    Ok(Vec<u8>),
    NotFloatValue,
    NotFloatIncr,
    NanOrInf,
}

impl LdIncr {
    /// The increment itself did not parse.
    pub fn is_not_float_incr(&self) -> bool {
        matches!(self, LdIncr::NotFloatIncr)
    }
}

/// Add `inc` to `cur` in C long double and format as Redis (ld2string LD_STR_HUMAN).
pub fn long_double_incr(cur: Option<&[u8]>, inc: &[u8]) -> LdIncr {
    let mut out = vec![0u8; 5 * 1024 + 64];
    let mut used: i32 = 0;
    let (cp, cl) = cur.map_or((std::ptr::null(), 0), |v| (v.as_ptr(), v.len()));
    // SAFETY: pointers and lengths describe live slices; `out` is writable for its length and
    // the C side writes at most `outlen` bytes (snprintf) and reports how many in `used`.
    let r = unsafe {
        forkv_ld_incr(
            cp,
            cl,
            cur.is_some() as i32,
            inc.as_ptr(),
            inc.len(),
            out.as_mut_ptr(),
            out.len(),
            &mut used,
        )
    };
    match r {
        0 => {
            out.truncate(used as usize);
            LdIncr::Ok(out)
        }
        1 => LdIncr::NotFloatValue,
        2 => LdIncr::NotFloatIncr,
        _ => LdIncr::NanOrInf,
    }
}

pub fn incrbyfloat(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let key = args[1];
    let cur = match write_string(srv, c, key) {
        Err(()) => return,
        Ok(None) => None,
        Ok(Some(s)) => Some(s.bytes().into_owned()),
    };
    let new = match long_double_incr(cur.as_deref(), args[2]) {
        LdIncr::Ok(v) => v,
        LdIncr::NotFloatValue | LdIncr::NotFloatIncr => {
            c.out.error(super::NOT_FLOAT);
            return;
        }
        LdIncr::NanOrInf => {
            c.out.error("increment would produce NaN or Infinity");
            return;
        }
    };
    let val = Value::Str(StrValue::plain(&new));
    match srv.lookup_write(c.db, key) {
        Some(o) => o.val = val,
        None => srv.add_key(c.db, key, val),
    }
    srv.notify(notify::STRING, "incrbyfloat", key, c.db);
    srv.dirty += 1;
    c.out.bulk(&new);
    // Replay must not depend on float formatting: propagate the result with KEEPTTL.
    c.rewritten_argv = Some(vec![
        b"SET".to_vec(),
        key.to_vec(),
        new,
        b"KEEPTTL".to_vec(),
    ]);
}

pub fn setrange(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let (key, value) = (args[1], args[3]);
    let Some(offset) = arg_i64(c, args[2], NOT_INT) else {
        return;
    };
    if offset < 0 {
        c.out.error("offset is out of range");
        return;
    }
    let offset = offset as usize;
    let max = srv.cfg.int(P::ProtoMaxBulkLen) as usize;
    match write_string(srv, c, key) {
        Err(()) => {}
        Ok(None) => {
            if value.is_empty() {
                c.out.int(0);
                return;
            }
            if offset + value.len() > max {
                c.out
                    .error("string exceeds maximum allowed size (proto-max-bulk-len)");
                return;
            }
            let mut v = StrValue::zeroed(offset + value.len());
            v.make_raw()[offset..].copy_from_slice(value);
            let n = v.len();
            srv.add_key(c.db, key, Value::Str(v));
            srv.notify(notify::STRING, "setrange", key, c.db);
            srv.dirty += 1;
            c.out.int(n as i64);
        }
        Ok(Some(s)) => {
            if value.is_empty() {
                c.out.int(s.len() as i64);
                return;
            }
            if offset + value.len() > max {
                c.out
                    .error("string exceeds maximum allowed size (proto-max-bulk-len)");
                return;
            }
            let raw = s.make_raw();
            if raw.len() < offset + value.len() {
                raw.resize(offset + value.len(), 0);
            }
            raw[offset..offset + value.len()].copy_from_slice(value);
            let n = raw.len();
            srv.notify(notify::STRING, "setrange", key, c.db);
            srv.dirty += 1;
            c.out.int(n as i64);
        }
    }
}

pub fn getrange(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some(mut start) = arg_i64(c, args[2], NOT_INT) else {
        return;
    };
    let Some(mut end) = arg_i64(c, args[3], NOT_INT) else {
        return;
    };
    let v = match get_string(srv, c, args[1]) {
        Err(()) => return,
        Ok(None) => {
            c.out.bulk(b"");
            return;
        }
        Ok(Some(v)) => v,
    };
    if start < 0 && end < 0 && start > end {
        c.out.bulk(b"");
        return;
    }
    let len = v.len() as i64;
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        c.out.bulk(b"");
        return;
    }
    c.out.bulk(&v[start as usize..=end as usize]);
}

pub fn lcs(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let mut get_len = false;
    let mut get_idx = false;
    let mut with_match_len = false;
    let mut min_match_len: i64 = 0;
    let mut j = 3;
    while j < args.len() {
        let o = args[j];
        if eq_ic(o, "IDX") {
            get_idx = true;
        } else if eq_ic(o, "LEN") {
            get_len = true;
        } else if eq_ic(o, "WITHMATCHLEN") {
            with_match_len = true;
        } else if eq_ic(o, "MINMATCHLEN") && j + 1 < args.len() {
            let Some(v) = arg_i64(c, args[j + 1], NOT_INT) else {
                return;
            };
            min_match_len = v.max(0);
            j += 1;
        } else {
            c.out.error(SYNTAX);
            return;
        }
        j += 1;
    }
    let a = match get_string_lcs(srv, c, args[1]) {
        Some(v) => v,
        None => return,
    };
    let b = match get_string_lcs(srv, c, args[2]) {
        Some(v) => v,
        None => return,
    };
    if get_idx && get_len {
        c.out
            .error("If you want both the length and indexes, please just use IDX.");
        return;
    }
    if a.len() >= u32::MAX as usize - 1 || b.len() >= u32::MAX as usize - 1 {
        c.out.error("String too long for LCS");
        return;
    }
    let (al, bl) = (a.len(), b.len());
    let cells = (al + 1).saturating_mul(bl + 1);
    if cells.saturating_mul(4) as i64 > srv.cfg.int(P::ProtoMaxBulkLen) {
        c.out
            .error("Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
        return;
    }
    let mut dp = vec![0u32; cells];
    let idx = |i: usize, j: usize| j * (al + 1) + i;
    for i in 0..=al {
        for jj in 0..=bl {
            if i == 0 || jj == 0 {
                dp[idx(i, jj)] = 0;
            } else if a[i - 1] == b[jj - 1] {
                dp[idx(i, jj)] = dp[idx(i - 1, jj - 1)] + 1;
            } else {
                let l1 = dp[idx(i - 1, jj)];
                let l2 = dp[idx(i, jj - 1)];
                dp[idx(i, jj)] = l1.max(l2);
            }
        }
    }
    let total = dp[idx(al, bl)] as usize;
    let mut result = vec![0u8; total];
    // (range in a, range in b, match length)
    type Match = ((usize, usize), (usize, usize), usize);
    let mut matches: Vec<Match> = Vec::new();
    let (mut i, mut jj) = (al, bl);
    let mut idx_left = total;
    let (mut arange_start, mut arange_end, mut brange_start, mut brange_end) =
        (al, 0usize, 0usize, 0usize);
    let computelcs = get_idx || !get_len;
    while computelcs && i > 0 && jj > 0 {
        let mut emit_range = false;
        if a[i - 1] == b[jj - 1] {
            result[idx_left - 1] = a[i - 1];
            if arange_start == al {
                arange_start = i - 1;
                arange_end = i - 1;
                brange_start = jj - 1;
                brange_end = jj - 1;
            } else if arange_start == i && brange_start == jj {
                arange_start -= 1;
                brange_start -= 1;
            } else {
                emit_range = true;
            }
            if arange_start == 0 || brange_start == 0 {
                emit_range = true;
            }
            idx_left -= 1;
            i -= 1;
            jj -= 1;
        } else {
            let l1 = dp[idx(i - 1, jj)];
            let l2 = dp[idx(i, jj - 1)];
            if l1 > l2 {
                i -= 1;
            } else {
                jj -= 1;
            }
            if arange_start != al {
                emit_range = true;
            }
        }
        if emit_range {
            let match_len = arange_end - arange_start + 1;
            if min_match_len == 0 || match_len >= min_match_len as usize {
                matches.push((
                    (arange_start, arange_end),
                    (brange_start, brange_end),
                    match_len,
                ));
            }
            arange_start = al;
        }
    }
    if get_idx {
        c.out.map(2);
        c.out.bulk(b"matches");
        c.out.array(matches.len());
        for (ar, br, ml) in &matches {
            c.out.array(if with_match_len { 3 } else { 2 });
            c.out.array(2);
            c.out.int(ar.0 as i64);
            c.out.int(ar.1 as i64);
            c.out.array(2);
            c.out.int(br.0 as i64);
            c.out.int(br.1 as i64);
            if with_match_len {
                c.out.int(*ml as i64);
            }
        }
        c.out.bulk(b"len");
        c.out.int(total as i64);
    } else if get_len {
        c.out.int(total as i64);
    } else {
        c.out.bulk(&result);
    }
}

fn get_string_lcs(srv: &mut Server, c: &mut Client, key: &[u8]) -> Option<Vec<u8>> {
    match srv.lookup_read(c.db, key) {
        None => Some(Vec::new()),
        Some(o) => match &o.val {
            Value::Str(s) => Some(s.bytes().into_owned()),
            _ => {
                c.out.error("The specified keys must contain string values");
                None
            }
        },
    }
}
