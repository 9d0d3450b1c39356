//! The `cjson` library (lua-cjson 2.1 as Redis ships it): encode, decode,
//! cjson.null, and the configuration functions, with lua-cjson's rules:
//! numbers as `%.14g`, '/' escaped, tables with only positive integer keys
//! are arrays (holes become null, excessively sparse ones are refused),
//! empty tables are objects, nesting limited to 1000, and its error texts
//! ("Expected value but found invalid token at character 1").

use super::bridge::fail_str;
use mlua::{LightUserData, Lua, MultiValue, Table, Value};
use std::cell::Cell;

thread_local! {
    static ENCODE_MAX_DEPTH: Cell<i64> = const { Cell::new(1000) };
    static DECODE_MAX_DEPTH: Cell<i64> = const { Cell::new(1000) };
    static PRECISION: Cell<i64> = const { Cell::new(14) };
    static SPARSE: Cell<(bool, i64, i64)> = const { Cell::new((false, 2, 10)) };
    static ENCODE_INVALID: Cell<bool> = const { Cell::new(false) };
    static DECODE_INVALID: Cell<bool> = const { Cell::new(true) };
    static KEEP_BUFFER: Cell<bool> = const { Cell::new(true) };
}

fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

fn ok(v: Value) -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_vec(vec![Value::Boolean(true), v]))
}

fn encode(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let args = args.into_vec();
    if args.len() != 1 {
        return fail_str(lua, "bad argument #1 to 'encode' (expected 1 argument)");
    }
    let mut buf = Vec::new();
    match encode_value(&args[0], &mut buf, 0) {
        Ok(()) => ok(Value::String(lua.create_string(&buf)?)),
        Err(e) => fail_str(lua, &e),
    }
}

fn encode_value(v: &Value, buf: &mut Vec<u8>, depth: i64) -> Result<(), String> {
    match v {
        Value::Nil => buf.extend_from_slice(b"null"),
        Value::LightUserData(u) if u.0.is_null() => buf.extend_from_slice(b"null"),
        Value::Boolean(b) => buf.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(i) => encode_number(*i as f64, buf)?,
        Value::Number(n) => encode_number(*n, buf)?,
        Value::String(s) => encode_string(&s.as_bytes(), buf),
        Value::Table(t) => {
            let depth = depth + 1;
            if depth > ENCODE_MAX_DEPTH.with(|d| d.get()) {
                return Err(format!("Cannot serialise, excessive nesting ({depth})"));
            }
            match array_length(t)? {
                Some(len) if len > 0 => {
                    buf.push(b'[');
                    for i in 1..=len {
                        if i > 1 {
                            buf.push(b',');
                        }
                        let item: Value = t.raw_get(i).map_err(|e| e.to_string())?;
                        encode_value(&item, buf, depth)?;
                    }
                    buf.push(b']');
                }
                _ => {
                    buf.push(b'{');
                    let mut first = true;
                    for pair in t.pairs::<Value, Value>() {
                        let (k, item) = pair.map_err(|e| e.to_string())?;
                        if !first {
                            buf.push(b',');
                        }
                        first = false;
                        match &k {
                            Value::String(s) => encode_string(&s.as_bytes(), buf),
                            Value::Integer(_) | Value::Number(_) => {
                                buf.push(b'"');
                                encode_value(&k, buf, depth)?;
                                buf.push(b'"');
                            }
                            _ => {
                                return Err(
                                    "Cannot serialise table: table key must be a number or string"
                                        .into(),
                                )
                            }
                        }
                        buf.push(b':');
                        encode_value(&item, buf, depth)?;
                    }
                    buf.push(b'}');
                }
            }
        }
        other => {
            return Err(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            ))
        }
    }
    Ok(())
}

/// lua-cjson's lua_array_length: Some(max index) when every key is a
/// positive integer (None: an object), refusing excessively sparse arrays.
fn array_length(t: &Table) -> Result<Option<usize>, String> {
    let mut max = 0usize;
    let mut items = 0usize;
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair.map_err(|e| e.to_string())?;
        let idx = match k {
            Value::Integer(i) if i >= 1 => i as usize,
            Value::Number(n) if n >= 1.0 && n.fract() == 0.0 => n as usize,
            _ => return Ok(None),
        };
        max = max.max(idx);
        items += 1;
    }
    let (convert, ratio, safe) = SPARSE.with(|s| s.get());
    if ratio > 0 && max as i64 > safe && max as i64 > items as i64 * ratio {
        if !convert {
            return Err("Cannot serialise table: excessively sparse array".into());
        }
        return Ok(None);
    }
    Ok(Some(max))
}

fn encode_number(n: f64, buf: &mut Vec<u8>) -> Result<(), String> {
    if !n.is_finite() {
        if !ENCODE_INVALID.with(|e| e.get()) {
            return Err("Cannot serialise number: must not be NaN or Inf".into());
        }
        buf.extend_from_slice(if n.is_nan() {
            b"nan"
        } else if n > 0.0 {
            b"inf"
        } else {
            b"-inf"
        });
        return Ok(());
    }
    let prec = PRECISION.with(|p| p.get()) as usize;
    buf.extend_from_slice(super::format_g(n, prec).as_bytes());
    Ok(())
}

fn encode_string(s: &[u8], buf: &mut Vec<u8>) {
    buf.push(b'"');
    for &c in s {
        match c {
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'/' => buf.extend_from_slice(b"\\/"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            0x08 => buf.extend_from_slice(b"\\b"),
            0x0c => buf.extend_from_slice(b"\\f"),
            c if c < 0x20 => buf.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            c => buf.push(c),
        }
    }
    buf.push(b'"');
}

/// The decoder's tokens, named as lua-cjson reports them.
#[derive(Clone, Copy, PartialEq)]
enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str,
    Num,
    Bool,
    Null,
    Colon,
    Comma,
    End,
    Error,
}

fn tok_name(t: Tok) -> &'static str {
    match t {
        Tok::ObjBegin => "T_OBJ_BEGIN",
        Tok::ObjEnd => "T_OBJ_END",
        Tok::ArrBegin => "T_ARR_BEGIN",
        Tok::ArrEnd => "T_ARR_END",
        Tok::Str => "T_STRING",
        Tok::Num => "T_NUMBER",
        Tok::Bool => "T_BOOLEAN",
        Tok::Null => "T_NULL",
        Tok::Colon => "T_COLON",
        Tok::Comma => "T_COMMA",
        Tok::End => "T_END",
        Tok::Error => "T_ERROR",
    }
}

struct Token {
    kind: Tok,
    at: usize,
    str_val: Vec<u8>,
    num: f64,
    boolean: bool,
    error: &'static str,
}

struct Decoder<'a> {
    s: &'a [u8],
    pos: usize,
    depth: i64,
}

impl<'a> Decoder<'a> {
    fn next(&mut self) -> Token {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let at = self.pos;
        let mut t = Token {
            kind: Tok::Error,
            at,
            str_val: Vec::new(),
            num: 0.0,
            boolean: false,
            error: "invalid token",
        };
        let Some(&c) = self.s.get(self.pos) else {
            t.kind = Tok::End;
            return t;
        };
        let simple = match c {
            b'{' => Some(Tok::ObjBegin),
            b'}' => Some(Tok::ObjEnd),
            b'[' => Some(Tok::ArrBegin),
            b']' => Some(Tok::ArrEnd),
            b':' => Some(Tok::Colon),
            b',' => Some(Tok::Comma),
            0 => Some(Tok::End),
            _ => None,
        };
        if let Some(k) = simple {
            self.pos += 1;
            t.kind = k;
            return t;
        }
        if c == b'"' {
            match self.string() {
                Ok(v) => {
                    t.kind = Tok::Str;
                    t.str_val = v;
                }
                Err(e) => t.error = e,
            }
            return t;
        }
        let rest = &self.s[self.pos..];
        for (word, kind, b) in [
            (&b"true"[..], Tok::Bool, true),
            (b"false", Tok::Bool, false),
            (b"null", Tok::Null, false),
        ] {
            if rest.starts_with(word) {
                self.pos += word.len();
                t.kind = kind;
                t.boolean = b;
                return t;
            }
        }
        if c == b'-'
            || c.is_ascii_digit()
            || (DECODE_INVALID.with(|d| d.get()) && matches!(c, b'i' | b'I' | b'n' | b'N' | b'+'))
        {
            let end = rest
                .iter()
                .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.')))
                .unwrap_or(rest.len());
            let text = std::str::from_utf8(&rest[..end]).unwrap_or("");
            let parsed = if text.starts_with("0x") || text.starts_with("0X") {
                i64::from_str_radix(&text[2..], 16).ok().map(|v| v as f64)
            } else {
                let lower = text.to_ascii_lowercase();
                match lower.as_str() {
                    "inf" | "+inf" | "infinity" => Some(f64::INFINITY),
                    "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
                    "nan" | "-nan" => Some(f64::NAN),
                    _ => text.parse::<f64>().ok(),
                }
            };
            match parsed {
                Some(n) if end > 0 => {
                    self.pos += end;
                    t.kind = Tok::Num;
                    t.num = n;
                }
                _ => t.error = "invalid number",
            }
            return t;
        }
        t
    }

    fn string(&mut self) -> Result<Vec<u8>, &'static str> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.pos) else {
                return Err("unexpected end of string");
            };
            self.pos += 1;
            match c {
                b'"' => return Ok(out),
                b'\\' => {
                    let Some(&e) = self.s.get(self.pos) else {
                        return Err("unexpected end of string");
                    };
                    self.pos += 1;
                    match e {
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'/' => out.push(b'/'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let mut cp = self.hex4().ok_or("invalid unicode escape code")?;
                            if (0xD800..0xDC00).contains(&cp) {
                                if self.s.get(self.pos) != Some(&b'\\')
                                    || self.s.get(self.pos + 1) != Some(&b'u')
                                {
                                    return Err("invalid unicode escape code");
                                }
                                self.pos += 2;
                                let low = self.hex4().ok_or("invalid unicode escape code")?;
                                if !(0xDC00..0xE000).contains(&low) {
                                    return Err("invalid unicode escape code");
                                }
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                            } else if (0xDC00..0xE000).contains(&cp) {
                                return Err("invalid unicode escape code");
                            }
                            let ch = char::from_u32(cp).ok_or("invalid unicode escape code")?;
                            let mut b = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
                        }
                        _ => return Err("invalid escape code"),
                    }
                }
                c => out.push(c),
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.pos..self.pos + 4)?;
        let v = u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?;
        self.pos += 4;
        Some(v)
    }

    fn parse_error(expected: &str, t: &Token) -> String {
        let found = if t.kind == Tok::Error {
            t.error
        } else {
            tok_name(t.kind)
        };
        format!(
            "Expected {expected} but found {found} at character {}",
            t.at + 1
        )
    }

    fn value(&mut self, lua: &Lua, t: Token) -> Result<Value, String> {
        let le = |e: mlua::Error| e.to_string();
        match t.kind {
            Tok::Str => Ok(Value::String(lua.create_string(&t.str_val).map_err(le)?)),
            Tok::Num => Ok(Value::Number(t.num)),
            Tok::Bool => Ok(Value::Boolean(t.boolean)),
            Tok::Null => Ok(null()),
            Tok::ObjBegin => {
                self.descend(&t)?;
                let obj = lua.create_table().map_err(le)?;
                let mut tok = self.next();
                if tok.kind == Tok::ObjEnd {
                    self.depth -= 1;
                    return Ok(Value::Table(obj));
                }
                loop {
                    if tok.kind != Tok::Str {
                        return Err(Self::parse_error("object key string", &tok));
                    }
                    let key = lua.create_string(&tok.str_val).map_err(le)?;
                    let colon = self.next();
                    if colon.kind != Tok::Colon {
                        return Err(Self::parse_error("colon", &colon));
                    }
                    let vt = self.next();
                    let v = self.value(lua, vt)?;
                    obj.raw_set(key, v).map_err(le)?;
                    let sep = self.next();
                    match sep.kind {
                        Tok::ObjEnd => break,
                        Tok::Comma => tok = self.next(),
                        _ => return Err(Self::parse_error("comma or object end", &sep)),
                    }
                }
                self.depth -= 1;
                Ok(Value::Table(obj))
            }
            Tok::ArrBegin => {
                self.descend(&t)?;
                let arr = lua.create_table().map_err(le)?;
                let mut tok = self.next();
                if tok.kind == Tok::ArrEnd {
                    self.depth -= 1;
                    return Ok(Value::Table(arr));
                }
                let mut i = 1;
                loop {
                    let v = self.value(lua, tok)?;
                    arr.raw_set(i, v).map_err(le)?;
                    i += 1;
                    let sep = self.next();
                    match sep.kind {
                        Tok::ArrEnd => break,
                        Tok::Comma => tok = self.next(),
                        _ => return Err(Self::parse_error("comma or array end", &sep)),
                    }
                }
                self.depth -= 1;
                Ok(Value::Table(arr))
            }
            _ => Err(Self::parse_error("value", &t)),
        }
    }

    fn descend(&mut self, t: &Token) -> Result<(), String> {
        self.depth += 1;
        if self.depth > DECODE_MAX_DEPTH.with(|d| d.get()) {
            return Err(format!(
                "Found too many nested data structures ({}) at character {}",
                self.depth,
                t.at + 1
            ));
        }
        Ok(())
    }
}

fn decode(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let args = args.into_vec();
    if args.len() != 1 {
        return fail_str(lua, "bad argument #1 to 'decode' (expected 1 argument)");
    }
    let bytes = match &args[0] {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Integer(i) => i.to_string().into_bytes(),
        Value::Number(n) => super::format_g(*n, 14).into_bytes(),
        other => {
            return fail_str(
                lua,
                &format!(
                    "bad argument #1 to 'decode' (string expected, got {})",
                    other.type_name()
                ),
            )
        }
    };
    let mut d = Decoder {
        s: &bytes,
        pos: 0,
        depth: 0,
    };
    let first = d.next();
    let result = d.value(lua, first).and_then(|v| {
        let end = d.next();
        if end.kind != Tok::End {
            return Err(Decoder::parse_error("the end", &end));
        }
        Ok(v)
    });
    match result {
        Ok(v) => ok(v),
        Err(e) => fail_str(lua, &e),
    }
}

/// A configuration function: no argument reads, an argument sets.
fn config_int(
    lua: &Lua,
    args: MultiValue,
    cell: &'static std::thread::LocalKey<Cell<i64>>,
    min: i64,
    max: i64,
    fname: &str,
) -> mlua::Result<MultiValue> {
    let args = args.into_vec();
    if let Some(v) = args.first() {
        let n = match v {
            Value::Integer(i) => *i,
            Value::Number(n) => *n as i64,
            _ => {
                return fail_str(
                    lua,
                    &format!(
                        "bad argument #1 to '{fname}' (expected integer between {min} and {max})"
                    ),
                )
            }
        };
        if n < min || n > max {
            return fail_str(
                lua,
                &format!("bad argument #1 to '{fname}' (expected integer between {min} and {max})"),
            );
        }
        cell.with(|c| c.set(n));
    }
    ok(Value::Integer(cell.with(|c| c.get())))
}

fn config_bool(
    lua: &Lua,
    args: MultiValue,
    cell: &'static std::thread::LocalKey<Cell<bool>>,
) -> mlua::Result<MultiValue> {
    let args = args.into_vec();
    match args.first() {
        Some(Value::Boolean(b)) => cell.with(|c| c.set(*b)),
        Some(Value::String(s)) if &*s.as_bytes() == b"on" => cell.with(|c| c.set(true)),
        Some(Value::String(s)) if &*s.as_bytes() == b"off" => cell.with(|c| c.set(false)),
        Some(Value::Nil) | None => {}
        Some(_) => {
            return fail_str(
                lua,
                "bad argument #1 to 'cjson' (invalid option, expected 'on', 'off', true or false)",
            )
        }
    }
    ok(Value::Boolean(cell.with(|c| c.get())))
}

pub fn table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("encode", lua.create_function(encode)?)?;
    t.set("decode", lua.create_function(decode)?)?;
    t.set(
        "encode_max_depth",
        lua.create_function(|lua, a| {
            config_int(
                lua,
                a,
                &ENCODE_MAX_DEPTH,
                1,
                i32::MAX as i64,
                "encode_max_depth",
            )
        })?,
    )?;
    t.set(
        "decode_max_depth",
        lua.create_function(|lua, a| {
            config_int(
                lua,
                a,
                &DECODE_MAX_DEPTH,
                1,
                i32::MAX as i64,
                "decode_max_depth",
            )
        })?,
    )?;
    t.set(
        "encode_number_precision",
        lua.create_function(|lua, a| {
            config_int(lua, a, &PRECISION, 1, 14, "encode_number_precision")
        })?,
    )?;
    t.set(
        "encode_invalid_numbers",
        lua.create_function(|lua, a| config_bool(lua, a, &ENCODE_INVALID))?,
    )?;
    t.set(
        "decode_invalid_numbers",
        lua.create_function(|lua, a| config_bool(lua, a, &DECODE_INVALID))?,
    )?;
    t.set(
        "encode_keep_buffer",
        lua.create_function(|lua, a| config_bool(lua, a, &KEEP_BUFFER))?,
    )?;
    t.set(
        "encode_sparse_array",
        lua.create_function(|_, args: MultiValue| {
            let args = args.into_vec();
            let (mut convert, mut ratio, mut safe) = SPARSE.with(|s| s.get());
            if let Some(Value::Boolean(b)) = args.first() {
                convert = *b;
            }
            if let Some(Value::Integer(r)) = args.get(1) {
                ratio = *r;
            }
            if let Some(Value::Integer(s)) = args.get(2) {
                safe = *s;
            }
            SPARSE.with(|s| s.set((convert, ratio, safe)));
            Ok(MultiValue::from_vec(vec![
                Value::Boolean(true),
                Value::Boolean(convert),
                Value::Integer(ratio),
                Value::Integer(safe),
            ]))
        })?,
    )?;
    t.set("null", null())?;
    t.set("_NAME", "cjson")?;
    t.set("_VERSION", "2.1.0")?;
    Ok(t)
}
