//! RDB compatibility with the real Redis 7.0: files forkv writes are accepted by
//! `redis-check-rdb` and loaded by `redis-server` with the same DEBUG DIGEST; files
//! `redis-server` writes load in forkv the same way; DUMP payloads restore across both; and
//! pre-7.0 encodings (ziplist, zipmap, quicklist of ziplists, zset text doubles) read by both
//! give the same dataset. Skipped with a printed reason when redis-server is absent.

mod common;

use common::*;
use std::path::Path;

fn digest(c: &mut Conn) -> String {
    c.cmd(&["DEBUG", "DIGEST"]).bulk_str()
}

fn keys(c: &mut Conn) -> Vec<String> {
    let mut k = c.cmd(&["KEYS", "*"]).to_string_vec();
    k.sort();
    k
}

/// (db, key, encoding) of every key in databases 0..16.
fn encodings(c: &mut Conn) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    for db in 0..16 {
        assert!(!c.cmd(&["SELECT", &db.to_string()]).is_error());
        for k in keys(c) {
            let e = c.cmd(&["OBJECT", "ENCODING", &k]).bulk_str();
            out.push((db, k, e));
        }
    }
    assert!(!c.cmd(&["SELECT", "0"]).is_error());
    out
}

/// Extra shapes on top of `populate_all_types`: compressed and plain list nodes, big
/// hash/set/zset tables, integers of every width, long compressible values.
fn populate_more(c: &mut Conn) {
    let ok = |r: Reply| assert!(!r.is_error(), "{r:?}");
    ok(c.cmd(&["SELECT", "5"]));
    ok(c.cmd(&["CONFIG", "SET", "list-compress-depth", "1"]));
    for i in 0..2000 {
        c.send(&[
            "RPUSH",
            "compressed",
            &format!("item {i} {}", "abc".repeat(i % 20)),
        ]);
    }
    for i in 0..700 {
        c.send(&["HSET", "hashtable", &format!("f{i}"), &format!("{i}")]);
        c.send(&["SADD", "settable", &format!("m{i}")]);
        c.send(&["SADD", "bigintset", &format!("{}", i * 1_000_000_007)]);
        c.send(&[
            "ZADD",
            "zskip",
            &format!("{}", (i as f64).sqrt()),
            &format!("z{i}"),
        ]);
    }
    for _ in 0..2000 + 700 * 4 {
        assert!(!c.read().is_error());
    }
    for (k, v) in [
        ("i8", "-128"),
        ("i16", "32000"),
        ("i32", "-2000000000"),
        ("i64", "9223372036854775807"),
        ("notint", "007"),
        ("big", &"0123456789".repeat(1000)),
    ] {
        ok(c.cmd(&["SET", k, v]));
    }
    // Streams: several nodes, tombstones, an emptied stream, consumer groups with pending
    // entries owned by consumers.
    ok(c.cmd(&["CONFIG", "SET", "stream-node-max-entries", "7"]));
    for i in 1..=40 {
        let v = format!("{}", i * 3);
        let mut args = vec!["XADD", "events", "", "kind", "click", "n", &v];
        let id = format!("{}-{}", 1000 + i, i % 3);
        args[2] = &id;
        if i % 5 == 0 {
            args.extend(["extra", "field"]);
        }
        ok(c.cmd(&args));
    }
    ok(c.cmd(&["XDEL", "events", "1003-0", "1010-1", "1011-2"]));
    ok(c.cmd(&["XGROUP", "CREATE", "events", "workers", "0"]));
    ok(c.cmd(&[
        "XGROUP",
        "CREATE",
        "events",
        "late",
        "$",
        "ENTRIESREAD",
        "40",
    ]));
    ok(c.cmd(&[
        "XREADGROUP",
        "GROUP",
        "workers",
        "alice",
        "COUNT",
        "5",
        "STREAMS",
        "events",
        ">",
    ]));
    ok(c.cmd(&[
        "XREADGROUP",
        "GROUP",
        "workers",
        "bob",
        "COUNT",
        "3",
        "STREAMS",
        "events",
        ">",
    ]));
    ok(c.cmd(&["XACK", "events", "workers", "1002-2"]));
    ok(c.cmd(&["XGROUP", "CREATECONSUMER", "events", "workers", "idle"]));
    ok(c.cmd(&["XADD", "emptied", "1-1", "a", "b"]));
    ok(c.cmd(&["XDEL", "emptied", "1-1"]));
    ok(c.cmd(&["CONFIG", "SET", "stream-node-max-entries", "100"]));
    ok(c.cmd(&["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "100"]));
    ok(c.cmd(&["RPUSH", "plainnodes", "small", &"P".repeat(500), "tail"]));
    ok(c.cmd(&["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "0"]));
    ok(c.cmd(&["CONFIG", "SET", "list-compress-depth", "0"]));
    ok(c.cmd(&["SELECT", "0"]));
}

/// The streams' full state (entries, groups, pending entries with their stored times,
/// consumers with their seen times), which DEBUG DIGEST does not cover.
fn streams(c: &mut Conn) -> Vec<Reply> {
    assert!(!c.cmd(&["SELECT", "5"]).is_error());
    let out = ["events", "emptied"]
        .iter()
        .map(|k| c.cmd(&["XINFO", "STREAM", k, "FULL"]))
        .collect();
    assert!(!c.cmd(&["SELECT", "0"]).is_error());
    out
}

fn check_rdb(path: &Path) {
    if !have("redis-check-rdb") {
        return;
    }
    let out = std::process::Command::new("redis-check-rdb")
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "redis-check-rdb refused {}:\n{text}",
        path.display()
    );
    assert!(text.contains("RDB looks OK"), "{text}");
}

fn copy_dump(from: &Path, tag: &str) -> TempDir {
    let d = TempDir::new(tag);
    std::fs::copy(from.join("dump.rdb"), d.path().join("dump.rdb")).unwrap();
    d
}

#[test]
fn forkv_files_are_loaded_by_redis_with_the_same_digest() {
    let Some(probe) = start_redis(&[]) else {
        return;
    };
    drop(probe);
    for policy in ["noeviction", "allkeys-lru", "allkeys-lfu"] {
        let s = start_forkv(&[
            "--enable-debug-command",
            "yes",
            "--save",
            "",
            "--maxmemory-policy",
            policy,
        ]);
        let mut c = s.conn();
        populate_all_types(&mut c);
        populate_more(&mut c);
        let d = digest(&mut c);
        let enc = encodings(&mut c);
        let st = streams(&mut c);
        assert_eq!(c.cmd(&["SAVE"]), status("OK"));
        check_rdb(&s.dir.path().join("dump.rdb"));
        let r = start_redis_in(
            copy_dump(s.dir.path(), "interop-r"),
            &[
                "--enable-debug-command",
                "yes",
                "--maxmemory-policy",
                policy,
            ],
        );
        let mut rc = r.conn();
        assert_eq!(digest(&mut rc), d, "policy {policy}");
        assert_eq!(encodings(&mut rc), enc, "policy {policy}");
        assert_eq!(streams(&mut rc), st, "policy {policy}");
        assert!(rc.cmd(&["PTTL", "ttl"]).int() > 0);
        if policy == "allkeys-lfu" {
            // The LFU counters travelled (a fresh key would have 5... the loaded ones keep theirs).
            assert!(rc.cmd(&["OBJECT", "FREQ", "int"]).int() >= 0);
        }
    }
}

#[test]
fn redis_files_are_loaded_by_forkv_with_the_same_digest() {
    let Some(r) = start_redis(&["--enable-debug-command", "yes"]) else {
        return;
    };
    let mut rc = r.conn();
    populate_all_types(&mut rc);
    populate_more(&mut rc);
    let d = digest(&mut rc);
    let enc = encodings(&mut rc);
    let st = streams(&mut rc);
    assert_eq!(rc.cmd(&["SAVE"]), status("OK"));
    let s = start_forkv_in(
        copy_dump(r.dir.path(), "interop-f"),
        &["--enable-debug-command", "yes", "--save", ""],
    );
    let mut c = s.conn();
    assert_eq!(digest(&mut c), d);
    assert_eq!(encodings(&mut c), enc);
    assert_eq!(streams(&mut c), st);
    assert!(c.cmd(&["PTTL", "ttl"]).int() > 0);
    // And forkv's own save of what it loaded is accepted by Redis's checker.
    assert_eq!(c.cmd(&["SAVE"]), status("OK"));
    check_rdb(&s.dir.path().join("dump.rdb"));
}

#[test]
fn dump_and_restore_work_across_forkv_and_redis() {
    let Some(r) = start_redis(&["--enable-debug-command", "yes"]) else {
        return;
    };
    let s = start_forkv(&["--enable-debug-command", "yes", "--save", ""]);
    let mut rc = r.conn();
    let mut c = s.conn();
    populate_all_types(&mut rc);
    populate_more(&mut rc);
    // Without compression, compact encodings must serialize byte for byte as Redis's (LZF
    // output may legitimately differ between compressors; files with it are checked above).
    assert_eq!(
        rc.cmd(&["CONFIG", "SET", "rdbcompression", "no"]),
        status("OK")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "rdbcompression", "no"]),
        status("OK")
    );
    for db in ["0", "5"] {
        assert!(!rc.cmd(&["SELECT", db]).is_error());
        assert!(!c.cmd(&["SELECT", db]).is_error());
        for k in keys(&mut rc) {
            let Reply::Bulk(p) = rc.cmd(&["DUMP", &k]) else {
                panic!("DUMP {k}");
            };
            let kb = k.as_bytes();
            // Keep the TTL: whether a key expires is part of its digest.
            let ttl = rc.cmd(&["PTTL", &k]).int().max(0).to_string();
            assert_eq!(
                c.cmd_bytes(&[b"RESTORE", kb, ttl.as_bytes(), &p, b"REPLACE"]),
                status("OK"),
                "RESTORE {k} in forkv"
            );
            let dr = rc.cmd(&["DEBUG", "DIGEST-VALUE", &k]);
            assert_eq!(c.cmd(&["DEBUG", "DIGEST-VALUE", &k]), dr, "{k}");
            // forkv's payload of the same value restores in Redis to the same value.
            let Reply::Bulk(fp) = c.cmd(&["DUMP", &k]) else {
                panic!("DUMP {k} in forkv");
            };
            let copy = format!("{k}:copy");
            assert_eq!(
                rc.cmd_bytes(&[b"RESTORE", copy.as_bytes(), ttl.as_bytes(), &fp]),
                status("OK"),
                "RESTORE {k} in redis"
            );
            let Reply::Array(v) = rc.cmd(&["DEBUG", "DIGEST-VALUE", &copy]) else {
                panic!()
            };
            let Reply::Array(w) = dr else { panic!() };
            assert_eq!(v, w, "{k} restored in redis");
            // Values in compact encodings (and streams, stored as listpacks) serialize byte for
            // byte as Redis does.
            let e = rc.cmd(&["OBJECT", "ENCODING", &k]).bulk_str();
            if ["int", "embstr", "raw", "listpack", "intset", "stream"].contains(&e.as_str()) {
                assert_eq!(fp, p, "{k} ({e})");
            }
        }
    }
    // Errors as Redis words them.
    assert_eq!(
        c.cmd(&["RESTORE", "x", "0", "garbage"]),
        err("ERR DUMP payload version or checksum are wrong")
    );
    assert_eq!(c.cmd(&["SET", "x", "1"]), status("OK"));
    let Reply::Bulk(p) = c.cmd(&["DUMP", "x"]) else {
        panic!()
    };
    assert_eq!(
        c.cmd_bytes(&[b"RESTORE", b"x", b"0", &p]),
        err("BUSYKEY Target key name already exists.")
    );
    assert_eq!(
        c.cmd_bytes(&[b"RESTORE", b"y", b"-1", &p]),
        err("ERR Invalid TTL value, must be >= 0")
    );
    assert_eq!(
        c.cmd_bytes(&[b"RESTORE", b"y", b"0", &p, b"IDLETIME", b"-1"]),
        err("ERR Invalid IDLETIME value, must be >= 0")
    );
    assert_eq!(
        c.cmd_bytes(&[b"RESTORE", b"y", b"0", &p, b"FREQ", b"256"]),
        err("ERR Invalid FREQ value, must be >= 0 and <= 255")
    );
    assert_eq!(
        c.cmd_bytes(&[b"RESTORE", b"y", b"5000", &p, b"ABSTTL"]),
        status("OK"),
        "an absolute TTL in the past: OK, and no key"
    );
    assert_eq!(c.cmd(&["EXISTS", "y"]).int(), 0);
    assert_eq!(c.cmd_bytes(&[b"RESTORE", b"y", b"5000", &p]), status("OK"));
    assert!(c.cmd(&["PTTL", "y"]).int() > 0);
    // A payload whose checksum is right but whose body is not a value.
    let mut bad = vec![0u8, 0xC3, 0x05];
    bad.extend_from_slice(&10u16.to_le_bytes());
    let crc = crc64_jones(&bad);
    bad.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(
        c.cmd_bytes(&[b"RESTORE", b"z", b"0", &bad]),
        err("ERR Bad data format")
    );
}

/// CRC-64/Jones written independently of the crate (bit by bit), to build payloads.
fn crc64_jones(data: &[u8]) -> u64 {
    let mut crc = 0u64;
    for &b in data {
        crc ^= b as u64;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x95ac_9329_ac4b_c9b5
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// Pieces of the pre-7.0 formats, written from the format's description.
mod old {
    pub fn len(n: usize) -> Vec<u8> {
        if n < 64 {
            vec![n as u8]
        } else if n < 16384 {
            vec![0x40 | (n >> 8) as u8, n as u8]
        } else {
            let mut v = vec![0x80];
            v.extend_from_slice(&(n as u32).to_be_bytes());
            v
        }
    }
    pub fn string(s: &[u8]) -> Vec<u8> {
        let mut v = len(s.len());
        v.extend_from_slice(s);
        v
    }
    /// A ziplist of strings and integers.
    pub fn ziplist(entries: &[&[u8]]) -> Vec<u8> {
        let mut body = Vec::new();
        let mut prev = 0usize;
        let mut tail = 10usize;
        for e in entries {
            let start = body.len();
            tail = 10 + start;
            if prev < 254 {
                body.push(prev as u8);
            } else {
                body.push(254);
                body.extend_from_slice(&(prev as u32).to_le_bytes());
            }
            let as_int = std::str::from_utf8(e)
                .ok()
                .and_then(|s| s.parse::<i64>().ok());
            match as_int {
                Some(v) if v.to_string().as_bytes() == *e && (0..=12).contains(&v) => {
                    body.push(0xF1 + v as u8)
                }
                Some(v) if v.to_string().as_bytes() == *e && i16::try_from(v).is_ok() => {
                    body.push(0xC0);
                    body.extend_from_slice(&(v as i16).to_le_bytes());
                }
                Some(v) if v.to_string().as_bytes() == *e => {
                    body.push(0xE0);
                    body.extend_from_slice(&v.to_le_bytes());
                }
                _ => {
                    if e.len() < 64 {
                        body.push(e.len() as u8);
                    } else {
                        body.push(0x40 | (e.len() >> 8) as u8);
                        body.push(e.len() as u8);
                    }
                    body.extend_from_slice(e);
                }
            }
            prev = body.len() - start;
        }
        let total = 10 + body.len() + 1;
        let mut z = Vec::new();
        z.extend_from_slice(&(total as u32).to_le_bytes());
        z.extend_from_slice(&(tail as u32).to_le_bytes());
        z.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        z.extend_from_slice(&body);
        z.push(0xFF);
        z
    }
    pub fn zipmap(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut z = vec![pairs.len() as u8];
        for (k, v) in pairs {
            z.push(k.len() as u8);
            z.extend_from_slice(k);
            z.push(v.len() as u8);
            z.push(0);
            z.extend_from_slice(v);
        }
        z.push(255);
        z
    }
    pub fn intset(vals: &[i16]) -> Vec<u8> {
        let mut v = vec![2, 0, 0, 0];
        v.extend_from_slice(&(vals.len() as u32).to_le_bytes());
        for x in vals {
            v.extend_from_slice(&x.to_le_bytes());
        }
        v
    }
}

#[test]
fn pre_7_encodings_load_in_forkv_as_in_redis() {
    if !have("redis-server") {
        return;
    }
    use old::*;
    let mut f = b"REDIS0006".to_vec();
    f.extend_from_slice(&[0xFE, 0]);
    let key = |f: &mut Vec<u8>, t: u8, k: &str, body: Vec<u8>| {
        f.push(t);
        f.extend(string(k.as_bytes()));
        f.extend(body);
    };
    key(
        &mut f,
        9,
        "zipmap",
        string(&zipmap(&[(b"a", b"1"), (b"bb", b"two")])),
    );
    key(
        &mut f,
        10,
        "ziplist-list",
        string(&ziplist(&[
            b"x",
            b"7",
            b"-300",
            b"99999999999",
            &[b'L'; 100],
        ])),
    );
    key(&mut f, 11, "intset", string(&intset(&[-5, 3, 1000])));
    key(
        &mut f,
        12,
        "zset-ziplist",
        string(&ziplist(&[b"m1", b"1.5", b"m2", b"3"])),
    );
    key(
        &mut f,
        13,
        "hash-ziplist",
        string(&ziplist(&[b"f", b"v", b"n", b"12"])),
    );
    let mut ql = len(2);
    ql.extend(string(&ziplist(&[b"a", b"b"])));
    ql.extend(string(&ziplist(&[b"c", b"10000"])));
    key(&mut f, 14, "quicklist-v1", ql);
    // ZSET with text doubles (type 3), plus an expiry in seconds (opcode 253).
    let mut z = len(3);
    for (m, s) in [("a", &b"1.25"[..]), ("b", &b"-3"[..])] {
        z.extend(string(m.as_bytes()));
        z.push(s.len() as u8);
        z.extend_from_slice(s);
    }
    z.extend(string(b"c"));
    z.push(254); // +inf
    key(&mut f, 3, "zset-v1", z);
    f.push(253);
    f.extend_from_slice(&(2_000_000_000i32).to_le_bytes());
    key(&mut f, 0, "expiring", string(b"v"));
    let mut l = len(2);
    l.extend(string(b"p"));
    l.extend(string(b"q"));
    key(&mut f, 1, "linked-list", l);
    f.push(0xFF);
    let crc = crc64_jones(&f);
    f.extend_from_slice(&crc.to_le_bytes());

    let rdir = TempDir::new("old-r");
    std::fs::write(rdir.path().join("dump.rdb"), &f).unwrap();
    let fdir = TempDir::new("old-f");
    std::fs::write(fdir.path().join("dump.rdb"), &f).unwrap();
    let r = start_redis_in(rdir, &["--enable-debug-command", "yes"]);
    let s = start_forkv_in(fdir, &["--enable-debug-command", "yes", "--save", ""]);
    let mut rc = r.conn();
    let mut c = s.conn();
    assert_eq!(
        rc.cmd(&["DBSIZE"]).int(),
        9,
        "redis loaded the hand-made file"
    );
    assert_eq!(digest(&mut c), digest(&mut rc));
    assert_eq!(encodings(&mut c), encodings(&mut rc));
    assert_eq!(c.cmd(&["EXPIRETIME", "expiring"]).int(), 2_000_000_000);
}

#[test]
fn migrate_moves_and_copies_keys_both_ways_with_a_real_redis() {
    let Some(r) = start_redis(&["--enable-debug-command", "yes"]) else {
        return;
    };
    let s = start_forkv(&["--enable-debug-command", "yes", "--save", ""]);
    let mut rc = r.conn();
    let mut c = s.conn();
    populate_all_types(&mut c);
    populate_more(&mut c);
    let rport = r.port.to_string();
    for db in ["0", "5"] {
        assert!(!c.cmd(&["SELECT", db]).is_error());
        let names = keys(&mut c);
        let digests: Vec<Reply> = names
            .iter()
            .map(|k| c.cmd(&["DEBUG", "DIGEST-VALUE", k]))
            .collect();
        let mut args = vec!["MIGRATE", "127.0.0.1", &rport, "", db, "5000", "KEYS"];
        args.extend(names.iter().map(|k| k.as_str()));
        assert_eq!(c.cmd(&args), status("OK"), "db {db}");
        assert!(keys(&mut c).is_empty(), "moved keys stay in db {db}");
        assert!(!rc.cmd(&["SELECT", db]).is_error());
        for (k, d) in names.iter().zip(&digests) {
            assert_eq!(&rc.cmd(&["DEBUG", "DIGEST-VALUE", k]), d, "{k} in db {db}");
        }
    }
    assert_eq!(rc.cmd(&["SELECT", "0"]), status("OK"));
    assert!(rc.cmd(&["PTTL", "ttl"]).int() > 0);
    // Nothing left to move; an existing key at the target; COPY and REPLACE.
    assert!(!c.cmd(&["SELECT", "0"]).is_error());
    assert_eq!(
        c.cmd(&["MIGRATE", "127.0.0.1", &rport, "int", "0", "1000"]),
        status("NOKEY")
    );
    assert_eq!(c.cmd(&["SET", "int", "7"]), status("OK"));
    assert_eq!(
        c.cmd(&["MIGRATE", "127.0.0.1", &rport, "int", "0", "1000"]),
        err("ERR Target instance replied with error: BUSYKEY Target key name already exists.")
    );
    assert_eq!(
        c.cmd(&[
            "MIGRATE",
            "127.0.0.1",
            &rport,
            "int",
            "0",
            "1000",
            "COPY",
            "REPLACE"
        ]),
        status("OK")
    );
    assert_eq!(c.cmd(&["GET", "int"]), bulk("7"));
    assert_eq!(rc.cmd(&["GET", "int"]), bulk("7"));
    // No server listening: the connection error Redis gives.
    let closed = free_port().to_string();
    assert_eq!(
        c.cmd(&["MIGRATE", "127.0.0.1", &closed, "int", "0", "200"]),
        err("IOERR error or timeout connecting to the client")
    );
    // And Redis migrates into forkv (RESTORE with SELECT over one connection).
    let port = s.port.to_string();
    assert_eq!(rc.cmd(&["SET", "fromredis", "x"]), status("OK"));
    assert_eq!(
        rc.cmd(&["MIGRATE", "127.0.0.1", &port, "fromredis", "3", "1000"]),
        status("OK")
    );
    assert!(!c.cmd(&["SELECT", "3"]).is_error());
    assert_eq!(c.cmd(&["GET", "fromredis"]), bulk("x"));
}
