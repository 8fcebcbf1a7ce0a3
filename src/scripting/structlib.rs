//! The `struct` library Redis gives scripts (Roberto Ierusalimschy's lua_struct, with Redis's
//! bounds checks): `struct.pack`, `struct.unpack`, `struct.size` over C-like binary layouts.
//!
//! Format: `<` little, `>` big, `=` native (little) endian; `!n` maximum alignment (default
//! none); `x` a pad byte; `b B` char, `h H` short, `l L` long, `T` size_t, `i I[n]` int of n
//! bytes (default 4); `f` float, `d` double; `s` zero-terminated string; `c[n]` n chars (`c0`
//! in unpack: the length is the previous value). Upper-case integer options are unsigned.

use mlua::{Lua, MultiValue, Value, Variadic};

/// Widest integer option (`i32`).
const MAX_INT_SIZE: usize = 32;
/// `!` without a number: the platform's maximum alignment.
const MAX_ALIGN: usize = 8;

fn err(msg: String) -> mlua::Error {
    mlua::Error::runtime(msg)
}

fn arg_err(n: usize, fname: &str, msg: &str) -> mlua::Error {
    err(format!("bad argument #{n} to '{fname}' ({msg})"))
}

struct Format<'a> {
    /// The library function parsing it (named in errors).
    fname: &'static str,
    f: &'a [u8],
    pos: usize,
    little: bool,
    align: usize,
}

impl Format<'_> {
    fn number(&mut self, default: usize) -> usize {
        if !self.f.get(self.pos).is_some_and(|b| b.is_ascii_digit()) {
            return default;
        }
        let mut n: usize = 0;
        while let Some(&d) = self.f.get(self.pos).filter(|b| b.is_ascii_digit()) {
            n = n.saturating_mul(10).saturating_add((d - b'0') as usize);
            self.pos += 1;
        }
        n
    }

    /// The next item: its option character and size, after applying any setting options.
    fn next(&mut self) -> mlua::Result<Option<(u8, usize)>> {
        while let Some(&opt) = self.f.get(self.pos) {
            self.pos += 1;
            let size = match opt {
                b'b' | b'B' | b'x' => 1,
                b'h' | b'H' => 2,
                b'l' | b'L' | b'T' | b'd' => 8,
                b'f' => 4,
                b'i' | b'I' => {
                    let n = self.number(4);
                    if n > MAX_INT_SIZE {
                        return Err(err(format!(
                            "integral size {n} is larger than limit of {MAX_INT_SIZE}"
                        )));
                    }
                    n
                }
                b'c' => self.number(1),
                b's' => 0,
                b' ' => continue,
                b'<' | b'=' => {
                    self.little = true;
                    continue;
                }
                b'>' => {
                    self.little = false;
                    continue;
                }
                b'!' => {
                    let a = self.number(MAX_ALIGN);
                    if !a.is_power_of_two() {
                        return Err(err(format!("alignment {a} is not a power of 2")));
                    }
                    self.align = a;
                    continue;
                }
                other => {
                    return Err(arg_err(
                        1,
                        self.fname,
                        &format!("invalid format option '{}'", other as char),
                    ));
                }
            };
            return Ok(Some((opt, size)));
        }
        Ok(None)
    }

    /// Padding before an item of `size` at offset `len`.
    fn padding(&self, len: usize, opt: u8, size: usize) -> usize {
        if size == 0 || opt == b'c' {
            return 0;
        }
        let align = size.min(self.align);
        (align - (len & (align - 1))) & (align - 1)
    }
}

fn format<'a>(f: &'a [u8], fname: &'static str) -> Format<'a> {
    Format {
        fname,
        f,
        pos: 0,
        little: true,
        align: 1,
    }
}

/// How Lua names a missing argument: in `pack` lua_struct's buffer sits on the Lua stack where
/// the argument would be, so Lua reports "got nil" rather than "got no value".
fn missing(fname: &str) -> &'static str {
    if fname == "pack" { "nil" } else { "no value" }
}

fn number_arg(args: &[Value], i: usize, fname: &str) -> mlua::Result<f64> {
    match args.get(i) {
        Some(Value::Integer(v)) => Ok(*v as f64),
        Some(Value::Number(v)) => Ok(*v),
        Some(Value::String(s)) => std::str::from_utf8(&s.as_bytes())
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .ok_or_else(|| arg_err(i + 1, fname, "number expected, got string")),
        other => Err(arg_err(
            i + 1,
            fname,
            &format!(
                "number expected, got {}",
                other.map_or(missing(fname), |v| v.type_name())
            ),
        )),
    }
}

fn string_arg(args: &[Value], i: usize, fname: &str) -> mlua::Result<Vec<u8>> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(Value::Integer(v)) => Ok(v.to_string().into_bytes()),
        Some(Value::Number(v)) => Ok(crate::resp::fmt_double(*v, 14).into_bytes()),
        other => Err(arg_err(
            i + 1,
            fname,
            &format!(
                "string expected, got {}",
                other.map_or(missing(fname), |v| v.type_name())
            ),
        )),
    }
}

fn put_int(out: &mut Vec<u8>, n: f64, little: bool, size: usize) {
    // Negative numbers are written in two's complement, as C's cast does.
    let v: u64 = if n < 0.0 { n as i64 as u64 } else { n as u64 };
    let fill = if n < 0.0 { 0xff } else { 0 };
    let bytes: Vec<u8> = (0..size)
        .map(|i| if i < 8 { (v >> (8 * i)) as u8 } else { fill })
        .collect();
    if little {
        out.extend_from_slice(&bytes);
    } else {
        out.extend(bytes.iter().rev());
    }
}

fn get_int(data: &[u8], little: bool, signed: bool, size: usize) -> f64 {
    let mut v: u64 = 0;
    for i in 0..size {
        let b = if little { data[size - 1 - i] } else { data[i] };
        v = (v << 8) | b as u64;
    }
    if signed && size < 8 && size > 0 {
        let shift = 64 - 8 * size as u32;
        return ((v << shift) as i64 >> shift) as f64;
    }
    if signed {
        return v as i64 as f64;
    }
    v as f64
}

fn pack(lua: &Lua, args: Variadic<Value>) -> mlua::Result<mlua::BString> {
    let _ = lua;
    let fmt = string_arg(&args, 0, "pack")?;
    let mut h = format(&fmt, "pack");
    let mut out = Vec::new();
    let mut arg = 1;
    while let Some((opt, size)) = h.next()? {
        let pad = h.padding(out.len(), opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = number_arg(&args, arg, "pack")?;
                arg += 1;
                put_int(&mut out, n, h.little, size);
            }
            b'x' => out.push(0),
            b'f' => {
                let n = number_arg(&args, arg, "pack")? as f32;
                arg += 1;
                let b = if h.little {
                    n.to_le_bytes()
                } else {
                    n.to_be_bytes()
                };
                out.extend_from_slice(&b);
            }
            b'd' => {
                let n = number_arg(&args, arg, "pack")?;
                arg += 1;
                let b = if h.little {
                    n.to_le_bytes()
                } else {
                    n.to_be_bytes()
                };
                out.extend_from_slice(&b);
            }
            _ => {
                // 'c' and 's'
                let s = string_arg(&args, arg, "pack")?;
                arg += 1;
                let n = if size == 0 { s.len() } else { size };
                if s.len() < n {
                    // Redis names the argument after this one (its index was already advanced).
                    return Err(arg_err(arg + 1, "pack", "string too short"));
                }
                out.extend_from_slice(&s[..n]);
                if opt == b's' {
                    out.push(0);
                }
            }
        }
    }
    Ok(mlua::BString::from(out))
}

fn unpack(lua: &Lua, args: Variadic<Value>) -> mlua::Result<MultiValue> {
    let fmt = string_arg(&args, 0, "unpack")?;
    let data = string_arg(&args, 1, "unpack")?;
    let init = match args.get(2) {
        None | Some(Value::Nil) => 1.0,
        _ => number_arg(&args, 2, "unpack")?,
    };
    if init < 1.0 {
        return Err(arg_err(3, "unpack", "offset must be 1 or greater"));
    }
    let mut pos = init as usize - 1;
    let ld = data.len();
    let mut h = format(&fmt, "unpack");
    let mut out: Vec<Value> = Vec::new();
    let too_short = || arg_err(2, "unpack", "data string too short");
    while let Some((opt, mut size)) = h.next()? {
        pos += h.padding(pos, opt, size);
        if size > ld || pos > ld - size {
            return Err(too_short());
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let signed = opt.is_ascii_lowercase();
                out.push(Value::Number(get_int(&data[pos..], h.little, signed, size)));
            }
            b'x' => {}
            b'f' => {
                let b: [u8; 4] = data[pos..pos + 4].try_into().unwrap_or([0; 4]);
                let v = if h.little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                };
                out.push(Value::Number(v as f64));
            }
            b'd' => {
                let b: [u8; 8] = data[pos..pos + 8].try_into().unwrap_or([0; 8]);
                let v = if h.little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                };
                out.push(Value::Number(v));
            }
            b'c' => {
                if size == 0 {
                    let n = match out.pop() {
                        Some(Value::Number(n)) => n,
                        Some(Value::Integer(n)) => n as f64,
                        _ => return Err(err("format 'c0' needs a previous size".into())),
                    };
                    size = n as usize;
                    if size > ld || pos > ld - size {
                        return Err(too_short());
                    }
                }
                out.push(Value::String(lua.create_string(&data[pos..pos + size])?));
            }
            _ => {
                // 's'
                let Some(end) = data[pos..].iter().position(|&b| b == 0) else {
                    return Err(err("unfinished string in data".into()));
                };
                out.push(Value::String(lua.create_string(&data[pos..pos + end])?));
                size = end + 1;
            }
        }
        pos += size;
    }
    out.push(Value::Number((pos + 1) as f64));
    Ok(MultiValue::from_iter(out))
}

fn size(_: &Lua, args: Variadic<Value>) -> mlua::Result<f64> {
    let fmt = string_arg(&args, 0, "size")?;
    let mut h = format(&fmt, "size");
    let mut pos = 0;
    while let Some((opt, size)) = h.next()? {
        if opt == b's' {
            return Err(arg_err(1, "size", "option 's' has no fixed size"));
        }
        if opt == b'c' && size == 0 {
            return Err(arg_err(1, "size", "option 'c0' has no fixed size"));
        }
        pos += h.padding(pos, opt, size) + size;
    }
    Ok(pos as f64)
}

pub fn struct_table(lua: &Lua) -> mlua::Result<mlua::Table> {
    let t = lua.create_table()?;
    t.raw_set("pack", lua.create_function(pack)?)?;
    t.raw_set("unpack", lua.create_function(unpack)?)?;
    t.raw_set("size", lua.create_function(size)?)?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(code: &str) -> String {
        crate::scripting::eval_with_lib("struct", struct_table, code)
    }

    #[test]
    fn packs_and_unpacks() {
        let hex = "local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end ";
        assert_eq!(
            eval(&format!("{hex} return hex(struct.pack('>I2', 258))")),
            "0102"
        );
        assert_eq!(
            eval(&format!("{hex} return hex(struct.pack('<i', -2))")),
            "feffffff"
        );
        assert_eq!(
            eval(&format!("{hex} return hex(struct.pack('!4 b i', 1, 2))")),
            "0100000002000000"
        );
        assert_eq!(
            eval(&format!("{hex} return hex(struct.pack('s', 'ab'))")),
            "616200"
        );
        assert_eq!(
            eval(
                "local a, b, c, n = struct.unpack('>hBs', struct.pack('>hBs', -3, 200, 'xy')) return table.concat({a, b, c, n}, ',')"
            ),
            "-3,200,xy,7"
        );
        assert_eq!(eval("return tostring(struct.size('!8 b d'))"), "16");
        assert_eq!(
            eval("return struct.unpack('i4', 'ab')"),
            "error: bad argument #2 to 'unpack' (data string too short)"
        );
        assert_eq!(
            eval("return struct.pack('i33', 1)"),
            "error: integral size 33 is larger than limit of 32"
        );
        assert_eq!(
            eval("return struct.pack('q', 1)"),
            "error: bad argument #1 to 'pack' (invalid format option 'q')"
        );
    }
}
