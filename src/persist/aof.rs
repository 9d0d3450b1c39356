//! The AOF on the server side: loading the multi-part directory at start,
//! feeding the propagation stream to the writer thread, rewrites (a
//! snapshot as the new RDB base while writes go on into a fresh incr file),
//! and turning the AOF on and off at runtime.

use super::rdb::{self as rdbfile, Purpose};
use crate::client::{Client, ClientInfo};
use crate::commands;
use crate::log::Level;
use crate::protocol::Out;
use crate::server::Server;
use bytes::Bytes;
use parking_lot::Mutex;
use shoal_persistence::aof::{
    dir::{AofDir, AofPaths, RewriteTicket},
    manifest::{AofFileKind, BaseFormat},
    reader::{sniff_format, CommandReader, FileFormat, ReadError, ReaderLimits},
    writer::{AofWriter, AofWriterOptions, FsyncPolicy},
};
use std::io::{BufRead, BufReader, Read};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

/// The AOF while it is on.
pub struct AofRuntime {
    pub dir: AofDir,
    pub writer: Arc<AofWriter>,
}

/// AOF state shared by commands, the cron and INFO.
pub struct AofState {
    pub runtime: Mutex<Option<AofRuntime>>,
    pub rewrite_in_progress: AtomicBool,
    pub rewrite_scheduled: AtomicBool,
    pub rewrite_started_ms: AtomicU64,
    pub last_rewrite_ok: AtomicBool,
    pub last_rewrite_time_s: AtomicI64,
    pub rewrites: AtomicU64,
    /// The last write to the AOF failed (MISCONF for writes until it works).
    pub write_error: Mutex<Option<String>>,
    pub has_write_error: AtomicBool,
    /// aof_base_size: the size of the AOF after the last load or rewrite.
    pub base_size: AtomicU64,
}

impl Default for AofState {
    fn default() -> Self {
        AofState {
            runtime: Mutex::new(None),
            rewrite_in_progress: AtomicBool::new(false),
            rewrite_scheduled: AtomicBool::new(false),
            rewrite_started_ms: AtomicU64::new(0),
            last_rewrite_ok: AtomicBool::new(true),
            last_rewrite_time_s: AtomicI64::new(-1),
            rewrites: AtomicU64::new(0),
            write_error: Mutex::new(None),
            has_write_error: AtomicBool::new(false),
            base_size: AtomicU64::new(0),
        }
    }
}

/// The propagation stream into the writer thread.
struct WriterSink(Arc<AofWriter>);

impl crate::propagate::Sink for WriterSink {
    fn append(&mut self, bytes: &[u8], end_offset: u64) {
        // A connection that waits for durability leads (or joins) the group
        // commit itself: the writer thread need not be woken for it.
        let appended = if LEADS.with(|l| l.get()) {
            self.0.append_led(bytes.to_vec(), end_offset)
        } else {
            self.0.append(bytes.to_vec(), end_offset)
        };
        if let Err(e) = appended {
            crate::log::log(Level::Warning, &format!("AOF writer refused data: {e}"));
        }
    }
}

thread_local! {
    /// Set while a connection runs a batch whose writes it will wait to be
    /// durable for (appendfsync always): see [`wait_durable`].
    static LEADS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Mark the batch about to run on this thread as one whose writes the
/// connection will wait for with [`wait_durable`] (or not, `false`).
pub fn set_leads(on: bool) {
    LEADS.with(|l| l.set(on));
}

/// appendfsync always: return once the stream is fsynced up to `offset`
/// (or the AOF no longer asks for it). Group commit as Redis does it in
/// its event loop: the first connection that needs durability leads —
/// it yields once, so every other ready connection on its thread runs its
/// commands and queues their writes, then writes and fdatasyncs them all
/// on this thread; the others wait for the durable offset it publishes.
pub async fn wait_durable(srv: &Server, offset: u64) {
    let mut rx = srv.durable.subscribe();
    loop {
        if *rx.borrow_and_update() >= offset || !srv.wait_durable.load(Ordering::Acquire) {
            return;
        }
        let writer = srv.aof.runtime.lock().as_ref().map(|rt| rt.writer.clone());
        if let Some(leader) = writer.as_deref().and_then(|w| w.try_lead()) {
            tokio::task::yield_now().await;
            let synced = leader.sync();
            if leader.finish() {
                // Writes this group did not take: wake their clients to lead.
                srv.durable.send_modify(|_| {});
            }
            if synced {
                continue;
            }
        }
        // Another leader or the writer thread publishes; a wake-up without
        // progress (a leader finishing) makes us try to lead again.
        if rx.changed().await.is_err() {
            return;
        }
    }
}

pub fn paths(srv: &Server) -> AofPaths {
    let cfg = srv.config.read();
    AofPaths {
        data_dir: cfg.get("dir").into(),
        dir_name: cfg.get("appenddirname").to_string(),
        file_name: cfg.get("appendfilename").to_string(),
    }
}

pub fn policy(srv: &Server) -> FsyncPolicy {
    match srv.config.read().get("appendfsync") {
        "always" => FsyncPolicy::Always,
        "no" => FsyncPolicy::No,
        _ => FsyncPolicy::EverySec,
    }
}

/// Whether the AOF directory (or a pre-7.0 single file) exists.
pub fn exists(srv: &Server) -> bool {
    let p = paths(srv);
    p.aof_dir().exists() || p.legacy_file().exists()
}

/// Load the AOF into the keyspace (start-up, DEBUG LOADAOF). Returns the
/// number of commands replayed.
pub fn load(srv: &Server) -> Result<u64, String> {
    let mut dir = AofDir::load(paths(srv)).map_err(|e| e.to_string())?;
    if dir.needs_upgrade() {
        dir.upgrade().map_err(|e| e.to_string())?;
        crate::log::log(
            Level::Notice,
            "Successfully migrated an old-style AOF into the AOF directory",
        );
    }
    let files = dir.files_to_load().map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    let truncated_ok = srv.config.read().get_bool("aof-load-truncated");
    let mut replayed = 0;
    let mut base_bytes = 0;
    for f in &files {
        let kind = if f.kind == AofFileKind::Base {
            "base"
        } else {
            "incr"
        };
        let file = std::fs::File::open(&f.path).map_err(|e| {
            format!(
                "Fatal error: can't open the append log file {} for reading: {e}",
                f.path.display()
            )
        })?;
        if f.size_bytes == 0 {
            continue;
        }
        let mut input = BufReader::with_capacity(1 << 20, file);
        let head = input.fill_buf().map_err(|e| e.to_string())?.to_vec();
        let mut start = 0;
        if sniff_format(&head) == FileFormat::RdbPreamble {
            crate::log::log(Level::Notice, "Reading RDB base file on AOF loading...");
            let mut counted = CountingReader {
                inner: input,
                count: 0,
            };
            let loaded = rdbfile::load(srv, &mut counted).map_err(|e| {
                format!(
                    "Bad file format reading the append only file {}: {e}",
                    f.path.display()
                )
            })?;
            crate::log::log(
                Level::Notice,
                &format!("Loaded RDB base of {} keys", loaded.keys),
            );
            start = counted.count;
            input = BufReader::new(counted.inner.into_inner());
            // Continue right after the RDB part (a pre-7.0 preamble file
            // has commands after it).
            use std::io::Seek;
            let mut file = input.into_inner();
            file.seek(std::io::SeekFrom::Start(start))
                .map_err(|e| e.to_string())?;
            input = BufReader::with_capacity(1 << 20, file);
        }
        let n = replay(srv, input, start, &f.path, f.is_last && truncated_ok)?;
        replayed += n;
        if f.kind == AofFileKind::Base {
            base_bytes += f.size_bytes;
        }
        crate::log::log(
            Level::Notice,
            &format!(
                "DB loaded from {kind} file {}: {:.3} seconds",
                String::from_utf8_lossy(&f.file_name),
                started.elapsed().as_secs_f64()
            ),
        );
    }
    srv.aof.base_size.store(
        dir.sizes().current_bytes().max(base_bytes),
        Ordering::Relaxed,
    );
    Ok(replayed)
}

struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R: BufRead> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for CountingReader<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.count += amt as u64;
        self.inner.consume(amt)
    }
}

/// Replay the commands of one file. A truncated tail is cut off (when
/// allowed); corruption stops the load with the offset.
fn replay<R: BufRead + Send>(
    srv: &Server,
    input: R,
    start: u64,
    path: &std::path::Path,
    truncate_ok: bool,
) -> Result<u64, String> {
    /// Commands handed from the parsing thread to the applying one.
    enum Msg {
        Batch(Vec<Vec<Bytes>>),
        End(Result<(), ReadError>),
    }
    const BATCH: usize = 1024;
    let hot = srv.hot();
    let info = Arc::new(ClientInfo::internal(u64::MAX));
    let mut client = Client::new(info, true);
    let mut out = Out::new(false);
    let mut n = 0u64;
    let mut multi: Option<Vec<Vec<Bytes>>> = None;
    // Parsing and applying overlap: one thread reads and splits the file,
    // this one runs the commands, in file order.
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Msg>(8);
        scope.spawn(move || {
            let mut reader = CommandReader::new(input, start, ReaderLimits::default());
            let mut batch = Vec::with_capacity(BATCH);
            loop {
                match reader.next_command() {
                    Ok(Some(cmd)) => {
                        batch.push(cmd.argv.into_iter().map(Bytes::from).collect());
                        if batch.len() == BATCH
                            && tx
                                .send(Msg::Batch(std::mem::replace(
                                    &mut batch,
                                    Vec::with_capacity(BATCH),
                                )))
                                .is_err()
                        {
                            return;
                        }
                    }
                    other => {
                        let _ = tx.send(Msg::Batch(batch));
                        let _ = tx.send(Msg::End(other.map(|_| ())));
                        return;
                    }
                }
            }
        });
        let mut outcome = Err(ReadError::Truncated {
            valid_up_to: start,
            reason: "reader stopped",
        });
        'recv: for msg in rx {
            match msg {
                Msg::Batch(cmds) => {
                    for argv in cmds {
                        if argv.is_empty() {
                            continue;
                        }
                        if argv[0].eq_ignore_ascii_case(b"multi") {
                            multi = Some(Vec::new());
                            continue;
                        }
                        if argv[0].eq_ignore_ascii_case(b"exec") {
                            for queued in multi.take().unwrap_or_default() {
                                run_one(srv, &mut client, &queued, &mut out, &hot, path)?;
                            }
                            continue;
                        }
                        if let Some(q) = multi.as_mut() {
                            q.push(argv);
                            continue;
                        }
                        run_one(srv, &mut client, &argv, &mut out, &hot, path)?;
                        n += 1;
                    }
                }
                Msg::End(r) => {
                    outcome = r;
                    break 'recv;
                }
            }
        }
        finish_replay(outcome, n, path, truncate_ok)
    })
}

/// What the end of a file's replay means: done, a cut-off tail, corruption.
fn finish_replay(
    outcome: Result<(), ReadError>,
    n: u64,
    path: &std::path::Path,
    truncate_ok: bool,
) -> Result<u64, String> {
    {
        match outcome {
            Ok(()) => return Ok(n),
            Err(ReadError::Truncated {
                valid_up_to,
                reason,
            }) => {
                if !truncate_ok {
                    return Err(format!(
                        "Unexpected end of file reading the append only file {} at offset {valid_up_to} ({reason}). You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server.",
                        path.display()
                    ));
                }
                crate::log::log(
                    Level::Warning,
                    &format!(
                        "!!! Warning: short read while loading the AOF file {}!!!",
                        path.display()
                    ),
                );
                crate::log::log(
                    Level::Warning,
                    &format!(
                        "AOF {} loaded anyway because aof-load-truncated is enabled",
                        path.display()
                    ),
                );
                shoal_persistence::aof::dir::truncate_file(path, valid_up_to).map_err(|e| {
                    format!("Error truncating the AOF file {}: {e}", path.display())
                })?;
                crate::log::log(
                    Level::Warning,
                    &format!("AOF {} truncated at offset {valid_up_to}", path.display()),
                );
                return Ok(n);
            }
            Err(ReadError::Corrupt { offset, reason, .. }) => {
                return Err(format!(
                    "Bad file format reading the append only file {} at offset {offset}: {reason}. make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>",
                    path.display()
                ));
            }
            Err(e) => {
                return Err(format!(
                    "Error reading the append only file {}: {e}",
                    path.display()
                ))
            }
        }
    }
}

fn run_one(
    srv: &Server,
    client: &mut Client,
    argv: &[Bytes],
    out: &mut Out,
    hot: &crate::config::Hot,
    path: &std::path::Path,
) -> Result<(), String> {
    let Some(cmd) = commands::lookup(&argv[0]).and_then(|c| commands::resolve(c, argv).ok()) else {
        return Err(format!(
            "Unknown command '{}' reading the append only file {}",
            String::from_utf8_lossy(&argv[0]),
            path.display()
        ));
    };
    // The command alone: no stats, slowlog, WATCH or blocked clients while
    // loading (nobody is connected), and nothing to propagate.
    crate::propagate::without_propagation(|| {
        let mut ctx = commands::Ctx::new(srv, client, argv, cmd, hot);
        (cmd.handler)(&mut ctx, out);
    });
    out.buf.clear();
    Ok(())
}

/// An RDB file holding nothing: the base Redis writes for a new AOF.
fn empty_rdb(srv: &Server) -> Vec<u8> {
    let opts = super::values::encode_options(&srv.hot(), true, true);
    let mut w = shoal_persistence::rdb::RdbWriter::new(Vec::new(), opts).expect("vec");
    let _ = w.aux(b"redis-ver", crate::REDIS_VERSION.as_bytes());
    let _ = w.aux_int(b"aof-base", 1);
    w.finish().unwrap_or_default()
}

/// Start appending: open (or create) the directory's last incr file and
/// attach the writer to the propagation stream. The caller holds the
/// keyspace gate exclusively (or nothing runs yet).
pub fn start(srv: &Server) -> Result<(), String> {
    let mut dir = AofDir::load(paths(srv)).map_err(|e| e.to_string())?;
    let base = empty_rdb(srv);
    let opened = dir
        .open_for_append(Some((BaseFormat::Rdb, &base)))
        .map_err(|e| e.to_string())?;
    let offset = srv.prop.offset();
    let mut opts = AofWriterOptions::new(policy(srv), offset, opened.size_bytes);
    let me = srv.arc();
    opts.on_durable = Some(Box::new(move |d| {
        if let Some(s) = me.as_ref() {
            s.durable.send_replace(d);
        }
    }));
    let writer =
        Arc::new(AofWriter::start(Arc::new(opened.file), opts).map_err(|e| e.to_string())?);
    srv.prop
        .add_sink("aof", Box::new(WriterSink(writer.clone())));
    srv.prop.reset_selected();
    srv.durable.send_replace(offset);
    srv.wait_durable
        .store(policy(srv) == FsyncPolicy::Always, Ordering::Release);
    *srv.aof.runtime.lock() = Some(AofRuntime { dir, writer });
    Ok(())
}

/// Stop appending: detach, flush and fsync (appendonly no, shutdown).
pub fn stop(srv: &Server) {
    srv.prop.remove_sink("aof");
    srv.wait_durable.store(false, Ordering::Release);
    srv.durable.send_modify(|_| {});
    if let Some(rt) = srv.aof.runtime.lock().take() {
        match Arc::try_unwrap(rt.writer) {
            Ok(w) => {
                if let Err(e) = w.shutdown() {
                    crate::log::log(Level::Warning, &format!("Error flushing the AOF: {e}"));
                }
            }
            Err(w) => {
                // Still shared (a rewrite thread): it flushes when dropped.
                drop(w);
            }
        }
    }
}

/// Apply a changed appendfsync to the running writer.
pub fn policy_changed(srv: &Server) {
    let p = policy(srv);
    if let Some(rt) = srv.aof.runtime.lock().as_ref() {
        rt.writer.set_policy(p);
        srv.wait_durable
            .store(p == FsyncPolicy::Always, Ordering::Release);
        srv.durable.send_modify(|_| {});
    }
}

/// BGREWRITEAOF: switch the writer to a new incr file and begin a snapshot
/// at the same instant (the caller holds the gate exclusively), then write
/// the snapshot as the new base on a thread and commit the manifest.
/// With the AOF off, this writes a fresh AOF directory holding the data
/// (the first step of turning it on).
pub fn rewrite_background(srv: &Server) -> Result<(), String> {
    if srv.aof.rewrite_in_progress.load(Ordering::Acquire) {
        return Err("ERR Background append only file rewriting already in progress".into());
    }
    if srv.snapshots.in_progress() {
        srv.aof.rewrite_scheduled.store(true, Ordering::Release);
        return Ok(());
    }
    let ticket = {
        let mut rt = srv.aof.runtime.lock();
        match rt.as_mut() {
            Some(rt) => {
                let (ticket, opened) = rt.dir.begin_rewrite().map_err(|e| e.to_string())?;
                rt.writer
                    .rotate(Arc::new(opened.file), opened.size_bytes, srv.prop.offset())
                    .map_err(|e| e.to_string())?;
                srv.prop.reset_selected();
                Some(ticket)
            }
            None => None,
        }
    };
    let Some(snap) = srv.snapshots.begin(srv) else {
        return Err("ERR Background append only file rewriting already in progress".into());
    };
    let Some(me) = srv.arc() else {
        srv.snapshots.end();
        return Err("ERR server is shutting down".into());
    };
    srv.aof.rewrite_in_progress.store(true, Ordering::Release);
    srv.aof.rewrite_scheduled.store(false, Ordering::Release);
    srv.aof
        .rewrite_started_ms
        .store(crate::util::now_ms(), Ordering::Relaxed);
    crate::log::log(
        Level::Notice,
        "Background append only file rewriting started by pid 0 (thread, copy-on-write per slot)",
    );
    std::thread::Builder::new()
        .name("aof-rewrite".into())
        .spawn(move || rewrite_thread(me, snap, ticket))
        .map_err(|e| format!("ERR Can't rewrite append only file in background: {e}"))?;
    Ok(())
}

fn rewrite_thread(
    srv: Arc<Server>,
    snap: Arc<crate::snapshot::Snapshot>,
    ticket: Option<RewriteTicket>,
) {
    let started = std::time::Instant::now();
    let p = paths(&srv);
    let result = (|| -> Result<u64, String> {
        std::fs::create_dir_all(p.aof_dir()).map_err(|e| e.to_string())?;
        let tmp = p
            .aof_dir()
            .join(format!("temp-rewriteaof-bg-{}.aof", std::process::id()));
        let opts = super::values::encode_options(
            &srv.hot(),
            srv.config.read().get_bool("rdbcompression"),
            true,
        );
        let file = std::fs::File::create(&tmp).map_err(|e| e.to_string())?;
        let w = rdbfile::write_snapshot(
            &srv,
            &snap,
            std::io::BufWriter::with_capacity(1 << 20, file),
            opts,
            Purpose::AofBase,
        )
        .map_err(|e| e.to_string())?;
        let file = w.into_inner().map_err(|e| e.to_string())?;
        file.sync_all().map_err(|e| e.to_string())?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        drop(snap);
        srv.snapshots.end();
        let mut rt = srv.aof.runtime.lock();
        match (rt.as_mut(), ticket) {
            (Some(rt), Some(ticket)) => {
                rt.dir
                    .commit_rewrite(&ticket, &tmp, BaseFormat::Rdb)
                    .map_err(|e| e.to_string())?;
                if !srv.config.read().get_bool("aof-disable-auto-gc") {
                    let _ = rt.dir.delete_history();
                }
            }
            _ => {
                // The AOF was off: this base plus an empty incr is the new AOF.
                let _ = std::fs::remove_file(&tmp);
                return Err("the AOF was turned off during the rewrite".into());
            }
        }
        Ok(size)
    })();
    srv.snapshots.end();
    srv.aof
        .last_rewrite_time_s
        .store(started.elapsed().as_secs() as i64, Ordering::Relaxed);
    match result {
        Ok(size) => {
            srv.aof.base_size.store(size, Ordering::Relaxed);
            srv.aof.last_rewrite_ok.store(true, Ordering::Relaxed);
            srv.aof.rewrites.fetch_add(1, Ordering::Relaxed);
            crate::log::log(
                Level::Notice,
                "Background AOF rewrite terminated with success",
            );
            crate::log::log(
                Level::Notice,
                "Background AOF rewrite finished successfully",
            );
        }
        Err(e) => {
            srv.aof.last_rewrite_ok.store(false, Ordering::Relaxed);
            crate::log::log(
                Level::Warning,
                &format!("Background AOF rewrite failed: {e}"),
            );
        }
    }
    srv.aof.rewrite_in_progress.store(false, Ordering::Release);
}

/// CONFIG SET appendonly yes at runtime: write the current data as the
/// AOF's base (a synchronous rewrite into a fresh directory layout), then
/// start appending. The caller holds the gate exclusively.
pub fn enable(srv: &Server) -> Result<(), String> {
    if srv.aof.runtime.lock().is_some() {
        return Ok(());
    }
    let mut dir = AofDir::load(paths(srv)).map_err(|e| e.to_string())?;
    // Base = the data now; nothing runs meanwhile (gate held).
    let Some(snap) = srv.snapshots.begin(srv) else {
        return Err("ERR Background save in progress".into());
    };
    let tmp = dir.temp_rewrite_path(std::process::id());
    std::fs::create_dir_all(dir.aof_dir()).map_err(|e| e.to_string())?;
    let opts = super::values::encode_options(&srv.hot(), true, true);
    let r = rdbfile::save_to_path(srv, &snap, &tmp, opts, Purpose::AofBase);
    drop(snap);
    srv.snapshots.end();
    r.map_err(|e| e.to_string())?;
    let (ticket, _opened) = dir.begin_rewrite().map_err(|e| e.to_string())?;
    dir.commit_rewrite(&ticket, &tmp, BaseFormat::Rdb)
        .map_err(|e| e.to_string())?;
    let _ = dir.delete_history();
    drop(dir);
    start(srv)
}

/// Cron: copy the writer's status for MISCONF and INFO, and start an
/// automatic rewrite when the AOF grew past auto-aof-rewrite-percentage.
pub fn cron(srv: &Server) {
    let (status, current, base_ok) = {
        let rt = srv.aof.runtime.lock();
        let Some(rt) = rt.as_ref() else { return };
        (
            rt.writer.write_status(),
            rt.dir.sizes().current_bytes(),
            true,
        )
    };
    match status {
        Ok(()) => {
            if srv.aof.has_write_error.swap(false, Ordering::AcqRel) {
                crate::log::log(
                    Level::Warning,
                    "AOF write error looks solved, Redis can write again.",
                );
            }
            *srv.aof.write_error.lock() = None;
        }
        Err(e) => {
            if !srv.aof.has_write_error.swap(true, Ordering::AcqRel) {
                crate::log::log(
                    Level::Warning,
                    &format!("Error writing to the AOF file: {e}"),
                );
            }
            *srv.aof.write_error.lock() = Some(e);
        }
    }
    let scheduled =
        srv.aof.rewrite_scheduled.load(Ordering::Acquire) && !srv.snapshots.in_progress();
    let (pct, min) = {
        let cfg = srv.config.read();
        (
            cfg.get_i64("auto-aof-rewrite-percentage"),
            cfg.get_i64("auto-aof-rewrite-min-size") as u64,
        )
    };
    let base = srv.aof.base_size.load(Ordering::Relaxed).max(1);
    let grown = pct > 0
        && current > min
        && base_ok
        && (current - base.min(current)) * 100 / base >= pct as u64;
    if (scheduled || grown)
        && !srv.aof.rewrite_in_progress.load(Ordering::Acquire)
        && !srv.snapshots.in_progress()
    {
        if grown {
            crate::log::log(
                Level::Notice,
                &format!(
                    "Starting automatic rewriting of AOF on {}% growth",
                    (current - base.min(current)) * 100 / base
                ),
            );
        }
        let _gate = srv.keyspace.gate.write();
        if let Err(e) = rewrite_background(srv) {
            crate::log::log(Level::Warning, &e);
        }
    }
}

/// Sizes for INFO: (current, base, pending bytes, delayed fsyncs).
pub fn info_sizes(srv: &Server) -> Option<(u64, u64, u64, u64)> {
    let rt = srv.aof.runtime.lock();
    let rt = rt.as_ref()?;
    let st = rt.writer.stats();
    Some((
        rt.dir.sizes().current_bytes() + st.pending_bytes,
        srv.aof.base_size.load(Ordering::Relaxed),
        st.pending_bytes,
        st.delayed_fsync,
    ))
}
