//! Side-by-side benchmark: forkv-server and redis-server started by this program, measured in
//! the same run, alternating, and reported as ratios forkv/redis.
//!
//! 1. redis-benchmark: SET/GET/INCR/MSET, 50 clients, pipeline 1 and 16, 16 B and 1 KiB values:
//!    ops/s and p50/p99/p99.9 latency.
//! 2. Growth: pipelined SETs up to N keys (FORKV_BENCH_KEYS, default 10,000,000) while a second
//!    connection PINGs; the longest PING round trip shows stop-the-world resizes.
//!
//! Run: `cargo bench --bench side_by_side` (FORKV_BENCH_QUICK=1 for a short run). Needs
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Fill `keys` keys with pipelined SETs while another connection PINGs once per millisecond;
/// returns (load seconds, longest PING round trip in ms).
fn growth(port: u16, keys: u64) -> (f64, f64) {
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
        samples.first().map_or(Duration::ZERO, |s| s.1)
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
    let worst = pinger.join().unwrap();
    (secs, worst.as_secs_f64() * 1000.0)
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
    let keys: u64 = std::env::var("FORKV_BENCH_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 1_000_000 } else { 10_000_000 });
    println!("\ngrowth to {keys} keys with pipelined SET while PINGing every ms:");
    let redis = start("redis-server", &["--appendonly", "no", "--save", ""]);
    let (rs, rw) = growth(redis.port, keys);
    drop(redis);
    let forkv = start(forkv_bin, &[]);
    let (fs, fw) = growth(forkv.port, keys);
    drop(forkv);
    println!(
        "  load time  forkv {fs:.2}s  redis {rs:.2}s  ratio forkv/redis {:.2}",
        fs / rs
    );
    println!(
        "  worst PING forkv {fw:.2}ms  redis {rw:.2}ms  ratio forkv/redis {:.2}",
        fw / rw
    );
}
