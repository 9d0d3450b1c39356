//! Replication through real processes: Shoal → Shoal, Shoal → Redis 7.0.15
//! and Redis 7.0.15 → Shoal (full sync of every type, 100,000 live writes,
//! equal offsets and data, a killed link continuing with a partial
//! resync), WAIT, READONLY, expiry as DEL from the master, and PSYNC2 after
//! REPLICAOF NO ONE.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

const SYNC_TIMEOUT: Duration = Duration::from_secs(60);
const LIVE_WRITES: usize = 100_000;

fn info(s: &Server, section: &str) -> String {
    s.cli(&["INFO", section])
}

fn field(s: &Server, section: &str, name: &str) -> String {
    info_field(&info(s, section), name).unwrap_or_default()
}

fn wait_link_up(replica: &Server) {
    assert!(
        wait_until(SYNC_TIMEOUT, || field(
            replica,
            "replication",
            "master_link_status"
        ) == "up"),
        "replica never synced; replica log:\n{}",
        replica.log_tail(30)
    );
}

/// Wait until the replica applied everything the master propagated.
fn wait_caught_up(master: &Server, replica: &Server) -> u64 {
    let mut last = (String::new(), String::new());
    let ok = wait_until(SYNC_TIMEOUT, || {
        let m = field(master, "replication", "master_repl_offset");
        let r = field(replica, "replication", "slave_repl_offset");
        last = (m.clone(), r.clone());
        !m.is_empty() && m == r
    });
    assert!(
        ok,
        "offsets never met (master {}, replica {}); replica log:\n{}",
        last.0,
        last.1,
        replica.log_tail(30)
    );
    last.0.parse().unwrap()
}

/// RESP for `n` writes of several types, starting at `from`.
fn writes(from: usize, n: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for i in from..from + n {
        let k = format!("key:{i}");
        let val = format!("value:{i}");
        let cmd: Vec<&[u8]> = match i % 10 {
            0 => vec![b"RPUSH", b"list", val.as_bytes()],
            1 => vec![b"HSET", b"hash", k.as_bytes(), val.as_bytes()],
            2 => vec![b"SADD", b"set", val.as_bytes()],
            3 => vec![b"ZADD", b"zset", b"1.5", val.as_bytes()],
            4 => vec![b"INCR", b"counter"],
            _ => vec![b"SET", k.as_bytes(), val.as_bytes()],
        };
        v.extend(encode_bytes(&cmd));
    }
    v
}

fn pipe(s: &Server, data: Vec<u8>) {
    let mut cmd = Command::new(REDIS_CLI);
    cmd.args(["-p", &s.port.to_string(), "--pipe"]);
    let (ok, out, err) = run_with_timeout(cmd, Some(data), Duration::from_secs(120));
    assert!(ok, "redis-cli --pipe failed: {out} {err}");
    assert!(out.contains("errors: 0"), "{out}");
}

/// Data of every type, in two databases, some with TTLs.
fn seed(s: &Server) {
    let script: &[&[&str]] = &[
        &["SET", "str", "hello"],
        &["SET", "int", "12345"],
        &["SET", "ttl", "soon", "EX", "10000"],
        &["RPUSH", "biglist", "a", "b", "c", "d"],
        &["HSET", "h", "f1", "v1", "f2", "v2"],
        &["SADD", "s", "x", "y", "1", "2"],
        &["ZADD", "zs", "1", "one", "2.5", "two"],
        &["PFADD", "hll", "a", "b", "c"],
        &["SETBIT", "bits", "100", "1"],
        &["SELECT", "3"],
        &["SET", "in-db3", "yes"],
        &["LPUSH", "db3list", "1", "2"],
    ];
    let mut data = Vec::new();
    for c in script {
        data.extend(encode(c));
    }
    let mut big = vec!["HSET", "bighash"];
    let fields: Vec<String> = (0..600).map(|i| format!("field{i}")).collect();
    for f in &fields {
        big.push(f);
        big.push(f);
    }
    data.extend(encode(&big));
    pipe(s, data);
}

/// A fingerprint of the data readable through commands (comparable across
/// Shoal and Redis).
fn fingerprint(s: &Server, keys_written: usize) -> Vec<String> {
    let mut f = Vec::new();
    for db in ["0", "3"] {
        f.push(s.cli(&["-n", db, "DBSIZE"]));
    }
    for args in [
        &["GET", "str"][..],
        &["GET", "int"],
        &["GET", "ttl"],
        &["LRANGE", "biglist", "0", "-1"],
        &["HGET", "h", "f2"],
        &["SCARD", "s"],
        &["ZRANGE", "zs", "0", "-1", "WITHSCORES"],
        &["PFCOUNT", "hll"],
        &["GETBIT", "bits", "100"],
        &["HLEN", "bighash"],
        &["LLEN", "list"],
        &["LRANGE", "list", "0", "5"],
        &["HLEN", "hash"],
        &["SCARD", "set"],
        &["ZCARD", "zset"],
        &["GET", "counter"],
    ] {
        f.push(s.cli(args));
    }
    f.push(s.cli(&["-n", "3", "LRANGE", "db3list", "0", "-1"]));
    let mut i = 0;
    while i < keys_written {
        let mut args = vec!["MGET".to_string()];
        args.extend((i..(i + 2000).min(keys_written)).map(|k| format!("key:{k}")));
        let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let out = s.cli(&refs);
        f.push(format!("{:x}", md5ish(out.as_bytes())));
        i += 2000;
    }
    f
}

/// FNV-1a, to keep the fingerprint small.
fn md5ish(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf29ce484222325u64, |h, &c| {
        (h ^ c as u64).wrapping_mul(0x100000001b3)
    })
}

/// Full sync, live writes, a killed link and a partial resync between any
/// master and replica binaries. `kill_link` cuts the link.
fn full_live_partial(master: &Server, replica: &Server, kill_link: impl Fn()) {
    wait_link_up(replica);
    pipe(master, writes(0, LIVE_WRITES));
    let offset = wait_caught_up(master, replica);
    assert!(offset > LIVE_WRITES as u64 * 20, "offset {offset}");
    assert_eq!(
        fingerprint(master, LIVE_WRITES),
        fingerprint(replica, LIVE_WRITES)
    );
    let full_before = field(master, "stats", "sync_full");
    kill_link();
    pipe(master, writes(LIVE_WRITES, 1000));
    wait_link_up(replica);
    wait_caught_up(master, replica);
    assert!(
        wait_until(SYNC_TIMEOUT, || field(master, "stats", "sync_partial_ok")
            == "1"),
        "no partial resync; master log:\n{}",
        master.log_tail(20)
    );
    assert_eq!(field(master, "stats", "sync_full"), full_before);
    assert!(master
        .log_text()
        .contains("Partial resynchronization request from"));
    assert_eq!(
        fingerprint(master, LIVE_WRITES + 1000),
        fingerprint(replica, LIVE_WRITES + 1000)
    );
}

fn replicaof(master: &Server) -> [String; 2] {
    ["127.0.0.1".to_string(), master.port.to_string()]
}

#[test]
fn shoal_master_shoal_replica_full_live_partial() {
    let master = Server::start(&["--enable-debug-command", "yes"]);
    seed(&master);
    let [h, p] = replicaof(&master);
    let replica = Server::start(&["--enable-debug-command", "yes", "--replicaof", &h, &p]);
    full_live_partial(&master, &replica, || {
        assert_eq!(
            replica.cli(&["CLIENT", "KILL", "TYPE", "master"]).trim(),
            "1"
        );
    });
    // Same dataset bit for bit.
    let digest = master.cli(&["DEBUG", "DIGEST"]);
    assert_eq!(digest.trim().len(), 40, "{digest}");
    assert_eq!(digest, replica.cli(&["DEBUG", "DIGEST"]));
    assert!(replica
        .log_text()
        .contains("MASTER <-> REPLICA sync: Finished with success"));
    assert!(master
        .log_text()
        .contains("Synchronization with replica 127.0.0.1:"));
}

#[test]
fn redis_replica_of_shoal_master() {
    if !require_tool(REDIS_SERVER, "redis-server") {
        return;
    }
    // To-disk transfer: `$<len>` then the stream.
    let master = Server::start(&["--repl-diskless-sync", "no"]);
    seed(&master);
    let [h, p] = replicaof(&master);
    let replica = Server::start_binary(REDIS_SERVER, &["--replicaof", &h, &p]);
    full_live_partial(&master, &replica, || {
        assert_eq!(
            replica.cli(&["CLIENT", "KILL", "TYPE", "master"]).trim(),
            "1"
        );
    });
    // Diskless to Redis too: a second Redis replica with `$EOF:`.
    master.cli(&["CONFIG", "SET", "repl-diskless-sync", "yes"]);
    let replica2 = Server::start_binary(REDIS_SERVER, &["--replicaof", &h, &p]);
    wait_link_up(&replica2);
    wait_caught_up(&master, &replica2);
    assert_eq!(
        fingerprint(&master, LIVE_WRITES + 1000),
        fingerprint(&replica2, LIVE_WRITES + 1000)
    );
    assert!(replica2
        .log_text()
        .contains("receiving streamed RDB from master with EOF"));
}

#[test]
fn shoal_replica_of_redis_master() {
    if !require_tool(REDIS_SERVER, "redis-server") {
        return;
    }
    let master = Server::start_binary(
        REDIS_SERVER,
        &[
            "--repl-diskless-sync",
            "no",
            "--repl-diskless-sync-delay",
            "0",
        ],
    );
    seed(&master);
    let [h, p] = replicaof(&master);
    let replica = Server::start(&["--enable-debug-command", "yes", "--replicaof", &h, &p]);
    full_live_partial(&master, &replica, || {
        assert_eq!(
            master.cli(&["CLIENT", "KILL", "TYPE", "replica"]).trim(),
            "1"
        );
    });
    // Diskless from Redis (`$EOF:`), the replica's first ACK starts the stream.
    master.cli(&["CONFIG", "SET", "repl-diskless-sync", "yes"]);
    let replica2 = Server::start(&["--replicaof", &h, &p]);
    wait_link_up(&replica2);
    master.cli(&["SET", "after-eof", "1"]);
    wait_caught_up(&master, &replica2);
    assert_eq!(replica2.cli(&["GET", "after-eof"]).trim(), "1");
    assert!(replica2
        .log_text()
        .contains("receiving streamed RDB from master with EOF"));
}

#[test]
fn wait_readonly_expiry_and_psync2_promotion() {
    let master = Server::start(&["--enable-debug-command", "yes"]);
    let [h, p] = replicaof(&master);
    let r1 = Server::start(&["--enable-debug-command", "yes", "--replicaof", &h, &p]);
    let r2 = Server::start(&["--enable-debug-command", "yes", "--replicaof", &h, &p]);
    wait_link_up(&r1);
    wait_link_up(&r2);

    // WAIT counts the replicas that acknowledged this client's write.
    let mut c = master.raw();
    assert_eq!(c.call(&["SET", "w", "1"]), b"+OK\r\n");
    assert_eq!(c.call(&["WAIT", "2", "5000"]), b":2\r\n");
    assert_eq!(c.call(&["WAIT", "3", "200"]), b":2\r\n");
    assert_eq!(
        r1.cmd(&["WAIT", "1", "10"]),
        b"-ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.\r\n"
    );

    // Replicas refuse writes from clients.
    assert_eq!(
        r1.cmd(&["SET", "x", "1"]),
        b"-READONLY You can't write against a read only replica.\r\n"
    );
    assert_eq!(r1.cmd(&["GET", "w"]), b"$1\r\n1\r\n");
    let role = r1.cli(&["ROLE"]);
    assert!(role.starts_with("slave\n127.0.0.1\n"), "{role}");
    assert!(role.contains("connected"), "{role}");

    // Expiry: the replica hides the expired key but only the master's DEL removes it.
    assert_eq!(
        master.cli(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]).trim(),
        "OK"
    );
    master.cli(&["SET", "e", "v", "PX", "200"]);
    wait_caught_up(&master, &r1);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(r1.cmd(&["GET", "e"]), b"$-1\r\n");
    assert_eq!(r1.cli(&["DBSIZE"]).trim(), "2");
    // The master's expire cycle deletes it and propagates DEL.
    assert_eq!(
        master.cli(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"]).trim(),
        "OK"
    );
    assert!(wait_until(SYNC_TIMEOUT, || r1.cli(&["DBSIZE"]).trim() == "1"));
    assert_eq!(master.cli(&["DBSIZE"]).trim(), "1");

    // PSYNC2: promote r1; r2 follows it and continues partially.
    for i in 0..100 {
        master.cli(&["SET", &format!("pre{i}"), "x"]);
    }
    wait_caught_up(&master, &r1);
    wait_caught_up(&master, &r2);
    let old_id = field(&master, "replication", "master_replid");
    assert_eq!(r1.cli(&["REPLICAOF", "NO", "ONE"]).trim(), "OK");
    assert_eq!(field(&r1, "replication", "role"), "master");
    assert_eq!(field(&r1, "replication", "master_replid2"), old_id);
    let off: u64 = field(&r1, "replication", "master_repl_offset")
        .parse()
        .unwrap();
    assert_eq!(
        field(&r1, "replication", "second_repl_offset"),
        (off + 1).to_string()
    );
    assert_eq!(r1.cli(&["SET", "after-promotion", "1"]).trim(), "OK");
    let r1p = r1.port.to_string();
    assert_eq!(r2.cli(&["REPLICAOF", "127.0.0.1", &r1p]).trim(), "OK");
    wait_link_up(&r2);
    wait_caught_up(&r1, &r2);
    assert_eq!(r2.cli(&["GET", "after-promotion"]).trim(), "1");
    assert_eq!(field(&r1, "stats", "sync_partial_ok"), "1");
    assert_eq!(field(&r1, "stats", "sync_full"), "0");
    assert_eq!(
        field(&r2, "replication", "master_replid"),
        field(&r1, "replication", "master_replid")
    );
    let digest = r1.cli(&["DEBUG", "DIGEST"]);
    assert_eq!(digest.trim().len(), 40, "{digest}");
    assert_eq!(digest, r2.cli(&["DEBUG", "DIGEST"]));
}
