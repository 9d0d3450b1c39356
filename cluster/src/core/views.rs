//! Read-only views of the core for the server: the routing snapshot the
//! command path reads, CLUSTER INFO / NODES / SLOTS / SHARDS / REPLICAS /
//! LINKS data, and nodes.conf as `NodesConf` values (both directions).

use std::collections::BTreeMap;

use crate::msg::{flags, NodeName};
use crate::nodes_conf::{slot_ranges, NodeLine, NodesConf};

use super::admin::ClusterError;
use super::nodes::{parse_node_name, Node, NodeId};
use super::rng::Rng;
use super::{ClusterCore, Config, LinkId, MSG_TYPE_COUNT};

/// One node as routing needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteNode {
    pub name: NodeName,
    pub ip: Vec<u8>,
    pub port: u16,
    pub pport: u16,
    pub hostname: Vec<u8>,
    pub is_master: bool,
    /// Index (in `RoutingSnapshot::nodes`) of its master, for replicas.
    pub master: Option<usize>,
    pub failed: bool,
    pub pfail: bool,
}

/// An immutable picture of slot ownership, cheap to share behind an `Arc`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutingSnapshot {
    pub ok: bool,
    /// Index of myself in `nodes`.
    pub myself: usize,
    pub nodes: Vec<RouteNode>,
    /// Slot → index of the master serving it (`u32::MAX`: unassigned).
    pub slots: Vec<u32>,
    /// Open slots on myself: slot → index of the other node.
    pub importing: Vec<(u16, usize)>,
    pub migrating: Vec<(u16, usize)>,
}

impl RoutingSnapshot {
    pub fn owner(&self, slot: u16) -> Option<&RouteNode> {
        let idx = *self.slots.get(slot as usize)?;
        self.nodes.get(idx as usize)
    }
    pub fn replicas_of(&self, master: usize) -> impl Iterator<Item = &RouteNode> {
        self.nodes.iter().filter(move |n| n.master == Some(master))
    }
    pub fn importing_from(&self, slot: u16) -> Option<&RouteNode> {
        let (_, i) = self.importing.iter().find(|(s, _)| *s == slot)?;
        self.nodes.get(*i)
    }
    pub fn migrating_to(&self, slot: u16) -> Option<&RouteNode> {
        let (_, i) = self.migrating.iter().find(|(s, _)| *s == slot)?;
        self.nodes.get(*i)
    }
}

/// What CLUSTER INFO prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterInfo {
    pub state_ok: bool,
    pub slots_assigned: usize,
    pub slots_ok: usize,
    pub slots_pfail: usize,
    pub slots_fail: usize,
    pub known_nodes: usize,
    pub size: usize,
    pub current_epoch: u64,
    pub my_epoch: u64,
    pub messages_sent: [u64; MSG_TYPE_COUNT],
    pub messages_received: [u64; MSG_TYPE_COUNT],
}

/// Message type names as CLUSTER INFO prints them.
pub(crate) const MSG_TYPE_NAMES: [&str; MSG_TYPE_COUNT] = [
    "ping",
    "pong",
    "meet",
    "fail",
    "publish",
    "auth-req",
    "auth-ack",
    "update",
    "mfstart",
    "module",
    "publishshard",
];

impl ClusterInfo {
    /// The CLUSTER INFO text, CRLF lines, zero counters omitted as Redis does.
    pub fn render(&self) -> String {
        let mut s = format!(
            "cluster_state:{}\r\ncluster_slots_assigned:{}\r\ncluster_slots_ok:{}\r\n\
             cluster_slots_pfail:{}\r\ncluster_slots_fail:{}\r\ncluster_known_nodes:{}\r\n\
             cluster_size:{}\r\ncluster_current_epoch:{}\r\ncluster_my_epoch:{}\r\n",
            if self.state_ok { "ok" } else { "fail" },
            self.slots_assigned,
            self.slots_ok,
            self.slots_pfail,
            self.slots_fail,
            self.known_nodes,
            self.size,
            self.current_epoch,
            self.my_epoch
        );
        for (dir, counts) in [
            ("sent", &self.messages_sent),
            ("received", &self.messages_received),
        ] {
            for (i, n) in counts.iter().enumerate() {
                if *n != 0 {
                    s.push_str(&format!(
                        "cluster_stats_messages_{}_{dir}:{n}\r\n",
                        MSG_TYPE_NAMES[i]
                    ));
                }
            }
            let total: u64 = counts.iter().sum();
            s.push_str(&format!("cluster_stats_messages_{dir}:{total}\r\n"));
        }
        s.push_str("total_cluster_links_buffer_limit_exceeded:0\r\n");
        s
    }
}

/// One node with what CLUSTER SLOTS / SHARDS / REPLICAS need beyond its line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeView {
    pub line: NodeLine,
    pub repl_offset: u64,
    pub replicas: Vec<NodeName>,
}

/// One bus link for CLUSTER LINKS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkView {
    pub link: LinkId,
    /// "to" (outbound) or "from" (inbound).
    pub inbound: bool,
    pub node: Option<NodeName>,
    pub create_time_ms: u64,
}

impl ClusterCore {
    pub fn info(&self) -> ClusterInfo {
        let (mut assigned, mut ok, mut pfail, mut fail) = (0, 0, 0, 0);
        for owner in self.slots.iter().flatten() {
            assigned += 1;
            match self.nodes.get(owner) {
                Some(n) if n.failed() => fail += 1,
                Some(n) if n.timed_out() => pfail += 1,
                _ => ok += 1,
            }
        }
        ClusterInfo {
            state_ok: self.state_ok,
            slots_assigned: assigned,
            slots_ok: ok,
            slots_pfail: pfail,
            slots_fail: fail,
            known_nodes: self.nodes.len(),
            size: self.size,
            current_epoch: self.current_epoch,
            my_epoch: self.node_epoch(self.myself),
            messages_sent: self.stats_sent,
            messages_received: self.stats_received,
        }
    }

    /// A replica shows its master's configEpoch (`nodeEpoch`).
    fn node_epoch(&self, id: NodeId) -> u64 {
        let n = &self.nodes[&id];
        match n.slaveof.and_then(|m| self.nodes.get(&m)) {
            Some(m) if n.is_replica() => m.config_epoch,
            _ => n.config_epoch,
        }
    }

    fn node_line(&self, id: NodeId) -> NodeLine {
        let n = &self.nodes[&id];
        let mine = id == self.myself;
        let named = |m: &BTreeMap<u16, NodeId>| -> Vec<(u16, NodeName)> {
            if !mine {
                return Vec::new();
            }
            m.iter()
                .filter_map(|(s, n)| self.nodes.get(n).map(|n| (*s, n.name)))
                .collect()
        };
        NodeLine {
            name: n.name,
            ip: n.ip.clone(),
            port: n.port,
            cport: n.cport,
            hostname: n.hostname.clone(),
            flags: n.flags,
            master: n.slaveof.and_then(|m| self.nodes.get(&m)).map(|m| m.name),
            ping_sent_ms: n.ping_sent_ms,
            pong_recv_ms: n.pong_received_ms,
            config_epoch: self.node_epoch(id),
            link_connected: mine || n.link.is_some(),
            slots: slot_ranges(&n.slots),
            migrating: named(&self.migrating),
            importing: named(&self.importing),
        }
    }

    /// CLUSTER NODES lines (handshake nodes included), in table order.
    pub fn node_lines(&self) -> Vec<NodeLine> {
        self.nodes.keys().map(|id| self.node_line(*id)).collect()
    }

    pub fn node_views(&self) -> Vec<NodeView> {
        self.nodes
            .keys()
            .map(|id| {
                let n = &self.nodes[id];
                NodeView {
                    line: self.node_line(*id),
                    repl_offset: if *id == self.myself {
                        self.repl.offset
                    } else {
                        n.repl_offset
                    },
                    replicas: n
                        .replicas
                        .iter()
                        .filter_map(|r| self.nodes.get(r).map(|r| r.name))
                        .collect(),
                }
            })
            .collect()
    }

    /// CLUSTER REPLICAS `node`.
    pub fn replicas(&self, node: &[u8]) -> Result<Vec<NodeLine>, ClusterError> {
        let Some(id) = self.lookup_text(node) else {
            return Err(ClusterError::UnknownNode(
                String::from_utf8_lossy(node).into_owned(),
            ));
        };
        if self.nodes[&id].is_replica() {
            return Err(ClusterError::NotAMaster);
        }
        Ok(self.nodes[&id]
            .replicas
            .iter()
            .filter(|r| self.nodes.contains_key(r))
            .map(|r| self.node_line(*r))
            .collect())
    }

    pub fn links(&self) -> Vec<LinkView> {
        self.links
            .iter()
            .map(|(id, l)| LinkView {
                link: *id,
                inbound: l.inbound,
                node: l.node.and_then(|n| self.nodes.get(&n)).map(|n| n.name),
                create_time_ms: l.ctime_ms,
            })
            .collect()
    }

    pub fn routing(&self) -> RoutingSnapshot {
        let mut index = BTreeMap::new();
        let mut nodes = Vec::new();
        for (id, n) in &self.nodes {
            if n.in_handshake() {
                continue;
            }
            index.insert(*id, nodes.len());
            nodes.push(RouteNode {
                name: n.name,
                ip: n.ip.clone(),
                port: n.port,
                pport: n.pport,
                hostname: n.hostname.clone(),
                is_master: n.is_master(),
                master: None,
                failed: n.failed(),
                pfail: n.timed_out(),
            });
        }
        for (id, n) in &self.nodes {
            if let (Some(&i), Some(m)) = (index.get(id), n.slaveof) {
                if n.is_replica() {
                    nodes[i].master = index.get(&m).copied();
                }
            }
        }
        let slots = self
            .slots
            .iter()
            .map(|o| {
                o.and_then(|o| index.get(&o))
                    .map_or(u32::MAX, |&i| i as u32)
            })
            .collect();
        let open = |m: &BTreeMap<u16, NodeId>| {
            m.iter()
                .filter_map(|(s, n)| index.get(n).map(|&i| (*s, i)))
                .collect()
        };
        RoutingSnapshot {
            ok: self.state_ok,
            myself: index[&self.myself],
            nodes,
            slots,
            importing: open(&self.importing),
            migrating: open(&self.migrating),
        }
    }

    /// Slot → owner name, as this node sees it (tests, CLUSTER SLOTS).
    pub fn slot_owner(&self, slot: u16) -> Option<NodeName> {
        self.slots
            .get(slot as usize)
            .copied()
            .flatten()
            .and_then(|o| self.nodes.get(&o))
            .map(|n| n.name)
    }

    /// Flags of a node by name (tests, admin views).
    pub fn node_flags(&self, name: &NodeName) -> Option<u16> {
        self.lookup(name).map(|id| self.nodes[&id].flags)
    }

    /// The slots a node serves, by name.
    pub fn slots_of(&self, name: &NodeName) -> Option<&crate::msg::SlotBitmap> {
        Some(&self.nodes[&self.lookup(name)?].slots)
    }

    /// The master of a replica by name (None for masters and unknown nodes).
    pub fn master_of(&self, name: &NodeName) -> Option<NodeName> {
        let node = &self.nodes[&self.lookup(name)?];
        if !node.is_replica() {
            return None;
        }
        node.slaveof
            .and_then(|m| self.nodes.get(&m))
            .map(|m| m.name)
    }

    pub fn known_nodes(&self) -> usize {
        self.nodes.len()
    }

    /// nodes.conf content: every node but those in handshake, plus epochs.
    pub fn to_nodes_conf(&self) -> NodesConf {
        NodesConf {
            nodes: self
                .nodes
                .iter()
                .filter(|(_, n)| !n.in_handshake())
                .map(|(id, _)| self.node_line(*id))
                .collect(),
            current_epoch: self.current_epoch,
            last_vote_epoch: self.last_vote_epoch,
        }
    }

    /// Rebuild the core from nodes.conf (`clusterLoadConfig`): exactly one
    /// line must be `myself`; unknown masters get placeholder nodes.
    pub fn from_nodes_conf(
        conf: &NodesConf,
        cfg: Config,
        now_ms: u64,
    ) -> Result<ClusterCore, String> {
        let mine: Vec<&NodeLine> = conf
            .nodes
            .iter()
            .filter(|l| l.flags & flags::MYSELF != 0)
            .collect();
        if mine.len() != 1 {
            return Err(format!("expected one myself line, found {}", mine.len()));
        }
        let rng = Rng::new(cfg.rng_seed);
        let mut core = ClusterCore::empty(cfg, rng, now_ms);
        for line in &conf.nodes {
            if parse_node_name(&line.name).is_none() {
                return Err("invalid node name".into());
            }
            if core.lookup(&line.name).is_some() {
                return Err("duplicate node".into());
            }
            let keep = !(flags::HANDSHAKE | flags::MEET);
            let mut node = Node::new(line.name, line.flags & keep, now_ms);
            node.ip = line.ip.clone();
            node.port = line.port;
            node.cport = line.cport;
            node.hostname = line.hostname.clone();
            node.config_epoch = line.config_epoch;
            node.ping_sent_ms = if line.ping_sent_ms != 0 { now_ms } else { 0 };
            node.pong_received_ms = if line.pong_recv_ms != 0 { now_ms } else { 0 };
            let id = core.add_node(node);
            if line.flags & flags::MYSELF != 0 {
                core.myself = id;
            }
        }
        for line in &conf.nodes {
            let id = core.lookup(&line.name).expect("added above");
            if let Some(m) = line.master {
                let mid = match core.lookup(&m) {
                    Some(mid) => mid,
                    None => core.add_node(Node::new(m, 0, now_ms)),
                };
                if mid != id {
                    core.nodes.get_mut(&id).expect("added").slaveof = Some(mid);
                    core.add_replica(mid, id);
                }
            }
            for &(a, b) in &line.slots {
                if a > b || b as usize >= crate::SLOT_COUNT {
                    return Err("invalid slot range".into());
                }
                for s in a..=b {
                    core.del_slot(s);
                    core.add_slot(id, s);
                }
            }
            if id == core.myself {
                for (s, n) in &line.importing {
                    if let Some(n) = core.lookup(n) {
                        core.importing.insert(*s, n);
                    }
                }
                for (s, n) in &line.migrating {
                    if let Some(n) = core.lookup(n) {
                        core.migrating.insert(*s, n);
                    }
                }
            }
        }
        core.apply_myself_config();
        core.me_mut().flags &= !(flags::PFAIL | flags::FAIL | flags::NOADDR);
        let max_epoch = core
            .nodes
            .values()
            .map(|n| n.config_epoch)
            .max()
            .unwrap_or(0);
        core.current_epoch = conf.current_epoch.max(max_epoch);
        core.last_vote_epoch = conf.last_vote_epoch;
        core.reported.my_slots = core.me().slots.clone();
        core.todo.update_state = true;
        Ok(core)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_conf_round_trips_through_the_core() {
        let mut c = ClusterCore::new(Config::with_port(7000, 21), 1_000);
        c.add_slots(&[0, 1, 2, 10], 1_000).unwrap();
        c.set_config_epoch(3, 1_000).unwrap();
        let conf = c.to_nodes_conf();
        assert_eq!(conf.nodes[0].slots, vec![(0, 2), (10, 10)]);
        let d = ClusterCore::from_nodes_conf(&conf, Config::with_port(7000, 22), 2_000).unwrap();
        assert_eq!(d.my_name(), c.my_name());
        assert_eq!(d.my_slots(), c.my_slots());
        assert_eq!(d.current_epoch(), 3);
        assert_eq!(d.to_nodes_conf().nodes[0].slots, conf.nodes[0].slots);
    }

    #[test]
    fn nodes_conf_text_round_trips_a_replica() {
        let mut m = ClusterCore::new(Config::with_port(7000, 25), 1_000);
        m.add_slots(&[1, 2, 3], 1_000).unwrap();
        let mut conf = m.to_nodes_conf();
        // Pretend we are a replica of `m` that knows it.
        let mut me = ClusterCore::new(Config::with_port(7001, 26), 1_000).to_nodes_conf();
        me.nodes[0].master = Some(m.my_name());
        me.nodes[0].flags = flags::MYSELF | flags::SLAVE;
        conf.nodes[0].flags = flags::MASTER;
        conf.nodes.push(me.nodes[0].clone());
        conf.current_epoch = 7;
        conf.last_vote_epoch = 6;
        let text = conf.format();
        let parsed = NodesConf::parse(&text).unwrap();
        let core =
            ClusterCore::from_nodes_conf(&parsed, Config::with_port(7001, 27), 2_000).unwrap();
        assert!(!core.is_master());
        assert_eq!(core.slot_owner(2), Some(m.my_name()));
        assert_eq!(core.current_epoch(), 7);
        assert_eq!(core.last_vote_epoch(), 6);
        let text = core.to_nodes_conf().format();
        assert_eq!(NodesConf::parse(&text).unwrap().format(), text);
    }

    #[test]
    fn info_counts_slots_and_renders_crlf() {
        let mut c = ClusterCore::new(Config::with_port(7000, 23), 1_000);
        c.add_slots(&[5, 6], 1_000).unwrap();
        let info = c.info();
        assert_eq!(info.slots_assigned, 2);
        assert_eq!(info.slots_ok, 2);
        let text = info.render();
        assert!(text.starts_with("cluster_state:fail\r\ncluster_slots_assigned:2\r\n"));
        assert!(text.contains("cluster_stats_messages_sent:0\r\n"));
    }

    #[test]
    fn routing_snapshot_maps_slots_to_myself() {
        let mut c = ClusterCore::new(Config::with_port(7000, 24), 1_000);
        c.add_slots(&[7], 1_000).unwrap();
        let r = c.routing();
        assert_eq!(r.owner(7).map(|n| n.name), Some(c.my_name()));
        assert!(r.owner(8).is_none());
    }
}
