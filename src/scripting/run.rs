//! Running a script: Redis 7.0's scriptPrepareForRun / luaCallFunction / scriptResetRun, the
//! checks every command a script calls goes through (scriptCall), and the slow-script mode.

use super::{RunState, api, convert, script_flags};
use crate::cmd::flags;
use crate::config::P;
use crate::net::client::Client;
use crate::server::Server;
use crate::server::exec::MISCONF;
use mlua::{HookTriggers, Value, VmState};
use std::time::Instant;

/// Instructions between two looks at the clock (Redis's count hook period).
const HOOK_PERIOD: u32 = 100_000;

pub const BUSY_EVAL: &str =
    "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
pub const BUSY_FUNCTION: &str =
    "-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

/// What runs: a cached EVAL script or a FUNCTION.
pub enum Target<'a> {
    Eval { sha: &'a str },
    Function { name: &'a str },
}

/// What the caller asked to run.
pub struct ScriptCall<'a> {
    pub target: Target<'a>,
    pub keys: &'a [&'a [u8]],
    pub args: &'a [&'a [u8]],
    /// EVAL_RO / EVALSHA_RO / FCALL_RO.
    pub read_only: bool,
    /// The whole command line.
    pub command: &'a [&'a [u8]],
}

impl Server {
    /// The BUSY error for commands refused while a timed-out script runs.
    pub fn busy_error(&self) -> Option<&'static str> {
        let run = self.scripting.run.as_ref()?;
        run.timed_out.then_some(if run.eval_mode {
            BUSY_EVAL
        } else {
            BUSY_FUNCTION
        })
    }

    /// Run a cached script or a function for client `c`, writing its reply to `c`.
    pub fn run_script(&mut self, c: &mut Client, call: ScriptCall) {
        let eng = &self.scripting;
        let (script_flags, func, vm, name, eval_mode) = match call.target {
            Target::Eval { sha } => {
                let Some(s) = eng.eval.scripts.get(sha) else {
                    return;
                };
                (s.flags, s.func.clone(), &eng.eval.vm, sha, true)
            }
            Target::Function { name } => {
                let Some(f) = eng.functions.function(name) else {
                    return;
                };
                (f.flags, f.func.clone(), &eng.functions.vm, name, false)
            }
        };
        let lua = vm.lua.clone();
        let invoker = vm.invoker();
        let name = name.to_string();
        if let Err(msg) = self.script_may_run(script_flags, call.read_only) {
            c.out.error(msg);
            return;
        }
        let compat = script_flags & script_flags::COMPAT != 0;
        self.scripting.run = Some(RunState {
            started: Instant::now(),
            name,
            eval_mode,
            read_only: call.read_only || (!compat && script_flags & script_flags::NO_WRITES != 0),
            allow_oom: !compat && script_flags & script_flags::ALLOW_OOM != 0,
            oom_at_start: self.oom_at_command_start,
            write_dirty: false,
            timed_out: false,
            killed: false,
            repl: super::REPL_AOF | super::REPL_REPLICA,
            caller_slot: c.slot,
            command: call.command.iter().map(|a| a.to_vec()).collect(),
        });
        if let Some(sc) = self.scripting.client.as_mut() {
            sc.db = c.db;
            sc.out.resp = 2;
            sc.out.buf.clear();
        }
        let result = (|| -> mlua::Result<mlua::MultiValue> {
            let keys = string_array(&lua, call.keys)?;
            let args = string_array(&lua, call.args)?;
            // EVAL scripts read KEYS and ARGV as globals; functions get them as arguments.
            let mut params = mlua::MultiValue::new();
            if eval_mode {
                let globals = lua.globals();
                globals.raw_set("KEYS", keys)?;
                globals.raw_set("ARGV", args)?;
            } else {
                params.push_back(Value::Table(keys));
                params.push_back(Value::Table(args));
            }
            if self.cfg.int(P::BusyReplyThreshold) > 0 {
                lua.set_hook(
                    HookTriggers::new().every_nth_instruction(HOOK_PERIOD),
                    slow_script_hook,
                )?;
            }
            // The script's commands leave as one unit (MULTI/EXEC around several), as a
            // transaction's do, and blocking commands do not block inside it.
            let in_exec = std::mem::replace(&mut self.in_exec, true);
            let r = {
                // From here until the guard drops only the script's callbacks reach the server.
                let _current = api::CurrentServer::enter(self as *mut Server);
                invoker.call(&func, params)
            };
            self.in_exec = in_exec;
            r
        })();
        lua.remove_hook();
        let resp = self.scripting.client.as_ref().map_or(2, |sc| sc.out.resp);
        let run = self.scripting.run.take();
        match result {
            Ok(values) => {
                let mut it = values.into_iter();
                let ok = matches!(it.next(), Some(Value::Boolean(true)));
                let v = it.next().unwrap_or(Value::Nil);
                if ok {
                    convert::lua_to_reply(&mut c.out, &v, resp);
                } else {
                    let name = run.as_ref().map_or("", |r| r.name.as_str());
                    let (msg, counted) = script_error_reply(&v, name);
                    if counted {
                        c.out.error_counted_elsewhere(&msg);
                    } else {
                        c.out.error(&msg);
                    }
                }
            }
            Err(e) => c.out.error(&format!(
                "Error running script {}, {:.100}",
                run.as_ref().map_or("", |r| r.name.as_str()),
                api::error_text(&e)
            )),
        }
        if run.is_some_and(|r| r.timed_out) {
            log::warn!("Slow script finished; serving clients again.");
        }
        if eval_mode {
            self.scripting.eval.vm.gc_tick();
        } else {
            self.scripting.functions.vm.gc_tick();
        }
        // The script's effects were propagated; EVAL itself is not (preventCommandPropagation).
        c.suppress_propagation = true;
    }

    /// scriptPrepareForRun's refusals for scripts that declared flags.
    fn script_may_run(&self, flags: u32, read_only: bool) -> Result<(), &'static str> {
        if flags & script_flags::COMPAT != 0 {
            return Ok(());
        }
        if flags & script_flags::NO_WRITES == 0 {
            if self.writes_denied_by_disk_error() {
                return Err(
                    "-MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Writable scripts are blocked. Use 'no-writes' flag for read only scripts.",
                );
            }
            if read_only {
                return Err("Can not execute a script with write flag using *_ro command.");
            }
        }
        if self.oom_at_command_start
            && self.cfg.int(P::Maxmemory) > 0
            && flags & (script_flags::ALLOW_OOM | script_flags::NO_WRITES) == 0
        {
            return Err(
                "-OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'",
            );
        }
        Ok(())
    }

    /// Run one command for the running script (scriptCall): its reply as RESP bytes, or the
    /// error that refused it.
    pub fn script_command(&mut self, args: &[&[u8]]) -> Result<Vec<u8>, String> {
        let def = match self.cmds.lookup_with_sub(args) {
            Ok(d) if d.arity_ok(args.len()) => d,
            Ok(d) => {
                self.stats.count_error("ERR");
                self.stats.command(d).rejected_calls += 1;
                self.errors_accounted = self.stats.total_error_replies;
                return Err("Wrong number of args calling Redis command from script".into());
            }
            Err(_) => {
                self.stats.count_error("ERR");
                self.errors_accounted = self.stats.total_error_replies;
                return Err("Unknown Redis command called from script".into());
            }
        };
        let refuse = |srv: &mut Server, msg: &str| -> Result<Vec<u8>, String> {
            let code = msg
                .strip_prefix('-')
                .and_then(|m| m.split(' ').next())
                .unwrap_or("ERR");
            srv.stats.count_error(code);
            srv.stats.command(def).rejected_calls += 1;
            srv.errors_accounted = srv.stats.total_error_replies;
            Err(msg.to_string())
        };
        if def.flags & flags::NOSCRIPT != 0 {
            return refuse(self, "This Redis command is not allowed from script");
        }
        let Some(run) = self.scripting.run.as_ref() else {
            return Err("redis.call/pcall can only be called inside a script invocation".into());
        };
        if run.read_only && def.flags & (flags::WRITE | flags::MAY_REPLICATE) != 0 {
            return refuse(
                self,
                "Write commands are not allowed from read-only scripts.",
            );
        }
        if def.flags & flags::WRITE != 0 && !run.write_dirty && self.writes_denied_by_disk_error() {
            return refuse(self, MISCONF);
        }
        if !run.allow_oom
            && self.cfg.int(P::Maxmemory) > 0
            && !run.write_dirty
            && run.oom_at_start
            && def.flags & flags::DENYOOM != 0
        {
            return refuse(
                self,
                "-OOM command not allowed when used memory > 'maxmemory'.",
            );
        }
        if def.flags & flags::WRITE != 0
            && let Some(run) = self.scripting.run.as_mut()
        {
            run.write_dirty = true;
        }
        let Some(mut sc) = self.scripting.client.take() else {
            return Err("redis.call/pcall can only be called inside a script invocation".into());
        };
        self.call(&mut sc, def, args);
        let reply = std::mem::take(&mut sc.out.buf);
        sc.out.push_frames.clear();
        self.scripting.client = Some(sc);
        Ok(reply)
    }

    pub fn script_set_resp(&mut self, resp: u8) {
        if let Some(sc) = self.scripting.client.as_mut() {
            sc.out.resp = resp;
        }
    }

    /// Called from the count hook (scriptInterrupt): past busy-reply-threshold the server
    /// starts serving other clients (BUSY for most commands) between slices of the script.
    /// Returns false once the script was killed.
    fn script_interrupt(&mut self) -> bool {
        let threshold = self.cfg.int(P::BusyReplyThreshold);
        let Some(run) = self.scripting.run.as_mut() else {
            return true;
        };
        if !run.timed_out {
            let elapsed = run.started.elapsed().as_millis() as i64;
            if elapsed < threshold {
                return true;
            }
            log::warn!(
                "Slow script detected: still in execution after {elapsed} milliseconds. You can try killing the script using the {} command. Script name is: {}.",
                if run.eval_mode {
                    "SCRIPT KILL"
                } else {
                    "FUNCTION KILL"
                },
                run.name
            );
            run.timed_out = true;
        }
        self.process_events_while_busy();
        !self.scripting.run.as_ref().is_some_and(|r| r.killed)
    }

    /// SCRIPT KILL / FUNCTION KILL (scriptKill).
    pub fn kill_script(&mut self, c: &mut Client, from_eval: bool) {
        let Some(run) = self.scripting.run.as_mut() else {
            c.out.error("-NOTBUSY No scripts in execution right now.");
            return;
        };
        if run.write_dirty {
            c.out.error("-UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.");
        } else if from_eval && !run.eval_mode {
            c.out.error(BUSY_FUNCTION);
        } else if !from_eval && run.eval_mode {
            c.out.error(BUSY_EVAL);
        } else {
            run.killed = true;
            c.out.ok();
        }
    }
}

/// The count hook: look at the clock, serve clients once the script is slow, stop a killed
/// script.
fn slow_script_hook(lua: &mlua::Lua, d: &mlua::debug::Debug) -> mlua::Result<VmState> {
    let go_on = api::with_server(|srv| srv.script_interrupt()).unwrap_or(true);
    if go_on {
        return Ok(VmState::Continue);
    }
    log::warn!("Lua script killed by user with SCRIPT KILL.");
    // From now on every instruction of script code raises the kill again, so a pcall in the
    // script cannot swallow it.
    lua.set_hook(HookTriggers::new().every_nth_instruction(1), killed_hook)?;
    killed_hook(lua, d)
}

/// Raise the kill error, except inside the sandbox's own code (its runner must be able to
/// hand the error back to the server); the next script instruction raises it.
fn killed_hook(lua: &mlua::Lua, d: &mlua::debug::Debug) -> mlua::Result<VmState> {
    if d.source().source.as_deref() == Some("=forkv") {
        return Ok(VmState::Continue);
    }
    Err(api::raise_error(
        lua,
        "Script killed by user with SCRIPT KILL...",
    ))
}

fn string_array(lua: &mlua::Lua, items: &[&[u8]]) -> mlua::Result<mlua::Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, a) in items.iter().enumerate() {
        t.raw_set(i + 1, lua.create_string(a)?)?;
    }
    Ok(t)
}

/// The reply for a script that raised `err` (the handler's table): the message, then where;
/// and whether errorstats already counted the error.
fn script_error_reply(err: &Value, name: &str) -> (String, bool) {
    let Value::Table(t) = err else {
        return (
            format!("Error running script {name}, execution failure"),
            false,
        );
    };
    let field = |k: &str| -> Option<String> {
        match t.raw_get::<Value>(k).ok()? {
            Value::String(s) => Some(s.to_string_lossy()),
            Value::Integer(i) => Some(i.to_string()),
            Value::Number(n) => Some(crate::resp::fmt_double(n, 14)),
            _ => None,
        }
    };
    let msg = field("err").unwrap_or_default();
    let mut out = format!("-{msg}");
    if let (Some(source), Some(line)) = (field("source"), field("line")) {
        out.push_str(&format!(" script: {name}, on {source}:{line}."));
    }
    let counted = matches!(
        t.raw_get::<Value>("ignore_error_stats_update"),
        Ok(Value::Boolean(true))
    );
    (out, counted)
}
