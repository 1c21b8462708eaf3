//! The targets: each takes arbitrary bytes the way its door receives them and
//! returns the outcome's class (`ok`, or the first words of the error, what
//! the input said left out), which the tests use to see that the seeds reach
//! more than one path. A panic, an abort or a hang is a finding.

use camplane_config::model::{AgentDesired, Kind};
use camplane_placement::{LayerKind, LayerSet, Rules};
use prost::Message;

/// One fuzz target.
pub struct Target {
    /// Its name (`camplane-fuzz NAME`).
    pub name: &'static str,
    /// The door it stands for.
    pub door: &'static str,
    /// Valid (and some invalid) inputs to start from: committed examples only.
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// Tokens the mutator splices in.
    pub dictionary: &'static [&'static str],
    /// Runs one input; the outcome's class.
    pub run: fn(&[u8]) -> String,
}

/// Every target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "layer",
        door: "GeoJSON layer loader (`camplane gis load`, placement)",
        seeds: layer_seeds,
        dictionary: &[
            "\"type\"", "\"FeatureCollection\"", "\"Feature\"", "\"features\"", "\"geometry\"",
            "\"coordinates\"", "\"properties\"", "\"Polygon\"", "\"MultiPolygon\"",
            "\"LineString\"", "\"MultiLineString\"", "\"Point\"", "\"highway\"",
            "\"residential\"", "\"name\"", "[[[", "]]]", "[0,0]", "[1e308,1e308]", "-0",
            "NaN", "[-90.66,42.5]", "null", "1e-300", "[180,90]", "{}", "[]",
        ],
        run: run_layer,
    },
    Target {
        name: "rules",
        door: "street-class rules file (`placement.rules_file`)",
        seeds: || vec![b"{}\n".to_vec(), b"classes:\n  residential: local\n".to_vec()],
        dictionary: &[": ", "\n  ", "- ", "classes", "name_property", "local", "arterial", "~", "&a", "*a", "!!binary", "{", "[", "'"],
        run: |b| outcome(Rules::from_yaml(b, "fuzz.yaml").map(drop)),
    },
    Target {
        name: "request_line",
        door: "placement request line (`camplane-placement check`)",
        seeds: || vec![b"cam-1 42.5006 -90.6646 90 60 fixed".to_vec(), b"# comment".to_vec()],
        dictionary: &[" ", "\t", "NaN", "inf", "-0", "1e309", "360", "-181", "fixed", "mobile", "#"],
        run: |b| match std::str::from_utf8(b) {
            Ok(s) => outcome(camplane_placement::request::parse_request_line(s).map(drop)),
            Err(_) => "not utf-8".into(),
        },
    },
    Target {
        name: "hotlist_csv",
        door: "hotlist CSV (`camplane hotlist load`), with its column spec on the first line",
        seeds: || {
            vec![
                format!("\n{}", include_str!("../../config/examples/hotlist-ncic.csv")).into_bytes(),
                b"plate=0,state=,reason=1,expiry=2\nABC1234,stolen,2026-12-31\n".to_vec(),
            ]
        },
        dictionary: &[",", "\"", "\"\"", "\r\n", "\n", "plate=", "state=", "reason=", "expiry=", "header=", "2026-12-31", "2026-12-31T00:00:00Z", "=cmd|", "\u{0}", "ABC1234", "IA"],
        run: run_hotlist,
    },
    Target {
        name: "manifest",
        door: "manifests (`camplane apply -f`), and each kind's spec as JSON over gRPC",
        seeds: || {
            vec![
                include_str!("../../config/examples/city.yaml").as_bytes().to_vec(),
                include_str!("../../config/examples/alpr.yaml").as_bytes().to_vec(),
            ]
        },
        dictionary: &["---\n", "kind: ", "name: ", "spec:\n", "Camera", "PlacementRequest", "LegalHold", "User", "Site", "Department", "Agent", "Hotlist", ": ", "\n  ", "- ", "{", "}", "[", "]", "&a", "*a", "<<: *a", "~", "!!str", "1e309", "-1", "2026-01-01T00:00:00Z"],
        run: run_manifest,
    },
    Target {
        name: "controller_config",
        door: "controller config (`camplane-controller --config`)",
        seeds: || {
            vec![
                include_str!("../../config/examples/controller-embedded.yaml").as_bytes().to_vec(),
                include_str!("../../config/examples/controller-etcd.yaml").as_bytes().to_vec(),
            ]
        },
        dictionary: &[": ", "\n  ", "- ", "store", "embedded", "etcd", "auth", "tls", "placement", "hotlists", "publog", "0", "-1", "18446744073709551616", "1e309", "~", "&a", "*a", "\"", "'"],
        run: |b| match std::str::from_utf8(b) {
            Ok(s) => outcome(camplane_config::controller::ControllerConfig::parse("fuzz.yaml", s).map(drop)),
            Err(_) => "not utf-8".into(),
        },
    },
    Target {
        name: "agent_config",
        door: "agent config (`camplane-agent --config`)",
        seeds: || vec![include_str!("../../config/examples/agent.yaml").as_bytes().to_vec()],
        dictionary: &[": ", "\n  ", "- ", "controller", "data_dir", "cameras", "0", "-1", "1e309", "~", "&a", "*a", "\"", "'"],
        run: |b| match std::str::from_utf8(b) {
            Ok(s) => outcome(camplane_config::agent::AgentConfig::parse("fuzz.yaml", s).map(drop)),
            Err(_) => "not utf-8".into(),
        },
    },
    Target {
        name: "checkpoint",
        door: "audit checkpoint note (`camplane audit verify --checkpoint FILE`, the public log)",
        seeds: || {
            vec![b"camplane/Testville\n3\nq83vEjRlbbVM1MyPdLtKRqTb/ALi8yr0dCT6Xt4/0lw=\n\n\xe2\x80\x94 camplane/Testville AAAAAQ==\n".to_vec()]
        },
        dictionary: &["\n", "\n\n", "\u{2014} ", "camplane/", "=", "==", "AAAA", " ", "18446744073709551616", "-1"],
        run: |b| match std::str::from_utf8(b) {
            Ok(s) => outcome(camplane_export::checkpoint::parse(s).map(drop)),
            Err(_) => "not utf-8".into(),
        },
    },
    Target {
        name: "agent_wire",
        door: "the control stream's messages (protobuf both ways) and the config JSON an agent is pushed",
        seeds: || {
            let config = serde_json::to_vec(&AgentDesired::default()).unwrap_or_default();
            vec![config, vec![0x0a, 0x02, 0x08, 0x01], vec![0x12, 0x00]]
        },
        dictionary: &["\u{8}", "\u{12}", "\u{1a}", "\u{ff}\u{ff}\u{ff}\u{ff}\u{f}", "{", "}", "\"cameras\"", "\"hotlists\"", "[", "]", "null"],
        run: run_wire,
    },
];

/// The outcome's class: `ok`, or the error with digits and quoted parts masked
/// and cut to 80 characters (so each distinct kind of refusal counts once).
pub fn outcome<E: std::fmt::Display>(r: Result<(), E>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(e) => class(&e.to_string()),
    }
}

fn class(message: &str) -> String {
    // Quoted parts are what the input said: dropped.
    let mut bare = String::new();
    let mut open: Option<char> = None;
    for c in message.chars() {
        match (open, c) {
            (Some(q), _) if c == q => open = None,
            (Some(_), _) => {}
            (None, '"' | '`' | '\'') => open = Some(c),
            (None, _) => bare.push(c),
        }
    }
    // Then the first eight words the code wrote: short lowercase ones (input
    // rarely survives as those, and field names from the dictionary are
    // fine: another field is another path).
    bare.split(|c: char| !c.is_ascii_alphabetic() && c != '_')
        .filter(|w| {
            (3..=16).contains(&w.len()) && w.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        })
        .take(8)
        .collect::<Vec<_>>()
        .join(" ")
}

fn layer_seeds() -> Vec<Vec<u8>> {
    let fc = |geom: &str, props: &str| {
        format!(
            r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{props},"geometry":{geom}}}]}}"#
        )
        .into_bytes()
    };
    vec![
        // The first byte picks the layer (see `run_layer`).
        [vec![0], fc(r#"{"type":"LineString","coordinates":[[-90.665,42.5],[-90.664,42.501]]}"#, r#"{"highway":"residential","name":"Main St"}"#)].concat(),
        [vec![1], fc(r#"{"type":"Polygon","coordinates":[[[-90.665,42.5],[-90.664,42.5],[-90.664,42.501],[-90.665,42.5]]]}"#, "{}")].concat(),
        [vec![4], fc(r#"{"type":"MultiPolygon","coordinates":[[[[0,0],[0.001,0],[0.001,0.001],[0,0.001],[0,0]],[[0.0002,0.0002],[0.0004,0.0002],[0.0004,0.0004],[0.0002,0.0002]]]]}"#, "{}")].concat(),
        [vec![3], fc(r#"{"type":"Point","coordinates":[-90.665,42.5]}"#, "{}")].concat(),
    ]
}

fn run_layer(b: &[u8]) -> String {
    let Some((&which, bytes)) = b.split_first() else {
        return "empty".into();
    };
    let kind = match which % 5 {
        0 => LayerKind::Streets,
        1 => LayerKind::CityProperty,
        2 => LayerKind::OtherPublic,
        3 => LayerKind::Kiosks,
        _ => LayerKind::Residential,
    };
    let mut set = LayerSet::new();
    // Both ways a layer is taken: refused when invalid, or repaired.
    let invalid = if which & 0x80 == 0 {
        camplane_placement::InvalidPolygons::Refuse
    } else {
        camplane_placement::InvalidPolygons::Repair
    };
    if let Err(e) = set.add_file_with(kind, "fuzz.geojson", bytes, invalid) {
        return class(&e.to_string());
    }
    outcome(set.try_build(&Rules::default()).map(drop))
}

fn run_hotlist(b: &[u8]) -> String {
    let Ok(s) = std::str::from_utf8(b) else {
        return "not utf-8".into();
    };
    let (spec, body) = s.split_once('\n').unwrap_or((s, ""));
    let cols = if spec.is_empty() {
        camplane_config::hotlist::Columns::default()
    } else {
        match camplane_config::hotlist::Columns::parse_spec(spec) {
            Ok(c) => c,
            Err(e) => return class(&e),
        }
    };
    let now: jiff::Timestamp = "2026-12-01T00:00:00Z".parse().unwrap_or_default();
    outcome(camplane_config::hotlist::parse_csv_bounded(body, &cols, now, 10_000).map(drop))
}

fn run_manifest(b: &[u8]) -> String {
    let Ok(s) = std::str::from_utf8(b) else {
        // Over gRPC a spec arrives as JSON bytes of a declared kind.
        let mut last = String::new();
        for k in [
            Kind::Camera,
            Kind::PlacementRequest,
            Kind::LegalHold,
            Kind::User,
        ] {
            last = outcome(camplane_config::manifest::Spec::from_json(k, b).map(drop));
        }
        return last;
    };
    let yaml = outcome(camplane_config::manifest::parse("fuzz.yaml", s).map(drop));
    for k in [
        Kind::Camera,
        Kind::PlacementRequest,
        Kind::LegalHold,
        Kind::User,
        Kind::Site,
    ] {
        let _ = camplane_config::manifest::Spec::from_json(k, b);
    }
    yaml
}

fn run_wire(b: &[u8]) -> String {
    use camplane_proto::v1 as pb;
    let a = pb::AgentMessage::decode(b).is_ok();
    let c = pb::ControllerMessage::decode(b).is_ok();
    let d = serde_json::from_slice::<AgentDesired>(b).map(drop);
    format!("agent:{a} controller:{c} desired:{}", outcome(d))
}
