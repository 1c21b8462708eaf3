//! Prometheus metrics at `/metrics` (plain HTTP on `metrics_listen`): per camera
//! whether it is online, frames and bytes received, segments written, reconnects,
//! plates read and frames dropped; hotlist hits by category; the report spool's
//! depth; disk space; live streams open and their dropped frames. Read from the supervisor and session at scrape time.

use crate::control::Session;
use crate::health::CameraState;
use crate::supervisor::Supervisor;
use crate::{AgentError, Result};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The `/metrics` text.
pub fn render(sup: &Supervisor, session: Option<&Session>) -> String {
    let h = sup.health_snapshot();
    let mut s = String::new();
    type Get = fn(&crate::health::CameraHealth) -> f64;
    let per_camera: [(&str, &str, &str, Get); 9] = [
        (
            "camplane_agent_camera_up",
            "gauge",
            "1 while the camera's stream delivers video.",
            |c| f64::from(u8::from(c.state == CameraState::Online)),
        ),
        (
            "camplane_agent_frames_received_total",
            "counter",
            "Video frames received from the camera.",
            |c| c.frames_received as f64,
        ),
        (
            "camplane_agent_bytes_received_total",
            "counter",
            "Bytes of video received from the camera.",
            |c| c.bytes_received as f64,
        ),
        (
            "camplane_agent_frames_per_second",
            "gauge",
            "Video frames per second over the last seconds.",
            |c| c.fps,
        ),
        (
            "camplane_agent_segments_written_total",
            "counter",
            "Recording segments completed.",
            |c| c.segments_written as f64,
        ),
        (
            "camplane_agent_reconnects_total",
            "counter",
            "Reconnects after the stream dropped.",
            |c| c.reconnects as f64,
        ),
        (
            "camplane_agent_connect_failures_total",
            "counter",
            "Failed connection attempts.",
            |c| c.failures as f64,
        ),
        (
            "camplane_agent_plates_read_total",
            "counter",
            "Merged plate reads stored (ALPR cameras).",
            |c| c.alpr.as_ref().map_or(0.0, |a| a.plates_read as f64),
        ),
        (
            "camplane_agent_alpr_frames_dropped_total",
            "counter",
            "Sampled frames not read because the reader was busy (ALPR cameras).",
            |c| c.alpr.as_ref().map_or(0.0, |a| a.frames_dropped as f64),
        ),
    ];
    for (name, kind, help, get) in per_camera {
        family(&mut s, name, kind, help);
        for c in &h.cameras {
            let _ = writeln!(s, "{name}{{camera=\"{}\"}} {}", label(&c.id), get(c));
        }
    }
    family(
        &mut s,
        "camplane_agent_hotlist_hits_total",
        "counter",
        "Hotlist alerts raised, by hit category.",
    );
    if let Some(session) = session {
        let hits = session.alerts_by_category();
        for c in camplane_config::hotlist::HitCategory::ALL {
            let _ = writeln!(
                s,
                "camplane_agent_hotlist_hits_total{{category=\"{}\"}} {}",
                c.as_str(),
                hits.get(c.as_str()).copied().unwrap_or(0)
            );
        }
        family(
            &mut s,
            "camplane_agent_spool_depth",
            "gauge",
            "Reports spooled and not yet acknowledged by a controller.",
        );
        let _ = writeln!(s, "camplane_agent_spool_depth {}", session.spool_depth());
        family(
            &mut s,
            "camplane_agent_reports_made_total",
            "counter",
            "Reports spooled for the controller since start.",
        );
        let _ = writeln!(
            s,
            "camplane_agent_reports_made_total {}",
            session.reports_made()
        );
    }
    family(
        &mut s,
        "camplane_agent_live_streams",
        "gauge",
        "Live streams sent to controllers now (one per camera and controller, shared by its viewers).",
    );
    let _ = writeln!(
        s,
        "camplane_agent_live_streams {}",
        sup.live().open_streams()
    );
    family(
        &mut s,
        "camplane_agent_live_frames_dropped_total",
        "counter",
        "Frames a live stream missed because it fell behind (it skipped to the next keyframe).",
    );
    for (c, n) in sup.live().dropped_by_camera() {
        let _ = writeln!(
            s,
            "camplane_agent_live_frames_dropped_total{{camera=\"{}\"}} {n}",
            label(&c)
        );
    }
    family(
        &mut s,
        "camplane_agent_disk_free_bytes",
        "gauge",
        "Free bytes on the recordings' filesystem.",
    );
    let _ = writeln!(s, "camplane_agent_disk_free_bytes {}", h.disk_free);
    family(
        &mut s,
        "camplane_agent_disk_total_bytes",
        "gauge",
        "Size of the recordings' filesystem.",
    );
    let _ = writeln!(s, "camplane_agent_disk_total_bytes {}", h.disk_total);
    family(
        &mut s,
        "camplane_agent_alarms",
        "gauge",
        "Active alarms (disk pressure, failed deletions, reader errors).",
    );
    let _ = writeln!(s, "camplane_agent_alarms {}", h.alarms.len());
    s
}

/// Serves `/metrics` on `listen` until cancelled; returns the bound address.
pub async fn serve(
    listen: &str,
    sup: Arc<Supervisor>,
    session: Option<Arc<Session>>,
    cancel: CancellationToken,
) -> Result<SocketAddr> {
    use axum::http::{header, HeaderValue, StatusCode};
    use axum::response::IntoResponse;
    let addr: SocketAddr = listen.parse().map_err(|_| {
        AgentError::Control(format!("metrics_listen: {listen:?} is not an address"))
    })?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| AgentError::io("binding", addr.to_string(), e))?;
    let bound = listener
        .local_addr()
        .map_err(|e| AgentError::io("local address of", addr.to_string(), e))?;
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let (sup, session) = (sup.clone(), session.clone());
        async move {
            if uri.path() != "/metrics" {
                return (StatusCode::NOT_FOUND, "see /metrics\n").into_response();
            }
            let text = tokio::task::spawn_blocking(move || render(&sup, session.as_deref()))
                .await
                .unwrap_or_default();
            let mut r = text.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
    });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(cancel.cancelled_owned())
            .await
        {
            tracing::warn!(error = %e, "metrics endpoint stopped");
        }
    });
    tracing::info!(addr = %bound, "serving /metrics");
    Ok(bound)
}
