//! The directive table: every redis.conf directive of Redis 7.0, its kind,
//! default and whether CONFIG SET may change it at run time.
//!
//! Operators keep their redis.conf files, so every directive Redis 7.0 knows
//! is accepted and reported by CONFIG GET; each takes effect where its
//! feature exists in Shoal.

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Bool,
    Int {
        min: i64,
        max: i64,
    },
    /// Accepts memory units (1k, 5mb, 1gb…); reported in bytes.
    Memory {
        min: i64,
        max: i64,
    },
    /// A memory value, or a percentage up to `max_percent` ("10%"), as
    /// maxmemory-clients takes (Redis's PERCENT_CONFIG).
    MemoryOrPercent {
        max: i64,
        max_percent: i64,
    },
    Enum(&'static [&'static str]),
    Str,
    /// Directives with their own syntax, parsed in `special.rs`.
    Special(Special),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Special {
    Save,
    Bind,
    ClientOutputBufferLimit,
    NotifyKeyspaceEvents,
    Replicaof,
    OomScoreAdjValues,
    Percentiles,
    /// `oom-score-adj` takes yes/no/absolute/relative.
    OomScoreAdj,
    Dir,
}

#[derive(Debug)]
pub struct Directive {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub kind: Kind,
    pub default: &'static str,
    pub mutable: bool,
}

const YES_NO_ENUMS_LOGLEVEL: &[&str] = &["debug", "verbose", "notice", "warning"];
const MAXMEMORY_POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];
const APPENDFSYNC: &[&str] = &["everysec", "always", "no"];
const SUPERVISED: &[&str] = &["upstart", "systemd", "auto", "no"];
const SYSLOG_FACILITY: &[&str] = &[
    "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
];
const DISKLESS_LOAD: &[&str] = &["disabled", "on-empty-db", "swapdb"];
const PREFERRED_ENDPOINT: &[&str] = &["ip", "hostname", "unknown-endpoint"];
const PROPAGATION_ERROR: &[&str] = &["ignore", "panic", "panic-on-replicas"];
const ENABLE_CMD: &[&str] = &["no", "yes", "local"];
const SHUTDOWN_ON_SIG: &[&str] = &["default", "save", "nosave", "now", "force"];
const ACL_PUBSUB: &[&str] = &["allchannels", "resetchannels"];
const SANITIZE: &[&str] = &["no", "yes", "clients"];
const TLS_AUTH: &[&str] = &["no", "yes", "optional"];

const I32: i64 = i32::MAX as i64;
const I64: i64 = i64::MAX;

macro_rules! d {
    ($name:expr, $kind:expr, $default:expr, $mutable:expr) => {
        Directive {
            name: $name,
            alias: None,
            kind: $kind,
            default: $default,
            mutable: $mutable,
        }
    };
    ($name:expr, alias $alias:expr, $kind:expr, $default:expr, $mutable:expr) => {
        Directive {
            name: $name,
            alias: Some($alias),
            kind: $kind,
            default: $default,
            mutable: $mutable,
        }
    };
}

use Kind::*;
const fn int(min: i64, max: i64) -> Kind {
    Int { min, max }
}
const fn mem(min: i64, max: i64) -> Kind {
    Memory { min, max }
}

pub static DIRECTIVES: &[Directive] = &[
    d!(
        "acl-pubsub-default",
        Enum(ACL_PUBSUB),
        "resetchannels",
        true
    ),
    d!("aclfile", Str, "", false),
    d!("acllog-max-len", int(0, I64), "128", true),
    d!("active-defrag-cycle-max", int(1, 99), "25", true),
    d!("active-defrag-cycle-min", int(1, 99), "1", true),
    d!("active-defrag-ignore-bytes", mem(1, I64), "104857600", true),
    d!("active-defrag-max-scan-fields", int(1, I64), "1000", true),
    d!("active-defrag-threshold-lower", int(0, 1000), "10", true),
    d!("active-defrag-threshold-upper", int(0, 1000), "100", true),
    d!("active-expire-effort", int(1, 10), "1", true),
    d!("activedefrag", Bool, "no", true),
    d!("activerehashing", Bool, "yes", true),
    d!("always-show-logo", Bool, "no", false),
    d!("aof-disable-auto-gc", Bool, "no", true),
    d!("aof-load-truncated", Bool, "yes", true),
    d!("aof-rewrite-incremental-fsync", Bool, "yes", true),
    d!("aof-timestamp-enabled", Bool, "no", true),
    d!("aof-use-rdb-preamble", Bool, "yes", true),
    d!("aof_rewrite_cpulist", Str, "", false),
    d!("appenddirname", Str, "appendonlydir", false),
    d!("appendfilename", Str, "appendonly.aof", false),
    d!("appendfsync", Enum(APPENDFSYNC), "everysec", true),
    d!("appendonly", Bool, "no", true),
    d!("auto-aof-rewrite-min-size", mem(0, I64), "67108864", true),
    d!("auto-aof-rewrite-percentage", int(0, I32), "100", true),
    d!("bgsave_cpulist", Str, "", false),
    d!("bind", Special(Special::Bind), "* -::*", true),
    d!("bind-source-addr", Str, "", true),
    d!("bio_cpulist", Str, "", false),
    d!("busy-reply-threshold", alias "lua-time-limit", int(0, I64), "5000", true),
    d!(
        "client-output-buffer-limit",
        Special(Special::ClientOutputBufferLimit),
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        true
    ),
    d!(
        "client-query-buffer-limit",
        mem(1024 * 1024, I64),
        "1073741824",
        true
    ),
    d!("cluster-allow-pubsubshard-when-down", Bool, "yes", true),
    d!("cluster-allow-reads-when-down", Bool, "no", true),
    d!("cluster-allow-replica-migration", Bool, "yes", true),
    d!("cluster-announce-bus-port", int(0, 65535), "0", true),
    d!("cluster-announce-hostname", Str, "", true),
    d!("cluster-announce-ip", Str, "", true),
    d!("cluster-announce-port", int(0, 65535), "0", true),
    d!("cluster-announce-tls-port", int(0, 65535), "0", true),
    d!("cluster-config-file", Str, "nodes.conf", false),
    d!("cluster-enabled", Bool, "no", false),
    d!("cluster-link-sendbuf-limit", mem(0, I64), "0", true),
    d!("cluster-migration-barrier", int(0, I32), "1", true),
    d!("cluster-node-timeout", int(0, I64), "15000", true),
    d!("cluster-port", int(0, 65535), "0", false),
    d!(
        "cluster-preferred-endpoint-type",
        Enum(PREFERRED_ENDPOINT),
        "ip",
        true
    ),
    d!("cluster-replica-no-failover", alias "cluster-slave-no-failover", Bool, "no", true),
    d!("cluster-replica-validity-factor", alias "cluster-slave-validity-factor", int(0, I32), "10", true),
    d!("cluster-require-full-coverage", Bool, "yes", true),
    d!("crash-log-enabled", Bool, "yes", true),
    d!("crash-memcheck-enabled", Bool, "yes", true),
    d!("daemonize", Bool, "no", false),
    d!("databases", int(1, I32), "16", false),
    d!("dbfilename", Str, "dump.rdb", true),
    d!("dir", Special(Special::Dir), "", true),
    d!("disable-thp", Bool, "yes", false),
    d!("dynamic-hz", Bool, "yes", true),
    d!("enable-debug-command", Enum(ENABLE_CMD), "no", false),
    d!("enable-module-command", Enum(ENABLE_CMD), "no", false),
    d!("enable-protected-configs", Enum(ENABLE_CMD), "no", false),
    d!("hash-max-listpack-entries", alias "hash-max-ziplist-entries", mem(0, I64), "512", true),
    d!("hash-max-listpack-value", alias "hash-max-ziplist-value", mem(0, I64), "64", true),
    d!("hll-sparse-max-bytes", mem(0, I64), "3000", true),
    d!("hz", int(0, I32), "10", true),
    d!("ignore-warnings", Str, "", true),
    d!("io-threads", int(1, 128), "1", false),
    d!("io-threads-do-reads", Bool, "no", false),
    d!("jemalloc-bg-thread", Bool, "yes", true),
    d!("latency-monitor-threshold", int(0, I64), "0", true),
    d!("latency-tracking", Bool, "yes", true),
    d!(
        "latency-tracking-info-percentiles",
        Special(Special::Percentiles),
        "50 99 99.9",
        true
    ),
    d!("lazyfree-lazy-eviction", Bool, "no", true),
    d!("lazyfree-lazy-expire", Bool, "no", true),
    d!("lazyfree-lazy-server-del", Bool, "no", true),
    d!("lazyfree-lazy-user-del", Bool, "no", true),
    d!("lazyfree-lazy-user-flush", Bool, "no", true),
    d!("lfu-decay-time", int(0, I32), "1", true),
    d!("lfu-log-factor", int(0, I32), "10", true),
    d!("list-compress-depth", int(0, I32), "0", true),
    d!("list-max-listpack-size", alias "list-max-ziplist-size", int(i32::MIN as i64, I32), "-2", true),
    d!("logfile", Str, "", false),
    d!("loglevel", Enum(YES_NO_ENUMS_LOGLEVEL), "notice", true),
    d!("masterauth", Str, "", true),
    d!("masteruser", Str, "", true),
    d!("maxclients", int(1, I32), "10000", true),
    d!("maxmemory", mem(0, I64), "0", true),
    d!(
        "maxmemory-clients",
        MemoryOrPercent {
            max: I64,
            max_percent: 100
        },
        "0",
        true
    ),
    d!("maxmemory-eviction-tenacity", int(0, 100), "10", true),
    d!(
        "maxmemory-policy",
        Enum(MAXMEMORY_POLICIES),
        "noeviction",
        true
    ),
    d!("maxmemory-samples", int(1, I32), "5", true),
    d!("min-replicas-max-lag", alias "min-slaves-max-lag", int(0, I32), "10", true),
    d!("min-replicas-to-write", alias "min-slaves-to-write", int(0, I32), "0", true),
    d!("no-appendfsync-on-rewrite", Bool, "no", true),
    d!(
        "notify-keyspace-events",
        Special(Special::NotifyKeyspaceEvents),
        "",
        true
    ),
    d!("oom-score-adj", Special(Special::OomScoreAdj), "no", true),
    d!(
        "oom-score-adj-values",
        Special(Special::OomScoreAdjValues),
        "0 200 800",
        true
    ),
    d!("pidfile", Str, "", false),
    d!("port", int(0, 65535), "6379", true),
    d!(
        "proc-title-template",
        Str,
        "{title} {listen-addr} {server-mode}",
        true
    ),
    d!(
        "propagation-error-behavior",
        Enum(PROPAGATION_ERROR),
        "ignore",
        true
    ),
    d!("protected-mode", Bool, "yes", true),
    d!(
        "proto-max-bulk-len",
        mem(1024 * 1024, I64),
        "536870912",
        true
    ),
    d!("rdb-del-sync-files", Bool, "no", true),
    d!("rdb-save-incremental-fsync", Bool, "yes", true),
    d!("rdbchecksum", Bool, "yes", false),
    d!("rdbcompression", Bool, "yes", true),
    d!("repl-backlog-size", mem(1, I64), "1048576", true),
    d!("repl-backlog-ttl", int(0, I32), "3600", true),
    d!("repl-disable-tcp-nodelay", Bool, "no", true),
    d!("repl-diskless-load", Enum(DISKLESS_LOAD), "disabled", true),
    d!("repl-diskless-sync", Bool, "yes", true),
    d!("repl-diskless-sync-delay", int(0, I32), "5", true),
    d!("repl-diskless-sync-max-replicas", int(0, I32), "0", true),
    d!("repl-ping-replica-period", alias "repl-ping-slave-period", int(1, I32), "10", true),
    d!("repl-timeout", int(1, I32), "60", true),
    d!("replica-announce-ip", alias "slave-announce-ip", Str, "", true),
    d!("replica-announce-port", alias "slave-announce-port", int(0, 65535), "0", true),
    d!("replica-announced", Bool, "yes", true),
    d!("replica-ignore-disk-write-errors", Bool, "no", true),
    d!("replica-ignore-maxmemory", alias "slave-ignore-maxmemory", Bool, "yes", true),
    d!("replica-lazy-flush", alias "slave-lazy-flush", Bool, "no", true),
    d!("replica-priority", alias "slave-priority", int(0, I32), "100", true),
    d!("replica-read-only", alias "slave-read-only", Bool, "yes", true),
    d!("replica-serve-stale-data", alias "slave-serve-stale-data", Bool, "yes", true),
    d!("replicaof", alias "slaveof", Special(Special::Replicaof), "", false),
    d!("requirepass", Str, "", true),
    d!("sanitize-dump-payload", Enum(SANITIZE), "no", true),
    d!(
        "save",
        Special(Special::Save),
        "3600 1 300 100 60 10000",
        true
    ),
    d!("server_cpulist", Str, "", false),
    d!("set-max-intset-entries", int(0, I64), "512", true),
    d!("set-proc-title", Bool, "yes", false),
    d!("shutdown-on-sigint", Enum(SHUTDOWN_ON_SIG), "default", true),
    d!(
        "shutdown-on-sigterm",
        Enum(SHUTDOWN_ON_SIG),
        "default",
        true
    ),
    d!("shutdown-timeout", int(0, I32), "10", true),
    d!("slowlog-log-slower-than", int(-1, I64), "10000", true),
    d!("slowlog-max-len", int(0, I64), "128", true),
    d!("socket-mark-id", int(0, u32::MAX as i64), "0", true),
    d!("stop-writes-on-bgsave-error", Bool, "yes", true),
    d!("stream-node-max-bytes", mem(0, I64), "4096", true),
    d!("stream-node-max-entries", int(0, I64), "100", true),
    d!("supervised", Enum(SUPERVISED), "no", false),
    d!("syslog-enabled", Bool, "no", false),
    d!("syslog-facility", Enum(SYSLOG_FACILITY), "local0", false),
    d!("syslog-ident", Str, "redis", false),
    d!("tcp-backlog", int(0, I32), "511", false),
    d!("tcp-keepalive", int(0, I32), "300", true),
    d!("timeout", int(0, I32), "0", true),
    d!("tls-auth-clients", Enum(TLS_AUTH), "yes", true),
    d!("tls-ca-cert-dir", Str, "", true),
    d!("tls-ca-cert-file", Str, "", true),
    d!("tls-cert-file", Str, "", true),
    d!("tls-ciphers", Str, "", true),
    d!("tls-ciphersuites", Str, "", true),
    d!("tls-client-cert-file", Str, "", true),
    d!("tls-client-key-file", Str, "", true),
    d!("tls-client-key-file-pass", Str, "", true),
    d!("tls-cluster", Bool, "no", true),
    d!("tls-dh-params-file", Str, "", true),
    d!("tls-key-file", Str, "", true),
    d!("tls-key-file-pass", Str, "", true),
    d!("tls-port", int(0, 65535), "0", true),
    d!("tls-prefer-server-ciphers", Bool, "no", true),
    d!("tls-protocols", Str, "", true),
    d!("tls-replication", Bool, "no", true),
    d!("tls-session-cache-size", int(0, I32), "20480", true),
    d!("tls-session-cache-timeout", int(0, I32), "300", true),
    d!("tls-session-caching", Bool, "yes", true),
    d!("tracking-table-max-keys", int(0, I64), "1000000", true),
    d!("unixsocket", Str, "", false),
    d!("unixsocketperm", int(0, 0o777), "0", false),
    d!("zset-max-listpack-entries", alias "zset-max-ziplist-entries", mem(0, I64), "128", true),
    d!("zset-max-listpack-value", alias "zset-max-ziplist-value", mem(0, I64), "64", true),
];

/// Find a directive by its name or alias (case-insensitive).
pub fn lookup(name: &str) -> Option<&'static Directive> {
    DIRECTIVES.iter().find(|d| {
        d.name.eq_ignore_ascii_case(name) || d.alias.is_some_and(|a| a.eq_ignore_ascii_case(name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_sorted() {
        for w in DIRECTIVES.windows(2) {
            assert!(w[0].name < w[1].name, "{} then {}", w[0].name, w[1].name);
        }
    }

    #[test]
    fn aliases_resolve() {
        assert_eq!(lookup("slaveof").unwrap().name, "replicaof");
        assert_eq!(
            lookup("LIST-MAX-ZIPLIST-SIZE").unwrap().name,
            "list-max-listpack-size"
        );
        assert!(lookup("nope").is_none());
    }
}
