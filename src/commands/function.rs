//! FUNCTION (LOAD LIST DELETE FLUSH DUMP RESTORE STATS KILL HELP) and
//! FCALL / FCALL_RO: Redis 7 Functions over `crate::scripting::functions`.
//! DUMP / RESTORE use Redis's payload: one FUNCTION2 opcode + code string
//! per library, the RDB version and a CRC64.

use super::{help_reply, Ctx};
use crate::protocol::Out;
use crate::scripting::{self, engine, functions};
use bytes::Bytes;
use std::sync::atomic::Ordering;

/// RDB version written in DUMP-style payloads (Redis 7.0).
pub const RDB_VERSION: u16 = 10;

pub fn function_flush(ctx: &mut Ctx, out: &mut Out) {
    if ctx.argv.len() > 3 {
        return out.error(
            "ERR unknown subcommand or wrong number of arguments for 'flush'. Try FUNCTION HELP.",
        );
    }
    if ctx.argv.len() == 3 && !ctx.arg_is(2, "ASYNC") && !ctx.arg_is(2, "SYNC") {
        return out.error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
    }
    ctx.srv.scripting.functions.flush();
    ctx.dirty += 1;
    out.ok()
}

pub fn function_list(ctx: &mut Ctx, out: &mut Out) {
    let mut with_code = false;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 2;
    while i < ctx.argv.len() {
        if !with_code && ctx.arg_is(i, "WITHCODE") {
            with_code = true;
        } else if pattern.is_none() && ctx.arg_is(i, "LIBRARYNAME") {
            if i + 1 >= ctx.argv.len() {
                return out.error("ERR library name argument was not given");
            }
            i += 1;
            pattern = Some(ctx.arg(i));
        } else {
            return out.error(&format!("ERR Unknown argument {}", ctx.arg_str(i)));
        }
        i += 1;
    }
    let libs: Vec<_> = ctx
        .srv
        .scripting
        .functions
        .snapshot()
        .into_iter()
        .filter(|l| pattern.is_none_or(|p| crate::util::glob_match(p, l.name.as_bytes(), true)))
        .collect();
    out.array(libs.len());
    for lib in libs {
        out.map(if with_code { 4 } else { 3 });
        out.bulk(b"library_name");
        out.bulk(lib.name.as_bytes());
        out.bulk(b"engine");
        out.bulk(b"LUA");
        out.bulk(b"functions");
        out.array(lib.functions.len());
        for f in &lib.functions {
            out.map(3);
            out.bulk(b"name");
            out.bulk(f.name.as_bytes());
            out.bulk(b"description");
            match &f.description {
                Some(d) => out.bulk(d),
                None => out.null(),
            }
            out.bulk(b"flags");
            let names: Vec<&str> = scripting::FLAG_NAMES
                .iter()
                .filter(|(b, _)| f.flags & b != 0)
                .map(|(_, n)| *n)
                .collect();
            out.set(names.len());
            for n in names {
                out.simple(n);
            }
        }
        if with_code {
            out.bulk(b"library_code");
            out.bulk(&lib.code);
        }
    }
}

pub fn function_delete(ctx: &mut Ctx, out: &mut Out) {
    if !ctx.srv.scripting.functions.delete(ctx.arg(2)) {
        return out.error("ERR Library not found");
    }
    ctx.dirty += 1;
    out.ok()
}

pub fn function_load(ctx: &mut Ctx, out: &mut Out) {
    let mut replace = false;
    let mut i = 2;
    while i < ctx.argv.len() - 1 {
        if ctx.arg_is(i, "REPLACE") {
            replace = true;
            i += 1;
        } else {
            return out.error(&format!("ERR Unknown option given: {}", ctx.arg_str(i)));
        }
    }
    if i >= ctx.argv.len() {
        return out.error("ERR Function code is missing");
    }
    let code = ctx.argv[i].clone();
    match load_library(ctx.srv, &code, replace) {
        Ok(name) => {
            ctx.dirty += 1;
            out.bulk(name.as_bytes())
        }
        Err(e) => out.error(&e),
    }
}

/// Compile and register one library (FUNCTION LOAD, RESTORE, RDB load).
pub fn load_library(
    srv: &crate::server::Server,
    code: &Bytes,
    replace: bool,
) -> Result<String, String> {
    let (name, _) = functions::parse_metadata(code)?;
    let reg = &srv.scripting.functions;
    if !replace && reg.snapshot().iter().any(|l| l.name == name) {
        return Err(format!("ERR Library '{name}' already exists"));
    }
    let lib = engine::with_engine(srv, |eng| functions::compile_library(eng, code))??;
    let (lib, _) = lib;
    reg.insert(lib, replace)?;
    Ok(name)
}

/// The DUMP payload of every library.
pub fn dump_payload(srv: &crate::server::Server) -> Vec<u8> {
    let libs = srv.scripting.functions.snapshot();
    let opts = crate::persist::values::encode_options(&srv.hot(), true, true);
    let mut enc = shoal_persistence::rdb::ObjectEncoder::new(opts);
    let mut records = Vec::new();
    for lib in &libs {
        records.extend_from_slice(&enc.function(&lib.code).unwrap_or_default());
    }
    records.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = shoal_persistence::crc64::crc64(0, &records);
    records.extend_from_slice(&crc.to_le_bytes());
    records
}

pub fn function_dump(ctx: &mut Ctx, out: &mut Out) {
    out.bulk(&dump_payload(ctx.srv))
}

pub fn function_restore(ctx: &mut Ctx, out: &mut Out) {
    if ctx.argv.len() > 4 {
        return out.error(
            "ERR unknown subcommand or wrong number of arguments for 'restore'. Try FUNCTION HELP.",
        );
    }
    let policy = if ctx.argv.len() == 4 {
        if ctx.arg_is(3, "APPEND") {
            0
        } else if ctx.arg_is(3, "REPLACE") {
            1
        } else if ctx.arg_is(3, "FLUSH") {
            2
        } else {
            return out.error(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            );
        }
    } else {
        0
    };
    let payload = ctx.arg(2);
    if payload.len() < 10 {
        return out.error("ERR DUMP payload version or checksum are wrong");
    }
    let (body, crc) = payload.split_at(payload.len() - 8);
    let expected = shoal_persistence::crc64::crc64(0, body);
    let version = u16::from_le_bytes([body[body.len() - 2], body[body.len() - 1]]);
    if crc != expected.to_le_bytes() || version > RDB_VERSION {
        return out.error("ERR DUMP payload version or checksum are wrong");
    }
    let codes = match shoal_persistence::rdb::decode_function_records(&body[..body.len() - 2]) {
        Ok(c) => c,
        Err(e) => return out.error(&format!("ERR {e}")),
    };
    // Compile everything first: a bad library leaves the registry as it was.
    let srv = ctx.srv;
    let mut libs = Vec::new();
    for code in &codes {
        let code = Bytes::copy_from_slice(code);
        match engine::with_engine(srv, |eng| functions::compile_library(eng, &code)) {
            Ok(Ok((lib, _))) => libs.push(lib),
            Ok(Err(e)) | Err(e) => return out.error(&e),
        }
    }
    for (i, a) in libs.iter().enumerate() {
        if libs[..i].iter().any(|b| b.name == a.name) {
            return out.error(&format!("ERR Library {} already exists", a.name));
        }
    }
    let reg = &srv.scripting.functions;
    if policy == 2 {
        reg.replace_all(libs);
    } else {
        let existing = reg.snapshot();
        if policy == 0 {
            if let Some(l) = libs
                .iter()
                .find(|l| existing.iter().any(|e| e.name == l.name))
            {
                return out.error(&format!("ERR Library {} already exists", l.name));
            }
        }
        // Function names must stay unique across the libraries kept.
        for l in &libs {
            for f in &l.functions {
                let clash = existing.iter().any(|e| {
                    e.name != l.name
                        && !(policy == 1 && libs.iter().any(|n| n.name == e.name))
                        && e.functions.iter().any(|g| g.name == f.name)
                });
                if clash {
                    return out.error(&format!("ERR Function {} already exists", f.name));
                }
            }
        }
        for l in libs {
            if let Err(e) = reg.insert(l, true) {
                return out.error(&e);
            }
        }
    }
    ctx.dirty += 1;
    out.ok()
}

pub fn function_kill(ctx: &mut Ctx, out: &mut Out) {
    super::scripting::kill(ctx, out, false)
}

pub fn function_stats(ctx: &mut Ctx, out: &mut Out) {
    let running = &ctx.srv.scripting.running;
    if running.active() && running.is_eval.load(Ordering::Relaxed) {
        return out.error(scripting::BUSY_EVAL);
    }
    out.map(2);
    out.bulk(b"running_script");
    if running.active() {
        out.map(3);
        out.bulk(b"name");
        out.bulk(running.name.lock().as_bytes());
        out.bulk(b"command");
        let argv = running.argv.lock().clone();
        out.bulks(argv.iter().map(|a| &a[..]));
        out.bulk(b"duration_ms");
        let since = running.since_ms.load(Ordering::Acquire);
        out.int(crate::util::now_ms().saturating_sub(since) as i64);
    } else {
        out.null();
    }
    let libs = ctx.srv.scripting.functions.snapshot();
    out.bulk(b"engines");
    out.map(1);
    out.bulk(b"LUA");
    out.map(2);
    out.bulk(b"libraries_count");
    out.int(libs.len() as i64);
    out.bulk(b"functions_count");
    out.int(libs.iter().map(|l| l.functions.len()).sum::<usize>() as i64);
}

pub fn fcall(ctx: &mut Ctx, out: &mut Out) {
    fcall_generic(ctx, out, false)
}

pub fn fcall_ro(ctx: &mut Ctx, out: &mut Out) {
    fcall_generic(ctx, out, true)
}

fn fcall_generic(ctx: &mut Ctx, out: &mut Out, ro: bool) {
    if ctx.srv.monitors.any() {
        ctx.srv
            .monitors
            .feed(ctx.client.db, &ctx.client.info.addr.to_string(), ctx.argv);
    }
    let srv = ctx.srv;
    let Some((_, flags)) = srv.scripting.functions.find(ctx.arg(1)) else {
        return out.error("ERR Function not found");
    };
    let Some(numkeys) = crate::util::parse_i64(ctx.arg(2)) else {
        return out.error("ERR Bad number of keys provided");
    };
    let argc = ctx.argv.len() as i64;
    if numkeys > argc - 3 {
        return out.error("ERR Number of keys can't be greater than number of args");
    }
    if numkeys < 0 {
        return out.error("ERR Number of keys can't be negative");
    }
    let name = ctx.arg_str(1);
    let split = 3 + numkeys as usize;
    let keys = &ctx.argv[3..split];
    let args = &ctx.argv[split..];
    let done = engine::with_engine(srv, |eng| {
        let Some(func) = functions::lua_function(eng, &srv.scripting.functions, &name) else {
            return out.error("ERR Function not found");
        };
        let inv = engine::Invocation {
            name: &name,
            flags,
            keys,
            args,
            ro,
            eval: false,
        };
        engine::run(ctx, out, eng, func, &inv);
    });
    if let Err(e) = done {
        out.error(&e);
    }
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
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
        ],
    )
}
