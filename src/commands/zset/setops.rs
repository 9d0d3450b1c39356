//! ZUNION/ZINTER/ZDIFF, their STORE forms and ZINTERCARD. Plain sets are
//! accepted as inputs, every member scoring 1.
//!
//! The keys are locked together; the inputs are then visited one at a
//! time (the guard hands out one slot borrow at a time), folding each into
//! an accumulator, so intersections and differences only probe the larger
//! inputs for the members still in play.

use super::*;
use crate::commands::Ctx;
use crate::error;
use crate::keyspace::{Entry, Value};
use crate::types::zset::{cmp_elem, ZSetValue};
use crate::types::Elem;
use crate::util::parse_i64;

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Agg {
    Sum,
    Min,
    Max,
}

fn aggregate(target: &mut f64, val: f64, agg: Agg) {
    match agg {
        Agg::Sum => {
            *target += val;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Agg::Min => {
            if val < *target {
                *target = val
            }
        }
        Agg::Max => {
            if val > *target {
                *target = val
            }
        }
    }
}

pub fn zunion(ctx: &mut Ctx, out: &mut Out) {
    generic(ctx, out, None, Op::Union, false);
}

pub fn zinter(ctx: &mut Ctx, out: &mut Out) {
    generic(ctx, out, None, Op::Inter, false);
}

pub fn zdiff(ctx: &mut Ctx, out: &mut Out) {
    generic(ctx, out, None, Op::Diff, false);
}

pub fn zintercard(ctx: &mut Ctx, out: &mut Out) {
    generic(ctx, out, None, Op::Inter, true);
}

pub fn zunionstore(ctx: &mut Ctx, out: &mut Out) {
    ctx.modified = Some(vec![ctx.argv[1].clone()]);
    generic(ctx, out, Some(1), Op::Union, false);
}

pub fn zinterstore(ctx: &mut Ctx, out: &mut Out) {
    ctx.modified = Some(vec![ctx.argv[1].clone()]);
    generic(ctx, out, Some(1), Op::Inter, false);
}

pub fn zdiffstore(ctx: &mut Ctx, out: &mut Out) {
    ctx.modified = Some(vec![ctx.argv[1].clone()]);
    generic(ctx, out, Some(1), Op::Diff, false);
}

/// Visit every (member, score) of a zset or set value.
fn each(v: &Value, mut f: impl FnMut(&[u8], f64)) {
    match v {
        Value::ZSet(z) => z.for_each_ordered(|s, m| f(m, s)),
        Value::Set(s) => s.for_each(|m| f(m, 1.0)),
        _ => {}
    }
}

/// A membership/score probe into one input.
enum Probe<'v> {
    Z(&'v ZSetValue),
    S(hashbrown::HashSet<Elem>),
}

impl<'v> Probe<'v> {
    fn new(v: &'v Value) -> Self {
        match v {
            Value::ZSet(z) => Probe::Z(z),
            other => {
                let mut set = hashbrown::HashSet::new();
                each(other, |m, _| {
                    set.insert(Elem::from(m));
                });
                Probe::S(set)
            }
        }
    }

    fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            Probe::Z(z) => z.score(m),
            Probe::S(s) => s.contains(m).then_some(1.0),
        }
    }
}

fn generic(ctx: &mut Ctx, out: &mut Out, dst_at: Option<usize>, op: Op, card_only: bool) {
    let argc = ctx.argv.len();
    let numkeys_at = if dst_at.is_some() { 2 } else { 1 };
    let Some(setnum) = ctx.arg_i64(numkeys_at, out) else {
        return;
    };
    if setnum < 1 {
        return out.error(&format!(
            "ERR at least 1 input key is needed for '{}' command",
            ctx.cmd.name
        ));
    }
    if setnum > (argc - numkeys_at - 1) as i64 {
        return out.error(error::SYNTAX);
    }
    let setnum = setnum as usize;
    let first = numkeys_at + 1;
    let keys: Vec<&[u8]> = ctx.argv[first..first + setnum]
        .iter()
        .map(|k| &k[..])
        .collect();
    let dst: Option<&[u8]> = dst_at.map(|i| ctx.arg(i));
    let now = ctx.now_ms;
    let lim = limits(ctx);
    let mut guards = ctx.db().lock_keys(keys.iter().copied().chain(dst));

    // Inputs: type check and sizes.
    let mut lens = Vec::with_capacity(setnum);
    for key in &keys {
        match guards.for_key(key).get(key, now) {
            None => {
                ctx.miss_key(key);
                lens.push(0)
            }
            Some(Entry {
                value: Value::ZSet(z),
                ..
            }) => {
                ctx.hit();
                lens.push(z.len())
            }
            Some(Entry {
                value: Value::Set(s),
                ..
            }) => {
                ctx.hit();
                lens.push(s.len())
            }
            Some(_) => {
                ctx.hit();
                return out.error(error::WRONGTYPE);
            }
        }
    }

    // Options.
    let mut weights = vec![1.0f64; setnum];
    let mut agg = Agg::Sum;
    let mut withscores = false;
    let mut limit = 0usize;
    let mut j = first + setnum;
    while j < argc {
        let remaining = argc - j;
        if op != Op::Diff && !card_only && remaining > setnum && ctx.arg_is(j, "weights") {
            j += 1;
            for w in weights.iter_mut() {
                match parse_score(ctx.arg(j)) {
                    Some(v) => *w = v,
                    None => return out.error("ERR weight value is not a float"),
                }
                j += 1;
            }
        } else if op != Op::Diff && !card_only && remaining >= 2 && ctx.arg_is(j, "aggregate") {
            agg = if ctx.arg_is(j + 1, "sum") {
                Agg::Sum
            } else if ctx.arg_is(j + 1, "min") {
                Agg::Min
            } else if ctx.arg_is(j + 1, "max") {
                Agg::Max
            } else {
                return out.error(error::SYNTAX);
            };
            j += 2;
        } else if dst.is_none() && !card_only && ctx.arg_is(j, "withscores") {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && ctx.arg_is(j, "limit") {
            match parse_i64(ctx.arg(j + 1)) {
                Some(n) if n >= 0 => limit = n as usize,
                _ => return out.error("ERR LIMIT can't be negative"),
            }
            j += 2;
        } else {
            return out.error(error::SYNTAX);
        }
    }

    // Inputs in processing order: smallest first, except for ZDIFF.
    let mut order: Vec<usize> = (0..setnum).collect();
    if op != Op::Diff {
        order.sort_by_key(|&i| lens[i]);
    }

    let mut result: Vec<(f64, Elem)> = Vec::new();
    match op {
        Op::Union => {
            let mut acc: hashbrown::HashMap<Elem, f64> =
                hashbrown::HashMap::with_capacity(order.last().map_or(0, |&i| lens[i]));
            for &i in &order {
                let key = keys[i];
                let w = weights[i];
                if let Some(e) = guards.for_key(key).get(key, now) {
                    each(&e.value, |m, s| {
                        let mut v = w * s;
                        if v.is_nan() {
                            v = 0.0;
                        }
                        match acc.get_mut(m) {
                            Some(t) => aggregate(t, v, agg),
                            None => {
                                acc.insert(Elem::from(m), v);
                            }
                        }
                    });
                }
            }
            result = acc.into_iter().map(|(m, s)| (s, m)).collect();
        }
        Op::Inter | Op::Diff => {
            let i0 = order[0];
            if lens[i0] > 0 {
                let key = keys[i0];
                let w = if op == Op::Inter { weights[i0] } else { 1.0 };
                if let Some(e) = guards.for_key(key).get(key, now) {
                    each(&e.value, |m, s| {
                        let mut v = w * s;
                        if v.is_nan() {
                            v = 0.0;
                        }
                        result.push((v, Elem::from(m)));
                    });
                }
                for &i in &order[1..] {
                    if result.is_empty() {
                        break;
                    }
                    let key = keys[i];
                    let Some(e) = guards.for_key(key).get(key, now) else {
                        if op == Op::Inter {
                            result.clear();
                        }
                        continue;
                    };
                    let probe = Probe::new(&e.value);
                    let w = weights[i];
                    result.retain_mut(|(score, m)| match (op, probe.score(m)) {
                        (Op::Inter, Some(s)) => {
                            aggregate(score, s * w, agg);
                            true
                        }
                        (Op::Inter, None) => false,
                        (_, found) => found.is_none(),
                    });
                }
            }
        }
    }

    if card_only {
        let n = result.len();
        return out.int(if limit > 0 { n.min(limit) } else { n } as i64);
    }
    result.sort_by(|a, b| cmp_elem(a.0, &a.1, b.0, &b.1));
    if let Some(dst) = dst {
        let g = guards.for_key(dst);
        if result.is_empty() {
            if g.remove(dst).is_some() {
                ctx.dirty += 1;
                notify_stored(ctx, dst, Some(false));
            }
            return out.int(0);
        }
        let n = result.len();
        g.insert(
            dst,
            Entry::new(Value::ZSet(Box::new(ZSetValue::from_sorted(result, lim)))),
            false,
        );
        ctx.dirty += 1;
        out.int(n as i64);
        notify_stored(ctx, dst, Some(true));
        return;
    }
    pairs_header(out, result.len(), withscores);
    for (s, m) in &result {
        pair_item(out, *s, m, withscores);
    }
}
