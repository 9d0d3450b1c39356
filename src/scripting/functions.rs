//! Redis 7 Functions: the library registry (shared), loading a library's
//! code into a VM (`#!lua name=<lib>` + redis.register_function), and the
//! per-VM table of registered Lua functions, rebuilt from the registry's
//! code when it changed (every thread's VM sees the same libraries).

use super::convert;
use super::engine::{lua_error_text, Engine};
use bytes::Bytes;
use mlua::{Function, Lua, MultiValue, Table, Value};
use parking_lot::Mutex;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub struct FunctionInfo {
    pub name: String,
    pub description: Option<Bytes>,
    pub flags: u64,
}

pub struct Library {
    pub name: String,
    /// The whole FUNCTION LOAD payload (shebang included).
    pub code: Bytes,
    pub functions: Vec<FunctionInfo>,
}

#[derive(Default)]
pub struct Registry {
    pub libs: Mutex<BTreeMap<String, Arc<Library>>>,
    /// Bumped on every change: VMs reload their functions.
    pub epoch: AtomicU64,
}

impl Registry {
    /// The library and flags of function `name`.
    pub fn find(&self, name: &[u8]) -> Option<(Arc<Library>, u64)> {
        let libs = self.libs.lock();
        for lib in libs.values() {
            if let Some(f) = lib
                .functions
                .iter()
                .find(|f| f.name.as_bytes().eq_ignore_ascii_case(name))
            {
                return Some((lib.clone(), f.flags));
            }
        }
        None
    }

    pub fn flush(&self) {
        self.libs.lock().clear();
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    pub fn snapshot(&self) -> Vec<Arc<Library>> {
        self.libs.lock().values().cloned().collect()
    }

    /// Add `lib` (replacing one of its name when `replace`), checking that
    /// none of its functions exists in another library.
    pub fn insert(&self, lib: Library, replace: bool) -> Result<(), String> {
        let mut libs = self.libs.lock();
        if libs.contains_key(&lib.name) && !replace {
            return Err(format!("ERR Library '{}' already exists", lib.name));
        }
        for f in &lib.functions {
            let clash = libs.values().any(|l| {
                l.name != lib.name
                    && l.functions
                        .iter()
                        .any(|g| g.name.eq_ignore_ascii_case(&f.name))
            });
            if clash {
                return Err(format!("ERR Function {} already exists", f.name));
            }
        }
        libs.insert(lib.name.clone(), Arc::new(lib));
        drop(libs);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    pub fn delete(&self, name: &[u8]) -> bool {
        let name = String::from_utf8_lossy(name).into_owned();
        let removed = self.libs.lock().remove(&name).is_some();
        if removed {
            self.epoch.fetch_add(1, Ordering::AcqRel);
        }
        removed
    }

    /// Replace everything with `libs` (FUNCTION RESTORE FLUSH, loading).
    pub fn replace_all(&self, libs: Vec<Library>) {
        let mut map = BTreeMap::new();
        for l in libs {
            map.insert(l.name.clone(), Arc::new(l));
        }
        *self.libs.lock() = map;
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }
}

/// How libraries found in an RDB being loaded join the registry.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RdbPolicy {
    /// The file's libraries are all there is (startup, full sync, DEBUG RELOAD).
    ReplaceAll,
    /// Added; one that exists fails the load (DEBUG RELOAD NOFLUSH).
    Append,
    /// Added, replacing those of the same name (DEBUG RELOAD NOFLUSH MERGE).
    Merge,
}

thread_local! {
    /// The policy for the RDB load running on this thread.
    pub static RDB_POLICY: std::cell::Cell<RdbPolicy> = const { std::cell::Cell::new(RdbPolicy::ReplaceAll) };
}

/// Put the libraries loaded from an RDB in place, per [`RDB_POLICY`].
pub fn install_from_rdb(reg: &Registry, libs: Vec<Library>) -> Result<(), String> {
    match RDB_POLICY.with(|p| p.get()) {
        RdbPolicy::ReplaceAll => {
            reg.replace_all(libs);
            Ok(())
        }
        RdbPolicy::Append => libs.into_iter().try_for_each(|l| reg.insert(l, false)),
        RdbPolicy::Merge => libs.into_iter().try_for_each(|l| reg.insert(l, true)),
    }
}

/// The library name and the code to compile (from the shebang's newline).
pub fn parse_metadata(code: &[u8]) -> Result<(String, usize), String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let Some(end) = code.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid library metadata".into());
    };
    let parts = crate::protocol::parse::split_args(&code[..end])
        .filter(|p| !p.is_empty())
        .ok_or("ERR Invalid library metadata")?;
    let engine = String::from_utf8_lossy(&parts[0][2..]).into_owned();
    let mut name: Option<String> = None;
    for p in &parts[1..] {
        if p.len() >= 5 && p[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(
                    "ERR Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(String::from_utf8_lossy(&p[5..]).into_owned());
            continue;
        }
        return Err(format!(
            "ERR Invalid metadata value given: {}",
            String::from_utf8_lossy(p)
        ));
    }
    let Some(name) = name else {
        return Err("ERR Library name was not given".into());
    };
    if !valid_name(&name) {
        return Err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("ERR Engine '{engine}' not found"));
    }
    Ok((name, end))
}

pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// One redis.register_function call while a library loads.
pub struct Registered {
    pub info: FunctionInfo,
    pub func: Function,
}

thread_local! {
    /// Set while a library's code runs (redis.register_function collects here).
    static LOADING: RefCell<Option<Vec<Registered>>> = const { RefCell::new(None) };
}

/// Run a library's code in `eng` with the load-time globals (only the
/// `redis` table with register_function, log and the version); the
/// functions it registered.
pub fn load_into(eng: &Engine, code: &[u8], body_start: usize) -> Result<Vec<Registered>, String> {
    let lua = &eng.lua;
    let chunk = lua
        .load(&code[body_start..])
        .set_name("@user_function")
        .into_function()
        .map_err(|e| format!("ERR Error compiling function: {}", lua_error_text(&e)))?;
    LOADING.with(|l| *l.borrow_mut() = Some(Vec::new()));
    let _ = eng.globals_mt.raw_set("__index", eng.load_api.clone());
    let started = std::time::Instant::now();
    let _ = lua.set_hook(
        mlua::HookTriggers::new().every_nth_instruction(100_000),
        move |_, _| {
            if started.elapsed() > std::time::Duration::from_millis(LOAD_TIMEOUT_MS) {
                return Err(mlua::Error::RuntimeError("FUNCTION LOAD timeout".into()));
            }
            Ok(mlua::VmState::Continue)
        },
    );
    let result: mlua::Result<(bool, Value)> = eng.protected.call(chunk);
    lua.remove_hook();
    let _ = eng.globals_mt.raw_set("__index", eng.globals.clone());
    let registered = LOADING.with(|l| l.borrow_mut().take()).unwrap_or_default();
    match result {
        Ok((true, _)) => {}
        Ok((false, err)) => {
            let msg = match &err {
                Value::Table(t) => match t.raw_get::<Value>("err") {
                    Ok(Value::String(s)) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
                    _ => String::new(),
                },
                Value::String(s) => format!("ERR {}", String::from_utf8_lossy(&s.as_bytes())),
                other => format!("ERR {other:?}"),
            };
            return Err(format!("ERR Error registering functions: {msg}"));
        }
        Err(e) => {
            let text = lua_error_text(&e);
            let text = if text.contains("FUNCTION LOAD timeout") {
                "FUNCTION LOAD timeout".to_string()
            } else {
                text
            };
            return Err(format!("ERR Error registering functions: ERR {text}"));
        }
    }
    if registered.is_empty() {
        return Err("ERR No functions registered".into());
    }
    Ok(registered)
}

/// How long a library's top-level code may run.
const LOAD_TIMEOUT_MS: u64 = 500;

/// Check and load `code` (FUNCTION LOAD): the library, ready to insert.
pub fn compile_library(eng: &Engine, code: &Bytes) -> Result<(Library, Vec<Registered>), String> {
    let (name, body_start) = parse_metadata(code)?;
    let registered = load_into(eng, code, body_start)?;
    let functions = registered
        .iter()
        .map(|r| FunctionInfo {
            name: r.info.name.clone(),
            description: r.info.description.clone(),
            flags: r.info.flags,
        })
        .collect();
    Ok((
        Library {
            name,
            code: code.clone(),
            functions,
        },
        registered,
    ))
}

/// The Lua function for `name` in this VM, reloading every library first
/// if the registry changed since this VM last did.
pub fn lua_function(eng: &mut Engine, reg: &Registry, name: &str) -> Option<Function> {
    let epoch = reg.epoch.load(Ordering::Acquire);
    if eng.libs_epoch != epoch {
        eng.lib_funcs.clear();
        for lib in reg.snapshot() {
            let Ok((_, start)) = parse_metadata(&lib.code) else {
                continue;
            };
            match load_into(eng, &lib.code, start) {
                Ok(fs) => {
                    for r in fs {
                        eng.lib_funcs
                            .insert(r.info.name.to_ascii_lowercase(), r.func);
                    }
                }
                Err(e) => crate::warning!("Failed reloading library {}: {e}", lib.name),
            }
        }
        eng.libs_epoch = epoch;
    }
    eng.lib_funcs.get(&name.to_ascii_lowercase()).cloned()
}

/// redis.register_function(name, callback) or
/// redis.register_function{function_name=, callback=, flags=, description=}.
pub fn register_function(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let fail = |msg: &str| -> mlua::Result<MultiValue> {
        let t = convert::error_from_message(lua, msg)?;
        Ok(MultiValue::from_vec(vec![
            Value::Boolean(false),
            Value::Table(t),
        ]))
    };
    if LOADING.with(|l| l.borrow().is_none()) {
        return fail("redis.register_function can only be called on FUNCTION LOAD command");
    }
    let args = args.into_vec();
    if args.is_empty() || args.len() > 2 {
        return fail("wrong number of arguments to redis.register_function");
    }
    let (name, func, flags, description) = if args.len() == 1 {
        let Value::Table(t) = &args[0] else {
            return fail("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).");
        };
        match named_args(t) {
            Ok(x) => x,
            Err(e) => return fail(e),
        }
    } else {
        let Value::String(n) = &args[0] else {
            return fail("first argument to redis.register_function must be a string");
        };
        let Value::Function(f) = &args[1] else {
            return fail("second argument to redis.register_function must be a function");
        };
        (
            String::from_utf8_lossy(&n.as_bytes()).into_owned(),
            f.clone(),
            0,
            None,
        )
    };
    if !valid_name(&name) {
        return fail("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long");
    }
    let dup = LOADING.with(|l| {
        l.borrow()
            .as_ref()
            .is_some_and(|v| v.iter().any(|r| r.info.name.eq_ignore_ascii_case(&name)))
    });
    if dup {
        return fail("Function already exists in the library");
    }
    LOADING.with(|l| {
        if let Some(v) = l.borrow_mut().as_mut() {
            v.push(Registered {
                info: FunctionInfo {
                    name,
                    description,
                    flags,
                },
                func,
            });
        }
    });
    Ok(MultiValue::from_vec(vec![Value::Boolean(true)]))
}

type NamedArgs = (String, Function, u64, Option<Bytes>);

fn named_args(t: &Table) -> Result<NamedArgs, &'static str> {
    let mut name = None;
    let mut func = None;
    let mut flags = 0u64;
    let mut description = None;
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair.map_err(|_| "unknown argument given to redis.register_function")?;
        let Value::String(k) = k else {
            return Err("named argument key given to redis.register_function is not a string");
        };
        match &*k.as_bytes() {
            b"function_name" => {
                match v {
                    Value::String(s) => {
                        name = Some(String::from_utf8_lossy(&s.as_bytes()).into_owned())
                    }
                    _ => return Err(
                        "function_name argument given to redis.register_function must be a string",
                    ),
                }
            }
            b"description" => {
                match v {
                    Value::String(s) => description = Some(Bytes::copy_from_slice(&s.as_bytes())),
                    _ => return Err(
                        "description argument given to redis.register_function must be a string",
                    ),
                }
            }
            b"callback" => match v {
                Value::Function(f) => func = Some(f),
                _ => {
                    return Err(
                        "callback argument given to redis.register_function must be a function",
                    )
                }
            },
            b"flags" => {
                let Value::Table(ft) = v else {
                    return Err("flags argument to redis.register_function must be a table representing function flags");
                };
                for item in ft.sequence_values::<Value>() {
                    let Ok(Value::String(s)) = item else {
                        return Err("unknown flag given");
                    };
                    let s = s.as_bytes();
                    match super::FLAG_NAMES
                        .iter()
                        .find(|(_, n)| n.as_bytes().eq_ignore_ascii_case(&s))
                    {
                        Some((bit, _)) => flags |= bit,
                        None => return Err("unknown flag given"),
                    }
                }
            }
            _ => return Err("unknown argument given to redis.register_function"),
        }
    }
    let Some(name) = name else {
        return Err("redis.register_function must get a function name argument");
    };
    let Some(func) = func else {
        return Err("redis.register_function must get a callback argument");
    };
    Ok((name, func, flags, description))
}
