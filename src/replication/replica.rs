//! The replica side: one task per configured master that connects, does
//! the handshake (PING, AUTH, REPLCONF listening-port / capa eof psync2,
//! PSYNC), receives the RDB (`$<len>` or diskless `$EOF:<mark>`) and streams
//! it into a loader thread, then applies the master's stream through
//! `exec::call` with an internal master client. Every byte of the stream is
//! counted (the offset is the master's) and appended verbatim to this
//! server's backlog (`propagate::from_master`). ACKs go out every second and
//! on REPLCONF GETACK; a lost link reconnects with PSYNC.

use super::*;
use crate::client::{Client, MultiState};
use crate::commands;
use crate::protocol::{Limits, Out, Parsed, RequestParser};
use bytes::{Bytes, BytesMut};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const RECONNECT_EVERY: Duration = Duration::from_secs(1);
const ACK_EVERY: Duration = Duration::from_secs(1);
/// Longest handshake reply line accepted from a master.
const LINE_MAX_BYTES: usize = 64 * 1024;
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Commands applied under one hold of the propagation lock.
const APPLY_BATCH_MAX: usize = 1024;
/// RDB chunks in flight to the loader thread.
const LOAD_CHANNEL_CHUNKS: usize = 16;
/// The largest pending master stream (an unfinished command) we buffer.
const STREAM_BUFFER_MAX_BYTES: usize = 1 << 30;
const EOF_MARK_BYTES: usize = 40;

fn current(srv: &Server, generation: u64) -> bool {
    srv.repl
        .master
        .lock()
        .as_ref()
        .is_some_and(|m| m.generation == generation)
}

/// The link task: (re)connect until this master is no longer configured.
pub async fn run_link(srv: Arc<Server>, host: String, port: u16, generation: u64) {
    let r = &srv.repl;
    loop {
        if !current(&srv, generation) {
            return;
        }
        let result = sync_once(&srv, &host, port, generation).await;
        if let Some(c) = r.link_client.lock().take() {
            srv.clients.remove(c.id);
        }
        if !current(&srv, generation) {
            return;
        }
        let was_connected = r.link_state.load(Ordering::Acquire) == LINK_CONNECTED;
        if srv.persist.loading.swap(false, Ordering::AcqRel) {
            crate::log::log(
                Level::Warning,
                "Failed trying to load the MASTER synchronization DB from socket",
            );
        }
        r.link_state.store(LINK_CONNECT, Ordering::Release);
        if was_connected || r.link_down_since_ms.load(Ordering::Relaxed) == 0 {
            r.link_down_since_ms
                .store(crate::util::now_ms(), Ordering::Relaxed);
        }
        if was_connected {
            crate::log::log(Level::Notice, "Connection with master lost.");
            crate::log::log(Level::Notice, "* Caching the disconnected master state.");
        }
        if let Err(e) = result {
            crate::log::log(Level::Warning, &e);
        }
        tokio::time::sleep(RECONNECT_EVERY).await;
        if !current(&srv, generation) {
            return;
        }
        crate::log::log(
            Level::Notice,
            &format!("Connecting to MASTER {host}:{port}"),
        );
    }
}

/// The connection to the master during the handshake and transfer.
struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    timeout: Duration,
}

impl Conn {
    async fn send(&mut self, argv: &[&[u8]]) -> Result<(), String> {
        let mut b = Vec::new();
        crate::propagate::encode(&mut b, argv);
        tokio::time::timeout(self.timeout, self.stream.write_all(&b))
            .await
            .map_err(|_| "Timeout writing to MASTER".to_string())?
            .map_err(|e| format!("Error writing to MASTER: {e}"))
    }

    /// One reply line, without its CRLF (an empty string for a bare
    /// newline, the master's keepalive).
    async fn line(&mut self) -> Result<String, String> {
        loop {
            if let Some(nl) = memchr::memchr(b'\n', &self.buf) {
                let line = self.buf.split_to(nl + 1);
                let mut l = &line[..nl];
                if l.last() == Some(&b'\r') {
                    l = &l[..l.len() - 1];
                }
                return Ok(String::from_utf8_lossy(l).into_owned());
            }
            if self.buf.len() > LINE_MAX_BYTES {
                return Err("Master sent a too long line".into());
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> Result<usize, String> {
        self.buf.reserve(READ_CHUNK_BYTES);
        match tokio::time::timeout(self.timeout, self.stream.read_buf(&mut self.buf)).await {
            Err(_) => Err("Timeout connecting to the MASTER...".into()),
            Ok(Ok(0)) => Err("I/O error trying to sync with MASTER: connection lost".into()),
            Ok(Ok(n)) => Ok(n),
            Ok(Err(e)) => Err(format!("I/O error trying to sync with MASTER: {e}")),
        }
    }

    /// A reply line, skipping keepalive newlines.
    async fn reply(&mut self) -> Result<String, String> {
        loop {
            let l = self.line().await?;
            if !l.is_empty() {
                return Ok(l);
            }
        }
    }
}

async fn sync_once(
    srv: &Arc<Server>,
    host: &str,
    port: u16,
    generation: u64,
) -> Result<(), String> {
    let r = &srv.repl;
    let (timeout, auth, user, announce_port, announce_ip) = {
        let cfg = srv.config.read();
        (
            Duration::from_secs(cfg.get_i64("repl-timeout").max(1) as u64),
            cfg.get("masterauth").to_string(),
            cfg.get("masteruser").to_string(),
            cfg.get_i64("replica-announce-port"),
            cfg.get("replica-announce-ip").to_string(),
        )
    };
    r.link_state.store(LINK_CONNECTING, Ordering::Release);
    let stream = match tokio::time::timeout(timeout, TcpStream::connect((host, port))).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(format!("Error condition on socket for SYNC: {e}")),
        Err(_) => return Err("Timeout connecting to the MASTER...".into()),
    };
    let _ = stream.set_nodelay(!srv.config.read().get_bool("repl-disable-tcp-nodelay"));
    crate::log::log(Level::Notice, "MASTER <-> REPLICA sync started");
    r.link_state.store(LINK_HANDSHAKE, Ordering::Release);
    let peer = stream.peer_addr().ok();
    let local = stream.local_addr().ok();
    let mut c = Conn {
        stream,
        buf: BytesMut::with_capacity(READ_CHUNK_BYTES),
        timeout,
    };
    crate::log::log(
        Level::Notice,
        "Non blocking connect for SYNC fired the event.",
    );
    c.send(&[b"PING"]).await?;
    let pong = c.reply().await?;
    if pong.starts_with('-')
        && !pong.starts_with("-NOAUTH")
        && !pong.starts_with("-NOPERM")
        && !pong.starts_with("-ERR operation not permitted")
    {
        return Err(format!("Error reply to PING from master: '{pong}'"));
    }
    crate::log::log(
        Level::Notice,
        "Master replied to PING, replication can continue...",
    );
    if !auth.is_empty() {
        if user.is_empty() {
            c.send(&[b"AUTH", auth.as_bytes()]).await?;
        } else {
            c.send(&[b"AUTH", user.as_bytes(), auth.as_bytes()]).await?;
        }
        let l = c.reply().await?;
        if l.starts_with('-') {
            return Err(format!("Unable to AUTH to MASTER: {l}"));
        }
    }
    let my_port = if announce_port > 0 {
        announce_port as u64
    } else {
        srv.listen_port.load(Ordering::Relaxed)
    };
    c.send(&[
        b"REPLCONF",
        b"listening-port",
        my_port.to_string().as_bytes(),
    ])
    .await?;
    let l = c.reply().await?;
    if l.starts_with('-') {
        crate::log::log(
            Level::Notice,
            &format!("(Non critical) Master does not understand REPLCONF listening-port: {l}"),
        );
    }
    if !announce_ip.is_empty() {
        c.send(&[b"REPLCONF", b"ip-address", announce_ip.as_bytes()])
            .await?;
        let l = c.reply().await?;
        if l.starts_with('-') {
            crate::log::log(
                Level::Notice,
                &format!("(Non critical) Master does not understand REPLCONF ip-address: {l}"),
            );
        }
    }
    c.send(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"])
        .await?;
    let l = c.reply().await?;
    if l.starts_with('-') {
        crate::log::log(
            Level::Notice,
            &format!("(Non critical) Master does not understand REPLCONF capa: {l}"),
        );
    }
    if !current(srv, generation) {
        return Ok(());
    }
    let (req_id, req_off) = if r.have_cached.load(Ordering::Acquire) {
        let id = srv.replid.lock().clone();
        let off = srv.prop.offset() + 1;
        crate::log::log(
            Level::Notice,
            &format!("Trying a partial resynchronization (request {id}:{off})."),
        );
        (id, off.to_string())
    } else {
        crate::log::log(
            Level::Notice,
            "Partial resynchronization not possible (no cached master)",
        );
        ("?".to_string(), "-1".to_string())
    };
    c.send(&[b"PSYNC", req_id.as_bytes(), req_off.as_bytes()])
        .await?;
    let reply = c.reply().await?;
    if let Some(rest) = reply.strip_prefix("+FULLRESYNC") {
        let mut parts = rest.split_whitespace();
        let (Some(id), Some(off)) = (parts.next(), parts.next()) else {
            return Err("Master replied with wrong +FULLRESYNC syntax.".into());
        };
        let Ok(off) = off.parse::<u64>() else {
            return Err("Master replied with wrong +FULLRESYNC syntax.".into());
        };
        if id.len() != 40 {
            return Err("Master replied with wrong +FULLRESYNC syntax.".into());
        }
        crate::log::log(
            Level::Notice,
            &format!("Full resync from master: {id}:{off}"),
        );
        full_sync(srv, &mut c, id, off, generation).await?;
    } else if let Some(rest) = reply.strip_prefix("+CONTINUE") {
        crate::log::log(
            Level::Notice,
            "Successful partial resynchronization with master.",
        );
        let new = rest.trim();
        let _gate = srv.keyspace.gate.write();
        if !current(srv, generation) {
            return Ok(());
        }
        if new.len() == 40 && *srv.replid.lock() != new {
            crate::log::log(
                Level::Warning,
                &format!("Master replication ID changed to {new}"),
            );
            let old = std::mem::replace(&mut *srv.replid.lock(), new.to_string());
            *r.replid2.lock() = old;
            r.second_offset
                .store(srv.prop.offset() as i64 + 1, Ordering::Release);
            disconnect_replicas(srv);
        }
        ensure_backlog(srv);
        crate::log::log(
            Level::Notice,
            "MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.",
        );
    } else if reply.starts_with("-NOMASTERLINK") || reply.starts_with("-LOADING") {
        return Err(format!(
            "Master is currently unable to PSYNC but should be in the future: {reply}"
        ));
    } else if reply.starts_with("-ERR") {
        return Err(format!(
            "Master does not support PSYNC or is in error state (reply: {reply})"
        ));
    } else {
        return Err(format!("Unexpected reply to PSYNC from master: {reply}"));
    }
    stream_from_master(srv, c, peer, local, generation).await
}

/// A `BufRead` over the chunks the link task forwards (the RDB).
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        use std::io::BufRead;
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl std::io::BufRead for ChannelReader {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.pos == self.cur.len() {
            match self.rx.blocking_recv() {
                Some(v) => {
                    self.cur = v;
                    self.pos = 0;
                }
                None => return Ok(&[]),
            }
        }
        Ok(&self.cur[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.cur.len());
    }
}

/// Receive the RDB and load it (the keyspace emptied first), then adopt the
/// master's replid and offset.
async fn full_sync(
    srv: &Arc<Server>,
    c: &mut Conn,
    master_replid: &str,
    master_offset: u64,
    generation: u64,
) -> Result<(), String> {
    let r = &srv.repl;
    let header = c.reply().await?;
    if let Some(e) = header.strip_prefix('-') {
        return Err(format!("MASTER aborted replication with an error: {e}"));
    }
    let Some(spec) = header.strip_prefix('$') else {
        return Err(format!("Bad protocol from MASTER, the first byte is not '$' (we received '{header}'), are you sure the host and port are right?"));
    };
    let mark: Option<Vec<u8>> = match spec.strip_prefix("EOF:") {
        Some(m) if m.len() >= EOF_MARK_BYTES => Some(m.as_bytes()[..EOF_MARK_BYTES].to_vec()),
        _ => None,
    };
    let size: u64 = match &mark {
        Some(_) => {
            crate::log::log(
                Level::Notice,
                "MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to parser",
            );
            0
        }
        None => {
            let n = spec
                .parse::<u64>()
                .map_err(|_| format!("Bad protocol from MASTER: bulk length '{spec}'"))?;
            crate::log::log(
                Level::Notice,
                &format!("MASTER <-> REPLICA sync: receiving {n} bytes from master to parser"),
            );
            n
        }
    };
    r.link_state.store(LINK_TRANSFER, Ordering::Release);
    r.transfer_size.store(size as i64, Ordering::Relaxed);
    r.transfer_read.store(0, Ordering::Relaxed);
    r.transfer_last_io_ms
        .store(crate::util::now_ms(), Ordering::Relaxed);
    {
        let _gate = srv.keyspace.gate.write();
        if !current(srv, generation) {
            return Ok(());
        }
        // A new history: our replicas must resync from scratch.
        disconnect_replicas(srv);
        crate::log::log(Level::Notice, "MASTER <-> REPLICA sync: Flushing old data");
        crate::persist::empty_keyspace(srv);
        srv.persist.loading.store(true, Ordering::Release);
        srv.persist
            .loading_started_s
            .store(crate::util::now_ms() / 1000, Ordering::Relaxed);
    }
    crate::log::log(
        Level::Notice,
        "MASTER <-> REPLICA sync: Loading DB in memory",
    );
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(LOAD_CHANNEL_CHUNKS);
    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel();
    let loader = srv.clone();
    std::thread::Builder::new()
        .name("repl-load".into())
        .spawn(move || {
            let input = ChannelReader {
                rx,
                cur: Vec::new(),
                pos: 0,
            };
            let r = crate::persist::rdb::load(&loader, input).map_err(|e| e.to_string());
            let _ = done_tx.send(r);
        })
        .map_err(|e| format!("Can't start the loading thread: {e}"))?;
    // Forward the payload; whatever follows it stays in c.buf (the stream).
    let mut left = size;
    let mut tail: Vec<u8> = Vec::new();
    let mut last_newline = std::time::Instant::now();
    loop {
        if !c.buf.is_empty() {
            let got = c.buf.len() as u64;
            r.transfer_read.fetch_add(
                got.min(if mark.is_some() { got } else { left }),
                Ordering::Relaxed,
            );
            r.transfer_last_io_ms
                .store(crate::util::now_ms(), Ordering::Relaxed);
            let chunk: Vec<u8>;
            let mut finished = false;
            match &mark {
                None => {
                    let take = (left.min(got)) as usize;
                    chunk = c.buf.split_to(take).to_vec();
                    left -= take as u64;
                    finished = left == 0;
                }
                Some(m) => {
                    tail.extend_from_slice(&c.buf.split());
                    if tail.len() >= EOF_MARK_BYTES && tail[tail.len() - EOF_MARK_BYTES..] == m[..]
                    {
                        tail.truncate(tail.len() - EOF_MARK_BYTES);
                        finished = true;
                        chunk = std::mem::take(&mut tail);
                    } else {
                        let keep = EOF_MARK_BYTES.min(tail.len());
                        let rest = tail.split_off(tail.len() - keep);
                        chunk = std::mem::replace(&mut tail, rest);
                    }
                }
            }
            if !chunk.is_empty() && tx.send(chunk).await.is_err() {
                break;
            }
            if finished {
                break;
            }
        } else if mark.is_none() && left == 0 {
            break;
        }
        if last_newline.elapsed() >= Duration::from_secs(1) {
            // Keep the master from timing us out while we load.
            last_newline = std::time::Instant::now();
            let _ = c.stream.write_all(b"\n").await;
        }
        tokio::select! {
            f = c.fill() => { f?; }
            _ = &mut done_rx => {
                return Err("Failed trying to load the MASTER synchronization DB from socket".into());
            }
        }
    }
    drop(tx);
    let loaded = loop {
        tokio::select! {
            r = &mut done_rx => break r,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                let _ = c.stream.write_all(b"\n").await;
            }
        }
    };
    srv.persist.loading.store(false, Ordering::Release);
    match loaded {
        Ok(Ok(l)) => {
            srv.persist.record_load(&l);
        }
        Ok(Err(e)) => {
            return Err(format!(
                "Failed trying to load the MASTER synchronization DB from socket: {e}"
            ))
        }
        Err(_) => return Err("The loading thread exited".into()),
    }
    {
        let _gate = srv.keyspace.gate.write();
        if !current(srv, generation) {
            return Ok(());
        }
        *srv.replid.lock() = master_replid.to_string();
        *r.replid2.lock() = NULL_REPLID.to_string();
        r.second_offset.store(-1, Ordering::Release);
        srv.prop.set_offset(master_offset);
        let backlog = ensure_backlog(srv);
        backlog.reset(master_offset);
        r.read_offset.store(master_offset, Ordering::Relaxed);
        r.master_db.store(0, Ordering::Relaxed);
        r.have_cached.store(true, Ordering::Release);
        if srv.aof.runtime.lock().is_some() {
            // The AOF must restart from the new data set.
            if let Err(e) = crate::persist::aof::rewrite_background(srv) {
                crate::log::log(Level::Warning, &e);
            }
        }
    }
    crate::log::log(
        Level::Notice,
        "MASTER <-> REPLICA sync: Finished with success",
    );
    if mark.is_some() {
        // The master starts the stream on our first ACK.
        let ack = ack_bytes(master_offset);
        c.stream
            .write_all(&ack)
            .await
            .map_err(|e| format!("Error writing to MASTER: {e}"))?;
    }
    Ok(())
}

fn ack_bytes(offset: u64) -> Vec<u8> {
    let mut b = Vec::new();
    crate::propagate::encode(
        &mut b,
        &[
            b"REPLCONF".as_slice(),
            b"ACK",
            offset.to_string().as_bytes(),
        ],
    );
    b
}

/// Apply the master's stream until the link breaks.
async fn stream_from_master(
    srv: &Arc<Server>,
    c: Conn,
    peer: Option<std::net::SocketAddr>,
    local: Option<std::net::SocketAddr>,
    generation: u64,
) -> Result<(), String> {
    let r = &srv.repl;
    let Conn {
        mut stream,
        mut buf,
        timeout,
    } = c;
    let mut ci = crate::client::ClientInfo::internal(srv.clients.next_id());
    if let Some(p) = peer {
        ci.addr = p;
    }
    if let Some(l) = local {
        ci.laddr = l;
    }
    ci.kind = std::sync::atomic::AtomicU8::new(crate::client::KIND_MASTER);
    let info = Arc::new(ci);
    *info.name.lock() = None;
    srv.clients.add(info.clone());
    *r.link_client.lock() = Some(info.clone());
    let mut client = Client::new(info.clone(), true);
    client.select(r.master_db.load(Ordering::Relaxed));
    let now = crate::util::now_ms();
    r.link_last_io_ms.store(now, Ordering::Relaxed);
    r.link_down_since_ms.store(0, Ordering::Relaxed);
    r.link_state.store(LINK_CONNECTED, Ordering::Release);
    let mut raw: Vec<u8> = buf.to_vec();
    let mut parser = RequestParser::new();
    let mut multi: Option<Vec<Vec<Bytes>>> = None;
    let mut out = Out::new(false);
    let mut ack_timer = tokio::time::interval(ACK_EVERY);
    ack_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if !current(srv, generation) {
            return Ok(());
        }
        let ack_now = apply_buffered(
            srv,
            &mut client,
            &mut parser,
            &mut buf,
            &mut raw,
            &mut multi,
            &mut out,
        )?;
        r.master_db.store(client.db, Ordering::Relaxed);
        if ack_now {
            let ack = ack_bytes(srv.prop.offset());
            stream
                .write_all(&ack)
                .await
                .map_err(|e| format!("Error writing to MASTER: {e}"))?;
        }
        if buf.len() > STREAM_BUFFER_MAX_BYTES {
            return Err(
                "Protocol error from MASTER: a command larger than the stream buffer".into(),
            );
        }
        buf.reserve(READ_CHUNK_BYTES);
        tokio::select! {
            rd = stream.read_buf(&mut buf) => {
                match rd {
                    Ok(0) => return Err("Connection with master lost (connection closed).".into()),
                    Err(e) => return Err(format!("Connection with master lost ({e}).")),
                    Ok(n) => {
                        raw.extend_from_slice(&buf[buf.len() - n..]);
                        r.read_offset.store(srv.prop.offset() + raw.len() as u64, Ordering::Relaxed);
                        let now = crate::util::now_ms();
                        r.link_last_io_ms.store(now, Ordering::Relaxed);
                        info.last_interaction_ms.store(now, Ordering::Relaxed);
                        srv.stats.total_net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    }
                }
            }
            _ = ack_timer.tick() => {
                let idle = crate::util::now_ms().saturating_sub(r.link_last_io_ms.load(Ordering::Relaxed));
                if idle > timeout.as_millis() as u64 {
                    return Err("MASTER timeout: no data nor PING received...".into());
                }
                let ack = ack_bytes(srv.prop.offset());
                stream.write_all(&ack).await.map_err(|e| format!("Error writing to MASTER: {e}"))?;
            }
            _ = info.kill_notify.notified() => {
                return Err("Connection with master lost (killed).".into());
            }
        }
    }
}

/// Whether a command runs with the keyspace gate held exclusively.
fn exclusive(argv: &[Bytes]) -> bool {
    commands::lookup(&argv[0])
        .and_then(|c| commands::resolve(c, argv).ok())
        .is_some_and(|c| c.has(commands::EXCLUSIVE))
}

/// Apply every complete command in `buf` (in batches), appending their raw
/// bytes (the front of `raw`) to the stream. Returns whether the master
/// asked for an ACK.
fn apply_buffered(
    srv: &Server,
    client: &mut Client,
    parser: &mut RequestParser,
    buf: &mut BytesMut,
    raw: &mut Vec<u8>,
    multi: &mut Option<Vec<Vec<Bytes>>>,
    out: &mut Out,
) -> Result<bool, String> {
    let mut ack = false;
    let limits = Limits {
        proto_max_bulk_len: srv.hot().proto_max_bulk_len,
        authenticated: true,
    };
    loop {
        let mut batch: Vec<Vec<Bytes>> = Vec::new();
        let mut consumed = 0usize;
        let mut incomplete = false;
        while batch.len() < APPLY_BATCH_MAX {
            let before = buf.len();
            match parser.next(buf, limits) {
                Ok(Parsed::Request(argv)) => {
                    consumed += before - buf.len();
                    if !argv.is_empty() {
                        batch.push(argv);
                    }
                }
                Ok(Parsed::Incomplete) => {
                    incomplete = true;
                    break;
                }
                Err(e) => return Err(format!("Protocol error from MASTER: {}", e.0)),
            }
        }
        if consumed == 0 {
            return Ok(ack);
        }
        let hot = srv.hot();
        let excl = batch.iter().any(|a| exclusive(a));
        let shared;
        let owned;
        if excl {
            owned = Some(srv.keyspace.gate.write());
            shared = None;
        } else {
            shared = Some(srv.keyspace.gate.read());
            owned = None;
        }
        let apply = crate::propagate::from_master(srv);
        for argv in batch {
            let name = &argv[0];
            if let Some(queued) = multi.as_mut() {
                if name.eq_ignore_ascii_case(b"exec") {
                    let queued = std::mem::take(queued);
                    *multi = None;
                    client.multi = Some(MultiState {
                        queued,
                        aborted: false,
                    });
                    run(srv, client, &argv, out, &hot);
                } else if name.eq_ignore_ascii_case(b"discard") {
                    *multi = None;
                } else if !name.eq_ignore_ascii_case(b"multi") {
                    queued.push(argv);
                }
                continue;
            }
            if name.eq_ignore_ascii_case(b"multi") {
                *multi = Some(Vec::new());
            } else if name.eq_ignore_ascii_case(b"replconf") {
                if argv.len() >= 2 && argv[1].eq_ignore_ascii_case(b"getack") {
                    ack = true;
                }
            } else if name.eq_ignore_ascii_case(b"ping") {
                // The master's keepalive: nothing to do.
            } else {
                run(srv, client, &argv, out, &hot);
            }
            out.buf.clear();
        }
        out.buf.clear();
        out.errors.clear();
        apply.finish(&raw[..consumed]);
        raw.drain(..consumed);
        drop(shared);
        drop(owned);
        if incomplete {
            return Ok(ack);
        }
    }
}

fn run(srv: &Server, client: &mut Client, argv: &[Bytes], out: &mut Out, hot: &crate::config::Hot) {
    match commands::lookup(&argv[0]).and_then(|c| commands::resolve(c, argv).ok()) {
        Some(cmd) if cmd.arity_ok(argv.len()) => {
            crate::exec::call(srv, client, cmd, argv, out, hot);
        }
        _ => {
            crate::log::log(
                Level::Warning,
                &format!(
                    "Unknown or malformed command from MASTER: '{}'",
                    String::from_utf8_lossy(&argv[0])
                ),
            );
        }
    }
}
