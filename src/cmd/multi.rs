//! MULTI, EXEC, DISCARD, WATCH, UNWATCH.

use crate::net::client::Client;
use crate::server::Server;
use crate::server::multi::MultiState;

pub fn multi(_: &mut Server, c: &mut Client, _: &[&[u8]]) {
    if c.multi.is_some() {
        c.out.error("MULTI calls can not be nested");
        return;
    }
    c.multi = Some(Box::new(MultiState {
        cmds: Vec::new(),
        aborted: false,
    }));
    c.out.ok();
}

pub fn discard(srv: &mut Server, c: &mut Client, _: &[&[u8]]) {
    if c.multi.take().is_none() {
        c.out.error("DISCARD without MULTI");
        return;
    }
    srv.unwatch_all(c.id);
    c.out.ok();
}

pub fn exec(srv: &mut Server, c: &mut Client, _: &[&[u8]]) {
    let Some(m) = c.multi.take() else {
        c.out.error("EXEC without MULTI");
        return;
    };
    let failed = srv.watch_failed(c.id);
    srv.unwatch_all(c.id);
    if m.aborted {
        c.out
            .error("-EXECABORT Transaction discarded because of previous errors.");
        return;
    }
    if failed {
        c.out.null_array();
        return;
    }
    c.out.array(m.cmds.len());
    // The queued commands' effects leave as one unit (MULTI/EXEC around them when several).
    srv.in_exec = true;
    for (def, argv) in &m.cmds {
        let refs: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
        srv.call(c, def, &refs);
    }
    srv.in_exec = false;
    c.last_cmd = srv.cmds.lookup(b"exec");
}

pub fn watch(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    if c.multi.is_some() {
        c.out.error("WATCH inside MULTI is not allowed");
        return;
    }
    for k in &args[1..] {
        srv.watch_key(c.id, c.db, k);
    }
    c.out.ok();
}

pub fn unwatch(srv: &mut Server, c: &mut Client, _: &[&[u8]]) {
    srv.unwatch_all(c.id);
    c.out.ok();
}
