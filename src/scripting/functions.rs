//! FUNCTION libraries: Lua code loaded once (FUNCTION LOAD) that registers named functions
//! FCALL runs. They live in their own Lua state, survive SCRIPT FLUSH, and are saved in RDB
//! files and FUNCTION DUMP payloads as Redis 7.0's RDB_OPCODE_FUNCTION2 records.

use super::{LuaVm, api, script_flags};
use mlua::{Function, HookTriggers, Lua, Table, Value, Variadic, VmState};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// How long FUNCTION LOAD may run a library's top-level code (Redis's LOAD_TIMEOUT_MS).
pub const LOAD_TIMEOUT: Duration = Duration::from_millis(500);

const BAD_NAME: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

pub struct FunctionDef {
    pub name: String,
    pub desc: Option<Vec<u8>>,
    pub flags: u32,
    pub func: Function,
    pub library: String,
}

pub struct Library {
    pub name: String,
    /// The code as loaded, shebang line included.
    pub code: Vec<u8>,
    pub functions: BTreeMap<String, FunctionDef>,
}

/// The functions a library registers while it loads (app data of the Lua state).
#[derive(Default)]
struct PendingLibrary {
    functions: BTreeMap<String, FunctionDef>,
    library: String,
}

/// Where the load deadline lives while a library's code runs.
struct LoadDeadline(Option<Instant>);

pub struct Libraries {
    pub vm: LuaVm,
    pub libs: BTreeMap<String, Library>,
    /// Lower-case function name → (library name, function name): FCALL finds functions
    /// whatever their case, as Redis's function index does.
    pub by_function: HashMap<String, (String, String)>,
}

/// Library and function names: letters, digits and underscores, at least one.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The `#!<engine> name=<lib>` line: (engine, library name, length of the line).
fn library_metadata(code: &[u8]) -> Result<(String, String, usize), String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let Some(end) = code.iter().position(|&b| b == b'\n') else {
        return Err("Invalid library metadata".into());
    };
    let parts = match crate::resp::split_args(&code[..end]) {
        Some(p) if !p.is_empty() => p,
        _ => return Err("Invalid library metadata".into()),
    };
    let engine = String::from_utf8_lossy(&parts[0][2..]).into_owned();
    let mut name = None;
    for p in &parts[1..] {
        if p.len() >= 5 && p[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(
                    "Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(String::from_utf8_lossy(&p[5..]).into_owned());
            continue;
        }
        return Err(format!(
            "Invalid metadata value given: {}",
            String::from_utf8_lossy(p)
        ));
    }
    let Some(name) = name else {
        return Err("Library name was not given".into());
    };
    Ok((engine, name, end))
}

impl Libraries {
    pub fn new() -> mlua::Result<Libraries> {
        Ok(Libraries {
            vm: LuaVm::new()?,
            libs: BTreeMap::new(),
            by_function: HashMap::new(),
        })
    }

    pub fn function(&self, name: &str) -> Option<&FunctionDef> {
        let (lib, name) = self.by_function.get(&name.to_ascii_lowercase())?;
        self.libs.get(lib)?.functions.get(name)
    }

    pub fn function_count(&self) -> usize {
        self.by_function.len()
    }

    /// Bytes of library code and names kept (used_memory_functions).
    pub fn code_bytes(&self) -> usize {
        self.libs
            .values()
            .map(|l| {
                l.code.len() + l.name.len() + l.functions.keys().map(|k| k.len()).sum::<usize>()
            })
            .sum()
    }

    /// Run a library's code and collect the functions it registers (not yet linked).
    fn create(&self, code: &[u8], timeout: Option<Duration>) -> Result<Library, String> {
        let (engine, name, shebang_len) = library_metadata(code)?;
        if !valid_name(name.as_bytes()) {
            return Err(BAD_NAME.into());
        }
        if !engine.eq_ignore_ascii_case("lua") {
            return Err(format!("Engine '{engine}' not found"));
        }
        let chunk = self
            .vm
            .compile(&code[shebang_len..], "@user_function")
            .map_err(|e| format!("Error compiling function: {e}"))?;
        let lua = &self.vm.lua;
        lua.set_app_data(PendingLibrary {
            functions: BTreeMap::new(),
            library: name.clone(),
        });
        lua.set_app_data(LoadDeadline(timeout.map(|t| Instant::now() + t)));
        let run = (|| -> mlua::Result<mlua::MultiValue> {
            self.vm.set_loading(true)?;
            lua.set_hook(
                HookTriggers::new().every_nth_instruction(100_000),
                load_hook,
            )?;
            let r = self.vm.invoker().call(&chunk, mlua::MultiValue::new());
            lua.remove_hook();
            self.vm.set_loading(false)?;
            r
        })();
        lua.remove_app_data::<LoadDeadline>();
        let pending = lua.remove_app_data::<PendingLibrary>().unwrap_or_default();
        let values =
            run.map_err(|e| format!("Error registering functions: {}", api::error_text(&e)))?;
        let mut it = values.into_iter();
        if !matches!(it.next(), Some(Value::Boolean(true))) {
            // The error handler made every error a table with its text in `err`.
            let msg = match it.next() {
                Some(Value::Table(t)) => match t.raw_get::<Value>("err") {
                    Ok(Value::String(s)) => s.to_string_lossy(),
                    _ => String::new(),
                },
                _ => String::new(),
            };
            return Err(format!("Error registering functions: {msg}"));
        }
        if pending.functions.is_empty() {
            return Err("No functions registered".into());
        }
        Ok(Library {
            name,
            code: code.to_vec(),
            functions: pending.functions,
        })
    }

    /// FUNCTION LOAD: the library's name, or Redis's error text.
    pub fn load(
        &mut self,
        code: &[u8],
        replace: bool,
        timeout: Option<Duration>,
    ) -> Result<String, String> {
        // Name, engine and existence are checked before the code runs, as Redis does.
        let (engine, name, _) = library_metadata(code)?;
        if !valid_name(name.as_bytes()) {
            return Err(BAD_NAME.into());
        }
        if !engine.eq_ignore_ascii_case("lua") {
            return Err(format!("Engine '{engine}' not found"));
        }
        if self.libs.contains_key(&name) && !replace {
            return Err(format!("Library '{name}' already exists"));
        }
        let lib = self.create(code, timeout)?;
        self.link_all(vec![lib], replace)?;
        Ok(name)
    }

    /// Add libraries, replacing same-named ones when `replace`; nothing changes on error.
    fn link_all(&mut self, new: Vec<Library>, replace: bool) -> Result<(), String> {
        let mut displaced = Vec::new();
        for l in &new {
            if self.libs.contains_key(&l.name) {
                if !replace {
                    return Err(format!("Library {} already exists", l.name));
                }
                displaced.push(l.name.clone());
            }
        }
        for l in &new {
            for f in l.functions.keys() {
                if let Some((owner, _)) = self.by_function.get(&f.to_ascii_lowercase())
                    && !displaced.contains(owner)
                {
                    return Err(format!("Function {f} already exists"));
                }
            }
        }
        for name in displaced {
            self.delete(&name);
        }
        for l in new {
            for f in l.functions.keys() {
                self.by_function
                    .insert(f.to_ascii_lowercase(), (l.name.clone(), f.clone()));
            }
            self.libs.insert(l.name.clone(), l);
        }
        Ok(())
    }

    pub fn delete(&mut self, name: &str) -> bool {
        let Some(lib) = self.libs.remove(name) else {
            return false;
        };
        for f in lib.functions.keys() {
            self.by_function.remove(&f.to_ascii_lowercase());
        }
        true
    }

    pub fn flush(&mut self) {
        self.libs.clear();
        self.by_function.clear();
    }

    /// Every library as RDB records (FUNCTION DUMP's payload before version and checksum;
    /// the function section of an RDB file).
    pub fn rdb_records(&self, compress: bool) -> Vec<u8> {
        let mut w = crate::persist::rdb::RdbWriter::new(Vec::new(), false, compress);
        for l in self.libs.values() {
            // Writing into a Vec cannot fail.
            let _ = w.function_library(&l.code);
        }
        w.into_inner().unwrap_or_default()
    }

    /// Compile the libraries of `codes` and add them (`replace`: same-named ones go), all or
    /// nothing. `flush` empties the set first (FUNCTION RESTORE ... FLUSH).
    pub fn restore(&mut self, codes: &[Vec<u8>], replace: bool, flush: bool) -> Result<(), String> {
        let mut new = Vec::new();
        for code in codes {
            let lib = self.create(code, None)?;
            if new.iter().any(|l: &Library| l.name == lib.name) {
                return Err(format!("Library '{}' already exists", lib.name));
            }
            new.push(lib);
        }
        if flush {
            self.flush();
        }
        self.link_all(new, replace)
    }
}

/// FUNCTION LOAD's count hook: stop library code that runs past the load timeout.
fn load_hook(lua: &Lua, _: &mlua::debug::Debug) -> mlua::Result<VmState> {
    let late = lua
        .app_data_ref::<LoadDeadline>()
        .and_then(|d| d.0)
        .is_some_and(|t| Instant::now() > t);
    if late {
        return Err(api::raise_error(lua, "FUNCTION LOAD timeout"));
    }
    Ok(VmState::Continue)
}

/// redis.register_function(name, callback) or redis.register_function{function_name=...,
/// callback=..., flags={...}, description=...}, during FUNCTION LOAD only.
pub fn register_function(lua: &Lua, args: Variadic<Value>) -> mlua::Result<()> {
    if lua.app_data_ref::<PendingLibrary>().is_none() {
        return Err(api::raise_error(
            lua,
            "redis.register_function can only be called on FUNCTION LOAD command",
        ));
    }
    let (name, func, desc, flags) = match args.len() {
        1 => named_args(lua, &args[0])?,
        2 => {
            let name = match &args[0] {
                Value::String(s) => s.as_bytes().to_vec(),
                Value::Integer(i) => i.to_string().into_bytes(),
                Value::Number(n) => crate::resp::fmt_double(*n, 14).into_bytes(),
                _ => {
                    return Err(api::raise_error(
                        lua,
                        "first argument to redis.register_function must be a string",
                    ));
                }
            };
            let Value::Function(f) = &args[1] else {
                return Err(api::raise_error(
                    lua,
                    "second argument to redis.register_function must be a function",
                ));
            };
            (name, f.clone(), None, 0)
        }
        _ => {
            return Err(api::raise_error(
                lua,
                "wrong number of arguments to redis.register_function",
            ));
        }
    };
    if !valid_name(&name) {
        return Err(api::raise_error(lua, BAD_NAME));
    }
    let name = String::from_utf8_lossy(&name).into_owned();
    let Some(mut pending) = lua.app_data_mut::<PendingLibrary>() else {
        return Ok(());
    };
    if pending.functions.contains_key(&name) {
        drop(pending);
        return Err(api::raise_error(
            lua,
            "Function already exists in the library",
        ));
    }
    let library = pending.library.clone();
    pending.functions.insert(
        name.clone(),
        FunctionDef {
            name,
            desc,
            flags,
            func,
            library,
        },
    );
    Ok(())
}

type Registration = (Vec<u8>, Function, Option<Vec<u8>>, u32);

fn named_args(lua: &Lua, arg: &Value) -> mlua::Result<Registration> {
    let Value::Table(t) = arg else {
        return Err(api::raise_error(
            lua,
            "calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).",
        ));
    };
    let (mut name, mut func, mut desc, mut flags) = (None, None, None, 0);
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair?;
        let key = match &k {
            Value::String(s) => s.to_string_lossy(),
            Value::Integer(i) => i.to_string(),
            Value::Number(n) => crate::resp::fmt_double(*n, 14),
            _ => {
                return Err(api::raise_error(
                    lua,
                    "named argument key given to redis.register_function is not a string",
                ));
            }
        };
        match key.to_ascii_lowercase().as_str() {
            "function_name" => match v {
                Value::String(s) => name = Some(s.as_bytes().to_vec()),
                _ => {
                    return Err(api::raise_error(
                        lua,
                        "function_name argument given to redis.register_function must be a string",
                    ));
                }
            },
            "description" => match v {
                Value::String(s) => desc = Some(s.as_bytes().to_vec()),
                _ => {
                    return Err(api::raise_error(
                        lua,
                        "description argument given to redis.register_function must be a string",
                    ));
                }
            },
            "callback" => match v {
                Value::Function(f) => func = Some(f),
                _ => {
                    return Err(api::raise_error(
                        lua,
                        "callback argument given to redis.register_function must be a function",
                    ));
                }
            },
            "flags" => {
                let Value::Table(ft) = v else {
                    return Err(api::raise_error(
                        lua,
                        "flags argument to redis.register_function must be a table representing function flags",
                    ));
                };
                flags =
                    read_flags(&ft).ok_or_else(|| api::raise_error(lua, "unknown flag given"))?;
            }
            _ => {
                return Err(api::raise_error(
                    lua,
                    "unknown argument given to redis.register_function",
                ));
            }
        }
    }
    let Some(name) = name else {
        return Err(api::raise_error(
            lua,
            "redis.register_function must get a function name argument",
        ));
    };
    let Some(func) = func else {
        return Err(api::raise_error(
            lua,
            "redis.register_function must get a callback argument",
        ));
    };
    Ok((name, func, desc, flags))
}

/// The flags table of a named registration (case-insensitive names); None on an unknown one.
fn read_flags(t: &Table) -> Option<u32> {
    let mut flags = 0;
    for i in 1.. {
        match t.raw_get::<Value>(i).ok()? {
            Value::Nil => break,
            Value::String(s) => {
                let f = s.to_string_lossy();
                let (bit, _) = script_flags::NAMES
                    .iter()
                    .find(|(_, n)| n.eq_ignore_ascii_case(&f))?;
                flags |= bit;
            }
            _ => return None,
        }
    }
    Some(flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata() {
        assert_eq!(
            library_metadata(b"#!lua name=lib\ncode"),
            Ok(("lua".into(), "lib".into(), 14))
        );
        assert_eq!(
            library_metadata(b"return 1"),
            Err("Missing library metadata".into())
        );
        assert_eq!(
            library_metadata(b"#!lua name=a"),
            Err("Invalid library metadata".into())
        );
        assert_eq!(
            library_metadata(b"#!lua\n"),
            Err("Library name was not given".into())
        );
        assert_eq!(
            library_metadata(b"#!lua name=a name=b\n"),
            Err("Invalid metadata value, name argument was given multiple times".into())
        );
        assert_eq!(
            library_metadata(b"#!lua foo=bar\n"),
            Err("Invalid metadata value given: foo=bar".into())
        );
    }

    #[test]
    fn load_replace_delete_and_collisions() {
        let mut libs = Libraries::new().unwrap();
        let a = b"#!lua name=a\nredis.register_function('fa', function() return 1 end)";
        assert_eq!(libs.load(a, false, Some(LOAD_TIMEOUT)), Ok("a".into()));
        assert_eq!(
            libs.load(a, false, None),
            Err("Library 'a' already exists".into())
        );
        assert_eq!(libs.load(a, true, None), Ok("a".into()));
        let b = b"#!lua name=b\nredis.register_function('fa', function() return 2 end)";
        assert_eq!(
            libs.load(b, false, None),
            Err("Function fa already exists".into())
        );
        assert!(libs.function("fa").is_some_and(|f| f.library == "a"));
        assert_eq!(
            libs.load(b"#!lua name=c\nlocal x = 1", false, None),
            Err("No functions registered".into())
        );
        assert_eq!(
            libs.load(b"#!lua name=c\nstring.len('x')", false, None),
            Err("Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'string'".into())
        );
        assert!(libs.delete("a"));
        assert!(libs.function("fa").is_none());
        assert!(!libs.delete("a"));
    }

    #[test]
    fn endless_library_code_times_out() {
        let mut libs = Libraries::new().unwrap();
        let r = libs.load(
            b"#!lua name=x\nwhile true do end",
            false,
            Some(Duration::from_millis(10)),
        );
        assert_eq!(
            r,
            Err("Error registering functions: ERR FUNCTION LOAD timeout".into())
        );
    }
}
