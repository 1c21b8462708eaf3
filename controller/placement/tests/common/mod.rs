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
