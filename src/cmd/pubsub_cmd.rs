//! SUBSCRIBE, PSUBSCRIBE, their UN- forms, PUBLISH and PUBSUB.

use crate::config::glob_match;
use crate::net::client::Client;
use crate::server::Server;

pub fn subscribe(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    for ch in &args[1..] {
        srv.subscribe(c, ch);
    }
}

pub fn psubscribe(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    for p in &args[1..] {
        srv.psubscribe(c, p);
    }
}

/// The reply to an UNSUBSCRIBE/PUNSUBSCRIBE without arguments when nothing is subscribed.
fn reply_none(c: &mut Client, kind: &[u8]) {
    c.out.push(3);
    c.out.bulk(kind);
    c.out.null();
    c.out.int(c.subscription_count() as i64);
}

pub fn unsubscribe(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if args.len() == 1 {
        if c.subs.is_empty() {
            reply_none(c, b"unsubscribe");
        } else {
            srv.unsubscribe_all(c, true);
        }
        return;
    }
    for ch in &args[1..] {
        srv.unsubscribe(c, ch, true);
    }
}

pub fn punsubscribe(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if args.len() == 1 {
        if c.psubs.is_empty() {
            reply_none(c, b"punsubscribe");
        } else {
            srv.punsubscribe_all(c, true);
        }
        return;
    }
    for p in &args[1..] {
        srv.punsubscribe(c, p, true);
    }
}

pub fn publish(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let n = srv.publish(args[1], args[2]);
    c.out.int(n as i64);
}

pub fn channels(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let pat = args.get(2).copied();
    let list: Vec<&Vec<u8>> = srv
        .pubsub
        .channels
        .keys()
        .filter(|ch| pat.is_none_or(|p| glob_match(p, ch, false)))
        .collect();
    c.out.array(list.len());
    for ch in list {
        c.out.bulk(ch);
    }
}

pub fn numsub(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    c.out.map(args.len() - 2);
    for ch in &args[2..] {
        c.out.bulk(ch);
        c.out
            .int(srv.pubsub.channels.get(*ch).map_or(0, |v| v.len()) as i64);
    }
}

pub fn numpat(srv: &mut Server, c: &mut Client, _: &[&[u8]]) {
    c.out.int(srv.pubsub.patterns.len() as i64);
}

pub fn help(_: &mut Server, c: &mut Client, _: &[&[u8]]) {
    super::reply_help(
        c,
        "PUBSUB",
        &[
            "CHANNELS [<pattern>]",
            "    Active channels (with at least one subscriber), optionally only those matching the pattern.",
            "NUMPAT",
            "    Number of subscribed patterns (across all clients).",
            "NUMSUB [<channel> ...]",
            "    Subscriber count of each given channel.",
        ],
    );
}
