//! The replication commands (REPLICAOF/SLAVEOF, ROLE, WAIT, REPLCONF,
//! PSYNC/SYNC) and INFO's replication section.

use super::*;
use crate::commands::Ctx;
use crate::protocol::Out;
use std::fmt::Write;

fn who(ctx: &Ctx) -> String {
    format!(
        "id={} addr={} laddr={}",
        ctx.client.id, ctx.client.info.addr, ctx.client.info.laddr
    )
}

/// REPLICAOF host port | REPLICAOF NO ONE (the gate is held exclusively).
pub fn replicaof(ctx: &mut Ctx, out: &mut Out) {
    if ctx.hot.cluster_enabled {
        return out.error("ERR REPLICAOF not allowed in cluster mode.");
    }
    let srv = ctx.srv;
    if ctx.arg_is(1, "no") && ctx.arg_is(2, "one") {
        if is_replica(srv) {
            unset_master(srv);
            crate::log::log(
                Level::Notice,
                &format!("MASTER MODE enabled (user request from '{}')", who(ctx)),
            );
        }
        return out.ok();
    }
    let Some(port) = ctx.arg_i64(2, out) else {
        return;
    };
    if !(0..=65535).contains(&port) {
        return out.error("ERR Invalid master port");
    }
    let host = ctx.arg_str(1);
    if let Some(m) = srv.repl.master.lock().as_ref() {
        if m.host.eq_ignore_ascii_case(&host) && m.port == port as u16 {
            crate::log::log(
                Level::Notice,
                "REPLICAOF would result into synchronization with the master we are already connected with. No operation performed.",
            );
            return out.simple("OK Already connected to specified master");
        }
    }
    set_master(srv, &host, port as u16);
    crate::log::log(
        Level::Notice,
        &format!(
            "REPLICAOF {host}:{port} enabled (user request from '{}')",
            who(ctx)
        ),
    );
    out.ok()
}

pub fn role(ctx: &mut Ctx, out: &mut Out) {
    let srv = ctx.srv;
    let r = &srv.repl;
    let master = r.master.lock().as_ref().map(|m| (m.host.clone(), m.port));
    match master {
        None => {
            out.array(3);
            out.bulk(b"master");
            out.int(srv.prop.offset() as i64);
            let replicas: Vec<_> = r
                .replicas
                .lock()
                .iter()
                .filter(|e| e.state.load(Ordering::Acquire) == ONLINE)
                .cloned()
                .collect();
            out.array(replicas.len());
            for e in replicas {
                out.array(3);
                out.bulk(e.ip.as_bytes());
                out.bulk(e.port.to_string().as_bytes());
                out.bulk(e.ack_offset.load(Ordering::Relaxed).to_string().as_bytes());
            }
        }
        Some((host, port)) => {
            let state = r.link_state.load(Ordering::Acquire);
            out.array(5);
            out.bulk(b"slave");
            out.bulk(host.as_bytes());
            out.int(port as i64);
            out.bulk(match state {
                LINK_NONE => b"none".as_slice(),
                LINK_CONNECT => b"connect",
                LINK_CONNECTING => b"connecting",
                LINK_HANDSHAKE => b"handshake",
                LINK_TRANSFER => b"sync",
                _ => b"connected",
            });
            out.int(if state == LINK_CONNECTED {
                srv.prop.offset() as i64
            } else {
                -1
            });
        }
    }
}

/// WAIT numreplicas timeout.
pub fn wait(ctx: &mut Ctx, out: &mut Out) {
    if is_replica(ctx.srv) {
        return out.error("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.");
    }
    let Some(numreplicas) = ctx.arg_i64(1, out) else {
        return;
    };
    let timeout_ms = match crate::util::parse_i64(ctx.arg(2)) {
        Some(t) if t < 0 => return out.error("ERR timeout is negative"),
        Some(t) => t as u64,
        None => return out.error("ERR timeout is not an integer or out of range"),
    };
    let offset = crate::propagate::last_offset();
    let acked = master::count_acks(ctx.srv, offset);
    if acked as i64 >= numreplicas || ctx.client.in_exec || ctx.client.multi.is_some() {
        return out.int(acked as i64);
    }
    ctx.client.repl.handoff = Some(Handoff::Wait {
        offset,
        numreplicas: numreplicas.max(0) as u64,
        deadline: (timeout_ms > 0)
            .then(|| std::time::Instant::now() + std::time::Duration::from_millis(timeout_ms)),
    });
    // Ask every replica for an ACK now (Redis does it before sleeping).
    ctx.srv
        .prop
        .append_replication_only(&[b"REPLCONF", b"GETACK", b"*"]);
}

/// REPLCONF <option> <value> ...
pub fn replconf(ctx: &mut Ctx, out: &mut Out) {
    if ctx.argv.len() % 2 == 0 {
        return out.error(crate::error::SYNTAX);
    }
    let mut j = 1;
    while j < ctx.argv.len() {
        let opt = ctx.arg_str(j).to_ascii_lowercase();
        let val = ctx.arg(j + 1);
        match opt.as_str() {
            "listening-port" => {
                let Some(port) = ctx.arg_i64(j + 1, out) else {
                    return;
                };
                ctx.client.repl.listening_port = port.clamp(0, 65535) as u16;
            }
            "ip-address" => {
                // NET_HOST_STR_LEN
                if val.len() >= 256 {
                    return out.error(&format!(
                        "ERR REPLCONF ip-address provided by replica instance is too long: {} bytes",
                        val.len()
                    ));
                }
                ctx.client.repl.ip_address = Some(String::from_utf8_lossy(val).into_owned());
            }
            "capa" => {
                if val.eq_ignore_ascii_case(b"eof") {
                    ctx.client.repl.capa_eof = true;
                } else if val.eq_ignore_ascii_case(b"psync2") {
                    ctx.client.repl.capa_psync2 = true;
                }
            }
            // ACK from a replica arrives on its feeder, which handles it;
            // from anyone else it is ignored. No reply either way.
            "ack" => return,
            // A master asking us (as replica) is served by the link task.
            "getack" => return,
            "rdb-only" => match crate::util::parse_i64(val) {
                Some(0) | Some(1) => {}
                _ => return out.error("ERR value is out of range"),
            },
            "rdb-filter-only" => {
                let filters = String::from_utf8_lossy(val).to_string();
                for f in filters.split_whitespace() {
                    if !f.eq_ignore_ascii_case("functions") {
                        return out.error(&format!("ERR Unsupported rdb-filter-only option: {f}"));
                    }
                }
            }
            _ => {
                return out.error(&format!(
                    "ERR Unrecognized REPLCONF option: {}",
                    ctx.arg_str(j)
                ))
            }
        }
        j += 2;
    }
    out.ok()
}

/// INFO's "# Replication" section, with Redis 7.0's fields.
pub fn info(srv: &Server, t: &mut String) {
    macro_rules! f {
        ($($arg:tt)*) => {{ let _ = write!(t, $($arg)*); t.push_str("\r\n"); }};
    }
    let r = &srv.repl;
    let now = crate::util::now_ms();
    let master = r.master.lock().as_ref().map(|m| (m.host.clone(), m.port));
    f!("# Replication");
    f!("role:{}", if master.is_some() { "slave" } else { "master" });
    if let Some((host, port)) = master {
        let state = r.link_state.load(Ordering::Acquire);
        let offset = srv.prop.offset();
        let read = r.read_offset.load(Ordering::Relaxed).max(offset);
        f!("master_host:{host}");
        f!("master_port:{port}");
        f!(
            "master_link_status:{}",
            if state == LINK_CONNECTED {
                "up"
            } else {
                "down"
            }
        );
        f!(
            "master_last_io_seconds_ago:{}",
            if state == LINK_CONNECTED {
                (now.saturating_sub(r.link_last_io_ms.load(Ordering::Relaxed)) / 1000) as i64
            } else {
                -1
            }
        );
        f!(
            "master_sync_in_progress:{}",
            (state == LINK_TRANSFER) as i32
        );
        f!("slave_read_repl_offset:{read}");
        f!("slave_repl_offset:{offset}");
        if state == LINK_TRANSFER {
            let size = r.transfer_size.load(Ordering::Relaxed);
            let got = r.transfer_read.load(Ordering::Relaxed) as i64;
            let perc = if size > 0 {
                got as f64 * 100.0 / size as f64
            } else {
                0.0
            };
            f!("master_sync_total_bytes:{size}");
            f!("master_sync_read_bytes:{got}");
            f!("master_sync_left_bytes:{}", size - got);
            f!("master_sync_perc:{perc:.2}");
            f!(
                "master_sync_last_io_seconds_ago:{}",
                now.saturating_sub(r.transfer_last_io_ms.load(Ordering::Relaxed)) / 1000
            );
        }
        if state != LINK_CONNECTED {
            let since = r.link_down_since_ms.load(Ordering::Relaxed);
            f!(
                "master_link_down_since_seconds:{}",
                if since == 0 {
                    -1
                } else {
                    (now.saturating_sub(since) / 1000) as i64
                }
            );
        }
        let cfg = srv.config.read();
        f!("slave_priority:{}", cfg.get_i64("replica-priority"));
        f!(
            "slave_read_only:{}",
            cfg.get_bool("replica-read-only") as i32
        );
        f!(
            "replica_announced:{}",
            cfg.get_bool("replica-announced") as i32
        );
    }
    let replicas = r.replicas.lock().clone();
    f!("connected_slaves:{}", replicas.len());
    {
        let cfg = srv.config.read();
        if cfg.get_i64("min-replicas-to-write") > 0 && cfg.get_i64("min-replicas-max-lag") > 0 {
            let lag = cfg.get_i64("min-replicas-max-lag") as u64;
            let good = replicas
                .iter()
                .filter(|e| {
                    e.state.load(Ordering::Acquire) == ONLINE
                        && now.saturating_sub(e.ack_time_ms.load(Ordering::Relaxed)) / 1000 <= lag
                })
                .count();
            f!("min_slaves_good_slaves:{good}");
        }
    }
    for (i, e) in replicas.iter().enumerate() {
        let state = e.state.load(Ordering::Acquire);
        let lag = if state == ONLINE {
            now / 1000 - e.ack_time_ms.load(Ordering::Relaxed) / 1000
        } else {
            0
        };
        f!(
            "slave{i}:ip={},port={},state={},offset={},lag={lag}",
            e.ip,
            e.port,
            match state {
                WAIT_BGSAVE => "wait_bgsave",
                SEND_BULK => "send_bulk",
                _ => "online",
            },
            e.ack_offset.load(Ordering::Relaxed)
        );
    }
    let backlog = r.backlog.lock().clone();
    let (first, histlen) = match &backlog {
        Some(b) => {
            let (start, len, _) = b.range();
            (start + 1, len)
        }
        None => (0, 0),
    };
    f!("master_failover_state:no-failover");
    f!("master_replid:{}", srv.replid.lock());
    f!("master_replid2:{}", r.replid2.lock());
    f!("master_repl_offset:{}", srv.prop.offset());
    f!(
        "second_repl_offset:{}",
        r.second_offset.load(Ordering::Relaxed)
    );
    f!("repl_backlog_active:{}", backlog.is_some() as i32);
    f!("repl_backlog_size:{}", backlog_size(srv));
    f!("repl_backlog_first_byte_offset:{first}");
    f!("repl_backlog_histlen:{histlen}");
}
