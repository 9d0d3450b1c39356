//! Shoal: a Redis Cluster–compatible in-memory database.
//!
//! The server crate: configuration, connections, the RESP protocol, the
//! command table and its command families, the slot-partitioned keyspace.
//! Cluster logic lives in `shoal-cluster`, on-disk formats in
//! `shoal-persistence`. See README.md for the architecture.

pub mod acl;
pub mod blocking;
pub mod client;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod connection;
pub mod cron;
pub mod error;
pub mod evict;
pub mod exec;
pub mod keyspace;
pub mod lazyfree;
pub mod log;
pub mod longdouble;
pub mod memory;
pub mod monitor;
pub mod notify;
pub mod pause;
pub mod persist;
pub mod propagate;
pub mod protocol;
pub mod pubsub;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod snapshot;
pub mod stats;
pub mod tracking;
pub mod types;
pub mod util;
pub mod watch;

/// The Redis version Shoal is compatible with, as INFO and HELLO report it.
pub const REDIS_VERSION: &str = "7.0.15";
/// Shoal's own version.
pub const SHOAL_VERSION: &str = env!("CARGO_PKG_VERSION");
