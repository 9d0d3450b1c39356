//! The CLUSTER subcommands that change the core's state, with Redis 7.0's
//! preconditions and error texts (`clusterCommand`). Facts the core cannot
//! know (does the keyspace hold keys?) are arguments.

use std::fmt;
use std::net::IpAddr;

use crate::msg::flags;

use super::nodes::{Node, NodeId};
use super::{ClusterCore, Event};

/// CLUSTER FAILOVER's option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailoverMode {
    Default,
    Force,
    Takeover,
}

/// CLUSTER BUMPEPOCH's reply: `+BUMPED <epoch>` or `+STILL <epoch>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BumpResult {
    Bumped(u64),
    Still(u64),
}

/// Errors of the CLUSTER subcommands; `Display` is Redis's text after the
/// `ERR ` prefix (all of them are plain ERR errors).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterError {
    InvalidNodeAddress { ip: String, port: String },
    InvalidSlot,
    SlotBusy(u16),
    SlotUnassigned(u16),
    SlotRepeated(u16),
    StartGreaterThanEnd(u16, u16),
    SetSlotOnReplica,
    NotOwner(u16),
    AlreadyOwner(u16),
    DontKnowNode(String),
    UnknownNode(String),
    TargetNotMaster,
    SlotHasKeys(u16),
    ForgetMyself,
    ForgetMyMaster,
    ReplicateMyself,
    ReplicateReplica,
    ReplicateNotEmpty,
    NotAMaster,
    FailoverOnMaster,
    MasterUnknown,
    MasterDown,
    InvalidConfigEpoch(i64),
    ConfigEpochKnowsOthers,
    ConfigEpochNonZero,
    ResetMasterWithKeys,
    FlushSlotsNotEmpty,
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ClusterError::*;
        match self {
            InvalidNodeAddress { ip, port } => {
                write!(f, "Invalid node address specified: {ip}:{port}")
            }
            InvalidSlot => f.write_str("Invalid or out of range slot"),
            SlotBusy(s) => write!(f, "Slot {s} is already busy"),
            SlotUnassigned(s) => write!(f, "Slot {s} is already unassigned"),
            SlotRepeated(s) => write!(f, "Slot {s} specified multiple times"),
            StartGreaterThanEnd(a, b) => write!(
                f,
                "start slot number {a} is greater than end slot number {b}"
            ),
            SetSlotOnReplica => f.write_str("Please use SETSLOT only with masters."),
            NotOwner(s) => write!(f, "I'm not the owner of hash slot {s}"),
            AlreadyOwner(s) => write!(f, "I'm already the owner of hash slot {s}"),
            DontKnowNode(n) => write!(f, "I don't know about node {n}"),
            UnknownNode(n) => write!(f, "Unknown node {n}"),
            TargetNotMaster => f.write_str("Target node is not a master"),
            SlotHasKeys(s) => write!(
                f,
                "Can't assign hashslot {s} to a different node while I still hold keys for this hash slot."
            ),
            ForgetMyself => f.write_str("I tried hard but I can't forget myself..."),
            ForgetMyMaster => f.write_str("Can't forget my master!"),
            ReplicateMyself => f.write_str("Can't replicate myself"),
            ReplicateReplica => f.write_str("I can only replicate a master, not a replica."),
            ReplicateNotEmpty => f.write_str(
                "To set a master the node must be empty and without assigned slots.",
            ),
            NotAMaster => f.write_str("The specified node is not a master"),
            FailoverOnMaster => f.write_str("You should send CLUSTER FAILOVER to a replica"),
            MasterUnknown => f.write_str("I'm a replica but my master is unknown to me"),
            MasterDown => {
                f.write_str("Master is down or failed, please use CLUSTER FAILOVER FORCE")
            }
            InvalidConfigEpoch(e) => write!(f, "Invalid config epoch specified: {e}"),
            ConfigEpochKnowsOthers => f.write_str(
                "The user can assign a config epoch only when the node does not know any other node.",
            ),
            ConfigEpochNonZero => f.write_str("Node config epoch is already non-zero"),
            ResetMasterWithKeys => {
                f.write_str("CLUSTER RESET can't be called with master nodes containing keys")
            }
            FlushSlotsNotEmpty => f.write_str("DB must be empty to perform CLUSTER FLUSHSLOTS."),
        }
    }
}

impl std::error::Error for ClusterError {}

fn name_text(text: &[u8]) -> String {
    String::from_utf8_lossy(text).into_owned()
}

impl ClusterCore {
    fn admin<T>(&mut self, now_ms: u64, f: impl FnOnce(&mut Self) -> T) -> T {
        self.begin(now_ms);
        let r = f(self);
        self.finish();
        r
    }

    /// CLUSTER MEET `ip` `port` \[`cport`\] (default bus port: port+10000).
    /// Starting a handshake already in progress is not an error.
    pub fn meet(
        &mut self,
        ip: &str,
        port: i64,
        cport: Option<i64>,
        now_ms: u64,
    ) -> Result<(), ClusterError> {
        let cport = cport.unwrap_or(port.saturating_add(10_000));
        let bad = || ClusterError::InvalidNodeAddress {
            ip: ip.to_string(),
            port: port.to_string(),
        };
        let addr: IpAddr = ip.parse().map_err(|_| bad())?;
        let valid = |p: i64| (1..=65535).contains(&p);
        if !valid(port) || !valid(cport) {
            return Err(bad());
        }
        let norm = addr.to_string().into_bytes();
        let (port, cport) = (port as u16, cport as u16);
        self.admin(now_ms, |c| {
            let in_progress = c.nodes.values().any(|n| {
                n.in_handshake()
                    && n.ip.eq_ignore_ascii_case(&norm)
                    && n.port == port
                    && n.cport == cport
            });
            if !in_progress {
                let name = c.rng.node_name();
                let mut node = Node::new(name, flags::HANDSHAKE | flags::MEET, c.now_ms);
                node.ip = norm;
                node.port = port;
                node.cport = cport;
                c.add_node(node);
            }
        });
        Ok(())
    }

    fn check_slots(&self, slots: &[u16], del: bool) -> Result<(), ClusterError> {
        let mut seen = crate::msg::SlotBitmap::default();
        for &slot in slots {
            if slot as usize >= crate::SLOT_COUNT {
                return Err(ClusterError::InvalidSlot);
            }
            let owner = self.slots[slot as usize];
            if del && owner.is_none() {
                return Err(ClusterError::SlotUnassigned(slot));
            }
            if !del && owner.is_some() {
                return Err(ClusterError::SlotBusy(slot));
            }
            if seen.get(slot) {
                return Err(ClusterError::SlotRepeated(slot));
            }
            seen.set(slot, true);
        }
        Ok(())
    }

    /// CLUSTER ADDSLOTS (and ADDSLOTSRANGE once the ranges are expanded).
    pub fn add_slots(&mut self, slots: &[u16], now_ms: u64) -> Result<(), ClusterError> {
        self.check_slots(slots, false)?;
        self.admin(now_ms, |c| {
            for &slot in slots {
                c.importing.remove(&slot);
                c.add_slot(c.myself, slot);
            }
            c.todo.update_state = true;
            c.save_config(false);
        });
        Ok(())
    }

    /// CLUSTER DELSLOTS.
    pub fn del_slots(&mut self, slots: &[u16], now_ms: u64) -> Result<(), ClusterError> {
        self.check_slots(slots, true)?;
        self.admin(now_ms, |c| {
            for &slot in slots {
                c.importing.remove(&slot);
                c.del_slot(slot);
            }
            c.todo.update_state = true;
            c.save_config(false);
        });
        Ok(())
    }

    /// Expand ADDSLOTSRANGE / DELSLOTSRANGE pairs, checking their order.
    pub fn expand_ranges(ranges: &[(u16, u16)]) -> Result<Vec<u16>, ClusterError> {
        let mut out = Vec::new();
        for &(a, b) in ranges {
            if a as usize >= crate::SLOT_COUNT || b as usize >= crate::SLOT_COUNT {
                return Err(ClusterError::InvalidSlot);
            }
            if a > b {
                return Err(ClusterError::StartGreaterThanEnd(a, b));
            }
            out.extend(a..=b);
        }
        Ok(out)
    }

    /// CLUSTER FLUSHSLOTS (`db_empty`: the keyspace holds no keys).
    pub fn flush_slots(&mut self, db_empty: bool, now_ms: u64) -> Result<(), ClusterError> {
        if !db_empty {
            return Err(ClusterError::FlushSlotsNotEmpty);
        }
        self.admin(now_ms, |c| {
            let me = c.myself;
            c.del_node_slots(me);
            c.todo.update_state = true;
            c.save_config(false);
        });
        Ok(())
    }

    fn setslot_target(
        &self,
        slot: u16,
        node: &[u8],
        unknown_is_dont_know: bool,
    ) -> Result<NodeId, ClusterError> {
        if self.myself_is_replica() {
            return Err(ClusterError::SetSlotOnReplica);
        }
        if slot as usize >= crate::SLOT_COUNT {
            return Err(ClusterError::InvalidSlot);
        }
        let Some(id) = self.lookup_text(node) else {
            return Err(if unknown_is_dont_know {
                ClusterError::DontKnowNode(name_text(node))
            } else {
                ClusterError::UnknownNode(name_text(node))
            });
        };
        if self.nodes[&id].is_replica() {
            return Err(ClusterError::TargetNotMaster);
        }
        Ok(id)
    }

    /// CLUSTER SETSLOT `slot` MIGRATING `node`.
    pub fn set_slot_migrating(
        &mut self,
        slot: u16,
        node: &[u8],
        now_ms: u64,
    ) -> Result<(), ClusterError> {
        if self.myself_is_replica() {
            return Err(ClusterError::SetSlotOnReplica);
        }
        if slot as usize >= crate::SLOT_COUNT {
            return Err(ClusterError::InvalidSlot);
        }
        if self.slots[slot as usize] != Some(self.myself) {
            return Err(ClusterError::NotOwner(slot));
        }
        let id = self.setslot_target(slot, node, true)?;
        self.admin(now_ms, |c| {
            c.migrating.insert(slot, id);
            c.todo.update_state = true;
            c.save_config(false);
        });
        Ok(())
    }

    /// CLUSTER SETSLOT `slot` IMPORTING `node`.
    pub fn set_slot_importing(
        &mut self,
        slot: u16,
        node: &[u8],
        now_ms: u64,
    ) -> Result<(), ClusterError> {
        if self.myself_is_replica() {
            return Err(ClusterError::SetSlotOnReplica);
        }
        if slot as usize >= crate::SLOT_COUNT {
            return Err(ClusterError::InvalidSlot);
        }
        if self.slots[slot as usize] == Some(self.myself) {
            return Err(ClusterError::AlreadyOwner(slot));
        }
        let id = self.setslot_target(slot, node, true)?;
        self.admin(now_ms, |c| {
            c.importing.insert(slot, id);
            c.todo.update_state = true;
            c.save_config(false);
        });
        Ok(())
    }

    /// CLUSTER SETSLOT `slot` STABLE.
    pub fn set_slot_stable(&mut self, slot: u16, now_ms: u64) -> Result<(), ClusterError> {
        if self.myself_is_replica() {
            return Err(ClusterError::SetSlotOnReplica);
        }
        if slot as usize >= crate::SLOT_COUNT {
            return Err(ClusterError::InvalidSlot);
        }
        self.admin(now_ms, |c| {
            c.importing.remove(&slot);
            c.migrating.remove(&slot);
            c.todo.update_state = true;
            c.save_config(false);
        });
        Ok(())
    }

    /// CLUSTER SETSLOT `slot` NODE `node` (`slot_has_keys`: keys of the slot
    /// are still stored here).
    pub fn set_slot_node(
        &mut self,
        slot: u16,
        node: &[u8],
        slot_has_keys: bool,
        now_ms: u64,
    ) -> Result<(), ClusterError> {
        let id = self.setslot_target(slot, node, false)?;
        let me = self.myself;
        if self.slots[slot as usize] == Some(me) && id != me && slot_has_keys {
            return Err(ClusterError::SlotHasKeys(slot));
        }
        self.admin(now_ms, |c| {
            if !slot_has_keys {
                c.migrating.remove(&slot);
            }
            let was_mine = c.slots[slot as usize] == Some(me);
            c.del_slot(slot);
            c.add_slot(id, slot);
            if was_mine && id != me && c.me().numslots == 0 && c.cfg.allow_replica_migration {
                c.set_my_master(id);
                c.save_config(true);
            }
            if id == me && c.importing.remove(&slot).is_some() {
                c.bump_config_epoch_without_consensus();
                c.broadcast_pong(false);
            }
            c.todo.update_state = true;
            c.save_config(false);
        });
        Ok(())
    }

    /// CLUSTER FORGET: drop the node and keep it out of gossip for 60 s.
    pub fn forget(&mut self, node: &[u8], now_ms: u64) -> Result<(), ClusterError> {
        let Some(id) = self.lookup_text(node) else {
            return Err(ClusterError::UnknownNode(name_text(node)));
        };
        if id == self.myself {
            return Err(ClusterError::ForgetMyself);
        }
        if self.myself_is_replica() && self.me().slaveof == Some(id) {
            return Err(ClusterError::ForgetMyMaster);
        }
        self.admin(now_ms, |c| {
            let name = c.nodes[&id].name;
            c.blacklist_add(name);
            c.del_node(id);
            c.todo.update_state = true;
            c.save_config(false);
        });
        Ok(())
    }

    /// CLUSTER REPLICATE (`has_keys`: the keyspace is not empty).
    pub fn replicate(
        &mut self,
        node: &[u8],
        has_keys: bool,
        now_ms: u64,
    ) -> Result<(), ClusterError> {
        let Some(id) = self.lookup_text(node) else {
            return Err(ClusterError::UnknownNode(name_text(node)));
        };
        if id == self.myself {
            return Err(ClusterError::ReplicateMyself);
        }
        if self.nodes[&id].is_replica() {
            return Err(ClusterError::ReplicateReplica);
        }
        if self.myself_is_master() && (self.me().numslots != 0 || has_keys) {
            return Err(ClusterError::ReplicateNotEmpty);
        }
        self.admin(now_ms, |c| {
            c.set_my_master(id);
            c.todo.update_state = true;
            c.save_config(false);
        });
        Ok(())
    }

    /// CLUSTER SET-CONFIG-EPOCH.
    pub fn set_config_epoch(&mut self, epoch: i64, now_ms: u64) -> Result<(), ClusterError> {
        if epoch < 0 {
            return Err(ClusterError::InvalidConfigEpoch(epoch));
        }
        if self.nodes.len() > 1 {
            return Err(ClusterError::ConfigEpochKnowsOthers);
        }
        if self.me().config_epoch != 0 {
            return Err(ClusterError::ConfigEpochNonZero);
        }
        self.admin(now_ms, |c| {
            let epoch = epoch as u64;
            c.me_mut().config_epoch = epoch;
            if c.current_epoch < epoch {
                c.current_epoch = epoch;
            }
            c.todo.update_state = true;
            c.save_config(false);
        });
        Ok(())
    }

    /// CLUSTER BUMPEPOCH.
    pub fn bump_epoch(&mut self, now_ms: u64) -> BumpResult {
        self.admin(now_ms, |c| {
            let bumped = c.bump_config_epoch_without_consensus();
            let epoch = c.me().config_epoch;
            if bumped {
                BumpResult::Bumped(epoch)
            } else {
                BumpResult::Still(epoch)
            }
        })
    }

    /// CLUSTER COUNT-FAILURE-REPORTS.
    pub fn count_failure_reports(
        &mut self,
        node: &[u8],
        now_ms: u64,
    ) -> Result<usize, ClusterError> {
        let Some(id) = self.lookup_text(node) else {
            return Err(ClusterError::UnknownNode(name_text(node)));
        };
        Ok(self.admin(now_ms, |c| c.failure_reports_count(id)))
    }

    /// CLUSTER RESET \[HARD\] (`has_keys`: the keyspace is not empty). A
    /// replica turns master and asks the server to flush its data.
    pub fn reset(&mut self, hard: bool, has_keys: bool, now_ms: u64) -> Result<(), ClusterError> {
        if self.myself_is_master() && has_keys {
            return Err(ClusterError::ResetMasterWithKeys);
        }
        self.admin(now_ms, |c| {
            let me = c.myself;
            if c.myself_is_replica() {
                c.set_node_as_master(me);
                c.push_event(Event::FlushData);
            }
            c.importing.clear();
            c.migrating.clear();
            c.reset_manual_failover();
            for slot in 0..crate::SLOT_COUNT as u16 {
                c.del_slot(slot);
            }
            for id in c.node_ids() {
                if id != me {
                    c.del_node(id);
                }
            }
            if hard {
                c.current_epoch = 0;
                c.last_vote_epoch = 0;
                c.me_mut().config_epoch = 0;
                let name = c.rng.node_name();
                c.rename_node(me, name);
            }
            c.todo.update_state = true;
            c.save_config(true);
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Config;

    fn core() -> ClusterCore {
        ClusterCore::new(Config::with_port(7000, 17), 1_000_000)
    }

    #[test]
    fn meet_validates_the_address() {
        let mut c = core();
        let err = c.meet("nonsense", 7001, None, 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid node address specified: nonsense:7001"
        );
        assert!(c.meet("127.0.0.1", 0, None, 1).is_err());
        assert!(
            c.meet("127.0.0.1", 60000, None, 1).is_err(),
            "bus port 70000"
        );
        c.meet("127.0.0.1", 7001, None, 1).unwrap();
        c.meet("127.0.0.1", 7001, None, 1).unwrap();
        assert_eq!(c.nodes.len(), 2, "one handshake per address");
    }

    #[test]
    fn slot_assignment_errors() {
        let mut c = core();
        c.add_slots(&[1, 2], 1).unwrap();
        assert_eq!(
            c.add_slots(&[2], 1).unwrap_err().to_string(),
            "Slot 2 is already busy"
        );
        assert_eq!(
            c.del_slots(&[3], 1).unwrap_err().to_string(),
            "Slot 3 is already unassigned"
        );
        assert_eq!(
            c.add_slots(&[4, 4], 1).unwrap_err().to_string(),
            "Slot 4 specified multiple times"
        );
        assert_eq!(
            ClusterCore::expand_ranges(&[(5, 4)])
                .unwrap_err()
                .to_string(),
            "start slot number 5 is greater than end slot number 4"
        );
        c.del_slots(&[1], 1).unwrap();
        assert_eq!(c.my_slots().count(), 1);
    }

    #[test]
    fn setslot_and_forget_errors() {
        let mut c = core();
        let unknown = [b'f'; 40];
        assert_eq!(
            c.set_slot_importing(1, &unknown, 1)
                .unwrap_err()
                .to_string(),
            format!("I don't know about node {}", "f".repeat(40))
        );
        assert_eq!(
            c.set_slot_migrating(1, &unknown, 1)
                .unwrap_err()
                .to_string(),
            "I'm not the owner of hash slot 1"
        );
        let me = c.my_name();
        assert_eq!(
            c.forget(&me, 1).unwrap_err().to_string(),
            "I tried hard but I can't forget myself..."
        );
        assert_eq!(
            c.replicate(&me, false, 1).unwrap_err().to_string(),
            "Can't replicate myself"
        );
    }

    #[test]
    fn set_config_epoch_only_on_a_fresh_node() {
        let mut c = core();
        c.set_config_epoch(5, 1).unwrap();
        assert_eq!(c.current_epoch(), 5);
        assert_eq!(
            c.set_config_epoch(6, 1).unwrap_err().to_string(),
            "Node config epoch is already non-zero"
        );
        assert_eq!(c.bump_epoch(1), BumpResult::Still(5));
    }

    #[test]
    fn hard_reset_renames_and_zeroes_epochs() {
        let mut c = core();
        c.set_config_epoch(5, 1).unwrap();
        c.add_slots(&[1], 1).unwrap();
        let before = c.my_name();
        c.reset(true, false, 2).unwrap();
        assert_ne!(before, c.my_name());
        assert_eq!(c.current_epoch(), 0);
        assert_eq!(c.my_slots().count(), 0);
    }
}
