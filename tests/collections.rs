//! Several clients against the real forkv-server: blocking pops (timeouts, FIFO order,
//! wake-ups from transactions, CLIENT UNBLOCK, keys deleted or retyped, disconnects), pub/sub
//! (RESP2 and RESP3, subscribed-mode rules, keyspace events, the pubsub output limit) and
//! transactions (EXECABORT, no rollback, WATCH).

mod common;
use common::*;
use std::time::{Duration, Instant};

fn arr(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(|s| bulk(s)).collect())
}

/// An integer field of INFO.
fn info_int(c: &mut Conn, section: &str, field: &str) -> i64 {
    let info = c.cmd(&["INFO", section]).bulk_str();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
}

#[test]
fn blocking_pop_times_out_with_subsecond_resolution() {
    let s = start_forkv(&[]);
    let mut c = s.conn();
    let t = Instant::now();
    assert_eq!(c.cmd(&["BLPOP", "nothing", "0.2"]), Reply::NilArray);
    let took = t.elapsed();
    // The timeout elapsed (no upper bound: timing limits do not belong in tests).
    assert!(took >= Duration::from_millis(190), "{took:?}");
    assert_eq!(
        c.cmd(&["BLPOP", "nothing", "-1"]),
        err("ERR timeout is negative")
    );
    assert_eq!(
        c.cmd(&["BLPOP", "nothing", "abc"]),
        err("ERR timeout is not a float or out of range")
    );
}

#[test]
fn blocked_clients_are_served_first_come_first_served() {
    let s = start_forkv(&[]);
    let mut first = s.conn();
    let mut second = s.conn();
    let mut admin = s.conn();
    first.send(&["BRPOP", "q", "0"]);
    wait_blocked(&mut admin, 1);
    second.send(&["BRPOP", "q", "0"]);
    wait_blocked(&mut admin, 2);
    assert_eq!(admin.cmd(&["LPUSH", "q", "one"]), Reply::Int(1));
    assert_eq!(first.read(), arr(&["q", "one"]));
    wait_blocked(&mut admin, 1);
    assert_eq!(admin.cmd(&["LPUSH", "q", "two", "three"]), Reply::Int(2));
    assert_eq!(second.read(), arr(&["q", "two"]));
    assert_eq!(admin.cmd(&["LRANGE", "q", "0", "-1"]), arr(&["three"]));
    // Commands pipelined behind a blocking one wait for it.
    first.send(&["BLPOP", "w", "0"]);
    first.send(&["PING"]);
    wait_blocked(&mut admin, 1);
    admin.cmd(&["RPUSH", "w", "x"]);
    assert_eq!(first.read(), arr(&["w", "x"]));
    assert_eq!(first.read(), status("PONG"));
}

#[test]
fn a_transaction_push_wakes_waiters_and_blocking_inside_multi_does_not_block() {
    let s = start_forkv(&[]);
    let mut waiter = s.conn();
    let mut w = s.conn();
    waiter.send(&["BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"]);
    wait_blocked(&mut w, 1);
    assert_eq!(w.cmd(&["MULTI"]), status("OK"));
    assert_eq!(w.cmd(&["RPUSH", "src", "a", "b"]), status("QUEUED"));
    assert_eq!(w.cmd(&["LPOP", "src"]), status("QUEUED"));
    assert_eq!(w.cmd(&["BLPOP", "empty", "0"]), status("QUEUED"));
    assert_eq!(
        w.cmd(&["EXEC"]),
        Reply::Array(vec![Reply::Int(2), bulk("a"), Reply::NilArray])
    );
    // The waiter is served after the whole transaction: it gets the element left.
    assert_eq!(waiter.read(), bulk("b"));
    assert_eq!(w.cmd(&["LRANGE", "dst", "0", "-1"]), arr(&["b"]));
}

#[test]
fn waiters_survive_deletion_and_retyping_and_client_unblock_releases_them() {
    let s = start_forkv(&[]);
    let mut waiter = s.conn();
    let mut c = s.conn();
    let id = waiter.cmd(&["CLIENT", "ID"]).int().to_string();
    waiter.send(&["BLPOP", "k", "0"]);
    wait_blocked(&mut c, 1);
    // A push deleted in the same transaction, then a string under the key: nobody is served.
    c.cmd(&["MULTI"]);
    c.cmd(&["LPUSH", "k", "x"]);
    c.cmd(&["DEL", "k"]);
    c.cmd(&["SET", "k", "str"]);
    c.cmd(&["EXEC"]);
    wait_blocked(&mut c, 1);
    c.cmd(&["DEL", "k"]);
    c.cmd(&["RPUSH", "k", "y"]);
    assert_eq!(waiter.read(), arr(&["k", "y"]));
    // CLIENT UNBLOCK: TIMEOUT answers as a timeout, ERROR with -UNBLOCKED.
    waiter.send(&["BZPOPMIN", "z", "0"]);
    wait_blocked(&mut c, 1);
    assert_eq!(c.cmd(&["CLIENT", "UNBLOCK", &id]), Reply::Int(1));
    assert_eq!(waiter.read(), Reply::NilArray);
    waiter.send(&["BLPOP", "k", "0"]);
    wait_blocked(&mut c, 1);
    assert_eq!(c.cmd(&["CLIENT", "UNBLOCK", &id, "ERROR"]), Reply::Int(1));
    assert_eq!(
        waiter.read(),
        err("UNBLOCKED client unblocked via CLIENT UNBLOCK")
    );
    assert_eq!(c.cmd(&["CLIENT", "UNBLOCK", &id]), Reply::Int(0));
    // A blocked client that disconnects is forgotten: the next push stays in the list.
    waiter.send(&["BLPOP", "gone", "0"]);
    wait_blocked(&mut c, 1);
    drop(waiter);
    wait_blocked(&mut c, 0);
    c.cmd(&["RPUSH", "gone", "v"]);
    assert_eq!(c.cmd(&["LRANGE", "gone", "0", "-1"]), arr(&["v"]));
}

#[test]
fn pubsub_in_resp2_and_resp3() {
    let s = start_forkv(&[]);
    let mut sub = s.conn();
    let mut p3 = s.conn();
    let mut publisher = s.conn();
    assert_eq!(
        sub.cmd(&["SUBSCRIBE", "news", "sport"]),
        Reply::Array(vec![bulk("subscribe"), bulk("news"), Reply::Int(1)])
    );
    assert_eq!(
        sub.read(),
        Reply::Array(vec![bulk("subscribe"), bulk("sport"), Reply::Int(2)])
    );
    assert_eq!(
        sub.cmd(&["GET", "x"]),
        err(
            "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
        )
    );
    assert_eq!(sub.cmd(&["PING"]), arr(&["pong", ""]));
    p3.cmd(&["HELLO", "3"]);
    assert_eq!(
        p3.cmd(&["PSUBSCRIBE", "n*"]),
        Reply::Push(vec![bulk("psubscribe"), bulk("n*"), Reply::Int(1)])
    );
    // A RESP3 subscriber may still run commands.
    assert_eq!(p3.cmd(&["SET", "x", "1"]), status("OK"));
    assert_eq!(publisher.cmd(&["PUBLISH", "news", "hello"]), Reply::Int(2));
    assert_eq!(sub.read(), arr(&["message", "news", "hello"]));
    assert_eq!(
        p3.read(),
        Reply::Push(vec![
            bulk("pmessage"),
            bulk("n*"),
            bulk("news"),
            bulk("hello")
        ])
    );
    assert_eq!(
        publisher.cmd(&["PUBSUB", "NUMSUB", "news", "none"]),
        Reply::Array(vec![
            bulk("news"),
            Reply::Int(1),
            bulk("none"),
            Reply::Int(0)
        ])
    );
    assert_eq!(publisher.cmd(&["PUBSUB", "NUMPAT"]), Reply::Int(1));
    assert_eq!(
        sub.cmd(&["UNSUBSCRIBE", "news"]),
        Reply::Array(vec![bulk("unsubscribe"), bulk("news"), Reply::Int(1)])
    );
    assert_eq!(publisher.cmd(&["PUBLISH", "news", "again"]), Reply::Int(1));
}

#[test]
fn keyspace_notifications_reach_subscribers() {
    let s = start_forkv(&[]);
    let mut sub = s.conn();
    let mut c = s.conn();
    c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "notify-keyspace-events"]),
        arr(&["notify-keyspace-events", "AKE"])
    );
    sub.cmd(&["PSUBSCRIBE", "__key*@0__:*"]);
    c.cmd(&["RPUSH", "l", "a"]);
    c.cmd(&["HSET", "h", "f", "v"]);
    c.cmd(&["ZADD", "z", "1", "m"]);
    c.cmd(&["LPOP", "l"]);
    let mut got = Vec::new();
    for _ in 0..10 {
        match sub.read() {
            Reply::Array(v) => got.push(format!("{} {}", v[2].bulk_str(), v[3].bulk_str())),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        got,
        vec![
            "__keyspace@0__:l rpush",
            "__keyevent@0__:rpush l",
            "__keyspace@0__:h hset",
            "__keyevent@0__:hset h",
            "__keyspace@0__:z zadd",
            "__keyevent@0__:zadd z",
            "__keyspace@0__:l lpop",
            "__keyevent@0__:lpop l",
            "__keyspace@0__:l del",
            "__keyevent@0__:del l",
        ]
    );
    // Expired events: a key that expires while no one touches it.
    c.cmd(&["SET", "t", "v", "PX", "1"]);
    let mut saw_expired = false;
    for _ in 0..6 {
        if let Reply::Array(v) = sub.read()
            && v[2].bulk_str() == "__keyevent@0__:expired"
        {
            assert_eq!(v[3].bulk_str(), "t");
            saw_expired = true;
            break;
        }
    }
    assert!(saw_expired);
}

#[test]
fn a_slow_subscriber_is_disconnected_at_the_pubsub_output_limit() {
    let s = start_forkv(&[]);
    let mut c = s.conn();
    c.cmd(&[
        "CONFIG",
        "SET",
        "client-output-buffer-limit",
        "pubsub 256kb 0 0",
    ]);
    let mut slow = s.conn();
    slow.cmd(&["SUBSCRIBE", "firehose"]);
    // The subscriber never reads; the kernel's socket buffers fill, then its output grows.
    let payload = "x".repeat(64 * 1024);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        c.cmd(&["PUBLISH", "firehose", &payload]);
        let n = c.cmd(&["PUBSUB", "NUMSUB", "firehose"]);
        if n == Reply::Array(vec![bulk("firehose"), Reply::Int(0)]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "slow subscriber never disconnected"
        );
    }
    let info = c.cmd(&["INFO", "stats"]).bulk_str();
    assert!(
        info.contains("client_output_buffer_limit_disconnections:1"),
        "{info}"
    );
}

#[test]
fn transactions_abort_on_queue_errors_and_do_not_roll_back() {
    let s = start_forkv(&[]);
    let mut c = s.conn();
    c.cmd(&["MULTI"]);
    assert_eq!(c.cmd(&["SET", "a", "1"]), status("QUEUED"));
    assert_eq!(
        c.cmd(&["NOSUCH"]),
        err("ERR unknown command 'NOSUCH', with args beginning with: ")
    );
    assert_eq!(
        c.cmd(&["EXEC"]),
        err("EXECABORT Transaction discarded because of previous errors.")
    );
    assert_eq!(c.cmd(&["GET", "a"]), Reply::Nil);
    c.cmd(&["SET", "s", "str"]);
    c.cmd(&["MULTI"]);
    c.cmd(&["SET", "a", "1"]);
    c.cmd(&["LPUSH", "s", "x"]);
    c.cmd(&["INCR", "a"]);
    assert_eq!(
        c.cmd(&["EXEC"]),
        Reply::Array(vec![
            status("OK"),
            err("WRONGTYPE Operation against a key holding the wrong kind of value"),
            Reply::Int(2)
        ])
    );
    assert_eq!(c.cmd(&["EXEC"]), err("ERR EXEC without MULTI"));
    assert_eq!(c.cmd(&["DISCARD"]), err("ERR DISCARD without MULTI"));
    c.cmd(&["MULTI"]);
    assert_eq!(c.cmd(&["MULTI"]), err("ERR MULTI calls can not be nested"));
    assert_eq!(
        c.cmd(&["WATCH", "x"]),
        err("ERR WATCH inside MULTI is not allowed")
    );
    assert_eq!(c.cmd(&["DISCARD"]), status("OK"));
}

#[test]
fn watch_is_broken_by_changes_from_others_flush_swapdb_and_expiry() {
    let s = start_forkv(&[]);
    let mut a = s.conn();
    let mut b = s.conn();
    let exec_after = |a: &mut Conn, b: &mut Conn, setup: &[&str], other: &[&str]| -> Reply {
        a.cmd(&["SELECT", "0"]);
        if !setup.is_empty() {
            a.cmd(setup);
        }
        a.cmd(&["WATCH", "k"]);
        b.cmd(other);
        a.cmd(&["MULTI"]);
        a.cmd(&["PING"]);
        a.cmd(&["EXEC"])
    };
    let ok = Reply::Array(vec![status("PONG")]);
    assert_eq!(
        exec_after(&mut a, &mut b, &["SET", "k", "1"], &["SET", "other", "1"]),
        ok
    );
    assert_eq!(
        exec_after(&mut a, &mut b, &["SET", "k", "1"], &["SET", "k", "2"]),
        Reply::NilArray
    );
    assert_eq!(
        exec_after(&mut a, &mut b, &["SET", "k", "1"], &["FLUSHALL"]),
        Reply::NilArray
    );
    b.cmd(&["SELECT", "1"]);
    b.cmd(&["SET", "k", "in-db1"]);
    assert_eq!(
        exec_after(&mut a, &mut b, &[], &["SWAPDB", "0", "1"]),
        Reply::NilArray
    );
    b.cmd(&["SELECT", "0"]);
    assert_eq!(
        exec_after(&mut a, &mut b, &["SET", "k", "1"], &["RENAME", "k", "k2"]),
        Reply::NilArray
    );
    // A key that expires between WATCH and EXEC fails the transaction.
    a.cmd(&["SET", "k", "v", "PX", "50"]);
    a.cmd(&["WATCH", "k"]);
    std::thread::sleep(Duration::from_millis(120));
    a.cmd(&["MULTI"]);
    a.cmd(&["PING"]);
    assert_eq!(a.cmd(&["EXEC"]), Reply::NilArray);
}

#[test]
fn maxmemory_evicts_with_events_and_refuses_writes_under_noeviction() {
    let s = start_forkv(&[]);
    let mut c = s.conn();
    let mut sub = s.conn();
    c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Ee"]);
    sub.cmd(&["SUBSCRIBE", "__keyevent@0__:evicted"]);
    let used = info_int(&mut c, "memory", "used_memory");
    let limit = (used + 2 * 1024 * 1024).to_string();
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory", &limit]), status("OK"));
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]),
        status("OK")
    );
    let value = "v".repeat(1000);
    for i in 0..5000 {
        assert_eq!(c.cmd(&["SET", &format!("key:{i}"), &value]), status("OK"));
    }
    // Lift the limit so that the counts below stay still (any command may evict first).
    c.cmd(&["CONFIG", "SET", "maxmemory", "0"]);
    let evicted = info_int(&mut c, "stats", "evicted_keys");
    assert!(evicted > 0);
    assert_eq!(c.cmd(&["DBSIZE"]).int() + evicted, 5000);
    match sub.read() {
        Reply::Array(v) => assert_eq!(v[0], bulk("message")),
        other => panic!("{other:?}"),
    }
    // The newest key survived approximated LRU.
    assert_eq!(c.cmd(&["GET", "key:4999"]), bulk(&value));
    // noeviction: writes that may grow memory are refused, reads still work.
    c.cmd(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    c.cmd(&["CONFIG", "SET", "maxmemory", "1"]);
    assert_eq!(
        c.cmd(&["SET", "more", "x"]),
        err("OOM command not allowed when used memory > 'maxmemory'.")
    );
    assert_eq!(c.cmd(&["GET", "key:4999"]), bulk(&value));
    assert_eq!(c.cmd(&["MULTI"]), status("OK"));
    assert_eq!(
        c.cmd(&["SET", "more", "x"]),
        err("OOM command not allowed when used memory > 'maxmemory'.")
    );
    assert_eq!(
        c.cmd(&["EXEC"]),
        err("EXECABORT Transaction discarded because of previous errors.")
    );
    assert_eq!(c.cmd(&["DEL", "key:4999"]), Reply::Int(1));
}

#[test]
fn sharded_pubsub_matches_redis() {
    let Some(redis) = start_redis(&[]) else {
        return;
    };
    let forkv = start_forkv(&[]);
    let script = |srv: &ServerProc| -> Vec<Reply> {
        let mut sub = srv.conn();
        let mut p = srv.conn();
        let mut got = vec![
            sub.cmd(&["SSUBSCRIBE", "a", "b"]),
            sub.read(),
            sub.cmd(&["SSUBSCRIBE", "a"]),
            sub.cmd(&["GET", "x"]),
            p.cmd(&["SPUBLISH", "a", "hi"]),
            sub.read(),
            p.cmd(&["PUBLISH", "a", "not-shard"]),
            p.cmd(&["PUBSUB", "SHARDNUMSUB", "a", "zz"]),
            p.cmd(&["PUBSUB", "SHARDCHANNELS", "a*"]),
            p.cmd(&["PUBSUB", "NUMSUB", "a"]),
            sub.cmd(&["SUNSUBSCRIBE", "b"]),
            sub.cmd(&["SUNSUBSCRIBE"]),
            sub.cmd(&["SUNSUBSCRIBE"]),
            p.cmd(&["SPUBLISH", "a", "gone"]),
        ];
        p.cmd(&["MULTI"]);
        p.cmd(&["SSUBSCRIBE", "c"]);
        got.push(p.cmd(&["EXEC"]));
        got
    };
    assert_eq!(script(&forkv), script(&redis));
}

#[test]
fn blocked_and_subscribed_clients_outlive_the_idle_timeout() {
    let s = start_forkv(&["--timeout", "1"]);
    let mut blocked = s.conn();
    let mut sub = s.conn();
    let mut idle = s.conn();
    let mut c = s.conn();
    idle.cmd(&["PING"]);
    blocked.send(&["BLPOP", "q", "0"]);
    wait_blocked(&mut c, 1);
    sub.cmd(&["SUBSCRIBE", "ch"]);
    std::thread::sleep(Duration::from_millis(2500));
    // The idle client was closed; the blocked one is still waiting, the subscriber listening.
    assert!(idle.is_closed());
    let mut c = s.conn();
    c.cmd(&["RPUSH", "q", "v"]);
    assert_eq!(blocked.read(), arr(&["q", "v"]));
    assert_eq!(c.cmd(&["PUBLISH", "ch", "m"]), Reply::Int(1));
    assert_eq!(sub.read(), arr(&["message", "ch", "m"]));
}
