//! The keyspace: databases partitioned into 16384 slot tables.
//!
//! Every database is split by hash slot (the same slot function cluster mode
//! routes by), so COUNTKEYSINSLOT, GETKEYSINSLOT, dropping a lost slot and
//! migrating a slot all work on one small table. Slot tables are created
//! lazily and each sits behind its own mutex: a command locks only the slots
//! its keys hash to (several in ascending order), so connections on different
//! cores run in parallel. Keyspace-wide operations (FLUSHALL, KEYS, EXEC…)
//! take the `gate` exclusively; ordinary commands hold it shared.
//!
//! Expiry is stored in the entry; each slot table counts its volatile keys so
//! the active expire cycle only visits slots that have any.

mod key;
pub mod value;

pub use key::Key;
pub use value::{StrVal, Value};

use parking_lot::{Mutex, MutexGuard, RwLock};
use shoal_cluster::{key_hash_slot, SLOT_COUNT};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

pub type Map = SlotMap;

/// A slot's key → entry table: entries packed densely in one array with
/// 4-byte bucket heads and chain links (`ScanTable`), instead of a
/// hashbrown table whose 64-byte buckets sit half empty just past each
/// power of two. Growth is in small steps so the array stays nearly full.
#[derive(Default, Debug)]
pub struct SlotMap {
    table: crate::types::hash::ScanTable<(Key, Entry)>,
}

impl crate::types::hash::table::Keyed for (Key, Entry) {
    fn key(&self) -> &[u8] {
        &self.0
    }
}

impl SlotMap {
    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.table.find(key).map(|i| &self.table.item(i).1)
    }

    #[inline]
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let i = self.table.find(key)?;
        Some(&mut self.table.item_mut(i).1)
    }

    /// Add a key that is not present.
    pub fn insert(&mut self, key: Key, entry: Entry) {
        self.table.push_new((key, entry));
    }

    /// `Ok(index)` of `key`, or `Err(hash)` for [`insert_hashed`](Self::insert_hashed).
    #[inline]
    pub fn find_or_hash(&self, key: &[u8]) -> Result<usize, u32> {
        self.table.find_or_hash(key)
    }

    #[inline]
    pub fn entry_at_mut(&mut self, i: usize) -> &mut Entry {
        &mut self.table.item_mut(i).1
    }

    /// Add a key that is not present, with its hash from `find_or_hash`;
    /// returns its index.
    #[inline]
    pub fn insert_hashed(&mut self, key: Key, entry: Entry, hash: u32) -> usize {
        self.table.push_new_hashed((key, entry), hash)
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        self.table.remove(key).map(|(_, e)| e)
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Entry)> {
        self.table.iter().map(|(k, e)| (k, e))
    }

    /// One bucket of a reverse-binary SCAN; returns the next cursor (0: done).
    pub fn scan_step<'s>(&'s self, cursor: u64, mut f: impl FnMut(&'s Key, &'s Entry)) -> u64 {
        self.table.scan_step(cursor, |(k, e)| f(k, e))
    }
}

/// Keys removed because they expired (INFO expired_keys).
pub static EXPIRED_KEYS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// While clients are paused (CLIENT PAUSE), expired keys read as missing
/// but are not deleted, so the dataset does not change.
pub static EXPIRES_PAUSED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// One key's value and metadata.
#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Value,
    /// Absolute unix time in ms when the key expires; 0 = never.
    pub expire_at_ms: u64,
    /// Access clock: seconds (wrapping) for OBJECT IDLETIME and LRU
    /// eviction, or under an LFU policy (minutes << 8 | counter) for
    /// OBJECT FREQ and LFU eviction. See `crate::evict`.
    pub lru_s: u32,
}

impl Entry {
    pub fn new(value: Value) -> Self {
        Entry {
            value,
            expire_at_ms: 0,
            lru_s: crate::evict::initial_access(),
        }
    }

    #[inline]
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at_ms != 0 && self.expire_at_ms <= now_ms
    }
}

/// The LRU clock as of the server cron's last tick (0: not yet read).
static LRU_CLOCK: AtomicU32 = AtomicU32::new(0);

/// Seconds since the process clock origin, for LRU bookkeeping, as of the
/// cron's last tick (every 1/hz s; the clock counts whole seconds): every
/// access stamps its key, and reading the system clock each time cost
/// more than the stamp. Redis caches its LRU clock in serverCron the same
/// way.
#[inline]
pub fn lru_clock() -> u32 {
    match LRU_CLOCK.load(Ordering::Relaxed) {
        0 => lru_clock_now(),
        c => c,
    }
}

/// Read the clock into the cached LRU clock (the server cron, each tick).
pub fn refresh_lru_clock() {
    LRU_CLOCK.store(lru_clock_now(), Ordering::Relaxed);
}

/// It starts at 2^24 s (Redis's LRU clock range) rather than 0, so an idle
/// time set from outside (RESTORE … IDLETIME, an RDB's IDLE field) longer
/// than the uptime is kept instead of clamping at "created now".
fn lru_clock_now() -> u32 {
    const BASE_S: u32 = 1 << 24;
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    BASE_S
        + START
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_secs() as u32
}

/// The keys of one hash slot of one database.
#[derive(Default, Debug)]
pub struct SlotTable {
    pub map: Map,
    /// How many entries have an expiry set.
    pub volatile: usize,
}

/// A slot's lock and table header, one cache line each: a command reaches
/// its slot's table with one memory access (the array entry is the lock),
/// not an array entry plus a separately allocated lock. An empty table
/// allocates nothing.
#[repr(align(64))]
#[derive(Default)]
struct SlotCell(Mutex<SlotTable>);

const _: () = assert!(std::mem::size_of::<SlotCell>() == 64);

/// A database: 16384 slot tables plus key counters. The slot array (1 MiB)
/// is allocated on the database's first use, so the 16 databases of a
/// fresh server cost nothing.
pub struct Db {
    slots: OnceLock<Box<[SlotCell]>>,
    /// Sharded per serving thread: every new or deleted key counts.
    keys: crate::stats::Counter,
    volatile: crate::stats::Counter,
}

impl Db {
    fn new() -> Self {
        Db {
            slots: OnceLock::new(),
            keys: crate::stats::Counter::default(),
            volatile: crate::stats::Counter::default(),
        }
    }

    pub fn len(&self) -> u64 {
        self.keys.load_i64().max(0) as u64
    }

    /// An identity for this database that stays valid across SWAPDB (its
    /// number does not): see `Keyspace::db_by_addr`.
    pub fn addr(&self) -> usize {
        self as *const Db as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn volatile_len(&self) -> u64 {
        self.volatile.load_i64().max(0) as u64
    }

    #[inline]
    fn slot_cells(&self) -> &[SlotCell] {
        self.slots
            .get_or_init(|| (0..SLOT_COUNT).map(|_| SlotCell::default()).collect())
    }

    /// Lock one slot.
    #[inline]
    pub fn lock_slot(&self, slot: u16) -> SlotGuard<'_> {
        SlotGuard {
            db: self,
            slot,
            table: self.slot_cells()[slot as usize].0.lock(),
        }
    }

    /// Start loading the memory that lookups of `keys` will touch, a level
    /// at a time across all of them, so their cache misses overlap instead
    /// of each command waiting for its own in turn (a pipeline of GETs over
    /// a keyspace larger than the cache is bound by those misses): the
    /// slots' cells, then the bucket heads, then the first chain nodes. A
    /// slot another thread holds is skipped; nothing is changed.
    pub fn prefetch(&self, keys: &[&[u8]]) {
        const MAX: usize = 32;
        let Some(cells) = self.slots.get() else {
            return;
        };
        let mut at = [(0u16, 0u32); MAX];
        let n = keys.len().min(MAX);
        for (i, k) in keys.iter().take(n).enumerate() {
            let slot = key_hash_slot(k);
            at[i] = (slot, crate::types::hash::table::hash_of(k));
            crate::util::prefetch(&cells[slot as usize]);
        }
        for &(slot, h) in &at[..n] {
            if let Some(t) = cells[slot as usize].0.try_lock() {
                t.map.table.prefetch_head(h);
            }
        }
        for &(slot, h) in &at[..n] {
            if let Some(t) = cells[slot as usize].0.try_lock() {
                t.map.table.prefetch_node(h);
            }
        }
    }

    /// Lock one slot, unless the database has never been used (then every
    /// slot is empty).
    pub fn lock_existing_slot(&self, slot: u16) -> Option<SlotGuard<'_>> {
        let cell = &self.slots.get()?[slot as usize];
        Some(SlotGuard {
            db: self,
            slot,
            table: cell.0.lock(),
        })
    }

    /// Lock the slot a key hashes to.
    #[inline]
    pub fn lock_key(&self, key: &[u8]) -> SlotGuard<'_> {
        self.lock_slot(key_hash_slot(key))
    }

    /// Lock the slots of several keys, in ascending slot order (the one
    /// order every multi-key command uses, so they cannot deadlock).
    pub fn lock_keys<'k>(&self, keys: impl Iterator<Item = &'k [u8]>) -> MultiGuard<'_> {
        self.lock_slots(keys.map(key_hash_slot))
    }

    /// [`lock_keys`](Self::lock_keys) for keys whose slots the caller
    /// already computed (then found with [`MultiGuard::for_slot`]).
    pub fn lock_slots(&self, slots: impl Iterator<Item = u16>) -> MultiGuard<'_> {
        let mut slots: Vec<u16> = slots.collect();
        slots.sort_unstable();
        slots.dedup();
        MultiGuard {
            guards: slots.into_iter().map(|s| self.lock_slot(s)).collect(),
        }
    }

    /// Remove every key; returns how many were removed.
    pub fn clear(&self) -> u64 {
        self.clear_async(false)
    }

    /// Remove every key, freeing them on the lazyfree thread when `lazy`
    /// (FLUSHDB/FLUSHALL ASYNC); returns how many were removed.
    pub fn clear_async(&self, lazy: bool) -> u64 {
        let mut removed = 0;
        let mut tables = Vec::new();
        for slot in 0..SLOT_COUNT as u16 {
            if let Some(mut g) = self.lock_existing_slot(slot) {
                let (n, table) = g.clear_slot();
                removed += n;
                if lazy && n > 0 {
                    tables.push(table);
                }
            }
        }
        if lazy {
            crate::lazyfree::free_flushed(Box::new(tables), removed);
        }
        removed
    }
}

/// A locked slot table; every insert/remove goes through it so the database
/// counters stay exact.
pub struct SlotGuard<'a> {
    db: &'a Db,
    pub slot: u16,
    table: MutexGuard<'a, SlotTable>,
}

/// Several locked slots, sorted by slot number.
pub struct MultiGuard<'a> {
    guards: Vec<SlotGuard<'a>>,
}

impl<'a> MultiGuard<'a> {
    /// The guard for the slot `key` hashes to; the key must have been
    /// among those locked.
    pub fn for_key(&mut self, key: &[u8]) -> &mut SlotGuard<'a> {
        self.for_slot(key_hash_slot(key))
    }

    /// The guard for `slot`, which must have been among those locked.
    #[inline]
    pub fn for_slot(&mut self, slot: u16) -> &mut SlotGuard<'a> {
        let i = self
            .guards
            .binary_search_by_key(&slot, |g| g.slot)
            .expect("key's slot was locked");
        &mut self.guards[i]
    }
}

impl<'a> SlotGuard<'a> {
    /// The live entry for `key`, removing it first if it has expired.
    /// Returns `None` for a missing or expired key.
    #[inline]
    pub fn get_mut(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Entry> {
        if self.expire_if_needed(key, now_ms) {
            return None;
        }
        self.table.map.get_mut(key)
    }

    /// The live entry for `key`, or a new one made by `make` (no expiry)
    /// when it is missing or expired, with one table lookup. The flag says
    /// whether it was created. For the write commands that create their
    /// key on first use (SADD, HSET, ZADD…); `make` must not be called
    /// when the caller would refuse to create the key, so check that
    /// (e.g. ZADD XX) with `contains` first.
    #[inline]
    pub fn get_or_insert_with(
        &mut self,
        key: &[u8],
        now_ms: u64,
        make: impl FnOnce() -> Entry,
    ) -> (&mut Entry, bool) {
        if self.expire_if_needed(key, now_ms) {
            // Rare: the expired entry may still be in place (see
            // `expire_if_needed`); `insert` replaces it.
            let entry = make();
            debug_assert_eq!(entry.expire_at_ms, 0);
            self.insert(key, entry, false);
            let e = self.table.map.get_mut(key).expect("just inserted");
            return (e, true);
        }
        let table = &mut *self.table;
        match table.map.find_or_hash(key) {
            Ok(i) => (table.map.entry_at_mut(i), false),
            Err(h) => {
                let entry = make();
                debug_assert_eq!(entry.expire_at_ms, 0);
                let i = table.map.insert_hashed(Key::from(key), entry, h);
                self.db.keys.add_i64(1);
                crate::notify::record_new(self.db, key);
                (table.map.entry_at_mut(i), true)
            }
        }
    }

    /// Read-only lookup that also refreshes the access clock.
    #[inline]
    pub fn get(&mut self, key: &[u8], now_ms: u64) -> Option<&Entry> {
        let e = self.get_mut(key, now_ms)?;
        crate::evict::touch(e);
        Some(e)
    }

    /// Lookup without touching the LRU clock or expiring anything (OBJECT, DEBUG).
    pub fn peek(&self, key: &[u8]) -> Option<&Entry> {
        self.table.map.get(key)
    }

    pub fn contains(&mut self, key: &[u8], now_ms: u64) -> bool {
        self.get_mut(key, now_ms).is_some()
    }

    /// Remove `key` if its expiry has passed. Returns true if it was removed.
    #[inline]
    pub fn expire_if_needed(&mut self, key: &[u8], now_ms: u64) -> bool {
        if self.table.volatile == 0 {
            return false;
        }
        match self.table.map.get(key) {
            Some(e) if e.is_expired(now_ms) => {
                // A replica runs its master's commands on keys as they are
                // (the master's DEL removes them).
                if crate::propagate::expiry_suspended() {
                    return false;
                }
                if EXPIRES_PAUSED.load(Ordering::Relaxed) || !crate::propagate::may_delete_expired()
                {
                    // A read without the propagation lock: delete it right
                    // after the command, in order (see propagate.rs).
                    crate::propagate::expire_later(self.db, key);
                    return true;
                }
                if let Some(e) = self.remove(key) {
                    crate::lazyfree::free_value(
                        e.value,
                        crate::lazyfree::lazy(&crate::lazyfree::LAZY_EXPIRE),
                    );
                }
                crate::propagate::deleted_key(self.db, key);
                EXPIRED_KEYS.fetch_add(1, Ordering::Relaxed);
                crate::notify::record_expired(self.db, key);
                crate::tracking::record_removed(key);
                true
            }
            _ => false,
        }
    }

    /// Insert or overwrite `key`. Keeps the old expiry only if `keep_ttl`.
    pub fn insert(&mut self, key: &[u8], mut entry: Entry, keep_ttl: bool) {
        let table = &mut *self.table;
        match table.map.find_or_hash(key) {
            Ok(i) => {
                let old = table.map.entry_at_mut(i);
                // An expired entry left in place (see `expire_if_needed`)
                // is replaced as if it were gone.
                if keep_ttl && !old.is_expired(crate::util::now_ms()) {
                    entry.expire_at_ms = old.expire_at_ms;
                }
                adjust_volatile(
                    &mut table.volatile,
                    &self.db.volatile,
                    old.expire_at_ms,
                    entry.expire_at_ms,
                );
                let replaced = std::mem::replace(old, entry);
                crate::lazyfree::free_value(
                    replaced.value,
                    crate::lazyfree::lazy(&crate::lazyfree::LAZY_SERVER_DEL),
                );
            }
            Err(h) => {
                if entry.expire_at_ms != 0 {
                    table.volatile += 1;
                    self.db.volatile.add_i64(1);
                }
                table.map.insert_hashed(Key::from(key), entry, h);
                self.db.keys.add_i64(1);
                crate::notify::record_new(self.db, key);
            }
        }
    }

    /// Remove `key`; returns the entry if it existed (expired or not).
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let entry = self.table.map.remove(key)?;
        self.db.keys.add_i64(-1);
        if entry.expire_at_ms != 0 {
            self.table.volatile -= 1;
            self.db.volatile.add_i64(-1);
        }
        Some(entry)
    }

    /// Set or clear (0) the expiry of an existing key. Returns false if missing.
    pub fn set_expire(&mut self, key: &[u8], expire_at_ms: u64) -> bool {
        let table = &mut *self.table;
        match table.map.get_mut(key) {
            Some(e) => {
                adjust_volatile(
                    &mut table.volatile,
                    &self.db.volatile,
                    e.expire_at_ms,
                    expire_at_ms,
                );
                e.expire_at_ms = expire_at_ms;
                true
            }
            None => false,
        }
    }

    pub fn len(&self) -> usize {
        self.table.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.map.is_empty()
    }

    pub fn volatile(&self) -> usize {
        self.table.volatile
    }

    /// One SCAN step over this slot's table (see `SlotMap::scan_step`).
    pub fn scan_step(&self, cursor: u64, f: impl FnMut(&Key, &Entry)) -> u64 {
        self.table.map.scan_step(cursor, f)
    }

    /// Iterate the slot's entries (including not-yet-reclaimed expired ones).
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Entry)> {
        self.table.map.iter()
    }

    /// Remove every expired key in this slot; returns how many.
    pub fn purge_expired(&mut self, now_ms: u64, max_checks: usize) -> (usize, usize) {
        if self.table.volatile == 0
            || EXPIRES_PAUSED.load(Ordering::Relaxed)
            || !crate::propagate::may_delete_expired()
        {
            return (0, 0);
        }
        let mut checked = 0;
        let mut dead: Vec<Key> = Vec::new();
        for (k, e) in self.table.map.iter() {
            if e.expire_at_ms != 0 {
                checked += 1;
                if e.expire_at_ms <= now_ms {
                    dead.push(k.clone());
                }
                if checked >= max_checks {
                    break;
                }
            }
        }
        let lazy = crate::lazyfree::lazy(&crate::lazyfree::LAZY_EXPIRE);
        for k in &dead {
            if let Some(e) = self.remove(k) {
                crate::lazyfree::free_value(e.value, lazy);
            }
            crate::propagate::deleted_key(self.db, k);
            crate::notify::record_expired(self.db, k);
            crate::tracking::record_removed(k);
        }
        EXPIRED_KEYS.fetch_add(dead.len() as u64, Ordering::Relaxed);
        (checked, dead.len())
    }

    /// Empty the slot; returns how many keys it held and the old table.
    fn clear_slot(&mut self) -> (u64, Map) {
        let n = self.table.map.len();
        let v = self.table.volatile;
        let old = std::mem::take(&mut self.table.map);
        self.table.volatile = 0;
        self.db.keys.add_i64(-(n as i64));
        self.db.volatile.add_i64(-(v as i64));
        (n as u64, old)
    }
}

fn adjust_volatile(
    table: &mut usize,
    db: &crate::stats::Counter,
    old_expire: u64,
    new_expire: u64,
) {
    match (old_expire != 0, new_expire != 0) {
        (false, true) => {
            *table += 1;
            db.add_i64(1);
        }
        (true, false) => {
            *table -= 1;
            db.add_i64(-1);
        }
        _ => {}
    }
}

/// All databases plus the gate that keyspace-wide operations take exclusively.
pub struct Keyspace {
    dbs: Vec<Db>,
    /// Logical database number → index in `dbs`; SWAPDB swaps two entries.
    map: Vec<AtomicU32>,
    pub gate: RwLock<()>,
    /// Round-robin position of the active expire cycle, per db.
    expire_cursor: Vec<AtomicU32>,
}

impl Keyspace {
    pub fn new(databases: usize) -> Self {
        Keyspace {
            dbs: (0..databases).map(|_| Db::new()).collect(),
            map: (0..databases).map(|i| AtomicU32::new(i as u32)).collect(),
            gate: RwLock::new(()),
            expire_cursor: (0..databases).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    #[inline]
    pub fn db(&self, index: usize) -> &Db {
        &self.dbs[self.map[index].load(Ordering::Relaxed) as usize]
    }

    pub fn db_count(&self) -> usize {
        self.dbs.len()
    }

    pub fn dbs(&self) -> impl Iterator<Item = (usize, &Db)> {
        (0..self.dbs.len()).map(move |i| (i, self.db(i)))
    }

    /// The database (and its current number) whose address is `addr` (see
    /// `Db::addr`): how work queued by the keyspace layer, which sees only
    /// `&Db`, finds its database number later. SWAPDB runs only between
    /// commands, so the mapping is stable meanwhile.
    pub fn db_by_addr(&self, addr: usize) -> Option<(usize, &Db)> {
        self.dbs().find(|(_, d)| d.addr() == addr)
    }

    /// Swap the contents of two databases (SWAPDB). The caller holds the
    /// gate exclusively, so no command sees the swap half done.
    pub fn swap_dbs(&self, a: usize, b: usize) {
        let ia = self.map[a].load(Ordering::Relaxed);
        let ib = self.map[b].load(Ordering::Relaxed);
        self.map[a].store(ib, Ordering::Relaxed);
        self.map[b].store(ia, Ordering::Relaxed);
    }

    /// One step of active expiry for database `db`: visit slots round-robin,
    /// purging expired keys, until `budget_checks` volatile keys were looked
    /// at. Returns (checked, expired).
    pub fn active_expire_db(
        &self,
        db_index: usize,
        now_ms: u64,
        budget_checks: usize,
    ) -> (usize, usize) {
        let db = self.db(db_index);
        if db.volatile_len() == 0 {
            return (0, 0);
        }
        let cursor = &self.expire_cursor[db_index];
        let mut slot = cursor.load(Ordering::Relaxed) as usize % SLOT_COUNT;
        let (mut checked, mut expired) = (0, 0);
        for _ in 0..SLOT_COUNT {
            if let Some(mut g) = db.lock_existing_slot(slot as u16) {
                let (c, e) = g.purge_expired(now_ms, budget_checks.saturating_sub(checked).max(1));
                checked += c;
                expired += e;
            }
            slot = (slot + 1) % SLOT_COUNT;
            if checked >= budget_checks {
                break;
            }
        }
        cursor.store(slot as u32, Ordering::Relaxed);
        (checked, expired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(StrVal::from_bytes(v.as_bytes()))
    }

    #[test]
    fn insert_remove_counts() {
        let ks = Keyspace::new(2);
        let db = ks.db(0);
        db.lock_key(b"a").insert(b"a", Entry::new(s("1")), false);
        db.lock_key(b"b").insert(b"b", Entry::new(s("2")), false);
        db.lock_key(b"a").insert(b"a", Entry::new(s("3")), false);
        assert_eq!(db.len(), 2);
        assert!(db.lock_key(b"a").remove(b"a").is_some());
        assert_eq!(db.len(), 1);
        assert_eq!(ks.db(1).len(), 0);
    }

    #[test]
    fn lazy_expiry() {
        let ks = Keyspace::new(1);
        let db = ks.db(0);
        let mut e = Entry::new(s("v"));
        e.expire_at_ms = 1000;
        db.lock_key(b"k").insert(b"k", e, false);
        assert_eq!(db.volatile_len(), 1);
        assert!(db.lock_key(b"k").get_mut(b"k", 999).is_some());
        assert!(db.lock_key(b"k").get_mut(b"k", 1000).is_none());
        assert_eq!(db.len(), 0);
        assert_eq!(db.volatile_len(), 0);
    }

    #[test]
    fn active_expiry_reclaims_without_access() {
        let ks = Keyspace::new(1);
        let db = ks.db(0);
        for i in 0..1000 {
            let key = format!("key:{i}");
            let mut e = Entry::new(s("v"));
            e.expire_at_ms = if i % 2 == 0 { 10 } else { 0 };
            db.lock_key(key.as_bytes()).insert(key.as_bytes(), e, false);
        }
        let mut total = 0;
        for _ in 0..100 {
            total += ks.active_expire_db(0, 20, 200).1;
        }
        assert_eq!(total, 500);
        assert_eq!(db.len(), 500);
        assert_eq!(db.volatile_len(), 0);
    }

    #[test]
    fn keep_ttl_and_overwrite() {
        let ks = Keyspace::new(1);
        let db = ks.db(0);
        let later = crate::util::now_ms() + 1_000_000;
        let mut e = Entry::new(s("v"));
        e.expire_at_ms = later;
        db.lock_key(b"k").insert(b"k", e, false);
        db.lock_key(b"k").insert(b"k", Entry::new(s("w")), true);
        assert_eq!(db.lock_key(b"k").peek(b"k").unwrap().expire_at_ms, later);
        db.lock_key(b"k").insert(b"k", Entry::new(s("x")), false);
        assert_eq!(db.lock_key(b"k").peek(b"k").unwrap().expire_at_ms, 0);
        assert_eq!(db.volatile_len(), 0);
    }
}
