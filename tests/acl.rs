//! ACLs: users, rules, AUTH / HELLO AUTH, enforcement at the top level, in
//! MULTI/EXEC and in scripts, the ACL log, DRYRUN, the ACL file and `user`
//! directives, and a differential run of ACL replies against a real Redis 7.0.

mod common;

use common::*;
use std::time::Duration;

fn s(reply: Vec<u8>) -> String {
    String::from_utf8_lossy(&reply).into_owned()
}

#[test]
fn users_auth_whoami_and_getuser() {
    let srv = Server::start(&[]);
    let mut r = srv.raw();
    assert_eq!(s(r.call(&["ACL", "WHOAMI"])), "$7\r\ndefault\r\n");
    assert_eq!(
        s(r.call(&["ACL", "LIST"])),
        "*1\r\n$34\r\nuser default on nopass ~* &* +@all\r\n"
    );
    assert_eq!(
        s(r.call(&["AUTH", "x"])),
        "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"
    );
    assert_eq!(
        s(r.call(&["ACL", "SETUSER", "bob", "on", ">secret", "~k*", "+get"])),
        "+OK\r\n"
    );
    assert_eq!(
        s(r.call(&["AUTH", "bob", "wrong"])),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(s(r.call(&["AUTH", "bob", "secret"])), "+OK\r\n");
    assert_eq!(
        s(r.call(&["ACL", "WHOAMI"])),
        "-NOPERM this user has no permissions to run the 'acl|whoami' command\r\n"
    );
    assert!(s(srv.raw().call(&["CLIENT", "LIST"])).contains(" user=bob "));
    assert_eq!(s(r.call(&["RESET"])), "+RESET\r\n");
    assert_eq!(s(r.call(&["ACL", "WHOAMI"])), "$7\r\ndefault\r\n");

    // GETUSER's shape: flags (a set), passwords, commands, keys, channels, selectors.
    let hash = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";
    let getuser = s(r.call(&["ACL", "GETUSER", "bob"]));
    let want = format!(
        "*12\r\n$5\r\nflags\r\n*1\r\n$2\r\non\r\n$9\r\npasswords\r\n*1\r\n$64\r\n{hash}\r\n\
         $8\r\ncommands\r\n$10\r\n-@all +get\r\n$4\r\nkeys\r\n$3\r\n~k*\r\n\
         $8\r\nchannels\r\n$0\r\n\r\n$9\r\nselectors\r\n*0\r\n"
    );
    assert_eq!(getuser, want);
    assert_eq!(s(r.call(&["ACL", "GETUSER", "nobody"])), "$-1\r\n");
    // RESP3: a map, flags as a set, selectors as maps.
    r.call(&["HELLO", "3"]);
    r.call(&["ACL", "SETUSER", "bob", "(+set ~w*)"]);
    let g3 = s(r.call(&["ACL", "GETUSER", "bob"]));
    assert!(
        g3.starts_with("%6\r\n$5\r\nflags\r\n~1\r\n$2\r\non\r\n"),
        "{g3}"
    );
    assert!(
        g3.ends_with("$9\r\nselectors\r\n*1\r\n%3\r\n$8\r\ncommands\r\n$10\r\n-@all +set\r\n$4\r\nkeys\r\n$3\r\n~w*\r\n$8\r\nchannels\r\n$0\r\n\r\n"),
        "{g3}"
    );
    // HELLO AUTH switches user.
    let mut r2 = srv.raw();
    let hello = s(r2.call(&["HELLO", "2", "AUTH", "bob", "secret"]));
    assert!(hello.starts_with("*14\r\n"), "{hello}");
    assert!(s(r2.call(&["CLIENT", "LIST"])).starts_with("-NOPERM"));
}

#[test]
fn requirepass_is_the_default_users_password() {
    let srv = Server::start(&["--requirepass", "pw"]);
    let mut r = srv.raw();
    assert_eq!(s(r.call(&["PING"])), "-NOAUTH Authentication required.\r\n");
    assert_eq!(s(r.call(&["AUTH", "pw"])), "+OK\r\n");
    // The harness saw NOAUTH, which comes before LOADING: wait for the load.
    assert!(wait_until(Duration::from_secs(10), || s(r.call(&["PING"]))
        == "+PONG\r\n"));
    let list = s(r.call(&["ACL", "LIST"]));
    assert!(
        list.contains("user default on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~* &* +@all"),
        "{list}"
    );
    assert_eq!(s(r.call(&["CONFIG", "SET", "requirepass", ""])), "+OK\r\n");
    let mut fresh = srv.raw();
    assert_eq!(s(fresh.call(&["PING"])), "+PONG\r\n");
    assert!(s(fresh.call(&["ACL", "LIST"])).contains("user default on nopass ~* &* +@all"));
}

#[test]
fn enforcement_keys_channels_multi_and_scripts() {
    let srv = Server::start(&[]);
    let mut admin = srv.raw();
    admin.call(&[
        "ACL",
        "SETUSER",
        "u",
        "on",
        "nopass",
        "%R~r*",
        "%W~w*",
        "~rw*",
        "&news.*",
        "+@all",
        "-flushall",
    ]);
    let mut r = srv.raw();
    assert_eq!(s(r.call(&["AUTH", "u", "x"])), "+OK\r\n");
    let nokey =
        "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n";
    assert_eq!(s(r.call(&["GET", "r1"])), "$-1\r\n");
    assert_eq!(s(r.call(&["SET", "r1", "v"])), nokey);
    assert_eq!(s(r.call(&["LPUSH", "w1", "v"])), ":1\r\n");
    assert_eq!(s(r.call(&["GET", "w1"])), nokey);
    assert_eq!(s(r.call(&["SET", "w1", "v", "GET"])), nokey);
    assert_eq!(s(r.call(&["SET", "rw1", "v", "GET"])), "$-1\r\n");
    // Existence tests need no particular permission, just a matching pattern.
    assert_eq!(s(r.call(&["EXISTS", "w1"])), ":1\r\n");
    assert_eq!(s(r.call(&["EXISTS", "other"])), nokey);
    assert_eq!(
        s(r.call(&["FLUSHALL"])),
        "-NOPERM this user has no permissions to run the 'flushall' command\r\n"
    );
    assert_eq!(s(r.call(&["PUBLISH", "news.x", "m"])), ":0\r\n");
    assert_eq!(
        s(r.call(&["PUBLISH", "sport", "m"])),
        "-NOPERM this user has no permissions to access one of the channels used as arguments\r\n"
    );
    // MULTI: refused at queue time flags the transaction.
    assert_eq!(s(r.call(&["MULTI"])), "+OK\r\n");
    assert_eq!(s(r.call(&["SET", "r2", "v"])), nokey);
    assert_eq!(
        s(r.call(&["EXEC"])),
        "-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    // Rules changed between queueing and EXEC.
    assert_eq!(s(r.call(&["MULTI"])), "+OK\r\n");
    assert_eq!(s(r.call(&["INCR", "rw:n"])), "+QUEUED\r\n");
    admin.call(&["ACL", "SETUSER", "u", "-incr"]);
    assert_eq!(
        s(r.call(&["EXEC"])),
        "*1\r\n-NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: no permission to execute the command or subcommand\r\n"
    );
    // Scripts run with the caller's rules.
    let e = s(r.call(&["EVAL", "return redis.call('set','r3','v')", "0"]));
    assert!(
        e.starts_with("-ERR The user executing the script can't access at least one of the keys mentioned in the command arguments"),
        "{e}"
    );
    assert_eq!(
        s(r.call(&["EVAL", "return redis.acl_check_cmd('incr','rw')", "0"])),
        "$-1\r\n"
    );
    assert_eq!(
        s(r.call(&["EVAL", "return redis.acl_check_cmd('get','r5')", "0"])),
        ":1\r\n"
    );
    // SORT BY needs read access to every key.
    assert_eq!(
        s(r.call(&["SORT", "rwlist", "BY", "x*"])),
        "-ERR BY option of SORT denied due to insufficient ACL permissions.\r\n"
    );
    // The log: newest first, with Redis's fields.
    let log = s(admin.call(&["ACL", "LOG", "2"]));
    assert!(log.starts_with("*2\r\n*14\r\n$5\r\ncount\r\n:1\r\n$6\r\nreason\r\n$3\r\nkey\r\n$7\r\ncontext\r\n$3\r\nlua\r\n$6\r\nobject\r\n$2\r\nr3\r\n$8\r\nusername\r\n$1\r\nu\r\n$11\r\nage-seconds\r\n"), "{log}");
    assert!(log.contains("$7\r\ncontext\r\n$5\r\nmulti\r\n$6\r\nobject\r\n$4\r\nincr\r\n"));
    assert_eq!(s(admin.call(&["ACL", "LOG", "RESET"])), "+OK\r\n");
    assert_eq!(s(admin.call(&["ACL", "LOG"])), "*0\r\n");
}

#[test]
fn deleting_a_user_disconnects_its_clients() {
    let srv = Server::start(&[]);
    let mut admin = srv.raw();
    admin.call(&["ACL", "SETUSER", "gone", "on", ">p", "+@all", "~*"]);
    let mut r = srv.raw();
    assert_eq!(s(r.call(&["AUTH", "gone", "p"])), "+OK\r\n");
    assert_eq!(
        s(admin.call(&["ACL", "DELUSER", "gone", "missing"])),
        ":1\r\n"
    );
    assert!(
        r.wait_closed(Duration::from_secs(5)),
        "client of a deleted user stays connected"
    );
    assert_eq!(
        s(admin.call(&["ACL", "DELUSER", "default"])),
        "-ERR The 'default' user cannot be removed\r\n"
    );
    // A pubsub client loses its connection when its channel is revoked.
    admin.call(&[
        "ACL",
        "SETUSER",
        "sub",
        "on",
        "nopass",
        "+@all",
        "resetchannels",
        "&a",
    ]);
    let mut p = srv.raw();
    p.call(&["AUTH", "sub", "x"]);
    assert!(s(p.call(&["SUBSCRIBE", "a"])).contains("subscribe"));
    admin.call(&["ACL", "SETUSER", "sub", "resetchannels", "&b"]);
    assert!(p.wait_closed(Duration::from_secs(5)));
}

#[test]
fn aclfile_save_load_and_user_directives() {
    let dir = TempDir::new("shoal-acl");
    let file = dir.path().join("users.acl");
    std::fs::write(
        &file,
        "user alice on >pa ~a* +get\n\nuser default on nopass ~* &* +@all\n",
    )
    .unwrap();
    let srv = Server::start(&["--aclfile", file.to_str().unwrap()]);
    let mut r = srv.raw();
    assert_eq!(
        s(r.call(&["ACL", "USERS"])),
        "*2\r\n$5\r\nalice\r\n$7\r\ndefault\r\n"
    );
    r.call(&["ACL", "SETUSER", "carol", "on", "nopass", "+@read", "~c*"]);
    assert_eq!(s(r.call(&["ACL", "SAVE"])), "+OK\r\n");
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(
        saved.contains("user carol on nopass ~c* resetchannels -@all +@read\n"),
        "{saved}"
    );
    std::fs::write(
        &file,
        "user bob on nopass +@all ~*\nuser broken on +nosuchcmd\n",
    )
    .unwrap();
    let err = s(r.call(&["ACL", "LOAD"]));
    assert!(
        err.starts_with("-ERR ") && err.contains(":2: Error in applying operation '+nosuchcmd': Unknown command or category name in ACL. WARNING: ACL errors detected, no change to the previously active ACL rules was performed"),
        "{err}"
    );
    std::fs::write(&file, "user bob on nopass +@all ~*\n").unwrap();
    assert_eq!(s(r.call(&["ACL", "LOAD"])), "+OK\r\n");
    assert_eq!(
        s(r.call(&["ACL", "USERS"])),
        "*2\r\n$3\r\nbob\r\n$7\r\ndefault\r\n"
    );

    // `user` directives in the configuration.
    let conf = dir.path().join("users.conf");
    std::fs::write(
        &conf,
        "user default on nopass ~* +@all -flushdb\nuser x on >y +ping\n",
    )
    .unwrap();
    let srv2 = Server::start(&["--include", conf.to_str().unwrap()]);
    let mut r2 = srv2.raw();
    assert_eq!(
        s(r2.call(&["FLUSHDB"])),
        "-NOPERM this user has no permissions to run the 'flushdb' command\r\n"
    );
    assert_eq!(s(r2.call(&["AUTH", "x", "y"])), "+OK\r\n");
    assert_eq!(s(r2.call(&["PING"])), "+PONG\r\n");
    assert_eq!(
        s(srv2.raw().call(&["ACL", "LOAD"])),
        "-ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.\r\n"
    );
}

#[test]
fn cli_acl_session() {
    if !require_tool(REDIS_CLI, "redis-cli") {
        return;
    }
    let srv = Server::start(&[]);
    assert_eq!(
        srv.cli(&["acl", "setuser", "cli", "on", ">pw", "+@all", "~*"]),
        "OK\n"
    );
    assert_eq!(
        srv.cli(&[
            "--user",
            "cli",
            "--pass",
            "pw",
            "--no-auth-warning",
            "acl",
            "whoami"
        ]),
        "cli\n"
    );
    assert_eq!(srv.cli(&["acl", "cat"]).lines().count(), 21);
    assert_eq!(srv.cli(&["acl", "genpass"]).trim().len(), 64);
    assert_eq!(srv.cli(&["acl", "genpass", "5"]).trim().len(), 2);
}

/// The same ACL command lines against Shoal and a real Redis 7.0 give the
/// same bytes (rules whose description does not depend on Redis's hash
/// order: at most one single-command rule per selector).
#[test]
fn differential_against_redis() {
    if !require_tool(REDIS_SERVER, "redis-server") {
        return;
    }
    let shoal = Server::start(&[]);
    let redis = Server::start_binary(REDIS_SERVER, &[]);
    let script: &[&[&str]] = &[
        &["ACL", "LIST"],
        &[
            "ACL", "SETUSER", "a", "on", ">x", "~k*", "%R~r*", "%W~w*", "&ch*", "+@read", "-get",
        ],
        &["ACL", "SETUSER", "b", "reset", "(+set ~w*)", "(~x +@hash)"],
        &[
            "ACL",
            "SETUSER",
            "c",
            "+@all",
            "-@dangerous",
            "allkeys",
            "allchannels",
        ],
        &["ACL", "SETUSER", "d", "-@all", "+config|get"],
        &[
            "ACL", "SETUSER", "e", "%R~foo", "%W~foo", "%RW~bar", "nopass", "on",
        ],
        &["ACL", "SETUSER", "f", "-@all", "+select|0"],
        &["ACL", "LIST"],
        &["ACL", "USERS"],
        &["ACL", "GETUSER", "a"],
        &["ACL", "GETUSER", "b"],
        &["ACL", "GETUSER", "c"],
        &["ACL", "GETUSER", "e"],
        &["ACL", "GETUSER", "default"],
        &["ACL", "SETUSER", "z", "(foo"],
        &["ACL", "SETUSER", "z", "bogus"],
        &["ACL", "SETUSER", "z", "+nosuch"],
        &["ACL", "SETUSER", "z", "allkeys", "~x"],
        &["ACL", "SETUSER", "z", "&*", "&x"],
        &["ACL", "SETUSER", "z", "<nope"],
        &["ACL", "SETUSER", "z", "#abc"],
        &["ACL", "SETUSER", "z", "+config|get|x"],
        &["ACL", "SETUSER", "z", "+@nosuch"],
        &["ACL", "SETUSER", "with space"],
        &["ACL", "GETUSER", "z"],
        &["ACL", "DRYRUN", "a", "get", "k1"],
        &["ACL", "DRYRUN", "a", "mget", "k1", "r1", "w1"],
        &["ACL", "DRYRUN", "a", "set", "w1", "v"],
        &["ACL", "DRYRUN", "a", "publish", "x", "y"],
        &["ACL", "DRYRUN", "a", "set", "w1"],
        &["ACL", "DRYRUN", "a", "nosuch"],
        &["ACL", "DRYRUN", "nobody", "get", "x"],
        &["ACL", "DRYRUN", "e", "copy", "foo", "bar"],
        &["ACL", "DRYRUN", "f", "select", "0"],
        &["ACL", "DRYRUN", "f", "select", "1"],
        &["ACL", "CAT", "nosuch"],
        &["ACL", "CAT"],
        &["ACL", "GENPASS", "0"],
        &["ACL", "GENPASS", "x"],
        &["ACL", "LOG", "x"],
        &["ACL", "DELUSER", "a", "nosuch"],
        &["ACL", "DELUSER", "default"],
        &["ACL", "SAVE"],
        &["ACL", "NOSUCH"],
        &["ACL", "HELP"],
        &["AUTH", "a", "x"],
        &["AUTH", "b", "y"],
        &["AUTH", "x"],
        &["ACL", "WHOAMI"],
    ];
    let mut a = shoal.raw();
    let mut b = redis.raw();
    for cmd in script {
        let got = s(a.call(cmd));
        let want = s(b.call(cmd));
        assert_eq!(got, want, "{cmd:?}");
    }
}
