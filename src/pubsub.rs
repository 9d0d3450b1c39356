//! The Pub/Sub registry: channel, pattern and shard-channel subscriptions,
//! and delivery of messages to subscribers' push channels.
//!
//! A message is encoded once per protocol version and queued on each
//! subscriber's push channel; the subscriber's connection writes it. The
//! bytes queued but not yet written count toward the subscriber's output
//! buffer, and client-output-buffer-limit's pubsub class disconnects a
//! subscriber that cannot keep up, as Redis does.

use crate::client::ClientInfo;
use bytes::{BufMut, Bytes, BytesMut};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedSender;

/// A subscribed client, as the registry sees it.
#[derive(Clone)]
pub struct Subscriber {
    pub info: Arc<ClientInfo>,
    pub tx: UnboundedSender<Bytes>,
}

#[derive(Default)]
pub struct PubSub {
    channels: Mutex<HashMap<Bytes, Vec<Subscriber>>>,
    shard_channels: Mutex<HashMap<Bytes, Vec<Subscriber>>>,
    patterns: Mutex<Vec<(Bytes, Subscriber)>>,
    /// (hard, soft bytes, soft seconds) of the pubsub output buffer class.
    pub limits: Mutex<crate::config::OutputLimit>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Shard,
}

fn bulk(b: &mut BytesMut, data: &[u8]) {
    b.put_u8(b'$');
    b.extend_from_slice(itoa::Buffer::new().format(data.len()).as_bytes());
    b.extend_from_slice(b"\r\n");
    b.extend_from_slice(data);
    b.extend_from_slice(b"\r\n");
}

/// A push message `[kind, parts...]`: `>n` in RESP3, `*n` in RESP2.
pub fn encode_push(resp3: bool, parts: &[&[u8]]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_u8(if resp3 { b'>' } else { b'*' });
    b.extend_from_slice(itoa::Buffer::new().format(parts.len()).as_bytes());
    b.extend_from_slice(b"\r\n");
    for p in parts {
        bulk(&mut b, p);
    }
    b.freeze()
}

impl PubSub {
    fn table(&self, kind: Kind) -> &Mutex<HashMap<Bytes, Vec<Subscriber>>> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Shard => &self.shard_channels,
        }
    }

    /// Subscribe; false if already subscribed.
    pub fn subscribe(&self, kind: Kind, channel: &Bytes, sub: &Subscriber) -> bool {
        let mut t = self.table(kind).lock();
        let subs = t.entry(channel.clone()).or_default();
        if subs.iter().any(|s| s.info.id == sub.info.id) {
            return false;
        }
        subs.push(sub.clone());
        true
    }

    pub fn unsubscribe(&self, kind: Kind, channel: &[u8], client_id: u64) -> bool {
        let mut t = self.table(kind).lock();
        let Some(subs) = t.get_mut(channel) else {
            return false;
        };
        let before = subs.len();
        subs.retain(|s| s.info.id != client_id);
        let removed = subs.len() != before;
        if subs.is_empty() {
            t.remove(channel);
        }
        removed
    }

    pub fn psubscribe(&self, pattern: &Bytes, sub: &Subscriber) -> bool {
        let mut p = self.patterns.lock();
        if p.iter()
            .any(|(pat, s)| s.info.id == sub.info.id && pat == pattern)
        {
            return false;
        }
        p.push((pattern.clone(), sub.clone()));
        true
    }

    pub fn punsubscribe(&self, pattern: &[u8], client_id: u64) -> bool {
        let mut p = self.patterns.lock();
        let before = p.len();
        p.retain(|(pat, s)| !(s.info.id == client_id && pat == pattern));
        p.len() != before
    }

    /// Deliver `message`; returns how many clients received it.
    pub fn publish(&self, kind: Kind, channel: &[u8], message: &[u8]) -> usize {
        let mut receivers = 0;
        let kind_name: &[u8] = if kind == Kind::Shard {
            b"smessage"
        } else {
            b"message"
        };
        let mut enc: [Option<Bytes>; 2] = [None, None];
        if let Some(subs) = self.table(kind).lock().get(channel) {
            for s in subs {
                let resp3 = s.info.resp.load(Ordering::Relaxed) == 3;
                let msg = enc[resp3 as usize]
                    .get_or_insert_with(|| encode_push(resp3, &[kind_name, channel, message]))
                    .clone();
                if self.deliver(s, msg) {
                    receivers += 1;
                }
            }
        }
        if kind == Kind::Channel {
            for (pat, s) in self.patterns.lock().iter() {
                if crate::util::glob_match(pat, channel, false) {
                    let resp3 = s.info.resp.load(Ordering::Relaxed) == 3;
                    let msg = encode_push(resp3, &[b"pmessage", pat, channel, message]);
                    if self.deliver(s, msg) {
                        receivers += 1;
                    }
                }
            }
        }
        receivers
    }

    /// Queue a message, enforcing the pubsub output buffer limits.
    fn deliver(&self, s: &Subscriber, msg: Bytes) -> bool {
        let limit = *self.limits.lock();
        let queued = s.info.output_buf.fetch_add(msg.len(), Ordering::Relaxed) + msg.len();
        if limit.exceeded(
            queued as u64,
            &s.info.obuf_soft_since_ms,
            crate::util::now_ms(),
        ) {
            s.info.close_for_output_limit();
            return false;
        }
        s.tx.send(msg).is_ok()
    }

    /// Active channels matching an optional pattern.
    pub fn channels(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.table(kind)
            .lock()
            .keys()
            .filter(|c| pattern.is_none_or(|p| crate::util::glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    pub fn numsub(&self, kind: Kind, channel: &[u8]) -> usize {
        self.table(kind).lock().get(channel).map_or(0, |v| v.len())
    }

    /// Distinct patterns with at least one subscriber.
    pub fn numpat(&self) -> usize {
        let p = self.patterns.lock();
        let mut pats: Vec<&Bytes> = p.iter().map(|(pat, _)| pat).collect();
        pats.sort();
        pats.dedup();
        pats.len()
    }

    /// Every subscription: (client, channel or pattern, is a pattern).
    pub fn all_subscriptions(&self) -> Vec<(Arc<ClientInfo>, Bytes, bool)> {
        let mut v = Vec::new();
        for t in [&self.channels, &self.shard_channels] {
            for (ch, subs) in t.lock().iter() {
                v.extend(subs.iter().map(|s| (s.info.clone(), ch.clone(), false)));
            }
        }
        for (pat, s) in self.patterns.lock().iter() {
            v.push((s.info.clone(), pat.clone(), true));
        }
        v
    }

    /// Drop every subscription of a client (disconnect, RESET).
    pub fn remove_client(
        &self,
        client_id: u64,
        channels: &[Bytes],
        shard: &[Bytes],
        patterns: &[Bytes],
    ) {
        for c in channels {
            self.unsubscribe(Kind::Channel, c, client_id);
        }
        for c in shard {
            self.unsubscribe(Kind::Shard, c, client_id);
        }
        for p in patterns {
            self.punsubscribe(p, client_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_encoding() {
        assert_eq!(
            &encode_push(false, &[b"message", b"ch", b"hi"])[..],
            b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"
        );
        assert_eq!(
            &encode_push(true, &[b"message", b"ch", b"hi"])[..],
            b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"
        );
    }
}
