//! Bounded work (issue #22): layers over the config's limits are refused
//! before any geometry work, naming file, feature and limit; validity is
//! near-linear, so a ring at the limit loads in well under a second; work
//! whose flag is set stops. Layers here are SYNTHETIC (built in the test).

use std::time::{Duration, Instant};

use camplane_placement::{Cancel, LayerKind, LayerSet, Limits, PlacementError, Rules};
use serde_json::{json, Value};

/// A star ring of `n` vertices (alternating radii): every spike's box
/// overlaps hundreds of others, the worst case for a box index.
fn star(n: usize) -> Vec<[f64; 2]> {
    let mut ring: Vec<[f64; 2]> = (0..n)
        .map(|k| {
            let a = std::f64::consts::TAU * k as f64 / n as f64;
            let r = if k % 2 == 0 { 0.01 } else { 0.005 };
            [20.0 + r * a.cos(), 45.0 + r * a.sin()]
        })
        .collect();
    ring.push(ring[0]);
    ring
}

fn layer(polys: &[Vec<[f64; 2]>]) -> Vec<u8> {
    let features: Vec<Value> = polys
        .iter()
        .map(|r| json!({"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [r]}}))
        .collect();
    serde_json::to_vec(&json!({"type": "FeatureCollection", "features": features})).unwrap()
}

fn limits(v: usize, f: usize, b: u64) -> Limits {
    Limits {
        max_vertices_per_feature: v,
        max_features_per_layer: f,
        max_layer_bytes: b,
    }
}

fn refused(set: &mut LayerSet, bytes: &[u8]) -> (Option<usize>, String) {
    match set.add_file(LayerKind::Residential, "homes.geojson", bytes) {
        Err(e @ PlacementError::Layer { .. }) => {
            let text = e.to_string();
            let PlacementError::Layer { feature, .. } = e else {
                unreachable!()
            };
            (feature, text)
        }
        other => panic!("not refused as a layer: {other:?}"),
    }
}

#[test]
fn a_feature_over_the_vertex_limit_is_refused_naming_it() {
    let small = star(8);
    let big = star(1001);
    let bytes = layer(&[small.clone(), big]);
    let mut set = LayerSet::with_limits(limits(1000, 10, 1 << 20));
    let (feature, text) = refused(&mut set, &bytes);
    assert_eq!(feature, Some(1), "{text}");
    assert!(
        text.contains("homes.geojson")
            && text.contains("placement.max_vertices_per_feature (1000)")
            && text.contains("1002 positions"),
        "{text}"
    );
    // At the limit it loads.
    let mut set = LayerSet::with_limits(limits(1000, 10, 1 << 20));
    set.add_file(
        LayerKind::Residential,
        "homes.geojson",
        &layer(&[small, star(999)]),
    )
    .unwrap();
}

#[test]
fn a_layer_over_the_feature_limit_is_refused_across_files() {
    let rings: Vec<Vec<[f64; 2]>> = (0..3).map(|_| star(8)).collect();
    let mut set = LayerSet::with_limits(limits(100, 5, 1 << 20));
    set.add_file(LayerKind::Residential, "a.geojson", &layer(&rings))
        .unwrap();
    // 3 + 3 > 5: the second file's feature 2 is the first over.
    let (feature, text) = refused(&mut set, &layer(&rings));
    assert_eq!(feature, Some(2), "{text}");
    assert!(
        text.contains("homes.geojson") && text.contains("placement.max_features_per_layer (5)"),
        "{text}"
    );
    // Another layer has its own count.
    set.add_file(LayerKind::CityProperty, "parks.geojson", &layer(&rings))
        .unwrap();
}

#[test]
fn a_layer_over_the_byte_limit_is_refused_before_parsing() {
    let bytes = layer(&[star(100)]);
    let mut set = LayerSet::with_limits(limits(1000, 10, bytes.len() as u64 - 1));
    let (feature, text) = refused(&mut set, &bytes);
    assert_eq!(feature, None);
    assert!(
        text.contains("homes.geojson")
            && text.contains(&format!("placement.max_layer_bytes ({})", bytes.len() - 1)),
        "{text}"
    );
    let mut set = LayerSet::with_limits(limits(1000, 10, bytes.len() as u64));
    set.add_file(LayerKind::Residential, "homes.geojson", &bytes)
        .unwrap();
}

#[test]
fn the_default_limits_are_the_configs() {
    let l = Limits::default();
    assert_eq!(l.max_vertices_per_feature, 100_000);
    assert_eq!(l.max_features_per_layer, 1_000_000);
    assert_eq!(l.max_layer_bytes, 256 << 20);
}

#[test]
fn a_star_at_the_default_vertex_limit_validates_in_well_under_a_second_per_10k() {
    // All pairs took 0.6 s at 10k vertices and 9.6 s at 40k (release); 100k
    // would have taken about a minute. A debug build is ~20x slower than
    // release, so the bound is generous; it is a correctness bound (no
    // quadratic path), not a speed target.
    let ring = star(99_998);
    let bytes = layer(&[ring]);
    let t = Instant::now();
    let mut set = LayerSet::new();
    set.add_file(LayerKind::Residential, "star.geojson", &bytes)
        .unwrap();
    let layers = set.build(&Rules::default());
    assert_eq!(layers.residential.shapes.len(), 1);
    assert!(
        t.elapsed() < Duration::from_secs(60),
        "100k-vertex star took {:?}",
        t.elapsed()
    );
    // A check beside it measures the view against the vertices near the
    // camera, not the whole outline: fast, and the same answer.
    let t = Instant::now();
    let mut answers = Vec::new();
    for (lon, want) in [(20.0, 1.0), (20.05, 0.0)] {
        let req = camplane_placement::parse_request_line(&format!(
            r#"{{"id":"c","lat":45.0,"lon":{lon},"purpose":"property_protection","view":{{"heading_deg":0,"fov_deg":360,"range_m":50}}}}"#
        ))
        .unwrap();
        let a = camplane_placement::try_check(&layers, &Rules::default(), &req).unwrap();
        assert_eq!(a.residential_fraction, Some(want), "{lon}");
        answers.push(a);
    }
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "two checks took {:?}",
        t.elapsed()
    );
}

#[test]
fn a_self_intersecting_star_is_still_refused() {
    // Swap two vertices far apart: the ring crosses itself.
    let mut ring = star(20_000);
    ring.swap(10, 10_010);
    let mut set = LayerSet::new();
    let (feature, text) = refused(&mut set, &layer(&[ring]));
    assert_eq!(feature, Some(0));
    assert!(text.contains("self-intersection"), "{text}");
}

#[test]
fn cancelled_work_stops() {
    let bytes = layer(&[star(1000)]);
    let cancel = Cancel::new();
    let mut set = LayerSet::new().cancel_with(cancel.clone());
    set.add_file(LayerKind::Residential, "a.geojson", &bytes)
        .unwrap();
    cancel.cancel();
    assert!(matches!(
        set.add_file(LayerKind::Residential, "b.geojson", &bytes),
        Err(PlacementError::Cancelled)
    ));
    assert!(matches!(
        set.try_build(&Rules::default()),
        Err(PlacementError::Cancelled)
    ));
}
