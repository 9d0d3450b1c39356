//! Blocking list pops: BLPOP, BRPOP, BRPOPLPUSH, BLMOVE, BLMPOP.
//!
//! Each tries its operation at once; with nothing to pop (and outside
//! MULTI) the client blocks: it is registered in `crate::blocking` and
//! sends no reply until a write serves it (see `serve_keys`) or its timeout
//! passes (the connection then answers nil).

use super::table::c_with_keys;
use super::{Command, Ctx, KeySpec};
use crate::blocking::{Waiter, SERVED, WAITING};
use crate::client::{Blocked, Client};
use crate::error;
use crate::protocol::Out;
use crate::server::Server;
use crate::types::list::End;
use crate::util::parse_i64;
use bytes::Bytes;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub fn commands() -> Vec<Command> {
    let range = |first, last| KeySpec::Range {
        first,
        last,
        step: 1,
    };
    vec![
        c_with_keys("blpop", -3, "write noscript blocking @list", range(1, -2), "list", "2.0.0", "Remove and get the first element in a list, or block until one is available", blpop),
        c_with_keys("brpop", -3, "write noscript blocking @list", range(1, -2), "list", "2.0.0", "Remove and get the last element in a list, or block until one is available", brpop),
        c_with_keys("brpoplpush", 4, "write denyoom noscript blocking @list", range(1, 2), "list", "2.2.0", "Pop an element from a list, push it to another list and return it; or block until one is available", brpoplpush),
        c_with_keys("blmove", 6, "write denyoom noscript blocking @list", range(1, 2), "list", "6.2.0", "Pop an element from a list, push it to another list and return it; or block until one is available", blmove),
        c_with_keys("bzpopmin", -3, "write noscript blocking fast @sortedset", range(1, -2), "sorted_set", "5.0.0", "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available", bzpopmin),
        c_with_keys("bzpopmax", -3, "write noscript blocking fast @sortedset", range(1, -2), "sorted_set", "5.0.0", "Remove and return the member with the highest score from one or more sorted sets, or block until one is available", bzpopmax),
        c_with_keys(
            "bzmpop",
            -5,
            "write blocking @sortedset",
            KeySpec::Keynum { extra_first: 0, numkeys_at: 2, first_offset: 1, step: 1 },
            "sorted_set",
            "7.0.0",
            "Remove and return members with scores in a sorted set or block until one is available",
            bzmpop,
        ),
        c_with_keys(
            "blmpop",
            -5,
            "write blocking @list",
            KeySpec::Keynum { extra_first: 0, numkeys_at: 2, first_offset: 1, step: 1 },
            "list",
            "7.0.0",
            "Pop elements from a list, or block until one is available",
            blmpop,
        ),
    ]
}

/// A timeout argument in seconds (decimals allowed); None = forever.
fn parse_timeout(raw: &[u8]) -> Result<Option<Duration>, &'static str> {
    let secs = crate::util::parse_f64(raw)
        .filter(|s| s.is_finite())
        .ok_or("ERR timeout is not a float or out of range")?;
    if secs < 0.0 {
        return Err(error::TIMEOUT_NEGATIVE);
    }
    Ok((secs > 0.0).then(|| Duration::from_secs_f64(secs)))
}

/// Pop one element from the first non-empty list among argv[keys]: `[key, elem]`.
fn pop_first(ctx: &mut Ctx, out: &mut Out, keys: std::ops::Range<usize>, end: End) -> bool {
    let now = ctx.now_ms;
    let keys = &ctx.argv[keys];
    let mut guards = ctx.db().lock_keys(keys.iter().map(|k| &k[..]));
    for key in keys {
        let g = guards.for_key(key);
        let l = match super::list::write(g, key, now) {
            Err(()) => {
                out.error(error::WRONGTYPE);
                return true;
            }
            Ok(None) => continue,
            Ok(Some(l)) if l.is_empty() => continue,
            Ok(Some(l)) => l,
        };
        let v = l.pop(end).expect("not empty");
        let empty = l.is_empty();
        super::list::drop_if_empty(g, key, empty);
        out.array(2);
        out.bulk(key);
        out.bulk(&v);
        ctx.dirty += 1;
        ctx.propagate_as(&[end.pop_command(), key]);
        super::list::notify_popped(ctx, key, end, empty);
        return true;
    }
    false
}

/// Serve now, or block. `keys` are the argv indexes of the watched keys;
/// `null_array` picks the timeout reply (null array or null bulk).
fn serve_or_block(
    ctx: &mut Ctx,
    out: &mut Out,
    timeout_at: usize,
    keys: Vec<usize>,
    null_array: bool,
    attempt: impl FnOnce(&mut Ctx, &mut Out) -> bool,
) {
    let timeout = match parse_timeout(ctx.arg(timeout_at)) {
        Ok(t) => t,
        Err(e) => return out.error(e),
    };
    if attempt(ctx, out) || ctx.client.serving_blocked {
        return;
    }
    if ctx.client.in_exec {
        // Inside MULTI a blocking command never blocks.
        return if null_array {
            out.null_array()
        } else {
            out.null()
        };
    }
    let tx = ctx.client.push_sender();
    let waiter = Arc::new(Waiter {
        client_id: ctx.client.id,
        db: ctx.client.db,
        resp3: ctx.client.resp3,
        argv: ctx.argv.to_vec(),
        keys: keys.into_iter().map(|i| ctx.argv[i].clone()).collect(),
        state: AtomicU8::new(WAITING),
        tx,
        info: ctx.client.info.clone(),
    });
    ctx.srv.blocking.register(waiter.clone());
    ctx.client.blocked = Some(Blocked {
        waiter,
        deadline: timeout.map(|t| Instant::now() + t),
        null_array,
    });
}

pub fn blpop(ctx: &mut Ctx, out: &mut Out) {
    let n = ctx.argv.len();
    serve_or_block(ctx, out, n - 1, (1..n - 1).collect(), true, |ctx, out| {
        pop_first(ctx, out, 1..n - 1, End::Left)
    })
}

pub fn brpop(ctx: &mut Ctx, out: &mut Out) {
    let n = ctx.argv.len();
    serve_or_block(ctx, out, n - 1, (1..n - 1).collect(), true, |ctx, out| {
        pop_first(ctx, out, 1..n - 1, End::Right)
    })
}

pub fn brpoplpush(ctx: &mut Ctx, out: &mut Out) {
    serve_or_block(ctx, out, 3, vec![1], false, |ctx, out| {
        super::list::move_elem(ctx, out, End::Right, End::Left)
    })
}

pub fn blmove(ctx: &mut Ctx, out: &mut Out) {
    let (Some(from), Some(to)) = (End::parse(ctx.arg(3)), End::parse(ctx.arg(4))) else {
        return out.error(error::SYNTAX);
    };
    serve_or_block(ctx, out, 5, vec![1], false, move |ctx, out| {
        super::list::move_elem(ctx, out, from, to)
    })
}

pub fn blmpop(ctx: &mut Ctx, out: &mut Out) {
    let where_at = match mpop_where(ctx) {
        Ok(w) => w,
        Err(e) => return out.error(e),
    };
    let Some(end) = End::parse(ctx.arg(where_at)) else {
        return out.error(error::SYNTAX);
    };
    let count = match mpop_count(ctx, where_at) {
        Ok(c) => c,
        Err(e) => return out.error(e),
    };
    serve_or_block(
        ctx,
        out,
        1,
        (3..where_at).collect(),
        true,
        move |ctx, out| super::list::mpop(ctx, out, 3..where_at, end, count),
    )
}

/// BLMPOP / BZMPOP: `timeout numkeys key... WHERE [COUNT n]` — the index
/// of WHERE, after checking numkeys.
fn mpop_where(ctx: &Ctx) -> Result<usize, &'static str> {
    let numkeys = match parse_i64(ctx.arg(2)) {
        Some(n) if n > 0 => n as u64,
        _ => return Err("ERR numkeys should be greater than 0"),
    };
    let where_at = numkeys.saturating_add(3);
    if where_at >= ctx.argv.len() as u64 {
        return Err(error::SYNTAX);
    }
    Ok(where_at as usize)
}

/// The optional `COUNT n` right after WHERE (default 1).
fn mpop_count(ctx: &Ctx, where_at: usize) -> Result<usize, &'static str> {
    match ctx.argv.len() - where_at {
        1 => Ok(1),
        3 if ctx.arg_is(where_at + 1, "COUNT") => match parse_i64(ctx.arg(where_at + 2)) {
            Some(n) if n > 0 => Ok(n as usize),
            _ => Err("ERR count should be greater than 0"),
        },
        _ => Err(error::SYNTAX),
    }
}

pub fn bzpopmin(ctx: &mut Ctx, out: &mut Out) {
    let n = ctx.argv.len();
    serve_or_block(ctx, out, n - 1, (1..n - 1).collect(), true, |ctx, out| {
        super::zset::pop::pop_one_from(ctx, out, 1..n - 1, false)
    })
}

pub fn bzpopmax(ctx: &mut Ctx, out: &mut Out) {
    let n = ctx.argv.len();
    serve_or_block(ctx, out, n - 1, (1..n - 1).collect(), true, |ctx, out| {
        super::zset::pop::pop_one_from(ctx, out, 1..n - 1, true)
    })
}

pub fn bzmpop(ctx: &mut Ctx, out: &mut Out) {
    let where_at = match mpop_where(ctx) {
        Ok(w) => w,
        Err(e) => return out.error(e),
    };
    let max = if ctx.arg_is(where_at, "MIN") {
        false
    } else if ctx.arg_is(where_at, "MAX") {
        true
    } else {
        return out.error(error::SYNTAX);
    };
    let count = match mpop_count(ctx, where_at) {
        Ok(c) => c,
        Err(e) => return out.error(e),
    };
    serve_or_block(
        ctx,
        out,
        1,
        (3..where_at).collect(),
        true,
        move |ctx, out| super::zset::pop::mpop_from(ctx, out, 3..where_at, max, count),
    )
}

/// After a write changed `keys` in `db`: serve the clients blocked on them,
/// oldest first, while there is something to serve. A served command that
/// writes elsewhere (BLMOVE's destination) queues that key too.
pub fn serve_keys(srv: &Server, hot: &crate::config::Hot, db: usize, keys: Vec<Bytes>) {
    let mut queue: std::collections::VecDeque<Bytes> = keys.into();
    let mut rounds = 0;
    while let Some(key) = queue.pop_front() {
        rounds += 1;
        if rounds > 10_000 {
            break;
        }
        // A key that now holds another type (or nothing) wakes nobody: the
        // clients keep waiting, as in Redis 7.0.
        let now = crate::util::now_ms();
        let kind = srv
            .keyspace
            .db(db)
            .lock_key(&key)
            .get_mut(&key, now)
            .map(|e| e.value.type_name());
        if kind != Some("stream") {
            // XREADGROUP waiters of a stream that is gone get -UNBLOCKED.
            super::stream::unblock_deleted_readgroup(srv, db, &key);
        }
        let Some(kind) = kind else { continue };
        for w in srv.blocking.waiters_on(db, &key) {
            let Some(cmd) = super::lookup(&w.argv[0]) else {
                continue;
            };
            // The command table's group says which type the waiter reads.
            let wants = match cmd.group {
                "sorted_set" => "zset",
                "stream" => "stream",
                _ => "list",
            };
            if wants != kind || !w.claim(SERVED) {
                continue;
            }
            let mut client = Client::new(w.info.clone(), true);
            client.db = w.db;
            client.resp3 = w.resp3;
            client.serving_blocked = true;
            let mut out = Out::new(w.resp3);
            if crate::snapshot::active() {
                crate::snapshot::before_write(srv, w.db, cmd, &w.argv);
            }
            let started = std::time::Instant::now();
            let mut ctx = Ctx::new(srv, &mut client, &w.argv, cmd, hot);
            (cmd.handler)(&mut ctx, &mut out);
            let elapsed_us = started.elapsed().as_micros() as u64;
            let dirty = ctx.dirty;
            if dirty > 0 {
                let argv = ctx.propagate.take().unwrap_or_else(|| w.argv.clone());
                crate::propagate::command(w.db, argv);
            }
            if hot.notify_keyspace_events != 0 {
                crate::notify::flush(srv, hot.notify_keyspace_events);
            }
            if out.buf.is_empty() {
                w.state.store(WAITING, Ordering::Release);
                if kind == "stream" {
                    // A stream reader wants entries after its own ID:
                    // the ones behind it may still be served.
                    continue;
                }
                // Nothing left for this waiter: it keeps waiting, and so do the ones behind it.
                break;
            }
            srv.blocking.unregister(&w);
            srv.stats.dirty.fetch_add(dirty, Ordering::Relaxed);
            if dirty > 0 && srv.watches.any() {
                for i in cmd.keys_in(&w.argv) {
                    srv.watches.touch(w.db, &w.argv[i]);
                }
            }
            cmd.stats.add_calls(!out.errors.is_empty());
            if !out.errors.is_empty() {
                srv.stats.count_errors(&out.errors);
            }
            // The served command goes to the slowlog as the client sent it
            // (BLPOP, not the LPOP it propagates as), as in Redis.
            if hot.slowlog_log_slower_than_us >= 0
                && elapsed_us >= hot.slowlog_log_slower_than_us as u64
                && !cmd.has(crate::commands::SKIP_SLOWLOG)
            {
                let name = w
                    .info
                    .name
                    .lock()
                    .as_ref()
                    .map(|n| String::from_utf8_lossy(n).into_owned())
                    .unwrap_or_default();
                srv.slowlog.lock().push(
                    &w.argv,
                    elapsed_us,
                    w.info.addr.to_string(),
                    name,
                    hot.slowlog_max_len,
                );
            }
            let _ = w.tx.send(out.buf.freeze());
            // Tracking clients hear of the change after the served reply.
            if dirty > 0 && srv.tracking.active() {
                for i in cmd.keys_in(&w.argv) {
                    srv.tracking.invalidate(srv, &w.argv[i]);
                }
            }
            if w.argv.len() > 2 && matches!(cmd.name.as_str(), "blmove" | "brpoplpush") {
                queue.push_back(w.argv[2].clone());
            }
        }
    }
}
