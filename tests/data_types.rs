//! The data-type behaviours that need more than one client: blocking pops
//! woken by another connection (in FIFO order), WATCH races, Pub/Sub and
//! keyspace notifications between clients, and eviction under maxmemory.
//! Driven through the `redis` crate as applications would; expected values
//! are Redis 7.0's.

mod common;

use common::*;
use futures_util::StreamExt;
use redis::Value;
use std::time::{Duration, Instant};

/// Poll INFO until `field` has `want`, with a deadline.
async fn wait_info(con: &mut redis::aio::MultiplexedConnection, field: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info: String = q(con, &["INFO"]).await.unwrap();
        let found = info
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .map(str::trim)
            .map(str::to_string);
        if found.as_deref() == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{field} never became {want} (last: {found:?})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn blocking_pops_are_woken_by_pushes_from_other_clients_in_fifo_order() {
    let srv = Server::start(&[]);
    let mut admin = srv.conn().await;
    let mut first = srv.conn().await;
    let mut second = srv.conn().await;

    let a = tokio::spawn(async move {
        q::<Vec<String>>(&mut first, &["BLPOP", "jobs", "other", "5"])
            .await
            .unwrap()
    });
    wait_info(&mut admin, "blocked_clients", "1").await;
    let b = tokio::spawn(async move {
        q::<Vec<String>>(&mut second, &["BLPOP", "jobs", "5"])
            .await
            .unwrap()
    });
    wait_info(&mut admin, "blocked_clients", "2").await;

    let n: i64 = q(&mut admin, &["RPUSH", "jobs", "one", "two"])
        .await
        .unwrap();
    assert_eq!(n, 2);
    // The client that blocked first gets the first element.
    assert_eq!(
        a.await.unwrap(),
        vec!["jobs".to_string(), "one".to_string()]
    );
    assert_eq!(
        b.await.unwrap(),
        vec!["jobs".to_string(), "two".to_string()]
    );
    let len: i64 = q(&mut admin, &["LLEN", "jobs"]).await.unwrap();
    assert_eq!(len, 0);
    wait_info(&mut admin, "blocked_clients", "0").await;

    // A BLMOVE served by a push feeds a BRPOP blocked on its destination.
    let mut c1 = srv.conn().await;
    let mut c2 = srv.conn().await;
    let mover = tokio::spawn(async move {
        q::<String>(&mut c1, &["BLMOVE", "src", "dst", "LEFT", "RIGHT", "5"])
            .await
            .unwrap()
    });
    wait_info(&mut admin, "blocked_clients", "1").await;
    let popper = tokio::spawn(async move {
        q::<Vec<String>>(&mut c2, &["BRPOP", "dst", "5"])
            .await
            .unwrap()
    });
    wait_info(&mut admin, "blocked_clients", "2").await;
    let _: i64 = q(&mut admin, &["LPUSH", "src", "x"]).await.unwrap();
    assert_eq!(mover.await.unwrap(), "x");
    assert_eq!(
        popper.await.unwrap(),
        vec!["dst".to_string(), "x".to_string()]
    );

    // Timeouts answer nil; sorted sets block the same way.
    let t0 = Instant::now();
    let v: Value = q(&mut admin, &["BLPOP", "nothing", "0.2"]).await.unwrap();
    assert_eq!(v, Value::Nil);
    assert!(t0.elapsed() >= Duration::from_millis(150));
    let mut c3 = srv.conn().await;
    let z = tokio::spawn(async move {
        q::<Vec<String>>(&mut c3, &["BZPOPMIN", "z", "5"])
            .await
            .unwrap()
    });
    wait_info(&mut admin, "blocked_clients", "1").await;
    let _: i64 = q(&mut admin, &["ZADD", "z", "2", "b", "1", "a"])
        .await
        .unwrap();
    assert_eq!(
        z.await.unwrap(),
        vec!["z".to_string(), "a".to_string(), "1".to_string()]
    );
}

#[tokio::test]
async fn watch_aborts_exec_when_another_client_touches_the_key() {
    let srv = Server::start(&[]);
    let mut a = srv.conn().await;
    let mut b = srv.conn().await;

    let _: () = q(&mut a, &["SET", "balance", "10"]).await.unwrap();
    let _: () = q(&mut a, &["WATCH", "balance"]).await.unwrap();
    let _: () = q(&mut b, &["INCRBY", "balance", "5"])
        .await
        .map(|_: i64| ())
        .unwrap();
    let _: () = q(&mut a, &["MULTI"]).await.unwrap();
    let _: String = q(&mut a, &["SET", "balance", "0"]).await.unwrap();
    let res: Value = q(&mut a, &["EXEC"]).await.unwrap();
    assert_eq!(
        res,
        Value::Nil,
        "EXEC must abort after another client changed a watched key"
    );
    let v: String = q(&mut a, &["GET", "balance"]).await.unwrap();
    assert_eq!(v, "15");

    // Untouched: the transaction runs. WATCH on a STORE's source is not touched by it.
    let _: () = q(&mut a, &["SADD", "s1", "x"])
        .await
        .map(|_: i64| ())
        .unwrap();
    let _: () = q(&mut a, &["WATCH", "balance", "s1"]).await.unwrap();
    let _: i64 = q(&mut b, &["SUNIONSTORE", "dest", "s1"]).await.unwrap();
    let _: () = q(&mut a, &["MULTI"]).await.unwrap();
    let _: String = q(&mut a, &["INCR", "balance"]).await.unwrap();
    let res: Vec<i64> = q(&mut a, &["EXEC"]).await.unwrap();
    assert_eq!(res, vec![16]);

    // FLUSHALL touches watched keys that exist.
    let _: () = q(&mut a, &["WATCH", "balance"]).await.unwrap();
    let _: () = q(&mut b, &["FLUSHALL"]).await.unwrap();
    let _: () = q(&mut a, &["MULTI"]).await.unwrap();
    let _: String = q(&mut a, &["PING"]).await.unwrap();
    let res: Value = q(&mut a, &["EXEC"]).await.unwrap();
    assert_eq!(res, Value::Nil);
}

#[tokio::test]
async fn pubsub_and_keyspace_notifications_between_clients() {
    let srv = Server::start(&[]);
    let client = redis::Client::open(srv.url()).unwrap();
    let mut sub = client.get_async_pubsub().await.unwrap();
    sub.subscribe("news").await.unwrap();
    sub.psubscribe("__keyevent@0__:*").await.unwrap();
    let mut con = srv.conn().await;
    let _: () = q(
        &mut con,
        &["CONFIG", "SET", "notify-keyspace-events", "KEA"],
    )
    .await
    .unwrap();

    let receivers: i64 = q(&mut con, &["PUBLISH", "news", "hello"]).await.unwrap();
    assert_eq!(receivers, 1);
    let numsub: Vec<Value> = q(&mut con, &["PUBSUB", "NUMSUB", "news"]).await.unwrap();
    assert_eq!(numsub[1], Value::Int(1));
    let _: () = q(&mut con, &["SET", "k", "v"]).await.unwrap();
    let _: i64 = q(&mut con, &["LPUSH", "l", "a"]).await.unwrap();

    let mut stream = sub.on_message();
    let mut got = Vec::new();
    while got.len() < 3 {
        let msg = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("message within 10 s")
            .expect("stream open");
        got.push((
            msg.get_channel_name().to_string(),
            msg.get_payload::<String>().unwrap(),
        ));
    }
    assert_eq!(
        got,
        vec![
            ("news".to_string(), "hello".to_string()),
            ("__keyevent@0__:set".to_string(), "k".to_string()),
            ("__keyevent@0__:lpush".to_string(), "l".to_string()),
        ]
    );
}

#[tokio::test]
async fn eviction_keeps_memory_under_maxmemory_and_noeviction_refuses_writes() {
    let srv = Server::start(&[]);
    let mut con = srv.conn().await;
    let info: String = q(&mut con, &["INFO", "memory"]).await.unwrap();
    let used: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Room for the slot tables' own structure plus a few thousand values.
    let limit = used + 16 * 1024 * 1024;
    let limit_s = limit.to_string();
    let _: () = q(
        &mut con,
        &[
            "CONFIG",
            "SET",
            "maxmemory",
            &limit_s,
            "maxmemory-policy",
            "allkeys-lru",
        ],
    )
    .await
    .unwrap();
    let value = "x".repeat(1000);
    for i in 0..40_000 {
        let key = format!("key:{i}");
        let _: () = q(&mut con, &["SET", &key, &value]).await.unwrap();
    }
    let info: String = q(&mut con, &["INFO"]).await.unwrap();
    let field = |name: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    assert!(
        field("evicted_keys") > 0,
        "40 MB of writes into a 16 MB budget must evict"
    );
    assert!(
        field("used_memory") <= limit + 256 * 1024,
        "used_memory {} over maxmemory {}",
        field("used_memory"),
        limit
    );
    let dbsize: i64 = q(&mut con, &["DBSIZE"]).await.unwrap();
    assert!(dbsize > 0 && dbsize < 40_000);

    // noeviction: writes get Redis's OOM error, reads keep working.
    let _: () = q(
        &mut con,
        &["CONFIG", "SET", "maxmemory-policy", "noeviction"],
    )
    .await
    .unwrap();
    let mut refused = None;
    for i in 0..20_000 {
        let key = format!("more:{i}");
        if let Err(e) = q::<()>(&mut con, &["SET", &key, &value]).await {
            refused = Some(err_line(&e));
            break;
        }
    }
    assert_eq!(
        refused.as_deref(),
        Some("OOM command not allowed when used memory > 'maxmemory'.")
    );
    let got: Value = q(&mut con, &["GET", "key:39999"]).await.unwrap();
    assert!(
        matches!(got, Value::BulkString(_) | Value::Nil),
        "reads keep working: {got:?}"
    );
}
