//! The differential harness: the same commands pipelined to a real redis-server and to
//! forkv-server, replies compared one by one (with per-command normalisation for replies
//! whose order or exact value legitimately differs), and a seeded generator.

use super::*;

/// How a command's reply is compared.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Cmp {
    Exact,
    /// Arrays compared as sorted multisets (KEYS).
    Unordered,
    /// Time-dependent integers: compare only the sign class (-2, -1, >= 0).
    TtlClass,
    /// Only the reply type (RANDOMKEY, TIME, ...).
    TypeOnly,
    /// HELLO: everything but the connection id.
    Hello,
    /// A flat array of pairs (or a map) compared as a multiset of pairs (HGETALL).
    UnorderedPairs,
    /// A SCAN-family reply: the cursor exactly, the items as a multiset (of pairs when
    /// `pairs`).
    ScanAll {
        pairs: bool,
    },
    /// Only the reply type and length (random samples with repetition).
    Shape,
    /// Every nested collection compared as a multiset (EXEC: the queued commands' replies
    /// may include unordered ones).
    Deep,
    /// Stream replies with times of their own (XPENDING's idle times, XINFO's seen and
    /// delivery times): those integers are zeroed, everything else compared exactly.
    StreamTimes,
}

/// Zero the times in a stream reply: the idle or delivery time of pending rows
/// (`[id, consumer, time, count]`, `[id, time, count]`) and the value after an `idle` or
/// `seen-time` label.
fn stream_times_zeroed(r: &Reply) -> Reply {
    let zero_after_label = |items: &[Reply]| -> Vec<Reply> {
        items
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let labelled =
                    i > 0 && (items[i - 1] == bulk("idle") || items[i - 1] == bulk("seen-time"));
                match x {
                    Reply::Int(_) if labelled => Reply::Int(0),
                    other => stream_times_zeroed(other),
                }
            })
            .collect()
    };
    match r {
        Reply::Array(v) => match v.as_slice() {
            [
                Reply::Bulk(id),
                Reply::Bulk(c),
                Reply::Int(_),
                Reply::Int(n),
            ] => Reply::Array(vec![
                Reply::Bulk(id.clone()),
                Reply::Bulk(c.clone()),
                Reply::Int(0),
                Reply::Int(*n),
            ]),
            [Reply::Bulk(id), Reply::Int(_), Reply::Int(n)] => {
                Reply::Array(vec![Reply::Bulk(id.clone()), Reply::Int(0), Reply::Int(*n)])
            }
            _ => Reply::Array(zero_after_label(v)),
        },
        Reply::Map(m) => Reply::Map(
            m.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Reply::Int(_) if *k == bulk("idle") || *k == bulk("seen-time") => {
                            Reply::Int(0)
                        }
                        other => stream_times_zeroed(other),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn deep_sorted(r: &Reply) -> Reply {
    match r {
        Reply::Array(v) | Reply::Set(v) | Reply::Push(v) => {
            let mut v: Vec<Reply> = v.iter().map(deep_sorted).collect();
            sort_replies(&mut v);
            Reply::Array(v)
        }
        Reply::Map(m) => {
            let mut v: Vec<Reply> = m
                .iter()
                .map(|(k, v)| Reply::Array(vec![deep_sorted(k), deep_sorted(v)]))
                .collect();
            sort_replies(&mut v);
            Reply::Array(v)
        }
        other => other.clone(),
    }
}

fn sort_replies(v: &mut [Reply]) {
    v.sort_by_key(|x| format!("{x:?}"));
}

fn pairs_sorted(v: &[Reply]) -> Reply {
    let mut pairs: Vec<Reply> = v.chunks(2).map(|c| Reply::Array(c.to_vec())).collect();
    sort_replies(&mut pairs);
    Reply::Array(pairs)
}

pub fn normalize(r: &Reply, how: Cmp) -> Reply {
    match how {
        Cmp::Exact => r.clone(),
        Cmp::Unordered => match r {
            Reply::Array(v) | Reply::Set(v) => {
                let mut v = v.clone();
                sort_replies(&mut v);
                Reply::Array(v)
            }
            other => other.clone(),
        },
        Cmp::UnorderedPairs => match r {
            Reply::Array(v) => pairs_sorted(v),
            Reply::Map(m) => {
                let flat: Vec<Reply> = m.iter().flat_map(|(k, v)| [k.clone(), v.clone()]).collect();
                pairs_sorted(&flat)
            }
            other => other.clone(),
        },
        Cmp::ScanAll { pairs } => match r {
            Reply::Array(v) if v.len() == 2 => {
                let items = match &v[1] {
                    Reply::Array(items) if pairs => pairs_sorted(items),
                    Reply::Array(items) => {
                        let mut items = items.clone();
                        sort_replies(&mut items);
                        Reply::Array(items)
                    }
                    other => other.clone(),
                };
                Reply::Array(vec![v[0].clone(), items])
            }
            other => other.clone(),
        },
        Cmp::Deep => deep_sorted(r),
        Cmp::StreamTimes => stream_times_zeroed(r),
        Cmp::Shape => match r {
            Reply::Array(v) => Reply::Int(v.len() as i64),
            Reply::Bulk(_) => Reply::Bulk(vec![]),
            other => other.clone(),
        },
        Cmp::TtlClass => match r {
            Reply::Int(i) if *i >= 0 => Reply::Int(0),
            other => other.clone(),
        },
        Cmp::Hello => match r {
            Reply::Map(m) => Reply::Map(
                m.iter()
                    .map(|(k, v)| {
                        if *k == bulk("id") {
                            (k.clone(), Reply::Int(0))
                        } else {
                            (k.clone(), v.clone())
                        }
                    })
                    .collect(),
            ),
            Reply::Array(v) => Reply::Array(
                v.iter()
                    .enumerate()
                    .map(|(i, x)| {
                        if i > 0 && v[i - 1] == bulk("id") {
                            Reply::Int(0)
                        } else {
                            x.clone()
                        }
                    })
                    .collect(),
            ),
            other => other.clone(),
        },
        Cmp::TypeOnly => match r {
            Reply::Bulk(_) => Reply::Bulk(vec![]),
            Reply::Int(_) => Reply::Int(0),
            Reply::Array(_) => Reply::Array(vec![]),
            other => other.clone(),
        },
    }
}

pub fn cmp_for(args: &[Vec<u8>]) -> Cmp {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    match name.as_str() {
        "keys" | "smembers" | "sinter" | "sunion" | "sdiff" | "hkeys" | "hvals" => Cmp::Unordered,
        "hgetall" => Cmp::UnorderedPairs,
        // Libraries come in hash order.
        "function" if args.get(1).is_some_and(|a| a.eq_ignore_ascii_case(b"list")) => {
            Cmp::Unordered
        }
        "exec" => Cmp::Exact,
        "sscan" => Cmp::ScanAll { pairs: false },
        "hscan" | "zscan" => Cmp::ScanAll { pairs: true },
        // Random samples: with a count of at least the size they are the whole collection in
        // some order; a negative count repeats members at random.
        "srandmember" | "hrandfield" | "zrandmember" | "spop" => {
            let neg = args.get(2).is_some_and(|a| a.starts_with(b"-"));
            let pairs = args.get(3).is_some_and(|a| {
                a.eq_ignore_ascii_case(b"withvalues") || a.eq_ignore_ascii_case(b"withscores")
            });
            if neg {
                Cmp::Shape
            } else if pairs {
                Cmp::UnorderedPairs
            } else {
                Cmp::Unordered
            }
        }
        // ALPHA compares C strings (strcoll): elements equal up to a NUL byte tie, and the
        // order of ties depends on the sort routine.
        "sort" | "sort_ro"
            if args.iter().any(|a| a.eq_ignore_ascii_case(b"alpha"))
                && args.iter().any(|a| a.eq_ignore_ascii_case(b"limit")) =>
        {
            Cmp::Unordered
        }
        // Sorting a set without sorting (BY a constant) returns it in hash order.
        "sort" | "sort_ro"
            if args
                .windows(2)
                .any(|w| w[0].eq_ignore_ascii_case(b"by") && !w[1].contains(&b'*')) =>
        {
            Cmp::Unordered
        }
        "xpending" | "xinfo" => Cmp::StreamTimes,
        "ttl" | "pttl" => Cmp::TtlClass,
        // Absolute deadlines depend on when each server ran the command: compare the class.
        "expiretime" | "pexpiretime" => Cmp::TtlClass,
        "randomkey" | "time" => Cmp::TypeOnly,
        "hello" => Cmp::Hello,
        // GT/LT compare "now + n" with a deadline set by an earlier command: with equal n the
        // outcome depends on whether a millisecond passed between the two, on each server.
        "expire" | "pexpire"
            if args[3..]
                .iter()
                .any(|a| a.eq_ignore_ascii_case(b"gt") || a.eq_ignore_ascii_case(b"lt")) =>
        {
            Cmp::TypeOnly
        }
        "object"
            if args
                .get(1)
                .is_some_and(|a| a.eq_ignore_ascii_case(b"idletime")) =>
        {
            Cmp::TtlClass
        }
        _ => Cmp::Exact,
    }
}

pub struct Pair {
    pub redis: Conn,
    pub forkv: Conn,
    /// Every command sent so far (for the failure report).
    pub history: Vec<Vec<Vec<u8>>>,
    /// Commands queued in the open transaction (each EXEC reply element is compared the way
    /// its command's reply is); None outside MULTI.
    pub queued: Option<Vec<Vec<Vec<u8>>>>,
}

impl Pair {
    /// Send every command pipelined to both servers, then compare the replies one by one.
    pub fn run(&mut self, cmds: &[Vec<Vec<u8>>]) {
        self.run_inner(cmds);
        self.history.extend(cmds.iter().cloned());
    }

    fn run_inner(&mut self, cmds: &[Vec<Vec<u8>>]) {
        let mut wire = Vec::new();
        for c in cmds {
            let refs: Vec<&[u8]> = c.iter().map(|a| a.as_slice()).collect();
            wire.extend(encode(&refs));
        }
        for (side, conn) in [("redis", &mut self.redis), ("forkv", &mut self.forkv)] {
            if let Err(e) = conn.writer.write_all(&wire) {
                panic!(
                    "writing a batch to {side} failed after {} commands: {e}",
                    self.history.len()
                );
            }
        }
        for (i, c) in cmds.iter().enumerate() {
            let r = self.redis.read();
            let f = self.forkv.read();
            let name = String::from_utf8_lossy(&c[0]).to_ascii_lowercase();
            let (rn, fnn) = match (name.as_str(), &self.queued, &r, &f) {
                ("exec", Some(q), Reply::Array(a), Reply::Array(b))
                    if a.len() == q.len() && b.len() == q.len() =>
                {
                    let per = |v: &Vec<Reply>| {
                        Reply::Array(
                            v.iter()
                                .zip(q)
                                .map(|(x, qc)| normalize(x, cmp_for(qc)))
                                .collect(),
                        )
                    };
                    (per(a), per(b))
                }
                _ => {
                    let how = cmp_for(c);
                    (normalize(&r, how), normalize(&f, how))
                }
            };
            match name.as_str() {
                "multi" if r == Reply::Status("OK".into()) => self.queued = Some(Vec::new()),
                "exec" | "discard" => self.queued = None,
                _ => {
                    if let Some(q) = self.queued.as_mut()
                        && r == Reply::Status("QUEUED".into())
                    {
                        q.push(c.clone());
                    }
                }
            }
            if rn != fnn {
                let show = |c: &Vec<Vec<u8>>| {
                    c.iter()
                        .map(|a| format!("{:?}", String::from_utf8_lossy(a)))
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                // The commands before this one that name one of its arguments or change the
                // selected/swapped database, across batches.
                let mut all: Vec<&Vec<Vec<u8>>> = self.history.iter().collect();
                all.extend(&cmds[..i]);
                let related = |h: &Vec<Vec<u8>>| {
                    let n = String::from_utf8_lossy(&h[0]).to_ascii_uppercase();
                    matches!(n.as_str(), "SELECT" | "SWAPDB" | "FLUSHALL" | "FLUSHDB")
                        || h[1..].iter().any(|a| c[1..].contains(a))
                };
                let before: Vec<_> = all.iter().filter(|h| related(h)).map(|h| show(h)).collect();
                let before = before[before.len().saturating_sub(60)..].to_vec();
                if let Ok(path) = std::env::var("FORKV_DIFF_DUMP") {
                    let text: Vec<String> = all.iter().map(|h| show(h)).collect();
                    let _ = std::fs::write(path, text.join("\n"));
                }
                // For long arrays (EXEC), point at the first element that differs.
                let first_diff = match (&r, &f) {
                    (Reply::Array(a), Reply::Array(b)) => {
                        a.iter().zip(b.iter()).position(|(x, y)| x != y).map(|j| {
                            format!(
                                "\n first difference at element {j}: {:?} vs {:?}",
                                a[j], b[j]
                            )
                        })
                    }
                    _ => None,
                };
                panic!(
                    "command #{i} {:?}\n redis: {r:?}\n forkv: {f:?}{}\n preceding commands:\n{}",
                    show(c),
                    first_diff.unwrap_or_default(),
                    before.join("\n")
                );
            }
        }
    }
}

pub fn words(s: &str) -> Vec<Vec<u8>> {
    s.split(' ')
        .map(|w| w.replace("\\s", " ").into_bytes())
        .collect()
}

pub fn start_pair() -> Option<(ServerProc, ServerProc, Pair)> {
    start_pair_with(&[])
}

/// Both servers started with the same extra arguments.
pub fn start_pair_with(args: &[&str]) -> Option<(ServerProc, ServerProc, Pair)> {
    let redis = start_redis(args)?;
    let forkv = start_forkv(args);
    let pair = Pair {
        redis: redis.conn(),
        forkv: forkv.conn(),
        history: Vec::new(),
        queued: None,
    };
    Some((redis, forkv, pair))
}

/// A tiny deterministic generator (the test must be reproducible from its seed).
pub struct Gen(pub u64);

impl Gen {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.below(v.len() as u64) as usize]
    }
    pub fn key(&mut self) -> Vec<u8> {
        format!("k{}", self.below(8)).into_bytes()
    }
    pub fn int(&mut self) -> String {
        match self.below(6) {
            0 => "0".into(),
            1 => (self.below(100) as i64 - 50).to_string(),
            2 => i64::MAX.to_string(),
            3 => i64::MIN.to_string(),
            4 => "abc".into(),
            _ => (self.next() as i64 >> self.below(60)).to_string(),
        }
    }
    pub fn value(&mut self) -> Vec<u8> {
        match self.below(7) {
            0 => self.int().into_bytes(),
            1 => Vec::new(),
            2 => (0..self.below(60)).map(|_| self.next() as u8).collect(),
            3 => format!("{}.{}", self.below(1000), self.below(1000)).into_bytes(),
            4 => vec![b'x'; self.below(100) as usize],
            5 => b"\r\n\x00 \"'".to_vec(),
            _ => format!("v{}", self.below(20)).into_bytes(),
        }
    }
}

/// Seeds beyond the fixed ones: FORKV_DIFF_SEEDS=N adds N more, from `first`.
pub fn seeds_with_extra(fixed: &[u64], first: u64) -> Vec<u64> {
    let extra: u64 = std::env::var("FORKV_DIFF_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    fixed.iter().copied().chain(first..first + extra).collect()
}
