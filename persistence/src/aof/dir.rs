//! The AOF directory (`appenddirname` inside `dir`) and the operations the
//! server drives on it, as Redis 7.0's aof.c does: loading the manifest,
//! upgrading an old single-file AOF, opening the incr file to append to on
//! start, opening a new incr file when a rewrite begins, installing the
//! rewritten base when it ends, deleting history files, and sizes for INFO.
//! Every manifest change is written atomically (temp file, fsync, rename,
//! fsync of the directory) before the in-memory manifest changes.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::manifest::{self, AofFileKind, BaseFormat, Manifest};
use super::AofError;

/// Where the AOF lives: Redis's `dir`, `appenddirname` and `appendfilename`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofPaths {
    pub data_dir: PathBuf,
    pub dir_name: String,
    pub file_name: String,
}

impl AofPaths {
    /// Redis's defaults (`appendonlydir`, `appendonly.aof`) inside `data_dir`.
    pub fn with_defaults(data_dir: impl Into<PathBuf>) -> AofPaths {
        AofPaths {
            data_dir: data_dir.into(),
            dir_name: "appendonlydir".to_string(),
            file_name: "appendonly.aof".to_string(),
        }
    }

    /// `<dir>/<appenddirname>`.
    pub fn aof_dir(&self) -> PathBuf {
        self.data_dir.join(&self.dir_name)
    }

    /// `<dir>/<appendfilename>`: where Redis before 7.0 kept its one AOF.
    pub fn legacy_file(&self) -> PathBuf {
        self.data_dir.join(&self.file_name)
    }
}

/// A file the loader reads, in order: the base (if any), then each incr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileToLoad {
    pub file_name: Vec<u8>,
    pub path: PathBuf,
    /// `Base` or `Incr`.
    pub kind: AofFileKind,
    pub size_bytes: u64,
    /// Redis accepts a truncated tail only in the last file it loads.
    pub is_last: bool,
}

/// The incr file the writer appends to.
#[derive(Debug)]
pub struct OpenedIncr {
    /// Opened write-only with O_APPEND.
    pub file: File,
    pub file_name: String,
    pub size_bytes: u64,
}

/// Proof that a rewrite began: the incr file opened for it and every later
/// one stay incr files when the rewrite is committed; earlier ones become
/// history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewriteTicket {
    incr_seq: i64,
}

/// Sizes for INFO: `aof_current_size` is `base_bytes + incr_bytes`;
/// `aof_base_size` after a load is `base_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AofSizes {
    pub base_bytes: u64,
    pub incr_bytes: u64,
}

impl AofSizes {
    pub fn current_bytes(&self) -> u64 {
        self.base_bytes + self.incr_bytes
    }
}

/// The AOF directory and its manifest as last persisted.
#[derive(Debug)]
pub struct AofDir {
    paths: AofPaths,
    manifest: Manifest,
}

fn name_path(dir: &Path, name: &[u8]) -> PathBuf {
    dir.join(OsStr::from_bytes(name))
}

fn lossy(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

fn is_regular_file(path: &Path) -> bool {
    fs::metadata(path).map(|m| m.is_file()).unwrap_or(false)
}

/// fsync a directory so renames and new entries in it survive a crash.
fn sync_dir(dir: &Path) -> io::Result<()> {
    match File::open(dir)?.sync_all() {
        // Some file systems refuse to fsync directories; Redis ignores it.
        Err(e) if matches!(e.raw_os_error(), Some(code) if code == 9 || code == 22) => Ok(()),
        other => other,
    }
}

/// Truncates a file to `len_bytes` and fsyncs it: what the loader does with
/// `aof-load-truncated yes` at the offset the reader reported.
pub fn truncate_file(path: &Path, len_bytes: u64) -> io::Result<()> {
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(len_bytes)?;
    file.sync_all()
}

impl AofDir {
    /// Reads the manifest if the directory and manifest exist; otherwise
    /// starts from an empty manifest (nothing is created yet), as Redis's
    /// `aofLoadManifestFromDisk`.
    pub fn load(paths: AofPaths) -> Result<AofDir, AofError> {
        let manifest_path = paths
            .aof_dir()
            .join(manifest::manifest_file_name(&paths.file_name));
        let manifest = if is_regular_file(&manifest_path) {
            let text = fs::read(&manifest_path).map_err(|e| {
                AofError::io(
                    "Fatal error: can't open the AOF manifest file for reading",
                    e,
                )
            })?;
            Manifest::parse(&text).map_err(AofError::Manifest)?
        } else {
            Manifest::default()
        };
        Ok(AofDir { paths, manifest })
    }

    pub fn paths(&self) -> &AofPaths {
        &self.paths
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn aof_dir(&self) -> PathBuf {
        self.paths.aof_dir()
    }

    /// True when an old single-file AOF (`<dir>/<appendfilename>`) must be
    /// moved into the directory, under the three conditions of Redis's
    /// `loadAppendOnlyFiles`: no AOF directory; a manifest naming no data
    /// files; or a manifest whose only file is a base named
    /// `<appendfilename>` that is not in the directory yet (a crash
    /// mid-upgrade).
    pub fn needs_upgrade(&self) -> bool {
        if !is_regular_file(&self.paths.legacy_file()) {
            return false;
        }
        let m = &self.manifest;
        let aof_dir = self.aof_dir();
        !aof_dir.is_dir()
            || m.is_empty_of_data_files()
            || (m.incrs.is_empty()
                && m.base
                    .as_ref()
                    .is_some_and(|b| b.file_name == self.paths.file_name.as_bytes())
                && !is_regular_file(&aof_dir.join(&self.paths.file_name)))
    }

    /// Redis's `aofUpgradePrepare`: create the directory, persist a manifest
    /// whose base is `<appendfilename>` with seq 1, then move the old file
    /// into the directory. A crash at any step is retried on the next start.
    pub fn upgrade(&mut self) -> Result<(), AofError> {
        let aof_dir = self.aof_dir();
        fs::create_dir_all(&aof_dir)
            .map_err(|e| AofError::io("Can't open or create append-only dir", e))?;
        let mut next = self.manifest.clone();
        next.base = Some(manifest::ManifestEntry {
            file_name: self.paths.file_name.as_bytes().to_vec(),
            seq: 1,
            kind: AofFileKind::Base,
        });
        next.curr_base_seq = 1;
        self.persist(next)?;
        fs::rename(
            self.paths.legacy_file(),
            aof_dir.join(&self.paths.file_name),
        )
        .map_err(|e| AofError::io("Error trying to move the old AOF file into the AOF dir", e))?;
        sync_dir(&aof_dir).map_err(|e| AofError::io("Fail to fsync AOF directory", e))?;
        Ok(())
    }

    /// The files to replay, base first then incr files in order, with their
    /// sizes. A listed file that is missing is an error, as in Redis. The
    /// list is empty when the manifest names no data files.
    pub fn files_to_load(&self) -> Result<Vec<FileToLoad>, AofError> {
        let aof_dir = self.aof_dir();
        let entries: Vec<_> = self
            .manifest
            .base
            .iter()
            .chain(self.manifest.incrs.iter())
            .collect();
        let count = entries.len();
        entries
            .into_iter()
            .enumerate()
            .map(|(i, entry)| {
                let path = name_path(&aof_dir, &entry.file_name);
                let size_bytes = match fs::metadata(&path) {
                    Ok(meta) => meta.len(),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        return Err(AofError::MissingFile {
                            file_name: lossy(&entry.file_name),
                        })
                    }
                    Err(e) => return Err(AofError::io("Unable to obtain the AOF file length", e)),
                };
                Ok(FileToLoad {
                    file_name: entry.file_name.clone(),
                    path,
                    kind: entry.kind,
                    size_bytes,
                    is_last: i + 1 == count,
                })
            })
            .collect()
    }

    /// Redis's `aofOpenIfNeededOnServerStart`: create the directory if
    /// missing; when the manifest names no base and no incr file and
    /// `base_if_empty` is given, write it as base seq 1 (Redis writes an
    /// empty RDB there); open the last incr file for appending, or create
    /// the next one; persist the manifest if it changed.
    pub fn open_for_append(
        &mut self,
        base_if_empty: Option<(BaseFormat, &[u8])>,
    ) -> Result<OpenedIncr, AofError> {
        let aof_dir = self.aof_dir();
        fs::create_dir_all(&aof_dir)
            .map_err(|e| AofError::io("Can't open or create append-only dir", e))?;
        let mut next = self.manifest.clone();
        let mut changed = false;
        let mut written_base: Option<PathBuf> = None;
        if next.is_empty_of_data_files() {
            if let Some((format, bytes)) = base_if_empty {
                let base_name = next
                    .replace_base(&self.paths.file_name, format)
                    .file_name
                    .clone();
                let base_path = name_path(&aof_dir, &base_name);
                write_file_atomically(&aof_dir, &base_path, bytes)
                    .map_err(|e| AofError::io("Can't write the AOF base file", e))?;
                written_base = Some(base_path);
                changed = true;
            }
        }
        if next.incrs.is_empty() {
            next.add_new_incr(&self.paths.file_name);
            changed = true;
        }
        let name = next
            .incrs
            .last()
            .map(|e| e.file_name.clone())
            .unwrap_or_default();
        let opened = open_incr(&aof_dir, &name, false)?;
        if changed {
            if let Err(e) = self.persist(next) {
                if let Some(base_path) = written_base {
                    let _ = fs::remove_file(base_path);
                }
                return Err(e);
            }
        }
        Ok(opened)
    }

    /// Redis's `openNewIncrAofForAppend` at BGREWRITEAOF start: create the
    /// next incr file (truncating any leftover of that name) and persist a
    /// manifest listing it. The caller switches the writer to it at the
    /// rewrite's snapshot point. On failure nothing changes.
    pub fn begin_rewrite(&mut self) -> Result<(RewriteTicket, OpenedIncr), AofError> {
        let aof_dir = self.aof_dir();
        let mut next = self.manifest.clone();
        let entry = next.add_new_incr(&self.paths.file_name).clone();
        let opened = open_incr(&aof_dir, &entry.file_name, true)?;
        if let Err(e) = self.persist(next) {
            let _ = fs::remove_file(name_path(&aof_dir, &entry.file_name));
            return Err(e);
        }
        Ok((
            RewriteTicket {
                incr_seq: entry.seq,
            },
            opened,
        ))
    }

    /// A place for the rewrite to write the new base before it is
    /// committed (inside the AOF directory, so the rename stays on one file
    /// system). `id` distinguishes concurrent writers; Redis uses the pid.
    pub fn temp_rewrite_path(&self, id: u32) -> PathBuf {
        self.aof_dir().join(format!("temp-rewriteaof-bg-{id}.aof"))
    }

    /// Redis's `backgroundRewriteDoneHandler` success path: fsync and rename
    /// the temp base to `<appendfilename>.<seq>.base.{rdb,aof}`, then persist
    /// a manifest with that base, the incr files opened since the rewrite
    /// began, and the previous base and older incr files as history. On
    /// failure the new base is removed and the manifest is unchanged.
    /// Returns the new base file's name.
    pub fn commit_rewrite(
        &mut self,
        ticket: &RewriteTicket,
        temp_base: &Path,
        format: BaseFormat,
    ) -> Result<String, AofError> {
        if !self.manifest.incrs.iter().any(|e| e.seq == ticket.incr_seq) {
            return Err(AofError::Invalid(
                "the rewrite's incr file is no longer in the manifest",
            ));
        }
        let aof_dir = self.aof_dir();
        let mut next = self.manifest.clone();
        let base_name = next
            .replace_base(&self.paths.file_name, format)
            .file_name
            .clone();
        next.retire_incrs_before(ticket.incr_seq);
        File::open(temp_base)
            .and_then(|f| f.sync_all())
            .map_err(|e| AofError::io("Can't fsync the temporary AOF base file", e))?;
        let base_path = name_path(&aof_dir, &base_name);
        fs::rename(temp_base, &base_path)
            .map_err(|e| AofError::io("Error trying to rename the temporary AOF base file", e))?;
        if let Err(e) = self.persist(next) {
            let _ = fs::remove_file(&base_path);
            return Err(e);
        }
        Ok(lossy(&base_name))
    }

    /// Redis's `aofDelHistoryFiles`: unlink every history file and persist
    /// the manifest without them. Returns the names removed. A file that
    /// is already gone is not an error.
    pub fn delete_history(&mut self) -> Result<Vec<String>, AofError> {
        if self.manifest.history.is_empty() {
            return Ok(Vec::new());
        }
        let aof_dir = self.aof_dir();
        let mut removed = Vec::new();
        for entry in &self.manifest.history {
            match fs::remove_file(name_path(&aof_dir, &entry.file_name)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(AofError::io("Can't remove the AOF history file", e)),
            }
            removed.push(lossy(&entry.file_name));
        }
        let mut next = self.manifest.clone();
        next.history.clear();
        self.persist(next)?;
        Ok(removed)
    }

    /// Sizes of the base and of all incr files, by stat (as Redis's
    /// `getBaseAndIncrAppendOnlyFilesSize`); missing files count as 0.
    pub fn sizes(&self) -> AofSizes {
        let aof_dir = self.aof_dir();
        let size = |name: &[u8]| {
            fs::metadata(name_path(&aof_dir, name))
                .map(|m| m.len())
                .unwrap_or(0)
        };
        AofSizes {
            base_bytes: self
                .manifest
                .base
                .as_ref()
                .map(|b| size(&b.file_name))
                .unwrap_or(0),
            incr_bytes: self.manifest.incrs.iter().map(|e| size(&e.file_name)).sum(),
        }
    }

    /// Writes `next` as the manifest and only then adopts it.
    fn persist(&mut self, next: Manifest) -> Result<(), AofError> {
        let aof_dir = self.aof_dir();
        let temp_path = aof_dir.join(manifest::temp_manifest_file_name(&self.paths.file_name));
        let final_path = aof_dir.join(manifest::manifest_file_name(&self.paths.file_name));
        let text = next.format();
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&temp_path)?;
            file.write_all(&text)?;
            file.sync_data()
        })();
        written.map_err(|e| {
            AofError::io("Error trying to write the temporary AOF manifest file", e)
        })?;
        fs::rename(&temp_path, &final_path).map_err(|e| {
            AofError::io("Error trying to rename the temporary AOF manifest file", e)
        })?;
        sync_dir(&aof_dir).map_err(|e| AofError::io("Fail to fsync AOF directory", e))?;
        self.manifest = next;
        Ok(())
    }
}

/// Opens an incr file for appending: O_WRONLY|O_APPEND|O_CREAT, plus
/// O_TRUNC for a file created for a rewrite.
fn open_incr(aof_dir: &Path, name: &[u8], truncate: bool) -> Result<OpenedIncr, AofError> {
    let path = name_path(aof_dir, name);
    if truncate {
        // O_APPEND and O_TRUNC do not combine in std; truncate first.
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| AofError::io("Can't open the append-only file", e))?;
    }
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .map_err(|e| AofError::io("Can't open the append-only file", e))?;
    let size_bytes = file
        .metadata()
        .map_err(|e| AofError::io("Unable to obtain the AOF file length", e))?
        .len();
    Ok(OpenedIncr {
        file,
        file_name: lossy(name),
        size_bytes,
    })
}

/// Writes `bytes` to a temp file next to `path`, fsyncs, renames it into
/// place and fsyncs the directory.
fn write_file_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = dir.join(format!("temp-rewriteaof-{}.aof", std::process::id()));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temp, path)?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            use std::sync::atomic::{AtomicU32, Ordering};
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir()
                .join(format!("shoal-aof-dir-{tag}-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn manifest_text(dir: &AofDir) -> String {
        String::from_utf8(fs::read(dir.aof_dir().join("appendonly.aof.manifest")).unwrap()).unwrap()
    }

    #[test]
    fn fresh_start_without_base_creates_one_incr_file() {
        let tmp = TempDir::new("fresh");
        let mut dir = AofDir::load(AofPaths::with_defaults(&tmp.0)).unwrap();
        assert!(dir.files_to_load().unwrap().is_empty());
        assert!(!dir.needs_upgrade());
        let opened = dir.open_for_append(None).unwrap();
        assert_eq!(
            (opened.file_name.as_str(), opened.size_bytes),
            ("appendonly.aof.1.incr.aof", 0)
        );
        assert_eq!(
            manifest_text(&dir),
            "file appendonly.aof.1.incr.aof seq 1 type i\n"
        );
        let files = dir.files_to_load().unwrap();
        assert_eq!(files.len(), 1);
        assert!(files[0].is_last && files[0].kind == AofFileKind::Incr);
    }

    #[test]
    fn fresh_start_with_base_matches_redis_layout_and_reopens_the_same_incr() {
        let tmp = TempDir::new("base");
        let mut dir = AofDir::load(AofPaths::with_defaults(&tmp.0)).unwrap();
        let mut opened = dir
            .open_for_append(Some((BaseFormat::Rdb, b"REDIS0010-fake")))
            .unwrap();
        assert_eq!(
            manifest_text(&dir),
            "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
        );
        opened.file.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
        drop(opened);
        let mut again = AofDir::load(AofPaths::with_defaults(&tmp.0)).unwrap();
        let reopened = again
            .open_for_append(Some((BaseFormat::Rdb, b"ignored")))
            .unwrap();
        assert_eq!(
            (reopened.file_name.as_str(), reopened.size_bytes),
            ("appendonly.aof.1.incr.aof", 14)
        );
        let files = again.files_to_load().unwrap();
        assert_eq!(
            files
                .iter()
                .map(|f| (f.kind, f.size_bytes, f.is_last))
                .collect::<Vec<_>>(),
            vec![
                (AofFileKind::Base, 14, false),
                (AofFileKind::Incr, 14, true)
            ]
        );
        assert_eq!(
            again.sizes(),
            AofSizes {
                base_bytes: 14,
                incr_bytes: 14
            }
        );
        assert_eq!(again.sizes().current_bytes(), 28);
    }

    #[test]
    fn rewrite_cycle_moves_old_files_to_history_and_deletes_them() {
        let tmp = TempDir::new("rewrite");
        let mut dir = AofDir::load(AofPaths::with_defaults(&tmp.0)).unwrap();
        dir.open_for_append(Some((BaseFormat::Rdb, b"REDIS-old")))
            .unwrap();
        let (ticket, opened) = dir.begin_rewrite().unwrap();
        assert_eq!(opened.file_name, "appendonly.aof.2.incr.aof");
        assert_eq!(
            manifest_text(&dir),
            "file appendonly.aof.1.base.rdb seq 1 type b\n\
             file appendonly.aof.1.incr.aof seq 1 type i\n\
             file appendonly.aof.2.incr.aof seq 2 type i\n"
        );
        let temp = dir.temp_rewrite_path(42);
        fs::write(&temp, b"REDIS-new").unwrap();
        let base = dir.commit_rewrite(&ticket, &temp, BaseFormat::Rdb).unwrap();
        assert_eq!(base, "appendonly.aof.2.base.rdb");
        assert!(!temp.exists());
        assert_eq!(
            manifest_text(&dir),
            "file appendonly.aof.2.base.rdb seq 2 type b\n\
             file appendonly.aof.1.incr.aof seq 1 type h\n\
             file appendonly.aof.1.base.rdb seq 1 type h\n\
             file appendonly.aof.2.incr.aof seq 2 type i\n"
        );
        let removed = dir.delete_history().unwrap();
        assert_eq!(
            removed,
            vec!["appendonly.aof.1.incr.aof", "appendonly.aof.1.base.rdb"]
        );
        assert_eq!(
            manifest_text(&dir),
            "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
        );
        let mut names: Vec<String> = fs::read_dir(dir.aof_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec![
                "appendonly.aof.2.base.rdb",
                "appendonly.aof.2.incr.aof",
                "appendonly.aof.manifest"
            ]
        );
        // The ticket is spent: its incr file is still current, but a ticket
        // for a file no longer listed is refused.
        let stale = RewriteTicket { incr_seq: 1 };
        assert!(matches!(
            dir.commit_rewrite(&stale, &temp, BaseFormat::Rdb),
            Err(AofError::Invalid(_))
        ));
    }

    #[test]
    fn a_failed_rewrite_leaves_its_incr_file_which_the_next_rewrite_retires() {
        let tmp = TempDir::new("failed");
        let mut dir = AofDir::load(AofPaths::with_defaults(&tmp.0)).unwrap();
        dir.open_for_append(None).unwrap();
        let (_abandoned, _) = dir.begin_rewrite().unwrap();
        let (ticket, _) = dir.begin_rewrite().unwrap();
        let temp = dir.temp_rewrite_path(1);
        fs::write(&temp, b"").unwrap();
        dir.commit_rewrite(&ticket, &temp, BaseFormat::Resp)
            .unwrap();
        assert_eq!(
            manifest_text(&dir),
            "file appendonly.aof.1.base.aof seq 1 type b\n\
             file appendonly.aof.1.incr.aof seq 1 type h\n\
             file appendonly.aof.2.incr.aof seq 2 type h\n\
             file appendonly.aof.3.incr.aof seq 3 type i\n"
        );
    }

    #[test]
    fn commit_with_a_missing_temp_base_changes_nothing() {
        let tmp = TempDir::new("missing-temp");
        let mut dir = AofDir::load(AofPaths::with_defaults(&tmp.0)).unwrap();
        dir.open_for_append(None).unwrap();
        let (ticket, _) = dir.begin_rewrite().unwrap();
        let before = manifest_text(&dir);
        let err = dir
            .commit_rewrite(&ticket, &tmp.0.join("nope"), BaseFormat::Rdb)
            .unwrap_err();
        assert!(matches!(err, AofError::Io { .. }));
        assert_eq!(manifest_text(&dir), before);
        assert!(dir.manifest().base.is_none());
    }

    #[test]
    fn old_single_file_aof_is_upgraded_into_the_directory() {
        let tmp = TempDir::new("upgrade");
        fs::write(tmp.0.join("appendonly.aof"), b"*1\r\n$4\r\nPING\r\n").unwrap();
        let mut dir = AofDir::load(AofPaths::with_defaults(&tmp.0)).unwrap();
        assert!(dir.needs_upgrade());
        dir.upgrade().unwrap();
        assert!(!tmp.0.join("appendonly.aof").exists());
        assert_eq!(manifest_text(&dir), "file appendonly.aof seq 1 type b\n");
        assert!(!dir.needs_upgrade());
        let opened = dir.open_for_append(None).unwrap();
        assert_eq!(opened.file_name, "appendonly.aof.1.incr.aof");
        let files = dir.files_to_load().unwrap();
        assert_eq!(files[0].file_name, b"appendonly.aof");
        assert_eq!(files[0].size_bytes, 14);
    }

    #[test]
    fn upgrade_is_retried_after_a_crash_between_manifest_and_rename() {
        let tmp = TempDir::new("upgrade-crash");
        fs::write(tmp.0.join("appendonly.aof"), b"").unwrap();
        fs::create_dir_all(tmp.0.join("appendonlydir")).unwrap();
        fs::write(
            tmp.0.join("appendonlydir/appendonly.aof.manifest"),
            "file appendonly.aof seq 1 type b\n",
        )
        .unwrap();
        let dir = AofDir::load(AofPaths::with_defaults(&tmp.0)).unwrap();
        assert!(dir.needs_upgrade());
        // With data files already in the directory, the old file is ignored.
        fs::write(
            tmp.0.join("appendonlydir/appendonly.aof.manifest"),
            "file appendonly.aof.1.incr.aof seq 1 type i\n",
        )
        .unwrap();
        let dir = AofDir::load(AofPaths::with_defaults(&tmp.0)).unwrap();
        assert!(!dir.needs_upgrade());
    }

    #[test]
    fn missing_listed_file_and_bad_manifest_are_errors() {
        let tmp = TempDir::new("errors");
        fs::create_dir_all(tmp.0.join("appendonlydir")).unwrap();
        fs::write(
            tmp.0.join("appendonlydir/appendonly.aof.manifest"),
            "file x.aof seq 1 type i\n",
        )
        .unwrap();
        let dir = AofDir::load(AofPaths::with_defaults(&tmp.0)).unwrap();
        assert!(matches!(
            dir.files_to_load(),
            Err(AofError::MissingFile { .. })
        ));
        fs::write(tmp.0.join("appendonlydir/appendonly.aof.manifest"), "").unwrap();
        let err = AofDir::load(AofPaths::with_defaults(&tmp.0)).unwrap_err();
        assert_eq!(err.to_string(), "Found an empty AOF manifest");
    }

    #[test]
    fn truncate_file_cuts_at_the_offset() {
        let tmp = TempDir::new("truncate");
        let path = tmp.0.join("f");
        fs::write(&path, b"0123456789").unwrap();
        truncate_file(&path, 4).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"0123");
    }
}
