//! XADD, XRANGE, XREVRANGE, XLEN, XDEL, XTRIM, XSETID.
//!
//! Propagation is made deterministic as in Redis: XADD's `*` / `<ms>-*`
//! becomes the ID chosen, and an approximate trim (`~`, whose outcome
//! depends on node sizes) becomes `=` with the resulting length (MAXLEN)
//! or first ID (MINID).

use super::*;
use crate::error;
use crate::keyspace::Entry;
use crate::types::stream::Trim;
use bytes::Bytes;

/// Trimming options shared by XADD and XTRIM.
struct TrimArgs {
    how: Option<Trim>,
    approx: bool,
    limit: u64,
    /// Index of the MAXLEN/MINID value (the `~`/`=` is just before it when given).
    arg_at: usize,
    /// Whether a `~`/`=` token precedes the value.
    has_op: bool,
}

struct AddArgs {
    trim: TrimArgs,
    nomkstream: bool,
    /// The ID argument's index (XADD).
    id_at: usize,
    id: Option<ParsedId>,
}

/// Redis's streamParseAddOrTrimArgsOrReply.
fn parse_add_or_trim(ctx: &Ctx, xadd: bool) -> Result<AddArgs, String> {
    let argv = ctx.argv;
    let argc = argv.len();
    let mut a = AddArgs {
        trim: TrimArgs {
            how: None,
            approx: false,
            limit: 0,
            arg_at: 0,
            has_op: false,
        },
        nomkstream: false,
        id_at: 0,
        id: None,
    };
    let mut limit_given = false;
    let mut i = 2;
    while i < argc {
        let more = argc - 1 - i;
        let opt = &argv[i][..];
        if xadd && opt == b"*" {
            break;
        } else if (opt.eq_ignore_ascii_case(b"maxlen") || opt.eq_ignore_ascii_case(b"minid"))
            && more > 0
        {
            if a.trim.how.is_some() {
                return Err("ERR syntax error, MAXLEN and MINID options at the same time are not compatible".into());
            }
            let maxlen = opt.eq_ignore_ascii_case(b"maxlen");
            a.trim.approx = false;
            a.trim.has_op = false;
            let next = &argv[i + 1][..];
            if more >= 2 && (next == b"~" || next == b"=") {
                a.trim.approx = next == b"~";
                a.trim.has_op = true;
                i += 1;
            }
            let v = &argv[i + 1][..];
            if maxlen {
                let n = crate::util::parse_i64(v).ok_or(error::NOT_INTEGER)?;
                if n < 0 {
                    return Err("ERR The MAXLEN argument must be >= 0.".into());
                }
                a.trim.how = Some(Trim::MaxLen(n as u64));
            } else {
                a.trim.how = Some(Trim::MinId(parse_strict(v)?));
            }
            i += 1;
            a.trim.arg_at = i;
        } else if opt.eq_ignore_ascii_case(b"limit") && more > 0 {
            let n = crate::util::parse_i64(&argv[i + 1]).ok_or(error::NOT_INTEGER)?;
            if n < 0 {
                return Err("ERR The LIMIT argument must be >= 0.".into());
            }
            a.trim.limit = n as u64;
            limit_given = true;
            i += 1;
        } else if xadd && opt.eq_ignore_ascii_case(b"nomkstream") {
            a.nomkstream = true;
        } else if xadd {
            a.id = Some(parse_id_full(opt, 0, true, true)?);
            break;
        } else {
            return Err(error::SYNTAX.into());
        }
        i += 1;
    }
    a.id_at = i;
    if a.trim.limit != 0 && a.trim.how.is_none() {
        return Err(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy".into(),
        );
    }
    if !xadd && a.trim.how.is_none() {
        return Err("ERR syntax error, XTRIM must be called with a trimming strategy".into());
    }
    if must_obey(ctx) {
        a.trim.limit = 0;
    } else if limit_given {
        if !a.trim.approx {
            return Err(
                "ERR syntax error, LIMIT cannot be used without the special ~ option".into(),
            );
        }
    } else if a.trim.approx {
        let n = 100 * ctx.hot.stream_node_max_entries as u64;
        a.trim.limit = if n == 0 { 10_000 } else { n.min(1_000_000) };
    } else {
        a.trim.limit = 0;
    }
    Ok(a)
}

/// The rewritten argv of an approximate trim: `= <what the stream is now>`.
fn rewrite_trim(argv: &mut [Bytes], t: &TrimArgs, s: &StreamValue) {
    let Some(how) = t.how else { return };
    if !t.approx {
        return;
    }
    argv[t.arg_at - 1] = Bytes::from_static(b"=");
    argv[t.arg_at] = match how {
        Trim::MaxLen(_) => Bytes::from(s.len().to_string()),
        Trim::MinId(_) => {
            let first = s.first_live().unwrap_or(StreamId::MAX);
            Bytes::from(first.to_string())
        }
    };
}

pub fn xadd(ctx: &mut Ctx, out: &mut Out) {
    let a = match parse_add_or_trim(ctx, true) {
        Ok(a) => a,
        Err(e) => return out.error(&e),
    };
    let field_at = a.id_at + 1;
    let nfields = ctx.argv.len().saturating_sub(field_at);
    if nfields < 2 || nfields % 2 == 1 {
        return out.error(&error::wrong_args("xadd"));
    }
    if let Some(p) = &a.id {
        if p.seq_given && p.id.is_zero() {
            return out.error("ERR The ID specified in XADD must be greater than 0-0");
        }
    }
    let key = ctx.arg(1);
    let now = ctx.now_ms;
    let limits = node_limits(ctx);
    let mut g = ctx.db().lock_key(key);
    let created = match write_stream(&mut g, key, now) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(Some(_)) => false,
        Ok(None) if a.nomkstream => return out.null(),
        Ok(None) => true,
    };
    let mut fresh = StreamValue::new();
    let s: &mut StreamValue = if created {
        &mut fresh
    } else {
        write_stream(&mut g, key, now)
            .ok()
            .flatten()
            .expect("checked above")
    };
    if s.last_id == StreamId::MAX {
        return out
            .error("ERR The stream has exhausted the last possible ID, unable to add more items");
    }
    let id = match &a.id {
        None => {
            let ms = now.max(s.last_id.ms);
            if ms == s.last_id.ms {
                s.last_id.incr()
            } else {
                Some(StreamId::new(ms, 0))
            }
        }
        Some(p) if p.seq_given => Some(p.id),
        Some(p) => {
            if s.last_id.ms == p.id.ms {
                if s.last_id.seq == u64::MAX {
                    None
                } else {
                    Some(StreamId::new(p.id.ms, s.last_id.seq + 1))
                }
            } else {
                Some(p.id)
            }
        }
    };
    let Some(id) = id.filter(|id| *id > s.last_id) else {
        return out.error(
            "ERR The ID specified in XADD is equal or smaller than the target stream top item",
        );
    };
    let pairs: Vec<&[u8]> = ctx.argv[field_at..].iter().map(|b| &b[..]).collect();
    s.append(id, &pairs, limits);
    bulk_id(out, id);
    ctx.dirty += 1;
    let mut argv = ctx.argv.to_vec();
    let mut trimmed = false;
    if let Some(how) = a.trim.how {
        trimmed = s.trim(how, a.trim.approx, a.trim.limit) > 0;
        rewrite_trim(&mut argv, &a.trim, s);
    }
    if a.id.as_ref().is_none_or(|p| !p.seq_given) {
        argv[a.id_at] = Bytes::from(id.to_string());
    }
    if created {
        g.insert(key, Entry::new(Value::Stream(Box::new(fresh))), false);
    }
    drop(g);
    ctx.propagate = Some(argv);
    notify_stream(ctx, "xadd", key);
    if trimmed {
        notify_stream(ctx, "xtrim", key);
    }
}

fn xrange_generic(ctx: &mut Ctx, out: &mut Out, rev: bool) {
    let (start_arg, end_arg) = if rev { (3, 2) } else { (2, 3) };
    let (mut start, sx) = match parse_interval(ctx.arg(start_arg), 0) {
        Ok(v) => v,
        Err(e) => return out.error(e),
    };
    if sx {
        match start.incr() {
            Some(s) => start = s,
            None => return out.error("ERR invalid start ID for the interval"),
        }
    }
    let (mut end, ex) = match parse_interval(ctx.arg(end_arg), u64::MAX) {
        Ok(v) => v,
        Err(e) => return out.error(e),
    };
    if ex {
        match end.decr() {
            Some(e) => end = e,
            None => return out.error("ERR invalid end ID for the interval"),
        }
    }
    let mut count: i64 = -1;
    let mut j = 4;
    while j < ctx.argv.len() {
        if ctx.arg_is(j, "COUNT") && j + 1 < ctx.argv.len() {
            let Some(n) = ctx.arg_i64(j + 1, out) else {
                return;
            };
            count = n.max(0);
            j += 2;
        } else {
            return out.error(error::SYNTAX);
        }
    }
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    match read_stream(&mut g, key, ctx.now_ms) {
        Err(()) => out.error(error::WRONGTYPE),
        Ok(None) => out.array(0),
        Ok(Some(_)) if count == 0 => out.null_array(),
        Ok(Some(s)) => {
            let n = if count < 0 { 0 } else { count as usize };
            reply_entries(out, &s.range(start, end, rev, n));
        }
    }
}

pub fn xrange(ctx: &mut Ctx, out: &mut Out) {
    xrange_generic(ctx, out, false)
}

pub fn xrevrange(ctx: &mut Ctx, out: &mut Out) {
    xrange_generic(ctx, out, true)
}

pub fn xlen(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    match read_stream(&mut g, key, ctx.now_ms) {
        Err(()) => out.error(error::WRONGTYPE),
        Ok(None) => out.int(0),
        Ok(Some(s)) => out.int(s.len() as i64),
    }
}

pub fn xdel(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let s = match write_stream(&mut g, key, ctx.now_ms) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(None) => return out.int(0),
        Ok(Some(s)) => s,
    };
    let mut ids = Vec::with_capacity(ctx.argv.len() - 2);
    for a in &ctx.argv[2..] {
        match parse_strict(a) {
            Ok(id) => ids.push(id),
            Err(e) => return out.error(e),
        }
    }
    let mut deleted = 0;
    let mut first = false;
    for id in ids {
        if s.delete(id) {
            if id == s.first_id {
                first = true;
            }
            if id > s.max_deleted_id {
                s.max_deleted_id = id;
            }
            deleted += 1;
        }
    }
    if deleted > 0 {
        if s.is_empty() {
            s.first_id = StreamId::MIN;
        } else if first {
            s.refresh_first_id();
        }
    }
    drop(g);
    if deleted > 0 {
        ctx.dirty += deleted;
        notify_stream(ctx, "xdel", key);
    }
    out.int(deleted as i64);
}

pub fn xtrim(ctx: &mut Ctx, out: &mut Out) {
    let a = match parse_add_or_trim(ctx, false) {
        Ok(a) => a,
        Err(e) => return out.error(&e),
    };
    // XTRIM's options end at the last argument (parse stops only at the end).
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let s = match write_stream(&mut g, key, ctx.now_ms) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(None) => return out.int(0),
        Ok(Some(s)) => s,
    };
    let how = a.trim.how.expect("parse requires a strategy");
    let deleted = s.trim(how, a.trim.approx, a.trim.limit);
    if deleted > 0 {
        let mut argv = ctx.argv.to_vec();
        rewrite_trim(&mut argv, &a.trim, s);
        drop(g);
        ctx.propagate = Some(argv);
        ctx.dirty += deleted;
        notify_stream(ctx, "xtrim", key);
    }
    out.int(deleted as i64);
}

pub fn xsetid(ctx: &mut Ctx, out: &mut Out) {
    let id = match parse_strict(ctx.arg(2)) {
        Ok(id) => id,
        Err(e) => return out.error(e),
    };
    let mut entries_added: i64 = -1;
    let mut max_xdel = StreamId::MIN;
    let mut i = 3;
    let argc = ctx.argv.len();
    while i < argc {
        let more = argc - 1 - i;
        if ctx.arg_is(i, "ENTRIESADDED") && more > 0 {
            let Some(n) = ctx.arg_i64(i + 1, out) else {
                return;
            };
            if n < 0 {
                return out.error("ERR entries_added must be positive");
            }
            entries_added = n;
            i += 2;
        } else if ctx.arg_is(i, "MAXDELETEDID") && more > 0 {
            match parse_strict(ctx.arg(i + 1)) {
                Ok(m) if id < m => {
                    return out.error("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id")
                }
                Ok(m) => max_xdel = m,
                Err(e) => return out.error(e),
            }
            i += 2;
        } else {
            return out.error(error::SYNTAX);
        }
    }
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let s = match write_stream(&mut g, key, ctx.now_ms) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(None) => return out.error(error::NO_SUCH_KEY),
        Ok(Some(s)) => s,
    };
    if !s.is_empty() {
        let max = s.last_live().unwrap_or(StreamId::MIN);
        if id < max {
            return out.error(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            );
        }
        if entries_added != -1 && s.len() > entries_added as u64 {
            return out.error("ERR The entries_added specified in XSETID is smaller than the target stream length");
        }
    }
    s.last_id = id;
    if entries_added != -1 {
        s.entries_added = entries_added as u64;
    }
    if !max_xdel.is_zero() {
        s.max_deleted_id = max_xdel;
    }
    drop(g);
    out.ok();
    ctx.dirty += 1;
    notify_stream(ctx, "xsetid", key);
}
