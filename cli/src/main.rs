//! `camplane`: the command-line client. Logic lives in the `camplane_cli` library.

use clap::Parser;
use std::process::ExitCode;
use tracing::Instrument;

// One worker drives the I/O of the trace exporter while main flushes it.
#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> ExitCode {
    let cli = camplane_cli::Cli::parse();
    // Quiet by default; with OTEL_EXPORTER_OTLP_ENDPOINT set, the command is a
    // trace's root span and the controller's work continues it.
    let _telemetry = camplane_telemetry::init("camplane", "warn,camplane=info");
    let span = tracing::info_span!("camplane");
    match camplane_cli::run(cli).instrument(span).await {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("camplane: {e:#}");
            ExitCode::from(1)
        }
    }
}
