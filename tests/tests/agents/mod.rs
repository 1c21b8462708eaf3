//! An agent in the test process: enrolment token, config and supervisor, the way
//! a gateway would have them (shared by the end-to-end tests).
#![allow(dead_code)]

use crate::ctl;
use camplane_agent::retention::FixedProbe;
use camplane_agent::{DiskPolicy, Supervisor, SupervisorOptions, SystemClock};
use camplane_config::agent::AgentConfig;
use camplane_proto::v1 as pb;
use std::path::Path;
use std::sync::Arc;

/// A one-time enrolment token for `site`'s gateway (named `SITE-gw`).
pub async fn enroll_token(h: &ctl::Harness, site: &str) -> pb::EnrollTokenResponse {
    pb::fleet_client::FleetClient::new(h.channel.clone())
        .create_enroll_token(ctl::req(
            &h.admin,
            pb::EnrollTokenRequest {
                site: site.into(),
                agent: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

/// The agent's config in `dir` (its data directory), with the token written
/// beside it: reports every second, 2 s segments, no disk floor.
pub fn config(port: u16, ca: &Path, dir: &Path, token: &str) -> AgentConfig {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("token"), token).unwrap();
    AgentConfig::parse(
        "agent.yaml",
        &format!(
            "controllers: [https://127.0.0.1:{port}]\nca_file: {}\nenroll_token_file: {}\ndata_dir: {}\nreport_interval_seconds: 1\nsegment_seconds: 2\nmin_free_bytes: 0\nmin_free_percent: 0\n",
            ca.display(),
            dir.join("token").display(),
            dir.display()
        ),
    )
    .unwrap()
}

/// A supervisor recording under `dir/recordings`; active windows merge gaps up
/// to the config's 1 s report interval.
pub fn supervisor(dir: &Path) -> Arc<Supervisor> {
    Arc::new(
        Supervisor::new(
            SupervisorOptions {
                root: dir.join("recordings"),
                ingest: camplane_agent::ingest::IngestOptions {
                    window_merge_gap: jiff::SignedDuration::from_secs(1),
                    ..Default::default()
                },
                disk: DiskPolicy {
                    min_free_bytes: 0,
                    min_free_percent: 0.0,
                },
            },
            Arc::new(SystemClock),
            Arc::new(FixedProbe::new(100 << 30, 200 << 30)),
        )
        .unwrap(),
    )
}

/// A plain HTTP/1.1 GET: (status, content type, body); None if nothing answers.
pub fn try_http_get(addr: std::net::SocketAddr, path: &str) -> Option<(u16, String, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let ctype = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_string)
        })
        .unwrap_or_default();
    Some((status, ctype, body.to_string()))
}

/// [`try_http_get`] that must be answered.
pub fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String, String) {
    try_http_get(addr, path).unwrap_or_else(|| panic!("no HTTP answer from {addr}{path}"))
}

/// `GET /metrics` over plain HTTP.
pub fn scrape(addr: std::net::SocketAddr) -> String {
    let (status, ctype, body) = http_get(addr, "/metrics");
    assert_eq!(status, 200, "{body}");
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    body
}

/// An ALPR reader at City Hall on the gateway `city-hall-gw`, with its placement
/// request (`RTSP_URL` is replaced by the test's stream).
pub const LPR: &str = r#"
kind: PlacementRequest
name: req-lpr
spec:
  location: {lat: 42.5011, lon: -90.6650}
  purpose: alpr
  justification: stolen vehicles entering downtown
  funding_source: state grant
  department: police
  kind: fixed
  camera: lpr-1
---
kind: Camera
name: lpr-1
spec:
  site: city-hall
  department: police
  kind: fixed
  purpose: alpr
  location: {lat: 42.5011, lon: -90.6650}
  streams: {main: "RTSP_URL"}
  placement_request: req-lpr
  agent: city-hall-gw
  alpr: true
"#;

/// Places [`LPR`] on `rtsp_url` and walks its request through the approval chain
/// (department manager, chief, City Manager, each a user made for it).
pub async fn approved_lpr(h: &ctl::Harness, rtsp_url: &str) {
    ctl::apply(h, &h.admin, &LPR.replace("RTSP_URL", rtsp_url))
        .await
        .unwrap();
    let mgr = ctl::user(h, "m", &["dept_manager"], "police").await;
    let chief = ctl::user(h, "c", &["chief"], "police").await;
    let cm = ctl::user(h, "cm", &["city_manager"], "").await;
    for (who, action) in [(&mgr, "recommend"), (&chief, "recommend"), (&cm, "approve")] {
        ctl::act(h, who, "req-lpr", action, "", "").await.unwrap();
    }
}

/// Runs `promtool check metrics` (Debian's prometheus package) on exposition text.
pub fn promtool_check(text: &str) {
    use std::io::Write;
    let mut c = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("promtool: {e}; install it with `apt-get install -y prometheus`")
        });
    c.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The value of one sample line (`name{labels}`), if present.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}
