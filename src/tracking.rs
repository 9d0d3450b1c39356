//! CLIENT TRACKING: server-assisted client-side caching, as Redis 7.0's
//! tracking.c does it.
//!
//! Default mode: a read-only command run by a tracking client records its
//! keys in the tracking table (key → client ids); the next change to such a
//! key (a write, an expiry, an eviction, the table's own size limit) sends
//! each recorded client one invalidation and forgets the key. BCAST mode:
//! clients register prefixes instead, and every changed key matching a
//! prefix is announced to them once per command, batched per prefix.
//! FLUSHALL / FLUSHDB send every tracking client a null invalidation.
//!
//! A message goes to the tracking client itself as a RESP3 `invalidate`
//! push, or to its REDIRECT client: a push when that one speaks RESP3, a
//! Pub/Sub message on `__redis__:invalidate` when it is a subscribed RESP2
//! client. Messages for the connection whose command caused them are held
//! in a per-thread buffer and written right after that command's reply
//! (`exec::process`), as Redis defers them; other connections get them on
//! their push channel.
//!
//! Writes find the keys to invalidate where WATCH does (`exec::call`); keys
//! removed below the command layer (expired lazily or by the active cycle)
//! are queued per thread by the keyspace and handled by [`flush`].

use crate::client::{Client, ClientInfo};
use crate::server::Server;
use bytes::{BufMut, Bytes, BytesMut};
use parking_lot::Mutex;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// Tracking flags, kept in `ClientInfo::tracking`.
pub const ON: u8 = 1;
pub const BCAST: u8 = 2;
pub const OPTIN: u8 = 4;
pub const OPTOUT: u8 = 8;
pub const NOLOOP: u8 = 16;
pub const BROKEN_REDIR: u8 = 32;

const CHANNEL: &[u8] = b"__redis__:invalidate";

#[derive(Default)]
pub struct Tracking {
    state: Mutex<State>,
    /// Keys in the table or prefixes registered: writes must look.
    active: AtomicBool,
    /// Prefixes registered: changed keys are collected for broadcast.
    bcast: AtomicBool,
    /// Clients with tracking on (INFO's tracking_clients).
    clients: AtomicUsize,
    /// Consecutive limit runs that could not get under the limit.
    limit_runs: AtomicU64,
}

#[derive(Default)]
struct State {
    /// Key → the clients that may cache it.
    keys: HashMap<Bytes, Vec<u64>>,
    /// Sum of the ids over all keys.
    items: u64,
    /// BCAST prefix → its clients.
    prefixes: BTreeMap<Bytes, BTreeSet<u64>>,
}

impl State {
    fn refresh(&self, t: &Tracking) {
        t.active.store(
            !self.keys.is_empty() || !self.prefixes.is_empty(),
            Ordering::Relaxed,
        );
        t.bcast.store(!self.prefixes.is_empty(), Ordering::Relaxed);
    }
}

/// A client's own side of tracking (its thread only).
#[derive(Default)]
pub struct ClientTracking {
    /// CLIENT CACHING given for the next command.
    pub caching: bool,
    /// Its BCAST prefixes.
    pub prefixes: BTreeSet<Bytes>,
}

/// Whether the keyspace should queue removed keys for invalidation.
static QUEUE_REMOVED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// The client whose command runs on this thread (0: none).
    static CURRENT: Cell<u64> = const { Cell::new(0) };
    /// Messages for the current client, written after its reply.
    static OWN: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// Keys removed by the keyspace (expired), to invalidate.
    static REMOVED: RefCell<Vec<Bytes>> = const { RefCell::new(Vec::new()) };
    /// A tracking client's script running here: its id and the keys it
    /// declared, remembered once the script calls a read-only command.
    static SCRIPT: RefCell<Option<(u64, Vec<Bytes>)>> = const { RefCell::new(None) };
    /// Changed keys for BCAST clients, with who changed them (0: the server).
    static BCAST_KEYS: RefCell<Vec<(Bytes, u64)>> = const { RefCell::new(Vec::new()) };
}

/// Set the client whose command runs on this thread (0 when done).
pub fn set_current(id: u64) {
    CURRENT.with(|c| c.set(id));
}

/// Move the messages held for the current client into its output.
pub fn take_own(out: &mut BytesMut) {
    OWN.with(|o| {
        let mut o = o.borrow_mut();
        if !o.is_empty() {
            out.extend_from_slice(&o);
            o.clear();
        }
    });
}

/// The keyspace removed `key` (it expired).
#[inline]
pub fn record_removed(key: &[u8]) {
    if QUEUE_REMOVED.load(Ordering::Relaxed) {
        REMOVED.with(|r| r.borrow_mut().push(Bytes::copy_from_slice(key)));
    }
}

fn bulk(b: &mut BytesMut, data: &[u8]) {
    b.put_u8(b'$');
    b.extend_from_slice(itoa::Buffer::new().format(data.len()).as_bytes());
    b.extend_from_slice(b"\r\n");
    b.extend_from_slice(data);
    b.extend_from_slice(b"\r\n");
}

/// An array of keys as RESP.
fn key_array<'a>(keys: impl ExactSizeIterator<Item = &'a [u8]>) -> Bytes {
    let mut b = BytesMut::new();
    b.put_u8(b'*');
    b.extend_from_slice(itoa::Buffer::new().format(keys.len()).as_bytes());
    b.extend_from_slice(b"\r\n");
    for k in keys {
        bulk(&mut b, k);
    }
    b.freeze()
}

/// Queue `msg` on a connection: this thread's own buffer when it is the
/// current client, else its push channel.
fn deliver(dest: &ClientInfo, msg: &[u8]) {
    if CURRENT.with(|c| c.get()) == dest.id {
        OWN.with(|o| o.borrow_mut().extend_from_slice(msg));
        return;
    }
    if let Some(tx) = dest.push_tx.lock().as_ref() {
        dest.output_buf.fetch_add(msg.len(), Ordering::Relaxed);
        let _ = tx.send(Bytes::copy_from_slice(msg));
    }
}

/// Send an invalidation carrying `value` (an array of keys, or a null) for
/// the tracking client `target`, to it or to its redirection.
fn send(srv: &Server, target: &Arc<ClientInfo>, value: &[u8]) {
    let redir = target.redir.load(Ordering::Relaxed);
    let dest = if redir != 0 {
        match srv
            .clients
            .get(redir)
            .filter(|d| !d.closing.load(Ordering::Relaxed))
        {
            Some(d) => d,
            None => {
                target.tracking.fetch_or(BROKEN_REDIR, Ordering::Relaxed);
                if target.resp.load(Ordering::Relaxed) == 3 {
                    let mut b = BytesMut::new();
                    b.extend_from_slice(b">2\r\n");
                    bulk(&mut b, b"tracking-redir-broken");
                    b.extend_from_slice(format!(":{redir}\r\n").as_bytes());
                    deliver(target, &b);
                }
                return;
            }
        }
    } else {
        target.clone()
    };
    let mut b = BytesMut::new();
    if dest.resp.load(Ordering::Relaxed) == 3 {
        b.extend_from_slice(b">2\r\n");
        bulk(&mut b, b"invalidate");
    } else if redir != 0 && dest.subscribed.load(Ordering::Relaxed) {
        b.extend_from_slice(b"*3\r\n");
        bulk(&mut b, b"message");
        bulk(&mut b, CHANNEL);
    } else {
        // RESP2 without a subscribed redirection: nowhere to say it.
        return;
    }
    b.extend_from_slice(value);
    deliver(&dest, &b);
}

impl Tracking {
    #[inline]
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// Clients with tracking on.
    pub fn clients(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    /// (tracking_total_keys, tracking_total_items, tracking_total_prefixes).
    pub fn totals(&self) -> (usize, u64, usize) {
        let s = self.state.lock();
        (s.keys.len(), s.items, s.prefixes.len())
    }

    /// Turn tracking on for `client` (options already checked).
    pub fn enable(&self, client: &mut Client, redirect: u64, flags: u8, prefixes: &[Bytes]) {
        let info = client.info.clone();
        let old = info.tracking.load(Ordering::Relaxed);
        if old & ON == 0 {
            self.clients.fetch_add(1, Ordering::Relaxed);
        }
        // Pushes from other connections need this client's channel.
        let tx = client.push_sender();
        *info.push_tx.lock() = Some(tx);
        info.redir.store(redirect, Ordering::Relaxed);
        info.tracking.store(
            ON | (flags & (BCAST | OPTIN | OPTOUT | NOLOOP)),
            Ordering::Relaxed,
        );
        if flags & BCAST != 0 {
            let empty = [Bytes::new()];
            let list = if prefixes.is_empty() {
                &empty[..]
            } else {
                prefixes
            };
            let mut s = self.state.lock();
            for p in list {
                s.prefixes.entry(p.clone()).or_default().insert(info.id);
                client.tracking.prefixes.insert(p.clone());
            }
            s.refresh(self);
        }
        QUEUE_REMOVED.store(true, Ordering::Relaxed);
    }

    /// Turn tracking off for `client` (CLIENT TRACKING OFF, RESET, disconnect).
    pub fn disable(&self, client: &mut Client) {
        let info = &client.info;
        let flags = info.tracking.load(Ordering::Relaxed);
        if flags & BCAST != 0 {
            let mut s = self.state.lock();
            for p in std::mem::take(&mut client.tracking.prefixes) {
                if let Some(ids) = s.prefixes.get_mut(&p) {
                    ids.remove(&info.id);
                    if ids.is_empty() {
                        s.prefixes.remove(&p);
                    }
                }
            }
            s.refresh(self);
        }
        if flags & ON != 0 {
            self.clients.fetch_sub(1, Ordering::Relaxed);
            info.tracking.store(0, Ordering::Relaxed);
        }
        client.tracking.caching = false;
    }

    /// A read-only command of a tracking client read `keys`: remember them
    /// (unless OPTIN without CACHING yes, or OPTOUT with CACHING no).
    pub fn remember<'k>(&self, client: &Client, keys: impl Iterator<Item = &'k [u8]>) {
        let flags = client.info.tracking.load(Ordering::Relaxed);
        if flags & ON == 0 || flags & BCAST != 0 {
            return;
        }
        let caching = client.tracking.caching;
        if (flags & OPTIN != 0 && !caching) || (flags & OPTOUT != 0 && caching) {
            return;
        }
        let id = client.id;
        let mut s = self.state.lock();
        for k in keys {
            let ids = match s.keys.get_mut(k) {
                Some(ids) => ids,
                None => s.keys.entry(Bytes::copy_from_slice(k)).or_default(),
            };
            if !ids.contains(&id) {
                ids.push(id);
                s.items += 1;
            }
        }
        s.refresh(self);
    }

    /// A script (EVAL, FCALL…) of `client` starts with its declared `keys`.
    pub fn script_begin(&self, client: &Client, keys: Vec<Bytes>) {
        let flags = client.info.tracking.load(Ordering::Relaxed);
        let caching = client.tracking.caching;
        let wanted = flags & ON != 0
            && flags & BCAST == 0
            && !((flags & OPTIN != 0 && !caching) || (flags & OPTOUT != 0 && caching));
        SCRIPT.with(|s| *s.borrow_mut() = wanted.then_some((client.id, keys)));
    }

    pub fn script_end(&self) {
        SCRIPT.with(|s| *s.borrow_mut() = None);
    }

    /// The running script called a read-only command: its caller may now
    /// cache every key the script declared (as Redis does).
    pub fn script_read(&self) {
        let Some((id, keys)) = SCRIPT.with(|s| s.borrow_mut().take()) else {
            return;
        };
        let mut s = self.state.lock();
        for k in keys {
            let ids = s.keys.entry(k).or_default();
            if !ids.contains(&id) {
                ids.push(id);
                s.items += 1;
            }
        }
        s.refresh(self);
    }

    /// A command changed `key`: invalidate it for the clients that cache
    /// it and collect it for the BCAST clients.
    pub fn invalidate(&self, srv: &Server, key: &[u8]) {
        self.invalidate_by(srv, key, Some(CURRENT.with(|c| c.get())));
    }

    /// The server removed `key` (expired, evicted): as `invalidate`, with no
    /// client as its changer (NOLOOP BCAST clients hear of it too).
    pub fn removed(&self, srv: &Server, key: &[u8]) {
        self.invalidate_by(srv, key, Some(0));
    }

    /// Invalidate `key` for the clients that cache it; with `bcast_by`
    /// (who changed it, 0: the server), collect it for BCAST clients.
    fn invalidate_by(&self, srv: &Server, key: &[u8], bcast_by: Option<u64>) {
        if !self.active() {
            return;
        }
        if let Some(by) = bcast_by.filter(|_| self.bcast.load(Ordering::Relaxed)) {
            BCAST_KEYS.with(|k| k.borrow_mut().push((Bytes::copy_from_slice(key), by)));
        }
        let ids = {
            let mut s = self.state.lock();
            let Some(ids) = s.keys.remove(key) else {
                return;
            };
            s.items -= ids.len() as u64;
            s.refresh(self);
            ids
        };
        let current = CURRENT.with(|c| c.get());
        let mut value = None;
        for id in ids {
            let Some(target) = srv.clients.get(id) else {
                continue;
            };
            let flags = target.tracking.load(Ordering::Relaxed);
            if flags & ON == 0 || flags & BCAST != 0 {
                continue;
            }
            if flags & NOLOOP != 0 && id == current {
                continue;
            }
            let v = value.get_or_insert_with(|| key_array(std::iter::once(key)));
            send(srv, &target, v);
        }
    }

    /// Invalidate the keys the keyspace removed (expired) on this thread.
    pub fn invalidate_removed(&self, srv: &Server) {
        let removed = REMOVED.with(|r| std::mem::take(&mut *r.borrow_mut()));
        for k in &removed {
            self.removed(srv, k);
        }
    }

    /// Both steps for code outside commands (the active expire cycle).
    pub fn flush(&self, srv: &Server) {
        if self.active() {
            self.invalidate_removed(srv);
            self.broadcast(srv);
        }
    }

    /// Send the BCAST clients the keys collected on this thread since the
    /// last broadcast, one message per prefix.
    pub fn broadcast(&self, srv: &Server) {
        let changed = BCAST_KEYS.with(|k| std::mem::take(&mut *k.borrow_mut()));
        if changed.is_empty() {
            return;
        }
        let prefixes: Vec<(Bytes, Vec<u64>)> = self
            .state
            .lock()
            .prefixes
            .iter()
            .map(|(p, ids)| (p.clone(), ids.iter().copied().collect()))
            .collect();
        for (prefix, ids) in prefixes {
            // Each key once, with who changed it last, in key order.
            let mut keys: BTreeMap<&[u8], u64> = BTreeMap::new();
            for (k, by) in &changed {
                if k.starts_with(&prefix) {
                    keys.insert(k, *by);
                }
            }
            if keys.is_empty() {
                continue;
            }
            let all = key_array(keys.keys().copied());
            for id in ids {
                let Some(target) = srv.clients.get(id) else {
                    continue;
                };
                if target.tracking.load(Ordering::Relaxed) & NOLOOP != 0 {
                    let mine: Vec<&[u8]> = keys
                        .iter()
                        .filter(|(_, by)| **by != id)
                        .map(|(k, _)| *k)
                        .collect();
                    if !mine.is_empty() {
                        send(srv, &target, &key_array(mine.into_iter()));
                    }
                } else {
                    send(srv, &target, &all);
                }
            }
        }
    }

    /// FLUSHALL / FLUSHDB: a null invalidation to every tracking client, and
    /// the table emptied.
    pub fn flushed(&self, srv: &Server) {
        if self.clients() > 0 {
            for c in srv.clients.snapshot() {
                if c.tracking.load(Ordering::Relaxed) & ON != 0 {
                    let null: &[u8] = if c.resp.load(Ordering::Relaxed) == 3 {
                        b"_\r\n"
                    } else {
                        b"$-1\r\n"
                    };
                    send(srv, &c, null);
                }
            }
        }
        let mut s = self.state.lock();
        s.keys.clear();
        s.items = 0;
        s.refresh(self);
    }

    /// Keep the table within `tracking-table-max-keys`, invalidating keys
    /// (as if changed) with an effort that grows while it stays above.
    pub fn limit(&self, srv: &Server, max_keys: usize) {
        if max_keys == 0 || !self.active() {
            return;
        }
        let runs = self.limit_runs.load(Ordering::Relaxed);
        let mut effort = 100 * (runs + 1);
        while effort > 0 {
            effort -= 1;
            let key = {
                let s = self.state.lock();
                if s.keys.len() <= max_keys {
                    self.limit_runs.store(0, Ordering::Relaxed);
                    return;
                }
                s.keys.keys().next().cloned()
            };
            let Some(key) = key else { break };
            self.invalidate_by(srv, &key, None);
        }
        if self.state.lock().keys.len() <= max_keys {
            self.limit_runs.store(0, Ordering::Relaxed);
        } else {
            self.limit_runs.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Whether two prefixes overlap (one starts the other).
pub fn overlaps(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_arrays_are_resp() {
        assert_eq!(
            &key_array([&b"a"[..], b"bc"].into_iter())[..],
            b"*2\r\n$1\r\na\r\n$2\r\nbc\r\n"
        );
        assert!(overlaps(b"a:", b"a:b"));
        assert!(overlaps(b"", b"x"));
        assert!(!overlaps(b"a:", b"b:"));
    }
}
