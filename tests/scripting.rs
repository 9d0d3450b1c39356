//! Server-side Lua scripting against a real shoal-server: EVAL / EVALSHA /
//! SCRIPT, reply conversions in RESP2 and RESP3, Redis 7.0's error texts,
//! the libraries (cjson, bit, struct, cmsgpack), atomicity against other
//! clients, BUSY + SCRIPT KILL, effects in the AOF after a restart, and
//! redis-py's Lock (which runs Lua). Expected bytes were taken from
//! redis-server 7.0.15; `SHOAL_TEST_SERVER=/usr/bin/redis-server` runs the
//! same checks against it.

mod common;

use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

fn reply(srv: &Server, args: &[&str]) -> String {
    String::from_utf8_lossy(&srv.cmd(args)).into_owned()
}

#[test]
fn eval_replies_and_script_cache() {
    let srv = Server::start(&[]);
    assert_eq!(reply(&srv, &["EVAL", "return 1", "0"]), ":1\r\n");
    assert_eq!(
        reply(&srv, &["EVAL", "return {1,2,3,'ciao',{1,2}}", "0"]),
        "*5\r\n:1\r\n:2\r\n:3\r\n$4\r\nciao\r\n*2\r\n:1\r\n:2\r\n"
    );
    // Numbers truncate to integers; nil ends an array; false is null.
    assert_eq!(reply(&srv, &["EVAL", "return 3.99", "0"]), ":3\r\n");
    assert_eq!(
        reply(&srv, &["EVAL", "return {1,nil,3}", "0"]),
        "*1\r\n:1\r\n"
    );
    assert_eq!(reply(&srv, &["EVAL", "return false", "0"]), "$-1\r\n");
    assert_eq!(reply(&srv, &["EVAL", "return true", "0"]), ":1\r\n");
    assert_eq!(
        reply(&srv, &["EVAL", "return redis.status_reply('FINE')", "0"]),
        "+FINE\r\n"
    );
    assert_eq!(
        reply(&srv, &["EVAL", "return {err='MY error'}", "0"]),
        "-MY error\r\n"
    );
    assert_eq!(
        reply(
            &srv,
            &[
                "EVAL",
                "return {KEYS[1], KEYS[2], ARGV[1]}",
                "2",
                "a",
                "b",
                "c"
            ]
        ),
        "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"
    );
    // Replies of commands become Lua values and back.
    reply(&srv, &["RPUSH", "l", "x", "y"]);
    assert_eq!(
        reply(
            &srv,
            &[
                "EVAL",
                "return redis.call('lrange', KEYS[1], 0, -1)",
                "1",
                "l"
            ]
        ),
        "*2\r\n$1\r\nx\r\n$1\r\ny\r\n"
    );
    assert_eq!(
        reply(
            &srv,
            &["EVAL", "return redis.call('get', 'nokey') == false", "0"]
        ),
        ":1\r\n"
    );
    assert_eq!(
        reply(&srv, &["EVAL", "return redis.call('set', 'k', 'v')", "0"]),
        "+OK\r\n"
    );
    // The cache: EVAL adds, SCRIPT LOAD adds, EVALSHA runs, FLUSH empties.
    let sha = "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"; // sha1("return 1")
    assert_eq!(
        reply(
            &srv,
            &[
                "SCRIPT",
                "EXISTS",
                sha,
                "ffffffffffffffffffffffffffffffffffffffff"
            ]
        ),
        "*2\r\n:1\r\n:0\r\n"
    );
    assert_eq!(reply(&srv, &["EVALSHA", sha, "0"]), ":1\r\n");
    assert_eq!(
        reply(&srv, &["EVALSHA", &sha.to_uppercase(), "0"]),
        ":1\r\n"
    );
    let loaded = reply(&srv, &["SCRIPT", "LOAD", "return 'loaded'"]);
    let loaded_sha = loaded.lines().nth(1).unwrap().to_string();
    assert_eq!(
        reply(&srv, &["EVALSHA", &loaded_sha, "0"]),
        "$6\r\nloaded\r\n"
    );
    assert_eq!(reply(&srv, &["SCRIPT", "FLUSH"]), "+OK\r\n");
    assert_eq!(
        reply(&srv, &["EVALSHA", sha, "0"]),
        "-NOSCRIPT No matching script. Please use EVAL.\r\n"
    );
    assert!(reply(&srv, &["INFO", "memory"]).contains("number_of_cached_scripts:0\r\n"));
    reply(&srv, &["EVAL", "return 'cached'", "0"]);
    let info = reply(&srv, &["INFO", "memory"]);
    assert!(info.contains("number_of_cached_scripts:1\r\n"), "{info}");
    assert!(!info.contains("used_memory_lua:0\r\n"), "{info}");
    assert_eq!(
        reply(&srv, &["SCRIPT", "FLUSH", "BAD"]),
        "-ERR SCRIPT FLUSH only support SYNC|ASYNC option\r\n"
    );
    assert_eq!(
        reply(&srv, &["EVAL_RO", "return redis.call('get','k')", "1", "k"]),
        "$1\r\nv\r\n"
    );
    assert!(reply(
        &srv,
        &["EVAL_RO", "return redis.call('set','k','w')", "1", "k"]
    )
    .starts_with("-ERR Write commands are not allowed from read-only scripts."));
    let body = "#!lua flags=no-writes\nreturn redis.call('set','k','w')";
    assert_eq!(
        reply(&srv, &["EVAL", body, "0"]),
        format!("-ERR Write commands are not allowed from read-only scripts. script: {}, on @user_script:2.\r\n", sha1(body))
    );
}

fn sha1(s: &str) -> String {
    sha1_smol::Sha1::from(s).digest().to_string()
}

#[test]
fn error_texts_match_redis() {
    let srv = Server::start(&[]);
    let cases: &[(&str, &str)] = &[
        ("return a", "-ERR user_script:1: Script attempted to access nonexistent global variable 'a' script: {sha}, on @user_script:1.\r\n"),
        ("a=10", "-ERR user_script:1: Attempt to modify a readonly table script: {sha}, on @user_script:1.\r\n"),
        ("return redis.call('nosuch')", "-ERR Unknown Redis command called from script script: {sha}, on @user_script:1.\r\n"),
        ("return redis.call('get')", "-ERR Wrong number of args calling Redis command from script script: {sha}, on @user_script:1.\r\n"),
        ("error('boom')", "-ERR user_script:1: boom script: {sha}, on @user_script:1.\r\n"),
        ("error({err='MY boom'})", "-MY boom script: {sha}, on @user_script:1.\r\n"),
        ("return redis.error_reply('MY x')", "-MY x\r\n"),
        ("syntax error here", "-ERR Error compiling script (new function): user_script:1: '=' expected near 'error'\r\n"),
        ("return cjson.decode('{')", "-ERR user_script:1: Expected object key string but found T_END at character 2 script: {sha}, on @user_script:1.\r\n"),
        ("return bit.band()", "-ERR user_script:1: bad argument #1 to 'band' (number expected, got no value) script: {sha}, on @user_script:1.\r\n"),
        ("return redis.call('eval','return 1',0)", "-ERR This Redis command is not allowed from script script: {sha}, on @user_script:1.\r\n"),
        ("print('x')", "-ERR user_script:1: Script attempted to access nonexistent global variable 'print' script: {sha}, on @user_script:1.\r\n"),
    ];
    for (script, want) in cases {
        let got = reply(&srv, &["EVAL", script, "0"]);
        let want = want.replace("{sha}", &sha1(script));
        assert_eq!(got, want, "EVAL {script}");
    }
    reply(&srv, &["SET", "s", "abc"]);
    assert_eq!(
        reply(
            &srv,
            &["EVAL", "return redis.pcall('incr', KEYS[1])", "1", "s"]
        ),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(
        reply(
            &srv,
            &[
                "EVAL",
                "local ok, e = pcall(redis.call, 'nosuch'); return {tostring(ok), e}",
                "0"
            ]
        ),
        "*2\r\n$5\r\nfalse\r\n$44\r\nERR Unknown Redis command called from script\r\n"
    );
    assert_eq!(
        reply(&srv, &["EVAL", "return 1", "-1"]),
        "-ERR Number of keys can't be negative\r\n"
    );
    assert_eq!(
        reply(&srv, &["EVAL", "return 1", "2", "a"]),
        "-ERR Number of keys can't be greater than number of args\r\n"
    );
    for trick in [
        "setmetatable(_G, {})",
        "local g = getmetatable(_G); g.__index = {}",
        "redis = function() return 1 end",
        "_G = {}",
        "redis.call = function() return 1 end",
        "cjson.encode = function() return 1 end",
        "cmsgpack.pack = function() return 1 end",
        "bit.lshift = function() return 1 end",
        "string.len = nil",
    ] {
        let got = reply(&srv, &["EVAL", trick, "0"]);
        assert!(
            got.contains("Attempt to modify a readonly table"),
            "{trick}: {got}"
        );
    }
}

#[test]
fn libraries_as_redis_ships_them() {
    let srv = Server::start(&[]);
    assert_eq!(
        reply(
            &srv,
            &["EVAL", "return cjson.encode({1.5, 2, 'q\"/'})", "0"]
        ),
        "$15\r\n[1.5,2,\"q\\\"\\/\"]\r\n"
    );
    assert_eq!(
        reply(&srv, &["EVAL", "local t = cjson.decode('[1,2.5,\"a\\\\u00e9\",{\"k\":null},true]'); return {t[1], t[2], t[3], type(t[4].k), tostring(t[5])}", "0"]),
        "*5\r\n:1\r\n:2\r\n$3\r\na\u{e9}\r\n$8\r\nuserdata\r\n$4\r\ntrue\r\n"
    );
    assert_eq!(
        reply(&srv, &["EVAL", "return {bit.band(0xff, 0x0f), bit.bor(1,2,4), bit.bxor(5,3), bit.lshift(1,31), bit.tohex(255), bit.tohex(-1, -4), bit.bnot(0), bit.arshift(-256, 4)}", "0"]),
        "*8\r\n:15\r\n:7\r\n:6\r\n:-2147483648\r\n$8\r\n000000ff\r\n$4\r\nFFFF\r\n:-1\r\n:-16\r\n"
    );
    assert_eq!(
        srv.cmd(&[
            "EVAL",
            "return {struct.pack('>HI', 1, 2), struct.unpack('<i4', struct.pack('<i4', -5))}",
            "0"
        ]),
        b"*3\r\n$6\r\n\x00\x01\x00\x00\x00\x02\r\n:-5\r\n:5\r\n".to_vec()
    );
    assert_eq!(
        srv.cmd(&[
            "EVAL",
            "return cmsgpack.pack({1,2,3}, 'abc', 1.5, -100, {a=1})",
            "0"
        ]),
        b"$19\r\n\x93\x01\x02\x03\xa3abc\xca\x3f\xc0\x00\x00\xd0\x9c\x81\xa1a\x01\r\n".to_vec()
    );
    assert_eq!(
        reply(&srv, &["EVAL", "local s = cmsgpack.pack({1,2,3}, 'abc', -100); local a, b, c = cmsgpack.unpack(s); return {a[3], b, c}", "0"]),
        "*3\r\n:3\r\n$3\r\nabc\r\n:-100\r\n"
    );
    assert_eq!(
        reply(
            &srv,
            &[
                "EVAL",
                "return {redis.sha1hex(''), redis.REDIS_VERSION}",
                "0"
            ]
        ),
        "*2\r\n$40\r\nda39a3ee5e6b4b0d3255bfef95601890afd80709\r\n$6\r\n7.0.15\r\n"
    );
    // math.random: Redis's rand48, one sequence from a seed.
    let a = reply(
        &srv,
        &[
            "EVAL",
            "math.randomseed(42); return {math.random(100), math.random(100)}",
            "0",
        ],
    );
    let b = reply(
        &srv,
        &[
            "EVAL",
            "math.randomseed(42); return {math.random(100), math.random(100)}",
            "0",
        ],
    );
    assert_eq!(a, b);
}

#[test]
fn resp3_conversions() {
    let srv = Server::start(&[]);
    let mut c = srv.raw();
    c.call(&["HELLO", "3"]);
    let mut r =
        |script: &str| String::from_utf8_lossy(&c.call(&["EVAL", script, "0"])).into_owned();
    assert_eq!(
        r("redis.setresp(3); return redis.call('hgetall', 'nohash')"),
        "%0\r\n"
    );
    assert_eq!(r("return {map={a=1}}"), "%1\r\n$1\r\na\r\n:1\r\n");
    assert_eq!(r("return {set={x=true}}"), "~1\r\n$1\r\nx\r\n");
    assert_eq!(r("return {double=3.5}"), ",3.5\r\n");
    assert_eq!(
        r("return {big_number='123456789012345678901234567890'}"),
        "(123456789012345678901234567890\r\n"
    );
    assert_eq!(r("redis.setresp(3); return true"), "#t\r\n");
    assert_eq!(r("redis.setresp(3); return false"), "#f\r\n");
    assert_eq!(r("return false"), "_\r\n");
    // RESP3 replies inside the script: a null is nil, a double a table.
    assert_eq!(
        r("redis.setresp(3); return redis.call('get', 'nokey') == nil"),
        "#t\r\n"
    );
    redis_cli(srv.port, &["ZADD", "z", "1.5", "m"]);
    assert_eq!(
        r("redis.setresp(3); return redis.call('zscore', 'z', 'm')['double']"),
        ":1\r\n"
    );
    // A RESP2 caller gets maps flattened.
    assert_eq!(
        reply(&srv, &["EVAL", "return {map={a=1}}", "0"]),
        "*2\r\n$1\r\na\r\n:1\r\n"
    );
    assert_eq!(
        reply(&srv, &["EVAL", "return {double=3.5}", "0"]),
        "$3\r\n3.5\r\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_are_atomic() {
    let srv = Server::start(&[]);
    let url = srv.url();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // A reader checks that a and b are always equal: each script changes
    // both, so no reader may see the state between its two writes.
    let reader = {
        let stop = stop.clone();
        let url = url.clone();
        tokio::spawn(async move {
            let mut con = connect_url(&url).await;
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let v: Vec<Option<i64>> = q(&mut con, &["MGET", "a", "b"]).await.unwrap();
                assert_eq!(v[0], v[1], "saw a script half done");
                reads += 1;
            }
            reads
        })
    };
    let mut con = srv.conn().await;
    let script = "redis.call('incr', KEYS[1]); for i = 1, 20000 do end; redis.call('incr', KEYS[2]); return 1";
    for _ in 0..200 {
        let _: i64 = q(&mut con, &["EVAL", script, "2", "a", "b"]).await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.await.unwrap();
    assert!(reads > 0);
    let v: Vec<i64> = q(&mut con, &["MGET", "a", "b"]).await.unwrap();
    assert_eq!(v, vec![200, 200]);
}

#[test]
fn busy_script_and_script_kill() {
    let srv = Server::start(&["--busy-reply-threshold", "100"]);
    let mut runner = srv.raw();
    runner.send(&encode(&[
        "EVAL",
        "local i = 0 while true do i = i + 1 end",
        "0",
    ]));
    let mut other = srv.raw();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = other.call(&["PING"]);
        if r.starts_with(b"-BUSY") {
            assert_eq!(
                r,
                b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never got BUSY: {:?}",
            String::from_utf8_lossy(&r)
        );
    }
    assert_eq!(other.call(&["SCRIPT", "KILL"]), b"+OK\r\n");
    let killed = runner
        .read_reply(IO_TIMEOUT)
        .expect("the killed script's reply");
    let text = String::from_utf8_lossy(&killed);
    assert!(
        text.starts_with("-ERR Script killed by user with SCRIPT KILL..."),
        "{text}"
    );
    assert_eq!(other.call(&["PING"]), b"+PONG\r\n");
    assert_eq!(
        other.call(&["SCRIPT", "KILL"]),
        b"-NOTBUSY No scripts in execution right now.\r\n"
    );
    // A script that wrote cannot be killed; SHUTDOWN NOSAVE still works.
    runner.send(&encode(&[
        "EVAL",
        "redis.call('set','x','y') while true do end",
        "0",
    ]));
    loop {
        let r = other.call(&["PING"]);
        if r.starts_with(b"-BUSY") {
            break;
        }
        assert!(Instant::now() < deadline, "never got BUSY");
    }
    let r = String::from_utf8_lossy(&other.call(&["SCRIPT", "KILL"])).into_owned();
    assert!(
        r.starts_with("-UNKILLABLE Sorry the script already executed write commands"),
        "{r}"
    );
    other.send(&encode(&["SHUTDOWN", "NOSAVE"]));
    assert!(
        other.wait_closed(IO_TIMEOUT),
        "SHUTDOWN NOSAVE during a busy script"
    );
}

#[test]
fn script_effects_survive_a_restart_from_the_aof() {
    let srv = Server::start(&["--appendonly", "yes"]);
    let script = "redis.call('set', KEYS[1], ARGV[1]); redis.call('rpush', KEYS[2], 'a', 'b'); redis.call('incrby', KEYS[3], 5); return 1";
    assert_eq!(
        reply(&srv, &["EVAL", script, "3", "s", "l", "n", "val"]),
        ":1\r\n"
    );
    // Non-deterministic commands are fine: their effects are logged.
    reply(&srv, &["SADD", "set", "m1", "m2", "m3"]);
    let popped = reply(
        &srv,
        &["EVAL", "return redis.call('spop', KEYS[1])", "1", "set"],
    );
    let dir = srv.dir().join("appendonlydir");
    let read_aof = || -> String {
        std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".incr.aof"))
            .map(|e| String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()).into_owned())
            .collect()
    };
    // The AOF writer thread appends shortly after the reply (everysec).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut aof = read_aof();
    while !(aof.contains("MULTI") && aof.contains("EXEC") && aof.contains("SREM")) {
        assert!(Instant::now() < deadline, "no MULTI/EXEC in the AOF: {aof}");
        std::thread::sleep(Duration::from_millis(10));
        aof = read_aof();
    }
    assert!(
        !aof.contains("EVAL"),
        "effects, not the script, are logged: {aof}"
    );
    let dir = srv.terminate();
    let srv = Server::restart_in(dir, &["--appendonly", "yes"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while reply(&srv, &["PING"]) != "+PONG\r\n" {
        assert!(Instant::now() < deadline);
    }
    assert_eq!(reply(&srv, &["GET", "s"]), "$3\r\nval\r\n");
    assert_eq!(
        reply(&srv, &["LRANGE", "l", "0", "-1"]),
        "*2\r\n$1\r\na\r\n$1\r\nb\r\n"
    );
    assert_eq!(reply(&srv, &["GET", "n"]), "$1\r\n5\r\n");
    assert_eq!(reply(&srv, &["SCARD", "set"]), ":2\r\n");
    let member = popped.lines().nth(1).unwrap().to_string();
    assert_eq!(reply(&srv, &["SISMEMBER", "set", &member]), ":0\r\n");
}

#[test]
fn redis_py_lock_uses_lua() {
    let mut c = Command::new("python3");
    c.args(["-c", "import redis"]);
    if !run_with_timeout(c, None, Duration::from_secs(60)).0 {
        if std::env::var_os("CI").is_some() {
            panic!("python3 with the redis module is required in CI");
        }
        eprintln!("SKIPPED: redis-py is not installed");
        return;
    }
    let srv = Server::start(&[]);
    let program = r#"
import sys, redis
r = redis.Redis(port=int(sys.argv[1]))
lock = r.lock("resource", timeout=10)
assert lock.acquire(blocking=False)
other = r.lock("resource", timeout=10)
assert not other.acquire(blocking=False)
assert lock.extend(5)
assert lock.reacquire()
lock.release()
assert other.acquire(blocking=False)
other.release()
try:
    other.release()
    raise SystemExit("released twice")
except redis.exceptions.LockError:
    pass
incr = r.register_script("return redis.call('incrby', KEYS[1], ARGV[1])")
assert incr(keys=["counter"], args=[3]) == 3
assert incr(keys=["counter"], args=[4]) == 7
print("lock ok")
"#;
    let mut c = Command::new("python3");
    c.args(["-c", program, &srv.port.to_string()]);
    let (ok, out, err) = run_with_timeout(c, None, Duration::from_secs(60));
    assert!(ok && out.contains("lock ok"), "{out}\n{err}");
}

#[test]
fn functions_load_call_list_dump_restore() {
    let srv = Server::start(&[]);
    let lib = "#!lua name=mylib\nredis.register_function('myfunc', function(keys, args) return redis.call('set', keys[1], args[1]) end)\nredis.register_function{function_name='myro', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads'}";
    assert_eq!(reply(&srv, &["FUNCTION", "LOAD", lib]), "$5\r\nmylib\r\n");
    assert_eq!(
        reply(&srv, &["FUNCTION", "LOAD", lib]),
        "-ERR Library 'mylib' already exists\r\n"
    );
    assert_eq!(
        reply(&srv, &["FUNCTION", "LOAD", "REPLACE", lib]),
        "$5\r\nmylib\r\n"
    );
    assert_eq!(reply(&srv, &["FCALL", "myfunc", "1", "k", "v"]), "+OK\r\n");
    assert_eq!(reply(&srv, &["FCALL_RO", "myro", "1", "k"]), "$1\r\nv\r\n");
    assert_eq!(
        reply(&srv, &["FCALL_RO", "myfunc", "1", "k", "w"]),
        "-ERR Can not execute a script with write flag using *_ro command.\r\n"
    );
    assert_eq!(
        reply(&srv, &["FCALL", "nosuch", "0"]),
        "-ERR Function not found\r\n"
    );
    assert_eq!(
        reply(&srv, &["FCALL", "myro", "x"]),
        "-ERR Bad number of keys provided\r\n"
    );
    for (code, err) in [
        ("return 1", "-ERR Missing library metadata\r\n"),
        ("#!lua\nreturn 1", "-ERR Library name was not given\r\n"),
        ("#!python name=x\nreturn 1", "-ERR Engine 'python' not found\r\n"),
        ("#!lua name=x\nreturn 1", "-ERR No functions registered\r\n"),
        ("#!lua name=x\nbad code", "-ERR Error compiling function: user_function:2: '=' expected near 'code'\r\n"),
        ("#!lua name=x\nlocal a = string.len('a')", "-ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'string'\r\n"),
        ("#!lua name=x\nredis.register_function('myfunc', function() end)", "-ERR Function myfunc already exists\r\n"),
        ("#!lua name=x\nredis.register_function()", "-ERR Error registering functions: ERR wrong number of arguments to redis.register_function\r\n"),
    ] {
        assert_eq!(reply(&srv, &["FUNCTION", "LOAD", code]), err, "{code}");
    }
    let list = reply(&srv, &["FUNCTION", "LIST", "LIBRARYNAME", "my*"]);
    assert!(
        list.contains("mylib")
            && list.contains("myro")
            && list.contains("reads")
            && list.contains("+no-writes"),
        "{list}"
    );
    assert_eq!(
        reply(&srv, &["FUNCTION", "LIST", "LIBRARYNAME", "zz*"]),
        "*0\r\n"
    );
    let info = reply(&srv, &["INFO", "memory"]);
    assert!(
        info.contains("number_of_functions:2\r\nnumber_of_libraries:1\r\n"),
        "{info}"
    );
    let stats = reply(&srv, &["FUNCTION", "STATS"]);
    assert!(
        stats.contains("libraries_count\r\n:1\r\n$15\r\nfunctions_count\r\n:2"),
        "{stats}"
    );
    // DUMP / RESTORE, in Redis's payload format (checked against
    // redis-server in the cross test below).
    let dump = srv.cmd(&["FUNCTION", "DUMP"]);
    let payload = bulk_body(&dump);
    assert_eq!(reply(&srv, &["FUNCTION", "FLUSH"]), "+OK\r\n");
    assert_eq!(
        reply(&srv, &["FCALL", "myro", "1", "k"]),
        "-ERR Function not found\r\n"
    );
    let mut c = srv.raw();
    c.send(&encode_bytes(&[b"FUNCTION", b"RESTORE", &payload]));
    assert_eq!(c.read_reply(IO_TIMEOUT).unwrap(), b"+OK\r\n");
    c.send(&encode_bytes(&[b"FUNCTION", b"RESTORE", &payload]));
    assert_eq!(
        c.read_reply(IO_TIMEOUT).unwrap(),
        b"-ERR Library mylib already exists\r\n"
    );
    c.send(&encode_bytes(&[
        b"FUNCTION",
        b"RESTORE",
        &payload,
        b"REPLACE",
    ]));
    assert_eq!(c.read_reply(IO_TIMEOUT).unwrap(), b"+OK\r\n");
    assert_eq!(reply(&srv, &["FCALL_RO", "myro", "1", "k"]), "$1\r\nv\r\n");
    assert_eq!(reply(&srv, &["FUNCTION", "DELETE", "mylib"]), "+OK\r\n");
    assert_eq!(
        reply(&srv, &["FUNCTION", "DELETE", "mylib"]),
        "-ERR Library not found\r\n"
    );
}

fn bulk_body(reply: &[u8]) -> Vec<u8> {
    let nl = reply.iter().position(|&b| b == b'\n').unwrap();
    reply[nl + 1..reply.len() - 2].to_vec()
}

/// Functions move between Shoal and redis-server 7.0.15: a FUNCTION DUMP
/// payload restores on the other, and an RDB saved with libraries loads.
#[test]
fn functions_dump_and_rdb_cross_redis() {
    let shoal = Server::start(&[]);
    let redis = Server::start_binary(REDIS_SERVER, &[]);
    let lib = "#!lua name=crosslib\nredis.register_function('cross', function(keys, args) return 'from a library whose code is long enough to be compressed by LZF in the payload' end)";
    assert_eq!(
        reply(&redis, &["FUNCTION", "LOAD", lib]),
        "$8\r\ncrosslib\r\n"
    );
    let from_redis = bulk_body(&redis.cmd(&["FUNCTION", "DUMP"]));
    let mut c = shoal.raw();
    c.send(&encode_bytes(&[b"FUNCTION", b"RESTORE", &from_redis]));
    assert_eq!(c.read_reply(IO_TIMEOUT).unwrap(), b"+OK\r\n");
    assert!(reply(&shoal, &["FCALL", "cross", "0"]).contains("long enough"));
    // Shoal's payload is byte for byte Redis's.
    assert_eq!(bulk_body(&shoal.cmd(&["FUNCTION", "DUMP"])), from_redis);
    // An RDB with the library: Shoal saves, Redis loads it.
    assert_eq!(reply(&shoal, &["SAVE"]), "+OK\r\n");
    let rdb = shoal.dir().join("dump.rdb");
    let dir = TempDir::new("fn-rdb");
    std::fs::copy(&rdb, dir.path().join("dump.rdb")).unwrap();
    let redis2 = Server::restart_in_binary(REDIS_SERVER, dir, &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while reply(&redis2, &["PING"]) != "+PONG\r\n" {
        assert!(Instant::now() < deadline);
    }
    assert!(reply(&redis2, &["FCALL", "cross", "0"]).contains("long enough"));
    // And Shoal restarts with it.
    let dir = shoal.terminate();
    let shoal = Server::restart_in(dir, &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while reply(&shoal, &["PING"]) != "+PONG\r\n" {
        assert!(Instant::now() < deadline);
    }
    assert!(reply(&shoal, &["FCALL", "cross", "0"]).contains("long enough"));
}
