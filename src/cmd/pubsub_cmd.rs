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

/// The reply to an UN-SUBSCRIBE without arguments when nothing is subscribed; `count` is the
/// subscription count that kind reports.
fn reply_none(c: &mut Client, kind: &[u8], count: usize) {
    c.out.push(3);
    c.out.bulk(kind);
    c.out.null();
    c.out.int(count as i64);
}

pub fn unsubscribe(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if args.len() == 1 {
        if c.subs.is_empty() {
            let n = c.subscription_count();
            reply_none(c, b"unsubscribe", n);
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
            let n = c.subscription_count();
            reply_none(c, b"punsubscribe", n);
        } else {
            srv.punsubscribe_all(c, true);
        }
        return;
    }
    for p in &args[1..] {
        srv.punsubscribe(c, p, true);
    }
}

pub fn ssubscribe(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if srv.in_exec {
        c.out
            .error("SSUBSCRIBE isn't allowed for a DENY BLOCKING client");
        return;
    }
    for ch in &args[1..] {
        srv.ssubscribe(c, ch);
    }
}

pub fn sunsubscribe(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if args.len() == 1 {
        if c.ssubs.is_empty() {
            reply_none(c, b"sunsubscribe", 0);
        } else {
            srv.sunsubscribe_all(c, true);
        }
        return;
    }
    for ch in &args[1..] {
        srv.sunsubscribe(c, ch, true);
    }
}

pub fn spublish(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let n = srv.spublish(args[1], args[2]);
    c.out.int(n as i64);
}

pub fn publish(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let n = srv.publish(args[1], args[2]);
    c.out.int(n as i64);
}

pub fn channels(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    list_channels(c, &srv.pubsub.channels, args.get(2).copied());
}

/// Channel names matching an optional pattern.
fn list_channels(
    c: &mut Client,
    chans: &std::collections::HashMap<Vec<u8>, Vec<u64>>,
    pat: Option<&[u8]>,
) {
    let list: Vec<&Vec<u8>> = chans
        .keys()
        .filter(|ch| pat.is_none_or(|p| glob_match(p, ch, false)))
        .collect();
    c.out.array(list.len());
    for ch in list {
        c.out.bulk(ch);
    }
}

/// Subscriber counts as a flat array of name, count (Redis 7.0 replies an array, not a map).
fn counts(c: &mut Client, chans: &std::collections::HashMap<Vec<u8>, Vec<u64>>, names: &[&[u8]]) {
    c.out.array(names.len() * 2);
    for ch in names {
        c.out.bulk(ch);
        c.out.int(chans.get(*ch).map_or(0, |v| v.len()) as i64);
    }
}

pub fn numsub(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    counts(c, &srv.pubsub.channels, &args[2..]);
}

pub fn shardchannels(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    list_channels(c, &srv.pubsub.shard_channels, args.get(2).copied());
}

pub fn shardnumsub(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    counts(c, &srv.pubsub.shard_channels, &args[2..]);
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
            "SHARDCHANNELS [<pattern>]",
            "    Active shard channels, optionally only those matching the pattern.",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Subscriber count of each given shard channel.",
        ],
    );
}
