//! Side-by-side benchmark: forkv-server and redis-server started by this program, measured in
//! the same run, alternating, and reported as ratios forkv/redis.
//!
//! 1. redis-benchmark: SET/GET/INCR/MSET, 50 clients, pipeline 1 and 16, 16 B and 1 KiB values:
//!    ops/s and p50/p99/p99.9 latency.
//!    Collections: LPUSH/LPOP/SADD/HSET/ZADD (16 B) and LRANGE_100.
//! 2. Memory per element (used_memory_rss growth): small collections (many keys of a few
//!    elements: listpack/intset encodings) and large ones (one key of many elements:
//!    quicklist/hashtable/skiplist) of each type.
//! 3. Growth: pipelined SETs up to N keys (FORKV_BENCH_KEYS, default 10,000,000) while a second
//!    connection PINGs; the longest PING round trip shows stop-the-world resizes.
//!
//! Run: `cargo bench --bench side_by_side` (FORKV_BENCH_QUICK=1 for a short run,
//! FORKV_BENCH_MEMORY_ONLY=1 for the memory table alone). Needs
//! redis-server and redis-benchmark on PATH.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Proc {
    child: Child,
    port: u16,
    _dir: std::path::PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_up(port: u16) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.write_all(b"PING\r\n");
            let mut b = [0u8; 7];
            if s.read_exact(&mut b).is_ok() {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("server on port {port} did not start");
}

fn start(bin: &str, extra: &[&str]) -> Proc {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("forkv-bench-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let child = Command::new(bin)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(extra)
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
    wait_up(port);
    Proc {
        child,
        port,
        _dir: dir,
    }
}

fn have(p: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {p}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[derive(Clone, Copy, Default, Debug)]
struct Sample {
    rps: f64,
    p50: f64,
    p99: f64,
    p999: f64,
}

/// Run redis-benchmark and read throughput and percentiles from its full report.
fn redis_benchmark(port: u16, test: &str, pipeline: u32, size: u32, n: u64) -> Sample {
    let out = Command::new("redis-benchmark")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-c",
            "50",
            "-n",
            &n.to_string(),
        ])
        .args([
            "-P",
            &pipeline.to_string(),
            "-d",
            &size.to_string(),
            "-t",
            test,
            "-r",
            "100000",
        ])
        .output()
        .expect("redis-benchmark");
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
    let mut s = Sample::default();
    let mut in_dist = false;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with("Latency by percentile distribution") {
            in_dist = true;
            continue;
        }
        if in_dist && l.starts_with("Cumulative") {
            in_dist = false;
        }
        if in_dist {
            // "99.900% <= 1.231 milliseconds (cumulative count 99900)"
            if let Some((pct, rest)) = l.split_once("% <= ") {
                let pct: f64 = pct.parse().unwrap_or(0.0);
                let ms: f64 = rest
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0.0);
                if s.p50 == 0.0 && pct >= 50.0 {
                    s.p50 = ms;
                }
                if s.p99 == 0.0 && pct >= 99.0 {
                    s.p99 = ms;
                }
                if s.p999 == 0.0 && pct >= 99.9 {
                    s.p999 = ms;
                }
            }
        }
        if let Some(v) = l.strip_prefix("throughput summary: ") {
            s.rps = v
                .split_whitespace()
                .next()
                .and_then(|x| x.parse().ok())
                .unwrap_or(0.0);
        }
    }
    s
}

/// Resident bytes of a process (INFO's used_memory_rss is refreshed only by Redis's cron).
fn rss_of(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/statm")).unwrap_or_default();
    let pages: f64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0
}

/// A numeric field of INFO.
fn info_field(port: u16, section: &str, field: &str) -> f64 {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    w.write_all(format!("INFO {section}\r\n").as_bytes())
        .unwrap();
    let mut head = String::new();
    r.read_line(&mut head).unwrap();
    let n: usize = head.trim()[1..].parse().unwrap();
    let mut body = vec![0u8; n + 2];
    r.read_exact(&mut body).unwrap();
    let text = String::from_utf8_lossy(&body);
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Send commands pipelined in batches and wait for all replies.
fn pipeline(port: u16, cmds: impl Iterator<Item = Vec<Vec<u8>>>) {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::with_capacity(1 << 20, s);
    let mut buf = Vec::new();
    let mut pending = 0usize;
    let mut line = Vec::new();
    let mut flush = |buf: &mut Vec<u8>, pending: &mut usize| {
        w.write_all(buf).unwrap();
        buf.clear();
        for _ in 0..*pending {
            line.clear();
            r.read_until(b'\n', &mut line).unwrap();
            assert!(line[0] != b'-', "{}", String::from_utf8_lossy(&line));
        }
        *pending = 0;
    };
    for c in cmds {
        buf.extend_from_slice(format!("*{}\r\n", c.len()).as_bytes());
        for a in &c {
            buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            buf.extend_from_slice(a);
            buf.extend_from_slice(b"\r\n");
        }
        pending += 1;
        if pending == 1000 {
            flush(&mut buf, &mut pending);
        }
    }
    flush(&mut buf, &mut pending);
}

/// Commands filling `keys` keys of type `kind` with `per_key` elements each (100 per command).
fn fill_cmds(kind: &'static str, keys: u64, per_key: u64) -> impl Iterator<Item = Vec<Vec<u8>>> {
    (0..keys).flat_map(move |k| {
        let key = format!("{kind}:{k:08}").into_bytes();
        (0..per_key).step_by(100).map(move |start| {
            let mut c: Vec<Vec<u8>> = match kind {
                "list" => vec![b"RPUSH".to_vec(), key.clone()],
                "hash" => vec![b"HSET".to_vec(), key.clone()],
                "set" => vec![b"SADD".to_vec(), key.clone()],
                _ => vec![b"ZADD".to_vec(), key.clone()],
            };
            for e in start..(start + 100).min(per_key) {
                let m = format!("element:{e:08}").into_bytes();
                match kind {
                    "hash" => {
                        c.push(format!("field:{e:08}").into_bytes());
                        c.push(m);
                    }
                    "zset" => {
                        c.push(e.to_string().into_bytes());
                        c.push(m);
                    }
                    _ => c.push(m),
                }
            }
            c
        })
    })
}

/// Bytes per element for each type, small and large, forkv beside redis-server: the
/// allocator's count (INFO used_memory) and resident memory (RSS, which also holds what the
/// allocator keeps after the load's transient buffers are freed).
fn memory_rows(forkv_bin: &str, quick: bool) {
    let (small_keys, large_elems) = if quick {
        (20_000, 200_000)
    } else {
        (200_000, 2_000_000)
    };
    println!("\nmemory per element after loading (bytes; ratio forkv/redis):");
    println!(
        "{:<6} {:<22} | {:>9} {:>9} {:>6} | {:>9} {:>9} {:>6}",
        "type", "shape", "forkv used", "redis used", "ratio", "forkv RSS", "redis RSS", "ratio"
    );
    for kind in ["list", "hash", "set", "zset"] {
        for (keys, per_key) in [(small_keys, 8u64), (1, large_elems)] {
            let mut used = [0.0f64; 2];
            let mut rss = [0.0f64; 2];
            for (i, bin) in [forkv_bin, "redis-server"].iter().enumerate() {
                let extra: &[&str] = if i == 1 {
                    &["--appendonly", "no", "--save", ""]
                } else {
                    &[]
                };
                let p = start(bin, extra);
                // Warm up with 16 MB of traffic first: forkv's receive buffers (512 x 16 KiB,
                // a fixed cost) and Redis's client buffers become resident before the baseline.
                let blob = vec![b'x'; 1024];
                pipeline(
                    p.port,
                    (0..16_000).map(|_| vec![b"ECHO".to_vec(), blob.clone()]),
                );
                std::thread::sleep(Duration::from_millis(300));
                let (u0, r0) = (
                    info_field(p.port, "memory", "used_memory"),
                    rss_of(p.child.id()),
                );
                pipeline(p.port, fill_cmds(kind, keys, per_key));
                // Let the server finish closing the loading connection (its buffers go then).
                std::thread::sleep(Duration::from_millis(300));
                let (u1, r1) = (
                    info_field(p.port, "memory", "used_memory"),
                    rss_of(p.child.id()),
                );
                let n = (keys * per_key) as f64;
                used[i] = (u1 - u0) / n;
                rss[i] = (r1 - r0) / n;
            }
            println!(
                "{:<6} {:<22} | {:>9.1} {:>9.1} {:>5.2}x | {:>9.1} {:>9.1} {:>5.2}x",
                kind,
                format!("{keys} keys x {per_key}"),
                used[0],
                used[1],
                used[0] / used[1],
                rss[0],
                rss[1],
                rss[0] / rss[1]
            );
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Fill `keys` keys with pipelined SETs while another connection PINGs once per millisecond;
/// returns (load seconds, longest PING round trip in ms).
/// One growth run: load time, the longest PING and the 99.9th percentile PING.
struct Growth {
    secs: f64,
    worst_ms: f64,
    p999_ms: f64,
}

fn growth(port: u16, keys: u64) -> Growth {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let pinger = std::thread::spawn(move || {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_nodelay(true).unwrap();
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        let mut samples: Vec<(Duration, Duration)> = Vec::new();
        let mut line = String::new();
        let t0 = Instant::now();
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            let t = Instant::now();
            w.write_all(b"PING\r\n").unwrap();
            line.clear();
            r.read_line(&mut line).unwrap();
            samples.push((t - t0, t.elapsed()));
            std::thread::sleep(Duration::from_millis(1));
        }
        samples.sort_by_key(|s| std::cmp::Reverse(s.1));
        if std::env::var("FORKV_BENCH_VERBOSE").is_ok() {
            for (at, lat) in samples.iter().take(8) {
                println!(
                    "    PING at {:.3}s took {:.2}ms",
                    at.as_secs_f64(),
                    lat.as_secs_f64() * 1000.0
                );
            }
        }
        let worst = samples.first().map_or(Duration::ZERO, |s| s.1);
        let p999 = samples
            .get(samples.len() / 1000)
            .map_or(Duration::ZERO, |s| s.1);
        (worst, p999)
    });
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut w = s.try_clone().unwrap();
    let reader = std::thread::spawn(move || {
        let mut r = BufReader::with_capacity(1 << 20, s);
        let mut line = Vec::new();
        for _ in 0..keys {
            line.clear();
            r.read_until(b'\n', &mut line).unwrap();
        }
    });
    let start = Instant::now();
    let batch = 1000;
    let mut buf = Vec::with_capacity(batch * 64);
    let mut i = 0u64;
    while i < keys {
        buf.clear();
        for _ in 0..batch.min((keys - i) as usize) {
            let k = format!("key:{i:012}");
            buf.extend_from_slice(
                format!(
                    "*3\r\n$3\r\nSET\r\n${}\r\n{}\r\n$5\r\nvalue\r\n",
                    k.len(),
                    k
                )
                .as_bytes(),
            );
            i += 1;
        }
        w.write_all(&buf).unwrap();
    }
    reader.join().unwrap();
    let secs = start.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (worst, p999) = pinger.join().unwrap();
    Growth {
        secs,
        worst_ms: worst.as_secs_f64() * 1000.0,
        p999_ms: p999.as_secs_f64() * 1000.0,
    }
}

fn main() {
    // `cargo bench` passes --bench; ignore arguments.
    if !have("redis-server") || !have("redis-benchmark") {
        println!(
            "SKIP: redis-server and redis-benchmark are needed (apt-get install redis-server redis-tools)"
        );
        return;
    }
    let quick = std::env::var("FORKV_BENCH_QUICK").is_ok();
    let forkv_bin = env!("CARGO_BIN_EXE_forkv-server");
    if std::env::var("FORKV_BENCH_MEMORY_ONLY").is_ok() {
        memory_rows(forkv_bin, quick);
        return;
    }
    let rounds = if quick { 1 } else { 3 };
    let n = if quick { 100_000 } else { 1_000_000 };
    println!(
        "forkv vs redis-server, {rounds} alternating round(s), 50 clients, {n} requests per run"
    );
    println!(
        "{:<8} {:>3} {:>6} | {:>12} {:>12} {:>7} | {:>7} {:>7} {:>7} (latency ratios: redis/forkv, >1 = forkv faster)",
        "test", "P", "size", "forkv ops/s", "redis ops/s", "ops x", "p50 x", "p99 x", "p99.9 x"
    );
    let redis = start("redis-server", &["--appendonly", "no", "--save", ""]);
    let forkv = start(forkv_bin, &[]);
    let skip_rb = std::env::var("FORKV_BENCH_GROWTH_ONLY").is_ok();
    let rows: Vec<(&str, &[u32])> = if skip_rb {
        Vec::new()
    } else {
        vec![
            ("set", &[16, 1024]),
            ("get", &[16, 1024]),
            ("incr", &[16]),
            ("mset", &[16, 1024]),
            ("lpush", &[16]),
            ("lpop", &[16]),
            ("sadd", &[16]),
            ("hset", &[16]),
            ("zadd", &[16]),
            ("lrange_100", &[16]),
        ]
    };
    for (test, sizes) in rows {
        for pipeline in [1u32, 16] {
            for &size in sizes {
                let (mut fs, mut rs) = (Vec::new(), Vec::new());
                for _ in 0..rounds {
                    rs.push(redis_benchmark(redis.port, test, pipeline, size, n));
                    fs.push(redis_benchmark(forkv.port, test, pipeline, size, n));
                }
                let m = |v: &[Sample], f: fn(&Sample) -> f64| median(v.iter().map(f).collect());
                let (frps, rrps) = (m(&fs, |s| s.rps), m(&rs, |s| s.rps));
                let ratio = |r: f64, f: f64| if f > 0.0 { r / f } else { 0.0 };
                println!(
                    "{:<8} {:>3} {:>6} | {:>12.0} {:>12.0} {:>6.2}x | {:>6.2}x {:>6.2}x {:>6.2}x",
                    test,
                    pipeline,
                    size,
                    frps,
                    rrps,
                    frps / rrps.max(1.0),
                    ratio(m(&rs, |s| s.p50), m(&fs, |s| s.p50)),
                    ratio(m(&rs, |s| s.p99), m(&fs, |s| s.p99)),
                    ratio(m(&rs, |s| s.p999), m(&fs, |s| s.p999)),
                );
            }
        }
    }
    drop(redis);
    drop(forkv);
    memory_rows(forkv_bin, quick);
    let keys: u64 = std::env::var("FORKV_BENCH_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 1_000_000 } else { 10_000_000 });
    println!(
        "\ngrowth to {keys} keys with pipelined SET while PINGing every ms ({rounds} alternating round(s); medians):"
    );
    // On 2 cores the writer, reader and pinger threads compete with the server, so a single
    // run's worst PING is mostly scheduling noise (either server shows 8-29 ms outliers): report
    // every run and the medians.
    let (mut fg, mut rg) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let redis = start("redis-server", &["--appendonly", "no", "--save", ""]);
        rg.push(growth(redis.port, keys));
        drop(redis);
        let forkv = start(forkv_bin, &[]);
        fg.push(growth(forkv.port, keys));
        drop(forkv);
    }
    let runs = |g: &[Growth]| {
        g.iter()
            .map(|g| format!("{:.2}", g.worst_ms))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!(
        "  worst PING per run (ms): forkv {}  redis {}",
        runs(&fg),
        runs(&rg)
    );
    let med = |g: &[Growth], f: fn(&Growth) -> f64| median(g.iter().map(f).collect());
    for (what, f) in [
        ("load time (s)", (|g: &Growth| g.secs) as fn(&Growth) -> f64),
        ("worst PING (ms)", |g: &Growth| g.worst_ms),
        ("p99.9 PING (ms)", |g: &Growth| g.p999_ms),
    ] {
        let (fv, rv) = (med(&fg, f), med(&rg, f));
        println!(
            "  {what:<16} forkv {fv:.2}  redis {rv:.2}  ratio forkv/redis {:.2}",
            fv / rv
        );
    }
}
