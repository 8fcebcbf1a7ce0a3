//! Serving clients while a slow script runs (Redis's processEventsWhileBlocked).
//!
//! Past busy-reply-threshold the script's hook calls `process_events_while_busy` between
//! slices of the script. It runs the network part of a loop iteration: new connections, input,
//! replies. Commands get BUSY unless flagged allow-busy (SCRIPT KILL, SHUTDOWN NOSAVE, the
//! transaction commands, ...). Everything else a completion could start (cron, child exits,
//! signals, block timeouts) and anything for the script's caller, whose command is still
//! running, waits in `busy_deferred` for the main loop.

use super::Server;
use crate::io::ring::{Completion, Kind};

/// Loop slices per hook call, as Redis's processEventsWhileBlocked (at most 4, fewer when
/// nothing happens).
const SLICES: usize = 4;

impl Server {
    pub fn process_events_while_busy(&mut self) {
        let caller_slot = self.scripting.run.as_ref().map(|r| r.caller_slot);
        // The state of the command that is running the script; commands run here change it.
        let running_client = self.running_client;
        let cmd_time_ms = self.cmd_time_ms;
        let running_write = self.running_write;
        let touches_signalled = self.touches_signalled;
        let self_out = std::mem::take(&mut self.self_out);
        let mut completions: Vec<Completion> = Vec::new();
        for _ in 0..SLICES {
            if let Err(e) = self.ring.submit_and_wait(0) {
                log::warn!("io_uring_enter: {e}");
            }
            completions.clear();
            self.ring.drain(&mut completions);
            let had_work = !completions.is_empty() || !self.pending_input.is_empty();
            for c in &completions {
                match c.tag.kind {
                    Kind::Accept => self.on_accept(c),
                    Kind::Recv if Some(c.tag.slot) != caller_slot => self.on_recv(c),
                    Kind::Send if Some(c.tag.slot) != caller_slot => self.on_send(c),
                    _ => self.busy_deferred.push(*c),
                }
            }
            self.process_pending_input();
            self.close_requested_clients();
            for slot in std::mem::take(&mut self.rearm_later) {
                self.arm_recv(slot);
            }
            self.flush_sends();
            self.reap_closing();
            if self.shutdown.requested {
                // SHUTDOWN NOSAVE while the script runs: Redis exits from inside it.
                if let Some(code) = self.finish_shutdown() {
                    std::process::exit(code);
                }
                self.shutdown.requested = false;
            }
            if !had_work {
                break;
            }
        }
        self.running_client = running_client;
        self.cmd_time_ms = cmd_time_ms;
        self.running_write = running_write;
        self.touches_signalled = touches_signalled;
        self.self_out = self_out;
    }
}
