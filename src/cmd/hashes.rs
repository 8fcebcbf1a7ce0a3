//! Hash commands.

use super::{NOT_INT, arg_i64, read_typed, write_typed};
use crate::config::P;
use crate::net::client::Client;
use crate::server::Server;
use crate::server::notify;
use crate::types::Value;
use crate::types::hash::{HashLimits, HashValue};

fn limits(srv: &Server) -> HashLimits {
    HashLimits {
        max_entries: srv.cfg.int(P::HashMaxListpackEntries) as usize,
        max_value: srv.cfg.int(P::HashMaxListpackValue) as usize,
    }
}

fn read_hash<'a>(
    srv: &'a mut Server,
    c: &mut Client,
    key: &[u8],
) -> Result<Option<&'a HashValue>, super::Replied> {
    read_typed(srv, c, key, Value::as_hash)
}

/// The hash at `key`, created empty if missing (hashTypeLookupWriteOrCreate). None after
/// replying WRONGTYPE.
fn hash_or_create<'a>(
    srv: &'a mut Server,
    c: &mut Client,
    key: &[u8],
) -> Option<&'a mut HashValue> {
    match write_typed(srv, c, key, Value::as_hash_mut) {
        Err(_) => return None,
        Ok(Some(_)) => {}
        Ok(None) => srv.add_key(c.db, key, Value::Hash(HashValue::new())),
    }
    srv.dbs[c.db]
        .dict
        .get_mut(key)
        .and_then(|o| o.val.as_hash_mut())
}

fn set_fields(srv: &mut Server, c: &mut Client, args: &[&[u8]], name: &str) -> Option<usize> {
    if !args.len().is_multiple_of(2) {
        c.out
            .error(&format!("wrong number of arguments for '{name}' command"));
        return None;
    }
    let lim = limits(srv);
    let hasher = srv.hasher.clone();
    let h = hash_or_create(srv, c, args[1])?;
    h.convert_for_lengths(args[2..].iter().map(|a| a.len()), lim, &hasher);
    let mut created = 0;
    for pair in args[2..].chunks(2) {
        if h.set(pair[0], pair[1], lim, &hasher) {
            created += 1;
        }
    }
    srv.notify(notify::HASH, "hset", args[1], c.db);
    srv.dirty += (args.len() / 2 - 1) as u64;
    Some(created)
}

pub fn hset(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if let Some(n) = set_fields(srv, c, args, "hset") {
        c.out.int(n as i64);
    }
}

pub fn hmset(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if set_fields(srv, c, args, "hmset").is_some() {
        c.out.ok();
    }
}

pub fn hsetnx(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let lim = limits(srv);
    let hasher = srv.hasher.clone();
    let Some(h) = hash_or_create(srv, c, args[1]) else {
        return;
    };
    if h.contains(args[2]) {
        c.out.int(0);
        return;
    }
    h.convert_for_lengths([args[2].len(), args[3].len()].into_iter(), lim, &hasher);
    h.set(args[2], args[3], lim, &hasher);
    srv.notify(notify::HASH, "hset", args[1], c.db);
    srv.dirty += 1;
    c.out.int(1);
}

pub fn hget(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    match read_hash(srv, c, args[1]) {
        Err(_) => {}
        Ok(h) => match h.and_then(|h| h.get(args[2])) {
            Some(v) => c.out.bulk(&v),
            None => c.out.null(),
        },
    }
}

pub fn hmget(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if let Ok(h) = read_hash(srv, c, args[1]) {
        c.out.array(args.len() - 2);
        for f in &args[2..] {
            match h.and_then(|h| h.get(f)) {
                Some(v) => c.out.bulk(&v),
                None => c.out.null(),
            }
        }
    }
}

pub fn hdel(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let ev = (notify::HASH, "hdel");
    super::remove_members(
        srv,
        c,
        args,
        Value::as_hash_mut,
        HashValue::remove,
        HashValue::len,
        ev,
    )
}

pub fn hlen(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if let Ok(h) = read_hash(srv, c, args[1]) {
        c.out.int(h.map_or(0, |h| h.len()) as i64);
    }
}

pub fn hstrlen(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if let Ok(h) = read_hash(srv, c, args[1]) {
        c.out
            .int(h.and_then(|h| h.get(args[2])).map_or(0, |v| v.len()) as i64);
    }
}

pub fn hexists(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if let Ok(h) = read_hash(srv, c, args[1]) {
        c.out.int(i64::from(h.is_some_and(|h| h.contains(args[2]))));
    }
}

#[derive(Clone, Copy, PartialEq)]
enum What {
    Keys,
    Vals,
    Both,
}

fn get_all(srv: &mut Server, c: &mut Client, args: &[&[u8]], what: What) {
    let Ok(h) = read_hash(srv, c, args[1]) else {
        return;
    };
    let n = h.map_or(0, |h| h.len());
    if what == What::Both {
        c.out.map(n);
    } else {
        c.out.array(n);
    }
    if let Some(h) = h {
        let out = &mut c.out;
        h.for_each(|k, v| {
            if what != What::Vals {
                out.bulk(k);
            }
            if what != What::Keys {
                out.bulk(v);
            }
        });
    }
}

pub fn hkeys(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    get_all(srv, c, args, What::Keys)
}
pub fn hvals(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    get_all(srv, c, args, What::Vals)
}
pub fn hgetall(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    get_all(srv, c, args, What::Both)
}

pub fn hincrby(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some(incr) = arg_i64(c, args[3], NOT_INT) else {
        return;
    };
    let lim = limits(srv);
    let hasher = srv.hasher.clone();
    let Some(h) = hash_or_create(srv, c, args[1]) else {
        return;
    };
    let cur = match h.get(args[2]) {
        None => 0,
        Some(v) => match crate::resp::parse_i64(&v) {
            Some(n) => n,
            None => {
                c.out.error("hash value is not an integer");
                return;
            }
        },
    };
    let Some(new) = cur.checked_add(incr) else {
        c.out.error(super::OVERFLOW);
        return;
    };
    let s = new.to_string();
    h.convert_for_lengths([args[2].len()].into_iter(), lim, &hasher);
    h.set(args[2], s.as_bytes(), lim, &hasher);
    srv.notify(notify::HASH, "hincrby", args[1], c.db);
    srv.dirty += 1;
    c.out.int(new);
}

pub fn hincrbyfloat(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    match super::parse_f64(args[3]) {
        Some(v) if v.is_infinite() => {
            c.out.error("value is NaN or Infinity");
            return;
        }
        _ => {}
    }
    if crate::cmd::strings::long_double_incr(None, args[3]).is_not_float_incr() {
        c.out.error(super::NOT_FLOAT);
        return;
    }
    let lim = limits(srv);
    let hasher = srv.hasher.clone();
    let Some(h) = hash_or_create(srv, c, args[1]) else {
        return;
    };
    let cur = h.get(args[2]);
    use crate::cmd::strings::LdIncr;
    let new = match crate::cmd::strings::long_double_incr(cur.as_deref(), args[3]) {
        LdIncr::Ok(v) => v,
        LdIncr::NotFloatValue => {
            c.out.error("hash value is not a float");
            return;
        }
        LdIncr::NotFloatIncr => {
            c.out.error(super::NOT_FLOAT);
            return;
        }
        LdIncr::NanOrInf => {
            c.out.error("increment would produce NaN or Infinity");
            return;
        }
    };
    h.convert_for_lengths([args[2].len(), new.len()].into_iter(), lim, &hasher);
    h.set(args[2], &new, lim, &hasher);
    srv.notify(notify::HASH, "hincrbyfloat", args[1], c.db);
    srv.dirty += 1;
    c.out.bulk(&new);
    c.rewritten_argv = Some(vec![
        b"HSET".to_vec(),
        args[1].to_vec(),
        args[2].to_vec(),
        new,
    ]);
}

pub fn hrandfield(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let mut withvalues = false;
    let count = if args.len() >= 3 {
        let Some(n) = arg_i64(c, args[2], NOT_INT) else {
            return;
        };
        if args.len() == 4 {
            if super::eq_ic(args[3], "withvalues") {
                withvalues = true;
            } else {
                c.out.error(super::SYNTAX);
                return;
            }
        } else if args.len() > 4 {
            c.out.error(super::SYNTAX);
            return;
        }
        Some(n)
    } else {
        None
    };
    let mut rng = srv.rng.clone();
    let h = match read_hash(srv, c, args[1]) {
        Err(_) => return,
        Ok(h) => h,
    };
    let Some(count) = count else {
        match h {
            None => c.out.null(),
            Some(h) => {
                let pairs = pairs_of(h);
                let i = rng.below(pairs.len() as u64) as usize;
                c.out.bulk(&pairs[i].0);
            }
        }
        srv.rng = rng;
        return;
    };
    if count == i64::MIN
        || (count < 0 && withvalues && count.unsigned_abs() > (i64::MAX / 2) as u64)
    {
        c.out.error("value is out of range");
        return;
    }
    let Some(h) = h else {
        c.out.array(0);
        return;
    };
    let pairs = pairs_of(h);
    let resp3 = c.out.resp3();
    let per_item = if withvalues && !resp3 { 2 } else { 1 };
    super::sets::reply_random_sample(c, &mut rng, pairs.len(), count, per_item, |o, i| {
        let (k, v) = &pairs[i];
        if withvalues && resp3 {
            o.array(2);
        }
        o.bulk(k);
        if withvalues {
            o.bulk(v);
        }
    });
    srv.rng = rng;
}

fn pairs_of(h: &HashValue) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut v = Vec::with_capacity(h.len());
    h.for_each(|k, val| v.push((k.to_vec(), val.to_vec())));
    v
}

pub fn hscan(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some(cursor) = super::keys::parse_cursor(c, args[2]) else {
        return;
    };
    let h = match read_hash(srv, c, args[1]) {
        Err(_) => return,
        Ok(h) => h,
    };
    if h.is_none() {
        super::keys::reply_scan(c, 0, &[]);
        return;
    }
    let Some(opts) = super::keys::parse_scan_opts(c, args, 3, false) else {
        return;
    };
    let mut items: Vec<Vec<u8>> = Vec::new();
    let mut next = 0;
    match h {
        None => {}
        Some(HashValue::Listpack(_)) => {
            let h = h.expect("matched");
            h.for_each(|k, v| {
                items.push(k.to_vec());
                items.push(v.to_vec());
            });
        }
        Some(HashValue::Table(d)) => {
            let mut cur = cursor;
            let mut max_iter = opts.count.saturating_mul(10);
            loop {
                cur = d.scan(cur, |k, v| {
                    items.push(k.to_vec());
                    items.push(v.to_vec());
                });
                max_iter -= 1;
                if cur == 0 || max_iter == 0 || items.len() / 2 >= opts.count {
                    break;
                }
            }
            next = cur;
        }
    }
    if let Some(p) = opts.pattern {
        let mut kept = Vec::with_capacity(items.len());
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            if crate::config::glob_match(p, &k, false) {
                kept.push(k);
                kept.push(v);
            }
        }
        items = kept;
    }
    super::keys::reply_scan(c, next, &items);
}
