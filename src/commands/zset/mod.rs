//! Sorted-set commands: ZADD and friends, the ZRANGE family, ZREMRANGEBY*,
//! pops, ZRANDMEMBER, the union/intersection/difference commands and ZSCAN.
//!
//! Shared here: the command table, lookups, range parsing (score and lex)
//! and the reply shapes the family uses.

mod basic;
pub(crate) use basic::zadd;
pub(crate) mod pop;
mod range;
mod setops;

use super::table::{c, c_with_keys};
use super::{Command, KeySpec};
use crate::keyspace::{Entry, SlotGuard, Value};
use crate::protocol::Out;
use crate::types::zset::{Limits, ZSetValue};

const ERR_NOT_FLOAT_RANGE: &str = "ERR min or max is not a float";
const ERR_LEX_RANGE: &str = "ERR min or max not valid string range item";

/// This family's entries in the command table.
pub fn commands() -> Vec<Command> {
    use self::{basic as b, pop as p, range as r, setops as s};
    let one = (1, 1, 1);
    let g = "sorted_set";
    let keynum = KeySpec::Keynum {
        extra_first: 0,
        numkeys_at: 1,
        first_offset: 1,
        step: 1,
    };
    let keynum_store = KeySpec::Keynum {
        extra_first: 1,
        numkeys_at: 2,
        first_offset: 1,
        step: 1,
    };
    vec![
        c("zadd", -4, "write denyoom fast @sortedset", one, g, "1.2.0", "Add one or more members to a sorted set, or update its score if it already exists", b::zadd),
        c("zincrby", 4, "write denyoom fast @sortedset", one, g, "1.2.0", "Increment the score of a member in a sorted set", b::zincrby),
        c("zrem", -3, "write fast @sortedset", one, g, "1.2.0", "Remove one or more members from a sorted set", b::zrem),
        c("zcard", 2, "readonly fast @sortedset", one, g, "1.2.0", "Get the number of members in a sorted set", b::zcard),
        c("zscore", 3, "readonly fast @sortedset", one, g, "1.2.0", "Get the score associated with the given member in a sorted set", b::zscore),
        c("zmscore", -3, "readonly fast @sortedset", one, g, "6.2.0", "Get the score associated with the given members in a sorted set", b::zmscore),
        c("zrank", 3, "readonly fast @sortedset", one, g, "2.0.0", "Determine the index of a member in a sorted set", b::zrank),
        c("zrevrank", 3, "readonly fast @sortedset", one, g, "2.0.0", "Determine the index of a member in a sorted set, with scores ordered from high to low", b::zrevrank),
        c("zcount", 4, "readonly fast @sortedset", one, g, "2.0.0", "Count the members in a sorted set with scores within the given values", b::zcount),
        c("zlexcount", 4, "readonly fast @sortedset", one, g, "2.8.9", "Count the number of members in a sorted set between a given lexicographical range", b::zlexcount),
        c("zrandmember", -2, "readonly @sortedset", one, g, "6.2.0", "Get one or multiple random elements from a sorted set", b::zrandmember),
        c("zscan", -3, "readonly @sortedset", one, g, "2.8.0", "Incrementally iterate sorted sets elements and associated scores", b::zscan),
        c("zrange", -4, "readonly @sortedset", one, g, "1.2.0", "Return a range of members in a sorted set", r::zrange),
        c("zrangebyscore", -4, "readonly @sortedset", one, g, "1.0.5", "Return a range of members in a sorted set, by score", r::zrangebyscore),
        c("zrevrangebyscore", -4, "readonly @sortedset", one, g, "2.2.0", "Return a range of members in a sorted set, by score, with scores ordered from high to low", r::zrevrangebyscore),
        c("zrangebylex", -4, "readonly @sortedset", one, g, "2.8.9", "Return a range of members in a sorted set, by lexicographical range", r::zrangebylex),
        c("zrevrangebylex", -4, "readonly @sortedset", one, g, "2.8.9", "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.", r::zrevrangebylex),
        c("zrevrange", -4, "readonly @sortedset", one, g, "1.2.0", "Return a range of members in a sorted set, by index, with scores ordered from high to low", r::zrevrange),
        c("zrangestore", -5, "write denyoom @sortedset", (1, 2, 1), g, "6.2.0", "Store a range of members from sorted set into another key", r::zrangestore),
        c("zremrangebyrank", 4, "write @sortedset", one, g, "2.0.0", "Remove all members in a sorted set within the given indexes", r::zremrangebyrank),
        c("zremrangebyscore", 4, "write @sortedset", one, g, "1.2.0", "Remove all members in a sorted set within the given scores", r::zremrangebyscore),
        c("zremrangebylex", 4, "write @sortedset", one, g, "2.8.9", "Remove all members in a sorted set between the given lexicographical range", r::zremrangebylex),
        c("zpopmin", -2, "write fast @sortedset", one, g, "5.0.0", "Remove and return members with the lowest scores in a sorted set", p::zpopmin),
        c("zpopmax", -2, "write fast @sortedset", one, g, "5.0.0", "Remove and return members with the highest scores in a sorted set", p::zpopmax),
        c_with_keys("zmpop", -4, "write @sortedset", keynum, g, "7.0.0", "Remove and return members with scores in a sorted set", p::zmpop),
        c_with_keys("zunion", -3, "readonly @sortedset", keynum, g, "6.2.0", "Add multiple sorted sets", s::zunion),
        c_with_keys("zinter", -3, "readonly @sortedset", keynum, g, "6.2.0", "Intersect multiple sorted sets", s::zinter),
        c_with_keys("zdiff", -3, "readonly @sortedset", keynum, g, "6.2.0", "Subtract multiple sorted sets", s::zdiff),
        c_with_keys("zintercard", -3, "readonly @sortedset", keynum, g, "7.0.0", "Intersect multiple sorted sets and return the cardinality of the result", s::zintercard),
        c_with_keys("zunionstore", -4, "write denyoom @sortedset", keynum_store, g, "2.0.0", "Add multiple sorted sets and store the resulting sorted set in a new key", s::zunionstore),
        c_with_keys("zinterstore", -4, "write denyoom @sortedset", keynum_store, g, "2.0.0", "Intersect multiple sorted sets and store the resulting sorted set in a new key", s::zinterstore),
        c_with_keys("zdiffstore", -4, "write denyoom @sortedset", keynum_store, g, "6.2.0", "Subtract multiple sorted sets and store the resulting sorted set in a new key", s::zdiffstore),
    ]
}

pub(crate) fn limits(ctx: &super::Ctx) -> Limits {
    Limits {
        max_entries: ctx.hot.zset_max_listpack_entries,
        max_value: ctx.hot.zset_max_listpack_value,
    }
}

/// The sorted set at `key`: `Ok(None)` if missing, `Err(())` if another type.
pub(crate) fn get_zset<'e>(
    g: &'e mut SlotGuard<'_>,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<&'e ZSetValue>, ()> {
    match g.get(key, now_ms) {
        None => Ok(None),
        Some(Entry {
            value: Value::ZSet(z),
            ..
        }) => Ok(Some(z)),
        Some(_) => Err(()),
    }
}

fn get_zset_mut<'e>(
    g: &'e mut SlotGuard<'_>,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<&'e mut ZSetValue>, ()> {
    match g.get_mut(key, now_ms) {
        None => Ok(None),
        Some(Entry {
            value: Value::ZSet(z),
            ..
        }) => Ok(Some(z)),
        Some(_) => Err(()),
    }
}

/// Remove `key` if its sorted set became empty; true if it was removed.
fn drop_if_empty(g: &mut SlotGuard<'_>, key: &[u8]) -> bool {
    if matches!(g.peek(key), Some(Entry { value: Value::ZSet(z), .. }) if z.is_empty()) {
        g.remove(key);
        return true;
    }
    false
}

/// Redis's events for a change of `key`: `event` (class z), then "del"
/// if the key was removed.
fn notify_changed(ctx: &super::Ctx, event: &str, key: &[u8], deleted: bool) {
    use crate::notify::{notify, NOTIFY_GENERIC, NOTIFY_ZSET};
    notify(ctx, NOTIFY_ZSET, event, key);
    if deleted {
        notify(ctx, NOTIFY_GENERIC, "del", key);
    }
}

/// A *STORE command wrote `dst` (`Some(true)`), deleted it (`Some(false)`)
/// or left it alone (`None`).
fn notify_stored(ctx: &super::Ctx, dst: &[u8], stored: Option<bool>) {
    match stored {
        Some(true) => crate::notify::notify(ctx, crate::notify::NOTIFY_ZSET, &ctx.cmd.name, dst),
        Some(false) => crate::notify::notify(ctx, crate::notify::NOTIFY_GENERIC, "del", dst),
        None => {}
    }
}

/// A score argument as Redis's getDoubleFromObject reads it: strict, no
/// NaN, and no overflow to ±inf or underflow to 0.
pub(crate) fn parse_score(arg: &[u8]) -> Option<f64> {
    let v = crate::util::parse_f64(arg)?;
    if v.is_infinite() && !arg.iter().any(|b| b.eq_ignore_ascii_case(&b'i')) {
        return None;
    }
    if v == 0.0
        && arg
            .iter()
            .take_while(|b| !matches!(b, b'e' | b'E'))
            .any(|b| (b'1'..=b'9').contains(b))
    {
        return None;
    }
    Some(v)
}

/// A score range bound as zslParseRange reads it (strtod, optional '(').
fn parse_range_bound(arg: &[u8]) -> Option<(f64, bool)> {
    let (ex, rest) = match arg.first() {
        Some(b'(') => (true, &arg[1..]),
        _ => (false, arg),
    };
    // strtod accepts leading spaces and reads "" as 0.
    let start = rest
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(rest.len());
    let body = &rest[start..];
    if rest.is_empty() {
        return Some((0.0, ex));
    }
    crate::util::parse_f64(body).map(|v| (v, ex))
}

/// An inclusive/exclusive score interval.
#[derive(Clone, Copy, Debug)]
struct ScoreRange {
    min: f64,
    minex: bool,
    max: f64,
    maxex: bool,
}

impl ScoreRange {
    fn parse(min: &[u8], max: &[u8]) -> Option<Self> {
        let (min, minex) = parse_range_bound(min)?;
        let (max, maxex) = parse_range_bound(max)?;
        Some(ScoreRange {
            min,
            minex,
            max,
            maxex,
        })
    }

    /// The ranks `start..end` of the elements inside the range.
    fn ranks(&self, z: &ZSetValue) -> (usize, usize) {
        let r = *self;
        let start = z.count_before(|s, _| if r.minex { s <= r.min } else { s < r.min });
        let end = z.count_before(|s, _| if r.maxex { s < r.max } else { s <= r.max });
        (start, end.max(start))
    }
}

#[derive(Clone, Debug)]
enum LexBound {
    NegInf,
    PosInf,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

impl LexBound {
    fn parse(arg: &[u8]) -> Option<Self> {
        match arg.first()? {
            b'+' if arg.len() == 1 => Some(LexBound::PosInf),
            b'-' if arg.len() == 1 => Some(LexBound::NegInf),
            b'[' => Some(LexBound::Incl(arg[1..].to_vec())),
            b'(' => Some(LexBound::Excl(arg[1..].to_vec())),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
struct LexRange {
    min: LexBound,
    max: LexBound,
}

impl LexRange {
    fn parse(min: &[u8], max: &[u8]) -> Option<Self> {
        Some(LexRange {
            min: LexBound::parse(min)?,
            max: LexBound::parse(max)?,
        })
    }

    fn ranks(&self, z: &ZSetValue) -> (usize, usize) {
        let start = z.count_before(|_, m| match &self.min {
            LexBound::NegInf => false,
            LexBound::PosInf => true,
            LexBound::Incl(x) => m < &x[..],
            LexBound::Excl(x) => m <= &x[..],
        });
        let end = z.count_before(|_, m| match &self.max {
            LexBound::NegInf => false,
            LexBound::PosInf => true,
            LexBound::Incl(x) => m <= &x[..],
            LexBound::Excl(x) => m < &x[..],
        });
        (start, end.max(start))
    }
}

/// Normalise Redis-style rank indexes (negative from the end) to `start..end`.
fn rank_span(start: i64, end: i64, len: usize) -> (usize, usize) {
    let llen = len as i64;
    let mut s = if start < 0 { llen + start } else { start };
    let mut e = if end < 0 { llen + end } else { end };
    if s < 0 {
        s = 0;
    }
    if s > e || s >= llen {
        return (0, 0);
    }
    if e >= llen {
        e = llen - 1;
    }
    (s as usize, e as usize + 1)
}

/// A reply header for `n` (member, score) items: flat in RESP2, pairs in RESP3.
fn pairs_header(out: &mut Out, n: usize, withscores: bool) {
    if withscores && !out.resp3 {
        out.array(2 * n);
    } else {
        out.array(n);
    }
}

fn pair_item(out: &mut Out, score: f64, member: &[u8], withscores: bool) {
    if withscores {
        if out.resp3 {
            out.array(2);
        }
        out.bulk(member);
        out.double(score);
    } else {
        out.bulk(member);
    }
}

/// Reply with ranks `start..end` of `z` (descending if `rev`).
fn reply_range(
    out: &mut Out,
    z: &ZSetValue,
    start: usize,
    end: usize,
    rev: bool,
    withscores: bool,
) {
    let n = end.saturating_sub(start);
    pairs_header(out, n, withscores);
    z.range(start, end, rev, |s, m| pair_item(out, s, m, withscores));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_normalise_like_redis() {
        assert_eq!(rank_span(0, -1, 5), (0, 5));
        assert_eq!(rank_span(-2, -1, 5), (3, 5));
        assert_eq!(rank_span(-10, 1, 5), (0, 2));
        assert_eq!(rank_span(3, 1, 5), (0, 0));
        assert_eq!(rank_span(5, 10, 5), (0, 0));
        assert_eq!(rank_span(0, 100, 5), (0, 5));
    }

    #[test]
    fn parses_bounds() {
        assert_eq!(parse_range_bound(b"(1.5"), Some((1.5, true)));
        assert_eq!(parse_range_bound(b"-inf"), Some((f64::NEG_INFINITY, false)));
        assert!(parse_range_bound(b"abc").is_none());
        assert!(parse_score(b"1e400").is_none());
        assert!(parse_score(b"1e-400").is_none());
        assert_eq!(parse_score(b"-inf"), Some(f64::NEG_INFINITY));
        assert!(parse_score(b"").is_none());
        assert!(LexBound::parse(b"a").is_none());
        assert!(LexBound::parse(b"+a").is_none());
        assert!(matches!(LexBound::parse(b"[a"), Some(LexBound::Incl(_))));
    }
}
