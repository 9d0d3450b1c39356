//! The cluster driver: one thread, with its own runtime, that owns the
//! `ClusterCore`. It accepts bus connections, opens the links the core asks
//! for, feeds the core every frame, link change, admin call and the 100 ms
//! tick, and performs the core's outputs strictly in order: a config save
//! (fsynced when asked) happens before any message queued after it. After
//! every input whose outputs say routing changed it publishes a new
//! routing snapshot, and it turns the core's events into server actions
//! (log lines, dropping lost slots' keys, local delivery of bus PUBLISH,
//! write pauses for a manual failover).
//!
//! The driver never takes the keyspace gate: connection threads wait on it
//! (through `Cluster::call`) while holding the gate shared, so keyspace
//! work the core asks for runs on a short-lived thread of its own.

use super::bus_io::{self, LinkHandle};
use super::Cluster;
use crate::log::{self, Level};
use crate::server::Server;
use shoal_cluster::bus;
use shoal_cluster::core::{ClusterCore, Event, LinkId, Output, Role, RoutingSnapshot};
use shoal_cluster::msg::Message;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

/// clusterCron's period.
const TICK_MS: u64 = 100;
/// An outbound connect that takes longer than this is reported down (the
/// core retries on a later tick).
const CONNECT_TIMEOUT_MS: u64 = 1000;

/// Work for the driver, run with the core.
pub type Job = Box<dyn FnOnce(&mut Driver) + Send>;

/// Everything that reaches the driver.
pub enum Input {
    Accepted {
        stream: TcpStream,
        local_ip: Vec<u8>,
        peer_ip: Vec<u8>,
    },
    Connected {
        link: LinkId,
        stream: TcpStream,
        local_ip: Vec<u8>,
    },
    ConnectFailed {
        link: LinkId,
    },
    Frame {
        link: LinkId,
        msg: Message,
    },
    LinkClosed {
        link: LinkId,
    },
    Call(Job),
    Publish {
        channel: Vec<u8>,
        message: Vec<u8>,
        shard: bool,
    },
}

/// The driver's state; admin calls get `&mut Driver`.
pub struct Driver {
    pub core: ClusterCore,
    srv: Arc<Server>,
    shared: Arc<Cluster>,
    links: HashMap<LinkId, LinkHandle>,
    /// Outbound connects in flight (a CloseLink meanwhile removes the id).
    connecting: HashSet<LinkId>,
    to_self: UnboundedSender<Input>,
    /// The last published snapshot, to log nodes turning failed.
    last: Arc<RoutingSnapshot>,
    /// Role changes for the replication layer, applied in order on a
    /// thread of their own (they take the keyspace gate).
    roles: std::sync::mpsc::Sender<Role>,
    /// Links freed for passing cluster-link-sendbuf-limit (CLUSTER INFO's
    /// total_cluster_links_buffer_limit_exceeded).
    pub links_buffer_limit_exceeded: u64,
}

/// Start the driver thread.
pub fn spawn(
    srv: Arc<Server>,
    shared: Arc<Cluster>,
    core: ClusterCore,
    listeners: Vec<std::net::TcpListener>,
    to_self: UnboundedSender<Input>,
    inputs: UnboundedReceiver<Input>,
) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let roles = spawn_role_applier(srv.clone())?;
    std::thread::Builder::new()
        .name("shoal-cluster".into())
        .spawn(move || {
            rt.block_on(async move {
                for l in listeners {
                    match TcpListener::from_std(l) {
                        Ok(l) => {
                            tokio::spawn(accept_loop(l, to_self.clone()));
                        }
                        Err(e) => log::log(
                            Level::Warning,
                            &format!("Error registering the cluster bus listener: {e}"),
                        ),
                    }
                }
                let last = shared.routing();
                let mut d = Driver {
                    core,
                    srv,
                    shared,
                    links: HashMap::new(),
                    connecting: HashSet::new(),
                    to_self,
                    last,
                    roles,
                    links_buffer_limit_exceeded: 0,
                };
                d.run(inputs).await;
            })
        })?;
    Ok(())
}

async fn accept_loop(listener: TcpListener, tx: UnboundedSender<Input>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let local_ip = stream
                    .local_addr()
                    .map(|a| bus_io::ip_text(&a))
                    .unwrap_or_default();
                log::log(
                    Level::Verbose,
                    &format!("Accepting cluster node connection from {peer}"),
                );
                let input = Input::Accepted {
                    stream,
                    local_ip,
                    peer_ip: bus_io::ip_text(&peer),
                };
                if tx.send(input).is_err() {
                    return;
                }
            }
            Err(e) => {
                log::log(
                    Level::Verbose,
                    &format!("Error accepting cluster node: {e}"),
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

impl Driver {
    async fn run(&mut self, mut inputs: UnboundedReceiver<Input>) {
        let mut tick = tokio::time::interval(Duration::from_millis(TICK_MS));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The loaded or fresh node's first outputs (state, role, routing).
        self.core.tick(crate::util::now_ms());
        self.pump();
        loop {
            tokio::select! {
                input = inputs.recv() => {
                    let Some(input) = input else { return };
                    self.input(input);
                }
                _ = tick.tick() => self.tick(),
            }
            self.pump();
        }
    }

    /// clusterCron, with the replication status the core ranks and times
    /// elections by.
    fn tick(&mut self) {
        let now = crate::util::now_ms();
        // While writes are paused (a manual failover), the offset after
        // the writes already running, none of them missed.
        let offset = if self.srv.pause.deadline().is_some() {
            self.srv
                .prop
                .offset_after_running_writes(Duration::from_millis(50))
        } else {
            crate::replication::repl_offset(&self.srv)
        };
        self.core.set_repl_offset(offset, now);
        let (up, since_ms) = crate::replication::master_link(&self.srv);
        self.core.set_master_link(up, since_ms, now);
        self.free_links_over_limit(now);
        self.core.tick(now);
    }

    /// clusterNodeCronFreeLinkOnBufferLimitReached: a link whose unsent
    /// output passed cluster-link-sendbuf-limit is freed (the core
    /// reconnects it later).
    fn free_links_over_limit(&mut self, now: u64) {
        let limit = self
            .srv
            .config
            .read()
            .get_i64("cluster-link-sendbuf-limit")
            .max(0) as usize;
        if limit == 0 {
            return;
        }
        let over: Vec<LinkId> = self
            .links
            .iter()
            .filter(|(_, h)| h.pending() > limit)
            .map(|(l, _)| *l)
            .collect();
        for link in over {
            if let Some(h) = self.links.remove(&link) {
                log::log(
                    Level::Warning,
                    &format!(
                        "Freeing cluster link ({} bytes pending): the send buffer passed cluster-link-sendbuf-limit",
                        h.pending()
                    ),
                );
                h.close();
                self.links_buffer_limit_exceeded += 1;
                self.core.link_down(link, now);
            }
        }
    }

    /// Unsent bytes on a link (CLUSTER LINKS' send-buffer fields).
    pub fn link_pending(&self, link: LinkId) -> usize {
        self.links.get(&link).map_or(0, |h| h.pending())
    }

    fn input(&mut self, input: Input) {
        let now = crate::util::now_ms();
        match input {
            Input::Accepted {
                stream,
                local_ip,
                peer_ip,
            } => {
                let link = self.core.link_accepted(&local_ip, &peer_ip, now);
                let h = bus_io::spawn_link(link, stream, self.to_self.clone());
                self.links.insert(link, h);
            }
            Input::Connected {
                link,
                stream,
                local_ip,
            } => {
                if self.connecting.remove(&link) {
                    let h = bus_io::spawn_link(link, stream, self.to_self.clone());
                    self.links.insert(link, h);
                    self.core.link_up(link, &local_ip, now);
                }
            }
            Input::ConnectFailed { link } => {
                if self.connecting.remove(&link) {
                    self.core.link_down(link, now);
                }
            }
            Input::Frame { link, msg } => {
                if self.links.contains_key(&link) {
                    self.core.handle_message(link, msg, now);
                }
            }
            Input::LinkClosed { link } => {
                if let Some(h) = self.links.remove(&link) {
                    h.close();
                    self.core.link_down(link, now);
                }
            }
            Input::Call(job) => job(self),
            Input::Publish {
                channel,
                message,
                shard,
            } => self.core.publish(&channel, &message, shard, now),
        }
    }

    /// The time to pass to the core's inputs.
    pub fn now_ms(&self) -> u64 {
        crate::util::now_ms()
    }

    /// Perform everything the core queued, in order.
    pub fn pump(&mut self) {
        loop {
            let outputs = self.core.drain();
            if outputs.is_empty() {
                return;
            }
            for o in outputs {
                self.perform(o);
            }
        }
    }

    fn perform(&mut self, o: Output) {
        match o {
            Output::Send { link, msg } => {
                if let Some(h) = self.links.get(&link) {
                    h.send(bus::encode(&msg));
                }
            }
            Output::Connect {
                link,
                node: _,
                ip,
                cport,
            } => {
                self.connecting.insert(link);
                let tx = self.to_self.clone();
                tokio::spawn(async move {
                    let ip = String::from_utf8_lossy(&ip).into_owned();
                    let connect = TcpStream::connect((ip.as_str(), cport));
                    let r =
                        tokio::time::timeout(Duration::from_millis(CONNECT_TIMEOUT_MS), connect)
                            .await;
                    let input = match r {
                        Ok(Ok(stream)) => {
                            let local_ip = stream
                                .local_addr()
                                .map(|a| bus_io::ip_text(&a))
                                .unwrap_or_default();
                            Input::Connected {
                                link,
                                stream,
                                local_ip,
                            }
                        }
                        _ => Input::ConnectFailed { link },
                    };
                    let _ = tx.send(input);
                });
            }
            Output::CloseLink { link } => {
                self.connecting.remove(&link);
                if let Some(h) = self.links.remove(&link) {
                    h.close();
                }
            }
            Output::SaveConfig { fsync } => {
                // fsynced (file and directory) when the core asks for it.
                if let Err(e) = self.save_config_with(fsync) {
                    // clusterSaveConfigOrDie.
                    log::log(
                        Level::Warning,
                        &format!("Fatal: can't update cluster config file: {e}"),
                    );
                    std::process::exit(1);
                }
            }
            Output::Event(e) => self.event(e),
        }
    }

    /// Write nodes.conf now, fsynced (CLUSTER SAVECONFIG).
    pub fn save_config(&self) -> std::io::Result<()> {
        self.save_config_with(true)
    }

    /// Write nodes.conf now; fsync it (and its directory) when `durable`.
    pub fn save_config_with(&self, durable: bool) -> std::io::Result<()> {
        let text = self.core.to_nodes_conf().format();
        shoal_cluster::nodes_conf::save_replacing(&self.shared.config_path, &text, durable)
    }

    fn event(&mut self, e: Event) {
        match e {
            Event::RoutingChanged => self.publish_routing(),
            Event::StateChanged { ok } => log::log(
                Level::Warning,
                &format!("Cluster state changed: {}", if ok { "ok" } else { "fail" }),
            ),
            Event::RoleChanged(role) => {
                let _ = self.roles.send(role);
            }
            Event::SlotsLost(slots) => {
                if self.core.is_master() {
                    drop_slots(self.srv.clone(), slots);
                }
            }
            Event::SlotsGained(_) => {}
            Event::PauseWrites { until_ms } => {
                let ms = until_ms.saturating_sub(crate::util::now_ms());
                self.srv
                    .pause
                    .pause(std::time::Instant::now() + Duration::from_millis(ms), false);
            }
            Event::UnpauseWrites => self.srv.pause.unpause(),
            Event::Publish {
                channel,
                message,
                shard,
            } => {
                let kind = if shard {
                    crate::pubsub::Kind::Shard
                } else {
                    crate::pubsub::Kind::Channel
                };
                self.srv.pubsub.publish(kind, &channel, &message);
            }
            Event::FlushData => flush_all(self.srv.clone()),
        }
    }

    /// Swap in a new snapshot; log nodes that turned failed or recovered;
    /// redirect blocked clients whose slot is no longer served here.
    fn publish_routing(&mut self) {
        let snap = Arc::new(self.core.routing());
        for n in &snap.nodes {
            let before = self.last.nodes.iter().find(|b| b.name == n.name);
            let was_failed = before.is_some_and(|b| b.failed);
            if n.failed && !was_failed {
                log::log(
                    Level::Notice,
                    &format!(
                        "Marking node {} as failing (quorum reached).",
                        String::from_utf8_lossy(&n.name)
                    ),
                );
            } else if !n.failed && was_failed {
                log::log(
                    Level::Notice,
                    &format!(
                        "Clear FAIL state for node {}: is reachable again.",
                        String::from_utf8_lossy(&n.name)
                    ),
                );
            }
        }
        self.shared.set_routing(snap.clone());
        self.last = snap.clone();
        if self.srv.blocking.any() {
            super::route::redirect_blocked(&self.srv, &snap);
        }
    }
}

/// The thread that turns role changes into replication changes: start
/// replicating the new master (once its address is known), or stop.
fn spawn_role_applier(srv: Arc<Server>) -> std::io::Result<std::sync::mpsc::Sender<Role>> {
    let (tx, rx) = std::sync::mpsc::channel::<Role>();
    std::thread::Builder::new()
        .name("shoal-cluster-role".into())
        .spawn(move || {
            while let Ok(role) = rx.recv() {
                // Not while the data from disk is still loading at start:
                // a sync would empty the keyspace under the loader.
                while srv
                    .persist
                    .loading
                    .load(std::sync::atomic::Ordering::Acquire)
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                match role {
                    Role::Master => {
                        log::set_role(b'M');
                        if crate::replication::is_replica(&srv) {
                            crate::replication::become_master(&srv);
                        }
                    }
                    Role::Replica { master, ip, port } => {
                        log::set_role(b'S');
                        if ip.is_empty() || port == 0 {
                            log::log(
                                Level::Notice,
                                &format!(
                                    "Configured as a replica of {}; its address is not known yet",
                                    String::from_utf8_lossy(&master)
                                ),
                            );
                            continue;
                        }
                        let host = String::from_utf8_lossy(&ip).into_owned();
                        crate::replication::become_replica_of(&srv, &host, port);
                    }
                }
            }
        })?;
    Ok(tx)
}

/// A master lost slots: their keys go (Redis's delKeysInSlot), off the
/// driver thread because it needs the keyspace.
fn drop_slots(srv: Arc<Server>, slots: Vec<u16>) {
    let _ = std::thread::Builder::new()
        .name("shoal-dropslots".into())
        .spawn(move || {
            let _gate = srv.keyspace.gate.read();
            let db = srv.keyspace.db(0);
            let mut removed = 0;
            for slot in slots {
                if crate::snapshot::active() {
                    crate::snapshot::before_slot_change(&srv, 0, slot);
                }
                if let Some(mut g) = db.lock_existing_slot(slot) {
                    let keys: Vec<Vec<u8>> = g.iter().map(|(k, _)| k.as_bytes().to_vec()).collect();
                    for k in keys {
                        removed += g.remove(&k).is_some() as u64;
                    }
                }
            }
            if removed > 0 {
                log::log(
                    Level::Notice,
                    &format!("Deleted {removed} keys from slots this node no longer serves"),
                );
            }
        });
}

/// CLUSTER RESET of a replica: empty every database.
fn flush_all(srv: Arc<Server>) {
    let _ = std::thread::Builder::new()
        .name("shoal-flush".into())
        .spawn(move || {
            let _gate = srv.keyspace.gate.write();
            for (_, db) in srv.keyspace.dbs() {
                db.clear();
            }
        });
}
