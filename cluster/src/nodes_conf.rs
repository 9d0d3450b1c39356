//! nodes.conf and CLUSTER NODES: the one line format Redis uses for both
//! (`clusterGenNodeDescription`), as neutral values. The state machine
//! converts its node table to and from `NodesConf`; this module formats and
//! parses the text exactly as Redis 7.0 does.

use crate::msg::NodeName;

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
