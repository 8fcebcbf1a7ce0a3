//! Stream commands: XADD, XRANGE, XREVRANGE, XLEN, XDEL, XTRIM, XSETID, XREAD, XREADGROUP and
//! XINFO, with Redis 7.0's replies, errors and propagation (XADD with the ID it generated and
//! an approximate trim made exact; XREADGROUP as the XCLAIMs that recreate its pending
//! entries). The consumer group commands are in `stream_groups.rs`.

use super::{NOT_INT, SYNTAX, eq_ic};
use crate::config::P;
use crate::net::client::Client;
use crate::resp::parse_i64;
use crate::resp::writer::Out;
use crate::server::{Server, notify};
use crate::types::Value;
use crate::types::listpack::LpVal;
use crate::types::stream::{
    ENTRIES_READ_INVALID, Entry, IdSyntax, Nack, Node, NodeLimits, Stream, StreamId, Trim, TrimBy,
    parse_id,
};

pub const INVALID_ID: &str = "Invalid stream ID specified as stream command argument";
/// Entries a blocked XREAD without COUNT is served at most.
const BLOCKED_DEFAULT_COUNT: i64 = 1000;

const STRICT: IdSyntax = IdSyntax {
    missing_seq: 0,
    strict: true,
    allow_auto_seq: false,
};

/// A strict ID argument (no `-`/`+`), replying the error when invalid.
pub fn arg_id(c: &mut Client, a: &[u8]) -> Option<StreamId> {
    match parse_id(a, STRICT) {
        Some((id, _)) => Some(id),
        None => {
            c.out.error(INVALID_ID);
            None
        }
    }
}

/// A range bound: `-`, `+`, an ID or `<ms>` (completed with `missing_seq`), or `(`ID for an
/// exclusive bound (streamParseIntervalIDOrReply). Returns the ID and whether it excludes.
fn arg_interval(c: &mut Client, a: &[u8], missing_seq: u64) -> Option<(StreamId, bool)> {
    let exclusive = a.len() > 1 && a[0] == b'(';
    let how = IdSyntax {
        missing_seq,
        strict: exclusive,
        allow_auto_seq: false,
    };
    match parse_id(if exclusive { &a[1..] } else { a }, how) {
        Some((id, _)) => Some((id, exclusive)),
        None => {
            c.out.error(INVALID_ID);
            None
        }
    }
}

/// A range's start and end arguments as inclusive IDs, replying the error when invalid.
pub fn arg_range(c: &mut Client, start: &[u8], end: &[u8]) -> Option<(StreamId, StreamId)> {
    let (mut s, s_ex) = arg_interval(c, start, 0)?;
    if s_ex && !s.incr() {
        c.out.error("invalid start ID for the interval");
        return None;
    }
    let (mut e, e_ex) = arg_interval(c, end, u64::MAX)?;
    if e_ex && !e.decr() {
        c.out.error("invalid end ID for the interval");
        return None;
    }
    Some((s, e))
}

fn bulk_val(out: &mut Out, v: LpVal<'_>) {
    match v {
        LpVal::Str(s) => out.bulk(s),
        LpVal::Int(i) => out.bulk_i64(i),
    }
}

/// One entry as `[id, [field, value, ...]]`.
pub fn write_entry(out: &mut Out, node: &Node<'_>, e: &Entry) {
    out.array(2);
    out.bulk(&e.id.to_bytes());
    out.array(e.numfields * 2);
    node.for_each_field(e, |f, v| {
        bulk_val(out, f);
        bulk_val(out, v);
    });
}

/// Write the live entries from `start` to `end` (at most `count`, 0 = all) to `out` without an
/// array header; returns their IDs.
pub fn write_range(
    out: &mut Out,
    s: &Stream,
    start: StreamId,
    end: StreamId,
    count: usize,
    rev: bool,
) -> Vec<StreamId> {
    let mut ids = Vec::new();
    s.range(start, end, rev, |node, e| {
        write_entry(out, node, e);
        ids.push(e.id);
        count == 0 || ids.len() < count
    });
    ids
}

/// A buffer for the part of a reply whose length is known only afterwards, in the protocol
/// of `out`.
pub fn deferred(out: &Out) -> Out {
    let mut o = Out::new();
    o.resp = out.resp;
    o
}

/// Entries of one range as an array.
fn reply_range(
    c: &mut Client,
    s: &Stream,
    start: StreamId,
    end: StreamId,
    count: usize,
    rev: bool,
) {
    let mut body = deferred(&c.out);
    let ids = write_range(&mut body, s, start, end, count, rev);
    c.out.array(ids.len());
    c.out.raw(&body.buf);
}

/// The single entry `id` (for XCLAIM/XAUTOCLAIM); false when it is not live.
pub fn write_one(out: &mut Out, s: &Stream, id: StreamId) -> bool {
    !write_range(out, s, id, id, 1, false).is_empty()
}

fn node_limits(srv: &Server) -> NodeLimits {
    NodeLimits {
        max_bytes: srv.cfg.int(P::StreamNodeMaxBytes).max(0) as usize,
        max_entries: srv.cfg.int(P::StreamNodeMaxEntries),
    }
}

pub fn read_stream<'a>(
    srv: &'a mut Server,
    c: &mut Client,
    key: &[u8],
) -> Result<Option<&'a Stream>, super::Replied> {
    super::read_typed(srv, c, key, |v| v.as_stream().map(|b| &**b))
}

pub fn write_stream<'a>(
    srv: &'a mut Server,
    c: &mut Client,
    key: &[u8],
) -> Result<Option<&'a mut Stream>, super::Replied> {
    super::write_typed(srv, c, key, |v| v.as_stream_mut().map(|b| &mut **b))
}

/// Parsed XADD/XTRIM options (streamAddTrimArgs).
struct AddTrimArgs {
    id: Option<(StreamId, bool)>,
    no_mkstream: bool,
    trim: Option<Trim>,
    /// Index of the MAXLEN/MINID value (rewritten for propagation after an approximate trim).
    trim_arg: usize,
}

/// Parse XADD's or XTRIM's options; for XADD also the ID. Returns the options and the index
/// of the ID argument (XADD).
fn parse_add_trim(
    srv: &Server,
    c: &mut Client,
    args: &[&[u8]],
    xadd: bool,
) -> Option<(AddTrimArgs, usize)> {
    let mut a = AddTrimArgs {
        id: None,
        no_mkstream: false,
        trim: None,
        trim_arg: 0,
    };
    let mut by: Option<TrimBy> = None;
    let mut approx = false;
    let mut limit: i64 = 0;
    let mut limit_given = false;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = args[i];
        if xadd && opt == b"*" {
            break;
        } else if (eq_ic(opt, "maxlen") || eq_ic(opt, "minid")) && more > 0 {
            if by.is_some() {
                c.out.error(
                    "syntax error, MAXLEN and MINID options at the same time are not compatible",
                );
                return None;
            }
            approx = false;
            let next = args[i + 1];
            if more >= 2 && next == b"~" {
                approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            if eq_ic(opt, "maxlen") {
                let Some(n) = parse_i64(args[i + 1]) else {
                    c.out.error(NOT_INT);
                    return None;
                };
                if n < 0 {
                    c.out.error("The MAXLEN argument must be >= 0.");
                    return None;
                }
                by = Some(TrimBy::MaxLen(n as u64));
            } else {
                by = Some(TrimBy::MinId(arg_id(c, args[i + 1])?));
            }
            i += 1;
            a.trim_arg = i;
        } else if eq_ic(opt, "limit") && more > 0 {
            let Some(n) = parse_i64(args[i + 1]) else {
                c.out.error(NOT_INT);
                return None;
            };
            if n < 0 {
                c.out.error("The LIMIT argument must be >= 0.");
                return None;
            }
            limit = n;
            limit_given = true;
            i += 1;
        } else if xadd && eq_ic(opt, "nomkstream") {
            a.no_mkstream = true;
        } else if xadd {
            let how = IdSyntax {
                missing_seq: 0,
                strict: true,
                allow_auto_seq: true,
            };
            match parse_id(opt, how) {
                Some(id) => a.id = Some(id),
                None => {
                    c.out.error(INVALID_ID);
                    return None;
                }
            }
            break;
        } else {
            c.out.error(SYNTAX);
            return None;
        }
        i += 1;
    }
    if limit > 0 && by.is_none() {
        c.out
            .error("syntax error, LIMIT cannot be used without specifying a trimming strategy");
        return None;
    }
    if !xadd && by.is_none() {
        c.out
            .error("syntax error, XTRIM must be called with a trimming strategy");
        return None;
    }
    if limit_given {
        if !approx {
            c.out
                .error("syntax error, LIMIT cannot be used without the special ~ option");
            return None;
        }
    } else if approx {
        // Bound the work of an approximate trim (100 nodes' worth of entries by default).
        limit = srv
            .cfg
            .int(P::StreamNodeMaxEntries)
            .saturating_mul(100)
            .clamp(1, 1_000_000);
        if srv.cfg.int(P::StreamNodeMaxEntries) <= 0 {
            limit = 10_000;
        }
    } else {
        limit = 0;
    }
    a.trim = by.map(|by| Trim {
        by,
        approx,
        limit: limit as u64,
    });
    Some((a, i))
}

/// After an approximate trim, the trim argument propagated is exact (`=` and the resulting
/// length or first ID), so replicas and the AOF trim the same entries.
fn exact_trim_argv(args: &[&[u8]], a: &AddTrimArgs, s: &Stream) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = args.iter().map(|x| x.to_vec()).collect();
    if let Some(t) = a.trim
        && t.approx
    {
        v[a.trim_arg - 1] = b"=".to_vec();
        v[a.trim_arg] = match t.by {
            TrimBy::MaxLen(_) => s.length.to_string().into_bytes(),
            TrimBy::MinId(_) => s.edge_id(true, false).to_bytes(),
        };
    }
    v
}

pub fn xadd(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some((a, idpos)) = parse_add_trim(srv, c, args, true) else {
        return;
    };
    let field_pos = idpos + 1;
    if args.len() < field_pos + 2 || !(args.len() - field_pos).is_multiple_of(2) {
        c.out.error("wrong number of arguments for 'xadd' command");
        return;
    }
    if let Some((id, true)) = a.id
        && id.is_zero()
    {
        c.out
            .error("The ID specified in XADD must be greater than 0-0");
        return;
    }
    let key = args[1];
    match write_stream(srv, c, key) {
        Err(_) => return,
        Ok(Some(_)) => {}
        Ok(None) => {
            if a.no_mkstream {
                c.out.null();
                return;
            }
            srv.add_key(c.db, key, Value::Stream(Box::default()));
        }
    }
    let limits = node_limits(srv);
    let now = crate::server::now_ms() as u64;
    let Ok(Some(s)) = write_stream(srv, c, key) else {
        return;
    };
    if s.last_id == StreamId::MAX {
        c.out
            .error("The stream has exhausted the last possible ID, unable to add more items");
        return;
    }
    let id = match s.append(&args[field_pos..], a.id, now, limits) {
        Ok(id) => id,
        Err(true) => {
            c.out.error(
                "The ID specified in XADD is equal or smaller than the target stream top item",
            );
            return;
        }
        Err(false) => {
            c.out.error("Elements are too large to be stored");
            return;
        }
    };
    let trimmed = a.trim.map(|t| s.trim(&t)).unwrap_or(0);
    let id_bytes = id.to_bytes();
    c.out.bulk(&id_bytes);
    // Propagated as sent unless the ID was generated or an approximate trim must be made
    // exact.
    let id_generated = !matches!(a.id, Some((_, true)));
    if id_generated || a.trim.is_some_and(|t| t.approx) {
        let mut argv = exact_trim_argv(args, &a, s);
        if id_generated {
            argv[idpos] = id_bytes;
        }
        c.rewritten_argv = Some(argv);
    }
    srv.notify(notify::STREAM, "xadd", key, c.db);
    srv.dirty += 1;
    if trimmed > 0 {
        srv.notify(notify::STREAM, "xtrim", key, c.db);
    }
    srv.signal_key_ready(c.db, key);
}

fn xrange_generic(srv: &mut Server, c: &mut Client, args: &[&[u8]], rev: bool) {
    let (sa, ea) = if rev {
        (args[3], args[2])
    } else {
        (args[2], args[3])
    };
    let Some((start, end)) = arg_range(c, sa, ea) else {
        return;
    };
    let mut count: i64 = -1;
    let mut j = 4;
    while j < args.len() {
        if eq_ic(args[j], "count") && j + 1 < args.len() {
            let Some(n) = parse_i64(args[j + 1]) else {
                c.out.error(NOT_INT);
                return;
            };
            count = n.max(0);
            j += 2;
        } else {
            c.out.error(SYNTAX);
            return;
        }
    }
    let s = match read_stream(srv, c, args[1]) {
        Err(_) => return,
        Ok(None) => {
            c.out.array(0);
            return;
        }
        Ok(Some(s)) => s,
    };
    if count == 0 {
        c.out.null_array();
        return;
    }
    let count = if count < 0 { 0 } else { count as usize };
    reply_range(c, s, start, end, count, rev);
}

pub fn xrange(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    xrange_generic(srv, c, args, false)
}

pub fn xrevrange(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    xrange_generic(srv, c, args, true)
}

pub fn xlen(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    match read_stream(srv, c, args[1]) {
        Err(_) => {}
        Ok(None) => c.out.int(0),
        Ok(Some(s)) => c.out.int(s.length as i64),
    }
}

pub fn xdel(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let s = match write_stream(srv, c, args[1]) {
        Err(_) => return,
        Ok(None) => {
            c.out.int(0);
            return;
        }
        Ok(Some(s)) => s,
    };
    // IDs are checked before any is deleted.
    let mut ids = Vec::with_capacity(args.len() - 2);
    for a in &args[2..] {
        let Some(id) = arg_id(c, a) else { return };
        ids.push(id);
    }
    let deleted = s.delete_entries(&ids);
    if deleted > 0 {
        srv.notify(notify::STREAM, "xdel", args[1], c.db);
        srv.dirty += deleted;
    }
    c.out.int(deleted as i64);
}

pub fn xtrim(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some((a, _)) = parse_add_trim(srv, c, args, false) else {
        return;
    };
    let s = match write_stream(srv, c, args[1]) {
        Err(_) => return,
        Ok(None) => {
            c.out.int(0);
            return;
        }
        Ok(Some(s)) => s,
    };
    let deleted = a.trim.map(|t| s.trim(&t)).unwrap_or(0);
    if deleted > 0 {
        if a.trim.is_some_and(|t| t.approx) {
            c.rewritten_argv = Some(exact_trim_argv(args, &a, s));
        }
        srv.notify(notify::STREAM, "xtrim", args[1], c.db);
        srv.dirty += deleted;
    }
    c.out.int(deleted as i64);
}

pub fn xsetid(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some(id) = arg_id(c, args[2]) else {
        return;
    };
    let mut entries_added: i64 = -1;
    let mut max_xdel = StreamId::MIN;
    let mut i = 3;
    while i < args.len() {
        let more = args.len() - 1 - i;
        if eq_ic(args[i], "entriesadded") && more > 0 {
            let Some(n) = parse_i64(args[i + 1]) else {
                c.out.error(NOT_INT);
                return;
            };
            if n < 0 {
                c.out.error("entries_added must be positive");
                return;
            }
            entries_added = n;
        } else if eq_ic(args[i], "maxdeletedid") && more > 0 {
            let Some(m) = arg_id(c, args[i + 1]) else {
                return;
            };
            if id < m {
                c.out.error(
                    "The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                );
                return;
            }
            max_xdel = m;
        } else {
            c.out.error(SYNTAX);
            return;
        }
        i += 2;
    }
    let s = match write_stream(srv, c, args[1]) {
        Err(_) => return,
        Ok(None) => {
            c.out.error(super::NO_SUCH_KEY);
            return;
        }
        Ok(Some(s)) => s,
    };
    if s.length > 0 {
        if id < s.last_valid_id() {
            c.out
                .error("The ID specified in XSETID is smaller than the target stream top item");
            return;
        }
        if entries_added != -1 && s.length > entries_added as u64 {
            c.out.error(
                "The entries_added specified in XSETID is smaller than the target stream length",
            );
            return;
        }
    }
    s.last_id = id;
    if entries_added != -1 {
        s.entries_added = entries_added as u64;
    }
    if !max_xdel.is_zero() {
        s.max_deleted_entry_id = max_xdel;
    }
    // Redis's XSETID does not signal the key as modified.
    srv.touches_signalled = true;
    c.out.ok();
    srv.dirty += 1;
    srv.notify(notify::STREAM, "xsetid", args[1], c.db);
}

/// What XREAD / XREADGROUP asked for.
struct ReadArgs<'a> {
    block_ms: Option<i64>,
    count: i64,
    group: Option<(&'a [u8], &'a [u8])>,
    noack: bool,
    keys: &'a [&'a [u8]],
    id_args: &'a [&'a [u8]],
}

fn parse_read<'a>(c: &mut Client, args: &'a [&'a [u8]], group_cmd: bool) -> Option<ReadArgs<'a>> {
    let name = String::from_utf8_lossy(args[0]).into_owned();
    let mut r = ReadArgs {
        block_ms: None,
        count: 0,
        group: None,
        noack: false,
        keys: &[],
        id_args: &[],
    };
    let mut streams_at = 0;
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - i - 1;
        let o = args[i];
        if eq_ic(o, "block") && more > 0 {
            if c.is_script {
                c.out.error(&format!(
                    "{name} command is not allowed with BLOCK option from scripts"
                ));
                return None;
            }
            i += 1;
            match parse_i64(args[i]) {
                None => {
                    c.out.error("timeout is not an integer or out of range");
                    return None;
                }
                Some(t) if t < 0 => {
                    c.out.error("timeout is negative");
                    return None;
                }
                Some(t) => r.block_ms = Some(t),
            }
        } else if eq_ic(o, "count") && more > 0 {
            i += 1;
            let Some(n) = parse_i64(args[i]) else {
                c.out.error(NOT_INT);
                return None;
            };
            r.count = n.max(0);
        } else if eq_ic(o, "streams") && more > 0 {
            streams_at = i + 1;
            let n = args.len() - streams_at;
            if !n.is_multiple_of(2) {
                c.out.error(
                    "Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                );
                return None;
            }
            r.keys = &args[streams_at..streams_at + n / 2];
            r.id_args = &args[streams_at + n / 2..];
            break;
        } else if eq_ic(o, "group") && more >= 2 {
            if !group_cmd {
                c.out.error(
                    "The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                );
                return None;
            }
            r.group = Some((args[i + 1], args[i + 2]));
            i += 2;
        } else if eq_ic(o, "noack") {
            if !group_cmd {
                c.out.error(
                    "The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                );
                return None;
            }
            r.noack = true;
        } else {
            c.out.error(SYNTAX);
            return None;
        }
        i += 1;
    }
    if streams_at == 0 {
        c.out.error(SYNTAX);
        return None;
    }
    if group_cmd && r.group.is_none() {
        c.out.error("Missing GROUP option for XREADGROUP");
        return None;
    }
    Some(r)
}

/// Record that a consumer group delivered entries (propagation of XREADGROUP): each new
/// pending entry as an XCLAIM that recreates it, and for NOACK reads the group's new last ID.
pub fn propagate_claim(
    srv: &mut Server,
    db: usize,
    key: &[u8],
    group: &[u8],
    id: &[u8],
    nack: &Nack,
    last_id: StreamId,
) {
    let time = nack.delivery_time.to_string();
    let count = nack.delivery_count.to_string();
    let last = last_id.to_bytes();
    srv.prop.also_propagate(
        db,
        &[
            b"XCLAIM",
            key,
            group,
            &nack.consumer,
            b"0",
            id,
            b"TIME",
            time.as_bytes(),
            b"RETRYCOUNT",
            count.as_bytes(),
            b"FORCE",
            b"JUSTID",
            b"LASTID",
            &last,
        ],
    );
}

/// A group's last delivered ID and read counter as XGROUP SETID (NOACK reads, XCLAIM LASTID).
pub fn propagate_group_id(
    srv: &mut Server,
    db: usize,
    key: &[u8],
    group: &[u8],
    last_id: StreamId,
    entries_read: i64,
) {
    let last = last_id.to_bytes();
    let read = entries_read.to_string();
    srv.prop.also_propagate(
        db,
        &[
            b"XGROUP",
            b"SETID",
            key,
            group,
            &last,
            b"ENTRIESREAD",
            read.as_bytes(),
        ],
    );
}

/// Look a consumer up (refreshing its seen time) or create it (with its event); returns
/// whether it was created.
pub fn lookup_or_create_consumer(
    srv: &mut Server,
    db: usize,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
) -> bool {
    let now = crate::server::now_ms();
    let created = {
        let Some(Value::Stream(s)) = srv.dbs[db].dict.get_mut(key).map(|o| &mut o.val) else {
            return false;
        };
        let Some(g) = s.cgroups.get_mut(group) else {
            return false;
        };
        match g.consumers.get_mut(consumer) {
            Some(cons) => {
                cons.seen_time = now;
                false
            }
            None => g.create_consumer(consumer, now),
        }
    };
    if created {
        srv.dirty += 1;
        srv.notify(notify::STREAM, "xgroup-createconsumer", key, db);
    }
    created
}

/// A group read's parameters.
struct GroupRead<'a> {
    group: &'a [u8],
    consumer: &'a [u8],
    count: usize,
    /// Re-deliver the consumer's own pending entries instead of new ones.
    history: bool,
    noack: bool,
}

/// Serve one stream to a group reader: new entries from `start` (`>`), or its own pending
/// history from `start`. Writes the entries array to `out`.
fn serve_group(
    srv: &mut Server,
    out: &mut Out,
    db: usize,
    key: &[u8],
    start: StreamId,
    read: &GroupRead<'_>,
) {
    let GroupRead {
        group,
        consumer,
        count,
        history,
        noack,
    } = *read;
    let created = lookup_or_create_consumer(srv, db, key, group, consumer);
    if created && noack {
        srv.prop
            .also_propagate(db, &[b"XGROUP", b"CREATECONSUMER", key, group, consumer]);
    }
    let now = crate::server::now_ms();
    let Some(Value::Stream(s)) = srv.dbs[db].dict.get_mut(key).map(|o| &mut o.val) else {
        out.array(0);
        return;
    };
    if history {
        // Only this consumer's pending entries, re-delivered.
        let Some(owned): Option<Vec<StreamId>> = s.cgroups.get(group).and_then(|g| {
            g.consumers.get(consumer).map(|cn| {
                cn.pel
                    .range(start..)
                    .take(if count == 0 { usize::MAX } else { count })
                    .copied()
                    .collect()
            })
        }) else {
            out.array(0);
            return;
        };
        out.array(owned.len());
        for id in owned {
            if write_one(out, s, id) {
                if let Some(n) = s.cgroups.get_mut(group).and_then(|g| g.pel.get_mut(&id)) {
                    n.delivery_time = now;
                    n.delivery_count += 1;
                }
            } else {
                out.array(2);
                out.bulk(&id.to_bytes());
                out.null_array();
            }
        }
        return;
    }
    let mut body = deferred(out);
    let ids = write_range(&mut body, s, start, StreamId::MAX, count, false);
    out.array(ids.len());
    out.raw(&body.buf);
    let mut moved = false;
    let mut claims = Vec::new();
    for id in ids {
        moved |= s.advance_group(group, id);
        if noack {
            continue;
        }
        let Some(g) = s.cgroups.get_mut(group) else {
            continue;
        };
        match g.pel.get_mut(&id) {
            Some(n) => {
                n.delivery_time = now;
                n.delivery_count = 1;
            }
            None => {
                g.pel.insert(
                    id,
                    Nack {
                        delivery_time: now,
                        delivery_count: 1,
                        consumer: consumer.into(),
                    },
                );
            }
        }
        g.assign(id, consumer);
        claims.push((id, g.pel[&id].clone(), g.last_id));
    }
    // A NOACK read that moved the group is propagated as its new last ID (with the claims,
    // LASTID carries it).
    let setid = (noack && moved)
        .then(|| s.cgroups.get(group).map(|g| (g.last_id, g.entries_read)))
        .flatten();
    for (id, nack, last) in claims {
        propagate_claim(srv, db, key, group, &id.to_bytes(), &nack, last);
    }
    if let Some((last, read)) = setid {
        propagate_group_id(srv, db, key, group, last, read);
    }
}

/// Write one stream's entries array for a reader: a group's (new entries or the consumer's
/// history) or a plain read's.
fn serve_stream(
    srv: &mut Server,
    body: &mut Out,
    db: usize,
    key: &[u8],
    start: StreamId,
    r: &ReadArgs<'_>,
    history: bool,
) {
    match r.group {
        Some((group, consumer)) => {
            let read = GroupRead {
                group,
                consumer,
                count: r.count as usize,
                history,
                noack: r.noack,
            };
            serve_group(srv, body, db, key, start, &read);
        }
        None => {
            let Some(Value::Stream(s)) = srv.dbs[db].dict.get(key).map(|o| &o.val) else {
                body.array(0);
                return;
            };
            let mut entries = deferred(body);
            let n = write_range(
                &mut entries,
                s,
                start,
                StreamId::MAX,
                r.count as usize,
                false,
            );
            body.array(n.len());
            body.raw(&entries.buf);
        }
    }
}

fn xread_generic(srv: &mut Server, c: &mut Client, args: &[&[u8]], group_cmd: bool) {
    // The effects are propagated as what they did (XCLAIM, XGROUP SETID), never as XREADGROUP.
    c.suppress_propagation = true;
    srv.touches_signalled = true;
    let Some(r) = parse_read(c, args, group_cmd) else {
        return;
    };
    if srv.serving_blocked {
        serve_blocked_read(srv, c, &r);
        return;
    }
    // Resolve each stream's starting ID (and its group).
    let mut ids: Vec<StreamId> = Vec::with_capacity(r.keys.len());
    for (key, ida) in r.keys.iter().zip(r.id_args) {
        let s = match read_stream(srv, c, key) {
            Err(_) => return,
            Ok(s) => s,
        };
        if let Some((g, _)) = r.group
            && !s.is_some_and(|s| s.cgroups.contains_key(g))
        {
            c.out.error(&format!(
                "-NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                String::from_utf8_lossy(key),
                String::from_utf8_lossy(g)
            ));
            return;
        }
        let id = if *ida == b"$" {
            if group_cmd {
                c.out.error("The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.");
                return;
            }
            s.map(|s| s.last_id).unwrap_or(StreamId::MIN)
        } else if *ida == b">" {
            if !group_cmd {
                c.out.error("The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.");
                return;
            }
            StreamId::MAX
        } else {
            let Some(id) = arg_id(c, ida) else { return };
            id
        };
        ids.push(id);
    }
    let mut served = 0;
    let mut body = deferred(&c.out);
    for (i, key) in r.keys.iter().enumerate() {
        let (gt, history) = {
            let Some(Value::Stream(s)) = srv.lookup_read(c.db, key).map(|o| &o.val) else {
                continue;
            };
            match r.group {
                // An explicit ID reads the consumer's own history, always at once.
                Some(_) if ids[i] != StreamId::MAX => (ids[i], true),
                Some((g, _)) => {
                    let last = s.cgroups.get(g).map(|g| g.last_id).unwrap_or(StreamId::MAX);
                    if s.length == 0 || s.last_valid_id() <= last {
                        continue;
                    }
                    (last, false)
                }
                None => {
                    if s.length == 0 || s.last_valid_id() <= ids[i] {
                        continue;
                    }
                    (ids[i], false)
                }
            }
        };
        served += 1;
        let mut start = gt;
        start.incr();
        if body.resp < 3 {
            body.array(2);
        }
        body.bulk(key);
        serve_stream(srv, &mut body, c.db, key, start, &r, history);
        if r.group.is_some() {
            srv.dirty += 1;
        }
    }
    if served > 0 {
        if c.out.resp3() {
            c.out.map(served);
        } else {
            c.out.array(served);
        }
        c.out.raw(&body.buf);
        return;
    }
    let Some(block_ms) = r.block_ms else {
        c.out.null_array();
        return;
    };
    if !srv.may_block() {
        c.out.null_array();
        return;
    }
    // Block with the IDs resolved now (`$` is the last ID at this moment) and the count a
    // blocked read is served with.
    let count = if r.count > 0 {
        r.count
    } else {
        BLOCKED_DEFAULT_COUNT
    };
    let mut argv: Vec<Vec<u8>> = vec![args[0].to_vec()];
    if let Some((g, cn)) = r.group {
        argv.extend([b"GROUP".to_vec(), g.to_vec(), cn.to_vec()]);
    }
    argv.extend([b"COUNT".to_vec(), count.to_string().into_bytes()]);
    if r.noack {
        argv.push(b"NOACK".to_vec());
    }
    argv.push(b"STREAMS".to_vec());
    argv.extend(r.keys.iter().map(|k| k.to_vec()));
    argv.extend(ids.iter().zip(r.id_args).map(|(id, a)| {
        if *a == b">" {
            b">".to_vec()
        } else {
            id.to_bytes()
        }
    }));
    let refs: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
    let deadline = if block_ms == 0 {
        None
    } else {
        Some(srv.cmd_time_ms.saturating_add(block_ms))
    };
    let def = c.last_cmd.expect("running command");
    srv.block_client(c, r.keys, deadline, def, &refs);
}

/// A blocked read re-run for the stream key that became ready (serveClientsBlockedOnStreamKey):
/// it is served only that key, and only entries past the ID it waits for.
fn serve_blocked_read(srv: &mut Server, c: &mut Client, r: &ReadArgs<'_>) {
    let Some((db, key)) = srv.ready_key.clone() else {
        return;
    };
    let Some(i) = r.keys.iter().position(|k| *k == key.as_slice()) else {
        return;
    };
    let is_stream = matches!(
        srv.dbs[db].dict.get(&key).map(|o| &o.val),
        Some(Value::Stream(_))
    );
    if !is_stream {
        if r.group.is_some() {
            c.out.error("-UNBLOCKED the stream key no longer exists");
        }
        return;
    }
    let gt = {
        let Some(Value::Stream(s)) = srv.dbs[db].dict.get(&key).map(|o| &o.val) else {
            return;
        };
        let mut gt = match parse_id(r.id_args[i], STRICT) {
            Some((id, _)) => id,
            None => StreamId::MAX,
        };
        if let Some((g, _)) = r.group {
            match s.cgroups.get(g) {
                None => {
                    c.out.error(
                        "-NOGROUP the consumer group this client was blocked on no longer exists",
                    );
                    return;
                }
                Some(g) => gt = g.last_id,
            }
        }
        if s.last_id <= gt {
            return;
        }
        gt
    };
    let mut start = gt;
    start.incr();
    let mut body = deferred(&c.out);
    serve_stream(srv, &mut body, db, &key, start, r, false);
    if c.out.resp3() {
        c.out.map(1);
    } else {
        c.out.array(1);
        c.out.array(2);
    }
    c.out.bulk(&key);
    c.out.raw(&body.buf);
}

pub fn xread(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    xread_generic(srv, c, args, false)
}

pub fn xreadgroup(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    xread_generic(srv, c, args, true)
}

// ---- XINFO ----------------------------------------------------------------------------------

fn read_stream_or_nokey<'a>(srv: &'a mut Server, c: &mut Client, key: &[u8]) -> Option<&'a Stream> {
    match read_stream(srv, c, key) {
        Err(_) => None,
        Ok(None) => {
            c.out.error(super::NO_SUCH_KEY);
            None
        }
        Ok(Some(s)) => Some(s),
    }
}

fn nogroup_for_key(c: &mut Client, group: &[u8], key: &[u8]) {
    c.out.error(&format!(
        "-NOGROUP No such consumer group '{}' for key name '{}'",
        String::from_utf8_lossy(group),
        String::from_utf8_lossy(key)
    ));
}

fn lag_reply(out: &mut Out, s: &Stream, g: &crate::types::stream::ConsumerGroup) {
    match s.group_lag(g) {
        Some(l) => out.int(l),
        None => out.null(),
    }
}

fn entries_read_reply(out: &mut Out, read: i64) {
    if read != ENTRIES_READ_INVALID {
        out.int(read);
    } else {
        out.null();
    }
}

pub fn xinfo_consumers(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some(s) = read_stream_or_nokey(srv, c, args[2]) else {
        return;
    };
    let Some(g) = s.cgroups.get(args[3]) else {
        nogroup_for_key(c, args[3], args[2]);
        return;
    };
    let now = crate::server::now_ms();
    c.out.array(g.consumers.len());
    for (name, cn) in &g.consumers {
        c.out.map(3);
        c.out.bulk_str("name");
        c.out.bulk(name);
        c.out.bulk_str("pending");
        c.out.int(cn.pel.len() as i64);
        c.out.bulk_str("idle");
        c.out.int((now - cn.seen_time).max(0));
    }
}

pub fn xinfo_groups(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some(s) = read_stream_or_nokey(srv, c, args[2]) else {
        return;
    };
    c.out.array(s.cgroups.len());
    for (name, g) in &s.cgroups {
        c.out.map(6);
        c.out.bulk_str("name");
        c.out.bulk(name);
        c.out.bulk_str("consumers");
        c.out.int(g.consumers.len() as i64);
        c.out.bulk_str("pending");
        c.out.int(g.pel.len() as i64);
        c.out.bulk_str("last-delivered-id");
        c.out.bulk(&g.last_id.to_bytes());
        c.out.bulk_str("entries-read");
        entries_read_reply(&mut c.out, g.entries_read);
        c.out.bulk_str("lag");
        lag_reply(&mut c.out, s, g);
    }
}

pub fn xinfo_stream(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let opts = &args[3..];
    let mut full = false;
    let mut count: i64 = 10;
    if !opts.is_empty() {
        if (opts.len() != 1 && opts.len() != 3)
            || !eq_ic(opts[0], "full")
            || (opts.len() == 3 && !eq_ic(opts[1], "count"))
        {
            super::subcommand_syntax_error(c, args);
            return;
        }
        full = true;
        if opts.len() == 3 {
            let Some(n) = parse_i64(opts[2]) else {
                c.out.error(NOT_INT);
                return;
            };
            count = if n < 0 { 10 } else { n };
        }
    }
    let Some(s) = read_stream_or_nokey(srv, c, args[2]) else {
        return;
    };
    let out = &mut c.out;
    out.map(if full { 9 } else { 10 });
    out.bulk_str("length");
    out.int(s.length as i64);
    out.bulk_str("radix-tree-keys");
    out.int(s.nodes.len() as i64);
    out.bulk_str("radix-tree-nodes");
    out.int(s.radix_tree_nodes() as i64);
    out.bulk_str("last-generated-id");
    out.bulk(&s.last_id.to_bytes());
    out.bulk_str("max-deleted-entry-id");
    out.bulk(&s.max_deleted_entry_id.to_bytes());
    out.bulk_str("entries-added");
    out.int(s.entries_added as i64);
    out.bulk_str("recorded-first-entry-id");
    out.bulk(&s.first_id.to_bytes());
    if !full {
        out.bulk_str("groups");
        out.int(s.cgroups.len() as i64);
        for (label, rev) in [("first-entry", false), ("last-entry", true)] {
            out.bulk_str(label);
            if write_range(out, s, StreamId::MIN, StreamId::MAX, 1, rev).is_empty() {
                out.null();
            }
        }
        return;
    }
    let limit = if count == 0 {
        usize::MAX
    } else {
        count as usize
    };
    out.bulk_str("entries");
    let mut body = deferred(out);
    let n = write_range(
        &mut body,
        s,
        StreamId::MIN,
        StreamId::MAX,
        count as usize,
        false,
    );
    out.array(n.len());
    out.raw(&body.buf);
    out.bulk_str("groups");
    out.array(s.cgroups.len());
    for (name, g) in &s.cgroups {
        out.map(7);
        out.bulk_str("name");
        out.bulk(name);
        out.bulk_str("last-delivered-id");
        out.bulk(&g.last_id.to_bytes());
        out.bulk_str("entries-read");
        entries_read_reply(out, g.entries_read);
        out.bulk_str("lag");
        lag_reply(out, s, g);
        out.bulk_str("pel-count");
        out.int(g.pel.len() as i64);
        out.bulk_str("pending");
        out.array(g.pel.len().min(limit));
        for (id, n) in g.pel.iter().take(limit) {
            out.array(4);
            out.bulk(&id.to_bytes());
            out.bulk(&n.consumer);
            out.int(n.delivery_time);
            out.int(n.delivery_count as i64);
        }
        out.bulk_str("consumers");
        out.array(g.consumers.len());
        for (cname, cn) in &g.consumers {
            out.map(4);
            out.bulk_str("name");
            out.bulk(cname);
            out.bulk_str("seen-time");
            out.int(cn.seen_time);
            out.bulk_str("pel-count");
            out.int(cn.pel.len() as i64);
            out.bulk_str("pending");
            out.array(cn.pel.len().min(limit));
            for id in cn.pel.iter().take(limit) {
                let (t, n) = g
                    .pel
                    .get(id)
                    .map(|n| (n.delivery_time, n.delivery_count as i64))
                    .unwrap_or((0, 0));
                out.array(3);
                out.bulk(&id.to_bytes());
                out.int(t);
                out.int(n);
            }
        }
    }
}

pub fn xinfo_help(_: &mut Server, c: &mut Client, _: &[&[u8]]) {
    super::reply_help(
        c,
        "XINFO",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    );
}
