//! Server commands: DBSIZE, FLUSHDB/FLUSHALL, TIME, LASTSAVE, SHUTDOWN,
//! DEBUG, CONFIG, MEMORY, SLOWLOG and LATENCY. INFO is in `info.rs`.

use super::{help_reply, Ctx};
use crate::error;
use crate::keyspace::Value;
use crate::protocol::Out;
use std::sync::atomic::Ordering;

pub use super::info::info;

pub fn dbsize(ctx: &mut Ctx, out: &mut Out) {
    out.int(ctx.db().len() as i64)
}

/// FLUSHDB / FLUSHALL accept one optional ASYNC or SYNC.
fn flush_mode_ok(ctx: &Ctx) -> bool {
    match ctx.argv.len() {
        1 => true,
        2 => ctx.arg_is(1, "ASYNC") || ctx.arg_is(1, "SYNC"),
        _ => false,
    }
}

/// ASYNC, SYNC, or as lazyfree-lazy-user-flush says.
fn flush_lazily(ctx: &Ctx) -> bool {
    if ctx.argv.len() == 2 {
        ctx.arg_is(1, "ASYNC")
    } else {
        crate::lazyfree::lazy(&crate::lazyfree::LAZY_USER_FLUSH)
    }
}

pub fn flushdb(ctx: &mut Ctx, out: &mut Out) {
    if !flush_mode_ok(ctx) {
        return out.error(error::SYNTAX);
    }
    let db = ctx.client.db;
    touch_live_watched(ctx, |d| d == db);
    // Tracking clients hear a null invalidation (whatever the database).
    ctx.srv.tracking.flushed(ctx.srv);
    let n = ctx.db().clear_async(flush_lazily(ctx));
    ctx.dirty += n.max(1);
    wake_blocked_in(ctx, |d| d == db);
    out.ok()
}

/// After a flush: clients blocked on keys of the flushed databases are
/// looked at again (XREADGROUP ones get -UNBLOCKED, as in Redis 7.0).
fn wake_blocked_in(ctx: &Ctx, affected: impl Fn(usize) -> bool) {
    if !ctx.srv.blocking.any() {
        return;
    }
    for d in 0..ctx.srv.keyspace.db_count() {
        if affected(d) {
            let keys = ctx.srv.blocking.keys_in_db(d);
            if !keys.is_empty() {
                crate::exec::serve_later(d, keys);
            }
        }
    }
}

/// Flag WATCHers of keys that are live in the databases about to be emptied.
fn touch_live_watched(ctx: &Ctx, affected: impl Fn(usize) -> bool) {
    let ks = &ctx.srv.keyspace;
    let now = ctx.now_ms;
    ctx.srv.watches.touch_where(|d, k| {
        affected(d)
            && ks
                .db(d)
                .lock_key(k)
                .peek(k)
                .is_some_and(|e| !e.is_expired(now))
    });
}

pub fn flushall(ctx: &mut Ctx, out: &mut Out) {
    if !flush_mode_ok(ctx) {
        return out.error(error::SYNTAX);
    }
    touch_live_watched(ctx, |_| true);
    ctx.srv.tracking.flushed(ctx.srv);
    let lazy = flush_lazily(ctx);
    let mut n = 0;
    for (_, db) in ctx.srv.keyspace.dbs() {
        n += db.clear_async(lazy);
    }
    ctx.dirty += n.max(1);
    wake_blocked_in(ctx, |_| true);
    out.ok()
}

pub fn time(_ctx: &mut Ctx, out: &mut Out) {
    let us = crate::util::now_us();
    out.array(2);
    out.bulk_int((us / 1_000_000) as i64);
    out.bulk_int((us % 1_000_000) as i64);
}

pub fn lastsave(ctx: &mut Ctx, out: &mut Out) {
    out.int(ctx.srv.last_save_s.load(Ordering::Relaxed) as i64)
}

pub fn shutdown(ctx: &mut Ctx, out: &mut Out) {
    let mut abort = false;
    let (mut save, mut nosave, mut force) = (false, false, false);
    for i in 1..ctx.argv.len() {
        let a = ctx.arg_str(i).to_ascii_lowercase();
        match a.as_str() {
            "nosave" => nosave = true,
            "save" => save = true,
            "now" => {}
            "force" => force = true,
            "abort" => abort = true,
            _ => return out.error(error::SYNTAX),
        }
    }
    if abort {
        return out.error("ERR No shutdown in progress.");
    }
    if save && nosave {
        return out.error(error::SYNTAX);
    }
    crate::warning!("User requested shutdown...");
    let mode = if nosave {
        Some(false)
    } else if save {
        Some(true)
    } else {
        None
    };
    if crate::persist::prepare_shutdown(ctx.srv, mode).is_err() && !force {
        return out.error("ERR Errors trying to SHUTDOWN. Check logs.");
    }
    ctx.srv.request_shutdown();
    ctx.client.close_after_reply = true;
}

/// Whether DEBUG may run for this client (enable-debug-command).
fn debug_allowed(ctx: &Ctx) -> bool {
    match ctx.hot.enable_debug_command.as_str() {
        "yes" => true,
        "local" => ctx.client.info.addr.ip().is_loopback(),
        _ => false,
    }
}

pub fn debug(ctx: &mut Ctx, out: &mut Out) {
    if !debug_allowed(ctx) {
        return out.error(error::DEBUG_DISABLED);
    }
    let sub = ctx.arg_str(1).to_ascii_lowercase();
    let argc = ctx.argv.len();
    match sub.as_str() {
        "help" => help_reply(
            out,
            "DEBUG",
            &[
                "CHANGE-REPL-ID",
                "    Change the replication IDs of the instance.",
                "DIGEST",
                "    Output a hex signature representing the current DB content.",
                "DIGEST-VALUE <key> [<key> ...]",
                "    Output a hex signature of the values of all the specified keys.",
                "LOG <message>",
                "    Write <message> to the server log.",
                "OBJECT <key>",
                "    Show low level info about the `key` and associated value.",
                "POPULATE <count> [<prefix>] [<size>]",
                "    Create <count> string keys named key:<num>.",
                "PROTOCOL <type>",
                "    Reply with a test value of the specified type.",
                "QUICKLIST-PACKED-THRESHOLD <size>",
                "    Sets the threshold for elements to be inserted as plain vs packed nodes",
                "SET-ACTIVE-EXPIRE <0|1>",
                "    Setting it to 0 disables expiring keys in background when they are not accessed.",
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
            ],
        ),
        "sleep" if argc == 3 => {
            let Some(secs) = crate::util::parse_f64(ctx.arg(2)).filter(|s| *s >= 0.0 && s.is_finite()) else {
                return out.error(error::NOT_FLOAT);
            };
            // DEBUG holds the keyspace gate exclusively: like Redis, the whole server waits.
            std::thread::sleep(std::time::Duration::from_secs_f64(secs));
            out.ok()
        }
        // Undocumented in Redis too: its tests stop serverCron with it.
        "pause-cron" if argc == 3 => {
            let on = crate::util::parse_i64(ctx.arg(2)).unwrap_or(0) != 0;
            ctx.srv.cron_paused.store(on, Ordering::Relaxed);
            out.ok()
        }
        "set-active-expire" if argc == 3 => {
            ctx.srv.active_expire_enabled.store(ctx.arg(2) != b"0", Ordering::Relaxed);
            out.ok()
        }
        "quicklist-packed-threshold" if argc == 3 => match crate::config::parse_memory(&ctx.arg_str(2)) {
            Some(_) => out.ok(),
            None => out.error("ERR argument must be a memory value bigger than 1 and smaller than 4gb"),
        },
        "log" if argc == 3 => {
            crate::warning!("DEBUG LOG: {}", ctx.arg_str(2));
            out.ok()
        }
        "change-repl-id" if argc == 2 => {
            *ctx.srv.replid.lock() = crate::server::random_hex_id();
            out.ok()
        }
        "object" if argc == 3 => debug_object(ctx, out),
        "digest" if argc == 2 => {
            let d = digest_keyspace(ctx);
            out.simple(&hex(&d))
        }
        "digest-value" if argc >= 2 => {
            let keys: Vec<Vec<u8>> = ctx.argv[2..].iter().map(|k| k.to_vec()).collect();
            out.array(keys.len());
            for k in keys {
                let mut g = ctx.db().lock_key(&k);
                let d = g.get_mut(&k, ctx.now_ms).map(|e| digest_value(&e.value)).unwrap_or([0; 20]);
                out.simple(&hex(&d));
            }
        }
        "populate" if (3..=5).contains(&argc) => debug_populate(ctx, out),
        "protocol" if argc == 3 => debug_protocol(ctx, out),
        "reload" => debug_reload(ctx, out),
        "loadaof" => debug_loadaof(ctx, out),
        "jmap" | "stringmatch-len" | "crash-and-recover" | "segfault" | "panic" | "oom" | "assert" => {
            out.error(&format!("ERR DEBUG {} is not supported by this server yet", sub.to_uppercase()))
        }
        _ => out.error(&error::unknown_subcommand("debug", ctx.arg(1))),
    }
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: save the RDB, empty the
/// keyspace, load the RDB back (the caller holds the gate exclusively).
fn debug_reload(ctx: &mut Ctx, out: &mut Out) {
    let (mut merge, mut flush, mut save) = (false, true, true);
    for i in 2..ctx.argv.len() {
        match ctx.arg_str(i).to_ascii_uppercase().as_str() {
            "MERGE" => merge = true,
            "NOFLUSH" => flush = false,
            "NOSAVE" => save = false,
            _ => {
                return out
                    .error("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.")
            }
        }
    }
    if save {
        if let Err(e) = crate::persist::save_foreground(ctx.srv) {
            return out.error(&e);
        }
    }
    if flush && !merge {
        crate::persist::empty_keyspace(ctx.srv);
    }
    use crate::scripting::functions::{RdbPolicy, RDB_POLICY};
    let policy = match (flush && !merge, merge) {
        (true, _) => RdbPolicy::ReplaceAll,
        (false, true) => RdbPolicy::Merge,
        (false, false) => RdbPolicy::Append,
    };
    RDB_POLICY.with(|p| p.set(policy));
    let result = crate::persist::load_rdb_file(ctx.srv);
    RDB_POLICY.with(|p| p.set(RdbPolicy::ReplaceAll));
    match result {
        Ok(_) => {
            crate::log::log(crate::log::Level::Notice, "DB reloaded by DEBUG RELOAD");
            out.ok()
        }
        Err(e) => {
            crate::log::log(crate::log::Level::Warning, &e);
            out.error("ERR Error trying to load the RDB dump, check server logs.")
        }
    }
}

/// DEBUG LOADAOF: flush the AOF to disk, empty the keyspace, load the AOF.
fn debug_loadaof(ctx: &mut Ctx, out: &mut Out) {
    if ctx.srv.aof.runtime.lock().is_none() {
        return out.ok();
    }
    crate::persist::aof::stop(ctx.srv);
    crate::persist::empty_keyspace(ctx.srv);
    let loaded = crate::persist::aof::load(ctx.srv);
    let restarted = crate::persist::aof::start(ctx.srv);
    match (loaded, restarted) {
        (Ok(_), Ok(())) => {
            crate::log::log(
                crate::log::Level::Notice,
                "Append Only File loaded by DEBUG LOADAOF",
            );
            out.ok()
        }
        (Err(e), _) | (_, Err(e)) => {
            crate::log::log(crate::log::Level::Warning, &e);
            out.error("ERR Error loading the AOF file, check server logs.")
        }
    }
}

fn debug_object(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(2);
    let mut g = ctx.db().lock_key(key);
    let Some(e) = g.get_mut(key, ctx.now_ms) else {
        return out.error(error::NO_SUCH_KEY);
    };
    let idle = crate::keyspace::lru_clock().saturating_sub(e.lru_s);
    let serialized = match &e.value {
        Value::Str(s) => s.len(),
        other => other.element_count(),
    };
    let line = format!(
        "Value at:{:p} refcount:1 encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
        e as *const _,
        e.value.encoding(),
        serialized,
        e.lru_s & 0xFFFFFF,
        idle
    );
    out.simple(&line)
}

/// A 160-bit digest of a value, mixing its type and content.
/// Ordered types fold their elements in order; sets and hashes xor the
/// digests of their elements so their iteration order does not matter.
fn digest_value(v: &Value) -> [u8; 20] {
    let mut d = [0u8; 20];
    let xor_in = |d: &mut [u8; 20], parts: &[&[u8]]| {
        let mut e = [0u8; 20];
        for p in parts {
            mix_digest(&mut e, p);
        }
        d.iter_mut().zip(e).for_each(|(a, b)| *a ^= b);
    };
    match v {
        Value::Str(s) => s.with_bytes(|b| mix_digest(&mut d, b)),
        Value::List(l) => l.items.iter().for_each(|i| mix_digest(&mut d, i)),
        Value::Hash(h) => h.for_each(|k, x| xor_in(&mut d, &[k, x])),
        Value::Set(s) => s.for_each(|m| xor_in(&mut d, &[m])),
        Value::ZSet(z) => z.for_each_ordered(|score, m| {
            mix_digest(&mut d, m);
            mix_digest(
                &mut d,
                crate::protocol::reply::format_double(score).as_bytes(),
            );
        }),
        Value::Stream(s) => digest_stream(&mut d, s),
    }
    mix_digest(&mut d, v.type_name().as_bytes());
    d
}

/// A stream's entries in order, its IDs and counters, then its groups
/// with their pending entries and consumers.
fn digest_stream(d: &mut [u8; 20], s: &crate::types::StreamValue) {
    use crate::types::stream::StreamId;
    for e in s.range(StreamId::MIN, StreamId::MAX, false, 0) {
        mix_digest(d, &e.id.encode_be());
        for f in &e.fields {
            mix_digest(d, f);
        }
    }
    for id in [s.last_id, s.first_id, s.max_deleted_id] {
        mix_digest(d, &id.encode_be());
    }
    mix_digest(d, &s.entries_added.to_le_bytes());
    for (name, g) in &s.groups {
        mix_digest(d, name);
        mix_digest(d, &g.last_id.encode_be());
        mix_digest(d, &g.entries_read.to_le_bytes());
        for (id, n) in &g.pel {
            mix_digest(d, &id.encode_be());
            mix_digest(d, &n.consumer);
            mix_digest(d, &n.delivery_time.to_le_bytes());
            mix_digest(d, &n.delivery_count.to_le_bytes());
        }
        for (cname, c) in &g.consumers {
            mix_digest(d, cname);
            mix_digest(d, &c.seen_time.to_le_bytes());
        }
    }
}

/// Fold `data` into `d` with four differently seeded 64-bit hashes.
fn mix_digest(d: &mut [u8; 20], data: &[u8]) {
    use std::hash::Hasher;
    let mut bytes = Vec::with_capacity(32);
    for seed in 0u64..3 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        h.write_u64(seed);
        h.write(&d[..]);
        h.write(data);
        bytes.extend_from_slice(&h.finish().to_le_bytes());
    }
    d.copy_from_slice(&bytes[..20]);
}

/// Order-independent digest of every key, value and expiry (DEBUG DIGEST);
/// all zeros for an empty dataset, as Redis.
fn digest_keyspace(ctx: &Ctx) -> [u8; 20] {
    let mut acc = [0u8; 20];
    let mut any = false;
    for (dbi, db) in ctx.srv.keyspace.dbs() {
        for slot in 0..shoal_cluster::SLOT_COUNT as u16 {
            let Some(g) = db.lock_existing_slot(slot) else {
                continue;
            };
            for (k, e) in g.iter() {
                if e.is_expired(ctx.now_ms) {
                    continue;
                }
                any = true;
                let mut d = digest_value(&e.value);
                mix_digest(&mut d, k);
                mix_digest(&mut d, &(dbi as u64).to_le_bytes());
                if e.expire_at_ms != 0 {
                    mix_digest(&mut d, &e.expire_at_ms.to_le_bytes());
                }
                for (a, b) in acc.iter_mut().zip(d) {
                    *a ^= b;
                }
            }
        }
    }
    if any {
        acc
    } else {
        [0; 20]
    }
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn debug_populate(ctx: &mut Ctx, out: &mut Out) {
    let Some(count) = crate::util::parse_i64(ctx.arg(2)).filter(|c| *c >= 0) else {
        return out.error(error::OUT_OF_RANGE);
    };
    let prefix = if ctx.argv.len() > 3 {
        ctx.arg_str(3)
    } else {
        "key".into()
    };
    let size = if ctx.argv.len() > 4 {
        match crate::util::parse_i64(ctx.arg(4)).filter(|s| *s >= 0) {
            Some(s) => Some(s as usize),
            None => return out.error(error::OUT_OF_RANGE),
        }
    } else {
        None
    };
    let db = ctx.db();
    for i in 0..count {
        let key = format!("{prefix}:{i}");
        let mut g = db.lock_key(key.as_bytes());
        if g.contains(key.as_bytes(), ctx.now_ms) {
            continue;
        }
        let mut val = format!("value:{i}").into_bytes();
        if let Some(size) = size {
            val.resize(size, 0);
        }
        let v = crate::keyspace::StrVal::from_bytes(&val);
        g.insert(
            key.as_bytes(),
            crate::keyspace::Entry::new(Value::Str(v)),
            false,
        );
    }
    out.ok()
}

fn debug_protocol(ctx: &mut Ctx, out: &mut Out) {
    match ctx.arg_str(2).to_ascii_lowercase().as_str() {
        "string" => out.bulk(b"Hello World"),
        "integer" => out.int(12345),
        "double" => out.double(3.141),
        "bignum" => {
            if out.resp3 {
                out.raw(b"(1234567999999999999999999999999999999\r\n")
            } else {
                out.bulk(b"1234567999999999999999999999999999999")
            }
        }
        "null" => out.null(),
        "array" => {
            out.array(3);
            (0..3).for_each(|i| out.int(i));
        }
        "set" => {
            out.set(3);
            (0..3).for_each(|i| out.int(i));
        }
        "map" => {
            out.map(3);
            for i in 0..3 {
                out.int(i);
                out.boolean(i == 1);
            }
        }
        "attrib" => {
            if out.resp3 {
                out.raw(b"|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n");
            }
            out.bulk(b"Some real reply following the attribute")
        }
        "push" => {
            if !out.resp3 {
                return out.error("ERR RESP2 is not supported by this command");
            }
            out.push(2);
            out.bulk(b"server-cpu-usage");
            out.int(42);
            out.bulk(b"Some real reply following the push reply")
        }
        "true" => out.boolean(true),
        "false" => out.boolean(false),
        "verbatim" => {
            if out.resp3 {
                out.raw(b"=29\r\ntxt:This is a verbatim\nstring\r\n")
            } else {
                out.bulk(b"This is a verbatim\nstring")
            }
        }
        _ => out.error("ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false"),
    }
}

pub fn config_get(ctx: &mut Ctx, out: &mut Out) {
    let cfg = ctx.srv.config.read();
    let mut pairs: Vec<(&str, String)> = Vec::new();
    for pat in &ctx.argv[2..] {
        for (name, value) in cfg.matching(pat) {
            if !pairs.iter().any(|(n, _)| *n == name) {
                pairs.push((name, value.to_string()));
            }
        }
    }
    out.map(pairs.len());
    for (n, v) in pairs {
        out.bulk(n.as_bytes());
        out.bulk(v.as_bytes());
    }
}

pub fn config_set(ctx: &mut Ctx, out: &mut Out) {
    if ctx.argv.len() % 2 != 0 {
        return out.error(&error::wrong_args("config|set"));
    }
    let pairs: Vec<(String, String)> = ctx.argv[2..]
        .chunks(2)
        .map(|c| {
            (
                String::from_utf8_lossy(&c[0]).into_owned(),
                String::from_utf8_lossy(&c[1]).into_owned(),
            )
        })
        .collect();
    let result = ctx.srv.config.write().set_many(&pairs);
    match result {
        Ok(changed) => {
            // requirepass sets the default user's password even when unchanged.
            if pairs
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("requirepass"))
            {
                let pass = ctx.srv.config.read().get("requirepass").to_string();
                ctx.srv.acl.set_requirepass(pass.as_bytes());
            }
            apply_config_effects(ctx, &changed);
            ctx.srv.config_changed();
            if changed.contains(&"appendonly") {
                // CONFIG SET runs with the keyspace gate held exclusively.
                let on = ctx.srv.config.read().get_bool("appendonly");
                if on {
                    if let Err(e) = crate::persist::aof::enable(ctx.srv) {
                        crate::warning!("Unable to turn on AOF: {e}");
                        let _ = ctx
                            .srv
                            .config
                            .write()
                            .set_many(&[("appendonly".into(), "no".into())]);
                        ctx.srv.config_changed();
                        return out.error("ERR CONFIG SET failed (possibly related to argument 'appendonly') - Unable to turn on AOF. Check server logs.");
                    }
                } else {
                    crate::persist::aof::stop(ctx.srv);
                }
            }
            if changed.contains(&"appendfsync") {
                crate::persist::aof::policy_changed(ctx.srv);
            }
            if changed.contains(&"maxmemory") {
                // As Redis: a lower limit evicts at once (when the policy allows).
                let hot = ctx.srv.hot();
                if hot.maxmemory > 0 {
                    let _ = crate::evict::make_room(
                        ctx.srv,
                        hot.maxmemory,
                        &hot.maxmemory_policy,
                        hot.maxmemory_samples,
                    );
                }
            }
            out.ok()
        }
        Err(e) => out.error(&e),
    }
}

/// Side effects of directives that act outside the hot-value snapshot.
fn apply_config_effects(ctx: &Ctx, changed: &[&str]) {
    let cfg = ctx.srv.config.read();
    for name in changed {
        match *name {
            "loglevel" => crate::log::set_level(cfg.get("loglevel")),
            "acl-pubsub-default" => crate::acl::set_pubsub_default(cfg.get("acl-pubsub-default")),
            "maxmemory"
                if cfg.get_i64("maxmemory") > 0
                    && (crate::memory::used_memory() as i64) > cfg.get_i64("maxmemory") =>
            {
                crate::warning!("WARNING: the new maxmemory value set via CONFIG SET ({}) is smaller than the current memory usage ({}). This will result in key eviction and/or the inability to accept new write commands depending on the maxmemory-policy.", cfg.get("maxmemory"), crate::memory::used_memory());
            }
            _ => {}
        }
    }
}

pub fn config_resetstat(ctx: &mut Ctx, out: &mut Out) {
    ctx.srv.stats.reset();
    ctx.srv.slowlog.lock().entries.clear();
    for cmd in super::all_with_subcommands() {
        cmd.stats.reset();
    }
    crate::memory::reset_peak();
    crate::lazyfree::reset_stats();
    out.ok()
}

pub fn config_rewrite(ctx: &mut Ctx, out: &mut Out) {
    match ctx.srv.config.read().rewrite() {
        Ok(()) => {
            crate::notice!("CONFIG REWRITE executed with success.");
            out.ok()
        }
        Err(e) => out.error(&e),
    }
}

pub fn config_help(_ctx: &mut Ctx, out: &mut Out) {
    help_reply(
        out,
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    )
}

/// Approximate bytes a key and its value occupy, like MEMORY USAGE.
fn entry_usage(key: &[u8], v: &Value) -> usize {
    const ENTRY_BYTES: usize = 64;
    let key_heap = if key.len() > 22 { key.len() } else { 0 };
    let value_heap = match v {
        Value::Str(s) => match s {
            crate::keyspace::StrVal::Int(_) | crate::keyspace::StrVal::Inline { .. } => 0,
            crate::keyspace::StrVal::Heap(b) => b.len(),
            crate::keyspace::StrVal::Raw(v) => v.capacity() + 24,
        },
        Value::List(l) => {
            l.items
                .iter()
                .map(|i| 24 + heap_len(i.as_bytes()))
                .sum::<usize>()
                + 32
        }
        Value::Hash(h) => {
            let mut n = 48;
            h.for_each(|k, x| n += 48 + heap_len(k) + heap_len(x));
            n
        }
        Value::Set(s) => {
            let mut n = 48;
            s.for_each(|m| n += 32 + if m.len() > 22 { m.len() } else { 0 });
            n
        }
        Value::ZSet(z) => {
            let mut n = 64;
            z.for_each_ordered(|_, m| n += 64 + if m.len() > 22 { m.len() } else { 0 });
            n
        }
        Value::Stream(s) => s.heap_bytes(),
    };
    ENTRY_BYTES + key_heap + value_heap
}

fn heap_len(e: &[u8]) -> usize {
    if e.len() > 22 {
        e.len()
    } else {
        0
    }
}

pub fn memory_usage(ctx: &mut Ctx, out: &mut Out) {
    if ctx.argv.len() != 3 && !(ctx.argv.len() == 5 && ctx.arg_is(3, "SAMPLES")) {
        return out.error(error::SYNTAX);
    }
    if ctx.argv.len() == 5 && crate::util::parse_i64(ctx.arg(4)).is_none_or(|n| n < 0) {
        return out.error(error::NOT_INTEGER);
    }
    let key = ctx.arg(2);
    let mut g = ctx.db().lock_key(key);
    match g.get_mut(key, ctx.now_ms) {
        Some(e) => out.int(entry_usage(key, &e.value) as i64),
        None => out.null(),
    }
}

pub fn memory_stats(ctx: &mut Ctx, out: &mut Out) {
    let m = crate::memory::stats();
    let keys: u64 = ctx.srv.keyspace.dbs().map(|(_, d)| d.len()).sum();
    let dataset = m.allocated.saturating_sub(m.startup);
    let fields: Vec<(&str, u64)> = vec![
        ("peak.allocated", m.peak),
        ("total.allocated", m.allocated),
        ("startup.allocated", m.startup),
        ("replication.backlog", 0),
        ("clients.slaves", 0),
        ("clients.normal", 0),
        ("cluster.links", 0),
        ("aof.buffer", 0),
        ("lua.caches", 0),
        ("functions.caches", 0),
        ("overhead.total", m.startup),
        ("keys.count", keys),
        (
            "keys.bytes-per-key",
            if keys > 0 { dataset / keys } else { 0 },
        ),
        ("dataset.bytes", dataset),
    ];
    out.map(fields.len() + 3);
    for (k, v) in fields {
        out.bulk(k.as_bytes());
        out.int(v as i64);
    }
    out.bulk(b"dataset.percentage");
    out.double(dataset as f64 * 100.0 / m.allocated.max(1) as f64);
    out.bulk(b"allocator.resident");
    out.int(m.resident as i64);
    out.bulk(b"rss-overhead.bytes");
    out.int(m.rss as i64 - m.resident as i64);
}

pub fn memory_doctor(_ctx: &mut Ctx, out: &mut Out) {
    out.verbatim(b"Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.")
}

pub fn memory_malloc_stats(_ctx: &mut Ctx, out: &mut Out) {
    let m = crate::memory::stats();
    let text = format!(
        "jemalloc stats: allocated={} active={} resident={}\n",
        m.allocated, m.active, m.resident
    );
    out.verbatim(text.as_bytes())
}

pub fn memory_purge(_ctx: &mut Ctx, out: &mut Out) {
    out.ok()
}

pub fn memory_help(_ctx: &mut Ctx, out: &mut Out) {
    help_reply(
        out,
        "MEMORY",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    )
}

pub fn slowlog_get(ctx: &mut Ctx, out: &mut Out) {
    let count = if ctx.argv.len() == 3 {
        match crate::util::parse_i64(ctx.arg(2)) {
            Some(n) if n >= -1 => n,
            _ => return out.error("ERR count should be greater than or equal to -1"),
        }
    } else if ctx.argv.len() > 3 {
        return out.error(&error::wrong_args("slowlog|get"));
    } else {
        10
    };
    let log = ctx.srv.slowlog.lock();
    let n = if count == -1 {
        log.entries.len()
    } else {
        (count as usize).min(log.entries.len())
    };
    out.array(n);
    for e in log.entries.iter().take(n) {
        out.array(6);
        out.int(e.id as i64);
        out.int(e.time_s as i64);
        out.int(e.duration_us as i64);
        out.array(e.argv.len());
        for a in &e.argv {
            out.bulk(a);
        }
        out.bulk(e.peer.as_bytes());
        out.bulk(e.name.as_bytes());
    }
}

pub fn slowlog_len(ctx: &mut Ctx, out: &mut Out) {
    out.int(ctx.srv.slowlog.lock().entries.len() as i64)
}

pub fn slowlog_reset(ctx: &mut Ctx, out: &mut Out) {
    ctx.srv.slowlog.lock().entries.clear();
    out.ok()
}

pub fn slowlog_help(_ctx: &mut Ctx, out: &mut Out) {
    help_reply(
        out,
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    )
}

pub fn latency_latest(ctx: &mut Ctx, out: &mut Out) {
    let lat = ctx.srv.latency.lock();
    out.array(lat.events.len());
    for (name, e) in &lat.events {
        let (ts, ms) = e.samples.back().copied().unwrap_or((0, 0));
        out.array(4);
        out.bulk(name.as_bytes());
        out.int(ts as i64);
        out.int(ms as i64);
        out.int(e.max_ms as i64);
    }
}

pub fn latency_history(ctx: &mut Ctx, out: &mut Out) {
    let lat = ctx.srv.latency.lock();
    let name = ctx.arg_str(2);
    match lat.events.get(&name) {
        None => out.array(0),
        Some(e) => {
            out.array(e.samples.len());
            for (ts, ms) in &e.samples {
                out.array(2);
                out.int(*ts as i64);
                out.int(*ms as i64);
            }
        }
    }
}

pub fn latency_reset(ctx: &mut Ctx, out: &mut Out) {
    let mut lat = ctx.srv.latency.lock();
    if ctx.argv.len() == 2 {
        let n = lat.events.len();
        lat.events.clear();
        return out.int(n as i64);
    }
    let mut n = 0;
    for a in &ctx.argv[2..] {
        if lat
            .events
            .remove(&String::from_utf8_lossy(a).into_owned())
            .is_some()
        {
            n += 1;
        }
    }
    out.int(n)
}

pub fn latency_doctor(ctx: &mut Ctx, out: &mut Out) {
    let lat = ctx.srv.latency.lock();
    let mut text = String::new();
    if lat.events.is_empty() {
        text.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sleep better tonight.\n");
    } else {
        text.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        for (i, (name, e)) in lat.events.iter().enumerate() {
            let avg = if e.samples.is_empty() {
                0
            } else {
                e.samples.iter().map(|s| s.1).sum::<u64>() / e.samples.len() as u64
            };
            text.push_str(&format!(
                "{}. {}: {} latency spikes (average {}ms, mean deviation 0ms, period 0 sec). Worst all time event {}ms.\n",
                i + 1,
                name,
                e.samples.len(),
                avg,
                e.max_ms
            ));
        }
        text.push_str("\nI have a few advices for you:\n\n- Check your system for slow commands (SLOWLOG GET) and reduce their latency.\n");
    }
    out.verbatim(text.as_bytes())
}

pub fn latency_graph(ctx: &mut Ctx, out: &mut Out) {
    let lat = ctx.srv.latency.lock();
    let name = ctx.arg_str(2);
    let Some(e) = lat.events.get(&name) else {
        return out.error(&format!("ERR No samples available for event '{name}'"));
    };
    let max = e.samples.iter().map(|s| s.1).max().unwrap_or(0);
    let min = e.samples.iter().map(|s| s.1).min().unwrap_or(0);
    let mut text = format!(
        "{name} - high {max} ms, low {min} ms (all time high {} ms)\n",
        e.max_ms
    );
    text.push_str(&"-".repeat(80));
    text.push('\n');
    const ROWS: u64 = 4;
    for row in (1..=ROWS).rev() {
        let threshold = max * row / ROWS;
        let line: String = e
            .samples
            .iter()
            .map(|s| {
                if s.1 >= threshold && s.1 > 0 {
                    '#'
                } else {
                    ' '
                }
            })
            .collect();
        text.push_str(line.trim_end());
        text.push('\n');
    }
    out.verbatim(text.as_bytes())
}

/// LATENCY HISTOGRAM [command ...]: per-command call counts and cumulative
/// latency buckets (powers of two, in microseconds).
pub fn latency_histogram(ctx: &mut Ctx, out: &mut Out) {
    let mut wanted: Vec<&'static super::Command> = Vec::new();
    if ctx.argv.len() == 2 {
        wanted = super::all_with_subcommands()
            .into_iter()
            .filter(|c| c.stats.calls() > 0)
            .collect();
    } else {
        for name in &ctx.argv[2..] {
            let text = String::from_utf8_lossy(name).to_ascii_lowercase();
            let found: Vec<&'static super::Command> = match text.split_once('|') {
                Some((p, sub)) => super::lookup(p.as_bytes())
                    .and_then(|c| c.subcommand(sub.as_bytes()))
                    .into_iter()
                    .collect(),
                None => match super::lookup(name) {
                    Some(c) if !c.subcommands.is_empty() => c.subcommands.iter().collect(),
                    Some(c) => vec![c],
                    None => vec![],
                },
            };
            for c in found {
                if c.stats.calls() > 0 && !wanted.iter().any(|w| std::ptr::eq(*w, c)) {
                    wanted.push(c);
                }
            }
        }
    }
    out.map(wanted.len());
    for c in wanted {
        out.bulk(c.name.as_bytes());
        out.map(2);
        out.bulk(b"calls");
        out.int(c.stats.calls() as i64);
        out.bulk(b"histogram_usec");
        let hist = c.stats.cumulative_histogram();
        out.map(hist.len());
        for (bucket, cum) in hist {
            out.int(bucket as i64);
            out.int(cum as i64);
        }
    }
}

pub fn latency_help(_ctx: &mut Ctx, out: &mut Out) {
    help_reply(
        out,
        "LATENCY",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    )
}
