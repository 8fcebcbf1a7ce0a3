//! COMMAND and its subcommands: the introspection redis-cli and client libraries rely on.

use super::{CommandDef, FindKeys, eq_ic, flags};
use crate::config::glob_match;
use crate::net::client::Client;
use crate::server::Server;

fn flag_names(def: &CommandDef) -> Vec<&'static str> {
    flags::NAMES
        .iter()
        .filter(|(f, _)| def.flags & f != 0)
        .map(|(_, n)| *n)
        .collect()
}

fn reply_info(c: &mut Client, def: &CommandDef) {
    c.out.array(10);
    c.out.bulk(def.full_name().as_bytes());
    c.out.int(def.arity as i64);
    let fl = flag_names(def);
    c.out.set(fl.len());
    for f in fl {
        c.out.simple(f);
    }
    c.out.int(def.keys.0 as i64);
    c.out.int(def.keys.1 as i64);
    c.out.int(def.keys.2 as i64);
    let cats = def.acl_categories();
    c.out.set(cats.len());
    for cat in &cats {
        c.out.simple(cat);
    }
    c.out.set(def.tips.len());
    for t in def.tips {
        c.out.bulk(t.as_bytes());
    }
    c.out.set(def.key_specs.len());
    for ks in def.key_specs {
        c.out.map(3);
        c.out.bulk(b"flags");
        c.out.set(ks.flags.len());
        for f in ks.flags {
            c.out.simple(f);
        }
        c.out.bulk(b"begin_search");
        c.out.map(2);
        c.out.bulk(b"type");
        match ks.keyword {
            Some(kw) => {
                c.out.bulk(b"keyword");
                c.out.bulk(b"spec");
                c.out.map(2);
                c.out.bulk(b"keyword");
                c.out.bulk(kw.as_bytes());
                c.out.bulk(b"startfrom");
                c.out.int(ks.index as i64);
            }
            None => {
                c.out.bulk(b"index");
                c.out.bulk(b"spec");
                c.out.map(1);
                c.out.bulk(b"index");
                c.out.int(ks.index as i64);
            }
        }
        c.out.bulk(b"find_keys");
        c.out.map(2);
        c.out.bulk(b"type");
        let fields: [(&[u8], i32); 3] = match ks.find {
            FindKeys::Range {
                lastkey,
                step,
                limit,
            } => {
                c.out.bulk(b"range");
                [(b"lastkey", lastkey), (b"keystep", step), (b"limit", limit)]
            }
            FindKeys::Keynum {
                keynumidx,
                firstkey,
                step,
            } => {
                c.out.bulk(b"keynum");
                [
                    (b"keynumidx", keynumidx),
                    (b"firstkey", firstkey),
                    (b"keystep", step),
                ]
            }
        };
        c.out.bulk(b"spec");
        c.out.map(3);
        for (name, v) in fields {
            c.out.bulk(name);
            c.out.int(v as i64);
        }
    }
    c.out.set(def.subs.len());
    for s in def.subs {
        reply_info(c, s);
    }
}

fn reply_docs(c: &mut Client, def: &CommandDef) {
    let n = 3 + (!def.subs.is_empty()) as usize;
    c.out.map(n);
    c.out.bulk(b"summary");
    c.out.bulk(def.summary.as_bytes());
    c.out.bulk(b"since");
    c.out.bulk(def.since.as_bytes());
    c.out.bulk(b"group");
    c.out.bulk(def.group.as_bytes());
    if !def.subs.is_empty() {
        c.out.bulk(b"subcommands");
        c.out.map(def.subs.len());
        for s in def.subs {
            c.out.bulk(s.full_name().as_bytes());
            reply_docs(c, s);
        }
    }
}

fn sorted_all(srv: &Server) -> Vec<&'static CommandDef> {
    let mut v: Vec<&'static CommandDef> = srv.cmds.all().collect();
    v.sort_by_key(|d| d.name);
    v
}

/// COMMAND with no subcommand: every command's info.
pub fn command(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if args.len() > 1 {
        // A subcommand that exists was dispatched to its own handler before reaching here.
        c.out.error(&format!(
            "unknown subcommand '{}'. Try COMMAND HELP.",
            String::from_utf8_lossy(args[1])
        ));
        return;
    }
    let all = sorted_all(srv);
    c.out.array(all.len());
    for d in all {
        reply_info(c, d);
    }
}

pub fn count(srv: &mut Server, c: &mut Client, _: &[&[u8]]) {
    c.out.int(srv.cmds.all().count() as i64);
}

fn lookup_full(srv: &Server, name: &[u8]) -> Option<&'static CommandDef> {
    let s = String::from_utf8_lossy(name).to_ascii_lowercase();
    match s.split_once('|') {
        Some((parent, sub)) => srv
            .cmds
            .lookup(parent.as_bytes())?
            .subs
            .iter()
            .find(|d| d.name == sub),
        None => srv.cmds.lookup(s.as_bytes()),
    }
}

pub fn info(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if args.len() == 2 {
        let all = sorted_all(srv);
        c.out.array(all.len());
        for d in all {
            reply_info(c, d);
        }
        return;
    }
    c.out.array(args.len() - 2);
    for name in &args[2..] {
        match lookup_full(srv, name) {
            Some(d) => reply_info(c, d),
            None => c.out.null(),
        }
    }
}

pub fn docs(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let defs: Vec<&'static CommandDef> = if args.len() == 2 {
        sorted_all(srv)
    } else {
        args[2..]
            .iter()
            .filter_map(|n| lookup_full(srv, n))
            .collect()
    };
    c.out.map(defs.len());
    for d in defs {
        c.out.bulk(d.full_name().as_bytes());
        reply_docs(c, d);
    }
}

pub fn list(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let mut names: Vec<String> = Vec::new();
    for d in sorted_all(srv) {
        names.push(d.full_name());
        for s in d.subs {
            names.push(s.full_name());
        }
    }
    if args.len() > 2 {
        if args.len() != 5 || !eq_ic(args[2], "filterby") {
            c.out.error(super::SYNTAX);
            return;
        }
        let what = args[3];
        let val = String::from_utf8_lossy(args[4]).to_string();
        if eq_ic(what, "module") {
            names.clear();
        } else if eq_ic(what, "aclcat") {
            let cat = format!("@{}", val.to_ascii_lowercase());
            let mut keep = Vec::new();
            for d in sorted_all(srv) {
                if d.acl_categories().contains(&cat) {
                    keep.push(d.full_name());
                }
                for s in d.subs {
                    if s.acl_categories().contains(&cat) {
                        keep.push(s.full_name());
                    }
                }
            }
            names = keep;
        } else if eq_ic(what, "pattern") {
            names.retain(|n| glob_match(val.as_bytes(), n.as_bytes(), true));
        } else {
            c.out.error(super::SYNTAX);
            return;
        }
    }
    c.out.array(names.len());
    for n in names {
        c.out.bulk(n.as_bytes());
    }
}

/// Keys of a call to `def` with `call` as its arguments, with the flags of the key spec that
/// found each, in argument order (Redis's getKeysFromCommandWithSpecs).
pub fn keys_with_flags(def: &CommandDef, call: &[&[u8]]) -> Vec<(usize, &'static [&'static str])> {
    let argc = call.len() as i32;
    let mut out: Vec<(usize, &'static [&'static str])> = Vec::new();
    // SET's flags depend on GET (Redis's setGetKeys).
    if def.name == "set" && def.parent.is_none() {
        let get = call[3..].iter().any(|a| eq_ic(a, "get"));
        let flags: &'static [&'static str] = if get {
            &["RW", "access", "update"]
        } else {
            &["OW", "update"]
        };
        return vec![(1, flags)];
    }
    // MIGRATE names its key, or with KEYS only the keys after it (Redis's migrateGetKeys).
    if def.name == "migrate" && def.parent.is_none() {
        let flags = def.key_specs.first().map_or(&[][..], |k| k.flags);
        let mut i = 6;
        while i < call.len() {
            if eq_ic(call[i], "auth") {
                i += 1;
            } else if eq_ic(call[i], "auth2") {
                i += 2;
            } else if eq_ic(call[i], "keys") && call.get(3).is_some_and(|k| k.is_empty()) {
                return (i + 1..call.len()).map(|k| (k, flags)).collect();
            }
            i += 1;
        }
        return if call.len() > 3 {
            vec![(3, flags)]
        } else {
            Vec::new()
        };
    }
    // SORT's destination follows the last STORE keyword (Redis's sortGetKeys).
    if def.name == "sort" && def.parent.is_none() {
        out.push((1, &["RO", "access"]));
        let mut store = None;
        let mut i = 2;
        while i + 1 < call.len() {
            if eq_ic(call[i], "store") {
                store = Some(i + 1);
                i += 1;
            } else if eq_ic(call[i], "limit") {
                i += 2;
            } else if eq_ic(call[i], "by") || eq_ic(call[i], "get") {
                i += 1;
            }
            i += 1;
        }
        if let Some(s) = store {
            out.push((s, &["OW", "update"]));
        }
        return out;
    }
    for ks in def.key_specs {
        let first = match ks.keyword {
            None => ks.index,
            Some(kw) => match keyword_pos(call, kw, ks.index) {
                Some(p) => p + 1,
                None => continue,
            },
        };
        if first >= argc {
            continue;
        }
        // XREAD's keys are followed by as many IDs (Redis's xreadGetKeys).
        if ks.keyword == Some("STREAMS") && (argc - first) % 2 != 0 {
            continue;
        }
        let (start, last, step) = match ks.find {
            FindKeys::Range {
                lastkey,
                step,
                limit,
            } => {
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit <= 1 {
                    argc + lastkey
                } else {
                    first + (argc - first) / limit + lastkey
                };
                (first, last, step)
            }
            FindKeys::Keynum {
                keynumidx,
                firstkey,
                step,
            } => {
                let Some(n) = call
                    .get((first + keynumidx) as usize)
                    .and_then(|a| crate::resp::parse_i64(a))
                    .filter(|n| *n >= 0 && *n <= i32::MAX as i64)
                else {
                    continue;
                };
                let start = first + firstkey;
                (start, start + (n as i32 - 1) * step.max(1), step)
            }
        };
        let mut i = start;
        while i <= last && i < argc {
            out.push((i as usize, ks.flags));
            i += step.max(1);
        }
    }
    out
}

/// Where a keyword begin-search finds its keyword: searching forward from `startfrom`, or
/// backward from the end when it is negative.
fn keyword_pos(call: &[&[u8]], kw: &str, startfrom: i32) -> Option<i32> {
    let argc = call.len() as i32;
    if startfrom >= 0 {
        (startfrom..argc).find(|&i| eq_ic(call[i as usize], kw))
    } else {
        let from = argc + startfrom;
        (1..=from).rev().find(|&i| eq_ic(call[i as usize], kw))
    }
}

fn call_def(srv: &Server, c: &mut Client, call: &[&[u8]]) -> Option<&'static CommandDef> {
    let def = match srv.cmds.lookup_with_sub(call) {
        Ok(d) => d,
        Err(_) => {
            c.out.error("Invalid command specified");
            return None;
        }
    };
    if !def.arity_ok(call.len()) {
        c.out
            .error("Invalid number of arguments specified for command");
        return None;
    }
    Some(def)
}

/// The keys of the command line in `args[2..]`, or None after replying Redis's error.
fn call_keys<'a>(
    srv: &Server,
    c: &mut Client,
    args: &[&'a [u8]],
) -> Option<Vec<(&'a [u8], &'static [&'static str])>> {
    let call = &args[2..];
    let def = call_def(srv, c, call)?;
    let keys = keys_with_flags(def, call);
    if keys.is_empty() {
        // Redis's commandGetKeys: a command that never takes keys, one whose keys are all
        // optional (EVAL with numkeys 0), and a line where the keys cannot be found.
        let takes_keys = !def.key_specs.is_empty() || def.name == "sort";
        if !takes_keys {
            c.out.error("The command has no key arguments");
            return None;
        }
        if def.flags & crate::cmd::flags::NO_MANDATORY_KEYS == 0 {
            c.out.error("Invalid arguments specified for command");
            return None;
        }
    }
    Some(keys.into_iter().map(|(i, f)| (call[i], f)).collect())
}

pub fn getkeys(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some(keys) = call_keys(srv, c, args) else {
        return;
    };
    c.out.array(keys.len());
    for (k, _) in keys {
        c.out.bulk(k);
    }
}

pub fn getkeysandflags(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some(keys) = call_keys(srv, c, args) else {
        return;
    };
    c.out.array(keys.len());
    for (k, flags) in keys {
        c.out.array(2);
        c.out.bulk(k);
        c.out.set(flags.len());
        for f in flags {
            c.out.simple(f);
        }
    }
}

pub fn help(_: &mut Server, c: &mut Client, _: &[&[u8]]) {
    super::reply_help(
        c,
        "COMMAND",
        &[
            "(no subcommand)",
            "    Details of every command.",
            "COUNT",
            "    How many commands there are.",
            "DOCS [<command-name> ...]",
            "    Documentation of the given commands, or of all.",
            "GETKEYS <full-command>",
            "    The key arguments of a full command line.",
            "GETKEYSANDFLAGS <full-command>",
            "    The key arguments of a full command line, with their access flags.",
            "INFO [<command-name> ...]",
            "    Details of the given commands, or of all.",
            "LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]",
            "    Names of the commands, optionally filtered.",
        ],
    );
}
