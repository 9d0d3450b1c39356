//! Strings, keys (and WRONGTYPE from other types), databases, expiry,
//! transactions, errors, AUTH, HELLO and CLIENT, driven through the `redis`
//! crate as an application would, with raw bytes where the wire format
//! itself is the point.
//!
//! Expected values are Redis 7.0's own (checked against redis-server 7.0.15).

mod common;

use common::*;
use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, RedisResult, Value};
use std::collections::HashSet;
use std::time::{Duration, Instant};

async fn err_of<T: redis::FromRedisValue + std::fmt::Debug>(
    con: &mut MultiplexedConnection,
    args: &[&str],
) -> String {
    match q::<T>(con, args).await {
        Ok(v) => panic!("{args:?} should fail, got {v:?}"),
        Err(e) => err_line(&e),
    }
}

#[tokio::test]
async fn set_get_and_string_commands() {
    let srv = Server::start(&[]);
    let mut con = srv.conn().await;

    let () = con.set("k", "v").await.unwrap();
    let v: String = con.get("k").await.unwrap();
    assert_eq!(v, "v");
    let missing: Option<String> = con.get("missing").await.unwrap();
    assert_eq!(missing, None);

    // INCR / INCRBY / DECR family.
    let n: i64 = con.incr("counter", 1).await.unwrap();
    assert_eq!(n, 1);
    let n: i64 = con.incr("counter", 41).await.unwrap();
    assert_eq!(n, 42);
    let n: i64 = con.decr("counter", 50).await.unwrap();
    assert_eq!(n, -8);
    let n: i64 = q(&mut con, &["INCR", "counter"]).await.unwrap();
    assert_eq!(n, -7);

    // INCRBYFLOAT.
    let f: String = q(&mut con, &["INCRBYFLOAT", "fl", "10.5"]).await.unwrap();
    assert_eq!(f, "10.5");
    let f: String = q(&mut con, &["INCRBYFLOAT", "fl", "0.1"]).await.unwrap();
    assert_eq!(f, "10.6");
    let f: String = q(&mut con, &["INCRBYFLOAT", "fl2", "-3.0e3"])
        .await
        .unwrap();
    assert_eq!(f, "-3000");
    let f: String = q(&mut con, &["INCRBYFLOAT", "fl2", "0.25"]).await.unwrap();
    assert_eq!(f, "-2999.75");
    let f: String = q(&mut con, &["INCRBYFLOAT", "fl2", "2999.75"])
        .await
        .unwrap();
    assert_eq!(f, "0");
    assert_eq!(
        err_of::<String>(&mut con, &["INCRBYFLOAT", "fl", "abc"]).await,
        "ERR value is not a valid float"
    );

    // MSET / MGET.
    let () = con
        .mset(&[("a", "1"), ("b", "2"), ("c", "3")])
        .await
        .unwrap();
    let vals: Vec<Option<String>> = con.mget(&["a", "b", "nope", "c"]).await.unwrap();
    assert_eq!(
        vals,
        vec![Some("1".into()), Some("2".into()), None, Some("3".into())]
    );

    // SETNX.
    let set: bool = con.set_nx("a", "x").await.unwrap();
    assert!(!set);
    let set: bool = con.set_nx("fresh", "x").await.unwrap();
    assert!(set);
    let v: String = con.get("fresh").await.unwrap();
    assert_eq!(v, "x");

    // SET options.
    let r: Option<String> = q(&mut con, &["SET", "a", "new", "NX"]).await.unwrap();
    assert_eq!(r, None);
    let r: Option<String> = q(&mut con, &["SET", "a", "new", "XX", "GET"])
        .await
        .unwrap();
    assert_eq!(r.as_deref(), Some("1"));
    let r: Option<String> = q(&mut con, &["SET", "nokey", "v", "XX"]).await.unwrap();
    assert_eq!(r, None);
    let exists: bool = con.exists("nokey").await.unwrap();
    assert!(!exists);

    // APPEND / STRLEN / SETRANGE / GETRANGE.
    let len: i64 = con.append("s", "Hello").await.unwrap();
    assert_eq!(len, 5);
    let len: i64 = con.append("s", " World").await.unwrap();
    assert_eq!(len, 11);
    let len: i64 = q(&mut con, &["STRLEN", "s"]).await.unwrap();
    assert_eq!(len, 11);
    let len: i64 = q(&mut con, &["SETRANGE", "s", "6", "Redis"]).await.unwrap();
    assert_eq!(len, 11);
    let v: String = con.get("s").await.unwrap();
    assert_eq!(v, "Hello Redis");
    let len: i64 = q(&mut con, &["SETRANGE", "pad", "3", "x"]).await.unwrap();
    assert_eq!(len, 4);
    let v: Vec<u8> = con.get("pad").await.unwrap();
    assert_eq!(v, b"\0\0\0x");
    for (start, end, want) in [
        ("0", "4", "Hello"),
        ("-5", "-1", "Redis"),
        ("0", "-1", "Hello Redis"),
        ("5", "2", ""),
        ("100", "200", ""),
        ("-100", "1", "He"),
    ] {
        let got: String = q(&mut con, &["GETRANGE", "s", start, end]).await.unwrap();
        assert_eq!(got, want, "GETRANGE s {start} {end}");
    }

    // GETEX / GETDEL.
    let v: String = q(&mut con, &["GETEX", "s", "EX", "100"]).await.unwrap();
    assert_eq!(v, "Hello Redis");
    let ttl: i64 = con.ttl("s").await.unwrap();
    assert!((99..=100).contains(&ttl), "ttl after GETEX EX 100: {ttl}");
    let v: String = q(&mut con, &["GETEX", "s", "PERSIST"]).await.unwrap();
    assert_eq!(v, "Hello Redis");
    let ttl: i64 = con.ttl("s").await.unwrap();
    assert_eq!(ttl, -1);
    let v: Option<String> = q(&mut con, &["GETEX", "nokey"]).await.unwrap();
    assert_eq!(v, None);
    let v: Option<String> = q(&mut con, &["GETDEL", "fresh"]).await.unwrap();
    assert_eq!(v.as_deref(), Some("x"));
    let v: Option<String> = q(&mut con, &["GETDEL", "fresh"]).await.unwrap();
    assert_eq!(v, None);

    // DEL / EXISTS (EXISTS counts repeats).
    let n: i64 = q(&mut con, &["EXISTS", "a", "b", "a", "nokey"])
        .await
        .unwrap();
    assert_eq!(n, 3);
    let n: i64 = con.del(&["a", "b", "nokey"]).await.unwrap();
    assert_eq!(n, 2);
    let n: i64 = q(&mut con, &["EXISTS", "a", "b"]).await.unwrap();
    assert_eq!(n, 0);

    // RENAME / COPY / TYPE.
    let () = con.rename("c", "c2").await.unwrap();
    let v: Option<String> = con.get("c").await.unwrap();
    assert_eq!(v, None);
    let v: String = con.get("c2").await.unwrap();
    assert_eq!(v, "3");
    assert_eq!(
        err_of::<String>(&mut con, &["RENAME", "nokey", "x"]).await,
        "ERR no such key"
    );
    let n: i64 = q(&mut con, &["COPY", "c2", "c3"]).await.unwrap();
    assert_eq!(n, 1);
    let n: i64 = q(&mut con, &["COPY", "c2", "c3"]).await.unwrap();
    assert_eq!(n, 0);
    let () = con.set("c2", "changed").await.unwrap();
    let n: i64 = q(&mut con, &["COPY", "c2", "c3", "REPLACE"]).await.unwrap();
    assert_eq!(n, 1);
    let v: String = con.get("c3").await.unwrap();
    assert_eq!(v, "changed");
    let n: i64 = q(&mut con, &["COPY", "c2", "c2db5", "DB", "5"])
        .await
        .unwrap();
    assert_eq!(n, 1);
    let t: String = q(&mut con, &["TYPE", "c3"]).await.unwrap();
    assert_eq!(t, "string");
    let t: String = q(&mut con, &["TYPE", "nokey"]).await.unwrap();
    assert_eq!(t, "none");

    // The DB 5 copy really is in DB 5.
    let mut other = srv.conn().await;
    let () = q(&mut other, &["SELECT", "5"]).await.unwrap();
    let v: String = other.get("c2db5").await.unwrap();
    assert_eq!(v, "changed");
}

#[tokio::test]
async fn expire_ttl_persist() {
    let srv = Server::start(&[]);
    let mut con = srv.conn().await;
    let () = con.set("k", "v").await.unwrap();
    let ttl: i64 = con.ttl("k").await.unwrap();
    assert_eq!(ttl, -1);
    let ttl: i64 = con.ttl("nokey").await.unwrap();
    assert_eq!(ttl, -2);
    let ok: i64 = q(&mut con, &["EXPIRE", "k", "100"]).await.unwrap();
    assert_eq!(ok, 1);
    let ttl: i64 = con.ttl("k").await.unwrap();
    assert!((99..=100).contains(&ttl), "{ttl}");
    let pttl: i64 = con.pttl("k").await.unwrap();
    assert!((98_000..=100_000).contains(&pttl), "{pttl}");
    // NX / XX / GT / LT.
    let r: i64 = q(&mut con, &["EXPIRE", "k", "200", "NX"]).await.unwrap();
    assert_eq!(r, 0);
    let r: i64 = q(&mut con, &["EXPIRE", "k", "50", "GT"]).await.unwrap();
    assert_eq!(r, 0);
    let r: i64 = q(&mut con, &["EXPIRE", "k", "50", "LT"]).await.unwrap();
    assert_eq!(r, 1);
    let ttl: i64 = con.ttl("k").await.unwrap();
    assert!((49..=50).contains(&ttl), "{ttl}");
    let r: i64 = q(&mut con, &["PERSIST", "k"]).await.unwrap();
    assert_eq!(r, 1);
    let r: i64 = q(&mut con, &["PERSIST", "k"]).await.unwrap();
    assert_eq!(r, 0);
    let ttl: i64 = con.ttl("k").await.unwrap();
    assert_eq!(ttl, -1);
    let r: i64 = q(&mut con, &["EXPIRE", "nokey", "10"]).await.unwrap();
    assert_eq!(r, 0);
    assert_eq!(
        err_of::<i64>(&mut con, &["EXPIRE", "k", "abc"]).await,
        "ERR value is not an integer or out of range"
    );
    // SET EX / KEEPTTL.
    let () = q(&mut con, &["SET", "e", "v", "EX", "30"]).await.unwrap();
    let () = q(&mut con, &["SET", "e", "v2", "KEEPTTL"]).await.unwrap();
    let ttl: i64 = con.ttl("e").await.unwrap();
    assert!((29..=30).contains(&ttl), "{ttl}");
    let () = con.set("e", "v3").await.unwrap();
    let ttl: i64 = con.ttl("e").await.unwrap();
    assert_eq!(ttl, -1, "a plain SET clears the TTL");
    // An expired key is gone when accessed.
    let () = q(&mut con, &["SET", "short", "v", "PX", "50"])
        .await
        .unwrap();
    let gone = {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let v: Option<String> = con.get("short").await.unwrap();
            if v.is_none() {
                break true;
            }
            if Instant::now() > deadline {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    assert!(gone, "a PX 50 key was still readable after 5 s");
}

#[tokio::test]
async fn keys_expire_without_being_accessed() {
    let srv = Server::start(&[]);
    let mut con = srv.conn().await;
    let () = con.set("keeper", "stays").await.unwrap();
    let mut pipe = redis::pipe();
    for i in 0..200 {
        pipe.cmd("SET")
            .arg(format!("tmp:{i}"))
            .arg("v")
            .arg("PX")
            .arg(100)
            .ignore();
    }
    let () = pipe.query_async(&mut con).await.unwrap();
    // Only DBSIZE is polled: the keys themselves are never touched, so only
    // active expiry can remove them.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = -1;
    while Instant::now() < deadline && last != 1 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        last = q(&mut con, &["DBSIZE"]).await.unwrap();
    }
    assert_eq!(
        last, 1,
        "active expiry did not remove PX 100 keys within 10 s"
    );
    let info: String = q(&mut con, &["INFO", "stats"]).await.unwrap();
    let expired: i64 = info_field(&info, "expired_keys")
        .expect("expired_keys in INFO stats")
        .parse()
        .unwrap();
    assert_eq!(expired, 200, "INFO stats expired_keys");
    let v: String = con.get("keeper").await.unwrap();
    assert_eq!(v, "stays");
}

async fn full_scan(con: &mut MultiplexedConnection, extra: &[&str]) -> Vec<String> {
    let mut cursor = "0".to_string();
    let mut out = Vec::new();
    let mut calls = 0;
    loop {
        let mut args = vec!["SCAN", cursor.as_str()];
        args.extend_from_slice(extra);
        let (next, keys): (String, Vec<String>) = q(con, &args).await.unwrap();
        out.extend(keys);
        calls += 1;
        assert!(calls < 1_000_000, "SCAN did not terminate");
        if next == "0" {
            return out;
        }
        cursor = next;
    }
}

#[tokio::test]
async fn scan_returns_every_key() {
    let srv = Server::start(&[]);
    let mut con = srv.conn().await;
    let mut want = HashSet::new();
    let mut pipe = redis::pipe();
    for i in 0..3000 {
        let k = format!("key:{i}");
        pipe.set(&k, i).ignore();
        want.insert(k);
    }
    let () = pipe.query_async(&mut con).await.unwrap();
    for extra in [&[][..], &["COUNT", "7"][..], &["COUNT", "1000"][..]] {
        let got: HashSet<String> = full_scan(&mut con, extra).await.into_iter().collect();
        assert_eq!(got, want, "SCAN {extra:?}");
    }
    let got: HashSet<String> = full_scan(&mut con, &["MATCH", "key:1??", "COUNT", "50"])
        .await
        .into_iter()
        .collect();
    let want_match: HashSet<String> = (100..200).map(|i| format!("key:{i}")).collect();
    assert_eq!(got, want_match);
    let got = full_scan(&mut con, &["TYPE", "string", "COUNT", "100"]).await;
    assert_eq!(got.into_iter().collect::<HashSet<_>>().len(), 3000);
    let got = full_scan(&mut con, &["TYPE", "list"]).await;
    assert!(got.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_returns_every_key_while_others_are_added() {
    let srv = Server::start(&[]);
    let mut con = srv.conn().await;
    let mut original = HashSet::new();
    let mut pipe = redis::pipe();
    for i in 0..3000 {
        let k = format!("old:{i}");
        pipe.set(&k, "x").ignore();
        original.insert(k);
    }
    let () = pipe.query_async(&mut con).await.unwrap();

    // A second client keeps adding keys, on its own task, until told to stop.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writer_con = srv.conn().await;
    let writer_stop = stop.clone();
    let writer = tokio::spawn(async move {
        let mut i = 0u64;
        while !writer_stop.load(std::sync::atomic::Ordering::Relaxed) && i < 200_000 {
            let mut p = redis::pipe();
            for _ in 0..20 {
                p.set(format!("bg:{i}"), "y").ignore();
                i += 1;
            }
            let () = p.query_async(&mut writer_con).await.unwrap();
        }
        i
    });

    // The scanning client also adds a batch between cursor steps, so the
    // table certainly grows (and rehashes) in the middle of the iteration.
    let mut adder = srv.conn().await;
    let mut cursor = "0".to_string();
    let mut seen = HashSet::new();
    let mut step = 0u64;
    loop {
        let (next, keys): (String, Vec<String>) = q(&mut con, &["SCAN", &cursor, "COUNT", "20"])
            .await
            .unwrap();
        seen.extend(keys);
        let mut p = redis::pipe();
        for j in 0..50 {
            p.set(format!("new:{step}:{j}"), "z").ignore();
        }
        let () = p.query_async(&mut adder).await.unwrap();
        step += 1;
        assert!(step < 100_000, "SCAN did not terminate");
        if next == "0" {
            break;
        }
        cursor = next;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = tokio::time::timeout(IO_TIMEOUT, writer)
        .await
        .expect("writer stuck")
        .unwrap();
    let missing: Vec<_> = original.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "SCAN missed {} keys present throughout, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    for k in &seen {
        assert!(
            k.starts_with("old:") || k.starts_with("new:") || k.starts_with("bg:"),
            "SCAN returned a key never written: {k}"
        );
    }
    let size: i64 = q(&mut con, &["DBSIZE"]).await.unwrap();
    assert_eq!(
        size as u64,
        3000 + step * 50 + written,
        "DBSIZE after the concurrent writes"
    );
}

#[tokio::test]
async fn keys_dbsize_flushdb_and_select() {
    let srv = Server::start(&[]);
    let mut con = srv.conn().await;
    let () = con
        .mset(&[("user:1", "a"), ("user:2", "b"), ("item:1", "c")])
        .await
        .unwrap();
    let mut keys: Vec<String> = con.keys("user:*").await.unwrap();
    keys.sort();
    assert_eq!(keys, vec!["user:1", "user:2"]);
    let mut keys: Vec<String> = con.keys("*").await.unwrap();
    keys.sort();
    assert_eq!(keys, vec!["item:1", "user:1", "user:2"]);
    let n: i64 = q(&mut con, &["DBSIZE"]).await.unwrap();
    assert_eq!(n, 3);

    // Databases are separate; FLUSHDB empties only the selected one.
    let mut db15 = srv.conn().await;
    let () = q(&mut db15, &["SELECT", "15"]).await.unwrap();
    let n: i64 = q(&mut db15, &["DBSIZE"]).await.unwrap();
    assert_eq!(n, 0);
    let () = db15.set("in15", "yes").await.unwrap();
    let v: Option<String> = con.get("in15").await.unwrap();
    assert_eq!(v, None);
    let () = q(&mut con, &["FLUSHDB"]).await.unwrap();
    let n: i64 = q(&mut con, &["DBSIZE"]).await.unwrap();
    assert_eq!(n, 0);
    let v: String = db15.get("in15").await.unwrap();
    assert_eq!(v, "yes");

    assert_eq!(
        err_of::<()>(&mut con, &["SELECT", "16"]).await,
        "ERR DB index is out of range"
    );
    assert_eq!(
        err_of::<()>(&mut con, &["SELECT", "-1"]).await,
        "ERR DB index is out of range"
    );
    // The failed SELECT left the connection on DB 0.
    let () = con.set("still0", "1").await.unwrap();
    let n: i64 = q(&mut db15, &["EXISTS", "still0"]).await.unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn databases_option_limits_select() {
    let srv = Server::start(&["--databases", "10"]);
    let mut con = srv.conn().await;
    let () = q(&mut con, &["SELECT", "9"]).await.unwrap();
    assert_eq!(
        err_of::<()>(&mut con, &["SELECT", "10"]).await,
        "ERR DB index is out of range"
    );
    let cfg: Vec<String> = q(&mut con, &["CONFIG", "GET", "databases"]).await.unwrap();
    assert_eq!(cfg, vec!["databases", "10"]);
}

#[tokio::test]
async fn multi_exec_discard() {
    let srv = Server::start(&[]);
    let mut con = srv.conn().await;
    // MULTI/EXEC as the crate's atomic pipeline.
    let (a, b, c): (i64, i64, String) = redis::pipe()
        .atomic()
        .cmd("INCR")
        .arg("tx")
        .cmd("INCRBY")
        .arg("tx")
        .arg(10)
        .cmd("GET")
        .arg("tx")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!((a, b, c.as_str()), (1, 11, "11"));

    // Step by step, on one connection.
    let ok: String = q(&mut con, &["MULTI"]).await.unwrap();
    assert_eq!(ok, "OK");
    let queued: String = q(&mut con, &["SET", "d", "1"]).await.unwrap();
    assert_eq!(queued, "QUEUED");
    let ok: String = q(&mut con, &["DISCARD"]).await.unwrap();
    assert_eq!(ok, "OK");
    let v: Option<String> = con.get("d").await.unwrap();
    assert_eq!(v, None, "DISCARD must drop the queued SET");

    assert_eq!(
        err_of::<Value>(&mut con, &["EXEC"]).await,
        "ERR EXEC without MULTI"
    );
    assert_eq!(
        err_of::<Value>(&mut con, &["DISCARD"]).await,
        "ERR DISCARD without MULTI"
    );

    // A queueing error aborts the whole transaction.
    let _: String = q(&mut con, &["MULTI"]).await.unwrap();
    let _: String = q(&mut con, &["SET", "e", "1"]).await.unwrap();
    assert_eq!(
        err_of::<Value>(&mut con, &["SET", "e"]).await,
        "ERR wrong number of arguments for 'set' command"
    );
    assert_eq!(
        err_of::<Value>(&mut con, &["EXEC"]).await,
        "EXECABORT Transaction discarded because of previous errors."
    );
    let v: Option<String> = con.get("e").await.unwrap();
    assert_eq!(v, None);

    // A runtime error inside EXEC does not roll back the others.
    let _: String = q(&mut con, &["MULTI"]).await.unwrap();
    let _: String = q(&mut con, &["SET", "s", "notanumber"]).await.unwrap();
    let _: String = q(&mut con, &["INCR", "s"]).await.unwrap();
    let _: String = q(&mut con, &["SET", "t", "ok"]).await.unwrap();
    let mut r = srv.raw();
    // The EXEC reply itself, checked on the wire from a second client doing the same.
    let wire = {
        r.call(&["MULTI"]);
        r.call(&["SET", "s2", "notanumber"]);
        r.call(&["INCR", "s2"]);
        r.call(&["EXEC"])
    };
    assert_eq!(
        wire,
        b"*2\r\n+OK\r\n-ERR value is not an integer or out of range\r\n"
    );
    // The crate surfaces the error inside EXEC's array as the call's error.
    assert_eq!(
        err_of::<Value>(&mut con, &["EXEC"]).await,
        "ERR value is not an integer or out of range"
    );
    let v: String = con.get("s").await.unwrap();
    assert_eq!(v, "notanumber");
    let v: String = con.get("t").await.unwrap();
    assert_eq!(v, "ok");

    // Nested MULTI is an error but keeps the transaction open.
    assert_eq!(r.call(&["MULTI"]), b"+OK\r\n");
    assert_eq!(
        r.call(&["MULTI"]),
        b"-ERR MULTI calls can not be nested\r\n"
    );
    assert_eq!(r.call(&["EXEC"]), b"*0\r\n");
}

#[tokio::test]
async fn error_strings_match_redis() {
    let srv = Server::start(&[]);
    let mut con = srv.conn().await;
    assert_eq!(
        err_of::<Value>(&mut con, &["GET"]).await,
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(
        err_of::<Value>(&mut con, &["GET", "a", "b"]).await,
        "ERR wrong number of arguments for 'get' command"
    );
    let () = con.set("str", "abc").await.unwrap();
    assert_eq!(
        err_of::<Value>(&mut con, &["INCR", "str"]).await,
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err_of::<Value>(&mut con, &["INCRBY", "n", "1.5"]).await,
        "ERR value is not an integer or out of range"
    );
    let () = con.set("max", i64::MAX).await.unwrap();
    assert_eq!(
        err_of::<Value>(&mut con, &["INCR", "max"]).await,
        "ERR increment or decrement would overflow"
    );
    assert_eq!(
        err_of::<Value>(&mut con, &["SET", "a", "b", "NX", "XX"]).await,
        "ERR syntax error"
    );
    let n: i64 = q(&mut con, &["LPUSH", "list", "x"]).await.unwrap();
    assert_eq!(n, 1);
    for cmd in [
        &["GET", "list"][..],
        &["INCR", "list"],
        &["APPEND", "list", "y"],
        &["STRLEN", "list"],
        &["GETRANGE", "list", "0", "1"],
    ] {
        assert_eq!(
            err_of::<Value>(&mut con, cmd).await,
            "WRONGTYPE Operation against a key holding the wrong kind of value",
            "{cmd:?}"
        );
    }
    assert_eq!(
        err_of::<Value>(&mut con, &["SET", "a", "b", "EX", "0"]).await,
        "ERR invalid expire time in 'set' command"
    );
    assert_eq!(
        err_of::<Value>(&mut con, &["foo", "bar"]).await,
        "ERR unknown command 'foo', with args beginning with: 'bar' "
    );
    // On the wire, byte for byte.
    let mut r = srv.raw();
    assert_eq!(
        r.call(&["foo", "bar"]),
        b"-ERR unknown command 'foo', with args beginning with: 'bar' \r\n"
    );
    assert_eq!(
        r.call(&["get"]),
        b"-ERR wrong number of arguments for 'get' command\r\n"
    );
    assert_eq!(
        r.call(&["set", "k", "v", "xx", "nx"]),
        b"-ERR syntax error\r\n"
    );
    assert_eq!(
        r.call(&["get", "list"]),
        b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    // Errors never close the connection.
    assert_eq!(r.call(&["PING"]), b"+PONG\r\n");
}

#[tokio::test]
async fn requirepass_and_auth() {
    let srv = Server::start(&["--requirepass", "secret"]);
    let mut r = srv.raw();
    assert_eq!(
        r.call(&["GET", "k"]),
        b"-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(
        r.call(&["SET", "k", "v"]),
        b"-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(
        r.call(&["AUTH", "wrong"]),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(
        r.call(&["AUTH", "default", "wrong"]),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(r.call(&["AUTH", "secret"]), b"+OK\r\n");
    assert_eq!(r.call(&["SET", "k", "v"]), b"+OK\r\n");
    assert_eq!(r.call(&["GET", "k"]), b"$1\r\nv\r\n");

    // Through the crate: no password fails, the right one works.
    let client = redis::Client::open(srv.url()).unwrap();
    let mut anon = client.get_multiplexed_async_connection().await.unwrap();
    let e: RedisResult<Option<String>> = anon.get("k").await;
    assert_eq!(err_line(&e.unwrap_err()), "NOAUTH Authentication required.");
    let mut authed = connect_url(&format!("redis://:secret@127.0.0.1:{}/", srv.port)).await;
    let v: String = authed.get("k").await.unwrap();
    assert_eq!(v, "v");
}

#[tokio::test]
async fn hello_with_requirepass() {
    let srv = Server::start(&["--requirepass", "secret"]);
    let mut r = srv.raw();
    assert_eq!(
        r.call(&["SET", "k", "v"]),
        b"-NOAUTH Authentication required.\r\n"
    );
    let mut h = srv.raw();
    let hello = h.call(&["HELLO", "3", "AUTH", "default", "secret"]);
    assert!(
        hello.starts_with(b"%7\r\n"),
        "{}",
        String::from_utf8_lossy(&hello)
    );
    assert_eq!(h.call(&["SET", "k", "v"]), b"+OK\r\n");
    assert_eq!(h.call(&["GET", "k"]), b"$1\r\nv\r\n");
    assert_eq!(
        h.call(&["HELLO", "3", "AUTH", "default", "nope"]),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    // HELLO before AUTH is refused with Redis 7.0's exact text (7.2 added "<proto>").
    assert_eq!(
        String::from_utf8_lossy(&r.call(&["HELLO", "3"])),
        "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n"
    );
}

#[tokio::test]
async fn hello_3_switches_to_resp3() {
    let srv = Server::start(&[]);
    let mut r = srv.raw();
    // RESP2 first.
    assert_eq!(r.call(&["GET", "nokey"]), b"$-1\r\n");
    assert_eq!(
        r.call(&["CONFIG", "GET", "maxmemory"]),
        b"*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"
    );
    let hello = r.call(&["HELLO", "3"]);
    let text = String::from_utf8_lossy(&hello).into_owned();
    assert!(
        hello.starts_with(b"%7\r\n"),
        "HELLO 3 must answer a RESP3 map: {text}"
    );
    assert!(text.contains("$6\r\nserver\r\n$5\r\nredis\r\n"), "{text}");
    assert!(text.contains("$7\r\nversion\r\n$6\r\n7.0.15\r\n"), "{text}");
    assert!(text.contains("$5\r\nproto\r\n:3\r\n"), "{text}");
    assert!(
        text.contains("$4\r\nmode\r\n$10\r\nstandalone\r\n"),
        "{text}"
    );
    assert!(text.contains("$4\r\nrole\r\n$6\r\nmaster\r\n"), "{text}");
    assert!(text.contains("$7\r\nmodules\r\n*0\r\n"), "{text}");
    // Now RESP3: null is `_`, CONFIG GET a map.
    assert_eq!(r.call(&["GET", "nokey"]), b"_\r\n");
    assert_eq!(
        r.call(&["CONFIG", "GET", "maxmemory"]),
        b"%1\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"
    );
    assert_eq!(r.call(&["INCRBYFLOAT", "f", "1.5"]), b"$3\r\n1.5\r\n");
    // Back to RESP2.
    let hello2 = r.call(&["HELLO", "2"]);
    assert!(
        hello2.starts_with(b"*14\r\n"),
        "{}",
        String::from_utf8_lossy(&hello2)
    );
    assert_eq!(r.call(&["GET", "nokey"]), b"$-1\r\n");
    assert_eq!(
        r.call(&["HELLO", "4"]),
        b"-NOPROTO unsupported protocol version\r\n"
    );
}

#[tokio::test]
async fn client_setname_getname_id_list_kill() {
    let srv = Server::start(&[]);
    let mut con = srv.conn().await;
    let name: Option<String> = q(&mut con, &["CLIENT", "GETNAME"]).await.unwrap();
    assert_eq!(name, None);
    let () = q(&mut con, &["CLIENT", "SETNAME", "app-main"])
        .await
        .unwrap();
    let name: Option<String> = q(&mut con, &["CLIENT", "GETNAME"]).await.unwrap();
    assert_eq!(name.as_deref(), Some("app-main"));
    assert_eq!(
        err_of::<()>(&mut con, &["CLIENT", "SETNAME", "bad name"]).await,
        "ERR Client names cannot contain spaces, newlines or special characters."
    );
    let my_id: i64 = q(&mut con, &["CLIENT", "ID"]).await.unwrap();
    assert!(my_id > 0);

    // A victim on raw TCP, named so it can be found in CLIENT LIST.
    let mut victim = srv.raw();
    assert_eq!(victim.call(&["CLIENT", "SETNAME", "victim"]), b"+OK\r\n");
    let victim_id = {
        let reply = victim.call(&["CLIENT", "ID"]);
        let s = String::from_utf8(reply).unwrap();
        s.trim_start_matches(':').trim().parse::<i64>().unwrap()
    };
    assert_ne!(victim_id, my_id);

    let list: String = q(&mut con, &["CLIENT", "LIST"]).await.unwrap();
    let line_of = |name: &str| {
        list.lines()
            .find(|l| l.split(' ').any(|f| f == format!("name={name}")))
            .map(str::to_string)
    };
    let mine = line_of("app-main")
        .unwrap_or_else(|| panic!("own client missing from CLIENT LIST:\n{list}"));
    assert!(mine.starts_with(&format!("id={my_id} ")), "{mine}");
    assert!(mine.contains(" cmd=client|list "), "{mine}");
    assert!(mine.contains(" db=0 "), "{mine}");
    let theirs =
        line_of("victim").unwrap_or_else(|| panic!("victim missing from CLIENT LIST:\n{list}"));
    assert!(theirs.starts_with(&format!("id={victim_id} ")), "{theirs}");
    let victim_addr = victim.stream.local_addr().unwrap().to_string();
    assert!(
        theirs.contains(&format!(" addr={victim_addr} ")),
        "{theirs} vs {victim_addr}"
    );
    let filtered: String = q(&mut con, &["CLIENT", "LIST", "ID", &victim_id.to_string()])
        .await
        .unwrap();
    assert_eq!(filtered.lines().count(), 1, "{filtered}");
    assert!(filtered.starts_with(&format!("id={victim_id} ")));

    // KILL by ID closes exactly that connection.
    let killed: i64 = q(&mut con, &["CLIENT", "KILL", "ID", &victim_id.to_string()])
        .await
        .unwrap();
    assert_eq!(killed, 1);
    assert!(
        victim.wait_closed(IO_TIMEOUT),
        "killed client's connection was not closed"
    );
    // (That the kill takes effect at once is client_kill_is_immediate's subject.)
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let list: String = q(&mut con, &["CLIENT", "LIST"]).await.unwrap();
        if !list.contains("name=victim ") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "killed client still listed after 10 s:\n{list}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let killed: i64 = q(&mut con, &["CLIENT", "KILL", "ID", &victim_id.to_string()])
        .await
        .unwrap();
    assert_eq!(killed, 0);
    // The old form: CLIENT KILL addr:port.
    let mut victim2 = srv.raw();
    assert_eq!(victim2.call(&["PING"]), b"+PONG\r\n");
    let addr2 = victim2.stream.local_addr().unwrap().to_string();
    let () = q(&mut con, &["CLIENT", "KILL", &addr2]).await.unwrap();
    assert!(
        victim2.wait_closed(IO_TIMEOUT),
        "CLIENT KILL addr did not close the connection"
    );
    assert_eq!(
        err_of::<()>(&mut con, &["CLIENT", "KILL", "1.2.3.4:5"]).await,
        "ERR No such client"
    );
    // The killer is unaffected.
    let pong: String = q(&mut con, &["PING"]).await.unwrap();
    assert_eq!(pong, "PONG");
    let list: String = q(&mut con, &["CLIENT", "LIST"]).await.unwrap();
    assert!(
        !list.contains("name=victim "),
        "killed client still listed:\n{list}"
    );
}

/// In Redis, CLIENT KILL frees the other client before replying: right after
/// it, the client is gone from CLIENT LIST and cannot be killed again.
#[tokio::test]
async fn client_kill_is_immediate() {
    let srv = Server::start(&[]);
    let mut con = srv.conn().await;
    for round in 0..500 {
        let mut victim = srv.raw();
        let reply = victim.call(&["CLIENT", "ID"]);
        let id = String::from_utf8(reply)
            .unwrap()
            .trim_start_matches(':')
            .trim()
            .to_string();
        let killed: i64 = q(&mut con, &["CLIENT", "KILL", "ID", &id]).await.unwrap();
        assert_eq!(killed, 1, "round {round}");
        let list: String = q(&mut con, &["CLIENT", "LIST", "ID", &id]).await.unwrap();
        assert_eq!(
            list, "",
            "round {round}: client {id} still listed right after CLIENT KILL returned"
        );
        let again: i64 = q(&mut con, &["CLIENT", "KILL", "ID", &id]).await.unwrap();
        assert_eq!(again, 0, "round {round}: client {id} could be killed twice");
        assert!(
            victim.wait_closed(IO_TIMEOUT),
            "round {round}: connection not closed"
        );
    }
}
