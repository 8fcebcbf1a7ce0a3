//! Reply encoder for RESP2 and RESP3, byte-for-byte as Redis 7.0 writes replies.
//!
//! `Out` is a client's pending output. Aggregate types degrade in RESP2 the way Redis degrades
//! them: maps become flat arrays, sets arrays, doubles bulk strings, null `$-1`/`*-1`.

#[derive(Default, Debug)]
pub struct Out {
    pub buf: Vec<u8>,
    /// Protocol version negotiated with HELLO (2 or 3).
    pub resp: u8,
    /// Codes of the error replies written since the server last collected them (errorstats).
    pub errors: Vec<String>,
    /// Pub/sub frames written by the running command (start, end): they reach the client even
    /// when its replies are off, as Redis's CLIENT_PUSHING allows.
    pub push_frames: Vec<(usize, usize)>,
    /// An error reply was written that errorstats must not count (see
    /// `error_counted_elsewhere`); the command still failed.
    pub failed_uncounted: bool,
}

/// Format a double as Redis's `%.17g` (through libc so that every digit matches).
pub fn fmt_g17(v: f64) -> String {
    fmt_double(v, 17)
}

/// `%.<digits>g` of `v`, with Redis's spellings of the infinities.
pub fn fmt_double(v: f64, digits: i32) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v.is_nan() {
        return "nan".into();
    }
    let mut buf = [0u8; 64];
    // SAFETY: buf is writable for its whole length, the format is NUL-terminated and takes one
    // int and one double, which are what we pass.
    let n = unsafe {
        libc::snprintf(
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
            c"%.*g".as_ptr(),
            digits as libc::c_int,
            v,
        )
    };
    String::from_utf8_lossy(&buf[..(n.max(0) as usize).min(buf.len() - 1)]).into_owned()
}

impl Out {
    pub fn new() -> Self {
        Out {
            buf: Vec::new(),
            resp: 2,
            errors: Vec::new(),
            push_frames: Vec::new(),
            failed_uncounted: false,
        }
    }

    pub fn resp3(&self) -> bool {
        self.resp >= 3
    }

    pub fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    pub fn simple(&mut self, s: &str) {
        self.buf.push(b'+');
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An error reply, as addReplyError: a message that starts with `-` carries its own code
    /// (`-WRONGTYPE ...`), any other gets `-ERR `. CR/LF become spaces so the protocol stays intact.
    pub fn error(&mut self, msg: &str) {
        let code = self.error_text(msg);
        self.errors.push(code);
    }

    /// An error reply whose error was already counted where it happened (a script passing on
    /// the error of a command it ran): the command still counts as failed, errorstats do not
    /// count it again (Redis's ERR_REPLY_FLAG_NO_STATS_UPDATE).
    pub fn error_counted_elsewhere(&mut self, msg: &str) {
        self.error_text(msg);
        self.failed_uncounted = true;
    }

    /// Write an error reply; returns its code.
    fn error_text(&mut self, msg: &str) -> String {
        let (code, body) = match msg.strip_prefix('-') {
            Some(rest) => {
                self.buf.push(b'-');
                (rest.split(' ').next().unwrap_or("ERR").to_string(), rest)
            }
            None => {
                self.buf.extend_from_slice(b"-ERR ");
                ("ERR".to_string(), msg)
            }
        };
        for &c in body.as_bytes() {
            self.buf
                .push(if c == b'\r' || c == b'\n' { b' ' } else { c });
        }
        self.buf.extend_from_slice(b"\r\n");
        code
    }

    pub fn int(&mut self, v: i64) {
        self.line(b':', v);
    }

    fn line(&mut self, prefix: u8, v: i64) {
        self.buf.push(prefix);
        self.buf.extend_from_slice(itoa_buf(v).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn bulk(&mut self, b: &[u8]) {
        self.line(b'$', b.len() as i64);
        self.buf.extend_from_slice(b);
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn bulk_str(&mut self, s: &str) {
        self.bulk(s.as_bytes());
    }

    pub fn bulk_i64(&mut self, v: i64) {
        self.bulk(itoa_buf(v).as_bytes());
    }

    /// A missing value: `$-1` in RESP2, `_` in RESP3.
    pub fn null(&mut self) {
        if self.resp3() {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"$-1\r\n");
        }
    }

    /// A missing aggregate: `*-1` in RESP2, `_` in RESP3.
    pub fn null_array(&mut self) {
        if self.resp3() {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"*-1\r\n");
        }
    }

    pub fn array(&mut self, n: usize) {
        self.line(b'*', n as i64);
    }

    /// A map of `n` pairs (`%` in RESP3, a flat array of 2n in RESP2).
    pub fn map(&mut self, n: usize) {
        if self.resp3() {
            self.line(b'%', n as i64);
        } else {
            self.line(b'*', 2 * n as i64);
        }
    }

    pub fn set(&mut self, n: usize) {
        if self.resp3() {
            self.line(b'~', n as i64);
        } else {
            self.line(b'*', n as i64);
        }
    }

    pub fn push(&mut self, n: usize) {
        if self.resp3() {
            self.line(b'>', n as i64);
        } else {
            self.line(b'*', n as i64);
        }
    }

    pub fn double(&mut self, v: f64) {
        let s = fmt_g17(v);
        if self.resp3() {
            self.buf.push(b',');
            self.buf.extend_from_slice(s.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(s.as_bytes());
        }
    }

    pub fn boolean(&mut self, v: bool) {
        if self.resp3() {
            self.buf
                .extend_from_slice(if v { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(v as i64);
        }
    }

    /// Text that RESP3 marks as verbatim (`=len\r\ntxt:...`), a bulk string in RESP2.
    pub fn verbatim(&mut self, s: &[u8]) {
        self.verbatim_with(b"txt", s);
    }

    /// A verbatim string with its three-letter format (RESP2: a bulk string).
    pub fn verbatim_with(&mut self, format: &[u8], s: &[u8]) {
        if self.resp3() {
            let mut f = [b' '; 3];
            for (d, &b) in f.iter_mut().zip(format) {
                *d = b;
            }
            self.line(b'=', s.len() as i64 + 4);
            self.buf.extend_from_slice(&f);
            self.buf.push(b':');
            self.buf.extend_from_slice(s);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(s);
        }
    }

    /// A big number (RESP2: a bulk string of its digits).
    pub fn big_number(&mut self, digits: &[u8]) {
        if self.resp3() {
            self.buf.push(b'(');
            self.buf.extend_from_slice(digits);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(digits);
        }
    }
}

/// Decimal text of an integer without going through `fmt` machinery.
pub fn itoa_buf(v: i64) -> ItoaBuf {
    let mut b = ItoaBuf {
        bytes: [0; 20],
        start: 20,
    };
    let neg = v < 0;
    let mut u = v.unsigned_abs();
    loop {
        b.start -= 1;
        b.bytes[b.start] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if neg {
        b.start -= 1;
        b.bytes[b.start] = b'-';
    }
    b
}

pub struct ItoaBuf {
    bytes: [u8; 20],
    start: usize,
}

impl ItoaBuf {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[self.start..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp2_and_resp3_encodings() {
        let mut o = Out::new();
        o.null();
        o.map(1);
        o.double(1.5);
        o.int(-12);
        o.error("-WRONGTYPE Operation");
        o.error("unknown thing");
        assert_eq!(
            o.buf,
            b"$-1\r\n*2\r\n$3\r\n1.5\r\n:-12\r\n-WRONGTYPE Operation\r\n-ERR unknown thing\r\n"
        );
        let mut o = Out::new();
        o.resp = 3;
        o.null();
        o.map(1);
        o.double(f64::INFINITY);
        o.boolean(true);
        assert_eq!(o.buf, b"_\r\n%1\r\n,inf\r\n#t\r\n");
    }

    #[test]
    fn g17_matches_printf() {
        assert_eq!(fmt_g17(0.1), "0.10000000000000001");
        assert_eq!(fmt_g17(3.0), "3");
        assert_eq!(fmt_g17(1e20), "1e+20");
        assert_eq!(itoa_buf(i64::MIN).as_bytes(), b"-9223372036854775808");
    }
}
