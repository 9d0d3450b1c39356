//! No acknowledged write is lost across a failover, through real processes:
//! a six-node Shoal cluster (three masters, one replica each, made with
//! `redis-cli --cluster create`).
//!
//! - Automatic failover, many rounds: writers SET unique keys in one
//!   master's slot, each followed by `WAIT 1`; a write counts as
//!   acknowledged only when WAIT answered ≥ 1. The master is SIGKILLed in
//!   the middle of the stream; once its replica is promoted and a write to
//!   the slot succeeds again through a MOVED-following client, every
//!   acknowledged key must be on the new master. The killed node restarts on
//!   its directory, rejoins as the new master's replica, and is the replica
//!   the next failover of that shard promotes (rounds rotate over the three
//!   shards, so every node is killed and promoted several times).
//! - Manual `CLUSTER FAILOVER`: a writer keeps writing through a
//!   MOVED-following client before, during and after the switch; every
//!   write answered +OK (no WAIT) is on the new master and, once it caught
//!   up, on the old one (now its replica).
//!
//! Every wait has a deadline; only the processes started here are killed.

mod common;

use common::*;
use shoal_cluster::key_hash_slot;
use std::collections::HashMap;
use std::io::Write;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Failure detection: PFAIL after this long without a PONG. Small to keep
/// the rounds short (a round is about node timeout + election + a restart).
const NODE_TIMEOUT_MS: u64 = 1000;
/// Automatic failover rounds (at least 20 by the brief).
const KILL_ROUNDS: usize = 21;
/// Manual failovers (back and forth between the two nodes of one shard).
const MANUAL_ROUNDS: usize = 6;
/// Deadline for a cluster to form, a failover to finish, a node to resync.
const CONVERGE: Duration = Duration::from_secs(30);
/// Writers per automatic-failover round.
const WRITERS: usize = 2;

/// Two six-node clusters at once on a two-core machine would blur the
/// failure detector's timing; the tests of this file take turns.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------
// Raw RESP over TCP, never panicking on a dead peer.

/// One command on a fresh connection; None if the node does not answer.
fn try_call(port: u16, args: &[&str]) -> Option<Vec<u8>> {
    let mut r = Raw::try_connect(port).ok()?;
    r.stream.write_all(&encode(args)).ok()?;
    r.read_reply(Duration::from_secs(5))
}

/// A bulk-string reply's payload as text (error/status lines as they are).
fn text(reply: &[u8]) -> String {
    let s = String::from_utf8_lossy(reply);
    if s.starts_with('$') {
        s.split_once("\r\n")
            .map(|(_, rest)| rest.trim_end_matches("\r\n").to_string())
            .unwrap_or_default()
    } else {
        s.strip_prefix('+').unwrap_or(&s).trim_end().to_string()
    }
}

fn info(port: u16, section: &str) -> String {
    try_call(port, &["INFO", section])
        .map(|r| text(&r))
        .unwrap_or_default()
}

/// One line of CLUSTER NODES.
#[derive(Debug, Clone)]
struct NodeLine {
    id: String,
    port: u16,
    flags: String,
    master: String,
    slots: Vec<(u16, u16)>,
}

impl NodeLine {
    fn has_flag(&self, f: &str) -> bool {
        self.flags.split(',').any(|x| x == f)
    }
    fn owns(&self, slot: u16) -> bool {
        self.slots.iter().any(|&(a, b)| a <= slot && slot <= b)
    }
}

/// CLUSTER NODES as seen by the node on `port`.
fn view(port: u16) -> Option<Vec<NodeLine>> {
    let listing = text(&try_call(port, &["CLUSTER", "NODES"])?);
    let mut out = Vec::new();
    for line in listing.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        if f.len() < 8 {
            return None;
        }
        let port = f[1]
            .split(['@', ','])
            .next()?
            .rsplit(':')
            .next()?
            .parse()
            .ok()?;
        let slots = f[8..]
            .iter()
            .filter(|s| !s.starts_with('['))
            .filter_map(|s| match s.split_once('-') {
                Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                None => s.parse().ok().map(|a| (a, a)),
            })
            .collect();
        out.push(NodeLine {
            id: f[0].to_string(),
            port,
            flags: f[2].to_string(),
            master: f[3].to_string(),
            slots,
        });
    }
    Some(out)
}

/// The (master, replica) ports serving `slot`, as the node on `port` sees
/// them: a master without fail flags owning the slot, and its one replica.
fn shard(port: u16, slot: u16) -> Option<(u16, u16)> {
    let v = view(port)?;
    let ok = |n: &NodeLine| !n.has_flag("fail") && !n.has_flag("fail?") && !n.has_flag("handshake");
    let m = v
        .iter()
        .find(|n| n.has_flag("master") && n.owns(slot) && ok(n))?;
    let replicas: Vec<&NodeLine> = v
        .iter()
        .filter(|n| n.has_flag("slave") && n.master == m.id && ok(n))
        .collect();
    (replicas.len() == 1).then(|| (m.port, replicas[0].port))
}

/// The master on `m` and the replica on `r` are linked and the replica
/// applied everything the master propagated.
fn in_sync(m: u16, r: u16) -> bool {
    let mi = info(m, "replication");
    let ri = info(r, "replication");
    let online = mi
        .lines()
        .any(|l| l.starts_with("slave0:") && l.contains(&format!("port={r},state=online")));
    online
        && info_field(&mi, "role").as_deref() == Some("master")
        && info_field(&ri, "role").as_deref() == Some("slave")
        && info_field(&ri, "master_port") == Some(m.to_string())
        && info_field(&ri, "master_link_status").as_deref() == Some("up")
        && info_field(&mi, "master_repl_offset") == info_field(&ri, "slave_repl_offset")
}

/// A hash tag whose slot the node on `port` serves as a master.
fn tag_owned_by(port: u16, label: &str) -> (String, u16) {
    let v = view(port).expect("CLUSTER NODES");
    let me = v.iter().find(|n| n.has_flag("myself")).unwrap().clone();
    (0..100_000)
        .map(|i| format!("{label}{i}"))
        .map(|t| {
            let slot = key_hash_slot(t.as_bytes());
            (t, slot)
        })
        .find(|(_, slot)| me.owns(*slot))
        .expect("a tag in the node's slots")
}

// ---------------------------------------------------------------------------
// A cluster-aware client: follows MOVED, refreshes from any node on failure.

struct Router {
    seeds: Vec<u16>,
    next_seed: usize,
    owner: HashMap<u16, u16>,
    conns: HashMap<u16, Raw>,
}

impl Router {
    fn new(seeds: Vec<u16>) -> Router {
        Router {
            seeds,
            next_seed: 0,
            owner: HashMap::new(),
            conns: HashMap::new(),
        }
    }

    fn send_recv(&mut self, port: u16, args: &[&str]) -> Option<Vec<u8>> {
        if !self.conns.contains_key(&port) {
            self.conns.insert(port, Raw::try_connect(port).ok()?);
        }
        let conn = self.conns.get_mut(&port).unwrap();
        let reply = match conn.stream.write_all(&encode(args)) {
            Ok(()) => conn.read_reply(IO_TIMEOUT),
            Err(_) => None,
        };
        if reply.is_none() {
            self.conns.remove(&port);
        }
        reply
    }

    /// One attempt at a command on `slot`: to the slot's last known owner
    /// (else the next seed), following up to five MOVED. Ok(reply) for any
    /// reply that is not a redirect (CLUSTERDOWN included), Err when a node
    /// did not answer (the cached owner is then forgotten).
    fn call(&mut self, slot: u16, args: &[&str]) -> Result<Vec<u8>, String> {
        let mut port = match self.owner.get(&slot) {
            Some(&p) => p,
            None => {
                self.next_seed += 1;
                self.seeds[self.next_seed % self.seeds.len()]
            }
        };
        for _ in 0..5 {
            let Some(reply) = self.send_recv(port, args) else {
                self.owner.remove(&slot);
                return Err(format!("no reply from {port}"));
            };
            if reply.starts_with(b"-MOVED ") {
                let line = text(&reply);
                port = line
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| format!("bad redirect {line}"))?;
                self.owner.insert(slot, port);
                continue;
            }
            self.owner.insert(slot, port);
            return Ok(reply);
        }
        Err("too many redirects".into())
    }

    /// Retry `SET key value` every 10 ms until it answers +OK; the port
    /// that answered, or None at the deadline.
    fn set_until_ok(&mut self, key: &str, value: &str, deadline: Instant) -> Option<u16> {
        let slot = key_hash_slot(key.as_bytes());
        while Instant::now() < deadline {
            if let Ok(r) = self.call(slot, &["SET", key, value]) {
                if r == b"+OK\r\n" {
                    return self.owner.get(&slot).copied();
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

/// The keys of `acked` (all in one slot) missing or wrong on the node at
/// `port` (`readonly`: a replica, read with READONLY).
fn missing_on(port: u16, acked: &[(String, String)], readonly: bool) -> Vec<String> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let mut con = client
        .get_connection_with_timeout(IO_TIMEOUT)
        .expect("connect for the check");
    con.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    if readonly {
        redis::cmd("READONLY").query::<()>(&mut con).unwrap();
    }
    let mut missing = Vec::new();
    for chunk in acked.chunks(1000) {
        let keys: Vec<&str> = chunk.iter().map(|(k, _)| k.as_str()).collect();
        let got: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&keys)
            .query(&mut con)
            .unwrap_or_else(|e| panic!("MGET on {port}: {e}"));
        for ((k, v), g) in chunk.iter().zip(got) {
            if g.as_deref() != Some(v.as_str()) {
                missing.push(format!("{k} (expected {v}, found {g:?})"));
            }
        }
    }
    missing
}

// ---------------------------------------------------------------------------
// The cluster.

struct Cluster {
    _root: TempDir,
    nodes: Vec<Node>,
}

impl Cluster {
    fn start(node_timeout_ms: u64) -> Cluster {
        assert!(require_tool(REDIS_CLI, "redis-cli"));
        let t = node_timeout_ms.to_string();
        let (root, nodes) = start_cluster_nodes(6, &["--cluster-node-timeout", &t]);
        let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
        args.extend(nodes.iter().map(|n| n.addr()));
        args.extend(["--cluster-replicas", "1", "--cluster-yes"].map(String::from));
        let mut c = Command::new(REDIS_CLI);
        c.args(&args);
        let (_ok, out, err) = run_with_timeout(c, None, Duration::from_secs(120));
        assert!(out.contains("[OK] All 16384 slots covered"), "{out}{err}");
        let cluster = Cluster { _root: root, nodes };
        // Every node: state ok, six nodes known, three replicas, each in sync.
        let ports = cluster.ports();
        let formed = wait_until(CONVERGE, || {
            ports.iter().all(|&p| {
                info_field(
                    &text(&try_call(p, &["CLUSTER", "INFO"]).unwrap_or_default()),
                    "cluster_state",
                )
                .as_deref()
                    == Some("ok")
                    && view(p).is_some_and(|v| {
                        v.len() == 6 && v.iter().filter(|n| n.has_flag("slave")).count() == 3
                    })
            })
        });
        assert!(formed, "cluster never formed:\n{}", cluster.dump());
        cluster
    }

    fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    fn index(&self, port: u16) -> usize {
        self.nodes.iter().position(|n| n.port == port).unwrap()
    }

    /// A live node's view of `slot`'s shard, once every live node agrees on
    /// it and the replica is in sync with the master.
    fn settled_shard(&self, slot: u16, live: &[u16]) -> (u16, u16) {
        let mut last = None;
        let ok = wait_until(CONVERGE, || {
            let views: Vec<Option<(u16, u16)>> = live.iter().map(|&p| shard(p, slot)).collect();
            last = views[0];
            match views[0] {
                Some((m, r)) => views.iter().all(|v| *v == Some((m, r))) && in_sync(m, r),
                None => false,
            }
        });
        assert!(
            ok,
            "slot {slot}'s shard never settled (last {last:?}):\n{}",
            self.dump()
        );
        last.unwrap()
    }

    /// CLUSTER NODES from every live node and the tail of every log.
    fn dump(&self) -> String {
        let mut s = String::new();
        for n in &self.nodes {
            s += &format!(
                "--- node {} CLUSTER NODES:\n{}\n--- log tail:\n{}\n",
                n.port,
                try_call(n.port, &["CLUSTER", "NODES"])
                    .map(|r| text(&r))
                    .unwrap_or_else(|| "(no answer)".into()),
                n.log_text()
                    .lines()
                    .rev()
                    .take(25)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        s
    }
}

/// A small deterministic generator (the seed is printed, for a re-run).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

// ---------------------------------------------------------------------------

/// One writer: `SET {tag}:rR:wW:i value` then `WAIT 1 1000` on one
/// connection to the master, until the connection dies or `stop`. Returns
/// the acknowledged (WAIT ≥ 1) pairs and how many WAITs answered 0.
fn wait_writer(
    port: u16,
    prefix: String,
    acked: Arc<Mutex<Vec<(String, String)>>>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let Ok(mut r) = Raw::try_connect(port) else {
            return 0;
        };
        let mut unreplicated = 0;
        for i in 0.. {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let key = format!("{prefix}:{i}");
            let value = format!("v{i}-{prefix}");
            let mut req = encode(&["SET", &key, &value]);
            req.extend(encode(&["WAIT", "1", "1000"]));
            if r.stream.write_all(&req).is_err() {
                break;
            }
            let Some(set) = r.read_reply(IO_TIMEOUT) else {
                break;
            };
            let Some(wait) = r.read_reply(IO_TIMEOUT) else {
                break;
            };
            let n: i64 = std::str::from_utf8(&wait)
                .ok()
                .and_then(|s| s.strip_prefix(':'))
                .and_then(|s| s.trim_end().parse().ok())
                .unwrap_or(-1);
            if set == b"+OK\r\n" && n >= 1 {
                acked.lock().unwrap().push((key, value));
            } else if set == b"+OK\r\n" && n == 0 {
                unreplicated += 1;
            } else {
                break; // an error: the master is no longer serving the slot
            }
        }
        unreplicated
    })
}

#[test]
fn acknowledged_writes_survive_kill9_failovers() {
    let _serial = serial();
    let started = Instant::now();
    let mut cluster = Cluster::start(NODE_TIMEOUT_MS);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("failover rounds: seed {seed}, node timeout {NODE_TIMEOUT_MS} ms");
    let mut rng = Lcg(seed);

    // One hash tag per shard, in the slots of the three original masters.
    let masters: Vec<u16> = cluster
        .ports()
        .into_iter()
        .filter(|&p| info_field(&info(p, "replication"), "role").as_deref() == Some("master"))
        .collect();
    assert_eq!(masters.len(), 3);
    let tags: Vec<(String, u16)> = masters
        .iter()
        .enumerate()
        .map(|(i, &p)| tag_owned_by(p, &format!("s{i}-")))
        .collect();

    let mut all_acked: Vec<Vec<(String, String)>> = vec![Vec::new(); 3];
    let mut failover_ms = Vec::new();
    for round in 0..KILL_ROUNDS {
        let s = round % 3;
        let (tag, slot) = tags[s].clone();
        let live = cluster.ports();
        let (master, replica) = cluster.settled_shard(slot, &live);

        // Writers on the master, each write followed by WAIT 1.
        let acked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                wait_writer(
                    master,
                    format!("{{{tag}}}:r{round}:w{w}"),
                    acked.clone(),
                    stop.clone(),
                )
            })
            .collect();
        let want = 50 + rng.below(200) as usize;
        let enough = wait_until(Duration::from_secs(20), || {
            acked.lock().unwrap().len() >= want
        });
        assert!(
            enough,
            "round {round}: only {} writes acknowledged by WAIT on {master}:\n{}",
            acked.lock().unwrap().len(),
            cluster.dump()
        );
        std::thread::sleep(Duration::from_millis(rng.below(100)));

        // SIGKILL the master mid-stream.
        let victim = cluster.index(master);
        let killed_at = Instant::now();
        cluster.nodes[victim].kill();
        let mut unreplicated = 0;
        for w in writers {
            unreplicated += w.join().expect("writer thread");
        }
        stop.store(true, Ordering::Relaxed);
        let acked = std::mem::take(&mut *acked.lock().unwrap());

        // Writes to the slot succeed again through a MOVED-following client.
        let survivors: Vec<u16> = live.iter().copied().filter(|&p| p != master).collect();
        let mut router = Router::new(survivors.clone());
        let probe = format!("{{{tag}}}:probe:{round}");
        let served_by = router.set_until_ok(&probe, "1", killed_at + CONVERGE);
        let took = killed_at.elapsed();
        assert!(
            served_by.is_some(),
            "round {round}: no write to slot {slot} succeeded within {CONVERGE:?} after killing {master}:\n{}",
            cluster.dump()
        );
        assert_eq!(
            served_by,
            Some(replica),
            "round {round}: slot {slot} is served by {served_by:?}, not by {master}'s replica {replica}"
        );
        failover_ms.push(took.as_millis() as u64);

        // Every acknowledged write is on the new master.
        let missing = missing_on(replica, &acked, false);
        assert!(
            missing.is_empty(),
            "round {round}: {} of {} acknowledged writes lost after {master} failed over to {replica}; first: {:?}\n{}",
            missing.len(),
            acked.len(),
            &missing[..missing.len().min(10)],
            cluster.dump()
        );
        eprintln!(
            "round {round:2}: shard {s}, {master} -> {replica}: {} acknowledged writes kept ({unreplicated} with WAIT 0), writable again after {} ms",
            acked.len(),
            took.as_millis()
        );
        all_acked[s].extend(acked);

        // The killed node restarts on its directory and rejoins as a replica.
        cluster.nodes[victim].restart();
        let rejoined = wait_until(CONVERGE, || in_sync(replica, master));
        assert!(
            rejoined,
            "round {round}: {master} never resynced as {replica}'s replica:\n{}",
            cluster.dump()
        );
    }

    // Nothing acknowledged in any round is gone, after all the failovers
    // and full resyncs since.
    let live = cluster.ports();
    for (s, (_tag, slot)) in tags.iter().enumerate() {
        let (master, replica) = cluster.settled_shard(*slot, &live);
        let missing = missing_on(master, &all_acked[s], false);
        assert!(
            missing.is_empty(),
            "shard {s} lost {:?}",
            &missing[..missing.len().min(10)]
        );
        let missing = missing_on(replica, &all_acked[s], true);
        assert!(
            missing.is_empty(),
            "shard {s}'s replica lacks {:?}",
            &missing[..missing.len().min(10)]
        );
    }
    failover_ms.sort();
    eprintln!(
        "{KILL_ROUNDS} kill -9 failovers, {} acknowledged writes, none lost; writable again after min {} / median {} / max {} ms; {:.1} s in all",
        all_acked.iter().map(|a| a.len()).sum::<usize>(),
        failover_ms[0],
        failover_ms[failover_ms.len() / 2],
        failover_ms[failover_ms.len() - 1],
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn manual_failover_loses_no_acknowledged_write() {
    let _serial = serial();
    let cluster = Cluster::start(NODE_TIMEOUT_MS);
    let live = cluster.ports();
    let first_master = live
        .iter()
        .copied()
        .find(|&p| info_field(&info(p, "replication"), "role").as_deref() == Some("master"))
        .unwrap();
    let (tag, slot) = tag_owned_by(first_master, "mf-");
    let mut all_acked = Vec::new();
    let mut last_replaced: HashMap<u16, Instant> = HashMap::new();
    for round in 0..MANUAL_ROUNDS {
        let (master, replica) = cluster.settled_shard(slot, &live);
        assert_eq!(shard(master, slot), Some((master, replica)));

        // A writer through a MOVED-following client; +OK is the only ack.
        let acked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (acked, stop, tag, live) = (acked.clone(), stop.clone(), tag.clone(), live.clone());
            std::thread::spawn(move || {
                let mut router = Router::new(live);
                let mut errors = Vec::new();
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let key = format!("{{{tag}}}:m{round}:{i}");
                    let value = format!("v{i}");
                    match router.call(slot, &["SET", &key, &value]) {
                        Ok(r) if r == b"+OK\r\n" => acked.lock().unwrap().push((key, value)),
                        Ok(r) => errors.push(text(&r)),
                        Err(e) => errors.push(e),
                    }
                }
                errors
            })
        };
        let count = || acked.lock().unwrap().len();
        assert!(wait_until(CONVERGE, || count() >= 300), "writer stalled");
        // A master votes for one replacement of a given master per 2 ×
        // node timeout (Redis's voted_time rule): wait that long after the
        // last election that replaced this master, no more. (A node
        // promoted shortly before used to need auth_retry, 4 × node
        // timeout, as in Redis 7.0, which keeps the old election's state.)
        let vote_window = Duration::from_millis(2 * NODE_TIMEOUT_MS + 300);
        if let Some(at) = last_replaced.get(&master) {
            std::thread::sleep(vote_window.saturating_sub(at.elapsed()));
        }
        let before = count();
        let asked = Instant::now();
        let reply = try_call(replica, &["CLUSTER", "FAILOVER"]).map(|r| text(&r));
        assert_eq!(reply.as_deref(), Some("OK"));
        let swapped = wait_until(CONVERGE, || {
            info_field(&info(replica, "replication"), "role").as_deref() == Some("master")
                && info_field(&info(master, "replication"), "role").as_deref() == Some("slave")
        });
        assert!(
            swapped,
            "round {round}: CLUSTER FAILOVER never swapped {master} and {replica}:\n{}",
            cluster.dump()
        );
        let took = asked.elapsed();
        last_replaced.insert(master, Instant::now());
        let during = count() - before;
        let at_swap = count();
        assert!(
            wait_until(CONVERGE, || count() >= at_swap + 300),
            "round {round}: writes never resumed after the failover:\n{}",
            cluster.dump()
        );
        stop.store(true, Ordering::Relaxed);
        let errors = writer.join().expect("writer thread");
        let acked = std::mem::take(&mut *acked.lock().unwrap());

        let missing = missing_on(replica, &acked, false);
        assert!(
            missing.is_empty(),
            "round {round}: {} of {} acknowledged writes lost by CLUSTER FAILOVER {master} -> {replica}; first: {:?}\n{}",
            missing.len(),
            acked.len(),
            &missing[..missing.len().min(10)],
            cluster.dump()
        );
        // The old master, now a replica, gets every one of them too.
        let mut last = Vec::new();
        let caught_up = wait_until(CONVERGE, || {
            last = missing_on(master, &acked, true);
            last.is_empty()
        });
        assert!(
            caught_up,
            "round {round}: the old master {master} lacks {} writes: {:?}",
            last.len(),
            &last[..last.len().min(10)]
        );
        eprintln!(
            "manual {round}: {master} -> {replica} in {} ms; {} writes acknowledged ({before} before, {during} while it ran), none lost; {} errors seen by the writer {:?}",
            took.as_millis(),
            acked.len(),
            errors.len(),
            &errors[..errors.len().min(3)]
        );
        all_acked.extend(acked);
    }
    let (master, _) = cluster.settled_shard(slot, &live);
    let missing = missing_on(master, &all_acked, false);
    assert!(
        missing.is_empty(),
        "lost after {MANUAL_ROUNDS} failovers: {:?}",
        &missing[..missing.len().min(10)]
    );
}

// ---------------------------------------------------------------------------
// A mixed cluster: Debian's redis-server 7.0.15 and Shoal fail over for each
// other.

/// A node's id (CLUSTER MYID).
fn myid(port: u16) -> String {
    try_call(port, &["CLUSTER", "MYID"])
        .map(|r| text(&r))
        .unwrap_or_default()
}

/// Every node on `observers` sees `master` as a flag-free master owning
/// exactly `slots` and `replica` as its replica (with no fail flags unless
/// `replica_failed`).
fn all_see(
    observers: &[u16],
    master: &str,
    slots: &[(u16, u16)],
    replica: &str,
    replica_failed: bool,
) -> bool {
    observers.iter().all(|&o| {
        let Some(v) = view(o) else { return false };
        let m = v.iter().find(|n| n.id == master);
        let r = v.iter().find(|n| n.id == replica);
        let clean = |n: &NodeLine| !n.has_flag("fail") && !n.has_flag("fail?");
        m.is_some_and(|m| m.has_flag("master") && clean(m) && m.slots == slots)
            && r.is_some_and(|r| {
                r.has_flag("slave") && r.master == master && (replica_failed || clean(r))
            })
    })
}

/// SET `count` keys `{tag}:i` on the master at `port`, then WAIT for one
/// replica to have them all.
fn fill(port: u16, tag: &str, count: usize) {
    let mut r = Raw::connect(port);
    let mut req = Vec::new();
    for i in 0..count {
        req.extend(encode(&[
            "SET",
            &format!("{{{tag}}}:{i}"),
            &format!("v{i}"),
        ]));
    }
    r.send(&req);
    for _ in 0..count {
        assert_eq!(r.read_reply(IO_TIMEOUT).as_deref(), Some(&b"+OK\r\n"[..]));
    }
    assert_eq!(r.call(&["WAIT", "1", "10000"]), b":1\r\n");
}

/// A Redis 7.0.15 replica of a Shoal master and a Shoal replica of a Redis
/// 7.0.15 master each win the election when their master is SIGKILLed
/// (votes come from masters of both kinds), keep the data, serve the slots
/// to `redis-cli -c`; every node of both kinds follows, and each killed node
/// restarts as a replica of its successor and resyncs from it (Redis from
/// Shoal, Shoal from Redis).
#[test]
fn a_mixed_cluster_fails_over_both_ways() {
    if !require_tool(REDIS_CLI, "redis-cli") || !require_tool(REDIS_SERVER, "redis-server") {
        return;
    }
    let _serial = serial();
    let t = NODE_TIMEOUT_MS.to_string();
    let root = TempDir::new("shoal-mixed-failover");
    let start = |name: &str, binary: &str| {
        let dir = root.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut args = vec!["--cluster-enabled", "yes", "--cluster-node-timeout", &t];
        args.extend(["--appendonly", "no"]);
        Node::start(binary, free_port(), &dir, &args)
    };
    // Masters: Shoal, Redis, Shoal. Replicas: Redis of the first, Shoal of
    // the second.
    let mut nodes = vec![
        start("shoal-master", shoal_bin()),
        start("redis-master", REDIS_SERVER),
        start("shoal-master-2", shoal_bin()),
        start("redis-replica", REDIS_SERVER),
        start("shoal-replica", shoal_bin()),
    ];
    let (sm, rm, s2, rr, sr) = (0, 1, 2, 3, 4);
    let p: Vec<u16> = nodes.iter().map(|n| n.port).collect();
    let ids: Vec<String> = p.iter().map(|&port| myid(port)).collect();
    let dump = |nodes: &[Node]| {
        nodes
            .iter()
            .map(|n| {
                format!(
                    "--- {} ({}):\n{}\n{}",
                    n.port,
                    n.dir().display(),
                    n.cli(&["cluster", "nodes"]),
                    n.log_text()
                        .lines()
                        .rev()
                        .take(30)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect::<Vec<_>>()
                        .join("\n")
                )
            })
            .collect::<String>()
    };
    let addr = |i: usize| format!("127.0.0.1:{}", p[i]);
    let mut c = Command::new(REDIS_CLI);
    c.args([
        "--cluster",
        "create",
        &addr(sm),
        &addr(rm),
        &addr(s2),
        "--cluster-yes",
    ]);
    let (_ok, out, err) = run_with_timeout(c, None, Duration::from_secs(120));
    assert!(out.contains("[OK] All 16384 slots covered"), "{out}{err}");
    for (replica, master) in [(rr, sm), (sr, rm)] {
        let mut c = Command::new(REDIS_CLI);
        c.args(["--cluster", "add-node", &addr(replica), &addr(master)]);
        c.args(["--cluster-slave", "--cluster-master-id", &ids[master]]);
        let (_ok, out, err) = run_with_timeout(c, None, Duration::from_secs(120));
        assert!(out.contains("[OK] New node added correctly."), "{out}{err}");
    }
    let slots_of = |port: u16, id: &str| {
        view(port)
            .and_then(|v| v.into_iter().find(|n| n.id == id))
            .map(|n| n.slots)
            .unwrap_or_default()
    };
    let sm_slots = slots_of(p[sm], &ids[sm]);
    let rm_slots = slots_of(p[sm], &ids[rm]);
    let formed = wait_until(CONVERGE, || {
        all_see(&p, &ids[sm], &sm_slots, &ids[rr], false)
            && all_see(&p, &ids[rm], &rm_slots, &ids[sr], false)
            && in_sync(p[sm], p[rr])
            && in_sync(p[rm], p[sr])
    });
    assert!(formed, "the mixed cluster never formed:\n{}", dump(&nodes));
    let (stag, _) = tag_owned_by(p[sm], "shoal-");
    let (rtag, _) = tag_owned_by(p[rm], "redis-");
    fill(p[sm], &stag, 500);
    fill(p[rm], &rtag, 500);

    // kill -9 of each master in turn: (victim, its replica, the keys' tag).
    for (victim, heir, tag) in [(sm, rr, &stag), (rm, sr, &rtag)] {
        let slots = slots_of(p[heir], &ids[victim]);
        let killed = Instant::now();
        nodes[victim].kill();
        let live: Vec<u16> = (0..nodes.len())
            .filter(|&i| i != victim)
            .map(|i| p[i])
            .collect();
        let took_over = wait_until(CONVERGE, || {
            info_field(&info(p[heir], "replication"), "role").as_deref() == Some("master")
                && live.iter().all(|&o| {
                    view(o).is_some_and(|v| {
                        v.iter().any(|n| n.id == ids[victim] && n.has_flag("fail"))
                            && v.iter().any(|n| {
                                n.id == ids[heir] && n.has_flag("master") && n.slots == slots
                            })
                    })
                })
        });
        assert!(
            took_over,
            "{} never took over from {}:\n{}",
            p[heir],
            p[victim],
            dump(&nodes)
        );
        let promoted_ms = killed.elapsed().as_millis();
        // Writes to the slots through every other node with redis-cli -c.
        for &o in &live {
            let key = format!("{{{tag}}}:after:{o}");
            let mut reply = String::new();
            let ok = wait_until(CONVERGE, || {
                reply = redis_cli(o, &["-c", "set", &key, "1"]);
                reply.trim() == "OK"
            });
            assert!(ok, "set through {o}: {reply}\n{}", dump(&nodes));
        }
        let keys: Vec<(String, String)> = (0..500)
            .map(|i| (format!("{{{tag}}}:{i}"), format!("v{i}")))
            .collect();
        let missing = missing_on(p[heir], &keys, false);
        assert!(missing.is_empty(), "lost on {}: {missing:?}", p[heir]);

        // The killed node comes back as its heir's replica and resyncs.
        nodes[victim].restart();
        let rejoined = wait_until(CONVERGE, || {
            all_see(&p, &ids[heir], &slots, &ids[victim], false) && in_sync(p[heir], p[victim])
        });
        assert!(
            rejoined,
            "{} never rejoined as {}'s replica:\n{}",
            p[victim],
            p[heir],
            dump(&nodes)
        );
        let missing = missing_on(p[victim], &keys, true);
        assert!(missing.is_empty(), "{} lacks {missing:?}", p[victim]);
        eprintln!(
            "{} ({}) -> {} ({}): promoted and agreed by all {} ms after the kill; old master resynced",
            p[victim],
            if victim == sm { "shoal" } else { "redis" },
            p[heir],
            if heir == rr { "redis" } else { "shoal" },
            promoted_ms
        );
    }
    let mut c = Command::new(REDIS_CLI);
    c.args(["--cluster", "check", &addr(s2)]);
    let (_ok, out, err) = run_with_timeout(c, None, Duration::from_secs(60));
    assert!(
        out.contains("[OK] All 16384 slots covered.") && !out.contains("[ERR]"),
        "{out}{err}"
    );
}
