//! Memory and CPU accounting for INFO, MEMORY and (later) maxmemory.
//!
//! Shoal allocates with jemalloc, as Redis does, and reads `used_memory`
//! from its statistics; RSS comes from /proc.

use std::sync::atomic::{AtomicU64, Ordering};

pub const ALLOCATOR_NAME: &str = "jemalloc-5.3.0";

static PEAK: AtomicU64 = AtomicU64::new(0);
static STARTUP: AtomicU64 = AtomicU64::new(0);

pub struct MemStats {
    pub allocated: u64,
    pub active: u64,
    pub resident: u64,
    pub rss: u64,
    pub peak: u64,
    pub startup: u64,
}

/// Bytes the allocator has handed out (Redis's `used_memory`).
pub fn used_memory() -> u64 {
    let _ = tikv_jemalloc_ctl::epoch::advance();
    tikv_jemalloc_ctl::stats::allocated::read().unwrap_or(0) as u64
}

pub fn stats() -> MemStats {
    let _ = tikv_jemalloc_ctl::epoch::advance();
    let allocated = tikv_jemalloc_ctl::stats::allocated::read().unwrap_or(0) as u64;
    let active = tikv_jemalloc_ctl::stats::active::read().unwrap_or(0) as u64;
    let resident = tikv_jemalloc_ctl::stats::resident::read().unwrap_or(0) as u64;
    let peak = PEAK.fetch_max(allocated, Ordering::Relaxed).max(allocated);
    MemStats {
        allocated,
        active,
        resident,
        rss: rss_bytes(),
        peak,
        startup: STARTUP.load(Ordering::Relaxed),
    }
}

/// Record the memory in use once the server is ready (used_memory_startup).
pub fn mark_startup() {
    STARTUP.store(used_memory(), Ordering::Relaxed);
}

/// Track the peak; called from the cron.
pub fn update_peak() {
    PEAK.fetch_max(used_memory(), Ordering::Relaxed);
}

pub fn reset_peak() {
    PEAK.store(used_memory(), Ordering::Relaxed);
}

/// Resident set size from /proc/self/statm.
pub fn rss_bytes() -> u64 {
    let text = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    pages * page
}

pub fn total_system_memory() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) }.max(0) as u64;
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(0) as u64;
    pages * page
}

/// (system, user) CPU seconds used by the process.
pub fn cpu_times() -> (f64, f64) {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct it is given.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return (0.0, 0.0);
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_stime), t(ru.ru_utime))
}
