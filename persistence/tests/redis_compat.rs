//! The RDB codec and DUMP payloads against a real Redis 7.0 server:
//! (a) Redis SAVEs every type in compact and large encodings and our reader
//! decodes dump.rdb; (b) our writer produces the same data, redis-check-rdb
//! accepts it and redis-server loads it; (c) DUMP from Redis decodes with
//! ours, our payloads RESTORE into Redis. Skipped (with a note) when
//! /usr/bin/redis-server is missing.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use shoal_persistence::dump;
use shoal_persistence::rdb::{EncodeOptions, Item, KeyMeta, Object, RdbReader, RdbWriter};

const REDIS_SERVER: &str = "/usr/bin/redis-server";
const REDIS_CHECK_RDB: &str = "/usr/bin/redis-check-rdb";
const STARTUP_DEADLINE: Duration = Duration::from_secs(20);
/// An absolute expiry far enough ahead that nothing expires during a test.
const EXPIRE_AT_MS: u64 = 4_102_444_800_000;
const FUNCTION_CODE: &str =
    "#!lua name=compatlib\nredis.register_function('compatfn', function(keys, args) return 42 end)";

fn redis_available() -> bool {
    if Path::new(REDIS_SERVER).exists() {
        true
    } else {
        eprintln!("note: {REDIS_SERVER} not found; skipping real-Redis RDB checks");
        false
    }
}

/// A scratch directory removed on drop (also when a test fails).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "shoal-rdb-compat-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[derive(Debug, Clone, PartialEq)]
enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    fn bulk(self) -> Vec<u8> {
        match self {
            Reply::Bulk(Some(b)) => b,
            other => panic!("expected a bulk string, got {other:?}"),
        }
    }

    fn array(self) -> Vec<Reply> {
        match self {
            Reply::Array(Some(v)) => v,
            other => panic!("expected an array, got {other:?}"),
        }
    }

    fn int(self) -> i64 {
        match self {
            Reply::Int(v) => v,
            other => panic!("expected an integer, got {other:?}"),
        }
    }

    fn status(self) -> String {
        match self {
            Reply::Status(s) => s,
            other => panic!("expected a status, got {other:?}"),
        }
    }
}

struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    fn connect(port: u16) -> std::io::Result<Conn> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Conn {
            reader: BufReader::new(s.try_clone()?),
            writer: s,
        })
    }

    fn send(&mut self, args: &[&[u8]]) -> std::io::Result<Reply> {
        let mut buf = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            buf.extend_from_slice(a);
            buf.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&buf)?;
        self.read_reply()
    }

    fn cmd(&mut self, args: &[&[u8]]) -> Reply {
        self.send(args).expect("redis I/O")
    }

    fn ok(&mut self, args: &[&[u8]]) {
        if let Reply::Error(e) = self.cmd(args) {
            panic!("{:?}: {e}", String::from_utf8_lossy(args[0]));
        }
    }

    fn read_reply(&mut self) -> std::io::Result<Reply> {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line)?;
        if line.len() < 3 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed",
            ));
        }
        let text = String::from_utf8_lossy(&line[1..line.len() - 2]).to_string();
        Ok(match line[0] {
            b'+' => Reply::Status(text),
            b'-' => Reply::Error(text),
            b':' => Reply::Int(text.parse().unwrap()),
            b'$' => {
                let n: i64 = text.parse().unwrap();
                if n < 0 {
                    Reply::Bulk(None)
                } else {
                    let mut data = vec![0; n as usize + 2];
                    self.reader.read_exact(&mut data)?;
                    data.truncate(n as usize);
                    Reply::Bulk(Some(data))
                }
            }
            b'*' => {
                let n: i64 = text.parse().unwrap();
                if n < 0 {
                    Reply::Array(None)
                } else {
                    let mut v = Vec::new();
                    for _ in 0..n {
                        v.push(self.read_reply()?);
                    }
                    Reply::Array(Some(v))
                }
            }
            other => panic!("bad reply type {other}"),
        })
    }
}

/// A redis-server child bound to 127.0.0.1, killed on drop.
struct Redis {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Redis {
    fn start(dir: &Path) -> Redis {
        let port = free_port();
        let log = std::fs::File::create(dir.join("redis.log")).unwrap();
        let child = Command::new(REDIS_SERVER)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(dir)
            .args([
                "--dbfilename",
                "dump.rdb",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::from(log))
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let mut redis = Redis {
            child,
            port,
            dir: dir.to_path_buf(),
        };
        redis.wait_ready();
        redis
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + STARTUP_DEADLINE;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
                panic!("redis-server exited with {status}:\n{log}");
            }
            if let Ok(mut c) = Conn::connect(self.port) {
                if let Ok(Reply::Status(s)) = c.send(&[b"PING"]) {
                    if s == "PONG" {
                        return;
                    }
                }
            }
            assert!(Instant::now() < deadline, "redis-server not ready in time");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn conn(&self) -> Conn {
        Conn::connect(self.port).unwrap()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Key {
    db: u64,
    name: Vec<u8>,
    value: Object,
    expire_at_ms: Option<u64>,
    /// OBJECT ENCODING Redis reports for it (when Redis holds this data).
    encoding: &'static str,
}

fn pseudo_random_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// Every type in small (listpack/intset) and large (hashtable, skiplist,
/// multi-node quicklist) encodings, some with expiries, in two databases.
fn dataset() -> Vec<Key> {
    let long_elem = |i: usize| format!("{i:0>80}").into_bytes();
    let key = |db, name: &str, value, expire: bool, encoding| Key {
        db,
        name: b(name),
        value,
        expire_at_ms: expire.then_some(EXPIRE_AT_MS),
        encoding,
    };
    vec![
        key(0, "s:small", Object::Str(b("hello")), false, "embstr"),
        key(0, "s:int", Object::Str(b("12345")), true, "int"),
        key(0, "s:neg", Object::Str(b("-70000")), false, "int"),
        key(
            0,
            "s:i64max",
            Object::Str(b("9223372036854775807")),
            false,
            "int",
        ),
        key(0, "s:empty", Object::Str(Vec::new()), false, "embstr"),
        key(
            0,
            "s:compressible",
            Object::Str(b"abcdefgh".repeat(500)),
            true,
            "raw",
        ),
        key(
            0,
            "s:binary",
            Object::Str(pseudo_random_bytes(5, 3000)),
            false,
            "raw",
        ),
        key(
            0,
            "l:small",
            Object::List(vec![b("a"), b("1"), b("-2"), b(""), b("hello world")]),
            false,
            "quicklist",
        ),
        key(
            0,
            "l:large",
            Object::List({
                let mut v: Vec<Vec<u8>> = (0..300).map(long_elem).collect();
                v.push(vec![b'x'; 10_000]);
                v.extend((0..200).map(|i| i.to_string().into_bytes()));
                v
            }),
            true,
            "quicklist",
        ),
        key(
            0,
            "set:intset",
            Object::Set(vec![b("1"), b("-5"), b("100000"), b("9223372036854775807")]),
            false,
            "intset",
        ),
        key(
            0,
            "set:strs",
            Object::Set(vec![b("a"), b("b"), b("c")]),
            false,
            "hashtable",
        ),
        key(
            0,
            "set:many-ints",
            Object::Set((0..600).map(|i| (i * 7).to_string().into_bytes()).collect()),
            true,
            "hashtable",
        ),
        key(
            0,
            "set:long",
            Object::Set((0..200).map(long_elem).collect()),
            false,
            "hashtable",
        ),
        key(
            0,
            "h:small",
            Object::Hash(vec![(b("f1"), b("v1")), (b("n"), b("42")), (b("e"), b(""))]),
            true,
            "listpack",
        ),
        key(
            0,
            "h:many",
            Object::Hash(
                (0..600)
                    .map(|i| (format!("field{i}").into_bytes(), i.to_string().into_bytes()))
                    .collect(),
            ),
            false,
            "hashtable",
        ),
        key(
            0,
            "h:long",
            Object::Hash(vec![(b("f"), long_elem(1)), (b("g"), b("short"))]),
            false,
            "hashtable",
        ),
        key(
            0,
            "z:small",
            Object::ZSet(vec![
                (b("a"), 1.0),
                (b("b"), 1.0),
                (b("c"), -2.5),
                (b("d"), f64::INFINITY),
                (b("e"), f64::NEG_INFINITY),
                (b("f"), 0.1),
                (b("g"), 1e100),
                (b("12"), 3.0),
            ]),
            false,
            "listpack",
        ),
        key(
            0,
            "z:many",
            Object::ZSet(
                (0..200)
                    .map(|i| (format!("member{i}").into_bytes(), i as f64 / 7.0))
                    .collect(),
            ),
            true,
            "skiplist",
        ),
        key(
            0,
            "z:long",
            Object::ZSet(vec![(long_elem(2), 5.0), (b("x"), 6.0)]),
            false,
            "skiplist",
        ),
        key(3, "db3:s", Object::Str(b("in db three")), true, "embstr"),
        key(
            3,
            "db3:l",
            Object::List(vec![b("x"), b("y")]),
            false,
            "quicklist",
        ),
        key(
            3,
            "db3:z",
            Object::ZSet(vec![(b("m"), 2.0)]),
            false,
            "listpack",
        ),
    ]
}

fn score_text(s: f64) -> String {
    if s.is_infinite() {
        if s > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        format!("{s:e}")
    }
}

fn populate(c: &mut Conn, keys: &[Key]) {
    for k in keys {
        c.ok(&[b"SELECT", k.db.to_string().as_bytes()]);
        let name = k.name.as_slice();
        let mut args: Vec<Vec<u8>> = Vec::new();
        match &k.value {
            Object::Str(s) => args.extend([b("SET"), name.to_vec(), s.clone()]),
            Object::List(v) => {
                args.extend([b("RPUSH"), name.to_vec()]);
                args.extend(v.iter().cloned());
            }
            Object::Set(v) => {
                args.extend([b("SADD"), name.to_vec()]);
                args.extend(v.iter().cloned());
            }
            Object::Hash(v) => {
                args.extend([b("HSET"), name.to_vec()]);
                for (f, val) in v {
                    args.extend([f.clone(), val.clone()]);
                }
            }
            Object::ZSet(v) => {
                args.extend([b("ZADD"), name.to_vec()]);
                for (m, s) in v {
                    args.extend([score_text(*s).into_bytes(), m.clone()]);
                }
            }
            Object::Stream(_) => unreachable!("the fixtures hold no streams"),
        }
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        c.ok(&refs);
        if let Some(at) = k.expire_at_ms {
            c.ok(&[b"PEXPIREAT", name, at.to_string().as_bytes()]);
        }
    }
    c.ok(&[b"SELECT", b"0"]);
}

/// Sets, hashes and sorted sets compare without order.
fn normalized(o: &Object) -> Object {
    match o.clone() {
        Object::Set(mut v) => {
            v.sort();
            Object::Set(v)
        }
        Object::Hash(mut v) => {
            v.sort();
            Object::Hash(v)
        }
        Object::ZSet(mut v) => {
            v.sort_by(|a, b| a.0.cmp(&b.0));
            Object::ZSet(v)
        }
        other => other,
    }
}

/// Reads a key's value back over RESP.
fn fetch(c: &mut Conn, name: &[u8]) -> Object {
    let t = c.cmd(&[b"TYPE", name]).status();
    match t.as_str() {
        "string" => Object::Str(c.cmd(&[b"GET", name]).bulk()),
        "list" => Object::List(
            c.cmd(&[b"LRANGE", name, b"0", b"-1"])
                .array()
                .into_iter()
                .map(Reply::bulk)
                .collect(),
        ),
        "set" => Object::Set(
            c.cmd(&[b"SMEMBERS", name])
                .array()
                .into_iter()
                .map(Reply::bulk)
                .collect(),
        ),
        "hash" => {
            let flat: Vec<Vec<u8>> = c
                .cmd(&[b"HGETALL", name])
                .array()
                .into_iter()
                .map(Reply::bulk)
                .collect();
            Object::Hash(
                flat.chunks(2)
                    .map(|p| (p[0].clone(), p[1].clone()))
                    .collect(),
            )
        }
        "zset" => {
            let flat: Vec<Vec<u8>> = c
                .cmd(&[b"ZRANGE", name, b"0", b"-1", b"WITHSCORES"])
                .array()
                .into_iter()
                .map(Reply::bulk)
                .collect();
            Object::ZSet(
                flat.chunks(2)
                    .map(|p| {
                        let s = String::from_utf8_lossy(&p[1]).parse::<f64>().unwrap();
                        (p[0].clone(), s)
                    })
                    .collect(),
            )
        }
        other => panic!(
            "unexpected type {other} for {:?}",
            String::from_utf8_lossy(name)
        ),
    }
}

/// Checks every key of the dataset in a running server, including sorted
/// set order, expiries and key counts per database.
fn check_server(c: &mut Conn, keys: &[Key], check_encodings: bool) {
    let mut per_db: BTreeMap<u64, i64> = BTreeMap::new();
    for k in keys {
        *per_db.entry(k.db).or_default() += 1;
        c.ok(&[b"SELECT", k.db.to_string().as_bytes()]);
        let got = fetch(c, &k.name);
        let label = String::from_utf8_lossy(&k.name).to_string();
        assert_eq!(normalized(&got), normalized(&k.value), "{label}");
        if let (Object::ZSet(got), Object::ZSet(want)) = (&got, &k.value) {
            let mut want = want.clone();
            want.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
            assert_eq!(got, &want, "{label}: order");
        }
        let pexpiretime = c.cmd(&[b"PEXPIRETIME", &k.name]).int();
        let want = k.expire_at_ms.map_or(-1, |v| v as i64);
        assert_eq!(pexpiretime, want, "{label}: expiry");
        if check_encodings {
            let enc = c.cmd(&[b"OBJECT", b"ENCODING", &k.name]).bulk();
            assert_eq!(
                String::from_utf8_lossy(&enc),
                k.encoding,
                "{label}: encoding"
            );
        }
    }
    for (db, n) in per_db {
        c.ok(&[b"SELECT", db.to_string().as_bytes()]);
        assert_eq!(c.cmd(&[b"DBSIZE"]).int(), n, "db {db} size");
    }
    c.ok(&[b"SELECT", b"0"]);
}

#[test]
fn reads_an_rdb_saved_by_redis() {
    if !redis_available() {
        return;
    }
    let dir = TempDir::new();
    let redis = Redis::start(&dir);
    let mut c = redis.conn();
    let keys = dataset();
    // Compressed quicklist nodes are saved as LZF blobs as they are.
    c.ok(&[b"CONFIG", b"SET", b"list-compress-depth", b"1"]);
    populate(&mut c, &keys);
    c.ok(&[b"FUNCTION", b"LOAD", FUNCTION_CODE.as_bytes()]);
    // Redis really holds every encoding the dataset aims at.
    check_server(&mut c, &keys, true);
    assert_eq!(c.cmd(&[b"SAVE"]).status(), "OK");

    let file = std::fs::File::open(dir.join("dump.rdb")).unwrap();
    let reader = RdbReader::new(std::io::BufReader::new(file)).unwrap();
    assert_eq!(reader.version(), 10);
    let mut db = 0;
    let mut got: BTreeMap<(u64, Vec<u8>), (Object, Option<u64>)> = BTreeMap::new();
    let mut aux = BTreeMap::new();
    let mut functions = Vec::new();
    for item in reader {
        match item.unwrap() {
            Item::Aux { key, value } => {
                aux.insert(key, value);
            }
            Item::SelectDb(n) => db = n,
            Item::ResizeDb { .. } => {}
            Item::Function(code) => functions.push(code),
            Item::Entry(e) => {
                got.insert((db, e.key), (e.value, e.expire_at_ms));
            }
        }
    }
    assert_eq!(
        aux.get(&b"redis-ver"[..]).map(|v| v.as_slice()),
        Some(&b"7.0.15"[..])
    );
    assert_eq!(
        aux.get(&b"redis-bits"[..]).map(|v| v.as_slice()),
        Some(&b"64"[..])
    );
    assert_eq!(functions, vec![FUNCTION_CODE.as_bytes().to_vec()]);
    assert_eq!(got.len(), keys.len());
    for k in &keys {
        let label = String::from_utf8_lossy(&k.name).to_string();
        let (value, expire) = got
            .get(&(k.db, k.name.clone()))
            .unwrap_or_else(|| panic!("{label} missing"));
        assert_eq!(normalized(value), normalized(&k.value), "{label}");
        assert_eq!(*expire, k.expire_at_ms, "{label}: expiry");
    }
}

fn write_dataset(path: &Path, keys: &[Key]) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = RdbWriter::new(std::io::BufWriter::new(file), EncodeOptions::default()).unwrap();
    w.aux(b"redis-ver", b"7.0.15").unwrap();
    w.aux_int(b"redis-bits", 64).unwrap();
    w.aux_int(b"ctime", 1_700_000_000).unwrap();
    w.aux_int(b"used-mem", 1_000_000).unwrap();
    w.aux_int(b"aof-base", 0).unwrap();
    w.function(FUNCTION_CODE.as_bytes()).unwrap();
    let mut dbs: Vec<u64> = keys.iter().map(|k| k.db).collect();
    dbs.dedup();
    for db in dbs {
        let in_db: Vec<&Key> = keys.iter().filter(|k| k.db == db).collect();
        let expires = in_db.iter().filter(|k| k.expire_at_ms.is_some()).count();
        w.select_db(db).unwrap();
        w.resize_db(in_db.len() as u64, expires as u64).unwrap();
        for k in in_db {
            let meta = KeyMeta {
                expire_at_ms: k.expire_at_ms,
                lru_idle_s: (k.name == b"s:small").then_some(1000),
                lfu_freq: None,
            };
            w.object(&k.name, &meta, &k.value).unwrap();
        }
    }
    w.finish().unwrap().flush().unwrap();
}

#[test]
fn redis_loads_an_rdb_we_wrote() {
    if !redis_available() {
        return;
    }
    let dir = TempDir::new();
    let keys = dataset();
    let path = dir.join("dump.rdb");
    write_dataset(&path, &keys);

    if Path::new(REDIS_CHECK_RDB).exists() {
        let out = Command::new(REDIS_CHECK_RDB).arg(&path).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "redis-check-rdb failed:\n{text}");
        assert!(text.contains("RDB looks OK"), "{text}");
    } else {
        eprintln!("note: {REDIS_CHECK_RDB} not found; skipping that check");
    }

    let redis = Redis::start(&dir);
    let mut c = redis.conn();
    // Before anything touches the key: the IDLE opcode set its LRU clock.
    let idle = c.cmd(&[b"OBJECT", b"IDLETIME", b"s:small"]).int();
    assert!((1000..1100).contains(&idle), "idle {idle}");
    // Compact encodings we wrote load as compact encodings.
    check_server(&mut c, &keys, true);
    assert_eq!(c.cmd(&[b"FCALL", b"compatfn", b"0"]).int(), 42);
    // Redis re-saves it and our reader agrees with what Redis loaded.
    assert_eq!(c.cmd(&[b"SAVE"]).status(), "OK");
    let file = std::fs::read(&path).unwrap();
    let entries = RdbReader::new(&file[..])
        .unwrap()
        .filter(|i| matches!(i, Ok(Item::Entry(_))))
        .count();
    assert_eq!(entries, keys.len());
}

#[test]
fn dump_and_restore_both_ways() {
    if !redis_available() {
        return;
    }
    let dir = TempDir::new();
    let redis = Redis::start(&dir);
    let mut c = redis.conn();
    let keys = dataset();
    populate(&mut c, &keys);
    for k in &keys {
        let label = String::from_utf8_lossy(&k.name).to_string();
        c.ok(&[b"SELECT", k.db.to_string().as_bytes()]);
        // Redis → us.
        let payload = c.cmd(&[b"DUMP", &k.name]).bulk();
        let obj = dump::verify(&payload).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(normalized(&obj), normalized(&k.value), "{label}");
        // Us → Redis.
        let ours = dump::dump(&k.value).unwrap();
        let mut restored = k.name.clone();
        restored.extend_from_slice(b":restored");
        let r = c.cmd(&[b"RESTORE", &restored, b"0", &ours]);
        assert_eq!(r, Reply::Status("OK".into()), "{label}");
        let got = fetch(&mut c, &restored);
        assert_eq!(normalized(&got), normalized(&k.value), "{label} restored");
        let enc = c.cmd(&[b"OBJECT", b"ENCODING", &restored]).bulk();
        assert_eq!(
            String::from_utf8_lossy(&enc),
            k.encoding,
            "{label} restored encoding"
        );
    }
    // A damaged payload gets the error text we export.
    let mut bad = dump::dump(&Object::Str(b("v"))).unwrap();
    bad[1] ^= 1;
    match c.cmd(&[b"RESTORE", b"bad", b"0", &bad]) {
        Reply::Error(e) => assert_eq!(e, dump::ERR_BAD_PAYLOAD),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        dump::verify(&bad).unwrap_err().reply(),
        dump::ERR_BAD_PAYLOAD
    );
    // A good footer around bad data: both sides say "Bad data format".
    let bad_data = dump::seal(vec![1, 5, 1, b'a']);
    match c.cmd(&[b"RESTORE", b"bad", b"0", &bad_data]) {
        Reply::Error(e) => assert_eq!(e, dump::ERR_BAD_DATA_FORMAT),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        dump::verify(&bad_data).unwrap_err().reply(),
        dump::ERR_BAD_DATA_FORMAT
    );
}
