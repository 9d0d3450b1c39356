//! The script environment Redis 7.0 gives Lua code, built in Lua itself
//! once per VM: the allowed globals, read-only library tables, the `redis`
//! table, Redis's `pcall`, the error handler that adds `source`/`line`
//! to errors, and the runner that calls a script under it.
//!
//! Redis patches Lua 5.1 with read-only tables; stock Lua has none, so
//! protection here is by proxies: the real globals table is emptied and
//! reads fall through (`__index`) to a hidden backing table whose own
//! `__index` raises "Script attempted to access nonexistent global
//! variable"; every write to the globals or to a library table meets a
//! `__newindex` raising "Attempt to modify a readonly table", and
//! `setmetatable`/`rawset` refuse protected tables.
//!
//! Rust functions never raise Lua errors themselves (mlua would raise a
//! userdata): they return `true, results...` or `false, error`, and a small
//! C closure around each ([`wrap`]) raises the error. Being a C function,
//! it keeps the caller's frame even in `return redis.call(...)` (a Lua
//! wrapper would be tail-called away), so a string error gets the script's
//! position as `luaL_error` gives it, and tables (`{err = "..."}`) are
//! raised as they are, as Redis 7 does.

use mlua::ffi;
use std::os::raw::c_int;

/// The closure `wrap(f)` returns: call `f`, return its results after the
/// leading `true`, or raise its error (strings with the caller's position).
unsafe extern "C-unwind" fn raise_from(state: *mut ffi::lua_State) -> c_int {
    let nargs = ffi::lua_gettop(state);
    ffi::lua_checkstack(state, 2);
    ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
    ffi::lua_insert(state, 1);
    ffi::lua_call(state, nargs, ffi::LUA_MULTRET);
    raise_or_return(state)
}

/// Like [`raise_from`], but the arguments reach `f` as one table and their
/// count (`f(args, n)`): redis.call may get thousands (`unpack(t)`), more
/// than a Lua C stack may hold twice.
unsafe extern "C-unwind" fn raise_from_packed(state: *mut ffi::lua_State) -> c_int {
    let nargs = ffi::lua_gettop(state);
    ffi::lua_checkstack(state, 4);
    ffi::lua_createtable(state, nargs, 0);
    for i in 1..=nargs {
        ffi::lua_pushvalue(state, i);
        ffi::lua_rawseti(state, -2, i as ffi::lua_Integer);
    }
    ffi::lua_insert(state, 1);
    ffi::lua_settop(state, 1);
    ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
    ffi::lua_insert(state, 1);
    ffi::lua_pushinteger(state, nargs as ffi::lua_Integer);
    ffi::lua_call(state, 2, ffi::LUA_MULTRET);
    raise_or_return(state)
}

/// After `f` returned on the stack: its results after a leading `true`,
/// or raise its error.
unsafe fn raise_or_return(state: *mut ffi::lua_State) -> c_int {
    let top = ffi::lua_gettop(state);
    if top >= 1 && ffi::lua_toboolean(state, 1) != 0 {
        ffi::lua_remove(state, 1);
        return top - 1;
    }
    if top >= 2 {
        ffi::lua_pushvalue(state, 2);
    } else {
        ffi::lua_pushnil(state);
    }
    if ffi::lua_type(state, -1) == ffi::LUA_TSTRING {
        ffi::luaL_where(state, 1);
        ffi::lua_insert(state, -2);
        ffi::lua_concat(state, 2);
    }
    ffi::lua_error(state)
}

/// `wrap(f [, packed])`: a C closure over `f` (see [`raise_from`],
/// [`raise_from_packed`]).
unsafe extern "C-unwind" fn make_wrapper(state: *mut ffi::lua_State) -> c_int {
    let packed = ffi::lua_toboolean(state, 2) != 0;
    ffi::lua_settop(state, 1);
    if packed {
        ffi::lua_pushcclosure(state, raise_from_packed, 1);
    } else {
        ffi::lua_pushcclosure(state, raise_from, 1);
    }
    1
}

/// The `wrap` function the init chunk receives.
pub fn wrapper_factory(lua: &mlua::Lua) -> mlua::Result<mlua::Function> {
    // SAFETY: make_wrapper only pushes a closure over its argument.
    unsafe { lua.create_c_function(make_wrapper) }
}

/// Chunk name of this code; the error handler skips its frames.
pub const CHUNK_NAME: &str = "=shoal";

/// Called with (raw, libs): `raw` the Rust functions (`raw.api`: the redis
/// table's; `raw.call`, `raw.random`, `raw.randomseed`) and version strings,
/// `libs` the Rust library tables (cjson, bit, struct, cmsgpack). Returns
/// the hidden globals table and the runner.
pub const INIT: &str = r#"
local raw, libs, wrap = ...
local G = _G
local _error, _type, _select, _unpack, _tostring = error, type, select, unpack, tostring
local _rawset, _setmetatable, _getmetatable, _pairs = rawset, setmetatable, getmetatable, pairs
local _pcall, _xpcall, _loadstring = pcall, xpcall, loadstring
local getinfo = debug.getinfo

local function pack(...) return {n = _select('#', ...), ...} end


local protected = _setmetatable({}, {__mode = 'k'})
local function readonly_error() _error('Attempt to modify a readonly table', 2) end
local frozen = {}
_setmetatable(frozen, {__newindex = readonly_error, __metatable = frozen})
protected[frozen] = true

local function readonly(t)
  local p = {}
  _setmetatable(p, {__index = t, __newindex = readonly_error, __metatable = frozen})
  protected[p] = true
  return p
end

local function lib(rawlib)
  local t = {}
  for k, v in _pairs(rawlib) do
    if _type(v) == 'function' then t[k] = wrap(v) else t[k] = v end
  end
  return t
end

local backing = {}
_setmetatable(backing, {__index = function(_, k)
  _error("Script attempted to access nonexistent global variable '" .. _tostring(k) .. "'", 2)
end})

local allowed = {
  'xpcall', 'tostring', 'getfenv', 'next', 'assert', 'tonumber', 'rawequal',
  'collectgarbage', 'getmetatable', 'coroutine', 'type', 'select', 'unpack',
  'gcinfo', 'pairs', 'rawget', 'ipairs', '_VERSION', 'setfenv', 'load',
  'error', 'newproxy',
}
for _, name in _pairs(allowed) do backing[name] = G[name] end

backing.setmetatable = function(t, mt)
  if protected[t] then _error('Attempt to modify a readonly table', 2) end
  return _setmetatable(t, mt)
end
backing.rawset = function(t, k, v)
  if protected[t] then _error('Attempt to modify a readonly table', 2) end
  return _rawset(t, k, v)
end
-- Binary chunks are refused (as Redis's Lua does).
backing.loadstring = function(s, name)
  if _type(s) == 'string' and s:byte(1) == 27 then
    return nil, 'binary code loading is not allowed'
  end
  return _loadstring(s, name)
end
-- Redis's pcall: an error table {err = msg} comes back as its message.
backing.pcall = function(f, ...)
  local r = pack(_pcall(f, ...))
  if not r[1] then
    local e = r[2]
    if _type(e) == 'table' and _type(e.err) == 'string' then e = e.err end
    return false, e
  end
  return _unpack(r, 1, r.n)
end

local function handler(err)
  local level = 2
  local i = getinfo(level, 'nSl')
  while i and (i.what == 'C' or i.what == 'tail' or i.source == '=shoal') do
    level = level + 1
    i = getinfo(level, 'nSl')
  end
  if _type(err) ~= 'table' then err = {err = 'ERR ' .. _tostring(err)} end
  if i then
    err['source'] = i.source
    err['line'] = i.currentline
  end
  return err
end
backing.__redis__err__handler = handler

for _, name in _pairs({'string', 'table', 'math'}) do backing[name] = readonly(G[name]) end
local math = {}
for k, v in _pairs(G.math) do math[k] = v end
math.random = wrap(raw.random)
math.randomseed = wrap(raw.randomseed)
backing.math = readonly(math)
for name, t in _pairs(libs) do backing[name] = readonly(lib(t)) end

local redis = lib(raw.api)
redis.call = wrap(raw.call, true)
redis.pcall = wrap(raw.pcall, true)
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.REDIS_VERSION, redis.REDIS_VERSION_NUM = raw.version, raw.version_num
redis.breakpoint = function() return false end
redis.debug = function() end
redis.replicate_commands = function() return true end
backing.redis = readonly(redis)

-- The string metatable's __index is the real string table: hide it.
local smt = _getmetatable('')
if smt then smt.__metatable = frozen end

for k in _pairs(G) do _rawset(G, k, nil) end
backing._G = G
local gmt = {__index = backing, __newindex = readonly_error, __metatable = frozen}
_setmetatable(G, gmt)
protected[G] = true

-- What a library's top-level code sees while FUNCTION LOAD runs it.
local load_redis = {register_function = wrap(raw.register_function), log = redis.log}
for _, k in _pairs({'LOG_DEBUG', 'LOG_VERBOSE', 'LOG_NOTICE', 'LOG_WARNING', 'REDIS_VERSION', 'REDIS_VERSION_NUM'}) do
  load_redis[k] = redis[k]
end
local function missing(_, k)
  _error("Script attempted to access nonexistent global variable '" .. _tostring(k) .. "'", 2)
end
_setmetatable(load_redis, {__index = missing})
local load_api = {redis = readonly(load_redis)}
_setmetatable(load_api, {__index = missing})
local function protected_call(f) return _pcall(f) end

local function run(f, ...)
  local n, args = _select('#', ...), {...}
  return _xpcall(function() return f(_unpack(args, 1, n)) end, handler)
end
return backing, run, gmt, load_api, protected_call
"#;
