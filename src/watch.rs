//! WATCH: optimistic locking for MULTI/EXEC.
//!
//! The registry maps (db, key) to the flags of the clients watching it. A
//! write that changes a watched key, FLUSHDB/FLUSHALL/SWAPDB, and a watched
//! key expiring all set the watchers' flags; EXEC then aborts. When nobody
//! watches anything the write path pays one relaxed atomic load.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Default)]
pub struct Watches {
    keys: Mutex<HashMap<(usize, Vec<u8>), Vec<Arc<AtomicBool>>>>,
    count: AtomicUsize,
}

/// A client's side: its dirty flag and the keys it watches, with whether
/// each existed (unexpired) when watched.
#[derive(Default)]
pub struct ClientWatch {
    pub dirty: Arc<AtomicBool>,
    pub keys: Vec<(usize, Vec<u8>, Option<u64>)>,
}

impl Watches {
    #[inline]
    pub fn any(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    pub fn watch(&self, cw: &mut ClientWatch, db: usize, key: &[u8], expire_at_ms: Option<u64>) {
        if cw.keys.iter().any(|(d, k, _)| *d == db && k == key) {
            return;
        }
        cw.keys.push((db, key.to_vec(), expire_at_ms));
        self.keys
            .lock()
            .entry((db, key.to_vec()))
            .or_default()
            .push(cw.dirty.clone());
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn unwatch_all(&self, cw: &mut ClientWatch) {
        if cw.keys.is_empty() {
            cw.dirty.store(false, Ordering::Relaxed);
            return;
        }
        let mut map = self.keys.lock();
        for (db, key, _) in cw.keys.drain(..) {
            let k = (db, key);
            if let Some(v) = map.get_mut(&k) {
                v.retain(|f| !Arc::ptr_eq(f, &cw.dirty));
                if v.is_empty() {
                    map.remove(&k);
                }
            }
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
        cw.dirty.store(false, Ordering::Relaxed);
    }

    /// A key was modified.
    pub fn touch(&self, db: usize, key: &[u8]) {
        if !self.any() {
            return;
        }
        if let Some(v) = self.keys.lock().get(&(db, key.to_vec())) {
            v.iter().for_each(|f| f.store(true, Ordering::Relaxed));
        }
    }

    /// Flag the watchers of every watched (db, key) for which `changed`
    /// says the key's value is about to change (FLUSHDB, FLUSHALL, SWAPDB:
    /// only keys that exist, or will exist, count).
    pub fn touch_where(&self, changed: impl Fn(usize, &[u8]) -> bool) {
        if !self.any() {
            return;
        }
        for ((d, k), v) in self.keys.lock().iter() {
            if changed(*d, k) {
                v.iter().for_each(|f| f.store(true, Ordering::Relaxed));
            }
        }
    }
}
