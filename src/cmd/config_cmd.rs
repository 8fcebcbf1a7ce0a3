//! CONFIG GET / SET / RESETSTAT / REWRITE.

use crate::config::{P, PARAMS, glob_match, params};
use crate::net::client::Client;
use crate::server::Server;

pub fn get(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let mut found: Vec<(&'static str, String)> = Vec::new();
    for pat in &args[2..] {
        let pat_lower = pat.to_ascii_lowercase();
        let is_glob = pat_lower.iter().any(|b| matches!(b, b'*' | b'?' | b'['));
        for &p in params::ALL {
            let def = &PARAMS[p as usize];
            let names = std::iter::once(def.name).chain(def.alias);
            for name in names {
                let hit = if is_glob {
                    def.flags & params::HIDDEN == 0 && glob_match(&pat_lower, name.as_bytes(), true)
                } else {
                    pat_lower == name.as_bytes()
                };
                if hit && !found.iter().any(|(n, _)| *n == name) {
                    found.push((name, srv.cfg.get_string(p)));
                }
            }
        }
    }
    c.out.map(found.len());
    for (n, v) in found {
        c.out.bulk(n.as_bytes());
        c.out.bulk(v.as_bytes());
    }
}

pub fn set(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if !args.len().is_multiple_of(2) {
        c.out.error(super::SYNTAX);
        return;
    }
    let mut chosen: Vec<(P, Vec<String>)> = Vec::new();
    for pair in args[2..].chunks(2) {
        let name = String::from_utf8_lossy(pair[0]).to_string();
        let Some(p) = params::lookup(&name) else {
            c.out.error(&format!(
                "Unknown option or number of arguments for CONFIG SET - '{name}'"
            ));
            return;
        };
        let def = &PARAMS[p as usize];
        if def.immutable() {
            c.out.error(&format!(
                "CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"
            ));
            return;
        }
        if def.flags & params::PROTECTED != 0 && !protected_allowed(srv, c) {
            c.out.error(&format!(
                "CONFIG SET failed (possibly related to argument '{name}') - can't set protected config"
            ));
            return;
        }
        if chosen.iter().any(|(q, _)| *q == p) {
            c.out.error(&format!(
                "CONFIG SET failed (possibly related to argument '{name}') - duplicate parameter"
            ));
            return;
        }
        let value = String::from_utf8_lossy(pair[1]).to_string();
        let words: Vec<String> = if def.multi_arg() {
            value
                .split(' ')
                .filter(|w| !w.is_empty())
                .map(String::from)
                .collect()
        } else {
            vec![value]
        };
        chosen.push((p, words));
    }
    // Validate everything first, then apply: all or nothing, as Redis.
    let backup = srv.cfg.clone();
    for (p, words) in &chosen {
        if let Err(e) = srv.cfg.set(*p, words) {
            srv.cfg = backup;
            c.out.error(&format!(
                "CONFIG SET failed (possibly related to argument '{}') - {e}",
                PARAMS[*p as usize].name
            ));
            return;
        }
    }
    for (p, _) in &chosen {
        if let Err(e) = apply(srv, *p) {
            srv.cfg = backup;
            c.out.error(&format!(
                "CONFIG SET failed (possibly related to argument '{}') - {e}",
                PARAMS[*p as usize].name
            ));
            return;
        }
    }
    c.out.ok();
}

fn protected_allowed(srv: &Server, c: &Client) -> bool {
    match srv.cfg.enum_name(P::EnableProtectedConfigs) {
        "yes" => true,
        "local" => c.addr.starts_with("127.") || c.addr.starts_with("::1"),
        _ => false,
    }
}

/// Side effects of a changed parameter.
fn apply(srv: &mut Server, p: P) -> Result<(), String> {
    match p {
        P::Dir => {
            let d = srv.cfg.str(P::Dir).to_string();
            std::env::set_current_dir(&d).map_err(|e| e.to_string())?;
            let abs = std::env::current_dir()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or(d);
            srv.cfg.set_val(P::Dir, crate::config::Val::Str(abs));
        }
        P::Port => {
            let port = srv.cfg.int(P::Port);
            let bind = srv.cfg.list(P::Bind).to_vec();
            srv.rebind(port, &bind)
                .map_err(|_| "Unable to listen on this port. Check server logs.".to_string())?;
        }
        P::Bind => {
            let port = srv.cfg.int(P::Port);
            let bind = srv.cfg.list(P::Bind).to_vec();
            srv.rebind(port, &bind)
                .map_err(|_| "Failed to bind to specified addresses.".to_string())?;
        }
        P::Requirepass => {
            // Changing the password does not log out connected clients (as Redis).
        }
        _ => {}
    }
    Ok(())
}

pub fn resetstat(srv: &mut Server, c: &mut Client, _: &[&[u8]]) {
    srv.stats.reset();
    c.out.ok();
}

pub fn rewrite(srv: &mut Server, c: &mut Client, _: &[&[u8]]) {
    match crate::config::rewrite::rewrite_file(&srv.cfg) {
        Ok(()) => c.out.ok(),
        Err(e) => c.out.error(&e),
    }
}

pub fn help(_: &mut Server, c: &mut Client, _: &[&[u8]]) {
    super::reply_help(
        c,
        "CONFIG",
        &[
            "GET <pattern> [<pattern> ...]",
            "    The parameters whose names match any pattern, with their values.",
            "SET <name> <value> [<name> <value> ...]",
            "    Change parameters; all or none are applied.",
            "RESETSTAT",
            "    Zero the counters INFO reports.",
            "REWRITE",
            "    Write the running configuration back to the config file.",
        ],
    );
}
