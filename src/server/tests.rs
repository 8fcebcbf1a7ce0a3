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
