//! The `camplane` binary on placement: the offline check on files, and GIS
//! layers loaded, listed, rechecked and drawn through a real controller (the
//! map rendered in a real browser).
//!
//! The harness mirrors the one in controller/tests/placement_online.rs, kept
//! here so this file stands alone.

use camplane_config::controller::{ControllerConfig, EmbeddedStoreConfig, StoreConfig};
use camplane_controller::server::{self, Running};
use camplane_proto::v1 as pb;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

const ADMIN_PW: &str = "test-admin-password-1";
const PW_ENV: &str = "CAMPLANE_CLI_PLACEMENT_TEST_ADMIN_PW";

/// The shared GIS data; `CAMPLANE_DATA_DIR` (holding `gis/`) overrides it.
fn gis_dir() -> PathBuf {
    let d = match std::env::var_os("CAMPLANE_DATA_DIR") {
        Some(d) => PathBuf::from(d).join("gis"),
        None => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/data/gis"
        )),
    };
    assert!(
        d.join("reynoldstown/streets.geojson").is_file(),
        "GIS test data is missing: expected {} (set CAMPLANE_DATA_DIR to the folder holding gis/)",
        d.display()
    );
    d
}

fn rt(file: &str) -> PathBuf {
    gis_dir().join("reynoldstown").join(file)
}

fn config(store: StoreConfig) -> ControllerConfig {
    let mut c = ControllerConfig::parse(
        "test.yaml",
        &format!("city:\n  name: Testville\n  time_zone: America/New_York\nlisten: 127.0.0.1:0\nstore:\n  embedded:\n    path: /x\nauth:\n  initial_admin_password_env: {PW_ENV}\ntls:\n  enabled: false\n"),
    )
    .unwrap();
    c.store = store;
    c
}

fn embedded(dir: &Path) -> StoreConfig {
    StoreConfig {
        embedded: Some(EmbeddedStoreConfig {
            path: dir.to_path_buf(),
        }),
        etcd: None,
    }
}

struct Harness {
    running: Running,
    cancel: CancellationToken,
    channel: Channel,
    admin: String,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn start(store: StoreConfig) -> Harness {
    std::env::set_var(PW_ENV, ADMIN_PW);
    let cancel = CancellationToken::new();
    let running = server::start(config(store), cancel.clone())
        .await
        .expect("controller starts");
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", running.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let admin = login(&channel, "admin", ADMIN_PW)
        .await
        .expect("admin login");
    Harness {
        running,
        cancel,
        channel,
        admin,
    }
}

async fn login(ch: &Channel, user: &str, pw: &str) -> Result<String, tonic::Status> {
    Ok(pb::auth_client::AuthClient::new(ch.clone())
        .login(pb::LoginRequest {
            username: user.into(),
            password: pw.into(),
        })
        .await?
        .into_inner()
        .token)
}

fn req<T>(token: &str, msg: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

async fn user(h: &Harness, name: &str, roles: &[&str], department: &str) -> String {
    let body = json!({"name": name, "spec": {"roles": roles, "department": department}});
    let pw = format!("{name}-password-123");
    pb::users_client::UsersClient::new(h.channel.clone())
        .add(req(
            &h.admin,
            pb::AddUserRequest {
                json: serde_json::to_vec(&body).unwrap(),
                password: pw.clone(),
            },
        ))
        .await
        .unwrap();
    login(&h.channel, name, &pw).await.unwrap()
}

async fn apply(h: &Harness, token: &str, yaml: &str) -> Result<(), tonic::Status> {
    let ms = camplane_config::manifest::parse("test.yaml", yaml).expect("test manifest parses");
    let objects = ms
        .into_iter()
        .map(|m| pb::Object {
            kind: m.spec.kind().as_str().into(),
            name: m.name,
            json: serde_json::to_vec(&m.spec.to_json()).unwrap(),
            revision: 0,
        })
        .collect();
    pb::objects_client::ObjectsClient::new(h.channel.clone())
        .apply(req(
            token,
            pb::ApplyRequest {
                objects,
                source: "test.yaml".into(),
                dry_run: false,
            },
        ))
        .await?;
    Ok(())
}
/// Submits a placement request at (lat, lon) with extra spec fields.
async fn submit(h: &Harness, token: &str, name: &str, lat: f64, lon: f64, extra: Value) -> Value {
    let mut spec = json!({
        "location": {"lat": lat, "lon": lon},
        "purpose": "property_protection",
        "justification": "break-ins",
        "funding_source": "general fund",
        "department": "police",
        "kind": "fixed",
    });
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    let r = pb::approvals_client::ApprovalsClient::new(h.channel.clone())
        .submit(req(
            token,
            pb::SubmitRequest {
                json: serde_json::to_vec(&json!({"name": name, "spec": spec})).unwrap(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    serde_json::from_slice(&r.json).unwrap()
}
const CITY: &str = r#"
kind: Department
name: police
spec: {display_name: Police}
---
kind: Site
name: memorial-drive
spec: {address: Memorial Dr SE, lat: 33.7466848, lon: -84.360234}
"#;

/// ex-1 of the spec: eligible by street class (Memorial Drive, 7.4 m).
const EX1: (f64, f64) = (33.7466848, -84.360234);
/// ex-2 of the spec: needs_review (intersecting street, residential view 0.4317).
const EX2: (f64, f64) = (33.7461199, -84.3590487);

struct People {
    engineer: String,
    pd: String,
}

async fn people(h: &Harness) -> People {
    apply(h, &h.admin, CITY).await.unwrap();
    People {
        engineer: user(h, "traffic-engineer", &["engineer"], "public-works").await,
        pd: user(h, "pd-manager", &["dept_manager"], "police").await,
    }
}

/// The `camplane` binary with a server and token in its environment.
fn camplane(h: &Harness, token: &str) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_camplane"));
    c.env("CAMPLANE_SERVER", format!("http://{}", h.running.addr))
        .env("CAMPLANE_TOKEN", token)
        .env("CAMPLANE_HOME", "/nonexistent-camplane-home");
    c
}

fn run_ok(c: &mut std::process::Command) -> String {
    let o = c.output().unwrap();
    assert!(
        o.status.success(),
        "{c:?}: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn offline_check_needs_no_controller() {
    let ex = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/checks/placement-examples.jsonl"
    );
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_camplane"))
        .args([
            "--server",
            "http://127.0.0.1:1",
            "placement",
            "check",
            "--streets",
        ])
        .arg(rt("streets.geojson"))
        .arg("--residential")
        .arg(rt("residential_houses.geojson"))
        .arg("--residential")
        .arg(rt("residential_apartments.geojson"))
        .arg("--requests")
        .arg(ex)
        .env("CAMPLANE_HOME", "/nonexistent-camplane-home")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let verdicts: Vec<&str> = lines
        .iter()
        .map(|l| l["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["eligible", "needs_review", "prohibited"]);
    // An invalid line is answered in place, exit 2.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_camplane"))
        .args(["placement", "check", "--streets"])
        .arg(rt("streets.geojson"))
        .args([
            "--request",
            r#"{"id": "bad", "lat": 33.74, "lon": -84.36, "purpose": "nope"}"#,
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"error\""));
    // No streets: exit 1.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_camplane"))
        .args(["placement", "check", "--request", "{}"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_gis_load_and_map_in_a_browser() {
    let chromium = Path::new("/usr/bin/chromium");
    assert!(
        chromium.is_file(),
        "install chromium: apt-get install -y chromium"
    );
    let dir = tempfile::tempdir().unwrap();
    let h = start(embedded(dir.path())).await;
    let p = people(&h).await;
    let eng = p.engineer.clone();
    let streets = rt("streets.geojson");
    let houses = rt("residential_houses.geojson");
    let apartments = rt("residential_apartments.geojson");
    let out = {
        let mut c = camplane(&h, &eng);
        c.args(["gis", "load", "--layer", "streets"]).arg(&streets);
        tokio::task::spawn_blocking(move || run_ok(&mut c))
            .await
            .unwrap()
    };
    assert!(
        out.contains("streets version 1 stored (755 features"),
        "{out}"
    );
    let out = {
        let mut c = camplane(&h, &eng);
        c.args(["gis", "load", "--layer", "residential"])
            .arg(&houses)
            .arg(&apartments);
        tokio::task::spawn_blocking(move || run_ok(&mut c))
            .await
            .unwrap()
    };
    assert!(out.contains("residential version 1 stored"), "{out}");
    // A refusal names file and feature and exits 1.
    let o = {
        let mut c = camplane(&h, &eng);
        c.args(["gis", "load", "--layer", "city_property"])
            .arg(rt("other_buildings.geojson"));
        tokio::task::spawn_blocking(move || c.output().unwrap())
            .await
            .unwrap()
    };
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("other_buildings.geojson") && err.contains("feature "),
        "{err}"
    );

    // Cameras to draw: one eligible, one looking at houses.
    submit(&h, &p.pd, "req-a", EX1.0, EX1.1, json!({})).await;
    apply(
        &h,
        &h.admin,
        &format!(
            r#"
kind: Camera
name: cam-a
spec:
  site: memorial-drive
  department: police
  kind: fixed
  purpose: property_protection
  location: {{lat: {}, lon: {}}}
  view: {{heading_deg: 0, fov_deg: 60, range_m: 30}}
  streams: {{main: "rtsp://127.0.0.1:8554/a"}}
---
kind: Camera
name: cam-b
spec:
  site: memorial-drive
  department: police
  kind: fixed
  purpose: personal_safety
  location: {{lat: {}, lon: {}}}
  view: {{heading_deg: 90, fov_deg: 90, range_m: 40}}
  streams: {{main: "rtsp://127.0.0.1:8554/b"}}
"#,
            EX1.0, EX1.1, EX2.0, EX2.1
        ),
    )
    .await
    .unwrap();

    let out = {
        let mut c = camplane(&h, &eng);
        c.args(["gis", "list"]);
        tokio::task::spawn_blocking(move || run_ok(&mut c))
            .await
            .unwrap()
    };
    assert!(
        out.lines()
            .any(|l| l.starts_with("streets") && l.contains("755")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("kiosks") && l.contains("(not loaded)")),
        "{out}"
    );

    let out = {
        let mut c = camplane(&h, &eng);
        c.args(["placement", "recheck", "--all", "-o", "json"]);
        tokio::task::spawn_blocking(move || run_ok(&mut c))
            .await
            .unwrap()
    };
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["layers"]["streets"], 1, "{v}");

    let svg = dir.path().join("map.svg");
    let out = {
        let mut c = camplane(&h, &eng);
        c.args(["placement", "map", "--out"]).arg(&svg);
        tokio::task::spawn_blocking(move || run_ok(&mut c))
            .await
            .unwrap()
    };
    assert!(out.contains("map written"), "{out}");
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("</svg>"));

    // Render it in a real browser.
    let png = dir.path().join("map.png");
    let profile = dir.path().join("chromium-profile");
    let svg2 = svg.clone();
    let png2 = png.clone();
    let o = tokio::task::spawn_blocking(move || {
        std::process::Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--window-size=1200,900",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--screenshot={}", png2.display()))
            .arg(format!("file://{}", svg2.display()))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10 * 1024,
        "chromium screenshot {} is {size} bytes (status {:?}): {}",
        png.display(),
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    let head = std::fs::read(&png).unwrap();
    assert_eq!(&head[..8], b"\x89PNG\r\n\x1a\n");
}
