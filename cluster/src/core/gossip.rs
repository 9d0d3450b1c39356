//! The bus conversation: building headers from myself, PING/PONG/MEET with
//! their gossip sections, and processing every received message type
//! (`clusterBuildMessageHdr`, `clusterSendPing`, `clusterProcessPacket`,
//! `clusterProcessGossipSection`). Peers are untrusted: nothing here panics
//! on message content.

use crate::msg::{
    flags, mflags, Body, Gossip, Header, Message, MsgType, NodeName, PingExt, SlotBitmap, NULL_NAME,
};

use super::nodes::{Node, NodeId};
use super::{ClusterCore, Event, LinkId, Output};

impl ClusterCore {
    /// The header every message carries: myself (or my master's slots and
    /// epoch when I am a replica).
    pub(crate) fn build_header(&self, kind: MsgType) -> Header {
        let me = self.me();
        let master = if me.is_replica() {
            me.slaveof.and_then(|m| self.nodes.get(&m)).unwrap_or(me)
        } else {
            me
        };
        let mut mf = [0u8; 3];
        if me.is_master() && self.mf.end_ms != 0 && self.mf.offset_after_pause {
            mf[0] |= mflags::PAUSED;
        }
        Header {
            kind,
            port: self.cfg.port,
            pport: self.cfg.pport,
            cport: self.cfg.cport,
            current_epoch: self.current_epoch,
            config_epoch: master.config_epoch,
            offset: self.repl.offset,
            sender: me.name,
            slots: master.slots.clone(),
            slaveof: me.slaveof.and_then(|m| self.nodes.get(&m)).map(|m| m.name),
            myip: self.cfg.announce_ip.clone().unwrap_or_default(),
            flags: me.flags,
            state: if self.state_ok { 0 } else { 1 },
            mflags: mf,
        }
    }

    /// Queue `msg` on `link` if it is usable; counts it as sent.
    pub(crate) fn send(&mut self, link: Option<LinkId>, msg: Message) {
        let Some(link) = link else { return };
        if !self.link_connected(Some(link)) {
            return;
        }
        self.stats_sent[msg.header.kind as usize] += 1;
        self.outputs.push(Output::Send { link, msg });
    }

    /// `clusterBroadcastMessage`: every known node with an outbound link.
    pub(crate) fn broadcast(&mut self, msg: &Message) {
        for id in self.node_ids() {
            let node = &self.nodes[&id];
            if id == self.myself || node.in_handshake() {
                continue;
            }
            let link = node.link;
            self.send(link, msg.clone());
        }
    }

    /// `clusterSendPing`: PING, PONG or MEET with `max(3, n/10)` random
    /// gossip entries plus every PFAIL node.
    pub(crate) fn send_ping(&mut self, link: LinkId, kind: MsgType) {
        let Some(l) = self.links.get(&link) else {
            return;
        };
        if !l.connected {
            return;
        }
        let (inbound, target) = (l.inbound, l.node);
        self.pings_built += 1;
        let round = self.pings_built;
        if !inbound && kind == MsgType::Ping {
            if let Some(n) = target.and_then(|t| self.nodes.get_mut(&t)) {
                n.ping_sent_ms = self.now_ms;
            }
        }
        let total = self.nodes.len();
        let mut fresh = total.saturating_sub(2);
        let wanted = (total / 10).max(3).min(fresh);
        let ids = self.node_ids();
        let mut gossip = Vec::with_capacity(wanted + self.stats_pfail_nodes);
        let mut tries = wanted * 3;
        while fresh > 0 && gossip.len() < wanted && tries > 0 {
            tries -= 1;
            let id = ids[self.rng.below(ids.len() as u64) as usize];
            if id == self.myself {
                continue;
            }
            let node = &self.nodes[&id];
            if node.timed_out() {
                continue;
            }
            if node.has(flags::HANDSHAKE | flags::NOADDR)
                || (node.link.is_none() && node.numslots == 0)
            {
                fresh -= 1;
                continue;
            }
            if node.last_in_ping_gossip == round {
                continue;
            }
            gossip.push(gossip_entry(node));
            fresh -= 1;
            self.nodes.get_mut(&id).expect("listed").last_in_ping_gossip = round;
        }
        let mut pfail_wanted = self.stats_pfail_nodes;
        for id in &ids {
            if pfail_wanted == 0 {
                break;
            }
            let node = &self.nodes[id];
            if node.has(flags::HANDSHAKE | flags::NOADDR) || !node.timed_out() {
                continue;
            }
            gossip.push(gossip_entry(node));
            pfail_wanted -= 1;
        }
        let mut exts = Vec::new();
        if !self.cfg.hostname.is_empty() {
            exts.push(PingExt::Hostname(self.cfg.hostname.clone()));
        }
        let msg = Message {
            header: self.build_header(kind),
            body: Body::Ping { gossip, exts },
        };
        self.send(Some(link), msg);
    }

    /// `clusterBroadcastPong`: to everyone, or only to my shard's replicas.
    pub(crate) fn broadcast_pong(&mut self, local_replicas_only: bool) {
        let my_master = self.me().slaveof;
        for id in self.node_ids() {
            let node = &self.nodes[&id];
            let Some(link) = node.link else { continue };
            if id == self.myself || node.in_handshake() {
                continue;
            }
            if local_replicas_only {
                let local = node.is_replica()
                    && node.slaveof.is_some()
                    && (node.slaveof == Some(self.myself) || node.slaveof == my_master);
                if !local {
                    continue;
                }
            }
            self.send_ping(link, MsgType::Pong);
        }
    }

    /// The outbound link came up: MEET or PING right away so failure
    /// detection has a pending ping to measure.
    pub(crate) fn on_link_up(&mut self, link: LinkId, local_ip: &[u8]) {
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        l.connected = true;
        l.local_ip = local_ip.to_vec();
        let Some(id) = l.node else { return };
        let Some(node) = self.nodes.get(&id) else {
            return;
        };
        let old_ping_sent = node.ping_sent_ms;
        let kind = if node.has(flags::MEET) {
            MsgType::Meet
        } else {
            MsgType::Ping
        };
        self.send_ping(link, kind);
        // Unlike Redis 7.0, MEET stays set until the handshake completes: a
        // MEET lost with its connection is sent again on the next one
        // (otherwise the peer never learns about us).
        if let Some(node) = self.nodes.get_mut(&id) {
            if old_ping_sent != 0 {
                node.ping_sent_ms = old_ping_sent;
            }
        }
    }

    fn sender_of(&mut self, link: LinkId, name: &NodeName) -> Option<NodeId> {
        let l = self.links.get(&link)?;
        if let Some(n) = l.node {
            if self.nodes.get(&n).is_some_and(|n| !n.in_handshake()) {
                return Some(n);
            }
        }
        let link_node = l.node;
        let sender = self.lookup(name)?;
        if link_node.is_none() {
            self.set_inbound_link(sender, link);
        }
        Some(sender)
    }

    /// `clusterProcessPacket`.
    pub(crate) fn process_message(&mut self, link: LinkId, msg: &Message) {
        let Some(l) = self.links.get(&link) else {
            return;
        };
        let inbound = l.inbound;
        let hdr = &msg.header;
        self.stats_received[hdr.kind as usize] += 1;
        let sender = self.sender_of(link, &hdr.sender);
        // A peer using our own name is lying; ignore it altogether.
        if sender == Some(self.myself) {
            return;
        }
        let now = self.now_ms;
        let mut sender_config_epoch = 0;
        if let Some(s) = sender {
            let node = self.nodes.get_mut(&s).expect("looked up");
            node.data_received_ms = now;
            if !node.in_handshake() {
                sender_config_epoch = hdr.config_epoch;
                if hdr.current_epoch > self.current_epoch {
                    self.current_epoch = hdr.current_epoch;
                }
                if hdr.config_epoch > node.config_epoch {
                    node.config_epoch = hdr.config_epoch;
                    self.save_config(true);
                }
                let node = self.nodes.get_mut(&s).expect("looked up");
                node.repl_offset = hdr.offset;
                if self.mf.end_ms != 0
                    && self.me().is_replica()
                    && self.me().slaveof == Some(s)
                    && hdr.mflags[0] & mflags::PAUSED != 0
                    && self.mf.master_offset.is_none()
                {
                    self.mf.master_offset = Some(hdr.offset);
                    self.todo.handle_manual_failover = true;
                }
            }
        }
        match (&hdr.kind, &msg.body) {
            (MsgType::Ping | MsgType::Pong | MsgType::Meet, Body::Ping { gossip, exts }) => {
                if hdr.kind != MsgType::Pong {
                    self.ping_or_meet_received(link, hdr, sender, gossip);
                }
                self.config_from_ping(
                    link,
                    inbound,
                    hdr,
                    sender,
                    sender_config_epoch,
                    gossip,
                    exts,
                );
            }
            (MsgType::Fail, Body::Fail { node }) => self.fail_received(sender, node),
            (MsgType::Publish | MsgType::PublishShard, Body::Publish { channel, message })
                if sender.is_some() =>
            {
                self.push_event(Event::Publish {
                    channel: channel.clone(),
                    message: message.clone(),
                    shard: hdr.kind == MsgType::PublishShard,
                });
            }
            (MsgType::FailoverAuthRequest, _) => {
                if let Some(s) = sender {
                    self.send_failover_auth_if_needed(s, hdr);
                }
            }
            (MsgType::FailoverAuthAck, _) => {
                if let Some(s) = sender {
                    self.failover_auth_ack_received(s, hdr.current_epoch);
                }
            }
            (MsgType::MfStart, _) => {
                if let Some(s) = sender {
                    self.mfstart_received(s);
                }
            }
            (
                MsgType::Update,
                Body::Update {
                    config_epoch,
                    node,
                    slots,
                },
            ) if sender.is_some() => {
                self.update_received(*config_epoch, node, slots);
            }
            // Module messages, unknown senders, a body that does not fit its type.
            _ => {}
        }
    }

    /// PING and MEET: learn my address, accept a MEET from a stranger,
    /// and reply with a PONG.
    fn ping_or_meet_received(
        &mut self,
        link: LinkId,
        hdr: &Header,
        sender: Option<NodeId>,
        gossip: &[Gossip],
    ) {
        let is_meet = hdr.kind == MsgType::Meet;
        let local_ip = self
            .links
            .get(&link)
            .map(|l| l.local_ip.clone())
            .unwrap_or_default();
        if (is_meet || self.me().ip.is_empty())
            && self.cfg.announce_ip.is_none()
            && !local_ip.is_empty()
            && local_ip != self.me().ip
        {
            self.me_mut().ip = local_ip;
            self.save_config(false);
        }
        if sender.is_none() && is_meet {
            let name = self.rng.node_name();
            let mut node = Node::new(name, flags::HANDSHAKE, self.now_ms);
            node.ip = self.peer_ip(link, hdr);
            node.port = hdr.port;
            node.pport = hdr.pport;
            node.cport = hdr.cport;
            self.add_node(node);
            self.save_config(false);
            self.process_gossip(None, gossip);
        }
        self.send_ping(link, MsgType::Pong);
    }

    /// The sender's address: what it announces, else where the link comes from.
    fn peer_ip(&self, link: LinkId, hdr: &Header) -> Vec<u8> {
        if !hdr.myip.is_empty() {
            return hdr.myip.clone();
        }
        self.links
            .get(&link)
            .map(|l| l.peer_ip.clone())
            .unwrap_or_default()
    }

    #[allow(clippy::too_many_arguments)]
    fn config_from_ping(
        &mut self,
        link: LinkId,
        inbound: bool,
        hdr: &Header,
        sender: Option<NodeId>,
        sender_config_epoch: u64,
        gossip: &[Gossip],
        exts: &[PingExt],
    ) {
        if !inbound && !self.handshake_or_identity_check(link, hdr, sender) {
            return;
        }
        if let Some(s) = sender {
            let node = self.nodes.get_mut(&s).expect("sender exists");
            node.flags = (node.flags & !flags::NOFAILOVER) | (hdr.flags & flags::NOFAILOVER);
            if hdr.kind == MsgType::Ping
                && !node.in_handshake()
                && self.update_address_if_needed(s, link, hdr)
            {
                self.save_config(false);
                self.todo.update_state = true;
            }
        }
        if !inbound && hdr.kind == MsgType::Pong {
            self.pong_received_on(link);
        }
        let Some(s) = sender else { return };
        if !self.nodes.contains_key(&s) {
            return;
        }
        self.role_from_header(s, hdr);
        let sender_master = if self.nodes[&s].is_master() {
            Some(s)
        } else {
            self.nodes[&s].slaveof
        };
        let dirty = sender_master
            .and_then(|m| self.nodes.get(&m))
            .is_some_and(|m| m.slots != hdr.slots);
        if dirty && self.nodes[&s].is_master() {
            self.update_slots_config_with(s, sender_config_epoch, &hdr.slots);
        }
        if dirty {
            self.update_stale_owner(s, sender_config_epoch, &hdr.slots);
        }
        if self.myself_is_master()
            && self.nodes.get(&s).is_some_and(|n| n.is_master())
            && sender_config_epoch == self.me().config_epoch
        {
            self.handle_config_epoch_collision(s);
        }
        if self.nodes.contains_key(&s) {
            self.process_gossip(Some(s), gossip);
            for ext in exts {
                if let PingExt::Hostname(h) = ext {
                    let node = self.nodes.get_mut(&s).expect("checked");
                    if node.hostname != *h {
                        node.hostname = h.clone();
                        self.save_config(false);
                    }
                }
            }
        }
    }

    /// On an outbound link: a handshake node learns its real name (or turns
    /// out to be a node we know), and a node answering with another name
    /// loses its address. Returns false when processing must stop.
    fn handshake_or_identity_check(
        &mut self,
        link: LinkId,
        hdr: &Header,
        sender: Option<NodeId>,
    ) -> bool {
        let Some(id) = self.links.get(&link).and_then(|l| l.node) else {
            return false;
        };
        let Some(node) = self.nodes.get(&id) else {
            return false;
        };
        if node.in_handshake() {
            if let Some(s) = sender {
                if self.update_address_if_needed(s, link, hdr) {
                    self.save_config(false);
                    self.todo.update_state = true;
                }
                self.del_node(id);
                return false;
            }
            if hdr.sender == NULL_NAME {
                self.del_node(id);
                return false;
            }
            self.rename_node(id, hdr.sender);
            let node = self.nodes.get_mut(&id).expect("renamed");
            node.flags &= !(flags::HANDSHAKE | flags::MEET);
            node.flags |= hdr.flags & (flags::MASTER | flags::SLAVE);
            self.save_config(false);
        } else if node.name != hdr.sender {
            let node = self.nodes.get_mut(&id).expect("checked");
            node.flags |= flags::NOADDR;
            node.ip.clear();
            node.port = 0;
            node.pport = 0;
            node.cport = 0;
            self.close_link(link);
            self.save_config(false);
            return false;
        }
        true
    }

    /// `nodeUpdateAddressIfNeeded`, from a PING on the node's inbound link.
    fn update_address_if_needed(&mut self, id: NodeId, link: LinkId, hdr: &Header) -> bool {
        let node = &self.nodes[&id];
        if node.link == Some(link) {
            return false;
        }
        let ip = self.peer_ip(link, hdr);
        if ip.is_empty() {
            return false;
        }
        if node.port == hdr.port
            && node.cport == hdr.cport
            && node.pport == hdr.pport
            && node.ip == ip
        {
            return false;
        }
        let old_link = node.link;
        let node = self.nodes.get_mut(&id).expect("checked");
        node.ip = ip;
        node.port = hdr.port;
        node.pport = hdr.pport;
        node.cport = hdr.cport;
        node.flags &= !flags::NOADDR;
        if let Some(l) = old_link {
            self.close_link(l);
        }
        true
    }

    fn pong_received_on(&mut self, link: LinkId) {
        let Some(id) = self.links.get(&link).and_then(|l| l.node) else {
            return;
        };
        let now = self.now_ms;
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        node.pong_received_ms = now;
        node.ping_sent_ms = 0;
        if node.timed_out() {
            node.flags &= !flags::PFAIL;
            self.save_config(false);
            self.todo.update_state = true;
        } else if node.failed() {
            self.clear_node_failure_if_needed(id);
        }
    }

    /// Role switches announced by the header.
    fn role_from_header(&mut self, s: NodeId, hdr: &Header) {
        match hdr.slaveof {
            None => self.set_node_as_master(s),
            Some(master_name) => {
                let master = self.lookup(&master_name).filter(|m| *m != s);
                if self.nodes[&s].is_master() {
                    self.del_node_slots(s);
                    let node = self.nodes.get_mut(&s).expect("exists");
                    node.flags &= !(flags::MASTER | flags::MIGRATE_TO);
                    node.flags |= flags::SLAVE;
                    self.save_config(false);
                    self.todo.update_state = true;
                }
                if let Some(m) = master {
                    let old = self.nodes[&s].slaveof;
                    if old != Some(m) {
                        if let Some(old) = old {
                            self.remove_replica(old, s);
                        }
                        self.add_replica(m, s);
                        self.nodes.get_mut(&s).expect("exists").slaveof = Some(m);
                        self.save_config(false);
                    }
                }
            }
        }
    }

    /// The sender claims slots that a node with a newer configEpoch owns:
    /// tell it with an UPDATE (one is enough to make it re-check).
    fn update_stale_owner(&mut self, s: NodeId, sender_config_epoch: u64, slots: &SlotBitmap) {
        for slot in slots.iter() {
            let Some(owner) = self.slots[slot as usize] else {
                continue;
            };
            if owner == s || self.slot_unclaimed(slot) {
                continue;
            }
            if self.nodes[&owner].config_epoch > sender_config_epoch {
                let link = self.nodes[&s].link;
                self.send_update(link, owner);
                break;
            }
        }
    }

    /// `clusterSendUpdate`: tell a node the configuration of `about`.
    pub(crate) fn send_update(&mut self, link: Option<LinkId>, about: NodeId) {
        let Some(node) = self.nodes.get(&about) else {
            return;
        };
        let msg = Message {
            header: self.build_header(MsgType::Update),
            body: Body::Update {
                config_epoch: node.config_epoch,
                node: node.name,
                slots: node.slots.clone(),
            },
        };
        self.send(link, msg);
    }

    /// `clusterProcessGossipSection`.
    fn process_gossip(&mut self, sender: Option<NodeId>, gossip: &[Gossip]) {
        let now = self.now_ms;
        for g in gossip {
            let reported_down = g.flags & (flags::FAIL | flags::PFAIL) != 0;
            if let Some(id) = self.lookup(&g.node) {
                let sender_is_master = sender
                    .and_then(|s| self.nodes.get(&s))
                    .is_some_and(|s| s.is_master());
                if sender_is_master && id != self.myself {
                    let s = sender.expect("checked");
                    if reported_down {
                        self.add_failure_report(id, s);
                        self.mark_node_as_failing_if_needed(id);
                    } else {
                        self.del_failure_report(id, s);
                    }
                }
                if !reported_down
                    && self.nodes[&id].ping_sent_ms == 0
                    && self.failure_reports_count(id) == 0
                {
                    let pong_ms = u64::from(g.pong_received_s) * 1000;
                    let node = self.nodes.get_mut(&id).expect("exists");
                    if pong_ms <= now + 500 && pong_ms > node.pong_received_ms {
                        node.pong_received_ms = pong_ms;
                    }
                }
                let node = &self.nodes[&id];
                if (node.timed_out() || node.failed())
                    && g.flags & flags::NOADDR == 0
                    && !reported_down
                    && (node.ip != g.ip || node.port != g.port || node.cport != g.cport)
                {
                    let old = node.link;
                    if let Some(l) = old {
                        self.close_link(l);
                    }
                    let node = self.nodes.get_mut(&id).expect("exists");
                    node.ip = g.ip.clone();
                    node.port = g.port;
                    node.pport = g.pport;
                    node.cport = g.cport;
                    node.flags &= !flags::NOADDR;
                }
            } else if sender.is_some()
                && g.flags & flags::NOADDR == 0
                && g.node != NULL_NAME
                && super::nodes::parse_node_name(&g.node).is_some()
                && !self.blacklisted(&g.node)
            {
                // Only what a node may legitimately say about a third node.
                let keep = flags::MASTER
                    | flags::SLAVE
                    | flags::PFAIL
                    | flags::FAIL
                    | flags::NOFAILOVER
                    | flags::MIGRATE_TO;
                let mut node = Node::new(g.node, g.flags & keep, now);
                node.ip = g.ip.clone();
                node.port = g.port;
                node.pport = g.pport;
                node.cport = g.cport;
                self.add_node(node);
            }
        }
    }

    fn fail_received(&mut self, sender: Option<NodeId>, name: &NodeName) {
        if sender.is_none() {
            return;
        }
        let Some(id) = self.lookup(name) else { return };
        let now = self.now_ms;
        let node = self.nodes.get_mut(&id).expect("exists");
        if node.has(flags::FAIL | flags::MYSELF) {
            return;
        }
        node.flags |= flags::FAIL;
        node.flags &= !flags::PFAIL;
        node.fail_time_ms = now;
        self.save_config(false);
        self.todo.update_state = true;
        if self.me().slaveof == Some(id) {
            // My master: schedule the election now, not at the next tick.
            self.todo.handle_failover = true;
        }
    }

    fn update_received(&mut self, config_epoch: u64, name: &NodeName, slots: &SlotBitmap) {
        let Some(id) = self.lookup(name) else { return };
        if self.nodes[&id].config_epoch >= config_epoch {
            return;
        }
        if self.nodes[&id].is_replica() {
            self.set_node_as_master(id);
        }
        self.nodes.get_mut(&id).expect("exists").config_epoch = config_epoch;
        self.save_config(true);
        self.update_slots_config_with(id, config_epoch, slots);
    }

    /// `clusterSendFail`.
    pub(crate) fn send_fail(&mut self, name: NodeName) {
        let msg = Message {
            header: self.build_header(MsgType::Fail),
            body: Body::Fail { node: name },
        };
        self.broadcast(&msg);
    }

    /// `clusterPropagatePublish`: everyone, or the nodes of my shard.
    pub(crate) fn send_publish(&mut self, channel: &[u8], message: &[u8], shard: bool) {
        let kind = if shard {
            MsgType::PublishShard
        } else {
            MsgType::Publish
        };
        let msg = Message {
            header: self.build_header(kind),
            body: Body::Publish {
                channel: channel.to_vec(),
                message: message.to_vec(),
            },
        };
        if !shard {
            self.broadcast(&msg);
            return;
        }
        let me = self.me();
        let master = if me.is_replica() {
            me.slaveof
        } else {
            Some(self.myself)
        };
        let Some(master) = master.filter(|m| self.nodes.contains_key(m)) else {
            return;
        };
        let mut targets = vec![master];
        targets.extend(self.nodes[&master].replicas.iter().copied());
        for id in targets {
            if id == self.myself {
                continue;
            }
            let link = self.nodes.get(&id).and_then(|n| n.link);
            self.send(link, msg.clone());
        }
    }
}

fn gossip_entry(node: &Node) -> Gossip {
    Gossip {
        node: node.name,
        ping_sent_s: (node.ping_sent_ms / 1000) as u32,
        pong_received_s: (node.pong_received_ms / 1000) as u32,
        ip: node.ip.clone(),
        port: node.port,
        cport: node.cport,
        flags: node.flags,
        pport: node.pport,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Config;

    fn core(seed: u64) -> ClusterCore {
        ClusterCore::new(Config::with_port(7000, seed), 1_000_000)
    }

    fn ping_from(name: NodeName, kind: MsgType) -> Message {
        Message {
            header: Header {
                kind,
                port: 7001,
                pport: 0,
                cport: 17001,
                current_epoch: u64::MAX,
                config_epoch: u64::MAX,
                offset: 0,
                sender: name,
                slots: SlotBitmap::default(),
                slaveof: Some([b'q'; 40]),
                myip: Vec::new(),
                flags: 0xffff,
                state: 0,
                mflags: [0xff; 3],
            },
            body: Body::Ping {
                gossip: vec![Gossip {
                    node: NULL_NAME,
                    ping_sent_s: u32::MAX,
                    pong_received_s: u32::MAX,
                    ip: vec![0xff; 100],
                    port: 0,
                    cport: 0,
                    flags: 0xffff,
                    pport: 0,
                }],
                exts: vec![],
            },
        }
    }

    #[test]
    fn meet_from_a_stranger_adds_a_handshake_node_and_replies_pong() {
        let mut c = core(1);
        c.drain();
        let link = c.link_accepted(b"10.0.0.1", b"10.0.0.2", 1_000_010);
        c.handle_message(link, ping_from([b'a'; 40], MsgType::Meet), 1_000_020);
        let out = c.drain();
        assert!(out.iter().any(|o| matches!(o,
            Output::Send { msg, .. } if msg.header.kind == MsgType::Pong)));
        assert_eq!(c.me().ip, b"10.0.0.1");
        let hs: Vec<_> = c.nodes.values().filter(|n| n.in_handshake()).collect();
        assert_eq!(hs.len(), 1);
        assert_eq!(hs[0].ip, b"10.0.0.2");
        assert_eq!(hs[0].cport, 17001);
        // Bogus epochs from a handshake sender are not trusted.
        assert_eq!(c.current_epoch(), 0);
    }

    #[test]
    fn garbage_from_unknown_senders_changes_nothing() {
        let mut c = core(2);
        let link = c.link_accepted(b"10.0.0.1", b"10.0.0.2", 1_000_010);
        for kind in [
            MsgType::Ping,
            MsgType::Pong,
            MsgType::Fail,
            MsgType::Update,
            MsgType::FailoverAuthRequest,
            MsgType::FailoverAuthAck,
            MsgType::MfStart,
            MsgType::Publish,
        ] {
            let mut m = ping_from([b'x'; 40], kind);
            if kind == MsgType::Update {
                m.body = Body::Update {
                    config_epoch: u64::MAX,
                    node: c.my_name(),
                    slots: SlotBitmap::default(),
                };
            }
            c.handle_message(link, m, 1_000_020);
        }
        assert_eq!(c.nodes.len(), 1);
        assert_eq!(c.current_epoch(), 0);
        // A message claiming to be from myself is ignored as well.
        let me = c.my_name();
        c.handle_message(link, ping_from(me, MsgType::Ping), 1_000_030);
        assert_eq!(c.current_epoch(), 0);
    }

    /// Random headers and bodies from senders we know (and some we do not)
    /// must never panic, whatever the state they drive us into.
    #[test]
    fn random_messages_never_panic() {
        use crate::core::rng::Rng;
        let mut rng = Rng::new(99);
        let mut c = core(3);
        let names: Vec<NodeName> = (0..4).map(|_| rng.node_name()).collect();
        let link = c.link_accepted(b"10.0.0.1", b"10.0.0.2", 1_000_000);
        c.handle_message(link, ping_from(names[0], MsgType::Meet), 1_000_001);
        let mut now = 1_000_002;
        for round in 0..3000u64 {
            let pick = |rng: &mut Rng, me: NodeName| -> NodeName {
                match rng.below(6) {
                    0 => me,
                    1 => NULL_NAME,
                    n => names[(n - 2) as usize],
                }
            };
            let me = c.my_name();
            let mut slots = SlotBitmap::default();
            for _ in 0..rng.below(4) {
                slots.set(rng.below(16384) as u16, true);
            }
            let kind = MsgType::from_u16(rng.below(11) as u16).unwrap();
            let mut m = ping_from(pick(&mut rng, me), kind);
            m.header.current_epoch = rng.below(8);
            m.header.config_epoch = rng.below(8);
            m.header.flags = rng.below(1024) as u16;
            m.header.slaveof = if rng.below(2) == 0 {
                None
            } else {
                Some(pick(&mut rng, me))
            };
            m.header.slots = slots.clone();
            m.header.mflags = [rng.below(8) as u8, 0, 0];
            m.body = match kind {
                MsgType::Ping | MsgType::Pong | MsgType::Meet => Body::Ping {
                    gossip: (0..rng.below(4))
                        .map(|_| Gossip {
                            node: pick(&mut rng, me),
                            ping_sent_s: rng.next_u64() as u32,
                            pong_received_s: rng.next_u64() as u32,
                            ip: b"10.0.0.3".to_vec(),
                            port: rng.below(3) as u16,
                            cport: rng.below(3) as u16,
                            flags: rng.below(1024) as u16,
                            pport: 0,
                        })
                        .collect(),
                    exts: vec![PingExt::Hostname(b"h".to_vec())],
                },
                MsgType::Fail => Body::Fail {
                    node: pick(&mut rng, me),
                },
                MsgType::Update => Body::Update {
                    config_epoch: rng.below(10),
                    node: pick(&mut rng, me),
                    slots,
                },
                _ => Body::Empty,
            };
            let on = if rng.below(3) == 0 {
                c.link_accepted(b"10.0.0.1", b"10.0.0.4", now)
            } else {
                link
            };
            c.handle_message(on, m, now);
            if round % 7 == 0 {
                c.tick(now);
            }
            for out in c.drain() {
                if let Output::Connect { link, .. } = out {
                    if rng.below(2) == 0 {
                        c.link_up(link, b"10.0.0.1", now);
                    } else {
                        c.link_down(link, now);
                    }
                }
            }
            now += rng.below(300);
        }
        let _ = c.info().render();
        let _ = c.routing();
        let _ = c.to_nodes_conf();
    }

    #[test]
    fn forgotten_nodes_are_not_relearned_from_gossip_for_a_minute() {
        let mut c = core(4);
        let link = c.link_accepted(b"10.0.0.1", b"10.0.0.2", 1_000_000);
        // A known master gossips about a third node.
        let known = [b'k'; 40];
        c.add_node(Node::new(known, flags::MASTER, 1_000_000));
        let third = [b't'; 40];
        let mut m = ping_from(known, MsgType::Ping);
        m.header.slaveof = None;
        m.body = Body::Ping {
            gossip: vec![Gossip {
                node: third,
                ping_sent_s: 0,
                pong_received_s: 0,
                ip: b"10.0.0.9".to_vec(),
                port: 7009,
                cport: 17009,
                flags: flags::MASTER,
                pport: 0,
            }],
            exts: vec![],
        };
        c.handle_message(link, m.clone(), 1_000_001);
        assert!(c.lookup(&third).is_some());
        c.forget(&third, 1_000_002).unwrap();
        c.handle_message(link, m.clone(), 1_000_003);
        assert!(c.lookup(&third).is_none(), "blacklisted");
        c.handle_message(link, m, 1_060_003);
        assert!(c.lookup(&third).is_some(), "blacklist expired");
    }
}
