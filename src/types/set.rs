//! Sets: a sorted integer vector while every member is an integer and the
//! set is small ("intset", set-max-intset-entries), otherwise a hash set
//! ("hashtable"), as Redis 7.0 encodes them. A set never goes back to an
//! intset once converted, as in Redis.

use super::hash::ScanTable;
use super::Elem;
use crate::util::parse_i64;

/// Redis caps intsets at 2^30 entries whatever the configuration says.
const INTSET_HARD_MAX: usize = 1 << 30;

#[derive(Clone, Debug)]
pub enum SetValue {
    /// Sorted, distinct.
    Ints(Vec<i64>),
    Table(ScanTable<Elem>),
}

impl Default for SetValue {
    fn default() -> Self {
        SetValue::Ints(Vec::new())
    }
}

impl SetValue {
    /// Allocations freeing the set costs (lazyfree's effort): its members
    /// when a hash table, one for the compact encoding.
    pub fn free_effort(&self) -> usize {
        match self {
            SetValue::Ints(_) => 1,
            SetValue::Table(t) => t.len(),
        }
    }

    /// An empty set in the encoding Redis picks for a set whose first
    /// member is `first` (setTypeCreate).
    pub fn new_for(first: &[u8]) -> SetValue {
        if parse_i64(first).is_some() {
            SetValue::Ints(Vec::new())
        } else {
            SetValue::Table(ScanTable::default())
        }
    }

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

    /// Every member as bytes, in iteration order (ascending for intsets).
    pub fn for_each(&self, mut f: impl FnMut(&[u8])) {
        match self {
            SetValue::Ints(v) => v
                .iter()
                .for_each(|i| f(itoa::Buffer::new().format(*i).as_bytes())),
            SetValue::Table(s) => s.iter().for_each(|m| f(m)),
        }
    }

    /// Member number `i` (0..len) passed to `f`, for uniform random picks.
    pub fn with_member_at<R>(&self, i: usize, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            SetValue::Ints(v) => f(itoa::Buffer::new().format(v[i]).as_bytes()),
            SetValue::Table(s) => f(s.item(i)),
        }
    }

    /// Every member as an owned element, in iteration order.
    pub fn members(&self) -> Vec<Elem> {
        let mut out = Vec::with_capacity(self.len());
        self.for_each(|m| out.push(Elem::from(m)));
        out
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            SetValue::Ints(v) => parse_i64(member).is_some_and(|i| v.binary_search(&i).is_ok()),
            SetValue::Table(s) => s.find(member).is_some(),
        }
    }

    fn convert_to_table(&mut self, extra: usize) {
        if let SetValue::Ints(v) = self {
            let mut t = ScanTable::with_capacity(v.len() + extra);
            for i in v.iter() {
                t.push_new(Elem::from(itoa::Buffer::new().format(*i).as_bytes()));
            }
            *self = SetValue::Table(t);
        }
    }

    /// Add `member`; returns true if it was not there. `max_intset` is
    /// set-max-intset-entries.
    pub fn add(&mut self, member: &[u8], max_intset: usize) -> bool {
        match self {
            SetValue::Ints(v) => match parse_i64(member) {
                Some(i) => match v.binary_search(&i) {
                    Ok(_) => false,
                    Err(pos) => {
                        v.insert(pos, i);
                        if v.len() > max_intset.min(INTSET_HARD_MAX) {
                            self.convert_to_table(0);
                        }
                        true
                    }
                },
                None => {
                    self.convert_to_table(1);
                    self.add(member, max_intset)
                }
            },
            SetValue::Table(s) => match s.find_or_hash(member) {
                Ok(_) => false,
                Err(h) => {
                    s.push_new_hashed(Elem::from(member), h);
                    true
                }
            },
        }
    }

    /// Remove `member`; returns true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            SetValue::Ints(v) => match parse_i64(member).map(|i| v.binary_search(&i)) {
                Some(Ok(pos)) => {
                    v.remove(pos);
                    true
                }
                _ => false,
            },
            SetValue::Table(s) => s.remove(member).is_some(),
        }
    }

    /// Remove member number `i` (0..len).
    pub fn remove_at(&mut self, i: usize) {
        match self {
            SetValue::Ints(v) => {
                v.remove(i);
            }
            SetValue::Table(s) => {
                s.remove_at(i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intset_until_limit_or_text() {
        let mut s = SetValue::new_for(b"1");
        assert!(s.add(b"3", 3));
        assert!(s.add(b"1", 3));
        assert!(!s.add(b"1", 3));
        assert!(s.add(b"2", 3));
        assert_eq!(s.encoding(), "intset");
        assert_eq!(
            s.members(),
            vec![
                Elem::from(&b"1"[..]),
                Elem::from(&b"2"[..]),
                Elem::from(&b"3"[..])
            ]
        );
        assert!(s.add(b"4", 3));
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains(b"4") && s.contains(b"1"));
        let mut s = SetValue::new_for(b"1");
        s.add(b"1", 512);
        assert!(!s.contains(b"01"));
        assert!(s.add(b"01", 512));
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(SetValue::new_for(b"a").encoding(), "hashtable");
        assert!(s.remove(b"1") && s.remove(b"01") && s.is_empty());
    }
}
