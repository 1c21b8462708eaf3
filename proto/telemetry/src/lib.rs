//! Logging and tracing for camplane's binaries.
//!
//! [`init`] installs the log output (stderr, `RUST_LOG` filter) and, when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the standard OpenTelemetry variable, e.g.
//! `http://127.0.0.1:4317`), exports spans over OTLP/gRPC with the service's name.
//! The W3C trace context travels in gRPC metadata ([`inject`], [`extract_headers`])
//! and, down an agent's control stream, as a `traceparent` string
//! ([`current_traceparent`], [`set_parent_from_traceparent`]), so a search that
//! the controller fans out to agents is one trace across processes.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::collections::HashMap;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// The OTLP endpoint variable.
pub const ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// Flushes exported spans when dropped (keep it alive for the process's life).
#[must_use = "spans are flushed when this guard is dropped"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            if let Err(e) = p.shutdown() {
                eprintln!("flushing traces: {e}");
            }
        }
    }
}

/// Installs logging to stderr (filter `RUST_LOG`, else `default_filter`) and, with
/// `OTEL_EXPORTER_OTLP_ENDPOINT` set, OTLP span export as `service`. Call it once,
/// inside the Tokio runtime (the gRPC exporter needs one).
pub fn init(service: &'static str, default_filter: &str) -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter.into());
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let endpoint = std::env::var(ENDPOINT_ENV).ok().filter(|s| !s.is_empty());
    let exporter = endpoint.map(|ep| {
        opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(ep.clone())
            .build()
            .map_err(|e| format!("OTLP exporter for {ep}: {e}"))
    });
    match exporter {
        Some(Ok(exporter)) => {
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(
                    opentelemetry_sdk::Resource::builder()
                        .with_service_name(service)
                        .build(),
                )
                .build();
            let tracer = provider.tracer(service);
            let _ = tracing_subscriber::registry()
                .with(filter)
                .with(fmt)
                .with(tracing_opentelemetry::layer().with_tracer(tracer))
                .try_init();
            Telemetry {
                provider: Some(provider),
            }
        }
        other => {
            let _ = tracing_subscriber::registry()
                .with(filter)
                .with(fmt)
                .try_init();
            if let Some(Err(e)) = other {
                tracing::warn!(error = %e, "traces are not exported");
            }
            Telemetry { provider: None }
        }
    }
}

struct MetaInjector<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for MetaInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            value.parse(),
        ) {
            self.0.insert(k, v);
        }
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Puts the current span's trace context into a request's metadata.
pub fn inject<T>(req: &mut tonic::Request<T>) {
    let cx = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&cx, &mut MetaInjector(req.metadata_mut()));
}

/// Makes `span` a child of the trace context in request headers (if any).
pub fn extract_headers(headers: &http::HeaderMap, span: &tracing::Span) {
    // Nothing to continue (the common case of a call without a trace): the span
    // stays a root, as an empty extraction would leave it, without the work.
    if span.is_disabled() || !headers.contains_key("traceparent") {
        return;
    }
    let cx = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    let _ = span.set_parent(cx);
}

/// The current span's trace context as a W3C `traceparent` value (empty when there is none).
pub fn current_traceparent() -> String {
    let cx = tracing::Span::current().context();
    let mut map: HashMap<String, String> = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut map);
    map.remove("traceparent").unwrap_or_default()
}

/// Makes `span` a child of a W3C `traceparent` value (ignored when empty or malformed).
pub fn set_parent_from_traceparent(span: &tracing::Span, traceparent: &str) {
    if traceparent.is_empty() || traceparent.len() > 128 {
        return;
    }
    let mut map = HashMap::new();
    map.insert("traceparent".to_string(), traceparent.to_string());
    let cx = TraceContextPropagator::new().extract(&map);
    let _ = span.set_parent(cx);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trip_without_an_exporter() {
        // No subscriber with the OpenTelemetry layer: nothing to propagate, no panic.
        assert_eq!(current_traceparent(), "");
        let span = tracing::info_span!("x");
        set_parent_from_traceparent(&span, "garbage");
        set_parent_from_traceparent(&span, &"0".repeat(1000));
        let mut req = tonic::Request::new(());
        inject(&mut req);
        assert!(req.metadata().get("traceparent").is_none());
        extract_headers(&http::HeaderMap::new(), &span);
    }
}
