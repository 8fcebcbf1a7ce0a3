//! The `cjson` library Redis gives scripts (lua-cjson 2.1's behaviour with Redis's defaults):
//! `cjson.encode`, `cjson.decode`, `cjson.null` and the configuration functions.
//!
//! Encoding: numbers as `%.14g`, strings with JSON escapes (also `/` and DEL, as lua-cjson),
//! a table whose keys are all positive integers as an array (`null` in the holes; an
//! excessively sparse one is an error), any other table as an object, `{}` for an empty one.
//! Decoding: objects and arrays become tables, `null` becomes `cjson.null`.

use mlua::{LightUserData, Lua, Table, Value, Variadic};
use std::cell::Cell;
use std::rc::Rc;

/// Nesting deeper than this is an error both ways (lua-cjson's default).
const DEFAULT_MAX_DEPTH: usize = 1000;

/// The settings the configuration functions change (per Lua state).
#[derive(Clone, Copy)]
struct Settings {
    sparse_convert: bool,
    sparse_ratio: usize,
    sparse_safe: usize,
    encode_max_depth: usize,
    decode_max_depth: usize,
    precision: usize,
    encode_invalid_numbers: bool,
    decode_invalid_numbers: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            sparse_convert: false,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: DEFAULT_MAX_DEPTH,
            decode_max_depth: DEFAULT_MAX_DEPTH,
            precision: 14,
            encode_invalid_numbers: false,
            decode_invalid_numbers: true,
        }
    }
}

fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

fn runtime(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::runtime(msg.into())
}

fn number_text(n: f64, s: &Settings) -> mlua::Result<String> {
    if !n.is_finite() && !s.encode_invalid_numbers {
        return Err(runtime("Cannot serialise number: must not be NaN or Inf"));
    }
    if n.is_nan() {
        return Ok("nan".into());
    }
    Ok(crate::resp::fmt_double(n, s.precision as i32))
}

fn encode_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// The array length of `t` if every key is a positive integer (lua-cjson's
/// lua_array_length): Some(0) for an empty table is reported as not an array (`{}`).
fn array_length(t: &Table, s: &Settings) -> mlua::Result<Option<usize>> {
    let Some((max, items)) = super::positive_int_keys(t)? else {
        return Ok(None);
    };
    if s.sparse_ratio > 0 && max > items * s.sparse_ratio && max > s.sparse_safe {
        if !s.sparse_convert {
            return Err(runtime("Cannot serialise table: excessively sparse array"));
        }
        return Ok(None);
    }
    Ok((max > 0).then_some(max))
}

fn encode_value(out: &mut Vec<u8>, v: &Value, s: &Settings, depth: usize) -> mlua::Result<()> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(i) => out.extend_from_slice(number_text(*i as f64, s)?.as_bytes()),
        Value::Number(n) => out.extend_from_slice(number_text(*n, s)?.as_bytes()),
        Value::String(st) => encode_string(out, &st.as_bytes()),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Table(t) => {
            let depth = depth + 1;
            if depth > s.encode_max_depth {
                return Err(runtime(format!(
                    "Cannot serialise, excessive nesting ({depth})"
                )));
            }
            match array_length(t, s)? {
                Some(len) => {
                    out.push(b'[');
                    for i in 1..=len {
                        if i > 1 {
                            out.push(b',');
                        }
                        let item: Value = t.raw_get(i)?;
                        encode_value(out, &item, s, depth)?;
                    }
                    out.push(b']');
                }
                None => {
                    out.push(b'{');
                    let mut first = true;
                    for pair in t.pairs::<Value, Value>() {
                        let (k, item) = pair?;
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        match &k {
                            Value::String(ks) => encode_string(out, &ks.as_bytes()),
                            Value::Integer(i) => {
                                out.push(b'"');
                                out.extend_from_slice(number_text(*i as f64, s)?.as_bytes());
                                out.push(b'"');
                            }
                            Value::Number(n) => {
                                out.push(b'"');
                                out.extend_from_slice(number_text(*n, s)?.as_bytes());
                                out.push(b'"');
                            }
                            _ => {
                                return Err(runtime(
                                    "Cannot serialise table: table key must be a number or string",
                                ));
                            }
                        }
                        out.push(b':');
                        encode_value(out, &item, s, depth)?;
                    }
                    out.push(b'}');
                }
            }
        }
        other => {
            return Err(runtime(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            )));
        }
    }
    Ok(())
}

/// A JSON token for error messages, as lua-cjson names them.
#[derive(Clone, Copy, PartialEq)]
enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str,
    Num,
    Bool,
    Null,
    Colon,
    Comma,
    End,
}

impl Tok {
    fn name(self) -> &'static str {
        match self {
            Tok::ObjBegin => "T_OBJ_BEGIN",
            Tok::ObjEnd => "T_OBJ_END",
            Tok::ArrBegin => "T_ARR_BEGIN",
            Tok::ArrEnd => "T_ARR_END",
            Tok::Str => "T_STRING",
            Tok::Num => "T_NUMBER",
            Tok::Bool => "T_BOOLEAN",
            Tok::Null => "T_NULL",
            Tok::Colon => "T_COLON",
            Tok::Comma => "T_COMMA",
            Tok::End => "T_END",
        }
    }
}

struct Decoder<'a> {
    lua: &'a Lua,
    s: &'a [u8],
    pos: usize,
    settings: Settings,
    depth: usize,
}

/// A scanned token: its kind, where it starts (1-based, for messages) and its value.
struct Token {
    kind: Tok,
    at: usize,
    value: Value,
}

impl<'a> Decoder<'a> {
    fn fail(&self, expected: &str, found: &str, at: usize) -> mlua::Error {
        runtime(format!(
            "Expected {expected} but found {found} at character {at}"
        ))
    }

    fn next(&mut self, expected: &str) -> mlua::Result<Token> {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let at = self.pos + 1;
        let Some(&c) = self.s.get(self.pos) else {
            return Ok(Token {
                kind: Tok::End,
                at,
                value: Value::Nil,
            });
        };
        let single = |k| Token {
            kind: k,
            at,
            value: Value::Nil,
        };
        let t = match c {
            b'{' => single(Tok::ObjBegin),
            b'}' => single(Tok::ObjEnd),
            b'[' => single(Tok::ArrBegin),
            b']' => single(Tok::ArrEnd),
            b':' => single(Tok::Colon),
            b',' => single(Tok::Comma),
            b'"' => return self.string(at, expected),
            b'-' | b'0'..=b'9' => return self.number(at, expected),
            b't' if self.s[self.pos..].starts_with(b"true") => {
                self.pos += 4;
                return Ok(Token {
                    kind: Tok::Bool,
                    at,
                    value: Value::Boolean(true),
                });
            }
            b'f' if self.s[self.pos..].starts_with(b"false") => {
                self.pos += 5;
                return Ok(Token {
                    kind: Tok::Bool,
                    at,
                    value: Value::Boolean(false),
                });
            }
            b'n' if self.s[self.pos..].starts_with(b"null") => {
                self.pos += 4;
                return Ok(Token {
                    kind: Tok::Null,
                    at,
                    value: null(),
                });
            }
            _ => return self.number(at, expected),
        };
        self.pos += 1;
        Ok(t)
    }

    fn number(&mut self, at: usize, expected: &str) -> mlua::Result<Token> {
        let rest = &self.s[self.pos..];
        let len = rest
            .iter()
            .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E' | b'x' | b'X' | b'a'..=b'd' | b'f' | b'A'..=b'D' | b'F' | b'i' | b'n' | b'I' | b'N' | b't' | b'y'))
            .unwrap_or(rest.len());
        let text = std::str::from_utf8(&rest[..len]).unwrap_or("");
        let parsed = if text.starts_with("0x") || text.starts_with("-0x") {
            None
        } else {
            text.parse::<f64>().ok()
        };
        match parsed {
            Some(n) if len > 0 && (n.is_finite() || self.settings.decode_invalid_numbers) => {
                self.pos += len;
                Ok(Token {
                    kind: Tok::Num,
                    at,
                    value: Value::Number(n),
                })
            }
            _ => Err(self.fail(expected, "invalid token", at)),
        }
    }

    fn hex4(&self, i: usize) -> Option<u32> {
        let h = self.s.get(i..i + 4)?;
        u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
    }

    fn string(&mut self, at: usize, expected: &str) -> mlua::Result<Token> {
        let mut out = Vec::new();
        let mut i = self.pos + 1;
        loop {
            // Errors inside a string point at where scanning stopped, as lua-cjson's do.
            let Some(&c) = self.s.get(i) else {
                return Err(self.fail(expected, "unexpected end of string", i + 1));
            };
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.s.get(i + 1) else {
                        return Err(self.fail(expected, "unexpected end of string", i + 1));
                    };
                    let simple = match e {
                        b'"' => Some(b'"'),
                        b'\\' => Some(b'\\'),
                        b'/' => Some(b'/'),
                        b'b' => Some(0x08),
                        b'f' => Some(0x0c),
                        b'n' => Some(b'\n'),
                        b'r' => Some(b'\r'),
                        b't' => Some(b'\t'),
                        _ => None,
                    };
                    if let Some(b) = simple {
                        out.push(b);
                        i += 2;
                        continue;
                    }
                    if e != b'u' {
                        return Err(self.fail(expected, "invalid escape code", i + 1));
                    }
                    let escape_at = i + 1;
                    let bad = || self.fail(expected, "invalid unicode escape code", escape_at);
                    let mut cp = self.hex4(i + 2).ok_or_else(bad)?;
                    i += 6;
                    if (0xD800..0xDC00).contains(&cp) {
                        // A high surrogate needs its low half.
                        if self.s.get(i..i + 2) != Some(b"\\u") {
                            return Err(bad());
                        }
                        let low = self.hex4(i + 2).ok_or_else(bad)?;
                        if !(0xDC00..0xE000).contains(&low) {
                            return Err(bad());
                        }
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                        i += 6;
                    } else if (0xDC00..0xE000).contains(&cp) {
                        return Err(bad());
                    }
                    let ch = char::from_u32(cp).ok_or_else(bad)?;
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                _ => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        self.pos = i + 1;
        Ok(Token {
            kind: Tok::Str,
            at,
            value: Value::String(self.lua.create_string(&out)?),
        })
    }

    fn enter(&mut self, at: usize) -> mlua::Result<()> {
        self.depth += 1;
        if self.depth > self.settings.decode_max_depth {
            return Err(runtime(format!(
                "Found too many nested data structures ({}) at character {at}",
                self.depth
            )));
        }
        Ok(())
    }

    /// The value that starts with token `t`.
    fn value(&mut self, t: Token) -> mlua::Result<Value> {
        match t.kind {
            Tok::Str | Tok::Num | Tok::Bool | Tok::Null => Ok(t.value),
            Tok::ObjBegin => {
                self.enter(t.at)?;
                let table = self.lua.create_table()?;
                let mut tok = self.next("object key string or object end")?;
                if tok.kind != Tok::ObjEnd {
                    loop {
                        if tok.kind != Tok::Str {
                            return Err(self.fail("object key string", tok.kind.name(), tok.at));
                        }
                        let key = tok.value;
                        let colon = self.next("colon")?;
                        if colon.kind != Tok::Colon {
                            return Err(self.fail("colon", colon.kind.name(), colon.at));
                        }
                        let vt = self.next("value")?;
                        let v = self.value(vt)?;
                        table.raw_set(key, v)?;
                        let sep = self.next("comma or object end")?;
                        match sep.kind {
                            Tok::ObjEnd => break,
                            Tok::Comma => tok = self.next("object key string")?,
                            k => return Err(self.fail("comma or object end", k.name(), sep.at)),
                        }
                    }
                }
                self.depth -= 1;
                Ok(Value::Table(table))
            }
            Tok::ArrBegin => {
                self.enter(t.at)?;
                let table = self.lua.create_table()?;
                let mut tok = self.next("value or array end")?;
                if tok.kind != Tok::ArrEnd {
                    let mut i = 1;
                    loop {
                        let v = self.value(tok)?;
                        table.raw_set(i, v)?;
                        i += 1;
                        let sep = self.next("comma or array end")?;
                        match sep.kind {
                            Tok::ArrEnd => break,
                            Tok::Comma => tok = self.next("value")?,
                            k => return Err(self.fail("comma or array end", k.name(), sep.at)),
                        }
                    }
                }
                self.depth -= 1;
                Ok(Value::Table(table))
            }
            k => Err(self.fail("value", k.name(), t.at)),
        }
    }
}

fn int_arg(args: &[Value], i: usize) -> Option<i64> {
    match args.get(i)? {
        Value::Integer(v) => Some(*v),
        Value::Number(n) => Some(*n as i64),
        _ => None,
    }
}

/// The `cjson` table for one Lua state.
pub fn cjson_table(lua: &Lua) -> mlua::Result<Table> {
    let settings = Rc::new(Cell::new(Settings::default()));
    let t = lua.create_table()?;
    let s = settings.clone();
    t.raw_set(
        "encode",
        lua.create_function(move |_, args: Variadic<Value>| {
            if args.len() != 1 {
                return Err(runtime("bad argument #1 to 'encode' (expected 1 argument)"));
            }
            let mut out = Vec::new();
            encode_value(&mut out, &args[0], &s.get(), 0)?;
            Ok(mlua::BString::from(out))
        })?,
    )?;
    let s = settings.clone();
    t.raw_set(
        "decode",
        lua.create_function(move |lua, args: Variadic<Value>| {
            if args.len() != 1 {
                return Err(runtime("bad argument #1 to 'decode' (expected 1 argument)"));
            }
            let text = match &args[0] {
                Value::String(st) => st.as_bytes().to_vec(),
                Value::Integer(i) => i.to_string().into_bytes(),
                Value::Number(n) => crate::resp::fmt_double(*n, 14).into_bytes(),
                other => {
                    return Err(runtime(format!(
                        "bad argument #1 to 'decode' (string expected, got {})",
                        other.type_name()
                    )));
                }
            };
            let mut d = Decoder {
                lua,
                s: &text,
                pos: 0,
                settings: s.get(),
                depth: 0,
            };
            let first = d.next("value")?;
            let v = d.value(first)?;
            let end = d.next("the end")?;
            if end.kind != Tok::End {
                return Err(d.fail("the end", end.kind.name(), end.at));
            }
            Ok(v)
        })?,
    )?;
    t.raw_set("null", null())?;
    t.raw_set("_NAME", "cjson")?;
    t.raw_set("_VERSION", "2.1.0")?;
    // Configuration: each returns the settings in force after the call.
    let s = settings.clone();
    t.raw_set(
        "encode_sparse_array",
        lua.create_function(move |_, args: Variadic<Value>| {
            let mut cur = s.get();
            if let Some(Value::Boolean(b)) = args.first() {
                cur.sparse_convert = *b;
            }
            if let Some(r) = int_arg(&args, 1) {
                cur.sparse_ratio = r.max(0) as usize;
            }
            if let Some(v) = int_arg(&args, 2) {
                cur.sparse_safe = v.max(0) as usize;
            }
            s.set(cur);
            Ok((cur.sparse_convert, cur.sparse_ratio, cur.sparse_safe))
        })?,
    )?;
    for (name, is_encode) in [("encode_max_depth", true), ("decode_max_depth", false)] {
        let s = settings.clone();
        t.raw_set(
            name,
            lua.create_function(move |_, args: Variadic<Value>| {
                let mut cur = s.get();
                if let Some(d) = int_arg(&args, 0) {
                    if d < 1 {
                        return Err(runtime(format!(
                            "bad argument #1 to '{name}' (expected integer between 1 and 2147483647)"
                        )));
                    }
                    if is_encode {
                        cur.encode_max_depth = d as usize;
                    } else {
                        cur.decode_max_depth = d as usize;
                    }
                }
                s.set(cur);
                Ok(if is_encode {
                    cur.encode_max_depth
                } else {
                    cur.decode_max_depth
                })
            })?,
        )?;
    }
    let s = settings.clone();
    t.raw_set(
        "encode_number_precision",
        lua.create_function(move |_, args: Variadic<Value>| {
            let mut cur = s.get();
            if let Some(p) = int_arg(&args, 0) {
                if !(1..=14).contains(&p) {
                    return Err(runtime(
                        "bad argument #1 to 'encode_number_precision' (expected integer between 1 and 14)",
                    ));
                }
                cur.precision = p as usize;
            }
            s.set(cur);
            Ok(cur.precision)
        })?,
    )?;
    // The encode buffer is not kept between calls here; the setting is accepted and reported.
    let keep = Rc::new(Cell::new(true));
    t.raw_set(
        "encode_keep_buffer",
        lua.create_function(move |_, args: Variadic<Value>| {
            if let Some(Value::Boolean(b)) = args.first() {
                keep.set(*b);
            }
            Ok(keep.get())
        })?,
    )?;
    for (name, is_encode) in [
        ("encode_invalid_numbers", true),
        ("decode_invalid_numbers", false),
    ] {
        let s = settings.clone();
        t.raw_set(
            name,
            lua.create_function(move |_, args: Variadic<Value>| {
                let mut cur = s.get();
                if let Some(Value::Boolean(b)) = args.first() {
                    if is_encode {
                        cur.encode_invalid_numbers = *b;
                    } else {
                        cur.decode_invalid_numbers = *b;
                    }
                }
                s.set(cur);
                Ok(if is_encode {
                    cur.encode_invalid_numbers
                } else {
                    cur.decode_invalid_numbers
                })
            })?,
        )?;
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(code: &str) -> String {
        crate::scripting::eval_with_lib("cjson", cjson_table, code)
    }

    #[test]
    fn encodes_as_lua_cjson() {
        assert_eq!(eval("return cjson.encode({1, 2, 'x'})"), "[1,2,\"x\"]");
        assert_eq!(eval("return cjson.encode({})"), "{}");
        assert_eq!(eval("return cjson.encode({a = 1})"), "{\"a\":1}");
        assert_eq!(
            eval("return cjson.encode({[1] = 1, [3] = 3})"),
            "[1,null,3]"
        );
        assert_eq!(
            eval("return cjson.encode({[1] = 1, [20] = 3})"),
            "error: Cannot serialise table: excessively sparse array"
        );
        assert_eq!(eval("return cjson.encode(0.1)"), "0.1");
        assert_eq!(eval("return cjson.encode(1/3)"), "0.33333333333333");
        assert_eq!(
            eval("return cjson.encode('a/b\"\\n\\1')"),
            "\"a\\/b\\\"\\n\\u0001\""
        );
        assert_eq!(eval("return cjson.encode(cjson.null)"), "null");
        assert_eq!(
            eval("return cjson.encode(1/0)"),
            "error: Cannot serialise number: must not be NaN or Inf"
        );
        assert_eq!(
            eval("return cjson.encode(print)"),
            "error: Cannot serialise function: type not supported"
        );
        assert_eq!(
            eval("local t = {} t[1] = t return cjson.encode(t)"),
            "error: Cannot serialise, excessive nesting (1001)"
        );
    }

    #[test]
    fn decodes_as_lua_cjson() {
        assert_eq!(
            eval("return table.concat(cjson.decode('[0.0, -5e3, -1, 0.3e-3, 1023.2, 0e10]'), ' ')"),
            "0 -5000 -1 0.0003 1023.2 0"
        );
        assert_eq!(
            eval(
                "local t = cjson.decode('{\"a\": {\"b\": [true, null]}}') return tostring(t.a.b[1]) .. tostring(t.a.b[2] == cjson.null)"
            ),
            "truetrue"
        );
        assert_eq!(
            eval("return cjson.decode('\"\\\\u00e9\\\\ud83d\\\\ude00\"')"),
            "é😀"
        );
        assert_eq!(
            eval("return cjson.decode('[1,')"),
            "error: Expected value but found T_END at character 4"
        );
        assert_eq!(
            eval("return cjson.decode('{1:2}')"),
            "error: Expected object key string but found T_NUMBER at character 2"
        );
        assert_eq!(
            eval("return cjson.decode('[1] x')"),
            "error: Expected the end but found invalid token at character 5"
        );
        assert_eq!(
            eval("return cjson.decode('\"abc')"),
            "error: Expected value but found unexpected end of string at character 5"
        );
        assert_eq!(
            eval("return cjson.decode(string.rep('[', 1001))"),
            "error: Found too many nested data structures (1001) at character 1001"
        );
    }
}
