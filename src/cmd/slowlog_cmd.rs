//! SLOWLOG GET / LEN / RESET / HELP.

use crate::net::client::Client;
use crate::resp::parse_i64;
use crate::server::Server;

const COUNT_ERR: &str = "count should be greater than or equal to -1";

pub fn get(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let mut count = 10usize;
    if args.len() == 3 {
        match parse_i64(args[2]) {
            Some(-1) => count = usize::MAX,
            Some(n) if n >= 0 => count = n as usize,
            _ => {
                c.out.error(COUNT_ERR);
                return;
            }
        }
    }
    let entries: Vec<_> = srv.slowlog.entries.iter().take(count).collect();
    c.out.array(entries.len());
    for e in entries {
        c.out.array(6);
        c.out.int(e.id as i64);
        c.out.int(e.time);
        c.out.int(e.duration_us as i64);
        c.out.array(e.argv.len());
        for a in &e.argv {
            c.out.bulk(a);
        }
        c.out.bulk(e.peer.as_bytes());
        c.out.bulk(&e.name);
    }
}

pub fn len(srv: &mut Server, c: &mut Client, _: &[&[u8]]) {
    c.out.int(srv.slowlog.entries.len() as i64);
}

pub fn reset(srv: &mut Server, c: &mut Client, _: &[&[u8]]) {
    srv.slowlog.reset();
    c.out.ok();
}

pub fn help(_: &mut Server, c: &mut Client, _: &[&[u8]]) {
    let lines = [
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "    Entries are made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name",
        "LEN",
        "    Return the length of the slowlog.",
        "RESET",
        "    Reset the slowlog.",
    ];
    super::reply_help(c, "SLOWLOG", &lines);
}
