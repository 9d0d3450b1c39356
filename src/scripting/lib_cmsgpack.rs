//! The `cmsgpack` library (lua-cmsgpack as Redis ships it): pack(...)
//! concatenates the MessagePack of each argument; unpack(s) returns every
//! value; unpack_one(s [, offset]) and unpack_limit(s, limit [, offset])
//! return the next offset (-1 at the end) before the values. Integral
//! numbers use the smallest integer format, others float32 when exact,
//! else float64; tables with keys 1..n are arrays, others maps; nesting
//! past 16 levels packs nil.

use super::bridge::fail_str;
use mlua::{Lua, MultiValue, Table, Value};

const MAX_NESTING: usize = 16;

fn pack(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let args = args.into_vec();
    if args.is_empty() {
        return fail_str(lua, "MessagePack pack needs input.");
    }
    let mut buf = Vec::new();
    for a in &args {
        encode(a, &mut buf, 0);
    }
    Ok(MultiValue::from_vec(vec![
        Value::Boolean(true),
        Value::String(lua.create_string(&buf)?),
    ]))
}

fn encode_int(n: i64, b: &mut Vec<u8>) {
    if n >= 0 {
        if n < 128 {
            b.push(n as u8);
        } else if n < 256 {
            b.extend_from_slice(&[0xcc, n as u8]);
        } else if n < 65536 {
            b.push(0xcd);
            b.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= u32::MAX as i64 {
            b.push(0xce);
            b.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            b.push(0xcf);
            b.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        b.push(n as i8 as u8);
    } else if n >= -128 {
        b.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        b.push(0xd1);
        b.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= i32::MIN as i64 {
        b.push(0xd2);
        b.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        b.push(0xd3);
        b.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_number(n: f64, b: &mut Vec<u8>) {
    if n.is_finite() && n == (n as i64) as f64 {
        return encode_int(n as i64, b);
    }
    if (n as f32) as f64 == n || n.is_nan() {
        b.push(0xca);
        b.extend_from_slice(&(n as f32).to_be_bytes());
    } else {
        b.push(0xcb);
        b.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_len(len: usize, fix: u8, fix_max: usize, b16: u8, b32: u8, b: &mut Vec<u8>) {
    if len < fix_max {
        b.push(fix | len as u8);
    } else if len < 65536 {
        b.push(b16);
        b.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        b.push(b32);
        b.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn encode(v: &Value, b: &mut Vec<u8>, level: usize) {
    match v {
        Value::String(s) => {
            let s = s.as_bytes();
            let len = s.len();
            if len < 32 {
                b.push(0xa0 | len as u8);
            } else if len < 256 {
                b.extend_from_slice(&[0xd9, len as u8]);
            } else if len < 65536 {
                b.push(0xda);
                b.extend_from_slice(&(len as u16).to_be_bytes());
            } else {
                b.push(0xdb);
                b.extend_from_slice(&(len as u32).to_be_bytes());
            }
            b.extend_from_slice(&s);
        }
        Value::Boolean(x) => b.push(if *x { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => encode_int(*i, b),
        Value::Number(n) => encode_number(*n, b),
        Value::Table(t) if level < MAX_NESTING => {
            if let Some(n) = array_len(t) {
                encode_len(n, 0x90, 16, 0xdc, 0xdd, b);
                for i in 1..=n {
                    let item: Value = t.raw_get(i).unwrap_or(Value::Nil);
                    encode(&item, b, level + 1);
                }
            } else {
                let pairs: Vec<(Value, Value)> =
                    t.pairs::<Value, Value>().filter_map(|p| p.ok()).collect();
                encode_len(pairs.len(), 0x80, 16, 0xde, 0xdf, b);
                for (k, item) in &pairs {
                    encode(k, b, level + 1);
                    encode(item, b, level + 1);
                }
            }
        }
        _ => b.push(0xc0),
    }
}

/// lua-cmsgpack's table_is_an_array: keys exactly 1..n (n ≥ 0... an empty
/// table is an array).
fn array_len(t: &Table) -> Option<usize> {
    let mut count = 0usize;
    let mut max = 0usize;
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair.ok()?;
        let idx = match k {
            Value::Integer(i) if i >= 1 => i as usize,
            Value::Number(n) if n >= 1.0 && n.fract() == 0.0 => n as usize,
            _ => return None,
        };
        count += 1;
        max = max.max(idx);
    }
    (max == count).then_some(count)
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

enum DecodeError {
    Eof,
    BadFormat,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        if self.pos + n > self.s.len() {
            return Err(DecodeError::Eof);
        }
        let r = &self.s[self.pos..self.pos + n];
        self.pos += n;
        Ok(r)
    }

    fn be(&mut self, n: usize) -> Result<u64, DecodeError> {
        Ok(self.take(n)?.iter().fold(0u64, |a, &b| (a << 8) | b as u64))
    }

    fn decode(&mut self, lua: &Lua) -> Result<Value, DecodeError> {
        let c = self.take(1)?[0];
        let str_of = |cur: &mut Self, len: usize| -> Result<Value, DecodeError> {
            let bytes = cur.take(len)?;
            lua.create_string(bytes)
                .map(Value::String)
                .map_err(|_| DecodeError::BadFormat)
        };
        Ok(match c {
            0x00..=0x7f => Value::Integer(c as i64),
            0x80..=0x8f => return self.map(lua, (c & 0x0f) as usize),
            0x90..=0x9f => return self.array(lua, (c & 0x0f) as usize),
            0xa0..=0xbf => return str_of(self, (c & 0x1f) as usize),
            0xc0 => Value::Nil,
            0xc2 => Value::Boolean(false),
            0xc3 => Value::Boolean(true),
            0xc4 | 0xd9 => {
                let n = self.be(1)? as usize;
                return str_of(self, n);
            }
            0xc5 | 0xda => {
                let n = self.be(2)? as usize;
                return str_of(self, n);
            }
            0xc6 | 0xdb => {
                let n = self.be(4)? as usize;
                return str_of(self, n);
            }
            0xca => Value::Number(f32::from_bits(self.be(4)? as u32) as f64),
            0xcb => Value::Number(f64::from_bits(self.be(8)?)),
            0xcc => Value::Integer(self.be(1)? as i64),
            0xcd => Value::Integer(self.be(2)? as i64),
            0xce => Value::Integer(self.be(4)? as i64),
            0xcf => Value::Number(self.be(8)? as f64),
            0xd0 => Value::Integer(self.be(1)? as u8 as i8 as i64),
            0xd1 => Value::Integer(self.be(2)? as u16 as i16 as i64),
            0xd2 => Value::Integer(self.be(4)? as u32 as i32 as i64),
            0xd3 => Value::Integer(self.be(8)? as i64),
            0xdc => {
                let n = self.be(2)? as usize;
                return self.array(lua, n);
            }
            0xdd => {
                let n = self.be(4)? as usize;
                return self.array(lua, n);
            }
            0xde => {
                let n = self.be(2)? as usize;
                return self.map(lua, n);
            }
            0xdf => {
                let n = self.be(4)? as usize;
                return self.map(lua, n);
            }
            0xe0..=0xff => Value::Integer(c as i8 as i64),
            _ => return Err(DecodeError::BadFormat),
        })
    }

    fn array(&mut self, lua: &Lua, n: usize) -> Result<Value, DecodeError> {
        // Every element takes at least one byte: bound the allocation.
        if n > self.s.len() - self.pos {
            return Err(DecodeError::Eof);
        }
        let t = lua
            .create_table_with_capacity(n, 0)
            .map_err(|_| DecodeError::BadFormat)?;
        for i in 1..=n {
            let v = self.decode(lua)?;
            t.raw_set(i, v).map_err(|_| DecodeError::BadFormat)?;
        }
        Ok(Value::Table(t))
    }

    fn map(&mut self, lua: &Lua, n: usize) -> Result<Value, DecodeError> {
        if n > self.s.len() - self.pos {
            return Err(DecodeError::Eof);
        }
        let t = lua.create_table().map_err(|_| DecodeError::BadFormat)?;
        for _ in 0..n {
            let k = self.decode(lua)?;
            let v = self.decode(lua)?;
            if !matches!(k, Value::Nil) {
                t.raw_set(k, v).map_err(|_| DecodeError::BadFormat)?;
            }
        }
        Ok(Value::Table(t))
    }
}

/// mp_unpack_full: up to `limit` values (0: all) from `offset`.
fn unpack_full(
    lua: &Lua,
    args: &[Value],
    limit_at: Option<usize>,
    offset_at: Option<usize>,
    with_offset: bool,
) -> mlua::Result<MultiValue> {
    let s = match args.first() {
        Some(Value::String(s)) => s.as_bytes().to_vec(),
        _ => return fail_str(lua, "bad argument #1 to 'unpack' (string expected)"),
    };
    let int_at = |i: Option<usize>| -> i64 {
        match i.and_then(|i| args.get(i)) {
            Some(Value::Integer(n)) => *n,
            Some(Value::Number(n)) => *n as i64,
            _ => 0,
        }
    };
    let limit = int_at(limit_at);
    let offset = int_at(offset_at);
    if offset < 0 || limit < 0 {
        return fail_str(
            lua,
            &format!("Invalid request to unpack with offset of {offset} and limit of {limit}."),
        );
    }
    if offset as usize > s.len() {
        return fail_str(
            lua,
            &format!(
                "Start offset {offset} greater than input length {}.",
                s.len()
            ),
        );
    }
    let mut cur = Cursor {
        s: &s,
        pos: offset as usize,
    };
    let mut vals = vec![Value::Boolean(true)];
    let mut count = 0i64;
    while cur.pos < s.len() && (limit == 0 || count < limit) {
        match cur.decode(lua) {
            Ok(v) => vals.push(v),
            Err(DecodeError::Eof) => return fail_str(lua, "Missing bytes in input."),
            Err(DecodeError::BadFormat) => return fail_str(lua, "Bad data format in input."),
        }
        count += 1;
    }
    if with_offset {
        let next = if cur.pos >= s.len() {
            -1
        } else {
            cur.pos as i64
        };
        vals.insert(1, Value::Integer(next));
    }
    Ok(MultiValue::from_vec(vals))
}

pub fn table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("pack", lua.create_function(pack)?)?;
    t.set(
        "unpack",
        lua.create_function(|lua, a: MultiValue| {
            unpack_full(lua, &a.into_vec(), None, None, false)
        })?,
    )?;
    t.set(
        "unpack_one",
        lua.create_function(|lua, a: MultiValue| {
            let mut a = a.into_vec();
            // unpack_one(s, offset) is unpack_limit(s, 1, offset).
            a.insert(1, Value::Integer(1));
            unpack_full(lua, &a, Some(1), Some(2), true)
        })?,
    )?;
    t.set(
        "unpack_limit",
        lua.create_function(|lua, a: MultiValue| {
            unpack_full(lua, &a.into_vec(), Some(1), Some(2), true)
        })?,
    )?;
    t.set("_NAME", "cmsgpack")?;
    t.set("_VERSION", "lua-cmsgpack 0.4.0")?;
    Ok(t)
}
