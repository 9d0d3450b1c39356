//! Reply conversions between RESP and Lua, with Redis's rules both ways.
//!
//! RESP → Lua (a command's reply inside redis.call): integer → number,
//! bulk → string, RESP2 null bulk / null array → false, RESP3 null → nil,
//! status → {ok=...}, error → {err=...}, array → table, RESP3 map →
//! {map={...}}, set → {set={member=true}}, double → {double=n}, big number
//! → {big_number="..."}, verbatim → {verbatim_string={format=, string=}},
//! boolean → boolean; attributes are skipped.
//!
//! Lua → RESP (a script's return value): string → bulk, number → integer
//! (truncated), boolean → 1 / null in RESP2 scripts and a boolean after
//! redis.setresp(3), tables with `err` / `ok` / `double` / `big_number` /
//! `verbatim_string` / `map` / `set` fields → those replies, any other
//! table → an array up to its first nil, anything else → null.

use crate::protocol::Out;
use mlua::{Lua, Table, Value};

/// Deeper replies than this answer "reached lua stack limit" (Redis's
/// limit comes from the Lua C stack).
const MAX_DEPTH: usize = 200;

/// Parse one RESP reply from `buf` at `*pos` into a Lua value.
pub fn resp_to_lua(lua: &Lua, buf: &[u8], pos: &mut usize) -> mlua::Result<Value> {
    let line = read_line(buf, pos);
    let (kind, rest) = match line.split_first() {
        Some((k, r)) => (*k, r),
        None => return Ok(Value::Nil),
    };
    let num = || crate::util::parse_i64(rest).unwrap_or(0);
    Ok(match kind {
        b'+' => single(lua, "ok", Value::String(lua.create_string(rest)?))?,
        b'-' => Value::Table(error_table(lua, rest)?),
        b':' => int_value(num()),
        b'$' => {
            let n = num();
            if n < 0 {
                Value::Boolean(false)
            } else {
                let s = lua.create_string(&buf[*pos..*pos + n as usize])?;
                *pos += n as usize + 2;
                Value::String(s)
            }
        }
        b'*' | b'~' | b'>' => {
            let n = num();
            if n < 0 {
                return Ok(Value::Boolean(false));
            }
            let t = lua.create_table_with_capacity(n as usize, 0)?;
            if kind == b'~' {
                for _ in 0..n {
                    let v = resp_to_lua(lua, buf, pos)?;
                    t.raw_set(v, true)?;
                }
                single(lua, "set", Value::Table(t))?
            } else {
                for i in 0..n {
                    let v = resp_to_lua(lua, buf, pos)?;
                    t.raw_set(i + 1, v)?;
                }
                Value::Table(t)
            }
        }
        b'%' => {
            let t = lua.create_table()?;
            for _ in 0..num() {
                let k = resp_to_lua(lua, buf, pos)?;
                let v = resp_to_lua(lua, buf, pos)?;
                t.raw_set(k, v)?;
            }
            single(lua, "map", Value::Table(t))?
        }
        b'|' => {
            for _ in 0..num() * 2 {
                resp_to_lua(lua, buf, pos)?;
            }
            resp_to_lua(lua, buf, pos)?
        }
        b'_' => Value::Nil,
        b'#' => Value::Boolean(rest == b"t"),
        b',' => {
            let d = parse_double(rest);
            single(lua, "double", Value::Number(d))?
        }
        b'(' => single(lua, "big_number", Value::String(lua.create_string(rest)?))?,
        b'=' => {
            let n = num() as usize;
            let body = &buf[*pos..*pos + n];
            *pos += n + 2;
            let (format, text) = if n >= 4 {
                (&body[..3], &body[4..])
            } else {
                (&b"txt"[..], body)
            };
            let inner = lua.create_table()?;
            inner.raw_set("format", lua.create_string(format)?)?;
            inner.raw_set("string", lua.create_string(text)?)?;
            single(lua, "verbatim_string", Value::Table(inner))?
        }
        _ => Value::Nil,
    })
}

fn int_value(n: i64) -> Value {
    Value::Integer(n)
}

fn parse_double(s: &[u8]) -> f64 {
    match s {
        b"inf" => f64::INFINITY,
        b"-inf" => f64::NEG_INFINITY,
        b"nan" => f64::NAN,
        _ => std::str::from_utf8(s)
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(0.0),
    }
}

fn read_line<'a>(buf: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let start = *pos;
    let end = memchr::memchr(b'\r', &buf[start..]).map_or(buf.len(), |i| start + i);
    *pos = (end + 2).min(buf.len());
    &buf[start..end]
}

fn single(lua: &Lua, field: &str, v: Value) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(0, 1)?;
    t.raw_set(field, v)?;
    Ok(Value::Table(t))
}

/// Redis's luaPushErrorBuff: `{err = "CODE message"}` from an error reply's
/// text (without its '-'); a message with no code gets ERR.
pub fn error_table(lua: &Lua, text: &[u8]) -> mlua::Result<Table> {
    let text = trim_crlf(text);
    let msg = match text.iter().position(|&b| b == b' ') {
        Some(_) => text.to_vec(),
        None => {
            let mut m = b"ERR ".to_vec();
            m.extend_from_slice(text);
            m
        }
    };
    let t = lua.create_table_with_capacity(0, 1)?;
    t.raw_set("err", lua.create_string(&msg)?)?;
    Ok(t)
}

/// An error table from a plain message ("msg" → "ERR msg", "-CODE msg" kept).
pub fn error_from_message(lua: &Lua, msg: &str) -> mlua::Result<Table> {
    match msg.strip_prefix('-') {
        Some(rest) => error_table(lua, rest.as_bytes()),
        None => {
            let t = lua.create_table_with_capacity(0, 1)?;
            t.raw_set("err", format!("ERR {}", trim_crlf_str(msg)))?;
            Ok(t)
        }
    }
}

fn trim_crlf(s: &[u8]) -> &[u8] {
    let mut s = s;
    while let Some((&c, rest)) = s.split_last() {
        if c == b'\r' || c == b'\n' {
            s = rest;
        } else {
            break;
        }
    }
    while let Some((&c, rest)) = s.split_first() {
        if c == b'\r' || c == b'\n' {
            s = rest;
        } else {
            break;
        }
    }
    s
}

fn trim_crlf_str(s: &str) -> &str {
    s.trim_matches(|c| c == '\r' || c == '\n')
}

/// Write a script's return value `v` as a reply. `script_resp3`: the
/// script called redis.setresp(3) (booleans then stay booleans).
pub fn lua_to_reply(v: &Value, out: &mut Out, script_resp3: bool) {
    to_reply(v, out, script_resp3, 0)
}

fn to_reply(v: &Value, out: &mut Out, resp3: bool, depth: usize) {
    if depth > MAX_DEPTH {
        return out.error("ERR reached lua stack limit");
    }
    match v {
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Boolean(b) => {
            if resp3 {
                out.boolean(*b)
            } else if *b {
                out.int(1)
            } else {
                out.null()
            }
        }
        Value::Integer(i) => out.int(*i),
        Value::Number(n) => out.int(truncate(*n)),
        Value::Table(t) => table_reply(t, out, resp3, depth),
        _ => out.null(),
    }
}

/// C's `(long long)` cast of a double, saturating where C is undefined.
fn truncate(n: f64) -> i64 {
    if n.is_nan() {
        i64::MIN
    } else {
        n as i64
    }
}

fn table_reply(t: &Table, out: &mut Out, resp3: bool, depth: usize) {
    if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
        let text = String::from_utf8_lossy(&e.as_bytes()).into_owned();
        return out.error(&text);
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("ok") {
        let mut line = Vec::with_capacity(s.as_bytes().len() + 3);
        line.push(b'+');
        line.extend(
            s.as_bytes()
                .iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        line.extend_from_slice(b"\r\n");
        return out.raw(&line);
    }
    match t.raw_get::<Value>("double") {
        Ok(Value::Number(d)) => return out.double(d),
        Ok(Value::Integer(i)) => return out.double(i as f64),
        _ => {}
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("big_number") {
        let text: Vec<u8> = s
            .as_bytes()
            .iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
            .collect();
        if out.resp3 {
            let mut line = vec![b'('];
            line.extend_from_slice(&text);
            line.extend_from_slice(b"\r\n");
            return out.raw(&line);
        }
        return out.bulk(&text);
    }
    if let Ok(Value::Table(vt)) = t.raw_get::<Value>("verbatim_string") {
        if let (Ok(Value::String(f)), Ok(Value::String(s))) =
            (vt.raw_get::<Value>("format"), vt.raw_get::<Value>("string"))
        {
            let (f, s) = (f.as_bytes(), s.as_bytes());
            if out.resp3 {
                let mut line = format!("={}\r\n", s.len() + 4).into_bytes();
                line.extend_from_slice(&f[..f.len().min(3)]);
                line.push(b':');
                line.extend_from_slice(&s);
                line.extend_from_slice(b"\r\n");
                return out.raw(&line);
            }
            return out.bulk(&s);
        }
    }
    if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
        let pairs: Vec<(Value, Value)> = m.pairs::<Value, Value>().filter_map(|p| p.ok()).collect();
        out.map(pairs.len());
        for (k, v) in &pairs {
            to_reply(k, out, resp3, depth + 1);
            to_reply(v, out, resp3, depth + 1);
        }
        return;
    }
    if let Ok(Value::Table(s)) = t.raw_get::<Value>("set") {
        let keys: Vec<Value> = s
            .pairs::<Value, Value>()
            .filter_map(|p| p.ok().map(|(k, _)| k))
            .collect();
        out.set(keys.len());
        for k in &keys {
            to_reply(k, out, resp3, depth + 1);
        }
        return;
    }
    let mut items = Vec::new();
    let mut i = 1;
    loop {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(v),
        }
        i += 1;
    }
    out.array(items.len());
    for v in &items {
        to_reply(v, out, resp3, depth + 1);
    }
}
