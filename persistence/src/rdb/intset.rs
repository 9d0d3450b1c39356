//! Intset: a sorted array of distinct integers, all of one width (2, 4 or
//! 8 bytes), that Redis uses for small sets of integers (SET_INTSET).
//!
//! Layout: width in bytes (u32 LE), count (u32 LE), the integers ascending,
//! little endian.

use super::BlobError;

const HEADER: usize = 8;

/// Encodes `sorted` (ascending, distinct) into `out` as an intset, using
/// the narrowest width that holds every value.
pub fn encode_into(sorted: &[i64], out: &mut Vec<u8>) {
    let width: u32 = if sorted.iter().all(|&v| i16::try_from(v).is_ok()) {
        2
    } else if sorted.iter().all(|&v| i32::try_from(v).is_ok()) {
        4
    } else {
        8
    };
    out.clear();
    out.reserve(HEADER + sorted.len() * width as usize);
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
    for &v in sorted {
        match width {
            2 => out.extend_from_slice(&(v as i16).to_le_bytes()),
            4 => out.extend_from_slice(&(v as i32).to_le_bytes()),
            _ => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
}

/// Decodes an intset, checking its width, size, that it is not empty and
/// that its values ascend strictly (Redis's deep validation).
pub fn decode(blob: &[u8]) -> Result<Vec<i64>, BlobError> {
    if blob.len() < HEADER {
        return Err(BlobError::new(0, "intset shorter than its header"));
    }
    let width = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
    if !matches!(width, 2 | 4 | 8) {
        return Err(BlobError::new(0, "bad intset encoding"));
    }
    let count = u32::from_le_bytes([blob[4], blob[5], blob[6], blob[7]]) as usize;
    if (blob.len() - HEADER) != count * width {
        return Err(BlobError::new(4, "intset size differs from its count"));
    }
    if count == 0 {
        return Err(BlobError::new(4, "empty intset"));
    }
    let mut out = Vec::with_capacity(count);
    for (i, chunk) in blob[HEADER..].chunks_exact(width).enumerate() {
        let v = match width {
            2 => i64::from(i16::from_le_bytes([chunk[0], chunk[1]])),
            4 => i64::from(i32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]])),
            _ => {
                let mut b = [0u8; 8];
                b.copy_from_slice(chunk);
                i64::from_le_bytes(b)
            }
        };
        if out.last().is_some_and(|&prev| prev >= v) {
            return Err(BlobError::new(
                HEADER + i * width,
                "intset values not strictly ascending",
            ));
        }
        out.push(v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_each_width() {
        for set in [
            vec![-3, 0, 7, 32767],
            vec![-40000, 1, 2_000_000_000],
            vec![i64::MIN, -1, i64::MAX],
        ] {
            let mut buf = Vec::new();
            encode_into(&set, &mut buf);
            assert_eq!(decode(&buf).unwrap(), set);
        }
        let mut buf = Vec::new();
        encode_into(&[1, 2], &mut buf);
        assert_eq!(buf, vec![2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 2, 0]);
    }

    #[test]
    fn errors() {
        let mut buf = Vec::new();
        encode_into(&[1, 2, 3], &mut buf);
        assert!(decode(&buf[..7]).is_err());
        assert!(decode(&buf[..buf.len() - 1]).is_err());
        let mut bad = buf.clone();
        bad[0] = 3;
        assert!(decode(&bad).is_err());
        let mut bad = buf.clone();
        bad[10] = 1; // duplicate
        assert!(decode(&bad).is_err());
        assert!(decode(&[2, 0, 0, 0, 0, 0, 0, 0]).is_err());
        // A huge count with few bytes must not allocate for the count.
        assert!(decode(&[8, 0, 0, 0, 255, 255, 255, 255]).is_err());
    }
}
