//! forkv-check-rdb FILE: validate an RDB file and print what it holds (version, aux fields,
//! keys per database, value types) or the offset and reason of the first error. Exit status
//! 0 when the file is good, 1 otherwise.

use forkv::persist::rdb::{Item, LoadLimits, RdbReader, rtype};
use std::collections::BTreeMap;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 2 || args[1] == "-h" || args[1] == "--help" {
        eprintln!("Usage: {} <rdb-file-name>", args[0]);
        std::process::exit(1);
    }
    let path = &args[1];
    println!("[offset 0] Checking RDB file {path}");
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            println!("--- RDB ERROR DETECTED ---\nCannot open {path}: {e}");
            std::process::exit(1);
        }
    };
    let mut r = RdbReader::new(std::io::BufReader::new(f), LoadLimits::defaults());
    match check(&mut r) {
        Ok(()) => println!("RDB looks OK"),
        Err(e) => {
            println!("--- RDB ERROR DETECTED ---");
            println!("[offset {}] {}", e.offset, e.reason);
            std::process::exit(1);
        }
    }
}

fn check<R: std::io::Read>(r: &mut RdbReader<R>) -> Result<(), forkv::persist::rdb::RdbError> {
    let v = r.header()?;
    println!("[offset 9] RDB version {v}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let mut db = 0u64;
    // db -> (keys, expires, already expired)
    let mut per_db: BTreeMap<u64, (u64, u64, u64)> = BTreeMap::new();
    let mut types: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut empty = 0u64;
    loop {
        let at = r.offset();
        match r.next_item()? {
            Item::Aux(k, v) => println!(
                "[offset {at}] AUX FIELD {} = '{}'",
                String::from_utf8_lossy(&k),
                String::from_utf8_lossy(&v)
            ),
            Item::SelectDb(n) => {
                db = n;
                println!("[offset {at}] Selecting DB ID {n}");
            }
            Item::ResizeDb(k, e) => println!("[offset {at}] Resize DB: {k} keys, {e} expires"),
            Item::Function(code) => {
                let first = code.split(|&b| b == b'\n').next().unwrap_or_default();
                println!(
                    "[offset {at}] Function library: {}",
                    String::from_utf8_lossy(first)
                );
            }
            Item::EmptyKey(k) => {
                empty += 1;
                println!(
                    "[offset {at}] empty value skipped: {}",
                    String::from_utf8_lossy(&k)
                );
            }
            Item::Entry(e) => {
                let s = per_db.entry(db).or_default();
                s.0 += 1;
                if let Some(t) = e.expire_ms {
                    s.1 += 1;
                    if t < now {
                        s.2 += 1;
                    }
                }
                *types.entry(rtype::name(e.rdb_type)).or_default() += 1;
            }
            Item::Eof { checksum } => {
                match checksum {
                    Some(_) => println!("[offset {}] Checksum OK", r.offset()),
                    None => println!(
                        "[offset {}] No checksum (disabled or an old version)",
                        r.offset()
                    ),
                }
                break;
            }
        }
    }
    let (mut keys, mut exp, mut gone) = (0, 0, 0);
    for (d, (k, e, x)) in &per_db {
        println!("[info] db {d}: {k} keys, {e} expires, {x} already expired");
        keys += k;
        exp += e;
        gone += x;
    }
    for (t, n) in &types {
        println!("[info] type {t}: {n}");
    }
    println!("[info] {keys} keys read");
    println!("[info] {exp} expires");
    println!("[info] {gone} already expired");
    if empty > 0 {
        println!("[info] {empty} empty keys skipped");
    }
    Ok(())
}
