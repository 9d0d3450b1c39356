//! The AOF writer: a dedicated thread that owns the current incr file,
//! appends the RESP chunks the server hands it (in propagation order, each
//! tagged with the logical offset after it) and fsyncs by policy —
//! `always` (group commit: one fdatasync for everything pending), `everysec`
//! (a second thread fdatasyncs at most once a second, so a slow disk never
//! blocks writes) or `no`. It publishes `written_offset` / `durable_offset`
//! and calls a hook when the durable offset grows, so the server can wake
//! the clients waiting for it without this crate knowing tokio. Write errors
//! are handled as Redis's `flushAppendOnlyFile` does: a partial write is cut
//! back with ftruncate, the error is kept as the last write status, and the
//! pending bytes are retried about every second until a write succeeds.

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

mod threads;
use threads::{fsync_loop, writer_loop, Carry};

/// `appendfsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    Always,
    EverySec,
    No,
}

impl FsyncPolicy {
    fn to_u8(self) -> u8 {
        match self {
            FsyncPolicy::Always => 0,
            FsyncPolicy::EverySec => 1,
            FsyncPolicy::No => 2,
        }
    }

    fn from_u8(v: u8) -> FsyncPolicy {
        match v {
            0 => FsyncPolicy::Always,
            1 => FsyncPolicy::EverySec,
            _ => FsyncPolicy::No,
        }
    }
}

/// What the writer writes to: an incr file, or a test double that injects
/// errors. Methods take `&self` because the fsync thread syncs the file
/// while the writer thread appends to it.
pub trait AofSink: Send + Sync {
    /// One `write(2)`: may write fewer bytes than asked.
    fn write(&self, buf: &[u8]) -> io::Result<usize>;
    /// `fdatasync(2)`.
    fn sync_data(&self) -> io::Result<()>;
    /// `ftruncate(2)`.
    fn truncate(&self, len_bytes: u64) -> io::Result<()>;
}

impl AofSink for File {
    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        Write::write(&mut &*self, buf)
    }

    fn sync_data(&self) -> io::Result<()> {
        File::sync_data(self)
    }

    fn truncate(&self, len_bytes: u64) -> io::Result<()> {
        self.set_len(len_bytes)
    }
}

/// Called with the new durable offset each time it grows, from the writer
/// or fsync thread: it must be quick (e.g. wake a tokio `Notify`).
pub type DurableHook = Box<dyn Fn(u64) + Send + Sync>;

/// How to start a writer.
pub struct AofWriterOptions {
    pub policy: FsyncPolicy,
    /// Logical offset that the end of the file corresponds to.
    pub start_offset: u64,
    /// Current length of the file (what a partial write is cut back to).
    pub file_len_bytes: u64,
    /// How long to wait before retrying after a write error (Redis: 1 s).
    pub retry_interval_ms: u64,
    /// `everysec`'s period.
    pub fsync_interval_ms: u64,
    pub on_durable: Option<DurableHook>,
}

impl AofWriterOptions {
    pub fn new(policy: FsyncPolicy, start_offset: u64, file_len_bytes: u64) -> AofWriterOptions {
        AofWriterOptions {
            policy,
            start_offset,
            file_len_bytes,
            retry_interval_ms: 1000,
            fsync_interval_ms: 1000,
            on_durable: None,
        }
    }
}

/// Misuse of the writer, or its final state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriterError {
    /// The writer is shutting down or has stopped.
    Closed,
    /// A chunk's end offset is below the previous chunk's.
    OffsetWentBack { last_offset: u64, offset: u64 },
    /// A rotation must happen exactly after the last appended chunk.
    RotateOffsetMismatch { last_offset: u64, at_offset: u64 },
    /// Shutdown could not write or fsync everything: the errno text.
    Io(String),
    /// A writer thread panicked.
    ThreadPanicked,
}

impl fmt::Display for WriterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriterError::Closed => f.write_str("the AOF writer is closed"),
            WriterError::OffsetWentBack {
                last_offset,
                offset,
            } => {
                write!(
                    f,
                    "AOF chunk offset {offset} is below the previous {last_offset}"
                )
            }
            WriterError::RotateOffsetMismatch {
                last_offset,
                at_offset,
            } => {
                write!(
                    f,
                    "AOF rotation at {at_offset} but the last chunk ends at {last_offset}"
                )
            }
            WriterError::Io(text) => write!(f, "AOF write error: {text}"),
            WriterError::ThreadPanicked => f.write_str("an AOF writer thread panicked"),
        }
    }
}

impl std::error::Error for WriterError {}

/// Counters for INFO persistence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofWriterStats {
    pub written_offset: u64,
    pub durable_offset: u64,
    /// Appended but not yet written (`aof_buffer_length`).
    pub pending_bytes: u64,
    /// Writes done while an everysec fsync had been running for 2 s or more
    /// (`aof_delayed_fsync`).
    pub delayed_fsync: u64,
    /// An everysec fsync is running (`aof_pending_bio_fsync`).
    pub fsync_in_progress: bool,
    /// The last write or fsync error, cleared by a later success: Redis's
    /// `aof_last_write_status:err` and the MISCONF text.
    pub last_write_error: Option<String>,
}

enum Item {
    Chunk {
        bytes: Vec<u8>,
        end_offset: u64,
    },
    Rotate {
        sink: Arc<dyn AofSink>,
        file_len_bytes: u64,
    },
}

struct Queue {
    items: VecDeque<Item>,
    last_end_offset: u64,
    shutdown: bool,
    /// Wake the writer without new data (policy change).
    kick: bool,
    /// The writer thread is asleep on `queue_cv` without a deadline: only
    /// then does an append pay for a wake-up (a futex syscall), so a busy
    /// writer takes many appends per loop without being signalled for each.
    idle: bool,
}

/// What the everysec thread fsyncs. The writer replaces `current` only
/// after the old file is fsynced, so the durable offset never passes bytes
/// of an older file that are not on disk.
struct SyncState {
    current: Arc<dyn AofSink>,
    /// Logical offset written into `current` so far.
    current_written: u64,
    in_progress_since: Option<Instant>,
    shutdown: bool,
}

#[derive(Default)]
struct Status {
    write_error: Option<String>,
    fsync_error: Option<String>,
}

/// The file being appended to and the bytes taken from the queue but not
/// yet written: owned by whoever writes — the writer thread, or under
/// `always` a caller leading a group commit ([`AofWriter::try_lead`]).
struct Io {
    sink: Arc<dyn AofSink>,
    carry: Carry,
    file_len_bytes: u64,
}

struct Shared {
    queue: Mutex<Queue>,
    queue_cv: Condvar,
    io: Mutex<Io>,
    /// A caller is leading a group commit (see [`AofWriter::try_lead`]).
    leading: AtomicBool,
    sync: Mutex<SyncState>,
    sync_cv: Condvar,
    publish_lock: Mutex<()>,
    written_offset: AtomicU64,
    durable_offset: AtomicU64,
    pending_bytes: AtomicU64,
    delayed_fsync: AtomicU64,
    policy: AtomicU8,
    status: Mutex<Status>,
    on_durable: Option<DurableHook>,
    retry_interval: Duration,
    fsync_interval: Duration,
}

/// A poisoned lock only means another thread panicked; the data is plain
/// counters and queues, still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn policy(&self) -> FsyncPolicy {
        FsyncPolicy::from_u8(self.policy.load(Ordering::Acquire))
    }

    /// Raises the durable offset and tells the hook, in increasing order.
    fn publish_durable(&self, offset: u64) {
        let _serial = lock(&self.publish_lock);
        if offset > self.durable_offset.load(Ordering::Acquire) {
            self.durable_offset.store(offset, Ordering::Release);
            if let Some(hook) = &self.on_durable {
                hook(offset);
            }
        }
    }

    fn set_write_error(&self, error: Option<String>) {
        lock(&self.status).write_error = error;
    }

    fn set_fsync_error(&self, error: Option<String>) {
        lock(&self.status).fsync_error = error;
    }
}

/// The running writer. Dropping it shuts it down (flush, fsync, join).
pub struct AofWriter {
    shared: Arc<Shared>,
    writer_thread: Option<JoinHandle<Result<(), WriterError>>>,
    fsync_thread: Option<JoinHandle<()>>,
}

impl AofWriter {
    /// Starts the writer and fsync threads over `sink`.
    pub fn start(sink: Arc<dyn AofSink>, options: AofWriterOptions) -> io::Result<AofWriter> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                last_end_offset: options.start_offset,
                shutdown: false,
                kick: false,
                idle: false,
            }),
            queue_cv: Condvar::new(),
            io: Mutex::new(Io {
                sink: sink.clone(),
                carry: Carry::default(),
                file_len_bytes: options.file_len_bytes,
            }),
            leading: AtomicBool::new(false),
            sync: Mutex::new(SyncState {
                current: sink.clone(),
                current_written: options.start_offset,
                in_progress_since: None,
                shutdown: false,
            }),
            sync_cv: Condvar::new(),
            publish_lock: Mutex::new(()),
            written_offset: AtomicU64::new(options.start_offset),
            durable_offset: AtomicU64::new(options.start_offset),
            pending_bytes: AtomicU64::new(0),
            delayed_fsync: AtomicU64::new(0),
            policy: AtomicU8::new(options.policy.to_u8()),
            status: Mutex::new(Status::default()),
            on_durable: options.on_durable,
            retry_interval: Duration::from_millis(options.retry_interval_ms.max(1)),
            fsync_interval: Duration::from_millis(options.fsync_interval_ms.max(1)),
        });
        let fsync_shared = shared.clone();
        let fsync_thread = std::thread::Builder::new()
            .name("aof-fsync".into())
            .spawn(move || fsync_loop(&fsync_shared))?;
        let writer_shared = shared.clone();
        let writer_thread = std::thread::Builder::new()
            .name("aof-writer".into())
            .spawn(move || writer_loop(&writer_shared));
        let writer_thread = match writer_thread {
            Ok(handle) => handle,
            Err(e) => {
                lock(&shared.sync).shutdown = true;
                shared.sync_cv.notify_all();
                let _ = fsync_thread.join();
                return Err(e);
            }
        };
        Ok(AofWriter {
            shared,
            writer_thread: Some(writer_thread),
            fsync_thread: Some(fsync_thread),
        })
    }

    /// Queues a RESP-encoded chunk; `end_offset` is the logical offset after
    /// it. Chunks are written in the order appended.
    pub fn append(&self, bytes: Vec<u8>, end_offset: u64) -> Result<(), WriterError> {
        self.push(bytes, end_offset, true)
    }

    /// [`append`](Self::append) without waking the writer thread: under
    /// `always`, for a caller that will itself lead a group commit or wait
    /// for one ([`try_lead`](Self::try_lead)) before it acknowledges.
    pub fn append_led(&self, bytes: Vec<u8>, end_offset: u64) -> Result<(), WriterError> {
        self.push(bytes, end_offset, false)
    }

    fn push(&self, bytes: Vec<u8>, end_offset: u64, wake_writer: bool) -> Result<(), WriterError> {
        let mut queue = lock(&self.shared.queue);
        if queue.shutdown {
            return Err(WriterError::Closed);
        }
        if end_offset < queue.last_end_offset {
            return Err(WriterError::OffsetWentBack {
                last_offset: queue.last_end_offset,
                offset: end_offset,
            });
        }
        queue.last_end_offset = end_offset;
        self.shared
            .pending_bytes
            .fetch_add(bytes.len() as u64, Ordering::AcqRel);
        queue.items.push_back(Item::Chunk { bytes, end_offset });
        let wake = wake_writer && queue.idle;
        drop(queue);
        if wake {
            self.shared.queue_cv.notify_one();
        }
        Ok(())
    }

    /// Switches to `sink` (a new incr file of `file_len_bytes`) right after
    /// the chunk ending at `at_offset`, which must be the last one appended:
    /// everything before goes to the old file, everything after to the new
    /// one. The writer fsyncs the old file (whatever the policy, as Redis
    /// fsyncs it on close) before writing to the new one; if that fsync
    /// fails it is retried like a write error.
    pub fn rotate(
        &self,
        sink: Arc<dyn AofSink>,
        file_len_bytes: u64,
        at_offset: u64,
    ) -> Result<(), WriterError> {
        let mut queue = lock(&self.shared.queue);
        if queue.shutdown {
            return Err(WriterError::Closed);
        }
        if at_offset != queue.last_end_offset {
            return Err(WriterError::RotateOffsetMismatch {
                last_offset: queue.last_end_offset,
                at_offset,
            });
        }
        queue.items.push_back(Item::Rotate {
            sink,
            file_len_bytes,
        });
        drop(queue);
        self.shared.queue_cv.notify_one();
        Ok(())
    }

    /// Group commit led by a caller (Redis writes and fsyncs in its own
    /// event loop before replying; this is that, for whichever connection
    /// thread first needs durability): `None` while another caller leads.
    /// The leader may first let other clients add their writes (a yield of
    /// its event loop), then [`Leader::sync`] writes everything queued and
    /// fdatasyncs it on the calling thread, without a hand-off to the
    /// writer thread and back. Others wait for the durable offset.
    pub fn try_lead(&self) -> Option<Leader<'_>> {
        self.shared
            .leading
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| Leader { writer: self })
    }

    /// Wake the writer thread to deal with what is queued (a rotation, a
    /// retry after an error).
    fn kick(&self) {
        lock(&self.shared.queue).kick = true;
        self.shared.queue_cv.notify_one();
    }

    /// `CONFIG SET appendfsync`. Switching to `always` fsyncs what is
    /// written but not yet durable.
    pub fn set_policy(&self, policy: FsyncPolicy) {
        self.shared.policy.store(policy.to_u8(), Ordering::Release);
        lock(&self.shared.queue).kick = true;
        self.shared.queue_cv.notify_one();
        self.shared.sync_cv.notify_all();
    }

    pub fn policy(&self) -> FsyncPolicy {
        self.shared.policy()
    }

    /// Logical offset of the last chunk fully written to the file.
    pub fn written_offset(&self) -> u64 {
        self.shared.written_offset.load(Ordering::Acquire)
    }

    /// Logical offset up to which the file is fsynced.
    pub fn durable_offset(&self) -> u64 {
        self.shared.durable_offset.load(Ordering::Acquire)
    }

    /// `Err(errno text)` while the last write or fsync failed: the server
    /// answers writes with `-MISCONF Errors writing to the AOF file: <text>`.
    /// Under `always` Redis exits on such an error instead (acknowledged
    /// writes could not be made durable); the writer keeps retrying and the
    /// durable offset stays put, so the server may do either.
    pub fn write_status(&self) -> Result<(), String> {
        let status = lock(&self.shared.status);
        match status.write_error.as_ref().or(status.fsync_error.as_ref()) {
            Some(text) => Err(text.clone()),
            None => Ok(()),
        }
    }

    pub fn stats(&self) -> AofWriterStats {
        AofWriterStats {
            written_offset: self.written_offset(),
            durable_offset: self.durable_offset(),
            pending_bytes: self.shared.pending_bytes.load(Ordering::Acquire),
            delayed_fsync: self.shared.delayed_fsync.load(Ordering::Acquire),
            fsync_in_progress: lock(&self.shared.sync).in_progress_since.is_some(),
            last_write_error: self.write_status().err(),
        }
    }

    /// Writes everything pending, fsyncs, and joins both threads. An error
    /// says what could not be made durable.
    pub fn shutdown(mut self) -> Result<(), WriterError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), WriterError> {
        lock(&self.shared.queue).shutdown = true;
        self.shared.queue_cv.notify_all();
        let written = match self.writer_thread.take() {
            Some(handle) => handle.join().unwrap_or(Err(WriterError::ThreadPanicked)),
            None => Ok(()),
        };
        lock(&self.shared.sync).shutdown = true;
        self.shared.sync_cv.notify_all();
        let synced = match self.fsync_thread.take() {
            Some(handle) => handle.join().map_err(|_| WriterError::ThreadPanicked),
            None => Ok(()),
        };
        written.and(synced)
    }
}

impl Drop for AofWriter {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// The right to write and fsync on the caller's thread; see
/// [`AofWriter::try_lead`]. Dropping it lets the next leader in.
pub struct Leader<'a> {
    writer: &'a AofWriter,
}

impl Leader<'_> {
    /// Under `always`: write everything queued (up to a pending rotation,
    /// which stays the writer thread's) and fdatasync it, raising the
    /// durable offset. False when it could not — an error (the writer
    /// thread takes over its retries) or another policy — so the caller
    /// waits for the durable offset instead.
    pub fn sync(&self) -> bool {
        let shared = &*self.writer.shared;
        if shared.policy() != FsyncPolicy::Always {
            return false;
        }
        let mut io = lock(&shared.io);
        let rotate_next = {
            let mut queue = lock(&shared.queue);
            if queue.shutdown {
                return false;
            }
            threads::take_chunks(&mut queue, &mut io.carry)
        };
        if !io.carry.is_empty() {
            let Io {
                sink,
                carry,
                file_len_bytes,
            } = &mut *io;
            if threads::write_carry(shared, sink.as_ref(), carry, file_len_bytes).is_err() {
                drop(io);
                self.writer.kick();
                return false;
            }
        }
        let written = shared.written_offset.load(Ordering::Acquire);
        if shared.durable_offset.load(Ordering::Acquire) < written {
            match io.sink.sync_data() {
                Ok(()) => {
                    shared.set_fsync_error(None);
                    shared.publish_durable(written);
                }
                Err(e) => {
                    shared.set_fsync_error(Some(crate::aof::errno_text(&e)));
                    drop(io);
                    self.writer.kick();
                    return false;
                }
            }
        }
        drop(io);
        if rotate_next {
            self.writer.kick();
        }
        true
    }

    /// Stop leading; true when writes are queued that this group did not
    /// take (their clients must be woken to lead the next one).
    pub fn finish(self) -> bool {
        let writer = self.writer;
        drop(self);
        !lock(&writer.shared.queue).items.is_empty()
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        self.writer.shared.leading.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    /// An in-memory file: records what is written and fsynced, and can
    /// fail writes (optionally after a partial write) or block fsyncs.
    #[derive(Default)]
    struct MemSink {
        data: Mutex<Vec<u8>>,
        synced_len: AtomicU64,
        sync_calls: AtomicU64,
        /// Writes left to fail with ENOSPC.
        failing_writes: AtomicU64,
        /// A failing write first writes half of its buffer.
        partial_before_failure: AtomicBool,
        truncate_fails: AtomicBool,
        sync_blocked: Mutex<bool>,
        sync_gate: Condvar,
        sync_delay_ms: AtomicU64,
    }

    impl MemSink {
        fn contents(&self) -> Vec<u8> {
            lock(&self.data).clone()
        }

        fn block_sync(&self, blocked: bool) {
            *lock(&self.sync_blocked) = blocked;
            self.sync_gate.notify_all();
        }
    }

    impl AofSink for MemSink {
        fn write(&self, buf: &[u8]) -> io::Result<usize> {
            let mut data = lock(&self.data);
            if self.failing_writes.load(Ordering::SeqCst) > 0 {
                if self.partial_before_failure.swap(false, Ordering::SeqCst) && buf.len() > 1 {
                    let half = buf.len() / 2;
                    data.extend_from_slice(&buf[..half]);
                    return Ok(half);
                }
                self.failing_writes.fetch_sub(1, Ordering::SeqCst);
                return Err(io::Error::from_raw_os_error(28));
            }
            data.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn sync_data(&self) -> io::Result<()> {
            let mut blocked = lock(&self.sync_blocked);
            while *blocked {
                blocked = self
                    .sync_gate
                    .wait(blocked)
                    .unwrap_or_else(|p| p.into_inner());
            }
            drop(blocked);
            let delay = self.sync_delay_ms.load(Ordering::SeqCst);
            if delay > 0 {
                std::thread::sleep(Duration::from_millis(delay));
            }
            self.sync_calls.fetch_add(1, Ordering::SeqCst);
            let len = lock(&self.data).len() as u64;
            self.synced_len.store(len, Ordering::SeqCst);
            Ok(())
        }

        fn truncate(&self, len_bytes: u64) -> io::Result<()> {
            if self.truncate_fails.load(Ordering::SeqCst) {
                return Err(io::Error::from_raw_os_error(5));
            }
            lock(&self.data).truncate(len_bytes as usize);
            Ok(())
        }
    }

    fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn options(policy: FsyncPolicy) -> AofWriterOptions {
        AofWriterOptions {
            retry_interval_ms: 20,
            fsync_interval_ms: 20,
            ..AofWriterOptions::new(policy, 0, 0)
        }
    }

    fn start(sink: &Arc<MemSink>, options: AofWriterOptions) -> AofWriter {
        AofWriter::start(sink.clone() as Arc<dyn AofSink>, options).unwrap()
    }

    /// Appends `chunks`, with the logical offset equal to the byte count.
    fn append_all(writer: &AofWriter, start: u64, chunks: &[&[u8]]) -> u64 {
        let mut offset = start;
        for chunk in chunks {
            offset += chunk.len() as u64;
            writer.append(chunk.to_vec(), offset).unwrap();
        }
        offset
    }

    #[test]
    fn always_makes_every_chunk_durable_and_writes_a_real_file() {
        let path =
            std::env::temp_dir().join(format!("shoal-aof-writer-{}.aof", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .unwrap();
        let writer = AofWriter::start(Arc::new(file), options(FsyncPolicy::Always)).unwrap();
        let end = append_all(
            &writer,
            0,
            &[b"*1\r\n$4\r\nPING\r\n", b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"],
        );
        wait_until("durable", || writer.durable_offset() == end);
        assert_eq!(writer.written_offset(), end);
        writer.shutdown().unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
        );
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_leader_writes_and_fsyncs_on_its_own_thread_one_at_a_time() {
        let sink = Arc::new(MemSink::default());
        let writer = start(&sink, options(FsyncPolicy::Always));
        writer
            .append_led(b"*1\r\n$4\r\nPING\r\n".to_vec(), 14)
            .unwrap();
        writer
            .append_led(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n".to_vec(), 34)
            .unwrap();
        let leader = writer.try_lead().expect("nobody leads yet");
        assert!(writer.try_lead().is_none(), "one leader at a time");
        assert!(leader.sync());
        // Durable before sync() returns: no hand-off to the writer thread.
        assert_eq!(writer.durable_offset(), 34);
        assert_eq!(sink.synced_len.load(Ordering::SeqCst), 34);
        assert!(!leader.finish(), "nothing left queued");
        // Nothing new: leading again writes and fsyncs nothing.
        let calls = sink.sync_calls.load(Ordering::SeqCst);
        assert!(writer.try_lead().expect("released").sync());
        assert_eq!(sink.sync_calls.load(Ordering::SeqCst), calls);
        writer.shutdown().unwrap();
        assert_eq!(
            sink.contents(),
            b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
        );
    }

    #[test]
    fn a_leaders_write_error_goes_to_the_writer_threads_retries() {
        let sink = Arc::new(MemSink::default());
        let writer = start(&sink, options(FsyncPolicy::Always));
        sink.failing_writes.store(2, Ordering::SeqCst);
        writer
            .append_led(b"*1\r\n$4\r\nPING\r\n".to_vec(), 14)
            .unwrap();
        let leader = writer.try_lead().unwrap();
        assert!(!leader.sync(), "the write failed");
        assert_eq!(writer.durable_offset(), 0);
        drop(leader);
        // The writer thread retries (every 20 ms here) until it works.
        wait_until("durable after retries", || writer.durable_offset() == 14);
        assert_eq!(writer.write_status(), Ok(()));
        assert_eq!(sink.contents(), b"*1\r\n$4\r\nPING\r\n");
        writer.shutdown().unwrap();
    }

    #[test]
    fn a_leader_leaves_a_rotation_to_the_writer_thread() {
        let first = Arc::new(MemSink::default());
        let second = Arc::new(MemSink::default());
        let writer = start(&first, options(FsyncPolicy::Always));
        writer
            .append_led(b"*1\r\n$4\r\nPING\r\n".to_vec(), 14)
            .unwrap();
        writer.rotate(second.clone(), 0, 14).unwrap();
        writer
            .append_led(b"*1\r\n$4\r\nPING\r\n".to_vec(), 28)
            .unwrap();
        if let Some(leader) = writer.try_lead() {
            assert!(leader.sync());
        }
        wait_until("both durable", || writer.durable_offset() == 28);
        assert_eq!(first.contents(), b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(second.contents(), b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(second.synced_len.load(Ordering::SeqCst), 14);
        writer.shutdown().unwrap();
    }

    #[test]
    fn group_commit_shares_fsyncs_and_keeps_every_byte_once_in_order() {
        let sink = Arc::new(MemSink::default());
        sink.sync_delay_ms.store(1, Ordering::SeqCst);
        let seen = Arc::new(Mutex::new(Vec::<u64>::new()));
        let violations = Arc::new(AtomicU64::new(0));
        let hook_sink = sink.clone();
        let (hook_seen, hook_violations) = (seen.clone(), violations.clone());
        let hook: DurableHook = Box::new(move |offset| {
            if hook_sink.synced_len.load(Ordering::SeqCst) < offset {
                hook_violations.fetch_add(1, Ordering::SeqCst);
            }
            lock(&hook_seen).push(offset);
        });
        let writer = Arc::new(start(
            &sink,
            AofWriterOptions {
                on_durable: Some(hook),
                ..options(FsyncPolicy::Always)
            },
        ));
        // The propagation point: offsets assigned and chunks appended in
        // one order under one lock, as the server does.
        let propagation = Arc::new(Mutex::new((0u64, Vec::<u8>::new())));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let (writer, propagation) = (writer.clone(), propagation.clone());
                std::thread::spawn(move || {
                    for i in 0..200 {
                        let chunk = format!("<{t}:{i}>").into_bytes();
                        let end = {
                            let mut p = lock(&propagation);
                            p.0 += chunk.len() as u64;
                            p.1.extend_from_slice(&chunk);
                            writer.append(chunk, p.0).unwrap();
                            p.0
                        };
                        // Like a client waiting for its reply under `always`.
                        while writer.durable_offset() < end {
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let (end, expected) = lock(&propagation).clone();
        assert_eq!(writer.durable_offset(), end);
        assert_eq!(sink.contents(), expected);
        let seen = lock(&seen).clone();
        assert!(
            seen.windows(2).all(|w| w[0] < w[1]),
            "durable offsets must grow"
        );
        assert_eq!(seen.last().copied(), Some(end));
        assert_eq!(
            violations.load(Ordering::SeqCst),
            0,
            "a durable offset was published before its fsync"
        );
        let syncs = sink.sync_calls.load(Ordering::SeqCst);
        assert!(
            syncs < 1600,
            "{syncs} fsyncs for 1600 appends: no group commit"
        );
        match Arc::try_unwrap(writer) {
            Ok(writer) => writer.shutdown().unwrap(),
            Err(_) => panic!("writer still shared"),
        }
    }

    #[test]
    fn everysec_writes_promptly_while_a_slow_fsync_blocks() {
        let sink = Arc::new(MemSink::default());
        sink.block_sync(true);
        let writer = start(&sink, options(FsyncPolicy::EverySec));
        let end = append_all(&writer, 0, &[b"aaaa", b"bbbb"]);
        wait_until("written", || writer.written_offset() == end);
        wait_until("fsync started", || writer.stats().fsync_in_progress);
        // More writes go through while the fsync hangs.
        let end2 = append_all(&writer, end, &[b"cccc"]);
        wait_until("written during fsync", || writer.written_offset() == end2);
        assert_eq!(writer.durable_offset(), 0);
        sink.block_sync(false);
        wait_until("durable", || writer.durable_offset() == end2);
        assert_eq!(sink.contents(), b"aaaabbbbcccc");
        writer.shutdown().unwrap();
    }

    #[test]
    fn everysec_counts_writes_delayed_by_a_stuck_fsync() {
        let sink = Arc::new(MemSink::default());
        sink.block_sync(true);
        let writer = start(&sink, options(FsyncPolicy::EverySec));
        append_all(&writer, 0, &[b"x"]);
        wait_until("fsync started", || writer.stats().fsync_in_progress);
        std::thread::sleep(Duration::from_millis(2050));
        let end = append_all(&writer, 1, &[b"y"]);
        wait_until("written", || writer.written_offset() == end);
        assert_eq!(writer.stats().delayed_fsync, 1);
        sink.block_sync(false);
        writer.shutdown().unwrap();
    }

    #[test]
    fn no_policy_fsyncs_only_at_shutdown() {
        let sink = Arc::new(MemSink::default());
        let writer = start(&sink, options(FsyncPolicy::No));
        let end = append_all(&writer, 0, &[b"abc", b"def"]);
        wait_until("written", || writer.written_offset() == end);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(
            (
                writer.durable_offset(),
                sink.sync_calls.load(Ordering::SeqCst)
            ),
            (0, 0)
        );
        writer.shutdown().unwrap();
        assert_eq!(sink.synced_len.load(Ordering::SeqCst), 6);
    }

    #[test]
    fn switching_to_always_fsyncs_what_is_written() {
        let sink = Arc::new(MemSink::default());
        let writer = start(&sink, options(FsyncPolicy::No));
        let end = append_all(&writer, 0, &[b"abc"]);
        wait_until("written", || writer.written_offset() == end);
        writer.set_policy(FsyncPolicy::Always);
        assert_eq!(writer.policy(), FsyncPolicy::Always);
        wait_until("durable", || writer.durable_offset() == end);
    }

    #[test]
    fn rotation_splits_the_stream_exactly_at_the_offset() {
        let (old, new) = (Arc::new(MemSink::default()), Arc::new(MemSink::default()));
        let writer = start(&old, options(FsyncPolicy::EverySec));
        old.block_sync(false);
        let at = append_all(&writer, 0, &[b"one;", b"two;"]);
        assert_eq!(
            writer.rotate(new.clone(), 0, at + 1),
            Err(WriterError::RotateOffsetMismatch {
                last_offset: at,
                at_offset: at + 1
            })
        );
        writer.rotate(new.clone(), 0, at).unwrap();
        let end = append_all(&writer, at, &[b"three;"]);
        wait_until("written", || writer.written_offset() == end);
        assert_eq!(old.contents(), b"one;two;");
        assert_eq!(new.contents(), b"three;");
        // The old file was fsynced before the switch.
        assert_eq!(old.synced_len.load(Ordering::SeqCst), 8);
        assert!(writer.durable_offset() >= at);
        writer.shutdown().unwrap();
        assert_eq!(new.synced_len.load(Ordering::SeqCst), 6);
    }

    #[test]
    fn offsets_may_not_go_back() {
        let sink = Arc::new(MemSink::default());
        let writer = start(&sink, options(FsyncPolicy::No));
        writer.append(b"ab".to_vec(), 10).unwrap();
        assert_eq!(
            writer.append(b"c".to_vec(), 9),
            Err(WriterError::OffsetWentBack {
                last_offset: 10,
                offset: 9
            })
        );
        // An empty chunk may advance the offset (bytes not in the AOF).
        writer.append(Vec::new(), 12).unwrap();
        wait_until("written", || writer.written_offset() == 12);
    }

    #[test]
    fn a_short_write_is_cut_back_kept_pending_and_retried() {
        let sink = Arc::new(MemSink::default());
        let writer = start(&sink, options(FsyncPolicy::EverySec));
        let first = append_all(&writer, 0, &[b"*1\r\n$4\r\nPING\r\n"]);
        wait_until("first written", || writer.written_offset() == first);
        sink.partial_before_failure.store(true, Ordering::SeqCst);
        sink.failing_writes.store(3, Ordering::SeqCst);
        let end = append_all(&writer, first, &[b"*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n"]);
        wait_until("error recorded", || writer.write_status().is_err());
        assert_eq!(
            writer.write_status(),
            Err("No space left on device".to_string())
        );
        // The half-written command was removed; nothing new counts as written.
        assert_eq!(sink.contents(), b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(writer.written_offset(), first);
        assert_eq!(writer.stats().pending_bytes, end - first);
        // More appends queue behind the failing bytes, in order.
        let end2 = append_all(&writer, end, &[b"*1\r\n$4\r\nPING\r\n"]);
        wait_until("recovered", || writer.written_offset() == end2);
        assert_eq!(writer.write_status(), Ok(()));
        assert_eq!(writer.stats().pending_bytes, 0);
        assert_eq!(
            sink.contents(),
            b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n*1\r\n$4\r\nPING\r\n"
        );
        writer.shutdown().unwrap();
    }

    #[test]
    fn when_truncate_fails_the_written_part_is_not_written_twice() {
        let sink = Arc::new(MemSink::default());
        sink.truncate_fails.store(true, Ordering::SeqCst);
        sink.partial_before_failure.store(true, Ordering::SeqCst);
        sink.failing_writes.store(1, Ordering::SeqCst);
        let writer = start(&sink, options(FsyncPolicy::Always));
        let end = append_all(&writer, 0, &[b"0123456789"]);
        wait_until("durable", || writer.durable_offset() == end);
        assert_eq!(sink.contents(), b"0123456789");
        assert_eq!(writer.write_status(), Ok(()));
    }

    #[test]
    fn shutdown_flushes_and_fsyncs_and_reports_a_persistent_error() {
        let sink = Arc::new(MemSink::default());
        let writer = start(&sink, options(FsyncPolicy::EverySec));
        let end = append_all(&writer, 0, &[b"a", b"b", b"c"]);
        writer.shutdown().unwrap();
        assert_eq!(
            (sink.contents(), sink.synced_len.load(Ordering::SeqCst)),
            (b"abc".to_vec(), end)
        );

        let sink = Arc::new(MemSink::default());
        sink.failing_writes.store(u64::MAX, Ordering::SeqCst);
        let writer = start(&sink, options(FsyncPolicy::EverySec));
        append_all(&writer, 0, &[b"lost"]);
        assert_eq!(
            writer.shutdown(),
            Err(WriterError::Io("No space left on device".into()))
        );

        // Dropping the writer shuts it down too.
        let sink = Arc::new(MemSink::default());
        drop({
            let writer = start(&sink, options(FsyncPolicy::No));
            append_all(&writer, 0, &[b"zz"]);
            writer
        });
        assert_eq!(sink.synced_len.load(Ordering::SeqCst), 2);
    }
}
