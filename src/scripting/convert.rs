//! Conversions between command replies and Lua values, as Redis 7.0's scripting does them.
//!
//! Replies come in as the RESP bytes a command wrote to the script client (in the protocol the
//! script chose with `redis.setresp`); Lua values go out as the calling client's reply.

use crate::resp::Out;
use mlua::{Lua, Table, Value};

/// Deepest nesting converted either way (Redis runs out of Lua stack around there).
const MAX_DEPTH: usize = 1000;

/// The error table `redis.pcall` returns: `{err = "CODE message"}`. A message starting with `-`
/// carries its own code; any other gets `ERR`.
pub fn error_table(lua: &Lua, msg: &[u8]) -> mlua::Result<Table> {
    let mut text: Vec<u8>;
    if let Some(rest) = msg.strip_prefix(b"-") {
        match rest.iter().position(|&b| b == b' ') {
            Some(sp) => {
                text = rest[..sp].to_vec();
                text.push(b' ');
                text.extend_from_slice(trim_crlf(&rest[sp + 1..]));
            }
            None => {
                text = b"ERR ".to_vec();
                text.extend_from_slice(trim_crlf(rest));
            }
        }
    } else {
        text = b"ERR ".to_vec();
        text.extend_from_slice(trim_crlf(msg));
    }
    let t = lua.create_table()?;
    t.raw_set("err", lua.create_string(&text)?)?;
    Ok(t)
}

fn trim_crlf(mut s: &[u8]) -> &[u8] {
    while let [b'\r' | b'\n', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b'\r' | b'\n'] = s {
        s = rest;
    }
    s
}

/// Mark an error table as already counted in errorstats (the command that failed counted it):
/// Redis's `ignore_error_stats_update` field.
pub fn mark_counted(t: &Table) -> mlua::Result<()> {
    t.raw_set("ignore_error_stats_update", true)
}

fn is_counted(t: &Table) -> bool {
    matches!(
        t.raw_get::<Value>("ignore_error_stats_update"),
        Ok(Value::Boolean(true))
    )
}

/// Reads one reply from RESP bytes written by the server itself (so well formed).
struct ReplyReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> ReplyReader<'a> {
    fn line(&mut self) -> &'a [u8] {
        let start = self.pos;
        let end = self.buf[start..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(self.buf.len(), |i| start + i);
        self.pos = (end + 2).min(self.buf.len());
        &self.buf[start..end]
    }

    fn int(&mut self) -> i64 {
        let l = self.line();
        crate::resp::parse_i64(l).unwrap_or(0)
    }

    fn bulk(&mut self, len: usize) -> &'a [u8] {
        let start = self.pos.min(self.buf.len());
        let end = (start + len).min(self.buf.len());
        self.pos = (end + 2).min(self.buf.len());
        &self.buf[start..end]
    }

    /// The next reply as a Lua value; `None` skips it (attributes).
    fn value(&mut self, lua: &Lua, depth: usize) -> mlua::Result<Value> {
        if self.pos >= self.buf.len() {
            return Ok(Value::Nil);
        }
        if depth > MAX_DEPTH {
            return Err(mlua::Error::runtime(
                "reached lua stack limit when parsing redis.call reply",
            ));
        }
        let kind = self.buf[self.pos];
        self.pos += 1;
        Ok(match kind {
            b'+' => {
                let s = self.line();
                let t = lua.create_table()?;
                t.raw_set("ok", lua.create_string(s)?)?;
                Value::Table(t)
            }
            b'-' => {
                let s = self.line();
                let mut msg = b"-".to_vec();
                msg.extend_from_slice(s);
                let t = error_table(lua, &msg)?;
                mark_counted(&t)?;
                Value::Table(t)
            }
            b':' => Value::Number(self.int() as f64),
            b'$' => {
                let n = self.int();
                if n < 0 {
                    Value::Boolean(false)
                } else {
                    Value::String(lua.create_string(self.bulk(n as usize))?)
                }
            }
            b'*' => {
                let n = self.int();
                if n < 0 {
                    return Ok(Value::Boolean(false));
                }
                let t = lua.create_table()?;
                for i in 0..n as usize {
                    let v = self.value(lua, depth + 1)?;
                    t.raw_set(i + 1, v)?;
                }
                Value::Table(t)
            }
            b'%' => {
                let n = self.int();
                let inner = lua.create_table()?;
                for _ in 0..n.max(0) {
                    let k = self.value(lua, depth + 1)?;
                    let v = self.value(lua, depth + 1)?;
                    if k != Value::Nil {
                        inner.raw_set(k, v)?;
                    }
                }
                let t = lua.create_table()?;
                t.raw_set("map", inner)?;
                Value::Table(t)
            }
            b'~' => {
                let n = self.int();
                let inner = lua.create_table()?;
                for _ in 0..n.max(0) {
                    let k = self.value(lua, depth + 1)?;
                    if k != Value::Nil {
                        inner.raw_set(k, true)?;
                    }
                }
                let t = lua.create_table()?;
                t.raw_set("set", inner)?;
                Value::Table(t)
            }
            b'|' => {
                // Attributes are not shown to scripts: skip them, then read the reply.
                let n = self.int();
                for _ in 0..n.max(0) * 2 {
                    self.value(lua, depth + 1)?;
                }
                self.value(lua, depth)?
            }
            b'_' => {
                self.line();
                Value::Nil
            }
            b'#' => Value::Boolean(self.line() == b"t"),
            b',' => {
                let s = self.line();
                let d = crate::cmd::parse_f64(s).unwrap_or(0.0);
                let t = lua.create_table()?;
                t.raw_set("double", d)?;
                Value::Table(t)
            }
            b'(' => {
                let s = self.line();
                let t = lua.create_table()?;
                t.raw_set("big_number", lua.create_string(s)?)?;
                Value::Table(t)
            }
            b'=' => {
                let n = self.int();
                let body = self.bulk(n.max(0) as usize);
                let (format, text) = if body.len() >= 4 {
                    (&body[..3], &body[4..])
                } else {
                    (&b"txt"[..], body)
                };
                let inner = lua.create_table()?;
                inner.raw_set("string", lua.create_string(text)?)?;
                inner.raw_set("format", lua.create_string(format)?)?;
                let t = lua.create_table()?;
                t.raw_set("verbatim_string", inner)?;
                Value::Table(t)
            }
            _ => {
                self.line();
                Value::Nil
            }
        })
    }
}

/// Convert the reply a command wrote (RESP bytes) into the Lua value scripts get.
pub fn reply_to_lua(lua: &Lua, reply: &[u8]) -> mlua::Result<Value> {
    ReplyReader { buf: reply, pos: 0 }.value(lua, 0)
}

fn map_crlf(s: &[u8]) -> Vec<u8> {
    s.iter()
        .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
        .collect()
}

/// What a table that stands for a special reply holds.
enum Special {
    /// The message, and whether errorstats already counted it.
    Error(Vec<u8>, bool),
    Status(Vec<u8>),
    Double(f64),
    BigNumber(Vec<u8>),
    Verbatim(Vec<u8>, Vec<u8>),
    Map(Table),
    Set(Table),
}

fn special(t: &Table) -> Option<Special> {
    if let Ok(Value::String(s)) = t.raw_get::<Value>("err") {
        return Some(Special::Error(s.as_bytes().to_vec(), is_counted(t)));
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("ok") {
        return Some(Special::Status(s.as_bytes().to_vec()));
    }
    match t.raw_get::<Value>("double") {
        Ok(Value::Number(d)) => return Some(Special::Double(d)),
        Ok(Value::Integer(i)) => return Some(Special::Double(i as f64)),
        _ => {}
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("big_number") {
        return Some(Special::BigNumber(s.as_bytes().to_vec()));
    }
    if let Ok(Value::Table(v)) = t.raw_get::<Value>("verbatim_string")
        && let Ok(Value::String(f)) = v.raw_get::<Value>("format")
        && let Ok(Value::String(s)) = v.raw_get::<Value>("string")
    {
        return Some(Special::Verbatim(
            f.as_bytes().to_vec(),
            s.as_bytes().to_vec(),
        ));
    }
    if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
        return Some(Special::Map(m));
    }
    if let Ok(Value::Table(s)) = t.raw_get::<Value>("set") {
        return Some(Special::Set(s));
    }
    None
}

/// Write the Lua value a script returned as a reply to `out`. `script_resp` is the protocol
/// the script selected (it decides how booleans read in RESP2).
pub fn lua_to_reply(out: &mut Out, v: &Value, script_resp: u8) {
    to_reply(out, v, script_resp, 0);
}

fn to_reply(out: &mut Out, v: &Value, script_resp: u8, depth: usize) {
    if depth > MAX_DEPTH {
        out.error("reached lua stack limit");
        return;
    }
    match v {
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Boolean(b) => {
            if script_resp == 2 {
                if *b {
                    out.int(1);
                } else {
                    out.null();
                }
            } else {
                out.boolean(*b);
            }
        }
        Value::Integer(i) => out.int(*i),
        Value::Number(n) => out.int(lua_number_to_i64(*n)),
        Value::Table(t) => match special(t) {
            Some(Special::Error(msg, counted)) => {
                let mut m = b"-".to_vec();
                m.extend_from_slice(&msg);
                let m = String::from_utf8_lossy(&m);
                if counted {
                    out.error_counted_elsewhere(&m);
                } else {
                    out.error(&m);
                }
            }
            Some(Special::Status(s)) => out.simple(&String::from_utf8_lossy(&map_crlf(&s))),
            Some(Special::Double(d)) => out.double(d),
            Some(Special::BigNumber(s)) => out.big_number(&map_crlf(&s)),
            Some(Special::Verbatim(f, s)) => out.verbatim_with(&f, &s),
            // Tables are walked twice (count, then write) rather than collected: every Lua
            // value held from Rust takes a Lua stack slot, and big replies would run out.
            Some(Special::Map(m)) => {
                out.map(m.pairs::<Value, Value>().flatten().count());
                for (k, v) in m.pairs::<Value, Value>().flatten() {
                    to_reply(out, &k, script_resp, depth + 1);
                    to_reply(out, &v, script_resp, depth + 1);
                }
            }
            Some(Special::Set(s)) => {
                out.set(s.pairs::<Value, Value>().flatten().count());
                for (k, _) in s.pairs::<Value, Value>().flatten() {
                    to_reply(out, &k, script_resp, depth + 1);
                }
            }
            None => {
                let len = (1..)
                    .take_while(|&i| !matches!(t.raw_get::<Value>(i), Ok(Value::Nil) | Err(_)))
                    .count();
                out.array(len);
                for i in 1..=len {
                    let v = t.raw_get::<Value>(i).unwrap_or(Value::Nil);
                    to_reply(out, &v, script_resp, depth + 1);
                }
            }
        },
        _ => out.null(),
    }
}

/// `(long long)` of a Lua number as Redis's C cast gives it on x86-64: truncation, and the
/// minimum for NaN and anything out of range.
pub fn lua_number_to_i64(n: f64) -> i64 {
    if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&n) {
        n as i64
    } else {
        i64::MIN
    }
}
