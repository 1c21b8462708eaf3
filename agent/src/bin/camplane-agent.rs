//! `camplane-agent --config FILE` runs a site agent;
//! `camplane-agent --check-config FILE` validates its config.

use anyhow::Context;
use camplane_agent::control::Session;
use camplane_agent::retention::StatvfsProbe;
use camplane_agent::{DiskPolicy, Supervisor, SupervisorOptions, SystemClock};
use camplane_config::agent::AgentConfig;
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(name = "camplane-agent", version, about = "The camplane site agent")]
struct Args {
    /// Config file (YAML).
    #[arg(long, conflicts_with = "check_config")]
    config: Option<PathBuf>,
    /// Validate a config file and exit.
    #[arg(long, value_name = "FILE")]
    check_config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(p) = args.check_config {
        return match AgentConfig::load(&p) {
            Ok(_) => {
                println!("{}: ok", p.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        };
    }
    let Some(p) = args.config else {
        eprintln!("camplane-agent: give --config FILE (or --check-config FILE)");
        return ExitCode::from(2);
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(p) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("camplane-agent: {e:#}");
            ExitCode::from(1)
        }
    }
}

#[tokio::main]
async fn run(path: PathBuf) -> anyhow::Result<()> {
    let cfg = AgentConfig::load(&path)?;
    let root = cfg.data_dir.join("recordings");
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let opts = SupervisorOptions {
        root: root.clone(),
        // A gap shorter than the report interval does not split an active window.
        ingest: camplane_agent::ingest::IngestOptions {
            window_merge_gap: jiff::SignedDuration::from_secs(cfg.report_interval_seconds as i64),
            ..Default::default()
        },
        disk: DiskPolicy {
            min_free_bytes: cfg.min_free_bytes,
            min_free_percent: cfg.min_free_percent,
        },
    };
    let sup = Arc::new(Supervisor::new(
        opts,
        Arc::new(SystemClock),
        Arc::new(StatvfsProbe { path: root }),
    )?);
    let session = Session::new(cfg, sup.clone())?;
    let cancel = CancellationToken::new();
    let reporter = tokio::spawn(session.clone().run_reporter(cancel.clone()));
    let stop = cancel.clone();
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
        stop.cancel();
    });
    let r = session.run(cancel.clone()).await;
    cancel.cancel();
    let _ = reporter.await;
    sup.shutdown();
    Ok(r?)
}
