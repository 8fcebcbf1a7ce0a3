//! Counters reported by INFO stats/commandstats/errorstats, reset by CONFIG RESETSTAT.

use std::collections::BTreeMap;

#[derive(Default, Clone, Debug)]
pub struct CommandStat {
    pub calls: u64,
    pub usec: u64,
    pub rejected_calls: u64,
    pub failed_calls: u64,
}

#[derive(Default)]
pub struct Stats {
    pub total_connections: u64,
    pub total_commands: u64,
    pub rejected_conn: u64,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
    pub expired_keys: u64,
    pub evicted_keys: u64,
    /// Connections closed by client eviction (maxmemory-clients).
    pub evicted_clients: u64,
    pub expired_stale_perc: f64,
    pub expired_time_cap_reached: u64,
    pub expire_cycle_cpu_ms: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub total_error_replies: u64,
    pub unexpected_error_replies: u64,
    pub client_qbuf_limit_disconnections: u64,
    pub client_outbuf_limit_disconnections: u64,
    pub io_reads_processed: u64,
    pub io_writes_processed: u64,
    /// Per command, keyed by the address of its static definition (no allocation per call).
    pub commands: std::collections::HashMap<usize, (&'static crate::cmd::CommandDef, CommandStat)>,
    /// Error replies by their code ("ERR", "WRONGTYPE").
    pub errors: BTreeMap<String, u64>,
    /// Instantaneous metrics: ring of (time ms, commands, net in, net out) samples.
    pub samples: std::collections::VecDeque<(i64, u64, u64, u64)>,
}

/// Errorstats keeps at most this many distinct codes, as Redis (ERRORSTATS_LIMIT).
pub const ERRORSTATS_LIMIT: usize = 128;

impl Stats {
    pub fn command(&mut self, def: &'static crate::cmd::CommandDef) -> &mut CommandStat {
        let key = def as *const _ as usize;
        &mut self
            .commands
            .entry(key)
            .or_insert_with(|| (def, CommandStat::default()))
            .1
    }

    /// Command stats sorted by full name (INFO commandstats).
    pub fn commands_sorted(&self) -> Vec<(String, CommandStat)> {
        let mut v: Vec<(String, CommandStat)> = self
            .commands
            .values()
            .map(|(d, s)| (d.full_name(), s.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    pub fn reset(&mut self) {
        let samples = std::mem::take(&mut self.samples);
        *self = Stats::default();
        self.samples = samples;
    }

    /// Count an error reply by its code.
    pub fn count_error(&mut self, code: &str) {
        self.total_error_replies += 1;
        if let Some(n) = self.errors.get_mut(code) {
            *n += 1;
        } else if self.errors.len() < ERRORSTATS_LIMIT {
            self.errors.insert(code.to_string(), 1);
        }
    }

    pub fn sample(&mut self, now_ms: i64) {
        self.samples.push_back((
            now_ms,
            self.total_commands,
            self.net_input_bytes,
            self.net_output_bytes,
        ));
        while self.samples.len() > 16 {
            self.samples.pop_front();
        }
    }

    /// Per-second rates over the sample window: (ops, input KB/s, output KB/s).
    pub fn instantaneous(&self) -> (u64, f64, f64) {
        let (Some(first), Some(last)) = (self.samples.front(), self.samples.back()) else {
            return (0, 0.0, 0.0);
        };
        let dt = (last.0 - first.0) as f64 / 1000.0;
        if dt <= 0.0 {
            return (0, 0.0, 0.0);
        }
        (
            ((last.1 - first.1) as f64 / dt) as u64,
            (last.2 - first.2) as f64 / dt / 1024.0,
            (last.3 - first.3) as f64 / dt / 1024.0,
        )
    }
}
