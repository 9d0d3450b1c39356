//! HyperLogLog commands: PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST.
//!
//! An HLL is an ordinary string value laid out exactly as Redis lays it out,
//! so GET/SET/DUMP of an HLL interoperate byte for byte:
//!
//! * a 16-byte header: magic "HYLL", an encoding byte (0 dense, 1 sparse),
//!   3 reserved zero bytes, and the cached cardinality as 8 little-endian
//!   bytes whose top bit marks the cache as stale;
//! * dense: 16384 registers of 6 bits packed LSB-first (12288 bytes);
//! * sparse: a run-length code of ZERO (`00llllll`, 1..64 zero registers),
//!   XZERO (`01llllll llllllll`, 1..16384 zero registers) and VAL
//!   (`1vvvvvll`, 1..4 registers of value 1..32) opcodes, promoted to dense
//!   when a register needs a value above 32 or the string would grow past
//!   `hll-sparse-max-bytes`.
//!
//! Elements are hashed with MurmurHash64A (seed 0xadc83b19, read
//! little-endian); the low 14 bits pick the register and the position of the
//! first set bit in the rest is the run length. Cardinality uses Ertl's
//! improved estimator ("New cardinality estimation algorithms for
//! HyperLogLog sketches", arXiv:1702.01284), as Redis 7 does.

use crate::commands::table::{c, c_with_keys};
use crate::commands::{Command, Ctx, KeySpec};
use crate::error;
use crate::keyspace::{Entry, StrVal, Value};
use crate::notify::{notify, NOTIFY_STRING};
use crate::protocol::Out;

const HDR: usize = 16;
const P: u32 = 14;
const Q: u32 = 64 - P;
const REGS: usize = 1 << P;
const P_MASK: u64 = REGS as u64 - 1;
const BITS: usize = 6;
const REG_MAX: u32 = (1 << BITS) - 1;
const DENSE_SIZE: usize = HDR + (REGS * BITS).div_ceil(8);
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
const MAX_ENCODING: u8 = 1;

const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const XZERO_MAX_LEN: usize = 16384;
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
const INVALID_HLL: &str = "INVALIDOBJ Corrupted HLL object detected";

pub fn commands() -> Vec<Command> {
    let g = "hyperloglog";
    let one = (1, 1, 1);
    vec![
        c("pfadd", -2, "write denyoom fast @hyperloglog", one, g, "2.8.9", "Adds the specified elements to the specified HyperLogLog.", pfadd),
        c("pfcount", -2, "readonly may_replicate @hyperloglog", (1, -1, 1), g, "2.8.9", "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).", pfcount),
        c_with_keys("pfmerge", -2, "write denyoom @hyperloglog", KeySpec::Range { first: 1, last: -1, step: 1 }, g, "2.8.9", "Merge N different HyperLogLogs into a single one.", pfmerge),
        c("pfdebug", 3, "write denyoom admin @hyperloglog", (2, 2, 1), g, "2.8.9", "Internal commands for debugging HyperLogLog values", pfdebug),
        c("pfselftest", 1, "admin @hyperloglog", (0, 0, 0), g, "2.8.9", "An internal command for testing HyperLogLog values", pfselftest),
    ]
}

// ---------------------------------------------------------------- hashing

/// MurmurHash2, 64-bit variant, reading 8-byte blocks little-endian (as
/// Redis's endian-neutral version does).
fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut chunks = data.chunks_exact(8);
    for ch in &mut chunks {
        let mut k = u64::from_le_bytes(ch.try_into().expect("8 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        for (i, &b) in rest.iter().enumerate() {
            h ^= (b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element maps to and the length of its 0…01 pattern.
fn pat_len(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, 0xadc8_3b19);
    let index = (hash & P_MASK) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

// ---------------------------------------------------------------- dense

#[inline]
fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let b0 = regs[byte] as u32;
    let b1 = regs.get(byte + 1).copied().unwrap_or(0) as u32;
    (((b0 >> fb) | (b1 << (8 - fb))) & REG_MAX) as u8
}

#[inline]
fn dense_set(regs: &mut [u8], i: usize, val: u8) {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let fb8 = 8 - fb;
    let v = val as u32;
    regs[byte] &= !((REG_MAX << fb) as u8);
    regs[byte] |= (v << fb) as u8;
    if let Some(b) = regs.get_mut(byte + 1) {
        *b &= !((REG_MAX >> fb8) as u8);
        *b |= (v >> fb8) as u8;
    }
}

/// Raise register `i` to `count` if lower; true if it changed.
fn dense_raise(regs: &mut [u8], i: usize, count: u8) -> bool {
    if count > dense_get(regs, i) {
        dense_set(regs, i, count);
        true
    } else {
        false
    }
}

// ---------------------------------------------------------------- sparse opcodes

#[inline]
fn is_zero(b: u8) -> bool {
    b & 0xc0 == 0
}
#[inline]
fn is_xzero(b: u8) -> bool {
    b & 0xc0 == 0x40
}
#[inline]
fn is_val(b: u8) -> bool {
    b & 0x80 != 0
}
#[inline]
fn zero_len(b: u8) -> usize {
    (b & 0x3f) as usize + 1
}
#[inline]
fn xzero_len(b: u8, b2: u8) -> usize {
    ((((b & 0x3f) as usize) << 8) | b2 as usize) + 1
}
#[inline]
fn val_value(b: u8) -> u8 {
    ((b >> 2) & 0x1f) + 1
}
#[inline]
fn val_len(b: u8) -> usize {
    (b & 0x3) as usize + 1
}
#[inline]
fn val_op(val: u8, len: usize) -> u8 {
    ((val - 1) << 2) | (len as u8 - 1) | 0x80
}
fn push_zeros(seq: &mut Vec<u8>, len: usize) {
    if len > ZERO_MAX_LEN {
        let l = len - 1;
        seq.push((l >> 8) as u8 | 0x40);
        seq.push((l & 0xff) as u8);
    } else {
        seq.push(len as u8 - 1);
    }
}

/// The byte after `p`, or 0 past the end (Redis reads the string's
/// terminating NUL there).
#[inline]
fn byte_at(v: &[u8], i: usize) -> u8 {
    v.get(i).copied().unwrap_or(0)
}

/// A new, empty HLL: sparse, all registers in XZERO opcodes.
fn new_hll() -> Vec<u8> {
    let mut v = Vec::with_capacity(HDR + 2);
    v.extend_from_slice(b"HYLL");
    v.push(SPARSE);
    v.extend_from_slice(&[0u8; 11]);
    let mut left = REGS;
    while left > 0 {
        let n = left.min(XZERO_MAX_LEN);
        push_zeros(&mut v, n);
        left -= n;
    }
    v
}

#[inline]
fn invalidate_cache(v: &mut [u8]) {
    v[15] |= 0x80;
}

/// Whether a string is an HLL by header (Redis's isHLLObjectOrReply checks).
fn looks_like_hll(s: &StrVal) -> bool {
    if matches!(s, StrVal::Int(_)) {
        return false;
    }
    s.with_bytes(|b| {
        b.len() >= HDR
            && &b[..4] == b"HYLL"
            && b[4] <= MAX_ENCODING
            && (b[4] != DENSE || b.len() == DENSE_SIZE)
    })
}

/// Rewrite a sparse HLL as dense, keeping the header (magic, reserved bytes,
/// cached cardinality). Err if the sparse code is corrupt.
fn sparse_to_dense(v: &mut Vec<u8>) -> Result<(), ()> {
    if v[4] == DENSE {
        return Ok(());
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HDR].copy_from_slice(&v[..HDR]);
    dense[4] = DENSE;
    let regs = &mut dense[HDR..];
    let mut idx = 0usize;
    let mut p = HDR;
    while p < v.len() {
        let b = v[p];
        if is_zero(b) {
            idx += zero_len(b);
            p += 1;
        } else if is_xzero(b) {
            idx += xzero_len(b, byte_at(v, p + 1));
            p += 2;
        } else {
            let run = val_len(b);
            let val = val_value(b);
            if run + idx > REGS {
                break;
            }
            for _ in 0..run {
                dense_set(regs, idx, val);
                idx += 1;
            }
            p += 1;
        }
    }
    if idx != REGS {
        return Err(());
    }
    *v = dense;
    Ok(())
}

/// Raise register `index` of a sparse HLL to `count`. Ok(true) if changed
/// (possibly after promotion to dense), Err if the sparse code is corrupt.
fn sparse_set(v: &mut Vec<u8>, index: usize, count: u8, max_bytes: usize) -> Result<bool, ()> {
    if count > VAL_MAX_VALUE {
        return promote(v, index, count);
    }
    // Find the opcode covering `index`.
    let mut end = v.len();
    let mut p = HDR;
    let mut first = 0usize;
    let mut prev: Option<usize> = None;
    let mut span = 0usize;
    while p < end {
        let b = v[p];
        let mut oplen = 1;
        if is_zero(b) {
            span = zero_len(b);
        } else if is_val(b) {
            span = val_len(b);
        } else {
            span = xzero_len(b, byte_at(v, p + 1));
            oplen = 2;
        }
        if index < first + span {
            break;
        }
        prev = Some(p);
        p += oplen;
        first += span;
    }
    if span == 0 || p >= end {
        return Err(());
    }
    let b = v[p];
    let (zero, xzero, val) = (is_zero(b), is_xzero(b), is_val(b));
    let runlen = if zero {
        zero_len(b)
    } else if xzero {
        xzero_len(b, byte_at(v, p + 1))
    } else {
        val_len(b)
    };

    let mut simple = false;
    if val {
        let old = val_value(b);
        if old >= count {
            return Ok(false);
        }
        if runlen == 1 {
            v[p] = val_op(count, 1);
            simple = true;
        }
    }
    if !simple && zero && runlen == 1 {
        v[p] = val_op(count, 1);
        simple = true;
    }
    if !simple {
        // Split the opcode into up to three.
        let last = first + span - 1;
        let mut seq: Vec<u8> = Vec::with_capacity(5);
        if zero || xzero {
            if index != first {
                push_zeros(&mut seq, index - first);
            }
            seq.push(val_op(count, 1));
            if index != last {
                push_zeros(&mut seq, last - index);
            }
        } else {
            let cur = val_value(b);
            if index != first {
                seq.push(val_op(cur, index - first));
            }
            seq.push(val_op(count, 1));
            if index != last {
                seq.push(val_op(cur, last - index));
            }
        }
        let oldlen = if xzero { 2 } else { 1 };
        let delta = seq.len() as isize - oldlen as isize;
        if delta > 0 && v.len() + delta as usize > max_bytes {
            return promote(v, index, count);
        }
        let new_len = (v.len() as isize + delta) as usize;
        let tail: Vec<u8> = v[(p + oldlen).min(end)..].to_vec();
        v.truncate(p);
        v.extend_from_slice(&seq);
        v.extend_from_slice(&tail);
        v.truncate(new_len);
        end = new_len;
    }

    // Merge adjacent VAL opcodes of equal value, scanning a few opcodes
    // from the one before the change.
    let mut p = prev.unwrap_or(HDR);
    let mut scan = 5;
    while p < end && scan > 0 {
        scan -= 1;
        let b = v[p];
        if is_xzero(b) {
            p += 2;
            continue;
        } else if is_zero(b) {
            p += 1;
            continue;
        }
        if p + 1 < end && is_val(v[p + 1]) {
            let v1 = val_value(b);
            let v2 = val_value(v[p + 1]);
            if v1 == v2 {
                let len = val_len(b) + val_len(v[p + 1]);
                if len <= VAL_MAX_LEN {
                    v[p + 1] = val_op(v1, len);
                    v.remove(p);
                    end -= 1;
                    continue;
                }
            }
        }
        p += 1;
    }
    invalidate_cache(v);
    Ok(true)
}

fn promote(v: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, ()> {
    sparse_to_dense(v)?;
    dense_raise(&mut v[HDR..], index, count);
    Ok(true)
}

/// Add one element; Ok(true) if a register changed.
fn hll_add(v: &mut Vec<u8>, ele: &[u8], max_bytes: usize) -> Result<bool, ()> {
    let (index, count) = pat_len(ele);
    match v[4] {
        DENSE => Ok(dense_raise(&mut v[HDR..], index, count)),
        SPARSE => sparse_set(v, index, count, max_bytes),
        _ => Err(()),
    }
}

/// Histogram of register values; Err if a sparse code does not cover
/// exactly 16384 registers.
fn histogram(v: &[u8]) -> Result<[u32; 64], ()> {
    let mut h = [0u32; 64];
    if v[4] == DENSE {
        let regs = &v[HDR..];
        for i in 0..REGS {
            h[dense_get(regs, i) as usize] += 1;
        }
        return Ok(h);
    }
    let mut idx = 0usize;
    let mut p = HDR;
    while p < v.len() {
        let b = v[p];
        if is_zero(b) {
            let n = zero_len(b);
            idx += n;
            h[0] += n as u32;
            p += 1;
        } else if is_xzero(b) {
            let n = xzero_len(b, byte_at(v, p + 1));
            idx += n;
            h[0] += n as u32;
            p += 2;
        } else {
            let n = val_len(b);
            idx += n;
            h[val_value(b) as usize] += n as u32;
            p += 1;
        }
    }
    if idx != REGS {
        return Err(());
    }
    Ok(h)
}

fn raw_histogram(regs: &[u8; REGS]) -> [u32; 64] {
    let mut h = [0u32; 64];
    for &r in regs.iter() {
        h[(r & 63) as usize] += 1;
    }
    h
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let zp = z;
        z += x * y;
        y += y;
        if zp == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let zp = z;
        y *= 0.5;
        let d = 1.0 - x;
        z -= d * d * y;
        if zp == z {
            return z / 3.0;
        }
    }
}

/// Ertl's estimator over a register histogram.
fn estimate(h: &[u32; 64]) -> u64 {
    let m = REGS as f64;
    let mut z = m * tau((m - h[Q as usize + 1] as f64) / m);
    for j in (1..=Q as usize).rev() {
        z += h[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(h[0] as f64 / m);
    (ALPHA_INF * m * m / z).round() as u64
}

/// max[i] = max(max[i], register i of `v`). Err if a sparse code is corrupt.
fn merge_into(max: &mut [u8; REGS], v: &[u8]) -> Result<(), ()> {
    if v[4] == DENSE {
        let regs = &v[HDR..];
        for (i, m) in max.iter_mut().enumerate() {
            let r = dense_get(regs, i);
            if r > *m {
                *m = r;
            }
        }
        return Ok(());
    }
    let mut i = 0usize;
    let mut p = HDR;
    while p < v.len() {
        let b = v[p];
        if is_zero(b) {
            i += zero_len(b);
            p += 1;
        } else if is_xzero(b) {
            i += xzero_len(b, byte_at(v, p + 1));
            p += 2;
        } else {
            let run = val_len(b);
            let val = val_value(b);
            if run + i > REGS {
                break;
            }
            for _ in 0..run {
                if val > max[i] {
                    max[i] = val;
                }
                i += 1;
            }
            p += 1;
        }
    }
    if i != REGS {
        return Err(());
    }
    Ok(())
}

fn sparse_max_bytes(ctx: &Ctx) -> usize {
    ctx.srv.config.read().get_i64("hll-sparse-max-bytes").max(0) as usize
}

// ---------------------------------------------------------------- commands

/// PFADD key [element ...]
pub fn pfadd(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let max_bytes = sparse_max_bytes(ctx);
    let mut g = ctx.db().lock_key(key);
    let mut updated = 0u64;
    if g.get_mut(key, ctx.now_ms).is_none() {
        g.insert(
            key,
            Entry::new(Value::Str(StrVal::from_vec_raw(new_hll()))),
            false,
        );
        updated += 1;
    }
    let e = g.get_mut(key, ctx.now_ms).expect("present");
    crate::evict::touch(e);
    let s = match &mut e.value {
        Value::Str(s) => s,
        _ => return out.error(error::WRONGTYPE),
    };
    if !looks_like_hll(s) {
        return out.error(NOT_HLL);
    }
    let v = s.make_raw();
    for ele in &ctx.argv[2..] {
        match hll_add(v, ele, max_bytes) {
            Ok(true) => updated += 1,
            Ok(false) => {}
            Err(()) => return out.error(INVALID_HLL),
        }
    }
    if updated > 0 {
        invalidate_cache(v);
        ctx.dirty += updated;
    }
    out.int((updated > 0) as i64);
    if updated > 0 {
        notify(ctx, NOTIFY_STRING, "pfadd", key);
    }
}

/// PFCOUNT key [key ...]
pub fn pfcount(ctx: &mut Ctx, out: &mut Out) {
    if ctx.argv.len() > 2 {
        let keys = &ctx.argv[1..];
        let mut mg = ctx.db().lock_keys(keys.iter().map(|k| &k[..]));
        let mut max = Box::new([0u8; REGS]);
        for k in keys {
            let Some(e) = mg.for_key(k).get(k, ctx.now_ms) else {
                ctx.miss();
                continue;
            };
            ctx.hit();
            let Value::Str(s) = &e.value else {
                return out.error(error::WRONGTYPE);
            };
            if !looks_like_hll(s) {
                return out.error(NOT_HLL);
            }
            if s.with_bytes(|b| merge_into(&mut max, b)).is_err() {
                return out.error(INVALID_HLL);
            }
        }
        return out.int(estimate(&raw_histogram(&max)) as i64);
    }
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let Some(e) = g.get_mut(key, ctx.now_ms) else {
        ctx.miss();
        return out.int(0);
    };
    ctx.hit();
    crate::evict::touch(e);
    let Value::Str(s) = &mut e.value else {
        return out.error(error::WRONGTYPE);
    };
    if !looks_like_hll(s) {
        return out.error(NOT_HLL);
    }
    let cached = s.with_bytes(|b| {
        (b[15] & 0x80 == 0).then(|| u64::from_le_bytes(b[8..16].try_into().expect("8 bytes")))
    });
    if let Some(card) = cached {
        return out.int(card as i64);
    }
    let v = s.make_raw();
    let Ok(h) = histogram(v) else {
        return out.error(INVALID_HLL);
    };
    let card = estimate(&h);
    v[8..16].copy_from_slice(&card.to_le_bytes());
    ctx.dirty += 1;
    out.int(card as i64);
}

/// PFMERGE destkey [sourcekey ...]
pub fn pfmerge(ctx: &mut Ctx, out: &mut Out) {
    let keys = &ctx.argv[1..];
    let max_bytes = sparse_max_bytes(ctx);
    let mut mg = ctx.db().lock_keys(keys.iter().map(|k| &k[..]));
    let mut max = Box::new([0u8; REGS]);
    let mut use_dense = false;
    for k in keys {
        let Some(e) = mg.for_key(k).get(k, ctx.now_ms) else {
            ctx.miss();
            continue;
        };
        ctx.hit();
        let Value::Str(s) = &e.value else {
            return out.error(error::WRONGTYPE);
        };
        if !looks_like_hll(s) {
            return out.error(NOT_HLL);
        }
        let r = s.with_bytes(|b| {
            if b[4] == DENSE {
                use_dense = true;
            }
            merge_into(&mut max, b)
        });
        if r.is_err() {
            return out.error(INVALID_HLL);
        }
    }
    let dst = ctx.arg(1);
    let g = mg.for_key(dst);
    if g.get_mut(dst, ctx.now_ms).is_none() {
        g.insert(
            dst,
            Entry::new(Value::Str(StrVal::from_vec_raw(new_hll()))),
            false,
        );
    }
    let e = g.get_mut(dst, ctx.now_ms).expect("present");
    let Value::Str(s) = &mut e.value else {
        return out.error(error::WRONGTYPE);
    };
    let v = s.make_raw();
    if use_dense && sparse_to_dense(v).is_err() {
        return out.error(INVALID_HLL);
    }
    for (i, &m) in max.iter().enumerate() {
        if m == 0 {
            continue;
        }
        match v[4] {
            DENSE => {
                dense_raise(&mut v[HDR..], i, m);
            }
            _ => {
                let _ = sparse_set(v, i, m, max_bytes);
            }
        }
    }
    invalidate_cache(v);
    ctx.dirty += 1;
    out.ok();
    // Redis reports a merge as a mass add.
    notify(ctx, NOTIFY_STRING, "pfadd", dst);
}

/// PFDEBUG <GETREG|DECODE|ENCODING|TODENSE> key
pub fn pfdebug(ctx: &mut Ctx, out: &mut Out) {
    let sub = ctx.arg(1).to_ascii_lowercase();
    let key = ctx.arg(2);
    let mut g = ctx.db().lock_key(key);
    let Some(e) = g.get_mut(key, ctx.now_ms) else {
        return out.error("ERR The specified key does not exist");
    };
    let Value::Str(s) = &mut e.value else {
        return out.error(error::WRONGTYPE);
    };
    if !looks_like_hll(s) {
        return out.error(NOT_HLL);
    }
    let v = s.make_raw();
    match sub.as_slice() {
        b"getreg" => {
            if v[4] == SPARSE {
                if sparse_to_dense(v).is_err() {
                    return out.error(INVALID_HLL);
                }
                ctx.dirty += 1;
            }
            out.array(REGS);
            let regs = &v[HDR..];
            for i in 0..REGS {
                out.int(dense_get(regs, i) as i64);
            }
        }
        b"decode" => {
            if v[4] != SPARSE {
                return out.error("ERR HLL encoding is not sparse");
            }
            let mut text = String::new();
            let mut p = HDR;
            while p < v.len() {
                let b = v[p];
                if is_zero(b) {
                    text.push_str(&format!("z:{} ", zero_len(b)));
                    p += 1;
                } else if is_xzero(b) {
                    text.push_str(&format!("Z:{} ", xzero_len(b, byte_at(v, p + 1))));
                    p += 2;
                } else {
                    text.push_str(&format!("v:{},{} ", val_value(b), val_len(b)));
                    p += 1;
                }
            }
            out.bulk(text.trim_matches(' ').as_bytes());
        }
        b"encoding" => out.simple(if v[4] == DENSE { "dense" } else { "sparse" }),
        b"todense" => {
            let mut conv = 0;
            if v[4] == SPARSE {
                if sparse_to_dense(v).is_err() {
                    return out.error(INVALID_HLL);
                }
                conv = 1;
                ctx.dirty += 1;
            }
            out.int(conv);
        }
        _ => out.error(&format!(
            "ERR Unknown PFDEBUG subcommand '{}'",
            String::from_utf8_lossy(ctx.arg(1))
        )),
    }
}

/// PFSELFTEST: register access and estimator error checks.
pub fn pfselftest(ctx: &mut Ctx, out: &mut Out) {
    let mut rng: u64 = ctx.now_ms ^ 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    // 1: registers read back what was written, without disturbing neighbours.
    let mut dense = vec![0u8; DENSE_SIZE];
    let mut bytes = vec![0u8; REGS];
    for _ in 0..1000 {
        for (i, b) in bytes.iter_mut().enumerate() {
            let r = (next() & REG_MAX as u64) as u8;
            *b = r;
            dense_set(&mut dense[HDR..], i, r);
        }
        for (i, &b) in bytes.iter().enumerate() {
            let got = dense_get(&dense[HDR..], i);
            if got != b {
                return out.error(&format!(
                    "TESTFAILED Register {i} should be {b} but is {got}"
                ));
            }
        }
    }
    // 2: approximation error, dense and sparse agreeing.
    let max_bytes = sparse_max_bytes(ctx);
    dense[HDR..].iter_mut().for_each(|b| *b = 0);
    dense[4] = DENSE;
    let mut sparse = new_hll();
    let relerr = 1.04 / (REGS as f64).sqrt();
    let mut checkpoint: u64 = 1;
    let seed = next();
    for j in 1..=10_000_000u64 {
        let ele = (j ^ seed).to_le_bytes();
        let (index, count) = pat_len(&ele);
        dense_raise(&mut dense[HDR..], index, count);
        let _ = hll_add(&mut sparse, &ele, max_bytes);
        if j == checkpoint {
            if (j as usize) < max_bytes / 2 && sparse[4] != SPARSE {
                return out.error("TESTFAILED sparse encoding not used");
            }
            let dc = estimate(&histogram(&dense).unwrap_or([0; 64]));
            let sc = estimate(&histogram(&sparse).unwrap_or([0; 64]));
            if dc != sc {
                return out.error("TESTFAILED dense/sparse disagree");
            }
            let abserr = (checkpoint as i64 - dc as i64).unsigned_abs();
            let maxerr = if j == 10 {
                1
            } else {
                (relerr * 6.0 * checkpoint as f64).ceil() as u64
            };
            if abserr > maxerr {
                return out.error(&format!(
                    "TESTFAILED Too big error. card:{checkpoint} abserr:{abserr}"
                ));
            }
            checkpoint *= 10;
        }
    }
    out.ok();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_hll_layout() {
        let v = new_hll();
        assert_eq!(v.len(), 18);
        assert_eq!(&v[..5], b"HYLL\x01");
        assert_eq!(&v[16..], &[0x7f, 0xff]);
        assert_eq!(estimate(&histogram(&v).unwrap()), 0);
    }

    #[test]
    fn dense_registers_round_trip() {
        let mut regs = vec![0u8; DENSE_SIZE - HDR];
        for i in 0..REGS {
            dense_set(&mut regs, i, (i % 64) as u8);
        }
        for i in 0..REGS {
            assert_eq!(dense_get(&regs, i), (i % 64) as u8);
        }
    }

    #[test]
    fn sparse_and_dense_agree() {
        let mut s = new_hll();
        let mut d = new_hll();
        sparse_to_dense(&mut d).unwrap();
        for i in 0..1000u32 {
            let e = format!("ele:{i}");
            hll_add(&mut s, e.as_bytes(), 3000).unwrap();
            hll_add(&mut d, e.as_bytes(), 3000).unwrap();
        }
        assert_eq!(s[4], SPARSE);
        let cs = estimate(&histogram(&s).unwrap());
        let cd = estimate(&histogram(&d).unwrap());
        assert_eq!(cs, cd);
        assert!((950..1050).contains(&cs), "{cs}");
        sparse_to_dense(&mut s).unwrap();
        assert_eq!(&s[HDR..], &d[HDR..]);
    }
}
