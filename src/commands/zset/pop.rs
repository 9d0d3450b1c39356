//! ZPOPMIN, ZPOPMAX and ZMPOP.

use super::*;
use crate::commands::Ctx;
use crate::error;
use crate::types::Elem;
use crate::util::parse_i64;

/// Pop up to `count` elements from the low (or high, if `max`) end of the
/// sorted set at `key` (which exists), deleting the key once empty, and
/// send Redis's events ("zpopmin"/"zpopmax", then "del").
fn pop(
    ctx: &Ctx,
    g: &mut SlotGuard<'_>,
    key: &[u8],
    now: u64,
    max: bool,
    count: usize,
) -> Vec<(f64, Elem)> {
    let Ok(Some(z)) = get_zset_mut(g, key, now) else {
        return Vec::new();
    };
    let len = z.len();
    let n = count.min(len);
    let (s, e) = if max { (len - n, len) } else { (0, n) };
    let mut items = Vec::with_capacity(n);
    z.range(s, e, max, |sc, m| items.push((sc, Elem::from(m))));
    z.remove_ranks(s, e);
    let deleted = drop_if_empty(g, key);
    if !items.is_empty() {
        notify_changed(ctx, if max { "zpopmax" } else { "zpopmin" }, key, deleted);
    }
    items
}

fn zpop(ctx: &mut Ctx, out: &mut Out, max: bool) {
    if ctx.argv.len() > 3 {
        return out.error(error::SYNTAX);
    }
    let mut count: Option<usize> = None;
    if ctx.argv.len() == 3 {
        match parse_i64(ctx.arg(2)) {
            Some(n) if n >= 0 => count = Some(n as usize),
            _ => return out.error(error::OUT_OF_RANGE),
        }
    }
    let key = ctx.arg(1);
    let now = ctx.now_ms;
    let mut g = ctx.db().lock_key(key);
    match get_zset(&mut g, key, now) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(None) => return out.array(0),
        Ok(Some(_)) => {}
    }
    if count == Some(0) {
        return out.array(0);
    }
    let nested = out.resp3 && count.is_some();
    let items = pop(ctx, &mut g, key, now, max, count.unwrap_or(1));
    ctx.dirty += items.len() as u64;
    if nested {
        out.array(items.len());
    } else {
        out.array(items.len() * 2);
    }
    for (s, m) in &items {
        if nested {
            out.array(2);
        }
        out.bulk(m);
        out.double(*s);
    }
}

pub fn zpopmin(ctx: &mut Ctx, out: &mut Out) {
    zpop(ctx, out, false);
}

pub fn zpopmax(ctx: &mut Ctx, out: &mut Out) {
    zpop(ctx, out, true);
}

pub fn zmpop(ctx: &mut Ctx, out: &mut Out) {
    const ERR_NUMKEYS: &str = "ERR numkeys should be greater than 0";
    let argc = ctx.argv.len();
    let numkeys = match parse_i64(ctx.arg(1)) {
        Some(n) if n >= 1 => n as usize,
        _ => return out.error(ERR_NUMKEYS),
    };
    if numkeys >= argc - 2 {
        return out.error(error::SYNTAX);
    }
    let where_at = 2 + numkeys;
    let max = if ctx.arg_is(where_at, "min") {
        false
    } else if ctx.arg_is(where_at, "max") {
        true
    } else {
        return out.error(error::SYNTAX);
    };
    let mut count: Option<usize> = None;
    let mut j = where_at + 1;
    while j < argc {
        if count.is_none() && ctx.arg_is(j, "count") && j + 1 < argc {
            match parse_i64(ctx.arg(j + 1)) {
                Some(n) if n >= 1 => count = Some(n as usize),
                _ => return out.error("ERR count should be greater than 0"),
            }
            j += 2;
        } else {
            return out.error(error::SYNTAX);
        }
    }
    if !mpop_from(ctx, out, 2..where_at, max, count.unwrap_or(1)) {
        out.null_array();
    }
}

/// The ZMPOP / BZMPOP step: pop up to `count` from the first non-empty
/// sorted set among argv[keys], replying `[key, [[member, score], ...]]`.
/// Returns false, having written nothing, when all are empty.
pub(crate) fn mpop_from(
    ctx: &mut Ctx,
    out: &mut Out,
    keys: std::ops::Range<usize>,
    max: bool,
    count: usize,
) -> bool {
    pop_first_nonempty(ctx, out, keys, max, count, |out, key, items| {
        out.array(2);
        out.bulk(key);
        out.array(items.len());
        for (s, m) in items {
            out.array(2);
            out.bulk(m);
            out.double(*s);
        }
    })
}

/// The BZPOPMIN / BZPOPMAX step: pop one element from the first non-empty
/// sorted set among argv[keys], replying `[key, member, score]`.
pub(crate) fn pop_one_from(
    ctx: &mut Ctx,
    out: &mut Out,
    keys: std::ops::Range<usize>,
    max: bool,
) -> bool {
    pop_first_nonempty(ctx, out, keys, max, 1, |out, key, items| {
        let (s, m) = &items[0];
        out.array(3);
        out.bulk(key);
        out.bulk(m);
        out.double(*s);
    })
}

/// Pop up to `count` from the first non-empty sorted set among argv[keys]
/// and let `reply` shape the answer; WRONGTYPE on the first key of another
/// type. Returns false, having written nothing, when all are empty.
fn pop_first_nonempty(
    ctx: &mut Ctx,
    out: &mut Out,
    keys: std::ops::Range<usize>,
    max: bool,
    count: usize,
    reply: impl FnOnce(&mut Out, &[u8], &[(f64, Elem)]),
) -> bool {
    let keys = &ctx.argv[keys];
    let now = ctx.now_ms;
    let mut guards = ctx.db().lock_keys(keys.iter().map(|k| &k[..]));
    for key in keys {
        let g = guards.for_key(key);
        match get_zset(g, key, now) {
            Err(()) => {
                out.error(error::WRONGTYPE);
                return true;
            }
            Ok(None) => continue,
            Ok(Some(_)) => {}
        }
        let items = pop(ctx, g, key, now, max, count);
        ctx.dirty += items.len() as u64;
        let mut n = itoa::Buffer::new();
        let name: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
        ctx.propagate_as(&[name, key, n.format(items.len()).as_bytes()]);
        reply(out, key, &items);
        return true;
    }
    false
}
