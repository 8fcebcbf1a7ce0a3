//! List commands, blocking ones included (DESIGN §5: a blocking pop served later propagates
//! as its non-blocking form).

use super::{
    NO_SUCH_KEY, NOT_INT, SYNTAX, arg_i64, arg_positive, clamp_range, eq_ic, read_typed,
    write_typed,
};
use crate::config::P;
use crate::net::client::Client;
use crate::server::Server;
use crate::server::notify;
use crate::types::Value;
use crate::types::quicklist::{End, Quicklist};

fn fill(srv: &Server) -> i64 {
    srv.cfg.int(P::ListMaxListpackSize)
}

fn read_list<'a>(
    srv: &'a mut Server,
    c: &mut Client,
    key: &[u8],
) -> Result<Option<&'a Quicklist>, super::Replied> {
    read_typed(srv, c, key, Value::as_list)
}

fn write_list<'a>(
    srv: &'a mut Server,
    c: &mut Client,
    key: &[u8],
) -> Result<Option<&'a mut Quicklist>, super::Replied> {
    let depth = compress_depth(srv);
    let mut q = write_typed(srv, c, key, Value::as_list_mut)?;
    if let Some(q) = q.as_deref_mut() {
        q.set_compress_depth(depth);
    }
    Ok(q)
}

fn compress_depth(srv: &Server) -> usize {
    srv.cfg.int(P::ListCompressDepth) as usize
}

/// An empty list that follows the configured compression depth.
pub fn new_list(srv: &Server) -> Quicklist {
    let mut q = Quicklist::new();
    q.set_compress_depth(compress_depth(srv));
    q
}

fn end_name(end: End, pop: bool) -> &'static str {
    match (end, pop) {
        (End::Head, true) => "lpop",
        (End::Tail, true) => "rpop",
        (End::Head, false) => "lpush",
        (End::Tail, false) => "rpush",
    }
}

fn parse_end(a: &[u8]) -> Option<End> {
    if eq_ic(a, "left") {
        Some(End::Head)
    } else if eq_ic(a, "right") {
        Some(End::Tail)
    } else {
        None
    }
}

fn push_generic(srv: &mut Server, c: &mut Client, args: &[&[u8]], end: End, only_existing: bool) {
    let key = args[1];
    let f = fill(srv);
    let len = match write_list(srv, c, key) {
        Err(_) => return,
        Ok(Some(q)) => {
            for v in &args[2..] {
                q.push(end, v, f);
            }
            q.len()
        }
        Ok(None) if only_existing => {
            c.out.int(0);
            return;
        }
        Ok(None) => {
            let mut q = new_list(srv);
            for v in &args[2..] {
                q.push(end, v, f);
            }
            let n = q.len();
            srv.add_key(c.db, key, Value::List(Box::new(q)));
            n
        }
    };
    srv.signal_key_ready(c.db, key);
    srv.notify(notify::LIST, end_name(end, false), key, c.db);
    srv.dirty += (args.len() - 2) as u64;
    c.out.int(len as i64);
}

pub fn lpush(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    push_generic(srv, c, args, End::Head, false)
}
pub fn rpush(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    push_generic(srv, c, args, End::Tail, false)
}
pub fn lpushx(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    push_generic(srv, c, args, End::Head, true)
}
pub fn rpushx(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    push_generic(srv, c, args, End::Tail, true)
}

/// Pop up to `count` elements of an existing list, with the events and deletion Redis does.
fn pop_n(srv: &mut Server, db: usize, key: &[u8], end: End, count: usize) -> Vec<Vec<u8>> {
    let depth = compress_depth(srv);
    let Some(q) = srv.dbs[db]
        .dict
        .get_mut(key)
        .and_then(|o| o.val.as_list_mut())
    else {
        return Vec::new();
    };
    q.set_compress_depth(depth);
    let mut out = Vec::with_capacity(count.min(q.len()));
    while out.len() < count {
        match q.pop(end) {
            Some(v) => out.push(v),
            None => break,
        }
    }
    if !out.is_empty() {
        srv.notify(notify::LIST, end_name(end, true), key, db);
        srv.delete_if_empty(db, key);
        srv.dirty += out.len() as u64;
    }
    out
}

fn pop_generic(srv: &mut Server, c: &mut Client, args: &[&[u8]], end: End) {
    if args.len() > 3 {
        c.out.error(&format!(
            "wrong number of arguments for '{}' command",
            end_name(end, true)
        ));
        return;
    }
    let count = match args.get(2) {
        Some(a) => match arg_positive(c, a) {
            Some(n) => Some(n as usize),
            None => return,
        },
        None => None,
    };
    let key = args[1];
    match read_list(srv, c, key) {
        Err(_) => return,
        Ok(None) => {
            if count.is_some() {
                c.out.null_array();
            } else {
                c.out.null();
            }
            return;
        }
        Ok(Some(_)) => {}
    }
    match count {
        None => match pop_n(srv, c.db, key, end, 1).first() {
            Some(v) => c.out.bulk(v),
            None => c.out.null(),
        },
        Some(0) => c.out.array(0),
        Some(n) => {
            let v = pop_n(srv, c.db, key, end, n);
            c.out.array(v.len());
            for e in &v {
                c.out.bulk(e);
            }
        }
    }
}

pub fn lpop(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    pop_generic(srv, c, args, End::Head)
}
pub fn rpop(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    pop_generic(srv, c, args, End::Tail)
}

pub fn llen(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if let Ok(q) = read_list(srv, c, args[1]) {
        c.out.int(q.map_or(0, |q| q.len()) as i64);
    }
}

pub fn lindex(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some(i) = arg_i64(c, args[2], NOT_INT) else {
        return;
    };
    match read_list(srv, c, args[1]) {
        Err(_) => {}
        Ok(None) => c.out.null(),
        Ok(Some(q)) => match q.norm_index(i).and_then(|j| q.get(j)) {
            Some(v) => c.out.bulk(&v.to_vec()),
            None => c.out.null(),
        },
    }
}

pub fn lset(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some(i) = arg_i64(c, args[2], NOT_INT) else {
        return;
    };
    let f = fill(srv);
    match write_list(srv, c, args[1]) {
        Err(_) => {}
        Ok(None) => c.out.error(NO_SUCH_KEY),
        Ok(Some(q)) => match q.norm_index(i) {
            Some(j) => {
                q.set(j, args[3], f);
                c.out.ok();
                srv.notify(notify::LIST, "lset", args[1], c.db);
                srv.dirty += 1;
            }
            None => c.out.error("index out of range"),
        },
    }
}

pub fn lrange(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some(start) = arg_i64(c, args[2], NOT_INT) else {
        return;
    };
    let Some(end) = arg_i64(c, args[3], NOT_INT) else {
        return;
    };
    match read_list(srv, c, args[1]) {
        Err(_) => {}
        Ok(None) => c.out.array(0),
        Ok(Some(q)) => match clamp_range(start, end, q.len()) {
            None => c.out.array(0),
            Some((s, e)) => {
                c.out.array(e - s + 1);
                let out = &mut c.out;
                q.for_range(s, e, false, |v| match v {
                    crate::types::listpack::LpVal::Str(b) => out.bulk(b),
                    crate::types::listpack::LpVal::Int(i) => out.bulk_i64(i),
                });
            }
        },
    }
}

pub fn linsert(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let after = if eq_ic(args[2], "after") {
        true
    } else if eq_ic(args[2], "before") {
        false
    } else {
        c.out.error(SYNTAX);
        return;
    };
    let f = fill(srv);
    let len = match write_list(srv, c, args[1]) {
        Err(_) => return,
        Ok(None) => {
            c.out.int(0);
            return;
        }
        Ok(Some(q)) => {
            let mut at = None;
            let mut i = 0;
            q.for_each(|v| {
                if at.is_none() && v.eq_bytes(args[3]) {
                    at = Some(i);
                }
                i += 1;
            });
            match at {
                None => {
                    c.out.int(-1);
                    return;
                }
                Some(i) => {
                    q.insert(i, after, args[4], f);
                    q.len()
                }
            }
        }
    };
    srv.notify(notify::LIST, "linsert", args[1], c.db);
    srv.dirty += 1;
    c.out.int(len as i64);
}

pub fn lrem(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some(count) = arg_i64(c, args[2], NOT_INT) else {
        return;
    };
    let removed = match write_list(srv, c, args[1]) {
        Err(_) => return,
        Ok(None) => 0,
        Ok(Some(q)) => q.remove_matching(count < 0, count.unsigned_abs() as usize, |v| {
            v.eq_bytes(args[3])
        }),
    };
    if removed > 0 {
        srv.notify(notify::LIST, "lrem", args[1], c.db);
        srv.delete_if_empty(c.db, args[1]);
        srv.dirty += removed as u64;
    }
    c.out.int(removed as i64);
}

pub fn ltrim(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some(start) = arg_i64(c, args[2], NOT_INT) else {
        return;
    };
    let Some(end) = arg_i64(c, args[3], NOT_INT) else {
        return;
    };
    let removed = match write_list(srv, c, args[1]) {
        Err(_) => return,
        Ok(None) => {
            c.out.ok();
            return;
        }
        Ok(Some(q)) => {
            let n = q.len();
            match clamp_range(start, end, n) {
                None => {
                    q.delete_range(0, n);
                    n
                }
                Some((s, e)) => {
                    q.delete_range(e + 1, n - e - 1);
                    q.delete_range(0, s);
                    n - (e - s + 1)
                }
            }
        }
    };
    srv.notify(notify::LIST, "ltrim", args[1], c.db);
    srv.delete_if_empty(c.db, args[1]);
    srv.dirty += removed as u64;
    c.out.ok();
}

pub fn lpos(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let mut rank: i64 = 1;
    let mut count: Option<i64> = None;
    let mut maxlen: i64 = 0;
    let mut i = 3;
    while i < args.len() {
        let opt = args[i];
        let Some(val) = args.get(i + 1) else {
            c.out.error(SYNTAX);
            return;
        };
        if eq_ic(opt, "rank") {
            let Some(r) = arg_i64(c, val, NOT_INT) else {
                return;
            };
            if r == 0 {
                c.out.error("RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list");
                return;
            }
            if r == i64::MIN {
                c.out.error("value is out of range");
                return;
            }
            rank = r;
        } else if eq_ic(opt, "count") {
            // Redis's getPositiveLongFromObjectOrReply: one message for negative and non-numbers.
            match crate::resp::parse_i64(val).filter(|n| *n >= 0) {
                Some(n) => count = Some(n),
                None => {
                    c.out.error("COUNT can't be negative");
                    return;
                }
            }
        } else if eq_ic(opt, "maxlen") {
            match crate::resp::parse_i64(val).filter(|n| *n >= 0) {
                Some(n) => maxlen = n,
                None => {
                    c.out.error("MAXLEN can't be negative");
                    return;
                }
            }
        } else {
            c.out.error(SYNTAX);
            return;
        }
        i += 2;
    }
    let q = match read_list(srv, c, args[1]) {
        Err(_) => return,
        Ok(None) => {
            if count.is_some() {
                c.out.array(0);
            } else {
                c.out.null();
            }
            return;
        }
        Ok(Some(q)) => q,
    };
    let n = q.len();
    let rev = rank < 0;
    let mut skip = rank.unsigned_abs() - 1;
    let want = match count {
        Some(0) => usize::MAX,
        Some(k) => k as usize,
        None => 1,
    };
    let mut found = Vec::new();
    let mut scanned: i64 = 0;
    if n > 0 {
        let mut idx: i64 = if rev { n as i64 - 1 } else { 0 };
        q.for_range(0, n - 1, rev, |v| {
            if found.len() >= want || (maxlen != 0 && scanned >= maxlen) {
                return;
            }
            scanned += 1;
            if v.eq_bytes(args[2]) {
                if skip > 0 {
                    skip -= 1;
                } else {
                    found.push(idx);
                }
            }
            idx += if rev { -1 } else { 1 };
        });
    }
    match count {
        Some(_) => {
            c.out.array(found.len());
            for i in found {
                c.out.int(i);
            }
        }
        None => match found.first() {
            Some(i) => c.out.int(*i),
            None => c.out.null(),
        },
    }
}

/// LMOVE's work once the source is known to be a non-empty list: check the destination, pop,
/// push, events. Replies with the element (or WRONGTYPE) and returns whether it moved.
fn move_element(
    srv: &mut Server,
    c: &mut Client,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
) -> bool {
    if super::wrong_type(srv, c, dst, "list") {
        return false;
    }
    let depth = compress_depth(srv);
    let Some(v) = srv.dbs[c.db]
        .dict
        .get_mut(src)
        .and_then(|o| o.val.as_list_mut())
        .and_then(|q| {
            q.set_compress_depth(depth);
            q.pop(from)
        })
    else {
        return false;
    };
    let f = fill(srv);
    match srv.dbs[c.db]
        .dict
        .get_mut(dst)
        .and_then(|o| o.val.as_list_mut())
    {
        Some(q) => {
            q.set_compress_depth(depth);
            q.push(to, &v, f)
        }
        None => {
            let mut q = new_list(srv);
            q.push(to, &v, f);
            srv.add_key(c.db, dst, Value::List(Box::new(q)));
        }
    }
    srv.touch_watched(c.db, dst);
    srv.signal_key_ready(c.db, dst);
    srv.notify(notify::LIST, end_name(to, false), dst, c.db);
    srv.notify(notify::LIST, end_name(from, true), src, c.db);
    srv.delete_if_empty(c.db, src);
    srv.dirty += 1;
    c.out.bulk(&v);
    true
}

/// LMOVE / RPOPLPUSH and their blocking forms. `timeout` is the deadline argument for the
/// blocking ones.
fn lmove_generic(
    srv: &mut Server,
    c: &mut Client,
    args: &[&[u8]],
    from: End,
    to: End,
    timeout: Option<&[u8]>,
) {
    let deadline = match timeout {
        Some(t) => match super::arg_timeout(srv, c, t) {
            Some(d) => Some(d),
            None => return,
        },
        None => None,
    };
    let (src, dst) = (args[1], args[2]);
    let has = match read_list(srv, c, src) {
        Err(_) => return,
        Ok(q) => q.is_some_and(|q| !q.is_empty()),
    };
    if has {
        if move_element(srv, c, src, dst, from, to) && timeout.is_some() {
            let name: &[u8] = if args.len() == 4 {
                b"RPOPLPUSH"
            } else {
                b"LMOVE"
            };
            let mut v: Vec<Vec<u8>> = vec![name.to_vec()];
            v.extend(args[1..args.len() - 1].iter().map(|a| a.to_vec()));
            c.rewritten_argv = Some(v);
        }
        return;
    }
    match deadline {
        None => c.out.null(),
        Some(_) if !srv.may_block() => c.out.null(),
        Some(d) => {
            let def = c.last_cmd.expect("running command");
            srv.block_client(c, &[src], d, def, args);
        }
    }
}

pub fn lmove(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let (Some(from), Some(to)) = (parse_end(args[3]), parse_end(args[4])) else {
        c.out.error(SYNTAX);
        return;
    };
    lmove_generic(srv, c, args, from, to, None)
}

pub fn rpoplpush(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    lmove_generic(srv, c, args, End::Tail, End::Head, None)
}

pub fn blmove(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let (Some(from), Some(to)) = (parse_end(args[3]), parse_end(args[4])) else {
        c.out.error(SYNTAX);
        return;
    };
    lmove_generic(srv, c, args, from, to, Some(args[5]))
}

pub fn brpoplpush(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    lmove_generic(srv, c, args, End::Tail, End::Head, Some(args[3]))
}

/// BLPOP / BRPOP.
fn bpop_generic(srv: &mut Server, c: &mut Client, args: &[&[u8]], end: End) {
    let Some(deadline) = super::arg_timeout(srv, c, args[args.len() - 1]) else {
        return;
    };
    let keys = &args[1..args.len() - 1];
    for key in keys {
        match read_list(srv, c, key) {
            Err(_) => return,
            Ok(Some(q)) if !q.is_empty() => {
                let v = pop_n(srv, c.db, key, end, 1);
                let Some(first) = v.first() else {
                    continue;
                };
                c.out.array(2);
                c.out.bulk(key);
                c.out.bulk(first);
                let name: &[u8] = if end == End::Head { b"LPOP" } else { b"RPOP" };
                c.rewritten_argv = Some(vec![name.to_vec(), key.to_vec()]);
                return;
            }
            Ok(_) => {}
        }
    }
    if !srv.may_block() {
        c.out.null_array();
        return;
    }
    let def = c.last_cmd.expect("running command");
    srv.block_client(c, keys, deadline, def, args);
}

pub fn blpop(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    bpop_generic(srv, c, args, End::Head)
}
pub fn brpop(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    bpop_generic(srv, c, args, End::Tail)
}

fn mpop_generic(srv: &mut Server, c: &mut Client, args: &[&[u8]], blocking: bool) {
    let Some((deadline, keys, right, count)) =
        super::multi_pop_args(srv, c, args, blocking, ("left", "right"))
    else {
        return;
    };
    let end = if right { End::Tail } else { End::Head };
    for key in &keys {
        match read_list(srv, c, key) {
            Err(_) => return,
            Ok(Some(q)) if !q.is_empty() => {
                let v = pop_n(srv, c.db, key, end, count);
                c.out.array(2);
                c.out.bulk(key);
                c.out.array(v.len());
                for e in &v {
                    c.out.bulk(e);
                }
                let name: &[u8] = if end == End::Head { b"LPOP" } else { b"RPOP" };
                c.rewritten_argv = Some(vec![
                    name.to_vec(),
                    key.to_vec(),
                    v.len().to_string().into_bytes(),
                ]);
                return;
            }
            Ok(_) => {}
        }
    }
    match deadline {
        Some(d) if srv.may_block() => {
            let def = c.last_cmd.expect("running command");
            srv.block_client(c, &keys, d, def, args);
        }
        _ => c.out.null_array(),
    }
}

pub fn lmpop(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    mpop_generic(srv, c, args, false)
}
pub fn blmpop(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    mpop_generic(srv, c, args, true)
}
