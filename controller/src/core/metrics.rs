//! Prometheus metrics at `/metrics` (on the `http_listen` address): agents
//! connected, cameras by state and online, reports and alerts received,
//! reconcile errors, leadership, and gRPC request latencies by method.
//!
//! Counters live in [`Metrics`] (atomics and small maps); gauges are read from
//! the controller's state at scrape time. The text is the Prometheus exposition
//! format, checked in the tests with `promtool check metrics`.

use crate::core::Controller;
use camplane_proto::kinds::ReportKind;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Upper bounds of the latency buckets, in seconds.
pub const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Distinct method labels kept; further ones count as `other`.
const MAX_METHODS: usize = 128;

/// A latency histogram.
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    /// Adds one observation.
    pub fn observe(&mut self, d: Duration) {
        let s = d.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += s;
    }
}

/// The controller's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    reports: Mutex<BTreeMap<String, u64>>,
    /// Reports refused for naming cameras not assigned to their agent, by kind.
    reports_refused: Mutex<BTreeMap<String, u64>>,
    /// Long work (a report, an export) stopped because its client went away or
    /// the server shut down, by what it was.
    work_cancelled: Mutex<BTreeMap<&'static str, u64>>,
    /// Hotlist alerts stored.
    pub alerts: AtomicU64,
    /// Housekeeping runs that failed, by job.
    job_failures: Mutex<BTreeMap<&'static str, u64>>,
    requests: Mutex<BTreeMap<String, Histogram>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Metrics {
    /// Counts a failed run of a housekeeping job.
    pub fn job_failed(&self, job: &'static str) {
        *lock(&self.job_failures).entry(job).or_default() += 1;
    }

    /// Failed runs of `job` so far.
    pub fn job_failures(&self, job: &str) -> u64 {
        lock(&self.job_failures).get(job).copied().unwrap_or(0)
    }

    /// Reports of `kind` (or `other`) stored so far.
    pub fn reports_of(&self, kind: &str) -> u64 {
        lock(&self.reports).get(kind).copied().unwrap_or(0)
    }

    /// Counts a new (not replayed) agent report.
    pub fn report(&self, kind: Option<ReportKind>) {
        let kind = kind.map_or("other", ReportKind::as_str);
        *lock(&self.reports).entry(kind.to_string()).or_default() += 1;
    }

    /// Counts a report (a kind's label, or `reads`) that named cameras not
    /// assigned to its agent.
    pub fn report_refused(&self, kind: &'static str) {
        *lock(&self.reports_refused)
            .entry(kind.to_string())
            .or_default() += 1;
    }

    /// Reports of `kind` (or `other`, or `reads`) refused so far for naming foreign cameras.
    pub fn reports_refused_of(&self, kind: &str) -> u64 {
        lock(&self.reports_refused).get(kind).copied().unwrap_or(0)
    }

    /// Counts long work (`report`, `export`) stopped before its end because its
    /// client went away or the server shut down.
    pub fn work_cancelled(&self, what: &'static str) {
        *lock(&self.work_cancelled).entry(what).or_default() += 1;
    }

    /// Work of `what` cancelled so far.
    pub fn work_cancelled_of(&self, what: &str) -> u64 {
        lock(&self.work_cancelled).get(what).copied().unwrap_or(0)
    }

    /// Records a gRPC request's latency.
    pub fn request(&self, path: &str, d: Duration) {
        let method = path.trim_start_matches('/');
        let mut m = lock(&self.requests);
        let label = if m.contains_key(method)
            || (m.len() < MAX_METHODS && method.starts_with("camplane.v1."))
        {
            method
        } else {
            "other"
        };
        match m.get_mut(label) {
            Some(h) => h.observe(d),
            None => m.entry(label.to_string()).or_default().observe(d),
        }
    }
}

/// Escapes a label value.
pub fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Writes one metric family's header.
pub fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Writes a family of one unlabelled sample.
pub fn scalar(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    family(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// Writes a histogram family.
pub fn histograms(
    out: &mut String,
    name: &str,
    help: &str,
    key: &str,
    h: &BTreeMap<String, Histogram>,
) {
    family(out, name, "histogram", help);
    for (k, v) in h {
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{{key}=\"{}\",le=\"{b}\"}} {}",
                label(k),
                v.counts[i]
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{key}=\"{}\",le=\"+Inf\"}} {}",
            label(k),
            v.count
        );
        let _ = writeln!(out, "{name}_sum{{{key}=\"{}\"}} {}", label(k), v.sum);
        let _ = writeln!(out, "{name}_count{{{key}=\"{}\"}} {}", label(k), v.count);
    }
}

impl Controller {
    /// The core's part of the `/metrics` text (the doors add the wings' gauges).
    pub async fn render_metrics(&self, leader: bool) -> String {
        use camplane_config::model::{CameraStatus, Kind};
        let m = &self.metrics;
        let mut s = String::new();
        scalar(
            &mut s,
            "camplane_controller_leader",
            "gauge",
            "1 when this controller leads (runs the work that must happen once).",
            u8::from(leader),
        );
        let mut states: BTreeMap<String, u64> = ["pending", "active", "suspended", "retired"]
            .iter()
            .map(|k| (k.to_string(), 0))
            .collect();
        if let Ok(cams) = self.list(Kind::Camera) {
            for (o, _) in cams {
                let st: CameraStatus = serde_json::from_value(o.status).unwrap_or_default();
                let name = serde_json::to_value(st.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_else(|| "unknown".into());
                *states.entry(name).or_default() += 1;
            }
        }
        family(
            &mut s,
            "camplane_controller_cameras",
            "gauge",
            "Registered cameras by life-cycle state.",
        );
        for (k, v) in &states {
            let _ = writeln!(
                s,
                "camplane_controller_cameras{{state=\"{}\"}} {v}",
                label(k)
            );
        }
        family(
            &mut s,
            "camplane_controller_reports_received_total",
            "counter",
            "Agent reports stored (replays not counted), by kind.",
        );
        let reports = lock(&m.reports).clone();
        // Every kind, and `other` for kinds this build does not know.
        for k in ["alert", "health", "other", "windows"] {
            let _ = writeln!(
                s,
                "camplane_controller_reports_received_total{{kind=\"{k}\"}} {}",
                reports.get(k).copied().unwrap_or(0)
            );
        }
        scalar(
            &mut s,
            "camplane_controller_alerts_total",
            "counter",
            "Hotlist alerts stored.",
            m.alerts.load(Ordering::Relaxed),
        );
        scalar(
            &mut s,
            "camplane_controller_reconcile_errors_total",
            "counter",
            "Reconcile passes that failed (retried).",
            m.job_failures("reconcile"),
        );
        scalar(
            &mut s,
            "camplane_controller_publish_errors_total",
            "counter",
            "Public log publications that failed (retried).",
            m.job_failures("publish"),
        );
        family(
            &mut s,
            "camplane_controller_reports_refused_total",
            "counter",
            "Agent reports (and search answers: reads) refused for naming cameras not assigned to the agent, by kind.",
        );
        let refused = lock(&m.reports_refused).clone();
        for k in ["alert", "health", "other", "reads", "windows"] {
            let _ = writeln!(
                s,
                "camplane_controller_reports_refused_total{{kind=\"{k}\"}} {}",
                refused.get(k).copied().unwrap_or(0)
            );
        }
        family(
            &mut s,
            "camplane_controller_work_cancelled_total",
            "counter",
            "Long work stopped because its client went away or the server shut down, by what it was.",
        );
        for k in ["export", "hotlist", "report"] {
            let _ = writeln!(
                s,
                "camplane_controller_work_cancelled_total{{what=\"{k}\"}} {}",
                m.work_cancelled_of(k)
            );
        }
        let req = lock(&m.requests).clone();
        histograms(
            &mut s,
            "camplane_controller_request_duration_seconds",
            "gRPC request latency until the response starts, by method.",
            "method",
            &req,
        );
        s
    }
}

/// A tower layer that times every gRPC request.
#[derive(Clone)]
pub struct MetricsLayer(pub Arc<Metrics>);

impl<S> tower::Layer<S> for MetricsLayer {
    type Service = Timed<S>;
    fn layer(&self, inner: S) -> Timed<S> {
        Timed {
            inner,
            metrics: self.0.clone(),
        }
    }
}

/// The service [`MetricsLayer`] makes.
#[derive(Clone)]
pub struct Timed<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B> tower::Service<http::Request<B>> for Timed<S>
where
    S: tower::Service<http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        use tracing::Instrument;
        let path = req.uri().path().to_string();
        let metrics = self.metrics.clone();
        // One span per request, continuing the caller's trace (W3C traceparent).
        let span = tracing::info_span!("grpc.request", rpc.method = %path.trim_start_matches('/'));
        camplane_telemetry::extract_headers(req.headers(), &span);
        let t = Instant::now();
        let fut = span.in_scope(|| self.inner.call(req));
        Box::pin(
            async move {
                let r = fut.await;
                metrics.request(&path, t.elapsed());
                r
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let mut h = Histogram::default();
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(10));
        assert_eq!(h.counts[0], 0);
        assert_eq!(h.counts[2], 1, "5 ms bucket holds the 3 ms request");
        assert_eq!(h.counts[BUCKETS.len() - 1], 1);
        assert_eq!(h.count, 2);
    }

    #[test]
    fn method_labels_are_bounded() {
        let m = Metrics::default();
        for i in 0..300 {
            m.request(&format!("/camplane.v1.X/M{i}"), Duration::from_millis(1));
        }
        m.request("/evil\"path", Duration::from_millis(1));
        let r = lock(&m.requests);
        assert_eq!(r.len(), MAX_METHODS + 1);
        assert_eq!(r["other"].count, 300 - MAX_METHODS as u64 + 1);
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
