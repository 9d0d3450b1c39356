//! Small shared helpers: glob matching (Redis's `stringmatchlen`), clocks,
//! atomic file replacement, number parsing as Redis accepts numbers.

use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in milliseconds.
#[inline]
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Unix time in microseconds.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

enum Token {
    Star,
    Any,
    Literal(u8),
    Class { negate: bool, items: Vec<(u8, u8)> },
}

fn tokenize(pattern: &[u8]) -> Vec<Token> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'*' => {
                // Consecutive stars are one star.
                if !matches!(out.last(), Some(Token::Star)) {
                    out.push(Token::Star);
                }
            }
            b'?' => out.push(Token::Any),
            b'\\' if i + 1 < pattern.len() => {
                i += 1;
                out.push(Token::Literal(pattern[i]));
            }
            b'[' => {
                i += 1;
                let negate = i < pattern.len() && pattern[i] == b'^';
                if negate {
                    i += 1;
                }
                let mut items = Vec::new();
                while i < pattern.len() && pattern[i] != b']' {
                    if pattern[i] == b'\\' && i + 1 < pattern.len() {
                        i += 1;
                        items.push((pattern[i], pattern[i]));
                    } else if i + 2 < pattern.len()
                        && pattern[i + 1] == b'-'
                        && pattern[i + 2] != b']'
                    {
                        let (a, b) = (pattern[i], pattern[i + 2]);
                        items.push((a.min(b), a.max(b)));
                        i += 2;
                    } else {
                        items.push((pattern[i], pattern[i]));
                    }
                    i += 1;
                }
                // An unterminated class ends at the end of the pattern, as in Redis.
                out.push(Token::Class { negate, items });
            }
            c => out.push(Token::Literal(c)),
        }
        i += 1;
    }
    out
}

fn fold(c: u8, nocase: bool) -> u8 {
    if nocase {
        c.to_ascii_lowercase()
    } else {
        c
    }
}

fn token_matches(t: &Token, c: u8, nocase: bool) -> bool {
    match t {
        Token::Any => true,
        Token::Literal(l) => fold(*l, nocase) == fold(c, nocase),
        Token::Class { negate, items } => {
            let c = fold(c, nocase);
            let hit = items.iter().any(|&(a, b)| {
                let (a, b) = (fold(a, nocase), fold(b, nocase));
                a <= c && c <= b
            });
            hit != *negate
        }
        Token::Star => true,
    }
}

/// Glob-style match as Redis's KEYS/SCAN MATCH/CONFIG GET: `*`, `?`,
/// `[abc]`, `[^a-z]`, `\x`. Linear backtracking on the last star, so hostile
/// patterns cannot blow up.
pub fn glob_match(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    let tokens = tokenize(pattern);
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < tokens.len() {
            if let Token::Star = tokens[p] {
                star = Some((p, t));
                p += 1;
                continue;
            }
            if token_matches(&tokens[p], text[t], nocase) {
                p += 1;
                t += 1;
                continue;
            }
        }
        match star {
            Some((sp, st)) => {
                p = sp + 1;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    while p < tokens.len() && matches!(tokens[p], Token::Star) {
        p += 1;
    }
    p == tokens.len()
}

/// Replace `path` with `data`: write a temp file beside it, fsync, rename,
/// fsync the directory.
pub fn write_file_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Parse an integer argument as Redis's `string2ll` (strict).
#[inline]
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    crate::keyspace::value::parse_canonical_i64(s)
}

/// Parse a float argument as Redis's `string2ld`/`strtod`: no spaces, no
/// trailing garbage, "inf"/"-inf" allowed, NaN refused.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    // The common case, a plain decimal integer of up to 15 digits (an
    // optional sign, leading zeros allowed as strtod allows them), is
    // exact in an f64: convert it without the general parser and its
    // lowercased copy. "-0" stays -0.0 as strtod makes it.
    if let Some(v) = parse_small_decimal(s) {
        return Some(v);
    }
    let text = std::str::from_utf8(s).ok()?;
    if text.is_empty()
        || text.starts_with(char::is_whitespace)
        || text.ends_with(char::is_whitespace)
    {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => {
            if lower.contains("inf") || lower.contains("nan") || lower.starts_with("0x") {
                return None;
            }
            text.parse::<f64>().ok()?
        }
    };
    (!v.is_nan()).then_some(v)
}

/// `[+-]?[0-9]{1,15}` as an f64 (exact: below 2^53), else `None`.
#[inline]
fn parse_small_decimal(s: &[u8]) -> Option<f64> {
    let (neg, digits) = match s.first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 15 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + d as u64;
    }
    let f = v as f64;
    Some(if neg { -f } else { f })
}

/// A SCAN-family cursor, parsed as Redis does with `strtoul`.
pub fn parse_scan_cursor(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match(b"*", b"anything", false));
        assert!(glob_match(b"h?llo", b"hello", false));
        assert!(glob_match(b"h[ae]llo", b"hallo", false));
        assert!(!glob_match(b"h[^e]llo", b"hello", false));
        assert!(glob_match(b"h[a-b]llo", b"hbllo", false));
        assert!(glob_match(b"foo*bar", b"foo-x-bar", false));
        assert!(!glob_match(b"foo*bar", b"foo-x-baz", false));
        assert!(glob_match(b"MAX*", b"maxmemory", true));
        assert!(glob_match(b"a\\*b", b"a*b", false));
        assert!(!glob_match(b"a\\*b", b"axb", false));
        let hostile = b"a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
        assert!(!glob_match(hostile, &[b'a'; 5000], false));
    }

    #[test]
    fn scan_cursors_parse_like_strtoul() {
        assert_eq!(parse_scan_cursor(b"0"), Some(0));
        assert_eq!(parse_scan_cursor(b""), Some(0));
        assert_eq!(parse_scan_cursor(b"+5"), Some(5));
        assert_eq!(parse_scan_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_scan_cursor(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_scan_cursor(b"18446744073709551616"), None);
        assert_eq!(parse_scan_cursor(b" 1"), None);
        assert_eq!(parse_scan_cursor(b"1x"), None);
        assert_eq!(parse_scan_cursor(b"-"), None);
    }

    #[test]
    fn floats() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b"1e5"), Some(1e5));
        assert_eq!(parse_f64(b"abc"), None);
        // The integer fast path agrees with the general parser.
        for t in [
            "0",
            "-0",
            "+0",
            "7",
            "-7",
            "+7",
            "007",
            "-007",
            "123456789012345",
            "-999999999999999",
            "1234567890123456",
            "99999999999999999999",
        ] {
            let general: f64 = t.parse().unwrap();
            let got = parse_f64(t.as_bytes()).unwrap();
            assert_eq!(got.to_bits(), general.to_bits(), "{t}");
        }
        assert_eq!(parse_f64(b"-"), None);
        assert_eq!(parse_f64(b"+"), None);
        assert_eq!(parse_f64(b""), None);
        assert_eq!(parse_f64(b"1 "), None);
        assert_eq!(parse_f64(b"--1"), None);
    }
}

/// Ask the CPU to start loading `*p`'s cache line (a hint: no effect on
/// what the program computes, and never a fault).
#[inline(always)]
pub fn prefetch<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch only hints the cache; it reads nothing the program
    // sees and cannot fault, and `p` is a valid reference anyway.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            p as *const T as *const i8,
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
