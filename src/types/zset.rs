//! Sorted sets: a score-ordered vector while small ("listpack",
//! zset-max-listpack-entries / -value), then an order-statistic structure
//! with a member → score index ("skiplist"), so rank and range queries
//! are O(log n).

use super::Elem;

#[derive(Clone, Debug)]
pub enum ZSetValue {
    /// Sorted by (score, member).
    Small(Vec<(f64, Elem)>),
    Big(Box<ZSetBig>),
}

/// The large form; its fields belong to the zset implementation.
#[derive(Clone, Debug, Default)]
pub struct ZSetBig {
    pub scores: hashbrown::HashMap<Elem, f64>,
}

impl Default for ZSetValue {
    fn default() -> Self {
        ZSetValue::Small(Vec::new())
    }
}

impl ZSetValue {
    pub fn len(&self) -> usize {
        match self {
            ZSetValue::Small(v) => v.len(),
            ZSetValue::Big(b) => b.scores.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            ZSetValue::Small(_) => "listpack",
            ZSetValue::Big(_) => "skiplist",
        }
    }

    /// Every (score, member) in rank order.
    pub fn for_each_ordered(&self, mut f: impl FnMut(f64, &[u8])) {
        match self {
            ZSetValue::Small(v) => v.iter().for_each(|(s, m)| f(*s, m)),
            ZSetValue::Big(b) => {
                let mut all: Vec<(f64, &Elem)> = b.scores.iter().map(|(m, s)| (*s, m)).collect();
                all.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.as_bytes().cmp(b.1.as_bytes())));
                all.into_iter().for_each(|(s, m)| f(s, m));
            }
        }
    }
}
