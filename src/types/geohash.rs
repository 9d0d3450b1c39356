//! Geohash arithmetic for the GEO commands, with Redis's conventions: a
//! point is a sorted-set score holding a 52-bit hash (26 steps of
//! longitude and latitude bits, interleaved, latitude in the even bits),
//! over longitudes -180..180 and Web-Mercator latitudes ±85.05112878.
//! Distances are great-circle (haversine) on a sphere of radius
//! 6372797.560856 m. A search covers the shape's bounding box with the
//! geohash cell of the centre and its 8 neighbours at a precision chosen
//! from the radius, then filters points by exact distance.
//!
//! Every floating-point expression keeps the operand order of Redis's own
//! computation, so coordinates, distances and search results match it bit
//! for bit.

/// Precision of stored points: 26 bits per coordinate.
pub const STEP_MAX: u8 = 26;
pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
/// Earth's quadratic mean radius (WGS-84), in metres.
pub const EARTH_RADIUS_M: f64 = 6372797.560856;
/// Half the Mercator projection's width, in metres.
const MERCATOR_MAX_M: f64 = 20037726.37;
const D_R: f64 = std::f64::consts::PI / 180.0;

fn deg_rad(deg: f64) -> f64 {
    deg * D_R
}

fn rad_deg(rad: f64) -> f64 {
    rad / D_R
}

/// A cell: `step` bits per coordinate, interleaved into `bits`. The zero
/// value (no bits, no step) stands for "no cell" in a neighbour list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hash {
    pub bits: u64,
    pub step: u8,
}

impl Hash {
    pub fn is_none(&self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The 52-bit sorted-set score of the cell's first point.
    pub fn align52(&self) -> u64 {
        self.bits << (52 - 2 * self.step as u32)
    }

    /// The cell's coordinates along x (longitude) and y (latitude).
    fn coords(&self) -> (u32, u32) {
        (squash(self.bits >> 1), squash(self.bits))
    }

    fn from_coords(x: u32, y: u32, step: u8) -> Hash {
        Hash {
            bits: spread(y) | (spread(x) << 1),
            step,
        }
    }

    /// The cell `dx` columns east and `dy` rows north, wrapping around. A
    /// coordinate that does not move is kept as it is, even the one past
    /// the last cell a point on the 180th meridian hashes to (as Redis).
    fn moved(&self, dx: i64, dy: i64) -> Hash {
        let (x, y) = self.coords();
        let cells = 1i64 << self.step;
        let shift = |v: u32, d: i64| {
            if d == 0 {
                v
            } else {
                (v as i64 + d).rem_euclid(cells) as u32
            }
        };
        Hash::from_coords(shift(x, dx), shift(y, dy), self.step)
    }
}

/// Put the 32 bits of `v` at the even bit positions of a u64.
fn spread(v: u32) -> u64 {
    let mut x = v as u64;
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

/// The bits at the even positions of `v`, packed (the inverse of `spread`).
fn squash(v: u64) -> u32 {
    let mut x = v & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    ((x | (x >> 16)) & 0xFFFF_FFFF) as u32
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

/// The coordinate ranges stored points are hashed over.
pub const LONG_RANGE: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
pub const LAT_RANGE: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// A cell's extent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Area {
    pub long: Range,
    pub lat: Range,
}

/// Hash a point at `step` bits per coordinate over the given ranges; None
/// outside them (or outside the storable limits).
pub fn encode(long_r: Range, lat_r: Range, long: f64, lat: f64, step: u8) -> Option<Hash> {
    if step == 0 || step > 32 {
        return None;
    }
    if !(LONG_MIN..=LONG_MAX).contains(&long) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_r.min || lat > lat_r.max || long < long_r.min || long > long_r.max {
        return None;
    }
    let cells = (1u64 << step) as f64;
    let lat_off = (lat - lat_r.min) / (lat_r.max - lat_r.min) * cells;
    let long_off = (long - long_r.min) / (long_r.max - long_r.min) * cells;
    // Truncation, as a C conversion to uint32_t.
    Some(Hash::from_coords(long_off as u32, lat_off as u32, step))
}

/// The 52-bit score of a point within the storable limits.
pub fn encode_point(long: f64, lat: f64) -> Option<u64> {
    encode(LONG_RANGE, LAT_RANGE, long, lat, STEP_MAX).map(|h| h.align52())
}

/// The extent of a cell hashed over the given ranges.
pub fn decode(long_r: Range, lat_r: Range, h: Hash) -> Area {
    let (x, y) = h.coords();
    let cells = (1u64 << h.step) as f64;
    let lat_scale = lat_r.max - lat_r.min;
    let long_scale = long_r.max - long_r.min;
    Area {
        lat: Range {
            min: lat_r.min + (y as f64 / cells) * lat_scale,
            max: lat_r.min + ((y as f64 + 1.0) / cells) * lat_scale,
        },
        long: Range {
            min: long_r.min + (x as f64 / cells) * long_scale,
            max: long_r.min + ((x as f64 + 1.0) / cells) * long_scale,
        },
    }
}

/// A sorted-set score as the 52-bit hash it holds (a C double → uint64_t
/// conversion as x86-64 does it, so odd scores decode as Redis's do).
fn score_bits(score: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    // cvttsd2si gives 1 << 63 for anything out of the i64 range.
    let to_i64 = |v: f64| {
        if (-TWO_63..TWO_63).contains(&v) {
            v as i64 as u64
        } else {
            1 << 63
        }
    };
    if score >= TWO_63 {
        to_i64(score - TWO_63) ^ (1 << 63)
    } else if score.is_nan() {
        1 << 63
    } else {
        to_i64(score)
    }
}

/// The point a score stands for: the centre of its cell, clamped to the
/// storable limits, as (longitude, latitude).
pub fn decode_score(score: f64) -> (f64, f64) {
    let h = Hash {
        bits: score_bits(score),
        step: STEP_MAX,
    };
    let a = decode(LONG_RANGE, LAT_RANGE, h);
    let long = ((a.long.min + a.long.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((a.lat.min + a.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (long, lat)
}

/// The standard 11-character geohash string of a stored score (re-hashed
/// over latitudes ±90, the 11th character always '0').
pub fn standard_string(score: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (long, lat) = decode_score(score);
    let world_long = Range {
        min: -180.0,
        max: 180.0,
    };
    let world_lat = Range {
        min: -90.0,
        max: 90.0,
    };
    let bits = encode(world_long, world_lat, long, lat, 26).map_or(0, |h| h.bits);
    let mut s = [b'0'; 11];
    for (i, c) in s.iter_mut().take(10).enumerate() {
        *c = ALPHABET[((bits >> (52 - (i + 1) * 5)) & 0x1f) as usize];
    }
    s
}

/// Distance between two points along a meridian, in metres.
pub fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_M * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Great-circle distance in metres (haversine).
pub fn distance(long1: f64, lat1: f64, long2: f64, lat2: f64) -> f64 {
    let long1r = deg_rad(long1);
    let long2r = deg_rad(long2);
    let v = ((long2r - long1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

/// The precision of the 9 search cells for a radius at a latitude.
pub fn steps_for_radius(mut range_m: f64, lat: f64) -> u8 {
    if range_m == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range_m < MERCATOR_MAX_M {
        range_m *= 2.0;
        step += 1;
    }
    step -= 2;
    // Cells get narrower towards the poles.
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// What a search covers, in the unit its sizes were given in.
#[derive(Clone, Copy, Debug)]
pub enum ShapeKind {
    Radius(f64),
    Box { width: f64, height: f64 },
}

/// A search area around (`long`, `lat`); `to_m` converts its unit to metres.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub long: f64,
    pub lat: f64,
    pub to_m: f64,
    pub kind: ShapeKind,
}

impl Shape {
    /// The bounding box as [min long, min lat, max long, max lat].
    pub fn bounds(&self) -> [f64; 4] {
        let (half_h, half_w) = match self.kind {
            ShapeKind::Radius(r) => (r, r),
            ShapeKind::Box { width, height } => (height / 2.0, width / 2.0),
        };
        let height = self.to_m * half_h;
        let width = self.to_m * half_w;
        let lat_delta = rad_deg(height / EARTH_RADIUS_M);
        let long_delta_top = rad_deg(width / EARTH_RADIUS_M / deg_rad(self.lat + lat_delta).cos());
        let long_delta_bottom =
            rad_deg(width / EARTH_RADIUS_M / deg_rad(self.lat - lat_delta).cos());
        // The box's wide edge is the one nearer the equator.
        let long_delta = if self.lat < 0.0 {
            long_delta_bottom
        } else {
            long_delta_top
        };
        [
            self.long - long_delta,
            self.lat - lat_delta,
            self.long + long_delta,
            self.lat + lat_delta,
        ]
    }

    /// Metres from the centre to the farthest point of the shape's outline
    /// (a box: its corner).
    fn reach_m(&self) -> f64 {
        let r = match self.kind {
            ShapeKind::Radius(r) => r,
            ShapeKind::Box { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        };
        r * self.to_m
    }

    /// The cells to scan, in Redis's order (centre, N, S, E, W, NE, NW, SE,
    /// SW); cells that cannot hold a match are `Hash::default()`.
    pub fn cells(&self) -> [Hash; 9] {
        let [min_long, min_lat, max_long, max_lat] = self.bounds();
        let mut step = steps_for_radius(self.reach_m(), self.lat);
        let centre = |step| {
            encode(LONG_RANGE, LAT_RANGE, self.long, self.lat, step)
                .unwrap_or(Hash { bits: 0, step })
        };
        let mut hash = centre(step);
        // A cell too small to reach the box's edges: one step coarser.
        let area_of = |h: Hash, dx, dy| decode(LONG_RANGE, LAT_RANGE, h.moved(dx, dy));
        let too_small = area_of(hash, 0, 1).lat.max < max_lat
            || area_of(hash, 0, -1).lat.min > min_lat
            || area_of(hash, 1, 0).long.max < max_long
            || area_of(hash, -1, 0).long.min > min_long;
        if step > 1 && too_small {
            step -= 1;
            hash = centre(step);
        }
        let area = decode(LONG_RANGE, LAT_RANGE, hash);
        // (dx, dy) of N, S, E, W, NE, NW, SE, SW.
        const MOVES: [(i64, i64); 8] = [
            (0, 1),
            (0, -1),
            (1, 0),
            (-1, 0),
            (1, 1),
            (-1, 1),
            (1, -1),
            (-1, -1),
        ];
        let mut cells = [Hash::default(); 9];
        cells[0] = hash;
        for (i, &(dx, dy)) in MOVES.iter().enumerate() {
            let useless = step >= 2
                && ((dy < 0 && area.lat.min < min_lat)
                    || (dy > 0 && area.lat.max > max_lat)
                    || (dx < 0 && area.long.min < min_long)
                    || (dx > 0 && area.long.max > max_long));
            if !useless {
                cells[i + 1] = hash.moved(dx, dy);
            }
        }
        cells
    }

    /// The distance in metres from the centre to the point a score holds,
    /// with the point, if it lies inside the shape.
    pub fn contains(&self, score: f64) -> Option<(f64, (f64, f64))> {
        let (long, lat) = decode_score(score);
        match self.kind {
            ShapeKind::Radius(r) => {
                let d = distance(self.long, self.lat, long, lat);
                (d <= r * self.to_m).then_some((d, (long, lat)))
            }
            ShapeKind::Box { width, height } => {
                if lat_distance(lat, self.lat) > height * self.to_m / 2.0 {
                    return None;
                }
                if distance(long, lat, self.long, lat) > width * self.to_m / 2.0 {
                    return None;
                }
                Some((distance(self.long, self.lat, long, lat), (long, lat)))
            }
        }
    }
}

/// The score range `min..max` (max excluded) holding every point of a cell.
pub fn cell_scores(h: Hash) -> (f64, f64) {
    let min = h.align52();
    let max = Hash {
        bits: h.bits + 1,
        step: h.step,
    }
    .align52();
    (min as f64, max as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_and_squash_are_inverse() {
        for v in [0u32, 1, 2, 0x3ff_ffff, 0xdead_beef, u32::MAX] {
            assert_eq!(squash(spread(v)), v);
            assert_eq!(squash(spread(v) << 1 >> 1), v);
        }
        assert_eq!(spread(0b11), 0b101);
    }

    #[test]
    fn scores_match_redis() {
        // GEOADD Sicily 13.361389 38.115556 "Palermo" 15.087269 37.502669 "Catania"
        // ZSCORE in redis-server 7.0.15: 3479099956230698 and 3479447370796909.
        assert_eq!(encode_point(13.361389, 38.115556), Some(3479099956230698));
        assert_eq!(encode_point(15.087269, 37.502669), Some(3479447370796909));
        assert_eq!(encode_point(200.0, 10.0), None);
        assert_eq!(encode_point(10.0, 86.0), None);
    }

    #[test]
    fn geohash_strings_and_distances_match_redis() {
        assert_eq!(&standard_string(3479099956230698.0), b"sqc8b49rny0");
        assert_eq!(&standard_string(3479447370796909.0), b"sqdtr74hyu0");
        let (a, b) = (
            decode_score(3479099956230698.0),
            decode_score(3479447370796909.0),
        );
        let d = distance(a.0, a.1, b.0, b.1);
        assert!((d - 166274.1516).abs() < 0.0001, "{d}");
    }

    #[test]
    fn neighbours_wrap_around() {
        let h = Hash::from_coords(0, 0, 3);
        assert_eq!(h.moved(-1, 0).coords(), (7, 0));
        assert_eq!(h.moved(0, -1).coords(), (0, 7));
        assert_eq!(h.moved(1, 1).coords(), (1, 1));
    }

    #[test]
    fn steps_by_radius() {
        assert_eq!(steps_for_radius(0.0, 0.0), 26);
        assert_eq!(steps_for_radius(1000.0, 0.0), 14);
        assert_eq!(steps_for_radius(1000.0, 70.0), 13);
        assert_eq!(steps_for_radius(1000.0, -85.0), 12);
        assert_eq!(steps_for_radius(1e9, 0.0), 1);
    }
}
