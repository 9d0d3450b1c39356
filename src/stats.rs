//! Server statistics (INFO stats), SLOWLOG and the LATENCY monitor.

use std::cell::Cell;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// How many shards a `Counter` has: one per connection-serving thread
/// (io-threads), set once at start before any counter is made.
static SHARDS: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    /// This thread's shard (serving thread i uses shard i; other threads 0).
    static SHARD: Cell<usize> = const { Cell::new(0) };
}

/// Set the shard count (main, once io-threads is known).
pub fn set_shard_count(n: usize) {
    SHARDS.store(n.max(1), Ordering::Relaxed);
}

/// The calling thread counts into shard `i` (a serving thread, at its start).
pub fn set_thread_shard(i: usize) {
    SHARD.with(|s| s.set(i));
}

#[inline]
fn shard_of(len: usize) -> usize {
    let i = SHARD.with(|s| s.get());
    if i < len {
        i
    } else {
        0
    }
}

/// One cache line pair per shard, so threads never write the same line.
#[repr(align(128))]
#[derive(Default)]
struct Padded<T>(T);

/// A statistics counter written from every serving thread: each thread adds
/// to its own cache line and a read sums them. A single shared atomic made
/// every command on one core invalidate the line on the other (several
/// counters per command), which cost more than the command itself once
/// io-threads > 1. The API mirrors AtomicU64's.
pub struct Counter {
    shards: Box<[Padded<AtomicU64>]>,
}

impl Default for Counter {
    fn default() -> Self {
        let n = SHARDS.load(Ordering::Relaxed);
        Counter {
            shards: (0..n).map(|_| Padded::default()).collect(),
        }
    }
}

impl std::fmt::Debug for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Counter({})", self.load(Ordering::Relaxed))
    }
}

impl Counter {
    #[inline]
    pub fn fetch_add(&self, n: u64, order: Ordering) {
        self.shards[shard_of(self.shards.len())]
            .0
            .fetch_add(n, order);
    }

    /// The sum over threads.
    pub fn load(&self, order: Ordering) -> u64 {
        self.shards
            .iter()
            .fold(0u64, |a, s| a.wrapping_add(s.0.load(order)))
    }

    /// Add a signed amount (a gauge such as a database's key count).
    #[inline]
    pub fn add_i64(&self, n: i64) {
        self.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// The signed sum over threads (one thread's shard may be negative).
    pub fn load_i64(&self) -> i64 {
        self.load(Ordering::Relaxed) as i64
    }

    /// Set the total (CONFIG RESETSTAT: 0).
    pub fn store(&self, v: u64, order: Ordering) {
        for (i, s) in self.shards.iter().enumerate() {
            s.0.store(if i == 0 { v } else { 0 }, order);
        }
    }
}

/// Per-thread shards of a fixed group of counters (a command's calls, time
/// and latency histogram), each shard on its own cache lines.
pub struct Sharded<T> {
    shards: Box<[Padded<T>]>,
}

impl<T: Default> Default for Sharded<T> {
    fn default() -> Self {
        let n = SHARDS.load(Ordering::Relaxed);
        Sharded {
            shards: (0..n).map(|_| Padded::default()).collect(),
        }
    }
}

impl<T> Sharded<T> {
    /// The calling thread's shard.
    #[inline]
    pub fn local(&self) -> &T {
        &self.shards[shard_of(self.shards.len())].0
    }

    /// Every shard, to sum or reset.
    pub fn all(&self) -> impl Iterator<Item = &T> {
        self.shards.iter().map(|s| &s.0)
    }
}

#[derive(Default)]
pub struct Stats {
    pub total_connections_received: Counter,
    pub total_commands_processed: Counter,
    pub rejected_connections: Counter,
    pub evicted_keys: Counter,
    pub keyspace_hits: Counter,
    pub keyspace_misses: Counter,
    pub total_net_input_bytes: Counter,
    pub total_net_output_bytes: Counter,
    pub total_error_replies: Counter,
    pub unexpected_error_replies: Counter,
    pub dirty: Counter,
    pub errorstats: parking_lot::Mutex<BTreeMap<String, u64>>,
    /// (time ms, total commands) samples taken by the cron, for instantaneous_ops_per_sec.
    pub ops_samples: parking_lot::Mutex<VecDeque<(u64, u64)>>,
}

const OPS_SAMPLES: usize = 16;

impl Stats {
    pub fn sample_ops(&self, now_ms: u64) {
        let mut s = self.ops_samples.lock();
        s.push_back((
            now_ms,
            self.total_commands_processed.load(Ordering::Relaxed),
        ));
        if s.len() > OPS_SAMPLES {
            s.pop_front();
        }
    }

    pub fn instantaneous_ops(&self) -> u64 {
        let s = self.ops_samples.lock();
        match (s.front(), s.back()) {
            (Some(a), Some(b)) if b.0 > a.0 => b.1.saturating_sub(a.1) * 1000 / (b.0 - a.0),
            _ => 0,
        }
    }

    pub fn count_errors(&self, codes: &[String]) {
        if codes.is_empty() {
            return;
        }
        self.total_error_replies
            .fetch_add(codes.len() as u64, Ordering::Relaxed);
        let mut m = self.errorstats.lock();
        for c in codes {
            // Redis caps distinct error codes at 128 to bound memory.
            if m.len() >= 128 && !m.contains_key(c) {
                continue;
            }
            *m.entry(c.clone()).or_default() += 1;
        }
    }

    pub fn reset(&self) {
        for a in [
            &self.total_connections_received,
            &self.total_commands_processed,
            &self.rejected_connections,
            &self.evicted_keys,
            &self.keyspace_hits,
            &self.keyspace_misses,
            &self.total_net_input_bytes,
            &self.total_net_output_bytes,
            &self.total_error_replies,
            &self.unexpected_error_replies,
        ] {
            a.store(0, Ordering::Relaxed);
        }
        self.errorstats.lock().clear();
        crate::keyspace::EXPIRED_KEYS.store(0, Ordering::Relaxed);
        self.ops_samples.lock().clear();
    }
}

pub struct SlowLogEntry {
    pub id: u64,
    pub time_s: u64,
    pub duration_us: u64,
    pub argv: Vec<Vec<u8>>,
    pub peer: String,
    pub name: String,
}

#[derive(Default)]
pub struct SlowLog {
    pub entries: VecDeque<SlowLogEntry>,
    pub next_id: u64,
}

/// Most arguments a slowlog entry keeps, and most bytes per argument (as Redis).
const SLOWLOG_ENTRY_MAX_ARGC: usize = 32;
const SLOWLOG_ENTRY_MAX_STRING: usize = 128;

impl SlowLog {
    pub fn push(
        &mut self,
        argv: &[bytes::Bytes],
        duration_us: u64,
        peer: String,
        name: String,
        max_len: usize,
    ) {
        let mut args: Vec<Vec<u8>> = Vec::new();
        let argc = argv.len().min(SLOWLOG_ENTRY_MAX_ARGC);
        for (i, a) in argv.iter().take(argc).enumerate() {
            if i == argc - 1 && argc < argv.len() {
                args.push(format!("... ({} more arguments)", argv.len() - argc + 1).into_bytes());
            } else if a.len() > SLOWLOG_ENTRY_MAX_STRING {
                let mut v = a[..SLOWLOG_ENTRY_MAX_STRING].to_vec();
                v.extend_from_slice(
                    format!("... ({} more bytes)", a.len() - SLOWLOG_ENTRY_MAX_STRING).as_bytes(),
                );
                args.push(v);
            } else {
                args.push(a.to_vec());
            }
        }
        self.entries.push_front(SlowLogEntry {
            id: self.next_id,
            time_s: crate::util::now_ms() / 1000,
            duration_us,
            argv: args,
            peer,
            name,
        });
        self.next_id += 1;
        self.entries.truncate(max_len);
    }
}

/// LATENCY samples per event: the last 160 (time, latency) points plus the max.
#[derive(Default)]
pub struct LatencyMonitor {
    pub events: BTreeMap<String, LatencyEvent>,
}

#[derive(Default, Clone)]
pub struct LatencyEvent {
    pub samples: VecDeque<(u64, u64)>,
    pub max_ms: u64,
}

const LATENCY_HISTORY: usize = 160;

impl LatencyMonitor {
    pub fn add(&mut self, event: &str, latency_ms: u64) {
        let now_s = crate::util::now_ms() / 1000;
        let e = self.events.entry(event.to_string()).or_default();
        e.max_ms = e.max_ms.max(latency_ms);
        // One sample per second: a second sample in the same second keeps the max.
        if let Some(last) = e.samples.back_mut() {
            if last.0 == now_s {
                last.1 = last.1.max(latency_ms);
                return;
            }
        }
        e.samples.push_back((now_s, latency_ms));
        if e.samples.len() > LATENCY_HISTORY {
            e.samples.pop_front();
        }
    }
}

#[cfg(test)]
mod counter_tests {
    use super::*;

    #[test]
    fn shards_sum_and_reset() {
        // A counter made for 3 serving threads; each thread adds to its own shard.
        set_shard_count(3);
        let c = Counter::default();
        set_shard_count(1);
        std::thread::scope(|s| {
            for shard in 0..4 {
                let c = &c;
                s.spawn(move || {
                    // Shard 3 is past the count: it falls back to shard 0.
                    set_thread_shard(shard);
                    for _ in 0..1000 {
                        c.fetch_add(2, Ordering::Relaxed);
                    }
                    c.add_i64(-500);
                });
            }
        });
        assert_eq!(c.load(Ordering::Relaxed), 4 * (2000 - 500));
        assert_eq!(c.load_i64(), 6000);
        c.store(0, Ordering::Relaxed);
        assert_eq!(c.load(Ordering::Relaxed), 0);
        // A gauge may go negative on one shard and still sum right.
        set_thread_shard(1);
        c.add_i64(-3);
        set_thread_shard(0);
        c.add_i64(5);
        assert_eq!(c.load_i64(), 2);
    }
}
