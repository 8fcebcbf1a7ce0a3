//! PFADD, PFCOUNT, PFMERGE and PFDEBUG over HyperLogLog strings (see types/hll.rs).

use crate::config::P;
use crate::net::client::Client;
use crate::server::Server;
use crate::server::notify;
use crate::types::Value;
use crate::types::hll;
use crate::types::string::StrValue;

const INVALID_HLL: &str = "-WRONGTYPE Key is not a valid HyperLogLog string value.";
const CORRUPT: &str = "-INVALIDOBJ Corrupted HLL object detected";

/// What a key holds for the PF commands.
enum Hll {
    Missing,
    Valid,
    /// Replied with the error already.
    Refused,
}

fn check(srv: &mut Server, c: &mut Client, key: &[u8]) -> Hll {
    match srv.lookup_read(c.db, key).map(|o| &o.val) {
        None => Hll::Missing,
        Some(Value::Str(s)) if hll::is_hll(&s.bytes()) => Hll::Valid,
        Some(Value::Str(_)) => {
            c.out.error(INVALID_HLL);
            Hll::Refused
        }
        Some(_) => {
            c.out.error(super::WRONGTYPE);
            Hll::Refused
        }
    }
}

/// The HLL bytes of `key` for modifying in place (a checked key).
fn bytes_mut<'a>(
    srv: &'a mut Server,
    db: usize,
    key: &[u8],
) -> Option<&'a mut crate::alloc::heap::HeapBytes> {
    match &mut srv.lookup_write(db, key)?.val {
        Value::Str(s) => Some(s.make_raw()),
        _ => None,
    }
}

fn sparse_max(srv: &Server) -> usize {
    srv.cfg.int(P::HllSparseMaxBytes) as usize
}

/// The register-wise maximum of the HLLs at `keys` (missing ones count as empty) and whether
/// any is dense; None after an error reply.
fn union(srv: &mut Server, c: &mut Client, keys: &[&[u8]]) -> Option<(Vec<u8>, bool)> {
    let mut max = vec![0u8; hll::REGISTERS];
    let mut any_dense = false;
    for key in keys {
        match check(srv, c, key) {
            Hll::Refused => return None,
            Hll::Missing => continue,
            Hll::Valid => {}
        }
        let regs = match srv.lookup_read(c.db, key).map(|o| &o.val) {
            Some(Value::Str(s)) => {
                let b = s.bytes();
                any_dense |= b[4] == hll::DENSE;
                hll::registers(&b)
            }
            _ => continue,
        };
        match regs {
            Ok(r) => max.iter_mut().zip(r).for_each(|(m, v)| *m = (*m).max(v)),
            Err(hll::Corrupt) => {
                c.out.error(CORRUPT);
                return None;
            }
        }
    }
    Some((max, any_dense))
}

pub fn pfadd(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let key = args[1];
    let mut updated = 0;
    match check(srv, c, key) {
        Hll::Refused => return,
        Hll::Missing => {
            srv.add_key(c.db, key, Value::Str(StrValue::Raw(hll::new_sparse())));
            updated += 1;
        }
        Hll::Valid => {}
    }
    let max = sparse_max(srv);
    let Some(s) = bytes_mut(srv, c.db, key) else {
        return;
    };
    for ele in &args[2..] {
        let (index, count) = hll::pattern(ele);
        match hll::set(s, index, count, max) {
            Ok(true) => updated += 1,
            Ok(false) => {}
            Err(hll::Corrupt) => {
                c.out.error(CORRUPT);
                return;
            }
        }
    }
    if updated > 0 {
        hll::invalidate_cache(s);
        srv.notify(notify::STRING, "pfadd", key, c.db);
        srv.dirty += updated;
    }
    c.out.int(i64::from(updated > 0));
}

pub fn pfcount(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if args.len() > 2 {
        // Several keys: the union's estimate, nothing cached.
        if let Some((max, _)) = union(srv, c, &args[1..]) {
            c.out.int(hll::count(&max) as i64);
        }
        return;
    }
    let key = args[1];
    match check(srv, c, key) {
        Hll::Refused => return,
        Hll::Missing => {
            c.out.int(0);
            return;
        }
        Hll::Valid => {}
    }
    let cached = match srv.lookup_read(c.db, key).map(|o| &o.val) {
        Some(Value::Str(s)) => hll::cached(&s.bytes()),
        _ => None,
    };
    if let Some(n) = cached {
        c.out.int(n as i64);
        return;
    }
    let Some(s) = bytes_mut(srv, c.db, key) else {
        return;
    };
    let regs = match hll::registers(s) {
        Ok(r) => r,
        Err(hll::Corrupt) => {
            c.out.error(CORRUPT);
            return;
        }
    };
    let n = hll::count(&regs);
    // Storing the estimate in the string changes the value: it is replicated (PFCOUNT is not
    // flagged as a write, so it records itself), and WATCH sees it.
    hll::set_cache(s, n);
    srv.touch_watched(c.db, key);
    srv.dirty += 1;
    srv.prop.also_propagate(c.db, args);
    c.out.int(n as i64);
}

pub fn pfmerge(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let dst = args[1];
    // The destination's own registers take part, as in Redis.
    let Some((max, use_dense)) = union(srv, c, &args[1..]) else {
        return;
    };
    if srv.lookup_write(c.db, dst).is_none() {
        srv.add_key(c.db, dst, Value::Str(StrValue::Raw(hll::new_sparse())));
    }
    let sparse_max = sparse_max(srv);
    let Some(s) = bytes_mut(srv, c.db, dst) else {
        return;
    };
    if use_dense && hll::to_dense(s).is_err() {
        c.out.error(CORRUPT);
        return;
    }
    for (i, &v) in max.iter().enumerate() {
        if v > 0 && hll::set(s, i, v, sparse_max).is_err() {
            c.out.error(CORRUPT);
            return;
        }
    }
    hll::invalidate_cache(s);
    srv.touch_watched(c.db, dst);
    srv.notify(notify::STRING, "pfadd", dst, c.db);
    srv.dirty += 1;
    c.out.ok();
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key (Redis's debugging aid for HLLs).
pub fn pfdebug(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let sub = String::from_utf8_lossy(args[1]).to_ascii_lowercase();
    let key = args[2];
    match check(srv, c, key) {
        Hll::Refused => return,
        Hll::Missing => {
            c.out.error("The specified key does not exist");
            return;
        }
        Hll::Valid => {}
    }
    let Some(s) = bytes_mut(srv, c.db, key) else {
        return;
    };
    match sub.as_str() {
        "getreg" if args.len() == 3 => {
            // Redis converts the value to dense to read it.
            if hll::to_dense(s).is_err() {
                c.out.error(CORRUPT);
                return;
            }
            let Ok(regs) = hll::registers(s) else {
                c.out.error(CORRUPT);
                return;
            };
            srv.dirty += 1;
            c.out.array(regs.len());
            for r in regs {
                c.out.int(r as i64);
            }
        }
        "decode" if args.len() == 3 => {
            if s[4] != hll::SPARSE {
                c.out.error("HLL encoding is not sparse");
                return;
            }
            match hll::decode_sparse(s) {
                Ok(text) => c.out.bulk(text.as_bytes()),
                Err(hll::Corrupt) => c.out.error(CORRUPT),
            }
        }
        "encoding" if args.len() == 3 => {
            c.out.simple(if s[4] == hll::DENSE {
                "dense"
            } else {
                "sparse"
            });
        }
        "todense" if args.len() == 3 => {
            let was_sparse = s[4] == hll::SPARSE;
            if hll::to_dense(s).is_err() {
                c.out.error(CORRUPT);
                return;
            }
            if was_sparse {
                srv.dirty += 1;
            }
            c.out.int(i64::from(was_sparse));
        }
        "getreg" | "decode" | "encoding" | "todense" => {
            c.out.error(&format!(
                "Wrong number of arguments for the '{sub}' subcommand"
            ));
        }
        _ => c.out.error(&format!("Unknown PFDEBUG subcommand '{sub}'")),
    }
}
