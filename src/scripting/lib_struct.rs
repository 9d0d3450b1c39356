//! The `struct` library (Roberto Ierusalimschy's struct, as Redis ships
//! it): pack / unpack / size of binary records described by a format
//! string: `<` `>` byte order, `!n` alignment, `x` padding, `b B h H l L T
//! iN IN` integers, `f d` floats, `s` zero-terminated and `cN` fixed
//! strings (`c0` in unpack takes its length from the previous number).

use super::bridge::fail_str;
use mlua::{Lua, MultiValue, Table, Value};

const MAX_INT_SIZE: usize = 32;
const MAX_ALIGN: usize = 8;

struct Header {
    little: bool,
    align: usize,
}

struct Fmt<'a> {
    f: &'a [u8],
    i: usize,
}

impl Fmt<'_> {
    fn number(&mut self, default: usize) -> usize {
        if !self.f.get(self.i).is_some_and(|c| c.is_ascii_digit()) {
            return default;
        }
        let mut n = 0usize;
        while let Some(c) = self.f.get(self.i).filter(|c| c.is_ascii_digit()) {
            n = n.saturating_mul(10).saturating_add((c - b'0') as usize);
            self.i += 1;
        }
        n
    }
}

fn opt_size(opt: u8, fmt: &mut Fmt) -> Result<usize, String> {
    Ok(match opt {
        b'B' | b'b' => 1,
        b'H' | b'h' => 2,
        b'L' | b'l' | b'T' => 8,
        b'f' => 4,
        b'd' => 8,
        b'x' => 1,
        b'c' => fmt.number(1),
        b'i' | b'I' => {
            let sz = fmt.number(4);
            if sz > MAX_INT_SIZE {
                return Err(format!(
                    "integral size {sz} is larger than limit of {MAX_INT_SIZE}"
                ));
            }
            sz
        }
        _ => 0,
    })
}

fn to_align(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size - (len & (size - 1))) & (size - 1)
}

fn control(opt: u8, fmt: &mut Fmt, h: &mut Header) -> Result<(), String> {
    match opt {
        b' ' => Ok(()),
        b'>' => {
            h.little = false;
            Ok(())
        }
        b'<' => {
            h.little = true;
            Ok(())
        }
        b'!' => {
            let a = fmt.number(MAX_ALIGN);
            if a == 0 || !a.is_power_of_two() {
                return Err(format!("alignment {a} is not a power of 2"));
            }
            h.align = a;
            Ok(())
        }
        c => Err(format!("invalid format option '{}'", c as char)),
    }
}

fn number_arg(args: &[Value], i: usize, fname: &str) -> Result<f64, String> {
    match args.get(i) {
        Some(Value::Integer(n)) => Ok(*n as f64),
        Some(Value::Number(n)) => Ok(*n),
        Some(Value::String(s)) => String::from_utf8_lossy(&s.as_bytes())
            .trim()
            .parse::<f64>()
            .map_err(|_| {
                format!(
                    "bad argument #{} to '{fname}' (number expected, got string)",
                    i + 1
                )
            }),
        other => Err(format!(
            "bad argument #{} to '{fname}' (number expected, got {})",
            i + 1,
            other.map_or("no value", |v| v.type_name())
        )),
    }
}

fn string_arg(args: &[Value], i: usize, fname: &str) -> Result<Vec<u8>, String> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(Value::Integer(n)) => Ok(n.to_string().into_bytes()),
        Some(Value::Number(n)) => Ok(super::format_g(*n, 14).into_bytes()),
        other => Err(format!(
            "bad argument #{} to '{fname}' (string expected, got {})",
            i + 1,
            other.map_or("no value", |v| v.type_name())
        )),
    }
}

fn put_int(out: &mut Vec<u8>, n: f64, size: usize, little: bool) {
    let value: u64 = if n < 0.0 { (n as i64) as u64 } else { n as u64 };
    let mut bytes = vec![if n < 0.0 { 0xffu8 } else { 0 }; size];
    for (i, b) in bytes.iter_mut().enumerate().take(size.min(8)) {
        *b = (value >> (8 * i)) as u8;
    }
    if !little {
        bytes.reverse();
    }
    out.extend_from_slice(&bytes);
}

fn pack(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let args = args.into_vec();
    match pack_impl(&args) {
        Ok(b) => Ok(MultiValue::from_vec(vec![
            Value::Boolean(true),
            Value::String(lua.create_string(&b)?),
        ])),
        Err(e) => fail_str(lua, &e),
    }
}

fn pack_impl(args: &[Value]) -> Result<Vec<u8>, String> {
    let f = string_arg(args, 0, "pack")?;
    let mut fmt = Fmt { f: &f, i: 0 };
    let mut h = Header {
        little: true,
        align: 1,
    };
    let mut out = Vec::new();
    let mut arg = 1;
    while fmt.i < f.len() {
        let opt = f[fmt.i];
        fmt.i += 1;
        let mut size = opt_size(opt, &mut fmt)?;
        let pad = to_align(out.len(), &h, opt, size);
        out.extend(std::iter::repeat_n(0u8, pad));
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = number_arg(args, arg, "pack")?;
                arg += 1;
                put_int(&mut out, n, size, h.little);
            }
            b'x' => out.push(0),
            b'f' => {
                let n = number_arg(args, arg, "pack")? as f32;
                arg += 1;
                let b = if h.little {
                    n.to_le_bytes()
                } else {
                    n.to_be_bytes()
                };
                out.extend_from_slice(&b);
            }
            b'd' => {
                let n = number_arg(args, arg, "pack")?;
                arg += 1;
                let b = if h.little {
                    n.to_le_bytes()
                } else {
                    n.to_be_bytes()
                };
                out.extend_from_slice(&b);
            }
            b'c' | b's' => {
                let s = string_arg(args, arg, "pack")?;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    return Err(format!(
                        "bad argument #{} to 'pack' (string too short)",
                        arg + 1
                    ));
                }
                arg += 1;
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                    size += 1;
                }
            }
            _ => control(opt, &mut fmt, &mut h)?,
        }
        let _ = size;
    }
    Ok(out)
}

fn unpack(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let args = args.into_vec();
    match unpack_impl(lua, &args) {
        Ok(mut vals) => {
            vals.insert(0, Value::Boolean(true));
            Ok(MultiValue::from_vec(vals))
        }
        Err(e) => fail_str(lua, &e),
    }
}

fn unpack_impl(lua: &Lua, args: &[Value]) -> Result<Vec<Value>, String> {
    let le = |e: mlua::Error| e.to_string();
    let f = string_arg(args, 0, "unpack")?;
    let data = string_arg(args, 1, "unpack")?;
    let start = match args.get(2) {
        None | Some(Value::Nil) => 1.0,
        _ => number_arg(args, 2, "unpack")?,
    };
    let mut pos = (start as i64 - 1).max(-1);
    if pos < 0 || pos as usize > data.len() {
        return Err("bad argument #3 to 'unpack' (offset must be 1 or greater)".into());
    }
    let mut pos_u = pos as usize;
    let mut fmt = Fmt { f: &f, i: 0 };
    let mut h = Header {
        little: true,
        align: 1,
    };
    let mut vals: Vec<Value> = Vec::new();
    let short = || "bad argument #2 to 'unpack' (data string too short)".to_string();
    while fmt.i < f.len() {
        let opt = f[fmt.i];
        fmt.i += 1;
        let mut size = opt_size(opt, &mut fmt)?;
        pos_u += to_align(pos_u, &h, opt, size);
        if pos_u + size > data.len() {
            return Err(short());
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let mut bytes = data[pos_u..pos_u + size].to_vec();
                if !h.little {
                    bytes.reverse();
                }
                let mut v: u64 = 0;
                for (i, b) in bytes.iter().enumerate().take(8) {
                    v |= (*b as u64) << (8 * i);
                }
                let signed = opt.is_ascii_lowercase();
                let n = if signed && size < 8 && size > 0 {
                    let shift = 64 - 8 * size as u32;
                    (((v << shift) as i64) >> shift) as f64
                } else if signed {
                    v as i64 as f64
                } else {
                    v as f64
                };
                vals.push(Value::Number(n));
            }
            b'x' => {}
            b'f' => {
                let mut b = [0u8; 4];
                b.copy_from_slice(&data[pos_u..pos_u + 4]);
                let n = if h.little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                };
                vals.push(Value::Number(n as f64));
            }
            b'd' => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&data[pos_u..pos_u + 8]);
                let n = if h.little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                };
                vals.push(Value::Number(n));
            }
            b'c' => {
                if size == 0 {
                    let prev = match vals.pop() {
                        Some(Value::Number(n)) => n,
                        Some(Value::Integer(n)) => n as f64,
                        _ => return Err("format 'c0' needs a previous size".into()),
                    };
                    size = prev.max(0.0) as usize;
                    if pos_u + size > data.len() {
                        return Err(short());
                    }
                }
                vals.push(Value::String(
                    lua.create_string(&data[pos_u..pos_u + size]).map_err(le)?,
                ));
            }
            b's' => {
                let Some(z) = data[pos_u..].iter().position(|&b| b == 0) else {
                    return Err("unfinished string in data".into());
                };
                size = z + 1;
                vals.push(Value::String(
                    lua.create_string(&data[pos_u..pos_u + z]).map_err(le)?,
                ));
            }
            _ => control(opt, &mut fmt, &mut h)?,
        }
        pos_u += size;
    }
    pos = pos_u as i64;
    vals.push(Value::Integer(pos + 1));
    Ok(vals)
}

fn size(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let args = args.into_vec();
    let f = match string_arg(&args, 0, "size") {
        Ok(f) => f,
        Err(e) => return fail_str(lua, &e),
    };
    let mut fmt = Fmt { f: &f, i: 0 };
    let mut h = Header {
        little: true,
        align: 1,
    };
    let mut total = 0usize;
    while fmt.i < f.len() {
        let opt = f[fmt.i];
        fmt.i += 1;
        let size = match opt_size(opt, &mut fmt) {
            Ok(s) => s,
            Err(e) => return fail_str(lua, &e),
        };
        total += to_align(total, &h, opt, size);
        if opt == b's' || (opt == b'c' && size == 0) {
            return fail_str(
                lua,
                "bad argument #1 to 'size' (options 'c0' - 's' not allowed)",
            );
        }
        if size == 0 {
            if let Err(e) = control(opt, &mut fmt, &mut h) {
                return fail_str(lua, &e);
            }
        }
        total += size;
    }
    Ok(MultiValue::from_vec(vec![
        Value::Boolean(true),
        Value::Integer(total as i64),
    ]))
}

pub fn table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("pack", lua.create_function(pack)?)?;
    t.set("unpack", lua.create_function(unpack)?)?;
    t.set("size", lua.create_function(size)?)?;
    Ok(t)
}
