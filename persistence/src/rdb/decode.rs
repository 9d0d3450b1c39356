//! The streaming RDB decoder: [`RdbReader`] pulls items from any
//! `io::BufRead` with a running CRC-64 and byte offset, and checks the
//! checksum at EOF; [`decode_object`] reads one type byte + object from a
//! slice (DUMP payloads). The object bodies are read in `object.rs`.
//!
//! Untrusted lengths never size an allocation: buffers start small and grow
//! as bytes actually arrive, and LZF output is bounded by what its input
//! can expand to.

use std::io::BufRead;

use super::object::read_object;
use super::{len, opcodes, types, Entry, Error, ErrorKind, Item, KeyMeta, Object, RDB_VERSION};
use crate::crc64::crc64;
use crate::lzf;

/// Largest buffer reserved before the bytes are there.
const INITIAL_CAPACITY_CAP: usize = 64 * 1024;

/// Decoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Longest string accepted, after decompression.
    pub max_string_bytes: u64,
    /// Total input length, when known (a file's size): a length running
    /// past it is then reported as corruption rather than truncation.
    pub input_len: Option<u64>,
    /// Check the trailing CRC-64 (a stored zero always means "not computed").
    pub verify_checksum: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            max_string_bytes: u64::from(u32::MAX),
            input_len: None,
            verify_checksum: true,
        }
    }
}

/// The byte source with the running checksum and offset.
pub(crate) struct Input<R> {
    src: R,
    crc: u64,
    offset: u64,
    opts: DecodeOptions,
}

impl<R: BufRead> Input<R> {
    pub(crate) fn new(src: R, opts: DecodeOptions) -> Self {
        Input {
            src,
            crc: 0,
            offset: 0,
            opts,
        }
    }

    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    fn io_error(&self, e: std::io::Error) -> Error {
        Error::new(self.offset, ErrorKind::Io(e))
    }

    /// Bytes left when the input length is known.
    fn remaining(&self) -> Option<u64> {
        self.opts.input_len.map(|n| n.saturating_sub(self.offset))
    }

    /// Fails unless at least `n` more bytes can exist.
    pub(crate) fn ensure_possible(&self, n: u64, what: &str) -> Result<(), Error> {
        match self.remaining() {
            Some(left) if n > left => Err(Error::corrupt(
                self.offset,
                format!("{what} of {n} exceeds the {left} bytes left"),
            )),
            _ => Ok(()),
        }
    }

    fn take(&mut self, n: usize) {
        self.offset += n as u64;
        self.src.consume(n);
    }

    pub(crate) fn exact(&mut self, buf: &mut [u8]) -> Result<(), Error> {
        let mut filled = 0;
        while filled < buf.len() {
            let avail = match self.src.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_error(e)),
            };
            if avail.is_empty() {
                return Err(Error::new(self.offset, ErrorKind::UnexpectedEof));
            }
            let n = avail.len().min(buf.len() - filled);
            buf[filled..filled + n].copy_from_slice(&avail[..n]);
            self.crc = crc64(self.crc, &avail[..n]);
            filled += n;
            self.take(n);
        }
        Ok(())
    }

    pub(crate) fn byte(&mut self) -> Result<u8, Error> {
        let mut b = [0u8; 1];
        self.exact(&mut b)?;
        Ok(b[0])
    }

    /// Appends exactly `n` bytes to `out`, growing it as they arrive.
    fn append(&mut self, n: u64, out: &mut Vec<u8>) -> Result<(), Error> {
        let mut left = n;
        out.reserve((n as usize).min(INITIAL_CAPACITY_CAP));
        while left > 0 {
            let avail = match self.src.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_error(e)),
            };
            if avail.is_empty() {
                return Err(Error::new(self.offset, ErrorKind::UnexpectedEof));
            }
            let k = (avail.len() as u64).min(left) as usize;
            out.extend_from_slice(&avail[..k]);
            self.crc = crc64(self.crc, &avail[..k]);
            left -= k as u64;
            self.take(k);
        }
        Ok(())
    }

    fn check_string_len(&self, n: u64) -> Result<(), Error> {
        if n > self.opts.max_string_bytes {
            return Err(Error::corrupt(
                self.offset,
                format!(
                    "string length {n} exceeds the limit of {}",
                    self.opts.max_string_bytes
                ),
            ));
        }
        Ok(())
    }

    /// A length prefix; `Ok((v, true))` for the special string encodings.
    fn len_or_enc(&mut self) -> Result<(u64, bool), Error> {
        let at = self.offset;
        let first = self.byte()?;
        match first >> 6 {
            len::ENCVAL => Ok((u64::from(first & 0x3f), true)),
            len::BITS6 => Ok((u64::from(first & 0x3f), false)),
            len::BITS14 => {
                let second = self.byte()?;
                Ok(((u64::from(first & 0x3f) << 8) | u64::from(second), false))
            }
            _ if first == len::BITS32 => {
                let mut b = [0u8; 4];
                self.exact(&mut b)?;
                Ok((u64::from(u32::from_be_bytes(b)), false))
            }
            _ if first == len::BITS64 => {
                let mut b = [0u8; 8];
                self.exact(&mut b)?;
                Ok((u64::from_be_bytes(b), false))
            }
            _ => Err(Error::corrupt(
                at,
                format!("unknown length encoding byte {first:#04x}"),
            )),
        }
    }

    /// A plain length (Redis reads a special-encoding byte here as its low
    /// six bits, and so do we).
    pub(crate) fn len(&mut self) -> Result<u64, Error> {
        self.len_or_enc().map(|(v, _)| v)
    }

    /// A count of items that each take at least `min_bytes` bytes.
    pub(crate) fn count(&mut self, min_bytes: u64, what: &str) -> Result<u64, Error> {
        let n = self.len()?;
        self.ensure_possible(n.saturating_mul(min_bytes), what)?;
        Ok(n)
    }

    /// A string in any of its encodings (raw, INT8/16/32, LZF).
    pub(crate) fn string(&mut self) -> Result<Vec<u8>, Error> {
        let at = self.offset;
        let (n, encoded) = self.len_or_enc()?;
        if !encoded {
            self.check_string_len(n)?;
            self.ensure_possible(n, "string length")?;
            let mut out = Vec::new();
            self.append(n, &mut out)?;
            return Ok(out);
        }
        let v = match n as u8 {
            len::ENC_INT8 => i64::from(self.byte()? as i8),
            len::ENC_INT16 => {
                let mut b = [0u8; 2];
                self.exact(&mut b)?;
                i64::from(i16::from_le_bytes(b))
            }
            len::ENC_INT32 => {
                let mut b = [0u8; 4];
                self.exact(&mut b)?;
                i64::from(i32::from_le_bytes(b))
            }
            len::ENC_LZF => return self.lzf_string(at),
            other => {
                return Err(Error::corrupt(
                    at,
                    format!("unknown string encoding {other}"),
                ))
            }
        };
        Ok(v.to_string().into_bytes())
    }

    fn lzf_string(&mut self, at: u64) -> Result<Vec<u8>, Error> {
        let clen = self.len()?;
        let ulen = self.len()?;
        self.check_string_len(ulen)?;
        self.check_string_len(clen)?;
        self.ensure_possible(clen, "compressed length")?;
        if ulen > clen.saturating_mul(lzf::MAX_EXPANSION as u64) {
            return Err(Error::corrupt(
                at,
                format!("LZF length {ulen} impossible from {clen} compressed bytes"),
            ));
        }
        let mut compressed = Vec::new();
        self.append(clen, &mut compressed)?;
        lzf::decompress(&compressed, ulen as usize)
            .map_err(|e| Error::corrupt(at, format!("invalid LZF compressed string: {e}")))
    }

    /// A double in the old text form (ZSET type): a length byte, with 253,
    /// 254, 255 meaning NaN, +inf, -inf.
    pub(crate) fn text_double(&mut self) -> Result<f64, Error> {
        let at = self.offset;
        let n = self.byte()?;
        match n {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            _ => {
                let mut buf = vec![0u8; usize::from(n)];
                self.exact(&mut buf)?;
                super::parse_score(&buf)
                    .ok_or_else(|| Error::corrupt(at, "unparsable double value"))
            }
        }
    }

    pub(crate) fn binary_double(&mut self) -> Result<f64, Error> {
        let mut b = [0u8; 8];
        self.exact(&mut b)?;
        Ok(f64::from_le_bytes(b))
    }
}

enum State {
    Items,
    Done,
    Failed,
}

/// Pulls the items of an RDB file one at a time.
pub struct RdbReader<R> {
    input: Input<R>,
    version: u32,
    state: State,
    empty_keys_skipped: u64,
}

impl<R: BufRead> RdbReader<R> {
    /// Reads the header with default options.
    pub fn new(src: R) -> Result<Self, Error> {
        Self::with_options(src, DecodeOptions::default())
    }

    /// Reads the `REDIS` + 4-digit version header; versions 1 to 10 load.
    pub fn with_options(src: R, opts: DecodeOptions) -> Result<Self, Error> {
        let mut input = Input::new(src, opts);
        let mut header = [0u8; 9];
        input.exact(&mut header)?;
        if &header[..5] != super::MAGIC || !header[5..].iter().all(u8::is_ascii_digit) {
            return Err(Error::new(0, ErrorKind::BadSignature));
        }
        let version = header[5..]
            .iter()
            .fold(0u32, |v, d| v * 10 + u32::from(d - b'0'));
        if version < 1 || version > u32::from(RDB_VERSION) {
            return Err(Error::new(5, ErrorKind::UnsupportedVersion(version)));
        }
        Ok(RdbReader {
            input,
            version,
            state: State::Items,
            empty_keys_skipped: 0,
        })
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.input.offset
    }

    /// Keys whose collections were empty, skipped as Redis skips them.
    pub fn empty_keys_skipped(&self) -> u64 {
        self.empty_keys_skipped
    }

    /// The source, positioned right after the checksum once `next_item`
    /// returned `None` (an AOF's RDB preamble continues there).
    pub fn into_inner(self) -> R {
        self.input.src
    }

    /// The next item, or `None` after EOF and a good checksum.
    pub fn next_item(&mut self) -> Result<Option<Item>, Error> {
        match self.state {
            State::Items => {}
            State::Done => return Ok(None),
            State::Failed => {
                return Err(Error::corrupt(
                    self.input.offset,
                    "reading past an earlier error",
                ))
            }
        }
        let r = self.read_item();
        match &r {
            Ok(None) => self.state = State::Done,
            Err(_) => self.state = State::Failed,
            Ok(Some(_)) => {}
        }
        r
    }

    fn read_item(&mut self) -> Result<Option<Item>, Error> {
        let mut meta = KeyMeta::default();
        loop {
            let at = self.input.offset;
            let t = self.input.byte()?;
            match t {
                opcodes::EXPIRETIME => {
                    let mut b = [0u8; 4];
                    self.input.exact(&mut b)?;
                    let secs = i64::from(i32::from_le_bytes(b));
                    meta.expire_at_ms = Some(secs.max(0) as u64 * 1000);
                }
                opcodes::EXPIRETIME_MS => {
                    let mut b = [0u8; 8];
                    self.input.exact(&mut b)?;
                    meta.expire_at_ms = Some(i64::from_le_bytes(b).max(0) as u64);
                }
                opcodes::FREQ => meta.lfu_freq = Some(self.input.byte()?),
                opcodes::IDLE => meta.lru_idle_s = Some(self.input.len()?),
                opcodes::EOF => {
                    self.verify_checksum()?;
                    return Ok(None);
                }
                opcodes::SELECTDB => return Ok(Some(Item::SelectDb(self.input.len()?))),
                opcodes::RESIZEDB => {
                    let db_size = self.input.len()?;
                    let expires_size = self.input.len()?;
                    return Ok(Some(Item::ResizeDb {
                        db_size,
                        expires_size,
                    }));
                }
                opcodes::AUX => {
                    let key = self.input.string()?;
                    let value = self.input.string()?;
                    return Ok(Some(Item::Aux { key, value }));
                }
                opcodes::MODULE_AUX => {
                    return Err(Error::new(
                        at,
                        ErrorKind::Unsupported {
                            type_byte: t,
                            name: "module-aux",
                        },
                    ))
                }
                opcodes::FUNCTION2 => return Ok(Some(Item::Function(self.input.string()?))),
                opcodes::FUNCTION => return self.old_function().map(Some),
                _ => {
                    check_object_type(t, at)?;
                    let key = self.input.string()?;
                    let value = read_object(&mut self.input, t, at)?;
                    if value.is_empty_collection() {
                        self.empty_keys_skipped += 1;
                        meta = KeyMeta::default();
                        continue;
                    }
                    return Ok(Some(Item::Entry(Entry {
                        key,
                        expire_at_ms: meta.expire_at_ms,
                        lru_idle_s: meta.lru_idle_s,
                        lfu_freq: meta.lfu_freq,
                        value,
                    })));
                }
            }
        }
    }

    /// The FUNCTION opcode of Redis 7.0-rc1/rc2: name, engine, optional
    /// description, code — turned into the `#!engine name=lib` form.
    fn old_function(&mut self) -> Result<Item, Error> {
        let name = self.input.string()?;
        let engine = self.input.string()?;
        if self.input.len()? != 0 {
            self.input.string()?;
        }
        let code = self.input.string()?;
        let mut payload = Vec::with_capacity(code.len() + name.len() + engine.len() + 9);
        payload.extend_from_slice(b"#!");
        payload.extend_from_slice(&engine);
        payload.extend_from_slice(b" name=");
        payload.extend_from_slice(&name);
        payload.push(b'\n');
        payload.extend_from_slice(&code);
        Ok(Item::Function(payload))
    }

    fn verify_checksum(&mut self) -> Result<(), Error> {
        if self.version < 5 {
            return Ok(());
        }
        let computed = self.input.crc;
        let at = self.input.offset;
        let mut b = [0u8; 8];
        self.input.exact(&mut b)?;
        let stored = u64::from_le_bytes(b);
        if self.input.opts.verify_checksum && stored != 0 && stored != computed {
            return Err(Error::new(
                at,
                ErrorKind::ChecksumMismatch { stored, computed },
            ));
        }
        Ok(())
    }
}

impl<R: BufRead> Iterator for RdbReader<R> {
    type Item = Result<Item, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.state {
            State::Items => self.next_item().transpose(),
            State::Done | State::Failed => None,
        }
    }
}

/// Rejects type bytes that are not objects Shoal loads, before the key.
fn check_object_type(t: u8, at: u64) -> Result<(), Error> {
    match t {
        types::STRING..=types::ZSET_2 | types::HASH_ZIPMAP..=types::STREAM_LISTPACKS_2 => Ok(()),
        types::MODULE | types::MODULE_2 => Err(Error::new(
            at,
            ErrorKind::Unsupported {
                type_byte: t,
                name: types::name(t),
            },
        )),
        _ => Err(Error::corrupt(
            at,
            format!("unknown opcode or object type {t}"),
        )),
    }
}

/// Reads one object — its type byte, then its body — from the start of
/// `data` (the serialized part of a DUMP payload). Returns the object and
/// how many bytes it took.
pub fn decode_object(data: &[u8], opts: DecodeOptions) -> Result<(Object, usize), Error> {
    let opts = DecodeOptions {
        input_len: Some(data.len() as u64),
        ..opts
    };
    let mut input = Input::new(data, opts);
    let t = input.byte()?;
    check_object_type(t, 0)?;
    let obj = read_object(&mut input, t, 0)?;
    Ok((obj, input.offset() as usize))
}

/// The function libraries' code in the body of a FUNCTION DUMP payload
/// (FUNCTION2 records, each an opcode and a string; the pre-release
/// FUNCTION opcode is refused). `data` excludes the version and CRC.
pub fn decode_function_records(data: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let opts = DecodeOptions {
        input_len: Some(data.len() as u64),
        ..DecodeOptions::default()
    };
    let mut input = Input::new(data, opts);
    let mut codes = Vec::new();
    while (input.offset() as usize) < data.len() {
        let t = input
            .byte()
            .map_err(|_| "can not read data type".to_string())?;
        if t != opcodes::FUNCTION2 {
            return Err("given type is not a function".into());
        }
        let code = input
            .string()
            .map_err(|_| "failed loading the given functions payload".to_string())?;
        codes.push(code);
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::{EncodeOptions, RdbWriter};

    fn sample_file() -> Vec<u8> {
        let mut w = RdbWriter::new(Vec::new(), EncodeOptions::default()).unwrap();
        w.aux(b"redis-ver", b"7.0.15").unwrap();
        w.select_db(0).unwrap();
        w.resize_db(2, 1).unwrap();
        let meta = KeyMeta {
            expire_at_ms: Some(1_900_000_000_000),
            ..KeyMeta::default()
        };
        w.string(b"k", &meta, &b"value"[..]).unwrap();
        w.list(b"l", &KeyMeta::default(), 3, [&b"a"[..], b"b", b"c"])
            .unwrap();
        w.finish().unwrap()
    }

    fn read_all(data: &[u8]) -> Result<Vec<Item>, Error> {
        RdbReader::new(data)?.collect()
    }

    #[test]
    fn header_errors() {
        let e = RdbReader::new(&b"REDIS0011"[..]).err().unwrap();
        assert!(matches!(e.kind, ErrorKind::UnsupportedVersion(11)));
        let e = RdbReader::new(&b"REDIS0000"[..]).err().unwrap();
        assert!(matches!(e.kind, ErrorKind::UnsupportedVersion(0)));
        let e = RdbReader::new(&b"RADIS0010"[..]).err().unwrap();
        assert!(matches!(e.kind, ErrorKind::BadSignature));
        let e = RdbReader::new(&b"REDIS00a0"[..]).err().unwrap();
        assert!(matches!(e.kind, ErrorKind::BadSignature));
        let e = RdbReader::new(&b"REDIS00"[..]).err().unwrap();
        assert!(e.is_truncated());
        for v in 1..=10 {
            let h = format!("REDIS{v:04}");
            assert_eq!(RdbReader::new(h.as_bytes()).unwrap().version(), v);
        }
    }

    #[test]
    fn reads_items_in_order() {
        let items = read_all(&sample_file()).unwrap();
        assert_eq!(items.len(), 5);
        assert_eq!(
            items[0],
            Item::Aux {
                key: b"redis-ver".to_vec(),
                value: b"7.0.15".to_vec()
            }
        );
        assert_eq!(items[1], Item::SelectDb(0));
        assert_eq!(
            items[2],
            Item::ResizeDb {
                db_size: 2,
                expires_size: 1
            }
        );
        match &items[3] {
            Item::Entry(e) => {
                assert_eq!(e.key, b"k");
                assert_eq!(e.expire_at_ms, Some(1_900_000_000_000));
                assert_eq!(e.value, Object::Str(b"value".to_vec()));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn checksum_mismatch_and_zero_checksum() {
        let mut f = sample_file();
        let n = f.len();
        f[n - 1] ^= 1;
        let e = read_all(&f).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::ChecksumMismatch { .. }));
        assert!(e.is_corrupt());
        assert_eq!(e.offset, (n - 8) as u64);
        f[n - 8..].fill(0);
        assert_eq!(read_all(&f).unwrap().len(), 5);
        // Turning verification off accepts a wrong checksum.
        f[n - 1] = 7;
        let opts = DecodeOptions {
            verify_checksum: false,
            ..DecodeOptions::default()
        };
        let r = RdbReader::with_options(&f[..], opts).unwrap();
        assert_eq!(r.collect::<Result<Vec<_>, _>>().unwrap().len(), 5);
    }

    #[test]
    fn truncation_is_unexpected_eof() {
        let f = sample_file();
        for cut in 9..f.len() {
            let e = read_all(&f[..cut]).unwrap_err();
            assert!(e.is_truncated(), "cut {cut}: {e}");
            assert_eq!(e.offset, cut as u64);
        }
    }

    #[test]
    fn stops_after_checksum() {
        let mut f = sample_file();
        let end = f.len();
        f.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        let mut r = RdbReader::new(&f[..]).unwrap();
        while r.next_item().unwrap().is_some() {}
        assert_eq!(r.offset(), end as u64);
        assert_eq!(r.into_inner(), b"*1\r\n$4\r\nPING\r\n");
    }

    fn file_with(body: &[u8]) -> Vec<u8> {
        let mut f = b"REDIS0010".to_vec();
        f.extend_from_slice(body);
        f.push(opcodes::EOF);
        f.extend_from_slice(&[0; 8]);
        f
    }

    fn corrupt(body: &[u8]) -> Error {
        let e = read_all(&file_with(body)).unwrap_err();
        assert!(e.is_corrupt(), "{e}");
        e
    }

    #[test]
    fn corruption_errors_with_offsets() {
        // Unknown opcode/type.
        assert_eq!(corrupt(&[200]).offset, 9);
        // Unknown length encoding (0x82).
        assert_eq!(corrupt(&[opcodes::SELECTDB, 0x82]).offset, 10);
        // Unknown string encoding (ENCVAL 4).
        assert_eq!(corrupt(&[types::STRING, 0xC4]).offset, 10);
        // Bad LZF data: claims 10 bytes from a 2-byte stream that makes 1.
        corrupt(&[types::STRING, 1, b'k', 0xC3, 2, 10, 0x00, b'a']);
        // LZF claiming an impossible expansion.
        corrupt(&[types::STRING, 1, b'k', 0xC3, 1, 0x80, 0, 0, 0x10, 0]);
        // Zset with a NaN score.
        corrupt(&[types::ZSET, 1, b'z', 1, 1, b'm', 253]);
        corrupt(&[
            types::ZSET_2,
            1,
            b'z',
            1,
            1,
            b'm',
            0,
            0,
            0,
            0,
            0,
            0,
            0xf8,
            0x7f,
        ]);
        // Unparsable text score.
        corrupt(&[types::ZSET, 1, b'z', 1, 1, b'm', 2, b'x', b'y']);
        // Bad quicklist container.
        corrupt(&[types::LIST_QUICKLIST_2, 1, b'l', 1, 3, 1, b'a']);
        // Empty quicklist node.
        corrupt(&[types::LIST_QUICKLIST_2, 1, b'l', 1, 2, 0]);
        // A listpack that is not one.
        corrupt(&[types::HASH_LISTPACK, 1, b'h', 3, 1, 2, 3]);
        // Intset with a bad width.
        corrupt(&[types::SET_INTSET, 1, b's', 10, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0]);
        // Odd number of entries in a hash listpack.
        let lp = crate::rdb::listpack::encode([crate::rdb::Element::Bytes(b"f")]);
        let mut body = vec![types::HASH_LISTPACK, 1, b'h', lp.len() as u8];
        body.extend_from_slice(&lp);
        corrupt(&body);
    }

    #[test]
    fn lengths_past_known_input_are_corruption() {
        let body = [types::STRING, 1, b'k', 0x80, 0x10, 0, 0, 0, b'x'];
        let f = file_with(&body);
        let opts = DecodeOptions {
            input_len: Some(f.len() as u64),
            ..DecodeOptions::default()
        };
        let e = RdbReader::with_options(&f[..], opts)
            .unwrap()
            .next_item()
            .unwrap_err();
        assert!(e.is_corrupt(), "{e}");
        // Without a known length the same bytes are a truncated file.
        let e = read_all(&f).unwrap_err();
        assert!(e.is_truncated(), "{e}");
        // A string past the configured limit.
        let opts = DecodeOptions {
            max_string_bytes: 4,
            ..DecodeOptions::default()
        };
        let f = file_with(&[types::STRING, 1, b'k', 5, b'a', b'b', b'c', b'd', b'e']);
        let e = RdbReader::with_options(&f[..], opts)
            .unwrap()
            .next_item()
            .unwrap_err();
        assert!(e.is_corrupt());
    }

    #[test]
    fn huge_claimed_lengths_do_not_allocate() {
        // 2^63-element list and a 4 GiB string with a few bytes of input.
        for body in [
            &[
                types::LIST,
                1,
                b'l',
                0x81,
                0x7f,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                1,
                b'a',
            ][..],
            &[
                types::STRING,
                1,
                b'k',
                0x80,
                0xff,
                0xff,
                0xff,
                0xff,
                b'a',
                b'b',
            ],
            &[
                types::STRING,
                1,
                b'k',
                0xC3,
                0x80,
                0x10,
                0,
                0,
                0,
                0x80,
                0xff,
                0,
                0,
                0,
                1,
            ],
        ] {
            let mut f = b"REDIS0010".to_vec();
            f.extend_from_slice(body);
            let e = read_all(&f).unwrap_err();
            assert!(e.is_truncated(), "{e}");
        }
    }

    #[test]
    fn unsupported_types_name_the_type() {
        for t in [types::MODULE, types::MODULE_2] {
            let e = read_all(&file_with(&[t, 1, b'k'])).unwrap_err();
            assert!(matches!(e.kind, ErrorKind::Unsupported { type_byte, .. } if type_byte == t));
            assert_eq!(e.offset, 9);
            assert!(e.to_string().contains(types::name(t)));
        }
        let e = read_all(&file_with(&[opcodes::MODULE_AUX, 1])).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::Unsupported { .. }));
    }

    #[test]
    fn legacy_opcodes_and_functions() {
        let mut body = vec![opcodes::EXPIRETIME];
        body.extend_from_slice(&1_000_000i32.to_le_bytes());
        body.extend_from_slice(&[
            opcodes::IDLE,
            5,
            opcodes::FREQ,
            9,
            types::STRING,
            1,
            b'k',
            1,
            b'v',
        ]);
        body.extend_from_slice(&[opcodes::FUNCTION2, 3, b'a', b'b', b'c']);
        body.extend_from_slice(&[
            opcodes::FUNCTION,
            3,
            b'l',
            b'i',
            b'b',
            3,
            b'L',
            b'U',
            b'A',
            1,
            1,
            b'd',
            2,
            b'x',
            b'y',
        ]);
        let items = read_all(&file_with(&body)).unwrap();
        assert_eq!(
            items[0],
            Item::Entry(Entry {
                key: b"k".to_vec(),
                expire_at_ms: Some(1_000_000_000),
                lru_idle_s: Some(5),
                lfu_freq: Some(9),
                value: Object::Str(b"v".to_vec()),
            })
        );
        assert_eq!(items[1], Item::Function(b"abc".to_vec()));
        assert_eq!(items[2], Item::Function(b"#!LUA name=lib\nxy".to_vec()));
    }

    #[test]
    fn empty_collections_are_skipped() {
        let body = [types::LIST, 1, b'e', 0, types::STRING, 1, b'k', 1, b'v'];
        let f = file_with(&body);
        let mut r = RdbReader::new(&f[..]).unwrap();
        let first = r.next_item().unwrap().unwrap();
        assert!(matches!(first, Item::Entry(ref e) if e.key == b"k"));
        assert_eq!(r.empty_keys_skipped(), 1);
    }

    #[test]
    fn old_versions_have_no_checksum() {
        let mut f = b"REDIS0004".to_vec();
        f.extend_from_slice(&[types::STRING, 1, b'k', 1, b'v', opcodes::EOF]);
        assert_eq!(read_all(&f).unwrap().len(), 1);
    }
}
