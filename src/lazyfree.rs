//! Lazy freeing, as Redis's lazyfree.c: big values deleted by UNLINK (or by
//! DEL, expiry, eviction, overwrites and flushes under the lazyfree-lazy-*
//! directives) are dropped on a background thread so the command does not
//! pay for freeing millions of allocations. INFO reports the values queued
//! (lazyfree_pending_objects) and freed so far (lazyfreed_objects).

use crate::keyspace::Value;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Mutex, OnceLock};

/// Values whose free effort is above this go to the background (Redis's
/// LAZYFREE_THRESHOLD).
pub const THRESHOLD: usize = 64;

static PENDING: AtomicU64 = AtomicU64::new(0);
static FREED: AtomicU64 = AtomicU64::new(0);

/// The lazyfree-lazy-* directives, refreshed on every config change.
pub static LAZY_EVICTION: AtomicBool = AtomicBool::new(false);
pub static LAZY_EXPIRE: AtomicBool = AtomicBool::new(false);
pub static LAZY_SERVER_DEL: AtomicBool = AtomicBool::new(false);
pub static LAZY_USER_DEL: AtomicBool = AtomicBool::new(false);
pub static LAZY_USER_FLUSH: AtomicBool = AtomicBool::new(false);

/// Something to drop, and how many objects it counts for.
struct Job {
    payload: Box<dyn Send>,
    objects: u64,
}

fn queue() -> &'static Mutex<Sender<Job>> {
    static TX: OnceLock<Mutex<Sender<Job>>> = OnceLock::new();
    TX.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        std::thread::Builder::new()
            .name("lazyfree".into())
            .spawn(move || {
                for job in rx {
                    drop(job.payload);
                    PENDING.fetch_sub(job.objects, Ordering::Relaxed);
                    FREED.fetch_add(job.objects, Ordering::Relaxed);
                }
            })
            .expect("spawn the lazyfree thread");
        Mutex::new(tx)
    })
}

fn submit(payload: Box<dyn Send>, objects: u64) {
    PENDING.fetch_add(objects, Ordering::Relaxed);
    let job = Job { payload, objects };
    if let Err(e) = queue().lock().unwrap_or_else(|p| p.into_inner()).send(job) {
        // The thread is gone (it never exits): free here rather than leak.
        let job = e.0;
        drop(job.payload);
        PENDING.fetch_sub(job.objects, Ordering::Relaxed);
    }
}

/// Redis's lazyfreeGetFreeEffort: roughly the number of allocations
/// freeing the value costs; compact encodings are one.
pub fn free_effort(v: &Value) -> usize {
    match v {
        Value::Str(_) => 1,
        Value::List(l) => l.len(),
        Value::Hash(h) => h.free_effort(),
        Value::Set(s) => s.free_effort(),
        Value::ZSet(z) => z.free_effort(),
        Value::Stream(s) => s.free_effort(),
    }
}

/// Free a deleted value: in the background when `lazy` and it is big
/// enough to be worth it (dbAsyncDelete), otherwise right here.
pub fn free_value(v: Value, lazy: bool) {
    if lazy && free_effort(&v) > THRESHOLD {
        submit(Box::new(v), 1);
    } else {
        drop(v);
    }
}

/// Free the contents of flushed databases (emptyDbAsync): `keys` objects.
pub fn free_flushed(tables: Box<dyn Send>, keys: u64) {
    if keys == 0 {
        return;
    }
    submit(tables, keys);
}

pub fn pending() -> u64 {
    PENDING.load(Ordering::Relaxed)
}

pub fn freed() -> u64 {
    FREED.load(Ordering::Relaxed)
}

/// CONFIG RESETSTAT.
pub fn reset_stats() {
    FREED.store(0, Ordering::Relaxed);
}

/// Refresh the lazyfree-lazy-* switches from the configuration.
pub fn configure(cfg: &crate::config::Config) {
    for (flag, name) in [
        (&LAZY_EVICTION, "lazyfree-lazy-eviction"),
        (&LAZY_EXPIRE, "lazyfree-lazy-expire"),
        (&LAZY_SERVER_DEL, "lazyfree-lazy-server-del"),
        (&LAZY_USER_DEL, "lazyfree-lazy-user-del"),
        (&LAZY_USER_FLUSH, "lazyfree-lazy-user-flush"),
    ] {
        flag.store(cfg.get_bool(name), Ordering::Relaxed);
    }
}

pub fn lazy(flag: &AtomicBool) -> bool {
    flag.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::StrVal;
    use std::time::{Duration, Instant};

    #[test]
    fn big_values_are_freed_in_the_background_and_counted() {
        let before = freed();
        let mut set = crate::types::set::SetValue::default();
        for i in 0..1000 {
            set.add(format!("m{i}").as_bytes(), 512);
        }
        let big = Value::Set(Box::new(set));
        assert!(free_effort(&big) > THRESHOLD);
        free_value(big, true);
        // Small values and non-lazy deletes are freed in place.
        free_value(Value::Str(StrVal::from_bytes(b"x")), true);
        let deadline = Instant::now() + Duration::from_secs(5);
        while freed() < before + 1 {
            assert!(
                Instant::now() < deadline,
                "the lazyfree thread freed nothing"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
