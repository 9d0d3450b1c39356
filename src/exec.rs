//! Dispatch: from an argument vector to a reply, in Redis's order of checks
//! (`processCommand`): lookup, subcommand, arity, authentication, the
//! MULTI queue; then the call itself with its bookkeeping (commandstats,
//! slowlog, latency monitor, error stats, CLIENT REPLY modes).
//!
//! The keyspace gate is held by the caller for the whole pipeline batch and
//! switched to exclusive only for commands flagged EXCLUSIVE. While a
//! script runs past busy-reply-threshold the batch holds no gate at all
//! ("busy" mode): commands flagged allow_busy run, others get BUSY.

use crate::client::{Client, ReplyMode};
use crate::commands::{self, Command, Ctx, EXCLUSIVE, NO_AUTH, NO_MULTI};
use crate::config::Hot;
use crate::error;
use crate::protocol::Out;
use crate::server::Server;
use bytes::Bytes;
use parking_lot::{RwLockReadGuard, RwLockWriteGuard};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// How the caller holds the keyspace gate: shared for ordinary commands,
/// exclusive for whole-keyspace ones.
pub struct Gate<'a> {
    srv: &'a Server,
    shared: Option<RwLockReadGuard<'a, ()>>,
    exclusive: Option<RwLockWriteGuard<'a, ()>>,
}

impl<'a> Gate<'a> {
    pub fn shared(srv: &'a Server) -> Self {
        Gate {
            srv,
            shared: Some(srv.keyspace.gate.read()),
            exclusive: None,
        }
    }

    /// The gate for a batch: shared, or none while a script runs past the
    /// busy threshold (the script holds it exclusively; waiting for it
    /// would leave this thread's clients without their BUSY replies).
    pub fn for_batch(srv: &'a Server) -> Self {
        let mut gate = Gate {
            srv,
            shared: None,
            exclusive: None,
        };
        gate.refresh();
        gate
    }

    /// Busy mode: no hold while a script is past its threshold.
    fn busy(&self) -> bool {
        self.shared.is_none() && self.exclusive.is_none()
    }

    /// Take the shared hold again once no script is busy any more.
    fn refresh(&mut self) {
        if !self.busy() {
            return;
        }
        let running = &self.srv.scripting.running;
        loop {
            if running.busy() {
                return;
            }
            if let Some(g) = self
                .srv
                .keyspace
                .gate
                .try_read_for(std::time::Duration::from_millis(5))
            {
                self.shared = Some(g);
                return;
            }
        }
    }

    /// Let go of the gate (a script handed to the script thread needs it).
    fn release(&mut self) {
        self.shared = None;
        self.exclusive = None;
    }

    fn ensure(&mut self, exclusive: bool) {
        if exclusive && self.exclusive.is_none() {
            // Release our shared hold first, or we would wait on ourselves.
            self.shared = None;
            self.exclusive = Some(self.srv.keyspace.gate.write());
        } else if !exclusive {
            if let Some(w) = self.exclusive.take() {
                self.shared = Some(RwLockWriteGuard::downgrade(w));
            }
        }
    }
}

/// Handle one request from a client, writing its reply (if any) to `out`,
/// followed by the tracking invalidations it caused for this client.
pub fn process<'a>(
    srv: &'a Server,
    client: &mut Client,
    argv: &[Bytes],
    out: &mut Out,
    hot: &Hot,
    gate: &mut Gate<'a>,
) {
    crate::tracking::set_current(client.id);
    process_checked(srv, client, argv, out, hot, gate);
    // CLIENT CACHING applies to the next command only (a whole MULTI).
    if client.tracking.caching && client.multi.is_none() && !argv[0].eq_ignore_ascii_case(b"client")
    {
        client.tracking.caching = false;
    }
    crate::tracking::take_own(&mut out.buf);
    crate::tracking::set_current(0);
}

fn process_checked<'a>(
    srv: &'a Server,
    client: &mut Client,
    argv: &[Bytes],
    out: &mut Out,
    hot: &Hot,
    gate: &mut Gate<'a>,
) {
    gate.refresh();
    let asking = crate::cluster::route::take_asking(client);
    let Some(cmd) = commands::lookup(&argv[0]) else {
        reject(srv, client, out, &error::unknown_command(argv), None);
        return;
    };
    let cmd = match commands::resolve(cmd, argv) {
        Ok(c) => c,
        Err(e) => {
            reject(srv, client, out, &e, None);
            return;
        }
    };
    if !cmd.arity_ok(argv.len()) {
        reject(srv, client, out, &error::wrong_args(&cmd.name), Some(cmd));
        return;
    }
    if !client.authenticated && !cmd.has(NO_AUTH) && srv.acl.auth_required() {
        reject(srv, client, out, error::NOAUTH, Some(cmd));
        return;
    }
    // ACLs: one flag load for a user who may run anything.
    if let Some(user) = &client.user {
        if !user.unrestricted() {
            if let Err(denied) = user.check(cmd, argv) {
                let context = if client.multi.is_some() {
                    crate::acl::Context::Multi
                } else {
                    crate::acl::Context::Toplevel
                };
                let user = user.clone();
                client
                    .info
                    .last_cmd
                    .store(cmd as *const Command as *mut Command, Ordering::Relaxed);
                srv.acl.log_denied(
                    denied,
                    context,
                    cmd,
                    argv,
                    &user,
                    &client.info,
                    hot.acllog_max_len,
                );
                reject(srv, client, out, &denied.error(cmd), Some(cmd));
                return;
            }
        }
    }
    // Cluster mode: MOVED / ASK / CROSSSLOT / CLUSTERDOWN before anything else.
    let _migration_hold = match crate::cluster::route::check(srv, client, cmd, argv, asking) {
        Ok(hold) => hold,
        Err(e) => {
            crate::cluster::route::discard_if_exec(srv, client, cmd);
            reject(srv, client, out, &e, Some(cmd));
            return;
        }
    };
    // A script past busy-reply-threshold: only allow_busy commands run
    // (SHUTDOWN first stops the script, as SHUTDOWN NOSAVE does in Redis).
    if gate.busy() {
        if !cmd.has(commands::ALLOW_BUSY) {
            let e = srv.scripting.running.busy_error();
            reject(srv, client, out, e, Some(cmd));
            return;
        }
        if cmd.name == "shutdown" {
            srv.scripting.running.kill.store(true, Ordering::Release);
        }
    }
    if srv.aof.has_write_error.load(Ordering::Relaxed) && may_write(srv, client, cmd, argv) {
        let e = srv.aof.write_error.lock().clone().unwrap_or_default();
        reject(
            srv,
            client,
            out,
            &format!("MISCONF Errors writing to the AOF file: {e}"),
            Some(cmd),
        );
        return;
    }
    if crate::propagate::is_replica() && is_write_command(client, cmd) && hot_replica_read_only(srv)
    {
        reject(
            srv,
            client,
            out,
            "READONLY You can't write against a read only replica.",
            Some(cmd),
        );
        return;
    }
    if srv.persist.loading.load(Ordering::Acquire) && !cmd.has(commands::LOADING) {
        reject(srv, client, out, error::LOADING, Some(cmd));
        return;
    }
    // Keep the tracking table within tracking-table-max-keys; what that
    // invalidates for this client comes before the reply.
    if srv.tracking.clients() > 0 {
        srv.tracking.limit(srv, hot.tracking_table_max_keys);
        crate::tracking::take_own(&mut out.buf);
    }
    // maxmemory: make room (or refuse) before a command that may grow memory.
    // Inside MULTI a refused command flags the transaction, as in Redis.
    // Like Redis, evict before any command; refuse only those that may
    // grow memory.
    if hot.maxmemory > 0 {
        let hold = crate::propagate::hold(srv);
        let room = crate::evict::make_room(
            srv,
            hot.maxmemory,
            &hot.maxmemory_policy,
            hot.maxmemory_samples,
        );
        drop(hold);
        // Evicted keys' invalidations for this client precede the reply.
        crate::tracking::take_own(&mut out.buf);
        if room.is_err() && (cmd.has(commands::DENYOOM) || is_exec_with_denyoom(client, cmd)) {
            if cmd.name == "exec" {
                client.multi = None;
                srv.watches.unwatch_all(&mut client.watch);
                client.info.multi_len.store(0, Ordering::Relaxed);
                reject(srv, client, out, "EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'.", Some(cmd));
            } else {
                reject(srv, client, out, crate::evict::OOM, Some(cmd));
            }
            return;
        }
    }
    if !client.resp3 && client.subs.any() && !allowed_when_subscribed(cmd) {
        let msg = format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            cmd.name
        );
        reject(srv, client, out, &msg, Some(cmd));
        return;
    }
    // CLIENT PAUSE: hold the command (writes, or everything) until it ends.
    if srv.pause.holds(may_write(srv, client, cmd, argv)) {
        client.postponed = Some(argv.to_vec());
        return;
    }
    if client.multi.is_some() && !is_multi_control(cmd) {
        if cmd.has(NO_MULTI) {
            reject(
                srv,
                client,
                out,
                "ERR Command not allowed inside a transaction",
                Some(cmd),
            );
            return;
        }
        let m = client.multi.as_mut().expect("in multi");
        m.queued.push(argv.to_vec());
        client
            .info
            .multi_len
            .store(m.queued.len() + 1, Ordering::Relaxed);
        out.simple("QUEUED");
        return;
    }
    // A script runs on the script thread; the connection awaits its reply.
    if cmd.has(commands::SCRIPT) && !client.script {
        gate.release();
        let (done, rx) = tokio::sync::oneshot::channel();
        let job = crate::scripting::worker::Job {
            srv: srv.handle(),
            cmd,
            argv: argv.to_vec(),
            hot: srv.hot(),
            info: client.info.clone(),
            user: client.user.clone(),
            db: client.db,
            resp3: client.resp3,
            cluster: client.cluster,
            done,
        };
        if crate::scripting::worker::submit(job) {
            client.script_wait = Some(rx);
        } else {
            out.error("ERR the script thread is not running");
        }
        return;
    }
    gate.ensure(cmd.has(EXCLUSIVE));
    if cmd.has(EXCLUSIVE) {
        if let Err(e) = crate::cluster::route::check_again_if_open(srv, client, cmd, argv, asking) {
            crate::cluster::route::discard_if_exec(srv, client, cmd);
            reject(srv, client, out, &e, Some(cmd));
            return;
        }
    }
    let reply_start = out.buf.len();
    call(srv, client, cmd, argv, out, hot);
    if client.postponed.is_some() {
        return;
    }
    // Subscription confirmations are pushes, which CLIENT REPLY OFF/SKIP
    // does not silence (Redis's CLIENT_PUSHING): keep them, still
    // advancing the reply mode.
    let is_push = matches!(
        cmd.name.as_str(),
        "subscribe" | "unsubscribe" | "psubscribe" | "punsubscribe" | "ssubscribe" | "sunsubscribe"
    );
    if is_push || cmd.name == "reset" {
        client
            .info
            .subscribed
            .store(client.subs.any(), Ordering::Relaxed);
    }
    apply_reply_mode(
        client,
        out,
        if is_push { out.buf.len() } else { reply_start },
    );
}

/// Run a command whose checks have passed (also used by EXEC for each
/// queued command), with stats, slowlog and latency bookkeeping.
pub fn call(
    srv: &Server,
    client: &mut Client,
    cmd: &'static Command,
    argv: &[Bytes],
    out: &mut Out,
    hot: &Hot,
) {
    let started = Instant::now();
    let errors_before = out.errors.len();
    client
        .info
        .last_cmd
        .store(cmd as *const Command as *mut Command, Ordering::Relaxed);
    // EXEC and scripts: what they run propagates as one transaction.
    let is_exec = cmd.name == "exec" || cmd.has(commands::SCRIPT);
    let hold = if cmd.has(commands::WRITE | commands::MAY_REPLICATE) || is_exec {
        crate::propagate::hold(srv)
    } else {
        None
    };
    // A pause that began after the dispatcher's check (a manual failover's,
    // on another thread) holds this write too: the master announces the
    // offset it took under this lock, so a write that ran after it would
    // be acknowledged here and missing on the replica that takes over.
    // (Inside EXEC or the master's stream no hold is taken here.)
    if hold.is_some() && srv.pause.active() && srv.pause.holds(may_write(srv, client, cmd, argv)) {
        drop(hold);
        client.postponed = Some(argv.to_vec());
        return;
    }
    // Where a transaction's records start (to wrap them in MULTI/EXEC).
    let prop_mark = if is_exec { crate::propagate::mark() } else { 0 };
    if is_exec {
        SERVE_AFTER_EXEC.with(|d| *d.borrow_mut() = Some(Vec::new()));
    }
    if crate::snapshot::active() && cmd.has(commands::WRITE) {
        crate::snapshot::before_write(srv, client.db, cmd, argv);
    }
    CALL_DEPTH.with(|d| d.set(d.get() + 1));
    let is_script =
        cmd.group == "scripting" && (cmd.name.starts_with("eval") || cmd.name.starts_with("fcall"));
    if is_script && client.info.tracking.load(Ordering::Relaxed) & crate::tracking::ON != 0 {
        let keys = cmd
            .keys_in(argv)
            .into_iter()
            .map(|i| argv[i].clone())
            .collect();
        srv.tracking.script_begin(client, keys);
    }
    let mut ctx = Ctx::new(srv, client, argv, cmd, hot);
    (cmd.handler)(&mut ctx, out);
    let dirty = ctx.dirty;
    if hot.maxmemory > 0 && cmd.has(commands::DENYOOM) {
        crate::evict::memory_grew();
    }
    let modified = ctx.modified.take();
    let propagate = ctx.propagate.take();
    if crate::propagate::held() {
        if is_exec {
            crate::propagate::wrap_transaction(prop_mark);
        } else if dirty > 0 {
            crate::propagate::command(client.db, propagate.unwrap_or_else(|| argv.to_vec()));
        }
    }
    if hot.notify_keyspace_events != 0 {
        // Keys the command found expired or created ("expired"/"new").
        crate::notify::flush(srv, hot.notify_keyspace_events);
    }
    let elapsed_ns = started.elapsed().as_nanos() as u64;
    let elapsed_us = elapsed_ns / 1000;

    // A command that blocked is counted once, when it is served or
    // times out (as Redis's updateStatsOnUnblock).
    cmd.stats.add_call(
        elapsed_ns,
        out.errors.len() > errors_before,
        client.blocked.is_none(),
        hot.latency_tracking,
    );
    srv.stats
        .total_commands_processed
        .fetch_add(1, Ordering::Relaxed);
    if srv.monitors.any() && !cmd.has(commands::SKIP_MONITOR | commands::ADMIN) {
        let addr = if client.script {
            "lua".to_string()
        } else {
            client.info.addr.to_string()
        };
        srv.monitors.feed(client.db, &addr, argv);
    }
    // A tracking client's read: remember the keys it may now cache (a
    // script's: its declared keys, once it reads something).
    if cmd.has(commands::READONLY) && !cmd.has(commands::PUBSUB) && !is_script {
        if client.info.tracking.load(Ordering::Relaxed) & crate::tracking::ON != 0 {
            let keys = cmd.keys_in(argv);
            srv.tracking
                .remember(client, keys.iter().map(|&i| &argv[i][..]));
        } else if srv.tracking.clients() > 0 {
            srv.tracking.script_read();
        }
    }
    if is_script {
        srv.tracking.script_end();
    }
    if dirty > 0 {
        srv.stats.dirty.fetch_add(dirty, Ordering::Relaxed);
        let watching = srv.watches.any();
        let tracking = srv.tracking.active();
        if watching || tracking {
            for_each_changed(client.db, cmd, argv, modified.as_deref(), |db, key| {
                if watching {
                    srv.watches.touch(db, key);
                }
                if tracking {
                    srv.tracking.invalidate(srv, key);
                }
            });
        }
        if srv.blocking.any() && !client.serving_blocked {
            let keys = modified.unwrap_or_else(|| {
                cmd.keys_in(argv)
                    .into_iter()
                    .map(|i| argv[i].clone())
                    .collect()
            });
            let mut ready = vec![(client.db, keys)];
            ready.extend(SERVE_LATER.with(|l| std::mem::take(&mut *l.borrow_mut())));
            // Inside EXEC, blocked clients are served once the whole
            // transaction ran (they never see its intermediate states).
            let deferred = SERVE_AFTER_EXEC.with(|d| match d.borrow_mut().as_mut() {
                Some(list) => {
                    list.extend(ready.iter().cloned());
                    true
                }
                None => false,
            });
            if !deferred {
                for (db, keys) in ready {
                    commands::blocking::serve_keys(srv, hot, db, keys);
                }
            }
        }
    }
    if is_exec {
        if let Some(list) = SERVE_AFTER_EXEC.with(|d| d.borrow_mut().take()) {
            for (db, keys) in list {
                commands::blocking::serve_keys(srv, hot, db, keys);
            }
        }
    }
    drop(hold);
    if crate::propagate::active() {
        crate::propagate::expire_pending(srv);
    }
    // Keys that expired under this command, then (once the outermost
    // command is done) what BCAST clients must hear.
    let depth = CALL_DEPTH.with(|d| {
        d.set(d.get() - 1);
        d.get()
    });
    if srv.tracking.active() {
        srv.tracking.invalidate_removed(srv);
        if depth == 0 {
            srv.tracking.broadcast(srv);
        }
    }
    if hot.slowlog_log_slower_than_us >= 0
        && elapsed_us >= hot.slowlog_log_slower_than_us as u64
        && !cmd.has(commands::SKIP_SLOWLOG)
    {
        let name = client
            .info
            .name
            .lock()
            .as_ref()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        srv.slowlog.lock().push(
            argv,
            elapsed_us,
            client.info.addr.to_string(),
            name,
            hot.slowlog_max_len,
        );
    }
    let elapsed_ms = elapsed_us / 1000;
    if hot.latency_monitor_threshold_ms > 0 && elapsed_ms >= hot.latency_monitor_threshold_ms as u64
    {
        let event = if cmd.has(commands::FAST) {
            "fast-command"
        } else {
            "command"
        };
        srv.latency_sample(event, elapsed_ms);
    }
}

/// Serve the clients blocked on `keys` of `db` once the running command
/// is done (after its own propagation), e.g. SWAPDB's databases.
pub fn serve_later(db: usize, keys: Vec<Bytes>) {
    SERVE_LATER.with(|l| l.borrow_mut().push((db, keys)));
}

thread_local! {
    /// How many `call`s are running on this thread (EXEC nests them).
    static CALL_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// Keys made ready by the running command beyond its own key positions.
    static SERVE_LATER: std::cell::RefCell<Vec<(usize, Vec<Bytes>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
    /// Keys whose blocked clients wait for the running EXEC to finish.
    static SERVE_AFTER_EXEC: std::cell::RefCell<Option<Vec<(usize, Vec<Bytes>)>>> =
        const { std::cell::RefCell::new(None) };
}

/// A write changed the keyspace: each (db, key) it changed, for WATCH and
/// tracking (the keys it reports, else its key positions).
fn for_each_changed(
    db: usize,
    cmd: &Command,
    argv: &[Bytes],
    modified: Option<&[Bytes]>,
    mut touch: impl FnMut(usize, &[u8]),
) {
    if let Some(keys) = modified {
        keys.iter().for_each(|k| touch(db, k));
        return;
    }
    match cmd.name.as_str() {
        // These flag their watchers themselves, before the data changes.
        "flushall" | "flushdb" | "swapdb" => {}
        "move" => {
            touch(db, &argv[1]);
            if let Some(d) = crate::util::parse_i64(&argv[2]) {
                touch(d as usize, &argv[1]);
            }
        }
        "copy" => {
            let dst_db = argv
                .iter()
                .position(|a| a.eq_ignore_ascii_case(b"db"))
                .filter(|&i| i >= 3)
                .and_then(|i| argv.get(i + 1))
                .and_then(|d| crate::util::parse_i64(d))
                .map_or(db, |d| d as usize);
            touch(dst_db, &argv[2]);
        }
        _ => {
            for i in cmd.keys_in(argv) {
                touch(db, &argv[i]);
            }
        }
    }
}

/// A command that writes or may replicate (EXEC: if any queued one does).
fn may_write(srv: &Server, client: &Client, cmd: &Command, argv: &[Bytes]) -> bool {
    let writes = |c: &Command| c.has(commands::WRITE) || c.has(commands::MAY_REPLICATE);
    if cmd.has(commands::SCRIPT) {
        if let Some(flags) = declared_script_flags(srv, cmd, argv) {
            return flags & crate::scripting::FLAG_NO_WRITES == 0;
        }
    }
    if cmd.name == "exec" {
        return client.multi.as_ref().is_some_and(|m| {
            m.queued.iter().any(|argv| {
                commands::lookup(&argv[0])
                    .and_then(|c| commands::resolve(c, argv).ok())
                    .is_some_and(writes)
            })
        });
    }
    writes(cmd)
}

/// The flags a script declares (an EVAL body's shebang, a cached script's,
/// a function's): with them Redis knows whether the script writes
/// (scriptFlagsToCmdFlags), without them it may (may_replicate).
fn declared_script_flags(srv: &Server, cmd: &Command, argv: &[Bytes]) -> Option<u64> {
    let arg = argv.get(1)?;
    let flags = if cmd.name.starts_with("fcall") {
        srv.scripting.functions.find(arg)?.1
    } else if cmd.name.starts_with("evalsha") {
        let sha = String::from_utf8_lossy(arg).to_ascii_lowercase();
        srv.scripting.get(&sha)?.flags
    } else {
        crate::scripting::parse_shebang(arg).ok()?.0
    };
    (flags & crate::scripting::FLAG_EVAL_COMPAT == 0).then_some(flags)
}

/// A command flagged write (EXEC: with one queued), Redis's check for
/// read-only replicas.
fn is_write_command(client: &Client, cmd: &Command) -> bool {
    if cmd.name == "exec" {
        return client.multi.as_ref().is_some_and(|m| {
            m.queued.iter().any(|argv| {
                commands::lookup(&argv[0])
                    .and_then(|c| commands::resolve(c, argv).ok())
                    .is_some_and(|c| c.has(commands::WRITE))
            })
        });
    }
    cmd.has(commands::WRITE)
}

fn hot_replica_read_only(srv: &Server) -> bool {
    srv.config.read().get_bool("replica-read-only")
}

/// EXEC of a transaction with at least one command that may use memory.
fn is_exec_with_denyoom(client: &Client, cmd: &Command) -> bool {
    cmd.name == "exec"
        && client.multi.as_ref().is_some_and(|m| {
            m.queued.iter().any(|argv| {
                commands::lookup(&argv[0])
                    .and_then(|c| commands::resolve(c, argv).ok())
                    .is_some_and(|c| c.has(commands::DENYOOM))
            })
        })
}

fn allowed_when_subscribed(cmd: &Command) -> bool {
    matches!(
        cmd.name.as_str(),
        "subscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "sunsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "ping"
            | "quit"
            | "reset"
    )
}

fn is_multi_control(cmd: &Command) -> bool {
    matches!(
        cmd.name.as_str(),
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// An error before the command ran: counted as rejected, and it aborts an
/// open MULTI.
fn reject(srv: &Server, client: &mut Client, out: &mut Out, msg: &str, cmd: Option<&Command>) {
    if let Some(c) = cmd {
        c.stats.add_rejected();
        // CLIENT LIST's cmd= shows a refused command too, as in Redis.
        client
            .info
            .last_cmd
            .store(c as *const Command as *mut Command, Ordering::Relaxed);
    }
    // A refused EXEC discards the transaction (Redis's execCommandAbort).
    if cmd.is_some_and(|c| c.name == "exec") && client.multi.is_some() {
        client.multi = None;
        srv.watches.unwatch_all(&mut client.watch);
        client.info.multi_len.store(0, Ordering::Relaxed);
        return out.error(&format!(
            "EXECABORT Transaction discarded because of: {msg}"
        ));
    }
    if let Some(m) = client.multi.as_mut() {
        m.aborted = true;
    }
    out.error(msg);
}

/// CLIENT REPLY OFF / SKIP: drop the reply just written.
pub fn apply_reply_mode(client: &mut Client, out: &mut Out, reply_start: usize) {
    match client.reply_mode {
        ReplyMode::On => {}
        ReplyMode::Off => out.buf.truncate(reply_start),
        ReplyMode::SkipNext => client.reply_mode = ReplyMode::Skip,
        ReplyMode::Skip => {
            out.buf.truncate(reply_start);
            client.reply_mode = ReplyMode::On;
        }
    }
}
