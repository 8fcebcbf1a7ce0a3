//! INFO: Redis 7.0's sections and field names. Only fields forkv can fill truthfully are
//! printed; `forkv_version` is added to the server section.

use super::Server;
use crate::config::P;
use std::fmt::Write;

/// Every section, in the order INFO prints them.
const SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "cluster",
    "keyspace",
];
/// Sections only `all`/`everything` (or naming them) select.
const NOT_DEFAULT: &[&str] = &["commandstats"];

/// Redis's bytesToHuman.
pub fn bytes_human(n: u64) -> String {
    let n = n as f64;
    let k = 1024.0;
    if n < k {
        format!("{}B", n as u64)
    } else if n < k * k {
        format!("{:.2}K", n / k)
    } else if n < k * k * k {
        format!("{:.2}M", n / (k * k))
    } else if n < k * k * k * k {
        format!("{:.2}G", n / (k * k * k))
    } else if n < k * k * k * k * k {
        format!("{:.2}T", n / (k * k * k * k))
    } else {
        format!("{:.2}P", n / (k * k * k * k * k))
    }
}

fn rusage(who: i32) -> (f64, f64) {
    // SAFETY: getrusage fills the zeroed struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_stime), t(ru.ru_utime))
}

fn uname() -> (String, String, String) {
    // SAFETY: uname fills the zeroed struct; its fields are NUL-terminated C strings.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        libc::uname(&mut u);
        let s = |f: &[libc::c_char]| {
            std::ffi::CStr::from_ptr(f.as_ptr())
                .to_string_lossy()
                .into_owned()
        };
        (s(&u.sysname), s(&u.release), s(&u.machine))
    }
}

fn total_system_memory() -> u64 {
    let s = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

impl Server {
    /// Which sections a list of INFO arguments selects (lower-case names).
    pub fn info_sections(args: &[&[u8]]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let add = |s: &str, out: &mut Vec<String>| {
            if !out.iter().any(|x| x == s) {
                out.push(s.to_string());
            }
        };
        let defaults = SECTIONS.iter().filter(|s| !NOT_DEFAULT.contains(s));
        if args.is_empty() {
            defaults.for_each(|s| add(s, &mut out));
            return out;
        }
        for a in args {
            let a = String::from_utf8_lossy(a).to_ascii_lowercase();
            match a.as_str() {
                "default" => defaults.clone().for_each(|s| add(s, &mut out)),
                "all" | "everything" => SECTIONS.iter().for_each(|s| add(s, &mut out)),
                other => add(other, &mut out),
            }
        }
        out
    }

    pub fn info_string(&self, sections: &[String]) -> String {
        let mut s = String::new();
        for &name in SECTIONS {
            if !sections.iter().any(|x| x == name) {
                continue;
            }
            if !s.is_empty() {
                s.push_str("\r\n");
            }
            self.info_section(name, &mut s);
        }
        s
    }

    fn info_section(&self, name: &str, s: &mut String) {
        let now_us = super::now_us();
        match name {
            "server" => {
                let (sys, rel, mach) = uname();
                let uptime = self.uptime_secs();
                let port = self
                    .listeners
                    .first()
                    .map_or(self.cfg.int(P::Port), |l| l.addr.port() as i64);
                let _ = write!(
                    s,
                    "# Server\r\nredis_version:{}\r\nredis_git_sha1:{}\r\nredis_git_dirty:{}\r\nredis_build_id:{}\r\nredis_mode:standalone\r\nos:{} {} {}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:io_uring\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nlru_clock:{}\r\nexecutable:{}\r\nconfig_file:{}\r\nio_threads_active:0\r\nforkv_version:{}\r\n",
                    super::VERSION,
                    env!("FORKV_GIT_SHA1"),
                    env!("FORKV_GIT_DIRTY"),
                    env!("FORKV_BUILD_ID"),
                    sys,
                    rel,
                    mach,
                    std::process::id(),
                    self.run_id,
                    port,
                    now_us,
                    uptime,
                    uptime / 86400,
                    self.hz(),
                    self.cfg.int(P::Hz),
                    crate::db::lru_clock(now_us / 1000),
                    self.executable,
                    self.config_file,
                    super::FORKV_VERSION,
                );
            }
            "clients" => {
                let mut max_in = 0;
                let mut max_out = 0;
                for c in self.clients.iter().flatten() {
                    max_in = max_in.max(c.qbuf_peak.max(c.qbuf.len()));
                    max_out = max_out.max(c.output_bytes());
                }
                let _ = write!(
                    s,
                    "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:{}\r\nclient_recent_max_output_buffer:{}\r\nblocked_clients:{}\r\ntracking_clients:0\r\nclients_in_timeout_table:{}\r\n",
                    self.connected_clients(),
                    self.cfg.int(P::Maxclients),
                    max_in,
                    max_out,
                    self.blocking.blocked_clients,
                    self.blocking.timeouts_len(),
                );
            }
            "memory" => {
                let used = crate::alloc::used_memory() as u64;
                let peak = crate::alloc::peak_memory() as u64;
                let rss = crate::alloc::rss_bytes() as u64;
                let total = total_system_memory();
                let lua = self.scripting.eval.vm.memory() as u64;
                let scripts = self.scripting.eval.scripts_bytes as u64;
                let funcs = &self.scripting.functions;
                let vm_functions = funcs.vm.memory() as u64;
                let functions_bytes = funcs.code_bytes() as u64;
                let frag = if used > 0 {
                    rss as f64 / used as f64
                } else {
                    0.0
                };
                let _ = write!(
                    s,
                    "# Memory\r\nused_memory:{}\r\nused_memory_human:{}\r\nused_memory_rss:{}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{}\r\nused_memory_peak_human:{}\r\nused_memory_peak_perc:{:.2}%\r\ntotal_system_memory:{}\r\ntotal_system_memory_human:{}\r\nused_memory_lua:{}\r\nused_memory_vm_eval:{}\r\nused_memory_lua_human:{}\r\nused_memory_scripts_eval:{}\r\nnumber_of_cached_scripts:{}\r\nnumber_of_functions:{}\r\nnumber_of_libraries:{}\r\nused_memory_vm_functions:{}\r\nused_memory_vm_total:{}\r\nused_memory_vm_total_human:{}\r\nused_memory_functions:{}\r\nused_memory_scripts:{}\r\nused_memory_scripts_human:{}\r\nmaxmemory:{}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nmem_fragmentation_ratio:{:.2}\r\nmem_fragmentation_bytes:{}\r\nmem_allocator:libc\r\n",
                    used,
                    bytes_human(used),
                    rss,
                    bytes_human(rss),
                    peak,
                    bytes_human(peak),
                    if peak > 0 {
                        used as f64 * 100.0 / peak as f64
                    } else {
                        0.0
                    },
                    total,
                    bytes_human(total),
                    lua,
                    lua,
                    bytes_human(lua),
                    scripts,
                    self.scripting.eval.scripts.len(),
                    funcs.function_count(),
                    funcs.libs.len(),
                    vm_functions,
                    lua + vm_functions,
                    bytes_human(lua + vm_functions),
                    functions_bytes,
                    scripts + functions_bytes,
                    bytes_human(scripts + functions_bytes),
                    self.cfg.int(P::Maxmemory),
                    bytes_human(self.cfg.int(P::Maxmemory) as u64),
                    self.cfg.enum_name(P::MaxmemoryPolicy),
                    frag,
                    rss as i64 - used as i64,
                );
            }
            "persistence" => self.info_persistence(s),
            "stats" => {
                let st = &self.stats;
                let (ops, kin, kout) = st.instantaneous();
                let _ = write!(
                    s,
                    "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\ntotal_net_repl_input_bytes:0\r\ntotal_net_repl_output_bytes:0\r\ninstantaneous_input_kbps:{:.2}\r\ninstantaneous_output_kbps:{:.2}\r\ninstantaneous_input_repl_kbps:0.00\r\ninstantaneous_output_repl_kbps:0.00\r\nrejected_connections:{}\r\nsync_full:0\r\nsync_partial_ok:0\r\nsync_partial_err:0\r\nexpired_keys:{}\r\nexpired_stale_perc:{:.2}\r\nexpired_time_cap_reached_count:{}\r\nexpire_cycle_cpu_milliseconds:{}\r\nevicted_keys:{}\r\nevicted_clients:{}\r\ntotal_eviction_exceeded_time:0\r\ncurrent_eviction_exceeded_time:0\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\npubsubshard_channels:{}\r\nlatest_fork_usec:{}\r\ntotal_forks:{}\r\nmigrate_cached_sockets:{}\r\nslave_expires_tracked_keys:0\r\ntracking_total_keys:0\r\ntracking_total_items:0\r\ntracking_total_prefixes:0\r\nunexpected_error_replies:{}\r\ntotal_error_replies:{}\r\ndump_payload_sanitizations:0\r\ntotal_reads_processed:{}\r\ntotal_writes_processed:{}\r\nio_threaded_reads_processed:0\r\nio_threaded_writes_processed:0\r\nclient_query_buffer_limit_disconnections:{}\r\nclient_output_buffer_limit_disconnections:{}\r\n",
                    st.total_connections,
                    st.total_commands,
                    ops,
                    st.net_input_bytes,
                    st.net_output_bytes,
                    kin,
                    kout,
                    st.rejected_conn,
                    st.expired_keys,
                    st.expired_stale_perc,
                    st.expired_time_cap_reached,
                    st.expire_cycle_cpu_ms,
                    st.evicted_keys,
                    st.evicted_clients,
                    st.keyspace_hits,
                    st.keyspace_misses,
                    self.pubsub.channels.len(),
                    self.pubsub.patterns.len(),
                    self.pubsub.shard_channels.len(),
                    self.rdb.fork_usec,
                    self.rdb.total_forks,
                    self.migrate_sockets.len(),
                    st.unexpected_error_replies,
                    st.total_error_replies,
                    st.io_reads_processed,
                    st.io_writes_processed,
                    st.client_qbuf_limit_disconnections,
                    st.client_outbuf_limit_disconnections,
                );
            }
            "replication" => {
                let _ = write!(
                    s,
                    "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_replid:{}\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\nrepl_backlog_size:{}\r\nrepl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n",
                    self.run_id,
                    self.cfg.int(P::ReplBacklogSize)
                );
            }
            "cpu" => {
                let (sys, user) = rusage(libc::RUSAGE_SELF);
                let (csys, cuser) = rusage(libc::RUSAGE_CHILDREN);
                let (tsys, tuser) = rusage(libc::RUSAGE_THREAD);
                let _ = write!(
                    s,
                    "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:{csys:.6}\r\nused_cpu_user_children:{cuser:.6}\r\nused_cpu_sys_main_thread:{tsys:.6}\r\nused_cpu_user_main_thread:{tuser:.6}\r\n"
                );
            }
            "modules" => s.push_str("# Modules\r\n"),
            "commandstats" => {
                s.push_str("# Commandstats\r\n");
                for (name, st) in &self.stats.commands_sorted() {
                    if st.calls == 0 && st.failed_calls == 0 && st.rejected_calls == 0 {
                        continue;
                    }
                    let per = if st.calls == 0 {
                        0.0
                    } else {
                        st.usec as f64 / st.calls as f64
                    };
                    let _ = write!(
                        s,
                        "cmdstat_{}:calls={},usec={},usec_per_call={:.2},rejected_calls={},failed_calls={}\r\n",
                        name, st.calls, st.usec, per, st.rejected_calls, st.failed_calls
                    );
                }
            }
            "errorstats" => {
                s.push_str("# Errorstats\r\n");
                for (code, n) in &self.stats.errors {
                    let _ = write!(s, "errorstat_{code}:count={n}\r\n");
                }
            }
            "cluster" => s.push_str("# Cluster\r\ncluster_enabled:0\r\n"),
            "keyspace" => {
                s.push_str("# Keyspace\r\n");
                for (i, d) in self.dbs.iter().enumerate() {
                    let keys = d.dict.len();
                    if keys == 0 {
                        continue;
                    }
                    let _ = write!(
                        s,
                        "db{i}:keys={keys},expires={},avg_ttl={}\r\n",
                        d.expires.len(),
                        d.avg_ttl
                    );
                }
            }
            _ => {}
        }
    }
}
