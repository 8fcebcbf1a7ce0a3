//! `propagate`: the one exit of every data change (DESIGN §5).
//!
//! Commands and the expiry code call `also_propagate` with the effect to record (already in the
//! form Redis 7.0 writes: absolute expiry times, DEL for expired keys, ...). At the end of each
//! command the server calls `flush_command`, which writes the collected effects in RESP to the
//! stream, with a `SELECT` whenever the database changes and `MULTI`/`EXEC` around a command
//! that produced more than one effect (as Redis 7.0's propagatePendingCommands). The stream's
//! length is the propagation offset that stamps client output (DESIGN §6).
//!
//! Consumers (the AOF, the rewrite buffer, tests) read `stream`; with no consumer the bytes are
//! dropped at the end of each loop iteration but the offset keeps counting.

#[derive(Default)]
pub struct Propagator {
    /// RESP bytes produced since the consumers last took them (only kept when `keep_stream`).
    pub stream: Vec<u8>,
    /// Total bytes ever produced: the propagation offset.
    pub offset: u64,
    /// Database the stream last selected (None: the next effect starts with SELECT).
    selected: Option<usize>,
    /// Effects of the running command, already encoded: (db, range in `pending_buf`).
    pending: Vec<(usize, std::ops::Range<usize>)>,
    pending_buf: Vec<u8>,
    /// Keep the stream for a reader (tests; later the AOF). Without one only the offset moves.
    pub keep_stream: bool,
}

impl Propagator {
    /// Record an effect of the running command on database `db`.
    pub fn also_propagate(&mut self, db: usize, argv: &[&[u8]]) {
        let start = self.pending_buf.len();
        write_command(&mut self.pending_buf, argv);
        self.pending.push((db, start..self.pending_buf.len()));
    }

    /// Write the effects collected for one command. `wrap` allows MULTI/EXEC around several.
    pub fn flush_command(&mut self, wrap: bool) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        let buf = std::mem::take(&mut self.pending_buf);
        let transaction = wrap && pending.len() > 1;
        if transaction {
            self.emit(pending[0].0, MULTI);
        }
        for (db, range) in &pending {
            self.emit(*db, &buf[range.clone()]);
        }
        if transaction {
            self.emit(pending[pending.len() - 1].0, EXEC);
        }
        // Keep the allocations for the next command.
        self.pending = pending;
        self.pending.clear();
        self.pending_buf = buf;
        self.pending_buf.clear();
    }

    fn emit(&mut self, db: usize, encoded: &[u8]) {
        if self.selected != Some(db) {
            let d = db.to_string();
            let mut sel = Vec::with_capacity(32);
            write_command(&mut sel, &[b"SELECT", d.as_bytes()]);
            self.append(&sel);
            self.selected = Some(db);
        }
        self.append(encoded);
    }

    fn append(&mut self, bytes: &[u8]) {
        if self.keep_stream {
            self.stream.extend_from_slice(bytes);
        }
        self.offset += bytes.len() as u64;
    }

    /// Forget which database is selected, so the next effect starts with SELECT (a new AOF or
    /// rewrite buffer must be self-contained).
    pub fn reset_selected(&mut self) {
        self.selected = None;
    }

    /// Drop the bytes no consumer wants (end of loop iteration).
    pub fn discard_unread(&mut self) {
        if !self.keep_stream {
            self.stream.clear();
        }
    }
}

const MULTI: &[u8] = b"*1\r\n$5\r\nMULTI\r\n";
const EXEC: &[u8] = b"*1\r\n$4\r\nEXEC\r\n";

/// Append `argv` as a RESP multibulk command.
pub fn write_command(out: &mut Vec<u8>, argv: &[&[u8]]) {
    out.push(b'*');
    out.extend_from_slice(crate::resp::writer::itoa_buf(argv.len() as i64).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in argv {
        out.push(b'$');
        out.extend_from_slice(crate::resp::writer::itoa_buf(a.len() as i64).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_then_wrapped_effects() {
        let mut p = Propagator {
            keep_stream: true,
            ..Default::default()
        };
        p.also_propagate(0, &[b"DEL", b"k"]);
        p.also_propagate(0, &[b"SET", b"k", b"v"]);
        p.flush_command(true);
        p.also_propagate(0, &[b"DEL", b"x"]);
        p.flush_command(true);
        let s = String::from_utf8(p.stream.clone()).unwrap();
        assert_eq!(
            s,
            "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*1\r\n$5\r\nMULTI\r\n*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n\
             *3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*1\r\n$4\r\nEXEC\r\n*2\r\n$3\r\nDEL\r\n$1\r\nx\r\n"
        );
        assert_eq!(p.offset as usize, s.len());
    }
}
