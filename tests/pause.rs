//! CLIENT PAUSE WRITE and scripts: a script that declares its flags is
//! held only if it may write (Redis's scriptFlagsToCmdFlags); one without
//! a shebang may replicate, so it is held.

mod common;
use common::*;
use std::time::Duration;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Send `args` on a fresh connection; its reply within `wait`, if any.
fn try_call(srv: &Server, args: &[&str], wait: Duration) -> (Raw, Option<String>) {
    let mut r = srv.raw();
    r.send(&encode(args));
    let reply = r.read_reply(wait).map(|b| text(&b));
    (r, reply)
}

#[test]
fn pause_write_holds_only_scripts_that_may_write() {
    let srv = Server::start(&[]);
    let lib = "#!lua name=lib\n\
        redis.register_function{function_name='ro', callback=function() return 'hello' end, flags={'no-writes'}}\n\
        redis.register_function{function_name='rw', callback=function() return 'w' end}";
    assert_eq!(text(&srv.cmd(&["FUNCTION", "LOAD", lib])), "$3\r\nlib\r\n");
    let cached_ro = text(&srv.cmd(&["SCRIPT", "LOAD", "#!lua flags=no-writes\nreturn 2"]));
    let cached_ro = cached_ro.lines().nth(1).unwrap().to_string();
    assert_eq!(
        text(&srv.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"])),
        "+OK\r\n"
    );
    let quick = Duration::from_millis(300);
    // Declared no-writes: run at once, cached or not.
    for args in [
        &["EVAL", "#!lua flags=no-writes\nreturn 'unique'", "0"][..],
        &["EVALSHA", &cached_ro, "0"],
        &["FCALL", "ro", "0"],
        &["EVAL_RO", "return 1", "0"],
    ] {
        let (_, reply) = try_call(&srv, args, Duration::from_secs(5));
        assert!(reply.is_some(), "{args:?} was held");
    }
    // May write: held until the pause ends.
    let held: Vec<(Raw, Option<String>)> = [
        &["EVAL", "return 1", "0"][..],
        &["EVAL", "#!lua\nreturn 1", "0"],
        &["FCALL", "rw", "0"],
    ]
    .iter()
    .map(|args| try_call(&srv, args, quick))
    .collect();
    for (_, reply) in &held {
        assert_eq!(
            reply, &None,
            "a writing script ran during CLIENT PAUSE WRITE"
        );
    }
    assert_eq!(text(&srv.cmd(&["CLIENT", "UNPAUSE"])), "+OK\r\n");
    for (mut r, _) in held {
        assert!(
            r.read_reply(Duration::from_secs(5)).is_some(),
            "not released by UNPAUSE"
        );
    }
}
