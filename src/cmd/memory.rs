//! MEMORY USAGE and MEMORY HELP.

use super::{NOT_INT, SYNTAX, arg_i64, eq_ic};
use crate::net::client::Client;
use crate::server::Server;

/// Bytes a key costs besides its value's payload: the key bytes, the table entry and the
/// value header (what Redis counts as sds + dictEntry + robj).
const ENTRY_OVERHEAD: usize = 48;

pub fn usage(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let mut j = 3;
    while j < args.len() {
        if eq_ic(args[j], "samples") && j + 1 < args.len() {
            let Some(n) = arg_i64(c, args[j + 1], NOT_INT) else {
                return;
            };
            if n < 0 {
                c.out.error(SYNTAX);
                return;
            }
            j += 2;
        } else {
            c.out.error(SYNTAX);
            return;
        }
    }
    let key = args[2];
    match srv.lookup_notouch(c.db, key) {
        None => c.out.null(),
        Some(o) => {
            let n = key.len() + ENTRY_OVERHEAD + o.val.alloc_size();
            c.out.int(n as i64);
        }
    }
}

pub fn help(_: &mut Server, c: &mut Client, _: &[&[u8]]) {
    super::reply_help(
        c,
        "MEMORY",
        &[
            "USAGE <key> [SAMPLES <count>]",
            "    Estimated bytes a key and its value take in memory.",
        ],
    );
}
