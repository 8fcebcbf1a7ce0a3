//! In-process tests of command execution: a real `Server` (ring and all, no listener) and a
//! client whose replies and propagated effects the tests read directly.

use super::Server;
use crate::config::Config;
use crate::net::client::Client;

pub fn test_server() -> Server {
    let cfg = Config::from_args(&["--port".into(), "0".into()]).unwrap();
    let mut s = Server::new(cfg, "test".into()).expect("server");
    s.prop.keep_stream = true;
    s
}

pub fn test_client() -> Client {
    let fd = std::fs::File::open("/dev/null").unwrap();
    let mut c = Client::new(
        1,
        0,
        0,
        fd.into(),
        "127.0.0.1:1".into(),
        "127.0.0.1:2".into(),
        0,
    );
    c.authenticated = true;
    c
}

/// Run one command; return its reply bytes.
pub fn run(s: &mut Server, c: &mut Client, cmd: &str) -> String {
    let args: Vec<Vec<u8>> = crate::resp::split_args(cmd.as_bytes()).unwrap();
    let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
    let before = c.out.buf.len();
    s.execute(c, &refs);
    String::from_utf8_lossy(&c.out.buf[before..]).into_owned()
}

/// The propagated stream since the last call, as one command per line ("SET k v").
pub fn take_effects(s: &mut Server) -> Vec<String> {
    let bytes = std::mem::take(&mut s.prop.stream);
    let mut p = crate::resp::RequestParser::default();
    let mut pos = 0;
    let mut out = Vec::new();
    let lim = crate::resp::ParseLimits {
        proto_max_bulk_len: i64::MAX,
        authenticated: true,
    };
    while p.parse(&bytes, &mut pos, lim) == crate::resp::Parsed::Command {
        let mut a = Vec::new();
        p.args(&bytes, &mut a);
        out.push(
            a.iter()
                .map(|x| String::from_utf8_lossy(x).into_owned())
                .collect::<Vec<_>>()
                .join(" "),
        );
        p.reset();
    }
    out
}

fn abs_ms_in(line: &str, prefix: &str) -> i64 {
    line.strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{line:?} does not start with {prefix:?}"))
        .parse()
        .unwrap()
}

#[test]
fn relative_expiry_propagates_as_absolute() {
    let mut s = test_server();
    let mut c = test_client();
    let now = super::now_ms();
    run(&mut s, &mut c, "SET k v EX 100");
    run(&mut s, &mut c, "EXPIRE k 200");
    run(&mut s, &mut c, "SETEX j 10 v");
    run(&mut s, &mut c, "GETEX j PX 5000");
    let e = take_effects(&mut s);
    assert_eq!(e[0], "SELECT 0");
    let t = abs_ms_in(&e[1], "SET k v PXAT ");
    assert!((now + 100_000..now + 101_000).contains(&t), "{t}");
    let t = abs_ms_in(&e[2], "PEXPIREAT k ");
    assert!((now + 200_000..now + 201_000).contains(&t));
    assert!(e[3].starts_with("SET j v PXAT "));
    let t = abs_ms_in(&e[4], "PEXPIREAT j ");
    assert!((now + 5_000..now + 6_000).contains(&t));
    assert_eq!(e.len(), 5);
}

#[test]
fn effects_not_commands() {
    let mut s = test_server();
    let mut c = test_client();
    run(&mut s, &mut c, "SET k 1.5");
    run(&mut s, &mut c, "INCRBYFLOAT k 1");
    run(&mut s, &mut c, "SET k v GET");
    run(&mut s, &mut c, "GETSET k w");
    run(&mut s, &mut c, "GETDEL k");
    run(&mut s, &mut c, "GET k");
    run(&mut s, &mut c, "GETDEL k");
    run(&mut s, &mut c, "SET a 1");
    run(&mut s, &mut c, "EXPIREAT a 1");
    let e = take_effects(&mut s);
    assert_eq!(
        e,
        [
            "SELECT 0",
            "SET k 1.5",
            "SET k 2.5 KEEPTTL",
            "SET k v",
            "SET k w",
            "DEL k",
            "SET a 1",
            "DEL a"
        ]
    );
}

#[test]
fn lazy_expiry_deletes_before_the_command_in_a_transaction() {
    let mut s = test_server();
    let mut c = test_client();
    run(&mut s, &mut c, "SET k v PX 1");
    std::thread::sleep(std::time::Duration::from_millis(5));
    take_effects(&mut s);
    assert_eq!(run(&mut s, &mut c, "GET k"), "$-1\r\n");
    assert_eq!(take_effects(&mut s), ["DEL k"]);
    run(&mut s, &mut c, "SET k2 v PX 1");
    std::thread::sleep(std::time::Duration::from_millis(5));
    take_effects(&mut s);
    run(&mut s, &mut c, "SET k2 new");
    assert_eq!(
        take_effects(&mut s),
        ["MULTI", "DEL k2", "SET k2 new", "EXEC"]
    );
}

#[test]
fn select_follows_the_database_and_failed_commands_propagate_nothing() {
    let mut s = test_server();
    let mut c = test_client();
    run(&mut s, &mut c, "SET a 1");
    run(&mut s, &mut c, "SELECT 3");
    run(&mut s, &mut c, "SET b 2");
    run(&mut s, &mut c, "INCR nonnum");
    run(&mut s, &mut c, "SET x abc");
    run(&mut s, &mut c, "INCR x");
    run(&mut s, &mut c, "DEL nosuch");
    run(&mut s, &mut c, "SETNX b 3");
    let e = take_effects(&mut s);
    assert_eq!(
        e,
        [
            "SELECT 0",
            "SET a 1",
            "SELECT 3",
            "SET b 2",
            "INCR nonnum",
            "SET x abc"
        ]
    );
}

#[test]
fn active_expiry_propagates_plain_dels() {
    let mut s = test_server();
    let mut c = test_client();
    for i in 0..5 {
        run(&mut s, &mut c, &format!("SET k{i} v PX 1"));
    }
    std::thread::sleep(std::time::Duration::from_millis(5));
    take_effects(&mut s);
    s.active_expire_cycle(crate::db::expire::CycleKind::Slow);
    let mut e = take_effects(&mut s);
    e.sort();
    assert_eq!(e, ["DEL k0", "DEL k1", "DEL k2", "DEL k3", "DEL k4"]);
    assert_eq!(s.dbs[0].dict.len(), 0);
}

/// A client registered in the server's slots (so blocked-client wake-ups can find it), with
/// the given id.
fn registered_client(s: &mut Server, id: u64) -> u32 {
    let mut c = test_client();
    c.id = id;
    let slot = s.clients.len() as u32;
    c.slot = slot;
    s.clients.push(Some(Box::new(c)));
    s.generations.push(0);
    s.client_ids.insert(id, slot);
    slot
}

/// Run a command as a registered client (taken out of its slot while it runs, as the loop
/// does); return its new output.
fn run_as(s: &mut Server, slot: u32, cmd: &str) -> String {
    let mut c = s.clients[slot as usize].take().expect("registered");
    let out = run(s, &mut c, cmd);
    s.clients[slot as usize] = Some(c);
    out
}

fn output_of(s: &mut Server, slot: u32) -> String {
    let c = s.clients[slot as usize].as_mut().expect("registered");
    let out = String::from_utf8_lossy(&c.out.buf).into_owned();
    c.out.buf.clear();
    out
}

#[test]
fn spop_propagates_as_srem_and_whole_set_as_del() {
    let mut s = test_server();
    let mut c = test_client();
    run(&mut s, &mut c, "SADD s a b c d e");
    take_effects(&mut s);
    let popped = run(&mut s, &mut c, "SPOP s");
    let member = popped.lines().nth(1).unwrap().to_string();
    assert_eq!(take_effects(&mut s), vec![format!("SREM s {member}")]);
    run(&mut s, &mut c, "SPOP s 2");
    let e = take_effects(&mut s);
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("SREM s ") && e[0].split(' ').count() == 4,
        "{e:?}"
    );
    run(&mut s, &mut c, "SPOP s 10");
    assert_eq!(take_effects(&mut s), vec!["DEL s"]);
}

#[test]
fn blocked_pop_served_later_propagates_as_pop_after_the_push() {
    let mut s = test_server();
    let waiter = registered_client(&mut s, 10);
    let pusher = registered_client(&mut s, 11);
    assert_eq!(run_as(&mut s, waiter, "BLPOP q 0"), "");
    assert!(
        s.clients[waiter as usize]
            .as_ref()
            .unwrap()
            .blocked
            .is_some()
    );
    run_as(&mut s, pusher, "RPUSH q a b");
    assert_eq!(output_of(&mut s, waiter), "*2\r\n$1\r\nq\r\n$1\r\na\r\n");
    assert!(
        s.clients[waiter as usize]
            .as_ref()
            .unwrap()
            .blocked
            .is_none()
    );
    assert_eq!(
        take_effects(&mut s),
        vec!["SELECT 0", "RPUSH q a b", "LPOP q"]
    );
    // BLMOVE served later is LMOVE; inside MULTI a blocking pop acts as non-blocking.
    run_as(&mut s, waiter, "BLMOVE src dst LEFT RIGHT 0");
    run_as(&mut s, pusher, "LPUSH src x");
    assert_eq!(output_of(&mut s, waiter), "$1\r\nx\r\n");
    assert_eq!(
        take_effects(&mut s),
        vec!["LPUSH src x", "LMOVE src dst LEFT RIGHT"]
    );
    run_as(&mut s, pusher, "MULTI");
    run_as(&mut s, pusher, "BLPOP empty 0");
    let out = run_as(&mut s, pusher, "EXEC");
    assert!(out.ends_with("*1\r\n*-1\r\n"), "{out:?}");
}

#[test]
fn a_push_in_a_transaction_wakes_the_waiter_after_exec() {
    let mut s = test_server();
    let waiter = registered_client(&mut s, 20);
    let writer = registered_client(&mut s, 21);
    run_as(&mut s, waiter, "BZPOPMIN z 0");
    run_as(&mut s, writer, "MULTI");
    run_as(&mut s, writer, "ZADD z 1 a 2 b");
    run_as(&mut s, writer, "SET k v");
    assert_eq!(output_of(&mut s, waiter), "");
    run_as(&mut s, writer, "EXEC");
    assert_eq!(
        output_of(&mut s, waiter),
        "*3\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\n1\r\n"
    );
    assert_eq!(
        take_effects(&mut s),
        vec![
            "SELECT 0",
            "MULTI",
            "ZADD z 1 a 2 b",
            "SET k v",
            "EXEC",
            "ZPOPMIN z"
        ]
    );
}

#[test]
fn watch_fails_exec_after_another_client_touches_the_key() {
    let mut s = test_server();
    let a = registered_client(&mut s, 30);
    let b = registered_client(&mut s, 31);
    run_as(&mut s, a, "WATCH k");
    run_as(&mut s, a, "MULTI");
    run_as(&mut s, a, "INCR k");
    run_as(&mut s, b, "LPUSH k x");
    assert_eq!(run_as(&mut s, a, "EXEC"), "*-1\r\n");
    // Untouched: the transaction runs; its effects are wrapped once.
    run_as(&mut s, a, "WATCH other");
    run_as(&mut s, a, "MULTI");
    run_as(&mut s, a, "SET x 1");
    run_as(&mut s, a, "SADD y m");
    take_effects(&mut s);
    assert_eq!(run_as(&mut s, a, "EXEC"), "*2\r\n+OK\r\n:1\r\n");
    assert_eq!(
        take_effects(&mut s),
        vec!["MULTI", "SET x 1", "SADD y m", "EXEC"]
    );
}

#[test]
fn a_keyspace_event_is_stamped_after_the_write_that_caused_it() {
    let mut s = test_server();
    let sub = registered_client(&mut s, 40);
    let writer = registered_client(&mut s, 41);
    run_as(&mut s, writer, "CONFIG SET notify-keyspace-events KA");
    run_as(&mut s, sub, "SUBSCRIBE __keyspace@0__:k");
    run_as(&mut s, writer, "SET k v");
    // The message may only leave once the SET it reports is as durable as the SET's reply.
    let c = s.clients[sub as usize].as_ref().unwrap();
    let (end, stamp) = *c.marks.back().unwrap();
    assert_eq!(end, c.out.buf.len(), "the message is covered by a mark");
    assert_eq!(
        stamp, s.prop.offset,
        "stamped with the offset that includes the SET"
    );
    assert!(String::from_utf8_lossy(&c.out.buf).ends_with("$3\r\nset\r\n"));
}

#[test]
fn script_effects_propagate_as_one_transaction_not_as_eval() {
    let mut s = test_server();
    let mut c = test_client();
    let two = "EVAL \"redis.call('set',KEYS[1],'1') redis.call('incr',KEYS[1]) return redis.call('get',KEYS[1])\" 1 k";
    assert_eq!(run(&mut s, &mut c, two), "$1\r\n2\r\n");
    assert_eq!(
        take_effects(&mut s),
        ["SELECT 0", "MULTI", "set k 1", "incr k", "EXEC"]
    );
    // One effect goes alone; SELECT inside the script names its own database only.
    let one = "EVAL \"redis.call('select','3') return redis.call('set','x','y')\" 0";
    assert_eq!(run(&mut s, &mut c, one), "+OK\r\n");
    assert_eq!(take_effects(&mut s), ["SELECT 3", "set x y"]);
    assert_eq!(run(&mut s, &mut c, "GET x"), "$-1\r\n");
    // A read-only script and a failed write propagate nothing.
    run(&mut s, &mut c, "SET s abc");
    take_effects(&mut s);
    run(&mut s, &mut c, "EVAL \"return redis.call('get','k')\" 0");
    let r = run(&mut s, &mut c, "EVAL \"return redis.pcall('incr','s')\" 0");
    assert!(r.starts_with("-ERR value is not an integer"), "{r}");
    assert_eq!(take_effects(&mut s), Vec::<String>::new());
}

#[test]
fn script_errors_name_the_script_and_line() {
    let mut s = test_server();
    let mut c = test_client();
    run(&mut s, &mut c, "SET k v");
    let r = run(&mut s, &mut c, "EVAL \"\nreturn redis.call('incr','k')\" 0");
    let sha = crate::scripting::sha1hex(b"\nreturn redis.call('incr','k')");
    assert_eq!(
        r,
        format!(
            "-ERR value is not an integer or out of range script: {sha}, on @user_script:2.\r\n"
        )
    );
    let r = run(&mut s, &mut c, "EVAL \"return nosuch\" 0");
    assert!(
        r.starts_with(
            "-ERR user_script:1: Script attempted to access nonexistent global variable 'nosuch'"
        ),
        "{r}"
    );
    let r = run(&mut s, &mut c, "EVAL \"x = 1\" 0");
    assert!(
        r.starts_with("-ERR user_script:1: Attempt to modify a readonly table"),
        "{r}"
    );
    let r = run(&mut s, &mut c, "EVAL \"return redis.pcall('incr','k')\" 0");
    assert_eq!(r, "-ERR value is not an integer or out of range\r\n");
    // The script client is not blocked by a blocking command: it is refused in scripts.
    let r = run(
        &mut s,
        &mut c,
        "EVAL \"return redis.call('blpop','l',0)\" 0",
    );
    assert!(
        r.starts_with("-ERR This Redis command is not allowed from script"),
        "{r}"
    );
}

#[test]
fn a_scripts_command_errors_are_counted_once_and_fail_the_script_only_when_passed_on() {
    let mut s = test_server();
    let mut c = test_client();
    let stat = |s: &mut Server, name: &[u8]| {
        let def = s.cmds.lookup(name).unwrap();
        let st = s.stats.command(def);
        (st.calls, st.failed_calls, st.rejected_calls)
    };
    // Caught with pcall: SELECT failed, the script did not.
    run(
        &mut s,
        &mut c,
        "EVAL \"redis.pcall('select',99) return 1\" 0",
    );
    assert_eq!(s.stats.total_error_replies, 1);
    assert_eq!(stat(&mut s, b"select"), (1, 1, 0));
    assert_eq!(stat(&mut s, b"eval"), (1, 0, 0));
    // Passed on: the script failed too, and the error is still counted once.
    let r = run(&mut s, &mut c, "EVAL \"return redis.call('select',99)\" 0");
    assert!(r.starts_with("-ERR DB index is out of range"), "{r}");
    assert_eq!(s.stats.total_error_replies, 2);
    assert_eq!(stat(&mut s, b"select"), (2, 2, 0));
    assert_eq!(stat(&mut s, b"eval"), (2, 1, 0));
    // Refused before running (read-only script): rejected, not failed, counted once.
    run(
        &mut s,
        &mut c,
        "EVAL_RO \"return redis.call('set','k','v')\" 0",
    );
    assert_eq!(s.stats.total_error_replies, 3);
    assert_eq!(stat(&mut s, b"set"), (0, 0, 1));
    assert_eq!(stat(&mut s, b"eval_ro"), (1, 1, 0));
    // A command after them starts clean.
    run(&mut s, &mut c, "PING");
    assert_eq!(stat(&mut s, b"ping"), (1, 0, 0));
}

#[test]
fn pfcount_propagates_only_when_it_stores_the_estimate() {
    let mut s = test_server();
    let mut c = test_client();
    run(&mut s, &mut c, "PFADD h a b c");
    take_effects(&mut s);
    assert_eq!(run(&mut s, &mut c, "PFCOUNT h"), ":3\r\n");
    assert_eq!(take_effects(&mut s), ["PFCOUNT h"]);
    // The estimate is cached now: nothing changes, nothing is propagated.
    assert_eq!(run(&mut s, &mut c, "PFCOUNT h"), ":3\r\n");
    assert_eq!(take_effects(&mut s), Vec::<String>::new());
}

#[test]
fn xadd_propagates_the_generated_id_and_an_exact_trim() {
    let mut s = test_server();
    let mut c = test_client();
    s.cfg
        .set(crate::config::P::StreamNodeMaxEntries, &["10".to_string()])
        .unwrap();
    for i in 1..=25 {
        run(&mut s, &mut c, &format!("XADD st {i}-* f v"));
    }
    let e = take_effects(&mut s);
    assert_eq!(e[0], "SELECT 0");
    assert_eq!(e[1], "XADD st 1-0 f v");
    assert_eq!(e[25], "XADD st 25-0 f v");
    // "~ 12" removes whole nodes only (10 entries) and is propagated as the length it left.
    let r = run(&mut s, &mut c, "XADD st MAXLEN ~ 12 26 f v");
    assert_eq!(r, "$4\r\n26-0\r\n");
    assert_eq!(take_effects(&mut s), ["XADD st MAXLEN = 16 26 f v"]);
    assert_eq!(run(&mut s, &mut c, "XTRIM st MINID ~ 21"), ":10\r\n");
    assert_eq!(take_effects(&mut s), ["XTRIM st MINID = 21-0"]);
    // Nothing trimmed: nothing propagated.
    assert_eq!(run(&mut s, &mut c, "XTRIM st MAXLEN 100"), ":0\r\n");
    assert!(take_effects(&mut s).is_empty());
}

#[test]
fn group_reads_propagate_as_claims_and_noack_reads_as_setid() {
    let mut s = test_server();
    let mut c = test_client();
    run(&mut s, &mut c, "XADD st 1-1 a 1");
    run(&mut s, &mut c, "XADD st 2-1 b 2");
    run(&mut s, &mut c, "XGROUP CREATE st g 0");
    take_effects(&mut s);
    let r = run(&mut s, &mut c, "XREADGROUP GROUP g alice STREAMS st >");
    assert!(r.contains("1-1") && r.contains("2-1"), "{r}");
    let e = take_effects(&mut s);
    // Two claims that recreate the pending entries, in one transaction.
    assert_eq!(e.len(), 4, "{e:?}");
    assert_eq!(e[0], "MULTI");
    assert_eq!(e[3], "EXEC");
    for (line, id) in [(&e[1], "1-1"), (&e[2], "2-1")] {
        let w: Vec<&str> = line.split(' ').collect();
        assert_eq!(&w[..6], ["XCLAIM", "st", "g", "alice", "0", id]);
        assert_eq!(w[6], "TIME");
        assert_eq!(
            &w[8..],
            ["RETRYCOUNT", "1", "FORCE", "JUSTID", "LASTID", id]
        );
    }
    run(&mut s, &mut c, "XADD st 3-1 c 3");
    take_effects(&mut s);
    run(&mut s, &mut c, "XREADGROUP GROUP g bob NOACK STREAMS st >");
    assert_eq!(
        take_effects(&mut s),
        [
            "MULTI",
            "XGROUP CREATECONSUMER st g bob",
            "XGROUP SETID st g 3-1 ENTRIESREAD 3",
            "EXEC"
        ]
    );
    // Acknowledging propagates the command itself; XINFO nothing.
    assert_eq!(run(&mut s, &mut c, "XACK st g 1-1 9-9"), ":1\r\n");
    assert_eq!(take_effects(&mut s), ["XACK st g 1-1 9-9"]);
    run(&mut s, &mut c, "XINFO GROUPS st");
    assert!(take_effects(&mut s).is_empty());
}

#[test]
fn xclaim_of_a_deleted_entry_drops_its_pending_record() {
    let mut s = test_server();
    let mut c = test_client();
    run(&mut s, &mut c, "XADD st 1-1 a 1");
    run(&mut s, &mut c, "XGROUP CREATE st g 0");
    run(&mut s, &mut c, "XREADGROUP GROUP g alice STREAMS st >");
    run(&mut s, &mut c, "XDEL st 1-1");
    take_effects(&mut s);
    assert_eq!(run(&mut s, &mut c, "XCLAIM st g bob 0 1-1"), "*0\r\n");
    let e = take_effects(&mut s);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("XCLAIM st g alice 0 1-1 TIME "), "{e:?}");
    assert_eq!(
        run(&mut s, &mut c, "XPENDING st g"),
        "*4\r\n:0\r\n$-1\r\n$-1\r\n*-1\r\n"
    );
}
