//! The replication backlog: the propagated bytes in a ring of chunks keyed
//! by global stream offset (0-based here; Redis prints offset + 1 as
//! repl_backlog_first_byte_offset).
//!
//! It holds at least the last `repl-backlog-size` bytes (for partial
//! resyncs) and, like Redis 7's shared replication buffer, whatever a
//! connected replica has not been sent yet: each replica's feeder is a
//! [`Reader`] whose position pins the bytes after it. A replica that lags
//! more than its client-output-buffer-limit (hard at once, soft for the
//! configured seconds) is cut off and stops pinning. Feeders wait on
//! `notify`, which every append wakes.

use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// Bytes per chunk of the ring.
const CHUNK_BYTES: usize = 64 * 1024;

/// One replica's place in the stream.
pub struct Reader {
    /// Offset of the next byte to send.
    pub pos: AtomicU64,
    /// Cut off (output buffer limit): the feeder disconnects.
    pub dropped: AtomicBool,
    /// When the lag first passed the soft limit (ms; 0: below it).
    pub soft_since_ms: AtomicU64,
}

impl Reader {
    pub fn new(pos: u64) -> Arc<Reader> {
        Arc::new(Reader {
            pos: AtomicU64::new(pos),
            dropped: AtomicBool::new(false),
            soft_since_ms: AtomicU64::new(0),
        })
    }
}

/// client-output-buffer-limit for the replica class.
pub use crate::config::OutputLimit;

struct Ring {
    chunks: VecDeque<Vec<u8>>,
    /// Offset of the first byte held.
    start: u64,
    /// Offset after the last byte.
    end: u64,
    size_bytes: u64,
    limit: OutputLimit,
    readers: Vec<Arc<Reader>>,
}

pub struct Backlog {
    ring: Mutex<Ring>,
    pub notify: Notify,
}

/// The reader's position is before the first byte held.
#[derive(Debug, PartialEq, Eq)]
pub struct Behind;

impl Backlog {
    /// An empty backlog whose next byte has offset `offset`.
    pub fn new(offset: u64, size_bytes: u64, limit: OutputLimit) -> Arc<Backlog> {
        Arc::new(Backlog {
            ring: Mutex::new(Ring {
                chunks: VecDeque::new(),
                start: offset,
                end: offset,
                size_bytes: size_bytes.max(1),
                limit,
                readers: Vec::new(),
            }),
            notify: Notify::new(),
        })
    }

    pub fn configure(&self, size_bytes: u64, limit: OutputLimit) {
        let mut r = self.ring.lock();
        r.size_bytes = size_bytes.max(1);
        r.limit = limit;
        r.trim();
    }

    /// Forget the history: the next byte has offset `offset` (a replica
    /// after a full resync).
    pub fn reset(&self, offset: u64) {
        let mut r = self.ring.lock();
        r.chunks.clear();
        r.start = offset;
        r.end = offset;
        for rd in r.readers.drain(..) {
            rd.dropped.store(true, Ordering::Release);
        }
        drop(r);
        self.notify.notify_waiters();
    }

    /// Append `bytes`, which end at stream offset `end_offset`.
    pub fn append(&self, bytes: &[u8], end_offset: u64) {
        {
            let mut r = self.ring.lock();
            let begin = end_offset - bytes.len() as u64;
            if begin != r.end {
                // The stream was renumbered under us: start over there.
                r.chunks.clear();
                r.start = begin;
                r.end = begin;
            }
            let mut rest = bytes;
            while !rest.is_empty() {
                let need_new = r.chunks.back().map_or(true, |c| c.len() >= CHUNK_BYTES);
                if need_new {
                    r.chunks.push_back(Vec::with_capacity(CHUNK_BYTES));
                }
                let last = r.chunks.back_mut().expect("a chunk");
                let take = (CHUNK_BYTES - last.len()).min(rest.len());
                last.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
            }
            r.end = end_offset;
            r.enforce_hard_limit();
            r.trim();
        }
        self.notify.notify_waiters();
    }

    /// Copy up to `max` bytes from offset `pos` into `out`; Ok(0) when the
    /// reader is at the end.
    pub fn read(&self, pos: u64, max: usize, out: &mut Vec<u8>) -> Result<usize, Behind> {
        let r = self.ring.lock();
        if pos < r.start || pos > r.end {
            return Err(Behind);
        }
        let mut chunk_start = r.start;
        let mut copied = 0;
        for c in &r.chunks {
            let chunk_end = chunk_start + c.len() as u64;
            if chunk_end > pos + copied as u64 {
                let from = (pos + copied as u64 - chunk_start) as usize;
                let take = (c.len() - from).min(max - copied);
                out.extend_from_slice(&c[from..from + take]);
                copied += take;
                if copied == max {
                    break;
                }
            }
            chunk_start = chunk_end;
        }
        Ok(copied)
    }

    /// Register a reader at `pos` (which must be held). None if it is not.
    pub fn attach(&self, pos: u64) -> Option<Arc<Reader>> {
        let mut r = self.ring.lock();
        if pos < r.start || pos > r.end {
            return None;
        }
        let reader = Reader::new(pos);
        r.readers.push(reader.clone());
        Some(reader)
    }

    pub fn detach(&self, reader: &Arc<Reader>) {
        let mut r = self.ring.lock();
        r.readers.retain(|x| !Arc::ptr_eq(x, reader));
        r.trim();
    }

    /// (first offset held, bytes held, end offset).
    pub fn range(&self) -> (u64, u64, u64) {
        let r = self.ring.lock();
        (r.start, r.end - r.start, r.end)
    }

    /// Whether a partial resync may continue from `pos`.
    pub fn holds(&self, pos: u64) -> bool {
        let r = self.ring.lock();
        pos >= r.start && pos <= r.end
    }

    /// The cron's check of the soft output limit (hard is checked on append).
    pub fn enforce_soft_limit(&self, now_ms: u64) {
        let mut r = self.ring.lock();
        let limit = r.limit;
        if limit.soft_bytes == 0 {
            return;
        }
        let end = r.end;
        let mut cut = false;
        for rd in &r.readers {
            let lag = end.saturating_sub(rd.pos.load(Ordering::Acquire));
            if limit.exceeded(lag, &rd.soft_since_ms, now_ms) {
                rd.dropped.store(true, Ordering::Release);
                cut = true;
            }
        }
        if cut {
            r.readers.retain(|rd| !rd.dropped.load(Ordering::Acquire));
            r.trim();
            drop(r);
            self.notify.notify_waiters();
        }
    }
}

impl Ring {
    fn enforce_hard_limit(&mut self) {
        if self.limit.hard_bytes == 0 {
            return;
        }
        let end = self.end;
        let hard = self.limit.hard_bytes;
        self.readers.retain(|rd| {
            if end.saturating_sub(rd.pos.load(Ordering::Acquire)) > hard {
                rd.dropped.store(true, Ordering::Release);
                false
            } else {
                true
            }
        });
    }

    /// Drop whole chunks no one needs: older than the last `size_bytes`
    /// and before every reader.
    fn trim(&mut self) {
        let mut keep_from = self.end.saturating_sub(self.size_bytes);
        for rd in &self.readers {
            keep_from = keep_from.min(rd.pos.load(Ordering::Acquire));
        }
        while let Some(first) = self.chunks.front() {
            let first_end = self.start + first.len() as u64;
            if first_end > keep_from || self.chunks.len() == 1 && first_end < self.end {
                break;
            }
            self.start = first_end;
            self.chunks.pop_front();
        }
    }
}

/// The backlog as a consumer of the propagation stream.
pub struct BacklogSink(pub Arc<Backlog>);

impl crate::propagate::Sink for BacklogSink {
    fn append(&mut self, bytes: &[u8], end_offset: u64) {
        self.0.append(bytes, end_offset);
    }

    fn replication(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(b: &Backlog, pos: u64) -> Vec<u8> {
        let mut v = Vec::new();
        b.read(pos, usize::MAX, &mut v).unwrap();
        v
    }

    #[test]
    fn keeps_the_last_size_bytes_in_whole_chunks() {
        let b = Backlog::new(100, 10, OutputLimit::default());
        b.append(b"hello", 105);
        assert_eq!(read_all(&b, 100), b"hello");
        assert_eq!(read_all(&b, 103), b"lo");
        assert_eq!(b.range(), (100, 5, 105));
        let big = vec![7u8; CHUNK_BYTES * 3];
        b.append(&big, 105 + big.len() as u64);
        let (start, len, end) = b.range();
        assert_eq!(end, 105 + big.len() as u64);
        assert!(len >= 10 && len <= CHUNK_BYTES as u64 + 10, "{len}");
        assert_eq!(b.read(100, 10, &mut Vec::new()), Err(Behind));
        assert!(b.holds(end - 10) && !b.holds(start - 1) && !b.holds(end + 1));
    }

    #[test]
    fn readers_pin_and_hard_limit_cuts() {
        let limit = OutputLimit {
            hard_bytes: CHUNK_BYTES as u64 * 4,
            soft_bytes: 0,
            soft_seconds: 0,
        };
        let b = Backlog::new(0, 1, limit);
        let r = b.attach(0).unwrap();
        let data: Vec<u8> = (0..CHUNK_BYTES * 2).map(|i| i as u8).collect();
        b.append(&data, data.len() as u64);
        assert_eq!(read_all(&b, 0), data);
        r.pos.store(data.len() as u64, Ordering::Release);
        b.append(&data, 2 * data.len() as u64);
        let mut part = Vec::new();
        assert_eq!(b.read(data.len() as u64 + 5, 7, &mut part), Ok(7));
        assert_eq!(part, &data[5..12]);
        for i in 3..6u64 {
            b.append(&data, i * data.len() as u64);
        }
        assert!(r.dropped.load(Ordering::Acquire));
        b.detach(&r);
        assert!(b.range().1 <= CHUNK_BYTES as u64 + 1);
    }

    #[test]
    fn renumbered_stream_restarts() {
        let b = Backlog::new(0, 100, OutputLimit::default());
        b.append(b"abc", 3);
        b.append(b"xyz", 50);
        assert_eq!(b.range(), (47, 3, 50));
        assert_eq!(read_all(&b, 47), b"xyz");
    }
}
