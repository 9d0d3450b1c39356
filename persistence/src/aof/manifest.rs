//! The AOF manifest of Redis 7's multi-part AOF: its in-memory form, the file
//! naming rules, and the text format (parsed and formatted exactly as
//! Redis 7.0's aof.c does, including sdssplitargs quoting and the 1024-byte
//! line limit). Writing it to disk atomically lives in `dir.rs`.

use std::fmt;

/// Longest manifest line Redis reads in one go (`MANIFEST_MAX_LINE`).
pub const MANIFEST_MAX_LINE_BYTES: usize = 1024;

const BASE_SUFFIX: &str = ".base";
const INCR_SUFFIX: &str = ".incr";
const RDB_FORMAT_SUFFIX: &str = ".rdb";
const AOF_FORMAT_SUFFIX: &str = ".aof";
const MANIFEST_SUFFIX: &str = ".manifest";
const TEMP_PREFIX: &str = "temp-";

/// The role of a file in the manifest (`type b|h|i`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AofFileKind {
    Base,
    History,
    Incr,
}

impl AofFileKind {
    /// The one-letter code Redis writes after `type`.
    pub fn code(self) -> u8 {
        match self {
            AofFileKind::Base => b'b',
            AofFileKind::History => b'h',
            AofFileKind::Incr => b'i',
        }
    }
}

/// How a new base file is encoded, which decides its suffix
/// (`aof-use-rdb-preamble yes` → `.base.rdb`, no → `.base.aof`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseFormat {
    Rdb,
    Resp,
}

/// One manifest line. File names are bytes: Redis allows any byte the
/// quoting rules can carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    pub file_name: Vec<u8>,
    pub seq: i64,
    pub kind: AofFileKind,
}

/// The manifest as Redis keeps it: at most one base, history files, and the
/// incr files in increasing sequence order, plus the sequence counters used
/// to name the next base and incr files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<ManifestEntry>,
    pub history: Vec<ManifestEntry>,
    pub incrs: Vec<ManifestEntry>,
    pub curr_base_seq: i64,
    pub curr_incr_seq: i64,
}

/// A manifest that Redis would refuse to load, with Redis's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    /// 1-based line number (counting `fgets` chunks as Redis does), when
    /// the error is about a line.
    pub line_number: Option<usize>,
    /// The offending line, trimmed, when Redis would print it.
    pub line: Option<String>,
    /// Redis's error text, e.g. "Invalid AOF manifest file format".
    pub message: &'static str,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.line_number, &self.line) {
            (Some(n), Some(line)) => write!(
                f,
                "Reading the manifest file, at line {n}: '{line}': {}",
                self.message
            ),
            _ => f.write_str(self.message),
        }
    }
}

impl std::error::Error for ManifestError {}

/// `<appendfilename>.manifest`
pub fn manifest_file_name(aof_file_name: &str) -> String {
    format!("{aof_file_name}{MANIFEST_SUFFIX}")
}

/// `temp-<appendfilename>.manifest`, the name the manifest is written
/// under before it is renamed into place.
pub fn temp_manifest_file_name(aof_file_name: &str) -> String {
    format!("{TEMP_PREFIX}{aof_file_name}{MANIFEST_SUFFIX}")
}

/// `<appendfilename>.<seq>.base.rdb` or `.base.aof`.
pub fn base_file_name(aof_file_name: &str, seq: i64, format: BaseFormat) -> String {
    let format_suffix = match format {
        BaseFormat::Rdb => RDB_FORMAT_SUFFIX,
        BaseFormat::Resp => AOF_FORMAT_SUFFIX,
    };
    format!("{aof_file_name}.{seq}{BASE_SUFFIX}{format_suffix}")
}

/// `<appendfilename>.<seq>.incr.aof`.
pub fn incr_file_name(aof_file_name: &str, seq: i64) -> String {
    format!("{aof_file_name}.{seq}{INCR_SUFFIX}{AOF_FORMAT_SUFFIX}")
}

impl Manifest {
    /// True when the manifest names neither a base nor an incr file.
    pub fn is_empty_of_data_files(&self) -> bool {
        self.base.is_none() && self.incrs.is_empty()
    }

    /// Adds a new incr entry named after the next incr sequence number
    /// (Redis's `getNewIncrAofName`) and returns it.
    pub fn add_new_incr(&mut self, aof_file_name: &str) -> &ManifestEntry {
        self.curr_incr_seq += 1;
        let seq = self.curr_incr_seq;
        self.incrs.push(ManifestEntry {
            file_name: incr_file_name(aof_file_name, seq).into_bytes(),
            seq,
            kind: AofFileKind::Incr,
        });
        let last = self.incrs.len() - 1;
        &self.incrs[last]
    }

    /// Makes a new base entry named after the next base sequence number,
    /// moving the previous base (if any) to the front of the history list
    /// (Redis's `getNewBaseFileNameAndMarkPreAsHistory`).
    pub fn replace_base(&mut self, aof_file_name: &str, format: BaseFormat) -> &ManifestEntry {
        if let Some(mut old) = self.base.take() {
            old.kind = AofFileKind::History;
            self.history.insert(0, old);
        }
        self.curr_base_seq += 1;
        let seq = self.curr_base_seq;
        self.base.insert(ManifestEntry {
            file_name: base_file_name(aof_file_name, seq, format).into_bytes(),
            seq,
            kind: AofFileKind::Base,
        })
    }

    /// Moves every incr file with a sequence number below `keep_from_seq`
    /// to the front of the history list, keeping their order (the result
    /// Redis's `markRewrittenIncrAofAsHistory` produces).
    pub fn retire_incrs_before(&mut self, keep_from_seq: i64) {
        let (retired, kept): (Vec<ManifestEntry>, Vec<ManifestEntry>) =
            std::mem::take(&mut self.incrs)
                .into_iter()
                .partition(|entry| entry.seq < keep_from_seq);
        self.incrs = kept;
        let mut history: Vec<ManifestEntry> = retired
            .into_iter()
            .map(|mut entry| {
                entry.kind = AofFileKind::History;
                entry
            })
            .collect();
        history.append(&mut self.history);
        self.history = history;
    }

    /// The manifest text, byte-identical to Redis's `getAofManifestAsString`:
    /// base first, then history, then incr files.
    pub fn format(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let entries = self
            .base
            .iter()
            .chain(self.history.iter())
            .chain(self.incrs.iter());
        for entry in entries {
            out.extend_from_slice(b"file ");
            if needs_repr(&entry.file_name) {
                push_repr(&mut out, &entry.file_name);
            } else {
                out.extend_from_slice(&entry.file_name);
            }
            out.extend_from_slice(format!(" seq {} type ", entry.seq).as_bytes());
            out.push(entry.kind.code());
            out.push(b'\n');
        }
        out
    }

    /// Parses manifest text exactly as Redis's `aofLoadManifestFromFile`:
    /// same accepted inputs, same error messages.
    pub fn parse(text: &[u8]) -> Result<Manifest, ManifestError> {
        let mut manifest = Manifest::default();
        let mut max_incr_seq: i64 = 0;
        let mut line_number = 0usize;
        let mut rest = text;
        loop {
            let Some(chunk) = next_fgets_chunk(&mut rest) else {
                if line_number == 0 {
                    return Err(error(None, None, "Found an empty AOF manifest"));
                }
                return Ok(manifest);
            };
            line_number += 1;
            // fgets fills a C string: whatever follows a NUL is invisible.
            let c_str = match chunk.iter().position(|&b| b == 0) {
                Some(nul) => &chunk[..nul],
                None => chunk,
            };
            if c_str.first() == Some(&b'#') {
                continue;
            }
            if !c_str.contains(&b'\n') {
                return Err(error(
                    None,
                    None,
                    "The AOF manifest file contains too long line",
                ));
            }
            let line = trim(c_str, b" \t\r\n");
            let shown = Some(String::from_utf8_lossy(line).into_owned());
            let at = |message| error(Some(line_number), shown.clone(), message);
            if line.is_empty() {
                return Err(at("Invalid AOF manifest file format"));
            }
            let args = match split_args(line) {
                Some(args) if args.len() >= 6 && args.len() % 2 == 0 => args,
                _ => return Err(at("Invalid AOF manifest file format")),
            };
            let mut file_name: Option<Vec<u8>> = None;
            let mut seq: i64 = 0;
            let mut kind_code: u8 = 0;
            for pair in args.chunks_exact(2) {
                let (key, value) = (&pair[0], &pair[1]);
                if key.eq_ignore_ascii_case(b"file") {
                    if value.contains(&b'/') || value.contains(&b'\\') {
                        return Err(at("File can't be a path, just a filename"));
                    }
                    file_name = Some(c_string(value).to_vec());
                } else if key.eq_ignore_ascii_case(b"seq") {
                    seq = atoll(value);
                } else if key.eq_ignore_ascii_case(b"type") {
                    kind_code = value.first().copied().unwrap_or(0);
                }
            }
            let file_name = match file_name {
                Some(name) if seq != 0 && kind_code != 0 => name,
                _ => return Err(at("Invalid AOF manifest file format")),
            };
            match kind_code {
                b'b' => {
                    if manifest.base.is_some() {
                        return Err(at("Found duplicate base file information"));
                    }
                    manifest.curr_base_seq = seq;
                    manifest.base = Some(ManifestEntry {
                        file_name,
                        seq,
                        kind: AofFileKind::Base,
                    });
                }
                b'h' => manifest.history.push(ManifestEntry {
                    file_name,
                    seq,
                    kind: AofFileKind::History,
                }),
                b'i' => {
                    if seq <= max_incr_seq {
                        return Err(at("Found a non-monotonic sequence number"));
                    }
                    max_incr_seq = seq;
                    manifest.curr_incr_seq = seq;
                    manifest.incrs.push(ManifestEntry {
                        file_name,
                        seq,
                        kind: AofFileKind::Incr,
                    });
                }
                _ => return Err(at("Unknown AOF file type")),
            }
        }
    }
}

fn error(line_number: Option<usize>, line: Option<String>, message: &'static str) -> ManifestError {
    ManifestError {
        line_number,
        line,
        message,
    }
}

/// What one `fgets(buf, MANIFEST_MAX_LINE + 1, fp)` call returns: up to and
/// including the next newline, at most 1024 bytes.
fn next_fgets_chunk<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    if rest.is_empty() {
        return None;
    }
    let limit = rest.len().min(MANIFEST_MAX_LINE_BYTES);
    let end = match rest[..limit].iter().position(|&b| b == b'\n') {
        Some(newline) => newline + 1,
        None => limit,
    };
    let (chunk, tail) = rest.split_at(end);
    *rest = tail;
    Some(chunk)
}

/// A C string's view of bytes: everything before the first NUL.
fn c_string(bytes: &[u8]) -> &[u8] {
    match bytes.iter().position(|&b| b == 0) {
        Some(nul) => &bytes[..nul],
        None => bytes,
    }
}

fn trim<'a>(mut bytes: &'a [u8], set: &[u8]) -> &'a [u8] {
    while let Some((first, tail)) = bytes.split_first() {
        if !set.contains(first) {
            break;
        }
        bytes = tail;
    }
    while let Some((last, head)) = bytes.split_last() {
        if !set.contains(last) {
            break;
        }
        bytes = head;
    }
    bytes
}

/// C's `isspace` in the "C" locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// C's `isprint` in the "C" locale.
fn is_c_print(b: u8) -> bool {
    (0x20..=0x7e).contains(&b)
}

/// glibc `atoll`: optional blanks, optional sign, decimal digits; stops at
/// the first other byte; saturates on overflow as `strtoll` does.
fn atoll(bytes: &[u8]) -> i64 {
    let mut i = 0;
    while i < bytes.len() && is_c_space(bytes[i]) {
        i += 1;
    }
    let negative = match bytes.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut value: i64 = 0;
    while let Some(&digit @ b'0'..=b'9') = bytes.get(i) {
        let d = i64::from(digit - b'0');
        value = if negative {
            value.saturating_mul(10).saturating_sub(d)
        } else {
            value.saturating_mul(10).saturating_add(d)
        };
        i += 1;
    }
    value
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Redis's `sdssplitargs` over a line without NUL bytes: blanks separate
/// tokens; "double quotes" take \xHH and \n \r \t \b \a escapes; 'single
/// quotes' take \'; a closing quote must be followed by a blank or the end.
/// None for unbalanced quotes, as Redis returns NULL.
fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut args = Vec::new();
    let mut p = 0usize;
    loop {
        while p < line.len() && is_c_space(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return Some(args);
        }
        let mut current = Vec::new();
        let (mut in_double, mut in_single) = (false, false);
        loop {
            let c = at(p);
            if in_double {
                if c == b'\\' && at(p + 1) == b'x' {
                    if let (Some(hi), Some(lo)) = (hex_value(at(p + 2)), hex_value(at(p + 3))) {
                        current.push(hi * 16 + lo);
                        p += 4;
                        continue;
                    }
                }
                if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    current.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_c_space(at(p + 1)) {
                        return None;
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else if in_single {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    current.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_c_space(at(p + 1)) {
                        return None;
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        if c != 0 {
                            p += 1;
                        }
                        break;
                    }
                    b'"' => in_double = true,
                    b'\'' => in_single = true,
                    other => current.push(other),
                }
            }
            p += 1;
        }
        args.push(current);
    }
}

/// Redis's `sdsneedsrepr`.
fn needs_repr(name: &[u8]) -> bool {
    name.iter()
        .any(|&b| b == b'\\' || b == b'"' || !is_c_print(b) || is_c_space(b))
}

/// Redis's `sdscatrepr`: the name in double quotes with C-style escapes.
fn push_repr(out: &mut Vec<u8>, name: &[u8]) {
    out.push(b'"');
    for &b in name {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            b if is_c_print(b) => out.push(b),
            b => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, seq: i64, kind: AofFileKind) -> ManifestEntry {
        ManifestEntry {
            file_name: name.as_bytes().to_vec(),
            seq,
            kind,
        }
    }

    fn parse_err(text: &str) -> ManifestError {
        match Manifest::parse(text.as_bytes()) {
            Err(e) => e,
            Ok(m) => panic!("expected an error for {text:?}, got {m:?}"),
        }
    }

    #[test]
    fn names_follow_redis_rules() {
        assert_eq!(
            manifest_file_name("appendonly.aof"),
            "appendonly.aof.manifest"
        );
        assert_eq!(
            temp_manifest_file_name("appendonly.aof"),
            "temp-appendonly.aof.manifest"
        );
        assert_eq!(
            base_file_name("appendonly.aof", 1, BaseFormat::Rdb),
            "appendonly.aof.1.base.rdb"
        );
        assert_eq!(
            base_file_name("appendonly.aof", 2, BaseFormat::Resp),
            "appendonly.aof.2.base.aof"
        );
        assert_eq!(
            incr_file_name("appendonly.aof", 7),
            "appendonly.aof.7.incr.aof"
        );
    }

    #[test]
    fn parse_and_format_round_trip_the_redis_example() {
        let text = "file appendonly.aof.2.base.rdb seq 2 type b\n\
                    file appendonly.aof.1.incr.aof seq 1 type h\n\
                    file appendonly.aof.2.incr.aof seq 2 type h\n\
                    file appendonly.aof.4.incr.aof seq 4 type i\n\
                    file appendonly.aof.5.incr.aof seq 5 type i\n";
        let m = Manifest::parse(text.as_bytes()).unwrap();
        assert_eq!(
            m.base,
            Some(entry("appendonly.aof.2.base.rdb", 2, AofFileKind::Base))
        );
        assert_eq!(m.history.len(), 2);
        assert_eq!(m.incrs.len(), 2);
        assert_eq!((m.curr_base_seq, m.curr_incr_seq), (2, 5));
        assert_eq!(m.format(), text.as_bytes());
    }

    #[test]
    fn format_orders_base_history_incr_whatever_the_input_order() {
        let text =
            "file a.1.incr.aof seq 1 type i\nfile h seq 9 type h\nfile a.1.base.rdb seq 1 type b\n";
        let m = Manifest::parse(text.as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8(m.format()).unwrap(),
            "file a.1.base.rdb seq 1 type b\nfile h seq 9 type h\nfile a.1.incr.aof seq 1 type i\n"
        );
    }

    #[test]
    fn parse_accepts_comments_case_insensitive_keys_extra_pairs_and_any_order() {
        let text = "# a comment\nFILE x seq 3 TYPE i  extra  field \n\ttype b seq 1 file y\r\n";
        let m = Manifest::parse(text.as_bytes()).unwrap();
        assert_eq!(m.incrs, vec![entry("x", 3, AofFileKind::Incr)]);
        assert_eq!(m.base, Some(entry("y", 1, AofFileKind::Base)));
        // Only comment lines: a valid, empty manifest.
        assert_eq!(
            Manifest::parse(b"# nothing\n").unwrap(),
            Manifest::default()
        );
    }

    #[test]
    fn quoted_names_round_trip_byte_identically() {
        let names: [&[u8]; 5] = [
            b"with space",
            b"quote\"d",
            b"\n\r\t\x07\x08",
            b"\xff\x01\x0b",
            b"plain",
        ];
        for name in names {
            let m = Manifest {
                incrs: vec![ManifestEntry {
                    file_name: name.to_vec(),
                    seq: 1,
                    kind: AofFileKind::Incr,
                }],
                curr_incr_seq: 1,
                ..Manifest::default()
            };
            let text = m.format();
            let back = Manifest::parse(&text).unwrap();
            assert_eq!(back, m, "{}", String::from_utf8_lossy(&text));
            assert_eq!(back.format(), text);
        }
        let m = Manifest {
            base: Some(ManifestEntry {
                file_name: b"a b\xfe".to_vec(),
                seq: 1,
                kind: AofFileKind::Base,
            }),
            curr_base_seq: 1,
            ..Manifest::default()
        };
        assert_eq!(m.format(), b"file \"a b\\xfe\" seq 1 type b\n");
        // Redis formats a backslash as an escape, but refuses it on load as
        // a path separator: such a name does not survive a restart.
        let m = Manifest {
            base: Some(ManifestEntry {
                file_name: b"a\\b".to_vec(),
                seq: 1,
                kind: AofFileKind::Base,
            }),
            curr_base_seq: 1,
            ..Manifest::default()
        };
        assert_eq!(m.format(), b"file \"a\\\\b\" seq 1 type b\n");
        assert_eq!(
            Manifest::parse(&m.format()).unwrap_err().message,
            "File can't be a path, just a filename"
        );
    }

    #[test]
    fn split_args_follows_sdssplitargs() {
        let split = |s: &[u8]| split_args(s);
        assert_eq!(split(b"a  b"), Some(vec![b"a".to_vec(), b"b".to_vec()]));
        assert_eq!(
            split(b"\"a\\x41\\n\" 'it\\'s'"),
            Some(vec![b"aA\n".to_vec(), b"it's".to_vec()])
        );
        assert_eq!(split(b"\"\\x4g\""), Some(vec![b"x4g".to_vec()]));
        assert_eq!(split(b"\"unterminated"), None);
        assert_eq!(split(b"'unterminated"), None);
        assert_eq!(split(b"\"a\"b"), None);
        assert_eq!(split(b"'a'b"), None);
        assert_eq!(split(b"a\x0bb"), Some(vec![b"a\x0bb".to_vec()]));
        assert_eq!(split(b"x\"y\""), Some(vec![b"xy".to_vec()]));
    }

    #[test]
    fn every_parse_error_has_redis_text() {
        assert_eq!(parse_err("").message, "Found an empty AOF manifest");
        assert_eq!(
            parse_err("file a seq 1 type b").message,
            "The AOF manifest file contains too long line"
        );
        let long = format!("file {} seq 1 type b\n", "x".repeat(1100));
        assert_eq!(
            parse_err(&long).message,
            "The AOF manifest file contains too long line"
        );
        assert_eq!(
            parse_err("file a\0 seq 1 type b\n").message,
            "The AOF manifest file contains too long line"
        );
        let e = parse_err("file a seq 1 type b\n   \n");
        assert_eq!(
            (e.message, e.line_number),
            ("Invalid AOF manifest file format", Some(2))
        );
        assert_eq!(
            parse_err("file a seq 1\n").message,
            "Invalid AOF manifest file format"
        );
        assert_eq!(
            parse_err("file a seq 1 type b x\n").message,
            "Invalid AOF manifest file format"
        );
        assert_eq!(
            parse_err("file \"a seq 1 type b\n").message,
            "Invalid AOF manifest file format"
        );
        assert_eq!(
            parse_err("file a seq 0 type b\n").message,
            "Invalid AOF manifest file format"
        );
        assert_eq!(
            parse_err("file a seq x type b\n").message,
            "Invalid AOF manifest file format"
        );
        assert_eq!(
            parse_err("file a seq 1 type \"\"\n").message,
            "Invalid AOF manifest file format"
        );
        assert_eq!(
            parse_err("name a seq 1 type b\n").message,
            "Invalid AOF manifest file format"
        );
        assert_eq!(
            parse_err("file dir/a seq 1 type b\n").message,
            "File can't be a path, just a filename"
        );
        assert_eq!(
            parse_err("file dir\\\\a seq 1 type b\n").message,
            "File can't be a path, just a filename"
        );
        assert_eq!(
            parse_err("file \"d\\\\a\" seq 1 type b\n").message,
            "File can't be a path, just a filename"
        );
        assert_eq!(
            parse_err("file a seq 1 type b\nfile b seq 2 type b\n").message,
            "Found duplicate base file information"
        );
        let e = parse_err("file a seq 2 type i\nfile b seq 2 type i\n");
        assert_eq!(
            (e.message, e.line_number),
            ("Found a non-monotonic sequence number", Some(2))
        );
        assert_eq!(e.line.as_deref(), Some("file b seq 2 type i"));
        assert_eq!(
            parse_err("file a seq -1 type i\n").message,
            "Found a non-monotonic sequence number"
        );
        assert_eq!(
            parse_err("file a seq 1 type x\n").message,
            "Unknown AOF file type"
        );
    }

    #[test]
    fn a_long_comment_continues_as_a_new_line_like_fgets() {
        // 1024 bytes of comment, then the rest of the same physical line is
        // read as its own line by fgets and must parse on its own.
        let text = format!("#{}file a seq 1 type b\n", "c".repeat(1023));
        let m = Manifest::parse(text.as_bytes()).unwrap();
        assert_eq!(m.base, Some(entry("a", 1, AofFileKind::Base)));
    }

    #[test]
    fn seq_parses_like_atoll() {
        assert_eq!(atoll(b"12abc"), 12);
        assert_eq!(atoll(b" -5"), -5);
        assert_eq!(atoll(b"+7"), 7);
        assert_eq!(atoll(b"99999999999999999999"), i64::MAX);
        assert_eq!(atoll(b"-99999999999999999999"), i64::MIN);
        assert_eq!(atoll(b""), 0);
        let m = Manifest::parse(b"file a seq 3x type hist\n").unwrap();
        assert_eq!(m.history, vec![entry("a", 3, AofFileKind::History)]);
    }

    #[test]
    fn new_names_and_history_moves_match_redis() {
        let mut m = Manifest::parse(
            b"file ap.1.base.rdb seq 1 type b\nfile ap.0.incr.aof seq 9 type h\nfile ap.1.incr.aof seq 1 type i\nfile ap.2.incr.aof seq 2 type i\n",
        )
        .unwrap();
        assert_eq!(m.add_new_incr("ap").file_name, b"ap.3.incr.aof");
        assert_eq!(
            m.replace_base("ap", BaseFormat::Rdb).file_name,
            b"ap.2.base.rdb"
        );
        m.retire_incrs_before(3);
        assert_eq!(
            String::from_utf8(m.format()).unwrap(),
            "file ap.2.base.rdb seq 2 type b\n\
             file ap.1.incr.aof seq 1 type h\n\
             file ap.2.incr.aof seq 2 type h\n\
             file ap.1.base.rdb seq 1 type h\n\
             file ap.0.incr.aof seq 9 type h\n\
             file ap.3.incr.aof seq 3 type i\n"
        );
    }
}
