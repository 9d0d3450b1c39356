//! The master side: PSYNC/SYNC decides between a partial resync from the
//! backlog and a full one; the connection task that received it then
//! becomes the replica's feeder ([`serve`]): it sends the RDB of a snapshot
//! begun at exactly the +FULLRESYNC offset (`$<len>` from a temp file, or
//! diskless `$EOF:<mark>`), then the stream from the backlog, and reads the
//! replica's REPLCONF ACKs. WAIT blocks here too.

use super::*;
use crate::client::Client;
use crate::commands::Ctx;
use crate::persist::rdb::Purpose;
use crate::protocol::{Limits, Out, Parsed, RequestParser};
use bytes::BytesMut;
use std::io::Write as _;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bytes handed to the socket per write from the backlog.
const FEED_CHUNK_BYTES: usize = 256 * 1024;
/// RDB bytes per message from the snapshot thread (diskless).
const RDB_CHUNK_BYTES: usize = 64 * 1024;
/// Messages in flight from the snapshot thread.
const RDB_CHANNEL_CHUNKS: usize = 16;
/// How often a waiting replica gets a newline (Redis's presync keepalive).
const KEEPALIVE: Duration = Duration::from_secs(1);
/// How often a waiting full sync retries to begin its snapshot.
const SNAPSHOT_RETRY: Duration = Duration::from_millis(50);
/// Longest request line a replica may send us (ACKs are tiny).
const REPLICA_INPUT_MAX_BYTES: usize = 1 << 20;

fn replica_addr(client: &Client) -> (String, u16) {
    let ip = client
        .repl
        .ip_address
        .clone()
        .unwrap_or_else(|| client.info.addr.ip().to_string());
    (ip, client.repl.listening_port)
}

fn register(srv: &Server, client: &Client, state: u8, pre_psync: bool) -> Arc<ReplicaEntry> {
    let (ip, port) = replica_addr(client);
    client.info.kind.store(
        crate::client::KIND_REPLICA,
        std::sync::atomic::Ordering::Relaxed,
    );
    let e = Arc::new(ReplicaEntry {
        client: client.info.clone(),
        ip,
        port,
        state: AtomicU8::new(state),
        ack_offset: AtomicU64::new(0),
        ack_time_ms: AtomicU64::new(crate::util::now_ms()),
        pre_psync,
        reader: Mutex::new(None),
    });
    srv.repl.replicas.lock().push(e.clone());
    e
}

fn unregister(srv: &Server, e: &Arc<ReplicaEntry>) {
    if let Some(rd) = e.reader.lock().take() {
        if let Some(b) = srv.repl.backlog.lock().as_ref() {
            b.detach(&rd);
        }
    }
    let mut list = srv.repl.replicas.lock();
    list.retain(|x| !Arc::ptr_eq(x, e));
    if list.is_empty() {
        srv.repl
            .no_replicas_since_ms
            .store(crate::util::now_ms(), Ordering::Relaxed);
    }
}

/// Replicas online whose last ACK covers `offset`.
pub fn count_acks(srv: &Server, offset: u64) -> usize {
    srv.repl
        .replicas
        .lock()
        .iter()
        .filter(|e| {
            e.state.load(Ordering::Acquire) == ONLINE
                && e.ack_offset.load(Ordering::Acquire) >= offset
        })
        .count()
}

/// PSYNC replid offset | SYNC. The gate is held exclusively.
pub fn psync(ctx: &mut Ctx, out: &mut Out) {
    let srv = ctx.srv;
    let is_psync = ctx.arg_is(0, "psync");
    if is_psync && ctx.argv.len() > 3 && ctx.arg_is(3, "failover") {
        return out.error("ERR PSYNC FAILOVER is not supported");
    }
    if is_replica(srv) && srv.repl.link_state.load(Ordering::Acquire) != LINK_CONNECTED {
        return out.error("NOMASTERLINK Can't SYNC while not connected with my master");
    }
    let (ip, port) = replica_addr(ctx.client);
    let name = format!("{ip}:{port}");
    crate::log::log(
        Level::Notice,
        &format!("Replica {name} asks for synchronization"),
    );
    if is_psync {
        let Some(offset) = crate::util::parse_i64(ctx.arg(2)) else {
            crate::log::log(
                Level::Warning,
                &format!("Replica {name} asks for synchronization but with a wrong offset"),
            );
            return out.error(crate::error::NOT_INTEGER);
        };
        let replid = ctx.arg_str(1);
        if try_partial(ctx, &name, &replid, offset, out) {
            srv.repl.sync_partial_ok.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if !replid.starts_with('?') {
            srv.repl.sync_partial_err.fetch_add(1, Ordering::Relaxed);
        }
    }
    srv.repl.sync_full.fetch_add(1, Ordering::Relaxed);
    if srv.repl.backlog.lock().is_none() && !is_replica(srv) {
        // A backlog from scratch starts a new history.
        new_history(srv);
        ensure_backlog(srv);
        crate::log::log(
            Level::Notice,
            &format!(
                "Replication backlog created, my new replication IDs are '{}' and '{}'",
                srv.replid.lock(),
                srv.repl.replid2.lock()
            ),
        );
    }
    ctx.client.repl.handoff = Some(Handoff::FullSync { psync: is_psync });
}

/// Redis's masterTryPartialResynchronization.
fn try_partial(ctx: &mut Ctx, name: &str, replid: &str, psync_offset: i64, out: &mut Out) -> bool {
    let srv = ctx.srv;
    let my = srv.replid.lock().clone();
    let id2 = srv.repl.replid2.lock().clone();
    let second = srv.repl.second_offset.load(Ordering::Acquire);
    if !replid.eq_ignore_ascii_case(&my)
        && (!replid.eq_ignore_ascii_case(&id2) || psync_offset > second)
    {
        if replid.starts_with('?') {
            crate::log::log(
                Level::Notice,
                &format!("Full resync requested by replica {name}"),
            );
        } else if !replid.eq_ignore_ascii_case(&my) && !replid.eq_ignore_ascii_case(&id2) {
            crate::log::log(
                Level::Notice,
                &format!("Partial resynchronization not accepted: Replication ID mismatch (Replica asked for '{replid}', my replication IDs are '{my}' and '{id2}')"),
            );
        } else {
            crate::log::log(
                Level::Notice,
                &format!("Partial resynchronization not accepted: Requested offset for second ID was {psync_offset}, but I can reply up to {second}"),
            );
        }
        return false;
    }
    let backlog = srv.repl.backlog.lock().clone();
    let pos = (psync_offset - 1).max(-1);
    let reader = match &backlog {
        Some(b) if pos >= 0 => b.attach(pos as u64),
        _ => None,
    };
    let Some(reader) = reader else {
        crate::log::log(
            Level::Notice,
            &format!("Unable to partial resync with replica {name} for lack of backlog (Replica request was: {psync_offset})."),
        );
        if psync_offset > srv.prop.offset() as i64 {
            crate::log::log(
                Level::Warning,
                &format!("Warning: replica {name} tried to PSYNC with an offset that is greater than the master replication offset."),
            );
        }
        return false;
    };
    if ctx.client.repl.capa_psync2 {
        out.raw(format!("+CONTINUE {my}\r\n").as_bytes());
    } else {
        out.raw(b"+CONTINUE\r\n");
    }
    let end = srv.prop.offset();
    let entry = register(srv, ctx.client, ONLINE, false);
    *entry.reader.lock() = Some(reader);
    crate::log::log(
        Level::Notice,
        &format!(
            "Partial resynchronization request from {name} accepted. Sending {} bytes of backlog starting from offset {psync_offset}.",
            end as i64 - pos
        ),
    );
    ctx.client.repl.handoff = Some(Handoff::Continue { entry });
    true
}

/// What the connection task does after the command that set a handoff.
/// Err: close the connection.
pub async fn serve(
    srv: &Arc<Server>,
    client: &mut Client,
    stream: &mut TcpStream,
    inbuf: &mut BytesMut,
    handoff: Handoff,
) -> Result<(), ()> {
    match handoff {
        Handoff::Wait {
            offset,
            numreplicas,
            deadline,
        } => wait(srv, client, stream, inbuf, offset, numreplicas, deadline).await,
        Handoff::Continue { entry } => {
            let r = feed(srv, client, stream, inbuf, &entry, false).await;
            unregister(srv, &entry);
            crate::log::log(
                Level::Notice,
                &format!("Connection with replica {} lost.", entry.name()),
            );
            r
        }
        Handoff::FullSync { psync } => {
            let entry = register(srv, client, WAIT_BGSAVE, !psync);
            let r = full_sync(srv, client, stream, inbuf, &entry, psync).await;
            unregister(srv, &entry);
            crate::log::log(
                Level::Notice,
                &format!("Connection with replica {} lost.", entry.name()),
            );
            r
        }
    }
}

async fn wait(
    srv: &Server,
    client: &mut Client,
    stream: &mut TcpStream,
    inbuf: &mut BytesMut,
    offset: u64,
    numreplicas: u64,
    deadline: Option<Instant>,
) -> Result<(), ()> {
    let info = client.info.clone();
    let acked = loop {
        let notified = srv.repl.acks.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let n = count_acks(srv, offset);
        if n as u64 >= numreplicas {
            break n;
        }
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = &mut notified => {}
            _ = sleep => break count_acks(srv, offset),
            r = stream.read_buf(inbuf) => {
                if !matches!(r, Ok(n) if n > 0) {
                    return Err(());
                }
            }
            _ = info.kill_notify.notified() => return Err(()),
        }
    };
    let reply = format!(":{acked}\r\n");
    stream.write_all(reply.as_bytes()).await.map_err(|_| ())
}

/// A `Write` into the channel the feeder sends from (diskless sync).
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
    buf: Vec<u8>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= RDB_CHUNK_BYTES {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(RDB_CHUNK_BYTES));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "replica gone"))
    }
}

fn encode_opts(srv: &Server) -> shoal_persistence::rdb::EncodeOptions {
    let cfg = srv.config.read();
    crate::persist::values::encode_options(
        &srv.hot(),
        cfg.get_bool("rdbcompression"),
        cfg.get_bool("rdbchecksum"),
    )
}

async fn full_sync(
    srv: &Arc<Server>,
    client: &mut Client,
    stream: &mut TcpStream,
    inbuf: &mut BytesMut,
    entry: &Arc<ReplicaEntry>,
    psync: bool,
) -> Result<(), ()> {
    let name = entry.name();
    let info = client.info.clone();
    // Begin the snapshot and the replica's place in the stream at one
    // offset, waiting for a running BGSAVE / AOF rewrite to finish.
    let mut last_keepalive = Instant::now();
    let mut said_delayed = false;
    let (snap, offset) = loop {
        {
            let _gate = srv.keyspace.gate.write();
            if !srv.snapshots.in_progress() {
                if let Some(snap) = srv.snapshots.begin(srv) {
                    let offset = srv.prop.offset();
                    // The new replica's stream starts with a SELECT.
                    srv.prop.reset_selected();
                    let backlog = ensure_backlog(srv);
                    let Some(reader) = backlog.attach(offset) else {
                        srv.snapshots.end();
                        return Err(());
                    };
                    *entry.reader.lock() = Some(reader);
                    break (snap, offset);
                }
            }
        }
        if !said_delayed {
            crate::log::log(
                Level::Notice,
                "No BGSAVE in progress, but another BG operation is active. BGSAVE for replication delayed",
            );
            said_delayed = true;
        }
        if last_keepalive.elapsed() >= KEEPALIVE {
            last_keepalive = Instant::now();
            stream.write_all(b"\n").await.map_err(|_| ())?;
        }
        tokio::select! {
            _ = tokio::time::sleep(SNAPSHOT_RETRY) => {}
            _ = info.kill_notify.notified() => return Err(()),
        }
    };
    let diskless = client.repl.capa_eof && srv.config.read().get_bool("repl-diskless-sync");
    crate::log::log(
        Level::Notice,
        &format!(
            "Starting BGSAVE for SYNC with target: {}",
            if diskless { "replicas sockets" } else { "disk" }
        ),
    );
    if psync {
        let line = format!("+FULLRESYNC {} {offset}\r\n", srv.replid.lock());
        if stream.write_all(line.as_bytes()).await.is_err() {
            srv.snapshots.end();
            return Err(());
        }
    }
    let opts = encode_opts(srv);
    let (done_tx, mut done_rx) =
        tokio::sync::oneshot::channel::<Result<Option<std::path::PathBuf>, String>>();
    let me = srv.clone();
    if diskless {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(RDB_CHANNEL_CHUNKS);
        let spawned = std::thread::Builder::new()
            .name("repl-rdb".into())
            .spawn(move || {
                let w = ChannelWriter {
                    tx,
                    buf: Vec::with_capacity(RDB_CHUNK_BYTES),
                };
                let r =
                    crate::persist::rdb::write_snapshot(&me, &snap, w, opts, Purpose::Replication)
                        .and_then(|mut w| w.flush());
                drop(snap);
                me.snapshots.end();
                let _ = done_tx.send(r.map(|_| None).map_err(|e| e.to_string()));
            });
        if spawned.is_err() {
            srv.snapshots.end();
            return Err(());
        }
        entry.state.store(SEND_BULK, Ordering::Release);
        let mark = crate::server::random_hex_id();
        stream
            .write_all(format!("$EOF:{mark}\r\n").as_bytes())
            .await
            .map_err(|_| ())?;
        loop {
            tokio::select! {
                chunk = rx.recv() => match chunk {
                    Some(c) => stream.write_all(&c).await.map_err(|_| ())?,
                    None => break,
                },
                _ = info.kill_notify.notified() => return Err(()),
            }
        }
        match done_rx.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                crate::log::log(
                    Level::Warning,
                    &format!("Diskless rdb transfer to replica {name} failed: {e}"),
                );
                return Err(());
            }
            Err(_) => return Err(()),
        }
        stream.write_all(mark.as_bytes()).await.map_err(|_| ())?;
    } else {
        let path = std::path::PathBuf::from(srv.config.read().get("dir")).join(format!(
            "temp-{}-repl-{}.rdb",
            std::process::id(),
            client.id
        ));
        let tmp = path.clone();
        let spawned = std::thread::Builder::new()
            .name("repl-rdb".into())
            .spawn(move || {
                let r = (|| -> std::io::Result<()> {
                    let file = std::fs::File::create(&tmp)?;
                    let w = crate::persist::rdb::write_snapshot(
                        &me,
                        &snap,
                        std::io::BufWriter::with_capacity(1 << 20, file),
                        opts,
                        Purpose::Replication,
                    )?;
                    w.into_inner().map_err(|e| e.into_error())?;
                    Ok(())
                })();
                drop(snap);
                me.snapshots.end();
                let _ = done_tx.send(r.map(|_| Some(tmp)).map_err(|e| e.to_string()));
            });
        if spawned.is_err() {
            srv.snapshots.end();
            return Err(());
        }
        // Keep the replica's link alive while the file is written.
        let result = loop {
            tokio::select! {
                r = &mut done_rx => break r,
                _ = tokio::time::sleep(KEEPALIVE) => {
                    if stream.write_all(b"\n").await.is_err() {
                        break Ok(Err("replica gone".into()));
                    }
                }
                _ = info.kill_notify.notified() => break Ok(Err("killed".into())),
            }
        };
        let sent = match result {
            Ok(Ok(_)) => send_file(stream, &path, entry).await,
            Ok(Err(e)) => Err(e),
            Err(_) => Err("snapshot thread gone".into()),
        };
        let _ = std::fs::remove_file(&path);
        if let Err(e) = sent {
            crate::log::log(
                Level::Warning,
                &format!("SYNC failed. Can't send the RDB to replica {name}: {e}"),
            );
            return Err(());
        }
    }
    entry.state.store(ONLINE, Ordering::Release);
    entry
        .ack_time_ms
        .store(crate::util::now_ms(), Ordering::Relaxed);
    crate::log::log(
        Level::Notice,
        &format!("Synchronization with replica {name} succeeded"),
    );
    // After a diskless transfer the replica reads until the mark, so the
    // stream may only start once it ACKs (Redis's repl_start_cmd_stream_on_ack).
    feed(srv, client, stream, inbuf, entry, diskless && psync).await
}

async fn send_file(
    stream: &mut TcpStream,
    path: &std::path::Path,
    entry: &ReplicaEntry,
) -> Result<(), String> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    entry.state.store(SEND_BULK, Ordering::Release);
    stream
        .write_all(format!("${len}\r\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; RDB_CHUNK_BYTES];
    let mut left = len;
    while left > 0 {
        let n = file.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("short RDB file".into());
        }
        let n = (n as u64).min(left) as usize;
        stream
            .write_all(&buf[..n])
            .await
            .map_err(|e| e.to_string())?;
        left -= n as u64;
    }
    Ok(())
}

/// Stream the backlog to the replica from its reader's position, reading
/// its ACKs. `wait_first_ack`: send nothing until the first ACK.
async fn feed(
    srv: &Arc<Server>,
    client: &mut Client,
    stream: &mut TcpStream,
    inbuf: &mut BytesMut,
    entry: &Arc<ReplicaEntry>,
    mut wait_first_ack: bool,
) -> Result<(), ()> {
    let Some(reader) = entry.reader.lock().clone() else {
        return Err(());
    };
    let Some(backlog) = srv.repl.backlog.lock().clone() else {
        return Err(());
    };
    let info = client.info.clone();
    let name = entry.name();
    let timeout_ms = |srv: &Server| srv.config.read().get_i64("repl-timeout").max(1) as u64 * 1000;
    let mut parser = RequestParser::new();
    let mut outbuf: Vec<u8> = Vec::with_capacity(FEED_CHUNK_BYTES);
    let mut sent = 0usize;
    let (mut rd, mut wr) = stream.split();
    // Whatever the replica sent after PSYNC (REPLCONF ACK) is in inbuf.
    let mut pending_input = !inbuf.is_empty();
    loop {
        if reader.dropped.load(Ordering::Acquire) {
            crate::log::log(
                Level::Warning,
                &format!("Client id={} addr={} (replica {name}) scheduled to be closed ASAP for overcoming of output buffer limits.", client.id, client.info.addr),
            );
            return Err(());
        }
        if pending_input {
            pending_input = false;
            loop {
                let limits = Limits {
                    proto_max_bulk_len: 1 << 20,
                    authenticated: true,
                };
                match parser.next(inbuf, limits) {
                    Ok(Parsed::Request(argv)) => {
                        if argv.len() >= 3
                            && argv[0].eq_ignore_ascii_case(b"replconf")
                            && argv[1].eq_ignore_ascii_case(b"ack")
                        {
                            if let Some(off) = crate::util::parse_i64(&argv[2]) {
                                let off = off.max(0) as u64;
                                entry.ack_offset.fetch_max(off, Ordering::AcqRel);
                                entry
                                    .ack_time_ms
                                    .store(crate::util::now_ms(), Ordering::Relaxed);
                                srv.repl.acks.notify_waiters();
                                wait_first_ack = false;
                            }
                        }
                    }
                    Ok(Parsed::Incomplete) => break,
                    Err(_) => return Err(()),
                }
            }
            if inbuf.len() > REPLICA_INPUT_MAX_BYTES {
                return Err(());
            }
        }
        if sent == outbuf.len() && !wait_first_ack {
            outbuf.clear();
            sent = 0;
            let pos = reader.pos.load(Ordering::Acquire);
            if backlog.read(pos, FEED_CHUNK_BYTES, &mut outbuf).is_err() {
                crate::log::log(
                    Level::Warning,
                    &format!(
                        "Replica {name} fell behind the replication backlog: disconnecting it"
                    ),
                );
                return Err(());
            }
        }
        let notified = backlog.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if sent == outbuf.len() && !wait_first_ack {
            // Appended between the read and enable(): read again.
            let pos = reader.pos.load(Ordering::Acquire);
            if backlog.read(pos, FEED_CHUNK_BYTES, &mut outbuf).is_err() {
                return Err(());
            }
        }
        let writing = sent < outbuf.len();
        tokio::select! {
            r = rd.read_buf(inbuf) => {
                match r {
                    Ok(n) if n > 0 => {
                        srv.stats.total_net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                        info.last_interaction_ms.store(crate::util::now_ms(), Ordering::Relaxed);
                        pending_input = true;
                    }
                    _ => return Err(()),
                }
            }
            w = wr.write(&outbuf[sent..]), if writing => {
                match w {
                    Ok(n) if n > 0 => {
                        sent += n;
                        reader.pos.fetch_add(n as u64, Ordering::AcqRel);
                        srv.stats.total_net_output_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    _ => return Err(()),
                }
            }
            _ = &mut notified, if !writing => {}
            _ = info.kill_notify.notified() => return Err(()),
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                let idle = crate::util::now_ms().saturating_sub(entry.ack_time_ms.load(Ordering::Relaxed));
                if !entry.pre_psync && idle > timeout_ms(srv) {
                    crate::log::log(
                        Level::Warning,
                        &format!("Disconnecting timedout replica (streaming sync): {name}"),
                    );
                    return Err(());
                }
            }
        }
    }
}
