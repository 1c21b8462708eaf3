//! The plain-HTTP door: the public portal's pages ([`crate::publog::portal`])
//! and `/metrics` (Prometheus): the core's counters plus the wings' gauges.

use crate::alpr::search::Hub;
use crate::core::leader::Leadership;
use crate::core::metrics::scalar;
use crate::core::Controller;
use crate::Result;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The `/metrics` text.
pub async fn metrics(ctl: &Controller, leader: bool) -> String {
    let mut s = ctl.render_metrics(leader).await;
    scalar(
        &mut s,
        "camplane_controller_agents_connected",
        "gauge",
        "Agents with a control stream to this controller.",
        ctl.wing::<Hub>().connected_count(),
    );
    let relay = ctl.wing::<crate::viewing::live::Relay>();
    scalar(
        &mut s,
        "camplane_controller_live_agent_streams",
        "gauge",
        "Live streams agents send to this controller now (one per camera, shared by its viewers).",
        relay.agent_streams(),
    );
    scalar(
        &mut s,
        "camplane_controller_live_feeds",
        "gauge",
        "Cameras this controller relays live now (from its agents or its peers).",
        relay.feeds(),
    );
    scalar(
        &mut s,
        "camplane_controller_live_skipped_total",
        "counter",
        "Live fragments slow viewers missed, skipping ahead to the next keyframe.",
        relay.skipped(),
    );
    let (online, reported) = crate::fleet::camera_health_counts(ctl).await;
    scalar(
        &mut s,
        "camplane_controller_cameras_online",
        "gauge",
        "Cameras online in their agents' latest health reports.",
        online,
    );
    scalar(
        &mut s,
        "camplane_controller_cameras_reported",
        "gauge",
        "Cameras in the agents' latest health reports.",
        reported,
    );
    let policy = ctl.policy_status();
    scalar(
        &mut s,
        "camplane_policy_review_overdue",
        "gauge",
        "1 when the camera policy's annual review is overdue (none on record, or the last over 12 months ago).",
        u64::from(policy.review_overdue),
    );
    scalar(
        &mut s,
        "camplane_policy_last_review_timestamp_seconds",
        "gauge",
        "When the camera policy's last review took effect (0: none on record).",
        policy
            .last_review_at
            .map_or(0, |t| t.as_second().max(0) as u64),
    );
    s
}

/// Where the latest signed checkpoint of the audit chain is served.
pub const CHECKPOINT_PATH: &str = "/public/audit-checkpoint";

/// The latest checkpoint note, text/plain (404 before the leader signed one).
async fn checkpoint(ctl: &Controller) -> axum::response::Response {
    let (status, body) = match ctl.latest_checkpoint().await {
        Ok(Some(c)) => (StatusCode::OK, c.note),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            "No checkpoint has been signed yet.\n".to_string(),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "audit checkpoint unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "The audit checkpoint is unavailable right now; try again shortly.\n".to_string(),
            )
        }
    };
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    r
}

/// 405 for anything but GET and HEAD: the portal and `/metrics` only publish.
fn method_not_allowed() -> axum::response::Response {
    let mut r = (
        StatusCode::METHOD_NOT_ALLOWED,
        "Only GET and HEAD are served here.\n",
    )
        .into_response();
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Binds `listen` and serves the portal and `/metrics` until cancelled. Returns
/// the bound address.
pub async fn serve(
    ctl: Arc<Controller>,
    leader: Leadership,
    listen: &str,
    cancel: CancellationToken,
) -> Result<SocketAddr> {
    let addr: SocketAddr = listen.parse().map_err(|_| {
        crate::Error::InvalidArgument(format!("http_listen: {listen:?} is not an address"))
    })?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| crate::Error::io(format!("binding {addr} (http_listen)"), e))?;
    let bound = listener
        .local_addr()
        .map_err(|e| crate::Error::io("local address", e))?;
    let ctl_for_accept = ctl.clone();
    // No extractor takes the body: a request is answered (or refused) without
    // reading what a client sends after its headers.
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri| {
        let ctl = ctl.clone();
        let leader = *leader.borrow();
        async move {
            if method != Method::GET && method != Method::HEAD {
                return method_not_allowed();
            }
            if uri.path() == "/metrics" {
                let mut r = metrics(&ctl, leader).await.into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                return r;
            }
            if uri.path() == CHECKPOINT_PATH {
                return checkpoint(&ctl).await;
            }
            crate::publog::portal::route(&ctl, uri.path()).await
        }
    });
    // At most http_max_connections open, each given a header-read timeout:
    // the portal needs no sign-in, so anyone can open connections to it.
    let mut accepted = crate::core::http1::accept_bounded(
        ctl_for_accept.clone(),
        listener,
        ctl_for_accept.config.http_max_connections,
        ("http_connection_refused", "http_max_connections"),
        cancel.clone(),
    );
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        while let Some((stream, peer, place)) = accepted.recv().await {
            if tx
                .send((crate::core::http1::Placed::new(stream, place), peer))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    tokio::spawn(crate::core::http1::serve_connections(rx, app, cancel));
    tracing::info!(addr = %bound, "public portal serving /public/");
    Ok(bound)
}
