//! Manual failover (CLUSTER FAILOVER [FORCE|TAKEOVER]): the replica sends
//! MFSTART, the master pauses writes and announces its offset in PINGs
//! flagged PAUSED, the replica catches up to that offset and then runs an
//! election whose requests carry FORCEACK; FORCE skips the master, TAKEOVER
//! skips the election too.

use crate::msg::{Body, Message, MsgType};

use super::admin::{ClusterError, FailoverMode};
use super::nodes::NodeId;
use super::{ClusterCore, Event, MF_PAUSE_MULT, MF_TIMEOUT_MS};

impl ClusterCore {
    /// `resetManualFailover`: a paused master resumes writes, at the end of
    /// the step (after the step's routing change is published).
    pub(crate) fn reset_manual_failover(&mut self) {
        if self.mf.replica.is_some() {
            self.unpause_pending = true;
        }
        self.mf = Default::default();
    }

    pub(crate) fn manual_failover_check_timeout(&mut self) {
        if self.mf.end_ms != 0 && self.mf.end_ms < self.now_ms {
            self.reset_manual_failover();
        }
    }

    /// Replica side: may the election start (caught up with the paused
    /// master's offset)?
    pub(crate) fn handle_manual_failover(&mut self) {
        if self.mf.end_ms == 0 || self.mf.can_start {
            return;
        }
        let Some(master_offset) = self.mf.master_offset else {
            return;
        };
        if master_offset == self.repl.offset {
            self.mf.can_start = true;
            self.todo.handle_failover = true;
        } else {
            self.todo.handle_manual_failover = true;
        }
    }

    /// Master side: one of my replicas asked for a manual failover. The
    /// PAUSED pings go out from the next ticks, after the driver has
    /// performed the pause (so the offset they carry is final).
    pub(crate) fn mfstart_received(&mut self, sender: NodeId) {
        if self.nodes.get(&sender).and_then(|n| n.slaveof) != Some(self.myself) {
            return;
        }
        self.reset_manual_failover();
        // A new pause follows at once: no unpause after it.
        self.unpause_pending = false;
        self.mf.end_ms = self.now_ms + MF_TIMEOUT_MS;
        self.mf.replica = Some(sender);
        let until_ms = self.now_ms + MF_TIMEOUT_MS * MF_PAUSE_MULT;
        self.push_event(Event::PauseWrites { until_ms });
    }

    /// CLUSTER FAILOVER [FORCE|TAKEOVER].
    pub fn failover(&mut self, mode: FailoverMode, now_ms: u64) -> Result<(), ClusterError> {
        self.begin(now_ms);
        let r = self.failover_inner(mode);
        self.finish();
        r
    }

    fn failover_inner(&mut self, mode: FailoverMode) -> Result<(), ClusterError> {
        if self.myself_is_master() {
            return Err(ClusterError::FailoverOnMaster);
        }
        let Some(master) = self.me().slaveof.filter(|m| self.nodes.contains_key(m)) else {
            return Err(ClusterError::MasterUnknown);
        };
        let master_link = self.nodes[&master].link;
        if mode == FailoverMode::Default && (self.nodes[&master].failed() || master_link.is_none())
        {
            return Err(ClusterError::MasterDown);
        }
        self.reset_manual_failover();
        // An operator's request starts a fresh election: the state of an
        // earlier one (Redis keeps it for auth_retry, 4 × node timeout)
        // would otherwise count that election's votes, or hold this one
        // back. A new election bumps the epoch, so no vote is reused.
        self.election = Default::default();
        self.mf.end_ms = self.now_ms + MF_TIMEOUT_MS;
        match mode {
            FailoverMode::Takeover => {
                self.bump_config_epoch_without_consensus();
                self.replace_my_master();
            }
            FailoverMode::Force => {
                self.mf.can_start = true;
                self.todo.handle_failover = true;
            }
            FailoverMode::Default => {
                let msg = Message {
                    header: self.build_header(MsgType::MfStart),
                    body: Body::Empty,
                };
                self.send(master_link, msg);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::nodes::Node;
    use crate::core::{Config, Output};
    use crate::msg::flags;

    fn replica() -> (ClusterCore, NodeId) {
        let mut cfg = Config::with_port(7000, 13);
        cfg.node_timeout_ms = 1000;
        let mut c = ClusterCore::new(cfg, 1_000_000);
        let m = c.add_node(Node::new([b'm'; 40], flags::MASTER, 0));
        c.add_slot(m, 3);
        c.set_my_master(m);
        (c, m)
    }

    #[test]
    fn failover_preconditions_use_redis_errors() {
        let mut c = ClusterCore::new(Config::with_port(7000, 1), 0);
        assert_eq!(
            c.failover(FailoverMode::Default, 1)
                .unwrap_err()
                .to_string(),
            "You should send CLUSTER FAILOVER to a replica"
        );
        let (mut c, _) = replica();
        assert_eq!(
            c.failover(FailoverMode::Default, 1_000_001)
                .unwrap_err()
                .to_string(),
            "Master is down or failed, please use CLUSTER FAILOVER FORCE"
        );
    }

    #[test]
    fn takeover_claims_the_slots_with_a_new_epoch() {
        let (mut c, m) = replica();
        c.failover(FailoverMode::Takeover, 1_000_001).unwrap();
        assert!(c.is_master());
        assert_eq!(c.slots[3], Some(c.myself));
        assert_eq!(c.my_config_epoch(), 1);
        assert!(c.nodes[&m].numslots == 0);
        let out = c.drain();
        assert!(matches!(out[0], Output::SaveConfig { fsync: true }));
    }

    #[test]
    fn master_pauses_for_its_replica_and_flags_pings() {
        let mut c = ClusterCore::new(Config::with_port(7000, 2), 1_000_000);
        let r = c.add_node(Node::new([b'r'; 40], flags::SLAVE, 0));
        c.nodes.get_mut(&r).unwrap().slaveof = Some(c.myself);
        c.drain();
        c.begin(1_000_000);
        c.mfstart_received(r);
        assert!(c.outputs.iter().any(|o| matches!(
            o,
            Output::Event(Event::PauseWrites {
                until_ms: 1_010_000
            })
        )));
        // Not PAUSED until an offset taken after the pause is in: the
        // previous tick's offset may miss writes acknowledged since.
        let h = c.build_header(MsgType::Pong);
        assert_eq!(h.mflags[0] & crate::msg::mflags::PAUSED, 0);
        c.set_repl_offset(4242, 1_000_050);
        let h = c.build_header(MsgType::Ping);
        assert_eq!(
            h.mflags[0] & crate::msg::mflags::PAUSED,
            crate::msg::mflags::PAUSED
        );
        assert_eq!(h.offset, 4242);
        c.now_ms += 5001;
        c.manual_failover_check_timeout();
        c.finish();
        assert!(c
            .outputs
            .iter()
            .any(|o| matches!(o, Output::Event(Event::UnpauseWrites))));
    }
}
