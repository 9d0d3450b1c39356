//! Server statistics (INFO stats), SLOWLOG and the LATENCY monitor.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Stats {
    pub total_connections_received: AtomicU64,
    pub total_commands_processed: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub evicted_keys: AtomicU64,
    pub keyspace_hits: AtomicU64,
    pub keyspace_misses: AtomicU64,
    pub total_net_input_bytes: AtomicU64,
    pub total_net_output_bytes: AtomicU64,
    pub total_error_replies: AtomicU64,
    pub unexpected_error_replies: AtomicU64,
    pub dirty: AtomicU64,
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
