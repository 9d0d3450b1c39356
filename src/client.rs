//! Per-connection client state and the registry CLIENT LIST / KILL read.
//!
//! `Client` is owned by its connection task. The few fields other
//! connections need to see (name, db, last command, idle time, kill
//! request) are mirrored in `ClientInfo`, shared through the registry.

use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    Skip,
    /// The command that set SKIP is running; the next one is skipped.
    SkipNext,
}

pub struct Client {
    pub id: u64,
    pub db: usize,
    pub resp3: bool,
    pub authenticated: bool,
    /// The ACL user (None: an internal client, which may run anything).
    pub user: Option<Arc<crate::acl::User>>,
    pub reply_mode: ReplyMode,
    pub multi: Option<MultiState>,
    pub info: Arc<ClientInfo>,
    /// Set by QUIT / a protocol error: close after flushing replies.
    pub close_after_reply: bool,
    pub no_evict: bool,
    pub watch: crate::watch::ClientWatch,
    /// Messages pushed to this client outside request/reply (MONITOR,
    /// Pub/Sub), and the sending side registries hold.
    pub pushes: Option<tokio::sync::mpsc::UnboundedReceiver<Bytes>>,
    pub push_tx: Option<tokio::sync::mpsc::UnboundedSender<Bytes>>,
    pub subs: Subscriptions,
    /// Running inside EXEC: blocking commands must not block.
    pub in_exec: bool,
    /// A stand-in client serving a blocked client's command.
    pub serving_blocked: bool,
    /// The client a script's redis.call commands run as (MONITOR shows "lua").
    pub script: bool,
    /// EVAL / FCALL handed to the script thread: its reply comes here.
    pub script_wait: Option<tokio::sync::oneshot::Receiver<crate::scripting::worker::Done>>,
    /// Set when the last command blocked.
    pub blocked: Option<Blocked>,
    /// A command held back by CLIENT PAUSE, to run when the pause ends.
    pub postponed: Option<Vec<Bytes>>,
    /// REPLCONF settings, and work the connection takes over (a replica's
    /// feed after PSYNC, WAIT).
    pub repl: crate::replication::ClientRepl,
    /// ASKING / READONLY state in cluster mode.
    pub cluster: crate::cluster::ClientFlags,
    /// CLIENT TRACKING state only this connection uses.
    pub tracking: crate::tracking::ClientTracking,
}

/// What a blocked client waits for.
pub struct Blocked {
    pub waiter: Arc<crate::blocking::Waiter>,
    pub deadline: Option<std::time::Instant>,
    /// Whether the timeout reply is a null array (else a null bulk).
    pub null_array: bool,
}

/// This client's Pub/Sub subscriptions.
#[derive(Default)]
pub struct Subscriptions {
    pub channels: Vec<Bytes>,
    pub patterns: Vec<Bytes>,
    pub shard: Vec<Bytes>,
}

impl Subscriptions {
    /// Channels plus patterns (the count SUBSCRIBE replies carry).
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    pub fn any(&self) -> bool {
        self.count() + self.shard.len() > 0
    }
}

#[derive(Default)]
pub struct MultiState {
    pub queued: Vec<Vec<Bytes>>,
    /// A command failed to queue: EXEC must abort.
    pub aborted: bool,
}

/// What other connections can see of a client.
pub struct ClientInfo {
    pub id: u64,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    pub created_ms: u64,
    pub last_interaction_ms: AtomicU64,
    pub name: Mutex<Option<Bytes>>,
    pub db: AtomicUsize,
    /// The last command run, for CLIENT LIST's `cmd=` (null: none yet).
    pub last_cmd: std::sync::atomic::AtomicPtr<crate::commands::Command>,
    pub resp: AtomicUsize,
    pub multi_len: AtomicUsize,
    pub query_buf: AtomicUsize,
    pub output_buf: AtomicUsize,
    pub killed: AtomicBool,
    /// When the output buffer first passed the soft limit (0: it is below).
    pub obuf_soft_since_ms: AtomicU64,
    pub kill_notify: Notify,
    /// Waiting in a blocking command (CLIENT LIST flag `b`).
    pub blocked: AtomicBool,
    /// What the connection is (`KIND_*`): CLIENT LIST flags and TYPE filters.
    pub kind: std::sync::atomic::AtomicU8,
    /// Subscribed to any channel or pattern (TYPE pubsub, flag P).
    pub subscribed: AtomicBool,
    /// CLIENT TRACKING flags (`crate::tracking::ON`…) and REDIRECT id.
    pub tracking: std::sync::atomic::AtomicU8,
    pub redir: AtomicU64,
    /// The sending side of this connection's push channel, once it has one
    /// (tracking invalidations from other connections go there).
    pub push_tx: Mutex<Option<tokio::sync::mpsc::UnboundedSender<Bytes>>>,
    /// The connection is closing (QUIT answered, peer gone): it no longer
    /// counts as a live redirection target.
    pub closing: AtomicBool,
    /// The ACL user, for CLIENT LIST / KILL USER and ACL DELUSER.
    pub user: Mutex<Option<Arc<crate::acl::User>>>,
}

/// A connection from an ordinary client.
pub const KIND_NORMAL: u8 = 0;
/// A replica attached to this master (flag S).
pub const KIND_REPLICA: u8 = 1;
/// This replica's link to its master (flag M).
pub const KIND_MASTER: u8 = 2;

impl ClientInfo {
    /// A new client's shared info.
    pub fn new(id: u64, addr: SocketAddr, laddr: SocketAddr) -> ClientInfo {
        let now = crate::util::now_ms();
        ClientInfo {
            id,
            addr,
            laddr,
            created_ms: now,
            last_interaction_ms: AtomicU64::new(now),
            name: Default::default(),
            db: AtomicUsize::new(0),
            last_cmd: Default::default(),
            resp: AtomicUsize::new(2),
            multi_len: AtomicUsize::new(0),
            query_buf: AtomicUsize::new(0),
            output_buf: AtomicUsize::new(0),
            killed: AtomicBool::new(false),
            obuf_soft_since_ms: AtomicU64::new(0),
            kill_notify: Default::default(),
            blocked: AtomicBool::new(false),
            kind: std::sync::atomic::AtomicU8::new(KIND_NORMAL),
            subscribed: AtomicBool::new(false),
            tracking: std::sync::atomic::AtomicU8::new(0),
            redir: AtomicU64::new(0),
            push_tx: Mutex::new(None),
            closing: AtomicBool::new(false),
            user: Mutex::new(None),
        }
    }

    /// The name of the client's ACL user (Redis's "(superuser)" for none).
    pub fn user_name(&self) -> String {
        self.user
            .lock()
            .as_ref()
            .map_or_else(|| "(superuser)".to_string(), |u| u.name.clone())
    }

    /// The client type CLIENT LIST / KILL filter by.
    pub fn type_name(&self) -> &'static str {
        match self.kind.load(Ordering::Relaxed) {
            KIND_REPLICA => "replica",
            KIND_MASTER => "master",
            _ if self.subscribed.load(Ordering::Relaxed) => "pubsub",
            _ => "normal",
        }
    }

    /// A client with no connection: the AOF loader, a master's stream.
    pub fn internal(id: u64) -> ClientInfo {
        let addr = SocketAddr::from(([0, 0, 0, 0], 0));
        ClientInfo::new(id, addr, addr)
    }

    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        self.kill_notify.notify_one();
    }

    /// client-output-buffer-limit reached: log as Redis does, then close.
    pub fn close_for_output_limit(&self) {
        crate::warning!(
            "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
            self.render(crate::util::now_ms())
        );
        self.kill();
    }

    /// One line of CLIENT LIST / CLIENT INFO, with Redis 7.0's fields.
    pub fn render(&self, now_ms: u64) -> String {
        let name = self
            .name
            .lock()
            .as_ref()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        let age = now_ms.saturating_sub(self.created_ms) / 1000;
        let idle = now_ms.saturating_sub(self.last_interaction_ms.load(Ordering::Relaxed)) / 1000;
        let multi = self.multi_len.load(Ordering::Relaxed);
        // Redis's flag letters, in its order; N when none applies.
        let mut flags = String::new();
        let kind = self.kind.load(Ordering::Relaxed);
        if kind == KIND_REPLICA {
            flags.push('S');
        }
        if kind == KIND_MASTER {
            flags.push('M');
        }
        if self.subscribed.load(Ordering::Relaxed) {
            flags.push('P');
        }
        if multi > 0 {
            flags.push('x');
        }
        if self.blocked.load(Ordering::Relaxed) {
            flags.push('b');
        }
        let tracking = self.tracking.load(Ordering::Relaxed);
        if tracking & crate::tracking::ON != 0 {
            flags.push('t');
        }
        if tracking & crate::tracking::BROKEN_REDIR != 0 {
            flags.push('R');
        }
        if tracking & crate::tracking::BCAST != 0 {
            flags.push('B');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let redir = if tracking & crate::tracking::ON != 0 {
            self.redir.load(Ordering::Relaxed) as i64
        } else {
            -1
        };
        let multi = if multi > 0 { (multi - 1) as i64 } else { -1 };
        let user = self.user_name();
        format!(
            "id={} addr={} laddr={} fd=8 name={} age={} idle={} flags={} db={} sub=0 psub=0 ssub=0 multi={} qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem={} tot-mem=1024 events=r cmd={} user={} redir={} resp={}",
            self.id,
            self.addr,
            self.laddr,
            name,
            age,
            idle,
            flags,
            self.db.load(Ordering::Relaxed),
            multi,
            self.query_buf.load(Ordering::Relaxed),
            self.output_buf.load(Ordering::Relaxed),
            last_cmd_name(&self.last_cmd),
            user,
            redir,
            self.resp.load(Ordering::Relaxed),
        )
    }
}

fn last_cmd_name(p: &std::sync::atomic::AtomicPtr<crate::commands::Command>) -> &'static str {
    let ptr = p.load(Ordering::Relaxed);
    if ptr.is_null() {
        "NULL"
    } else {
        // SAFETY: only pointers to entries of the static command table are stored.
        unsafe { (*ptr).name.as_str() }
    }
}

/// All connected clients, by id (ordered, as CLIENT LIST prints them).
#[derive(Default)]
pub struct Registry {
    clients: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
    next_id: AtomicU64,
}

impl Registry {
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn add(&self, info: Arc<ClientInfo>) {
        self.clients.lock().insert(info.id, info);
    }

    pub fn remove(&self, id: u64) {
        self.clients.lock().remove(&id);
    }

    pub fn len(&self) -> usize {
        self.clients.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn snapshot(&self) -> Vec<Arc<ClientInfo>> {
        self.clients.lock().values().cloned().collect()
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientInfo>> {
        self.clients.lock().get(&id).cloned()
    }
}

impl Client {
    pub fn new(info: Arc<ClientInfo>, authenticated: bool) -> Self {
        Client {
            id: info.id,
            db: 0,
            resp3: false,
            authenticated,
            user: None,
            reply_mode: ReplyMode::On,
            multi: None,
            info,
            close_after_reply: false,
            no_evict: false,
            watch: Default::default(),
            pushes: None,
            push_tx: None,
            subs: Subscriptions::default(),
            in_exec: false,
            serving_blocked: false,
            script: false,
            script_wait: None,
            blocked: None,
            postponed: None,
            repl: Default::default(),
            cluster: Default::default(),
            tracking: Default::default(),
        }
    }

    /// The sender registries use to push to this client (created on demand).
    pub fn push_sender(&mut self) -> tokio::sync::mpsc::UnboundedSender<Bytes> {
        if let Some(tx) = &self.push_tx {
            return tx.clone();
        }
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.pushes = Some(rx);
        self.push_tx = Some(tx.clone());
        *self.info.push_tx.lock() = Some(tx.clone());
        tx
    }

    /// Authenticate as `user` (AUTH, HELLO AUTH, RESET).
    pub fn set_user(&mut self, user: Arc<crate::acl::User>) {
        *self.info.user.lock() = Some(user.clone());
        self.user = Some(user);
    }

    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.info.db.store(db, Ordering::Relaxed);
    }
}
