//! The entries of the command table: name, arity, flags, key positions,
//! documentation and handler, with Redis 7.0's values.

use super::*;

/// Build one command. `flags` is a space-separated list of COMMAND INFO flag
/// names, plus Shoal's `exclusive`, plus extra `@category` ACL names.
#[allow(clippy::too_many_arguments)]
pub(crate) fn c(
    name: &str,
    arity: i32,
    flags: &'static str,
    keys: (i32, i32, i32),
    group: &'static str,
    since: &'static str,
    summary: &'static str,
    handler: Handler,
) -> Command {
    let keys = if keys.0 == 0 {
        KeySpec::None
    } else {
        KeySpec::Range {
            first: keys.0,
            last: keys.1,
            step: keys.2,
        }
    };
    c_with_keys(name, arity, flags, keys, group, since, summary, handler)
}

/// Like `c`, with any key spec (e.g. `KeySpec::Keynum` for numkeys commands).
#[allow(clippy::too_many_arguments)]
pub(crate) fn c_with_keys(
    name: &str,
    arity: i32,
    flags: &'static str,
    keys: KeySpec,
    group: &'static str,
    since: &'static str,
    summary: &'static str,
    handler: Handler,
) -> Command {
    let mut bits = 0u64;
    let mut extra_cats = Vec::new();
    for f in flags.split_whitespace() {
        if let Some(cat) = f.strip_prefix('@') {
            extra_cats.push(cat);
            continue;
        }
        bits |= match f {
            "exclusive" => EXCLUSIVE,
            "container" => CONTAINER,
            "script" => SCRIPT,
            other => {
                FLAG_NAMES
                    .iter()
                    .find(|(_, n)| *n == other)
                    .unwrap_or_else(|| panic!("unknown command flag {other} on {name}"))
                    .0
            }
        };
    }
    Command {
        name: name.to_string(),
        arity,
        flags: bits,
        acl_categories: categories(bits, group, &extra_cats),
        acl_mask: 0,
        id: 0,
        keys,
        group,
        since,
        summary,
        complexity: "",
        handler,
        subcommands: Vec::new(),
        stats: CmdStats::default(),
    }
}

fn categories(flags: u64, group: &str, extra: &[&'static str]) -> Vec<&'static str> {
    let mut v = Vec::new();
    match group {
        // An explicit @connection (WAIT) replaces the group's @keyspace.
        "generic" if !extra.contains(&"connection") => v.push("keyspace"),
        "string" => v.push("string"),
        "bitmap" => v.push("bitmap"),
        "connection" => v.push("connection"),
        "transactions" => v.push("transaction"),
        "scripting" => v.push("scripting"),
        "pubsub" => {}
        _ => {}
    }
    if flags & WRITE != 0 {
        v.push("write");
    }
    // Read-only scripts are not @read in Redis: a script is its own category.
    if flags & READONLY != 0 && group != "scripting" {
        v.push("read");
    }
    if flags & ADMIN != 0 {
        v.push("admin");
        v.push("dangerous");
    }
    if flags & PUBSUB != 0 {
        v.push("pubsub");
    }
    v.push(if flags & FAST != 0 { "fast" } else { "slow" });
    if flags & BLOCKING != 0 {
        v.push("blocking");
    }
    for e in extra {
        if !v.contains(e) {
            v.push(e);
        }
    }
    // COMMAND INFO lists categories in the order of Redis's ACL category table.
    const ORDER: &[&str] = &crate::acl::CATEGORIES;
    v.sort_by_key(|c| ORDER.iter().position(|o| o == c).unwrap_or(ORDER.len()));
    v
}

pub(crate) fn with_subs(mut parent: Command, subs: Vec<Command>) -> Command {
    parent.flags |= CONTAINER;
    // A pure container's own categories are just @slow (its subcommands
    // carry the rest); COMMAND, which also runs bare, keeps its own.
    if parent.arity != -1 {
        parent.acl_categories = vec!["slow"];
    }
    parent.subcommands = subs;
    parent
}

/// Every command: the core families here, the data-type families from
/// their own modules.
pub fn build() -> Vec<Command> {
    let mut all = core();
    for family in [
        super::hash::commands,
        super::list::commands,
        super::set::commands,
        super::zset::commands,
        super::geo::commands,
        super::pubsub::commands,
        super::blocking::commands,
        super::hyperloglog::commands,
        super::sort::commands,
        super::stream::commands,
        super::dump::commands,
        super::cluster::commands,
        super::scripting::commands,
    ] {
        all.extend(family());
    }
    all
}

fn core() -> Vec<Command> {
    use super::{
        acl, bits as b, connection as cn, function as fun, introspection as it, keys as k,
        persistence as ps, server as sv, string as s, tracking as tr, transaction as tx,
    };
    use crate::replication::commands as rp;
    let none = (0, 0, 0);
    let one = (1, 1, 1);
    vec![
        // connection
        c("ping", -1, "fast", none, "connection", "1.0.0", "Ping the server", cn::ping),
        c("echo", 2, "loading stale fast", none, "connection", "1.0.0", "Echo the given string", cn::echo),
        c("select", 2, "loading stale fast", none, "connection", "1.0.0", "Change the selected database for the current connection", cn::select),
        c("auth", -2, "noscript loading stale fast no_auth allow_busy", none, "connection", "1.0.0", "Authenticate to the server", cn::auth),
        c("hello", -1, "noscript loading stale fast no_auth allow_busy", none, "connection", "6.0.0", "Handshake with Redis", cn::hello),
        c("quit", -1, "allow_busy noscript loading stale fast no_auth", none, "connection", "1.0.0", "Close the connection", cn::quit),
        c("monitor", 1, "admin noscript loading stale", none, "server", "1.0.0", "Listen for all requests received by the server in real time", cn::monitor),
        c("reset", 1, "noscript loading stale fast no_auth allow_busy", none, "connection", "6.2.0", "Reset the connection", cn::reset),
        with_subs(
            c("acl", -2, "", none, "server", "6.0.0", "A container for Access List Control commands", container_handler),
            vec![
                c("acl|cat", -2, "noscript loading stale", none, "server", "6.0.0", "List the ACL categories or the commands inside a category", acl::cat),
                c("acl|deluser", -3, "admin noscript loading stale", none, "server", "6.0.0", "Remove the specified ACL users and the associated rules", acl::deluser),
                c("acl|dryrun", -4, "admin noscript loading stale", none, "server", "7.0.0", "Returns whether the user can execute the given command without executing the command.", acl::dryrun),
                c("acl|genpass", -2, "noscript loading stale", none, "server", "6.0.0", "Generate a pseudorandom secure password to use for ACL users", acl::genpass),
                c("acl|getuser", 3, "admin noscript loading stale", none, "server", "6.0.0", "Get the rules for a specific ACL user", acl::getuser),
                c("acl|help", 2, "loading stale", none, "server", "6.0.0", "Show helpful text about the different subcommands", acl::help),
                c("acl|list", 2, "admin noscript loading stale", none, "server", "6.0.0", "List the current ACL rules in ACL config file format", acl::list),
                c("acl|load", 2, "admin noscript loading stale", none, "server", "6.0.0", "Reload the ACLs from the configured ACL file", acl::load),
                c("acl|log", -2, "admin noscript loading stale", none, "server", "6.0.0", "List latest events denied because of ACLs in place", acl::log),
                c("acl|save", 2, "admin noscript loading stale", none, "server", "6.0.0", "Save the current ACL rules in the configured ACL file", acl::save),
                c("acl|setuser", -3, "admin noscript loading stale", none, "server", "6.0.0", "Modify or create the rules for a specific ACL user", acl::setuser),
                c("acl|users", 2, "admin noscript loading stale", none, "server", "6.0.0", "List the username of all the configured ACL rules", acl::users),
                c("acl|whoami", 2, "noscript loading stale", none, "server", "6.0.0", "Return the name of the user associated to the current connection", acl::whoami),
            ],
        ),
        with_subs(
            c("client", -2, "", none, "connection", "2.4.0", "A container for client connection commands", container_handler),
            vec![
                c("client|id", 2, "noscript loading stale", none, "connection", "5.0.0", "Returns the client ID for the current connection", cn::client_id),
                c("client|setname", 3, "noscript loading stale", none, "connection", "2.6.9", "Set the current connection name", cn::client_setname),
                c("client|getname", 2, "noscript loading stale", none, "connection", "2.6.9", "Get the current connection name", cn::client_getname),
                c("client|list", -2, "admin noscript loading stale", none, "connection", "2.4.0", "Get the list of client connections", cn::client_list),
                c("client|info", 2, "noscript loading stale", none, "connection", "6.2.0", "Returns information about the current client connection.", cn::client_info),
                c("client|kill", -3, "admin noscript loading stale", none, "connection", "2.4.0", "Kill the connection of a client", cn::client_kill),
                c("client|unblock", -3, "admin noscript loading stale", none, "connection", "5.0.0", "Unblock a client blocked in a blocking command from a different connection", cn::client_unblock),
                c("client|tracking", -3, "noscript loading stale", none, "connection", "6.0.0", "Enable or disable server assisted client side caching support", tr::client_tracking),
                c("client|caching", 3, "noscript loading stale", none, "connection", "6.0.0", "Instruct the server about tracking or not keys in the next request", tr::client_caching),
                c("client|getredir", 2, "noscript loading stale", none, "connection", "6.0.0", "Get tracking notifications redirection client ID if any", tr::client_getredir),
                c("client|trackinginfo", 2, "noscript loading stale", none, "connection", "6.2.0", "Return information about server assisted client side caching for the current connection", tr::client_trackinginfo),
                c("client|no-evict", 3, "admin noscript loading stale", none, "connection", "7.0.0", "Set client eviction mode for the current connection", cn::client_no_evict),
                c("client|reply", 3, "noscript loading stale", none, "connection", "3.2.0", "Instruct the server whether to reply to commands", cn::client_reply),
                c("client|pause", -3, "admin noscript loading stale", none, "connection", "2.9.50", "Stop processing commands from clients for some time", cn::client_pause),
                c("client|unpause", 2, "admin noscript loading stale", none, "connection", "6.2.0", "Resume processing of clients that were paused", cn::client_unpause),
                c("client|help", 2, "loading stale", none, "connection", "5.0.0", "Show helpful text about the different subcommands", cn::client_help),
            ],
        ),
        // transactions
        c("multi", 1, "noscript loading stale fast allow_busy", none, "transactions", "1.2.0", "Mark the start of a transaction block", tx::multi),
        c("exec", 1, "noscript loading stale skip_slowlog exclusive", none, "transactions", "1.2.0", "Execute all commands issued after MULTI", tx::exec),
        c("watch", -2, "noscript loading stale fast allow_busy", (1, -1, 1), "transactions", "2.2.0", "Watch the given keys to determine execution of the MULTI/EXEC block", tx::watch),
        c("unwatch", 1, "noscript loading stale fast allow_busy", none, "transactions", "2.2.0", "Forget about all watched keys", tx::unwatch),
        c("discard", 1, "noscript loading stale fast allow_busy", none, "transactions", "2.0.0", "Discard all commands issued after MULTI", tx::discard),
        // generic keyspace
        c("del", -2, "write", (1, -1, 1), "generic", "1.0.0", "Delete a key", k::del),
        c("unlink", -2, "write fast", (1, -1, 1), "generic", "4.0.0", "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.", k::unlink),
        c("exists", -2, "readonly fast", (1, -1, 1), "generic", "1.0.0", "Determine if a key exists", k::exists),
        c("type", 2, "readonly fast", one, "generic", "1.0.0", "Determine the type stored at key", k::type_),
        c("touch", -2, "readonly fast", (1, -1, 1), "generic", "3.2.1", "Alters the last access time of a key(s). Returns the number of existing keys specified.", k::touch),
        c("expire", -3, "write fast", one, "generic", "1.0.0", "Set a key's time to live in seconds", k::expire),
        c("pexpire", -3, "write fast", one, "generic", "2.6.0", "Set a key's time to live in milliseconds", k::pexpire),
        c("expireat", -3, "write fast", one, "generic", "1.2.0", "Set the expiration for a key as a UNIX timestamp", k::expireat),
        c("pexpireat", -3, "write fast", one, "generic", "2.6.0", "Set the expiration for a key as a UNIX timestamp specified in milliseconds", k::pexpireat),
        c("ttl", 2, "readonly fast", one, "generic", "1.0.0", "Get the time to live for a key in seconds", k::ttl),
        c("pttl", 2, "readonly fast", one, "generic", "2.6.0", "Get the time to live for a key in milliseconds", k::pttl),
        c("expiretime", 2, "readonly fast", one, "generic", "7.0.0", "Get the expiration Unix timestamp for a key", k::expiretime),
        c("pexpiretime", 2, "readonly fast", one, "generic", "7.0.0", "Get the expiration Unix timestamp for a key in milliseconds", k::pexpiretime),
        c("persist", 2, "write fast", one, "generic", "2.2.0", "Remove the expiration from a key", k::persist),
        c("rename", 3, "write", (1, 2, 1), "generic", "1.0.0", "Rename a key", k::rename),
        c("renamenx", 3, "write fast", (1, 2, 1), "generic", "1.0.0", "Rename a key, only if the new key does not exist", k::renamenx),
        c("copy", -3, "write denyoom", (1, 2, 1), "generic", "6.2.0", "Copy a key", k::copy),
        c("move", 3, "write fast exclusive", one, "generic", "1.0.0", "Move a key to another database", k::move_),
        c("keys", 2, "readonly exclusive @dangerous", none, "generic", "1.0.0", "Find all keys matching the given pattern", k::keys),
        c("scan", -2, "readonly", none, "generic", "2.8.0", "Incrementally iterate the keys space", k::scan),
        c("randomkey", 1, "readonly", none, "generic", "1.0.0", "Return a random key from the keyspace", k::randomkey),
        c("swapdb", 3, "write fast exclusive @keyspace @dangerous", none, "server", "4.0.0", "Swaps two Redis databases", k::swapdb),
        with_subs(
            c("object", -2, "", none, "generic", "2.2.3", "A container for object introspection commands", container_handler),
            vec![
                c("object|encoding", 3, "readonly", (2, 2, 1), "generic", "2.2.3", "Inspect the internal encoding of a Redis object", k::object_encoding),
                c("object|refcount", 3, "readonly", (2, 2, 1), "generic", "2.2.3", "Get the number of references to the value of the key", k::object_refcount),
                c("object|idletime", 3, "readonly", (2, 2, 1), "generic", "2.2.3", "Get the time since a Redis object was last accessed", k::object_idletime),
                c("object|freq", 3, "readonly", (2, 2, 1), "generic", "4.0.0", "Get the logarithmic access frequency counter of a Redis object", k::object_freq),
                c("object|help", 2, "loading stale", none, "generic", "6.2.0", "Show helpful text about the different subcommands", k::object_help),
            ],
        ),
        // strings
        c("get", 2, "readonly fast", one, "string", "1.0.0", "Get the value of a key", s::get),
        c("set", -3, "write denyoom", one, "string", "1.0.0", "Set the string value of a key", s::set),
        c("setnx", 3, "write denyoom fast", one, "string", "1.0.0", "Set the value of a key, only if the key does not exist", s::setnx),
        c("setex", 4, "write denyoom", one, "string", "2.0.0", "Set the value and expiration of a key", s::setex),
        c("psetex", 4, "write denyoom", one, "string", "2.6.0", "Set the value and expiration in milliseconds of a key", s::psetex),
        c("getset", 3, "write denyoom fast", one, "string", "1.0.0", "Set the string value of a key and return its old value", s::getset),
        c("getdel", 2, "write fast", one, "string", "6.2.0", "Get the value of a key and delete the key", s::getdel),
        c("getex", -2, "write fast", one, "string", "6.2.0", "Get the value of a key and optionally set its expiration", s::getex),
        c("mget", -2, "readonly fast", (1, -1, 1), "string", "1.0.0", "Get the values of all the given keys", s::mget),
        c("mset", -3, "write denyoom", (1, -1, 2), "string", "1.0.1", "Set multiple keys to multiple values", s::mset),
        c("msetnx", -3, "write denyoom", (1, -1, 2), "string", "1.0.1", "Set multiple keys to multiple values, only if none of the keys exist", s::msetnx),
        c("append", 3, "write denyoom fast", one, "string", "2.0.0", "Append a value to a key", s::append),
        c("strlen", 2, "readonly fast", one, "string", "2.2.0", "Get the length of the value stored in a key", s::strlen),
        c("getrange", 4, "readonly", one, "string", "2.4.0", "Get a substring of the string stored at a key", s::getrange),
        c("substr", 4, "readonly", one, "string", "1.0.0", "Get a substring of the string stored at a key", s::getrange),
        c("setrange", 4, "write denyoom", one, "string", "2.2.0", "Overwrite part of a string at key starting at the specified offset", s::setrange),
        c("incr", 2, "write denyoom fast", one, "string", "1.0.0", "Increment the integer value of a key by one", s::incr),
        c("decr", 2, "write denyoom fast", one, "string", "1.0.0", "Decrement the integer value of a key by one", s::decr),
        c("incrby", 3, "write denyoom fast", one, "string", "1.0.0", "Increment the integer value of a key by the given amount", s::incrby),
        c("decrby", 3, "write denyoom fast", one, "string", "1.0.0", "Decrement the integer value of a key by the given number", s::decrby),
        c("incrbyfloat", 3, "write denyoom fast", one, "string", "2.6.0", "Increment the float value of a key by the given amount", s::incrbyfloat),
        c("lcs", -3, "readonly", (1, 2, 1), "string", "7.0.0", "Find longest common substring", b::lcs),
        // bitmaps
        c("setbit", 4, "write denyoom", one, "bitmap", "2.2.0", "Sets or clears the bit at offset in the string value stored at key", b::setbit),
        c("getbit", 3, "readonly fast", one, "bitmap", "2.2.0", "Returns the bit value at offset in the string value stored at key", b::getbit),
        c("bitcount", -2, "readonly", one, "bitmap", "2.6.0", "Count set bits in a string", b::bitcount),
        c("bitpos", -3, "readonly", one, "bitmap", "2.8.7", "Find first bit set or clear in a string", b::bitpos),
        c("bitop", -4, "write denyoom", (2, -1, 1), "bitmap", "2.6.0", "Perform bitwise operations between strings", b::bitop),
        c("bitfield", -2, "write denyoom", one, "bitmap", "3.2.0", "Perform arbitrary bitfield integer operations on strings", b::bitfield),
        c("bitfield_ro", -2, "readonly fast", one, "bitmap", "6.0.0", "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD", b::bitfield_ro),
        // server
        c("info", -1, "loading stale @dangerous", none, "server", "1.0.0", "Get information and statistics about the server", sv::info),
        c("dbsize", 1, "readonly fast @keyspace", none, "server", "1.0.0", "Return the number of keys in the selected database", sv::dbsize),
        c("flushdb", -1, "write exclusive @keyspace @dangerous", none, "server", "1.0.0", "Remove all keys from the current database", sv::flushdb),
        c("flushall", -1, "write exclusive @keyspace @dangerous", none, "server", "1.0.0", "Remove all keys from all databases", sv::flushall),
        c("time", 1, "loading stale fast", none, "server", "2.6.0", "Return the current server time", sv::time),
        c("lastsave", 1, "loading stale fast @admin @dangerous", none, "server", "1.0.0", "Get the UNIX time stamp of the last successful save to disk", sv::lastsave),
        c("save", 1, "admin noscript no_async_loading no_multi exclusive", none, "server", "1.0.0", "Synchronously save the dataset to disk", ps::save),
        c("bgsave", -1, "admin noscript no_async_loading exclusive", none, "server", "1.0.0", "Asynchronously save the dataset to disk", ps::bgsave),
        c("bgrewriteaof", 1, "admin noscript no_async_loading exclusive", none, "server", "1.0.0", "Asynchronously rewrite the append-only file", ps::bgrewriteaof),
        c("shutdown", -1, "admin noscript loading stale no_multi allow_busy exclusive", none, "server", "1.0.0", "Synchronously save the dataset to disk and then shut down the server", sv::shutdown),
        c("debug", -2, "admin noscript loading stale exclusive", none, "server", "1.0.0", "A container for debugging commands", sv::debug),
        // replication (crate::replication)
        c("replicaof", 3, "admin noscript stale no_async_loading exclusive", none, "server", "5.0.0", "Make the server a replica of another instance, or promote it as master.", rp::replicaof),
        c("slaveof", 3, "admin noscript stale no_async_loading exclusive", none, "server", "1.0.0", "Make the server a replica of another instance, or promote it as master.", rp::replicaof),
        c("role", 1, "noscript loading stale fast @admin @dangerous", none, "server", "2.8.12", "Return the role of the instance in the context of replication", rp::role),
        c("wait", 3, "noscript @connection", none, "generic", "3.0.0", "Wait for the synchronous replication of all the write commands sent in the context of the current connection", rp::wait),
        c("replconf", -1, "admin noscript loading stale allow_busy", none, "server", "3.0.0", "An internal command for configuring the replication stream", rp::replconf),
        c("psync", -3, "admin noscript no_async_loading no_multi exclusive", none, "server", "2.8.0", "Internal command used for replication", crate::replication::master::psync),
        c("sync", 1, "admin noscript no_async_loading no_multi exclusive", none, "server", "1.0.0", "Internal command used for replication", crate::replication::master::psync),
        with_subs(
            c("config", -2, "", none, "server", "2.0.0", "A container for server configuration commands", container_handler),
            vec![
                c("config|get", -3, "admin noscript loading stale", none, "server", "2.0.0", "Get the values of configuration parameters", sv::config_get),
                c("config|set", -4, "admin noscript loading stale exclusive", none, "server", "2.0.0", "Set configuration parameters to the given values", sv::config_set),
                c("config|resetstat", 2, "admin noscript loading stale", none, "server", "2.0.0", "Reset the stats returned by INFO", sv::config_resetstat),
                c("config|rewrite", 2, "admin noscript loading stale", none, "server", "2.8.0", "Rewrite the configuration file with the in memory configuration", sv::config_rewrite),
                c("config|help", 2, "loading stale", none, "server", "5.0.0", "Show helpful text about the different subcommands", sv::config_help),
            ],
        ),
        with_subs(
            c("memory", -2, "", none, "server", "4.0.0", "A container for memory diagnostics commands", container_handler),
            vec![
                c("memory|usage", -3, "readonly", (2, 2, 1), "server", "4.0.0", "Estimate the memory usage of a key", sv::memory_usage),
                c("memory|stats", 2, "", none, "server", "4.0.0", "Show memory usage details", sv::memory_stats),
                c("memory|doctor", 2, "", none, "server", "4.0.0", "Outputs memory problems report", sv::memory_doctor),
                c("memory|malloc-stats", 2, "", none, "server", "4.0.0", "Show allocator internal stats", sv::memory_malloc_stats),
                c("memory|purge", 2, "", none, "server", "4.0.0", "Ask the allocator to release memory", sv::memory_purge),
                c("memory|help", 2, "loading stale", none, "server", "4.0.0", "Show helpful text about the different subcommands", sv::memory_help),
            ],
        ),
        with_subs(
            c("slowlog", -2, "", none, "server", "2.2.12", "A container for slow log commands", container_handler),
            vec![
                c("slowlog|get", -2, "admin loading stale", none, "server", "2.2.12", "Get the slow log's entries", sv::slowlog_get),
                c("slowlog|len", 2, "admin loading stale", none, "server", "2.2.12", "Get the slow log's length", sv::slowlog_len),
                c("slowlog|reset", 2, "admin loading stale", none, "server", "2.2.12", "Clear all entries from the slow log", sv::slowlog_reset),
                c("slowlog|help", 2, "loading stale", none, "server", "6.2.0", "Show helpful text about the different subcommands", sv::slowlog_help),
            ],
        ),
        with_subs(
            c("latency", -2, "", none, "server", "2.8.13", "A container for latency diagnostics commands", container_handler),
            vec![
                c("latency|latest", 2, "admin noscript loading stale", none, "server", "2.8.13", "Return the latest latency samples for all events.", sv::latency_latest),
                c("latency|history", 3, "admin noscript loading stale", none, "server", "2.8.13", "Return timestamp-latency samples for the event.", sv::latency_history),
                c("latency|reset", -2, "admin noscript loading stale", none, "server", "2.8.13", "Reset latency data for one or more events.", sv::latency_reset),
                c("latency|doctor", 2, "admin noscript loading stale", none, "server", "2.8.13", "Return a human readable latency analysis report.", sv::latency_doctor),
                c("latency|graph", 3, "admin noscript loading stale", none, "server", "2.8.13", "Return a latency graph for the event.", sv::latency_graph),
                c("latency|histogram", -2, "admin noscript loading stale", none, "server", "7.0.0", "Return the cumulative distribution of latencies of a subset of commands or all.", sv::latency_histogram),
                c("latency|help", 2, "loading stale", none, "server", "2.8.13", "Show helpful text about the different subcommands.", sv::latency_help),
            ],
        ),
        with_subs(
            c("function", -2, "", none, "scripting", "7.0.0", "A container for function commands", container_handler),
            vec![
                c("function|flush", -2, "write noscript", none, "scripting", "7.0.0", "Deleting all functions", fun::function_flush),
                c("function|list", -2, "noscript", none, "scripting", "7.0.0", "List information about all the functions", fun::function_list),
                c("function|delete", 3, "write noscript", none, "scripting", "7.0.0", "Delete a function by name", fun::function_delete),
                c("function|load", -3, "write denyoom noscript", none, "scripting", "7.0.0", "Create a function with the given arguments (name, code, description)", fun::function_load),
                c("function|dump", 2, "noscript", none, "scripting", "7.0.0", "Dump all functions into a serialized binary payload", fun::function_dump),
                c("function|restore", -3, "write denyoom noscript", none, "scripting", "7.0.0", "Restore all the functions on the given payload", fun::function_restore),
                c("function|kill", 2, "noscript allow_busy", none, "scripting", "7.0.0", "Kill the function currently in execution.", fun::function_kill),
                c("function|stats", 2, "noscript allow_busy", none, "scripting", "7.0.0", "Return information about the function currently running (name, description, duration)", fun::function_stats),
                c("function|help", 2, "loading stale", none, "scripting", "7.0.0", "Show helpful text about the different subcommands", fun::function_help),
            ],
        ),
        with_subs(
            c("command", -1, "loading stale @connection", none, "server", "2.8.13", "Get array of Redis command details", it::command),
            vec![
                c("command|count", 2, "loading stale @connection", none, "server", "2.8.13", "Get total number of Redis commands", it::command_count),
                c("command|info", -2, "loading stale @connection", none, "server", "2.8.13", "Get array of specific Redis command details, or all when no argument is given.", it::command_info),
                c("command|docs", -2, "loading stale @connection", none, "server", "7.0.0", "Get array of specific Redis command documentation", it::command_docs),
                c("command|getkeys", -4, "loading stale @connection", none, "server", "2.8.13", "Extract keys given a full Redis command", it::command_getkeys),
                c("command|getkeysandflags", -4, "loading stale @connection", none, "server", "7.0.0", "Extract keys and access flags given a full Redis command", it::command_getkeysandflags),
                c("command|list", -2, "loading stale @connection", none, "server", "7.0.0", "Get an array of Redis command names", it::command_list),
                c("command|help", 2, "loading stale @connection", none, "server", "5.0.0", "Show helpful text about the different subcommands", it::command_help),
            ],
        ),
    ]
}
