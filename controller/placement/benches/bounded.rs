//! Validity and load time of one large ring (issue #22, bounded work): star
//! and comb rings of 10k to 160k vertices, generated here, loaded as a
//! residential layer (parse, validity, union, index) beside the baseline
//! measured in the same run: `geo`'s all-pairs `Validation` on the same
//! polygon (what the loader called before; skipped at 160k, where it takes
//! minutes). Medians; the growth per doubling is printed (about 2 is linear).
//! Run: cargo bench -p camplane-placement --bench bounded

use std::hint::black_box;
use std::time::{Duration, Instant};

use camplane_placement::{LayerKind, LayerSet, Limits, Rules};
use geo::{Coord, LineString, Polygon, Validation};
use serde_json::json;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time(runs: usize, mut f: impl FnMut()) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

/// A star: vertices on two alternating radii, every spike's box overlapping
/// many others (the worst case for a box index).
fn star(n: usize) -> Vec<[f64; 2]> {
    (0..n)
        .map(|k| {
            let a = std::f64::consts::TAU * k as f64 / n as f64;
            let r = if k % 2 == 0 { 0.01 } else { 0.005 };
            [20.0 + r * a.cos(), 45.0 + r * a.sin()]
        })
        .collect()
}

/// A comb: `n / 4` teeth hanging from a spine, long thin parallel edges.
fn comb(n: usize) -> Vec<[f64; 2]> {
    let teeth = n / 4;
    let w = 0.02 / teeth as f64;
    let mut ring = Vec::with_capacity(n + 2);
    for t in 0..teeth {
        let x = 20.0 + w * t as f64;
        ring.extend([
            [x, 45.0],
            [x + w * 0.5, 45.0],
            [x + w * 0.5, 45.009],
            [x + w, 45.009],
        ]);
    }
    ring.push([20.0 + 0.02, 45.01]);
    ring.push([20.0, 45.01]);
    ring
}

fn closed(mut r: Vec<[f64; 2]>) -> Vec<[f64; 2]> {
    r.push(r[0]);
    r
}

fn main() {
    let rules = Rules::default();
    println!("shape  vertices   load: parse + validity + union + index (median of 5)   baseline: geo all-pairs validity alone");
    for (name, make) in [("star", star as fn(usize) -> Vec<[f64; 2]>), ("comb", comb)] {
        let mut last: Option<Duration> = None;
        let mut last_n = 0usize;
        for n in [10_000usize, 20_000, 40_000, 160_000] {
            let ring = closed(make(n));
            let bytes = serde_json::to_vec(&json!({"type": "FeatureCollection", "features": [
                {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring]}}
            ]}))
            .expect("json");
            let load = time(5, || {
                // 160k is over the default 100k a feature: raised here to see the growth.
                let mut set = LayerSet::with_limits(Limits {
                    max_vertices_per_feature: 200_000,
                    ..Limits::default()
                });
                set.add_file(LayerKind::Residential, "ring", &bytes)
                    .expect("a simple ring loads");
                black_box(set.build(&rules));
            });
            let poly = Polygon::new(
                LineString(ring.iter().map(|c| Coord { x: c[0], y: c[1] }).collect()),
                vec![],
            );
            let baseline = (n <= 40_000).then(|| {
                time(if n <= 20_000 { 3 } else { 1 }, || {
                    assert!(poly.is_valid());
                })
            });
            let growth = last
                .map(|l| {
                    let per_doubling = (load.as_secs_f64() / l.as_secs_f64())
                        .powf(1.0 / (n as f64 / last_n as f64).log2());
                    format!("  (x{per_doubling:.2} per doubling)")
                })
                .unwrap_or_default();
            println!(
                "{name}  {n:>8}   {:>10.1} ms{growth:<22}   {}",
                load.as_secs_f64() * 1e3,
                baseline.map_or("skipped (minutes)".to_string(), |b| format!(
                    "{:>8.1} ms",
                    b.as_secs_f64() * 1e3
                )),
            );
            last = Some(load);
            last_n = n;
        }
    }
}
