//! Access control lists, as Redis 7.0's: users with passwords and
//! selectors (command bitmaps, key and channel patterns), the rules ACL
//! SETUSER and the ACL file speak, their canonical description (ACL LIST),
//! the permission check every command passes, and the ACL log.
//!
//! A user is shared (`Arc<User>`) by the clients authenticated as it; a
//! rule change applies to them at once, as in Redis where clients point at
//! the user object. `User::unrestricted` caches "may run anything on any key
//! and channel", so a connection of such a user (the default one, out of the
//! box) pays one flag load per command.

use crate::commands::{self, Command};
use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// Redis's ACL categories, in its table order (ACL CAT, descriptions).
pub const CATEGORIES: [&str; 21] = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// The bit of a category name (case-insensitive), as a mask.
pub fn category_mask(name: &str) -> Option<u32> {
    CATEGORIES
        .iter()
        .position(|c| c.eq_ignore_ascii_case(name))
        .map(|i| 1u32 << i)
}

/// The mask of a command's category names.
pub fn mask_of(cats: &[&str]) -> u32 {
    cats.iter()
        .filter_map(|c| category_mask(c))
        .fold(0, |a, b| a | b)
}

/// Command bits per selector; the last one is set only by +@all (the user
/// may run commands added later), as Redis's reserved bit.
const BITS: usize = 1024;
const WORDS: usize = BITS / 64;
const FUTURE: usize = BITS - 1;

/// Key pattern permissions.
pub const PERM_R: u8 = 1;
pub const PERM_W: u8 = 2;
pub const PERM_ALL: u8 = PERM_R | PERM_W;

/// acl-pubsub-default: new selectors start with all channels allowed.
static PUBSUB_ALL: AtomicBool = AtomicBool::new(false);

pub fn set_pubsub_default(value: &str) {
    PUBSUB_ALL.store(value.eq_ignore_ascii_case("allchannels"), Ordering::Relaxed);
}

/// Every command, parents before their subcommands, in a fixed order.
fn universe() -> &'static [&'static Command] {
    static U: OnceLock<Vec<&'static Command>> = OnceLock::new();
    U.get_or_init(|| {
        let mut top: Vec<&'static Command> = commands::table().commands.values().collect();
        top.sort_by(|a, b| a.name.cmp(&b.name));
        top
    })
}

/// A command by its ACL name: "get", or "config|get" for a subcommand.
pub fn lookup_command(name: &str) -> Option<&'static Command> {
    let mut parts = name.split('|');
    let base = commands::lookup(parts.next()?.as_bytes())?;
    match (parts.next(), parts.next()) {
        (None, _) => Some(base),
        (Some(sub), None) => {
            if base.subcommands.is_empty() {
                None
            } else {
                base.subcommand(sub.as_bytes())
            }
        }
        _ => None,
    }
}

/// Why a rule could not be applied (Redis's errno cases).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RuleError {
    Unknown,
    Syntax,
    AfterAllKeys,
    AfterAllChannels,
    NoSuchPassword,
    BadHash,
    FirstArgOfSub,
    Duplicate,
}

impl RuleError {
    pub fn message(self) -> &'static str {
        match self {
            RuleError::Unknown => "Unknown command or category name in ACL",
            RuleError::Syntax => "Syntax error",
            RuleError::AfterAllKeys => "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            RuleError::AfterAllChannels => "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels",
            RuleError::NoSuchPassword => "The password you are trying to remove from the user does not exist",
            RuleError::BadHash => "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
            RuleError::FirstArgOfSub => "Allowing first-arg of a subcommand is not supported",
            RuleError::Duplicate => "Duplicate user found. A user can only be defined once in config files",
        }
    }
}

fn has_spaces(s: &[u8]) -> bool {
    s.iter().any(|&b| b.is_ascii_whitespace() || b == 0)
}

/// One set of permissions: the user's root one, or a `(...)` selector.
#[derive(Clone)]
pub struct Selector {
    pub root: bool,
    pub allkeys: bool,
    pub allchannels: bool,
    pub allcommands: bool,
    commands: [u64; WORDS],
    /// Allowed first arguments of otherwise denied commands (by command id).
    firstargs: BTreeMap<usize, Vec<String>>,
    pub keys: Vec<(Vec<u8>, u8)>,
    pub channels: Vec<Vec<u8>>,
}

impl Selector {
    fn new(root: bool) -> Selector {
        let mut s = Selector::blank();
        s.root = root;
        s.allchannels = PUBSUB_ALL.load(Ordering::Relaxed);
        s
    }

    fn blank() -> Selector {
        Selector {
            root: false,
            allkeys: false,
            allchannels: false,
            allcommands: false,
            commands: [0; WORDS],
            firstargs: BTreeMap::new(),
            keys: Vec::new(),
            channels: Vec::new(),
        }
    }

    fn bit(&self, id: usize) -> bool {
        id < BITS && self.commands[id / 64] & (1 << (id % 64)) != 0
    }

    fn set_bit(&mut self, id: usize, on: bool) {
        if id >= BITS {
            return;
        }
        if on {
            self.commands[id / 64] |= 1 << (id % 64);
        } else {
            self.commands[id / 64] &= !(1 << (id % 64));
            self.allcommands = false;
        }
    }

    fn change_perm(&mut self, cmd: &Command, allow: bool) {
        self.set_bit(cmd.id, allow);
        self.firstargs.remove(&cmd.id);
        for sub in &cmd.subcommands {
            self.set_bit(sub.id, allow);
        }
    }

    fn set_category(&mut self, mask: u32, allow: bool) {
        for cmd in universe() {
            if cmd.acl_mask & mask != 0 {
                self.change_perm(cmd, allow);
            }
            for sub in &cmd.subcommands {
                if sub.acl_mask & mask != 0 {
                    self.change_perm(sub, allow);
                }
            }
        }
    }

    fn count_category(&self, mask: u32) -> (u64, u64) {
        let (mut on, mut off) = (0, 0);
        for cmd in universe() {
            for c in std::iter::once(*cmd).chain(cmd.subcommands.iter()) {
                if c.acl_mask & mask != 0 {
                    if self.bit(c.id) {
                        on += 1;
                    } else {
                        off += 1;
                    }
                }
            }
        }
        (on, off)
    }

    /// Apply one selector rule (ACLSetSelector).
    pub fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        let s = String::from_utf8_lossy(op);
        let lower = s.to_ascii_lowercase();
        match lower.as_str() {
            "allkeys" | "~*" => {
                self.allkeys = true;
                self.keys.clear();
                return Ok(());
            }
            "resetkeys" => {
                self.allkeys = false;
                self.keys.clear();
                return Ok(());
            }
            "allchannels" | "&*" => {
                self.allchannels = true;
                self.channels.clear();
                return Ok(());
            }
            "resetchannels" => {
                self.allchannels = false;
                self.channels.clear();
                return Ok(());
            }
            "allcommands" | "+@all" => {
                self.commands = [u64::MAX; WORDS];
                self.allcommands = true;
                self.firstargs.clear();
                return Ok(());
            }
            "nocommands" | "-@all" => {
                self.commands = [0; WORDS];
                self.allcommands = false;
                self.firstargs.clear();
                return Ok(());
            }
            _ => {}
        }
        match op.first() {
            Some(b'~') | Some(b'%') => {
                if self.allkeys {
                    return Err(RuleError::AfterAllKeys);
                }
                let mut flags = 0u8;
                let mut offset = 1;
                if op[0] == b'%' {
                    loop {
                        match op.get(offset).map(|b| b.to_ascii_uppercase()) {
                            Some(b'R') if flags & PERM_R == 0 => flags |= PERM_R,
                            Some(b'W') if flags & PERM_W == 0 => flags |= PERM_W,
                            Some(b'~') => {
                                offset += 1;
                                break;
                            }
                            // Redis ends the loop at the end of the rule
                            // too, with whatever flags it read.
                            None => break,
                            _ => return Err(RuleError::Syntax),
                        }
                        offset += 1;
                    }
                } else {
                    flags = PERM_ALL;
                }
                let pat = &op[offset.min(op.len())..];
                if has_spaces(pat) {
                    return Err(RuleError::Syntax);
                }
                match self.keys.iter_mut().find(|(p, _)| p == pat) {
                    Some((_, f)) => *f |= flags,
                    None => self.keys.push((pat.to_vec(), flags)),
                }
                self.allkeys = false;
                Ok(())
            }
            Some(b'&') => {
                if self.allchannels {
                    return Err(RuleError::AfterAllChannels);
                }
                let pat = &op[1..];
                if has_spaces(pat) {
                    return Err(RuleError::Syntax);
                }
                if !self.channels.iter().any(|c| c == pat) {
                    self.channels.push(pat.to_vec());
                }
                self.allchannels = false;
                Ok(())
            }
            Some(b'+') if op.get(1) != Some(&b'@') => {
                let name = &s[1..];
                match name.rfind('|') {
                    None => {
                        let cmd = lookup_command(name).ok_or(RuleError::Unknown)?;
                        self.change_perm(cmd, true);
                        Ok(())
                    }
                    Some(bar) => {
                        let (base_name, sub) = (&name[..bar], &name[bar + 1..]);
                        let base = lookup_command(base_name).ok_or(RuleError::Unknown)?;
                        if base.name.contains('|') {
                            return Err(RuleError::FirstArgOfSub);
                        }
                        if sub.is_empty() {
                            return Err(RuleError::Syntax);
                        }
                        if !base.subcommands.is_empty() {
                            let cmd = lookup_command(name).ok_or(RuleError::Unknown)?;
                            self.change_perm(cmd, true);
                        } else {
                            crate::warning!("Deprecation warning: Allowing a first arg of an otherwise blocked command is a misuse of ACL and may get disabled in the future (offender: +{name})");
                            let list = self.firstargs.entry(base.id).or_default();
                            if !list.iter().any(|a| a.eq_ignore_ascii_case(sub)) {
                                list.push(sub.to_string());
                            }
                        }
                        Ok(())
                    }
                }
            }
            Some(b'-') if op.get(1) != Some(&b'@') => {
                let cmd = lookup_command(&s[1..]).ok_or(RuleError::Unknown)?;
                self.change_perm(cmd, false);
                Ok(())
            }
            Some(b'+') | Some(b'-') => {
                let mask = category_mask(&s[2..]).ok_or(RuleError::Unknown)?;
                self.set_category(mask, op[0] == b'+');
                Ok(())
            }
            _ => Err(RuleError::Syntax),
        }
    }

    /// The command rules, as ACLDescribeSelectorCommandRules: +@all or
    /// -@all, then the best-fitting categories, then single commands.
    pub fn describe_commands(&self) -> String {
        let mut rules = String::new();
        let mut fake = Selector::blank();
        let additive = !self.bit(FUTURE);
        if additive {
            rules.push_str("-@all ");
            let _ = fake.apply(b"-@all");
        } else {
            rules.push_str("+@all ");
            let _ = fake.apply(b"+@all");
        }
        let mut temp = Selector::blank();
        temp.commands = self.commands;
        let mut applied = [false; CATEGORIES.len()];
        loop {
            let mut best = None;
            let (mut mindiff, mut maxsame) = (u64::MAX, 0u64);
            for (j, _) in CATEGORIES.iter().enumerate() {
                if applied[j] {
                    continue;
                }
                let (on, off) = temp.count_category(1 << j);
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < mindiff || (diff == mindiff && same > maxsame)) {
                    best = Some(j);
                    mindiff = diff;
                    maxsame = same;
                }
            }
            let Some(best) = best else { break };
            let name = CATEGORIES[best];
            let (op, inv) = if additive {
                (format!("+@{name}"), format!("-@{name}"))
            } else {
                (format!("-@{name}"), format!("+@{name}"))
            };
            let _ = fake.apply(op.as_bytes());
            let _ = temp.apply(inv.as_bytes());
            rules.push_str(&op);
            rules.push(' ');
            applied[best] = true;
        }
        for cmd in universe() {
            self.describe_single(cmd, &mut fake, &mut rules);
            for sub in &cmd.subcommands {
                self.describe_single(sub, &mut fake, &mut rules);
            }
            if !self.bit(cmd.id) {
                if let Some(args) = self.firstargs.get(&cmd.id) {
                    for a in args {
                        rules.push_str(&format!("+{}|{} ", cmd.name, a));
                    }
                }
            }
        }
        rules.pop();
        rules
    }

    fn describe_single(&self, cmd: &Command, fake: &mut Selector, rules: &mut String) {
        let user = self.bit(cmd.id);
        if user != fake.bit(cmd.id) {
            rules.push(if user { '+' } else { '-' });
            rules.push_str(&cmd.name);
            rules.push(' ');
            fake.change_perm(cmd, user);
        }
    }

    fn key_pattern_string(pat: &[u8], flags: u8) -> String {
        let prefix = match flags {
            PERM_R => "%R~",
            PERM_W => "%W~",
            _ => "~",
        };
        format!("{prefix}{}", String::from_utf8_lossy(pat))
    }

    /// The key patterns as ACL GETUSER shows them.
    pub fn describe_keys(&self) -> String {
        if self.allkeys {
            return "~*".into();
        }
        self.keys
            .iter()
            .map(|(p, f)| Self::key_pattern_string(p, *f))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The channel patterns as ACL GETUSER shows them.
    pub fn describe_channels(&self) -> String {
        if self.allchannels {
            return "&*".into();
        }
        self.channels
            .iter()
            .map(|c| format!("&{}", String::from_utf8_lossy(c)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The whole selector in rule form (ACLDescribeSelector).
    pub fn describe(&self) -> String {
        let mut res = String::new();
        if self.allkeys {
            res.push_str("~* ");
        } else {
            for (p, f) in &self.keys {
                res.push_str(&Self::key_pattern_string(p, *f));
                res.push(' ');
            }
        }
        if self.allchannels {
            res.push_str("&* ");
        } else {
            res.push_str("resetchannels ");
            for c in &self.channels {
                res.push('&');
                res.push_str(&String::from_utf8_lossy(c));
                res.push(' ');
            }
        }
        res.push_str(&self.describe_commands());
        res
    }

    fn key_ok(&self, key: &[u8], need: u8) -> bool {
        if self.allkeys {
            return true;
        }
        self.keys
            .iter()
            .any(|(p, f)| f & need == need && crate::util::glob_match(p, key, false))
    }

    /// Every key is reachable with `need` (a `*` pattern with those flags).
    fn unrestricted_keys(&self, need: u8) -> bool {
        self.allkeys
            || self
                .keys
                .iter()
                .any(|(p, f)| f & need == need && p.as_slice() == b"*")
    }

    fn check_cmd(
        &self,
        cmd: &Command,
        argv: &[Bytes],
        keys: &mut Option<Vec<(usize, u8)>>,
    ) -> Result<(), Denied> {
        if !self.allcommands && !cmd.has(commands::NO_AUTH) && !self.bit(cmd.id) {
            let Some(allowed) = self.firstargs.get(&cmd.id) else {
                return Err(Denied::Command);
            };
            let idx = if cmd.name.contains('|') { 2 } else { 1 };
            let Some(arg) = argv.get(idx) else {
                return Err(Denied::Command);
            };
            if !allowed
                .iter()
                .any(|a| a.as_bytes().eq_ignore_ascii_case(arg))
            {
                return Err(Denied::Command);
            }
        }
        if !self.allkeys && cmd.keys != commands::KeySpec::None {
            let keys = keys.get_or_insert_with(|| key_access(cmd, argv));
            for &(pos, need) in keys.iter() {
                if !self.key_ok(&argv[pos], need) {
                    return Err(Denied::Key(pos));
                }
            }
        }
        if !self.allchannels {
            for (pos, pattern) in channel_args(cmd, argv) {
                if !channel_allowed(&self.channels, &argv[pos], pattern) {
                    return Err(Denied::Channel(pos));
                }
            }
        }
        Ok(())
    }
}

fn channel_allowed(list: &[Vec<u8>], channel: &[u8], is_pattern: bool) -> bool {
    list.iter().any(|p| {
        if is_pattern {
            p.as_slice() == channel
        } else {
            crate::util::glob_match(p, channel, false)
        }
    })
}

/// The channels a command publishes or subscribes to: (position, is a pattern).
fn channel_args(cmd: &Command, argv: &[Bytes]) -> Vec<(usize, bool)> {
    match cmd.name.as_str() {
        "publish" | "spublish" => vec![(1, false)],
        "subscribe" | "ssubscribe" => (1..argv.len()).map(|i| (i, false)).collect(),
        "psubscribe" => (1..argv.len()).map(|i| (i, true)).collect(),
        _ => Vec::new(),
    }
}

/// The keys of a command with the access each needs, as Redis 7.0's key
/// specs say (ACCESS: read; INSERT/DELETE/UPDATE: write; neither, as
/// for existence and cardinality tests: any pattern that matches).
pub fn key_access(cmd: &Command, argv: &[Bytes]) -> Vec<(usize, u8)> {
    let name = cmd.name.as_str();
    if matches!(name, "spublish" | "ssubscribe" | "sunsubscribe") {
        return Vec::new();
    }
    // A numkeys count past the arguments makes the key spec invalid, and
    // Redis then finds no keys at all.
    if let commands::KeySpec::Keynum {
        numkeys_at,
        first_offset,
        step,
        ..
    } = cmd.keys
    {
        match argv
            .get(numkeys_at as usize)
            .and_then(|a| crate::util::parse_i64(a))
        {
            Some(n) if n >= 0 => {
                let first = (numkeys_at + first_offset) as i64;
                if n > 0 && first + (n - 1) * step.max(1) as i64 >= argv.len() as i64 {
                    return Vec::new();
                }
            }
            _ => return Vec::new(),
        }
    }
    let positions = cmd.keys_in(argv);
    const RW: u8 = PERM_ALL;
    let (first, rest) = match name {
        "set" => {
            let get = argv.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get"));
            let f = if get { RW } else { PERM_W };
            (f, f)
        }
        "bitfield" => {
            let f = if crate::commands::introspection::bitfield_readonly(argv) {
                PERM_R
            } else {
                RW
            };
            (f, f)
        }
        "bitop" => (PERM_W, PERM_R),
        "blmove" | "brpoplpush" | "lmove" | "rpoplpush" | "smove" | "rename" | "renamenx" => {
            (RW, PERM_W)
        }
        "copy" | "georadius" | "georadiusbymember" | "sort" => (PERM_R, PERM_W),
        "geosearchstore" | "sdiffstore" | "sinterstore" | "sunionstore" | "zdiffstore"
        | "zinterstore" | "zunionstore" | "zrangestore" => (PERM_W, PERM_R),
        "pfmerge" => (RW, PERM_R),
        "blmpop" | "blpop" | "brpop" | "bzmpop" | "bzpopmax" | "bzpopmin" | "decr" | "decrby"
        | "getdel" | "getex" | "getset" | "hincrby" | "hincrbyfloat" | "incr" | "incrby"
        | "incrbyfloat" | "lmpop" | "lpop" | "rpop" | "move" | "setbit" | "spop" | "zincrby"
        | "zmpop" | "zpopmax" | "zpopmin" | "migrate" | "eval" | "evalsha" | "fcall" => (RW, RW),
        "pfdebug" | "xreadgroup" => (PERM_R, PERM_R),
        "exists" | "hexists" | "hlen" | "hstrlen" | "llen" | "memory|usage" | "object|encoding"
        | "object|freq" | "object|idletime" | "object|refcount" | "scard" | "sismember"
        | "strlen" | "touch" | "type" | "xlen" | "zcard" | "watch" => (0, 0),
        _ if cmd.has(commands::READONLY) => (PERM_R, PERM_R),
        _ if cmd.has(commands::WRITE) => (PERM_W, PERM_W),
        _ => (RW, RW),
    };
    positions
        .into_iter()
        .enumerate()
        .map(|(i, pos)| (pos, if i == 0 { first } else { rest }))
        .collect()
}

/// Why a command was refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Denied {
    Command,
    /// The argument position of the key.
    Key(usize),
    /// The argument position of the channel.
    Channel(usize),
}

impl Denied {
    fn rank(self) -> u8 {
        match self {
            Denied::Command => 1,
            Denied::Key(_) => 2,
            Denied::Channel(_) => 4,
        }
    }

    fn pos(self) -> usize {
        match self {
            Denied::Command => 0,
            Denied::Key(p) | Denied::Channel(p) => p,
        }
    }

    /// The NOPERM error a client gets at the top level.
    pub fn error(self, cmd: &Command) -> String {
        match self {
            Denied::Command => format!(
                "NOPERM this user has no permissions to run the '{}' command",
                cmd.name
            ),
            Denied::Key(_) => {
                "NOPERM this user has no permissions to access one of the keys used as arguments"
                    .into()
            }
            Denied::Channel(_) => {
                "NOPERM this user has no permissions to access one of the channels used as arguments"
                    .into()
            }
        }
    }

    /// getAclErrorMessage: the reason scripts report.
    pub fn reason(self) -> &'static str {
        match self {
            Denied::Command => "can't run this command or subcommand",
            Denied::Key(_) => {
                "can't access at least one of the keys mentioned in the command arguments"
            }
            Denied::Channel(_) => "can't publish to the channel mentioned in the command",
        }
    }

    /// The reason EXEC reports when the rules changed after queueing.
    pub fn exec_reason(self) -> &'static str {
        match self {
            Denied::Command => "no permission to execute the command or subcommand",
            Denied::Key(_) => "no permission to touch the specified keys",
            Denied::Channel(_) => "no permission to access one of the channels used as arguments",
        }
    }

    fn log_reason(self) -> &'static str {
        match self {
            Denied::Command => "command",
            Denied::Key(_) => "key",
            Denied::Channel(_) => "channel",
        }
    }
}

/// A user's definition.
#[derive(Clone)]
pub struct UserData {
    pub enabled: bool,
    pub nopass: bool,
    /// Some(true): sanitize-payload, Some(false): skip-sanitize-payload.
    pub sanitize: Option<bool>,
    /// SHA-256 hex digests.
    pub passwords: Vec<String>,
    /// The root selector first, then `(...)` ones.
    pub selectors: Vec<Selector>,
}

impl UserData {
    fn new() -> UserData {
        UserData {
            enabled: false,
            nopass: false,
            sanitize: None,
            passwords: Vec::new(),
            selectors: vec![Selector::new(true)],
        }
    }

    fn default_user() -> UserData {
        let mut d = UserData::new();
        for op in ["+@all", "~*", "&*", "on", "nopass"] {
            let _ = d.apply(op.as_bytes());
        }
        d
    }

    /// Apply one user rule (ACLSetUser).
    pub fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        if op.is_empty() {
            return Ok(());
        }
        let lower = String::from_utf8_lossy(op).to_ascii_lowercase();
        match lower.as_str() {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "skip-sanitize-payload" => self.sanitize = Some(false),
            "sanitize-payload" => self.sanitize = Some(true),
            "nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            "clearselectors" => self.selectors.truncate(1),
            "reset" => {
                for r in ["resetpass", "resetkeys", "resetchannels"] {
                    let _ = self.apply(r.as_bytes());
                }
                if PUBSUB_ALL.load(Ordering::Relaxed) {
                    let _ = self.apply(b"allchannels");
                }
                for r in ["off", "sanitize-payload", "clearselectors", "-@all"] {
                    let _ = self.apply(r.as_bytes());
                }
            }
            _ => match op[0] {
                b'>' | b'#' => {
                    let hash = if op[0] == b'>' {
                        sha256_hex(&op[1..])
                    } else {
                        check_hash(&op[1..])?
                    };
                    if !self.passwords.contains(&hash) {
                        self.passwords.push(hash);
                    }
                    self.nopass = false;
                }
                b'<' | b'!' => {
                    let hash = if op[0] == b'<' {
                        sha256_hex(&op[1..])
                    } else {
                        check_hash(&op[1..])?
                    };
                    match self.passwords.iter().position(|p| *p == hash) {
                        Some(i) => {
                            self.passwords.remove(i);
                        }
                        None => return Err(RuleError::NoSuchPassword),
                    }
                }
                b'(' if op.last() == Some(&b')') => {
                    let inner = &op[1..op.len() - 1];
                    let mut s = Selector::new(false);
                    for part in
                        crate::protocol::parse::split_args(inner).ok_or(RuleError::Syntax)?
                    {
                        s.apply(&part)?;
                    }
                    self.selectors.push(s);
                }
                _ => self.selectors[0].apply(op)?,
            },
        }
        Ok(())
    }

    /// Apply rules all or nothing, merging `(` ... `)` spread over several
    /// arguments; the error is the SETUSER one.
    pub fn apply_all(&mut self, rules: &[Vec<u8>]) -> Result<(), String> {
        let merged = merge_selectors(rules).map_err(|at| {
            format!(
                "Unmatched parenthesis in acl selector starting at '{}'.",
                String::from_utf8_lossy(&rules[at])
            )
        })?;
        let mut staged = self.clone();
        for r in &merged {
            staged.apply(r).map_err(|e| {
                format!(
                    "Error in ACL SETUSER modifier '{}': {}",
                    String::from_utf8_lossy(r),
                    e.message()
                )
            })?;
        }
        *self = staged;
        Ok(())
    }

    /// The user in rule form, without its name (ACL LIST, the ACL file).
    pub fn describe(&self) -> String {
        let mut res = String::new();
        res.push_str(if self.enabled { "on " } else { "off " });
        if self.nopass {
            res.push_str("nopass ");
        }
        match self.sanitize {
            Some(false) => res.push_str("skip-sanitize-payload "),
            Some(true) => res.push_str("sanitize-payload "),
            None => {}
        }
        for p in &self.passwords {
            res.push('#');
            res.push_str(p);
            res.push(' ');
        }
        for s in &self.selectors {
            if s.root {
                res.push_str(&s.describe());
            } else {
                res.push_str(&format!(" ({})", s.describe()));
            }
        }
        res
    }

    pub fn flag_names(&self) -> Vec<&'static str> {
        let mut v = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            v.push("nopass");
        }
        match self.sanitize {
            Some(false) => v.push("skip-sanitize-payload"),
            Some(true) => v.push("sanitize-payload"),
            None => {}
        }
        v
    }

    fn unrestricted(&self) -> bool {
        self.selectors
            .iter()
            .any(|s| s.allcommands && s.allkeys && s.allchannels)
    }

    /// ACLCheckAllUserCommandPerm: some selector allows it, else the most
    /// relevant refusal (channel over key over command, then the last position).
    pub fn check(&self, cmd: &Command, argv: &[Bytes]) -> Result<(), Denied> {
        let mut keys = None;
        let mut worst: Option<Denied> = None;
        for s in &self.selectors {
            match s.check_cmd(cmd, argv, &mut keys) {
                Ok(()) => return Ok(()),
                Err(d) => {
                    let better = match worst {
                        None => true,
                        Some(w) => {
                            d.rank() > w.rank() || (d.rank() == w.rank() && d.pos() > w.pos())
                        }
                    };
                    if better {
                        worst = Some(d);
                    }
                }
            }
        }
        Err(worst.unwrap_or(Denied::Command))
    }

    /// Some selector allows the command and reaches every key with `need`
    /// (SORT's BY and GET patterns).
    pub fn check_unrestricted_keys(&self, cmd: &Command, argv: &[Bytes], need: u8) -> bool {
        let mut keys = None;
        self.selectors
            .iter()
            .any(|s| s.check_cmd(cmd, argv, &mut keys).is_ok() && s.unrestricted_keys(need))
    }

    /// Whether `channel` is allowed by some selector.
    pub fn channel_ok(&self, channel: &[u8], is_pattern: bool) -> bool {
        self.selectors
            .iter()
            .any(|s| s.allchannels || channel_allowed(&s.channels, channel, is_pattern))
    }

    fn password_ok(&self, pass: &[u8]) -> bool {
        if self.nopass {
            return true;
        }
        let h = sha256_hex(pass);
        self.passwords
            .iter()
            .any(|p| constant_time_eq(p.as_bytes(), h.as_bytes()))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

fn check_hash(h: &[u8]) -> Result<String, RuleError> {
    if h.len() != 64
        || !h
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
    {
        return Err(RuleError::BadHash);
    }
    Ok(String::from_utf8_lossy(h).into_owned())
}

/// Join selector rules spread over several arguments ("(~a" "+get)");
/// Err(index) of an opening parenthesis that never closes.
pub fn merge_selectors(rules: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, usize> {
    let mut out = Vec::new();
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (j, op) in rules.iter().enumerate() {
        if let Some((start, mut acc)) = open.take() {
            acc.push(b' ');
            acc.extend_from_slice(op);
            if op.last() == Some(&b')') {
                out.push(acc);
            } else {
                open = Some((start, acc));
            }
            continue;
        }
        if op.first() == Some(&b'(') && op.last() != Some(&b')') {
            open = Some((j, op.clone()));
            continue;
        }
        out.push(op.clone());
    }
    match open {
        Some((start, _)) => Err(start),
        None => Ok(out),
    }
}

/// A user: its name and its definition, shared by its clients.
pub struct User {
    pub name: String,
    data: RwLock<UserData>,
    unrestricted: AtomicBool,
}

impl User {
    fn new(name: &str, data: UserData) -> Arc<User> {
        Arc::new(User {
            name: name.to_string(),
            unrestricted: AtomicBool::new(data.unrestricted()),
            data: RwLock::new(data),
        })
    }

    /// May run anything: no check needed (the hot path's one load).
    #[inline]
    pub fn unrestricted(&self) -> bool {
        self.unrestricted.load(Ordering::Relaxed)
    }

    pub fn data(&self) -> parking_lot::RwLockReadGuard<'_, UserData> {
        self.data.read()
    }

    pub fn set(&self, data: UserData) {
        let mut d = self.data.write();
        self.unrestricted
            .store(data.unrestricted(), Ordering::Relaxed);
        *d = data;
    }

    pub fn check(&self, cmd: &Command, argv: &[Bytes]) -> Result<(), Denied> {
        if self.unrestricted() {
            return Ok(());
        }
        self.data.read().check(cmd, argv)
    }
}

/// One ACL LOG entry.
pub struct LogEntry {
    pub count: u64,
    pub reason: &'static str,
    pub context: &'static str,
    pub object: Vec<u8>,
    pub username: String,
    pub ctime_ms: u64,
    pub cinfo: String,
}

/// Where a refused command ran.
#[derive(Clone, Copy, PartialEq)]
pub enum Context {
    Toplevel,
    Multi,
    Lua,
}

impl Context {
    fn name(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
            Context::Lua => "lua",
        }
    }
}

/// The users and the ACL log.
pub struct Acl {
    users: RwLock<BTreeMap<String, Arc<User>>>,
    default: Arc<User>,
    pub log: Mutex<VecDeque<LogEntry>>,
}

impl Default for Acl {
    fn default() -> Self {
        let default = User::new("default", UserData::default_user());
        let mut users = BTreeMap::new();
        users.insert("default".to_string(), default.clone());
        Acl {
            users: RwLock::new(users),
            default,
            log: Mutex::new(VecDeque::new()),
        }
    }
}

impl Acl {
    pub fn default_user(&self) -> &Arc<User> {
        &self.default
    }

    /// New connections must AUTH: the default user has a password or is off.
    pub fn auth_required(&self) -> bool {
        let d = self.default.data();
        !d.nopass || !d.enabled
    }

    pub fn get(&self, name: &[u8]) -> Option<Arc<User>> {
        let name = std::str::from_utf8(name).ok()?;
        self.users.read().get(name).cloned()
    }

    pub fn users(&self) -> Vec<Arc<User>> {
        self.users.read().values().cloned().collect()
    }

    /// AUTH: the user if it exists, is on and the password matches.
    pub fn authenticate(&self, name: &[u8], pass: &[u8]) -> Option<Arc<User>> {
        let u = self.get(name)?;
        let ok = {
            let d = u.data();
            d.enabled && d.password_ok(pass)
        };
        ok.then_some(u)
    }

    /// ACL SETUSER: create or change a user, all rules or none. Returns
    /// the user and its definition before the change (None: created).
    pub fn set_user(
        &self,
        name: &[u8],
        rules: &[Vec<u8>],
    ) -> Result<(Arc<User>, Option<UserData>), String> {
        let name_s = String::from_utf8_lossy(name).into_owned();
        let mut users = self.users.write();
        let existing = users.get(&name_s).cloned();
        let mut data = existing
            .as_ref()
            .map_or_else(UserData::new, |u| u.data().clone());
        data.apply_all(rules)?;
        match existing {
            Some(u) => {
                let before = u.data().clone();
                u.set(data);
                Ok((u, Some(before)))
            }
            None => {
                let u = User::new(&name_s, data);
                users.insert(name_s, u.clone());
                Ok((u, None))
            }
        }
    }

    pub fn remove(&self, name: &[u8]) -> Option<Arc<User>> {
        let name = std::str::from_utf8(name).ok()?;
        if name == "default" {
            return None;
        }
        self.users.write().remove(name)
    }

    /// requirepass: the default user's password (none: nopass).
    pub fn set_requirepass(&self, pass: &[u8]) {
        let mut d = self.default.data().clone();
        let _ = d.apply(b"resetpass");
        if pass.is_empty() {
            let _ = d.apply(b"nopass");
        } else {
            let mut op = b">".to_vec();
            op.extend_from_slice(pass);
            let _ = d.apply(&op);
        }
        self.default.set(d);
    }

    /// Replace every user but keep the default one's identity (ACL LOAD,
    /// startup); returns the users replaced (their clients must go).
    pub fn replace_all(&self, mut new: BTreeMap<String, UserData>) -> Vec<Arc<User>> {
        let default = new.remove("default").unwrap_or_else(UserData::default_user);
        self.default.set(default);
        let mut users = self.users.write();
        let old = std::mem::take(&mut *users);
        users.insert("default".into(), self.default.clone());
        for (name, data) in new {
            let u = User::new(&name, data);
            users.insert(name, u);
        }
        old.into_values()
            .filter(|u| !Arc::ptr_eq(u, &self.default))
            .collect()
    }

    /// Every user as `user <name> <rules>` lines (ACL LIST, ACL SAVE).
    pub fn list(&self) -> Vec<String> {
        self.users
            .read()
            .values()
            .map(|u| format!("user {} {}", u.name, u.data().describe()))
            .collect()
    }

    /// addACLLogEntry: record a refusal, merging it with a similar recent one.
    pub fn log_event(
        &self,
        reason: &'static str,
        context: Context,
        object: Vec<u8>,
        username: String,
        cinfo: String,
        max_len: usize,
    ) {
        let now = crate::util::now_ms();
        let mut log = self.log.lock();
        let found = log.iter().take(10).position(|e| {
            e.reason == reason
                && e.context == context.name()
                && now.abs_diff(e.ctime_ms) <= 60_000
                && e.object == object
                && e.username == username
        });
        if let Some(i) = found {
            let mut e = log.remove(i).expect("found entry");
            e.count += 1;
            e.ctime_ms = now;
            e.cinfo = cinfo;
            log.push_front(e);
            return;
        }
        log.push_front(LogEntry {
            count: 1,
            reason,
            context: context.name(),
            object,
            username,
            ctime_ms: now,
            cinfo,
        });
        while log.len() > max_len {
            log.pop_back();
        }
    }

    /// Log a refused command of `user` run by the client `info`.
    #[allow(clippy::too_many_arguments)]
    pub fn log_denied(
        &self,
        denied: Denied,
        context: Context,
        cmd: &Command,
        argv: &[Bytes],
        user: &User,
        info: &crate::client::ClientInfo,
        max_len: usize,
    ) {
        let object = match denied {
            Denied::Command => cmd.name.as_bytes().to_vec(),
            Denied::Key(p) | Denied::Channel(p) => argv[p].to_vec(),
        };
        self.log_event(
            denied.log_reason(),
            context,
            object,
            user.name.clone(),
            info.render(crate::util::now_ms()),
            max_len,
        );
    }
}

/// Parse ACL-file text into user definitions (ACLLoadFromFile); the error
/// is Redis's one-line summary of every problem found.
pub fn parse_file(text: &str, file_name: &str) -> Result<BTreeMap<String, UserData>, String> {
    let mut users = BTreeMap::new();
    let mut errors = String::new();
    for (i, raw) in text.split('\n').enumerate() {
        let linenum = i + 1;
        let line = raw.trim_matches(|c| c == ' ' || c == '\t' || c == '\r' || c == '\n');
        if line.is_empty() {
            continue;
        }
        let argv: Vec<&str> = line.split(' ').filter(|a| !a.is_empty()).collect();
        if argv.is_empty() {
            continue;
        }
        if argv[0] != "user" || argv.len() < 2 {
            errors.push_str(&format!(
                "{file_name}:{linenum} should start with user keyword followed by the username. "
            ));
            continue;
        }
        let name = argv[1];
        if has_spaces(name.as_bytes()) {
            errors.push_str(&format!(
                "'{file_name}:{linenum}: username '{name}' contains invalid characters. "
            ));
            continue;
        }
        if users.contains_key(name) {
            errors.push_str(&format!(
                "WARNING: Duplicate user '{name}' found on line {linenum}. "
            ));
            continue;
        }
        let rules: Vec<Vec<u8>> = argv[2..].iter().map(|a| a.as_bytes().to_vec()).collect();
        let merged = match merge_selectors(&rules) {
            Ok(m) => m,
            Err(_) => {
                errors.push_str(&format!(
                    "{file_name}:{linenum}: Unmatched parenthesis in selector definition."
                ));
                Vec::new()
            }
        };
        let mut data = UserData::new();
        let mut syntax_error = false;
        for r in &merged {
            let r: Vec<u8> = String::from_utf8_lossy(r)
                .trim_matches(|c| c == '\t' || c == '\r' || c == '\n')
                .as_bytes()
                .to_vec();
            if let Err(e) = data.apply(&r) {
                if e == RuleError::Unknown {
                    errors.push_str(&format!(
                        "{file_name}:{linenum}: Error in applying operation '{}': {}. ",
                        String::from_utf8_lossy(&r),
                        e.message()
                    ));
                } else if !syntax_error {
                    errors.push_str(&format!("{file_name}:{linenum}: {}. ", e.message()));
                    syntax_error = true;
                }
            }
        }
        users.insert(name.to_string(), data);
    }
    if errors.is_empty() {
        Ok(users)
    } else {
        errors.push_str(
            "WARNING: ACL errors detected, no change to the previously active ACL rules was performed",
        );
        Err(errors)
    }
}

/// `user` directives of the configuration, checked as Redis does when it
/// reads them (ACLAppendUserForLoading); Err: the index of the bad argument.
pub fn check_config_user(argv: &[String]) -> Result<(), (usize, RuleError)> {
    let rules: Vec<Vec<u8>> = argv[1..].iter().map(|a| a.as_bytes().to_vec()).collect();
    let merged = merge_selectors(&rules).map_err(|i| (i, RuleError::Syntax))?;
    let mut data = UserData::new();
    for (j, r) in merged.iter().enumerate() {
        if let Err(e) = data.apply(r) {
            if e != RuleError::Unknown {
                return Err((j, e));
            }
        }
    }
    Ok(())
}

/// Build the users the configuration's `user` lines define (ACLLoadConfiguredUsers).
pub fn users_from_config(lines: &[Vec<String>]) -> Result<BTreeMap<String, UserData>, String> {
    let mut users = BTreeMap::new();
    for argv in lines {
        let name = &argv[0];
        if has_spaces(name.as_bytes()) {
            return Err("Spaces not allowed in ACL usernames".into());
        }
        let rules: Vec<Vec<u8>> = argv[1..].iter().map(|a| a.as_bytes().to_vec()).collect();
        let merged = merge_selectors(&rules).unwrap_or_default();
        let mut data = UserData::new();
        if name == "default" {
            let _ = data.apply(b"reset");
        }
        for r in &merged {
            if let Err(e) = data.apply(r) {
                return Err(format!(
                    "Error loading ACL rule '{}' for the user named '{}': {}",
                    String::from_utf8_lossy(r),
                    name,
                    e.message()
                ));
            }
        }
        if !data.enabled {
            crate::log::log(crate::log::Level::Notice, &format!("The user '{name}' is disabled (there is no 'on' modifier in the user description). Make sure this is not a configuration error."));
        }
        users.insert(name.clone(), data);
    }
    Ok(users)
}

/// SHA-256 of `data`, as lowercase hex (how Redis stores passwords).
pub fn sha256_hex(data: &[u8]) -> String {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 64];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([
                chunk[i * 4],
                chunk[i * 4 + 1],
                chunk[i * 4 + 2],
                chunk[i * 4 + 3],
            ]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let mut v = h;
        for i in 0..64 {
            let s1 = v[4].rotate_right(6) ^ v[4].rotate_right(11) ^ v[4].rotate_right(25);
            let ch = (v[4] & v[5]) ^ (!v[4] & v[6]);
            let t1 = v[7]
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = v[0].rotate_right(2) ^ v[0].rotate_right(13) ^ v[0].rotate_right(22);
            let maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
            let t2 = s0.wrapping_add(maj);
            v[7] = v[6];
            v[6] = v[5];
            v[5] = v[4];
            v[4] = v[3].wrapping_add(t1);
            v[3] = v[2];
            v[2] = v[1];
            v[1] = v[0];
            v[0] = t1.wrapping_add(t2);
        }
        for i in 0..8 {
            h[i] = h[i].wrapping_add(v[i]);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_known_values() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn merge_spread_selectors() {
        let r: Vec<Vec<u8>> = ["(~a", "+get)", "on"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        assert_eq!(
            merge_selectors(&r).unwrap(),
            vec![b"(~a +get)".to_vec(), b"on".to_vec()]
        );
        let bad: Vec<Vec<u8>> = ["on", "(~a"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        assert_eq!(merge_selectors(&bad), Err(1));
    }
}
