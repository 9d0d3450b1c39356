//! Hashes: a field/value vector while small ("listpack"), a hash table
//! once they pass hash-max-listpack-entries / hash-max-listpack-value.
//!
//! The large form is `table::ScanTable`, a chained hash table over a dense
//! item vector. The dense vector makes iteration and uniform random picks
//! (HRANDFIELD, SPOP, SRANDMEMBER) O(1) per element; the power-of-two bucket
//! array lets HSCAN/SSCAN walk buckets with Redis's reverse-binary cursor,
//! which returns every element present for the whole scan even when the
//! table grows or shrinks between calls. Sets use the same table.

use super::Elem;
pub use table::ScanTable;

/// The encoding limits a hash is kept under (from `ctx.hot`).
#[derive(Clone, Copy, Debug)]
pub struct HashLimits {
    pub max_entries: usize,
    pub max_value: usize,
}

#[derive(Clone, Debug)]
pub enum HashValue {
    /// Insertion-ordered pairs, searched linearly (small hashes only).
    Small(Vec<(Elem, Elem)>),
    Table(ScanTable<(Elem, Elem)>),
}

impl Default for HashValue {
    fn default() -> Self {
        HashValue::Small(Vec::new())
    }
}

impl HashValue {
    /// Allocations freeing the hash costs (lazyfree's effort): its fields
    /// when a hash table, one for the compact encoding.
    pub fn free_effort(&self) -> usize {
        match self {
            HashValue::Small(_) => 1,
            HashValue::Table(t) => t.len(),
        }
    }

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

    /// Every (field, value) pair, in iteration order.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], &[u8])) {
        self.pairs().for_each(|(k, x)| f(k, x))
    }

    /// All pairs, in iteration order.
    pub fn pairs(&self) -> Pairs<'_> {
        match self {
            HashValue::Small(v) => Pairs::Small(v.iter()),
            HashValue::Table(t) => Pairs::Table(t.iter()),
        }
    }

    /// Pair number `i` (0..len), for uniform random picks.
    pub fn pair_at(&self, i: usize) -> (&[u8], &[u8]) {
        let (k, v) = match self {
            HashValue::Small(v) => &v[i],
            HashValue::Table(t) => t.item(i),
        };
        (k, v)
    }

    fn index_of(&self, field: &[u8]) -> Option<usize> {
        match self {
            HashValue::Small(v) => v.iter().position(|(k, _)| &k[..] == field),
            HashValue::Table(t) => t.find(field),
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.index_of(field).map(|i| self.pair_at(i).1)
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.index_of(field).is_some()
    }

    /// Switch to the hash table form (never back, as Redis).
    pub fn convert_to_table(&mut self) {
        if let HashValue::Small(v) = self {
            let mut t = ScanTable::with_capacity(v.len());
            for pair in v.drain(..) {
                t.push_new(pair);
            }
            *self = HashValue::Table(t);
        }
    }

    /// Convert first if any of `lens` (field/value lengths about to be
    /// written) is longer than the listpack allows.
    pub fn prepare_for_lengths(&mut self, lens: impl Iterator<Item = usize>, limits: HashLimits) {
        if matches!(self, HashValue::Small(_)) {
            let mut lens = lens;
            if lens.any(|l| l > limits.max_value) {
                self.convert_to_table();
            }
        }
    }

    /// Set `field` to `value`; returns true if the field is new.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: HashLimits) -> bool {
        self.prepare_for_lengths([field.len(), value.len()].into_iter(), limits);
        match self {
            HashValue::Small(v) => {
                if let Some(p) = v.iter_mut().find(|(k, _)| &k[..] == field) {
                    p.1 = Elem::from(value);
                    return false;
                }
                v.push((Elem::from(field), Elem::from(value)));
                if v.len() > limits.max_entries {
                    self.convert_to_table();
                }
                true
            }
            HashValue::Table(t) => match t.find_or_hash(field) {
                Ok(i) => {
                    t.item_mut(i).1 = Elem::from(value);
                    false
                }
                Err(h) => {
                    t.push_new_hashed((Elem::from(field), Elem::from(value)), h);
                    true
                }
            },
        }
    }

    /// Remove `field`; returns true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            HashValue::Small(v) => match v.iter().position(|(k, _)| &k[..] == field) {
                Some(i) => {
                    v.remove(i);
                    true
                }
                None => false,
            },
            HashValue::Table(t) => t.remove(field).is_some(),
        }
    }
}

/// A hash's pairs in iteration order, whichever its encoding.
#[derive(Clone)]
pub enum Pairs<'a> {
    Small(std::slice::Iter<'a, (Elem, Elem)>),
    Table(table::Iter<'a, (Elem, Elem)>),
}

impl<'a> Pairs<'a> {
    /// No pairs (a missing key).
    pub fn empty() -> Self {
        Pairs::Small([].iter())
    }
}

impl<'a> Iterator for Pairs<'a> {
    type Item = &'a (Elem, Elem);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Pairs::Small(i) => i.next(),
            Pairs::Table(i) => i.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Pairs::Small(i) => i.size_hint(),
            Pairs::Table(i) => i.size_hint(),
        }
    }
}

impl ExactSizeIterator for Pairs<'_> {}

/// The hash table behind large hashes and sets.
pub mod table {
    use super::Elem;
    use std::hash::BuildHasher;
    use std::sync::OnceLock;

    /// An item stored in a `ScanTable`, found by its key bytes.
    pub trait Keyed {
        fn key(&self) -> &[u8];
    }

    impl Keyed for Elem {
        fn key(&self) -> &[u8] {
            self
        }
    }

    impl Keyed for (Elem, Elem) {
        fn key(&self) -> &[u8] {
            &self.0
        }
    }

    const NIL: u32 = u32::MAX;
    const MIN_BUCKETS: usize = 4;

    /// One process-wide seeded hasher: hashes are stored with the items,
    /// so a table's bucket layout only depends on its own contents.
    pub fn hash_of(key: &[u8]) -> u32 {
        static STATE: OnceLock<hashbrown::DefaultHashBuilder> = OnceLock::new();
        STATE.get_or_init(Default::default).hash_one(key) as u32
    }

    /// How many items of `size` bytes fit in the allocation jemalloc
    /// makes for `n` of them: its size classes are 16-byte steps up to 128
    /// bytes, then four per doubling (160, 192, 224, 256, 320, ...). A
    /// table grown to the whole class reallocates several times less
    /// often for the same memory. Rounds down where unsure (tiny sizes).
    fn fill_size_class(n: usize, size: usize) -> usize {
        let bytes = n * size;
        if size == 0 || bytes <= 16 {
            return n;
        }
        let lg = usize::BITS - 1 - (bytes - 1).leading_zeros();
        let spacing = 1usize << (lg - 2);
        let class = (bytes + spacing - 1) & !(spacing - 1);
        (class / size).max(n)
    }

    fn buckets_for(n: usize) -> usize {
        n.max(MIN_BUCKETS).next_power_of_two()
    }

    #[derive(Clone, Copy, Debug)]
    struct Link {
        hash: u32,
        next: u32,
    }

    /// An item with its chain link beside it: a lookup reads the bucket
    /// head and then one node (hash, next and the key's first bytes share
    /// a cache line) instead of a link array and an item array apart —
    /// one cache miss fewer per lookup in a table larger than the cache.
    #[derive(Clone, Debug)]
    #[repr(C)]
    struct Node<T> {
        link: Link,
        item: T,
    }

    /// Items in a dense vector; `heads[bucket]` starts a chain through
    /// `nodes[i].link.next`. Removal swaps the last item into the hole.
    #[derive(Clone, Debug)]
    pub struct ScanTable<T> {
        nodes: Vec<Node<T>>,
        heads: Vec<u32>,
    }

    /// The items of a `ScanTable` in iteration order.
    #[derive(Clone)]
    pub struct Iter<'a, T>(std::slice::Iter<'a, Node<T>>);

    impl<'a, T> Iterator for Iter<'a, T> {
        type Item = &'a T;

        #[inline]
        fn next(&mut self) -> Option<&'a T> {
            self.0.next().map(|n| &n.item)
        }

        fn size_hint(&self) -> (usize, Option<usize>) {
            self.0.size_hint()
        }
    }

    impl<T> ExactSizeIterator for Iter<'_, T> {}

    impl<T: Keyed> Default for ScanTable<T> {
        fn default() -> Self {
            Self::with_capacity(0)
        }
    }

    impl<T: Keyed> ScanTable<T> {
        /// An empty table allocates nothing until its first item.
        pub fn with_capacity(n: usize) -> Self {
            let mut t = ScanTable {
                nodes: Vec::with_capacity(n),
                heads: Vec::new(),
            };
            if n > 0 {
                t.rebucket(buckets_for(n));
            }
            t
        }

        pub fn len(&self) -> usize {
            self.nodes.len()
        }

        pub fn is_empty(&self) -> bool {
            self.nodes.is_empty()
        }

        /// Items in iteration order.
        pub fn iter(&self) -> Iter<'_, T> {
            Iter(self.nodes.iter())
        }

        /// Item `i` (0..len).
        #[inline]
        pub fn item(&self, i: usize) -> &T {
            &self.nodes[i].item
        }

        /// Item `i`, mutable. The caller must not change its key.
        #[inline]
        pub fn item_mut(&mut self, i: usize) -> &mut T {
            &mut self.nodes[i].item
        }

        #[inline]
        fn bucket(&self, hash: u32) -> usize {
            hash as usize & (self.heads.len() - 1)
        }

        #[inline]
        pub fn find(&self, key: &[u8]) -> Option<usize> {
            if self.nodes.is_empty() {
                return None;
            }
            let h = hash_of(key);
            let mut i = self.heads[self.bucket(h)];
            while i != NIL {
                let n = &self.nodes[i as usize];
                if n.link.hash == h && n.item.key() == key {
                    return Some(i as usize);
                }
                i = n.link.next;
            }
            None
        }

        /// Start loading the bucket head a lookup of hash `h` reads first.
        #[inline]
        pub fn prefetch_head(&self, h: u32) {
            if !self.nodes.is_empty() {
                crate::util::prefetch(&self.heads[self.bucket(h)]);
            }
        }

        /// Start loading the first node of hash `h`'s chain (its head is
        /// expected in cache by now: see `prefetch_head`).
        #[inline]
        pub fn prefetch_node(&self, h: u32) {
            if self.nodes.is_empty() {
                return;
            }
            let i = self.heads[self.bucket(h)];
            if i != NIL {
                crate::util::prefetch(&self.nodes[i as usize]);
            }
        }

        /// `Ok(index)` of `key`, or `Err(hash)` to add it with
        /// [`push_new_hashed`](Self::push_new_hashed) without hashing twice.
        #[inline]
        pub fn find_or_hash(&self, key: &[u8]) -> Result<usize, u32> {
            let h = hash_of(key);
            if self.nodes.is_empty() {
                return Err(h);
            }
            let mut i = self.heads[self.bucket(h)];
            while i != NIL {
                let n = &self.nodes[i as usize];
                if n.link.hash == h && n.item.key() == key {
                    return Ok(i as usize);
                }
                i = n.link.next;
            }
            Err(h)
        }

        /// Add an item whose key is not in the table; returns its index.
        pub fn push_new(&mut self, item: T) -> usize {
            let h = hash_of(item.key());
            self.push_new_hashed(item, h)
        }

        /// [`push_new`](Self::push_new) with the key's hash from
        /// [`find_or_hash`](Self::find_or_hash).
        pub fn push_new_hashed(&mut self, item: T, h: u32) -> usize {
            debug_assert_eq!(h, hash_of(item.key()));
            let n = self.nodes.len();
            assert!(n < NIL as usize - 1, "table full");
            if n >= self.heads.len() {
                self.rebucket(buckets_for(n + 1));
            }
            // Grow in small steps rather than doubling, so the array stays
            // nearly full: the keyspace has thousands of small slot tables
            // and doubling left them about half empty. Large tables grow
            // by a quarter to keep the copying amortised.
            if self.nodes.len() == self.nodes.capacity() {
                let extra = if n < 4096 { (n / 16).max(4) } else { n / 4 };
                let cap = fill_size_class(n + extra, std::mem::size_of::<Node<T>>());
                self.nodes.reserve_exact(cap - n);
            }
            let b = self.bucket(h);
            self.nodes.push(Node {
                link: Link {
                    hash: h,
                    next: self.heads[b],
                },
                item,
            });
            self.heads[b] = n as u32;
            n
        }

        pub fn remove(&mut self, key: &[u8]) -> Option<T> {
            let i = self.find(key)?;
            Some(self.remove_at(i))
        }

        /// Remove item `i`; the last item takes its index.
        pub fn remove_at(&mut self, i: usize) -> T {
            self.unlink(i);
            let last = self.nodes.len() - 1;
            if i != last {
                let b = self.bucket(self.nodes[last].link.hash);
                if self.heads[b] == last as u32 {
                    self.heads[b] = i as u32;
                } else {
                    let mut j = self.heads[b];
                    loop {
                        let next = self.nodes[j as usize].link.next;
                        if next == last as u32 {
                            self.nodes[j as usize].link.next = i as u32;
                            break;
                        }
                        j = next;
                    }
                }
            }
            let item = self.nodes.swap_remove(i).item;
            // Shrink when under 10% full, as Redis's dicts do.
            if self.heads.len() > MIN_BUCKETS && self.nodes.len() * 10 < self.heads.len() {
                self.rebucket(buckets_for(self.nodes.len()));
                if self.nodes.capacity() > 4 * self.nodes.len().max(4) {
                    self.nodes.shrink_to(2 * self.nodes.len());
                }
            }
            item
        }

        fn unlink(&mut self, i: usize) {
            let l = self.nodes[i].link;
            let b = self.bucket(l.hash);
            if self.heads[b] == i as u32 {
                self.heads[b] = l.next;
                return;
            }
            let mut j = self.heads[b];
            while j != NIL {
                let next = self.nodes[j as usize].link.next;
                if next == i as u32 {
                    self.nodes[j as usize].link.next = l.next;
                    return;
                }
                j = next;
            }
            unreachable!("item not in its chain");
        }

        fn rebucket(&mut self, n: usize) {
            self.heads.clear();
            self.heads.resize(n, NIL);
            for i in 0..self.nodes.len() {
                let b = self.bucket(self.nodes[i].link.hash);
                self.nodes[i].link.next = self.heads[b];
                self.heads[b] = i as u32;
            }
        }

        /// Visit one bucket at `cursor` and return the next cursor (0 when
        /// done). The cursor counts up in bit-reversed order, so buckets a
        /// resize splits or merges are never skipped: every item present
        /// from the first call to the last is visited at least once.
        pub fn scan_step<'s>(&'s self, cursor: u64, mut f: impl FnMut(&'s T)) -> u64 {
            if self.nodes.is_empty() {
                return 0;
            }
            let mask = self.heads.len() as u64 - 1;
            let mut i = self.heads[(cursor & mask) as usize];
            while i != NIL {
                let n = &self.nodes[i as usize];
                f(&n.item);
                i = n.link.next;
            }
            let v = cursor | !mask;
            v.reverse_bits().wrapping_add(1).reverse_bits()
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn e(s: &str) -> Elem {
            Elem::from(s.as_bytes())
        }

        #[test]
        fn insert_find_remove() {
            let mut t: ScanTable<Elem> = ScanTable::default();
            for i in 0..1000 {
                t.push_new(e(&i.to_string()));
            }
            assert_eq!(t.len(), 1000);
            for i in 0..1000 {
                assert!(t.find(i.to_string().as_bytes()).is_some());
            }
            for i in (0..1000).step_by(2) {
                assert!(t.remove(i.to_string().as_bytes()).is_some());
            }
            assert_eq!(t.len(), 500);
            for i in 0..1000 {
                assert_eq!(t.find(i.to_string().as_bytes()).is_some(), i % 2 == 1);
            }
            for i in (1..1000).step_by(2) {
                assert!(t.remove(i.to_string().as_bytes()).is_some());
            }
            assert!(t.is_empty());
            assert!(t.heads.len() <= 8);
        }

        #[test]
        fn scan_survives_resizes() {
            let mut t: ScanTable<Elem> = ScanTable::default();
            for i in 0..500 {
                t.push_new(e(&format!("keep{i}")));
            }
            let mut seen = std::collections::HashSet::new();
            let mut cursor = 0;
            let mut step = 0;
            loop {
                cursor = t.scan_step(cursor, |m| {
                    seen.insert(m.to_vec());
                });
                // Grow, then shrink, while scanning.
                step += 1;
                if step < 200 {
                    t.push_new(e(&format!("extra{step}")));
                    t.push_new(e(&format!("more{step}")));
                } else if step < 400 {
                    t.remove(format!("extra{}", step - 199).as_bytes());
                    t.remove(format!("more{}", step - 199).as_bytes());
                }
                if cursor == 0 {
                    break;
                }
            }
            for i in 0..500 {
                assert!(
                    seen.contains(format!("keep{i}").as_bytes()),
                    "missed keep{i}"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HashLimits = HashLimits {
        max_entries: 4,
        max_value: 8,
    };

    #[test]
    fn converts_on_count_and_length() {
        let mut h = HashValue::default();
        for i in 0..4 {
            assert!(h.set(format!("f{i}").as_bytes(), b"v", LIMITS));
        }
        assert_eq!(h.encoding(), "listpack");
        assert!(!h.set(b"f0", b"w", LIMITS));
        assert_eq!(h.get(b"f0"), Some(&b"w"[..]));
        assert!(h.set(b"f4", b"v", LIMITS));
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 5);
        assert_eq!(h.get(b"f0"), Some(&b"w"[..]));
        let mut h = HashValue::default();
        h.set(b"a", b"123456789", LIMITS);
        assert_eq!(h.encoding(), "hashtable");
        assert!(h.remove(b"a"));
        assert!(h.is_empty());
    }
}
