//! CLIENT subcommands.

use super::{SYNTAX, eq_ic};
use crate::net::client::{Client, Closing, ReplyMode};
use crate::resp::parse_i64;
use crate::server::{PauseKind, Server};

/// One line of CLIENT LIST / CLIENT INFO, in Redis 7.0's field order.
pub fn info_line(c: &Client, now_ms: i64) -> String {
    let mut flags = String::new();
    if c.monitor {
        flags.push('O');
    }
    if c.in_pubsub() {
        flags.push('P');
    }
    if c.multi.is_some() {
        flags.push('x');
    }
    if c.blocked.is_some() {
        flags.push('b');
    }
    if c.closing == Closing::AfterReply {
        flags.push('c');
    }
    if c.closing == Closing::Now {
        flags.push('A');
    }
    if c.no_evict {
        flags.push('e');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let events = if c.closing == Closing::No { "r" } else { "" };
    let omem = c.output_bytes();
    let qbuf = c.qbuf.len().max(c.qbuf_in_use);
    let qfree = c.qbuf.capacity().saturating_sub(c.qbuf.len());
    let tot = c.memory_usage();
    let cmd = c
        .last_cmd
        .map_or_else(|| "NULL".to_string(), |d| d.full_name());
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem={} multi-mem={} rbs={} rbp={} obl={} oll=0 omem={} tot-mem={} events={} cmd={} user=default redir=-1 resp={}",
        c.id,
        c.addr,
        c.laddr,
        c.raw_fd(),
        c.name
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default(),
        (now_ms - c.created_ms) / 1000,
        (now_ms - c.last_interaction_ms) / 1000,
        flags,
        c.db,
        c.subs.len(),
        c.psubs.len(),
        c.ssubs.len(),
        c.multi.as_ref().map_or(-1, |m| m.cmds.len() as i64),
        qbuf,
        qfree,
        c.argv_mem,
        c.multi_mem(),
        c.out.buf.capacity(),
        c.out.buf.capacity(),
        c.out.buf.len(),
        omem,
        tot,
        events,
        cmd,
        c.out.resp,
    )
}

/// All clients in id order, the running one (`me`, taken out of its slot) included.
fn list_lines(srv: &Server, me: &Client, filter_ids: Option<&[u64]>) -> String {
    let now = crate::server::now_ms();
    let mut s = String::new();
    for (&id, &slot) in &srv.client_ids {
        if filter_ids.is_some_and(|ids| !ids.contains(&id)) {
            continue;
        }
        let line = if id == me.id {
            info_line(me, now)
        } else if let Some(c) = srv.clients[slot as usize].as_deref() {
            info_line(c, now)
        } else {
            continue;
        };
        s.push_str(&line);
        s.push('\n');
    }
    s
}

fn valid_type(t: &[u8]) -> bool {
    ["normal", "master", "replica", "slave", "pubsub"]
        .iter()
        .any(|n| eq_ic(t, n))
}

/// Our clients are all of type normal until pub/sub and replication exist.
fn type_matches(_c: &Client, t: &[u8]) -> bool {
    eq_ic(t, "normal")
}

pub fn id(_: &mut Server, c: &mut Client, _: &[&[u8]]) {
    c.out.int(c.id as i64);
}

pub fn info(_: &mut Server, c: &mut Client, _: &[&[u8]]) {
    let mut line = info_line(c, crate::server::now_ms());
    line.push('\n');
    c.out.verbatim(line.as_bytes());
}

pub fn list(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let mut ids: Option<Vec<u64>> = None;
    if args.len() == 4 && eq_ic(args[2], "type") {
        if !valid_type(args[3]) {
            c.out.error(&format!(
                "Unknown client type '{}'",
                String::from_utf8_lossy(args[3])
            ));
            return;
        }
        let t = args[3];
        let mut v: Vec<u64> = Vec::new();
        for (&id, &slot) in &srv.client_ids {
            let cl = if id == c.id {
                Some(&*c)
            } else {
                srv.clients[slot as usize].as_deref()
            };
            if cl.is_some_and(|x| type_matches(x, t)) {
                v.push(id);
            }
        }
        ids = Some(v);
    } else if args.len() > 3 && eq_ic(args[2], "id") {
        let mut v = Vec::new();
        for a in &args[3..] {
            match parse_i64(a) {
                Some(id) if id > 0 => v.push(id as u64),
                _ => {
                    c.out.error("Invalid client ID");
                    return;
                }
            }
        }
        ids = Some(v);
    } else if args.len() != 2 {
        c.out.error(SYNTAX);
        return;
    }
    let s = list_lines(srv, c, ids.as_deref());
    c.out.verbatim(s.as_bytes());
}

pub fn setname(_: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if super::connection::set_client_name(c, args[2]) {
        c.out.ok();
    }
}

pub fn getname(_: &mut Server, c: &mut Client, _: &[&[u8]]) {
    match c.name.clone() {
        Some(n) => c.out.bulk(&n),
        None => c.out.null(),
    }
}

pub fn reply(_: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if eq_ic(args[2], "on") {
        c.reply_mode = ReplyMode::On;
        c.out.ok();
    } else if eq_ic(args[2], "off") {
        c.reply_mode = ReplyMode::Off;
    } else if eq_ic(args[2], "skip") {
        if c.reply_mode == ReplyMode::On || c.reply_mode == ReplyMode::Skip {
            c.reply_mode = ReplyMode::SkipNext;
        }
    } else {
        c.out.error(SYNTAX);
    }
}

pub fn no_evict(_: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if eq_ic(args[2], "on") {
        c.no_evict = true;
        c.out.ok();
    } else if eq_ic(args[2], "off") {
        c.no_evict = false;
        c.out.ok();
    } else {
        c.out.error(SYNTAX);
    }
}

pub fn kill(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let mut addr: Option<&[u8]> = None;
    let mut laddr: Option<&[u8]> = None;
    let mut ctype: Option<&[u8]> = None;
    let mut id: Option<u64> = None;
    let mut skipme = true;
    let old_style = args.len() == 3;
    if old_style {
        addr = Some(args[2]);
        skipme = false;
    } else if args.len() > 3 {
        let mut i = 2;
        while i < args.len() {
            let more = args.len() > i + 1;
            if eq_ic(args[i], "id") && more {
                match parse_i64(args[i + 1]) {
                    Some(v) if v >= 1 => id = Some(v as u64),
                    _ => {
                        c.out.error("client-id should be greater than 0");
                        return;
                    }
                }
            } else if eq_ic(args[i], "type") && more {
                if !valid_type(args[i + 1]) {
                    c.out.error(&format!(
                        "Unknown client type '{}'",
                        String::from_utf8_lossy(args[i + 1])
                    ));
                    return;
                }
                ctype = Some(args[i + 1]);
            } else if eq_ic(args[i], "addr") && more {
                addr = Some(args[i + 1]);
            } else if eq_ic(args[i], "laddr") && more {
                laddr = Some(args[i + 1]);
            } else if eq_ic(args[i], "user") && more {
                if args[i + 1] != b"default" {
                    c.out.error(&format!(
                        "No such user '{}'",
                        String::from_utf8_lossy(args[i + 1])
                    ));
                    return;
                }
            } else if eq_ic(args[i], "skipme") && more {
                if eq_ic(args[i + 1], "yes") {
                    skipme = true;
                } else if eq_ic(args[i + 1], "no") {
                    skipme = false;
                } else {
                    c.out.error(SYNTAX);
                    return;
                }
            } else {
                c.out.error(SYNTAX);
                return;
            }
            i += 2;
        }
    } else {
        c.out.error(SYNTAX);
        return;
    }
    let mut killed = 0;
    let mut close_me = false;
    let ids: Vec<(u64, u32)> = srv.client_ids.iter().map(|(a, b)| (*a, *b)).collect();
    for (cid, slot) in ids {
        let target = if cid == c.id {
            Some(&*c)
        } else {
            srv.clients[slot as usize].as_deref()
        };
        let Some(t) = target else { continue };
        if addr.is_some_and(|a| a != t.addr.as_bytes())
            || laddr.is_some_and(|a| a != t.laddr.as_bytes())
            || ctype.is_some_and(|ty| !type_matches(t, ty))
            || id.is_some_and(|i| i != cid)
            || (cid == c.id && skipme)
        {
            continue;
        }
        if cid == c.id {
            close_me = true;
        } else {
            srv.to_close.push(cid);
        }
        killed += 1;
    }
    if old_style {
        if killed == 0 {
            c.out.error("No such client");
        } else {
            c.out.ok();
        }
    } else {
        c.out.int(killed);
    }
    if close_me {
        c.closing = Closing::AfterReply;
    }
}

pub fn pause(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let mut kind = PauseKind::All;
    if args.len() == 4 {
        if eq_ic(args[3], "write") {
            kind = PauseKind::Write;
        } else if eq_ic(args[3], "all") {
            kind = PauseKind::All;
        } else {
            c.out.error("CLIENT PAUSE mode must be WRITE or ALL");
            return;
        }
    }
    let Some(ms) = parse_i64(args[2]) else {
        c.out.error("timeout is not an integer or out of range");
        return;
    };
    if ms < 0 {
        c.out.error("timeout is negative");
        return;
    }
    let end = crate::server::now_ms().saturating_add(ms);
    // A new pause extends the old one and keeps the stricter kind (as pauseClients).
    if srv.pause == PauseKind::None || end > srv.pause_end_ms {
        srv.pause_end_ms = end;
    }
    if srv.pause != PauseKind::All {
        srv.pause = kind;
    }
    c.out.ok();
}

pub fn unpause(srv: &mut Server, c: &mut Client, _: &[&[u8]]) {
    srv.unpause_clients();
    c.out.ok();
}

pub fn unblock(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if args.len() == 4 && !eq_ic(args[3], "timeout") && !eq_ic(args[3], "error") {
        c.out
            .error("CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
        return;
    }
    let Some(id) = parse_i64(args[2]) else {
        c.out.error(super::NOT_INT);
        return;
    };
    let how = if args.len() == 4 && eq_ic(args[3], "error") {
        crate::server::blocking::UnblockReply::Error
    } else {
        crate::server::blocking::UnblockReply::Timeout
    };
    let Some(&slot) = srv.client_ids.get(&(id as u64)) else {
        c.out.int(0);
        return;
    };
    let Some(mut target) = srv.clients[slot as usize].take() else {
        c.out.int(0);
        return;
    };
    let blocked = target.blocked.is_some();
    if blocked {
        srv.unblock_with(&mut target, how);
    }
    srv.clients[slot as usize] = Some(target);
    c.out.int(i64::from(blocked));
}

pub fn help(_: &mut Server, c: &mut Client, _: &[&[u8]]) {
    let lines = [
        "ID",
        "    The id of this connection.",
        "INFO",
        "    This connection, in the format of LIST.",
        "LIST [TYPE <type>|ID <id> [<id> ...]]",
        "    One line per connection: address, age, idle time, database, buffers, last command.",
        "KILL <ip:port> | KILL [ID <id>] [ADDR <ip:port>] [LADDR <ip:port>] [TYPE <type>] [USER <user>] [SKIPME yes|no]",
        "    Close the connections that match every given filter.",
        "SETNAME <name> | GETNAME",
        "    Name this connection (no spaces), or read the name back.",
        "REPLY ON|OFF|SKIP",
        "    Turn replies to this connection on or off, or drop the next one.",
        "PAUSE <milliseconds> [WRITE|ALL] | UNPAUSE",
        "    Hold back the commands of all clients (or only writes) for a while, or resume now.",
        "UNBLOCK <id> [TIMEOUT|ERROR]",
        "    Release a client blocked in a blocking command.",
        "NO-EVICT ON|OFF",
        "    Exempt this connection from client eviction.",
    ];
    super::reply_help(c, "CLIENT", &lines);
}
