//! `camplane-controller --config FILE` runs the controller;
//! `camplane-controller --check-config FILE` validates a config and exits.
//! `--advertise HOST:PORT` (with either) overrides `cluster.advertise`, for an
//! address the config file cannot know, such as a Kubernetes pod's IP.

use anyhow::Context;
use camplane_config::controller::ControllerConfig;
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

// mimalloc: glibc malloc was a third of the user time on the API's read path (perf,
// `cargo bench --bench api`, 2026-12-04); with mimalloc gets went from 27k to 36k/s.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "camplane-controller",
    version,
    about = "The camplane controller"
)]
struct Args {
    /// Config file (YAML).
    #[arg(long, conflicts_with = "check_config")]
    config: Option<PathBuf>,
    /// Validate a config file, print every problem, and exit (0 when valid).
    #[arg(long, value_name = "FILE")]
    check_config: Option<PathBuf>,
    /// The address other controllers dial for this one (`HOST:PORT`); overrides
    /// `cluster.advertise`. In Kubernetes: `--advertise $(POD_IP):7100`, with
    /// POD_IP from the downward API (`status.podIP`).
    #[arg(long, value_name = "HOST:PORT")]
    advertise: Option<String>,
}

/// Loads the config and applies `--advertise` (checked; its error names the flag).
fn load(path: &std::path::Path, advertise: Option<&str>) -> anyhow::Result<ControllerConfig> {
    let mut config = ControllerConfig::load(path)?;
    if let Some(a) = advertise {
        config.override_advertise(a).map_err(anyhow::Error::msg)?;
    }
    Ok(config)
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(a) = &args.advertise {
        // Checked before anything starts: a bad flag is a usage error.
        if let Err(e) = camplane_config::controller::check_advertise(a) {
            eprintln!("camplane-controller: --advertise: {e}");
            return ExitCode::from(2);
        }
    }
    if let Some(path) = args.check_config {
        return match load(&path, args.advertise.as_deref()) {
            Ok(_) => {
                println!("{}: ok", path.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        };
    }
    let Some(path) = args.config else {
        eprintln!("camplane-controller: give --config FILE (or --check-config FILE)");
        return ExitCode::from(2);
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("camplane-controller: starting the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let r = rt.block_on(run(path, args.advertise));
    // Blocking work still running (it stops on the shutdown token at its next
    // check) does not hold the exit: a shutdown ends within 10 s.
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("camplane-controller: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(path: PathBuf, advertise: Option<String>) -> anyhow::Result<()> {
    let _telemetry = camplane_telemetry::init("camplane-controller", "info");
    let config = load(&path, advertise.as_deref())?;
    let cancel = CancellationToken::new();
    let running = camplane_controller::server::start(config, cancel.clone())
        .await
        .context("starting the controller")?;
    if let Some(pw) = &running.initial_password {
        // Shown once: it is stored only as a hash.
        println!("initial admin password (shown once, change it): {pw}");
    }
    if let Some(pw) = &running.initial_city_manager_password {
        println!("initial city manager password (shown once, change it): {pw}");
    }
    println!("camplane-controller listening on {}", running.addr);
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
    running.task.await.context("server task")??;
    Ok(())
}
