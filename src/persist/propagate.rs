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
    /// RESP bytes produced since the consumers last took them.
    pub stream: Vec<u8>,
    /// Total bytes ever produced: the propagation offset.
    pub offset: u64,
    /// Database the stream last selected (None: the next effect starts with SELECT).
    selected: Option<usize>,
    pending: Vec<(usize, Vec<Vec<u8>>)>,
    /// Keep the stream for a reader (tests; later the AOF). Otherwise it is discarded per iteration.
    pub keep_stream: bool,
}

impl Propagator {
    /// Record an effect of the running command on database `db`.
    pub fn also_propagate(&mut self, db: usize, argv: Vec<Vec<u8>>) {
        self.pending.push((db, argv));
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Write the effects collected for one command. `wrap` allows MULTI/EXEC around several.
    pub fn flush_command(&mut self, wrap: bool) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        let transaction = wrap && pending.len() > 1;
        if transaction {
            self.emit(pending[0].0, &[b"MULTI".to_vec()]);
        }
        for (db, argv) in &pending {
            self.emit(*db, argv);
        }
        if transaction {
            self.emit(pending[pending.len() - 1].0, &[b"EXEC".to_vec()]);
        }
    }

    fn emit(&mut self, db: usize, argv: &[Vec<u8>]) {
        let before = self.stream.len();
        if self.selected != Some(db) {
            let d = db.to_string();
            write_command(&mut self.stream, &[b"SELECT", d.as_bytes()]);
            self.selected = Some(db);
        }
        let refs: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
        write_command(&mut self.stream, &refs);
        self.offset += (self.stream.len() - before) as u64;
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
        p.also_propagate(0, vec![b"DEL".to_vec(), b"k".to_vec()]);
        p.also_propagate(0, vec![b"SET".to_vec(), b"k".to_vec(), b"v".to_vec()]);
        p.flush_command(true);
        p.also_propagate(0, vec![b"DEL".to_vec(), b"x".to_vec()]);
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
