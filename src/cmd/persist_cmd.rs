//! SAVE, BGSAVE, LASTSAVE, DUMP and RESTORE.

use super::{SYNTAX, arg_i64, eq_ic};
use crate::net::client::Client;
use crate::persist::rdb::decode::{value_from_dump, verify_dump_payload};
use crate::persist::rdb::encode::dump_payload;
use crate::server::{Server, notify};

const NOT_INT: &str = "value is not an integer or out of range";

pub fn save(srv: &mut Server, c: &mut Client, _: &[&[u8]]) {
    if srv.rdb.child.is_some() {
        c.out.error("Background save already in progress");
        return;
    }
    match srv.save_foreground() {
        Ok(()) => c.out.ok(),
        Err(_) => c.out.error("-ERR"),
    }
}

pub fn bgsave(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    // SCHEDULE only matters while a child of another kind runs (the AOF rewrite of a later
    // issue): with an RDB child running both forms answer the same error.
    if args.len() > 2 || (args.len() == 2 && !eq_ic(args[1], "schedule")) {
        c.out.error(SYNTAX);
        return;
    }
    if srv.rdb.child.is_some() {
        c.out.error("Background save already in progress");
    } else if srv.in_exec {
        // A fork inside a transaction would snapshot half of it: Redis schedules it.
        srv.rdb.bgsave_scheduled = true;
        c.out.simple("Background saving scheduled");
    } else if srv.bgsave_start().is_ok() {
        c.out.simple("Background saving started");
    } else {
        c.out.error("-ERR");
    }
}

pub fn lastsave(srv: &mut Server, c: &mut Client, _: &[&[u8]]) {
    c.out.int(srv.rdb.lastsave);
}

pub fn dump(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let compress = srv.cfg.bool(crate::config::P::Rdbcompression);
    match srv.lookup_read(c.db, args[1]) {
        Some(o) => {
            let p = dump_payload(&o.val, compress);
            c.out.bulk(&p);
        }
        None => c.out.null(),
    }
}

/// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
pub fn restore(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq): (Option<i64>, Option<i64>) = (None, None);
    let mut j = 4;
    while j < args.len() {
        let more = j + 1 < args.len();
        if eq_ic(args[j], "replace") {
            replace = true;
        } else if eq_ic(args[j], "absttl") {
            absttl = true;
        } else if eq_ic(args[j], "idletime") && more && freq.is_none() {
            let Some(v) = arg_i64(c, args[j + 1], NOT_INT) else {
                return;
            };
            if v < 0 {
                c.out.error("Invalid IDLETIME value, must be >= 0");
                return;
            }
            idle = Some(v);
            j += 1;
        } else if eq_ic(args[j], "freq") && more && idle.is_none() {
            let Some(v) = arg_i64(c, args[j + 1], NOT_INT) else {
                return;
            };
            if !(0..=255).contains(&v) {
                c.out.error("Invalid FREQ value, must be >= 0 and <= 255");
                return;
            }
            freq = Some(v);
            j += 1;
        } else {
            c.out.error(SYNTAX);
            return;
        }
        j += 1;
    }
    let key = args[1];
    if !replace && srv.lookup_write(c.db, key).is_some() {
        c.out.error("-BUSYKEY Target key name already exists.");
        return;
    }
    let Some(mut ttl) = arg_i64(c, args[2], NOT_INT) else {
        return;
    };
    if ttl < 0 {
        c.out.error("Invalid TTL value, must be >= 0");
        return;
    }
    let Some(body) = verify_dump_payload(args[3]) else {
        c.out.error("DUMP payload version or checksum are wrong");
        return;
    };
    let Ok(val) = value_from_dump(body, srv.load_limits()) else {
        c.out.error("Bad data format");
        return;
    };
    let deleted = replace && srv.delete_key(c.db, key);
    if ttl != 0 && !absttl {
        ttl = ttl.saturating_add(crate::server::now_ms());
    }
    if ttl != 0 && srv.already_expired(ttl) {
        if deleted {
            c.rewritten_argv = Some(vec![b"DEL".to_vec(), key.to_vec()]);
            srv.notify(notify::GENERIC, "del", key, c.db);
            srv.dirty += 1;
        }
        c.out.ok();
        return;
    }
    srv.add_key(c.db, key, val);
    if ttl != 0 {
        srv.set_expire(c.db, key, ttl);
        if !absttl {
            let mut argv: Vec<Vec<u8>> = args.iter().map(|a| a.to_vec()).collect();
            argv[2] = ttl.to_string().into_bytes();
            argv.push(b"ABSTTL".to_vec());
            c.rewritten_argv = Some(argv);
        }
    }
    let lfu = srv.maxmemory_policy().is_lfu();
    if let Some(o) = srv.dbs[c.db].dict.get_mut(key) {
        if lfu && let Some(f) = freq {
            o.lru = (o.lru & !0xFF) | f as u32;
        } else if !lfu && let Some(i) = idle {
            let clock = crate::db::lru_clock(crate::server::now_ms());
            o.lru = crate::db::lru_stamp_for_idle(clock, i as u64);
        }
    }
    srv.notify(notify::GENERIC, "restore", key, c.db);
    c.out.ok();
    srv.dirty += 1;
}
