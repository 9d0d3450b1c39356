//! Consumer groups: XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM, and the
//! delivery XREADGROUP does (pending entries, last ID, read counter).
//!
//! XCLAIM and XAUTOCLAIM propagate, as Redis does, one idempotent
//! `XCLAIM key group consumer 0 id TIME t RETRYCOUNT n FORCE JUSTID LASTID
//! last` per entry they changed (and XGROUP SETID when only the last ID moved).

use super::*;
use crate::error;
use crate::keyspace::Entry;
use crate::types::stream::{Group, INVALID_ENTRIES_READ};
use bytes::Bytes;

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

/// The XCLAIM that recreates pending entry `id` of `group` on a replica.
fn xclaim_record(key: &[u8], group_name: &[u8], g: &Group, id: StreamId) -> Vec<Bytes> {
    let (consumer, time, count) = match g.pel.get(&id) {
        Some(n) => (n.consumer.to_vec(), n.delivery_time, n.delivery_count),
        None => (Vec::new(), 0, 0),
    };
    vec![
        b("XCLAIM"),
        Bytes::copy_from_slice(key),
        Bytes::copy_from_slice(group_name),
        Bytes::from(consumer),
        b("0"),
        Bytes::from(id.to_string()),
        b("TIME"),
        Bytes::from(time.to_string()),
        b("RETRYCOUNT"),
        Bytes::from(count.to_string()),
        b("FORCE"),
        b("JUSTID"),
        b("LASTID"),
        Bytes::from(g.last_id.to_string()),
    ]
}

fn setid_record(key: &[u8], group_name: &[u8], g: &Group) -> Vec<Bytes> {
    vec![
        b("XGROUP"),
        b("SETID"),
        Bytes::copy_from_slice(key),
        Bytes::copy_from_slice(group_name),
        Bytes::from(g.last_id.to_string()),
        b("ENTRIESREAD"),
        Bytes::from(g.entries_read.to_string()),
    ]
}

/// Queue several records as this command's propagation (the last one as
/// the command's own, so an empty list propagates nothing).
fn propagate_records(ctx: &mut Ctx, mut recs: Vec<Vec<Bytes>>) {
    let last = recs.pop();
    for r in recs {
        crate::propagate::command(ctx.client.db, r);
    }
    ctx.propagate = Some(last.unwrap_or_default());
}

/// XREADGROUP `>`: deliver entries from `start` to `consumer`, writing
/// the entries array to `out`.
#[allow(clippy::too_many_arguments)]
pub(super) fn deliver_new(
    s: &mut StreamValue,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    start: StreamId,
    count: usize,
    noack: bool,
    now: u64,
    out: &mut Out,
    props: &mut Vec<Vec<Bytes>>,
) {
    let ids: Vec<StreamId> = {
        let entries = s.range(start, StreamId::MAX, false, count);
        reply_entries(out, &entries);
        entries.iter().map(|e| e.id).collect()
    };
    let mut moved = false;
    for id in ids {
        if id > s.groups[group].last_id {
            s.advance_group(group, id);
            moved = true;
        }
        let g = s.groups.get_mut(group).expect("checked");
        if !noack {
            let n = g.assign(id, consumer, now);
            n.delivery_time = now;
            n.delivery_count = 1;
            props.push(xclaim_record(key, group, g, id));
        }
    }
    if noack && moved {
        props.push(setid_record(key, group, &s.groups[group]));
    }
}

/// XREADGROUP with an ID: the consumer's own pending entries after `from`.
pub(super) fn deliver_history(
    s: &mut StreamValue,
    group: &[u8],
    consumer: &[u8],
    from: StreamId,
    count: usize,
    now: u64,
    out: &mut Out,
) {
    let Some(start) = from.incr() else {
        return out.array(0);
    };
    let ids: Vec<StreamId> = {
        let c = &s.groups[group].consumers[consumer];
        let it = c.pel.range(start..).copied();
        if count == 0 {
            it.collect()
        } else {
            it.take(count).collect()
        }
    };
    out.array(ids.len());
    let mut found = Vec::with_capacity(ids.len());
    for id in &ids {
        match s.get(*id) {
            Some(e) => {
                reply_entry(out, &e);
                found.push(*id);
            }
            None => {
                out.array(2);
                bulk_id(out, *id);
                out.null_array();
            }
        }
    }
    let g = s.groups.get_mut(group).expect("checked");
    for id in found {
        if let Some(n) = g.pel.get_mut(&id) {
            n.delivery_time = now;
            n.delivery_count += 1;
        }
    }
}

fn subcommand_syntax(ctx: &Ctx) -> String {
    format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        String::from_utf8_lossy(ctx.arg(1)),
        String::from_utf8_lossy(ctx.arg(0)).to_uppercase()
    )
}

/// CREATE/SETID options after the ID: MKSTREAM (CREATE), ENTRIESREAD n.
fn parse_group_opts(ctx: &Ctx, create: bool) -> Result<(bool, i64), String> {
    let mut mkstream = false;
    let mut entries_read = INVALID_ENTRIES_READ;
    let mut i = 5;
    while i < ctx.argv.len() {
        if create && ctx.arg_is(i, "MKSTREAM") {
            mkstream = true;
            i += 1;
        } else if ctx.arg_is(i, "ENTRIESREAD") && i + 1 < ctx.argv.len() {
            let n = crate::util::parse_i64(ctx.arg(i + 1)).ok_or(error::NOT_INTEGER)?;
            if n < 0 && n != INVALID_ENTRIES_READ {
                return Err("ERR value for ENTRIESREAD must be positive or -1".into());
            }
            entries_read = n;
            i += 2;
        } else {
            return Err(subcommand_syntax(ctx));
        }
    }
    Ok((mkstream, entries_read))
}

const KEY_REQUIRED: &str = "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.";

fn no_such_group(group: &[u8], key: &[u8]) -> String {
    format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        String::from_utf8_lossy(group),
        String::from_utf8_lossy(key)
    )
}

pub fn xgroup_create(ctx: &mut Ctx, out: &mut Out) {
    let (mkstream, entries_read) = match parse_group_opts(ctx, true) {
        Ok(v) => v,
        Err(e) => return out.error(&e),
    };
    if ctx.argv.len() > 8 {
        return out.error(&subcommand_syntax(ctx));
    }
    let key = ctx.arg(2);
    let name = ctx.arg(3);
    let mut g = ctx.db().lock_key(key);
    let exists = match write_stream(&mut g, key, ctx.now_ms) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(s) => s.is_some(),
    };
    if !exists && !mkstream {
        return out.error(KEY_REQUIRED);
    }
    let last = write_stream(&mut g, key, ctx.now_ms)
        .ok()
        .flatten()
        .map(|s| s.last_id)
        .unwrap_or(StreamId::MIN);
    let id = if ctx.arg(4) == b"$" {
        last
    } else {
        match parse_strict(ctx.arg(4)) {
            Ok(id) => id,
            Err(e) => return out.error(e),
        }
    };
    if !exists {
        g.insert(key, Entry::new(Value::Stream(Box::default())), false);
        ctx.dirty += 1;
    }
    let s = write_stream(&mut g, key, ctx.now_ms)
        .ok()
        .flatten()
        .expect("present");
    if s.groups.contains_key(name) {
        return out.error("BUSYGROUP Consumer Group name already exists");
    }
    s.groups.insert(name.into(), Group::new(id, entries_read));
    drop(g);
    out.ok();
    ctx.dirty += 1;
    notify_stream(ctx, "xgroup-create", key);
}

/// The stream and group an XGROUP subcommand works on, or its error.
fn stream_and_group<'e>(
    g: &'e mut SlotGuard<'_>,
    key: &[u8],
    name: &[u8],
    now: u64,
) -> Result<&'e mut StreamValue, String> {
    match write_stream(g, key, now) {
        Err(()) => Err(error::WRONGTYPE.into()),
        Ok(None) => Err(KEY_REQUIRED.into()),
        Ok(Some(s)) if !s.groups.contains_key(name) => Err(no_such_group(name, key)),
        Ok(Some(s)) => Ok(s),
    }
}

pub fn xgroup_setid(ctx: &mut Ctx, out: &mut Out) {
    let (_, entries_read) = match parse_group_opts(ctx, false) {
        Ok(v) => v,
        Err(e) => return out.error(&e),
    };
    if ctx.argv.len() != 5 && ctx.argv.len() != 7 {
        return out.error(&subcommand_syntax(ctx));
    }
    let key = ctx.arg(2);
    let name = ctx.arg(3);
    let mut g = ctx.db().lock_key(key);
    let s = match stream_and_group(&mut g, key, name, ctx.now_ms) {
        Ok(s) => s,
        Err(e) => return out.error(&e),
    };
    let id = if ctx.arg(4) == b"$" {
        s.last_id
    } else {
        match parse_id_full(ctx.arg(4), 0, false, false) {
            Ok(p) => p.id,
            Err(e) => return out.error(e),
        }
    };
    let grp = s.groups.get_mut(name).expect("checked");
    grp.last_id = id;
    grp.entries_read = entries_read;
    drop(g);
    out.ok();
    ctx.dirty += 1;
    notify_stream(ctx, "xgroup-setid", key);
}

pub fn xgroup_destroy(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(2);
    let name = ctx.arg(3);
    let mut g = ctx.db().lock_key(key);
    let s = match write_stream(&mut g, key, ctx.now_ms) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(None) => return out.error(KEY_REQUIRED),
        Ok(Some(s)) => s,
    };
    if s.groups.remove(name).is_none() {
        return out.int(0);
    }
    drop(g);
    out.int(1);
    ctx.dirty += 1;
    notify_stream(ctx, "xgroup-destroy", key);
}

pub fn xgroup_createconsumer(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(2);
    let name = ctx.arg(3);
    let mut g = ctx.db().lock_key(key);
    let s = match stream_and_group(&mut g, key, name, ctx.now_ms) {
        Ok(s) => s,
        Err(e) => return out.error(&e),
    };
    let created = s
        .groups
        .get_mut(name)
        .expect("checked")
        .create_consumer(ctx.arg(4), ctx.now_ms);
    drop(g);
    out.int(created as i64);
    if created {
        ctx.dirty += 1;
        notify_stream(ctx, "xgroup-createconsumer", key);
    }
}

pub fn xgroup_delconsumer(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(2);
    let name = ctx.arg(3);
    let mut g = ctx.db().lock_key(key);
    let s = match stream_and_group(&mut g, key, name, ctx.now_ms) {
        Ok(s) => s,
        Err(e) => return out.error(&e),
    };
    let grp = s.groups.get_mut(name).expect("checked");
    let Some(c) = grp.consumers.remove(ctx.arg(4)) else {
        return out.int(0);
    };
    for id in &c.pel {
        grp.pel.remove(id);
    }
    drop(g);
    out.int(c.pel.len() as i64);
    ctx.dirty += 1;
    notify_stream(ctx, "xgroup-delconsumer", key);
}

pub fn xgroup_help(_ctx: &mut Ctx, out: &mut Out) {
    super::super::help_reply(
        out,
        "XGROUP",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    );
}

pub fn xack(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let s = match write_stream(&mut g, key, ctx.now_ms) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(None) => return out.int(0),
        Ok(Some(s)) => s,
    };
    let Some(grp) = s.groups.get_mut(ctx.arg(2)) else {
        return out.int(0);
    };
    let mut ids = Vec::with_capacity(ctx.argv.len() - 3);
    for a in &ctx.argv[3..] {
        match parse_strict(a) {
            Ok(id) => ids.push(id),
            Err(e) => return out.error(e),
        }
    }
    let mut acked = 0;
    for id in ids {
        if grp.ack(id) {
            acked += 1;
        }
    }
    ctx.dirty += acked;
    out.int(acked as i64);
}

pub fn xpending(ctx: &mut Ctx, out: &mut Out) {
    let argc = ctx.argv.len();
    if argc != 3 && !(6..=9).contains(&argc) {
        return out.error(error::SYNTAX);
    }
    let mut range = None;
    let mut min_idle = 0i64;
    let mut consumer = None;
    if argc >= 6 {
        let mut at = 3;
        if ctx.arg_is(3, "IDLE") {
            let Some(n) = ctx.arg_i64(4, out) else { return };
            min_idle = n;
            if argc < 8 {
                return out.error(error::SYNTAX);
            }
            at += 2;
        }
        let Some(count) = ctx.arg_i64(at + 2, out) else {
            return;
        };
        let (mut start, sx) = match parse_interval(ctx.arg(at), 0) {
            Ok(v) => v,
            Err(e) => return out.error(e),
        };
        if sx {
            match start.incr() {
                Some(s) => start = s,
                None => return out.error("ERR invalid start ID for the interval"),
            }
        }
        let (mut end, ex) = match parse_interval(ctx.arg(at + 1), u64::MAX) {
            Ok(v) => v,
            Err(e) => return out.error(e),
        };
        if ex {
            match end.decr() {
                Some(e) => end = e,
                None => return out.error("ERR invalid end ID for the interval"),
            }
        }
        if at + 3 < argc {
            consumer = Some(ctx.arg(at + 3));
        }
        range = Some((start, end, count.max(0) as usize));
    }
    let key = ctx.arg(1);
    let name = ctx.arg(2);
    let mut g = ctx.db().lock_key(key);
    let s = match read_stream(&mut g, key, ctx.now_ms) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(s) => s,
    };
    let Some(grp) = s.and_then(|s| s.groups.get(name)) else {
        return out.error(&nogroup(key, name, ""));
    };
    let Some((start, end, count)) = range else {
        out.array(4);
        out.int(grp.pel.len() as i64);
        if grp.pel.is_empty() {
            out.null();
            out.null();
            out.null_array();
            return;
        }
        bulk_id(out, *grp.pel.keys().next().expect("non-empty"));
        bulk_id(out, *grp.pel.keys().next_back().expect("non-empty"));
        let with: Vec<_> = grp
            .consumers
            .iter()
            .filter(|(_, c)| !c.pel.is_empty())
            .collect();
        out.array(with.len());
        for (n, c) in with {
            out.array(2);
            out.bulk(n);
            out.bulk(c.pel.len().to_string().as_bytes());
        }
        return;
    };
    let now = crate::util::now_ms();
    let ids: Vec<StreamId> = match consumer {
        Some(cn) => match grp.consumers.get(cn) {
            None => return out.array(0),
            Some(c) if start <= end => c.pel.range(start..=end).copied().collect(),
            Some(_) => Vec::new(),
        },
        None if start <= end => grp.pel.range(start..=end).map(|(id, _)| *id).collect(),
        None => Vec::new(),
    };
    let mut rows = Vec::new();
    for id in ids {
        if rows.len() >= count {
            break;
        }
        let n = &grp.pel[&id];
        let idle = now.saturating_sub(n.delivery_time) as i64;
        if min_idle > 0 && (now as i64 - n.delivery_time as i64) < min_idle {
            continue;
        }
        rows.push((id, n, idle));
    }
    out.array(rows.len());
    for (id, n, idle) in rows {
        out.array(4);
        bulk_id(out, id);
        out.bulk(&n.consumer);
        out.int(idle);
        out.int(n.delivery_count as i64);
    }
}

pub fn xclaim(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let name = ctx.arg(2);
    let consumer = ctx.arg(3);
    let now = crate::util::now_ms();
    let mut g = ctx.db().lock_key(key);
    let s = match write_stream(&mut g, key, ctx.now_ms) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(s) => s,
    };
    let Some(s) = s.filter(|s| s.groups.contains_key(name)) else {
        return out.error(&nogroup(key, name, ""));
    };
    let Some(min_idle) = crate::util::parse_i64(ctx.arg(4)) else {
        return out.error("ERR Invalid min-idle-time argument for XCLAIM");
    };
    let min_idle = min_idle.max(0);
    let mut ids = Vec::new();
    let mut j = 5;
    while j < ctx.argv.len() {
        match parse_strict(ctx.arg(j)) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        j += 1;
    }
    let (mut force, mut justid) = (false, false);
    let mut delivery: i64 = -1;
    let mut retry: i64 = -1;
    let mut last_id = StreamId::MIN;
    while j < ctx.argv.len() {
        let more = ctx.argv.len() - 1 - j;
        let opt_int = |i: usize, what: &str| -> Result<i64, String> {
            crate::util::parse_i64(ctx.arg(i))
                .ok_or(format!("ERR Invalid {what} option argument for XCLAIM"))
        };
        if ctx.arg_is(j, "FORCE") {
            force = true;
        } else if ctx.arg_is(j, "JUSTID") {
            justid = true;
        } else if ctx.arg_is(j, "IDLE") && more > 0 {
            j += 1;
            match opt_int(j, "IDLE") {
                Ok(v) => delivery = now as i64 - v,
                Err(e) => return out.error(&e),
            }
        } else if ctx.arg_is(j, "TIME") && more > 0 {
            j += 1;
            match opt_int(j, "TIME") {
                Ok(v) => delivery = v,
                Err(e) => return out.error(&e),
            }
        } else if ctx.arg_is(j, "RETRYCOUNT") && more > 0 {
            j += 1;
            match opt_int(j, "RETRYCOUNT") {
                Ok(v) => retry = v,
                Err(e) => return out.error(&e),
            }
        } else if ctx.arg_is(j, "LASTID") && more > 0 {
            j += 1;
            match parse_strict(ctx.arg(j)) {
                Ok(id) => last_id = id,
                Err(e) => return out.error(e),
            }
        } else {
            return out.error(&format!(
                "ERR Unrecognized XCLAIM option '{}'",
                String::from_utf8_lossy(ctx.arg(j))
            ));
        }
        j += 1;
    }
    let mut props = Vec::new();
    let mut propagate_last = false;
    {
        let grp = s.groups.get_mut(name).expect("checked");
        if last_id > grp.last_id {
            grp.last_id = last_id;
            propagate_last = true;
        }
    }
    let delivery = if delivery == -1 || delivery < 0 || delivery > now as i64 {
        now
    } else {
        delivery as u64
    };
    let mut claimed: Vec<StreamId> = Vec::new();
    let mut created = false;
    for id in ids {
        let exists = s.exists(id);
        let grp = s.groups.get_mut(name).expect("checked");
        if !exists {
            if grp.pel.contains_key(&id) {
                props.push(xclaim_record(key, name, grp, id));
                propagate_last = false;
                ctx.dirty += 1;
                grp.ack(id);
            }
            continue;
        }
        let had = grp.pel.get(&id).map(|n| n.delivery_time);
        if had.is_none() && !force {
            continue;
        }
        if let Some(t) = had {
            if min_idle > 0 && (now as i64 - t as i64) < min_idle {
                continue;
            }
        }
        match grp.consumers.get_mut(consumer) {
            Some(c) => c.seen_time = now,
            None => created |= grp.create_consumer(consumer, now),
        }
        let n = grp.assign(id, consumer, delivery);
        n.delivery_time = delivery;
        if retry >= 0 {
            n.delivery_count = retry as u64;
        } else if !justid {
            n.delivery_count += 1;
        }
        claimed.push(id);
        props.push(xclaim_record(key, name, grp, id));
        propagate_last = false;
        ctx.dirty += 1;
    }
    if propagate_last {
        props.push(setid_record(key, name, &s.groups[name]));
        ctx.dirty += 1;
    }
    if created {
        ctx.dirty += 1;
    }
    out.array(claimed.len());
    for id in claimed {
        if justid {
            bulk_id(out, id);
        } else if let Some(e) = s.get(id) {
            reply_entry(out, &e);
        }
    }
    drop(g);
    if created {
        notify_stream(ctx, "xgroup-createconsumer", key);
    }
    propagate_records(ctx, props);
}

pub fn xautoclaim(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let name = ctx.arg(2);
    let consumer = ctx.arg(3);
    let Some(min_idle) = crate::util::parse_i64(ctx.arg(4)) else {
        return out.error("ERR Invalid min-idle-time argument for XAUTOCLAIM");
    };
    let min_idle = min_idle.max(0);
    let (mut start, sx) = match parse_interval(ctx.arg(5), 0) {
        Ok(v) => v,
        Err(e) => return out.error(e),
    };
    if sx {
        match start.incr() {
            Some(s) => start = s,
            None => return out.error("ERR invalid start ID for the interval"),
        }
    }
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    let max_count = i64::MAX / 16;
    while j < ctx.argv.len() {
        let more = ctx.argv.len() - 1 - j;
        if ctx.arg_is(j, "COUNT") && more > 0 {
            match crate::util::parse_i64(ctx.arg(j + 1)) {
                Some(n) if (1..=max_count).contains(&n) => count = n,
                _ => return out.error("ERR COUNT must be > 0"),
            }
            j += 1;
        } else if ctx.arg_is(j, "JUSTID") {
            justid = true;
        } else {
            return out.error(error::SYNTAX);
        }
        j += 1;
    }
    let now = crate::util::now_ms();
    let mut g = ctx.db().lock_key(key);
    let s = match write_stream(&mut g, key, ctx.now_ms) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(s) => s,
    };
    let Some(s) = s.filter(|s| s.groups.contains_key(name)) else {
        return out.error(&nogroup(key, name, ""));
    };
    let mut attempts = count.saturating_mul(10);
    let mut props = Vec::new();
    let mut claimed = Vec::new();
    let mut deleted = Vec::new();
    let mut created = false;
    let mut cursor = Some(start);
    let mut next = StreamId::MIN;
    while let Some(from) = cursor {
        if attempts == 0 || count == 0 {
            next = s.groups[name]
                .pel
                .range(from..)
                .next()
                .map(|(id, _)| *id)
                .unwrap_or(StreamId::MIN);
            break;
        }
        let Some((id, time)) = s.groups[name]
            .pel
            .range(from..)
            .next()
            .map(|(id, n)| (*id, n.delivery_time))
        else {
            next = StreamId::MIN;
            break;
        };
        attempts -= 1;
        cursor = id.incr();
        let exists = s.exists(id);
        let grp = s.groups.get_mut(name).expect("checked");
        if !exists {
            props.push(xclaim_record(key, name, grp, id));
            ctx.dirty += 1;
            grp.ack(id);
            deleted.push(id);
            count -= 1;
            continue;
        }
        if min_idle > 0 && (now as i64 - time as i64) < min_idle {
            continue;
        }
        match grp.consumers.get_mut(consumer) {
            Some(c) => c.seen_time = now,
            None => created |= grp.create_consumer(consumer, now),
        }
        let n = grp.assign(id, consumer, now);
        n.delivery_time = now;
        if !justid {
            n.delivery_count += 1;
        }
        claimed.push(id);
        count -= 1;
        props.push(xclaim_record(key, name, grp, id));
        ctx.dirty += 1;
    }
    if created {
        ctx.dirty += 1;
    }
    out.array(3);
    bulk_id(out, next);
    out.array(claimed.len());
    for id in claimed {
        if justid {
            bulk_id(out, id);
        } else if let Some(e) = s.get(id) {
            reply_entry(out, &e);
        }
    }
    out.array(deleted.len());
    for id in deleted {
        bulk_id(out, id);
    }
    drop(g);
    if created {
        notify_stream(ctx, "xgroup-createconsumer", key);
    }
    propagate_records(ctx, props);
}
