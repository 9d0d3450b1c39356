//! Key → hash slot, exactly as Redis Cluster computes it.
//!
//! CRC16 (XMODEM) of the key, or of the first non-empty `{...}` hash tag,
//! masked to 14 bits. This is the only implementation in Shoal: the server's
//! keyspace partitioning, routing and `CLUSTER KEYSLOT` all call it.

/// Number of hash slots in a Redis Cluster.
pub const SLOT_COUNT: usize = 16384;

/// The hash slot of `key`.
#[inline]
pub fn key_hash_slot(key: &[u8]) -> u16 {
    let tagged = hash_tag(key).unwrap_or(key);
    crc16_xmodem(tagged) & 0x3FFF
}

/// CRC16/XMODEM (polynomial 0x1021, initial 0), one table lookup per byte;
/// every keyed command computes it, so it is kept tight and inlinable.
#[inline]
fn crc16_xmodem(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc = (crc << 8) ^ CRC16_TABLE[((crc >> 8) as u8 ^ b) as usize];
    }
    crc
}

static CRC16_TABLE: [u16; 256] = {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = (i as u16) << 8;
        let mut j = 0;
        while j < 8 {
            c = if c & 0x8000 != 0 {
                (c << 1) ^ 0x1021
            } else {
                c << 1
            };
            j += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// The part of the key that is hashed when it has a non-empty `{tag}`.
fn hash_tag(key: &[u8]) -> Option<&[u8]> {
    let open = key.iter().position(|&b| b == b'{')?;
    let rest = &key[open + 1..];
    let close = rest.iter().position(|&b| b == b'}')?;
    if close == 0 {
        return None;
    }
    Some(&rest[..close])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_reference_check_value() {
        // The CRC-16/XMODEM catalogue check value, and the crc16 crate.
        assert_eq!(crc16_xmodem(b"123456789"), 0x31C3);
        for key in [&b""[..], b"a", b"foo", b"key:000000012345", &[0xffu8; 40]] {
            assert_eq!(
                crc16_xmodem(key),
                crc16::State::<crc16::XMODEM>::calculate(key),
                "{key:?}"
            );
        }
    }

    #[test]
    fn known_slots_match_redis() {
        // Values from `CLUSTER KEYSLOT` on Redis 7.0.15.
        assert_eq!(key_hash_slot(b"foo"), 12182);
        assert_eq!(key_hash_slot(b"bar"), 5061);
        assert_eq!(key_hash_slot(b"k4"), 8455);
        assert_eq!(key_hash_slot(b""), 0);
        assert_eq!(key_hash_slot(b"123456789"), 0x31C3 & 0x3FFF);
    }

    #[test]
    fn hash_tags() {
        assert_eq!(
            key_hash_slot(b"{user1000}.following"),
            key_hash_slot(b"user1000")
        );
        assert_eq!(
            key_hash_slot(b"{user1000}.followers"),
            key_hash_slot(b"user1000")
        );
        // An empty tag means the whole key is hashed.
        assert_eq!(key_hash_slot(b"foo{}{bar}"), key_hash_slot(b"foo{}{bar}"));
        assert_ne!(key_hash_slot(b"foo{}{bar}"), key_hash_slot(b"bar"));
        // Only the first tag counts.
        assert_eq!(key_hash_slot(b"foo{{bar}}zap"), key_hash_slot(b"{bar"));
        assert_eq!(key_hash_slot(b"foo{bar}{zap}"), key_hash_slot(b"bar"));
        // No closing brace: whole key.
        assert_eq!(key_hash_slot(b"foo{bar"), key_hash_slot(b"foo{bar"));
    }
}
