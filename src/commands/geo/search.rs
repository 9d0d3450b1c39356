//! The search family: GEOSEARCH, GEOSEARCHSTORE, GEORADIUS,
//! GEORADIUSBYMEMBER and their _RO forms, one routine as in Redis
//! (`georadiusGeneric`): arguments are read in Redis's order (the type of
//! the source key first, then each option as it comes, each one's error
//! when it is reached), the 9 geohash cells around the centre are scanned
//! as sorted-set score ranges, points are filtered by exact distance, and
//! the result is sorted, cut to COUNT, and replied or stored.

use super::{parse_lonlat, reply_coord, reply_distance, unit_to_m};
use crate::commands::Ctx;
use crate::error;
use crate::keyspace::{Entry, Value};
use crate::notify::{notify, NOTIFY_GENERIC, NOTIFY_ZSET};
use crate::protocol::Out;
use crate::types::geohash::{self, Shape, ShapeKind};
use crate::types::{Elem, ZSetValue};
use bytes::Bytes;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// GEORADIUS: centre and radius as arguments 2..6.
    Radius,
    /// GEORADIUSBYMEMBER: a member and radius as arguments 2..5.
    RadiusByMember,
    /// GEOSEARCH: everything given as options.
    Search,
    /// GEOSEARCHSTORE: GEOSEARCH with a destination at 1.
    SearchStore,
}

impl Kind {
    fn is_search(self) -> bool {
        matches!(self, Kind::Search | Kind::SearchStore)
    }

    /// Where the options start.
    fn base_args(self) -> usize {
        match self {
            Kind::Radius => 6,
            Kind::RadiusByMember => 5,
            Kind::Search => 2,
            Kind::SearchStore => 3,
        }
    }
}

pub fn georadius(ctx: &mut Ctx, out: &mut Out) {
    generic(ctx, out, Kind::Radius, false);
}

pub fn georadius_ro(ctx: &mut Ctx, out: &mut Out) {
    generic(ctx, out, Kind::Radius, true);
}

pub fn georadiusbymember(ctx: &mut Ctx, out: &mut Out) {
    generic(ctx, out, Kind::RadiusByMember, false);
}

pub fn georadiusbymember_ro(ctx: &mut Ctx, out: &mut Out) {
    generic(ctx, out, Kind::RadiusByMember, true);
}

pub fn geosearch(ctx: &mut Ctx, out: &mut Out) {
    generic(ctx, out, Kind::Search, true);
}

pub fn geosearchstore(ctx: &mut Ctx, out: &mut Out) {
    generic(ctx, out, Kind::SearchStore, true);
}

/// One option as it appears in the arguments; its value is checked when
/// the options are evaluated, in order.
enum Opt<'a> {
    WithDist,
    WithHash,
    WithCoord,
    Any,
    Asc,
    Desc,
    Count(&'a [u8]),
    /// STORE key / STOREDIST key (true) of GEORADIUS*.
    Store(&'a [u8], bool),
    /// GEOSEARCHSTORE's STOREDIST.
    StoreDist,
    FromMember(&'a [u8]),
    FromLonLat(&'a [u8], &'a [u8]),
    ByRadius(&'a [u8], &'a [u8]),
    ByBox(&'a [u8], &'a [u8], &'a [u8]),
}

/// The options in order, and whether they end in a syntax error.
fn read_options(argv: &[Bytes], kind: Kind, nostore: bool) -> (Vec<Opt<'_>>, bool) {
    let base = kind.base_args();
    let rest = &argv[base.min(argv.len())..];
    let n = rest.len();
    let mut opts = Vec::new();
    let (mut from_member, mut from_loc, mut by_radius, mut by_box) = (false, false, false, false);
    let can_store = !nostore && !kind.is_search();
    let mut i = 0;
    while i < n {
        let a = rest[i].to_ascii_lowercase();
        let opt = match a.as_slice() {
            b"withdist" => Opt::WithDist,
            b"withhash" => Opt::WithHash,
            b"withcoord" => Opt::WithCoord,
            b"any" => Opt::Any,
            b"asc" => Opt::Asc,
            b"desc" => Opt::Desc,
            b"count" if i + 1 < n => {
                i += 1;
                Opt::Count(&rest[i])
            }
            b"store" | b"storedist" if i + 1 < n && can_store => {
                i += 1;
                Opt::Store(&rest[i], a == b"storedist")
            }
            b"storedist" if kind == Kind::SearchStore => Opt::StoreDist,
            b"frommember" if i + 1 < n && kind.is_search() && !from_loc => {
                from_member = true;
                i += 1;
                Opt::FromMember(&rest[i])
            }
            b"fromlonlat" if i + 2 < n && kind.is_search() && !from_member => {
                from_loc = true;
                i += 2;
                Opt::FromLonLat(&rest[i - 1], &rest[i])
            }
            b"byradius" if i + 2 < n && kind.is_search() && !by_box => {
                by_radius = true;
                i += 2;
                Opt::ByRadius(&rest[i - 1], &rest[i])
            }
            b"bybox" if i + 3 < n && kind.is_search() && !by_radius => {
                by_box = true;
                i += 3;
                Opt::ByBox(&rest[i - 2], &rest[i - 1], &rest[i])
            }
            _ => return (opts, true),
        };
        opts.push(opt);
        i += 1;
    }
    (opts, false)
}

/// The key a GEORADIUS* STORE / STOREDIST names (the last one wins).
fn store_key(argv: &[Bytes], kind: Kind, nostore: bool) -> Option<&[u8]> {
    if kind == Kind::SearchStore {
        return Some(&argv[1]);
    }
    let (opts, _) = read_options(argv, kind, nostore);
    opts.iter().rev().find_map(|o| match o {
        Opt::Store(k, _) => Some(*k),
        _ => None,
    })
}

/// A radius or box size with its unit: (size, metres per unit).
fn parse_radius(r: &[u8], unit: &[u8]) -> Result<(f64, f64), String> {
    let r = crate::commands::zset::parse_score(r).ok_or("ERR need numeric radius")?;
    if r < 0.0 {
        return Err("ERR radius cannot be negative".into());
    }
    Ok((r, unit_to_m(unit)?))
}

fn parse_box(w: &[u8], h: &[u8], unit: &[u8]) -> Result<(f64, f64, f64), String> {
    let w = crate::commands::zset::parse_score(w).ok_or("ERR need numeric width")?;
    let h = crate::commands::zset::parse_score(h).ok_or("ERR need numeric height")?;
    if h < 0.0 || w < 0.0 {
        return Err("ERR height or width cannot be negative".into());
    }
    Ok((w, h, unit_to_m(unit)?))
}

const ERR_MEMBER: &str = "ERR could not decode requested zset member";

/// A point found by a search.
struct Found {
    member: Elem,
    /// Metres from the centre.
    dist: f64,
    score: f64,
    long: f64,
    lat: f64,
}

/// Everything a search needs once its arguments are read.
struct Query {
    shape: Shape,
    with_dist: bool,
    with_hash: bool,
    with_coord: bool,
    sort: Option<bool>,
    any: bool,
    count: usize,
    store: Option<Bytes>,
    store_dist: bool,
}

/// The points of `z` inside the shape, scanning its 9 cells in Redis's
/// order; with `limit`, stop once that many were found.
fn search(z: &ZSetValue, shape: &Shape, limit: usize) -> Vec<Found> {
    let cells = shape.cells();
    let mut found = Vec::new();
    let mut last = 0;
    for (i, cell) in cells.iter().enumerate() {
        if cell.is_none() {
            continue;
        }
        // Huge radii make neighbours coincide: skip a repeat of the last cell.
        if last != 0 && *cell == cells[last] {
            continue;
        }
        if limit > 0 && found.len() >= limit {
            break;
        }
        let (min, max) = geohash::cell_scores(*cell);
        let start = z.count_before(|s, _| s < min);
        let end = z.count_before(|s, _| s < max).max(start);
        z.range(start, end, false, |score, m| {
            if limit > 0 && found.len() >= limit {
                return;
            }
            if let Some((dist, (long, lat))) = shape.contains(score) {
                found.push(Found {
                    member: Elem::from(m),
                    dist,
                    score,
                    long,
                    lat,
                });
            }
        });
        last = i;
    }
    found
}

/// What reading the arguments against the source gave.
enum Plan {
    Error(String),
    Run(Query, Vec<Found>),
    /// The source is missing: reply empty, or clear the destination.
    Missing(Query),
}

fn generic(ctx: &mut Ctx, out: &mut Out, kind: Kind, nostore: bool) {
    let argv = ctx.argv;
    let src: &[u8] = if kind == Kind::SearchStore {
        &argv[2]
    } else {
        &argv[1]
    };
    let dst = store_key(argv, kind, nostore);
    let now = ctx.now_ms;
    let mut guards = ctx.db().lock_keys([src].into_iter().chain(dst));
    let plan = {
        let g = guards.for_key(src);
        match crate::commands::zset::get_zset(g, src, now) {
            Err(()) => {
                ctx.hit();
                Plan::Error(error::WRONGTYPE.into())
            }
            Ok(z) => {
                match z {
                    Some(_) => ctx.hit(),
                    None => ctx.miss_key(src),
                }
                match read_query(argv, kind, nostore, z) {
                    Err(e) => Plan::Error(e),
                    Ok(q) => match z {
                        None => Plan::Missing(q),
                        Some(z) => {
                            let limit = if q.any { q.count } else { 0 };
                            let found = search(z, &q.shape, limit);
                            Plan::Run(q, found)
                        }
                    },
                }
            }
        }
    };
    let (q, mut found) = match plan {
        Plan::Error(e) => return out.error(&e),
        Plan::Missing(q) => {
            let Some(dst) = q.store else {
                return out.array(0);
            };
            ctx.modified = Some(vec![dst.clone()]);
            if guards.for_key(&dst).remove(&dst).is_some() {
                ctx.dirty += 1;
                notify(ctx, NOTIFY_GENERIC, "del", &dst);
            }
            return out.int(0);
        }
        Plan::Run(q, found) => (q, found),
    };
    if found.is_empty() && q.store.is_none() {
        return out.array(0);
    }
    let returned = if q.count == 0 {
        found.len()
    } else {
        found.len().min(q.count)
    };
    if let Some(asc) = q.sort {
        let by_dist = |a: &Found, b: &Found| {
            let o = if a.dist > b.dist {
                1
            } else if a.dist == b.dist {
                0
            } else {
                -1
            };
            if asc {
                o
            } else {
                -o
            }
        };
        // Redis sorts everything with libc's (stable) qsort, and only the
        // first COUNT with its partial quicksort: equal distances come out
        // in the same order as there.
        if returned == found.len() {
            found.sort_by(|a, b| by_dist(a, b).cmp(&0));
        } else if returned > 0 {
            partial_sort(&mut found, 0, returned - 1, &by_dist);
        }
    }
    found.truncate(returned);
    let to_m = q.shape.to_m;
    let Some(dst) = q.store else {
        let extras = q.with_dist as usize + q.with_hash as usize + q.with_coord as usize;
        out.array(found.len());
        for f in &found {
            if extras > 0 {
                out.array(extras + 1);
            }
            out.bulk(&f.member);
            if q.with_dist {
                reply_distance(out, f.dist / to_m);
            }
            if q.with_hash {
                out.int(f.score as i64);
            }
            if q.with_coord {
                out.array(2);
                reply_coord(out, f.long);
                reply_coord(out, f.lat);
            }
        }
        return;
    };
    ctx.modified = Some(vec![dst.clone()]);
    let g = guards.for_key(&dst);
    if found.is_empty() {
        if g.remove(&dst).is_some() {
            ctx.dirty += 1;
            notify(ctx, NOTIFY_GENERIC, "del", &dst);
        }
        return out.int(0);
    }
    let mut items: Vec<(f64, Elem)> = found
        .into_iter()
        .map(|f| {
            let score = if q.store_dist { f.dist / to_m } else { f.score };
            (score, f.member)
        })
        .collect();
    items.sort_by(|a, b| crate::types::zset::cmp_elem(a.0, &a.1, b.0, &b.1));
    let n = items.len();
    let lim = crate::commands::zset::limits(ctx);
    let z = ZSetValue::from_sorted(items, lim);
    g.insert(&dst, Entry::new(Value::ZSet(Box::new(z))), false);
    ctx.dirty += n as u64;
    let event = if kind.is_search() {
        "geosearchstore"
    } else {
        "georadiusstore"
    };
    notify(ctx, NOTIFY_ZSET, event, &dst);
    out.int(n as i64);
}

/// Read the centre, the shape and the options, reporting the first error
/// in Redis's order. `z` is the source (None: missing, where a member
/// centre is not looked up).
fn read_query(
    argv: &[Bytes],
    kind: Kind,
    nostore: bool,
    z: Option<&ZSetValue>,
) -> Result<Query, String> {
    let member_point = |m: &[u8]| -> Result<(f64, f64), String> {
        let s = z.and_then(|z| z.score(m)).ok_or(ERR_MEMBER)?;
        Ok(geohash::decode_score(s))
    };
    let mut centre = (0.0, 0.0);
    let mut shape_kind = ShapeKind::Radius(0.0);
    let mut to_m = 1.0;
    match kind {
        Kind::Radius => {
            centre = parse_lonlat(&argv[2], &argv[3])?;
            let (r, u) = parse_radius(&argv[4], &argv[5])?;
            shape_kind = ShapeKind::Radius(r);
            to_m = u;
        }
        Kind::RadiusByMember if z.is_some() => {
            centre = member_point(&argv[2])?;
            let (r, u) = parse_radius(&argv[3], &argv[4])?;
            shape_kind = ShapeKind::Radius(r);
            to_m = u;
        }
        _ => {}
    }
    let (opts, syntax_error) = read_options(argv, kind, nostore);
    let mut q = Query {
        shape: Shape {
            long: 0.0,
            lat: 0.0,
            to_m: 1.0,
            kind: ShapeKind::Radius(0.0),
        },
        with_dist: false,
        with_hash: false,
        with_coord: false,
        sort: None,
        any: false,
        count: 0,
        store: (kind == Kind::SearchStore).then(|| argv[1].clone()),
        store_dist: false,
    };
    let (mut has_from, mut has_by) = (false, false);
    for opt in opts {
        match opt {
            Opt::WithDist => q.with_dist = true,
            Opt::WithHash => q.with_hash = true,
            Opt::WithCoord => q.with_coord = true,
            Opt::Any => q.any = true,
            Opt::Asc => q.sort = Some(true),
            Opt::Desc => q.sort = Some(false),
            Opt::Count(c) => {
                let c = crate::util::parse_i64(c).ok_or(error::NOT_INTEGER)?;
                if c <= 0 {
                    return Err("ERR COUNT must be > 0".into());
                }
                q.count = c as usize;
            }
            Opt::Store(k, dist) => {
                q.store = Some(Bytes::copy_from_slice(k));
                q.store_dist = dist;
            }
            Opt::StoreDist => q.store_dist = true,
            Opt::FromMember(m) => {
                if z.is_some() {
                    centre = member_point(m)?;
                }
                has_from = true;
            }
            Opt::FromLonLat(x, y) => {
                centre = parse_lonlat(x, y)?;
                has_from = true;
            }
            Opt::ByRadius(r, u) => {
                let (r, u) = parse_radius(r, u)?;
                shape_kind = ShapeKind::Radius(r);
                to_m = u;
                has_by = true;
            }
            Opt::ByBox(w, h, u) => {
                let (width, height, u) = parse_box(w, h, u)?;
                shape_kind = ShapeKind::Box { width, height };
                to_m = u;
                has_by = true;
            }
        }
    }
    if syntax_error {
        return Err(error::SYNTAX.into());
    }
    if q.store.is_some() && (q.with_dist || q.with_hash || q.with_coord) {
        let what = if kind == Kind::SearchStore {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return Err(format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        ));
    }
    let name = String::from_utf8_lossy(&argv[0]);
    if kind.is_search() && !has_from {
        return Err(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        ));
    }
    if kind.is_search() && !has_by {
        return Err(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"
        ));
    }
    if q.any && q.count == 0 {
        return Err("ERR the ANY argument requires COUNT argument".into());
    }
    // COUNT means the nearest ones, unless ANY.
    if q.count > 0 && q.sort.is_none() && !q.any {
        q.sort = Some(true);
    }
    q.shape = Shape {
        long: centre.0,
        lat: centre.1,
        to_m,
        kind: shape_kind,
    };
    Ok(q)
}

/// Sort so that positions `lo..=hi` hold, in order, what a full sort would
/// put there: a Bentley-McIlroy quicksort (median-of-3, ninther above 40
/// elements, fat partition) recursing only into the parts that overlap the
/// range, the algorithm of Redis's `pqsort`, so ties land where they do in
/// Redis.
fn partial_sort<T>(v: &mut [T], lo: usize, hi: usize, cmp: &impl Fn(&T, &T) -> i32) {
    sort_part(v, 0, lo, hi, cmp);
}

fn sort_part<T>(
    mut v: &mut [T],
    mut base: usize,
    lo: usize,
    hi: usize,
    cmp: &impl Fn(&T, &T) -> i32,
) {
    // A part [start, start + len) wholly before or after the range.
    let outside = |start: usize, len: usize| {
        (lo < start && hi < start) || (lo >= start + len && hi >= start + len)
    };
    loop {
        let n = v.len();
        if n < 7 {
            for m in 1..n {
                let mut l = m;
                while l > 0 && cmp(&v[l - 1], &v[l]) > 0 {
                    v.swap(l, l - 1);
                    l -= 1;
                }
            }
            return;
        }
        let med3 = |v: &[T], a: usize, b: usize, c: usize| {
            if cmp(&v[a], &v[b]) < 0 {
                if cmp(&v[b], &v[c]) < 0 {
                    b
                } else if cmp(&v[a], &v[c]) < 0 {
                    c
                } else {
                    a
                }
            } else if cmp(&v[b], &v[c]) > 0 {
                b
            } else if cmp(&v[a], &v[c]) < 0 {
                a
            } else {
                c
            }
        };
        let mut pm = n / 2;
        if n > 7 {
            let (mut pl, mut pn) = (0, n - 1);
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d);
                pm = med3(v, pm - d, pm, pm + d);
                pn = med3(v, pn - 2 * d, pn - d, pn);
            }
            pm = med3(v, pl, pm, pn);
        }
        v.swap(0, pm);
        let (mut pa, mut pb) = (1, 1);
        let (mut pc, mut pd) = (n - 1, n - 1);
        loop {
            while pb <= pc {
                let r = cmp(&v[pb], &v[0]);
                if r > 0 {
                    break;
                }
                if r == 0 {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let r = cmp(&v[pc], &v[0]);
                if r < 0 {
                    break;
                }
                if r == 0 {
                    v.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        let swap_runs = |v: &mut [T], a: usize, b: usize, k: usize| {
            for i in 0..k {
                v.swap(a + i, b + i);
            }
        };
        let r = pa.min(pb - pa);
        swap_runs(v, 0, pb - r, r);
        let r = (pd - pc).min(n - pd - 1);
        swap_runs(v, pb, n - r, r);
        let left = pb - pa;
        let right = pd - pc;
        let (head, tail) = v.split_at_mut(n - right);
        if left > 1 && !outside(base, left) {
            sort_part(&mut head[..left], base, lo, hi, cmp);
        }
        if right <= 1 || outside(base + n - right, right) {
            return;
        }
        base += n - right;
        v = tail;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_sort_orders_the_requested_prefix() {
        let mut seed = 7u64;
        for len in [1usize, 5, 7, 8, 40, 41, 100, 500] {
            let mut v: Vec<u64> = (0..len)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (seed >> 33) % 50
                })
                .collect();
            let mut want = v.clone();
            want.sort();
            let k = (len / 3).max(1);
            let cmp = |a: &u64, b: &u64| (*a as i64 - *b as i64).signum() as i32;
            partial_sort(&mut v, 0, k - 1, &cmp);
            assert_eq!(&v[..k], &want[..k], "len {len}");
        }
    }
}
