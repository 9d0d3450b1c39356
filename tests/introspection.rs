//! COMMAND INFO / DOCS / GETKEYSANDFLAGS: Redis 7.0's key specs, their
//! access flags, tips and documentation (redis-cli builds its hints from
//! the DOCS arguments), checked literally and against the real Redis.

mod common;
use common::*;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// One command on a connection already in the wanted protocol.
fn call(r: &mut Raw, args: &[&str]) -> String {
    text(&r.call(args))
}

fn resp3(port: u16) -> Raw {
    let mut r = Raw::connect(port);
    let hello = r.call(&["HELLO", "3"]);
    assert!(hello.starts_with(b"%"), "{}", text(&hello));
    r
}

#[test]
fn getkeysandflags_reports_each_keys_spec_flags() {
    let srv = Server::start(&[]);
    let mut r = srv.raw();
    let mut flags = |line: &str| {
        call(
            &mut r,
            &[
                &["COMMAND", "GETKEYSANDFLAGS"][..],
                &line.split(' ').collect::<Vec<_>>(),
            ]
            .concat(),
        )
    };
    // SET overwrites (OW) unless GET reads the old value.
    assert_eq!(
        flags("set k1 v1"),
        "*1\r\n*2\r\n$2\r\nk1\r\n*2\r\n+OW\r\n+update\r\n"
    );
    assert_eq!(
        flags("set k1 v1 get"),
        "*1\r\n*2\r\n$2\r\nk1\r\n*3\r\n+RW\r\n+access\r\n+update\r\n"
    );
    assert_eq!(
        flags("mset k1 v1 k2 v2"),
        "*2\r\n*2\r\n$2\r\nk1\r\n*2\r\n+OW\r\n+update\r\n*2\r\n$2\r\nk2\r\n*2\r\n+OW\r\n+update\r\n"
    );
    // One spec per key: the source is read and emptied, the destination inserted into.
    assert_eq!(
        flags("LMOVE k1 k2 left right"),
        "*2\r\n*2\r\n$2\r\nk1\r\n*3\r\n+RW\r\n+access\r\n+delete\r\n*2\r\n$2\r\nk2\r\n*2\r\n+RW\r\n+insert\r\n"
    );
    // SORT's STORE spec is unknown: Redis's sort key finder gives the flags.
    assert_eq!(
        flags("sort k1 store k2"),
        "*2\r\n*2\r\n$2\r\nk1\r\n*2\r\n+RO\r\n+access\r\n*2\r\n$2\r\nk2\r\n*2\r\n+OW\r\n+update\r\n"
    );
    // BITFIELD with only GETs reads; with a SET it writes.
    assert_eq!(
        flags("bitfield k get u8 0"),
        "*1\r\n*2\r\n$1\r\nk\r\n*2\r\n+RO\r\n+access\r\n"
    );
    assert_eq!(
        flags("bitfield k get u8 0 set u8 0 1"),
        "*1\r\n*2\r\n$1\r\nk\r\n*3\r\n+RW\r\n+access\r\n+update\r\n"
    );
    // ZUNIONSTORE: destination overwritten, sources read, per key spec.
    assert_eq!(
        flags("zunionstore d 2 a b"),
        "*3\r\n*2\r\n$1\r\nd\r\n*2\r\n+OW\r\n+update\r\n*2\r\n$1\r\na\r\n*2\r\n+RO\r\n+access\r\n*2\r\n$1\r\nb\r\n*2\r\n+RO\r\n+access\r\n"
    );
}

#[test]
fn command_info_and_docs_carry_key_specs_tips_and_arguments() {
    let srv = Server::start(&[]);
    let mut r = resp3(srv.port);
    let info = call(&mut r, &["COMMAND", "INFO", "set"]);
    // SET's one key spec, with its notes and variable flags.
    assert!(
        info.contains("$5\r\nnotes\r\n$48\r\nRW and ACCESS due to the optional `GET` argument\r\n$5\r\nflags\r\n~4\r\n+RW\r\n+access\r\n+update\r\n+variable_flags\r\n"),
        "{info}"
    );
    // Tips: KEYS's output order is nondeterministic.
    let info = call(&mut r, &["COMMAND", "INFO", "keys"]);
    assert!(
        info.contains("$29\r\nnondeterministic_output_order\r\n"),
        "{info}"
    );
    // The eval family does not show may_replicate (Redis hides it).
    let info = call(&mut r, &["COMMAND", "INFO", "eval"]);
    assert!(!info.contains("may_replicate"), "{info}");
    let docs = call(&mut r, &["COMMAND", "DOCS", "lmove"]);
    assert!(
        docs.contains("$10\r\ncomplexity\r\n$4\r\nO(1)\r\n"),
        "{docs}"
    );
    assert!(
        docs.contains("$9\r\narguments\r\n*4\r\n%3\r\n$4\r\nname\r\n$6\r\nsource\r\n$4\r\ntype\r\n$3\r\nkey\r\n$14\r\nkey_spec_index\r\n:0\r\n"),
        "{docs}"
    );
    // A subcommand's docs by its full name.
    let docs = call(&mut r, &["COMMAND", "DOCS", "config|get"]);
    assert!(docs.starts_with("%1\r\n$10\r\nconfig|get\r\n"), "{docs}");
    assert!(docs.contains("$7\r\nhistory\r\n"), "{docs}");
}

/// Every command Shoal lists answers COMMAND INFO and COMMAND DOCS exactly
/// as Redis 7.0 does, in RESP2 and RESP3 (containers one subcommand at a
/// time: Redis lists subcommands in hash order).
#[test]
fn command_info_and_docs_match_real_redis() {
    if !require_tool(REDIS_SERVER, "redis-server") {
        return;
    }
    let shoal = Server::start(&[]);
    let redis = Server::start_binary(REDIS_SERVER, &[]);
    let list = text(&shoal.cmd(&["COMMAND", "LIST"]));
    let names: Vec<String> = list
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.starts_with('*') && !l.starts_with('$'))
        .map(str::to_string)
        .collect();
    assert!(names.len() > 200, "{list:.200}");
    let containers: Vec<String> = names
        .iter()
        .filter_map(|n| n.split_once('|').map(|(p, _)| p.to_string()))
        .collect();
    for proto in ["2", "3"] {
        let (mut s, mut r) = (Raw::connect(shoal.port), Raw::connect(redis.port));
        call(&mut s, &["HELLO", proto]);
        call(&mut r, &["HELLO", proto]);
        for name in &names {
            if containers.contains(name) {
                continue;
            }
            for sub in ["INFO", "DOCS"] {
                let want = call(&mut r, &["COMMAND", sub, name]);
                if want.starts_with("*1\r\n*-1") || want == "%0\r\n" || want == "*0\r\n" {
                    continue; // a command Redis lacks (none today)
                }
                assert_eq!(
                    call(&mut s, &["COMMAND", sub, name]),
                    want,
                    "COMMAND {sub} {name} (RESP{proto})"
                );
            }
        }
    }
}

#[test]
fn config_percent_values_and_percentiles_print_as_redis() {
    let srv = Server::start(&[]);
    assert_eq!(
        srv.cli(&["CONFIG", "SET", "maxmemory-clients", "200%"]).trim(),
        "ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - percentage argument must be less or equal to 100"
    );
    assert_eq!(
        srv.cli(&["CONFIG", "SET", "maxmemory-clients", "x%"]).trim(),
        "ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - argument must be a memory or percent value"
    );
    assert_eq!(
        srv.cli(&["CONFIG", "SET", "maxmemory-clients", "10%"])
            .trim(),
        "OK"
    );
    assert_eq!(
        srv.cli(&["CONFIG", "GET", "maxmemory-clients"]),
        "maxmemory-clients\n10%\n"
    );
    assert_eq!(
        srv.cli(&["CONFIG", "SET", "maxmemory-clients", "1mb"])
            .trim(),
        "OK"
    );
    assert_eq!(
        srv.cli(&["CONFIG", "GET", "maxmemory-clients"]),
        "maxmemory-clients\n1048576\n"
    );
    // "%f" with the trailing zeros trimmed, not the shortest round trip.
    srv.cli(&[
        "CONFIG",
        "SET",
        "latency-tracking-info-percentiles",
        "50 99 99.9 0.5",
    ]);
    assert_eq!(
        srv.cli(&["CONFIG", "GET", "latency-tracking-info-percentiles"]),
        "latency-tracking-info-percentiles\n50 99 99.9 0.5\n"
    );
}

/// The active expire cycle is one "expire-cycle" latency event when it
/// reaches latency-monitor-threshold (here freeing a set of a million
/// members, which takes Shoal a few milliseconds).
#[test]
fn latency_monitor_records_expire_cycles() {
    let srv = Server::start(&[]);
    assert_eq!(
        srv.cli(&["CONFIG", "SET", "latency-monitor-threshold", "1"])
            .trim(),
        "OK"
    );
    srv.cli(&[
        "EVAL",
        "for i = 0, tonumber(ARGV[1]) - 1 do redis.call('sadd', KEYS[1], i) end",
        "1",
        "mybigkey",
        "1000000",
    ]);
    assert_eq!(srv.cli(&["SCARD", "mybigkey"]).trim(), "1000000");
    srv.cli(&["LATENCY", "RESET"]);
    srv.cli(&["PEXPIRE", "mybigkey", "50"]);
    assert!(
        wait_until(std::time::Duration::from_secs(10), || srv
            .cli(&["DBSIZE"])
            .trim()
            == "0"),
        "the key was not expired"
    );
    let latest = srv.cli(&["LATENCY", "LATEST"]);
    assert!(latest.contains("expire-cycle"), "{latest}");
}
