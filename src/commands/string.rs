//! String commands: GET/SET and their variants, MGET/MSET, APPEND,
//! GETRANGE/SETRANGE, the INCR family and INCRBYFLOAT.

use super::Ctx;
use crate::error;
use crate::keyspace::{Entry, SlotGuard, StrVal, Value};
use crate::notify::{notify, NOTIFY_GENERIC, NOTIFY_STRING};
use crate::protocol::Out;
use crate::util::parse_i64;

/// The string at `key`, or `Err` after writing WRONGTYPE.
pub fn as_str(v: &Value) -> Option<&StrVal> {
    match v {
        Value::Str(s) => Some(s),
        _ => None,
    }
}

pub fn as_str_mut(v: &mut Value) -> Option<&mut StrVal> {
    match v {
        Value::Str(s) => Some(s),
        _ => None,
    }
}

/// Outcome of reading a string key.
enum Read<'e> {
    Missing,
    Found(&'e StrVal),
    WrongType,
}

fn read<'e>(g: &'e mut SlotGuard<'_>, key: &[u8], now_ms: u64) -> Read<'e> {
    match g.get(key, now_ms) {
        None => Read::Missing,
        Some(e) => match as_str(&e.value) {
            Some(s) => Read::Found(s),
            None => Read::WrongType,
        },
    }
}

pub fn get(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    match read(&mut g, key, ctx.now_ms) {
        Read::Missing => {
            ctx.miss_key(key);
            out.null()
        }
        Read::Found(s) => {
            ctx.hit();
            s.with_bytes(|b| out.bulk(b))
        }
        Read::WrongType => out.error(error::WRONGTYPE),
    }
}

/// Expiry given to SET / GETEX, resolved to an absolute time.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Expiry {
    None,
    KeepTtl,
    Persist,
    At(u64),
}

/// Turn a relative or absolute expire argument into absolute ms, with
/// Redis's `invalid expire time in '<cmd>' command` error.
pub fn expire_at(
    cmd_name: &str,
    raw: &[u8],
    unit_ms: i64,
    absolute: bool,
    now_ms: u64,
) -> Result<u64, String> {
    let invalid = || format!("ERR invalid expire time in '{cmd_name}' command");
    let v = parse_i64(raw).ok_or_else(|| error::NOT_INTEGER.to_string())?;
    if v <= 0 {
        return Err(invalid());
    }
    let ms = v.checked_mul(unit_ms).ok_or_else(invalid)?;
    let at = if absolute {
        ms
    } else {
        ms.checked_add(now_ms as i64).ok_or_else(invalid)?
    };
    Ok(at as u64)
}

struct SetOptions {
    nx: bool,
    xx: bool,
    get: bool,
    expiry: Expiry,
}

fn parse_set_options(ctx: &Ctx, start: usize) -> Result<SetOptions, String> {
    let mut o = SetOptions {
        nx: false,
        xx: false,
        get: false,
        expiry: Expiry::None,
    };
    let mut i = start;
    let mut have_expire = false;
    while i < ctx.argv.len() {
        let a = ctx.arg(i);
        let next = ctx.argv.get(i + 1);
        let up = a.to_ascii_uppercase();
        match up.as_slice() {
            b"NX" if !o.xx => o.nx = true,
            b"XX" if !o.nx => o.xx = true,
            b"GET" => o.get = true,
            b"KEEPTTL" if !have_expire => {
                o.expiry = Expiry::KeepTtl;
                have_expire = true;
            }
            b"EX" | b"PX" | b"EXAT" | b"PXAT" if !have_expire && next.is_some() => {
                let (unit, abs) = match up.as_slice() {
                    b"EX" => (1000, false),
                    b"PX" => (1, false),
                    b"EXAT" => (1000, true),
                    _ => (1, true),
                };
                let at = expire_at("set", next.expect("checked"), unit, abs, ctx.now_ms)?;
                o.expiry = Expiry::At(at);
                have_expire = true;
                i += 1;
            }
            _ => return Err(error::SYNTAX.into()),
        }
        i += 1;
    }
    Ok(o)
}

pub fn set(ctx: &mut Ctx, out: &mut Out) {
    let opts = match parse_set_options(ctx, 3) {
        Ok(o) => o,
        Err(e) => return out.error(&e),
    };
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let old = match read(&mut g, key, ctx.now_ms) {
        Read::WrongType if opts.get => return out.error(error::WRONGTYPE),
        Read::Found(s) => Some(s.to_vec()),
        Read::Missing if opts.get => {
            ctx.miss_key(key);
            None
        }
        _ => None,
    };
    let exists = g.contains(key, ctx.now_ms);
    if (opts.nx && exists) || (opts.xx && !exists) {
        return if opts.get {
            reply_old(out, old)
        } else {
            out.null()
        };
    }
    let mut entry = Entry::new(Value::Str(StrVal::from_bytes(ctx.arg(2))));
    if let Expiry::At(at) = opts.expiry {
        entry.expire_at_ms = at;
    }
    g.insert(key, entry, opts.expiry == Expiry::KeepTtl);
    ctx.dirty += 1;
    if let Expiry::At(at) = opts.expiry {
        // A relative expiry would restart on replay: propagate the instant.
        let mut n = itoa::Buffer::new();
        ctx.propagate_as(&[b"SET", key, ctx.arg(2), b"PXAT", n.format(at).as_bytes()]);
    }
    if opts.get {
        reply_old(out, old)
    } else {
        out.ok()
    }
    notify(ctx, NOTIFY_STRING, "set", key);
    if matches!(opts.expiry, Expiry::At(_)) {
        notify(ctx, NOTIFY_GENERIC, "expire", key);
    }
}

fn reply_old(out: &mut Out, old: Option<Vec<u8>>) {
    match old {
        Some(v) => out.bulk(&v),
        None => out.null(),
    }
}

/// Store a string, replacing any value and clearing its TTL.
fn store(ctx: &mut Ctx, g: &mut SlotGuard<'_>, key: &[u8], value: StrVal, expire_at_ms: u64) {
    let mut e = Entry::new(Value::Str(value));
    e.expire_at_ms = expire_at_ms;
    g.insert(key, e, false);
    ctx.dirty += 1;
}

pub fn setnx(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    if g.contains(key, ctx.now_ms) {
        return out.int(0);
    }
    store(ctx, &mut g, key, StrVal::from_bytes(ctx.arg(2)), 0);
    out.int(1);
    notify(ctx, NOTIFY_STRING, "set", key);
}

fn set_with_expire(ctx: &mut Ctx, out: &mut Out, unit_ms: i64) {
    let name = ctx.cmd.name.clone();
    let at = match expire_at(&name, ctx.arg(2), unit_ms, false, ctx.now_ms) {
        Ok(at) => at,
        Err(e) => return out.error(&e),
    };
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    store(ctx, &mut g, key, StrVal::from_bytes(ctx.arg(3)), at);
    let mut n = itoa::Buffer::new();
    ctx.propagate_as(&[b"SET", key, ctx.arg(3), b"PXAT", n.format(at).as_bytes()]);
    out.ok();
    notify(ctx, NOTIFY_STRING, "set", key);
    notify(ctx, NOTIFY_GENERIC, "expire", key);
}

pub fn setex(ctx: &mut Ctx, out: &mut Out) {
    set_with_expire(ctx, out, 1000)
}

pub fn psetex(ctx: &mut Ctx, out: &mut Out) {
    set_with_expire(ctx, out, 1)
}

pub fn getset(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let old = match read(&mut g, key, ctx.now_ms) {
        Read::WrongType => return out.error(error::WRONGTYPE),
        Read::Found(s) => Some(s.to_vec()),
        Read::Missing => {
            ctx.miss_key(key);
            None
        }
    };
    store(ctx, &mut g, key, StrVal::from_bytes(ctx.arg(2)), 0);
    reply_old(out, old);
    notify(ctx, NOTIFY_STRING, "set", key);
}

pub fn getdel(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    match read(&mut g, key, ctx.now_ms) {
        Read::WrongType => out.error(error::WRONGTYPE),
        Read::Missing => {
            ctx.miss_key(key);
            out.null()
        }
        Read::Found(s) => {
            s.with_bytes(|b| out.bulk(b));
            g.remove(key);
            ctx.dirty += 1;
            ctx.propagate_as(&[b"DEL", key]);
            notify(ctx, NOTIFY_GENERIC, "del", key);
        }
    }
}

pub fn getex(ctx: &mut Ctx, out: &mut Out) {
    let mut expiry = Expiry::None;
    let mut i = 2;
    while i < ctx.argv.len() {
        let up = ctx.arg(i).to_ascii_uppercase();
        let has_next = i + 1 < ctx.argv.len();
        match up.as_slice() {
            b"PERSIST" if expiry == Expiry::None => expiry = Expiry::Persist,
            b"EX" | b"PX" | b"EXAT" | b"PXAT" if expiry == Expiry::None && has_next => {
                let (unit, abs) = match up.as_slice() {
                    b"EX" => (1000, false),
                    b"PX" => (1, false),
                    b"EXAT" => (1000, true),
                    _ => (1, true),
                };
                match expire_at("getex", ctx.arg(i + 1), unit, abs, ctx.now_ms) {
                    Ok(at) => expiry = Expiry::At(at),
                    Err(e) => return out.error(&e),
                }
                i += 1;
            }
            _ => return out.error(error::SYNTAX),
        }
        i += 1;
    }
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    match read(&mut g, key, ctx.now_ms) {
        Read::WrongType => return out.error(error::WRONGTYPE),
        Read::Missing => {
            ctx.miss_key(key);
            return out.null();
        }
        Read::Found(s) => s.with_bytes(|b| out.bulk(b)),
    }
    match expiry {
        Expiry::At(at) if at <= ctx.now_ms => {
            g.remove(key);
            ctx.dirty += 1;
            ctx.propagate_as(&[b"DEL", key]);
            notify(ctx, NOTIFY_GENERIC, "del", key);
        }
        Expiry::At(at) => {
            g.set_expire(key, at);
            ctx.dirty += 1;
            let mut n = itoa::Buffer::new();
            ctx.propagate_as(&[b"PEXPIREAT", key, n.format(at).as_bytes()]);
            notify(ctx, NOTIFY_GENERIC, "expire", key);
        }
        Expiry::Persist => {
            if g.peek(key).is_some_and(|e| e.expire_at_ms != 0) {
                g.set_expire(key, 0);
                ctx.dirty += 1;
                ctx.propagate_as(&[b"PERSIST", key]);
                notify(ctx, NOTIFY_GENERIC, "persist", key);
            }
        }
        _ => {}
    }
}

pub fn mget(ctx: &mut Ctx, out: &mut Out) {
    out.array(ctx.argv.len() - 1);
    let db = ctx.db();
    for key in &ctx.argv[1..] {
        let mut g = db.lock_key(key);
        match read(&mut g, key, ctx.now_ms) {
            Read::Found(s) => {
                ctx.hit();
                s.with_bytes(|b| out.bulk(b))
            }
            _ => {
                ctx.miss_key(key);
                out.null()
            }
        }
    }
}

pub fn mset(ctx: &mut Ctx, out: &mut Out) {
    if ctx.argv.len() % 2 == 0 {
        return out.error(&error::wrong_args(&ctx.cmd.name));
    }
    let db = ctx.db();
    let argv = ctx.argv;
    // Each key's slot is computed once, for locking and for finding its lock.
    let slots: Vec<u16> = argv[1..]
        .iter()
        .step_by(2)
        .map(|k| shoal_cluster::key_hash_slot(k))
        .collect();
    let mut guards = db.lock_slots(slots.iter().copied());
    for (pair, &slot) in argv[1..].chunks(2).zip(&slots) {
        let g = guards.for_slot(slot);
        g.insert(
            &pair[0],
            Entry::new(Value::Str(StrVal::from_bytes(&pair[1]))),
            false,
        );
        notify(ctx, NOTIFY_STRING, "set", &pair[0]);
    }
    ctx.dirty += (argv.len() / 2) as u64;
    out.ok()
}

pub fn msetnx(ctx: &mut Ctx, out: &mut Out) {
    if ctx.argv.len() % 2 == 0 {
        return out.error(&error::wrong_args(&ctx.cmd.name));
    }
    let db = ctx.db();
    let argv = ctx.argv;
    let mut guards = db.lock_keys(argv[1..].iter().step_by(2).map(|k| &k[..]));
    for pair in argv[1..].chunks(2) {
        if guards.for_key(&pair[0]).contains(&pair[0], ctx.now_ms) {
            return out.int(0);
        }
    }
    for pair in argv[1..].chunks(2) {
        let g = guards.for_key(&pair[0]);
        g.insert(
            &pair[0],
            Entry::new(Value::Str(StrVal::from_bytes(&pair[1]))),
            false,
        );
        notify(ctx, NOTIFY_STRING, "set", &pair[0]);
    }
    ctx.dirty += (argv.len() / 2) as u64;
    out.int(1)
}

/// Check a string's new length against proto-max-bulk-len.
fn check_len(ctx: &Ctx, len: u64) -> Result<(), &'static str> {
    if len > ctx.hot.proto_max_bulk_len as u64 {
        Err(error::STRING_TOO_LONG)
    } else {
        Ok(())
    }
}

pub fn append(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let extra = ctx.arg(2);
    let mut g = ctx.db().lock_key(key);
    let now = ctx.now_ms;
    let cur_len = match read(&mut g, key, now) {
        Read::WrongType => return out.error(error::WRONGTYPE),
        Read::Missing => None,
        Read::Found(s) => Some(s.len()),
    };
    let new_len = match cur_len {
        None => {
            store(ctx, &mut g, key, StrVal::from_bytes_no_int(extra), 0);
            extra.len()
        }
        Some(len) => {
            if let Err(e) = check_len(ctx, (len + extra.len()) as u64) {
                return out.error(e);
            }
            let e = g.get_mut(key, now).expect("present");
            let s = as_str_mut(&mut e.value).expect("checked type");
            let v = s.make_raw();
            v.extend_from_slice(extra);
            ctx.dirty += 1;
            v.len()
        }
    };
    out.int(new_len as i64);
    notify(ctx, NOTIFY_STRING, "append", key);
}

pub fn strlen(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    match read(&mut g, key, ctx.now_ms) {
        Read::WrongType => out.error(error::WRONGTYPE),
        Read::Missing => {
            ctx.miss_key(key);
            out.int(0)
        }
        Read::Found(s) => {
            ctx.hit();
            out.int(s.len() as i64)
        }
    }
}

pub fn getrange(ctx: &mut Ctx, out: &mut Out) {
    let (Some(start), Some(end)) = (parse_i64(ctx.arg(2)), parse_i64(ctx.arg(3))) else {
        return out.error(error::NOT_INTEGER);
    };
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    match read(&mut g, key, ctx.now_ms) {
        Read::WrongType => out.error(error::WRONGTYPE),
        Read::Missing => {
            ctx.miss_key(key);
            out.bulk(b"")
        }
        Read::Found(s) => s.with_bytes(|b| {
            let len = b.len() as i64;
            // Redis: both negative and start > end is empty.
            if start < 0 && end < 0 && start > end {
                return out.bulk(b"");
            }
            let mut start = if start < 0 { len + start } else { start };
            let mut end = if end < 0 { len + end } else { end };
            start = start.max(0);
            end = end.max(0);
            if end >= len {
                end = len - 1;
            }
            if start > end || len == 0 {
                out.bulk(b"")
            } else {
                out.bulk(&b[start as usize..=end as usize])
            }
        }),
    }
}

pub fn setrange(ctx: &mut Ctx, out: &mut Out) {
    let Some(offset) = parse_i64(ctx.arg(2)) else {
        return out.error(error::NOT_INTEGER);
    };
    if offset < 0 {
        return out.error("ERR offset is out of range");
    }
    let key = ctx.arg(1);
    let value = ctx.arg(3);
    let now = ctx.now_ms;
    let mut g = ctx.db().lock_key(key);
    let cur_len = match read(&mut g, key, now) {
        Read::WrongType => return out.error(error::WRONGTYPE),
        Read::Missing => None,
        Read::Found(s) => Some(s.len()),
    };
    if value.is_empty() {
        return out.int(cur_len.unwrap_or(0) as i64);
    }
    let needed = offset as u64 + value.len() as u64;
    if let Err(e) = check_len(ctx, needed) {
        return out.error(e);
    }
    let offset = offset as usize;
    let len = match cur_len {
        None => {
            let mut v = vec![0u8; offset + value.len()];
            v[offset..].copy_from_slice(value);
            let n = v.len();
            store(ctx, &mut g, key, StrVal::from_vec_raw(v), 0);
            n
        }
        Some(_) => {
            let e = g.get_mut(key, now).expect("present");
            let v = as_str_mut(&mut e.value).expect("checked type").make_raw();
            if v.len() < offset + value.len() {
                v.resize(offset + value.len(), 0);
            }
            v[offset..offset + value.len()].copy_from_slice(value);
            ctx.dirty += 1;
            v.len()
        }
    };
    out.int(len as i64);
    notify(ctx, NOTIFY_STRING, "setrange", key);
}

fn incr_by(ctx: &mut Ctx, out: &mut Out, delta: i64) {
    let key = ctx.arg(1);
    let now = ctx.now_ms;
    let mut g = ctx.db().lock_key(key);
    let cur = match g.get_mut(key, now) {
        None => 0,
        Some(e) => match as_str(&e.value) {
            None => return out.error(error::WRONGTYPE),
            Some(s) => match s.as_i64() {
                Some(v) => v,
                None => return out.error(error::NOT_INTEGER),
            },
        },
    };
    let Some(new) = cur.checked_add(delta) else {
        return out.error(error::OVERFLOW);
    };
    match g.get_mut(key, now) {
        Some(e) => e.value = Value::Str(StrVal::Int(new)),
        None => g.insert(key, Entry::new(Value::Str(StrVal::Int(new))), false),
    }
    ctx.dirty += 1;
    out.int(new);
    notify(ctx, NOTIFY_STRING, "incrby", key);
}

pub fn incr(ctx: &mut Ctx, out: &mut Out) {
    incr_by(ctx, out, 1)
}

pub fn decr(ctx: &mut Ctx, out: &mut Out) {
    incr_by(ctx, out, -1)
}

pub fn incrby(ctx: &mut Ctx, out: &mut Out) {
    if let Some(d) = ctx.arg_i64(2, out) {
        incr_by(ctx, out, d)
    }
}

pub fn decrby(ctx: &mut Ctx, out: &mut Out) {
    let Some(d) = ctx.arg_i64(2, out) else { return };
    if d == i64::MIN {
        return out.error("ERR decrement would overflow");
    }
    incr_by(ctx, out, -d)
}

/// Adds in 80-bit long double and prints with `%.17Lf` as Redis does, so
/// `INCRBYFLOAT k 1000.1` on a missing key gives Redis's
/// "1000.09999999999999998" (see `crate::longdouble`).
pub fn incrbyfloat(ctx: &mut Ctx, out: &mut Out) {
    use crate::longdouble as ld;
    let key = ctx.arg(1);
    let now = ctx.now_ms;
    let mut g = ctx.db().lock_key(key);
    let cur = match g.get_mut(key, now) {
        None => ld::parse(b"0"),
        Some(e) => match as_str(&e.value) {
            None => return out.error(error::WRONGTYPE),
            Some(s) => s.with_bytes(ld::parse),
        },
    };
    let incr = ld::parse(ctx.arg(2));
    let (cur, incr) = match (cur, incr) {
        (ld::Parsed::Invalid, _) | (_, ld::Parsed::Invalid) => return out.error(error::NOT_FLOAT),
        (ld::Parsed::Num(c), ld::Parsed::Num(i)) => (c, i),
        _ => return out.error(NAN_OR_INF),
    };
    let Some(sum) = cur.add(incr) else {
        return out.error(NAN_OR_INF);
    };
    let text = sum.to_human();
    match g.get_mut(key, now) {
        Some(e) => e.value = Value::Str(StrVal::from_bytes(text.as_bytes())),
        None => g.insert(
            key,
            Entry::new(Value::Str(StrVal::from_bytes(text.as_bytes()))),
            false,
        ),
    }
    ctx.dirty += 1;
    // The sum depends on the float arithmetic: replay the result.
    ctx.propagate_as(&[b"SET", key, text.as_bytes(), b"KEEPTTL"]);
    out.bulk(text.as_bytes());
    notify(ctx, NOTIFY_STRING, "incrbyfloat", key);
}

const NAN_OR_INF: &str = "ERR increment would produce NaN or Infinity";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expire_arguments() {
        assert_eq!(expire_at("set", b"10", 1000, false, 5).unwrap(), 10005);
        assert_eq!(
            expire_at("set", b"0", 1000, false, 5).unwrap_err(),
            "ERR invalid expire time in 'set' command"
        );
        assert_eq!(
            expire_at("set", b"-1", 1, true, 5).unwrap_err(),
            "ERR invalid expire time in 'set' command"
        );
        assert!(expire_at("set", &b"9223372036854775807"[..], 1000, false, 5).is_err());
        assert_eq!(
            expire_at("set", b"x", 1000, false, 5).unwrap_err(),
            error::NOT_INTEGER
        );
    }
}
