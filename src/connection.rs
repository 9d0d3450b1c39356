//! One client connection: read, parse every complete request, execute the
//! batch under one hold of the keyspace gate, write all replies at once.
//!
//! Protocol errors get Redis's `-ERR Protocol error: ...` and close the
//! connection; command errors never do. The connection is also where
//! maxclients, protected mode, the query-buffer limit and CLIENT KILL /
//! idle timeout take effect.

use crate::client::{Client, ClientInfo};
use crate::exec::{self, Gate};
use crate::protocol::{Limits, Out, Parsed, RequestParser};
use crate::server::Server;
use bytes::BytesMut;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const READ_CHUNK_BYTES: usize = 16 * 1024;
/// Flush replies early when a pipeline's output grows past this.
const OUTPUT_FLUSH_BYTES: usize = 64 * 1024;

pub const PROTECTED_MODE_MSG: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Whether protected mode refuses a client from `peer`.
pub fn protected_mode_refuses(protected_mode: bool, has_password: bool, peer: &SocketAddr) -> bool {
    protected_mode && !has_password && !peer.ip().is_loopback()
}

pub async fn handle(srv: Arc<Server>, mut stream: TcpStream, addr: SocketAddr) {
    srv.stats
        .total_connections_received
        .fetch_add(1, Ordering::Relaxed);
    let mut hot = srv.hot();
    let mut hot_epoch = srv.config_epoch.load(Ordering::Acquire);
    if srv.clients.len() >= hot.maxclients {
        srv.stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        let _ = stream
            .write_all(b"-ERR max number of clients reached\r\n")
            .await;
        return;
    }
    if protected_mode_refuses(
        hot.protected_mode,
        !srv.acl.default_user().data().nopass,
        &addr,
    ) {
        srv.stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        let _ = stream.write_all(PROTECTED_MODE_MSG.as_bytes()).await;
        return;
    }
    let _ = stream.set_nodelay(true);
    set_keepalive(&stream, srv.config.read().get_i64("tcp-keepalive"));
    let laddr = stream.local_addr().unwrap_or(addr);
    let info = Arc::new(ClientInfo::new(srv.clients.next_id(), addr, laddr));
    srv.clients.add(info.clone());
    let mut client = Client::new(info.clone(), !srv.acl.auth_required());
    client.set_user(srv.acl.default_user().clone());
    let mut inbuf = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut parser = RequestParser::new();
    let mut out = Out::new(false);

    'conn: loop {
        if inbuf.capacity() - inbuf.len() < READ_CHUNK_BYTES / 2 {
            // Grow toward a big bulk's size as its bytes arrive, doubling at most.
            let want = parser
                .pending_bulk_bytes(inbuf.len())
                .min(inbuf.len().max(READ_CHUNK_BYTES));
            inbuf.reserve(READ_CHUNK_BYTES.max(want));
        }
        // Pushes queued before the next request are written before its
        // reply (a tracking invalidation, then the PING that follows it).
        let read = tokio::select! {
            biased;
            _ = info.kill_notify.notified() => break 'conn,
            msg = next_push(&mut client.pushes) => {
                // MONITOR lines (and later pub/sub messages) for this client.
                let Some(msg) = msg else { break 'conn };
                srv.stats.total_net_output_bytes.fetch_add(msg.len() as u64, Ordering::Relaxed);
                // Queued pushes count as pending output until written; the
                // publisher's side enforces the limit on the queue, this
                // write counts what the socket has not taken and ends on a
                // kill (a subscriber over its limit that never reads).
                info.output_buf.fetch_sub(msg.len(), Ordering::Relaxed);
                let unlimited = crate::config::OutputLimit::default();
                if write_replies(&mut stream, &msg, unlimited, &info).await.is_err() {
                    break 'conn;
                }
                continue 'conn;
            }
            r = stream.read_buf(&mut inbuf) => r,
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                srv.stats
                    .total_net_input_bytes
                    .fetch_add(n as u64, Ordering::Relaxed);
            }
        }
        if info.killed.load(Ordering::Relaxed) {
            break;
        }
        info.last_interaction_ms
            .store(crate::util::now_ms(), Ordering::Relaxed);
        let epoch = srv.config_epoch.load(Ordering::Acquire);
        if epoch != hot_epoch {
            hot = srv.hot();
            hot_epoch = epoch;
        }
        if inbuf.len() > hot.client_query_buffer_limit {
            crate::warning!(
                "Closing client that reached max query buffer length: id={} addr={}",
                info.id,
                addr
            );
            break;
        }

        // Several requests arrived at once (a pipeline): start loading
        // their keys' table memory together before running them one by one.
        prefetch_keys(&srv, &client, &inbuf);

        // Execute the complete requests in the buffer a batch at a time
        // (the gate is held per batch, never across the write's await).
        let mut close;
        loop {
            let propagated_before = crate::propagate::last_offset();
            // A command held by CLIENT PAUSE or blocked stops the batch until it is done.
            let step = if client.postponed.is_some()
                || client.blocked.is_some()
                || client.script_wait.is_some()
            {
                Batch::Blocked
            } else {
                let leads = srv.wait_durable.load(Ordering::Acquire);
                crate::persist::aof::set_leads(leads);
                let step = run_batch(
                    &srv,
                    &mut client,
                    &mut parser,
                    &mut inbuf,
                    &mut out,
                    &mut hot,
                    &mut hot_epoch,
                );
                if leads {
                    crate::persist::aof::set_leads(false);
                }
                step
            };
            close = step == Batch::Close;
            if close {
                info.closing.store(true, Ordering::Relaxed);
            }
            srv.stats.count_errors(&out.errors);
            out.errors.clear();
            // appendfsync always: a write is acknowledged once it is on disk
            // (every client whose writes went into one fsync shares it).
            let propagated = crate::propagate::last_offset();
            if propagated > propagated_before && srv.wait_durable.load(Ordering::Acquire) {
                crate::persist::aof::wait_durable(&srv, propagated).await;
            }
            if !out.buf.is_empty() {
                srv.stats
                    .total_net_output_bytes
                    .fetch_add(out.buf.len() as u64, Ordering::Relaxed);
                let limit = if client.subs.any() {
                    hot.obuf_pubsub
                } else {
                    hot.obuf_normal
                };
                if write_replies(&mut stream, &out.buf, limit, &info)
                    .await
                    .is_err()
                {
                    break 'conn;
                }
                out.buf.clear();
            }
            // PSYNC made this connection a replica's feeder, or WAIT blocks.
            if let Some(h) = client.repl.handoff.take() {
                match crate::replication::master::serve(
                    &srv,
                    &mut client,
                    &mut stream,
                    &mut inbuf,
                    h,
                )
                .await
                {
                    Ok(()) => continue,
                    Err(()) => break 'conn,
                }
            }
            if step == Batch::Blocked && client.postponed.is_some() {
                match wait_unpaused(&srv, &mut client, &mut stream, &mut inbuf).await {
                    Ok(()) => {
                        // Run the held command now, then carry on with the buffer.
                        let argv = client.postponed.take().expect("postponed");
                        {
                            let mut gate = Gate::for_batch(&srv);
                            out.resp3 = client.resp3;
                            exec::process(&srv, &mut client, &argv, &mut out, &hot, &mut gate);
                        }
                        if !out.buf.is_empty() {
                            if stream.write_all(&out.buf).await.is_err() {
                                break 'conn;
                            }
                            out.buf.clear();
                        }
                        // Held again (a new pause) or not: the loop decides.
                        continue;
                    }
                    Err(()) => break 'conn,
                }
            }
            if step == Batch::Blocked && client.script_wait.is_some() {
                match wait_script(&srv, &mut client, &mut stream, &mut inbuf, &mut out).await {
                    Ok(()) => {
                        srv.stats.count_errors(&out.errors);
                        out.errors.clear();
                        if !out.buf.is_empty() {
                            srv.stats
                                .total_net_output_bytes
                                .fetch_add(out.buf.len() as u64, Ordering::Relaxed);
                            if stream.write_all(&out.buf).await.is_err() {
                                break 'conn;
                            }
                            out.buf.clear();
                        }
                        continue;
                    }
                    Err(()) => break 'conn,
                }
            }
            if step == Batch::Blocked && client.blocked.is_some() {
                match wait_unblocked(&srv, &mut client, &mut stream, &mut inbuf).await {
                    Ok(()) => continue,
                    Err(()) => break 'conn,
                }
            }
            if step != Batch::Flushed {
                break;
            }
        }
        info.query_buf.store(inbuf.len(), Ordering::Relaxed);
        if close {
            break;
        }
        // Keep a huge buffer from a past big request from pinning memory.
        if inbuf.is_empty() && inbuf.capacity() > 4 * READ_CHUNK_BYTES {
            inbuf = BytesMut::with_capacity(READ_CHUNK_BYTES);
        }
        if out.buf.capacity() > 4 * OUTPUT_FLUSH_BYTES {
            out.buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
        }
    }
    info.closing.store(true, Ordering::Relaxed);
    let _ = stream.shutdown().await;
    srv.watches.unwatch_all(&mut client.watch);
    srv.tracking.disable(&mut client);
    srv.monitors.remove(info.id);
    srv.pubsub.remove_client(
        info.id,
        &client.subs.channels,
        &client.subs.shard,
        &client.subs.patterns,
    );
    srv.clients.remove(info.id);
}

/// How often a client held over its soft output limit is looked at again.
const SOFT_LIMIT_RECHECK: std::time::Duration = std::time::Duration::from_millis(100);

/// Write a batch's replies. What the client has not taken yet counts against
/// its client-output-buffer-limit class (and shows as CLIENT LIST's omem):
/// over the hard limit, or over the soft one for its seconds, the client is
/// closed and the memory of its replies freed — a client that asks for a
/// huge reply and never reads cannot hold it forever. CLIENT KILL also ends
/// a write the client never takes.
async fn write_replies(
    stream: &mut TcpStream,
    buf: &[u8],
    limit: crate::config::OutputLimit,
    info: &ClientInfo,
) -> Result<(), ()> {
    // The usual case: the socket takes it all at once.
    let mut pos = match stream.try_write(buf) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
        Err(_) => return Err(()),
    };
    if pos == buf.len() {
        return Ok(());
    }
    info.output_buf
        .fetch_add(buf.len() - pos, Ordering::Relaxed);
    let result = loop {
        let pending = (buf.len() - pos) as u64;
        if info.killed.load(Ordering::Relaxed) {
            break Err(());
        }
        if limit.exceeded(pending, &info.obuf_soft_since_ms, crate::util::now_ms()) {
            info.close_for_output_limit();
            break Err(());
        }
        let recheck = limit.soft_bytes > 0 && pending > limit.soft_bytes;
        tokio::select! {
            ready = stream.writable() => {
                if ready.is_err() {
                    break Err(());
                }
                match stream.try_write(&buf[pos..]) {
                    Ok(n) => {
                        pos += n;
                        info.output_buf.fetch_sub(n, Ordering::Relaxed);
                        if pos == buf.len() {
                            break Ok(());
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => break Err(()),
                }
            }
            _ = tokio::time::sleep(SOFT_LIMIT_RECHECK), if recheck => {}
            _ = info.kill_notify.notified() => break Err(()),
        }
    };
    info.output_buf
        .fetch_sub(buf.len() - pos, Ordering::Relaxed);
    info.obuf_soft_since_ms.store(0, Ordering::Relaxed);
    result
}

/// The next pushed message, or never if the client receives none.
async fn next_push(
    rx: &mut Option<tokio::sync::mpsc::UnboundedReceiver<bytes::Bytes>>,
) -> Option<bytes::Bytes> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Batch {
    /// Every complete request ran; wait for more bytes.
    NeedInput,
    /// Stopped to flush a large output; complete requests may remain.
    Flushed,
    /// The connection must close once the output is written.
    Close,
    /// The last command blocked: write what we have, then wait to be served.
    Blocked,
}

/// Wait for CLIENT PAUSE to end (or its deadline), buffering input.
async fn wait_unpaused(
    srv: &Server,
    client: &mut Client,
    stream: &mut TcpStream,
    inbuf: &mut BytesMut,
) -> Result<(), ()> {
    srv.pause.add_postponed(1);
    let info = client.info.clone();
    let result = loop {
        let ended = srv.pause.ended.notified();
        srv.pause.expire_if_due();
        let Some(deadline) = srv.pause.deadline() else {
            break Ok(());
        };
        tokio::select! {
            _ = ended => {}
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)) => {}
            r = stream.read_buf(inbuf) => {
                if !matches!(r, Ok(n) if n > 0) {
                    break Err(());
                }
            }
            _ = info.kill_notify.notified() => break Err(()),
        }
    };
    srv.pause.add_postponed(-1);
    result
}

/// Wait until the blocked command is served (its reply arrives on the push
/// channel) or times out (answer nil). Bytes the client sends meanwhile are
/// buffered for after. Err: the connection is gone or killed.
async fn wait_unblocked(
    srv: &Server,
    client: &mut Client,
    stream: &mut TcpStream,
    inbuf: &mut BytesMut,
) -> Result<(), ()> {
    use crate::blocking::{CANCELLED, SERVED};
    let Some(blocked) = client.blocked.take() else {
        return Ok(());
    };
    let w = blocked.waiter.clone();
    let info = client.info.clone();
    let mut deadline = blocked.deadline;
    let result = loop {
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            msg = next_push(&mut client.pushes) => {
                let Some(msg) = msg else { break Err(()) };
                srv.stats.total_net_output_bytes.fetch_add(msg.len() as u64, Ordering::Relaxed);
                if stream.write_all(&msg).await.is_err() {
                    break Err(());
                }
                if w.state.load(Ordering::Acquire) == SERVED {
                    break Ok(());
                }
            }
            _ = sleep => {
                if w.claim(CANCELLED) {
                    srv.blocking.unregister(&w);
                    crate::blocking::count_unblocked(&w, false);
                    let reply: &[u8] = match (blocked.null_array, client.resp3) {
                        (_, true) => b"_\r\n",
                        (true, false) => b"*-1\r\n",
                        (false, false) => b"$-1\r\n",
                    };
                    if stream.write_all(reply).await.is_err() {
                        break Err(());
                    }
                    break Ok(());
                }
                // Being served right now: the reply is on its way.
                deadline = Some(std::time::Instant::now() + std::time::Duration::from_millis(1));
            }
            r = stream.read_buf(inbuf) => {
                if !matches!(r, Ok(n) if n > 0) {
                    break Err(());
                }
            }
            _ = info.kill_notify.notified() => break Err(()),
        }
    };
    if result.is_err() && w.claim(CANCELLED) {
        srv.blocking.unregister(&w);
    }
    result
}

/// Wait for the script thread's reply to this client's EVAL / FCALL,
/// buffering what the client sends meanwhile; the reply goes to `out`.
async fn wait_script(
    srv: &Server,
    client: &mut Client,
    stream: &mut TcpStream,
    inbuf: &mut BytesMut,
    out: &mut Out,
) -> Result<(), ()> {
    let Some(mut rx) = client.script_wait.take() else {
        return Ok(());
    };
    let info = client.info.clone();
    let done = loop {
        tokio::select! {
            r = &mut rx => break r,
            r = stream.read_buf(inbuf) => {
                if !matches!(r, Ok(n) if n > 0) {
                    return Err(());
                }
            }
            _ = info.kill_notify.notified() => return Err(()),
        }
    };
    let Ok(done) = done else {
        out.error("ERR the script thread stopped before replying");
        return Ok(());
    };
    let start = out.buf.len();
    out.buf.extend_from_slice(&done.reply);
    out.errors.extend(done.errors);
    exec::apply_reply_mode(client, out, start);
    if srv.wait_durable.load(Ordering::Acquire) {
        crate::persist::aof::wait_durable(srv, done.offset).await;
    }
    Ok(())
}

/// Run requests from `inbuf` until it holds no complete one or the output
/// is due for a flush.
/// Prefetch the keyspace memory of the pipelined requests at the start of
/// `inbuf` (see `Db::prefetch`); a lone request gains nothing from it.
fn prefetch_keys(srv: &Server, client: &Client, inbuf: &[u8]) {
    const MAX: usize = 32;
    let mut keys: [&[u8]; MAX] = [&[]; MAX];
    let mut n = 0;
    let walked = crate::protocol::parse::peek_first_keys(inbuf, MAX, |k| {
        keys[n] = k;
        n += 1;
    });
    if walked >= 2 && n > 0 {
        srv.keyspace.db(client.db).prefetch(&keys[..n]);
    }
}

fn run_batch(
    srv: &Server,
    client: &mut Client,
    parser: &mut RequestParser,
    inbuf: &mut BytesMut,
    out: &mut Out,
    hot: &mut Arc<crate::config::Hot>,
    hot_epoch: &mut u64,
) -> Batch {
    let mut gate = Gate::for_batch(srv);
    while out.buf.len() < OUTPUT_FLUSH_BYTES {
        let limits = Limits {
            proto_max_bulk_len: hot.proto_max_bulk_len,
            authenticated: client.authenticated,
        };
        match parser.next(inbuf, limits) {
            Ok(Parsed::Incomplete) => return Batch::NeedInput,
            Ok(Parsed::Request(argv)) => {
                if argv.is_empty() {
                    continue;
                }
                out.resp3 = client.resp3;
                client
                    .info
                    .query_buf
                    .store(parser.last_request_bytes + inbuf.len(), Ordering::Relaxed);
                exec::process(srv, client, &argv, out, hot, &mut gate);
                if client.blocked.is_some()
                    || client.postponed.is_some()
                    || client.repl.handoff.is_some()
                    || client.script_wait.is_some()
                {
                    return Batch::Blocked;
                }
                // A CONFIG SET applies from the next command on, even in a pipeline.
                let epoch = srv.config_epoch.load(Ordering::Acquire);
                if epoch != *hot_epoch {
                    *hot = srv.hot();
                    *hot_epoch = epoch;
                }
                if client.close_after_reply || client.info.killed.load(Ordering::Relaxed) {
                    return Batch::Close;
                }
            }
            Err(e) => {
                crate::verbose!(
                    "Protocol error ({}) from client: id={} addr={}",
                    e.0,
                    client.id,
                    client.info.addr
                );
                out.error(&format!("ERR {}", e.0));
                return Batch::Close;
            }
        }
    }
    Batch::Flushed
}

fn set_keepalive(stream: &TcpStream, interval_s: i64) {
    if interval_s <= 0 {
        return;
    }
    use std::os::fd::AsRawFd;
    let fd = stream.as_raw_fd();
    let one: libc::c_int = 1;
    let idle: libc::c_int = interval_s as libc::c_int;
    let intvl: libc::c_int = (interval_s / 3).max(1) as libc::c_int;
    let cnt: libc::c_int = 3;
    let sz = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: fd is a live socket owned by `stream`; each value is a c_int of size `sz`.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_KEEPALIVE,
            &one as *const _ as *const libc::c_void,
            sz,
        );
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_KEEPIDLE,
            &idle as *const _ as *const libc::c_void,
            sz,
        );
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_KEEPINTVL,
            &intvl as *const _ as *const libc::c_void,
            sz,
        );
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_KEEPCNT,
            &cnt as *const _ as *const libc::c_void,
            sz,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_mode_only_refuses_remote_without_password() {
        let remote: SocketAddr = "10.1.2.3:5000".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let local6: SocketAddr = "[::1]:5000".parse().unwrap();
        assert!(protected_mode_refuses(true, false, &remote));
        assert!(!protected_mode_refuses(true, false, &local));
        assert!(!protected_mode_refuses(true, false, &local6));
        assert!(!protected_mode_refuses(true, true, &remote));
        assert!(!protected_mode_refuses(false, false, &remote));
    }
}
