//! Shoal driven by Debian's `redis-cli`, as a person at a shell would, and a
//! differential run of the same command lines against a real Redis 7.0.

mod common;

use common::*;
use std::time::Duration;

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

#[test]
fn cli_strings_and_keys() {
    if !require_tool(REDIS_CLI, "redis-cli") {
        return;
    }
    let srv = Server::start(&[]);
    assert_eq!(srv.cli(&["ping"]), "PONG\n");
    assert_eq!(srv.cli(&["set", "k", "v"]), "OK\n");
    assert_eq!(srv.cli(&["get", "k"]), "v\n");
    assert_eq!(srv.cli(&["get", "missing"]), "\n");
    assert_eq!(srv.cli(&["incr", "n"]), "1\n");
    assert_eq!(srv.cli(&["incr", "n"]), "2\n");
    assert_eq!(srv.cli(&["incrby", "n", "40"]), "42\n");
    // redis-cli's raw mode prints an error followed by an empty line.
    assert_eq!(
        srv.cli(&["incr", "k"]),
        "ERR value is not an integer or out of range\n\n"
    );
    assert_eq!(srv.cli(&["ttl", "k"]), "-1\n");
    assert_eq!(srv.cli(&["expire", "k", "100"]), "1\n");
    let ttl: i64 = srv.cli(&["ttl", "k"]).trim().parse().unwrap();
    assert!((99..=100).contains(&ttl), "ttl {ttl}");
    assert_eq!(srv.cli(&["ttl", "missing"]), "-2\n");
    assert_eq!(srv.cli(&["mset", "a", "1", "b", "2", "c", "3"]), "OK\n");
    assert_eq!(srv.cli(&["mget", "a", "b", "missing", "c"]), "1\n2\n\n3\n");
    assert_eq!(srv.cli(&["dbsize"]), "5\n");
    assert_eq!(srv.cli(&["type", "a"]), "string\n");
    assert_eq!(srv.cli(&["exists", "a", "b", "zz"]), "2\n");

    // SCAN 0 on a small keyspace: cursor 0, then every key.
    let out = srv.cli(&["scan", "0"]);
    let ls = lines(&out);
    assert_eq!(ls[0], "0", "a small keyspace fits in one SCAN call: {out}");
    let mut keys: Vec<&str> = ls[1..].to_vec();
    keys.sort();
    assert_eq!(keys, vec!["a", "b", "c", "k", "n"]);
    let mut keys = lines(&srv.cli(&["keys", "*"]))
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>();
    keys.sort();
    assert_eq!(keys, vec!["a", "b", "c", "k", "n"]);

    // Values with spaces and binary-safe escapes round-trip.
    assert_eq!(srv.cli(&["set", "sp", "hello world"]), "OK\n");
    assert_eq!(srv.cli(&["get", "sp"]), "hello world\n");
    assert_eq!(srv.cli(&["--no-raw", "get", "sp"]), "\"hello world\"\n");
    assert_eq!(srv.cli(&["--no-raw", "incr", "n"]), "(integer) 43\n");
    assert_eq!(srv.cli(&["--no-raw", "get", "missing"]), "(nil)\n");
    assert_eq!(srv.cli(&["del", "a", "b", "zz"]), "2\n");
    assert_eq!(srv.cli(&["-n", "3", "set", "in3", "x"]), "OK\n");
    assert_eq!(srv.cli(&["-n", "3", "dbsize"]), "1\n");
    assert_eq!(srv.cli(&["flushdb"]), "OK\n");
    assert_eq!(srv.cli(&["dbsize"]), "0\n");
    assert_eq!(srv.cli(&["-n", "3", "get", "in3"]), "x\n");
}

#[test]
fn cli_info_and_config_get() {
    if !require_tool(REDIS_CLI, "redis-cli") {
        return;
    }
    let srv = Server::start(&[]);
    assert_eq!(srv.cli(&["set", "k", "v"]), "OK\n");
    assert_eq!(srv.cli(&["set", "e", "v", "ex", "1000"]), "OK\n");
    let info = srv.cli(&["info"]);
    assert!(info.contains("redis_version:7.0.15\r\n"), "{info}");
    for section in [
        "# Server",
        "# Clients",
        "# Memory",
        "# Persistence",
        "# Stats",
        "# Replication",
        "# CPU",
        "# Keyspace",
    ] {
        assert!(info.contains(section), "INFO lacks {section}:\n{info}");
    }
    assert_eq!(
        info_field(&info, "tcp_port").as_deref(),
        Some(srv.port.to_string().as_str())
    );
    assert_eq!(
        info_field(&info, "process_id").as_deref(),
        Some(srv.pid.to_string().as_str())
    );
    let db0 = info_field(&info, "db0").expect("db0 line in # Keyspace");
    assert!(db0.starts_with("keys=2,expires=1,"), "{db0}");
    let server_only = srv.cli(&["info", "server"]);
    assert!(server_only.starts_with("# Server\r\n"), "{server_only}");
    assert!(!server_only.contains("# Keyspace"), "{server_only}");

    let all = srv.cli(&["config", "get", "*"]);
    let ls = lines(&all);
    assert_eq!(ls.len() % 2, 0, "CONFIG GET * must be name/value pairs");
    assert!(
        ls.len() / 2 >= 100,
        "CONFIG GET * returned only {} pairs",
        ls.len() / 2
    );
    let pairs: std::collections::HashMap<&str, &str> = ls.chunks(2).map(|c| (c[0], c[1])).collect();
    assert_eq!(pairs.get("maxmemory"), Some(&"0"));
    assert_eq!(
        pairs.get("port").copied(),
        Some(srv.port.to_string().as_str())
    );
    assert_eq!(pairs.get("save"), Some(&""));
    assert_eq!(pairs.get("bind"), Some(&"127.0.0.1"));
    assert_eq!(pairs.get("databases"), Some(&"16"));
    assert_eq!(pairs.get("maxmemory-policy"), Some(&"noeviction"));
    assert_eq!(srv.cli(&["config", "get", "maxmemory"]), "maxmemory\n0\n");
    assert_eq!(srv.cli(&["config", "set", "maxmemory", "100mb"]), "OK\n");
    assert_eq!(
        srv.cli(&["config", "get", "maxmemory"]),
        "maxmemory\n104857600\n"
    );
    // An empty array prints as one empty line.
    assert_eq!(srv.cli(&["config", "get", "nonexistent-directive"]), "\n");
}

#[test]
fn cli_pipe_mass_insertion() {
    if !require_tool(REDIS_CLI, "redis-cli") {
        return;
    }
    let srv = Server::start(&[]);
    let mut input = Vec::with_capacity(100_000 * 48);
    for i in 0..100_000 {
        input.extend_from_slice(&encode(&[
            "SET",
            &format!("key:{i}"),
            &format!("value:{i}"),
        ]));
    }
    let (ok, out, err) = redis_cli_stdin(srv.port, &["--pipe"], input, Duration::from_secs(300));
    assert!(ok, "redis-cli --pipe failed:\n{out}\n{err}");
    assert!(
        out.contains("errors: 0, replies: 100000"),
        "redis-cli --pipe summary:\n{out}\n{err}"
    );
    assert_eq!(srv.cli(&["dbsize"]), "100000\n");
    assert_eq!(srv.cli(&["get", "key:0"]), "value:0\n");
    assert_eq!(srv.cli(&["get", "key:99999"]), "value:99999\n");
    assert_eq!(srv.cli(&["get", "key:100000"]), "\n");
}

/// Split a line of the differential file into arguments: spaces separate,
/// 'single quotes' group (and '' is an empty argument).
fn split_line(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quote = false;
    let mut have = false;
    for ch in line.chars() {
        match ch {
            '\'' => {
                in_quote = !in_quote;
                have = true;
            }
            ' ' if !in_quote => {
                if have {
                    out.push(std::mem::take(&mut cur));
                    have = false;
                }
            }
            c => {
                cur.push(c);
                have = true;
            }
        }
    }
    assert!(!in_quote, "unbalanced quote in differential line: {line}");
    if have {
        out.push(cur);
    }
    out
}

fn cli_output(port: u16, args: &[String]) -> String {
    let mut c = std::process::Command::new(REDIS_CLI);
    c.arg("-h")
        .arg("127.0.0.1")
        .arg("-p")
        .arg(port.to_string())
        .args(args);
    let (ok, out, err) = run_with_timeout(c, None, Duration::from_secs(30));
    format!("{out}{err}[exit {}]", if ok { 0 } else { 1 })
}

#[test]
fn differential_against_real_redis() {
    differential(include_str!("redis_cli_differential.txt"), &[], 60);
}

/// Every data-type command of issue 3 (hashes, lists incl. blocking forms,
/// sets, sorted sets, HyperLogLog, SORT) with its edge cases and errors,
/// over RESP2 and over RESP3 (`redis-cli -3` prints replies by type).
#[test]
fn data_type_differential_against_real_redis_resp2_and_resp3() {
    let script = include_str!("redis_cli_differential_types.txt");
    differential(script, &[], 300);
    differential(script, &["-3"], 300);
}

/// Run a differential file through redis-cli (with `cli_args` before each
/// command line) against a fresh real Redis 7.0 and a fresh Shoal; every
/// compared line's output must be identical.
fn differential(script: &str, cli_args: &[&str], min_lines: usize) {
    if !require_tool(REDIS_CLI, "redis-cli") {
        return;
    }
    if !have(REDIS_SERVER) {
        eprintln!("SKIPPED: {REDIS_SERVER} is not installed, no real Redis to compare with");
        return;
    }
    let real = Server::start_binary(REDIS_SERVER, &["--appendonly", "no"]);
    let version = real.cli(&["info", "server"]);
    let Some(v) = info_field(&version, "redis_version") else {
        panic!("no redis_version from real Redis:\n{version}")
    };
    if !v.starts_with("7.0.") {
        eprintln!("SKIPPED: {REDIS_SERVER} is Redis {v}, not 7.0");
        return;
    }
    let shoal = Server::start(&[]);
    let mut mismatches = Vec::new();
    let mut compared = 0;
    for raw in script.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (mode, cmdline) = if let Some(rest) = line.strip_prefix("sort: ") {
            ("sort", rest)
        } else if let Some(rest) = line.strip_prefix("skip: ") {
            ("skip", rest)
        } else {
            ("exact", line)
        };
        let mut args: Vec<String> = cli_args.iter().map(|a| a.to_string()).collect();
        args.extend(split_line(cmdline));
        let mut want = cli_output(real.port, &args);
        let mut got = cli_output(shoal.port, &args);
        match mode {
            "skip" => continue,
            "sort" => {
                let sort = |s: &str| {
                    let mut v: Vec<&str> = s.lines().collect();
                    v.sort();
                    v.join("\n")
                };
                want = sort(&want);
                got = sort(&got);
            }
            _ => {}
        }
        compared += 1;
        if want != got {
            mismatches.push(format!("> {cmdline}\n  redis: {want:?}\n  shoal: {got:?}"));
        }
    }
    assert!(compared >= min_lines, "only {compared} lines compared");
    // The comparison is meaningful only if the real Redis really answered.
    assert_eq!(real.cli(&["ping"]), "PONG\n");
    assert!(
        mismatches.is_empty(),
        "{} of {compared} command lines ({cli_args:?}) differ from Redis 7.0:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
