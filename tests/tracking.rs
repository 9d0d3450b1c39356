//! CLIENT TRACKING against a real shoal-server: invalidations delivered as
//! RESP3 pushes to the `redis` crate (its push channel, as client-side
//! caches use it), as `__redis__:invalidate` messages to a RESP2
//! subscriber it redirects to, BCAST prefixes, NOLOOP, OPTIN/OPTOUT, null
//! invalidations on FLUSHALL, expiry, the tracking-table-max-keys limit,
//! and the introspection around it (CLIENT TRACKINGINFO / GETREDIR / INFO /
//! CLIENT LIST). Expected values are redis-server 7.0.15's.

mod common;

use common::*;
use redis::{PushKind, Value};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

/// A RESP3 connection whose pushes arrive on a channel.
async fn resp3(
    srv: &Server,
) -> (
    redis::aio::MultiplexedConnection,
    UnboundedReceiver<redis::PushInfo>,
) {
    let client = redis::Client::open(format!("{}/?protocol=resp3", srv.url())).unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let config = redis::AsyncConnectionConfig::new().set_push_sender(tx);
    let con = tokio::time::timeout(
        IO_TIMEOUT,
        client.get_multiplexed_async_connection_with_config(&config),
    )
    .await
    .expect("connect in time")
    .expect("connect");
    (con, rx)
}

/// The next invalidation push: its keys (None for a flush's null).
async fn next_invalidation(rx: &mut UnboundedReceiver<redis::PushInfo>) -> Option<Vec<String>> {
    loop {
        let p = tokio::time::timeout(IO_TIMEOUT, rx.recv())
            .await
            .expect("an invalidation in time")
            .expect("push channel open");
        if p.kind != PushKind::Invalidate {
            continue;
        }
        return match &p.data[..] {
            [Value::Nil] => None,
            [Value::Array(keys)] => Some(
                keys.iter()
                    .map(|k| redis::from_redis_value::<String>(k).unwrap())
                    .collect(),
            ),
            other => panic!("unexpected invalidate payload {other:?}"),
        };
    }
}

/// No invalidation arrives within a short wait (after a PING round trip,
/// so anything the server sent before it is already here).
async fn no_invalidation(
    con: &mut redis::aio::MultiplexedConnection,
    rx: &mut UnboundedReceiver<redis::PushInfo>,
) {
    let _: String = q(con, &["PING"]).await.unwrap();
    while let Ok(p) = rx.try_recv() {
        assert_ne!(p.kind, PushKind::Invalidate, "unexpected {p:?}");
    }
}

#[tokio::test]
async fn resp3_client_is_told_when_another_client_changes_what_it_read() {
    let srv = Server::start(&[]);
    let (mut me, mut pushes) = resp3(&srv).await;
    let mut other = srv.conn().await;
    let _: () = q(&mut other, &["MSET", "user:1", "ann", "user:2", "bob"])
        .await
        .unwrap();
    let _: () = q(&mut me, &["CLIENT", "TRACKING", "ON"]).await.unwrap();
    let v: String = q(&mut me, &["GET", "user:1"]).await.unwrap();
    assert_eq!(v, "ann");
    // Not read, so not tracked: no message for user:2.
    let _: () = q(&mut other, &["SET", "user:2", "bo"]).await.unwrap();
    let _: () = q(&mut other, &["SET", "user:1", "anna"]).await.unwrap();
    assert_eq!(
        next_invalidation(&mut pushes).await,
        Some(vec!["user:1".into()])
    );
    // Told once: the key is forgotten until read again.
    let _: () = q(&mut other, &["SET", "user:1", "annie"]).await.unwrap();
    no_invalidation(&mut me, &mut pushes).await;
    // Every kind of write counts, and so does expiry.
    let _: Vec<Option<String>> = q(&mut me, &["MGET", "user:1", "user:2"]).await.unwrap();
    let _: i64 = q(&mut other, &["APPEND", "user:2", "b"]).await.unwrap();
    assert_eq!(
        next_invalidation(&mut pushes).await,
        Some(vec!["user:2".into()])
    );
    let _: i64 = q(&mut other, &["PEXPIRE", "user:1", "30"]).await.unwrap();
    assert_eq!(
        next_invalidation(&mut pushes).await,
        Some(vec!["user:1".into()])
    );
    let _: Option<String> = q(&mut me, &["GET", "user:1"]).await.unwrap();
    assert_eq!(
        next_invalidation(&mut pushes).await,
        Some(vec!["user:1".into()])
    );
    // FLUSHALL: a null invalidation for everything.
    let _: Option<String> = q(&mut me, &["GET", "user:2"]).await.unwrap();
    let _: () = q(&mut other, &["FLUSHALL"]).await.unwrap();
    assert_eq!(next_invalidation(&mut pushes).await, None);
    // OFF: nothing more.
    let _: Option<String> = q(&mut me, &["GET", "x"]).await.unwrap();
    let _: () = q(&mut me, &["CLIENT", "TRACKING", "OFF"]).await.unwrap();
    let _: () = q(&mut other, &["SET", "x", "1"]).await.unwrap();
    no_invalidation(&mut me, &mut pushes).await;
}

#[tokio::test]
async fn own_writes_are_told_after_the_reply_unless_noloop() {
    let srv = Server::start(&[]);
    let (mut me, mut pushes) = resp3(&srv).await;
    let _: () = q(&mut me, &["CLIENT", "TRACKING", "ON"]).await.unwrap();
    let _: i64 = q(&mut me, &["HSET", "h", "f", "1"]).await.unwrap();
    let _: Option<String> = q(&mut me, &["HGET", "h", "f"]).await.unwrap();
    let n: i64 = q(&mut me, &["HDEL", "h", "f"]).await.unwrap();
    assert_eq!(n, 1);
    assert_eq!(next_invalidation(&mut pushes).await, Some(vec!["h".into()]));
    let _: () = q(&mut me, &["CLIENT", "TRACKING", "ON", "NOLOOP"])
        .await
        .unwrap();
    let _: Option<String> = q(&mut me, &["GET", "k"]).await.unwrap();
    let _: () = q(&mut me, &["SET", "k", "mine"]).await.unwrap();
    no_invalidation(&mut me, &mut pushes).await;
}

#[tokio::test]
async fn bcast_prefixes_optin_and_optout() {
    let srv = Server::start(&[]);
    let (mut me, mut pushes) = resp3(&srv).await;
    let mut other = srv.conn().await;
    let _: () = q(
        &mut me,
        &[
            "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "a:", "PREFIX", "b:",
        ],
    )
    .await
    .unwrap();
    // Nothing needs to be read first; one message per prefix and command.
    let _: () = q(
        &mut other,
        &["MSET", "a:2", "x", "a:1", "x", "b:1", "x", "c:1", "x"],
    )
    .await
    .unwrap();
    let mut got = vec![
        next_invalidation(&mut pushes).await.unwrap(),
        next_invalidation(&mut pushes).await.unwrap(),
    ];
    got.sort();
    assert_eq!(
        got,
        [vec!["a:1".to_string(), "a:2".into()], vec!["b:1".into()]]
    );
    let e = q::<()>(
        &mut me,
        &["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "a:b"],
    )
    .await
    .unwrap_err();
    assert_eq!(
        err_line(&e),
        "ERR Prefix 'a:b' overlaps with an existing prefix 'a:'. Prefixes for a single client must not overlap."
    );
    let info: Value = q(&mut me, &["CLIENT", "TRACKINGINFO"]).await.unwrap();
    let text = format!("{info:?}");
    assert!(
        text.contains("bcast") && text.contains("a:") && text.contains("b:"),
        "{text}"
    );
    let _: () = q(&mut me, &["CLIENT", "TRACKING", "OFF"]).await.unwrap();

    // OPTIN: only reads after CLIENT CACHING yes are tracked.
    let _: () = q(&mut me, &["CLIENT", "TRACKING", "ON", "OPTIN"])
        .await
        .unwrap();
    let _: Option<String> = q(&mut me, &["GET", "o1"]).await.unwrap();
    let _: () = q(&mut me, &["CLIENT", "CACHING", "YES"]).await.unwrap();
    let _: Option<String> = q(&mut me, &["GET", "o2"]).await.unwrap();
    let _: () = q(&mut other, &["MSET", "o1", "1", "o2", "2"])
        .await
        .unwrap();
    assert_eq!(
        next_invalidation(&mut pushes).await,
        Some(vec!["o2".into()])
    );
    let _: () = q(&mut me, &["CLIENT", "TRACKING", "OFF"]).await.unwrap();
    // OPTOUT: everything but reads after CLIENT CACHING no.
    let _: () = q(&mut me, &["CLIENT", "TRACKING", "ON", "OPTOUT"])
        .await
        .unwrap();
    let _: () = q(&mut me, &["CLIENT", "CACHING", "NO"]).await.unwrap();
    let _: Option<String> = q(&mut me, &["GET", "o1"]).await.unwrap();
    let _: Option<String> = q(&mut me, &["GET", "o2"]).await.unwrap();
    let _: () = q(&mut other, &["MSET", "o1", "1", "o2", "2"])
        .await
        .unwrap();
    assert_eq!(
        next_invalidation(&mut pushes).await,
        Some(vec!["o2".into()])
    );
}

/// Read one RESP2 Pub/Sub message from a raw subscriber.
fn invalidate_message(sub: &mut Raw) -> Vec<u8> {
    sub.read_reply(IO_TIMEOUT)
        .expect("a message on __redis__:invalidate")
}

#[test]
fn redirect_to_a_resp2_subscriber() {
    let srv = Server::start(&[]);
    let mut sub = srv.raw();
    let id = text_int(&sub.call(&["CLIENT", "ID"]));
    sub.call(&["SUBSCRIBE", "__redis__:invalidate"]);
    let mut me = srv.raw();
    assert_eq!(
        me.call(&["CLIENT", "TRACKING", "on", "REDIRECT", &id.to_string()]),
        b"+OK\r\n"
    );
    assert_eq!(
        me.call(&["CLIENT", "GETREDIR"]),
        format!(":{id}\r\n").as_bytes()
    );
    let info = String::from_utf8(me.call(&["CLIENT", "INFO"])).unwrap();
    assert!(
        info.contains(" flags=t ") && info.contains(&format!(" redir={id} ")),
        "{info}"
    );
    me.call(&["SET", "k", "1"]);
    me.call(&["GET", "k"]);
    let mut writer = srv.raw();
    writer.call(&["INCR", "k"]);
    assert_eq!(
        invalidate_message(&mut sub),
        b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$1\r\nk\r\n"
    );
    writer.call(&["FLUSHDB"]);
    assert_eq!(
        invalidate_message(&mut sub),
        b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n"
    );
    // The table's size limit evicts keys, telling their clients.
    for k in ["k1", "k2", "k3"] {
        me.call(&["GET", k]);
    }
    let stats = String::from_utf8(me.call(&["INFO"])).unwrap();
    assert_eq!(info_field(&stats, "tracking_clients").as_deref(), Some("1"));
    assert_eq!(
        info_field(&stats, "tracking_total_keys").as_deref(),
        Some("3")
    );
    assert_eq!(
        info_field(&stats, "tracking_total_items").as_deref(),
        Some("3")
    );
    me.call(&["CONFIG", "SET", "tracking-table-max-keys", "1"]);
    me.call(&["PING"]);
    for _ in 0..2 {
        let m = invalidate_message(&mut sub);
        assert!(
            m.starts_with(b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$2\r\nk")
        );
    }
    let stats = String::from_utf8(me.call(&["INFO"])).unwrap();
    assert_eq!(
        info_field(&stats, "tracking_total_keys").as_deref(),
        Some("1")
    );
    // The redirection gone: RESP2 gets no message; the flag says so.
    drop(sub);
    let deadline = std::time::Instant::now() + IO_TIMEOUT;
    while srv
        .cli(&["CLIENT", "LIST", "ID", &id.to_string()])
        .contains("id=")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "subscriber never went away"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    me.call(&["CONFIG", "SET", "tracking-table-max-keys", "0"]);
    me.call(&["GET", "z"]);
    writer.call(&["SET", "z", "1"]);
    let info = String::from_utf8(me.call(&["CLIENT", "INFO"])).unwrap();
    assert!(info.contains(" flags=tR "), "{info}");
}

fn text_int(reply: &[u8]) -> i64 {
    std::str::from_utf8(&reply[1..reply.len() - 2])
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn errors_and_trackinginfo_match_redis() {
    let srv = Server::start(&[]);
    let mut c = srv.raw();
    let cases: &[(&[&str], &str)] = &[
        (&["CLIENT", "TRACKINGINFO"], "*6\r\n$5\r\nflags\r\n*1\r\n$3\r\noff\r\n$8\r\nredirect\r\n:-1\r\n$8\r\nprefixes\r\n*0\r\n"),
        (&["CLIENT", "GETREDIR"], ":-1\r\n"),
        (&["CLIENT", "CACHING", "yes"], "-ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled\r\n"),
        (&["CLIENT", "TRACKING", "on", "OPTIN", "OPTOUT"], "-ERR You can't specify both OPTIN mode and OPTOUT mode\r\n"),
        (&["CLIENT", "TRACKING", "on", "BCAST", "OPTIN"], "-ERR OPTIN and OPTOUT are not compatible with BCAST\r\n"),
        (&["CLIENT", "TRACKING", "on", "PREFIX", "x"], "-ERR PREFIX option requires BCAST mode to be enabled\r\n"),
        (&["CLIENT", "TRACKING", "on", "REDIRECT", "999999"], "-ERR The client ID you want redirect to does not exist\r\n"),
        (&["CLIENT", "TRACKING", "on", "REDIRECT", "x"], "-ERR value is not an integer or out of range\r\n"),
        (&["CLIENT", "TRACKING", "maybe"], "-ERR syntax error\r\n"),
        (&["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a", "PREFIX", "ab"], "-ERR Prefix 'a' overlaps with another provided prefix 'ab'. Prefixes for a single client must not overlap.\r\n"),
        (&["CLIENT", "TRACKING", "on", "OPTIN", "NOLOOP"], "+OK\r\n"),
        (&["CLIENT", "TRACKING", "on", "BCAST"], "-ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.\r\n"),
        (&["CLIENT", "TRACKING", "on", "OPTOUT"], "-ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.\r\n"),
        (&["CLIENT", "CACHING", "no"], "-ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.\r\n"),
        (&["CLIENT", "CACHING", "yes"], "+OK\r\n"),
        (&["CLIENT", "TRACKINGINFO"], "*6\r\n$5\r\nflags\r\n*4\r\n$2\r\non\r\n$5\r\noptin\r\n$11\r\ncaching-yes\r\n$6\r\nnoloop\r\n$8\r\nredirect\r\n:0\r\n$8\r\nprefixes\r\n*0\r\n"),
        // CACHING lasts for one command.
        (&["PING"], "+PONG\r\n"),
        (&["CLIENT", "TRACKINGINFO"], "*6\r\n$5\r\nflags\r\n*3\r\n$2\r\non\r\n$5\r\noptin\r\n$6\r\nnoloop\r\n$8\r\nredirect\r\n:0\r\n$8\r\nprefixes\r\n*0\r\n"),
        (&["CLIENT", "GETREDIR"], ":0\r\n"),
        (&["CLIENT", "TRACKING", "off"], "+OK\r\n"),
        (&["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "p:"], "+OK\r\n"),
        (&["CLIENT", "TRACKINGINFO"], "*6\r\n$5\r\nflags\r\n*2\r\n$2\r\non\r\n$5\r\nbcast\r\n$8\r\nredirect\r\n:0\r\n$8\r\nprefixes\r\n*1\r\n$2\r\np:\r\n"),
        (&["RESET"], "+RESET\r\n"),
        (&["CLIENT", "TRACKINGINFO"], "*6\r\n$5\r\nflags\r\n*1\r\n$3\r\noff\r\n$8\r\nredirect\r\n:-1\r\n$8\r\nprefixes\r\n*0\r\n"),
    ];
    for (cmd, want) in cases {
        assert_eq!(String::from_utf8_lossy(&c.call(cmd)), *want, "{cmd:?}");
    }
    let stats = String::from_utf8(c.call(&["INFO"])).unwrap();
    assert_eq!(info_field(&stats, "tracking_clients").as_deref(), Some("0"));
    assert_eq!(
        info_field(&stats, "tracking_total_prefixes").as_deref(),
        Some("0")
    );
}

#[test]
fn redis_cli_drives_tracking() {
    if !require_tool(REDIS_CLI, "redis-cli") {
        return;
    }
    let srv = Server::start(&[]);
    // A RESP3 session piped through redis-cli (as redis-server 7.0.15 prints it).
    let (ok, out, err) = redis_cli_stdin(
        srv.port,
        &["-3"],
        b"CLIENT TRACKING on\nGET k\nSET k v\nCLIENT TRACKINGINFO\nCLIENT GETREDIR\n".to_vec(),
        IO_TIMEOUT,
    );
    assert!(ok, "{err}");
    assert_eq!(out, "OK\n\nOK\nflags on\nredirect 0\nprefixes \n0\n");
}
