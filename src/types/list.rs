//! Lists: a double-ended queue of elements. Redis 7.0 reports every list
//! as "quicklist"; so does Shoal.

use super::Elem;
use std::collections::VecDeque;

#[derive(Clone, Debug, Default)]
pub struct ListValue {
    pub items: VecDeque<Elem>,
}

impl ListValue {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }
}
