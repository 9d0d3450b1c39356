//! The `bit` library (LuaBitOp 1.0, as Redis ships it): 32-bit operations
//! on Lua numbers. Arguments are normalised as LuaBitOp does (rounded to
//! the nearest integer, taken modulo 2^32) and results are signed 32-bit.

use super::bridge::fail_str;
use mlua::{Lua, MultiValue, Table, Value};

fn ok(v: i32) -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_vec(vec![
        Value::Boolean(true),
        Value::Number(v as f64),
    ]))
}

fn type_name(v: Option<&Value>) -> &'static str {
    match v {
        None => "no value",
        Some(v) => v.type_name(),
    }
}

/// LuaBitOp's barg: the number's low 32 bits after rounding.
fn arg(args: &[Value], i: usize, fname: &str) -> Result<u32, String> {
    let n = match args.get(i) {
        Some(Value::Integer(n)) => *n as f64,
        Some(Value::Number(n)) => *n,
        Some(Value::String(s)) => {
            match String::from_utf8_lossy(&s.as_bytes()).trim().parse::<f64>() {
                Ok(n) => n,
                Err(_) => {
                    return Err(format!(
                        "bad argument #{} to '{fname}' (number expected, got string)",
                        i + 1
                    ))
                }
            }
        }
        other => {
            return Err(format!(
                "bad argument #{} to '{fname}' (number expected, got {})",
                i + 1,
                type_name(other)
            ))
        }
    };
    // 2^52 + 2^51: the addition rounds to an integer in the low mantissa bits.
    let bits = (n + 6_755_399_441_055_744.0).to_bits();
    Ok(bits as u32)
}

type Op = fn(&Lua, MultiValue) -> mlua::Result<MultiValue>;

macro_rules! unary {
    ($name:ident, $fname:expr, |$x:ident| $body:expr) => {
        fn $name(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
            let args = args.into_vec();
            match arg(&args, 0, $fname) {
                Ok($x) => ok($body as i32),
                Err(e) => fail_str(lua, &e),
            }
        }
    };
}

macro_rules! fold {
    ($name:ident, $fname:expr, $op:tt) => {
        fn $name(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
            let args = args.into_vec();
            let mut acc = match arg(&args, 0, $fname) {
                Ok(v) => v,
                Err(e) => return fail_str(lua, &e),
            };
            for i in 1..args.len() {
                match arg(&args, i, $fname) {
                    Ok(v) => acc $op v,
                    Err(e) => return fail_str(lua, &e),
                }
            }
            ok(acc as i32)
        }
    };
}

macro_rules! shift {
    ($name:ident, $fname:expr, |$x:ident, $n:ident| $body:expr) => {
        fn $name(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
            let args = args.into_vec();
            let $x = match arg(&args, 0, $fname) {
                Ok(v) => v,
                Err(e) => return fail_str(lua, &e),
            };
            let $n = match arg(&args, 1, $fname) {
                Ok(v) => v & 31,
                Err(e) => return fail_str(lua, &e),
            };
            ok($body as i32)
        }
    };
}

unary!(tobit, "tobit", |x| x);
unary!(bnot, "bnot", |x| !x);
unary!(bswap, "bswap", |x| x.swap_bytes());
fold!(band, "band", &=);
fold!(bor, "bor", |=);
fold!(bxor, "bxor", ^=);
shift!(lshift, "lshift", |x, n| x << n);
shift!(rshift, "rshift", |x, n| x >> n);
shift!(arshift, "arshift", |x, n| (x as i32) >> n);
shift!(rol, "rol", |x, n| x.rotate_left(n));
shift!(ror, "ror", |x, n| x.rotate_right(n));

fn tohex(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let args = args.into_vec();
    let x = match arg(&args, 0, "tohex") {
        Ok(v) => v,
        Err(e) => return fail_str(lua, &e),
    };
    let mut n: i32 = if args.len() > 1 {
        match arg(&args, 1, "tohex") {
            Ok(v) => v as i32,
            Err(e) => return fail_str(lua, &e),
        }
    } else {
        8
    };
    let upper = n < 0;
    if upper {
        n = -n;
    }
    let n = n.min(8) as usize;
    let full = if upper {
        format!("{x:08X}")
    } else {
        format!("{x:08x}")
    };
    let s = &full[8 - n..];
    Ok(MultiValue::from_vec(vec![
        Value::Boolean(true),
        Value::String(lua.create_string(s)?),
    ]))
}

pub fn table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let fns: [(&str, Op); 12] = [
        ("tobit", tobit),
        ("bnot", bnot),
        ("band", band),
        ("bor", bor),
        ("bxor", bxor),
        ("lshift", lshift),
        ("rshift", rshift),
        ("arshift", arshift),
        ("rol", rol),
        ("ror", ror),
        ("bswap", bswap),
        ("tohex", tohex),
    ];
    for (name, f) in fns {
        t.set(name, lua.create_function(f)?)?;
    }
    Ok(t)
}
