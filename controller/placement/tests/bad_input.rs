//! Bad input: clear errors naming the file and feature (or the request id),
//! never a wrong verdict. Layers here are SYNTHETIC (built in the test).

mod common;

use camplane_placement::offline::{run_check, CheckArgs};
use camplane_placement::{
    check, map::render_svg, parse_request_line, LayerKind, LayerSet, PlacementError, Rules,
};
use common::*;
use serde_json::{json, Value};

fn layer_err(kind: LayerKind, bytes: &[u8]) -> (Option<usize>, String) {
    let mut set = LayerSet::new();
    match set.add_file(kind, "bad.geojson", bytes).unwrap_err() {
        e @ PlacementError::Layer { .. } => {
            let text = e.to_string();
            assert!(text.contains("bad.geojson"), "{text}");
            let PlacementError::Layer {
                feature, message, ..
            } = e
            else {
                unreachable!()
            };
            (feature, message)
        }
        other => panic!("{other}"),
    }
}

fn good_street() -> Value {
    line(json!({"highway": "primary"}), &[(0.0, 0.0), (10.0, 0.0)])
}

#[test]
fn not_geojson() {
    let (f, m) = layer_err(LayerKind::Streets, b"this is not json");
    assert_eq!(f, None);
    assert!(m.contains("not GeoJSON"), "{m}");
    let (_, m) = layer_err(LayerKind::Streets, br#"{"type": "Feature"}"#);
    assert!(m.contains("not a FeatureCollection"), "{m}");
    let (f, m) = layer_err(LayerKind::Streets, br#"{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": {"type": "LineString", "coordinates": "x"}}]}"#);
    assert_eq!(f, Some(0), "{m}");
}

#[test]
fn wrong_geometry_type() {
    let bytes = collection(vec![good_street(), point(1.0, 1.0)]);
    let (f, m) = layer_err(LayerKind::Streets, &bytes);
    assert_eq!(f, Some(1));
    assert!(m.contains("Point") && m.contains("streets"), "{m}");
    let (f, _) = layer_err(LayerKind::CityProperty, &collection(vec![good_street()]));
    assert_eq!(f, Some(0));
    let (f, _) = layer_err(
        LayerKind::Kiosks,
        &collection(vec![polygon(&[&rect(0.0, 0.0, 1.0, 1.0)])]),
    );
    assert_eq!(f, Some(0));
    let no_geometry = json!({"type": "Feature", "properties": {}, "geometry": null});
    let (f, m) = layer_err(
        LayerKind::Streets,
        &collection(vec![good_street(), good_street(), no_geometry]),
    );
    assert_eq!(f, Some(2));
    assert!(m.contains("no geometry"), "{m}");
}

#[test]
fn unclosed_polygon() {
    let open = json!({"type": "Feature", "properties": {}, "geometry": {"type": "Polygon",
        "coordinates": [[ll(0.0, 0.0), ll(10.0, 0.0), ll(10.0, 10.0), ll(0.0, 10.0)]]}});
    let good = polygon(&[&rect(0.0, 0.0, 1.0, 1.0)]);
    let (f, m) = layer_err(LayerKind::Residential, &collection(vec![good, open]));
    assert_eq!(f, Some(1));
    assert!(m.contains("not closed"), "{m}");
}

#[test]
fn self_intersecting_polygon() {
    // A bow-tie.
    let bow = json!({"type": "Feature", "properties": {}, "geometry": {"type": "Polygon",
        "coordinates": [[ll(0.0, 0.0), ll(10.0, 10.0), ll(10.0, 0.0), ll(0.0, 10.0), ll(0.0, 0.0)]]}});
    let (f, m) = layer_err(LayerKind::OtherPublic, &collection(vec![bow]));
    assert_eq!(f, Some(0));
    assert!(m.contains("intersects itself"), "{m}");
}

#[test]
fn coordinates_out_of_range() {
    let far = json!({"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [200.0, 45.0]}});
    let (f, m) = layer_err(LayerKind::Kiosks, &collection(vec![point(0.0, 0.0), far]));
    assert_eq!(f, Some(1));
    assert!(m.contains("out of range"), "{m}");
    let swapped = json!({"type": "Feature", "properties": {}, "geometry": {"type": "LineString", "coordinates": [[45.0, 100.0], [45.0, 101.0]]}});
    let (f, _) = layer_err(LayerKind::Streets, &collection(vec![swapped]));
    assert_eq!(f, Some(0));
}

#[test]
fn refused_file_adds_nothing() {
    let mut set = LayerSet::new();
    let bytes = collection(vec![good_street(), point(1.0, 1.0)]);
    assert!(set.add_file(LayerKind::Streets, "bad", &bytes).is_err());
    let l = set.build(&Rules::default());
    assert!(l.streets.is_empty());
}

struct Files {
    dir: std::path::PathBuf,
}

impl Files {
    fn new(name: &str) -> Files {
        let dir =
            std::env::temp_dir().join(format!("camplane-placement-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Files { dir }
    }
    fn put(&self, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = self.dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run(args: &CheckArgs) -> (i32, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run_check(args, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn bad_request_lines_are_answered_in_place_with_exit_2() {
    let f = Files::new("requests");
    let streets = f.put("streets.geojson", &collection(vec![good_street()]));
    let lines = [
        request_at("ok-1", 5.0, 5.0, ""),
        String::new(),
        r#"{"id": "no-coords", "purpose": "alpr"}"#.to_string(),
        request_at(
            "bad-room",
            5.0,
            5.0,
            r#""mount": "indoor", "room": "attic""#,
        ),
        request_at("bad-purpose", 5.0, 5.0, "").replace("property_protection", "curiosity"),
        request_at("room-outdoors", 5.0, 5.0, r#""room": "office""#),
        request_at(
            "bad-until",
            5.0,
            5.0,
            r#""temporary": {"event": "e", "from": "2025-01-02T00:00:00Z", "until": "2025-01-02T00:00:00Z"}"#,
        ),
        request_at(
            "fov-0",
            5.0,
            5.0,
            r#""view": {"heading_deg": 0, "fov_deg": 0, "range_m": 10}"#,
        ),
        "{not json".to_string(),
        request_at("ok-2", 5.0, 50.0, ""),
    ];
    let reqs = f.put("requests.jsonl", lines.join("\n").as_bytes());
    let args = CheckArgs {
        streets: vec![streets],
        requests: Some(reqs),
        ..Default::default()
    };
    let (code, out, err) = run(&args);
    assert_eq!(code, 2, "{err}");
    let answers: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<Value> = answers.iter().map(|a| a["id"].clone()).collect();
    assert_eq!(
        ids,
        vec![
            json!("ok-1"),
            json!("no-coords"),
            json!("bad-room"),
            json!("bad-purpose"),
            json!("room-outdoors"),
            json!("bad-until"),
            json!("fov-0"),
            Value::Null,
            json!("ok-2")
        ]
    );
    assert_eq!(answers[0]["verdict"], "eligible");
    assert_eq!(answers[8]["verdict"], "not_eligible");
    for (i, want) in [
        (1, "missing lat"),
        (2, "unknown room"),
        (3, "unknown purpose"),
        (4, "outdoor"),
        (5, "until"),
        (6, "fov_deg"),
    ] {
        let e = answers[i]["error"].as_str().unwrap();
        assert!(e.contains(want), "{e} should mention {want}");
        assert_eq!(
            answers[i].as_object().unwrap().len(),
            2,
            "only id and error"
        );
    }
    assert!(err.contains("line 3"), "{err}");
}

#[test]
fn bad_layer_or_rules_file_exits_1_naming_it() {
    let f = Files::new("files");
    let streets = f.put("streets.geojson", &collection(vec![good_street()]));
    let bad_streets = f.put(
        "bad-streets.geojson",
        &collection(vec![good_street(), point(0.0, 0.0)]),
    );
    let req = Some(request_at("a", 5.0, 5.0, ""));

    let (code, out, err) = run(&CheckArgs {
        streets: vec![streets.clone(), bad_streets],
        request: req.clone(),
        ..Default::default()
    });
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(
        err.contains("bad-streets.geojson") && err.contains("feature 1"),
        "{err}"
    );

    let rules = f.put("rules.yaml", b"kiosk_radius_m: 40\nclass_map:\n  - when: {highway: primary}\n    class: highway\nstreet_bufer_m: 3\n");
    let (code, out, err) = run(&CheckArgs {
        streets: vec![streets.clone()],
        rules: Some(rules),
        request: req.clone(),
        ..Default::default()
    });
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(err.contains("rules.yaml"), "{err}");
    assert!(
        err.contains("class_map[0].class: unknown class `highway`"),
        "{err}"
    );
    assert!(err.contains("unknown key `street_bufer_m`"), "{err}");

    // Streets are required.
    let (code, _, err) = run(&CheckArgs {
        request: req.clone(),
        ..Default::default()
    });
    assert_eq!(code, 1);
    assert!(err.contains("--streets"), "{err}");

    // A good rules file is used.
    let rules = f.put("ok.yaml", b"street_buffer_m: 2\n");
    let (code, out, _) = run(&CheckArgs {
        streets: vec![streets],
        rules: Some(rules),
        request: req,
        ..Default::default()
    });
    assert_eq!(code, 0);
    assert!(out.contains("not_eligible"), "{out}");
}

#[test]
fn svg_map_renders_layers_and_cameras() {
    let mut set = LayerSet::new();
    set.add_file(
        LayerKind::Streets,
        "s",
        &collection(vec![
            good_street(),
            line(
                json!({"highway": "residential", "name": "A & B <St>"}),
                &[(5.0, 0.0), (5.0, 50.0)],
            ),
        ]),
    )
    .unwrap();
    set.add_file(
        LayerKind::CityProperty,
        "c",
        &collection(vec![polygon(&[&rect(20.0, 20.0, 40.0, 40.0)])]),
    )
    .unwrap();
    set.add_file(
        LayerKind::Residential,
        "r",
        &collection(vec![polygon(&[&rect(-40.0, 20.0, -20.0, 40.0)])]),
    )
    .unwrap();
    set.add_file(LayerKind::Kiosks, "k", &collection(vec![point(0.0, -10.0)]))
        .unwrap();
    let rules = Rules::default();
    let l = set.build(&rules);
    let cams: Vec<_> = [
        request_at(
            "cam-1",
            2.0,
            2.0,
            r#""view": {"heading_deg": 45, "fov_deg": 90, "range_m": 30}"#,
        ),
        request_at("cam-2", 100.0, 100.0, ""),
    ]
    .iter()
    .map(|line| {
        let r = parse_request_line(line).unwrap();
        let a = check(&l, &rules, &r);
        (r, a)
    })
    .collect();
    let svg = render_svg(&l, &cams);
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox="),
        "{}",
        &svg[..100]
    );
    assert!(svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("class=\"camera\"").count(), 2);
    assert_eq!(svg.matches("class=\"sector\"").count(), 1);
    assert!(svg.contains("cam-1: eligible") && svg.contains("cam-2: not_eligible"));
    assert!(svg.contains("A &amp; B &lt;St&gt;"));
    assert!(svg.contains("<title>camplane placement map</title>") && svg.contains("id=\"legend\""));
    assert!(!svg.contains("href"), "no external resources");
    // Balanced tags (a rough XML check): every <g> closes.
    assert_eq!(svg.matches("<g").count(), svg.matches("</g>").count());
    assert_eq!(svg.matches("<svg").count(), 1);
}
