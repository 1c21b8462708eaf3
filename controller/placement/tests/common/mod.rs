//! Shared helpers: locating the real GIS data (never copied into the repo).
#![allow(dead_code)]

use std::path::PathBuf;

/// `shared/data/gis`: `$CAMPLANE_DATA_DIR/gis` when set (pointing at shared's
/// `data` folder), else beside the repository. Fails loudly when missing.
pub fn gis_dir() -> PathBuf {
    let dir = match std::env::var_os("CAMPLANE_DATA_DIR") {
        Some(d) => PathBuf::from(d).join("gis"),
        None => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/gis"
        )),
    };
    assert!(
        dir.join("reynoldstown/streets.geojson").is_file(),
        "GIS test data not found at {} (set CAMPLANE_DATA_DIR to shared/data)",
        dir.display()
    );
    dir
}

pub fn gis(rel: &str) -> PathBuf {
    gis_dir().join(rel)
}

pub fn read(rel: &str) -> Vec<u8> {
    let p = gis(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// A tiny deterministic generator (xorshift64*), so tests need no rand crate.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next_f64()
    }
}

/// Synthetic layers: coordinates given in local metres (x east, y north)
/// around (20° E, 45° N), turned into WGS84 with the local degree lengths.
pub const LON0: f64 = 20.0;
pub const LAT0: f64 = 45.0;
/// Metres per degree of latitude / longitude at 45° N (WGS84).
pub const M_PER_DEG_LAT: f64 = 111_131.78;
pub const M_PER_DEG_LON: f64 = 78_846.97;

pub fn ll(x: f64, y: f64) -> [f64; 2] {
    [LON0 + x / M_PER_DEG_LON, LAT0 + y / M_PER_DEG_LAT]
}

fn coords(pts: &[(f64, f64)]) -> serde_json::Value {
    serde_json::Value::Array(
        pts.iter()
            .map(|&(x, y)| serde_json::json!(ll(x, y)))
            .collect(),
    )
}

/// A LineString feature with the given properties.
pub fn line(props: serde_json::Value, pts: &[(f64, f64)]) -> serde_json::Value {
    serde_json::json!({"type": "Feature", "properties": props,
        "geometry": {"type": "LineString", "coordinates": coords(pts)}})
}

/// A closed ring from corner points (the first is repeated at the end).
pub fn ring(pts: &[(f64, f64)]) -> serde_json::Value {
    let mut v = pts.to_vec();
    v.push(pts[0]);
    coords(&v)
}

/// A Polygon feature: exterior then holes.
pub fn polygon(rings: &[&[(f64, f64)]]) -> serde_json::Value {
    serde_json::json!({"type": "Feature", "properties": {},
        "geometry": {"type": "Polygon", "coordinates": rings.iter().map(|r| ring(r)).collect::<Vec<_>>()}})
}

/// An axis-aligned square as corner list.
pub fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<(f64, f64)> {
    vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
}

pub fn point(x: f64, y: f64) -> serde_json::Value {
    serde_json::json!({"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": ll(x, y)}})
}

pub fn collection(features: Vec<serde_json::Value>) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"type": "FeatureCollection", "features": features}))
        .unwrap()
}

/// A request line at local (x, y) with extra JSON members (e.g. `"view": {...}`).
pub fn request_at(id: &str, x: f64, y: f64, extra: &str) -> String {
    let [lon, lat] = ll(x, y);
    let sep = if extra.is_empty() { "" } else { "," };
    format!(
        r#"{{"id":"{id}","lat":{lat},"lon":{lon},"purpose":"property_protection"{sep}{extra}}}"#
    )
}
