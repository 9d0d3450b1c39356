//! Between the keyspace's values and the RDB codec's neutral views: encode
//! an entry for a file or a DUMP payload straight from the server's own
//! structures (no intermediate copies), and build values from decoded
//! objects under the configured encoding limits.

use crate::config::Hot;
use crate::keyspace::{Entry, StrVal, Value};
use crate::types::stream::{Group, Nack, NodeLimits, StreamId};
use crate::types::{HashValue, ListValue, SetValue, StreamValue, ZSetValue};
use shoal_persistence::rdb::stream as rs;
use shoal_persistence::rdb::{
    Element, EncodeOptions, EncodingLimits, KeyMeta, Object, ObjectEncoder, RdbWriter,
};
use std::io::{self, Write};

/// The codec's limits from the configuration (so files hold listpacks
/// exactly where Redis would keep them).
pub fn encode_options(hot: &Hot, compress: bool, checksum: bool) -> EncodeOptions {
    EncodeOptions {
        compress,
        checksum,
        limits: EncodingLimits {
            hash_max_listpack_entries: hot.hash_max_listpack_entries,
            hash_max_listpack_value: hot.hash_max_listpack_value,
            zset_max_listpack_entries: hot.zset_max_listpack_entries,
            zset_max_listpack_value: hot.zset_max_listpack_value,
            set_max_intset_entries: hot.set_max_intset_entries,
            list_max_listpack_size: hot.list_max_listpack_size,
        },
    }
}

fn str_element(s: &StrVal) -> Element<'_> {
    match s {
        StrVal::Int(i) => Element::Int(*i),
        StrVal::Inline { len, buf } => Element::Bytes(&buf[..*len as usize]),
        StrVal::Heap(b) => Element::Bytes(b),
        StrVal::Raw(v) => Element::Bytes(v),
    }
}

/// Write one key of a file.
pub fn write_entry<W: Write>(w: &mut RdbWriter<W>, key: &[u8], e: &Entry) -> io::Result<()> {
    let meta = KeyMeta {
        expire_at_ms: (e.expire_at_ms != 0).then_some(e.expire_at_ms),
        ..KeyMeta::default()
    };
    match &e.value {
        Value::Str(s) => w.string(key, &meta, str_element(s)),
        Value::List(l) => w.list(key, &meta, l.len(), list_items(l)),
        Value::Set(s) => match &**s {
            SetValue::Ints(v) => w.set(key, &meta, v.len(), v.iter().map(|i| Element::Int(*i))),
            SetValue::Table(t) => w.set(key, &meta, t.len(), t.iter().map(|m| Element::Bytes(m))),
        },
        Value::Hash(h) => w.hash(key, &meta, h.len(), hash_pairs(h)),
        Value::ZSet(z) => w.zset(
            key,
            &meta,
            z.len(),
            z.members().map(|(s, m)| (Element::Bytes(m), s)),
        ),
        Value::Stream(s) => w.object(key, &meta, &Object::Stream(Box::new(stream_object(s)))),
    }
}

/// The serialized object of a DUMP payload (type byte and body).
pub fn encode_object(enc: &mut ObjectEncoder, v: &Value) -> io::Result<Vec<u8>> {
    match v {
        Value::Str(s) => enc.string(str_element(s)),
        Value::List(l) => enc.list(l.len(), list_items(l)),
        Value::Set(s) => match &**s {
            SetValue::Ints(v) => enc.set(v.len(), v.iter().map(|i| Element::Int(*i))),
            SetValue::Table(t) => enc.set(t.len(), t.iter().map(|m| Element::Bytes(m))),
        },
        Value::Hash(h) => enc.hash(h.len(), hash_pairs(h)),
        Value::ZSet(z) => enc.zset(z.len(), z.members().map(|(s, m)| (Element::Bytes(m), s))),
        Value::Stream(s) => enc.object(&Object::Stream(Box::new(stream_object(s)))),
    }
}

fn list_items(l: &ListValue) -> impl Iterator<Item = Element<'_>> + Clone {
    l.items.iter().map(|e| Element::Bytes(e))
}

fn hash_pairs(h: &HashValue) -> impl Iterator<Item = (Element<'_>, Element<'_>)> + Clone {
    h.pairs()
        .map(|(f, v)| (Element::Bytes(f), Element::Bytes(v)))
}

/// A value from a decoded object, encoded as Redis would encode a freshly
/// loaded one under the current limits. `None` for an empty collection
/// (Redis skips such keys).
pub fn value_from_object(obj: Object, hot: &Hot) -> Option<Value> {
    if obj.is_empty_collection() {
        return None;
    }
    Some(match obj {
        Object::Str(s) => Value::Str(StrVal::from_bytes(&s)),
        Object::List(items) => {
            let mut l = ListValue::new();
            for i in &items {
                l.push(crate::types::list::End::Right, i);
            }
            Value::List(Box::new(l))
        }
        Object::Set(members) => {
            let mut s = SetValue::new_for(&members[0]);
            for m in &members {
                s.add(m, hot.set_max_intset_entries);
            }
            Value::Set(Box::new(s))
        }
        Object::Hash(pairs) => {
            let lim = crate::types::hash::HashLimits {
                max_entries: hot.hash_max_listpack_entries,
                max_value: hot.hash_max_listpack_value,
            };
            let mut h = HashValue::default();
            for (f, v) in &pairs {
                h.set(f, v, lim);
            }
            Value::Hash(Box::new(h))
        }
        Object::ZSet(members) => {
            let lim = crate::types::zset::Limits {
                max_entries: hot.zset_max_listpack_entries,
                max_value: hot.zset_max_listpack_value,
            };
            let longest = members.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
            let mut z = if members.len() > lim.max_entries {
                ZSetValue::Big(Box::default())
            } else {
                ZSetValue::new_for(longest, lim)
            };
            for (m, s) in &members {
                z.insert(m, *s, lim);
            }
            Value::ZSet(Box::new(z))
        }
        Object::Stream(s) => Value::Stream(Box::new(stream_value(*s, hot))),
    })
}

fn pid(id: StreamId) -> (u64, u64) {
    (id.ms, id.seq)
}

fn sid(id: (u64, u64)) -> StreamId {
    StreamId::new(id.0, id.1)
}

/// The codec's view of a stream (node by node, groups in name order).
pub fn stream_object(s: &StreamValue) -> rs::StreamObject {
    let mut o = rs::StreamObject {
        length: s.len(),
        last_id: pid(s.last_id),
        first_id: pid(s.first_id),
        max_deleted_id: pid(s.max_deleted_id),
        entries_added: s.entries_added,
        ..Default::default()
    };
    for (master, c) in s.chunks() {
        let entries = s.chunk_entries(*master, c);
        if entries.is_empty() {
            continue;
        }
        o.nodes.push(rs::StreamNode {
            master: pid(*master),
            master_fields: c
                .master_field_names()
                .into_iter()
                .map(|f| f.to_vec())
                .collect(),
            entries: entries
                .into_iter()
                .map(|e| rs::StreamEntry {
                    id: pid(e.id),
                    fields: e.fields.iter().map(|f| f.to_vec()).collect(),
                })
                .collect(),
        });
    }
    for (name, g) in &s.groups {
        o.groups.push(rs::StreamGroup {
            name: name.to_vec(),
            last_id: pid(g.last_id),
            entries_read: g.entries_read,
            pel: g
                .pel
                .iter()
                .map(|(id, n)| rs::StreamNack {
                    id: pid(*id),
                    delivery_time: n.delivery_time,
                    delivery_count: n.delivery_count,
                })
                .collect(),
            consumers: g
                .consumers
                .iter()
                .map(|(cn, c)| rs::StreamConsumer {
                    name: cn.to_vec(),
                    seen_time: c.seen_time,
                    pel: c.pel.iter().map(|id| pid(*id)).collect(),
                })
                .collect(),
        });
    }
    o
}

/// A stream from its codec view, keeping the file's node boundaries.
pub fn stream_value(o: rs::StreamObject, hot: &Hot) -> StreamValue {
    let limits = NodeLimits {
        max_bytes: hot.stream_node_max_bytes,
        max_entries: hot.stream_node_max_entries,
    };
    let mut s = StreamValue::new();
    for n in &o.nodes {
        let fields: Vec<&[u8]> = n.master_fields.iter().map(|f| &f[..]).collect();
        s.start_chunk(sid(n.master), &fields);
        for e in &n.entries {
            let pairs: Vec<&[u8]> = e.fields.iter().map(|f| &f[..]).collect();
            s.append_to_last_chunk(sid(e.id), &pairs);
        }
    }
    let _ = limits;
    s.length = o.length;
    s.last_id = sid(o.last_id);
    s.first_id = sid(o.first_id);
    s.max_deleted_id = sid(o.max_deleted_id);
    s.entries_added = o.entries_added;
    for g in o.groups {
        let mut grp = Group::new(sid(g.last_id), g.entries_read);
        if o.legacy {
            grp.entries_read = s.estimate_distance(grp.last_id);
        }
        for c in &g.consumers {
            grp.create_consumer(&c.name, c.seen_time);
        }
        for n in &g.pel {
            grp.pel.insert(
                sid(n.id),
                Nack {
                    delivery_time: n.delivery_time,
                    delivery_count: n.delivery_count,
                    consumer: Box::default(),
                },
            );
        }
        for c in &g.consumers {
            for id in &c.pel {
                let id = sid(*id);
                if let Some(n) = grp.pel.get_mut(&id) {
                    n.consumer = c.name.clone().into_boxed_slice();
                }
                if let Some(cc) = grp.consumers.get_mut(&c.name[..]) {
                    cc.pel.insert(id);
                }
            }
        }
        s.groups.insert(g.name.into_boxed_slice(), grp);
    }
    s
}
