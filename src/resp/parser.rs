//! Incremental RESP request parser (multibulk and inline), as Redis 7.0 reads requests.
//!
//! The parser keeps its progress between reads (`RequestParser`), so a command that arrives in many
//! small pieces is scanned once, not once per read. Arguments are ranges into the caller's query
//! buffer: nothing is copied until a command executes. A declared bulk length only bounds what we
//! wait for; the buffer grows with the bytes that really arrive, never up front.

use std::ops::Range;

/// Longest inline request or length line Redis accepts (PROTO_INLINE_MAX_SIZE).
pub const INLINE_MAX: usize = 64 * 1024;
/// Most arguments an unauthenticated client may declare.
const UNAUTH_MAX_ARGS: i64 = 10;
/// Longest bulk an unauthenticated client may declare.
const UNAUTH_MAX_BULK: i64 = 16384;

/// What one call to [`RequestParser::parse`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole command: its arguments are in `RequestParser::args` (may be empty: skip it).
    Command,
    /// More bytes are needed.
    Incomplete,
    /// A protocol error: reply with this text (without the leading `-`) and close the client.
    Error(String),
}

/// Limits the parser enforces, from the config and the client's auth state.
#[derive(Clone, Copy, Debug)]
pub struct ParseLimits {
    pub proto_max_bulk_len: i64,
    pub authenticated: bool,
}

/// A request in progress: what has been parsed of the current command.
#[derive(Debug)]
pub struct RequestParser {
    /// Bulk arguments still expected; 0 when no multibulk command is open.
    multibulk_left: i64,
    /// Length of the bulk being read, or -1 while its `$len` line is unread.
    bulk_len: i64,
    /// Argument ranges in the query buffer (multibulk) or owned copies (inline).
    arg_ranges: Vec<Range<usize>>,
    inline_args: Vec<Vec<u8>>,
    inline: bool,
}

impl Default for RequestParser {
    fn default() -> Self {
        RequestParser {
            multibulk_left: 0,
            bulk_len: -1,
            arg_ranges: Vec::new(),
            inline_args: Vec::new(),
            inline: false,
        }
    }
}

fn find_byte(buf: &[u8], from: usize, b: u8) -> Option<usize> {
    buf[from..].iter().position(|&c| c == b).map(|i| i + from)
}

/// Redis's `string2ll`: a strict decimal integer (no spaces, no `+`, no leading zeros).
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = if s[0] == b'-' {
        (true, &s[1..])
    } else {
        (false, s)
    };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > (i64::MAX as u64) + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        if v > i64::MAX as u64 {
            return None;
        }
        Some(v as i64)
    }
}

impl RequestParser {
    /// True while a command has been partly read.
    pub fn in_progress(&self) -> bool {
        self.multibulk_left > 0
    }

    /// The arguments of the command `parse` just returned, as slices of `buf`.
    pub fn args<'a>(&'a self, buf: &'a [u8], out: &mut Vec<&'a [u8]>) {
        out.clear();
        if self.inline {
            out.extend(self.inline_args.iter().map(|a| a.as_slice()));
        } else {
            out.extend(self.arg_ranges.iter().map(|r| &buf[r.clone()]));
        }
    }

    /// Move the arguments of the command just parsed into the caller's vectors (swapping
    /// storage, so no allocation in the steady state) and reset for the next command.
    /// Returns true for an inline command (its arguments are in `inline`).
    pub fn take_args(&mut self, ranges: &mut Vec<Range<usize>>, inline: &mut Vec<Vec<u8>>) -> bool {
        ranges.clear();
        inline.clear();
        std::mem::swap(ranges, &mut self.arg_ranges);
        std::mem::swap(inline, &mut self.inline_args);
        let was_inline = self.inline;
        self.reset();
        was_inline
    }

    /// Forget the command just executed.
    pub fn reset(&mut self) {
        self.multibulk_left = 0;
        self.bulk_len = -1;
        self.arg_ranges.clear();
        self.inline_args.clear();
        self.inline = false;
    }

    /// The query buffer is about to drop its first `n` bytes: shift the ranges of a partial command.
    pub fn shift(&mut self, n: usize) {
        for r in &mut self.arg_ranges {
            r.start -= n;
            r.end -= n;
        }
    }

    /// The earliest buffer position the parser still refers to (what compaction must keep).
    pub fn keep_from(&self, pos: usize) -> usize {
        self.arg_ranges.first().map_or(pos, |r| r.start.min(pos))
    }

    /// Parse from `*pos` in `buf`; on `Command` the arguments are ready and `*pos` is past them.
    pub fn parse(&mut self, buf: &[u8], pos: &mut usize, limits: ParseLimits) -> Parsed {
        if self.multibulk_left == 0 {
            self.reset();
            if *pos >= buf.len() {
                return Parsed::Incomplete;
            }
            if buf[*pos] != b'*' {
                return self.parse_inline(buf, pos);
            }
            let Some(cr) = find_byte(buf, *pos, b'\r') else {
                if buf.len() - *pos > INLINE_MAX {
                    return Parsed::Error("Protocol error: too big mbulk count string".into());
                }
                return Parsed::Incomplete;
            };
            if cr + 1 >= buf.len() {
                return Parsed::Incomplete;
            }
            let n = match parse_i64(&buf[*pos + 1..cr]) {
                Some(n) if n <= i32::MAX as i64 => n,
                _ => return Parsed::Error("Protocol error: invalid multibulk length".into()),
            };
            if n > UNAUTH_MAX_ARGS && !limits.authenticated {
                return Parsed::Error("Protocol error: unauthenticated multibulk length".into());
            }
            *pos = cr + 2;
            if n <= 0 {
                return Parsed::Command; // empty command: the caller skips it
            }
            self.multibulk_left = n;
            self.arg_ranges.reserve(n.min(1024) as usize);
        }
        while self.multibulk_left > 0 {
            if self.bulk_len == -1 {
                let Some(cr) = find_byte(buf, *pos, b'\r') else {
                    if buf.len() - *pos > INLINE_MAX {
                        return Parsed::Error("Protocol error: too big bulk count string".into());
                    }
                    return Parsed::Incomplete;
                };
                if cr + 1 >= buf.len() {
                    return Parsed::Incomplete;
                }
                if buf[*pos] != b'$' {
                    return Parsed::Error(format!(
                        "Protocol error: expected '$', got '{}'",
                        buf[*pos] as char
                    ));
                }
                let len = match parse_i64(&buf[*pos + 1..cr]) {
                    Some(l) if l >= 0 && l <= limits.proto_max_bulk_len => l,
                    _ => return Parsed::Error("Protocol error: invalid bulk length".into()),
                };
                if len > UNAUTH_MAX_BULK && !limits.authenticated {
                    return Parsed::Error("Protocol error: unauthenticated bulk length".into());
                }
                *pos = cr + 2;
                self.bulk_len = len;
            }
            let need = self.bulk_len as usize + 2;
            if buf.len() - *pos < need {
                return Parsed::Incomplete;
            }
            self.arg_ranges.push(*pos..*pos + self.bulk_len as usize);
            *pos += need;
            self.bulk_len = -1;
            self.multibulk_left -= 1;
        }
        Parsed::Command
    }

    fn parse_inline(&mut self, buf: &[u8], pos: &mut usize) -> Parsed {
        let Some(nl) = find_byte(buf, *pos, b'\n') else {
            if buf.len() - *pos > INLINE_MAX {
                return Parsed::Error("Protocol error: too big inline request".into());
            }
            return Parsed::Incomplete;
        };
        let mut end = nl;
        if end > *pos && buf[end - 1] == b'\r' {
            end -= 1;
        }
        match split_args(&buf[*pos..end]) {
            Some(args) => {
                *pos = nl + 1;
                self.inline = true;
                self.inline_args = args;
                Parsed::Command
            }
            None => Parsed::Error("Protocol error: unbalanced quotes in request".into()),
        }
    }
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Split a line into arguments the way `redis-cli` and `redis.conf` do: blanks separate,
/// "double quotes" take `\n \r \t \b \a \xHH` escapes, 'single quotes' take `\'`.
/// A closing quote must be followed by a blank or the end. `None` on unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut i = 0;
    let at = |i: usize| -> u8 { line.get(i).copied().unwrap_or(0) };
    let is_space = |c: u8| matches!(c, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c);
    loop {
        while i < line.len() && is_space(line[i]) {
            i += 1;
        }
        if i >= line.len() {
            return Some(out);
        }
        let mut cur = Vec::new();
        let (mut inq, mut insq) = (false, false);
        loop {
            let c = at(i);
            if inq {
                if c == b'\\'
                    && at(i + 1) == b'x'
                    && let (Some(h), Some(l)) = (hex_val(at(i + 2)), hex_val(at(i + 3)))
                {
                    cur.push(h * 16 + l);
                    i += 4;
                    continue;
                }
                if c == b'\\' && i + 1 < line.len() {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        o => o,
                    });
                } else if c == b'"' {
                    if i + 1 < line.len() && !is_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else if i >= line.len() {
                    return None;
                } else {
                    cur.push(c);
                }
            } else if insq {
                if c == b'\\' && at(i + 1) == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < line.len() && !is_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else if i >= line.len() {
                    return None;
                } else {
                    cur.push(c);
                }
            } else {
                if i >= line.len() || matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                    break;
                }
                match c {
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    _ => cur.push(c),
                }
            }
            i += 1;
        }
        out.push(cur);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIM: ParseLimits = ParseLimits {
        proto_max_bulk_len: 512 * 1024 * 1024,
        authenticated: true,
    };

    fn parse_all(data: &[u8]) -> (Vec<Vec<Vec<u8>>>, Option<String>) {
        let mut p = RequestParser::default();
        let mut pos = 0;
        let mut cmds = Vec::new();
        loop {
            match p.parse(data, &mut pos, LIM) {
                Parsed::Command => {
                    let mut v = Vec::new();
                    p.args(data, &mut v);
                    cmds.push(v.iter().map(|a| a.to_vec()).collect());
                    p.reset();
                }
                Parsed::Incomplete => return (cmds, None),
                Parsed::Error(e) => return (cmds, Some(e)),
            }
        }
    }

    #[test]
    fn multibulk_and_inline() {
        let (c, e) = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\nset a \"b c\"\n");
        assert!(e.is_none());
        assert_eq!(c[0], vec![b"GET".to_vec(), b"k".to_vec()]);
        assert_eq!(c[1], vec![b"PING".to_vec()]);
        assert_eq!(c[2], vec![b"set".to_vec(), b"a".to_vec(), b"b c".to_vec()]);
    }

    #[test]
    fn protocol_errors_match_redis() {
        assert_eq!(
            parse_all(b"*abc\r\n").1.unwrap(),
            "Protocol error: invalid multibulk length"
        );
        assert_eq!(
            parse_all(b"*1\r\n$-5\r\n").1.unwrap(),
            "Protocol error: invalid bulk length"
        );
        assert_eq!(
            parse_all(b"*1\r\nfoo\r\n").1.unwrap(),
            "Protocol error: expected '$', got 'f'"
        );
        assert_eq!(
            parse_all(b"set \"a\r\n").1.unwrap(),
            "Protocol error: unbalanced quotes in request"
        );
        let big = vec![b'a'; INLINE_MAX + 1];
        assert_eq!(
            parse_all(&big).1.unwrap(),
            "Protocol error: too big inline request"
        );
    }

    #[test]
    fn split_args_escapes() {
        assert_eq!(
            split_args(b"\"\\x41\\n\" 'it\\'s'").unwrap(),
            vec![b"A\n".to_vec(), b"it's".to_vec()]
        );
        assert!(split_args(b"\"a\"b").is_none());
        assert_eq!(split_args(b"   ").unwrap().len(), 0);
    }

    #[test]
    fn huge_declared_bulk_is_incomplete_not_allocated() {
        let mut p = RequestParser::default();
        let mut pos = 0;
        let data = b"*1\r\n$500000000\r\nabc";
        assert_eq!(p.parse(data, &mut pos, LIM), Parsed::Incomplete);
        assert!(p.arg_ranges.capacity() < 2048);
    }

    proptest! {
        /// Any split of a pipelined stream into pieces parses to the same commands.
        #[test]
        fn split_reads_parse_the_same(
            cmds in prop::collection::vec(prop::collection::vec(prop::collection::vec(any::<u8>(), 0..20), 1..5), 1..10),
            cut in 0usize..1000,
        ) {
            let mut wire = Vec::new();
            for c in &cmds {
                wire.extend_from_slice(format!("*{}\r\n", c.len()).as_bytes());
                for a in c {
                    wire.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                    wire.extend_from_slice(a);
                    wire.extend_from_slice(b"\r\n");
                }
            }
            let cut = cut % (wire.len() + 1);
            let mut p = RequestParser::default();
            let mut buf = wire[..cut].to_vec();
            let mut pos = 0;
            let mut got: Vec<Vec<Vec<u8>>> = Vec::new();
            for phase in 0..2 {
                loop {
                    match p.parse(&buf, &mut pos, LIM) {
                        Parsed::Command => {
                            let mut v = Vec::new();
                            p.args(&buf, &mut v);
                            got.push(v.iter().map(|a| a.to_vec()).collect());
                            p.reset();
                        }
                        Parsed::Incomplete => break,
                        Parsed::Error(e) => panic!("{e}"),
                    }
                }
                if phase == 0 {
                    let keep = p.keep_from(pos);
                    buf.drain(..keep);
                    p.shift(keep);
                    pos -= keep;
                    buf.extend_from_slice(&wire[cut..]);
                }
            }
            prop_assert_eq!(got, cmds);
        }
    }
}
