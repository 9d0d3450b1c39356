//! SORT and SORT_RO: sort the elements of a list, set or sorted set,
//! numerically or lexicographically, optionally by weights read from other
//! keys (BY pattern, `*` replaced by the element, `->field` for a hash
//! field), with LIMIT, GET patterns and STORE into a list.
//!
//! The source is read under its own slot lock and released before any BY or
//! GET lookup; each of those locks just the slot of the key it reads, so
//! SORT never holds two slot locks at once.

use crate::commands::table::c;
use crate::commands::{Command, Ctx};
use crate::error;
use crate::keyspace::{Db, Entry, Value};
use crate::notify::{notify, NOTIFY_GENERIC, NOTIFY_LIST};
use crate::protocol::Out;
use crate::types::list::End;
use crate::types::zset::Limits;
use crate::types::{ListValue, ZSetValue};
use bytes::Bytes;
use std::cmp::Ordering;

const BAD_DOUBLE: &str = "ERR One or more scores can't be converted into double";
const BY_CLUSTER: &str = "ERR BY option of SORT denied in Cluster mode.";
const GET_CLUSTER: &str = "ERR GET option of SORT denied in Cluster mode.";

pub fn commands() -> Vec<Command> {
    let mut sort = super::table::c_with_keys(
        "sort",
        -2,
        "write denyoom @set @sortedset @list @dangerous",
        super::KeySpec::SortStore,
        "generic",
        "1.0.0",
        "Sort the elements in a list, set or sorted set",
        sort,
    );
    let mut sort_ro = c(
        "sort_ro",
        -2,
        "readonly @set @sortedset @list @dangerous",
        (1, 1, 1),
        "generic",
        "7.0.0",
        "Sort the elements in a list, set or sorted set. Read-only variant of SORT.",
        sort_ro,
    );
    // Redis files SORT under "generic" but gives it the data-type
    // categories, not @keyspace.
    for cmd in [&mut sort, &mut sort_ro] {
        cmd.acl_categories.retain(|c| *c != "keyspace");
    }
    vec![sort, sort_ro]
}

pub fn sort(ctx: &mut Ctx, out: &mut Out) {
    sort_generic(ctx, out, false)
}

pub fn sort_ro(ctx: &mut Ctx, out: &mut Out) {
    sort_generic(ctx, out, true)
}

/// One element being sorted and what it sorts by.
struct Item {
    ele: Vec<u8>,
    score: f64,
    /// ALPHA with BY: the looked-up value (None when missing).
    cmp: Option<Vec<u8>>,
}

fn sort_generic(ctx: &mut Ctx, out: &mut Out, readonly: bool) {
    let argc = ctx.argv.len();
    let mut desc = false;
    let mut alpha = false;
    let mut limit_start: i64 = 0;
    let mut limit_count: i64 = -1;
    let mut dontsort = false;
    let mut sortby: Option<&[u8]> = None;
    let mut storekey: Option<&Bytes> = None;
    let mut gets: Vec<&[u8]> = Vec::new();
    // BY and GET patterns may read any key: the user needs read access to all.
    let full_key_access = ctx.client.user.as_ref().is_none_or(|u| {
        u.unrestricted()
            || u.data()
                .check_unrestricted_keys(ctx.cmd, ctx.argv, crate::acl::PERM_R)
    });

    let mut j = 2;
    while j < argc {
        let left = argc - j - 1;
        if ctx.arg_is(j, "asc") {
            desc = false;
        } else if ctx.arg_is(j, "desc") {
            desc = true;
        } else if ctx.arg_is(j, "alpha") {
            alpha = true;
        } else if ctx.arg_is(j, "limit") && left >= 2 {
            let Some(s) = ctx.arg_i64(j + 1, out) else {
                return;
            };
            let Some(n) = ctx.arg_i64(j + 2, out) else {
                return;
            };
            limit_start = s;
            limit_count = n;
            j += 2;
        } else if !readonly && ctx.arg_is(j, "store") && left >= 1 {
            storekey = Some(&ctx.argv[j + 1]);
            j += 1;
        } else if ctx.arg_is(j, "by") && left >= 1 {
            let pat = ctx.arg(j + 1);
            sortby = Some(pat);
            if !pat.contains(&b'*') {
                dontsort = true;
            } else if ctx.hot.cluster_enabled {
                return out.error(BY_CLUSTER);
            } else if !full_key_access {
                return out
                    .error("ERR BY option of SORT denied due to insufficient ACL permissions.");
            }
            j += 1;
        } else if ctx.arg_is(j, "get") && left >= 1 {
            if ctx.hot.cluster_enabled {
                return out.error(GET_CLUSTER);
            }
            if !full_key_access {
                return out
                    .error("ERR GET option of SORT denied due to insufficient ACL permissions.");
            }
            gets.push(ctx.arg(j + 1));
            j += 1;
        } else {
            return out.error(error::SYNTAX);
        }
        j += 1;
    }

    let db = ctx.db();
    let key = ctx.arg(1);

    // Read the source under its lock, collecting the elements to sort.
    #[derive(PartialEq)]
    enum Kind {
        List,
        Set,
        ZSet,
    }
    let mut items: Vec<Item>;
    let (mut start, mut end);
    {
        let mut g = db.lock_key(key);
        let entry = g.get_mut(key, ctx.now_ms);
        if entry.is_some() {
            ctx.hit();
        } else {
            ctx.miss();
        }
        let kind = match entry.as_ref().map(|e| &e.value) {
            None | Some(Value::List(_)) => Kind::List,
            Some(Value::Set(_)) => Kind::Set,
            Some(Value::ZSet(_)) => Kind::ZSet,
            Some(_) => return out.error(error::WRONGTYPE),
        };
        // A set has no order of its own: sort it when storing the result,
        // so replicas and the AOF get the same list.
        if dontsort && kind == Kind::Set && storekey.is_some() {
            dontsort = false;
            alpha = true;
            sortby = None;
        }
        // Redis converts a listpack sorted set to its skiplist form here.
        let entry: Option<&Entry> = match entry {
            Some(e) => {
                crate::evict::touch(e);
                if let Value::ZSet(z) = &mut e.value {
                    if matches!(**z, ZSetValue::Small(_)) {
                        let mut v = Vec::with_capacity(z.len());
                        z.for_each_ordered(|s, m| v.push((s, crate::types::Elem::from(m))));
                        **z = ZSetValue::from_sorted(
                            v,
                            Limits {
                                max_entries: 0,
                                max_value: 0,
                            },
                        );
                    }
                }
                Some(&*e)
            }
            None => None,
        };
        let len = match entry.map(|e| &e.value) {
            Some(Value::List(l)) => l.len(),
            Some(Value::Set(s)) => s.len(),
            Some(Value::ZSet(z)) => z.len(),
            _ => 0,
        } as i64;

        start = limit_start.max(0).min(len);
        let count = limit_count.max(-1).min(len);
        end = if count < 0 {
            len - 1
        } else {
            start + count - 1
        };
        if start >= len {
            start = len - 1;
            end = len - 2;
        }
        if end >= len {
            end = len - 1;
        }

        let item = |ele: &[u8]| Item {
            ele: ele.to_vec(),
            score: 0.0,
            cmp: None,
        };
        items = Vec::new();
        let ranged = dontsort && kind != Kind::Set;
        match entry.map(|e| &e.value) {
            Some(Value::List(l)) if ranged => {
                if end >= start {
                    let n = (end - start + 1) as usize;
                    if desc {
                        items.extend(
                            l.items
                                .iter()
                                .rev()
                                .skip(start as usize)
                                .take(n)
                                .map(|e| item(e)),
                        );
                    } else {
                        items.extend(l.items.iter().skip(start as usize).take(n).map(|e| item(e)));
                    }
                    end -= start;
                    start = 0;
                }
            }
            Some(Value::ZSet(z)) if ranged => {
                let mut all: Vec<Vec<u8>> = Vec::with_capacity(z.len());
                z.for_each_ordered(|_, m| all.push(m.to_vec()));
                if desc {
                    all.reverse();
                }
                let n = (end - start + 1).max(0) as usize;
                items.extend(
                    all.into_iter()
                        .skip(start.max(0) as usize)
                        .take(n)
                        .map(|ele| Item {
                            ele,
                            score: 0.0,
                            cmp: None,
                        }),
                );
                end -= start;
                start = 0;
            }
            Some(Value::List(l)) => items.extend(l.items.iter().map(|e| item(e))),
            Some(Value::Set(s)) => s.for_each(|m| items.push(item(m))),
            Some(Value::ZSet(z)) => z.for_each_ordered(|_, m| items.push(item(m))),
            _ => {}
        }
    }

    // Weights, each looked up under its own lock.
    let mut bad_double = false;
    if !dontsort {
        for it in items.iter_mut() {
            let byval: Vec<u8> = match sortby {
                Some(pat) => match lookup_by_pattern(ctx, db, pat, &it.ele) {
                    Some(v) => v,
                    None => continue,
                },
                None => {
                    if !alpha {
                        match strtod_full(&it.ele) {
                            Some(s) => it.score = s,
                            None => bad_double = true,
                        }
                    }
                    continue;
                }
            };
            if alpha {
                it.cmp = Some(byval);
            } else {
                match strtod_full(&byval) {
                    Some(s) => it.score = s,
                    None => bad_double = true,
                }
            }
        }
        if !bad_double {
            let by = sortby.is_some();
            let store = storekey.is_some();
            items.sort_by(|a, b| {
                let o = compare(a, b, alpha, by, store);
                if desc {
                    o.reverse()
                } else {
                    o
                }
            });
        }
    }

    let outputlen = if end >= start {
        (end - start + 1) as usize
    } else {
        0
    } * gets.len().max(1);
    if bad_double {
        return out.error(BAD_DOUBLE);
    }
    let range = if end >= start {
        &items[start as usize..=end as usize]
    } else {
        &items[0..0]
    };
    match storekey {
        None => {
            out.array(outputlen);
            for it in range {
                if gets.is_empty() {
                    out.bulk(&it.ele);
                }
                for pat in &gets {
                    match lookup_by_pattern(ctx, db, pat, &it.ele) {
                        Some(v) => out.bulk(&v),
                        None => out.null(),
                    }
                }
            }
        }
        Some(dst) => {
            let mut list = ListValue::new();
            for it in range {
                if gets.is_empty() {
                    list.push(End::Right, &it.ele);
                }
                for pat in &gets {
                    let v = lookup_by_pattern(ctx, db, pat, &it.ele).unwrap_or_default();
                    list.push(End::Right, &v);
                }
            }
            let mut g = db.lock_key(dst);
            if outputlen > 0 {
                g.insert(dst, Entry::new(Value::List(Box::new(list))), false);
                ctx.dirty += outputlen as u64;
                ctx.modified = Some(vec![dst.clone()]);
                notify(ctx, NOTIFY_LIST, "sortstore", dst);
            } else if g.remove(dst).is_some() {
                ctx.dirty += 1;
                ctx.modified = Some(vec![dst.clone()]);
                notify(ctx, NOTIFY_GENERIC, "del", dst);
            }
            out.int(outputlen as i64);
        }
    }
}

fn compare(a: &Item, b: &Item, alpha: bool, by: bool, store: bool) -> Ordering {
    if !alpha {
        if a.score > b.score {
            Ordering::Greater
        } else if a.score < b.score {
            Ordering::Less
        } else {
            a.ele.cmp(&b.ele)
        }
    } else if by {
        match (&a.cmp, &b.cmp) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => {
                if store {
                    x.cmp(y)
                } else {
                    c_str_cmp(x, y)
                }
            }
        }
    } else if store {
        a.ele.cmp(&b.ele)
    } else {
        c_str_cmp(&a.ele, &b.ele)
    }
}

/// strcoll in the C locale: bytes up to the first NUL.
fn c_str_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let cut = |s: &[u8]| -> usize { s.iter().position(|&c| c == 0).unwrap_or(s.len()) };
    a[..cut(a)].cmp(&b[..cut(b)])
}

/// The value SORT's BY/GET pattern names for `ele`: `#` is the element
/// itself; otherwise the first `*` is replaced by the element and the key
/// read as a string, or, with `->field` after the `*`, as a hash field.
/// None for a pattern without `*`, a missing key or field, or a key of the
/// wrong type.
fn lookup_by_pattern(ctx: &Ctx, db: &Db, pat: &[u8], ele: &[u8]) -> Option<Vec<u8>> {
    if pat == b"#" {
        return Some(ele.to_vec());
    }
    let star = pat.iter().position(|&c| c == b'*')?;
    let after = &pat[star + 1..];
    let field = after
        .windows(2)
        .position(|w| w == b"->")
        .map(|f| star + 1 + f)
        .filter(|&f| f + 2 < pat.len());
    let key_end = field.unwrap_or(pat.len());
    let mut key = Vec::with_capacity(key_end + ele.len());
    key.extend_from_slice(&pat[..star]);
    key.extend_from_slice(ele);
    key.extend_from_slice(&pat[star + 1..key_end]);

    let mut g = db.lock_key(&key);
    let Some(e) = g.get(&key, ctx.now_ms) else {
        ctx.miss();
        return None;
    };
    ctx.hit();
    match (field, &e.value) {
        (Some(f), Value::Hash(h)) => h.get(&pat[f + 2..]).map(|v| v.to_vec()),
        (None, Value::Str(s)) => Some(s.to_vec()),
        _ => None,
    }
}

/// A weight as Redis reads it: C `strtod` over the whole (NUL-terminated)
/// string, rejecting trailing garbage, out-of-range values and NaN.
fn strtod_full(s: &[u8]) -> Option<f64> {
    let s = &s[..s.iter().position(|&c| c == 0).unwrap_or(s.len())];
    if s.is_empty() {
        return Some(0.0);
    }
    let ws = s
        .iter()
        .take_while(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))
        .count();
    let t = std::str::from_utf8(&s[ws..]).ok()?;
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let lower = body.to_ascii_lowercase();
    let v = if lower == "inf" || lower == "infinity" {
        f64::INFINITY
    } else if lower.starts_with("0x") {
        parse_hex_float(&lower[2..])?
    } else {
        if !lower
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'+' | b'-'))
        {
            return None;
        }
        let v: f64 = lower.parse().ok()?;
        // strtod reports ERANGE on overflow and on underflow.
        let mantissa_nonzero = lower
            .split('e')
            .next()
            .is_some_and(|m| m.bytes().any(|c| (b'1'..=b'9').contains(&c)));
        if v.is_infinite() || (mantissa_nonzero && (v == 0.0 || v.abs() < f64::MIN_POSITIVE)) {
            return None;
        }
        v
    };
    Some(if neg { -v } else { v })
}

/// The digits of a C hex float after "0x": hex digits, optional fraction,
/// optional binary exponent `p±n`.
fn parse_hex_float(s: &str) -> Option<f64> {
    let (mant, exp) = match s.find('p') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = match mant.find('.') {
        Some(i) => (&mant[..i], &mant[i + 1..]),
        None => (mant, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars() {
        v = v * 16.0 + c.to_digit(16)? as f64;
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += c.to_digit(16)? as f64 * scale;
        scale /= 16.0;
    }
    if let Some(e) = exp {
        let e: i32 = e.parse().ok()?;
        v *= 2f64.powi(e);
    }
    (v.is_finite()).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_parse_like_strtod() {
        assert_eq!(strtod_full(b"1.5"), Some(1.5));
        assert_eq!(strtod_full(b""), Some(0.0));
        assert_eq!(strtod_full(b"  7"), Some(7.0));
        assert_eq!(strtod_full(b"7 "), None);
        assert_eq!(strtod_full(b"   "), None);
        assert_eq!(strtod_full(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(strtod_full(b"nan"), None);
        assert_eq!(strtod_full(b"1e400"), None);
        assert_eq!(strtod_full(b"1e-400"), None);
        assert_eq!(strtod_full(b"0e-400"), Some(0.0));
        assert_eq!(strtod_full(b"0x10"), Some(16.0));
        assert_eq!(strtod_full(b"not-a-double"), None);
        assert_eq!(strtod_full(b"3\0junk"), Some(3.0));
    }
}
