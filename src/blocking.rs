//! Clients blocked on keys (BLPOP, BLMOVE, BLMPOP, …).
//!
//! A blocking command that finds nothing registers its client here under
//! each of its keys, in arrival order, and sends no reply. After any write
//! changes one of those keys, the writer serves the waiters on the spot, in
//! FIFO order, exactly as Redis's handleClientsBlockedOnKeys does: it runs
//! the waiter's command on the waiter's behalf and pushes the reply to the
//! waiter's connection. A waiter that times out or disconnects first claims
//! its own state, so every waiter gets exactly one reply.

use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedSender;

pub const WAITING: u8 = 0;
pub const SERVED: u8 = 1;
pub const CANCELLED: u8 = 2;

/// One blocked client.
pub struct Waiter {
    pub client_id: u64,
    pub db: usize,
    pub resp3: bool,
    pub argv: Vec<Bytes>,
    pub keys: Vec<Bytes>,
    pub state: AtomicU8,
    pub tx: UnboundedSender<Bytes>,
    pub info: Arc<crate::client::ClientInfo>,
}

impl Waiter {
    /// Move from WAITING to `to`; false if someone else got there first.
    pub fn claim(&self, to: u8) -> bool {
        self.state
            .compare_exchange(WAITING, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// A waiter left without being served by a write (timeout, CLIENT
/// UNBLOCK, a deleted stream): its command's call is counted now.
pub fn count_unblocked(w: &Waiter, failed: bool) {
    if let Some(cmd) = crate::commands::lookup(&w.argv[0]) {
        cmd.stats.add_calls(failed);
    }
}

#[derive(Default)]
pub struct Blocking {
    waiters: Mutex<HashMap<(usize, Bytes), VecDeque<Arc<Waiter>>>>,
    count: AtomicUsize,
}

impl Blocking {
    #[inline]
    pub fn any(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    /// Number of blocked clients (INFO blocked_clients).
    pub fn blocked_clients(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    pub fn register(&self, w: Arc<Waiter>) {
        let mut m = self.waiters.lock();
        for k in &w.keys {
            m.entry((w.db, k.clone())).or_default().push_back(w.clone());
        }
        w.info.blocked.store(true, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Take a waiter out of every queue (after it was served, timed out or left).
    pub fn unregister(&self, w: &Arc<Waiter>) {
        w.info.blocked.store(false, Ordering::Relaxed);
        let mut m = self.waiters.lock();
        let mut found = false;
        for k in &w.keys {
            let key = (w.db, k.clone());
            if let Some(q) = m.get_mut(&key) {
                let before = q.len();
                q.retain(|x| !Arc::ptr_eq(x, w));
                found |= q.len() != before;
                if q.is_empty() {
                    m.remove(&key);
                }
            }
        }
        if found {
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Every blocked client once (cluster mode redirects those whose slot moved).
    pub fn all_waiters(&self) -> Vec<Arc<Waiter>> {
        let mut all: Vec<Arc<Waiter>> = Vec::new();
        for q in self.waiters.lock().values() {
            for w in q {
                if !all.iter().any(|x| Arc::ptr_eq(x, w)) {
                    all.push(w.clone());
                }
            }
        }
        all
    }

    /// The waiters on a key, oldest first.
    /// Every key some client of database `db` is blocked on.
    pub fn keys_in_db(&self, db: usize) -> Vec<Bytes> {
        self.waiters
            .lock()
            .keys()
            .filter(|(d, _)| *d == db)
            .map(|(_, k)| k.clone())
            .collect()
    }

    pub fn waiters_on(&self, db: usize, key: &[u8]) -> Vec<Arc<Waiter>> {
        self.waiters
            .lock()
            .get(&(db, Bytes::copy_from_slice(key)))
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }
}
