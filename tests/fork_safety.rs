//! Fork safety of the snapshot child (DESIGN §8–9, PLATFORM.md): while other threads allocate
//! (small and large blocks), free memory the main thread allocated, log and panic, the main
//! thread clones 500 children that each allocate and serialize a keyspace. A child that waited
//! on a lock some thread held at the clone would never exit: every child must exit, within a
//! generous bound, with the status its body chose.

use forkv::db::{Db, KeyHasher, Obj};
use forkv::persist::child::{self, ChildExit, ChildMsg};
use forkv::persist::rdb::RdbWriter;
use forkv::types::quicklist::{End, Quicklist};
use forkv::types::{HashValue, StrValue, Value};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

// The server's allocator: what the child must switch away from.
#[global_allocator]
static GLOBAL: forkv::alloc::CountingAlloc = forkv::alloc::CountingAlloc;

const CHILDREN: usize = 500;
/// A child that has not exited after this long is hung (they take milliseconds).
const HANG: Duration = Duration::from_secs(20);

fn keyspace() -> Vec<Db> {
    let h = KeyHasher::default();
    let mut db = Db::new(&h);
    for i in 0..2000 {
        let val = match i % 3 {
            0 => Value::Str(StrValue::from_bytes(format!("value-{i}").as_bytes())),
            1 => {
                let mut q = Quicklist::new();
                for j in 0..20 {
                    q.push(End::Tail, format!("e{j}").as_bytes(), -2);
                }
                Value::List(Box::new(q))
            }
            _ => {
                let mut hv = HashValue::new();
                let lim = forkv::types::hash::HashLimits {
                    max_entries: 128,
                    max_value: 64,
                };
                for j in 0..10 {
                    hv.set(format!("f{j}").as_bytes(), b"v", lim, &h);
                }
                Value::Hash(hv)
            }
        };
        db.dict
            .insert_new(format!("key:{i}").as_bytes(), Obj { val, lru: 0 });
    }
    vec![db]
}

/// Wait for a child's exit with a bound; None if it hung (it is then killed).
fn wait_bounded(c: &child::SnapshotChild) -> Option<ChildExit> {
    let mut p = libc::pollfd {
        fd: c.pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: poll on one valid pollfd we own.
    let r = unsafe { libc::poll(&mut p, 1, HANG.as_millis() as i32) };
    if r <= 0 {
        c.kill(libc::SIGKILL);
        c.wait();
        return None;
    }
    Some(c.wait())
}

#[test]
fn hundreds_of_children_under_allocation_logging_and_panics_never_hang() {
    let _ = env_logger::builder()
        .filter_level(log::LevelFilter::Info)
        .target(env_logger::Target::Stderr)
        .try_init();
    // One glibc arena for every thread (PLATFORM.md's worst case): any thread's large
    // allocation holds the lock a child's glibc malloc would need.
    // SAFETY: mallopt only tunes malloc; called before the test starts its threads.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    // Allocation churn: one thread on small blocks (the slabs' spin locks), one on larger
    // blocks (glibc's arena lock, which a raw-clone child would wait on forever).
    for small in [true, false] {
        let stop = stop.clone();
        threads.push(std::thread::spawn(move || {
            let mut keep: Vec<Vec<u8>> = Vec::new();
            let mut n = 1usize;
            while !stop.load(Ordering::Relaxed) {
                n = n
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let r = n >> 33;
                let size = if small {
                    8 + r % 4000
                } else {
                    5000 + r % 60000
                };
                // Allocation without filling: the point is the allocator's locks.
                let mut b = Vec::with_capacity(size);
                b.push(1u8);
                keep.push(b);
                if keep.len() > 64 {
                    keep.swap_remove(r % keep.len());
                }
            }
        }));
    }
    // Frees of memory the main thread allocated.
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    {
        let stop = stop.clone();
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(v) = rx.recv_timeout(Duration::from_millis(10)) {
                    drop(v);
                }
            }
        }));
    }
    // Logging (the logger's and stderr's locks).
    {
        let stop = stop.clone();
        threads.push(std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // Bursts, so the logger's locks are often held without flooding the terminal.
                for _ in 0..20 {
                    log::info!("background log line {i}");
                    i += 1;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }));
    }
    // Panics (the panic machinery and its output).
    {
        let stop = stop.clone();
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..20 {
                    let _ =
                        std::panic::catch_unwind(|| panic!("deliberate panic in a test thread"));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }));
    }

    let dbs = keyspace();
    let t0 = std::time::Instant::now();
    let (mut hung, mut wrong) = (0, 0);
    let mut panics_reported = 0;
    for i in 0..CHILDREN {
        // Main-thread memory for another thread to free while children are being made.
        for k in 0..8 {
            let _ = tx.send(vec![k as u8; 100 + (i * 37 + k * 1000) % 20000]);
        }
        let must_panic = i % 50 == 49;
        let c = child::spawn(|ctx| {
            // Allocate and free in every size class and above, then serialize.
            let mut v: Vec<Vec<u8>> = (0..200).map(|j| vec![j as u8; 8 + j * 97]).collect();
            v.truncate(50);
            let mut big = Vec::with_capacity(300_000);
            big.resize(300_000, 7u8);
            let mut w = RdbWriter::new(Vec::new(), true, true);
            w.header().unwrap();
            forkv::persist::snapshot::write_keyspace(
                &mut w,
                &dbs,
                &forkv::persist::snapshot::SaveOptions {
                    checksum: true,
                    compress: true,
                    incremental_fsync: false,
                    save_lru: false,
                    save_lfu: false,
                    lfu_decay_time: 1,
                    now_ms: 0,
                    used_mem: 0,
                    key_save_delay: 0,
                    function_libraries: Vec::new(),
                },
                &mut |k| ctx.progress(k),
            )
            .unwrap();
            let out = w.finish().unwrap();
            ctx.log(&format!("wrote {} bytes", out.len()));
            if must_panic {
                panic!("deliberate panic in child {i}");
            }
            out.len() > 1000 && big.len() == 300_000
        })
        .expect("clone3");
        let mut c = c;
        match wait_bounded(&c) {
            None => hung += 1,
            Some(ChildExit::Code(code)) if code == if must_panic { 1 } else { 0 } => {}
            Some(other) => {
                wrong += 1;
                eprintln!("child {i} ended with {other:?}");
            }
        }
        let msgs = c.read_messages();
        if must_panic
            && msgs
                .iter()
                .any(|m| matches!(m, ChildMsg::Log(s) if s.contains("child panicked")))
        {
            panics_reported += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    drop(tx);
    for t in threads {
        t.join().unwrap();
    }
    eprintln!("{CHILDREN} children in {:?}", t0.elapsed());
    assert_eq!(hung, 0, "{hung} of {CHILDREN} children hung");
    assert_eq!(wrong, 0, "{wrong} children ended with the wrong status");
    assert_eq!(
        panics_reported,
        CHILDREN / 50,
        "each panicking child reports its panic"
    );
}
