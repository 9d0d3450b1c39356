//! The CLUSTER container (Redis 7.0's subcommands, replies and error texts,
//! `clusterCommand`), plus ASKING, READONLY and READWRITE. State changes
//! run on the cluster driver (`Cluster::call`), which saves nodes.conf
//! before the reply goes out; facts only the keyspace knows (is db 0
//! empty, does a slot hold keys) are computed here and passed in.

use super::table::{c, with_subs};
use super::{container_handler, help_reply, Command, Ctx};
use crate::cluster::driver::Driver;
use crate::cluster::Cluster;
use crate::error;
use crate::protocol::Out;
use crate::util::parse_i64;
use shoal_cluster::core::{BumpResult, ClusterError, FailoverMode, NodeView, RoutingSnapshot};
use shoal_cluster::msg::{flags, NodeName};
use shoal_cluster::nodes_conf::{format_cluster_nodes, NodeLine};
use shoal_cluster::{key_hash_slot, SLOT_COUNT};
use std::collections::HashMap;
use std::sync::Arc;

const DISABLED: &str = "ERR This instance has cluster support disabled";
const DRIVER_GONE: &str = "ERR the cluster bus driver is not running";
const INVALID_SLOT: &str = "ERR Invalid or out of range slot";

#[rustfmt::skip]
pub fn commands() -> Vec<Command> {
    let none = (0, 0, 0);
    let admin = "no_async_loading admin stale";
    // Subcommands that change which node serves a slot run with the keyspace
    // gate held exclusively: a command routed by the old slot map (the lock-
    // free fast path holds nothing) has then finished, and every later one
    // sees the new map. Without this a SET routed just before SETSLOT
    // MIGRATING could create its key here after the slot's last MIGRATE.
    let admin_routing = "no_async_loading admin stale exclusive";
    vec![
        with_subs(
            c("cluster", -2, "", none, "cluster", "3.0.0", "A container for cluster commands", container_handler),
            vec![
                c("cluster|addslots", -3, admin_routing, none, "cluster", "3.0.0", "Assign new hash slots to receiving node", addslots),
                c("cluster|addslotsrange", -4, admin_routing, none, "cluster", "7.0.0", "Assign new hash slots to receiving node", addslotsrange),
                c("cluster|bumpepoch", 2, admin, none, "cluster", "3.0.0", "Advance the cluster config epoch", bumpepoch),
                c("cluster|count-failure-reports", 3, "admin stale", none, "cluster", "3.0.0", "Return the number of failure reports active for a given node", count_failure_reports),
                c("cluster|countkeysinslot", 3, "stale", none, "cluster", "3.0.0", "Return the number of local keys in the specified hash slot", countkeysinslot),
                c("cluster|delslots", -3, admin_routing, none, "cluster", "3.0.0", "Set hash slots as unbound in receiving node", delslots),
                c("cluster|delslotsrange", -4, admin_routing, none, "cluster", "7.0.0", "Set hash slots as unbound in receiving node", delslotsrange),
                c("cluster|failover", -2, admin, none, "cluster", "3.0.0", "Forces a replica to perform a manual failover of its master.", failover),
                c("cluster|flushslots", 2, admin_routing, none, "cluster", "3.0.0", "Delete a node's own slots information", flushslots),
                c("cluster|forget", 3, admin, none, "cluster", "3.0.0", "Remove a node from the nodes table", forget),
                c("cluster|getkeysinslot", 4, "stale", none, "cluster", "3.0.0", "Return local key names in the specified hash slot", getkeysinslot),
                c("cluster|help", 2, "loading stale", none, "cluster", "5.0.0", "Show helpful text about the different subcommands", help),
                c("cluster|info", 2, "stale", none, "cluster", "3.0.0", "Provides info about Redis Cluster node state", info),
                c("cluster|keyslot", 3, "stale", none, "cluster", "3.0.0", "Returns the hash slot of the specified key", keyslot),
                c("cluster|links", 2, "stale", none, "cluster", "7.0.0", "Returns a list of all TCP links to and from peer nodes in cluster", links),
                c("cluster|meet", -4, admin, none, "cluster", "3.0.0", "Force a node cluster to handshake with another node", meet),
                c("cluster|myid", 2, "stale", none, "cluster", "3.0.0", "Return the node id", myid),
                c("cluster|nodes", 2, "stale", none, "cluster", "3.0.0", "Get Cluster config for the node", nodes),
                c("cluster|replicas", 3, "admin stale", none, "cluster", "5.0.0", "List replica nodes of the specified master node", replicas),
                c("cluster|replicate", 3, admin, none, "cluster", "3.0.0", "Reconfigure a node as a replica of the specified master node", replicate),
                c("cluster|reset", -2, "admin stale noscript", none, "cluster", "3.0.0", "Reset a Redis Cluster node", reset),
                c("cluster|saveconfig", 2, admin, none, "cluster", "3.0.0", "Forces the node to save cluster state on disk", saveconfig),
                c("cluster|set-config-epoch", 3, admin, none, "cluster", "3.0.0", "Set the configuration epoch in a new node", set_config_epoch),
                c("cluster|setslot", -4, admin_routing, none, "cluster", "3.0.0", "Bind a hash slot to a specific node", setslot),
                c("cluster|shards", 2, "stale", none, "cluster", "7.0.0", "Get array of cluster slots to node mappings", shards),
                c("cluster|slaves", 3, "admin stale", none, "cluster", "3.0.0", "List replica nodes of the specified master node", replicas),
                c("cluster|slots", 2, "stale", none, "cluster", "3.0.0", "Get array of Cluster slot to node mappings", slots),
            ],
        ),
        c("asking", 1, "fast @connection", none, "cluster", "3.0.0", "Sent by cluster clients after an -ASK redirect", asking),
        c("readonly", 1, "fast loading stale @connection", none, "cluster", "3.0.0", "Enables read queries for a connection to a cluster replica node", readonly),
        c("readwrite", 1, "fast loading stale @connection", none, "cluster", "3.0.0", "Disables read queries for a connection to a cluster replica node", readwrite),
    ]
}

// ---- helpers ------------------------------------------------------------

/// The cluster handle, or Redis's error when cluster mode is off.
fn cluster(ctx: &Ctx, out: &mut Out) -> Option<Arc<Cluster>> {
    match ctx.srv.cluster.get() {
        Some(c) => Some(c.clone()),
        None => {
            out.error(DISABLED);
            None
        }
    }
}

/// Run `f` with the driver; the driver-gone error when it is not running.
fn with_driver<R: Send + 'static>(
    ctx: &Ctx,
    out: &mut Out,
    f: impl FnOnce(&mut Driver) -> R + Send + 'static,
) -> Option<R> {
    let cl = cluster(ctx, out)?;
    let r = cl.call(f);
    if r.is_none() {
        out.error(DRIVER_GONE);
    }
    r
}

/// OK, or the core's error with the ERR prefix.
fn ok_or_err(out: &mut Out, r: Option<Result<(), ClusterError>>) {
    match r {
        Some(Ok(())) => out.ok(),
        Some(Err(e)) => out.error(&format!("ERR {e}")),
        None => {}
    }
}

/// `getSlotOrReply`.
fn parse_slot(arg: &[u8]) -> Result<u16, &'static str> {
    match parse_i64(arg) {
        Some(s) if (0..SLOT_COUNT as i64).contains(&s) => Ok(s as u16),
        _ => Err(INVALID_SLOT),
    }
}

/// `unknown subcommand or wrong number of arguments for 'x'. Try CLUSTER HELP.`
fn syntax_error(ctx: &Ctx, out: &mut Out) {
    let sub = String::from_utf8_lossy(ctx.arg(1));
    let sub: String = sub.chars().take(128).collect();
    out.error(&format!(
        "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try {} HELP.",
        String::from_utf8_lossy(ctx.arg(0)).to_uppercase()
    ));
}

fn db0_keys(ctx: &Ctx) -> u64 {
    ctx.srv.keyspace.db(0).len()
}

fn keys_in_slot(ctx: &Ctx, slot: u16) -> usize {
    ctx.srv
        .keyspace
        .db(0)
        .lock_existing_slot(slot)
        .map_or(0, |g| g.len())
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---- ASKING / READONLY / READWRITE ----------------------------------------

pub fn asking(ctx: &mut Ctx, out: &mut Out) {
    if cluster(ctx, out).is_none() {
        return;
    }
    ctx.client.cluster.asking = true;
    ctx.client.cluster.asking_keep = true;
    out.ok()
}

pub fn readonly(ctx: &mut Ctx, out: &mut Out) {
    if cluster(ctx, out).is_none() {
        return;
    }
    ctx.client.cluster.readonly = true;
    out.ok()
}

pub fn readwrite(ctx: &mut Ctx, out: &mut Out) {
    if cluster(ctx, out).is_none() {
        return;
    }
    ctx.client.cluster.readonly = false;
    out.ok()
}

// ---- views ------------------------------------------------------------------

pub fn help(ctx: &mut Ctx, out: &mut Out) {
    if cluster(ctx, out).is_none() {
        return;
    }
    help_reply(
        out,
        "CLUSTER",
        &[
            "ADDSLOTS <slot> [<slot> ...]",
            "    Assign slots to current node.",
            "ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
            "    Assign slots which are between <start-slot> and <end-slot> to current node.",
            "BUMPEPOCH",
            "    Advance the cluster config epoch.",
            "COUNT-FAILURE-REPORTS <node-id>",
            "    Return number of failure reports for <node-id>.",
            "COUNTKEYSINSLOT <slot>",
            "    Return the number of keys in <slot>.",
            "DELSLOTS <slot> [<slot> ...]",
            "    Delete slots information from current node.",
            "DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
            "    Delete slots information which are between <start-slot> and <end-slot> from current node.",
            "FAILOVER [FORCE|TAKEOVER]",
            "    Promote current replica node to being a master.",
            "FORGET <node-id>",
            "    Remove a node from the cluster.",
            "GETKEYSINSLOT <slot> <count>",
            "    Return key names stored by current node in a slot.",
            "FLUSHSLOTS",
            "    Delete current node own slots information.",
            "INFO",
            "    Return information about the cluster.",
            "KEYSLOT <key>",
            "    Return the hash slot for <key>.",
            "MEET <ip> <port> [<bus-port>]",
            "    Connect nodes into a working cluster.",
            "MYID",
            "    Return the node id.",
            "NODES",
            "    Return cluster configuration seen by node. Output format:",
            "    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
            "REPLICATE <node-id>",
            "    Configure current node as replica to <node-id>.",
            "RESET [HARD|SOFT]",
            "    Reset current node (default: soft).",
            "SET-CONFIG-EPOCH <epoch>",
            "    Set config epoch of current node.",
            "SETSLOT <slot> (IMPORTING <node-id>|MIGRATING <node-id>|STABLE|NODE <node-id>)",
            "    Set slot state.",
            "REPLICAS <node-id>",
            "    Return <node-id> replicas.",
            "SAVECONFIG",
            "    Force saving cluster configuration on disk.",
            "SLOTS",
            "    Return information about slots range mappings. Each range is made of:",
            "    start, end, master and replicas IP addresses, ports and ids",
            "SHARDS",
            "    Return information about slot range mappings and the nodes associated with them.",
            "LINKS",
            "    Return information about all network links between this node and its peers.",
            "    Output format is an array where each array element is a map containing attributes of a link",
        ],
    )
}

pub fn info(ctx: &mut Ctx, out: &mut Out) {
    let r = with_driver(ctx, out, |d| {
        let text = d.core.info().render();
        // The core cannot know how many links the I/O layer freed.
        text.replace(
            "total_cluster_links_buffer_limit_exceeded:0\r\n",
            &format!(
                "total_cluster_links_buffer_limit_exceeded:{}\r\n",
                d.links_buffer_limit_exceeded
            ),
        )
    });
    if let Some(text) = r {
        out.verbatim(text.as_bytes())
    }
}

pub fn nodes(ctx: &mut Ctx, out: &mut Out) {
    if let Some(lines) = with_driver(ctx, out, |d| d.core.node_lines()) {
        out.verbatim(&format_cluster_nodes(&lines))
    }
}

pub fn myid(ctx: &mut Ctx, out: &mut Out) {
    if let Some(name) = with_driver(ctx, out, |d| d.core.my_name()) {
        out.bulk(&name)
    }
}

pub fn keyslot(ctx: &mut Ctx, out: &mut Out) {
    if cluster(ctx, out).is_none() {
        return;
    }
    out.int(key_hash_slot(ctx.arg(2)) as i64)
}

pub fn countkeysinslot(ctx: &mut Ctx, out: &mut Out) {
    if cluster(ctx, out).is_none() {
        return;
    }
    let Some(slot) = ctx.arg_i64(2, out) else {
        return;
    };
    if !(0..SLOT_COUNT as i64).contains(&slot) {
        return out.error("ERR Invalid slot");
    }
    out.int(keys_in_slot(ctx, slot as u16) as i64)
}

pub fn getkeysinslot(ctx: &mut Ctx, out: &mut Out) {
    if cluster(ctx, out).is_none() {
        return;
    }
    let Some(slot) = ctx.arg_i64(2, out) else {
        return;
    };
    let Some(max) = ctx.arg_i64(3, out) else {
        return;
    };
    if !(0..SLOT_COUNT as i64).contains(&slot) || max < 0 {
        return out.error("ERR Invalid slot or number of keys");
    }
    let keys: Vec<Vec<u8>> = match ctx.srv.keyspace.db(0).lock_existing_slot(slot as u16) {
        Some(g) => g
            .iter()
            .take(usize::try_from(max).unwrap_or(usize::MAX))
            .map(|(k, _)| k.as_bytes().to_vec())
            .collect(),
        None => Vec::new(),
    };
    out.array(keys.len());
    for k in &keys {
        out.bulk(k);
    }
}

pub fn replicas(ctx: &mut Ctx, out: &mut Out) {
    let node = ctx.arg(2).to_vec();
    match with_driver(ctx, out, move |d| d.core.replicas(&node)) {
        Some(Ok(lines)) => {
            out.array(lines.len());
            for l in &lines {
                out.bulk(&l.format());
            }
        }
        Some(Err(e)) => out.error(&format!("ERR {e}")),
        None => {}
    }
}

pub fn count_failure_reports(ctx: &mut Ctx, out: &mut Out) {
    let node = ctx.arg(2).to_vec();
    match with_driver(ctx, out, move |d| {
        let now = d.now_ms();
        d.core.count_failure_reports(&node, now)
    }) {
        Some(Ok(n)) => out.int(n as i64),
        Some(Err(e)) => out.error(&format!("ERR {e}")),
        None => {}
    }
}

pub fn links(ctx: &mut Ctx, out: &mut Out) {
    let Some(links) = with_driver(ctx, out, |d| {
        d.core
            .links()
            .into_iter()
            .filter(|l| l.node.is_some())
            .map(|l| {
                let pending = d.link_pending(l.link);
                (l, pending)
            })
            .collect::<Vec<_>>()
    }) else {
        return;
    };
    out.array(links.len());
    for (l, pending) in &links {
        out.map(6);
        out.bulk(b"direction");
        out.bulk(if l.inbound { b"from" } else { b"to" });
        out.bulk(b"node");
        out.bulk(&l.node.unwrap_or([b'0'; 40]));
        out.bulk(b"create-time");
        out.int(l.create_time_ms as i64);
        out.bulk(b"events");
        out.bulk(if *pending > 0 { b"rw" } else { b"r" });
        out.bulk(b"send-buffer-allocated");
        out.int(*pending as i64);
        out.bulk(b"send-buffer-used");
        out.int(*pending as i64);
    }
}

/// The endpoint clients are told to use (`getPreferredEndpoint`).
fn endpoint_kind(ctx: &Ctx) -> String {
    ctx.srv
        .config
        .read()
        .get("cluster-preferred-endpoint-type")
        .to_string()
}

/// `addNodeToNodeReply`: [endpoint, port, id, {other endpoints}].
fn node_reply(out: &mut Out, kind: &str, l: &NodeLine) {
    out.array(4);
    match kind {
        "hostname" if l.hostname.is_empty() => out.bulk(b"?"),
        "hostname" => out.bulk(&l.hostname),
        "unknown-endpoint" => out.null(),
        _ => out.bulk(&l.ip),
    }
    out.int(l.port as i64);
    out.bulk(&l.name);
    let with_ip = kind != "ip";
    let with_host = kind != "hostname" && !l.hostname.is_empty();
    out.map(with_ip as usize + with_host as usize);
    if with_ip {
        out.bulk(b"ip");
        out.bulk(&l.ip);
    }
    if with_host {
        out.bulk(b"hostname");
        out.bulk(&l.hostname);
    }
}

fn failed(l: &NodeLine) -> bool {
    l.flags & flags::FAIL != 0
}

/// Node views and the slot map, taken in one step on the driver.
fn topology(ctx: &Ctx, out: &mut Out) -> Option<(Vec<NodeView>, RoutingSnapshot)> {
    with_driver(ctx, out, |d| (d.core.node_views(), d.core.routing()))
}

pub fn slots(ctx: &mut Ctx, out: &mut Out) {
    let Some((views, snap)) = topology(ctx, out) else {
        return;
    };
    let kind = endpoint_kind(ctx);
    let by_name: HashMap<NodeName, &NodeView> = views.iter().map(|v| (v.line.name, v)).collect();
    // Maximal runs of one owner, in slot order (clusterReplyMultiBulkSlots).
    let mut runs: Vec<(u16, u16, &NodeView)> = Vec::new();
    for slot in 0..SLOT_COUNT {
        let Some(v) = snap
            .nodes
            .get(snap.slots[slot] as usize)
            .and_then(|n| by_name.get(&n.name))
        else {
            continue;
        };
        match runs.last_mut() {
            Some((_, end, last)) if *end as usize + 1 == slot && last.line.name == v.line.name => {
                *end = slot as u16
            }
            _ => runs.push((slot as u16, slot as u16, v)),
        }
    }
    out.array(runs.len());
    for (start, end, master) in runs {
        // isReplicaAvailable: not failed and has replicated something.
        let replicas: Vec<&NodeView> = master
            .replicas
            .iter()
            .filter_map(|r| by_name.get(r).copied())
            .filter(|r| !failed(&r.line) && r.repl_offset != 0)
            .collect();
        out.array(3 + replicas.len());
        out.int(start as i64);
        out.int(end as i64);
        node_reply(out, &kind, &master.line);
        for r in replicas {
            node_reply(out, &kind, &r.line);
        }
    }
}

pub fn shards(ctx: &mut Ctx, out: &mut Out) {
    let Some((views, _)) = topology(ctx, out) else {
        return;
    };
    let kind = endpoint_kind(ctx);
    let by_name: HashMap<NodeName, &NodeView> = views.iter().map(|v| (v.line.name, v)).collect();
    let masters: Vec<&NodeView> = views
        .iter()
        .filter(|v| v.line.flags & flags::MASTER != 0)
        .collect();
    out.array(masters.len());
    for m in masters {
        out.map(2);
        out.bulk(b"slots");
        out.array(m.line.slots.len() * 2);
        for &(a, b) in &m.line.slots {
            out.int(a as i64);
            out.int(b as i64);
        }
        out.bulk(b"nodes");
        let members: Vec<&NodeView> = std::iter::once(m)
            .chain(m.replicas.iter().filter_map(|r| by_name.get(r).copied()))
            .collect();
        out.array(members.len());
        for n in members {
            shard_node(out, &kind, n);
        }
    }
}

/// `addNodeDetailsToShardReply`.
fn shard_node(out: &mut Out, kind: &str, v: &NodeView) {
    let l = &v.line;
    let replica = l.flags & flags::SLAVE != 0;
    let fields = 6 + (l.port != 0) as usize + !l.hostname.is_empty() as usize;
    out.map(fields);
    out.bulk(b"id");
    out.bulk(&l.name);
    if l.port != 0 {
        out.bulk(b"port");
        out.int(l.port as i64);
    }
    out.bulk(b"ip");
    out.bulk(&l.ip);
    out.bulk(b"endpoint");
    match kind {
        "hostname" if l.hostname.is_empty() => out.bulk(b"?"),
        "hostname" => out.bulk(&l.hostname),
        "unknown-endpoint" => out.bulk(b""),
        _ => out.bulk(&l.ip),
    }
    if !l.hostname.is_empty() {
        out.bulk(b"hostname");
        out.bulk(&l.hostname);
    }
    out.bulk(b"role");
    out.bulk(if replica { b"replica" } else { b"master" });
    out.bulk(b"replication-offset");
    out.int(v.repl_offset as i64);
    out.bulk(b"health");
    out.bulk(if failed(l) {
        b"fail"
    } else if replica && v.repl_offset == 0 {
        b"loading"
    } else {
        b"online"
    });
}

// ---- state changes -----------------------------------------------------------

pub fn meet(ctx: &mut Ctx, out: &mut Out) {
    if cluster(ctx, out).is_none() {
        return;
    }
    if ctx.argv.len() != 4 && ctx.argv.len() != 5 {
        return syntax_error(ctx, out);
    }
    let Some(port) = parse_i64(ctx.arg(3)) else {
        return out.error(&format!(
            "ERR Invalid TCP base port specified: {}",
            text(ctx.arg(3))
        ));
    };
    let cport = match ctx.argv.get(4) {
        Some(a) => match parse_i64(a) {
            Some(p) => Some(p),
            None => return out.error(&format!("ERR Invalid TCP bus port specified: {}", text(a))),
        },
        None => None,
    };
    let ip = text(ctx.arg(2));
    let r = with_driver(ctx, out, move |d| {
        let now = d.now_ms();
        d.core.meet(&ip, port, cport, now)
    });
    ok_or_err(out, r)
}

fn slots_change(ctx: &mut Ctx, out: &mut Out, slots: Vec<u16>, del: bool) {
    let r = with_driver(ctx, out, move |d| {
        let now = d.now_ms();
        if del {
            d.core.del_slots(&slots, now)
        } else {
            d.core.add_slots(&slots, now)
        }
    });
    ok_or_err(out, r)
}

fn slots_args(ctx: &mut Ctx, out: &mut Out, del: bool) {
    if cluster(ctx, out).is_none() {
        return;
    }
    let mut slots = Vec::with_capacity(ctx.argv.len() - 2);
    for a in &ctx.argv[2..] {
        match parse_slot(a) {
            Ok(s) => slots.push(s),
            Err(e) => return out.error(e),
        }
    }
    slots_change(ctx, out, slots, del)
}

pub fn addslots(ctx: &mut Ctx, out: &mut Out) {
    slots_args(ctx, out, false)
}

pub fn delslots(ctx: &mut Ctx, out: &mut Out) {
    slots_args(ctx, out, true)
}

fn slot_ranges(ctx: &mut Ctx, out: &mut Out, del: bool) {
    if cluster(ctx, out).is_none() {
        return;
    }
    if ctx.argv.len() % 2 == 1 {
        return out.error(&error::wrong_args(&ctx.cmd.name));
    }
    let mut slots = Vec::new();
    for pair in ctx.argv[2..].chunks(2) {
        let (a, b) = match (parse_slot(&pair[0]), parse_slot(&pair[1])) {
            (Err(e), _) | (_, Err(e)) => return out.error(e),
            (Ok(a), Ok(b)) => (a, b),
        };
        if a > b {
            return out.error(&format!(
                "ERR start slot number {a} is greater than end slot number {b}"
            ));
        }
        slots.extend(a..=b);
    }
    slots_change(ctx, out, slots, del)
}

pub fn addslotsrange(ctx: &mut Ctx, out: &mut Out) {
    slot_ranges(ctx, out, false)
}

pub fn delslotsrange(ctx: &mut Ctx, out: &mut Out) {
    slot_ranges(ctx, out, true)
}

pub fn flushslots(ctx: &mut Ctx, out: &mut Out) {
    let empty = db0_keys(ctx) == 0;
    let r = with_driver(ctx, out, move |d| {
        let now = d.now_ms();
        d.core.flush_slots(empty, now)
    });
    ok_or_err(out, r)
}

pub fn setslot(ctx: &mut Ctx, out: &mut Out) {
    let Some(is_master) = with_driver(ctx, out, |d| d.core.is_master()) else {
        return;
    };
    if !is_master {
        return out.error("ERR Please use SETSLOT only with masters.");
    }
    let slot = match parse_slot(ctx.arg(2)) {
        Ok(s) => s,
        Err(e) => return out.error(e),
    };
    let argc = ctx.argv.len();
    let node = ctx.argv.get(4).map(|n| n.to_vec()).unwrap_or_default();
    let has_keys = keys_in_slot(ctx, slot) != 0;
    let action = String::from_utf8_lossy(ctx.arg(3)).to_ascii_lowercase();
    let valid = matches!(
        (action.as_str(), argc),
        ("migrating", 5) | ("importing", 5) | ("stable", 4) | ("node", 5)
    );
    if !valid {
        return out
            .error("ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP");
    }
    let r = with_driver(ctx, out, move |d| {
        let now = d.now_ms();
        match action.as_str() {
            "migrating" => d.core.set_slot_migrating(slot, &node, now),
            "importing" => d.core.set_slot_importing(slot, &node, now),
            "stable" => d.core.set_slot_stable(slot, now),
            _ => d.core.set_slot_node(slot, &node, has_keys, now),
        }
    });
    ok_or_err(out, r)
}

pub fn bumpepoch(ctx: &mut Ctx, out: &mut Out) {
    let r = with_driver(ctx, out, |d| {
        let now = d.now_ms();
        d.core.bump_epoch(now)
    });
    match r {
        Some(BumpResult::Bumped(e)) => out.simple(&format!("BUMPED {e}")),
        Some(BumpResult::Still(e)) => out.simple(&format!("STILL {e}")),
        None => {}
    }
}

pub fn saveconfig(ctx: &mut Ctx, out: &mut Out) {
    match with_driver(ctx, out, |d| d.save_config().map_err(|e| strerror(&e))) {
        Some(Ok(())) => out.ok(),
        Some(Err(e)) => out.error(&format!("ERR error saving the cluster node config: {e}")),
        None => {}
    }
}

/// An I/O error as C's strerror words it (without Rust's "(os error N)").
fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

pub fn forget(ctx: &mut Ctx, out: &mut Out) {
    let node = ctx.arg(2).to_vec();
    let r = with_driver(ctx, out, move |d| {
        let now = d.now_ms();
        d.core.forget(&node, now)
    });
    ok_or_err(out, r)
}

pub fn replicate(ctx: &mut Ctx, out: &mut Out) {
    let node = ctx.arg(2).to_vec();
    let has_keys = db0_keys(ctx) != 0;
    let r = with_driver(ctx, out, move |d| {
        let now = d.now_ms();
        d.core.replicate(&node, has_keys, now)
    });
    ok_or_err(out, r)
}

pub fn failover(ctx: &mut Ctx, out: &mut Out) {
    if cluster(ctx, out).is_none() {
        return;
    }
    let mode = match ctx.argv.len() {
        2 => FailoverMode::Default,
        3 if ctx.arg_is(2, "force") => FailoverMode::Force,
        3 if ctx.arg_is(2, "takeover") => FailoverMode::Takeover,
        3 => return out.error(error::SYNTAX),
        _ => return syntax_error(ctx, out),
    };
    let r = with_driver(ctx, out, move |d| {
        let now = d.now_ms();
        d.core.failover(mode, now)
    });
    if matches!(r, Some(Ok(()))) {
        crate::log::log(
            crate::log::Level::Warning,
            match mode {
                FailoverMode::Takeover => "Taking over the master (user request).",
                FailoverMode::Force => "Forced failover user request accepted.",
                FailoverMode::Default => "Manual failover user request accepted.",
            },
        );
    }
    ok_or_err(out, r)
}

pub fn set_config_epoch(ctx: &mut Ctx, out: &mut Out) {
    if cluster(ctx, out).is_none() {
        return;
    }
    let Some(epoch) = ctx.arg_i64(2, out) else {
        return;
    };
    let r = with_driver(ctx, out, move |d| {
        let now = d.now_ms();
        d.core.set_config_epoch(epoch, now)
    });
    if matches!(r, Some(Ok(()))) {
        crate::log::log(
            crate::log::Level::Warning,
            &format!("configEpoch set to {epoch} via CLUSTER SET-CONFIG-EPOCH"),
        );
    }
    ok_or_err(out, r)
}

pub fn reset(ctx: &mut Ctx, out: &mut Out) {
    if cluster(ctx, out).is_none() {
        return;
    }
    let hard = match ctx.argv.len() {
        2 => false,
        3 if ctx.arg_is(2, "hard") => true,
        3 if ctx.arg_is(2, "soft") => false,
        3 => return out.error(error::SYNTAX),
        _ => return syntax_error(ctx, out),
    };
    let has_keys = !ctx.db().is_empty();
    let r = with_driver(ctx, out, move |d| {
        let now = d.now_ms();
        let r = d.core.reset(hard, has_keys, now);
        if r.is_ok() && hard {
            crate::log::log(
                crate::log::Level::Notice,
                &format!("Node hard reset, now I'm {}", text(&d.core.my_name())),
            );
        }
        r
    });
    ok_or_err(out, r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_arguments_are_checked_as_redis() {
        assert_eq!(parse_slot(b"0"), Ok(0));
        assert_eq!(parse_slot(b"16383"), Ok(16383));
        assert_eq!(parse_slot(b"16384"), Err(INVALID_SLOT));
        assert_eq!(parse_slot(b"-1"), Err(INVALID_SLOT));
        assert_eq!(parse_slot(b"x"), Err(INVALID_SLOT));
    }

    #[test]
    fn strerror_drops_the_os_error_suffix() {
        let e = std::io::Error::from_raw_os_error(libc::ENOSPC);
        assert_eq!(strerror(&e), "No space left on device");
    }

    #[test]
    fn every_subcommand_is_in_the_table() {
        let all = commands();
        let cluster = &all[0];
        for sub in [
            "addslots", "setslot", "shards", "links", "reset", "slaves", "replicas",
        ] {
            assert!(cluster.subcommand(sub.as_bytes()).is_some(), "{sub}");
        }
        assert!(cluster.subcommand(b"myshardid").is_none(), "7.2 only");
    }
}
