//! The PING / PONG / MEET data section: the gossip array
//! (clusterMsgDataGossip, 104 bytes each) and, after it, the ping extensions
//! of Redis 7.0 (`clusterMsgPingExt`: u32 length including the 8-byte
//! header, u16 type, u16 unused, then the content NUL-padded to 8 bytes).

use super::{
    align8, be16, be32, be64, c_string, ext_type, field, name_at, put_c_string, put_u16, put_u32,
    put_u64, sat_u32, BusError, EXT_HEADER_BYTES, GOSSIP_BYTES, HEADER_BYTES,
};
use crate::msg::{Body, Gossip, MsgType, PingExt, IP_LEN, NODE_NAME_LEN};

/// Bytes of the data section for this gossip and these extensions.
pub(super) fn body_len(gossip: &[Gossip], exts: &[PingExt]) -> usize {
    gossip.len() * GOSSIP_BYTES + exts.iter().map(ext_len).sum::<usize>()
}

pub(super) fn put_body(out: &mut Vec<u8>, gossip: &[Gossip], exts: &[PingExt]) {
    for g in gossip {
        out.extend_from_slice(&g.node);
        put_u32(out, g.ping_sent_s);
        put_u32(out, g.pong_received_s);
        put_c_string(out, &g.ip, IP_LEN);
        put_u16(out, g.port);
        put_u16(out, g.cport);
        put_u16(out, g.flags);
        put_u16(out, g.pport);
        put_u16(out, 0);
    }
    for e in exts {
        put_ext(out, e);
    }
}

/// The data after the header: `count` gossip entries, then `ext_count`
/// extensions (0 unless the header has EXT_DATA), filling it exactly.
pub(super) fn decode_body(
    data: &[u8],
    count: u16,
    ext_count: u16,
    kind: MsgType,
    totlen: u32,
) -> Result<Body, BusError> {
    let mismatch = |data_bytes: usize| BusError::LengthMismatch {
        kind,
        totlen,
        expected: (HEADER_BYTES + data_bytes) as u64,
    };
    let gossip_bytes = count as usize * GOSSIP_BYTES;
    let Some(entries) = data.get(..gossip_bytes) else {
        return Err(mismatch(gossip_bytes));
    };
    let gossip = entries
        .chunks_exact(GOSSIP_BYTES)
        .map(decode_gossip)
        .collect::<Result<Vec<_>, _>>()?;
    let mut rest = &data[gossip_bytes..];
    // Each extension takes at least 8 bytes: that bounds the allocation.
    let mut exts = Vec::with_capacity((ext_count as usize).min(rest.len() / EXT_HEADER_BYTES));
    for index in 0..ext_count {
        let (ext, len) = decode_ext(rest, index)?;
        exts.push(ext);
        rest = &rest[len..];
    }
    if !rest.is_empty() {
        return Err(mismatch(data.len() - rest.len()));
    }
    Ok(Body::Ping { gossip, exts })
}

fn decode_gossip(g: &[u8]) -> Result<Gossip, BusError> {
    Ok(Gossip {
        node: name_at(g, 0)?,
        ping_sent_s: be32(g, 40)?,
        pong_received_s: be32(g, 44)?,
        ip: c_string(field(g, 48, IP_LEN)?),
        port: be16(g, 94)?,
        cport: be16(g, 96)?,
        flags: be16(g, 98)?,
        pport: be16(g, 100)?,
    })
}

/// One extension at the start of `rest`: the value and its total length.
fn decode_ext(rest: &[u8], index: u16) -> Result<(PingExt, usize), BusError> {
    let bad = |ext_type: u16, len: u32, reason: &'static str| BusError::BadExtension {
        index,
        ext_type,
        len,
        reason,
    };
    if rest.len() < EXT_HEADER_BYTES {
        return Err(bad(0, 0, "header exceeds the packet"));
    }
    let len = be32(rest, 0)?;
    let ext_type = be16(rest, 4)?;
    let n = len as usize;
    if !n.is_multiple_of(8) {
        return Err(bad(ext_type, len, "length not 8-byte aligned"));
    }
    if n < EXT_HEADER_BYTES {
        return Err(bad(ext_type, len, "length below the extension header"));
    }
    if n > rest.len() {
        return Err(bad(ext_type, len, "exceeds the packet"));
    }
    let body = &rest[EXT_HEADER_BYTES..n];
    let ext = match ext_type {
        ext_type::HOSTNAME => {
            let nul = body.iter().position(|&b| b == 0).ok_or(bad(
                ext_type,
                len,
                "hostname not NUL-terminated",
            ))?;
            PingExt::Hostname(body[..nul].to_vec())
        }
        ext_type::FORGOTTEN_NODE => {
            if body.len() < NODE_NAME_LEN + 8 {
                return Err(bad(ext_type, len, "forgotten node too short"));
            }
            PingExt::ForgottenNode {
                name: name_at(body, 0)?,
                ttl_s: be64(body, NODE_NAME_LEN)?,
            }
        }
        ext_type::SHARD_ID => {
            if body.len() < NODE_NAME_LEN {
                return Err(bad(ext_type, len, "shard id too short"));
            }
            PingExt::ShardId(name_at(body, 0)?)
        }
        kind => PingExt::Unknown {
            kind,
            data: body.to_vec(),
        },
    };
    Ok((ext, n))
}

/// Bytes an extension takes on the wire, header and padding included.
fn ext_len(e: &PingExt) -> usize {
    EXT_HEADER_BYTES + align8(ext_body_len(e))
}

fn ext_body_len(e: &PingExt) -> usize {
    match e {
        // The hostname and its NUL terminator.
        PingExt::Hostname(h) => h.len() + 1,
        PingExt::ForgottenNode { .. } => NODE_NAME_LEN + 8,
        PingExt::ShardId(_) => NODE_NAME_LEN,
        PingExt::Unknown { data, .. } => data.len(),
    }
}

fn put_ext(out: &mut Vec<u8>, e: &PingExt) {
    let start = out.len();
    let kind = match e {
        PingExt::Hostname(_) => ext_type::HOSTNAME,
        PingExt::ForgottenNode { .. } => ext_type::FORGOTTEN_NODE,
        PingExt::ShardId(_) => ext_type::SHARD_ID,
        PingExt::Unknown { kind, .. } => *kind,
    };
    put_u32(out, sat_u32(ext_len(e)));
    put_u16(out, kind);
    put_u16(out, 0);
    match e {
        PingExt::Hostname(h) => out.extend_from_slice(h),
        PingExt::ForgottenNode { name, ttl_s } => {
            out.extend_from_slice(name);
            put_u64(out, *ttl_s);
        }
        PingExt::ShardId(id) => out.extend_from_slice(id),
        PingExt::Unknown { data, .. } => out.extend_from_slice(data),
    }
    // NUL terminator (hostname) and padding to the 8-byte boundary.
    out.resize(start + ext_len(e), 0);
}

#[cfg(test)]
mod tests {
    use super::super::tests::{header, ping_bytes, set_u16, set_u32};
    use super::super::{decode, encode, OFF_COUNT, OFF_EXTENSIONS, OFF_MFLAGS};
    use super::*;
    use crate::msg::{mflags, Message};

    #[test]
    fn hostname_padding() {
        // A hostname whose NUL lands on the boundary gets a full pad block.
        let mut h = header(MsgType::Ping);
        h.mflags[0] = mflags::EXT_DATA;
        let m = Message {
            header: h,
            body: Body::Ping {
                gossip: vec![],
                exts: vec![PingExt::Hostname(b"1234567".to_vec())],
            },
        };
        assert_eq!(encode(&m).len(), 2256 + 16);
        let m8 = Message {
            body: Body::Ping {
                gossip: vec![],
                exts: vec![PingExt::Hostname(b"12345678".to_vec())],
            },
            ..m
        };
        assert_eq!(encode(&m8).len(), 2256 + 24);
        assert_eq!(decode(&encode(&m8)).unwrap(), m8);
    }

    #[test]
    fn malformed_ping_data_is_an_error() {
        let good = ping_bytes();
        // Gossip count overflowing the frame.
        for count in [100u16, u16::MAX] {
            let mut b = good.clone();
            set_u16(&mut b, OFF_COUNT, count);
            assert!(
                matches!(decode(&b), Err(BusError::LengthMismatch { .. })),
                "count {count}"
            );
        }
        // A few more entries than present: the extensions do not parse as gossip.
        let mut b = good.clone();
        set_u16(&mut b, OFF_COUNT, 3);
        assert!(decode(&b).is_err());
        // Fewer gossip entries claimed: the rest does not parse as extensions.
        let mut b = good.clone();
        set_u16(&mut b, OFF_COUNT, 1);
        assert!(decode(&b).is_err());
        // More extensions claimed than present.
        let mut b = good.clone();
        set_u16(&mut b, OFF_EXTENSIONS, 5);
        assert!(matches!(
            decode(&b),
            Err(BusError::BadExtension { index: 4, .. })
        ));
        set_u16(&mut b, OFF_EXTENSIONS, u16::MAX);
        assert!(matches!(
            decode(&b),
            Err(BusError::BadExtension { index: 4, .. })
        ));
        // Fewer extensions claimed: trailing bytes.
        let mut b = good.clone();
        set_u16(&mut b, OFF_EXTENSIONS, 3);
        assert!(matches!(decode(&b), Err(BusError::LengthMismatch { .. })));
        // Extensions present without EXT_DATA: Redis does not read them.
        let mut b = good.clone();
        b[OFF_MFLAGS] = 0;
        assert!(matches!(decode(&b), Err(BusError::LengthMismatch { .. })));
        let ext0 = HEADER_BYTES + 2 * GOSSIP_BYTES;
        // Truncated extension (frame cut inside the last one).
        let mut b = good[..good.len() - 8].to_vec();
        let n = b.len() as u32;
        set_u32(&mut b, 4, n);
        assert!(matches!(
            decode(&b),
            Err(BusError::BadExtension { index: 3, .. })
        ));
        // Extension lengths: misaligned, zero, beyond the frame, hostile.
        for len in [23u32, 0, 4, 4096, u32::MAX - 7] {
            let mut b = good.clone();
            set_u32(&mut b, ext0, len);
            assert!(
                matches!(decode(&b), Err(BusError::BadExtension { index: 0, .. })),
                "ext len {len}"
            );
        }
        // Hostname without its NUL.
        let mut b = good.clone();
        b[ext0 + 8..ext0 + 24].fill(b'x');
        assert!(matches!(
            decode(&b),
            Err(BusError::BadExtension { ext_type: 0, .. })
        ));
        // Forgotten node / shard id bodies too short for their type.
        let mut b = good.clone();
        set_u16(&mut b, ext0 + 4, ext_type::FORGOTTEN_NODE); // hostname body is 16 bytes
        assert!(matches!(
            decode(&b),
            Err(BusError::BadExtension { ext_type: 2, .. })
        ));
        set_u16(&mut b, ext0 + 4, ext_type::SHARD_ID);
        assert!(matches!(
            decode(&b),
            Err(BusError::BadExtension { ext_type: 3, .. })
        ));
    }
}
