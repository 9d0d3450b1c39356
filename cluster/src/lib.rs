//! shoal-cluster: the cluster logic of Shoal, kept free of I/O.
//!
//! This crate owns everything about Redis Cluster that does not need a socket
//! or a disk: the key → slot function, slot sets, and (as the cluster issue
//! lands) the node table, epochs, failure detection and elections as a pure
//! state machine driven by `handle_*` inputs and drained through `poll_*`.

pub mod bus;
pub mod core;
pub mod msg;
pub mod nodes_conf;
pub mod slot;

pub use slot::{key_hash_slot, SLOT_COUNT};
