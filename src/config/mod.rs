//! Configuration: redis.conf parsing, the command line, and the runtime
//! table behind CONFIG GET / SET / RESETSTAT / REWRITE.
//!
//! Every directive's value is kept in its canonical text form (the form
//! CONFIG GET prints: booleans as yes/no, memory in bytes). Typed getters
//! parse on demand; the connection hot path reads a `Hot` snapshot that is
//! rebuilt whenever a value changes.

pub mod special;
pub use special::OutputLimit;
pub mod table;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use table::{Directive, Kind, Special, DIRECTIVES};

/// A fully parsed configuration.
#[derive(Clone, Debug)]
pub struct Config {
    values: Vec<String>,
    /// The config file given on the command line, absolute, for CONFIG REWRITE.
    pub file: Option<PathBuf>,
    /// `user` directives (name, rules...), loaded into the ACL at startup.
    pub users: Vec<Vec<String>>,
}

/// Values read on every request, copied out of the table.
#[derive(Clone, Debug)]
pub struct Hot {
    pub proto_max_bulk_len: i64,
    pub client_query_buffer_limit: usize,
    pub requirepass: Option<Vec<u8>>,
    /// acllog-max-len.
    pub acllog_max_len: usize,
    pub slowlog_log_slower_than_us: i64,
    pub slowlog_max_len: usize,
    pub latency_monitor_threshold_ms: i64,
    pub cluster_enabled: bool,
    pub databases: usize,
    pub timeout_s: u64,
    pub maxclients: usize,
    pub protected_mode: bool,
    pub enable_debug_command: String,
    pub hz: u64,
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    pub list_max_listpack_size: i64,
    pub stream_node_max_bytes: usize,
    pub stream_node_max_entries: usize,
    pub latency_tracking: bool,
    pub tracking_table_max_keys: usize,
    pub maxmemory: u64,
    pub maxmemory_policy: String,
    pub maxmemory_samples: usize,
    /// notify-keyspace-events as `NOTIFY_*` bits (see `crate::notify`).
    pub notify_keyspace_events: u32,
    /// client-output-buffer-limit of the normal and pubsub classes.
    pub obuf_normal: OutputLimit,
    pub obuf_pubsub: OutputLimit,
}

/// A startup error in Redis's words.
#[derive(Debug)]
pub struct FatalConfigError {
    pub line_no: usize,
    pub line: String,
    pub reason: String,
    pub file: Option<String>,
}

impl std::fmt::Display for FatalConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "\n*** FATAL CONFIG FILE ERROR (Redis {}) ***",
            crate::REDIS_VERSION
        )?;
        match &self.file {
            Some(file) => writeln!(
                f,
                "Reading the configuration file {}, at line {}",
                file, self.line_no
            )?,
            None => writeln!(
                f,
                "Reading the configuration file, at line {}",
                self.line_no
            )?,
        }
        writeln!(f, ">>> '{}'", self.line)?;
        write!(f, "{}", self.reason)
    }
}

const MAX_INCLUDE_DEPTH: usize = 16;

impl Default for Config {
    fn default() -> Self {
        let values = DIRECTIVES
            .iter()
            .map(|d| match d.kind {
                Kind::Special(Special::Dir) => current_dir(),
                _ => default_value(d),
            })
            .collect();
        Config {
            values,
            file: None,
            users: Vec::new(),
        }
    }
}

/// A directive's default (`io-threads`: see [`io_threads_default`]).
fn default_value(d: &Directive) -> String {
    if d.name == "io-threads" {
        return io_threads_default(false, "everysec", cores()).to_string();
    }
    d.default.to_string()
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `io-threads` (the threads serving connections, the main one included)
/// when the configuration does not set it: one per core but one. Measured
/// on a 2-core machine with the clients on it, two serving threads cost
/// 13.2 µs of CPU per SET against 11.6 µs for one (more wake-ups, shared
/// cache lines), and Redis's own advice for io-threads is to leave a core
/// spare. With `appendonly yes` and `appendfsync always` at start, at least
/// two: the thread leading a group commit is blocked in fdatasync (as
/// Redis's event loop is), and a second one meanwhile runs its clients'
/// commands, so their writes are queued when that fsync ends and the next
/// one starts at once; the disk is never idle while clients wait. On the
/// same 2-core machine that is 2.4-3x the SETs per second of one thread.
pub fn io_threads_default(appendonly: bool, appendfsync: &str, cores: usize) -> usize {
    let spare_core = cores.saturating_sub(1).clamp(1, 128);
    if appendonly && appendfsync == "always" {
        spare_core.max(2)
    } else {
        spare_core
    }
}

fn current_dir() -> String {
    std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

fn index_of(d: &'static Directive) -> usize {
    DIRECTIVES
        .iter()
        .position(|x| std::ptr::eq(x, d))
        .expect("directive from the table")
}

impl Config {
    /// Build from redis-server style arguments: `[config-file] [--name value ...]`.
    pub fn from_args(args: &[String]) -> Result<Config, FatalConfigError> {
        let mut cfg = Config::default();
        let mut text = String::new();
        let mut rest = args;
        let mut file_name = None;
        if let Some(first) = args.first() {
            if !first.starts_with("--") {
                let path = Path::new(first);
                let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
                cfg.file = Some(abs);
                file_name = Some(first.clone());
                text = std::fs::read_to_string(path).map_err(|e| FatalConfigError {
                    line_no: 0,
                    line: first.clone(),
                    reason: format!("Fatal error, can't open config file '{}': {}", first, e),
                    file: None,
                })?;
                rest = &args[1..];
            }
        }
        // Options on the command line are appended as config lines, as Redis does.
        let mut options = String::new();
        for arg in rest {
            if let Some(name) = arg.strip_prefix("--") {
                if !options.is_empty() {
                    options.push('\n');
                }
                options.push_str(name);
            } else {
                options.push(' ');
                options.push_str(&repr_arg(arg));
            }
        }
        if !options.is_empty() {
            text.push('\n');
            text.push_str(&options);
            text.push('\n');
        }
        let mut seen = HashSet::new();
        cfg.load_text(&text, file_name.as_deref(), 0, &mut seen)?;
        if !seen.contains("io-threads") {
            cfg.values[index_of(table::lookup("io-threads").expect("io-threads"))] =
                io_threads_default(cfg.get_bool("appendonly"), cfg.get("appendfsync"), cores())
                    .to_string();
        }
        Ok(cfg)
    }

    /// Apply config-file text on top of the current values.
    fn load_text(
        &mut self,
        text: &str,
        file: Option<&str>,
        depth: usize,
        seen: &mut HashSet<&'static str>,
    ) -> Result<(), FatalConfigError> {
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fail = |reason: String| FatalConfigError {
                line_no: i + 1,
                line: line.to_string(),
                reason,
                file: file.map(str::to_string),
            };
            let Some(argv) = crate::protocol::parse::split_args(line.as_bytes()) else {
                return Err(fail("Unbalanced quotes in configuration line".into()));
            };
            if argv.is_empty() {
                continue;
            }
            let argv: Vec<String> = argv
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let name = argv[0].to_ascii_lowercase();
            if name == "include" && argv.len() == 2 {
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(fail("Too many nested includes".into()));
                }
                let inc = std::fs::read_to_string(&argv[1])
                    .map_err(|e| fail(format!("Can't open included file '{}': {}", argv[1], e)))?;
                self.load_text(&inc, Some(&argv[1]), depth + 1, seen)?;
                continue;
            }
            if name == "user" && argv.len() >= 2 {
                if self.users.iter().any(|u| u[0] == argv[1]) {
                    return Err(fail(format!(
                        "Error in user declaration '{}': {}",
                        argv[1],
                        crate::acl::RuleError::Duplicate.message()
                    )));
                }
                if let Err((j, e)) = crate::acl::check_config_user(&argv[1..]) {
                    return Err(fail(format!(
                        "Error in user declaration '{}': {}",
                        argv[j],
                        e.message()
                    )));
                }
                self.users.push(argv[1..].to_vec());
                continue;
            }
            let Some(dir) = table::lookup(&name) else {
                return Err(fail("Bad directive or wrong number of arguments".into()));
            };
            let args = &argv[1..];
            // Directives that may repeat in a file accumulate instead of replacing.
            let idx = index_of(dir);
            let value = match dir.kind {
                Kind::Special(Special::Save) if seen.contains(dir.name) => {
                    let new = special::parse_save(args).map_err(fail)?;
                    if new.is_empty() {
                        new
                    } else if self.values[idx].is_empty() {
                        new
                    } else {
                        format!("{} {}", self.values[idx], new)
                    }
                }
                Kind::Special(Special::ClientOutputBufferLimit) => {
                    special::parse_client_output_buffer_limit(args, &self.values[idx])
                        .map_err(fail)?
                }
                _ => parse_value(dir, args).map_err(fail)?,
            };
            if dir.kind == Kind::Special(Special::Dir) {
                std::env::set_current_dir(&value)
                    .map_err(|e| fail(format!("No such file or directory: {e}")))?;
                self.values[idx] = current_dir();
            } else {
                self.values[idx] = value;
            }
            seen.insert(dir.name);
        }
        Ok(())
    }

    /// The canonical value of a directive.
    pub fn get(&self, name: &str) -> &str {
        let d = table::lookup(name).unwrap_or_else(|| panic!("unknown directive {name}"));
        &self.values[index_of(d)]
    }

    pub fn get_bool(&self, name: &str) -> bool {
        self.get(name) == "yes"
    }

    pub fn get_i64(&self, name: &str) -> i64 {
        self.get(name).parse().unwrap_or(0)
    }

    /// All (name, value) pairs whose name or alias matches a glob pattern.
    pub fn matching(&self, pattern: &[u8]) -> Vec<(&'static str, &str)> {
        let mut out = Vec::new();
        for (i, d) in DIRECTIVES.iter().enumerate() {
            if crate::util::glob_match(pattern, d.name.as_bytes(), true) {
                out.push((d.name, self.values[i].as_str()));
            }
            if let Some(alias) = d.alias {
                if crate::util::glob_match(pattern, alias.as_bytes(), true) {
                    out.push((alias, self.values[i].as_str()));
                }
            }
        }
        out
    }

    /// CONFIG SET of several pairs: all validated first, then all applied.
    /// Returns the directives that changed.
    pub fn set_many(&mut self, pairs: &[(String, String)]) -> Result<Vec<&'static str>, String> {
        let mut staged: Vec<(usize, String)> = Vec::new();
        for (name, value) in pairs {
            let Some(d) = table::lookup(name) else {
                return Err(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                ));
            };
            let fail = |why: &str| {
                format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}")
            };
            let idx = index_of(d);
            if staged.iter().any(|(i, _)| *i == idx) {
                return Err(fail("duplicate parameter"));
            }
            if !d.mutable {
                return Err(fail("can't set immutable config"));
            }
            let args: Vec<String> = match d.kind {
                Kind::Special(_) => crate::protocol::parse::split_args(value.as_bytes())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|a| String::from_utf8_lossy(&a).into_owned())
                    .collect(),
                _ => vec![value.clone()],
            };
            let canonical = match d.kind {
                Kind::Special(Special::ClientOutputBufferLimit) => {
                    special::parse_client_output_buffer_limit(&args, &self.values[idx])
                        .map_err(|e| fail(&e))?
                }
                Kind::Special(Special::Save) if args.is_empty() => String::new(),
                Kind::Special(Special::Dir) => {
                    std::env::set_current_dir(value).map_err(|e| fail(&e.to_string()))?;
                    current_dir()
                }
                _ => parse_value(d, &args).map_err(|e| fail(&e))?,
            };
            staged.push((idx, canonical));
        }
        let mut changed = Vec::new();
        for (idx, v) in staged {
            if self.values[idx] != v {
                changed.push(DIRECTIVES[idx].name);
            }
            self.values[idx] = v;
        }
        Ok(changed)
    }

    pub fn hot(&self) -> Hot {
        let pass = self.get("requirepass");
        Hot {
            proto_max_bulk_len: self.get_i64("proto-max-bulk-len"),
            client_query_buffer_limit: self.get_i64("client-query-buffer-limit") as usize,
            requirepass: (!pass.is_empty()).then(|| pass.as_bytes().to_vec()),
            acllog_max_len: self.get_i64("acllog-max-len").max(0) as usize,
            slowlog_log_slower_than_us: self.get_i64("slowlog-log-slower-than"),
            slowlog_max_len: self.get_i64("slowlog-max-len") as usize,
            latency_monitor_threshold_ms: self.get_i64("latency-monitor-threshold"),
            cluster_enabled: self.get_bool("cluster-enabled"),
            databases: self.get_i64("databases") as usize,
            timeout_s: self.get_i64("timeout") as u64,
            maxclients: self.get_i64("maxclients") as usize,
            protected_mode: self.get_bool("protected-mode"),
            enable_debug_command: self.get("enable-debug-command").to_string(),
            hz: self.get_i64("hz").clamp(1, 500) as u64,
            hash_max_listpack_entries: self.get_i64("hash-max-listpack-entries") as usize,
            hash_max_listpack_value: self.get_i64("hash-max-listpack-value") as usize,
            set_max_intset_entries: self.get_i64("set-max-intset-entries") as usize,
            zset_max_listpack_entries: self.get_i64("zset-max-listpack-entries") as usize,
            zset_max_listpack_value: self.get_i64("zset-max-listpack-value") as usize,
            stream_node_max_bytes: self.get_i64("stream-node-max-bytes").max(0) as usize,
            stream_node_max_entries: self.get_i64("stream-node-max-entries").max(0) as usize,
            list_max_listpack_size: self.get_i64("list-max-listpack-size"),
            latency_tracking: self.get_bool("latency-tracking"),
            tracking_table_max_keys: self.get_i64("tracking-table-max-keys").max(0) as usize,
            maxmemory: self.get_i64("maxmemory").max(0) as u64,
            maxmemory_policy: self.get("maxmemory-policy").to_string(),
            maxmemory_samples: self.get_i64("maxmemory-samples").max(1) as usize,
            notify_keyspace_events: special::keyspace_events_from_str(
                self.get("notify-keyspace-events"),
            )
            .unwrap_or(0),
            obuf_normal: OutputLimit::of_class(self.get("client-output-buffer-limit"), "normal"),
            obuf_pubsub: OutputLimit::of_class(self.get("client-output-buffer-limit"), "pubsub"),
        }
    }

    /// CONFIG REWRITE: keep the file's comments and order, replace each
    /// directive's lines with its current value, drop lines for values back
    /// at their default, append the rest; write atomically.
    pub fn rewrite(&self) -> Result<(), String> {
        let Some(path) = &self.file else {
            return Err("ERR The server is running without a config file".into());
        };
        let old = std::fs::read_to_string(path).unwrap_or_default();
        let mut out: Vec<String> = Vec::new();
        let mut written: HashSet<&'static str> = HashSet::new();
        const MARKER: &str = "# Generated by CONFIG REWRITE";
        for line in old.lines() {
            if line.trim() == MARKER {
                continue;
            }
            let argv =
                crate::protocol::parse::split_args(line.trim().as_bytes()).unwrap_or_default();
            let is_comment = line.trim_start().starts_with('#');
            let dir = argv
                .first()
                .filter(|_| !is_comment)
                .and_then(|a| table::lookup(&String::from_utf8_lossy(a)));
            match dir {
                Some(d) if d.name == "dir" || !written.contains(d.name) => {
                    if written.insert(d.name) {
                        out.extend(self.rewrite_lines(d));
                    }
                }
                Some(_) => {}
                None => out.push(line.to_string()),
            }
        }
        let mut appended = false;
        for (i, d) in DIRECTIVES.iter().enumerate() {
            if written.contains(d.name) || self.values[i] == default_value(d) || d.name == "dir" {
                continue;
            }
            if !appended {
                out.push(MARKER.to_string());
                appended = true;
            }
            out.extend(self.rewrite_lines(d));
        }
        let mut text = out.join("\n");
        text.push('\n');
        crate::util::write_file_atomically(path, text.as_bytes())
            .map_err(|e| format!("ERR Rewriting config file: {e}"))
    }

    fn rewrite_lines(&self, d: &'static Directive) -> Vec<String> {
        let v = &self.values[index_of(d)];
        match d.kind {
            Kind::Special(Special::Save) if v.is_empty() => vec!["save \"\"".into()],
            Kind::Special(Special::Save) => {
                let parts: Vec<&str> = v.split(' ').collect();
                parts
                    .chunks(2)
                    .map(|c| format!("save {}", c.join(" ")))
                    .collect()
            }
            Kind::Special(Special::ClientOutputBufferLimit) => {
                let parts: Vec<&str> = v.split(' ').collect();
                parts
                    .chunks(4)
                    .map(|c| format!("client-output-buffer-limit {}", c.join(" ")))
                    .collect()
            }
            Kind::Special(Special::Bind)
            | Kind::Special(Special::Replicaof)
            | Kind::Special(Special::OomScoreAdjValues)
            | Kind::Special(Special::Percentiles) => {
                if v.is_empty() {
                    vec![]
                } else {
                    vec![format!("{} {}", d.name, v)]
                }
            }
            _ => vec![format!("{} {}", d.name, quote_arg(v))],
        }
    }
}

/// Quote a config argument the way Redis's rewrite does when needed.
fn quote_arg(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\')
    {
        return s.to_string();
    }
    let mut q = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\r' => q.push_str("\\r"),
            '\t' => q.push_str("\\t"),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// Always-quoted form, as Redis turns command-line arguments into config lines.
fn repr_arg(s: &str) -> String {
    let q = quote_arg(s);
    if q.starts_with('"') {
        q
    } else {
        format!("\"{q}\"")
    }
}

/// Validate `args` for directive `d`; returns the canonical value or
/// Redis's reason text.
pub fn parse_value(d: &Directive, args: &[String]) -> Result<String, String> {
    let single = || -> Result<&String, String> {
        if args.len() != 1 {
            Err("wrong number of arguments".into())
        } else {
            Ok(&args[0])
        }
    };
    match d.kind {
        Kind::Bool => match single()?.to_ascii_lowercase().as_str() {
            "yes" => Ok("yes".into()),
            "no" => Ok("no".into()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        Kind::Int { min, max } => {
            let v: i64 = single()?
                .parse()
                .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
            check_range(v, min, max)
        }
        Kind::Memory { min, max } => {
            let v = parse_memory(single()?)
                .ok_or_else(|| "argument must be a memory value".to_string())?;
            check_range(v, min, max)
        }
        Kind::MemoryOrPercent { max, max_percent } => {
            let arg = single()?;
            if let Some(v) = parse_memory(arg) {
                return check_range(v, 0, max);
            }
            let pct = arg
                .strip_suffix('%')
                .filter(|d| !d.is_empty())
                .and_then(|d| crate::util::parse_i64(d.as_bytes()))
                .filter(|p| *p >= 0)
                .ok_or_else(|| "argument must be a memory or percent value".to_string())?;
            if pct > max_percent {
                return Err(format!(
                    "percentage argument must be less or equal to {max_percent}"
                ));
            }
            Ok(format!("{pct}%"))
        }
        Kind::Enum(options) => {
            let v = single()?.to_ascii_lowercase();
            if options.contains(&v.as_str()) {
                Ok(v)
            } else {
                Err(format!(
                    "argument(s) must be one of the following: {}",
                    options.join(", ")
                ))
            }
        }
        Kind::Str => Ok(single()?.clone()),
        Kind::Special(s) => special::parse(s, args),
    }
}

fn check_range(v: i64, min: i64, max: i64) -> Result<String, String> {
    if v < min || v > max {
        Err(format!(
            "argument must be between {min} and {max} inclusive"
        ))
    } else {
        Ok(v.to_string())
    }
}

/// Parse "100", "1k", "5mb", "1GB" … into bytes (Redis's `memtoull`);
/// negative plain integers are accepted as Redis does for signed memory values.
pub fn parse_memory(s: &str) -> Option<i64> {
    let lower = s.to_ascii_lowercase();
    let (digits, mul) = [
        ("kb", 1024i64),
        ("k", 1000),
        ("mb", 1024 * 1024),
        ("m", 1000 * 1000),
        ("gb", 1024 * 1024 * 1024),
        ("g", 1000 * 1000 * 1000),
        ("b", 1),
    ]
    .iter()
    .find_map(|(suffix, mul)| lower.strip_suffix(suffix).map(|d| (d.to_string(), *mul)))
    .unwrap_or((lower.clone(), 1));
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<i64>().ok()?.checked_mul(mul)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn io_threads_default_leaves_a_core_but_serves_on_two_under_always_fsync() {
        assert_eq!(io_threads_default(false, "everysec", 1), 1);
        assert_eq!(io_threads_default(false, "everysec", 2), 1);
        assert_eq!(io_threads_default(true, "everysec", 2), 1);
        assert_eq!(io_threads_default(false, "always", 2), 1);
        assert_eq!(io_threads_default(true, "always", 1), 2);
        assert_eq!(io_threads_default(true, "always", 2), 2);
        assert_eq!(io_threads_default(true, "always", 8), 7);
        let n = cores();
        let c =
            Config::from_args(&args(&["--appendonly", "yes", "--appendfsync", "always"])).unwrap();
        assert_eq!(
            c.get_i64("io-threads") as usize,
            io_threads_default(true, "always", n)
        );
        // Set explicitly, it is what it says.
        let c = Config::from_args(&args(&[
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--io-threads",
            "1",
        ]))
        .unwrap();
        assert_eq!(c.get("io-threads"), "1");
    }

    #[test]
    fn command_line_overrides_and_errors() {
        let c = Config::from_args(&args(&[
            "--port",
            "6381",
            "--appendonly",
            "yes",
            "--save",
            "",
        ]))
        .unwrap();
        assert_eq!(c.get("port"), "6381");
        assert_eq!(c.get("appendonly"), "yes");
        assert_eq!(c.get("save"), "");
        let e = Config::from_args(&args(&["--maxmemory", "zz"])).unwrap_err();
        assert_eq!(e.reason, "argument must be a memory value");
        assert_eq!(e.line, "maxmemory \"zz\"");
        let e = Config::from_args(&args(&["--databases", "0"])).unwrap_err();
        assert_eq!(
            e.reason,
            "argument must be between 1 and 2147483647 inclusive"
        );
        let e = Config::from_args(&args(&["--nosuch", "1"])).unwrap_err();
        assert_eq!(e.reason, "Bad directive or wrong number of arguments");
    }

    #[test]
    fn config_file_with_include_and_quotes() {
        let dir = std::env::temp_dir().join(format!("shoal-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let inc = dir.join("inc.conf");
        std::fs::write(&inc, "maxmemory 1mb\n").unwrap();
        let main = dir.join("main.conf");
        std::fs::write(
            &main,
            format!(
                "# comment\nport 7000\ninclude {}\nrequirepass \"a b\"\nsave 900 1\nsave 300 10\n",
                inc.display()
            ),
        )
        .unwrap();
        let c = Config::from_args(&args(&[main.to_str().unwrap(), "--port", "7001"])).unwrap();
        assert_eq!(c.get("port"), "7001");
        assert_eq!(c.get("maxmemory"), "1048576");
        assert_eq!(c.get("requirepass"), "a b");
        assert_eq!(c.get("save"), "900 1 300 10");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn set_many_is_all_or_nothing() {
        let mut c = Config::default();
        let pairs = vec![
            ("maxmemory".to_string(), "10mb".to_string()),
            ("hz".to_string(), "x".to_string()),
        ];
        let e = c.set_many(&pairs).unwrap_err();
        assert_eq!(e, "ERR CONFIG SET failed (possibly related to argument 'hz') - argument couldn't be parsed into an integer");
        assert_eq!(c.get("maxmemory"), "0");
        let e = c
            .set_many(&[("daemonize".into(), "no".into())])
            .unwrap_err();
        assert!(e.ends_with("can't set immutable config"));
        c.set_many(&[
            ("maxmemory".into(), "1gb".into()),
            ("hz".into(), "20".into()),
        ])
        .unwrap();
        assert_eq!(c.get("maxmemory"), "1073741824");
        assert_eq!(c.get("hz"), "20");
    }

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("1KB"), Some(1024));
        assert_eq!(parse_memory("2gb"), Some(2 * 1024 * 1024 * 1024));
        assert_eq!(parse_memory("-1"), None);
        assert_eq!(parse_memory("abc"), None);
    }
}
