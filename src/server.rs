//! The shared server state and the accept loop.
//!
//! `Server` is what every connection task shares: configuration, the
//! keyspace, statistics, the client registry, SLOWLOG and LATENCY data.
//! `run` binds the configured addresses, accepts connections (enforcing
//! maxclients and protected mode), runs the background cron (active expiry,
//! idle timeouts) and stops on SHUTDOWN or a signal.

use crate::client::Registry;
use crate::config::{Config, Hot};
use crate::keyspace::Keyspace;
use crate::log::{self, Level};
use crate::stats::{LatencyMonitor, SlowLog, Stats};
use parking_lot::{Mutex, RwLock};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

pub struct Server {
    pub config: RwLock<Config>,
    hot: RwLock<Arc<Hot>>,
    /// Bumped on every CONFIG SET so connections refresh their `Hot` copy.
    pub config_epoch: AtomicU64,
    pub keyspace: Keyspace,
    pub stats: Stats,
    pub clients: Registry,
    /// ACL users and the ACL log.
    pub acl: crate::acl::Acl,
    pub watches: crate::watch::Watches,
    pub tracking: crate::tracking::Tracking,
    pub monitors: crate::monitor::Monitors,
    pub pubsub: crate::pubsub::PubSub,
    pub blocking: crate::blocking::Blocking,
    pub pause: crate::pause::Pause,
    /// The propagation point (AOF, replication).
    pub prop: crate::propagate::Propagator,
    /// The script cache and the running script (EVAL, FUNCTION).
    pub scripting: crate::scripting::Scripting,
    /// The point-in-time snapshot in progress (BGSAVE, AOF rewrite, full sync).
    pub snapshots: crate::snapshot::Snapshots,
    /// The propagation offset known to be on disk (AOF fsync); replies to
    /// writes wait for it under `appendfsync always`.
    pub durable: tokio::sync::watch::Sender<u64>,
    /// Replies to writes wait for `durable` (AOF on with appendfsync always).
    pub wait_durable: AtomicBool,
    pub persist: crate::persist::Persistence,
    /// Cluster mode's shared handle (set at startup when cluster-enabled).
    pub cluster: std::sync::OnceLock<Arc<crate::cluster::Cluster>>,
    pub aof: crate::persist::aof::AofState,
    /// Replication state (backlog, replicas, the link to a master).
    pub repl: crate::replication::Replication,
    /// This server, for work that outlives a command (background saves).
    me: std::sync::Weak<Server>,
    pub slowlog: Mutex<SlowLog>,
    pub latency: Mutex<LatencyMonitor>,
    pub started: Instant,
    pub started_ms: u64,
    pub run_id: String,
    pub replid: Mutex<String>,
    pub shutdown: Notify,
    pub shutting_down: AtomicBool,
    pub active_expire_enabled: AtomicBool,
    /// DEBUG PAUSE-CRON: skip the periodic work (tests).
    pub cron_paused: AtomicBool,
    pub listen_port: AtomicU64,
    pub executable: String,
    pub last_save_s: AtomicU64,
    /// Process exit code once shutdown completes.
    pub shutdown_exit_code: AtomicU64,
}

pub fn random_hex_id() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| format!("{:x}", rng.gen_range(0..16u8)))
        .collect()
}

impl Server {
    /// An owning handle to this server (for work that outlives a borrow,
    /// e.g. a script's busy hook).
    pub fn handle(&self) -> Arc<Server> {
        self.me.upgrade().expect("the server outlives its users")
    }

    pub fn new(config: Config) -> Arc<Server> {
        let hot = config.hot();
        crate::lazyfree::configure(&config);
        let now = crate::util::now_ms();
        let srv = Arc::new_cyclic(|me| Server {
            keyspace: Keyspace::new(hot.databases),
            hot: RwLock::new(Arc::new(hot)),
            config: RwLock::new(config),
            config_epoch: AtomicU64::new(0),
            stats: Stats::default(),
            clients: Registry::default(),
            acl: Default::default(),
            watches: Default::default(),
            tracking: Default::default(),
            monitors: Default::default(),
            pubsub: Default::default(),
            blocking: Default::default(),
            pause: Default::default(),
            prop: Default::default(),
            scripting: Default::default(),
            snapshots: Default::default(),
            durable: tokio::sync::watch::Sender::new(0),
            wait_durable: AtomicBool::new(false),
            persist: Default::default(),
            cluster: std::sync::OnceLock::new(),
            aof: Default::default(),
            repl: Default::default(),
            me: me.clone(),
            slowlog: Mutex::new(SlowLog::default()),
            latency: Mutex::new(LatencyMonitor::default()),
            started: Instant::now(),
            started_ms: now,
            run_id: random_hex_id(),
            replid: Mutex::new(random_hex_id()),
            shutdown: Notify::new(),
            shutting_down: AtomicBool::new(false),
            active_expire_enabled: AtomicBool::new(true),
            cron_paused: AtomicBool::new(false),
            listen_port: AtomicU64::new(0),
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            last_save_s: AtomicU64::new(now / 1000),
            shutdown_exit_code: AtomicU64::new(0),
        });
        srv.apply_limits();
        {
            let cfg = srv.config.read();
            crate::acl::set_pubsub_default(cfg.get("acl-pubsub-default"));
            srv.acl.set_requirepass(cfg.get("requirepass").as_bytes());
        }
        srv
    }

    /// ACLLoadUsersAtStartup: the `user` directives, then the ACL file.
    pub fn load_acl_users(&self) -> Result<(), String> {
        let (lines, aclfile) = {
            let cfg = self.config.read();
            (cfg.users.clone(), cfg.get("aclfile").to_string())
        };
        if !aclfile.is_empty() && !lines.is_empty() {
            return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".into());
        }
        if !lines.is_empty() {
            let mut users = crate::acl::users_from_config(&lines).map_err(|e| {
                log::log(Level::Warning, &e);
                "Critical error while loading ACLs. Exiting.".to_string()
            })?;
            // A default user not redefined keeps its requirepass password.
            if !users.contains_key("default") {
                users.insert("default".into(), self.acl.default_user().data().clone());
            }
            self.acl.replace_all(users);
        }
        if !aclfile.is_empty() {
            let users = crate::commands::acl::read_aclfile(&aclfile)
                .map_err(|e| format!("Aborting Redis startup because of ACL errors: {e}"))?;
            self.acl.replace_all(users);
        }
        Ok(())
    }

    /// Apply directives whose values live outside the Hot snapshot.
    pub fn apply_limits(&self) {
        crate::notify::set_flags(self.hot.read().notify_keyspace_events);
        let cfg = self.config.read();
        crate::evict::configure(
            cfg.get("maxmemory-policy"),
            cfg.get_i64("lfu-log-factor"),
            cfg.get_i64("lfu-decay-time"),
        );
        *self.pubsub.limits.lock() =
            crate::config::OutputLimit::of_class(cfg.get("client-output-buffer-limit"), "pubsub");
    }

    /// A counted reference to this server (None while it is being dropped).
    pub fn arc(&self) -> Option<Arc<Server>> {
        self.me.upgrade()
    }

    /// Record a latency event of `ms` if the latency monitor is on and it
    /// reaches latency-monitor-threshold (latencyAddSampleIfNeeded).
    pub fn latency_sample(&self, event: &str, ms: u64) {
        let threshold = self.hot().latency_monitor_threshold_ms;
        if threshold > 0 && ms >= threshold as u64 {
            self.latency.lock().add(event, ms);
        }
    }

    pub fn hot(&self) -> Arc<Hot> {
        self.hot.read().clone()
    }

    /// Re-derive the hot values after the configuration changed.
    pub fn config_changed(&self) {
        let hot = self.config.read().hot();
        crate::lazyfree::configure(&self.config.read());
        *self.hot.write() = Arc::new(hot);
        self.apply_limits();
        self.config_epoch.fetch_add(1, Ordering::Release);
        if let Some(cluster) = self.cluster.get() {
            cluster.config_changed(self);
        }
    }

    pub fn uptime_s(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    pub fn request_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.shutdown.notify_waiters();
    }
}

/// Bind every address in `bind` on `port`. Redis's `-` prefix marks an
/// address whose failure to bind is not fatal (e.g. `-::*` without IPv6).
pub async fn bind_listeners(bind: &str, port: u16) -> std::io::Result<Vec<TcpListener>> {
    let mut listeners = Vec::new();
    for spec in bind.split_whitespace() {
        let (optional, addr) = match spec.strip_prefix('-') {
            Some(a) => (true, a),
            None => (false, spec),
        };
        let host = match addr {
            "*" => "0.0.0.0",
            "::*" => "::",
            a => a,
        };
        let sock: SocketAddr = match format!("{host}:{port}")
            .parse()
            .or_else(|_| format!("[{host}]:{port}").parse())
        {
            Ok(s) => s,
            Err(_) => {
                if optional {
                    continue;
                }
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("Invalid bind address '{addr}'"),
                ));
            }
        };
        match bind_one(sock) {
            Ok(l) => listeners.push(l),
            Err(e) if optional => {
                log::log(
                    Level::Verbose,
                    &format!("Skipping optional bind address {addr}: {e}"),
                );
            }
            Err(e) => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("Could not create server TCP listening socket {addr}:{port}: {e}"),
                ))
            }
        }
    }
    Ok(listeners)
}

fn bind_one(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv6() {
        tokio::net::TcpSocket::new_v6()?
    } else {
        tokio::net::TcpSocket::new_v4()?
    };
    socket.set_reuseaddr(true)?;
    if addr.is_ipv6() {
        // Bind IPv6 only, so "* -::*" can hold both families on one port.
        let fd = std::os::fd::AsRawFd::as_raw_fd(&socket);
        let one: libc::c_int = 1;
        // SAFETY: fd is a valid socket owned by `socket`; the option value is a c_int.
        unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_IPV6,
                libc::IPV6_V6ONLY,
                &one as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    socket.bind(addr)?;
    socket.listen(511)
}

/// Connection-serving threads, one single-threaded runtime each: accepted
/// connections are handed out round-robin and stay on their thread, so a
/// request never pays for cross-thread scheduling. Threads share the
/// keyspace through its slot locks.
pub struct Workers {
    senders: Vec<tokio::sync::mpsc::UnboundedSender<(std::net::TcpStream, SocketAddr)>>,
    next: std::sync::atomic::AtomicUsize,
}

impl Workers {
    /// Start `extra` worker threads (the accepting thread serves too).
    pub fn start(srv: &Arc<Server>, extra: usize) -> std::io::Result<Workers> {
        let mut senders = Vec::new();
        for i in 0..extra {
            let (tx, mut rx) =
                tokio::sync::mpsc::unbounded_channel::<(std::net::TcpStream, SocketAddr)>();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let srv = srv.clone();
            std::thread::Builder::new()
                .name(format!("shoal-worker-{}", i + 1))
                .spawn(move || {
                    crate::stats::set_thread_shard(i + 1);
                    rt.block_on(async move {
                        while let Some((std_stream, addr)) = rx.recv().await {
                            match TcpStream::from_std(std_stream) {
                                Ok(stream) => {
                                    tokio::spawn(crate::connection::handle(
                                        srv.clone(),
                                        stream,
                                        addr,
                                    ));
                                }
                                Err(e) => log::log(
                                    Level::Warning,
                                    &format!("Error registering a client connection: {e}"),
                                ),
                            }
                        }
                    })
                })?;
            senders.push(tx);
        }
        Ok(Workers {
            senders,
            next: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// Serve a connection here or hand it to a worker thread.
    fn dispatch(&self, srv: &Arc<Server>, stream: TcpStream, addr: SocketAddr) {
        let n = self.next.fetch_add(1, Ordering::Relaxed) % (self.senders.len() + 1);
        if n == 0 {
            tokio::spawn(crate::connection::handle(srv.clone(), stream, addr));
            return;
        }
        match stream.into_std() {
            Ok(s) => {
                if self.senders[n - 1].send((s, addr)).is_err() {
                    log::log(
                        Level::Warning,
                        "A worker thread is gone; dropping a client connection",
                    );
                }
            }
            Err(e) => log::log(
                Level::Warning,
                &format!("Error handing off a client connection: {e}"),
            ),
        }
    }
}

/// Serve until shutdown. Listeners are passed in so tests can bind port 0;
/// without `workers`, every connection is served on the calling runtime.
pub async fn serve(srv: Arc<Server>, listeners: Vec<TcpListener>, workers: Option<Arc<Workers>>) {
    if let Some(l) = listeners.first() {
        if let Ok(a) = l.local_addr() {
            srv.listen_port.store(a.port() as u64, Ordering::Relaxed);
        }
    }
    let cron = tokio::spawn(crate::cron::run(srv.clone()));
    crate::replication::init(&srv);
    let mut accepts = Vec::new();
    for listener in listeners {
        let srv = srv.clone();
        let workers = workers.clone();
        accepts.push(tokio::spawn(async move {
            loop {
                let (stream, addr) = match listener.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        // EMFILE and friends: back off briefly rather than spin.
                        log::log(
                            Level::Warning,
                            &format!("Error accepting a client connection: {e}"),
                        );
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    }
                };
                match &workers {
                    Some(w) => w.dispatch(&srv, stream, addr),
                    None => {
                        tokio::spawn(crate::connection::handle(srv.clone(), stream, addr));
                    }
                }
            }
        }));
    }
    loop {
        let notified = srv.shutdown.notified();
        if srv.shutting_down.load(Ordering::SeqCst) {
            break;
        }
        notified.await;
    }
    for a in accepts {
        a.abort();
    }
    cron.abort();
}
