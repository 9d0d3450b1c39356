//! Server-side Lua scripting (EVAL, Redis 7.0's model): the script cache,
//! the state of the script running now (for BUSY, SCRIPT KILL and
//! FUNCTION STATS), shebang flags, and the engine (`engine`), its bridge to
//! the command table (`bridge`), reply conversions (`convert`) and the Lua
//! libraries Redis ships (`lib_*`).
//!
//! Scripts run on whichever thread calls them, each thread with its own
//! Lua VM built the same way (`engine::with_engine`); the cache of script
//! bodies is shared, so a SCRIPT LOAD on one connection serves EVALSHA on
//! any other. A script runs with the keyspace gate held exclusively (EVAL
//! is flagged `exclusive`, as EXEC), so it is atomic against every client.

pub mod bridge;
pub mod convert;
pub mod engine;
pub mod functions;
pub mod lib_bit;
pub mod lib_cjson;
pub mod lib_cmsgpack;
pub mod lib_struct;
pub mod sandbox;
pub mod worker;

use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Shebang flags (`#!lua flags=...`), Redis's SCRIPT_FLAG_*.
pub const FLAG_NO_WRITES: u64 = 1 << 0;
pub const FLAG_ALLOW_OOM: u64 = 1 << 1;
pub const FLAG_ALLOW_STALE: u64 = 1 << 2;
pub const FLAG_NO_CLUSTER: u64 = 1 << 3;
/// No shebang: EVAL's backward-compatible mode.
pub const FLAG_EVAL_COMPAT: u64 = 1 << 4;
pub const FLAG_ALLOW_CROSS_SLOT: u64 = 1 << 5;

pub const FLAG_NAMES: &[(u64, &str)] = &[
    (FLAG_NO_WRITES, "no-writes"),
    (FLAG_ALLOW_OOM, "allow-oom"),
    (FLAG_ALLOW_STALE, "allow-stale"),
    (FLAG_NO_CLUSTER, "no-cluster"),
    (FLAG_ALLOW_CROSS_SLOT, "allow-cross-slot-keys"),
];

pub const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";
pub const BUSY_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

/// One cached script body.
pub struct Script {
    pub body: Bytes,
    pub flags: u64,
    /// Bytes of the shebang line (compiled code starts at its newline).
    pub shebang_len: usize,
}

/// Everything scripting keeps in the server.
#[derive(Default)]
pub struct Scripting {
    cache: Mutex<HashMap<String, Arc<Script>>>,
    /// Bumped by SCRIPT FLUSH: every thread's VM is rebuilt.
    pub epoch: AtomicU64,
    pub cache_bytes: AtomicU64,
    /// Memory of the Lua VM that ran the last script (INFO used_memory_lua).
    pub vm_bytes: AtomicU64,
    pub running: Running,
    /// Redis 7 Functions: the libraries.
    pub functions: functions::Registry,
}

/// The script running now (at most one: scripts hold the gate exclusively).
#[derive(Default)]
pub struct Running {
    /// When it started (ms since the epoch), 0 when none runs.
    pub since_ms: AtomicU64,
    /// Past busy-reply-threshold: other clients get BUSY.
    pub timed_out: AtomicBool,
    pub kill: AtomicBool,
    /// It ran a write command (SCRIPT KILL then refuses).
    pub wrote: AtomicBool,
    /// EVAL (true) or FCALL (false).
    pub is_eval: AtomicBool,
    /// Sent by our master or replayed from the AOF: cannot be killed.
    pub from_master: AtomicBool,
    pub name: Mutex<String>,
    /// The command that runs it (FUNCTION STATS).
    pub argv: Mutex<Vec<Bytes>>,
}

impl Running {
    pub fn active(&self) -> bool {
        self.since_ms.load(Ordering::Acquire) != 0
    }

    /// Past the threshold: other clients must be answered BUSY.
    pub fn busy(&self) -> bool {
        self.timed_out.load(Ordering::Acquire)
    }

    /// The BUSY text for the script running now.
    pub fn busy_error(&self) -> &'static str {
        if self.is_eval.load(Ordering::Relaxed) {
            BUSY_EVAL
        } else {
            BUSY_FUNCTION
        }
    }
}

impl Scripting {
    pub fn get(&self, sha: &str) -> Option<Arc<Script>> {
        self.cache.lock().get(sha).cloned()
    }

    pub fn exists(&self, sha: &[u8]) -> bool {
        let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
        self.cache.lock().contains_key(&sha)
    }

    /// Add `body` to the cache (or find it there); returns its SHA1.
    pub fn add(&self, body: &Bytes) -> Result<(String, Arc<Script>), String> {
        let sha = sha1_hex(body);
        if let Some(s) = self.get(&sha) {
            return Ok((sha, s));
        }
        let (flags, shebang_len) = parse_shebang(body)?;
        let script = Arc::new(Script {
            body: body.clone(),
            flags,
            shebang_len,
        });
        self.cache_bytes
            .fetch_add((body.len() + 40) as u64, Ordering::Relaxed);
        self.cache.lock().insert(sha.clone(), script.clone());
        Ok((sha, script))
    }

    /// Remove one entry (a body that failed to compile is not kept).
    pub fn remove(&self, sha: &str) {
        if let Some(s) = self.cache.lock().remove(sha) {
            self.cache_bytes
                .fetch_sub((s.body.len() + 40) as u64, Ordering::Relaxed);
        }
    }

    pub fn flush(&self) {
        self.cache.lock().clear();
        self.cache_bytes.store(0, Ordering::Relaxed);
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    pub fn len(&self) -> usize {
        self.cache.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub fn sha1_hex(data: &[u8]) -> String {
    sha1_smol::Sha1::from(data).digest().to_string()
}

/// Parse an EVAL body's `#!lua flags=...` line: the flags and the length
/// of the shebang (the compiled code keeps its newline, so line numbers
/// stay the user's). No shebang: the compatibility mode.
pub fn parse_shebang(body: &[u8]) -> Result<(u64, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((FLAG_EVAL_COMPAT, 0));
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid script shebang".into());
    };
    let line = &body[..end];
    let Some(parts) = crate::protocol::parse::split_args(line) else {
        return Err("ERR Invalid engine in script shebang".into());
    };
    if parts.is_empty() {
        return Err("ERR Invalid engine in script shebang".into());
    }
    if parts[0] != b"#!lua" {
        return Err(format!(
            "ERR Unexpected engine in script shebang: {}",
            String::from_utf8_lossy(&parts[0])
        ));
    }
    let mut flags = 0;
    for p in &parts[1..] {
        let Some(list) = p.strip_prefix(b"flags=") else {
            return Err(format!(
                "ERR Unknown lua shebang option: {}",
                String::from_utf8_lossy(p)
            ));
        };
        flags |= parse_flag_list(list)?;
    }
    Ok((flags, end))
}

/// `no-writes,allow-oom,...` (an empty list is no flags).
pub fn parse_flag_list(list: &[u8]) -> Result<u64, String> {
    let mut flags = 0;
    if list.is_empty() {
        return Ok(0);
    }
    for f in list.split(|&b| b == b',') {
        match FLAG_NAMES.iter().find(|(_, n)| n.as_bytes() == f) {
            Some((bit, _)) => flags |= bit,
            None => {
                return Err(format!(
                    "ERR Unexpected flag in script shebang: {}",
                    String::from_utf8_lossy(f)
                ))
            }
        }
    }
    Ok(flags)
}

/// Redis's rand48 generator behind math.random: one sequence for the
/// whole server, the same on every platform.
static RAND48: AtomicU64 = AtomicU64::new(0x1234_ABCD_330E);
const RAND48_MAX: u64 = i32::MAX as u64;

pub fn rand48_next() -> u64 {
    let mut cur = RAND48.load(Ordering::Relaxed);
    loop {
        let next = (cur.wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB)) & ((1u64 << 48) - 1);
        match RAND48.compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next >> 17,
            Err(v) => cur = v,
        }
    }
}

pub fn rand48_seed(seed: i32) {
    RAND48.store((((seed as u32) as u64) << 16) | 0x330E, Ordering::Relaxed);
}

/// A number in [0, 1) as Redis's math.random.
pub fn rand48_unit() -> f64 {
    (rand48_next() % RAND48_MAX) as f64 / RAND48_MAX as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_flags() {
        assert_eq!(parse_shebang(b"return 1").unwrap(), (FLAG_EVAL_COMPAT, 0));
        assert_eq!(
            parse_shebang(b"#!lua flags=no-writes,allow-oom\nreturn 1").unwrap(),
            (FLAG_NO_WRITES | FLAG_ALLOW_OOM, 31)
        );
        assert_eq!(parse_shebang(b"#!lua\nreturn 1").unwrap(), (0, 5));
        assert_eq!(
            parse_shebang(b"#!lua").unwrap_err(),
            "ERR Invalid script shebang"
        );
        assert_eq!(
            parse_shebang(b"#!python\n").unwrap_err(),
            "ERR Unexpected engine in script shebang: #!python"
        );
        assert_eq!(
            parse_shebang(b"#!lua flags=bad\n").unwrap_err(),
            "ERR Unexpected flag in script shebang: bad"
        );
        assert_eq!(
            parse_shebang(b"#!lua foo=bar\n").unwrap_err(),
            "ERR Unknown lua shebang option: foo=bar"
        );
    }

    #[test]
    fn sha1_of_empty() {
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }
}

/// C's `%.<prec>g` (Lua 5.1 prints numbers with `%.14g`).
pub fn format_g(v: f64, prec: usize) -> String {
    if v.is_nan() {
        return if v.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let prec = prec.max(1);
    let sci = format!("{:.*e}", prec - 1, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= prec as i32 {
        let m = strip_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        strip_zeros(&format!("{:.*}", decimals, v)).to_string()
    }
}

fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod format_tests {
    use super::format_g;

    #[test]
    fn percent_g() {
        assert_eq!(format_g(1.0, 14), "1");
        assert_eq!(format_g(3.99, 14), "3.99");
        assert_eq!(format_g(0.1, 14), "0.1");
        assert_eq!(format_g(1e20, 14), "1e+20");
        assert_eq!(format_g(123456789012345.0, 14), "1.2345678901234e+14");
        assert_eq!(format_g(0.00001, 14), "1e-05");
        assert_eq!(format_g(-2.5, 14), "-2.5");
        assert_eq!(format_g(100.0, 17), "100");
    }
}
