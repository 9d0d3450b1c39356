//! Object bodies of every encoding Redis 7.0 loads for strings, lists,
//! sets, hashes and sorted sets, decoded into the neutral [`Object`].
//! Compact encodings arrive as one RDB string and are parsed by the
//! listpack/ziplist/intset/zipmap modules; their errors are reported at the
//! offset of that string.

use std::io::BufRead;

use super::decode::Input;
use super::{
    container, intset, listpack, parse_score, types, ziplist, zipmap, BlobError, Element, Error,
    Object,
};

/// Largest number of elements reserved before they arrive.
const INITIAL_ELEMENTS_CAP: usize = 1024;

fn element_bytes(e: Element<'_>) -> Vec<u8> {
    match e {
        Element::Bytes(b) => b.to_vec(),
        Element::Int(v) => v.to_string().into_bytes(),
    }
}

fn element_score(e: Element<'_>) -> Option<f64> {
    match e {
        Element::Int(v) => Some(v as f64),
        Element::Bytes(b) => parse_score(b),
    }
}

fn capacity(n: u64) -> usize {
    (n as usize).min(INITIAL_ELEMENTS_CAP)
}

/// An encoded blob's structural error, at the offset of its RDB string.
fn blob_error(at: u64, kind: &str, e: BlobError) -> Error {
    Error::corrupt(at, format!("{kind} integrity check failed: {e}"))
}

fn no_nan(at: u64, score: f64) -> Result<f64, Error> {
    if score.is_nan() {
        Err(Error::corrupt(at, "zset with NaN score"))
    } else {
        Ok(score)
    }
}

/// Turns a flat sequence of member/score entries into sorted-set pairs.
fn zset_pairs(at: u64, kind: &str, flat: Vec<Element<'_>>) -> Result<Object, Error> {
    if !flat.len().is_multiple_of(2) {
        return Err(Error::corrupt(
            at,
            format!("{kind} with an odd number of entries"),
        ));
    }
    let mut out = Vec::with_capacity(flat.len() / 2);
    for pair in flat.chunks_exact(2) {
        let score = element_score(pair[1])
            .ok_or_else(|| Error::corrupt(at, format!("{kind} with an unparsable score")))?;
        out.push((element_bytes(pair[0]), no_nan(at, score)?));
    }
    Ok(Object::ZSet(out))
}

fn hash_pairs(at: u64, kind: &str, flat: Vec<Element<'_>>) -> Result<Object, Error> {
    if !flat.len().is_multiple_of(2) {
        return Err(Error::corrupt(
            at,
            format!("{kind} with an odd number of entries"),
        ));
    }
    Ok(Object::Hash(
        flat.chunks_exact(2)
            .map(|p| (element_bytes(p[0]), element_bytes(p[1])))
            .collect(),
    ))
}

fn listpack_elements<'a>(at: u64, kind: &str, lp: &'a [u8]) -> Result<Vec<Element<'a>>, Error> {
    listpack::entries(lp)
        .and_then(|entries| entries.collect::<Result<Vec<_>, _>>())
        .map_err(|e| blob_error(at, kind, e))
}

fn ziplist_elements<'a>(at: u64, kind: &str, zl: &'a [u8]) -> Result<Vec<Element<'a>>, Error> {
    ziplist::decode(zl).map_err(|e| blob_error(at, kind, e))
}

/// Reads the body of an object of type `t` (already checked to be one we
/// load); `type_at` is the type byte's offset, for errors.
pub(crate) fn read_object<R: BufRead>(
    input: &mut Input<R>,
    t: u8,
    type_at: u64,
) -> Result<Object, Error> {
    match t {
        types::STRING => Ok(Object::Str(input.string()?)),
        types::LIST | types::SET => {
            let n = input.count(1, "element count")?;
            let mut v = Vec::with_capacity(capacity(n));
            for _ in 0..n {
                v.push(input.string()?);
            }
            Ok(if t == types::LIST {
                Object::List(v)
            } else {
                Object::Set(v)
            })
        }
        types::ZSET | types::ZSET_2 => {
            let n = input.count(2, "sorted set length")?;
            let mut v = Vec::with_capacity(capacity(n));
            for _ in 0..n {
                let member = input.string()?;
                let at = input.offset();
                let score = if t == types::ZSET_2 {
                    input.binary_double()?
                } else {
                    input.text_double()?
                };
                v.push((member, no_nan(at, score)?));
            }
            Ok(Object::ZSet(v))
        }
        types::HASH => {
            let n = input.count(2, "hash length")?;
            let mut v = Vec::with_capacity(capacity(n));
            for _ in 0..n {
                let field = input.string()?;
                let value = input.string()?;
                v.push((field, value));
            }
            Ok(Object::Hash(v))
        }
        types::LIST_QUICKLIST | types::LIST_QUICKLIST_2 => read_quicklist(input, t),
        types::HASH_ZIPMAP
        | types::LIST_ZIPLIST
        | types::SET_INTSET
        | types::ZSET_ZIPLIST
        | types::HASH_ZIPLIST
        | types::ZSET_LISTPACK
        | types::HASH_LISTPACK => {
            let at = input.offset();
            let blob = input.string()?;
            read_blob(t, at, &blob)
        }
        types::STREAM_LISTPACKS | types::STREAM_LISTPACKS_2 => Ok(Object::Stream(Box::new(
            super::stream::read_body(input, t == types::STREAM_LISTPACKS_2)?,
        ))),
        _ => Err(Error::corrupt(type_at, format!("unknown object type {t}"))),
    }
}

fn read_blob(t: u8, at: u64, blob: &[u8]) -> Result<Object, Error> {
    match t {
        types::HASH_ZIPMAP => {
            let pairs = zipmap::decode(blob).map_err(|e| blob_error(at, "zipmap", e))?;
            Ok(Object::Hash(
                pairs
                    .into_iter()
                    .map(|(f, v)| (f.to_vec(), v.to_vec()))
                    .collect(),
            ))
        }
        types::LIST_ZIPLIST => Ok(Object::List(
            ziplist_elements(at, "list ziplist", blob)?
                .into_iter()
                .map(element_bytes)
                .collect(),
        )),
        types::SET_INTSET => {
            let ints = intset::decode(blob).map_err(|e| blob_error(at, "intset", e))?;
            Ok(Object::Set(
                ints.into_iter()
                    .map(|v| v.to_string().into_bytes())
                    .collect(),
            ))
        }
        types::ZSET_ZIPLIST => zset_pairs(
            at,
            "zset ziplist",
            ziplist_elements(at, "zset ziplist", blob)?,
        ),
        types::HASH_ZIPLIST => hash_pairs(
            at,
            "hash ziplist",
            ziplist_elements(at, "hash ziplist", blob)?,
        ),
        types::ZSET_LISTPACK => zset_pairs(
            at,
            "zset listpack",
            listpack_elements(at, "zset listpack", blob)?,
        ),
        _ => hash_pairs(
            at,
            "hash listpack",
            listpack_elements(at, "hash listpack", blob)?,
        ),
    }
}

/// LIST_QUICKLIST (ziplist nodes) and LIST_QUICKLIST_2 (PACKED listpack or
/// PLAIN nodes).
fn read_quicklist<R: BufRead>(input: &mut Input<R>, t: u8) -> Result<Object, Error> {
    let nodes = input.count(2, "quicklist node count")?;
    let mut out = Vec::new();
    for _ in 0..nodes {
        let mut kind = container::PACKED;
        if t == types::LIST_QUICKLIST_2 {
            let at = input.offset();
            kind = input.len()?;
            if kind != container::PACKED && kind != container::PLAIN {
                return Err(Error::corrupt(
                    at,
                    format!("bad quicklist container {kind}"),
                ));
            }
        }
        let at = input.offset();
        let data = input.string()?;
        if data.is_empty() {
            return Err(Error::corrupt(at, "empty quicklist node"));
        }
        if kind == container::PLAIN {
            out.push(data);
        } else if t == types::LIST_QUICKLIST_2 {
            out.extend(
                listpack_elements(at, "quicklist listpack", &data)?
                    .into_iter()
                    .map(element_bytes),
            );
        } else {
            out.extend(
                ziplist_elements(at, "quicklist ziplist", &data)?
                    .into_iter()
                    .map(element_bytes),
            );
        }
    }
    Ok(Object::List(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::{decode_object, listpack, DecodeOptions};

    /// A raw RDB string (length + bytes).
    fn rdb_string(b: &[u8]) -> Vec<u8> {
        assert!(b.len() < 16384);
        let mut out = if b.len() < 64 {
            vec![b.len() as u8]
        } else {
            vec![0x40 | (b.len() >> 8) as u8, b.len() as u8]
        };
        out.extend_from_slice(b);
        out
    }

    fn decode(t: u8, body: &[u8]) -> Result<Object, Error> {
        let mut data = vec![t];
        data.extend_from_slice(body);
        let (obj, used) = decode_object(&data, DecodeOptions::default())?;
        assert_eq!(used, data.len());
        Ok(obj)
    }

    fn b(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    #[test]
    fn legacy_list_encodings() {
        let items = [Element::Bytes(b"a"), Element::Int(7), Element::Int(-70000)];
        let expected = Object::List(vec![b("a"), b("7"), b("-70000")]);
        let zl = ziplist::encode(&items);
        assert_eq!(
            decode(types::LIST_ZIPLIST, &rdb_string(&zl)).unwrap(),
            expected
        );
        // LIST_QUICKLIST: two ziplist nodes, one of them empty (skipped).
        let mut body = vec![2];
        body.extend(rdb_string(&zl));
        body.extend(rdb_string(&ziplist::encode(&[])));
        assert_eq!(decode(types::LIST_QUICKLIST, &body).unwrap(), expected);
        // Plain LIST with an INT8-encoded element.
        let body = [3, 1, b'a', 0xC0, 7, 6, b'-', b'7', b'0', b'0', b'0', b'0'];
        assert_eq!(decode(types::LIST, &body).unwrap(), expected);
    }

    #[test]
    fn quicklist_2_plain_and_packed_nodes() {
        let lp = listpack::encode([Element::Bytes(b"x"), Element::Int(300)]);
        let mut body = vec![2, container::PLAIN as u8];
        body.extend(rdb_string(b"plain element"));
        body.push(container::PACKED as u8);
        body.extend(rdb_string(&lp));
        assert_eq!(
            decode(types::LIST_QUICKLIST_2, &body).unwrap(),
            Object::List(vec![b("plain element"), b("x"), b("300")])
        );
    }

    #[test]
    fn legacy_hash_and_zset_encodings() {
        let zm = zipmap::encode(&[(b"f1", b"v1"), (b"f2", b"22")], 1);
        let expected = Object::Hash(vec![(b("f1"), b("v1")), (b("f2"), b("22"))]);
        assert_eq!(
            decode(types::HASH_ZIPMAP, &rdb_string(&zm)).unwrap(),
            expected
        );
        let zl = ziplist::encode(&[
            Element::Bytes(b"f1"),
            Element::Bytes(b"v1"),
            Element::Bytes(b"f2"),
            Element::Int(22),
        ]);
        assert_eq!(
            decode(types::HASH_ZIPLIST, &rdb_string(&zl)).unwrap(),
            expected
        );

        let zl = ziplist::encode(&[
            Element::Bytes(b"m1"),
            Element::Int(1),
            Element::Bytes(b"m2"),
            Element::Bytes(b"2.5"),
            Element::Bytes(b"m3"),
            Element::Bytes(b"inf"),
        ]);
        let expected = Object::ZSet(vec![
            (b("m1"), 1.0),
            (b("m2"), 2.5),
            (b("m3"), f64::INFINITY),
        ]);
        assert_eq!(
            decode(types::ZSET_ZIPLIST, &rdb_string(&zl)).unwrap(),
            expected
        );
        // Old ZSET with text scores, including the special lengths.
        let body = [
            3, 2, b'm', b'1', 1, b'1', 2, b'm', b'2', 3, b'2', b'.', b'5', 2, b'm', b'3', 254,
        ];
        assert_eq!(decode(types::ZSET, &body).unwrap(), expected);
    }

    #[test]
    fn intset_members_become_text() {
        let mut blob = Vec::new();
        intset::encode_into(&[-5, 10, 70000], &mut blob);
        assert_eq!(
            decode(types::SET_INTSET, &rdb_string(&blob)).unwrap(),
            Object::Set(vec![b("-5"), b("10"), b("70000")])
        );
    }

    #[test]
    fn blob_errors_are_corruption() {
        let zl = ziplist::encode(&[Element::Bytes(b"m1")]);
        let e = decode(types::ZSET_ZIPLIST, &rdb_string(&zl)).unwrap_err();
        assert!(e.is_corrupt());
        let zl = ziplist::encode(&[Element::Bytes(b"m1"), Element::Bytes(b"notanumber")]);
        assert!(decode(types::ZSET_ZIPLIST, &rdb_string(&zl))
            .unwrap_err()
            .is_corrupt());
        let zl = ziplist::encode(&[Element::Bytes(b"m1"), Element::Bytes(b"nan")]);
        assert!(decode(types::ZSET_ZIPLIST, &rdb_string(&zl))
            .unwrap_err()
            .is_corrupt());
        let mut zl = ziplist::encode(&[Element::Bytes(b"a")]);
        zl[9] = 2;
        let e = decode(types::LIST_ZIPLIST, &rdb_string(&zl)).unwrap_err();
        assert!(e.is_corrupt());
        assert_eq!(e.offset, 1, "errors point at the blob's string");
        assert!(decode(types::HASH_ZIPMAP, &rdb_string(&[0, 0xFF]))
            .unwrap_err()
            .is_corrupt());
        assert!(
            decode(types::SET_INTSET, &rdb_string(&[2, 0, 0, 0, 0, 0, 0, 0]))
                .unwrap_err()
                .is_corrupt()
        );
    }
}
