//! Cluster mode in the server: the glue between the connection tasks and
//! the pure cluster state machine (`shoal_cluster::core::ClusterCore`).
//!
//! This module owns startup (nodes.conf load/create and lock, the bus
//! listeners) and the `Cluster` handle every connection shares: the
//! routing snapshot commands are checked against, and the channel to the
//! driver thread that owns the core.
//!
//! - `driver`: the thread that owns the core, feeds it inputs, performs its
//!   outputs in order and publishes the routing snapshot;
//! - `bus_io`: link tasks that only frame bytes (read and write);
//! - `route`: Redis's `getNodeByQuery` / `clusterRedirectClient` over the
//!   snapshot, and the blocked-client redirect.

pub mod bus_io;
pub mod driver;
pub mod route;

use crate::log::{self, Level};
use crate::server::Server;
use parking_lot::RwLock;
use shoal_cluster::core::{ClusterCore, Config as CoreConfig, RoutingSnapshot};
use shoal_cluster::nodes_conf::{self, ConfigLock, NodesConf};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Per-connection cluster flags (Redis's CLIENT_ASKING / CLIENT_READONLY).
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientFlags {
    /// ASKING was sent: the next command may touch an importing slot.
    pub asking: bool,
    /// ASKING was the last command: keep `asking` for the next one.
    pub asking_keep: bool,
    /// READONLY: reads on a replica of the slot's master are served.
    pub readonly: bool,
}

/// The shared handle: routing snapshot plus the driver's input channel.
pub struct Cluster {
    routing: RwLock<Arc<RoutingSnapshot>>,
    /// The common case read without locks: the slots myself serves, valid
    /// only while `stable` (state ok, no slot importing or migrating).
    mine: Box<[AtomicU64]>,
    stable: AtomicBool,
    /// One lock per slot, taken while a slot migrates away from here: shared
    /// by a command from its routing decision (the key is here) until it has
    /// run, exclusively by MIGRATE from its routing until it deleted what it
    /// moved. See `route::check`.
    migration: Box<[parking_lot::RwLock<()>]>,
    tx: tokio::sync::mpsc::UnboundedSender<driver::Input>,
    /// Where nodes.conf lives (absolute, or relative to `dir`).
    pub config_path: PathBuf,
    /// The client and bus ports this node listens on.
    port: u16,
    bus_port: u16,
    /// Held for the life of the process: no other node may use the file.
    _lock: ConfigLock,
}

impl Cluster {
    /// The current routing snapshot (cheap: an `Arc` clone).
    pub fn routing(&self) -> Arc<RoutingSnapshot> {
        self.routing.read().clone()
    }

    pub(crate) fn set_routing(&self, snap: Arc<RoutingSnapshot>) {
        self.stable.store(false, Ordering::Release);
        let me = snap.myself as u32;
        for (i, word) in self.mine.iter().enumerate() {
            let mut bits = 0u64;
            for b in 0..64 {
                if snap.slots[i * 64 + b] == me {
                    bits |= 1 << b;
                }
            }
            word.store(bits, Ordering::Relaxed);
        }
        let stable = snap.ok && snap.importing.is_empty() && snap.migrating.is_empty();
        *self.routing.write() = snap;
        self.stable.store(stable, Ordering::Release);
    }

    /// The migration lock of `slot` (see the field).
    pub(crate) fn migration_lock(&self, slot: u16) -> &parking_lot::RwLock<()> {
        &self.migration[slot as usize]
    }

    /// Whether the routing may depend on keys (a slot is open) or on the
    /// state: commands routed before a wait must then be routed again.
    pub fn is_stable(&self) -> bool {
        self.stable.load(Ordering::Acquire)
    }

    /// Whether `slot` is served here and nothing can make a command on it
    /// redirect (the lock-free fast path of routing).
    #[inline]
    pub fn serves_stable(&self, slot: u16) -> bool {
        self.stable.load(Ordering::Acquire)
            && self.mine[slot as usize / 64].load(Ordering::Relaxed) & (1 << (slot % 64)) != 0
    }

    /// Run `f` on the driver thread with the core, after which the driver
    /// performs the outputs it queued (a config save first). Blocks the
    /// caller until then; `None` if the driver is gone.
    pub fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut driver::Driver) -> R + Send + 'static,
    ) -> Option<R> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let job: driver::Job = Box::new(move |d: &mut driver::Driver| {
            let r = f(d);
            // Config saved and routing published before the caller replies.
            d.pump();
            let _ = tx.send(r);
        });
        self.tx.send(driver::Input::Call(job)).ok()?;
        rx.recv().ok()
    }

    /// CONFIG SET changed a directive: hand the core its new configuration
    /// (announced ports, IP and hostname, timeouts, failover switches).
    pub fn config_changed(&self, srv: &Server) {
        let cfg = core_config(srv, self.port, self.bus_port);
        let job: driver::Job = Box::new(move |d: &mut driver::Driver| {
            let now = d.now_ms();
            d.core.set_config(cfg, now);
        });
        let _ = self.tx.send(driver::Input::Call(job));
    }

    /// Send a PUBLISH (to every node) or SPUBLISH (to my shard) over the bus.
    pub fn publish(&self, channel: &[u8], message: &[u8], shard: bool) {
        let _ = self.tx.send(driver::Input::Publish {
            channel: channel.to_vec(),
            message: message.to_vec(),
            shard,
        });
    }
}

/// Redis's `iAmMaster()` in cluster mode: whether myself is a master in
/// the current routing snapshot (known from nodes.conf before the data is
/// loaded). `None` when cluster mode is off.
pub fn is_master(srv: &Server) -> Option<bool> {
    let cl = srv.cluster.get()?;
    let snap = cl.routing();
    Some(snap.nodes.get(snap.myself).is_none_or(|n| n.is_master))
}

/// After the data is loaded (`verifyClusterConfigWithData`): a master
/// that holds keys of a slot the config does not give it takes the slot
/// when nobody serves it, and marks it importing otherwise. Keys outside
/// db 0 are fatal, with Redis's words.
pub fn verify_config_with_data(srv: &Server) -> Result<(), String> {
    let Some(cl) = srv.cluster.get() else {
        return Ok(());
    };
    if is_master(srv) == Some(false) {
        return Ok(());
    }
    if (1..srv.keyspace.db_count()).any(|i| !srv.keyspace.db(i).is_empty()) {
        return Err(
            "You can't have keys in a DB different than DB 0 when in Cluster mode. Exiting.".into(),
        );
    }
    let db0 = srv.keyspace.db(0);
    let populated: Vec<u16> = (0..shoal_cluster::SLOT_COUNT as u16)
        .filter(|s| db0.lock_existing_slot(*s).is_some_and(|g| !g.is_empty()))
        .collect();
    if populated.is_empty() {
        return Ok(());
    }
    cl.call(move |d| {
        let now = d.now_ms();
        let snap = d.core.routing();
        let mut unassigned = Vec::new();
        for slot in populated {
            let owner = snap.slots[slot as usize];
            if owner == snap.myself as u32 || snap.importing_from(slot).is_some() {
                continue;
            }
            match snap.nodes.get(owner as usize) {
                None => {
                    log::log(
                        Level::Warning,
                        &format!("I have keys for unassigned slot {slot}. Taking responsibility for it."),
                    );
                    unassigned.push(slot);
                }
                Some(n) => {
                    log::log(
                        Level::Warning,
                        &format!("I have keys for slot {slot}, but the slot is assigned to another node. Setting it to importing state."),
                    );
                    let _ = d.core.set_slot_importing(slot, &n.name, now);
                }
            }
        }
        if !unassigned.is_empty() {
            let _ = d.core.add_slots(&unassigned, now);
        }
    })
    .ok_or_else(|| "the cluster bus driver is not running".to_string())
}

/// The core's configuration from the server's `cluster-*` directives.
fn core_config(srv: &Server, port: u16, bus_port: u16) -> CoreConfig {
    let cfg = srv.config.read();
    let nonzero = |name: &str| u16::try_from(cfg.get_i64(name)).ok().filter(|p| *p != 0);
    let mut c = CoreConfig::with_port(port, rand::random());
    c.node_timeout_ms = cfg.get_i64("cluster-node-timeout").max(0) as u64;
    c.replica_validity_factor = cfg.get_i64("cluster-replica-validity-factor").max(0) as u64;
    c.repl_ping_replica_period_ms = cfg.get_i64("repl-ping-replica-period").max(1) as u64 * 1000;
    c.migration_barrier = cfg.get_i64("cluster-migration-barrier").max(0) as usize;
    c.require_full_coverage = cfg.get_bool("cluster-require-full-coverage");
    c.allow_replica_migration = cfg.get_bool("cluster-allow-replica-migration");
    c.replica_no_failover = cfg.get_bool("cluster-replica-no-failover");
    let ip = cfg.get("cluster-announce-ip");
    c.announce_ip = (!ip.is_empty()).then(|| ip.as_bytes().to_vec());
    c.hostname = cfg.get("cluster-announce-hostname").as_bytes().to_vec();
    c.port = nonzero("cluster-announce-port").unwrap_or(port);
    c.cport = nonzero("cluster-announce-bus-port").unwrap_or(bus_port);
    c.pport = 0;
    c
}

/// `cluster-config-file`, relative to `dir` (the process runs in `dir`,
/// but the path is made explicit so logs and errors name the real file).
fn config_path(srv: &Server) -> PathBuf {
    let cfg = srv.config.read();
    let file = PathBuf::from(cfg.get("cluster-config-file"));
    if file.is_absolute() {
        return file;
    }
    match std::env::current_dir() {
        Ok(d) => d.join(file),
        Err(_) => file,
    }
}

/// Log what is wrong with nodes.conf; the fatal line is Redis's.
fn corrupted(path: &std::path::Path, why: &dyn std::fmt::Display) -> String {
    log::log(
        Level::Warning,
        &format!(
            "Can't load the cluster config file {}: {why}",
            path.display()
        ),
    );
    "Unrecoverable error: corrupted cluster config file.".into()
}

/// Start cluster mode (`clusterInit`): lock and load nodes.conf or create a
/// fresh node and save it, bind the bus port on the same addresses as the
/// client port, and start the driver thread. Errors are the fatal log
/// lines Redis prints before exiting.
pub async fn start(srv: &Arc<Server>, bind: &str, port: u16) -> Result<(), String> {
    let path = config_path(srv);
    let lock = nodes_conf::lock_config(&path).map_err(|e| e.to_string())?;
    let cluster_port = srv.config.read().get_i64("cluster-port");
    if cluster_port == 0 && port > 65535 - nodes_conf::BUS_PORT_OFFSET {
        return Err("Redis port number too high. Cluster communication port is 10,000 port numbers higher than your Redis port. Your Redis port number must be 55535 or less.".into());
    }
    let bus_port = if cluster_port != 0 {
        cluster_port as u16
    } else {
        port + nodes_conf::BUS_PORT_OFFSET
    };
    let cfg = core_config(srv, port, bus_port);
    let now = crate::util::now_ms();
    let core = match NodesConf::load(&path) {
        Ok(Some(conf)) => {
            let core =
                ClusterCore::from_nodes_conf(&conf, cfg, now).map_err(|e| corrupted(&path, &e))?;
            log::log(
                Level::Notice,
                &format!(
                    "Node configuration loaded, I'm {}",
                    String::from_utf8_lossy(&core.my_name())
                ),
            );
            core
        }
        Ok(None) => {
            let core = ClusterCore::new(cfg, now);
            log::log(
                Level::Notice,
                &format!(
                    "No cluster configuration found, I'm {}",
                    String::from_utf8_lossy(&core.my_name())
                ),
            );
            core
        }
        Err(e) => return Err(corrupted(&path, &e)),
    };
    // clusterSaveConfigOrDie(1) for a new node; a loaded one rewrites too.
    nodes_conf::save_atomic(&path, &core.to_nodes_conf().format())
        .map_err(|e| format!("Fatal: can't update cluster config file: {e}"))?;
    let listeners = crate::server::bind_listeners(bind, bus_port)
        .await
        .ok()
        .filter(|l| !l.is_empty())
        .ok_or_else(|| format!("Failed listening on port {bus_port} (cluster), aborting."))?;
    let mut std_listeners = Vec::new();
    for l in listeners {
        std_listeners.push(
            l.into_std()
                .map_err(|e| format!("Failed listening on port {bus_port} (cluster): {e}"))?,
        );
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let cluster = Arc::new(Cluster {
        routing: RwLock::new(Arc::new(core.routing())),
        mine: (0..shoal_cluster::SLOT_COUNT / 64)
            .map(|_| AtomicU64::new(0))
            .collect(),
        stable: AtomicBool::new(false),
        migration: (0..shoal_cluster::SLOT_COUNT)
            .map(|_| parking_lot::RwLock::new(()))
            .collect(),
        tx: tx.clone(),
        config_path: path.clone(),
        port,
        bus_port,
        _lock: lock,
    });
    cluster.set_routing(Arc::new(core.routing()));
    if srv.cluster.set(cluster.clone()).is_err() {
        return Err("cluster mode already started".into());
    }
    driver::spawn(srv.clone(), cluster, core, std_listeners, tx, rx)
        .map_err(|e| format!("Failed to start the cluster thread: {e}"))
}
