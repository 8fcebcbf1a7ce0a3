//! The geohash arithmetic of Redis's GEO commands: a position is a 52-bit interleaving of its
//! quantised latitude (even bits) and longitude (odd bits) over the Web Mercator limits, stored
//! as a sorted-set score; searches cover the area with a cell and its 8 neighbours.

/// Latitude limits of EPSG:900913 (the poles cannot be encoded).
pub const LAT_MIN: f64 = -85.051_128_78;
pub const LAT_MAX: f64 = 85.051_128_78;
pub const LON_MIN: f64 = -180.0;
pub const LON_MAX: f64 = 180.0;
/// Bits per coordinate of a stored position.
pub const STEP_MAX: u8 = 26;
/// The Earth's quadratic mean radius (WGS-84), as Redis uses for distances.
pub const EARTH_RADIUS_M: f64 = 6_372_797.560_856;
const MERCATOR_MAX: f64 = 20_037_726.37;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hash {
    pub bits: u64,
    pub step: u8,
}

#[derive(Clone, Copy, Debug)]
pub struct Area {
    pub lat_min: f64,
    pub lat_max: f64,
    pub lon_min: f64,
    pub lon_max: f64,
}

/// Spread the 32 bits of `v` over the even bits of a u64.
fn spread(v: u32) -> u64 {
    let mut x = v as u64;
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

/// Gather the even bits of `v` into a u32.
fn squash(v: u64) -> u32 {
    let mut x = v & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF;
    x as u32
}

/// Encode a position with `step` bits per coordinate over the given latitude range (GEOHASH
/// re-encodes over -90..90). None outside the encodable limits.
pub fn encode_in(lon: f64, lat: f64, step: u8, lat_min: f64, lat_max: f64) -> Option<Hash> {
    if !(LON_MIN..=LON_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if !(lat_min..=lat_max).contains(&lat) {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_off = (lat - lat_min) / (lat_max - lat_min) * scale;
    let lon_off = (lon - LON_MIN) / (LON_MAX - LON_MIN) * scale;
    Some(Hash {
        bits: spread(lat_off as u32) | (spread(lon_off as u32) << 1),
        step,
    })
}

pub fn encode(lon: f64, lat: f64, step: u8) -> Option<Hash> {
    encode_in(lon, lat, step, LAT_MIN, LAT_MAX)
}

/// The cell a hash names.
pub fn decode(h: Hash) -> Area {
    let lat_i = squash(h.bits) as f64;
    let lon_i = squash(h.bits >> 1) as f64;
    let cells = (1u64 << h.step) as f64;
    let lat_scale = LAT_MAX - LAT_MIN;
    let lon_scale = LON_MAX - LON_MIN;
    Area {
        lat_min: LAT_MIN + (lat_i / cells) * lat_scale,
        lat_max: LAT_MIN + ((lat_i + 1.0) / cells) * lat_scale,
        lon_min: LON_MIN + (lon_i / cells) * lon_scale,
        lon_max: LON_MIN + ((lon_i + 1.0) / cells) * lon_scale,
    }
}

/// The position a stored score stands for: the centre of its cell, clamped to the limits.
pub fn score_to_lon_lat(score: f64) -> (f64, f64) {
    let a = decode(Hash {
        bits: score as u64,
        step: STEP_MAX,
    });
    let lon = ((a.lon_min + a.lon_max) / 2.0).clamp(LON_MIN, LON_MAX);
    let lat = ((a.lat_min + a.lat_max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// The 52-bit score of a hash (its bits moved to the top of 52).
pub fn align52(h: Hash) -> u64 {
    h.bits << (52 - 2 * h.step as u32)
}

const ODD: u64 = 0xAAAA_AAAA_AAAA_AAAA;
const EVEN: u64 = 0x5555_5555_5555_5555;

/// Add `d` (±1) to the coordinate held in the bits of `own` (ODD: longitude, EVEN: latitude)
/// of a `width`-shifted hash. Filling the other coordinate's bits with ones makes the carry
/// (or borrow) cross them.
fn step_coord(bits: u64, d: i8, own: u64, width: u32) -> u64 {
    let other = !own;
    let mine = bits & own;
    let zz = other >> width;
    let moved = if d > 0 {
        mine.wrapping_add(zz + 1)
    } else {
        (mine | zz).wrapping_sub(zz + 1)
    };
    (moved & (own >> width)) | (bits & other)
}

/// Move one cell east/west (`dx`) and north/south (`dy`).
fn moved(h: Hash, dx: i8, dy: i8) -> Hash {
    let width = 64 - 2 * h.step as u32;
    let mut bits = h.bits;
    if dx != 0 {
        bits = step_coord(bits, dx, ODD, width);
    }
    if dy != 0 {
        bits = step_coord(bits, dy, EVEN, width);
    }
    Hash { bits, step: h.step }
}

/// Haversine distance in metres (Redis's geohashGetDistance, same operation order).
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let rad = |d: f64| d * (std::f64::consts::PI / 180.0);
    let v = ((rad(lon2) - rad(lon1)) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let (lat1r, lat2r) = (rad(lat1), rad(lat2));
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    let rad = |d: f64| d * (std::f64::consts::PI / 180.0);
    EARTH_RADIUS_M * (rad(lat2) - rad(lat1)).abs()
}

/// What a search covers, in metres.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    Radius(f64),
    Box { width: f64, height: f64 },
}

/// The distance from the centre if the position is inside the shape.
pub fn within(shape: Shape, lon: f64, lat: f64, plon: f64, plat: f64) -> Option<f64> {
    match shape {
        Shape::Radius(r) => {
            let d = distance(lon, lat, plon, plat);
            (d <= r).then_some(d)
        }
        Shape::Box { width, height } => {
            if lat_distance(plat, lat) > height / 2.0 {
                return None;
            }
            if distance(plon, plat, lon, plat) > width / 2.0 {
                return None;
            }
            Some(distance(lon, lat, plon, plat))
        }
    }
}

fn steps_for_radius(mut range: f64, lat: f64) -> u8 {
    if range == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// The cells to scan for a search around (lon, lat), in Redis's order (centre, N, S, E, W,
/// NE, NW, SE, SW), without those that cannot hold a match; same-as-previous cells removed.
pub fn search_cells(lon: f64, lat: f64, shape: Shape) -> Vec<Hash> {
    let (half_w, half_h) = match shape {
        Shape::Radius(r) => (r, r),
        Shape::Box { width, height } => (width / 2.0, height / 2.0),
    };
    let deg = |r: f64| r / (std::f64::consts::PI / 180.0);
    let rad = |d: f64| d * (std::f64::consts::PI / 180.0);
    let lat_delta = deg(half_h / EARTH_RADIUS_M);
    let lon_delta_top = deg(half_w / EARTH_RADIUS_M / rad(lat + lat_delta).cos());
    let lon_delta_bottom = deg(half_w / EARTH_RADIUS_M / rad(lat - lat_delta).cos());
    let south = lat < 0.0;
    let min_lon = if south {
        lon - lon_delta_bottom
    } else {
        lon - lon_delta_top
    };
    let max_lon = if south {
        lon + lon_delta_bottom
    } else {
        lon + lon_delta_top
    };
    let (min_lat, max_lat) = (lat - lat_delta, lat + lat_delta);
    let radius = match shape {
        Shape::Radius(r) => r,
        Shape::Box { width, height } => ((width / 2.0).powi(2) + (height / 2.0).powi(2)).sqrt(),
    };
    let mut steps = steps_for_radius(radius, lat);
    let neighbours = |h: Hash| -> [Hash; 8] {
        [
            moved(h, 0, 1),
            moved(h, 0, -1),
            moved(h, 1, 0),
            moved(h, -1, 0),
            moved(h, 1, 1),
            moved(h, -1, 1),
            moved(h, 1, -1),
            moved(h, -1, -1),
        ]
    };
    let Some(mut centre) = encode(lon, lat, steps) else {
        return Vec::new();
    };
    let mut n = neighbours(centre);
    // A cell too coarse to reach the edges of the search: one step coarser.
    let (north, south_a, east, west) = (decode(n[0]), decode(n[1]), decode(n[2]), decode(n[3]));
    let too_small = north.lat_max < max_lat
        || south_a.lat_min > min_lat
        || east.lon_max < max_lon
        || west.lon_min > min_lon;
    if steps > 1 && too_small {
        steps -= 1;
        if let Some(h) = encode(lon, lat, steps) {
            centre = h;
            n = neighbours(centre);
        }
    }
    let area = decode(centre);
    let mut keep = [true; 8];
    if steps >= 2 {
        // Indexes into `n`: 0 N, 1 S, 2 E, 3 W, 4 NE, 5 NW, 6 SE, 7 SW.
        if area.lat_min < min_lat {
            for i in [1, 7, 6] {
                keep[i] = false;
            }
        }
        if area.lat_max > max_lat {
            for i in [0, 4, 5] {
                keep[i] = false;
            }
        }
        if area.lon_min < min_lon {
            for i in [3, 7, 5] {
                keep[i] = false;
            }
        }
        if area.lon_max > max_lon {
            for i in [2, 6, 4] {
                keep[i] = false;
            }
        }
    }
    // A neighbour equal to the one scanned before it is skipped (with huge radii adjacent
    // neighbours can be the same cell); as in Redis the centre is not compared.
    let mut out: Vec<Hash> = vec![centre];
    let mut last: Option<Hash> = None;
    for (i, h) in n.iter().enumerate() {
        if !keep[i] || last == Some(*h) {
            continue;
        }
        out.push(*h);
        last = Some(*h);
    }
    out
}

/// The standard 11-character geohash of a stored score (re-encoded over -90..90).
pub fn geohash_string(score: f64) -> Option<String> {
    const ALPHABET: &[u8] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = score_to_lon_lat(score);
    let scale = (1u64 << STEP_MAX) as f64;
    let lat_off = (lat + 90.0) / 180.0 * scale;
    let lon_off = (lon + 180.0) / 360.0 * scale;
    let bits = spread(lat_off as u32) | (spread(lon_off as u32) << 1);
    let mut s = String::with_capacity(11);
    for i in 0..11 {
        // 52 bits give 10 characters and 2 bits; the 11th is always '0', as Redis outputs.
        let idx = if i == 10 {
            0
        } else {
            ((bits >> (52 - (i + 1) * 5)) & 0x1f) as usize
        };
        s.push(ALPHABET[idx] as char);
    }
    Some(s)
}

/// A coordinate as Redis's addReplyHumanLongDouble writes it: 17 decimals, trailing zeros cut.
pub fn human_coord(v: f64) -> String {
    let mut s = format!("{v:.17}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    s
}

/// A distance with 4 decimals, rounded half to even as Redis's fixedpoint_d2string (llrint).
pub fn fixed4(d: f64) -> String {
    let v = (d * 10_000.0).round_ties_even() as i64;
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    format!("{sign}{}.{:04}", a / 10_000, a % 10_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip_is_within_a_cell() {
        for (lon, lat) in [
            (13.361389, 38.115556),
            (-122.33207, 47.60621),
            (0.0, 0.0),
            (179.9, -85.0),
        ] {
            let h = encode(lon, lat, STEP_MAX).unwrap();
            let (dlon, dlat) = score_to_lon_lat(align52(h) as f64);
            assert!(
                (dlon - lon).abs() < 1e-5 && (dlat - lat).abs() < 1e-5,
                "{lon},{lat}"
            );
        }
        assert!(encode(0.0, 86.0, STEP_MAX).is_none());
        assert!(encode(181.0, 0.0, STEP_MAX).is_none());
    }

    #[test]
    fn known_values_from_redis_docs() {
        // GEOADD Sicily 13.361389 38.115556 "Palermo": score 3479099956230698.
        let h = encode(13.361389, 38.115556, STEP_MAX).unwrap();
        assert_eq!(align52(h), 3479099956230698);
        assert_eq!(geohash_string(3479099956230698.0).unwrap(), "sqc8b49rny0");
        let c = encode(15.087269, 37.502669, STEP_MAX).unwrap();
        let (plon, plat) = score_to_lon_lat(align52(h) as f64);
        let (clon, clat) = score_to_lon_lat(align52(c) as f64);
        assert_eq!(fixed4(distance(plon, plat, clon, clat)), "166274.1516");
        assert_eq!(human_coord(plon), "13.36138933897018433");
    }

    #[test]
    fn neighbours_move_one_cell() {
        let h = encode(10.0, 10.0, 10).unwrap();
        let a = decode(h);
        let e = decode(moved(h, 1, 0));
        let n = decode(moved(h, 0, 1));
        assert!((e.lon_min - a.lon_max).abs() < 1e-9);
        assert!((n.lat_min - a.lat_max).abs() < 1e-9);
        assert_eq!(moved(moved(h, 1, 1), -1, -1), h);
    }

    #[test]
    fn fixed_point_distances() {
        assert_eq!(fixed4(0.0), "0.0000");
        assert_eq!(fixed4(1.23456), "1.2346");
        assert_eq!(fixed4(-0.00001), "0.0000");
        assert_eq!(fixed4(190.44250000000002), "190.4425");
    }
}
