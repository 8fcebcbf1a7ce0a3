//! The slow log (DESIGN §10): commands that ran for at least `slowlog-log-slower-than`
//! microseconds, newest first, at most `slowlog-max-len` of them, with the arguments the
//! client sent (long argument lists and long arguments trimmed as Redis 7.0 trims them).

use std::collections::VecDeque;

/// Arguments kept per entry; the last slot then says how many more there were.
const MAX_ARGS: usize = 32;
/// Bytes kept per argument; the rest is summarised.
const MAX_ARG_BYTES: usize = 128;

pub struct SlowEntry {
    pub id: u64,
    /// Unix time in seconds when the entry was made.
    pub time: i64,
    pub duration_us: u64,
    pub argv: Vec<Vec<u8>>,
    /// The client's address, ip:port.
    pub peer: String,
    pub name: Vec<u8>,
}

#[derive(Default)]
pub struct SlowLog {
    /// Newest first.
    pub entries: VecDeque<SlowEntry>,
    next_id: u64,
}

impl SlowLog {
    /// Record a command if it ran for `threshold_us` or more (a negative threshold disables
    /// the log), then trim to `max_len`.
    #[allow(clippy::too_many_arguments)]
    pub fn push_if_slow(
        &mut self,
        threshold_us: i64,
        max_len: usize,
        duration_us: u64,
        args: &[&[u8]],
        peer: &str,
        name: Option<&[u8]>,
        now_secs: i64,
    ) {
        if threshold_us < 0 {
            return;
        }
        if duration_us >= threshold_us as u64 {
            self.entries.push_front(SlowEntry {
                id: self.next_id,
                time: now_secs,
                duration_us,
                argv: trimmed_args(args),
                peer: peer.to_string(),
                name: name.unwrap_or_default().to_vec(),
            });
            self.next_id += 1;
        }
        self.entries.truncate(max_len);
    }

    pub fn reset(&mut self) {
        self.entries.clear();
    }
}

/// The arguments as the slow log keeps them.
fn trimmed_args(args: &[&[u8]]) -> Vec<Vec<u8>> {
    let kept = args.len().min(MAX_ARGS);
    (0..kept)
        .map(|j| {
            if kept != args.len() && j == kept - 1 {
                format!("... ({} more arguments)", args.len() - kept + 1).into_bytes()
            } else if args[j].len() > MAX_ARG_BYTES {
                let mut a = args[j][..MAX_ARG_BYTES].to_vec();
                a.extend_from_slice(
                    format!("... ({} more bytes)", args[j].len() - MAX_ARG_BYTES).as_bytes(),
                );
                a
            } else {
                args[j].to_vec()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_long_argument_lists_and_long_arguments() {
        let many: Vec<Vec<u8>> = (0..35).map(|i| i.to_string().into_bytes()).collect();
        let refs: Vec<&[u8]> = many.iter().map(|a| a.as_slice()).collect();
        let t = trimmed_args(&refs);
        assert_eq!(t.len(), 32);
        assert_eq!(t[30], b"30");
        assert_eq!(t[31], b"... (4 more arguments)");
        let long = vec![b'A'; 130];
        let t = trimmed_args(&[b"set", &long]);
        assert_eq!(t[1].len(), 128 + "... (2 more bytes)".len());
        assert!(t[1].ends_with(b"AAA... (2 more bytes)"));
    }

    #[test]
    fn keeps_the_newest_entries_and_can_be_disabled() {
        let mut log = SlowLog::default();
        for i in 0..5u64 {
            log.push_if_slow(10, 3, 10 + i, &[b"ping"], "127.0.0.1:1", None, 0);
        }
        log.push_if_slow(10, 3, 9, &[b"fast"], "127.0.0.1:1", None, 0);
        let ids: Vec<u64> = log.entries.iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![4, 3, 2]);
        log.push_if_slow(-1, 3, 1_000_000, &[b"slow"], "127.0.0.1:1", None, 0);
        assert_eq!(log.entries.len(), 3);
        log.push_if_slow(10, 1, 5, &[b"fast"], "127.0.0.1:1", None, 0);
        assert_eq!(log.entries.len(), 1);
    }
}
