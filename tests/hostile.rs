//! Shoal against a hostile client: random bytes, absurd lengths, half
//! frames, bad quoting and a flood of connections. After every case the
//! server still answers PING and a key written beforehand is intact.
//!
//! The expected error texts are Redis 7.0's (checked against redis-server).

mod common;

use common::*;
use rand::{Rng, SeedableRng};
use std::io::Write;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// A key written before the hostile traffic, checked after it.
struct Precious {
    key: String,
    value: String,
}

fn write_precious(srv: &Server) -> Precious {
    let p = Precious {
        key: format!("precious:{}", srv.port),
        value: "kept-safe-\u{2713}".to_string(),
    };
    assert_eq!(srv.cmd(&["SET", &p.key, &p.value]), b"+OK\r\n");
    p
}

fn check_survived(srv: &mut Server, p: &Precious) {
    srv.assert_alive();
    let want = format!("${}\r\n{}\r\n", p.value.len(), p.value).into_bytes();
    assert_eq!(
        String::from_utf8_lossy(&srv.cmd(&["GET", &p.key])),
        String::from_utf8_lossy(&want),
        "the key written before the hostile input was lost"
    );
}

/// A protocol error: exactly this reply, then the server closes the connection.
fn expect_protocol_error(srv: &Server, input: &[u8], want: &str) {
    let mut r = srv.raw();
    r.send(input);
    let reply = r
        .read_reply(IO_TIMEOUT)
        .unwrap_or_else(|| panic!("no reply to {:?}", String::from_utf8_lossy(input)));
    assert_eq!(
        String::from_utf8_lossy(&reply),
        want,
        "reply to {:?}",
        String::from_utf8_lossy(input)
    );
    assert!(
        r.wait_closed(IO_TIMEOUT),
        "connection left open after a protocol error ({want:?})"
    );
}

/// CPU time (user + system, in clock ticks) the process has used.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/<pid>/stat");
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn bulk_length_of_2gb_is_refused() {
    let mut srv = Server::start(&[]);
    let p = write_precious(&srv);
    expect_protocol_error(
        &srv,
        b"*1\r\n$2147483648\r\n",
        "-ERR Protocol error: invalid bulk length\r\n",
    );
    check_survived(&mut srv, &p);
}

#[test]
fn malformed_frames_are_protocol_errors() {
    let mut srv = Server::start(&[]);
    let p = write_precious(&srv);
    let cases: &[(&[u8], &str)] = &[
        (
            b"*1\r\n$-5\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$abc\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*abc\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*3000000000\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\nfoo\r\n",
            "-ERR Protocol error: expected '$', got 'f'\r\n",
        ),
        (
            b"SET 'a\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        (
            b"SET \"a\"b c\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
    ];
    for (input, want) in cases {
        expect_protocol_error(&srv, input, want);
    }
    check_survived(&mut srv, &p);
}

#[test]
fn unbalanced_quotes_inline() {
    let mut srv = Server::start(&[]);
    let p = write_precious(&srv);
    expect_protocol_error(
        &srv,
        b"\"unbalanced\r\n",
        "-ERR Protocol error: unbalanced quotes in request\r\n",
    );
    // Replies to the requests before the bad one are still delivered.
    let mut r = srv.raw();
    r.send(b"PING\r\nSET \"a\r\n");
    assert_eq!(r.read_reply(IO_TIMEOUT).as_deref(), Some(&b"+PONG\r\n"[..]));
    assert_eq!(
        r.read_reply(IO_TIMEOUT).as_deref(),
        Some(&b"-ERR Protocol error: unbalanced quotes in request\r\n"[..])
    );
    assert!(r.wait_closed(IO_TIMEOUT));
    check_survived(&mut srv, &p);
}

#[test]
fn huge_multibulk_count_then_disconnect() {
    let mut srv = Server::start(&[]);
    let p = write_precious(&srv);
    let before = srv.rss_kb();
    // Many clients each announce a million arguments and send nothing more.
    let mut liars = Vec::new();
    for _ in 0..50 {
        let mut r = srv.raw();
        r.send(b"*1000000\r\n");
        liars.push(r);
    }
    // While they hang there, others are served.
    srv.assert_alive();
    let during = srv.rss_kb();
    for r in &mut liars {
        // Nothing is answered to an incomplete request.
        assert_eq!(r.read_reply(Duration::from_millis(20)), None);
    }
    drop(liars);
    check_survived(&mut srv, &p);
    let after = srv.rss_kb();
    let grew = during.max(after).saturating_sub(before);
    assert!(
        grew < 100 * 1024,
        "RSS grew by {grew} KiB (from {before} KiB) after 50 clients sent *1000000"
    );
}

#[test]
fn half_frame_then_disconnect() {
    let mut srv = Server::start(&[]);
    let p = write_precious(&srv);
    {
        let mut r = srv.raw();
        r.send(b"*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n$10\r\nonly");
        assert_eq!(r.read_reply(Duration::from_millis(50)), None);
        // The server must not spin on the half-read request while waiting.
        let t0 = cpu_ticks(srv.pid);
        let window = Instant::now();
        srv.assert_alive();
        while window.elapsed() < Duration::from_secs(1) {
            assert_eq!(r.read_reply(Duration::from_millis(100)), None);
        }
        let used = cpu_ticks(srv.pid) - t0;
        assert!(
            used < 50,
            "server used {used} CPU ticks in 1 s while a client held half a request"
        );
    }
    // The half request was never executed.
    assert_eq!(srv.cmd(&["EXISTS", "half"]), b":0\r\n");
    // Half of a bulk header, then disconnect.
    {
        let mut r = srv.raw();
        r.send(b"*2\r\n$3\r\nGET\r\n$1");
    }
    // A request trickled in byte by byte is still understood.
    let mut r = srv.raw();
    r.stream.set_nodelay(true).unwrap();
    for b in encode(&["SET", "trickle", "in-pieces"]) {
        r.send(&[b]);
    }
    assert_eq!(r.read_reply(IO_TIMEOUT).as_deref(), Some(&b"+OK\r\n"[..]));
    assert_eq!(r.call(&["GET", "trickle"]), b"$9\r\nin-pieces\r\n");
    check_survived(&mut srv, &p);
}

#[test]
fn nul_byte_in_inline_request() {
    let mut srv = Server::start(&[]);
    let p = write_precious(&srv);
    // Redis stops reading an inline line at a NUL byte (it waits for more
    // data); whatever the reply, the server must not hang or spin on it.
    let mut r = srv.raw();
    r.send(b"ECHO a\0b\r\n\0PING\r\n");
    let _ = r.read_reply(Duration::from_millis(100));
    let t0 = cpu_ticks(srv.pid);
    let window = Instant::now();
    srv.assert_alive();
    let mut other = srv.raw();
    while window.elapsed() < Duration::from_secs(1) {
        assert_eq!(other.call(&["PING"]), b"+PONG\r\n");
        let _ = r.read_reply(Duration::from_millis(100));
    }
    let used = cpu_ticks(srv.pid) - t0;
    assert!(
        used < 50,
        "server used {used} CPU ticks in 1 s after an inline request with a NUL byte"
    );
    let _ = r.stream.shutdown(Shutdown::Write);
    assert!(r.wait_closed(IO_TIMEOUT), "connection not closed after EOF");
    check_survived(&mut srv, &p);
}

/// Valid frames to mutate, so the fuzz reaches past the first byte.
fn seed_frames() -> Vec<Vec<u8>> {
    vec![
        encode(&["SET", "fuzz:a", "value"]),
        encode(&["GET", "fuzz:a"]),
        encode(&["INCR", "fuzz:n"]),
        encode(&["MSET", "fuzz:b", "1", "fuzz:c", "2"]),
        encode(&["ECHO", "hello"]),
        encode(&["SETRANGE", "fuzz:r", "5", "xyz"]),
        encode(&["GETRANGE", "fuzz:a", "0", "-1"]),
        b"PING\r\n".to_vec(),
        b"SET fuzz:q \"a\\x41 b\" \r\n".to_vec(),
    ]
}

fn hostile_input(rng: &mut rand::rngs::StdRng, seeds: &[Vec<u8>]) -> Vec<u8> {
    match rng.gen_range(0..4) {
        // Pure noise.
        0 => (0..rng.gen_range(1..4096)).map(|_| rng.gen()).collect(),
        // Noise from RESP's own alphabet.
        1 => {
            let alphabet = b"*$\r\n0123456789-+:abcSETGET \"'\\x";
            (0..rng.gen_range(1..2048))
                .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                .collect()
        }
        // A valid pipeline with a few bytes flipped, inserted or cut.
        _ => {
            let mut v = Vec::new();
            for _ in 0..rng.gen_range(1..8) {
                v.extend_from_slice(&seeds[rng.gen_range(0..seeds.len())]);
            }
            for _ in 0..rng.gen_range(1..5) {
                let at = rng.gen_range(0..v.len());
                match rng.gen_range(0..3) {
                    0 => v[at] = rng.gen(),
                    1 => v.insert(at, rng.gen()),
                    _ => v.truncate(at.max(1)),
                }
            }
            v
        }
    }
}

#[test]
fn random_bytes_from_hundreds_of_connections() {
    let mut srv = Server::start(&[]);
    let p = write_precious(&srv);
    let seeds = seed_frames();
    let port = srv.port;
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let seeds = seeds.clone();
            std::thread::spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(0x5EED_u64.wrapping_add(t));
                for i in 0..75 {
                    let input = hostile_input(&mut rng, &seeds);
                    let mut r = Raw::try_connect(port)
                        .unwrap_or_else(|e| panic!("thread {t} case {i}: cannot connect ({e}): did the server die?"));
                    // Send in one to three pieces.
                    let cut1 = rng.gen_range(0..=input.len());
                    let cut2 = rng.gen_range(cut1..=input.len());
                    for part in [&input[..cut1], &input[cut1..cut2], &input[cut2..]] {
                        if !part.is_empty() && r.stream.write_all(part).is_err() {
                            break; // the server already closed on a protocol error
                        }
                    }
                    let _ = r.stream.shutdown(Shutdown::Write);
                    // With our side closed the server must close too, promptly.
                    assert!(
                        r.wait_closed(IO_TIMEOUT),
                        "thread {t} case {i}: server kept the connection open 10 s after EOF; input ({} bytes) began {:?}",
                        input.len(),
                        String::from_utf8_lossy(&input[..input.len().min(200)])
                    );
                }
            })
        })
        .collect();
    let failed = threads
        .into_iter()
        .map(|t| t.join())
        .filter(Result::is_err)
        .count();
    if failed > 0 {
        let running = srv.is_running();
        panic!(
            "{failed} of 4 fuzz threads failed (their messages are above); server still running: {running}; server log tail:\n{}",
            srv.log_tail(20)
        );
    }
    check_survived(&mut srv, &p);
}

/// Raise RLIMIT_NOFILE's soft limit to the hard limit; returns the new soft limit.
fn raise_nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write/read a properly sized rlimit struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let want = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    lim.rlim_cur as u64
}

#[test]
fn ten_thousand_connections_at_once() {
    // Raised before the server starts, so the server inherits it too.
    let limit = raise_nofile_limit();
    let n: usize = if limit >= 10_000 + 500 { 10_000 } else { 2_000 };
    if n < 10_000 {
        eprintln!("NOTE: RLIMIT_NOFILE is {limit}; opening {n} connections instead of 10,000");
    }
    let mut srv = Server::start(&["--maxclients", "20000"]);
    let p = write_precious(&srv);
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, srv.port));
    let workers = 8;
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            std::thread::spawn(move || {
                let mut v = Vec::new();
                for _ in (w..n).step_by(workers) {
                    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(30))
                        .expect("connect");
                    v.push(s);
                }
                v
            })
        })
        .collect();
    let mut conns: Vec<TcpStream> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("connect thread"))
        .collect();
    assert_eq!(conns.len(), n);
    // Every connection is served: PING on all of them, then read every PONG.
    for s in &mut conns {
        s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        s.write_all(b"PING\r\n").expect("write PING");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for (i, s) in conns.iter_mut().enumerate() {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        s.set_read_timeout(Some(left)).unwrap();
        let mut buf = [0u8; 7];
        let mut got = 0;
        while got < buf.len() {
            match std::io::Read::read(s, &mut buf[got..]) {
                Ok(0) => panic!("connection {i} of {n} was closed by the server"),
                Ok(k) => got += k,
                Err(e) => panic!("connection {i} of {n}: no PONG ({e})"),
            }
        }
        assert_eq!(&buf, b"+PONG\r\n", "connection {i}");
    }
    let info = String::from_utf8(srv.cmd(&["INFO", "clients"])).unwrap();
    let connected: usize = info_field(&info, "connected_clients")
        .expect("connected_clients")
        .parse()
        .unwrap();
    assert!(
        connected > n,
        "connected_clients {connected} with {n} open connections"
    );
    drop(conns);
    // The server notices every close.
    let drained = wait_until(Duration::from_secs(60), || {
        let info = String::from_utf8(srv.cmd(&["INFO", "clients"])).unwrap();
        info_field(&info, "connected_clients")
            .and_then(|v| v.parse::<usize>().ok())
            .is_some_and(|c| c <= 1)
    });
    assert!(
        drained,
        "connected_clients did not fall back after {n} clients disconnected"
    );
    check_survived(&mut srv, &p);
}

/// CLIENT LIST lines of clients other than the asking connection.
fn client_line(srv: &Server, id: &str) -> Option<String> {
    let list = String::from_utf8_lossy(&srv.cmd(&["CLIENT", "LIST"])).into_owned();
    list.lines()
        .find(|l| l.split(' ').any(|f| f == format!("id={id}")))
        .map(str::to_string)
}

fn field_of(line: &str, name: &str) -> u64 {
    line.split(' ')
        .find_map(|f| f.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A raw connection that asks for `args` and then never reads; returns it
/// (kept open) and its client id.
fn hog(srv: &Server, args: &[&str]) -> (Raw, String) {
    let mut r = srv.raw();
    let id = String::from_utf8_lossy(&r.call(&["CLIENT", "ID"]))
        .trim_start_matches(':')
        .trim()
        .to_string();
    r.send(&encode(args));
    (r, id)
}

fn used_memory(srv: &Server) -> u64 {
    let info = String::from_utf8_lossy(&srv.cmd(&["INFO", "memory"])).into_owned();
    info_field(&info, "used_memory").unwrap().parse().unwrap()
}

/// Issue 3's hostile reader: a 10,000,000-element LRANGE over a huge list
/// from a client that never reads. By default (Redis's `normal 0 0 0`) the
/// reply waits for the client, visible as its omem, while everyone else is
/// served and CLIENT KILL frees it; with a normal-class
/// client-output-buffer-limit the server cuts the client off by itself
/// (hard limit at once, soft limit after its seconds) and the memory of the
/// reply comes back. Other data stays intact throughout.
#[test]
fn huge_range_reply_to_a_client_that_never_reads_is_bounded() {
    let mut srv = Server::start(&[]);
    let precious = write_precious(&srv);
    const ELEMENTS: usize = 10_000_000;
    const PER_PUSH: usize = 10_000;
    {
        let mut r = srv.raw();
        let mut cmd = format!("*{}\r\n$5\r\nRPUSH\r\n$3\r\nbig\r\n", PER_PUSH + 2).into_bytes();
        for _ in 0..PER_PUSH {
            cmd.extend_from_slice(b"$1\r\nx\r\n");
        }
        for _ in 0..ELEMENTS / PER_PUSH {
            r.send(&cmd);
            r.read_reply(IO_TIMEOUT).expect("RPUSH reply");
        }
    }
    assert_eq!(
        srv.cmd(&["LLEN", "big"]),
        format!(":{ELEMENTS}\r\n").into_bytes()
    );
    let baseline = used_memory(&srv);
    let range_end = (ELEMENTS - 1).to_string();

    // Default limits: the reply (70 MB) waits for the client; others go on.
    let (_hog, id) = hog(&srv, &["LRANGE", "big", "0", &range_end]);
    let pending = |srv: &Server| client_line(srv, &id).map(|l| field_of(&l, "omem"));
    assert!(
        wait_until(IO_TIMEOUT, || pending(&srv).unwrap_or(0) > 10_000_000),
        "the unread reply never showed as omem: {:?}",
        client_line(&srv, &id)
    );
    check_survived(&mut srv, &precious);
    assert_eq!(srv.cmd(&["LINDEX", "big", "-1"]), b"$1\r\nx\r\n");
    assert_eq!(srv.cmd(&["CLIENT", "KILL", "ID", &id]), b":1\r\n");
    assert!(
        wait_until(IO_TIMEOUT, || client_line(&srv, &id).is_none()),
        "CLIENT KILL did not end a client stalled on its reply"
    );

    // A hard limit cuts the client off as soon as its reply is over it.
    let set = srv.cmd(&[
        "CONFIG",
        "SET",
        "client-output-buffer-limit",
        "normal 32mb 16mb 1",
    ]);
    assert_eq!(set, b"+OK\r\n");
    let (_hog, id) = hog(&srv, &["LRANGE", "big", "0", &range_end]);
    assert!(
        wait_until(IO_TIMEOUT, || client_line(&srv, &id).is_none()),
        "a client 70 MB over a 32 MB hard limit was not closed"
    );
    // A 28 MB reply is under the hard limit but over the soft one, even
    // after the kernel's socket buffers took their part: closed once it has
    // been over it for a second.
    let started = Instant::now();
    let (_hog, id) = hog(&srv, &["LRANGE", "big", "0", "3999999"]);
    assert!(
        wait_until(IO_TIMEOUT, || client_line(&srv, &id).is_none()),
        "a client over the soft limit for its seconds was not closed"
    );
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(srv
        .log_text()
        .contains("scheduled to be closed ASAP for overcoming of output buffer limits"));
    // The replies' memory is back (allow for allocator slack).
    assert!(
        wait_until(IO_TIMEOUT, || used_memory(&srv) < baseline + 8_000_000),
        "used_memory {} stayed far above {baseline} after the hogs were closed",
        used_memory(&srv)
    );
    check_survived(&mut srv, &precious);
    assert_eq!(
        srv.cmd(&["LLEN", "big"]),
        format!(":{ELEMENTS}\r\n").into_bytes()
    );
}

/// A subscriber that never reads is disconnected by the pubsub class of
/// client-output-buffer-limit instead of growing the server's memory; the
/// publisher and other data are unaffected.
#[test]
fn subscriber_that_never_reads_is_cut_off() {
    let mut srv = Server::start(&["--client-output-buffer-limit", "pubsub 1mb 256kb 60"]);
    let precious = write_precious(&srv);
    let (_sub, id) = hog(&srv, &["SUBSCRIBE", "firehose"]);
    assert!(wait_until(IO_TIMEOUT, || client_line(&srv, &id)
        .is_some_and(|l| l.contains("flags=P"))));
    let payload = "m".repeat(16 * 1024);
    let mut publisher = srv.raw();
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut published = 0;
    while client_line(&srv, &id).is_some() {
        assert!(
            Instant::now() < deadline,
            "subscriber still connected after {published} unread messages"
        );
        publisher.call(&["PUBLISH", "firehose", &payload]);
        published += 1;
    }
    // Kernel buffers take some, the limit the rest: far less than unbounded.
    assert!(published < 2_000, "{published} messages before the cut");
    assert_eq!(publisher.call(&["PUBLISH", "firehose", "x"]), b":0\r\n");
    check_survived(&mut srv, &precious);
}
