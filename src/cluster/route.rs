//! Routing in cluster mode: Redis 7.0's `getNodeByQuery` and
//! `clusterRedirectClient` over the published routing snapshot, so a
//! command either runs here or gets MOVED / ASK / CROSSSLOT / TRYAGAIN /
//! CLUSTERDOWN with Redis's exact text. Key positions come from the command
//! table (`Command::keys_in`), the same table COMMAND GETKEYS reads.
//! Also the ASKING flag's lifetime and the redirect of blocked clients
//! whose slot moved away (`clusterRedirectBlockedClientIfNeeded`).

use crate::client::Client;
use crate::commands::{self, Command, KeySpec};
use crate::server::Server;
use bytes::Bytes;
use shoal_cluster::core::{RouteNode, RoutingSnapshot};
use shoal_cluster::key_hash_slot;

const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";
const TRYAGAIN: &str = "TRYAGAIN Multiple keys request during rehashing of slot";
const DOWN_STATE: &str = "CLUSTERDOWN The cluster is down";
const DOWN_RO_STATE: &str = "CLUSTERDOWN The cluster is down and only accepts read commands";
const DOWN_UNBOUND: &str = "CLUSTERDOWN Hash slot not served";
const UNASSIGNED: u32 = u32::MAX;

/// The ASKING flag for the command about to run: ASKING lasts for the next
/// command, or for the whole transaction it starts (Redis clears it in
/// `resetClient` unless the client is in MULTI or just sent ASKING).
pub fn take_asking(client: &mut Client) -> bool {
    let f = &mut client.cluster;
    if f.asking_keep {
        f.asking_keep = false;
    } else if client.multi.is_none() {
        f.asking = false;
    }
    f.asking
}

/// What a command routed to a migrating slot holds until it has run: the
/// slot's migration lock, shared (the keys it found here stay here) or, for
/// MIGRATE, exclusive (no command decides on its keys while they move).
pub enum MigrationHold<'a> {
    None,
    Shared(parking_lot::RwLockReadGuard<'a, ()>),
    Exclusive(parking_lot::RwLockWriteGuard<'a, ()>),
}

/// Check `cmd` against the slot map; `Err` is the redirect or error text.
/// Called before a command runs or is queued in MULTI; for EXEC it covers
/// every queued command's keys.
///
/// In a slot migrating away from here the answer depends on which keys are
/// here (ASK for missing ones), and MIGRATE runs on another thread: so the
/// keys are looked at under the slot's migration lock, which the caller
/// keeps (the returned hold) until the command has run. Otherwise a key
/// found here could be moved and deleted before the command runs, and a
/// write would recreate it here, behind the copy the target now serves.
/// Commands that run with the keyspace gate held exclusively (EXEC, EVAL)
/// take no hold (MIGRATE holds the gate shared, so waiting for it exclusive
/// while holding the lock could deadlock); they are routed again once they
/// hold the gate (`check_again_if_open`).
pub fn check<'a>(
    srv: &'a Server,
    client: &Client,
    cmd: &Command,
    argv: &[Bytes],
    asking: bool,
) -> Result<MigrationHold<'a>, String> {
    let Some(cl) = srv.cluster.get() else {
        return Ok(MigrationHold::None);
    };
    let is_exec = cmd.name == "exec";
    if !is_exec && cmd.keys == KeySpec::None {
        return Ok(MigrationHold::None);
    }
    if !is_exec && served_here(cl, cmd, argv) {
        return Ok(MigrationHold::None);
    }
    let snap = cl.routing();
    let myself = snap.myself as u32;
    let visit_all = |q: &mut Query| -> Result<(), String> {
        if is_exec {
            let Some(m) = client.multi.as_ref() else {
                return Ok(());
            };
            for argv in &m.queued {
                let Some(c) =
                    commands::lookup(&argv[0]).and_then(|c| commands::resolve(c, argv).ok())
                else {
                    continue;
                };
                q.visit(srv, &snap, c, argv)?;
                q.writes |= c.has(commands::WRITE);
            }
        } else {
            q.visit(srv, &snap, cmd, argv)?;
            q.writes = cmd.has(commands::WRITE);
        }
        Ok(())
    };
    let mut q = Query::default();
    visit_all(&mut q)?;
    let mut hold = MigrationHold::None;
    if q.migrating && !cmd.has(commands::EXCLUSIVE) {
        let lock = cl.migration_lock(q.slot);
        hold = if cmd.name == "migrate" {
            MigrationHold::Exclusive(lock.write())
        } else {
            MigrationHold::Shared(lock.read())
        };
        // Look at the keys again, now that none can move meanwhile.
        q = Query::default();
        visit_all(&mut q)?;
    }
    let Some(owner) = q.owner else {
        return Ok(hold);
    };
    let slot = q.slot;
    let shard_pubsub = matches!(
        cmd.name.as_str(),
        "ssubscribe" | "sunsubscribe" | "spublish"
    );
    if !snap.ok {
        let cfg = srv.config.read();
        if shard_pubsub {
            if !cfg.get_bool("cluster-allow-pubsubshard-when-down") {
                return Err(DOWN_STATE.into());
            }
        } else if !cfg.get_bool("cluster-allow-reads-when-down") {
            return Err(DOWN_STATE.into());
        } else if cmd.has(commands::WRITE) {
            return Err(DOWN_RO_STATE.into());
        }
    }
    if (q.migrating || q.importing) && cmd.name == "migrate" {
        return Ok(hold);
    }
    if q.migrating && q.missing > 0 {
        if q.existing > 0 {
            return Err(TRYAGAIN.into());
        }
        if let Some(to) = snap.migrating_to(slot) {
            return Err(redirect(srv, "ASK", slot, to));
        }
    }
    if q.importing && (asking || cmd.has(commands::ASKING)) {
        if q.multiple && q.missing > 0 {
            return Err(TRYAGAIN.into());
        }
        return Ok(hold);
    }
    let me = &snap.nodes[snap.myself];
    if (client.cluster.readonly || shard_pubsub)
        && !q.writes
        && !me.is_master
        && me.master.is_some_and(|m| m as u32 == owner)
    {
        return Ok(hold);
    }
    if owner != myself {
        let n = &snap.nodes[owner as usize];
        return Err(redirect(srv, "MOVED", slot, n));
    }
    Ok(hold)
}

/// Route an EXCLUSIVE command (EXEC, EVAL…) again once it holds the gate
/// exclusively, if any slot is open: nothing else runs now, so the keys it
/// was routed by cannot change before it runs. See `check`.
pub fn check_again_if_open(
    srv: &Server,
    client: &Client,
    cmd: &Command,
    argv: &[Bytes],
    asking: bool,
) -> Result<(), String> {
    match srv.cluster.get() {
        Some(cl) if !cl.is_stable() => check(srv, client, cmd, argv, asking).map(|_| ()),
        _ => Ok(()),
    }
}

/// The fast path: a plain key range whose keys all hash to one slot this
/// node serves while the cluster is ok and no slot is open. Anything else
/// (including every error) takes the full check.
#[inline]
fn served_here(cl: &super::Cluster, cmd: &Command, argv: &[Bytes]) -> bool {
    let KeySpec::Range { first, last, step } = cmd.keys else {
        return false;
    };
    let n = argv.len() as i32;
    let last = if last < 0 { n + last } else { last.min(n - 1) };
    let mut i = first;
    let mut slot = None;
    while i <= last && i < n {
        let s = key_hash_slot(&argv[i as usize]);
        match slot {
            None if !cl.serves_stable(s) => return false,
            None => slot = Some(s),
            Some(prev) if prev != s => return false,
            Some(_) => {}
        }
        i += step.max(1);
    }
    slot.is_some()
}

/// What the keys of a request add up to.
#[derive(Default)]
struct Query {
    first: Option<Bytes>,
    slot: u16,
    owner: Option<u32>,
    migrating: bool,
    importing: bool,
    multiple: bool,
    missing: usize,
    existing: usize,
    writes: bool,
}

impl Query {
    fn visit(
        &mut self,
        srv: &Server,
        snap: &RoutingSnapshot,
        cmd: &Command,
        argv: &[Bytes],
    ) -> Result<(), String> {
        let shard_pubsub = matches!(
            cmd.name.as_str(),
            "ssubscribe" | "sunsubscribe" | "spublish"
        );
        for i in cmd.keys_in(argv) {
            let key = &argv[i];
            let slot = key_hash_slot(key);
            match &self.first {
                None => {
                    self.first = Some(key.clone());
                    self.slot = slot;
                    let owner = snap.slots[slot as usize];
                    if owner == UNASSIGNED {
                        return Err(DOWN_UNBOUND.into());
                    }
                    self.owner = Some(owner);
                    if owner == snap.myself as u32 && snap.migrating_to(slot).is_some() {
                        self.migrating = true;
                    } else if snap.importing_from(slot).is_some() {
                        self.importing = true;
                    }
                }
                Some(first) if first != key => {
                    if slot != self.slot {
                        return Err(CROSSSLOT.into());
                    }
                    self.multiple = true;
                }
                Some(_) => {}
            }
            if (self.migrating || self.importing) && !shard_pubsub {
                if key_exists(srv, key) {
                    self.existing += 1;
                } else {
                    self.missing += 1;
                }
            }
        }
        Ok(())
    }
}

/// Whether `key` is live in db 0, without touching or expiring it.
fn key_exists(srv: &Server, key: &[u8]) -> bool {
    let now = crate::util::now_ms();
    srv.keyspace
        .db(0)
        .lock_existing_slot(key_hash_slot(key))
        .is_some_and(|g| g.peek(key).is_some_and(|e| !e.is_expired(now)))
}

/// `MOVED <slot> <endpoint>:<port>` / `ASK …` (`getPreferredEndpoint`).
fn redirect(srv: &Server, kind: &str, slot: u16, n: &RouteNode) -> String {
    let endpoint = preferred_endpoint(srv, n);
    format!("{kind} {slot} {endpoint}:{}", n.port)
}

/// The address clients are told to use, per cluster-preferred-endpoint-type.
pub fn preferred_endpoint(srv: &Server, n: &RouteNode) -> String {
    let kind = srv
        .config
        .read()
        .get("cluster-preferred-endpoint-type")
        .to_string();
    match kind.as_str() {
        "hostname" if n.hostname.is_empty() => "?".into(),
        "hostname" => String::from_utf8_lossy(&n.hostname).into_owned(),
        "unknown-endpoint" => String::new(),
        _ => String::from_utf8_lossy(&n.ip).into_owned(),
    }
}

/// A redirect for a command that was refused: EXEC discards the
/// transaction, anything else flags it (the caller's `reject` does that).
pub fn discard_if_exec(srv: &Server, client: &mut Client, cmd: &Command) {
    if cmd.name == "exec" {
        client.multi = None;
        srv.watches.unwatch_all(&mut client.watch);
        client
            .info
            .multi_len
            .store(0, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Blocked clients whose key's slot is no longer served here (and not
/// being imported) get `-MOVED` (or CLUSTERDOWN) and are unblocked.
pub fn redirect_blocked(srv: &Server, snap: &RoutingSnapshot) {
    use crate::blocking::SERVED;
    for w in srv.blocking.all_waiters() {
        let Some(key) = w.keys.first() else {
            continue;
        };
        let err = if !snap.ok {
            DOWN_STATE.to_string()
        } else {
            let slot = key_hash_slot(key);
            let owner = snap.slots[slot as usize];
            if owner == snap.myself as u32 || snap.importing_from(slot).is_some() {
                continue;
            }
            if owner == UNASSIGNED {
                DOWN_UNBOUND.to_string()
            } else {
                redirect(srv, "MOVED", slot, &snap.nodes[owner as usize])
            }
        };
        if w.claim(SERVED) {
            srv.blocking.unregister(&w);
            let _ = w.tx.send(Bytes::from(format!("-{err}\r\n")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{ClientInfo, MultiState};
    use crate::config::Config;
    use shoal_cluster::core::RouteNode;
    use std::sync::atomic::{AtomicBool, AtomicU64};
    use std::sync::Arc;

    const ME: u32 = 0;
    const OTHER: u32 = 1;

    fn node(name: u8, port: u16, is_master: bool, master: Option<usize>) -> RouteNode {
        RouteNode {
            name: [name; 40],
            ip: b"127.0.0.1".to_vec(),
            port,
            pport: 0,
            hostname: Vec::new(),
            is_master,
            master,
            failed: false,
            pfail: false,
        }
    }

    /// Myself (7000) serves slots below 8192, the other master (7001) the
    /// rest but the last one, which is unassigned.
    fn snapshot() -> RoutingSnapshot {
        let mut slots = vec![ME; 8192];
        slots.extend(vec![OTHER; 8191]);
        slots.push(UNASSIGNED);
        RoutingSnapshot {
            ok: true,
            myself: 0,
            nodes: vec![node(b'a', 7000, true, None), node(b'b', 7001, true, None)],
            slots,
            importing: Vec::new(),
            migrating: Vec::new(),
        }
    }

    struct Fixture {
        srv: Arc<Server>,
        _dir: std::path::PathBuf,
    }

    fn fixture(args: &[&str], snap: RoutingSnapshot) -> Fixture {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let srv = Server::new(Config::from_args(&args).unwrap());
        let dir = std::env::temp_dir().join(format!(
            "shoal-route-{}-{}",
            std::process::id(),
            crate::util::now_ms() ^ rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("nodes.conf");
        let cluster = super::super::Cluster {
            routing: parking_lot::RwLock::new(Arc::new(snap.clone())),
            mine: (0..shoal_cluster::SLOT_COUNT / 64)
                .map(|_| AtomicU64::new(0))
                .collect(),
            stable: AtomicBool::new(false),
            migration: (0..shoal_cluster::SLOT_COUNT)
                .map(|_| parking_lot::RwLock::new(()))
                .collect(),
            tx: tokio::sync::mpsc::unbounded_channel().0,
            config_path: path.clone(),
            port: 7000,
            bus_port: 17000,
            _lock: shoal_cluster::nodes_conf::lock_config(&path).unwrap(),
        };
        cluster.set_routing(Arc::new(snap));
        assert!(srv.cluster.set(Arc::new(cluster)).is_ok());
        Fixture { srv, _dir: dir }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self._dir);
        }
    }

    fn client() -> Client {
        Client::new(Arc::new(ClientInfo::internal(1)), true)
    }

    fn argv(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    fn route(f: &Fixture, c: &Client, words: &[&str], asking: bool) -> Result<(), String> {
        let argv = argv(words);
        let cmd = commands::lookup(&argv[0]).unwrap();
        let cmd = commands::resolve(cmd, &argv).unwrap();
        check(&f.srv, c, cmd, &argv, asking).map(|_| ())
    }

    /// A key of the given slot owner (found by trying names).
    fn key_at(owner: u32, snap: &RoutingSnapshot) -> String {
        (0..)
            .map(|i| format!("k{i}"))
            .find(|k| snap.slots[key_hash_slot(k.as_bytes()) as usize] == owner)
            .unwrap()
    }

    #[test]
    fn stable_slots_run_here_or_move() {
        let snap = snapshot();
        let f = fixture(&[], snap.clone());
        let c = client();
        let mine = key_at(ME, &snap);
        let theirs = key_at(OTHER, &snap);
        assert_eq!(route(&f, &c, &["GET", &mine], false), Ok(()));
        assert_eq!(route(&f, &c, &["PING"], false), Ok(()));
        let slot = key_hash_slot(theirs.as_bytes());
        assert_eq!(
            route(&f, &c, &["SET", &theirs, "v"], false),
            Err(format!("MOVED {slot} 127.0.0.1:7001"))
        );
        assert_eq!(
            route(&f, &c, &["MGET", &mine, &theirs], false),
            Err(CROSSSLOT.into())
        );
        let same = format!("{{{mine}}}x");
        assert_eq!(
            route(&f, &c, &["MSET", &mine, "1", &same, "2"], false),
            Ok(())
        );
        let unbound = (0..)
            .map(|i| format!("u{i}"))
            .find(|k| key_hash_slot(k.as_bytes()) == 16383)
            .unwrap();
        assert_eq!(
            route(&f, &c, &["GET", &unbound], false),
            Err(DOWN_UNBOUND.into())
        );
        // Key positions come from the table: the destination of a keynum command too.
        assert_eq!(
            route(&f, &c, &["ZUNIONSTORE", &theirs, "1", &mine], false),
            Err(CROSSSLOT.into())
        );
    }

    #[test]
    fn a_failed_cluster_refuses_or_serves_reads_per_config() {
        let mut snap = snapshot();
        snap.ok = false;
        let mine = key_at(ME, &snap);
        let f = fixture(&[], snap.clone());
        let c = client();
        assert_eq!(
            route(&f, &c, &["GET", &mine], false),
            Err(DOWN_STATE.into())
        );
        assert_eq!(route(&f, &c, &["PING"], false), Ok(()));
        let f = fixture(&["--cluster-allow-reads-when-down", "yes"], snap);
        assert_eq!(route(&f, &c, &["GET", &mine], false), Ok(()));
        assert_eq!(
            route(&f, &c, &["SET", &mine, "v"], false),
            Err(DOWN_RO_STATE.into())
        );
    }

    #[test]
    fn open_slots_ask_tryagain_and_asking() {
        let base = snapshot();
        let mine = key_at(ME, &base);
        let theirs = key_at(OTHER, &base);
        let (ms, ts) = (
            key_hash_slot(mine.as_bytes()),
            key_hash_slot(theirs.as_bytes()),
        );
        let mut snap = base.clone();
        snap.migrating = vec![(ms, 1)];
        snap.importing = vec![(ts, 1)];
        let f = fixture(&[], snap);
        let c = client();
        // Migrating: a missing key is asked for at the target.
        assert_eq!(
            route(&f, &c, &["GET", &mine], false),
            Err(format!("ASK {ms} 127.0.0.1:7001"))
        );
        f.srv.keyspace.db(0).lock_key(mine.as_bytes()).insert(
            mine.as_bytes(),
            crate::keyspace::Entry::new(crate::keyspace::Value::Str(
                crate::keyspace::StrVal::from_bytes(b"v"),
            )),
            false,
        );
        assert_eq!(route(&f, &c, &["GET", &mine], false), Ok(()));
        let other = format!("{{{mine}}}other");
        assert_eq!(
            route(&f, &c, &["MGET", &mine, &other], false),
            Err(TRYAGAIN.into())
        );
        // Importing: only after ASKING, and not for several missing keys.
        assert_eq!(
            route(&f, &c, &["GET", &theirs], false),
            Err(format!("MOVED {ts} 127.0.0.1:7001"))
        );
        assert_eq!(route(&f, &c, &["GET", &theirs], true), Ok(()));
        assert_eq!(
            route(&f, &c, &["RESTORE-ASKING", &theirs, "0", "x"], false),
            Ok(())
        );
        let twin = format!("{{{theirs}}}b");
        assert_eq!(
            route(&f, &c, &["MGET", &theirs, &twin], true),
            Err(TRYAGAIN.into())
        );
    }

    #[test]
    fn readonly_replicas_serve_reads_of_their_masters_slots() {
        let mut snap = snapshot();
        snap.nodes[0].is_master = false;
        snap.nodes[0].master = Some(1);
        snap.slots.iter_mut().for_each(|s| {
            if *s == ME {
                *s = OTHER
            }
        });
        let key = key_at(OTHER, &snap);
        let slot = key_hash_slot(key.as_bytes());
        let f = fixture(&[], snap);
        let mut c = client();
        let moved = Err(format!("MOVED {slot} 127.0.0.1:7001"));
        assert_eq!(route(&f, &c, &["GET", &key], false), moved);
        c.cluster.readonly = true;
        assert_eq!(route(&f, &c, &["GET", &key], false), Ok(()));
        assert_eq!(route(&f, &c, &["SET", &key, "v"], false), moved);
        assert_eq!(route(&f, &c, &["SPUBLISH", &key, "m"], false), Ok(()));
    }

    #[test]
    fn exec_routes_every_queued_command() {
        let snap = snapshot();
        let f = fixture(&[], snap.clone());
        let mut c = client();
        assert_eq!(
            route(&f, &c, &["EXEC"], false),
            Ok(()),
            "EXEC without MULTI"
        );
        let mine = key_at(ME, &snap);
        let theirs = key_at(OTHER, &snap);
        c.multi = Some(MultiState {
            queued: vec![argv(&["SET", &mine, "1"]), argv(&["GET", &mine])],
            aborted: false,
        });
        assert_eq!(route(&f, &c, &["EXEC"], false), Ok(()));
        c.multi
            .as_mut()
            .unwrap()
            .queued
            .push(argv(&["GET", &theirs]));
        assert_eq!(route(&f, &c, &["EXEC"], false), Err(CROSSSLOT.into()));
    }

    #[test]
    fn asking_lasts_one_command_or_one_transaction() {
        let mut c = client();
        assert!(!take_asking(&mut c));
        c.cluster.asking = true;
        c.cluster.asking_keep = true;
        assert!(take_asking(&mut c), "the command right after ASKING");
        assert!(!take_asking(&mut c), "and no further");
        c.cluster.asking = true;
        c.cluster.asking_keep = true;
        assert!(take_asking(&mut c), "MULTI");
        c.multi = Some(MultiState::default());
        assert!(take_asking(&mut c), "a queued command");
        assert!(take_asking(&mut c), "EXEC");
        c.multi = None;
        assert!(!take_asking(&mut c), "after EXEC");
    }
}
