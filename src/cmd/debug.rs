//! DEBUG: the subcommands Redis's own tests and operators use (SLEEP, SET-ACTIVE-EXPIRE,
//! OBJECT). Gated by `enable-debug-command` like Redis.

use super::eq_ic;
use crate::db::{lru_clock, lru_idle_secs};
use crate::net::client::Client;
use crate::server::Server;
use crate::types::{StrValue, Value};

/// Length Redis's RDB encoding would give a string value (without compression).
fn rdb_string_len(s: &StrValue) -> usize {
    fn len_prefix(n: usize) -> usize {
        if n < 1 << 6 {
            1
        } else if n < 1 << 14 {
            2
        } else if n <= u32::MAX as usize {
            5
        } else {
            9
        }
    }
    if let Some(v) = s.as_i64() {
        if (i8::MIN as i64..=i8::MAX as i64).contains(&v) {
            return 2;
        } else if (i16::MIN as i64..=i16::MAX as i64).contains(&v) {
            return 3;
        } else if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
            return 5;
        }
    }
    let n = s.len();
    len_prefix(n) + n
}

pub fn debug(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let sub = args[1];
    if eq_ic(sub, "help") && args.len() == 2 {
        super::reply_help(
            c,
            "DEBUG",
            &[
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
    } else if eq_ic(sub, "set-active-expire") && args.len() == 3 {
        srv.active_expire_enabled = args[2] != b"0";
        c.out.ok();
    } else if eq_ic(sub, "object") && args.len() == 3 {
        let clock = lru_clock(crate::server::now_ms());
        let Some(o) = srv.dbs[c.db].dict.get(args[2]) else {
            c.out.error("no such key");
            return;
        };
        // Until the RDB encoder exists (issue 4) a collection's serialized length is its
        // in-memory payload size.
        let (refcount, ser) = match &o.val {
            Value::Str(s) => (s.refcount(), rdb_string_len(s)),
            v => (1, v.alloc_size()),
        };
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
