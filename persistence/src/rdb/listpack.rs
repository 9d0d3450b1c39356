//! Listpack: the compact sequence Redis 7.0 stores small hashes, sorted
//! sets and quicklist nodes in, embedded in RDB files as one string.
//!
//! Layout: total bytes (u32 LE), element count (u16 LE, 65535 = "count
//! them"), entries, 0xFF. An entry is an encoding byte (7-bit uint, 6/12/32
//! bit string length, 13/16/24/32/64 bit integer), its data, and a
//! "backlen" of 1–5 bytes holding the size of encoding+data, written so it
//! can be read from the end backwards.

use super::{parse_canonical_i64, BlobError, Element};

const HEADER: usize = 6;
const EOF: u8 = 0xFF;
const COUNT_UNKNOWN: u16 = u16::MAX;

const ENC_6BIT_STR: u8 = 0x80;
const ENC_13BIT_INT: u8 = 0xC0;
const ENC_12BIT_STR: u8 = 0xE0;
const ENC_32BIT_STR: u8 = 0xF0;
const ENC_16BIT_INT: u8 = 0xF1;
const ENC_24BIT_INT: u8 = 0xF2;
const ENC_32BIT_INT: u8 = 0xF3;
const ENC_64BIT_INT: u8 = 0xF4;

/// Bytes of a backlen field for an entry of `l` bytes (Redis's thresholds,
/// including the 2-byte form stopping at 16382).
fn backlen_size(l: usize) -> usize {
    if l <= 127 {
        1
    } else if l < 16383 {
        2
    } else if l < 2_097_151 {
        3
    } else if l < 268_435_455 {
        4
    } else {
        5
    }
}

fn push_backlen(buf: &mut Vec<u8>, l: usize) {
    let n = backlen_size(l);
    // Most significant 7-bit group first, without the continuation bit;
    // every later group carries it.
    for i in (0..n).rev() {
        let group = ((l >> (7 * i)) & 127) as u8;
        buf.push(if i == n - 1 { group } else { group | 128 });
    }
}

/// Size of encoding + data for an integer entry.
fn int_entry_len(v: i64) -> usize {
    match v {
        0..=127 => 1,
        -4096..=4095 => 2,
        -32768..=32767 => 3,
        -8_388_608..=8_388_607 => 4,
        -2_147_483_648..=2_147_483_647 => 5,
        _ => 9,
    }
}

fn str_entry_len(len: usize) -> usize {
    if len < 64 {
        1 + len
    } else if len < 4096 {
        2 + len
    } else {
        5 + len
    }
}

fn element_int(e: Element<'_>) -> Result<i64, &[u8]> {
    match e {
        Element::Int(v) => Ok(v),
        Element::Bytes(b) => parse_canonical_i64(b).ok_or(b),
    }
}

/// Total bytes `e` takes in a listpack, backlen included.
pub fn entry_size(e: Element<'_>) -> usize {
    let l = match element_int(e) {
        Ok(v) => int_entry_len(v),
        Err(b) => str_entry_len(b.len()),
    };
    l + backlen_size(l)
}

/// Builds listpacks, reusing one buffer across many.
#[derive(Debug, Default)]
pub struct Builder {
    buf: Vec<u8>,
    count: usize,
    finished: bool,
}

impl Builder {
    pub fn new() -> Self {
        let mut b = Builder::default();
        b.reset();
        b
    }

    /// Starts a new, empty listpack.
    pub fn reset(&mut self) {
        self.buf.clear();
        if self.buf.capacity() > 1 << 20 {
            self.buf = Vec::new();
        }
        self.buf.extend_from_slice(&[0; HEADER]);
        self.count = 0;
        self.finished = false;
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes the listpack takes once finished.
    pub fn size(&self) -> usize {
        self.buf.len() + usize::from(!self.finished)
    }

    pub fn push(&mut self, e: Element<'_>) {
        if self.finished {
            self.reset();
        }
        let start = self.buf.len();
        match element_int(e) {
            Ok(v) => self.push_int(v),
            Err(s) => self.push_str(s),
        }
        let l = self.buf.len() - start;
        push_backlen(&mut self.buf, l);
        self.count += 1;
    }

    fn push_int(&mut self, v: i64) {
        let b = &mut self.buf;
        match int_entry_len(v) {
            1 => b.push(v as u8),
            2 => {
                let u = (v as u64) & 0x1fff;
                b.push(ENC_13BIT_INT | (u >> 8) as u8);
                b.push(u as u8);
            }
            3 => {
                b.push(ENC_16BIT_INT);
                b.extend_from_slice(&(v as i16).to_le_bytes());
            }
            4 => {
                b.push(ENC_24BIT_INT);
                b.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
            }
            5 => {
                b.push(ENC_32BIT_INT);
                b.extend_from_slice(&(v as i32).to_le_bytes());
            }
            _ => {
                b.push(ENC_64BIT_INT);
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
    }

    fn push_str(&mut self, s: &[u8]) {
        let b = &mut self.buf;
        let len = s.len();
        if len < 64 {
            b.push(ENC_6BIT_STR | len as u8);
        } else if len < 4096 {
            b.push(ENC_12BIT_STR | (len >> 8) as u8);
            b.push(len as u8);
        } else {
            b.push(ENC_32BIT_STR);
            b.extend_from_slice(&(len as u32).to_le_bytes());
        }
        b.extend_from_slice(s);
    }

    /// Writes the terminator and header and returns the listpack's bytes.
    /// The next `push` starts a new listpack.
    pub fn finish(&mut self) -> &[u8] {
        if !self.finished {
            self.buf.push(EOF);
            let total = self.buf.len() as u32;
            let count = u16::try_from(self.count)
                .ok()
                .filter(|&c| c != COUNT_UNKNOWN)
                .unwrap_or(COUNT_UNKNOWN);
            self.buf[0..4].copy_from_slice(&total.to_le_bytes());
            self.buf[4..6].copy_from_slice(&count.to_le_bytes());
            self.finished = true;
        }
        &self.buf
    }
}

/// Encodes `items` as a new listpack.
pub fn encode<'a>(items: impl IntoIterator<Item = Element<'a>>) -> Vec<u8> {
    let mut b = Builder::new();
    for e in items {
        b.push(e);
    }
    b.finish();
    b.buf
}

/// A validating walk over a listpack's entries.
pub struct Entries<'a> {
    lp: &'a [u8],
    pos: usize,
    seen: usize,
    header_count: u16,
    done: bool,
}

/// Checks the header and terminator of `lp` and returns its entries.
/// Every entry is validated as it is reached; the element count in the
/// header is checked after the last one.
pub fn entries(lp: &[u8]) -> Result<Entries<'_>, BlobError> {
    if lp.len() < HEADER + 1 {
        return Err(BlobError::new(0, "listpack shorter than its header"));
    }
    let total = u32::from_le_bytes([lp[0], lp[1], lp[2], lp[3]]) as usize;
    if total != lp.len() {
        return Err(BlobError::new(
            0,
            "listpack total bytes differ from its size",
        ));
    }
    if lp[lp.len() - 1] != EOF {
        return Err(BlobError::new(lp.len() - 1, "listpack without terminator"));
    }
    Ok(Entries {
        lp,
        pos: HEADER,
        seen: 0,
        header_count: u16::from_le_bytes([lp[4], lp[5]]),
        done: false,
    })
}

impl<'a> Entries<'a> {
    /// Element count announced by the header, if it is not "unknown".
    pub fn header_count(&self) -> Option<usize> {
        (self.header_count != COUNT_UNKNOWN).then_some(usize::from(self.header_count))
    }

    fn read(&mut self) -> Result<Option<Element<'a>>, BlobError> {
        let lp = self.lp;
        let p = self.pos;
        let end = lp.len() - 1; // index of the terminator
        let at = |msg| BlobError::new(p, msg);
        let enc = lp[p];
        if enc == EOF {
            if p != end {
                return Err(at("listpack terminator before its end"));
            }
            if let Some(n) = self.header_count() {
                if n != self.seen {
                    return Err(at("listpack element count differs from its header"));
                }
            }
            return Ok(None);
        }
        let byte = |i: usize| lp.get(p + i).copied().filter(|_| p + i < end);
        let need = |i: usize| byte(i).ok_or_else(|| at("listpack entry past its end"));
        let (head, data_len) = if enc & 0x80 == 0 {
            (1, 0)
        } else if enc & 0xC0 == ENC_6BIT_STR {
            (1, usize::from(enc & 0x3f))
        } else if enc & 0xE0 == ENC_13BIT_INT {
            (1, 1)
        } else if enc & 0xF0 == ENC_12BIT_STR {
            (2, (usize::from(enc & 0x0f) << 8) | usize::from(need(1)?))
        } else {
            match enc {
                ENC_32BIT_STR => {
                    let l = u32::from_le_bytes([need(1)?, need(2)?, need(3)?, need(4)?]);
                    (5, l as usize)
                }
                ENC_16BIT_INT => (1, 2),
                ENC_24BIT_INT => (1, 3),
                ENC_32BIT_INT => (1, 4),
                ENC_64BIT_INT => (1, 8),
                _ => return Err(at("bad listpack entry encoding")),
            }
        };
        let entry_len = head + data_len;
        let back = backlen_size(entry_len);
        let next = p
            .checked_add(entry_len + back)
            .filter(|&n| n <= end)
            .ok_or_else(|| at("listpack entry past its end"))?;
        let mut expect = Vec::with_capacity(5);
        push_backlen(&mut expect, entry_len);
        if lp[p + entry_len..next] != expect[..] {
            return Err(at("listpack entry backlen mismatch"));
        }
        let data = &lp[p + head..p + entry_len];
        let element = if enc & 0x80 == 0 {
            Element::Int(i64::from(enc & 0x7f))
        } else if enc & 0xC0 == ENC_6BIT_STR || enc & 0xF0 == ENC_12BIT_STR || enc == ENC_32BIT_STR
        {
            Element::Bytes(data)
        } else if enc & 0xE0 == ENC_13BIT_INT {
            let u = (i64::from(enc & 0x1f) << 8) | i64::from(data[0]);
            Element::Int(if u >= 1 << 12 { u - (1 << 13) } else { u })
        } else {
            let mut le = [0u8; 8];
            le[..data.len()].copy_from_slice(data);
            let u = u64::from_le_bytes(le);
            let bits = 8 * data.len() as u32;
            // Sign-extend from `bits` wide.
            let shift = 64 - bits;
            Element::Int(((u << shift) as i64) >> shift)
        };
        self.pos = next;
        self.seen += 1;
        Ok(Some(element))
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Element<'a>, BlobError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = self.read();
        match r {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(lp: &[u8]) -> Result<Vec<Element<'_>>, BlobError> {
        entries(lp)?.collect()
    }

    #[test]
    fn round_trip_every_encoding() {
        let long64 = vec![b'x'; 64];
        let long4095 = vec![b'y'; 4095];
        let long4096 = vec![b'z'; 4096];
        let long20000 = vec![b'w'; 20000];
        let items: Vec<Element> = vec![
            Element::Bytes(b""),
            Element::Bytes(b"hello"),
            Element::Bytes(&long64),
            Element::Bytes(&long4095),
            Element::Bytes(&long4096),
            Element::Bytes(&long20000),
            Element::Int(0),
            Element::Int(127),
            Element::Int(128),
            Element::Int(-1),
            Element::Int(-4096),
            Element::Int(4095),
            Element::Int(-4097),
            Element::Int(32767),
            Element::Int(-32768),
            Element::Int(32768),
            Element::Int(8_388_607),
            Element::Int(-8_388_608),
            Element::Int(8_388_608),
            Element::Int(i32::MAX as i64),
            Element::Int(i32::MIN as i64),
            Element::Int(i64::MAX),
            Element::Int(i64::MIN),
            Element::Bytes(b"12"),
            Element::Bytes(b"012"),
        ];
        let lp = encode(items.iter().copied());
        assert_eq!(
            lp.len(),
            u32::from_le_bytes([lp[0], lp[1], lp[2], lp[3]]) as usize
        );
        let sizes: usize = items.iter().map(|&e| entry_size(e)).sum();
        assert_eq!(lp.len(), HEADER + sizes + 1);
        let back = decode(&lp).unwrap();
        let mut expected = items.clone();
        expected[23] = Element::Int(12); // canonical integer text is stored as an integer
        assert_eq!(back, expected);
    }

    #[test]
    fn known_bytes() {
        // Redis: lpAppend("a"), lpAppend("1024") on an empty listpack.
        let lp = encode([Element::Bytes(b"a"), Element::Bytes(b"1024")]);
        assert_eq!(
            lp,
            vec![13, 0, 0, 0, 2, 0, 0x81, b'a', 2, 0xC4, 0x00, 2, 0xFF]
        );
        let lp = encode([Element::Int(-1)]);
        assert_eq!(&lp[6..9], &[0xDF, 0xFF, 2]);
    }

    #[test]
    fn backlen_boundaries() {
        for l in [127usize, 128, 16382, 16383, 2_097_150, 2_097_151] {
            let mut v = Vec::new();
            push_backlen(&mut v, l);
            assert_eq!(v.len(), backlen_size(l));
            // Decode from the end as Redis does.
            let mut val = 0usize;
            let mut shift = 0;
            for &b in v.iter().rev() {
                val |= usize::from(b & 127) << shift;
                shift += 7;
                if b & 128 == 0 {
                    break;
                }
            }
            assert_eq!(val, l);
        }
        // An entry of 16380 bytes of data (16383 with its header) uses a
        // 3-byte backlen.
        let s = vec![b'q'; 16378];
        let lp = encode([Element::Bytes(&s)]);
        assert_eq!(decode(&lp).unwrap(), vec![Element::Bytes(&s)]);
    }

    #[test]
    fn many_entries_count_unknown() {
        let lp = encode((0..70_000).map(|i| Element::Int(i % 100)));
        assert_eq!(&lp[4..6], &[0xff, 0xff]);
        assert_eq!(decode(&lp).unwrap().len(), 70_000);
    }

    #[test]
    fn structural_errors() {
        let good = encode([Element::Bytes(b"abc"), Element::Int(5)]);
        assert!(decode(&good[..5]).is_err());
        let mut bad = good.clone();
        bad[0] += 1;
        assert!(decode(&bad).is_err());
        let mut bad = good.clone();
        *bad.last_mut().unwrap() = 0;
        assert!(decode(&bad).is_err());
        let mut bad = good.clone();
        bad[4] = 3; // wrong count
        assert!(decode(&bad).is_err());
        let mut bad = good.clone();
        bad[6] = 0xF5; // bad encoding
        assert!(decode(&bad).is_err());
        let mut bad = good.clone();
        bad[10] = 9; // backlen
        assert!(decode(&bad).is_err());
        let mut bad = good.clone();
        bad[6] = 0x80 | 40; // string running past the end
        assert!(decode(&bad).is_err());
        let mut bad = good;
        bad[6] = ENC_32BIT_STR; // 32-bit length header overlapping the end
        assert!(decode(&bad).is_err());
        // Terminator in the middle.
        let mut bad = encode([Element::Int(1), Element::Int(2)]);
        bad[6] = 0xFF;
        assert!(decode(&bad).is_err());
    }
}
