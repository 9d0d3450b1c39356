//! String commands: GET/SET and their variants, MGET/MSET, APPEND,
//! GETRANGE/SETRANGE, the INCR family and INCRBYFLOAT.

use super::Ctx;
use crate::error;
use crate::keyspace::{Entry, SlotGuard, StrVal, Value};
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
            ctx.miss();
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
pub fn expire_at(cmd_name: &str, raw: &[u8], unit_ms: i64, absolute: bool, now_ms: u64) -> Result<u64, String> {
    let invalid = || format!("ERR invalid expire time in '{cmd_name}' command");
    let v = parse_i64(raw).ok_or_else(|| error::NOT_INTEGER.to_string())?;
    if v <= 0 {
        return Err(invalid());
    }
    let ms = v.checked_mul(unit_ms).ok_or_else(invalid)?;
    let at = if absolute { ms } else { ms.checked_add(now_ms as i64).ok_or_else(invalid)? };
    Ok(at as u64)
}

struct SetOptions {
    nx: bool,
    xx: bool,
    get: bool,
    expiry: Expiry,
}

fn parse_set_options(ctx: &Ctx, start: usize) -> Result<SetOptions, String> {
    let mut o = SetOptions { nx: false, xx: false, get: false, expiry: Expiry::None };
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
        _ => None,
    };
    let exists = g.contains(key, ctx.now_ms);
    if (opts.nx && exists) || (opts.xx && !exists) {
        return if opts.get { reply_old(out, old) } else { out.null() };
    }
    let mut entry = Entry::new(Value::Str(StrVal::from_bytes(ctx.arg(2))));
    if let Expiry::At(at) = opts.expiry {
        entry.expire_at_ms = at;
    }
    g.insert(key, entry, opts.expiry == Expiry::KeepTtl);
    ctx.dirty += 1;
    if opts.get {
        reply_old(out, old)
    } else {
        out.ok()
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
    out.int(1)
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
    out.ok()
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
        Read::Missing => None,
    };
    store(ctx, &mut g, key, StrVal::from_bytes(ctx.arg(2)), 0);
    reply_old(out, old)
}

pub fn getdel(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    match read(&mut g, key, ctx.now_ms) {
        Read::WrongType => out.error(error::WRONGTYPE),
        Read::Missing => out.null(),
        Read::Found(s) => {
            s.with_bytes(|b| out.bulk(b));
            g.remove(key);
            ctx.dirty += 1;
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
        Read::Missing => return out.null(),
        Read::Found(s) => s.with_bytes(|b| out.bulk(b)),
    }
    match expiry {
        Expiry::At(at) if at <= ctx.now_ms => {
            g.remove(key);
            ctx.dirty += 1;
        }
        Expiry::At(at) => {
            g.set_expire(key, at);
            ctx.dirty += 1;
        }
        Expiry::Persist => {
            if g.peek(key).is_some_and(|e| e.expire_at_ms != 0) {
                g.set_expire(key, 0);
                ctx.dirty += 1;
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
                ctx.miss();
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
    let mut guards = db.lock_keys(argv[1..].iter().step_by(2).map(|k| &k[..]));
    for pair in argv[1..].chunks(2) {
        let g = guards.for_key(&pair[0]);
        g.insert(&pair[0], Entry::new(Value::Str(StrVal::from_bytes(&pair[1]))), false);
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
        g.insert(&pair[0], Entry::new(Value::Str(StrVal::from_bytes(&pair[1]))), false);
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
    out.int(new_len as i64)
}

pub fn strlen(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    match read(&mut g, key, ctx.now_ms) {
        Read::WrongType => out.error(error::WRONGTYPE),
        Read::Missing => out.int(0),
        Read::Found(s) => out.int(s.len() as i64),
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
        Read::Missing => out.bulk(b""),
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
    out.int(len as i64)
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
    out.int(new)
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

pub fn incrbyfloat(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let now = ctx.now_ms;
    let incr_raw = ctx.arg(2);
    let Some(incr) = crate::util::parse_f64(incr_raw) else {
        return out.error(error::NOT_FLOAT);
    };
    let mut g = ctx.db().lock_key(key);
    let cur_raw: Vec<u8> = match g.get_mut(key, now) {
        None => b"0".to_vec(),
        Some(e) => match as_str(&e.value) {
            None => return out.error(error::WRONGTYPE),
            Some(s) => s.to_vec(),
        },
    };
    let Some(cur) = crate::util::parse_f64(&cur_raw) else {
        return out.error(error::NOT_FLOAT);
    };
    let sum = cur + incr;
    if sum.is_nan() || sum.is_infinite() {
        return out.error("ERR increment would produce NaN or Infinity");
    }
    let text = decimal::add_human(&cur_raw, incr_raw).unwrap_or_else(|| decimal::human_f64(sum));
    match g.get_mut(key, now) {
        Some(e) => e.value = Value::Str(StrVal::from_bytes(text.as_bytes())),
        None => g.insert(key, Entry::new(Value::Str(StrVal::from_bytes(text.as_bytes()))), false),
    }
    ctx.dirty += 1;
    out.bulk(text.as_bytes())
}

/// INCRBYFLOAT's result text. Redis adds in `long double` and prints with
/// `%.17Lf`, trailing zeros removed. Adding the two decimal strings exactly
/// and rounding to 17 places gives the same text without depending on the
/// platform's long double; f64 is the fallback for numbers too large for
/// exact 128-bit arithmetic.
mod decimal {
    const PLACES: u32 = 17;

    /// (mantissa, scale): value = mantissa / 10^scale.
    fn parse(s: &[u8]) -> Option<(i128, u32)> {
        let s = std::str::from_utf8(s).ok()?;
        let (num, exp) = match s.find(['e', 'E']) {
            Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
            None => (s, 0),
        };
        let (neg, num) = match num.as_bytes().first()? {
            b'-' => (true, &num[1..]),
            b'+' => (false, &num[1..]),
            _ => (false, num),
        };
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let digits = format!("{int}{frac}");
        if !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 36 {
            return None;
        }
        let mut m: i128 = if digits.is_empty() { 0 } else { digits.parse().ok()? };
        let mut scale = frac.len() as i32 - exp;
        while scale < 0 {
            m = m.checked_mul(10)?;
            scale += 1;
        }
        if scale > 36 {
            return None;
        }
        Some((if neg { -m } else { m }, scale as u32))
    }

    pub fn add_human(a: &[u8], b: &[u8]) -> Option<String> {
        let (ma, sa) = parse(a)?;
        let (mb, sb) = parse(b)?;
        let scale = sa.max(sb);
        let ma = ma.checked_mul(10i128.checked_pow(scale - sa)?)?;
        let mb = mb.checked_mul(10i128.checked_pow(scale - sb)?)?;
        let mut sum = ma.checked_add(mb)?;
        let mut scale = scale;
        // Round to 17 places, half to even.
        if scale > PLACES {
            let div = 10i128.checked_pow(scale - PLACES)?;
            let q = sum / div;
            let r = sum % div;
            let half = div / 2;
            let mut q2 = q;
            if r.abs() > half || (r.abs() == half && q % 2 != 0) {
                q2 += sum.signum();
            }
            sum = q2;
            scale = PLACES;
        }
        Some(render(sum, scale))
    }

    fn render(m: i128, scale: u32) -> String {
        let neg = m < 0;
        let digits = m.unsigned_abs().to_string();
        let (int, frac) = if scale == 0 {
            (digits, String::new())
        } else if digits.len() > scale as usize {
            let (i, f) = digits.split_at(digits.len() - scale as usize);
            (i.to_string(), f.to_string())
        } else {
            ("0".to_string(), format!("{:0>width$}", digits, width = scale as usize))
        };
        let frac = frac.trim_end_matches('0');
        let body = if frac.is_empty() { int } else { format!("{int}.{frac}") };
        if neg && body != "0" {
            format!("-{body}")
        } else {
            body
        }
    }

    pub fn human_f64(v: f64) -> String {
        let s = format!("{:.17}", v);
        let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
        if s == "-0" {
            "0".into()
        } else {
            s
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn matches_redis_outputs() {
            assert_eq!(add_human(b"10.5", b"0.1").unwrap(), "10.6");
            assert_eq!(add_human(b"1.1", b"2.2").unwrap(), "3.3");
            assert_eq!(add_human(b"17179869184", b"1.5").unwrap(), "17179869185.5");
            assert_eq!(add_human(b"0", b"5.0e3").unwrap(), "5000");
            assert_eq!(add_human(b"1", b"-1.1").unwrap(), "-0.1");
            let a = add_human(b"0", b"0.024390243902439025").unwrap();
            assert_eq!(add_human(a.as_bytes(), b"-0.024390243902439025").unwrap(), "0");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expire_arguments() {
        assert_eq!(expire_at("set", b"10", 1000, false, 5).unwrap(), 10005);
        assert_eq!(expire_at("set", b"0", 1000, false, 5).unwrap_err(), "ERR invalid expire time in 'set' command");
        assert_eq!(expire_at("set", b"-1", 1, true, 5).unwrap_err(), "ERR invalid expire time in 'set' command");
        assert!(expire_at("set", &b"9223372036854775807"[..], 1000, false, 5).is_err());
        assert_eq!(expire_at("set", b"x", 1000, false, 5).unwrap_err(), error::NOT_INTEGER);
    }
}
