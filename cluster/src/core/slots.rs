//! Slot ownership and epochs: rebinding slots to the claim with the greater
//! configEpoch (`clusterUpdateSlotsConfigWith`), configEpoch collisions,
//! bumping without consensus, role changes that follow from losing slots,
//! and the cluster state ok/fail (`clusterUpdateState`).

use crate::msg::{flags, SlotBitmap};

use super::nodes::NodeId;
use super::{ClusterCore, MAX_REJOIN_DELAY_MS, MIN_REJOIN_DELAY_MS, WRITABLE_DELAY_MS};

impl ClusterCore {
    /// `clusterSetNodeAsMaster`.
    pub(crate) fn set_node_as_master(&mut self, id: NodeId) {
        let Some(node) = self.nodes.get(&id) else {
            return;
        };
        if node.is_master() {
            return;
        }
        if let Some(m) = node.slaveof {
            self.remove_replica(m, id);
            if id != self.myself {
                self.nodes.get_mut(&id).expect("exists").flags |= flags::MIGRATE_TO;
            }
        }
        let node = self.nodes.get_mut(&id).expect("exists");
        node.flags &= !flags::SLAVE;
        node.flags |= flags::MASTER;
        node.slaveof = None;
        self.save_config(false);
        self.todo.update_state = true;
    }

    /// `clusterSetMaster`: myself becomes a replica of `master`.
    pub(crate) fn set_my_master(&mut self, master: NodeId) {
        if master == self.myself || !self.nodes.contains_key(&master) {
            return;
        }
        let me = self.myself;
        if self.myself_is_master() {
            let node = self.me_mut();
            node.flags &= !(flags::MASTER | flags::MIGRATE_TO);
            node.flags |= flags::SLAVE;
            self.importing.clear();
            self.migrating.clear();
        } else if let Some(old) = self.me().slaveof {
            self.remove_replica(old, me);
        }
        self.me_mut().slaveof = Some(master);
        self.add_replica(master, me);
        self.reset_manual_failover();
    }

    /// `clusterUpdateSlotsConfigWith`: `sender` claims `slots` with
    /// `config_epoch`; take every slot whose current claim is older.
    pub(crate) fn update_slots_config_with(
        &mut self,
        sender: NodeId,
        config_epoch: u64,
        slots: &SlotBitmap,
    ) {
        if sender == self.myself {
            return;
        }
        let cur_master = if self.myself_is_master() {
            Some(self.myself)
        } else {
            self.me().slaveof
        };
        let mut new_master = None;
        let mut sender_slots = 0usize;
        let mut migrated_our_slots = 0usize;
        for slot in 0..crate::SLOT_COUNT as u16 {
            if slots.get(slot) {
                sender_slots += 1;
                let owner = self.slots[slot as usize];
                if owner == Some(sender) {
                    self.owner_not_claiming.set(slot, false);
                    continue;
                }
                if self.importing.contains_key(&slot) {
                    continue;
                }
                let older = match owner {
                    None => true,
                    Some(o) => {
                        self.owner_not_claiming.get(slot)
                            || self
                                .nodes
                                .get(&o)
                                .is_none_or(|n| n.config_epoch < config_epoch)
                    }
                };
                if older {
                    if owner.is_some() && owner == cur_master {
                        new_master = Some(sender);
                        migrated_our_slots += 1;
                    }
                    self.del_slot(slot);
                    self.add_slot(sender, slot);
                    self.owner_not_claiming.set(slot, false);
                    self.save_config(true);
                    self.todo.update_state = true;
                }
            } else if self.slots[slot as usize] == Some(sender) {
                // Keep the binding (fewer errors for clients) but stop
                // vouching for it in UPDATE messages.
                self.owner_not_claiming.set(slot, true);
            }
        }
        let cur_master_empty = cur_master
            .and_then(|m| self.nodes.get(&m))
            .is_some_and(|m| m.numslots == 0);
        let grandmaster = self
            .me()
            .slaveof
            .and_then(|m| self.nodes.get(&m))
            .and_then(|m| m.slaveof);
        if new_master.is_some()
            && cur_master_empty
            && (self.cfg.allow_replica_migration || sender_slots == migrated_our_slots)
        {
            self.set_my_master(sender);
            self.save_config(true);
            self.todo.update_state = true;
        } else if let Some(gm) = grandmaster.filter(|gm| *gm != self.myself) {
            // A sub-replica: follow the grandmaster.
            self.set_my_master(gm);
            self.save_config(true);
            self.todo.update_state = true;
        }
        // Slots lost while staying master reach the server as SlotsLost.
    }

    /// `clusterHandleConfigEpochCollision`: of two masters with the same
    /// configEpoch, the one with the smaller name takes a new epoch.
    pub(crate) fn handle_config_epoch_collision(&mut self, sender: NodeId) {
        let Some(s) = self.nodes.get(&sender) else {
            return;
        };
        let me = self.me();
        if s.config_epoch != me.config_epoch || !s.is_master() || !me.is_master() {
            return;
        }
        if s.name <= me.name {
            return;
        }
        self.current_epoch = self.current_epoch.saturating_add(1);
        let epoch = self.current_epoch;
        self.me_mut().config_epoch = epoch;
        self.save_config(true);
    }

    fn max_epoch(&self) -> u64 {
        self.nodes
            .values()
            .map(|n| n.config_epoch)
            .max()
            .unwrap_or(0)
            .max(self.current_epoch)
    }

    /// `clusterBumpConfigEpochWithoutConsensus`: true if the epoch changed.
    pub(crate) fn bump_config_epoch_without_consensus(&mut self) -> bool {
        let max = self.max_epoch();
        let mine = self.me().config_epoch;
        if mine == 0 || mine != max {
            self.current_epoch = self.current_epoch.saturating_add(1);
            let epoch = self.current_epoch;
            self.me_mut().config_epoch = epoch;
            self.save_config(true);
            true
        } else {
            false
        }
    }

    /// `clusterUpdateState`: ok unless slots are uncovered (with full
    /// coverage required) or we are in a minority partition; a master waits
    /// before turning ok after start and after rejoining.
    pub(crate) fn update_state(&mut self) {
        let now = self.now_ms;
        let first = *self.first_state_call_ms.get_or_insert(now);
        if self.myself_is_master() && !self.state_ok && now - first < WRITABLE_DELAY_MS {
            return;
        }
        let mut ok = true;
        if self.cfg.require_full_coverage {
            // Every slot is bound to exactly the node whose bitmap has it,
            // so coverage by non-FAIL owners is a sum over the nodes.
            let served: usize = self
                .nodes
                .values()
                .filter(|n| !n.failed())
                .map(|n| n.numslots)
                .sum();
            ok = served == crate::SLOT_COUNT;
        }
        let mut size = 0;
        let mut reachable = 0;
        for node in self.nodes.values() {
            if node.is_master() && node.numslots > 0 {
                size += 1;
                if !node.has(flags::FAIL | flags::PFAIL) {
                    reachable += 1;
                }
            }
        }
        self.size = size;
        if reachable < size / 2 + 1 {
            ok = false;
            self.among_minority_ms = now;
        }
        if ok != self.state_ok {
            let rejoin_delay = self
                .cfg
                .node_timeout_ms
                .clamp(MIN_REJOIN_DELAY_MS, MAX_REJOIN_DELAY_MS);
            if ok && self.myself_is_master() && now - self.among_minority_ms < rejoin_delay {
                return;
            }
            self.state_ok = ok;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::nodes::Node;
    use crate::core::Config;

    fn core() -> ClusterCore {
        let mut cfg = Config::with_port(7000, 5);
        cfg.node_timeout_ms = 1000;
        ClusterCore::new(cfg, 1_000_000)
    }

    fn bitmap(slots: &[u16]) -> SlotBitmap {
        let mut b = SlotBitmap::default();
        for &s in slots {
            b.set(s, true);
        }
        b
    }

    #[test]
    fn newer_epoch_takes_slots_and_the_empty_master_becomes_its_replica() {
        let mut c = core();
        let me = c.myself;
        c.add_slot(me, 1);
        c.me_mut().config_epoch = 1;
        let other = c.add_node(Node::new([b'o'; 40], flags::MASTER, 0));
        c.update_slots_config_with(other, 1, &bitmap(&[1]));
        assert_eq!(c.slots[1], Some(me), "equal epoch does not win");
        c.update_slots_config_with(other, 2, &bitmap(&[1]));
        assert_eq!(c.slots[1], Some(other));
        assert!(c.me().is_replica());
        assert_eq!(c.me().slaveof, Some(other));
    }

    #[test]
    fn importing_slots_are_left_alone() {
        let mut c = core();
        let other = c.add_node(Node::new([b'o'; 40], flags::MASTER, 0));
        c.importing.insert(9, other);
        c.update_slots_config_with(other, 5, &bitmap(&[9]));
        assert_eq!(c.slots[9], None);
    }

    #[test]
    fn the_smaller_name_bumps_on_collision() {
        let mut c = core();
        c.rename_node(c.myself, [b'a'; 40]);
        let other = c.add_node(Node::new([b'b'; 40], flags::MASTER, 0));
        c.current_epoch = 3;
        c.me_mut().config_epoch = 3;
        c.nodes.get_mut(&other).unwrap().config_epoch = 3;
        c.handle_config_epoch_collision(other);
        assert_eq!(c.me().config_epoch, 4);
        assert_eq!(c.current_epoch, 4);
        // The larger name keeps its epoch.
        let mut d = core();
        d.rename_node(d.myself, [b'c'; 40]);
        let other = d.add_node(Node::new([b'b'; 40], flags::MASTER, 0));
        d.nodes.get_mut(&other).unwrap().config_epoch = 0;
        d.handle_config_epoch_collision(other);
        assert_eq!(d.me().config_epoch, 0);
    }

    #[test]
    fn state_needs_coverage_and_a_majority() {
        let mut c = core();
        c.update_state();
        c.now_ms += 10_000;
        c.update_state();
        assert!(!c.state_ok, "no slots assigned");
        for s in 0..crate::SLOT_COUNT as u16 {
            c.add_slot(c.myself, s);
        }
        c.update_state();
        assert!(!c.state_ok, "a master waits out the rejoin delay");
        c.now_ms += 1_001;
        c.update_state();
        assert!(c.state_ok);
        assert_eq!(c.size, 1);
    }
}
