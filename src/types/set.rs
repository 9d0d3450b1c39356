//! Sets: a sorted integer vector while every member is an integer and the
//! set is small ("intset", set-max-intset-entries), otherwise a hash set
//! ("hashtable"), as Redis 7.0 encodes them.

use super::Elem;

#[derive(Clone, Debug)]
pub enum SetValue {
    /// Sorted, distinct.
    Ints(Vec<i64>),
    Table(hashbrown::HashSet<Elem>),
}

impl Default for SetValue {
    fn default() -> Self {
        SetValue::Ints(Vec::new())
    }
}

impl SetValue {
    pub fn len(&self) -> usize {
        match self {
            SetValue::Ints(v) => v.len(),
            SetValue::Table(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            SetValue::Ints(_) => "intset",
            SetValue::Table(_) => "hashtable",
        }
    }

    /// Every member as bytes, in no particular order.
    pub fn for_each(&self, mut f: impl FnMut(&[u8])) {
        match self {
            SetValue::Ints(v) => v.iter().for_each(|i| f(itoa::Buffer::new().format(*i).as_bytes())),
            SetValue::Table(s) => s.iter().for_each(|m| f(m)),
        }
    }
}
