//! One test per rule, on small SYNTHETIC layers built here in local metres
//! around (20° E, 45° N) — not real data (see tests/common).

mod common;

use camplane_placement::{
    check, check_bruteforce, parse_request_line, Answer, Basis, LayerKind, LayerSet, Layers,
    Reason, Rules, StreetClass, Verdict,
};
use common::*;
use serde_json::json;

/// The town:
/// - "Main", tertiary (collector, eligible), along y = 0 from x = -500 to 500;
/// - "Side", residential (local), x = 0 from y = 0 up to 400: meets Main at the origin;
/// - "Gap", residential, x = -200 from y = 0.8 up to 400: 0.8 m short of Main;
/// - "Lone", residential, x = 400 from y = 100 to 400: meets nothing;
/// - "Yard", residential, y = 150 from x = 200 (the city lot's edge) to 300;
/// - a footway (not a street) along y = 5;
/// - city lot: square 100..200 × 100..200 with a hole 130..170 × 130..170;
/// - other public: a MultiPolygon of two squares, -400..-350 × 100..150 and -300..-250 × 100..150;
/// - a 911 kiosk at (-300, -200).
fn town_set() -> LayerSet {
    let streets = collection(vec![
        line(
            json!({"highway": "tertiary", "name": "Main"}),
            &[(-500.0, 0.0), (500.0, 0.0)],
        ),
        line(
            json!({"highway": "residential", "name": "Side"}),
            &[(0.0, 0.0), (0.0, 400.0)],
        ),
        line(
            json!({"highway": "residential", "name": "Gap"}),
            &[(-200.0, 0.8), (-200.0, 400.0)],
        ),
        line(
            json!({"highway": "residential", "name": "Lone"}),
            &[(400.0, 100.0), (400.0, 400.0)],
        ),
        line(
            json!({"highway": "residential", "name": "Yard"}),
            &[(200.0, 150.0), (300.0, 150.0)],
        ),
        line(
            json!({"highway": "footway", "name": "Walk"}),
            &[(-500.0, 5.0), (500.0, 5.0)],
        ),
    ]);
    let city = collection(vec![polygon(&[
        &rect(100.0, 100.0, 200.0, 200.0),
        &rect(130.0, 130.0, 170.0, 170.0),
    ])]);
    let other = collection(vec![
        json!({"type": "Feature", "properties": {}, "geometry": {"type": "MultiPolygon",
        "coordinates": [[ring(&rect(-400.0, 100.0, -350.0, 150.0))], [ring(&rect(-300.0, 100.0, -250.0, 150.0))]]}}),
    ]);
    let kiosks = collection(vec![point(-300.0, -200.0)]);
    let mut set = LayerSet::new();
    set.add_file(LayerKind::Streets, "town-streets", &streets)
        .unwrap();
    set.add_file(LayerKind::CityProperty, "town-city", &city)
        .unwrap();
    set.add_file(LayerKind::OtherPublic, "town-other", &other)
        .unwrap();
    set.add_file(LayerKind::Kiosks, "town-kiosks", &kiosks)
        .unwrap();
    set
}

fn town() -> Layers {
    town_set().build(&Rules::default())
}

fn ask(layers: &Layers, rules: &Rules, x: f64, y: f64, extra: &str) -> Answer {
    let req = parse_request_line(&request_at("t", x, y, extra)).unwrap();
    let a = check(layers, rules, &req);
    assert_eq!(
        a,
        check_bruteforce(layers, rules, &req),
        "indexed and brute force differ at ({x}, {y})"
    );
    a
}

fn bases(a: &Answer) -> Vec<Basis> {
    a.bases.clone()
}

#[test]
fn footways_are_not_streets() {
    let l = town();
    assert_eq!(l.streets.len(), 5);
}

#[test]
fn street_class_basis() {
    let l = town();
    let r = Rules::default();
    let a = ask(&l, &r, 250.0, -10.0, "");
    assert_eq!(bases(&a), vec![Basis::StreetClass]);
    assert_eq!(a.verdict, Verdict::Eligible);
    let n = a.nearest_street.unwrap();
    assert_eq!(
        (n.name.as_deref(), n.class),
        (Some("Main"), StreetClass::Collector)
    );
    assert!((n.distance_m - 10.0).abs() < 0.05, "{}", n.distance_m);
    // 27 m away: not on it (buffer 25).
    let a = ask(&l, &r, 250.0, -27.0, "");
    assert_eq!(a.verdict, Verdict::NotEligible);
    assert!(a.bases.is_empty());
    // A larger buffer in the rules file.
    let wide = Rules {
        street_buffer_m: 30.0,
        ..Rules::default()
    };
    assert_eq!(
        ask(&l, &wide, 250.0, -27.0, "").bases,
        vec![Basis::StreetClass]
    );
}

#[test]
fn intersecting_street_radius_number_and_null() {
    let l = town();
    let r = Rules::default();
    // On Side, 50 m from where it meets Main (and 50 m from Main: not on it).
    let a = ask(&l, &r, 5.0, 50.0, "");
    assert_eq!(bases(&a), vec![Basis::IntersectingStreet]);
    assert_eq!(a.verdict, Verdict::Eligible);
    assert_eq!(a.nearest_street.unwrap().name.as_deref(), Some("Side"));
    // 100 m up Side: beyond the 60 m radius.
    let a = ask(&l, &r, 5.0, 100.0, "");
    assert!(a.bases.is_empty());
    assert_eq!(a.verdict, Verdict::NotEligible);
    // Radius null: being on Side is enough.
    let whole = Rules {
        intersection_radius_m: None,
        ..Rules::default()
    };
    assert_eq!(
        ask(&l, &whole, 5.0, 390.0, "").bases,
        vec![Basis::IntersectingStreet]
    );
    // ... but only for a street that meets something: Lone never does.
    assert!(ask(&l, &whole, 405.0, 200.0, "").bases.is_empty());
    // A larger radius.
    let far = Rules {
        intersection_radius_m: Some(120.0),
        ..Rules::default()
    };
    assert_eq!(
        ask(&l, &far, 5.0, 100.0, "").bases,
        vec![Basis::IntersectingStreet]
    );
}

#[test]
fn meet_tolerance() {
    let l = town();
    // Gap ends 0.8 m from Main: it meets Main with the default 1 m tolerance.
    let a = ask(&l, &Rules::default(), -195.0, 40.0, "");
    assert_eq!(bases(&a), vec![Basis::IntersectingStreet]);
    // With 0.5 m it does not (rules differ from the build rules: computed on the fly).
    let tight = Rules {
        meet_tolerance_m: 0.5,
        ..Rules::default()
    };
    assert!(ask(&l, &tight, -195.0, 40.0, "").bases.is_empty());
    // Same answer when the layers are built with the tight rules.
    let l2 = town_set().build(&tight);
    assert!(ask(&l2, &tight, -195.0, 40.0, "").bases.is_empty());
}

#[test]
fn intersecting_a_city_property_boundary() {
    let l = town();
    // Yard starts on the city lot's east edge (x = 200); camera on Yard 40 m from it.
    let a = ask(&l, &Rules::default(), 240.0, 155.0, "");
    assert_eq!(bases(&a), vec![Basis::IntersectingStreet]);
    // 80 m along: too far from the meeting part.
    assert!(ask(&l, &Rules::default(), 285.0, 155.0, "")
        .bases
        .is_empty());
}

#[test]
fn city_property_and_holes() {
    let l = town();
    let r = Rules::default();
    let a = ask(&l, &r, 110.0, 110.0, "");
    assert_eq!(bases(&a), vec![Basis::CityProperty]);
    assert_eq!(a.verdict, Verdict::Eligible);
    // In the hole: outside.
    let a = ask(&l, &r, 150.0, 150.0, "");
    assert!(a.bases.is_empty(), "{:?}", a.bases);
    // Outside the lot.
    assert!(ask(&l, &r, 90.0, 110.0, "").bases.is_empty());
}

#[test]
fn other_public_multipolygon_is_the_union_of_its_parts() {
    let l = town();
    let r = Rules::default();
    for (x, y) in [(-375.0, 125.0), (-275.0, 125.0)] {
        let a = ask(&l, &r, x, y, "");
        assert_eq!(bases(&a), vec![Basis::OtherPublic]);
        assert_eq!(a.verdict, Verdict::NeedsRequest);
    }
    // Between the parts.
    assert_eq!(ask(&l, &r, -325.0, 125.0, "").verdict, Verdict::NotEligible);
}

#[test]
fn kiosk_911() {
    let l = town();
    let r = Rules::default();
    let a = ask(&l, &r, -300.0, -180.0, "");
    assert_eq!(bases(&a), vec![Basis::Kiosk911]);
    assert_eq!(a.verdict, Verdict::Eligible);
    assert!(ask(&l, &r, -300.0, -165.0, "").bases.is_empty());
}

#[test]
fn special_event_needs_request_and_several_bases_sort_by_name() {
    let l = town();
    let r = Rules::default();
    let t = r#""temporary": {"event": "marathon", "from": "2025-05-01T08:00:00Z", "until": "2025-05-01T14:00:00Z"}"#;
    let a = ask(&l, &r, -325.0, 125.0, t);
    assert_eq!(bases(&a), vec![Basis::SpecialEvent]);
    assert_eq!(a.verdict, Verdict::NeedsRequest);
    // Temporary on Main within the kiosk's reach: eligible, bases by name.
    let l2 = {
        let mut set = town_set();
        set.add_file(
            LayerKind::Kiosks,
            "more-kiosks",
            &collection(vec![point(60.0, -20.0)]),
        )
        .unwrap();
        set.build(&r)
    };
    let a = ask(&l2, &r, 60.0, -5.0, t);
    assert_eq!(
        a.bases,
        vec![Basis::Kiosk911, Basis::SpecialEvent, Basis::StreetClass]
    );
    assert_eq!(a.verdict, Verdict::Eligible);
}

#[test]
fn prohibitions() {
    let l = town();
    let r = Rules::default();
    for room in ["bathroom", "locker_room", "office", "conference_room"] {
        let a = ask(
            &l,
            &r,
            250.0,
            -10.0,
            &format!(r#""mount": "indoor", "room": "{room}""#),
        );
        assert_eq!(a.verdict, Verdict::Prohibited, "{room}");
        assert_eq!(a.reasons, vec![Reason::ProhibitedRoom]);
        // Bases and nearest street are still computed.
        assert_eq!(a.bases, vec![Basis::StreetClass]);
        assert!(a.nearest_street.is_some());
    }
    let a = ask(
        &l,
        &r,
        250.0,
        -10.0,
        r#""mount": "indoor", "room": "other""#,
    );
    assert_eq!(a.verdict, Verdict::Eligible);
    let a = ask(&l, &r, 250.0, -10.0, r#""covert": true"#);
    assert_eq!(
        (a.verdict, a.reasons.clone()),
        (Verdict::Prohibited, vec![Reason::Covert])
    );
    let a = ask(
        &l,
        &r,
        250.0,
        -10.0,
        r#""covert": true, "mount": "indoor", "room": "office""#,
    );
    assert_eq!(a.reasons, vec![Reason::ProhibitedRoom, Reason::Covert]);
    // Criminal investigation lifts both.
    let line = request_at(
        "ci",
        250.0,
        -10.0,
        r#""covert": true, "mount": "indoor", "room": "office""#,
    )
    .replace("property_protection", "criminal_investigation");
    let a = check(&l, &r, &parse_request_line(&line).unwrap());
    assert_eq!((a.verdict, a.reasons.len()), (Verdict::Eligible, 0));
    // Prohibited also where nothing else holds.
    let a = ask(&l, &r, 250.0, -100.0, r#""covert": true"#);
    assert_eq!((a.verdict, a.bases.len()), (Verdict::Prohibited, 0));
}

/// Main (eligible) along y = 0; residential block east of x = 0 for y in -100..100,
/// with a hole 20..30 × -5..5, and a second feature overlapping it (20..60 × 40..60).
fn housing() -> Layers {
    let streets = collection(vec![line(
        json!({"highway": "primary", "name": "Main"}),
        &[(-500.0, 0.0), (500.0, 0.0)],
    )]);
    let res = collection(vec![
        polygon(&[
            &rect(0.0, -100.0, 200.0, 100.0),
            &rect(20.0, -5.0, 30.0, 5.0),
        ]),
        polygon(&[&rect(20.0, 40.0, 60.0, 60.0)]),
    ]);
    let mut set = LayerSet::new();
    set.add_file(LayerKind::Streets, "s", &streets).unwrap();
    set.add_file(LayerKind::Residential, "houses", &res)
        .unwrap();
    set.build(&Rules::default())
}

fn view(h: f64, fov: f64, range: f64) -> String {
    format!(r#""view": {{"heading_deg": {h}, "fov_deg": {fov}, "range_m": {range}}}"#)
}

#[test]
fn residential_view_fraction_and_review() {
    let l = housing();
    let r = Rules::default();
    // Looking east from x = -50 over 40 m: no housing.
    let a = ask(&l, &r, -50.0, 0.5, &view(90.0, 60.0, 40.0));
    assert_eq!(a.residential_fraction, Some(0.0));
    assert_eq!(a.verdict, Verdict::Eligible);
    // From x = 0 looking east: all housing.
    let a = ask(&l, &r, 0.1, 10.0, &view(90.0, 60.0, 9.0));
    assert_eq!(a.residential_fraction, Some(1.0));
    assert_eq!(
        (a.verdict, a.reasons.clone()),
        (Verdict::NeedsReview, vec![Reason::ResidentialView])
    );
    // Heading modulo 360: 450 = 90, -270 = 90.
    for h in [450.0, -270.0] {
        assert_eq!(
            ask(&l, &r, 0.1, 10.0, &view(h, 60.0, 9.0)).residential_fraction,
            Some(1.0)
        );
    }
    // Looking west: none.
    assert_eq!(
        ask(&l, &r, 0.0, 10.0, &view(270.0, 60.0, 9.0)).residential_fraction,
        Some(0.0)
    );
    // fov 360 at x = 0: half the circle.
    let f = ask(&l, &r, 0.0, -50.0, &view(0.0, 360.0, 20.0))
        .residential_fraction
        .unwrap();
    assert!((f - 0.5).abs() < 0.002, "{f}");
    // No view: null.
    assert_eq!(ask(&l, &r, 0.0, 10.0, "").residential_fraction, None);
    // A not_eligible camera stays not_eligible, without the reason.
    let a = ask(&l, &r, 150.0, 80.0, &view(0.0, 90.0, 10.0));
    assert_eq!((a.verdict, a.reasons.len()), (Verdict::NotEligible, 0));
    assert_eq!(a.residential_fraction, Some(1.0));
    // A prohibited one stays prohibited, reasons in step order.
    let a = ask(
        &l,
        &r,
        0.1,
        10.0,
        &format!(r#""covert": true, {}"#, view(90.0, 60.0, 9.0)),
    );
    assert_eq!(
        (a.verdict, a.reasons.clone()),
        (Verdict::Prohibited, vec![Reason::Covert])
    );
    // The maximum comes from the rules.
    let lax = Rules {
        residential_view_max_fraction: 1.0,
        ..Rules::default()
    };
    assert_eq!(
        ask(&l, &lax, 0.1, 10.0, &view(90.0, 60.0, 9.0)).verdict,
        Verdict::Eligible
    );
}

#[test]
fn residential_hole_is_not_housing_and_overlaps_count_once() {
    let l = housing();
    let r = Rules::default();
    // Full circle of radius 4 at the hole's centre (25, 0): no housing.
    let a = ask(&l, &r, 25.0, 0.0, &view(0.0, 360.0, 4.0));
    assert_eq!(a.residential_fraction, Some(0.0));
    // Circle of radius 20 at (40, 50): covered by both overlapping features, once.
    let a = ask(&l, &r, 40.0, 50.0, &view(0.0, 360.0, 9.0));
    assert_eq!(a.residential_fraction, Some(1.0));
}

#[test]
fn nearest_street_ties_rounding_and_none() {
    let streets = collection(vec![
        line(
            json!({"highway": "residential", "name": "First local"}),
            &[(-100.0, 10.0), (100.0, 10.0)],
        ),
        line(
            json!({"highway": "residential", "name": "Second local"}),
            &[(-100.0, -10.0), (100.0, -10.0)],
        ),
        line(
            json!({"highway": "primary"}),
            &[(-100.0, 210.004), (100.0, 210.004)],
        ),
        line(
            json!({"highway": "residential", "name": "Upper"}),
            &[(-100.0, 190.0), (100.0, 190.0)],
        ),
        line(
            json!({"highway": "primary", "name": "Far primary"}),
            &[(-100.0, 410.5), (100.0, 410.5)],
        ),
        line(
            json!({"highway": "residential", "name": "Near local"}),
            &[(-100.0, 390.0), (100.0, 390.0)],
        ),
    ]);
    let mut set = LayerSet::new();
    set.add_file(LayerKind::Streets, "s", &streets).unwrap();
    let l = set.build(&Rules::default());
    let r = Rules::default();
    // Equal class, equal distance: the first in the file.
    let n = ask(&l, &r, 0.0, 0.0, "").nearest_street.unwrap();
    assert_eq!(n.name.as_deref(), Some("First local"));
    // Within 0.01 m: the higher class, even unnamed and listed first.
    let n = ask(&l, &r, 0.0, 200.0, "").nearest_street.unwrap();
    assert_eq!((n.name, n.class), (None, StreetClass::Arterial));
    // 0.5 m apart: no tie.
    let n = ask(&l, &r, 0.0, 400.0, "").nearest_street.unwrap();
    assert_eq!(n.name.as_deref(), Some("Near local"));
    // Rounded to 0.01 m.
    let n = ask(&l, &r, 0.0, 3.3333, "").nearest_street.unwrap();
    assert_eq!(n.distance_m, (n.distance_m * 100.0).round() / 100.0);
    assert!((n.distance_m - 6.67).abs() < 0.02, "{}", n.distance_m);

    // No streets at all: null.
    let mut set = LayerSet::new();
    set.add_file(LayerKind::Streets, "none", &collection(vec![]))
        .unwrap();
    let l = set.build(&r);
    let a = ask(&l, &r, 0.0, 0.0, "");
    assert_eq!((a.nearest_street, a.verdict), (None, Verdict::NotEligible));
}

#[test]
fn custom_class_map_with_func_class_and_name_property() {
    let rules = Rules::from_yaml(
        br#"
name_property: STREETNAME
class_map:
  - when: {FUNC_CLASS: ["Principal Arterial", "Minor Arterial"]}
    class: arterial
  - when: {FUNC_CLASS: "Local", ALLEY: "Y"}
    class: alley
  - when: {FUNC_CLASS: "Local"}
    class: local
"#,
        "city-rules.yaml",
    )
    .unwrap();
    let streets = collection(vec![
        line(
            json!({"FUNC_CLASS": "Minor Arterial", "STREETNAME": "Peachtree"}),
            &[(-100.0, 0.0), (100.0, 0.0)],
        ),
        line(
            json!({"FUNC_CLASS": "Local", "ALLEY": "Y"}),
            &[(0.0, 0.0), (0.0, 100.0)],
        ),
        line(
            json!({"FUNC_CLASS": "Local", "ALLEY": "N", "STREETNAME": "Elm"}),
            &[(50.0, 50.0), (50.0, 100.0)],
        ),
        line(
            json!({"FUNC_CLASS": "Ramp", "highway": "primary"}),
            &[(-100.0, 300.0), (100.0, 300.0)],
        ),
    ]);
    let mut set = LayerSet::new();
    set.add_file(LayerKind::Streets, "centerlines", &streets)
        .unwrap();
    let l = set.build(&rules);
    use StreetClass::*;
    assert_eq!(
        l.class_counts(),
        vec![
            (Arterial, 1),
            (MinorArterial, 0),
            (Collector, 0),
            (Local, 1),
            (Alley, 1)
        ]
    );
    let a = ask(&l, &rules, 20.0, 5.0, "");
    let n = a.nearest_street.unwrap();
    assert_eq!((n.name.as_deref(), n.class), (Some("Peachtree"), Arterial));
    // The alley meets Peachtree: 40 m up it is an intersecting street.
    let a = ask(&l, &rules, 2.0, 40.0, "");
    assert_eq!(a.bases, vec![Basis::IntersectingStreet]);
}

#[test]
fn indexed_and_bruteforce_agree_on_the_synthetic_town() {
    let l = town();
    let mut rng = Rng(3);
    for k in 0..2000 {
        let (x, y) = (rng.range(-520.0, 520.0), rng.range(-250.0, 420.0));
        let extra = if k % 2 == 0 {
            view(
                rng.range(0.0, 360.0),
                rng.range(1.0, 360.0),
                rng.range(1.0, 80.0),
            )
        } else {
            String::new()
        };
        ask(&l, &Rules::default(), x, y, &extra);
    }
}

#[test]
fn far_away_cameras_do_not_panic() {
    let l = town();
    let r = Rules::default();
    for (lat, lon) in [
        (-45.0, -160.0),
        (0.0, 110.0),
        (90.0, 0.0),
        (-90.0, 180.0),
        (45.0, -70.0),
    ] {
        let line = format!(
            r#"{{"id":"far","lat":{lat},"lon":{lon},"purpose":"alpr","view":{{"heading_deg":0,"fov_deg":90,"range_m":50}}}}"#
        );
        let req = parse_request_line(&line).unwrap();
        let a = check(&l, &r, &req);
        assert_eq!(a, check_bruteforce(&l, &r, &req));
        assert!(a.bases.is_empty(), "{a:?}");
    }
}
