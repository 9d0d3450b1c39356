//! The integration-test harness: start a server on a free loopback port in a
//! fresh temporary directory, talk to it (the `redis` crate, Debian's
//! `redis-cli`, raw TCP), and stop exactly the process that was started.
//!
//! Every wait here has a deadline; nothing sleeps and hopes.

#![allow(dead_code)]

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a server may take to answer its first PING.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Default deadline for one command round trip in the helpers.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Address space (RLIMIT_AS) a test server may use: far above what any test
/// needs, far below the machine's memory.
pub const SERVER_ADDRESS_SPACE_CAP: libc::rlim_t = 4 << 30;
/// Debian's redis-cli.
pub const REDIS_CLI: &str = "/usr/bin/redis-cli";
/// Debian's redis-server (the real Redis 7.0), used by differential tests.
pub const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// The Shoal binary cargo built for this test run.
pub fn shoal_bin() -> &'static str {
    env!("CARGO_BIN_EXE_shoal-server")
}

/// Ports handed out by this process, so parallel tests never pick the same one.
fn handed_out() -> &'static Mutex<HashSet<u16>> {
    static PORTS: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    PORTS.get_or_init(|| Mutex::new(HashSet::new()))
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// A loopback port that is free now, whose cluster-bus twin (port + 10000)
/// is free too, and that no other test in this process was given.
pub fn free_port() -> u16 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(
            Instant::now() < deadline,
            "could not find a free port pair on 127.0.0.1"
        );
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let port = l.local_addr().unwrap().port();
        drop(l);
        if port > 55535 || !port_is_free(port + 10000) || !port_is_free(port) {
            continue;
        }
        if handed_out().lock().unwrap().insert(port) {
            return port;
        }
    }
}

/// A fresh, empty directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path = std::env::temp_dir().join(format!(
            "{prefix}-{}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            nanos
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running server process, killed (by its own handle, i.e. its PID) on drop.
pub struct Server {
    pub port: u16,
    pub pid: u32,
    child: Child,
    log: PathBuf,
    dir: TempDir,
}

impl Server {
    /// Start Shoal with `--port P --save '' --bind 127.0.0.1 --dir <tmp>` plus `args`.
    ///
    /// `SHOAL_TEST_SERVER=/usr/bin/redis-server cargo test` runs the same
    /// tests against another binary (e.g. the real Redis, to check that a
    /// test asserts Redis's behaviour).
    pub fn start(args: &[&str]) -> Server {
        match std::env::var("SHOAL_TEST_SERVER") {
            Ok(bin) if !bin.is_empty() => Server::start_binary(&bin, args),
            _ => Server::start_binary(shoal_bin(), args),
        }
    }

    /// Start any redis-server-compatible binary the same way (used to run
    /// the real Redis next to Shoal in differential tests).
    pub fn start_binary(binary: &str, args: &[&str]) -> Server {
        Server::start_in(binary, None, args)
    }

    /// Start again on the data directory of a server that was stopped
    /// (restart after a crash, a shutdown).
    pub fn restart_in(dir: TempDir, args: &[&str]) -> Server {
        let binary = std::env::var("SHOAL_TEST_SERVER")
            .ok()
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| shoal_bin().to_string());
        Server::start_in(&binary, Some(dir), args)
    }

    /// Start another binary (the real Redis) on a stopped server's directory.
    pub fn restart_in_binary(binary: &str, dir: TempDir, args: &[&str]) -> Server {
        Server::start_in(binary, Some(dir), args)
    }

    /// SIGKILL the server (a crash) and wait for it; its directory stays.
    pub fn kill9(mut self) -> TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.take_dir()
    }

    /// SIGTERM the server (a clean shutdown) and wait up to 10 s for it.
    pub fn terminate(mut self) -> TempDir {
        // SAFETY: kill(2) on our own child's PID.
        unsafe {
            libc::kill(self.pid as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.take_dir()
    }

    fn take_dir(&mut self) -> TempDir {
        std::mem::replace(&mut self.dir, TempDir::new("shoal-it-moved"))
    }

    fn start_in(binary: &str, keep_dir: Option<TempDir>, args: &[&str]) -> Server {
        let mut last_log = String::new();
        let mut keep_dir = keep_dir;
        for _attempt in 0..10 {
            let port = free_port();
            let dir = keep_dir.take().unwrap_or_else(|| TempDir::new("shoal-it"));
            let log = dir.path().join("server.log");
            let logfile = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .expect("create server log");
            let errfile = logfile.try_clone().expect("clone log handle");
            let mut command = Command::new(binary);
            // If the test process dies without running Drop (killed by a
            // signal), the server dies with it instead of lingering.
            // Its address space is capped too, so a runaway allocation (a
            // hostile input making the server allocate without bound) kills
            // the server and fails the test instead of exhausting the machine.
            // SAFETY: prctl and setrlimit are async-signal-safe and touch no parent state.
            unsafe {
                command.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    let cap = libc::rlimit {
                        rlim_cur: SERVER_ADDRESS_SPACE_CAP,
                        rlim_max: SERVER_ADDRESS_SPACE_CAP,
                    };
                    libc::setrlimit(libc::RLIMIT_AS, &cap);
                    Ok(())
                });
            }
            let child = command
                .arg("--port")
                .arg(port.to_string())
                .arg("--save")
                .arg("")
                .arg("--bind")
                .arg("127.0.0.1")
                .arg("--dir")
                .arg(dir.path())
                .args(args)
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::from(logfile))
                .stderr(Stdio::from(errfile))
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {binary}: {e}"));
            let pid = child.id();
            let mut server = Server {
                port,
                pid,
                child,
                log,
                dir,
            };
            match server.wait_ready(START_TIMEOUT) {
                Ok(()) => return server,
                Err(exited) => {
                    last_log = server.log_text();
                    if exited && last_log.contains("Address already in use") {
                        // Someone took the port between our probe and the bind: retry.
                        keep_dir = Some(server.take_dir());
                        continue;
                    }
                    panic!("{binary} {args:?} did not start on port {port}:\n{last_log}");
                }
            }
        }
        panic!("{binary} could not find a usable port after 10 attempts; last log:\n{last_log}");
    }

    /// Poll until the server answers PING (any reply, e.g. NOAUTH, proves it
    /// is serving). Err(true) if the process exited, Err(false) on timeout.
    fn wait_ready(&mut self, timeout: Duration) -> Result<(), bool> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Err(true);
            }
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
            if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                if s.write_all(b"PING\r\n").is_ok() {
                    let mut buf = [0u8; 64];
                    if let Ok(n) = s.read(&mut buf) {
                        // Any reply but LOADING (the data is still being
                        // read) proves it serves; NOAUTH counts.
                        if n > 0
                            && (buf[0] == b'+' || buf[0] == b'-')
                            && !buf[..n].starts_with(b"-LOADING")
                        {
                            return Ok(());
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(false)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What the server has written to stdout/stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` lines of the server's log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Resident set size of the server in KiB (from /proc/<pid>/status).
    pub fn rss_kb(&self) -> u64 {
        rss_kb(self.pid)
    }

    /// A multiplexed async connection through the `redis` crate.
    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        connect_url(&self.url()).await
    }

    /// One raw TCP connection with I/O timeouts.
    pub fn raw(&self) -> Raw {
        Raw::connect(self.port)
    }

    /// `redis-cli -p PORT args...`: its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        redis_cli(self.port, args)
    }

    /// A synchronous command over a fresh raw connection; the reply's bytes.
    pub fn cmd(&self, args: &[&str]) -> Vec<u8> {
        let mut r = self.raw();
        r.send(&encode(args));
        r.read_reply(IO_TIMEOUT)
            .unwrap_or_else(|| panic!("no reply to {args:?} within {IO_TIMEOUT:?}: server hung?"))
    }

    /// PING over a fresh connection answers +PONG.
    pub fn assert_alive(&mut self) {
        assert!(
            self.is_running(),
            "server exited; log tail:\n{}",
            self.log_tail(30)
        );
        let reply = self.cmd(&["PING"]);
        assert_eq!(
            reply,
            b"+PONG\r\n",
            "PING after hostile input: {}",
            String::from_utf8_lossy(&reply)
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Child::kill signals exactly this child's PID; then reap it.
        let _ = self.child.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }
}

pub fn rss_kb(pid: u32) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/<pid>/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

pub async fn connect_url(url: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url).expect("redis url");
    tokio::time::timeout(IO_TIMEOUT, client.get_multiplexed_async_connection())
        .await
        .expect("timed out connecting")
        .expect("connect")
}

/// Run one command through the `redis` crate with a deadline.
pub async fn q<T: redis::FromRedisValue>(
    con: &mut redis::aio::MultiplexedConnection,
    args: &[&str],
) -> redis::RedisResult<T> {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    tokio::time::timeout(IO_TIMEOUT, c.query_async(con))
        .await
        .expect("command timed out")
}

/// The error line the server sent, rebuilt from a `RedisError`
/// (`CODE detail`, e.g. `ERR syntax error`).
pub fn err_line(e: &redis::RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_string(),
        _ => format!("{e}"),
    }
}

/// Run a command with a timeout, optionally feeding stdin; returns
/// (exit status success, stdout, stderr). Panics on timeout, after killing it.
pub fn run_with_timeout(
    mut cmd: Command,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
) -> (bool, String, String) {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let writer = stdin.map(|data| {
        let mut pipe = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        })
    });
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out_pipe.read_to_end(&mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err_pipe.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    if let Some(w) = writer {
        let _ = w.join();
    }
    let out = String::from_utf8_lossy(&out_t.join().unwrap()).into_owned();
    let err = String::from_utf8_lossy(&err_t.join().unwrap()).into_owned();
    (status.success(), out, err)
}

/// `redis-cli -p PORT args...` (Debian's redis-cli); its stdout.
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    let mut c = Command::new(REDIS_CLI);
    c.arg("-h")
        .arg("127.0.0.1")
        .arg("-p")
        .arg(port.to_string())
        .args(args);
    let (_ok, out, _err) = run_with_timeout(c, None, Duration::from_secs(60));
    out
}

/// `redis-cli -p PORT args...` with `input` on its stdin; (success, stdout, stderr).
pub fn redis_cli_stdin(
    port: u16,
    args: &[&str],
    input: Vec<u8>,
    timeout: Duration,
) -> (bool, String, String) {
    let mut c = Command::new(REDIS_CLI);
    c.arg("-h")
        .arg("127.0.0.1")
        .arg("-p")
        .arg(port.to_string())
        .args(args);
    run_with_timeout(c, Some(input), timeout)
}

/// Encode a command as a RESP multibulk.
pub fn encode(args: &[&str]) -> Vec<u8> {
    encode_bytes(&args.iter().map(|a| a.as_bytes()).collect::<Vec<_>>())
}

pub fn encode_bytes(args: &[&[u8]]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        v.extend_from_slice(a);
        v.extend_from_slice(b"\r\n");
    }
    v
}

/// Length of the first complete RESP2/RESP3 value in `buf`, or None if
/// more bytes are needed.
pub fn resp_value_len(buf: &[u8]) -> Option<usize> {
    fn line_end(buf: &[u8], from: usize) -> Option<usize> {
        buf[from..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|p| from + p)
    }
    fn value(buf: &[u8], at: usize) -> Option<usize> {
        if at >= buf.len() {
            return None;
        }
        let end = line_end(buf, at)?;
        let header = &buf[at + 1..end];
        let next = end + 2;
        let num = || {
            std::str::from_utf8(header)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
        };
        match buf[at] {
            b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Some(next),
            b'$' | b'!' | b'=' => {
                let n = num()?;
                if n < 0 {
                    return Some(next);
                }
                let stop = next + n as usize + 2;
                (buf.len() >= stop).then_some(stop)
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let n = num()?;
                if n < 0 {
                    return Some(next);
                }
                let items = if matches!(buf[at], b'%' | b'|') {
                    2 * n
                } else {
                    n
                };
                let mut pos = next;
                for _ in 0..items {
                    pos = value(buf, pos)?;
                }
                Some(pos)
            }
            _ => Some(next), // not RESP: treat the line as one unit
        }
    }
    value(buf, 0)
}

/// A raw TCP connection for byte-level tests.
pub struct Raw {
    pub stream: TcpStream,
    pending: Vec<u8>,
}

impl Raw {
    pub fn connect(port: u16) -> Raw {
        Raw::try_connect(port).unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"))
    }

    pub fn try_connect(port: u16) -> std::io::Result<Raw> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(Raw {
            stream,
            pending: Vec::new(),
        })
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to server");
    }

    /// Read one complete reply within `timeout`. None on EOF/timeout before
    /// a complete reply arrived (what had arrived is then left in `pending`).
    pub fn read_reply(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(n) = resp_value_len(&self.pending) {
                let rest = self.pending.split_off(n);
                return Some(std::mem::replace(&mut self.pending, rest));
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            if left.is_zero() {
                return None;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut buf = [0u8; 16384];
            match self.stream.read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(_) => return None,
            }
        }
    }

    /// Send a command and read its reply.
    pub fn call(&mut self, args: &[&str]) -> Vec<u8> {
        self.send(&encode(args));
        self.read_reply(IO_TIMEOUT)
            .unwrap_or_else(|| panic!("no reply to {args:?}"))
    }

    /// Wait for the server to close the connection: true if EOF (or reset)
    /// came within `timeout`. Bytes received meanwhile go to `pending`.
    pub fn wait_closed(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            if left.is_zero() {
                return false;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut buf = [0u8; 16384];
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return false
                }
                Err(_) => return true,
            }
        }
    }

    /// Bytes received but not yet returned as a reply.
    pub fn pending(&self) -> &[u8] {
        &self.pending
    }
}

/// Poll `cond` until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The value of `field` in an INFO text (`field:value` lines).
pub fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines().find_map(|l| {
        l.strip_prefix(&format!("{field}:"))
            .map(|v| v.trim().to_string())
    })
}

/// Is a program available at this path?
pub fn have(path: &str) -> bool {
    Path::new(path).exists()
}

/// Tests that need a tool fail in CI (scripts/test.sh installs it) and are
/// skipped with a note elsewhere.
pub fn require_tool(path: &str, what: &str) -> bool {
    if have(path) {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{what} ({path}) is missing; scripts/test.sh should have installed it");
    }
    eprintln!("SKIPPED: {what} ({path}) is not installed; run scripts/test.sh to install it");
    false
}

/// A server process on a fixed port and directory that survive restarts
/// (cluster nodes: nodes.conf and the AOF stay in `dir`). Killed (by its
/// own PID) on drop.
pub struct Node {
    pub port: u16,
    binary: String,
    args: Vec<String>,
    dir: PathBuf,
    child: Option<Child>,
    run: u32,
}

impl Node {
    /// Start `binary --port P --save '' --bind 127.0.0.1 --dir D args…`
    /// and wait until it answers PING.
    pub fn start(binary: &str, port: u16, dir: &Path, args: &[&str]) -> Node {
        let mut n = Node {
            port,
            binary: binary.to_string(),
            args: args.iter().map(|a| a.to_string()).collect(),
            dir: dir.to_path_buf(),
            child: None,
            run: 0,
        };
        n.spawn();
        n
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join(format!("server-{}.log", self.run))
    }

    fn spawn(&mut self) {
        self.run += 1;
        let logfile = std::fs::File::create(self.log_path()).expect("create node log");
        let errfile = logfile.try_clone().expect("clone log handle");
        let mut command = Command::new(&self.binary);
        // SAFETY: prctl and setrlimit are async-signal-safe and touch no parent state.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                let cap = libc::rlimit {
                    rlim_cur: SERVER_ADDRESS_SPACE_CAP,
                    rlim_max: SERVER_ADDRESS_SPACE_CAP,
                };
                libc::setrlimit(libc::RLIMIT_AS, &cap);
                Ok(())
            });
        }
        let child = command
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--save", "", "--bind", "127.0.0.1", "--dir"])
            .arg(&self.dir)
            .args(&self.args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(logfile))
            .stderr(Stdio::from(errfile))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.binary));
        self.child = Some(child);
        let port = self.port;
        let ready = wait_until(START_TIMEOUT, || {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
                return false;
            };
            let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
            let mut buf = [0u8; 64];
            s.write_all(b"PING\r\n").is_ok() && matches!(s.read(&mut buf), Ok(n) if n > 0)
        });
        assert!(
            ready,
            "node on port {port} did not start:\n{}",
            self.log_text()
        );
        // PING answers while the data loads; wait for the load to finish.
        let loaded = wait_until(START_TIMEOUT, || {
            redis_cli(port, &["info", "persistence"]).contains("loading:0")
        });
        assert!(
            loaded,
            "node on port {port} kept loading:\n{}",
            self.log_text()
        );
    }

    /// SIGTERM (Redis's orderly shutdown) and wait for the exit.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: signals exactly the child this Node started.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let exited = wait_until(Duration::from_secs(10), || {
            matches!(child.try_wait(), Ok(Some(_)) | Err(_))
        });
        if !exited {
            let _ = child.kill();
            let _ = child.wait();
            panic!("node on port {} ignored SIGTERM", self.port);
        }
    }

    /// SIGKILL: a crash, no shutdown work.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start again on the same port and directory.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn cli(&self, args: &[&str]) -> String {
        redis_cli(self.port, args)
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `n` cluster-enabled Shoal nodes on free port pairs (port and port+10000),
/// each in its own directory under the returned temp dir.
pub fn start_cluster_nodes(n: usize, args: &[&str]) -> (TempDir, Vec<Node>) {
    let root = TempDir::new("shoal-cluster");
    let mut nodes = Vec::new();
    for i in 0..n {
        let dir = root.path().join(format!("node{i}"));
        std::fs::create_dir_all(&dir).expect("node dir");
        let mut a = vec!["--cluster-enabled", "yes"];
        a.extend_from_slice(args);
        nodes.push(Node::start(shoal_bin(), free_port(), &dir, &a));
    }
    (root, nodes)
}
