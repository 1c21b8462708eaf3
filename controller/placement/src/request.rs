//! Placement requests: one JSON object per line, validated per the spec.

use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value};

/// A request that is not valid: answered in its place by `{"id": ..., "error": ...}`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("request {}: {message}", id.as_deref().unwrap_or("(no id)"))]
pub struct RequestError {
    /// The request's id, when it could be read.
    pub id: Option<String>,
    /// What is wrong.
    pub message: String,
}

// The request's vocabulary is the model's: one contract per concept (the camera and
// placement-request specs the controller checks use the same types).
pub use camplane_config::model::{Mount, Purpose, Room, SpecialEvent, View};

/// A placement request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    /// The caller's id, echoed in the answer.
    pub id: String,
    /// WGS84 latitude.
    pub lat: f64,
    /// WGS84 longitude.
    pub lon: f64,
    /// Outdoor or indoor.
    pub mount: Mount,
    /// Required indoors, refused outdoors.
    pub room: Option<Room>,
    /// Why the camera is wanted.
    pub purpose: Purpose,
    /// Covert camera.
    pub covert: bool,
    /// The view, for the residential check.
    pub view: Option<View>,
    /// Special event window.
    pub temporary: Option<SpecialEvent>,
}

impl Request {
    /// A request with the spec's defaults for everything but the required fields.
    pub fn new(id: impl Into<String>, lat: f64, lon: f64, purpose: Purpose) -> Self {
        Request {
            id: id.into(),
            lat,
            lon,
            mount: Mount::Outdoor,
            room: None,
            purpose,
            covert: false,
            view: None,
            temporary: None,
        }
    }
}

const FIELDS: [&str; 9] = [
    "id",
    "lat",
    "lon",
    "mount",
    "room",
    "purpose",
    "covert",
    "view",
    "temporary",
];

fn enum_value<T: Copy>(
    obj: &Map<String, Value>,
    key: &str,
    table: &[(&str, T)],
) -> Result<Option<T>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => match table.iter().find(|(n, _)| n == s) {
            Some((_, v)) => Ok(Some(*v)),
            None => Err(format!(
                "unknown {key} `{s}` (known: {})",
                table.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            )),
        },
        Some(other) => Err(format!("{key} must be a string, found {other}")),
    }
}

fn number(obj: &Map<String, Value>, key: &str, path: &str) -> Result<f64, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Err(format!("missing {path}")),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|x| x.is_finite())
            .ok_or_else(|| format!("{path} is not a finite number")),
        Some(other) => Err(format!("{path} must be a number, found {other}")),
    }
}

fn only_fields(obj: &Map<String, Value>, known: &[&str], what: &str) -> Result<(), String> {
    let unknown: Vec<&str> = obj
        .keys()
        .map(String::as_str)
        .filter(|k| !known.contains(k))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "unknown field{} {} in {what} (known: {})",
            if unknown.len() > 1 { "s" } else { "" },
            unknown
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", "),
            known.join(", ")
        ))
    }
}

fn timestamp(obj: &Map<String, Value>, key: &str) -> Result<Timestamp, String> {
    match obj.get(key) {
        Some(Value::String(s)) => s
            .parse::<Timestamp>()
            .map_err(|e| format!("temporary.{key} `{s}` is not an RFC 3339 time: {e}")),
        None | Some(Value::Null) => Err(format!("missing temporary.{key}")),
        Some(other) => Err(format!(
            "temporary.{key} must be an RFC 3339 string, found {other}"
        )),
    }
}

fn check_position(lat: f64, lon: f64) -> Result<(), String> {
    if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
        return Err(format!("lat {lat} is outside [-90, 90]"));
    }
    if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
        return Err(format!("lon {lon} is outside [-180, 180]"));
    }
    Ok(())
}

fn check_mount(mount: Mount, room: Option<Room>) -> Result<(), String> {
    match (mount, room) {
        (Mount::Indoor, None) => Err("room is required for an indoor camera".into()),
        (Mount::Outdoor, Some(_)) => Err("room is refused for an outdoor camera".into()),
        _ => Ok(()),
    }
}

fn check_view(v: &View) -> Result<(), String> {
    if !v.heading_deg.is_finite() {
        return Err("view.heading_deg is not a finite number".into());
    }
    if !(v.fov_deg > 0.0 && v.fov_deg <= 360.0) {
        return Err(format!("view.fov_deg {} is outside (0, 360]", v.fov_deg));
    }
    if !(v.range_m > 0.0 && v.range_m.is_finite()) {
        return Err(format!("view.range_m {} must be greater than 0", v.range_m));
    }
    Ok(())
}

fn check_special_event(t: &SpecialEvent) -> Result<(), String> {
    if t.event.trim().is_empty() {
        return Err("temporary.event is empty".into());
    }
    if t.until <= t.from {
        return Err("temporary.until must be after temporary.from".into());
    }
    Ok(())
}

impl Request {
    /// Checks a request built from typed parts (a camera or placement-request spec)
    /// by the same rules, in the same order and with the same messages, as a request
    /// line: the controller's online checks and the offline CLI cannot disagree.
    pub fn validated(self) -> Result<Request, RequestError> {
        let checks = || -> Result<(), String> {
            check_position(self.lat, self.lon)?;
            check_mount(self.mount, self.room)?;
            if let Some(v) = &self.view {
                check_view(v)?;
            }
            if let Some(t) = &self.temporary {
                check_special_event(t)?;
            }
            Ok(())
        };
        match checks() {
            Ok(()) => Ok(self),
            Err(message) => Err(RequestError {
                id: Some(self.id),
                message,
            }),
        }
    }
}

fn parse_object(obj: &Map<String, Value>, id: String) -> Result<Request, String> {
    only_fields(obj, &FIELDS, "request")?;
    let lat = number(obj, "lat", "lat")?;
    let lon = number(obj, "lon", "lon")?;
    check_position(lat, lon)?;
    let purpose = enum_value(
        obj,
        "purpose",
        &[
            ("property_protection", Purpose::PropertyProtection),
            ("personal_safety", Purpose::PersonalSafety),
            ("extended_responsibility", Purpose::ExtendedResponsibility),
            ("assist_departments", Purpose::AssistDepartments),
            ("alpr", Purpose::Alpr),
            ("criminal_investigation", Purpose::CriminalInvestigation),
        ],
    )?
    .ok_or("missing purpose")?;
    let mount = enum_value(
        obj,
        "mount",
        &[("outdoor", Mount::Outdoor), ("indoor", Mount::Indoor)],
    )?
    .unwrap_or(Mount::Outdoor);
    let room = enum_value(
        obj,
        "room",
        &[
            ("bathroom", Room::Bathroom),
            ("locker_room", Room::LockerRoom),
            ("office", Room::Office),
            ("conference_room", Room::ConferenceRoom),
            ("other", Room::Other),
        ],
    )?;
    check_mount(mount, room)?;
    let covert = match obj.get("covert") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(format!("covert must be true or false, found {other}")),
    };
    let view = match obj.get("view") {
        None | Some(Value::Null) => None,
        Some(Value::Object(v)) => {
            only_fields(v, &["heading_deg", "fov_deg", "range_m"], "view")?;
            let heading_deg = number(v, "heading_deg", "view.heading_deg")?;
            let fov_deg = number(v, "fov_deg", "view.fov_deg")?;
            let range_m = number(v, "range_m", "view.range_m")?;
            let view = View {
                heading_deg,
                fov_deg,
                range_m,
            };
            check_view(&view)?;
            Some(view)
        }
        Some(other) => return Err(format!("view must be an object or null, found {other}")),
    };
    let temporary = match obj.get("temporary") {
        None | Some(Value::Null) => None,
        Some(Value::Object(t)) => {
            only_fields(t, &["event", "from", "until"], "temporary")?;
            let event = match t.get("event") {
                Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
                Some(Value::String(_)) => return Err("temporary.event is empty".into()),
                None | Some(Value::Null) => return Err("missing temporary.event".into()),
                Some(other) => {
                    return Err(format!("temporary.event must be a string, found {other}"))
                }
            };
            let from = timestamp(t, "from")?;
            let until = timestamp(t, "until")?;
            let event = SpecialEvent { event, from, until };
            check_special_event(&event)?;
            Some(event)
        }
        Some(other) => {
            return Err(format!(
                "temporary must be an object or null, found {other}"
            ))
        }
    };
    Ok(Request {
        id,
        lat,
        lon,
        mount,
        room,
        purpose,
        covert,
        view,
        temporary,
    })
}

/// Parses and validates one request line (a JSON object).
///
/// The error carries the id when it could be read, so the answer line can name it.
pub fn parse_request_line(line: &str) -> Result<Request, RequestError> {
    let value: Value = serde_json::from_str(line).map_err(|e| RequestError {
        id: None,
        message: format!("not a JSON object: {e}"),
    })?;
    let Value::Object(obj) = value else {
        return Err(RequestError {
            id: None,
            message: "a request must be a JSON object".into(),
        });
    };
    let id = match obj.get("id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        None | Some(Value::Null) => {
            return Err(RequestError {
                id: None,
                message: "missing id".into(),
            })
        }
        Some(other) => {
            return Err(RequestError {
                id: None,
                message: format!("id must be a non-empty string, found {other}"),
            })
        }
    };
    parse_object(&obj, id.clone()).map_err(|message| RequestError {
        id: Some(id),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(line: &str) -> RequestError {
        parse_request_line(line).unwrap_err()
    }

    #[test]
    fn defaults() {
        let r = parse_request_line(r#"{"id":"a","lat":1,"lon":2,"purpose":"alpr"}"#).unwrap();
        assert_eq!(r, Request::new("a", 1.0, 2.0, Purpose::Alpr));
    }

    #[test]
    fn full_request() {
        let r = parse_request_line(
            r#"{"id": "req-17", "lat": 33.7461, "lon": -84.3489, "mount": "indoor", "room": "other",
             "purpose": "property_protection", "covert": true,
             "view": {"heading_deg": 450, "fov_deg": 360, "range_m": 40},
             "temporary": {"event": "parade", "from": "2024-07-04T10:00:00Z", "until": "2024-07-04T18:00:00-04:00"}}"#,
        )
        .unwrap();
        assert_eq!(r.mount, Mount::Indoor);
        assert_eq!(r.room, Some(Room::Other));
        assert!(r.covert);
        assert_eq!(r.view.unwrap().fov_deg, 360.0);
        assert_eq!(r.temporary.unwrap().event, "parade");
    }

    #[test]
    fn bad_requests_name_the_problem_and_id() {
        let e = err(r#"{"id":"x","purpose":"alpr"}"#);
        assert_eq!(e.id.as_deref(), Some("x"));
        assert!(e.message.contains("missing lat"), "{e}");
        let e = err(r#"{"id":"x","lat":1,"purpose":"alpr"}"#);
        assert!(e.message.contains("missing lon"), "{e}");
        let e = err(r#"{"lat":1,"lon":1,"purpose":"alpr"}"#);
        assert_eq!(e.id, None);
        let e = err("not json");
        assert_eq!(e.id, None);
        let e = err(r#"{"id":"x","lat":1,"lon":1,"purpose":"spying"}"#);
        assert!(e.message.contains("unknown purpose `spying`"), "{e}");
        let e =
            err(r#"{"id":"x","lat":1,"lon":1,"purpose":"alpr","mount":"indoor","room":"attic"}"#);
        assert!(e.message.contains("unknown room `attic`"), "{e}");
        let e = err(r#"{"id":"x","lat":1,"lon":1,"purpose":"alpr","room":"office"}"#);
        assert!(e.message.contains("refused for an outdoor"), "{e}");
        let e = err(r#"{"id":"x","lat":1,"lon":1,"purpose":"alpr","mount":"indoor"}"#);
        assert!(e.message.contains("room is required"), "{e}");
        let e = err(
            r#"{"id":"x","lat":1,"lon":1,"purpose":"alpr","view":{"heading_deg":0,"fov_deg":0,"range_m":5}}"#,
        );
        assert!(e.message.contains("fov_deg"), "{e}");
        let e = err(
            r#"{"id":"x","lat":1,"lon":1,"purpose":"alpr","view":{"heading_deg":0,"fov_deg":361,"range_m":5}}"#,
        );
        assert!(e.message.contains("fov_deg"), "{e}");
        let e = err(
            r#"{"id":"x","lat":1,"lon":1,"purpose":"alpr","view":{"heading_deg":0,"fov_deg":30,"range_m":0}}"#,
        );
        assert!(e.message.contains("range_m"), "{e}");
        let e = err(
            r#"{"id":"x","lat":1,"lon":1,"purpose":"alpr","temporary":{"event":"e","from":"2024-01-02T00:00:00Z","until":"2024-01-01T00:00:00Z"}}"#,
        );
        assert!(e.message.contains("until must be after"), "{e}");
        let e = err(
            r#"{"id":"x","lat":1,"lon":1,"purpose":"alpr","temporary":{"event":"e","from":"yesterday","until":"2024-01-01T00:00:00Z"}}"#,
        );
        assert!(e.message.contains("RFC 3339"), "{e}");
        let e = err(r#"{"id":"x","lat":91,"lon":1,"purpose":"alpr"}"#);
        assert!(e.message.contains("lat 91"), "{e}");
        let e = err(r#"{"id":"x","lat":1,"lon":1,"purpose":"alpr","colour":"red"}"#);
        assert!(e.message.contains("unknown field `colour`"), "{e}");
    }

    /// A typed request (what the controller builds from a camera spec) is refused by
    /// the same rule, with the same message, as the request line that says the same.
    #[test]
    fn typed_requests_meet_the_line_rules() {
        let line = |extra: &str| format!(r#"{{"id":"x","lat":1,"lon":1,"purpose":"alpr"{extra}}}"#);
        let typed = |f: &dyn Fn(&mut Request)| {
            let mut r = Request::new("x", 1.0, 1.0, Purpose::Alpr);
            f(&mut r);
            r.validated()
        };
        type Edit<'a> = &'a dyn Fn(&mut Request);
        let cases: [(&str, Edit); 4] = [
            (r#","mount":"indoor""#, &|r| r.mount = Mount::Indoor),
            (r#","room":"office""#, &|r| r.room = Some(Room::Office)),
            (
                r#","view":{"heading_deg":0,"fov_deg":400,"range_m":5}"#,
                &|r| {
                    r.view = Some(View {
                        heading_deg: 0.0,
                        fov_deg: 400.0,
                        range_m: 5.0,
                    })
                },
            ),
            (
                r#","temporary":{"event":"e","from":"2025-01-02T00:00:00Z","until":"2025-01-01T00:00:00Z"}"#,
                &|r| {
                    r.temporary = Some(SpecialEvent {
                        event: "e".into(),
                        from: "2025-01-02T00:00:00Z".parse().unwrap(),
                        until: "2025-01-01T00:00:00Z".parse().unwrap(),
                    })
                },
            ),
        ];
        for (extra, f) in cases {
            let from_line = parse_request_line(&line(extra)).unwrap_err();
            let from_typed = typed(f).unwrap_err();
            assert_eq!(from_line, from_typed, "{extra}");
        }
        // And the legitimate request passes both ways, equal.
        assert_eq!(
            parse_request_line(&line("")).unwrap(),
            typed(&|_| {}).unwrap()
        );
    }
}
