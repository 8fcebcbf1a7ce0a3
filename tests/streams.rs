//! Streams against a real redis-server: seeded random command sequences over a few streams
//! (entries, trims, deletions, consumer groups, claims) with every reply compared, the
//! encoding compared through DUMP and XINFO, and blocking reads with several clients.

mod common;

use common::diff::{Gen, seeds_with_extra, start_pair_with, words};
use common::*;

fn push(c: &mut Vec<Vec<u8>>, s: &str) {
    c.push(s.as_bytes().to_vec());
}

/// A stream ID argument: mostly near the keys' IDs so ranges, claims and deletes hit.
fn id(g: &mut Gen, top: u64) -> String {
    match g.below(10) {
        0 => "0-0".into(),
        1 => format!("{}", g.below(top + 2)),
        2 => format!("{}-{}", u64::MAX, u64::MAX),
        3 => "bad-id".into(),
        _ => format!("{}-{}", g.below(top + 2), g.below(3)),
    }
}

fn bound(g: &mut Gen, top: u64) -> String {
    match g.below(6) {
        0 => "-".into(),
        1 => "+".into(),
        2 => format!("({}", id(g, top)),
        _ => id(g, top),
    }
}

fn fields(g: &mut Gen, cmd: &mut Vec<Vec<u8>>) {
    // Mostly the same field names, so entries share their node's master fields.
    let n = if g.below(4) == 0 { 1 + g.below(4) } else { 2 };
    for i in 0..n {
        let f = if g.below(5) == 0 {
            format!("x{}", g.below(3))
        } else {
            ["name", "qty", "note", "t"][i as usize].to_string()
        };
        cmd.push(f.into_bytes());
        cmd.push(g.value());
    }
}

fn trim_opts(g: &mut Gen, top: u64, cmd: &mut Vec<Vec<u8>>) {
    let approx = g.below(2) == 0;
    if g.below(2) == 0 {
        cmd.push(b"MAXLEN".to_vec());
        if approx {
            cmd.push(b"~".to_vec());
        } else if g.below(2) == 0 {
            cmd.push(b"=".to_vec());
        }
        cmd.push(g.below(40).to_string().into_bytes());
    } else {
        cmd.push(b"MINID".to_vec());
        if approx {
            cmd.push(b"~".to_vec());
        }
        cmd.push(format!("{}", g.below(top + 1)).into_bytes());
    }
    if approx && g.below(3) == 0 {
        cmd.push(b"LIMIT".to_vec());
        cmd.push(g.below(30).to_string().into_bytes());
    }
}

/// One command over keys s1 (with groups), s2 (never with groups: DUMP compares its bytes,
/// uncompressed as LZF output may differ and still load the same) and str (a string, for
/// WRONGTYPE). `top` is the highest millisecond part used so far.
fn random_command(g: &mut Gen, top: &mut u64) -> Vec<Vec<u8>> {
    let key = ["s1", "s1", "s2", "str"][g.below(4) as usize].to_string();
    // Groups live on s1 only; on s2 and str the group commands meet their errors.
    let gk = match g.below(12) {
        0 => "s2",
        1 => "str",
        _ => "s1",
    }
    .to_string();
    let group = ["g1", "g2", "nogroup"][g.below(3) as usize].to_string();
    let consumer = ["alice", "bob", "carol"][g.below(3) as usize].to_string();
    let t = *top;
    let mut c: Vec<Vec<u8>> = Vec::new();
    match g.below(24) {
        0..=5 => {
            push(&mut c, "XADD");
            push(&mut c, &key);
            if g.below(8) == 0 {
                push(&mut c, "NOMKSTREAM");
            }
            if g.below(4) == 0 {
                trim_opts(g, t, &mut c);
            }
            // Mostly growing IDs, sometimes a stale one (an error) or an auto sequence.
            let id = match g.below(8) {
                0 => format!("{}-*", t),
                1 => format!("{}", g.below(t + 1)),
                _ => {
                    *top += 1 + g.below(3);
                    format!("{}-{}", *top, g.below(2))
                }
            };
            c.push(id.into_bytes());
            fields(g, &mut c);
        }
        6 | 7 => {
            let rev = g.below(2) == 0;
            push(&mut c, if rev { "XREVRANGE" } else { "XRANGE" });
            push(&mut c, &key);
            push(&mut c, &bound(g, t));
            push(&mut c, &bound(g, t));
            if g.below(2) == 0 {
                push(&mut c, "COUNT");
                push(&mut c, &(g.below(6) as i64 - 1).to_string());
            }
        }
        8 => {
            push(&mut c, "XDEL");
            push(&mut c, &key);
            for _ in 0..1 + g.below(3) {
                push(&mut c, &id(g, t));
            }
        }
        9 => {
            push(&mut c, "XTRIM");
            push(&mut c, &key);
            trim_opts(g, t, &mut c);
        }
        10 => {
            push(&mut c, "XGROUP");
            match g.below(6) {
                0 | 1 => {
                    push(&mut c, "CREATE");
                    push(&mut c, if gk == "s2" { "s1" } else { &gk });
                    push(&mut c, &group);
                    push(&mut c, if g.below(2) == 0 { "$" } else { "0" });
                    if g.below(3) == 0 {
                        push(&mut c, "MKSTREAM");
                    }
                }
                2 => {
                    push(&mut c, "SETID");
                    push(&mut c, &gk);
                    push(&mut c, &group);
                    push(&mut c, &id(g, t));
                    if g.below(2) == 0 {
                        push(&mut c, "ENTRIESREAD");
                        push(&mut c, &g.below(10).to_string());
                    }
                }
                3 => {
                    push(&mut c, "DESTROY");
                    push(&mut c, &gk);
                    push(&mut c, &group);
                }
                4 => {
                    push(&mut c, "CREATECONSUMER");
                    push(&mut c, &gk);
                    push(&mut c, &group);
                    push(&mut c, &consumer);
                }
                _ => {
                    push(&mut c, "DELCONSUMER");
                    push(&mut c, &gk);
                    push(&mut c, &group);
                    push(&mut c, &consumer);
                }
            }
        }
        11 | 12 => {
            push(&mut c, "XREADGROUP");
            push(&mut c, "GROUP");
            push(&mut c, &group);
            push(&mut c, &consumer);
            if g.below(2) == 0 {
                push(&mut c, "COUNT");
                push(&mut c, &g.below(5).to_string());
            }
            if g.below(5) == 0 {
                push(&mut c, "NOACK");
            }
            push(&mut c, "STREAMS");
            push(&mut c, &gk);
            push(&mut c, if g.below(3) == 0 { "0" } else { ">" });
        }
        13 => {
            push(&mut c, "XREAD");
            push(&mut c, "COUNT");
            push(&mut c, &(1 + g.below(4)).to_string());
            push(&mut c, "STREAMS");
            push(&mut c, "s1");
            push(&mut c, "s2");
            push(&mut c, &id(g, t));
            push(&mut c, &id(g, t));
        }
        14 => {
            push(&mut c, "XACK");
            push(&mut c, &gk);
            push(&mut c, &group);
            for _ in 0..1 + g.below(3) {
                push(&mut c, &id(g, t));
            }
        }
        15 => {
            push(&mut c, "XPENDING");
            push(&mut c, &gk);
            push(&mut c, &group);
            if g.below(2) == 0 {
                if g.below(3) == 0 {
                    push(&mut c, "IDLE");
                    push(&mut c, "0");
                }
                push(&mut c, &bound(g, t));
                push(&mut c, &bound(g, t));
                push(&mut c, &g.below(5).to_string());
                if g.below(2) == 0 {
                    push(&mut c, &consumer);
                }
            }
        }
        16 => {
            push(&mut c, "XCLAIM");
            push(&mut c, &gk);
            push(&mut c, &group);
            push(&mut c, &consumer);
            push(&mut c, "0");
            for _ in 0..1 + g.below(3) {
                push(&mut c, &id(g, t));
            }
            match g.below(5) {
                0 => push(&mut c, "JUSTID"),
                1 => {
                    push(&mut c, "FORCE");
                    push(&mut c, "JUSTID");
                }
                2 => {
                    push(&mut c, "RETRYCOUNT");
                    push(&mut c, &g.below(9).to_string());
                }
                3 => {
                    push(&mut c, "LASTID");
                    push(&mut c, &id(g, t));
                }
                _ => {}
            }
        }
        17 => {
            push(&mut c, "XAUTOCLAIM");
            push(&mut c, &gk);
            push(&mut c, &group);
            push(&mut c, &consumer);
            push(&mut c, "0");
            push(&mut c, &bound(g, t));
            push(&mut c, "COUNT");
            push(&mut c, &g.below(5).to_string());
            if g.below(2) == 0 {
                push(&mut c, "JUSTID");
            }
        }
        18 => {
            push(&mut c, "XINFO");
            match g.below(4) {
                0 => {
                    push(&mut c, "GROUPS");
                    push(&mut c, &gk);
                }
                1 => {
                    push(&mut c, "CONSUMERS");
                    push(&mut c, &gk);
                    push(&mut c, &group);
                }
                2 => {
                    push(&mut c, "STREAM");
                    push(&mut c, &key);
                    push(&mut c, "FULL");
                    push(&mut c, "COUNT");
                    push(&mut c, &g.below(4).to_string());
                }
                _ => {
                    push(&mut c, "STREAM");
                    push(&mut c, &key);
                }
            }
        }
        19 => {
            push(&mut c, "XSETID");
            push(&mut c, &key);
            push(&mut c, &format!("{}-{}", t + g.below(3), g.below(2)));
            if g.below(2) == 0 {
                push(&mut c, "ENTRIESADDED");
                push(&mut c, &g.below(60).to_string());
            }
            if g.below(2) == 0 {
                push(&mut c, "MAXDELETEDID");
                push(&mut c, &id(g, t));
            }
        }
        20 => {
            push(&mut c, "XLEN");
            push(&mut c, &key);
        }
        21 => {
            push(&mut c, "DUMP");
            push(&mut c, "s2");
        }
        22 => {
            push(&mut c, "DEBUG");
            push(&mut c, "DIGEST-VALUE");
            push(&mut c, &key);
        }
        _ => {
            let name = ["TYPE", "OBJECT", "EXISTS"][g.below(3) as usize];
            push(&mut c, name);
            if name == "OBJECT" {
                push(&mut c, "ENCODING");
            }
            push(&mut c, &key);
        }
    }
    c
}

const CONFIGS: &[&str] = &[
    "CONFIG SET stream-node-max-entries 100 stream-node-max-bytes 4096",
    "CONFIG SET stream-node-max-entries 3 stream-node-max-bytes 4096",
    "CONFIG SET stream-node-max-entries 0 stream-node-max-bytes 120",
];

#[test]
fn seeded_stream_sequences_match_redis() {
    let Some((_r, _f, mut p)) =
        start_pair_with(&["--enable-debug-command", "yes", "--rdbcompression", "no"])
    else {
        return;
    };
    for seed in seeds_with_extra(&[31u64, 32, 33, 34, 35, 36], 300) {
        let mut g = Gen(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        p.run(&[words("FLUSHALL"), words("SET str x")]);
        p.run(&[words(CONFIGS[(seed % CONFIGS.len() as u64) as usize])]);
        let mut top = 1;
        for _batch in 0..8 {
            let cmds: Vec<Vec<Vec<u8>>> =
                (0..150).map(|_| random_command(&mut g, &mut top)).collect();
            p.run(&cmds);
        }
    }
}

#[test]
fn seeded_stream_sequences_match_redis_in_resp3() {
    let Some((_r, _f, mut p)) =
        start_pair_with(&["--enable-debug-command", "yes", "--rdbcompression", "no"])
    else {
        return;
    };
    p.run(&[words("HELLO 3")]);
    for seed in [41u64, 42] {
        let mut g = Gen(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        p.run(&[words("FLUSHALL"), words("SET str x")]);
        let mut top = 1;
        for _batch in 0..5 {
            let cmds: Vec<Vec<Vec<u8>>> =
                (0..150).map(|_| random_command(&mut g, &mut top)).collect();
            p.run(&cmds);
        }
    }
}

/// The key and first entry of an XREAD / XREADGROUP reply for one stream.
fn first_entry(r: &Reply) -> (String, String) {
    let Reply::Array(streams) = r else {
        panic!("not an array: {r:?}")
    };
    let Reply::Array(kv) = &streams[0] else {
        panic!("{r:?}")
    };
    let Reply::Array(entries) = &kv[1] else {
        panic!("{r:?}")
    };
    let Reply::Array(e) = &entries[0] else {
        panic!("{r:?}")
    };
    (kv[0].bulk_str(), e[0].bulk_str())
}

#[test]
fn blocked_readers_are_served_in_order_and_group_readers_see_their_group_go() {
    let srv = start_forkv(&[]);
    let mut w = srv.conn();
    // Two plain readers on the same stream both get the new entry; a reader waiting for
    // entries after a later ID does not.
    let mut r1 = srv.conn();
    let mut r2 = srv.conn();
    let mut r3 = srv.conn();
    w.cmd(&["XADD", "s", "5-0", "a", "1"]);
    r1.send(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    r2.send(&["XREAD", "BLOCK", "0", "STREAMS", "other", "s", "0", "5-0"]);
    r3.send(&["XREAD", "BLOCK", "0", "STREAMS", "s", "100-0"]);
    wait_blocked(&mut w, 3);
    assert_eq!(w.cmd(&["XADD", "s", "6-0", "b", "2"]), bulk("6-0"));
    assert_eq!(first_entry(&r1.read()), ("s".into(), "6-0".into()));
    assert_eq!(first_entry(&r2.read()), ("s".into(), "6-0".into()));
    wait_blocked(&mut w, 1);
    // Group readers: the first waiting consumer gets the entry, the second waits on.
    w.cmd(&["XGROUP", "CREATE", "s", "g", "$"]);
    let mut c1 = srv.conn();
    let mut c2 = srv.conn();
    c1.send(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "alice",
        "BLOCK",
        "0",
        "STREAMS",
        "s",
        ">",
    ]);
    c2.send(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "bob",
        "BLOCK",
        "0",
        "STREAMS",
        "s",
        ">",
    ]);
    wait_blocked(&mut w, 3);
    w.cmd(&["XADD", "s", "7-0", "c", "3"]);
    assert_eq!(first_entry(&c1.read()), ("s".into(), "7-0".into()));
    wait_blocked(&mut w, 2);
    let Reply::Array(p) = w.cmd(&["XPENDING", "s", "g"]) else {
        panic!("XPENDING did not answer an array")
    };
    assert_eq!(p[0], Reply::Int(1));
    assert_eq!(p[1], bulk("7-0"));
    // Destroying the group tells the other reader.
    assert_eq!(w.cmd(&["XGROUP", "DESTROY", "s", "g"]), Reply::Int(1));
    let e = c2.read();
    assert!(
        matches!(&e, Reply::Error(m) if m.starts_with("NOGROUP")),
        "{e:?}"
    );
    // A group reader whose stream is deleted is told too; a plain reader keeps waiting.
    w.cmd(&["XGROUP", "CREATE", "s", "g2", "$"]);
    c2.send(&[
        "XREADGROUP",
        "GROUP",
        "g2",
        "bob",
        "BLOCK",
        "0",
        "STREAMS",
        "s",
        ">",
    ]);
    wait_blocked(&mut w, 2);
    assert_eq!(w.cmd(&["DEL", "s"]), Reply::Int(1));
    let e = c2.read();
    assert!(
        matches!(&e, Reply::Error(m) if m.starts_with("UNBLOCKED")),
        "{e:?}"
    );
    wait_blocked(&mut w, 1);
    w.cmd(&["XADD", "s", "200-0", "d", "4"]);
    assert_eq!(first_entry(&r3.read()), ("s".into(), "200-0".into()));
    // A timeout answers a null array.
    r1.send(&["XREAD", "BLOCK", "50", "STREAMS", "s", "$"]);
    assert_eq!(r1.read(), Reply::NilArray);
}
