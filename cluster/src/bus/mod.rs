//! The cluster bus wire codec: `msg::Message` to and from exactly the bytes
//! Redis 7.0 exchanges on the cluster bus (`clusterMsg`, `src/cluster.h`),
//! with the checks of `clusterProcessPacket` on the way in, and the framing
//! rule (`clusterReadHandler`) the link layer needs to cut frames from a
//! stream. Pure functions over byte slices; no I/O, no panics on input, no
//! allocation larger than the input.
//!
//! Layout: a 2256-byte header (offsets below), then the type's data. All
//! integers are big-endian (htons/htonl/htonu64) except a MODULE message's
//! module id, which Redis copies in host order ("already endian adjusted"):
//! we write it little-endian, which is what Redis sends on x86-64 and ARM64.

mod ping;

use crate::msg::{
    mflags, Body, Header, Message, MsgType, NodeName, SlotBitmap, IP_LEN, NODE_NAME_LEN, NULL_NAME,
    SLOT_BITMAP_BYTES,
};

/// "RCmb": Redis Cluster message bus.
pub const SIGNATURE: [u8; 4] = *b"RCmb";
/// CLUSTER_PROTO_VER.
pub const PROTO_VERSION: u16 = 1;
/// The header (CLUSTERMSG_MIN_LEN): every message is at least this long.
pub const HEADER_BYTES: usize = 2256;
/// One clusterMsgDataGossip entry.
pub const GOSSIP_BYTES: usize = 104;
/// FAIL data: the failing node's name.
pub const FAIL_BYTES: usize = NODE_NAME_LEN;
/// UPDATE data: configEpoch, node name, slot bitmap.
pub const UPDATE_BYTES: usize = 8 + NODE_NAME_LEN + SLOT_BITMAP_BYTES;
/// PUBLISH data before the bulk bytes: channel_len, message_len. (The
/// struct's 8-byte `bulk_data` placeholder is not counted: Redis subtracts it.)
pub const PUBLISH_FIXED_BYTES: usize = 8;
/// MODULE data before the payload: module_id, len, type. (The struct's
/// 3-byte `bulk_data` placeholder is not counted.)
pub const MODULE_FIXED_BYTES: usize = 13;
/// A ping extension's own header: length (including itself), type, unused.
pub const EXT_HEADER_BYTES: usize = 8;
/// What the link layer must have to know a frame's length: sig + totlen.
pub const FRAME_PREFIX_BYTES: usize = 8;
/// Default bound on one frame. The largest legitimate message is a PUBLISH
/// (channel + message copied whole); a client's whole command is bounded by
/// Redis's client-query-buffer-limit (1 GiB default), so channel + message
/// stay below 1 GiB. A PING's gossip is at most 65535 entries (6.8 MB).
/// Frames claiming more than this are hostile or corrupt.
pub const MAX_FRAME_BYTES: usize = (1 << 30) + HEADER_BYTES + PUBLISH_FIXED_BYTES;

/// Ping extension type codes (clusterMsgPingtypes; 0 in Redis 7.0, the rest
/// from 7.2).
pub mod ext_type {
    pub const HOSTNAME: u16 = 0;
    pub const HUMAN_NODENAME: u16 = 1;
    pub const FORGOTTEN_NODE: u16 = 2;
    pub const SHARD_ID: u16 = 3;
}

// Header field offsets (the static_asserts in cluster.h).
const OFF_TOTLEN: usize = 4;
const OFF_VER: usize = 8;
const OFF_PORT: usize = 10;
const OFF_TYPE: usize = 12;
const OFF_COUNT: usize = 14;
const OFF_CURRENT_EPOCH: usize = 16;
const OFF_CONFIG_EPOCH: usize = 24;
const OFF_OFFSET: usize = 32;
const OFF_SENDER: usize = 40;
const OFF_MYSLOTS: usize = 80;
const OFF_SLAVEOF: usize = 2128;
const OFF_MYIP: usize = 2168;
const OFF_EXTENSIONS: usize = 2214;
const OFF_PPORT: usize = 2246;
const OFF_CPORT: usize = 2248;
const OFF_FLAGS: usize = 2250;
const OFF_STATE: usize = 2252;
const OFF_MFLAGS: usize = 2253;

/// Why bytes are not a valid bus message.
///
/// Redis drops the link for a bad signature or a frame length below the
/// header (`frame_len` errors); for the other checks it ignores the packet
/// and keeps the link. `UnknownType` is a well-formed frame of a newer
/// type: Redis ignores it, so the link layer may skip it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BusError {
    /// Fewer bytes than the part being read needs.
    Truncated {
        have: usize,
        need: usize,
    },
    BadSignature([u8; 4]),
    /// totlen below the header size.
    FrameTooShort {
        totlen: u32,
    },
    /// totlen above the frame bound.
    FrameTooLarge {
        totlen: u32,
        max: usize,
    },
    /// The buffer given to `decode` is not exactly one frame of totlen bytes.
    FrameMismatch {
        totlen: u32,
        buf_len: usize,
    },
    BadVersion(u16),
    UnknownType(u16),
    /// totlen differs from what the type, gossip count and lengths imply.
    LengthMismatch {
        kind: MsgType,
        totlen: u32,
        expected: u64,
    },
    /// Ping extension `index` (0-based) is truncated, misaligned or its
    /// content does not fit its type.
    BadExtension {
        index: u16,
        ext_type: u16,
        len: u32,
        reason: &'static str,
    },
}

impl std::fmt::Display for BusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BusError::Truncated { have, need } => {
                write!(f, "bus message truncated: {have} bytes, need {need}")
            }
            BusError::BadSignature(sig) => write!(f, "bad bus message signature {sig:?}"),
            BusError::FrameTooShort { totlen } => {
                write!(
                    f,
                    "bus frame length {totlen} below the {HEADER_BYTES}-byte header"
                )
            }
            BusError::FrameTooLarge { totlen, max } => {
                write!(f, "bus frame length {totlen} above the limit {max}")
            }
            BusError::FrameMismatch { totlen, buf_len } => {
                write!(f, "bus frame says {totlen} bytes but {buf_len} were given")
            }
            BusError::BadVersion(v) => write!(f, "unsupported bus protocol version {v}"),
            BusError::UnknownType(t) => write!(f, "unknown bus message type {t}"),
            BusError::LengthMismatch {
                kind,
                totlen,
                expected,
            } => write!(
                f,
                "invalid {kind:?} packet of length {totlen} but expected length {expected}"
            ),
            BusError::BadExtension {
                index,
                ext_type,
                len,
                reason,
            } => write!(
                f,
                "ping extension #{index} (type {ext_type}, length {len}): {reason}"
            ),
        }
    }
}

impl std::error::Error for BusError {}

/// How long the next frame in `buf` is, once its 8-byte prefix is there:
/// `Ok(None)` means "read more", `Ok(Some(n))` means the frame is the first
/// `n` bytes (possibly not all received yet). Errors mean the stream is
/// garbage and the link must be dropped. Uses `MAX_FRAME_BYTES`.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, BusError> {
    frame_len_with_limit(buf, MAX_FRAME_BYTES)
}

/// `frame_len` with a caller-chosen bound on the frame size.
pub fn frame_len_with_limit(buf: &[u8], max_bytes: usize) -> Result<Option<usize>, BusError> {
    let Some(prefix) = buf.get(..FRAME_PREFIX_BYTES) else {
        return Ok(None);
    };
    let sig = [prefix[0], prefix[1], prefix[2], prefix[3]];
    if sig != SIGNATURE {
        return Err(BusError::BadSignature(sig));
    }
    let totlen = u32::from_be_bytes([prefix[4], prefix[5], prefix[6], prefix[7]]);
    let len = totlen as usize;
    if len < HEADER_BYTES {
        return Err(BusError::FrameTooShort { totlen });
    }
    if len > max_bytes {
        return Err(BusError::FrameTooLarge {
            totlen,
            max: max_bytes,
        });
    }
    Ok(Some(len))
}

/// The number of bytes `encode(msg)` produces.
pub fn encoded_len(msg: &Message) -> usize {
    HEADER_BYTES
        + match &msg.body {
            Body::Ping { gossip, exts } => ping::body_len(gossip, exts),
            Body::Fail { .. } => FAIL_BYTES,
            Body::Publish { channel, message } => {
                PUBLISH_FIXED_BYTES + channel.len() + message.len()
            }
            Body::Empty => 0,
            Body::Update { .. } => UPDATE_BYTES,
            Body::Module { payload, .. } => MODULE_FIXED_BYTES + payload.len(),
        }
}

/// The bytes Redis 7.0 would send for `msg`.
///
/// The type code written is `msg.header.kind`; the data follows the body
/// variant (a mismatch makes a packet `decode` rejects). For PING/PONG/MEET
/// the gossip count and extension count come from the body, and
/// `mflags[0]` gets EXT_DATA when there are extensions, as Redis does; the
/// other header fields are written as given. `myip` and gossip IPs keep at
/// most 45 bytes so the field stays NUL-terminated (Redis's strncpy).
/// Lengths beyond u32 (impossible below `MAX_FRAME_BYTES`) saturate and
/// yield a frame the receiver rejects.
pub fn encode(msg: &Message) -> Vec<u8> {
    let total = encoded_len(msg);
    let mut out = Vec::with_capacity(total);
    let h = &msg.header;
    let (count, ext_count) = match &msg.body {
        Body::Ping { gossip, exts } => (sat_u16(gossip.len()), sat_u16(exts.len())),
        _ => (0, 0),
    };
    let mut mf = h.mflags;
    if ext_count > 0 {
        mf[0] |= mflags::EXT_DATA;
    }

    out.extend_from_slice(&SIGNATURE);
    put_u32(&mut out, sat_u32(total));
    put_u16(&mut out, PROTO_VERSION);
    put_u16(&mut out, h.port);
    put_u16(&mut out, h.kind as u16);
    put_u16(&mut out, count);
    put_u64(&mut out, h.current_epoch);
    put_u64(&mut out, h.config_epoch);
    put_u64(&mut out, h.offset);
    out.extend_from_slice(&h.sender);
    out.extend_from_slice(&h.slots.0[..]);
    out.extend_from_slice(h.slaveof.as_ref().unwrap_or(&NULL_NAME));
    put_c_string(&mut out, &h.myip, IP_LEN);
    put_u16(&mut out, ext_count);
    out.extend_from_slice(&[0u8; 30]);
    put_u16(&mut out, h.pport);
    put_u16(&mut out, h.cport);
    put_u16(&mut out, h.flags);
    out.push(h.state);
    out.extend_from_slice(&mf);
    debug_assert_eq!(out.len(), HEADER_BYTES);

    match &msg.body {
        Body::Ping { gossip, exts } => ping::put_body(&mut out, gossip, exts),
        Body::Fail { node } => out.extend_from_slice(node),
        Body::Publish { channel, message } => {
            put_u32(&mut out, sat_u32(channel.len()));
            put_u32(&mut out, sat_u32(message.len()));
            out.extend_from_slice(channel);
            out.extend_from_slice(message);
        }
        Body::Empty => {}
        Body::Update {
            config_epoch,
            node,
            slots,
        } => {
            put_u64(&mut out, *config_epoch);
            out.extend_from_slice(node);
            out.extend_from_slice(&slots.0[..]);
        }
        Body::Module {
            module_id,
            kind,
            payload,
        } => {
            out.extend_from_slice(&module_id.to_le_bytes());
            put_u32(&mut out, sat_u32(payload.len()));
            out.push(*kind);
            out.extend_from_slice(payload);
        }
    }
    debug_assert_eq!(out.len(), total);
    out
}

/// Decode one whole frame (`buf` must be exactly totlen bytes, e.g. as cut
/// by `frame_len`), validating as Redis's `clusterProcessPacket` does:
/// signature, version, known type, and totlen equal to the length the type
/// implies (gossip count, extension lengths, publish / module lengths).
/// Extensions are read only when `mflags[0]` has EXT_DATA, as in Redis;
/// each must be 8-byte aligned, at least its own header, inside the frame,
/// and well-formed for its type.
pub fn decode(buf: &[u8]) -> Result<Message, BusError> {
    if buf.len() < FRAME_PREFIX_BYTES {
        return Err(BusError::Truncated {
            have: buf.len(),
            need: FRAME_PREFIX_BYTES,
        });
    }
    let sig = [buf[0], buf[1], buf[2], buf[3]];
    if sig != SIGNATURE {
        return Err(BusError::BadSignature(sig));
    }
    let totlen = be32(buf, OFF_TOTLEN)?;
    if totlen as usize != buf.len() {
        return Err(BusError::FrameMismatch {
            totlen,
            buf_len: buf.len(),
        });
    }
    if buf.len() < HEADER_BYTES {
        return Err(BusError::FrameTooShort { totlen });
    }
    let ver = be16(buf, OFF_VER)?;
    if ver != PROTO_VERSION {
        return Err(BusError::BadVersion(ver));
    }
    let raw_type = be16(buf, OFF_TYPE)?;
    let kind = MsgType::from_u16(raw_type).ok_or(BusError::UnknownType(raw_type))?;
    let header = decode_header(buf, kind)?;
    let data = &buf[HEADER_BYTES..];
    let mismatch = |expected: u64| BusError::LengthMismatch {
        kind,
        totlen,
        expected,
    };
    let fixed = |n: usize| {
        if data.len() == n {
            Ok(())
        } else {
            Err(mismatch((HEADER_BYTES + n) as u64))
        }
    };

    let body = match kind {
        MsgType::Ping | MsgType::Pong | MsgType::Meet => {
            let count = be16(buf, OFF_COUNT)?;
            let ext_count = if header.mflags[0] & mflags::EXT_DATA != 0 {
                be16(buf, OFF_EXTENSIONS)?
            } else {
                0
            };
            ping::decode_body(data, count, ext_count, kind, totlen)?
        }
        MsgType::Fail => {
            fixed(FAIL_BYTES)?;
            Body::Fail {
                node: name_at(data, 0)?,
            }
        }
        MsgType::Publish | MsgType::PublishShard => {
            let min = (HEADER_BYTES + PUBLISH_FIXED_BYTES) as u64;
            if data.len() < PUBLISH_FIXED_BYTES {
                return Err(mismatch(min));
            }
            let channel_len = be32(data, 0)? as u64;
            let message_len = be32(data, 4)? as u64;
            let expected = min + channel_len + message_len;
            if expected != totlen as u64 {
                return Err(mismatch(expected));
            }
            let channel_end = PUBLISH_FIXED_BYTES + channel_len as usize;
            Body::Publish {
                channel: data[PUBLISH_FIXED_BYTES..channel_end].to_vec(),
                message: data[channel_end..].to_vec(),
            }
        }
        MsgType::FailoverAuthRequest | MsgType::FailoverAuthAck | MsgType::MfStart => {
            fixed(0)?;
            Body::Empty
        }
        MsgType::Update => {
            fixed(UPDATE_BYTES)?;
            Body::Update {
                config_epoch: be64(data, 0)?,
                node: name_at(data, 8)?,
                slots: bitmap_at(data, 8 + NODE_NAME_LEN)?,
            }
        }
        MsgType::Module => {
            let min = (HEADER_BYTES + MODULE_FIXED_BYTES) as u64;
            if data.len() < MODULE_FIXED_BYTES {
                return Err(mismatch(min));
            }
            let len = be32(data, 8)? as u64;
            if min + len != totlen as u64 {
                return Err(mismatch(min + len));
            }
            let mut id = [0u8; 8];
            id.copy_from_slice(field(data, 0, 8)?);
            Body::Module {
                module_id: u64::from_le_bytes(id),
                kind: data[12],
                payload: data[MODULE_FIXED_BYTES..].to_vec(),
            }
        }
    };
    Ok(Message { header, body })
}

fn decode_header(buf: &[u8], kind: MsgType) -> Result<Header, BusError> {
    let slaveof = name_at(buf, OFF_SLAVEOF)?;
    let mf = field(buf, OFF_MFLAGS, 3)?;
    Ok(Header {
        kind,
        port: be16(buf, OFF_PORT)?,
        pport: be16(buf, OFF_PPORT)?,
        cport: be16(buf, OFF_CPORT)?,
        current_epoch: be64(buf, OFF_CURRENT_EPOCH)?,
        config_epoch: be64(buf, OFF_CONFIG_EPOCH)?,
        offset: be64(buf, OFF_OFFSET)?,
        sender: name_at(buf, OFF_SENDER)?,
        slots: bitmap_at(buf, OFF_MYSLOTS)?,
        slaveof: (slaveof != NULL_NAME).then_some(slaveof),
        myip: c_string(field(buf, OFF_MYIP, IP_LEN)?),
        flags: be16(buf, OFF_FLAGS)?,
        state: *buf.get(OFF_STATE).ok_or(truncated(buf, OFF_STATE + 1))?,
        mflags: [mf[0], mf[1], mf[2]],
    })
}

fn align8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

fn sat_u16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

fn sat_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// A NUL-padded fixed-width C string field; at most `width - 1` bytes of `s`.
fn put_c_string(out: &mut Vec<u8>, s: &[u8], width: usize) {
    let n = s.len().min(width - 1);
    out.extend_from_slice(&s[..n]);
    out.resize(out.len() + width - n, 0);
}

/// The C string in a fixed field: up to the first NUL, and never the last
/// byte (Redis forces it to NUL: "we are not sure the input is sane").
fn c_string(f: &[u8]) -> Vec<u8> {
    let f = &f[..f.len().saturating_sub(1)];
    let end = f.iter().position(|&b| b == 0).unwrap_or(f.len());
    f[..end].to_vec()
}

fn truncated(buf: &[u8], need: usize) -> BusError {
    BusError::Truncated {
        have: buf.len(),
        need,
    }
}

fn field(buf: &[u8], off: usize, n: usize) -> Result<&[u8], BusError> {
    buf.get(off..off + n).ok_or(truncated(buf, off + n))
}

fn be16(buf: &[u8], off: usize) -> Result<u16, BusError> {
    let f = field(buf, off, 2)?;
    Ok(u16::from_be_bytes([f[0], f[1]]))
}

fn be32(buf: &[u8], off: usize) -> Result<u32, BusError> {
    let f = field(buf, off, 4)?;
    Ok(u32::from_be_bytes([f[0], f[1], f[2], f[3]]))
}

fn be64(buf: &[u8], off: usize) -> Result<u64, BusError> {
    let mut b = [0u8; 8];
    b.copy_from_slice(field(buf, off, 8)?);
    Ok(u64::from_be_bytes(b))
}

fn name_at(buf: &[u8], off: usize) -> Result<NodeName, BusError> {
    let mut name = NULL_NAME;
    name.copy_from_slice(field(buf, off, NODE_NAME_LEN)?);
    Ok(name)
}

fn bitmap_at(buf: &[u8], off: usize) -> Result<SlotBitmap, BusError> {
    let mut bm = SlotBitmap::default();
    bm.0.copy_from_slice(field(buf, off, SLOT_BITMAP_BYTES)?);
    Ok(bm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::{flags, Gossip, PingExt};

    pub(super) fn name(c: u8) -> NodeName {
        [c; NODE_NAME_LEN]
    }

    pub(super) fn header(kind: MsgType) -> Header {
        let mut slots = SlotBitmap::default();
        for s in [0u16, 1, 2, 5460, 16383] {
            slots.set(s, true);
        }
        Header {
            kind,
            port: 7000,
            pport: 0,
            cport: 17000,
            current_epoch: 0x0102_0304_0506_0708,
            config_epoch: 5,
            offset: 12345,
            sender: name(b'a'),
            slots,
            slaveof: None,
            myip: b"127.0.0.1".to_vec(),
            flags: flags::MASTER,
            state: 1,
            mflags: [0, 0, 0],
        }
    }

    pub(super) fn gossip(c: u8) -> Gossip {
        Gossip {
            node: name(c),
            ping_sent_s: 1_700_000_000,
            pong_received_s: 1_700_000_001,
            ip: b"10.0.0.7".to_vec(),
            port: 7001,
            cport: 17001,
            flags: flags::SLAVE | flags::PFAIL,
            pport: 0,
        }
    }

    /// One message of every type, pings with gossip and every extension.
    pub(super) fn samples() -> Vec<Message> {
        let ping_body = || Body::Ping {
            gossip: vec![gossip(b'b'), gossip(b'c')],
            exts: vec![
                PingExt::Hostname(b"node-1.example".to_vec()),
                PingExt::ForgottenNode {
                    name: name(b'd'),
                    ttl_s: 60,
                },
                PingExt::ShardId(name(b'e')),
                PingExt::Unknown {
                    kind: 77,
                    data: vec![1, 2, 3, 4, 5, 6, 7, 8],
                },
            ],
        };
        let mut out = Vec::new();
        for kind in [MsgType::Ping, MsgType::Pong, MsgType::Meet] {
            let mut h = header(kind);
            h.mflags[0] = mflags::EXT_DATA;
            out.push(Message {
                header: h,
                body: ping_body(),
            });
        }
        let mut replica = header(MsgType::Ping);
        replica.slaveof = Some(name(b'f'));
        replica.flags = flags::SLAVE;
        replica.myip = Vec::new();
        out.push(Message {
            header: replica,
            body: Body::Ping {
                gossip: vec![],
                exts: vec![],
            },
        });
        out.push(Message {
            header: header(MsgType::Fail),
            body: Body::Fail { node: name(b'g') },
        });
        for kind in [MsgType::Publish, MsgType::PublishShard] {
            out.push(Message {
                header: header(kind),
                body: Body::Publish {
                    channel: b"news".to_vec(),
                    message: b"hello world".to_vec(),
                },
            });
        }
        for kind in [
            MsgType::FailoverAuthRequest,
            MsgType::FailoverAuthAck,
            MsgType::MfStart,
        ] {
            let mut h = header(kind);
            h.mflags = [mflags::PAUSED | mflags::FORCEACK, 0, 0];
            out.push(Message {
                header: h,
                body: Body::Empty,
            });
        }
        let mut upd = SlotBitmap::default();
        upd.set(42, true);
        out.push(Message {
            header: header(MsgType::Update),
            body: Body::Update {
                config_epoch: 9,
                node: name(b'h'),
                slots: upd,
            },
        });
        out.push(Message {
            header: header(MsgType::Module),
            body: Body::Module {
                module_id: 0xdead_beef_0000_0001,
                kind: 3,
                payload: b"module payload".to_vec(),
            },
        });
        out
    }

    #[test]
    fn every_type_round_trips() {
        for m in samples() {
            let bytes = encode(&m);
            assert_eq!(bytes.len(), encoded_len(&m));
            assert_eq!(frame_len(&bytes), Ok(Some(bytes.len())));
            let back = decode(&bytes).unwrap_or_else(|e| panic!("{:?}: {e}", m.header.kind));
            assert_eq!(back, m);
            assert_eq!(encode(&back), bytes);
        }
    }

    #[test]
    fn header_layout_matches_cluster_h() {
        let m = &samples()[0];
        let b = encode(m);
        assert_eq!(&b[0..4], b"RCmb");
        assert_eq!(
            u32::from_be_bytes(b[4..8].try_into().unwrap()) as usize,
            b.len()
        );
        assert_eq!(&b[8..10], &[0, 1]); // version
        assert_eq!(&b[10..12], &7000u16.to_be_bytes());
        assert_eq!(&b[12..14], &[0, 0]); // PING
        assert_eq!(&b[14..16], &[0, 2]); // two gossip entries
        assert_eq!(&b[16..24], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&b[40..80], &name(b'a'));
        assert_eq!(b[80], 0b0000_0111); // slots 0, 1, 2
        assert_eq!(b[80 + 16383 / 8], 0x80);
        assert_eq!(&b[2128..2168], &NULL_NAME);
        assert_eq!(&b[2168..2177], b"127.0.0.1");
        assert!(b[2177..2214].iter().all(|&x| x == 0));
        assert_eq!(&b[2214..2216], &[0, 4]); // extensions
        assert!(b[2216..2246].iter().all(|&x| x == 0));
        assert_eq!(&b[2248..2250], &17000u16.to_be_bytes());
        assert_eq!(&b[2250..2252], &[0, 1]); // master
        assert_eq!(b[2252], 1);
        assert_eq!(b[2253], mflags::EXT_DATA);
        // First gossip entry.
        let g = &b[HEADER_BYTES..HEADER_BYTES + GOSSIP_BYTES];
        assert_eq!(&g[..40], &name(b'b'));
        assert_eq!(&g[40..44], &1_700_000_000u32.to_be_bytes());
        assert_eq!(&g[48..56], b"10.0.0.7");
        assert_eq!(&g[94..96], &7001u16.to_be_bytes());
        assert_eq!(&g[98..100], &(flags::SLAVE | flags::PFAIL).to_be_bytes());
        // Hostname extension: 8-byte header, "node-1.example\0" padded to 16.
        let e = &b[HEADER_BYTES + 2 * GOSSIP_BYTES..];
        assert_eq!(&e[..8], &[0, 0, 0, 24, 0, 0, 0, 0]);
        assert_eq!(&e[8..22], b"node-1.example");
        assert_eq!(&e[22..24], &[0, 0]);
        // Forgotten node: type 2, 8 + 40 + 8 bytes.
        assert_eq!(&e[24..32], &[0, 0, 0, 56, 0, 2, 0, 0]);
    }

    #[test]
    fn fixed_sizes_match_redis() {
        let sizes: Vec<(MsgType, usize)> = samples()
            .iter()
            .map(|m| (m.header.kind, encode(m).len()))
            .collect();
        assert!(sizes.contains(&(MsgType::Fail, 2296)));
        assert!(sizes.contains(&(MsgType::Update, 4352)));
        assert!(sizes.contains(&(MsgType::MfStart, 2256)));
        assert!(sizes.contains(&(MsgType::Publish, 2256 + 8 + 4 + 11)));
        assert!(sizes.contains(&(MsgType::Module, 2256 + 13 + 14)));
    }

    #[test]
    fn long_ip_is_cut_to_45_bytes() {
        let mut m = samples().remove(4);
        m.header.myip = vec![b'1'; 60];
        let b = encode(&m);
        assert_eq!(b[OFF_MYIP + 45], 0);
        assert_eq!(decode(&b).unwrap().header.myip, vec![b'1'; 45]);
        // 46 non-NUL bytes on the wire: the last is ignored, as in Redis.
        let mut raw = b.clone();
        raw[OFF_MYIP + 45] = b'9';
        assert_eq!(decode(&raw).unwrap().header.myip, vec![b'1'; 45]);
    }

    pub(super) fn set_u32(b: &mut [u8], off: usize, v: u32) {
        b[off..off + 4].copy_from_slice(&v.to_be_bytes());
    }

    pub(super) fn set_u16(b: &mut [u8], off: usize, v: u16) {
        b[off..off + 2].copy_from_slice(&v.to_be_bytes());
    }

    pub(super) fn ping_bytes() -> Vec<u8> {
        encode(&samples()[0])
    }

    pub(super) fn sample_of(kind: MsgType) -> Vec<u8> {
        encode(
            samples()
                .iter()
                .find(|m| m.header.kind == kind)
                .expect("sample"),
        )
    }

    #[test]
    fn malformed_frames_are_errors() {
        let good = ping_bytes();
        // Short.
        assert!(matches!(
            decode(&good[..5]),
            Err(BusError::Truncated { .. })
        ));
        let mut short = good[..100].to_vec();
        set_u32(&mut short, 4, 100);
        assert_eq!(decode(&short), Err(BusError::FrameTooShort { totlen: 100 }));
        assert_eq!(decode(&[]), Err(BusError::Truncated { have: 0, need: 8 }));
        // Bad signature.
        let mut b = good.clone();
        b[0] = b'X';
        assert!(matches!(decode(&b), Err(BusError::BadSignature(_))));
        assert!(matches!(frame_len(&b), Err(BusError::BadSignature(_))));
        // Bad version.
        let mut b = good.clone();
        set_u16(&mut b, OFF_VER, 2);
        assert_eq!(decode(&b), Err(BusError::BadVersion(2)));
        // Unknown type.
        let mut b = good.clone();
        set_u16(&mut b, OFF_TYPE, 11);
        assert_eq!(decode(&b), Err(BusError::UnknownType(11)));
        // totlen differs from the buffer.
        let mut b = good.clone();
        set_u32(&mut b, 4, good.len() as u32 + 1);
        assert!(matches!(decode(&b), Err(BusError::FrameMismatch { .. })));
        let mut b = good.clone();
        b.push(0);
        assert!(matches!(decode(&b), Err(BusError::FrameMismatch { .. })));
    }

    #[test]
    fn malformed_fixed_and_variable_bodies_are_errors() {
        // FAIL / UPDATE / empty types: exact totlen.
        for kind in [MsgType::Fail, MsgType::Update, MsgType::FailoverAuthAck] {
            let good = sample_of(kind);
            for b in [good[..good.len() - 1].to_vec(), [&good[..], &[0]].concat()] {
                let mut b = b;
                let n = b.len() as u32;
                set_u32(&mut b, 4, n);
                assert!(
                    matches!(
                        decode(&b),
                        Err(BusError::LengthMismatch { .. } | BusError::FrameTooShort { .. })
                    ),
                    "{kind:?}"
                );
            }
        }
        // PUBLISH with hostile lengths.
        let good = sample_of(MsgType::Publish);
        for (ch, msg) in [
            (u32::MAX, 11),
            (4, u32::MAX),
            (u32::MAX, u32::MAX),
            (5, 11),
            (0, 0),
        ] {
            let mut b = good.clone();
            set_u32(&mut b, HEADER_BYTES, ch);
            set_u32(&mut b, HEADER_BYTES + 4, msg);
            assert!(
                matches!(decode(&b), Err(BusError::LengthMismatch { .. })),
                "{ch} {msg}"
            );
        }
        // PUBLISH / MODULE cut inside their fixed part.
        for kind in [MsgType::Publish, MsgType::Module] {
            let mut b = sample_of(kind)[..HEADER_BYTES + 6].to_vec();
            let n = b.len() as u32;
            set_u32(&mut b, 4, n);
            assert!(matches!(decode(&b), Err(BusError::LengthMismatch { .. })));
        }
        // MODULE with a hostile payload length.
        let mut b = sample_of(MsgType::Module);
        set_u32(&mut b, HEADER_BYTES + 8, u32::MAX);
        assert!(matches!(decode(&b), Err(BusError::LengthMismatch { .. })));
    }

    #[test]
    fn framing() {
        let good = ping_bytes();
        assert_eq!(frame_len(&good[..7]), Ok(None));
        assert_eq!(frame_len(&good[..8]), Ok(Some(good.len())));
        assert_eq!(frame_len(&good), Ok(Some(good.len())));
        let mut b = good.clone();
        set_u32(&mut b, 4, 15);
        assert_eq!(frame_len(&b), Err(BusError::FrameTooShort { totlen: 15 }));
        set_u32(&mut b, 4, u32::MAX);
        assert!(matches!(frame_len(&b), Err(BusError::FrameTooLarge { .. })));
        set_u32(&mut b, 4, 10_000);
        assert_eq!(frame_len_with_limit(&b, 10_000), Ok(Some(10_000)));
        assert!(frame_len_with_limit(&b, 9_999).is_err());
        // Every legitimate PING fits the default bound.
        assert!(HEADER_BYTES + u16::MAX as usize * GOSSIP_BYTES < MAX_FRAME_BYTES);
    }

    /// xorshift64*: a seeded generator so failures replay.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    #[test]
    fn random_mutations_never_panic() {
        let seeds: Vec<Vec<u8>> = samples().iter().map(encode).collect();
        let mut rng = Rng(0x05ee_d0f5_a0a1_u64);
        let mut decoded = 0usize;
        for round in 0..30_000 {
            let mut b = seeds[round % seeds.len()].clone();
            for _ in 0..1 + rng.below(4) {
                match rng.below(6) {
                    // Flip a byte anywhere, or in the header's length fields.
                    0 => {
                        if !b.is_empty() {
                            let i = rng.below(b.len());
                            b[i] = rng.next() as u8;
                        }
                    }
                    1 => {
                        let i = [4, 5, 6, 7, 14, 15, 2214, 2215, 2253][rng.below(9)];
                        if i < b.len() {
                            b[i] = rng.next() as u8;
                        }
                    }
                    // Mutate around the data section (counts, lengths).
                    2 => {
                        if b.len() > HEADER_BYTES {
                            let i = HEADER_BYTES + rng.below(b.len() - HEADER_BYTES);
                            b[i] = rng.next() as u8;
                        }
                    }
                    3 => b.truncate(rng.below(b.len() + 1)),
                    4 => b.extend((0..rng.below(300)).map(|_| rng.next() as u8)),
                    _ => {
                        // Keep totlen honest so the deeper checks run.
                        if b.len() >= 8 {
                            let n = b.len() as u32;
                            set_u32(&mut b, 4, n);
                        }
                    }
                }
            }
            let _ = frame_len(&b);
            if let Ok(m) = decode(&b) {
                decoded += 1;
                // Whatever decodes re-encodes to something that decodes the same.
                assert_eq!(decode(&encode(&m)).as_ref(), Ok(&m));
            }
        }
        assert!(decoded > 100, "mutations too destructive: {decoded}");
    }
}
