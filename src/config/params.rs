//! The parameter table: one row per config name, with Redis 7.0's defaults and bounds.

use super::{Val, parse_memory, parse_yes_no};

#[derive(Clone, Copy, Debug)]
pub enum ParamKind {
    Bool,
    /// Integer within bounds.
    Int(i64, i64),
    /// Byte amount with units (1gb, 10mb), within bounds.
    Mem(i64, i64),
    /// A byte amount or a percentage (`N%`, kept as -N, down to the first bound).
    MemOrPercent(i64, i64),
    Str,
    /// `replicaof` / `slaveof`: forkv never replicates, so only "no one" (or nothing) is valid.
    ReplicaOf,
    /// A file name without a path (`dbfilename`).
    BaseName(&'static str),
    Enum(&'static [&'static str]),
    /// Space-separated list of addresses (`bind`).
    Bind,
    /// `client-output-buffer-limit`.
    Obuf,
    /// `notify-keyspace-events` class letters, kept as `notify` flag bits.
    Notify,
    /// `save`: pairs of seconds and changes.
    Save,
}

pub const MODIFIABLE: u8 = 0;
pub const IMMUTABLE: u8 = 1;
pub const SENSITIVE: u8 = 2;
pub const PROTECTED: u8 = 4;
pub const MULTI_ARG: u8 = 8;
/// Not listed by a CONFIG GET pattern, only by its exact name (Redis's HIDDEN_CONFIG).
pub const HIDDEN: u8 = 16;

pub struct ParamDef {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub kind: ParamKind,
    pub flags: u8,
    pub default: &'static str,
}

macro_rules! params {
    ($( $id:ident => ($name:expr, $alias:expr, $kind:expr, $flags:expr, $default:expr) ),* $(,)?) => {
        /// Parameter ids: indexes into `PARAMS` and the config's value vector.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(usize)]
        pub enum P { $($id),* }
        pub static PARAMS: &[ParamDef] = &[
            $(ParamDef { name: $name, alias: $alias, kind: $kind, flags: $flags, default: $default }),*
        ];
        pub const ALL: &[P] = &[$(P::$id),*];
    };
}

const LOGLEVELS: &[&str] = &["debug", "verbose", "notice", "warning"];
const PROTECTED_ACTION: &[&str] = &["no", "yes", "local"];
const SANITIZE: &[&str] = &["no", "yes", "clients"];
const INT_MAX: i64 = i32::MAX as i64;
/// In the order of `db::evict::Policy`.
pub const MAXMEMORY_POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];

params! {
    Port => ("port", None, ParamKind::Int(0, 65535), MODIFIABLE, "6379"),
    Bind => ("bind", None, ParamKind::Bind, MULTI_ARG, "127.0.0.1 -::1"),
    ProtectedMode => ("protected-mode", None, ParamKind::Bool, MODIFIABLE, "yes"),
    Requirepass => ("requirepass", None, ParamKind::Str, SENSITIVE, ""),
    Databases => ("databases", None, ParamKind::Int(1, INT_MAX), IMMUTABLE, "16"),
    Maxclients => ("maxclients", None, ParamKind::Int(1, u32::MAX as i64), MODIFIABLE, "10000"),
    Timeout => ("timeout", None, ParamKind::Int(0, INT_MAX), MODIFIABLE, "0"),
    TcpBacklog => ("tcp-backlog", None, ParamKind::Int(0, INT_MAX), IMMUTABLE, "511"),
    TcpKeepalive => ("tcp-keepalive", None, ParamKind::Int(0, INT_MAX), MODIFIABLE, "300"),
    Hz => ("hz", None, ParamKind::Int(0, INT_MAX), MODIFIABLE, "10"),
    DynamicHz => ("dynamic-hz", None, ParamKind::Bool, MODIFIABLE, "yes"),
    Loglevel => ("loglevel", None, ParamKind::Enum(LOGLEVELS), MODIFIABLE, "notice"),
    Logfile => ("logfile", None, ParamKind::Str, IMMUTABLE, ""),
    Pidfile => ("pidfile", None, ParamKind::Str, IMMUTABLE, ""),
    Daemonize => ("daemonize", None, ParamKind::Bool, IMMUTABLE, "no"),
    Dir => ("dir", None, ParamKind::Str, PROTECTED, ""),
    ProtoMaxBulkLen => ("proto-max-bulk-len", None, ParamKind::Mem(1024 * 1024, i64::MAX), MODIFIABLE, "536870912"),
    ClientQueryBufferLimit => ("client-query-buffer-limit", None, ParamKind::Mem(1024 * 1024, i64::MAX), MODIFIABLE, "1073741824"),
    ClientOutputBufferLimit => ("client-output-buffer-limit", None, ParamKind::Obuf, MULTI_ARG, "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"),
    EnableDebugCommand => ("enable-debug-command", None, ParamKind::Enum(PROTECTED_ACTION), IMMUTABLE, "no"),
    EnableProtectedConfigs => ("enable-protected-configs", None, ParamKind::Enum(PROTECTED_ACTION), IMMUTABLE, "no"),
    ActiveExpireEffort => ("active-expire-effort", None, ParamKind::Int(1, 10), MODIFIABLE, "1"),
    Activerehashing => ("activerehashing", None, ParamKind::Bool, MODIFIABLE, "yes"),
    LazyfreeLazyExpire => ("lazyfree-lazy-expire", None, ParamKind::Bool, MODIFIABLE, "no"),
    LazyfreeLazyServerDel => ("lazyfree-lazy-server-del", None, ParamKind::Bool, MODIFIABLE, "no"),
    LazyfreeLazyUserDel => ("lazyfree-lazy-user-del", None, ParamKind::Bool, MODIFIABLE, "no"),
    LazyfreeLazyUserFlush => ("lazyfree-lazy-user-flush", None, ParamKind::Bool, MODIFIABLE, "no"),
    SlowlogLogSlowerThan => ("slowlog-log-slower-than", None, ParamKind::Int(-1, i64::MAX), MODIFIABLE, "10000"),
    HllSparseMaxBytes => ("hll-sparse-max-bytes", None, ParamKind::Mem(0, i64::MAX), MODIFIABLE, "3000"),
    StreamNodeMaxBytes => ("stream-node-max-bytes", None, ParamKind::Mem(0, i64::MAX), MODIFIABLE, "4096"),
    StreamNodeMaxEntries => ("stream-node-max-entries", None, ParamKind::Int(0, i64::MAX), MODIFIABLE, "100"),
    BusyReplyThreshold => ("busy-reply-threshold", Some("lua-time-limit"), ParamKind::Int(0, i64::MAX), MODIFIABLE, "5000"),
    SlowlogMaxLen => ("slowlog-max-len", None, ParamKind::Int(0, i64::MAX), MODIFIABLE, "128"),
    ListMaxListpackSize => ("list-max-listpack-size", Some("list-max-ziplist-size"), ParamKind::Int(i32::MIN as i64, INT_MAX), MODIFIABLE, "-2"),
    ListCompressDepth => ("list-compress-depth", None, ParamKind::Int(0, INT_MAX), MODIFIABLE, "0"),
    HashMaxListpackEntries => ("hash-max-listpack-entries", Some("hash-max-ziplist-entries"), ParamKind::Int(0, i64::MAX), MODIFIABLE, "512"),
    HashMaxListpackValue => ("hash-max-listpack-value", Some("hash-max-ziplist-value"), ParamKind::Mem(0, i64::MAX), MODIFIABLE, "64"),
    SetMaxIntsetEntries => ("set-max-intset-entries", None, ParamKind::Int(0, i64::MAX), MODIFIABLE, "512"),
    ZsetMaxListpackEntries => ("zset-max-listpack-entries", Some("zset-max-ziplist-entries"), ParamKind::Int(0, i64::MAX), MODIFIABLE, "128"),
    ZsetMaxListpackValue => ("zset-max-listpack-value", Some("zset-max-ziplist-value"), ParamKind::Mem(0, i64::MAX), MODIFIABLE, "64"),
    NotifyKeyspaceEvents => ("notify-keyspace-events", None, ParamKind::Notify, MODIFIABLE, ""),
    Save => ("save", None, ParamKind::Save, MULTI_ARG, "3600 1 300 100 60 10000"),
    Maxmemory => ("maxmemory", None, ParamKind::Mem(0, i64::MAX), MODIFIABLE, "0"),
    MaxmemoryClients => ("maxmemory-clients", None, ParamKind::MemOrPercent(-100, i64::MAX), MODIFIABLE, "0"),
    ReplBacklogSize => ("repl-backlog-size", None, ParamKind::Mem(1, i64::MAX), MODIFIABLE, "1048576"),
    ReplBacklogTtl => ("repl-backlog-ttl", None, ParamKind::Int(0, i64::MAX), MODIFIABLE, "3600"),
    Replicaof => ("replicaof", Some("slaveof"), ParamKind::ReplicaOf, IMMUTABLE | MULTI_ARG, ""),
    MaxmemoryPolicy => ("maxmemory-policy", None, ParamKind::Enum(MAXMEMORY_POLICIES), MODIFIABLE, "noeviction"),
    MaxmemorySamples => ("maxmemory-samples", None, ParamKind::Int(1, INT_MAX), MODIFIABLE, "5"),
    LfuLogFactor => ("lfu-log-factor", None, ParamKind::Int(0, INT_MAX), MODIFIABLE, "10"),
    LfuDecayTime => ("lfu-decay-time", None, ParamKind::Int(0, INT_MAX), MODIFIABLE, "1"),
    LazyfreeLazyEviction => ("lazyfree-lazy-eviction", None, ParamKind::Bool, MODIFIABLE, "no"),
    Dbfilename => ("dbfilename", None, ParamKind::BaseName("dbfilename"), PROTECTED, "dump.rdb"),
    Rdbcompression => ("rdbcompression", None, ParamKind::Bool, MODIFIABLE, "yes"),
    Rdbchecksum => ("rdbchecksum", None, ParamKind::Bool, IMMUTABLE, "yes"),
    RdbDelSyncFiles => ("rdb-del-sync-files", None, ParamKind::Bool, MODIFIABLE, "no"),
    StopWritesOnBgsaveError => ("stop-writes-on-bgsave-error", None, ParamKind::Bool, MODIFIABLE, "yes"),
    RdbSaveIncrementalFsync => ("rdb-save-incremental-fsync", None, ParamKind::Bool, MODIFIABLE, "yes"),
    SanitizeDumpPayload => ("sanitize-dump-payload", None, ParamKind::Enum(SANITIZE), MODIFIABLE, "no"),
    RdbKeySaveDelay => ("rdb-key-save-delay", None, ParamKind::Int(i32::MIN as i64, INT_MAX), MODIFIABLE | HIDDEN, "0"),
    KeyLoadDelay => ("key-load-delay", None, ParamKind::Int(i32::MIN as i64, INT_MAX), MODIFIABLE | HIDDEN, "0"),
    LoadingProcessEventsIntervalBytes => ("loading-process-events-interval-bytes", None, ParamKind::Mem(1024, INT_MAX), MODIFIABLE | HIDDEN, "2097152"),
}

pub fn lookup(name: &str) -> Option<P> {
    let name = name.to_ascii_lowercase();
    ALL.iter().copied().find(|p| {
        PARAMS[*p as usize].name == name || PARAMS[*p as usize].alias == Some(name.as_str())
    })
}

impl ParamDef {
    pub fn multi_arg(&self) -> bool {
        self.flags & MULTI_ARG != 0
    }
    pub fn immutable(&self) -> bool {
        self.flags & IMMUTABLE != 0
    }
    pub fn default_val(&self) -> Val {
        let args: Vec<String> = if self.multi_arg() {
            self.default.split(' ').map(String::from).collect()
        } else {
            vec![self.default.to_string()]
        };
        self.parse(&args)
            .unwrap_or_else(|e| panic!("default of {} does not parse: {e}", self.name))
    }

    /// Parse a value from its words (one word unless MULTI_ARG). Errors are Redis's texts.
    pub fn parse(&self, args: &[String]) -> Result<Val, String> {
        let one = || args.join(" ");
        match self.kind {
            ParamKind::Bool => parse_yes_no(&one())
                .map(Val::Bool)
                .ok_or_else(|| "argument must be 'yes' or 'no'".to_string()),
            ParamKind::Int(lo, hi) => {
                let v = crate::resp::parse_i64(one().as_bytes())
                    .ok_or_else(|| "argument couldn't be parsed into an integer".to_string())?;
                check_bounds(v, lo, hi).map(Val::Int)
            }
            ParamKind::Mem(lo, hi) => {
                let v = parse_memory(&one())
                    .ok_or_else(|| "argument must be a memory value".to_string())?;
                check_bounds(v, lo, hi).map(Val::Int)
            }
            ParamKind::MemOrPercent(lo, hi) => {
                let text = one();
                let v = match parse_memory(&text) {
                    Some(v) => v,
                    None => text
                        .strip_suffix('%')
                        .filter(|n| !n.is_empty())
                        .and_then(|n| crate::resp::parse_i64(n.as_bytes()))
                        .filter(|n| *n >= 0)
                        .map(|n| -n)
                        .ok_or_else(|| "argument must be a memory or percent value".to_string())?,
                };
                if v < 0 {
                    if v < lo {
                        return Err(format!(
                            "percentage argument must be less or equal to {}",
                            -lo
                        ));
                    }
                    Ok(Val::Int(v))
                } else {
                    check_bounds(v, lo, hi).map(Val::Int)
                }
            }
            ParamKind::ReplicaOf => {
                let words: Vec<String> = args
                    .iter()
                    .flat_map(|a| a.split(' '))
                    .filter(|w| !w.is_empty())
                    .map(|w| w.to_ascii_lowercase())
                    .collect();
                if words.is_empty() || words == ["no", "one"] {
                    Ok(Val::Str(String::new()))
                } else {
                    Err("forkv does not support replication: it cannot be a replica".into())
                }
            }
            ParamKind::Str => Ok(Val::Str(one())),
            ParamKind::BaseName(what) => {
                let v = one();
                if v.contains('/') {
                    return Err(format!("{what} can't be a path, just a filename"));
                }
                Ok(Val::Str(v))
            }
            ParamKind::Enum(names) => {
                let s = one().to_ascii_lowercase();
                names
                    .iter()
                    .position(|n| *n == s)
                    .map(Val::Enum)
                    .ok_or_else(|| {
                        format!(
                            "argument(s) must be one of the following: {}",
                            names.join(", ")
                        )
                    })
            }
            ParamKind::Bind => {
                let words: Vec<String> = args
                    .iter()
                    .flat_map(|a| a.split(' '))
                    .filter(|w| !w.is_empty())
                    .map(String::from)
                    .collect();
                if words.len() > 16 {
                    return Err("Too many bind addresses specified.".into());
                }
                Ok(Val::List(words))
            }
            ParamKind::Obuf => parse_obuf(args),
            ParamKind::Save => {
                let words: Vec<&str> = args
                    .iter()
                    .flat_map(|a| a.split(' '))
                    .filter(|w| !w.is_empty())
                    .collect();
                if !words.len().is_multiple_of(2)
                    || words
                        .iter()
                        .any(|w| crate::resp::parse_i64(w.as_bytes()).is_none_or(|v| v < 0))
                {
                    return Err("Invalid save parameters".into());
                }
                Ok(Val::List(words.into_iter().map(String::from).collect()))
            }
            ParamKind::Notify => crate::server::notify::parse_classes(&one())
                .map(|f| Val::Int(f as i64))
                .ok_or_else(|| "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into()),
        }
    }

    /// The value as CONFIG GET prints it.
    pub fn format(&self, v: &Val) -> String {
        match (v, self.kind) {
            (Val::Bool(b), _) => if *b { "yes" } else { "no" }.into(),
            (Val::Int(i), ParamKind::Notify) => crate::server::notify::format_classes(*i as u32),
            (Val::Int(i), ParamKind::MemOrPercent(..)) if *i < 0 => format!("{}%", -i),
            (Val::Int(i), _) => i.to_string(),
            (Val::Str(s), _) => s.clone(),
            (Val::Enum(i), ParamKind::Enum(names)) => names[*i].into(),
            (Val::List(l), _) => l.join(" "),
            (Val::Obuf(o), _) => {
                let names = ["normal", "slave", "pubsub"];
                let parts: Vec<String> = names
                    .iter()
                    .zip(o.iter())
                    .map(|(n, (h, s, secs))| format!("{n} {h} {s} {secs}"))
                    .collect();
                parts.join(" ")
            }
            _ => String::new(),
        }
    }
}

fn check_bounds(v: i64, lo: i64, hi: i64) -> Result<i64, String> {
    if v < lo || v > hi {
        Err(format!("argument must be between {lo} and {hi} inclusive"))
    } else {
        Ok(v)
    }
}

fn parse_obuf(args: &[String]) -> Result<Val, String> {
    let words: Vec<&str> = args
        .iter()
        .flat_map(|a| a.split(' '))
        .filter(|w| !w.is_empty())
        .collect();
    // Classes not named keep Redis's defaults.
    let mut out = [
        (0, 0, 0),
        (268435456, 67108864, 60),
        (33554432, 8388608, 60),
    ];
    if words.is_empty() || !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    for chunk in words.chunks(4) {
        let class = match chunk[0].to_ascii_lowercase().as_str() {
            "normal" => 0,
            "slave" | "replica" => 1,
            "pubsub" => 2,
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into());
            }
        };
        let hard = parse_memory(chunk[1]);
        let soft = parse_memory(chunk[2]);
        let secs = crate::resp::parse_i64(chunk[3].as_bytes()).filter(|s| *s >= 0);
        match (hard, soft, secs) {
            (Some(h), Some(s), Some(t)) => out[class] = (h, s, t),
            _ => {
                return Err(
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                        .into(),
                );
            }
        }
    }
    Ok(Val::Obuf(out))
}
