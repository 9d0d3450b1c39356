//! DUMP, RESTORE (and RESTORE-ASKING) and MIGRATE: a key's value as a
//! serialized payload (RDB object + RDB version + CRC-64, interchangeable
//! with Redis 7.0's), re-created from one, and moved to another server
//! over a (cached) blocking connection, as Redis's cluster.c does.
//!
//! MIGRATE holds the slots of its keys locked from serializing them until it
//! deletes what the target acknowledged, as Redis's single thread holds
//! everything: a write to a key in flight waits, and so lands either before
//! the copy (and moves with it) or after the delete (and is redirected),
//! never in between to be deleted unsent. Only clients of those slots wait;
//! the rest of the keyspace is served meanwhile.

use super::{Command, Ctx, KeySpec};
use crate::error;
use crate::keyspace::Entry;
use crate::notify::{notify, NOTIFY_GENERIC};
use crate::persist::values::{encode_object, encode_options, value_from_object};
use crate::protocol::Out;
use crate::util::parse_i64;
use bytes::Bytes;
use parking_lot::Mutex;
use shoal_persistence::dump;
use shoal_persistence::rdb::ObjectEncoder;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const BUSYKEY: &str = "BUSYKEY Target key name already exists.";
const INVALID_TTL: &str = "ERR Invalid TTL value, must be >= 0";
const INVALID_IDLETIME: &str = "ERR Invalid IDLETIME value, must be >= 0";
const INVALID_FREQ: &str = "ERR Invalid FREQ value, must be >= 0 and <= 255";
const KEYS_NEED_EMPTY_KEY: &str =
    "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string";
const IOERR_CONNECT: &str = "IOERR error or timeout connecting to the client";
const IOERR_WRITE: &str = "IOERR error or timeout writing to target instance";
const IOERR_READ: &str = "IOERR error or timeout reading to target instance";

/// MIGRATE's timeout when given one <= 0 (ms).
const MIGRATE_DEFAULT_TIMEOUT_MS: i64 = 1000;
/// Cached MIGRATE connections: how many, and how long one may sit unused.
const MIGRATE_SOCKET_CACHE_ITEMS: usize = 64;
const MIGRATE_SOCKET_CACHE_TTL: Duration = Duration::from_secs(10);
/// How often the idle cached connections are looked at.
const MIGRATE_CACHE_SWEEP_EVERY: Duration = Duration::from_secs(1);
/// Longest reply line read from a MIGRATE target.
const MIGRATE_MAX_REPLY_LINE_BYTES: usize = 64 * 1024;

pub fn commands() -> Vec<Command> {
    use super::table::{c, c_with_keys};
    let one = (1, 1, 1);
    vec![
        c(
            "dump",
            2,
            "readonly",
            one,
            "generic",
            "2.6.0",
            "Return a serialized version of the value stored at the specified key.",
            dump_cmd,
        ),
        c(
            "restore",
            -4,
            "write denyoom @dangerous",
            one,
            "generic",
            "2.6.0",
            "Create a key using the provided serialized value, previously obtained using DUMP.",
            restore,
        ),
        c(
            "restore-asking",
            -4,
            "write denyoom asking @keyspace @dangerous",
            one,
            "server",
            "3.0.0",
            "An internal command for migrating keys in a cluster",
            restore,
        ),
        c_with_keys(
            "migrate",
            -6,
            "write @dangerous",
            KeySpec::Migrate,
            "generic",
            "2.6.0",
            "Atomically transfer a key from a Redis instance to another one.",
            migrate,
        ),
    ]
}

/// The DUMP payload of an entry's value, as this server's settings encode it.
fn payload_of(ctx: &Ctx, e: &Entry, compress: bool) -> Result<Vec<u8>, String> {
    let mut enc = ObjectEncoder::new(encode_options(ctx.hot, compress, false));
    encode_object(&mut enc, &e.value)
        .map(dump::seal)
        .map_err(|err| format!("ERR DUMP failed: {err}"))
}

fn rdb_compression(ctx: &Ctx) -> bool {
    ctx.srv.config.read().get_bool("rdbcompression")
}

pub fn dump_cmd(ctx: &mut Ctx, out: &mut Out) {
    let key = ctx.arg(1);
    let compress = rdb_compression(ctx);
    let mut g = ctx.db().lock_key(key);
    let Some(e) = g.get(key, ctx.now_ms) else {
        drop(g);
        ctx.miss_key(key);
        return out.null();
    };
    let payload = payload_of(ctx, e, compress);
    drop(g);
    ctx.hit();
    match payload {
        Ok(p) => out.bulk(&p),
        Err(e) => out.error(&e),
    }
}

/// RESTORE's options after the payload.
#[derive(Default)]
struct RestoreOpts {
    replace: bool,
    absttl: bool,
    idle_s: Option<i64>,
    freq: Option<i64>,
}

fn parse_restore_opts(ctx: &Ctx) -> Result<RestoreOpts, &'static str> {
    let mut o = RestoreOpts::default();
    let mut j = 4;
    while j < ctx.argv.len() {
        let more = j + 1 < ctx.argv.len();
        if ctx.arg_is(j, "REPLACE") {
            o.replace = true;
        } else if ctx.arg_is(j, "ABSTTL") {
            o.absttl = true;
        } else if ctx.arg_is(j, "IDLETIME") && more && o.freq.is_none() {
            let v = parse_i64(ctx.arg(j + 1)).ok_or(error::NOT_INTEGER)?;
            if v < 0 {
                return Err(INVALID_IDLETIME);
            }
            o.idle_s = Some(v);
            j += 1;
        } else if ctx.arg_is(j, "FREQ") && more && o.idle_s.is_none() {
            let v = parse_i64(ctx.arg(j + 1)).ok_or(error::NOT_INTEGER)?;
            if !(0..=255).contains(&v) {
                return Err(INVALID_FREQ);
            }
            o.freq = Some(v);
            j += 1;
        } else {
            return Err(error::SYNTAX);
        }
        j += 1;
    }
    Ok(o)
}

/// The access clock of a restored entry: IDLETIME under an LRU policy,
/// FREQ under an LFU one (the other option is ignored, as in Redis).
fn restored_access(o: &RestoreOpts) -> u32 {
    let initial = crate::evict::initial_access();
    if crate::evict::lfu_mode() {
        match o.freq {
            // initial_access() is (minutes << 8) | LFU_INIT under LFU.
            Some(f) => (initial & !0xFF) | f as u32,
            None => initial,
        }
    } else {
        match o.idle_s {
            // The clock counts seconds since start; an idle time longer
            // than that is as old as the clock can say.
            Some(idle) => {
                crate::keyspace::lru_clock().saturating_sub(idle.min(u32::MAX as i64) as u32)
            }
            None => initial,
        }
    }
}

/// RESTORE and RESTORE-ASKING.
pub fn restore(ctx: &mut Ctx, out: &mut Out) {
    let opts = match parse_restore_opts(ctx) {
        Ok(o) => o,
        Err(e) => return out.error(e),
    };
    let key = ctx.arg(1);
    let now = ctx.now_ms;
    let mut g = ctx.db().lock_key(key);
    if !opts.replace && g.contains(key, now) {
        return out.error(BUSYKEY);
    }
    let Some(ttl) = parse_i64(ctx.arg(2)) else {
        return out.error(error::NOT_INTEGER);
    };
    if ttl < 0 {
        return out.error(INVALID_TTL);
    }
    let obj = match dump::verify(ctx.arg(3)) {
        Ok(o) => o,
        Err(e) => return out.error(e.reply()),
    };
    let Some(value) = value_from_object(obj, ctx.hot) else {
        return out.error(dump::ERR_BAD_DATA_FORMAT);
    };
    let deleted = opts.replace && g.remove(key).is_some();
    let expire_at = match (ttl, opts.absttl) {
        (0, _) => 0,
        (t, true) => t,
        (t, false) => t.saturating_add(now as i64),
    };
    // A TTL already in the past: the key is not created (an old one that
    // REPLACE removed is gone), unless loading or replicating (Redis's
    // checkAlreadyExpired).
    let loading = ctx
        .srv
        .persist
        .loading
        .load(std::sync::atomic::Ordering::Relaxed);
    if expire_at != 0 && expire_at <= now as i64 && !loading {
        drop(g);
        if deleted {
            ctx.propagate_as(&[b"DEL", key]);
            ctx.dirty += 1;
            notify(ctx, NOTIFY_GENERIC, "del", key);
        }
        return out.ok();
    }
    let mut entry = Entry::new(value);
    entry.expire_at_ms = expire_at as u64;
    entry.lru_s = restored_access(&opts);
    g.insert(key, entry, false);
    drop(g);
    if expire_at != 0 && !opts.absttl {
        // Propagate the TTL as an absolute time, as Redis 7.0 rewrites it.
        let mut n = itoa::Buffer::new();
        let mut parts: Vec<&[u8]> = ctx.argv.iter().map(|a| &a[..]).collect();
        parts[2] = n.format(expire_at).as_bytes();
        parts.push(b"ABSTTL");
        ctx.propagate_as(&parts);
    }
    ctx.dirty += 1;
    out.ok();
    notify(ctx, NOTIFY_GENERIC, "restore", key);
}

/// MIGRATE's arguments.
struct MigrateArgs<'a> {
    host: &'a [u8],
    port: &'a [u8],
    db: i64,
    timeout: Duration,
    copy: bool,
    replace: bool,
    auth: Option<(Option<&'a [u8]>, &'a [u8])>,
    keys: &'a [Bytes],
}

fn parse_migrate<'a>(ctx: &Ctx<'a>) -> Result<MigrateArgs<'a>, &'static str> {
    let argv: &'a [Bytes] = ctx.argv;
    let (mut copy, mut replace, mut auth) = (false, false, None);
    let mut keys = &argv[3..4];
    let mut j = 6;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let a = &argv[j];
        if a.eq_ignore_ascii_case(b"copy") {
            copy = true;
        } else if a.eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else if a.eq_ignore_ascii_case(b"auth") {
            if more == 0 {
                return Err(error::SYNTAX);
            }
            auth = Some((None, &argv[j + 1][..]));
            j += 1;
        } else if a.eq_ignore_ascii_case(b"auth2") {
            if more < 2 {
                return Err(error::SYNTAX);
            }
            auth = Some((Some(&argv[j + 1][..]), &argv[j + 2][..]));
            j += 2;
        } else if a.eq_ignore_ascii_case(b"keys") {
            if !argv[3].is_empty() {
                return Err(KEYS_NEED_EMPTY_KEY);
            }
            keys = &argv[j + 1..];
            break;
        } else {
            return Err(error::SYNTAX);
        }
        j += 1;
    }
    // Redis reads the timeout before the database.
    let timeout_ms = parse_i64(&argv[5]).ok_or(error::NOT_INTEGER)?;
    let db = parse_i64(&argv[4]).ok_or(error::NOT_INTEGER)?;
    let timeout_ms = if timeout_ms <= 0 {
        MIGRATE_DEFAULT_TIMEOUT_MS
    } else {
        timeout_ms
    };
    Ok(MigrateArgs {
        host: &argv[1],
        port: &argv[2],
        db,
        timeout: Duration::from_millis(timeout_ms as u64),
        copy,
        replace,
        auth,
        keys,
    })
}

/// One key to send: its name, relative TTL in ms (0: none) and payload.
struct Outgoing {
    key: Bytes,
    ttl_ms: i64,
    payload: Vec<u8>,
}

pub fn migrate(ctx: &mut Ctx, out: &mut Out) {
    let args = match parse_migrate(ctx) {
        Ok(a) => a,
        Err(e) => return out.error(e),
    };
    // Serialize the keys that are here; their slots stay locked until the
    // acknowledged ones are deleted (see the module comment).
    let compress = rdb_compression(ctx);
    let mut batch = Vec::new();
    let db = ctx.db();
    let mut slots = db.lock_keys(args.keys.iter().map(|k| &k[..]));
    for key in args.keys {
        let g = slots.for_key(key);
        let Some(e) = g.get(key, ctx.now_ms) else {
            ctx.miss_key(key);
            continue;
        };
        let expire_at = e.expire_at_ms;
        let payload = payload_of(ctx, e, compress);
        ctx.hit();
        let payload = match payload {
            Ok(p) => p,
            Err(e) => return out.error(&e),
        };
        let ttl_ms = if expire_at == 0 {
            0
        } else {
            let ttl = expire_at as i64 - crate::util::now_ms() as i64;
            if ttl < 0 {
                continue;
            }
            ttl.max(1)
        };
        batch.push(Outgoing {
            key: key.clone(),
            ttl_ms,
            payload,
        });
    }
    if batch.is_empty() {
        return out.simple("NOKEY");
    }
    let restore_cmd: &[u8] = if ctx.hot.cluster_enabled {
        b"RESTORE-ASKING"
    } else {
        b"RESTORE"
    };
    let name = format!(
        "{}:{}",
        String::from_utf8_lossy(args.host),
        String::from_utf8_lossy(args.port)
    );
    // Talk to the target with no lock held; retry once on a fresh
    // connection when a cached one turns out dead (not after a timeout).
    let mut may_retry = true;
    let (acked, reply) = loop {
        let outcome = match take_conn(&name, args.host, args.port, args.timeout) {
            Ok(mut conn) => exchange(&mut conn, &args, restore_cmd, &batch).map(|r| (r, conn)),
            Err(ConnectError::Resolve) => return out.error(IOERR_CONNECT),
            // Redis's blocking connect reports success when the connection
            // is refused or times out; its first write then fails.
            Err(ConnectError::Connect { timed_out }) => Err(Failed {
                writing: true,
                timed_out,
            }),
        };
        let (replied, mut conn) = match outcome {
            Ok(r) => r,
            Err(Failed { writing, timed_out }) => {
                // The connection is dropped (closed) here.
                if !timed_out && may_retry {
                    may_retry = false;
                    continue;
                }
                return out.error(if writing { IOERR_WRITE } else { IOERR_READ });
            }
        };
        let Replied {
            acked,
            target_error,
            socket_error,
        } = replied;
        if !socket_error {
            // After an error the target's database is unknown: SELECT next time.
            conn.last_db = target_error.is_none().then_some(args.db);
            put_conn(name, conn);
        }
        let reply = match target_error {
            Some(e) => Err(format!("ERR Target instance replied with error: {e}")),
            None if socket_error => Err(IOERR_READ.to_string()),
            None => Ok(()),
        };
        break (acked, reply);
    };
    if !args.copy {
        // Delete what the target acknowledged; propagated as one DEL.
        let mut removed: Vec<Bytes> = Vec::new();
        for i in acked {
            let key = &batch[i].key;
            if slots.for_key(key).remove(key).is_some() {
                removed.push(key.clone());
            }
        }
        drop(slots);
        for key in &removed {
            notify(ctx, NOTIFY_GENERIC, "del", key);
        }
        if !removed.is_empty() {
            ctx.dirty += removed.len() as u64;
            let mut del = Vec::with_capacity(removed.len() + 1);
            del.push(Bytes::from_static(b"DEL"));
            del.extend(removed.iter().cloned());
            ctx.propagate = Some(del);
            ctx.modified = Some(removed);
        }
    }
    match reply {
        Ok(()) => out.ok(),
        Err(e) => out.error(&e),
    }
}

/// An attempt at sending the batch where nothing was acknowledged: the
/// request could not be written, or no reply (to AUTH, SELECT or the first
/// RESTORE) could be read.
struct Failed {
    writing: bool,
    timed_out: bool,
}

/// The replies to a batch: the indexes of the keys the target restored,
/// the first error it sent, and whether the connection broke midway.
struct Replied {
    acked: Vec<usize>,
    target_error: Option<String>,
    socket_error: bool,
}

fn exchange(
    conn: &mut Conn,
    args: &MigrateArgs,
    restore_cmd: &[u8],
    batch: &[Outgoing],
) -> Result<Replied, Failed> {
    let mut req = Vec::new();
    if let Some((user, pass)) = args.auth {
        match user {
            Some(u) => crate::propagate::encode(&mut req, &[&b"AUTH"[..], u, pass]),
            None => crate::propagate::encode(&mut req, &[&b"AUTH"[..], pass]),
        }
    }
    let select = conn.last_db != Some(args.db);
    if select {
        let mut n = itoa::Buffer::new();
        crate::propagate::encode(&mut req, &[&b"SELECT"[..], n.format(args.db).as_bytes()]);
    }
    for o in batch {
        let mut n = itoa::Buffer::new();
        let ttl = n.format(o.ttl_ms).as_bytes();
        if args.replace {
            crate::propagate::encode(
                &mut req,
                &[restore_cmd, &o.key, ttl, &o.payload, b"REPLACE"],
            );
        } else {
            crate::propagate::encode(&mut req, &[restore_cmd, &o.key, ttl, &o.payload]);
        }
    }
    if let Err(e) = conn.write_all(&req, args.timeout) {
        return Err(Failed {
            writing: true,
            timed_out: is_timeout(&e),
        });
    }
    let read = |conn: &mut Conn| conn.read_line(args.timeout);
    let failed = |e: std::io::Error| {
        Err(Failed {
            writing: false,
            timed_out: is_timeout(&e),
        })
    };
    let auth_reply = match args.auth {
        Some(_) => match read(conn) {
            Ok(l) => Some(l),
            Err(e) => return failed(e),
        },
        None => None,
    };
    let select_reply = if select {
        match read(conn) {
            Ok(l) => Some(l),
            Err(e) => return failed(e),
        }
    } else {
        None
    };
    // A failed AUTH or SELECT makes every RESTORE fail; its error is the one reported.
    let prior_error = [&auth_reply, &select_reply]
        .into_iter()
        .flatten()
        .find(|l| l.starts_with(b"-"))
        .cloned();
    let mut acked = Vec::new();
    let mut target_error: Option<String> = None;
    for i in 0..batch.len() {
        let line = match read(conn) {
            Ok(l) => l,
            Err(e) if i == 0 => return failed(e),
            Err(_) => {
                return Ok(Replied {
                    acked,
                    target_error,
                    socket_error: true,
                })
            }
        };
        let err = prior_error
            .as_ref()
            .or(line.starts_with(b"-").then_some(&line));
        match err {
            Some(e) => {
                if target_error.is_none() {
                    target_error = Some(String::from_utf8_lossy(&e[1..]).into_owned());
                }
            }
            None => acked.push(i),
        }
    }
    Ok(Replied {
        acked,
        target_error,
        socket_error: false,
    })
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// A connection to a MIGRATE target, with the database it last SELECTed
/// and bytes read past the last reply line.
struct Conn {
    stream: TcpStream,
    last_db: Option<i64>,
    last_use: Instant,
    pending: Vec<u8>,
}

impl Conn {
    fn connect(host: &[u8], port: &[u8], timeout: Duration) -> Result<Conn, ConnectError> {
        let host = std::str::from_utf8(host).map_err(|_| ConnectError::Resolve)?;
        let port = atoi_port(port).ok_or(ConnectError::Resolve)?;
        let addrs: Vec<_> = (host, port)
            .to_socket_addrs()
            .map_err(|_| ConnectError::Resolve)?
            .collect();
        let deadline = Instant::now() + timeout;
        let mut timed_out = false;
        for addr in addrs {
            let Some(left) = deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
            else {
                timed_out = true;
                break;
            };
            match TcpStream::connect_timeout(&addr, left) {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(Conn {
                        stream,
                        last_db: None,
                        last_use: Instant::now(),
                        pending: Vec::new(),
                    });
                }
                Err(e) => timed_out = is_timeout(&e),
            }
        }
        Err(ConnectError::Connect { timed_out })
    }

    fn write_all(&mut self, buf: &[u8], timeout: Duration) -> std::io::Result<()> {
        self.stream.set_write_timeout(Some(timeout))?;
        self.stream.write_all(buf)
    }

    /// One reply line without its CRLF, read within `timeout`.
    fn read_line(&mut self, timeout: Duration) -> std::io::Result<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(nl) = self.pending.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.pending.drain(..=nl).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.is_empty() {
                    return Err(std::io::Error::other("empty reply line"));
                }
                return Ok(line);
            }
            if self.pending.len() > MIGRATE_MAX_REPLY_LINE_BYTES {
                return Err(std::io::Error::other("reply line too long"));
            }
            let left = deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::TimedOut))?;
            self.stream.set_read_timeout(Some(left))?;
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf)? {
                0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                n => self.pending.extend_from_slice(&buf[..n]),
            }
        }
    }
}

/// Why no connection to a MIGRATE target was made.
enum ConnectError {
    /// The address cannot even be tried (Redis: "error ... connecting").
    Resolve,
    /// Refused or timed out.
    Connect { timed_out: bool },
}

/// A port argument read as C's atoi reads it: leading digits, none being 0.
fn atoi_port(raw: &[u8]) -> Option<u16> {
    let s = std::str::from_utf8(raw).ok()?.trim_start();
    let digits = &s[..s.bytes().take_while(u8::is_ascii_digit).count()];
    if digits.is_empty() {
        return Some(0);
    }
    digits.parse().ok()
}

/// Connections kept for reuse, by "host:port" as given to MIGRATE.
fn cache() -> &'static Mutex<HashMap<String, Conn>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Conn>>> = OnceLock::new();
    CACHE.get_or_init(|| {
        // Close connections unused for longer than the TTL, as Redis's cron does.
        let _ = std::thread::Builder::new()
            .name("migrate-cache".into())
            .spawn(|| loop {
                std::thread::sleep(MIGRATE_CACHE_SWEEP_EVERY);
                sweep(&mut cache().lock());
            });
        Mutex::new(HashMap::new())
    })
}

fn sweep(map: &mut HashMap<String, Conn>) {
    map.retain(|_, c| c.last_use.elapsed() <= MIGRATE_SOCKET_CACHE_TTL);
}

/// The number of cached MIGRATE connections (INFO's migrate_cached_sockets).
pub fn cached_sockets() -> usize {
    cache().lock().len()
}

/// A cached connection to `name` (taken out while in use), or a new one.
fn take_conn(
    name: &str,
    host: &[u8],
    port: &[u8],
    timeout: Duration,
) -> Result<Conn, ConnectError> {
    {
        let mut map = cache().lock();
        sweep(&mut map);
        if let Some(mut c) = map.remove(name) {
            c.last_use = Instant::now();
            return Ok(c);
        }
    }
    Conn::connect(host, port, timeout)
}

/// Return a healthy connection to the cache.
fn put_conn(name: String, mut conn: Conn) {
    conn.last_use = Instant::now();
    let mut map = cache().lock();
    if map.len() >= MIGRATE_SOCKET_CACHE_ITEMS && !map.contains_key(&name) {
        // Too many: drop one (Redis drops a random one).
        if let Some(k) = map.keys().next().cloned() {
            map.remove(&k);
        }
    }
    map.insert(name, conn);
}
