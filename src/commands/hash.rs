//! Hash commands: HSET and friends, HINCRBY/HINCRBYFLOAT, HRANDFIELD, HSCAN.

use crate::longdouble as ld;

use super::table::c;
use super::{Command, Ctx};
use crate::error;
use crate::keyspace::{Entry, SlotGuard, Value};
use crate::notify::{notify, NOTIFY_GENERIC, NOTIFY_HASH};
use crate::protocol::Out;
use crate::types::hash::{HashLimits, HashValue};
use crate::util::{glob_match, parse_i64};
use bytes::Bytes;
use rand::Rng;

const NOT_INT_VALUE: &str = "ERR hash value is not an integer";
const NOT_FLOAT_VALUE: &str = "ERR hash value is not a float";
const NAN_OR_INF: &str = "ERR value is NaN or Infinity";
const WOULD_BE_NAN_OR_INF: &str = "ERR increment would produce NaN or Infinity";
const INVALID_CURSOR: &str = "ERR invalid cursor";
const COUNT_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
const OUT_OF_RANGE: &str = "ERR value is out of range";

/// This family's entries in the command table.
pub fn commands() -> Vec<Command> {
    let k = (1, 1, 1);
    let cmds = vec![
        c(
            "hset",
            -4,
            "write denyoom fast @hash",
            k,
            "hash",
            "2.0.0",
            "Set the string value of a hash field",
            hset,
        ),
        c(
            "hsetnx",
            4,
            "write denyoom fast @hash",
            k,
            "hash",
            "2.0.0",
            "Set the value of a hash field, only if the field does not exist",
            hsetnx,
        ),
        c(
            "hget",
            3,
            "readonly fast @hash",
            k,
            "hash",
            "2.0.0",
            "Get the value of a hash field",
            hget,
        ),
        c(
            "hmget",
            -3,
            "readonly fast @hash",
            k,
            "hash",
            "2.0.0",
            "Get the values of all the given hash fields",
            hmget,
        ),
        c(
            "hmset",
            -4,
            "write denyoom fast @hash",
            k,
            "hash",
            "2.0.0",
            "Set multiple hash fields to multiple values",
            hset,
        ),
        c(
            "hdel",
            -3,
            "write fast @hash",
            k,
            "hash",
            "2.0.0",
            "Delete one or more hash fields",
            hdel,
        ),
        c(
            "hlen",
            2,
            "readonly fast @hash",
            k,
            "hash",
            "2.0.0",
            "Get the number of fields in a hash",
            hlen,
        ),
        c(
            "hstrlen",
            3,
            "readonly fast @hash",
            k,
            "hash",
            "3.2.0",
            "Get the length of the value of a hash field",
            hstrlen,
        ),
        c(
            "hexists",
            3,
            "readonly fast @hash",
            k,
            "hash",
            "2.0.0",
            "Determine if a hash field exists",
            hexists,
        ),
        c(
            "hkeys",
            2,
            "readonly @hash",
            k,
            "hash",
            "2.0.0",
            "Get all the fields in a hash",
            hkeys,
        ),
        c(
            "hvals",
            2,
            "readonly @hash",
            k,
            "hash",
            "2.0.0",
            "Get all the values in a hash",
            hvals,
        ),
        c(
            "hgetall",
            2,
            "readonly @hash",
            k,
            "hash",
            "2.0.0",
            "Get all the fields and values in a hash",
            hgetall,
        ),
        c(
            "hincrby",
            4,
            "write denyoom fast @hash",
            k,
            "hash",
            "2.0.0",
            "Increment the integer value of a hash field by the given number",
            hincrby,
        ),
        c(
            "hincrbyfloat",
            4,
            "write denyoom fast @hash",
            k,
            "hash",
            "2.6.0",
            "Increment the float value of a hash field by the given amount",
            hincrbyfloat,
        ),
        c(
            "hrandfield",
            -2,
            "readonly @hash",
            k,
            "hash",
            "6.2.0",
            "Get one or multiple random fields from a hash",
            hrandfield,
        ),
        c(
            "hscan",
            -3,
            "readonly @hash",
            k,
            "hash",
            "2.8.0",
            "Incrementally iterate hash fields and associated values",
            hscan,
        ),
    ];
    with_complexity(cmds)
}

/// Redis 7.0's documented complexity of each command (COMMAND DOCS).
fn with_complexity(mut cmds: Vec<Command>) -> Vec<Command> {
    const COMPLEXITY: &[(&str, &str)] = &[
        ("hset", "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs."),
        ("hsetnx", "O(1)"),
        ("hget", "O(1)"),
        ("hmget", "O(N) where N is the number of fields being requested."),
        ("hmset", "O(N) where N is the number of fields being set."),
        ("hdel", "O(N) where N is the number of fields to be removed."),
        ("hlen", "O(1)"),
        ("hstrlen", "O(1)"),
        ("hexists", "O(1)"),
        ("hkeys", "O(N) where N is the size of the hash."),
        ("hvals", "O(N) where N is the size of the hash."),
        ("hgetall", "O(N) where N is the size of the hash."),
        ("hincrby", "O(1)"),
        ("hincrbyfloat", "O(1)"),
        ("hrandfield", "O(N) where N is the number of fields returned"),
        ("hscan", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.."),
    ];
    for cmd in &mut cmds {
        if let Some((_, text)) = COMPLEXITY.iter().find(|(n, _)| *n == cmd.name) {
            cmd.complexity = text;
        }
    }
    cmds
}

fn limits(ctx: &Ctx) -> HashLimits {
    HashLimits {
        max_entries: ctx.hot.hash_max_listpack_entries,
        max_value: ctx.hot.hash_max_listpack_value,
    }
}

/// A read lookup (counts a keyspace hit or miss). `Err` is a wrong type.
fn read<'e>(ctx: &Ctx, g: &'e mut SlotGuard<'_>, key: &[u8]) -> Result<Option<&'e HashValue>, ()> {
    match g.get(key, ctx.now_ms) {
        None => {
            ctx.miss_key(key);
            Ok(None)
        }
        Some(e) => {
            ctx.hit();
            match &e.value {
                Value::Hash(h) => Ok(Some(h)),
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
) -> Result<Option<&'e mut HashValue>, ()> {
    match g.get_mut(key, now) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::Hash(h) => Ok(Some(h)),
            _ => Err(()),
        },
    }
}

/// The hash at `key`, created empty if missing (the caller must then add
/// to it). `Err` is a wrong type.
fn write_or_create<'e>(
    g: &'e mut SlotGuard<'_>,
    key: &[u8],
    now: u64,
) -> Result<&'e mut HashValue, ()> {
    let (e, _) = g.get_or_insert_with(key, now, || Entry::new(Value::Hash(Box::default())));
    match &mut e.value {
        Value::Hash(h) => Ok(h),
        _ => Err(()),
    }
}

/// HSET and HMSET.
pub fn hset(ctx: &mut Ctx, out: &mut Out) {
    let argv = ctx.argv;
    if argv.len() % 2 == 1 {
        return out.error(&error::wrong_args(&ctx.cmd.name));
    }
    let key = ctx.arg(1);
    let lim = limits(ctx);
    let mut g = ctx.db().lock_key(key);
    let Ok(h) = write_or_create(&mut g, key, ctx.now_ms) else {
        return out.error(error::WRONGTYPE);
    };
    h.prepare_for_lengths(argv[2..].iter().map(|a| a.len()), lim);
    let mut created = 0;
    for pair in argv[2..].chunks(2) {
        created += h.set(&pair[0], &pair[1], lim) as i64;
    }
    ctx.dirty += ((argv.len() - 2) / 2) as u64;
    if ctx.cmd.name == "hmset" {
        out.ok()
    } else {
        out.int(created)
    }
    notify(ctx, NOTIFY_HASH, "hset", key);
}

pub fn hsetnx(ctx: &mut Ctx, out: &mut Out) {
    let (key, field, value) = (ctx.arg(1), ctx.arg(2), ctx.arg(3));
    let lim = limits(ctx);
    let mut g = ctx.db().lock_key(key);
    let Ok(h) = write_or_create(&mut g, key, ctx.now_ms) else {
        return out.error(error::WRONGTYPE);
    };
    if h.contains(field) {
        return out.int(0);
    }
    h.set(field, value, lim);
    ctx.dirty += 1;
    out.int(1);
    notify(ctx, NOTIFY_HASH, "hset", key);
}

pub fn hget(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    match read(ctx, &mut g, key) {
        Err(()) => out.error(error::WRONGTYPE),
        Ok(None) => out.null(),
        Ok(Some(h)) => match h.get(ctx.arg(2)) {
            Some(v) => out.bulk(v),
            None => out.null(),
        },
    }
}

pub fn hmget(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let Ok(h) = read(ctx, &mut g, key) else {
        return out.error(error::WRONGTYPE);
    };
    let fields = &ctx.argv[2..];
    out.array(fields.len());
    for f in fields {
        match h.and_then(|h| h.get(f)) {
            Some(v) => out.bulk(v),
            None => out.null(),
        }
    }
}

pub fn hdel(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let h = match write(&mut g, key, ctx.now_ms) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(None) => return out.int(0),
        Ok(Some(h)) => h,
    };
    let mut deleted = 0;
    for f in &ctx.argv[2..] {
        if h.remove(f) {
            deleted += 1;
            if h.is_empty() {
                break;
            }
        }
    }
    let empty = h.is_empty();
    if empty {
        g.remove(key);
    }
    ctx.dirty += deleted;
    out.int(deleted as i64);
    if deleted > 0 {
        notify(ctx, NOTIFY_HASH, "hdel", key);
        if empty {
            notify(ctx, NOTIFY_GENERIC, "del", key);
        }
    }
}

pub fn hlen(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    match read(ctx, &mut g, key) {
        Err(()) => out.error(error::WRONGTYPE),
        Ok(h) => out.int(h.map_or(0, |h| h.len() as i64)),
    }
}

pub fn hstrlen(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    match read(ctx, &mut g, key) {
        Err(()) => out.error(error::WRONGTYPE),
        Ok(h) => out.int(
            h.and_then(|h| h.get(ctx.arg(2)))
                .map_or(0, |v| v.len() as i64),
        ),
    }
}

pub fn hexists(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    match read(ctx, &mut g, key) {
        Err(()) => out.error(error::WRONGTYPE),
        Ok(h) => out.int(h.is_some_and(|h| h.contains(ctx.arg(2))) as i64),
    }
}

fn get_all(ctx: &mut Ctx, out: &mut Out, fields: bool, values: bool) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let h = match read(ctx, &mut g, key) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(h) => h,
    };
    let pairs = h.map_or(crate::types::hash::Pairs::empty(), |h| h.pairs());
    if fields && values {
        out.map(pairs.len());
    } else {
        out.array(pairs.len());
    }
    for (f, v) in pairs {
        if fields {
            out.bulk(f);
        }
        if values {
            out.bulk(v);
        }
    }
}

pub fn hkeys(ctx: &mut Ctx, out: &mut Out) {
    get_all(ctx, out, true, false)
}

pub fn hvals(ctx: &mut Ctx, out: &mut Out) {
    get_all(ctx, out, false, true)
}

pub fn hgetall(ctx: &mut Ctx, out: &mut Out) {
    get_all(ctx, out, true, true)
}

pub fn hincrby(ctx: &mut Ctx, out: &mut Out) {
    let Some(incr) = ctx.arg_i64(3, out) else {
        return;
    };
    let (key, field) = (ctx.arg(1), ctx.arg(2));
    let lim = limits(ctx);
    let mut g = ctx.db().lock_key(key);
    let Ok(h) = write_or_create(&mut g, key, ctx.now_ms) else {
        return out.error(error::WRONGTYPE);
    };
    let cur = match h.get(field) {
        None => 0,
        Some(v) => match parse_i64(v) {
            Some(n) => n,
            None => return out.error(NOT_INT_VALUE),
        },
    };
    let Some(new) = cur.checked_add(incr) else {
        return out.error(error::OVERFLOW);
    };
    h.set(field, itoa::Buffer::new().format(new).as_bytes(), lim);
    ctx.dirty += 1;
    out.int(new);
    notify(ctx, NOTIFY_HASH, "hincrby", key);
}

pub fn hincrbyfloat(ctx: &mut Ctx, out: &mut Out) {
    let incr = match ld::parse(ctx.arg(3)) {
        ld::Parsed::Num(v) => v,
        ld::Parsed::Inf => return out.error(NAN_OR_INF),
        ld::Parsed::Invalid => return out.error(error::NOT_FLOAT),
    };
    let (key, field) = (ctx.arg(1), ctx.arg(2));
    let lim = limits(ctx);
    let mut g = ctx.db().lock_key(key);
    let Ok(h) = write_or_create(&mut g, key, ctx.now_ms) else {
        return out.error(error::WRONGTYPE);
    };
    let cur = match h.get(field) {
        None => Some(ld::parse(b"0")),
        Some(v) => match ld::parse(v) {
            ld::Parsed::Invalid => return out.error(NOT_FLOAT_VALUE),
            p => Some(p),
        },
    };
    let sum = match cur {
        Some(ld::Parsed::Num(cur)) => cur.add(incr),
        _ => None,
    };
    let Some(sum) = sum else {
        if h.is_empty() {
            g.remove(key);
        }
        return out.error(WOULD_BE_NAN_OR_INF);
    };
    let text = sum.to_human();
    h.set(field, text.as_bytes(), lim);
    ctx.dirty += 1;
    ctx.propagate_as(&[b"HSET", key, field, text.as_bytes()]);
    out.bulk(text.as_bytes());
    notify(ctx, NOTIFY_HASH, "hincrbyfloat", key);
}

/// `count` distinct indexes in 0..size (count < size), in random order.
pub(super) fn sample_distinct(size: usize, count: usize) -> Vec<usize> {
    let mut rng = rand::thread_rng();
    if count * 3 > size {
        let mut all: Vec<usize> = (0..size).collect();
        for i in 0..count {
            let j = rng.gen_range(i..size);
            all.swap(i, j);
        }
        all.truncate(count);
        all
    } else {
        let mut seen = hashbrown::HashSet::with_capacity(count);
        let mut picked = Vec::with_capacity(count);
        while picked.len() < count {
            let i = rng.gen_range(0..size);
            if seen.insert(i) {
                picked.push(i);
            }
        }
        picked
    }
}

pub fn hrandfield(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let argc = ctx.argv.len();
    if argc == 2 {
        let mut g = ctx.db().lock_key(key);
        return match read(ctx, &mut g, key) {
            Err(()) => out.error(error::WRONGTYPE),
            Ok(None) => out.null(),
            Ok(Some(h)) => out.bulk(h.pair_at(rand::thread_rng().gen_range(0..h.len())).0),
        };
    }
    let Some(l) = parse_i64(ctx.arg(2)) else {
        return out.error(error::NOT_INTEGER);
    };
    if l == i64::MIN {
        return out.error(COUNT_RANGE);
    }
    if argc > 4 || (argc == 4 && !ctx.arg_is(3, "withvalues")) {
        return out.error(error::SYNTAX);
    }
    let withvalues = argc == 4;
    if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
        return out.error(OUT_OF_RANGE);
    }
    let mut g = ctx.db().lock_key(key);
    let h = match read(ctx, &mut g, key) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(None) => return out.array(0),
        Ok(Some(h)) => h,
    };
    let resp3 = out.resp3;
    let emit = |out: &mut Out, i: usize| {
        let (f, v) = h.pair_at(i);
        if withvalues && resp3 {
            out.array(2);
        }
        out.bulk(f);
        if withvalues {
            out.bulk(v);
        }
    };
    let header = |out: &mut Out, n: usize| out.array(if withvalues && !resp3 { n * 2 } else { n });
    let size = h.len();
    let count = l.unsigned_abs() as usize;
    if count == 0 {
        return out.array(0);
    }
    if l < 0 || count == 1 {
        header(out, count);
        let mut rng = rand::thread_rng();
        for _ in 0..count {
            emit(out, rng.gen_range(0..size));
        }
    } else if count >= size {
        header(out, size);
        (0..size).for_each(|i| emit(out, i));
    } else {
        header(out, count);
        sample_distinct(size, count)
            .into_iter()
            .for_each(|i| emit(out, i));
    }
}

/// HSCAN/SSCAN options: COUNT and MATCH (a "*" pattern matches all).
pub(super) struct ScanOpts<'a> {
    pub count: usize,
    pub pattern: Option<&'a [u8]>,
}

impl ScanOpts<'_> {
    pub fn matches(&self, item: &[u8]) -> bool {
        self.pattern.is_none_or(|p| glob_match(p, item, false))
    }
}

pub(super) fn parse_scan_opts(argv: &[Bytes], start: usize) -> Result<ScanOpts<'_>, &'static str> {
    let mut o = ScanOpts {
        count: 10,
        pattern: None,
    };
    let mut i = start;
    while i < argv.len() {
        let has_value = i + 1 < argv.len();
        if argv[i].eq_ignore_ascii_case(b"count") && has_value {
            match parse_i64(&argv[i + 1]) {
                None => return Err(error::NOT_INTEGER),
                Some(n) if n < 1 => return Err(error::SYNTAX),
                Some(n) => o.count = n as usize,
            }
        } else if argv[i].eq_ignore_ascii_case(b"match") && has_value {
            o.pattern = Some(&argv[i + 1][..]).filter(|p| *p != b"*");
        } else {
            return Err(error::SYNTAX);
        }
        i += 2;
    }
    Ok(o)
}

/// The reply to a scan of a missing key.
pub(super) fn empty_scan(out: &mut Out) {
    out.array(2);
    out.bulk(b"0");
    out.array(0);
}

pub fn hscan(ctx: &mut Ctx, out: &mut Out) {
    let Some(mut cursor) = crate::util::parse_scan_cursor(ctx.arg(2)) else {
        return out.error(INVALID_CURSOR);
    };
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let h = match read(ctx, &mut g, key) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(None) => return empty_scan(out),
        Ok(Some(h)) => h,
    };
    let opts = match parse_scan_opts(ctx.argv, 3) {
        Ok(o) => o,
        Err(e) => return out.error(e),
    };
    let mut found: Vec<(&[u8], &[u8])> = Vec::new();
    match h {
        HashValue::Small(pairs) => {
            found.extend(pairs.iter().map(|(f, v)| (&f[..], &v[..])));
            cursor = 0;
        }
        HashValue::Table(t) => {
            let mut budget = opts.count.saturating_mul(20);
            loop {
                cursor = t.scan_step(cursor, |(f, v)| found.push((f, v)));
                budget -= 1;
                if cursor == 0 || budget == 0 || found.len() >= opts.count {
                    break;
                }
            }
        }
    }
    found.retain(|(f, _)| opts.matches(f));
    out.array(2);
    out.bulk(itoa::Buffer::new().format(cursor).as_bytes());
    out.array(found.len() * 2);
    for (f, v) in found {
        out.bulk(f);
        out.bulk(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_samples() {
        for (size, count) in [(10, 9), (1000, 5), (3, 1)] {
            let mut s = sample_distinct(size, count);
            assert_eq!(s.len(), count);
            s.sort_unstable();
            s.dedup();
            assert_eq!(s.len(), count);
            assert!(s.iter().all(|&i| i < size));
        }
    }
}
