//! Keyspace notifications (`notify-keyspace-events`), as Redis 7.0 sends them.
//!
//! A change to a key is published on `__keyspace@<db>__:<key>` (message: the
//! event name) when the flags include `K`, and on `__keyevent@<db>__:<event>`
//! (message: the key) when they include `E`, provided the event's class
//! (`g`, `$`, `l`, `s`, `h`, `z`, `x`, `e`, `m`, `n`…) is enabled too.
//!
//! Handlers call [`notify`] right after a change, in Redis's order. Two kinds
//! of events come from below the handlers, where there is no `Ctx`: a key
//! removed because it expired ("expired", lazily on access or by the active
//! expire cycle) and a key created ("new", Redis emits it from `dbAdd`). The
//! keyspace records those in a per-thread queue ([`record_expired`],
//! [`record_new`]) — only when their class is enabled, so nothing is
//! allocated while notifications are off — and the queue is published, in
//! order, before the next event a handler sends and after every command
//! (`exec::call`) or expire cycle ([`flush`]).

use crate::commands::Ctx;
use crate::config::special::{NOTIFY_KEYEVENT, NOTIFY_KEYSPACE};
use crate::keyspace::{Db, Key};
use crate::pubsub::Kind;
use crate::server::Server;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, Ordering};

pub use crate::config::special::{
    NOTIFY_ALL, NOTIFY_EVICTED, NOTIFY_EXPIRED, NOTIFY_GENERIC, NOTIFY_HASH, NOTIFY_KEY_MISS,
    NOTIFY_LIST, NOTIFY_NEW, NOTIFY_SET, NOTIFY_STREAM, NOTIFY_STRING, NOTIFY_ZSET,
};

/// The flags as the keyspace layer sees them (it has no `Hot`); kept equal
/// to `Hot::notify_keyspace_events` by `Server::apply_limits`.
static FLAGS: AtomicU32 = AtomicU32::new(0);

pub fn set_flags(flags: u32) {
    FLAGS.store(flags, Ordering::Relaxed);
}

#[inline]
pub fn flags() -> u32 {
    FLAGS.load(Ordering::Relaxed)
}

/// An event recorded by the keyspace layer, waiting to be published.
struct Pending {
    /// The database, by address (its number is looked up when publishing:
    /// SWAPDB can only run between commands, so the mapping is stable).
    db: usize,
    new: bool,
    key: Key,
}

thread_local! {
    static PENDING: RefCell<Vec<Pending>> = const { RefCell::new(Vec::new()) };
}

fn record(db: &Db, new: bool, key: &[u8]) {
    let p = Pending {
        db: db.addr(),
        new,
        key: Key::from(key),
    };
    PENDING.with(|q| q.borrow_mut().push(p));
}

/// The keyspace removed `key` because it expired.
#[inline]
pub fn record_expired(db: &Db, key: &[u8]) {
    if flags() & NOTIFY_EXPIRED != 0 {
        record(db, false, key);
    }
}

/// The keyspace created `key` (it did not exist).
#[inline]
pub fn record_new(db: &Db, key: &[u8]) {
    if flags() & NOTIFY_NEW != 0 {
        record(db, true, key);
    }
}

/// Publish the events the keyspace recorded on this thread.
pub fn flush(srv: &Server, flags: u32) {
    let pending = PENDING.with(|q| {
        let mut q = q.borrow_mut();
        if q.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut *q))
        }
    });
    let Some(pending) = pending else { return };
    for p in &pending {
        let Some((db, _)) = srv.keyspace.db_by_addr(p.db) else {
            continue;
        };
        let (class, event) = if p.new {
            (NOTIFY_NEW, "new")
        } else {
            (NOTIFY_EXPIRED, "expired")
        };
        if flags & class != 0 {
            publish(srv, flags, db, event, &p.key);
        }
    }
    // Keep the queue's buffer for next time.
    PENDING.with(|q| {
        let mut q = q.borrow_mut();
        if q.is_empty() {
            let mut v = pending;
            v.clear();
            *q = v;
        }
    });
}

/// Send event `event` of class `class` for `key` in the client's database.
/// One integer test when the class is off (the default: all off).
#[inline]
pub fn notify(ctx: &Ctx, class: u32, event: &str, key: &[u8]) {
    let flags = ctx.hot.notify_keyspace_events;
    if flags & class == 0 {
        return;
    }
    flush(ctx.srv, flags);
    publish(ctx.srv, flags, ctx.client.db, event, key);
}

/// [`notify`] for database `db` (MOVE/COPY targets).
#[inline]
pub fn notify_in(ctx: &Ctx, db: usize, class: u32, event: &str, key: &[u8]) {
    notify_db(
        ctx.srv,
        ctx.hot.notify_keyspace_events,
        db,
        class,
        event,
        key,
    )
}

/// [`notify`] without a command context (eviction, expiry): `flags` is
/// `Hot::notify_keyspace_events` or [`flags`].
#[inline]
pub fn notify_db(srv: &Server, flags: u32, db: usize, class: u32, event: &str, key: &[u8]) {
    if flags & class == 0 {
        return;
    }
    flush(srv, flags);
    publish(srv, flags, db, event, key);
}

fn publish(srv: &Server, flags: u32, db: usize, event: &str, key: &[u8]) {
    let mut num = itoa::Buffer::new();
    let db = num.format(db).as_bytes();
    if flags & NOTIFY_KEYSPACE != 0 {
        let chan = channel(b"__keyspace@", db, key);
        srv.pubsub.publish(Kind::Channel, &chan, event.as_bytes());
    }
    if flags & NOTIFY_KEYEVENT != 0 {
        let chan = channel(b"__keyevent@", db, event.as_bytes());
        srv.pubsub.publish(Kind::Channel, &chan, key);
    }
}

fn channel(prefix: &[u8], db: &[u8], tail: &[u8]) -> Vec<u8> {
    let mut c = Vec::with_capacity(prefix.len() + db.len() + 3 + tail.len());
    c.extend_from_slice(prefix);
    c.extend_from_slice(db);
    c.extend_from_slice(b"__:");
    c.extend_from_slice(tail);
    c
}

/// Whether an event of `class` would be sent under `flags`: the class must
/// be enabled and at least one of K / E.
pub fn wanted(flags: u32, class: u32) -> bool {
    flags & class != 0 && flags & (NOTIFY_KEYSPACE | NOTIFY_KEYEVENT) != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::special::keyspace_events_from_str as parse;

    #[test]
    fn class_filtering() {
        let f = parse("KEA").unwrap();
        for c in [
            NOTIFY_GENERIC,
            NOTIFY_STRING,
            NOTIFY_LIST,
            NOTIFY_SET,
            NOTIFY_HASH,
            NOTIFY_ZSET,
            NOTIFY_EXPIRED,
            NOTIFY_EVICTED,
        ] {
            assert!(wanted(f, c));
        }
        // A excludes key-miss and new.
        assert!(!wanted(f, NOTIFY_KEY_MISS));
        assert!(!wanted(f, NOTIFY_NEW));
        let f = parse("El").unwrap();
        assert!(wanted(f, NOTIFY_LIST));
        assert!(!wanted(f, NOTIFY_STRING));
        assert!(!wanted(f, NOTIFY_GENERIC));
        // A class without K or E sends nothing.
        assert!(!wanted(parse("A").unwrap(), NOTIFY_STRING));
        assert!(wanted(parse("Kn").unwrap(), NOTIFY_NEW));
        assert!(wanted(parse("Em").unwrap(), NOTIFY_KEY_MISS));
        assert_eq!(parse("").unwrap(), 0);
    }

    #[test]
    fn channel_names() {
        assert_eq!(channel(b"__keyspace@", b"3", b"foo"), b"__keyspace@3__:foo");
        assert_eq!(channel(b"__keyevent@", b"0", b"set"), b"__keyevent@0__:set");
    }

    #[test]
    fn recording_only_when_enabled() {
        let ks = crate::keyspace::Keyspace::new(1);
        let db = ks.db(0);
        let len = || PENDING.with(|q| q.borrow().len());
        set_flags(0);
        record_expired(db, b"k");
        record_new(db, b"k");
        assert_eq!(len(), 0);
        assert_eq!(PENDING.with(|q| q.borrow().capacity()), 0);
        set_flags(NOTIFY_EXPIRED | NOTIFY_KEYEVENT);
        record_expired(db, b"k");
        record_new(db, b"k");
        assert_eq!(len(), 1);
        set_flags(0);
        PENDING.with(|q| q.borrow_mut().clear());
    }
}
