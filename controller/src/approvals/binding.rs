//! An approval binds the camera: what the City Manager approved is what gets
//! installed. Policy 5.05 has each placement (location, purpose, view, covert
//! use, special-event window) approved before installation, so a camera that
//! differs from its approved request in any of those is a different camera and
//! needs its own request. A pure function; the camera's activation and every
//! change of an active camera call it.

use camplane_config::model::{CameraSpec, LatLon, PlacementRequestSpec, Purpose};

/// How far the installed heading may turn from the approved one: a bracket
/// swings a few degrees when tightened, a different street is tens of degrees.
pub const HEADING_TOLERANCE_DEG: f64 = 15.0;

/// Mean Earth radius (IUGG), metres: enough for distances of metres.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Great-circle distance in metres (haversine).
pub fn distance_m(a: LatLon, b: LatLon) -> f64 {
    let (p1, p2) = (a.lat.to_radians(), b.lat.to_radians());
    let dp = p2 - p1;
    let dl = (b.lon - a.lon).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// The smallest turn between two headings, in [0, 180].
fn heading_diff(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(360.0);
    d.min(360.0 - d)
}

/// Every field in which `camera` differs from what `request` approved, each
/// named with both values; empty when the camera is the one approved.
pub fn mismatches(
    request: &PlacementRequestSpec,
    camera: &CameraSpec,
    tolerance_m: f64,
) -> Vec<String> {
    let mut out = Vec::new();
    let d = distance_m(request.location, camera.location);
    // A NaN distance (a broken coordinate) never binds.
    if d.is_nan() || d > tolerance_m {
        out.push(format!(
            "location: {d:.1} m from the approved place (at most {tolerance_m} m; a relocation needs a new request)"
        ));
    }
    if request.mount != camera.mount {
        out.push(format!(
            "mount: {:?}, approved {:?}",
            camera.mount, request.mount
        ));
    }
    if request.room != camera.room {
        out.push(format!(
            "room: {:?}, approved {:?}",
            camera.room, request.room
        ));
    }
    if request.covert != camera.covert {
        out.push(format!(
            "covert: {}, approved {}",
            camera.covert, request.covert
        ));
    }
    match (&request.view, &camera.view) {
        (None, None) => {}
        (Some(r), Some(c)) => {
            let turn = heading_diff(r.heading_deg, c.heading_deg);
            if turn > HEADING_TOLERANCE_DEG {
                out.push(format!(
                    "view.heading_deg: {} turns {turn:.0}° from the approved {} (at most {HEADING_TOLERANCE_DEG}°)",
                    c.heading_deg, r.heading_deg
                ));
            }
            if c.range_m > r.range_m {
                out.push(format!(
                    "view.range_m: {} is more than the approved {}",
                    c.range_m, r.range_m
                ));
            }
            if c.fov_deg > r.fov_deg {
                out.push(format!(
                    "view.fov_deg: {} is wider than the approved {}",
                    c.fov_deg, r.fov_deg
                ));
            }
        }
        (Some(_), None) => out.push("view: none given; the approval is for a view".into()),
        (None, Some(_)) => {
            out.push("view: the approval has no view; a view needs a request that shows it".into())
        }
    }
    if request.department != camera.department {
        // Who may view it, who maintains it and whose report counts it follow
        // the camera's department: the one that asked for it.
        out.push(format!(
            "department: {:?}, approved for {:?} (the installing department views it)",
            camera.department, request.department
        ));
    }
    if request.purpose != camera.purpose {
        out.push(format!(
            "purpose: {:?}, approved {:?}",
            camera.purpose, request.purpose
        ));
    }
    if request.kind != camera.kind {
        out.push(format!(
            "kind: {:?}, approved {:?}",
            camera.kind, request.kind
        ));
    }
    if camera.alpr && request.purpose != Purpose::Alpr {
        out.push(format!(
            "alpr: true needs an approval for purpose alpr; this one is for {:?}",
            request.purpose
        ));
    }
    match (&request.temporary, &camera.special_event) {
        (None, None) => {}
        (Some(r), Some(c)) if c.from >= r.from && c.until <= r.until => {}
        (Some(r), Some(c)) => out.push(format!(
            "special_event: {} to {} is outside the approved {} to {}",
            c.from, c.until, r.from, r.until
        )),
        (Some(r), None) => out.push(format!(
            "special_event: none given; the approval is for {} to {} only",
            r.from, r.until
        )),
        (None, Some(_)) => {
            out.push("special_event: the approval has no special-event window".into())
        }
    }
    out
}

/// The privacy masks of an approved camera that a change would remove or
/// redraw, named; empty when every mask stays (masks may be added). A mask
/// kept the camera off what it may not see (placement: `needs_review` stands
/// "until a privacy mask or a new heading brings it under"); taking it away
/// is a new placement request, and the chief lifts one for one view only.
pub fn masks_taken_away(
    before: &[camplane_config::model::PrivacyMask],
    after: &[camplane_config::model::PrivacyMask],
) -> Vec<String> {
    before
        .iter()
        .enumerate()
        .filter(|(_, m)| !after.contains(m))
        .map(|(i, _)| {
            format!("privacy_masks.{i}: removed or redrawn; a mask of an approved camera is taken away only through a new placement request (the chief lifts one for a view)")
        })
        .collect()
}

#[cfg(test)]
mod tests {

    /// Masks may be added; one removed or redrawn is named.
    #[test]
    fn masks_of_an_approved_camera_are_only_added() {
        use camplane_config::model::PrivacyMask;
        let m = |name: &str, x: f64| -> PrivacyMask {
            serde_json::from_value(serde_json::json!({
                "name": name, "polygon": [[0.0, 0.0], [x, 0.0], [x, x]]
            }))
            .unwrap()
        };
        let before = vec![m("window", 0.5), m("door", 0.3)];
        assert!(
            masks_taken_away(&before, &[m("door", 0.3), m("window", 0.5), m("new", 0.2)])
                .is_empty()
        );
        let gone = masks_taken_away(&before, &[m("door", 0.3)]);
        assert_eq!(gone.len(), 1);
        assert!(gone[0].starts_with("privacy_masks.0"), "{gone:?}");
        assert_eq!(
            masks_taken_away(&before, &[m("window", 0.1), m("door", 0.3)]).len(),
            1
        );
    }

    use super::*;
    use camplane_config::model::{CameraKind, Mount, SpecialEvent, View};
    use jiff::Timestamp;

    fn request() -> PlacementRequestSpec {
        serde_json::from_value(serde_json::json!({
            "location": {"lat": 42.5006, "lon": -90.6646},
            "purpose": "property_protection", "justification": "x", "funding_source": "f",
            "department": "police", "kind": "fixed",
            "view": {"heading_deg": 350.0, "fov_deg": 60.0, "range_m": 40.0},
        }))
        .unwrap()
    }

    fn camera() -> CameraSpec {
        serde_json::from_value(serde_json::json!({
            "site": "s", "department": "police", "kind": "fixed", "purpose": "property_protection",
            "location": {"lat": 42.5006, "lon": -90.6646},
            "view": {"heading_deg": 350.0, "fov_deg": 60.0, "range_m": 40.0},
            "streams": {"main": "rtsp://cam/main"},
        }))
        .unwrap()
    }

    #[test]
    fn the_approved_camera_binds() {
        assert!(mismatches(&request(), &camera(), 10.0).is_empty());
        // A few metres off, a few degrees turned (across north), a shorter range.
        let mut c = camera();
        c.location.lat += 0.00005; // about 5.6 m
        c.view = Some(View {
            heading_deg: 2.0,
            fov_deg: 60.0,
            range_m: 30.0,
        });
        assert!(
            mismatches(&request(), &c, 10.0).is_empty(),
            "{:?}",
            mismatches(&request(), &c, 10.0)
        );
    }

    #[test]
    fn every_field_that_differs_is_named() {
        let mut c = camera();
        c.location.lat += 0.001; // about 111 m
        c.mount = Mount::Indoor;
        c.covert = true;
        c.view = Some(View {
            heading_deg: 90.0,
            fov_deg: 90.0,
            range_m: 80.0,
        });
        c.purpose = Purpose::Alpr;
        c.kind = CameraKind::Mobile;
        c.alpr = true;
        c.special_event = Some(SpecialEvent {
            event: "fair".into(),
            from: Timestamp::UNIX_EPOCH,
            until: Timestamp::MAX,
        });
        let m = mismatches(&request(), &c, 10.0).join("\n");
        for f in [
            "location:",
            "mount:",
            "covert:",
            "view.heading_deg:",
            "view.range_m:",
            "view.fov_deg:",
            "purpose:",
            "kind:",
            "alpr:",
            "special_event:",
        ] {
            assert!(m.contains(f), "{f} not named in:\n{m}");
        }
    }

    #[test]
    fn alpr_needs_an_alpr_approval() {
        let mut c = camera();
        c.alpr = true;
        let m = mismatches(&request(), &c, 10.0);
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(m[0].starts_with("alpr:"));
        let mut r = request();
        r.purpose = Purpose::Alpr;
        c.purpose = Purpose::Alpr;
        assert!(mismatches(&r, &c, 10.0).is_empty());
    }

    #[test]
    fn the_event_window_binds() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let mut r = request();
        r.kind = CameraKind::Temporary;
        r.temporary = Some(SpecialEvent {
            event: "fair".into(),
            from: t("2026-07-01T00:00:00Z"),
            until: t("2026-07-05T00:00:00Z"),
        });
        let mut c = camera();
        c.kind = CameraKind::Temporary;
        c.special_event = Some(SpecialEvent {
            event: "fair".into(),
            from: t("2026-07-02T00:00:00Z"),
            until: t("2026-07-04T00:00:00Z"),
        });
        assert!(mismatches(&r, &c, 10.0).is_empty());
        c.special_event.as_mut().unwrap().until = t("2026-07-09T00:00:00Z");
        assert_eq!(mismatches(&r, &c, 10.0).len(), 1);
        c.special_event = None;
        assert_eq!(mismatches(&r, &c, 10.0).len(), 1);
    }

    #[test]
    fn distances_and_headings() {
        let a = LatLon {
            lat: 42.5,
            lon: -90.66,
        };
        let b = LatLon {
            lat: 42.501,
            lon: -90.66,
        };
        assert!(
            (distance_m(a, b) - 111.2).abs() < 0.5,
            "{}",
            distance_m(a, b)
        );
        assert_eq!(heading_diff(350.0, 10.0), 20.0);
        assert_eq!(heading_diff(-10.0, 370.0), 20.0);
        // NaN never binds.
        let n = LatLon {
            lat: f64::NAN,
            lon: 0.0,
        };
        let mut c = camera();
        c.location = n;
        assert!(!mismatches(&request(), &c, 10.0).is_empty());
    }
}
