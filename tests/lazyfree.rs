//! Lazy freeing: UNLINK, FLUSHALL/FLUSHDB ASYNC and the lazyfree-lazy-*
//! directives free big values on a background thread, and INFO counts
//! them as Redis does (lazyfree_pending_objects, lazyfreed_objects).

mod common;
use common::*;
use std::time::Duration;

fn info_num(srv: &Server, field: &str) -> u64 {
    let info = srv.cli(&["INFO", "memory"]);
    info_field(&info, field)
        .unwrap_or_else(|| panic!("no {field} in {info}"))
        .parse()
        .unwrap()
}

/// Wait for the background thread, then read lazyfreed_objects.
fn freed_after_drain(srv: &Server) -> u64 {
    assert!(
        wait_until(Duration::from_secs(10), || info_num(
            srv,
            "lazyfree_pending_objects"
        ) == 0),
        "lazyfree never drained"
    );
    info_num(srv, "lazyfreed_objects")
}

fn big_set(srv: &Server, key: &str, n: usize) {
    let members: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    let mut args = vec!["SADD", key];
    args.extend(members.iter().map(String::as_str));
    assert_eq!(srv.cli(&args).trim(), n.to_string());
}

#[test]
fn unlink_frees_big_values_in_the_background_and_counts_them() {
    let srv = Server::start(&[]);
    assert_eq!(freed_after_drain(&srv), 0);
    big_set(&srv, "big", 1000);
    srv.cli(&["SADD", "small", "a", "b"]);
    // A big value is lazily freed; a small one (effort 1) is freed in place.
    assert_eq!(srv.cli(&["UNLINK", "big", "small", "missing"]).trim(), "2");
    assert_eq!(freed_after_drain(&srv), 1);
    // DEL frees in place unless lazyfree-lazy-user-del.
    big_set(&srv, "big", 1000);
    assert_eq!(srv.cli(&["DEL", "big"]).trim(), "1");
    assert_eq!(freed_after_drain(&srv), 1);
    srv.cli(&["CONFIG", "SET", "lazyfree-lazy-user-del", "yes"]);
    big_set(&srv, "big", 1000);
    assert_eq!(srv.cli(&["DEL", "big"]).trim(), "1");
    assert_eq!(freed_after_drain(&srv), 2);
    assert_eq!(srv.cli(&["CONFIG", "RESETSTAT"]).trim(), "OK");
    assert_eq!(info_num(&srv, "lazyfreed_objects"), 0);
}

#[test]
fn async_flushes_count_every_key() {
    let srv = Server::start(&[]);
    srv.cli(&["MSET", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(srv.cli(&["FLUSHALL", "ASYNC"]).trim(), "OK");
    assert_eq!(srv.cli(&["DBSIZE"]).trim(), "0");
    assert_eq!(freed_after_drain(&srv), 3);
    srv.cli(&["MSET", "a", "1", "b", "2"]);
    assert_eq!(srv.cli(&["FLUSHDB"]).trim(), "OK");
    assert_eq!(freed_after_drain(&srv), 3);
    srv.cli(&["CONFIG", "SET", "lazyfree-lazy-user-flush", "yes"]);
    srv.cli(&["MSET", "a", "1", "b", "2"]);
    assert_eq!(srv.cli(&["FLUSHDB"]).trim(), "OK");
    assert_eq!(freed_after_drain(&srv), 5);
    // SYNC overrides the directive.
    srv.cli(&["SET", "x", "y"]);
    assert_eq!(srv.cli(&["FLUSHALL", "SYNC"]).trim(), "OK");
    assert_eq!(freed_after_drain(&srv), 5);
}

#[test]
fn streams_are_lazily_freed_by_their_node_count() {
    let srv = Server::start(&[]);
    srv.cli(&["CONFIG", "SET", "stream-node-max-entries", "5"]);
    for j in 0..1000 {
        let v = j.to_string();
        srv.cli(&["XADD", "stream", "*", "foo", &v]);
    }
    srv.cli(&["XGROUP", "CREATE", "stream", "g", "0"]);
    srv.cli(&["UNLINK", "stream"]);
    assert_eq!(freed_after_drain(&srv), 1);
    // One entry and no group: freed in place.
    srv.cli(&["XADD", "s", "*", "a", "b"]);
    srv.cli(&["XGROUP", "CREATE", "s", "bla", "$"]);
    srv.cli(&["XGROUP", "DESTROY", "s", "bla"]);
    srv.cli(&["UNLINK", "s"]);
    assert_eq!(freed_after_drain(&srv), 1);
}

#[test]
fn lazy_server_del_and_expire_free_in_the_background() {
    let srv = Server::start(&[
        "--lazyfree-lazy-server-del",
        "yes",
        "--lazyfree-lazy-expire",
        "yes",
    ]);
    big_set(&srv, "big", 1000);
    // Overwriting a big value frees the old one lazily.
    assert_eq!(srv.cli(&["SET", "big", "x"]).trim(), "OK");
    assert_eq!(freed_after_drain(&srv), 1);
    big_set(&srv, "exp", 1000);
    srv.cli(&["PEXPIRE", "exp", "1"]);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(srv.cli(&["EXISTS", "exp"]).trim(), "0");
    assert_eq!(freed_after_drain(&srv), 2);
}
