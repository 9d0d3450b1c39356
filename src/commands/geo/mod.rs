//! GEO commands: points kept in a sorted set whose scores are 52-bit
//! geohashes (`crate::types::geohash`), as Redis stores them. GEOADD is
//! ZADD with computed scores (and propagates as that ZADD); GEOPOS,
//! GEOHASH and GEODIST decode scores; the search family (GEOSEARCH,
//! GEOSEARCHSTORE, GEORADIUS…) lives in `search`.

mod search;

use super::table::{c, c_with_keys};
use super::{Command, Ctx, KeySpec};
use crate::error;
use crate::protocol::Out;
use crate::types::geohash;
use bytes::Bytes;

/// This family's entries in the command table.
pub fn commands() -> Vec<Command> {
    use self::search as s;
    let one = (1, 1, 1);
    let g = "geo";
    vec![
        c("geoadd", -5, "write denyoom @geo", one, g, "3.2.0", "Add one or more geospatial items in the geospatial index represented using a sorted set", geoadd),
        c("geodist", -4, "readonly @geo", one, g, "3.2.0", "Returns the distance between two members of a geospatial index", geodist),
        c("geohash", -2, "readonly @geo", one, g, "3.2.0", "Returns members of a geospatial index as standard geohash strings", geohash_cmd),
        c("geopos", -2, "readonly @geo", one, g, "3.2.0", "Returns longitude and latitude of members of a geospatial index", geopos),
        c("geosearch", -7, "readonly @geo", one, g, "6.2.0", "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle.", s::geosearch),
        c("geosearchstore", -8, "write denyoom @geo", (1, 2, 1), g, "6.2.0", "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle, and store the result in another key.", s::geosearchstore),
        c_with_keys("georadius", -6, "write denyoom @geo", KeySpec::GeoRadius { store_from: 6 }, g, "3.2.0", "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a point", s::georadius),
        c_with_keys("georadiusbymember", -5, "write denyoom @geo", KeySpec::GeoRadius { store_from: 5 }, g, "3.2.0", "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a member", s::georadiusbymember),
        c("georadius_ro", -6, "readonly @geo", one, g, "3.2.10", "A read-only variant for GEORADIUS", s::georadius_ro),
        c("georadiusbymember_ro", -5, "readonly @geo", one, g, "3.2.10", "A read-only variant for GEORADIUSBYMEMBER", s::georadiusbymember_ro),
    ]
}

const ERR_UNIT: &str = "ERR unsupported unit provided. please use M, KM, FT, MI";

/// A unit's size in metres.
fn unit_to_m(unit: &[u8]) -> Result<f64, &'static str> {
    match unit.to_ascii_lowercase().as_slice() {
        b"m" => Ok(1.0),
        b"km" => Ok(1000.0),
        b"ft" => Ok(0.3048),
        b"mi" => Ok(1609.34),
        _ => Err(ERR_UNIT),
    }
}

/// A longitude and latitude argument pair, within the storable limits.
fn parse_lonlat(long: &[u8], lat: &[u8]) -> Result<(f64, f64), String> {
    let parse = |a: &[u8]| super::zset::parse_score(a).ok_or_else(|| error::NOT_FLOAT.to_string());
    let (x, y) = (parse(long)?, parse(lat)?);
    if !(geohash::LONG_MIN..=geohash::LONG_MAX).contains(&x)
        || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&y)
    {
        return Err(format!("ERR invalid longitude,latitude pair {x:.6},{y:.6}"));
    }
    Ok((x, y))
}

/// A distance as Redis replies with it: fixed point, 4 decimals, rounded
/// half to even.
fn format_distance(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".into();
    }
    let scaled = (d * 10000.0).round_ties_even();
    let neg = scaled < 0.0;
    let v = scaled.abs() as u64;
    format!(
        "{}{}.{:04}",
        if neg { "-" } else { "" },
        v / 10000,
        v % 10000
    )
}

fn reply_distance(out: &mut Out, d: f64) {
    out.bulk(format_distance(d).as_bytes());
}

/// A coordinate: a bulk string in RESP2, a double in RESP3, printed as
/// Redis prints a long double in human form (17 decimals, trailing zeros
/// dropped).
fn reply_coord(out: &mut Out, v: f64) {
    let text = crate::longdouble::LongDouble::from_f64(v).to_human();
    if out.resp3 {
        out.raw(b",");
        out.raw(text.as_bytes());
        out.raw(b"\r\n");
    } else {
        out.bulk(text.as_bytes());
    }
}

/// GEOADD key [NX|XX] [CH] longitude latitude member [...]: runs as ZADD
/// with each point's score, and propagates as that ZADD.
pub fn geoadd(ctx: &mut Ctx, out: &mut Out) {
    let argc = ctx.argv.len();
    let (mut nx, mut xx) = (false, false);
    let mut first = 2;
    while first < argc {
        let a = ctx.arg(first);
        if a.eq_ignore_ascii_case(b"nx") {
            nx = true;
        } else if a.eq_ignore_ascii_case(b"xx") {
            xx = true;
        } else if !a.eq_ignore_ascii_case(b"ch") {
            break;
        }
        first += 1;
    }
    if !(argc - first).is_multiple_of(3) || (nx && xx) {
        return out.error(error::SYNTAX);
    }
    let mut zadd_argv: Vec<Bytes> = Vec::with_capacity(first + (argc - first) / 3 * 2);
    zadd_argv.push(Bytes::from_static(b"zadd"));
    zadd_argv.extend(ctx.argv[1..first].iter().cloned());
    for i in (first..argc).step_by(3) {
        let (x, y) = match parse_lonlat(ctx.arg(i), ctx.arg(i + 1)) {
            Ok(p) => p,
            Err(e) => return out.error(&e),
        };
        let score = geohash::encode_point(x, y).expect("within the limits checked above");
        zadd_argv.push(Bytes::from(score.to_string()));
        zadd_argv.push(ctx.argv[i + 2].clone());
    }
    let mut zctx = Ctx::new(ctx.srv, ctx.client, &zadd_argv, ctx.cmd, ctx.hot);
    zctx.now_ms = ctx.now_ms;
    super::zset::zadd(&mut zctx, out);
    let dirty = zctx.dirty;
    ctx.dirty += dirty;
    ctx.propagate = Some(zadd_argv);
}

/// The score of `member` in the sorted set at `key`: Err(()) on a key of
/// another type.
fn with_zset<R>(
    ctx: &Ctx,
    key: &[u8],
    f: impl FnOnce(Option<&crate::types::ZSetValue>) -> R,
) -> Result<R, ()> {
    let mut g = ctx.db().lock_key(key);
    let z = super::zset::get_zset(&mut g, key, ctx.now_ms)?;
    if z.is_some() {
        ctx.hit();
    } else {
        ctx.miss_key(key);
    }
    Ok(f(z))
}

/// GEOPOS key [member ...]
pub fn geopos(ctx: &mut Ctx, out: &mut Out) {
    let members = &ctx.argv[2..];
    let scores = with_zset(ctx, ctx.arg(1), |z| {
        members
            .iter()
            .map(|m| z.and_then(|z| z.score(m)))
            .collect::<Vec<_>>()
    });
    let Ok(scores) = scores else {
        return out.error(error::WRONGTYPE);
    };
    out.array(scores.len());
    for s in scores {
        match s {
            None => out.null_array(),
            Some(s) => {
                let (x, y) = geohash::decode_score(s);
                out.array(2);
                reply_coord(out, x);
                reply_coord(out, y);
            }
        }
    }
}

/// GEOHASH key [member ...]
pub fn geohash_cmd(ctx: &mut Ctx, out: &mut Out) {
    let members = &ctx.argv[2..];
    let scores = with_zset(ctx, ctx.arg(1), |z| {
        members
            .iter()
            .map(|m| z.and_then(|z| z.score(m)))
            .collect::<Vec<_>>()
    });
    let Ok(scores) = scores else {
        return out.error(error::WRONGTYPE);
    };
    out.array(scores.len());
    for s in scores {
        match s {
            None => out.null(),
            Some(s) => out.bulk(&geohash::standard_string(s)),
        }
    }
}

/// GEODIST key member1 member2 [M|KM|FT|MI]
pub fn geodist(ctx: &mut Ctx, out: &mut Out) {
    let to_m = match ctx.argv.len() {
        5 => match unit_to_m(ctx.arg(4)) {
            Ok(u) => u,
            Err(e) => return out.error(e),
        },
        4 => 1.0,
        _ => return out.error(error::SYNTAX),
    };
    let (m1, m2) = (ctx.arg(2), ctx.arg(3));
    let scores = with_zset(ctx, ctx.arg(1), |z| z.map(|z| (z.score(m1), z.score(m2))));
    match scores {
        Err(()) => out.error(error::WRONGTYPE),
        Ok(Some((Some(a), Some(b)))) => {
            let (a, b) = (geohash::decode_score(a), geohash::decode_score(b));
            reply_distance(out, geohash::distance(a.0, a.1, b.0, b.1) / to_m);
        }
        Ok(_) => out.null(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_print_like_redis() {
        assert_eq!(format_distance(0.0), "0.0000");
        assert_eq!(format_distance(166274.15156960033), "166274.1516");
        assert_eq!(format_distance(0.00004), "0.0000");
        assert_eq!(format_distance(0.7750), "0.7750");
        assert_eq!(format_distance(12.5), "12.5000");
    }

    #[test]
    fn coordinate_errors_use_printf_f() {
        assert_eq!(
            parse_lonlat(b"200", b"100").unwrap_err(),
            "ERR invalid longitude,latitude pair 200.000000,100.000000"
        );
        assert_eq!(parse_lonlat(b"x", b"1").unwrap_err(), error::NOT_FLOAT);
        assert!(parse_lonlat(b"-180", b"85.05112878").is_ok());
    }
}
