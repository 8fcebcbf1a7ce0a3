//! Bit operations on strings: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD(_RO).

use super::{NOT_INT, SYNTAX, WRONGTYPE, arg_i64, eq_ic};
use crate::config::P;
use crate::net::client::Client;
use crate::resp::parse_i64;
use crate::server::Server;
use crate::server::notify;
use crate::types::{StrValue, Value};

const BIT_OFFSET_ERR: &str = "bit offset is not an integer or out of range";

/// getBitOffsetFromArgument: `#n` multiplies by the field width when allowed.
fn bit_offset(srv: &Server, c: &mut Client, a: &[u8], hash: bool, bits: u32) -> Option<u64> {
    let use_hash = hash && bits > 0 && a.first() == Some(&b'#');
    let v = parse_i64(if use_hash { &a[1..] } else { a });
    let Some(mut v) = v else {
        c.out.error(BIT_OFFSET_ERR);
        return None;
    };
    if use_hash {
        v = match v.checked_mul(bits as i64) {
            Some(x) => x,
            None => {
                c.out.error(BIT_OFFSET_ERR);
                return None;
            }
        };
    }
    if v < 0 || (v >> 3) >= srv.cfg.int(P::ProtoMaxBulkLen) {
        c.out.error(BIT_OFFSET_ERR);
        return None;
    }
    Some(v as u64)
}

/// The string at `key` grown (zero-filled) to hold bit `maxbit`; creates it if missing.
/// Returns (buffer, grew) or None after replying WRONGTYPE.
fn string_for_bits<'a>(
    srv: &'a mut Server,
    c: &mut Client,
    key: &[u8],
    maxbit: u64,
) -> Option<(&'a mut crate::alloc::heap::HeapBytes, bool)> {
    let byte = (maxbit >> 3) as usize;
    let db = c.db;
    let exists = match srv.lookup_write(db, key) {
        None => false,
        Some(o) => match &o.val {
            Value::Str(_) => true,
            _ => {
                c.out.error(WRONGTYPE);
                return None;
            }
        },
    };
    if !exists {
        srv.add_key(db, key, Value::Str(StrValue::zeroed(byte + 1)));
        let o = srv.dbs[db].dict.get_mut(key).expect("just added");
        let Value::Str(s) = &mut o.val else {
            unreachable!("just added as a string")
        };
        return Some((s.make_raw(), true));
    }
    let o = srv.dbs[db].dict.get_mut(key).expect("looked up above");
    let Value::Str(s) = &mut o.val else {
        unreachable!("type checked above")
    };
    let raw = s.make_raw();
    let grew = raw.len() < byte + 1;
    if grew {
        raw.resize(byte + 1, 0);
    }
    Some((raw, grew))
}

fn read_string(srv: &mut Server, c: &mut Client, key: &[u8]) -> Result<Option<Vec<u8>>, ()> {
    match srv.lookup_read(c.db, key) {
        None => Ok(None),
        Some(o) => match &o.val {
            Value::Str(s) => Ok(Some(s.bytes().into_owned())),
            _ => {
                c.out.error(WRONGTYPE);
                Err(())
            }
        },
    }
}

pub fn setbit(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let err = "bit is not an integer or out of range";
    let Some(off) = bit_offset(srv, c, args[2], false, 0) else {
        return;
    };
    let Some(on) = arg_i64(c, args[3], err) else {
        return;
    };
    if on & !1 != 0 {
        c.out.error(err);
        return;
    }
    let Some((buf, grew)) = string_for_bits(srv, c, args[1], off) else {
        return;
    };
    let byte = (off >> 3) as usize;
    let bit = 7 - (off & 7) as u8;
    let old = (buf[byte] >> bit) & 1;
    if on == 1 {
        buf[byte] |= 1 << bit;
    } else {
        buf[byte] &= !(1 << bit);
    }
    if grew || old as i64 != on {
        srv.dirty += 1;
    }
    srv.notify(notify::STRING, "setbit", args[1], c.db);
    c.out.int(old as i64);
}

pub fn getbit(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some(off) = bit_offset(srv, c, args[2], false, 0) else {
        return;
    };
    let v = match read_string(srv, c, args[1]) {
        Err(()) => return,
        Ok(None) => {
            c.out.int(0);
            return;
        }
        Ok(Some(v)) => v,
    };
    let byte = (off >> 3) as usize;
    let bit = if byte < v.len() {
        (v[byte] >> (7 - (off & 7))) & 1
    } else {
        0
    };
    c.out.int(bit as i64);
}

/// The optional BIT|BYTE unit argument; None after replying a syntax error.
fn bit_unit(c: &mut Client, a: Option<&[u8]>) -> Option<bool> {
    match a {
        None => Some(false),
        Some(a) if eq_ic(a, "bit") => Some(true),
        Some(a) if eq_ic(a, "byte") => Some(false),
        Some(_) => {
            c.out.error(SYNTAX);
            None
        }
    }
}

/// The range covering a whole string of `len` bytes (None when it is empty).
fn whole(len: i64) -> Option<(i64, i64, u8, u8)> {
    (len > 0).then_some((0, len - 1, 0, 0))
}

/// Resolve [start end [BIT|BYTE]] over a string of `len` bytes (Redis's index arithmetic).
/// Returns (start, end, first mask, last mask) in bytes, or None for an empty range.
fn bit_range(start: i64, end: i64, len: i64, isbit: bool) -> Option<(i64, i64, u8, u8)> {
    let totlen = if isbit { len << 3 } else { len };
    let (mut s, mut e) = (start, end);
    if s < 0 {
        s += totlen;
    }
    if e < 0 {
        e += totlen;
    }
    s = s.max(0);
    e = e.max(0);
    if e >= totlen {
        e = totlen - 1;
    }
    let (mut fm, mut lm) = (0u8, 0u8);
    if isbit && s <= e {
        fm = (!((1u32 << (8 - (s & 7))) - 1) & 0xff) as u8;
        lm = ((1u32 << (7 - (e & 7))) - 1) as u8;
        s >>= 3;
        e >>= 3;
    }
    if s > e { None } else { Some((s, e, fm, lm)) }
}

pub fn bitcount(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let v = match srv.lookup_read(c.db, args[1]) {
        None => {
            c.out.int(0);
            return;
        }
        Some(o) => match &o.val {
            Value::Str(s) => s.bytes().into_owned(),
            _ => {
                c.out.error(WRONGTYPE);
                return;
            }
        },
    };
    let len = v.len() as i64;
    let range = if args.len() == 4 || args.len() == 5 {
        let Some(start) = arg_i64(c, args[2], NOT_INT) else {
            return;
        };
        let Some(end) = arg_i64(c, args[3], NOT_INT) else {
            return;
        };
        if start < 0 && end < 0 && start > end {
            c.out.int(0);
            return;
        }
        let Some(isbit) = bit_unit(c, args.get(4).copied()) else {
            return;
        };
        bit_range(start, end, len, isbit)
    } else if args.len() == 2 {
        whole(len)
    } else {
        c.out.error(SYNTAX);
        return;
    };
    let Some((s, e, fm, lm)) = range else {
        c.out.int(0);
        return;
    };
    let slice = &v[s as usize..=e as usize];
    let mut count: i64 = slice.iter().map(|b| b.count_ones() as i64).sum();
    if fm != 0 {
        count -= (v[s as usize] & fm).count_ones() as i64;
    }
    if lm != 0 {
        count -= (v[e as usize] & lm).count_ones() as i64;
    }
    c.out.int(count);
}

/// Position of the first bit equal to `bit` in `p`, or -1 (for 1) / len*8 (for 0) when absent.
fn first_bit(p: &[u8], bit: u8) -> i64 {
    for (i, &b) in p.iter().enumerate() {
        let x = if bit == 1 { b } else { !b };
        if x != 0 {
            return i as i64 * 8 + x.leading_zeros() as i64;
        }
    }
    if bit == 1 { -1 } else { p.len() as i64 * 8 }
}

pub fn bitpos(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some(bit) = arg_i64(c, args[2], NOT_INT) else {
        return;
    };
    if bit != 0 && bit != 1 {
        c.out.error("The bit argument must be 1 or 0.");
        return;
    }
    let bit = bit as u8;
    let v = match read_string(srv, c, args[1]) {
        Err(()) => return,
        Ok(None) => {
            c.out.int(if bit == 1 { -1 } else { 0 });
            return;
        }
        Ok(Some(v)) => v,
    };
    let len = v.len() as i64;
    let mut end_given = false;
    let range = if (4..=6).contains(&args.len()) {
        let Some(start) = arg_i64(c, args[3], NOT_INT) else {
            return;
        };
        let Some(isbit) = bit_unit(c, args.get(5).copied()) else {
            return;
        };
        let end = if args.len() >= 5 {
            let Some(e) = arg_i64(c, args[4], NOT_INT) else {
                return;
            };
            end_given = true;
            e
        } else if isbit {
            (len << 3) + 7
        } else {
            len - 1
        };
        bit_range(start, end, len, isbit)
    } else if args.len() == 3 {
        whole(len)
    } else {
        c.out.error(SYNTAX);
        return;
    };
    let Some((s, e, fm, lm)) = range else {
        c.out.int(-1);
        return;
    };
    // Copy the range and neutralise the bits outside it in the edge bytes, then search.
    let mut buf = v[s as usize..=e as usize].to_vec();
    let n = buf.len();
    if fm != 0 {
        if bit == 1 {
            buf[0] &= !fm
        } else {
            buf[0] |= fm
        }
    }
    if lm != 0 {
        if bit == 1 {
            buf[n - 1] &= !lm
        } else {
            buf[n - 1] |= lm
        }
    }
    let pos = first_bit(&buf, bit);
    if end_given && bit == 0 && pos == (n as i64) * 8 {
        c.out.int(-1);
        return;
    }
    c.out.int(if pos == -1 { -1 } else { pos + s * 8 });
}

pub fn bitop(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    #[derive(PartialEq)]
    enum Op {
        And,
        Or,
        Xor,
        Not,
    }
    let op = if eq_ic(args[1], "and") {
        Op::And
    } else if eq_ic(args[1], "or") {
        Op::Or
    } else if eq_ic(args[1], "xor") {
        Op::Xor
    } else if eq_ic(args[1], "not") {
        Op::Not
    } else {
        c.out.error(SYNTAX);
        return;
    };
    let srcs = &args[3..];
    if op == Op::Not && srcs.len() != 1 {
        c.out
            .error("BITOP NOT must be called with a single source key.");
        return;
    }
    let mut vals: Vec<Vec<u8>> = Vec::with_capacity(srcs.len());
    for k in srcs {
        match srv.lookup_read(c.db, k) {
            None => vals.push(Vec::new()),
            Some(o) => match &o.val {
                Value::Str(s) => vals.push(s.bytes().into_owned()),
                _ => {
                    c.out.error(WRONGTYPE);
                    return;
                }
            },
        }
    }
    let maxlen = vals.iter().map(|v| v.len()).max().unwrap_or(0);
    let dest = args[2];
    if maxlen == 0 {
        let existed = srv.delete_key(c.db, dest);
        if existed {
            srv.notify(notify::GENERIC, "del", dest, c.db);
            srv.dirty += 1;
        }
        c.out.int(0);
        return;
    }
    let mut res = vec![0u8; maxlen];
    for (i, r) in res.iter_mut().enumerate() {
        let byte = |v: &Vec<u8>| v.get(i).copied().unwrap_or(0);
        let mut out = byte(&vals[0]);
        if op == Op::Not {
            out = !out;
        }
        for v in &vals[1..] {
            let b = byte(v);
            match op {
                Op::And => out &= b,
                Op::Or => out |= b,
                Op::Xor => out ^= b,
                Op::Not => {}
            }
        }
        *r = out;
    }
    srv.set_key(c.db, dest, Value::Str(StrValue::raw(&res)), false);
    srv.notify(notify::STRING, "set", dest, c.db);
    srv.dirty += 1;
    c.out.int(maxlen as i64);
}

#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq)]
enum FieldOp {
    Get,
    Set,
    Incr,
}

struct Field {
    op: FieldOp,
    offset: u64,
    value: i64,
    overflow: Overflow,
    bits: u32,
    signed: bool,
}

fn get_unsigned(p: &[u8], offset: u64, bits: u32) -> u64 {
    let mut v: u64 = 0;
    for j in 0..bits as u64 {
        let off = offset + j;
        let byte = (off >> 3) as usize;
        let bit = 7 - (off & 7);
        let b = p.get(byte).map_or(0, |x| (x >> bit) & 1);
        v = (v << 1) | b as u64;
    }
    v
}

fn get_signed(p: &[u8], offset: u64, bits: u32) -> i64 {
    let u = get_unsigned(p, offset, bits);
    if bits == 64 {
        return u as i64;
    }
    if u & (1u64 << (bits - 1)) != 0 {
        (u | (u64::MAX << bits)) as i64
    } else {
        u as i64
    }
}

fn set_unsigned(p: &mut [u8], offset: u64, bits: u32, value: u64) {
    for j in 0..bits as u64 {
        let bitval = (value >> (bits as u64 - 1 - j)) & 1;
        let off = offset + j;
        let byte = (off >> 3) as usize;
        let bit = 7 - (off & 7);
        if bitval == 1 {
            p[byte] |= 1 << bit;
        } else {
            p[byte] &= !(1 << bit);
        }
    }
}

/// checkUnsignedBitfieldOverflow: (overflowed, limit value).
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> (bool, u64) {
    let max: u64 = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = (value as i64).wrapping_neg();
    let wrap = || {
        let mask = if bits >= 64 { 0 } else { u64::MAX << bits };
        (value.wrapping_add(incr as u64)) & !mask
    };
    if value > max || (incr > 0 && incr > maxincr) {
        return (true, if ow == Overflow::Sat { max } else { wrap() });
    } else if incr < 0 && incr < minincr {
        return (true, if ow == Overflow::Sat { 0 } else { wrap() });
    }
    (false, 0)
}

/// checkSignedBitfieldOverflow: (overflowed, limit value).
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> (bool, i64) {
    let max: i64 = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let msb = 1u64 << (bits - 1);
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & msb != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        return (true, if ow == Overflow::Sat { max } else { wrap() });
    } else if value < min
        || (bits != 64 && incr < minincr)
        || (value < 0 && incr < 0 && incr < minincr)
    {
        return (true, if ow == Overflow::Sat { min } else { wrap() });
    }
    (false, 0)
}

fn bitfield_generic(srv: &mut Server, c: &mut Client, args: &[&[u8]], ro: bool) {
    let type_err = "Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
    let mut ops: Vec<Field> = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut readonly = true;
    let mut highest: u64 = 0;
    let mut j = 2;
    while j < args.len() {
        let rem = args.len() - j - 1;
        let sub = args[j];
        let op = if eq_ic(sub, "get") && rem >= 2 {
            FieldOp::Get
        } else if eq_ic(sub, "set") && rem >= 3 {
            FieldOp::Set
        } else if eq_ic(sub, "incrby") && rem >= 3 {
            FieldOp::Incr
        } else if eq_ic(sub, "overflow") && rem >= 1 {
            let t = args[j + 1];
            overflow = if eq_ic(t, "wrap") {
                Overflow::Wrap
            } else if eq_ic(t, "sat") {
                Overflow::Sat
            } else if eq_ic(t, "fail") {
                Overflow::Fail
            } else {
                c.out.error("Invalid OVERFLOW type specified");
                return;
            };
            j += 2;
            continue;
        } else {
            c.out.error(SYNTAX);
            return;
        };
        let t = args[j + 1];
        let signed = match t.first() {
            Some(b'i') => true,
            Some(b'u') => false,
            _ => {
                c.out.error(type_err);
                return;
            }
        };
        let bits = match parse_i64(&t[1..]) {
            Some(b) if b >= 1 && ((signed && b <= 64) || (!signed && b <= 63)) => b as u32,
            _ => {
                c.out.error(type_err);
                return;
            }
        };
        let Some(offset) = bit_offset(srv, c, args[j + 2], true, bits) else {
            return;
        };
        let mut value = 0;
        if op != FieldOp::Get {
            readonly = false;
            highest = highest.max(offset + bits as u64 - 1);
            let Some(v) = arg_i64(c, args[j + 3], NOT_INT) else {
                return;
            };
            value = v;
        }
        ops.push(Field {
            op,
            offset,
            value,
            overflow,
            bits,
            signed,
        });
        j += if op == FieldOp::Get { 3 } else { 4 };
    }
    if readonly {
        let v = match read_string(srv, c, args[1]) {
            Err(()) => return,
            Ok(v) => v.unwrap_or_default(),
        };
        c.out.array(ops.len());
        for f in &ops {
            if f.signed {
                c.out.int(get_signed(&v, f.offset, f.bits));
            } else {
                c.out.int(get_unsigned(&v, f.offset, f.bits) as i64);
            }
        }
        return;
    }
    if ro {
        c.out.error("BITFIELD_RO only supports the GET subcommand");
        return;
    }
    let Some((buf, grew)) = string_for_bits(srv, c, args[1], highest) else {
        return;
    };
    let mut changes = 0u64;
    let mut replies: Vec<Option<i64>> = Vec::with_capacity(ops.len());
    for f in &ops {
        match f.op {
            FieldOp::Get => {
                let v = if f.signed {
                    get_signed(buf, f.offset, f.bits)
                } else {
                    get_unsigned(buf, f.offset, f.bits) as i64
                };
                replies.push(Some(v));
            }
            FieldOp::Set | FieldOp::Incr => {
                if f.signed {
                    let old = get_signed(buf, f.offset, f.bits);
                    let (of, newval, ret) = if f.op == FieldOp::Incr {
                        let (of, lim) = signed_overflow(old, f.value, f.bits, f.overflow);
                        let nv = if of { lim } else { old.wrapping_add(f.value) };
                        (of, nv, nv)
                    } else {
                        let (of, lim) = signed_overflow(f.value, 0, f.bits, f.overflow);
                        (of, if of { lim } else { f.value }, old)
                    };
                    if of && f.overflow == Overflow::Fail {
                        replies.push(None);
                    } else {
                        replies.push(Some(ret));
                        set_unsigned(buf, f.offset, f.bits, newval as u64);
                        if grew || old != newval {
                            changes += 1;
                        }
                    }
                } else {
                    let old = get_unsigned(buf, f.offset, f.bits);
                    let (of, newval, ret) = if f.op == FieldOp::Incr {
                        let (of, lim) = unsigned_overflow(old, f.value, f.bits, f.overflow);
                        let nv = if of {
                            lim
                        } else {
                            old.wrapping_add(f.value as u64)
                        };
                        (of, nv, nv)
                    } else {
                        let (of, lim) = unsigned_overflow(f.value as u64, 0, f.bits, f.overflow);
                        (of, if of { lim } else { f.value as u64 }, old)
                    };
                    if of && f.overflow == Overflow::Fail {
                        replies.push(None);
                    } else {
                        replies.push(Some(ret as i64));
                        set_unsigned(buf, f.offset, f.bits, newval);
                        if grew || old != newval {
                            changes += 1;
                        }
                    }
                }
            }
        }
    }
    if changes > 0 {
        srv.notify(notify::STRING, "setbit", args[1], c.db);
    }
    srv.dirty += changes;
    c.out.array(replies.len());
    for r in replies {
        match r {
            Some(v) => c.out.int(v),
            None => c.out.null(),
        }
    }
}

pub fn bitfield(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    bitfield_generic(srv, c, args, false)
}

pub fn bitfield_ro(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    bitfield_generic(srv, c, args, true)
}
