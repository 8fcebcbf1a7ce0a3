//! From parsed request to executed command: the checks Redis's processCommand makes (in its
//! order), the call, and what follows it (stats, slowlog-free accounting, MONITOR, propagation,
//! output stamping).

use super::{PauseKind, Server};
use crate::cmd::{self, CommandDef, flags};
use crate::config::P;
use crate::net::client::{Client, Closing, ReplyMode};
use crate::resp::{ParseLimits, Parsed};
use std::time::Instant;

/// Commands a RESP2 client may run while subscribed.
const SUBSCRIBED_OK: &[&str] = &[
    "ping",
    "subscribe",
    "ssubscribe",
    "unsubscribe",
    "sunsubscribe",
    "psubscribe",
    "punsubscribe",
    "quit",
    "reset",
];

/// The error write commands get after a failed background save (stop-writes-on-bgsave-error).
pub const MISCONF: &str = "-MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

impl Server {
    /// Whether the client's queued transaction holds a command with any of `flag` (with the
    /// flags it runs with, see `command_flags`).
    fn queued_with(&self, c: &Client, flag: u32) -> bool {
        c.multi.as_ref().is_some_and(|m| {
            m.cmds
                .iter()
                .any(|(d, argv)| self.command_flags(d, argv.get(1).map(Vec::as_slice)) & flag != 0)
        })
    }

    /// The flags a command is checked with: its own, or for EVAL and FCALL the ones its
    /// script declares (Redis's getCommandFlags): a `no-writes` script is not a write, so it
    /// runs during CLIENT PAUSE WRITE and over maxmemory. `arg` is the command's first
    /// argument (the script or function). Only the checks that read these flags call this
    /// (maxmemory, a failed save, a pause), so EVAL's body is not hashed on every call.
    pub fn command_flags(&self, def: &CommandDef, arg: Option<&[u8]>) -> u32 {
        use crate::scripting::{script_flags, script_to_command_flags, sha1hex, shebang_flags};
        if def.parent.is_some() || !matches!(def.name.as_bytes().first(), Some(b'e' | b'f')) {
            return def.flags;
        }
        let Some(arg) = arg else {
            return def.flags;
        };
        let declared = match def.name {
            "eval" | "eval_ro" => match self.scripting.eval.scripts.get(&sha1hex(arg)) {
                Some(s) => Some(s.flags),
                None => shebang_flags(arg).ok().map(|(f, _)| f),
            },
            "evalsha" | "evalsha_ro" if arg.len() == 40 => {
                let sha = String::from_utf8_lossy(arg).to_ascii_lowercase();
                self.scripting.eval.scripts.get(&sha).map(|s| s.flags)
            }
            "fcall" | "fcall_ro" => self
                .scripting
                .functions
                .function(&String::from_utf8_lossy(arg))
                .map(|f| f.flags),
            _ => None,
        };
        match declared {
            Some(f) if f & script_flags::COMPAT == 0 => script_to_command_flags(def.flags, f),
            _ => def.flags,
        }
    }

    /// Run the commands of clients with input, `COMMAND_BUDGET` each per pass.
    pub fn process_pending_input(&mut self) {
        let n = self.pending_input.len();
        let mut last_submit = std::time::Instant::now();
        for _ in 0..n {
            let Some(slot) = self.pending_input.pop_front() else {
                break;
            };
            let Some(mut c) = self.clients[slot as usize].take() else {
                continue;
            };
            c.pending_input = false;
            let more = self.run_client_commands(&mut c);
            let has_output = c.has_output();
            let backlog = c.query_backlog();
            let paused = c.recv_paused;
            let closing_now = c.closing == Closing::Now;
            let closing_after_reply = c.closing == Closing::AfterReply;
            self.clients[slot as usize] = Some(c);
            if closing_now {
                self.close_client_slot(slot);
                continue;
            }
            // A client closing after its reply goes through the send phase even without
            // output, which is where it is finally closed.
            if has_output || closing_after_reply {
                // Queue the reply now rather than after every other client has run, and submit
                // early once a pass has gone on for a while: a deep pipeline on one client then
                // does not hold back everyone's replies until the whole pass is done.
                if self.queue_send(slot) != super::event_loop::SendState::Queued {
                    self.pending_send.push(slot);
                }
                if self.bytes_queued_unsubmitted >= super::event_loop::EARLY_SUBMIT_BYTES
                    || last_submit.elapsed() >= super::event_loop::EARLY_SUBMIT_AFTER
                {
                    if let Err(e) = self.ring.submit() {
                        log::warn!("io_uring submit: {e}");
                    }
                    self.bytes_queued_unsubmitted = 0;
                    last_submit = std::time::Instant::now();
                }
            }
            if more {
                self.mark_pending_input(slot);
                if backlog > crate::net::client::RECV_PAUSE_BACKLOG {
                    self.pause_recv(slot);
                }
            } else if paused {
                self.resume_recv(slot);
            }
            if self.shutdown.requested {
                break;
            }
        }
    }

    /// Parse and execute up to the budget; returns true if complete commands may remain.
    fn run_client_commands(&mut self, c: &mut Client) -> bool {
        let mut budget = super::event_loop::COMMAND_BUDGET;
        if let Some(argv) = c.postponed_argv.take() {
            let refs: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
            budget -= 1;
            self.execute(c, &refs);
        }
        let start_pos = c.qpos;
        let qbuf = std::mem::take(&mut c.qbuf);
        c.qbuf_in_use = qbuf.len();
        let mut ranges = Vec::new();
        let mut inline = Vec::new();
        let mut more = false;
        // A blocked client's further commands wait until it is served or times out.
        while c.closing == Closing::No && c.blocked.is_none() {
            if budget == 0 || c.qpos - start_pos >= super::event_loop::INPUT_BUDGET {
                more = true;
                break;
            }
            let limits = ParseLimits {
                proto_max_bulk_len: self.cfg.int(P::ProtoMaxBulkLen),
                authenticated: c.authenticated,
            };
            match c.parser.parse(&qbuf, &mut c.qpos, limits) {
                Parsed::Incomplete => break,
                Parsed::Error(msg) => {
                    c.out.error(&msg);
                    self.collect_errors(c);
                    log::debug!(
                        "Protocol error ({msg}) from client id={} addr={}",
                        c.id,
                        c.addr
                    );
                    c.closing = Closing::AfterReply;
                    c.mark_output(self.stamp());
                    break;
                }
                Parsed::Command => {
                    let is_inline = c.parser.take_args(&mut ranges, &mut inline);
                    // Most commands have few arguments: slice them from a stack array and
                    // allocate only for long ones.
                    let mut small: [&[u8]; 8] = [&[]; 8];
                    let heap: Vec<&[u8]>;
                    let n = if is_inline {
                        inline.len()
                    } else {
                        ranges.len()
                    };
                    let args: &[&[u8]] = if n <= small.len() {
                        for i in 0..n {
                            small[i] = if is_inline {
                                &inline[i]
                            } else {
                                &qbuf[ranges[i].clone()]
                            };
                        }
                        &small[..n]
                    } else {
                        heap = if is_inline {
                            inline.iter().map(|a| a.as_slice()).collect()
                        } else {
                            ranges.iter().map(|r| &qbuf[r.clone()]).collect()
                        };
                        &heap
                    };
                    if !args.is_empty() {
                        budget -= 1;
                        self.execute(c, args);
                    }
                }
            }
        }
        c.qbuf_in_use = 0;
        c.qbuf = qbuf;
        c.compact_query();
        more
    }

    /// Whether CLIENT PAUSE holds this command (checked after every other check, as Redis's
    /// processCommand): ALL holds everything, WRITE what may write or replicate, EXEC included
    /// when its queue does.
    fn pause_holds(&self, c: &Client, def: &CommandDef, args: &[&[u8]]) -> bool {
        let may_replicate = flags::WRITE | flags::MAY_REPLICATE;
        match self.pause {
            PauseKind::None => false,
            _ if !self.clients_paused() => false,
            PauseKind::All => true,
            PauseKind::Write => {
                self.command_flags(def, args.get(1).copied()) & may_replicate != 0
                    || (def.name == "exec"
                        && def.parent.is_none()
                        && self.queued_with(c, may_replicate))
            }
        }
    }

    fn reject(&mut self, c: &mut Client, def: Option<&'static CommandDef>, msg: &str) {
        // A rejected EXEC ends the transaction (Redis's execCommandAbort).
        if def.is_some_and(|d| d.name == "exec" && d.parent.is_none()) && c.multi.take().is_some() {
            self.unwatch_all(c.id);
            let why = msg.strip_prefix('-').unwrap_or(msg);
            c.out.error(&format!(
                "-EXECABORT Transaction discarded because of: {why}"
            ));
        } else {
            c.out.error(msg);
        }
        self.collect_errors(c);
        if let Some(d) = def {
            self.stats.command(d).rejected_calls += 1;
        }
    }

    /// Move the error codes the client's replies carried into errorstats.
    pub fn collect_errors(&mut self, c: &mut Client) {
        for code in c.out.errors.drain(..) {
            self.stats.count_error(&code);
        }
    }

    /// Execute one command for `c` (DESIGN §3 step 3).
    pub fn execute(&mut self, c: &mut Client, args: &[&[u8]]) {
        let now = super::now_ms();
        c.last_interaction_ms = now;
        self.cmd_time_ms = now;
        if c.reply_mode == ReplyMode::SkipNext {
            c.reply_mode = ReplyMode::Skip;
        }
        let out_before = c.out.buf.len();
        // Frames written to this client by other clients' commands were sent or are kept.
        c.out.push_frames.clear();
        self.running_client = Some(c.id);
        self.self_out.resp = c.out.resp;
        self.dispatch(c, args);
        self.running_client = None;
        if matches!(c.reply_mode, ReplyMode::Off | ReplyMode::Skip) {
            let pushes: Vec<u8> = c
                .out
                .push_frames
                .iter()
                .filter(|&&(s, e)| s >= out_before && e <= c.out.buf.len())
                .flat_map(|&(s, e)| c.out.buf[s..e].to_vec())
                .collect();
            c.out.buf.truncate(out_before);
            c.out.buf.extend_from_slice(&pushes);
            if c.reply_mode == ReplyMode::Skip {
                c.reply_mode = ReplyMode::On;
            }
        }
        c.out.push_frames.clear();
        if !self.self_out.buf.is_empty() {
            // Messages this command published to its own client go before its reply.
            let msgs = std::mem::take(&mut self.self_out.buf);
            c.out.buf.splice(out_before..out_before, msgs);
        }
        c.mark_output(self.stamp());
        self.check_output_limits(c);
        // Clients blocked on keys are served after the slow script, not in its middle.
        if self.scripting.run.is_none() {
            self.handle_ready_keys();
        }
        self.settle_deliveries();
    }

    fn dispatch(&mut self, c: &mut Client, args: &[&[u8]]) {
        let def = match self.cmds.lookup_with_sub(args) {
            Ok(d) => d,
            Err(msg) => {
                self.flag_transaction(c);
                self.reject(c, None, &msg);
                return;
            }
        };
        if !def.arity_ok(args.len()) {
            let msg = format!(
                "wrong number of arguments for '{}' command",
                def.full_name()
            );
            self.flag_transaction(c);
            self.reject(c, Some(def), &msg);
            return;
        }
        if def.flags & flags::PROTECTED != 0 && !self.debug_allowed(c) {
            self.flag_transaction(c);
            self.reject(
                c,
                Some(def),
                "DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.",
            );
            return;
        }
        if !c.authenticated && def.flags & flags::NO_AUTH == 0 {
            self.flag_transaction(c);
            self.reject(c, Some(def), "-NOAUTH Authentication required.");
            return;
        }
        if c.multi.is_some() && def.flags & flags::NO_MULTI != 0 {
            self.flag_transaction(c);
            self.reject(c, Some(def), "Command not allowed inside a transaction");
            return;
        }
        if c.out.resp == 2 && c.in_pubsub() && !SUBSCRIBED_OK.contains(&def.name) {
            let msg = format!(
                "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                def.full_name()
            );
            self.flag_transaction(c);
            self.reject(c, Some(def), &msg);
            return;
        }
        if self.loading && def.flags & flags::LOADING == 0 {
            self.reject(
                c,
                Some(def),
                "-LOADING Redis is loading the dataset in memory",
            );
            return;
        }
        self.oom_at_command_start = false;
        if self.cfg.int(P::Maxmemory) > 0 && !self.in_exec && self.scripting.run.is_none() {
            let out_of_memory = !self.perform_evictions();
            self.oom_at_command_start = out_of_memory;
            let queued_denyoom = def.name == "exec" && self.queued_with(c, flags::DENYOOM);
            let reject = self.command_flags(def, args.get(1).copied()) & flags::DENYOOM != 0
                || queued_denyoom
                || (c.multi.is_some()
                    && !matches!(def.name, "exec" | "discard" | "quit" | "reset"));
            if out_of_memory && reject {
                self.flag_transaction(c);
                self.reject(
                    c,
                    Some(def),
                    "-OOM command not allowed when used memory > 'maxmemory'.",
                );
                return;
            }
        }
        if self.writes_denied_by_disk_error() {
            let queued_write = def.name == "exec" && self.queued_with(c, flags::WRITE);
            let write = self.command_flags(def, args.get(1).copied()) & flags::WRITE != 0;
            if write || queued_write || def.name == "ping" {
                self.flag_transaction(c);
                self.reject(c, Some(def), MISCONF);
                return;
            }
        }
        if def.flags & flags::ALLOW_BUSY == 0
            && let Some(busy) = self.busy_error()
        {
            self.flag_transaction(c);
            self.reject(c, Some(def), busy);
            return;
        }
        if self.pause_holds(c, def, args) {
            self.postpone_client(c, def, args);
            return;
        }
        if let Some(m) = c.multi.as_mut()
            && !matches!(
                def.name,
                "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
            )
        {
            m.cmds
                .push((def, args.iter().map(|a| a.to_vec()).collect()));
            c.out.simple("QUEUED");
            return;
        }
        self.call(c, def, args);
    }

    /// An error while queueing a transaction makes its EXEC fail (flagTransaction).
    fn flag_transaction(&mut self, c: &mut Client) {
        if let Some(m) = c.multi.as_mut() {
            m.aborted = true;
        }
    }

    /// Run a command that passed the checks: the handler, stats, key touching, propagation.
    pub fn call(&mut self, c: &mut Client, def: &'static CommandDef, args: &[&[u8]]) {
        c.last_cmd = Some(def);
        c.argv_mem = args.iter().map(|a| a.len()).sum();
        // Errors counted from here on are this command's, unless a command it runs (a script's)
        // claims them first (Redis's prev_err_count).
        self.errors_accounted = self.stats.total_error_replies;
        let dirty_before = self.dirty;
        let start = Instant::now();
        self.running_write = def.flags & flags::WRITE != 0;
        (def.handler)(self, c, args);
        let usec = start.elapsed().as_micros() as u64;
        self.last_call_usec = usec;
        // A command that blocked is logged when it is served (blocking.rs), not when it blocks
        // nor when a re-run finds nothing yet.
        if c.blocked.is_none() && !self.serving_blocked {
            self.slow_log(c, def, args, usec);
        }
        // MONITOR sees a command once it ran (so EXEC follows the commands it ran), as the
        // client sent it, and not again when a blocked client is served.
        if !self.serving_blocked {
            self.feed_monitors(c, def, args);
        }
        self.collect_errors(c);
        let failed = self.stats.total_error_replies > self.errors_accounted
            || std::mem::take(&mut c.out.failed_uncounted);
        self.errors_accounted = self.stats.total_error_replies;
        if self.serving_blocked {
            // Counted when it blocked; serving it adds its time and failure only, once it
            // replies (blocking.rs, as Redis's updateStatsOnUnblock).
            self.last_call_failed = failed;
        } else {
            let st = self.stats.command(def);
            st.calls += 1;
            st.usec += usec;
            if failed {
                st.failed_calls += 1;
            }
            self.stats.total_commands += 1;
        }
        let changed = self.dirty > dirty_before || std::mem::take(&mut c.force_propagation);
        // WATCH: every key the command names is touched when it changed data (Redis's
        // signalModifiedKey calls, made here once from the key specs).
        let signalled = std::mem::take(&mut self.touches_signalled);
        if changed && !self.watches.is_empty() && def.flags & flags::WRITE != 0 && !signalled {
            for (i, _) in crate::cmd::command_cmd::keys_with_flags(def, args) {
                self.touch_watched(c.db, args[i]);
            }
        }
        // Propagate: the command's own argv when it changed data and recorded nothing itself.
        if changed && def.flags & flags::WRITE != 0 && !c.suppress_propagation {
            if let Some(rewritten) = c.rewritten_argv.take() {
                let refs: Vec<&[u8]> = rewritten.iter().map(|a| a.as_slice()).collect();
                self.prop.also_propagate(c.db, &refs);
            } else {
                self.prop.also_propagate(c.db, args);
            }
        }
        c.suppress_propagation = false;
        c.rewritten_argv = None;
        if !self.in_exec {
            let wrap = def.flags & flags::TOUCHES_ARBITRARY_KEYS == 0;
            self.prop.flush_command(wrap);
        }
    }

    /// Slow-log a command that took `usec` (unless it is flagged to skip the log). A blocked
    /// command is logged once served, by its serving re-run's caller.
    pub fn slow_log(&mut self, c: &Client, def: &CommandDef, args: &[&[u8]], usec: u64) {
        if def.flags & flags::SKIP_SLOWLOG != 0 {
            return;
        }
        let args = redacted(def, args);
        self.slowlog.push_if_slow(
            self.cfg.int(P::SlowlogLogSlowerThan),
            self.cfg.int(P::SlowlogMaxLen) as usize,
            usec,
            &args,
            &c.addr,
            c.name.as_deref(),
            self.cmd_time_ms / 1000,
        );
    }

    fn debug_allowed(&self, c: &Client) -> bool {
        match self.cfg.enum_name(P::EnableDebugCommand) {
            "yes" => true,
            "local" => c.addr.starts_with("127.") || c.addr.starts_with("::1"),
            _ => false,
        }
    }

    /// Send a command that skips MONITOR's usual feed (EVAL) to MONITOR clients now, before
    /// the commands it runs.
    pub fn feed_monitors_now(&mut self, c: &Client, args: &[&[u8]]) {
        self.write_monitor_line(c, args);
    }

    /// Send the command to MONITOR clients, formatted as Redis does.
    fn feed_monitors(&mut self, c: &Client, def: &CommandDef, args: &[&[u8]]) {
        if def.flags & (flags::ADMIN | flags::SKIP_MONITOR) != 0 {
            return;
        }
        let args = redacted(def, args);
        self.write_monitor_line(c, &args);
    }

    fn write_monitor_line(&mut self, c: &Client, args: &[&[u8]]) {
        if self.monitors.is_empty() {
            return;
        }
        let now = super::now_us();
        let mut line = format!(
            "+{}.{:06} [{} {}]",
            now / 1_000_000,
            now % 1_000_000,
            c.db,
            c.addr
        );
        for a in args {
            line.push(' ');
            line.push_str(&cmd::repr_bytes(a));
        }
        line.push_str("\r\n");
        let stamp = self.stamp();
        for id in self.monitors.clone() {
            if id == c.id {
                continue;
            }
            if let Some(m) = self.client_by_id_mut(id) {
                m.out.raw(line.as_bytes());
                m.mark_output(stamp);
                let slot = m.slot;
                self.pending_send.push(slot);
            }
        }
    }

    /// Release pub/sub messages delivered to other clients since the last call: stamp them
    /// with the offset reached now (called after the effects that produced them were
    /// propagated, so a message never leaves before its cause is durable), queue their send,
    /// enforce their output limits.
    pub fn settle_deliveries(&mut self) {
        if self.delivered.is_empty() {
            return;
        }
        let stamp = self.stamp();
        for id in std::mem::take(&mut self.delivered) {
            let Some(&slot) = self.client_ids.get(&id) else {
                continue;
            };
            let Some(mut c) = self.clients[slot as usize].take() else {
                continue;
            };
            c.mark_output(stamp);
            self.pending_send.push(slot);
            self.check_output_limits(&mut c);
            let close = c.closing == Closing::Now;
            self.clients[slot as usize] = Some(c);
            if close {
                self.close_client_slot(slot);
            }
        }
    }

    /// Enforce client-output-buffer-limit for the client's class: pubsub for subscribers,
    /// normal otherwise.
    pub fn check_output_limits(&mut self, c: &mut Client) {
        let class = if c.in_pubsub() { 2 } else { 0 };
        let (hard, soft, secs) = self.cfg.obuf()[class];
        if hard == 0 && soft == 0 {
            return;
        }
        let used = c.output_bytes() as i64;
        let now = super::now_ms();
        let mut over = hard > 0 && used >= hard;
        if soft > 0 && used >= soft {
            match c.obuf_soft_since {
                None => c.obuf_soft_since = Some(now),
                Some(t) if now - t >= secs * 1000 => over = true,
                _ => {}
            }
        } else {
            c.obuf_soft_since = None;
        }
        if over && c.closing != Closing::Now {
            log::warn!(
                "Client id={} addr={} scheduled to be closed ASAP for overcoming of output buffer limits.",
                c.id,
                c.addr
            );
            self.stats.client_outbuf_limit_disconnections += 1;
            c.closing = Closing::Now;
            c.out.buf.clear();
            c.marks.clear();
        }
    }
}

/// The arguments as MONITOR and SLOWLOG show them: passwords replaced by "(redacted)" (AUTH's,
/// HELLO's AUTH pair, MIGRATE's AUTH and AUTH2), as Redis's redactClientCommandArgument.
fn redacted<'a, 'b>(def: &CommandDef, args: &'b [&'a [u8]]) -> std::borrow::Cow<'b, [&'a [u8]]> {
    const REDACTED: &[u8] = b"(redacted)";
    if !matches!(def.name, "auth" | "hello" | "migrate") {
        return std::borrow::Cow::Borrowed(args);
    }
    let mut out = args.to_vec();
    let hide = |i: usize, out: &mut Vec<&'a [u8]>| {
        if let Some(a) = out.get_mut(i) {
            *a = REDACTED;
        }
    };
    match def.name {
        "auth" => (1..args.len()).for_each(|i| hide(i, &mut out)),
        "hello" => {
            if let Some(j) = args.iter().position(|a| cmd::eq_ic(a, "auth")) {
                hide(j + 1, &mut out);
                hide(j + 2, &mut out);
            }
        }
        "migrate" => {
            let mut j = 6;
            while j < args.len() {
                if cmd::eq_ic(args[j], "auth") {
                    hide(j + 1, &mut out);
                    j += 1;
                } else if cmd::eq_ic(args[j], "auth2") {
                    hide(j + 1, &mut out);
                    hide(j + 2, &mut out);
                    j += 2;
                } else if cmd::eq_ic(args[j], "keys") {
                    break;
                }
                j += 1;
            }
        }
        _ => {}
    }
    std::borrow::Cow::Owned(out)
}
