//! Values stored in the keyspace and their compact encodings.
//!
//! Strings keep Redis's three encodings in spirit: integers as `i64`
//! ("int"), short strings inline without allocation ("embstr" up to 44 bytes
//! as Redis reports it), and strings that were modified in place (APPEND,
//! SETRANGE) in a growable buffer ("raw"). The other data types join this enum
//! with their own compact and large representations.

/// Longest string Redis reports as "embstr".
pub const EMBSTR_MAX: usize = 44;
const INLINE_CAP: usize = 22;

use crate::types::{HashValue, ListValue, SetValue, StreamValue, ZSetValue};

#[derive(Clone, Debug)]
pub enum Value {
    Str(StrVal),
    List(Box<ListValue>),
    Hash(Box<HashValue>),
    Set(Box<SetValue>),
    ZSet(Box<ZSetValue>),
    Stream(Box<StreamValue>),
}

impl Value {
    /// The name TYPE reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding(),
            Value::List(l) => l.encoding(),
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Stream(_) => "stream",
        }
    }

    /// Elements in a collection (1 for a string), for eviction and MEMORY.
    pub fn element_count(&self) -> usize {
        match self {
            Value::Str(_) => 1,
            Value::List(l) => l.len(),
            Value::Hash(h) => h.len(),
            Value::Set(s) => s.len(),
            Value::ZSet(z) => z.len(),
            Value::Stream(s) => s.len() as usize,
        }
    }
}

#[derive(Clone, Debug)]
pub enum StrVal {
    Int(i64),
    Inline {
        len: u8,
        buf: [u8; INLINE_CAP],
    },
    Heap(Box<[u8]>),
    /// Grown in place by APPEND / SETRANGE / SETBIT.
    Raw(Box<Vec<u8>>),
}

impl StrVal {
    /// Store bytes, as an integer when they are one's canonical form (as
    /// Redis's tryObjectEncoding does for strings of up to 20 chars).
    pub fn from_bytes(bytes: &[u8]) -> StrVal {
        if bytes.len() <= 20 {
            if let Some(i) = parse_canonical_i64(bytes) {
                return StrVal::Int(i);
            }
        }
        Self::from_bytes_no_int(bytes)
    }

    pub fn from_bytes_no_int(bytes: &[u8]) -> StrVal {
        if bytes.len() <= INLINE_CAP {
            let mut buf = [0u8; INLINE_CAP];
            buf[..bytes.len()].copy_from_slice(bytes);
            StrVal::Inline {
                len: bytes.len() as u8,
                buf,
            }
        } else {
            StrVal::Heap(bytes.into())
        }
    }

    pub fn from_vec_raw(v: Vec<u8>) -> StrVal {
        StrVal::Raw(Box::new(v))
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            StrVal::Int(_) => "int",
            StrVal::Inline { .. } => "embstr",
            StrVal::Heap(b) if b.len() <= EMBSTR_MAX => "embstr",
            StrVal::Heap(_) | StrVal::Raw(_) => "raw",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            StrVal::Int(i) => itoa::Buffer::new().format(*i).len(),
            StrVal::Inline { len, .. } => *len as usize,
            StrVal::Heap(b) => b.len(),
            StrVal::Raw(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Call `f` with the string's bytes (formatting an integer on the stack).
    #[inline]
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            StrVal::Int(i) => f(itoa::Buffer::new().format(*i).as_bytes()),
            StrVal::Inline { len, buf } => f(&buf[..*len as usize]),
            StrVal::Heap(b) => f(b),
            StrVal::Raw(v) => f(v),
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.with_bytes(|b| b.to_vec())
    }

    /// The integer value, if the string is one (as `string2ll`).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            StrVal::Int(i) => Some(*i),
            other => other.with_bytes(parse_canonical_i64),
        }
    }

    /// Turn into the growable form for in-place edits.
    pub fn make_raw(&mut self) -> &mut Vec<u8> {
        if !matches!(self, StrVal::Raw(_)) {
            let v = self.to_vec();
            *self = StrVal::Raw(Box::new(v));
        }
        match self {
            StrVal::Raw(v) => v,
            _ => unreachable!("just converted to raw"),
        }
    }
}

/// Parse an i64 written exactly as Redis's `string2ll` accepts: optional '-',
/// no leading zeros (except "0"), no '+', no spaces, in range.
pub fn parse_canonical_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = if s[0] == b'-' {
        (true, &s[1..])
    } else {
        (false, s)
    };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_integers() {
        assert_eq!(parse_canonical_i64(b"0"), Some(0));
        assert_eq!(parse_canonical_i64(b"-1"), Some(-1));
        assert_eq!(parse_canonical_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_canonical_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_canonical_i64(b"9223372036854775808"), None);
        assert_eq!(parse_canonical_i64(b"01"), None);
        assert_eq!(parse_canonical_i64(b"-0"), None);
        assert_eq!(parse_canonical_i64(b"+1"), None);
        assert_eq!(parse_canonical_i64(b" 1"), None);
        assert_eq!(parse_canonical_i64(b""), None);
    }

    #[test]
    fn encodings() {
        assert_eq!(StrVal::from_bytes(b"123").encoding(), "int");
        assert_eq!(StrVal::from_bytes(b"hello").encoding(), "embstr");
        assert_eq!(StrVal::from_bytes(&[b'a'; 44]).encoding(), "embstr");
        assert_eq!(StrVal::from_bytes(&[b'a'; 45]).encoding(), "raw");
        let mut s = StrVal::from_bytes(b"x");
        s.make_raw().push(b'y');
        assert_eq!(s.encoding(), "raw");
        assert_eq!(s.to_vec(), b"xy");
        assert_eq!(std::mem::size_of::<StrVal>(), 24);
    }
}
