//! Object manifests: the YAML files `camplane apply -f` reads. A file holds many
//! documents separated by `---`, each `{kind, name, spec}` (a `status` printed by
//! `camplane get -o yaml` is accepted and ignored, so that output re-applies).

use crate::model::*;
use crate::{from_yaml_strict, locate, yaml_problem, Error, Problem, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The spec of one object, by kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Spec {
    /// A site.
    Site(SiteSpec),
    /// A department.
    Department(DepartmentSpec),
    /// A camera.
    Camera(Box<CameraSpec>),
    /// A placement request.
    PlacementRequest(Box<PlacementRequestSpec>),
    /// A user.
    User(UserSpec),
    /// An agent.
    Agent(AgentSpec),
    /// A legal hold.
    LegalHold(Box<LegalHoldSpec>),
    /// A department's fee schedule.
    FeeSchedule(FeeScheduleSpec),
}

impl Spec {
    /// The kind of the spec.
    pub fn kind(&self) -> Kind {
        match self {
            Spec::Site(_) => Kind::Site,
            Spec::Department(_) => Kind::Department,
            Spec::Camera(_) => Kind::Camera,
            Spec::PlacementRequest(_) => Kind::PlacementRequest,
            Spec::User(_) => Kind::User,
            Spec::Agent(_) => Kind::Agent,
            Spec::LegalHold(_) => Kind::LegalHold,
            Spec::FeeSchedule(_) => Kind::FeeSchedule,
        }
    }

    /// The spec as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        // Serializing these plain structs cannot fail.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Reads a spec of `kind` from JSON, rejecting unknown fields.
    pub fn from_json(kind: Kind, json: &[u8]) -> std::result::Result<Spec, String> {
        fn de<T: DeserializeOwned>(json: &[u8]) -> std::result::Result<T, String> {
            let mut unknown = Vec::new();
            let mut d = serde_json::Deserializer::from_slice(json);
            let v: T = serde_ignored::deserialize(&mut d, |p| unknown.push(p.to_string()))
                .map_err(|e| e.to_string())?;
            if !unknown.is_empty() {
                return Err(format!("unknown field(s): {}", unknown.join(", ")));
            }
            Ok(v)
        }
        Ok(match kind {
            Kind::Site => Spec::Site(de(json)?),
            Kind::Department => Spec::Department(de(json)?),
            Kind::Camera => Spec::Camera(Box::new(de(json)?)),
            Kind::PlacementRequest => Spec::PlacementRequest(Box::new(de(json)?)),
            Kind::User => Spec::User(de(json)?),
            Kind::Agent => Spec::Agent(de(json)?),
            Kind::LegalHold => Spec::LegalHold(Box::new(de(json)?)),
            Kind::FeeSchedule => Spec::FeeSchedule(de(json)?),
        })
    }

    /// Checks the values (ranges, combinations); returns (field path, message) pairs.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        check_free_text(&mut out, "spec", &self.to_json());
        match self {
            Spec::Site(s) => check_latlon(&mut out, "spec", s.lat, s.lon),
            Spec::Department(_) => {}
            Spec::Camera(c) => {
                check_latlon(&mut out, "spec.location", c.location.lat, c.location.lon);
                check_room(&mut out, c.mount, c.room);
                if let Some(v) = &c.view {
                    check_view(&mut out, "spec.view", v);
                }
                if c.retention_days == 0 || c.retention_days > MAX_RETENTION_DAYS {
                    out.push((
                        "spec.retention_days".into(),
                        format!(
                            "must be 1..={MAX_RETENTION_DAYS} days (policy 5.05), got {}",
                            c.retention_days
                        ),
                    ));
                }
                check_name_ref(&mut out, "spec.site", &c.site);
                check_name_ref(&mut out, "spec.department", &c.department);
                if let Some(a) = &c.agent {
                    check_name_ref(&mut out, "spec.agent", a);
                }
                out.extend(crate::model::privacy_mask_problems(&c.privacy_masks));
                if let Some(fps) = c.alpr_fps {
                    out.extend(crate::model::alpr_fps_problem("spec.alpr_fps", fps));
                }
                if c.streams.main.trim().is_empty() {
                    out.push(("spec.streams.main".into(), "must not be empty".into()));
                }
                // Credentials are secrets, set apart from the spec everyone reads.
                for (field, url) in [
                    ("main", Some(&c.streams.main)),
                    ("sub", c.streams.sub.as_ref()),
                ] {
                    if url.is_some_and(|u| crate::model::url_has_credentials(u)) {
                        out.push((
                            format!("spec.streams.{field}"),
                            "a stream address must not carry a user name or password: set them apart with `camplane camera credentials set CAMERA --user USER --password-stdin`".into(),
                        ));
                    }
                }
                match (&c.kind, &c.special_event) {
                    (CameraKind::Temporary, None) => out.push((
                        "spec.special_event".into(),
                        "a temporary camera needs its special-event window".into(),
                    )),
                    (k, Some(_)) if *k != CameraKind::Temporary => out.push((
                        "spec.special_event".into(),
                        "only temporary cameras have a special-event window".into(),
                    )),
                    _ => {}
                }
                if let Some(e) = &c.special_event {
                    check_event(&mut out, "spec.special_event", e);
                }
                if c.covert && c.purpose != Purpose::CriminalInvestigation {
                    // allowed only with the chief's recorded authorization: the
                    // placement request's override carries it, so only warn-level here.
                }
            }
            Spec::PlacementRequest(r) => {
                check_latlon(&mut out, "spec.location", r.location.lat, r.location.lon);
                check_room(&mut out, r.mount, r.room);
                if let Some(v) = &r.view {
                    check_view(&mut out, "spec.view", v);
                }
                if let Some(e) = &r.temporary {
                    check_event(&mut out, "spec.temporary", e);
                }
                if r.kind == CameraKind::Temporary && r.temporary.is_none() {
                    out.push((
                        "spec.temporary".into(),
                        "a temporary camera's request needs its special-event window".into(),
                    ));
                }
                if r.justification.trim().is_empty() {
                    out.push(("spec.justification".into(), "must not be empty".into()));
                }
                if r.funding_source.trim().is_empty() {
                    out.push(("spec.funding_source".into(), "must not be empty".into()));
                }
                check_name_ref(&mut out, "spec.department", &r.department);
            }
            Spec::Agent(a) => check_name_ref(&mut out, "spec.site", &a.site),
            Spec::LegalHold(h) => {
                if h.until <= h.from {
                    out.push(("spec.until".into(), "must be after `from`".into()));
                }
                if h.cameras.is_empty() {
                    out.push(("spec.cameras".into(), "name at least one camera".into()));
                }
            }
            Spec::FeeSchedule(f) => check_fee_schedule(&mut out, f),
            Spec::User(u) => {
                if u.roles.is_empty() {
                    out.push(("spec.roles".into(), "a user needs at least one role".into()));
                }
                check_text(
                    &mut out,
                    "spec.display_name",
                    &u.display_name,
                    MAX_DISPLAY_NAME,
                );
                check_text(&mut out, "spec.department", &u.department, MAX_USER_FIELD);
                if let Some(p) = &u.policy_version {
                    check_text(&mut out, "spec.policy_version", p, MAX_USER_FIELD);
                }
            }
        }
        out
    }
}

/// The longest user display name, in characters.
pub const MAX_DISPLAY_NAME: usize = 128;
/// The longest of a user's other text fields (department, policy version).
pub const MAX_USER_FIELD: usize = 64;

/// A free-text field: at most `max` characters, no NUL or other control
/// characters (they forge rows in what an auditor reads).
fn check_text(out: &mut Vec<(String, String)>, at: &str, text: &str, max: usize) {
    let n = text.chars().count();
    if n > max {
        out.push((at.into(), format!("at most {max} characters (got {n})")));
    }
    if text.chars().any(char::is_control) {
        out.push((
            at.into(),
            "must not hold NUL or other control characters".into(),
        ));
    }
}

/// A fee schedule: amounts 0..=[`MAX_FEE_CENTS`] whole cents, an ISO 4217 code.
fn check_fee_schedule(out: &mut Vec<(String, String)>, f: &FeeScheduleSpec) {
    if !(f.currency.len() == 3 && f.currency.bytes().all(|b| b.is_ascii_uppercase())) {
        out.push((
            "spec.currency".into(),
            format!(
                "{:?} is not a currency code (three capital letters, e.g. USD)",
                f.currency.chars().take(16).collect::<String>()
            ),
        ));
    }
    for (field, v) in [
        ("base_cents", f.base_cents),
        ("per_minute_cents", f.per_minute_cents),
        ("per_file_cents", f.per_file_cents),
    ] {
        if !(0..=MAX_FEE_CENTS).contains(&v) {
            out.push((
                format!("spec.{field}"),
                format!("must be 0..={MAX_FEE_CENTS} cents (whole cents, not negative), got {v}"),
            ));
        }
    }
}

fn check_latlon(out: &mut Vec<(String, String)>, at: &str, lat: f64, lon: f64) {
    if !(-90.0..=90.0).contains(&lat) || !lat.is_finite() {
        out.push((
            format!("{at}.lat"),
            format!("latitude {lat} is out of range -90..90"),
        ));
    }
    if !(-180.0..=180.0).contains(&lon) || !lon.is_finite() {
        out.push((
            format!("{at}.lon"),
            format!("longitude {lon} is out of range -180..180"),
        ));
    }
}

fn check_room(out: &mut Vec<(String, String)>, mount: Mount, room: Option<Room>) {
    match (mount, room) {
        (Mount::Indoor, None) => {
            out.push(("spec.room".into(), "an indoor camera needs a room".into()))
        }
        (Mount::Outdoor, Some(_)) => {
            out.push(("spec.room".into(), "an outdoor camera has no room".into()))
        }
        _ => {}
    }
}

fn check_view(out: &mut Vec<(String, String)>, at: &str, v: &View) {
    if !(v.fov_deg > 0.0 && v.fov_deg <= 360.0) {
        out.push((
            format!("{at}.fov_deg"),
            format!("must be in (0, 360], got {}", v.fov_deg),
        ));
    }
    if !(v.range_m > 0.0 && v.range_m.is_finite()) {
        out.push((
            format!("{at}.range_m"),
            format!("must be > 0, got {}", v.range_m),
        ));
    }
    if !v.heading_deg.is_finite() {
        out.push((format!("{at}.heading_deg"), "must be a number".into()));
    }
}

fn check_event(out: &mut Vec<(String, String)>, at: &str, e: &SpecialEvent) {
    if e.until <= e.from {
        out.push((format!("{at}.until"), "must be after `from`".into()));
    }
}

fn check_name_ref(out: &mut Vec<(String, String)>, at: &str, name: &str) {
    if !valid_name(name) {
        out.push((at.to_string(), format!("{name:?} is not a valid name")));
    }
}

/// One object read from a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Its name.
    pub name: String,
    /// Its spec (which gives the kind).
    pub spec: Spec,
    /// The 1-based line its document starts on.
    pub line: usize,
}

#[derive(Deserialize)]
struct Doc<S> {
    #[allow(dead_code)]
    kind: String,
    name: String,
    spec: S,
    #[serde(default)]
    #[allow(dead_code)]
    status: Option<serde_yaml::Value>,
}

/// Splits YAML text into documents, with the 0-based line each starts on.
fn documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut cur = String::new();
    let mut start = 0usize;
    for (i, line) in text.lines().enumerate() {
        if line.trim_end() == "---" || line.starts_with("--- ") {
            if !cur.trim().is_empty() {
                docs.push((start, std::mem::take(&mut cur)));
            }
            cur.clear();
            start = i + 1;
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
    }
    if !cur.trim().is_empty() {
        docs.push((start, cur));
    }
    docs
}

/// Parses a manifest file's text. On any problem nothing is returned: the caller
/// writes nothing (all or nothing), and every problem found is listed.
pub fn parse(file: &str, text: &str) -> Result<Vec<Manifest>> {
    let mut problems = Vec::new();
    let mut out: Vec<Manifest> = Vec::new();
    for (start, doc) in documents(text) {
        // First pass: syntax and kind.
        let value: serde_yaml::Value = match serde_yaml::from_str(&doc) {
            Ok(v) => v,
            Err(e) => {
                // A syntax error stops reading the file: what follows can't be trusted.
                problems.push(yaml_problem(file, start, &e));
                return Err(Error::Invalid(problems));
            }
        };
        if value.is_null() {
            continue;
        }
        let kind_str = value.get("kind").and_then(|k| k.as_str()).unwrap_or("");
        let line0 = start + 1;
        let Some(kind) = Kind::ALL.into_iter().find(|k| k.as_str() == kind_str) else {
            let line = locate::line_of_path(&doc, "kind")
                .map(|l| l + start + 1)
                .or(Some(line0));
            problems.push(Problem {
                file: file.into(),
                line,
                column: None,
                path: "kind".into(),
                message: if kind_str.is_empty() {
                    "missing `kind` (one of Site, Department, Agent, Camera, PlacementRequest, User, FeeSchedule)".into()
                } else {
                    format!(
                        "unknown kind {kind_str:?} (one of Site, Department, Agent, Camera, PlacementRequest, User, FeeSchedule)"
                    )
                },
            });
            continue;
        };
        let parsed = match kind {
            Kind::Site => typed::<SiteSpec>(file, &doc, start).map(|(n, s)| (n, Spec::Site(s))),
            Kind::Department => {
                typed::<DepartmentSpec>(file, &doc, start).map(|(n, s)| (n, Spec::Department(s)))
            }
            Kind::Camera => {
                typed::<CameraSpec>(file, &doc, start).map(|(n, s)| (n, Spec::Camera(Box::new(s))))
            }
            Kind::PlacementRequest => typed::<PlacementRequestSpec>(file, &doc, start)
                .map(|(n, s)| (n, Spec::PlacementRequest(Box::new(s)))),
            Kind::User => typed::<UserSpec>(file, &doc, start).map(|(n, s)| (n, Spec::User(s))),
            Kind::Agent => typed::<AgentSpec>(file, &doc, start).map(|(n, s)| (n, Spec::Agent(s))),
            Kind::LegalHold => typed::<LegalHoldSpec>(file, &doc, start)
                .map(|(n, s)| (n, Spec::LegalHold(Box::new(s)))),
            Kind::FeeSchedule => {
                typed::<FeeScheduleSpec>(file, &doc, start).map(|(n, s)| (n, Spec::FeeSchedule(s)))
            }
        };
        let (name, spec) = match parsed {
            Ok(x) => x,
            Err(mut p) => {
                problems.append(&mut p);
                continue;
            }
        };
        // `a[1].b` is looked up as `a.1.b`; a path not on a line of its own
        // (a point of a flow-style polygon) gets the line of its nearest parent.
        let at = |path: &str| {
            let mut p = path.replace('[', ".").replace(']', "");
            loop {
                if let Some(l) = locate::line_of_path(&doc, &p) {
                    return Some(l + start + 1);
                }
                p = p.rsplit_once('.')?.0.to_string();
            }
        };
        if !valid_name(&name) {
            problems.push(Problem {
                file: file.into(),
                line: at("name"),
                column: None,
                path: "name".into(),
                message: format!(
                    "{name:?} is not a valid name (lower-case letters, digits, '-', '_', '.'; at most 63)"
                ),
            });
        }
        for (path, message) in spec.validate() {
            problems.push(Problem {
                file: file.into(),
                line: at(&path),
                column: None,
                path,
                message,
            });
        }
        if let Some(prev) = out.iter().find(|m| m.spec.kind() == kind && m.name == name) {
            problems.push(Problem {
                file: file.into(),
                line: at("name"),
                column: None,
                path: "name".into(),
                message: format!(
                    "duplicate {kind} {name:?} (first defined at line {})",
                    prev.line
                ),
            });
        }
        out.push(Manifest {
            name,
            spec,
            line: line0,
        });
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(Error::Invalid(problems))
    }
}

fn typed<S: DeserializeOwned>(
    file: &str,
    doc: &str,
    start: usize,
) -> std::result::Result<(String, S), Vec<Problem>> {
    let d: Doc<S> = from_yaml_strict(file, doc, start, "")?;
    Ok((d.name, d.spec))
}

/// Reads and parses a manifest file.
pub fn load(path: &std::path::Path) -> Result<Vec<Manifest>> {
    let text = crate::read_file_limited(path, MANIFEST_MAX_BYTES, "a manifest file")?;
    parse(&path.display().to_string(), &text)
}

/// The longest string any field of an object may hold (characters): an address,
/// a justification, a reason fit in far less; a display name of megabytes is an
/// attack on the store and the audit log, refused before anything is written.
pub const FREE_TEXT_MAX_CHARS: usize = 2000;

/// Every string in a spec: at most [`FREE_TEXT_MAX_CHARS`], and no NUL or other
/// control character (a line break and a tab are allowed in free text).
fn check_free_text(out: &mut Vec<(String, String)>, path: &str, v: &serde_json::Value) {
    match v {
        serde_json::Value::String(s) => {
            let n = s.chars().count();
            if n > FREE_TEXT_MAX_CHARS {
                out.push((
                    path.into(),
                    format!("{n} characters is over the limit of {FREE_TEXT_MAX_CHARS}"),
                ));
            }
            if let Some(c) = s
                .chars()
                .find(|c| c.is_control() && !matches!(c, '\n' | '\t'))
            {
                out.push((
                    path.into(),
                    format!("control character U+{:04X} is not allowed", c as u32),
                ));
            }
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                check_free_text(out, &format!("{path}[{i}]"), x);
            }
        }
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                check_free_text(out, &format!("{path}.{k}"), x);
            }
        }
        _ => {}
    }
}

/// The largest manifest file `apply` reads: the controller's request limit
/// (`camplane_proto::limits::DEFAULT_MAX_MESSAGE`, 4 MiB), so an oversized file
/// is refused by name before it is parsed or sent.
pub const MANIFEST_MAX_BYTES: u64 = 4 << 20;

/// Renders objects as a manifest that `parse` reads back unchanged.
pub fn render_yaml(
    objects: &[(Kind, String, serde_json::Value, Option<serde_json::Value>)],
) -> String {
    let mut s = String::new();
    for (i, (kind, name, spec, status)) in objects.iter().enumerate() {
        if i > 0 {
            s.push_str("---\n");
        }
        let mut map = serde_json::Map::new();
        map.insert("kind".into(), kind.as_str().into());
        map.insert("name".into(), name.clone().into());
        map.insert("spec".into(), spec.clone());
        if let Some(st) = status {
            map.insert("status".into(), st.clone());
        }
        s.push_str(&serde_yaml::to_string(&serde_json::Value::Object(map)).unwrap_or_default());
    }
    s
}

/// Counts objects by kind (for summaries).
pub fn count_by_kind(ms: &[Manifest]) -> HashMap<Kind, usize> {
    let mut h = HashMap::new();
    for m in ms {
        *h.entry(m.spec.kind()).or_default() += 1;
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A user's free text is bounded and holds no control characters; an
    /// ordinary name with accents passes.
    #[test]
    fn user_text_fields_are_bounded_and_printable() {
        let user = |display: String, policy: Option<String>| {
            Spec::User(UserSpec {
                display_name: display,
                department: "police".into(),
                roles: vec![crate::model::Role::Viewer],
                trained_at: None,
                certified_until: None,
                policy_version: policy,
                disabled: false,
            })
        };
        assert!(user("Ana Marić-Núñez".into(), Some("5.05".into()))
            .validate()
            .is_empty());
        let long = user("x".repeat(MAX_DISPLAY_NAME + 1), None).validate();
        assert_eq!(long[0].0, "spec.display_name");
        assert!(long[0].1.contains("at most 128"), "{long:?}");
        assert!(user("x".repeat(MAX_DISPLAY_NAME), None)
            .validate()
            .is_empty());
        for bad in ["a\0b", "a\nadmin audit.cleared ok", "\x1b[31mred"] {
            let p = user(bad.into(), None).validate();
            assert!(p[0].1.contains("control"), "{bad:?}: {p:?}");
        }
        let p = user("Ana".into(), Some("5.05\0".into())).validate();
        assert_eq!(p[0].0, "spec.policy_version");
    }

    /// A fee schedule: whole, non-negative, bounded cents and a currency
    /// code; every problem named by its path at once, with its line; unknown
    /// fields and fractions refused.
    #[test]
    fn fee_schedules_are_checked_on_apply() {
        let ok = parse(
            "fees.yaml",
            "kind: FeeSchedule\nname: parks\nspec:\n  base_cents: 500\n  per_minute_cents: 25\n  per_file_cents: 100\n",
        )
        .unwrap();
        assert_eq!(
            ok[0].spec,
            Spec::FeeSchedule(FeeScheduleSpec {
                currency: "USD".into(),
                base_cents: 500,
                per_minute_cents: 25,
                per_file_cents: 100,
            })
        );
        let bad = "kind: FeeSchedule\nname: parks\nspec:\n  currency: usd\n  base_cents: -1\n  per_minute_cents: 1000001\n  per_file_cents: 0\n";
        let Err(Error::Invalid(p)) = parse("fees.yaml", bad) else {
            panic!("accepted")
        };
        let at: Vec<(&str, Option<usize>)> = p.iter().map(|p| (p.path.as_str(), p.line)).collect();
        assert_eq!(
            at,
            [
                ("spec.currency", Some(4)),
                ("spec.base_cents", Some(5)),
                ("spec.per_minute_cents", Some(6)),
            ],
            "{p:?}"
        );
        assert!(p[1].message.contains("not negative"), "{p:?}");
        for bad in [
            "kind: FeeSchedule\nname: parks\nspec:\n  base_cents: 5\n  per_hour_cents: 1\n",
            "kind: FeeSchedule\nname: parks\nspec:\n  base_cents: 2.5\n",
            "kind: FeeSchedule\nname: parks\nspec:\n  base_cents: \"5\"\n",
        ] {
            assert!(parse("fees.yaml", bad).is_err(), "{bad}");
        }
        // The gRPC door's parser refuses the same unknown field.
        assert!(Spec::from_json(
            Kind::FeeSchedule,
            br#"{"base_cents": 1, "per_hour_cents": 1}"#
        )
        .unwrap_err()
        .contains("per_hour_cents"));
    }

    /// Agents read a hold reason they do not know (`PushedHoldReason`); the
    /// controller's doors never take one: the manifest and the gRPC door's
    /// parser refuse it, naming it.
    #[test]
    fn an_unknown_hold_reason_is_refused_at_the_controllers_doors() {
        let json =
            br#"{"case_number": "25-00001", "cameras": ["c1"], "from": "2025-01-01T00:00:00Z",
            "until": "2025-01-02T00:00:00Z", "reason": "something_new"}"#;
        let e = Spec::from_json(Kind::LegalHold, json).unwrap_err();
        assert!(e.contains("something_new"), "{e}");
        let yaml = "kind: LegalHold\nname: h\nspec:\n  case_number: 25-00001\n  cameras: [c1]\n  from: 2025-01-01T00:00:00Z\n  until: 2025-01-02T00:00:00Z\n  reason: something_new\n";
        assert!(parse("hold.yaml", yaml).is_err());
        assert!(parse("hold.yaml", &yaml.replace("something_new", "court")).is_ok());
    }

    const GOOD: &str = r#"
kind: Department
name: police
spec:
  display_name: Police Department
---
kind: Site
name: city-hall
spec:
  address: 50 W 13th St
  lat: 42.5006
  lon: -90.6646
---
kind: Camera
name: ch-lobby
spec:
  site: city-hall
  department: police
  kind: fixed
  purpose: property_protection
  mount: indoor
  room: other
  location: {lat: 42.5006, lon: -90.6646}
  streams: {main: "rtsp://127.0.0.1:8554/lobby"}
"#;

    #[test]
    fn parses_many_documents() {
        let ms = parse("good.yaml", GOOD).unwrap();
        assert_eq!(ms.len(), 3);
        assert_eq!(ms[2].name, "ch-lobby");
        let Spec::Camera(c) = &ms[2].spec else {
            panic!()
        };
        assert_eq!(c.retention_days, 30);
        assert!(c.recording);
    }

    fn problems(text: &str) -> Vec<Problem> {
        parse("bad.yaml", text).unwrap_err().problems().to_vec()
    }

    #[test]
    fn typo_field_is_named_with_line() {
        let p = problems(&GOOD.replace("  purpose: property", "  purpse: property"));
        assert!(
            p.iter()
                .any(|p| p.path.contains("purpse") || p.message.contains("purpose")),
            "{p:?}"
        );
        assert!(
            p.iter().all(|p| p.line.is_some() && p.file == "bad.yaml"),
            "{p:?}"
        );
    }

    #[test]
    fn unknown_fields_all_reported() {
        let t = GOOD
            .replace(
                "  display_name: Police",
                "  colour: blue\n  display_name: Police",
            )
            .replace("  address: 50", "  adress: 50");
        let p = problems(&t);
        assert!(
            p.iter()
                .any(|p| p.path == "spec.colour" && p.line == Some(5)),
            "{p:?}"
        );
        assert!(p.iter().any(|p| p.path == "spec.adress"), "{p:?}");
    }

    #[test]
    fn wrong_type_and_unknown_purpose() {
        let p = problems(&GOOD.replace("lat: 42.5006\n", "lat: north\n"));
        assert!(p[0].path.contains("lat") && p[0].line == Some(11), "{p:?}");
        let p = problems(&GOOD.replace("purpose: property_protection", "purpose: crowd_control"));
        assert!(
            p[0].message.contains("crowd_control") && p[0].line.is_some(),
            "{p:?}"
        );
    }

    #[test]
    fn latlon_out_of_range_and_duplicates() {
        let t = format!("{GOOD}---\nkind: Site\nname: city-hall\nspec: {{lat: 91, lon: -200}}\n");
        let p = problems(&t);
        assert!(
            p.iter()
                .any(|p| p.path == "spec.lat" && p.message.contains("out of range")),
            "{p:?}"
        );
        assert!(p.iter().any(|p| p.path == "spec.lon"), "{p:?}");
        assert!(
            p.iter().any(|p| p.message.contains("duplicate Site")),
            "{p:?}"
        );
    }

    #[test]
    fn syntax_error_stops_with_line_and_column() {
        let p = problems("kind: Site\nname: x\nspec: {lat: 1, lon: 2\n");
        assert_eq!(p.len(), 1);
        assert!(p[0].line.is_some() && p[0].column.is_some(), "{p:?}");
    }

    #[test]
    fn retention_over_30_refused() {
        let p = problems(&GOOD.replace("  streams:", "  retention_days: 45\n  streams:"));
        assert!(p.iter().any(|p| p.path == "spec.retention_days"), "{p:?}");
    }

    /// A camera's own ALPR frame rate: (0, 30], like the agent-wide one.
    #[test]
    fn alpr_fps_out_of_range_refused_naming_the_field() {
        for bad in ["0", "31", "-1"] {
            let p =
                problems(&GOOD.replace("  streams:", &format!("  alpr_fps: {bad}\n  streams:")));
            assert!(
                p.iter()
                    .any(|p| p.path == "spec.alpr_fps" && p.message.contains("(0, 30]")),
                "{bad}: {p:?}"
            );
        }
        for good in ["0.5", "2", "30"] {
            let ms = parse(
                "good.yaml",
                &GOOD.replace("  streams:", &format!("  alpr_fps: {good}\n  streams:")),
            )
            .unwrap();
            let Spec::Camera(c) = &ms[2].spec else {
                panic!()
            };
            assert_eq!(c.alpr_fps, Some(good.parse().unwrap()));
        }
    }

    /// Privacy masks: every problem at once, each naming its field path; a
    /// good mask set reads back and renders unchanged.
    #[test]
    fn privacy_masks_are_checked_all_at_once() {
        let good = GOOD.replace(
            "  streams:",
            "  privacy_masks:\n    - name: window-a\n      polygon: [[0, 0], [0.5, 0], [0.5, 0.25], [0, 0.25]]\n    - name: window-b\n      polygon: [[0.6, 0.1], [0.9, 0.1], [0.75, 0.4]]\n  streams:",
        );
        let ms = parse("good.yaml", &good).unwrap();
        let Spec::Camera(c) = &ms[2].spec else {
            panic!()
        };
        assert_eq!(c.privacy_masks.len(), 2);
        assert_eq!(c.privacy_masks[0].polygon[2], [0.5, 0.25]);
        let objs: Vec<_> = ms
            .iter()
            .map(|m| (m.spec.kind(), m.name.clone(), m.spec.to_json(), None))
            .collect();
        let again = parse("again.yaml", &render_yaml(&objs)).unwrap();
        assert_eq!(
            again.iter().map(|m| &m.spec).collect::<Vec<_>>(),
            ms.iter().map(|m| &m.spec).collect::<Vec<_>>()
        );

        let bad = GOOD.replace(
            "  streams:",
            "  privacy_masks:\n    - name: w\n      polygon: [[0, 0], [1.5, 0]]\n    - name: w\n      polygon: [[0, 0], [1, 0], [1, -0.1]]\n    - name: Bad Name\n      polygon: [[0, 0], [1, 0], [1, 1]]\n  streams:",
        );
        let p = problems(&bad);
        let has = |path: &str, msg: &str| {
            p.iter()
                .any(|p| p.path == path && p.message.contains(msg) && p.line.is_some())
        };
        assert!(
            has("spec.privacy_masks[0].polygon", "at least 3 points"),
            "{p:?}"
        );
        assert!(
            has("spec.privacy_masks[0].polygon[1]", "outside the frame"),
            "{p:?}"
        );
        assert!(
            has("spec.privacy_masks[1].polygon[2]", "outside the frame"),
            "{p:?}"
        );
        assert!(
            has("spec.privacy_masks[1].name", "already the name"),
            "{p:?}"
        );
        assert!(
            has("spec.privacy_masks[2].name", "not a valid name"),
            "{p:?}"
        );
        assert_eq!(p.len(), 5, "{p:?}");

        // At most 16 masks.
        let many: String = (0..17)
            .map(|i| format!("    - name: m{i}\n      polygon: [[0, 0], [1, 0], [1, 1]]\n"))
            .collect();
        let p =
            problems(&GOOD.replace("  streams:", &format!("  privacy_masks:\n{many}  streams:")));
        assert!(
            p.iter()
                .any(|p| p.path == "spec.privacy_masks" && p.message.contains("at most 16")),
            "{p:?}"
        );
        // Unknown fields of a mask are refused by path.
        let p = problems(&GOOD.replace(
            "  streams:",
            "  privacy_masks:\n    - name: w\n      colour: red\n      polygon: [[0, 0], [1, 0], [1, 1]]\n  streams:",
        ));
        assert!(
            p.iter()
                .any(|p| p.path.contains("privacy_masks") && p.path.contains("colour")),
            "{p:?}"
        );
    }

    #[test]
    fn rendered_yaml_reparses_identically() {
        let ms = parse("good.yaml", GOOD).unwrap();
        let objs: Vec<_> = ms
            .iter()
            .map(|m| (m.spec.kind(), m.name.clone(), m.spec.to_json(), None))
            .collect();
        let again = parse("again.yaml", &render_yaml(&objs)).unwrap();
        let a: Vec<_> = ms.iter().map(|m| (&m.name, &m.spec)).collect();
        let b: Vec<_> = again.iter().map(|m| (&m.name, &m.spec)).collect();
        assert_eq!(a, b);
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    /// A 50 MB YAML was parsed for 47 s and then refused by the transport without
    /// naming the file: now it is refused by name before it is read.
    #[test]
    fn an_oversized_manifest_is_refused_by_name_unread() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.yaml");
        let f = std::fs::File::create(&p).unwrap();
        f.set_len(MANIFEST_MAX_BYTES + 1).unwrap();
        let e = load(&p).unwrap_err().to_string();
        assert!(e.contains("big.yaml"), "{e}");
        assert!(e.contains("over the 4 MiB limit of a manifest file"), "{e}");
        // A device that never ends is cut at the limit.
        let e = crate::read_file_limited(std::path::Path::new("/dev/zero"), 1000, "a test file")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/dev/zero") && e.contains("1000 bytes"), "{e}");
        // Free text: bounded and without control characters.
        let long = "x".repeat(FREE_TEXT_MAX_CHARS + 1);
        let e = parse(
            "d.yaml",
            &format!("kind: Department\nname: police\nspec:\n  display_name: \"{long}\"\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("spec.display_name") && e.contains("over the limit of 2000"),
            "{e}"
        );
        let e = parse(
            "d.yaml",
            "kind: Department\nname: police\nspec:\n  display_name: \"Pol\\0ice\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("control character U+0000"), "{e}");
        // A normal manifest still loads.
        std::fs::write(
            &p,
            "kind: Department\nname: police\nspec:\n  display_name: Police\n",
        )
        .unwrap();
        assert_eq!(load(&p).unwrap().len(), 1);
    }
}
