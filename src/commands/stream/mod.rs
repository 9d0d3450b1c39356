//! Stream commands (Redis 7.0): XADD and the range/trim family in `basic`,
//! XREAD/XREADGROUP (with blocking) in `read`, consumer groups in `group`,
//! XINFO in `info`. This module holds the table entries and what they
//! share: ID parsing with Redis's rules and errors, typed lookups, replies.

mod basic;
mod group;
mod info;
mod read;

pub use read::unblock_deleted_readgroup;

use super::table::{c, c_with_keys, with_subs};
use super::{container_handler, Command, Ctx, KeySpec};
use crate::keyspace::{SlotGuard, Value};
use crate::protocol::Out;
use crate::types::stream::{EntryRef, NodeLimits, StreamId, StreamValue};

pub const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";

/// This family's entries in the command table.
pub fn commands() -> Vec<Command> {
    let k = (1, 1, 1);
    let none = (0, 0, 0);
    let xg = (2, 2, 1);
    vec![
        c("xadd", -5, "write denyoom fast @stream", k, "stream", "5.0.0", "Appends a new entry to a stream", basic::xadd),
        c("xrange", -4, "readonly @stream", k, "stream", "5.0.0", "Return a range of elements in a stream, with IDs matching the specified IDs interval", basic::xrange),
        c("xrevrange", -4, "readonly @stream", k, "stream", "5.0.0", "Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order (from greater to smaller IDs) compared to XRANGE", basic::xrevrange),
        c("xlen", 2, "readonly fast @stream", k, "stream", "5.0.0", "Return the number of entries in a stream", basic::xlen),
        c("xdel", -3, "write fast @stream", k, "stream", "5.0.0", "Removes the specified entries from the stream. Returns the number of items actually deleted, that may be different from the number of IDs passed in case certain IDs do not exist.", basic::xdel),
        c("xtrim", -4, "write @stream", k, "stream", "5.0.0", "Trims the stream to (approximately if '~' is passed) a certain size", basic::xtrim),
        c("xsetid", -3, "write denyoom fast @stream", k, "stream", "5.0.0", "An internal command for replicating stream values", basic::xsetid),
        c_with_keys("xread", -4, "readonly blocking @stream", KeySpec::Streams { from: 1 }, "stream", "5.0.0", "Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block.", read::xread),
        c_with_keys("xreadgroup", -7, "write blocking @stream", KeySpec::Streams { from: 4 }, "stream", "5.0.0", "Return new entries from a stream using a consumer group, or access the history of the pending entries for a given consumer. Can block.", read::xreadgroup),
        c("xack", -4, "write fast @stream", k, "stream", "5.0.0", "Marks a pending message as correctly processed, effectively removing it from the pending entries list of the consumer group. Return value of the command is the number of messages successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL.", group::xack),
        c("xpending", -3, "readonly @stream", k, "stream", "5.0.0", "Return information and entries from a stream consumer group pending entries list, that are messages fetched but never acknowledged.", group::xpending),
        c("xclaim", -6, "write fast @stream", k, "stream", "5.0.0", "Changes (or acquires) ownership of a message in a consumer group, as if the message was delivered to the specified consumer.", group::xclaim),
        c("xautoclaim", -6, "write fast @stream", k, "stream", "6.2.0", "Changes (or acquires) ownership of messages in a consumer group, as if the messages were delivered to the specified consumer.", group::xautoclaim),
        with_subs(
            c("xgroup", -2, "", none, "stream", "5.0.0", "A container for consumer groups commands", container_handler),
            vec![
                c("xgroup|create", -5, "write denyoom @stream", xg, "stream", "5.0.0", "Create a consumer group.", group::xgroup_create),
                c("xgroup|setid", -5, "write @stream", xg, "stream", "5.0.0", "Set a consumer group to an arbitrary last delivered ID value.", group::xgroup_setid),
                c("xgroup|destroy", 4, "write @stream", xg, "stream", "5.0.0", "Destroy a consumer group.", group::xgroup_destroy),
                c("xgroup|createconsumer", 5, "write denyoom @stream", xg, "stream", "6.2.0", "Create a consumer in a consumer group.", group::xgroup_createconsumer),
                c("xgroup|delconsumer", 5, "write @stream", xg, "stream", "5.0.0", "Delete a consumer from a consumer group.", group::xgroup_delconsumer),
                c("xgroup|help", 2, "loading stale @stream", none, "stream", "5.0.0", "Show helpful text about the different subcommands", group::xgroup_help),
            ],
        ),
        with_subs(
            c("xinfo", -2, "", none, "stream", "5.0.0", "A container for stream introspection commands", container_handler),
            vec![
                c("xinfo|stream", -3, "readonly @stream", xg, "stream", "5.0.0", "Get information about a stream", info::xinfo_stream),
                c("xinfo|groups", 3, "readonly @stream", xg, "stream", "5.0.0", "List the consumer groups of a stream", info::xinfo_groups),
                c("xinfo|consumers", 4, "readonly @stream", xg, "stream", "5.0.0", "List the consumers in a consumer group", info::xinfo_consumers),
                c("xinfo|help", 2, "loading stale @stream", none, "stream", "5.0.0", "Show helpful text about the different subcommands", info::xinfo_help),
            ],
        ),
    ]
}

/// Redis's string2ull: decimal digits (an optional '+'), no overflow.
fn parse_u64(s: &[u8]) -> Option<u64> {
    let d = s.strip_prefix(b"+").unwrap_or(s);
    if d.is_empty() || !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(d).ok()?.parse().ok()
}

/// A parsed ID argument: `<ms>-<seq>`, `<ms>` (seq = `missing_seq`), and
/// unless `strict` `-`/`+`; with `allow_auto_seq`, `<ms>-*` gives
/// `seq_given = false`.
pub(crate) struct ParsedId {
    pub id: StreamId,
    pub seq_given: bool,
}

pub(crate) fn parse_id_full(
    arg: &[u8],
    missing_seq: u64,
    strict: bool,
    allow_auto_seq: bool,
) -> Result<ParsedId, &'static str> {
    if arg.len() > 127 {
        return Err(INVALID_ID);
    }
    if arg == b"-" || arg == b"+" {
        if strict {
            return Err(INVALID_ID);
        }
        let id = if arg == b"-" {
            StreamId::MIN
        } else {
            StreamId::MAX
        };
        return Ok(ParsedId {
            id,
            seq_given: true,
        });
    }
    let (ms_part, seq_part) = match arg.iter().position(|&b| b == b'-') {
        Some(at) => (&arg[..at], Some(&arg[at + 1..])),
        None => (arg, None),
    };
    let ms = parse_u64(ms_part).ok_or(INVALID_ID)?;
    let (seq, seq_given) = match seq_part {
        Some(b"*") if allow_auto_seq => (0, false),
        Some(s) => (parse_u64(s).ok_or(INVALID_ID)?, true),
        None => (missing_seq, true),
    };
    Ok(ParsedId {
        id: StreamId::new(ms, seq),
        seq_given,
    })
}

/// A strict ID (no `-`/`+`), missing sequence 0.
pub(crate) fn parse_strict(arg: &[u8]) -> Result<StreamId, &'static str> {
    parse_id_full(arg, 0, true, false).map(|p| p.id)
}

/// A range bound: `(` makes it exclusive (then strict).
pub(crate) fn parse_interval(
    arg: &[u8],
    missing_seq: u64,
) -> Result<(StreamId, bool), &'static str> {
    if arg.len() > 1 && arg[0] == b'(' {
        parse_id_full(&arg[1..], missing_seq, true, false).map(|p| (p.id, true))
    } else {
        parse_id_full(arg, missing_seq, false, false).map(|p| (p.id, false))
    }
}

/// The stream at `key` for reading: `Ok(None)` if missing, `Err` if another type.
pub(crate) fn read_stream<'e>(
    g: &'e mut SlotGuard<'_>,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<&'e StreamValue>, ()> {
    match g.get(key, now_ms) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::Stream(s) => Ok(Some(s)),
            _ => Err(()),
        },
    }
}

/// The stream at `key` for writing: `Ok(None)` if missing, `Err` if another type.
pub(crate) fn write_stream<'e>(
    g: &'e mut SlotGuard<'_>,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<&'e mut StreamValue>, ()> {
    match g.get_mut(key, now_ms) {
        None => Ok(None),
        Some(e) => {
            crate::evict::touch(e);
            match &mut e.value {
                Value::Stream(s) => Ok(Some(s)),
                _ => Err(()),
            }
        }
    }
}

pub(crate) fn node_limits(ctx: &Ctx) -> NodeLimits {
    NodeLimits {
        max_bytes: ctx.hot.stream_node_max_bytes,
        max_entries: ctx.hot.stream_node_max_entries,
    }
}

pub(crate) fn bulk_id(out: &mut Out, id: StreamId) {
    out.bulk(id.to_string().as_bytes());
}

/// `[id, [field, value, ...]]`.
pub(crate) fn reply_entry(out: &mut Out, e: &EntryRef<'_>) {
    out.array(2);
    bulk_id(out, e.id);
    out.array(e.fields.len());
    for f in &e.fields {
        out.bulk(f);
    }
}

pub(crate) fn reply_entries(out: &mut Out, entries: &[EntryRef<'_>]) {
    out.array(entries.len());
    for e in entries {
        reply_entry(out, e);
    }
}

/// Whether this client's writes must be applied as given (the AOF loader
/// or a master's stream: Redis's mustObeyClient).
pub(crate) fn must_obey(ctx: &Ctx) -> bool {
    ctx.client.id == u64::MAX
        || ctx
            .client
            .info
            .kind
            .load(std::sync::atomic::Ordering::Relaxed)
            == crate::client::KIND_MASTER
}

pub(crate) fn notify_stream(ctx: &Ctx, event: &str, key: &[u8]) {
    crate::notify::notify(ctx, crate::notify::NOTIFY_STREAM, event, key);
}

/// "-NOGROUP No such key '<key>' or consumer group '<group>'<suffix>".
pub(crate) fn nogroup(key: &[u8], group: &[u8], suffix: &str) -> String {
    format!(
        "NOGROUP No such key '{}' or consumer group '{}'{}",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group),
        suffix
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_parsing() {
        assert_eq!(parse_strict(b"1-2").unwrap(), StreamId::new(1, 2));
        assert_eq!(parse_strict(b"5").unwrap(), StreamId::new(5, 0));
        assert!(parse_strict(b"-").is_err());
        assert!(parse_strict(b"1-x").is_err());
        assert!(parse_strict(b"18446744073709551616").is_err());
        assert_eq!(parse_interval(b"+", u64::MAX).unwrap().0, StreamId::MAX);
        assert_eq!(
            parse_interval(b"7", u64::MAX).unwrap().0,
            StreamId::new(7, u64::MAX)
        );
        assert!(parse_interval(b"(-", 0).is_err());
        let p = parse_id_full(b"3-*", 0, true, true).unwrap();
        assert!(!p.seq_given);
    }
}
