//! LZF, the compression Redis uses for long strings in RDB files and for
//! compressed quicklist nodes.
//!
//! The format (as liblzf, which Redis vendors): a stream of items, each
//! starting with a control byte `c`.
//! - `c < 32`: a literal run of `c + 1` bytes follows.
//! - otherwise a back reference: length `c >> 5` (7 means "add the next
//!   byte"), offset high bits `c & 0x1f`, then one byte of offset low bits;
//!   it copies `length + 2` bytes starting `offset + 1` bytes back in the
//!   output (the areas may overlap).
//!
//! The compressor is our own greedy hash-of-three-bytes matcher; its ratio
//! differs from liblzf's but its output decodes with liblzf and vice versa.

use std::fmt;

/// Longest literal run one control byte can announce.
const MAX_LITERAL: usize = 1 << 5;
/// Farthest back a reference can reach (13 offset bits).
const MAX_OFFSET: usize = 1 << 13;
/// Longest match one reference can copy: (7 + 255) + 2.
const MAX_MATCH: usize = (1 << 8) + (1 << 3);
/// Shortest match worth a reference (a reference costs 2 or 3 bytes).
const MIN_MATCH: usize = 3;
/// Largest hash table (2^14 slots), as liblzf's default HLOG.
const MAX_HASH_LOG: u32 = 14;
/// Smallest hash table, so short inputs do not pay for a large one.
const MIN_HASH_LOG: u32 = 8;
/// A decompressed length can be at most this many times the compressed
/// length: a 3-byte reference yields at most 264 bytes.
pub const MAX_EXPANSION: usize = 88;

/// Why LZF data could not be decompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LzfError {
    /// The data decodes to more bytes than the expected length.
    OutputOverflow,
    /// The data decodes to fewer bytes than the expected length.
    LengthMismatch { expected: usize, actual: usize },
    /// A back reference points before the start of the output.
    BadBackReference { at: usize },
    /// The data ends inside a literal run or a back reference.
    Truncated { at: usize },
}

impl fmt::Display for LzfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LzfError::OutputOverflow => write!(f, "LZF data decodes past the expected length"),
            LzfError::LengthMismatch { expected, actual } => {
                write!(f, "LZF data decodes to {actual} bytes, expected {expected}")
            }
            LzfError::BadBackReference { at } => {
                write!(f, "LZF back reference before the output start at byte {at}")
            }
            LzfError::Truncated { at } => write!(f, "LZF data truncated at byte {at}"),
        }
    }
}

impl std::error::Error for LzfError {}

fn hash3(a: u8, b: u8, c: u8, hash_log: u32) -> usize {
    let v = (u32::from(a) << 16) | (u32::from(b) << 8) | u32::from(c);
    (v.wrapping_mul(2_654_435_761) >> (32 - hash_log)) as usize
}

/// Appends literal runs for `lit` to `out`, keeping `out` within `limit`.
fn push_literals(out: &mut Vec<u8>, lit: &[u8], limit: usize) -> bool {
    for chunk in lit.chunks(MAX_LITERAL) {
        if out.len() + 1 + chunk.len() > limit {
            return false;
        }
        out.push((chunk.len() - 1) as u8);
        out.extend_from_slice(chunk);
    }
    true
}

/// Appends a back reference copying `len` bytes from `offset + 1` back.
fn push_reference(out: &mut Vec<u8>, offset: usize, len: usize, limit: usize) -> bool {
    let code = len - 2;
    let high = (offset >> 8) as u8;
    let low = (offset & 0xff) as u8;
    if code < 7 {
        if out.len() + 2 > limit {
            return false;
        }
        out.push(((code as u8) << 5) | high);
        out.push(low);
    } else {
        if out.len() + 3 > limit {
            return false;
        }
        out.push((7 << 5) | high);
        out.push((code - 7) as u8);
        out.push(low);
    }
    true
}

/// Compresses `input`, appending to `out`, unless the compressed form would
/// take more than `max_len` bytes: then `out` is left as it was and `None`
/// is returned (Redis's `lzf_compress` returning 0). Otherwise returns the
/// compressed length.
pub fn compress_into(input: &[u8], out: &mut Vec<u8>, max_len: usize) -> Option<usize> {
    let start = out.len();
    let limit = start.saturating_add(max_len);
    if input.is_empty() {
        return Some(0);
    }
    let size_log = usize::BITS - input.len().leading_zeros();
    let hash_log = size_log.clamp(MIN_HASH_LOG, MAX_HASH_LOG);
    // Slot value is position + 1; 0 means empty.
    let mut table = vec![0usize; 1 << hash_log];
    let n = input.len();
    let mut pos = 0;
    let mut literal_start = 0;
    while pos + MIN_MATCH <= n {
        let h = hash3(input[pos], input[pos + 1], input[pos + 2], hash_log);
        let candidate = table[h];
        table[h] = pos + 1;
        if candidate != 0 {
            let cand = candidate - 1;
            let offset = pos - cand - 1;
            if offset < MAX_OFFSET && input[cand..cand + MIN_MATCH] == input[pos..pos + MIN_MATCH] {
                let max_len_here = MAX_MATCH.min(n - pos);
                let mut len = MIN_MATCH;
                while len < max_len_here && input[cand + len] == input[pos + len] {
                    len += 1;
                }
                if !push_literals(out, &input[literal_start..pos], limit)
                    || !push_reference(out, offset, len, limit)
                {
                    out.truncate(start);
                    return None;
                }
                // Index the positions inside the match so later data can
                // refer to them.
                let end = pos + len;
                let mut p = pos + 1;
                while p < end && p + MIN_MATCH <= n {
                    table[hash3(input[p], input[p + 1], input[p + 2], hash_log)] = p + 1;
                    p += 1;
                }
                pos = end;
                literal_start = pos;
                continue;
            }
        }
        pos += 1;
    }
    if !push_literals(out, &input[literal_start..], limit) {
        out.truncate(start);
        return None;
    }
    Some(out.len() - start)
}

/// Compresses `input` with no size bound (the result may be larger than
/// the input for incompressible data).
pub fn compress(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() + input.len() / MAX_LITERAL + 1);
    // Unbounded: every byte fits, so this cannot fail.
    let _ = compress_into(input, &mut out, usize::MAX);
    out
}

/// Decompresses `input`, which must decode to exactly `expected_len` bytes,
/// appending them to `out`. On error `out` is left as it was.
pub fn decompress_into(
    input: &[u8],
    expected_len: usize,
    out: &mut Vec<u8>,
) -> Result<(), LzfError> {
    let base = out.len();
    let result = decompress_inner(input, expected_len, out, base);
    if result.is_err() {
        out.truncate(base);
    }
    result
}

fn decompress_inner(
    input: &[u8],
    expected_len: usize,
    out: &mut Vec<u8>,
    base: usize,
) -> Result<(), LzfError> {
    // The input bounds how much can come out; never trust expected_len alone.
    let bound = expected_len.min(input.len().saturating_mul(MAX_EXPANSION));
    out.reserve(bound);
    let mut ip = 0;
    while ip < input.len() {
        let ctrl = usize::from(input[ip]);
        ip += 1;
        let produced = out.len() - base;
        if ctrl < MAX_LITERAL {
            let run = ctrl + 1;
            if produced + run > expected_len {
                return Err(LzfError::OutputOverflow);
            }
            let Some(lit) = input.get(ip..ip + run) else {
                return Err(LzfError::Truncated { at: input.len() });
            };
            out.extend_from_slice(lit);
            ip += run;
        } else {
            let mut len = ctrl >> 5;
            let Some(&next) = input.get(ip) else {
                return Err(LzfError::Truncated { at: ip });
            };
            if len == 7 {
                len += usize::from(next);
                ip += 1;
            }
            let Some(&low) = input.get(ip) else {
                return Err(LzfError::Truncated { at: ip });
            };
            ip += 1;
            let back = ((ctrl & 0x1f) << 8) + usize::from(low) + 1;
            let len = len + 2;
            if produced + len > expected_len {
                return Err(LzfError::OutputOverflow);
            }
            if back > produced {
                return Err(LzfError::BadBackReference { at: ip });
            }
            let from = out.len() - back;
            if back >= len {
                out.extend_from_within(from..from + len);
            } else {
                // Overlapping copy: each byte may be one just written.
                for i in 0..len {
                    let b = out[from + i];
                    out.push(b);
                }
            }
        }
    }
    let actual = out.len() - base;
    if actual != expected_len {
        return Err(LzfError::LengthMismatch {
            expected: expected_len,
            actual,
        });
    }
    Ok(())
}

/// Decompresses `input` into a new buffer of exactly `expected_len` bytes.
pub fn decompress(input: &[u8], expected_len: usize) -> Result<Vec<u8>, LzfError> {
    let mut out = Vec::new();
    decompress_into(input, expected_len, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(data: &[u8]) {
        let c = compress(data);
        assert_eq!(decompress(&c, data.len()).unwrap(), data);
    }

    fn pseudo_random(seed: u64, n: usize) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn round_trips() {
        round_trip(b"");
        round_trip(b"a");
        round_trip(b"abc");
        round_trip(&[b'a'; 1000]);
        round_trip(b"abcabcabcabcabcabcabcabcabcabc hello hello hello world");
        round_trip(&pseudo_random(7, 5000));
        let mut mixed = Vec::new();
        for i in 0..2000u32 {
            mixed.extend_from_slice(format!("key:{}:{}", i % 37, i % 11).as_bytes());
        }
        round_trip(&mixed);
        // Long runs cross MAX_MATCH and MAX_OFFSET boundaries.
        let mut long = pseudo_random(3, 9000);
        long.extend_from_slice(&pseudo_random(3, 9000));
        long.extend(std::iter::repeat_n(b'z', 10_000));
        round_trip(&long);
    }

    #[test]
    fn compresses_repetitive_data() {
        let data = vec![b'x'; 10_000];
        let c = compress(&data);
        assert!(c.len() < 200, "{}", c.len());
    }

    #[test]
    fn bounded_compression_refuses_when_too_big() {
        let data = pseudo_random(11, 100);
        let mut out = vec![1, 2, 3];
        assert_eq!(compress_into(&data, &mut out, 96), None);
        assert_eq!(out, vec![1, 2, 3]);
        let data = vec![b'q'; 100];
        let n = compress_into(&data, &mut out, 96).unwrap();
        assert_eq!(out.len(), 3 + n);
        assert_eq!(decompress(&out[3..], 100).unwrap(), data);
    }

    #[test]
    fn known_liblzf_stream_decodes() {
        // "aaaaaaaaaa": literal 'a', then a reference of 9 bytes 1 back.
        let stream = [0x00, b'a', (7 << 5), 0x00, 0x00];
        assert_eq!(decompress(&stream, 10).unwrap(), b"aaaaaaaaaa");
    }

    #[test]
    fn decode_errors() {
        assert_eq!(
            decompress(&[0x05, b'a'], 6),
            Err(LzfError::Truncated { at: 2 })
        );
        assert_eq!(
            decompress(&[0x01, b'a', b'b'], 1),
            Err(LzfError::OutputOverflow)
        );
        assert_eq!(
            decompress(&[0x00, b'a'], 5),
            Err(LzfError::LengthMismatch {
                expected: 5,
                actual: 1
            })
        );
        // Reference two bytes back with only one byte of output.
        assert!(matches!(
            decompress(&[0x00, b'a', 0x20, 0x01], 4),
            Err(LzfError::BadBackReference { .. })
        ));
        assert!(matches!(
            decompress(&[0x00, b'a', 0xe0], 20),
            Err(LzfError::Truncated { .. })
        ));
        assert!(matches!(
            decompress(&[0x00, b'a', 0xe0, 0x01], 20),
            Err(LzfError::Truncated { .. })
        ));
    }

    #[test]
    fn random_garbage_never_panics() {
        for seed in 1..300u64 {
            let data = pseudo_random(seed, (seed as usize * 7) % 200);
            let _ = decompress(&data, (seed as usize * 13) % 500);
        }
    }
}
