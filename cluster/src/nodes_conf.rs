//! nodes.conf and CLUSTER NODES: the one line format Redis uses for both
//! (`clusterGenNodeDescription`), as neutral values. The state machine
//! converts its node table to and from `NodesConf`; this module formats and
//! parses the text exactly as Redis 7.0 does, and owns the file itself:
//! atomic save (temp file, fsync, rename, fsync dir) and the lock that keeps
//! two processes off one config.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::msg::{flags, NodeName, SlotBitmap, NODE_NAME_LEN};

/// One node's line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeLine {
    pub name: NodeName,
    /// Announced IP (may be empty when the address is unknown: `:0@0`).
    pub ip: Vec<u8>,
    pub port: u16,
    pub cport: u16,
    /// Announced hostname (`ip:port@cport,hostname`), empty if none.
    pub hostname: Vec<u8>,
    /// Bus flags (`msg::flags`); MYSELF marks this node's own line.
    pub flags: u16,
    /// The master of a replica; `None` prints as `-`.
    pub master: Option<NodeName>,
    /// Unix ms of the last PING sent (0 when none pending) and PONG received.
    pub ping_sent_ms: u64,
    pub pong_recv_ms: u64,
    pub config_epoch: u64,
    /// Link state printed as `connected` / `disconnected` (myself: connected).
    pub link_connected: bool,
    /// Served slots as inclusive ranges, ascending.
    pub slots: Vec<(u16, u16)>,
    /// Only on myself's line: `[slot->-node]` (migrating) and
    /// `[slot-<-node]` (importing).
    pub migrating: Vec<(u16, NodeName)>,
    pub importing: Vec<(u16, NodeName)>,
}

/// A whole nodes.conf: the node lines plus the `vars` line.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct NodesConf {
    pub nodes: Vec<NodeLine>,
    pub current_epoch: u64,
    pub last_vote_epoch: u64,
}

/// Redis's CLUSTER_PORT_INCR: the bus port when a line has no `@cport`.
pub const BUS_PORT_OFFSET: u16 = 10000;
/// Longest IP text a node address may have (NET_IP_STR_LEN - 1).
pub const MAX_IP_BYTES: usize = crate::msg::IP_LEN - 1;

/// Flag names in the order Redis prints them (representClusterNodeFlags).
/// MEET and MIGRATE_TO are never printed.
const FLAG_NAMES: [(u16, &str); 8] = [
    (flags::MYSELF, "myself"),
    (flags::MASTER, "master"),
    (flags::SLAVE, "slave"),
    (flags::PFAIL, "fail?"),
    (flags::FAIL, "fail"),
    (flags::HANDSHAKE, "handshake"),
    (flags::NOADDR, "noaddr"),
    (flags::NOFAILOVER, "nofailover"),
];

/// A rejected nodes.conf / CLUSTER NODES text: the 1-based line (0 for the
/// file as a whole) and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub reason: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "corrupted cluster config file: {}", self.reason)
        } else {
            write!(
                f,
                "corrupted cluster config file, line {}: {}",
                self.line, self.reason
            )
        }
    }
}

impl std::error::Error for ParseError {}

impl NodeLine {
    /// The line as CLUSTER NODES and nodes.conf print it, without the
    /// trailing newline.
    pub fn format(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + 12 * self.slots.len());
        self.write_to(&mut out);
        out
    }

    /// Append the line (no newline) to `out`.
    ///
    /// Open slots print after the slot ranges in ascending slot order, a
    /// slot both migrating and importing only as migrating (Redis's
    /// `else if`). Redis prints them on myself's line only; the state
    /// machine only fills them there.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.name);
        out.push(b' ');
        out.extend_from_slice(&self.ip);
        out.push(b':');
        push_num(out, self.port as u64);
        out.push(b'@');
        push_num(out, self.cport as u64);
        if !self.hostname.is_empty() {
            out.push(b',');
            out.extend_from_slice(&self.hostname);
        }
        out.push(b' ');
        write_flags(out, self.flags);
        out.push(b' ');
        match &self.master {
            Some(m) => out.extend_from_slice(m),
            None => out.push(b'-'),
        }
        for n in [self.ping_sent_ms, self.pong_recv_ms, self.config_epoch] {
            out.push(b' ');
            push_num(out, n);
        }
        out.extend_from_slice(if self.link_connected {
            b" connected"
        } else {
            b" disconnected"
        });
        for &(start, end) in &self.slots {
            out.push(b' ');
            push_num(out, start as u64);
            if start != end {
                out.push(b'-');
                push_num(out, end as u64);
            }
        }
        let mut open: Vec<(u16, bool, &NodeName)> = self
            .migrating
            .iter()
            .map(|(s, n)| (*s, true, n))
            .chain(self.importing.iter().map(|(s, n)| (*s, false, n)))
            .collect();
        // Ascending slot, migrating first; then drop a slot's importing twin.
        open.sort_by_key(|&(slot, migrating, _)| (slot, !migrating));
        open.dedup_by_key(|&mut (slot, _, _)| slot);
        for (slot, migrating, node) in open {
            out.extend_from_slice(b" [");
            push_num(out, slot as u64);
            out.extend_from_slice(if migrating { b"->-" } else { b"-<-" });
            out.extend_from_slice(node);
            out.push(b']');
        }
    }

    /// Parse one line as clusterLoadConfig does (fields split on
    /// whitespace), with stricter numbers: ports, epochs and slots must be
    /// decimal and in range where Redis's atoi would take garbage as 0.
    /// `ip:port` without `@cport` (old files) gets cport = port + 10000.
    /// The `connected` field must be `connected` or `disconnected`.
    pub fn parse(line: &[u8]) -> Result<NodeLine, String> {
        let fields: Vec<&[u8]> = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|f| !f.is_empty())
            .collect();
        if fields.len() < 8 {
            return Err(format!("{} fields, need at least 8", fields.len()));
        }
        let name = parse_name(fields[0]).ok_or_else(|| bad("node id", fields[0]))?;
        let (ip, port, cport, hostname) = parse_addr(fields[1])?;
        let flags = parse_flags(fields[2])?;
        let master = match fields[3] {
            b"-" => None,
            m => Some(parse_name(m).ok_or_else(|| bad("master id", m))?),
        };
        let num = |what: &str, f: &[u8]| parse_u64(f).ok_or_else(|| bad(what, f));
        let ping_sent_ms = num("ping-sent", fields[4])?;
        let pong_recv_ms = num("pong-recv", fields[5])?;
        let config_epoch = num("config epoch", fields[6])?;
        let link_connected = match fields[7] {
            b"connected" => true,
            b"disconnected" => false,
            f => return Err(bad("link state", f)),
        };
        let mut node = NodeLine {
            name,
            ip,
            port,
            cport,
            hostname,
            flags,
            master,
            ping_sent_ms,
            pong_recv_ms,
            config_epoch,
            link_connected,
            slots: Vec::new(),
            migrating: Vec::new(),
            importing: Vec::new(),
        };
        for &f in &fields[8..] {
            if f.first() == Some(&b'[') {
                let (slot, migrating, other) =
                    parse_open_slot(f).ok_or_else(|| bad("open slot", f))?;
                if migrating {
                    node.migrating.push((slot, other));
                } else {
                    node.importing.push((slot, other));
                }
                continue;
            }
            let (start, end) = match f.iter().position(|&b| b == b'-') {
                Some(dash) => (parse_slot(&f[..dash]), parse_slot(&f[dash + 1..])),
                None => (parse_slot(f), parse_slot(f)),
            };
            match (start, end) {
                (Some(s), Some(e)) if s <= e => node.slots.push((s, e)),
                _ => return Err(bad("slot range", f)),
            }
        }
        Ok(node)
    }
}

impl NodesConf {
    /// nodes.conf as clusterSaveConfig writes it: every node line except
    /// nodes in handshake, each ending in a newline, then
    /// `vars currentEpoch N lastVoteEpoch M` and a newline.
    pub fn format(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 * (self.nodes.len() + 1));
        for n in self
            .nodes
            .iter()
            .filter(|n| n.flags & flags::HANDSHAKE == 0)
        {
            n.write_to(&mut out);
            out.push(b'\n');
        }
        out.extend_from_slice(b"vars currentEpoch ");
        push_num(&mut out, self.current_epoch);
        out.extend_from_slice(b" lastVoteEpoch ");
        push_num(&mut out, self.last_vote_epoch);
        out.push(b'\n');
        out
    }

    /// Parse nodes.conf (or CLUSTER NODES output, which lacks the vars
    /// line) as clusterLoadConfig accepts it: blank lines skipped, `vars`
    /// lines anywhere with case-insensitive names (unknown ones ignored),
    /// exactly one `myself` node. A node id may have only one line.
    /// Note Redis loads a replica's config epoch as 0; that is the state
    /// machine's business, the value here is what the line says.
    pub fn parse(text: &[u8]) -> Result<NodesConf, ParseError> {
        let mut conf = NodesConf::default();
        let mut myself = None;
        for (i, line) in text.split(|&b| b == b'\n').enumerate() {
            let line_no = i + 1;
            let err = |reason: String| ParseError {
                line: line_no,
                reason,
            };
            let mut words = line
                .split(|b| b.is_ascii_whitespace())
                .filter(|f| !f.is_empty());
            let Some(first) = words.next() else {
                continue;
            };
            if first.eq_ignore_ascii_case(b"vars") {
                let rest: Vec<&[u8]> = words.collect();
                if !rest.len().is_multiple_of(2) {
                    return Err(err("vars line with an odd number of words".into()));
                }
                for pair in rest.chunks_exact(2) {
                    let value = || parse_u64(pair[1]).ok_or_else(|| err(bad("epoch", pair[1])));
                    if pair[0].eq_ignore_ascii_case(b"currentEpoch") {
                        conf.current_epoch = value()?;
                    } else if pair[0].eq_ignore_ascii_case(b"lastVoteEpoch") {
                        conf.last_vote_epoch = value()?;
                    }
                }
                continue;
            }
            let node = NodeLine::parse(line).map_err(err)?;
            if conf.nodes.iter().any(|n| n.name == node.name) {
                return Err(err(format!("duplicate node {}", show(&node.name))));
            }
            if node.flags & flags::MYSELF != 0 {
                if let Some(prev) = myself {
                    return Err(err(format!("second myself node (first on line {prev})")));
                }
                myself = Some(line_no);
            }
            conf.nodes.push(node);
        }
        if myself.is_none() {
            return Err(ParseError {
                line: 0,
                reason: "no myself node".into(),
            });
        }
        Ok(conf)
    }

    /// Read and parse a config file. `Ok(None)` when it does not exist or
    /// is empty (Redis then starts a fresh node and writes one).
    pub fn load(path: &Path) -> Result<Option<NodesConf>, LoadError> {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(LoadError::Io(e)),
        };
        if text.is_empty() {
            return Ok(None);
        }
        NodesConf::parse(&text).map(Some).map_err(LoadError::Parse)
    }

    /// Write the config atomically (see `save_atomic`).
    pub fn save(&self, path: &Path) -> io::Result<()> {
        save_atomic(path, &self.format())
    }
}

/// CLUSTER NODES's reply text: every line, handshake nodes included, each
/// ending in a newline.
pub fn format_cluster_nodes(nodes: &[NodeLine]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 * nodes.len());
    for n in nodes {
        n.write_to(&mut out);
        out.push(b'\n');
    }
    out
}

/// Append flags as Redis prints them: `myself,master`, `slave,fail?`, or
/// `noflags` when none of the printed flags is set.
pub fn write_flags(out: &mut Vec<u8>, node_flags: u16) {
    let mut any = false;
    for (bit, name) in FLAG_NAMES {
        if node_flags & bit != 0 {
            if any {
                out.push(b',');
            }
            out.extend_from_slice(name.as_bytes());
            any = true;
        }
    }
    if !any {
        out.extend_from_slice(b"noflags");
    }
}

/// Parse a comma-separated flags field (case-insensitive, as Redis).
pub fn parse_flags(field: &[u8]) -> Result<u16, String> {
    let mut out = 0;
    for word in field.split(|&b| b == b',') {
        if word.eq_ignore_ascii_case(b"noflags") {
            continue;
        }
        out |= FLAG_NAMES
            .iter()
            .find(|(_, name)| word.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(bit, _)| *bit)
            .ok_or_else(|| bad("flag", word))?;
    }
    Ok(out)
}

/// A slot set as the maximal ascending ranges CLUSTER NODES prints.
pub fn slot_ranges(slots: &SlotBitmap) -> Vec<(u16, u16)> {
    let mut out: Vec<(u16, u16)> = Vec::new();
    for s in slots.iter() {
        match out.last_mut() {
            Some((_, end)) if *end + 1 == s => *end = s,
            _ => out.push((s, s)),
        }
    }
    out
}

/// Why `NodesConf::load` failed.
#[derive(Debug)]
pub enum LoadError {
    Io(io::Error),
    Parse(ParseError),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Io(e) => write!(f, "can't read the cluster config file: {e}"),
            LoadError::Parse(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for LoadError {}

/// Replace `path` with `contents` so that a crash leaves the old or the new
/// file, never a mix: write `.<name>.tmp-<pid>-<n>` in the same directory,
/// fsync it, rename it over `path`, fsync the directory. (Redis rewrites in
/// place, padding and truncating; rename is the safer way to the same end.)
pub fn save_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    save_replacing(path, contents, true)
}

/// `save_atomic`, with the fsyncs only when `durable`: what Redis's
/// `clusterSaveConfig(do_fsync)` does. Votes and epoch changes must be on
/// disk before the messages that depend on them leave; routine changes
/// (SETSLOT, a node's address, flags) need only survive the process, and
/// two fsyncs each would make every `redis-cli --cluster reshard` step wait
/// on the disk. A process crash still leaves the old or the new file.
pub fn save_replacing(path: &Path, contents: &[u8], durable: bool) -> io::Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "config path has no file name")
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = dir.join(tmp_name);
    let written = (|| {
        let mut f = open_for_write(&tmp)?;
        f.write_all(contents)?;
        if durable {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    if durable {
        File::open(&dir)?.sync_all()?;
    }
    Ok(())
}

fn open_for_write(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o644);
    }
    opts.open(path)
}

/// Holds the exclusive lock on a cluster config; released when dropped
/// (or when the process dies).
#[derive(Debug)]
pub struct ConfigLock {
    _file: File,
    path: PathBuf,
}

impl ConfigLock {
    /// The lock file held.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Why `lock_config` failed.
#[derive(Debug)]
pub enum LockError {
    /// Another process (or another open of the file here) holds the lock.
    Busy(PathBuf),
    Io(PathBuf, io::Error),
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::Busy(p) => write!(
                f,
                "Sorry, the cluster configuration file {} is already used by a different \
                 cluster node. Please make sure that different nodes use different cluster \
                 configuration files.",
                p.display()
            ),
            LockError::Io(p, e) => write!(f, "Impossible to lock {}: {e}", p.display()),
        }
    }
}

impl std::error::Error for LockError {}

/// The file `lock_config` locks for `config_path`: `<config>.lock` beside it.
pub fn lock_path(config_path: &Path) -> PathBuf {
    let mut p = config_path.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

/// Take an exclusive, non-blocking `flock` so that two processes cannot use
/// one cluster config, as clusterLockConfig does. Redis locks nodes.conf
/// itself because it rewrites it in place; `save_atomic` renames a new
/// file over it, which would leave a lock on the old inode behind, so the
/// lock is on the sibling `<config>.lock`, which is never replaced. It uses
/// std's `File::try_lock` (flock(LOCK_EX|LOCK_NB) on Unix): no libc, no
/// unsafe. The descriptor is close-on-exec, so children do not inherit it.
pub fn lock_config(config_path: &Path) -> Result<ConfigLock, LockError> {
    let path = lock_path(config_path);
    let file = open_lock_file(&path).map_err(|e| LockError::Io(path.clone(), e))?;
    match file.try_lock() {
        Ok(()) => Ok(ConfigLock { _file: file, path }),
        Err(std::fs::TryLockError::WouldBlock) => Err(LockError::Busy(config_path.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => Err(LockError::Io(path, e)),
    }
}

fn open_lock_file(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o644);
    }
    opts.open(path)
}

fn parse_name(f: &[u8]) -> Option<NodeName> {
    if f.len() != NODE_NAME_LEN
        || !f
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return None;
    }
    let mut name = [0u8; NODE_NAME_LEN];
    name.copy_from_slice(f);
    Some(name)
}

/// `ip:port[@cport][,hostname]`; the hostname is everything after the
/// first comma, the port follows the last colon (IPv6 addresses have many).
fn parse_addr(f: &[u8]) -> Result<(Vec<u8>, u16, u16, Vec<u8>), String> {
    let (addr, hostname) = match f.iter().position(|&b| b == b',') {
        Some(c) => (&f[..c], f[c + 1..].to_vec()),
        None => (f, Vec::new()),
    };
    let colon = addr
        .iter()
        .rposition(|&b| b == b':')
        .ok_or_else(|| bad("address", f))?;
    let (ip, ports) = (&addr[..colon], &addr[colon + 1..]);
    if ip.len() > MAX_IP_BYTES {
        return Err(bad("ip", ip));
    }
    let port_of = |p: &[u8]| {
        parse_u64(p)
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(|| bad("port", p))
    };
    let (port, cport) = match ports.iter().position(|&b| b == b'@') {
        Some(at) => (port_of(&ports[..at])?, port_of(&ports[at + 1..])?),
        None => {
            let port = port_of(ports)?;
            let cport = port
                .checked_add(BUS_PORT_OFFSET)
                .ok_or_else(|| bad("port (no bus port given)", ports))?;
            (port, cport)
        }
    };
    Ok((ip.to_vec(), port, cport, hostname))
}

/// `[slot->-id]` (migrating to id) or `[slot-<-id]` (importing from id).
fn parse_open_slot(f: &[u8]) -> Option<(u16, bool, NodeName)> {
    let inner = f.strip_prefix(b"[")?.strip_suffix(b"]")?;
    let dash = inner.iter().position(|&b| b == b'-')?;
    let slot = parse_slot(&inner[..dash])?;
    let rest = &inner[dash..];
    let (migrating, id) = if let Some(id) = rest.strip_prefix(b"->-") {
        (true, id)
    } else {
        (false, rest.strip_prefix(b"-<-")?)
    };
    Some((slot, migrating, parse_name(id)?))
}

fn parse_slot(f: &[u8]) -> Option<u16> {
    parse_u64(f)
        .filter(|&n| n < crate::SLOT_COUNT as u64)
        .map(|n| n as u16)
}

fn parse_u64(f: &[u8]) -> Option<u64> {
    if f.is_empty() || f.len() > 20 || !f.iter().all(u8::is_ascii_digit) {
        return None;
    }
    f.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add((d - b'0') as u64)
    })
}

fn push_num(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

fn show(f: &[u8]) -> String {
    String::from_utf8_lossy(f).into_owned()
}

fn bad(what: &str, f: &[u8]) -> String {
    format!("bad {what} '{}'", show(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca";
    const B: &str = "07c37dfeb235213a872192d90877d0cd55635b91";
    const C: &str = "67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1";

    /// Lines in the shape Redis 7.0 writes them.
    fn sample_text() -> String {
        format!(
            "{A} 127.0.0.1:30001@40001,host-a.example myself,master - 0 1426238316232 1 connected 0-5460 7000 [5461->-{C}] [9000-<-{C}]\n\
             {B} 127.0.0.1:30004@31004 slave {A} 0 1426238317239 1 connected\n\
             {C} :0@0 master,fail?,noaddr - 1426238316000 1426238315000 3 disconnected 5462-10922\n\
             vars currentEpoch 6 lastVoteEpoch 4\n"
        )
    }

    fn name(s: &str) -> NodeName {
        s.as_bytes().try_into().unwrap()
    }

    #[test]
    fn parses_what_redis_writes() {
        let conf = NodesConf::parse(sample_text().as_bytes()).unwrap();
        assert_eq!(conf.current_epoch, 6);
        assert_eq!(conf.last_vote_epoch, 4);
        let me = &conf.nodes[0];
        assert_eq!(me.name, name(A));
        assert_eq!(me.ip, b"127.0.0.1");
        assert_eq!((me.port, me.cport), (30001, 40001));
        assert_eq!(me.hostname, b"host-a.example");
        assert_eq!(me.flags, flags::MYSELF | flags::MASTER);
        assert_eq!(me.master, None);
        assert_eq!(
            (me.ping_sent_ms, me.pong_recv_ms, me.config_epoch),
            (0, 1426238316232, 1)
        );
        assert!(me.link_connected);
        assert_eq!(me.slots, vec![(0, 5460), (7000, 7000)]);
        assert_eq!(me.migrating, vec![(5461, name(C))]);
        assert_eq!(me.importing, vec![(9000, name(C))]);
        let replica = &conf.nodes[1];
        assert_eq!(replica.flags, flags::SLAVE);
        assert_eq!(replica.master, Some(name(A)));
        assert!(replica.slots.is_empty());
        let failed = &conf.nodes[2];
        assert_eq!(failed.ip, b"");
        assert_eq!((failed.port, failed.cport), (0, 0));
        assert_eq!(failed.flags, flags::MASTER | flags::PFAIL | flags::NOADDR);
        assert!(!failed.link_connected);
    }

    #[test]
    fn formats_byte_identically() {
        let text = sample_text();
        let conf = NodesConf::parse(text.as_bytes()).unwrap();
        assert_eq!(String::from_utf8(conf.format()).unwrap(), text);
        let lines: String = text.lines().take(3).map(|l| format!("{l}\n")).collect();
        assert_eq!(
            String::from_utf8(format_cluster_nodes(&conf.nodes)).unwrap(),
            lines
        );
    }

    #[test]
    fn flags_text() {
        let f = |bits| {
            let mut v = Vec::new();
            write_flags(&mut v, bits);
            String::from_utf8(v).unwrap()
        };
        assert_eq!(f(flags::MYSELF | flags::MASTER), "myself,master");
        assert_eq!(f(flags::SLAVE), "slave");
        assert_eq!(f(flags::MASTER | flags::PFAIL), "master,fail?");
        assert_eq!(
            f(flags::MASTER | flags::FAIL | flags::MIGRATE_TO),
            "master,fail"
        );
        assert_eq!(f(flags::HANDSHAKE | flags::MEET), "handshake");
        assert_eq!(f(flags::SLAVE | flags::NOFAILOVER), "slave,nofailover");
        assert_eq!(f(flags::NOADDR), "noaddr");
        assert_eq!(f(0), "noflags");
        assert_eq!(f(flags::MEET), "noflags");
        assert_eq!(parse_flags(b"noflags"), Ok(0));
        assert_eq!(
            parse_flags(b"MySelf,Master"),
            Ok(flags::MYSELF | flags::MASTER)
        );
        assert_eq!(
            parse_flags(b"slave,fail,handshake,nofailover"),
            Ok(flags::SLAVE | flags::FAIL | flags::HANDSHAKE | flags::NOFAILOVER)
        );
        assert!(parse_flags(b"master,primary").is_err());
        assert!(parse_flags(b"").is_err());
    }

    #[test]
    fn open_slots_print_in_slot_order_migrating_wins() {
        let mut line = NodeLine::parse(
            format!("{A} 1.2.3.4:1@2 myself,master - 0 0 0 connected 1-3").as_bytes(),
        )
        .unwrap();
        line.importing = vec![(9, name(B)), (4, name(C))];
        line.migrating = vec![(9, name(C)), (6, name(B))];
        let text = String::from_utf8(line.format()).unwrap();
        assert_eq!(
            text,
            format!(
                "{A} 1.2.3.4:1@2 myself,master - 0 0 0 connected 1-3 [4-<-{C}] [6->-{B}] [9->-{C}]"
            )
        );
    }

    #[test]
    fn slot_ranges_are_maximal() {
        let mut bm = SlotBitmap::default();
        for s in [0, 1, 2, 5, 7, 8, 16383] {
            bm.set(s, true);
        }
        assert_eq!(
            slot_ranges(&bm),
            vec![(0, 2), (5, 5), (7, 8), (16383, 16383)]
        );
        assert_eq!(slot_ranges(&SlotBitmap::default()), vec![]);
    }

    #[test]
    fn accepts_what_redis_reads() {
        // Old lines without @cport, blank lines, padding newlines, vars
        // anywhere and in any case, unknown vars, IPv6, handshake nodes.
        let text = format!(
            "\n  \nVARS CURRENTEPOCH 9 somethingNew x\n\
             {A} ::1:7000 myself,master - 0 0 0 connected 16383\r\n\
             {B} 2001:db8::1:7001@17001 handshake - 5 0 0 disconnected\n\n\n"
        );
        let conf = NodesConf::parse(text.as_bytes()).unwrap();
        assert_eq!(conf.current_epoch, 9);
        assert_eq!(conf.nodes[0].ip, b"::1");
        assert_eq!((conf.nodes[0].port, conf.nodes[0].cport), (7000, 17000));
        assert_eq!(conf.nodes[0].slots, vec![(16383, 16383)]);
        assert_eq!(conf.nodes[1].ip, b"2001:db8::1");
        // Handshake nodes are not saved.
        let saved = String::from_utf8(conf.format()).unwrap();
        assert_eq!(
            saved,
            format!("{A} ::1:7000@17000 myself,master - 0 0 0 connected 16383\nvars currentEpoch 9 lastVoteEpoch 0\n")
        );
    }

    #[test]
    fn rejects_what_redis_rejects_and_names_the_line() {
        let me = format!("{A} 127.0.0.1:7000@17000 myself,master - 0 0 0 connected");
        let cases: Vec<(String, usize, &str)> = vec![
            (format!("{me}\n{B} 1.2.3.4:1@2 master - 0 0 0"), 2, "fields"),
            (
                format!("{me}\nABC 1.2.3.4:1@2 master - 0 0 0 connected"),
                2,
                "node id",
            ),
            (
                format!("{me}\n{}X 1.2.3.4:1@2 master - 0 0 0 connected", &B[1..]),
                2,
                "node id",
            ),
            (
                format!("{me}\n{B} 1.2.3.4 master - 0 0 0 connected"),
                2,
                "address",
            ),
            (
                format!("{me}\n{B} 1.2.3.4:x@2 master - 0 0 0 connected"),
                2,
                "port",
            ),
            (
                format!("{me}\n{B} 1.2.3.4:70000@2 master - 0 0 0 connected"),
                2,
                "port",
            ),
            (
                format!("{me}\n{B} 1.2.3.4:60000 master - 0 0 0 connected"),
                2,
                "port",
            ),
            (
                format!("{me}\n{B} {}:1@2 master - 0 0 0 connected", "1".repeat(46)),
                2,
                "ip",
            ),
            (
                format!("{me}\n{B} 1.2.3.4:1@2 master,bogus - 0 0 0 connected"),
                2,
                "flag",
            ),
            (
                format!("{me}\n{B} 1.2.3.4:1@2 slave nope 0 0 0 connected"),
                2,
                "master id",
            ),
            (
                format!("{me}\n{B} 1.2.3.4:1@2 master - 0 0 x connected"),
                2,
                "epoch",
            ),
            (
                format!("{me}\n{B} 1.2.3.4:1@2 master - 0 0 0 maybe"),
                2,
                "link",
            ),
            (
                format!("{me}\n{B} 1.2.3.4:1@2 master - 0 0 0 connected 16384"),
                2,
                "slot",
            ),
            (
                format!("{me}\n{B} 1.2.3.4:1@2 master - 0 0 0 connected 5-3"),
                2,
                "slot",
            ),
            (
                format!("{me}\n{B} 1.2.3.4:1@2 master - 0 0 0 connected 1-"),
                2,
                "slot",
            ),
            (format!("{me} [1-x-{B}]"), 1, "open slot"),
            (format!("{me} [1->-{B}"), 1, "open slot"),
            (format!("{me} [16384->-{B}]"), 1, "open slot"),
            (format!("{me} [1->-abc]"), 1, "open slot"),
            (format!("{me}\nvars currentEpoch"), 2, "odd"),
            (format!("{me}\nvars currentEpoch -1"), 2, "epoch"),
            (format!("{me}\n{me}"), 2, "duplicate"),
            (format!("{me}\n{}", me.replace(A, B)), 2, "second myself"),
            (
                format!("{B} 1.2.3.4:1@2 master - 0 0 0 connected\n"),
                0,
                "no myself",
            ),
            (String::new(), 0, "no myself"),
        ];
        for (text, line, what) in cases {
            let err = NodesConf::parse(text.as_bytes()).expect_err(&text);
            assert_eq!(err.line, line, "{text}: {err}");
            assert!(err.reason.contains(what), "{text}: {err}");
        }
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("shoal-nodes-conf-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn save_is_atomic_and_load_reads_it_back() {
        let dir = temp_dir("save");
        let path = dir.join("nodes.conf");
        assert!(NodesConf::load(&path).unwrap().is_none());
        std::fs::write(&path, b"").unwrap();
        assert!(NodesConf::load(&path).unwrap().is_none());
        let conf = NodesConf::parse(sample_text().as_bytes()).unwrap();
        conf.save(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), sample_text().as_bytes());
        let mut smaller = conf.clone();
        smaller.nodes.truncate(1);
        smaller.save(&path).unwrap();
        assert_eq!(NodesConf::load(&path).unwrap(), Some(smaller));
        // Only nodes.conf is left: no temp files.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("nodes.conf")]);
        std::fs::write(&path, b"garbage\n").unwrap();
        assert!(matches!(NodesConf::load(&path), Err(LoadError::Parse(e)) if e.line == 1));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lock_is_exclusive_and_survives_saves() {
        let dir = temp_dir("lock");
        let path = dir.join("nodes.conf");
        let lock = lock_config(&path).unwrap();
        assert_eq!(lock.path(), lock_path(&path));
        // flock locks belong to the open file: a second open conflicts, in
        // this process as in another.
        assert!(matches!(lock_config(&path), Err(LockError::Busy(_))));
        NodesConf::parse(sample_text().as_bytes())
            .unwrap()
            .save(&path)
            .unwrap();
        assert!(matches!(lock_config(&path), Err(LockError::Busy(_))));
        drop(lock);
        let again = lock_config(&path).unwrap();
        // Another config in the same directory is independent.
        let other = lock_config(&dir.join("nodes-2.conf")).unwrap();
        drop((again, other));
        let missing = dir.join("no-such-dir").join("nodes.conf");
        assert!(matches!(lock_config(&missing), Err(LockError::Io(..))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
