//! Checks on the real OpenStreetMap layers in shared/data/gis.

mod common;

use camplane_placement::offline::{run_check, CheckArgs};
use camplane_placement::{
    check, check_bruteforce, parse_request_line, InvalidPolygons, LayerKind, LayerSet, Layers,
    PlacementError, Rules, StreetClass,
};
use common::{gis, read, Rng};
use serde_json::Value;

fn reynoldstown() -> Layers {
    let mut set = LayerSet::new();
    set.add_file(
        LayerKind::Streets,
        "streets.geojson",
        &read("reynoldstown/streets.geojson"),
    )
    .unwrap();
    for f in [
        "residential_houses.geojson",
        "residential_apartments.geojson",
    ] {
        set.add_file(
            LayerKind::Residential,
            f,
            &read(&format!("reynoldstown/{f}")),
        )
        .unwrap();
    }
    set.build(&Rules::default())
}

fn expected() -> Vec<Value> {
    let p = gis("../../checks/placement-examples.expected.jsonl");
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// placement_compare.py's rule: verdict, bases, reasons exact; nearest class exact and
/// distance within 0.5 m; fraction within 0.01 (or both null).
fn agrees(want: &Value, got: &Value) -> Result<(), String> {
    for k in ["id", "verdict", "bases", "reasons"] {
        if want[k] != got[k] {
            return Err(format!("{k}: got {} want {}", got[k], want[k]));
        }
    }
    let (ws, gs) = (&want["nearest_street"], &got["nearest_street"]);
    if ws.is_null() != gs.is_null() {
        return Err("nearest_street presence".into());
    }
    if !ws.is_null() {
        if ws["class"] != gs["class"] || ws["name"] != gs["name"] {
            return Err(format!("nearest_street {gs} want {ws}"));
        }
        let d = (ws["distance_m"].as_f64().unwrap() - gs["distance_m"].as_f64().unwrap()).abs();
        if d > 0.5 {
            return Err(format!("nearest_street distance {gs} want {ws}"));
        }
    }
    let (wf, gf) = (&want["residential_fraction"], &got["residential_fraction"]);
    if wf.is_null() != gf.is_null()
        || (!wf.is_null() && (wf.as_f64().unwrap() - gf.as_f64().unwrap()).abs() > 0.01)
    {
        return Err(format!("residential_fraction {gf} want {wf}"));
    }
    Ok(())
}

#[test]
fn spec_worked_examples() {
    let layers = reynoldstown();
    let rules = Rules::default();
    let reqs = std::fs::read_to_string(gis("../../checks/placement-examples.jsonl")).unwrap();
    let want = expected();
    let reqs: Vec<&str> = reqs.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(reqs.len(), 3);
    for (line, want) in reqs.iter().zip(&want) {
        let req = parse_request_line(line).unwrap();
        let a = check(&layers, &rules, &req);
        let got: Value = serde_json::from_str(&a.to_json_line()).unwrap();
        eprintln!("{got}");
        agrees(want, &got).unwrap_or_else(|e| panic!("{}: {e}", req.id));
        assert_eq!(a, check_bruteforce(&layers, &rules, &req));
    }
}

#[test]
fn cli_answers_the_examples_like_placement_examples_sh() {
    let args = CheckArgs {
        streets: vec![gis("reynoldstown/streets.geojson")],
        residential: vec![
            gis("reynoldstown/residential_houses.geojson"),
            gis("reynoldstown/residential_apartments.geojson"),
        ],
        requests: Some(gis("../../checks/placement-examples.jsonl")),
        ..Default::default()
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(
        run_check(&args, &mut out, &mut err),
        0,
        "{}",
        String::from_utf8_lossy(&err)
    );
    let got: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let want = expected();
    assert_eq!(got.len(), want.len());
    for (w, g) in want.iter().zip(&got) {
        agrees(w, g).unwrap();
    }
    // The exact key order of the spec's answer format.
    let keys: Vec<&str> = [
        "id",
        "verdict",
        "bases",
        "reasons",
        "nearest_street",
        "residential_fraction",
    ]
    .to_vec();
    let first = String::from_utf8_lossy(&{
        let (mut o, mut e) = (Vec::new(), Vec::new());
        run_check(&args, &mut o, &mut e);
        o
    })
    .lines()
    .next()
    .unwrap()
    .to_string();
    let mut last = 0;
    for k in keys {
        let at = first.find(&format!("\"{k}\"")).unwrap();
        assert!(at >= last, "key order in {first}");
        last = at;
    }
}

#[test]
fn reynoldstown_class_counts_match_readme() {
    let layers = reynoldstown();
    let counts: Vec<(StreetClass, usize)> = layers.class_counts();
    use StreetClass::*;
    assert_eq!(
        counts,
        vec![
            (Arterial, 36),
            (MinorArterial, 13),
            (Collector, 5),
            (Local, 82),
            (Alley, 8)
        ]
    );
}

#[test]
fn vracar_loads_and_finds_alleys() {
    let mut set = LayerSet::new();
    set.add_file(
        LayerKind::Streets,
        "vracar/streets.geojson",
        &read("vracar/streets.geojson"),
    )
    .unwrap();
    set.add_file(
        LayerKind::CityProperty,
        "vracar/parks.geojson",
        &read("vracar/parks.geojson"),
    )
    .unwrap();
    // The synthetic residential strips are valid polygons: nothing to repair.
    let repairs = set
        .add_file_with(
            LayerKind::Residential,
            "vracar/residential_synthetic.geojson",
            &read("vracar/residential_synthetic.geojson"),
            InvalidPolygons::Repair,
        )
        .unwrap();
    assert!(repairs.is_empty(), "{repairs:?}");
    let layers = set.build(&Rules::default());
    let counts = layers.class_counts();
    eprintln!("{counts:?}");
    let get = |c| counts.iter().find(|x| x.0 == c).unwrap().1;
    assert!(get(StreetClass::Alley) >= 1, "{counts:?}");
    assert!(get(StreetClass::Arterial) > 0 && get(StreetClass::Local) > 0);
    assert_eq!(layers.city_property.shapes.len(), 32);
}

#[test]
fn vracar_alley_comes_from_other_tags_alone() {
    // The Vracar export copies parsed tags to top-level properties; strip the
    // top-level `service` so the alley can only be found inside `other_tags`.
    let mut doc: Value = serde_json::from_slice(&read("vracar/streets.geojson")).unwrap();
    let mut alleys_in_tags = 0;
    for f in doc["features"].as_array_mut().unwrap() {
        let props = f["properties"].as_object_mut().unwrap();
        if props
            .get("other_tags")
            .and_then(Value::as_str)
            .is_some_and(|t| t.contains(r#""service"=>"alley""#))
        {
            alleys_in_tags += 1;
        }
        props.remove("service");
    }
    assert!(alleys_in_tags >= 1);
    let mut set = LayerSet::new();
    set.add_file(
        LayerKind::Streets,
        "vracar/streets.geojson",
        &serde_json::to_vec(&doc).unwrap(),
    )
    .unwrap();
    let layers = set.build(&Rules::default());
    let alleys = layers
        .class_counts()
        .into_iter()
        .find(|c| c.0 == StreetClass::Alley)
        .unwrap()
        .1;
    assert_eq!(alleys, alleys_in_tags);
}

#[test]
fn real_self_intersecting_polygon_is_refused_with_its_index() {
    let mut set = LayerSet::new();
    let err = set
        .add_file(
            LayerKind::OtherPublic,
            "reynoldstown/other_buildings.geojson",
            &read("reynoldstown/other_buildings.geojson"),
        )
        .unwrap_err();
    let doc: Value = serde_json::from_slice(&read("reynoldstown/other_buildings.geojson")).unwrap();
    let idx = doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .position(|f| f["properties"]["@id"] == "relation/11726109")
        .unwrap();
    match &err {
        PlacementError::Layer {
            file,
            feature,
            message,
        } => {
            assert_eq!(file, "reynoldstown/other_buildings.geojson");
            assert_eq!(*feature, Some(idx));
            assert!(message.contains("intersects itself"), "{message}");
        }
        other => panic!("{other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("other_buildings.geojson") && text.contains(&format!("feature {idx}")),
        "{text}"
    );

    // Through the CLI: exit 1, no verdicts at all.
    let args = CheckArgs {
        streets: vec![gis("reynoldstown/streets.geojson")],
        other_public: vec![gis("reynoldstown/other_buildings.geojson")],
        request: Some(r#"{"id": "a", "lat": 33.7466848, "lon": -84.360234, "purpose": "property_protection"}"#.into()),
        ..Default::default()
    };
    let (mut out, mut e) = (Vec::new(), Vec::new());
    assert_eq!(run_check(&args, &mut out, &mut e), 1);
    assert!(out.is_empty());
    assert!(String::from_utf8_lossy(&e).contains(&format!("feature {idx}")));
}

/// The synthetic residential layer with one strip turned into a bow-tie (its
/// bounding box's corners joined crosswise): refused by default, naming the feature;
/// with `InvalidPolygons::Repair`, loaded and the repair reported for that feature.
#[test]
fn a_bow_tie_in_a_real_layer_is_refused_by_default_and_repaired_on_request() {
    let mut doc: Value =
        serde_json::from_slice(&read("vracar/residential_synthetic.geojson")).unwrap();
    let features = doc["features"].as_array_mut().unwrap();
    let idx = 13.min(features.len() - 1);
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    let mut corners = |v: &Value| {
        for p in v.as_array().unwrap() {
            let (x, y) = (p[0].as_f64().unwrap(), p[1].as_f64().unwrap());
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
        }
    };
    let g = &features[idx]["geometry"];
    match g["type"].as_str().unwrap() {
        "Polygon" => corners(&g["coordinates"][0]),
        _ => corners(&g["coordinates"][0][0]),
    }
    features[idx]["geometry"] = serde_json::json!({
        "type": "Polygon",
        "coordinates": [[[x0, y0], [x1, y1], [x1, y0], [x0, y1], [x0, y0]]],
    });
    let bytes = serde_json::to_vec(&doc).unwrap();

    let err = LayerSet::new()
        .add_file(
            LayerKind::Residential,
            "residential_synthetic.geojson",
            &bytes,
        )
        .unwrap_err();
    assert!(
        matches!(err, PlacementError::Layer { feature: Some(f), .. } if f == idx),
        "{err}"
    );
    let mut set = LayerSet::new();
    let repairs = set
        .add_file_with(
            LayerKind::Residential,
            "residential_synthetic.geojson",
            &bytes,
            InvalidPolygons::Repair,
        )
        .unwrap();
    assert_eq!(
        repairs.iter().map(|r| r.feature).collect::<Vec<_>>(),
        vec![idx],
        "{repairs:?}"
    );
    assert!(!set.build(&Rules::default()).residential.shapes.is_empty());
}

/// The number of features in a GeoJSON layer file (counted apart from the loader).
fn feature_count(rel: &str) -> usize {
    let doc: Value = serde_json::from_slice(&read(rel)).unwrap();
    doc["features"].as_array().map_or(0, Vec::len)
}

#[test]
fn all_other_real_layers_are_valid() {
    // Each real area layer loads on its own, builds, and keeps one shape per feature
    // (city property and other public property are kept feature by feature).
    for (kind, rel, shapes) in [
        (
            LayerKind::CityProperty,
            "vracar/parks.geojson",
            (|l: &Layers| l.city_property.shapes.len()) as fn(&Layers) -> usize,
        ),
        (
            LayerKind::CityProperty,
            "reynoldstown/city_property.geojson",
            |l: &Layers| l.city_property.shapes.len(),
        ),
    ] {
        let mut set = LayerSet::new();
        set.add_file(kind, rel, &read(rel))
            .unwrap_or_else(|e| panic!("{rel}: {e}"));
        let layers = set.build(&Rules::default());
        let want = feature_count(rel);
        assert!(want > 0, "{rel} has no features");
        assert_eq!(shapes(&layers), want, "{rel}");
    }
    // Residential layers are kept as the union of their polygons: at least one part,
    // never more parts than polygons.
    let mut set = LayerSet::new();
    let mut polygons = 0;
    for rel in [
        "reynoldstown/residential_houses.geojson",
        "reynoldstown/residential_apartments.geojson",
    ] {
        set.add_file(LayerKind::Residential, rel, &read(rel))
            .unwrap_or_else(|e| panic!("{rel}: {e}"));
        polygons += feature_count(rel);
    }
    let layers = set.build(&Rules::default());
    let parts: usize = layers.residential.shapes.iter().map(|m| m.0.len()).sum();
    assert!(
        (1..=polygons).contains(&parts),
        "{parts} residential parts from {polygons} polygons"
    );
}

/// The indexed check and the brute-force scan agree exactly on many random points.
fn same_answers(layers: &Layers, rules: &Rules, n: usize, seed: u64) {
    // Sample within the streets' extent (in WGS84 via the layer bounding box of streets).
    let (lon0, lat0) = layers.projection().origin();
    let mut rng = Rng(seed);
    for k in 0..n {
        let lat = lat0 + rng.range(-0.012, 0.012);
        let lon = lon0 + rng.range(-0.015, 0.015);
        let mut line =
            format!(r#"{{"id":"r{k}","lat":{lat},"lon":{lon},"purpose":"personal_safety""#);
        if k % 2 == 0 {
            line += &format!(
                r#","view":{{"heading_deg":{},"fov_deg":{},"range_m":{}}}"#,
                rng.range(-720.0, 720.0),
                rng.range(1.0, 360.0),
                rng.range(5.0, 120.0)
            );
        }
        line.push('}');
        let req = parse_request_line(&line).unwrap();
        assert_eq!(
            check(layers, rules, &req),
            check_bruteforce(layers, rules, &req),
            "{line}"
        );
    }
}

#[test]
fn indexed_and_bruteforce_agree_on_random_points() {
    let mut set = LayerSet::new();
    set.add_file(
        LayerKind::Streets,
        "s",
        &read("reynoldstown/streets.geojson"),
    )
    .unwrap();
    set.add_file(
        LayerKind::CityProperty,
        "c",
        &read("reynoldstown/city_property.geojson"),
    )
    .unwrap();
    set.add_file(
        LayerKind::Residential,
        "h",
        &read("reynoldstown/residential_houses.geojson"),
    )
    .unwrap();
    let rules = Rules::default();
    same_answers(&set.build(&rules), &rules, 1500, 7);

    let mut set = LayerSet::new();
    set.add_file(LayerKind::Streets, "s", &read("vracar/streets.geojson"))
        .unwrap();
    set.add_file(LayerKind::CityProperty, "p", &read("vracar/parks.geojson"))
        .unwrap();
    set.add_file_with(
        LayerKind::Residential,
        "r",
        &read("vracar/residential_synthetic.geojson"),
        InvalidPolygons::Repair,
    )
    .unwrap();
    let layers = set.build(&rules);
    same_answers(&layers, &rules, 800, 11);
    // Rules that differ from the build rules (meeting parts computed on the fly).
    let other = Rules {
        meet_tolerance_m: 3.0,
        intersection_radius_m: None,
        ..Rules::default()
    };
    same_answers(&layers, &other, 300, 13);
}
