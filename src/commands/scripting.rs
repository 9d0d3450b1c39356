//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT (LOAD EXISTS FLUSH KILL
//! HELP). The engine is `crate::scripting`; these parse arguments, find
//! or add the script in the cache and hand it to the engine.

use super::{help_reply, Command, Ctx, KeySpec};
use crate::protocol::Out;
use crate::scripting::{self, engine};
use std::sync::atomic::Ordering;

pub fn commands() -> Vec<Command> {
    use super::table::{c, c_with_keys, with_subs};
    let keys = KeySpec::Keynum {
        extra_first: 0,
        numkeys_at: 2,
        first_offset: 1,
        step: 1,
    };
    let none = (0, 0, 0);
    vec![
        c_with_keys(
            "eval",
            -3,
            "noscript skip_monitor may_replicate no_mandatory_keys stale exclusive script",
            keys,
            "scripting",
            "2.6.0",
            "Execute a Lua script server side",
            eval,
        ),
        c_with_keys(
            "evalsha",
            -3,
            "noscript skip_monitor may_replicate no_mandatory_keys stale exclusive script",
            keys,
            "scripting",
            "2.6.0",
            "Execute a Lua script server side",
            evalsha,
        ),
        c_with_keys(
            "eval_ro",
            -3,
            "noscript skip_monitor no_mandatory_keys stale readonly exclusive script",
            keys,
            "scripting",
            "7.0.0",
            "Execute a read-only Lua script server side",
            eval_ro,
        ),
        c_with_keys(
            "evalsha_ro",
            -3,
            "noscript skip_monitor no_mandatory_keys stale readonly exclusive script",
            keys,
            "scripting",
            "7.0.0",
            "Execute a read-only Lua script server side",
            evalsha_ro,
        ),
        c_with_keys(
            "fcall",
            -3,
            "noscript skip_monitor may_replicate no_mandatory_keys stale exclusive script",
            keys,
            "scripting",
            "7.0.0",
            "Invoke a function",
            super::function::fcall,
        ),
        c_with_keys(
            "fcall_ro",
            -3,
            "noscript skip_monitor no_mandatory_keys stale readonly exclusive script",
            keys,
            "scripting",
            "7.0.0",
            "Invoke a read-only function",
            super::function::fcall_ro,
        ),
        with_subs(
            c(
                "script",
                -2,
                "",
                none,
                "scripting",
                "2.6.0",
                "A container for Lua scripts management commands",
                super::container_handler,
            ),
            vec![
                c(
                    "script|load",
                    3,
                    "noscript stale",
                    none,
                    "scripting",
                    "2.6.0",
                    "Load the specified Lua script into the script cache.",
                    script_load,
                ),
                c(
                    "script|exists",
                    -3,
                    "noscript",
                    none,
                    "scripting",
                    "2.6.0",
                    "Check existence of scripts in the script cache.",
                    script_exists,
                ),
                c(
                    "script|flush",
                    -2,
                    "noscript",
                    none,
                    "scripting",
                    "2.6.0",
                    "Remove all the scripts from the script cache.",
                    script_flush,
                ),
                c(
                    "script|kill",
                    2,
                    "noscript allow_busy",
                    none,
                    "scripting",
                    "2.6.0",
                    "Kill the script currently in execution.",
                    script_kill,
                ),
                c(
                    "script|help",
                    2,
                    "loading stale",
                    none,
                    "scripting",
                    "5.0.0",
                    "Show helpful text about the different subcommands",
                    script_help,
                ),
            ],
        ),
    ]
}

fn eval(ctx: &mut Ctx, out: &mut Out) {
    eval_generic(ctx, out, false, false)
}

fn evalsha(ctx: &mut Ctx, out: &mut Out) {
    eval_generic(ctx, out, true, false)
}

fn eval_ro(ctx: &mut Ctx, out: &mut Out) {
    eval_generic(ctx, out, false, true)
}

fn evalsha_ro(ctx: &mut Ctx, out: &mut Out) {
    eval_generic(ctx, out, true, true)
}

fn eval_generic(ctx: &mut Ctx, out: &mut Out, evalsha: bool, ro: bool) {
    // Fed here so the script's commands appear after it (as Redis does).
    if ctx.srv.monitors.any() {
        ctx.srv
            .monitors
            .feed(ctx.client.db, &ctx.client.info.addr.to_string(), ctx.argv);
    }
    let Some(numkeys) = ctx.arg_i64(2, out) else {
        return;
    };
    let argc = ctx.argv.len() as i64;
    if numkeys > argc - 3 {
        return out.error("ERR Number of keys can't be greater than number of args");
    }
    if numkeys < 0 {
        return out.error("ERR Number of keys can't be negative");
    }
    let (sha, script) = if evalsha {
        if ctx.argv[1].len() != 40 {
            return out.error(scripting::NOSCRIPT);
        }
        let sha = String::from_utf8_lossy(&ctx.argv[1]).to_ascii_lowercase();
        match ctx.srv.scripting.get(&sha) {
            Some(s) => (sha, s),
            None => return out.error(scripting::NOSCRIPT),
        }
    } else {
        match ctx.srv.scripting.add(&ctx.argv[1]) {
            Ok(x) => x,
            Err(e) => return out.error(&e),
        }
    };
    let split = 3 + numkeys as usize;
    let keys = &ctx.argv[3..split];
    let args = &ctx.argv[split..];
    let srv = ctx.srv;
    let done = engine::with_engine(srv, |eng| {
        let func = match eng.function(&sha, &script) {
            Ok(f) => f,
            Err(e) => {
                srv.scripting.remove(&sha);
                return out.error(&e);
            }
        };
        let inv = engine::Invocation {
            name: &sha,
            flags: script.flags,
            keys,
            args,
            ro,
            eval: true,
        };
        engine::run(ctx, out, eng, func, &inv);
    });
    if let Err(e) = done {
        out.error(&e);
    }
}

fn script_load(ctx: &mut Ctx, out: &mut Out) {
    let srv = ctx.srv;
    let (sha, script) = match srv.scripting.add(&ctx.argv[2]) {
        Ok(x) => x,
        Err(e) => return out.error(&e),
    };
    let compiled = engine::with_engine(srv, |eng| eng.function(&sha, &script).map(|_| ()));
    match compiled {
        Ok(Ok(())) => out.bulk(sha.as_bytes()),
        Ok(Err(e)) | Err(e) => {
            srv.scripting.remove(&sha);
            out.error(&e)
        }
    }
}

fn script_exists(ctx: &mut Ctx, out: &mut Out) {
    out.array(ctx.argv.len() - 2);
    for sha in &ctx.argv[2..] {
        out.int(ctx.srv.scripting.exists(sha) as i64);
    }
}

fn script_flush(ctx: &mut Ctx, out: &mut Out) {
    let valid = match ctx.argv.len() {
        2 => true,
        3 => ctx.arg_is(2, "SYNC") || ctx.arg_is(2, "ASYNC"),
        _ => false,
    };
    if !valid {
        return out.error("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
    }
    ctx.srv.scripting.flush();
    out.ok()
}

/// SCRIPT KILL / FUNCTION KILL (`eval`: which one was called).
pub fn kill(ctx: &mut Ctx, out: &mut Out, eval: bool) {
    let running = &ctx.srv.scripting.running;
    if !running.active() {
        return out.error("NOTBUSY No scripts in execution right now.");
    }
    if running.from_master.load(Ordering::Relaxed) {
        return out.error("UNKILLABLE The busy script was sent by a master instance in the context of replication and cannot be killed.");
    }
    if running.wrote.load(Ordering::Acquire) {
        return out.error("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.");
    }
    let is_eval = running.is_eval.load(Ordering::Relaxed);
    if eval && !is_eval {
        return out.error(scripting::BUSY_FUNCTION);
    }
    if !eval && is_eval {
        return out.error(scripting::BUSY_EVAL);
    }
    running.kill.store(true, Ordering::Release);
    out.ok()
}

fn script_kill(ctx: &mut Ctx, out: &mut Out) {
    kill(ctx, out, true)
}

fn script_help(_ctx: &mut Ctx, out: &mut Out) {
    help_reply(
        out,
        "SCRIPT",
        &[
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    )
}
