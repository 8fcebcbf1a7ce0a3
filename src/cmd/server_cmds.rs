//! Server commands: INFO, TIME, SHUTDOWN.

use super::{SYNTAX, eq_ic};
use crate::net::client::Client;
use crate::server::Server;

pub fn info(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let sections = Server::info_sections(&args[1..]);
    let s = srv.info_string(&sections);
    c.out.verbatim(s.as_bytes());
}

pub fn time(_: &mut Server, c: &mut Client, _: &[&[u8]]) {
    let us = crate::server::now_us();
    c.out.array(2);
    c.out.bulk((us / 1_000_000).to_string().as_bytes());
    c.out.bulk((us % 1_000_000).to_string().as_bytes());
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]. The final save happens here, before the
/// reply, so a failed save answers an error and the server goes on (as Redis). With no
/// replicas to wait for, NOW changes nothing.
pub fn shutdown(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let (mut save, mut nosave, mut abort, mut force) = (false, false, false, false);
    for a in &args[1..] {
        if eq_ic(a, "nosave") {
            nosave = true;
        } else if eq_ic(a, "save") {
            save = true;
        } else if eq_ic(a, "now") {
        } else if eq_ic(a, "force") {
            force = true;
        } else if eq_ic(a, "abort") {
            abort = true;
        } else {
            c.out.error(SYNTAX);
            return;
        }
    }
    if (abort && args.len() != 2) || (save && nosave) {
        c.out.error(SYNTAX);
        return;
    }
    if abort {
        c.out.error("No shutdown in progress.");
        return;
    }
    // While a slow script runs only SHUTDOWN NOSAVE may stop the server.
    if !nosave && let Some(busy) = srv.busy_error() {
        c.out.error(busy);
        return;
    }
    if srv.prepare_shutdown(save, nosave, force).is_err() {
        c.out.error("Errors trying to SHUTDOWN. Check logs.");
        return;
    }
    srv.shutdown.requested = true;
    srv.shutdown.prepared = true;
    // Redis does not reply to a successful SHUTDOWN: the connection just closes.
    c.closing = crate::net::client::Closing::AfterReply;
}
