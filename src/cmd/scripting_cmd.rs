//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT (see src/scripting).

use super::{NOT_INT, eq_ic, reply_help};
use crate::net::client::Client;
use crate::resp::parse_i64;
use crate::scripting::run::{ScriptCall, Target};
use crate::server::Server;

const NOSCRIPT: &str = "-NOSCRIPT No matching script. Please use EVAL.";

pub fn eval(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    eval_generic(srv, c, args, false, false);
}

pub fn eval_ro(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    eval_generic(srv, c, args, false, true);
}

pub fn evalsha(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    eval_generic(srv, c, args, true, false);
}

pub fn evalsha_ro(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    eval_generic(srv, c, args, true, true);
}

fn eval_generic(srv: &mut Server, c: &mut Client, args: &[&[u8]], by_sha: bool, read_only: bool) {
    // MONITOR shows the EVAL before the commands its script runs.
    srv.feed_monitors_now(c, args);
    if by_sha && args[1].len() != 40 {
        c.out.error(NOSCRIPT);
        return;
    }
    let Some(split) = keys_end(c, args, NOT_INT) else {
        return;
    };
    let sha = if by_sha {
        let sha = String::from_utf8_lossy(args[1]).to_ascii_lowercase();
        if !srv.scripting.eval.scripts.contains_key(&sha) {
            c.out.error(NOSCRIPT);
            return;
        }
        sha
    } else {
        match srv.scripting.eval.create(args[1]) {
            Ok(sha) => sha,
            Err(msg) => {
                c.out.error(&msg);
                return;
            }
        }
    };
    srv.run_script(
        c,
        ScriptCall {
            target: Target::Eval { sha: &sha },
            keys: &args[3..split],
            args: &args[split..],
            read_only,
            command: args,
        },
    );
}

/// Where the keys of an EVAL/FCALL line end (they start at 3), from its numkeys; None once
/// the error was sent (`bad_number` when numkeys is not an integer).
pub fn keys_end(c: &mut Client, args: &[&[u8]], bad_number: &str) -> Option<usize> {
    let Some(numkeys) = parse_i64(args[2]) else {
        c.out.error(bad_number);
        return None;
    };
    if numkeys > (args.len() - 3) as i64 {
        c.out
            .error("Number of keys can't be greater than number of args");
        return None;
    }
    if numkeys < 0 {
        c.out.error("Number of keys can't be negative");
        return None;
    }
    Some(3 + numkeys as usize)
}

pub fn script_exists(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    c.out.array(args.len() - 2);
    for a in &args[2..] {
        let sha = String::from_utf8_lossy(a).to_ascii_lowercase();
        c.out
            .int(i64::from(srv.scripting.eval.scripts.contains_key(&sha)));
    }
}

pub fn script_flush(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    // ASYNC and SYNC both drop the cache at once: freeing a Lua state is quick next to a
    // keyspace, and a new one must exist before the next EVAL anyway.
    let valid = match args.len() {
        2 => true,
        3 => eq_ic(args[2], "sync") || eq_ic(args[2], "async"),
        _ => false,
    };
    if !valid {
        c.out.error("SCRIPT FLUSH only support SYNC|ASYNC option");
        return;
    }
    match crate::scripting::EvalScripts::new() {
        Ok(eval) => {
            srv.scripting.eval = eval;
            c.out.ok();
        }
        Err(e) => c.out.error(&format!("initialising Lua: {e}")),
    }
}

pub fn script_load(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    match srv.scripting.eval.create(args[2]) {
        Ok(sha) => c.out.bulk(sha.as_bytes()),
        Err(msg) => c.out.error(&msg),
    }
}

pub fn script_kill(srv: &mut Server, c: &mut Client, _: &[&[u8]]) {
    srv.kill_script(c, true);
}

pub fn script_help(_: &mut Server, c: &mut Client, _: &[&[u8]]) {
    reply_help(
        c,
        "SCRIPT",
        &[
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    );
}
