//! HINCRBYFLOAT arithmetic as Redis does it: operands parsed like `strtold`
//! into an x87 80-bit `long double` (64-bit mantissa), added with
//! round-to-nearest-even, and printed like `printf("%.17Lf")` with trailing
//! zeros removed. Rust has no 80-bit float, so the format is emulated
//! exactly with a small big-integer type; results match Redis digit for
//! digit (e.g. 1000.1 prints as 1000.09999999999999998).

use std::cmp::Ordering;

/// Redis refuses float strings of this length or longer.
const MAX_CHARS: usize = 5 * 1024;
/// Largest/smallest binary exponent of a long double's leading bit.
const MAX_EXP2: i64 = 16383;
const MIN_EXP2: i64 = -16445;

/// Unsigned big integer, little-endian 32-bit limbs, no leading zero limbs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Big(Vec<u32>);

impl Big {
    fn from_u128(mut v: u128) -> Big {
        let mut limbs = Vec::new();
        while v != 0 {
            limbs.push(v as u32);
            v >>= 32;
        }
        Big(limbs)
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn bits(&self) -> u64 {
        match self.0.last() {
            None => 0,
            Some(top) => (self.0.len() as u64 - 1) * 32 + (32 - top.leading_zeros() as u64),
        }
    }

    fn bit(&self, i: u64) -> bool {
        let limb = (i / 32) as usize;
        limb < self.0.len() && self.0[limb] >> (i % 32) & 1 == 1
    }

    /// Whether any bit below position `i` is set.
    fn any_below(&self, i: u64) -> bool {
        let full = (i / 32) as usize;
        if self.0.iter().take(full).any(|&l| l != 0) {
            return true;
        }
        let rem = i % 32;
        rem != 0 && full < self.0.len() && self.0[full] & ((1u32 << rem) - 1) != 0
    }

    fn mul_add_small(&mut self, mul: u32, add: u32) {
        let mut carry = add as u64;
        for l in self.0.iter_mut() {
            let v = *l as u64 * mul as u64 + carry;
            *l = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
        self.trim();
    }

    fn pow10(n: u64) -> Big {
        let mut b = Big::from_u128(1);
        let mut left = n;
        while left > 0 {
            let step = left.min(9);
            b.mul_add_small(10u32.pow(step as u32), 0);
            left -= step;
        }
        b
    }

    fn shl(&self, n: u64) -> Big {
        if self.is_zero() {
            return self.clone();
        }
        let limbs = (n / 32) as usize;
        let bits = (n % 32) as u32;
        let mut out = vec![0u32; limbs];
        let mut carry = 0u32;
        for &l in &self.0 {
            if bits == 0 {
                out.push(l);
            } else {
                out.push(l << bits | carry);
                carry = l >> (32 - bits);
            }
        }
        if carry != 0 {
            out.push(carry);
        }
        Big(out)
    }

    fn shr(&self, n: u64) -> Big {
        let limbs = (n / 32) as usize;
        if limbs >= self.0.len() {
            return Big(Vec::new());
        }
        let bits = (n % 32) as u32;
        let src = &self.0[limbs..];
        let mut out = Vec::with_capacity(src.len());
        for i in 0..src.len() {
            let hi = if bits == 0 {
                0
            } else {
                src.get(i + 1).map_or(0, |h| h << (32 - bits))
            };
            out.push(src[i] >> bits | hi);
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    fn cmp(&self, other: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }

    fn add(&self, other: &Big) -> Big {
        let n = self.0.len().max(other.0.len());
        let mut out = Vec::with_capacity(n + 1);
        let mut carry = 0u64;
        for i in 0..n {
            let v =
                *self.0.get(i).unwrap_or(&0) as u64 + *other.0.get(i).unwrap_or(&0) as u64 + carry;
            out.push(v as u32);
            carry = v >> 32;
        }
        if carry != 0 {
            out.push(carry as u32);
        }
        Big(out)
    }

    /// self - other, requires self >= other.
    fn sub(&self, other: &Big) -> Big {
        let mut out = Vec::with_capacity(self.0.len());
        let mut borrow = 0i64;
        for i in 0..self.0.len() {
            let mut v = self.0[i] as i64 - *other.0.get(i).unwrap_or(&0) as i64 - borrow;
            borrow = 0;
            if v < 0 {
                v += 1 << 32;
                borrow = 1;
            }
            out.push(v as u32);
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    fn low_u128(&self) -> u128 {
        self.0
            .iter()
            .take(4)
            .enumerate()
            .fold(0u128, |acc, (i, &l)| acc | (l as u128) << (32 * i))
    }

    fn to_decimal(&self) -> String {
        if self.is_zero() {
            return "0".into();
        }
        let mut chunks = Vec::new();
        let mut cur = self.clone();
        while !cur.is_zero() {
            let mut rem = 0u64;
            for l in cur.0.iter_mut().rev() {
                let v = rem << 32 | *l as u64;
                *l = (v / 1_000_000_000) as u32;
                rem = v % 1_000_000_000;
            }
            cur.trim();
            chunks.push(rem as u32);
        }
        let mut s = chunks.pop().expect("nonzero").to_string();
        for c in chunks.iter().rev() {
            s.push_str(&format!("{c:09}"));
        }
        s
    }
}

/// A finite long double: (-1)^neg × mant × 2^exp, `mant` with its top bit
/// set (or 0 for zero).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LongDouble {
    neg: bool,
    mant: u64,
    exp: i64,
}

/// Round the positive ratio num/den to a 64-bit mantissa, half to even.
fn round_ratio(num: &Big, den: &Big) -> (u64, i64) {
    // Scale so that the quotient has 65 or 66 bits.
    let shift = 65 - (num.bits() as i64 - den.bits() as i64);
    let (n, d) = if shift >= 0 {
        (num.shl(shift as u64), den.clone())
    } else {
        (num.clone(), den.shl((-shift) as u64))
    };
    let mut q: u128 = 0;
    let mut r = n;
    for i in (0..=66u64).rev() {
        let part = d.shl(i);
        if r.cmp(&part) != Ordering::Less {
            r = r.sub(&part);
            q |= 1u128 << i;
        }
    }
    let extra = 128 - q.leading_zeros() as i64 - 64;
    let mut mant = (q >> extra) as u64;
    let half = q >> (extra - 1) & 1 == 1;
    let sticky = q & ((1u128 << (extra - 1)) - 1) != 0 || !r.is_zero();
    let mut exp = extra - shift;
    if half && (sticky || mant & 1 == 1) {
        mant = mant.wrapping_add(1);
        if mant == 0 {
            mant = 1 << 63;
            exp += 1;
        }
    }
    (mant, exp)
}

/// A long double from an exact value num × 2^exp2 / den (num ≠ 0), or None
/// when it overflows or underflows to zero.
fn from_exact(neg: bool, num: &Big, den: &Big, exp2: i64) -> Option<LongDouble> {
    let (mant, e) = round_ratio(num, den);
    let exp = e + exp2;
    let top = exp + 63;
    if !(MIN_EXP2..=MAX_EXP2).contains(&top) {
        return None;
    }
    Some(LongDouble { neg, mant, exp })
}

/// What a float argument parses to.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    Num(LongDouble),
    Inf,
    Invalid,
}

/// Parse as Redis's `string2ld`: the whole string must be a number as
/// `strtold` reads it (decimal or hex, optional exponent, "inf"/"infinity"),
/// no leading space, no NaN, no overflow or underflow to zero.
pub fn parse(s: &[u8]) -> Parsed {
    if s.is_empty()
        || s.len() >= MAX_CHARS
        || matches!(s[0], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
    {
        return Parsed::Invalid;
    }
    let (neg, body) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
        return Parsed::Inf;
    }
    let hex = body.len() > 2 && body[0] == b'0' && (body[1] | 0x20) == b'x';
    let (radix_digits, exp_char, body) = if hex {
        (16u32, b'p', &body[2..])
    } else {
        (10u32, b'e', body)
    };
    let mut mant = Big(Vec::new());
    let mut sig_digits = 0i64; // digits after leading zeros
    let mut frac_digits = 0i64;
    let mut any_digit = false;
    let mut seen_dot = false;
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        if c == b'.' && !seen_dot {
            seen_dot = true;
        } else if let Some(d) = (c as char).to_digit(radix_digits) {
            any_digit = true;
            if d != 0 || !mant.is_zero() {
                sig_digits += 1;
            }
            mant.mul_add_small(radix_digits, d);
            if seen_dot {
                frac_digits += 1;
            }
        } else {
            break;
        }
        i += 1;
    }
    if !any_digit {
        return Parsed::Invalid;
    }
    let mut exp = 0i64;
    if i < body.len() {
        if body[i] | 0x20 != exp_char {
            return Parsed::Invalid;
        }
        let mut rest = &body[i + 1..];
        let eneg = match rest.first() {
            Some(b'-') => {
                rest = &rest[1..];
                true
            }
            Some(b'+') => {
                rest = &rest[1..];
                false
            }
            _ => false,
        };
        if rest.is_empty() || !rest.iter().all(u8::is_ascii_digit) {
            return Parsed::Invalid;
        }
        for &c in rest {
            exp = (exp * 10 + (c - b'0') as i64).min(1_000_000);
        }
        if eneg {
            exp = -exp;
        }
    }
    if mant.is_zero() {
        return Parsed::Num(LongDouble {
            neg,
            mant: 0,
            exp: 0,
        });
    }
    let one = Big::from_u128(1);
    if hex {
        let exp2 = exp - 4 * frac_digits;
        return from_exact(neg, &mant, &one, exp2).map_or(Parsed::Invalid, Parsed::Num);
    }
    let exp10 = exp - frac_digits;
    // Quick range check before building huge powers of ten.
    let magnitude = sig_digits + exp10;
    if magnitude > 4934 {
        return Parsed::Invalid;
    }
    if magnitude < -4952 {
        return Parsed::Invalid;
    }
    let r = if exp10 >= 0 {
        from_exact(neg, &mul(&mant, &Big::pow10(exp10 as u64)), &one, 0)
    } else {
        from_exact(neg, &mant, &Big::pow10((-exp10) as u64), 0)
    };
    r.map_or(Parsed::Invalid, Parsed::Num)
}

fn mul(a: &Big, b: &Big) -> Big {
    let mut out = vec![0u32; a.0.len() + b.0.len()];
    for (i, &x) in a.0.iter().enumerate() {
        let mut carry = 0u64;
        for (j, &y) in b.0.iter().enumerate() {
            let v = out[i + j] as u64 + x as u64 * y as u64 + carry;
            out[i + j] = v as u32;
            carry = v >> 32;
        }
        let mut k = i + b.0.len();
        while carry != 0 {
            let v = out[k] as u64 + carry;
            out[k] = v as u32;
            carry = v >> 32;
            k += 1;
        }
    }
    let mut r = Big(out);
    r.trim();
    r
}

impl LongDouble {
    /// A double, exactly (every double is a long double).
    pub fn from_f64(v: f64) -> LongDouble {
        let bits = v.to_bits();
        let neg = bits >> 63 == 1;
        let e = ((bits >> 52) & 0x7ff) as i64;
        let frac = bits & ((1 << 52) - 1);
        let (mant, exp) = if e == 0 {
            (frac, -1074)
        } else {
            (frac | (1 << 52), e - 1075)
        };
        if mant == 0 {
            return LongDouble {
                neg,
                mant: 0,
                exp: 0,
            };
        }
        let shift = mant.leading_zeros() as i64;
        LongDouble {
            neg,
            mant: mant << shift,
            exp: exp - shift,
        }
    }

    /// a + b rounded to long double; None when the result overflows.
    pub fn add(self, other: LongDouble) -> Option<LongDouble> {
        if other.mant == 0 {
            return Some(if self.mant == 0 {
                LongDouble {
                    neg: self.neg && other.neg,
                    ..self
                }
            } else {
                self
            });
        }
        if self.mant == 0 {
            return Some(other);
        }
        let (big, mut small) = if self.exp >= other.exp {
            (self, other)
        } else {
            (other, self)
        };
        // An operand far below the other's last bit only acts as a sticky bit.
        if big.exp - small.exp > 130 {
            small = LongDouble {
                neg: small.neg,
                mant: 1,
                exp: big.exp - 130,
            };
        }
        let base = small.exp;
        let a = Big::from_u128(big.mant as u128).shl((big.exp - base) as u64);
        let b = Big::from_u128(small.mant as u128);
        let (neg, sum) = if big.neg == small.neg {
            (big.neg, a.add(&b))
        } else {
            match a.cmp(&b) {
                Ordering::Equal => {
                    return Some(LongDouble {
                        neg: false,
                        mant: 0,
                        exp: 0,
                    })
                }
                Ordering::Greater => (big.neg, a.sub(&b)),
                Ordering::Less => (small.neg, b.sub(&a)),
            }
        };
        from_exact(neg, &sum, &Big::from_u128(1), base)
    }

    /// `printf("%.17Lf")` with trailing zeros (and a bare '.') removed and
    /// "-0" written as "0", as Redis's ld2string LD_STR_HUMAN.
    pub fn to_human(self) -> String {
        let scaled = mul(&Big::from_u128(self.mant as u128), &Big::pow10(17));
        let n = if self.exp >= 0 {
            scaled.shl(self.exp as u64)
        } else {
            let sh = (-self.exp) as u64;
            let q = scaled.shr(sh);
            let half = scaled.bit(sh - 1);
            let sticky = scaled.any_below(sh - 1);
            if half && (sticky || q.low_u128() & 1 == 1) {
                q.add(&Big::from_u128(1))
            } else {
                q
            }
        };
        let digits = n.to_decimal();
        let digits = format!("{digits:0>18}");
        let (int, frac) = digits.split_at(digits.len() - 17);
        let frac = frac.trim_end_matches('0');
        let mut s = String::with_capacity(digits.len() + 2);
        if self.neg {
            s.push('-');
        }
        s.push_str(int);
        if !frac.is_empty() {
            s.push('.');
            s.push_str(frac);
        }
        if s == "-0" {
            s = "0".into();
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(s: &str) -> LongDouble {
        match parse(s.as_bytes()) {
            Parsed::Num(v) => v,
            other => panic!("{s}: {other:?}"),
        }
    }

    fn add(a: &str, b: &str) -> String {
        num(a).add(num(b)).unwrap().to_human()
    }

    #[test]
    fn matches_redis_7_0_on_x86() {
        // Values observed from redis-server 7.0.15 (x86-64).
        assert_eq!(add("0", "1000.1"), "1000.09999999999999998");
        assert_eq!(
            add("1000.09999999999999998", "0.3"),
            "1000.39999999999999997"
        );
        assert_eq!(add("0", "0.1"), "0.1");
        assert_eq!(add("0.1", "0.3"), "0.4");
        assert_eq!(add("0", "123456789.123"), "123456789.12299999999959255");
        assert_eq!(
            add("123456789.12299999999959255", "0.3"),
            "123456789.42300000000250293"
        );
        assert_eq!(add("0", "1e10"), "10000000000");
        assert_eq!(add("10000000000", "0.3"), "10000000000.29999999981373549");
        assert_eq!(add("0", "3.0e-5"), "0.00003");
        assert_eq!(add("0", "1.23456789012345678"), "1.23456789012345678");
        assert_eq!(add("1.23456789012345678", "0.3"), "1.53456789012345678");
        assert_eq!(add("0", "100000.3"), "100000.29999999999999716");
        assert_eq!(add("10.5", "0.1"), "10.6");
        assert_eq!(add("5", "-5"), "0");
        assert_eq!(add("1", "-1.1"), "-0.1");
        assert_eq!(add("0", "0x10"), "16");
    }

    #[test]
    fn parse_rules() {
        assert_eq!(parse(b"inf"), Parsed::Inf);
        assert_eq!(parse(b"-Infinity"), Parsed::Inf);
        assert_eq!(parse(b"nan"), Parsed::Invalid);
        assert_eq!(parse(b" 1"), Parsed::Invalid);
        assert_eq!(parse(b"1 "), Parsed::Invalid);
        assert_eq!(parse(b""), Parsed::Invalid);
        assert_eq!(parse(b"1e"), Parsed::Invalid);
        assert_eq!(parse(b"."), Parsed::Invalid);
        assert_eq!(parse(b"1e5000"), Parsed::Invalid);
        assert_eq!(parse(b"1e-5000"), Parsed::Invalid);
        assert!(matches!(parse(b"1e400"), Parsed::Num(_)));
        assert!(matches!(parse(b".5"), Parsed::Num(_)));
        assert!(matches!(parse(b"5."), Parsed::Num(_)));
        assert!(matches!(parse(b"-0"), Parsed::Num(_)));
        assert_eq!(num("-0").to_human(), "0");
        assert_eq!(num("1e20").to_human(), "100000000000000000000");
    }
}
