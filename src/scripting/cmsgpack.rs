//! The `cmsgpack` library Redis gives scripts (lua-cmsgpack 0.4's behaviour): `pack`,
//! `unpack`, `unpack_one`, `unpack_limit`.
//!
//! Packing picks the smallest MessagePack form: integers by range, other numbers as float32
//! when exact and float64 otherwise, strings as fixstr/str8/str16/str32, a table whose keys
//! are exactly 1..n as an array and any other as a map. Tables nested 16 deep pack as nil, so
//! circular references end. Values without a MessagePack form (functions, ...) pack as nil.

use mlua::{Lua, MultiValue, Table, Value, Variadic};

/// Tables deeper than this pack as nil (LUACMSGPACK_MAX_NESTING).
const MAX_NESTING: usize = 16;

fn runtime(msg: &str) -> mlua::Error {
    mlua::Error::runtime(msg.to_string())
}

fn pack_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn pack_number(out: &mut Vec<u8>, n: f64) {
    // An integral value in int64's range packs as an integer (IS_INT64_EQUIVALENT).
    if n.is_finite() && n == (n as i64) as f64 && !(n == 0.0 && n.is_sign_negative()) {
        pack_int(out, n as i64);
    } else if (n as f32) as f64 == n || n.is_nan() {
        out.push(0xca);
        out.extend_from_slice(&(n as f32).to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn pack_len(out: &mut Vec<u8>, len: usize, fix: u8, fix_max: usize, w16: u8, w32: u8) {
    if len < fix_max {
        out.push(fix | len as u8);
    } else if len <= 0xffff {
        out.push(w16);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(w32);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn pack_string(out: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

/// The length if the table's keys are exactly 1..n (lua-cmsgpack's table_is_an_array).
fn array_len(t: &Table) -> mlua::Result<Option<usize>> {
    Ok(super::positive_int_keys(t)?.and_then(|(max, count)| (max == count).then_some(count)))
}

fn pack_value(out: &mut Vec<u8>, v: &Value, level: usize) -> mlua::Result<()> {
    match v {
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => pack_int(out, *i),
        Value::Number(n) => pack_number(out, *n),
        Value::String(s) => pack_string(out, &s.as_bytes()),
        Value::Table(t) if level < MAX_NESTING => match array_len(t)? {
            Some(n) => {
                pack_len(out, n, 0x90, 16, 0xdc, 0xdd);
                for i in 1..=n {
                    let item: Value = t.raw_get(i)?;
                    pack_value(out, &item, level + 1)?;
                }
            }
            None => {
                // Walked twice, not collected: each Lua value held from Rust takes a slot of
                // Lua's limited stack.
                let n = t.pairs::<Value, Value>().count();
                pack_len(out, n, 0x80, 16, 0xde, 0xdf);
                for pair in t.pairs::<Value, Value>() {
                    let (k, item) = pair?;
                    pack_value(out, &k, level + 1)?;
                    pack_value(out, &item, level + 1)?;
                }
            }
        },
        _ => out.push(0xc0),
    }
    Ok(())
}

struct Unpacker<'a> {
    lua: &'a Lua,
    s: &'a [u8],
    pos: usize,
}

const MISSING: &str = "Missing bytes in input.";
const BAD: &str = "Bad data format in input.";

impl Unpacker<'_> {
    fn take(&mut self, n: usize) -> mlua::Result<&[u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.s.len());
        let Some(end) = end else {
            return Err(runtime(MISSING));
        };
        let b = &self.s[self.pos..end];
        self.pos = end;
        Ok(b)
    }

    fn uint(&mut self, n: usize) -> mlua::Result<u64> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | b as u64))
    }

    fn string(&mut self, len: usize) -> mlua::Result<Value> {
        let b = self.take(len)?.to_vec();
        Ok(Value::String(self.lua.create_string(&b)?))
    }

    fn array(&mut self, n: usize) -> mlua::Result<Value> {
        let t = self.lua.create_table()?;
        for i in 1..=n {
            let v = self.value()?;
            t.raw_set(i, v)?;
        }
        Ok(Value::Table(t))
    }

    fn map(&mut self, n: usize) -> mlua::Result<Value> {
        let t = self.lua.create_table()?;
        for _ in 0..n {
            let k = self.value()?;
            let v = self.value()?;
            if k != Value::Nil {
                t.raw_set(k, v)?;
            }
        }
        Ok(Value::Table(t))
    }

    fn value(&mut self) -> mlua::Result<Value> {
        let t = self.take(1)?[0];
        Ok(match t {
            0x00..=0x7f => Value::Number(t as f64),
            0xe0..=0xff => Value::Number(t as i8 as f64),
            0xa0..=0xbf => self.string((t & 0x1f) as usize)?,
            0x90..=0x9f => self.array((t & 0x0f) as usize)?,
            0x80..=0x8f => self.map((t & 0x0f) as usize)?,
            0xc0 => Value::Nil,
            0xc2 => Value::Boolean(false),
            0xc3 => Value::Boolean(true),
            0xcc => Value::Number(self.uint(1)? as f64),
            0xcd => Value::Number(self.uint(2)? as f64),
            0xce => Value::Number(self.uint(4)? as f64),
            0xcf => Value::Number(self.uint(8)? as f64),
            0xd0 => Value::Number(self.uint(1)? as u8 as i8 as f64),
            0xd1 => Value::Number(self.uint(2)? as u16 as i16 as f64),
            0xd2 => Value::Number(self.uint(4)? as u32 as i32 as f64),
            0xd3 => Value::Number(self.uint(8)? as i64 as f64),
            0xca => Value::Number(f32::from_bits(self.uint(4)? as u32) as f64),
            0xcb => Value::Number(f64::from_bits(self.uint(8)?)),
            0xd9 | 0xc4 => {
                let n = self.uint(1)? as usize;
                self.string(n)?
            }
            0xda | 0xc5 => {
                let n = self.uint(2)? as usize;
                self.string(n)?
            }
            0xdb | 0xc6 => {
                let n = self.uint(4)? as usize;
                self.string(n)?
            }
            0xdc => {
                let n = self.uint(2)? as usize;
                self.array(n)?
            }
            0xdd => {
                let n = self.uint(4)? as usize;
                self.array(n)?
            }
            0xde => {
                let n = self.uint(2)? as usize;
                self.map(n)?
            }
            0xdf => {
                let n = self.uint(4)? as usize;
                self.map(n)?
            }
            _ => return Err(runtime(BAD)),
        })
    }
}

fn string_arg(args: &[Value], i: usize, fname: &str) -> mlua::Result<Vec<u8>> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(Value::Integer(n)) => Ok(n.to_string().into_bytes()),
        Some(Value::Number(n)) => Ok(crate::resp::fmt_double(*n, 14).into_bytes()),
        other => Err(mlua::Error::runtime(format!(
            "bad argument #{} to '{fname}' (string expected, got {})",
            i + 1,
            other.map_or("no value", |v| v.type_name())
        ))),
    }
}

fn int_arg(args: &[Value], i: usize) -> Option<i64> {
    match args.get(i)? {
        Value::Integer(v) => Some(*v),
        Value::Number(n) => Some(*n as i64),
        _ => None,
    }
}

/// Up to `limit` values (0: all) from `offset`: the offset after them (-1 at the end) and the
/// values.
fn unpack_from(
    lua: &Lua,
    s: &[u8],
    offset: usize,
    limit: usize,
) -> mlua::Result<(i64, Vec<Value>)> {
    if offset > s.len() {
        return Err(runtime("Start offset greater than input length."));
    }
    let mut u = Unpacker {
        lua,
        s,
        pos: offset,
    };
    let mut out = Vec::new();
    while u.pos < s.len() && (limit == 0 || out.len() < limit) {
        out.push(u.value()?);
    }
    let next = if u.pos >= s.len() { -1 } else { u.pos as i64 };
    Ok((next, out))
}

pub fn cmsgpack_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|_, args: Variadic<Value>| {
            if args.is_empty() {
                return Err(runtime(
                    "bad argument #0 to 'pack' (MessagePack pack needs input.)",
                ));
            }
            let mut out = Vec::new();
            for a in args.iter() {
                pack_value(&mut out, a, 0)?;
            }
            Ok(mlua::BString::from(out))
        })?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, args: Variadic<Value>| {
            let s = string_arg(&args, 0, "unpack")?;
            let (_, values) = unpack_from(lua, &s, 0, 0)?;
            Ok(MultiValue::from_iter(values))
        })?,
    )?;
    for (name, has_limit) in [("unpack_one", false), ("unpack_limit", true)] {
        t.raw_set(
            name,
            lua.create_function(move |lua, args: Variadic<Value>| {
                let s = string_arg(&args, 0, name)?;
                let (limit, offset) = if has_limit {
                    (
                        int_arg(&args, 1).unwrap_or(0),
                        int_arg(&args, 2).unwrap_or(0),
                    )
                } else {
                    (1, int_arg(&args, 1).unwrap_or(0))
                };
                if offset < 0 || limit < 0 {
                    return Err(runtime(if offset < 0 {
                        "Offset can't be negative."
                    } else {
                        "Limit can't be negative."
                    }));
                }
                let (next, values) = unpack_from(lua, &s, offset as usize, limit as usize)?;
                let mut ret = MultiValue::new();
                ret.push_back(Value::Number(next as f64));
                ret.extend(values);
                Ok(ret)
            })?,
        )?;
    }
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(code: &str) -> String {
        let lua = Lua::new();
        lua.globals()
            .set("cmsgpack", cmsgpack_table(&lua).unwrap())
            .unwrap();
        let b: mlua::BString = lua.load(code).eval().unwrap();
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn packs_the_smallest_form() {
        assert_eq!(hex("return cmsgpack.pack(0.1)"), "cb3fb999999999999a");
        assert_eq!(hex("return cmsgpack.pack(1.5)"), "ca3fc00000");
        assert_eq!(
            hex("return cmsgpack.pack(-1099511627776)"),
            "d3ffffff0000000000"
        );
        assert_eq!(
            hex("return cmsgpack.pack(5, -5, 200, -200)"),
            "05fbccc8d1ff38"
        );
        assert_eq!(
            hex("return cmsgpack.pack({1, 2}, {a = true})"),
            "92010281a161c3"
        );
        assert_eq!(hex("return cmsgpack.pack(nil, false, print)"), "c0c2c0");
        assert_eq!(
            hex("return cmsgpack.pack(string.rep('x', 40))").len(),
            2 * 42
        );
    }

    #[test]
    fn round_trips() {
        let lua = Lua::new();
        lua.globals()
            .set("cmsgpack", cmsgpack_table(&lua).unwrap())
            .unwrap();
        let ok: bool = lua
            .load(
                "local big = {} for i = 1, 70000 do big[i] = i end
                 local m = {s = string.rep('y', 70000), n = -3147483648, f = 0.25, a = big}
                 local r = cmsgpack.unpack(cmsgpack.pack(m))
                 local off, one = cmsgpack.unpack_one(cmsgpack.pack(1, 2), 0)
                 return r.s == m.s and r.n == m.n and r.f == m.f and #r.a == 70000
                    and off == 1 and one == 1",
            )
            .eval()
            .unwrap();
        assert!(ok);
        let e = lua
            .load("return cmsgpack.unpack('\\205')")
            .exec()
            .unwrap_err();
        assert!(e.to_string().contains("Missing bytes in input."), "{e}");
        let e = lua
            .load("return cmsgpack.unpack('\\193')")
            .exec()
            .unwrap_err();
        assert!(e.to_string().contains("Bad data format in input."), "{e}");
    }
}
