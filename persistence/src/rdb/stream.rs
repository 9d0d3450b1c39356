//! Streams in RDB: Redis 7.0's RDB_TYPE_STREAM_LISTPACKS_2 (and reading
//! the 6.x RDB_TYPE_STREAM_LISTPACKS), as a neutral [`StreamObject`].
//!
//! The body is: the number of nodes; per node its 128-bit big-endian master
//! ID and a listpack laid out as Redis's stream nodes (a master entry
//! `count deleted nfields field... 0`, then per entry `flags ms-delta
//! seq-delta [nfields field value... | value...] lp-count`); then length,
//! last ID, first ID, max deleted ID, entries added; then the consumer
//! groups: name, last ID, entries read, the PEL (raw 16-byte IDs with a
//! millisecond delivery time and a delivery count) and the consumers
//! (name, seen time, raw IDs of their pending entries).

use std::io::BufRead;

use super::decode::Input;
use super::{listpack, Element, Error};

/// A stream ID as (milliseconds, sequence).
pub type Id = (u64, u64);

const FLAG_DELETED: i64 = 1;
const FLAG_SAMEFIELDS: i64 = 2;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamEntry {
    pub id: Id,
    /// Fields and values, alternating.
    pub fields: Vec<Vec<u8>>,
}

/// One node: its master ID and fields, and its live entries in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamNode {
    pub master: Id,
    pub master_fields: Vec<Vec<u8>>,
    pub entries: Vec<StreamEntry>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamNack {
    pub id: Id,
    pub delivery_time: u64,
    pub delivery_count: u64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamConsumer {
    pub name: Vec<u8>,
    pub seen_time: u64,
    pub pel: Vec<Id>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamGroup {
    pub name: Vec<u8>,
    pub last_id: Id,
    /// -1 when unknown. For a 6.x file (no counter stored) also -1, with
    /// `StreamObject::legacy` set so the server can estimate it.
    pub entries_read: i64,
    pub pel: Vec<StreamNack>,
    pub consumers: Vec<StreamConsumer>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamObject {
    pub nodes: Vec<StreamNode>,
    pub length: u64,
    pub last_id: Id,
    pub first_id: Id,
    pub max_deleted_id: Id,
    pub entries_added: u64,
    pub groups: Vec<StreamGroup>,
    /// Read from RDB_TYPE_STREAM_LISTPACKS (no first ID, tombstone or counters).
    pub legacy: bool,
}

fn id_key(id: Id) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&id.0.to_be_bytes());
    b[8..].copy_from_slice(&id.1.to_be_bytes());
    b
}

fn key_id(b: &[u8; 16]) -> Id {
    let mut ms = [0u8; 8];
    let mut seq = [0u8; 8];
    ms.copy_from_slice(&b[..8]);
    seq.copy_from_slice(&b[8..]);
    (u64::from_be_bytes(ms), u64::from_be_bytes(seq))
}

/// A node's listpack in Redis's stream layout (no deleted entries).
pub fn node_listpack(node: &StreamNode) -> Vec<u8> {
    let mut items: Vec<Element<'_>> = Vec::new();
    items.push(Element::Int(node.entries.len() as i64));
    items.push(Element::Int(0));
    items.push(Element::Int(node.master_fields.len() as i64));
    for f in &node.master_fields {
        items.push(Element::Bytes(f));
    }
    items.push(Element::Int(0));
    for e in &node.entries {
        let n = e.fields.len() / 2;
        let same = n == node.master_fields.len()
            && e.fields
                .chunks(2)
                .zip(&node.master_fields)
                .all(|(p, m)| p[0] == *m);
        items.push(Element::Int(if same { FLAG_SAMEFIELDS } else { 0 }));
        items.push(Element::Int(e.id.0.wrapping_sub(node.master.0) as i64));
        items.push(Element::Int(e.id.1.wrapping_sub(node.master.1) as i64));
        if same {
            for p in e.fields.chunks(2) {
                items.push(Element::Bytes(&p[1]));
            }
            items.push(Element::Int(3 + n as i64));
        } else {
            items.push(Element::Int(n as i64));
            for f in &e.fields {
                items.push(Element::Bytes(f));
            }
            items.push(Element::Int(4 + 2 * n as i64));
        }
    }
    listpack::encode(items)
}

fn text(e: Element<'_>) -> Vec<u8> {
    match e {
        Element::Bytes(b) => b.to_vec(),
        Element::Int(v) => v.to_string().into_bytes(),
    }
}

/// Parse a node listpack with master ID `master` (live entries only).
pub fn parse_node(master: Id, lp: &[u8]) -> Result<StreamNode, &'static str> {
    let items: Vec<Element<'_>> = listpack::entries(lp)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| e.msg)?;
    let mut it = items.iter().copied();
    let total = items.len();
    let mut next =
        || -> Result<Element<'_>, &'static str> { it.next().ok_or("stream listpack ends early") };
    let int = |e: Element<'_>| -> Result<i64, &'static str> {
        match e {
            Element::Int(v) => Ok(v),
            Element::Bytes(_) => Err("stream listpack integer expected"),
        }
    };
    let count = int(next()?)?;
    let deleted = int(next()?)?;
    let nmaster = int(next()?)?;
    if count < 0 || deleted < 0 || nmaster < 0 || nmaster as usize > total {
        return Err("stream listpack master entry invalid");
    }
    let mut node = StreamNode {
        master,
        ..StreamNode::default()
    };
    for _ in 0..nmaster {
        node.master_fields.push(text(next()?));
    }
    if int(next()?)? != 0 {
        return Err("stream listpack master entry not terminated");
    }
    let mut seen = 0i64;
    loop {
        let flags = match next() {
            Err(_) => break,
            Ok(e) => int(e)?,
        };
        let ms = master.0.wrapping_add(int(next()?)? as u64);
        let seq = master.1.wrapping_add(int(next()?)? as u64);
        let mut fields = Vec::new();
        let expect_lp_count = if flags & FLAG_SAMEFIELDS != 0 {
            for f in &node.master_fields {
                fields.push(f.clone());
                fields.push(text(next()?));
            }
            3 + nmaster
        } else {
            let n = int(next()?)?;
            if n < 0 || n as usize > total {
                return Err("stream listpack entry field count invalid");
            }
            for _ in 0..n * 2 {
                fields.push(text(next()?));
            }
            4 + 2 * n
        };
        if int(next()?)? != expect_lp_count {
            return Err("stream listpack entry lp-count mismatch");
        }
        seen += 1;
        if flags & FLAG_DELETED == 0 {
            node.entries.push(StreamEntry {
                id: (ms, seq),
                fields,
            });
        }
    }
    if seen != count + deleted || node.entries.len() as i64 != count {
        return Err("stream listpack entry counts mismatch");
    }
    if node.entries.is_empty() {
        return Err("Empty listpack inside stream");
    }
    Ok(node)
}

/// Sink-side writer hooks the encoder provides.
pub(crate) trait Writer {
    fn len(&mut self, n: u64) -> std::io::Result<()>;
    fn raw(&mut self, b: &[u8]) -> std::io::Result<()>;
    fn string(&mut self, s: &[u8]) -> std::io::Result<()>;
}

pub(crate) fn write_body(w: &mut impl Writer, s: &StreamObject) -> std::io::Result<()> {
    w.len(s.nodes.len() as u64)?;
    for n in &s.nodes {
        w.string(&id_key(n.master))?;
        w.string(&node_listpack(n))?;
    }
    w.len(s.length)?;
    w.len(s.last_id.0)?;
    w.len(s.last_id.1)?;
    w.len(s.first_id.0)?;
    w.len(s.first_id.1)?;
    w.len(s.max_deleted_id.0)?;
    w.len(s.max_deleted_id.1)?;
    w.len(s.entries_added)?;
    w.len(s.groups.len() as u64)?;
    for g in &s.groups {
        w.string(&g.name)?;
        w.len(g.last_id.0)?;
        w.len(g.last_id.1)?;
        w.len(g.entries_read as u64)?;
        w.len(g.pel.len() as u64)?;
        for n in &g.pel {
            w.raw(&id_key(n.id))?;
            w.raw(&(n.delivery_time as i64).to_le_bytes())?;
            w.len(n.delivery_count)?;
        }
        w.len(g.consumers.len() as u64)?;
        for c in &g.consumers {
            w.string(&c.name)?;
            w.raw(&(c.seen_time as i64).to_le_bytes())?;
            w.len(c.pel.len() as u64)?;
            for id in &c.pel {
                w.raw(&id_key(*id))?;
            }
        }
    }
    Ok(())
}

fn raw_id<R: BufRead>(input: &mut Input<R>) -> Result<Id, Error> {
    let mut b = [0u8; 16];
    input.exact(&mut b)?;
    Ok(key_id(&b))
}

fn ms_time<R: BufRead>(input: &mut Input<R>) -> Result<u64, Error> {
    let mut b = [0u8; 8];
    input.exact(&mut b)?;
    Ok(i64::from_le_bytes(b).max(0) as u64)
}

/// Reads a stream body (`v2`: RDB_TYPE_STREAM_LISTPACKS_2).
pub(crate) fn read_body<R: BufRead>(input: &mut Input<R>, v2: bool) -> Result<StreamObject, Error> {
    let mut s = StreamObject {
        legacy: !v2,
        ..StreamObject::default()
    };
    let nodes = input.count(2, "stream node count")?;
    for _ in 0..nodes {
        let at = input.offset();
        let key = input.string()?;
        let key: [u8; 16] = key.as_slice().try_into().map_err(|_| {
            Error::corrupt(at, "Stream node key entry is not the size of a stream ID")
        })?;
        let master = key_id(&key);
        let at = input.offset();
        let lp = input.string()?;
        let node = parse_node(master, &lp).map_err(|m| {
            Error::corrupt(at, format!("Stream listpack integrity check failed: {m}"))
        })?;
        if s.nodes.last().is_some_and(|p| p.master >= master) {
            return Err(Error::corrupt(at, "Listpack re-added with existing key"));
        }
        s.nodes.push(node);
    }
    s.length = input.len()?;
    s.last_id = (input.len()?, input.len()?);
    if v2 {
        s.first_id = (input.len()?, input.len()?);
        s.max_deleted_id = (input.len()?, input.len()?);
        s.entries_added = input.len()?;
    } else {
        s.entries_added = s.length;
        s.first_id = s
            .nodes
            .first()
            .and_then(|n| n.entries.first())
            .map(|e| e.id)
            .unwrap_or((0, 0));
    }
    let live: u64 = s.nodes.iter().map(|n| n.entries.len() as u64).sum();
    if live != s.length {
        return Err(Error::corrupt(
            input.offset(),
            "Stream length inconsistent with rax entries",
        ));
    }
    let ngroups = input.count(3, "stream group count")?;
    for _ in 0..ngroups {
        let mut g = StreamGroup {
            name: input.string()?,
            last_id: (input.len()?, input.len()?),
            entries_read: -1,
            ..StreamGroup::default()
        };
        if v2 {
            g.entries_read = input.len()? as i64;
        }
        if s.groups.iter().any(|x| x.name == g.name) {
            return Err(Error::corrupt(
                input.offset(),
                "Duplicated consumer group name",
            ));
        }
        let npel = input.count(26, "stream PEL size")?;
        for _ in 0..npel {
            let id = raw_id(input)?;
            let delivery_time = ms_time(input)?;
            let delivery_count = input.len()?;
            if g.pel.last().is_some_and(|p| p.id >= id) {
                return Err(Error::corrupt(
                    input.offset(),
                    "Duplicated global PEL entry loading stream consumer group",
                ));
            }
            g.pel.push(StreamNack {
                id,
                delivery_time,
                delivery_count,
            });
        }
        let ncons = input.count(10, "stream consumer count")?;
        let mut owned = 0usize;
        for _ in 0..ncons {
            let mut c = StreamConsumer {
                name: input.string()?,
                seen_time: ms_time(input)?,
                pel: Vec::new(),
            };
            if g.consumers.iter().any(|x| x.name == c.name) {
                return Err(Error::corrupt(
                    input.offset(),
                    "Duplicate stream consumer detected.",
                ));
            }
            let n = input.count(16, "stream consumer PEL size")?;
            for _ in 0..n {
                let id = raw_id(input)?;
                if g.pel.binary_search_by(|p| p.id.cmp(&id)).is_err() {
                    return Err(Error::corrupt(
                        input.offset(),
                        "Consumer entry not found in group global PEL",
                    ));
                }
                c.pel.push(id);
            }
            owned += c.pel.len();
            g.consumers.push(c);
        }
        if owned != g.pel.len() {
            return Err(Error::corrupt(
                input.offset(),
                "Stream CG PEL entry without consumer",
            ));
        }
        s.groups.push(g);
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_round_trip() {
        let node = StreamNode {
            master: (1000, 5),
            master_fields: vec![b"item".to_vec()],
            entries: vec![
                StreamEntry {
                    id: (1000, 5),
                    fields: vec![b"item".to_vec(), b"1".to_vec()],
                },
                StreamEntry {
                    id: (1002, 0),
                    fields: vec![b"a".to_vec(), b"x".to_vec(), b"b".to_vec(), b"y".to_vec()],
                },
            ],
        };
        let lp = node_listpack(&node);
        assert_eq!(parse_node((1000, 5), &lp).unwrap(), node);
        assert!(parse_node((1000, 5), &lp[..lp.len() - 1]).is_err());
    }
}
