//! The propagation point: every change to the keyspace, in execution order,
//! as one stream of RESP commands for the AOF and (later) the replication
//! backlog. Redis's `propagate()` / `alsoPropagate()`.
//!
//! Commands run in parallel on several threads, so order needs a lock: while
//! any consumer exists (`ACTIVE`), a command that may write holds the
//! propagation lock for its whole execution ([`hold`]); reads never take it.
//! What a command propagates is collected in a per-thread queue while it
//! runs — keys it found expired (as DEL, before the command), then the
//! command itself, made deterministic where needed (relative expiries become
//! absolute, SPOP becomes SREM, blocked pops their non-blocking form) — and
//! appended to the stream when the hold ends, still under the lock. Nested
//! executions (EXEC's queued commands, clients served after a push) add to
//! the same queue.
//!
//! Reads that meet an expired key while propagation is active leave it in
//! place (it reads as missing): deleting it without the lock could order its
//! DEL after a newer write of the same key. Writes and the expire cycle,
//! which hold the lock, delete and propagate.
//!
//! Replication adds two things. Sinks that say `replication()` (the
//! backlog) also get bytes only replicas see (PING, REPLCONF GETACK:
//! [`Propagator::append_replication_only`]); the others get an empty append
//! that only moves the offset, so one offset numbers both. And on a replica
//! ("proxy" mode, [`from_master`]) the master's commands run under the lock
//! as usual, but the replication sinks get the master's bytes verbatim and
//! the offset moves by exactly their length, so this server's backlog is
//! byte-for-byte the master's and its own replicas can continue from it
//! after a promotion (PSYNC2); the AOF gets the records re-encoded as usual.
//! A replica never feeds its own commands to replicas (Redis's
//! `replicationFeedSlaves` returns early on a replica) and never deletes
//! expired keys itself: they read as missing until the master's DEL.

use crate::keyspace::Db;
use crate::server::Server;
use bytes::Bytes;
use parking_lot::{Mutex, MutexGuard};
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Whether any consumer of the stream exists.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// This server is a replica: its stream is its master's (see the module doc).
static REPLICA: AtomicBool = AtomicBool::new(false);

/// Where the stream goes: the AOF writer, the replication backlog.
pub trait Sink: Send {
    /// `bytes` were propagated; `end_offset` is the stream offset after them.
    fn append(&mut self, bytes: &[u8], end_offset: u64);
    /// A replication consumer (the backlog) also gets the bytes only
    /// replicas see and, on a replica, the master's bytes verbatim; other
    /// sinks see those as an empty append that moves the offset.
    fn replication(&self) -> bool {
        false
    }
}

/// The shared end of the stream.
pub struct Propagator {
    state: Mutex<State>,
    /// The stream offset (Redis's master_repl_offset), readable without the lock.
    offset: AtomicU64,
}

struct State {
    offset: u64,
    /// The database the stream last SELECTed; None forces a SELECT.
    selected: Option<usize>,
    sinks: Vec<(&'static str, Box<dyn Sink>)>,
    scratch: Vec<u8>,
}

impl Default for Propagator {
    fn default() -> Self {
        Propagator {
            state: Mutex::new(State {
                offset: 0,
                selected: None,
                sinks: Vec::new(),
                scratch: Vec::new(),
            }),
            offset: AtomicU64::new(0),
        }
    }
}

impl Propagator {
    /// Add a consumer under `name` (replacing one of that name). The caller
    /// holds the keyspace gate exclusively, so no command is half-run.
    pub fn add_sink(&self, name: &'static str, sink: Box<dyn Sink>) {
        let mut st = self.state.lock();
        st.sinks.retain(|(n, _)| *n != name);
        st.sinks.push((name, sink));
        // A new consumer starts from a state that has no SELECT yet.
        st.selected = None;
        ACTIVE.store(true, Ordering::SeqCst);
    }

    pub fn remove_sink(&self, name: &str) {
        let mut st = self.state.lock();
        st.sinks.retain(|(n, _)| *n != name);
        if st.sinks.is_empty() {
            ACTIVE.store(false, Ordering::SeqCst);
        }
    }

    pub fn offset(&self) -> u64 {
        self.offset.load(Ordering::Acquire)
    }

    /// The offset once the writes now running have appended: a write runs
    /// holding the propagation lock, so taking it waits them out (for up to
    /// `wait`; the published offset if they take longer). What a paused
    /// master announces to the replica taking over (see `exec::call`).
    pub fn offset_after_running_writes(&self, wait: std::time::Duration) -> u64 {
        match self.state.try_lock_for(wait) {
            Some(st) => st.offset,
            None => self.offset(),
        }
    }

    /// Set the offset (loading a replication offset from an RDB's aux
    /// fields, or a replica adopting its master's).
    pub fn set_offset(&self, offset: u64) {
        let mut st = self.state.lock();
        st.offset = offset;
        self.offset.store(offset, Ordering::Release);
    }

    /// Forget the SELECTed database so the next record SELECTs again (a
    /// new AOF file, a new replica).
    pub fn reset_selected(&self) {
        self.state.lock().selected = None;
    }

    /// Append a command only replicas see (PING every
    /// repl-ping-replica-period, REPLCONF GETACK), without a SELECT. Nothing
    /// happens on a replica (its stream is its master's) or without a
    /// replication sink.
    pub fn append_replication_only(&self, argv: &[&[u8]]) {
        if REPLICA.load(Ordering::Acquire) {
            return;
        }
        let mut st = self.state.lock();
        if !st.sinks.iter().any(|(_, s)| s.replication()) {
            return;
        }
        let mut buf = std::mem::take(&mut st.scratch);
        buf.clear();
        encode(&mut buf, argv);
        st.offset += buf.len() as u64;
        let end = st.offset;
        for (_, sink) in st.sinks.iter_mut() {
            if sink.replication() {
                sink.append(&buf, end);
            } else {
                sink.append(&[], end);
            }
        }
        self.offset.store(end, Ordering::Release);
        st.scratch = buf;
    }
}

/// Switch replica mode (see the module doc). Called with the keyspace gate
/// held exclusively.
pub fn set_replica(on: bool) {
    REPLICA.store(on, Ordering::Release);
}

#[inline]
pub fn is_replica() -> bool {
    REPLICA.load(Ordering::Relaxed)
}

/// True while any consumer of the stream exists.
#[inline]
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// A command's database, by number or (from the keyspace layer) by address.
#[derive(Clone, Copy)]
enum DbRef {
    None,
    Index(usize),
    Addr(usize),
}

struct Record {
    db: DbRef,
    argv: Vec<Bytes>,
}

thread_local! {
    static HELD: Cell<bool> = const { Cell::new(false) };
    /// Running the master's commands on a replica: keys do not expire for
    /// them (the master sends DEL), as for Redis's master client.
    static FROM_MASTER: Cell<bool> = const { Cell::new(false) };
    static PENDING: RefCell<Vec<Record>> = const { RefCell::new(Vec::new()) };
    /// The stream offset after this thread's last propagated bytes
    /// (what an `appendfsync always` reply waits for).
    static LAST_OFFSET: Cell<u64> = const { Cell::new(0) };
}

/// Holding the propagation lock; appends the queued records on drop.
pub struct Hold<'a> {
    srv: &'a Server,
    guard: Option<MutexGuard<'a, State>>,
}

/// Take the propagation lock for a command that may write, unless
/// propagation is off or this thread already holds it (nested execution).
#[inline]
pub fn hold(srv: &Server) -> Option<Hold<'_>> {
    if !active() || HELD.with(|h| h.get()) {
        return None;
    }
    let guard = srv.prop.state.lock();
    HELD.with(|h| h.set(true));
    Some(Hold {
        srv,
        guard: Some(guard),
    })
}

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        let Some(mut st) = self.guard.take() else {
            return;
        };
        let records = PENDING.with(|q| std::mem::take(&mut *q.borrow_mut()));
        if !records.is_empty() {
            append_records(self.srv, &mut st, &records);
            LAST_OFFSET.with(|o| o.set(st.offset));
        }
        // Keep the queue's allocation.
        PENDING.with(|q| {
            let mut q = q.borrow_mut();
            if q.is_empty() {
                let mut v = records;
                v.clear();
                *q = v;
            }
        });
        HELD.with(|h| h.set(false));
    }
}

/// Run `f` (replaying the AOF into the keyspace) without propagating what
/// it does: its writes are already in the stream's past.
pub fn without_propagation<R>(f: impl FnOnce() -> R) -> R {
    let was = HELD.with(|h| h.replace(true));
    let r = f();
    PENDING.with(|q| q.borrow_mut().clear());
    HELD.with(|h| h.set(was));
    r
}

/// Whether this thread holds the lock (records are being collected).
#[inline]
pub fn held() -> bool {
    HELD.with(|h| h.get())
}

/// May the keyspace delete an expired key now? Only where the deletion
/// can be propagated in order (or nobody listens), and not while a
/// snapshot is being taken (the key then reads as missing and is
/// overwritten or reclaimed later).
#[inline]
pub fn may_delete_expired() -> bool {
    (!active() || held()) && !crate::snapshot::active() && !is_replica()
}

thread_local! {
    /// Expired keys a read met while it could not delete them.
    static EXPIRE_LATER: RefCell<Vec<(usize, crate::keyspace::Key)>> = const { RefCell::new(Vec::new()) };
}

/// Remember an expired key a read could not delete (only when someone
/// listens to the stream and nothing else forbids deleting it).
pub fn expire_later(db: &Db, key: &[u8]) {
    if active() && !held() && !crate::snapshot::active() && !is_replica() {
        EXPIRE_LATER.with(|q| q.borrow_mut().push((db.addr(), key.into())));
    }
}

/// After a read: delete the expired keys it met, under the propagation
/// lock, so their DEL is ordered before any later write. A key written
/// meanwhile is no longer expired and stays.
pub fn expire_pending(srv: &Server) {
    let pending = EXPIRE_LATER.with(|q| {
        let mut q = q.borrow_mut();
        if q.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut *q))
        }
    });
    let Some(pending) = pending else { return };
    let hold = hold(srv);
    let now = crate::util::now_ms();
    for (addr, key) in pending {
        let Some((_, db)) = srv.keyspace.db_by_addr(addr) else {
            continue;
        };
        // With the lock held, the lookup deletes and queues the DEL.
        let _ = db.lock_key(&key).get_mut(&key, now);
    }
    drop(hold);
}

/// Whether expired keys count as live for the running command (the
/// master's commands on a replica).
#[inline]
pub fn expiry_suspended() -> bool {
    FROM_MASTER.with(|f| f.get())
}

/// Running the master's stream on a replica; see [`from_master`].
pub struct MasterApply<'a> {
    srv: &'a Server,
    guard: Option<MutexGuard<'a, State>>,
}

/// Hold the propagation lock to run a batch of the master's commands
/// (the caller holds the keyspace gate, exclusively if a command needs
/// it). [`MasterApply::finish`] then appends: the master's `raw` bytes to
/// the replication sinks, what the commands queued (re-encoded) to the
/// others, the offset moving by `raw.len()`.
pub fn from_master(srv: &Server) -> MasterApply<'_> {
    let guard = srv.prop.state.lock();
    HELD.with(|h| h.set(true));
    FROM_MASTER.with(|f| f.set(true));
    MasterApply {
        srv,
        guard: Some(guard),
    }
}

impl MasterApply<'_> {
    pub fn finish(mut self, raw: &[u8]) {
        let Some(mut st) = self.guard.take() else {
            return;
        };
        let records = PENDING.with(|q| std::mem::take(&mut *q.borrow_mut()));
        let mut buf = std::mem::take(&mut st.scratch);
        buf.clear();
        if st.sinks.iter().any(|(_, s)| !s.replication()) {
            encode_records(self.srv, &mut st, &records, &mut buf);
        }
        st.offset += raw.len() as u64;
        let end = st.offset;
        for (_, sink) in st.sinks.iter_mut() {
            if sink.replication() {
                if !raw.is_empty() {
                    sink.append(raw, end);
                }
            } else if !buf.is_empty() || !raw.is_empty() {
                sink.append(&buf, end);
            }
        }
        self.srv.prop.offset.store(end, Ordering::Release);
        LAST_OFFSET.with(|o| o.set(end));
        st.scratch = buf;
        drop(st);
        self.release();
    }

    fn release(&mut self) {
        PENDING.with(|q| q.borrow_mut().clear());
        HELD.with(|h| h.set(false));
        FROM_MASTER.with(|f| f.set(false));
    }
}

impl Drop for MasterApply<'_> {
    fn drop(&mut self) {
        if self.guard.take().is_some() {
            self.release();
        }
    }
}

/// Queue `argv` as run in database `db`.
pub fn command(db: usize, argv: Vec<Bytes>) {
    // An empty argv: the command propagated itself in other forms.
    if held() && !argv.is_empty() {
        PENDING.with(|q| {
            q.borrow_mut().push(Record {
                db: DbRef::Index(db),
                argv,
            })
        });
    }
}

/// Queue a deletion the keyspace made on its own (an expired or evicted key).
pub fn deleted_key(db: &Db, key: &[u8]) {
    if held() {
        PENDING.with(|q| {
            q.borrow_mut().push(Record {
                db: DbRef::Addr(db.addr()),
                argv: vec![Bytes::from_static(b"DEL"), Bytes::copy_from_slice(key)],
            })
        });
    }
}

/// The number of queued records (to wrap a transaction's later).
pub fn mark() -> usize {
    PENDING.with(|q| q.borrow().len())
}

/// Drop the records queued since `mark` (a script's redis.set_repl(REPL_NONE)).
pub fn truncate(mark: usize) {
    PENDING.with(|q| q.borrow_mut().truncate(mark));
}

/// Wrap the records queued since `mark` in MULTI/EXEC when there are
/// several, as Redis propagates a transaction.
pub fn wrap_transaction(mark: usize) {
    PENDING.with(|q| {
        let mut q = q.borrow_mut();
        if q.len() > mark + 1 {
            // MULTI carries the first command's database, so the stream
            // SELECTs before the transaction (as Redis does).
            let db = q[mark].db;
            q.insert(
                mark,
                Record {
                    db,
                    argv: vec![Bytes::from_static(b"MULTI")],
                },
            );
            q.push(Record {
                db: DbRef::None,
                argv: vec![Bytes::from_static(b"EXEC")],
            });
        }
    });
}

/// The stream offset after this thread's last propagated command.
pub fn last_offset() -> u64 {
    LAST_OFFSET.with(|o| o.get())
}

fn append_records(srv: &Server, st: &mut State, records: &[Record]) {
    let mut buf = std::mem::take(&mut st.scratch);
    buf.clear();
    encode_records(srv, st, records, &mut buf);
    if is_replica() {
        // A replica's own writes reach its AOF but never its replicas, and
        // leave the offset (its master's) where it is.
        let end = st.offset;
        for (_, sink) in st.sinks.iter_mut() {
            if !sink.replication() {
                sink.append(&buf, end);
            }
        }
        st.scratch = buf;
        return;
    }
    st.offset += buf.len() as u64;
    let end = st.offset;
    for (_, sink) in st.sinks.iter_mut() {
        sink.append(&buf, end);
    }
    srv.prop.offset.store(end, Ordering::Release);
    st.scratch = buf;
}

/// RESP-encode `records`, with a SELECT where the database changes.
fn encode_records(srv: &Server, st: &mut State, records: &[Record], buf: &mut Vec<u8>) {
    for r in records {
        let db = match r.db {
            DbRef::None => None,
            DbRef::Index(i) => Some(i),
            DbRef::Addr(a) => srv.keyspace.db_by_addr(a).map(|(i, _)| i),
        };
        if let Some(d) = db {
            if st.selected != Some(d) {
                let mut n = itoa::Buffer::new();
                encode(buf, &[b"SELECT", n.format(d).as_bytes()]);
                st.selected = Some(d);
            }
        }
        encode(buf, &r.argv);
    }
}

/// One command as a RESP array of bulk strings.
pub fn encode<A: AsRef<[u8]>>(buf: &mut Vec<u8>, argv: &[A]) {
    let mut n = itoa::Buffer::new();
    buf.push(b'*');
    buf.extend_from_slice(n.format(argv.len()).as_bytes());
    buf.extend_from_slice(b"\r\n");
    for a in argv {
        let a = a.as_ref();
        buf.push(b'$');
        buf.extend_from_slice(n.format(a.len()).as_bytes());
        buf.extend_from_slice(b"\r\n");
        buf.extend_from_slice(a);
        buf.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_resp_arrays() {
        let mut b = Vec::new();
        encode(&mut b, &[&b"SET"[..], b"k", b""]);
        assert_eq!(b, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    }
}
