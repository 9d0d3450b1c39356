//! DUMP, RESTORE and MIGRATE against real processes: round trips of every
//! type and encoding, payloads exchanged both ways with a real Redis 7.0,
//! every error path (replies compared with Redis's), RESTORE's TTL and
//! access-clock options, a fuzzed payload stream that must never crash the
//! server, and MIGRATE between Shoal and Redis in every direction.

mod common;

use common::*;
use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// A raw connection with byte-string commands.
struct Conn(Raw);

impl Conn {
    fn to(srv: &Server) -> Conn {
        Conn(srv.raw())
    }

    fn call(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.0.send(&encode_bytes(args));
        self.0
            .read_reply(IO_TIMEOUT)
            .unwrap_or_else(|| panic!("no reply to {:?}", text(args[0])))
    }

    fn s(&mut self, args: &[&str]) -> String {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        text(&self.call(&a))
    }

    /// The payload DUMP returns (None for a missing key).
    fn dump(&mut self, key: &str) -> Option<Vec<u8>> {
        bulk(&self.call(&[b"DUMP", key.as_bytes()]))
    }

    fn restore(&mut self, key: &str, ttl: &str, payload: &[u8], opts: &[&str]) -> String {
        let mut a: Vec<&[u8]> = vec![b"RESTORE", key.as_bytes(), ttl.as_bytes(), payload];
        a.extend(opts.iter().map(|o| o.as_bytes()));
        text(&self.call(&a))
    }

    fn int(&mut self, args: &[&str]) -> i64 {
        let r = self.s(args);
        r.trim_start_matches(':')
            .trim_end()
            .parse()
            .unwrap_or_else(|_| panic!("{args:?} gave {r:?}"))
    }

    /// A key's content in a canonical form (collections sorted) and its encoding.
    fn snapshot(&mut self, key: &str) -> (String, String) {
        let t = self.s(&["TYPE", key]);
        let content = match t.trim_end() {
            "+string" => self.s(&["GET", key]),
            "+list" => self.s(&["LRANGE", key, "0", "-1"]),
            "+set" => sorted_elements(&self.s(&["SMEMBERS", key])),
            "+hash" => sorted_pairs(&self.s(&["HGETALL", key])),
            "+zset" => self.s(&["ZRANGE", key, "0", "-1", "WITHSCORES"]),
            other => panic!("{key}: unexpected type {other}"),
        };
        (
            format!("{t}{content}"),
            self.s(&["OBJECT", "ENCODING", key]),
        )
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The content of a `$len\r\n...\r\n` reply; None for a null one.
fn bulk(reply: &[u8]) -> Option<Vec<u8>> {
    if reply.starts_with(b"$-1") || reply.starts_with(b"_") {
        return None;
    }
    assert_eq!(reply[0], b'$', "not a bulk reply: {}", text(reply));
    let nl = reply.iter().position(|&b| b == b'\n').unwrap();
    let len: usize = text(&reply[1..nl - 1]).parse().unwrap();
    Some(reply[nl + 1..nl + 1 + len].to_vec())
}

/// The RESP array of bulk strings as a sorted list of its elements.
fn elements(reply: &str) -> Vec<String> {
    let lines: Vec<&str> = reply.split("\r\n").collect();
    lines
        .iter()
        .skip(1)
        .filter(|l| !l.starts_with('$') && !l.is_empty())
        .map(|l| l.to_string())
        .collect()
}

fn sorted_elements(reply: &str) -> String {
    let mut v = elements(reply);
    v.sort();
    v.join(",")
}

fn sorted_pairs(reply: &str) -> String {
    let v = elements(reply);
    let mut pairs: Vec<String> = v.chunks(2).map(|c| c.join("=")).collect();
    pairs.sort();
    pairs.join(",")
}

/// A deterministic pseudo-random sequence (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Keys of every type in every encoding Redis 7.0 has for it.
fn populate(c: &mut Conn) -> Vec<String> {
    let mut rng = Rng(0x5eed);
    let random: Vec<u8> = (0..300).map(|_| rng.next() as u8).collect();
    let big_list: Vec<String> = (0..1000).map(|i| format!("item-{i}")).collect();
    let big_ints: Vec<String> = (0..1000).map(|i| (i * 7 - 3000).to_string()).collect();
    let big_hash: Vec<String> = (0..200)
        .flat_map(|i| [format!("f{i}"), format!("v{i}")])
        .collect();
    let big_zset: Vec<String> = (0..200)
        .flat_map(|i| [format!("{}.25", i - 100), format!("m{i}")])
        .collect();
    let long = "x".repeat(100);
    let mut cmds: Vec<Vec<Vec<u8>>> = vec![
        vec![b"SET".to_vec(), b"str:int".to_vec(), b"12345".to_vec()],
        vec![
            b"SET".to_vec(),
            b"str:neg".to_vec(),
            b"-9223372036854775808".to_vec(),
        ],
        vec![b"SET".to_vec(), b"str:short".to_vec(), b"hello".to_vec()],
        vec![
            b"SET".to_vec(),
            b"str:long".to_vec(),
            "ab".repeat(1000).into_bytes(),
        ],
        vec![b"SET".to_vec(), b"str:random".to_vec(), random],
        vec![b"SET".to_vec(), b"str:empty".to_vec(), b"".to_vec()],
    ];
    let strs = |v: &[&str]| v.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
    cmds.push(strs(&[
        "RPUSH",
        "list:small",
        "a",
        "1",
        "-2",
        &long[..50],
        "3.5",
    ]));
    let mut l = strs(&["RPUSH", "list:big"]);
    l.extend(big_list.iter().map(|s| s.as_bytes().to_vec()));
    cmds.push(l);
    cmds.push(strs(&["RPUSH", "list:longelem", &"y".repeat(9000), "z"]));
    cmds.push(strs(&[
        "SADD",
        "set:int",
        "1",
        "2",
        "3",
        "-5",
        "9223372036854775807",
    ]));
    let mut s = strs(&["SADD", "set:bigint"]);
    s.extend(big_ints.iter().map(|s| s.as_bytes().to_vec()));
    cmds.push(s);
    cmds.push(strs(&["SADD", "set:str", "a", "b", "c", "12"]));
    cmds.push(strs(&[
        "HSET",
        "hash:small",
        "f1",
        "v1",
        "f2",
        "22",
        "n",
        "-3",
    ]));
    let mut h = strs(&["HSET", "hash:big"]);
    h.extend(big_hash.iter().map(|s| s.as_bytes().to_vec()));
    cmds.push(h);
    cmds.push(strs(&["HSET", "hash:longval", "f", &long, "g", "1"]));
    cmds.push(strs(&[
        "ZADD",
        "zset:small",
        "1",
        "a",
        "2.5",
        "b",
        "-3",
        "c",
        "inf",
        "d",
        "-inf",
        "e",
        "0.1",
        "f",
    ]));
    let mut z = strs(&["ZADD", "zset:big"]);
    z.extend(big_zset.iter().map(|s| s.as_bytes().to_vec()));
    cmds.push(z);
    cmds.push(strs(&["ZADD", "zset:longmember", "1", &long, "2", "q"]));
    let mut keys = Vec::new();
    for cmd in &cmds {
        let args: Vec<&[u8]> = cmd.iter().map(|a| &a[..]).collect();
        let r = c.call(&args);
        assert!(!r.starts_with(b"-"), "{}: {}", text(&cmd[0]), text(&r));
        keys.push(text(&cmd[1]));
    }
    keys
}

fn redis_available() -> bool {
    require_tool(REDIS_SERVER, "redis-server")
}

#[test]
fn dump_restore_round_trips_every_type_and_encoding() {
    let srv = Server::start(&[]);
    let mut c = Conn::to(&srv);
    let keys = populate(&mut c);
    for key in &keys {
        let original = c.snapshot(key);
        let payload = c.dump(key).expect("present");
        let copy = format!("copy:{key}");
        assert_eq!(c.restore(&copy, "0", &payload, &[]), "+OK\r\n", "{key}");
        assert_eq!(c.snapshot(&copy), original, "{key}");
        assert_eq!(c.s(&["PTTL", &copy]), ":-1\r\n");
        // The restored key dumps to the same payload.
        assert_eq!(c.dump(&copy).unwrap(), payload, "{key}");
    }
    assert_eq!(c.dump("missing"), None);
}

#[test]
fn payloads_are_exchanged_with_real_redis_both_ways() {
    if !redis_available() {
        return;
    }
    let shoal = Server::start(&[]);
    let redis = Server::start_binary(REDIS_SERVER, &[]);
    let (mut s, mut r) = (Conn::to(&shoal), Conn::to(&redis));
    let keys = populate(&mut s);
    assert_eq!(populate(&mut r), keys);
    for key in &keys {
        let from = format!("from:{key}");
        // Shoal's payload on Redis: the same value, in the encoding Redis
        // itself gives that data.
        let ours = s.dump(key).unwrap();
        assert_eq!(r.restore(&from, "0", &ours, &[]), "+OK\r\n", "{key}");
        assert_eq!(r.snapshot(&from), r.snapshot(key), "{key} on Redis");
        // Redis's payload on Shoal.
        let theirs = r.dump(key).unwrap();
        assert_eq!(s.restore(&from, "0", &theirs, &[]), "+OK\r\n", "{key}");
        assert_eq!(s.snapshot(&from), s.snapshot(key), "{key} on Shoal");
        // And the same content on both sides.
        assert_eq!(s.snapshot(key).0, r.snapshot(key).0, "{key}");
    }
}

/// RESTORE/DUMP/MIGRATE lines whose replies must equal Redis's byte for byte.
fn error_script(payload: &[u8]) -> Vec<Vec<Vec<u8>>> {
    let mut bad_crc = payload.to_vec();
    let n = bad_crc.len();
    bad_crc[n - 1] ^= 0xff;
    let mut v11 = payload[..n - 10].to_vec();
    v11.extend_from_slice(&11u16.to_le_bytes());
    let v11 = shoal_persistence::dump::seal(v11[..v11.len() - 2].to_vec())
        .into_iter()
        .enumerate()
        .map(|(i, b)| if i == n - 10 { 11 } else { b })
        .collect::<Vec<u8>>();
    let bad_data = shoal_persistence::dump::seal(vec![0x63, 1, 2, 3]);
    let empty_list = shoal_persistence::dump::seal(vec![18, 0]);
    let line = |parts: &[&[u8]]| parts.iter().map(|p| p.to_vec()).collect::<Vec<_>>();
    vec![
        line(&[b"SET", b"k", b"v"]),
        line(&[b"RESTORE", b"k", b"0", payload]),
        line(&[b"RESTORE", b"k", b"abc", payload]),
        line(&[b"RESTORE", b"new", b"-1", payload]),
        line(&[b"RESTORE", b"new", b"abc", payload]),
        line(&[b"RESTORE", b"new", b"0", b"short"]),
        line(&[b"RESTORE", b"new", b"0", b""]),
        line(&[b"RESTORE", b"new", b"0", &bad_crc]),
        line(&[b"RESTORE", b"new", b"0", &v11]),
        line(&[b"RESTORE", b"new", b"0", &bad_data]),
        line(&[b"RESTORE", b"new", b"0", &empty_list]),
        line(&[b"RESTORE", b"new", b"0", payload, b"IDLETIME", b"-1"]),
        line(&[b"RESTORE", b"new", b"0", payload, b"IDLETIME", b"x"]),
        line(&[b"RESTORE", b"new", b"0", payload, b"IDLETIME"]),
        line(&[b"RESTORE", b"new", b"0", payload, b"FREQ", b"256"]),
        line(&[b"RESTORE", b"new", b"0", payload, b"FREQ", b"-1"]),
        line(&[b"RESTORE", b"new", b"0", payload, b"FREQ", b"1.5"]),
        line(&[
            b"RESTORE",
            b"new",
            b"0",
            payload,
            b"IDLETIME",
            b"1",
            b"FREQ",
            b"1",
        ]),
        line(&[
            b"RESTORE",
            b"new",
            b"0",
            payload,
            b"FREQ",
            b"1",
            b"IDLETIME",
            b"1",
        ]),
        line(&[b"RESTORE", b"new", b"0", payload, b"NOPE"]),
        line(&[b"RESTORE", b"k", b"-1", payload, b"NOPE"]),
        line(&[b"RESTORE", b"new", b"0"]),
        line(&[
            b"RESTORE",
            b"new",
            b"0",
            payload,
            b"REPLACE",
            b"ABSTTL",
            b"IDLETIME",
            b"5",
        ]),
        line(&[
            b"RESTORE", b"new", b"0", payload, b"replace", b"absttl", b"freq", b"5",
        ]),
        line(&[b"RESTORE-ASKING", b"k", b"0", payload]),
        line(&[b"RESTORE-ASKING", b"other", b"0", payload]),
        line(&[b"GET", b"other"]),
        line(&[b"DUMP"]),
        line(&[b"DUMP", b"a", b"b"]),
        line(&[b"DUMP", b"nokey"]),
        line(&[b"MIGRATE", b"127.0.0.1", b"1", b"k", b"0"]),
        line(&[
            b"MIGRATE",
            b"127.0.0.1",
            b"1",
            b"k",
            b"0",
            b"100",
            b"KEYS",
            b"a",
        ]),
        line(&[b"MIGRATE", b"127.0.0.1", b"1", b"k", b"0", b"100", b"AUTH"]),
        line(&[
            b"MIGRATE",
            b"127.0.0.1",
            b"1",
            b"k",
            b"0",
            b"100",
            b"AUTH2",
            b"u",
        ]),
        line(&[b"MIGRATE", b"127.0.0.1", b"1", b"k", b"0", b"100", b"BOGUS"]),
        line(&[b"MIGRATE", b"127.0.0.1", b"1", b"k", b"x", b"100"]),
        line(&[b"MIGRATE", b"127.0.0.1", b"1", b"k", b"0", b"x"]),
        line(&[b"MIGRATE", b"127.0.0.1", b"1", b"nokey", b"0", b"100"]),
        line(&[
            b"MIGRATE",
            b"127.0.0.1",
            b"1",
            b"",
            b"0",
            b"100",
            b"KEYS",
            b"n1",
            b"n2",
        ]),
        line(&[
            b"MIGRATE",
            b"127.0.0.1",
            b"1",
            b"",
            b"0",
            b"100",
            b"COPY",
            b"REPLACE",
            b"AUTH",
            b"p",
            b"KEYS",
        ]),
        line(&[
            b"COMMAND", b"GETKEYS", b"MIGRATE", b"h", b"p", b"", b"0", b"5000", b"KEYS", b"a", b"b",
        ]),
        line(&[
            b"COMMAND", b"GETKEYS", b"MIGRATE", b"h", b"p", b"a", b"0", b"5000",
        ]),
        line(&[
            b"COMMAND", b"GETKEYS", b"MIGRATE", b"h", b"p", b"", b"0", b"5000", b"AUTH", b"keys",
            b"KEYS", b"q",
        ]),
        line(&[
            b"COMMAND", b"GETKEYS", b"MIGRATE", b"h", b"p", b"", b"0", b"5000", b"AUTH2", b"keys",
            b"keys", b"KEYS", b"q",
        ]),
        line(&[
            b"COMMAND", b"GETKEYS", b"MIGRATE", b"h", b"p", b"", b"0", b"5000", b"COPY", b"REPLACE",
        ]),
        line(&[b"COMMAND", b"GETKEYS", b"RESTORE", b"k", b"0", b"p"]),
        line(&[b"COMMAND", b"GETKEYS", b"DUMP", b"k"]),
    ]
}

#[test]
fn errors_and_edge_replies_match_redis() {
    if !redis_available() {
        return;
    }
    let shoal = Server::start(&[]);
    let redis = Server::start_binary(REDIS_SERVER, &[]);
    let (mut s, mut r) = (Conn::to(&shoal), Conn::to(&redis));
    s.s(&["SET", "src", "value"]);
    let payload = s.dump("src").unwrap();
    for line in error_script(&payload) {
        let args: Vec<&[u8]> = line.iter().map(|a| &a[..]).collect();
        let (ours, theirs) = (s.call(&args), r.call(&args));
        assert_eq!(
            text(&ours),
            text(&theirs),
            "{:?}",
            args.iter().take(8).map(|a| text(a)).collect::<Vec<_>>()
        );
    }
}

#[test]
fn restore_ttl_absttl_and_past_expiry() {
    let srv = Server::start(&[]);
    let mut c = Conn::to(&srv);
    c.s(&["SET", "src", "v"]);
    let p = c.dump("src").unwrap();
    assert_eq!(c.restore("rel", "5000", &p, &[]), "+OK\r\n");
    let pttl = c.int(&["PTTL", "rel"]);
    assert!((4000..=5000).contains(&pttl), "{pttl}");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let at = (now_ms + 60_000).to_string();
    assert_eq!(c.restore("abs", &at, &p, &["ABSTTL"]), "+OK\r\n");
    assert_eq!(c.s(&["PEXPIRETIME", "abs"]), format!(":{at}\r\n"));
    // Already expired: not created, and REPLACE removes the old key.
    let past = (now_ms - 1000).to_string();
    assert_eq!(c.restore("gone", &past, &p, &["ABSTTL"]), "+OK\r\n");
    assert_eq!(c.s(&["EXISTS", "gone"]), ":0\r\n");
    assert_eq!(
        c.restore("abs", &past, &p, &["ABSTTL", "REPLACE"]),
        "+OK\r\n"
    );
    assert_eq!(c.s(&["EXISTS", "abs"]), ":0\r\n");
    assert_eq!(c.restore("one", "1", &p, &["ABSTTL"]), "+OK\r\n");
    assert_eq!(c.s(&["EXISTS", "one"]), ":0\r\n");
    // REPLACE over a key with a TTL and no new TTL: persistent.
    assert_eq!(c.restore("rel", "0", &p, &["REPLACE"]), "+OK\r\n");
    assert_eq!(c.s(&["PTTL", "rel"]), ":-1\r\n");
    assert_eq!(
        c.restore("rel", "0", &p, &[]),
        "-BUSYKEY Target key name already exists.\r\n"
    );
    // An expired key does not block RESTORE.
    c.s(&["SET", "exp", "x", "PX", "1"]);
    assert!(wait_until(Duration::from_secs(5), || {
        c.s(&["PTTL", "exp"]) == ":-2\r\n" || c.restore("exp", "0", &p, &[]) == "+OK\r\n"
    }));
    c.s(&["DEL", "exp"]);
    c.s(&["SET", "exp", "x", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(c.restore("exp", "0", &p, &[]), "+OK\r\n");
    assert_eq!(c.s(&["GET", "exp"]), "$1\r\nv\r\n");
}

#[test]
fn restore_idletime_and_freq_set_the_access_clock() {
    let srv = Server::start(&[]);
    let mut c = Conn::to(&srv);
    c.s(&["SET", "src", "v"]);
    let p = c.dump("src").unwrap();
    // The LRU clock counts seconds since the server started; wait until it
    // can represent an idle time of 2 s.
    assert!(wait_until(Duration::from_secs(10), || {
        info_field(&c.s(&["INFO", "server"]), "lru_clock")
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|v| v >= 3)
    }));
    assert_eq!(c.restore("idle", "0", &p, &["IDLETIME", "2"]), "+OK\r\n");
    let idle = c.int(&["OBJECT", "IDLETIME", "idle"]);
    assert!((2..=3).contains(&idle), "{idle}");
    assert_eq!(c.restore("fresh", "0", &p, &["FREQ", "100"]), "+OK\r\n");
    assert!(
        c.int(&["OBJECT", "IDLETIME", "fresh"]) <= 1,
        "FREQ is ignored under LRU"
    );
    assert_eq!(
        c.s(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"]),
        "+OK\r\n"
    );
    assert_eq!(c.restore("freq", "0", &p, &["FREQ", "100"]), "+OK\r\n");
    assert_eq!(c.int(&["OBJECT", "FREQ", "freq"]), 100);
    assert_eq!(c.restore("freq0", "0", &p, &["FREQ", "0"]), "+OK\r\n");
    assert_eq!(c.int(&["OBJECT", "FREQ", "freq0"]), 0);
    assert_eq!(
        c.restore("lfu-idle", "0", &p, &["IDLETIME", "1000"]),
        "+OK\r\n"
    );
    assert_eq!(
        c.int(&["OBJECT", "FREQ", "lfu-idle"]),
        5,
        "IDLETIME is ignored under LFU"
    );
}

#[test]
fn restore_notifies_and_propagates_an_absolute_ttl() {
    let srv = Server::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut c = Conn::to(&srv);
    c.s(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    let mut sub = Conn::to(&srv);
    sub.s(&["SUBSCRIBE", "__keyevent@0__:restore"]);
    c.s(&["SET", "src", "v"]);
    let p = c.dump("src").unwrap();
    assert_eq!(c.restore("k", "100000", &p, &["IDLETIME", "3"]), "+OK\r\n");
    let msg = text(&sub.0.read_reply(IO_TIMEOUT).expect("notification"));
    assert!(
        msg.contains("__keyevent@0__:restore") && msg.ends_with("$1\r\nk\r\n"),
        "{msg}"
    );
    assert_eq!(c.restore("p", "0", &p, &[]), "+OK\r\n");
    // An expired REPLACE deletes: propagated as DEL.
    assert_eq!(c.restore("p", "1", &p, &["ABSTTL", "REPLACE"]), "+OK\r\n");
    // An expired RESTORE of a missing key changes nothing.
    assert_eq!(c.restore("q", "1", &p, &["ABSTTL"]), "+OK\r\n");
    let aof = read_incr_aof(&srv);
    let restore_k = find_command(&aof, "RESTORE").expect("RESTORE propagated");
    assert_eq!(restore_k.len(), 7, "{restore_k:?}");
    assert_eq!(restore_k[1], "k");
    let at: u64 = restore_k[2].parse().unwrap();
    assert!(at > 1_600_000_000_000, "absolute ms: {at}");
    assert!(restore_k[4].eq_ignore_ascii_case("IDLETIME") && restore_k[6] == "ABSTTL");
    let cmds = all_commands(&aof);
    assert!(cmds.iter().any(|c| c == &["DEL", "p"]), "{cmds:?}");
    assert!(!cmds.iter().any(|c| c.len() > 1 && c[1] == "q"), "{cmds:?}");
}

fn read_incr_aof(srv: &Server) -> Vec<u8> {
    let dir = srv.dir().join("appendonlydir");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).expect("appendonlydir") {
        let p = e.unwrap().path();
        if p.to_string_lossy().ends_with(".incr.aof") {
            out.extend(std::fs::read(&p).unwrap());
        }
    }
    out
}

/// The commands in an AOF byte stream, as lossy strings.
fn all_commands(aof: &[u8]) -> Vec<Vec<String>> {
    let mut cmds = Vec::new();
    let mut pos = 0;
    while pos < aof.len() {
        let Some(n) = resp_value_len(&aof[pos..]) else {
            break;
        };
        let one = &aof[pos..pos + n];
        pos += n;
        let mut args = Vec::new();
        let mut i = one.iter().position(|&b| b == b'\n').unwrap() + 1;
        while i < one.len() {
            let nl = i + one[i..].iter().position(|&b| b == b'\n').unwrap();
            let len: usize = text(&one[i + 1..nl - 1]).parse().unwrap();
            args.push(text(&one[nl + 1..nl + 1 + len]));
            i = nl + 1 + len + 2;
        }
        cmds.push(args);
    }
    cmds
}

fn find_command(aof: &[u8], name: &str) -> Option<Vec<String>> {
    all_commands(aof)
        .into_iter()
        .find(|c| c[0].eq_ignore_ascii_case(name))
}

#[test]
fn fuzzed_payloads_get_an_error_never_a_crash() {
    let mut srv = Server::start(&[]);
    let mut c = Conn::to(&srv);
    let keys = populate(&mut c);
    let payloads: Vec<Vec<u8>> = keys.iter().map(|k| c.dump(k).unwrap()).collect();
    let mut rng = Rng(0xdecaf);
    let mut cases: Vec<Vec<u8>> = Vec::new();
    for p in &payloads {
        // Truncations (the footer then no longer matches).
        let step = (p.len() / 40).max(1);
        for len in (0..p.len()).step_by(step) {
            cases.push(p[..len].to_vec());
        }
        // Bit flips anywhere.
        for _ in 0..40 {
            let mut q = p.clone();
            let i = rng.below(q.len());
            q[i] ^= 1 << rng.below(8);
            cases.push(q);
        }
        // Damage inside a valid footer: the decoder itself sees it.
        let body = &p[..p.len() - 10];
        for _ in 0..120 {
            let mut b = body.to_vec();
            match rng.below(4) {
                0 => {
                    let i = rng.below(b.len());
                    b[i] ^= 1 << rng.below(8);
                }
                1 => b.truncate(rng.below(b.len())),
                2 => {
                    let i = rng.below(b.len());
                    b[i] = rng.next() as u8;
                    let j = rng.below(b.len());
                    b[j] = 0xff;
                }
                _ => {
                    let i = rng.below(b.len() + 1);
                    let junk: Vec<u8> = (0..rng.below(16) + 1).map(|_| rng.next() as u8).collect();
                    b.splice(i..i, junk);
                }
            }
            cases.push(shoal_persistence::dump::seal(b));
        }
    }
    // Random bodies of every object type byte.
    for t in 0..=255u8 {
        for _ in 0..4 {
            let mut b = vec![t];
            b.extend((0..rng.below(40)).map(|_| rng.next() as u8));
            cases.push(shoal_persistence::dump::seal(b));
        }
    }
    let mut accepted = 0;
    for chunk in cases.chunks(64) {
        let mut req = Vec::new();
        for p in chunk {
            req.extend(encode_bytes(&[b"RESTORE", b"fuzz", b"0", p, b"REPLACE"]));
            req.extend(encode_bytes(&[b"DUMP", b"fuzz"]));
        }
        c.0.send(&req);
        for _ in chunk {
            let r = c.0.read_reply(IO_TIMEOUT).expect("RESTORE reply");
            let _dump = c.0.read_reply(IO_TIMEOUT).expect("DUMP reply");
            let r = text(&r);
            match r.as_str() {
                "+OK\r\n" => accepted += 1,
                "-ERR DUMP payload version or checksum are wrong\r\n"
                | "-ERR Bad data format\r\n" => {}
                other => panic!("unexpected RESTORE reply {other:?}"),
            }
        }
    }
    eprintln!("{} fuzzed payloads, {accepted} decoded", cases.len());
    srv.assert_alive();
}

/// A Shoal or Redis source with a few keys, for MIGRATE scenarios.
fn migrate_source(binary: &str, args: &[&str]) -> Server {
    let srv = Server::start_binary(binary, args);
    let mut c = Conn::to(&srv);
    c.s(&["SET", "a", "1"]);
    c.s(&["RPUSH", "b", "x", "y"]);
    c.s(&["SET", "ttl", "t", "PX", "100000"]);
    srv
}

#[test]
fn migrate_shoal_to_redis_and_back_moves_every_type() {
    if !redis_available() {
        return;
    }
    let shoal = Server::start(&[]);
    let redis = Server::start_binary(REDIS_SERVER, &[]);
    let (mut s, mut r) = (Conn::to(&shoal), Conn::to(&redis));
    let keys = populate(&mut s);
    s.s(&["PEXPIRE", "str:short", "100000"]);
    let before: Vec<(String, String)> = keys.iter().map(|k| s.snapshot(k)).collect();
    let port = redis.port.to_string();
    let mut args: Vec<&str> = vec![
        "MIGRATE",
        "127.0.0.1",
        &port,
        "",
        "0",
        "5000",
        "REPLACE",
        "KEYS",
    ];
    args.extend(keys.iter().map(|k| k.as_str()));
    assert_eq!(s.s(&args), "+OK\r\n");
    assert_eq!(s.s(&["DBSIZE"]), ":0\r\n");
    for (k, (content, _)) in keys.iter().zip(&before) {
        assert_eq!(&r.snapshot(k).0, content, "{k} on Redis");
    }
    let pttl = r.int(&["PTTL", "str:short"]);
    assert!((90_000..=100_000).contains(&pttl), "{pttl}");
    assert_eq!(r.s(&["PTTL", "str:int"]), ":-1\r\n");
    // And back: Redis migrates to Shoal.
    let port = shoal.port.to_string();
    args[2] = &port;
    assert_eq!(r.s(&args), "+OK\r\n");
    assert_eq!(r.s(&["DBSIZE"]), ":0\r\n");
    for (k, snap) in keys.iter().zip(&before) {
        assert_eq!(&s.snapshot(k), snap, "{k} back on Shoal");
    }
    let pttl = s.int(&["PTTL", "str:short"]);
    assert!((80_000..=100_000).contains(&pttl), "{pttl}");
}

/// Run the same MIGRATE scenario from a Shoal source and a Redis source
/// to targets of the same binary; the replies must be identical.
fn same_from_both_sources(target_bin: &str, target_args: &[&str], scenario: &[&[&str]]) {
    let mut replies = Vec::new();
    for src_bin in [shoal_bin(), REDIS_SERVER] {
        let target = Server::start_binary(target_bin, target_args);
        let src = migrate_source(src_bin, &[]);
        let mut c = Conn::to(&src);
        let port = target.port.to_string();
        let mut got = Vec::new();
        for line in scenario {
            let args: Vec<&str> = line
                .iter()
                .map(|a| if *a == "$PORT" { port.as_str() } else { a })
                .collect();
            got.push(c.s(&args));
        }
        replies.push(got);
    }
    assert_eq!(replies[0], replies[1], "Shoal source vs Redis source");
}

#[test]
fn migrate_options_and_errors_match_redis() {
    if !redis_available() {
        return;
    }
    for target in [shoal_bin(), REDIS_SERVER] {
        same_from_both_sources(
            target,
            &[],
            &[
                &["MIGRATE", "127.0.0.1", "$PORT", "a", "0", "5000", "COPY"],
                &["EXISTS", "a"],
                &["MIGRATE", "127.0.0.1", "$PORT", "a", "0", "5000"],
                &["MIGRATE", "127.0.0.1", "$PORT", "a", "0", "5000", "REPLACE"],
                &["EXISTS", "a"],
                &["SET", "a", "2"],
                &[
                    "MIGRATE",
                    "127.0.0.1",
                    "$PORT",
                    "",
                    "0",
                    "5000",
                    "KEYS",
                    "a",
                    "b",
                    "nokey",
                ],
                &["EXISTS", "a", "b"],
                &[
                    "MIGRATE",
                    "127.0.0.1",
                    "$PORT",
                    "",
                    "0",
                    "5000",
                    "REPLACE",
                    "KEYS",
                    "a",
                    "b",
                    "nokey",
                ],
                &["EXISTS", "a", "b"],
                &[
                    "MIGRATE",
                    "127.0.0.1",
                    "$PORT",
                    "",
                    "0",
                    "5000",
                    "KEYS",
                    "nokey",
                ],
                &["MIGRATE", "127.0.0.1", "$PORT", "ttl", "3", "5000"],
                &["SET", "x", "1"],
                &["MIGRATE", "127.0.0.1", "$PORT", "x", "3", "5000"],
                &["SET", "x", "1"],
                &[
                    "MIGRATE",
                    "127.0.0.1",
                    "$PORT",
                    "x",
                    "0",
                    "5000",
                    "AUTH",
                    "nopass",
                ],
                &["MIGRATE", "127.0.0.1", "$PORT", "x", "99", "5000"],
                &["MIGRATE", "127.0.0.1", "$PORT", "x", "0", "5000"],
                &["EXISTS", "x"],
            ],
        );
        same_from_both_sources(
            target,
            &["--requirepass", "pw"],
            &[
                &["MIGRATE", "127.0.0.1", "$PORT", "a", "0", "5000"],
                &[
                    "MIGRATE",
                    "127.0.0.1",
                    "$PORT",
                    "a",
                    "0",
                    "5000",
                    "AUTH",
                    "wrong",
                ],
                &[
                    "MIGRATE",
                    "127.0.0.1",
                    "$PORT",
                    "a",
                    "0",
                    "5000",
                    "AUTH",
                    "pw",
                ],
                &[
                    "MIGRATE",
                    "127.0.0.1",
                    "$PORT",
                    "",
                    "0",
                    "5000",
                    "AUTH2",
                    "default",
                    "pw",
                    "KEYS",
                    "b",
                    "ttl",
                ],
                &["DBSIZE"],
            ],
        );
    }
}

#[test]
fn migrate_lands_in_the_target_database_with_its_ttl() {
    let target = Server::start(&[]);
    let src = migrate_source(shoal_bin(), &[]);
    let (mut s, mut t) = (Conn::to(&src), Conn::to(&target));
    let port = target.port.to_string();
    assert_eq!(
        s.s(&["MIGRATE", "127.0.0.1", &port, "ttl", "3", "5000"]),
        "+OK\r\n"
    );
    assert_eq!(
        s.s(&["MIGRATE", "127.0.0.1", &port, "a", "0", "5000"]),
        "+OK\r\n"
    );
    assert_eq!(
        s.s(&["MIGRATE", "127.0.0.1", &port, "b", "3", "5000"]),
        "+OK\r\n"
    );
    assert_eq!(t.s(&["KEYS", "*"]), "*1\r\n$1\r\na\r\n");
    t.s(&["SELECT", "3"]);
    assert_eq!(sorted_elements(&t.s(&["KEYS", "*"])), "b,ttl");
    let pttl = t.int(&["PTTL", "ttl"]);
    assert!((90_000..=100_000).contains(&pttl), "{pttl}");
}

#[test]
fn migrate_io_errors_match_redis() {
    if !redis_available() {
        return;
    }
    // A port nobody listens on; a peer that accepts and never answers; a
    // peer that closes every connection at once.
    let closed = free_port();
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port().to_string();
    let closing = TcpListener::bind("127.0.0.1:0").unwrap();
    let closing_port = closing.local_addr().unwrap().port().to_string();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    closing.set_nonblocking(true).unwrap();
    let closer = std::thread::spawn(move || {
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            match closing.accept() {
                Ok((s, _)) => drop(s),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    let closed = closed.to_string();
    let scenario: Vec<Vec<&str>> = vec![
        vec!["MIGRATE", "127.0.0.1", &closed, "a", "0", "500"],
        vec!["MIGRATE", "host.invalid", "6379", "a", "0", "500"],
        vec!["MIGRATE", "127.0.0.1", &silent_port, "a", "0", "300"],
        vec!["MIGRATE", "127.0.0.1", &closing_port, "a", "0", "500"],
        vec!["EXISTS", "a"],
    ];
    let mut replies = Vec::new();
    for bin in [shoal_bin(), REDIS_SERVER] {
        let src = migrate_source(bin, &[]);
        let mut c = Conn::to(&src);
        let started = Instant::now();
        let got: Vec<String> = scenario.iter().map(|l| c.s(l)).collect();
        assert!(started.elapsed() < Duration::from_secs(8));
        replies.push(got);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    closer.join().unwrap();
    drop(silent);
    assert_eq!(replies[0], replies[1], "Shoal vs Redis");
    assert_eq!(
        replies[0][0],
        "-IOERR error or timeout writing to target instance\r\n"
    );
    assert_eq!(
        replies[0][2],
        "-IOERR error or timeout reading to target instance\r\n"
    );
}

#[test]
fn migrate_reuses_its_connection_and_recovers_when_it_is_closed() {
    let target = Server::start(&[]);
    let src = Server::start(&[]);
    let (mut s, mut t) = (Conn::to(&src), Conn::to(&target));
    let port = target.port.to_string();
    let clients = |t: &mut Conn| {
        let info = t.s(&["INFO", "clients"]);
        info_field(&info, "connected_clients")
            .unwrap()
            .parse::<i64>()
            .unwrap()
    };
    let base = clients(&mut t);
    for i in 0..5 {
        let k = format!("k{i}");
        s.s(&["SET", &k, "v"]);
        assert_eq!(
            s.s(&["MIGRATE", "127.0.0.1", &port, &k, "0", "5000"]),
            "+OK\r\n"
        );
    }
    assert_eq!(clients(&mut t), base + 1, "one cached connection");
    // The target drops it; the next MIGRATE reconnects transparently.
    t.s(&["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"]);
    s.s(&["SET", "after", "v"]);
    assert_eq!(
        s.s(&["MIGRATE", "127.0.0.1", &port, "after", "0", "5000"]),
        "+OK\r\n"
    );
    assert_eq!(t.s(&["EXISTS", "after"]), ":1\r\n");
    // A different db on the cached connection is SELECTed again.
    s.s(&["SET", "other", "v"]);
    assert_eq!(
        s.s(&["MIGRATE", "127.0.0.1", &port, "other", "5", "5000"]),
        "+OK\r\n"
    );
    s.s(&["SET", "back", "v"]);
    assert_eq!(
        s.s(&["MIGRATE", "127.0.0.1", &port, "back", "0", "5000"]),
        "+OK\r\n"
    );
    assert_eq!(t.s(&["EXISTS", "back", "other"]), ":1\r\n");
    t.s(&["SELECT", "5"]);
    assert_eq!(t.s(&["EXISTS", "other"]), ":1\r\n");
    // Unused for over 10 s, the connection is closed.
    assert!(wait_until(Duration::from_secs(20), || clients(&mut t) == base));
}

#[test]
fn migrate_in_reshard_form_moves_a_batch_and_propagates_del() {
    let target = Server::start(&["--requirepass", "pw"]);
    let src = Server::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let (mut s, mut t) = (Conn::to(&src), Conn::to(&target));
    let keys: Vec<String> = (0..300).map(|i| format!("{{slot}}key{i}")).collect();
    for k in &keys {
        s.s(&["SET", k, k]);
    }
    s.s(&["RPUSH", "{slot}key0-list", "a"]);
    let port = target.port.to_string();
    // What redis-cli --cluster reshard sends: MIGRATE h p "" 0 timeout REPLACE AUTH pw KEYS ...
    let mut args: Vec<&str> = vec![
        "MIGRATE",
        "127.0.0.1",
        &port,
        "",
        "0",
        "60000",
        "REPLACE",
        "AUTH",
        "pw",
        "KEYS",
    ];
    args.extend(keys.iter().map(|k| k.as_str()));
    assert_eq!(s.s(&args), "+OK\r\n");
    assert_eq!(s.s(&["DBSIZE"]), ":1\r\n");
    t.s(&["AUTH", "pw"]);
    assert_eq!(t.s(&["DBSIZE"]), ":300\r\n");
    assert_eq!(t.s(&["GET", "{slot}key299"]), "$12\r\n{slot}key299\r\n");
    // Again with COPY: the keys stay, nothing is propagated.
    s.s(&["SET", "{slot}key0", "new"]);
    let mut copy = vec![
        "MIGRATE",
        "127.0.0.1",
        &port,
        "",
        "0",
        "60000",
        "COPY",
        "REPLACE",
        "AUTH",
        "pw",
        "KEYS",
        "{slot}key0",
    ];
    assert_eq!(s.s(&copy), "+OK\r\n");
    assert_eq!(t.s(&["GET", "{slot}key0"]), "$3\r\nnew\r\n");
    assert_eq!(s.s(&["EXISTS", "{slot}key0"]), ":1\r\n");
    copy[6] = "REPLACE";
    let cmds = all_commands(&read_incr_aof(&src));
    let dels: Vec<&Vec<String>> = cmds.iter().filter(|c| c[0] == "DEL").collect();
    assert_eq!(dels.len(), 1, "one DEL for the batch");
    assert_eq!(dels[0].len(), 301);
    assert!(!cmds.iter().any(|c| c[0].eq_ignore_ascii_case("MIGRATE")));
}

#[test]
fn migrate_of_a_watched_key_aborts_the_transaction() {
    let target = Server::start(&[]);
    let src = Server::start(&[]);
    let (mut s, mut w) = (Conn::to(&src), Conn::to(&src));
    s.s(&["SET", "k", "v"]);
    w.s(&["WATCH", "k"]);
    w.s(&["MULTI"]);
    w.s(&["SET", "k", "mine"]);
    let port = target.port.to_string();
    assert_eq!(
        s.s(&["MIGRATE", "127.0.0.1", &port, "k", "0", "5000"]),
        "+OK\r\n"
    );
    assert_eq!(w.s(&["EXEC"]), "*-1\r\n");
}

/// DUMP's bytes from Shoal are Redis's bytes for the plain encodings
/// (compressed strings differ: our LZF finds other matches, both decode).
#[test]
fn dump_bytes_equal_redis_for_common_values() {
    if !redis_available() {
        return;
    }
    let shoal = Server::start(&[]);
    let redis = Server::start_binary(REDIS_SERVER, &[]);
    let (mut s, mut r) = (Conn::to(&shoal), Conn::to(&redis));
    for c in [&mut s, &mut r] {
        c.s(&["SET", "str", "hello"]);
        c.s(&["SET", "int", "12345"]);
        c.s(&["RPUSH", "list", "a", "b", "1", "2"]);
        c.s(&["SADD", "intset", "1", "2", "3"]);
    }
    for k in ["str", "int", "list", "intset"] {
        assert_eq!(s.dump(k), r.dump(k), "{k}");
    }
    let _ = std::io::stderr().flush();
}

/// Writes racing a MIGRATE of their key are never lost: each APPEND that
/// was acknowledged is in the copy the target got, or in the key the source
/// holds after the move (a write after the delete recreates it there), never
/// deleted unsent. Without any AOF or replica attached, so no propagation
/// lock serializes the writers behind MIGRATE.
#[test]
fn writes_racing_migrate_are_never_lost() {
    let source = Server::start(&[]);
    let target = Server::start(&[]);
    let tport = target.port.to_string();
    let (mut s, mut t) = (Conn::to(&source), Conn::to(&target));
    for round in 0..30 {
        assert_eq!(s.s(&["SET", "k", ""]), "+OK\r\n");
        assert_eq!(
            t.s(&["DEL", "k"]),
            if round == 0 { ":0\r\n" } else { ":1\r\n" }
        );
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let stop = stop.clone();
            let mut w = Conn::to(&source);
            std::thread::spawn(move || {
                let mut acked = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let r = w.s(&["APPEND", "k", "x"]);
                    assert!(r.starts_with(':'), "APPEND: {r}");
                    acked += 1;
                }
                acked
            })
        };
        // Let some appends land first, then move the key under the writer.
        while s.int(&["STRLEN", "k"]) < 20 {}
        assert_eq!(
            s.s(&["MIGRATE", "127.0.0.1", &tport, "k", "0", "5000", "REPLACE"]),
            "+OK\r\n"
        );
        // A few more appends recreate the key on the source.
        while s.int(&["STRLEN", "k"]) < 5 {}
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let acked = writer.join().expect("writer");
        let moved = t.int(&["STRLEN", "k"]) as u64;
        let after = s.int(&["STRLEN", "k"]) as u64;
        assert_eq!(
            moved + after,
            acked,
            "round {round}: {acked} appends acknowledged, {moved} moved + {after} after the move"
        );
    }
}
