//! Online resharding under live load: `redis-cli --cluster reshard` moves
//! thousands of slots between Shoal masters (SETSLOT IMPORTING/MIGRATING,
//! GETKEYSINSLOT, MIGRATE ... KEYS, SETSLOT NODE) while the `redis` crate's
//! cluster client keeps incrementing counters and creating new keys through
//! MOVED and ASK redirects. Afterwards every counter holds exactly the
//! increments that were acknowledged, every acknowledged new key is there,
//! and `redis-cli --cluster check` agrees on the slot map.

mod common;

use common::*;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONVERGE: Duration = Duration::from_secs(30);
const KEYS_PER_WRITER: usize = 400;
const WRITERS: usize = 4;
/// Slots each of the three reshard steps moves (a debug build takes tens of
/// milliseconds a slot; the steps together cross every node pair).
const SLOTS_PER_STEP: &str = "150";

fn cli_cluster(args: &[&str]) -> String {
    let mut c = Command::new(REDIS_CLI);
    c.args(args);
    let (_ok, out, err) = run_with_timeout(c, None, Duration::from_secs(300));
    format!("{out}{err}")
}

fn check_ok(n: &Node) -> bool {
    let out = cli_cluster(&["--cluster", "check", &n.addr()]);
    out.contains("[OK] All nodes agree about slots configuration.")
        && out.contains("[OK] All 16384 slots covered.")
        && !out.contains("[WARNING]")
}

#[derive(Default, Clone)]
struct Tally {
    /// Fresh keys `fresh:<writer>:<n>` acknowledged, n = 0..fresh.
    fresh: u64,
    acked: Vec<u64>,
    attempted: Vec<u64>,
    errors: Vec<String>,
}

#[test]
fn reshard_under_live_writes_loses_no_acknowledged_write() {
    if !require_tool(REDIS_CLI, "redis-cli") {
        return;
    }
    let (_root, nodes) = start_cluster_nodes(3, &["--cluster-node-timeout", "5000"]);
    let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
    args.extend(nodes.iter().map(|n| n.addr()));
    args.push("--cluster-yes".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = cli_cluster(&args);
    assert!(out.contains("[OK] All 16384 slots covered"), "{out}");
    for n in &nodes {
        assert!(
            wait_until(CONVERGE, || n
                .cli(&["cluster", "info"])
                .contains("cluster_state:ok")),
            "{}",
            n.cli(&["cluster", "nodes"])
        );
    }
    assert!(wait_until(CONVERGE, || check_ok(&nodes[0])));
    let id = |n: &Node| n.cli(&["cluster", "myid"]).trim().to_string();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let urls: Vec<String> = nodes
        .iter()
        .map(|n| format!("redis://127.0.0.1:{}/", n.port))
        .collect();
    let client = redis::cluster::ClusterClient::new(urls).unwrap();
    let con = rt.block_on(async {
        tokio::time::timeout(IO_TIMEOUT, client.get_async_connection())
            .await
            .expect("cluster connect timed out")
            .expect("cluster connect")
    });
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let mut con = con.clone();
            let stop = stop.clone();
            rt.spawn(async move {
                let mut t = Tally {
                    fresh: 0,
                    acked: vec![0; KEYS_PER_WRITER],
                    attempted: vec![0; KEYS_PER_WRITER],
                    errors: Vec::new(),
                };
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    // Every fourth request creates a key never seen before
                    // (the case that must be redirected with ASK while its
                    // slot migrates, never created behind the moved copy).
                    if i % 4 == 3 {
                        let n = t.fresh;
                        let r = tokio::time::timeout(
                            IO_TIMEOUT,
                            redis::cmd("SET")
                                .arg(format!("fresh:{w}:{n}"))
                                .arg(n)
                                .query_async::<()>(&mut con),
                        )
                        .await;
                        match r {
                            Ok(Ok(())) => t.fresh += 1,
                            Ok(Err(e)) => t.errors.push(e.to_string()),
                            Err(_) => t.errors.push("timed out".into()),
                        }
                        i += 1;
                        continue;
                    }
                    let k = (i - i / 4) % KEYS_PER_WRITER;
                    i += 1;
                    t.attempted[k] += 1;
                    let r = tokio::time::timeout(
                        IO_TIMEOUT,
                        redis::cmd("INCR")
                            .arg(format!("counter:{w}:{k}"))
                            .query_async::<u64>(&mut con),
                    )
                    .await;
                    match r {
                        Ok(Ok(v)) => {
                            t.acked[k] += 1;
                            assert_eq!(v, t.acked[k], "counter:{w}:{k} skipped or repeated");
                        }
                        Ok(Err(e)) => t.errors.push(e.to_string()),
                        Err(_) => t.errors.push("timed out".into()),
                    }
                }
                t
            })
        })
        .collect();

    // Let every counter exist, then move slots A -> B -> C -> A while the
    // writers go on.
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    for (from, to) in [(0, 1), (1, 2), (2, 0)] {
        let out = cli_cluster(&[
            "--cluster",
            "reshard",
            &nodes[from].addr(),
            "--cluster-from",
            &id(&nodes[from]),
            "--cluster-to",
            &id(&nodes[to]),
            "--cluster-slots",
            SLOTS_PER_STEP,
            "--cluster-yes",
        ]);
        assert!(!out.contains("[ERR]"), "reshard {from} -> {to}:\n{out}");
        assert!(
            out.matches("Moving slot").count() >= SLOTS_PER_STEP.parse::<usize>().unwrap(),
            "reshard {from} -> {to} moved too few slots:\n{out}"
        );
    }
    let reshard_time = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let tallies: Vec<Tally> = rt.block_on(async {
        let mut v = Vec::new();
        for w in writers {
            v.push(w.await.expect("writer task"));
        }
        v
    });

    // The slot map settled and every acknowledged increment is there.
    for n in &nodes {
        assert!(
            wait_until(CONVERGE, || check_ok(n)),
            "check from {}",
            n.port
        );
    }
    let total_acked: u64 = tallies.iter().flat_map(|t| t.acked.iter()).sum();
    let errors: Vec<&String> = tallies.iter().flat_map(|t| t.errors.iter()).collect();
    eprintln!(
        "3 x {SLOTS_PER_STEP} slots resharded in {reshard_time:?} under {total_acked} acknowledged INCRs, {} errors",
        errors.len()
    );
    let mut con = con.clone();
    rt.block_on(async {
        for (w, t) in tallies.iter().enumerate() {
            for k in 0..KEYS_PER_WRITER {
                let v: u64 = redis::cmd("GET")
                    .arg(format!("counter:{w}:{k}"))
                    .query_async(&mut con)
                    .await
                    .expect("GET counter");
                assert!(
                    t.acked[k] <= v && v <= t.attempted[k],
                    "counter:{w}:{k} = {v}, acknowledged {}, attempted {}",
                    t.acked[k],
                    t.attempted[k]
                );
            }
        }
    });
    // Every acknowledged new key is there, with its value.
    rt.block_on(async {
        for (w, t) in tallies.iter().enumerate() {
            for n in 0..t.fresh {
                let v: Option<u64> = redis::cmd("GET")
                    .arg(format!("fresh:{w}:{n}"))
                    .query_async(&mut con)
                    .await
                    .expect("GET fresh key");
                assert_eq!(v, Some(n), "acknowledged SET fresh:{w}:{n} lost");
            }
        }
    });
    assert!(
        errors.is_empty(),
        "{} client errors during resharding, first: {:?}",
        errors.len(),
        errors.first()
    );
    let dbsize: u64 = nodes
        .iter()
        .map(|n| n.cli(&["dbsize"]).trim().parse::<u64>().unwrap())
        .sum();
    let fresh: u64 = tallies.iter().map(|t| t.fresh).sum();
    assert_eq!(dbsize, (WRITERS * KEYS_PER_WRITER) as u64 + fresh);
}
