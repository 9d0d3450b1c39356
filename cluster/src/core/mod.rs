//! The cluster core: Redis Cluster's node table, epochs, gossip, failure
//! detection, elections, manual failover and replica migration as one plain
//! state machine without I/O (Redis 7.0 `cluster.c` rules).
//!
//! Inputs come in through methods that all carry `now_ms` (Unix-epoch
//! milliseconds, as Redis's `mstime()`; the core never lets time go
//! backwards). Outputs queue up in order and are drained with [`ClusterCore::drain`]
//! and must be performed in that order: an [`Output::SaveConfig`] precedes
//! the messages that may only leave once nodes.conf is on disk (a vote, an
//! epoch bump), exactly as Redis saves in `clusterBeforeSleep` before its
//! write handlers run. Randomness comes from a generator seeded by
//! [`Config::rng_seed`]; nodes are iterated in a fixed order.
//!
//! Driving it (the driver task): call [`ClusterCore::tick`] every 100 ms;
//! feed bus messages, link events and replication status; after every
//! input drain the outputs and perform them in order; on
//! [`Output::SaveConfig`] write [`ClusterCore::to_nodes_conf`] (fsync when
//! asked) before going on; on [`Event::RoutingChanged`] publish
//! [`ClusterCore::routing`]. Broadcasts arrive as one `Send` per link.
//!
//! Submodules by concern:
//! - `nodes`: the node table, links, slot bits, failure reports;
//! - `gossip`: building and processing PING/PONG/MEET/FAIL/UPDATE/PUBLISH;
//! - `cron`: the 100 ms tick (reconnects, pings, PFAIL, handshake expiry);
//! - `slots`: ownership by configEpoch, epochs and collisions, cluster state;
//! - `failover`: replica election, voting, promotion, replica migration;
//! - `manual`: CLUSTER FAILOVER [FORCE|TAKEOVER];
//! - `admin`: the CLUSTER subcommands that change state, with Redis's errors;
//! - `views`: routing snapshot, CLUSTER INFO/NODES/SLOTS data, nodes.conf.

mod admin;
mod cron;
mod failover;
mod gossip;
mod manual;
mod nodes;
mod rng;
mod slots;
mod views;

use std::collections::{BTreeMap, BTreeSet};

use crate::msg::{Message, NodeName, SlotBitmap};

pub use admin::{BumpResult, ClusterError, FailoverMode};
pub use views::{ClusterInfo, LinkView, NodeView, RouteNode, RoutingSnapshot};

use nodes::{Link, Node, NodeId};
use rng::Rng;

/// Failure reports are valid for node_timeout times this.
const FAIL_REPORT_VALIDITY_MULT: u64 = 2;
/// A master that still has slots gets its FAIL cleared after this many
/// node timeouts once it is reachable again.
const FAIL_UNDO_TIME_MULT: u64 = 2;
/// How long a manual failover may take.
const MF_TIMEOUT_MS: u64 = 5000;
/// The master pauses writes for this many manual failover timeouts.
const MF_PAUSE_MULT: u64 = 2;
/// An orphaned master must stay orphaned this long before a replica moves.
const REPLICA_MIGRATION_DELAY_MS: u64 = 5000;
/// A master does not turn the state OK sooner than this after start.
const WRITABLE_DELAY_MS: u64 = 2000;
const MAX_REJOIN_DELAY_MS: u64 = 5000;
const MIN_REJOIN_DELAY_MS: u64 = 500;
/// CLUSTER FORGET keeps a node out of gossip for this long.
const BLACKLIST_TTL_MS: u64 = 60_000;
/// Number of bus message types (for the per-type counters).
pub const MSG_TYPE_COUNT: usize = 11;

/// A bus connection, named by the core (outbound: in [`Output::Connect`];
/// inbound: returned by [`ClusterCore::link_accepted`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub u64);

/// The configuration the core needs (the server's `cluster-*` directives).
#[derive(Clone, Debug)]
pub struct Config {
    pub node_timeout_ms: u64,
    pub replica_validity_factor: u64,
    pub repl_ping_replica_period_ms: u64,
    pub migration_barrier: usize,
    pub require_full_coverage: bool,
    pub allow_replica_migration: bool,
    pub replica_no_failover: bool,
    /// `cluster-announce-ip`: when set, myself's address is never learned.
    pub announce_ip: Option<Vec<u8>>,
    pub hostname: Vec<u8>,
    pub port: u16,
    pub pport: u16,
    pub cport: u16,
    pub rng_seed: u64,
}

impl Config {
    /// Redis 7.0's defaults for a node serving `port` (bus port +10000).
    pub fn with_port(port: u16, rng_seed: u64) -> Config {
        Config {
            node_timeout_ms: 15_000,
            replica_validity_factor: 10,
            repl_ping_replica_period_ms: 10_000,
            migration_barrier: 1,
            require_full_coverage: true,
            allow_replica_migration: true,
            replica_no_failover: false,
            announce_ip: None,
            hostname: Vec::new(),
            port,
            pport: 0,
            cport: port.wrapping_add(10_000),
            rng_seed,
        }
    }
}

/// What the driver must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send `msg` on a connected link.
    Send {
        link: LinkId,
        msg: Message,
    },
    /// Open an outbound link to `ip:cport` for `node`; report the outcome
    /// with [`ClusterCore::link_up`] or [`ClusterCore::link_down`].
    Connect {
        link: LinkId,
        node: NodeName,
        ip: Vec<u8>,
        cport: u16,
    },
    /// Close a link (inbound or outbound); no `link_down` is needed after.
    CloseLink {
        link: LinkId,
    },
    /// Write nodes.conf (`to_nodes_conf`), fsync it when asked, before
    /// performing any later output.
    SaveConfig {
        fsync: bool,
    },
    Event(Event),
}

/// The role this node plays, as the server must apply it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    Master,
    /// Replicate from this node (address may be empty while unknown).
    Replica {
        master: NodeName,
        ip: Vec<u8>,
        port: u16,
    },
}

/// Things the server acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// This node's role or its master (or the master's address) changed.
    RoleChanged(Role),
    /// Slots myself now serves / no longer serves. A master that loses slots
    /// and stays master must drop their keys; a new replica resyncs anyway.
    SlotsGained(Vec<u16>),
    SlotsLost(Vec<u16>),
    /// Cluster state as CLUSTER INFO reports it.
    StateChanged {
        ok: bool,
    },
    /// Pause client writes until `until_ms` (manual failover, master side).
    PauseWrites {
        until_ms: u64,
    },
    UnpauseWrites,
    /// A PUBLISH / PUBLISHSHARD from another node to deliver locally.
    Publish {
        channel: Vec<u8>,
        message: Vec<u8>,
        shard: bool,
    },
    /// Anything routing depends on changed: publish a new snapshot.
    RoutingChanged,
    /// CLUSTER RESET of a replica: the server must empty its data.
    FlushData,
}

/// Deferred work, run once at the end of every input (Redis's
/// `clusterBeforeSleep` flags).
#[derive(Clone, Copy, Debug, Default)]
struct Todo {
    save: bool,
    fsync: bool,
    update_state: bool,
    handle_failover: bool,
    handle_manual_failover: bool,
}

/// The replica's election in progress (`failover_auth_*`).
#[derive(Clone, Debug, Default)]
struct Election {
    auth_time_ms: u64,
    auth_rank: usize,
    auth_sent: bool,
    auth_epoch: u64,
    /// When the request last went out (first send or re-send).
    requested_ms: u64,
    /// Masters that voted for us in `auth_epoch` (Redis counts acks; a set
    /// keeps a duplicated ack from counting twice).
    voters: BTreeSet<NodeId>,
}

/// Manual failover state (`mf_*`), used on both sides.
#[derive(Clone, Debug, Default)]
struct ManualFailover {
    /// 0 when none is in progress.
    end_ms: u64,
    can_start: bool,
    /// Master side: the replica that asked.
    replica: Option<NodeId>,
    /// Replica side: the offset the paused master announced.
    master_offset: Option<u64>,
    /// Master side: the server reported its offset after the driver
    /// performed the pause (`set_repl_offset` after MFSTART). Only then do
    /// headers carry PAUSED: before it, `repl.offset` is the previous tick's,
    /// taken while writes still ran, and a replica promoted at that offset
    /// would drop the writes acknowledged since.
    offset_after_pause: bool,
}

/// Replication status reported by the server.
#[derive(Clone, Copy, Debug, Default)]
struct ReplStatus {
    /// master_repl_offset (master) or processed offset (replica).
    offset: u64,
    master_link_up: bool,
    /// Last interaction with the master when up; down-since when down.
    master_link_since_ms: u64,
}

/// What was last reported to the server, to turn changes into events.
#[derive(Clone, Debug)]
struct Reported {
    role: Option<Role>,
    my_slots: SlotBitmap,
    state_ok: bool,
}

pub struct ClusterCore {
    cfg: Config,
    rng: Rng,
    now_ms: u64,
    nodes: BTreeMap<NodeId, Node>,
    by_name: BTreeMap<NodeName, NodeId>,
    next_node_id: u32,
    myself: NodeId,
    /// Slot -> owner.
    slots: Vec<Option<NodeId>>,
    /// Slots whose owner stopped claiming them (see `isSlotUnclaimed`).
    owner_not_claiming: SlotBitmap,
    importing: BTreeMap<u16, NodeId>,
    migrating: BTreeMap<u16, NodeId>,
    links: BTreeMap<LinkId, Link>,
    next_link_id: u64,
    current_epoch: u64,
    last_vote_epoch: u64,
    state_ok: bool,
    /// Masters serving at least one slot.
    size: usize,
    first_state_call_ms: Option<u64>,
    among_minority_ms: u64,
    stats_pfail_nodes: usize,
    iteration: u64,
    pings_built: u64,
    blacklist: BTreeMap<NodeName, u64>,
    election: Election,
    mf: ManualFailover,
    repl: ReplStatus,
    todo: Todo,
    outputs: Vec<Output>,
    step_start: usize,
    routing_dirty: bool,
    /// A paused master resumes writes at the end of the step, after the
    /// routing the step changed is published: a write held by the pause
    /// must then be routed by the new configuration (MOVED to the promoted
    /// replica), not run under the old one as if still the slot's master.
    unpause_pending: bool,
    reported: Reported,
    stats_sent: [u64; MSG_TYPE_COUNT],
    stats_received: [u64; MSG_TYPE_COUNT],
}

impl ClusterCore {
    /// A fresh node: a master with a random name, no slots, epoch 0.
    pub fn new(cfg: Config, now_ms: u64) -> ClusterCore {
        let mut rng = Rng::new(cfg.rng_seed);
        let name = rng.node_name();
        let mut core = ClusterCore::empty(cfg, rng, now_ms);
        let me = Node::new(
            name,
            crate::msg::flags::MYSELF | crate::msg::flags::MASTER,
            now_ms,
        );
        core.myself = core.add_node(me);
        core.apply_myself_config();
        core.todo.save = true;
        core.todo.update_state = true;
        core
    }

    fn empty(cfg: Config, rng: Rng, now_ms: u64) -> ClusterCore {
        ClusterCore {
            cfg,
            rng,
            now_ms,
            nodes: BTreeMap::new(),
            by_name: BTreeMap::new(),
            next_node_id: 0,
            myself: NodeId(0),
            slots: vec![None; crate::SLOT_COUNT],
            owner_not_claiming: SlotBitmap::default(),
            importing: BTreeMap::new(),
            migrating: BTreeMap::new(),
            links: BTreeMap::new(),
            next_link_id: 1,
            current_epoch: 0,
            last_vote_epoch: 0,
            state_ok: false,
            size: 0,
            first_state_call_ms: None,
            among_minority_ms: 0,
            stats_pfail_nodes: 0,
            iteration: 0,
            pings_built: 0,
            blacklist: BTreeMap::new(),
            election: Election::default(),
            mf: ManualFailover::default(),
            repl: ReplStatus::default(),
            todo: Todo::default(),
            outputs: Vec::new(),
            step_start: 0,
            routing_dirty: true,
            unpause_pending: false,
            reported: Reported {
                role: None,
                my_slots: SlotBitmap::default(),
                state_ok: false,
            },
            stats_sent: [0; MSG_TYPE_COUNT],
            stats_received: [0; MSG_TYPE_COUNT],
        }
    }

    // ---- inputs ----------------------------------------------------------

    /// A message arrived on `link`.
    pub fn handle_message(&mut self, link: LinkId, msg: Message, now_ms: u64) {
        self.begin(now_ms);
        self.process_message(link, &msg);
        self.finish();
    }

    /// An inbound connection was accepted; `local_ip` is our address on it
    /// (how Redis learns its own IP from MEET), `peer_ip` the other side's.
    pub fn link_accepted(&mut self, local_ip: &[u8], peer_ip: &[u8], now_ms: u64) -> LinkId {
        self.begin(now_ms);
        let id = self.new_link(None, true, local_ip, peer_ip);
        self.finish();
        id
    }

    /// An outbound link asked for by [`Output::Connect`] is established.
    pub fn link_up(&mut self, link: LinkId, local_ip: &[u8], now_ms: u64) {
        self.begin(now_ms);
        self.on_link_up(link, local_ip);
        self.finish();
    }

    /// A link failed to connect or was closed by the peer / an I/O error.
    pub fn link_down(&mut self, link: LinkId, now_ms: u64) {
        self.begin(now_ms);
        // An established outbound link that dropped: the node is out of
        // reach from now, so failure detection starts counting now (as the
        // ping a reconnect claims would, up to a tick later).
        let owner = self
            .links
            .get(&link)
            .filter(|l| l.connected && !l.inbound)
            .and_then(|l| l.node);
        if let Some(node) = owner.and_then(|id| self.nodes.get_mut(&id)) {
            if node.link == Some(link) && node.ping_sent_ms == 0 {
                node.ping_sent_ms = self.now_ms;
            }
        }
        self.forget_link(link);
        self.finish();
    }

    /// The 100 ms timer (`clusterCron`).
    pub fn tick(&mut self, now_ms: u64) {
        self.begin(now_ms);
        self.cron();
        self.finish();
    }

    /// The replication offset: master_repl_offset when master, the processed
    /// offset when replica.
    pub fn set_repl_offset(&mut self, offset: u64, now_ms: u64) {
        self.begin(now_ms);
        self.repl.offset = offset;
        if self.mf.end_ms != 0 {
            self.todo.handle_manual_failover = true;
            if self.mf.replica.is_some() {
                self.mf.offset_after_pause = true;
            }
        }
        self.finish();
    }

    /// The replica's link to its master: `since_ms` is the last interaction
    /// when up, the time it went down when down.
    pub fn set_master_link(&mut self, up: bool, since_ms: u64, now_ms: u64) {
        self.begin(now_ms);
        self.repl.master_link_up = up;
        self.repl.master_link_since_ms = since_ms;
        self.finish();
    }

    /// Send a PUBLISH (to every node) or PUBLISHSHARD (to my shard).
    pub fn publish(&mut self, channel: &[u8], message: &[u8], shard: bool, now_ms: u64) {
        self.begin(now_ms);
        self.send_publish(channel, message, shard);
        self.finish();
    }

    /// CONFIG SET of a cluster directive: the new configuration (the seed
    /// is ignored; the generator keeps its state).
    pub fn set_config(&mut self, cfg: Config, now_ms: u64) {
        self.begin(now_ms);
        self.cfg = cfg;
        self.apply_myself_config();
        self.todo.update_state = true;
        self.finish();
    }

    /// Ports, hostname, announced IP and NOFAILOVER of myself follow the
    /// configuration (`clusterUpdateMyself*`).
    fn apply_myself_config(&mut self) {
        let (port, pport, cport) = (self.cfg.port, self.cfg.pport, self.cfg.cport);
        let hostname = self.cfg.hostname.clone();
        let announce_ip = self.cfg.announce_ip.clone();
        let no_failover = self.cfg.replica_no_failover;
        let me = self.me_mut();
        me.port = port;
        me.pport = pport;
        me.cport = cport;
        me.hostname = hostname;
        if let Some(ip) = announce_ip {
            me.ip = ip;
        }
        if no_failover {
            me.flags |= crate::msg::flags::NOFAILOVER;
        } else {
            me.flags &= !crate::msg::flags::NOFAILOVER;
        }
    }

    // ---- outputs ---------------------------------------------------------

    /// Everything queued so far, in the order it must be performed.
    pub fn drain(&mut self) -> Vec<Output> {
        self.step_start = 0;
        std::mem::take(&mut self.outputs)
    }

    /// Whether outputs are waiting.
    pub fn has_outputs(&self) -> bool {
        !self.outputs.is_empty()
    }

    // ---- step machinery --------------------------------------------------

    fn begin(&mut self, now_ms: u64) {
        if now_ms > self.now_ms {
            self.now_ms = now_ms;
        }
        self.step_start = self.outputs.len();
    }

    /// Run the deferred work and turn state changes into events.
    fn finish(&mut self) {
        let todo = std::mem::take(&mut self.todo);
        if todo.handle_manual_failover {
            if self.myself_is_replica() {
                self.handle_manual_failover();
                self.handle_replica_failover();
            }
        } else if todo.handle_failover {
            self.handle_replica_failover();
        }
        // Work above may have asked for more.
        let more = std::mem::take(&mut self.todo);
        if todo.update_state || more.update_state {
            self.update_state();
        }
        // What that work scheduled runs on the next input (Redis: the next
        // `clusterBeforeSleep`), e.g. a manual failover still catching up.
        self.todo.handle_manual_failover = more.handle_manual_failover;
        self.todo.handle_failover = more.handle_failover;
        let save = todo.save || more.save;
        let fsync = todo.fsync || more.fsync;
        if save {
            self.outputs
                .insert(self.step_start, Output::SaveConfig { fsync });
            self.routing_dirty = true;
        }
        if todo.update_state || more.update_state {
            self.routing_dirty = true;
        }
        self.report_changes();
    }

    fn report_changes(&mut self) {
        let role = self.my_role();
        if self.reported.role.as_ref() != Some(&role) {
            self.reported.role = Some(role.clone());
            self.push_event(Event::RoleChanged(role));
            self.routing_dirty = true;
        }
        let me = &self.nodes[&self.myself];
        if me.slots != self.reported.my_slots {
            let mut gained = Vec::new();
            let mut lost = Vec::new();
            for i in 0..crate::SLOT_COUNT as u16 {
                let (now, before) = (me.slots.get(i), self.reported.my_slots.get(i));
                if now && !before {
                    gained.push(i);
                } else if before && !now {
                    lost.push(i);
                }
            }
            self.reported.my_slots = me.slots.clone();
            if !lost.is_empty() {
                self.push_event(Event::SlotsLost(lost));
            }
            if !gained.is_empty() {
                self.push_event(Event::SlotsGained(gained));
            }
            self.routing_dirty = true;
        }
        if self.state_ok != self.reported.state_ok {
            self.reported.state_ok = self.state_ok;
            self.push_event(Event::StateChanged { ok: self.state_ok });
            self.routing_dirty = true;
        }
        if self.routing_dirty {
            self.routing_dirty = false;
            self.push_event(Event::RoutingChanged);
        }
        if self.unpause_pending {
            self.unpause_pending = false;
            self.push_event(Event::UnpauseWrites);
        }
    }

    fn my_role(&self) -> Role {
        let me = &self.nodes[&self.myself];
        match me.slaveof.and_then(|m| self.nodes.get(&m)) {
            Some(m) if me.is_replica() => Role::Replica {
                master: m.name,
                ip: m.ip.clone(),
                port: m.port,
            },
            _ => Role::Master,
        }
    }

    fn push_event(&mut self, event: Event) {
        self.outputs.push(Output::Event(event));
    }

    fn save_config(&mut self, fsync: bool) {
        self.todo.save = true;
        self.todo.fsync |= fsync;
    }

    fn me(&self) -> &Node {
        &self.nodes[&self.myself]
    }

    fn me_mut(&mut self) -> &mut Node {
        self.nodes
            .get_mut(&self.myself)
            .expect("myself is always in the table")
    }

    fn myself_is_replica(&self) -> bool {
        self.me().is_replica()
    }

    fn myself_is_master(&self) -> bool {
        self.me().is_master()
    }

    // ---- small getters ---------------------------------------------------

    pub fn my_name(&self) -> NodeName {
        self.me().name
    }

    pub fn current_epoch(&self) -> u64 {
        self.current_epoch
    }

    pub fn last_vote_epoch(&self) -> u64 {
        self.last_vote_epoch
    }

    /// Myself's configEpoch (a replica reports its master's, as CLUSTER INFO).
    pub fn my_config_epoch(&self) -> u64 {
        self.nodes[&self.myself].config_epoch
    }

    /// Slots myself serves.
    pub fn my_slots(&self) -> &SlotBitmap {
        &self.me().slots
    }

    pub fn is_master(&self) -> bool {
        self.myself_is_master()
    }

    pub fn role(&self) -> Role {
        self.my_role()
    }

    pub fn state_ok(&self) -> bool {
        self.state_ok
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_node_is_a_master_that_saves_its_config() {
        let mut core = ClusterCore::new(Config::with_port(7000, 1), 1_000);
        core.tick(1_100);
        let out = core.drain();
        assert!(matches!(out[0], Output::SaveConfig { .. }));
        assert!(out
            .iter()
            .any(|o| matches!(o, Output::Event(Event::RoleChanged(Role::Master)))));
        assert!(core.is_master());
        assert_eq!(core.current_epoch(), 0);
    }

    #[test]
    fn the_seed_decides_the_name() {
        let a = ClusterCore::new(Config::with_port(7000, 7), 0);
        let b = ClusterCore::new(Config::with_port(7000, 7), 0);
        let c = ClusterCore::new(Config::with_port(7000, 8), 0);
        assert_eq!(a.my_name(), b.my_name());
        assert_ne!(a.my_name(), c.my_name());
    }
}
