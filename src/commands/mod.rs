//! The command table and the context commands run in.
//!
//! One table answers everything about a command: its handler, arity, flags,
//! ACL categories, key positions and documentation. Dispatch, arity errors,
//! COMMAND INFO/DOCS/GETKEYS, the MULTI queue, slowlog/commandstats and (in
//! cluster mode) routing all read it; nothing special-cases a command name
//! outside it.
//!
//! A handler gets a `Ctx` (the server, the client's state, the arguments,
//! the time fixed for the command) and writes exactly one reply to `Out`.
//! Handlers never touch sockets or files, so clients, MULTI/EXEC, AOF replay
//! and replication all run them the same way.

pub mod acl;
pub mod bits;
pub mod blocking;
pub mod cluster;
pub mod connection;
pub mod dump;
pub mod function;
pub mod geo;
pub mod hash;
pub mod hyperloglog;
pub mod info;
pub mod introspection;
pub mod keys;
pub mod list;
pub mod meta;
pub mod persistence;
pub mod pubsub;
pub mod scripting;
pub mod server;
pub mod set;
pub mod sort;
pub mod stream;
pub mod string;
pub(crate) mod table;
pub mod tracking;
pub mod transaction;
pub mod zset;

use crate::client::Client;
use crate::keyspace::Db;
use crate::protocol::Out;
use crate::server::Server;
use bytes::Bytes;
use hashbrown::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

pub type Handler = fn(&mut Ctx, &mut Out);

// Command flags (the ones COMMAND INFO reports, plus Shoal's own at the top).
pub const WRITE: u64 = 1 << 0;
pub const READONLY: u64 = 1 << 1;
pub const DENYOOM: u64 = 1 << 2;
pub const ADMIN: u64 = 1 << 3;
pub const PUBSUB: u64 = 1 << 4;
pub const NOSCRIPT: u64 = 1 << 5;
pub const BLOCKING: u64 = 1 << 6;
pub const LOADING: u64 = 1 << 7;
pub const STALE: u64 = 1 << 8;
pub const SKIP_MONITOR: u64 = 1 << 9;
pub const SKIP_SLOWLOG: u64 = 1 << 10;
pub const ASKING: u64 = 1 << 11;
pub const FAST: u64 = 1 << 12;
pub const NO_AUTH: u64 = 1 << 13;
pub const MAY_REPLICATE: u64 = 1 << 14;
pub const NO_MANDATORY_KEYS: u64 = 1 << 15;
pub const NO_MULTI: u64 = 1 << 16;
pub const ALLOW_BUSY: u64 = 1 << 17;
pub const NO_ASYNC_LOADING: u64 = 1 << 18;
/// Shoal: runs with the keyspace gate held exclusively (whole-keyspace work).
pub const EXCLUSIVE: u64 = 1 << 40;
/// Shoal: a container whose first argument names a subcommand.
pub const CONTAINER: u64 = 1 << 41;
/// Shoal: runs a script (EVAL*, FCALL*): what it runs propagates as one
/// MULTI/EXEC and blocked clients are served after it, as for EXEC.
pub const SCRIPT: u64 = 1 << 42;

const FLAG_NAMES: &[(u64, &str)] = &[
    (WRITE, "write"),
    (READONLY, "readonly"),
    (DENYOOM, "denyoom"),
    (ADMIN, "admin"),
    (PUBSUB, "pubsub"),
    (NOSCRIPT, "noscript"),
    (BLOCKING, "blocking"),
    (LOADING, "loading"),
    (STALE, "stale"),
    (SKIP_MONITOR, "skip_monitor"),
    (SKIP_SLOWLOG, "skip_slowlog"),
    (ASKING, "asking"),
    (FAST, "fast"),
    (NO_AUTH, "no_auth"),
    (MAY_REPLICATE, "may_replicate"),
    (NO_MANDATORY_KEYS, "no_mandatory_keys"),
    (NO_ASYNC_LOADING, "no_async_loading"),
    (NO_MULTI, "no_multi"),
    (ALLOW_BUSY, "allow_busy"),
];

/// Where a command's keys are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeySpec {
    None,
    /// Keys from `first` to `last` (negative: from the end) every `step`.
    Range {
        first: i32,
        last: i32,
        step: i32,
    },
    /// The argument at `numkeys_at` says how many keys follow, starting at
    /// `numkeys_at + first_offset`, every `step` (ZUNIONSTORE, LMPOP, SINTERCARD…).
    /// `extra` keys come before the count (ZUNIONSTORE's destination at 1).
    Keynum {
        extra_first: i32,
        numkeys_at: i32,
        first_offset: i32,
        step: i32,
    },
    /// SORT: the key at 1, and the argument after the last STORE.
    SortStore,
    /// MIGRATE: the key at 3, or (when it is "") every argument after KEYS.
    Migrate,
    /// GEORADIUS / GEORADIUSBYMEMBER: the key at 1, and the argument after
    /// the last STORE or STOREDIST (options start at `store_from`).
    GeoRadius {
        store_from: i32,
    },
    /// XREAD / XREADGROUP: the first half of the arguments after the
    /// keyword STREAMS, searched from index `from`.
    Streams {
        from: i32,
    },
}

/// Buckets of the per-command latency histogram: bucket `i` counts calls
/// that took less than 2^i microseconds (the last one: everything longer).
pub const LATENCY_BUCKETS: usize = 40;

/// One serving thread's counters of one command.
#[derive(Debug)]
pub struct CmdCounters {
    calls: AtomicU64,
    /// Nanoseconds: sub-microsecond calls add up instead of truncating to 0.
    nsec: AtomicU64,
    rejected_calls: AtomicU64,
    failed_calls: AtomicU64,
    latency_hist: [AtomicU64; LATENCY_BUCKETS],
}

impl Default for CmdCounters {
    fn default() -> Self {
        CmdCounters {
            calls: AtomicU64::new(0),
            nsec: AtomicU64::new(0),
            rejected_calls: AtomicU64::new(0),
            failed_calls: AtomicU64::new(0),
            latency_hist: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// Per-command counters for INFO commandstats / latencystats and LATENCY
/// HISTOGRAM, one shard per serving thread (see `stats::Sharded`): a
/// command called on two cores would otherwise bounce these lines between
/// them on every call.
#[derive(Default)]
pub struct CmdStats {
    shards: crate::stats::Sharded<CmdCounters>,
}

impl std::fmt::Debug for CmdStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CmdStats(calls={})", self.calls())
    }
}

impl CmdStats {
    fn sum(&self, f: impl Fn(&CmdCounters) -> &AtomicU64) -> u64 {
        self.shards
            .all()
            .map(|c| f(c).load(Ordering::Relaxed))
            .sum()
    }

    /// A finished call: its time, and whether it failed.
    #[inline]
    pub fn add_call(&self, nsec: u64, failed: bool, count_call: bool, latency: bool) {
        let c = self.shards.local();
        if count_call {
            c.calls.fetch_add(1, Ordering::Relaxed);
        }
        c.nsec.fetch_add(nsec, Ordering::Relaxed);
        let usec = nsec / 1000;
        if latency {
            let bucket = (64 - usec.leading_zeros() as usize).min(LATENCY_BUCKETS - 1);
            c.latency_hist[bucket].fetch_add(1, Ordering::Relaxed);
        }
        if failed {
            c.failed_calls.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A call counted apart from its run (a blocked command served later).
    pub fn add_calls(&self, failed: bool) {
        let c = self.shards.local();
        c.calls.fetch_add(1, Ordering::Relaxed);
        if failed {
            c.failed_calls.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A call refused before it ran (arity, ACL, OOM…).
    pub fn add_rejected(&self) {
        self.shards
            .local()
            .rejected_calls
            .fetch_add(1, Ordering::Relaxed);
    }

    pub fn calls(&self) -> u64 {
        self.sum(|c| &c.calls)
    }

    pub fn usec(&self) -> u64 {
        self.sum(|c| &c.nsec) / 1000
    }

    pub fn rejected_calls(&self) -> u64 {
        self.sum(|c| &c.rejected_calls)
    }

    pub fn failed_calls(&self) -> u64 {
        self.sum(|c| &c.failed_calls)
    }

    /// (upper bound in usec, cumulative calls) for each bucket up to the one
    /// that holds the slowest call.
    pub fn cumulative_histogram(&self) -> Vec<(u64, u64)> {
        let counts: Vec<u64> = (0..LATENCY_BUCKETS)
            .map(|i| self.sum(|c| &c.latency_hist[i]))
            .collect();
        let total: u64 = counts.iter().sum();
        let mut out = Vec::new();
        let mut cum = 0;
        for (i, c) in counts.iter().enumerate() {
            cum += c;
            out.push((1u64 << i, cum));
            if cum == total {
                break;
            }
        }
        out
    }

    /// The latency (usec, bucket upper bound) below which `pct` percent of calls fell.
    pub fn percentile(&self, pct: f64) -> Option<u64> {
        let hist = self.cumulative_histogram();
        let total = hist.last()?.1;
        if total == 0 {
            return None;
        }
        let target = ((pct / 100.0) * total as f64).ceil().max(1.0) as u64;
        hist.iter().find(|(_, cum)| *cum >= target).map(|(b, _)| *b)
    }

    pub fn reset(&self) {
        for c in self.shards.all() {
            c.calls.store(0, Ordering::Relaxed);
            c.nsec.store(0, Ordering::Relaxed);
            c.rejected_calls.store(0, Ordering::Relaxed);
            c.failed_calls.store(0, Ordering::Relaxed);
            c.latency_hist
                .iter()
                .for_each(|a| a.store(0, Ordering::Relaxed));
        }
    }
}

/// Every command and subcommand, sorted by name.
pub fn all_with_subcommands() -> Vec<&'static Command> {
    let mut all: Vec<&'static Command> = Vec::new();
    for c in table().commands.values() {
        all.push(c);
        all.extend(c.subcommands.iter());
    }
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all
}

pub struct Command {
    /// Lower case; subcommands are "parent|sub".
    pub name: String,
    pub arity: i32,
    pub flags: u64,
    pub acl_categories: Vec<&'static str>,
    /// `acl_categories` as a mask of `crate::acl::CATEGORIES` bits.
    pub acl_mask: u32,
    /// The command's bit in ACL selectors (subcommands have their own).
    pub id: usize,
    pub keys: KeySpec,
    pub group: &'static str,
    pub since: &'static str,
    pub summary: &'static str,
    pub complexity: &'static str,
    pub handler: Handler,
    pub subcommands: Vec<Command>,
    pub stats: CmdStats,
}

impl Command {
    pub fn has(&self, flag: u64) -> bool {
        self.flags & flag != 0
    }

    pub fn flag_names(&self) -> Vec<&'static str> {
        // Redis's order; may_replicate is hidden, as Redis hides it.
        let mut v: Vec<&'static str> = FLAG_NAMES
            .iter()
            .filter(|(f, _)| self.flags & f != 0 && *f != MAY_REPLICATE && *f != ALLOW_BUSY)
            .map(|(_, n)| *n)
            .collect();
        // Keys found by reading arguments make a command "movablekeys".
        if matches!(
            self.keys,
            KeySpec::Keynum { .. }
                | KeySpec::SortStore
                | KeySpec::Migrate
                | KeySpec::GeoRadius { .. }
                | KeySpec::Streams { .. }
        ) {
            v.push("movablekeys");
        }
        // SORT_RO's key is fixed, but Redis finds it with a getkeys
        // function, which makes it movablekeys all the same.
        if self.name == "sort_ro" {
            v.push("movablekeys");
        }
        if self.keys == KeySpec::None && self.has(NO_MANDATORY_KEYS) {
            v.retain(|n| *n != "no_mandatory_keys");
        }
        if self.has(ALLOW_BUSY) {
            v.push("allow_busy");
        }
        v
    }

    /// The key positions (indexes) in a concrete argv, per the key spec.
    pub fn keys_in(&self, argv: &[Bytes]) -> Vec<usize> {
        let n = argv.len() as i32;
        let mut out = Vec::new();
        match self.keys {
            KeySpec::None => {}
            KeySpec::Range { first, last, step } => {
                let last = if last < 0 { n + last } else { last.min(n - 1) };
                let mut i = first;
                while i <= last && i < n {
                    out.push(i as usize);
                    i += step.max(1);
                }
            }
            KeySpec::SortStore => {
                out.push(1);
                // As SORT itself, the last STORE wins.
                let mut store = None;
                let mut i = 2;
                while i + 1 < argv.len() {
                    if argv[i].eq_ignore_ascii_case(b"store") {
                        store = Some(i + 1);
                        i += 1;
                    }
                    i += 1;
                }
                out.extend(store);
            }
            KeySpec::Migrate => out.extend(migrate_keys(argv)),
            KeySpec::GeoRadius { store_from } => {
                out.push(1);
                // As Redis's key specs: the argument after the first STORE,
                // and after the first STOREDIST, searched from store_from.
                for word in [&b"store"[..], b"storedist"] {
                    let found = (store_from.max(1) as usize..argv.len().saturating_sub(1))
                        .find(|&i| argv[i].eq_ignore_ascii_case(word));
                    out.extend(found.map(|i| i + 1));
                }
            }
            KeySpec::Streams { from } => {
                let from = from.max(1) as usize;
                if let Some(at) =
                    (from..argv.len()).find(|&i| argv[i].eq_ignore_ascii_case(b"streams"))
                {
                    let n = (argv.len() - at - 1) / 2;
                    out.extend(at + 1..at + 1 + n);
                }
            }
            KeySpec::Keynum {
                extra_first,
                numkeys_at,
                first_offset,
                step,
            } => {
                if extra_first > 0 && extra_first < n {
                    out.push(extra_first as usize);
                }
                let count = argv
                    .get(numkeys_at as usize)
                    .and_then(|a| crate::util::parse_i64(a))
                    .unwrap_or(0);
                let first = numkeys_at + first_offset;
                for i in 0..count.clamp(0, n as i64) as i32 {
                    let pos = first + i * step.max(1);
                    if pos >= n {
                        break;
                    }
                    out.push(pos as usize);
                }
            }
        }
        out
    }

    /// Whether `argc` satisfies the arity (exact when positive, minimum when negative).
    pub fn arity_ok(&self, argc: usize) -> bool {
        let a = self.arity;
        (a > 0 && argc as i32 == a) || (a < 0 && argc as i32 >= -a)
    }

    pub fn subcommand(&self, name: &[u8]) -> Option<&Command> {
        self.subcommands.iter().find(|s| {
            let short = s.name.split('|').nth(1).unwrap_or("");
            short.as_bytes().eq_ignore_ascii_case(name)
        })
    }
}

pub struct CommandTable {
    pub commands: HashMap<Vec<u8>, Command>,
}

static TABLE: OnceLock<CommandTable> = OnceLock::new();

pub fn table() -> &'static CommandTable {
    TABLE.get_or_init(|| {
        let mut commands = HashMap::new();
        let mut all = table::build();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        // ACL ids: sequential, subcommands after their parent.
        let mut next = 0;
        for c in all.iter_mut() {
            c.id = next;
            c.acl_mask = crate::acl::mask_of(&c.acl_categories);
            next += 1;
            for s in c.subcommands.iter_mut() {
                s.id = next;
                s.acl_mask = crate::acl::mask_of(&s.acl_categories);
                next += 1;
            }
        }
        for c in all {
            commands.insert(c.name.as_bytes().to_vec(), c);
        }
        CommandTable { commands }
    })
}

/// Find a command by name, case-insensitively, without allocating.
#[inline]
pub fn lookup(name: &[u8]) -> Option<&'static Command> {
    let t = table();
    let mut buf = [0u8; 32];
    if name.len() > buf.len() {
        return None;
    }
    for (d, s) in buf.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    t.commands.get(&buf[..name.len()])
}

/// MIGRATE's key positions, as Redis's `migrateGetKeys`: the key at 3, or
/// with KEYS (skipping the arguments of AUTH and AUTH2) the ones after it,
/// none when the key at 3 is not "" (MIGRATE itself then refuses).
fn migrate_keys(argv: &[Bytes]) -> std::ops::Range<usize> {
    if argv.len() < 4 {
        return 0..0;
    }
    let mut i = 6;
    while i < argv.len() {
        let a = &argv[i];
        if a.eq_ignore_ascii_case(b"keys") {
            return if argv[3].is_empty() {
                i + 1..argv.len()
            } else {
                0..0
            };
        }
        if a.eq_ignore_ascii_case(b"auth") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"auth2") {
            i += 2;
        }
        i += 1;
    }
    3..4
}

/// Everything a handler may use while it runs.
pub struct Ctx<'a> {
    pub srv: &'a Server,
    pub client: &'a mut Client,
    pub argv: &'a [Bytes],
    pub now_ms: u64,
    pub cmd: &'static Command,
    /// Changes made to the keyspace by this command (Redis's `dirty`).
    pub dirty: u64,
    /// Configuration values read per command (encoding thresholds, limits).
    pub hot: &'a crate::config::Hot,
    /// The keys this command changed, when that is fewer than its key
    /// positions (a *STORE changes only its destination; SMOVE may leave
    /// its destination as it was). None: every key position. WATCH and
    /// blocked clients are signalled for these.
    pub modified: Option<Vec<Bytes>>,
    /// What to propagate instead of `argv` (a deterministic form), when
    /// the command changed something. See `crate::propagate`.
    pub propagate: Option<Vec<Bytes>>,
}

impl<'a> Ctx<'a> {
    /// A command about to run, with the time fixed for it.
    pub fn new(
        srv: &'a Server,
        client: &'a mut Client,
        argv: &'a [Bytes],
        cmd: &'static Command,
        hot: &'a crate::config::Hot,
    ) -> Self {
        Ctx {
            srv,
            client,
            argv,
            now_ms: crate::util::now_ms(),
            cmd,
            dirty: 0,
            hot,
            modified: None,
            propagate: None,
        }
    }

    /// Propagate `parts` (a deterministic equivalent) instead of `argv`.
    pub fn propagate_as(&mut self, parts: &[&[u8]]) {
        self.propagate = Some(parts.iter().map(|p| Bytes::copy_from_slice(p)).collect());
    }

    /// The client's selected database.
    #[inline]
    pub fn db(&self) -> &'a Db {
        self.srv.keyspace.db(self.client.db)
    }

    #[inline]
    pub fn arg(&self, i: usize) -> &'a [u8] {
        &self.argv[i]
    }

    /// Argument `i` compared case-insensitively with `word`.
    #[inline]
    pub fn arg_is(&self, i: usize, word: &str) -> bool {
        self.argv
            .get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()))
    }

    pub fn arg_str(&self, i: usize) -> String {
        String::from_utf8_lossy(&self.argv[i]).into_owned()
    }

    /// Argument `i` as an integer, or the standard error written to `out`.
    pub fn arg_i64(&self, i: usize, out: &mut Out) -> Option<i64> {
        match crate::util::parse_i64(&self.argv[i]) {
            Some(v) => Some(v),
            None => {
                out.error(crate::error::NOT_INTEGER);
                None
            }
        }
    }

    pub fn hit(&self) {
        self.srv.stats.keyspace_hits.fetch_add(1, Ordering::Relaxed);
    }

    pub fn miss(&self) {
        self.srv
            .stats
            .keyspace_misses
            .fetch_add(1, Ordering::Relaxed);
    }

    /// A read lookup of `key` missed: counts the miss and sends Redis's
    /// "keymiss" keyspace event (class `m`).
    pub fn miss_key(&self, key: &[u8]) {
        self.miss();
        crate::notify::notify(self, crate::notify::NOTIFY_KEY_MISS, "keymiss", key);
    }
}

/// Container commands (CONFIG, CLIENT, …) dispatch to their subcommand;
/// the connection resolves subcommands before calling handlers, so this
/// handler only runs for a bare container name with no subcommand.
pub fn container_handler(ctx: &mut Ctx, out: &mut Out) {
    out.error(&crate::error::wrong_args(&ctx.cmd.name));
}

/// `<CMD> HELP` replies, built from lines of text.
pub fn help_reply(out: &mut Out, container: &str, lines: &[&str]) {
    out.array(lines.len() + 3);
    out.simple(&format!(
        "{container} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for l in lines {
        out.simple(l);
    }
    out.simple("HELP");
    out.simple("    Prints this help.");
}

/// Resolve a container's subcommand from argv; returns the command to run
/// or the error text.
pub fn resolve<'c>(cmd: &'c Command, argv: &[Bytes]) -> Result<&'c Command, String> {
    if !cmd.has(CONTAINER) {
        return Ok(cmd);
    }
    if argv.len() < 2 {
        // COMMAND alone is valid; other containers need a subcommand.
        return if cmd.arity == -1 {
            Ok(cmd)
        } else {
            Err(crate::error::wrong_args(&cmd.name))
        };
    }
    match cmd.subcommand(&argv[1]) {
        Some(sub) => Ok(sub),
        None => Err(crate::error::unknown_subcommand(&cmd.name, &argv[1])),
    }
}
