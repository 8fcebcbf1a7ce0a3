//! RDB persistence on the real binary: SAVE/BGSAVE, restart after SIGKILL, save rules,
//! shutdown saves, loading, failed saves and their MISCONF, kill -9 during saves.

mod common;

use common::*;
use std::time::{Duration, Instant};

fn info_field(c: &mut Conn, field: &str) -> String {
    let info = c.cmd(&["INFO", "everything"]).bulk_str();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO"))
        .trim()
        .to_string()
}

/// Send `n` commands built by `cmd(i)` pipelined, then read every reply: none may fail.
fn pipelined(c: &mut Conn, n: usize, cmd: impl Fn(usize) -> Vec<String>) {
    for i in 0..n {
        let args = cmd(i);
        let refs: Vec<&str> = args.iter().map(|a| a.as_str()).collect();
        c.send(&refs);
    }
    for _ in 0..n {
        let r = c.read();
        assert!(!r.is_error(), "{r:?}");
    }
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

fn wait_bgsave_done(c: &mut Conn) {
    wait_until("the background save to end", || {
        info_field(c, "rdb_bgsave_in_progress") == "0"
    });
}

/// OBJECT ENCODING of one key of each kind `populate_all_types` makes.
fn encodings(c: &mut Conn) -> Vec<String> {
    [
        "int",
        "emb",
        "raw",
        "list",
        "intset",
        "strset",
        "smallhash",
        "bighash",
        "smallz",
        "bigz",
        "stream",
    ]
    .iter()
    .map(|k| c.cmd(&["OBJECT", "ENCODING", k]).bulk_str())
    .collect()
}

fn digest(c: &mut Conn) -> String {
    c.cmd(&["DEBUG", "DIGEST"]).bulk_str()
}

fn start(dir: TempDir, extra: &[&str]) -> ServerProc {
    let mut args = vec!["--enable-debug-command", "yes", "--save", ""];
    args.extend_from_slice(extra);
    start_forkv_in(dir, &args)
}

#[test]
fn save_then_sigkill_then_restart_restores_every_type() {
    let s = start(TempDir::new("p-save"), &[]);
    let mut c = s.conn();
    populate_all_types(&mut c);
    let before = digest(&mut c);
    let enc_before = encodings(&mut c);
    assert_eq!(c.cmd(&["SAVE"]), status("OK"));
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "0");
    let dir = s.kill9_keep_dir();
    let s = start(dir, &[]);
    let mut c = s.conn();
    assert_eq!(digest(&mut c), before);
    let enc_after = encodings(&mut c);
    assert_eq!(enc_after, enc_before);
    assert!(c.cmd(&["PTTL", "ttl"]).int() > 0);
    assert_eq!(c.cmd(&["SELECT", "9"]), status("OK"));
    assert_eq!(c.cmd(&["LLEN", "biglist"]).int(), 600);
    assert_eq!(info_field(&mut c, "rdb_last_load_keys_loaded"), "45");
    assert_redis_accepts_rdb_files(s.dir.path());
}

#[test]
fn bgsave_runs_in_a_child_and_reports_like_redis() {
    let s = start(TempDir::new("p-bg"), &[]);
    let mut c = s.conn();
    populate_all_types(&mut c);
    let before = digest(&mut c);
    let t0 = c.cmd(&["LASTSAVE"]).int();
    assert_eq!(c.cmd(&["BGSAVE"]), status("Background saving started"));
    wait_bgsave_done(&mut c);
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    assert!(c.cmd(&["LASTSAVE"]).int() >= t0);
    assert!(info_field(&mut c, "total_forks").parse::<u64>().unwrap() >= 1);
    assert!(
        info_field(&mut c, "latest_fork_usec")
            .parse::<u64>()
            .unwrap()
            > 0
    );
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "0");
    // A slow save: while it runs another one is refused, as Redis words it.
    pipelined(&mut c, 3000, |i| {
        vec!["SET".to_string(), format!("k{i}"), "v".to_string()]
    });
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "1000"]),
        status("OK")
    );
    assert_eq!(c.cmd(&["BGSAVE"]), status("Background saving started"));
    assert_eq!(info_field(&mut c, "rdb_bgsave_in_progress"), "1");
    assert_eq!(
        c.cmd(&["BGSAVE"]),
        err("ERR Background save already in progress")
    );
    assert_eq!(
        c.cmd(&["BGSAVE", "SCHEDULE"]),
        err("ERR Background save already in progress")
    );
    assert_eq!(
        c.cmd(&["SAVE"]),
        err("ERR Background save already in progress")
    );
    assert!(c.cmd(&["BGSAVE", "x"]).is_error());
    assert_eq!(info_field(&mut c, "current_save_keys_total"), "3045");
    // The server keeps serving while the child works.
    assert_eq!(c.cmd(&["SET", "during", "1"]), status("OK"));
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "0"]),
        status("OK")
    );
    wait_bgsave_done(&mut c);
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    // The write made during the save is still owed to the next one.
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "1");
    assert_eq!(c.cmd(&["DEL", "during"]).int(), 1);
    pipelined(&mut c, 3000, |i| vec!["DEL".to_string(), format!("k{i}")]);
    assert_eq!(digest(&mut c), before);
    let dir = s.kill9_keep_dir();
    let s = start(dir, &[]);
    let mut c = s.conn();
    // The file holds the keyspace as of the fork (with the 3000 keys, without "during").
    assert_eq!(c.cmd(&["DBSIZE"]).int(), 15 + 3000);
    assert_eq!(c.cmd(&["EXISTS", "during"]).int(), 0);
    assert_redis_accepts_rdb_files(s.dir.path());
}

/// The child's pid, from /proc (forkv has one child at most).
fn child_of(pid: u32) -> Option<i32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    s.split_whitespace().next()?.parse().ok()
}

#[test]
fn a_child_killed_by_a_signal_is_a_failed_save_and_writes_get_misconf() {
    let s = start_forkv(&["--enable-debug-command", "yes", "--save", "3600 1000000"]);
    let mut c = s.conn();
    pipelined(&mut c, 2000, |i| {
        vec!["SET".to_string(), format!("k{i}"), "v".to_string()]
    });
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "10000"]),
        status("OK")
    );
    assert_eq!(c.cmd(&["BGSAVE"]), status("Background saving started"));
    let mut child = None;
    wait_until("the child to appear", || {
        child = child_of(s.pid());
        child.is_some()
    });
    // SAFETY: kill(2) on the server's child process.
    unsafe { libc::kill(child.unwrap(), libc::SIGKILL) };
    wait_bgsave_done(&mut c);
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "err");
    let misconf = c.cmd(&["SET", "x", "1"]);
    assert!(
        matches!(&misconf, Reply::Error(e) if e.starts_with("MISCONF Redis is configured to save RDB snapshots")),
        "{misconf:?}"
    );
    assert!(c.cmd(&["PING"]).is_error());
    assert_eq!(c.cmd(&["GET", "k1"]), bulk("v"));
    // Queued writes make the transaction fail.
    assert_eq!(c.cmd(&["MULTI"]), status("OK"));
    assert!(c.cmd(&["SET", "x", "1"]).is_error());
    assert!(c.cmd(&["EXEC"]).is_error());
    assert!(s.log_text().contains("terminated by signal 9"));
    // No temp file is left behind.
    let temps: Vec<_> = std::fs::read_dir(s.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("temp-"))
        .collect();
    assert!(temps.is_empty(), "{temps:?}");
    // A successful save lifts the block.
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "0"]),
        status("OK")
    );
    assert_eq!(c.cmd(&["BGSAVE"]), status("Background saving started"));
    wait_bgsave_done(&mut c);
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    assert_eq!(c.cmd(&["SET", "x", "1"]), status("OK"));
    assert_eq!(c.cmd(&["PING"]), status("PONG"));
    assert_redis_accepts_rdb_files(s.dir.path());
}

#[test]
fn kill9_during_bgsave_leaves_a_whole_file() {
    let s = start(TempDir::new("p-k9bg"), &[]);
    let mut c = s.conn();
    populate_all_types(&mut c);
    assert_eq!(c.cmd(&["SAVE"]), status("OK"));
    let old = digest(&mut c);
    pipelined(&mut c, 5000, |i| {
        vec!["SET".to_string(), format!("new{i}"), "value".to_string()]
    });
    let new = digest(&mut c);
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "200"]),
        status("OK")
    );
    assert_eq!(c.cmd(&["BGSAVE"]), status("Background saving started"));
    std::thread::sleep(Duration::from_millis(300));
    let pid = s.pid();
    let child = child_of(pid);
    let dir = s.kill9_keep_dir();
    // The child dies with the server (PR_SET_PDEATHSIG).
    if let Some(ch) = child {
        wait_until("the orphaned child to die", || {
            !std::path::Path::new(&format!("/proc/{ch}")).exists()
                || std::fs::read_to_string(format!("/proc/{ch}/stat"))
                    .is_ok_and(|s| s.contains(") Z "))
        });
    }
    let s = start(dir, &[]);
    let mut c = s.conn();
    let d = digest(&mut c);
    assert!(d == old || d == new, "neither the old nor the new keyspace");
    assert_redis_accepts_rdb_files(s.dir.path());
}

#[test]
fn kill9_at_random_points_of_save_never_damages_the_previous_file() {
    let mut dir = TempDir::new("p-k9save");
    let mut rng = 0x1234_5678u64;
    for round in 0..4 {
        let s = start(dir, &[]);
        let mut c = s.conn();
        let old = digest(&mut c);
        pipelined(&mut c, 3000, |i| {
            vec![
                "SET".to_string(),
                format!("r{round}-{i}"),
                "v".repeat(i % 100),
            ]
        });
        let new = digest(&mut c);
        assert_eq!(
            c.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "100"]),
            status("OK")
        );
        // SAVE blocks the server; kill it somewhere in the middle (or just after).
        c.send(&["SAVE"]);
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(50 + (rng >> 33) % 600));
        dir = s.kill9_keep_dir();
        let s = start(dir, &[]);
        let mut c = s.conn();
        let d = digest(&mut c);
        assert!(
            d == old || d == new,
            "round {round}: neither the old nor the new keyspace"
        );
        // Make the next round's "old" the state on disk.
        assert_eq!(c.cmd(&["SAVE"]), status("OK"));
        dir = s.kill9_keep_dir();
    }
    assert_redis_accepts_rdb_files(dir.path());
}

#[test]
fn save_rules_start_background_saves() {
    let s = start_forkv(&["--save", "1 1"]);
    let mut c = s.conn();
    assert_eq!(c.cmd(&["SET", "a", "1"]), status("OK"));
    wait_until("a save triggered by 'save 1 1'", || {
        info_field(&mut c, "rdb_changes_since_last_save") == "0"
            && info_field(&mut c, "rdb_saves") != "0"
    });
    assert!(s.dir.path().join("dump.rdb").exists());
    assert!(s.log_text().contains("changes in 1 seconds. Saving..."));
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "save"]).to_string_vec(),
        vec!["save", "1 1"]
    );
    assert_redis_accepts_rdb_files(s.dir.path());
}

#[test]
fn shutdown_save_nosave_and_sigterm() {
    let s = start(TempDir::new("p-shut"), &[]);
    let mut c = s.conn();
    assert_eq!(c.cmd(&["SET", "a", "1"]), status("OK"));
    c.send(&["SHUTDOWN", "SAVE"]);
    let mut s = s;
    assert!(s.wait_exit().is_some_and(|st| st.success()));
    let s = start(s.take_dir(), &[]);
    let mut c = s.conn();
    assert_eq!(c.cmd(&["GET", "a"]), bulk("1"));
    assert_eq!(c.cmd(&["SET", "b", "2"]), status("OK"));
    c.send(&["SHUTDOWN", "NOSAVE"]);
    let mut s = s;
    assert!(s.wait_exit().is_some());
    // With save points, SIGTERM saves before exiting.
    let mut s = start_forkv_in(s.take_dir(), &["--save", "3600 1"]);
    let mut c = s.conn();
    assert_eq!(c.cmd(&["EXISTS", "b"]).int(), 0);
    assert_eq!(c.cmd(&["SET", "c", "3"]), status("OK"));
    let st = s.signal_and_wait(libc::SIGTERM);
    assert!(st.success());
    assert!(
        s.log_text()
            .contains("Saving the final RDB snapshot before exiting.")
    );
    let s = start(s.take_dir(), &[]);
    let mut c = s.conn();
    assert_eq!(c.cmd(&["GET", "c"]), bulk("3"));
    assert_redis_accepts_rdb_files(s.dir.path());
}

#[test]
fn a_failed_final_save_refuses_shutdown_unless_forced() {
    let s = start(TempDir::new("p-shutfail"), &[]);
    let mut c = s.conn();
    assert_eq!(c.cmd(&["SET", "a", "1"]), status("OK"));
    // Saving into a directory that is gone fails.
    let sub = s.dir.path().join("gone");
    std::fs::create_dir(&sub).unwrap();
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "dir", sub.to_str().unwrap()]),
        err(
            "ERR CONFIG SET failed (possibly related to argument 'dir') - can't set protected config"
        )
    );
    // Unwritable file name instead: a directory of that name is in the way.
    std::fs::create_dir(s.dir.path().join("dump.rdb")).unwrap();
    assert_eq!(c.cmd(&["SAVE"]), err("ERR"));
    assert_eq!(
        c.cmd(&["SHUTDOWN", "SAVE"]),
        err("ERR Errors trying to SHUTDOWN. Check logs.")
    );
    assert_eq!(c.cmd(&["PING"]), status("PONG"));
    c.send(&["SHUTDOWN", "SAVE", "FORCE"]);
    let mut s = s;
    assert!(s.wait_exit().is_some());
}

#[test]
fn loading_answers_loading_and_reports_progress() {
    let s = start(TempDir::new("p-load"), &[]);
    let mut c = s.conn();
    pipelined(&mut c, 20000, |i| {
        vec!["SET".to_string(), format!("key:{i}"), format!("{i}")]
    });
    assert_eq!(c.cmd(&["SAVE"]), status("OK"));
    let dir = s.kill9_keep_dir();
    let s = start(
        dir,
        &[
            "--key-load-delay",
            "100",
            "--loading-process-events-interval-bytes",
            "1024",
        ],
    );
    let mut c = s.conn();
    assert_eq!(
        c.cmd(&["GET", "key:1"]),
        err("LOADING Redis is loading the dataset in memory")
    );
    let info = c.cmd(&["INFO", "persistence"]).bulk_str();
    assert!(info.contains("loading:1"), "{info}");
    assert!(info.contains("loading_loaded_perc:"), "{info}");
    assert!(info.contains("loading_eta_seconds:"), "{info}");
    wait_until("loading to end", || info_field(&mut c, "loading") == "0");
    assert_eq!(c.cmd(&["DBSIZE"]).int(), 20000);
    assert_eq!(c.cmd(&["GET", "key:19999"]), bulk("19999"));
    assert_redis_accepts_rdb_files(s.dir.path());
}

#[test]
fn expired_keys_are_dropped_at_load() {
    let s = start(TempDir::new("p-exp"), &[]);
    let mut c = s.conn();
    assert_eq!(c.cmd(&["SET", "soon", "1", "PX", "200"]), status("OK"));
    assert_eq!(c.cmd(&["SET", "later", "1", "EX", "1000"]), status("OK"));
    assert_eq!(c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), status("OK"));
    assert_eq!(c.cmd(&["SAVE"]), status("OK"));
    let dir = s.kill9_keep_dir();
    std::thread::sleep(Duration::from_millis(300));
    let s = start(dir, &[]);
    let mut c = s.conn();
    assert_eq!(c.cmd(&["DBSIZE"]).int(), 1);
    assert_eq!(info_field(&mut c, "rdb_last_load_keys_expired"), "1");
    assert_eq!(info_field(&mut c, "rdb_last_load_keys_loaded"), "1");
    assert_redis_accepts_rdb_files(s.dir.path());
}

#[test]
fn debug_reload_keeps_the_dataset() {
    let s = start(TempDir::new("p-reload"), &[]);
    let mut c = s.conn();
    populate_all_types(&mut c);
    let d = digest(&mut c);
    assert_eq!(c.cmd(&["DEBUG", "RELOAD"]), status("OK"));
    assert_eq!(digest(&mut c), d);
    let v = c
        .cmd(&["DEBUG", "DIGEST-VALUE", "list", "nosuchkey"])
        .to_string_vec();
    assert_eq!(v.len(), 2);
    assert_eq!(v[1], "0".repeat(40));
    assert_ne!(v[0], "0".repeat(40));
    // MERGE + NOFLUSH + NOSAVE loads the file over what is there.
    assert_eq!(c.cmd(&["SET", "int", "changed"]), status("OK"));
    assert_eq!(
        c.cmd(&["DEBUG", "RELOAD", "MERGE", "NOFLUSH", "NOSAVE"]),
        status("OK")
    );
    assert_eq!(c.cmd(&["GET", "int"]), bulk("12345"));
    assert_eq!(
        c.cmd(&["DEBUG", "RELOAD", "BOGUS"]),
        err("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.")
    );
    assert_redis_accepts_rdb_files(s.dir.path());
}

#[test]
fn dbfilename_rules_and_corrupt_files() {
    let s = start(
        TempDir::new("p-conf"),
        &["--enable-protected-configs", "yes"],
    );
    let mut c = s.conn();
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "dbfilename", "a/b.rdb"]),
        err(
            "ERR CONFIG SET failed (possibly related to argument 'dbfilename') - dbfilename can't be a path, just a filename"
        )
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "dbfilename", "other.rdb"]),
        status("OK")
    );
    assert_eq!(c.cmd(&["SET", "k", "v"]), status("OK"));
    assert_eq!(c.cmd(&["SAVE"]), status("OK"));
    assert!(s.dir.path().join("other.rdb").exists());
    let dir = s.kill9_keep_dir();
    // A truncated file stops the start-up with the offset and the reason.
    let good = std::fs::read(dir.path().join("other.rdb")).unwrap();
    std::fs::write(dir.path().join("dump.rdb"), &good[..good.len() - 5]).unwrap();
    let out = std::process::Command::new(forkv_bin())
        .args(["--port", &free_port().to_string(), "--bind", "127.0.0.1"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let log =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        log.contains("Fatal error loading the DB") && log.contains("offset"),
        "{log}"
    );
}

#[test]
fn forkv_check_rdb_reports_contents_and_the_first_error() {
    let s = start(TempDir::new("p-check"), &[]);
    let mut c = s.conn();
    populate_all_types(&mut c);
    assert_eq!(c.cmd(&["SAVE"]), status("OK"));
    let file = s.dir.path().join("dump.rdb");
    let tool = env!("CARGO_BIN_EXE_forkv-check-rdb");
    let out = std::process::Command::new(tool)
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("RDB version 10"), "{text}");
    assert!(text.contains("AUX FIELD redis-ver = '7.0.15'"), "{text}");
    assert!(text.contains("[info] db 3: 15 keys, 2 expires"), "{text}");
    assert!(text.contains("[info] type stream-listpacks-2: 3"), "{text}");
    assert!(text.contains("[info] type list-quicklist2: 6"), "{text}");
    assert!(
        text.contains("Checksum OK") && text.contains("RDB looks OK"),
        "{text}"
    );
    // One flipped byte in the middle: refused, with where.
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    let bad = s.dir.path().join("bad.rdb");
    std::fs::write(&bad, &bytes).unwrap();
    let out = std::process::Command::new(tool).arg(&bad).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("RDB ERROR DETECTED") && text.contains("[offset "),
        "{text}"
    );
    assert_redis_accepts_rdb_files(s.dir.path());
}
