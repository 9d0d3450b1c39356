//! The ZRANGE family (by rank, score and lex, forward and reverse, with
//! LIMIT and WITHSCORES), ZRANGESTORE and ZREMRANGEBYRANK/SCORE/LEX.

use super::basic::read_or;
use super::*;
use crate::commands::Ctx;
use crate::error;
use crate::keyspace::{Entry, Value};
use crate::types::zset::ZSetValue;
use crate::types::Elem;
use crate::util::parse_i64;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Copy, PartialEq)]
enum Dir {
    Auto,
    Fwd,
    Rev,
}

enum Spec {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

pub fn zrange(ctx: &mut Ctx, out: &mut Out) {
    generic(ctx, out, 1, false, Kind::Auto, Dir::Auto);
}

pub fn zrangestore(ctx: &mut Ctx, out: &mut Out) {
    // Only the destination changes (WATCH, blocked clients).
    ctx.modified = Some(vec![ctx.argv[1].clone()]);
    generic(ctx, out, 2, true, Kind::Auto, Dir::Auto);
}

pub fn zrevrange(ctx: &mut Ctx, out: &mut Out) {
    generic(ctx, out, 1, false, Kind::Rank, Dir::Rev);
}

pub fn zrangebyscore(ctx: &mut Ctx, out: &mut Out) {
    generic(ctx, out, 1, false, Kind::Score, Dir::Fwd);
}

pub fn zrevrangebyscore(ctx: &mut Ctx, out: &mut Out) {
    generic(ctx, out, 1, false, Kind::Score, Dir::Rev);
}

pub fn zrangebylex(ctx: &mut Ctx, out: &mut Out) {
    generic(ctx, out, 1, false, Kind::Lex, Dir::Fwd);
}

pub fn zrevrangebylex(ctx: &mut Ctx, out: &mut Out) {
    generic(ctx, out, 1, false, Kind::Lex, Dir::Rev);
}

/// The ranks `start..end` selected and whether to visit them descending.
fn select(z: &ZSetValue, spec: &Spec, rev: bool, offset: i64, limit: i64) -> (usize, usize) {
    let (lo, hi) = match spec {
        Spec::Rank(s, e) => {
            let (a, b) = rank_span(*s, *e, z.len());
            if rev && b > a {
                let n = z.len();
                return (n - b, n - a);
            }
            return (a, b);
        }
        Spec::Score(r) => r.ranks(z),
        Spec::Lex(r) => r.ranks(z),
    };
    if offset < 0 || limit == 0 {
        return (0, 0);
    }
    let offset = offset as usize;
    let avail = hi - lo;
    if offset >= avail {
        return (0, 0);
    }
    let take = if limit < 0 {
        avail - offset
    } else {
        (limit as usize).min(avail - offset)
    };
    if rev {
        let e = hi - offset;
        (e - take, e)
    } else {
        let s = lo + offset;
        (s, s + take)
    }
}

fn generic(ctx: &mut Ctx, out: &mut Out, src_at: usize, store: bool, mut kind: Kind, mut dir: Dir) {
    let argc = ctx.argv.len();
    let mut withscores = false;
    let (mut offset, mut limit) = (0i64, -1i64);
    let mut j = src_at + 3;
    while j < argc {
        let left = argc - j - 1;
        if !store && ctx.arg_is(j, "withscores") {
            withscores = true;
        } else if ctx.arg_is(j, "limit") && left >= 2 {
            let (Some(o), Some(l)) = (parse_i64(ctx.arg(j + 1)), parse_i64(ctx.arg(j + 2))) else {
                return out.error(error::NOT_INTEGER);
            };
            offset = o;
            limit = l;
            j += 2;
        } else if dir == Dir::Auto && ctx.arg_is(j, "rev") {
            dir = Dir::Rev;
        } else if kind == Kind::Auto && ctx.arg_is(j, "bylex") {
            kind = Kind::Lex;
        } else if kind == Kind::Auto && ctx.arg_is(j, "byscore") {
            kind = Kind::Score;
        } else {
            return out.error(error::SYNTAX);
        }
        j += 1;
    }
    let rev = dir == Dir::Rev;
    if kind == Kind::Auto {
        kind = Kind::Rank;
    }
    if limit != -1 && kind == Kind::Rank {
        return out.error(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
    }
    if withscores && kind == Kind::Lex {
        return out.error("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
    }
    let (mut a, mut b) = (ctx.arg(src_at + 1), ctx.arg(src_at + 2));
    if rev && kind != Kind::Rank {
        std::mem::swap(&mut a, &mut b);
    }
    let spec = match kind {
        Kind::Score => match ScoreRange::parse(a, b) {
            Some(r) => Spec::Score(r),
            None => return out.error(ERR_NOT_FLOAT_RANGE),
        },
        Kind::Lex => match LexRange::parse(a, b) {
            Some(r) => Spec::Lex(r),
            None => return out.error(ERR_LEX_RANGE),
        },
        _ => match (parse_i64(a), parse_i64(b)) {
            (Some(s), Some(e)) => Spec::Rank(s, e),
            _ => return out.error(error::NOT_INTEGER),
        },
    };
    let src = ctx.arg(src_at);
    if !store {
        let mut g = ctx.db().lock_key(src);
        let z = read_or!(ctx, out, g, src, out.array(0));
        let (s, e) = select(z, &spec, rev, offset, limit);
        return reply_range(out, z, s, e, rev, withscores);
    }
    let dst = ctx.arg(1);
    let lim = limits(ctx);
    let now = ctx.now_ms;
    let mut guards = ctx.db().lock_keys([src, dst].into_iter());
    let mut items: Vec<(f64, Elem)> = Vec::new();
    match get_zset(guards.for_key(src), src, now) {
        Err(()) => {
            ctx.hit();
            return out.error(error::WRONGTYPE);
        }
        Ok(None) => ctx.miss_key(src),
        Ok(Some(z)) => {
            ctx.hit();
            let (s, e) = select(z, &spec, rev, offset, limit);
            items.reserve(e - s);
            z.range(s, e, false, |sc, m| items.push((sc, Elem::from(m))));
        }
    }
    let g = guards.for_key(dst);
    if items.is_empty() {
        if g.remove(dst).is_some() {
            ctx.dirty += 1;
            notify_stored(ctx, dst, Some(false));
        }
        return out.int(0);
    }
    let n = items.len();
    g.insert(
        dst,
        Entry::new(Value::ZSet(Box::new(ZSetValue::from_sorted(items, lim)))),
        false,
    );
    ctx.dirty += 1;
    out.int(n as i64);
    notify_stored(ctx, dst, Some(true));
}

fn remrange(ctx: &mut Ctx, out: &mut Out, kind: Kind) {
    let (a, b) = (ctx.arg(2), ctx.arg(3));
    let spec = match kind {
        Kind::Score => match ScoreRange::parse(a, b) {
            Some(r) => Spec::Score(r),
            None => return out.error(ERR_NOT_FLOAT_RANGE),
        },
        Kind::Lex => match LexRange::parse(a, b) {
            Some(r) => Spec::Lex(r),
            None => return out.error(ERR_LEX_RANGE),
        },
        _ => match (parse_i64(a), parse_i64(b)) {
            (Some(s), Some(e)) => Spec::Rank(s, e),
            _ => return out.error(error::NOT_INTEGER),
        },
    };
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let z = match get_zset_mut(&mut g, key, ctx.now_ms) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(None) => return out.int(0),
        Ok(Some(z)) => z,
    };
    let (s, e) = select(z, &spec, false, 0, -1);
    let removed = z.remove_ranks(s, e);
    let deleted = drop_if_empty(&mut g, key);
    ctx.dirty += removed as u64;
    out.int(removed as i64);
    if removed > 0 {
        notify_changed(ctx, &ctx.cmd.name, key, deleted);
    }
}

pub fn zremrangebyrank(ctx: &mut Ctx, out: &mut Out) {
    remrange(ctx, out, Kind::Rank);
}

pub fn zremrangebyscore(ctx: &mut Ctx, out: &mut Out) {
    remrange(ctx, out, Kind::Score);
}

pub fn zremrangebylex(ctx: &mut Ctx, out: &mut Out) {
    remrange(ctx, out, Kind::Lex);
}
