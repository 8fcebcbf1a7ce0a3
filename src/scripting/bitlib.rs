//! The `bit` library Redis gives scripts (LuaBitOp's API): 32-bit operations on Lua numbers.
//!
//! Numbers become 32-bit integers the way LuaBitOp converts them: rounded to the nearest
//! integer (ties to even) and taken modulo 2^32; results are signed 32-bit numbers.

use mlua::{Lua, Table, Value, Variadic};

/// LuaBitOp's conversion: adding 2^52 + 2^51 puts the rounded integer in the low bits of the
/// double's mantissa.
fn to_bits(n: f64) -> u32 {
    (n + 6_755_399_441_055_744.0).to_bits() as u32
}

fn arg(args: &[Value], i: usize, fname: &str) -> mlua::Result<u32> {
    let n = match args.get(i) {
        Some(Value::Integer(v)) => *v as f64,
        Some(Value::Number(v)) => *v,
        Some(Value::String(s)) => {
            let parsed = std::str::from_utf8(&s.as_bytes())
                .ok()
                .and_then(|t| t.trim().parse::<f64>().ok());
            match parsed {
                Some(v) => v,
                None => return Err(bad_arg(i, fname, "string")),
            }
        }
        other => {
            let got = other.map_or("no value", |v| v.type_name());
            return Err(bad_arg(i, fname, got));
        }
    };
    Ok(to_bits(n))
}

fn bad_arg(i: usize, fname: &str, got: &str) -> mlua::Error {
    mlua::Error::runtime(format!(
        "bad argument #{} to '{fname}' (number expected, got {got})",
        i + 1
    ))
}

/// A named two-operand operation.
type Op = (&'static str, fn(u32, u32) -> u32);

fn ret(v: u32) -> f64 {
    v as i32 as f64
}

pub fn bit_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "tobit",
        lua.create_function(|_, a: Variadic<Value>| Ok(ret(arg(&a, 0, "tobit")?)))?,
    )?;
    t.raw_set(
        "bnot",
        lua.create_function(|_, a: Variadic<Value>| Ok(ret(!arg(&a, 0, "bnot")?)))?,
    )?;
    t.raw_set(
        "bswap",
        lua.create_function(|_, a: Variadic<Value>| Ok(ret(arg(&a, 0, "bswap")?.swap_bytes())))?,
    )?;
    let folds: [Op; 3] = [
        ("band", |x, y| x & y),
        ("bor", |x, y| x | y),
        ("bxor", |x, y| x ^ y),
    ];
    for (name, op) in folds {
        t.raw_set(
            name,
            lua.create_function(move |_, a: Variadic<Value>| {
                let mut acc = arg(&a, 0, name)?;
                for i in 1..a.len() {
                    acc = op(acc, arg(&a, i, name)?);
                }
                Ok(ret(acc))
            })?,
        )?;
    }
    let shifts: [Op; 5] = [
        ("lshift", |x, n| x << n),
        ("rshift", |x, n| x >> n),
        ("arshift", |x, n| ((x as i32) >> n) as u32),
        ("rol", |x, n| x.rotate_left(n)),
        ("ror", |x, n| x.rotate_right(n)),
    ];
    for (name, op) in shifts {
        t.raw_set(
            name,
            lua.create_function(move |_, a: Variadic<Value>| {
                let x = arg(&a, 0, name)?;
                let n = arg(&a, 1, name)? & 31;
                Ok(ret(op(x, n)))
            })?,
        )?;
    }
    t.raw_set(
        "tohex",
        lua.create_function(|_, a: Variadic<Value>| {
            let mut b = arg(&a, 0, "tohex")?;
            let mut n = if a.len() > 1 {
                arg(&a, 1, "tohex")? as i32
            } else {
                8
            };
            let digits: &[u8] = if n < 0 {
                n = -n;
                b"0123456789ABCDEF"
            } else {
                b"0123456789abcdef"
            };
            let n = n.min(8) as usize;
            let mut out = vec![b'0'; n];
            for i in (0..n).rev() {
                out[i] = digits[(b & 15) as usize];
                b >>= 4;
            }
            Ok(String::from_utf8(out).unwrap_or_default())
        })?,
    )?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(code: &str) -> String {
        crate::scripting::eval_with_lib("bit", bit_table, code)
    }

    #[test]
    fn matches_luabitop() {
        // Values from LuaBitOp's own test suite and manual.
        assert_eq!(eval("return tostring(bit.tobit(0xffffffff))"), "-1");
        assert_eq!(eval("return tostring(bit.tobit(0xffffffff + 1))"), "0");
        assert_eq!(eval("return tostring(bit.tobit(2^40 + 1234))"), "1234");
        assert_eq!(eval("return bit.tohex(1)"), "00000001");
        assert_eq!(eval("return bit.tohex(-1)"), "ffffffff");
        assert_eq!(eval("return bit.tohex(0xffffffff, -4)"), "FFFF");
        assert_eq!(eval("return tostring(bit.bnot(0))"), "-1");
        assert_eq!(eval("return tostring(bit.bor(1, 2, 4, 8))"), "15");
        assert_eq!(eval("return tostring(bit.band(0x12345678, 0xff))"), "120");
        assert_eq!(
            eval("return tostring(bit.bxor(0xa5a5f0f0, 0xaa55ff00))"),
            "267390960"
        );
        assert_eq!(eval("return tostring(bit.lshift(1, 0))"), "1");
        assert_eq!(eval("return tostring(bit.lshift(1, 8))"), "256");
        assert_eq!(eval("return tostring(bit.lshift(1, 40))"), "256");
        assert_eq!(eval("return tostring(bit.rshift(256, 8))"), "1");
        assert_eq!(eval("return tostring(bit.rshift(-256, 8))"), "16777215");
        assert_eq!(eval("return tostring(bit.arshift(-256, 8))"), "-1");
        assert_eq!(
            eval("return bit.tohex(bit.rol(0x12345678, 12))"),
            "45678123"
        );
        assert_eq!(
            eval("return bit.tohex(bit.ror(0x12345678, 12))"),
            "67812345"
        );
        assert_eq!(eval("return bit.tohex(bit.bswap(0x12345678))"), "78563412");
    }
}
