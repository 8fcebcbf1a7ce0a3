//! SORT and SORT_RO: sort a list, set or sorted set, optionally by weights read from other
//! keys (BY), returning other keys' values (GET), storing the result as a list (STORE).

use super::{NOT_INT, SYNTAX, arg_i64, eq_ic};
use crate::net::client::Client;
use crate::server::Server;
use crate::server::notify;
use crate::types::Value;

/// Redis's lookupKeyByPattern: `#` is the element itself; otherwise the first `*` is replaced
/// by the element, and `key->field` reads a hash field.
fn lookup_by_pattern(srv: &mut Server, db: usize, pat: &[u8], elem: &[u8]) -> Option<Vec<u8>> {
    if pat == b"#" {
        return Some(elem.to_vec());
    }
    let star = pat.iter().position(|&b| b == b'*')?;
    let arrow = pat[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|i| star + 1 + i)
        .filter(|&i| i + 2 < pat.len());
    let (key_end, field) = match arrow {
        Some(i) => (i, Some(&pat[i + 2..])),
        None => (pat.len(), None),
    };
    let mut key = pat[..star].to_vec();
    key.extend_from_slice(elem);
    key.extend_from_slice(&pat[star + 1..key_end]);
    let o = srv.lookup_read(db, &key)?;
    match (field, &o.val) {
        (Some(f), Value::Hash(h)) => h.get(f),
        (None, Value::Str(s)) => Some(s.bytes().into_owned()),
        _ => None,
    }
}

struct Item {
    elem: Vec<u8>,
    score: f64,
    cmp: Option<Vec<u8>>,
}

fn sort_generic(srv: &mut Server, c: &mut Client, args: &[&[u8]], readonly: bool) {
    let (mut desc, mut alpha) = (false, false);
    let (mut lstart, mut lcount): (i64, i64) = (0, -1);
    let mut store: Option<&[u8]> = None;
    let mut by: Option<&[u8]> = None;
    let mut dontsort = false;
    let mut gets: Vec<&[u8]> = Vec::new();
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = args[j];
        if eq_ic(a, "asc") {
            desc = false;
        } else if eq_ic(a, "desc") {
            desc = true;
        } else if eq_ic(a, "alpha") {
            alpha = true;
        } else if eq_ic(a, "limit") && left >= 2 {
            let Some(s) = arg_i64(c, args[j + 1], NOT_INT) else {
                return;
            };
            let Some(n) = arg_i64(c, args[j + 2], NOT_INT) else {
                return;
            };
            lstart = s;
            lcount = n;
            j += 2;
        } else if !readonly && eq_ic(a, "store") && left >= 1 {
            store = Some(args[j + 1]);
            j += 1;
        } else if eq_ic(a, "by") && left >= 1 {
            by = Some(args[j + 1]);
            dontsort = !args[j + 1].contains(&b'*');
            j += 1;
        } else if eq_ic(a, "get") && left >= 1 {
            gets.push(args[j + 1]);
            j += 1;
        } else {
            c.out.error(SYNTAX);
            return;
        }
        j += 1;
    }
    let db = c.db;
    // Redis converts a sorted set it sorts to the skiplist encoding (sortCommandGeneric does
    // zsetConvert); OBJECT ENCODING shows it afterwards, so forkv does the same.
    let hasher = srv.hasher.clone();
    if let Some(z) = srv.dbs[db]
        .dict
        .get_mut(args[1])
        .and_then(|o| o.val.as_zset_mut())
    {
        z.to_skiplist(&hasher);
    }
    // The elements in the source's natural order (a sorted set by rank).
    let (elems, is_set) = match srv.lookup_read(db, args[1]) {
        None => (Vec::new(), false),
        Some(o) => match &o.val {
            Value::List(q) => {
                let mut v = Vec::with_capacity(q.len());
                q.for_each(|x| v.push(x.to_vec()));
                (v, false)
            }
            Value::Set(s) => (s.members(), true),
            Value::Zset(z) => {
                let mut v = Vec::with_capacity(z.len());
                z.for_each(|m, _| v.push(m.to_vec()));
                (v, false)
            }
            _ => {
                c.out.error(super::WRONGTYPE);
                return;
            }
        },
    };
    if dontsort && is_set && (store.is_some() || c.is_script) {
        // Storing a set's members, or giving them to a script, needs a deterministic order.
        dontsort = false;
        alpha = true;
        by = None;
    }
    let n = elems.len() as i64;
    let mut start = lstart.max(0).min(n);
    let count = lcount.max(-1).min(n);
    let mut end = if count < 0 { n - 1 } else { start + count - 1 };
    if start >= n {
        start = n - 1;
        end = n - 2;
    }
    if end >= n {
        end = n - 1;
    }
    let mut items: Vec<Item> = if dontsort && !is_set {
        // Natural order, read from the requested end.
        let mut v: Vec<Vec<u8>> = elems;
        if desc {
            v.reverse();
        }
        v.into_iter()
            .map(|e| Item {
                elem: e,
                score: 0.0,
                cmp: None,
            })
            .collect()
    } else {
        elems
            .into_iter()
            .map(|e| Item {
                elem: e,
                score: 0.0,
                cmp: None,
            })
            .collect()
    };
    if !dontsort {
        let mut conversion_error = false;
        for it in items.iter_mut() {
            let byval = match by {
                Some(p) => match lookup_by_pattern(srv, db, p, &it.elem) {
                    Some(v) => v,
                    None => continue,
                },
                None => it.elem.clone(),
            };
            if alpha {
                if by.is_some() {
                    it.cmp = Some(byval);
                }
            } else {
                // strtod: an empty string reads as 0; leading blanks (C's isspace) are skipped
                // but blanks alone convert nothing, which Redis reports.
                let start = byval
                    .iter()
                    .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
                    .unwrap_or(byval.len());
                let s = &byval[start..];
                if byval.is_empty() {
                    it.score = 0.0;
                } else {
                    match super::parse_f64(s) {
                        Some(v) => it.score = v,
                        None => conversion_error = true,
                    }
                }
            }
        }
        if conversion_error {
            c.out
                .error("One or more scores can't be converted into double");
            return;
        }
        let bypattern = by.is_some();
        let storing = store.is_some();
        // Without STORE Redis compares with strcoll (C strings: bytes up to the first NUL, the
        // C locale); with STORE, whole binary strings.
        let alpha_cmp = |x: &[u8], y: &[u8]| {
            if storing {
                x.cmp(y)
            } else {
                let cut = |v: &[u8]| v.iter().position(|&b| b == 0).unwrap_or(v.len());
                x[..cut(x)].cmp(&y[..cut(y)])
            }
        };
        items.sort_by(|a, b| {
            let ord = if !alpha {
                a.score
                    .partial_cmp(&b.score)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then_with(|| a.elem.cmp(&b.elem))
            } else if bypattern {
                match (&a.cmp, &b.cmp) {
                    (None, None) => std::cmp::Ordering::Equal,
                    (None, _) => std::cmp::Ordering::Less,
                    (_, None) => std::cmp::Ordering::Greater,
                    (Some(x), Some(y)) => alpha_cmp(x, y),
                }
            } else {
                alpha_cmp(&a.elem, &b.elem)
            };
            if desc { ord.reverse() } else { ord }
        });
    }
    let range: Vec<&Item> = if end >= start && end >= 0 {
        items[start as usize..=end as usize].iter().collect()
    } else {
        Vec::new()
    };
    let mut out: Vec<Option<Vec<u8>>> = Vec::new();
    for it in &range {
        if gets.is_empty() {
            out.push(Some(it.elem.clone()));
        }
        for g in &gets {
            out.push(lookup_by_pattern(srv, db, g, &it.elem));
        }
    }
    match store {
        None => {
            c.out.array(out.len());
            for v in &out {
                match v {
                    Some(b) => c.out.bulk(b),
                    None => c.out.null(),
                }
            }
        }
        Some(dst) => {
            let n = out.len();
            if n > 0 {
                let fill = srv.cfg.int(crate::config::P::ListMaxListpackSize);
                let mut q = super::lists::new_list(srv);
                for v in &out {
                    q.push(
                        crate::types::quicklist::End::Tail,
                        v.as_deref().unwrap_or(b""),
                        fill,
                    );
                }
                srv.set_key(db, dst, Value::List(Box::new(q)), false);
                srv.notify(notify::LIST, "sortstore", dst, db);
                srv.dirty += n as u64;
            } else if srv.delete_key(db, dst) {
                srv.notify(notify::GENERIC, "del", dst, db);
                srv.dirty += 1;
            }
            c.out.int(n as i64);
        }
    }
}

pub fn sort(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    sort_generic(srv, c, args, false)
}

pub fn sort_ro(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    sort_generic(srv, c, args, true)
}
