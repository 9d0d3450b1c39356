//! The 100 ms tick (`clusterCron`) and failure detection: handshake expiry,
//! reconnecting links, choosing whom to ping, PFAIL after node_timeout
//! without a PONG, FAIL on a majority of masters' reports
//! (`markNodeAsFailingIfNeeded`) and clearing FAIL
//! (`clearNodeFailureIfNeeded`).

use crate::msg::{flags, MsgType};

use super::nodes::NodeId;
use super::{ClusterCore, FAIL_UNDO_TIME_MULT};

impl ClusterCore {
    pub(crate) fn cron(&mut self) {
        self.iteration += 1;
        let now = self.now_ms;
        let timeout = self.cfg.node_timeout_ms;
        let handshake_timeout = timeout.max(1000);
        self.stats_pfail_nodes = 0;
        for id in self.node_ids() {
            let Some(node) = self.nodes.get(&id) else {
                continue;
            };
            if node.has(flags::MYSELF | flags::NOADDR) {
                continue;
            }
            if node.timed_out() {
                self.stats_pfail_nodes += 1;
            }
            if node.in_handshake() && now.saturating_sub(node.ctime_ms) > handshake_timeout {
                self.del_node(id);
                continue;
            }
            if node.link.is_none() && !node.ip.is_empty() {
                self.connect_node(id);
            }
        }
        if self.iteration.is_multiple_of(10) {
            self.ping_oldest_of_five();
        }
        let mut update_state = false;
        let mut orphaned_masters = 0;
        let mut max_replicas = 0;
        let mut my_master_replicas = 0;
        for id in self.node_ids() {
            let Some(node) = self.nodes.get(&id) else {
                continue;
            };
            if node.has(flags::MYSELF | flags::NOADDR | flags::HANDSHAKE) {
                continue;
            }
            if self.myself_is_replica() && node.is_master() && !node.failed() {
                let ok_replicas = self.count_non_failing_replicas(id);
                if ok_replicas == 0 && node.numslots > 0 && node.has(flags::MIGRATE_TO) {
                    orphaned_masters += 1;
                }
                max_replicas = max_replicas.max(ok_replicas);
                if self.me().slaveof == Some(id) {
                    my_master_replicas = ok_replicas;
                }
            }
            if self.cron_node(id) {
                update_state = true;
            }
        }
        self.manual_failover_check_timeout();
        if self.myself_is_replica() {
            self.handle_manual_failover();
            self.handle_replica_failover();
            if orphaned_masters > 0
                && max_replicas >= 2
                && my_master_replicas == max_replicas
                && self.cfg.allow_replica_migration
            {
                self.handle_replica_migration(max_replicas);
            }
        }
        if update_state || !self.state_ok {
            self.update_state();
        }
    }

    /// Every second: ping the node with the oldest PONG among five random
    /// ones that have a link and no ping pending.
    fn ping_oldest_of_five(&mut self) {
        let ids = self.node_ids();
        let mut best: Option<(NodeId, u64)> = None;
        for _ in 0..5 {
            let id = ids[self.rng.below(ids.len() as u64) as usize];
            let node = &self.nodes[&id];
            if !self.link_connected(node.link) || node.ping_sent_ms != 0 {
                continue;
            }
            if node.has(flags::MYSELF | flags::HANDSHAKE) {
                continue;
            }
            if best.is_none_or(|(_, pong)| pong > node.pong_received_ms) {
                best = Some((id, node.pong_received_ms));
            }
        }
        if let Some(link) = best.and_then(|(id, _)| self.nodes[&id].link) {
            self.send_ping(link, MsgType::Ping);
        }
    }

    /// Per-node cron work; true when the node just became PFAIL.
    fn cron_node(&mut self, id: NodeId) -> bool {
        let now = self.now_ms;
        let timeout = self.cfg.node_timeout_ms;
        let node = &self.nodes[&id];
        let ping_delay = now.saturating_sub(node.ping_sent_ms);
        let data_delay = now.saturating_sub(node.data_received_ms);
        // A link that stays silent with a ping pending is probably dead:
        // reconnect rather than wait for TCP to notice.
        if let Some(link) = node.link {
            let link_age = self
                .links
                .get(&link)
                .map_or(0, |l| now.saturating_sub(l.ctime_ms));
            if link_age > timeout
                && node.ping_sent_ms != 0
                && ping_delay > timeout / 2
                && data_delay > timeout / 2
            {
                self.close_link(link);
            }
        }
        let node = &self.nodes[&id];
        if self.link_connected(node.link)
            && node.ping_sent_ms == 0
            && now.saturating_sub(node.pong_received_ms) > timeout / 2
        {
            let link = node.link.expect("connected");
            self.send_ping(link, MsgType::Ping);
            return false;
        }
        if self.mf.end_ms != 0
            && self.myself_is_master()
            && self.mf.replica == Some(id)
            && self.link_connected(node.link)
        {
            let link = node.link.expect("connected");
            self.send_ping(link, MsgType::Ping);
            return false;
        }
        if node.ping_sent_ms == 0 {
            return false;
        }
        let node_delay = ping_delay.min(data_delay);
        if node_delay > timeout && !node.has(flags::PFAIL | flags::FAIL) {
            self.nodes.get_mut(&id).expect("exists").flags |= flags::PFAIL;
            self.stats_pfail_nodes += 1;
            self.suspect_found(id);
            return true;
        }
        false
    }

    /// A node just became PFAIL here. Redis waits for the next gossip to
    /// count reports; two things make the FAIL quorum quicker without
    /// changing what it needs: reports already held from other masters are
    /// counted now (with my own if I am a master), and a master tells the
    /// other slot masters at once (a PING carries every PFAIL node in its
    /// gossip) instead of at their next scheduled ping, up to node_timeout/2
    /// away.
    fn suspect_found(&mut self, suspect: NodeId) {
        // As when a report arrives: only with another master's report in
        // hand (never on my own suspicion alone, even in a slot-less cluster).
        if self.failure_reports_count(suspect) > 0 {
            self.mark_node_as_failing_if_needed(suspect);
        }
        if !self.myself_is_master() || self.me().numslots == 0 || self.nodes[&suspect].failed() {
            return;
        }
        for id in self.node_ids() {
            let node = &self.nodes[&id];
            if id == self.myself
                || id == suspect
                || !node.is_master()
                || node.numslots == 0
                || node.has(flags::PFAIL | flags::FAIL | flags::HANDSHAKE)
            {
                continue;
            }
            if let Some(link) = node.link.filter(|l| self.link_connected(Some(*l))) {
                self.send_ping(link, MsgType::Ping);
            }
        }
    }

    /// PFAIL → FAIL when I see it timed out and a majority of the masters
    /// serving slots (myself included when master) reported it.
    pub(crate) fn mark_node_as_failing_if_needed(&mut self, id: NodeId) {
        let Some(node) = self.nodes.get(&id) else {
            return;
        };
        if !node.timed_out() || node.failed() {
            return;
        }
        let needed = self.size / 2 + 1;
        let mut failures = self.failure_reports_count(id);
        if self.myself_is_master() {
            failures += 1;
        }
        if failures < needed {
            return;
        }
        let now = self.now_ms;
        let node = self.nodes.get_mut(&id).expect("exists");
        node.flags &= !flags::PFAIL;
        node.flags |= flags::FAIL;
        node.fail_time_ms = now;
        let name = node.name;
        self.send_fail(name);
        self.todo.update_state = true;
        if self.me().slaveof == Some(id) {
            self.todo.handle_failover = true;
        }
        self.save_config(false);
    }

    /// A FAIL node answered again: replicas and slot-less masters are
    /// cleared at once, a master with slots only after node_timeout*2
    /// (nobody failed it over meanwhile).
    pub(crate) fn clear_node_failure_if_needed(&mut self, id: NodeId) {
        let now = self.now_ms;
        let undo_ms = self.cfg.node_timeout_ms * FAIL_UNDO_TIME_MULT;
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        if !node.failed() {
            return;
        }
        let clear = if node.is_replica() || node.numslots == 0 {
            true
        } else {
            node.is_master() && now.saturating_sub(node.fail_time_ms) > undo_ms
        };
        if clear {
            node.flags &= !flags::FAIL;
            self.todo.update_state = true;
            self.save_config(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::nodes::Node;
    use crate::core::{Config, LinkId, Output};

    fn core() -> ClusterCore {
        let mut cfg = Config::with_port(7000, 9);
        cfg.node_timeout_ms = 1000;
        ClusterCore::new(cfg, 1_000_000)
    }

    #[test]
    fn unreachable_node_gets_pfail_after_the_node_timeout() {
        let mut c = core();
        let mut n = Node::new([b'p'; 40], flags::MASTER, 1_000_000);
        n.ip = b"10.0.0.9".to_vec();
        n.cport = 17000;
        let id = c.add_node(n);
        c.tick(1_000_100);
        let out = c.drain();
        assert!(out.iter().any(|o| matches!(o, Output::Connect { .. })));
        // The connect never completes; the claimed ping ages.
        c.tick(1_001_050);
        assert!(!c.nodes[&id].timed_out());
        c.tick(1_001_200);
        assert!(c.nodes[&id].timed_out());
    }

    /// Masters `a` (answering) and `b` (a ping unanswered since 1_000_000),
    /// both with connected links, and myself, each with one slot.
    fn three_masters() -> (ClusterCore, NodeId, NodeId, LinkId) {
        let mut c = core();
        let me = c.myself;
        c.add_slot(me, 0);
        let mut ids = Vec::new();
        for (name, slot) in [(b'a', 1), (b'b', 2)] {
            let id = c.add_node(Node::new([name; 40], flags::MASTER, 1_000_000));
            c.add_slot(id, slot);
            let link = c.new_link(Some(id), false, b"", b"");
            c.links.get_mut(&link).unwrap().connected = true;
            let n = c.nodes.get_mut(&id).unwrap();
            n.link = Some(link);
            n.pong_received_ms = 1_001_000;
            ids.push(id);
        }
        c.size = 3;
        let b = c.nodes.get_mut(&ids[1]).unwrap();
        b.ping_sent_ms = 1_000_000;
        b.data_received_ms = 1_000_000;
        let a_link = c.nodes[&ids[0]].link.unwrap();
        c.drain();
        (c, ids[0], ids[1], a_link)
    }

    #[test]
    fn a_master_reports_a_new_suspect_to_the_other_masters_at_once() {
        let (mut c, _a, b, a_link) = three_masters();
        c.tick(1_001_100);
        assert!(c.nodes[&b].timed_out());
        let b_name = c.nodes[&b].name;
        let told = c.drain().into_iter().any(|o| match o {
            Output::Send { link, msg } if link == a_link && msg.header.kind == MsgType::Ping => {
                matches!(&msg.body, crate::msg::Body::Ping { gossip, .. }
                    if gossip.iter().any(|g| g.node == b_name && g.flags & flags::PFAIL != 0))
            }
            _ => false,
        });
        assert!(told, "a PING to the other master carrying the PFAIL");
    }

    #[test]
    fn a_suspect_with_a_report_in_hand_fails_at_once() {
        let (mut c, a, b, _) = three_masters();
        // a reported b before I suspected it myself: a and I are 2 of 3.
        c.add_failure_report(b, a);
        c.tick(1_001_100);
        assert!(c.nodes[&b].failed());
        assert!(c
            .drain()
            .iter()
            .any(|o| matches!(o, Output::Send { msg, .. } if msg.header.kind == MsgType::Fail)));
    }

    #[test]
    fn handshake_nodes_expire() {
        let mut c = core();
        let mut n = Node::new([b'h'; 40], flags::HANDSHAKE, 1_000_000);
        n.ip = b"10.0.0.9".to_vec();
        let id = c.add_node(n);
        c.tick(1_000_500);
        assert!(c.nodes.contains_key(&id));
        c.tick(1_001_100);
        assert!(!c.nodes.contains_key(&id));
    }

    #[test]
    fn fail_needs_a_majority_of_slot_masters() {
        let mut c = core();
        let me = c.myself;
        let a = c.add_node(Node::new([b'a'; 40], flags::MASTER, 0));
        let b = c.add_node(Node::new([b'b'; 40], flags::MASTER, 0));
        c.add_slot(me, 0);
        c.add_slot(a, 1);
        c.add_slot(b, 2);
        c.size = 3;
        c.nodes.get_mut(&b).unwrap().flags |= flags::PFAIL;
        c.mark_node_as_failing_if_needed(b);
        assert!(!c.nodes[&b].failed(), "myself alone is 1 of 3");
        c.add_failure_report(b, a);
        c.mark_node_as_failing_if_needed(b);
        assert!(c.nodes[&b].failed());
        // A master with slots is cleared only after node_timeout*2.
        c.clear_node_failure_if_needed(b);
        assert!(c.nodes[&b].failed());
        c.now_ms += 2001;
        c.clear_node_failure_if_needed(b);
        assert!(!c.nodes[&b].failed());
    }
}
