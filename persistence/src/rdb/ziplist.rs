//! Ziplist: the compact sequence of Redis before 7.0, still found in older
//! RDB files (LIST_ZIPLIST, quicklist nodes of LIST_QUICKLIST, ZSET_ZIPLIST,
//! HASH_ZIPLIST). Decoding only: Shoal writes listpacks.
//!
//! Layout: total bytes (u32 LE), offset of the last entry (u32 LE), entry
//! count (u16 LE, 65535 = "count them"), entries, 0xFF. An entry is the
//! previous entry's size (1 byte, or 0xFE + u32 LE), an encoding (string
//! length in 1, 2 or 5 bytes — big endian — or an integer type), and data.

use super::{BlobError, Element};

const HEADER: usize = 10;
const END: u8 = 0xFF;
const BIG_PREVLEN: u8 = 0xFE;
const COUNT_UNKNOWN: u16 = u16::MAX;

const STR_MASK: u8 = 0xC0;
const STR_06B: u8 = 0x00;
const STR_14B: u8 = 0x40;
const STR_32B: u8 = 0x80;
const INT_16B: u8 = 0xC0;
const INT_32B: u8 = 0xD0;
const INT_64B: u8 = 0xE0;
const INT_24B: u8 = 0xF0;
const INT_8B: u8 = 0xFE;
const INT_IMM_MIN: u8 = 0xF1;
const INT_IMM_MAX: u8 = 0xFD;

/// Decodes every entry of the ziplist `zl`, validating its structure as
/// Redis's `ziplistValidateIntegrity` does in deep mode.
pub fn decode(zl: &[u8]) -> Result<Vec<Element<'_>>, BlobError> {
    if zl.len() < HEADER + 1 {
        return Err(BlobError::new(0, "ziplist shorter than its header"));
    }
    let total = u32::from_le_bytes([zl[0], zl[1], zl[2], zl[3]]) as usize;
    if total != zl.len() {
        return Err(BlobError::new(
            0,
            "ziplist total bytes differ from its size",
        ));
    }
    let end = zl.len() - 1;
    if zl[end] != END {
        return Err(BlobError::new(end, "ziplist without terminator"));
    }
    let tail = u32::from_le_bytes([zl[4], zl[5], zl[6], zl[7]]) as usize;
    if tail > end {
        return Err(BlobError::new(4, "ziplist tail offset past its end"));
    }
    let header_count = u16::from_le_bytes([zl[8], zl[9]]);
    // Each entry takes at least two bytes: cap the preallocation by that.
    let mut out = Vec::with_capacity(usize::from(header_count).min((end - HEADER) / 2));
    let mut p = HEADER;
    let mut prev_size = 0usize;
    let mut last = None;
    while zl[p] != END {
        let at = |msg| BlobError::new(p, msg);
        let byte = |i: usize| {
            zl.get(p + i)
                .copied()
                .filter(|_| p + i < end)
                .ok_or_else(|| at("ziplist entry past its end"))
        };
        let (prevlen_size, prevlen) = if zl[p] < BIG_PREVLEN {
            (1, usize::from(zl[p]))
        } else {
            let v = u32::from_le_bytes([byte(1)?, byte(2)?, byte(3)?, byte(4)?]);
            (5, v as usize)
        };
        if prevlen != prev_size {
            return Err(at("ziplist previous entry length mismatch"));
        }
        let q = prevlen_size;
        let mut enc = byte(q)?;
        if enc < STR_MASK {
            enc &= STR_MASK;
        }
        let (len_size, data_len) = match enc {
            STR_06B => (1, usize::from(byte(q)? & 0x3f)),
            STR_14B => (
                2,
                (usize::from(byte(q)? & 0x3f) << 8) | usize::from(byte(q + 1)?),
            ),
            STR_32B => {
                let v =
                    u32::from_be_bytes([byte(q + 1)?, byte(q + 2)?, byte(q + 3)?, byte(q + 4)?]);
                (5, v as usize)
            }
            INT_8B => (1, 1),
            INT_16B => (1, 2),
            INT_24B => (1, 3),
            INT_32B => (1, 4),
            INT_64B => (1, 8),
            INT_IMM_MIN..=INT_IMM_MAX => (1, 0),
            _ => return Err(at("bad ziplist entry encoding")),
        };
        let data_start = p + q + len_size;
        let next = data_start
            .checked_add(data_len)
            .filter(|&n| n <= end)
            .ok_or_else(|| at("ziplist entry past its end"))?;
        let data = &zl[data_start..next];
        let element = if enc < STR_MASK {
            Element::Bytes(data)
        } else if (INT_IMM_MIN..=INT_IMM_MAX).contains(&enc) {
            Element::Int(i64::from(enc & 0x0f) - 1)
        } else {
            let mut le = [0u8; 8];
            le[..data.len()].copy_from_slice(data);
            let shift = 64 - 8 * data.len() as u32;
            Element::Int(((u64::from_le_bytes(le) << shift) as i64) >> shift)
        };
        out.push(element);
        prev_size = next - p;
        last = Some(p);
        p = next;
    }
    if p != end {
        return Err(BlobError::new(p, "ziplist terminator before its end"));
    }
    if let Some(last) = last {
        if last != tail {
            return Err(BlobError::new(
                4,
                "ziplist tail offset is not the last entry",
            ));
        }
    }
    if header_count != COUNT_UNKNOWN && usize::from(header_count) != out.len() {
        return Err(BlobError::new(
            8,
            "ziplist entry count differs from its header",
        ));
    }
    Ok(out)
}

/// Builds a ziplist the way Redis 6 did, for tests of the decoders.
#[cfg(test)]
pub(crate) fn encode(items: &[Element<'_>]) -> Vec<u8> {
    use super::parse_canonical_i64;
    let mut zl = vec![0u8; HEADER];
    let mut prev = 0usize;
    let mut tail = HEADER;
    for &e in items {
        let start = zl.len();
        tail = start;
        if prev < usize::from(BIG_PREVLEN) {
            zl.push(prev as u8);
        } else {
            zl.push(BIG_PREVLEN);
            zl.extend_from_slice(&(prev as u32).to_le_bytes());
        }
        let int = match e {
            Element::Int(v) => Some(v),
            Element::Bytes(b) => parse_canonical_i64(b),
        };
        match (int, e) {
            (Some(v), _) => {
                if (0..=12).contains(&v) {
                    zl.push(INT_IMM_MIN + v as u8);
                } else if let Ok(v) = i8::try_from(v) {
                    zl.push(INT_8B);
                    zl.push(v as u8);
                } else if let Ok(v) = i16::try_from(v) {
                    zl.push(INT_16B);
                    zl.extend_from_slice(&v.to_le_bytes());
                } else if (-(1 << 23)..(1 << 23)).contains(&v) {
                    zl.push(INT_24B);
                    zl.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
                } else if let Ok(v) = i32::try_from(v) {
                    zl.push(INT_32B);
                    zl.extend_from_slice(&v.to_le_bytes());
                } else {
                    zl.push(INT_64B);
                    zl.extend_from_slice(&v.to_le_bytes());
                }
            }
            (None, Element::Bytes(b)) => {
                let n = b.len();
                if n < 64 {
                    zl.push(STR_06B | n as u8);
                } else if n < 16384 {
                    zl.push(STR_14B | (n >> 8) as u8);
                    zl.push(n as u8);
                } else {
                    zl.push(STR_32B);
                    zl.extend_from_slice(&(n as u32).to_be_bytes());
                }
                zl.extend_from_slice(b);
            }
            (None, Element::Int(_)) => unreachable!(),
        }
        prev = zl.len() - start;
    }
    zl.push(END);
    let total = zl.len() as u32;
    zl[0..4].copy_from_slice(&total.to_le_bytes());
    zl[4..8].copy_from_slice(&(tail as u32).to_le_bytes());
    let count = u16::try_from(items.len()).unwrap_or(COUNT_UNKNOWN);
    zl[8..10].copy_from_slice(&count.to_le_bytes());
    zl
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_redis_bytes() {
        // A Redis 6 ziplist holding "a", 1, 300 (bytes checked by hand
        // against ziplist.c's layout).
        let zl = [
            20, 0, 0, 0, // zlbytes
            15, 0, 0, 0, // zltail
            3, 0, // zllen
            0, 0x01, b'a', // "a"
            3, 0xF2, // 1 as immediate
            2, 0xC0, 0x2C, 0x01, // 300 as int16
            0xFF,
        ];
        assert_eq!(
            decode(&zl).unwrap(),
            vec![Element::Bytes(b"a"), Element::Int(1), Element::Int(300)]
        );
        assert_eq!(
            encode(&[Element::Bytes(b"a"), Element::Int(1), Element::Int(300)]),
            zl.to_vec()
        );
    }

    #[test]
    fn round_trip() {
        let big = vec![b'b'; 300];
        let huge = vec![b'h'; 20000];
        let items = vec![
            Element::Bytes(b""),
            Element::Bytes(&big),
            Element::Int(0),
            Element::Int(12),
            Element::Int(13),
            Element::Int(-128),
            Element::Int(1000),
            Element::Int(-100_000),
            Element::Int(8_388_607),
            Element::Int(-2_000_000_000),
            Element::Int(i64::MIN),
            Element::Bytes(&huge),
            Element::Bytes(b"x"),
        ];
        assert_eq!(decode(&encode(&items)).unwrap(), items);
        assert_eq!(decode(&encode(&[])).unwrap(), vec![]);
    }

    #[test]
    fn structural_errors() {
        let good = encode(&[Element::Bytes(b"abc"), Element::Int(500)]);
        assert!(decode(&good[..9]).is_err());
        for (i, v) in [(0, 99u8), (4, 0), (8, 7), (10, 3), (11, 0xC5), (15, 1)] {
            let mut bad = good.clone();
            bad[i] = v;
            assert!(decode(&bad).is_err(), "byte {i} = {v}");
        }
        let mut bad = good.clone();
        *bad.last_mut().unwrap() = 0;
        assert!(decode(&bad).is_err());
        let mut bad = good;
        bad[11] = STR_32B; // 32-bit length running past the end
        assert!(decode(&bad).is_err());
    }
}
