//! Zipmap: the small-hash encoding of Redis 2.x (HASH_ZIPMAP), still
//! loadable by Redis 7.0. Decoding only.
//!
//! Layout: a count byte (254 or more = "count them"), then per pair: field
//! length, field, value length, a "free" byte, value, `free` unused bytes;
//! then 0xFF. A length is one byte below 254, or 254 + u32 LE.

use super::BlobError;

const BIGLEN: u8 = 254;
const END: u8 = 255;

/// A decoded field/value pair borrowing from the zipmap.
pub type Pair<'a> = (&'a [u8], &'a [u8]);

/// Decodes a zipmap's pairs with Redis's deep validation: every length in
/// bounds, at least one pair, and the count byte right when it is small.
pub fn decode(zm: &[u8]) -> Result<Vec<Pair<'_>>, BlobError> {
    if zm.len() < 2 {
        return Err(BlobError::new(0, "zipmap shorter than its header"));
    }
    let end = zm.len() - 1;
    if zm[end] != END {
        return Err(BlobError::new(end, "zipmap without terminator"));
    }
    let mut p = 1;
    let mut out = Vec::new();
    // Reads a length at `p`, returning it and the position after it.
    let read_len = |p: usize| -> Result<(usize, usize), BlobError> {
        let b = zm[p];
        if b < BIGLEN {
            return Ok((usize::from(b), p + 1));
        }
        if p + 5 > end {
            return Err(BlobError::new(p, "zipmap length past its end"));
        }
        let v = u32::from_le_bytes([zm[p + 1], zm[p + 2], zm[p + 3], zm[p + 4]]);
        Ok((v as usize, p + 5))
    };
    let past_end = |at| BlobError::new(at, "zipmap entry past its end");
    while zm[p] != END {
        let at = p;
        let (flen, q) = read_len(p)?;
        let fend = q
            .checked_add(flen)
            .filter(|&n| n <= end)
            .ok_or(past_end(at))?;
        let field = &zm[q..fend];
        let (vlen, q) = read_len(fend)?;
        if q >= end {
            return Err(past_end(at));
        }
        let free = usize::from(zm[q]);
        let vstart = q + 1;
        let vend = vstart
            .checked_add(vlen)
            .filter(|&n| n <= end)
            .ok_or(past_end(at))?;
        let next = vend
            .checked_add(free)
            .filter(|&n| n <= end)
            .ok_or(past_end(at))?;
        out.push((field, &zm[vstart..vend]));
        p = next;
    }
    if out.is_empty() {
        return Err(BlobError::new(0, "empty zipmap"));
    }
    if zm[0] < BIGLEN && usize::from(zm[0]) != out.len() {
        return Err(BlobError::new(0, "zipmap count differs from its header"));
    }
    Ok(out)
}

/// Builds a zipmap as Redis 2.x did, for tests of the decoders.
#[cfg(test)]
pub(crate) fn encode(pairs: &[(&[u8], &[u8])], free: u8) -> Vec<u8> {
    fn len(out: &mut Vec<u8>, n: usize) {
        if n < usize::from(BIGLEN) {
            out.push(n as u8);
        } else {
            out.push(BIGLEN);
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
    }
    let mut out = vec![u8::try_from(pairs.len()).unwrap_or(BIGLEN).min(BIGLEN)];
    for (f, v) in pairs {
        len(&mut out, f.len());
        out.extend_from_slice(f);
        len(&mut out, v.len());
        out.push(free);
        out.extend_from_slice(v);
        out.extend(std::iter::repeat_n(0, usize::from(free)));
    }
    out.push(END);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_bytes() {
        // Redis 2.x zipmap {"foo" => "bar"} with no free space.
        let zm = [1, 3, b'f', b'o', b'o', 3, 0, b'b', b'a', b'r', 0xFF];
        assert_eq!(decode(&zm).unwrap(), vec![(&b"foo"[..], &b"bar"[..])]);
        assert_eq!(encode(&[(b"foo", b"bar")], 0), zm.to_vec());
    }

    #[test]
    fn round_trip_with_free_and_big_lengths() {
        let big = vec![b'v'; 300];
        let pairs: Vec<(&[u8], &[u8])> = vec![(b"a", b""), (b"long", &big), (b"", b"x")];
        assert_eq!(decode(&encode(&pairs, 3)).unwrap(), pairs);
    }

    #[test]
    fn errors() {
        assert!(decode(&[0]).is_err());
        assert!(decode(&[0, 0xFF]).is_err()); // empty
        assert!(decode(&[2, 1, b'a', 1, 0, b'b', 0xFF]).is_err()); // count
        assert!(decode(&[1, 9, b'a', 1, 0, b'b', 0xFF]).is_err()); // field past end
        assert!(decode(&[1, 1, b'a', 1, 9, b'b', 0xFF]).is_err()); // free past end
        assert!(decode(&[1, 1, b'a', 254, 1, 0, 0xFF]).is_err()); // big length past end
        assert!(decode(&[1, 1, b'a', 0xFF]).is_err());
        assert!(decode(&[1, 1, b'a', 1, 0, b'b', 0]).is_err()); // no terminator
    }
}
