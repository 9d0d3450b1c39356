//! ZADD/ZINCRBY, ZREM, ZCARD, ZSCORE/ZMSCORE, ZRANK/ZREVRANK, ZCOUNT,
//! ZLEXCOUNT, ZRANDMEMBER and ZSCAN.

use super::*;
use crate::commands::Ctx;
use crate::error;
use crate::keyspace::{Entry, Value};
use crate::protocol::reply::format_double;
use crate::types::zset::ZSetValue;
use crate::util::{glob_match, parse_i64};
use rand::Rng;

const ERR_XX_NX: &str = "ERR XX and NX options at the same time are not compatible";
const ERR_GT_LT_NX: &str = "ERR GT, LT, and/or NX options at the same time are not compatible";
const ERR_INCR_PAIR: &str = "ERR INCR option supports a single increment-element pair";
const ERR_NAN: &str = "ERR resulting score is not a number (NaN)";

pub fn zadd(ctx: &mut Ctx, out: &mut Out) {
    zadd_generic(ctx, out, false);
}

pub fn zincrby(ctx: &mut Ctx, out: &mut Out) {
    zadd_generic(ctx, out, true);
}

fn zadd_generic(ctx: &mut Ctx, out: &mut Out, mut incr: bool) {
    let argc = ctx.argv.len();
    let (mut nx, mut xx, mut gt, mut lt, mut ch) = (false, false, false, false, false);
    let mut i = 2;
    while i < argc {
        let a = ctx.arg(i);
        if a.eq_ignore_ascii_case(b"nx") {
            nx = true;
        } else if a.eq_ignore_ascii_case(b"xx") {
            xx = true;
        } else if a.eq_ignore_ascii_case(b"ch") {
            ch = true;
        } else if a.eq_ignore_ascii_case(b"incr") {
            incr = true;
        } else if a.eq_ignore_ascii_case(b"gt") {
            gt = true;
        } else if a.eq_ignore_ascii_case(b"lt") {
            lt = true;
        } else {
            break;
        }
        i += 1;
    }
    let rest = argc - i;
    if rest == 0 || !rest.is_multiple_of(2) {
        return out.error(error::SYNTAX);
    }
    let n = rest / 2;
    if nx && xx {
        return out.error(ERR_XX_NX);
    }
    if (nx && (gt || lt)) || (gt && lt) {
        return out.error(ERR_GT_LT_NX);
    }
    if incr && n > 1 {
        return out.error(ERR_INCR_PAIR);
    }
    let mut scores = Vec::with_capacity(n);
    for j in 0..n {
        match parse_score(ctx.arg(i + 2 * j)) {
            Some(s) => scores.push(s),
            None => return out.error(error::NOT_FLOAT),
        }
    }
    let key = ctx.arg(1);
    let lim = limits(ctx);
    let now = ctx.now_ms;
    let mut g = ctx.db().lock_key(key);
    let (e, created) = if xx {
        match g.get_mut(key, now) {
            Some(e) => (e, false),
            None => return if incr { out.null() } else { out.int(0) },
        }
    } else {
        let first_len = ctx.arg(i + 1).len();
        g.get_or_insert_with(key, now, || {
            Entry::new(Value::ZSet(Box::new(ZSetValue::new_for(first_len, lim))))
        })
    };
    let Value::ZSet(z) = &mut e.value else {
        return out.error(error::WRONGTYPE);
    };
    let (mut added, mut updated, mut processed) = (0u64, 0u64, 0u64);
    let mut last = 0.0;
    let mut nan = false;
    for (j, &score) in scores.iter().enumerate() {
        let m = ctx.arg(i + 2 * j + 1);
        let (cur, stored) = z.update_with(m, lim, |cur| match cur {
            Some(cur) => {
                if nx {
                    return None;
                }
                let mut s = score;
                if incr {
                    s += cur;
                    if s.is_nan() {
                        nan = true;
                        return None;
                    }
                }
                if (lt && s >= cur) || (gt && s <= cur) {
                    return None;
                }
                Some(s)
            }
            None if xx => None,
            None => Some(score),
        });
        if nan {
            break;
        }
        let Some(s) = stored else { continue };
        processed += 1;
        last = s;
        match cur {
            None => added += 1,
            Some(c) if c != s => updated += 1,
            Some(_) => {}
        }
    }
    if created && z.is_empty() {
        g.remove(key);
    }
    if nan {
        return out.error(ERR_NAN);
    }
    ctx.dirty += added + updated;
    if added + updated > 0 {
        notify_changed(ctx, if incr { "zincr" } else { "zadd" }, key, false);
    }
    if incr {
        if processed > 0 {
            out.double(last)
        } else {
            out.null()
        }
    } else {
        out.int((if ch { added + updated } else { added }) as i64)
    }
}

pub fn zrem(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let z = match get_zset_mut(&mut g, key, ctx.now_ms) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(None) => return out.int(0),
        Ok(Some(z)) => z,
    };
    let mut deleted = 0;
    for m in &ctx.argv[2..] {
        if z.remove(m).is_some() {
            deleted += 1;
        }
        if z.is_empty() {
            break;
        }
    }
    let removed = drop_if_empty(&mut g, key);
    ctx.dirty += deleted;
    out.int(deleted as i64);
    if deleted > 0 {
        notify_changed(ctx, "zrem", key, removed);
    }
}

/// Look up the sorted set for a read command, counting the hit or miss.
macro_rules! read_or {
    ($ctx:expr, $out:expr, $g:expr, $key:expr, $missing:expr) => {
        match get_zset(&mut $g, $key, $ctx.now_ms) {
            Err(()) => {
                $ctx.hit();
                return $out.error(error::WRONGTYPE);
            }
            Ok(None) => {
                $ctx.miss_key($key);
                return $missing;
            }
            Ok(Some(z)) => {
                $ctx.hit();
                z
            }
        }
    };
}
pub(super) use read_or;

pub fn zcard(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let z = read_or!(ctx, out, g, key, out.int(0));
    out.int(z.len() as i64);
}

pub fn zscore(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let z = read_or!(ctx, out, g, key, out.null());
    match z.score(ctx.arg(2)) {
        Some(s) => out.double(s),
        None => out.null(),
    }
}

pub fn zmscore(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let members = &ctx.argv[2..];
    let z = match get_zset(&mut g, key, ctx.now_ms) {
        Err(()) => {
            ctx.hit();
            return out.error(error::WRONGTYPE);
        }
        Ok(z) => z,
    };
    if z.is_some() {
        ctx.hit();
    } else {
        ctx.miss_key(key);
    }
    out.array(members.len());
    for m in members {
        match z.and_then(|z| z.score(m)) {
            Some(s) => out.double(s),
            None => out.null(),
        }
    }
}

fn rank_generic(ctx: &mut Ctx, out: &mut Out, rev: bool) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let z = read_or!(ctx, out, g, key, out.null());
    match z.rank(ctx.arg(2)) {
        Some(r) => out.int((if rev { z.len() - 1 - r } else { r }) as i64),
        None => out.null(),
    }
}

pub fn zrank(ctx: &mut Ctx, out: &mut Out) {
    rank_generic(ctx, out, false);
}

pub fn zrevrank(ctx: &mut Ctx, out: &mut Out) {
    rank_generic(ctx, out, true);
}

pub fn zcount(ctx: &mut Ctx, out: &mut Out) {
    let Some(range) = ScoreRange::parse(ctx.arg(2), ctx.arg(3)) else {
        return out.error(ERR_NOT_FLOAT_RANGE);
    };
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let z = read_or!(ctx, out, g, key, out.int(0));
    let (s, e) = range.ranks(z);
    out.int((e - s) as i64);
}

pub fn zlexcount(ctx: &mut Ctx, out: &mut Out) {
    let Some(range) = LexRange::parse(ctx.arg(2), ctx.arg(3)) else {
        return out.error(ERR_LEX_RANGE);
    };
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let z = read_or!(ctx, out, g, key, out.int(0));
    let (s, e) = range.ranks(z);
    out.int((e - s) as i64);
}

pub fn zrandmember(ctx: &mut Ctx, out: &mut Out) {
    let argc = ctx.argv.len();
    let key = ctx.arg(1);
    if argc == 2 {
        let mut g = ctx.db().lock_key(key);
        let z = read_or!(ctx, out, g, key, out.null());
        let r = rand::thread_rng().gen_range(0..z.len());
        return out.bulk(z.at(r).1);
    }
    let Some(l) = parse_i64(ctx.arg(2)) else {
        return out.error(error::NOT_INTEGER);
    };
    if l == i64::MIN {
        return out.error("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807");
    }
    if argc > 4 || (argc == 4 && !ctx.arg_is(3, "withscores")) {
        return out.error(error::SYNTAX);
    }
    let withscores = argc == 4;
    if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
        return out.error("ERR value is out of range");
    }
    let mut g = ctx.db().lock_key(key);
    let z = read_or!(ctx, out, g, key, out.array(0));
    let size = z.len();
    let count = l.unsigned_abs() as usize;
    if count == 0 {
        return out.array(0);
    }
    let mut rng = rand::thread_rng();
    if l < 0 || count == 1 {
        pairs_header(out, count, withscores);
        for _ in 0..count {
            let (s, m) = z.at(rng.gen_range(0..size));
            pair_item(out, s, m, withscores);
        }
        return;
    }
    if count >= size {
        return reply_range(out, z, 0, size, false, withscores);
    }
    pairs_header(out, count, withscores);
    for r in rand::seq::index::sample(&mut rng, size, count) {
        let (s, m) = z.at(r);
        pair_item(out, s, m, withscores);
    }
}

pub fn zscan(ctx: &mut Ctx, out: &mut Out) {
    let Some(cursor) = crate::util::parse_scan_cursor(ctx.arg(2)) else {
        return out.error("ERR invalid cursor");
    };
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let z = read_or!(ctx, out, g, key, {
        out.array(2);
        out.bulk(b"0");
        out.array(0)
    });
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 3;
    while i < ctx.argv.len() {
        let has_next = i + 1 < ctx.argv.len();
        if ctx.arg_is(i, "count") && has_next {
            match parse_i64(ctx.arg(i + 1)) {
                Some(n) if n >= 1 => count = n as usize,
                Some(_) => return out.error(error::SYNTAX),
                None => return out.error(error::NOT_INTEGER),
            }
        } else if ctx.arg_is(i, "match") && has_next {
            pattern = Some(ctx.arg(i + 1)).filter(|p| *p != b"*");
        } else {
            return out.error(error::SYNTAX);
        }
        i += 2;
    }
    let mut found: Vec<(f64, Vec<u8>)> = Vec::new();
    let next = z.scan(cursor, count, |s, m| {
        if pattern.is_none_or(|p| glob_match(p, m, false)) {
            found.push((s, m.to_vec()));
        }
    });
    out.array(2);
    out.bulk(next.to_string().as_bytes());
    out.array(found.len() * 2);
    for (s, m) in &found {
        out.bulk(m);
        out.bulk(format_double(*s).as_bytes());
    }
}
