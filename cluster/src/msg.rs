//! Cluster bus messages as values: what Redis 7.0's `clusterMsg` carries
//! (`src/cluster.h`), decoded. The wire codec (`bus`) turns these into
//! exactly Redis's bytes and back; the state machine (`core`) only ever
//! sees these types.

/// A node's 40-character hex name, as in CLUSTER NODES.
pub type NodeName = [u8; NODE_NAME_LEN];
pub const NODE_NAME_LEN: usize = 40;
/// Bytes in a slot bitmap (16384 bits).
pub const SLOT_BITMAP_BYTES: usize = crate::SLOT_COUNT / 8;
/// Bytes of an address field in the header / gossip entry (NET_IP_STR_LEN).
pub const IP_LEN: usize = 46;

/// Node flags as Redis encodes them on the bus and in nodes.conf.
pub mod flags {
    pub const MASTER: u16 = 1;
    pub const SLAVE: u16 = 2;
    pub const PFAIL: u16 = 4;
    pub const FAIL: u16 = 8;
    pub const MYSELF: u16 = 16;
    pub const HANDSHAKE: u16 = 32;
    pub const NOADDR: u16 = 64;
    pub const MEET: u16 = 128;
    pub const MIGRATE_TO: u16 = 256;
    pub const NOFAILOVER: u16 = 512;
}

/// `mflags[0]` bits of the header.
pub mod mflags {
    /// Master paused for a manual failover.
    pub const PAUSED: u8 = 1;
    /// Give ACK even if the master is up (FORCE failover).
    pub const FORCEACK: u8 = 2;
    /// Sender is a replica of a master that has no other slots-serving replica.
    /// Not a Redis 7.0 flag: on the wire bit 2 is EXT_DATA (below), so a
    /// Redis peer reads it as "extensions follow".
    pub const ALL_SLOTS_REPLICA_MIGRATION: u8 = 4;
    /// The PING/PONG/MEET carries ping extensions (CLUSTERMSG_FLAG0_EXT_DATA).
    /// The codec sets it when the body has extensions and reads extensions
    /// only when it is set.
    pub const EXT_DATA: u8 = 4;
}

/// Message type codes (CLUSTERMSG_TYPE_*).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum MsgType {
    Ping = 0,
    Pong = 1,
    Meet = 2,
    Fail = 3,
    Publish = 4,
    FailoverAuthRequest = 5,
    FailoverAuthAck = 6,
    Update = 7,
    MfStart = 8,
    Module = 9,
    PublishShard = 10,
}

impl MsgType {
    pub fn from_u16(v: u16) -> Option<MsgType> {
        use MsgType::*;
        Some(match v {
            0 => Ping,
            1 => Pong,
            2 => Meet,
            3 => Fail,
            4 => Publish,
            5 => FailoverAuthRequest,
            6 => FailoverAuthAck,
            7 => Update,
            8 => MfStart,
            9 => Module,
            10 => PublishShard,
            _ => return None,
        })
    }
}

/// A set of slots, one bit each, in Redis's byte/bit order (slot `s` is bit
/// `s & 7` of byte `s >> 3`).
#[derive(Clone, PartialEq, Eq)]
pub struct SlotBitmap(pub Box<[u8; SLOT_BITMAP_BYTES]>);

impl Default for SlotBitmap {
    fn default() -> Self {
        SlotBitmap(Box::new([0u8; SLOT_BITMAP_BYTES]))
    }
}

impl std::fmt::Debug for SlotBitmap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SlotBitmap({} slots)", self.count())
    }
}

impl SlotBitmap {
    pub fn get(&self, slot: u16) -> bool {
        self.0[(slot >> 3) as usize] & (1 << (slot & 7)) != 0
    }
    pub fn set(&mut self, slot: u16, on: bool) {
        let b = &mut self.0[(slot >> 3) as usize];
        if on {
            *b |= 1 << (slot & 7);
        } else {
            *b &= !(1 << (slot & 7));
        }
    }
    pub fn count(&self) -> usize {
        self.0.iter().map(|b| b.count_ones() as usize).sum()
    }
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&b| b == 0)
    }
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        (0..crate::SLOT_COUNT as u16).filter(move |&s| self.get(s))
    }
}

/// The header every message starts with: the sender's view of itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub kind: MsgType,
    /// Sender's client (TCP) port, and its TLS port (0 when no TLS).
    pub port: u16,
    pub pport: u16,
    /// Sender's cluster bus port.
    pub cport: u16,
    pub current_epoch: u64,
    /// The config epoch of the sender, or of its master when it is a replica.
    pub config_epoch: u64,
    /// Replication offset of the master (or processed offset of a replica).
    pub offset: u64,
    pub sender: NodeName,
    /// Slots served by the sender (its master's when it is a replica).
    pub slots: SlotBitmap,
    /// The sender's master; `None` is encoded as 40 zero bytes.
    pub slaveof: Option<NodeName>,
    /// Sender's IP as it announces it; empty means "use the address the
    /// packet came from".
    pub myip: Vec<u8>,
    pub flags: u16,
    /// Cluster state in the sender's view: 0 ok, 1 fail.
    pub state: u8,
    pub mflags: [u8; 3],
}

/// One gossip section entry (clusterMsgDataGossip).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gossip {
    pub node: NodeName,
    /// Seconds (unix time) of the last ping sent / pong received, as Redis
    /// puts them on the wire.
    pub ping_sent_s: u32,
    pub pong_received_s: u32,
    pub ip: Vec<u8>,
    pub port: u16,
    pub cport: u16,
    pub flags: u16,
    pub pport: u16,
}

/// Ping extensions (Redis 7.0: hostname; forgotten node and shard id come in
/// 7.2 and are kept opaque when received).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PingExt {
    Hostname(Vec<u8>),
    ForgottenNode {
        name: NodeName,
        ttl_s: u64,
    },
    ShardId([u8; NODE_NAME_LEN]),
    /// A type we do not know: kept so it can be skipped, never interpreted.
    Unknown {
        kind: u16,
        data: Vec<u8>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// PING, PONG and MEET: gossip about other nodes plus extensions.
    Ping {
        gossip: Vec<Gossip>,
        exts: Vec<PingExt>,
    },
    Fail {
        node: NodeName,
    },
    /// PUBLISH and PUBLISHSHARD.
    Publish {
        channel: Vec<u8>,
        message: Vec<u8>,
    },
    /// FAILOVER_AUTH_REQUEST, FAILOVER_AUTH_ACK and MFSTART carry no data.
    Empty,
    Update {
        config_epoch: u64,
        node: NodeName,
        slots: SlotBitmap,
    },
    Module {
        module_id: u64,
        kind: u8,
        payload: Vec<u8>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    pub body: Body,
}

/// The name used for "no node" on the wire.
pub const NULL_NAME: NodeName = [0u8; NODE_NAME_LEN];
