//! Set commands: SADD/SREM and membership, random picks (SRANDMEMBER,
//! SPOP), SMOVE, the SINTER/SUNION/SDIFF families and SSCAN.

use super::hash::{empty_scan, parse_scan_opts, sample_distinct};
use super::table::{c, c_with_keys};
use super::{Command, Ctx, KeySpec};
use crate::error;
use crate::keyspace::{Entry, MultiGuard, SlotGuard, Value};
use crate::notify::{notify, NOTIFY_GENERIC, NOTIFY_SET};
use crate::protocol::Out;
use crate::types::{Elem, SetValue};
use crate::util::parse_i64;
use bytes::Bytes;
use rand::Rng;

const COUNT_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
const NUMKEYS: &str = "ERR numkeys should be greater than 0";
const TOO_MANY_KEYS: &str = "ERR Number of keys can't be greater than number of args";
const LIMIT_NEGATIVE: &str = "ERR LIMIT can't be negative";

/// This family's entries in the command table.
pub fn commands() -> Vec<Command> {
    let k = (1, 1, 1);
    let all = (1, -1, 1);
    let store = (1, -1, 1);
    let cmds = vec![
        c(
            "sadd",
            -3,
            "write denyoom fast @set",
            k,
            "set",
            "1.0.0",
            "Add one or more members to a set",
            sadd,
        ),
        c(
            "srem",
            -3,
            "write fast @set",
            k,
            "set",
            "1.0.0",
            "Remove one or more members from a set",
            srem,
        ),
        c(
            "scard",
            2,
            "readonly fast @set",
            k,
            "set",
            "1.0.0",
            "Get the number of members in a set",
            scard,
        ),
        c(
            "sismember",
            3,
            "readonly fast @set",
            k,
            "set",
            "1.0.0",
            "Determine if a given value is a member of a set",
            sismember,
        ),
        c(
            "smismember",
            -3,
            "readonly fast @set",
            k,
            "set",
            "6.2.0",
            "Returns the membership associated with the given elements for a set",
            smismember,
        ),
        c(
            "smembers",
            2,
            "readonly @set",
            k,
            "set",
            "1.0.0",
            "Get all the members in a set",
            smembers,
        ),
        c(
            "srandmember",
            -2,
            "readonly @set",
            k,
            "set",
            "1.0.0",
            "Get one or multiple random members from a set",
            srandmember,
        ),
        c(
            "spop",
            -2,
            "write fast @set",
            k,
            "set",
            "1.0.0",
            "Remove and return one or multiple random members from a set",
            spop,
        ),
        c(
            "smove",
            4,
            "write fast @set",
            (1, 2, 1),
            "set",
            "1.0.0",
            "Move a member from one set to another",
            smove,
        ),
        c(
            "sinter",
            -2,
            "readonly @set",
            all,
            "set",
            "1.0.0",
            "Intersect multiple sets",
            sinter,
        ),
        c_with_keys(
            "sintercard",
            -3,
            "readonly @set",
            KeySpec::Keynum {
                extra_first: 0,
                numkeys_at: 1,
                first_offset: 1,
                step: 1,
            },
            "set",
            "7.0.0",
            "Intersect multiple sets and return the cardinality of the result",
            sintercard,
        ),
        c(
            "sinterstore",
            -3,
            "write denyoom @set",
            store,
            "set",
            "1.0.0",
            "Intersect multiple sets and store the resulting set in a key",
            sinterstore,
        ),
        c(
            "sunion",
            -2,
            "readonly @set",
            all,
            "set",
            "1.0.0",
            "Add multiple sets",
            sunion,
        ),
        c(
            "sunionstore",
            -3,
            "write denyoom @set",
            store,
            "set",
            "1.0.0",
            "Add multiple sets and store the resulting set in a key",
            sunionstore,
        ),
        c(
            "sdiff",
            -2,
            "readonly @set",
            all,
            "set",
            "1.0.0",
            "Subtract multiple sets",
            sdiff,
        ),
        c(
            "sdiffstore",
            -3,
            "write denyoom @set",
            store,
            "set",
            "1.0.0",
            "Subtract multiple sets and store the resulting set in a key",
            sdiffstore,
        ),
        c(
            "sscan",
            -3,
            "readonly @set",
            k,
            "set",
            "2.8.0",
            "Incrementally iterate Set elements",
            sscan,
        ),
    ];
    with_complexity(cmds)
}

/// Redis 7.0's documented complexity of each command (COMMAND DOCS).
fn with_complexity(mut cmds: Vec<Command>) -> Vec<Command> {
    const COMPLEXITY: &[(&str, &str)] = &[
        ("sadd", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments."),
        ("srem", "O(N) where N is the number of members to be removed."),
        ("scard", "O(1)"),
        ("sismember", "O(1)"),
        ("smismember", "O(N) where N is the number of elements being checked for membership"),
        ("smembers", "O(N) where N is the set cardinality."),
        ("srandmember", "Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count."),
        ("spop", "Without the count argument O(1), otherwise O(N) where N is the value of the passed count."),
        ("smove", "O(1)"),
        ("sinter", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets."),
        ("sintercard", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets."),
        ("sinterstore", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets."),
        ("sunion", "O(N) where N is the total number of elements in all given sets."),
        ("sunionstore", "O(N) where N is the total number of elements in all given sets."),
        ("sdiff", "O(N) where N is the total number of elements in all given sets."),
        ("sdiffstore", "O(N) where N is the total number of elements in all given sets."),
        ("sscan", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.."),
    ];
    for cmd in &mut cmds {
        if let Some((_, text)) = COMPLEXITY.iter().find(|(n, _)| *n == cmd.name) {
            cmd.complexity = text;
        }
    }
    cmds
}

/// A read lookup (counts a keyspace hit or miss). `Err` is a wrong type.
fn read<'e>(ctx: &Ctx, g: &'e mut SlotGuard<'_>, key: &[u8]) -> Result<Option<&'e SetValue>, ()> {
    match g.get(key, ctx.now_ms) {
        None => {
            ctx.miss_key(key);
            Ok(None)
        }
        Some(e) => {
            ctx.hit();
            match &e.value {
                Value::Set(s) => Ok(Some(s)),
                _ => Err(()),
            }
        }
    }
}

/// A write lookup. `Err` is a wrong type.
fn write<'e>(
    g: &'e mut SlotGuard<'_>,
    key: &[u8],
    now: u64,
) -> Result<Option<&'e mut SetValue>, ()> {
    match g.get_mut(key, now) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::Set(s) => Ok(Some(s)),
            _ => Err(()),
        },
    }
}

fn bulk_member(out: &mut Out, s: &SetValue, i: usize) {
    s.with_member_at(i, |m| out.bulk(m))
}

pub fn sadd(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let now = ctx.now_ms;
    let max = ctx.hot.set_max_intset_entries;
    let mut g = ctx.db().lock_key(key);
    let (e, _) = g.get_or_insert_with(key, now, || {
        Entry::new(Value::Set(Box::new(SetValue::new_for(ctx.arg(2)))))
    });
    let Value::Set(s) = &mut e.value else {
        return out.error(error::WRONGTYPE);
    };
    let mut added = 0;
    for m in &ctx.argv[2..] {
        added += s.add(m, max) as u64;
    }
    ctx.dirty += added;
    out.int(added as i64);
    if added > 0 {
        notify(ctx, NOTIFY_SET, "sadd", key);
    }
}

pub fn srem(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let s = match write(&mut g, key, ctx.now_ms) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(None) => return out.int(0),
        Ok(Some(s)) => s,
    };
    let mut deleted = 0;
    for m in &ctx.argv[2..] {
        if s.remove(m) {
            deleted += 1;
            if s.is_empty() {
                break;
            }
        }
    }
    let empty = s.is_empty();
    if empty {
        g.remove(key);
    }
    ctx.dirty += deleted;
    out.int(deleted as i64);
    if deleted > 0 {
        notify(ctx, NOTIFY_SET, "srem", key);
        if empty {
            notify(ctx, NOTIFY_GENERIC, "del", key);
        }
    }
}

pub fn scard(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    match read(ctx, &mut g, key) {
        Err(()) => out.error(error::WRONGTYPE),
        Ok(s) => out.int(s.map_or(0, |s| s.len() as i64)),
    }
}

pub fn sismember(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    match read(ctx, &mut g, key) {
        Err(()) => out.error(error::WRONGTYPE),
        Ok(s) => out.int(s.is_some_and(|s| s.contains(ctx.arg(2))) as i64),
    }
}

pub fn smismember(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let Ok(s) = read(ctx, &mut g, key) else {
        return out.error(error::WRONGTYPE);
    };
    let members = &ctx.argv[2..];
    out.array(members.len());
    for m in members {
        out.int(s.is_some_and(|s| s.contains(m)) as i64);
    }
}

pub fn smembers(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    match read(ctx, &mut g, key) {
        Err(()) => out.error(error::WRONGTYPE),
        Ok(None) => out.set(0),
        Ok(Some(s)) => {
            out.set(s.len());
            s.for_each(|m| out.bulk(m));
        }
    }
}

pub fn srandmember(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let argc = ctx.argv.len();
    if argc > 3 {
        return out.error(error::SYNTAX);
    }
    if argc == 2 {
        let mut g = ctx.db().lock_key(key);
        return match read(ctx, &mut g, key) {
            Err(()) => out.error(error::WRONGTYPE),
            Ok(None) => out.null(),
            Ok(Some(s)) => bulk_member(out, s, rand::thread_rng().gen_range(0..s.len())),
        };
    }
    let Some(l) = parse_i64(ctx.arg(2)) else {
        return out.error(error::NOT_INTEGER);
    };
    if l == i64::MIN {
        return out.error(COUNT_RANGE);
    }
    let mut g = ctx.db().lock_key(key);
    let s = match read(ctx, &mut g, key) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(None) => return out.array(0),
        Ok(Some(s)) => s,
    };
    let count = l.unsigned_abs() as usize;
    let size = s.len();
    if count == 0 {
        return out.array(0);
    }
    if l < 0 || count == 1 {
        out.array(count);
        let mut rng = rand::thread_rng();
        for _ in 0..count {
            bulk_member(out, s, rng.gen_range(0..size));
        }
    } else if count >= size {
        out.array(size);
        s.for_each(|m| out.bulk(m));
    } else {
        out.array(count);
        sample_distinct(size, count)
            .into_iter()
            .for_each(|i| bulk_member(out, s, i));
    }
}

pub fn spop(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let argc = ctx.argv.len();
    if argc > 3 {
        return out.error(error::SYNTAX);
    }
    let count = if argc == 3 {
        match parse_i64(ctx.arg(2)) {
            Some(n) if n >= 0 => Some(n as u64),
            _ => return out.error(error::OUT_OF_RANGE),
        }
    } else {
        None
    };
    let mut g = ctx.db().lock_key(key);
    let s = match write(&mut g, key, ctx.now_ms) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(None) if count.is_some() => return out.set(0),
        Ok(None) => return out.null(),
        Ok(Some(s)) => s,
    };
    let size = s.len();
    match count {
        None => {
            let i = rand::thread_rng().gen_range(0..size);
            bulk_member(out, s, i);
            // The pick is random: propagate which member went.
            let member = s.with_member_at(i, Bytes::copy_from_slice);
            ctx.propagate = Some(vec![
                Bytes::from_static(b"SREM"),
                Bytes::copy_from_slice(key),
                member,
            ]);
            s.remove_at(i);
            ctx.dirty += 1;
        }
        Some(0) => return out.set(0),
        Some(n) if n as usize >= size => {
            out.set(size);
            s.for_each(|m| out.bulk(m));
            g.remove(key);
            ctx.dirty += size as u64;
            ctx.propagate_as(&[b"DEL", key]);
            notify(ctx, NOTIFY_SET, "spop", key);
            notify(ctx, NOTIFY_GENERIC, "del", key);
            return;
        }
        Some(n) => {
            let picked: Vec<Elem> = sample_distinct(size, n as usize)
                .into_iter()
                .map(|i| s.with_member_at(i, |m| Elem::from(m)))
                .collect();
            out.set(picked.len());
            let mut srem = Vec::with_capacity(picked.len() + 2);
            srem.push(Bytes::from_static(b"SREM"));
            srem.push(Bytes::copy_from_slice(key));
            for m in &picked {
                out.bulk(m);
                s.remove(m);
                srem.push(Bytes::copy_from_slice(m));
            }
            ctx.propagate = Some(srem);
            ctx.dirty += n;
            // When few members remain Redis builds a new set from them, so
            // a hashtable of integers comes back as an intset.
            let remaining = size - n as usize;
            if remaining * 5 <= n as usize && matches!(s, SetValue::Table(_)) {
                let members = s.members();
                let mut fresh = SetValue::new_for(&members[0]);
                members.iter().for_each(|m| {
                    fresh.add(m, ctx.hot.set_max_intset_entries);
                });
                *s = fresh;
            }
        }
    }
    let empty = s.is_empty();
    if empty {
        g.remove(key);
    }
    notify(ctx, NOTIFY_SET, "spop", key);
    if empty {
        notify(ctx, NOTIFY_GENERIC, "del", key);
    }
}

pub fn smove(ctx: &mut Ctx, out: &mut Out) {
    let (src, dst, member) = (ctx.arg(1), ctx.arg(2), ctx.arg(3));
    let now = ctx.now_ms;
    let max = ctx.hot.set_max_intset_entries;
    let mut gs = ctx.db().lock_keys([src, dst].into_iter());
    let src_kind = gs
        .for_key(src)
        .get_mut(src, now)
        .map(|e| matches!(e.value, Value::Set(_)));
    let dst_kind = gs
        .for_key(dst)
        .get_mut(dst, now)
        .map(|e| matches!(e.value, Value::Set(_)));
    match (src_kind, dst_kind) {
        (None, _) => return out.int(0),
        (Some(false), _) | (_, Some(false)) => return out.error(error::WRONGTYPE),
        _ => {}
    }
    if src == dst {
        let Ok(Some(s)) = write(gs.for_key(src), src, now) else {
            unreachable!("checked")
        };
        return out.int(s.contains(member) as i64);
    }
    {
        let g = gs.for_key(src);
        let Ok(Some(s)) = write(g, src, now) else {
            unreachable!("checked")
        };
        if !s.remove(member) {
            return out.int(0);
        }
        let empty = s.is_empty();
        if empty {
            g.remove(src);
        }
        notify(ctx, NOTIFY_SET, "srem", src);
        if empty {
            notify(ctx, NOTIFY_GENERIC, "del", src);
        }
    }
    ctx.dirty += 1;
    let g = gs.for_key(dst);
    if dst_kind.is_none() {
        g.insert(
            dst,
            Entry::new(Value::Set(Box::new(SetValue::new_for(member)))),
            false,
        );
    }
    let Ok(Some(d)) = write(g, dst, now) else {
        unreachable!("ensured")
    };
    let added = d.add(member, max);
    if added {
        ctx.dirty += 1;
    }
    // The destination changed only if the member was new there.
    ctx.modified = Some(if added {
        vec![ctx.argv[1].clone(), ctx.argv[2].clone()]
    } else {
        vec![ctx.argv[1].clone()]
    });
    out.int(1);
    if added {
        notify(ctx, NOTIFY_SET, "sadd", dst);
    }
}

/// Replace `dst` with `result` (or delete it when empty), replying with
/// the new size, as the *STORE commands do.
fn store_result(
    ctx: &mut Ctx,
    out: &mut Out,
    gs: &mut MultiGuard<'_>,
    dst: &[u8],
    result: SetValue,
) {
    // Only the destination changes (WATCH, blocked clients).
    ctx.modified = Some(vec![ctx.argv[1].clone()]);
    let g = gs.for_key(dst);
    let n = result.len();
    let event = if n > 0 {
        g.insert(dst, Entry::new(Value::Set(Box::new(result))), false);
        ctx.dirty += 1;
        Some((NOTIFY_SET, &ctx.cmd.name[..]))
    } else if g.remove(dst).is_some() {
        ctx.dirty += 1;
        Some((NOTIFY_GENERIC, "del"))
    } else {
        None
    };
    out.int(n as i64);
    if let Some((class, event)) = event {
        notify(ctx, class, event, dst);
    }
}

fn set_of<'g>(gs: &'g mut MultiGuard<'_>, key: &[u8]) -> &'g SetValue {
    match gs.for_key(key).peek(key).map(|e| &e.value) {
        Some(Value::Set(s)) => s,
        _ => unreachable!("checked to be a set"),
    }
}

enum InterMode<'a> {
    Reply,
    Card(usize),
    Store(&'a [u8]),
}

fn inter(ctx: &mut Ctx, out: &mut Out, keys: &[Bytes], mode: InterMode<'_>) {
    let dst = match mode {
        InterMode::Store(d) => Some(d),
        _ => None,
    };
    let db = ctx.db();
    let mut gs = db.lock_keys(keys.iter().map(|k| &k[..]).chain(dst));
    let mut sizes = Vec::with_capacity(keys.len());
    for k in keys {
        match read(ctx, gs.for_key(k), k) {
            Err(()) => return out.error(error::WRONGTYPE),
            Ok(s) => sizes.push(s.map(|s| s.len())),
        }
    }
    let mut result: Vec<Elem> = Vec::new();
    if sizes.iter().all(Option::is_some) {
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by_key(|&i| sizes[i]);
        let first = &keys[order[0]][..];
        result = set_of(&mut gs, first).members();
        for &i in &order[1..] {
            let k = &keys[i][..];
            if k == first || result.is_empty() {
                continue;
            }
            let s = set_of(&mut gs, k);
            result.retain(|m| s.contains(m));
        }
    }
    match mode {
        InterMode::Reply => {
            out.set(result.len());
            result.iter().for_each(|m| out.bulk(m));
        }
        InterMode::Card(limit) => {
            let n = if limit > 0 {
                result.len().min(limit)
            } else {
                result.len()
            };
            out.int(n as i64)
        }
        InterMode::Store(dst) => {
            let mut set = SetValue::Ints(Vec::new());
            let max = ctx.hot.set_max_intset_entries;
            result.iter().for_each(|m| {
                set.add(m, max);
            });
            store_result(ctx, out, &mut gs, dst, set)
        }
    }
}

pub fn sinter(ctx: &mut Ctx, out: &mut Out) {
    inter(ctx, out, &ctx.argv[1..], InterMode::Reply)
}

pub fn sinterstore(ctx: &mut Ctx, out: &mut Out) {
    inter(ctx, out, &ctx.argv[2..], InterMode::Store(ctx.arg(1)))
}

pub fn sintercard(ctx: &mut Ctx, out: &mut Out) {
    let numkeys = match parse_i64(ctx.arg(1)) {
        Some(n) if n >= 1 => n as usize,
        _ => return out.error(NUMKEYS),
    };
    let argc = ctx.argv.len();
    if numkeys > argc - 2 {
        return out.error(TOO_MANY_KEYS);
    }
    let mut limit = 0usize;
    let mut i = 2 + numkeys;
    while i < argc {
        if ctx.arg_is(i, "limit") && i + 1 < argc {
            match parse_i64(ctx.arg(i + 1)) {
                Some(n) if n >= 0 => limit = n as usize,
                _ => return out.error(LIMIT_NEGATIVE),
            }
            i += 2;
        } else {
            return out.error(error::SYNTAX);
        }
    }
    inter(ctx, out, &ctx.argv[2..2 + numkeys], InterMode::Card(limit))
}

fn union_diff(ctx: &mut Ctx, out: &mut Out, keys: &[Bytes], dst: Option<&[u8]>, diff: bool) {
    let db = ctx.db();
    let max = ctx.hot.set_max_intset_entries;
    let mut gs = db.lock_keys(keys.iter().map(|k| &k[..]).chain(dst));
    let mut sizes = Vec::with_capacity(keys.len());
    for k in keys {
        match read(ctx, gs.for_key(k), k) {
            Err(()) => return out.error(error::WRONGTYPE),
            Ok(s) => sizes.push(s.map(|s| s.len())),
        }
    }
    let mut result = SetValue::Ints(Vec::new());
    if !diff {
        for (k, size) in keys.iter().zip(&sizes) {
            if size.is_some() {
                set_of(&mut gs, k).for_each(|m| {
                    result.add(m, max);
                });
            }
        }
    } else if sizes[0].is_some()
        && !keys[1..]
            .iter()
            .zip(&sizes[1..])
            .any(|(k, s)| s.is_some() && *k == keys[0])
    {
        // Redis's choice between its two algorithms decides whether the
        // result passes through a large (hashtable) stage, so make the same
        // choice to end with the same encoding.
        let first_len = sizes[0].unwrap_or(0);
        let present = sizes.iter().flatten();
        let one_work = present.clone().count() * first_len / 2;
        let two_work: usize = present.sum();
        if one_work <= two_work {
            // Keep the members of the first set found in no other set.
            let mut keep = set_of(&mut gs, &keys[0]).members();
            for (k, size) in keys[1..].iter().zip(&sizes[1..]) {
                if size.is_some() && !keep.is_empty() {
                    let s = set_of(&mut gs, k);
                    keep.retain(|m| !s.contains(m));
                }
            }
            keep.iter().for_each(|m| {
                result.add(m, max);
            });
        } else {
            // Copy the first set, then remove every other set's members.
            set_of(&mut gs, &keys[0]).for_each(|m| {
                result.add(m, max);
            });
            for (k, size) in keys[1..].iter().zip(&sizes[1..]) {
                if size.is_none() {
                    continue;
                }
                if result.is_empty() {
                    break;
                }
                set_of(&mut gs, k).for_each(|m| {
                    result.remove(m);
                });
            }
        }
    }
    match dst {
        Some(dst) => store_result(ctx, out, &mut gs, dst, result),
        None => {
            out.set(result.len());
            result.for_each(|m| out.bulk(m));
        }
    }
}

pub fn sunion(ctx: &mut Ctx, out: &mut Out) {
    union_diff(ctx, out, &ctx.argv[1..], None, false)
}

pub fn sunionstore(ctx: &mut Ctx, out: &mut Out) {
    union_diff(ctx, out, &ctx.argv[2..], Some(ctx.arg(1)), false)
}

pub fn sdiff(ctx: &mut Ctx, out: &mut Out) {
    union_diff(ctx, out, &ctx.argv[1..], None, true)
}

pub fn sdiffstore(ctx: &mut Ctx, out: &mut Out) {
    union_diff(ctx, out, &ctx.argv[2..], Some(ctx.arg(1)), true)
}

pub fn sscan(ctx: &mut Ctx, out: &mut Out) {
    let Some(mut cursor) = crate::util::parse_scan_cursor(ctx.arg(2)) else {
        return out.error("ERR invalid cursor");
    };
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let s = match read(ctx, &mut g, key) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(None) => return empty_scan(out),
        Ok(Some(s)) => s,
    };
    let opts = match parse_scan_opts(ctx.argv, 3) {
        Ok(o) => o,
        Err(e) => return out.error(e),
    };
    let mut found: Vec<Elem> = Vec::new();
    match s {
        SetValue::Ints(_) => {
            s.for_each(|m| found.push(Elem::from(m)));
            cursor = 0;
        }
        SetValue::Table(t) => {
            let mut budget = opts.count.saturating_mul(10);
            loop {
                cursor = t.scan_step(cursor, |m| found.push(m.clone()));
                budget -= 1;
                if cursor == 0 || budget == 0 || found.len() >= opts.count {
                    break;
                }
            }
        }
    }
    found.retain(|m| opts.matches(m));
    out.array(2);
    out.bulk(itoa::Buffer::new().format(cursor).as_bytes());
    out.array(found.len());
    for m in &found {
        out.bulk(m);
    }
}
