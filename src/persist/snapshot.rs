//! Whole RDB files: writing a keyspace atomically (temp file in the same directory, fsync every
//! 4 MiB, final fsync, rename over the old file, fsync of the directory — DESIGN §6), and
//! loading one a step at a time so the event loop keeps answering `-LOADING` meanwhile.
//!
//! The writer only reads: no expiry, no LRU/LFU update, no rehash step, no free (it also runs
//! in the snapshot child, on its copy-on-write view of the parent).

use super::fs::{Fs, replace_atomically};
use super::rdb::{Entry, Item, LoadLimits, RdbError, RdbReader, RdbWriter};
use crate::db::{Db, Obj, lru_clock, lru_idle_secs};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Everything a save needs from the server, copied before the clone.
#[derive(Clone, Debug)]
pub struct SaveOptions {
    pub checksum: bool,
    pub compress: bool,
    pub incremental_fsync: bool,
    /// Write each key's idle time (LRU policies) or LFU counter (LFU policies).
    pub save_lru: bool,
    pub save_lfu: bool,
    pub lfu_decay_time: i64,
    /// The save's clock (the fork time in a child).
    pub now_ms: i64,
    pub used_mem: u64,
    /// rdb-key-save-delay: microseconds to sleep after each key (tests slow saves with it);
    /// negative: sleep 1 µs with probability 1/-n.
    pub key_save_delay: i64,
    /// The code of every FUNCTION library (saved before the databases, as Redis does).
    pub function_libraries: Vec<Vec<u8>>,
}

fn key_delay(us: i64, n: u64) {
    let sleep = if us < 0 {
        (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 33).is_multiple_of((-us) as u64)
    } else {
        us > 0
    };
    if sleep {
        std::thread::sleep(std::time::Duration::from_micros(us.max(1) as u64));
    }
}

/// Write the aux fields and every database (not the header or EOF).
pub fn write_keyspace<W: Write>(
    w: &mut RdbWriter<W>,
    dbs: &[Db],
    o: &SaveOptions,
    progress: &mut dyn FnMut(u64),
) -> io::Result<u64> {
    w.standard_aux(o.now_ms / 1000, o.used_mem, false)?;
    for code in &o.function_libraries {
        w.function_library(code)?;
    }
    let clock = lru_clock(o.now_ms);
    let mut keys = 0u64;
    for (i, db) in dbs.iter().enumerate() {
        if db.dict.is_empty() {
            continue;
        }
        w.select_db(i, db.dict.len(), db.expires.len())?;
        let mut res = Ok(());
        db.dict.for_each(|k, obj: &Obj| {
            if res.is_err() {
                return;
            }
            let exp = if db.expires.is_empty() {
                None
            } else {
                db.expires.get(k).copied()
            };
            let idle = o.save_lru.then(|| lru_idle_secs(clock, obj.lru));
            let freq = o
                .save_lfu
                .then(|| crate::db::evict::lfu_counter(obj.lru, o.now_ms, o.lfu_decay_time) as u8);
            res = w.key_value(k, &obj.val, exp, idle, freq);
            keys += 1;
            if keys & 1023 == 0 {
                progress(keys);
            }
            if o.key_save_delay != 0 {
                key_delay(o.key_save_delay, keys);
            }
        });
        res?;
    }
    Ok(keys)
}

/// The temp file name Redis uses for a save by process `pid`.
pub fn temp_name(pid: u32) -> String {
    format!("temp-{pid}.rdb")
}

/// Save `dbs` to `dir/name` atomically through `fs`. On error the temp file is removed and
/// the previous file is untouched.
pub fn save_file(
    fs: &dyn Fs,
    dir: &Path,
    name: &str,
    dbs: &[Db],
    o: &SaveOptions,
    progress: &mut dyn FnMut(u64),
) -> io::Result<u64> {
    let temp = temp_name(std::process::id());
    replace_atomically(fs, dir, name, &temp, o.incremental_fsync, |sink| {
        let mut w = RdbWriter::new(sink, o.checksum, o.compress);
        w.header()?;
        let keys = write_keyspace(&mut w, dbs, o, progress)?;
        w.finish()?;
        Ok(keys)
    })
}

/// Counts of a finished or running load.
#[derive(Clone, Debug, Default)]
pub struct LoadStats {
    pub loaded: u64,
    pub expired: u64,
    pub empty_skipped: u64,
}

/// An RDB file being loaded into databases, a step at a time.
pub struct Loader<R: Read> {
    reader: RdbReader<R>,
    db: usize,
    pub stats: LoadStats,
    pub total_bytes: u64,
    pub used_mem_hint: u64,
    pub done: bool,
    /// Replace keys that already exist (DEBUG RELOAD MERGE) instead of refusing the file.
    pub allow_dup: bool,
    /// FUNCTION libraries read so far (their code), for the server to load at the end.
    pub function_libraries: Vec<Vec<u8>>,
}

impl Loader<std::io::BufReader<std::fs::File>> {
    /// Open `path`; Ok(None) when it does not exist.
    pub fn open(path: &PathBuf, limits: LoadLimits) -> Result<Option<Self>, String> {
        let f = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("Can't open {}: {e}", path.display())),
        };
        let total = f.metadata().map(|m| m.len()).unwrap_or(0);
        let mut l = Loader::new(std::io::BufReader::with_capacity(1 << 16, f), limits);
        l.total_bytes = total;
        Ok(Some(l))
    }
}

/// What a loaded key's access stamp becomes (objectSetLRUOrLFU), given idle seconds or an LFU
/// counter from the file.
pub type StampFn<'a> = &'a dyn Fn(Option<u64>, Option<u8>) -> u32;

impl<R: Read> Loader<R> {
    pub fn new(r: R, limits: LoadLimits) -> Loader<R> {
        Loader {
            reader: RdbReader::new(r, limits),
            db: 0,
            stats: LoadStats::default(),
            total_bytes: 0,
            used_mem_hint: 0,
            done: false,
            allow_dup: false,
            function_libraries: Vec::new(),
        }
    }

    pub fn loaded_bytes(&self) -> u64 {
        self.reader.offset()
    }

    pub fn set_verify_checksum(&mut self, on: bool) {
        self.reader.verify_checksum = on;
    }

    /// Read the header (first step).
    pub fn start(&mut self) -> Result<u32, RdbError> {
        self.reader.header()
    }

    /// Load until `budget_bytes` more bytes were read or the file ends. Keys whose expiry is
    /// before `now_ms` are dropped (as a master does). Returns true when done.
    pub fn step(
        &mut self,
        dbs: &mut [Db],
        now_ms: i64,
        budget_bytes: u64,
        stamp: StampFn<'_>,
        key_load_delay: i64,
    ) -> Result<bool, RdbError> {
        let stop_at = self.reader.offset().saturating_add(budget_bytes);
        while !self.done && self.reader.offset() < stop_at {
            let at = self.reader.offset();
            let mut hash = 0u64;
            let dict = &dbs[self.db].dict;
            let item = self.reader.next_item_with(&mut |k| {
                hash = dict.hash_of(k);
                dict.prefetch(hash);
            })?;
            match item {
                Item::SelectDb(n) => {
                    if n as usize >= dbs.len() {
                        return Err(RdbError {
                            offset: at,
                            reason: format!(
                                "the file has database {n}, this server is configured with {} databases",
                                dbs.len()
                            ),
                        });
                    }
                    self.db = n as usize;
                }
                Item::ResizeDb(keys, expires) => {
                    // Capped: the counts come from the file and must not reserve absurd sizes.
                    let cap = 1usize << 32;
                    dbs[self.db].dict.expand_for((keys as usize).min(cap));
                    dbs[self.db].expires.expand_for((expires as usize).min(cap));
                }
                Item::Aux(k, v) => {
                    if k.eq_ignore_ascii_case(b"used-mem") {
                        self.used_mem_hint = crate::resp::parse_i64(&v).unwrap_or(0).max(0) as u64;
                    }
                    log_aux(&k, &v);
                }
                Item::Function(code) => self.function_libraries.push(code),
                Item::EmptyKey(k) => {
                    self.stats.empty_skipped += 1;
                    if self.stats.empty_skipped <= 10 {
                        log::warn!(
                            "rdbLoadObject skipping empty key: {}",
                            String::from_utf8_lossy(&k)
                        );
                    }
                }
                Item::Entry(e) => {
                    self.add(dbs, e, hash, now_ms, stamp, at)?;
                    if key_load_delay != 0 {
                        key_delay(key_load_delay, self.stats.loaded);
                    }
                }
                Item::Eof { .. } => self.done = true,
            }
        }
        Ok(self.done)
    }

    fn add(
        &mut self,
        dbs: &mut [Db],
        e: Entry,
        hash: u64,
        now_ms: i64,
        stamp: StampFn<'_>,
        at: u64,
    ) -> Result<(), RdbError> {
        if e.expire_ms.is_some_and(|t| t < now_ms) {
            self.stats.expired += 1;
            return Ok(());
        }
        let db = &mut dbs[self.db];
        let lru = stamp(e.idle_secs, e.freq);
        let key = e.key;
        if let Err(val) = db
            .dict
            .try_insert_hashed(&key, Obj { val: e.value, lru }, hash)
        {
            if !self.allow_dup {
                return Err(RdbError {
                    offset: at,
                    reason: format!(
                        "duplicated key '{}' in DB {}",
                        String::from_utf8_lossy(&key),
                        self.db
                    ),
                });
            }
            db.remove(&key);
            db.dict.insert_new(&key, val);
        }
        if let Some(t) = e.expire_ms {
            db.expires.insert(&key, t);
        }
        self.stats.loaded += 1;
        Ok(())
    }
}

fn log_aux(k: &[u8], v: &[u8]) {
    let v = String::from_utf8_lossy(v);
    match k {
        b"redis-ver" => log::info!("Loading RDB produced by version {v}"),
        b"ctime" => {
            let age = (crate::server::now_ms() / 1000 - v.parse::<i64>().unwrap_or(0)).max(0);
            log::info!("RDB age {age} seconds");
        }
        b"used-mem" => log::info!(
            "RDB memory usage when created {:.2} Mb",
            v.parse::<f64>().unwrap_or(0.0) / (1024.0 * 1024.0)
        ),
        _ => {
            if k.first() == Some(&b'%') {
                log::info!("RDB '{}': {v}", String::from_utf8_lossy(k));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fs::sim::SimDisk;
    use super::*;
    use crate::db::KeyHasher;
    use crate::types::{StrValue, Value};

    fn dbs_with(n: usize, tag: &str) -> Vec<Db> {
        let h = KeyHasher::default();
        let mut dbs = vec![Db::new(&h), Db::new(&h)];
        for i in 0..n {
            let v = format!("{tag}-{i}-{}", "x".repeat(i % 50));
            dbs[i % 2].dict.insert_new(
                format!("key:{i}").as_bytes(),
                Obj {
                    val: Value::Str(StrValue::from_bytes(v.as_bytes())),
                    lru: 0,
                },
            );
        }
        dbs
    }

    fn opts() -> SaveOptions {
        SaveOptions {
            checksum: true,
            compress: true,
            incremental_fsync: true,
            save_lru: false,
            save_lfu: false,
            lfu_decay_time: 1,
            now_ms: 1_700_000_000_000,
            used_mem: 0,
            key_save_delay: 0,
            function_libraries: Vec::new(),
        }
    }

    fn load_bytes(b: &[u8]) -> Result<Vec<Db>, RdbError> {
        let h = KeyHasher::default();
        let mut dbs = vec![Db::new(&h), Db::new(&h)];
        let mut l = Loader::new(b, LoadLimits::defaults());
        l.start()?;
        while !l.step(&mut dbs, 0, u64::MAX, &|_, _| 0, 0)? {}
        Ok(dbs)
    }

    fn same(a: &[Db], b: &[Db]) -> bool {
        a.iter().zip(b).all(|(x, y)| {
            x.dict.len() == y.dict.len() && {
                let mut ok = true;
                x.dict.for_each(|k, v| {
                    if y.dict.get(k).map(|o| &o.val) != Some(&v.val) {
                        ok = false;
                    }
                });
                ok
            }
        })
    }

    /// A crash at every flush point of a save (incremental fsyncs, final fsync, rename,
    /// directory fsync) leaves either the complete old file or the complete new one.
    #[test]
    fn a_crash_at_any_flush_point_keeps_the_old_or_the_new_file() {
        let dir = Path::new("/data");
        let old = dbs_with(50, "old");
        // Big enough for several incremental fsyncs.
        let new = dbs_with(300_000, "new");
        let mut old_bytes = Vec::new();
        {
            let mut w = RdbWriter::new(&mut old_bytes, true, true);
            w.header().unwrap();
            write_keyspace(&mut w, &old, &opts(), &mut |_| {}).unwrap();
            w.finish().unwrap();
        }
        // How many flush points a full save has.
        let probe = SimDisk::default();
        probe.put_durable(&dir.join("dump.rdb"), &old_bytes);
        save_file(&probe, dir, "dump.rdb", &new, &opts(), &mut |_| {}).unwrap();
        let points = probe.flush_points();
        assert!(
            points >= 4,
            "several incremental fsyncs expected, got {points}"
        );
        let (mut saw_old, mut saw_new) = (false, false);
        for k in 0..=points {
            let disk = SimDisk::default();
            disk.put_durable(&dir.join("dump.rdb"), &old_bytes);
            disk.crash_at(k);
            let r = save_file(&disk, dir, "dump.rdb", &new, &opts(), &mut |_| {});
            assert_eq!(r.is_ok(), k >= points, "crash point {k} of {points}");
            let after = disk.after_crash();
            let file = after.get(&dir.join("dump.rdb")).expect("dump.rdb survives");
            let loaded = load_bytes(file).unwrap_or_else(|e| panic!("point {k}: {e}"));
            if same(&loaded, &old) {
                saw_old = true;
            } else if same(&loaded, &new) {
                saw_new = true;
            } else {
                panic!("crash point {k}: neither the old nor the new keyspace");
            }
        }
        assert!(saw_old && saw_new);
    }

    #[test]
    fn a_failed_save_removes_its_temp_file() {
        let dir = Path::new("/data");
        let disk = SimDisk::default();
        disk.crash_at(0);
        assert!(
            save_file(
                &disk,
                dir,
                "dump.rdb",
                &dbs_with(10, "a"),
                &opts(),
                &mut |_| {}
            )
            .is_err()
        );
        assert!(disk.after_crash().is_empty());
    }
}
