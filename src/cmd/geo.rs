//! GEOADD, GEOPOS, GEODIST, GEOHASH, GEORADIUS[_RO], GEORADIUSBYMEMBER[_RO], GEOSEARCH and
//! GEOSEARCHSTORE: positions kept as geohash scores in a sorted set (see types/geohash.rs).

use super::zsets::read_zset;
use super::{NOT_FLOAT, NOT_INT, SYNTAX, eq_ic, parse_f64};
use crate::net::client::Client;
use crate::resp::parse_i64;
use crate::server::Server;
use crate::types::geohash::{self, Shape};
use crate::types::skiplist::ScoreRange;
use crate::types::zset::ZsetValue;

fn lon_lat(c: &mut Client, lon: &[u8], lat: &[u8]) -> Option<(f64, f64)> {
    let (Some(x), Some(y)) = (parse_f64(lon), parse_f64(lat)) else {
        c.out.error(NOT_FLOAT);
        return None;
    };
    if !(geohash::LON_MIN..=geohash::LON_MAX).contains(&x)
        || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&y)
    {
        c.out.error(&format!(
            "-ERR invalid longitude,latitude pair {x:.6},{y:.6}"
        ));
        return None;
    }
    Some((x, y))
}

/// Metres per unit, or None after the error reply.
fn unit(c: &mut Client, u: &[u8]) -> Option<f64> {
    let m = if eq_ic(u, "m") {
        1.0
    } else if eq_ic(u, "km") {
        1000.0
    } else if eq_ic(u, "ft") {
        0.3048
    } else if eq_ic(u, "mi") {
        1609.34
    } else {
        c.out
            .error("unsupported unit provided. please use M, KM, FT, MI");
        return None;
    };
    Some(m)
}

pub fn geoadd(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let (mut nx, mut xx) = (false, false);
    let mut first = 2;
    while first < args.len() {
        if eq_ic(args[first], "nx") {
            nx = true;
        } else if eq_ic(args[first], "xx") {
            xx = true;
        } else if !eq_ic(args[first], "ch") {
            break;
        }
        first += 1;
    }
    if !(args.len() - first).is_multiple_of(3) || (nx && xx) {
        c.out.error(SYNTAX);
        return;
    }
    // GEOADD is ZADD with the positions as scores, and replicates as that ZADD.
    let mut zargs: Vec<Vec<u8>> = vec![b"zadd".to_vec()];
    zargs.extend(args[1..first].iter().map(|a| a.to_vec()));
    for t in args[first..].chunks(3) {
        let Some((lon, lat)) = lon_lat(c, t[0], t[1]) else {
            return;
        };
        let Some(h) = geohash::encode(lon, lat, geohash::STEP_MAX) else {
            c.out.error(SYNTAX);
            return;
        };
        zargs.push(geohash::align52(h).to_string().into_bytes());
        zargs.push(t[2].to_vec());
    }
    let refs: Vec<&[u8]> = zargs.iter().map(|a| a.as_slice()).collect();
    super::zsets::zadd(srv, c, &refs);
    c.rewritten_argv = Some(zargs);
}

pub fn geopos(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Ok(z) = read_zset(srv, c, args[1]) else {
        return;
    };
    let scores: Vec<Option<f64>> = args[2..]
        .iter()
        .map(|m| z.and_then(|z| z.score(m)))
        .collect();
    c.out.array(scores.len());
    for s in scores {
        match s {
            None => c.out.null_array(),
            Some(s) => {
                let (lon, lat) = geohash::score_to_lon_lat(s);
                c.out.array(2);
                human_double(c, lon);
                human_double(c, lat);
            }
        }
    }
}

/// addReplyHumanLongDouble: a bulk string in RESP2, a double in RESP3.
fn human_double(c: &mut Client, v: f64) {
    let s = geohash::human_coord(v);
    if c.out.resp3() {
        c.out.raw(format!(",{s}\r\n").as_bytes());
    } else {
        c.out.bulk(s.as_bytes());
    }
}

pub fn geodist(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let mut to_m = 1.0;
    if args.len() == 5 {
        let Some(u) = unit(c, args[4]) else {
            return;
        };
        to_m = u;
    } else if args.len() > 5 {
        c.out.error(SYNTAX);
        return;
    }
    let Ok(z) = read_zset(srv, c, args[1]) else {
        return;
    };
    let Some(z) = z else {
        c.out.null();
        return;
    };
    let (Some(a), Some(b)) = (z.score(args[2]), z.score(args[3])) else {
        c.out.null();
        return;
    };
    let (x1, y1) = geohash::score_to_lon_lat(a);
    let (x2, y2) = geohash::score_to_lon_lat(b);
    let d = geohash::distance(x1, y1, x2, y2) / to_m;
    c.out.bulk(geohash::fixed4(d).as_bytes());
}

pub fn geohash_cmd(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Ok(z) = read_zset(srv, c, args[1]) else {
        return;
    };
    let hashes: Vec<Option<String>> = args[2..]
        .iter()
        .map(|m| z.and_then(|z| z.score(m)).and_then(geohash::geohash_string))
        .collect();
    c.out.array(hashes.len());
    for h in hashes {
        match h {
            Some(s) => c.out.bulk(s.as_bytes()),
            None => c.out.null(),
        }
    }
}

/// Which of Redis's georadiusGeneric variants runs.
#[derive(Clone, Copy, PartialEq)]
enum Form {
    RadiusAt { store: bool },
    RadiusOfMember { store: bool },
    Search,
    SearchStore,
}

#[derive(Clone, Copy, PartialEq)]
enum Sort {
    None,
    Asc,
    Desc,
}

struct Found {
    member: Vec<u8>,
    score: f64,
    dist: f64,
    lon: f64,
    lat: f64,
}

/// The members of `z` inside `shape` around (lon, lat), scanning the search cells in order
/// (stopping at `limit` with ANY).
fn members_in(z: &ZsetValue, lon: f64, lat: f64, shape: Shape, limit: usize) -> Vec<Found> {
    let mut out = Vec::new();
    for cell in geohash::search_cells(lon, lat, shape) {
        if limit > 0 && out.len() >= limit {
            break;
        }
        let min = geohash::align52(cell) as f64;
        let max = geohash::align52(geohash::Hash {
            bits: cell.bits + 1,
            step: cell.step,
        }) as f64;
        let range = ScoreRange {
            min,
            max,
            minex: false,
            maxex: true,
        };
        let Some((first, _)) = z.score_span(&range) else {
            continue;
        };
        z.walk(first, false, |m, s| {
            if !range.lte_max(s) {
                return false;
            }
            let (plon, plat) = geohash::score_to_lon_lat(s);
            if let Some(dist) = geohash::within(shape, lon, lat, plon, plat) {
                out.push(Found {
                    member: m.to_vec(),
                    score: s,
                    dist,
                    lon: plon,
                    lat: plat,
                });
            }
            !(limit > 0 && out.len() >= limit)
        });
    }
    out
}

fn georadius_generic(srv: &mut Server, c: &mut Client, args: &[&[u8]], form: Form) {
    let src = if form == Form::SearchStore {
        args[2]
    } else {
        args[1]
    };
    let exists = match read_zset(srv, c, src) {
        Err(_) => return,
        Ok(z) => z.is_some(),
    };
    let mut center: Option<(f64, f64)> = None;
    let mut shape: Option<Shape> = None;
    let mut conversion = 1.0;
    let base = match form {
        Form::RadiusAt { .. } => {
            let Some(p) = lon_lat(c, args[2], args[3]) else {
                return;
            };
            center = Some(p);
            let Some((r, conv)) = distance_arg(c, args[4], args[5]) else {
                return;
            };
            shape = Some(Shape::Radius(r * conv));
            conversion = conv;
            6
        }
        Form::RadiusOfMember { .. } if !exists => 5,
        Form::RadiusOfMember { .. } => {
            let Some(p) = member_lon_lat(srv, c, src, args[2]) else {
                c.out.error("could not decode requested zset member");
                return;
            };
            center = Some(p);
            let Some((r, conv)) = distance_arg(c, args[3], args[4]) else {
                return;
            };
            shape = Some(Shape::Radius(r * conv));
            conversion = conv;
            5
        }
        Form::Search => 2,
        Form::SearchStore => 3,
    };
    let search = matches!(form, Form::Search | Form::SearchStore);
    let may_store = matches!(
        form,
        Form::RadiusAt { store: true } | Form::RadiusOfMember { store: true }
    );
    let (mut withdist, mut withhash, mut withcoord, mut any) = (false, false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut sort = Sort::None;
    let mut count: i64 = 0;
    let mut store: Option<&[u8]> = (form == Form::SearchStore).then_some(args[1]);
    let mut storedist = false;
    let rest = &args[base..];
    let mut i = 0;
    while i < rest.len() {
        let a = rest[i];
        let left = rest.len() - i - 1;
        if eq_ic(a, "withdist") {
            withdist = true;
        } else if eq_ic(a, "withhash") {
            withhash = true;
        } else if eq_ic(a, "withcoord") {
            withcoord = true;
        } else if eq_ic(a, "any") {
            any = true;
        } else if eq_ic(a, "asc") {
            sort = Sort::Asc;
        } else if eq_ic(a, "desc") {
            sort = Sort::Desc;
        } else if eq_ic(a, "count") && left >= 1 {
            let Some(n) = parse_i64(rest[i + 1]) else {
                c.out.error(NOT_INT);
                return;
            };
            if n <= 0 {
                c.out.error("COUNT must be > 0");
                return;
            }
            count = n;
            i += 1;
        } else if (eq_ic(a, "store") || eq_ic(a, "storedist")) && left >= 1 && may_store {
            store = Some(rest[i + 1]);
            storedist = eq_ic(a, "storedist");
            i += 1;
        } else if eq_ic(a, "storedist") && form == Form::SearchStore {
            storedist = true;
        } else if eq_ic(a, "frommember") && left >= 1 && search && !fromloc {
            if exists {
                let Some(p) = member_lon_lat(srv, c, src, rest[i + 1]) else {
                    c.out.error("could not decode requested zset member");
                    return;
                };
                center = Some(p);
            }
            frommember = true;
            i += 1;
        } else if eq_ic(a, "fromlonlat") && left >= 2 && search && !frommember {
            let Some(p) = lon_lat(c, rest[i + 1], rest[i + 2]) else {
                return;
            };
            center = Some(p);
            fromloc = true;
            i += 2;
        } else if eq_ic(a, "byradius") && left >= 2 && search && !bybox {
            let Some((r, conv)) = distance_arg(c, rest[i + 1], rest[i + 2]) else {
                return;
            };
            shape = Some(Shape::Radius(r * conv));
            conversion = conv;
            byradius = true;
            i += 2;
        } else if eq_ic(a, "bybox") && left >= 3 && search && !byradius {
            let (Some(w), Some(h)) = (parse_f64(rest[i + 1]), parse_f64(rest[i + 2])) else {
                let msg = if parse_f64(rest[i + 1]).is_none() {
                    "need numeric width"
                } else {
                    "need numeric height"
                };
                c.out.error(msg);
                return;
            };
            if h < 0.0 || w < 0.0 {
                c.out.error("height or width cannot be negative");
                return;
            }
            let Some(conv) = unit(c, rest[i + 3]) else {
                return;
            };
            shape = Some(Shape::Box {
                width: w * conv,
                height: h * conv,
            });
            conversion = conv;
            bybox = true;
            i += 3;
        } else {
            c.out.error(SYNTAX);
            return;
        }
        i += 1;
    }
    if store.is_some() && (withdist || withhash || withcoord) {
        c.out.error(&format!(
            "{} is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            if form == Form::SearchStore {
                "GEOSEARCHSTORE"
            } else {
                "STORE option in GEORADIUS"
            }
        ));
        return;
    }
    let name = String::from_utf8_lossy(args[0]);
    if search && !(frommember || fromloc) {
        c.out.error(&format!(
            "exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        ));
        return;
    }
    if search && !(byradius || bybox) {
        c.out.error(&format!(
            "exactly one of BYRADIUS and BYBOX can be specified for {name}"
        ));
        return;
    }
    if any && count == 0 {
        c.out.error("the ANY argument requires COUNT argument");
        return;
    }
    let (Some((lon, lat)), Some(shape), true) = (center, shape, exists) else {
        // No source key.
        match store {
            Some(dst) => {
                if srv.delete_key(c.db, dst) {
                    srv.notify(crate::server::notify::GENERIC, "del", dst, c.db);
                    srv.dirty += 1;
                }
                c.out.int(0);
            }
            None => c.out.array(0),
        }
        return;
    };
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let limit = if any { count as usize } else { 0 };
    let mut found = match read_zset(srv, c, src) {
        Ok(Some(z)) => members_in(z, lon, lat, shape, limit),
        _ => Vec::new(),
    };
    if found.is_empty() && store.is_none() {
        c.out.array(0);
        return;
    }
    match sort {
        Sort::Asc => found.sort_by(|a, b| a.dist.total_cmp(&b.dist)),
        Sort::Desc => found.sort_by(|a, b| b.dist.total_cmp(&a.dist)),
        Sort::None => {}
    }
    if count > 0 {
        found.truncate(count as usize);
    }
    for f in &mut found {
        f.dist /= conversion;
    }
    match store {
        None => {
            let options = withdist as usize + withhash as usize + withcoord as usize;
            c.out.array(found.len());
            for f in &found {
                if options > 0 {
                    c.out.array(options + 1);
                }
                c.out.bulk(&f.member);
                if withdist {
                    c.out.bulk(geohash::fixed4(f.dist).as_bytes());
                }
                if withhash {
                    c.out.int(f.score as i64);
                }
                if withcoord {
                    c.out.array(2);
                    human_double(c, f.lon);
                    human_double(c, f.lat);
                }
            }
        }
        Some(dst) => {
            let items: Vec<(Vec<u8>, f64)> = found
                .into_iter()
                .map(|f| {
                    let s = if storedist { f.dist } else { f.score };
                    (f.member, s)
                })
                .collect();
            let event = if search {
                "geosearchstore"
            } else {
                "georadiusstore"
            };
            super::zsets::store_result(srv, c, dst, items, event);
        }
    }
}

fn member_lon_lat(srv: &mut Server, c: &mut Client, key: &[u8], m: &[u8]) -> Option<(f64, f64)> {
    let s = read_zset(srv, c, key).ok()??.score(m)?;
    Some(geohash::score_to_lon_lat(s))
}

/// A radius and its unit: (radius, metres per unit), or None after the error reply.
fn distance_arg(c: &mut Client, r: &[u8], u: &[u8]) -> Option<(f64, f64)> {
    let Some(d) = parse_f64(r) else {
        c.out.error("need numeric radius");
        return None;
    };
    if d < 0.0 {
        c.out.error("radius cannot be negative");
        return None;
    }
    Some((d, unit(c, u)?))
}

pub fn georadius(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    georadius_generic(srv, c, args, Form::RadiusAt { store: true });
}
pub fn georadius_ro(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    georadius_generic(srv, c, args, Form::RadiusAt { store: false });
}
pub fn georadiusbymember(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    georadius_generic(srv, c, args, Form::RadiusOfMember { store: true });
}
pub fn georadiusbymember_ro(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    georadius_generic(srv, c, args, Form::RadiusOfMember { store: false });
}
pub fn geosearch(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    georadius_generic(srv, c, args, Form::Search);
}
pub fn geosearchstore(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    georadius_generic(srv, c, args, Form::SearchStore);
}
