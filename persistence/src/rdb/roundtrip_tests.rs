//! Encoder ↔ decoder tests: every type in every encoding size goes through
//! `RdbWriter`/`ObjectEncoder` and back through `RdbReader`, the exact
//! bytes of the string forms are checked against Redis's rules, and seeded
//! loops of truncations and byte flips check that no input panics.

use super::*;
use crate::dump;

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn write_file(opts: EncodeOptions, f: impl FnOnce(&mut RdbWriter<Vec<u8>>)) -> Vec<u8> {
    let mut w = RdbWriter::new(Vec::new(), opts).unwrap();
    f(&mut w);
    w.finish().unwrap()
}

fn entries(file: &[u8]) -> Vec<Entry> {
    RdbReader::new(file)
        .unwrap()
        .map(|i| i.unwrap())
        .filter_map(|i| match i {
            Item::Entry(e) => Some(e),
            _ => None,
        })
        .collect()
}

/// Sets and sorted sets compare without order.
fn normalized(o: Object) -> Object {
    match o {
        Object::Set(mut v) => {
            v.sort();
            Object::Set(v)
        }
        Object::ZSet(mut v) => {
            v.sort_by(|a, b| a.0.cmp(&b.0));
            Object::ZSet(v)
        }
        Object::Hash(mut v) => {
            v.sort();
            Object::Hash(v)
        }
        other => other,
    }
}

fn round_trip(obj: &Object) -> (Object, u8) {
    let file = write_file(EncodeOptions::default(), |w| {
        w.object(b"key", &KeyMeta::default(), obj).unwrap();
    });
    let type_byte = file[9];
    let mut es = entries(&file);
    assert_eq!(es.len(), 1);
    let value = es.remove(0).value;
    assert_eq!(normalized(value.clone()), normalized(obj.clone()));
    // The DUMP form decodes to the same value.
    let payload = dump::dump(obj).unwrap();
    assert_eq!(payload[0], type_byte);
    assert_eq!(
        normalized(dump::verify(&payload).unwrap()),
        normalized(obj.clone())
    );
    (value, type_byte)
}

fn string_body(s: &[u8], compress: bool) -> Vec<u8> {
    let opts = EncodeOptions {
        compress,
        ..EncodeOptions::default()
    };
    let mut v = ObjectEncoder::new(opts).string(s).unwrap();
    assert_eq!(v.remove(0), types::STRING);
    v
}

#[test]
fn string_integer_encodings() {
    assert_eq!(string_body(b"0", true), vec![0xC0, 0]);
    assert_eq!(string_body(b"-128", true), vec![0xC0, 0x80]);
    assert_eq!(string_body(b"127", true), vec![0xC0, 127]);
    assert_eq!(string_body(b"128", true), vec![0xC1, 128, 0]);
    assert_eq!(string_body(b"-32768", true), vec![0xC1, 0, 0x80]);
    assert_eq!(string_body(b"32768", true), vec![0xC2, 0, 0x80, 0, 0]);
    assert_eq!(string_body(b"-2147483648", true), vec![0xC2, 0, 0, 0, 0x80]);
    // Out of i32 range, or not canonical: stored as text.
    for s in [
        "2147483648",
        "-2147483649",
        "01",
        "+1",
        " 1",
        "-0",
        "1.0",
        "",
    ] {
        let mut expected = vec![s.len() as u8];
        expected.extend_from_slice(s.as_bytes());
        assert_eq!(string_body(s.as_bytes(), true), expected, "{s}");
    }
    // Integers given as numbers follow rdbSaveLongLongAsStringObject.
    let mut enc = ObjectEncoder::default();
    assert_eq!(enc.string(Element::Int(-1)).unwrap(), vec![0, 0xC0, 0xFF]);
    let big = enc.string(Element::Int(i64::MAX)).unwrap();
    assert_eq!(&big[1..], b"\x139223372036854775807");
    for s in ["0", "-1", "2147483647", "-2147483648", "2147483648", "007"] {
        round_trip(&Object::Str(b(s)));
    }
    round_trip(&Object::Str(Vec::new()));
}

#[test]
fn string_lzf_rules() {
    // 20 bytes: never compressed.
    let twenty = vec![b'a'; 20];
    assert_eq!(string_body(&twenty, true)[0], 20);
    // 21 compressible bytes: LZF (ENCVAL|3, clen, len, data).
    let body = string_body(&[b'a'; 21], true);
    assert_eq!(body[0], 0xC3);
    assert_eq!(body[2], 21);
    // Incompressible: raw.
    let noise: Vec<u8> = (0..200u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let body = string_body(&noise, true);
    assert_eq!(&body[..2], &[0x40, 200]);
    // Compression off: raw.
    let long = vec![b'z'; 1000];
    assert_eq!(&string_body(&long, false)[..2], &[0x43, 0xE8]);
    for s in [twenty, vec![b'a'; 21], noise, long, b"abc".repeat(100_000)] {
        round_trip(&Object::Str(s));
    }
}

#[test]
fn lists_small_and_large() {
    let small = Object::List(vec![b("a"), b("1"), b("-5"), b(""), b("hello world")]);
    assert_eq!(round_trip(&small).1, types::LIST_QUICKLIST_2);
    // Many elements: several 8 KiB nodes.
    let many = Object::List(
        (0..5000)
            .map(|i| format!("element-{i}").into_bytes())
            .collect(),
    );
    round_trip(&many);
    // Elements larger than a node each get their own node.
    let big = Object::List(vec![vec![b'x'; 10_000], b("s"), vec![b'y'; 70_000], b("t")]);
    round_trip(&big);
    // Entry-count fill (list-max-listpack-size 3): 10 elements, 4 nodes.
    let opts = EncodeOptions {
        limits: EncodingLimits {
            list_max_listpack_size: 3,
            ..EncodingLimits::default()
        },
        ..EncodeOptions::default()
    };
    let items: Vec<Vec<u8>> = (0..10).map(|i| format!("{i}").into_bytes()).collect();
    let obj = ObjectEncoder::new(opts).list(items.len(), &items).unwrap();
    assert_eq!(obj[0], types::LIST_QUICKLIST_2);
    assert_eq!(obj[1], 4, "node count");
    let (decoded, _) = decode_object(&obj, DecodeOptions::default()).unwrap();
    assert_eq!(decoded, Object::List(items));
}

#[test]
fn sets_intset_and_hashtable() {
    let ints = Object::Set(vec![b("5"), b("-3"), b("100000"), b("0")]);
    assert_eq!(round_trip(&ints).1, types::SET_INTSET);
    let wide = Object::Set(vec![
        b("1"),
        b("9223372036854775807"),
        b("-9223372036854775808"),
    ]);
    assert_eq!(round_trip(&wide).1, types::SET_INTSET);
    let mixed = Object::Set(vec![b("1"), b("x")]);
    assert_eq!(round_trip(&mixed).1, types::SET);
    let many_ints = Object::Set((0..600).map(|i| i.to_string().into_bytes()).collect());
    assert_eq!(round_trip(&many_ints).1, types::SET);
    // Members given as numbers.
    let obj = ObjectEncoder::default()
        .set(3, [Element::Int(3), Element::Int(1), Element::Int(2)])
        .unwrap();
    assert_eq!(obj[0], types::SET_INTSET);
    // Duplicate members are the caller's bug.
    assert!(ObjectEncoder::default().set(2, [&b"1"[..], b"1"]).is_err());
}

#[test]
fn hashes_listpack_and_hashtable() {
    let small = Object::Hash(vec![(b("f"), b("v")), (b("n"), b("42")), (b("e"), b(""))]);
    assert_eq!(round_trip(&small).1, types::HASH_LISTPACK);
    let long_value = Object::Hash(vec![(b("f"), vec![b'v'; 65])]);
    assert_eq!(round_trip(&long_value).1, types::HASH);
    let at_limit = Object::Hash(vec![(vec![b'f'; 64], vec![b'v'; 64])]);
    assert_eq!(round_trip(&at_limit).1, types::HASH_LISTPACK);
    let many = Object::Hash(
        (0..513)
            .map(|i| (format!("f{i}").into_bytes(), format!("{i}").into_bytes()))
            .collect(),
    );
    assert_eq!(round_trip(&many).1, types::HASH);
}

#[test]
fn zsets_listpack_and_skiplist() {
    let small = Object::ZSet(vec![
        (b("c"), 3.5),
        (b("a"), 1.0),
        (b("b"), 1.0),
        (b("inf"), f64::INFINITY),
        (b("ninf"), f64::NEG_INFINITY),
        (b("negzero"), -0.0),
        (b("tiny"), 1e-300),
        (b("big"), 1e300),
        (b("7"), -12345.0),
    ]);
    let (decoded, t) = round_trip(&small);
    assert_eq!(t, types::ZSET_LISTPACK);
    // The listpack is in (score, member) order, as Redis requires.
    let Object::ZSet(v) = decoded else { panic!() };
    let order: Vec<&[u8]> = v.iter().map(|(m, _)| m.as_slice()).collect();
    assert_eq!(
        order,
        vec![
            &b"ninf"[..],
            b"7",
            b"negzero",
            b"tiny",
            b"a",
            b"b",
            b"c",
            b"big",
            b"inf"
        ]
    );
    assert!(v[2].1.is_sign_negative());
    let long_member = Object::ZSet(vec![(vec![b'm'; 65], 1.0)]);
    assert_eq!(round_trip(&long_member).1, types::ZSET_2);
    let many = Object::ZSet(
        (0..200)
            .map(|i| (format!("m{i}").into_bytes(), i as f64 / 3.0))
            .collect(),
    );
    assert_eq!(round_trip(&many).1, types::ZSET_2);
    let nan: Vec<(&[u8], f64)> = vec![(b"m", f64::NAN)];
    assert!(ObjectEncoder::default()
        .zset(1, nan.iter().copied())
        .is_err());
}

#[test]
fn wrong_lengths_and_empty_collections_are_refused() {
    let mut enc = ObjectEncoder::default();
    assert!(enc.list(3, [&b"a"[..]]).is_err());
    assert!(enc.set(1, [&b"a"[..], b"b"]).is_err());
    assert!(enc.set(700, [&b"a"[..]]).is_err());
    assert!(enc.hash(2, [(&b"f"[..], &b"v"[..])]).is_err());
    let none: [&[u8]; 0] = [];
    assert!(enc.list(0, none).is_err());
    assert!(enc.set(0, none).is_err());
    // The encoder still works after errors.
    assert_eq!(
        enc.list(1, [&b"a"[..]]).unwrap()[0],
        types::LIST_QUICKLIST_2
    );
}

#[test]
fn file_items_and_key_metadata() {
    let meta = KeyMeta {
        expire_at_ms: Some(4_102_444_800_000),
        lru_idle_s: Some(1234),
        lfu_freq: Some(200),
    };
    let file = write_file(EncodeOptions::default(), |w| {
        w.aux(b"redis-ver", b"7.0.15").unwrap();
        w.aux_int(b"redis-bits", 64).unwrap();
        w.aux_int(b"ctime", 1_700_000_000).unwrap();
        w.function(b"#!lua name=mylib\nredis.register_function('f', function() return 1 end)")
            .unwrap();
        w.select_db(0).unwrap();
        w.resize_db(1, 1).unwrap();
        w.string(b"s", &meta, &b"v"[..]).unwrap();
        w.select_db(5).unwrap();
        w.resize_db(1, 0).unwrap();
        w.zset(b"z", &KeyMeta::default(), 1, [(&b"m"[..], 2.0)])
            .unwrap();
    });
    let items: Vec<Item> = RdbReader::new(&file[..])
        .unwrap()
        .map(|i| i.unwrap())
        .collect();
    assert_eq!(items.len(), 10);
    assert_eq!(
        items[1],
        Item::Aux {
            key: b("redis-bits"),
            value: b("64")
        }
    );
    assert!(matches!(&items[3], Item::Function(code) if code.starts_with(b"#!lua")));
    assert_eq!(
        items[6],
        Item::Entry(Entry {
            key: b("s"),
            expire_at_ms: meta.expire_at_ms,
            lru_idle_s: meta.lru_idle_s,
            lfu_freq: meta.lfu_freq,
            value: Object::Str(b("v")),
        })
    );
    assert_eq!(items[7], Item::SelectDb(5));
    // The checksum is the CRC-64 of everything before it.
    let n = file.len();
    let stored = u64::from_le_bytes(file[n - 8..].try_into().unwrap());
    assert_eq!(stored, crate::crc64::crc64(0, &file[..n - 8]));
    // Checksum off writes zero.
    let opts = EncodeOptions {
        checksum: false,
        ..EncodeOptions::default()
    };
    let file = write_file(opts, |w| {
        w.string(b"k", &KeyMeta::default(), &b"v"[..]).unwrap()
    });
    assert_eq!(&file[file.len() - 8..], &[0; 8]);
    assert_eq!(entries(&file).len(), 1);
}

/// A file with every type in small and large encodings.
fn rich_file() -> Vec<u8> {
    let objects = [
        Object::Str(b("12")),
        Object::Str(b"compress me ".repeat(10)),
        Object::List(vec![b("a"), b("2")]),
        Object::List((0..300).map(|i| format!("{i:070}").into_bytes()).collect()),
        Object::Set(vec![b("1"), b("2")]),
        Object::Set(vec![b("x"), b("y")]),
        Object::Hash(vec![(b("f"), b("v"))]),
        Object::Hash(
            (0..130)
                .map(|i| (format!("f{i}").into_bytes(), b("v")))
                .collect(),
        ),
        Object::ZSet(vec![(b("m"), 1.5)]),
        Object::ZSet(
            (0..130)
                .map(|i| (format!("m{i}").into_bytes(), i as f64))
                .collect(),
        ),
    ];
    write_file(EncodeOptions::default(), |w| {
        w.aux(b"redis-ver", b"7.0.15").unwrap();
        w.select_db(0).unwrap();
        for (i, o) in objects.iter().enumerate() {
            let meta = KeyMeta {
                expire_at_ms: (i % 2 == 0).then_some(2_000_000_000_000),
                ..KeyMeta::default()
            };
            w.object(format!("k{i}").as_bytes(), &meta, o).unwrap();
        }
    })
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn drain(data: &[u8]) -> Result<usize, Error> {
    let mut n = 0;
    for item in RdbReader::new(data)? {
        item?;
        n += 1;
    }
    Ok(n)
}

#[test]
fn every_truncation_is_reported_as_such() {
    let file = rich_file();
    assert_eq!(drain(&file).unwrap(), 12);
    for cut in 0..file.len() {
        let e = drain(&file[..cut]).unwrap_err();
        assert!(e.is_truncated(), "cut at {cut}: {e}");
    }
}

#[test]
fn random_byte_flips_never_panic() {
    let file = rich_file();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let mut data = file.clone();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(data.len());
            data[i] = rng.next() as u8;
        }
        if rng.below(4) == 0 {
            data.truncate(rng.below(data.len()));
        }
        // Either an error or (rarely, when a flip hits unchecked bytes
        // with the checksum disabled) success — never a panic.
        let _ = drain(&data);
        let opts = DecodeOptions {
            input_len: Some(data.len() as u64),
            verify_checksum: false,
            ..DecodeOptions::default()
        };
        if let Ok(r) = RdbReader::with_options(&data[..], opts) {
            for item in r {
                if item.is_err() {
                    break;
                }
            }
        }
    }
}

#[test]
fn random_dump_payloads_never_panic() {
    let objects = [
        Object::List((0..50).map(|i| format!("{i}").into_bytes()).collect()),
        Object::Hash(vec![(b("f"), b("v")), (b("g"), b("1"))]),
        Object::ZSet(vec![(b("m"), 1.5), (b("n"), 2.0)]),
        Object::Set(vec![b("1"), b("300000")]),
        Object::Str(b"abcabcabcabcabcabcabcabcabc".to_vec()),
    ];
    let mut rng = XorShift(42);
    for _ in 0..5000 {
        let base = dump::dump(&objects[rng.below(objects.len())]).unwrap();
        let mut body = base[..base.len() - dump::FOOTER_LEN].to_vec();
        for _ in 0..1 + rng.below(3) {
            let i = rng.below(body.len());
            body[i] = rng.next() as u8;
        }
        // Re-seal so the footer passes and the decoder sees the damage.
        let _ = dump::verify(&dump::seal(body));
    }
}
