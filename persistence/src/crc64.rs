//! CRC-64/Jones, the checksum at the end of RDB files and DUMP payloads.
//!
//! Reflected polynomial 0xad93d23594c935a9, initial value 0, no final xor —
//! the variant Redis's `crc64.c` documents, whose check value for
//! "123456789" is 0xe9c6d914c4b8d9ca. Table driven, one byte at a time, with
//! the table built at compile time.

const POLY_REFLECTED: u64 = 0x95ac9329ac4bc9b5;

const TABLE: [u64; 256] = build_table();

const fn build_table() -> [u64; 256] {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY_REFLECTED
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

/// Continue a running CRC-64 over `data` (start with 0).
pub fn crc64(mut crc: u64, data: &[u8]) -> u64 {
    for &byte in data {
        crc = TABLE[((crc ^ byte as u64) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        assert_eq!(crc64(0, b"123456789"), 0xe9c6d914c4b8d9ca);
    }

    #[test]
    fn incremental_equals_whole() {
        let data = b"The quick brown fox jumps over the lazy dog";
        let whole = crc64(0, data);
        let split = crc64(crc64(0, &data[..10]), &data[10..]);
        assert_eq!(whole, split);
    }
}
