//! Sorted sets: a score-ordered vector while small ("listpack",
//! zset-max-listpack-entries / -value), then an order-statistic structure
//! with a member → score index ("skiplist"), so rank and range queries
//! are O(log n).
//!
//! The large form is an arena of nodes that are at once
//! - nodes of a treap ordered by (score, member bytes), each knowing the
//!   size of its subtree, so rank ↔ position conversions, counting a score
//!   or lex range and starting an in-order walk at any rank are O(log n);
//! - entries of a chained hash table keyed by member (power-of-two bucket
//!   array, chains linked through the nodes), so a member's score is O(1)
//!   and ZSCAN can walk buckets with a reverse-binary cursor that stays
//!   valid across resizes, as Redis's dictScan does.
//!
//! Scores compare with `<`/`==` as Redis does (so -0 and 0 tie and then
//! order by member); NaN is never stored.

use super::Elem;
use std::cmp::Ordering;
use std::hash::BuildHasher;

const NIL: u32 = u32::MAX;
const MIN_BUCKETS: usize = 8;

/// The encoding thresholds (zset-max-listpack-entries / -value).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_entries: usize,
    pub max_value: usize,
}

#[derive(Clone, Debug)]
pub enum ZSetValue {
    /// Sorted by (score, member).
    Small(Vec<(f64, Elem)>),
    Big(Box<ZSetBig>),
}

/// Redis's ordering of sorted-set elements: by score, ties by member bytes.
#[inline]
pub fn cmp_elem(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    if s1 < s2 {
        Ordering::Less
    } else if s1 > s2 {
        Ordering::Greater
    } else {
        m1.cmp(m2)
    }
}

#[derive(Clone)]
struct Node {
    member: Elem,
    score: f64,
    left: u32,
    right: u32,
    /// Nodes in this subtree; 0 marks a free arena slot.
    size: u32,
    prio: u32,
    /// Next node in the same hash bucket.
    next: u32,
    /// The member's hash (bucket = hash & mask), kept so linking,
    /// unlinking and rehashing never hash a member again. The node stays
    /// 56 bytes.
    hash: u32,
}

/// The large form ("skiplist" as OBJECT ENCODING reports it).
#[derive(Clone)]
pub struct ZSetBig {
    nodes: Vec<Node>,
    free: Vec<u32>,
    root: u32,
    buckets: Vec<u32>,
    hasher: hashbrown::DefaultHashBuilder,
    rng: u64,
    /// Scratch for `insert_node` (kept to avoid allocating per insert).
    path: Vec<u32>,
}

impl std::fmt::Debug for ZSetBig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut l = f.debug_list();
        self.walk(0, self.len(), false, |s, m| {
            l.entry(&(s, String::from_utf8_lossy(m)));
        });
        l.finish()
    }
}

impl Default for ZSetBig {
    fn default() -> Self {
        ZSetBig {
            nodes: Vec::new(),
            free: Vec::new(),
            root: NIL,
            buckets: vec![NIL; MIN_BUCKETS],
            hasher: Default::default(),
            rng: rand::random::<u64>() | 1,
            path: Vec::new(),
        }
    }
}

impl ZSetBig {
    #[inline]
    fn sz(&self, t: u32) -> usize {
        if t == NIL {
            0
        } else {
            self.nodes[t as usize].size as usize
        }
    }

    pub fn len(&self) -> usize {
        self.sz(self.root)
    }

    pub fn is_empty(&self) -> bool {
        self.root == NIL
    }

    #[inline]
    fn pull(&mut self, t: u32) {
        let n = &self.nodes[t as usize];
        let s = 1 + self.sz(n.left) + self.sz(n.right);
        self.nodes[t as usize].size = s as u32;
    }

    #[inline(always)]
    fn less(&self, a: u32, b: u32) -> bool {
        let (x, y) = (&self.nodes[a as usize], &self.nodes[b as usize]);
        cmp_elem(x.score, &x.member, y.score, &y.member) == Ordering::Less
    }

    fn next_prio(&mut self) -> u32 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
    }

    // ---- treap ----

    fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        if self.nodes[a as usize].prio >= self.nodes[b as usize].prio {
            let r = self.nodes[a as usize].right;
            let m = self.merge(r, b);
            self.nodes[a as usize].right = m;
            self.pull(a);
            a
        } else {
            let l = self.nodes[b as usize].left;
            let m = self.merge(a, l);
            self.nodes[b as usize].left = m;
            self.pull(b);
            b
        }
    }

    /// Split `t` into its first `k` nodes and the rest.
    fn split_rank(&mut self, t: u32, k: usize) -> (u32, u32) {
        if t == NIL {
            return (NIL, NIL);
        }
        let l = self.nodes[t as usize].left;
        let ls = self.sz(l);
        if k <= ls {
            let (a, b) = self.split_rank(l, k);
            self.nodes[t as usize].left = b;
            self.pull(t);
            (a, t)
        } else {
            let r = self.nodes[t as usize].right;
            let (a, b) = self.split_rank(r, k - ls - 1);
            self.nodes[t as usize].right = a;
            self.pull(t);
            (t, b)
        }
    }

    /// Insert node `k` (a lone node) into the tree: the treap insert, done
    /// iteratively. Walk down while the nodes outrank `k`'s priority
    /// (each of those subtrees gains `k`), then split the subtree found
    /// there around `k` and hang the halves under it.
    fn insert_node(&mut self, k: u32) {
        let kp = self.nodes[k as usize].prio;
        // Where the subtree to split hangs: NIL parent = the root.
        let (mut parent, mut parent_left) = (NIL, false);
        let mut t = self.root;
        while t != NIL && self.nodes[t as usize].prio >= kp {
            self.nodes[t as usize].size += 1;
            parent = t;
            parent_left = self.less(k, t);
            let n = &self.nodes[t as usize];
            t = if parent_left { n.left } else { n.right };
        }
        // Split `t` into the nodes ordered before `k` (`k`'s left subtree)
        // and after it (right), top-down: each node visited goes to one
        // side and the walk continues into its child on the other side.
        // Sizes are fixed afterwards, deepest first.
        self.path.clear();
        let (mut l_hole, mut r_hole) = ((k, true), (k, false));
        while t != NIL {
            self.path.push(t);
            if self.less(t, k) {
                self.set_child(l_hole, t);
                l_hole = (t, false);
                t = self.nodes[t as usize].right;
            } else {
                self.set_child(r_hole, t);
                r_hole = (t, true);
                t = self.nodes[t as usize].left;
            }
        }
        self.set_child(l_hole, NIL);
        self.set_child(r_hole, NIL);
        for j in (0..self.path.len()).rev() {
            let t = self.path[j];
            self.pull(t);
        }
        self.pull(k);
        if parent == NIL {
            self.root = k;
        } else {
            self.set_child((parent, parent_left), k);
        }
    }

    #[inline(always)]
    fn set_child(&mut self, (node, left): (u32, bool), child: u32) {
        let n = &mut self.nodes[node as usize];
        if left {
            n.left = child;
        } else {
            n.right = child;
        }
    }

    fn tree_remove(&mut self, t: u32, k: u32) -> u32 {
        debug_assert!(t != NIL, "node to remove is in the tree");
        if t == NIL {
            return NIL;
        }
        if t == k {
            let (l, r) = (self.nodes[k as usize].left, self.nodes[k as usize].right);
            let n = &mut self.nodes[k as usize];
            n.left = NIL;
            n.right = NIL;
            n.size = 1;
            return self.merge(l, r);
        }
        if self.less(k, t) {
            let l = self.nodes[t as usize].left;
            let n = self.tree_remove(l, k);
            self.nodes[t as usize].left = n;
        } else {
            let r = self.nodes[t as usize].right;
            let n = self.tree_remove(r, k);
            self.nodes[t as usize].right = n;
        }
        self.pull(t);
        t
    }

    // ---- hash index ----

    #[inline]
    fn hash32(&self, m: &[u8]) -> u32 {
        self.hasher.hash_one(m) as u32
    }

    #[inline]
    fn bucket(&self, h: u32) -> usize {
        h as usize & (self.buckets.len() - 1)
    }

    fn find(&self, m: &[u8]) -> u32 {
        self.find_hashed(m, self.hash32(m))
    }

    #[inline]
    fn find_hashed(&self, m: &[u8], h: u32) -> u32 {
        let mut i = self.buckets[self.bucket(h)];
        while i != NIL {
            let n = &self.nodes[i as usize];
            if n.hash == h && n.member.as_bytes() == m {
                return i;
            }
            i = n.next;
        }
        NIL
    }

    fn hash_link(&mut self, k: u32) {
        let b = self.bucket(self.nodes[k as usize].hash);
        self.nodes[k as usize].next = self.buckets[b];
        self.buckets[b] = k;
    }

    fn hash_unlink(&mut self, k: u32) {
        let b = self.bucket(self.nodes[k as usize].hash);
        let next = self.nodes[k as usize].next;
        if self.buckets[b] == k {
            self.buckets[b] = next;
            return;
        }
        let mut i = self.buckets[b];
        while i != NIL {
            if self.nodes[i as usize].next == k {
                self.nodes[i as usize].next = next;
                return;
            }
            i = self.nodes[i as usize].next;
        }
    }

    fn rehash(&mut self, cap: usize) {
        self.buckets = vec![NIL; cap];
        for i in 0..self.nodes.len() {
            if self.nodes[i].size != 0 {
                self.hash_link(i as u32);
            }
        }
    }

    fn resize_if_needed(&mut self) {
        let live = self.len();
        let cap = self.buckets.len();
        if live > cap {
            self.rehash(live.next_power_of_two());
        } else if cap > MIN_BUCKETS && live * 8 < cap {
            self.rehash(live.next_power_of_two().max(MIN_BUCKETS));
        }
    }

    // ---- arena ----

    fn alloc(&mut self, member: &[u8], score: f64, hash: u32) -> u32 {
        let prio = self.next_prio();
        let node = Node {
            member: Elem::from(member),
            score,
            left: NIL,
            right: NIL,
            size: 1,
            prio,
            next: NIL,
            hash,
        };
        match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        }
    }

    fn release(&mut self, k: u32) {
        let n = &mut self.nodes[k as usize];
        n.size = 0;
        n.member = Elem::from(&b""[..]);
        n.left = NIL;
        n.right = NIL;
        n.next = NIL;
        self.free.push(k);
    }

    /// Drop free slots once they outnumber live nodes, renumbering the rest.
    fn compact_if_sparse(&mut self) {
        if self.free.len() < 64 || self.free.len() < self.len() {
            return;
        }
        let mut map = vec![NIL; self.nodes.len()];
        let old = std::mem::take(&mut self.nodes);
        let mut nodes = Vec::with_capacity(old.len() - self.free.len());
        for (i, n) in old.into_iter().enumerate() {
            if n.size != 0 {
                map[i] = nodes.len() as u32;
                nodes.push(n);
            }
        }
        let remap = |x: u32| if x == NIL { NIL } else { map[x as usize] };
        for n in &mut nodes {
            n.left = remap(n.left);
            n.right = remap(n.right);
            n.next = remap(n.next);
        }
        for b in &mut self.buckets {
            *b = remap(*b);
        }
        self.root = remap(self.root);
        self.nodes = nodes;
        self.free.clear();
    }

    // ---- public operations ----

    pub fn score(&self, m: &[u8]) -> Option<f64> {
        let i = self.find(m);
        (i != NIL).then(|| self.nodes[i as usize].score)
    }

    /// Insert or re-score; true if the member is new.
    pub fn insert(&mut self, m: &[u8], score: f64) -> bool {
        self.update_with(m, |_| Some(score)).0.is_none()
    }

    /// Look `m` up once, let `decide` pick the score to store from its
    /// current one (`None`: leave the set alone), and store it. Returns
    /// the score before and the score stored, if any.
    pub fn update_with(
        &mut self,
        m: &[u8],
        decide: impl FnOnce(Option<f64>) -> Option<f64>,
    ) -> (Option<f64>, Option<f64>) {
        let h = self.hash32(m);
        let i = self.find_hashed(m, h);
        let cur = (i != NIL).then(|| self.nodes[i as usize].score);
        let Some(score) = decide(cur) else {
            return (cur, None);
        };
        if i != NIL {
            if self.nodes[i as usize].score != score {
                self.root = self.tree_remove(self.root, i);
                self.nodes[i as usize].score = score;
                self.insert_node(i);
            }
            return (cur, Some(score));
        }
        let k = self.alloc(m, score, h);
        self.insert_node(k);
        self.hash_link(k);
        self.resize_if_needed();
        (None, Some(score))
    }

    pub fn remove(&mut self, m: &[u8]) -> Option<f64> {
        let i = self.find(m);
        if i == NIL {
            return None;
        }
        let score = self.nodes[i as usize].score;
        self.root = self.tree_remove(self.root, i);
        self.hash_unlink(i);
        self.release(i);
        self.resize_if_needed();
        self.compact_if_sparse();
        Some(score)
    }

    /// 0-based rank of the member in ascending order.
    pub fn rank(&self, m: &[u8]) -> Option<usize> {
        let k = self.find(m);
        if k == NIL {
            return None;
        }
        let mut t = self.root;
        let mut acc = 0;
        while t != NIL {
            if t == k {
                return Some(acc + self.sz(self.nodes[t as usize].left));
            }
            if self.less(k, t) {
                t = self.nodes[t as usize].left;
            } else {
                acc += self.sz(self.nodes[t as usize].left) + 1;
                t = self.nodes[t as usize].right;
            }
        }
        None
    }

    /// How many leading elements satisfy `before` (which must hold for a
    /// prefix of the order and then never again).
    pub fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut t = self.root;
        let mut acc = 0;
        while t != NIL {
            let n = &self.nodes[t as usize];
            if before(n.score, &n.member) {
                acc += self.sz(n.left) + 1;
                t = n.right;
            } else {
                t = n.left;
            }
        }
        acc
    }

    /// The element at rank `r` (< len).
    pub fn at(&self, mut r: usize) -> (f64, &[u8]) {
        let mut t = self.root;
        loop {
            let n = &self.nodes[t as usize];
            let ls = self.sz(n.left);
            match r.cmp(&ls) {
                Ordering::Less => t = n.left,
                Ordering::Equal => return (n.score, &n.member),
                Ordering::Greater => {
                    r -= ls + 1;
                    t = n.right;
                }
            }
        }
    }

    /// Visit ranks `start..end` ascending, or `end-1` down to `start` if `rev`.
    pub fn walk(&self, start: usize, end: usize, rev: bool, mut f: impl FnMut(f64, &[u8])) {
        let end = end.min(self.len());
        if start >= end {
            return;
        }
        let mut remaining = end - start;
        let mut stack: Vec<u32> = Vec::with_capacity(64);
        // Descend to the first node visited, keeping the pending ancestors.
        let mut r = if rev { end - 1 } else { start };
        let mut t = self.root;
        while t != NIL {
            let n = &self.nodes[t as usize];
            let ls = self.sz(n.left);
            match r.cmp(&ls) {
                Ordering::Less => {
                    if !rev {
                        stack.push(t);
                    }
                    t = n.left;
                }
                Ordering::Equal => {
                    stack.push(t);
                    break;
                }
                Ordering::Greater => {
                    if rev {
                        stack.push(t);
                    }
                    r -= ls + 1;
                    t = n.right;
                }
            }
        }
        while remaining > 0 {
            let Some(t) = stack.pop() else { break };
            let n = &self.nodes[t as usize];
            f(n.score, &n.member);
            remaining -= 1;
            let mut x = if rev { n.left } else { n.right };
            while x != NIL {
                stack.push(x);
                let c = &self.nodes[x as usize];
                x = if rev { c.right } else { c.left };
            }
        }
    }

    /// Remove ranks `start..end`; returns how many were removed.
    pub fn remove_ranks(&mut self, start: usize, end: usize) -> usize {
        let end = end.min(self.len());
        if start >= end {
            return 0;
        }
        let (a, rest) = self.split_rank(self.root, start);
        let (mid, c) = self.split_rank(rest, end - start);
        self.root = self.merge(a, c);
        let mut stack = vec![mid];
        let mut removed = 0;
        while let Some(t) = stack.pop() {
            if t == NIL {
                continue;
            }
            stack.push(self.nodes[t as usize].left);
            stack.push(self.nodes[t as usize].right);
            self.hash_unlink(t);
            self.release(t);
            removed += 1;
        }
        self.resize_if_needed();
        self.compact_if_sparse();
        removed
    }

    /// One step of a reverse-binary cursor scan over the hash buckets, as
    /// Redis's dictScan: visits buckets until about `count` elements were
    /// emitted (or `10 * count` buckets looked at); returns the next cursor.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(f64, &[u8])) -> u64 {
        let mask = (self.buckets.len() - 1) as u64;
        let mut v = cursor;
        let mut emitted = 0;
        let mut budget = count.saturating_mul(10);
        loop {
            let mut i = self.buckets[(v & mask) as usize];
            while i != NIL {
                let n = &self.nodes[i as usize];
                f(n.score, &n.member);
                emitted += 1;
                i = n.next;
            }
            v |= !mask;
            v = v.reverse_bits().wrapping_add(1).reverse_bits();
            if v == 0 || emitted >= count || budget == 0 {
                return v;
            }
            budget -= 1;
        }
    }

    /// Every (score, member) in rank order.
    pub fn for_each(&self, f: impl FnMut(f64, &[u8])) {
        self.walk(0, self.len(), false, f);
    }
}

/// The members of a sorted set in storage order (see `ZSetValue::members`).
#[derive(Clone)]
pub struct Members<'a>(MembersInner<'a>);

#[derive(Clone)]
enum MembersInner<'a> {
    Small(std::slice::Iter<'a, (f64, Elem)>),
    Big(std::slice::Iter<'a, Node>),
}

impl<'a> Iterator for Members<'a> {
    type Item = (f64, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            MembersInner::Small(it) => it.next().map(|(s, m)| (*s, m.as_bytes())),
            // Free arena slots have size 0.
            MembersInner::Big(it) => it
                .find(|n| n.size != 0)
                .map(|n| (n.score, n.member.as_bytes())),
        }
    }
}

impl Default for ZSetValue {
    fn default() -> Self {
        ZSetValue::Small(Vec::new())
    }
}

impl ZSetValue {
    /// Allocations freeing the sorted set costs (lazyfree's effort): its
    /// members when a skiplist, one for the compact encoding.
    pub fn free_effort(&self) -> usize {
        match self {
            ZSetValue::Small(_) => 1,
            ZSetValue::Big(b) => b.len(),
        }
    }

    /// An empty sorted set about to receive a first member of `first_len`
    /// bytes (as ZADD creates one: the large form when no listpack can hold it).
    pub fn new_for(first_len: usize, lim: Limits) -> Self {
        if lim.max_entries == 0 || first_len > lim.max_value {
            ZSetValue::Big(Box::default())
        } else {
            ZSetValue::Small(Vec::new())
        }
    }

    /// A sorted set holding `items` (already in order, distinct members),
    /// encoded as Redis would encode a freshly stored result.
    pub fn from_sorted(items: Vec<(f64, Elem)>, lim: Limits) -> Self {
        if items.len() <= lim.max_entries && items.iter().all(|(_, m)| m.len() <= lim.max_value) {
            let mut items = items;
            items
                .iter_mut()
                .filter(|(s, _)| *s == 0.0)
                .for_each(|(s, _)| *s = 0.0);
            return ZSetValue::Small(items);
        }
        let mut big = ZSetBig::default();
        for (s, m) in &items {
            big.insert(m, *s);
        }
        ZSetValue::Big(Box::new(big))
    }

    pub fn len(&self) -> usize {
        match self {
            ZSetValue::Small(v) => v.len(),
            ZSetValue::Big(b) => b.len(),
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

    /// Every (score, member) in no particular order (for snapshots).
    pub fn members(&self) -> Members<'_> {
        Members(match self {
            ZSetValue::Small(v) => MembersInner::Small(v.iter()),
            ZSetValue::Big(b) => MembersInner::Big(b.nodes.iter()),
        })
    }

    /// Every (score, member) in rank order.
    pub fn for_each_ordered(&self, mut f: impl FnMut(f64, &[u8])) {
        match self {
            ZSetValue::Small(v) => v.iter().for_each(|(s, m)| f(*s, m)),
            ZSetValue::Big(b) => b.for_each(f),
        }
    }

    pub fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            ZSetValue::Small(v) => v.iter().find(|(_, x)| x.as_bytes() == m).map(|(s, _)| *s),
            ZSetValue::Big(b) => b.score(m),
        }
    }

    fn convert_to_big(&mut self) {
        if let ZSetValue::Small(v) = self {
            let mut big = ZSetBig::default();
            for (s, m) in v.iter() {
                big.insert(m, *s);
            }
            *self = ZSetValue::Big(Box::new(big));
        }
    }

    /// Insert `m` or change its score; true if it is new. Converts to the
    /// large form when the listpack would outgrow the limits.
    pub fn insert(&mut self, m: &[u8], score: f64, lim: Limits) -> bool {
        if let ZSetValue::Small(v) = self {
            // A listpack keeps scores as text/integers: -0 is stored as 0.
            let score = if score == 0.0 { 0.0 } else { score };
            match v.iter().position(|(_, x)| x.as_bytes() == m) {
                Some(i) => {
                    let (old, _) = v[i];
                    if old == score {
                        return false;
                    }
                    let (_, e) = v.remove(i);
                    let at =
                        v.partition_point(|(s, x)| cmp_elem(*s, x, score, m) == Ordering::Less);
                    v.insert(at, (score, e));
                    return false;
                }
                None => {
                    if v.len() < lim.max_entries && m.len() <= lim.max_value {
                        let at =
                            v.partition_point(|(s, x)| cmp_elem(*s, x, score, m) == Ordering::Less);
                        v.insert(at, (score, Elem::from(m)));
                        return true;
                    }
                    self.convert_to_big();
                }
            }
        }
        match self {
            ZSetValue::Big(b) => b.insert(m, score),
            ZSetValue::Small(_) => unreachable!("converted above"),
        }
    }

    /// ZADD's step for one member, with one lookup in the large form:
    /// `decide` gets the current score and returns the one to store
    /// (`None`: leave it). Returns the score before and the one stored.
    pub fn update_with(
        &mut self,
        m: &[u8],
        lim: Limits,
        decide: impl FnOnce(Option<f64>) -> Option<f64>,
    ) -> (Option<f64>, Option<f64>) {
        match self {
            ZSetValue::Big(b) => b.update_with(m, decide),
            ZSetValue::Small(_) => {
                let cur = self.score(m);
                let Some(s) = decide(cur) else {
                    return (cur, None);
                };
                if cur != Some(s) {
                    self.insert(m, s, lim);
                }
                (cur, Some(s))
            }
        }
    }

    pub fn remove(&mut self, m: &[u8]) -> Option<f64> {
        match self {
            ZSetValue::Small(v) => {
                let i = v.iter().position(|(_, x)| x.as_bytes() == m)?;
                Some(v.remove(i).0)
            }
            ZSetValue::Big(b) => b.remove(m),
        }
    }

    pub fn rank(&self, m: &[u8]) -> Option<usize> {
        match self {
            ZSetValue::Small(v) => v.iter().position(|(_, x)| x.as_bytes() == m),
            ZSetValue::Big(b) => b.rank(m),
        }
    }

    /// How many leading elements satisfy the prefix predicate `before`.
    pub fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        match self {
            ZSetValue::Small(v) => v.partition_point(|(s, m)| before(*s, m)),
            ZSetValue::Big(b) => b.count_before(before),
        }
    }

    /// The element at rank `r` (< len).
    pub fn at(&self, r: usize) -> (f64, &[u8]) {
        match self {
            ZSetValue::Small(v) => (v[r].0, &v[r].1),
            ZSetValue::Big(b) => b.at(r),
        }
    }

    /// Visit ranks `start..end` ascending, or descending if `rev`.
    pub fn range(&self, start: usize, end: usize, rev: bool, mut f: impl FnMut(f64, &[u8])) {
        match self {
            ZSetValue::Small(v) => {
                let end = end.min(v.len());
                if start >= end {
                    return;
                }
                let slice = &v[start..end];
                if rev {
                    slice.iter().rev().for_each(|(s, m)| f(*s, m));
                } else {
                    slice.iter().for_each(|(s, m)| f(*s, m));
                }
            }
            ZSetValue::Big(b) => b.walk(start, end, rev, f),
        }
    }

    /// Remove ranks `start..end`; returns how many were removed.
    pub fn remove_ranks(&mut self, start: usize, end: usize) -> usize {
        match self {
            ZSetValue::Small(v) => {
                let end = end.min(v.len());
                if start >= end {
                    return 0;
                }
                v.drain(start..end);
                end - start
            }
            ZSetValue::Big(b) => b.remove_ranks(start, end),
        }
    }

    /// One ZSCAN step from `cursor`; the listpack form returns everything
    /// at once with cursor 0, as Redis does.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(f64, &[u8])) -> u64 {
        match self {
            ZSetValue::Small(v) => {
                v.iter().for_each(|(s, m)| f(*s, m));
                0
            }
            ZSetValue::Big(b) => b.scan(cursor, count, f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use std::collections::{BTreeSet, HashMap};

    #[derive(PartialEq, PartialOrd, Clone, Copy, Debug)]
    struct S(f64);
    impl Eq for S {}
    #[allow(clippy::derive_ord_xor_partial_ord)]
    impl Ord for S {
        fn cmp(&self, o: &Self) -> Ordering {
            self.0.partial_cmp(&o.0).unwrap()
        }
    }

    fn contents(z: &ZSetValue) -> Vec<(f64, Vec<u8>)> {
        let mut v = Vec::new();
        z.for_each_ordered(|s, m| v.push((s, m.to_vec())));
        v
    }

    #[test]
    fn model_check_against_btree() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let lim = Limits {
            max_entries: 16,
            max_value: 64,
        };
        let mut z = ZSetValue::default();
        let mut model: BTreeSet<(S, Vec<u8>)> = BTreeSet::new();
        let mut scores: HashMap<Vec<u8>, f64> = HashMap::new();
        for step in 0..20000 {
            let m = format!("m{}", rng.gen_range(0..400)).into_bytes();
            match rng.gen_range(0..10) {
                0..=5 => {
                    let s = rng.gen_range(0..50) as f64;
                    let new = z.insert(&m, s, lim);
                    assert_eq!(new, !scores.contains_key(&m));
                    if let Some(old) = scores.insert(m.clone(), s) {
                        model.remove(&(S(old), m.clone()));
                    }
                    model.insert((S(s), m.clone()));
                }
                6..=7 => {
                    let r = z.remove(&m);
                    assert_eq!(r, scores.remove(&m));
                    if let Some(s) = r {
                        model.remove(&(S(s), m.clone()));
                    }
                }
                8 => {
                    let n = z.len();
                    if n > 0 {
                        let a = rng.gen_range(0..n);
                        let b = (a + rng.gen_range(0..4)).min(n);
                        let victims: Vec<_> = model.iter().skip(a).take(b - a).cloned().collect();
                        assert_eq!(z.remove_ranks(a, b), victims.len());
                        for v in victims {
                            scores.remove(&v.1);
                            model.remove(&v);
                        }
                    }
                }
                _ => {
                    if let Some(s) = scores.get(&m) {
                        assert_eq!(z.score(&m), Some(*s));
                        let rank = model.iter().position(|(_, x)| *x == m);
                        assert_eq!(z.rank(&m), rank);
                    } else {
                        assert_eq!(z.score(&m), None);
                    }
                }
            }
            assert_eq!(z.len(), model.len());
            if step % 97 == 0 {
                let want: Vec<(f64, Vec<u8>)> =
                    model.iter().map(|(s, m)| (s.0, m.clone())).collect();
                assert_eq!(contents(&z), want);
                let n = want.len();
                if n > 0 {
                    let a = rng.gen_range(0..n);
                    let b = rng.gen_range(a..=n);
                    let mut fwd = Vec::new();
                    z.range(a, b, false, |s, m| fwd.push((s, m.to_vec())));
                    assert_eq!(fwd, want[a..b].to_vec());
                    let mut back = Vec::new();
                    z.range(a, b, true, |s, m| back.push((s, m.to_vec())));
                    let mut rev = want[a..b].to_vec();
                    rev.reverse();
                    assert_eq!(back, rev);
                    let (s, m) = z.at(a);
                    assert_eq!((s, m.to_vec()), want[a].clone());
                    let lo = rng.gen_range(0..50) as f64;
                    assert_eq!(
                        z.count_before(|s, _| s < lo),
                        want.iter().filter(|(s, _)| *s < lo).count()
                    );
                }
            }
        }
        assert_eq!(z.encoding(), "skiplist");
    }

    #[test]
    fn scan_visits_everything_across_resizes() {
        let lim = Limits {
            max_entries: 0,
            max_value: 64,
        };
        let mut z = ZSetValue::new_for(1, lim);
        for i in 0..1000 {
            z.insert(format!("e{i}").as_bytes(), i as f64, lim);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut steps = 0;
        loop {
            cursor = z.scan(cursor, 10, |_, m| {
                seen.insert(m.to_vec());
            });
            steps += 1;
            if steps == 20 {
                // Grow and shrink the table mid-scan; originals must still all be seen.
                for i in 1000..5000 {
                    z.insert(format!("x{i}").as_bytes(), 0.0, lim);
                }
            }
            if steps == 40 {
                for i in 1000..5000 {
                    z.remove(format!("x{i}").as_bytes());
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..1000 {
            assert!(seen.contains(format!("e{i}").as_bytes()), "missing e{i}");
        }
    }

    #[test]
    fn conversion_and_ties() {
        let lim = Limits {
            max_entries: 3,
            max_value: 5,
        };
        let mut z = ZSetValue::new_for(1, lim);
        z.insert(b"b", 1.0, lim);
        z.insert(b"a", 1.0, lim);
        z.insert(b"c", 0.0, lim);
        assert_eq!(z.encoding(), "listpack");
        assert_eq!(
            contents(&z).iter().map(|x| x.1.clone()).collect::<Vec<_>>(),
            vec![b"c".to_vec(), b"a".to_vec(), b"b".to_vec()]
        );
        z.insert(b"d", 5.0, lim);
        assert_eq!(z.encoding(), "skiplist");
        let mut y = ZSetValue::new_for(1, lim);
        y.insert(b"toolong", 1.0, lim);
        assert_eq!(y.encoding(), "skiplist");
    }
}
