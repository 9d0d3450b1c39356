//! The RDB file format of Redis 7.0 (RDB version 10): the vocabulary shared
//! by the streaming encoder ([`RdbWriter`], [`ObjectEncoder`]) and decoder
//! ([`RdbReader`]) — type and opcode bytes, the neutral decoded [`Object`],
//! the [`Element`] view the encoder takes, errors with byte offsets — plus
//! the strict integer and score text rules Redis applies.
//!
//! The compact encodings embedded in RDB strings live in their own modules:
//! [`listpack`], [`ziplist`], [`intset`], [`zipmap`].

use std::fmt;
use std::io;

mod decode;
mod encode;
pub mod intset;
pub mod listpack;
mod object;
#[cfg(test)]
mod roundtrip_tests;
pub mod stream;
pub mod ziplist;
pub mod zipmap;

pub use decode::{decode_function_records, decode_object, DecodeOptions, RdbReader};
pub use encode::{EncodeOptions, EncodingLimits, ObjectEncoder, RdbWriter};

/// The RDB version this crate writes (Redis 7.0).
pub const RDB_VERSION: u16 = 10;
/// The file signature before the 4-digit version.
pub const MAGIC: &[u8; 5] = b"REDIS";

/// Object type bytes (`RDB_TYPE_*` in Redis's rdb.h).
pub mod types {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;

    /// Redis's name for a type byte, for error messages.
    pub fn name(t: u8) -> &'static str {
        match t {
            STRING => "string",
            LIST => "list",
            SET => "set",
            ZSET => "zset",
            HASH => "hash",
            ZSET_2 => "zset-2",
            MODULE => "module",
            MODULE_2 => "module-2",
            HASH_ZIPMAP => "hash-zipmap",
            LIST_ZIPLIST => "list-ziplist",
            SET_INTSET => "set-intset",
            ZSET_ZIPLIST => "zset-ziplist",
            HASH_ZIPLIST => "hash-ziplist",
            LIST_QUICKLIST => "list-quicklist",
            STREAM_LISTPACKS => "stream",
            HASH_LISTPACK => "hash-listpack",
            ZSET_LISTPACK => "zset-listpack",
            LIST_QUICKLIST_2 => "list-quicklist-2",
            STREAM_LISTPACKS_2 => "stream-2",
            _ => "unknown",
        }
    }
}

/// Opcode bytes that are not object types (`RDB_OPCODE_*`).
pub mod opcodes {
    pub const FUNCTION2: u8 = 245;
    pub const FUNCTION: u8 = 246;
    pub const MODULE_AUX: u8 = 247;
    pub const IDLE: u8 = 248;
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const EXPIRETIME: u8 = 253;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;
}

/// Length-prefix encodings (`RDB_6BITLEN` …) and string encodings.
pub(crate) mod len {
    pub const BITS6: u8 = 0;
    pub const BITS14: u8 = 1;
    pub const BITS32: u8 = 0x80;
    pub const BITS64: u8 = 0x81;
    pub const ENCVAL: u8 = 3;
    pub const ENC_INT8: u8 = 0;
    pub const ENC_INT16: u8 = 1;
    pub const ENC_INT32: u8 = 2;
    pub const ENC_LZF: u8 = 3;
}

/// Quicklist node containers in LIST_QUICKLIST_2.
pub(crate) mod container {
    pub const PLAIN: u64 = 1;
    pub const PACKED: u64 = 2;
}

/// A decoded value, independent of the encoding it was stored in.
/// Integers stored in compact encodings come back as their decimal text.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    Str(Vec<u8>),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    ZSet(Vec<(Vec<u8>, f64)>),
    Stream(Box<stream::StreamObject>),
}

impl Object {
    /// A collection with no elements; Redis skips such keys when loading.
    pub fn is_empty_collection(&self) -> bool {
        match self {
            Object::Str(_) => false,
            Object::List(v) | Object::Set(v) => v.is_empty(),
            Object::Hash(v) => v.is_empty(),
            Object::ZSet(v) => v.is_empty(),
            // Redis keeps empty streams (their IDs and groups matter).
            Object::Stream(_) => false,
        }
    }
}

/// One element the encoder is given: bytes, or an integer the server keeps
/// as a number (written exactly as its decimal text would be).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element<'a> {
    Bytes(&'a [u8]),
    Int(i64),
}

impl<'a> From<&'a [u8]> for Element<'a> {
    fn from(b: &'a [u8]) -> Self {
        Element::Bytes(b)
    }
}
impl<'a> From<&'a Vec<u8>> for Element<'a> {
    fn from(b: &'a Vec<u8>) -> Self {
        Element::Bytes(b)
    }
}
impl<'a, const N: usize> From<&'a [u8; N]> for Element<'a> {
    fn from(b: &'a [u8; N]) -> Self {
        Element::Bytes(b)
    }
}
impl<'a> From<&'a str> for Element<'a> {
    fn from(s: &'a str) -> Self {
        Element::Bytes(s.as_bytes())
    }
}
impl From<i64> for Element<'_> {
    fn from(v: i64) -> Self {
        Element::Int(v)
    }
}

/// Per-key attributes written before the key's type (EXPIRETIME_MS, IDLE,
/// FREQ opcodes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyMeta {
    /// Absolute expiry, Unix milliseconds.
    pub expire_at_ms: Option<u64>,
    /// LRU idle time in seconds (written when the server evicts by LRU).
    pub lru_idle_s: Option<u64>,
    /// LFU logarithmic counter (written when the server evicts by LFU).
    pub lfu_freq: Option<u8>,
}

/// A key with its value and attributes, as read from an RDB file.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: Vec<u8>,
    pub expire_at_ms: Option<u64>,
    pub lru_idle_s: Option<u64>,
    pub lfu_freq: Option<u8>,
    pub value: Object,
}

/// One item of an RDB file, in file order.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Aux {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    SelectDb(u64),
    ResizeDb {
        db_size: u64,
        expires_size: u64,
    },
    Entry(Entry),
    /// A function library's source (FUNCTION2; the 7.0-rc FUNCTION format
    /// is translated to the same `#!engine name=lib` form Redis builds).
    Function(Vec<u8>),
}

/// What went wrong while decoding.
#[derive(Debug)]
pub enum ErrorKind {
    /// The underlying reader failed.
    Io(io::Error),
    /// The input ended in the middle of an item.
    UnexpectedEof,
    /// The file does not start with `REDIS` and four digits.
    BadSignature,
    /// An RDB version this decoder (like Redis 7.0) does not load.
    UnsupportedVersion(u32),
    /// A type Shoal does not load (streams, modules).
    Unsupported { type_byte: u8, name: &'static str },
    /// Bytes that no valid RDB file contains.
    Corrupt(String),
    /// The trailing CRC-64 does not match the content.
    ChecksumMismatch { stored: u64, computed: u64 },
}

/// A decoding error and the input byte offset where it was found.
#[derive(Debug)]
pub struct Error {
    pub offset: u64,
    pub kind: ErrorKind,
}

impl Error {
    pub(crate) fn new(offset: u64, kind: ErrorKind) -> Self {
        Error { offset, kind }
    }

    pub(crate) fn corrupt(offset: u64, msg: impl Into<String>) -> Self {
        Error::new(offset, ErrorKind::Corrupt(msg.into()))
    }

    /// The input ended early (a partial file), as opposed to bad bytes.
    pub fn is_truncated(&self) -> bool {
        matches!(self.kind, ErrorKind::UnexpectedEof)
    }

    /// The input holds bytes a valid file cannot (including a bad checksum).
    pub fn is_corrupt(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Corrupt(_) | ErrorKind::ChecksumMismatch { .. } | ErrorKind::BadSignature
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Io(e) => write!(f, "I/O error at offset {}: {e}", self.offset),
            ErrorKind::UnexpectedEof => {
                write!(f, "unexpected end of RDB data at offset {}", self.offset)
            }
            ErrorKind::BadSignature => write!(f, "wrong RDB signature at offset {}", self.offset),
            ErrorKind::UnsupportedVersion(v) => {
                write!(f, "can't handle RDB format version {v}")
            }
            ErrorKind::Unsupported { type_byte, name } => write!(
                f,
                "unsupported RDB object type {type_byte} ({name}) at offset {}",
                self.offset
            ),
            ErrorKind::Corrupt(msg) => {
                write!(f, "corrupt RDB data at offset {}: {msg}", self.offset)
            }
            ErrorKind::ChecksumMismatch { stored, computed } => write!(
                f,
                "wrong RDB checksum at offset {}: stored {stored:016x}, computed {computed:016x}",
                self.offset
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// A structural problem inside a compact encoding (listpack, ziplist,
/// intset, zipmap): what and at which byte of the blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobError {
    pub at: usize,
    pub msg: &'static str,
}

impl BlobError {
    pub(crate) fn new(at: usize, msg: &'static str) -> Self {
        BlobError { at, msg }
    }
}

impl fmt::Display for BlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.msg, self.at)
    }
}

impl std::error::Error for BlobError {}

/// Longest decimal text of an i64 ("-9223372036854775808").
pub(crate) const MAX_INT_TEXT: usize = 20;

/// Parses `s` as an i64 only when it is the canonical decimal text of that
/// integer (no sign other than a leading '-', no leading zeros, no spaces,
/// not "-0"): Redis's `string2ll` / `lpStringToInt64` rule, which decides
/// whether a string may be stored as an integer without changing its bytes.
pub fn parse_canonical_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > MAX_INT_TEXT {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if negative {
        if v > i64::MAX as u64 + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// Writes the decimal text of `v` into `buf`, returning the used prefix.
pub(crate) fn int_text(v: i64, buf: &mut [u8; MAX_INT_TEXT]) -> &[u8] {
    let mut n = v.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// Redis's `double2ll`: the score as an integer when that is exact.
pub(crate) fn score_as_int(score: f64) -> Option<i64> {
    const HALF: f64 = (i64::MAX / 2) as f64;
    if !(-HALF..=HALF).contains(&score) {
        return None;
    }
    let v = score as i64;
    (v as f64 == score).then_some(v)
}

/// Text for a score stored as a string (listpack zsets, old ZSET type):
/// "inf", "-inf", "nan", "-0", integers as integers, otherwise a shortest
/// round-trip decimal that C's `strtod` parses back to the same double.
pub(crate) fn score_text(score: f64) -> String {
    if score.is_nan() {
        "nan".to_string()
    } else if score.is_infinite() {
        if score < 0.0 { "-inf" } else { "inf" }.to_string()
    } else if score == 0.0 {
        if score.is_sign_negative() { "-0" } else { "0" }.to_string()
    } else if let Some(v) = score_as_int(score) {
        v.to_string()
    } else {
        let plain = format!("{score}");
        let exp = format!("{score:e}");
        if exp.len() < plain.len() {
            exp
        } else {
            plain
        }
    }
}

/// Parses a score stored as text, as `strtod` would for Redis's writers'
/// output (decimal, exponent, "inf", "-inf", "nan").
pub(crate) fn parse_score(text: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(text).ok()?;
    s.trim().parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_integers() {
        assert_eq!(parse_canonical_i64(b"0"), Some(0));
        assert_eq!(parse_canonical_i64(b"-1"), Some(-1));
        assert_eq!(parse_canonical_i64(b"123"), Some(123));
        assert_eq!(parse_canonical_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_canonical_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"1a",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"99999999999999999999999",
        ] {
            assert_eq!(parse_canonical_i64(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn int_text_matches_to_string() {
        let mut buf = [0u8; MAX_INT_TEXT];
        for v in [0, 1, -1, 42, -1000, i64::MAX, i64::MIN] {
            assert_eq!(int_text(v, &mut buf), v.to_string().as_bytes());
        }
    }

    #[test]
    fn score_text_round_trips() {
        for s in [
            0.0,
            -0.0,
            1.0,
            -3.0,
            0.1,
            1.5e300,
            -2.5e-300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            123456789.125,
            f64::MAX,
            f64::MIN_POSITIVE,
        ] {
            let t = score_text(s);
            let back = parse_score(t.as_bytes()).unwrap();
            assert_eq!(back.to_bits(), s.to_bits(), "{t}");
        }
        assert!(parse_score(b"nan").unwrap().is_nan());
        assert_eq!(score_text(-0.0), "-0");
        assert_eq!(score_text(7.0), "7");
    }
}
