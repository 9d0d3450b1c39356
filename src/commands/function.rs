//! FUNCTION: the library registry of Redis 7 functions.
//!
//! Shoal has no Lua engine yet, so the registry is always empty: LIST,
//! STATS and DUMP report an empty set of libraries (DUMP in Redis's payload
//! format: RDB version + CRC64 footer), FLUSH/DELETE act on it, and LOAD
//! refuses with Redis's error for an engine that is not available.
//! redis-cli's cluster manager and Redis's test harness rely on these.

use super::{help_reply, Ctx};
use crate::protocol::Out;

/// RDB version written in DUMP-style payloads (Redis 7.0).
pub const RDB_VERSION: u16 = 10;

pub fn function_flush(ctx: &mut Ctx, out: &mut Out) {
    if ctx.argv.len() > 3
        || (ctx.argv.len() == 3 && !ctx.arg_is(2, "ASYNC") && !ctx.arg_is(2, "SYNC"))
    {
        return out.error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
    }
    out.ok()
}

pub fn function_list(ctx: &mut Ctx, out: &mut Out) {
    let mut i = 2;
    while i < ctx.argv.len() {
        if ctx.arg_is(i, "WITHCODE") {
            i += 1;
        } else if ctx.arg_is(i, "LIBRARYNAME") && i + 1 < ctx.argv.len() {
            i += 2;
        } else {
            return out.error(&format!("ERR Unknown argument {}", ctx.arg_str(i)));
        }
    }
    out.array(0)
}

pub fn function_delete(_ctx: &mut Ctx, out: &mut Out) {
    out.error("ERR Library not found")
}

pub fn function_load(ctx: &mut Ctx, out: &mut Out) {
    let code = ctx.argv.last().expect("arity checked");
    let first_line = code.split(|&b| b == b'\n').next().unwrap_or(b"");
    let Some(shebang) = first_line.strip_prefix(b"#!") else {
        return out.error("ERR Missing library metadata");
    };
    let engine =
        String::from_utf8_lossy(shebang.split(|&b| b == b' ').next().unwrap_or(b"")).into_owned();
    out.error(&format!("ERR Engine '{engine}' not found"))
}

pub fn function_dump(_ctx: &mut Ctx, out: &mut Out) {
    let mut payload = RDB_VERSION.to_le_bytes().to_vec();
    let crc = shoal_persistence::crc64::crc64(0, &payload);
    payload.extend_from_slice(&crc.to_le_bytes());
    out.bulk(&payload)
}

pub fn function_restore(ctx: &mut Ctx, out: &mut Out) {
    let payload = ctx.arg(2);
    if payload.len() < 10 {
        return out.error("ERR payload version or checksum are wrong");
    }
    let (body, crc) = payload.split_at(payload.len() - 8);
    let expected = shoal_persistence::crc64::crc64(0, body);
    let version = u16::from_le_bytes([body[body.len() - 2], body[body.len() - 1]]);
    if crc != expected.to_le_bytes() || version > RDB_VERSION {
        return out.error("ERR payload version or checksum are wrong");
    }
    if body.len() > 2 {
        // Libraries in the payload need an engine Shoal does not have.
        return out.error("ERR Engine 'LUA' not found");
    }
    out.ok()
}

pub fn function_kill(_ctx: &mut Ctx, out: &mut Out) {
    out.error("NOTBUSY No scripts in execution right now.")
}

pub fn function_stats(_ctx: &mut Ctx, out: &mut Out) {
    out.map(2);
    out.bulk(b"running_script");
    out.null();
    out.bulk(b"engines");
    out.map(0);
}

pub fn function_help(_ctx: &mut Ctx, out: &mut Out) {
    help_reply(
        out,
        "FUNCTION",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries.",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload.",
            "STATS",
            "    Return information about the current function running.",
            "KILL",
            "    Kill the current running function.",
        ],
    )
}
