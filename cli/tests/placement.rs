//! The `camplane` binary on placement: the offline check on files, and GIS
//! layers loaded, listed, rechecked and drawn through a real controller (the
//! map rendered in a real browser).
//!
//! The harness is the controller's placement tests' own (camplane-testkit's `placement`).

use serde_json::{json, Value};
use std::path::Path;

use camplane_testkit::placement::*;

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
    // The test controller speaks plain gRPC on loopback.
    c.arg("--insecure-plaintext")
        .env("CAMPLANE_SERVER", format!("http://{}", h.running.addr))
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

/// Issue #22: a plain `http://` server gets no password and no token unless the
/// user says `--insecure-plaintext` (the other tests here do, on loopback).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_gets_no_password_or_token() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(embedded(dir.path())).await;
    let p = people(&h).await;
    let server = format!("http://{}", h.running.addr);
    let run = move |args: &[&str], stdin: &str, token: Option<&str>| {
        use std::io::Write;
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_camplane"));
        c.args(["--server", &server])
            .args(args)
            .env("CAMPLANE_HOME", "/nonexistent-camplane-home")
            .env_remove("CAMPLANE_TOKEN")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if let Some(t) = token {
            c.env("CAMPLANE_TOKEN", t);
        }
        let mut child = c.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let logins = |log: Vec<serde_json::Value>| {
        log.iter()
            .filter(|e| e["action"].as_str().is_some_and(|a| a.starts_with("login")))
            .count()
    };
    let before = logins(camplane_testkit::controller::audit_log(&h).await);
    let login = ["login", "-u", "traffic-engineer", "--password-stdin"];
    let pw = "traffic-engineer-password-123\n";
    let (refused_login, refused_token, ok) = tokio::task::spawn_blocking({
        let eng = p.engineer.clone();
        move || {
            (
                run(&login, pw, None),
                run(&["whoami"], "", Some(&eng)),
                run(&["--insecure-plaintext", "whoami"], "", Some(&eng)),
            )
        }
    })
    .await
    .unwrap();
    for (o, what) in [(&refused_login, "a password"), (&refused_token, "a token")] {
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{err}");
        assert!(
            err.contains(&format!("refusing to send {what} in the clear"))
                && err.contains("--insecure-plaintext"),
            "{err}"
        );
    }
    // The refused login never reached the controller: no sign-in was audited.
    assert_eq!(
        logins(camplane_testkit::controller::audit_log(&h).await),
        before
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("traffic-engineer"));
}
