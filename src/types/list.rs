//! Lists: a double-ended queue of elements. Redis 7.0 reports every list
//! as "quicklist"; so does Shoal.
//!
//! Both ends push and pop in O(1); indexed access is O(1) too (a ring
//! buffer), and the middle-of-list edits (LINSERT, LREM, LSET by value) are
//! O(n) as they are in Redis.

use super::Elem;
use std::collections::VecDeque;

/// Which end of a list an operation works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Left,
    Right,
}

impl End {
    /// The non-blocking pop for this end, as propagated for blocking pops.
    pub fn pop_command(self) -> &'static [u8] {
        match self {
            End::Left => b"LPOP",
            End::Right => b"RPOP",
        }
    }

    pub fn word(self) -> &'static [u8] {
        match self {
            End::Left => b"LEFT",
            End::Right => b"RIGHT",
        }
    }

    /// `LEFT` / `RIGHT`, case-insensitively.
    pub fn parse(arg: &[u8]) -> Option<End> {
        if arg.eq_ignore_ascii_case(b"left") {
            Some(End::Left)
        } else if arg.eq_ignore_ascii_case(b"right") {
            Some(End::Right)
        } else {
            None
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct ListValue {
    pub items: VecDeque<Elem>,
}

impl ListValue {
    pub fn new() -> Self {
        ListValue {
            items: VecDeque::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Every element, head to tail.
    pub fn for_each(&self, mut f: impl FnMut(&[u8])) {
        self.items.iter().for_each(|e| f(e));
    }

    pub fn push(&mut self, end: End, value: &[u8]) {
        let e = Elem::from(value);
        match end {
            End::Left => self.items.push_front(e),
            End::Right => self.items.push_back(e),
        }
    }

    pub fn push_elem(&mut self, end: End, e: Elem) {
        match end {
            End::Left => self.items.push_front(e),
            End::Right => self.items.push_back(e),
        }
    }

    pub fn pop(&mut self, end: End) -> Option<Elem> {
        match end {
            End::Left => self.items.pop_front(),
            End::Right => self.items.pop_back(),
        }
    }

    /// The position an index (negative: from the tail) refers to, if any.
    pub fn index(&self, index: i64) -> Option<usize> {
        let len = self.items.len() as i64;
        let i = if index < 0 {
            len.checked_add(index)?
        } else {
            index
        };
        (0..len).contains(&i).then_some(i as usize)
    }

    pub fn get(&self, index: i64) -> Option<&Elem> {
        self.index(index).map(|i| &self.items[i])
    }

    /// Replace the element at `index`; false when out of range.
    pub fn set(&mut self, index: i64, value: &[u8]) -> bool {
        match self.index(index) {
            Some(i) => {
                self.items[i] = Elem::from(value);
                true
            }
            None => false,
        }
    }

    /// The inclusive range `start..=end` (negative: from the tail) as
    /// LRANGE reads it, clamped; `None` when empty.
    pub fn range(&self, start: i64, end: i64) -> Option<(usize, usize)> {
        let len = self.items.len() as i64;
        let mut start = if start < 0 { len + start } else { start };
        let mut end = if end < 0 { len + end } else { end };
        if start < 0 {
            start = 0;
        }
        if start > end || start >= len {
            return None;
        }
        if end >= len {
            end = len - 1;
        }
        Some((start as usize, end as usize))
    }

    /// Keep only `start..=end` (LTRIM); returns how many were removed.
    pub fn trim(&mut self, start: i64, end: i64) -> usize {
        let len = self.items.len();
        match self.range(start, end) {
            None => {
                self.items.clear();
                len
            }
            Some((s, e)) => {
                self.items.truncate(e + 1);
                self.items.drain(..s);
                len - (e + 1 - s)
            }
        }
    }

    /// Remove up to `count` elements from `end` (all of them if fewer),
    /// in the order they were removed.
    pub fn pop_many(&mut self, end: End, count: usize) -> Vec<Elem> {
        let n = count.min(self.items.len());
        match end {
            End::Left => self.items.drain(..n).collect(),
            End::Right => {
                let at = self.items.len() - n;
                let mut v: Vec<Elem> = self.items.drain(at..).collect();
                v.reverse();
                v
            }
        }
    }

    /// LREM: remove elements equal to `value`: the first `count` from the
    /// head (count > 0), from the tail (count < 0), or all (0).
    pub fn remove(&mut self, count: i64, value: &[u8]) -> usize {
        let matching = self.items.iter().filter(|e| ***e == *value).count();
        let limit = if count == 0 {
            matching
        } else {
            (count.unsigned_abs().min(matching as u64)) as usize
        };
        if limit == 0 {
            return 0;
        }
        // From the tail: keep the first `matching - limit` matches instead.
        let skip = if count < 0 { matching - limit } else { 0 };
        let (mut seen, mut removed) = (0, 0);
        self.items.retain(|e| {
            if removed == limit || **e != *value {
                return true;
            }
            seen += 1;
            if seen <= skip {
                return true;
            }
            removed += 1;
            false
        });
        removed
    }

    /// LINSERT: put `value` before or after the first `pivot`; false if
    /// there is no pivot.
    pub fn insert(&mut self, pivot: &[u8], value: &[u8], after: bool) -> bool {
        match self.items.iter().position(|e| **e == *pivot) {
            Some(i) => {
                self.items
                    .insert(if after { i + 1 } else { i }, Elem::from(value));
                true
            }
            None => false,
        }
    }

    /// LPOS: the indexes of elements equal to `value`. `rank` (never 0)
    /// skips the first rank-1 matches, searching from the tail when
    /// negative; `count` 0 means every match; `maxlen` 0 means no limit on
    /// how many elements are compared.
    pub fn positions(&self, value: &[u8], rank: i64, count: usize, maxlen: usize) -> Vec<usize> {
        let from_tail = rank < 0;
        // i64::MIN wraps to itself, as it does in Redis: every match ranks.
        let rank = if from_tail { rank.wrapping_neg() } else { rank };
        let len = self.items.len();
        let limit = if maxlen == 0 { len } else { maxlen.min(len) };
        let mut out = Vec::new();
        let mut matches: i64 = 0;
        for step in 0..limit {
            let i = if from_tail { len - 1 - step } else { step };
            if *self.items[i] == *value {
                matches += 1;
                if matches >= rank {
                    out.push(i);
                    if count != 0 && out.len() >= count {
                        break;
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> ListValue {
        let mut l = ListValue::new();
        for i in items {
            l.push(End::Right, i.as_bytes());
        }
        l
    }

    fn strs(l: &ListValue) -> Vec<String> {
        l.items
            .iter()
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .collect()
    }

    #[test]
    fn index_and_range() {
        let l = list(&["a", "b", "c"]);
        assert_eq!(l.index(-1), Some(2));
        assert_eq!(l.index(3), None);
        assert_eq!(l.index(-4), None);
        assert_eq!(l.index(i64::MIN), None);
        assert_eq!(l.range(0, -1), Some((0, 2)));
        assert_eq!(l.range(-100, 100), Some((0, 2)));
        assert_eq!(l.range(2, 1), None);
        assert_eq!(l.range(5, 10), None);
        assert_eq!(l.range(i64::MIN, i64::MAX), Some((0, 2)));
    }

    #[test]
    fn trim_remove_insert() {
        let mut l = list(&["a", "b", "c", "d"]);
        assert_eq!(l.trim(1, -2), 2);
        assert_eq!(strs(&l), ["b", "c"]);
        assert_eq!(l.trim(5, 1), 2);
        assert!(l.is_empty());

        let mut l = list(&["x", "a", "x", "b", "x"]);
        assert_eq!(l.remove(-2, b"x"), 2);
        assert_eq!(strs(&l), ["x", "a", "b"]);
        assert_eq!(l.remove(0, b"x"), 1);
        assert_eq!(strs(&l), ["a", "b"]);
        let mut m = list(&["x", "a", "x", "b", "x"]);
        assert_eq!(m.remove(1, b"x"), 1);
        assert_eq!(strs(&m), ["a", "x", "b", "x"]);
        assert_eq!(m.remove(-1, b"x"), 1);
        assert_eq!(strs(&m), ["a", "x", "b"]);
        assert_eq!(m.remove(i64::MIN, b"x"), 1);
        assert_eq!(m.remove(5, b"q"), 0);
        assert_eq!(strs(&m), ["a", "b"]);

        assert!(l.insert(b"b", b"z", false));
        assert!(l.insert(b"b", b"y", true));
        assert!(!l.insert(b"q", b"y", true));
        assert_eq!(strs(&l), ["a", "z", "b", "y"]);
    }

    #[test]
    fn pop_many_and_positions() {
        let mut l = list(&["1", "2", "3", "4"]);
        let v: Vec<_> = l
            .pop_many(End::Right, 3)
            .iter()
            .map(|e| e.to_vec())
            .collect();
        assert_eq!(v, [b"4".to_vec(), b"3".to_vec(), b"2".to_vec()]);
        let l = list(&["a", "b", "c", "1", "2", "3", "c", "c"]);
        assert_eq!(l.positions(b"c", 1, 1, 0), [2]);
        assert_eq!(l.positions(b"c", 2, 1, 0), [6]);
        assert_eq!(l.positions(b"c", -1, 1, 0), [7]);
        assert_eq!(l.positions(b"c", 1, 0, 0), [2, 6, 7]);
        assert_eq!(l.positions(b"c", -2, 0, 0), [6, 2]);
        assert_eq!(l.positions(b"c", 1, 0, 2), Vec::<usize>::new());
        assert_eq!(l.positions(b"c", i64::MIN, 1, 0), [7]);
    }
}
