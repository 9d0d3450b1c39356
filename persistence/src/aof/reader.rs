//! Reading an AOF file when loading: tells an RDB-encoded file (base file or
//! old RDB-preamble AOF) from a RESP one, then yields each command's argv
//! with its byte offsets, skipping `#...` annotation lines. A file that
//! ends inside a command, or inside MULTI without EXEC, is *truncated* (with
//! the offset to cut it at, for `aof-load-truncated yes`); a byte that
//! cannot belong to a valid command is *corruption* (with its offset).
//! Framing is checked as strictly as redis-check-aof checks it. Lengths are
//! bounded by `ReaderLimits` and memory grows only with bytes actually read.

use std::fmt;
use std::io::{self, BufRead};

/// Redis's `AOF_ANNOTATION_LINE_MAX_LEN`: an annotation line, newline
/// included, is shorter than this.
pub const ANNOTATION_LINE_MAX_BYTES: usize = 1024;

/// `*<count>\r\n` and `$<len>\r\n` lines: a prefix, at most 20 digits, CRLF.
const LENGTH_LINE_MAX_BYTES: usize = 23;

/// How a file starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Zero bytes.
    Empty,
    /// Starts with `REDIS`: an RDB base file, or an old AOF with an RDB
    /// preamble. Load it with the RDB reader, then (for the old layout)
    /// continue with a `CommandReader` at the offset where the RDB ended.
    RdbPreamble,
    /// RESP commands.
    Resp,
}

/// Classifies a file from its first bytes (at least 5, or the whole file
/// when shorter), as Redis's loader does.
pub fn sniff_format(head: &[u8]) -> FileFormat {
    if head.is_empty() {
        FileFormat::Empty
    } else if head.starts_with(b"REDIS") {
        FileFormat::RdbPreamble
    } else {
        FileFormat::Resp
    }
}

/// Bounds checked before anything is allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderLimits {
    /// Most arguments in one command (Redis parses the count into an int).
    pub max_arg_count: u64,
    /// Longest argument (the server passes its `proto-max-bulk-len`).
    pub max_bulk_bytes: u64,
}

impl Default for ReaderLimits {
    fn default() -> ReaderLimits {
        ReaderLimits {
            max_arg_count: i32::MAX as u64,
            max_bulk_bytes: 512 * 1024 * 1024,
        }
    }
}

/// One command read from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadCommand {
    pub argv: Vec<Vec<u8>>,
    /// Offset of its `*`.
    pub start_offset: u64,
    /// Offset just past its last CRLF.
    pub end_offset: u64,
}

/// Why reading stopped before a clean end of file.
#[derive(Debug)]
pub enum ReadError {
    /// The file ends inside a command, inside an annotation line, or inside
    /// MULTI without EXEC. Cutting the file at `valid_up_to` (just past the
    /// last complete command outside a transaction) leaves a valid file.
    Truncated {
        valid_up_to: u64,
        reason: &'static str,
    },
    /// A byte at `offset` cannot belong to a valid AOF.
    Corrupt {
        offset: u64,
        valid_up_to: u64,
        reason: String,
    },
    Io(io::Error),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Truncated {
                valid_up_to,
                reason,
            } => {
                write!(
                    f,
                    "truncated AOF ({reason}): last valid command ends at offset {valid_up_to}"
                )
            }
            ReadError::Corrupt { offset, reason, .. } => {
                write!(f, "bad AOF format at offset {offset}: {reason}")
            }
            ReadError::Io(e) => write!(f, "error reading the AOF: {}", super::errno_text(e)),
        }
    }
}

impl std::error::Error for ReadError {}

enum LineEnd {
    Complete,
    Eof,
    TooLong,
}

/// Iterates the commands of a RESP AOF (or of the tail after an RDB
/// preamble).
pub struct CommandReader<R> {
    inner: R,
    limits: ReaderLimits,
    offset: u64,
    valid_up_to: u64,
    /// `valid_up_to` when the open MULTI was read.
    multi_start: Option<u64>,
    finished: bool,
}

/// Largest bulk buffer allocated before its bytes are seen.
const PREALLOC_MAX_BYTES: usize = 1 << 20;

/// Append up to `len` bytes from `r` to `out`, copying straight from the
/// reader's buffer; returns how many were read (fewer only at end of input).
fn read_up_to<R: BufRead>(r: &mut R, out: &mut Vec<u8>, len: u64) -> std::io::Result<usize> {
    let mut left = len as usize;
    let mut got = 0;
    while left > 0 {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            break;
        }
        let n = buf.len().min(left);
        out.extend_from_slice(&buf[..n]);
        r.consume(n);
        left -= n;
        got += n;
    }
    Ok(got)
}

impl<R: BufRead> CommandReader<R> {
    /// `start_offset` is the file offset `inner` is positioned at: 0, or
    /// where an RDB preamble ended.
    pub fn new(inner: R, start_offset: u64, limits: ReaderLimits) -> CommandReader<R> {
        CommandReader {
            inner,
            limits,
            offset: start_offset,
            valid_up_to: start_offset,
            multi_start: None,
            finished: false,
        }
    }

    /// Bytes consumed so far, as a file offset.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// End of the last complete command outside a transaction.
    pub fn valid_up_to(&self) -> u64 {
        self.valid_up_to
    }

    /// The next command; `Ok(None)` at a clean end of file. After an error
    /// the reader returns `Ok(None)`.
    pub fn next_command(&mut self) -> Result<Option<ReadCommand>, ReadError> {
        if self.finished {
            return Ok(None);
        }
        let result = self.read_next();
        if !matches!(result, Ok(Some(_))) {
            self.finished = true;
        }
        result
    }

    fn read_next(&mut self) -> Result<Option<ReadCommand>, ReadError> {
        let mut line = Vec::new();
        loop {
            let start = self.offset;
            let first = match self.peek_byte()? {
                None => {
                    return match self.multi_start {
                        Some(before_multi) => Err(ReadError::Truncated {
                            valid_up_to: before_multi,
                            reason: "MULTI without EXEC",
                        }),
                        None => Ok(None),
                    };
                }
                Some(b) => b,
            };
            match first {
                b'#' => match self.read_line(ANNOTATION_LINE_MAX_BYTES - 1, &mut line)? {
                    LineEnd::Complete => continue,
                    LineEnd::Eof => return Err(self.truncated("end of file inside an annotation")),
                    LineEnd::TooLong => {
                        return Err(self.corrupt(start, "annotation line too long".into()))
                    }
                },
                b'*' => return self.read_command(start, &mut line).map(Some),
                other => {
                    return Err(self.corrupt(
                        start,
                        format!("expected '*' or '#', got byte 0x{other:02x}"),
                    ))
                }
            }
        }
    }

    fn read_command(&mut self, start: u64, line: &mut Vec<u8>) -> Result<ReadCommand, ReadError> {
        let argc = self.read_length(b'*', line)?;
        if argc == 0 || argc > self.limits.max_arg_count {
            return Err(self.corrupt(start, format!("invalid argument count {argc}")));
        }
        let mut argv = Vec::with_capacity(argc.min(64) as usize);
        for _ in 0..argc {
            let bulk_start = self.offset;
            let len = self.read_length(b'$', line)?;
            if len > self.limits.max_bulk_bytes {
                return Err(self.corrupt(bulk_start, format!("bulk length {len} over the limit")));
            }
            // Sized up front for ordinary lengths (one allocation, no
            // probing reads); a huge claimed length grows only as its bytes
            // actually arrive.
            let mut arg = Vec::with_capacity((len as usize).min(PREALLOC_MAX_BYTES));
            let got = read_up_to(&mut self.inner, &mut arg, len).map_err(ReadError::Io)?;
            self.offset += got as u64;
            if (got as u64) < len {
                return Err(self.truncated("end of file inside a bulk string"));
            }
            self.expect_crlf()?;
            argv.push(arg);
        }
        let end = self.offset;
        let name = argv.first().map(Vec::as_slice).unwrap_or_default();
        if name.eq_ignore_ascii_case(b"multi") {
            if self.multi_start.is_none() {
                self.multi_start = Some(self.valid_up_to);
            }
        } else if name.eq_ignore_ascii_case(b"exec") && self.multi_start.is_some() {
            self.multi_start = None;
            self.valid_up_to = end;
        } else if self.multi_start.is_none() {
            self.valid_up_to = end;
        }
        Ok(ReadCommand {
            argv,
            start_offset: start,
            end_offset: end,
        })
    }

    /// Reads `<prefix><digits>\r\n`, telling an incomplete line at end of
    /// file (truncated) from a wrong byte (corrupt).
    fn read_length(&mut self, prefix: u8, line: &mut Vec<u8>) -> Result<u64, ReadError> {
        let start = self.offset;
        let end = self.read_line(LENGTH_LINE_MAX_BYTES, line)?;
        let bad = |i: usize, what: &str| (start + i as u64, what.to_string());
        let check = (|| {
            if line.is_empty() {
                return Ok(());
            }
            if line.first() != Some(&prefix) {
                return Err(bad(0, "unexpected prefix"));
            }
            let digits = line[1..].iter().take_while(|b| b.is_ascii_digit()).count();
            let after = 1 + digits;
            if after < line.len() && (digits == 0 || line[after] != b'\r') {
                return Err(bad(after, "expected a digit or \\r"));
            }
            if after + 1 < line.len() && line[after + 1] != b'\n' {
                return Err(bad(after + 1, "expected \\n"));
            }
            if digits > 19 {
                return Err(bad(1, "length out of range"));
            }
            Ok(())
        })();
        if let Err((offset, reason)) = check {
            return Err(self.corrupt(offset, reason));
        }
        match end {
            LineEnd::Eof => Err(self.truncated("end of file inside a length line")),
            LineEnd::TooLong => Err(self.corrupt(start, "length line too long".into())),
            LineEnd::Complete => {
                let digits = &line[1..line.len() - 2];
                let mut value: u64 = 0;
                for &d in digits {
                    value = match value
                        .checked_mul(10)
                        .and_then(|v| v.checked_add(u64::from(d - b'0')))
                    {
                        Some(v) => v,
                        None => return Err(self.corrupt(start + 1, "length out of range".into())),
                    };
                }
                Ok(value)
            }
        }
    }

    fn expect_crlf(&mut self) -> Result<(), ReadError> {
        for expected in [b'\r', b'\n'] {
            match self.peek_byte()? {
                None => return Err(self.truncated("end of file before a bulk string's CRLF")),
                Some(b) if b == expected => {
                    self.inner.consume(1);
                    self.offset += 1;
                }
                Some(b) => {
                    return Err(self.corrupt(
                        self.offset,
                        format!("expected \\r\\n after a bulk string, got 0x{b:02x}"),
                    ))
                }
            }
        }
        Ok(())
    }

    /// Reads through the next `\n` (kept in `line`), at most `max_bytes`.
    fn read_line(&mut self, max_bytes: usize, line: &mut Vec<u8>) -> Result<LineEnd, ReadError> {
        line.clear();
        loop {
            let available = match self.inner.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ReadError::Io(e)),
            };
            if available.is_empty() {
                return Ok(LineEnd::Eof);
            }
            let room = max_bytes - line.len();
            let window = &available[..available.len().min(room)];
            let (take, complete) = match window.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (window.len(), false),
            };
            line.extend_from_slice(&window[..take]);
            self.inner.consume(take);
            self.offset += take as u64;
            if complete {
                return Ok(LineEnd::Complete);
            }
            if line.len() >= max_bytes {
                return Ok(LineEnd::TooLong);
            }
        }
    }

    fn peek_byte(&mut self) -> Result<Option<u8>, ReadError> {
        loop {
            match self.inner.fill_buf() {
                Ok(buf) => return Ok(buf.first().copied()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
    }

    fn truncated(&self, reason: &'static str) -> ReadError {
        ReadError::Truncated {
            valid_up_to: self.multi_start.unwrap_or(self.valid_up_to),
            reason,
        }
    }

    fn corrupt(&self, offset: u64, reason: String) -> ReadError {
        ReadError::Corrupt {
            offset,
            valid_up_to: self.multi_start.unwrap_or(self.valid_up_to),
            reason,
        }
    }
}

impl<R: BufRead> Iterator for CommandReader<R> {
    type Item = Result<ReadCommand, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_command().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(argv: &[&str]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", argv.len()).into_bytes();
        for arg in argv {
            out.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
        }
        out
    }

    /// Reads everything: the commands and how reading ended.
    fn read_all(bytes: &[u8]) -> (Vec<ReadCommand>, Option<ReadError>) {
        let mut reader = CommandReader::new(bytes, 0, ReaderLimits::default());
        let mut commands = Vec::new();
        loop {
            match reader.next_command() {
                Ok(Some(c)) => commands.push(c),
                Ok(None) => return (commands, None),
                Err(e) => return (commands, Some(e)),
            }
        }
    }

    fn argvs(commands: &[ReadCommand]) -> Vec<Vec<String>> {
        commands
            .iter()
            .map(|c| {
                c.argv
                    .iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn sniffs_formats() {
        assert_eq!(sniff_format(b""), FileFormat::Empty);
        assert_eq!(sniff_format(b"REDIS0010"), FileFormat::RdbPreamble);
        assert_eq!(sniff_format(b"*1\r\n"), FileFormat::Resp);
        assert_eq!(sniff_format(b"REDI"), FileFormat::Resp);
    }

    #[test]
    fn reads_commands_with_offsets_and_skips_annotations() {
        let mut file = b"#TS:1700000000\r\n".to_vec();
        let first_start = file.len() as u64;
        file.extend(resp(&["SELECT", "0"]));
        let first_end = file.len() as u64;
        file.extend(b"#anything\n");
        file.extend(resp(&["SET", "k", "v\r\nwith crlf"]));
        file.extend(resp(&["SET", "empty", ""]));
        let (commands, end) = read_all(&file);
        assert!(end.is_none(), "{end:?}");
        assert_eq!(
            argvs(&commands),
            vec![
                vec!["SELECT", "0"],
                vec!["SET", "k", "v\r\nwith crlf"],
                vec!["SET", "empty", ""]
            ]
        );
        assert_eq!(
            (commands[0].start_offset, commands[0].end_offset),
            (first_start, first_end)
        );
        assert_eq!(commands[2].end_offset, file.len() as u64);
    }

    #[test]
    fn an_empty_file_or_only_annotations_is_a_clean_end() {
        assert_eq!(read_all(b"").0.len(), 0);
        let (commands, end) = read_all(b"#TS:1\r\n#TS:2\r\n");
        assert!(commands.is_empty() && end.is_none());
    }

    #[test]
    fn every_prefix_is_truncated_at_the_last_complete_command() {
        let mut file = Vec::new();
        let mut ends = vec![0u64];
        let mut clean_cuts = vec![0u64];
        for argv in [
            &["SELECT", "0"][..],
            &["#TS:5"],
            &["SET", "key", "value"],
            &["MULTI"],
            &["INCR", "n"],
            &["EXEC"],
        ] {
            if argv[0].starts_with('#') {
                file.extend(format!("{}\r\n", argv[0]).as_bytes());
            } else {
                file.extend(resp(argv));
                ends.push(file.len() as u64);
            }
            if ends.len() <= 3 {
                clean_cuts.push(file.len() as u64);
            }
        }
        // ends: 0, SELECT, SET, MULTI, INCR, EXEC. Positions inside the
        // transaction revert to before MULTI (the end of SET).
        let set_end = ends[2];
        let multi_start_valid = set_end;
        for cut in 0..file.len() {
            let (commands, end) = read_all(&file[..cut]);
            let expected = if (cut as u64) >= ends[2] && (cut as u64) < ends[5] {
                multi_start_valid
            } else {
                *ends
                    .iter()
                    .filter(|&&e| e <= cut as u64)
                    .max()
                    .unwrap_or(&0)
            };
            match end {
                Some(ReadError::Truncated { valid_up_to, .. }) => {
                    assert_eq!(valid_up_to, expected, "cut at {cut}");
                }
                None => assert!(clean_cuts.contains(&(cut as u64)), "cut {cut} read cleanly"),
                Some(other) => panic!("cut at {cut}: {other:?}"),
            }
            assert!(commands.iter().all(|c| c.end_offset <= cut as u64));
        }
        let (commands, end) = read_all(&file);
        assert!(end.is_none());
        assert_eq!(commands.len(), 5);
    }

    #[test]
    fn multi_without_exec_reverts_to_before_multi() {
        let mut file = resp(&["SET", "a", "1"]);
        let before = file.len() as u64;
        file.extend(b"#TS:9\r\n");
        file.extend(resp(&["MULTI"]));
        file.extend(resp(&["SET", "b", "2"]));
        let (commands, end) = read_all(&file);
        assert_eq!(commands.len(), 3);
        match end {
            Some(ReadError::Truncated {
                valid_up_to,
                reason,
            }) => {
                assert_eq!((valid_up_to, reason), (before, "MULTI without EXEC"));
            }
            other => panic!("{other:?}"),
        }
        // Lower-case multi/exec count too; a full transaction reads cleanly.
        let mut file = resp(&["multi"]);
        file.extend(resp(&["incr", "x"]));
        file.extend(resp(&["exec"]));
        let (commands, end) = read_all(&file);
        assert!(end.is_none() && commands.len() == 3);
    }

    #[test]
    fn corruption_in_the_middle_is_reported_with_its_offset() {
        let good = resp(&["SET", "a", "1"]);
        let at = good.len() as u64;
        let cases: Vec<(Vec<u8>, u64)> = vec![
            // A byte that is neither '*' nor '#'.
            ([good.clone(), b"X".to_vec(), resp(&["PING"])].concat(), at),
            // Bad count digits.
            ([good.clone(), b"*x\r\n".to_vec()].concat(), at + 1),
            // Bulk without '$'.
            (
                [good.clone(), b"*1\r\n:4\r\nPING\r\n".to_vec()].concat(),
                at + 4,
            ),
            // Wrong bulk length: the CRLF after the data is not there.
            (
                [
                    good.clone(),
                    b"*1\r\n$3\r\nPING\r\n".to_vec(),
                    resp(&["PING"]),
                ]
                .concat(),
                at + 4 + 4 + 3,
            ),
            // CR without LF.
            ([good.clone(), b"*1\r\r".to_vec()].concat(), at + 3),
            // Zero and negative counts.
            ([good.clone(), b"*0\r\n".to_vec()].concat(), at),
            ([good.clone(), b"*-1\r\n".to_vec()].concat(), at + 1),
            // Zeroes left by a crash are not a command.
            ([good.clone(), vec![0; 16]].concat(), at),
        ];
        for (file, offset) in cases {
            let (commands, end) = read_all(&file);
            assert_eq!(commands.len(), 1);
            match end {
                Some(ReadError::Corrupt {
                    offset: got,
                    valid_up_to,
                    ..
                }) => {
                    assert_eq!(
                        (got, valid_up_to),
                        (offset, at),
                        "{:?}",
                        String::from_utf8_lossy(&file)
                    );
                }
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(&file)),
            }
        }
    }

    #[test]
    fn corruption_inside_a_transaction_reports_before_multi() {
        let mut file = resp(&["SET", "a", "1"]);
        let before = file.len() as u64;
        file.extend(resp(&["MULTI"]));
        file.extend(b"?");
        match read_all(&file).1 {
            Some(ReadError::Corrupt { valid_up_to, .. }) => assert_eq!(valid_up_to, before),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hostile_lengths_never_allocate_and_are_errors() {
        // A huge bulk length that the file does not back: truncated, and
        // only the bytes present were read.
        let (_, end) = read_all(b"*1\r\n$536870912\r\nabc");
        assert!(
            matches!(end, Some(ReadError::Truncated { valid_up_to: 0, .. })),
            "{end:?}"
        );
        // Over the limit: corrupt before reading anything.
        let (_, end) = read_all(b"*1\r\n$99999999999\r\nabc");
        assert!(
            matches!(end, Some(ReadError::Corrupt { offset: 4, .. })),
            "{end:?}"
        );
        // A count beyond i32 and a count with 25 digits.
        let (_, end) = read_all(b"*4294967296\r\n$1\r\na\r\n");
        assert!(
            matches!(end, Some(ReadError::Corrupt { offset: 0, .. })),
            "{end:?}"
        );
        let (_, end) = read_all(b"*9999999999999999999999999\r\n");
        assert!(matches!(end, Some(ReadError::Corrupt { .. })), "{end:?}");
        let (_, end) = read_all(b"*1\r\n$99999999999999999999\r\n");
        assert!(
            matches!(end, Some(ReadError::Corrupt { offset: 5, .. })),
            "{end:?}"
        );
        // A huge count that the file does not back: truncated, capacity capped.
        let (_, end) = read_all(b"*2000000000\r\n$1\r\na\r\n");
        assert!(matches!(end, Some(ReadError::Truncated { .. })), "{end:?}");
        // Custom limits.
        let limits = ReaderLimits {
            max_arg_count: 2,
            max_bulk_bytes: 3,
        };
        let mut reader = CommandReader::new(&b"*3\r\n"[..], 0, limits);
        assert!(matches!(
            reader.next_command(),
            Err(ReadError::Corrupt { .. })
        ));
        let mut reader = CommandReader::new(&b"*1\r\n$4\r\nPING\r\n"[..], 0, limits);
        assert!(matches!(
            reader.next_command(),
            Err(ReadError::Corrupt { offset: 4, .. })
        ));
        // Annotation without end.
        let long = [b"#".to_vec(), vec![b'a'; 2000]].concat();
        assert!(matches!(
            read_all(&long).1,
            Some(ReadError::Corrupt { offset: 0, .. })
        ));
        // After an error the reader stays finished.
        let mut reader = CommandReader::new(&b"X"[..], 0, ReaderLimits::default());
        assert!(reader.next_command().is_err());
        assert!(matches!(reader.next_command(), Ok(None)));
    }

    #[test]
    fn starts_at_the_offset_after_an_rdb_preamble() {
        let preamble = b"REDIS0010...rdb...";
        let mut file = preamble.to_vec();
        file.extend(resp(&["PING"]));
        let mut reader = CommandReader::new(
            &file[preamble.len()..],
            preamble.len() as u64,
            ReaderLimits::default(),
        );
        let command = reader.next_command().unwrap().unwrap();
        assert_eq!(
            (command.start_offset, command.end_offset),
            (preamble.len() as u64, file.len() as u64)
        );
        let mut truncated = CommandReader::new(&b"*1\r\n"[..], 100, ReaderLimits::default());
        assert!(matches!(
            truncated.next_command(),
            Err(ReadError::Truncated {
                valid_up_to: 100,
                ..
            })
        ));
    }

    #[test]
    fn works_through_a_small_buffer_and_as_an_iterator() {
        let mut file = Vec::new();
        for i in 0..50 {
            file.extend(resp(&["RPUSH", "list", &"x".repeat(i)]));
        }
        let reader = CommandReader::new(
            io::BufReader::with_capacity(7, &file[..]),
            0,
            ReaderLimits::default(),
        );
        let commands: Result<Vec<_>, _> = reader.collect();
        let commands = commands.unwrap();
        assert_eq!(commands.len(), 50);
        assert_eq!(commands[49].argv[2].len(), 49);
        assert_eq!(commands[49].end_offset, file.len() as u64);
    }
}
