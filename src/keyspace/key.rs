//! `Key`: a key's bytes, stored inline when short.
//!
//! Most keys are short ("user:1000", "key:000000012345"), so keys of up to 22
//! bytes live inside the 24-byte value itself and cost no allocation; longer
//! ones are boxed. Hashing and equality are over the bytes, so tables keyed
//! by `Key` are looked up with a plain `&[u8]`.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

const INLINE_CAP: usize = 22;

#[derive(Clone)]
pub enum Key {
    Inline { len: u8, buf: [u8; INLINE_CAP] },
    Heap(Box<[u8]>),
}

impl Key {
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline { len, buf } => &buf[..*len as usize],
            Key::Heap(b) => b,
        }
    }
}

impl From<&[u8]> for Key {
    #[inline]
    fn from(bytes: &[u8]) -> Self {
        if bytes.len() <= INLINE_CAP {
            let mut buf = [0u8; INLINE_CAP];
            buf[..bytes.len()].copy_from_slice(bytes);
            Key::Inline {
                len: bytes.len() as u8,
                buf,
            }
        } else {
            Key::Heap(bytes.into())
        }
    }
}

impl Borrow<[u8]> for Key {
    #[inline]
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::ops::Deref for Key {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Hash for Key {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Must hash exactly as `[u8]` does, for `Borrow<[u8]>` lookups.
        self.as_bytes().hash(state)
    }
}

impl PartialEq for Key {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Key {}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_heap_round_trip() {
        assert_eq!(std::mem::size_of::<Key>(), 24);
        for len in [0usize, 1, 22, 23, 100] {
            let bytes: Vec<u8> = (0..len as u8).collect();
            let k = Key::from(&bytes[..]);
            assert_eq!(k.as_bytes(), &bytes[..]);
            assert_eq!(matches!(k, Key::Inline { .. }), len <= INLINE_CAP);
        }
    }

    #[test]
    fn lookup_by_slice() {
        let mut m = hashbrown::HashMap::new();
        m.insert(Key::from(&b"short"[..]), 1);
        m.insert(Key::from(&b"a-considerably-longer-key-name"[..]), 2);
        assert_eq!(m.get(&b"short"[..]), Some(&1));
        assert_eq!(m.get(&b"a-considerably-longer-key-name"[..]), Some(&2));
    }
}
