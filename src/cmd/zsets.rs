//! Sorted set commands.

use super::{
    NOT_FLOAT, NOT_INT, SYNTAX, arg_i64, arg_positive, eq_ic, parse_f64, read_typed, write_typed,
};
use crate::config::P;
use crate::net::client::Client;
use crate::server::Server;
use crate::server::notify;
use crate::types::Value;
use crate::types::skiplist::{LexBound, LexRange, ScoreRange};
use crate::types::zset::{ZsetLimits, ZsetValue};

/// Members with their scores, in order.
type Scored = Vec<(Vec<u8>, f64)>;

fn limits(srv: &Server) -> ZsetLimits {
    ZsetLimits {
        max_entries: srv.cfg.int(P::ZsetMaxListpackEntries) as usize,
        max_value: srv.cfg.int(P::ZsetMaxListpackValue) as usize,
    }
}

pub(crate) fn read_zset<'a>(
    srv: &'a mut Server,
    c: &mut Client,
    key: &[u8],
) -> Result<Option<&'a ZsetValue>, super::Replied> {
    read_typed(srv, c, key, Value::as_zset)
}

/// Parse a score bound: "(1.5" exclusive, "inf", "-inf".
fn parse_score_bound(a: &[u8]) -> Option<(f64, bool)> {
    let (ex, rest) = match a.first() {
        Some(b'(') => (true, &a[1..]),
        _ => (false, a),
    };
    let v = parse_f64(rest)?;
    Some((v, ex))
}

pub fn parse_score_range(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
    let (min, minex) = parse_score_bound(min)?;
    let (max, maxex) = parse_score_bound(max)?;
    Some(ScoreRange {
        min,
        max,
        minex,
        maxex,
    })
}

fn parse_lex_bound(a: &[u8]) -> Option<LexBound> {
    match a.first() {
        Some(b'+') if a.len() == 1 => Some(LexBound::PlusInf),
        Some(b'-') if a.len() == 1 => Some(LexBound::MinusInf),
        Some(b'[') => Some(LexBound::Incl(a[1..].to_vec())),
        Some(b'(') => Some(LexBound::Excl(a[1..].to_vec())),
        _ => None,
    }
}

pub fn parse_lex_range(min: &[u8], max: &[u8]) -> Option<LexRange> {
    Some(LexRange {
        min: parse_lex_bound(min)?,
        max: parse_lex_bound(max)?,
    })
}

/// Reply members (with scores when asked) in RESP2 flat or RESP3 pairs form.
fn reply_members(c: &mut Client, items: &[(Vec<u8>, f64)], withscores: bool) {
    if withscores && c.out.resp3() {
        c.out.array(items.len());
        for (m, s) in items {
            c.out.array(2);
            c.out.bulk(m);
            c.out.double(*s);
        }
    } else if withscores {
        c.out.array(items.len() * 2);
        for (m, s) in items {
            c.out.bulk(m);
            c.out.double(*s);
        }
    } else {
        c.out.array(items.len());
        for (m, _) in items {
            c.out.bulk(m);
        }
    }
}

#[derive(Default)]
struct ZaddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// The outcome of adding one member (Redis's zsetAdd).
enum AddOutcome {
    Added(f64),
    Updated(f64),
    Unchanged(f64),
    Skipped,
    Nan,
}

fn zset_add(
    z: &mut ZsetValue,
    m: &[u8],
    score: f64,
    f: &ZaddFlags,
    lim: ZsetLimits,
    hasher: &crate::db::KeyHasher,
) -> AddOutcome {
    let mut outcome = AddOutcome::Skipped;
    let existed = z
        .modify(m, |cur| {
            if f.nx {
                return None;
            }
            let new = if f.incr { score + cur } else { score };
            if new.is_nan() {
                outcome = AddOutcome::Nan;
                return None;
            }
            if (f.gt && new <= cur) || (f.lt && new >= cur) {
                return None;
            }
            outcome = if new != cur {
                AddOutcome::Updated(new)
            } else {
                AddOutcome::Unchanged(new)
            };
            Some(new)
        })
        .is_some();
    if existed {
        return outcome;
    }
    if f.xx {
        return AddOutcome::Skipped;
    }
    z.insert(m, score, lim, hasher);
    AddOutcome::Added(score)
}

fn zadd_generic(srv: &mut Server, c: &mut Client, args: &[&[u8]], mut f: ZaddFlags) {
    let key = args[1];
    let mut i = 2;
    while i < args.len() {
        let a = args[i];
        if eq_ic(a, "nx") {
            f.nx = true;
        } else if eq_ic(a, "xx") {
            f.xx = true;
        } else if eq_ic(a, "gt") {
            f.gt = true;
        } else if eq_ic(a, "lt") {
            f.lt = true;
        } else if eq_ic(a, "ch") {
            f.ch = true;
        } else if eq_ic(a, "incr") {
            f.incr = true;
        } else {
            break;
        }
        i += 1;
    }
    let rest = &args[i..];
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        c.out.error(SYNTAX);
        return;
    }
    if f.nx && f.xx {
        c.out
            .error("XX and NX options at the same time are not compatible");
        return;
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        c.out
            .error("GT, LT, and/or NX options at the same time are not compatible");
        return;
    }
    if f.incr && rest.len() > 2 {
        c.out
            .error("INCR option supports a single increment-element pair");
        return;
    }
    let mut scores = Vec::with_capacity(rest.len() / 2);
    for pair in rest.chunks(2) {
        match parse_f64(pair[0]) {
            Some(s) => scores.push(s),
            None => {
                c.out.error(NOT_FLOAT);
                return;
            }
        }
    }
    let lim = limits(srv);
    let hasher = srv.hasher.clone();
    match write_typed(srv, c, key, Value::as_zset_mut) {
        Err(_) => return,
        Ok(Some(_)) => {}
        Ok(None) => {
            if f.xx {
                if f.incr {
                    c.out.null();
                } else {
                    c.out.int(0);
                }
                return;
            }
            let z = if lim.max_entries == 0 || lim.max_value < rest[1].len() {
                ZsetValue::new_skiplist(&hasher)
            } else {
                ZsetValue::new_listpack()
            };
            srv.add_key(c.db, key, Value::Zset(z));
        }
    }
    let z = srv.dbs[c.db]
        .dict
        .get_mut(key)
        .and_then(|o| o.val.as_zset_mut())
        .expect("zset exists");
    let (mut added, mut updated, mut processed) = (0u64, 0u64, 0u64);
    let mut last = None;
    for (pair, score) in rest.chunks(2).zip(scores) {
        match zset_add(z, pair[1], score, &f, lim, &hasher) {
            AddOutcome::Added(s) => {
                added += 1;
                processed += 1;
                last = Some(s);
            }
            AddOutcome::Updated(s) => {
                updated += 1;
                processed += 1;
                last = Some(s);
            }
            AddOutcome::Unchanged(s) => {
                processed += 1;
                last = Some(s);
            }
            AddOutcome::Skipped => {}
            AddOutcome::Nan => {
                c.out.error("resulting score is not a number (NaN)");
                srv.delete_if_empty(c.db, key);
                return;
            }
        }
    }
    let _ = processed;
    if added + updated > 0 {
        srv.notify(
            notify::ZSET,
            if f.incr { "zincr" } else { "zadd" },
            key,
            c.db,
        );
        srv.dirty += added + updated;
    }
    srv.delete_if_empty(c.db, key);
    if f.incr {
        match last {
            Some(s) => c.out.double(s),
            None => c.out.null(),
        }
    } else {
        c.out.int((added + if f.ch { updated } else { 0 }) as i64);
    }
}

pub fn zadd(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    zadd_generic(srv, c, args, ZaddFlags::default())
}

pub fn zincrby(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    // ZINCRBY key incr member = ZADD key INCR incr member.
    zadd_generic(
        srv,
        c,
        args,
        ZaddFlags {
            incr: true,
            ..Default::default()
        },
    )
}

pub fn zrem(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let ev = (notify::ZSET, "zrem");
    super::remove_members(
        srv,
        c,
        args,
        Value::as_zset_mut,
        ZsetValue::remove,
        ZsetValue::len,
        ev,
    )
}

pub fn zcard(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if let Ok(z) = read_zset(srv, c, args[1]) {
        c.out.int(z.map_or(0, |z| z.len()) as i64);
    }
}

pub fn zscore(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if let Ok(z) = read_zset(srv, c, args[1]) {
        match z.and_then(|z| z.score(args[2])) {
            Some(s) => c.out.double(s),
            None => c.out.null(),
        }
    }
}

pub fn zmscore(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if let Ok(z) = read_zset(srv, c, args[1]) {
        c.out.array(args.len() - 2);
        for m in &args[2..] {
            match z.and_then(|z| z.score(m)) {
                Some(s) => c.out.double(s),
                None => c.out.null(),
            }
        }
    }
}

pub fn zcount(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some(r) = parse_score_range(args[2], args[3]) else {
        c.out.error("min or max is not a float");
        return;
    };
    if let Ok(z) = read_zset(srv, c, args[1]) {
        let n = z
            .and_then(|z| z.score_span(&r))
            .map_or(0, |(a, b)| b - a + 1);
        c.out.int(n as i64);
    }
}

pub fn zlexcount(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some(r) = parse_lex_range(args[2], args[3]) else {
        c.out.error("min or max not valid string range item");
        return;
    };
    if let Ok(z) = read_zset(srv, c, args[1]) {
        let n = z.and_then(|z| z.lex_span(&r)).map_or(0, |(a, b)| b - a + 1);
        c.out.int(n as i64);
    }
}

#[derive(Clone, Copy, PartialEq)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

/// A parsed ZRANGE request.
struct RangeSpec<'a> {
    rt: RangeType,
    rev: bool,
    start: i64,
    end: i64,
    score: Option<&'a ScoreRange>,
    lex: Option<&'a LexRange>,
    offset: i64,
    limit: i64,
}

/// Members selected by a range over `z`, in reply order.
fn select_range(z: &ZsetValue, spec: &RangeSpec<'_>) -> Scored {
    let RangeSpec {
        rt,
        rev,
        start,
        end,
        score,
        lex,
        offset,
        limit,
    } = *spec;
    let n = z.len();
    let mut out = Vec::new();
    match rt {
        RangeType::Rank | RangeType::Auto => {
            let Some((s, e)) = super::clamp_range(start, end, n) else {
                return out;
            };
            let len = e - s + 1;
            let from = if rev { n - 1 - s } else { s };
            z.walk(from, rev, |m, sc| {
                out.push((m.to_vec(), sc));
                out.len() < len
            });
        }
        RangeType::Score | RangeType::Lex => {
            if offset < 0 {
                return out;
            }
            let span = match rt {
                RangeType::Score => z.score_span(score.expect("score range")),
                _ => z.lex_span(lex.expect("lex range")),
            };
            let Some((a, b)) = span else {
                return out;
            };
            let count = b - a + 1;
            let offset = offset as usize;
            if offset >= count {
                return out;
            }
            let take = if limit < 0 {
                count - offset
            } else {
                (limit as usize).min(count - offset)
            };
            if take == 0 {
                return out;
            }
            let from = if rev { b - offset } else { a + offset };
            z.walk(from, rev, |m, sc| {
                out.push((m.to_vec(), sc));
                out.len() < take
            });
        }
    }
    out
}

/// ZRANGE and its older forms; `store` is the destination for ZRANGESTORE.
fn zrange_generic(
    srv: &mut Server,
    c: &mut Client,
    args: &[&[u8]],
    at: usize,
    store: Option<&[u8]>,
    mut rt: RangeType,
    mut rev: Option<bool>,
) {
    let key = args[at];
    let mut minidx = at + 1;
    let mut maxidx = at + 2;
    let mut withscores = false;
    let mut offset: i64 = 0;
    let mut limit: i64 = -1;
    let mut j = at + 3;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = args[j];
        if store.is_none() && eq_ic(a, "withscores") {
            withscores = true;
        } else if eq_ic(a, "limit") && left >= 2 {
            let Some(o) = arg_i64(c, args[j + 1], NOT_INT) else {
                return;
            };
            let Some(l) = arg_i64(c, args[j + 2], NOT_INT) else {
                return;
            };
            offset = o;
            limit = l;
            j += 2;
        } else if rev.is_none() && eq_ic(a, "rev") {
            rev = Some(true);
        } else if rt == RangeType::Auto && eq_ic(a, "bylex") {
            rt = RangeType::Lex;
        } else if rt == RangeType::Auto && eq_ic(a, "byscore") {
            rt = RangeType::Score;
        } else {
            c.out.error(SYNTAX);
            return;
        }
        j += 1;
    }
    let rev = rev.unwrap_or(false);
    if rt == RangeType::Auto {
        rt = RangeType::Rank;
    }
    if limit != -1 && rt == RangeType::Rank {
        c.out.error(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
        return;
    }
    if withscores && rt == RangeType::Lex {
        c.out
            .error("syntax error, WITHSCORES not supported in combination with BYLEX");
        return;
    }
    if rev && rt != RangeType::Rank {
        std::mem::swap(&mut minidx, &mut maxidx);
    }
    let (mut start, mut end) = (0, 0);
    let mut score = None;
    let mut lex = None;
    match rt {
        RangeType::Rank | RangeType::Auto => {
            let Some(s) = arg_i64(c, args[minidx], NOT_INT) else {
                return;
            };
            let Some(e) = arg_i64(c, args[maxidx], NOT_INT) else {
                return;
            };
            start = s;
            end = e;
        }
        RangeType::Score => match parse_score_range(args[minidx], args[maxidx]) {
            Some(r) => score = Some(r),
            None => {
                c.out.error("min or max is not a float");
                return;
            }
        },
        RangeType::Lex => match parse_lex_range(args[minidx], args[maxidx]) {
            Some(r) => lex = Some(r),
            None => {
                c.out.error("min or max not valid string range item");
                return;
            }
        },
    }
    let items = match read_zset(srv, c, key) {
        Err(_) => return,
        Ok(None) => Vec::new(),
        Ok(Some(z)) => select_range(
            z,
            &RangeSpec {
                rt,
                rev,
                start,
                end,
                score: score.as_ref(),
                lex: lex.as_ref(),
                offset,
                limit,
            },
        ),
    };
    match store {
        None => reply_members(c, &items, withscores),
        Some(dst) => store_result(srv, c, dst, items, "zrangestore"),
    }
}

/// Store `items` as the sorted set `dst` (or delete it when empty) and reply the count.
pub(crate) fn store_result(
    srv: &mut Server,
    c: &mut Client,
    dst: &[u8],
    items: Vec<(Vec<u8>, f64)>,
    event: &str,
) {
    let n = items.len();
    if n == 0 {
        if srv.delete_key(c.db, dst) {
            srv.notify(notify::GENERIC, "del", dst, c.db);
            srv.dirty += 1;
        }
        c.out.int(0);
        return;
    }
    let lim = limits(srv);
    let maxlen = items.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
    let mut z = ZsetValue::with_hint(n, maxlen, lim, &srv.hasher);
    for (m, s) in &items {
        match z.score(m) {
            Some(old) => z.update(m, old, *s),
            None => z.insert(m, *s, lim, &srv.hasher),
        }
    }
    z.maybe_to_listpack(lim);
    srv.set_key(c.db, dst, Value::Zset(z), false);
    srv.notify(notify::ZSET, event, dst, c.db);
    srv.dirty += 1;
    c.out.int(n as i64);
}

pub fn zrange(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    zrange_generic(srv, c, args, 1, None, RangeType::Auto, None)
}
pub fn zrangestore(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    zrange_generic(srv, c, args, 2, Some(args[1]), RangeType::Auto, None)
}
pub fn zrangebyscore(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    zrange_generic(srv, c, args, 1, None, RangeType::Score, Some(false))
}
pub fn zrevrangebyscore(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    zrange_generic(srv, c, args, 1, None, RangeType::Score, Some(true))
}
pub fn zrangebylex(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    zrange_generic(srv, c, args, 1, None, RangeType::Lex, Some(false))
}
pub fn zrevrangebylex(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    zrange_generic(srv, c, args, 1, None, RangeType::Lex, Some(true))
}
pub fn zrevrange(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    zrange_generic(srv, c, args, 1, None, RangeType::Rank, Some(true))
}

fn rank_generic(srv: &mut Server, c: &mut Client, args: &[&[u8]], rev: bool) {
    if let Ok(z) = read_zset(srv, c, args[1]) {
        match z.and_then(|z| z.rank(args[2], rev)) {
            Some(r) => c.out.int(r as i64),
            None => c.out.null(),
        }
    }
}

pub fn zrank(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    rank_generic(srv, c, args, false)
}
pub fn zrevrank(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    rank_generic(srv, c, args, true)
}

fn zremrange_generic(srv: &mut Server, c: &mut Client, args: &[&[u8]], rt: RangeType) {
    let key = args[1];
    let (mut start, mut end) = (0, 0);
    let mut score = None;
    let mut lex = None;
    match rt {
        RangeType::Score => match parse_score_range(args[2], args[3]) {
            Some(r) => score = Some(r),
            None => {
                c.out.error("min or max is not a float");
                return;
            }
        },
        RangeType::Lex => match parse_lex_range(args[2], args[3]) {
            Some(r) => lex = Some(r),
            None => {
                c.out.error("min or max not valid string range item");
                return;
            }
        },
        _ => {
            let Some(s) = arg_i64(c, args[2], NOT_INT) else {
                return;
            };
            let Some(e) = arg_i64(c, args[3], NOT_INT) else {
                return;
            };
            start = s;
            end = e;
        }
    }
    let removed = match write_typed(srv, c, key, Value::as_zset_mut) {
        Err(_) => return,
        Ok(None) => 0,
        Ok(Some(z)) => {
            let span = match rt {
                RangeType::Score => z.score_span(score.as_ref().expect("parsed")),
                RangeType::Lex => z.lex_span(lex.as_ref().expect("parsed")),
                _ => super::clamp_range(start, end, z.len()),
            };
            match span {
                Some((a, b)) => z.remove_rank_range(a, b),
                None => 0,
            }
        }
    };
    if removed > 0 {
        let ev = match rt {
            RangeType::Score => "zremrangebyscore",
            RangeType::Lex => "zremrangebylex",
            _ => "zremrangebyrank",
        };
        srv.notify(notify::ZSET, ev, key, c.db);
        srv.delete_if_empty(c.db, key);
        srv.dirty += removed as u64;
    }
    c.out.int(removed as i64);
}

pub fn zremrangebyrank(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    zremrange_generic(srv, c, args, RangeType::Rank)
}
pub fn zremrangebyscore(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    zremrange_generic(srv, c, args, RangeType::Score)
}
pub fn zremrangebylex(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    zremrange_generic(srv, c, args, RangeType::Lex)
}

/// Pop up to `count` members from the min or max end of an existing set (events, deletion).
fn pop_members(
    srv: &mut Server,
    db: usize,
    key: &[u8],
    max: bool,
    count: usize,
) -> Vec<(Vec<u8>, f64)> {
    let Some(z) = srv.dbs[db]
        .dict
        .get_mut(key)
        .and_then(|o| o.val.as_zset_mut())
    else {
        return Vec::new();
    };
    let n = z.len();
    let take = count.min(n);
    let mut out = Vec::with_capacity(take);
    if take > 0 {
        let from = if max { n - 1 } else { 0 };
        z.walk(from, max, |m, s| {
            out.push((m.to_vec(), s));
            out.len() < take
        });
        if max {
            z.remove_rank_range(n - take, n - 1);
        } else {
            z.remove_rank_range(0, take - 1);
        }
        srv.dirty += take as u64;
        srv.notify(
            notify::ZSET,
            if max { "zpopmax" } else { "zpopmin" },
            key,
            db,
        );
        srv.delete_if_empty(db, key);
    }
    out
}

fn zpop_generic(srv: &mut Server, c: &mut Client, args: &[&[u8]], max: bool) {
    if args.len() > 3 {
        c.out.error(SYNTAX);
        return;
    }
    let count = match args.get(2) {
        Some(a) => match arg_positive(c, a) {
            Some(n) => Some(n as usize),
            None => return,
        },
        None => None,
    };
    match read_zset(srv, c, args[1]) {
        Err(_) => return,
        Ok(None) => {
            c.out.array(0);
            return;
        }
        Ok(Some(_)) => {}
    }
    if count == Some(0) {
        c.out.array(0);
        return;
    }
    let items = pop_members(srv, c.db, args[1], max, count.unwrap_or(1));
    let nested = c.out.resp3() && count.is_some();
    if nested {
        reply_members(c, &items, true);
    } else {
        c.out.array(items.len() * 2);
        for (m, s) in &items {
            c.out.bulk(m);
            c.out.double(*s);
        }
    }
}

pub fn zpopmin(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    zpop_generic(srv, c, args, false)
}
pub fn zpopmax(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    zpop_generic(srv, c, args, true)
}

/// BZPOPMIN/BZPOPMAX (count None: flat [key, member, score]) and [B]ZMPOP (nested).
fn bzpop_generic(
    srv: &mut Server,
    c: &mut Client,
    args: &[&[u8]],
    keys: &[&[u8]],
    max: bool,
    count: Option<usize>,
    deadline: Option<Option<i64>>,
) {
    for key in keys {
        match read_zset(srv, c, key) {
            Err(_) => return,
            Ok(Some(z)) if !z.is_empty() => {
                let n = z.len();
                let items = pop_members(srv, c.db, key, max, count.unwrap_or(1));
                let name: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
                match count {
                    None => {
                        c.out.array(3);
                        c.out.bulk(key);
                        c.out.bulk(&items[0].0);
                        c.out.double(items[0].1);
                        c.rewritten_argv = Some(vec![name.to_vec(), key.to_vec()]);
                    }
                    Some(k) => {
                        c.out.array(2);
                        c.out.bulk(key);
                        c.out.array(items.len());
                        for (m, s) in &items {
                            c.out.array(2);
                            c.out.bulk(m);
                            c.out.double(*s);
                        }
                        c.rewritten_argv = Some(vec![
                            name.to_vec(),
                            key.to_vec(),
                            k.min(n).to_string().into_bytes(),
                        ]);
                    }
                }
                return;
            }
            Ok(_) => {}
        }
    }
    match deadline {
        Some(d) if srv.may_block() => {
            let def = c.last_cmd.expect("running command");
            srv.block_client(c, keys, d, def, args);
        }
        _ => c.out.null_array(),
    }
}

fn bzpop_cmd(srv: &mut Server, c: &mut Client, args: &[&[u8]], max: bool) {
    let Some(d) = super::arg_timeout(srv, c, args[args.len() - 1]) else {
        return;
    };
    bzpop_generic(srv, c, args, &args[1..args.len() - 1], max, None, Some(d))
}

pub fn bzpopmin(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    bzpop_cmd(srv, c, args, false)
}
pub fn bzpopmax(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    bzpop_cmd(srv, c, args, true)
}

fn zmpop_generic(srv: &mut Server, c: &mut Client, args: &[&[u8]], blocking: bool) {
    let Some((deadline, keys, max, count)) =
        super::multi_pop_args(srv, c, args, blocking, ("min", "max"))
    else {
        return;
    };
    bzpop_generic(srv, c, args, &keys, max, Some(count), deadline)
}

pub fn zmpop(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    zmpop_generic(srv, c, args, false)
}
pub fn bzmpop(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    zmpop_generic(srv, c, args, true)
}

pub fn zrandmember(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let mut withscores = false;
    let count = if args.len() >= 3 {
        let Some(n) = arg_i64(c, args[2], NOT_INT) else {
            return;
        };
        if args.len() == 4 && eq_ic(args[3], "withscores") {
            withscores = true;
        } else if args.len() >= 4 {
            c.out.error(SYNTAX);
            return;
        }
        Some(n)
    } else {
        None
    };
    if let Some(n) = count
        && n < 0
        && (n == i64::MIN || (withscores && n.unsigned_abs() > (i64::MAX / 2) as u64))
    {
        c.out.error("value is out of range");
        return;
    }
    let mut rng = srv.rng.clone();
    let z = match read_zset(srv, c, args[1]) {
        Err(_) => return,
        Ok(z) => z,
    };
    match (count, z) {
        (None, None) => c.out.null(),
        (None, Some(z)) => {
            let r = rng.below(z.len() as u64) as usize;
            let (m, _) = z.get_rank(r).expect("in range");
            c.out.bulk(&m);
        }
        (Some(_), None) => c.out.array(0),
        (Some(n), Some(z)) => {
            let mut all = Vec::with_capacity(z.len());
            z.for_each(|m, s| all.push((m.to_vec(), s)));
            let resp3 = c.out.resp3();
            let per_item = if withscores && !resp3 { 2 } else { 1 };
            super::sets::reply_random_sample(c, &mut rng, all.len(), n, per_item, |o, i| {
                let (m, s) = &all[i];
                if withscores && resp3 {
                    o.array(2);
                }
                o.bulk(m);
                if withscores {
                    o.double(*s);
                }
            });
        }
    }
    srv.rng = rng;
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq)]
enum Agg {
    Sum,
    Min,
    Max,
}

/// The members and scores of a set or sorted set input (a set's members score 1).
fn input_of(
    srv: &mut Server,
    c: &mut Client,
    key: &[u8],
) -> Result<Option<Scored>, super::Replied> {
    match srv.lookup_read(c.db, key) {
        None => Ok(None),
        Some(o) => match &o.val {
            Value::Zset(z) => {
                let mut v = Vec::with_capacity(z.len());
                z.for_each(|m, s| v.push((m.to_vec(), s)));
                Ok(Some(v))
            }
            Value::Set(s) => Ok(Some(s.members().into_iter().map(|m| (m, 1.0)).collect())),
            _ => {
                c.out.error(super::WRONGTYPE);
                Err(super::Replied)
            }
        },
    }
}

fn aggregate(agg: Agg, a: f64, b: f64) -> f64 {
    match agg {
        Agg::Sum => {
            let r = a + b;
            if r.is_nan() { 0.0 } else { r }
        }
        Agg::Min => a.min(b),
        Agg::Max => a.max(b),
    }
}

/// ZUNION/ZINTER/ZDIFF, their STORE forms and ZINTERCARD (`card`). `at` is the numkeys
/// argument. Inputs are looked up (and type-checked) before the options are parsed, as Redis
/// does.
fn zsetop(
    srv: &mut Server,
    c: &mut Client,
    args: &[&[u8]],
    at: usize,
    dst: Option<&[u8]>,
    op: Op,
    card: bool,
) {
    let Some(n) = arg_i64(c, args[at], NOT_INT) else {
        return;
    };
    if n < 1 {
        let name = c.last_cmd.map_or_else(String::new, |d| d.full_name());
        c.out.error(&format!(
            "at least 1 input key is needed for '{name}' command"
        ));
        return;
    }
    if n > (args.len() - at - 1) as i64 {
        c.out.error(SYNTAX);
        return;
    }
    let n = n as usize;
    let keys = &args[at + 1..at + 1 + n];
    let mut inputs = Vec::with_capacity(n);
    for k in keys {
        match input_of(srv, c, k) {
            Err(_) => return,
            Ok(v) => inputs.push(v),
        }
    }
    let mut weights = vec![1.0f64; n];
    let mut agg = Agg::Sum;
    let mut withscores = false;
    let mut limit = 0usize;
    let mut j = at + 1 + n;
    while j < args.len() {
        let remaining = args.len() - j;
        if op != Op::Diff && !card && remaining > n && eq_ic(args[j], "weights") {
            for (w, a) in weights.iter_mut().zip(&args[j + 1..j + 1 + n]) {
                match parse_f64(a) {
                    Some(v) => *w = v,
                    None => {
                        c.out.error("weight value is not a float");
                        return;
                    }
                }
            }
            j += n + 1;
        } else if op != Op::Diff && !card && remaining >= 2 && eq_ic(args[j], "aggregate") {
            let a = args[j + 1];
            agg = if eq_ic(a, "sum") {
                Agg::Sum
            } else if eq_ic(a, "min") {
                Agg::Min
            } else if eq_ic(a, "max") {
                Agg::Max
            } else {
                c.out.error(SYNTAX);
                return;
            };
            j += 2;
        } else if dst.is_none() && !card && eq_ic(args[j], "withscores") {
            withscores = true;
            j += 1;
        } else if card && remaining >= 2 && eq_ic(args[j], "limit") {
            match crate::resp::parse_i64(args[j + 1]) {
                Some(l) if l >= 0 => limit = l as usize,
                _ => {
                    c.out.error("LIMIT can't be negative");
                    return;
                }
            }
            j += 2;
        } else {
            c.out.error(SYNTAX);
            return;
        }
    }
    let result = combine(op, agg, &inputs, &weights);
    if card {
        let k = result.len();
        c.out.int(if limit > 0 { k.min(limit) } else { k } as i64);
        return;
    }
    match dst {
        Some(d) => {
            let event = match op {
                Op::Union => "zunionstore",
                Op::Inter => "zinterstore",
                Op::Diff => "zdiffstore",
            };
            store_result(srv, c, d, result, event)
        }
        None => reply_members(c, &result, withscores),
    }
}

/// Combine inputs; the result is sorted by score then member, as a sorted set would hold it.
fn combine(op: Op, agg: Agg, inputs: &[Option<Scored>], weights: &[f64]) -> Vec<(Vec<u8>, f64)> {
    use std::collections::HashMap;
    let weighted = |s: f64, w: f64| {
        let r = s * w;
        if r.is_nan() { 0.0 } else { r }
    };
    let mut out: Vec<(Vec<u8>, f64)> = Vec::new();
    match op {
        Op::Union => {
            let mut acc: HashMap<Vec<u8>, f64> = HashMap::new();
            let mut order = Vec::new();
            for (inp, w) in inputs.iter().zip(weights) {
                for (m, s) in inp.iter().flatten() {
                    let v = weighted(*s, *w);
                    match acc.get_mut(m) {
                        Some(cur) => *cur = aggregate(agg, *cur, v),
                        None => {
                            acc.insert(m.clone(), v);
                            order.push(m.clone());
                        }
                    }
                }
            }
            out = order
                .into_iter()
                .map(|m| {
                    let s = acc[&m];
                    (m, s)
                })
                .collect();
        }
        Op::Inter => {
            if inputs.iter().any(|i| i.is_none()) {
                return out;
            }
            let maps: Vec<HashMap<&[u8], f64>> = inputs
                .iter()
                .map(|i| {
                    i.as_ref()
                        .expect("checked")
                        .iter()
                        .map(|(m, s)| (m.as_slice(), *s))
                        .collect()
                })
                .collect();
            let (first, fw) = (inputs[0].as_ref().expect("checked"), weights[0]);
            for (m, s) in first {
                let mut v = weighted(*s, fw);
                let mut all = true;
                for (k, map) in maps.iter().enumerate().skip(1) {
                    match map.get(m.as_slice()) {
                        Some(x) => v = aggregate(agg, v, weighted(*x, weights[k])),
                        None => {
                            all = false;
                            break;
                        }
                    }
                }
                if all {
                    out.push((m.clone(), v));
                }
            }
        }
        Op::Diff => {
            let Some(first) = &inputs[0] else {
                return out;
            };
            let others: Vec<std::collections::HashSet<&[u8]>> = inputs[1..]
                .iter()
                .flatten()
                .map(|i| i.iter().map(|(m, _)| m.as_slice()).collect())
                .collect();
            for (m, s) in first {
                if !others.iter().any(|o| o.contains(m.as_slice())) {
                    out.push((m.clone(), *s));
                }
            }
        }
    }
    // Scores compare as numbers (-0 equals 0), ties by member, as in a sorted set.
    out.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    out
}

pub fn zunion(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    zsetop(srv, c, args, 1, None, Op::Union, false)
}
pub fn zinter(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    zsetop(srv, c, args, 1, None, Op::Inter, false)
}
pub fn zdiff(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    zsetop(srv, c, args, 1, None, Op::Diff, false)
}
pub fn zunionstore(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    zsetop(srv, c, args, 2, Some(args[1]), Op::Union, false)
}
pub fn zinterstore(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    zsetop(srv, c, args, 2, Some(args[1]), Op::Inter, false)
}
pub fn zdiffstore(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    zsetop(srv, c, args, 2, Some(args[1]), Op::Diff, false)
}
pub fn zintercard(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    zsetop(srv, c, args, 1, None, Op::Inter, true)
}

pub fn zscan(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some(cursor) = super::keys::parse_cursor(c, args[2]) else {
        return;
    };
    let z = match read_zset(srv, c, args[1]) {
        Err(_) => return,
        Ok(z) => z,
    };
    if z.is_none() {
        super::keys::reply_scan(c, 0, &[]);
        return;
    }
    let Some(opts) = super::keys::parse_scan_opts(c, args, 3, false) else {
        return;
    };
    let mut pairs: Vec<(Vec<u8>, f64)> = Vec::new();
    let mut next = 0;
    match z {
        None => {}
        Some(ZsetValue::Listpack(_)) => z
            .expect("matched")
            .for_each(|m, s| pairs.push((m.to_vec(), s))),
        Some(ZsetValue::Skip(zs)) => {
            let mut cur = cursor;
            let mut max_iter = opts.count.saturating_mul(10);
            loop {
                cur = zs.dict.scan(cur, |k, s| pairs.push((k.to_vec(), *s)));
                max_iter -= 1;
                if cur == 0 || max_iter == 0 || pairs.len() >= opts.count {
                    break;
                }
            }
            next = cur;
        }
    }
    let mut items = Vec::with_capacity(pairs.len() * 2);
    for (m, s) in pairs {
        if opts
            .pattern
            .is_none_or(|p| crate::config::glob_match(p, &m, false))
        {
            items.push(m);
            items.push(crate::types::zset::d2string(s));
        }
    }
    super::keys::reply_scan(c, next, &items);
}
