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

/// Check `cmd` against the slot map; `Err` is the redirect or error text.
/// Called before a command runs or is queued in MULTI; for EXEC it covers
/// every queued command's keys.
pub fn check(
    srv: &Server,
    client: &Client,
    cmd: &Command,
    argv: &[Bytes],
    asking: bool,
) -> Result<(), String> {
    let Some(cl) = srv.cluster.get() else {
        return Ok(());
    };
    let is_exec = cmd.name == "exec";
    if !is_exec && cmd.keys == KeySpec::None {
        return Ok(());
    }
    if !is_exec && served_here(cl, cmd, argv) {
        return Ok(());
    }
    let snap = cl.routing();
    let myself = snap.myself as u32;
    let mut q = Query::default();
    if is_exec {
        let Some(m) = client.multi.as_ref() else {
            return Ok(());
        };
        for argv in &m.queued {
            let Some(c) = commands::lookup(&argv[0]).and_then(|c| commands::resolve(c, argv).ok())
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
    let Some(owner) = q.owner else {
        return Ok(());
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
        return Ok(());
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
        return Ok(());
    }
    let me = &snap.nodes[snap.myself];
    if (client.cluster.readonly || shard_pubsub)
        && !q.writes
        && !me.is_master
        && me.master.is_some_and(|m| m as u32 == owner)
    {
        return Ok(());
    }
    if owner != myself {
        let n = &snap.nodes[owner as usize];
        return Err(redirect(srv, "MOVED", slot, n));
    }
    Ok(())
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
