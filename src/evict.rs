//! maxmemory: eviction by policy, LFU bookkeeping, and the OOM decision.
//!
//! Before a command that may grow memory (flag `denyoom`) runs while
//! `maxmemory` is set, keys are evicted by `maxmemory-policy` until used
//! memory is back under the limit; with `noeviction`, or when nothing is
//! left to evict, the command is refused with Redis's OOM error. Candidates
//! are sampled (`maxmemory-samples` at a time) as Redis does: random slot,
//! random entry, best by idle time, access frequency or TTL.

use crate::keyspace::Entry;
use crate::server::Server;
use rand::Rng;
use shoal_cluster::SLOT_COUNT;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// Whether the policy is an LFU one: `Entry::lru_s` then holds LFU data.
static LFU_MODE: AtomicBool = AtomicBool::new(false);
static LFU_LOG_FACTOR: AtomicU64 = AtomicU64::new(10);
static LFU_DECAY_MINUTES: AtomicU64 = AtomicU64::new(1);
/// Initial LFU counter of a new key (Redis's LFU_INIT_VAL).
const LFU_INIT: u32 = 5;

pub fn configure(policy: &str, log_factor: i64, decay_minutes: i64) {
    LFU_MODE.store(policy.ends_with("lfu"), Ordering::Relaxed);
    LFU_LOG_FACTOR.store(log_factor.max(0) as u64, Ordering::Relaxed);
    LFU_DECAY_MINUTES.store(decay_minutes.max(0) as u64, Ordering::Relaxed);
}

pub fn lfu_mode() -> bool {
    LFU_MODE.load(Ordering::Relaxed)
}

fn minutes_now() -> u32 {
    ((crate::util::now_ms() / 60_000) & 0xFFFF) as u32
}

/// The access clock value for a new entry.
pub fn initial_access() -> u32 {
    if lfu_mode() {
        (minutes_now() << 8) | LFU_INIT
    } else {
        crate::keyspace::lru_clock()
    }
}

/// The LFU counter after decay for the minutes elapsed since its last decrement.
pub fn lfu_decayed(lru_s: u32) -> u32 {
    let last = lru_s >> 8;
    let counter = lru_s & 0xFF;
    let now = minutes_now();
    let elapsed = if now >= last {
        now - last
    } else {
        65535 - last + now
    };
    let period = LFU_DECAY_MINUTES.load(Ordering::Relaxed) as u32;
    let decay = if period > 0 { elapsed / period } else { 0 };
    counter.saturating_sub(decay)
}

/// Record an access: refresh the LRU clock, or bump the LFU counter
/// logarithmically (lfu-log-factor) after decaying it.
pub fn touch(e: &mut Entry) {
    if !lfu_mode() {
        e.lru_s = crate::keyspace::lru_clock();
        return;
    }
    let mut counter = lfu_decayed(e.lru_s);
    if counter < 255 {
        let base = counter.saturating_sub(LFU_INIT) as f64;
        let p = 1.0 / (base * LFU_LOG_FACTOR.load(Ordering::Relaxed) as f64 + 1.0);
        if rand::thread_rng().gen::<f64>() < p {
            counter += 1;
        }
    }
    e.lru_s = (minutes_now() << 8) | counter;
}

/// used_memory as of the last refresh; refreshed every few calls.
static USED_CACHE: AtomicU64 = AtomicU64::new(0);
static CALLS: AtomicU64 = AtomicU64::new(0);
const REFRESH_EVERY: u64 = 16;

/// A command that may have grown memory ran: the next check reads the
/// allocator instead of the cache (so the command after a big write
/// evicts, as in Redis).
static STALE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn memory_grew() {
    STALE.store(true, Ordering::Relaxed);
}

fn used_memory(force: bool) -> u64 {
    let stale = STALE.load(Ordering::Relaxed) && STALE.swap(false, Ordering::Relaxed);
    if force
        || stale
        || CALLS
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(REFRESH_EVERY)
    {
        let u = crate::memory::used_memory();
        USED_CACHE.store(u, Ordering::Relaxed);
        return u;
    }
    USED_CACHE.load(Ordering::Relaxed)
}

/// Make room for a `denyoom` command. Err(()) means refuse it with OOM.
pub fn make_room(srv: &Server, maxmemory: u64, policy: &str, samples: usize) -> Result<(), ()> {
    if used_memory(false) <= maxmemory {
        return Ok(());
    }
    if used_memory(true) <= maxmemory {
        return Ok(());
    }
    if policy == "noeviction" {
        return Err(());
    }
    let mut rng = rand::thread_rng();
    // The whole eviction run is one "eviction-cycle" latency event.
    let started = std::time::Instant::now();
    let cycle = |r| {
        srv.latency_sample("eviction-cycle", started.elapsed().as_millis() as u64);
        r
    };
    for round in 0.. {
        if !evict_one(srv, policy, samples, &mut rng) {
            return cycle(Err(()));
        }
        srv.stats.evicted_keys.fetch_add(1, Ordering::Relaxed);
        if round % 8 == 7 && used_memory(true) <= maxmemory {
            return cycle(Ok(()));
        }
        if round > 100_000 {
            return cycle(Err(()));
        }
    }
    cycle(Ok(()))
}

/// Evict one key chosen by `policy`; false if there is nothing to evict.
fn evict_one(srv: &Server, policy: &str, samples: usize, rng: &mut impl Rng) -> bool {
    let volatile = policy.starts_with("volatile");
    let ks = &srv.keyspace;
    // (db, key, score): the highest score is evicted.
    let mut best: Option<(usize, Vec<u8>, f64)> = None;
    let random = policy.ends_with("random");
    let picks = if random { 1 } else { samples.max(1) };
    let dbs: Vec<usize> = (0..ks.db_count())
        .filter(|&d| {
            if volatile {
                ks.db(d).volatile_len() > 0
            } else {
                !ks.db(d).is_empty()
            }
        })
        .collect();
    if dbs.is_empty() {
        return false;
    }
    let now = crate::util::now_ms();
    for _ in 0..picks {
        let db = dbs[rng.gen_range(0..dbs.len())];
        let Some((key, e_score)) = sample(ks.db(db), volatile, rng, |e| score(policy, e, now))
        else {
            continue;
        };
        if best.as_ref().is_none_or(|b| e_score > b.2) {
            best = Some((db, key, e_score));
        }
    }
    let Some((db, key, _)) = best else {
        return false;
    };
    crate::snapshot::before_slot_change(srv, db, shoal_cluster::key_hash_slot(&key));
    let del_started = std::time::Instant::now();
    let removed = ks.db(db).lock_key(&key).remove(&key).map(|e| {
        crate::lazyfree::free_value(
            e.value,
            crate::lazyfree::lazy(&crate::lazyfree::LAZY_EVICTION),
        )
    });
    let removed = removed.is_some();
    srv.latency_sample("eviction-del", del_started.elapsed().as_millis() as u64);
    if removed {
        crate::propagate::command(
            db,
            vec![
                bytes::Bytes::from_static(b"DEL"),
                bytes::Bytes::copy_from_slice(&key),
            ],
        );
        srv.watches.touch(db, &key);
        srv.tracking.removed(srv, &key);
        crate::notify::notify_db(
            srv,
            crate::notify::flags(),
            db,
            crate::notify::NOTIFY_EVICTED,
            "evicted",
            &key,
        );
    }
    removed
}

/// Higher = better eviction candidate.
fn score(policy: &str, e: &Entry, now_ms: u64) -> f64 {
    if policy.ends_with("lru") {
        crate::keyspace::lru_clock().wrapping_sub(e.lru_s) as f64
    } else if policy.ends_with("lfu") {
        255.0 - lfu_decayed(e.lru_s) as f64
    } else if policy.ends_with("ttl") {
        -(e.expire_at_ms.saturating_sub(now_ms) as f64)
    } else {
        0.0
    }
}

/// A random key (with an expiry if `volatile`) of a database, and its score.
fn sample(
    db: &crate::keyspace::Db,
    volatile: bool,
    rng: &mut impl Rng,
    score: impl Fn(&Entry) -> f64,
) -> Option<(Vec<u8>, f64)> {
    for _ in 0..64 {
        let slot = rng.gen_range(0..SLOT_COUNT) as u16;
        let Some(g) = db.lock_existing_slot(slot) else {
            continue;
        };
        let n = if volatile { g.volatile() } else { g.len() };
        if n == 0 {
            continue;
        }
        let i = rng.gen_range(0..n);
        let found = if volatile {
            g.iter().filter(|(_, e)| e.expire_at_ms != 0).nth(i)
        } else {
            g.iter().nth(i)
        };
        let found = found.map(|(k, e)| (k.to_vec(), score(e)));
        if found.is_some() {
            return found;
        }
    }
    // Sparse database: look through every slot.
    for slot in 0..SLOT_COUNT as u16 {
        let Some(g) = db.lock_existing_slot(slot) else {
            continue;
        };
        let found = g
            .iter()
            .find(|(_, e)| !volatile || e.expire_at_ms != 0)
            .map(|(k, e)| (k.to_vec(), score(e)));
        if found.is_some() {
            return found;
        }
    }
    None
}
