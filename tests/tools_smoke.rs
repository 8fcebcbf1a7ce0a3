//! redis-cli and redis-benchmark, unchanged, against forkv-server (skipped without them).

mod common;
use common::*;
use std::process::Command;

fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli");
    assert!(
        out.status.success(),
        "redis-cli {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

#[test]
fn redis_cli_round_trip() {
    if !have("redis-cli") {
        return;
    }
    let s = start_forkv(&[]);
    assert_eq!(cli(s.port, &["PING"]), "PONG");
    assert_eq!(cli(s.port, &["SET", "greeting", "hello world"]), "OK");
    assert_eq!(cli(s.port, &["GET", "greeting"]), "hello world");
    assert_eq!(cli(s.port, &["INCRBY", "n", "41"]), "41");
    assert_eq!(cli(s.port, &["--raw", "INCR", "n"]), "42");
    assert!(cli(s.port, &["INFO", "server"]).contains("redis_version:7.0.15"));
    // RESP3 through redis-cli (-3) and its hints machinery (COMMAND DOCS) must not trip it.
    assert_eq!(cli(s.port, &["-3", "GET", "greeting"]), "hello world");
    // Pipe mode (mass insertion) as the Redis docs describe it.
    let mut child = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &s.port.to_string(), "--pipe"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let stdin = child.stdin.as_mut().unwrap();
        for i in 0..1000 {
            stdin
                .write_all(&encode(&[b"SET", format!("p{i}").as_bytes(), b"v"]))
                .unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("errors: 0, replies: 1000"), "{text}");
    assert_eq!(cli(s.port, &["DBSIZE"]), "1002");
}

#[test]
fn redis_benchmark_runs_against_forkv() {
    if !have("redis-benchmark") {
        return;
    }
    let s = start_forkv(&[]);
    let out = Command::new("redis-benchmark")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &s.port.to_string(),
            "-n",
            "20000",
            "-c",
            "20",
            "-P",
            "8",
        ])
        .args(["-t", "ping,set,get,incr,mset", "-q", "--csv"])
        .output()
        .expect("redis-benchmark");
    let text = String::from_utf8_lossy(&out.stdout);
    for t in [
        "PING_INLINE",
        "PING_MBULK",
        "SET",
        "GET",
        "INCR",
        "MSET (10 keys)",
    ] {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("\"{t}\"")))
            .unwrap_or_else(|| panic!("no result for {t} in:\n{text}"));
        let rps: f64 = line
            .split(',')
            .nth(1)
            .unwrap()
            .trim_matches('"')
            .parse()
            .unwrap();
        assert!(rps > 0.0, "{line}");
    }
    // The server is still healthy and holds what the benchmark wrote.
    let mut c = s.conn();
    assert_eq!(c.cmd(&["GET", "key:__rand_int__"]).bulk_str().len(), 3);
}
