//! RDB files on the server side: write a snapshot of the keyspace (SAVE,
//! BGSAVE, shutdown, the base of an AOF rewrite, a full sync) and load one
//! into the keyspace (start-up, DEBUG RELOAD).

use super::values;
use crate::keyspace::Entry;
use crate::server::Server;
use crate::snapshot::Snapshot;
use shoal_cluster::SLOT_COUNT;
use shoal_persistence::rdb::{self, DecodeOptions, EncodeOptions, Item, RdbReader, RdbWriter};
use std::io::{self, BufRead, Write};
use std::path::Path;

/// Why the snapshot is written: decides the aux fields.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// dump.rdb (SAVE, BGSAVE, shutdown).
    File,
    /// The base file of an AOF rewrite (`aof-base` 1).
    AofBase,
    /// A full synchronization stream for a replica.
    Replication,
}

/// Write the whole snapshot to `out` as an RDB file.
pub fn write_snapshot<W: Write>(
    srv: &Server,
    snap: &Snapshot,
    out: W,
    opts: EncodeOptions,
    purpose: Purpose,
) -> io::Result<W> {
    let mut w = RdbWriter::new(out, opts)?;
    w.aux(b"redis-ver", crate::REDIS_VERSION.as_bytes())?;
    w.aux_int(b"redis-bits", 64)?;
    w.aux_int(b"ctime", (crate::util::now_ms() / 1000) as i64)?;
    w.aux_int(b"used-mem", crate::memory::used_memory() as i64)?;
    if purpose == Purpose::Replication {
        w.aux_int(b"repl-stream-db", 0)?;
        w.aux(b"repl-id", srv.replid.lock().as_bytes())?;
        w.aux_int(b"repl-offset", srv.prop.offset() as i64)?;
    }
    w.aux_int(b"aof-base", (purpose == Purpose::AofBase) as i64)?;
    // Function libraries come before the keys, as Redis writes them.
    for lib in srv.scripting.functions.snapshot() {
        w.function(&lib.code)?;
    }
    for db in 0..snap.dbs() {
        let (keys, volatile) = snap.db_size(db);
        if keys == 0 {
            // Empty at the start: every slot of it is empty in the snapshot.
            continue;
        }
        w.select_db(db as u64)?;
        w.resize_db(keys, volatile)?;
        for slot in 0..SLOT_COUNT as u16 {
            snap.visit(srv, db, slot, |k, e: &Entry| {
                values::write_entry(&mut w, k, e)
            })?;
        }
    }
    w.finish()
}

/// What loading found besides keys.
#[derive(Default, Debug)]
pub struct Loaded {
    pub keys: u64,
    pub expired_skipped: u64,
    pub repl_id: Option<String>,
    pub repl_offset: Option<u64>,
    pub aof_base: bool,
}

/// Load an RDB stream into the keyspace (which the caller emptied or
/// wants merged into). Keys already expired are skipped, as a master does.
pub fn load<R: BufRead>(srv: &Server, input: R) -> Result<Loaded, LoadError> {
    let hot = srv.hot();
    let mut reader =
        RdbReader::with_options(input, DecodeOptions::default()).map_err(LoadError::Rdb)?;
    let now = crate::util::now_ms();
    // A master drops keys that expired while on disk; a replica keeps them
    // until its master's DEL arrives (rdbLoad's iAmMaster check).
    let master = crate::cluster::is_master(srv).unwrap_or(true)
        && !crate::propagate::is_replica()
        && srv.config.read().get("replicaof").trim().is_empty();
    let mut db_index = 0usize;
    let mut loaded = Loaded::default();
    let mut libraries = Vec::new();
    while let Some(item) = reader.next_item().map_err(LoadError::Rdb)? {
        match item {
            Item::SelectDb(n) => {
                if n as usize >= srv.keyspace.db_count() {
                    return Err(LoadError::TooManyDatabases(n));
                }
                db_index = n as usize;
            }
            Item::Entry(e) => {
                if let Some(at) = e.expire_at_ms {
                    if master && at <= now {
                        loaded.expired_skipped += 1;
                        continue;
                    }
                }
                let Some(value) = values::value_from_object(e.value, &hot) else {
                    continue;
                };
                let mut entry = Entry::new(value);
                entry.expire_at_ms = e.expire_at_ms.unwrap_or(0);
                let db = srv.keyspace.db(db_index);
                db.lock_key(&e.key).insert(&e.key, entry, false);
                loaded.keys += 1;
            }
            Item::Aux { key, value } => match key.as_slice() {
                b"repl-id" => loaded.repl_id = Some(String::from_utf8_lossy(&value).into_owned()),
                b"repl-offset" => {
                    loaded.repl_offset = std::str::from_utf8(&value)
                        .ok()
                        .and_then(|s| s.parse().ok())
                }
                b"aof-base" => loaded.aof_base = value == b"1",
                _ => {}
            },
            Item::ResizeDb { .. } => {}
            Item::Function(code) => libraries.push(bytes::Bytes::from(code)),
        }
    }
    // The file's libraries replace the registry (a full sync, DEBUG RELOAD)
    // or join it (DEBUG RELOAD NOFLUSH [MERGE]).
    let mut libs = Vec::new();
    for code in &libraries {
        let lib = crate::scripting::engine::with_engine(srv, |eng| {
            crate::scripting::functions::compile_library(eng, code)
        })
        .and_then(|r| r)
        .map_err(LoadError::Function)?;
        libs.push(lib.0);
    }
    crate::scripting::functions::install_from_rdb(&srv.scripting.functions, libs)
        .map_err(LoadError::Function)?;
    Ok(loaded)
}

#[derive(Debug)]
pub enum LoadError {
    Rdb(rdb::Error),
    TooManyDatabases(u64),
    /// A function library that does not load.
    Function(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Rdb(e) => write!(f, "{e}"),
            LoadError::TooManyDatabases(n) => write!(
                f,
                "FATAL: Data file was created with a Redis server configured to handle more than {} databases. Exiting",
                n
            ),
            LoadError::Function(e) => write!(f, "a function library failed to load: {e}"),
        }
    }
}

/// Write a snapshot to `path` atomically: a temp file in the same
/// directory, fsync, rename, fsync the directory.
pub fn save_to_path(
    srv: &Server,
    snap: &Snapshot,
    path: &Path,
    opts: EncodeOptions,
    purpose: Purpose,
) -> io::Result<u64> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!("temp-{}.rdb", std::process::id()));
    let result = (|| {
        let file = std::fs::File::create(&tmp)?;
        let w = write_snapshot(
            srv,
            snap,
            io::BufWriter::with_capacity(1 << 20, file),
            opts,
            purpose,
        )?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        let size = file.metadata()?.len();
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(size)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
