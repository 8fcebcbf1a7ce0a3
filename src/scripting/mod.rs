//! Lua scripting: EVAL/EVALSHA with the script cache, and FUNCTION/FCALL, as Redis 7.0 runs them.
//!
//! A Lua 5.1 state serves every client (scripts run one at a time on the main thread); as in
//! Redis, EVAL scripts and FUNCTION libraries each have their own. A state is built by
//! `LuaVm::new` (standard libraries, the `redis` API, the sandbox of `sandbox.lua`); SCRIPT
//! FLUSH replaces EVAL's whole.
//!
//! - `api.rs`: the `redis.*` functions and the link from a running script back to the server.
//! - `bitlib.rs`, `cjson.rs`, `cmsgpack.rs`, `structlib.rs`: the `bit`, `cjson`, `cmsgpack`
//!   and `struct` libraries.
//! - `convert.rs`: command replies to Lua values and back.
//! - `functions.rs`: FUNCTION libraries (their own Lua state) and their RDB form.
//! - `run.rs`: running a script (checks, effects, the busy-script mode) and its commands.

pub mod api;
pub mod bitlib;
pub mod cjson;
pub mod cmsgpack;
pub mod convert;
pub mod functions;
pub mod run;
pub mod structlib;

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

/// The flags EVAL/FCALL run with when the script declares its own (scriptFlagsToCmdFlags):
/// write and deny-oom unless it says otherwise, never may-replicate.
pub fn script_to_command_flags(cmd_flags: u32, script: u32) -> u32 {
    use crate::cmd::flags;
    let mut f = cmd_flags & !(flags::STALE | flags::DENYOOM | flags::WRITE | flags::MAY_REPLICATE);
    if script & (script_flags::ALLOW_OOM | script_flags::NO_WRITES) == 0 {
        f |= flags::DENYOOM;
    }
    if script & script_flags::NO_WRITES == 0 {
        f |= flags::WRITE;
    }
    if script & script_flags::ALLOW_STALE != 0 {
        f |= flags::STALE;
    }
    f
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
    /// The command that runs the script (FUNCTION STATS shows it).
    pub command: Vec<Vec<u8>>,
}

/// One sandboxed Lua state. EVAL scripts get one and functions another, as in Redis, so
/// SCRIPT FLUSH and FUNCTION FLUSH do not touch each other.
pub struct LuaVm {
    pub lua: Lua,
    /// The protected environment code runs in (see sandbox.lua).
    env: Table,
    /// sandbox.lua's runner: xpcall of a function under `handler`.
    runner: Function,
    handler: Function,
    /// Switches what `redis` means in `env`: the library-loading API or the full one.
    set_loading: Function,
    /// Runs since the last incremental GC step.
    runs_since_gc: u32,
}

impl LuaVm {
    pub fn new() -> mlua::Result<LuaVm> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::default(),
        )?;
        lua.globals().raw_set("bit", bitlib::bit_table(&lua)?)?;
        lua.globals().raw_set("cjson", cjson::cjson_table(&lua)?)?;
        lua.globals()
            .raw_set("cmsgpack", cmsgpack::cmsgpack_table(&lua)?)?;
        lua.globals()
            .raw_set("struct", structlib::struct_table(&lua)?)?;
        let redis = api::redis_table(&lua)?;
        let load_redis = api::load_redis_table(&lua)?;
        let (random, randomseed) = api::random_functions(&lua)?;
        let caught_error = lua.create_function(api::caught_error)?;
        let (env, runner, set_loading): (Table, Function, Function) = lua
            .load(include_str!("sandbox.lua"))
            .set_name("=forkv")
            .call((redis, load_redis, caught_error, random, randomseed))?;
        let handler = lua.create_function(api::error_handler)?;
        Ok(LuaVm {
            lua,
            env,
            runner,
            handler,
            set_loading,
            runs_since_gc: 0,
        })
    }

    /// Compile `code` as chunk `name` in the protected environment; errors as Lua words them.
    pub fn compile(&self, code: &[u8], name: &str) -> Result<Function, String> {
        self.lua
            .load(code)
            .set_name(name)
            .set_environment(self.env.clone())
            .into_function()
            .map_err(|e| api::error_text(&e))
    }

    /// Make `redis` the library-loading API (FUNCTION LOAD) or the full API again.
    pub fn set_loading(&self, loading: bool) -> mlua::Result<()> {
        self.set_loading.call(loading)
    }

    /// What running code needs, held apart from the VM (which belongs to the server the
    /// script's callbacks use meanwhile).
    pub fn invoker(&self) -> Invoker {
        Invoker {
            runner: self.runner.clone(),
            handler: self.handler.clone(),
        }
    }

    /// Bytes the Lua state holds.
    pub fn memory(&self) -> usize {
        self.lua.used_memory()
    }

    /// Redis calls Lua's GC for a few steps every 50 runs instead of letting a full cycle
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

/// EVAL's Lua state and script cache (replaced whole by SCRIPT FLUSH).
pub struct EvalScripts {
    pub vm: LuaVm,
    /// SHA1 (lower-case hex) → script.
    pub scripts: HashMap<String, Script>,
    /// Bytes of the cached script bodies and their names (used_memory_scripts_eval).
    pub scripts_bytes: usize,
}

impl EvalScripts {
    pub fn new() -> mlua::Result<EvalScripts> {
        Ok(EvalScripts {
            vm: LuaVm::new()?,
            scripts: HashMap::new(),
            scripts_bytes: 0,
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
            .vm
            .compile(&body[shebang_len..], "@user_script")
            .map_err(|e| format!("Error compiling script (new function): {e}"))?;
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
}

pub struct ScriptEngine {
    pub eval: EvalScripts,
    pub functions: functions::Libraries,
    pub run: Option<RunState>,
    /// The client scripts run commands through (taken out while a command runs).
    pub client: Option<Box<Client>>,
}

impl ScriptEngine {
    pub fn new() -> mlua::Result<ScriptEngine> {
        Ok(ScriptEngine {
            eval: EvalScripts::new()?,
            functions: functions::Libraries::new()?,
            run: None,
            client: Some(Box::new(Client::new_script())),
        })
    }
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
/// The largest key and the number of keys of a table whose keys are all positive integers
/// (the array test of lua-cjson and lua-cmsgpack); None if any key is something else.
pub fn positive_int_keys(t: &Table) -> mlua::Result<Option<(usize, usize)>> {
    let mut max = 0usize;
    let mut count = 0usize;
    for pair in t.pairs::<mlua::Value, mlua::Value>() {
        let (k, _) = pair?;
        let idx = match k {
            mlua::Value::Integer(i) if i >= 1 => i as usize,
            mlua::Value::Number(n) if n >= 1.0 && n.fract() == 0.0 => n as usize,
            _ => return Ok(None),
        };
        max = max.max(idx);
        count += 1;
    }
    Ok(Some((max, count)))
}

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

/// Test helper for the libraries: run `code` in a plain Lua state with the library `make`
/// builds installed as `name`; the result as a string, or "error: <text>".
#[cfg(test)]
pub fn eval_with_lib(name: &str, make: fn(&Lua) -> mlua::Result<Table>, code: &str) -> String {
    let lua = Lua::new();
    lua.globals()
        .set(name, make(&lua).expect("library"))
        .expect("global");
    match lua.load(code).eval::<String>() {
        Ok(s) => s,
        Err(e) => format!("error: {}", api::error_text(&e)),
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
