//! Streams: entries ordered by ID, kept in compact chunks, plus consumer
//! groups with their pending entries lists.
//!
//! The layout follows Redis's radix tree of listpacks in spirit: an ordered
//! map from a chunk's *master ID* (the ID of the first entry appended to
//! it) to a byte buffer holding up to `stream-node-max-entries` entries
//! (and about `stream-node-max-bytes`). A chunk starts with its master
//! fields (the first entry's field names); each entry stores a flags byte
//! (deleted, same-fields-as-master), its ms delta from the master ID and
//! its sequence as varints, then its fields (omitted when they equal the
//! master's) and values as length-prefixed bytes. Deleting marks the flags
//! byte in place, as Redis does; a chunk whose entries are all deleted is
//! dropped. Approximate trimming removes whole chunks only, which is what
//! makes `MAXLEN ~` answer the same lengths as Redis.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

const FLAG_DELETED: u8 = 1;
const FLAG_SAMEFIELDS: u8 = 2;
/// Largest chunk size whatever stream-node-max-bytes says (Redis's 1 GB cap).
const CHUNK_MAX_BYTES: usize = 1 << 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub fn new(ms: u64, seq: u64) -> Self {
        StreamId { ms, seq }
    }

    pub fn is_zero(&self) -> bool {
        self.ms == 0 && self.seq == 0
    }

    /// The next ID, or None at the maximum.
    pub fn incr(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                None
            } else {
                Some(StreamId::new(self.ms + 1, 0))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }

    /// The previous ID, or None at 0-0.
    pub fn decr(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                None
            } else {
                Some(StreamId::new(self.ms - 1, u64::MAX))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }

    pub fn to_bytes(self) -> Vec<u8> {
        format!("{}-{}", self.ms, self.seq).into_bytes()
    }

    /// 128-bit big-endian form (the RDB rax key).
    pub fn encode_be(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ms.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    pub fn decode_be(b: &[u8]) -> Option<StreamId> {
        if b.len() != 16 {
            return None;
        }
        Some(StreamId::new(
            u64::from_be_bytes(b[..8].try_into().ok()?),
            u64::from_be_bytes(b[8..].try_into().ok()?),
        ))
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// One entry read out of a chunk: its ID and its fields and values,
/// alternating (field, value, field, value…).
#[derive(Debug, Clone)]
pub struct EntryRef<'a> {
    pub id: StreamId,
    pub fields: Vec<Cow<'a, [u8]>>,
}

#[derive(Clone, Debug, Default)]
pub struct Chunk {
    pub live: u32,
    pub deleted: u32,
    /// The size Redis's listpack for this node would have: nodes fill up
    /// by stream-node-max-bytes exactly where Redis's do, so `~` trims
    /// remove the same entries.
    lp_bytes: u32,
    data: Vec<u8>,
}

fn lp_int(v: i64) -> usize {
    shoal_persistence::rdb::listpack::entry_size(shoal_persistence::rdb::Element::Int(v))
}

fn lp_str(b: &[u8]) -> usize {
    shoal_persistence::rdb::listpack::entry_size(shoal_persistence::rdb::Element::Bytes(b))
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn get_varint(buf: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = buf[*pos];
        *pos += 1;
        v |= ((b & 0x7f) as u64) << shift;
        if b < 0x80 {
            return v;
        }
        shift += 7;
    }
}

fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_varint(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

/// An entry's field or value: integers in their canonical text form are
/// kept as a zigzag varint (tag bit 1), other bytes length-prefixed (tag
/// bit 0), as a listpack keeps integers.
fn put_elem(buf: &mut Vec<u8>, b: &[u8]) {
    if let Some(v) = crate::keyspace::value::parse_canonical_i64(b) {
        let zz = ((v << 1) ^ (v >> 63)) as u64;
        if zz < 1 << 62 {
            put_varint(buf, (zz << 1) | 1);
            return;
        }
    }
    put_varint(buf, (b.len() as u64) << 1);
    buf.extend_from_slice(b);
}

fn get_elem<'a>(buf: &'a [u8], pos: &mut usize) -> Cow<'a, [u8]> {
    let tag = get_varint(buf, pos);
    if tag & 1 == 1 {
        let zz = tag >> 1;
        let v = ((zz >> 1) as i64) ^ -((zz & 1) as i64);
        return Cow::Owned(itoa::Buffer::new().format(v).as_bytes().to_vec());
    }
    let n = (tag >> 1) as usize;
    let s = &buf[*pos..*pos + n];
    *pos += n;
    Cow::Borrowed(s)
}

fn get_bytes<'a>(buf: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let n = get_varint(buf, pos) as usize;
    let s = &buf[*pos..*pos + n];
    *pos += n;
    s
}

/// A decoded entry position inside a chunk.
struct Slot<'a> {
    flags_at: usize,
    flags: u8,
    id: StreamId,
    fields: Vec<Cow<'a, [u8]>>,
}

impl Chunk {
    fn new(master_fields: &[&[u8]]) -> Chunk {
        let mut data = Vec::with_capacity(64);
        put_varint(&mut data, master_fields.len() as u64);
        let mut lp_bytes =
            6 + 1 + lp_int(1) + lp_int(0) + lp_int(master_fields.len() as i64) + lp_int(0);
        for f in master_fields {
            put_bytes(&mut data, f);
            lp_bytes += lp_str(f);
        }
        Chunk {
            live: 0,
            deleted: 0,
            lp_bytes: lp_bytes as u32,
            data,
        }
    }

    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    pub fn heap_bytes(&self) -> usize {
        self.data.capacity()
    }

    /// The master entry's field names.
    pub fn master_field_names(&self) -> Vec<&[u8]> {
        self.master_fields().0
    }

    fn master_fields(&self) -> (Vec<&[u8]>, usize) {
        let mut pos = 0;
        let n = get_varint(&self.data, &mut pos) as usize;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(get_bytes(&self.data, &mut pos));
        }
        (v, pos)
    }

    /// Every entry (deleted ones too), in order.
    fn slots(&self, master: StreamId) -> Vec<Slot<'_>> {
        let (mf, mut pos) = self.master_fields();
        let mut out = Vec::with_capacity((self.live + self.deleted) as usize);
        while pos < self.data.len() {
            let flags_at = pos;
            let flags = self.data[pos];
            pos += 1;
            let ms = master.ms.wrapping_add(get_varint(&self.data, &mut pos));
            let seq = get_varint(&self.data, &mut pos);
            let mut fields = Vec::new();
            if flags & FLAG_SAMEFIELDS != 0 {
                for f in &mf {
                    fields.push(Cow::Borrowed(*f));
                    fields.push(get_elem(&self.data, &mut pos));
                }
            } else {
                let n = get_varint(&self.data, &mut pos) as usize;
                for _ in 0..n * 2 {
                    fields.push(get_elem(&self.data, &mut pos));
                }
            }
            out.push(Slot {
                flags_at,
                flags,
                id: StreamId::new(ms, seq),
                fields,
            });
        }
        out
    }

    fn append(&mut self, master: StreamId, id: StreamId, pairs: &[&[u8]]) {
        let (mf, _) = self.master_fields();
        let same =
            mf.len() * 2 == pairs.len() && mf.iter().zip(pairs.chunks(2)).all(|(m, p)| *m == p[0]);
        let mut lp = lp_int(if same { 2 } else { 0 })
            + lp_int(id.ms.wrapping_sub(master.ms) as i64)
            + lp_int(id.seq.wrapping_sub(master.seq) as i64);
        if same {
            lp +=
                pairs.chunks(2).map(|p| lp_str(p[1])).sum::<usize>() + lp_int(3 + mf.len() as i64);
        } else {
            lp += lp_int((pairs.len() / 2) as i64)
                + pairs.iter().map(|p| lp_str(p)).sum::<usize>()
                + lp_int(4 + pairs.len() as i64);
        }
        let mut buf = Vec::new();
        buf.push(if same { FLAG_SAMEFIELDS } else { 0 });
        put_varint(&mut buf, id.ms - master.ms);
        put_varint(&mut buf, id.seq);
        if same {
            for p in pairs.chunks(2) {
                put_elem(&mut buf, p[1]);
            }
        } else {
            put_varint(&mut buf, (pairs.len() / 2) as u64);
            for p in pairs {
                put_elem(&mut buf, p);
            }
        }
        drop(mf);
        self.lp_bytes = self.lp_bytes.saturating_add(lp as u32);
        self.data.extend_from_slice(&buf);
        self.live += 1;
    }

    /// The last entry's ID, deleted or not (Redis's lpGetEdgeStreamID).
    fn last_id_any(&self, master: StreamId) -> StreamId {
        self.slots(master).last().map(|s| s.id).unwrap_or(master)
    }
}

#[derive(Clone, Debug)]
pub struct Nack {
    pub delivery_time: u64,
    pub delivery_count: u64,
    pub consumer: Box<[u8]>,
}

#[derive(Clone, Debug, Default)]
pub struct Consumer {
    pub seen_time: u64,
    pub pel: BTreeSet<StreamId>,
}

/// `entries_read` value meaning "unknown" (Redis's SCG_INVALID_ENTRIES_READ).
pub const INVALID_ENTRIES_READ: i64 = -1;

#[derive(Clone, Debug)]
pub struct Group {
    pub last_id: StreamId,
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Nack>,
    pub consumers: BTreeMap<Box<[u8]>, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// Create the consumer if missing; true if it was created.
    pub fn create_consumer(&mut self, name: &[u8], now_ms: u64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumers.insert(
            name.into(),
            Consumer {
                seen_time: now_ms,
                pel: BTreeSet::new(),
            },
        );
        true
    }

    /// Remove a pending entry from the group and its consumer.
    pub fn ack(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(n) => {
                if let Some(c) = self.consumers.get_mut(&n.consumer) {
                    c.pel.remove(&id);
                }
                true
            }
            None => false,
        }
    }

    /// Give the pending entry `id` to `consumer` (which must exist),
    /// creating it when missing.
    pub fn assign(&mut self, id: StreamId, consumer: &[u8], delivery_time: u64) -> &mut Nack {
        if let Some(old) = self.pel.get(&id).map(|n| n.consumer.clone()) {
            if &old[..] != consumer {
                if let Some(c) = self.consumers.get_mut(&old) {
                    c.pel.remove(&id);
                }
            }
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
        let n = self.pel.entry(id).or_insert_with(|| Nack {
            delivery_time,
            delivery_count: 0,
            consumer: consumer.into(),
        });
        if &n.consumer[..] != consumer {
            n.consumer = consumer.into();
        }
        n
    }
}

#[derive(Clone, Debug, Default)]
pub struct StreamValue {
    chunks: BTreeMap<StreamId, Chunk>,
    pub length: u64,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted_id: StreamId,
    pub entries_added: u64,
    pub groups: BTreeMap<Box<[u8]>, Group>,
}

/// How a trim decides what goes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

/// Node size limits (stream-node-max-bytes / -entries).
#[derive(Clone, Copy, Debug)]
pub struct NodeLimits {
    pub max_bytes: usize,
    pub max_entries: usize,
}

impl StreamValue {
    /// Allocations freeing the stream costs (lazyfree's effort, as
    /// Redis estimates it): one per node of entries, plus per consumer
    /// group one and its PEL's size (the first group's, for all).
    pub fn free_effort(&self) -> usize {
        let pel = self.groups.values().next().map_or(0, |g| g.pel.len());
        self.chunks.len() + self.groups.len() * (1 + pel)
    }

    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// The chunks (master ID, chunk), for encoders and memory accounting.
    pub fn chunks(&self) -> impl Iterator<Item = (&StreamId, &Chunk)> {
        self.chunks.iter()
    }

    /// Live entries of one chunk, in order (for encoders).
    pub fn chunk_entries<'a>(&'a self, master: StreamId, c: &'a Chunk) -> Vec<EntryRef<'a>> {
        c.slots(master)
            .into_iter()
            .filter(|s| s.flags & FLAG_DELETED == 0)
            .map(|s| EntryRef {
                id: s.id,
                fields: s.fields,
            })
            .collect()
    }

    /// Bytes held on the heap by entries and groups (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        let mut n = 96;
        for c in self.chunks.values() {
            n += c.heap_bytes() + 48;
        }
        for (name, g) in &self.groups {
            n += 128 + name.len() + g.pel.len() * 64;
            for (cname, c) in &g.consumers {
                n += 96 + cname.len() + c.pel.len() * 32;
            }
        }
        n
    }

    /// Start a new chunk with master ID `master` (loading a file's node).
    pub fn start_chunk(&mut self, master: StreamId, master_fields: &[&[u8]]) {
        self.chunks.insert(master, Chunk::new(master_fields));
    }

    /// Add an entry to the last chunk without touching the counters
    /// (loading; the caller sets length, IDs and counters after).
    pub fn append_to_last_chunk(&mut self, id: StreamId, pairs: &[&[u8]]) {
        if let Some((master, c)) = self.chunks.iter_mut().next_back() {
            c.append(*master, id, pairs);
        }
    }

    /// Append an entry with `id` (already checked to be > last_id).
    pub fn append(&mut self, id: StreamId, pairs: &[&[u8]], limits: NodeLimits) {
        let total: usize = pairs.iter().map(|p| p.len()).sum();
        let max_bytes = if limits.max_bytes == 0 || limits.max_bytes > CHUNK_MAX_BYTES {
            CHUNK_MAX_BYTES
        } else {
            limits.max_bytes
        };
        let need_new = match self.chunks.iter().next_back() {
            None => true,
            Some((_, c)) => {
                c.lp_bytes as usize + total >= max_bytes
                    || (limits.max_entries != 0
                        && (c.live + c.deleted) as usize >= limits.max_entries)
            }
        };
        if need_new {
            if let Some((_, last)) = self.chunks.iter_mut().next_back() {
                // A full node gives back its growth slack (lpShrinkToFit).
                last.data.shrink_to_fit();
            }
            let fields: Vec<&[u8]> = pairs.iter().step_by(2).copied().collect();
            let mut c = Chunk::new(&fields);
            c.append(id, id, pairs);
            self.chunks.insert(id, c);
        } else {
            let (master, c) = self.chunks.iter_mut().next_back().expect("checked");
            c.append(*master, id, pairs);
        }
        if self.length == 0 {
            self.first_id = id;
        }
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
    }

    /// Live entries with start <= id <= end, at most `count` (0 = all).
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        count: usize,
    ) -> Vec<EntryRef<'_>> {
        let mut out = Vec::new();
        if start > end {
            return out;
        }
        // The chunk holding `start` may begin before it.
        let first_key = self
            .chunks
            .range(..=start)
            .next_back()
            .map(|(k, _)| *k)
            .unwrap_or(start);
        let iter = self.chunks.range(first_key..=end);
        if !rev {
            for (m, c) in iter {
                for s in c.slots(*m) {
                    if s.id < start || s.flags & FLAG_DELETED != 0 {
                        continue;
                    }
                    if s.id > end {
                        return out;
                    }
                    out.push(EntryRef {
                        id: s.id,
                        fields: s.fields,
                    });
                    if count != 0 && out.len() >= count {
                        return out;
                    }
                }
            }
        } else {
            for (m, c) in iter.rev() {
                for s in c.slots(*m).into_iter().rev() {
                    if s.id > end || s.flags & FLAG_DELETED != 0 {
                        continue;
                    }
                    if s.id < start {
                        return out;
                    }
                    out.push(EntryRef {
                        id: s.id,
                        fields: s.fields,
                    });
                    if count != 0 && out.len() >= count {
                        return out;
                    }
                }
            }
        }
        out
    }

    pub fn get(&self, id: StreamId) -> Option<EntryRef<'_>> {
        self.range(id, id, false, 1).into_iter().next()
    }

    pub fn exists(&self, id: StreamId) -> bool {
        self.get(id).is_some()
    }

    /// First live entry's ID.
    pub fn first_live(&self) -> Option<StreamId> {
        self.range(StreamId::MIN, StreamId::MAX, false, 1)
            .first()
            .map(|e| e.id)
    }

    /// Last live entry's ID (Redis's streamLastValidID; 0-0 when empty).
    pub fn last_live(&self) -> Option<StreamId> {
        self.range(StreamId::MIN, StreamId::MAX, true, 1)
            .first()
            .map(|e| e.id)
    }

    /// Delete one entry; true if it was there.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((&master, c)) = self.chunks.range_mut(..=id).next_back() else {
            return false;
        };
        let at = c
            .slots(master)
            .iter()
            .find(|s| s.id == id && s.flags & FLAG_DELETED == 0)
            .map(|s| s.flags_at);
        let Some(at) = at else { return false };
        c.data[at] |= FLAG_DELETED;
        c.live -= 1;
        c.deleted += 1;
        if c.live == 0 {
            self.chunks.remove(&master);
        }
        self.length -= 1;
        true
    }

    /// Refresh first_id after deletions (0-0 when empty).
    pub fn refresh_first_id(&mut self) {
        self.first_id = if self.length == 0 {
            StreamId::MIN
        } else {
            self.first_live().unwrap_or(StreamId::MIN)
        };
    }

    /// Trim as Redis's streamTrim: whole chunks from the head while they
    /// may all go; then, unless `approx`, entries inside the next chunk.
    /// `limit` (0 = none) caps the entries removed. Returns how many went.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted = 0u64;
        loop {
            if let Trim::MaxLen(max) = how {
                if self.length <= max {
                    break;
                }
            }
            let Some((&master, c)) = self.chunks.iter().next() else {
                break;
            };
            let entries = c.live as u64;
            if limit != 0 && deleted + entries > limit {
                break;
            }
            let remove = match how {
                Trim::MaxLen(max) => self.length - entries >= max,
                Trim::MinId(min) => c.last_id_any(master) < min,
            };
            if remove {
                self.chunks.remove(&master);
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            let c = self.chunks.get_mut(&master).expect("present");
            let marks: Vec<(usize, StreamId, u8)> = c
                .slots(master)
                .iter()
                .map(|s| (s.flags_at, s.id, s.flags))
                .collect();
            let mut removed_here = 0u32;
            for (at, id, flags) in marks {
                let stop = match how {
                    Trim::MaxLen(max) => self.length <= max,
                    Trim::MinId(min) => id >= min,
                };
                if stop {
                    break;
                }
                if flags & FLAG_DELETED == 0 {
                    c.data[at] |= FLAG_DELETED;
                    removed_here += 1;
                    self.length -= 1;
                }
            }
            c.live -= removed_here;
            c.deleted += removed_here;
            deleted += removed_here as u64;
            if c.live == 0 {
                self.chunks.remove(&master);
            }
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if deleted > 0 {
            self.refresh_first_id();
        }
        deleted
    }

    /// Whether a tombstone may lie in [start, end] (streamRangeHasTombstones).
    pub fn range_has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.length == 0 || self.max_deleted_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_id {
            return false;
        }
        start <= self.max_deleted_id && self.max_deleted_id <= end
    }

    /// The logical read counter of `id` when it can be known
    /// (streamEstimateDistanceFromFirstEverEntry), else INVALID.
    pub fn estimate_distance(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        if self.length == 0 && id <= self.last_id {
            return self.entries_added as i64;
        }
        if id == self.last_id {
            return self.entries_added as i64;
        } else if id > self.last_id {
            return INVALID_ENTRIES_READ;
        }
        if self.max_deleted_id.is_zero() || self.max_deleted_id < self.first_id {
            if id < self.first_id {
                return (self.entries_added - self.length) as i64;
            } else if id == self.first_id {
                return (self.entries_added - self.length + 1) as i64;
            }
        }
        INVALID_ENTRIES_READ
    }

    /// A group's lag, when it can be computed (streamReplyWithCGLag).
    pub fn group_lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != INVALID_ENTRIES_READ
            && !self.range_has_tombstones(g.last_id, StreamId::MAX)
        {
            return Some(self.entries_added as i64 - g.entries_read);
        }
        let er = self.estimate_distance(g.last_id);
        (er != INVALID_ENTRIES_READ).then(|| self.entries_added as i64 - er)
    }

    /// A group delivered `id` (greater than its last ID): advance its
    /// last ID and read counter as Redis does.
    pub fn advance_group(&mut self, group: &[u8], id: StreamId) {
        let tomb = self.range_has_tombstones(id, StreamId::MAX);
        let est = self.estimate_distance(id);
        let added = self.entries_added;
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        if id <= g.last_id {
            return;
        }
        if g.entries_read != INVALID_ENTRIES_READ && !tomb {
            g.entries_read += 1;
        } else if added != 0 {
            g.entries_read = est;
        }
        g.last_id = id;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: NodeLimits = NodeLimits {
        max_bytes: 4096,
        max_entries: 100,
    };

    fn add(s: &mut StreamValue, ms: u64, f: &[u8], v: &[u8]) {
        s.append(StreamId::new(ms, 0), &[f, v], L);
    }

    #[test]
    fn append_range_delete() {
        let mut s = StreamValue::new();
        for i in 1..=250u64 {
            let v = i.to_string();
            add(
                &mut s,
                i,
                if i % 7 == 0 { b"other" } else { b"item" },
                v.as_bytes(),
            );
        }
        assert_eq!(s.len(), 250);
        assert_eq!(s.chunk_count(), 3);
        let r = s.range(StreamId::new(99, 0), StreamId::new(102, 0), false, 0);
        assert_eq!(
            r.iter().map(|e| e.id.ms).collect::<Vec<_>>(),
            vec![99, 100, 101, 102]
        );
        assert_eq!(r[0].fields, vec![&b"item"[..], b"99"]);
        assert_eq!(s.get(StreamId::new(7, 0)).unwrap().fields[1], &b"7"[..]);
        let r = s.range(StreamId::MIN, StreamId::MAX, true, 2);
        assert_eq!(r[0].id.ms, 250);
        assert_eq!(r[1].fields, vec![&b"item"[..], b"249"]);
        assert_eq!(
            s.get(StreamId::new(245, 0)).unwrap().fields[0],
            &b"other"[..]
        );
        assert!(s.delete(StreamId::new(100, 0)));
        assert!(!s.delete(StreamId::new(100, 0)));
        assert_eq!(s.len(), 249);
        assert!(s.get(StreamId::new(100, 0)).is_none());
        for i in 1..=99 {
            assert!(s.delete(StreamId::new(i, 0)));
        }
        assert_eq!(s.chunk_count(), 2);
        s.refresh_first_id();
        assert_eq!(s.first_id, StreamId::new(101, 0));
    }

    #[test]
    fn trims_like_redis() {
        let mut s = StreamValue::new();
        for i in 1..=1000u64 {
            add(&mut s, i, b"x", b"v");
        }
        assert_eq!(s.trim(Trim::MaxLen(555), true, 10_000), 400);
        assert_eq!(s.len(), 600);
        assert_eq!(s.trim(Trim::MaxLen(555), false, 0), 45);
        assert_eq!(s.len(), 555);
        assert_eq!(s.first_id, StreamId::new(446, 0));
        s.trim(Trim::MinId(StreamId::new(900, 0)), false, 0);
        assert_eq!(s.first_id, StreamId::new(900, 0));
        assert_eq!(s.len(), 101);
    }
}
