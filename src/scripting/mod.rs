//! Lua scripting: EVAL/EVALSHA and the script cache, as Redis 7.0 runs them.
//!
//! One Lua 5.1 state serves every client (scripts run one at a time on the main thread). The
//! state is built by `ScriptEngine::new` (standard libraries, the `redis` API, the sandbox of
//! `sandbox.lua`) and replaced whole by SCRIPT FLUSH.
//!
//! - `api.rs`: the `redis.*` functions and the link from a running script back to the server.
//! - `convert.rs`: command replies to Lua values and back.
//! - `run.rs`: running a script (checks, effects, the busy-script mode) and its commands.

pub mod api;
pub mod convert;
pub mod run;

use crate::net::client::Client;
use mlua::{Function, Lua, LuaOptions, StdLib, Table};
use std::collections::HashMap;
use std::time::Instant;

/// Flags a script declares in its `#!lua flags=...` line (Redis's SCRIPT_FLAG_*).
pub mod script_flags {
    /// No shebang: the script runs with EVAL's own command flags (Redis's EVAL_COMPAT_MODE).
    pub const COMPAT: u32 = 1 << 0;
    pub const NO_WRITES: u32 = 1 << 1;
    pub const ALLOW_OOM: u32 = 1 << 2;
    pub const ALLOW_STALE: u32 = 1 << 3;
    pub const NO_CLUSTER: u32 = 1 << 4;
    pub const ALLOW_CROSS_SLOT: u32 = 1 << 5;

    pub const NAMES: &[(u32, &str)] = &[
        (NO_WRITES, "no-writes"),
        (ALLOW_OOM, "allow-oom"),
        (ALLOW_STALE, "allow-stale"),
        (NO_CLUSTER, "no-cluster"),
        (ALLOW_CROSS_SLOT, "allow-cross-slot-keys"),
    ];
}

/// Where script effects go (redis.set_repl), as Redis's PROPAGATE_* bits.
pub const REPL_AOF: i64 = 1;
pub const REPL_REPLICA: i64 = 2;

/// A cached script: its body (SCRIPT LOAD / EVAL text), declared flags, compiled function.
pub struct Script {
    pub body: Vec<u8>,
    pub flags: u32,
    pub func: Function,
}

/// The script being run.
pub struct RunState {
    pub started: Instant,
    /// The script's SHA1 (EVAL) or function name (FCALL): what errors and logs name.
    pub name: String,
    pub eval_mode: bool,
    /// EVAL_RO/EVALSHA_RO, or a script declaring no-writes.
    pub read_only: bool,
    pub allow_oom: bool,
    /// Used memory was over maxmemory when the script started.
    pub oom_at_start: bool,
    /// A write command ran (the script can no longer be killed).
    pub write_dirty: bool,
    /// Past busy-reply-threshold: other clients are served (BUSY) while it runs.
    pub timed_out: bool,
    pub killed: bool,
    /// redis.set_repl's choice (REPL_AOF | REPL_REPLICA bits).
    pub repl: i64,
    /// The calling client's slot: its input waits until the script ends.
    pub caller_slot: u32,
}

pub struct ScriptEngine {
    pub lua: Lua,
    /// The protected environment scripts run in (see sandbox.lua).
    env: Table,
    /// sandbox.lua's runner: xpcall of a script function under `handler`.
    runner: Function,
    handler: Function,
    /// SHA1 (lower-case hex) → script.
    pub scripts: HashMap<String, Script>,
    /// Bytes of the cached script bodies and their names (used_memory_scripts_eval).
    pub scripts_bytes: usize,
    pub run: Option<RunState>,
    /// The client scripts run commands through (taken out while a command runs).
    pub client: Option<Box<Client>>,
    /// Scripts run since the last incremental GC step.
    runs_since_gc: u32,
}

/// Runs script functions under the error handler (see `ScriptEngine::invoker`).
pub struct Invoker {
    runner: Function,
    handler: Function,
}

impl Invoker {
    /// `func(args...)` under the handler: (true, result) or (false, error table).
    pub fn call(&self, func: &Function, args: mlua::MultiValue) -> mlua::Result<mlua::MultiValue> {
        let mut all = mlua::MultiValue::new();
        all.push_back(mlua::Value::Function(func.clone()));
        all.push_back(mlua::Value::Function(self.handler.clone()));
        all.extend(args);
        self.runner.call(all)
    }
}

/// SHA1 of `data` as 40 lower-case hex digits (script names, redis.sha1hex).
pub fn sha1hex(data: &[u8]) -> String {
    sha1_smol::Sha1::from(data).digest().to_string()
}

/// Redis's `evalExtractShebangFlags`: the flags of a `#!lua` first line (COMPAT without one) and
/// the length of that line, which is not compiled (its newline is, keeping line numbers).
pub fn shebang_flags(body: &[u8]) -> Result<(u32, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((script_flags::COMPAT, 0));
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err("Invalid script shebang".into());
    };
    let parts: Vec<String> = match crate::resp::split_args(&body[..end]) {
        Some(p) if !p.is_empty() => p
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
        _ => return Err("Invalid engine in script shebang".into()),
    };
    if parts[0] != "#!lua" {
        return Err(format!("Unexpected engine in script shebang: {}", parts[0]));
    }
    let mut flags = 0;
    for p in &parts[1..] {
        let Some(list) = p.strip_prefix("flags=") else {
            return Err(format!("Unknown lua shebang option: {p}"));
        };
        for f in list.split(',') {
            match script_flags::NAMES.iter().find(|(_, n)| *n == f) {
                Some((bit, _)) => flags |= bit,
                None => return Err(format!("Unexpected flag in script shebang: {f}")),
            }
        }
    }
    Ok((flags, end))
}

impl ScriptEngine {
    pub fn new() -> mlua::Result<ScriptEngine> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::default(),
        )?;
        let redis = api::redis_table(&lua)?;
        let (random, randomseed) = api::random_functions(&lua)?;
        let caught_error = lua.create_function(api::caught_error)?;
        let (env, runner): (Table, Function) = lua
            .load(include_str!("sandbox.lua"))
            .set_name("=forkv")
            .call((redis, caught_error, random, randomseed))?;
        let handler = lua.create_function(api::error_handler)?;
        Ok(ScriptEngine {
            lua,
            env,
            runner,
            handler,
            scripts: HashMap::new(),
            scripts_bytes: 0,
            run: None,
            client: Some(Box::new(Client::new_script())),
            runs_since_gc: 0,
        })
    }

    /// Compile `body` and cache it under its SHA1 (a cached body is not compiled again).
    /// Errors are the reply text Redis gives.
    pub fn create(&mut self, body: &[u8]) -> Result<String, String> {
        let sha = sha1hex(body);
        if self.scripts.contains_key(&sha) {
            return Ok(sha);
        }
        let (flags, shebang_len) = shebang_flags(body)?;
        let func = self
            .lua
            .load(&body[shebang_len..])
            .set_name("@user_script")
            .set_environment(self.env.clone())
            .into_function()
            .map_err(|e| {
                format!(
                    "Error compiling script (new function): {}",
                    api::error_text(&e)
                )
            })?;
        self.scripts_bytes += body.len() + sha.len();
        self.scripts.insert(
            sha.clone(),
            Script {
                body: body.to_vec(),
                flags,
                func,
            },
        );
        Ok(sha)
    }

    /// Bytes the Lua state holds (used_memory_lua).
    pub fn lua_memory(&self) -> usize {
        self.lua.used_memory()
    }

    /// What running a script needs, held apart from the engine (which belongs to the server
    /// the script's callbacks use meanwhile).
    pub fn invoker(&self) -> Invoker {
        Invoker {
            runner: self.runner.clone(),
            handler: self.handler.clone(),
        }
    }

    /// Redis calls Lua's GC for a few steps every 50 scripts instead of letting a full cycle
    /// land on one of them.
    pub fn gc_tick(&mut self) {
        self.runs_since_gc += 1;
        if self.runs_since_gc >= 50 {
            self.runs_since_gc = 0;
            for _ in 0..50 {
                if self.lua.gc_step().unwrap_or(true) {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_matches_redis() {
        assert_eq!(sha1hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            sha1hex(b"Pizza & Mandolino"),
            "74822d82031af7493c20eefa13bd07ec4fada82f"
        );
    }

    #[test]
    fn shebang() {
        assert_eq!(shebang_flags(b"return 1"), Ok((script_flags::COMPAT, 0)));
        assert_eq!(
            shebang_flags(b"#!lua flags=no-writes,allow-oom\nreturn 1"),
            Ok((script_flags::NO_WRITES | script_flags::ALLOW_OOM, 31))
        );
        assert_eq!(shebang_flags(b"#!lua\nreturn 1"), Ok((0, 5)));
        assert_eq!(
            shebang_flags(b"#!lua"),
            Err("Invalid script shebang".to_string())
        );
        assert_eq!(
            shebang_flags(b"#!python\n"),
            Err("Unexpected engine in script shebang: #!python".to_string())
        );
        assert_eq!(
            shebang_flags(b"#!lua flags=bad\n"),
            Err("Unexpected flag in script shebang: bad".to_string())
        );
        assert_eq!(
            shebang_flags(b"#!lua name=x\n"),
            Err("Unknown lua shebang option: name=x".to_string())
        );
    }
}
