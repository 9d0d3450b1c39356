//! XREAD and XREADGROUP, synchronous and blocking.
//!
//! A read that finds nothing and has BLOCK registers the client in
//! `crate::blocking` under its stream keys (with `$` resolved to the IDs
//! the streams had, so later entries are "new"); any write to one of those
//! keys re-runs the command on the client's behalf (`serve_keys`), which
//! replies only when it has entries. XREADGROUP clients blocked on a key
//! that was deleted or changed type get `-UNBLOCKED`, and those whose
//! group was destroyed get `-NOGROUP`, as in Redis 7.0.
//!
//! XREADGROUP itself is never propagated: what it changed is, as XCLAIM
//! (one per new pending entry), XGROUP SETID (NOACK) and XGROUP
//! CREATECONSUMER (a consumer created by a NOACK read).

use super::*;
use crate::blocking::{Waiter, SERVED, WAITING};
use crate::client::Blocked;
use crate::error;
use crate::server::Server;
use bytes::Bytes;
use std::sync::atomic::AtomicU8;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// COUNT of a blocked read that gave none (Redis's XREAD_BLOCKED_DEFAULT_COUNT).
const BLOCKED_DEFAULT_COUNT: usize = 1000;

/// What a read asks for, per stream.
enum Want {
    /// Entries after this ID.
    After(StreamId),
    /// XREADGROUP `>`: entries never delivered to the group.
    New,
}

struct ReadArgs {
    block_ms: Option<u64>,
    count: usize,
    streams_at: usize,
    nstreams: usize,
    group: Option<(Bytes, Bytes)>,
    noack: bool,
}

fn parse(ctx: &Ctx, group_cmd: bool) -> Result<ReadArgs, String> {
    let argv = ctx.argv;
    let argc = argv.len();
    let mut a = ReadArgs {
        block_ms: None,
        count: 0,
        streams_at: 0,
        nstreams: 0,
        group: None,
        noack: false,
    };
    let mut i = 1;
    while i < argc {
        let more = argc - i - 1;
        if ctx.arg_is(i, "BLOCK") && more > 0 {
            i += 1;
            let t = crate::util::parse_i64(&argv[i])
                .ok_or("ERR timeout is not an integer or out of range")?;
            if t < 0 {
                return Err(error::TIMEOUT_NEGATIVE.into());
            }
            a.block_ms = Some(t as u64);
        } else if ctx.arg_is(i, "COUNT") && more > 0 {
            i += 1;
            let n = crate::util::parse_i64(&argv[i]).ok_or(error::NOT_INTEGER)?;
            a.count = n.max(0) as usize;
        } else if ctx.arg_is(i, "STREAMS") && more > 0 {
            a.streams_at = i + 1;
            let n = argc - a.streams_at;
            if !n.is_multiple_of(2) {
                return Err("ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.".into());
            }
            a.nstreams = n / 2;
            break;
        } else if ctx.arg_is(i, "GROUP") && more >= 2 {
            if !group_cmd {
                return Err("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.".into());
            }
            a.group = Some((argv[i + 1].clone(), argv[i + 2].clone()));
            i += 2;
        } else if ctx.arg_is(i, "NOACK") {
            if !group_cmd {
                return Err("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.".into());
            }
            a.noack = true;
        } else {
            return Err(error::SYNTAX.into());
        }
        i += 1;
    }
    if a.streams_at == 0 {
        return Err(error::SYNTAX.into());
    }
    if group_cmd && a.group.is_none() {
        return Err("ERR Missing GROUP option for XREADGROUP".into());
    }
    Ok(a)
}

pub fn xread(ctx: &mut Ctx, out: &mut Out) {
    read_generic(ctx, out, false)
}

pub fn xreadgroup(ctx: &mut Ctx, out: &mut Out) {
    read_generic(ctx, out, true)
}

fn read_generic(ctx: &mut Ctx, out: &mut Out, group_cmd: bool) {
    let a = match parse(ctx, group_cmd) {
        Ok(a) => a,
        Err(e) => return out.error(&e),
    };
    if a.block_ms.is_some() && ctx.client.script {
        return out.error(&format!(
            "ERR {} command is not allowed with BLOCK option from scripts",
            ctx.cmd.name
        ));
    }
    let now = ctx.now_ms;
    let keys: Vec<Bytes> = ctx.argv[a.streams_at..a.streams_at + a.nstreams].to_vec();
    let id_args: Vec<Bytes> = ctx.argv[a.streams_at + a.nstreams..].to_vec();
    let mut guards = ctx.db().lock_keys(keys.iter().map(|k| &k[..]));

    // Resolve the IDs (and check keys and groups) before serving anything.
    let mut wants = Vec::with_capacity(a.nstreams);
    let mut resolved = id_args.clone();
    for (i, key) in keys.iter().enumerate() {
        let g = guards.for_key(key);
        let s = match read_stream(g, key, now) {
            Err(()) => return out.error(error::WRONGTYPE),
            Ok(s) => s,
        };
        if let Some((group, _)) = &a.group {
            if s.is_none_or(|s| !s.groups.contains_key(&group[..])) {
                if ctx.client.serving_blocked {
                    return out.error(
                        "NOGROUP the consumer group this client was blocked on no longer exists",
                    );
                }
                return out.error(&nogroup(key, group, " in XREADGROUP with GROUP option"));
            }
        }
        let arg = &id_args[i][..];
        if arg == b"$" {
            if group_cmd {
                return out.error("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.");
            }
            let last = s.map(|s| s.last_id).unwrap_or(StreamId::MIN);
            resolved[i] = Bytes::from(last.to_string());
            wants.push(Want::After(last));
        } else if arg == b">" {
            if !group_cmd {
                return out.error("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.");
            }
            wants.push(Want::New);
        } else {
            match parse_strict(arg) {
                Ok(id) => wants.push(Want::After(id)),
                Err(e) => return out.error(e),
            }
        }
    }

    let count = if ctx.client.serving_blocked && a.count == 0 {
        BLOCKED_DEFAULT_COUNT
    } else {
        a.count
    };
    // Serve every stream that has something, in argument order.
    let mut reply = Out::new(out_resp3(out));
    let mut served = 0usize;
    let mut props: Vec<Vec<Bytes>> = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let g = guards.for_key(key);
        let Ok(Some(s)) = write_stream(g, key, now) else {
            continue;
        };
        match (&a.group, &wants[i]) {
            (None, Want::After(after)) => {
                if s.last_live().is_none_or(|m| m <= *after) {
                    continue;
                }
                let Some(start) = after.incr() else { continue };
                open_stream_reply(&mut reply, key);
                reply_entries(&mut reply, &s.range(start, StreamId::MAX, false, count));
                served += 1;
            }
            (None, Want::New) => unreachable!("rejected while resolving"),
            (Some((group, consumer)), want) => {
                let last = s.groups[&group[..]].last_id;
                let history = match want {
                    Want::After(id) => Some(*id),
                    Want::New => None,
                };
                if history.is_none() && s.last_live().is_none_or(|m| m <= last) {
                    continue;
                }
                open_stream_reply(&mut reply, key);
                let created = touch_consumer(s, group, consumer, now);
                if created {
                    ctx.dirty += 1;
                    if a.noack {
                        props.push(vec![
                            Bytes::from_static(b"XGROUP"),
                            Bytes::from_static(b"CREATECONSUMER"),
                            key.clone(),
                            group.clone(),
                            consumer.clone(),
                        ]);
                    }
                }
                match history {
                    Some(from) => super::group::deliver_history(
                        s, group, consumer, from, count, now, &mut reply,
                    ),
                    None => {
                        let Some(start) = last.incr() else { continue };
                        super::group::deliver_new(
                            s, key, group, consumer, start, count, a.noack, now, &mut reply,
                            &mut props,
                        );
                    }
                }
                ctx.dirty += 1;
                served += 1;
                if created {
                    crate::notify::notify(
                        ctx,
                        crate::notify::NOTIFY_STREAM,
                        "xgroup-createconsumer",
                        key,
                    );
                }
            }
        }
    }
    drop(guards);
    if group_cmd {
        // Never propagated as itself; what changed goes as XCLAIM & co.
        for p in props {
            crate::propagate::command(ctx.client.db, p);
        }
        ctx.propagate = Some(Vec::new());
    }
    if served > 0 {
        if out_resp3(out) {
            out.map(served);
        } else {
            out.array(served);
        }
        out.raw(&reply.buf);
        return;
    }
    if ctx.client.serving_blocked {
        return; // Keep waiting.
    }
    let Some(block_ms) = a.block_ms else {
        return out.null_array();
    };
    if ctx.client.in_exec {
        return out.null_array();
    }
    // Block: `$` becomes the IDs the streams had now.
    let mut argv = ctx.argv.to_vec();
    argv.truncate(a.streams_at + a.nstreams);
    argv.extend(resolved);
    let tx = ctx.client.push_sender();
    let waiter = Arc::new(Waiter {
        client_id: ctx.client.id,
        db: ctx.client.db,
        resp3: ctx.client.resp3,
        argv,
        keys: dedup(keys),
        state: AtomicU8::new(WAITING),
        tx,
        info: ctx.client.info.clone(),
    });
    ctx.srv.blocking.register(waiter.clone());
    ctx.client.blocked = Some(Blocked {
        waiter,
        deadline: (block_ms > 0).then(|| Instant::now() + Duration::from_millis(block_ms)),
        null_array: true,
    });
}

fn dedup(mut keys: Vec<Bytes>) -> Vec<Bytes> {
    let mut seen = std::collections::HashSet::new();
    keys.retain(|k| seen.insert(k.clone()));
    keys
}

fn out_resp3(out: &Out) -> bool {
    out.resp3
}

/// One stream's part of the reply: `[key, ...]` in RESP2, a map key in RESP3.
fn open_stream_reply(reply: &mut Out, key: &[u8]) {
    if !reply.resp3 {
        reply.array(2);
    }
    reply.bulk(key);
}

/// Refresh (or create) a consumer; true if created.
fn touch_consumer(s: &mut StreamValue, group: &[u8], consumer: &[u8], now: u64) -> bool {
    let g = s.groups.get_mut(group).expect("checked");
    match g.consumers.get_mut(consumer) {
        Some(c) => {
            c.seen_time = now;
            false
        }
        None => g.create_consumer(consumer, now),
    }
}

/// After `key` was deleted or stopped being a stream: XREADGROUP clients
/// blocked on it get `-UNBLOCKED the stream key no longer exists`.
pub fn unblock_deleted_readgroup(srv: &Server, db: usize, key: &[u8]) {
    for w in srv.blocking.waiters_on(db, key) {
        if !w.argv[0].eq_ignore_ascii_case(b"xreadgroup") || !w.claim(SERVED) {
            continue;
        }
        srv.blocking.unregister(&w);
        crate::blocking::count_unblocked(&w, true);
        let mut out = Out::new(w.resp3);
        out.error("UNBLOCKED the stream key no longer exists");
        srv.stats.count_errors(&out.errors);
        let _ = w.tx.send(out.buf.freeze());
    }
}
