//! Connection commands: PING, ECHO, QUIT, RESET, HELLO, AUTH, MONITOR.

use super::{SYNTAX, eq_ic};
use crate::config::P;
use crate::net::client::{Client, Closing, ReplyMode};
use crate::resp::parse_i64;
use crate::server::Server;

pub fn ping(_: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if args.len() > 2 {
        c.out.error("wrong number of arguments for 'ping' command");
        return;
    }
    // A RESP2 subscriber gets PONG as a pub/sub-shaped array.
    if c.out.resp == 2 && c.in_pubsub() {
        c.out.array(2);
        c.out.bulk(b"pong");
        c.out.bulk(args.get(1).copied().unwrap_or(b""));
        return;
    }
    if args.len() == 2 {
        c.out.bulk(args[1]);
    } else {
        c.out.simple("PONG");
    }
}

pub fn echo(_: &mut Server, c: &mut Client, args: &[&[u8]]) {
    c.out.bulk(args[1]);
}

pub fn quit(_: &mut Server, c: &mut Client, _: &[&[u8]]) {
    c.out.ok();
    c.closing = Closing::AfterReply;
}

pub fn reset(srv: &mut Server, c: &mut Client, _: &[&[u8]]) {
    c.multi = None;
    srv.unwatch_all(c.id);
    srv.unsubscribe_all(c, false);
    srv.punsubscribe_all(c, false);
    srv.sunsubscribe_all(c, false);
    c.db = 0;
    c.out.resp = 2;
    c.name = None;
    c.reply_mode = ReplyMode::On;
    c.no_evict = false;
    if c.monitor {
        c.monitor = false;
        srv.monitors.retain(|m| *m != c.id);
    }
    c.authenticated = srv.cfg.str(P::Requirepass).is_empty();
    c.out.simple("RESET");
}

/// Check a password for `user` against requirepass (the only user forkv has is `default`).
fn check_auth(srv: &Server, user: &[u8], pass: &[u8]) -> bool {
    let req = srv.cfg.str(P::Requirepass);
    user == b"default" && (req.is_empty() || req.as_bytes() == pass)
}

pub fn auth(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if args.len() > 3 {
        c.out.error(SYNTAX);
        return;
    }
    let (user, pass): (&[u8], &[u8]) = if args.len() == 2 {
        (b"default", args[1])
    } else {
        (args[1], args[2])
    };
    if args.len() == 2 && srv.cfg.str(P::Requirepass).is_empty() {
        c.out.error(
            "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        );
        return;
    }
    if check_auth(srv, user, pass) {
        c.authenticated = true;
        c.out.ok();
    } else {
        c.out
            .error("-WRONGPASS invalid username-password pair or user is disabled.");
    }
}

/// CLIENT SETNAME's rules: empty clears; only printable ASCII without spaces.
pub fn set_client_name(c: &mut Client, name: &[u8]) -> bool {
    if name.is_empty() {
        c.name = None;
        return true;
    }
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        c.out
            .error("Client names cannot contain spaces, newlines or special characters.");
        return false;
    }
    c.name = Some(name.to_vec());
    true
}

pub fn hello(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let mut ver = 0;
    let mut j = 1;
    if args.len() >= 2 {
        match parse_i64(args[1]) {
            None => {
                c.out
                    .error("Protocol version is not an integer or out of range");
                return;
            }
            Some(v) if !(2..=3).contains(&v) => {
                c.out.error("-NOPROTO unsupported protocol version");
                return;
            }
            Some(v) => ver = v,
        }
        j = 2;
    }
    while j < args.len() {
        let more = args.len() - 1 - j;
        if eq_ic(args[j], "auth") && more >= 2 {
            if !check_auth(srv, args[j + 1], args[j + 2]) {
                c.out
                    .error("-WRONGPASS invalid username-password pair or user is disabled.");
                return;
            }
            c.authenticated = true;
            j += 3;
        } else if eq_ic(args[j], "setname") && more >= 1 {
            if !set_client_name(c, args[j + 1]) {
                return;
            }
            j += 2;
        } else {
            c.out.error(&format!(
                "Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(args[j])
            ));
            return;
        }
    }
    if !c.authenticated {
        c.out.error("-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
        return;
    }
    if ver != 0 {
        c.out.resp = ver as u8;
    }
    c.out.map(7);
    c.out.bulk(b"server");
    c.out.bulk(b"redis");
    c.out.bulk(b"version");
    c.out.bulk(crate::server::VERSION.as_bytes());
    c.out.bulk(b"proto");
    c.out.int(c.out.resp as i64);
    c.out.bulk(b"id");
    c.out.int(c.id as i64);
    c.out.bulk(b"mode");
    c.out.bulk(b"standalone");
    c.out.bulk(b"role");
    c.out.bulk(b"master");
    c.out.bulk(b"modules");
    c.out.array(0);
}

pub fn monitor(srv: &mut Server, c: &mut Client, _: &[&[u8]]) {
    if c.monitor {
        return;
    }
    c.monitor = true;
    srv.monitors.push(c.id);
    c.out.ok();
}
