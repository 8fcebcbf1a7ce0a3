//! DEBUG: the subcommands Redis's own tests and operators use (SLEEP, SET-ACTIVE-EXPIRE,
//! OBJECT). Gated by `enable-debug-command` like Redis.

use super::eq_ic;
use crate::db::{lru_clock, lru_idle_secs};
use crate::net::client::Client;
use crate::server::Server;
use crate::types::Value;

/// Bytes the value takes in an RDB file (rdbSavedObjectLen: with LZF when compression is on).
fn serialized_len(v: &Value, compress: bool) -> u64 {
    let mut w = crate::persist::rdb::RdbWriter::new(std::io::sink(), false, compress);
    let _ = w.value(v);
    w.position()
}

pub fn debug(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let sub = args[1];
    if eq_ic(sub, "help") && args.len() == 2 {
        super::reply_help(
            c,
            "DEBUG",
            &[
                "POPULATE <count> [<prefix>] [<size>]",
                "    Create <count> string keys named key:<num>. If <prefix> is specified then",
                "    it is used instead of the 'key' prefix. These are not propagated.",
                "DIGEST",
                "    Output a hex signature representing the current DB content.",
                "DIGEST-VALUE <key> [<key> ...]",
                "    Output a hex signature of the values of all the specified keys.",
                "RELOAD [option ...]",
                "    Save the RDB on disk and reload it back to memory. Options:",
                "    * MERGE: merge the content of the RDB with the current keyspace.",
                "    * NOFLUSH: do not empty the keyspace before loading.",
                "    * NOSAVE: load the RDB as it is on disk, without saving first.",
                "OBJECT <key>",
                "    Low level facts about a key's value: encoding, serialized length, LRU.",
                "SET-ACTIVE-EXPIRE <0|1>",
                "    Turn the active expiry cycle off or on (lazy expiry always runs).",
                "SLEEP <seconds>",
                "    Block the server for the given (fractional) seconds.",
                "QUICKLIST-PACKED-THRESHOLD <size>",
                "    List elements at least this big get a plain node of their own (0: default 1gb).",
            ],
        );
    } else if eq_ic(sub, "sleep") && args.len() == 3 {
        let secs = super::parse_f64(args[2]).unwrap_or(0.0).max(0.0);
        std::thread::sleep(std::time::Duration::from_secs_f64(secs.min(3600.0)));
        c.out.ok();
    } else if eq_ic(sub, "quicklist-packed-threshold") && args.len() == 3 {
        let sz = std::str::from_utf8(args[2])
            .ok()
            .and_then(crate::config::parse_memory)
            .filter(|v| *v >= 0 && (*v as u64) <= (1u64 << 32) - (1 << 20));
        match sz {
            Some(v) => {
                crate::types::quicklist::set_packed_threshold(if v == 0 {
                    1 << 30
                } else {
                    v as usize
                });
                c.out.ok();
            }
            None => c
                .out
                .error("argument must be a memory value bigger than 1 and smaller than 4gb"),
        }
    } else if eq_ic(sub, "populate") && (3..=5).contains(&args.len()) {
        populate(srv, c, args);
    } else if eq_ic(sub, "reload") {
        reload(srv, c, &args[2..]);
    } else if eq_ic(sub, "digest") && args.len() == 2 {
        let d = crate::db::digest::dataset_digest(&srv.dbs);
        c.out.simple(&crate::db::digest::hex(&d));
    } else if eq_ic(sub, "digest-value") {
        c.out.array(args.len() - 2);
        for k in &args[2..] {
            let d = crate::db::digest::value_digest(&srv.dbs[c.db], k);
            c.out.simple(&crate::db::digest::hex(&d));
        }
    } else if eq_ic(sub, "set-active-expire") && args.len() == 3 {
        srv.active_expire_enabled = args[2] != b"0";
        c.out.ok();
    } else if eq_ic(sub, "object") && args.len() == 3 {
        let clock = lru_clock(crate::server::now_ms());
        let Some(o) = srv.dbs[c.db].dict.get(args[2]) else {
            c.out.error("no such key");
            return;
        };
        let refcount = match &o.val {
            Value::Str(s) => s.refcount(),
            _ => 1,
        };
        let ser = serialized_len(&o.val, srv.cfg.bool(crate::config::P::Rdbcompression));
        let mut line = format!(
            "Value at:{:p} refcount:{} encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
            o as *const _,
            refcount,
            o.val.encoding(),
            ser,
            o.lru,
            lru_idle_secs(clock, o.lru)
        );
        if let Value::List(q) = &o.val {
            let nodes = q.nodes().len();
            let max = q.nodes().iter().map(|n| n.count()).max().unwrap_or(0);
            let size: usize = q.nodes().iter().map(|n| n.size()).sum();
            line.push_str(&format!(
                " ql_nodes:{} ql_avg_node:{:.2} ql_listpack_max:{} ql_compressed:0 ql_uncompressed_size:{}",
                nodes,
                if nodes > 0 { q.len() as f64 / nodes as f64 } else { 0.0 },
                max,
                size
            ));
        }
        c.out.simple(&line);
    } else {
        c.out.error(&format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
            String::from_utf8_lossy(sub)
                .chars()
                .take(128)
                .collect::<String>()
        ));
    }
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: save, empty the keyspace, load the file back.
fn reload(srv: &mut Server, c: &mut Client, opts: &[&[u8]]) {
    let (mut merge, mut flush, mut save) = (false, true, true);
    for o in opts {
        if eq_ic(o, "merge") {
            merge = true;
        } else if eq_ic(o, "noflush") {
            flush = false;
        } else if eq_ic(o, "nosave") {
            save = false;
        } else {
            c.out
                .error("DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.");
            return;
        }
    }
    if save && srv.save_foreground().is_err() {
        c.out.error("-ERR");
        return;
    }
    if flush {
        for db in 0..srv.dbs.len() {
            srv.touch_all_watched_in_db(db, None);
            srv.dbs[db].clear();
        }
    }
    if let Err(e) = srv.load_now(merge) {
        log::warn!("DEBUG RELOAD: {e}");
        c.out.error("Error trying to load the RDB dump");
        return;
    }
    log::warn!("DB reloaded by DEBUG RELOAD");
    c.out.ok();
}

/// DEBUG POPULATE <count> [<prefix>] [<size>]: keys prefix:N holding "value:N" (padded with
/// zero bytes to <size>), skipping keys that exist; not propagated, like Redis.
fn populate(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    const RANGE: &str = "value is out of range, must be positive";
    let Some(count) = crate::resp::parse_i64(args[2]).filter(|v| *v >= 0) else {
        c.out.error(RANGE);
        return;
    };
    let size = match args.get(4) {
        Some(a) => match crate::resp::parse_i64(a).filter(|v| *v >= 0) {
            Some(v) => v as usize,
            None => {
                c.out.error(RANGE);
                return;
            }
        },
        None => 0,
    };
    let prefix: &[u8] = args.get(3).copied().unwrap_or(b"key");
    let mut key = Vec::with_capacity(prefix.len() + 21);
    for j in 0..count {
        key.clear();
        key.extend_from_slice(prefix);
        key.push(b':');
        key.extend_from_slice(crate::resp::writer::itoa_buf(j).as_bytes());
        srv.expire_if_needed(c.db, &key);
        if srv.dbs[c.db].dict.contains(&key) {
            continue;
        }
        let mut val = format!("value:{j}").into_bytes();
        if size > 0 {
            val.resize(size, 0);
        }
        srv.add_key(c.db, &key, Value::Str(crate::types::StrValue::plain(&val)));
    }
    c.out.ok();
}
