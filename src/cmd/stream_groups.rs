//! Consumer group commands: XGROUP (CREATE, SETID, DESTROY, CREATECONSUMER, DELCONSUMER, HELP),
//! XACK, XPENDING, XCLAIM and XAUTOCLAIM, as Redis 7.0 answers and propagates them.

use super::streams::{
    arg_id, arg_range, propagate_claim, propagate_group_id, read_stream, write_one, write_stream,
};
use super::{NOT_INT, SYNTAX, eq_ic};
use crate::net::client::Client;
use crate::resp::parse_i64;
use crate::server::{Server, notify};
use crate::types::Value;
use crate::types::stream::{
    ConsumerGroup, ENTRIES_READ_INVALID, IdSyntax, Nack, Stream, StreamId, parse_id,
};

fn stream_mut<'a>(srv: &'a mut Server, db: usize, key: &[u8]) -> Option<&'a mut Stream> {
    match srv.dbs[db].dict.get_mut(key).map(|o| &mut o.val) {
        Some(Value::Stream(s)) => Some(s),
        _ => None,
    }
}

fn nogroup(c: &mut Client, key: &[u8], group: &[u8]) {
    c.out.error(&format!(
        "-NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ));
}

// ---- XGROUP ---------------------------------------------------------------------------------

/// XGROUP's shared checks (options of CREATE/SETID, the key, the group); returns whether the
/// key exists and MKSTREAM / ENTRIESREAD.
struct GroupArgs {
    exists: bool,
    mkstream: bool,
    entries_read: i64,
}

fn xgroup_prelude(srv: &mut Server, c: &mut Client, args: &[&[u8]]) -> Option<GroupArgs> {
    let sub = args[1];
    let create = eq_ic(sub, "create");
    let setid = eq_ic(sub, "setid");
    let mut a = GroupArgs {
        exists: false,
        mkstream: false,
        entries_read: ENTRIES_READ_INVALID,
    };
    let mut i = 5;
    while i < args.len() {
        if create && eq_ic(args[i], "mkstream") {
            a.mkstream = true;
            i += 1;
        } else if (create || setid) && eq_ic(args[i], "entriesread") && i + 1 < args.len() {
            let Some(n) = parse_i64(args[i + 1]) else {
                c.out.error(NOT_INT);
                return None;
            };
            if n < 0 && n != ENTRIES_READ_INVALID {
                c.out.error("value for ENTRIESREAD must be positive or -1");
                return None;
            }
            a.entries_read = n;
            i += 2;
        } else {
            super::subcommand_syntax_error(c, args);
            return None;
        }
    }
    a.exists = write_stream(srv, c, args[2]).ok()?.is_some();
    if !a.mkstream {
        if !a.exists {
            c.out.error("The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.");
            return None;
        }
        let has_group =
            stream_mut(srv, c.db, args[2]).is_some_and(|s| s.cgroups.contains_key(args[3]));
        if !has_group && !create && !eq_ic(sub, "destroy") {
            c.out.error(&format!(
                "-NOGROUP No such consumer group '{}' for key name '{}'",
                String::from_utf8_lossy(args[3]),
                String::from_utf8_lossy(args[2])
            ));
            return None;
        }
    }
    Some(a)
}

pub fn xgroup_create(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some(a) = xgroup_prelude(srv, c, args) else {
        return;
    };
    if args.len() > 8 {
        super::subcommand_syntax_error(c, args);
        return;
    }
    let id = if args[4] == b"$" {
        stream_mut(srv, c.db, args[2])
            .map(|s| s.last_id)
            .unwrap_or(StreamId::MIN)
    } else {
        let Some(id) = arg_id(c, args[4]) else { return };
        id
    };
    if !a.exists {
        srv.add_key(c.db, args[2], Value::Stream(Box::default()));
        srv.touch_watched(c.db, args[2]);
    }
    srv.touches_signalled = true;
    let Some(s) = stream_mut(srv, c.db, args[2]) else {
        return;
    };
    if s.cgroups.contains_key(args[3]) {
        c.out.error("-BUSYGROUP Consumer Group name already exists");
        return;
    }
    s.cgroups
        .insert(args[3].into(), ConsumerGroup::new(id, a.entries_read));
    c.out.ok();
    srv.dirty += 1;
    srv.notify(notify::STREAM, "xgroup-create", args[2], c.db);
}

pub fn xgroup_setid(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some(a) = xgroup_prelude(srv, c, args) else {
        return;
    };
    if args.len() != 5 && args.len() != 7 {
        super::subcommand_syntax_error(c, args);
        return;
    }
    let last = stream_mut(srv, c.db, args[2])
        .map(|s| s.last_id)
        .unwrap_or(StreamId::MIN);
    let id = if args[4] == b"$" {
        last
    } else {
        let how = IdSyntax {
            missing_seq: 0,
            strict: false,
            allow_auto_seq: false,
        };
        match parse_id(args[4], how) {
            Some((id, _)) => id,
            None => {
                c.out.error(super::streams::INVALID_ID);
                return;
            }
        }
    };
    srv.touches_signalled = true;
    let Some(g) = stream_mut(srv, c.db, args[2]).and_then(|s| s.cgroups.get_mut(args[3])) else {
        return;
    };
    g.last_id = id;
    g.entries_read = a.entries_read;
    c.out.ok();
    srv.dirty += 1;
    srv.notify(notify::STREAM, "xgroup-setid", args[2], c.db);
}

pub fn xgroup_destroy(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if xgroup_prelude(srv, c, args).is_none() {
        return;
    }
    srv.touches_signalled = true;
    let removed =
        stream_mut(srv, c.db, args[2]).is_some_and(|s| s.cgroups.remove(args[3]).is_some());
    if removed {
        c.out.int(1);
        srv.dirty += 1;
        srv.notify(notify::STREAM, "xgroup-destroy", args[2], c.db);
        // Readers blocked on the group get NOGROUP.
        srv.signal_key_ready(c.db, args[2]);
    } else {
        c.out.int(0);
    }
}

pub fn xgroup_createconsumer(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if xgroup_prelude(srv, c, args).is_none() {
        return;
    }
    srv.touches_signalled = true;
    let now = crate::server::now_ms();
    let created = stream_mut(srv, c.db, args[2])
        .and_then(|s| s.cgroups.get_mut(args[3]))
        .is_some_and(|g| g.create_consumer(args[4], now));
    if created {
        srv.dirty += 1;
        srv.notify(notify::STREAM, "xgroup-createconsumer", args[2], c.db);
    }
    c.out.int(created as i64);
}

pub fn xgroup_delconsumer(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if xgroup_prelude(srv, c, args).is_none() {
        return;
    }
    srv.touches_signalled = true;
    let pending = stream_mut(srv, c.db, args[2])
        .and_then(|s| s.cgroups.get_mut(args[3]))
        .and_then(|g| g.delete_consumer(args[4]));
    if let Some(n) = pending {
        srv.dirty += 1;
        srv.notify(notify::STREAM, "xgroup-delconsumer", args[2], c.db);
        c.out.int(n as i64);
    } else {
        c.out.int(0);
    }
}

pub fn xgroup_help(_: &mut Server, c: &mut Client, _: &[&[u8]]) {
    super::reply_help(
        c,
        "XGROUP",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    );
}

// ---- XACK / XPENDING ------------------------------------------------------------------------

pub fn xack(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Ok(exists) = read_stream(srv, c, args[1]).map(|s| s.is_some()) else {
        return;
    };
    srv.touches_signalled = true;
    let has_group =
        exists && stream_mut(srv, c.db, args[1]).is_some_and(|s| s.cgroups.contains_key(args[2]));
    if !has_group {
        c.out.int(0);
        return;
    }
    let mut ids = Vec::with_capacity(args.len() - 3);
    for a in &args[3..] {
        let Some(id) = arg_id(c, a) else { return };
        ids.push(id);
    }
    let Some(g) = stream_mut(srv, c.db, args[1]).and_then(|s| s.cgroups.get_mut(args[2])) else {
        return;
    };
    let acked = ids.into_iter().filter(|id| g.remove_pending(*id)).count();
    srv.dirty += acked as u64;
    c.out.int(acked as i64);
}

pub fn xpending(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let justinfo = args.len() == 3;
    if args.len() != 3 && !(6..=9).contains(&args.len()) {
        c.out.error(SYNTAX);
        return;
    }
    let mut range = (StreamId::MIN, StreamId::MAX);
    let mut count: i64 = 0;
    let mut minidle: i64 = 0;
    let mut consumer: Option<&[u8]> = None;
    if args.len() >= 6 {
        let mut at = 3;
        if eq_ic(args[3], "idle") {
            let Some(n) = parse_i64(args[4]) else {
                c.out.error(NOT_INT);
                return;
            };
            minidle = n;
            if args.len() < 8 {
                c.out.error(SYNTAX);
                return;
            }
            at += 2;
        }
        let Some(n) = parse_i64(args[at + 2]) else {
            c.out.error(NOT_INT);
            return;
        };
        count = n.max(0);
        let Some(r) = arg_range(c, args[at], args[at + 1]) else {
            return;
        };
        range = r;
        consumer = args.get(at + 3).copied();
    }
    let Ok(exists) = read_stream(srv, c, args[1]).map(|s| s.is_some()) else {
        return;
    };
    let Some(g) = stream_mut(srv, c.db, args[1])
        .filter(|_| exists)
        .and_then(|s| s.cgroups.get(args[2]))
    else {
        nogroup(c, args[1], args[2]);
        return;
    };
    let out = &mut c.out;
    if justinfo {
        out.array(4);
        out.int(g.pel.len() as i64);
        match (g.pel.first_key_value(), g.pel.last_key_value()) {
            (Some((first, _)), Some((last, _))) => {
                out.bulk(&first.to_bytes());
                out.bulk(&last.to_bytes());
                let owners: Vec<_> = g
                    .consumers
                    .iter()
                    .filter(|(_, cn)| !cn.pel.is_empty())
                    .collect();
                out.array(owners.len());
                for (name, cn) in owners {
                    out.array(2);
                    out.bulk(name);
                    out.bulk_i64(cn.pel.len() as i64);
                }
            }
            _ => {
                out.null();
                out.null();
                out.null_array();
            }
        }
        return;
    }
    let now = crate::server::now_ms();
    let ids: Vec<StreamId> = match consumer {
        Some(name) => match g.consumers.get(name) {
            Some(cn) => cn.pel.range(range.0..).copied().collect(),
            None => {
                out.array(0);
                return;
            }
        },
        None => Vec::new(),
    };
    let iter: Box<dyn Iterator<Item = (StreamId, &Nack)>> = match consumer {
        Some(_) => Box::new(ids.iter().filter_map(|id| g.pel.get(id).map(|n| (*id, n)))),
        None => Box::new(g.pel.range(range.0..).map(|(id, n)| (*id, n))),
    };
    let mut rows = Vec::new();
    let mut left = count;
    for (id, n) in iter {
        if left == 0 || id > range.1 {
            break;
        }
        if minidle > 0 && now - n.delivery_time < minidle {
            continue;
        }
        left -= 1;
        rows.push((id, n));
    }
    out.array(rows.len());
    for (id, n) in rows {
        out.array(4);
        out.bulk(&id.to_bytes());
        out.bulk(&n.consumer);
        out.int((now - n.delivery_time).max(0));
        out.int(n.delivery_count as i64);
    }
}

// ---- XCLAIM / XAUTOCLAIM --------------------------------------------------------------------

/// How a claim updates the pending entry: its new delivery time, and its delivery count set
/// to `retry` or else bumped when `bump`.
struct ClaimUpdate {
    time: i64,
    retry: Option<u64>,
    bump: bool,
}

/// Claim the pending entry `id` for `consumer` (creating the consumer first if needed);
/// returns the updated NACK and the group's last ID.
fn claim(
    srv: &mut Server,
    db: usize,
    names: (&[u8], &[u8], &[u8]),
    id: StreamId,
    u: &ClaimUpdate,
) -> Option<(Nack, StreamId)> {
    let (key, group, consumer) = names;
    super::streams::lookup_or_create_consumer(srv, db, key, group, consumer);
    let g = stream_mut(srv, db, key)?.cgroups.get_mut(group)?;
    let n = g.pel.get_mut(&id)?;
    n.delivery_time = u.time;
    match u.retry {
        Some(r) => n.delivery_count = r,
        None if u.bump => n.delivery_count += 1,
        None => {}
    }
    g.assign(id, consumer);
    Some((g.pel[&id].clone(), g.last_id))
}

pub fn xclaim(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    c.suppress_propagation = true;
    srv.touches_signalled = true;
    let (key, group, consumer) = (args[1], args[2], args[3]);
    let Ok(exists) = read_stream(srv, c, key).map(|s| s.is_some()) else {
        return;
    };
    if !exists || !stream_mut(srv, c.db, key).is_some_and(|s| s.cgroups.contains_key(group)) {
        nogroup(c, key, group);
        return;
    }
    let Some(minidle) = parse_i64(args[4]) else {
        c.out.error("Invalid min-idle-time argument for XCLAIM");
        return;
    };
    let minidle = minidle.max(0);
    let strict = IdSyntax {
        missing_seq: 0,
        strict: true,
        allow_auto_seq: false,
    };
    let mut ids = Vec::new();
    let mut j = 5;
    while j < args.len() {
        match parse_id(args[j], strict) {
            Some((id, _)) => ids.push((id, args[j])),
            None => break,
        }
        j += 1;
    }
    let now = crate::server::now_ms();
    let mut force = false;
    let mut justid = false;
    let mut delivery: Option<i64> = None;
    let mut retry: Option<u64> = None;
    let mut last_id = StreamId::MIN;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = args[j];
        let int_opt = |c: &mut Client, a: &[u8], what: &str| -> Option<i64> {
            let v = parse_i64(a);
            if v.is_none() {
                c.out
                    .error(&format!("Invalid {what} option argument for XCLAIM"));
            }
            v
        };
        if eq_ic(opt, "force") {
            force = true;
        } else if eq_ic(opt, "justid") {
            justid = true;
        } else if eq_ic(opt, "idle") && more > 0 {
            j += 1;
            let Some(v) = int_opt(c, args[j], "IDLE") else {
                return;
            };
            delivery = Some(now - v);
        } else if eq_ic(opt, "time") && more > 0 {
            j += 1;
            let Some(v) = int_opt(c, args[j], "TIME") else {
                return;
            };
            delivery = Some(v);
        } else if eq_ic(opt, "retrycount") && more > 0 {
            j += 1;
            let Some(v) = int_opt(c, args[j], "RETRYCOUNT") else {
                return;
            };
            // A negative count means "not given", as in Redis.
            retry = (v >= 0).then_some(v as u64);
        } else if eq_ic(opt, "lastid") && more > 0 {
            j += 1;
            let Some(id) = arg_id(c, args[j]) else { return };
            last_id = id;
        } else {
            c.out.error(&format!(
                "Unrecognized XCLAIM option '{}'",
                String::from_utf8_lossy(opt)
            ));
            return;
        }
        j += 1;
    }
    let db = c.db;
    let mut propagate_last = false;
    if let Some(g) = stream_mut(srv, db, key).and_then(|s| s.cgroups.get_mut(group))
        && last_id > g.last_id
    {
        g.last_id = last_id;
        propagate_last = true;
    }
    let time = match delivery {
        Some(t) if t >= 0 && t <= now => t,
        _ => now,
    };
    let mut body = super::streams::deferred(&c.out);
    let mut n = 0;
    for (id, arg) in ids {
        let Some(s) = stream_mut(srv, db, key) else {
            break;
        };
        let exists = s.entry_exists(id);
        let Some(g) = s.cgroups.get_mut(group) else {
            break;
        };
        if !exists {
            // The entry is gone: so is its pending record.
            if let Some(nack) = g.pel.get(&id).cloned() {
                let last = g.last_id;
                g.remove_pending(id);
                propagate_claim(srv, db, key, group, arg, &nack, last);
                propagate_last = false;
                srv.dirty += 1;
            }
            continue;
        }
        if force && !g.pel.contains_key(&id) {
            g.pel.insert(
                id,
                Nack {
                    delivery_time: now,
                    delivery_count: 1,
                    consumer: Box::default(),
                },
            );
        }
        let Some(nack) = g.pel.get(&id) else {
            continue;
        };
        // A NACK just created by FORCE has no owner and is claimed whatever its idle time.
        let owned = !nack.consumer.is_empty() || g.consumers.contains_key(&nack.consumer);
        if owned && minidle > 0 && now - nack.delivery_time < minidle {
            continue;
        }
        let u = ClaimUpdate {
            time,
            retry,
            bump: !justid,
        };
        let Some((nack, last)) = claim(srv, db, (key, group, consumer), id, &u) else {
            continue;
        };
        if justid {
            body.bulk(&id.to_bytes());
        } else if let Some(s) = stream_mut(srv, db, key) {
            write_one(&mut body, s, id);
        }
        n += 1;
        propagate_claim(srv, db, key, group, arg, &nack, last);
        propagate_last = false;
        srv.dirty += 1;
    }
    if propagate_last && let Some(g) = stream_mut(srv, db, key).and_then(|s| s.cgroups.get(group)) {
        let (last, read) = (g.last_id, g.entries_read);
        propagate_group_id(srv, db, key, group, last, read);
        srv.dirty += 1;
    }
    c.out.array(n);
    c.out.raw(&body.buf);
}

pub fn xautoclaim(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    c.suppress_propagation = true;
    srv.touches_signalled = true;
    let (key, group, consumer) = (args[1], args[2], args[3]);
    let Some(minidle) = parse_i64(args[4]) else {
        c.out.error("Invalid min-idle-time argument for XAUTOCLAIM");
        return;
    };
    let minidle = minidle.max(0);
    let Some((start, _)) = arg_range(c, args[5], b"+") else {
        return;
    };
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if eq_ic(args[j], "count") && more > 0 {
            match parse_i64(args[j + 1]) {
                Some(n) if (1..=i64::MAX / 16).contains(&n) => count = n,
                _ => {
                    c.out.error("COUNT must be > 0");
                    return;
                }
            }
            j += 1;
        } else if eq_ic(args[j], "justid") {
            justid = true;
        } else {
            c.out.error(SYNTAX);
            return;
        }
        j += 1;
    }
    let Ok(exists) = read_stream(srv, c, key).map(|s| s.is_some()) else {
        return;
    };
    let db = c.db;
    let Some(g) = stream_mut(srv, db, key)
        .filter(|_| exists)
        .and_then(|s| s.cgroups.get(group))
    else {
        nogroup(c, key, group);
        return;
    };
    let mut attempts = count.saturating_mul(10);
    let candidates: Vec<StreamId> = g
        .pel
        .range(start..)
        .map(|(id, _)| *id)
        .take((attempts as usize).saturating_add(1))
        .collect();
    let now = crate::server::now_ms();
    let mut body = super::streams::deferred(&c.out);
    let mut claimed = 0;
    let mut deleted = Vec::new();
    let mut i = 0;
    while attempts > 0 && count > 0 && i < candidates.len() {
        attempts -= 1;
        let id = candidates[i];
        i += 1;
        let Some(s) = stream_mut(srv, db, key) else {
            break;
        };
        let exists = s.entry_exists(id);
        let Some(g) = s.cgroups.get_mut(group) else {
            break;
        };
        let Some(nack) = g.pel.get(&id).cloned() else {
            continue;
        };
        let id_bytes = id.to_bytes();
        if !exists {
            let last = g.last_id;
            g.remove_pending(id);
            propagate_claim(srv, db, key, group, &id_bytes, &nack, last);
            srv.dirty += 1;
            deleted.push(id);
            count -= 1;
            continue;
        }
        if minidle > 0 && now - nack.delivery_time < minidle {
            continue;
        }
        let u = ClaimUpdate {
            time: now,
            retry: None,
            bump: !justid,
        };
        let Some((nack, last)) = claim(srv, db, (key, group, consumer), id, &u) else {
            continue;
        };
        if justid {
            body.bulk(&id_bytes);
        } else if let Some(s) = stream_mut(srv, db, key) {
            write_one(&mut body, s, id);
        }
        claimed += 1;
        count -= 1;
        propagate_claim(srv, db, key, group, &id_bytes, &nack, last);
        srv.dirty += 1;
    }
    let cursor = candidates.get(i).copied().unwrap_or(StreamId::MIN);
    c.out.array(3);
    c.out.bulk(&cursor.to_bytes());
    c.out.array(claimed);
    c.out.raw(&body.buf);
    c.out.array(deleted.len());
    for id in deleted {
        c.out.bulk(&id.to_bytes());
    }
}
