//! The periodic background work Redis does in `serverCron`: active expiry
//! (so expired keys are reclaimed without being accessed), client idle
//! timeouts. Runs `hz` times per second.

use crate::server::Server;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Volatile keys examined per database per cycle before yielding.
const EXPIRE_CHECKS_PER_CYCLE: usize = 2000;
/// Keep expiring in this cycle while more than this share of checked keys were expired.
const EXPIRE_REPEAT_PERCENT: usize = 10;
const EXPIRE_ROUNDS_MAX: usize = 16;

pub async fn run(srv: Arc<Server>) {
    let mut last_second = std::time::Instant::now();
    loop {
        let hz = srv.hot().hz;
        tokio::time::sleep(Duration::from_millis(1000 / hz.max(1))).await;
        crate::keyspace::refresh_lru_clock();
        if srv.cron_paused.load(Ordering::Relaxed) {
            continue;
        }
        // Also while idle: a CONFIG SET of tracking-table-max-keys takes
        // effect without another command.
        if srv.tracking.clients() > 0 {
            srv.tracking.limit(&srv, srv.hot().tracking_table_max_keys);
        }
        if last_second.elapsed() >= Duration::from_secs(1) {
            last_second = std::time::Instant::now();
            crate::replication::cron(&srv);
        }
        if srv.active_expire_enabled.load(Ordering::Relaxed) {
            active_expire(&srv);
        }
        close_idle_clients(&srv);
        srv.pause.expire_if_due();
        crate::persist::cron(&srv);
        srv.stats.sample_ops(crate::util::now_ms());
        crate::memory::update_peak();
    }
}

fn active_expire(srv: &Server) {
    let ks = &srv.keyspace;
    // Skip the cycle while a script or another exclusive holder runs
    // (waiting would stall every client of this thread).
    let Some(_gate) = ks.gate.try_read() else {
        return;
    };
    // A snapshot in progress sees expired keys as they were; they are
    // reclaimed once it ends.
    if crate::snapshot::active() {
        return;
    }
    // The whole cycle is one "expire-cycle" latency event, as in Redis.
    let started = std::time::Instant::now();
    for db in 0..ks.db_count() {
        for _ in 0..EXPIRE_ROUNDS_MAX {
            let hold = crate::propagate::hold(srv);
            let (checked, expired) =
                ks.active_expire_db(db, crate::util::now_ms(), EXPIRE_CHECKS_PER_CYCLE);
            drop(hold);
            if expired > 0 {
                crate::notify::flush(srv, crate::notify::flags());
                srv.tracking.flush(srv);
            }
            if checked == 0 || expired * 100 / checked < EXPIRE_REPEAT_PERCENT {
                break;
            }
        }
    }
    srv.latency_sample("expire-cycle", started.elapsed().as_millis() as u64);
}

fn close_idle_clients(srv: &Server) {
    let timeout_s = srv.hot().timeout_s;
    if timeout_s == 0 {
        return;
    }
    let now = crate::util::now_ms();
    for c in srv.clients.snapshot() {
        let idle_ms = now.saturating_sub(c.last_interaction_ms.load(Ordering::Relaxed));
        if idle_ms > timeout_s * 1000 {
            crate::verbose!("Closing idle client");
            c.kill();
        }
    }
}
