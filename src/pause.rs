//! CLIENT PAUSE: hold back commands (all, or only those that write or may
//! replicate) until a deadline or CLIENT UNPAUSE. Held commands wait in
//! their connections and count as blocked clients; expired keys are not
//! deleted while paused, so the dataset stays as it was (the manual
//! failover of the replication issue relies on this).

use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;
use tokio::sync::Notify;

#[derive(Default)]
pub struct Pause {
    state: Mutex<Option<(Instant, bool)>>,
    active: AtomicBool,
    /// Woken when the pause ends.
    pub ended: Notify,
    postponed: AtomicUsize,
}

impl Pause {
    /// Pause until `until`; `all` pauses every command, else only writes.
    /// A pause already in place is only ever extended or widened.
    pub fn pause(&self, until: Instant, all: bool) {
        let mut s = self.state.lock();
        let (u, a) = s.map_or((until, all), |(u, a)| (u.max(until), a || all));
        *s = Some((u, a));
        self.active.store(true, Ordering::Release);
        crate::keyspace::EXPIRES_PAUSED.store(true, Ordering::Relaxed);
    }

    pub fn unpause(&self) {
        *self.state.lock() = None;
        self.active.store(false, Ordering::Release);
        crate::keyspace::EXPIRES_PAUSED.store(false, Ordering::Relaxed);
        self.ended.notify_waiters();
    }

    /// End a pause whose deadline has passed (called by the cron and waiters).
    pub fn expire_if_due(&self) {
        if !self.active.load(Ordering::Acquire) {
            return;
        }
        let due = self.state.lock().is_some_and(|(u, _)| u <= Instant::now());
        if due {
            self.unpause();
        }
    }

    /// Whether any pause is in place (a cheap first test).
    #[inline]
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Whether a command with these properties must wait now.
    #[inline]
    pub fn holds(&self, writes: bool) -> bool {
        if !self.active.load(Ordering::Acquire) {
            return false;
        }
        match *self.state.lock() {
            Some((until, all)) if until > Instant::now() => all || writes,
            _ => false,
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.state.lock().map(|(u, _)| u)
    }

    pub fn postponed(&self) -> usize {
        self.postponed.load(Ordering::Relaxed)
    }

    pub fn add_postponed(&self, delta: isize) {
        if delta >= 0 {
            self.postponed.fetch_add(delta as usize, Ordering::Relaxed);
        } else {
            self.postponed
                .fetch_sub((-delta) as usize, Ordering::Relaxed);
        }
    }
}
