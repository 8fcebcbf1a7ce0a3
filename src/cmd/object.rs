//! OBJECT ENCODING / REFCOUNT / IDLETIME / FREQ.

use crate::db::{lru_clock, lru_idle_secs};
use crate::net::client::Client;
use crate::server::Server;

const NOT_LFU: &str = "An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";

pub fn encoding(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    match srv.lookup_notouch(c.db, args[2]) {
        Some(o) => {
            let e = o.val.encoding();
            c.out.bulk(e.as_bytes())
        }
        None => c.out.null(),
    }
}

pub fn refcount(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    match srv.lookup_notouch(c.db, args[2]) {
        Some(o) => {
            let r = match &o.val {
                crate::types::Value::Str(s) => s.refcount(),
                _ => 1,
            };
            c.out.int(r)
        }
        None => c.out.null(),
    }
}

pub fn idletime(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let clock = lru_clock(crate::server::now_ms());
    let lfu = srv.maxmemory_policy().is_lfu();
    match srv.lookup_notouch(c.db, args[2]) {
        Some(_) if lfu => c.out.error("An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."),
        Some(o) => {
            let idle = lru_idle_secs(clock, o.lru);
            c.out.int(idle as i64)
        }
        None => c.out.null(),
    }
}

pub fn freq(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let lfu = srv.maxmemory_policy().is_lfu();
    let decay = srv.cfg.int(crate::config::P::LfuDecayTime);
    let now = crate::server::now_ms();
    match srv.lookup_notouch(c.db, args[2]) {
        Some(o) if lfu => c
            .out
            .int(crate::db::evict::lfu_counter(o.lru, now, decay) as i64),
        Some(_) => c.out.error(NOT_LFU),
        None => c.out.null(),
    }
}

pub fn help(_: &mut Server, c: &mut Client, _: &[&[u8]]) {
    super::reply_help(
        c,
        "OBJECT",
        &[
            "ENCODING <key>",
            "    The internal representation of the key's value (int, embstr, raw, ...).",
            "FREQ <key>",
            "    The key's logarithmic access counter (needs an LFU maxmemory policy).",
            "IDLETIME <key>",
            "    Seconds since the key was last read or written.",
            "REFCOUNT <key>",
            "    How many references the value has.",
        ],
    );
}
