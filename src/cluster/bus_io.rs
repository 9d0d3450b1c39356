//! Cluster bus links: tasks that only move bytes. A reader frames the
//! stream with `bus::frame_len`, decodes each frame and hands the message
//! to the driver; a writer sends what the driver queued. A framing error
//! (bad signature, impossible length) drops the link, never the node; a
//! frame that fails validation is skipped, as Redis ignores such packets.

use super::driver::Input;
use crate::log::{self, Level};
use bytes::BytesMut;
use shoal_cluster::bus;
use shoal_cluster::core::LinkId;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::AbortHandle;

/// Initial read buffer: one header plus gossip for a few nodes.
const READ_BUF_BYTES: usize = 16 * 1024;

/// The driver's side of a running link.
pub struct LinkHandle {
    out: UnboundedSender<Vec<u8>>,
    /// Bytes queued but not yet taken by the socket (Redis's sndbuf).
    pending: Arc<AtomicUsize>,
    reader: AbortHandle,
    writer: AbortHandle,
}

impl LinkHandle {
    /// Queue an encoded message; false if the link is already gone.
    pub fn send(&self, bytes: Vec<u8>) -> bool {
        let len = bytes.len();
        self.pending.fetch_add(len, Ordering::Relaxed);
        self.out.send(bytes).is_ok()
    }

    /// Bytes waiting to be written (cluster-link-sendbuf-limit, CLUSTER LINKS).
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// Stop both tasks; queued output is dropped (as `freeClusterLink`).
    pub fn close(self) {
        self.reader.abort();
        self.writer.abort();
    }
}

/// Start the reader and writer tasks of a connected link on the current
/// runtime. They report `Input::Frame` and, once, `Input::LinkClosed`.
pub fn spawn_link(
    link: LinkId,
    stream: TcpStream,
    to_driver: UnboundedSender<Input>,
) -> LinkHandle {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let (out, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let pending = Arc::new(AtomicUsize::new(0));
    let written = pending.clone();
    let tx = to_driver.clone();
    let reader = tokio::spawn(async move {
        let mut buf = BytesMut::with_capacity(READ_BUF_BYTES);
        loop {
            match rd.read_buf(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if let Err(e) = deliver_frames(link, &mut buf, &tx) {
                log::log(
                    Level::Verbose,
                    &format!("Dropping cluster bus link: bad frame ({e})"),
                );
                break;
            }
        }
        let _ = tx.send(Input::LinkClosed { link });
    });
    let tx = to_driver;
    let writer = tokio::spawn(async move {
        while let Some(bytes) = out_rx.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                let _ = tx.send(Input::LinkClosed { link });
                return;
            }
            written.fetch_sub(bytes.len(), Ordering::Relaxed);
        }
    });
    LinkHandle {
        out,
        pending,
        reader: reader.abort_handle(),
        writer: writer.abort_handle(),
    }
}

/// Cut every complete frame off the front of `buf` and send it on.
/// Err: the stream is not a cluster bus stream.
fn deliver_frames(
    link: LinkId,
    buf: &mut BytesMut,
    tx: &UnboundedSender<Input>,
) -> Result<(), bus::BusError> {
    loop {
        let Some(len) = bus::frame_len(buf)? else {
            return Ok(());
        };
        if buf.len() < len {
            buf.reserve(len - buf.len());
            return Ok(());
        }
        let frame = buf.split_to(len);
        match bus::decode(&frame) {
            Ok(msg) => {
                let _ = tx.send(Input::Frame { link, msg });
            }
            Err(e) => log::log(
                Level::Verbose,
                &format!("Ignoring an invalid cluster bus packet: {e}"),
            ),
        }
    }
}

/// The textual IP of a socket address as Redis prints it (no brackets,
/// IPv4-mapped IPv6 shown as IPv4).
pub fn ip_text(addr: &std::net::SocketAddr) -> Vec<u8> {
    let ip = match addr.ip() {
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => std::net::IpAddr::V4(v4),
            None => std::net::IpAddr::V6(v6),
        },
        ip => ip,
    };
    ip.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_a_framing_error_and_partial_frames_wait() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\n"[..]);
        assert!(deliver_frames(LinkId(1), &mut buf, &tx).is_err());
        let mut buf = BytesMut::from(&b"RCmb"[..]);
        assert!(deliver_frames(LinkId(1), &mut buf, &tx).is_ok());
        assert_eq!(buf.len(), 4, "a partial prefix stays buffered");
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn mapped_ipv4_prints_as_ipv4() {
        let a: std::net::SocketAddr = "[::ffff:127.0.0.1]:7000".parse().unwrap();
        assert_eq!(ip_text(&a), b"127.0.0.1");
    }
}
