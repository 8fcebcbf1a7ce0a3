//! Round trips (encode → decode) of random keyspaces, and corrupt input that must be refused
//! with an offset, never a panic.

use super::decode::{Item, LoadLimits, RdbReader, value_from_dump, verify_dump_payload};
use super::encode::{RdbWriter, dump_payload};
use crate::types::hash::HashLimits;
use crate::types::quicklist::{End, Quicklist};
use crate::types::stream::StreamId;
use crate::types::zset::ZsetLimits;
use crate::types::{HashValue, SetValue, StrValue, Value, ZsetValue};
use proptest::prelude::*;

fn limits(small: bool, depth: usize) -> LoadLimits {
    let mut l = LoadLimits::defaults();
    if small {
        l.hash = HashLimits {
            max_entries: 8,
            max_value: 16,
        };
        l.zset = ZsetLimits {
            max_entries: 8,
            max_value: 16,
        };
        l.set_max_intset = 8;
        l.list_fill = 4;
    }
    l.list_compress_depth = depth;
    l
}

/// What a value holds, independent of node layout: type and elements. (Not the encoding: a
/// table that shrank below the thresholds loads as a listpack, as in Redis; encodings after
/// loading are compared with Redis's in tests/rdb_interop.rs.)
fn logical(v: &Value) -> (String, Vec<Vec<u8>>) {
    let mut els = Vec::new();
    match v {
        Value::Str(s) => els.push(s.bytes().to_vec()),
        Value::List(ql) => ql.for_each(|e| els.push(e.to_vec())),
        Value::Set(s) => {
            s.for_each(|m| els.push(m.to_vec()));
            els.sort();
        }
        Value::Zset(z) => z.for_each(|m, s| {
            els.push(m.to_vec());
            els.push(s.to_bits().to_le_bytes().to_vec());
        }),
        Value::Hash(h) => {
            let mut pairs = Vec::new();
            h.for_each(|f, v| pairs.push((f.to_vec(), v.to_vec())));
            pairs.sort();
            for (f, v) in pairs {
                els.push(f);
                els.push(v);
            }
        }
        Value::Stream(st) => st.range(StreamId::MIN, StreamId::MAX, false, |node, e| {
            els.push(e.id.to_bytes());
            node.for_each_field(e, |f, v| {
                els.push(f.to_vec());
                els.push(v.to_vec());
            });
            true
        }),
    }
    (v.type_name().into(), els)
}

#[derive(Debug, Clone)]
enum Spec {
    Str(Vec<u8>),
    Int(i64),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    Zset(Vec<(Vec<u8>, f64)>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    /// Entries (field-value pairs) with IDs 1.., then the IDs deleted.
    Stream(Vec<Vec<(Vec<u8>, Vec<u8>)>>, Vec<u64>),
}

fn element() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<i64>().prop_map(|i| i.to_string().into_bytes()),
        (0i64..100).prop_map(|i| i.to_string().into_bytes()),
        proptest::collection::vec(any::<u8>(), 0..24),
        // Long and compressible: exercises LZF.
        (1usize..200, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    let els = || proptest::collection::vec(element(), 1..40);
    prop_oneof![
        element().prop_map(Spec::Str),
        any::<i64>().prop_map(Spec::Int),
        els().prop_map(Spec::List),
        els().prop_map(Spec::Set),
        proptest::collection::vec((element(), -1e6f64..1e6), 1..40).prop_map(Spec::Zset),
        proptest::collection::vec((element(), element()), 1..40).prop_map(Spec::Hash),
        (
            proptest::collection::vec(
                proptest::collection::vec((element(), element()), 1..4),
                1..30
            ),
            proptest::collection::vec(1u64..30, 0..8)
        )
            .prop_map(|(e, d)| Spec::Stream(e, d)),
    ]
}

fn build(s: &Spec, lim: &LoadLimits) -> Option<Value> {
    let h = &lim.hasher;
    Some(match s {
        Spec::Str(b) => Value::Str(StrValue::from_bytes(b)),
        Spec::Int(i) => Value::Str(StrValue::Int(*i)),
        Spec::List(els) => {
            let mut ql = Quicklist::new();
            ql.set_compress_depth(lim.list_compress_depth);
            for e in els {
                ql.push(End::Tail, e, lim.list_fill);
            }
            Value::List(Box::new(ql))
        }
        Spec::Set(els) => {
            let mut set = SetValue::for_member(&els[0], h);
            for e in els {
                set.add(e, lim.set_max_intset, h);
            }
            Value::Set(set)
        }
        Spec::Zset(els) => {
            let mut z = ZsetValue::new_listpack();
            for (m, sc) in els {
                if z.score(m).is_none() {
                    z.insert(m, *sc, lim.zset, h);
                }
            }
            Value::Zset(z)
        }
        Spec::Hash(pairs) => {
            let mut hv = HashValue::new();
            for (f, v) in pairs {
                hv.convert_for_lengths([f.len(), v.len()].into_iter(), lim.hash, h);
                hv.set(f, v, lim.hash, h);
            }
            Value::Hash(hv)
        }
        Spec::Stream(entries, dels) => {
            let limits = crate::types::stream::NodeLimits {
                max_bytes: 4096,
                max_entries: 5,
            };
            let mut st = crate::types::Stream::new();
            for (i, e) in entries.iter().enumerate() {
                let fields: Vec<&[u8]> = e
                    .iter()
                    .flat_map(|(f, v)| [f.as_slice(), v.as_slice()])
                    .collect();
                let id = StreamId::new(i as u64 + 1, 0);
                st.append(&fields, Some((id, true)), 0, limits).ok()?;
            }
            for d in dels {
                st.delete(StreamId::new(*d, 0));
            }
            Value::Stream(Box::new(st))
        }
    })
}

type Keyspace = Vec<(usize, Vec<u8>, Value, Option<i64>)>;

fn write_file(ks: &Keyspace, checksum: bool, compress: bool) -> Vec<u8> {
    let mut w = RdbWriter::new(Vec::new(), checksum, compress);
    w.header().unwrap();
    w.standard_aux(1_700_000_000, 12345, false).unwrap();
    let mut dbs: Vec<usize> = ks.iter().map(|k| k.0).collect();
    dbs.sort();
    dbs.dedup();
    for db in dbs {
        let keys: Vec<_> = ks.iter().filter(|k| k.0 == db).collect();
        let exp = keys.iter().filter(|k| k.3.is_some()).count();
        w.select_db(db, keys.len(), exp).unwrap();
        for (_, k, v, e) in keys {
            w.key_value(k, v, *e, None, None).unwrap();
        }
    }
    w.finish().unwrap()
}

fn read_file(bytes: &[u8], lim: LoadLimits) -> Result<Keyspace, super::RdbError> {
    let mut r = RdbReader::new(bytes, lim);
    r.header()?;
    let mut db = 0usize;
    let mut out = Vec::new();
    loop {
        match r.next_item()? {
            Item::SelectDb(n) => db = n as usize,
            Item::Entry(e) => out.push((db, e.key, e.value, e.expire_ms)),
            Item::Eof { .. } => return Ok(out),
            _ => {}
        }
    }
}

fn dedup_keys(specs: Vec<(u8, Vec<u8>, Spec, Option<i64>)>, lim: &LoadLimits) -> Keyspace {
    let mut seen = std::collections::HashSet::new();
    let mut ks = Vec::new();
    for (db, k, s, e) in specs {
        let db = (db % 3) as usize;
        if seen.insert((db, k.clone()))
            && let Some(v) = build(&s, lim)
        {
            ks.push((db, k, v, e));
        }
    }
    ks
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn keyspaces_round_trip(
        specs in proptest::collection::vec(
            (any::<u8>(), element(), spec(), proptest::option::of(0i64..4_000_000_000_000)),
            0..24,
        ),
        small in any::<bool>(),
        depth in 0usize..2,
        checksum in any::<bool>(),
        compress in any::<bool>(),
    ) {
        let lim = limits(small, depth);
        let ks = dedup_keys(specs, &lim);
        let bytes = write_file(&ks, checksum, compress);
        let back = read_file(&bytes, lim.clone()).unwrap();
        prop_assert_eq!(back.len(), ks.len());
        let mut a: Vec<_> = ks.iter().map(|(d, k, v, e)| (*d, k.clone(), logical(v), *e)).collect();
        let mut b: Vec<_> = back.iter().map(|(d, k, v, e)| (*d, k.clone(), logical(v), *e)).collect();
        a.sort();
        b.sort();
        prop_assert_eq!(a, b);
    }

    #[test]
    fn dump_payloads_round_trip(s in spec(), small in any::<bool>(), compress in any::<bool>()) {
        let lim = limits(small, 0);
        let v = build(&s, &lim).unwrap();
        let p = dump_payload(&v, compress);
        let body = verify_dump_payload(&p).unwrap();
        let back = value_from_dump(body, lim).unwrap();
        prop_assert_eq!(logical(&back), logical(&v));
    }

    #[test]
    fn corrupt_files_are_refused_without_panics(
        specs in proptest::collection::vec((any::<u8>(), element(), spec(), Just(None)), 1..6),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in any::<usize>(),
    ) {
        let lim = limits(true, 0);
        let ks = dedup_keys(specs, &lim);
        let bytes = write_file(&ks, true, true);
        // Every truncation is an error.
        let cut = 9 + cut % (bytes.len() - 9);
        prop_assert!(read_file(&bytes[..cut], lim.clone()).is_err());
        // Flipped bytes: an error (the checksum catches what the structure does not).
        let mut bad = bytes.clone();
        let mut hit = std::collections::HashSet::new();
        for (at, x) in flips {
            let i = 9 + at % (bytes.len() - 9);
            if hit.insert(i) {
                bad[i] ^= x | 1;
            }
        }
        prop_assert!(read_file(&bad, lim.clone()).is_err());
        // Without a checksum the structure checks alone must still hold: no panic.
        let mut unchecked = bad.clone();
        let n = unchecked.len();
        unchecked[n - 8..].fill(0);
        let _ = read_file(&unchecked, lim);
    }
}

#[test]
fn an_empty_file_has_header_aux_and_checksum() {
    let bytes = write_file(&Vec::new(), true, true);
    assert_eq!(&bytes[..9], b"REDIS0010");
    assert_eq!(bytes[bytes.len() - 9], 0xFF);
    assert!(
        read_file(&bytes, LoadLimits::defaults())
            .unwrap()
            .is_empty()
    );
    let e = read_file(&bytes[..bytes.len() - 3], LoadLimits::defaults()).unwrap_err();
    assert!(e.reason.contains("end of file"), "{e}");
    let mut v = bytes.clone();
    v[5..9].copy_from_slice(b"0013");
    let e = read_file(&v, LoadLimits::defaults()).unwrap_err();
    assert!(e.reason.contains("version"), "{e}");
}

#[test]
fn strings_use_redis_integer_and_lzf_encodings() {
    let mut w = RdbWriter::new(Vec::new(), false, true);
    w.string(b"12").unwrap();
    w.string(b"-300").unwrap();
    w.string(b"100000").unwrap();
    w.string(b"012").unwrap();
    w.string(&[b'a'; 30]).unwrap();
    let out = w.into_inner().unwrap();
    let mut expect = vec![0xC0, 12, 0xC1];
    expect.extend_from_slice(&(-300i16).to_le_bytes());
    expect.push(0xC2);
    expect.extend_from_slice(&100000i32.to_le_bytes());
    expect.extend_from_slice(&[3, b'0', b'1', b'2']);
    assert_eq!(&out[..expect.len()], &expect[..]);
    assert_eq!(
        out[expect.len()],
        0xC3,
        "a repetitive 30-byte string is LZF-compressed"
    );
}

#[test]
fn dump_payload_footer_is_checked() {
    let v = Value::Str(StrValue::from_bytes(b"hello"));
    let mut p = dump_payload(&v, false);
    assert!(verify_dump_payload(&p).is_some());
    let n = p.len();
    p[n - 1] ^= 1;
    assert!(verify_dump_payload(&p).is_none());
    assert!(verify_dump_payload(b"short").is_none());
}

#[test]
fn streams_round_trip_with_tombstones_and_consumer_groups() {
    use crate::types::stream::{ConsumerGroup, Nack, NodeLimits};
    let limits = NodeLimits {
        max_bytes: 4096,
        max_entries: 3,
    };
    let mut st = crate::types::Stream::new();
    for i in 1..=8u64 {
        let v = i.to_string();
        let fields: [&[u8]; 4] = [b"f", v.as_bytes(), b"g", b"x"];
        st.append(&fields, Some((StreamId::new(i, 0), true)), 0, limits)
            .unwrap();
    }
    st.delete(StreamId::new(2, 0));
    st.max_deleted_entry_id = StreamId::new(2, 0);
    let mut g = ConsumerGroup::new(StreamId::new(5, 0), 4);
    g.create_consumer(b"alice", 1000);
    g.create_consumer(b"bob", 2000);
    for (id, owner) in [(3u64, &b"alice"[..]), (4, b"bob")] {
        let id = StreamId::new(id, 0);
        g.pel.insert(
            id,
            Nack {
                delivery_time: 1234,
                delivery_count: 2,
                consumer: owner.into(),
            },
        );
        g.assign(id, owner);
    }
    st.cgroups.insert(b"workers"[..].into(), g);
    let v = Value::Stream(Box::new(st));
    for compress in [false, true] {
        let p = dump_payload(&v, compress);
        let back =
            value_from_dump(verify_dump_payload(&p).unwrap(), LoadLimits::defaults()).unwrap();
        assert_eq!(back, v);
        assert_eq!(logical(&back), logical(&v));
    }
}
