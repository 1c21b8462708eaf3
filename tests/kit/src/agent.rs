//! An agent in the test process: enrolment token, config and supervisor, the way
//! a gateway would have them.

use crate::controller as ctl;
use camplane_agent::ingest::IngestOptions;
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
    supervisor_with(
        dir,
        IngestOptions {
            window_merge_gap: jiff::SignedDuration::from_secs(1),
            ..Default::default()
        },
    )
}

/// A supervisor recording under `dir/recordings` with `ingest`, no disk floor, and
/// a disk that always has 100 GiB of 200 free.
pub fn supervisor_with(dir: &Path, ingest: IngestOptions) -> Arc<Supervisor> {
    Arc::new(
        Supervisor::new(
            SupervisorOptions {
                root: dir.join("recordings"),
                ingest,
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
    ctl::override_unchecked(h, &chief, "req-lpr").await;
    for (who, action) in [(&mgr, "recommend"), (&chief, "recommend"), (&cm, "approve")] {
        ctl::act(h, who, "req-lpr", action, "", "").await.unwrap();
    }
}

/// A reader `name` at `site`, recorded by the gateway `agent` (no placement
/// request: registered, not active).
pub fn reader_manifest(name: &str, site: &str, agent: &str) -> String {
    format!(
        "kind: Camera\nname: {name}\nspec:\n  site: {site}\n  department: police\n  kind: fixed\n  purpose: alpr\n  location: {{lat: 42.5006, lon: -90.6646}}\n  streams: {{main: \"rtsp://127.0.0.1:8554/{name}\"}}\n  agent: {agent}\n"
    )
}

/// The city's `cam-1` and a reader `lpr-1`, both recorded by the city-hall
/// gateway `city-hall-gw` (registered first, e.g. by [`enroll_token`]): for
/// tests whose gateway holds their recordings and reads, since a camera's
/// video and crops are asked of, and taken from, its own agent only.
pub async fn city_hall_gw_cameras(h: &ctl::Harness) {
    let cam1 = ctl::CITY
        .split("---\n")
        .find(|d| d.contains("name: cam-1\n"))
        .expect("the city's cam-1")
        .replace(
            "  placement_request: req-1",
            "  placement_request: req-1\n  agent: city-hall-gw",
        );
    let both = format!(
        "{cam1}---\n{}",
        reader_manifest("lpr-1", "city-hall", "city-hall-gw")
    );
    ctl::apply(h, &h.admin, &both).await.unwrap();
}
