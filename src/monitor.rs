//! MONITOR: every executed command, as a status line, to the clients that
//! asked. Lines look like Redis's:
//! `+1339518083.107412 [0 127.0.0.1:60866] "set" "foo" "bar"`, with
//! passwords redacted. When nobody monitors, the cost per command is one
//! relaxed atomic load.

use bytes::Bytes;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::mpsc::UnboundedSender;

#[derive(Default)]
pub struct Monitors {
    senders: Mutex<Vec<(u64, UnboundedSender<Bytes>)>>,
    count: AtomicUsize,
}

impl Monitors {
    #[inline]
    pub fn any(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    pub fn add(&self, client_id: u64, tx: UnboundedSender<Bytes>) {
        let mut s = self.senders.lock();
        if s.iter().any(|(id, _)| *id == client_id) {
            return;
        }
        s.push((client_id, tx));
        self.count.store(s.len(), Ordering::Relaxed);
    }

    pub fn remove(&self, client_id: u64) {
        if !self.any() {
            return;
        }
        let mut s = self.senders.lock();
        s.retain(|(id, _)| *id != client_id);
        self.count.store(s.len(), Ordering::Relaxed);
    }

    /// Send one command's line to every monitor.
    pub fn feed(&self, db: usize, peer: &str, argv: &[Bytes]) {
        let line = Bytes::from(format_line(crate::util::now_us(), db, peer, argv));
        let mut s = self.senders.lock();
        s.retain(|(_, tx)| tx.send(line.clone()).is_ok());
        self.count.store(s.len(), Ordering::Relaxed);
    }
}

/// Arguments that carry secrets are shown as "(redacted)".
fn redacted(argv: &[Bytes]) -> Vec<bool> {
    let mut r = vec![false; argv.len()];
    let name = argv
        .first()
        .map(|a| a.to_ascii_lowercase())
        .unwrap_or_default();
    match name.as_slice() {
        b"auth" => r.iter_mut().skip(1).for_each(|x| *x = true),
        b"hello" => {
            if let Some(i) = argv.iter().position(|a| a.eq_ignore_ascii_case(b"auth")) {
                for x in r.iter_mut().skip(i + 1).take(2) {
                    *x = true;
                }
            }
        }
        b"migrate" => {
            for (i, a) in argv.iter().enumerate() {
                if a.eq_ignore_ascii_case(b"auth") && i + 1 < argv.len() {
                    r[i + 1] = true;
                } else if a.eq_ignore_ascii_case(b"auth2") && i + 2 < argv.len() {
                    r[i + 1] = true;
                    r[i + 2] = true;
                }
            }
        }
        _ => {}
    }
    r
}

pub fn format_line(now_us: u64, db: usize, peer: &str, argv: &[Bytes]) -> Vec<u8> {
    let mut line = format!(
        "+{}.{:06} [{} {}]",
        now_us / 1_000_000,
        now_us % 1_000_000,
        db,
        peer
    )
    .into_bytes();
    for (a, hide) in argv.iter().zip(redacted(argv)) {
        line.push(b' ');
        if hide {
            line.extend_from_slice(b"\"(redacted)\"");
        } else {
            repr(&mut line, a);
        }
    }
    line.extend_from_slice(b"\r\n");
    line
}

/// Quote like Redis's `sdscatrepr`.
fn repr(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            c if c.is_ascii_graphic() || c == b' ' => out.push(c),
            c => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_match_redis() {
        let argv = vec![
            Bytes::from("set"),
            Bytes::from("k\n"),
            Bytes::from(vec![0u8, b'"']),
        ];
        let line = format_line(1339518083107412, 0, "127.0.0.1:60866", &argv);
        assert_eq!(
            line,
            b"+1339518083.107412 [0 127.0.0.1:60866] \"set\" \"k\\n\" \"\\x00\\\"\"\r\n"
        );
        let auth = vec![Bytes::from("auth"), Bytes::from("secret")];
        assert!(String::from_utf8(format_line(1, 0, "p", &auth))
            .unwrap()
            .ends_with("\"auth\" \"(redacted)\"\r\n"));
    }
}
