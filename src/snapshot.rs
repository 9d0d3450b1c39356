//! Point-in-time snapshots of the keyspace without fork: per-slot
//! copy-on-write.
//!
//! Starting a snapshot (with the keyspace gate held exclusively, so it
//! corresponds to one propagation offset) only marks every (db, slot)
//! "pending". A background consumer then walks the slots in order, taking
//! each pending slot's entries under that slot's lock. A write that is about
//! to change a pending slot first captures it ([`before_write`]): its
//! entries are cloned aside as they were, and the consumer takes that copy
//! when it gets there. So the snapshot sees every slot as it was at the
//! start, while commands keep running; the cost is a clone of the slots
//! written to during the snapshot, as fork's copy-on-write would copy pages.

use crate::commands::Command;
use crate::keyspace::{Entry, Key};
use crate::server::Server;
use bytes::Bytes;
use parking_lot::Mutex;
use shoal_cluster::{key_hash_slot, SLOT_COUNT};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;

/// Whether a snapshot is being taken (one test on every write otherwise).
static ACTIVE: AtomicBool = AtomicBool::new(false);

const PENDING: u8 = 0;
const TAKEN: u8 = 1;

/// The slots of one snapshot.
pub struct Snapshot {
    dbs: usize,
    state: Vec<AtomicU8>,
    /// Slots captured early by writers: (db, slot) → their entries then.
    aside: Mutex<HashMap<(usize, u16), Vec<(Key, Entry)>>>,
    /// (keys, keys with an expiry) per database at the start.
    sizes: Vec<(u64, u64)>,
}

/// The one snapshot in progress, if any.
#[derive(Default)]
pub struct Snapshots {
    current: Mutex<Option<Arc<Snapshot>>>,
}

#[inline]
pub fn active() -> bool {
    ACTIVE.load(Ordering::Acquire)
}

impl Snapshots {
    /// Begin a snapshot of the keyspace as it is now. The caller holds the
    /// keyspace gate exclusively. Fails if one is already in progress.
    pub fn begin(&self, srv: &Server) -> Option<Arc<Snapshot>> {
        let dbs = srv.keyspace.db_count();
        let mut cur = self.current.lock();
        if cur.is_some() {
            return None;
        }
        let snap = Arc::new(Snapshot {
            dbs,
            state: (0..dbs * SLOT_COUNT)
                .map(|_| AtomicU8::new(PENDING))
                .collect(),
            aside: Mutex::new(HashMap::new()),
            sizes: srv
                .keyspace
                .dbs()
                .map(|(_, d)| (d.len(), d.volatile_len()))
                .collect(),
        });
        *cur = Some(snap.clone());
        ACTIVE.store(true, Ordering::Release);
        Some(snap)
    }

    /// The snapshot is complete (or abandoned): writers stop capturing.
    pub fn end(&self) {
        let mut cur = self.current.lock();
        *cur = None;
        ACTIVE.store(false, Ordering::Release);
    }

    pub fn in_progress(&self) -> bool {
        self.current.lock().is_some()
    }

    fn get(&self) -> Option<Arc<Snapshot>> {
        self.current.lock().clone()
    }
}

impl Snapshot {
    fn index(&self, db: usize, slot: u16) -> usize {
        db * SLOT_COUNT + slot as usize
    }

    /// Clone `slot` of `db` aside if the snapshot has not taken it yet.
    fn capture(&self, srv: &Server, db: usize, slot: u16) {
        let i = self.index(db, slot);
        if db >= self.dbs || self.state[i].load(Ordering::Acquire) != PENDING {
            return;
        }
        let Some(g) = srv.keyspace.db(db).lock_existing_slot(slot) else {
            // Never created: empty in the snapshot; a write creating it
            // now must not add to what the snapshot sees.
            if self.state[i]
                .compare_exchange(PENDING, TAKEN, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                self.aside.lock().insert((db, slot), Vec::new());
            }
            return;
        };
        // Decided under the slot lock, so the consumer and writers agree.
        if self.state[i].swap(TAKEN, Ordering::AcqRel) == PENDING {
            let entries: Vec<(Key, Entry)> =
                g.iter().map(|(k, e)| (k.clone(), e.clone())).collect();
            drop(g);
            self.aside.lock().insert((db, slot), entries);
        }
    }

    fn capture_all(&self, srv: &Server) {
        for db in 0..self.dbs {
            for slot in 0..SLOT_COUNT as u16 {
                self.capture(srv, db, slot);
            }
        }
    }

    /// The consumer's step: visit the entries `slot` of `db` had when the
    /// snapshot began (expired ones included; the consumer filters). A
    /// slot nobody wrote to yet is visited in place, under its lock.
    pub fn visit<E>(
        &self,
        srv: &Server,
        db: usize,
        slot: u16,
        mut f: impl FnMut(&Key, &Entry) -> Result<(), E>,
    ) -> Result<(), E> {
        let i = self.index(db, slot);
        if self.state[i].load(Ordering::Acquire) == PENDING {
            if let Some(g) = srv.keyspace.db(db).lock_existing_slot(slot) {
                if self.state[i].swap(TAKEN, Ordering::AcqRel) == PENDING {
                    for (k, e) in g.iter() {
                        f(k, e)?;
                    }
                    return Ok(());
                }
            } else if self.state[i]
                .compare_exchange(PENDING, TAKEN, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return Ok(());
            }
        }
        let entries = self.aside.lock().remove(&(db, slot)).unwrap_or_default();
        for (k, e) in &entries {
            f(k, e)?;
        }
        Ok(())
    }

    /// Keys per database when the snapshot began (RESIZEDB hints).
    pub fn db_size(&self, db: usize) -> (u64, u64) {
        self.sizes.get(db).copied().unwrap_or((0, 0))
    }

    pub fn dbs(&self) -> usize {
        self.dbs
    }
}

/// Before a write command runs: capture the slots it may change.
pub fn before_write(srv: &Server, db: usize, cmd: &Command, argv: &[Bytes]) {
    let Some(snap) = srv.snapshots.get() else {
        return;
    };
    let cross_db = cmd.has(crate::commands::EXCLUSIVE)
        || (cmd.name == "copy" && argv.iter().any(|a| a.eq_ignore_ascii_case(b"db")));
    if cross_db {
        snap.capture_all(srv);
        return;
    }
    for i in cmd.keys_in(argv) {
        snap.capture(srv, db, key_hash_slot(&argv[i]));
    }
}

/// Before the keyspace deletes keys on its own (expiry, eviction) in a slot.
pub fn before_slot_change(srv: &Server, db: usize, slot: u16) {
    if let Some(snap) = srv.snapshots.get() {
        snap.capture(srv, db, slot);
    }
}

/// Before a change to every database (FLUSHALL from a script of the
/// server itself, e.g. DEBUG RELOAD or a full resync).
pub fn before_everything(srv: &Server) {
    if let Some(snap) = srv.snapshots.get() {
        snap.capture_all(srv);
    }
}
