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

/// `GET /metrics` over plain HTTP.
pub fn scrape(addr: std::net::SocketAddr) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut t = String::new();
    s.read_to_string(&mut t).unwrap();
    let (head, body) = t.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    body.to_string()
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
