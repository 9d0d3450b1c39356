//! Reply encoding for RESP2 and RESP3.
//!
//! Commands write their reply straight into the connection's output buffer
//! through `Out`, which knows the connection's protocol version and so picks
//! the right type: a map is `%n` in RESP3 and a flat `*2n` array in RESP2, a
//! null is `_` or `$-1`/`*-1`, a double is `,` or a bulk string. Writing in
//! place means a GET copies the value once, from the table to the socket
//! buffer.

use bytes::{BufMut, BytesMut};

pub struct Out {
    pub buf: BytesMut,
    pub resp3: bool,
    /// Error replies written since the counter was last taken (for INFO errorstats).
    pub errors: Vec<String>,
}

impl Out {
    pub fn new(resp3: bool) -> Self {
        Out {
            buf: BytesMut::with_capacity(16 * 1024),
            resp3,
            errors: Vec::new(),
        }
    }

    #[inline]
    fn line(&mut self, prefix: u8, n: i64) {
        self.buf.put_u8(prefix);
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    #[inline]
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// A simple string (`+text`). `text` must not contain CR or LF.
    #[inline]
    pub fn simple(&mut self, text: &str) {
        self.buf.put_u8(b'+');
        self.buf.extend_from_slice(text.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An error; `msg` starts with its code (`ERR …`, `WRONGTYPE …`).
    pub fn error(&mut self, msg: &str) {
        self.buf.put_u8(b'-');
        // Newlines inside an error would break the protocol; Redis replaces them.
        for &b in msg.as_bytes() {
            self.buf
                .put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
        }
        self.buf.extend_from_slice(b"\r\n");
        self.errors
            .push(msg.split(' ').next().unwrap_or("ERR").to_string());
    }

    #[inline]
    pub fn int(&mut self, n: i64) {
        self.line(b':', n);
    }

    #[inline]
    pub fn bulk(&mut self, data: &[u8]) {
        self.line(b'$', data.len() as i64);
        self.buf.extend_from_slice(data);
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn bulk_int(&mut self, n: i64) {
        let mut b = itoa::Buffer::new();
        self.bulk(b.format(n).as_bytes());
    }

    /// A null bulk string (`$-1` / `_`).
    #[inline]
    pub fn null(&mut self) {
        if self.resp3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"$-1\r\n");
        }
    }

    /// A null array (`*-1` / `_`).
    pub fn null_array(&mut self) {
        if self.resp3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"*-1\r\n");
        }
    }

    #[inline]
    pub fn array(&mut self, len: usize) {
        self.line(b'*', len as i64);
    }

    /// A map of `len` pairs: the caller writes 2 × len elements.
    pub fn map(&mut self, len: usize) {
        if self.resp3 {
            self.line(b'%', len as i64);
        } else {
            self.line(b'*', 2 * len as i64);
        }
    }

    pub fn set(&mut self, len: usize) {
        if self.resp3 {
            self.line(b'~', len as i64);
        } else {
            self.line(b'*', len as i64);
        }
    }

    pub fn push(&mut self, len: usize) {
        if self.resp3 {
            self.line(b'>', len as i64);
        } else {
            self.line(b'*', len as i64);
        }
    }

    pub fn boolean(&mut self, v: bool) {
        if self.resp3 {
            self.buf
                .extend_from_slice(if v { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(v as i64);
        }
    }

    /// A double: `,` in RESP3, a bulk string in RESP2, both formatted as
    /// Redis's `%.17g` and with `inf`/`-inf`/`nan` spelled its way.
    pub fn double(&mut self, v: f64) {
        let text = format_double(v);
        if self.resp3 {
            self.buf.put_u8(b',');
            self.buf.extend_from_slice(text.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text.as_bytes());
        }
    }

    /// Text such as INFO or CLIENT LIST: verbatim `=` in RESP3, bulk in RESP2.
    pub fn verbatim(&mut self, text: &[u8]) {
        if self.resp3 {
            self.line(b'=', text.len() as i64 + 4);
            self.buf.extend_from_slice(b"txt:");
            self.buf.extend_from_slice(text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    /// An array of bulk strings.
    pub fn bulks<'a>(&mut self, items: impl ExactSizeIterator<Item = &'a [u8]>) {
        self.array(items.len());
        for item in items {
            self.bulk(item);
        }
    }

    /// Bytes already encoded as RESP.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
}

/// Format a double the way Redis's replies do (`%.17g`, shortest round-trip
/// where that is equal; "inf", "-inf", "nan").
pub fn format_double(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    format_g17(v)
}

/// C's `%.17g`.
pub fn format_g17(v: f64) -> String {
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let exp = v.abs().log10().floor() as i32;
    let s = if !(-5..17).contains(&exp) {
        let s = format!("{:.16e}", v);
        // Rust: 1.2340000000000000e5 → C: 1.234e+05
        let (mant, e) = s.split_once('e').expect("exponent form");
        let mant = trim_fraction(mant);
        let e: i32 = e.parse().expect("exponent digits");
        format!("{}e{}{:02}", mant, if e < 0 { '-' } else { '+' }, e.abs())
    } else {
        let decimals = (16 - exp).max(0) as usize;
        trim_fraction(&format!("{:.*}", decimals, v)).to_string()
    };
    s
}

fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp2_and_resp3_types() {
        let mut o = Out::new(false);
        o.map(1);
        o.bulk(b"a");
        o.null();
        o.double(1.5);
        assert_eq!(&o.buf[..], b"*2\r\n$1\r\na\r\n$-1\r\n$3\r\n1.5\r\n");
        let mut o = Out::new(true);
        o.map(1);
        o.bulk(b"a");
        o.null();
        o.double(1.5);
        assert_eq!(&o.buf[..], b"%1\r\n$1\r\na\r\n_\r\n,1.5\r\n");
    }

    #[test]
    fn g17_formatting() {
        assert_eq!(format_g17(10.5), "10.5");
        assert_eq!(format_g17(3.0), "3");
        assert_eq!(format_g17(0.1), "0.10000000000000001");
        assert_eq!(format_g17(1e20), "1e+20");
        assert_eq!(format_g17(1.5e-7), "1.4999999999999999e-07");
        assert_eq!(format_g17(-2.5), "-2.5");
        assert_eq!(format_g17(123456789012345680.0), "1.2345678901234568e+17");
    }

    #[test]
    fn errors_are_single_line_and_counted() {
        let mut o = Out::new(false);
        o.error("ERR bad\r\nthing");
        assert_eq!(&o.buf[..], b"-ERR bad  thing\r\n");
        assert_eq!(o.errors, vec!["ERR".to_string()]);
    }
}
