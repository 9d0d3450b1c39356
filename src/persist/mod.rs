//! Persistence glue: the server side of RDB files, the AOF and DUMP
//! payloads. The formats live in `shoal-persistence`; this module feeds
//! them the keyspace (through snapshots) and loads what they decode.
//!
//! Background saves run on plain threads that walk a copy-on-write
//! snapshot (`crate::snapshot`): no fork, and commands keep running.

pub mod aof;
pub mod rdb;
pub mod values;

use crate::log::Level;
use crate::server::Server;
use parking_lot::Mutex;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

/// Counters and state INFO persistence reports.
pub struct Persistence {
    /// The dataset is being loaded: commands without the `loading` flag get
    /// `-LOADING`.
    pub loading: AtomicBool,
    pub loading_started_s: AtomicU64,
    pub bgsave_in_progress: AtomicBool,
    pub bgsave_started_ms: AtomicU64,
    pub last_bgsave_ok: AtomicBool,
    pub last_bgsave_time_s: AtomicI64,
    pub rdb_saves: AtomicU64,
    /// `stats.dirty` when the last save began (rdb_changes_since_last_save).
    pub dirty_at_save: AtomicU64,
    pub last_load_keys_loaded: AtomicU64,
    pub last_load_keys_expired: AtomicU64,
    /// A BGSAVE waiting for the running snapshot to finish
    /// (BGSAVE SCHEDULE).
    pub bgsave_scheduled: AtomicBool,
    /// Serializes foreground saves with background ones' bookkeeping.
    save_lock: Mutex<()>,
}

impl Default for Persistence {
    fn default() -> Self {
        Persistence {
            loading: AtomicBool::new(false),
            loading_started_s: AtomicU64::new(0),
            bgsave_in_progress: AtomicBool::new(false),
            bgsave_started_ms: AtomicU64::new(0),
            last_bgsave_ok: AtomicBool::new(true),
            last_bgsave_time_s: AtomicI64::new(-1),
            rdb_saves: AtomicU64::new(0),
            dirty_at_save: AtomicU64::new(0),
            last_load_keys_loaded: AtomicU64::new(0),
            last_load_keys_expired: AtomicU64::new(0),
            bgsave_scheduled: AtomicBool::new(false),
            save_lock: Mutex::new(()),
        }
    }
}

impl Persistence {
    /// INFO's rdb_last_load_keys_loaded / _expired after an RDB load.
    pub fn record_load(&self, loaded: &rdb::Loaded) {
        self.last_load_keys_loaded
            .store(loaded.keys, Ordering::Relaxed);
        self.last_load_keys_expired
            .store(loaded.expired_skipped, Ordering::Relaxed);
    }
}

/// `dir/dbfilename`.
pub fn rdb_path(srv: &Server) -> PathBuf {
    let cfg = srv.config.read();
    PathBuf::from(cfg.get("dir")).join(cfg.get("dbfilename"))
}

fn encode_opts(srv: &Server) -> shoal_persistence::rdb::EncodeOptions {
    let hot = srv.hot();
    let cfg = srv.config.read();
    values::encode_options(
        &hot,
        cfg.get_bool("rdbcompression"),
        cfg.get_bool("rdbchecksum"),
    )
}

/// SAVE: write dump.rdb now, in the caller's thread. The caller holds the
/// keyspace gate exclusively, so the snapshot sees no concurrent writes.
pub fn save_foreground(srv: &Server) -> Result<(), String> {
    let _g = srv.persist.save_lock.lock();
    let Some(snap) = srv.snapshots.begin(srv) else {
        return Err("ERR Background save already in progress".into());
    };
    let dirty = srv.stats.dirty.load(Ordering::Relaxed);
    let path = rdb_path(srv);
    let result = rdb::save_to_path(srv, &snap, &path, encode_opts(srv), rdb::Purpose::File);
    srv.snapshots.end();
    match result {
        Ok(_) => {
            saved(srv, dirty);
            crate::log::log(Level::Notice, "DB saved on disk");
            Ok(())
        }
        Err(e) => {
            crate::log::log(
                Level::Warning,
                &format!("Failed opening the temp RDB file temp-{}.rdb (in server root dir {}) for saving: {e}", std::process::id(), path.parent().map(|p| p.display().to_string()).unwrap_or_default()),
            );
            srv.persist.last_bgsave_ok.store(false, Ordering::Relaxed);
            Err("ERR".into())
        }
    }
}

fn saved(srv: &Server, dirty_at_start: u64) {
    srv.persist
        .dirty_at_save
        .store(dirty_at_start, Ordering::Relaxed);
    srv.last_save_s
        .store(crate::util::now_ms() / 1000, Ordering::Relaxed);
    srv.persist.rdb_saves.fetch_add(1, Ordering::Relaxed);
    srv.persist.last_bgsave_ok.store(true, Ordering::Relaxed);
}

/// BGSAVE: begin a snapshot now (the caller holds the gate exclusively)
/// and write it on a background thread.
pub fn save_background(srv: &Server) -> Result<(), String> {
    let Some(snap) = srv.snapshots.begin(srv) else {
        return Err("ERR Background save already in progress".into());
    };
    let Some(me) = srv.arc() else {
        srv.snapshots.end();
        return Err("ERR server is shutting down".into());
    };
    let dirty = srv.stats.dirty.load(Ordering::Relaxed);
    srv.persist
        .bgsave_in_progress
        .store(true, Ordering::Release);
    srv.persist
        .bgsave_started_ms
        .store(crate::util::now_ms(), Ordering::Relaxed);
    crate::log::log(
        Level::Notice,
        "Background saving started by pid 0 (thread, copy-on-write per slot)",
    );
    let spawned = std::thread::Builder::new()
        .name("bgsave".into())
        .spawn(move || bgsave_thread(me, snap, dirty));
    if let Err(e) = spawned {
        srv.snapshots.end();
        srv.persist
            .bgsave_in_progress
            .store(false, Ordering::Release);
        return Err(format!("ERR Can't start background save: {e}"));
    }
    Ok(())
}

fn bgsave_thread(srv: Arc<Server>, snap: Arc<crate::snapshot::Snapshot>, dirty: u64) {
    let started = std::time::Instant::now();
    let path = rdb_path(&srv);
    let result = rdb::save_to_path(&srv, &snap, &path, encode_opts(&srv), rdb::Purpose::File);
    drop(snap);
    srv.snapshots.end();
    srv.persist
        .last_bgsave_time_s
        .store(started.elapsed().as_secs() as i64, Ordering::Relaxed);
    match result {
        Ok(_) => {
            saved(&srv, dirty);
            crate::log::log(Level::Notice, "DB saved on disk");
            crate::log::log(Level::Notice, "Background saving terminated with success");
        }
        Err(e) => {
            srv.persist.last_bgsave_ok.store(false, Ordering::Relaxed);
            crate::log::log(
                Level::Warning,
                &format!("Write error saving DB on disk: {e}"),
            );
            crate::log::log(Level::Warning, "Background saving error");
        }
    }
    srv.persist
        .bgsave_in_progress
        .store(false, Ordering::Release);
}

/// Before exiting: save the RDB when save points are configured (or
/// `save` says so), flush the AOF. `save`: Some(true) SAVE, Some(false)
/// NOSAVE, None as configured. The caller holds the gate exclusively.
pub fn prepare_shutdown(srv: &Server, save: Option<bool>) -> Result<(), ()> {
    if srv.aof.runtime.lock().is_some() {
        crate::log::log(Level::Notice, "Calling fsync() on the AOF file.");
        aof::stop(srv);
    }
    let configured = !srv.config.read().get("save").trim().is_empty();
    if save.unwrap_or(configured) {
        crate::log::log(
            Level::Notice,
            "Saving the final RDB snapshot before exiting.",
        );
        if let Err(e) = save_foreground(srv) {
            crate::log::log(
                Level::Warning,
                &format!("Error trying to save the DB, can't exit. {e}"),
            );
            return Err(());
        }
    }
    Ok(())
}

/// Once per cron tick: a BGSAVE when a `save <seconds> <changes>` point
/// is reached (as serverCron), or one that BGSAVE SCHEDULE left waiting.
pub fn cron(srv: &Server) {
    aof::cron(srv);
    let p = &srv.persist;
    if srv.snapshots.in_progress() || p.loading.load(Ordering::Relaxed) {
        return;
    }
    let now_s = crate::util::now_ms() / 1000;
    let mut due = p.bgsave_scheduled.swap(false, Ordering::AcqRel);
    if !due {
        let changes = srv
            .stats
            .dirty
            .load(Ordering::Relaxed)
            .saturating_sub(p.dirty_at_save.load(Ordering::Relaxed));
        let since_save = now_s.saturating_sub(srv.last_save_s.load(Ordering::Relaxed));
        // After a failed save, retry no sooner than 5 seconds later.
        let may_retry = p.last_bgsave_ok.load(Ordering::Relaxed)
            || now_s.saturating_sub(p.bgsave_started_ms.load(Ordering::Relaxed) / 1000) > 5;
        let points = srv.config.read().get("save").to_string();
        let nums: Vec<u64> = points
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        due = may_retry
            && nums
                .chunks(2)
                .any(|pt| pt.len() == 2 && changes >= pt[1] && since_save >= pt[0] && changes > 0);
        if due {
            crate::log::log(
                Level::Notice,
                &format!("{changes} changes in {since_save} seconds. Saving..."),
            );
        }
    }
    if due {
        let _gate = srv.keyspace.gate.write();
        if let Err(e) = save_background(srv) {
            crate::log::log(Level::Warning, &e);
        }
    }
}

/// Start-up: load the AOF (when enabled and present) or the RDB file, then
/// start appending to the AOF. Clients connecting meanwhile get LOADING.
pub fn load_at_startup(srv: &Server) -> Result<(), String> {
    srv.persist.loading.store(true, Ordering::Release);
    srv.persist
        .loading_started_s
        .store(crate::util::now_ms() / 1000, Ordering::Relaxed);
    let appendonly = srv.config.read().get_bool("appendonly");
    let result = (|| {
        if appendonly && aof::exists(srv) {
            let n = aof::load(srv)?;
            crate::log::log(
                Level::Notice,
                &format!("DB loaded from append only file: {n} commands"),
            );
        } else {
            load_rdb_file(srv)?;
        }
        if appendonly {
            let existed = aof::exists(srv);
            if !existed && srv.keyspace.dbs().any(|(_, d)| !d.is_empty()) {
                // Data came from the RDB: it becomes the new AOF's base.
                aof::enable(srv)?;
            } else {
                aof::start(srv)?;
            }
        }
        Ok(())
    })();
    srv.persist.loading.store(false, Ordering::Release);
    result
}

/// Load `dir/dbfilename` if it exists. Returns whether a file was loaded.
pub fn load_rdb_file(srv: &Server) -> Result<bool, String> {
    let path = rdb_path(srv);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(format!("Fatal error loading the DB: {e}. Exiting.")),
    };
    let started = std::time::Instant::now();
    let loaded = rdb::load(srv, std::io::BufReader::with_capacity(1 << 20, file)).map_err(|e| {
        format!(
            "Fatal error loading the DB {}: {e}. Exiting.",
            path.display()
        )
    })?;
    srv.persist.record_load(&loaded);
    crate::log::log(
        Level::Notice,
        &format!(
            "Done loading RDB, keys loaded: {}, keys expired: {}.",
            loaded.keys, loaded.expired_skipped
        ),
    );
    crate::log::log(
        Level::Notice,
        &format!(
            "DB loaded from disk: {:.3} seconds",
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(true)
}

/// Empty every database (DEBUG RELOAD, a full resync), flagging WATCHers.
pub fn empty_keyspace(srv: &Server) {
    crate::snapshot::before_everything(srv);
    srv.watches.touch_where(|_, _| true);
    srv.tracking.flushed(srv);
    for (_, db) in srv.keyspace.dbs() {
        db.clear();
    }
}
