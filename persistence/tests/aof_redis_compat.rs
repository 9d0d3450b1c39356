//! Side-by-side checks of the AOF machinery against real Redis 7.0 binaries:
//! (a) Shoal reads the directory redis-server writes (before and after a
//! BGREWRITEAOF); (b) redis-check-aof accepts, and redis-server loads, a
//! directory Shoal writes (RESP base, incr files from the writer thread,
//! a rotation and a committed rewrite). Skipped with a note when the
//! binaries are missing.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shoal_persistence::aof::{
    sniff_format, AofDir, AofFileKind, AofPaths, AofWriter, AofWriterOptions, BaseFormat,
    CommandReader, FileFormat, FsyncPolicy, ReaderLimits,
};

const REDIS_SERVER: &str = "/usr/bin/redis-server";
const REDIS_CHECK_AOF: &str = "/usr/bin/redis-check-aof";

fn binaries_present() -> bool {
    let present = Path::new(REDIS_SERVER).exists() && Path::new(REDIS_CHECK_AOF).exists();
    if !present {
        eprintln!(
            "note: {REDIS_SERVER} or {REDIS_CHECK_AOF} missing; skipping the real-Redis AOF checks"
        );
    }
    present
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("shoal-aof-compat-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A redis-server child; killed (only this child) on drop.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start(dir: &Path) -> Redis {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(REDIS_SERVER)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir"])
            .arg(dir)
            // `always`: with everysec Redis may postpone a write while a
            // background fsync runs, and the test reads the files at once.
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .args(["--save", "", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let redis = Redis { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut conn) = Conn::connect(redis.port) {
                if conn.call(&["PING"]) == Reply::Simple("PONG".into()) {
                    return redis;
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn conn(&self) -> Conn {
        Conn::connect(self.port).unwrap()
    }

    /// SHUTDOWN (flushes the AOF) and wait for the process to exit.
    fn stop(mut self) {
        let _ = self.conn().send(&["SHUTDOWN"]);
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "redis-server did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(Some(s.as_bytes().to_vec()))
}

/// A raw RESP2 client over a TcpStream.
struct Conn {
    reader: BufReader<TcpStream>,
}

fn encode(argv: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", argv.len()).into_bytes();
    for arg in argv {
        out.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
    }
    out
}

impl Conn {
    fn connect(port: u16) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        Ok(Conn {
            reader: BufReader::new(stream),
        })
    }

    fn send(&mut self, argv: &[&str]) -> std::io::Result<()> {
        self.reader.get_mut().write_all(&encode(argv))
    }

    fn call(&mut self, argv: &[&str]) -> Reply {
        self.send(argv).unwrap();
        self.read_reply()
    }

    fn read_line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        line.trim_end_matches("\r\n").to_string()
    }

    fn read_reply(&mut self) -> Reply {
        let line = self.read_line();
        let (kind, rest) = line.split_at(1);
        match kind {
            "+" => Reply::Simple(rest.to_string()),
            "-" => Reply::Error(rest.to_string()),
            ":" => Reply::Int(rest.parse().unwrap()),
            "$" => {
                let len: i64 = rest.parse().unwrap();
                if len < 0 {
                    return Reply::Bulk(None);
                }
                let mut data = vec![0; len as usize + 2];
                std::io::Read::read_exact(&mut self.reader, &mut data).unwrap();
                data.truncate(len as usize);
                Reply::Bulk(Some(data))
            }
            "*" => {
                let n: i64 = rest.parse().unwrap();
                Reply::Array((0..n.max(0)).map(|_| self.read_reply()).collect())
            }
            other => panic!("unexpected reply type {other:?} in {line:?}"),
        }
    }
}

fn read_commands(path: &Path) -> Vec<Vec<String>> {
    let reader = CommandReader::new(
        BufReader::new(File::open(path).unwrap()),
        0,
        ReaderLimits::default(),
    );
    reader
        .map(|c| {
            c.unwrap()
                .argv
                .into_iter()
                .map(|a| String::from_utf8(a).unwrap())
                .collect()
        })
        .collect()
}

fn argvs(list: &[&[&str]]) -> Vec<Vec<String>> {
    list.iter()
        .map(|argv| argv.iter().map(|a| a.to_string()).collect())
        .collect()
}

fn head(path: &Path) -> Vec<u8> {
    let mut bytes = fs::read(path).unwrap();
    bytes.truncate(16);
    bytes
}

fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn shoal_reads_what_redis_writes_across_a_rewrite() {
    if !binaries_present() {
        return;
    }
    let tmp = TempDir::new("redis-writes");
    let redis = Redis::start(&tmp.0);
    let mut conn = redis.conn();
    let first: &[&[&str]] = &[
        &["SET", "k1", "v1"],
        &["RPUSH", "l", "a", "b", "c"],
        &["HSET", "h", "f", "v"],
        &["SADD", "s", "m"],
        &["ZADD", "z", "1", "a"],
        &["INCR", "n"],
    ];
    for argv in first {
        assert!(!matches!(conn.call(argv), Reply::Error(_)));
    }
    assert_eq!(conn.call(&["SELECT", "1"]), Reply::Simple("OK".into()));
    assert_eq!(
        conn.call(&["SET", "k2", "v2 with space"]),
        Reply::Simple("OK".into())
    );

    // Fresh Redis: an RDB base and one incr file, which we read exactly.
    let dir = AofDir::load(AofPaths::with_defaults(&tmp.0)).unwrap();
    let files = dir.files_to_load().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0].file_name, b"appendonly.aof.1.base.rdb");
    assert_eq!(files[0].kind, AofFileKind::Base);
    assert_eq!(sniff_format(&head(&files[0].path)), FileFormat::RdbPreamble);
    assert_eq!(files[1].file_name, b"appendonly.aof.1.incr.aof");
    let mut expected = argvs(&[&["SELECT", "0"]]);
    expected.extend(argvs(first));
    expected.extend(argvs(&[&["SELECT", "1"], &["SET", "k2", "v2 with space"]]));
    assert_eq!(read_commands(&files[1].path), expected);
    assert_every_cut_is_truncated_at_a_command_end(&fs::read(&files[1].path).unwrap());
    // Our formatter reproduces Redis's manifest byte for byte.
    let manifest_path = tmp.0.join("appendonlydir/appendonly.aof.manifest");
    assert_eq!(dir.manifest().format(), fs::read(&manifest_path).unwrap());

    assert_eq!(
        conn.call(&["BGREWRITEAOF"]),
        Reply::Simple("Background append only file rewriting started".into())
    );
    wait_for("the rewrite to finish", || {
        let text = fs::read_to_string(&manifest_path).unwrap_or_default();
        text.contains("appendonly.aof.2.base.rdb seq 2 type b") && !text.contains("type h")
    });
    let second: &[&[&str]] = &[
        &["SET", "after", "x"],
        &["MULTI"],
        &["DEL", "k2"],
        &["SET", "k3", "v3"],
        &["EXEC"],
    ];
    for argv in second {
        assert!(!matches!(conn.call(argv), Reply::Error(_)));
    }
    redis.stop();

    let dir = AofDir::load(AofPaths::with_defaults(&tmp.0)).unwrap();
    assert_eq!(
        String::from_utf8(fs::read(&manifest_path).unwrap()).unwrap(),
        "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
    );
    assert_eq!(dir.manifest().format(), fs::read(&manifest_path).unwrap());
    let files = dir.files_to_load().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(sniff_format(&head(&files[0].path)), FileFormat::RdbPreamble);
    let mut expected = argvs(&[&["SELECT", "1"]]);
    expected.extend(argvs(second));
    assert_eq!(read_commands(&files[1].path), expected);
    assert!(files[1].is_last);
    assert_eq!(
        dir.sizes().current_bytes(),
        files[0].size_bytes + files[1].size_bytes
    );
}

/// Cutting a Redis-written incr file anywhere reads as a clean end at a
/// command boundary, or as truncated at the last command end before the cut.
fn assert_every_cut_is_truncated_at_a_command_end(file: &[u8]) {
    let ends: Vec<u64> = CommandReader::new(file, 0, ReaderLimits::default())
        .map(|c| c.unwrap().end_offset)
        .collect();
    for cut in 0..file.len() as u64 {
        let mut reader = CommandReader::new(&file[..cut as usize], 0, ReaderLimits::default());
        let last_end = ends
            .iter()
            .copied()
            .filter(|&e| e <= cut)
            .max()
            .unwrap_or(0);
        loop {
            match reader.next_command() {
                Ok(Some(_)) => {}
                Ok(None) => {
                    assert_eq!(last_end, cut, "clean end inside a command at {cut}");
                    break;
                }
                Err(shoal_persistence::aof::ReadError::Truncated { valid_up_to, .. }) => {
                    assert_eq!(valid_up_to, last_end, "cut at {cut}");
                    break;
                }
                Err(e) => panic!("cut at {cut}: {e}"),
            }
        }
    }
}

/// Appends each command through the writer; returns the new offset.
fn write_commands(writer: &AofWriter, mut offset: u64, commands: &[&[&str]]) -> u64 {
    for argv in commands {
        let chunk = encode(argv);
        offset += chunk.len() as u64;
        writer.append(chunk, offset).unwrap();
    }
    offset
}

fn check_aof(manifest: &Path) -> String {
    let output = Command::new(REDIS_CHECK_AOF)
        .arg(manifest)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "redis-check-aof failed:\n{stdout}");
    assert!(
        stdout.contains("All AOF files and manifest are valid"),
        "{stdout}"
    );
    stdout
}

#[test]
fn redis_loads_what_shoal_writes() {
    if !binaries_present() {
        return;
    }
    let tmp = TempDir::new("shoal-writes");
    let base_commands: &[&[&str]] = &[&["SELECT", "0"], &["SET", "from_base", "b"]];
    let base: Vec<u8> = base_commands.iter().flat_map(|argv| encode(argv)).collect();
    let mut dir = AofDir::load(AofPaths::with_defaults(&tmp.0)).unwrap();
    let opened = dir
        .open_for_append(Some((BaseFormat::Resp, &base)))
        .unwrap();
    assert_eq!(opened.file_name, "appendonly.aof.1.incr.aof");
    let writer = AofWriter::start(
        Arc::new(opened.file),
        AofWriterOptions::new(FsyncPolicy::Always, 0, opened.size_bytes),
    )
    .unwrap();
    let incr1: &[&[&str]] = &[
        &["SELECT", "0"],
        &["SET", "str", "hello world"],
        &["RPUSH", "list", "a", "b", "c"],
        &["HSET", "hash", "f1", "v1", "f2", "v2"],
        &["SADD", "set", "x", "y"],
        &["ZADD", "zset", "1.5", "one", "2", "two"],
        &["SELECT", "2"],
        &["SET", "in_db2", "yes"],
    ];
    let at = write_commands(&writer, 0, incr1);

    // A rewrite begins: new incr file, writer switched at this offset.
    let (ticket, opened2) = dir.begin_rewrite().unwrap();
    assert_eq!(opened2.file_name, "appendonly.aof.2.incr.aof");
    writer.rotate(Arc::new(opened2.file), 0, at).unwrap();
    let incr2: &[&[&str]] = &[
        &["SELECT", "0"],
        &["RPUSH", "list", "d"],
        &["SET", "str", "after rotate"],
    ];
    let end = write_commands(&writer, at, incr2);
    let deadline = Instant::now() + Duration::from_secs(10);
    while writer.durable_offset() < end {
        assert!(Instant::now() < deadline, "writer never became durable");
        std::thread::sleep(Duration::from_millis(1));
    }

    let manifest = dir.aof_dir().join("appendonly.aof.manifest");
    let out = check_aof(&manifest);
    assert!(
        out.contains("BASE AOF appendonly.aof.1.base.aof is valid"),
        "{out}"
    );
    assert!(
        out.contains("INCR AOF appendonly.aof.2.incr.aof is valid"),
        "{out}"
    );

    // Commit the rewrite with a RESP base holding everything before the
    // switch (base + first incr), then drop the history files.
    let temp = dir.temp_rewrite_path(std::process::id());
    let mut snapshot = base.clone();
    for argv in incr1 {
        snapshot.extend(encode(argv));
    }
    fs::write(&temp, &snapshot).unwrap();
    assert_eq!(
        dir.commit_rewrite(&ticket, &temp, BaseFormat::Resp)
            .unwrap(),
        "appendonly.aof.2.base.aof"
    );
    assert_eq!(
        dir.delete_history().unwrap(),
        vec!["appendonly.aof.1.incr.aof", "appendonly.aof.1.base.aof"]
    );
    let end = write_commands(&writer, end, &[&["SADD", "set", "z"]]);
    writer.shutdown().unwrap();
    assert!(end > at);
    assert_eq!(
        fs::read_to_string(&manifest).unwrap(),
        "file appendonly.aof.2.base.aof seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
    );
    check_aof(&manifest);

    let redis = Redis::start(&tmp.0);
    let mut conn = redis.conn();
    assert_eq!(conn.call(&["GET", "from_base"]), bulk("b"));
    assert_eq!(conn.call(&["GET", "str"]), bulk("after rotate"));
    assert_eq!(
        conn.call(&["LRANGE", "list", "0", "-1"]),
        Reply::Array(vec![bulk("a"), bulk("b"), bulk("c"), bulk("d")])
    );
    assert_eq!(conn.call(&["HGET", "hash", "f2"]), bulk("v2"));
    assert_eq!(conn.call(&["SCARD", "set"]), Reply::Int(3));
    assert_eq!(conn.call(&["ZSCORE", "zset", "one"]), bulk("1.5"));
    assert_eq!(conn.call(&["DBSIZE"]), Reply::Int(6));
    assert_eq!(conn.call(&["SELECT", "2"]), Reply::Simple("OK".into()));
    assert_eq!(conn.call(&["GET", "in_db2"]), bulk("yes"));
    redis.stop();
}

#[test]
fn redis_check_aof_and_our_reader_agree_on_a_truncated_tail() {
    if !binaries_present() {
        return;
    }
    let tmp = TempDir::new("truncated");
    let mut dir = AofDir::load(AofPaths::with_defaults(&tmp.0)).unwrap();
    let mut opened = dir.open_for_append(None).unwrap();
    let good = [encode(&["SET", "a", "1"]), encode(&["SET", "b", "2"])].concat();
    opened.file.write_all(&good).unwrap();
    opened
        .file
        .write_all(&encode(&["SET", "c", "3"])[..9])
        .unwrap();
    let path = dir.aof_dir().join(&opened.file_name);
    let mut reader = CommandReader::new(
        BufReader::new(File::open(&path).unwrap()),
        0,
        ReaderLimits::default(),
    );
    let valid_up_to = loop {
        match reader.next_command() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("expected a truncated tail"),
            Err(shoal_persistence::aof::ReadError::Truncated { valid_up_to, .. }) => {
                break valid_up_to
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(valid_up_to, good.len() as u64);
    let output = Command::new(REDIS_CHECK_AOF)
        .arg(dir.aof_dir().join("appendonly.aof.manifest"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success());
    assert!(
        stdout.contains(&format!("ok_up_to={valid_up_to},")),
        "{stdout}"
    );
}
