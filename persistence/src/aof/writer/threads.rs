//! The bodies of the AOF writer's two threads: the writer (takes what is
//! queued, writes it, cuts back partial writes, fsyncs for `always`,
//! switches files) and the everysec fsync thread.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{lock, AofSink, FsyncPolicy, Io, Item, Queue, Shared, WriterError};
use crate::aof::errno_text;

/// Bytes taken from the queue and not yet written, with chunk boundaries
/// (end index in `buf`, logical end offset).
#[derive(Default)]
pub(super) struct Carry {
    buf: Vec<u8>,
    bounds: VecDeque<(usize, u64)>,
}

impl Carry {
    fn push(&mut self, bytes: Vec<u8>, end_offset: u64) {
        if self.buf.is_empty() {
            self.buf = bytes;
        } else {
            self.buf.extend_from_slice(&bytes);
        }
        self.bounds.push_back((self.buf.len(), end_offset));
    }

    pub(super) fn is_empty(&self) -> bool {
        self.bounds.is_empty()
    }

    /// Drops the first `n` written bytes; returns the end offset of the
    /// last chunk now fully written, if any.
    fn consume(&mut self, n: usize) -> Option<u64> {
        let mut done = None;
        while let Some(&(end, offset)) = self.bounds.front() {
            if end > n {
                break;
            }
            done = Some(offset);
            self.bounds.pop_front();
        }
        self.buf.drain(..n);
        for bound in self.bounds.iter_mut() {
            bound.0 -= n;
        }
        done
    }
}

/// `write(2)` until done or an error: returns the bytes written and the
/// error that stopped it.
fn write_fully(sink: &dyn AofSink, buf: &[u8]) -> (usize, Option<io::Error>) {
    let mut total = 0;
    while total < buf.len() {
        match sink.write(&buf[total..]) {
            Ok(0) => return (total, Some(io::Error::from(io::ErrorKind::WriteZero))),
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (total, Some(e)),
        }
    }
    (total, None)
}

/// How long everysec/no appends may gather before they are written.
const COALESCE_MS: u64 = 1;
/// `always`: how long the first write waits for others to share its fsync.
const ALWAYS_GATHER_US: u64 = 100;
/// Write at once when this much is pending, however recent.
const COALESCE_MAX_BYTES: u64 = 1 << 20;

/// Move the queued chunks (up to a rotation) into `carry`; true when a
/// rotation is next.
pub(super) fn take_chunks(queue: &mut Queue, carry: &mut Carry) -> bool {
    while let Some(Item::Chunk { .. }) = queue.items.front() {
        if let Some(Item::Chunk { bytes, end_offset }) = queue.items.pop_front() {
            carry.push(bytes, end_offset);
        }
    }
    matches!(queue.items.front(), Some(Item::Rotate { .. }))
}

pub(super) fn writer_loop(shared: &Shared) -> Result<(), WriterError> {
    let mut retry_at: Option<Instant> = None;
    let mut last_delay_counted: Option<Instant> = None;
    let mut final_error: Option<String> = None;
    loop {
        {
            let mut queue = lock(&shared.queue);
            loop {
                if queue.shutdown {
                    break;
                }
                match retry_at {
                    Some(at) => {
                        let now = Instant::now();
                        if now >= at {
                            break;
                        }
                        queue = shared
                            .queue_cv
                            .wait_timeout(queue, at - now)
                            .map(|r| r.0)
                            .unwrap_or_else(|p| p.into_inner().0);
                    }
                    None => {
                        if !queue.items.is_empty() || queue.kick {
                            break;
                        }
                        queue.idle = true;
                        queue = shared
                            .queue_cv
                            .wait(queue)
                            .unwrap_or_else(|p| p.into_inner());
                        queue.idle = false;
                    }
                }
            }
            queue.kick = false;
            // everysec / no: let about a millisecond of appends gather into
            // one write(2) instead of a syscall per command (their contract
            // already allows losing up to a second). always: wait 100 µs so
            // more clients share the fsync (replies still wait for it).
            // Rotation, a policy change and shutdown still wake it at once.
            let gather = if shared.policy() == FsyncPolicy::Always {
                Duration::from_micros(ALWAYS_GATHER_US)
            } else {
                Duration::from_millis(COALESCE_MS)
            };
            if !queue.shutdown
                && retry_at.is_none()
                && shared.pending_bytes.load(Ordering::Acquire) < COALESCE_MAX_BYTES
            {
                queue = shared
                    .queue_cv
                    .wait_timeout(queue, gather)
                    .map(|r| r.0)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
        }
        // The file is written by one party at a time: this thread, or a
        // caller leading an `always` group commit (`Leader::sync`).
        let mut io = lock(&shared.io);
        let (shutdown, rotate_next) = {
            let mut queue = lock(&shared.queue);
            let rotate_next = take_chunks(&mut queue, &mut io.carry);
            (queue.shutdown, rotate_next)
        };
        let Io {
            sink,
            carry,
            file_len_bytes,
        } = &mut *io;
        if carry.is_empty() {
            // A leader may have written (and fsynced) what failed here before.
            let status = lock(&shared.status);
            if status.write_error.is_none() && status.fsync_error.is_none() {
                final_error = None;
            }
        }
        retry_at = None;
        let policy = shared.policy();

        if !carry.is_empty() {
            if policy == FsyncPolicy::EverySec {
                count_delayed_fsync(shared, &mut last_delay_counted);
            }
            match write_carry(shared, sink.as_ref(), carry, file_len_bytes) {
                Ok(()) => final_error = None,
                Err(text) => {
                    final_error = Some(text);
                    if shutdown {
                        break;
                    }
                    retry_at = Some(Instant::now() + shared.retry_interval);
                    continue;
                }
            }
        }
        let written = shared.written_offset.load(Ordering::Acquire);
        let must_sync = policy == FsyncPolicy::Always || shutdown || rotate_next;
        if must_sync && shared.durable_offset.load(Ordering::Acquire) < written {
            match sink.sync_data() {
                Ok(()) => {
                    shared.set_fsync_error(None);
                    shared.publish_durable(written);
                }
                Err(e) => {
                    let text = errno_text(&e);
                    shared.set_fsync_error(Some(text.clone()));
                    final_error = Some(text);
                    if shutdown {
                        break;
                    }
                    retry_at = Some(Instant::now() + shared.retry_interval);
                    continue;
                }
            }
        }
        if rotate_next {
            let item = lock(&shared.queue).items.pop_front();
            if let Some(Item::Rotate {
                sink: next,
                file_len_bytes: next_len,
            }) = item
            {
                *sink = next.clone();
                *file_len_bytes = next_len;
                let mut sync = lock(&shared.sync);
                sync.current = next;
                sync.current_written = written;
            }
            continue;
        }
        if shutdown && lock(&shared.queue).items.is_empty() {
            break;
        }
    }
    match final_error {
        Some(text) => Err(WriterError::Io(text)),
        None => Ok(()),
    }
}

/// Writes the carried bytes; on error cuts a partial write back (Redis's
/// ftruncate to the last good size) and records the error.
pub(super) fn write_carry(
    shared: &Shared,
    sink: &dyn AofSink,
    carry: &mut Carry,
    file_len_bytes: &mut u64,
) -> Result<(), String> {
    let (mut written, error) = write_fully(sink, &carry.buf);
    if error.is_some() && written > 0 && sink.truncate(*file_len_bytes).is_ok() {
        written = 0;
    }
    if written > 0 || error.is_none() {
        *file_len_bytes += written as u64;
        shared
            .pending_bytes
            .fetch_sub(written as u64, Ordering::AcqRel);
        if let Some(offset) = carry.consume(written) {
            shared.written_offset.store(offset, Ordering::Release);
            lock(&shared.sync).current_written = offset;
        }
    }
    match error {
        None => {
            shared.set_write_error(None);
            Ok(())
        }
        Some(e) => {
            let text = errno_text(&e);
            shared.set_write_error(Some(text.clone()));
            Err(text)
        }
    }
}

/// Redis counts a write that could not wait any longer for a slow
/// background fsync (2 s); count at most once per 2 s of a stuck fsync.
fn count_delayed_fsync(shared: &Shared, last_counted: &mut Option<Instant>) {
    const STUCK: Duration = Duration::from_secs(2);
    let since = lock(&shared.sync).in_progress_since;
    if let Some(started) = since {
        let now = Instant::now();
        if now.duration_since(started) >= STUCK
            && last_counted.is_none_or(|t| now.duration_since(t) >= STUCK)
        {
            shared.delayed_fsync.fetch_add(1, Ordering::AcqRel);
            *last_counted = Some(now);
        }
    }
}

pub(super) fn fsync_loop(shared: &Shared) {
    let mut next_due = Instant::now() + shared.fsync_interval;
    loop {
        let (target, shutdown) = {
            let mut sync = lock(&shared.sync);
            loop {
                let now = Instant::now();
                if sync.shutdown || now >= next_due {
                    break;
                }
                sync = shared
                    .sync_cv
                    .wait_timeout(sync, next_due - now)
                    .map(|r| r.0)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
            if sync.shutdown {
                return;
            }
            let now = Instant::now();
            next_due = now + shared.fsync_interval;
            let behind = sync.current_written > shared.durable_offset.load(Ordering::Acquire);
            let target = if shared.policy() == FsyncPolicy::EverySec && behind {
                sync.in_progress_since = Some(now);
                Some((sync.current.clone(), sync.current_written))
            } else {
                None
            };
            (target, sync.shutdown)
        };
        if let Some((file, offset)) = target {
            match file.sync_data() {
                Ok(()) => {
                    shared.set_fsync_error(None);
                    shared.publish_durable(offset);
                }
                Err(e) => shared.set_fsync_error(Some(errno_text(&e))),
            }
            lock(&shared.sync).in_progress_since = None;
        }
        if shutdown {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carry_tracks_chunk_boundaries_across_partial_writes() {
        let mut carry = Carry::default();
        carry.push(b"abc".to_vec(), 3);
        carry.push(b"de".to_vec(), 5);
        assert_eq!(carry.consume(2), None);
        assert_eq!(carry.consume(1), Some(3));
        assert_eq!(carry.buf, b"de");
        assert_eq!(carry.consume(2), Some(5));
        assert!(carry.is_empty());
    }
}
