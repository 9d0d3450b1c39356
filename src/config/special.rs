//! Directives with their own syntax: save, bind, client-output-buffer-limit,
//! notify-keyspace-events, replicaof, oom-score-adj(-values), percentiles.
//! Each parser returns the canonical text CONFIG GET prints, or Redis's
//! reason for refusing the value.

use super::table::Special;
use std::sync::atomic::{AtomicU64, Ordering};

pub fn parse(kind: Special, args: &[String]) -> Result<String, String> {
    match kind {
        Special::Save => parse_save(args),
        Special::Bind => {
            if args.is_empty() || args.len() > 16 {
                return Err("wrong number of arguments".into());
            }
            Ok(args.join(" "))
        }
        Special::ClientOutputBufferLimit => parse_client_output_buffer_limit(args, ""),
        Special::NotifyKeyspaceEvents => {
            let text = args.join("");
            let flags = keyspace_events_from_str(&text).ok_or_else(|| {
                "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string()
            })?;
            Ok(keyspace_events_to_string(flags))
        }
        Special::Replicaof => {
            if args.len() != 2 {
                return Err("wrong number of arguments".into());
            }
            if args[0].eq_ignore_ascii_case("no") && args[1].eq_ignore_ascii_case("one") {
                return Ok(String::new());
            }
            args[1]
                .parse::<u16>()
                .map_err(|_| "Invalid master port".to_string())?;
            Ok(format!("{} {}", args[0], args[1]))
        }
        Special::OomScoreAdj => {
            let v = args
                .first()
                .map(|a| a.to_ascii_lowercase())
                .unwrap_or_default();
            match v.as_str() {
                "yes" | "relative" => Ok("relative".into()),
                "no" => Ok("no".into()),
                "absolute" => Ok("absolute".into()),
                _ => Err(
                    "argument(s) must be one of the following: no, yes, relative, absolute".into(),
                ),
            }
        }
        Special::OomScoreAdjValues => {
            if args.len() != 3 {
                return Err("Invalid oom-score-adj-values".into());
            }
            let mut out = Vec::new();
            for a in args {
                let v: i64 = a
                    .parse()
                    .map_err(|_| "Invalid oom-score-adj-values".to_string())?;
                if !(-2000..=2000).contains(&v) {
                    return Err("Invalid oom-score-adj-values".into());
                }
                out.push(v.to_string());
            }
            Ok(out.join(" "))
        }
        Special::Percentiles => {
            let mut out = Vec::new();
            for a in args {
                let v: f64 = a.parse().map_err(|_| {
                    "latency-tracking-info-percentiles: invalid percentile".to_string()
                })?;
                if !(0.0..=100.0).contains(&v) {
                    return Err("latency-tracking-info-percentiles: percentile out of range".into());
                }
                // Redis prints "%f" and trims the trailing zeros.
                let f = format!("{v:.6}");
                let f = f.trim_end_matches('0').trim_end_matches('.');
                out.push(f.to_string());
            }
            Ok(out.join(" "))
        }
        Special::Dir => {
            if args.len() != 1 {
                return Err("wrong number of arguments".into());
            }
            Ok(args[0].clone())
        }
    }
}

/// `save <seconds> <changes> [<seconds> <changes> ...]` or `save ""`.
pub fn parse_save(args: &[String]) -> Result<String, String> {
    if args.len() == 1 && args[0].is_empty() {
        return Ok(String::new());
    }
    let parts: Vec<&str> = args.iter().flat_map(|a| a.split_whitespace()).collect();
    if parts.is_empty() || parts.len() % 2 != 0 {
        return Err("Invalid save parameters".into());
    }
    let mut out = Vec::new();
    for p in parts {
        let v: i64 = p
            .parse()
            .map_err(|_| "Invalid save parameters".to_string())?;
        if v < 0 {
            return Err("Invalid save parameters".into());
        }
        out.push(v.to_string());
    }
    Ok(out.join(" "))
}

/// `client-output-buffer-limit <class> <hard> <soft> <seconds> [...]`,
/// applied on top of `current` (the canonical three-class value).
pub fn parse_client_output_buffer_limit(args: &[String], current: &str) -> Result<String, String> {
    let args: Vec<&str> = args.iter().flat_map(|a| a.split_whitespace()).collect();
    if args.is_empty() || args.len() % 4 != 0 {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let base = if current.is_empty() {
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
    } else {
        current
    };
    let mut classes: Vec<(String, i64, i64, i64)> = base
        .split(' ')
        .collect::<Vec<_>>()
        .chunks(4)
        .map(|c| {
            (
                c[0].to_string(),
                c[1].parse().unwrap_or(0),
                c[2].parse().unwrap_or(0),
                c[3].parse().unwrap_or(0),
            )
        })
        .collect();
    for chunk in args.chunks(4) {
        let class = match chunk[0].to_ascii_lowercase().as_str() {
            "normal" => "normal",
            "slave" | "replica" => "slave",
            "pubsub" => "pubsub",
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into())
            }
        };
        let hard = super::parse_memory(chunk[1]);
        let soft = super::parse_memory(chunk[2]);
        let secs = chunk[3].parse::<i64>().ok().filter(|s| *s >= 0);
        let (Some(hard), Some(soft), Some(secs)) = (hard, soft, secs) else {
            return Err(
                "Error in hard, soft or soft_seconds setting in buffer limit configuration.".into(),
            );
        };
        if let Some(c) = classes.iter_mut().find(|c| c.0 == class) {
            *c = (class.to_string(), hard, soft, secs);
        }
    }
    Ok(classes
        .iter()
        .map(|c| format!("{} {} {} {}", c.0, c.1, c.2, c.3))
        .collect::<Vec<_>>()
        .join(" "))
}

// Keyspace notification classes, as bit flags.
pub const NOTIFY_KEYSPACE: u32 = 1 << 0;
pub const NOTIFY_KEYEVENT: u32 = 1 << 1;
pub const NOTIFY_GENERIC: u32 = 1 << 2;
pub const NOTIFY_STRING: u32 = 1 << 3;
pub const NOTIFY_LIST: u32 = 1 << 4;
pub const NOTIFY_SET: u32 = 1 << 5;
pub const NOTIFY_HASH: u32 = 1 << 6;
pub const NOTIFY_ZSET: u32 = 1 << 7;
pub const NOTIFY_EXPIRED: u32 = 1 << 8;
pub const NOTIFY_EVICTED: u32 = 1 << 9;
pub const NOTIFY_STREAM: u32 = 1 << 10;
pub const NOTIFY_KEY_MISS: u32 = 1 << 11;
pub const NOTIFY_MODULE: u32 = 1 << 12;
pub const NOTIFY_NEW: u32 = 1 << 13;
pub const NOTIFY_ALL: u32 = NOTIFY_GENERIC
    | NOTIFY_STRING
    | NOTIFY_LIST
    | NOTIFY_SET
    | NOTIFY_HASH
    | NOTIFY_ZSET
    | NOTIFY_EXPIRED
    | NOTIFY_EVICTED
    | NOTIFY_STREAM
    | NOTIFY_MODULE;

const CLASS_CHARS: &[(char, u32)] = &[
    ('g', NOTIFY_GENERIC),
    ('$', NOTIFY_STRING),
    ('l', NOTIFY_LIST),
    ('s', NOTIFY_SET),
    ('h', NOTIFY_HASH),
    ('z', NOTIFY_ZSET),
    ('x', NOTIFY_EXPIRED),
    ('e', NOTIFY_EVICTED),
    ('t', NOTIFY_STREAM),
    ('d', NOTIFY_MODULE),
];

pub fn keyspace_events_from_str(s: &str) -> Option<u32> {
    let mut flags = 0;
    for c in s.chars() {
        flags |= match c {
            'A' => NOTIFY_ALL,
            'K' => NOTIFY_KEYSPACE,
            'E' => NOTIFY_KEYEVENT,
            'm' => NOTIFY_KEY_MISS,
            'n' => NOTIFY_NEW,
            c => CLASS_CHARS.iter().find(|(ch, _)| *ch == c)?.1,
        };
    }
    Some(flags)
}

pub fn keyspace_events_to_string(flags: u32) -> String {
    let mut s = String::new();
    if flags & NOTIFY_ALL == NOTIFY_ALL {
        s.push('A');
    } else {
        for (c, f) in CLASS_CHARS {
            if flags & f != 0 {
                s.push(*c);
            }
        }
    }
    if flags & NOTIFY_KEYSPACE != 0 {
        s.push('K');
    }
    if flags & NOTIFY_KEYEVENT != 0 {
        s.push('E');
    }
    if flags & NOTIFY_KEY_MISS != 0 {
        s.push('m');
    }
    if flags & NOTIFY_NEW != 0 {
        s.push('n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn notify_canonical_forms_match_redis() {
        assert_eq!(
            parse(Special::NotifyKeyspaceEvents, &a(&["KEA"])).unwrap(),
            "AKE"
        );
        assert_eq!(
            parse(Special::NotifyKeyspaceEvents, &a(&["Kgxe$"])).unwrap(),
            "g$xeK"
        );
        assert!(parse(Special::NotifyKeyspaceEvents, &a(&["Kbad"])).is_err());
    }

    #[test]
    fn output_buffer_limit_merges_classes() {
        let v = parse_client_output_buffer_limit(&a(&["pubsub 1mb 2mb 3"]), "").unwrap();
        assert_eq!(
            v,
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 2097152 3"
        );
        assert!(parse_client_output_buffer_limit(&a(&["pubsub 1mb 2mb"]), "").is_err());
    }

    #[test]
    fn save_forms() {
        assert_eq!(parse_save(&a(&["100 10 200 20"])).unwrap(), "100 10 200 20");
        assert_eq!(parse_save(&a(&["900", "1"])).unwrap(), "900 1");
        assert_eq!(parse_save(&a(&[""])).unwrap(), "");
        assert_eq!(
            parse_save(&a(&["1 2 3"])).unwrap_err(),
            "Invalid save parameters"
        );
    }
}

/// One class of `client-output-buffer-limit` (0: no limit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutputLimit {
    pub hard_bytes: u64,
    pub soft_bytes: u64,
    pub soft_seconds: u64,
}

impl OutputLimit {
    /// The limits of `class` ("normal", "slave", "pubsub"; "replica" is
    /// "slave") in the directive's canonical value.
    pub fn of_class(value: &str, class: &str) -> OutputLimit {
        let class = if class == "replica" { "slave" } else { class };
        let parts: Vec<&str> = value.split(' ').collect();
        let n = |s: &str| s.parse::<u64>().unwrap_or(0);
        parts
            .chunks(4)
            .find(|c| c.len() == 4 && c[0] == class)
            .map(|c| OutputLimit {
                hard_bytes: n(c[1]),
                soft_bytes: n(c[2]),
                soft_seconds: n(c[3]),
            })
            .unwrap_or_default()
    }

    pub fn is_unlimited(&self) -> bool {
        self.hard_bytes == 0 && self.soft_bytes == 0
    }

    /// Whether `pending` bytes (not yet taken by the client) break the limit,
    /// Redis's `checkClientOutputBufferLimits`: over the hard limit at once,
    /// or over the soft limit continuously for `soft_seconds`. `soft_since_ms`
    /// remembers when the soft limit was first exceeded (0: it is not).
    pub fn exceeded(&self, pending: u64, soft_since_ms: &AtomicU64, now_ms: u64) -> bool {
        if self.hard_bytes > 0 && pending > self.hard_bytes {
            return true;
        }
        if self.soft_bytes > 0 && pending > self.soft_bytes {
            let since = soft_since_ms.load(Ordering::Relaxed);
            if since == 0 {
                soft_since_ms.store(now_ms.max(1), Ordering::Relaxed);
                return false;
            }
            return now_ms.saturating_sub(since) >= self.soft_seconds * 1000;
        }
        soft_since_ms.store(0, Ordering::Relaxed);
        false
    }
}
