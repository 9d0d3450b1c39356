//! Replica promotion: the election a replica of a FAIL master runs
//! (`clusterHandleSlaveFailover`, rank by offset, delayed start,
//! FAILOVER_AUTH_REQUEST, majority of slot masters), the master side's vote
//! (`clusterSendFailoverAuthIfNeeded`: one vote per epoch, node_timeout*2
//! per failed master, no vote against newer slot claims; persisted before
//! it leaves), taking over the master's slots, and replica migration to
//! orphaned masters (`clusterHandleSlaveMigration`).

use crate::msg::{flags, mflags, Body, Header, Message, MsgType};

use super::nodes::NodeId;
use super::{ClusterCore, REPLICA_MIGRATION_DELAY_MS};

/// When a replica of a FAILed master asks for votes: after a fixed delay,
/// a random part (so replicas of one master, and elections for different
/// masters, rarely pick the same moment and epoch) and a step per rank (the
/// replica with the most data goes first). Redis waits 500 ms + 0..500 ms +
/// rank × 1000 ms so that the FAIL broadcast reaches every master before
/// the request (a master refuses to vote for the replica of a master it
/// does not flag FAIL, and Redis's replica then waits auth_retry, 4 × node
/// timeout, for its next try). Shoal re-sends the request every
/// ELECTION_RESEND_MS to the masters that have not voted yet, in the same
/// epoch, while the election runs (a master that refused for want of the
/// FAIL votes once the FAIL reached it; one that voted, or that voted for
/// another candidate in this epoch, still refuses: one vote per master per
/// epoch is the voter's rule, not the candidate's). That makes waiting for
/// the FAIL to spread unnecessary, so the fixed part is 100 ms. The random
/// part is 0..250 ms for each slot master flagged FAIL (one election per
/// failed master may be starting at once; two candidates that ask within a
/// network delay of each other pick the same epoch and split the votes, and
/// one whose request reaches a voter after a later candidate's higher epoch
/// is refused, so concurrent elections need Redis's spread, single ones do
/// not), and the rank step 500 ms. Safety never depends on these; the
/// simulator (cluster/tests/sim.rs) checks elections under loss, delay and
/// partitions, including the two-sided partition (two masters failed at
/// once) that a fixed 0..100 ms spread failed to heal (seed 42 of 60, and
/// with a fixed 0..200 ms spread seed 177 of 200).
pub(crate) const ELECTION_FIXED_DELAY_MS: u64 = 100;
pub(crate) const ELECTION_RANDOM_DELAY_MS: u64 = 250;
pub(crate) const ELECTION_RANK_DELAY_MS: u64 = 500;
/// How often a running election asks the masters that have not voted again.
pub(crate) const ELECTION_RESEND_MS: u64 = 100;

impl ClusterCore {
    /// `clusterGetSlaveRank`: how many sibling replicas have a greater offset.
    pub(crate) fn replica_rank(&self) -> usize {
        let Some(master) = self.me().slaveof.and_then(|m| self.nodes.get(&m)) else {
            return 0;
        };
        let my_offset = self.repl.offset;
        master
            .replicas
            .iter()
            .filter(|r| **r != self.myself)
            .filter_map(|r| self.nodes.get(r))
            .filter(|r| !r.has(flags::NOFAILOVER) && r.repl_offset > my_offset)
            .count()
    }

    /// Masters with slots flagged FAIL: how many elections may be starting
    /// at once (each replaces one of them).
    fn failed_slot_masters(&self) -> u64 {
        self.nodes
            .values()
            .filter(|n| n.is_master() && n.numslots > 0 && n.failed())
            .count() as u64
    }

    /// Milliseconds since the replica last heard from its master, minus
    /// the node timeout (as Redis measures it).
    fn data_age_ms(&self) -> u64 {
        let age = self.now_ms.saturating_sub(self.repl.master_link_since_ms);
        if age > self.cfg.node_timeout_ms {
            age - self.cfg.node_timeout_ms
        } else {
            age
        }
    }

    pub(crate) fn handle_replica_failover(&mut self) {
        let now = self.now_ms;
        let auth_age = now.saturating_sub(self.election.auth_time_ms);
        let needed = self.size / 2 + 1;
        let manual = self.mf.end_ms != 0 && self.mf.can_start;
        let auth_timeout = (self.cfg.node_timeout_ms * 2).max(2000);
        let auth_retry = auth_timeout * 2;
        let me = self.me();
        let Some(master) = me.slaveof.and_then(|m| self.nodes.get(&m)) else {
            return;
        };
        if me.is_master()
            || (!master.failed() && !manual)
            || (self.cfg.replica_no_failover && !manual)
            || master.numslots == 0
        {
            return;
        }
        let validity = self.cfg.repl_ping_replica_period_ms
            + self.cfg.node_timeout_ms * self.cfg.replica_validity_factor;
        if self.cfg.replica_validity_factor != 0 && self.data_age_ms() > validity && !manual {
            return;
        }
        if auth_age > auth_retry {
            let rank = self.replica_rank();
            let spread = ELECTION_RANDOM_DELAY_MS * self.failed_slot_masters().max(1);
            self.election.auth_time_ms = now
                + ELECTION_FIXED_DELAY_MS
                + self.rng.below(spread)
                + rank as u64 * ELECTION_RANK_DELAY_MS;
            self.election.voters.clear();
            self.election.auth_sent = false;
            self.election.auth_rank = rank;
            if self.mf.end_ms != 0 {
                self.election.auth_time_ms = now;
                self.election.auth_rank = 0;
                self.todo.handle_failover = true;
            }
            self.broadcast_pong(true);
            return;
        }
        if !self.election.auth_sent && self.mf.end_ms == 0 {
            let rank = self.replica_rank();
            if rank > self.election.auth_rank {
                let added = (rank - self.election.auth_rank) as u64 * ELECTION_RANK_DELAY_MS;
                self.election.auth_time_ms += added;
                self.election.auth_rank = rank;
            }
        }
        if now < self.election.auth_time_ms || auth_age > auth_timeout {
            return;
        }
        if !self.election.auth_sent {
            self.current_epoch = self.current_epoch.saturating_add(1);
            self.election.auth_epoch = self.current_epoch;
            self.election.auth_sent = true;
            self.request_failover_auth();
            self.save_config(true);
            self.todo.update_state = true;
            return;
        }
        if self.election.voters.len() >= needed {
            if self.me().config_epoch < self.election.auth_epoch {
                let epoch = self.election.auth_epoch;
                self.me_mut().config_epoch = epoch;
            }
            self.replace_my_master();
            return;
        }
        if now.saturating_sub(self.election.requested_ms) >= ELECTION_RESEND_MS
            && self.current_epoch == self.election.auth_epoch
        {
            self.resend_failover_auth();
        }
    }

    fn auth_request(&self) -> Message {
        let mut header = self.build_header(MsgType::FailoverAuthRequest);
        if self.mf.end_ms != 0 {
            header.mflags[0] |= mflags::FORCEACK;
        }
        Message {
            header,
            body: Body::Empty,
        }
    }

    fn request_failover_auth(&mut self) {
        self.election.requested_ms = self.now_ms;
        let msg = self.auth_request();
        self.broadcast(&msg);
    }

    /// The same request (same epoch) again, to the slot masters that have
    /// not voted for it yet.
    fn resend_failover_auth(&mut self) {
        self.election.requested_ms = self.now_ms;
        let my_master = self.me().slaveof;
        let msg = self.auth_request();
        for id in self.node_ids() {
            let node = &self.nodes[&id];
            if id == self.myself
                || Some(id) == my_master
                || !node.is_master()
                || node.numslots == 0
                || node.failed()
                || self.election.voters.contains(&id)
            {
                continue;
            }
            let link = node.link;
            self.send(link, msg.clone());
        }
    }

    pub(crate) fn failover_auth_ack_received(&mut self, sender: NodeId, sender_current_epoch: u64) {
        let Some(node) = self.nodes.get(&sender) else {
            return;
        };
        if node.is_master()
            && node.numslots > 0
            && sender_current_epoch >= self.election.auth_epoch
            && self.election.auth_sent
        {
            self.election.voters.insert(sender);
            self.todo.handle_failover = true;
        }
    }

    /// The voter's side.
    pub(crate) fn send_failover_auth_if_needed(&mut self, requester: NodeId, request: &Header) {
        let me = self.me();
        if me.is_replica() || me.numslots == 0 {
            return;
        }
        if request.current_epoch < self.current_epoch {
            return;
        }
        if self.last_vote_epoch == self.current_epoch {
            return;
        }
        let Some(node) = self.nodes.get(&requester) else {
            return;
        };
        let force_ack = request.mflags[0] & mflags::FORCEACK != 0;
        let Some(master_id) = node.slaveof.filter(|_| !node.is_master()) else {
            return;
        };
        let Some(master) = self.nodes.get(&master_id) else {
            return;
        };
        if !master.failed() && !force_ack {
            return;
        }
        if self.now_ms.saturating_sub(master.voted_time_ms) < self.cfg.node_timeout_ms * 2 {
            return;
        }
        for slot in request.slots.iter() {
            if self.slot_unclaimed(slot) {
                continue;
            }
            let Some(owner) = self.slots[slot as usize] else {
                continue;
            };
            if self
                .nodes
                .get(&owner)
                .is_some_and(|o| o.config_epoch > request.config_epoch)
            {
                // As Valkey does: tell the replica the newer configuration,
                // or it could never win (its master may have died before
                // announcing a bumped epoch to it).
                let link = self.nodes[&requester].link;
                self.send_update(link, owner);
                return;
            }
        }
        self.last_vote_epoch = self.current_epoch;
        let now = self.now_ms;
        self.nodes
            .get_mut(&master_id)
            .expect("exists")
            .voted_time_ms = now;
        // Persisted before the ack leaves: `finish` puts SaveConfig first.
        self.save_config(true);
        let msg = Message {
            header: self.build_header(MsgType::FailoverAuthAck),
            body: Body::Empty,
        };
        let link = self.nodes[&requester].link;
        self.send(link, msg);
    }

    /// `clusterFailoverReplaceYourMaster`.
    pub(crate) fn replace_my_master(&mut self) {
        let me = self.myself;
        let Some(old) = self.me().slaveof else { return };
        if self.myself_is_master() {
            return;
        }
        self.set_node_as_master(me);
        let slots: Vec<u16> = self
            .nodes
            .get(&old)
            .map(|n| n.slots.iter().collect())
            .unwrap_or_default();
        for slot in slots {
            self.del_slot(slot);
            self.add_slot(me, slot);
        }
        self.update_state();
        self.save_config(true);
        self.broadcast_pong(false);
        self.reset_manual_failover();
        // The election is over: nothing of it may count in a later one.
        self.election = Default::default();
    }

    /// `clusterHandleSlaveMigration`: the replica with the smallest name
    /// among the best-covered master's replicas moves to an orphaned master
    /// that has been orphaned for a while, keeping the migration barrier.
    pub(crate) fn handle_replica_migration(&mut self, max_replicas: usize) {
        if !self.state_ok {
            return;
        }
        let Some(my_master) = self.me().slaveof else {
            return;
        };
        let ok_replicas = self.nodes.get(&my_master).map_or(0, |m| {
            m.replicas
                .iter()
                .filter_map(|r| self.nodes.get(r))
                .filter(|r| !r.failed() && !r.timed_out())
                .count()
        });
        if ok_replicas <= self.cfg.migration_barrier {
            return;
        }
        let now = self.now_ms;
        let mut candidate = self.myself;
        let mut target = None;
        for id in self.node_ids() {
            let node = &self.nodes[&id];
            let ok = if node.is_master() {
                self.count_non_failing_replicas(id)
            } else {
                0
            };
            let orphaned =
                !node.is_replica() && !node.failed() && node.has(flags::MIGRATE_TO) && ok == 0;
            if orphaned {
                if target.is_none() && node.numslots > 0 {
                    target = Some(id);
                }
                let node = self.nodes.get_mut(&id).expect("listed");
                if node.orphaned_time_ms == 0 {
                    node.orphaned_time_ms = now;
                }
            } else {
                self.nodes.get_mut(&id).expect("listed").orphaned_time_ms = 0;
            }
            if ok == max_replicas {
                for r in self.nodes[&id].replicas.clone() {
                    let cand_name = self.nodes[&candidate].name;
                    if self.nodes.get(&r).is_some_and(|n| n.name < cand_name) {
                        candidate = r;
                    }
                }
            }
        }
        if let Some(t) = target {
            let orphaned_for = now.saturating_sub(self.nodes[&t].orphaned_time_ms);
            if candidate == self.myself && orphaned_for > REPLICA_MIGRATION_DELAY_MS {
                self.set_my_master(t);
                self.save_config(false);
                self.todo.update_state = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::nodes::Node;
    use crate::core::{Config, LinkId, Output};
    use crate::msg::SlotBitmap;

    fn core() -> ClusterCore {
        let mut cfg = Config::with_port(7000, 11);
        cfg.node_timeout_ms = 1000;
        ClusterCore::new(cfg, 1_000_000)
    }

    fn request(from: [u8; 40], current_epoch: u64, slots: SlotBitmap) -> Header {
        let c = core();
        let mut h = c.build_header(MsgType::FailoverAuthRequest);
        h.sender = from;
        h.current_epoch = current_epoch;
        h.config_epoch = 1;
        h.slots = slots;
        h
    }

    /// A voter (master with slot 0) that knows a failed master `m` (slot 1)
    /// and its replica `r` with an outbound link.
    fn voter() -> (ClusterCore, NodeId, NodeId) {
        let mut c = core();
        let me = c.myself;
        c.add_slot(me, 0);
        let m = c.add_node(Node::new([b'm'; 40], flags::MASTER | flags::FAIL, 0));
        c.add_slot(m, 1);
        c.nodes.get_mut(&m).unwrap().config_epoch = 1;
        let r = c.add_node(Node::new([b'r'; 40], flags::SLAVE, 0));
        c.nodes.get_mut(&r).unwrap().slaveof = Some(m);
        c.add_replica(m, r);
        let link = c.new_link(Some(r), false, b"", b"");
        c.links.get_mut(&link).unwrap().connected = true;
        c.nodes.get_mut(&r).unwrap().link = Some(link);
        c.current_epoch = 2;
        (c, m, r)
    }

    #[test]
    fn one_vote_per_epoch_saved_before_the_ack() {
        let (mut c, m, r) = voter();
        c.drain();
        c.begin(1_000_000);
        let slots = c.nodes[&m].slots.clone();
        c.send_failover_auth_if_needed(r, &request([b'r'; 40], 2, slots));
        c.finish();
        let out = c.drain();
        let save = out
            .iter()
            .position(|o| matches!(o, Output::SaveConfig { fsync: true }));
        let ack = out.iter().position(|o| {
            matches!(o,
            Output::Send { msg, .. } if msg.header.kind == MsgType::FailoverAuthAck)
        });
        assert!(save.unwrap() < ack.unwrap());
        assert_eq!(c.last_vote_epoch, 2);
        // Same epoch again: no second vote.
        c.send_failover_auth_if_needed(r, &request([b'r'; 40], 2, SlotBitmap::default()));
        assert!(!c.outputs.iter().any(|o| matches!(o, Output::Send { .. })));
    }

    #[test]
    fn no_vote_while_the_master_is_up_or_against_newer_claims() {
        let (mut c, m, r) = voter();
        c.nodes.get_mut(&m).unwrap().flags &= !flags::FAIL;
        c.send_failover_auth_if_needed(r, &request([b'r'; 40], 2, SlotBitmap::default()));
        assert_eq!(c.last_vote_epoch, 0);
        c.nodes.get_mut(&m).unwrap().flags |= flags::FAIL;
        c.nodes.get_mut(&m).unwrap().config_epoch = 5;
        let mut slots = SlotBitmap::default();
        slots.set(1, true);
        c.send_failover_auth_if_needed(r, &request([b'r'; 40], 2, slots));
        assert_eq!(c.last_vote_epoch, 0);
    }

    /// A replica of a FAIL master: eligible only while its data is fresh.
    fn orphan_replica(master_link_since_ms: u64) -> ClusterCore {
        let mut c = core();
        let m = c.add_node(Node::new([b'm'; 40], flags::MASTER | flags::FAIL, 0));
        c.add_slot(m, 1);
        c.set_my_master(m);
        let other = c.add_node(Node::new([b'o'; 40], flags::MASTER, 0));
        c.add_slot(other, 2);
        c.size = 2;
        c.repl.master_link_up = false;
        c.repl.master_link_since_ms = master_link_since_ms;
        c
    }

    #[test]
    fn a_stale_replica_does_not_run_for_election() {
        // node_timeout 1000, factor 10, ping period 10 s: 21 s of data age.
        let mut fresh = orphan_replica(1_000_000 - 5_000);
        fresh.handle_replica_failover();
        assert!(fresh.election.auth_time_ms > 1_000_000);
        let mut stale = orphan_replica(1_000_000 - 30_000);
        stale.handle_replica_failover();
        assert_eq!(stale.election.auth_time_ms, 0);
    }

    #[test]
    fn the_election_starts_after_the_ranked_delay() {
        let mut c = orphan_replica(1_000_000);
        c.handle_replica_failover();
        let start = c.election.auth_time_ms;
        let earliest = 1_000_000 + ELECTION_FIXED_DELAY_MS;
        assert!(
            (earliest..earliest + ELECTION_RANDOM_DELAY_MS).contains(&start),
            "fixed + random delay, rank 0"
        );
        c.now_ms = start;
        c.handle_replica_failover();
        assert!(c.election.auth_sent);
        assert_eq!(c.current_epoch, 1);
        assert_eq!(c.election.auth_epoch, 1);
    }

    fn requests_sent(c: &mut ClusterCore) -> Vec<LinkId> {
        c.drain()
            .into_iter()
            .filter_map(|o| match o {
                Output::Send { link, msg } if msg.header.kind == MsgType::FailoverAuthRequest => {
                    assert_eq!(msg.header.current_epoch, 1, "same epoch");
                    Some(link)
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_running_election_asks_the_masters_that_have_not_voted_again() {
        let mut c = orphan_replica(1_000_000);
        let o = c.lookup(&[b'o'; 40]).unwrap();
        let link = c.new_link(Some(o), false, b"", b"");
        c.links.get_mut(&link).unwrap().connected = true;
        c.nodes.get_mut(&o).unwrap().link = Some(link);
        c.handle_replica_failover();
        c.now_ms = c.election.auth_time_ms;
        c.handle_replica_failover();
        assert_eq!(requests_sent(&mut c), vec![link]);
        // The voter had not seen the FAIL yet: no ack. Asked again, in the
        // same epoch, once ELECTION_RESEND_MS passed.
        c.now_ms += ELECTION_RESEND_MS - 1;
        c.handle_replica_failover();
        assert!(requests_sent(&mut c).is_empty());
        c.now_ms += 1;
        c.handle_replica_failover();
        assert_eq!(requests_sent(&mut c), vec![link]);
        // A master that voted is not asked again.
        c.failover_auth_ack_received(o, 1);
        c.now_ms += ELECTION_RESEND_MS;
        c.handle_replica_failover();
        assert!(requests_sent(&mut c).is_empty());
        assert!(!c.is_master(), "1 vote of the 2 needed");
    }

    #[test]
    fn a_promotion_leaves_no_election_state_behind() {
        let mut c = orphan_replica(1_000_000);
        let o = c.lookup(&[b'o'; 40]).unwrap();
        c.handle_replica_failover();
        c.now_ms = c.election.auth_time_ms;
        c.handle_replica_failover();
        c.failover_auth_ack_received(o, 1);
        c.size = 1;
        c.handle_replica_failover();
        assert!(c.is_master());
        assert!(!c.election.auth_sent && c.election.voters.is_empty());
        assert_eq!(c.election.auth_time_ms, 0);
    }
}
