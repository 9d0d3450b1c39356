//! The `redis` table's Rust side: redis.call / redis.pcall run commands
//! through the command table and the normal `exec::call` path (stats,
//! slowlog, propagation, keyspace notifications, WATCH, blocked clients),
//! as the script's own client, with Redis's checks in scriptCall's order
//! and words; and log, setresp, sha1hex, error_reply, status_reply,
//! set_repl, acl_check_cmd, math.random / randomseed.
//!
//! Every function returns `true, results...` or `false, error` (see
//! `sandbox`): the Lua side raises.

use super::convert;
use crate::client::Client;
use crate::commands::{self, Command};
use crate::protocol::Out;
use crate::server::Server;
use bytes::Bytes;
use mlua::{Lua, MultiValue, Table, Value};
use std::cell::RefCell;
use std::sync::atomic::Ordering;

/// What redis.call needs while a script runs on this thread.
pub struct RunCtx {
    /// Valid for the whole run (the caller's `&Server`).
    pub srv: *const Server,
    pub hot: *const crate::config::Hot,
    /// The script's own client (Redis's lua client).
    pub client: Client,
    /// The client that ran the script (the ACL log's client-info).
    pub caller: std::sync::Arc<crate::client::ClientInfo>,
    /// Refuse write commands (EVAL_RO, FCALL_RO, `no-writes`).
    pub read_only: bool,
    pub allow_oom: bool,
    pub allow_cross_slot: bool,
    /// Used memory was over maxmemory when the script started.
    pub oom_at_start: bool,
    /// Our master's stream or the AOF: no cluster or OOM refusals.
    pub obey: bool,
    /// The slot the script's keys (or its first key access) hash to.
    pub slot: Option<u16>,
    /// The caller's READONLY / ASKING state, for cluster checks.
    pub cluster: crate::cluster::ClientFlags,
    pub wrote: bool,
    /// redis.set_repl flags (REPL_AOF | REPL_REPLICA).
    pub repl: u8,
}

thread_local! {
    pub static RUN: RefCell<Option<RunCtx>> = const { RefCell::new(None) };
}

pub const REPL_ALL: u8 = 3;

fn ok1(v: Value) -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_vec(vec![Value::Boolean(true), v]))
}

fn ok0() -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_vec(vec![Value::Boolean(true)]))
}

/// `false, {err = "ERR msg"}` (msg may carry its own "-CODE").
fn fail_table(lua: &Lua, msg: &str) -> mlua::Result<MultiValue> {
    let t = convert::error_from_message(lua, msg)?;
    Ok(MultiValue::from_vec(vec![
        Value::Boolean(false),
        Value::Table(t),
    ]))
}

/// `false, "msg"`: a plain Lua error string, as luaL_error raises.
pub fn fail_str(lua: &Lua, msg: &str) -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_vec(vec![
        Value::Boolean(false),
        Value::String(lua.create_string(msg)?),
    ]))
}

/// The `raw` table the sandbox wraps.
pub fn raw_table(lua: &Lua) -> mlua::Result<Table> {
    let raw = lua.create_table()?;
    let api = lua.create_table()?;
    raw.set(
        "call",
        lua.create_function(|lua, a: MultiValue| redis_call(lua, a, true))?,
    )?;
    raw.set(
        "pcall",
        lua.create_function(|lua, a: MultiValue| redis_call(lua, a, false))?,
    )?;
    raw.set("random", lua.create_function(math_random)?)?;
    raw.set(
        "register_function",
        lua.create_function(super::functions::register_function)?,
    )?;
    raw.set("randomseed", lua.create_function(math_randomseed)?)?;
    raw.set("version", crate::REDIS_VERSION)?;
    raw.set("version_num", version_num())?;
    api.set("log", lua.create_function(redis_log)?)?;
    api.set("setresp", lua.create_function(redis_setresp)?)?;
    api.set("sha1hex", lua.create_function(redis_sha1hex)?)?;
    api.set("error_reply", lua.create_function(redis_error_reply)?)?;
    api.set("status_reply", lua.create_function(redis_status_reply)?)?;
    api.set("set_repl", lua.create_function(redis_set_repl)?)?;
    api.set("acl_check_cmd", lua.create_function(redis_acl_check_cmd)?)?;
    raw.set("api", api)?;
    Ok(raw)
}

/// REDIS_VERSION_NUM: 0x00MMmmpp.
fn version_num() -> i64 {
    let mut n = 0i64;
    for part in crate::REDIS_VERSION.split('.').take(3) {
        n = (n << 8) | part.parse::<i64>().unwrap_or(0);
    }
    n
}

/// Lua arguments → argv: strings as they are, numbers as `%.17g`.
fn to_argv(args: &[Value]) -> Result<Vec<Bytes>, &'static str> {
    if args.is_empty() {
        return Err("Please specify at least one argument for this redis lib call");
    }
    let mut argv = Vec::with_capacity(args.len());
    for a in args {
        match a {
            Value::String(s) => argv.push(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Integer(i) => argv.push(Bytes::from(i.to_string())),
            Value::Number(n) => argv.push(Bytes::from(crate::protocol::reply::format_g17(*n))),
            _ => return Err("Lua redis lib command arguments must be strings or integers"),
        }
    }
    Ok(argv)
}

/// raw.call / raw.pcall (`raise`): the reply as a Lua value; `false, err`
/// when `raise` and the reply is an error (pcall returns error tables as values).
fn redis_call(lua: &Lua, packed: MultiValue, raise: bool) -> mlua::Result<MultiValue> {
    // (args table, count): see sandbox::raise_from_packed.
    let packed = packed.into_vec();
    let n = match packed.get(1) {
        Some(Value::Integer(n)) => *n as usize,
        _ => 0,
    };
    let mut args = Vec::with_capacity(n);
    if let Some(Value::Table(t)) = packed.first() {
        for i in 1..=n {
            args.push(t.raw_get::<Value>(i)?);
        }
    }
    let outcome = RUN.with(|r| {
        let mut r = r.borrow_mut();
        let Some(ctx) = r.as_mut() else {
            return Err(
                "redis.call/pcall can only be called inside a script invocation".to_string(),
            );
        };
        let argv = to_argv(&args).map_err(str::to_string)?;
        run_command(ctx, argv)
    });
    match outcome {
        Err(msg) => {
            let t = convert::error_from_message(lua, &msg)?;
            // Counted now, as the script's client's error (not again when
            // the script's own error reply carries it).
            if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
                let code = String::from_utf8_lossy(&e.as_bytes())
                    .split(' ')
                    .next()
                    .unwrap_or("ERR")
                    .to_string();
                RUN.with(|r| {
                    if let Some(ctx) = r.borrow().as_ref() {
                        // SAFETY: see RunCtx.
                        unsafe { &*ctx.srv }.stats.count_errors(&[code]);
                    }
                });
            }
            t.raw_set("ignore_error_stats_update", true)?;
            if raise {
                Ok(MultiValue::from_vec(vec![
                    Value::Boolean(false),
                    Value::Table(t),
                ]))
            } else {
                ok1(Value::Table(t))
            }
        }
        Ok(reply) => {
            let mut pos = 0;
            let v = convert::resp_to_lua(lua, &reply, &mut pos)?;
            let is_err = reply.first() == Some(&b'-');
            if is_err {
                if let Value::Table(t) = &v {
                    t.raw_set("ignore_error_stats_update", true)?;
                }
            }
            if raise && is_err {
                Ok(MultiValue::from_vec(vec![Value::Boolean(false), v]))
            } else {
                ok1(v)
            }
        }
    }
}

/// Check and run one command for a script (Redis's scriptCall): the reply
/// bytes, or the error text of a refusal.
fn run_command(ctx: &mut RunCtx, argv: Vec<Bytes>) -> Result<Vec<u8>, String> {
    // SAFETY: the caller's references outlive the script run (see RunCtx).
    let srv = unsafe { &*ctx.srv };
    let hot = unsafe { &*ctx.hot };
    let cmd = commands::lookup(&argv[0])
        .and_then(|c| commands::resolve(c, &argv).ok())
        .filter(|c| c.arity_ok(argv.len()) || c.has(commands::CONTAINER));
    let Some(cmd) = cmd else {
        let known = commands::lookup(&argv[0])
            .and_then(|c| commands::resolve(c, &argv).ok())
            .is_some();
        return Err(if known {
            "Wrong number of args calling Redis command from script".into()
        } else {
            "Unknown Redis command called from script".into()
        });
    };
    if !cmd.arity_ok(argv.len()) {
        return Err("Wrong number of args calling Redis command from script".into());
    }
    let refuse = |cmd: &Command, msg: String| {
        cmd.stats.add_rejected();
        Err(msg)
    };
    if cmd.has(commands::NOSCRIPT) {
        return refuse(cmd, "This Redis command is not allowed from script".into());
    }
    if let Some(user) = &ctx.client.user {
        if let Err(d) = user.check(cmd, &argv) {
            srv.acl.log_denied(
                d,
                crate::acl::Context::Lua,
                cmd,
                &argv,
                user,
                &ctx.caller,
                hot.acllog_max_len,
            );
            return refuse(cmd, format!("The user executing the script {}", d.reason()));
        }
    }
    let writes = cmd.has(commands::WRITE);
    if ctx.read_only && (writes || cmd.has(commands::MAY_REPLICATE)) {
        return refuse(
            cmd,
            "Write commands are not allowed from read-only scripts.".into(),
        );
    }
    if writes && !ctx.wrote && !ctx.obey {
        if crate::propagate::is_replica() && srv.config.read().get_bool("replica-read-only") {
            return refuse(
                cmd,
                "-READONLY You can't write against a read only replica.".into(),
            );
        }
        if srv.aof.has_write_error.load(Ordering::Relaxed) {
            let e = srv.aof.write_error.lock().clone().unwrap_or_default();
            return refuse(cmd, format!("-MISCONF Errors writing to the AOF file: {e}"));
        }
    }
    if !ctx.allow_oom
        && !ctx.obey
        && !ctx.wrote
        && ctx.oom_at_start
        && hot.maxmemory > 0
        && cmd.has(commands::DENYOOM)
    {
        return refuse(cmd, format!("-OOM {}", crate::evict::OOM));
    }
    if writes {
        ctx.wrote = true;
        srv.scripting.running.wrote.store(true, Ordering::Release);
    }
    if srv.cluster.get().is_some() && !ctx.obey {
        ctx.client.cluster.readonly = ctx.cluster.readonly;
        ctx.client.cluster.asking = ctx.cluster.asking;
        if let Err(e) =
            crate::cluster::route::check(srv, &ctx.client, cmd, &argv, ctx.cluster.asking)
        {
            let msg = if e.starts_with("CLUSTERDOWN") && e.contains("readonly") {
                "Script attempted to execute a write command while the cluster is down and readonly"
            } else if e.starts_with("CLUSTERDOWN") {
                "Script attempted to execute a command while the cluster is down"
            } else {
                "Script attempted to access a non local key in a cluster node"
            };
            return refuse(cmd, msg.into());
        }
        if !ctx.allow_cross_slot {
            if let Some(&i) = cmd.keys_in(&argv).first() {
                let slot = shoal_cluster::slot::key_hash_slot(&argv[i]);
                match ctx.slot {
                    None => ctx.slot = Some(slot),
                    Some(s) if s != slot => {
                        return refuse(
                            cmd,
                            "Script attempted to access keys that do not hash to the same slot"
                                .into(),
                        )
                    }
                    _ => {}
                }
            }
        }
    }
    let mut out = Out::new(ctx.client.resp3);
    let mark = crate::propagate::mark();
    crate::exec::call(srv, &mut ctx.client, cmd, &argv, &mut out, hot);
    if ctx.repl != REPL_ALL && ctx.repl == 0 {
        crate::propagate::truncate(mark);
    }
    srv.stats.count_errors(&out.errors);
    Ok(out.buf.to_vec())
}

fn redis_log(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let args = args.into_vec();
    if args.len() < 2 {
        return fail_table(lua, "redis.log() requires two arguments or more.");
    }
    let level = match &args[0] {
        Value::Integer(i) => *i,
        Value::Number(n) => *n as i64,
        Value::String(s) => match crate::util::parse_i64(&s.as_bytes()) {
            Some(n) => n,
            None => return fail_table(lua, "First argument must be a number (log level)."),
        },
        _ => return fail_table(lua, "First argument must be a number (log level)."),
    };
    let level = match level {
        0 => crate::log::Level::Debug,
        1 => crate::log::Level::Verbose,
        2 => crate::log::Level::Notice,
        3 => crate::log::Level::Warning,
        _ => return fail_table(lua, "Invalid debug level."),
    };
    if !crate::log::enabled(level) {
        return ok0();
    }
    let mut msg = Vec::new();
    for (i, a) in args[1..].iter().enumerate() {
        let part = match a {
            Value::String(s) => s.as_bytes().to_vec(),
            Value::Integer(n) => n.to_string().into_bytes(),
            Value::Number(n) => lua_number_string(*n).into_bytes(),
            _ => continue,
        };
        if i > 0 {
            msg.push(b' ');
        }
        msg.extend_from_slice(&part);
    }
    crate::log::log(level, &String::from_utf8_lossy(&msg));
    ok0()
}

/// Lua 5.1's number → string conversion (`%.14g`).
pub fn lua_number_string(n: f64) -> String {
    super::format_g(n, 14)
}

fn redis_setresp(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let args = args.into_vec();
    if args.len() != 1 {
        return fail_table(lua, "redis.setresp() requires one argument.");
    }
    let v = match &args[0] {
        Value::Integer(i) => *i,
        Value::Number(n) => *n as i64,
        Value::String(s) => crate::util::parse_i64(&s.as_bytes()).unwrap_or(0),
        _ => 0,
    };
    if v != 2 && v != 3 {
        return fail_table(lua, "RESP version must be 2 or 3.");
    }
    let set = RUN.with(|r| {
        r.borrow_mut().as_mut().map(|ctx| {
            ctx.client.resp3 = v == 3;
        })
    });
    if set.is_none() {
        return fail_table(
            lua,
            "redis.setresp can only be called inside a script invocation",
        );
    }
    ok0()
}

fn redis_sha1hex(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let args = args.into_vec();
    if args.len() != 1 {
        return fail_table(lua, "wrong number of arguments");
    }
    let data = match &args[0] {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Integer(i) => i.to_string().into_bytes(),
        Value::Number(n) => lua_number_string(*n).into_bytes(),
        _ => Vec::new(),
    };
    ok1(Value::String(lua.create_string(super::sha1_hex(&data))?))
}

fn single_string_arg(args: &[Value]) -> Option<mlua::LuaString> {
    match args {
        [Value::String(s)] => Some(s.clone()),
        _ => None,
    }
}

fn redis_error_reply(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let args = args.into_vec();
    let Some(s) = single_string_arg(&args) else {
        let t = convert::error_from_message(lua, "wrong number or type of arguments")?;
        return ok1(Value::Table(t));
    };
    let bytes = s.as_bytes();
    let text = bytes.strip_prefix(b"-").unwrap_or(&bytes);
    ok1(Value::Table(convert::error_table(lua, text)?))
}

fn redis_status_reply(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let args = args.into_vec();
    let Some(s) = single_string_arg(&args) else {
        let t = convert::error_from_message(lua, "wrong number or type of arguments")?;
        return ok1(Value::Table(t));
    };
    let t = lua.create_table()?;
    t.raw_set("ok", s)?;
    ok1(Value::Table(t))
}

fn redis_set_repl(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let args = args.into_vec();
    if RUN.with(|r| r.borrow().is_none()) {
        return fail_table(
            lua,
            "redis.set_repl can only be called inside a script invocation",
        );
    }
    if args.len() != 1 {
        return fail_table(lua, "redis.set_repl() requires two arguments.");
    }
    let flags = match &args[0] {
        Value::Integer(i) => *i,
        Value::Number(n) => *n as i64,
        Value::String(s) => crate::util::parse_i64(&s.as_bytes()).unwrap_or(0),
        _ => 0,
    };
    if flags & !3 != 0 {
        return fail_table(
            lua,
            "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
        );
    }
    RUN.with(|r| {
        if let Some(ctx) = r.borrow_mut().as_mut() {
            ctx.repl = flags as u8;
        }
    });
    ok0()
}

/// redis.acl_check_cmd: whether the caller's user may run the command
/// (with those arguments); an unknown command is an error.
fn redis_acl_check_cmd(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let args = args.into_vec();
    if RUN.with(|r| r.borrow().is_none()) {
        return fail_table(
            lua,
            "redis.acl_check_cmd can only be called inside a script invocation",
        );
    }
    let argv = match to_argv(&args) {
        Ok(a) => a,
        Err(e) => return fail_table(lua, e),
    };
    let found = commands::lookup(&argv[0]).and_then(|c| commands::resolve(c, &argv).ok());
    let Some(cmd) = found else {
        return fail_table(lua, "Invalid command passed to redis.acl_check_cmd()");
    };
    let allowed = RUN.with(|r| {
        r.borrow()
            .as_ref()
            .and_then(|ctx| ctx.client.user.clone())
            .is_none_or(|u| u.check(cmd, &argv).is_ok())
    });
    ok1(Value::Boolean(allowed))
}

/// An integer argument as luaL_checkint reads it, or the "bad argument" text.
pub fn check_int(args: &[Value], i: usize, fname: &str) -> Result<i64, String> {
    let bad = |got: &str| {
        format!(
            "bad argument #{} to '{fname}' (number expected, got {got})",
            i + 1
        )
    };
    match args.get(i) {
        Some(Value::Integer(n)) => Ok(*n),
        Some(Value::Number(n)) => Ok(*n as i64),
        Some(Value::String(s)) => {
            let t = String::from_utf8_lossy(&s.as_bytes()).trim().to_string();
            t.parse::<f64>()
                .map(|f| f as i64)
                .map_err(|_| bad("string"))
        }
        Some(v) => Err(bad(v.type_name())),
        None => Err(bad("no value")),
    }
}

fn math_random(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let args = args.into_vec();
    let r = super::rand48_unit();
    let v = match args.len() {
        0 => r,
        1 => {
            let u = match check_int(&args, 0, "random") {
                Ok(u) => u,
                Err(e) => return fail_str(lua, &e),
            };
            if u < 1 {
                return fail_str(lua, "bad argument #1 to 'random' (interval is empty)");
            }
            (r * u as f64).floor() + 1.0
        }
        2 => {
            let l = match check_int(&args, 0, "random") {
                Ok(v) => v,
                Err(e) => return fail_str(lua, &e),
            };
            let u = match check_int(&args, 1, "random") {
                Ok(v) => v,
                Err(e) => return fail_str(lua, &e),
            };
            if l > u {
                return fail_str(lua, "bad argument #2 to 'random' (interval is empty)");
            }
            (r * (u - l + 1) as f64).floor() + l as f64
        }
        _ => return fail_str(lua, "wrong number of arguments"),
    };
    ok1(Value::Number(v))
}

fn math_randomseed(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let args = args.into_vec();
    match check_int(&args, 0, "randomseed") {
        Ok(s) => {
            super::rand48_seed(s as i32);
            ok0()
        }
        Err(e) => fail_str(lua, &e),
    }
}
