//! XINFO STREAM [FULL [COUNT n]], XINFO GROUPS, XINFO CONSUMERS, XINFO HELP.

use super::*;
use crate::error;
use crate::types::stream::{Group, INVALID_ENTRIES_READ};

fn subcommand_syntax(ctx: &Ctx) -> String {
    format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try XINFO HELP.",
        String::from_utf8_lossy(ctx.arg(1))
    )
}

fn entries_read(out: &mut Out, g: &Group) {
    if g.entries_read == INVALID_ENTRIES_READ {
        out.null();
    } else {
        out.int(g.entries_read);
    }
}

fn lag(out: &mut Out, s: &StreamValue, g: &Group) {
    match s.group_lag(g) {
        Some(l) => out.int(l),
        None => out.null(),
    }
}

pub fn xinfo_stream(ctx: &mut Ctx, out: &mut Out) {
    let opts = &ctx.argv[3..];
    let mut full = false;
    let mut count: i64 = 10;
    if !opts.is_empty() {
        if (opts.len() != 1 && opts.len() != 3) || !opts[0].eq_ignore_ascii_case(b"full") {
            return out.error(&subcommand_syntax(ctx));
        }
        full = true;
        if opts.len() == 3 {
            if !opts[1].eq_ignore_ascii_case(b"count") {
                return out.error(&subcommand_syntax(ctx));
            }
            let Some(n) = ctx.arg_i64(5, out) else { return };
            count = if n < 0 { 10 } else { n };
        }
    }
    let key = ctx.arg(2);
    let mut g = ctx.db().lock_key(key);
    let s = match read_stream(&mut g, key, ctx.now_ms) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(None) => return out.error(error::NO_SUCH_KEY),
        Ok(Some(s)) => s,
    };
    out.map(if full { 9 } else { 10 });
    out.bulk(b"length");
    out.int(s.len() as i64);
    out.bulk(b"radix-tree-keys");
    out.int(s.chunk_count() as i64);
    out.bulk(b"radix-tree-nodes");
    // A radix tree over 128-bit keys has about two nodes per key.
    out.int((s.chunk_count() as i64 * 2).max(1));
    out.bulk(b"last-generated-id");
    bulk_id(out, s.last_id);
    out.bulk(b"max-deleted-entry-id");
    bulk_id(out, s.max_deleted_id);
    out.bulk(b"entries-added");
    out.int(s.entries_added as i64);
    out.bulk(b"recorded-first-entry-id");
    bulk_id(out, s.first_id);
    if !full {
        out.bulk(b"groups");
        out.int(s.groups.len() as i64);
        out.bulk(b"first-entry");
        match s.range(StreamId::MIN, StreamId::MAX, false, 1).first() {
            Some(e) => reply_entry(out, e),
            None => out.null(),
        }
        out.bulk(b"last-entry");
        match s.range(StreamId::MIN, StreamId::MAX, true, 1).first() {
            Some(e) => reply_entry(out, e),
            None => out.null(),
        }
        return;
    }
    let limit = count as usize;
    out.bulk(b"entries");
    reply_entries(out, &s.range(StreamId::MIN, StreamId::MAX, false, limit));
    out.bulk(b"groups");
    out.array(s.groups.len());
    let take = |n: usize| if limit == 0 { n } else { n.min(limit) };
    for (name, g) in &s.groups {
        out.map(7);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"last-delivered-id");
        bulk_id(out, g.last_id);
        out.bulk(b"entries-read");
        entries_read(out, g);
        out.bulk(b"lag");
        lag(out, s, g);
        out.bulk(b"pel-count");
        out.int(g.pel.len() as i64);
        out.bulk(b"pending");
        out.array(take(g.pel.len()));
        for (id, n) in g.pel.iter().take(take(g.pel.len())) {
            out.array(4);
            bulk_id(out, *id);
            out.bulk(&n.consumer);
            out.int(n.delivery_time as i64);
            out.int(n.delivery_count as i64);
        }
        out.bulk(b"consumers");
        out.array(g.consumers.len());
        for (cname, c) in &g.consumers {
            out.map(4);
            out.bulk(b"name");
            out.bulk(cname);
            out.bulk(b"seen-time");
            out.int(c.seen_time as i64);
            out.bulk(b"pel-count");
            out.int(c.pel.len() as i64);
            out.bulk(b"pending");
            out.array(take(c.pel.len()));
            for id in c.pel.iter().take(take(c.pel.len())) {
                let n = &g.pel[id];
                out.array(3);
                bulk_id(out, *id);
                out.int(n.delivery_time as i64);
                out.int(n.delivery_count as i64);
            }
        }
    }
}

pub fn xinfo_groups(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(2);
    let mut g = ctx.db().lock_key(key);
    let s = match read_stream(&mut g, key, ctx.now_ms) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(None) => return out.error(error::NO_SUCH_KEY),
        Ok(Some(s)) => s,
    };
    out.array(s.groups.len());
    for (name, g) in &s.groups {
        out.map(6);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"consumers");
        out.int(g.consumers.len() as i64);
        out.bulk(b"pending");
        out.int(g.pel.len() as i64);
        out.bulk(b"last-delivered-id");
        bulk_id(out, g.last_id);
        out.bulk(b"entries-read");
        entries_read(out, g);
        out.bulk(b"lag");
        lag(out, s, g);
    }
}

pub fn xinfo_consumers(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(2);
    let name = ctx.arg(3);
    let mut g = ctx.db().lock_key(key);
    let s = match read_stream(&mut g, key, ctx.now_ms) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(None) => return out.error(error::NO_SUCH_KEY),
        Ok(Some(s)) => s,
    };
    let Some(grp) = s.groups.get(name) else {
        return out.error(&format!(
            "NOGROUP No such consumer group '{}' for key name '{}'",
            String::from_utf8_lossy(name),
            String::from_utf8_lossy(key)
        ));
    };
    let now = crate::util::now_ms();
    out.array(grp.consumers.len());
    for (cname, c) in &grp.consumers {
        out.map(3);
        out.bulk(b"name");
        out.bulk(cname);
        out.bulk(b"pending");
        out.int(c.pel.len() as i64);
        out.bulk(b"idle");
        out.int(now.saturating_sub(c.seen_time) as i64);
    }
}

pub fn xinfo_help(_ctx: &mut Ctx, out: &mut Out) {
    super::super::help_reply(
        out,
        "XINFO",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    );
}
