//! FUNCTION LOAD/DELETE/FLUSH/LIST/DUMP/RESTORE/STATS/KILL/HELP, FCALL and FCALL_RO
//! (see src/scripting/functions.rs).

use super::{eq_ic, reply_help};
use crate::net::client::Client;
use crate::persist::rdb::decode::{function_records, verify_dump_payload};
use crate::persist::rdb::{RDB_VERSION, crc64};
use crate::scripting::functions::LOAD_TIMEOUT;
use crate::scripting::run::{BUSY_EVAL, ScriptCall, Target};
use crate::scripting::script_flags;
use crate::server::Server;

pub fn fcall(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    fcall_generic(srv, c, args, false);
}

pub fn fcall_ro(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    fcall_generic(srv, c, args, true);
}

fn fcall_generic(srv: &mut Server, c: &mut Client, args: &[&[u8]], read_only: bool) {
    // MONITOR shows the FCALL before the commands its function runs.
    srv.feed_monitors_now(c, args);
    let name = String::from_utf8_lossy(args[1]).into_owned();
    if srv.scripting.functions.function(&name).is_none() {
        c.out.error("Function not found");
        return;
    }
    let Some(split) = super::scripting_cmd::keys_end(c, args, "Bad number of keys provided") else {
        return;
    };
    srv.run_script(
        c,
        ScriptCall {
            target: Target::Function { name: &name },
            keys: &args[3..split],
            args: &args[split..],
            read_only,
            command: args,
        },
    );
}

pub fn load(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let mut replace = false;
    let mut pos = 2;
    while pos < args.len() - 1 {
        if eq_ic(args[pos], "replace") {
            replace = true;
            pos += 1;
            continue;
        }
        c.out.error(&format!(
            "Unknown option given: {}",
            String::from_utf8_lossy(args[pos])
        ));
        return;
    }
    if pos >= args.len() {
        c.out.error("Function code is missing");
        return;
    }
    match srv
        .scripting
        .functions
        .load(args[pos], replace, Some(LOAD_TIMEOUT))
    {
        Ok(name) => {
            srv.dirty += 1;
            c.out.bulk(name.as_bytes());
        }
        Err(e) => c.out.error(&e),
    }
}

pub fn delete(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let name = String::from_utf8_lossy(args[2]);
    if srv.scripting.functions.delete(&name) {
        srv.dirty += 1;
        c.out.ok();
    } else {
        c.out.error("Library not found");
    }
}

fn subcommand_syntax(c: &mut Client, sub: &[u8]) {
    c.out.error(&format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
        String::from_utf8_lossy(sub)
    ));
}

pub fn flush(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if args.len() > 3 {
        subcommand_syntax(c, args[1]);
        return;
    }
    if args.len() == 3 && !eq_ic(args[2], "sync") && !eq_ic(args[2], "async") {
        c.out
            .error("FUNCTION FLUSH only supports SYNC|ASYNC option");
        return;
    }
    srv.scripting.functions.flush();
    srv.dirty += 1;
    c.out.ok();
}

pub fn list(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let mut with_code = false;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 2;
    while i < args.len() {
        if !with_code && eq_ic(args[i], "withcode") {
            with_code = true;
        } else if pattern.is_none() && eq_ic(args[i], "libraryname") {
            if i + 1 >= args.len() {
                c.out.error("library name argument was not given");
                return;
            }
            i += 1;
            pattern = Some(args[i]);
        } else {
            c.out.error(&format!(
                "Unknown argument {}",
                String::from_utf8_lossy(args[i])
            ));
            return;
        }
        i += 1;
    }
    let libs: Vec<_> = srv
        .scripting
        .functions
        .libs
        .values()
        .filter(|l| pattern.is_none_or(|p| crate::config::glob_match(p, l.name.as_bytes(), false)))
        .collect();
    c.out.array(libs.len());
    for l in libs {
        c.out.map(if with_code { 4 } else { 3 });
        c.out.bulk(b"library_name");
        c.out.bulk(l.name.as_bytes());
        c.out.bulk(b"engine");
        c.out.bulk(b"LUA");
        c.out.bulk(b"functions");
        c.out.array(l.functions.len());
        for f in l.functions.values() {
            c.out.map(3);
            c.out.bulk(b"name");
            c.out.bulk(f.name.as_bytes());
            c.out.bulk(b"description");
            match &f.desc {
                Some(d) => c.out.bulk(d),
                None => c.out.null(),
            }
            c.out.bulk(b"flags");
            let names: Vec<&str> = script_flags::NAMES
                .iter()
                .filter(|(bit, _)| f.flags & bit != 0)
                .map(|(_, n)| *n)
                .collect();
            c.out.set(names.len());
            for n in names {
                c.out.simple(n);
            }
        }
        if with_code {
            c.out.bulk(b"library_code");
            c.out.bulk(&l.code);
        }
    }
}

pub fn dump(srv: &mut Server, c: &mut Client, _: &[&[u8]]) {
    let compress = srv.cfg.bool(crate::config::P::Rdbcompression);
    let mut payload = srv.scripting.functions.rdb_records(compress);
    payload.extend_from_slice(&(RDB_VERSION as u16).to_le_bytes());
    let crc = crc64::update(0, &payload);
    payload.extend_from_slice(&crc.to_le_bytes());
    c.out.bulk(&payload);
}

pub fn restore(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if args.len() > 4 {
        subcommand_syntax(c, args[1]);
        return;
    }
    let (mut replace, mut flush) = (false, false);
    if args.len() == 4 {
        if eq_ic(args[3], "replace") {
            replace = true;
        } else if eq_ic(args[3], "flush") {
            flush = true;
        } else if !eq_ic(args[3], "append") {
            c.out.error(
                "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            );
            return;
        }
    }
    let Some(body) = verify_dump_payload(args[2]) else {
        c.out.error("DUMP payload version or checksum are wrong");
        return;
    };
    let result = function_records(body)
        .and_then(|codes| srv.scripting.functions.restore(&codes, replace, flush));
    match result {
        Ok(()) => {
            srv.dirty += 1;
            c.out.ok();
        }
        Err(e) => c.out.error(&e),
    }
}

pub fn stats(srv: &mut Server, c: &mut Client, _: &[&[u8]]) {
    let run = srv.scripting.run.as_ref();
    if run.is_some_and(|r| r.eval_mode) {
        c.out.error(BUSY_EVAL);
        return;
    }
    c.out.map(2);
    c.out.bulk(b"running_script");
    match run {
        None => c.out.null(),
        Some(r) => {
            c.out.map(3);
            c.out.bulk(b"name");
            c.out.bulk(r.name.as_bytes());
            c.out.bulk(b"command");
            c.out.array(r.command.len());
            for a in &r.command {
                c.out.bulk(a);
            }
            c.out.bulk(b"duration_ms");
            c.out.int(r.started.elapsed().as_millis() as i64);
        }
    }
    let libs = &srv.scripting.functions;
    c.out.bulk(b"engines");
    c.out.map(1);
    c.out.bulk(b"LUA");
    c.out.map(2);
    c.out.bulk(b"libraries_count");
    c.out.int(libs.libs.len() as i64);
    c.out.bulk(b"functions_count");
    c.out.int(libs.function_count() as i64);
}

pub fn kill(srv: &mut Server, c: &mut Client, _: &[&[u8]]) {
    srv.kill_script(c, false);
}

pub fn help(_: &mut Server, c: &mut Client, _: &[&[u8]]) {
    reply_help(
        c,
        "FUNCTION",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ],
    );
}
