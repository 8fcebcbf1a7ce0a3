//! Snapshot benchmark (issue 4): redis-server and forkv-server, one after the other in the same
//! run, each with the same dataset and the same write load during BGSAVE. Per dataset:
//!
//! - fork stall: `latest_fork_usec`, and the longest PING round trip a client saw during BGSAVE;
//! - memory copied: `rdb_last_cow_size` and the child's peak Private_Dirty (from /proc), plus
//!   the parent's RSS growth while the child lived;
//! - BGSAVE duration, SAVE duration, file size, load time at start-up.
//!
//! Datasets: small keys (100-byte strings, DEBUG POPULATE) of FORKV_BENCH_SNAPSHOT_GB GiB each
//! (default "1,4,8"), and one of big keys (a 512 MiB string, a 1M-field hash, a 1M-element
//! list; FORKV_BENCH_SNAPSHOT_BIG=0 skips it). The write load overwrites random existing keys
//! (small) or random parts of the big keys, from one client, as fast as it can.
//!
//! Run: `cargo bench --bench snapshot`. Printed as forkv/redis ratios (< 1 = forkv smaller).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

struct Conn {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Conn {
    fn new(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_nodelay(true).unwrap();
        Conn {
            w: s.try_clone().unwrap(),
            r: BufReader::with_capacity(1 << 16, s),
        }
    }
    fn send(&mut self, args: &[&[u8]]) {
        let mut b = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            b.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            b.extend_from_slice(a);
            b.extend_from_slice(b"\r\n");
        }
        self.w.write_all(&b).unwrap();
    }
    /// One reply, as text (bulk bodies included); errors start with '-'.
    fn read(&mut self) -> String {
        let mut line = String::new();
        self.r.read_line(&mut line).unwrap();
        if let Some(n) = line.strip_prefix('$') {
            let n: i64 = n.trim().parse().unwrap();
            if n < 0 {
                return String::new();
            }
            let mut body = vec![0u8; n as usize + 2];
            self.r.read_exact(&mut body).unwrap();
            return String::from_utf8_lossy(&body[..n as usize]).into_owned();
        }
        line.trim_end().to_string()
    }
    fn cmd(&mut self, args: &[&str]) -> String {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.send(&a);
        self.read()
    }
    fn info(&mut self, field: &str) -> f64 {
        let text = self.cmd(&["INFO", "everything"]);
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    }
}

struct Server {
    child: Option<Child>,
    port: u16,
    dir: std::path::PathBuf,
    bin: String,
    args: Vec<String>,
}

impl Server {
    fn start(bin: &str, args: &[&str], dir: &std::path::Path) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut s = Server {
            child: None,
            port,
            dir: dir.to_path_buf(),
            bin: bin.to_string(),
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        s.spawn();
        s
    }
    fn spawn(&mut self) -> Instant {
        let t0 = Instant::now();
        let child = Command::new(&self.bin)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--enable-debug-command", "yes"])
            .args(&self.args)
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::options()
                    .create(true)
                    .append(true)
                    .open(self.dir.join("server.log"))
                    .unwrap(),
            )
            .spawn()
            .unwrap();
        self.child = Some(child);
        t0
    }
    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }
    /// Restart and return the time until PING answers PONG (not -LOADING).
    fn restart_load_time(&mut self) -> f64 {
        self.kill();
        let t0 = self.spawn();
        loop {
            if ping_once(self.port) {
                return t0.elapsed().as_secs_f64();
            }
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "{} exited ({st}) while loading; see {}",
                    self.bin,
                    self.dir.join("server.log").display()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    fn wait_up(&self) {
        while !ping_once(self.port) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One PING on a fresh connection: true only for +PONG (connection errors and -LOADING: false).
fn ping_once(port: u16) -> bool {
    let Ok(s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let Ok(mut w) = s.try_clone() else {
        return false;
    };
    if w.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).is_ok() && line.starts_with("+PONG")
}

fn private_dirty(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Private_Dirty:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/statm"))
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |p| p * 4096)
}

fn child_of(pid: u32) -> Option<i32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    s.split_whitespace().next()?.parse().ok()
}

#[derive(Default, Clone, Copy)]
struct Row {
    fork_usec: f64,
    cow_info: f64,
    child_dirty: f64,
    parent_growth: f64,
    ping_max_ms: f64,
    bgsave_s: f64,
    save_s: f64,
    file: f64,
    load_s: f64,
    writes: f64,
}

#[derive(Clone, Copy)]
enum Dataset {
    Small { gib: f64 },
    Big,
}

fn fill(c: &mut Conn, d: Dataset) {
    match d {
        Dataset::Small { gib } => {
            // Batches of a million keys named b<batch>:<i> until used_memory reaches the
            // target (one prefix per batch: re-populating one prefix rescans every key).
            let target = gib * (1u64 << 30) as f64;
            let mut batch = 0u64;
            while c.info("used_memory") < target {
                let prefix = format!("b{batch}");
                assert_eq!(
                    c.cmd(&["DEBUG", "POPULATE", "1000000", &prefix, "100"]),
                    "+OK"
                );
                batch += 1;
            }
        }
        Dataset::Big => {
            assert_eq!(
                c.cmd(&[
                    "SETRANGE",
                    "bigstr",
                    &(512 * 1024 * 1024 - 1).to_string(),
                    "x"
                ]),
                ":536870912"
            );
            for (kind, key) in [("hash", "bighash"), ("list", "biglist")] {
                let mut sent = 0;
                for batch in 0..1000 {
                    let mut args: Vec<Vec<u8>> = vec![
                        if kind == "hash" {
                            b"HSET".to_vec()
                        } else {
                            b"RPUSH".to_vec()
                        },
                        key.as_bytes().to_vec(),
                    ];
                    for i in 0..1000 {
                        let n = batch * 1000 + i;
                        if kind == "hash" {
                            args.push(format!("field:{n}").into_bytes());
                        }
                        args.push(format!("value:{n:012}").into_bytes());
                    }
                    let a: Vec<&[u8]> = args.iter().map(|v| v.as_slice()).collect();
                    c.send(&a);
                    sent += 1;
                    if sent == 50 {
                        for _ in 0..sent {
                            assert!(!c.read().starts_with('-'));
                        }
                        sent = 0;
                    }
                }
                for _ in 0..sent {
                    assert!(!c.read().starts_with('-'));
                }
            }
        }
    }
}

/// Overwrite random data until `stop`; counts writes.
fn write_load(port: u16, d: Dataset, keys: u64, stop: Arc<AtomicBool>, count: Arc<AtomicU64>) {
    let mut c = Conn::new(port);
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let val = vec![b'w'; 100];
    while !stop.load(Ordering::Relaxed) {
        // 16 writes pipelined per round trip.
        for _ in 0..16 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            match d {
                Dataset::Small { .. } => {
                    let batches = keys.div_ceil(1_000_000).max(1);
                    let k = format!("b{}:{}", x % batches, (x >> 20) % 1_000_000);
                    c.send(&[b"SET", k.as_bytes(), &val]);
                }
                Dataset::Big => match x % 3 {
                    0 => {
                        let off = (x >> 8) % (512 * 1024 * 1024 - 16);
                        c.send(&[
                            b"SETRANGE",
                            b"bigstr",
                            off.to_string().as_bytes(),
                            b"0123456789abcdef",
                        ]);
                    }
                    1 => {
                        let f = format!("field:{}", (x >> 8) % 1_000_000);
                        c.send(&[b"HSET", b"bighash", f.as_bytes(), b"new-value"]);
                    }
                    _ => {
                        let i = (x >> 8) % 1_000_000;
                        c.send(&[b"LSET", b"biglist", i.to_string().as_bytes(), b"new-value"]);
                    }
                },
            }
        }
        for _ in 0..16 {
            let r = c.read();
            assert!(!r.starts_with('-'), "{r}");
        }
        count.fetch_add(16, Ordering::Relaxed);
    }
}

fn ping_watch(port: u16, stop: Arc<AtomicBool>, worst_us: Arc<AtomicU64>) {
    let mut c = Conn::new(port);
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let r = c.cmd(&["PING"]);
        assert_eq!(r, "+PONG");
        worst_us.fetch_max(t.elapsed().as_micros() as u64, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn scenario(bin: &str, d: Dataset) -> Row {
    let dir = std::env::temp_dir().join(format!(
        "forkv-snapbench-{}-{}",
        std::process::id(),
        bin.replace('/', "_")
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let extra: &[&str] = if bin.contains("redis-server") {
        &["--appendonly", "no"]
    } else {
        &[]
    };
    let mut s = Server::start(bin, extra, &dir);
    s.wait_up();
    let mut c = Conn::new(s.port);
    let step = |what: &str| eprintln!("  [{bin}] {what}");
    step("filling");
    fill(&mut c, d);
    step("BGSAVE under load");
    let keys: u64 = c
        .cmd(&["DBSIZE"])
        .trim_start_matches(':')
        .parse()
        .unwrap_or(1);
    let mut row = Row::default();
    let stop = Arc::new(AtomicBool::new(false));
    let worst = Arc::new(AtomicU64::new(0));
    let writes = Arc::new(AtomicU64::new(0));
    let port = s.port;
    let (st, wr) = (stop.clone(), writes.clone());
    let load = std::thread::spawn(move || write_load(port, d, keys, st, wr));
    std::thread::sleep(Duration::from_millis(500));
    let (st, w) = (stop.clone(), worst.clone());
    let pinger = std::thread::spawn(move || ping_watch(port, st, w));
    std::thread::sleep(Duration::from_millis(200));
    worst.store(0, Ordering::Relaxed);
    let rss0 = rss(s.pid());
    let writes0 = writes.load(Ordering::Relaxed);
    let t0 = Instant::now();
    let r = c.cmd(&["BGSAVE"]);
    assert!(r.contains("started"), "{r}");
    let mut peak_dirty = 0u64;
    let mut peak_rss = rss0;
    loop {
        if let Some(ch) = child_of(s.pid()) {
            peak_dirty = peak_dirty.max(private_dirty(ch));
        }
        peak_rss = peak_rss.max(rss(s.pid()));
        if c.info("rdb_bgsave_in_progress") == 0.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    row.bgsave_s = t0.elapsed().as_secs_f64();
    row.writes = (writes.load(Ordering::Relaxed) - writes0) as f64;
    row.ping_max_ms = worst.load(Ordering::Relaxed) as f64 / 1000.0;
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    pinger.join().unwrap();
    row.fork_usec = c.info("latest_fork_usec");
    row.cow_info = c.info("rdb_last_cow_size");
    row.child_dirty = peak_dirty as f64;
    row.parent_growth = peak_rss.saturating_sub(rss0) as f64;
    assert_eq!(c.info("rdb_last_bgsave_status"), 0.0, "status must be ok");
    step("SAVE");
    let t = Instant::now();
    assert_eq!(c.cmd(&["SAVE"]), "+OK");
    row.save_s = t.elapsed().as_secs_f64();
    row.file = std::fs::metadata(dir.join("dump.rdb")).map_or(0, |m| m.len()) as f64;
    drop(c);
    step("restart and load");
    row.load_s = s.restart_load_time();
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
    row
}

fn main() {
    let have = |p: &str| {
        Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {p}"))
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !have("redis-server") {
        println!("SKIP: redis-server is needed (apt-get install redis-server)");
        return;
    }
    let forkv = env!("CARGO_BIN_EXE_forkv-server");
    let sizes: Vec<f64> = std::env::var("FORKV_BENCH_SNAPSHOT_GB")
        .unwrap_or_else(|_| "1,4,8".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let mut sets: Vec<Dataset> = sizes.iter().map(|&gib| Dataset::Small { gib }).collect();
    if std::env::var("FORKV_BENCH_SNAPSHOT_BIG").map_or(true, |v| v != "0") {
        sets.push(Dataset::Big);
    }
    println!("BGSAVE under a write load, redis-server then forkv-server; ratios forkv/redis");
    for d in sets {
        let name = match d {
            Dataset::Small { gib } => format!("{gib} GiB of 100-byte strings"),
            Dataset::Big => "big keys: 512 MiB string, 1M-field hash, 1M-element list".into(),
        };
        let r = scenario("redis-server", d);
        let f = scenario(forkv, d);
        println!("\n{name}");
        println!("{:<34} {:>14} {:>14} {:>8}", "", "redis", "forkv", "ratio");
        let mb = |v: f64| v / (1024.0 * 1024.0);
        let rows: [(&str, f64, f64, &str); 11] = [
            (
                "fork (latest_fork_usec, ms)",
                r.fork_usec / 1000.0,
                f.fork_usec / 1000.0,
                "ms",
            ),
            (
                "longest PING during BGSAVE (ms)",
                r.ping_max_ms,
                f.ping_max_ms,
                "ms",
            ),
            (
                "rdb_last_cow_size (MiB)",
                mb(r.cow_info),
                mb(f.cow_info),
                "MiB",
            ),
            (
                "child Private_Dirty peak (MiB)",
                mb(r.child_dirty),
                mb(f.child_dirty),
                "MiB",
            ),
            (
                "parent RSS growth (MiB)",
                mb(r.parent_growth),
                mb(f.parent_growth),
                "MiB",
            ),
            (
                "extra memory: child+parent (MiB)",
                mb(r.child_dirty + r.parent_growth),
                mb(f.child_dirty + f.parent_growth),
                "MiB",
            ),
            ("writes during BGSAVE", r.writes, f.writes, ""),
            ("BGSAVE duration (s)", r.bgsave_s, f.bgsave_s, "s"),
            ("SAVE duration (s)", r.save_s, f.save_s, "s"),
            ("file size (MiB)", mb(r.file), mb(f.file), "MiB"),
            ("load at start-up (s)", r.load_s, f.load_s, "s"),
        ];
        for (label, rv, fv, _) in rows {
            let ratio = if rv > 0.0 { fv / rv } else { f64::NAN };
            println!("{label:<34} {rv:>14.2} {fv:>14.2} {ratio:>7.2}x");
        }
    }
}
