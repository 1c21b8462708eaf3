//! The targets: each takes arbitrary bytes the way its door receives them and
//! returns the outcome's class (`ok`, or the first words of the error, what
//! the input said left out), which the tests use to see that the seeds reach
//! more than one path. A panic, an abort or a hang is a finding.

use camplane_config::model::{AgentDesired, Kind, PushedHoldReason, SegmentInfo};
use camplane_placement::{LayerKind, LayerSet, Rules};
use prost::Message;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

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
                include_str!("../../config/examples/fees.yaml").as_bytes().to_vec(),
            ]
        },
        dictionary: &["---\n", "kind: ", "name: ", "spec:\n", "Camera", "PlacementRequest", "LegalHold", "User", "Site", "Department", "Agent", "Hotlist", "FeeSchedule", "base_cents: ", ": ", "\n  ", "- ", "{", "}", "[", "]", "&a", "*a", "<<: *a", "~", "!!str", "1e309", "-1", "2026-01-01T00:00:00Z"],
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
            let config = serde_json::to_vec(&AgentDesired::<PushedHoldReason>::default()).unwrap_or_default();
            vec![config, vec![0x0a, 0x02, 0x08, 0x01], vec![0x12, 0x00]]
        },
        dictionary: &["\u{8}", "\u{12}", "\u{1a}", "\u{ff}\u{ff}\u{ff}\u{ff}\u{f}", "{", "}", "\"cameras\"", "\"hotlists\"", "[", "]", "null"],
        run: run_wire,
    },
    Target {
        name: "export",
        door: "an export directory (`camplane export verify DIR`, and after `recordings export`: manifest, signature, files)",
        seeds: export_seeds,
        dictionary: &[
            "\"format\"", "\"camplane-export/2\"", "\"camplane-export/1\"", "\"recipient\"",
            "\"signature\"", "\"files\"", "\"seq\"", "\"name\"", "\"start\"", "\"end\"",
            "\"size\"", "\"sha256\"", "\"prev_sha256\"", "\"2026-11-01T00:00:00Z\"",
            "manifest.json", "..", "/", "\\", ".", "\u{0}", "18446744073709551615", "-1",
            "0000000000000000000000000000000000000000000000000000000000000000", "null", "{", "}",
            "[", "]", ",", ":", "\u{1}", "\u{0}\u{0}",
        ],
        run: run_export,
    },
    Target {
        name: "gpsd",
        door: "gpsd's JSON lines (`TPV` fixes), read by the agent of a mobile reader",
        seeds: || {
            vec![
                b"{\"class\":\"VERSION\",\"release\":\"3.22\",\"proto_major\":3,\"proto_minor\":14}\n{\"class\":\"DEVICES\",\"devices\":[]}\n{\"class\":\"WATCH\",\"enable\":true,\"json\":true}\n".to_vec(),
                b"{\"class\":\"TPV\",\"device\":\"/dev/ttyACM0\",\"mode\":3,\"time\":\"2026-06-01T12:00:01.000Z\",\"ept\":0.005,\"lat\":42.5006,\"lon\":-90.6646,\"alt\":190.2,\"track\":87.1,\"speed\":11.2}\r\n".to_vec(),
                b"{\"class\":\"TPV\",\"mode\":2,\"lat\":42.5,\"lon\":-90.66}\n{\"class\":\"TPV\",\"mode\":1}\n{\"class\":\"SKY\",\"satellites\":[]}\n".to_vec(),
            ]
        },
        dictionary: &[
            "\"class\"", "\"TPV\"", "\"SKY\"", "\"VERSION\"", "\"mode\"", "\"lat\"", "\"lon\"",
            "\"time\"", "\"2026-06-01T12:00:01.000Z\"", "\"2026-06-01T12:00:01+02:00\"", "\n",
            "\r\n", ":", ",", "{", "}", "[", "]", "1e309", "-0", "90.0", "-180.0", "180.00000000000003",
            "18446744073709551616", "null", "true",
        ],
        run: run_gpsd,
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
            Kind::FeeSchedule,
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
        Kind::FeeSchedule,
    ] {
        let _ = camplane_config::manifest::Spec::from_json(k, b);
    }
    yaml
}

fn run_wire(b: &[u8]) -> String {
    use camplane_proto::v1 as pb;
    let a = pb::AgentMessage::decode(b).is_ok();
    let c = pb::ControllerMessage::decode(b).is_ok();
    // As an agent reads it (a hold reason it does not know is kept).
    let d = serde_json::from_slice::<AgentDesired<PushedHoldReason>>(b).map(drop);
    format!("agent:{a} controller:{c} desired:{}", outcome(d))
}

// ---------- the export directory ----------

/// The fuzz CA's certificate: a throwaway test key made for this target (its
/// private half is below), so the harness can sign manifests and reach the
/// checks behind the signature.
const EXPORT_CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBsjCCAVmgAwIBAgIUQo6Gg+/35GTsp6mS7S0iYVPWe3QwCgYIKoZIzj0EAwIw
LjEsMCoGA1UEAwwjY2FtcGxhbmUgZnV6eiBDQSAodGVzdCBrZXksIHB1YmxpYykw
IBcNMjYxMjAzMTQzMDE2WhgPMjEyNjExMDkxNDMwMTZaMC4xLDAqBgNVBAMMI2Nh
bXBsYW5lIGZ1enogQ0EgKHRlc3Qga2V5LCBwdWJsaWMpMFkwEwYHKoZIzj0CAQYI
KoZIzj0DAQcDQgAEEDBhdW818UCXCuTzlAenP4dLnUIsBS9Rit5EzxdmtzfIPRIT
XRCHa2ha3NJD+8oZFva6h7+2RkZAFoSCKwk+uKNTMFEwHQYDVR0OBBYEFJE9fQsZ
FzZrBIk4ARodna7xzJIyMB8GA1UdIwQYMBaAFJE9fQsZFzZrBIk4ARodna7xzJIy
MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgIKV5l5Na/53n5bFm
im7Qn7a2EjubjxwaVXUH38k5sgYCIC0xy888XENlPATTATwWbp2L129WK+1zNhoa
rXNW1X0i
-----END CERTIFICATE-----
";

/// The fuzz CA's P-256 key (PKCS#8, hex): public test material, signs nothing real.
const EXPORT_CA_KEY_PKCS8: &str = "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420243832f9a4ae709102f5fa5d09f2803707199604de7ad4dc45919b0d2e58b757a14403420004103061756f35f140970ae4f39407a73f874b9d422c052f518ade44cf1766b737c83d12135d10876b685adcd243fbca1916f6ba87bfb64646401684822b093eb8";

/// Files an export input may hold (more are ignored).
const EXPORT_MAX_FILES: usize = 8;

/// The input's first byte: bit 0 asks the harness to sign the manifest.
const EXPORT_SIGN: u8 = 1;

/// Signs `msg` with the fuzz CA's key (as the controller signs with its CA's).
fn export_sign(msg: &[u8]) -> Vec<u8> {
    use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
    static KEY: OnceLock<EcdsaKeyPair> = OnceLock::new();
    let rng = ring::rand::SystemRandom::new();
    let key = KEY.get_or_init(|| {
        let der = hex::decode(EXPORT_CA_KEY_PKCS8).expect("the fuzz key is hex");
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &der, &rng)
            .expect("the fuzz key is a P-256 PKCS#8 key")
    });
    key.sign(&rng, msg)
        .map(|s| s.as_ref().to_vec())
        .expect("ECDSA signing does not fail")
}

/// An export directory as one input: the flags byte, then chunks of a
/// little-endian `u16` length and that many bytes (the last one may be cut
/// short): the manifest, then file name and file contents, in turn.
pub fn export_input(flags: u8, manifest: &[u8], files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = vec![flags];
    let mut chunk = |b: &[u8]| {
        let n = b.len().min(usize::from(u16::MAX));
        out.extend_from_slice(&(n as u16).to_le_bytes());
        out.extend_from_slice(&b[..n]);
    };
    chunk(manifest);
    for (name, data) in files {
        chunk(name.as_bytes());
        chunk(data);
    }
    out
}

fn export_chunks(mut b: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while b.len() >= 2 && out.len() < 1 + 2 * EXPORT_MAX_FILES {
        let n = usize::from(u16::from_le_bytes([b[0], b[1]])).min(b.len() - 2);
        out.push(&b[2..2 + n]);
        b = &b[2 + n..];
    }
    out
}

/// A name the harness writes: one plain component inside the directory.
fn export_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name != "."
        && name != ".."
        && name != camplane_export::MANIFEST
        && !name.contains(['/', '\0'])
}

/// This process's export directory, made once and emptied before each input
/// (a fresh directory per input would cost more than the verification). The
/// directories of processes that have ended are removed when it is made.
fn export_dir() -> &'static Mutex<PathBuf> {
    static DIR: OnceLock<Mutex<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let tmp = std::env::temp_dir();
        let prefix = "camplane-fuzz-export-";
        if let Ok(entries) = std::fs::read_dir(&tmp) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name.strip_prefix(prefix) {
                    if !Path::new("/proc").join(pid).exists() {
                        let _ = std::fs::remove_dir_all(e.path());
                    }
                }
            }
        }
        let dir = tmp.join(format!("{prefix}{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("creating the fuzz export directory");
        Mutex::new(dir)
    })
}

fn run_export(b: &[u8]) -> String {
    let Some((&flags, rest)) = b.split_first() else {
        return "empty".into();
    };
    let chunks = export_chunks(rest);
    let Some((&manifest, files)) = chunks.split_first() else {
        return "no manifest".into();
    };
    let dir = export_dir().lock().unwrap_or_else(|e| e.into_inner());
    for e in std::fs::read_dir(&*dir)
        .expect("reading the fuzz export directory")
        .flatten()
    {
        std::fs::remove_file(e.path()).expect("emptying the fuzz export directory");
    }
    let mut manifest = manifest.to_vec();
    if flags & EXPORT_SIGN != 0 {
        // Signed as the controller signs: the body without `signature`.
        if let Ok(serde_json::Value::Object(mut o)) = serde_json::from_slice(&manifest) {
            o.remove("signature");
            let body = serde_json::Value::Object(o);
            if let Ok(msg) = camplane_export::signed_bytes(&body) {
                if let Ok(m) = camplane_export::signed_manifest(body, &export_sign(&msg)) {
                    manifest = m;
                }
            }
        }
    }
    std::fs::write(dir.join(camplane_export::MANIFEST), &manifest)
        .expect("writing the fuzz manifest");
    let mut written = std::collections::HashSet::new();
    for pair in files.chunks(2) {
        let (Ok(name), data) = (std::str::from_utf8(pair[0]), pair.get(1).copied()) else {
            continue;
        };
        if export_plain_name(name) {
            std::fs::write(dir.join(name), data.unwrap_or_default())
                .expect("writing a fuzz export file");
            written.insert(name.to_string());
        }
    }
    match camplane_export::verify_export(&dir, EXPORT_CA_PEM) {
        Ok(n) => {
            // A verified export read only files of this directory: every name
            // it lists is one written here, and each was counted.
            let v: serde_json::Value =
                serde_json::from_slice(&manifest).expect("a verified manifest is JSON");
            let names: Vec<&str> = v["files"]
                .as_array()
                .expect("a verified manifest lists its files")
                .iter()
                .map(|f| f["name"].as_str().expect("a listed file has a name"))
                .collect();
            assert_eq!(n, names.len(), "every listed file is counted");
            for name in names {
                assert!(written.contains(name), "verified {name:?}, not written");
            }
            "ok".into()
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.len() > "manifest.json: ".len(),
                "an error says what is wrong: {msg:?}"
            );
            class(&msg)
        }
    }
}

/// A real small export (three chained segments, manifest as the controller
/// writes it, signed with the fuzz CA's key), then damaged copies of it.
fn export_seeds() -> Vec<Vec<u8>> {
    use sha2::Digest;
    let datas: [&[u8]; 3] = [b"\x00\x00\x00\x18ftypisom segment 0", b"segment 1", b""];
    let mut prev = "0".repeat(64);
    let mut files = Vec::new();
    let start: jiff::Timestamp = "2026-11-01T00:00:00Z".parse().unwrap_or_default();
    for (i, data) in datas.iter().enumerate() {
        let sha = hex::encode(sha2::Sha256::digest(data));
        let from = start + jiff::SignedDuration::from_secs(60 * i as i64);
        files.push(SegmentInfo {
            seq: 7 + i as u64,
            name: format!("{:020}.mp4", 7 + i),
            start: from,
            end: from + jiff::SignedDuration::from_secs(60),
            size: data.len() as u64,
            sha256: sha.clone(),
            prev_sha256: std::mem::replace(&mut prev, sha),
        });
    }
    let body = |format: &str, files: &[SegmentInfo]| {
        serde_json::json!({
            "format": format,
            "camera": "cam-1", "department": "police", "site": "depot", "agent": "gw-1",
            "from": start, "until": start + jiff::SignedDuration::from_secs(180),
            "case_number": "26-01234", "recipient": "A. Jones, County Attorney",
            "requester": "chief", "exported_at": "2026-11-02T00:00:00Z", "audit_seq": 7,
            "files": files,
            "signer": {"algorithm": camplane_export::SIGNATURE_ALGORITHM, "certificate": EXPORT_CA_PEM},
        })
    };
    let signed = |body: serde_json::Value| {
        let msg = camplane_export::signed_bytes(&body).unwrap_or_default();
        camplane_export::signed_manifest(body, &export_sign(&msg)).unwrap_or_default()
    };
    let named: Vec<(&str, &[u8])> = files
        .iter()
        .zip(datas)
        .map(|(f, d)| (f.name.as_str(), d))
        .collect();
    let v2 = signed(body(camplane_export::FORMAT, &files));
    let mut v1 = body(camplane_export::FORMAT_V1, &files[..1]);
    if let Some(o) = v1.as_object_mut() {
        o.remove("recipient");
    }
    let mut altered = named.clone();
    altered[1].1 = b"segment !";
    vec![
        export_input(0, &v2, &named),
        export_input(EXPORT_SIGN, &v2, &named),
        export_input(0, &signed(v1), &named[..1]),
        export_input(0, &v2, &altered),
        export_input(0, &v2, &named[..2]),
        export_input(
            EXPORT_SIGN,
            &signed(body(camplane_export::FORMAT, &[])),
            &[],
        ),
    ]
}

fn run_gpsd(b: &[u8]) -> String {
    // The agent reads gpsd line by line as UTF-8 (a line that is not ends the
    // session) and skips lines over 64 KiB.
    let Ok(s) = std::str::from_utf8(b) else {
        return "not utf-8".into();
    };
    let arrived: jiff::Timestamp = "2026-06-01T12:00:00Z".parse().unwrap_or_default();
    let mut fixes = 0;
    for line in s.lines().filter(|l| l.len() <= 64 * 1024) {
        if let Some(f) = camplane_config::gpsd::parse_tpv(line, arrived) {
            // A fix is a place on the earth.
            assert!(
                (-90.0..=90.0).contains(&f.pos.lat) && (-180.0..=180.0).contains(&f.pos.lon),
                "{f:?} from {line:?}"
            );
            fixes += 1;
        }
    }
    match fixes {
        0 => "no fix".into(),
        1 => "one fix".into(),
        _ => "fixes".into(),
    }
}
