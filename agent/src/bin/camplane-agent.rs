//! `camplane-agent --config FILE` runs a site agent;
//! `camplane-agent --check-config FILE` validates its config;
//! `camplane-agent alpr read [--json] IMAGE...` and `camplane-agent alpr eval DIR...`
//! read licence plates.

use anyhow::Context;
use camplane_agent::alpr;
use camplane_agent::control::Session;
use camplane_agent::retention::StatvfsProbe;
use camplane_agent::{DiskPolicy, Supervisor, SupervisorOptions, SystemClock};
use camplane_config::agent::AgentConfig;
use clap::{Parser, Subcommand};
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
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Licence-plate reading.
    Alpr {
        #[command(subcommand)]
        cmd: AlprCmd,
    },
}

#[derive(clap::Args)]
struct AlprOpts {
    /// Models directory (default: $CAMPLANE_MODELS, `.models` of the checkout, /var/lib/camplane/models).
    #[arg(long, value_name = "DIR")]
    models: Option<PathBuf>,
    /// Whose plates: any (US, EU and Brazilian formats), us, eu, br (as the agent's
    /// `alpr_region`; us bends no read to fit a series format).
    #[arg(long, default_value = "any")]
    region: alpr::plate::Region,
    /// Which recognisers read each text line: both (the general PP-OCRv4 recogniser
    /// and camplane's plate reader, scored jointly), general, or plate.
    #[arg(long, default_value = "both")]
    recognizers: alpr::Recognizers,
    /// Model precision: fp32 (the published models), int8 (made by
    /// deploy/fetch-models.sh) or mixed (the int8 detector for the first look, fp32 for
    /// the closer looks and the recognisers); default: the agent's shipped one, mixed.
    #[arg(long)]
    precision: Option<alpr::models::Precision>,
    /// With `--recognizers both`: most lines per image the general recogniser reads too
    /// (those whose plate-reader reading is most plate-like); default: the reader's own,
    /// 8, the most lines read: every line.
    #[arg(long, value_name = "N")]
    general_lines: Option<usize>,
}

#[derive(Subcommand)]
enum AlprCmd {
    /// Reads plates in images, in order: a table (image, plate, confidence, box,
    /// milliseconds), or one JSON object per image with --json.
    Read {
        /// One JSON object per line and image, printed as each is read, instead of the
        /// table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        opts: AlprOpts,
        /// JPEG or PNG files.
        #[arg(required = true)]
        images: Vec<PathBuf>,
    },
    /// Prints the text lines the reader considers in each image (corners and the
    /// general recogniser's text), one JSON object per image: the plate reader's
    /// training recipe cuts its real examples with this.
    Lines {
        #[command(flatten)]
        opts: AlprOpts,
        /// JPEG or PNG files.
        #[arg(required = true)]
        images: Vec<PathBuf>,
    },
    /// Scores reads on OpenALPR-benchmark folders (image + `.txt` label per image).
    Eval {
        #[command(flatten)]
        opts: AlprOpts,
        /// Only the first N images of each folder.
        #[arg(long)]
        limit: Option<usize>,
        /// Folders.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
    },
}

fn load_reader(opts: &AlprOpts) -> Result<alpr::Reader, ExitCode> {
    let dir = alpr::models::resolve_dir(opts.models.as_deref());
    let precision = opts.precision.unwrap_or(alpr::models::SHIPPED_PRECISION);
    let mut reader = alpr::Reader::load_with(&dir, opts.region, precision).map_err(|e| {
        eprintln!("camplane-agent alpr: {e}");
        ExitCode::from(1)
    })?;
    reader.recognizers = opts.recognizers;
    if let Some(n) = opts.general_lines {
        reader.general_lines = n;
    }
    Ok(reader)
}

/// Prints one line per image, in order, flushed as each is done.
fn json_lines(images: &[PathBuf], mut line: impl FnMut(&std::path::Path) -> String) -> ExitCode {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for img in images {
        let l = line(img);
        if writeln!(out, "{l}").and_then(|_| out.flush()).is_err() {
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}

fn run_alpr(cmd: AlprCmd) -> ExitCode {
    match cmd {
        AlprCmd::Read { json, opts, images } => {
            let mut reader = match load_reader(&opts) {
                Ok(r) => r,
                Err(c) => return c,
            };
            if json {
                return json_lines(&images, |img| {
                    let (r, ms) = alpr::eval::timed_read(&mut reader, img);
                    alpr::eval::json_line(&img.to_string_lossy(), &r, ms)
                });
            }
            // The table's columns are sized to every row, so it is printed at the end.
            let reads: Vec<(String, _, f64)> = images
                .iter()
                .map(|img| {
                    let (r, ms) = alpr::eval::timed_read(&mut reader, img);
                    (img.to_string_lossy().into_owned(), r, ms)
                })
                .collect();
            let rows: Vec<alpr::eval::TableImage<'_>> = reads
                .iter()
                .map(|(image, result, ms)| alpr::eval::TableImage {
                    image,
                    result,
                    elapsed_ms: *ms,
                })
                .collect();
            use std::io::Write;
            match std::io::stdout().write_all(alpr::eval::table(&rows).as_bytes()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::from(1),
            }
        }
        AlprCmd::Lines { opts, images } => {
            let mut reader = match load_reader(&opts) {
                Ok(r) => r,
                Err(c) => return c,
            };
            json_lines(&images, |img| {
                let lines = alpr::decode(img).and_then(|i| {
                    reader.lines(&alpr::geom::Rgb {
                        w: i.width() as usize,
                        h: i.height() as usize,
                        data: i.as_raw(),
                    })
                });
                match lines {
                    Ok(l) => serde_json::json!({"image": img, "lines": l}),
                    Err(e) => serde_json::json!({"image": img, "error": e.to_string()}),
                }
                .to_string()
            })
        }
        AlprCmd::Eval { opts, limit, dirs } => {
            let mut reader = match load_reader(&opts) {
                Ok(r) => r,
                Err(c) => return c,
            };
            let mut scores = Vec::new();
            for d in dirs {
                match alpr::eval::eval_folder(&mut reader, &d, limit) {
                    Ok(s) => scores.push(s),
                    Err(e) => {
                        eprintln!("camplane-agent alpr eval: {}: {e}", d.display());
                        return ExitCode::from(1);
                    }
                }
            }
            print!("{}", alpr::eval::report(&scores));
            ExitCode::SUCCESS
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Command::Alpr { cmd }) = args.command {
        return run_alpr(cmd);
    }
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
    let _telemetry = camplane_telemetry::init("camplane-agent", "info");
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
    sup.set_alpr_options(camplane_agent::alpr::site::AlprSiteOptions {
        models: cfg.models_dir.clone(),
        fps: cfg.alpr_fps,
        precision: cfg
            .alpr_precision
            .unwrap_or(camplane_agent::alpr::models::SHIPPED_PRECISION),
        region: cfg.alpr_region.unwrap_or_default(),
        ..Default::default()
    });
    let cancel = CancellationToken::new();
    if let Some(addr) = cfg.gpsd.clone() {
        let gps = camplane_agent::gps::Gps::default();
        sup.set_gps(gps.clone());
        tokio::spawn(camplane_agent::gps::follow(addr, gps, cancel.clone()));
    }
    let metrics_listen = cfg.metrics_listen.clone();
    let session = Session::new(cfg, sup.clone())?;
    if let Some(m) = metrics_listen {
        camplane_agent::metrics::serve(&m, sup.clone(), Some(session.clone()), cancel.clone())
            .await?;
    }
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
