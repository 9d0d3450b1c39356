//! Persistence through real processes: crash safety of the AOF under
//! SIGKILL (appendfsync always loses no acknowledged write, everysec at
//! most about a second), AOF directories and RDB files exchanged with
//! Redis 7.0.15 in both directions, truncated and corrupted AOFs, DEBUG
//! RELOAD / BGSAVE / restart from dump.rdb, and MISCONF on a failing disk.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const REDIS_SERVER: &str = "/usr/bin/redis-server";

fn sync_con(port: u16) -> redis::Connection {
    let c = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let con = c
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap();
    con.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    con
}

/// Wait until the server answers commands (not LOADING) with a deadline.
fn wait_loaded(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut con = sync_con(port);
        let r: redis::RedisResult<i64> = redis::cmd("DBSIZE").query(&mut con);
        match r {
            Ok(_) => return,
            Err(e) => {
                assert!(Instant::now() < deadline, "still not loaded: {e}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Every data type in small and large encodings, with expiries, in two
/// databases.
fn populate(port: u16) {
    let mut con = sync_con(port);
    let mut pipe = redis::pipe();
    pipe.cmd("SET").arg("s:int").arg("12345");
    pipe.cmd("SET").arg("s:short").arg("hello");
    pipe.cmd("SET").arg("s:long").arg("x".repeat(5000));
    pipe.cmd("SET").arg("s:bin").arg(vec![0u8, 255, 13, 10, 7]);
    pipe.cmd("SET").arg("s:ttl").arg("v").arg("EX").arg(1000);
    for i in 0..5 {
        pipe.cmd("RPUSH").arg("l:small").arg(format!("e{i}"));
        pipe.cmd("HSET").arg("h:small").arg(format!("f{i}")).arg(i);
        pipe.cmd("SADD").arg("set:ints").arg(i * 7);
        pipe.cmd("SADD").arg("set:strs").arg(format!("m{i}"));
        pipe.cmd("ZADD")
            .arg("z:small")
            .arg(i as f64 * 1.5)
            .arg(format!("z{i}"));
    }
    for i in 0..1000 {
        pipe.cmd("RPUSH")
            .arg("l:big")
            .arg(format!("element-{i}-{}", "y".repeat(i % 70)));
    }
    for i in 0..300 {
        pipe.cmd("HSET")
            .arg("h:big")
            .arg(format!("field{i}"))
            .arg("v".repeat(i % 100));
        pipe.cmd("SADD").arg("set:big").arg(format!("member{i}"));
        pipe.cmd("ZADD")
            .arg("z:big")
            .arg(-(i as f64) / 3.0)
            .arg(format!("zm{i}"));
    }
    for i in 0..600 {
        pipe.cmd("SADD").arg("set:manyints").arg(i * 3);
    }
    pipe.cmd("PEXPIRE").arg("h:big").arg(900_000);
    pipe.cmd("SELECT").arg(3);
    pipe.cmd("SET").arg("db3:key").arg("in db 3");
    pipe.cmd("ZADD")
        .arg("db3:z")
        .arg("inf")
        .arg("top")
        .arg("-inf")
        .arg("bottom");
    pipe.cmd("SELECT").arg(0);
    pipe.query::<()>(&mut con).unwrap();
}

/// The dataset as text: every key of every database with its type, value
/// and whether it has a TTL.
fn fingerprint(port: u16) -> BTreeMap<String, String> {
    let mut con = sync_con(port);
    let mut out = BTreeMap::new();
    for db in 0..16 {
        redis::cmd("SELECT").arg(db).query::<()>(&mut con).unwrap();
        let keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query(&mut con).unwrap();
        for k in keys {
            let t: String = redis::cmd("TYPE").arg(&k).query(&mut con).unwrap();
            let v = match t.as_str() {
                "string" => format!(
                    "{:?}",
                    redis::cmd("GET")
                        .arg(&k)
                        .query::<Vec<u8>>(&mut con)
                        .unwrap()
                ),
                "list" => format!(
                    "{:?}",
                    redis::cmd("LRANGE")
                        .arg(&k)
                        .arg(0)
                        .arg(-1)
                        .query::<Vec<Vec<u8>>>(&mut con)
                        .unwrap()
                ),
                "set" => {
                    let mut m: Vec<Vec<u8>> =
                        redis::cmd("SMEMBERS").arg(&k).query(&mut con).unwrap();
                    m.sort();
                    format!("{m:?}")
                }
                "hash" => {
                    let mut m: Vec<(Vec<u8>, Vec<u8>)> =
                        redis::cmd("HGETALL").arg(&k).query(&mut con).unwrap();
                    m.sort();
                    format!("{m:?}")
                }
                "zset" => format!(
                    "{:?}",
                    redis::cmd("ZRANGE")
                        .arg(&k)
                        .arg(0)
                        .arg(-1)
                        .arg("WITHSCORES")
                        .query::<Vec<Vec<u8>>>(&mut con)
                        .unwrap()
                ),
                other => other.to_string(),
            };
            let pttl: i64 = redis::cmd("PTTL").arg(&k).query(&mut con).unwrap();
            out.insert(
                format!("{db}:{}", String::from_utf8_lossy(&k)),
                format!("{t} ttl={} {v}", pttl > 0),
            );
        }
    }
    out
}

fn redis_available() -> bool {
    if std::path::Path::new(REDIS_SERVER).exists() {
        return true;
    }
    eprintln!("note: {REDIS_SERVER} missing; skipping the Redis round trip");
    false
}

/// Writers INCR their own counter as fast as they can; the last value each
/// saw acknowledged is recorded. Returns the acknowledged values when the
/// server dies (the writers see their connection drop).
fn hammer(port: u16, writers: usize, stop: Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<i64>> {
    (0..writers)
        .map(|w| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut acked = 0;
                let Ok(mut r) = Raw::try_connect(port) else {
                    return acked;
                };
                while !stop.load(Ordering::Relaxed) {
                    r.send(&encode(&["INCR", &format!("counter:{w}")]));
                    match r.read_reply(Duration::from_secs(5)) {
                        Some(reply) if reply.first() == Some(&b':') => {
                            let text = String::from_utf8_lossy(&reply[1..]);
                            acked = text.trim().parse().unwrap_or(acked);
                        }
                        _ => break,
                    }
                }
                acked
            })
        })
        .collect()
}

fn crash_rounds(fsync: &str, rounds: usize) -> (i64, i64) {
    crash_rounds_with(fsync, rounds, 4, &[])
}

/// `rounds` SIGKILLs under `writers` INCR clients; `extra` directives.
fn crash_rounds_with(fsync: &str, rounds: usize, writers: usize, extra: &[&str]) -> (i64, i64) {
    let mut args = vec!["--appendonly", "yes", "--appendfsync", fsync];
    args.extend_from_slice(extra);
    let mut server = Server::start(&args);
    let mut total_lost = 0;
    let mut total_acked = 0;
    let mut rng_state = 0x2545F4914F6CDD1Du64;
    for round in 0..rounds {
        wait_loaded(server.port);
        let stop = Arc::new(AtomicBool::new(false));
        let handles = hammer(server.port, writers, stop.clone());
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        std::thread::sleep(Duration::from_millis(50 + rng_state % 250));
        let dir = server.kill9();
        stop.store(true, Ordering::Relaxed);
        let acked: Vec<i64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        server = Server::restart_in(dir, &args);
        wait_loaded(server.port);
        let mut con = sync_con(server.port);
        for (w, a) in acked.iter().enumerate() {
            let have: Option<i64> = redis::cmd("GET")
                .arg(format!("counter:{w}"))
                .query(&mut con)
                .unwrap();
            let have = have.unwrap_or(0);
            if have < *a {
                total_lost += a - have;
                if fsync == "always" {
                    panic!(
                        "round {round}: writer {w} had {a} acknowledged but only {have} survived; log:\n{}",
                        server.log_tail(20)
                    );
                }
            }
            total_acked += a;
        }
    }
    server.assert_alive();
    (total_lost, total_acked)
}

#[test]
fn sigkill_with_appendfsync_always_loses_no_acknowledged_write() {
    let (lost, acked) = crash_rounds("always", 20);
    assert_eq!(lost, 0);
    assert!(acked > 0, "the writers got nothing acknowledged");
}

/// The group commit across serving threads (the default under `always`
/// is at least two: one fsyncs while the other runs commands) and on one
/// thread alone, with more clients than threads so fsyncs are shared.
#[test]
fn sigkill_with_appendfsync_always_loses_no_acknowledged_write_on_one_or_two_threads() {
    for threads in ["1", "2"] {
        let (lost, acked) = crash_rounds_with("always", 8, 12, &["--io-threads", threads]);
        assert_eq!(lost, 0, "io-threads {threads}");
        assert!(acked > 0, "io-threads {threads}: nothing acknowledged");
    }
}

#[test]
fn sigkill_with_appendfsync_everysec_loses_at_most_about_a_second() {
    let (lost, acked) = crash_rounds("everysec", 5);
    // Writes reach the file at once (only fsync is deferred), so a process
    // crash loses nothing; a power loss could lose up to a second's worth.
    assert!(lost <= acked / 2, "lost {lost} of {acked}");
    assert!(acked > 0);
}

#[test]
fn aof_restart_keeps_every_type_and_expiry_and_survives_rewrite() {
    let server = Server::start(&["--appendonly", "yes"]);
    wait_loaded(server.port);
    populate(server.port);
    let before = fingerprint(server.port);
    assert_eq!(
        server.cmd(&["BGREWRITEAOF"]),
        b"+Background append only file rewriting started\r\n"
    );
    // Writes during and after the rewrite land in the new incr file.
    let mut con = sync_con(server.port);
    redis::cmd("SET")
        .arg("after:rewrite")
        .arg("1")
        .query::<()>(&mut con)
        .unwrap();
    wait_for(|| {
        server
            .cli(&["INFO", "persistence"])
            .contains("aof_rewrite_in_progress:0")
    });
    redis::cmd("DEL")
        .arg("after:rewrite")
        .query::<()>(&mut con)
        .unwrap();
    let dir = server.terminate();
    let server = Server::restart_in(dir, &["--appendonly", "yes"]);
    wait_loaded(server.port);
    assert_eq!(fingerprint(server.port), before);
    let manifest =
        std::fs::read_to_string(server.dir().join("appendonlydir/appendonly.aof.manifest"))
            .unwrap();
    assert!(
        manifest.contains("appendonly.aof.2.base.rdb seq 2 type b"),
        "{manifest}"
    );
    let check = std::process::Command::new("redis-check-aof")
        .arg(server.dir().join("appendonlydir/appendonly.aof.manifest"))
        .output();
    if let Ok(o) = check {
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains("All AOF files and manifest are valid"),
            "{text}"
        );
    }
}

fn wait_for(mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "condition not reached in time");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn aof_directories_round_trip_with_redis() {
    if !redis_available() {
        return;
    }
    // Shoal writes, Redis loads.
    let shoal = Server::start(&["--appendonly", "yes"]);
    wait_loaded(shoal.port);
    populate(shoal.port);
    let want = fingerprint(shoal.port);
    let dir = shoal.terminate();
    let redis = Server::restart_in_binary(REDIS_SERVER, dir, &["--appendonly", "yes"]);
    wait_loaded(redis.port);
    assert_eq!(
        fingerprint(redis.port),
        want,
        "Redis loaded something else from Shoal's AOF"
    );
    // Redis rewrites and appends, Shoal loads.
    assert!(redis.cli(&["BGREWRITEAOF"]).contains("started"));
    wait_for(|| {
        redis
            .cli(&["INFO", "persistence"])
            .contains("aof_rewrite_in_progress:0")
    });
    redis.cli(&["SET", "from:redis", "yes"]);
    redis.cli(&["LPUSH", "l:small", "pushed-by-redis"]);
    let want = fingerprint(redis.port);
    let dir = redis.terminate();
    let shoal = Server::restart_in(dir, &["--appendonly", "yes"]);
    wait_loaded(shoal.port);
    assert_eq!(
        fingerprint(shoal.port),
        want,
        "Shoal loaded something else from Redis's AOF"
    );
}

#[test]
fn rdb_files_round_trip_with_redis() {
    if !redis_available() {
        return;
    }
    let shoal = Server::start(&[]);
    wait_loaded(shoal.port);
    populate(shoal.port);
    let want = fingerprint(shoal.port);
    assert_eq!(shoal.cmd(&["SAVE"]), b"+OK\r\n");
    let check = std::process::Command::new("redis-check-rdb")
        .arg(shoal.dir().join("dump.rdb"))
        .output()
        .expect("redis-check-rdb");
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(text.contains("RDB looks OK"), "{text}");
    let dir = shoal.terminate();
    let redis = Server::restart_in_binary(REDIS_SERVER, dir, &[]);
    wait_loaded(redis.port);
    assert_eq!(fingerprint(redis.port), want);
    redis.cli(&["SADD", "set:strs", "added-in-redis"]);
    let want = fingerprint(redis.port);
    assert!(redis.cli(&["SAVE"]).contains("OK"));
    let dir = redis.terminate();
    let shoal = Server::restart_in(dir, &[]);
    wait_loaded(shoal.port);
    assert_eq!(fingerprint(shoal.port), want);
}

#[test]
fn debug_reload_bgsave_and_restart_from_dump_rdb() {
    let shoal = Server::start(&["--enable-debug-command", "yes"]);
    wait_loaded(shoal.port);
    populate(shoal.port);
    let want = fingerprint(shoal.port);
    assert_eq!(shoal.cmd(&["DEBUG", "RELOAD"]), b"+OK\r\n");
    assert_eq!(fingerprint(shoal.port), want);
    assert_eq!(shoal.cmd(&["BGSAVE"]), b"+Background saving started\r\n");
    // Writes while the snapshot is taken do not leak into it.
    shoal.cli(&["SET", "s:short", "changed-after-bgsave"]);
    wait_for(|| {
        shoal
            .cli(&["INFO", "persistence"])
            .contains("rdb_bgsave_in_progress:0")
    });
    assert!(shoal
        .cli(&["INFO", "persistence"])
        .contains("rdb_last_bgsave_status:ok"));
    let dir = shoal.kill9();
    let shoal = Server::restart_in(dir, &[]);
    wait_loaded(shoal.port);
    assert_eq!(fingerprint(shoal.port), want);
}

fn incr_file(dir: &std::path::Path) -> std::path::PathBuf {
    let mut incrs: Vec<_> = std::fs::read_dir(dir.join("appendonlydir"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".incr.aof"))
        .collect();
    incrs.sort();
    incrs.pop().expect("an incr file")
}

#[test]
fn truncated_aof_tail_is_cut_and_the_rest_loaded() {
    let server = Server::start(&["--appendonly", "yes"]);
    wait_loaded(server.port);
    for i in 0..10 {
        server.cli(&["SET", &format!("k{i}"), "v"]);
    }
    let dir = server.terminate();
    // A crash in the middle of writing the next command.
    let path = incr_file(dir.path());
    let good_len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"*3\r\n$3\r\nSET\r\n$2\r\nk1")
        .unwrap();
    let server = Server::restart_in(dir, &["--appendonly", "yes"]);
    wait_loaded(server.port);
    assert_eq!(server.cmd(&["DBSIZE"]), b":10\r\n");
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        good_len,
        "the partial command was not cut off"
    );
    assert!(
        server.log_text().contains("truncated"),
        "{}",
        server.log_tail(10)
    );
    // And writes continue after the cut.
    server.cli(&["SET", "after", "1"]);
    let dir = server.terminate();
    let server = Server::restart_in(dir, &["--appendonly", "yes"]);
    wait_loaded(server.port);
    assert_eq!(server.cmd(&["DBSIZE"]), b":11\r\n");
}

#[test]
fn corrupted_aof_stops_the_start_naming_file_and_offset() {
    let server = Server::start(&["--appendonly", "yes"]);
    wait_loaded(server.port);
    for i in 0..5 {
        server.cli(&["SET", &format!("k{i}"), "v"]);
    }
    let dir = server.terminate();
    let path = incr_file(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] = b'!';
    bytes[middle + 1] = b'?';
    std::fs::write(&path, &bytes).unwrap();
    let before = bytes.clone();
    // The server must exit with a message naming the file and an offset.
    let out = std::process::Command::new(shoal_bin())
        .args([
            "--port",
            &free_port().to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes",
            "--dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let log =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("appendonly.aof.1.incr.aof") && log.contains("offset"),
        "{log}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "a corrupted AOF must not be modified"
    );
}

#[test]
fn failing_disk_turns_writes_into_misconf_and_keeps_reads() {
    let server = Server::start(&["--appendonly", "yes"]);
    wait_loaded(server.port);
    server.cli(&["SET", "k", "v"]);
    // "k" goes into the base; the new incr file is empty.
    server.cli(&["BGREWRITEAOF"]);
    wait_for(|| {
        server
            .cli(&["INFO", "persistence"])
            .contains("aof_rewrites:1")
    });
    let dir = server.terminate();
    // The incr file now points at a device that is always full.
    let path = incr_file(dir.path());
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink("/dev/full", &path).unwrap();
    let server = Server::restart_in(dir, &["--appendonly", "yes"]);
    wait_loaded(server.port);
    server.cli(&["SET", "k2", "v2"]);
    wait_for(|| {
        let r = server.cmd(&["SET", "k3", "v3"]);
        r.starts_with(b"-MISCONF Errors writing to the AOF file: No space left on device")
    });
    assert_eq!(server.cmd(&["GET", "k"]), b"$1\r\nv\r\n");
    assert!(server
        .cli(&["INFO", "persistence"])
        .contains("aof_last_write_status:err"));
}
