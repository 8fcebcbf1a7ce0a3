//! Configuration: `redis.conf` syntax, command-line `--name value` overrides, and the table that
//! CONFIG GET/SET/REWRITE work from.
//!
//! Every parameter is one row of `PARAMS` (name, alias, kind, flags, default); values live in a
//! vector indexed by `P`, so the hot path reads a setting with one index and no hashing.
//! Names, defaults, bounds and error texts are Redis 7.0's.

pub mod params;
pub mod rewrite;

pub use params::{P, PARAMS, ParamDef, ParamKind};

use crate::resp::split_args;

/// A parsed parameter value.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Bool(bool),
    Int(i64),
    Str(String),
    Enum(usize),
    /// `bind`: addresses; a leading `-` marks an address that may fail to bind.
    List(Vec<String>),
    /// `client-output-buffer-limit` for normal, replica, pubsub: (hard, soft, soft seconds).
    Obuf([(i64, i64, i64); 3]),
}

#[derive(Clone, Debug)]
pub struct Config {
    vals: Vec<Val>,
    /// The config file given on the command line (absolute), for CONFIG REWRITE.
    pub file: Option<std::path::PathBuf>,
}

/// A memory amount as Redis's memtoull reads it: `1gb` = 2^30, `1g` = 10^9, plain bytes.
pub fn parse_memory(s: &str) -> Option<i64> {
    if s.starts_with('-') {
        return None;
    }
    let digits = s.bytes().take_while(|b| b.is_ascii_digit()).count();
    let (num, unit) = s.split_at(digits);
    let mul: i64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    let n: i64 = num.parse().ok()?;
    n.checked_mul(mul)
}

fn parse_yes_no(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

impl Default for Config {
    fn default() -> Self {
        let vals = PARAMS.iter().map(|p| p.default_val()).collect();
        Config { vals, file: None }
    }
}

impl Config {
    pub fn val(&self, p: P) -> &Val {
        &self.vals[p as usize]
    }
    pub fn int(&self, p: P) -> i64 {
        match &self.vals[p as usize] {
            Val::Int(v) => *v,
            Val::Enum(v) => *v as i64,
            Val::Bool(b) => *b as i64,
            other => panic!(
                "config {} is not numeric: {other:?}",
                PARAMS[p as usize].name
            ),
        }
    }
    pub fn bool(&self, p: P) -> bool {
        matches!(self.vals[p as usize], Val::Bool(true))
    }
    pub fn str(&self, p: P) -> &str {
        match &self.vals[p as usize] {
            Val::Str(s) => s,
            other => panic!(
                "config {} is not a string: {other:?}",
                PARAMS[p as usize].name
            ),
        }
    }
    pub fn enum_name(&self, p: P) -> &'static str {
        let def = &PARAMS[p as usize];
        match (&self.vals[p as usize], def.kind) {
            (Val::Enum(i), ParamKind::Enum(names)) => names[*i],
            _ => panic!("config {} is not an enum", def.name),
        }
    }
    pub fn list(&self, p: P) -> &[String] {
        match &self.vals[p as usize] {
            Val::List(v) => v,
            _ => &[],
        }
    }
    pub fn obuf(&self) -> [(i64, i64, i64); 3] {
        match &self.vals[P::ClientOutputBufferLimit as usize] {
            Val::Obuf(v) => *v,
            _ => [(0, 0, 0); 3],
        }
    }

    /// Set a raw value in place (used by start-up code that derives values, e.g. `dir`).
    pub fn set_val(&mut self, p: P, v: Val) {
        self.vals[p as usize] = v;
    }

    /// Parse `args` (already split) for parameter `p` and store the result. Errors are Redis's
    /// texts (without the CONFIG SET prefix).
    pub fn set(&mut self, p: P, args: &[String]) -> Result<(), String> {
        let v = PARAMS[p as usize].parse(args)?;
        self.vals[p as usize] = v;
        Ok(())
    }

    /// The value as CONFIG GET prints it.
    pub fn get_string(&self, p: P) -> String {
        PARAMS[p as usize].format(&self.vals[p as usize])
    }

    /// Load `redis.conf`-syntax text. `origin` names the file for error messages.
    pub fn load_text(&mut self, text: &str, origin: &str, depth: usize) -> Result<(), String> {
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fail = |err: &str| -> String {
                format!(
                    "\n*** FATAL CONFIG FILE ERROR (forkv) ***\nReading the configuration file {origin}, at line {}\n>>> '{}'\n{err}",
                    i + 1,
                    line
                )
            };
            let Some(args) = split_args(line.as_bytes()) else {
                return Err(fail("Unbalanced quotes in configuration line"));
            };
            if args.is_empty() {
                continue;
            }
            let args: Vec<String> = args
                .into_iter()
                .map(|a| String::from_utf8_lossy(&a).into_owned())
                .collect();
            let name = args[0].to_ascii_lowercase();
            if name == "include" {
                if args.len() != 2 {
                    return Err(fail("wrong number of arguments"));
                }
                if depth > 16 {
                    return Err(fail("include nesting too deep"));
                }
                let inc = std::fs::read_to_string(&args[1])
                    .map_err(|e| fail(&format!("Can't open include file '{}': {e}", args[1])))?;
                self.load_text(&inc, &args[1], depth + 1)?;
                continue;
            }
            let Some(p) = params::lookup(&name) else {
                return Err(fail("Bad directive or wrong number of arguments"));
            };
            if args.len() < 2 {
                return Err(fail("wrong number of arguments"));
            }
            let def = &PARAMS[p as usize];
            let vals: Vec<String> = if def.multi_arg() {
                args[1..].to_vec()
            } else if args.len() == 2 {
                vec![args[1].clone()]
            } else {
                return Err(fail("wrong number of arguments"));
            };
            self.set(p, &vals).map_err(|e| fail(&e))?;
        }
        Ok(())
    }

    /// Build the config from the command line, as redis-server reads it: an optional file, then
    /// `--name value...` options (appended as config lines).
    pub fn from_args(args: &[String]) -> Result<Config, String> {
        let mut cfg = Config::default();
        let mut i = 0;
        if let Some(first) = args.first()
            && !first.starts_with("--")
        {
            let path = std::path::Path::new(first);
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("Fatal error, can't open config file '{first}': {e}"))?;
            cfg.file = Some(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()));
            cfg.load_text(&text, first, 0)?;
            i = 1;
        }
        let mut extra = String::new();
        while i < args.len() {
            let a = &args[i];
            if let Some(name) = a.strip_prefix("--") {
                if !extra.is_empty() {
                    extra.push('\n');
                }
                extra.push_str(name);
            } else {
                extra.push(' ');
                extra.push_str(&quote_arg(a));
            }
            i += 1;
        }
        cfg.load_text(&extra, "(command line)", 0)?;
        Ok(cfg)
    }
}

/// Quote an argument so `split_args` gives it back unchanged.
pub fn quote_arg(a: &str) -> String {
    if !a.is_empty()
        && a.bytes()
            .all(|c| c.is_ascii_graphic() && c != b'"' && c != b'\'' && c != b'\\')
    {
        return a.to_string();
    }
    let mut s = String::from("\"");
    for c in a.bytes() {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            c if c.is_ascii_graphic() || c == b' ' => s.push(c as char),
            c => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push('"');
    s
}

/// Glob match as Redis's stringmatchlen (`*`, `?`, `[...]`, `\` escapes), optionally nocase.
pub fn glob_match(pattern: &[u8], s: &[u8], nocase: bool) -> bool {
    fn eq(a: u8, b: u8, nocase: bool) -> bool {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    }
    // `skip_longer`: once a `*` has tried every suffix and failed, an outer `*` trying longer
    // prefixes cannot succeed either (Redis's skipLongerMatches); this keeps patterns like
    // `a*a*a*a*b` linear instead of exponential.
    fn m(p: &[u8], s: &[u8], nocase: bool, depth: usize, skip_longer: &mut bool) -> bool {
        if depth > 1000 {
            return false; // pathological pattern: Redis also bounds this recursion
        }
        let (mut pi, mut si) = (0, 0);
        while pi < p.len() {
            match p[pi] {
                b'*' => {
                    while pi + 1 < p.len() && p[pi + 1] == b'*' {
                        pi += 1;
                    }
                    if pi + 1 == p.len() {
                        return true;
                    }
                    for k in si..=s.len() {
                        if m(&p[pi + 1..], &s[k..], nocase, depth + 1, skip_longer) {
                            return true;
                        }
                        if *skip_longer {
                            return false;
                        }
                    }
                    *skip_longer = true;
                    return false;
                }
                b'?' => {
                    if si >= s.len() {
                        return false;
                    }
                    si += 1;
                }
                b'[' => {
                    if si >= s.len() {
                        return false;
                    }
                    pi += 1;
                    let not = pi < p.len() && p[pi] == b'^';
                    if not {
                        pi += 1;
                    }
                    let mut matched = false;
                    loop {
                        if pi >= p.len() {
                            pi -= 1;
                            break;
                        }
                        if p[pi] == b'\\' && pi + 2 < p.len() {
                            pi += 1;
                            if p[pi] == s[si] {
                                matched = true;
                            }
                        } else if p[pi] == b']' {
                            break;
                        } else if pi + 2 < p.len() && p[pi + 1] == b'-' {
                            let (mut a, mut b) = (p[pi], p[pi + 2]);
                            let mut c = s[si];
                            if a > b {
                                std::mem::swap(&mut a, &mut b);
                            }
                            if nocase {
                                a = a.to_ascii_lowercase();
                                b = b.to_ascii_lowercase();
                                c = c.to_ascii_lowercase();
                            }
                            pi += 2;
                            if c >= a && c <= b {
                                matched = true;
                            }
                        } else if eq(p[pi], s[si], nocase) {
                            matched = true;
                        }
                        pi += 1;
                    }
                    if not {
                        matched = !matched;
                    }
                    if !matched {
                        return false;
                    }
                    si += 1;
                }
                b'\\' if pi + 1 < p.len() => {
                    pi += 1;
                    if si >= s.len() || !eq(p[pi], s[si], nocase) {
                        return false;
                    }
                    si += 1;
                }
                c => {
                    if si >= s.len() || !eq(c, s[si], nocase) {
                        return false;
                    }
                    si += 1;
                }
            }
            pi += 1;
        }
        si == s.len()
    }
    let mut skip_longer = false;
    m(pattern, s, nocase, 0, &mut skip_longer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("1gb"), Some(1 << 30));
        assert_eq!(parse_memory("1g"), Some(1_000_000_000));
        assert_eq!(parse_memory("512MB"), Some(512 << 20));
        assert_eq!(parse_memory("-1"), None);
        assert_eq!(parse_memory("12x"), None);
    }

    #[test]
    fn file_and_overrides() {
        let mut c = Config::default();
        c.load_text(
            "port 7000\n# comment\nbind 127.0.0.1 ::1\nrequirepass \"a b\"\n",
            "t",
            0,
        )
        .unwrap();
        assert_eq!(c.int(P::Port), 7000);
        assert_eq!(
            c.list(P::Bind),
            &["127.0.0.1".to_string(), "::1".to_string()]
        );
        assert_eq!(c.str(P::Requirepass), "a b");
        let e = c.load_text("nosuch 1\n", "t", 0).unwrap_err();
        assert!(e.contains("Bad directive"), "{e}");
        let e = c.load_text("hz abc\n", "t", 0).unwrap_err();
        assert!(
            e.contains("argument couldn't be parsed into an integer"),
            "{e}"
        );
    }

    #[test]
    fn glob() {
        assert!(glob_match(b"h?llo", b"hello", false));
        assert!(glob_match(b"h*o", b"heeeello", false));
        assert!(glob_match(b"h[ae]llo", b"hallo", false));
        assert!(!glob_match(b"h[^e]llo", b"hello", false));
        assert!(glob_match(b"h[a-b]llo", b"hbllo", false));
        assert!(glob_match(b"*max*", b"MAXCLIENTS", true));
        assert!(!glob_match(b"a*b", b"acd", false));
        let long_pat = "a*".repeat(40) + "b";
        assert!(!glob_match(
            long_pat.as_bytes(),
            "a".repeat(60).as_bytes(),
            false
        ));
    }
}
