//! The Lua VM of this thread and one script run: compile (cached per VM by
//! SHA1), Redis's checks before the run (scriptPrepareForRun), KEYS/ARGV,
//! the busy/kill hook, the call under the error handler, and the reply.

use super::bridge::{self, RunCtx, RUN};
use super::{convert, sandbox, Script, FLAG_ALLOW_CROSS_SLOT, FLAG_ALLOW_OOM, FLAG_EVAL_COMPAT};
use super::{FLAG_NO_CLUSTER, FLAG_NO_WRITES};
use crate::client::{Client, ClientInfo};
use crate::commands::Ctx;
use crate::protocol::Out;
use bytes::Bytes;
use mlua::{Function, HookTriggers, Lua, LuaOptions, StdLib, Table, Value, VmState};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// VM instructions between checks for SCRIPT KILL and the busy threshold.
const HOOK_INSTRUCTIONS: u32 = 10_000;

pub struct Engine {
    pub lua: Lua,
    /// The hidden table the (empty, protected) globals read through.
    pub globals: Table,
    /// The globals' metatable (its __index switches to `load_api` while a
    /// library loads).
    pub globals_mt: Table,
    pub load_api: Table,
    /// pcall(f) without Redis's error conversion (library loading).
    pub protected: Function,
    run: Function,
    /// Registry epoch the library functions below were loaded at.
    pub libs_epoch: u64,
    pub lib_funcs: HashMap<String, Function>,
    /// Compiled scripts by SHA1 (EVAL) or library functions (FCALL).
    funcs: HashMap<String, Function>,
    epoch: u64,
    client_info: Arc<ClientInfo>,
}

thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
    /// Where SCRIPT KILL stopped the script (source, line), for its error.
    static KILLED_AT: RefCell<Option<(String, usize)>> = const { RefCell::new(None) };
}

impl Engine {
    fn new(srv: &crate::server::Server, epoch: u64) -> mlua::Result<Engine> {
        // SAFETY: the debug library is only used by the sandbox's error
        // handler and removed from what scripts can reach.
        let lua = unsafe {
            Lua::unsafe_new_with(
                StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG,
                LuaOptions::new(),
            )
        };
        let raw = bridge::raw_table(&lua)?;
        let libs = lua.create_table()?;
        libs.set("cjson", super::lib_cjson::table(&lua)?)?;
        libs.set("bit", super::lib_bit::table(&lua)?)?;
        libs.set("struct", super::lib_struct::table(&lua)?)?;
        libs.set("cmsgpack", super::lib_cmsgpack::table(&lua)?)?;
        let (globals, run, globals_mt, load_api, protected): (
            Table,
            Function,
            Table,
            Table,
            Function,
        ) = lua
            .load(sandbox::INIT)
            .set_name(sandbox::CHUNK_NAME)
            .call((raw, libs, sandbox::wrapper_factory(&lua)?))?;
        let addr: std::net::SocketAddr = ([0, 0, 0, 0], 0).into();
        let client_info = Arc::new(ClientInfo::new(srv.clients.next_id(), addr, addr));
        Ok(Engine {
            lua,
            globals,
            globals_mt,
            load_api,
            protected,
            run,
            libs_epoch: u64::MAX,
            lib_funcs: HashMap::new(),
            funcs: HashMap::new(),
            epoch,
            client_info,
        })
    }

    /// The compiled script for `sha`, compiling `script` if this VM has not.
    pub fn function(&mut self, sha: &str, script: &Script) -> Result<Function, String> {
        if let Some(f) = self.funcs.get(sha) {
            return Ok(f.clone());
        }
        let code = &script.body[script.shebang_len..];
        let f = self
            .lua
            .load(code)
            .set_name("@user_script")
            .into_function()
            .map_err(|e| {
                format!(
                    "ERR Error compiling script (new function): {}",
                    lua_error_text(&e)
                )
            })?;
        self.funcs.insert(sha.to_string(), f.clone());
        Ok(f)
    }
}

/// A Lua error's message as Lua itself would print it.
pub fn lua_error_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(m) => m.clone(),
        mlua::Error::CallbackError { cause, .. } => lua_error_text(cause),
        other => other.to_string(),
    }
}

/// Run `f` with this thread's engine (built, or rebuilt after SCRIPT
/// FLUSH, on demand).
pub fn with_engine<R>(
    srv: &crate::server::Server,
    f: impl FnOnce(&mut Engine) -> R,
) -> Result<R, String> {
    let epoch = srv.scripting.epoch.load(Ordering::Acquire);
    ENGINE.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|e| e.epoch != epoch) {
            *slot = None;
            match Engine::new(srv, epoch) {
                Ok(e) => *slot = Some(e),
                Err(e) => return Err(format!("ERR Lua engine failed to start: {e}")),
            }
        }
        Ok(f(slot.as_mut().expect("engine")))
    })
}

/// One invocation: EVAL (`keys`/`args` as globals KEYS/ARGV) or FCALL
/// (passed as the function's two arguments).
pub struct Invocation<'a> {
    pub name: &'a str,
    pub flags: u64,
    pub keys: &'a [Bytes],
    pub args: &'a [Bytes],
    /// EVAL_RO / EVALSHA_RO / FCALL_RO.
    pub ro: bool,
    pub eval: bool,
}

/// Redis's scriptPrepareForRun checks: the error to reply, if any.
fn prepare_error(ctx: &Ctx, inv: &Invocation, obey: bool) -> Option<String> {
    let flags = inv.flags;
    if flags & FLAG_EVAL_COMPAT != 0 {
        return None;
    }
    if flags & FLAG_NO_CLUSTER != 0 && ctx.srv.cluster.get().is_some() {
        return Some("ERR Can not run script on cluster, 'no-cluster' flag is set.".into());
    }
    if flags & FLAG_NO_WRITES == 0 {
        if crate::propagate::is_replica()
            && !obey
            && ctx.srv.config.read().get_bool("replica-read-only")
        {
            return Some("READONLY Can not run script with write flag on readonly replica".into());
        }
        if ctx.srv.aof.has_write_error.load(Ordering::Relaxed) && !obey {
            let e = ctx.srv.aof.write_error.lock().clone().unwrap_or_default();
            return Some(format!("MISCONF Redis is configured to persist data to AOF, but it's currently unable to persist to disk. Writable scripts are blocked. Use 'no-writes' flag for read only scripts. AOF error: {e}"));
        }
        if inv.ro {
            return Some("ERR Can not execute a script with write flag using *_ro command.".into());
        }
    }
    if ctx.hot.maxmemory > 0
        && flags & (FLAG_ALLOW_OOM | FLAG_NO_WRITES) == 0
        && !obey
        && crate::memory::used_memory() > ctx.hot.maxmemory
    {
        return Some("OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'".into());
    }
    None
}

/// Whether the caller must be obeyed (our master's stream, the AOF).
fn obey_caller(ctx: &Ctx) -> bool {
    crate::propagate::expiry_suspended()
        || ctx.srv.persist.loading.load(Ordering::Acquire)
        || ctx.client.info.kind.load(Ordering::Relaxed) == crate::client::KIND_MASTER
}

/// Run `func` (already compiled in `eng`) for `inv`, writing its reply.
pub fn run(ctx: &mut Ctx, out: &mut Out, eng: &mut Engine, func: Function, inv: &Invocation) {
    let obey = obey_caller(ctx);
    if let Some(e) = prepare_error(ctx, inv, obey) {
        return out.error(&e);
    }
    let compat = inv.flags & FLAG_EVAL_COMPAT != 0;
    let srv = ctx.srv;
    let lua = &eng.lua;
    let keys = match array(lua, inv.keys) {
        Ok(t) => t,
        Err(e) => return out.error(&format!("ERR {e}")),
    };
    let args = match array(lua, inv.args) {
        Ok(t) => t,
        Err(e) => return out.error(&format!("ERR {e}")),
    };
    if inv.eval {
        let _ = eng.globals.raw_set("KEYS", keys.clone());
        let _ = eng.globals.raw_set("ARGV", args.clone());
    }
    let mut client = Client::new(eng.client_info.clone(), true);
    client.db = ctx.client.db;
    client.in_exec = true;
    client.script = true;
    client.user = ctx.client.user.clone();
    let slot = inv
        .keys
        .first()
        .map(|k| shoal_cluster::slot::key_hash_slot(k));
    let run_ctx = RunCtx {
        srv: srv as *const _,
        hot: ctx.hot as *const _,
        client,
        caller: ctx.client.info.clone(),
        read_only: inv.ro || (!compat && inv.flags & FLAG_NO_WRITES != 0),
        allow_oom: !compat && inv.flags & FLAG_ALLOW_OOM != 0,
        allow_cross_slot: compat || inv.flags & FLAG_ALLOW_CROSS_SLOT != 0,
        oom_at_start: ctx.hot.maxmemory > 0 && crate::memory::used_memory() > ctx.hot.maxmemory,
        obey,
        slot,
        cluster: ctx.client.cluster,
        wrote: false,
        repl: bridge::REPL_ALL,
    };
    RUN.with(|r| *r.borrow_mut() = Some(run_ctx));

    let running = &srv.scripting.running;
    *running.name.lock() = inv.name.to_string();
    *running.argv.lock() = ctx.argv.to_vec();
    running.is_eval.store(inv.eval, Ordering::Relaxed);
    running.kill.store(false, Ordering::Relaxed);
    running.wrote.store(false, Ordering::Relaxed);
    running.timed_out.store(false, Ordering::Relaxed);
    running.from_master.store(obey, Ordering::Relaxed);
    let started_ms = crate::util::now_ms();
    running.since_ms.store(started_ms.max(1), Ordering::Release);
    let threshold_ms = srv.config.read().get_i64("busy-reply-threshold").max(0) as u64;
    install_hook(lua, srv.handle(), started_ms, threshold_ms, inv.eval);

    let result = if inv.eval {
        eng.run.call::<(bool, Value)>(func)
    } else {
        eng.run.call::<(bool, Value)>((func, keys, args))
    };

    lua.remove_hook();
    srv.scripting
        .vm_bytes
        .store(lua.used_memory() as u64, Ordering::Relaxed);
    let killed = running.kill.load(Ordering::Acquire);
    running.since_ms.store(0, Ordering::Release);
    running.timed_out.store(false, Ordering::Release);
    let run_ctx = RUN.with(|r| r.borrow_mut().take());
    if inv.eval {
        let _ = eng.globals.raw_set("KEYS", Value::Nil);
        let _ = eng.globals.raw_set("ARGV", Value::Nil);
    }
    let script_resp3 = run_ctx.as_ref().is_some_and(|c| c.client.resp3);
    match result {
        Ok((true, v)) => convert::lua_to_reply(&v, out, script_resp3),
        Ok((false, err)) => write_error(out, &err, inv.name, killed),
        Err(_) if killed => {
            let mut msg = "ERR Script killed by user with SCRIPT KILL...".to_string();
            if let Some((source, line)) = KILLED_AT.with(|k| k.borrow_mut().take()) {
                msg.push_str(&format!(" script: {}, on {source}:{line}.", inv.name));
            }
            out.error(&msg)
        }
        Err(e) => out.error(&format!(
            "ERR Error running script {}, {}",
            inv.name,
            lua_error_text(&e)
        )),
    }
}

/// Redis's luaCallFunction error reply: "<err> script: <name>, on <source>:<line>."
fn write_error(out: &mut Out, err: &Value, name: &str, killed: bool) {
    let Value::Table(t) = err else {
        return out.error(&format!(
            "ERR Error running script {name}, execution failure"
        ));
    };
    let text = |k: &str| match t.raw_get::<Value>(k) {
        Ok(Value::String(s)) => Some(String::from_utf8_lossy(&s.as_bytes()).into_owned()),
        Ok(Value::Integer(i)) => Some(i.to_string()),
        Ok(Value::Number(n)) => Some(bridge::lua_number_string(n)),
        _ => None,
    };
    let mut msg = if killed {
        "ERR Script killed by user with SCRIPT KILL...".to_string()
    } else {
        text("err").unwrap_or_default()
    };
    if let (Some(source), Some(line)) = (text("source"), text("line")) {
        msg.push_str(&format!(" script: {name}, on {source}:{line}."));
    }
    let ignore_stats = matches!(
        t.raw_get::<Value>("ignore_error_stats_update"),
        Ok(Value::Boolean(true))
    );
    out.error(&msg);
    if ignore_stats {
        out.errors.pop();
    }
}

fn array(lua: &Lua, items: &[Bytes]) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, it) in items.iter().enumerate() {
        t.raw_set(i + 1, lua.create_string(it)?)?;
    }
    Ok(t)
}

/// Every HOOK_INSTRUCTIONS instructions: mark the script busy past the
/// threshold (others then get BUSY) and stop it on SCRIPT KILL.
fn install_hook(
    lua: &Lua,
    srv: Arc<crate::server::Server>,
    started_ms: u64,
    threshold_ms: u64,
    eval: bool,
) {
    let triggers = HookTriggers::new().every_nth_instruction(HOOK_INSTRUCTIONS);
    let _ = lua.set_hook(triggers, move |lua, debug| {
        let running = &srv.scripting.running;
        if running.kill.load(Ordering::Acquire) {
            crate::warning!("Lua script killed by user with SCRIPT KILL.");
            let source = debug.source().source.map(|s| s.into_owned());
            if let (Some(s), Some(l)) = (source, debug.current_line()) {
                KILLED_AT.with(|k| *k.borrow_mut() = Some((s, l)));
            }
            // From now on every instruction fails, so pcall cannot catch it away.
            let _ = lua.set_hook(HookTriggers::new().every_nth_instruction(1), |_, _| {
                Err(mlua::Error::RuntimeError(
                    "Script killed by user with SCRIPT KILL...".into(),
                ))
            });
            return Err(mlua::Error::RuntimeError(
                "Script killed by user with SCRIPT KILL...".into(),
            ));
        }
        if !running.timed_out.load(Ordering::Relaxed) && threshold_ms > 0 {
            let elapsed = crate::util::now_ms().saturating_sub(started_ms);
            if elapsed >= threshold_ms {
                crate::warning!(
                    "Slow script detected: still in execution after {} milliseconds. You can try killing the script using the {} command. Script name is: {}.",
                    elapsed,
                    if eval { "SCRIPT KILL" } else { "FUNCTION KILL" },
                    running.name.lock()
                );
                running.timed_out.store(true, Ordering::Release);
            }
        }
        Ok(VmState::Continue)
    });
}

#[cfg(test)]
mod tests {
    use mlua::{Lua, LuaOptions, StdLib};

    #[test]
    fn wrapper_error_level() {
        let lua = unsafe { Lua::unsafe_new_with(StdLib::DEBUG, LuaOptions::new()) };
        let raw = lua.create_function(|_, ()| Ok((false, "boom"))).unwrap();
        let r: String = lua
            .load(
                r#"
local raw = ...
local function w(...) local ok, m = raw(...) error(m, 2) end
local function w2(...) local ok, m = false, 'plain' error(m, 2) end
local f = loadstring("return (...)()", "@user_script")
local a = select(2, pcall(f, w))
local b = select(2, pcall(f, w2))
return a .. ' | ' .. b
"#,
            )
            .set_name("=shoal")
            .call(raw)
            .unwrap();
        println!("{r}");
    }
}
