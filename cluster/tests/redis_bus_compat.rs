//! Wire compatibility with a real Redis 7.0: a MEET built by our encoder is
//! accepted, the PONG Redis answers decodes with our decoder (and re-encodes
//! to the same bytes), and Redis's CLUSTER NODES and nodes.conf parse and
//! re-format byte for byte. Skipped, with a note, when /usr/bin/redis-server
//! is not installed.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use shoal_cluster::bus::{self, BusError};
use shoal_cluster::msg::{
    flags, Body, Gossip, Header, Message, MsgType, NodeName, PingExt, SlotBitmap,
};
use shoal_cluster::nodes_conf::{format_cluster_nodes, NodesConf};

const REDIS_SERVER: &str = "/usr/bin/redis-server";
const DEADLINE: Duration = Duration::from_secs(10);
const REDIS_HOSTNAME: &str = "redis-a.test";

/// A redis-server we started; killed (only this child) and cleaned up on drop.
struct Redis {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Redis {
    fn start(tag: &str) -> Redis {
        // Spread concurrent starts so two servers never probe the same port.
        static NEXT: AtomicU16 = AtomicU16::new(0);
        let base = 20000 + (std::process::id() % 20000) as u16;
        let port = free_port_pair(base + NEXT.fetch_add(100, Ordering::Relaxed));
        let dir = std::env::temp_dir().join(format!("shoal-{tag}-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let log = File::create(dir.join("redis.out")).expect("log file");
        let child = Command::new(REDIS_SERVER)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes"])
            .arg("--cluster-config-file")
            .arg(dir.join("nodes.conf"))
            .arg("--dir")
            .arg(&dir)
            .args(["--save", "", "--appendonly", "no"])
            .args(["--cluster-announce-hostname", REDIS_HOSTNAME])
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn redis-server");
        let redis = Redis { child, dir, port };
        redis.wait_ready();
        redis
    }

    fn wait_ready(&self) {
        let start = Instant::now();
        loop {
            if let Ok(mut c) = Client::connect(self.port) {
                if let Reply::Simple(s) = c.cmd(&["PING"]) {
                    assert_eq!(s, "PONG");
                    return;
                }
            }
            assert!(
                start.elapsed() < DEADLINE,
                "redis-server did not answer PING; log:\n{}",
                std::fs::read_to_string(self.dir.join("redis.out")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn client(&self) -> Client {
        Client::connect(self.port).expect("connect to redis")
    }

    fn id(&self) -> String {
        String::from_utf8(self.client().bulk(&["CLUSTER", "MYID"])).expect("utf8")
    }

    fn nodes(&self) -> NodesConf {
        let text = self.client().bulk(&["CLUSTER", "NODES"]);
        let conf = NodesConf::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text:?}"));
        assert_eq!(
            format_cluster_nodes(&conf.nodes),
            text,
            "CLUSTER NODES re-format"
        );
        conf
    }

    /// Poll CLUSTER NODES until `done` holds, within the deadline.
    fn wait_nodes(&self, what: &str, done: impl Fn(&NodesConf) -> bool) -> NodesConf {
        let start = Instant::now();
        loop {
            let conf = self.nodes();
            if done(&conf) {
                return conf;
            }
            assert!(
                start.elapsed() < 3 * DEADLINE,
                "timed out waiting for {what}: {conf:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Send `msg` on a fresh connection to the bus port; return the reply
    /// frame and its decoding.
    fn bus_exchange(&self, msg: &Message) -> (Vec<u8>, Message) {
        let mut link = TcpStream::connect(("127.0.0.1", self.port + 10000)).expect("bus port");
        link.set_read_timeout(Some(DEADLINE)).expect("timeout");
        link.write_all(&bus::encode(msg)).expect("send");
        let frame = read_frame(&mut link);
        let reply = bus::decode(&frame).unwrap_or_else(|e| panic!("decode: {e}"));
        (frame, reply)
    }
}

/// A port P such that P and P+10000 are both free on 127.0.0.1 right now.
fn free_port_pair(from: u16) -> u16 {
    (from..55000)
        .find(|&p| {
            TcpListener::bind(("127.0.0.1", p)).is_ok()
                && TcpListener::bind(("127.0.0.1", p + 10000)).is_ok()
        })
        .expect("no free port pair")
}

#[derive(Debug)]
enum Reply {
    Simple(String),
    Error(String),
    Bulk(Option<Vec<u8>>),
}

/// Just enough RESP2 to drive redis-server.
struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    fn connect(port: u16) -> std::io::Result<Client> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(DEADLINE))?;
        Ok(Client {
            reader: BufReader::new(s.try_clone()?),
            writer: s,
        })
    }

    fn cmd(&mut self, args: &[&str]) -> Reply {
        let mut out = format!("*{}\r\n", args.len());
        for a in args {
            out.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        self.writer.write_all(out.as_bytes()).expect("write");
        self.read_reply()
    }

    fn ok(&mut self, args: &[&str]) {
        match self.cmd(args) {
            Reply::Simple(s) if s == "OK" => {}
            Reply::Error(e) => panic!("{args:?}: -{e}"),
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn bulk(&mut self, args: &[&str]) -> Vec<u8> {
        match self.cmd(args) {
            Reply::Bulk(Some(b)) => b,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn read_reply(&mut self) -> Reply {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("read reply");
        let line = line.trim_end_matches("\r\n");
        let (kind, rest) = line.split_at(1);
        match kind {
            "+" => Reply::Simple(rest.to_string()),
            "-" => Reply::Error(rest.to_string()),
            "$" => {
                let n: i64 = rest.parse().expect("bulk len");
                if n < 0 {
                    return Reply::Bulk(None);
                }
                let mut buf = vec![0u8; n as usize + 2];
                self.reader.read_exact(&mut buf).expect("bulk");
                buf.truncate(n as usize);
                Reply::Bulk(Some(buf))
            }
            _ => panic!("bad reply line {line:?}"),
        }
    }
}

fn random_name() -> NodeName {
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        ^ ((std::process::id() as u64) << 32)
        | 1;
    let mut name = [0u8; 40];
    for b in name.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = b"0123456789abcdef"[(x % 16) as usize];
    }
    name
}

fn info_field(info: &str, field: &str) -> u64 {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("{field} missing in {info}"))
        .trim()
        .parse()
        .expect("number")
}

/// Read one frame from the bus link with our framing helper.
fn read_frame(link: &mut TcpStream) -> Vec<u8> {
    let mut buf = vec![0u8; bus::FRAME_PREFIX_BYTES];
    link.read_exact(&mut buf).expect("frame prefix");
    let total = bus::frame_len(&buf)
        .expect("valid frame prefix")
        .expect("8 bytes are enough");
    buf.resize(total, 0);
    link.read_exact(&mut buf[bus::FRAME_PREFIX_BYTES..])
        .expect("frame body");
    buf
}

fn our_message(kind: MsgType, sender: NodeName, port: u16) -> Message {
    Message {
        header: Header {
            kind,
            port,
            pport: 0,
            cport: port + 10000,
            current_epoch: 0,
            config_epoch: 0,
            offset: 0,
            sender,
            slots: SlotBitmap::default(),
            slaveof: None,
            myip: b"127.0.0.1".to_vec(),
            flags: flags::MYSELF | flags::MASTER,
            state: 1,
            mflags: [0; 3],
        },
        body: Body::Ping {
            gossip: vec![Gossip {
                node: random_name(),
                ping_sent_s: 0,
                pong_received_s: 0,
                ip: b"127.0.0.1".to_vec(),
                port: 1,
                cport: 2,
                flags: flags::MASTER,
                pport: 0,
            }],
            exts: vec![PingExt::Hostname(b"shoal-test".to_vec())],
        },
    }
}

#[test]
fn redis_7_speaks_our_bus_and_config_format() {
    if !std::path::Path::new(REDIS_SERVER).exists() {
        eprintln!("note: {REDIS_SERVER} not installed; skipping the real-Redis bus test");
        return;
    }
    let redis = Redis::start("bus-compat");
    let mut c = redis.client();

    // Give Redis slots and a config epoch we can recognise on the wire.
    let mut assigned = SlotBitmap::default();
    let mut slot_args = vec!["CLUSTER".to_string(), "ADDSLOTS".to_string()];
    for s in (0u16..100).chain([5000, 5002, 16383]) {
        assigned.set(s, true);
        slot_args.push(s.to_string());
    }
    c.ok(&slot_args.iter().map(String::as_str).collect::<Vec<_>>());
    c.ok(&["CLUSTER", "SET-CONFIG-EPOCH", "7"]);
    let my_id = c.bulk(&["CLUSTER", "MYID"]);
    let info = String::from_utf8(c.bulk(&["CLUSTER", "INFO"])).expect("utf8");
    let current_epoch = info_field(&info, "cluster_current_epoch");
    let my_epoch = info_field(&info, "cluster_my_epoch");
    assert_eq!(my_epoch, 7);

    // MEET and PING from a node that does not exist, on Redis's bus port.
    let our_port = free_port_pair(redis.port + 1);
    let our_name = random_name();
    let mut link = TcpStream::connect(("127.0.0.1", redis.port + 10000)).expect("bus port");
    link.set_read_timeout(Some(DEADLINE)).expect("timeout");
    for kind in [MsgType::Meet, MsgType::Ping] {
        let msg = our_message(kind, our_name, our_port);
        link.write_all(&bus::encode(&msg)).expect("send");
        let frame = read_frame(&mut link);
        let pong = bus::decode(&frame).unwrap_or_else(|e| panic!("decode PONG: {e}"));
        let h = &pong.header;
        assert_eq!(h.kind, MsgType::Pong, "reply to {kind:?}");
        assert_eq!(&h.sender[..], &my_id[..]);
        assert_eq!(h.slots, assigned);
        assert_eq!(
            h.flags & (flags::MASTER | flags::MYSELF),
            flags::MASTER | flags::MYSELF
        );
        assert_eq!(h.flags & flags::SLAVE, 0);
        assert_eq!(h.slaveof, None);
        assert_eq!(h.current_epoch, current_epoch);
        assert_eq!(h.config_epoch, my_epoch);
        assert_eq!(
            (h.port, h.cport, h.pport),
            (redis.port, redis.port + 10000, 0)
        );
        assert_eq!(
            h.myip, b"",
            "no cluster-announce-ip: receivers use the peer address"
        );
        assert_eq!(
            pong.body,
            Body::Ping {
                gossip: vec![],
                exts: vec![PingExt::Hostname(REDIS_HOSTNAME.as_bytes().to_vec())],
            }
        );
        // Byte compatibility the other way round: our encoder writes exactly
        // what Redis wrote.
        assert_eq!(
            bus::encode(&pong),
            frame,
            "re-encoded PONG differs from Redis's"
        );
    }

    // Redis now knows a node at our address, in handshake under a name of
    // its own until it reaches us.
    let nodes = c.bulk(&["CLUSTER", "NODES"]);
    let conf = NodesConf::parse(&nodes).unwrap_or_else(|e| panic!("{e}\n{nodes:?}"));
    assert_eq!(
        format_cluster_nodes(&conf.nodes),
        nodes,
        "CLUSTER NODES re-format"
    );
    let me = conf
        .nodes
        .iter()
        .find(|n| n.flags & flags::MYSELF != 0)
        .expect("myself");
    assert_eq!(&me.name[..], &my_id[..]);
    assert_eq!(me.ip, b"127.0.0.1", "Redis learned its IP from our MEET");
    assert_eq!(me.hostname, REDIS_HOSTNAME.as_bytes());
    assert_eq!(
        me.slots,
        vec![(0, 99), (5000, 5000), (5002, 5002), (16383, 16383)]
    );
    assert_eq!(me.config_epoch, 7);
    let ours = conf
        .nodes
        .iter()
        .find(|n| n.ip == b"127.0.0.1" && n.port == our_port)
        .unwrap_or_else(|| {
            panic!(
                "our node not in CLUSTER NODES:\n{}",
                String::from_utf8_lossy(&nodes)
            )
        });
    assert!(ours.name == our_name || ours.flags & flags::HANDSHAKE != 0);
    assert_eq!(ours.cport, our_port + 10000);

    // nodes.conf as Redis saved it.
    c.ok(&["CLUSTER", "SAVECONFIG"]);
    let file = std::fs::read(redis.dir.join("nodes.conf")).expect("nodes.conf");
    let saved = NodesConf::parse(&file).unwrap_or_else(|e| panic!("{e}\n{file:?}"));
    assert_eq!(saved.format(), file, "nodes.conf re-format");
    assert_eq!(saved.current_epoch, current_epoch);
    // Handshake nodes are not saved.
    assert!(saved.nodes.iter().all(|n| n.flags & flags::HANDSHAKE == 0));

    // A corrupt frame: Redis drops the link (bad signature), and our
    // framing helper would have refused it too.
    let mut bad = bus::encode(&our_message(MsgType::Ping, our_name, our_port));
    bad[0] = b'X';
    assert!(matches!(
        bus::frame_len(&bad),
        Err(BusError::BadSignature(_))
    ));
    link.write_all(&bad).expect("send");
    let mut byte = [0u8; 1];
    assert!(
        matches!(link.read(&mut byte), Ok(0) | Err(_)),
        "Redis should close the link"
    );
    // ... and the node is fine.
    assert!(matches!(c.cmd(&["PING"]), Reply::Simple(s) if s == "PONG"));
}

fn name_of(id: &str) -> NodeName {
    id.as_bytes().try_into().expect("40-byte id")
}

#[test]
fn gossip_replicas_and_open_slots_from_a_real_cluster() {
    if !std::path::Path::new(REDIS_SERVER).exists() {
        eprintln!("note: {REDIS_SERVER} not installed; skipping the real-Redis cluster test");
        return;
    }
    let (a, b, c) = (
        Redis::start("cluster-a"),
        Redis::start("cluster-b"),
        Redis::start("cluster-c"),
    );
    let (a_id, b_id, c_id) = (a.id(), b.id(), c.id());
    let mut ca = a.client();
    let mut a_slots = SlotBitmap::default();
    for s in 0..100u16 {
        a_slots.set(s, true);
    }
    ca.ok(&["CLUSTER", "ADDSLOTSRANGE", "0", "99"]);
    b.client().ok(&["CLUSTER", "ADDSLOTSRANGE", "100", "199"]);
    for (r, epoch) in [(&a, "1"), (&b, "2"), (&c, "3")] {
        r.client().ok(&["CLUSTER", "SET-CONFIG-EPOCH", epoch]);
    }
    for r in [&b, &c] {
        ca.ok(&["CLUSTER", "MEET", "127.0.0.1", &r.port.to_string()]);
    }
    let all_known = |conf: &NodesConf| {
        conf.nodes.len() == 3
            && conf
                .nodes
                .iter()
                .all(|n| n.flags & flags::HANDSHAKE == 0 && n.link_connected)
    };
    a.wait_nodes("A to know B and C", all_known);
    c.wait_nodes("C to know A and B", all_known);
    c.client().ok(&["CLUSTER", "REPLICATE", &a_id]);
    a.wait_nodes("A to see C as its replica", |conf| {
        conf.nodes.iter().any(|n| {
            n.name == name_of(&c_id)
                && n.flags & flags::SLAVE != 0
                && n.master == Some(name_of(&a_id))
        })
    });
    ca.ok(&["CLUSTER", "SETSLOT", "50", "MIGRATING", &b_id]);
    ca.ok(&["CLUSTER", "SETSLOT", "150", "IMPORTING", &b_id]);

    // CLUSTER NODES (re-formatted identically inside `nodes`) and nodes.conf.
    let conf = a.nodes();
    let me = conf
        .nodes
        .iter()
        .find(|n| n.flags & flags::MYSELF != 0)
        .expect("myself");
    assert_eq!(me.migrating, vec![(50, name_of(&b_id))]);
    assert_eq!(me.importing, vec![(150, name_of(&b_id))]);
    let replica = conf
        .nodes
        .iter()
        .find(|n| n.name == name_of(&c_id))
        .expect("C");
    assert_eq!(replica.flags, flags::SLAVE);
    assert_eq!(
        replica.config_epoch, 1,
        "a replica shows its master's epoch"
    );
    let master_b = conf
        .nodes
        .iter()
        .find(|n| n.name == name_of(&b_id))
        .expect("B");
    assert_eq!(master_b.slots, vec![(100, 199)]);
    assert_eq!((master_b.port, master_b.cport), (b.port, b.port + 10000));
    ca.ok(&["CLUSTER", "SAVECONFIG"]);
    let file = std::fs::read(a.dir.join("nodes.conf")).expect("nodes.conf");
    let saved = NodesConf::parse(&file).unwrap_or_else(|e| panic!("{e}\n{file:?}"));
    assert_eq!(saved.format(), file, "nodes.conf re-format");
    assert_eq!(saved.nodes.len(), 3);
    assert_eq!(saved.current_epoch, 3);

    // PONGs from the master and the replica to a PING from a stranger.
    let stranger = |kind| {
        let mut m = our_message(kind, random_name(), 1);
        m.body = Body::Ping {
            gossip: vec![],
            exts: vec![],
        };
        m
    };
    let (frame, pong) = c.bus_exchange(&stranger(MsgType::Ping));
    assert_eq!(bus::encode(&pong), frame);
    assert_eq!(pong.header.sender, name_of(&c_id));
    assert_eq!(
        pong.header.flags & (flags::SLAVE | flags::MASTER),
        flags::SLAVE
    );
    assert_eq!(pong.header.slaveof, Some(name_of(&a_id)));
    assert_eq!(
        pong.header.slots, a_slots,
        "a replica sends its master's slots"
    );
    assert_eq!(pong.header.config_epoch, 1, "and its master's config epoch");
    assert_eq!(pong.header.current_epoch, 3);

    // Redis gossips about one random other node per PONG here (1/10 of the
    // nodes, at most nodes - 2), and its random pick may be itself: ask
    // until both peers have been described.
    let start = Instant::now();
    let mut seen: Vec<Gossip> = Vec::new();
    while seen.len() < 2 {
        assert!(start.elapsed() < DEADLINE, "no gossip from A: {seen:?}");
        let (frame, pong) = a.bus_exchange(&stranger(MsgType::Ping));
        assert_eq!(
            bus::encode(&pong),
            frame,
            "re-encoded PONG with gossip differs"
        );
        assert_eq!(pong.header.sender, name_of(&a_id));
        assert_eq!(pong.header.slots, a_slots);
        let Body::Ping { gossip, .. } = pong.body else {
            panic!("PONG without ping data");
        };
        for g in gossip {
            if !seen.iter().any(|s| s.node == g.node) {
                seen.push(g);
            }
        }
    }
    for g in &seen {
        let (port, node_flags) = if g.node == name_of(&b_id) {
            (b.port, flags::MASTER)
        } else {
            assert_eq!(g.node, name_of(&c_id));
            (c.port, flags::SLAVE)
        };
        assert_eq!(g.ip, b"127.0.0.1");
        assert_eq!((g.port, g.cport, g.pport), (port, port + 10000, 0));
        assert_eq!(g.flags, node_flags);
        assert!(g.pong_received_s > 1_600_000_000, "unix seconds: {g:?}");
    }
}
