//! Deterministic simulation of many cluster cores over a virtual network:
//! seeded message loss, delay (hence reordering), partitions and killed
//! nodes, driven by virtual time. Invariants are checked after every step
//! and scenarios assert convergence. Every run is repeatable from its seed,
//! which a failure prints.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use shoal_cluster::bus;
use shoal_cluster::core::{ClusterCore, Config, Event, FailoverMode, LinkId, Output, Role};
use shoal_cluster::msg::{flags, Message, MsgType, NodeName, SlotBitmap};
use shoal_cluster::SLOT_COUNT;

const START_MS: u64 = 1_700_000_000_000;
const TICK_MS: u64 = 100;

/// A small xorshift for the network's own choices.
struct NetRng(u64);

impl NetRng {
    fn new(seed: u64) -> NetRng {
        NetRng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct NetConfig {
    loss_per_mille: u64,
    delay_min_ms: u64,
    delay_max_ms: u64,
}

#[derive(Debug)]
enum Ev {
    Tick(usize),
    Deliver {
        to: usize,
        link: LinkId,
        msg: Box<Message>,
    },
    ConnectDone {
        from: usize,
        link: LinkId,
        to: Option<usize>,
    },
    Closed {
        node: usize,
        link: LinkId,
    },
}

struct SimNode {
    core: ClusterCore,
    ip: Vec<u8>,
    alive: bool,
    /// Our link → the peer and its link (None while connecting).
    links: BTreeMap<LinkId, Option<(usize, LinkId)>>,
    offset: u64,
    paused_until_ms: u64,
    master_down_since_ms: Option<u64>,
    /// The master it last replicated from.
    last_master: Option<usize>,
    last_epoch: u64,
    last_claim: (u64, SlotBitmap),
}

struct Sim {
    seed: u64,
    now_ms: u64,
    rng: NetRng,
    net: NetConfig,
    nodes: Vec<SimNode>,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    events: BTreeMap<u64, Ev>,
    seq: u64,
    /// Unordered pairs that cannot talk.
    cut: BTreeSet<(usize, usize)>,
    /// (slot, configEpoch) → the master that claimed it.
    claims: BTreeMap<(u16, u64), NodeName>,
    /// (voter, epoch) → the replica it voted for.
    votes: BTreeMap<(NodeName, u64), NodeName>,
    /// Last delivery time per sending link (FIFO like TCP).
    fifo: BTreeMap<(usize, LinkId), u64>,
    /// (node, its replication offset, its old master's) when it turns master.
    promotions: Vec<(usize, u64, Option<u64>)>,
    steps: u64,
    /// Bus bytes each node has written (encoded frames, Redis's wire size).
    sent_bytes: Vec<u64>,
    /// Messages each node has written.
    sent_msgs: Vec<u64>,
}

fn name_str(n: &NodeName) -> String {
    String::from_utf8_lossy(&n[..8]).into_owned()
}

impl Sim {
    fn new(seed: u64, count: usize, net: NetConfig, node_timeout_ms: u64) -> Sim {
        let mut sim = Sim {
            seed,
            now_ms: START_MS,
            rng: NetRng::new(seed),
            net,
            nodes: Vec::new(),
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            seq: 0,
            cut: BTreeSet::new(),
            claims: BTreeMap::new(),
            votes: BTreeMap::new(),
            fifo: BTreeMap::new(),
            promotions: Vec::new(),
            steps: 0,
            sent_bytes: vec![0; count],
            sent_msgs: vec![0; count],
        };
        for i in 0..count {
            let mut cfg = Config::with_port(6379, seed.wrapping_mul(1000).wrapping_add(i as u64));
            cfg.node_timeout_ms = node_timeout_ms;
            let core = ClusterCore::new(cfg, START_MS);
            sim.nodes.push(SimNode {
                core,
                ip: format!("10.0.{}.{}", i / 200, i % 200 + 1).into_bytes(),
                alive: true,
                links: BTreeMap::new(),
                offset: 0,
                paused_until_ms: 0,
                master_down_since_ms: None,
                last_master: None,
                last_epoch: 0,
                last_claim: (0, SlotBitmap::default()),
            });
            let phase = sim.rng.below(TICK_MS);
            sim.schedule(phase + 1, Ev::Tick(i));
        }
        sim
    }

    /// Change every node's configuration (CONFIG SET).
    fn configure(&mut self, change: impl Fn(&mut Config)) {
        let now = self.now_ms;
        for i in 0..self.nodes.len() {
            let mut cfg = self.nodes[i].core.config().clone();
            change(&mut cfg);
            self.nodes[i].core.set_config(cfg, now);
            self.drain(i);
        }
    }

    fn fail(&self, why: &str) -> ! {
        panic!(
            "seed {}: t={}ms step {}: {why}",
            self.seed,
            self.now_ms - START_MS,
            self.steps
        );
    }

    fn schedule(&mut self, after_ms: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((self.now_ms + after_ms, self.seq)));
        self.events.insert(self.seq, ev);
    }

    fn delay(&mut self) -> u64 {
        let span = self.net.delay_max_ms - self.net.delay_min_ms + 1;
        self.net.delay_min_ms + self.rng.below(span)
    }

    fn is_cut(&self, a: usize, b: usize) -> bool {
        self.cut.contains(&(a.min(b), a.max(b)))
    }

    fn name(&self, i: usize) -> NodeName {
        self.nodes[i].core.my_name()
    }

    fn index_of(&self, name: &NodeName) -> Option<usize> {
        self.nodes.iter().position(|n| n.core.my_name() == *name)
    }

    // ---- driving ---------------------------------------------------------

    fn step(&mut self) -> bool {
        let Some(Reverse((at, seq))) = self.queue.pop() else {
            return false;
        };
        let ev = self.events.remove(&seq).expect("scheduled");
        self.now_ms = at;
        self.steps += 1;
        let touched = match ev {
            Ev::Tick(i) => {
                self.schedule(TICK_MS, Ev::Tick(i));
                if !self.nodes[i].alive {
                    return true;
                }
                self.replication_tick(i);
                let now = self.now_ms;
                self.nodes[i].core.tick(now);
                i
            }
            Ev::Deliver { to, link, msg } => {
                let node = &self.nodes[to];
                let Some(Some((from, _))) = node.links.get(&link) else {
                    return true;
                };
                if !node.alive || self.is_cut(to, *from) {
                    return true;
                }
                let now = self.now_ms;
                self.nodes[to].core.handle_message(link, *msg, now);
                to
            }
            Ev::ConnectDone { from, link, to } => {
                if !self.nodes[from].alive || !self.nodes[from].links.contains_key(&link) {
                    return true;
                }
                let now = self.now_ms;
                match to.filter(|&t| self.nodes[t].alive && !self.is_cut(from, t)) {
                    Some(t) => {
                        let (local, peer) = (self.nodes[t].ip.clone(), self.nodes[from].ip.clone());
                        let their = self.nodes[t].core.link_accepted(&local, &peer, now);
                        self.nodes[t].links.insert(their, Some((from, link)));
                        self.nodes[from].links.insert(link, Some((t, their)));
                        self.drain(t);
                        let ip = self.nodes[from].ip.clone();
                        self.nodes[from].core.link_up(link, &ip, now);
                    }
                    None => {
                        self.nodes[from].links.remove(&link);
                        self.nodes[from].core.link_down(link, now);
                    }
                }
                from
            }
            Ev::Closed { node, link } => {
                if self.nodes[node].links.remove(&link).is_none() || !self.nodes[node].alive {
                    return true;
                }
                let now = self.now_ms;
                self.nodes[node].core.link_down(link, now);
                node
            }
        };
        self.drain(touched);
        self.check_invariants(touched);
        true
    }

    fn run_for(&mut self, ms: u64) {
        let until = self.now_ms + ms;
        while let Some(Reverse((at, _))) = self.queue.peek() {
            if *at > until {
                break;
            }
            self.step();
        }
        self.now_ms = until;
    }

    /// Run until `done` holds (checked every 500 ms), failing after `max_ms`.
    fn run_until(&mut self, max_ms: u64, what: &str, done: impl Fn(&Sim) -> bool) {
        let deadline = self.now_ms + max_ms;
        while self.now_ms < deadline {
            self.run_for(500);
            if done(self) {
                return;
            }
        }
        self.dump();
        self.fail(&format!("no convergence: {what}"));
    }

    /// The server side of replication, reduced to what the core needs: a
    /// master's offset grows with writes unless paused; a replica copies its
    /// master's offset while it can reach it.
    fn replication_tick(&mut self, i: usize) {
        let now = self.now_ms;
        match self.nodes[i].core.role() {
            Role::Master => {
                if now >= self.nodes[i].paused_until_ms {
                    self.nodes[i].offset += self.rng.below(100);
                }
                self.nodes[i].master_down_since_ms = None;
            }
            Role::Replica { master, .. } => {
                self.nodes[i].last_master = self.index_of(&master);
                let reachable = self
                    .index_of(&master)
                    .filter(|&m| self.nodes[m].alive && !self.is_cut(i, m));
                match reachable {
                    Some(m) => {
                        self.nodes[i].offset = self.nodes[m].offset;
                        self.nodes[i].master_down_since_ms = None;
                        self.nodes[i].core.set_master_link(true, now, now);
                    }
                    None => {
                        let since = *self.nodes[i].master_down_since_ms.get_or_insert(now);
                        self.nodes[i].core.set_master_link(false, since, now);
                    }
                }
            }
        }
        let offset = self.nodes[i].offset;
        self.nodes[i].core.set_repl_offset(offset, now);
    }

    /// Perform a node's outputs in order.
    fn drain(&mut self, i: usize) {
        let outputs = self.nodes[i].core.drain();
        let mut saved_fsync = false;
        for out in outputs {
            match out {
                Output::SaveConfig { fsync } => saved_fsync |= fsync,
                Output::Send { link, msg } => {
                    if msg.header.kind == MsgType::FailoverAuthAck {
                        if !saved_fsync {
                            self.fail("vote sent before the config was fsynced");
                        }
                        self.record_vote(i, link, &msg);
                    }
                    self.send(i, link, msg);
                }
                Output::Connect { link, ip, .. } => {
                    self.nodes[i].links.insert(link, None);
                    let to = self.nodes.iter().position(|n| n.ip == ip);
                    let d = self.delay();
                    self.schedule(d, Ev::ConnectDone { from: i, link, to });
                }
                Output::CloseLink { link } => {
                    if let Some(Some((peer, their))) = self.nodes[i].links.remove(&link) {
                        let d = self.delay();
                        self.schedule(
                            d,
                            Ev::Closed {
                                node: peer,
                                link: their,
                            },
                        );
                    }
                }
                Output::Event(Event::PauseWrites { until_ms }) => {
                    self.nodes[i].paused_until_ms = until_ms;
                }
                Output::Event(Event::UnpauseWrites) => self.nodes[i].paused_until_ms = 0,
                Output::Event(Event::RoleChanged(Role::Master)) => {
                    let old_master_offset = self.nodes[i].last_master.map(|m| self.nodes[m].offset);
                    self.promotions
                        .push((i, self.nodes[i].offset, old_master_offset));
                }
                Output::Event(_) => {}
            }
        }
    }

    /// Links behave like TCP: in order per link; a lost segment shows up as
    /// a reset connection on both sides; across a partition data stalls
    /// (here: is dropped) until the cores give up on the link.
    fn send(&mut self, from: usize, link: LinkId, msg: Message) {
        let Some(Some((to, their))) = self.nodes[from].links.get(&link).copied() else {
            return;
        };
        // Written to the socket whatever then happens to it.
        self.sent_bytes[from] += bus::encoded_len(&msg) as u64;
        self.sent_msgs[from] += 1;
        if self.is_cut(from, to) {
            return;
        }
        if self.rng.below(1000) < self.net.loss_per_mille {
            // Further sends on it go nowhere until the reset arrives.
            self.nodes[from].links.insert(link, None);
            let (d1, d2) = (self.delay(), self.delay());
            self.schedule(d1, Ev::Closed { node: from, link });
            self.schedule(
                d2,
                Ev::Closed {
                    node: to,
                    link: their,
                },
            );
            return;
        }
        let earliest = self.now_ms + self.delay();
        let last = self.fifo.entry((from, link)).or_insert(0);
        let at = earliest.max(*last);
        *last = at;
        let after = at - self.now_ms;
        self.schedule(
            after,
            Ev::Deliver {
                to,
                link: their,
                msg: Box::new(msg),
            },
        );
    }

    fn record_vote(&mut self, voter: usize, link: LinkId, msg: &Message) {
        let Some(Some((to, _))) = self.nodes[voter].links.get(&link).copied() else {
            return;
        };
        let key = (self.name(voter), msg.header.current_epoch);
        let candidate = self.name(to);
        if let Some(prev) = self.votes.insert(key, candidate) {
            if prev != candidate {
                self.fail("a master voted twice in one epoch");
            }
        }
    }

    // ---- faults ----------------------------------------------------------

    fn kill(&mut self, i: usize) {
        self.nodes[i].alive = false;
        let links = std::mem::take(&mut self.nodes[i].links);
        for (_, peer) in links {
            if let Some((p, their)) = peer {
                let d = self.delay();
                self.schedule(
                    d,
                    Ev::Closed {
                        node: p,
                        link: their,
                    },
                );
            }
        }
    }

    fn partition(&mut self, side: &[usize]) {
        for &a in side {
            for b in 0..self.nodes.len() {
                if !side.contains(&b) {
                    self.cut.insert((a.min(b), a.max(b)));
                }
            }
        }
    }

    fn heal(&mut self) {
        self.cut.clear();
    }

    // ---- invariants ------------------------------------------------------

    fn check_invariants(&mut self, i: usize) {
        let epoch = self.nodes[i].core.current_epoch();
        if epoch < self.nodes[i].last_epoch {
            self.fail("currentEpoch went backwards");
        }
        self.nodes[i].last_epoch = epoch;
        let core = &self.nodes[i].core;
        if !core.is_master() {
            return;
        }
        let claim = (core.my_config_epoch(), core.my_slots().clone());
        if claim == self.nodes[i].last_claim {
            return;
        }
        let me = core.my_name();
        for slot in claim.1.iter() {
            if let Some(other) = self.claims.insert((slot, claim.0), me) {
                if other != me {
                    self.fail(&format!(
                        "slot {slot} claimed by {} and {} with configEpoch {}",
                        name_str(&other),
                        name_str(&me),
                        claim.0
                    ));
                }
            }
        }
        self.nodes[i].last_claim = claim;
    }

    // ---- convergence -----------------------------------------------------

    fn alive(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].alive)
            .collect()
    }

    /// Every alive node knows every other alive node (past handshake, not
    /// failing, with the same master), all agree on one full slot map
    /// served by alive masters, and all report state ok.
    fn converged(&self) -> bool {
        let alive = self.alive();
        // The slot map as node 0 sees it, per master; every node must hold
        // the same bitmaps and they must cover all slots (each node binds a
        // slot to exactly the master whose bitmap has it).
        let first = &self.nodes[alive[0]].core;
        let owners: Vec<NodeName> = alive
            .iter()
            .map(|&j| self.name(j))
            .filter(|n| first.slots_of(n).is_some_and(|b| !b.is_empty()))
            .collect();
        let covered: usize = owners
            .iter()
            .map(|n| first.slots_of(n).map_or(0, |b| b.count()))
            .sum();
        if covered != SLOT_COUNT {
            return false;
        }
        for &i in &alive {
            let core = &self.nodes[i].core;
            if !core.state_ok() {
                return false;
            }
            for &j in &alive {
                let name = self.name(j);
                match core.node_flags(&name) {
                    Some(f) if f & (flags::HANDSHAKE | flags::FAIL | flags::PFAIL) == 0 => {}
                    _ => return false,
                }
                // Everyone agrees on who replicates whom.
                if core.master_of(&name) != self.master_of(j).map(|m| self.name(m)) {
                    return false;
                }
            }
            for owner in &owners {
                if core.slots_of(owner) != first.slots_of(owner) {
                    return false;
                }
            }
        }
        owners.iter().all(|n| {
            self.index_of(n)
                .is_some_and(|i| self.nodes[i].core.is_master())
        })
    }

    fn dump(&self) {
        for (i, n) in self.nodes.iter().enumerate() {
            let c = &n.core;
            eprintln!(
                "node {i} {} alive={} master={} ok={} epoch={} my_epoch={} slots={} known={}",
                name_str(&c.my_name()),
                n.alive,
                c.is_master(),
                c.state_ok(),
                c.current_epoch(),
                c.my_config_epoch(),
                c.my_slots().count(),
                c.known_nodes()
            );
            for line in c.node_lines() {
                eprintln!(
                    "    {} flags={:#x} master={:?} epoch={} slots={:?}",
                    name_str(&line.name),
                    line.flags,
                    line.master.map(|m| name_str(&m)),
                    line.config_epoch,
                    line.slots.first()
                );
            }
        }
    }

    // ---- setup -----------------------------------------------------------

    /// `masters` masters with equal slot ranges (distinct config epochs
    /// when `set_epochs`, as redis-cli does), node `masters + k` a replica
    /// of master `replica_of[k]`; everyone MEETs node 0.
    fn form_with(&mut self, masters: usize, replica_of: &[usize], set_epochs: bool) {
        let now = self.now_ms;
        for m in 0..masters {
            let lo = m * SLOT_COUNT / masters;
            let hi = (m + 1) * SLOT_COUNT / masters;
            let slots: Vec<u16> = (lo as u16..hi as u16).collect();
            self.nodes[m].core.add_slots(&slots, now).unwrap();
            if set_epochs {
                self.nodes[m]
                    .core
                    .set_config_epoch(m as i64 + 1, now)
                    .unwrap();
            }
        }
        let seed_ip = String::from_utf8(self.nodes[0].ip.clone()).unwrap();
        for i in 1..self.nodes.len() {
            self.nodes[i].core.meet(&seed_ip, 6379, None, now).unwrap();
        }
        for i in 0..self.nodes.len() {
            self.drain(i);
        }
        let count = self.nodes.len();
        self.run_until(60_000, "everyone knows everyone", |s| {
            s.nodes.iter().all(|n| {
                n.core.known_nodes() == count
                    && (0..count).all(|j| n.core.node_flags(&s.name(j)).is_some())
            })
        });
        for (k, &m) in replica_of.iter().enumerate() {
            let i = masters + k;
            let master = self.name(m);
            let now = self.now_ms;
            self.nodes[i].core.replicate(&master, false, now).unwrap();
            self.drain(i);
        }
        let budget = 60_000.max(self.nodes[0].core.config().node_timeout_ms * 20);
        self.run_until(budget, "formation", Sim::converged);
    }

    /// `masters` masters, each with `replicas_each` replicas.
    fn form(&mut self, masters: usize, replicas_each: usize) {
        let replica_of: Vec<usize> = (0..masters)
            .flat_map(|m| std::iter::repeat_n(m, replicas_each))
            .collect();
        self.form_with(masters, &replica_of, true);
    }

    fn master_of(&self, i: usize) -> Option<usize> {
        match self.nodes[i].core.role() {
            Role::Master => None,
            Role::Replica { master, .. } => self.index_of(&master),
        }
    }
}

/// Seeds to sweep: `SIM_SEEDS=n` widens the default sweep, `SIM_SEED=s`
/// replays one seed.
fn seeds(default: u64) -> std::ops::RangeInclusive<u64> {
    let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
    if let Some(seed) = var("SIM_SEED") {
        return seed..=seed;
    }
    1..=var("SIM_SEEDS").unwrap_or(default)
}

fn net(loss_per_mille: u64) -> NetConfig {
    NetConfig {
        loss_per_mille,
        delay_min_ms: 1,
        delay_max_ms: 40,
    }
}

#[test]
fn formation_converges_on_one_slot_map() {
    for seed in seeds(6) {
        let mut sim = Sim::new(seed, 6, net(10), 2000);
        sim.form(3, 1);
        let owner = sim.nodes[1].core.slot_owner(0);
        assert_eq!(owner, Some(sim.name(0)), "seed {seed}");
    }
}

#[test]
fn a_large_cluster_converges() {
    let mut sim = Sim::new(42, 40, net(5), 3000);
    sim.form(20, 1);
}

#[test]
fn a_killed_master_is_failed_over() {
    for seed in seeds(6) {
        let mut sim = Sim::new(seed, 7, net(10), 2000);
        sim.form(3, 1);
        // Node 6 is an extra master without slots: it does not vote.
        let victim = 1;
        let replica = 3 + victim;
        let old_slots = sim.nodes[victim].core.my_slots().clone();
        sim.kill(victim);
        let victim_name = sim.name(victim);
        sim.run_until(60_000, "victim marked FAIL by everyone", |s| {
            s.alive().iter().all(|&i| {
                s.nodes[i]
                    .core
                    .node_flags(&victim_name)
                    .is_some_and(|f| f & flags::FAIL != 0)
            })
        });
        sim.run_until(60_000, "failover", |s| {
            s.nodes[replica].core.is_master() && s.converged()
        });
        assert_eq!(
            sim.nodes[replica].core.my_slots(),
            &old_slots,
            "seed {seed}"
        );
        assert!(sim.nodes[replica].core.my_config_epoch() > 3, "seed {seed}");
    }
}

/// The failover schedule (core/failover.rs): on a loss-free network the
/// other masters (where MOVED-following clients enter) have seen a killed
/// master's slots pass to its replica within node timeout + 1 s
/// (detection, FAIL, the election delay, the vote, the PONG). First sight,
/// not a stable view, and replicas left out: as in Redis, a reply the
/// replica sent just before its promotion can arrive after it over the
/// other link of a pair and hide the new owner there until the next PONG.
#[test]
fn a_killed_master_is_replaced_within_node_timeout_plus_a_second() {
    for seed in seeds(6) {
        let node_timeout = 2000;
        let mut sim = Sim::new(seed, 6, net(0), node_timeout);
        sim.form(3, 1);
        let victim = 2;
        let replica = 3 + victim;
        let slot = sim.nodes[victim].core.my_slots().iter().next().unwrap();
        sim.kill(victim);
        let killed_at = sim.now_ms;
        let heir = sim.name(replica);
        let masters = [0, 1];
        let mut seen: BTreeSet<usize> = BTreeSet::new();
        while seen.len() < masters.len() && sim.now_ms < killed_at + 60_000 {
            sim.run_for(10);
            for i in masters {
                if sim.nodes[i].core.slot_owner(slot) == Some(heir) {
                    seen.insert(i);
                }
            }
        }
        let took = sim.now_ms - killed_at;
        assert!(
            took <= node_timeout + 1000,
            "seed {seed}: the other masters saw the replica own slot {slot} only {took} ms after the kill"
        );
    }
}

#[test]
fn a_partition_heals_and_the_cluster_converges() {
    for seed in seeds(5) {
        let mut sim = Sim::new(seed, 6, net(10), 2000);
        sim.form(3, 1);
        // Master 0 alone on one side; its replica (3) is with the majority.
        sim.partition(&[0]);
        sim.run_until(60_000, "failover in the majority", |s| {
            s.nodes[3].core.is_master()
        });
        sim.run_for(5_000);
        assert!(
            !sim.nodes[0].core.state_ok(),
            "seed {seed}: minority must be down"
        );
        sim.heal();
        sim.run_until(60_000, "convergence after heal", Sim::converged);
        assert!(
            !sim.nodes[0].core.is_master(),
            "seed {seed}: old master must follow"
        );
        assert_eq!(
            sim.nodes[0].core.role(),
            Role::Replica {
                master: sim.name(3),
                ip: sim.nodes[3].ip.clone(),
                port: 6379,
            }
        );
    }
}

#[test]
fn the_same_seed_replays_the_same_run() {
    let run = |seed| {
        let mut sim = Sim::new(seed, 6, net(20), 2000);
        sim.form(3, 1);
        sim.kill(0);
        sim.run_for(20_000);
        (
            sim.steps,
            sim.nodes
                .iter()
                .map(|n| n.core.current_epoch())
                .collect::<Vec<_>>(),
            sim.nodes[1].core.node_lines(),
        )
    };
    assert_eq!(run(9), run(9));
}

#[test]
fn manual_failover_swaps_master_and_replica_without_losing_writes() {
    for seed in seeds(5) {
        let mut sim = Sim::new(seed, 6, net(0), 2000);
        sim.form(3, 1);
        sim.run_for(3_000);
        sim.promotions.clear();
        let now = sim.now_ms;
        sim.nodes[3]
            .core
            .failover(FailoverMode::Default, now)
            .unwrap();
        sim.drain(3);
        sim.run_until(20_000, "manual failover", |s| {
            s.nodes[3].core.is_master() && s.master_of(0) == Some(3) && s.converged()
        });
        // Promoted at exactly the offset where the old master paused.
        let (who, offset, old_master_offset) = sim.promotions[0];
        assert_eq!(who, 3, "seed {seed}");
        assert_eq!(Some(offset), old_master_offset, "seed {seed}");
        assert_eq!(
            sim.nodes[0].paused_until_ms, 0,
            "seed {seed}: writes resumed"
        );
    }
}

#[test]
fn forced_failover_needs_no_master() {
    for seed in seeds(3) {
        let mut sim = Sim::new(seed, 6, net(0), 2000);
        sim.form(3, 1);
        sim.kill(2);
        sim.run_for(1_000);
        let now = sim.now_ms;
        let err = sim.nodes[5].core.failover(FailoverMode::Default, now);
        // The link may still look up for a moment; FORCE works either way.
        drop(err);
        sim.drain(5);
        let now = sim.now_ms;
        sim.nodes[5]
            .core
            .failover(FailoverMode::Force, now)
            .unwrap();
        sim.drain(5);
        sim.run_until(10_000, "forced failover", |s| s.nodes[5].core.is_master());
        sim.run_until(60_000, "convergence", Sim::converged);
    }
}

#[test]
fn takeover_needs_no_votes() {
    let mut sim = Sim::new(77, 6, net(0), 2000);
    sim.form(3, 1);
    // Cut the replica off from everyone: TAKEOVER still promotes it.
    sim.partition(&[4]);
    let now = sim.now_ms;
    sim.nodes[4]
        .core
        .failover(FailoverMode::Takeover, now)
        .unwrap();
    sim.drain(4);
    assert!(sim.nodes[4].core.is_master());
    assert!(sim.nodes[4].core.my_config_epoch() > 3);
    sim.heal();
    sim.run_until(60_000, "convergence", |s| {
        s.master_of(1) == Some(4) && s.converged()
    });
}

#[test]
fn a_replica_migrates_to_an_orphaned_master() {
    for seed in seeds(4) {
        let mut sim = Sim::new(seed, 7, net(5), 2000);
        // Master 0 has replicas 3 and 6; masters 1 and 2 have one each.
        sim.form_with(3, &[0, 1, 2, 0], true);
        sim.kill(5);
        sim.run_until(60_000, "a replica of 0 moves to 2", |s| {
            [3, 6].iter().any(|&r| s.master_of(r) == Some(2))
        });
        sim.run_for(10_000);
        let to_two = [3, 6]
            .iter()
            .filter(|&&r| sim.master_of(r) == Some(2))
            .count();
        let to_zero = [3, 6]
            .iter()
            .filter(|&&r| sim.master_of(r) == Some(0))
            .count();
        assert_eq!(
            (to_two, to_zero),
            (1, 1),
            "seed {seed}: the barrier keeps one"
        );
        // The replica with the smaller name moves.
        let mover = if sim.name(3) < sim.name(6) { 3 } else { 6 };
        assert_eq!(sim.master_of(mover), Some(2), "seed {seed}");
    }
}

#[test]
fn a_slot_moved_with_setslot_reaches_everyone() {
    for seed in seeds(4) {
        let mut sim = Sim::new(seed, 6, net(5), 2000);
        sim.form(3, 1);
        let (src, dst) = (0, 1);
        let (src_name, dst_name) = (sim.name(src), sim.name(dst));
        let now = sim.now_ms;
        sim.nodes[dst]
            .core
            .set_slot_importing(0, &src_name, now)
            .unwrap();
        sim.nodes[src]
            .core
            .set_slot_migrating(0, &dst_name, now)
            .unwrap();
        assert_eq!(
            sim.nodes[dst]
                .core
                .routing()
                .importing_from(0)
                .map(|n| n.name),
            Some(src_name)
        );
        sim.nodes[dst]
            .core
            .set_slot_node(0, &dst_name, false, now)
            .unwrap();
        sim.nodes[src]
            .core
            .set_slot_node(0, &dst_name, false, now)
            .unwrap();
        sim.drain(src);
        sim.drain(dst);
        sim.run_until(30_000, "slot 0 moved", |s| {
            s.converged() && s.nodes[4].core.slot_owner(0) == Some(dst_name)
        });
        assert!(sim.nodes[src].core.routing().migrating.is_empty());
    }
}

#[test]
fn equal_config_epochs_are_resolved() {
    for seed in seeds(4) {
        let mut sim = Sim::new(seed, 6, net(5), 2000);
        sim.form_with(3, &[0, 1, 2], false);
        sim.run_until(30_000, "distinct master epochs", |s| {
            let epochs: BTreeSet<u64> = (0..3).map(|m| s.nodes[m].core.my_config_epoch()).collect();
            epochs.len() == 3
        });
    }
}

#[test]
fn fifty_nodes_fail_over_two_masters() {
    let mut sim = Sim::new(5, 50, net(2), 3000);
    sim.form(25, 1);
    sim.kill(3);
    sim.run_for(2_000);
    sim.kill(17);
    sim.run_until(90_000, "both replicas promoted", |s| {
        s.nodes[25 + 3].core.is_master() && s.nodes[25 + 17].core.is_master() && s.converged()
    });
}

#[test]
fn a_two_sided_partition_heals() {
    for seed in seeds(4) {
        let mut sim = Sim::new(seed, 10, net(5), 2000);
        sim.form(5, 1);
        // Minority: masters 0 and 1 with replica 7 (of master 2). The
        // majority promotes 5 and 6; the minority cannot fail anything over.
        sim.partition(&[0, 1, 7]);
        sim.run_until(60_000, "majority failover", |s| {
            s.nodes[5].core.is_master() && s.nodes[6].core.is_master()
        });
        sim.run_for(5_000);
        assert!(!sim.nodes[7].core.is_master(), "seed {seed}");
        for i in [0, 1, 7] {
            assert!(
                !sim.nodes[i].core.state_ok(),
                "seed {seed}: node {i} in the minority"
            );
        }
        sim.heal();
        sim.run_until(60_000, "convergence after heal", Sim::converged);
        assert_eq!(sim.master_of(0), Some(5), "seed {seed}");
        assert_eq!(sim.master_of(1), Some(6), "seed {seed}");
    }
}

#[test]
fn heavy_loss_still_converges() {
    for seed in seeds(3) {
        let mut sim = Sim::new(seed, 6, net(50), 2000);
        // Elections may need many rounds: never rule the replica out for
        // its data age (cluster-replica-validity-factor 0).
        sim.configure(|cfg| cfg.replica_validity_factor = 0);
        sim.form(3, 1);
        sim.kill(0);
        sim.run_until(90_000, "failover under loss", |s| {
            s.nodes[3].core.is_master() && s.converged()
        });
    }
}

/// Bus cost of a formed, stable cluster: bytes per second each node writes
/// at the default cluster-node-timeout (15000 ms), measured over a few
/// simulated minutes after formation. Prints the figures
/// (`cargo test -p shoal-cluster --release --test sim bus_cost -- --nocapture`);
/// asserts only sanity bounds.
#[test]
fn bus_cost_of_a_stable_cluster() {
    const NODE_TIMEOUT_MS: u64 = 15_000;
    const WARMUP_MS: u64 = 30_000;
    const MEASURE_MS: u64 = 180_000;
    for (masters, replicas_each) in [(3, 1), (50, 1)] {
        let count = masters * (1 + replicas_each);
        let mut sim = Sim::new(1, count, net(0), NODE_TIMEOUT_MS);
        sim.form(masters, replicas_each);
        let formed_s = (sim.now_ms - START_MS) / 1000;
        sim.run_for(WARMUP_MS);
        assert!(sim.converged(), "{count} nodes: stable before measuring");
        sim.sent_bytes.iter_mut().for_each(|b| *b = 0);
        sim.sent_msgs.iter_mut().for_each(|m| *m = 0);
        sim.run_for(MEASURE_MS);
        assert!(sim.converged(), "{count} nodes: still stable");
        let secs = MEASURE_MS as f64 / 1000.0;
        let per_s: Vec<f64> = sim.sent_bytes.iter().map(|&b| b as f64 / secs).collect();
        let mean = per_s.iter().sum::<f64>() / count as f64;
        let max = per_s.iter().cloned().fold(0.0, f64::max);
        let min = per_s.iter().cloned().fold(f64::MAX, f64::min);
        let msgs = sim.sent_msgs.iter().sum::<u64>() as f64 / secs / count as f64;
        let avg_msg = sim.sent_bytes.iter().sum::<u64>() as f64
            / sim.sent_msgs.iter().sum::<u64>().max(1) as f64;
        println!(
            "bus cost, {count} nodes ({masters} masters + {} replicas), node timeout \
             {NODE_TIMEOUT_MS} ms, {secs:.0} s: per node mean {:.1} KB/s, max {:.1} KB/s, \
             min {:.1} KB/s; {msgs:.1} msgs/s per node, {avg_msg:.0} B/msg \
             (formed in {formed_s} s)",
            masters * replicas_each,
            mean / 1000.0,
            max / 1000.0,
            min / 1000.0,
        );
        // Sanity: every node pings a peer each second and answers pings,
        // each message at least a header; far below saturating a link.
        let header = bus::HEADER_BYTES as f64;
        assert!(min >= header, "{count} nodes: a node sends almost nothing");
        assert!(max < 10_000_000.0, "{count} nodes: over 10 MB/s per node");
    }
}
