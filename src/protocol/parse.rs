//! Request parsing: RESP multibulk frames and inline commands.
//!
//! The parser is incremental: it consumes every complete request in the
//! buffer and keeps its place inside a partial multibulk, so a request that
//! arrives in many reads is scanned once. Arguments are zero-copy slices of
//! the read buffer. Limits are checked while parsing, with Redis's error
//! texts; any protocol error means the connection is to be closed after the
//! error is sent.

use bytes::{Bytes, BytesMut};

/// Longest inline request or multibulk/bulk header line accepted.
pub const INLINE_MAX_BYTES: usize = 64 * 1024;
/// Upper bound on how many argument slots we preallocate for one request;
/// a header may claim far more, but memory follows the bytes that arrive.
const PREALLOC_ARGS_MAX: usize = 1024;
/// Unauthenticated clients may not send more arguments than this…
const UNAUTH_MULTIBULK_MAX: i64 = 10;
/// …nor bulks longer than this.
const UNAUTH_BULK_MAX: i64 = 16384;

#[derive(Debug, PartialEq, Eq, Clone)]
pub struct ProtocolError(pub String);

impl ProtocolError {
    fn new(msg: impl Into<String>) -> Self {
        ProtocolError(format!("Protocol error: {}", msg.into()))
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub proto_max_bulk_len: i64,
    pub authenticated: bool,
}

/// Progress through one multibulk request.
#[derive(Debug, Default)]
struct Partial {
    /// Arguments still expected.
    remaining: usize,
    /// Byte offset in the buffer where the next unparsed part starts.
    pos: usize,
    /// Argument ranges (start, end) relative to the buffer start.
    args: Vec<(usize, usize)>,
    /// Length of the bulk whose header was read, if its data hasn't arrived.
    pending_bulk: Option<usize>,
}

#[derive(Debug, Default)]
pub struct RequestParser {
    partial: Option<Partial>,
    /// Size in bytes of the request returned last (CLIENT LIST's qbuf counts it).
    pub last_request_bytes: usize,
}

/// The outcome of one parse step.
#[derive(Debug)]
pub enum Parsed {
    /// A complete request; an empty vector is an empty line / `*0`, to be ignored.
    Request(Vec<Bytes>),
    /// More bytes are needed.
    Incomplete,
}

impl RequestParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parse the next request from the front of `buf`, consuming its bytes.
    pub fn next(&mut self, buf: &mut BytesMut, limits: Limits) -> Result<Parsed, ProtocolError> {
        if self.partial.is_none() {
            if buf.is_empty() {
                return Ok(Parsed::Incomplete);
            }
            if buf[0] != b'*' {
                let before = buf.len();
                let r = parse_inline(buf);
                self.last_request_bytes = before - buf.len();
                return r;
            }
            match self.start_multibulk(buf, limits)? {
                None => return Ok(Parsed::Incomplete),
                Some(0) => return Ok(Parsed::Request(Vec::new())),
                Some(_) => {}
            }
        }
        self.continue_multibulk(buf, limits)
    }

    /// True while a request is half-read (used for idle-timeout decisions).
    pub fn in_request(&self) -> bool {
        self.partial.is_some()
    }

    /// Read the `*<count>\r\n` header. Returns the count, or None if incomplete.
    fn start_multibulk(
        &mut self,
        buf: &mut BytesMut,
        limits: Limits,
    ) -> Result<Option<usize>, ProtocolError> {
        let Some(nl) = memchr::memchr(b'\r', buf) else {
            if buf.len() > INLINE_MAX_BYTES {
                return Err(ProtocolError::new("too big mbulk count string"));
            }
            return Ok(None);
        };
        if nl > INLINE_MAX_BYTES {
            return Err(ProtocolError::new("too big mbulk count string"));
        }
        if buf.len() < nl + 2 {
            return Ok(None);
        }
        let count = parse_i64(&buf[1..nl]).filter(|&n| n <= i32::MAX as i64);
        let Some(count) = count else {
            return Err(ProtocolError::new("invalid multibulk length"));
        };
        if count > UNAUTH_MULTIBULK_MAX && !limits.authenticated {
            return Err(ProtocolError::new("unauthenticated multibulk length"));
        }
        if count <= 0 {
            let _ = buf.split_to(nl + 2);
            return Ok(Some(0));
        }
        let count = count as usize;
        self.partial = Some(Partial {
            remaining: count,
            pos: nl + 2,
            args: Vec::with_capacity(count.min(PREALLOC_ARGS_MAX)),
            pending_bulk: None,
        });
        Ok(Some(count))
    }

    fn continue_multibulk(
        &mut self,
        buf: &mut BytesMut,
        limits: Limits,
    ) -> Result<Parsed, ProtocolError> {
        let p = self
            .partial
            .as_mut()
            .expect("called with a partial request");
        while p.remaining > 0 {
            let len = match p.pending_bulk {
                Some(len) => len,
                None => {
                    let rest = &buf[p.pos..];
                    let Some(nl) = memchr::memchr(b'\r', rest) else {
                        if rest.len() > INLINE_MAX_BYTES {
                            return Err(ProtocolError::new("too big bulk count string"));
                        }
                        return Ok(Parsed::Incomplete);
                    };
                    if nl > INLINE_MAX_BYTES {
                        return Err(ProtocolError::new("too big bulk count string"));
                    }
                    if rest.len() < nl + 2 {
                        return Ok(Parsed::Incomplete);
                    }
                    if rest[0] != b'$' {
                        let got = rest[0] as char;
                        return Err(ProtocolError::new(format!("expected '$', got '{got}'")));
                    }
                    let len = parse_i64(&rest[1..nl]);
                    let len = match len {
                        Some(l) if l >= 0 && l <= limits.proto_max_bulk_len => l,
                        _ => return Err(ProtocolError::new("invalid bulk length")),
                    };
                    if len > UNAUTH_BULK_MAX && !limits.authenticated {
                        return Err(ProtocolError::new("unauthenticated bulk length"));
                    }
                    p.pos += nl + 2;
                    let len = len as usize;
                    p.pending_bulk = Some(len);
                    len
                }
            };
            if buf.len() - p.pos < len + 2 {
                return Ok(Parsed::Incomplete);
            }
            // Redis does not check the CRLF after bulk data; neither do we.
            p.args.push((p.pos, p.pos + len));
            p.pos += len + 2;
            p.pending_bulk = None;
            p.remaining -= 1;
        }
        let p = self.partial.take().expect("partial present");
        self.last_request_bytes = p.pos;
        let frame = buf.split_to(p.pos).freeze();
        let argv = p.args.iter().map(|&(s, e)| frame.slice(s..e)).collect();
        Ok(Parsed::Request(argv))
    }

    /// How many more bytes the half-read bulk needs. The connection grows
    /// its buffer toward this as data arrives (never all at once for a
    /// declared length, so a header alone cannot claim memory).
    pub fn pending_bulk_bytes(&self, buf_len: usize) -> usize {
        match &self.partial {
            Some(Partial {
                pending_bulk: Some(len),
                pos,
                ..
            }) => (pos + len + 2).saturating_sub(buf_len),
            _ => 0,
        }
    }
}

/// An inline request: one line, arguments split on spaces with quotes.
/// Like Redis (which searches the line end with `strchr`), a NUL byte ends
/// the visible buffer: a line whose newline comes after a NUL is not
/// complete, and the 64 KB inline limit eventually applies.
fn parse_inline(buf: &mut BytesMut) -> Result<Parsed, ProtocolError> {
    // Look for the newline first, then for a NUL only before it, so a long
    // pipeline of inline requests is scanned once.
    let nl = memchr::memchr(b'\n', buf).filter(|&nl| memchr::memchr(0, &buf[..nl]).is_none());
    let Some(nl) = nl else {
        if buf.len() > INLINE_MAX_BYTES {
            return Err(ProtocolError::new("too big inline request"));
        }
        return Ok(Parsed::Incomplete);
    };
    if nl > INLINE_MAX_BYTES {
        return Err(ProtocolError::new("too big inline request"));
    }
    let line = buf.split_to(nl + 1);
    let mut text = &line[..nl];
    if text.last() == Some(&b'\r') {
        text = &text[..text.len() - 1];
    }
    match split_args(text) {
        Some(args) => Ok(Parsed::Request(args.into_iter().map(Bytes::from).collect())),
        None => Err(ProtocolError::new("unbalanced quotes in request")),
    }
}

/// Split a line into arguments as Redis's `sdssplitargs`: spaces separate,
/// "double quotes" allow \n \r \t \b \a \\ \" and \xHH escapes, 'single quotes'
/// allow \'. A closing quote must be followed by a space or the end.
/// Returns None on unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n {
            return Some(args);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && is_hex(line[i + 2])
                    && is_hex(line[i + 3])
                {
                    cur.push(hex_val(line[i + 2]) * 16 + hex_val(line[i + 3]));
                    i += 3;
                } else if c == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
                i += 1;
            } else if in_sq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    cur.push(b'\'');
                    i += 1;
                } else if c == b'\'' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
                i += 1;
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' => break,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => cur.push(c),
                }
                i += 1;
            }
        }
        args.push(cur);
    }
}

fn is_hex(c: u8) -> bool {
    c.is_ascii_hexdigit()
}

fn hex_val(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

/// Parse a signed decimal as Redis's `string2ll` (strict).
fn parse_i64(s: &[u8]) -> Option<i64> {
    crate::keyspace::value::parse_canonical_i64(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        proto_max_bulk_len: 512 * 1024 * 1024,
        authenticated: true,
    };

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Bytes>>, ProtocolError> {
        let mut p = RequestParser::new();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        loop {
            match p.next(&mut buf, L)? {
                Parsed::Request(r) => out.push(r),
                Parsed::Incomplete => return Ok(out),
            }
        }
    }

    #[test]
    fn multibulk_and_inline() {
        let r = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\nset a \"b c\"\n").unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[0], vec![Bytes::from("GET"), Bytes::from("k")]);
        assert_eq!(r[1], vec![Bytes::from("PING")]);
        assert_eq!(
            r[2],
            vec![Bytes::from("set"), Bytes::from("a"), Bytes::from("b c")]
        );
    }

    #[test]
    fn every_split_gives_the_same_requests() {
        let stream = b"*3\r\n$3\r\nSET\r\n$5\r\nhello\r\n$5\r\nworld\r\n\r\nECHO 'x y'\r\n*0\r\n*1\r\n$4\r\nPING\r\n";
        let whole = parse_all(stream).unwrap();
        for cut in 0..stream.len() {
            let mut p = RequestParser::new();
            let mut buf = BytesMut::from(&stream[..cut]);
            let mut got = Vec::new();
            while let Parsed::Request(r) = p.next(&mut buf, L).unwrap() {
                got.push(r);
            }
            buf.extend_from_slice(&stream[cut..]);
            while let Parsed::Request(r) = p.next(&mut buf, L).unwrap() {
                got.push(r);
            }
            assert_eq!(got, whole, "split at {cut}");
        }
    }

    #[test]
    fn protocol_errors_match_redis() {
        let err = |s: &[u8]| parse_all(s).unwrap_err().0;
        assert_eq!(
            err(b"*3000000000\r\n"),
            "Protocol error: invalid multibulk length"
        );
        assert_eq!(
            err(b"*20\r\n$3000000000\r\n"),
            "Protocol error: invalid bulk length"
        );
        assert_eq!(
            err(b"*1\r\nfoo\r\n"),
            "Protocol error: expected '$', got 'f'"
        );
        assert_eq!(
            err(b"set \"a\n"),
            "Protocol error: unbalanced quotes in request"
        );
        assert_eq!(
            err(&vec![b'a'; 70000]),
            "Protocol error: too big inline request"
        );
        let mut big = b"*".to_vec();
        big.extend(vec![b'1'; 70000]);
        assert_eq!(err(&big), "Protocol error: too big mbulk count string");
    }

    #[test]
    fn huge_multibulk_header_allocates_little() {
        let mut p = RequestParser::new();
        let mut buf = BytesMut::from(&b"*1000000\r\n"[..]);
        assert!(matches!(p.next(&mut buf, L).unwrap(), Parsed::Incomplete));
        assert!(p.partial.as_ref().unwrap().args.capacity() <= PREALLOC_ARGS_MAX);
    }

    #[test]
    fn nul_byte_in_inline_waits_like_redis() {
        let mut p = RequestParser::new();
        let mut buf = BytesMut::from(&b"PING\0junk\r\n"[..]);
        assert!(matches!(p.next(&mut buf, L).unwrap(), Parsed::Incomplete));
        let mut big = b"PING\0".to_vec();
        big.extend(vec![b'a'; 70000]);
        big.extend_from_slice(b"\r\n");
        let mut buf = BytesMut::from(&big[..]);
        assert_eq!(
            p.next(&mut buf, L).unwrap_err().0,
            "Protocol error: too big inline request"
        );
    }

    #[test]
    fn split_args_escapes() {
        assert_eq!(
            split_args(b"a \"\\x41\\n\" 'it\\'s'").unwrap(),
            vec![b"a".to_vec(), b"A\n".to_vec(), b"it's".to_vec()]
        );
        assert!(split_args(b"\"abc\"def").is_none());
        assert_eq!(split_args(b"   ").unwrap().len(), 0);
    }
}

/// Call `f` with the first argument after the command name (the key of
/// GET, SET, INCR, LPUSH, HSET…) of each complete RESP request at the start
/// of `buf`, up to `max` requests. A read-only look ahead for prefetching:
/// it consumes nothing, and stops at the first incomplete or non-RESP
/// request (the parser proper deals with those). Returns how many requests
/// it walked.
pub fn peek_first_keys<'a>(buf: &'a [u8], max: usize, mut f: impl FnMut(&'a [u8])) -> usize {
    /// `<prefix><digits>\r\n` at `pos`: (value, position after it).
    fn header(buf: &[u8], pos: usize, prefix: u8) -> Option<(usize, usize)> {
        if *buf.get(pos)? != prefix {
            return None;
        }
        let mut n: usize = 0;
        let mut i = pos + 1;
        loop {
            let c = *buf.get(i)?;
            match c {
                b'0'..=b'9' if i - pos <= 10 => n = n * 10 + (c - b'0') as usize,
                b'\r' if i > pos + 1 => break,
                _ => return None,
            }
            i += 1;
        }
        (*buf.get(i + 1)? == b'\n').then_some((n, i + 2))
    }
    let mut pos = 0;
    let mut walked = 0;
    while walked < max {
        let Some((argc, mut p)) = header(buf, pos, b'*') else {
            break;
        };
        let mut key = None;
        for arg in 0..argc {
            let Some((len, start)) = header(buf, p, b'$') else {
                return walked;
            };
            let end = start + len;
            if buf.len() < end + 2 {
                return walked;
            }
            if arg == 1 {
                key = Some(&buf[start..end]);
            }
            p = end + 2;
        }
        if let Some(k) = key {
            f(k);
        }
        pos = p;
        walked += 1;
    }
    walked
}

#[cfg(test)]
mod peek_tests {
    use super::peek_first_keys;

    #[test]
    fn walks_complete_requests_only() {
        let buf = b"*2\r\n$3\r\nGET\r\n$2\r\nk1\r\n*3\r\n$3\r\nSET\r\n$2\r\nk2\r\n$1\r\nv\r\n*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$2\r\nk3";
        let mut keys = Vec::new();
        let n = peek_first_keys(buf, 32, |k| keys.push(k.to_vec()));
        assert_eq!(n, 3);
        assert_eq!(keys, vec![b"k1".to_vec(), b"k2".to_vec()]);
        let mut count = 0;
        assert_eq!(peek_first_keys(buf, 1, |_| count += 1), 1);
        assert_eq!(count, 1);
        // Inline commands and garbage stop the walk.
        assert_eq!(peek_first_keys(b"GET k\r\n", 32, |_| ()), 0);
        assert_eq!(peek_first_keys(b"*x\r\n", 32, |_| ()), 0);
        assert_eq!(peek_first_keys(b"*99999999999999999999\r\n", 32, |_| ()), 0);
        assert_eq!(peek_first_keys(b"*1\r\n$99999999999\r\n", 32, |_| ()), 0);
        assert_eq!(peek_first_keys(b"", 32, |_| ()), 0);
    }
}
