//! Replication: Redis's master/replica protocol (PSYNC2).
//!
//! This module owns the replication state (`Server::repl`): the backlog
//! (`backlog`), the master side — REPLCONF, PSYNC/SYNC, the per-replica
//! feeder, WAIT (`master`) — the replica side — the link to a master,
//! receiving the RDB, applying the stream (`replica`) — and the commands
//! and INFO fields on top (`commands`).
//!
//! Offsets: one stream offset numbers everything (`srv.prop.offset()`, Redis's
//! master_repl_offset). On a replica it is the master's offset of the bytes
//! applied, because the replica appends the master's bytes verbatim (the
//! propagation point's proxy mode, see `crate::propagate`).
//!
//! For the cluster glue: [`become_replica_of`], [`become_master`],
//! [`repl_offset`] and [`master_link`] (the inputs of the cluster core's
//! `set_repl_offset` / `set_master_link`).

pub mod backlog;
pub mod commands;
pub mod master;
pub mod replica;

use crate::client::ClientInfo;
use crate::log::Level;
use crate::server::Server;
use backlog::{Backlog, BacklogSink, OutputLimit, Reader};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::sync::Notify;

/// The propagation sink name of the backlog.
const SINK: &str = "replication";
pub const NULL_REPLID: &str = "0000000000000000000000000000000000000000";

/// A replica connection's state, as INFO prints it.
pub const WAIT_BGSAVE: u8 = 0;
pub const SEND_BULK: u8 = 1;
pub const ONLINE: u8 = 2;

/// The replica side's link state (Redis's repl_state).
pub const LINK_NONE: u8 = 0;
pub const LINK_CONNECT: u8 = 1;
pub const LINK_CONNECTING: u8 = 2;
pub const LINK_HANDSHAKE: u8 = 3;
pub const LINK_TRANSFER: u8 = 4;
pub const LINK_CONNECTED: u8 = 5;

/// One replica attached to this server.
pub struct ReplicaEntry {
    pub client: Arc<ClientInfo>,
    pub ip: String,
    pub port: u16,
    pub state: AtomicU8,
    pub ack_offset: AtomicU64,
    pub ack_time_ms: AtomicU64,
    /// Old SYNC: no ACKs are expected.
    pub pre_psync: bool,
    pub reader: Mutex<Option<Arc<Reader>>>,
}

impl ReplicaEntry {
    pub fn name(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }
}

/// The master this server replicates, when it is a replica.
pub struct MasterConf {
    pub host: String,
    pub port: u16,
    /// Bumped on every change; a link task whose generation is stale stops.
    pub generation: u64,
    pub task: Option<tokio::task::AbortHandle>,
}

/// Replication state shared by commands, feeders, the link task and cron.
pub struct Replication {
    pub backlog: Mutex<Option<Arc<Backlog>>>,
    pub replid2: Mutex<String>,
    /// second_repl_offset (-1: none).
    pub second_offset: AtomicI64,
    pub replicas: Mutex<Vec<Arc<ReplicaEntry>>>,
    /// Woken on every REPLCONF ACK (WAIT).
    pub acks: Notify,
    pub no_replicas_since_ms: AtomicU64,
    pub master: Mutex<Option<MasterConf>>,
    generation: AtomicU64,
    pub link_state: AtomicU8,
    /// The database the master's stream last SELECTed (kept across a
    /// partial resync, as Redis keeps its cached master client).
    pub master_db: std::sync::atomic::AtomicUsize,
    pub link_last_io_ms: AtomicU64,
    pub link_down_since_ms: AtomicU64,
    /// Bytes read from the master (slave_read_repl_offset).
    pub read_offset: AtomicU64,
    pub transfer_size: AtomicI64,
    pub transfer_read: AtomicU64,
    pub transfer_last_io_ms: AtomicU64,
    /// The replid/offset we hold are a history a master may continue
    /// (Redis's cached master): PSYNC with them, else `PSYNC ? -1`.
    pub have_cached: AtomicBool,
    /// The link to the master, as a client (CLIENT LIST/KILL TYPE master).
    pub link_client: Mutex<Option<Arc<ClientInfo>>>,
    pub sync_full: AtomicU64,
    pub sync_partial_ok: AtomicU64,
    pub sync_partial_err: AtomicU64,
    pub runtime: OnceLock<tokio::runtime::Handle>,
    cron_loops: AtomicU64,
}

impl Default for Replication {
    fn default() -> Self {
        Replication {
            backlog: Mutex::new(None),
            replid2: Mutex::new(NULL_REPLID.to_string()),
            second_offset: AtomicI64::new(-1),
            replicas: Mutex::new(Vec::new()),
            acks: Notify::new(),
            no_replicas_since_ms: AtomicU64::new(crate::util::now_ms()),
            master: Mutex::new(None),
            generation: AtomicU64::new(0),
            link_state: AtomicU8::new(LINK_NONE),
            master_db: std::sync::atomic::AtomicUsize::new(0),
            link_last_io_ms: AtomicU64::new(0),
            link_down_since_ms: AtomicU64::new(0),
            read_offset: AtomicU64::new(0),
            transfer_size: AtomicI64::new(-1),
            transfer_read: AtomicU64::new(0),
            transfer_last_io_ms: AtomicU64::new(0),
            have_cached: AtomicBool::new(false),
            link_client: Mutex::new(None),
            sync_full: AtomicU64::new(0),
            sync_partial_ok: AtomicU64::new(0),
            sync_partial_err: AtomicU64::new(0),
            runtime: OnceLock::new(),
            cron_loops: AtomicU64::new(0),
        }
    }
}

/// Per-client replication state: what REPLCONF said, and work the
/// connection task takes over after the command (feeding a replica, WAIT).
#[derive(Default)]
pub struct ClientRepl {
    pub listening_port: u16,
    pub ip_address: Option<String>,
    pub capa_eof: bool,
    pub capa_psync2: bool,
    pub handoff: Option<Handoff>,
}

pub enum Handoff {
    /// Full resynchronization (PSYNC that could not continue, or SYNC).
    FullSync { psync: bool },
    /// +CONTINUE was written: stream from the reader's position.
    Continue { entry: Arc<ReplicaEntry> },
    /// WAIT: reply once `numreplicas` acked `offset`, or at the deadline.
    Wait {
        offset: u64,
        numreplicas: u64,
        deadline: Option<std::time::Instant>,
    },
}

/// Whether this server is a replica.
pub fn is_replica(srv: &Server) -> bool {
    srv.repl.master.lock().is_some()
}

/// The replication offset (master_repl_offset as master, the processed
/// offset as replica): the cluster core's `set_repl_offset` input.
pub fn repl_offset(srv: &Server) -> u64 {
    srv.prop.offset()
}

/// The link to the master: (up, since_ms) — the last interaction when up,
/// when it went down otherwise; the cluster core's `set_master_link` input.
/// A master reports (false, 0).
pub fn master_link(srv: &Server) -> (bool, u64) {
    let r = &srv.repl;
    if r.master.lock().is_none() {
        return (false, 0);
    }
    if r.link_state.load(Ordering::Acquire) == LINK_CONNECTED {
        (true, r.link_last_io_ms.load(Ordering::Relaxed))
    } else {
        (false, r.link_down_since_ms.load(Ordering::Relaxed))
    }
}

/// The replica class of client-output-buffer-limit.
pub fn output_limit(srv: &Server) -> OutputLimit {
    OutputLimit::of_class(srv.config.read().get("client-output-buffer-limit"), "slave")
}

fn backlog_size(srv: &Server) -> u64 {
    srv.config.read().get_i64("repl-backlog-size").max(1) as u64
}

/// The backlog, created (at the current offset) and attached to the
/// propagation point if there is none. The caller holds the keyspace gate
/// exclusively.
pub fn ensure_backlog(srv: &Server) -> Arc<Backlog> {
    let mut b = srv.repl.backlog.lock();
    if let Some(b) = b.as_ref() {
        return b.clone();
    }
    let backlog = Backlog::new(srv.prop.offset(), backlog_size(srv), output_limit(srv));
    srv.prop
        .add_sink(SINK, Box::new(BacklogSink(backlog.clone())));
    *b = Some(backlog.clone());
    backlog
}

/// Detach and drop the backlog. The caller holds the gate exclusively.
fn free_backlog(srv: &Server) {
    srv.prop.remove_sink(SINK);
    *srv.repl.backlog.lock() = None;
}

/// Redis's changeReplicationId + clearReplicationId2.
fn new_history(srv: &Server) {
    *srv.replid.lock() = crate::server::random_hex_id();
    *srv.repl.replid2.lock() = NULL_REPLID.to_string();
    srv.repl.second_offset.store(-1, Ordering::Release);
}

/// Redis's shiftReplicationId: the current history becomes ID2, valid up
/// to offset + 1, under a new ID.
fn shift_replid(srv: &Server) {
    let offset = srv.prop.offset();
    let old = std::mem::replace(&mut *srv.replid.lock(), crate::server::random_hex_id());
    *srv.repl.replid2.lock() = old.clone();
    srv.repl
        .second_offset
        .store(offset as i64 + 1, Ordering::Release);
    crate::log::log(
        Level::Warning,
        &format!(
            "Setting secondary replication ID to {old}, valid up to offset: {}. New replication ID is {}",
            offset + 1,
            srv.replid.lock()
        ),
    );
}

/// Close every replica's connection (they reconnect and PSYNC).
fn disconnect_replicas(srv: &Server) {
    for r in srv.repl.replicas.lock().iter() {
        r.client.kill();
    }
}

/// Start replicating `host:port` (REPLICAOF, the cluster glue). Takes the
/// keyspace gate exclusively: call it without holding the gate.
pub fn become_replica_of(srv: &Server, host: &str, port: u16) {
    let _gate = srv.keyspace.gate.write();
    set_master(srv, host, port);
}

/// Stop replicating and serve as a master (REPLICAOF NO ONE, a failover).
/// Takes the keyspace gate exclusively: call it without holding the gate.
pub fn become_master(srv: &Server) {
    let _gate = srv.keyspace.gate.write();
    unset_master(srv);
}

/// Redis's replicationSetMaster. The caller holds the gate exclusively.
pub fn set_master(srv: &Server, host: &str, port: u16) {
    let r = &srv.repl;
    let mut m = r.master.lock();
    let was_master = m.is_none();
    if let Some(old) = m.take() {
        if let Some(t) = old.task {
            t.abort();
        }
    }
    if let Some(c) = r.link_client.lock().take() {
        c.kill();
    }
    if was_master {
        // Cache myself: PSYNC the new master with my own history (it may
        // have been my replica).
        r.have_cached.store(true, Ordering::Release);
    }
    crate::propagate::set_replica(true);
    r.link_state.store(LINK_CONNECT, Ordering::Release);
    r.link_down_since_ms.store(0, Ordering::Relaxed);
    let generation = r.generation.fetch_add(1, Ordering::AcqRel) + 1;
    let task = srv.arc().and_then(|me| {
        let handle = r
            .runtime
            .get()
            .cloned()
            .or_else(|| tokio::runtime::Handle::try_current().ok())?;
        let h = handle.spawn(replica::run_link(me, host.to_string(), port, generation));
        Some(h.abort_handle())
    });
    *m = Some(MasterConf {
        host: host.to_string(),
        port,
        generation,
        task,
    });
    crate::log::log(
        Level::Notice,
        &format!("Connecting to MASTER {host}:{port}"),
    );
}

/// Redis's replicationUnsetMaster. The caller holds the gate exclusively.
pub fn unset_master(srv: &Server) {
    let r = &srv.repl;
    let Some(old) = r.master.lock().take() else {
        return;
    };
    r.generation.fetch_add(1, Ordering::AcqRel);
    if let Some(t) = old.task {
        t.abort();
    }
    if let Some(c) = r.link_client.lock().take() {
        c.kill();
    }
    srv.persist.loading.store(false, Ordering::Release);
    shift_replid(srv);
    disconnect_replicas(srv);
    crate::propagate::set_replica(false);
    srv.prop.reset_selected();
    r.link_state.store(LINK_NONE, Ordering::Release);
    r.link_down_since_ms.store(0, Ordering::Relaxed);
    r.no_replicas_since_ms
        .store(crate::util::now_ms(), Ordering::Relaxed);
    r.have_cached.store(false, Ordering::Release);
}

/// At start: remember the runtime for link tasks, and follow a
/// `replicaof` directive.
pub fn init(srv: &Arc<Server>) {
    let _ = srv.repl.runtime.set(tokio::runtime::Handle::current());
    let directive = srv.config.read().get("replicaof").to_string();
    let mut parts = directive.split_whitespace();
    if let (Some(host), Some(port)) = (parts.next(), parts.next()) {
        if let Ok(port) = port.parse::<u16>() {
            let _gate = srv.keyspace.gate.write();
            set_master(srv, host, port);
            // A fresh start has no history a master could continue.
            srv.repl.have_cached.store(false, Ordering::Release);
        }
    }
}

/// Once a second from the cron: PING replicas every repl-ping-replica-period,
/// the soft output limit, free an unused backlog after repl-backlog-ttl.
pub fn cron(srv: &Server) {
    let r = &srv.repl;
    let loops = r.cron_loops.fetch_add(1, Ordering::Relaxed);
    let (period, ttl_s) = {
        let cfg = srv.config.read();
        (
            cfg.get_i64("repl-ping-replica-period").max(1) as u64,
            cfg.get_i64("repl-backlog-ttl").max(0) as u64,
        )
    };
    let have_replicas = !r.replicas.lock().is_empty();
    let backlog = r.backlog.lock().clone();
    let now = crate::util::now_ms();
    if let Some(b) = &backlog {
        b.configure(backlog_size(srv), output_limit(srv));
        b.enforce_soft_limit(now);
    }
    if have_replicas && loops % period == 0 && !srv.pause.holds(true) {
        srv.prop.append_replication_only(&[b"PING"]);
    }
    if !have_replicas && backlog.is_some() && ttl_s > 0 && !is_replica(srv) {
        let idle_s = now.saturating_sub(r.no_replicas_since_ms.load(Ordering::Relaxed)) / 1000;
        if idle_s > ttl_s {
            let _gate = srv.keyspace.gate.write();
            if r.replicas.lock().is_empty() && !is_replica(srv) {
                new_history(srv);
                free_backlog(srv);
                crate::log::log(
                    Level::Notice,
                    &format!(
                        "Replication backlog freed after {ttl_s} seconds without connected replicas."
                    ),
                );
            }
        }
    }
}
