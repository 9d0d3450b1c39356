//! Bitmap commands: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD,
//! BITFIELD_RO, and LCS (longest common subsequence of two strings).
//!
//! Bits are numbered from the most significant bit of the first byte, so
//! bit 0 is `0x80` of byte 0, bit 7 is `0x01` of byte 0, bit 8 is `0x80` of
//! byte 1, and so on. Strings read past their end as zero bits.
//!
//! The pure bit helpers (counting, searching, bitfield get/set and overflow
//! handling, the LCS table) sit apart from the handlers and are unit tested
//! at the end of the file.

use super::string::{as_str, as_str_mut};
use super::Ctx;
use crate::error;
use crate::keyspace::{lru_clock, Entry, SlotGuard, StrVal, Value};
use crate::notify::{notify, NOTIFY_GENERIC, NOTIFY_STRING};
use crate::protocol::Out;
use crate::util::parse_i64;

const BIT_ARG: &str = "ERR The bit argument must be 1 or 0.";
const BITOP_NOT_SINGLE: &str = "ERR BITOP NOT must be called with a single source key.";
const BAD_OVERFLOW: &str = "ERR Invalid OVERFLOW type specified";
const BAD_FIELD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
const RO_GET_ONLY: &str = "ERR BITFIELD_RO only supports the GET subcommand";
const LCS_NOT_STRINGS: &str = "ERR The specified keys must contain string values";
const LCS_LEN_AND_IDX: &str = "ERR If you want both the length and indexes, please just use IDX.";
const LCS_TOO_LONG: &str = "ERR String too long for LCS";
const LCS_OVER_LIMIT: &str =
    "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len";
const LCS_NO_MEMORY: &str = "ERR Insufficient memory, failed allocating transient memory for LCS";

// ---------------------------------------------------------------------------
// Argument parsing shared by the handlers.
// ---------------------------------------------------------------------------

/// A bit offset argument. With `bits > 0`, a leading `#` multiplies the
/// number by the field width (BITFIELD's `#<n>` form). The offset must be
/// non-negative and address a byte below proto-max-bulk-len.
fn parse_bit_offset(raw: &[u8], bits: u32, max_bulk_len: i64) -> Option<u64> {
    let hash = bits > 0 && raw.first() == Some(&b'#');
    let n = parse_i64(if hash { &raw[1..] } else { raw })?;
    let n = if hash { n.wrapping_mul(bits as i64) } else { n };
    if n < 0 || (n >> 3) >= max_bulk_len {
        return None;
    }
    Some(n as u64)
}

fn bit_offset_arg(ctx: &Ctx, i: usize, bits: u32) -> Option<u64> {
    parse_bit_offset(ctx.arg(i), bits, ctx.hot.proto_max_bulk_len)
}

/// A BITFIELD type: `i1`..`i64` or `u1`..`u63`. Returns (signed, bits).
fn parse_field_type(raw: &[u8]) -> Option<(bool, u32)> {
    let signed = match raw.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return None,
    };
    // The width is read as a C string: it stops at a NUL byte.
    let rest = &raw[1..];
    let rest = match rest.iter().position(|&c| c == 0) {
        Some(p) => &rest[..p],
        None => rest,
    };
    let bits = parse_i64(rest)?;
    let max = if signed { 64 } else { 63 };
    if !(1..=max).contains(&bits) {
        return None;
    }
    Some((signed, bits as u32))
}

/// Read-lookup of a string key with keyspace hit/miss accounting.
/// `Err(())` means the key holds another type (WRONGTYPE).
fn lookup_read<'g>(
    ctx: &Ctx,
    g: &'g mut SlotGuard<'_>,
    key: &[u8],
) -> Result<Option<&'g StrVal>, ()> {
    match g.get(key, ctx.now_ms) {
        None => {
            ctx.miss_key(key);
            Ok(None)
        }
        Some(e) => {
            ctx.hit();
            as_str(&e.value).map(Some).ok_or(())
        }
    }
}

/// The string at `key` made writable and zero-padded so that bit `max_bit`
/// exists, creating the key if missing. Returns the buffer and whether the
/// key was created or grown; `None` for a key of another type.
fn bits_for_write<'g>(
    g: &'g mut SlotGuard<'_>,
    key: &[u8],
    now_ms: u64,
    max_bit: u64,
) -> Option<(&'g mut Vec<u8>, bool)> {
    let need = (max_bit >> 3) as usize + 1;
    if g.get_mut(key, now_ms).is_none() {
        g.insert(
            key,
            Entry::new(Value::Str(StrVal::from_vec_raw(vec![0u8; need]))),
            false,
        );
        let e = g.get_mut(key, now_ms).expect("just inserted");
        let v = as_str_mut(&mut e.value)
            .expect("just inserted a string")
            .make_raw();
        return Some((v, true));
    }
    let e = g.get_mut(key, now_ms).expect("present");
    e.lru_s = lru_clock();
    let v = as_str_mut(&mut e.value)?.make_raw();
    let grown = v.len() < need;
    if grown {
        v.resize(need, 0);
    }
    Some((v, grown))
}

// ---------------------------------------------------------------------------
// SETBIT / GETBIT
// ---------------------------------------------------------------------------

pub fn setbit(ctx: &mut Ctx, out: &mut Out) {
    let Some(offset) = bit_offset_arg(ctx, 2, 0) else {
        return out.error(error::BIT_OFFSET);
    };
    let on = match parse_i64(ctx.arg(3)) {
        Some(v) if v & !1 == 0 => v as u8,
        _ => return out.error(error::BIT_VALUE),
    };
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let Some((buf, grown)) = bits_for_write(&mut g, key, ctx.now_ms, offset) else {
        return out.error(error::WRONGTYPE);
    };
    let byte = (offset >> 3) as usize;
    let shift = 7 - (offset & 7) as u32;
    let old = (buf[byte] >> shift) & 1;
    let changed = grown || old != on;
    if changed {
        buf[byte] = (buf[byte] & !(1 << shift)) | (on << shift);
        ctx.dirty += 1;
    }
    out.int(old as i64);
    if changed {
        notify(ctx, NOTIFY_STRING, "setbit", key);
    }
}

pub fn getbit(ctx: &mut Ctx, out: &mut Out) {
    let Some(offset) = bit_offset_arg(ctx, 2, 0) else {
        return out.error(error::BIT_OFFSET);
    };
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    match lookup_read(ctx, &mut g, key) {
        Err(()) => out.error(error::WRONGTYPE),
        Ok(None) => out.int(0),
        Ok(Some(s)) => {
            let bit = s.with_bytes(|p| get_bit(p, offset));
            out.int(bit as i64)
        }
    }
}

/// Bit `offset` of `p` (0 past the end).
pub fn get_bit(p: &[u8], offset: u64) -> u8 {
    let byte = offset >> 3;
    if byte >= p.len() as u64 {
        return 0;
    }
    (p[byte as usize] >> (7 - (offset & 7))) & 1
}

// ---------------------------------------------------------------------------
// BITCOUNT / BITPOS
// ---------------------------------------------------------------------------

/// Number of set bits.
pub fn popcount(p: &[u8]) -> u64 {
    let mut chunks = p.chunks_exact(8);
    let mut n: u64 = 0;
    for c in &mut chunks {
        n += u64::from_ne_bytes(c.try_into().expect("8 bytes")).count_ones() as u64;
    }
    for &b in chunks.remainder() {
        n += b.count_ones() as u64;
    }
    n
}

/// Position of the first bit equal to `bit` in `p`. When there is none:
/// -1 when looking for a 1, and `8 * len` when looking for a 0 (the bits
/// right of the string count as zeros).
pub fn first_bit(p: &[u8], bit: u8) -> i64 {
    let skip = if bit == 1 { 0u8 } else { 0xff };
    // Skip whole words that cannot hold the bit, then bytes.
    let mut i = 0usize;
    let word_skip = if bit == 1 { 0u64 } else { u64::MAX };
    while i + 8 <= p.len() {
        let w = u64::from_ne_bytes(p[i..i + 8].try_into().expect("8 bytes"));
        if w != word_skip {
            break;
        }
        i += 8;
    }
    match p[i..].iter().position(|&b| b != skip) {
        Some(k) => {
            let b = p[i + k];
            let within = if bit == 1 {
                b.leading_zeros()
            } else {
                b.leading_ones()
            };
            ((i + k) as i64) * 8 + within as i64
        }
        None if bit == 1 => -1,
        None => p.len() as i64 * 8,
    }
}

/// A range resolved to whole bytes, plus masks of the bits of the first
/// and last byte that lie outside the range (BIT ranges only).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ByteRange {
    pub start: i64,
    pub end: i64,
    pub first_mask: u8,
    pub last_mask: u8,
}

/// Resolve `start..=end` (negative counts from the end, in bytes or in
/// bits) against a string of `len` bytes. `start > end` means empty.
pub fn resolve_range(len: i64, start: i64, end: i64, is_bit: bool) -> ByteRange {
    let total = if is_bit { len << 3 } else { len };
    let mut start = if start < 0 { total + start } else { start };
    let mut end = if end < 0 { total + end } else { end };
    start = start.max(0);
    end = end.max(0);
    if end >= total {
        end = total - 1;
    }
    let mut r = ByteRange {
        start,
        end,
        first_mask: 0,
        last_mask: 0,
    };
    if is_bit && start <= end {
        r.first_mask = (!((1u32 << (8 - (start & 7))) - 1) & 0xff) as u8;
        r.last_mask = ((1u32 << (7 - (end & 7))) - 1) as u8;
        r.start = start >> 3;
        r.end = end >> 3;
    }
    r
}

/// Set bits of `p` inside the resolved range.
pub fn count_in_range(p: &[u8], r: ByteRange) -> i64 {
    if r.start > r.end {
        return 0;
    }
    let (s, e) = (r.start as usize, r.end as usize);
    let mut n = popcount(&p[s..=e]) as i64;
    n -= (p[s] & r.first_mask).count_ones() as i64;
    n -= (p[e] & r.last_mask).count_ones() as i64;
    n
}

/// BITPOS over a resolved, non-empty range; `end_given` makes a search for
/// 0 that runs off the end of the range fail instead of reporting the first
/// bit after it.
pub fn bitpos_in_range(p: &[u8], bit: u8, r: ByteRange, end_given: bool) -> i64 {
    if r.start > r.end {
        return -1;
    }
    // Force the out-of-range edge bits to the value not searched for.
    let clip = |b: u8, mask: u8| if bit == 1 { b & !mask } else { b | mask };
    let mut start = r.start as usize;
    let end = r.end as usize;
    let mut left = end - start + 1;
    let pos = 'search: {
        if r.first_mask != 0 {
            let mut b = clip(p[start], r.first_mask);
            if left == 1 {
                b = clip(b, r.last_mask);
            }
            let pos = first_bit(&[b], bit);
            if left == 1 || (pos != -1 && pos != 8) {
                break 'search pos;
            }
            start += 1;
            left -= 1;
        }
        let middle = left - (r.last_mask != 0) as usize;
        if middle > 0 {
            let pos = first_bit(&p[start..start + middle], bit);
            if left == middle || (pos != -1 && pos != (middle as i64) * 8) {
                break 'search pos;
            }
            start += middle;
            left -= middle;
        }
        first_bit(&[clip(p[end], r.last_mask)], bit)
    };
    if end_given && bit == 0 && pos == (left as i64) * 8 {
        return -1;
    }
    if pos == -1 {
        -1
    } else {
        pos + (start as i64) * 8
    }
}

/// BIT or BYTE; anything else is a syntax error.
fn unit_arg(raw: &[u8]) -> Option<bool> {
    if raw.eq_ignore_ascii_case(b"bit") {
        Some(true)
    } else if raw.eq_ignore_ascii_case(b"byte") {
        Some(false)
    } else {
        None
    }
}

pub fn bitcount(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let argc = ctx.argv.len();
    let mut g = ctx.db().lock_key(key);
    let s = match lookup_read(ctx, &mut g, key) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(None) => return out.int(0),
        Ok(Some(s)) => s,
    };
    let range = if argc == 4 || argc == 5 {
        let (Some(start), Some(end)) = (parse_i64(ctx.arg(2)), parse_i64(ctx.arg(3))) else {
            return out.error(error::NOT_INTEGER);
        };
        if start < 0 && end < 0 && start > end {
            return out.int(0);
        }
        let is_bit = if argc == 5 {
            match unit_arg(ctx.arg(4)) {
                Some(b) => b,
                None => return out.error(error::SYNTAX),
            }
        } else {
            false
        };
        Some((start, end, is_bit))
    } else if argc == 2 {
        None
    } else {
        return out.error(error::SYNTAX);
    };
    let n = s.with_bytes(|p| {
        let len = p.len() as i64;
        let r = match range {
            Some((start, end, is_bit)) => resolve_range(len, start, end, is_bit),
            None => ByteRange {
                start: 0,
                end: len - 1,
                first_mask: 0,
                last_mask: 0,
            },
        };
        count_in_range(p, r)
    });
    out.int(n)
}

pub fn bitpos(ctx: &mut Ctx, out: &mut Out) {
    let Some(bit) = ctx.arg_i64(2, out) else {
        return;
    };
    if bit != 0 && bit != 1 {
        return out.error(BIT_ARG);
    }
    let bit = bit as u8;
    let key = ctx.arg(1);
    let argc = ctx.argv.len();
    let mut g = ctx.db().lock_key(key);
    let s = match lookup_read(ctx, &mut g, key) {
        Err(()) => return out.error(error::WRONGTYPE),
        Ok(None) => return out.int(if bit == 1 { -1 } else { 0 }),
        Ok(Some(s)) => s,
    };
    // (start, end or None, is_bit)
    let range = if (4..=6).contains(&argc) {
        let Some(start) = parse_i64(ctx.arg(3)) else {
            return out.error(error::NOT_INTEGER);
        };
        let is_bit = if argc == 6 {
            match unit_arg(ctx.arg(5)) {
                Some(b) => b,
                None => return out.error(error::SYNTAX),
            }
        } else {
            false
        };
        let end = if argc >= 5 {
            match parse_i64(ctx.arg(4)) {
                Some(e) => Some(e),
                None => return out.error(error::NOT_INTEGER),
            }
        } else {
            None
        };
        Some((start, end, is_bit))
    } else if argc == 3 {
        None
    } else {
        return out.error(error::SYNTAX);
    };
    let pos = s.with_bytes(|p| {
        let len = p.len() as i64;
        match range {
            Some((start, end, is_bit)) => {
                let default_end = if is_bit { len * 8 - 1 } else { len - 1 };
                let r = resolve_range(len, start, end.unwrap_or(default_end), is_bit);
                bitpos_in_range(p, bit, r, end.is_some())
            }
            None => bitpos_in_range(
                p,
                bit,
                ByteRange {
                    start: 0,
                    end: len - 1,
                    first_mask: 0,
                    last_mask: 0,
                },
                false,
            ),
        }
    });
    out.int(pos)
}

// ---------------------------------------------------------------------------
// BITOP
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// Combine the sources byte by byte; shorter sources (and missing keys,
/// given as empty) read as zeros up to the longest one.
pub fn bitop_apply(op: BitOp, srcs: &[Vec<u8>]) -> Vec<u8> {
    let maxlen = srcs.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut res = vec![0u8; maxlen];
    if maxlen == 0 {
        return res;
    }
    let first = &srcs[0];
    res[..first.len()].copy_from_slice(first);
    match op {
        BitOp::Not => res.iter_mut().for_each(|b| *b = !*b),
        BitOp::And => {
            for s in &srcs[1..] {
                for (r, b) in res.iter_mut().zip(s.iter()) {
                    *r &= *b;
                }
                // Bytes past this source's end are ANDed with zero.
                let n = s.len().min(maxlen);
                res[n..].iter_mut().for_each(|b| *b = 0);
            }
        }
        BitOp::Or => {
            for s in &srcs[1..] {
                for (r, b) in res.iter_mut().zip(s.iter()) {
                    *r |= *b;
                }
            }
        }
        BitOp::Xor => {
            for s in &srcs[1..] {
                for (r, b) in res.iter_mut().zip(s.iter()) {
                    *r ^= *b;
                }
            }
        }
    }
    res
}

pub fn bitop(ctx: &mut Ctx, out: &mut Out) {
    // Only the destination changes (WATCH, blocked clients).
    ctx.modified = Some(vec![ctx.argv[2].clone()]);
    let name = ctx.arg(1);
    let op = if name.eq_ignore_ascii_case(b"and") {
        BitOp::And
    } else if name.eq_ignore_ascii_case(b"or") {
        BitOp::Or
    } else if name.eq_ignore_ascii_case(b"xor") {
        BitOp::Xor
    } else if name.eq_ignore_ascii_case(b"not") {
        BitOp::Not
    } else {
        return out.error(error::SYNTAX);
    };
    if op == BitOp::Not && ctx.argv.len() != 4 {
        return out.error(BITOP_NOT_SINGLE);
    }
    let argv = ctx.argv;
    let dest = &argv[2][..];
    let mut guards = ctx.db().lock_keys(argv[2..].iter().map(|k| &k[..]));
    let mut srcs: Vec<Vec<u8>> = Vec::with_capacity(argv.len() - 3);
    for key in &argv[3..] {
        let g = guards.for_key(key);
        match lookup_read(ctx, g, key) {
            Err(()) => return out.error(error::WRONGTYPE),
            Ok(None) => srcs.push(Vec::new()),
            Ok(Some(s)) => srcs.push(s.to_vec()),
        }
    }
    let res = bitop_apply(op, &srcs);
    drop(srcs);
    let len = res.len();
    let g = guards.for_key(dest);
    if len > 0 {
        g.insert(
            dest,
            Entry::new(Value::Str(StrVal::from_vec_raw(res))),
            false,
        );
        ctx.dirty += 1;
        notify(ctx, NOTIFY_STRING, "set", dest);
    } else if g.remove(dest).is_some() {
        ctx.dirty += 1;
        notify(ctx, NOTIFY_GENERIC, "del", dest);
    }
    out.int(len as i64)
}

// ---------------------------------------------------------------------------
// BITFIELD / BITFIELD_RO
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// Read `bits` (1..=64) bits at bit `offset` as an unsigned number; bits
/// past the end of `p` read as zero.
pub fn read_field(p: &[u8], offset: u64, bits: u32) -> u64 {
    let byte = (offset >> 3) as usize;
    let mut w: u128 = 0;
    for i in 0..9 {
        w = (w << 8) | p.get(byte + i).copied().unwrap_or(0) as u128;
    }
    let shift = 72 - (offset & 7) as u32 - bits;
    ((w >> shift) & ((1u128 << bits) - 1)) as u64
}

/// Read a two's complement signed field.
pub fn read_field_signed(p: &[u8], offset: u64, bits: u32) -> i64 {
    let v = read_field(p, offset, bits);
    if bits < 64 && v & (1u64 << (bits - 1)) != 0 {
        (v | (u64::MAX << bits)) as i64
    } else {
        v as i64
    }
}

/// Write the low `bits` bits of `value` at bit `offset`. Bytes past the end
/// of `p` are not written (the caller grows `p` to hold the field).
pub fn write_field(p: &mut [u8], offset: u64, bits: u32, value: u64) {
    let byte = (offset >> 3) as usize;
    let mut w: u128 = 0;
    for i in 0..9 {
        w = (w << 8) | p.get(byte + i).copied().unwrap_or(0) as u128;
    }
    let shift = 72 - (offset & 7) as u32 - bits;
    let low = (1u128 << bits) - 1;
    w = (w & !(low << shift)) | ((value as u128 & low) << shift);
    for i in 0..9 {
        if let Some(b) = p.get_mut(byte + i) {
            *b = (w >> (8 * (8 - i))) as u8;
        }
    }
}

/// Overflow check for a signed field of `bits` bits holding `value` after
/// adding `incr`. `None` when the result fits; otherwise the value to store
/// (meaningless for FAIL, which stores nothing). The comparisons use the
/// same wrapping arithmetic as Redis, so out-of-range SET values classify
/// exactly as there.
pub fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<i64> {
    let max: i64 = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let wrapped = || {
        let c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let high = u64::MAX << bits;
            if c & (1u64 << (bits - 1)) != 0 {
                (c | high) as i64
            } else {
                (c & !high) as i64
            }
        } else {
            c as i64
        }
    };
    let pick = |limit: i64| match ow {
        Overflow::Wrap => wrapped(),
        Overflow::Sat => limit,
        Overflow::Fail => 0,
    };
    if value > max || (bits != 64 && incr > max_incr) || (value >= 0 && incr > 0 && incr > max_incr)
    {
        Some(pick(max))
    } else if value < min
        || (bits != 64 && incr < min_incr)
        || (value < 0 && incr < 0 && incr < min_incr)
    {
        Some(pick(min))
    } else {
        None
    }
}

/// Overflow check for an unsigned field; see `signed_overflow`.
pub fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<u64> {
    let max: u64 = if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = value.wrapping_neg() as i64;
    let wrapped = || value.wrapping_add(incr as u64) & max;
    let pick = |limit: u64| match ow {
        Overflow::Wrap => wrapped(),
        Overflow::Sat => limit,
        Overflow::Fail => 0,
    };
    if value > max || (incr > 0 && incr > max_incr) {
        Some(pick(max))
    } else if incr < 0 && incr < min_incr {
        Some(pick(0))
    } else {
        None
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum FieldKind {
    Get,
    Set,
    Incr,
}

#[derive(Clone, Copy, Debug)]
struct FieldOp {
    kind: FieldKind,
    offset: u64,
    value: i64,
    overflow: Overflow,
    bits: u32,
    signed: bool,
}

/// Result of one SET/INCRBY on a field: the reply (None = nil for a FAIL
/// overflow) and whether the stored bits changed.
pub fn field_write(
    p: &mut [u8],
    offset: u64,
    bits: u32,
    signed: bool,
    incr: bool,
    arg: i64,
    ow: Overflow,
) -> (Option<i64>, bool) {
    if signed {
        let old = read_field_signed(p, offset, bits);
        let (new, over, reply) = if incr {
            match signed_overflow(old, arg, bits, ow) {
                Some(v) => (v, true, v),
                None => (old.wrapping_add(arg), false, old.wrapping_add(arg)),
            }
        } else {
            match signed_overflow(arg, 0, bits, ow) {
                Some(v) => (v, true, old),
                None => (arg, false, old),
            }
        };
        if over && ow == Overflow::Fail {
            return (None, false);
        }
        write_field(p, offset, bits, new as u64);
        (Some(reply), old != new)
    } else {
        let old = read_field(p, offset, bits);
        let (new, over, reply) = if incr {
            match unsigned_overflow(old, arg, bits, ow) {
                Some(v) => (v, true, v),
                None => {
                    let v = old.wrapping_add(arg as u64);
                    (v, false, v)
                }
            }
        } else {
            match unsigned_overflow(arg as u64, 0, bits, ow) {
                Some(v) => (v, true, old),
                None => (arg as u64, false, old),
            }
        };
        if over && ow == Overflow::Fail {
            return (None, false);
        }
        write_field(p, offset, bits, new);
        (Some(reply as i64), old != new)
    }
}

fn field_get(p: &[u8], op: &FieldOp) -> i64 {
    if op.signed {
        read_field_signed(p, op.offset, op.bits)
    } else {
        read_field(p, op.offset, op.bits) as i64
    }
}

/// Parse BITFIELD's subcommands; on error the reply is written.
fn parse_field_ops(ctx: &Ctx, out: &mut Out) -> Option<Vec<FieldOp>> {
    let argc = ctx.argv.len();
    let max_bulk = ctx.hot.proto_max_bulk_len;
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < argc {
        let more = argc - j - 1;
        let sub = ctx.arg(j);
        let kind = if sub.eq_ignore_ascii_case(b"get") && more >= 2 {
            FieldKind::Get
        } else if sub.eq_ignore_ascii_case(b"set") && more >= 3 {
            FieldKind::Set
        } else if sub.eq_ignore_ascii_case(b"incrby") && more >= 3 {
            FieldKind::Incr
        } else if sub.eq_ignore_ascii_case(b"overflow") && more >= 1 {
            let t = ctx.arg(j + 1);
            overflow = if t.eq_ignore_ascii_case(b"wrap") {
                Overflow::Wrap
            } else if t.eq_ignore_ascii_case(b"sat") {
                Overflow::Sat
            } else if t.eq_ignore_ascii_case(b"fail") {
                Overflow::Fail
            } else {
                out.error(BAD_OVERFLOW);
                return None;
            };
            j += 2;
            continue;
        } else {
            out.error(error::SYNTAX);
            return None;
        };
        let Some((signed, bits)) = parse_field_type(ctx.arg(j + 1)) else {
            out.error(BAD_FIELD_TYPE);
            return None;
        };
        let Some(offset) = parse_bit_offset(ctx.arg(j + 2), bits, max_bulk) else {
            out.error(error::BIT_OFFSET);
            return None;
        };
        let mut value = 0;
        if kind != FieldKind::Get {
            value = ctx.arg_i64(j + 3, out)?;
        }
        ops.push(FieldOp {
            kind,
            offset,
            value,
            overflow,
            bits,
            signed,
        });
        j += if kind == FieldKind::Get { 3 } else { 4 };
    }
    Some(ops)
}

fn bitfield_generic(ctx: &mut Ctx, out: &mut Out, read_only_cmd: bool) {
    let Some(ops) = parse_field_ops(ctx, out) else {
        return;
    };
    let key = ctx.arg(1);
    let mut g = ctx.db().lock_key(key);
    let writes = ops.iter().any(|o| o.kind != FieldKind::Get);
    if !writes {
        let s = match lookup_read(ctx, &mut g, key) {
            Err(()) => return out.error(error::WRONGTYPE),
            Ok(s) => s,
        };
        out.array(ops.len());
        let empty: &[u8] = &[];
        let reply_all = |p: &[u8], out: &mut Out| {
            for op in &ops {
                out.int(field_get(p, op));
            }
        };
        match s {
            Some(s) => s.with_bytes(|p| reply_all(p, out)),
            None => reply_all(empty, out),
        }
        return;
    }
    if read_only_cmd {
        return out.error(RO_GET_ONLY);
    }
    let max_bit = ops
        .iter()
        .filter(|o| o.kind != FieldKind::Get)
        .map(|o| o.offset + o.bits as u64 - 1)
        .max()
        .unwrap_or(0);
    let Some((buf, grown)) = bits_for_write(&mut g, key, ctx.now_ms, max_bit) else {
        return out.error(error::WRONGTYPE);
    };
    out.array(ops.len());
    let mut changes = 0u64;
    for op in &ops {
        match op.kind {
            FieldKind::Get => out.int(field_get(buf, op)),
            FieldKind::Set | FieldKind::Incr => {
                let incr = op.kind == FieldKind::Incr;
                let (reply, changed) = field_write(
                    buf,
                    op.offset,
                    op.bits,
                    op.signed,
                    incr,
                    op.value,
                    op.overflow,
                );
                match reply {
                    Some(v) => {
                        out.int(v);
                        if grown || changed {
                            changes += 1;
                        }
                    }
                    None => out.null(),
                }
            }
        }
    }
    ctx.dirty += changes;
    if changes > 0 {
        notify(ctx, NOTIFY_STRING, "setbit", key);
    }
}

pub fn bitfield(ctx: &mut Ctx, out: &mut Out) {
    bitfield_generic(ctx, out, false)
}

pub fn bitfield_ro(ctx: &mut Ctx, out: &mut Out) {
    bitfield_generic(ctx, out, true)
}

// ---------------------------------------------------------------------------
// LCS
// ---------------------------------------------------------------------------

/// A matching run: (a_start, a_end, b_start, b_end), inclusive.
pub type MatchRange = (u32, u32, u32, u32);

#[derive(Debug, Default, PartialEq)]
pub struct LcsResult {
    pub len: u32,
    pub seq: Vec<u8>,
    /// Matching runs from the end of the strings towards the start.
    pub ranges: Vec<MatchRange>,
}

/// The longest common subsequence of `a` and `b` by the classic dynamic
/// programming table. `walk` recovers the sequence and its runs. Errors are
/// reply texts (table larger than `max_table_bytes`, allocation failure).
pub fn lcs_compute(
    a: &[u8],
    b: &[u8],
    walk: bool,
    max_table_bytes: u64,
) -> Result<LcsResult, &'static str> {
    if a.len() as u64 >= u32::MAX as u64 - 1 || b.len() as u64 >= u32::MAX as u64 - 1 {
        return Err(LCS_TOO_LONG);
    }
    let (alen, blen) = (a.len(), b.len());
    let width = blen + 1;
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    if cells * 4 > max_table_bytes {
        return Err(LCS_OVER_LIMIT);
    }
    let mut t: Vec<u32> = Vec::new();
    if t.try_reserve_exact(cells as usize).is_err() {
        return Err(LCS_NO_MEMORY);
    }
    t.resize(cells as usize, 0);
    for i in 1..=alen {
        for j in 1..=blen {
            t[i * width + j] = if a[i - 1] == b[j - 1] {
                t[(i - 1) * width + j - 1] + 1
            } else {
                t[(i - 1) * width + j].max(t[i * width + j - 1])
            };
        }
    }
    let len = t[alen * width + blen];
    let mut res = LcsResult {
        len,
        ..Default::default()
    };
    if !walk {
        return Ok(res);
    }
    let mut seq = vec![0u8; len as usize];
    let mut k = len as usize;
    let (mut i, mut j) = (alen, blen);
    let mut run: Option<MatchRange> = None;
    while i > 0 && j > 0 {
        let mut close = false;
        if a[i - 1] == b[j - 1] {
            seq[k - 1] = a[i - 1];
            match run.as_mut() {
                None => {
                    run = Some((
                        (i - 1) as u32,
                        (i - 1) as u32,
                        (j - 1) as u32,
                        (j - 1) as u32,
                    ))
                }
                Some(r) if r.0 as usize == i && r.2 as usize == j => {
                    r.0 -= 1;
                    r.2 -= 1;
                }
                Some(_) => close = true,
            }
            if let Some(r) = run {
                if r.0 == 0 || r.2 == 0 {
                    close = true;
                }
            }
            k -= 1;
            i -= 1;
            j -= 1;
        } else {
            if t[(i - 1) * width + j] > t[i * width + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if run.is_some() {
                close = true;
            }
        }
        if close {
            if let Some(r) = run.take() {
                res.ranges.push(r);
            }
        }
    }
    res.seq = seq;
    Ok(res)
}

pub fn lcs(ctx: &mut Ctx, out: &mut Out) {
    let argv = ctx.argv;
    let (ka, kb) = (&argv[1][..], &argv[2][..]);
    let (a, b) = {
        let mut guards = ctx.db().lock_keys([ka, kb].into_iter());
        let a = lookup_read(ctx, guards.for_key(ka), ka).map(|s| s.map(|s| s.to_vec()));
        let b = lookup_read(ctx, guards.for_key(kb), kb).map(|s| s.map(|s| s.to_vec()));
        match (a, b) {
            (Ok(a), Ok(b)) => (a.unwrap_or_default(), b.unwrap_or_default()),
            _ => return out.error(LCS_NOT_STRINGS),
        }
    };
    let (mut get_len, mut get_idx, mut with_len) = (false, false, false);
    let mut min_len: i64 = 0;
    let mut j = 3;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if ctx.arg_is(j, "IDX") {
            get_idx = true;
        } else if ctx.arg_is(j, "LEN") {
            get_len = true;
        } else if ctx.arg_is(j, "WITHMATCHLEN") {
            with_len = true;
        } else if ctx.arg_is(j, "MINMATCHLEN") && more > 0 {
            let Some(v) = ctx.arg_i64(j + 1, out) else {
                return;
            };
            min_len = v.max(0);
            j += 1;
        } else {
            return out.error(error::SYNTAX);
        }
        j += 1;
    }
    if get_len && get_idx {
        return out.error(LCS_LEN_AND_IDX);
    }
    let limit = ctx.hot.proto_max_bulk_len.max(0) as u64;
    let walk = get_idx || !get_len;
    let r = match lcs_compute(&a, &b, walk, limit) {
        Ok(r) => r,
        Err(e) => return out.error(e),
    };
    if get_idx {
        let runs: Vec<&MatchRange> = r
            .ranges
            .iter()
            .filter(|m| min_len == 0 || (m.1 - m.0 + 1) as i64 >= min_len)
            .collect();
        out.map(2);
        out.bulk(b"matches");
        out.array(runs.len());
        for m in runs {
            out.array(if with_len { 3 } else { 2 });
            out.array(2);
            out.int(m.0 as i64);
            out.int(m.1 as i64);
            out.array(2);
            out.int(m.2 as i64);
            out.int(m.3 as i64);
            if with_len {
                out.int((m.1 - m.0 + 1) as i64);
            }
        }
        out.bulk(b"len");
        out.int(r.len as i64);
    } else if get_len {
        out.int(r.len as i64);
    } else {
        out.bulk(&r.seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits_of(s: &str) -> Vec<u8> {
        // "1010 0000 1" style, spaces ignored, padded to whole bytes.
        let bits: Vec<u8> = s
            .bytes()
            .filter(|c| *c == b'0' || *c == b'1')
            .map(|c| c - b'0')
            .collect();
        let mut v = vec![0u8; bits.len().div_ceil(8)];
        for (i, b) in bits.iter().enumerate() {
            v[i / 8] |= b << (7 - i % 8);
        }
        v
    }

    #[test]
    fn bit_offsets() {
        let max = 512 * 1024 * 1024;
        assert_eq!(parse_bit_offset(b"0", 0, max), Some(0));
        assert_eq!(parse_bit_offset(b"4294967295", 0, max), Some(4294967295));
        assert_eq!(parse_bit_offset(b"4294967296", 0, max), None);
        assert_eq!(parse_bit_offset(b"-1", 0, max), None);
        assert_eq!(parse_bit_offset(b"#3", 0, max), None);
        assert_eq!(parse_bit_offset(b"#3", 8, max), Some(24));
        assert_eq!(parse_bit_offset(b"#-1", 8, max), None);
        assert_eq!(parse_bit_offset(b"x", 8, max), None);
    }

    #[test]
    fn field_types() {
        assert_eq!(parse_field_type(b"i8"), Some((true, 8)));
        assert_eq!(parse_field_type(b"u63"), Some((false, 63)));
        assert_eq!(parse_field_type(b"i64"), Some((true, 64)));
        assert_eq!(parse_field_type(b"u64"), None);
        assert_eq!(parse_field_type(b"i65"), None);
        assert_eq!(parse_field_type(b"i0"), None);
        assert_eq!(parse_field_type(b"I8"), None);
        assert_eq!(parse_field_type(b""), None);
        assert_eq!(parse_field_type(b"u"), None);
    }

    #[test]
    fn counting() {
        assert_eq!(popcount(b""), 0);
        assert_eq!(popcount(b"foobar"), 26);
        assert_eq!(popcount(&[0xff; 37]), 37 * 8);
        let p = b"foobar";
        let r = resolve_range(6, 1, 1, false);
        assert_eq!(count_in_range(p, r), 6);
        assert_eq!(count_in_range(p, resolve_range(6, -2, -1, false)), 7);
        assert_eq!(count_in_range(p, resolve_range(6, 5, 30, true)), 17);
        assert_eq!(count_in_range(p, resolve_range(6, 100, 200, false)), 0);
        assert_eq!(count_in_range(p, resolve_range(6, 0, -1, true)), 26);
        // Single byte, range inside it.
        assert_eq!(count_in_range(&[0xff], resolve_range(1, 2, 4, true)), 3);
        assert_eq!(count_in_range(b"", resolve_range(0, 0, -1, true)), 0);
    }

    #[test]
    fn first_bit_search() {
        assert_eq!(first_bit(b"", 1), -1);
        assert_eq!(first_bit(b"", 0), 0);
        assert_eq!(first_bit(&[0xff, 0xf0, 0], 0), 12);
        assert_eq!(first_bit(&[0, 0, 0x10], 1), 19);
        assert_eq!(first_bit(&[0xff; 20], 0), 160);
        assert_eq!(first_bit(&[0; 20], 1), -1);
        let mut v = vec![0u8; 40];
        v[33] = 1;
        assert_eq!(first_bit(&v, 1), 33 * 8 + 7);
    }

    #[test]
    fn bitpos_ranges() {
        let whole = |p: &[u8]| ByteRange {
            start: 0,
            end: p.len() as i64 - 1,
            first_mask: 0,
            last_mask: 0,
        };
        let p = [0xff, 0xf0, 0x00];
        assert_eq!(bitpos_in_range(&p, 0, whole(&p), false), 12);
        assert_eq!(
            bitpos_in_range(&p, 1, resolve_range(3, 2, -1, false), true),
            -1
        );
        let p = [0xff, 0xff, 0xff];
        assert_eq!(bitpos_in_range(&p, 0, whole(&p), false), 24);
        assert_eq!(
            bitpos_in_range(&p, 0, resolve_range(3, 0, -1, false), true),
            -1
        );
        // BIT ranges.
        let p = bits_of("00000001 00000000 10000000");
        assert_eq!(
            bitpos_in_range(&p, 1, resolve_range(3, 7, 15, true), true),
            7
        );
        assert_eq!(
            bitpos_in_range(&p, 1, resolve_range(3, 8, 15, true), true),
            -1
        );
        assert_eq!(
            bitpos_in_range(&p, 1, resolve_range(3, 8, 16, true), true),
            16
        );
        assert_eq!(
            bitpos_in_range(&p, 1, resolve_range(3, 9, 23, true), true),
            16
        );
        assert_eq!(
            bitpos_in_range(&p, 0, resolve_range(3, 7, 7, true), true),
            -1
        );
        assert_eq!(
            bitpos_in_range(&p, 0, resolve_range(3, 7, 8, true), true),
            8
        );
        let ones = [0xff, 0xff];
        assert_eq!(
            bitpos_in_range(&ones, 0, resolve_range(2, 3, 12, true), true),
            -1
        );
        assert_eq!(
            bitpos_in_range(&[0xfe, 0xff], 0, resolve_range(2, 3, 12, true), true),
            7
        );
    }

    #[test]
    fn bitops() {
        let srcs = vec![b"foobar".to_vec(), b"abcdef".to_vec()];
        assert_eq!(bitop_apply(BitOp::And, &srcs), b"`bc`ab".to_vec());
        assert_eq!(bitop_apply(BitOp::Or, &srcs), b"goofev".to_vec());
        assert_eq!(bitop_apply(BitOp::Xor, &srcs), vec![7, 13, 12, 6, 4, 20]);
        assert_eq!(
            bitop_apply(BitOp::Not, &[vec![0x55, 0xff]]),
            vec![0xaa, 0x00]
        );
        let srcs = vec![vec![0xff, 0xff], vec![0x0f], Vec::new()];
        assert_eq!(bitop_apply(BitOp::And, &srcs), vec![0, 0]);
        assert_eq!(bitop_apply(BitOp::Or, &srcs), vec![0xff, 0xff]);
        assert_eq!(bitop_apply(BitOp::Xor, &srcs), vec![0xf0, 0xff]);
        let srcs = vec![vec![0x0f], vec![0xff, 0xff]];
        assert_eq!(bitop_apply(BitOp::And, &srcs), vec![0x0f, 0]);
        assert!(bitop_apply(BitOp::Or, &[Vec::new(), Vec::new()]).is_empty());
    }

    #[test]
    fn field_read_write() {
        let mut p = vec![0u8; 2];
        write_field(&mut p, 7, 5, 23);
        assert_eq!(p, vec![0b0000_0001, 0b0111_0000]);
        assert_eq!(read_field(&p, 7, 5), 23);
        assert_eq!(read_field_signed(&p, 7, 5), -9);
        assert_eq!(read_field(&p, 100, 8), 0);
        let mut p = vec![0u8; 9];
        write_field(&mut p, 3, 64, u64::MAX - 1);
        assert_eq!(read_field(&p, 3, 64), u64::MAX - 1);
        assert_eq!(read_field_signed(&p, 3, 64), -2);
        assert_eq!(read_field(&p, 0, 3), 0);
        assert_eq!(read_field(&p, 67, 5), 0);
        let mut p = vec![0xffu8; 1];
        write_field(&mut p, 0, 8, 0);
        assert_eq!(p, vec![0]);
    }

    #[test]
    fn overflow_rules() {
        use Overflow::*;
        assert_eq!(unsigned_overflow(250, 10, 8, Wrap), Some(4));
        assert_eq!(unsigned_overflow(250, 10, 8, Sat), Some(255));
        assert_eq!(unsigned_overflow(250, 5, 8, Wrap), None);
        assert_eq!(unsigned_overflow(5, -10, 8, Wrap), Some(251));
        assert_eq!(unsigned_overflow(5, -10, 8, Sat), Some(0));
        assert_eq!(unsigned_overflow(300, 0, 8, Wrap), Some(44));
        assert_eq!(unsigned_overflow((-1i64) as u64, 0, 8, Sat), Some(255));
        assert!(unsigned_overflow(1, 1, 1, Fail).is_some());
        assert_eq!(unsigned_overflow(0, 1, 1, Fail), None);
        assert_eq!(signed_overflow(120, 10, 8, Wrap), Some(-126));
        assert_eq!(signed_overflow(120, 10, 8, Sat), Some(127));
        assert_eq!(signed_overflow(-120, -10, 8, Wrap), Some(126));
        assert_eq!(signed_overflow(-120, -10, 8, Sat), Some(-128));
        assert_eq!(signed_overflow(-120, -8, 8, Sat), None);
        assert_eq!(signed_overflow(200, 0, 8, Sat), Some(127));
        assert_eq!(signed_overflow(-200, 0, 8, Sat), Some(-128));
        assert_eq!(signed_overflow(i64::MAX, 1, 64, Wrap), Some(i64::MIN));
        assert_eq!(signed_overflow(i64::MAX, 1, 64, Sat), Some(i64::MAX));
        assert_eq!(signed_overflow(i64::MIN, -1, 64, Sat), Some(i64::MIN));
        assert_eq!(signed_overflow(i64::MIN, i64::MAX, 64, Sat), None);
        assert_eq!(signed_overflow(0, 1, 1, Sat), Some(0));
        assert_eq!(signed_overflow(-1, 0, 1, Sat), None);
    }

    #[test]
    fn field_ops() {
        use Overflow::*;
        let mut p = vec![0u8; 1];
        assert_eq!(
            field_write(&mut p, 0, 8, false, false, 255, Wrap),
            (Some(0), true)
        );
        assert_eq!(
            field_write(&mut p, 0, 8, false, true, 10, Wrap),
            (Some(9), true)
        );
        assert_eq!(
            field_write(&mut p, 0, 8, false, true, 300, Fail),
            (None, false)
        );
        assert_eq!(p, vec![9]);
        assert_eq!(
            field_write(&mut p, 0, 8, false, true, 300, Sat),
            (Some(255), true)
        );
        assert_eq!(
            field_write(&mut p, 0, 8, true, false, -100, Wrap),
            (Some(-1), true)
        );
        assert_eq!(
            field_write(&mut p, 0, 8, true, true, -100, Sat),
            (Some(-128), true)
        );
        assert_eq!(
            field_write(&mut p, 0, 8, true, false, -128, Wrap),
            (Some(-128), false)
        );
    }

    #[test]
    fn lcs_basics() {
        let r = lcs_compute(b"ohmytext", b"mynewtext", true, u64::MAX).unwrap();
        assert_eq!(r.seq, b"mytext");
        assert_eq!(r.len, 6);
        assert_eq!(r.ranges, vec![(4, 7, 5, 8), (2, 3, 0, 1)]);
        let r = lcs_compute(b"", b"abc", true, u64::MAX).unwrap();
        assert_eq!((r.len, r.seq.len(), r.ranges.len()), (0, 0, 0));
        let r = lcs_compute(b"abc", b"abc", false, u64::MAX).unwrap();
        assert_eq!((r.len, r.seq.len()), (3, 0));
        assert_eq!(
            lcs_compute(b"abc", b"abc", true, 15).unwrap_err(),
            LCS_OVER_LIMIT
        );
    }
}
