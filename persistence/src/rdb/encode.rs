//! The streaming RDB encoder: [`RdbWriter`] writes a whole file to any
//! `io::Write` with a running CRC-64, and [`ObjectEncoder`] writes one
//! object (type byte + body) into a `Vec` for DUMP payloads.
//!
//! Values come in as neutral views — a length plus a cloneable iterator of
//! [`Element`]s (and `f64` scores) — so the server encodes its structures
//! in place. Encodings are the ones Redis 7.0 writes and loads: strings
//! with integer/LZF forms, lists as LIST_QUICKLIST_2 of listpack nodes,
//! sets as SET_INTSET or SET, hashes and sorted sets as listpacks while
//! they are small and as HASH / ZSET_2 beyond that.
//!
//! Collections are walked twice (sizes first, then bytes), hence the
//! `Clone` bound on iterators. Give the writer a buffered sink: it writes
//! in small pieces.

use std::cmp::Ordering;
use std::io::{self, Write};

use super::listpack::{self, Builder};
use super::{
    container, int_text, intset, len, opcodes, parse_canonical_i64, score_as_int, score_text,
    types, Element, KeyMeta, Object, MAX_INT_TEXT, RDB_VERSION,
};
use crate::crc64::crc64;
use crate::lzf;

/// Strings this long or longer go into a PLAIN quicklist node (Redis's
/// `packed_threshold`).
const PLAIN_NODE_THRESHOLD: usize = 1 << 30;
/// Redis's quicklist node size classes for negative list-max-listpack-size.
const NODE_SIZE_LEVELS: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// Node size cap when list-max-listpack-size counts entries.
const NODE_SAFETY_LIMIT: usize = 8192;
/// Redis's per-entry overhead estimate when filling quicklist nodes.
const NODE_ENTRY_OVERHEAD: usize = 8;
/// Redis only tries LZF above this length ("under 20 bytes it's unable to
/// compress even aaaaaaaaaaaaaaaaaa").
const LZF_MIN_LEN: usize = 20;
/// Bytes an empty listpack takes (header + terminator).
const EMPTY_LISTPACK: usize = 7;

/// When collections use compact encodings; the defaults are Redis 7.0.15's
/// built-in ones (config.c — note hash-max-listpack-entries is 512 there,
/// 128 only in the sample redis.conf).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodingLimits {
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    /// Negative: node size class (-1 = 4 KiB … -5 = 64 KiB); positive:
    /// entries per node.
    pub list_max_listpack_size: i64,
}

impl Default for EncodingLimits {
    fn default() -> Self {
        EncodingLimits {
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            set_max_intset_entries: 512,
            list_max_listpack_size: -2,
        }
    }
}

/// Encoder settings (Redis's `rdbcompression`, `rdbchecksum`, and the
/// `*-max-listpack-*` limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeOptions {
    pub compress: bool,
    pub checksum: bool,
    pub limits: EncodingLimits,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            compress: true,
            checksum: true,
            limits: EncodingLimits::default(),
        }
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn check_count(what: &str, expected: usize, actual: usize) -> io::Result<()> {
    if expected == actual {
        Ok(())
    } else {
        Err(invalid(format!(
            "{what} yielded {actual} elements, but its length was given as {expected}"
        )))
    }
}

/// The sink with the running checksum and byte count.
struct Sink<W> {
    out: W,
    crc: u64,
    checksum: bool,
    written: u64,
}

impl<W: Write> Sink<W> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.checksum {
            self.crc = crc64(self.crc, bytes);
        }
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn byte(&mut self, b: u8) -> io::Result<()> {
        self.put(&[b])
    }

    /// A length in Redis's 1/2/5/9-byte form.
    fn len(&mut self, n: u64) -> io::Result<()> {
        if n < 1 << 6 {
            self.byte(n as u8)
        } else if n < 1 << 14 {
            self.put(&[(len::BITS14 << 6) | (n >> 8) as u8, n as u8])
        } else if n <= u64::from(u32::MAX) {
            let mut b = [len::BITS32, 0, 0, 0, 0];
            b[1..].copy_from_slice(&(n as u32).to_be_bytes());
            self.put(&b)
        } else {
            let mut b = [len::BITS64, 0, 0, 0, 0, 0, 0, 0, 0];
            b[1..].copy_from_slice(&n.to_be_bytes());
            self.put(&b)
        }
    }

    /// An integer in the INT8/16/32 string encoding, if it fits.
    fn try_int(&mut self, v: i64) -> io::Result<bool> {
        let tag = len::ENCVAL << 6;
        if let Ok(v) = i8::try_from(v) {
            self.put(&[tag | len::ENC_INT8, v as u8])?;
        } else if let Ok(v) = i16::try_from(v) {
            let b = v.to_le_bytes();
            self.put(&[tag | len::ENC_INT16, b[0], b[1]])?;
        } else if let Ok(v) = i32::try_from(v) {
            let b = v.to_le_bytes();
            self.put(&[tag | len::ENC_INT32, b[0], b[1], b[2], b[3]])?;
        } else {
            return Ok(false);
        }
        Ok(true)
    }

    /// An integer-valued string (`rdbSaveLongLongAsStringObject`).
    fn int_string(&mut self, v: i64) -> io::Result<()> {
        if !self.try_int(v)? {
            let mut buf = [0u8; MAX_INT_TEXT];
            let text = int_text(v, &mut buf);
            self.len(text.len() as u64)?;
            self.put(text)?;
        }
        Ok(())
    }

    /// A string (`rdbSaveRawString`): integer form for short canonical
    /// integers, LZF when enabled and it saves at least 4 bytes, else raw.
    fn string(&mut self, s: &[u8], compress: bool, lzf_buf: &mut Vec<u8>) -> io::Result<()> {
        if s.len() <= 11 {
            if let Some(v) = parse_canonical_i64(s) {
                if self.try_int(v)? {
                    return Ok(());
                }
            }
        }
        if compress && s.len() > LZF_MIN_LEN {
            lzf_buf.clear();
            if let Some(clen) = lzf::compress_into(s, lzf_buf, s.len() - 4) {
                self.byte((len::ENCVAL << 6) | len::ENC_LZF)?;
                self.len(clen as u64)?;
                self.len(s.len() as u64)?;
                self.put(lzf_buf)?;
                if lzf_buf.capacity() > 1 << 20 {
                    *lzf_buf = Vec::new();
                }
                return Ok(());
            }
        }
        self.len(s.len() as u64)?;
        self.put(s)
    }

    fn element(&mut self, e: Element<'_>, compress: bool, lzf_buf: &mut Vec<u8>) -> io::Result<()> {
        match e {
            Element::Bytes(b) => self.string(b, compress, lzf_buf),
            Element::Int(v) => self.int_string(v),
        }
    }
}

/// Length of an element's text.
fn raw_len(e: Element<'_>) -> usize {
    match e {
        Element::Bytes(b) => b.len(),
        Element::Int(v) => {
            let mut buf = [0u8; MAX_INT_TEXT];
            int_text(v, &mut buf).len()
        }
    }
}

/// Compares elements by their text, as Redis orders equal-score members.
fn cmp_text(a: Element<'_>, b: Element<'_>) -> Ordering {
    let (mut ba, mut bb) = ([0u8; MAX_INT_TEXT], [0u8; MAX_INT_TEXT]);
    let ta = match a {
        Element::Bytes(s) => s,
        Element::Int(v) => int_text(v, &mut ba),
    };
    let tb = match b {
        Element::Bytes(s) => s,
        Element::Int(v) => int_text(v, &mut bb),
    };
    ta.cmp(tb)
}

/// How list elements are grouped into quicklist nodes.
struct NodePlanner {
    fill: i64,
    /// Size and entry count of the node being filled, if any.
    open: Option<(usize, usize)>,
}

enum Placement {
    /// The element goes into the open node.
    Append,
    /// The element starts a new packed node.
    NewPacked,
    /// The element gets a PLAIN node of its own.
    Plain,
}

impl NodePlanner {
    fn new(fill: i64) -> Self {
        NodePlanner {
            fill: fill.max(-(NODE_SIZE_LEVELS.len() as i64)),
            open: None,
        }
    }

    fn allows(&self, node_size: usize, node_count: usize, raw: usize) -> bool {
        let new_size = node_size + raw + NODE_ENTRY_OVERHEAD;
        if self.fill < 0 {
            let level = NODE_SIZE_LEVELS[(-self.fill - 1) as usize];
            if new_size <= level {
                return true;
            }
        }
        new_size <= NODE_SAFETY_LIMIT && (node_count as i64) < self.fill
    }

    fn place(&mut self, e: Element<'_>) -> Placement {
        let raw = raw_len(e);
        if raw >= PLAIN_NODE_THRESHOLD {
            self.open = None;
            return Placement::Plain;
        }
        let size = listpack::entry_size(e);
        match self.open {
            Some((s, c)) if self.allows(s, c, raw) => {
                self.open = Some((s + size, c + 1));
                Placement::Append
            }
            _ => {
                self.open = Some((EMPTY_LISTPACK + size, 1));
                Placement::NewPacked
            }
        }
    }
}

/// Shared by [`RdbWriter`] and [`ObjectEncoder`]: writes objects, each
/// optionally preceded by a key.
struct Core<W> {
    sink: Sink<W>,
    opts: EncodeOptions,
    lzf_buf: Vec<u8>,
    lp: Builder,
    blob: Vec<u8>,
    ints: Vec<i64>,
}

impl<W: Write> Core<W> {
    fn new(out: W, opts: EncodeOptions, checksum: bool) -> Self {
        Core {
            sink: Sink {
                out,
                crc: 0,
                checksum,
                written: 0,
            },
            opts,
            lzf_buf: Vec::new(),
            lp: Builder::new(),
            blob: Vec::new(),
            ints: Vec::new(),
        }
    }

    fn string_out(&mut self, s: &[u8]) -> io::Result<()> {
        self.sink.string(s, self.opts.compress, &mut self.lzf_buf)
    }

    fn element_out(&mut self, e: Element<'_>) -> io::Result<()> {
        self.sink.element(e, self.opts.compress, &mut self.lzf_buf)
    }

    /// Writes the intset built in `self.blob` as a string.
    fn blob_out(&mut self) -> io::Result<()> {
        self.sink
            .string(&self.blob, self.opts.compress, &mut self.lzf_buf)
    }

    /// Finishes the listpack being built and writes it as a string.
    fn listpack_out(&mut self) -> io::Result<()> {
        self.sink
            .string(self.lp.finish(), self.opts.compress, &mut self.lzf_buf)
    }

    fn start(&mut self, type_byte: u8, key: Option<&[u8]>) -> io::Result<()> {
        self.sink.byte(type_byte)?;
        match key {
            Some(k) => self.string_out(k),
            None => Ok(()),
        }
    }

    fn meta(&mut self, meta: &KeyMeta) -> io::Result<()> {
        if let Some(at) = meta.expire_at_ms {
            self.sink.byte(opcodes::EXPIRETIME_MS)?;
            let at = i64::try_from(at).unwrap_or(i64::MAX);
            self.sink.put(&at.to_le_bytes())?;
        }
        if let Some(idle) = meta.lru_idle_s {
            self.sink.byte(opcodes::IDLE)?;
            self.sink.len(idle)?;
        }
        if let Some(freq) = meta.lfu_freq {
            self.sink.put(&[opcodes::FREQ, freq])?;
        }
        Ok(())
    }

    fn string(&mut self, key: Option<&[u8]>, value: Element<'_>) -> io::Result<()> {
        self.start(types::STRING, key)?;
        self.element_out(value)
    }

    fn list<'e, I>(&mut self, key: Option<&[u8]>, len: usize, items: I) -> io::Result<()>
    where
        I: Iterator + Clone,
        I::Item: Into<Element<'e>>,
    {
        if len == 0 {
            return Err(invalid("empty list".into()));
        }
        // Pass 1: count nodes.
        let mut planner = NodePlanner::new(self.opts.limits.list_max_listpack_size);
        let (mut nodes, mut count) = (0u64, 0usize);
        for e in items.clone() {
            count += 1;
            if !matches!(planner.place(e.into()), Placement::Append) {
                nodes += 1;
            }
        }
        check_count("list", len, count)?;
        self.start(types::LIST_QUICKLIST_2, key)?;
        self.sink.len(nodes)?;
        // Pass 2: build and write each node.
        let mut planner = NodePlanner::new(self.opts.limits.list_max_listpack_size);
        let mut written = 0u64;
        let mut open = false;
        for e in items {
            let e: Element<'e> = e.into();
            let placement = planner.place(e);
            if open && !matches!(placement, Placement::Append) {
                self.sink.len(container::PACKED)?;
                self.listpack_out()?;
                written += 1;
                open = false;
            }
            match placement {
                Placement::Plain => {
                    self.sink.len(container::PLAIN)?;
                    self.element_out(e)?;
                    written += 1;
                }
                Placement::NewPacked => {
                    self.lp.reset();
                    self.lp.push(e);
                    open = true;
                }
                Placement::Append if open => self.lp.push(e),
                Placement::Append => return Err(invalid("list changed between passes".into())),
            }
        }
        if open {
            self.sink.len(container::PACKED)?;
            self.listpack_out()?;
            written += 1;
        }
        if written != nodes {
            return Err(invalid("list changed between passes".into()));
        }
        Ok(())
    }

    fn set<'e, I>(&mut self, key: Option<&[u8]>, len: usize, members: I) -> io::Result<()>
    where
        I: Iterator + Clone,
        I::Item: Into<Element<'e>>,
    {
        if len == 0 {
            return Err(invalid("empty set".into()));
        }
        if len <= self.opts.limits.set_max_intset_entries {
            let mut ints = std::mem::take(&mut self.ints);
            ints.clear();
            let all_ints = members.clone().all(|m| {
                let v = match m.into() {
                    Element::Int(v) => Some(v),
                    Element::Bytes(b) => parse_canonical_i64(b),
                };
                v.map(|v| ints.push(v)).is_some()
            });
            if all_ints {
                check_count("set", len, ints.len())?;
                ints.sort_unstable();
                if ints.windows(2).any(|w| w[0] == w[1]) {
                    return Err(invalid("set with duplicate members".into()));
                }
                intset::encode_into(&ints, &mut self.blob);
                self.ints = ints;
                self.start(types::SET_INTSET, key)?;
                return self.blob_out();
            }
            self.ints = ints;
        }
        self.start(types::SET, key)?;
        self.sink.len(len as u64)?;
        let mut count = 0;
        for m in members {
            count += 1;
            if count <= len {
                self.element_out(m.into())?;
            }
        }
        check_count("set", len, count)
    }

    fn hash<'e, I, F, V>(&mut self, key: Option<&[u8]>, len: usize, pairs: I) -> io::Result<()>
    where
        I: Iterator<Item = (F, V)> + Clone,
        F: Into<Element<'e>>,
        V: Into<Element<'e>>,
    {
        if len == 0 {
            return Err(invalid("empty hash".into()));
        }
        let limits = self.opts.limits;
        let small = len <= limits.hash_max_listpack_entries
            && pairs.clone().all(|(f, v)| {
                raw_len(f.into()) <= limits.hash_max_listpack_value
                    && raw_len(v.into()) <= limits.hash_max_listpack_value
            });
        let mut count = 0;
        if small {
            self.lp.reset();
            for (f, v) in pairs {
                count += 1;
                self.lp.push(f.into());
                self.lp.push(v.into());
            }
            check_count("hash", len, count)?;
            self.start(types::HASH_LISTPACK, key)?;
            return self.listpack_out();
        }
        self.start(types::HASH, key)?;
        self.sink.len(len as u64)?;
        for (f, v) in pairs {
            count += 1;
            if count <= len {
                self.element_out(f.into())?;
                self.element_out(v.into())?;
            }
        }
        check_count("hash", len, count)
    }

    fn zset<'e, I, M>(&mut self, key: Option<&[u8]>, len: usize, members: I) -> io::Result<()>
    where
        I: Iterator<Item = (M, f64)> + Clone,
        M: Into<Element<'e>>,
    {
        if len == 0 {
            return Err(invalid("empty sorted set".into()));
        }
        let limits = self.opts.limits;
        let small = len <= limits.zset_max_listpack_entries
            && members
                .clone()
                .all(|(m, _)| raw_len(m.into()) <= limits.zset_max_listpack_value);
        if small {
            // A listpack sorted set must be in (score, member) order.
            let mut sorted: Vec<(Element<'e>, f64)> = Vec::with_capacity(len);
            for (m, s) in members {
                if s.is_nan() {
                    return Err(invalid("sorted set with a NaN score".into()));
                }
                sorted.push((m.into(), s));
            }
            check_count("sorted set", len, sorted.len())?;
            sorted.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| cmp_text(a.0, b.0)));
            self.lp.reset();
            for &(m, s) in &sorted {
                self.lp.push(m);
                match score_as_int(s) {
                    Some(v) if !(s == 0.0 && s.is_sign_negative()) => self.lp.push(Element::Int(v)),
                    _ => self.lp.push(Element::Bytes(score_text(s).as_bytes())),
                }
            }
            self.start(types::ZSET_LISTPACK, key)?;
            return self.listpack_out();
        }
        self.start(types::ZSET_2, key)?;
        self.sink.len(len as u64)?;
        let mut count = 0;
        for (m, s) in members {
            count += 1;
            if s.is_nan() {
                return Err(invalid("sorted set with a NaN score".into()));
            }
            if count <= len {
                self.element_out(m.into())?;
                self.sink.put(&s.to_le_bytes())?;
            }
        }
        check_count("sorted set", len, count)
    }

    fn object(&mut self, key: Option<&[u8]>, obj: &Object) -> io::Result<()> {
        match obj {
            Object::Str(s) => self.string(key, Element::Bytes(s)),
            Object::List(v) => self.list(key, v.len(), v.iter()),
            Object::Set(v) => self.set(key, v.len(), v.iter()),
            Object::Hash(v) => self.hash(key, v.len(), v.iter().map(|(f, v)| (f, v))),
            Object::ZSet(v) => self.zset(key, v.len(), v.iter().map(|(m, s)| (m, *s))),
            Object::Stream(s) => {
                self.start(types::STREAM_LISTPACKS_2, key)?;
                super::stream::write_body(self, s)
            }
        }
    }
}

impl<W: Write> super::stream::Writer for Core<W> {
    fn len(&mut self, n: u64) -> io::Result<()> {
        self.sink.len(n)
    }
    fn raw(&mut self, b: &[u8]) -> io::Result<()> {
        self.sink.put(b)
    }
    fn string(&mut self, s: &[u8]) -> io::Result<()> {
        self.string_out(s)
    }
}

/// Writes an RDB file, item by item, to `W` (use a buffered writer).
pub struct RdbWriter<W: Write> {
    core: Core<W>,
}

impl<W: Write> RdbWriter<W> {
    /// Starts a file: writes the `REDIS0010` header.
    pub fn new(out: W, opts: EncodeOptions) -> io::Result<Self> {
        let mut core = Core::new(out, opts, opts.checksum);
        core.sink.put(format!("REDIS{RDB_VERSION:04}").as_bytes())?;
        Ok(RdbWriter { core })
    }

    /// An AUX field with a string value (e.g. "redis-ver").
    pub fn aux(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        self.core.sink.byte(opcodes::AUX)?;
        self.core.string_out(key)?;
        self.core.string_out(value)
    }

    /// An AUX field with an integer value (e.g. "ctime", "used-mem").
    pub fn aux_int(&mut self, key: &[u8], value: i64) -> io::Result<()> {
        let mut buf = [0u8; MAX_INT_TEXT];
        let text = int_text(value, &mut buf);
        self.aux(key, text)
    }

    /// A function library (FUNCTION2 opcode with its source code).
    pub fn function(&mut self, code: &[u8]) -> io::Result<()> {
        self.core.sink.byte(opcodes::FUNCTION2)?;
        self.core.string_out(code)
    }

    /// Keys that follow belong to database `db`.
    pub fn select_db(&mut self, db: u64) -> io::Result<()> {
        self.core.sink.byte(opcodes::SELECTDB)?;
        self.core.sink.len(db)
    }

    /// Sizing hint for the selected database.
    pub fn resize_db(&mut self, db_size: u64, expires_size: u64) -> io::Result<()> {
        self.core.sink.byte(opcodes::RESIZEDB)?;
        self.core.sink.len(db_size)?;
        self.core.sink.len(expires_size)
    }

    /// A string key (an `Element::Int` value is written as Redis writes
    /// integer-encoded strings).
    pub fn string<'e>(
        &mut self,
        key: &[u8],
        meta: &KeyMeta,
        value: impl Into<Element<'e>>,
    ) -> io::Result<()> {
        self.core.meta(meta)?;
        self.core.string(Some(key), value.into())
    }

    /// A list key of `len` elements, head to tail.
    pub fn list<'e, I>(
        &mut self,
        key: &[u8],
        meta: &KeyMeta,
        len: usize,
        items: I,
    ) -> io::Result<()>
    where
        I: IntoIterator,
        I::IntoIter: Clone,
        I::Item: Into<Element<'e>>,
    {
        self.core.meta(meta)?;
        self.core.list(Some(key), len, items.into_iter())
    }

    /// A set key of `len` distinct members.
    pub fn set<'e, I>(
        &mut self,
        key: &[u8],
        meta: &KeyMeta,
        len: usize,
        members: I,
    ) -> io::Result<()>
    where
        I: IntoIterator,
        I::IntoIter: Clone,
        I::Item: Into<Element<'e>>,
    {
        self.core.meta(meta)?;
        self.core.set(Some(key), len, members.into_iter())
    }

    /// A hash key of `len` distinct fields.
    pub fn hash<'e, I, F, V>(
        &mut self,
        key: &[u8],
        meta: &KeyMeta,
        len: usize,
        pairs: I,
    ) -> io::Result<()>
    where
        I: IntoIterator<Item = (F, V)>,
        I::IntoIter: Clone,
        F: Into<Element<'e>>,
        V: Into<Element<'e>>,
    {
        self.core.meta(meta)?;
        self.core.hash(Some(key), len, pairs.into_iter())
    }

    /// A sorted set key of `len` distinct members with their scores (any
    /// order; descending score order loads fastest into Redis's skiplist).
    pub fn zset<'e, I, M>(
        &mut self,
        key: &[u8],
        meta: &KeyMeta,
        len: usize,
        members: I,
    ) -> io::Result<()>
    where
        I: IntoIterator<Item = (M, f64)>,
        I::IntoIter: Clone,
        M: Into<Element<'e>>,
    {
        self.core.meta(meta)?;
        self.core.zset(Some(key), len, members.into_iter())
    }

    /// A key holding a decoded [`Object`].
    pub fn object(&mut self, key: &[u8], meta: &KeyMeta, obj: &Object) -> io::Result<()> {
        self.core.meta(meta)?;
        self.core.object(Some(key), obj)
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.core.sink.written
    }

    /// Writes EOF and the checksum (zero when checksums are off), flushes,
    /// and returns the sink.
    pub fn finish(mut self) -> io::Result<W> {
        self.core.sink.byte(opcodes::EOF)?;
        let crc = if self.core.sink.checksum {
            self.core.sink.crc
        } else {
            0
        };
        self.core.sink.put(&crc.to_le_bytes())?;
        self.core.sink.out.flush()?;
        Ok(self.core.sink.out)
    }
}

/// Encodes single objects (type byte + body, no key) into `Vec`s, the
/// serialized part of a DUMP payload.
pub struct ObjectEncoder {
    core: Core<Vec<u8>>,
}

impl Default for ObjectEncoder {
    fn default() -> Self {
        Self::new(EncodeOptions::default())
    }
}

impl ObjectEncoder {
    pub fn new(opts: EncodeOptions) -> Self {
        ObjectEncoder {
            core: Core::new(Vec::new(), opts, false),
        }
    }

    fn take(&mut self, r: io::Result<()>) -> io::Result<Vec<u8>> {
        let out = std::mem::take(&mut self.core.sink.out);
        r.map(|()| out)
    }

    pub fn string<'e>(&mut self, value: impl Into<Element<'e>>) -> io::Result<Vec<u8>> {
        let r = self.core.string(None, value.into());
        self.take(r)
    }

    /// A function library record (FUNCTION2 opcode and its code), as in
    /// a FUNCTION DUMP payload.
    pub fn function(&mut self, code: &[u8]) -> io::Result<Vec<u8>> {
        let r = self
            .core
            .sink
            .byte(opcodes::FUNCTION2)
            .and_then(|()| self.core.string_out(code));
        self.take(r)
    }

    pub fn list<'e, I>(&mut self, len: usize, items: I) -> io::Result<Vec<u8>>
    where
        I: IntoIterator,
        I::IntoIter: Clone,
        I::Item: Into<Element<'e>>,
    {
        let r = self.core.list(None, len, items.into_iter());
        self.take(r)
    }

    pub fn set<'e, I>(&mut self, len: usize, members: I) -> io::Result<Vec<u8>>
    where
        I: IntoIterator,
        I::IntoIter: Clone,
        I::Item: Into<Element<'e>>,
    {
        let r = self.core.set(None, len, members.into_iter());
        self.take(r)
    }

    pub fn hash<'e, I, F, V>(&mut self, len: usize, pairs: I) -> io::Result<Vec<u8>>
    where
        I: IntoIterator<Item = (F, V)>,
        I::IntoIter: Clone,
        F: Into<Element<'e>>,
        V: Into<Element<'e>>,
    {
        let r = self.core.hash(None, len, pairs.into_iter());
        self.take(r)
    }

    pub fn zset<'e, I, M>(&mut self, len: usize, members: I) -> io::Result<Vec<u8>>
    where
        I: IntoIterator<Item = (M, f64)>,
        I::IntoIter: Clone,
        M: Into<Element<'e>>,
    {
        let r = self.core.zset(None, len, members.into_iter());
        self.take(r)
    }

    pub fn object(&mut self, obj: &Object) -> io::Result<Vec<u8>> {
        let r = self.core.object(None, obj);
        self.take(r)
    }
}
