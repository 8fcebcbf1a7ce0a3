//! Integration tests against the real forkv-server binary on an ephemeral loopback port.

mod common;
use common::*;
use std::io::Read;
use std::time::Duration;

#[test]
fn ping_set_get_and_binary_values() {
    let s = start_forkv(&[]);
    let mut c = s.conn();
    assert_eq!(c.cmd(&["PING"]), status("PONG"));
    assert_eq!(c.cmd(&["PING", "hi"]), bulk("hi"));
    let val: Vec<u8> = (0..=255u8).chain([b'\r', b'\n', 0]).collect();
    assert_eq!(c.cmd_bytes(&[b"SET", b"k\x00\r\n", &val]), status("OK"));
    assert_eq!(c.cmd_bytes(&[b"GET", b"k\x00\r\n"]), Reply::Bulk(val));
    assert_eq!(c.cmd(&["GET", "missing"]), Reply::Nil);
}

#[test]
fn pipelining_thousands_of_commands_in_one_write() {
    let s = start_forkv(&[]);
    let mut c = s.conn();
    let mut wire = Vec::new();
    for i in 0..5000 {
        wire.extend(encode(&[b"INCR", b"counter"]));
        if i % 2 == 0 {
            wire.extend(b"PING\r\n");
        }
    }
    c.send_raw(&wire);
    for i in 0..5000 {
        assert_eq!(c.read(), Reply::Int(i + 1));
        if i % 2 == 0 {
            assert_eq!(c.read(), status("PONG"));
        }
    }
}

#[test]
fn protocol_error_replies_then_closes() {
    let s = start_forkv(&[]);
    let mut c = s.conn();
    c.send_raw(b"*1\r\n$abc\r\n");
    assert_eq!(c.read(), err("ERR Protocol error: invalid bulk length"));
    assert!(c.is_closed());
    let mut c = s.conn();
    c.send_raw(b"SET a \"b\r\n");
    assert_eq!(
        c.read(),
        err("ERR Protocol error: unbalanced quotes in request")
    );
    assert!(c.is_closed());
    // The server carries on.
    assert_eq!(s.conn().cmd(&["PING"]), status("PONG"));
}

#[test]
fn huge_declared_bulk_does_not_allocate() {
    let s = start_forkv(&[]);
    let mut other = s.conn();
    let before = info_field(&mut other, "memory", "used_memory");
    let mut c = s.conn();
    c.send_raw(b"*2\r\n$3\r\nGET\r\n$500000000\r\nabc");
    std::thread::sleep(Duration::from_millis(200));
    let after = info_field(&mut other, "memory", "used_memory");
    assert!(
        after < before + 10 * 1024 * 1024,
        "used_memory grew from {before} to {after}"
    );
}

fn info_field(c: &mut Conn, section: &str, field: &str) -> i64 {
    let info = c.cmd(&["INFO", section]).bulk_str();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn unknown_command_and_arity_errors_match_redis_text() {
    let s = start_forkv(&[]);
    let mut c = s.conn();
    assert_eq!(
        c.cmd(&["FOO", "a", "b"]),
        err("ERR unknown command 'FOO', with args beginning with: 'a' 'b' ")
    );
    assert_eq!(
        c.cmd(&["GET"]),
        err("ERR wrong number of arguments for 'get' command")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "FOO"]),
        err("ERR unknown subcommand 'FOO'. Try CONFIG HELP.")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET"]),
        err("ERR wrong number of arguments for 'config|get' command")
    );
}

#[test]
fn requirepass_gates_commands_until_auth() {
    let s = start_forkv(&["--requirepass", "s3cret"]);
    let mut c = s.conn();
    assert_eq!(c.cmd(&["GET", "x"]), err("NOAUTH Authentication required."));
    assert_eq!(
        c.cmd(&["AUTH", "wrong"]),
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(c.cmd(&["AUTH", "s3cret"]), status("OK"));
    assert_eq!(c.cmd(&["GET", "x"]), Reply::Nil);
    let mut c2 = s.conn();
    assert_eq!(c2.cmd(&["AUTH", "default", "s3cret"]), status("OK"));
}

#[test]
fn maxclients_refuses_extra_connections() {
    let s = start_forkv(&["--maxclients", "2"]);
    let mut a = s.conn();
    let mut b = s.conn();
    assert_eq!(a.cmd(&["PING"]), status("PONG"));
    assert_eq!(b.cmd(&["PING"]), status("PONG"));
    let mut c = s.conn();
    assert_eq!(c.read(), err("ERR max number of clients reached"));
    drop(a);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(s.conn().cmd(&["PING"]), status("PONG"));
}

#[test]
fn idle_timeout_closes_clients() {
    let s = start_forkv(&["--timeout", "1"]);
    let mut c = s.conn();
    assert_eq!(c.cmd(&["PING"]), status("PONG"));
    std::thread::sleep(Duration::from_millis(2500));
    assert!(c.is_closed());
}

#[test]
fn expiry_is_lazy_and_active() {
    let s = start_forkv(&[]);
    let mut c = s.conn();
    assert_eq!(c.cmd(&["SET", "a", "1", "PX", "100"]), status("OK"));
    for i in 0..50 {
        c.cmd(&["SET", &format!("b{i}"), "1", "PX", "100"]);
    }
    assert!(c.cmd(&["PTTL", "a"]).int() > 0);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.cmd(&["GET", "a"]), Reply::Nil);
    // The active cycle removes the others without anyone touching them.
    let mut n = 1;
    for _ in 0..50 {
        n = c.cmd(&["DBSIZE"]).int();
        if n == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(n, 0);
    assert!(info_field(&mut c, "stats", "expired_keys") >= 51);
}

#[test]
fn resp3_types_after_hello_3() {
    let s = start_forkv(&[]);
    let mut c = s.conn();
    let r = c.cmd(&["HELLO", "3"]);
    let Reply::Map(m) = r else {
        panic!("HELLO 3 must answer a map, got {r:?}")
    };
    assert!(m.contains(&(bulk("proto"), Reply::Int(3))));
    assert_eq!(c.cmd(&["GET", "nope"]), Reply::Nil);
    let r = c.cmd(&["CONFIG", "GET", "maxclients"]);
    assert_eq!(r, Reply::Map(vec![(bulk("maxclients"), bulk("10000"))]));
    assert!(matches!(c.cmd(&["INFO", "server"]), Reply::Verbatim(..)));
    assert!(matches!(c.cmd(&["HELLO", "4"]), Reply::Error(e) if e.starts_with("NOPROTO")));
}

#[test]
fn client_reply_off_skip_on() {
    let s = start_forkv(&[]);
    let mut c = s.conn();
    c.send(&["CLIENT", "REPLY", "OFF"]);
    c.send(&["SET", "a", "1"]);
    c.send(&["CLIENT", "REPLY", "ON"]);
    assert_eq!(c.read(), status("OK"));
    c.send(&["CLIENT", "REPLY", "SKIP"]);
    c.send(&["GET", "a"]);
    assert_eq!(c.cmd(&["PING"]), status("PONG"));
}

#[test]
fn client_kill_by_id_closes_the_other_connection() {
    let s = start_forkv(&[]);
    let mut victim = s.conn();
    let id = victim.cmd(&["CLIENT", "ID"]).int();
    let mut c = s.conn();
    assert_eq!(
        c.cmd(&["CLIENT", "KILL", "ID", &id.to_string()]),
        Reply::Int(1)
    );
    assert!(victim.is_closed());
    // The victim is gone from the list (other lines may be connections still closing, such as
    // the start-up readiness probe's).
    let list = c.cmd(&["CLIENT", "LIST"]).bulk_str();
    assert!(
        !list.lines().any(|l| l.starts_with(&format!("id={id} "))),
        "{list}"
    );
}

#[test]
fn monitor_streams_commands_of_others() {
    let s = start_forkv(&[]);
    let mut m = s.conn();
    assert_eq!(m.cmd(&["MONITOR"]), status("OK"));
    let mut c = s.conn();
    c.cmd(&["SET", "mk", "v\n1"]);
    let line = match m.read() {
        Reply::Status(l) => l,
        other => panic!("{other:?}"),
    };
    assert!(line.ends_with("\"SET\" \"mk\" \"v\\n1\""), "{line}");
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let mut s = start_forkv(&[]);
    assert_eq!(s.conn().cmd(&["PING"]), status("PONG"));
    let st = s.signal_and_wait(libc::SIGTERM);
    assert!(st.success(), "exit status {st:?}; log: {}", s.log_text());
}

#[test]
fn shutdown_command_stops_the_server() {
    let mut s = start_forkv(&[]);
    let mut c = s.conn();
    c.send(&["SHUTDOWN", "NOSAVE"]);
    assert!(c.is_closed());
    let st = s.child.take().unwrap().wait().unwrap();
    assert!(st.success());
}

#[test]
fn bad_config_directive_stops_startup_with_line() {
    let dir = TempDir::new("badconf");
    let conf = dir.path().join("bad.conf");
    std::fs::write(&conf, "port 1234\nnosuchthing 1\n").unwrap();
    let out = std::process::Command::new(forkv_bin())
        .arg(&conf)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("line 2") && e.contains("Bad directive"), "{e}");
}

#[test]
fn config_file_set_and_rewrite() {
    let dir = TempDir::new("conf");
    let conf = dir.path().join("forkv.conf");
    std::fs::write(&conf, "# my config\nhz 20\n").unwrap();
    let conf_s = conf.to_string_lossy().to_string();
    let port = free_port();
    let log = dir.path().join("log");
    let child = std::process::Command::new(forkv_bin())
        .arg(&conf_s)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .current_dir(dir.path())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The guard kills the server by PID even if an assertion below fails.
    let guard = ServerProc {
        child: Some(child),
        port,
        dir: TempDir::new("unused"),
        log,
    };
    let mut c = None;
    for _ in 0..100 {
        if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            drop(s);
            c = Some(Conn::connect(port));
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut c = c.expect("server up");
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "hz"]),
        Reply::Array(vec![bulk("hz"), bulk("20")])
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "timeout", "7", "hz", "15"]),
        status("OK")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "hz", "abc"]),
        err(
            "ERR CONFIG SET failed (possibly related to argument 'hz') - argument couldn't be parsed into an integer"
        )
    );
    assert_eq!(c.cmd(&["CONFIG", "REWRITE"]), status("OK"));
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(text.starts_with("# my config\nhz 15\n"), "{text}");
    assert!(text.contains("timeout 7"), "{text}");
    drop(guard);
}

#[test]
fn output_is_held_until_a_slow_reader_reads_and_memory_stays_bounded_by_limit() {
    let s = start_forkv(&["--client-output-buffer-limit", "normal 1mb 0 0"]);
    let mut c = s.conn();
    c.cmd(&["SET", "big", &"x".repeat(100_000)]);
    // Ask for 100 copies without reading: 10 MB of replies passes the 1 MB hard limit.
    let mut wire = Vec::new();
    for _ in 0..100 {
        wire.extend(encode(&[b"GET", b"big"]));
    }
    c.send_raw(&wire);
    std::thread::sleep(Duration::from_millis(300));
    // The client is disconnected rather than buffered without bound.
    let mut sink = Vec::new();
    let _ = c.reader.read_to_end(&mut sink);
    assert!(sink.len() < 10 * 100_000, "read {} bytes", sink.len());
    let mut o = s.conn();
    assert!(info_field(&mut o, "stats", "client_output_buffer_limit_disconnections") >= 1);
}

#[test]
fn query_buffer_limit_disconnects() {
    let s = start_forkv(&["--client-query-buffer-limit", "1mb"]);
    let mut c = s.conn();
    // An unterminated inline... no: a multibulk bulk larger than the limit arriving in pieces.
    c.send_raw(b"*2\r\n$3\r\nSET\r\n$3000000\r\n");
    let chunk = vec![b'a'; 64 * 1024];
    for _ in 0..40 {
        if c.writer.write_all_ok(&chunk).is_err() {
            break;
        }
    }
    assert!(c.is_closed());
}

trait WriteAllOk {
    fn write_all_ok(&mut self, b: &[u8]) -> std::io::Result<()>;
}

impl WriteAllOk for std::net::TcpStream {
    fn write_all_ok(&mut self, b: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        self.write_all(b)
    }
}

#[test]
fn many_concurrent_clients() {
    let s = start_forkv(&[]);
    let mut conns: Vec<Conn> = (0..2000).map(|_| s.conn()).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        c.send(&["SET", &format!("k{i}"), &i.to_string()]);
    }
    for c in conns.iter_mut() {
        assert_eq!(c.read(), status("OK"));
    }
    let mut o = s.conn();
    assert_eq!(o.cmd(&["DBSIZE"]), Reply::Int(2000));
    assert!(info_field(&mut o, "clients", "connected_clients") >= 2001);
}

/// Raise this test process's descriptor limit (the server raises its own at start-up).
fn raise_nofile(n: u64) -> bool {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a pointer to a local struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        if lim.rlim_cur >= n {
            return true;
        }
        lim.rlim_cur = n.min(lim.rlim_max.max(n));
        lim.rlim_max = lim.rlim_max.max(n);
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0
    }
}

#[test]
fn ten_thousand_concurrent_clients() {
    use std::io::{BufRead, BufReader, Write};
    if !raise_nofile(11_000) {
        eprintln!("SKIP: cannot raise RLIMIT_NOFILE to 11000 for the test process");
        return;
    }
    // Room for the 10,000 plus the test's own observer connection.
    let s = start_forkv(&["--maxclients", "10010"]);
    // One descriptor per connection: plain streams, written and read in place.
    let mut conns: Vec<BufReader<std::net::TcpStream>> = (0..10_000)
        .map(|_| BufReader::new(std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap()))
        .collect();
    for c in conns.iter_mut() {
        c.get_mut().write_all(b"INCR hits\r\n").unwrap();
    }
    let mut seen = Vec::with_capacity(10_000);
    let mut line = String::new();
    for c in conns.iter_mut() {
        c.get_ref()
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        line.clear();
        c.read_line(&mut line).unwrap();
        seen.push(
            line.trim_end()
                .trim_start_matches(':')
                .parse::<i64>()
                .unwrap(),
        );
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=10_000).collect::<Vec<i64>>());
    let mut o = s.conn();
    assert!(info_field(&mut o, "clients", "connected_clients") >= 10_001);
    drop(conns);
    assert_eq!(o.cmd(&["PING"]), status("PONG"));
}

/// Poll until `f` holds (a guard against hanging, not a timing assertion).
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn client_pause_write_postpones_writes_until_unpaused_and_freezes_expiry() {
    let s = start_forkv(&[]);
    let mut admin = s.conn();
    let mut w = s.conn();
    let mut t = s.conn();
    let expired_before = info_field(&mut admin, "stats", "expired_keys");
    // A transaction queued before the pause, holding a write.
    assert_eq!(t.cmd(&["MULTI"]), status("OK"));
    assert_eq!(t.cmd(&["SET", "y", "2"]), status("QUEUED"));
    // The pause starts at the end of the transaction that requests it.
    assert_eq!(admin.cmd(&["MULTI"]), status("OK"));
    assert_eq!(
        admin.cmd(&["SET", "gone", "v", "PX", "30"]),
        status("QUEUED")
    );
    assert_eq!(
        admin.cmd(&["CLIENT", "PAUSE", "100000", "WRITE"]),
        status("QUEUED")
    );
    assert_eq!(admin.cmd(&["SET", "z", "3"]), status("QUEUED"));
    assert_eq!(
        admin.cmd(&["EXEC"]),
        Reply::Array(vec![status("OK"), status("OK"), status("OK")])
    );
    // A write waits (with what it pipelined behind it) and counts as a blocked client; so
    // does an EXEC whose queue writes.
    w.send(&["SET", "x", "1"]);
    w.send(&["GET", "x"]);
    t.send(&["EXEC"]);
    wait_for("two postponed clients", || {
        info_field(&mut admin, "clients", "blocked_clients") == 2
    });
    // Reads, read-only transactions and errors found before the pause check answer at once.
    assert_eq!(admin.cmd(&["GET", "x"]), Reply::Nil);
    assert_eq!(admin.cmd(&["GET", "z"]), bulk("3"));
    assert_eq!(admin.cmd(&["MULTI"]), status("OK"));
    assert_eq!(admin.cmd(&["GET", "z"]), status("QUEUED"));
    assert_eq!(admin.cmd(&["EXEC"]), Reply::Array(vec![bulk("3")]));
    assert_eq!(
        admin.cmd(&["SET", "x"]),
        err("ERR wrong number of arguments for 'set' command")
    );
    // Expiry stands still: the key reads as gone but is not deleted until the pause ends.
    wait_for("the key to expire logically", || {
        admin.cmd(&["GET", "gone"]) == Reply::Nil
    });
    assert_eq!(admin.cmd(&["DBSIZE"]), Reply::Int(2));
    assert_eq!(
        info_field(&mut admin, "stats", "expired_keys"),
        expired_before
    );
    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), status("OK"));
    assert_eq!(w.read(), status("OK"));
    assert_eq!(w.read(), bulk("1"));
    assert_eq!(t.read(), Reply::Array(vec![status("OK")]));
    assert_eq!(info_field(&mut admin, "clients", "blocked_clients"), 0);
    assert_eq!(admin.cmd(&["GET", "gone"]), Reply::Nil);
    assert_eq!(
        info_field(&mut admin, "stats", "expired_keys"),
        expired_before + 1
    );
    // PAUSE ALL holds every command (CLIENT UNPAUSE too, so it ends by its timeout); a
    // client that leaves while held is forgotten, the others run once it ends.
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "300", "ALL"]), status("OK"));
    let mut r = s.conn();
    r.send(&["SET", "x", "from-r"]);
    drop(r);
    w.send(&["GET", "x"]);
    assert_eq!(w.read(), bulk("1"));
    assert_eq!(admin.cmd(&["GET", "x"]), bulk("1"));
    assert_eq!(info_field(&mut admin, "clients", "blocked_clients"), 0);
}

#[test]
fn random_garbage_never_takes_the_server_down() {
    let s = start_forkv(&[]);
    let mut seed: u64 = 0x1234_5678_9abc_def1;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let pieces: [&[u8]; 10] = [
        b"*",
        b"$",
        b"\r\n",
        b"-1",
        b"99999999999",
        b"SET",
        b"GET",
        b"\"",
        b"3",
        b"\x00\xff",
    ];
    for _ in 0..200 {
        let mut c = s.conn();
        let mut wire = Vec::new();
        for _ in 0..(next() % 60) {
            if next() % 3 == 0 {
                wire.push(next() as u8);
            } else {
                wire.extend_from_slice(pieces[(next() % pieces.len() as u64) as usize]);
            }
        }
        c.send_raw(&wire);
        c.writer.shutdown(std::net::Shutdown::Write).ok();
        let mut sink = Vec::new();
        let _ = c.reader.read_to_end(&mut sink);
    }
    let mut c = s.conn();
    assert_eq!(c.cmd(&["PING"]), status("PONG"));
    assert_eq!(c.cmd(&["SET", "alive", "yes"]), status("OK"));
}

#[test]
fn slowlog_records_commands_as_sent_trims_them_and_obeys_its_configs() {
    let s = start_forkv(&[]);
    let mut c = s.conn();
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]),
        status("OK")
    );
    assert_eq!(c.cmd(&["SLOWLOG", "RESET"]), status("OK"));
    assert_eq!(c.cmd(&["CLIENT", "SETNAME", "me"]), status("OK"));
    let mut sadd: Vec<String> = vec!["SADD".into(), "s".into()];
    sadd.extend((0..40).map(|i| i.to_string()));
    let refs: Vec<&str> = sadd.iter().map(|a| a.as_str()).collect();
    assert_eq!(c.cmd(&refs), Reply::Int(40));
    let long = "A".repeat(130);
    assert_eq!(c.cmd(&["SET", "k", &long]), status("OK"));
    assert_eq!(c.cmd(&["MULTI"]), status("OK"));
    assert_eq!(c.cmd(&["INCRBYFLOAT", "f", "1.5"]), status("QUEUED"));
    assert_eq!(c.cmd(&["EXEC"]), Reply::Array(vec![bulk("1.5")]));
    let Reply::Array(entries) = c.cmd(&["SLOWLOG", "GET", "-1"]) else {
        panic!("SLOWLOG GET is an array");
    };
    // Newest first: INCRBYFLOAT (run by EXEC, which itself is not logged), MULTI, SET,
    // SADD, CLIENT SETNAME, SLOWLOG RESET.
    let args = |e: &Reply| match e {
        Reply::Array(f) => f[3].to_string_vec(),
        other => panic!("entry {other:?}"),
    };
    assert_eq!(args(&entries[0]), vec!["INCRBYFLOAT", "f", "1.5"]);
    assert_eq!(args(&entries[1]), vec!["MULTI"]);
    assert_eq!(
        args(&entries[2])[2],
        format!("{}... (2 more bytes)", "A".repeat(128))
    );
    let sadd_logged = args(&entries[3]);
    assert_eq!(sadd_logged.len(), 32);
    assert_eq!(sadd_logged[31], "... (11 more arguments)");
    let Reply::Array(fields) = &entries[0] else {
        unreachable!()
    };
    assert_eq!(fields.len(), 6);
    assert_eq!(fields[5], bulk("me"));
    assert!(fields[4].bulk_str().starts_with("127.0.0.1:"));
    let ids: Vec<i64> = entries
        .iter()
        .map(|e| match e {
            Reply::Array(f) => f[0].int(),
            _ => unreachable!(),
        })
        .collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1] + 1), "{ids:?}");
    assert_eq!(
        c.cmd(&["SLOWLOG", "GET", "-2"]),
        err("ERR count should be greater than or equal to -1")
    );
    let Reply::Array(two) = c.cmd(&["SLOWLOG", "GET", "2"]) else {
        panic!()
    };
    assert_eq!(two.len(), 2);
    // The length limit drops the oldest entries; a negative threshold turns logging off.
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "slowlog-max-len", "3"]),
        status("OK")
    );
    assert_eq!(c.cmd(&["PING"]), status("PONG"));
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]), Reply::Int(3));
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "-1"]),
        status("OK")
    );
    assert_eq!(c.cmd(&["SLOWLOG", "RESET"]), status("OK"));
    assert_eq!(c.cmd(&["PING"]), status("PONG"));
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]), Reply::Int(0));
}

#[test]
fn clients_over_maxmemory_clients_are_evicted_biggest_first_unless_no_evict() {
    let s = start_forkv(&["--maxmemory-clients", "1mb"]);
    let mut admin = s.conn();
    assert_eq!(admin.cmd(&["CLIENT", "NO-EVICT", "on"]), status("OK"));
    // A client with a big half-sent command holds its query buffer.
    let big = "x".repeat(1_500_000);
    let mut hog = s.conn();
    hog.send_raw(format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n{big}").as_bytes());
    let mut small = s.conn();
    assert_eq!(small.cmd(&["PING"]), status("PONG"));
    assert!(hog.is_closed(), "the biggest client was not evicted");
    assert_eq!(info_field(&mut admin, "stats", "evicted_clients"), 1);
    assert_eq!(small.cmd(&["PING"]), status("PONG"));
    // The same buffer on a client that asked not to be evicted stays, and still counts: the
    // other clients go instead.
    let mut kept = s.conn();
    assert_eq!(kept.cmd(&["CLIENT", "NO-EVICT", "on"]), status("OK"));
    kept.send_raw(format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n{big}").as_bytes());
    assert!(small.is_closed(), "the evictable client was not evicted");
    assert_eq!(info_field(&mut admin, "stats", "evicted_clients"), 2);
    kept.send_raw(format!("{}\r\n", "y".repeat(500_000)).as_bytes());
    assert_eq!(kept.read(), status("OK"));
    assert_eq!(admin.cmd(&["STRLEN", "k"]), Reply::Int(2_000_000));
    // Percentages are of maxmemory; CONFIG GET shows them as written.
    assert_eq!(
        admin.cmd(&["CONFIG", "SET", "maxmemory-clients", "101%"]),
        err(
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - percentage argument must be less or equal to 100"
        )
    );
    assert_eq!(
        admin.cmd(&["CONFIG", "SET", "maxmemory-clients", "10%"]),
        status("OK")
    );
    assert_eq!(
        admin
            .cmd(&["CONFIG", "GET", "maxmemory-clients"])
            .to_string_vec(),
        ["maxmemory-clients", "10%"]
    );
}
