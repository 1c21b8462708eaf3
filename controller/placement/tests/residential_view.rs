//! The residential share of a view, checked against independent estimates.

mod common;

use camplane_placement::{check, parse_request_line, LayerKind, LayerSet, Rules};
use common::read;

/// Issue #16's reproduction: feature 43 of the Vračar housing layer has a
/// hair-thin spike at its least vertex once projected; the union at load used
/// to take the ring for counter-clockwise and drop it, so the view read 0.0.
#[test]
fn vracar_feature_43_is_measured() {
    let mut set = LayerSet::new();
    set.add_file(
        LayerKind::Residential,
        "vracar/residential_synthetic.geojson",
        &read("vracar/residential_synthetic.geojson"),
    )
    .unwrap();
    let layers = set.build(&Rules::default());
    let req = parse_request_line(
        r#"{"id":"r43","lat":44.8070263,"lon":20.4579786,"purpose":"property_protection","view":{"heading_deg":270,"fov_deg":60,"range_m":60}}"#,
    )
    .unwrap();
    let a = check(&layers, &Rules::default(), &req);
    let f = a.residential_fraction.unwrap();
    eprintln!("residential_fraction {f}");
    assert!((f - 0.5622).abs() <= 0.0005, "fraction {f}, want 0.5622");
}
