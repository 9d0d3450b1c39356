//! List commands: pushes and pops at both ends, indexed access, ranges,
//! trimming, removal and insertion by value, LPOS, and the moves between
//! lists (LMOVE, RPOPLPUSH, LMPOP). The blocking variants are elsewhere.

use super::table::{c, c_with_keys};
use super::{Command, Ctx, KeySpec};
use crate::error;
use crate::keyspace::{Entry, SlotGuard, Value};
use crate::notify::{notify, NOTIFY_GENERIC, NOTIFY_LIST};
use crate::protocol::Out;
use crate::types::list::{End, ListValue};
use crate::util::parse_i64;

const RANK_ZERO: &str =
    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list";
const COUNT_NEGATIVE: &str = "ERR COUNT can't be negative";
const MAXLEN_NEGATIVE: &str = "ERR MAXLEN can't be negative";
const NUMKEYS_POSITIVE: &str = "ERR numkeys should be greater than 0";
const COUNT_POSITIVE: &str = "ERR count should be greater than 0";

/// This family's entries in the command table.
pub fn commands() -> Vec<Command> {
    let one = (1, 1, 1);
    let two = (1, 2, 1);
    vec![
        c(
            "lpush",
            -3,
            "write denyoom fast @list",
            one,
            "list",
            "1.0.0",
            "Prepend one or multiple elements to a list",
            lpush,
        ),
        c(
            "rpush",
            -3,
            "write denyoom fast @list",
            one,
            "list",
            "1.0.0",
            "Append one or multiple elements to a list",
            rpush,
        ),
        c(
            "lpushx",
            -3,
            "write denyoom fast @list",
            one,
            "list",
            "2.2.0",
            "Prepend an element to a list, only if the list exists",
            lpushx,
        ),
        c(
            "rpushx",
            -3,
            "write denyoom fast @list",
            one,
            "list",
            "2.2.0",
            "Append an element to a list, only if the list exists",
            rpushx,
        ),
        c(
            "lpop",
            -2,
            "write fast @list",
            one,
            "list",
            "1.0.0",
            "Remove and get the first elements in a list",
            lpop,
        ),
        c(
            "rpop",
            -2,
            "write fast @list",
            one,
            "list",
            "1.0.0",
            "Remove and get the last elements in a list",
            rpop,
        ),
        c(
            "llen",
            2,
            "readonly fast @list",
            one,
            "list",
            "1.0.0",
            "Get the length of a list",
            llen,
        ),
        c(
            "lindex",
            3,
            "readonly @list",
            one,
            "list",
            "1.0.0",
            "Get an element from a list by its index",
            lindex,
        ),
        c(
            "lset",
            4,
            "write denyoom @list",
            one,
            "list",
            "1.0.0",
            "Set the value of an element in a list by its index",
            lset,
        ),
        c(
            "lrange",
            4,
            "readonly @list",
            one,
            "list",
            "1.0.0",
            "Get a range of elements from a list",
            lrange,
        ),
        c(
            "ltrim",
            4,
            "write @list",
            one,
            "list",
            "1.0.0",
            "Trim a list to the specified range",
            ltrim,
        ),
        c(
            "lrem",
            4,
            "write @list",
            one,
            "list",
            "1.0.0",
            "Remove elements from a list",
            lrem,
        ),
        c(
            "linsert",
            5,
            "write denyoom @list",
            one,
            "list",
            "2.2.0",
            "Insert an element before or after another element in a list",
            linsert,
        ),
        c(
            "lpos",
            -3,
            "readonly @list",
            one,
            "list",
            "6.0.6",
            "Return the index of matching elements on a list",
            lpos,
        ),
        c(
            "lmove",
            5,
            "write denyoom @list",
            two,
            "list",
            "6.2.0",
            "Pop an element from a list, push it to another list and return it",
            lmove,
        ),
        c(
            "rpoplpush",
            3,
            "write denyoom @list",
            two,
            "list",
            "1.2.0",
            "Remove the last element in a list, prepend it to another list and return it",
            rpoplpush,
        ),
        c_with_keys(
            "lmpop",
            -4,
            "write @list",
            KeySpec::Keynum {
                extra_first: 0,
                numkeys_at: 1,
                first_offset: 1,
                step: 1,
            },
            "list",
            "7.0.0",
            "Pop elements from a list",
            lmpop,
        ),
    ]
}

/// The list at `key` for reading: `Ok(None)` if missing, `Err` if another type.
fn read<'e>(
    g: &'e mut SlotGuard<'_>,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<&'e ListValue>, ()> {
    match g.get(key, now_ms) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::List(l) => Ok(Some(l)),
            _ => Err(()),
        },
    }
}

/// The list at `key` for writing: `Ok(None)` if missing, `Err` if another type.
pub(crate) fn write<'e>(
    g: &'e mut SlotGuard<'_>,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<&'e mut ListValue>, ()> {
    match g.get_mut(key, now_ms) {
        None => Ok(None),
        Some(e) => {
            crate::evict::touch(e);
            match &mut e.value {
                Value::List(l) => Ok(Some(l)),
                _ => Err(()),
            }
        }
    }
}

/// Remove `key` if its list became empty (lists are never stored empty).
pub(crate) fn drop_if_empty(g: &mut SlotGuard<'_>, key: &[u8], empty: bool) {
    if empty {
        g.remove(key);
    }
}

/// Elements were popped from `key` at `end`: Redis's "lpop"/"rpop" event,
/// then "del" if the list was removed.
pub(crate) fn notify_popped(ctx: &Ctx, key: &[u8], end: End, deleted: bool) {
    notify(ctx, NOTIFY_LIST, pop_event(end), key);
    if deleted {
        notify(ctx, NOTIFY_GENERIC, "del", key);
    }
}

fn pop_event(end: End) -> &'static str {
    match end {
        End::Left => "lpop",
        End::Right => "rpop",
    }
}

fn push_event(end: End) -> &'static str {
    match end {
        End::Left => "lpush",
        End::Right => "rpush",
    }
}

fn new_list_entry(l: ListValue) -> Entry {
    Entry::new(Value::List(Box::new(l)))
}

fn reply_elems<'a>(out: &mut Out, items: impl ExactSizeIterator<Item = &'a crate::types::Elem>) {
    out.array(items.len());
    for e in items {
        out.bulk(e);
    }
}

// ---- pushes --------------------------------------------------------------

fn push_generic(ctx: &mut Ctx, out: &mut Out, end: End, only_existing: bool) {
    let key = ctx.arg(1);
    let values = &ctx.argv[2..];
    let mut g = ctx.db().lock_key(key);
    let len = match write(&mut g, key, ctx.now_ms) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(None) if only_existing => return out.int(0),
        Ok(None) => {
            let mut l = ListValue::new();
            values.iter().for_each(|v| l.push(end, v));
            let len = l.len();
            g.insert(key, new_list_entry(l), false);
            len
        }
        Ok(Some(l)) => {
            values.iter().for_each(|v| l.push(end, v));
            l.len()
        }
    };
    ctx.dirty += values.len() as u64;
    out.int(len as i64);
    notify(ctx, NOTIFY_LIST, push_event(end), key);
}

pub fn lpush(ctx: &mut Ctx, out: &mut Out) {
    push_generic(ctx, out, End::Left, false)
}

pub fn rpush(ctx: &mut Ctx, out: &mut Out) {
    push_generic(ctx, out, End::Right, false)
}

pub fn lpushx(ctx: &mut Ctx, out: &mut Out) {
    push_generic(ctx, out, End::Left, true)
}

pub fn rpushx(ctx: &mut Ctx, out: &mut Out) {
    push_generic(ctx, out, End::Right, true)
}

// ---- pops ----------------------------------------------------------------

fn pop_generic(ctx: &mut Ctx, out: &mut Out, end: End) {
    if ctx.argv.len() > 3 {
        return out.error(&error::wrong_args(&ctx.cmd.name));
    }
    let count = match ctx.argv.get(2) {
        None => None,
        Some(a) => match parse_i64(a) {
            Some(n) if n >= 0 => Some(n as u64),
            _ => return out.error(error::OUT_OF_RANGE),
        },
    };
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let l = match write(&mut g, key, ctx.now_ms) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(None) => {
            return if count.is_some() {
                out.null_array()
            } else {
                out.null()
            };
        }
        Ok(Some(l)) => l,
    };
    let popped = match count {
        Some(0) => return out.array(0),
        None => {
            let e = l.pop(end).expect("lists are never empty");
            out.bulk(&e);
            1
        }
        Some(n) => {
            let v = l.pop_many(end, n.min(usize::MAX as u64) as usize);
            reply_elems(out, v.iter());
            v.len()
        }
    };
    let empty = l.is_empty();
    drop_if_empty(&mut g, key, empty);
    ctx.dirty += popped as u64;
    notify_popped(ctx, key, end, empty);
}

pub fn lpop(ctx: &mut Ctx, out: &mut Out) {
    pop_generic(ctx, out, End::Left)
}

pub fn rpop(ctx: &mut Ctx, out: &mut Out) {
    pop_generic(ctx, out, End::Right)
}

// ---- reads ---------------------------------------------------------------

pub fn llen(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    match read(&mut g, key, ctx.now_ms) {
        Err(()) => out.error(error::WRONGTYPE),
        Ok(None) => {
            ctx.miss_key(key);
            out.int(0)
        }
        Ok(Some(l)) => {
            ctx.hit();
            out.int(l.len() as i64)
        }
    }
}

pub fn lindex(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let l = match read(&mut g, key, ctx.now_ms) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(None) => {
            ctx.miss_key(key);
            return out.null();
        }
        Ok(Some(l)) => l,
    };
    ctx.hit();
    let Some(index) = ctx.arg_i64(2, out) else {
        return;
    };
    match l.get(index) {
        Some(e) => out.bulk(e),
        None => out.null(),
    }
}

pub fn lrange(ctx: &mut Ctx, out: &mut Out) {
    let Some(start) = ctx.arg_i64(2, out) else {
        return;
    };
    let Some(end) = ctx.arg_i64(3, out) else {
        return;
    };
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let l = match read(&mut g, key, ctx.now_ms) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(None) => {
            ctx.miss_key(key);
            return out.array(0);
        }
        Ok(Some(l)) => l,
    };
    ctx.hit();
    match l.range(start, end) {
        None => out.array(0),
        Some((s, e)) => reply_elems(out, l.items.range(s..=e)),
    }
}

pub fn lpos(ctx: &mut Ctx, out: &mut Out) {
    let mut rank: i64 = 1;
    let mut count: Option<u64> = None;
    let mut maxlen: u64 = 0;
    let mut i = 3;
    while i < ctx.argv.len() {
        let more = i + 1 < ctx.argv.len();
        if ctx.arg_is(i, "RANK") && more {
            i += 1;
            let Some(r) = ctx.arg_i64(i, out) else { return };
            if r == 0 {
                return out.error(RANK_ZERO);
            }
            rank = r;
        } else if ctx.arg_is(i, "COUNT") && more {
            i += 1;
            match parse_i64(ctx.arg(i)) {
                Some(n) if n >= 0 => count = Some(n as u64),
                _ => return out.error(COUNT_NEGATIVE),
            }
        } else if ctx.arg_is(i, "MAXLEN") && more {
            i += 1;
            match parse_i64(ctx.arg(i)) {
                Some(n) if n >= 0 => maxlen = n as u64,
                _ => return out.error(MAXLEN_NEGATIVE),
            }
        } else {
            return out.error(error::SYNTAX);
        }
        i += 1;
    }
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let l = match read(&mut g, key, ctx.now_ms) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(None) => {
            ctx.miss_key(key);
            return if count.is_some() {
                out.array(0)
            } else {
                out.null()
            };
        }
        Ok(Some(l)) => l,
    };
    ctx.hit();
    let clamp = |n: u64| n.min(usize::MAX as u64) as usize;
    match count {
        Some(n) => {
            let found = l.positions(ctx.arg(2), rank, clamp(n), clamp(maxlen));
            out.array(found.len());
            found.iter().for_each(|&p| out.int(p as i64));
        }
        None => match l.positions(ctx.arg(2), rank, 1, clamp(maxlen)).first() {
            Some(&p) => out.int(p as i64),
            None => out.null(),
        },
    }
}

// ---- edits ---------------------------------------------------------------

pub fn lset(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let l = match write(&mut g, key, ctx.now_ms) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(None) => return out.error(error::NO_SUCH_KEY),
        Ok(Some(l)) => l,
    };
    let Some(index) = ctx.arg_i64(2, out) else {
        return;
    };
    if l.set(index, ctx.arg(3)) {
        ctx.dirty += 1;
        out.ok();
        notify(ctx, NOTIFY_LIST, "lset", key);
    } else {
        out.error(error::INDEX_OUT_OF_RANGE)
    }
}

pub fn ltrim(ctx: &mut Ctx, out: &mut Out) {
    let Some(start) = ctx.arg_i64(2, out) else {
        return;
    };
    let Some(end) = ctx.arg_i64(3, out) else {
        return;
    };
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let l = match write(&mut g, key, ctx.now_ms) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(None) => return out.ok(),
        Ok(Some(l)) => l,
    };
    let removed = l.trim(start, end);
    let empty = l.is_empty();
    drop_if_empty(&mut g, key, empty);
    ctx.dirty += removed as u64;
    out.ok();
    notify(ctx, NOTIFY_LIST, "ltrim", key);
    if empty {
        notify(ctx, NOTIFY_GENERIC, "del", key);
    }
}

pub fn lrem(ctx: &mut Ctx, out: &mut Out) {
    let Some(count) = ctx.arg_i64(2, out) else {
        return;
    };
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let l = match write(&mut g, key, ctx.now_ms) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(None) => return out.int(0),
        Ok(Some(l)) => l,
    };
    let removed = l.remove(count, ctx.arg(3));
    let empty = l.is_empty();
    drop_if_empty(&mut g, key, empty);
    ctx.dirty += removed as u64;
    out.int(removed as i64);
    if removed > 0 {
        notify(ctx, NOTIFY_LIST, "lrem", key);
        if empty {
            notify(ctx, NOTIFY_GENERIC, "del", key);
        }
    }
}

pub fn linsert(ctx: &mut Ctx, out: &mut Out) {
    let after = if ctx.arg_is(2, "after") {
        true
    } else if ctx.arg_is(2, "before") {
        false
    } else {
        return out.error(error::SYNTAX);
    };
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let l = match write(&mut g, key, ctx.now_ms) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(None) => return out.int(0),
        Ok(Some(l)) => l,
    };
    if l.insert(ctx.arg(3), ctx.arg(4), after) {
        ctx.dirty += 1;
        out.int(l.len() as i64);
        notify(ctx, NOTIFY_LIST, "linsert", key);
    } else {
        out.int(-1)
    }
}

// ---- moves between lists -------------------------------------------------

fn move_generic(ctx: &mut Ctx, out: &mut Out, from: End, to: End) {
    if !move_elem(ctx, out, from, to) {
        out.null()
    }
}

/// Move one element from argv[1] to argv[2]. Returns false, having written
/// nothing, when the source has no element (the caller answers nil or blocks).
pub(crate) fn move_elem(ctx: &mut Ctx, out: &mut Out, from: End, to: End) -> bool {
    let (src, dst) = (ctx.arg(1), ctx.arg(2));
    let now = ctx.now_ms;
    let mut guards = ctx.db().lock_keys([src, dst].into_iter());
    // Source first: a missing source answers nil whatever the destination.
    match write(guards.for_key(src), src, now) {
        Err(()) => {
            out.error(error::WRONGTYPE);
            return true;
        }
        Ok(None) => return false,
        Ok(Some(l)) if l.is_empty() => return false,
        Ok(Some(_)) => {}
    }
    if write(guards.for_key(dst), dst, now).is_err() {
        out.error(error::WRONGTYPE);
        return true;
    }
    let g = guards.for_key(src);
    let Ok(Some(l)) = write(g, src, now) else {
        unreachable!("source checked above")
    };
    let value = l.pop(from).expect("source is not empty");
    out.bulk(&value);
    let mut deleted = false;
    if src == dst {
        l.push_elem(to, value);
    } else {
        // Redis pushes first ("new" and the push event for the
        // destination), then reports the pop and the source's deletion.
        let empty = l.is_empty();
        let g = guards.for_key(dst);
        match write(g, dst, now) {
            Ok(Some(d)) => d.push_elem(to, value),
            _ => {
                let mut d = ListValue::new();
                d.push_elem(to, value);
                g.insert(dst, new_list_entry(d), false);
            }
        }
        drop_if_empty(guards.for_key(src), src, empty);
        deleted = empty;
    }
    ctx.dirty += 1;
    // BLMOVE / BRPOPLPUSH replay as their non-blocking form.
    ctx.propagate_as(&[b"LMOVE", src, dst, from.word(), to.word()]);
    notify(ctx, NOTIFY_LIST, push_event(to), dst);
    notify_popped(ctx, src, from, deleted);
    true
}

pub fn lmove(ctx: &mut Ctx, out: &mut Out) {
    let (Some(from), Some(to)) = (End::parse(ctx.arg(3)), End::parse(ctx.arg(4))) else {
        return out.error(error::SYNTAX);
    };
    move_generic(ctx, out, from, to)
}

pub fn rpoplpush(ctx: &mut Ctx, out: &mut Out) {
    move_generic(ctx, out, End::Right, End::Left)
}

pub fn lmpop(ctx: &mut Ctx, out: &mut Out) {
    let numkeys = match parse_i64(ctx.arg(1)) {
        Some(n) if n > 0 => n as u64,
        _ => return out.error(NUMKEYS_POSITIVE),
    };
    let argc = ctx.argv.len() as u64;
    let where_at = numkeys.saturating_add(2);
    if where_at >= argc {
        return out.error(error::SYNTAX);
    }
    let where_at = where_at as usize;
    let Some(end) = End::parse(ctx.arg(where_at)) else {
        return out.error(error::SYNTAX);
    };
    let mut count: Option<u64> = None;
    let mut i = where_at + 1;
    while i < ctx.argv.len() {
        if count.is_none() && ctx.arg_is(i, "COUNT") && i + 1 < ctx.argv.len() {
            i += 1;
            match parse_i64(ctx.arg(i)) {
                Some(n) if n > 0 => count = Some(n as u64),
                _ => return out.error(COUNT_POSITIVE),
            }
        } else {
            return out.error(error::SYNTAX);
        }
        i += 1;
    }
    let count = count.unwrap_or(1).min(usize::MAX as u64) as usize;
    if !mpop(ctx, out, 2..where_at, end, count) {
        out.null_array()
    }
}

/// Pop up to `count` elements from the first non-empty list among the keys
/// at argv[keys], replying `[key, [elements]]`. Returns false, having
/// written nothing, when every list is empty (the caller answers nil or blocks).
pub(crate) fn mpop(
    ctx: &mut Ctx,
    out: &mut Out,
    keys: std::ops::Range<usize>,
    end: End,
    count: usize,
) -> bool {
    let keys = &ctx.argv[keys];
    let now = ctx.now_ms;
    let mut guards = ctx.db().lock_keys(keys.iter().map(|k| &k[..]));
    for key in keys {
        let g = guards.for_key(key);
        let l = match write(g, key, now) {
            Err(()) => {
                out.error(error::WRONGTYPE);
                return true;
            }
            Ok(None) => continue,
            Ok(Some(l)) if l.is_empty() => continue,
            Ok(Some(l)) => l,
        };
        let popped = l.pop_many(end, count);
        let empty = l.is_empty();
        drop_if_empty(g, key, empty);
        out.array(2);
        out.bulk(key);
        reply_elems(out, popped.iter());
        ctx.dirty += popped.len() as u64;
        let mut n = itoa::Buffer::new();
        ctx.propagate_as(&[end.pop_command(), key, n.format(popped.len()).as_bytes()]);
        notify_popped(ctx, key, end, empty);
        return true;
    }
    false
}
