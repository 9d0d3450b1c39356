//! INFO: Redis 7.0's sections and field names, filled with Shoal's values.
//! Sections whose feature has not landed yet (replication, persistence,
//! cluster) report the values a Redis without that activity reports.

use super::Ctx;
use crate::memory;
use crate::protocol::Out;
use std::fmt::Write;
use std::sync::atomic::Ordering;

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "module_list",
    "errorstats",
    "cluster",
    "keyspace",
];

pub fn info(ctx: &mut Ctx, out: &mut Out) {
    let mut wanted: Vec<String> = ctx.argv[1..]
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    if wanted.is_empty() {
        wanted.push("default".into());
    }
    let mut sections: Vec<&str> = Vec::new();
    let add = |s: &'static str, sections: &mut Vec<&str>| {
        if !sections.contains(&s) {
            sections.push(s);
        }
    };
    const ALL: &[&str] = &[
        "server",
        "clients",
        "memory",
        "persistence",
        "stats",
        "replication",
        "cpu",
        "modules",
        "commandstats",
        "errorstats",
        "latencystats",
        "cluster",
        "keyspace",
    ];
    for w in &wanted {
        match w.as_str() {
            "default" => DEFAULT_SECTIONS.iter().for_each(|s| add(s, &mut sections)),
            "all" => ALL
                .iter()
                .filter(|s| **s != "modules")
                .for_each(|s| add(s, &mut sections)),
            "everything" => ALL.iter().for_each(|s| add(s, &mut sections)),
            other => {
                if let Some(s) = ALL
                    .iter()
                    .chain(["module_list", "latencystats"].iter())
                    .find(|s| **s == other)
                {
                    add(s, &mut sections)
                }
            }
        }
    }
    let mut text = String::new();
    for s in sections {
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        render_section(ctx, s, &mut text);
    }
    out.verbatim(text.as_bytes())
}

fn render_section(ctx: &Ctx, section: &str, t: &mut String) {
    let srv = ctx.srv;
    let hot = srv.hot();
    let cfg = srv.config.read();
    macro_rules! f {
        ($($arg:tt)*) => {{ let _ = write!(t, $($arg)*); t.push_str("\r\n"); }};
    }
    match section {
        "server" => {
            f!("# Server");
            f!("redis_version:{}", crate::REDIS_VERSION);
            f!("redis_git_sha1:00000000");
            f!("redis_git_dirty:0");
            f!("redis_build_id:shoal-{}", crate::SHOAL_VERSION);
            f!(
                "redis_mode:{}",
                if hot.cluster_enabled {
                    "cluster"
                } else {
                    "standalone"
                }
            );
            f!("os:{}", os_string());
            f!("arch_bits:64");
            f!("monotonic_clock:POSIX clock_gettime");
            f!("multiplexing_api:epoll");
            f!("atomicvar_api:c11-builtin");
            f!("gcc_version:0.0.0");
            f!("process_id:{}", std::process::id());
            f!("process_supervised:no");
            f!("run_id:{}", srv.run_id);
            f!("tcp_port:{}", srv.listen_port.load(Ordering::Relaxed));
            f!("server_time_usec:{}", crate::util::now_us());
            f!("uptime_in_seconds:{}", srv.uptime_s());
            f!("uptime_in_days:{}", srv.uptime_s() / 86400);
            f!("hz:{}", hot.hz);
            f!("configured_hz:{}", hot.hz);
            f!("lru_clock:{}", crate::keyspace::lru_clock());
            f!("executable:{}", srv.executable);
            f!(
                "config_file:{}",
                cfg.file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
            f!("io_threads_active:0");
        }
        "clients" => {
            f!("# Clients");
            f!("connected_clients:{}", srv.clients.len());
            f!("cluster_connections:0");
            f!("maxclients:{}", hot.maxclients);
            f!("client_recent_max_input_buffer:0");
            f!("client_recent_max_output_buffer:0");
            f!(
                "blocked_clients:{}",
                srv.blocking.blocked_clients() + srv.pause.postponed()
            );
            f!("tracking_clients:{}", srv.tracking.clients());
            f!("clients_in_timeout_table:0");
        }
        "memory" => {
            let m = memory::stats();
            let maxmemory = cfg.get_i64("maxmemory") as u64;
            f!("# Memory");
            f!("used_memory:{}", m.allocated);
            f!("used_memory_human:{}", human_bytes(m.allocated));
            f!("used_memory_rss:{}", m.rss);
            f!("used_memory_rss_human:{}", human_bytes(m.rss));
            f!("used_memory_peak:{}", m.peak);
            f!("used_memory_peak_human:{}", human_bytes(m.peak));
            f!(
                "used_memory_peak_perc:{:.2}%",
                m.allocated as f64 * 100.0 / m.peak.max(1) as f64
            );
            f!("used_memory_overhead:{}", m.startup);
            f!("used_memory_startup:{}", m.startup);
            f!(
                "used_memory_dataset:{}",
                m.allocated.saturating_sub(m.startup)
            );
            f!(
                "used_memory_dataset_perc:{:.2}%",
                m.allocated.saturating_sub(m.startup) as f64 * 100.0 / m.allocated.max(1) as f64
            );
            f!("allocator_allocated:{}", m.allocated);
            f!("allocator_active:{}", m.active);
            f!("allocator_resident:{}", m.resident);
            f!("total_system_memory:{}", memory::total_system_memory());
            f!(
                "total_system_memory_human:{}",
                human_bytes(memory::total_system_memory())
            );
            let sc = &srv.scripting;
            let vm = sc.vm_bytes.load(std::sync::atomic::Ordering::Relaxed);
            let scripts_eval = sc.cache_bytes.load(std::sync::atomic::Ordering::Relaxed);
            let libs = sc.functions.snapshot();
            let functions_bytes: u64 = libs.iter().map(|l| l.code.len() as u64).sum();
            f!("used_memory_lua:{vm}");
            f!("used_memory_vm_eval:{vm}");
            f!("used_memory_lua_human:{}", human_bytes(vm));
            f!("used_memory_scripts_eval:{scripts_eval}");
            f!("number_of_cached_scripts:{}", sc.len());
            f!(
                "number_of_functions:{}",
                libs.iter().map(|l| l.functions.len()).sum::<usize>()
            );
            f!("number_of_libraries:{}", libs.len());
            f!("used_memory_vm_functions:0");
            f!("used_memory_vm_total:{vm}");
            f!("used_memory_vm_total_human:{}", human_bytes(vm));
            f!("used_memory_functions:{functions_bytes}");
            f!("used_memory_scripts:{}", scripts_eval + functions_bytes);
            f!(
                "used_memory_scripts_human:{}",
                human_bytes(scripts_eval + functions_bytes)
            );
            f!("maxmemory:{}", maxmemory);
            f!("maxmemory_human:{}", human_bytes(maxmemory));
            f!("maxmemory_policy:{}", cfg.get("maxmemory-policy"));
            f!(
                "allocator_frag_ratio:{:.2}",
                m.active as f64 / m.allocated.max(1) as f64
            );
            f!(
                "allocator_frag_bytes:{}",
                m.active.saturating_sub(m.allocated)
            );
            f!(
                "allocator_rss_ratio:{:.2}",
                m.resident as f64 / m.active.max(1) as f64
            );
            f!(
                "allocator_rss_bytes:{}",
                m.resident.saturating_sub(m.active)
            );
            f!(
                "rss_overhead_ratio:{:.2}",
                m.rss as f64 / m.resident.max(1) as f64
            );
            f!("rss_overhead_bytes:{}", m.rss as i64 - m.resident as i64);
            f!(
                "mem_fragmentation_ratio:{:.2}",
                m.rss as f64 / m.allocated.max(1) as f64
            );
            f!(
                "mem_fragmentation_bytes:{}",
                m.rss as i64 - m.allocated as i64
            );
            f!("mem_not_counted_for_evict:0");
            f!("mem_replication_backlog:0");
            f!("mem_total_replication_buffers:0");
            f!("mem_clients_slaves:0");
            f!("mem_clients_normal:0");
            f!("mem_cluster_links:0");
            f!("mem_aof_buffer:0");
            f!("mem_allocator:{}", memory::ALLOCATOR_NAME);
            f!("active_defrag_running:0");
            f!("lazyfree_pending_objects:{}", crate::lazyfree::pending());
            f!("lazyfreed_objects:{}", crate::lazyfree::freed());
        }
        "persistence" => {
            f!("# Persistence");
            let p = &srv.persist;
            f!("loading:{}", p.loading.load(Ordering::Relaxed) as u8);
            f!("async_loading:0");
            f!("current_cow_peak:0");
            f!("current_cow_size:0");
            f!("current_cow_size_age:0");
            f!("current_fork_perc:0.00");
            f!("current_save_keys_processed:0");
            f!("current_save_keys_total:0");
            f!(
                "rdb_changes_since_last_save:{}",
                srv.stats
                    .dirty
                    .load(Ordering::Relaxed)
                    .saturating_sub(p.dirty_at_save.load(Ordering::Relaxed))
            );
            let bgsave = p.bgsave_in_progress.load(Ordering::Relaxed);
            f!("rdb_bgsave_in_progress:{}", bgsave as u8);
            f!(
                "rdb_last_save_time:{}",
                srv.last_save_s.load(Ordering::Relaxed)
            );
            f!(
                "rdb_last_bgsave_status:{}",
                if p.last_bgsave_ok.load(Ordering::Relaxed) {
                    "ok"
                } else {
                    "err"
                }
            );
            f!(
                "rdb_last_bgsave_time_sec:{}",
                p.last_bgsave_time_s.load(Ordering::Relaxed)
            );
            f!(
                "rdb_current_bgsave_time_sec:{}",
                if bgsave {
                    (crate::util::now_ms()
                        .saturating_sub(p.bgsave_started_ms.load(Ordering::Relaxed))
                        / 1000) as i64
                } else {
                    -1
                }
            );
            f!("rdb_saves:{}", p.rdb_saves.load(Ordering::Relaxed));
            f!("rdb_last_cow_size:0");
            f!(
                "rdb_last_load_keys_expired:{}",
                p.last_load_keys_expired.load(Ordering::Relaxed)
            );
            f!(
                "rdb_last_load_keys_loaded:{}",
                p.last_load_keys_loaded.load(Ordering::Relaxed)
            );
            f!("aof_enabled:{}", cfg.get_bool("appendonly") as u8);
            let a = &srv.aof;
            let rewriting = a.rewrite_in_progress.load(Ordering::Relaxed);
            f!("aof_rewrite_in_progress:{}", rewriting as u8);
            f!(
                "aof_rewrite_scheduled:{}",
                a.rewrite_scheduled.load(Ordering::Relaxed) as u8
            );
            f!(
                "aof_last_rewrite_time_sec:{}",
                a.last_rewrite_time_s.load(Ordering::Relaxed)
            );
            f!(
                "aof_current_rewrite_time_sec:{}",
                if rewriting {
                    (crate::util::now_ms()
                        .saturating_sub(a.rewrite_started_ms.load(Ordering::Relaxed))
                        / 1000) as i64
                } else {
                    -1
                }
            );
            f!(
                "aof_last_bgrewrite_status:{}",
                if a.last_rewrite_ok.load(Ordering::Relaxed) {
                    "ok"
                } else {
                    "err"
                }
            );
            f!("aof_rewrites:{}", a.rewrites.load(Ordering::Relaxed));
            f!("aof_rewrites_consecutive_failures:0");
            f!(
                "aof_last_write_status:{}",
                if a.has_write_error.load(Ordering::Relaxed) {
                    "err"
                } else {
                    "ok"
                }
            );
            f!("aof_last_cow_size:0");
            f!("module_fork_in_progress:0");
            f!("module_fork_last_cow_size:0");
            if let Some((current, base, pending, delayed)) = crate::persist::aof::info_sizes(srv) {
                f!("aof_current_size:{current}");
                f!("aof_base_size:{base}");
                f!("aof_pending_rewrite:0");
                f!("aof_buffer_length:{pending}");
                f!("aof_pending_bio_fsync:0");
                f!("aof_delayed_fsync:{delayed}");
            }
        }
        "stats" => {
            let s = &srv.stats;
            let l = |a: &crate::stats::Counter| a.load(Ordering::Relaxed);
            f!("# Stats");
            f!(
                "total_connections_received:{}",
                l(&s.total_connections_received)
            );
            f!(
                "total_commands_processed:{}",
                l(&s.total_commands_processed)
            );
            f!("instantaneous_ops_per_sec:{}", s.instantaneous_ops());
            f!("total_net_input_bytes:{}", l(&s.total_net_input_bytes));
            f!("total_net_output_bytes:{}", l(&s.total_net_output_bytes));
            f!("total_net_repl_input_bytes:0");
            f!("total_net_repl_output_bytes:0");
            f!("instantaneous_input_kbps:0.00");
            f!("instantaneous_output_kbps:0.00");
            f!("instantaneous_input_repl_kbps:0.00");
            f!("instantaneous_output_repl_kbps:0.00");
            f!("rejected_connections:{}", l(&s.rejected_connections));
            f!("sync_full:{}", srv.repl.sync_full.load(Ordering::Relaxed));
            f!(
                "sync_partial_ok:{}",
                srv.repl.sync_partial_ok.load(Ordering::Relaxed)
            );
            f!(
                "sync_partial_err:{}",
                srv.repl.sync_partial_err.load(Ordering::Relaxed)
            );
            f!(
                "expired_keys:{}",
                crate::keyspace::EXPIRED_KEYS.load(Ordering::Relaxed)
            );
            f!("expired_stale_perc:0.00");
            f!("expired_time_cap_reached_count:0");
            f!("expire_cycle_cpu_milliseconds:0");
            f!("evicted_keys:{}", l(&s.evicted_keys));
            f!("evicted_clients:0");
            f!("total_eviction_exceeded_time:0");
            f!("current_eviction_exceeded_time:0");
            f!("keyspace_hits:{}", l(&s.keyspace_hits));
            f!("keyspace_misses:{}", l(&s.keyspace_misses));
            f!("pubsub_channels:0");
            f!("pubsub_patterns:0");
            f!("pubsubshard_channels:0");
            f!("latest_fork_usec:0");
            f!("total_forks:0");
            f!("migrate_cached_sockets:0");
            f!("slave_expires_tracked_keys:0");
            f!("active_defrag_hits:0");
            f!("active_defrag_misses:0");
            f!("active_defrag_key_hits:0");
            f!("active_defrag_key_misses:0");
            f!("total_active_defrag_time:0");
            f!("current_active_defrag_time:0");
            let (keys, items, prefixes) = srv.tracking.totals();
            f!("tracking_total_keys:{keys}");
            f!("tracking_total_items:{items}");
            f!("tracking_total_prefixes:{prefixes}");
            f!(
                "unexpected_error_replies:{}",
                l(&s.unexpected_error_replies)
            );
            f!("total_error_replies:{}", l(&s.total_error_replies));
            f!("dump_payload_sanitizations:0");
            f!("total_reads_processed:{}", l(&s.total_commands_processed));
            f!("total_writes_processed:{}", l(&s.total_commands_processed));
            f!("io_threaded_reads_processed:0");
            f!("io_threaded_writes_processed:0");
            f!("reply_buffer_shrinks:0");
            f!("reply_buffer_expands:0");
        }
        "replication" => {
            drop(cfg);
            crate::replication::commands::info(srv, t);
            return;
        }
        "cpu" => {
            let (sys, user) = memory::cpu_times();
            f!("# CPU");
            f!("used_cpu_sys:{:.6}", sys);
            f!("used_cpu_user:{:.6}", user);
            f!("used_cpu_sys_children:0.000000");
            f!("used_cpu_user_children:0.000000");
            f!("used_cpu_sys_main_thread:{:.6}", sys);
            f!("used_cpu_user_main_thread:{:.6}", user);
        }
        "modules" | "module_list" => {
            f!("# Modules");
        }
        "commandstats" => {
            f!("# Commandstats");
            for c in super::all_with_subcommands() {
                let calls = c.stats.calls();
                let rejected = c.stats.rejected_calls();
                let failed = c.stats.failed_calls();
                if calls == 0 && rejected == 0 && failed == 0 {
                    continue;
                }
                let usec = c.stats.usec();
                f!(
                    "cmdstat_{}:calls={},usec={},usec_per_call={:.2},rejected_calls={},failed_calls={}",
                    c.name,
                    calls,
                    usec,
                    if calls > 0 { usec as f64 / calls as f64 } else { 0.0 },
                    rejected,
                    failed
                );
            }
        }
        "latencystats" => {
            f!("# Latencystats");
            if cfg.get_bool("latency-tracking") {
                let percentiles: Vec<f64> = cfg
                    .get("latency-tracking-info-percentiles")
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect();
                for c in super::all_with_subcommands() {
                    if c.stats.calls() == 0 || percentiles.is_empty() {
                        continue;
                    }
                    let parts: Vec<String> = percentiles
                        .iter()
                        .map(|p| {
                            format!(
                                "p{}={:.3}",
                                crate::protocol::reply::format_g17(*p),
                                c.stats.percentile(*p).unwrap_or(0) as f64
                            )
                        })
                        .collect();
                    f!("latency_percentiles_usec_{}:{}", c.name, parts.join(","));
                }
            }
        }
        "errorstats" => {
            f!("# Errorstats");
            for (code, n) in srv.stats.errorstats.lock().iter() {
                f!("errorstat_{}:count={}", code, n);
            }
        }
        "cluster" => {
            f!("# Cluster");
            f!("cluster_enabled:{}", hot.cluster_enabled as u8);
        }
        "keyspace" => {
            f!("# Keyspace");
            for (i, db) in srv.keyspace.dbs() {
                if db.is_empty() {
                    continue;
                }
                f!(
                    "db{}:keys={},expires={},avg_ttl=0",
                    i,
                    db.len(),
                    db.volatile_len()
                );
            }
        }
        _ => {}
    }
}

fn os_string() -> String {
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uname fills the struct it is given; on failure we fall back.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return "Linux".into();
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    format!(
        "{} {} {}",
        field(&uts.sysname),
        field(&uts.release),
        field(&uts.machine)
    )
}

/// Redis's `bytesToHuman`: B, K, M, G, T, P with two decimals.
pub fn human_bytes(n: u64) -> String {
    let d = n as f64;
    const UNITS: [(&str, f64); 5] = [
        ("K", 1024.0),
        ("M", 1048576.0),
        ("G", 1073741824.0),
        ("T", 1099511627776.0),
        ("P", 1125899906842624.0),
    ];
    if d < 1024.0 {
        return format!("{n}B");
    }
    for (i, (u, size)) in UNITS.iter().enumerate() {
        if i + 1 == UNITS.len() || d < UNITS[i + 1].1 {
            return format!("{:.2}{}", d / size, u);
        }
    }
    format!("{n}B")
}

#[cfg(test)]
mod tests {
    #[test]
    fn human() {
        assert_eq!(super::human_bytes(0), "0B");
        assert_eq!(super::human_bytes(990440), "967.23K");
        assert_eq!(super::human_bytes(7340032), "7.00M");
        assert_eq!(super::human_bytes(25276502016), "23.54G");
    }
}
