//! Pub/Sub commands: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE,
//! PUBLISH, the sharded SSUBSCRIBE/SUNSUBSCRIBE/SPUBLISH, and PUBSUB.

use super::table::{c, c_with_keys, with_subs};
use super::{container_handler, help_reply, Command, Ctx, KeySpec};
use crate::protocol::Out;
use crate::pubsub::{Kind, Subscriber};
use bytes::Bytes;

pub fn commands() -> Vec<Command> {
    let none = (0, 0, 0);
    vec![
        c(
            "subscribe",
            -2,
            "pubsub noscript loading stale",
            none,
            "pubsub",
            "2.0.0",
            "Listen for messages published to the given channels",
            subscribe,
        ),
        c(
            "unsubscribe",
            -1,
            "pubsub noscript loading stale",
            none,
            "pubsub",
            "2.0.0",
            "Stop listening for messages posted to the given channels",
            unsubscribe,
        ),
        c(
            "psubscribe",
            -2,
            "pubsub noscript loading stale",
            none,
            "pubsub",
            "2.0.0",
            "Listen for messages published to channels matching the given patterns",
            psubscribe,
        ),
        c(
            "punsubscribe",
            -1,
            "pubsub noscript loading stale",
            none,
            "pubsub",
            "2.0.0",
            "Stop listening for messages posted to channels matching the given patterns",
            punsubscribe,
        ),
        c(
            "publish",
            3,
            "pubsub loading stale fast may_replicate",
            none,
            "pubsub",
            "2.0.0",
            "Post a message to a channel",
            publish,
        ),
        c_with_keys(
            "ssubscribe",
            -2,
            "pubsub noscript loading stale",
            KeySpec::Range {
                first: 1,
                last: -1,
                step: 1,
            },
            "pubsub",
            "7.0.0",
            "Listen for messages published to the given shard channels",
            ssubscribe,
        ),
        c_with_keys(
            "sunsubscribe",
            -1,
            "pubsub noscript loading stale",
            KeySpec::Range {
                first: 1,
                last: -1,
                step: 1,
            },
            "pubsub",
            "7.0.0",
            "Stop listening for messages posted to the given shard channels",
            sunsubscribe,
        ),
        c_with_keys(
            "spublish",
            3,
            "pubsub loading stale fast may_replicate",
            KeySpec::Range {
                first: 1,
                last: 1,
                step: 1,
            },
            "pubsub",
            "7.0.0",
            "Post a message to a shard channel",
            spublish,
        ),
        with_subs(
            c(
                "pubsub",
                -2,
                "",
                none,
                "pubsub",
                "2.8.0",
                "A container for Pub/Sub commands",
                container_handler,
            ),
            vec![
                c(
                    "pubsub|channels",
                    -2,
                    "pubsub loading stale",
                    none,
                    "pubsub",
                    "2.8.0",
                    "List active channels",
                    pubsub_channels,
                ),
                c(
                    "pubsub|numsub",
                    -2,
                    "pubsub loading stale",
                    none,
                    "pubsub",
                    "2.8.0",
                    "Get the count of subscribers for channels",
                    pubsub_numsub,
                ),
                c(
                    "pubsub|numpat",
                    2,
                    "pubsub loading stale",
                    none,
                    "pubsub",
                    "2.8.0",
                    "Get the count of unique patterns pattern subscriptions",
                    pubsub_numpat,
                ),
                c(
                    "pubsub|shardchannels",
                    -2,
                    "pubsub loading stale",
                    none,
                    "pubsub",
                    "7.0.0",
                    "List active shard channels",
                    pubsub_shardchannels,
                ),
                c(
                    "pubsub|shardnumsub",
                    -2,
                    "pubsub loading stale",
                    none,
                    "pubsub",
                    "7.0.0",
                    "Get the count of subscribers for shard channels",
                    pubsub_shardnumsub,
                ),
                c(
                    "pubsub|help",
                    2,
                    "loading stale",
                    none,
                    "pubsub",
                    "6.2.0",
                    "Show helpful text about the different subcommands",
                    pubsub_help,
                ),
            ],
        ),
    ]
}

fn me(ctx: &mut Ctx) -> Subscriber {
    let tx = ctx.client.push_sender();
    Subscriber {
        info: ctx.client.info.clone(),
        tx,
    }
}

/// The confirmation each (un)subscribe sends per channel: `[kind, name, count]`.
fn confirm(out: &mut Out, kind: &str, name: Option<&[u8]>, count: usize) {
    out.push(3);
    out.bulk(kind.as_bytes());
    match name {
        Some(n) => out.bulk(n),
        None => out.null(),
    }
    out.int(count as i64);
}

pub fn subscribe(ctx: &mut Ctx, out: &mut Out) {
    let sub = me(ctx);
    for ch in &ctx.argv[1..] {
        if ctx.srv.pubsub.subscribe(Kind::Channel, ch, &sub) {
            ctx.client.subs.channels.push(ch.clone());
        }
        confirm(out, "subscribe", Some(ch), ctx.client.subs.count());
    }
}

pub fn ssubscribe(ctx: &mut Ctx, out: &mut Out) {
    let sub = me(ctx);
    for ch in &ctx.argv[1..] {
        if ctx.srv.pubsub.subscribe(Kind::Shard, ch, &sub) {
            ctx.client.subs.shard.push(ch.clone());
        }
        confirm(out, "ssubscribe", Some(ch), ctx.client.subs.shard.len());
    }
}

pub fn psubscribe(ctx: &mut Ctx, out: &mut Out) {
    let sub = me(ctx);
    for pat in &ctx.argv[1..] {
        if ctx.srv.pubsub.psubscribe(pat, &sub) {
            ctx.client.subs.patterns.push(pat.clone());
        }
        confirm(out, "psubscribe", Some(pat), ctx.client.subs.count());
    }
}

/// UNSUBSCRIBE / SUNSUBSCRIBE / PUNSUBSCRIBE: the named ones, or all.
fn unsubscribe_generic(ctx: &mut Ctx, out: &mut Out, which: &str) {
    let id = ctx.client.id;
    let names: Vec<Bytes> = if ctx.argv.len() > 1 {
        ctx.argv[1..].to_vec()
    } else {
        match which {
            "unsubscribe" => ctx.client.subs.channels.clone(),
            "sunsubscribe" => ctx.client.subs.shard.clone(),
            _ => ctx.client.subs.patterns.clone(),
        }
    };
    if names.is_empty() {
        let n = if which == "sunsubscribe" {
            ctx.client.subs.shard.len()
        } else {
            ctx.client.subs.count()
        };
        return confirm(out, which, None, n);
    }
    for name in names {
        let subs = &mut ctx.client.subs;
        match which {
            "unsubscribe" => {
                ctx.srv.pubsub.unsubscribe(Kind::Channel, &name, id);
                subs.channels.retain(|c| *c != name);
            }
            "sunsubscribe" => {
                ctx.srv.pubsub.unsubscribe(Kind::Shard, &name, id);
                subs.shard.retain(|c| *c != name);
            }
            _ => {
                ctx.srv.pubsub.punsubscribe(&name, id);
                subs.patterns.retain(|c| *c != name);
            }
        }
        let n = if which == "sunsubscribe" {
            subs.shard.len()
        } else {
            subs.count()
        };
        confirm(out, which, Some(&name), n);
    }
}

pub fn unsubscribe(ctx: &mut Ctx, out: &mut Out) {
    unsubscribe_generic(ctx, out, "unsubscribe")
}

pub fn sunsubscribe(ctx: &mut Ctx, out: &mut Out) {
    unsubscribe_generic(ctx, out, "sunsubscribe")
}

pub fn punsubscribe(ctx: &mut Ctx, out: &mut Out) {
    unsubscribe_generic(ctx, out, "punsubscribe")
}

pub fn publish(ctx: &mut Ctx, out: &mut Out) {
    let n = ctx
        .srv
        .pubsub
        .publish(Kind::Channel, ctx.arg(1), ctx.arg(2));
    if let Some(cluster) = ctx.srv.cluster.get() {
        cluster.publish(ctx.arg(1), ctx.arg(2), false);
    }
    out.int(n as i64)
}

pub fn spublish(ctx: &mut Ctx, out: &mut Out) {
    let n = ctx.srv.pubsub.publish(Kind::Shard, ctx.arg(1), ctx.arg(2));
    if let Some(cluster) = ctx.srv.cluster.get() {
        cluster.publish(ctx.arg(1), ctx.arg(2), true);
    }
    out.int(n as i64)
}

fn list_channels(ctx: &mut Ctx, out: &mut Out, kind: Kind) {
    if ctx.argv.len() > 3 {
        return out.error(&crate::error::wrong_args(&ctx.cmd.name));
    }
    let chans = ctx
        .srv
        .pubsub
        .channels(kind, ctx.argv.get(2).map(|p| &p[..]));
    out.array(chans.len());
    for c in chans {
        out.bulk(&c);
    }
}

pub fn pubsub_channels(ctx: &mut Ctx, out: &mut Out) {
    list_channels(ctx, out, Kind::Channel)
}

pub fn pubsub_shardchannels(ctx: &mut Ctx, out: &mut Out) {
    list_channels(ctx, out, Kind::Shard)
}

fn numsub(ctx: &mut Ctx, out: &mut Out, kind: Kind) {
    let chans = &ctx.argv[2..];
    out.map(chans.len());
    for c in chans {
        out.bulk(c);
        out.int(ctx.srv.pubsub.numsub(kind, c) as i64);
    }
}

pub fn pubsub_numsub(ctx: &mut Ctx, out: &mut Out) {
    numsub(ctx, out, Kind::Channel)
}

pub fn pubsub_shardnumsub(ctx: &mut Ctx, out: &mut Out) {
    numsub(ctx, out, Kind::Shard)
}

pub fn pubsub_numpat(ctx: &mut Ctx, out: &mut Out) {
    out.int(ctx.srv.pubsub.numpat() as i64)
}

pub fn pubsub_help(_ctx: &mut Ctx, out: &mut Out) {
    help_reply(
        out,
        "PUBSUB",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    )
}
