//! shoal-server: starts Shoal with redis-server's command line —
//! `shoal-server [/path/to/redis.conf] [--directive value ...]`.

use clap::{Arg, ArgAction, Command};
use shoal::config::Config;
use shoal::log::{self, Level};
use shoal::server::{self, Server};
use std::sync::atomic::Ordering;

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let matches = Command::new("shoal-server")
        .about("Shoal, a Redis Cluster-compatible in-memory database")
        .override_usage("shoal-server [/path/to/redis.conf] [options] [-]\n       shoal-server -v or --version\n       shoal-server -h or --help")
        .disable_version_flag(true)
        .arg(Arg::new("version").short('v').long("version").action(ArgAction::SetTrue).help("Print the version and exit"))
        .arg(
            Arg::new("args")
                .num_args(0..)
                .trailing_var_arg(true)
                .allow_hyphen_values(true)
                .help("A config file, then --directive value pairs as in redis.conf"),
        )
        .get_matches();
    if matches.get_flag("version") {
        println!(
            "Redis server v={} sha=00000000:0 malloc=libc bits=64 build=shoal-{}",
            shoal::REDIS_VERSION,
            shoal::SHOAL_VERSION
        );
        return;
    }
    let args: Vec<String> = matches
        .get_many::<String>("args")
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    let config = match Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    log::set_level(config.get("loglevel"));
    if let Err(e) = log::set_file(config.get("logfile")) {
        eprintln!("Can't open the log file: {e}");
        std::process::exit(1);
    }
    let port: u16 = config.get_i64("port") as u16;
    let bind = config.get("bind").to_string();
    // Threads that serve connections (the main one included): io-threads.
    let threads = config.get_i64("io-threads").max(1) as usize;
    // Statistics counters get a shard per serving thread (made after this).
    shoal::stats::set_shard_count(threads);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Failed to start the runtime: {e}");
            std::process::exit(1);
        }
    };
    log::log(
        Level::Notice,
        "oO0OoO0OoO0Oo Shoal is starting oO0OoO0OoO0Oo",
    );
    log::log(
        Level::Notice,
        &format!(
            "Shoal version={} (Redis {} compatible), bits=64, pid={}, just started",
            shoal::SHOAL_VERSION,
            shoal::REDIS_VERSION,
            std::process::id()
        ),
    );
    if args.is_empty() {
        log::log(Level::Warning, "Warning: no config file specified, using the default config. In order to specify a config file use shoal-server /path/to/redis.conf");
    } else {
        log::log(Level::Notice, "Configuration loaded");
    }
    let code = runtime.block_on(async move {
        let listeners = match server::bind_listeners(&bind, port).await {
            Ok(l) if !l.is_empty() => l,
            Ok(_) => {
                log::log(Level::Warning, "Failed listening on port (tcp), aborting.");
                return 1;
            }
            Err(e) => {
                log::log(Level::Warning, &format!("{e}"));
                log::log(
                    Level::Warning,
                    &format!("Failed listening on port {port} (tcp), aborting."),
                );
                return 1;
            }
        };
        let srv = Server::new(config);
        if let Err(e) = srv.load_acl_users() {
            log::log(Level::Warning, &e);
            return 1;
        }
        shoal::memory::mark_startup();
        let cluster_mode = srv.hot().cluster_enabled;
        // Loading, and the runtime replica links run on, are set before the
        // cluster starts: a node whose nodes.conf says replica must not
        // start syncing under the loader, nor from a thread with no runtime
        // to spawn the link on (the link was silently never started).
        srv.persist.loading.store(true, Ordering::Release);
        let _ = srv.repl.runtime.set(tokio::runtime::Handle::current());
        if cluster_mode {
            if let Err(e) = shoal::cluster::start(&srv, &bind, port).await {
                log::log(Level::Warning, &e);
                return 1;
            }
        }
        // Load the data on a thread while serving (clients get LOADING).
        let loader = srv.clone();
        std::thread::spawn(move || {
            if let Err(e) = shoal::persist::load_at_startup(&loader) {
                log::log(Level::Warning, &e);
                std::process::exit(1);
            }
            if let Err(e) = shoal::cluster::verify_config_with_data(&loader) {
                log::log(Level::Warning, &e);
                std::process::exit(1);
            }
        });
        let workers = match server::Workers::start(&srv, threads.saturating_sub(1)) {
            Ok(w) => std::sync::Arc::new(w),
            Err(e) => {
                log::log(
                    Level::Warning,
                    &format!("Failed to start worker threads: {e}"),
                );
                return 1;
            }
        };
        log::log(
            Level::Notice,
            &format!(
                "Running mode={}, port={port}.",
                if cluster_mode {
                    "cluster"
                } else {
                    "standalone"
                }
            ),
        );
        // Redis's logo carries "Port:" and "PID:" lines that tools (its own
        // test suite) wait for; with always-show-logo, say the same plainly.
        if srv.config.read().get_bool("always-show-logo") {
            log::log(
                Level::Notice,
                &format!(
                    "Shoal {} (Redis {} compatible) Port: {port} PID: {}",
                    shoal::SHOAL_VERSION,
                    shoal::REDIS_VERSION,
                    std::process::id()
                ),
            );
        }
        log::log(Level::Notice, "Server initialized");
        log::log(Level::Notice, "Ready to accept connections tcp");
        let signals = tokio::spawn(watch_signals(srv.clone()));
        server::serve(srv.clone(), listeners, Some(workers)).await;
        signals.abort();
        log::log(Level::Warning, "Shoal is now ready to exit, bye bye...");
        srv.shutdown_exit_code.load(Ordering::SeqCst) as i32
    });
    // Connection tasks may still be parked; exit without waiting on them.
    runtime.shutdown_background();
    std::process::exit(code);
}

/// SIGTERM / SIGINT shut the server down as Redis does.
async fn watch_signals(srv: std::sync::Arc<Server>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return;
    };
    let which = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    log::log(
        Level::Warning,
        &format!("Received {which} scheduling shutdown..."),
    );
    log::log(Level::Warning, "User requested shutdown...");
    {
        let _gate = srv.keyspace.gate.write();
        if shoal::persist::prepare_shutdown(&srv, None).is_err() {
            log::log(Level::Warning, "SIGTERM received but errors trying to shut down the server, check the logs for more information");
            return;
        }
    }
    srv.request_shutdown();
}
