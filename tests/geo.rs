//! GEO commands against a real shoal-server: replies compared byte for
//! byte with redis-server 7.0.15 over random point sets and queries (RESP2
//! and RESP3), Redis's error texts, the `redis` crate and redis-cli as
//! clients, the STORE variants' keyspace notifications, and what reaches
//! the AOF (GEOADD as ZADD, GEORADIUS ... STORE as itself).

mod common;

use common::*;
use std::time::Duration;

/// A small deterministic generator (the test must replay identically).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 11
    }

    fn unit(&mut self) -> f64 {
        self.next() as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Send the same command to both servers; panic with both replies if they differ.
fn same(shoal: &mut Raw, redis: &mut Raw, cmd: &[String]) {
    let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let (s, r) = (shoal.call(&args), redis.call(&args));
    assert_eq!(
        text(&s),
        text(&r),
        "reply to {args:?} differs from redis-server 7.0.15 (left: shoal)"
    );
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// One random query around (lon, lat) against `n` members of `pts`.
fn random_query(g: &mut Lcg, lon: f64, lat: f64, spread: f64, n: usize) -> Vec<String> {
    let unit = g.pick(&["m", "km", "ft", "mi"]);
    let to_m = match unit {
        "m" => 1.0,
        "km" => 1000.0,
        "ft" => 0.3048,
        _ => 1609.34,
    };
    let r = g.range(0.0, spread * 111_000.0 * 1.5) / to_m;
    let mut opts: Vec<String> = Vec::new();
    for w in ["WITHCOORD", "WITHDIST", "WITHHASH"] {
        if g.below(2) == 0 {
            opts.push(w.into());
        }
    }
    match g.below(3) {
        0 => opts.push("ASC".into()),
        1 => opts.push("DESC".into()),
        _ => {}
    }
    match g.below(4) {
        0 => opts.extend(["COUNT".into(), (1 + g.below(20)).to_string()]),
        1 => opts.extend(["COUNT".into(), (1 + g.below(20)).to_string(), "ANY".into()]),
        _ => {}
    }
    let qlon = (lon + g.range(-spread, spread)).clamp(-180.0, 180.0);
    let qlat = (lat + g.range(-spread, spread)).clamp(-85.0, 85.0);
    let member = format!("m{}", g.below(n));
    let (x, y, rs) = (
        format!("{qlon:.6}"),
        format!("{qlat:.6}"),
        format!("{r:.4}"),
    );
    let mut cmd = match g.below(5) {
        0 => strs(&[
            "GEOSEARCH",
            "pts",
            "FROMLONLAT",
            &x,
            &y,
            "BYRADIUS",
            &rs,
            unit,
        ]),
        1 => {
            let w = format!("{:.4}", r * g.range(0.2, 3.0));
            let h = format!("{:.4}", r * g.range(0.2, 3.0));
            strs(&[
                "GEOSEARCH",
                "pts",
                "FROMMEMBER",
                &member,
                "BYBOX",
                &w,
                &h,
                unit,
            ])
        }
        2 => strs(&["GEORADIUS", "pts", &x, &y, &rs, unit]),
        3 => strs(&["GEORADIUSBYMEMBER_RO", "pts", &member, &rs, unit]),
        _ => {
            let other = format!("m{}", g.below(n));
            return strs(&["GEODIST", "pts", &member, &other, unit]);
        }
    };
    cmd.extend(opts);
    cmd
}

#[test]
fn random_points_and_searches_match_redis_byte_for_byte() {
    if !require_tool(REDIS_SERVER, "redis-server") {
        return;
    }
    let shoal_srv = Server::start(&[]);
    let redis_srv = Server::start_binary(REDIS_SERVER, &[]);
    let (mut s, mut r) = (shoal_srv.raw(), redis_srv.raw());
    let mut g = Lcg(20261204);
    for proto in ["2", "3"] {
        s.call(&["HELLO", proto]);
        r.call(&["HELLO", proto]);
        for _ in 0..12 {
            same(&mut s, &mut r, &strs(&["DEL", "pts", "dst"]));
            // Centres include the poles' edges and the 180th meridian.
            let mut lon = g.range(-180.0, 180.0);
            let mut lat = g.range(-85.0, 85.0);
            if g.below(4) == 0 {
                lat = if g.below(2) == 0 { 80.0 } else { -80.0 } + g.range(-5.0, 5.0);
            }
            if g.below(4) == 0 {
                lon = if g.below(2) == 0 { 179.5 } else { -179.5 } + g.range(-0.5, 0.5);
            }
            let spread = [0.01, 0.1, 1.0, 10.0, 50.0][g.below(5)];
            let n = [5, 50, 200][g.below(3)];
            let mut add = strs(&["GEOADD", "pts"]);
            for i in 0..n {
                let x = (lon + g.range(-spread, spread)).clamp(-180.0, 180.0);
                let y = (lat + g.range(-spread, spread)).clamp(-85.05, 85.05);
                add.extend([format!("{x:.6}"), format!("{y:.6}"), format!("m{i}")]);
            }
            same(&mut s, &mut r, &add);
            for _ in 0..25 {
                let q = random_query(&mut g, lon, lat, spread, n);
                same(&mut s, &mut r, &q);
            }
            // The stored forms, read back.
            let (x, y) = (format!("{lon:.6}"), format!("{lat:.6}"));
            let rad = format!("{:.1}", spread * 50.0);
            for store in ["STORE", "STOREDIST"] {
                same(
                    &mut s,
                    &mut r,
                    &strs(&[
                        "GEORADIUS",
                        "pts",
                        &x,
                        &y,
                        &rad,
                        "km",
                        "COUNT",
                        "7",
                        store,
                        "dst",
                    ]),
                );
                same(
                    &mut s,
                    &mut r,
                    &strs(&["ZRANGE", "dst", "0", "-1", "WITHSCORES"]),
                );
            }
            same(
                &mut s,
                &mut r,
                &strs(&[
                    "GEOSEARCHSTORE",
                    "dst",
                    "pts",
                    "FROMLONLAT",
                    &x,
                    &y,
                    "BYBOX",
                    &rad,
                    &rad,
                    "km",
                    "STOREDIST",
                ]),
            );
            same(
                &mut s,
                &mut r,
                &strs(&["ZRANGE", "dst", "0", "-1", "WITHSCORES"]),
            );
            let mut pos = strs(&["GEOPOS", "pts"]);
            let mut hash = strs(&["GEOHASH", "pts"]);
            for i in 0..8 {
                pos.push(format!("m{}", g.below(n + 3)));
                hash.push(format!("m{}", g.below(n + 3)));
                let _ = i;
            }
            same(&mut s, &mut r, &pos);
            same(&mut s, &mut r, &hash);
        }
    }
}

/// Error paths, edge coordinates and odd inputs, in both protocols.
const EDGE_CASES: &[&str] = &[
    "GEOADD k 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
    "SET str x",
    "GEOADD k 200 100 x",
    "GEOADD k -180.1 0 x",
    "GEOADD k 0 85.06 x",
    "GEOADD k abc 1 x",
    "GEOADD k nx xx 1 1 x",
    "GEOADD k gt 1 1 x",
    "GEOADD k 1 1 x y",
    "GEOADD k xx ch 1 1 Palermo 2 2 nope",
    "GEOADD k ch 13.361389 38.115556 Palermo",
    "GEOADD k nx 1 1 Palermo",
    "GEOADD str 1 1 x",
    "GEOADD k",
    "GEODIST k Palermo Catania",
    "GEODIST k Palermo Catania km",
    "GEODIST k Palermo Catania MI",
    "GEODIST k Palermo Catania ft",
    "GEODIST k Palermo Catania parsec",
    "GEODIST k Palermo Catania km extra",
    "GEODIST k Palermo nope",
    "GEODIST nokey a b",
    "GEODIST str a b",
    "GEOHASH k Palermo nope Catania",
    "GEOHASH nokey a",
    "GEOHASH str a",
    "GEOHASH k",
    "GEOPOS k Palermo nope",
    "GEOPOS nokey a b",
    "GEOPOS str a",
    "GEOSEARCH k FROMMEMBER Palermo BYRADIUS 10",
    "GEOSEARCH k BYRADIUS 10 km BYBOX 1 1 km",
    "GEOSEARCH k FROMMEMBER Palermo FROMLONLAT 1 1 BYRADIUS 10 km",
    "GEOSEARCH k FROMMEMBER Palermo BYRADIUS 10 km BYBOX 1 1 km",
    "GEOSEARCH k FROMMEMBER nope BYRADIUS 10 km",
    "GEOSEARCH k FROMMEMBER nope BYRADIUS abc km",
    "GEOSEARCH k FROMLONLAT 200 100 BYRADIUS 10 km",
    "GEOSEARCH k FROMLONLAT 1 1 BYRADIUS -1 km",
    "GEOSEARCH k FROMLONLAT 1 1 BYRADIUS 1 parsec",
    "GEOSEARCH k FROMLONLAT 1 1 BYBOX -1 1 km",
    "GEOSEARCH k FROMLONLAT 1 1 BYBOX x 1 km",
    "GEOSEARCH k FROMLONLAT 1 1 BYBOX 1 x km",
    "GEOSEARCH k FROMLONLAT 15 37 BYRADIUS 200 km ANY",
    "GEOSEARCH k FROMLONLAT 15 37 BYRADIUS 200 km COUNT 0",
    "GEOSEARCH k FROMLONLAT 15 37 BYRADIUS 200 km COUNT x",
    "GEOSEARCH k FROMLONLAT 15 37 BYRADIUS 200 km COUNT",
    "GEOSEARCH k FROMLONLAT 15 37 BYRADIUS 200 km STORE x",
    "GEOSEARCH k FROMLONLAT 15 37 BYRADIUS 200 km WITHDIST WITHHASH WITHCOORD DESC",
    "GEOSEARCH k FROMLONLAT 15 37 BYBOX 400 400 km COUNT 1 ANY WITHDIST",
    "geosearch k FROMLONLAT 15 37 BYRADIUS 200 km garbage",
    "GeoSearch k BYRADIUS 200 km",
    "GeoSearch k FROMLONLAT 15 37",
    "GEOSEARCH nokey FROMMEMBER x BYRADIUS 1 km",
    "GEOSEARCH str FROMLONLAT 1 1 BYRADIUS 1 km",
    "GEOSEARCHSTORE dst k FROMLONLAT 15 37 BYRADIUS 200 km WITHDIST",
    "GEOSEARCHSTORE dst k FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST",
    "ZRANGE dst 0 -1 WITHSCORES",
    "GEOSEARCHSTORE dst k FROMLONLAT 0 0 BYRADIUS 1 km",
    "EXISTS dst",
    "GEOSEARCHSTORE dst k FROMLONLAT 15 37 BYRADIUS 200 km STORE x",
    "GEORADIUS k 15 37 200 km STORE dst WITHDIST",
    "GEORADIUS k 15 37 200 km STORE",
    "GEORADIUS k 15 37 200 km STORE dst STOREDIST dst2",
    "ZRANGE dst2 0 -1 WITHSCORES",
    "EXISTS dst",
    "GEORADIUS_RO k 15 37 200 km STORE dst",
    "GEORADIUS k 200 37 200 km",
    "GEORADIUS k 15 37 -200 km",
    "GEORADIUS k 15 37 x km",
    "GEORADIUS str 200 37 200 km",
    "GEORADIUS nokey 15 37 200 km",
    "GEORADIUS nokey 15 37 200 km STORE dst2",
    "EXISTS dst2",
    "GEORADIUS k 15 37 200 km FROMMEMBER Palermo",
    "GEORADIUSBYMEMBER k Palermo 200 km WITHDIST ASC",
    "GEORADIUSBYMEMBER k nope 200 km",
    "GEORADIUSBYMEMBER k Palermo x km",
    "GEORADIUSBYMEMBER nokey nope x km",
    "GEORADIUSBYMEMBER_RO k Palermo 200 km STOREDIST x",
    "GEORADIUSBYMEMBER k Palermo 200 km COUNT 1 DESC WITHHASH",
    "GEORADIUS k 15 37 inf km",
    "GEORADIUS k 0 0 0 km",
    "GEOSEARCH k FROMLONLAT 15 37 BYBOX 0 0 km",
    "GEOADD edge 180 85.05112878 a -180 -85.05112878 b 0 0 c",
    "GEOPOS edge a b c",
    "GEOHASH edge a b c",
    "GEORADIUS edge 180 85 100 km WITHCOORD",
    "GEORADIUS edge 180 85 10000 km WITHCOORD",
    "GEORADIUS edge 0 0 50000 km",
    "ZADD weird -5 n 1e20 h 3.5 f",
    "GEOPOS weird n h f",
    "GEOHASH weird n h f",
    "COMMAND GETKEYS GEORADIUS k 1 1 1 km STORE a STOREDIST b",
    "COMMAND GETKEYS GEORADIUSBYMEMBER k m 1 km STORE a",
    "COMMAND GETKEYS GEOSEARCHSTORE d s FROMLONLAT 1 1 BYRADIUS 1 km",
    "COMMAND INFO georadius georadiusbymember geoadd geodist geopos geohash geosearch",
];

#[test]
fn errors_and_edge_cases_match_redis() {
    if !require_tool(REDIS_SERVER, "redis-server") {
        return;
    }
    let shoal_srv = Server::start(&[]);
    let redis_srv = Server::start_binary(REDIS_SERVER, &[]);
    let (mut s, mut r) = (shoal_srv.raw(), redis_srv.raw());
    for proto in ["2", "3"] {
        s.call(&["HELLO", proto]);
        r.call(&["HELLO", proto]);
        same(&mut s, &mut r, &strs(&["FLUSHALL"]));
        for line in EDGE_CASES {
            let cmd: Vec<String> = line.split(' ').map(String::from).collect();
            same(&mut s, &mut r, &cmd);
        }
    }
}

#[tokio::test]
async fn redis_crate_client_sees_redis_values() {
    let srv = Server::start(&[]);
    let mut c = srv.conn().await;
    let added: i64 = q(
        &mut c,
        &[
            "GEOADD",
            "Sicily",
            "13.361389",
            "38.115556",
            "Palermo",
            "15.087269",
            "37.502669",
            "Catania",
        ],
    )
    .await
    .unwrap();
    assert_eq!(added, 2);
    let d: String = q(&mut c, &["GEODIST", "Sicily", "Palermo", "Catania", "km"])
        .await
        .unwrap();
    assert_eq!(d, "166.2742");
    let h: Vec<String> = q(&mut c, &["GEOHASH", "Sicily", "Palermo", "Catania"])
        .await
        .unwrap();
    assert_eq!(h, ["sqc8b49rny0", "sqdtr74hyu0"]);
    let p: Vec<Option<(String, String)>> = q(&mut c, &["GEOPOS", "Sicily", "Palermo", "nope"])
        .await
        .unwrap();
    assert_eq!(
        p,
        [
            Some(("13.36138933897018433".into(), "38.11555639549629859".into())),
            None
        ]
    );
    let near: Vec<(String, String)> = q(
        &mut c,
        &[
            "GEOSEARCH",
            "Sicily",
            "FROMLONLAT",
            "15",
            "37",
            "BYRADIUS",
            "200",
            "km",
            "ASC",
            "WITHDIST",
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        near,
        [
            ("Catania".into(), "56.4413".into()),
            ("Palermo".into(), "190.4424".into())
        ]
    );
    let stored: i64 = q(
        &mut c,
        &[
            "GEORADIUSBYMEMBER",
            "Sicily",
            "Palermo",
            "100",
            "km",
            "STORE",
            "near",
        ],
    )
    .await
    .unwrap();
    assert_eq!(stored, 1);
    let z: Vec<(String, f64)> = q(&mut c, &["ZRANGE", "near", "0", "-1", "WITHSCORES"])
        .await
        .unwrap();
    assert_eq!(z, [("Palermo".to_string(), 3479099956230698.0)]);
    let e = q::<i64>(&mut c, &["GEOADD", "Sicily", "200", "100", "x"])
        .await
        .unwrap_err();
    assert_eq!(
        err_line(&e),
        "ERR invalid longitude,latitude pair 200.000000,100.000000"
    );
    // GEO keys are sorted sets.
    let t: String = q(&mut c, &["TYPE", "Sicily"]).await.unwrap();
    assert_eq!(t, "zset");
}

#[test]
fn redis_cli_prints_searches() {
    if !require_tool(REDIS_CLI, "redis-cli") {
        return;
    }
    let srv = Server::start(&[]);
    srv.cli(&[
        "GEOADD",
        "Sicily",
        "13.361389",
        "38.115556",
        "Palermo",
        "15.087269",
        "37.502669",
        "Catania",
    ]);
    let out = srv.cli(&[
        "GEOSEARCH",
        "Sicily",
        "FROMLONLAT",
        "15",
        "37",
        "BYBOX",
        "400",
        "400",
        "km",
        "ASC",
        "WITHCOORD",
        "WITHDIST",
    ]);
    assert_eq!(
        out,
        "Catania\n56.4413\n15.08726745843887329\n37.50266842333162032\nPalermo\n190.4424\n13.36138933897018433\n38.11555639549629859\n"
    );
    assert_eq!(srv.cli(&["GEOHASH", "Sicily", "Palermo"]), "sqc8b49rny0\n");
}

#[tokio::test]
async fn store_variants_notify_and_are_logged_as_redis_logs_them() {
    let srv = Server::start(&["--appendonly", "yes", "--notify-keyspace-events", "KEA"]);
    let client = redis::Client::open(srv.url()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub.psubscribe("__keyevent@0__:*").await.unwrap();
    let mut events = pubsub.into_on_message();
    let mut c = srv.conn().await;
    let _: i64 = q(
        &mut c,
        &["GEOADD", "pts", "13.361389", "38.115556", "Palermo"],
    )
    .await
    .unwrap();
    let _: i64 = q(
        &mut c,
        &["GEORADIUS", "pts", "13", "38", "100", "km", "STORE", "a"],
    )
    .await
    .unwrap();
    let _: i64 = q(
        &mut c,
        &[
            "GEOSEARCHSTORE",
            "b",
            "pts",
            "FROMMEMBER",
            "Palermo",
            "BYRADIUS",
            "1",
            "km",
        ],
    )
    .await
    .unwrap();
    // An empty result deletes the destination.
    let n: i64 = q(
        &mut c,
        &[
            "GEOSEARCHSTORE",
            "b",
            "pts",
            "FROMLONLAT",
            "0",
            "0",
            "BYRADIUS",
            "1",
            "km",
        ],
    )
    .await
    .unwrap();
    assert_eq!(n, 0);
    let mut got = Vec::new();
    use futures_util::StreamExt;
    while got.len() < 4 {
        let m = tokio::time::timeout(IO_TIMEOUT, events.next())
            .await
            .expect("keyspace event in time")
            .expect("stream open");
        let key: String = m.get_payload().unwrap();
        got.push((m.get_channel_name().to_string(), key));
    }
    assert_eq!(
        got,
        [
            ("__keyevent@0__:zadd".to_string(), "pts".to_string()),
            ("__keyevent@0__:georadiusstore".into(), "a".into()),
            ("__keyevent@0__:geosearchstore".into(), "b".into()),
            ("__keyevent@0__:del".into(), "b".into()),
        ]
    );
    // The AOF: GEOADD as the ZADD it ran, the STORE commands as themselves
    // (deterministic, as Redis propagates them), a read-only search not at all.
    let _: Vec<String> = q(&mut c, &["GEORADIUS", "pts", "13", "38", "100", "km"])
        .await
        .unwrap();
    let dir = srv.dir().join("appendonlydir");
    let mut aof = String::new();
    let ok = wait_until(Duration::from_secs(10), || {
        aof = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".incr.aof"))
            .map(|e| {
                String::from_utf8_lossy(&std::fs::read(e.path()).unwrap_or_default()).into_owned()
            })
            .collect();
        aof.contains("GEOSEARCHSTORE") && aof.matches("GEOSEARCHSTORE").count() == 2
    });
    assert!(ok, "AOF never got the writes: {aof:?}");
    assert!(
        aof.contains("$4\r\nzadd\r\n$3\r\npts\r\n$16\r\n3479099956230698\r\n$7\r\nPalermo\r\n"),
        "{aof:?}"
    );
    assert!(!aof.to_ascii_lowercase().contains("geoadd"), "{aof:?}");
    assert_eq!(aof.matches("GEORADIUS").count(), 1, "{aof:?}");
}
