//! Hashes: a field/value vector while small ("listpack"), a hash table
//! once they pass hash-max-listpack-entries / hash-max-listpack-value.

use super::Elem;

#[derive(Clone, Debug)]
pub enum HashValue {
    /// Insertion-ordered pairs, searched linearly (small hashes only).
    Small(Vec<(Elem, Elem)>),
    Table(hashbrown::HashMap<Elem, Elem>),
}

impl Default for HashValue {
    fn default() -> Self {
        HashValue::Small(Vec::new())
    }
}

impl HashValue {
    pub fn len(&self) -> usize {
        match self {
            HashValue::Small(v) => v.len(),
            HashValue::Table(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            HashValue::Small(_) => "listpack",
            HashValue::Table(_) => "hashtable",
        }
    }

    /// Every (field, value) pair, in no particular order.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], &[u8])) {
        match self {
            HashValue::Small(v) => v.iter().for_each(|(k, x)| f(k, x)),
            HashValue::Table(m) => m.iter().for_each(|(k, x)| f(k, x)),
        }
    }
}
