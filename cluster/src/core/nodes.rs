//! The node table: nodes by handle and by name, their links, slot bits,
//! replica lists and failure reports (Redis's `clusterNode`, `clusterAddNode`,
//! `clusterDelNode`, `clusterRenameNode`, `clusterNodeAddFailureReport` …).

use crate::msg::{flags, NodeName, SlotBitmap, NODE_NAME_LEN};

use super::{ClusterCore, LinkId, Output, FAIL_REPORT_VALIDITY_MULT};

/// A stable handle for a node: survives renames (handshake → real name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct NodeId(pub(crate) u32);

#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub(crate) name: NodeName,
    pub(crate) flags: u16,
    pub(crate) ip: Vec<u8>,
    pub(crate) port: u16,
    pub(crate) pport: u16,
    pub(crate) cport: u16,
    pub(crate) hostname: Vec<u8>,
    pub(crate) config_epoch: u64,
    pub(crate) slots: SlotBitmap,
    pub(crate) numslots: usize,
    pub(crate) slaveof: Option<NodeId>,
    pub(crate) replicas: Vec<NodeId>,
    pub(crate) ctime_ms: u64,
    pub(crate) ping_sent_ms: u64,
    pub(crate) pong_received_ms: u64,
    pub(crate) data_received_ms: u64,
    pub(crate) fail_time_ms: u64,
    pub(crate) voted_time_ms: u64,
    pub(crate) repl_offset: u64,
    pub(crate) orphaned_time_ms: u64,
    /// Outbound link (we ping on it) and the inbound one (it pings us).
    pub(crate) link: Option<LinkId>,
    pub(crate) inbound_link: Option<LinkId>,
    /// (reporting master, time of its last report).
    pub(crate) fail_reports: Vec<(NodeId, u64)>,
    pub(crate) last_in_ping_gossip: u64,
}

impl Node {
    pub(crate) fn new(name: NodeName, flags: u16, now_ms: u64) -> Node {
        Node {
            name,
            flags,
            ip: Vec::new(),
            port: 0,
            pport: 0,
            cport: 0,
            hostname: Vec::new(),
            config_epoch: 0,
            slots: SlotBitmap::default(),
            numslots: 0,
            slaveof: None,
            replicas: Vec::new(),
            ctime_ms: now_ms,
            ping_sent_ms: 0,
            pong_received_ms: 0,
            data_received_ms: 0,
            fail_time_ms: 0,
            voted_time_ms: 0,
            repl_offset: 0,
            orphaned_time_ms: 0,
            link: None,
            inbound_link: None,
            fail_reports: Vec::new(),
            last_in_ping_gossip: 0,
        }
    }

    pub(crate) fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }
    pub(crate) fn is_master(&self) -> bool {
        self.has(flags::MASTER)
    }
    pub(crate) fn is_replica(&self) -> bool {
        self.has(flags::SLAVE)
    }
    pub(crate) fn in_handshake(&self) -> bool {
        self.has(flags::HANDSHAKE)
    }
    pub(crate) fn failed(&self) -> bool {
        self.has(flags::FAIL)
    }
    pub(crate) fn timed_out(&self) -> bool {
        self.has(flags::PFAIL)
    }
}

/// One bus connection.
#[derive(Clone, Debug)]
pub(crate) struct Link {
    pub(crate) node: Option<NodeId>,
    pub(crate) inbound: bool,
    /// Outbound links are unusable until `link_up`.
    pub(crate) connected: bool,
    pub(crate) ctime_ms: u64,
    pub(crate) local_ip: Vec<u8>,
    pub(crate) peer_ip: Vec<u8>,
}

/// Node ids as CLUSTER commands accept them: 40 chars of [a-z0-9].
pub(crate) fn parse_node_name(text: &[u8]) -> Option<NodeName> {
    if text.len() != NODE_NAME_LEN {
        return None;
    }
    let mut name = [0u8; NODE_NAME_LEN];
    for (dst, &c) in name.iter_mut().zip(text) {
        if !(c.is_ascii_lowercase() || c.is_ascii_digit()) {
            return None;
        }
        *dst = c;
    }
    Some(name)
}

impl ClusterCore {
    pub(crate) fn add_node(&mut self, node: Node) -> NodeId {
        let id = NodeId(self.next_node_id);
        self.next_node_id += 1;
        self.by_name.insert(node.name, id);
        self.nodes.insert(id, node);
        id
    }

    pub(crate) fn lookup(&self, name: &NodeName) -> Option<NodeId> {
        self.by_name.get(name).copied()
    }

    /// Lookup of a user-supplied node id.
    pub(crate) fn lookup_text(&self, text: &[u8]) -> Option<NodeId> {
        parse_node_name(text).and_then(|n| self.lookup(&n))
    }

    pub(crate) fn node_ids(&self) -> Vec<NodeId> {
        self.nodes.keys().copied().collect()
    }

    pub(crate) fn rename_node(&mut self, id: NodeId, name: NodeName) {
        if let Some(node) = self.nodes.get_mut(&id) {
            self.by_name.remove(&node.name);
            node.name = name;
            self.by_name.insert(name, id);
        }
    }

    /// `clusterDelNode`: unassign its slots, drop its failure reports and
    /// links, detach it from its master and its replicas.
    pub(crate) fn del_node(&mut self, id: NodeId) {
        if id == self.myself || !self.nodes.contains_key(&id) {
            return;
        }
        self.importing.retain(|_, n| *n != id);
        self.migrating.retain(|_, n| *n != id);
        let owned: Vec<u16> = self.nodes[&id].slots.iter().collect();
        for slot in owned {
            self.del_slot(slot);
        }
        for node in self.nodes.values_mut() {
            node.fail_reports.retain(|(by, _)| *by != id);
        }
        let node = self.nodes.remove(&id).expect("checked above");
        self.by_name.remove(&node.name);
        for r in &node.replicas {
            if let Some(rn) = self.nodes.get_mut(r) {
                rn.slaveof = None;
            }
        }
        if let Some(m) = node.slaveof {
            self.remove_replica(m, id);
        }
        for link in [node.link, node.inbound_link].into_iter().flatten() {
            self.close_link(link);
        }
        if self.mf.replica == Some(id) {
            self.reset_manual_failover();
        }
        self.election.voters.remove(&id);
    }

    pub(crate) fn add_replica(&mut self, master: NodeId, replica: NodeId) {
        if let Some(m) = self.nodes.get_mut(&master) {
            if !m.replicas.contains(&replica) {
                m.replicas.push(replica);
                m.flags |= flags::MIGRATE_TO;
            }
        }
    }

    pub(crate) fn remove_replica(&mut self, master: NodeId, replica: NodeId) {
        if let Some(m) = self.nodes.get_mut(&master) {
            if let Some(pos) = m.replicas.iter().position(|r| *r == replica) {
                m.replicas.remove(pos);
                if m.replicas.is_empty() {
                    m.flags &= !flags::MIGRATE_TO;
                }
            }
        }
    }

    pub(crate) fn count_non_failing_replicas(&self, id: NodeId) -> usize {
        self.nodes[&id]
            .replicas
            .iter()
            .filter(|r| self.nodes.get(r).is_some_and(|n| !n.failed()))
            .count()
    }

    // ---- slots ----------------------------------------------------------

    /// `clusterAddSlot`: false when the slot already has an owner.
    pub(crate) fn add_slot(&mut self, id: NodeId, slot: u16) -> bool {
        if self.slots[slot as usize].is_some() {
            return false;
        }
        let masters_have_replicas = self.masters_have_replicas();
        let Some(node) = self.nodes.get_mut(&id) else {
            return false;
        };
        if !node.slots.get(slot) {
            node.slots.set(slot, true);
            node.numslots += 1;
            // A master's first slot makes it a replica-migration target when
            // other masters have replicas (redis/redis#3043).
            if node.numslots == 1 && masters_have_replicas {
                node.flags |= flags::MIGRATE_TO;
            }
        }
        self.slots[slot as usize] = Some(id);
        true
    }

    /// `clusterDelSlot`: false when the slot was unassigned.
    pub(crate) fn del_slot(&mut self, slot: u16) -> bool {
        let Some(owner) = self.slots[slot as usize].take() else {
            return false;
        };
        if let Some(node) = self.nodes.get_mut(&owner) {
            if node.slots.get(slot) {
                node.slots.set(slot, false);
                node.numslots -= 1;
            }
        }
        self.owner_not_claiming.set(slot, false);
        true
    }

    pub(crate) fn del_node_slots(&mut self, id: NodeId) -> usize {
        let owned: Vec<u16> = self.nodes[&id].slots.iter().collect();
        for &slot in &owned {
            self.del_slot(slot);
        }
        owned.len()
    }

    fn masters_have_replicas(&self) -> bool {
        self.nodes
            .values()
            .any(|n| n.is_master() && !n.replicas.is_empty())
    }

    pub(crate) fn slot_unclaimed(&self, slot: u16) -> bool {
        self.slots[slot as usize].is_none() || self.owner_not_claiming.get(slot)
    }

    // ---- failure reports ------------------------------------------------

    /// Record (or refresh) `sender`'s report that `failing` is down; true if
    /// it is a new report.
    pub(crate) fn add_failure_report(&mut self, failing: NodeId, sender: NodeId) -> bool {
        let now = self.now_ms;
        let node = self.nodes.get_mut(&failing).expect("caller looked it up");
        if let Some(r) = node.fail_reports.iter_mut().find(|(by, _)| *by == sender) {
            r.1 = now;
            return false;
        }
        node.fail_reports.push((sender, now));
        true
    }

    pub(crate) fn del_failure_report(&mut self, node: NodeId, sender: NodeId) -> bool {
        let Some(n) = self.nodes.get_mut(&node) else {
            return false;
        };
        let before = n.fail_reports.len();
        n.fail_reports.retain(|(by, _)| *by != sender);
        let removed = n.fail_reports.len() != before;
        if removed {
            self.cleanup_failure_reports(node);
        }
        removed
    }

    pub(crate) fn cleanup_failure_reports(&mut self, node: NodeId) {
        let max_age = self.cfg.node_timeout_ms * FAIL_REPORT_VALIDITY_MULT;
        let now = self.now_ms;
        if let Some(n) = self.nodes.get_mut(&node) {
            n.fail_reports
                .retain(|(_, t)| now.saturating_sub(*t) <= max_age);
        }
    }

    pub(crate) fn failure_reports_count(&mut self, node: NodeId) -> usize {
        self.cleanup_failure_reports(node);
        self.nodes.get(&node).map_or(0, |n| n.fail_reports.len())
    }

    // ---- links ------------------------------------------------------------

    pub(crate) fn new_link(
        &mut self,
        node: Option<NodeId>,
        inbound: bool,
        local_ip: &[u8],
        peer_ip: &[u8],
    ) -> LinkId {
        let id = LinkId(self.next_link_id);
        self.next_link_id += 1;
        self.links.insert(
            id,
            super::nodes::Link {
                node,
                inbound,
                connected: inbound,
                ctime_ms: self.now_ms,
                local_ip: local_ip.to_vec(),
                peer_ip: peer_ip.to_vec(),
            },
        );
        id
    }

    /// Ask the driver to open the outbound link of `id`.
    pub(crate) fn connect_node(&mut self, id: NodeId) {
        let link = self.new_link(Some(id), false, b"", b"");
        let now = self.now_ms;
        let node = self.nodes.get_mut(&id).expect("caller checked");
        node.link = Some(link);
        // Failure detection needs a pending ping while we cannot reach the
        // node; the real PING follows once the link is up.
        if node.ping_sent_ms == 0 {
            node.ping_sent_ms = now;
        }
        let out = Output::Connect {
            link,
            node: node.name,
            ip: node.ip.clone(),
            cport: node.cport,
        };
        self.outputs.push(out);
    }

    /// Drop our side of a link and tell the driver to close it.
    pub(crate) fn close_link(&mut self, link: LinkId) {
        if self.forget_link(link) {
            self.outputs.push(Output::CloseLink { link });
        }
    }

    /// Drop our side of a link (already closed by the driver).
    pub(crate) fn forget_link(&mut self, link: LinkId) -> bool {
        let Some(l) = self.links.remove(&link) else {
            return false;
        };
        if let Some(node) = l.node.and_then(|n| self.nodes.get_mut(&n)) {
            if node.link == Some(link) {
                node.link = None;
            }
            if node.inbound_link == Some(link) {
                node.inbound_link = None;
            }
        }
        true
    }

    pub(crate) fn link_connected(&self, link: Option<LinkId>) -> bool {
        link.and_then(|l| self.links.get(&l))
            .is_some_and(|l| l.connected)
    }

    /// Attach an inbound link to the node it turned out to come from
    /// (`setClusterNodeToInboundClusterLink`).
    pub(crate) fn set_inbound_link(&mut self, id: NodeId, link: LinkId) {
        let old = self.nodes[&id].inbound_link;
        if old == Some(link) {
            return;
        }
        if let Some(old) = old {
            self.close_link(old);
        }
        if let Some(l) = self.links.get_mut(&link) {
            l.node = Some(id);
        }
        if let Some(n) = self.nodes.get_mut(&id) {
            n.inbound_link = Some(link);
        }
    }

    // ---- blacklist --------------------------------------------------------

    pub(crate) fn blacklist_add(&mut self, name: NodeName) {
        self.blacklist_cleanup();
        self.blacklist
            .insert(name, self.now_ms + super::BLACKLIST_TTL_MS);
    }

    pub(crate) fn blacklisted(&mut self, name: &NodeName) -> bool {
        self.blacklist_cleanup();
        self.blacklist.contains_key(name)
    }

    fn blacklist_cleanup(&mut self) {
        let now = self.now_ms;
        self.blacklist.retain(|_, expire| *expire >= now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Config;

    fn core() -> ClusterCore {
        ClusterCore::new(Config::with_port(7000, 3), 1_000)
    }

    #[test]
    fn node_names_must_be_40_lowercase_alnum() {
        assert!(parse_node_name(&[b'a'; 40]).is_some());
        assert!(parse_node_name(&[b'A'; 40]).is_none());
        assert!(parse_node_name(&[b'a'; 39]).is_none());
    }

    #[test]
    fn deleting_a_node_unassigns_its_slots_and_reports() {
        let mut c = core();
        let other = c.add_node(Node::new([b'b'; 40], flags::MASTER, 0));
        assert!(c.add_slot(other, 5));
        assert!(!c.add_slot(c.myself, 5));
        c.add_failure_report(c.myself, other);
        c.del_node(other);
        assert!(c.slots[5].is_none());
        assert!(c.me().fail_reports.is_empty());
        assert!(c.lookup(&[b'b'; 40]).is_none());
    }

    #[test]
    fn failure_reports_expire_after_twice_the_node_timeout() {
        let mut c = core();
        let a = c.add_node(Node::new([b'a'; 40], flags::MASTER, 0));
        let b = c.add_node(Node::new([b'b'; 40], flags::MASTER, 0));
        assert!(c.add_failure_report(a, b));
        assert!(!c.add_failure_report(a, b));
        assert_eq!(c.failure_reports_count(a), 1);
        c.now_ms += c.cfg.node_timeout_ms * 2 + 1;
        assert_eq!(c.failure_reports_count(a), 0);
    }

    #[test]
    fn blacklist_entries_expire() {
        let mut c = core();
        c.blacklist_add([b'z'; 40]);
        assert!(c.blacklisted(&[b'z'; 40]));
        c.now_ms += 60_001;
        assert!(!c.blacklisted(&[b'z'; 40]));
    }
}
