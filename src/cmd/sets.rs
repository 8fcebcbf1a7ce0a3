//! Set commands.

use super::{NOT_INT, SYNTAX, arg_i64, arg_positive, eq_ic, read_typed, write_typed};
use crate::config::P;
use crate::db::Rng;
use crate::net::client::Client;
use crate::server::Server;
use crate::server::notify;
use crate::types::{SetValue, Value};

fn max_intset(srv: &Server) -> usize {
    srv.cfg.int(P::SetMaxIntsetEntries) as usize
}

fn read_set<'a>(
    srv: &'a mut Server,
    c: &mut Client,
    key: &[u8],
) -> Result<Option<&'a SetValue>, super::Replied> {
    read_typed(srv, c, key, Value::as_set)
}

/// Indices for a random sample of `count` distinct items of `len` (at most `len`).
fn distinct_picks(rng: &mut Rng, len: usize, count: usize) -> Vec<usize> {
    let n = count.min(len);
    let mut idx: Vec<usize> = (0..len).collect();
    if n == len {
        return idx;
    }
    // Partial Fisher-Yates: the first n slots become the sample.
    for i in 0..n {
        let j = i + rng.below((len - i) as u64) as usize;
        idx.swap(i, j);
    }
    idx.truncate(n);
    idx
}

/// One reply can't usefully pass this; a random sample asked for more (a huge negative count)
/// closes the connection instead of exhausting memory.
const SAMPLE_REPLY_MAX: usize = 1 << 30;

/// Reply a random sample of `len` items (HRANDFIELD, SRANDMEMBER, ZRANDMEMBER): distinct items
/// for `count >= 0`, `|count|` independent draws for a negative one, streamed so a huge count
/// allocates nothing up front. `per_item` is how many reply elements `emit` writes for one item
/// (the header counts them); `emit` writes item `i`.
pub fn reply_random_sample(
    c: &mut Client,
    rng: &mut Rng,
    len: usize,
    count: i64,
    per_item: usize,
    mut emit: impl FnMut(&mut crate::resp::Out, usize),
) {
    if count >= 0 {
        let picks = distinct_picks(rng, len, count as usize);
        c.out.array(picks.len() * per_item);
        for i in picks {
            emit(&mut c.out, i);
        }
        return;
    }
    let n = count.unsigned_abs();
    c.out.array((n as usize).saturating_mul(per_item));
    let start = c.out.buf.len();
    for k in 0..n {
        emit(&mut c.out, rng.below(len as u64) as usize);
        if k % 1024 == 0 && c.out.buf.len() - start > SAMPLE_REPLY_MAX {
            log::warn!(
                "Client id={} addr={} closed: random sample reply of {n} items is too large",
                c.id,
                c.addr
            );
            c.out.buf.truncate(start);
            c.closing = crate::net::client::Closing::Now;
            return;
        }
    }
}

pub fn sadd(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let max = max_intset(srv);
    let hasher = srv.hasher.clone();
    match write_typed(srv, c, args[1], Value::as_set_mut) {
        Err(_) => return,
        Ok(Some(_)) => {}
        Ok(None) => {
            let s = SetValue::for_member(args[2], &hasher);
            srv.add_key(c.db, args[1], Value::Set(s));
        }
    }
    let s = srv.dbs[c.db]
        .dict
        .get_mut(args[1])
        .and_then(|o| o.val.as_set_mut())
        .expect("set exists");
    let mut added = 0;
    for m in &args[2..] {
        if s.add(m, max, &hasher) {
            added += 1;
        }
    }
    if added > 0 {
        srv.notify(notify::SET, "sadd", args[1], c.db);
    }
    srv.dirty += added;
    c.out.int(added as i64);
}

pub fn srem(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let ev = (notify::SET, "srem");
    super::remove_members(
        srv,
        c,
        args,
        Value::as_set_mut,
        SetValue::remove,
        SetValue::len,
        ev,
    )
}

pub fn scard(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if let Ok(s) = read_set(srv, c, args[1]) {
        c.out.int(s.map_or(0, |s| s.len()) as i64);
    }
}

pub fn sismember(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if let Ok(s) = read_set(srv, c, args[1]) {
        c.out.int(i64::from(s.is_some_and(|s| s.contains(args[2]))));
    }
}

pub fn smismember(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if let Ok(s) = read_set(srv, c, args[1]) {
        c.out.array(args.len() - 2);
        for m in &args[2..] {
            c.out.int(i64::from(s.is_some_and(|s| s.contains(m))));
        }
    }
}

fn reply_set(c: &mut Client, members: &[Vec<u8>]) {
    c.out.set(members.len());
    for m in members {
        c.out.bulk(m);
    }
}

pub fn smembers(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    match read_set(srv, c, args[1]) {
        Err(_) => {}
        Ok(None) => c.out.set(0),
        Ok(Some(s)) => {
            let out = &mut c.out;
            out.set(s.len());
            s.for_each(|m| out.bulk(m));
        }
    }
}

pub fn spop(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if args.len() > 3 {
        c.out.error(SYNTAX);
        return;
    }
    let key = args[1];
    if args.len() == 2 {
        let mut rng = srv.rng.clone();
        let m = match write_typed(srv, c, key, Value::as_set_mut) {
            Err(_) => return,
            Ok(None) => {
                c.out.null();
                return;
            }
            Ok(Some(s)) => {
                let m = s.random(&mut rng).expect("non-empty set");
                s.remove(&m);
                m
            }
        };
        srv.rng = rng;
        srv.notify(notify::SET, "spop", key, c.db);
        srv.delete_if_empty(c.db, key);
        srv.dirty += 1;
        c.out.bulk(&m);
        c.rewritten_argv = Some(vec![b"SREM".to_vec(), key.to_vec(), m]);
        return;
    }
    let Some(count) = arg_positive(c, args[2]) else {
        return;
    };
    let count = count as usize;
    let mut rng = srv.rng.clone();
    let (popped, all) = match write_typed(srv, c, key, Value::as_set_mut) {
        Err(_) => return,
        Ok(None) => {
            c.out.set(0);
            return;
        }
        Ok(Some(_)) if count == 0 => {
            c.out.set(0);
            return;
        }
        Ok(Some(s)) => {
            if count >= s.len() {
                (s.members(), true)
            } else {
                let members = s.members();
                let picks = distinct_picks(&mut rng, members.len(), count);
                let popped: Vec<Vec<u8>> = picks.into_iter().map(|i| members[i].clone()).collect();
                for m in &popped {
                    s.remove(m);
                }
                (popped, false)
            }
        }
    };
    srv.rng = rng;
    srv.notify(notify::SET, "spop", key, c.db);
    srv.dirty += popped.len() as u64;
    if all {
        srv.dbs[c.db].remove(key);
        srv.notify(notify::GENERIC, "del", key, c.db);
        c.rewritten_argv = Some(vec![b"DEL".to_vec(), key.to_vec()]);
    } else {
        // Propagated as SREMs of the popped members (in batches, as Redis does).
        c.suppress_propagation = true;
        for chunk in popped.chunks(1024) {
            let mut v: Vec<&[u8]> = vec![b"SREM", key];
            v.extend(chunk.iter().map(|m| m.as_slice()));
            srv.prop.also_propagate(c.db, &v);
        }
    }
    reply_set(c, &popped);
}

pub fn srandmember(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if args.len() > 3 {
        c.out.error(SYNTAX);
        return;
    }
    let count = match args.get(2) {
        Some(a) => match arg_i64(c, a, NOT_INT) {
            Some(i64::MIN) => {
                c.out.error("value is out of range");
                return;
            }
            Some(n) => Some(n),
            None => return,
        },
        None => None,
    };
    let mut rng = srv.rng.clone();
    let s = match read_set(srv, c, args[1]) {
        Err(_) => return,
        Ok(s) => s,
    };
    match count {
        None => match s {
            None => c.out.null(),
            Some(s) => match s.random(&mut rng) {
                Some(m) => c.out.bulk(&m),
                None => c.out.null(),
            },
        },
        Some(n) => match s {
            None => c.out.array(0),
            Some(s) => {
                let members = s.members();
                reply_random_sample(c, &mut rng, members.len(), n, 1, |o, i| o.bulk(&members[i]));
            }
        },
    }
    srv.rng = rng;
}

pub fn smove(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let (src, dst, m) = (args[1], args[2], args[3]);
    let has = match read_set(srv, c, src) {
        Err(_) => return,
        Ok(None) => {
            c.out.int(0);
            return;
        }
        Ok(Some(s)) => s.contains(m),
    };
    if super::wrong_type(srv, c, dst, "set") {
        return;
    }
    if src == dst {
        c.out.int(i64::from(has));
        return;
    }
    if !has {
        c.out.int(0);
        return;
    }
    if let Some(s) = srv.dbs[c.db]
        .dict
        .get_mut(src)
        .and_then(|o| o.val.as_set_mut())
    {
        s.remove(m);
    }
    // The destination counts as modified only if the member was added to it.
    srv.touches_signalled = true;
    srv.touch_watched(c.db, src);
    srv.notify(notify::SET, "srem", src, c.db);
    srv.delete_if_empty(c.db, src);
    let max = max_intset(srv);
    let hasher = srv.hasher.clone();
    if !srv.dbs[c.db].dict.contains(dst) {
        srv.add_key(c.db, dst, Value::Set(SetValue::for_member(m, &hasher)));
    }
    if let Some(s) = srv.dbs[c.db]
        .dict
        .get_mut(dst)
        .and_then(|o| o.val.as_set_mut())
        && s.add(m, max, &hasher)
    {
        srv.dirty += 1;
        srv.touch_watched(c.db, dst);
        srv.notify(notify::SET, "sadd", dst, c.db);
    }
    srv.dirty += 1;
    c.out.int(1);
}

#[derive(Clone, Copy, PartialEq)]
enum SetOp {
    Inter,
    Union,
    Diff,
}

/// The sets named by `keys` (None for missing ones); None after replying WRONGTYPE.
fn gather(srv: &mut Server, c: &mut Client, keys: &[&[u8]]) -> Option<Vec<Option<SetValue>>> {
    let mut v = Vec::with_capacity(keys.len());
    for k in keys {
        match read_set(srv, c, k) {
            Err(_) => return None,
            Ok(s) => v.push(s.cloned()),
        }
    }
    Some(v)
}

fn compute(op: SetOp, sets: &[Option<SetValue>], limit: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    match op {
        SetOp::Inter => {
            if sets.iter().any(|s| s.is_none()) {
                return out;
            }
            let mut order: Vec<&SetValue> = sets.iter().flatten().collect();
            order.sort_by_key(|s| s.len());
            order[0].for_each(|m| {
                if (limit == 0 || out.len() < limit) && order[1..].iter().all(|s| s.contains(m)) {
                    out.push(m.to_vec());
                }
            });
        }
        SetOp::Union => {
            let mut seen = std::collections::HashSet::new();
            for s in sets.iter().flatten() {
                s.for_each(|m| {
                    if seen.insert(m.to_vec()) {
                        out.push(m.to_vec());
                    }
                });
            }
        }
        SetOp::Diff => {
            let Some(first) = &sets[0] else {
                return out;
            };
            first.for_each(|m| {
                if !sets[1..].iter().flatten().any(|s| s.contains(m)) {
                    out.push(m.to_vec());
                }
            });
        }
    }
    out
}

fn setop_reply(srv: &mut Server, c: &mut Client, keys: &[&[u8]], op: SetOp) {
    let Some(sets) = gather(srv, c, keys) else {
        return;
    };
    let r = compute(op, &sets, 0);
    reply_set(c, &r);
}

fn setop_store(
    srv: &mut Server,
    c: &mut Client,
    dst: &[u8],
    keys: &[&[u8]],
    op: SetOp,
    event: &str,
) {
    let Some(sets) = gather(srv, c, keys) else {
        return;
    };
    let r = compute(op, &sets, 0);
    if r.is_empty() {
        if srv.delete_key(c.db, dst) {
            srv.notify(notify::GENERIC, "del", dst, c.db);
            srv.dirty += 1;
        }
        c.out.int(0);
        return;
    }
    let max = max_intset(srv);
    let hasher = srv.hasher.clone();
    let mut s = SetValue::Ints(crate::types::intset::IntSet::new());
    for m in &r {
        s.add(m, max, &hasher);
    }
    let n = s.len();
    srv.set_key(c.db, dst, Value::Set(s), false);
    srv.notify(notify::SET, event, dst, c.db);
    srv.dirty += 1;
    c.out.int(n as i64);
}

pub fn sinter(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    setop_reply(srv, c, &args[1..], SetOp::Inter)
}
pub fn sunion(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    setop_reply(srv, c, &args[1..], SetOp::Union)
}
pub fn sdiff(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    setop_reply(srv, c, &args[1..], SetOp::Diff)
}
pub fn sinterstore(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    setop_store(srv, c, args[1], &args[2..], SetOp::Inter, "sinterstore")
}
pub fn sunionstore(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    setop_store(srv, c, args[1], &args[2..], SetOp::Union, "sunionstore")
}
pub fn sdiffstore(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    setop_store(srv, c, args[1], &args[2..], SetOp::Diff, "sdiffstore")
}

/// `numkeys key... [LIMIT n]` as SINTERCARD and ZINTERCARD read it.
pub fn parse_card_args<'a>(c: &mut Client, args: &[&'a [u8]]) -> Option<(Vec<&'a [u8]>, usize)> {
    let n = match crate::resp::parse_i64(args[1]) {
        Some(n) if n > 0 => n as usize,
        Some(_) => {
            c.out.error("numkeys should be greater than 0");
            return None;
        }
        None => {
            c.out.error("numkeys should be greater than 0");
            return None;
        }
    };
    if n > args.len() - 2 {
        c.out
            .error("Number of keys can't be greater than number of args");
        return None;
    }
    let keys = args[2..2 + n].to_vec();
    let mut limit = 0usize;
    let mut i = 2 + n;
    while i < args.len() {
        if eq_ic(args[i], "limit") && i + 1 < args.len() {
            match crate::resp::parse_i64(args[i + 1]) {
                Some(l) if l >= 0 => limit = l as usize,
                Some(_) => {
                    c.out.error("LIMIT can't be negative");
                    return None;
                }
                None => {
                    c.out.error("LIMIT can't be negative");
                    return None;
                }
            }
            i += 2;
        } else {
            c.out.error(SYNTAX);
            return None;
        }
    }
    Some((keys, limit))
}

pub fn sintercard(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some((keys, limit)) = parse_card_args(c, args) else {
        return;
    };
    let Some(sets) = gather(srv, c, &keys) else {
        return;
    };
    c.out.int(compute(SetOp::Inter, &sets, limit).len() as i64);
}

pub fn sscan(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some(cursor) = super::keys::parse_cursor(c, args[2]) else {
        return;
    };
    let s = match read_set(srv, c, args[1]) {
        Err(_) => return,
        Ok(s) => s,
    };
    if s.is_none() {
        super::keys::reply_scan(c, 0, &[]);
        return;
    }
    let Some(opts) = super::keys::parse_scan_opts(c, args, 3, false) else {
        return;
    };
    let mut items = Vec::new();
    let mut next = 0;
    match s {
        None => {}
        Some(SetValue::Ints(_)) => items = s.expect("matched").members(),
        Some(SetValue::Table(d)) => {
            let mut cur = cursor;
            let mut max_iter = opts.count.saturating_mul(10);
            loop {
                cur = d.scan(cur, |k, _| items.push(k.to_vec()));
                max_iter -= 1;
                if cur == 0 || max_iter == 0 || items.len() >= opts.count {
                    break;
                }
            }
            next = cur;
        }
    }
    if let Some(p) = opts.pattern {
        items.retain(|m| crate::config::glob_match(p, m, false));
    }
    super::keys::reply_scan(c, next, &items);
}
