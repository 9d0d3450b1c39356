//! Generic keyspace commands: DEL, EXISTS, TYPE, TOUCH, the EXPIRE and TTL
//! families, PERSIST, RENAME, COPY, MOVE, KEYS, SCAN, RANDOMKEY, SWAPDB and
//! OBJECT.

use super::{help_reply, Ctx};
use crate::error;
use crate::keyspace::{Entry, SlotGuard, Value};
use crate::notify::{notify, notify_in, NOTIFY_GENERIC};
use crate::protocol::Out;
use crate::util::{glob_match, parse_i64};
use rand::Rng;
use shoal_cluster::SLOT_COUNT;

pub fn del(ctx: &mut Ctx, out: &mut Out) {
    let lazy = crate::lazyfree::lazy(&crate::lazyfree::LAZY_USER_DEL);
    delete_keys(ctx, out, lazy)
}

/// UNLINK: DEL whose big values are freed on the lazyfree thread.
pub fn unlink(ctx: &mut Ctx, out: &mut Out) {
    delete_keys(ctx, out, true)
}

fn delete_keys(ctx: &mut Ctx, out: &mut Out, lazy: bool) {
    let db = ctx.db();
    let mut n = 0;
    for key in &ctx.argv[1..] {
        let mut g = db.lock_key(key);
        if g.expire_if_needed(key, ctx.now_ms) {
            continue;
        }
        if let Some(e) = g.remove(key) {
            n += 1;
            drop(g);
            crate::lazyfree::free_value(e.value, lazy);
            notify(ctx, NOTIFY_GENERIC, "del", key);
        }
    }
    ctx.dirty += n as u64;
    out.int(n)
}

pub fn exists(ctx: &mut Ctx, out: &mut Out) {
    let db = ctx.db();
    let mut n = 0;
    for key in &ctx.argv[1..] {
        if db.lock_key(key).contains(key, ctx.now_ms) {
            ctx.hit();
            n += 1;
        } else {
            ctx.miss_key(key);
        }
    }
    out.int(n)
}

pub fn type_(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    match g.get_mut(key, ctx.now_ms) {
        Some(e) => {
            ctx.hit();
            out.simple(e.value.type_name())
        }
        None => {
            ctx.miss_key(key);
            out.simple("none")
        }
    }
}

pub fn touch(ctx: &mut Ctx, out: &mut Out) {
    let db = ctx.db();
    let mut n = 0;
    for key in &ctx.argv[1..] {
        if db.lock_key(key).get(key, ctx.now_ms).is_some() {
            ctx.hit();
            n += 1;
        } else {
            ctx.miss_key(key);
        }
    }
    out.int(n)
}

#[derive(Default)]
struct ExpireFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

fn parse_expire_flags(ctx: &Ctx) -> Result<ExpireFlags, String> {
    let mut f = ExpireFlags::default();
    for i in 3..ctx.argv.len() {
        match ctx.arg(i).to_ascii_uppercase().as_slice() {
            b"NX" => f.nx = true,
            b"XX" => f.xx = true,
            b"GT" => f.gt = true,
            b"LT" => f.lt = true,
            _ => return Err(format!("ERR Unsupported option {}", ctx.arg_str(i))),
        }
    }
    if f.nx && (f.xx || f.gt || f.lt) {
        return Err("ERR NX and XX, GT or LT options at the same time are not compatible".into());
    }
    if f.gt && f.lt {
        return Err("ERR GT and LT options at the same time are not compatible".into());
    }
    Ok(f)
}

/// EXPIRE / PEXPIRE / EXPIREAT / PEXPIREAT.
fn expire_generic(ctx: &mut Ctx, out: &mut Out, unit_ms: i64, absolute: bool) {
    let Some(v) = ctx.arg_i64(2, out) else { return };
    let flags = match parse_expire_flags(ctx) {
        Ok(f) => f,
        Err(e) => return out.error(&e),
    };
    let invalid = format!("ERR invalid expire time in '{}' command", ctx.cmd.name);
    let Some(ms) = v.checked_mul(unit_ms) else {
        return out.error(&invalid);
    };
    let when = if absolute {
        Some(ms)
    } else {
        ms.checked_add(ctx.now_ms as i64)
    };
    let Some(when) = when else {
        return out.error(&invalid);
    };
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let Some(e) = g.get_mut(key, ctx.now_ms) else {
        return out.int(0);
    };
    let current = e.expire_at_ms;
    // No TTL counts as an infinite one for GT/LT.
    let allowed = if flags.nx {
        current == 0
    } else if flags.xx {
        current != 0
            && (!flags.gt || when as u64 > current)
            && (!flags.lt || (when as u64) < current)
    } else if flags.gt {
        current != 0 && when > 0 && when as u64 > current
    } else if flags.lt {
        current == 0 || (when as u64) < current
    } else {
        true
    };
    if !allowed {
        return out.int(0);
    }
    let mut n = itoa::Buffer::new();
    let event = if when <= ctx.now_ms as i64 {
        g.remove(key);
        ctx.propagate_as(&[b"DEL", key]);
        "del"
    } else {
        g.set_expire(key, when as u64);
        ctx.propagate_as(&[b"PEXPIREAT", key, n.format(when).as_bytes()]);
        "expire"
    };
    ctx.dirty += 1;
    out.int(1);
    notify(ctx, NOTIFY_GENERIC, event, key);
}

pub fn expire(ctx: &mut Ctx, out: &mut Out) {
    expire_generic(ctx, out, 1000, false)
}

pub fn pexpire(ctx: &mut Ctx, out: &mut Out) {
    expire_generic(ctx, out, 1, false)
}

pub fn expireat(ctx: &mut Ctx, out: &mut Out) {
    expire_generic(ctx, out, 1000, true)
}

pub fn pexpireat(ctx: &mut Ctx, out: &mut Out) {
    expire_generic(ctx, out, 1, true)
}

/// TTL family: -2 missing, -1 no expiry, otherwise `f(expire_at)`.
fn ttl_generic(ctx: &mut Ctx, out: &mut Out, f: impl Fn(u64, u64) -> i64) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    // TTL and friends do not count as an access (no LRU update), as in Redis.
    match g.get_mut(key, ctx.now_ms) {
        None => {
            ctx.miss_key(key);
            out.int(-2)
        }
        Some(e) => {
            ctx.hit();
            match e.expire_at_ms {
                0 => out.int(-1),
                at => out.int(f(at, ctx.now_ms)),
            }
        }
    }
}

pub fn ttl(ctx: &mut Ctx, out: &mut Out) {
    ttl_generic(ctx, out, |at, now| {
        ((at.saturating_sub(now) + 500) / 1000) as i64
    })
}

pub fn pttl(ctx: &mut Ctx, out: &mut Out) {
    ttl_generic(ctx, out, |at, now| at.saturating_sub(now) as i64)
}

pub fn expiretime(ctx: &mut Ctx, out: &mut Out) {
    // Rounded to the nearest second, as Redis's ttlGenericCommand does.
    ttl_generic(ctx, out, |at, _| ((at + 500) / 1000) as i64)
}

pub fn pexpiretime(ctx: &mut Ctx, out: &mut Out) {
    ttl_generic(ctx, out, |at, _| at as i64)
}

pub fn persist(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    match g.get_mut(key, ctx.now_ms) {
        Some(e) if e.expire_at_ms != 0 => {
            g.set_expire(key, 0);
            ctx.dirty += 1;
            out.int(1);
            notify(ctx, NOTIFY_GENERIC, "persist", key);
        }
        _ => out.int(0),
    }
}

fn rename_generic(ctx: &mut Ctx, out: &mut Out, nx: bool) {
    let (src, dst) = (ctx.arg(1), ctx.arg(2));
    let db = ctx.db();
    let mut guards = db.lock_keys([src, dst].into_iter());
    if !guards.for_key(src).contains(src, ctx.now_ms) {
        return out.error(error::NO_SUCH_KEY);
    }
    if src == dst {
        return if nx { out.int(0) } else { out.ok() };
    }
    if nx && guards.for_key(dst).contains(dst, ctx.now_ms) {
        return out.int(0);
    }
    let entry = guards.for_key(src).remove(src).expect("present");
    // As Redis: an existing destination is deleted, then the key added
    // (so "new" is sent for it either way).
    guards.for_key(dst).remove(dst);
    guards.for_key(dst).insert(dst, entry, false);
    ctx.dirty += 1;
    if nx {
        out.int(1)
    } else {
        out.ok()
    }
    notify(ctx, NOTIFY_GENERIC, "rename_from", src);
    notify(ctx, NOTIFY_GENERIC, "rename_to", dst);
}

pub fn rename(ctx: &mut Ctx, out: &mut Out) {
    rename_generic(ctx, out, false)
}

pub fn renamenx(ctx: &mut Ctx, out: &mut Out) {
    rename_generic(ctx, out, true)
}

/// Parse a database index argument: Redis's errors for junk and range.
fn parse_db_index(ctx: &Ctx, raw: &[u8], out: &mut Out) -> Option<usize> {
    let Some(i) = parse_i64(raw) else {
        out.error(error::NOT_INTEGER);
        return None;
    };
    if i < 0 || i as usize >= ctx.srv.keyspace.db_count() {
        out.error(error::DB_INDEX_RANGE);
        return None;
    }
    Some(i as usize)
}

pub fn copy(ctx: &mut Ctx, out: &mut Out) {
    let (src, dst) = (ctx.arg(1), ctx.arg(2));
    let mut dst_db = ctx.client.db;
    let mut replace = false;
    let mut i = 3;
    while i < ctx.argv.len() {
        if ctx.arg_is(i, "REPLACE") {
            replace = true;
        } else if ctx.arg_is(i, "DB") && i + 1 < ctx.argv.len() {
            if ctx.hot.cluster_enabled {
                return out.error("ERR Copying to another database is not allowed in cluster mode");
            }
            match parse_db_index(ctx, ctx.arg(i + 1), out) {
                Some(d) => dst_db = d,
                None => return,
            }
            i += 1;
        } else {
            return out.error(error::SYNTAX);
        }
        i += 1;
    }
    if src == dst && dst_db == ctx.client.db {
        return out.error("ERR source and destination objects are the same");
    }
    let src_db = ctx.db();
    let target = ctx.srv.keyspace.db(dst_db);
    let now = ctx.now_ms;
    let entry = if dst_db == ctx.client.db {
        let mut guards = src_db.lock_keys([src, dst].into_iter());
        let Some(e) = guards.for_key(src).get_mut(src, now).cloned() else {
            ctx.miss_key(src);
            return out.int(0);
        };
        copy_into(guards.for_key(dst), dst, e, replace, now)
    } else {
        // Different databases: lock in database order, so two COPYs in
        // opposite directions cannot deadlock.
        let (mut gs, mut gd);
        if ctx.client.db < dst_db {
            gs = src_db.lock_key(src);
            gd = target.lock_key(dst);
        } else {
            gd = target.lock_key(dst);
            gs = src_db.lock_key(src);
        }
        let Some(e) = gs.get_mut(src, now).cloned() else {
            ctx.miss_key(src);
            return out.int(0);
        };
        copy_into(&mut gd, dst, e, replace, now)
    };
    if entry {
        ctx.dirty += 1;
        notify_in(ctx, dst_db, NOTIFY_GENERIC, "copy_to", dst);
    }
    out.int(entry as i64)
}

fn copy_into(g: &mut SlotGuard<'_>, dst: &[u8], mut e: Entry, replace: bool, now: u64) -> bool {
    if g.contains(dst, now) {
        if !replace {
            return false;
        }
        g.remove(dst);
    }
    e.lru_s = crate::evict::initial_access();
    g.insert(dst, e, false);
    true
}

pub fn move_(ctx: &mut Ctx, out: &mut Out) {
    if ctx.hot.cluster_enabled {
        return out.error("ERR MOVE is not allowed in cluster mode");
    }
    let Some(dst_db) = parse_db_index(ctx, ctx.arg(2), out) else {
        return;
    };
    if dst_db == ctx.client.db {
        return out.error("ERR source and destination objects are the same");
    }
    let key = ctx.arg(1);
    let now = ctx.now_ms;
    // MOVE runs with the gate exclusive: no other command holds a slot lock.
    let mut gs = ctx.db().lock_key(key);
    if !gs.contains(key, now) {
        return out.int(0);
    }
    let target = ctx.srv.keyspace.db(dst_db);
    let mut gd = target.lock_key(key);
    if gd.contains(key, now) {
        return out.int(0);
    }
    let e = gs.remove(key).expect("present");
    gd.insert(key, e, false);
    ctx.dirty += 1;
    out.int(1);
    notify(ctx, NOTIFY_GENERIC, "move_from", key);
    notify_in(ctx, dst_db, NOTIFY_GENERIC, "move_to", key);
}

pub fn keys(ctx: &mut Ctx, out: &mut Out) {
    let pattern = ctx.arg(1);
    let all = pattern == b"*";
    let db = ctx.db();
    let mut found: Vec<Vec<u8>> = Vec::new();
    for slot in 0..SLOT_COUNT as u16 {
        if let Some(g) = db.lock_existing_slot(slot) {
            for (k, e) in g.iter() {
                if !e.is_expired(ctx.now_ms) && (all || glob_match(pattern, k, false)) {
                    found.push(k.to_vec());
                }
            }
        }
    }
    out.array(found.len());
    for k in &found {
        out.bulk(k);
    }
}

/// SCAN: slot by slot, and inside a slot bucket by bucket with Redis's
/// reverse-binary cursor, so a full iteration returns every key that
/// existed throughout it even when tables grow or shrink meanwhile, and a
/// huge slot (one hash tag) is returned over many calls.
pub fn scan(ctx: &mut Ctx, out: &mut Out) {
    let Some(cursor) = std::str::from_utf8(ctx.arg(1))
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return out.error("ERR invalid cursor");
    };
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    let mut type_filter: Option<String> = None;
    let mut i = 2;
    while i < ctx.argv.len() {
        let has_next = i + 1 < ctx.argv.len();
        if ctx.arg_is(i, "COUNT") && has_next {
            match parse_i64(ctx.arg(i + 1)) {
                Some(n) if n >= 1 => count = n as usize,
                Some(_) => return out.error(error::SYNTAX),
                None => return out.error(error::NOT_INTEGER),
            }
        } else if ctx.arg_is(i, "MATCH") && has_next {
            pattern = Some(ctx.arg(i + 1)).filter(|p| *p != b"*");
        } else if ctx.arg_is(i, "TYPE") && has_next {
            type_filter = Some(ctx.arg_str(i + 1).to_ascii_lowercase());
        } else {
            return out.error(error::SYNTAX);
        }
        i += 2;
    }
    let db = ctx.db();
    let mut cursor = cursor;
    let mut examined = 0;
    let mut found: Vec<Vec<u8>> = Vec::new();
    while examined < count {
        let (slot, inner) = ((cursor & SLOT_MASK) as usize, cursor >> SLOT_BITS);
        if slot >= SLOT_COUNT {
            cursor = 0;
            break;
        }
        let mut next_inner = 0;
        if let Some(mut g) = db.lock_existing_slot(slot as u16) {
            let mut expired = Vec::new();
            next_inner = g.scan_step(inner, |k, e| {
                examined += 1;
                if e.is_expired(ctx.now_ms) {
                    expired.push(k.to_vec());
                } else if pattern.is_none_or(|p| glob_match(p, k, false))
                    && type_filter
                        .as_deref()
                        .is_none_or(|t| t == e.value.type_name())
                {
                    found.push(k.to_vec());
                }
            });
            for k in expired {
                g.expire_if_needed(&k, ctx.now_ms);
            }
        }
        cursor = if next_inner != 0 {
            (next_inner << SLOT_BITS) | slot as u64
        } else if slot + 1 < SLOT_COUNT {
            (slot + 1) as u64
        } else {
            0
        };
        if cursor == 0 {
            break;
        }
    }
    out.array(2);
    out.bulk(cursor.to_string().as_bytes());
    out.array(found.len());
    for k in &found {
        out.bulk(k);
    }
}

/// SCAN cursors: the slot in the low 14 bits, the position inside the
/// slot's table (a reverse-binary bucket cursor) above them.
const SLOT_BITS: u32 = 14;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;

pub fn randomkey(ctx: &mut Ctx, out: &mut Out) {
    let db = ctx.db();
    let mut rng = rand::thread_rng();
    // A few random probes find a key fast in a populated db; a sparse one
    // falls back to listing the non-empty slots.
    for attempt in 0..1000 {
        if db.is_empty() {
            break;
        }
        let slot = if attempt < 64 {
            rng.gen_range(0..SLOT_COUNT) as u16
        } else {
            let nonempty: Vec<u16> = (0..SLOT_COUNT as u16)
                .filter(|s| db.lock_existing_slot(*s).is_some_and(|g| !g.is_empty()))
                .collect();
            if nonempty.is_empty() {
                break;
            }
            nonempty[rng.gen_range(0..nonempty.len())]
        };
        let Some(mut g) = db.lock_existing_slot(slot) else {
            continue;
        };
        if g.is_empty() {
            continue;
        }
        let n = rng.gen_range(0..g.len());
        let (key, expired) = {
            let (k, e) = g.iter().nth(n).expect("index within len");
            (k.to_vec(), e.is_expired(ctx.now_ms))
        };
        if expired {
            // Deleted (and propagated) now, or right after this command.
            g.expire_if_needed(&key, ctx.now_ms);
            continue;
        }
        return out.bulk(&key);
    }
    out.null()
}

pub fn swapdb(ctx: &mut Ctx, out: &mut Out) {
    if ctx.hot.cluster_enabled {
        return out.error("ERR SWAPDB is not allowed in cluster mode");
    }
    let Some(a) = parse_i64(ctx.arg(1)) else {
        return out.error("ERR invalid first DB index");
    };
    let Some(b) = parse_i64(ctx.arg(2)) else {
        return out.error("ERR invalid second DB index");
    };
    let n = ctx.srv.keyspace.db_count() as i64;
    if a < 0 || a >= n || b < 0 || b >= n {
        return out.error(error::DB_INDEX_RANGE);
    }
    if a != b {
        // A watched key changes if it is live on either side of the swap.
        let (a, b) = (a as usize, b as usize);
        let ks = &ctx.srv.keyspace;
        let now = ctx.now_ms;
        let live = |d: usize, k: &[u8]| {
            ks.db(d)
                .lock_key(k)
                .peek(k)
                .is_some_and(|e| !e.is_expired(now))
        };
        ctx.srv
            .watches
            .touch_where(|d, k| (d == a || d == b) && (live(a, k) || live(b, k)));
        ctx.srv.keyspace.swap_dbs(a, b);
        ctx.dirty += 1;
        // Clients blocked on keys that now exist in their database wake up.
        if ctx.srv.blocking.any() {
            for d in [a, b] {
                let keys = ctx.srv.blocking.keys_in_db(d);
                crate::exec::serve_later(d, keys);
            }
        }
    }
    out.ok()
}

/// Run `f` on the entry of OBJECT's key argument, or reply null.
fn with_object(ctx: &mut Ctx, out: &mut Out, f: impl FnOnce(&Entry, &mut Out)) {
    let key = ctx.arg(2);
    let mut g = ctx.db().lock_key(key);
    if g.expire_if_needed(key, ctx.now_ms) {
        return out.null();
    }
    match g.peek(key) {
        Some(e) => f(e, out),
        None => out.null(),
    }
}

pub fn object_encoding(ctx: &mut Ctx, out: &mut Out) {
    with_object(ctx, out, |e, out| out.bulk(e.value.encoding().as_bytes()))
}

/// Integers 0..10000 are shared objects in Redis and report INT_MAX.
const SHARED_INTEGERS: i64 = 10000;
const OBJ_SHARED_REFCOUNT: i64 = i32::MAX as i64;

pub fn object_refcount(ctx: &mut Ctx, out: &mut Out) {
    let policy_uses_lru = ctx
        .srv
        .config
        .read()
        .get("maxmemory-policy")
        .contains("lru")
        || ctx
            .srv
            .config
            .read()
            .get("maxmemory-policy")
            .contains("lfu");
    let maxmemory = ctx.srv.config.read().get_i64("maxmemory");
    with_object(ctx, out, |e, out| {
        let shared = matches!(&e.value, Value::Str(crate::keyspace::StrVal::Int(i)) if (0..SHARED_INTEGERS).contains(i))
            && !(maxmemory > 0 && policy_uses_lru);
        out.int(if shared { OBJ_SHARED_REFCOUNT } else { 1 })
    })
}

const LFU_POLICY_ERR: &str = "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
const NO_LFU_POLICY_ERR: &str = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";

pub fn object_idletime(ctx: &mut Ctx, out: &mut Out) {
    if ctx
        .srv
        .config
        .read()
        .get("maxmemory-policy")
        .contains("lfu")
    {
        return out.error(LFU_POLICY_ERR);
    }
    let now = crate::keyspace::lru_clock();
    with_object(ctx, out, |e, out| {
        out.int(now.saturating_sub(e.lru_s) as i64)
    })
}

pub fn object_freq(ctx: &mut Ctx, out: &mut Out) {
    if !ctx
        .srv
        .config
        .read()
        .get("maxmemory-policy")
        .contains("lfu")
    {
        return out.error(NO_LFU_POLICY_ERR);
    }
    with_object(ctx, out, |e, out| {
        out.int(crate::evict::lfu_decayed(e.lru_s) as i64)
    })
}

pub fn object_help(_ctx: &mut Ctx, out: &mut Out) {
    help_reply(
        out,
        "OBJECT",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    )
}
