//! Shared test helpers: start the real `forkv-server` (or a real `redis-server`) on an
//! ephemeral loopback port in a temp dir, speak RESP to it, and always stop it by PID.
#![allow(dead_code)]

pub mod diff;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A reply as read off the wire (RESP2 and RESP3).
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Reply>),
    NilArray,
    Map(Vec<(Reply, Reply)>),
    Set(Vec<Reply>),
    Double(String),
    Bool(bool),
    Verbatim(String, Vec<u8>),
    Push(Vec<Reply>),
    BigNum(String),
}

impl Reply {
    pub fn bulk_str(&self) -> String {
        match self {
            Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
            Reply::Verbatim(_, b) => String::from_utf8_lossy(b).into_owned(),
            Reply::Status(s) => s.clone(),
            other => panic!("not a bulk: {other:?}"),
        }
    }
    pub fn int(&self) -> i64 {
        match self {
            Reply::Int(i) => *i,
            other => panic!("not an integer: {other:?}"),
        }
    }
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
    /// An array of bulk or status replies as strings.
    pub fn to_string_vec(&self) -> Vec<String> {
        match self {
            Reply::Array(v) | Reply::Set(v) => v.iter().map(|r| r.bulk_str()).collect(),
            other => panic!("not an array: {other:?}"),
        }
    }
}

pub fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

pub fn status(s: &str) -> Reply {
    Reply::Status(s.to_string())
}

pub fn err(s: &str) -> Reply {
    Reply::Error(s.to_string())
}

/// Encode a command as a RESP multibulk.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        v.extend_from_slice(a);
        v.extend_from_slice(b"\r\n");
    }
    v
}

pub struct Conn {
    pub reader: BufReader<TcpStream>,
    pub writer: TcpStream,
}

impl Conn {
    pub fn connect(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.set_nodelay(true).unwrap();
        Conn {
            writer: s.try_clone().unwrap(),
            reader: BufReader::new(s),
        }
    }

    pub fn send_raw(&mut self, b: &[u8]) {
        self.writer.write_all(b).expect("write");
    }

    pub fn send(&mut self, args: &[&str]) {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.send_raw(&encode(&a));
    }

    /// Send one command and read its reply.
    pub fn cmd(&mut self, args: &[&str]) -> Reply {
        self.send(args);
        self.read()
    }

    pub fn cmd_bytes(&mut self, args: &[&[u8]]) -> Reply {
        self.send_raw(&encode(args));
        self.read()
    }

    fn line(&mut self) -> String {
        let mut l = Vec::new();
        let n = self.reader.read_until(b'\n', &mut l).expect("read reply");
        assert!(n > 0, "connection closed while reading a reply");
        assert!(
            l.ends_with(b"\r\n"),
            "reply line without CRLF: {:?}",
            String::from_utf8_lossy(&l)
        );
        l.truncate(l.len() - 2);
        String::from_utf8_lossy(&l).into_owned()
    }

    fn exact(&mut self, n: usize) -> Vec<u8> {
        let mut b = vec![0u8; n + 2];
        self.reader.read_exact(&mut b).expect("read bulk");
        assert_eq!(&b[n..], b"\r\n");
        b.truncate(n);
        b
    }

    pub fn read(&mut self) -> Reply {
        let l = self.line();
        let (t, rest) = l.split_at(1);
        let rest = rest.to_string();
        match t {
            "+" => Reply::Status(rest),
            "-" => Reply::Error(rest),
            ":" => Reply::Int(rest.parse().unwrap()),
            "$" => {
                let n: i64 = rest.parse().unwrap();
                if n < 0 {
                    Reply::Nil
                } else {
                    Reply::Bulk(self.exact(n as usize))
                }
            }
            "*" | "~" | ">" => {
                let n: i64 = rest.parse().unwrap();
                if n < 0 {
                    return Reply::NilArray;
                }
                let items = (0..n).map(|_| self.read()).collect();
                match t {
                    "*" => Reply::Array(items),
                    "~" => Reply::Set(items),
                    _ => Reply::Push(items),
                }
            }
            "%" => {
                let n: usize = rest.parse().unwrap();
                Reply::Map((0..n).map(|_| (self.read(), self.read())).collect())
            }
            "_" => Reply::Nil,
            "," => Reply::Double(rest),
            "#" => Reply::Bool(rest == "t"),
            "(" => Reply::BigNum(rest),
            "=" => {
                let n: usize = rest.parse().unwrap();
                let b = self.exact(n);
                Reply::Verbatim(
                    String::from_utf8_lossy(&b[..3]).into_owned(),
                    b[4..].to_vec(),
                )
            }
            other => panic!("unknown reply type {other:?} in line {l:?}"),
        }
    }

    /// True when the server closed the connection (reads EOF within the timeout).
    pub fn is_closed(&mut self) -> bool {
        self.writer
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut b = [0u8; 1];
        matches!(self.reader.read(&mut b), Ok(0) | Err(_))
    }
}

/// A free ephemeral port on 127.0.0.1 (bound and released; the server binds it next).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let base = std::env::temp_dir();
        for i in 0..1000 {
            let p = base.join(format!("forkv-test-{tag}-{}-{i}", std::process::id()));
            if std::fs::create_dir(&p).is_ok() {
                return TempDir(p);
            }
        }
        panic!("no temp dir");
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.0.as_os_str().is_empty() {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server process that is killed (by PID) when dropped, even if the test panicked.
pub struct ServerProc {
    pub child: Option<Child>,
    pub port: u16,
    pub dir: TempDir,
    pub log: PathBuf,
}

impl ServerProc {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    pub fn conn(&self) -> Conn {
        Conn::connect(self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL the server and keep its directory (for a restart in it).
    pub fn kill9_keep_dir(mut self) -> TempDir {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        std::mem::replace(&mut self.dir, TempDir(PathBuf::new()))
    }

    /// Wait (up to 30 s) for the process to exit; its status.
    pub fn wait_exit(&mut self) -> Option<std::process::ExitStatus> {
        let child = self.child.as_mut()?;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(st)) = child.try_wait() {
                self.child = None;
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Take the directory out (the process must be gone).
    pub fn take_dir(mut self) -> TempDir {
        std::mem::replace(&mut self.dir, TempDir(PathBuf::new()))
    }

    /// Send a signal and wait for the exit status.
    pub fn signal_and_wait(&mut self, sig: i32) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        // SAFETY: kill(2) on the PID of our own child.
        unsafe { libc::kill(child.id() as i32, sig) };
        child.wait().unwrap()
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // A test failing against this server shows how the server fared (a crash, a
            // closed connection) before the temp dir and its log go away.
            if std::thread::panicking() {
                let exited = c.try_wait().ok().flatten();
                let log = self.log_text();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                eprintln!(
                    "server pid {} on port {} (exited: {exited:?}); last log lines:\n{}",
                    c.id(),
                    self.port,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn forkv_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_forkv-server"))
}

fn wait_ready(port: u16, child: &mut Child, log: &Path) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if let Ok(Some(_)) = child.try_wait() {
            eprintln!(
                "server exited early; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            return false;
        }
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            let mut c = Conn {
                writer: s.try_clone().unwrap(),
                reader: BufReader::new(s),
            };
            // The port was free when chosen; make sure the server answering is ours (another
            // test may have started one on the same port meanwhile).
            c.send(&["INFO", "server"]);
            let mut line = String::new();
            if c.reader.read_line(&mut line).is_ok() && !line.is_empty() {
                if line.starts_with('-') {
                    // -LOADING: up, but INFO is refused until the data is in.
                    return true;
                }
                let n: usize = line.trim()[1..].parse().unwrap_or(0);
                let mut body = vec![0u8; n + 2];
                if c.reader.read_exact(&mut body).is_ok() {
                    let ours = format!("process_id:{}\r\n", child.id());
                    return String::from_utf8_lossy(&body).contains(&ours);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Start a server built by `make(port)` in `dir` on a free port until one answers PING
/// (retrying on a port clash); its output goes to `dir/log_name`.
fn spawn_ready(
    dir: TempDir,
    log_name: &str,
    what: &str,
    make: impl Fn(u16) -> Command,
) -> ServerProc {
    for _ in 0..5 {
        let port = free_port();
        let log = dir.path().join(log_name);
        let mut cmd = make(port);
        cmd.current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::options().append(true).open(&log).unwrap());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {what}: {e}"));
        if wait_ready(port, &mut child, &log) {
            return ServerProc {
                child: Some(child),
                port,
                dir,
                log,
            };
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("{what} did not start");
}

/// Start forkv-server with extra `--name value` arguments.
pub fn start_forkv(args: &[&str]) -> ServerProc {
    start_forkv_in(TempDir::new("forkv"), args)
}

pub fn start_forkv_in(dir: TempDir, args: &[&str]) -> ServerProc {
    spawn_ready(dir, "server.log", "forkv-server", |port| {
        let mut cmd = Command::new(forkv_bin());
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(args);
        cmd
    })
}

/// Wait until INFO reports `n` blocked clients (another connection's blocking command has
/// been processed, or its command is held by a pause). A hang guard, not a timing check.
pub fn wait_blocked(c: &mut Conn, n: usize) {
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let info = c.cmd(&["INFO", "clients"]).bulk_str();
        if info.contains(&format!("blocked_clients:{n}\r\n")) {
            return;
        }
        assert!(
            std::time::Instant::now() < give_up,
            "never reached {n} blocked clients: {info}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Whether a program is on PATH; prints why a test skips when it is not.
pub fn have(prog: &str) -> bool {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {prog}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!(
            "SKIP: {prog} is not installed (CI installs it with apt-get install redis-server redis-tools)"
        );
    }
    ok
}

/// Start a real redis-server 7.0 on loopback with no persistence.
pub fn start_redis(args: &[&str]) -> Option<ServerProc> {
    if !have("redis-server") {
        return None;
    }
    Some(start_redis_in(TempDir::new("redis"), args))
}

/// Start a real redis-server in `dir` (it loads `dir/dump.rdb` if there is one).
pub fn start_redis_in(dir: TempDir, args: &[&str]) -> ServerProc {
    {
        spawn_ready(dir, "redis.log", "redis-server", |port| {
            let mut cmd = Command::new("redis-server");
            cmd.args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no", "--daemonize", "no"])
            .args(args);
            cmd
        })
    }
}

/// Every type in each of its encodings, in three databases, some with TTLs.
pub fn populate_all_types(c: &mut Conn) {
    let ok = |r: Reply| assert!(!r.is_error(), "{r:?}");
    for db in ["0", "3", "9"] {
        ok(c.cmd(&["SELECT", db]));
        ok(c.cmd(&["SET", "int", "12345"]));
        ok(c.cmd(&["SET", "neg", "-9000000000"]));
        ok(c.cmd(&["SET", "emb", "short string"]));
        ok(c.cmd(&["SET", "raw", &"compressible ".repeat(40)]));
        ok(c.cmd(&["SET", "bin", "\u{1}\u{2}\u{3}\u{0}end"]));
        ok(c.cmd(&["SET", "ttl", "v", "PX", "1000000"]));
        ok(c.cmd(&["RPUSH", "list", "a", "b", "1", "2", "300000"]));
        for i in 0..600 {
            c.send(&[
                "RPUSH",
                "biglist",
                &format!("element-{i}-{}", "x".repeat(i % 30)),
            ]);
        }
        ok(c.cmd(&["SADD", "intset", "1", "2", "-3", "100000"]));
        ok(c.cmd(&["SADD", "strset", "a", "b", "c"]));
        ok(c.cmd(&["HSET", "smallhash", "f1", "v1", "f2", "2"]));
        ok(c.cmd(&["HSET", "bighash", "long", &"v".repeat(100)]));
        ok(c.cmd(&["ZADD", "smallz", "1", "a", "2.5", "b", "-inf", "c"]));
        for i in 0..200 {
            c.send(&[
                "ZADD",
                "bigz",
                &format!("{}", i as f64 / 3.0),
                &format!("m{i}"),
            ]);
        }
        ok(c.cmd(&["EXPIRE", "bighash", "100000"]));
        // A stream with a tombstone and a consumer group holding a pending entry.
        ok(c.cmd(&["XADD", "stream", "1-1", "f", "v", "n", "1"]));
        ok(c.cmd(&["XADD", "stream", "2-1", "f", "w", "n", "2"]));
        ok(c.cmd(&["XADD", "stream", "3-1", "other", "x"]));
        ok(c.cmd(&["XDEL", "stream", "2-1"]));
        ok(c.cmd(&["XGROUP", "CREATE", "stream", "g", "0"]));
        ok(c.cmd(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "COUNT",
            "1",
            "STREAMS",
            "stream",
            ">",
        ]));
    }
    for _ in 0..(600 + 200) * 3 {
        assert!(!c.read().is_error());
    }
    ok(c.cmd(&["SELECT", "0"]));
}

/// Every RDB file a test leaves in `dir` (but those named bad*.rdb, corrupt on purpose) must
/// be accepted by `redis-check-rdb` and loaded by a real redis-server 7.0. Skips with a
/// printed reason when the Redis tools are absent.
pub fn assert_redis_accepts_rdb_files(dir: &Path) {
    if !have("redis-check-rdb") || !have("redis-server") {
        return;
    }
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.ends_with(".rdb") && !n.starts_with("bad") && !n.starts_with("temp-")
        })
        .collect();
    for f in files {
        let out = Command::new("redis-check-rdb").arg(&f).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success() && text.contains("RDB looks OK"),
            "redis-check-rdb refused {}:\n{text}",
            f.display()
        );
        let copy = TempDir::new("redis-load");
        std::fs::copy(&f, copy.path().join("dump.rdb")).unwrap();
        let r = start_redis_in(copy, &["--databases", "16"]);
        let mut c = r.conn();
        let info = c.cmd(&["INFO", "persistence"]).bulk_str();
        assert!(info.contains("loading:0"), "{info}");
    }
}
