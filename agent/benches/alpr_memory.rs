//! The agent's resident memory with 4 ALPR cameras (issue 21: at most 250 MB), beside
//! its baseline in the same run: the same 4 cameras recorded without ALPR.
//!
//! Each phase runs in its own child process (this binary re-executed with
//! `ALPR_MEM_PHASE=record|alpr`) so neither inherits the other's heap. A child
//! renders nothing itself: the parent renders one 1280x720 25 fps clip of plates
//! driving past (the test clip), one GStreamer RTSP server serves it on 4 mounts,
//! and an in-process [`Supervisor`] records the 4 cameras (and, in the ALPR phase,
//! decodes and reads them at `alpr_fps`, 2 by default like the agent) for
//! `ALPR_MEM_SECONDS` (default 40; the clip replays on reconnect). The child
//! samples VmRSS every 200 ms and prints the median and the peak (VmHWM), with
//! frames and plates read.
//!
//! Run: `cargo bench -p camplane-agent --bench alpr_memory` (needs the models:
//! deploy/fetch-models.sh).

use camplane_testkit::process::status_kb;
use camplane_testkit::{media, servers};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use camplane_agent::alpr::site::AlprSiteOptions;
use camplane_agent::ingest::IngestOptions;
use camplane_agent::retention::StatvfsProbe;
use camplane_agent::{CameraConfig, DiskPolicy, Supervisor, SupervisorOptions, SystemClock};

const CAMERAS: usize = 4;

fn phase(alpr: bool, clip: &str, seconds: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mounts: Vec<String> = (0..CAMERAS).map(|i| format!("/c{i}=mp4:{clip}")).collect();
    let mounts: Vec<&str> = mounts.iter().map(String::as_str).collect();
    let srv = servers::RtspServer::start(servers::free_port(), &mounts);
    let root = dir.path().join("rec");
    let sup = Supervisor::new(
        SupervisorOptions {
            root: root.clone(),
            ingest: IngestOptions {
                backoff_base: Duration::from_millis(200),
                backoff_max: Duration::from_secs(1),
                ..Default::default()
            },
            disk: DiskPolicy {
                min_free_bytes: 0,
                min_free_percent: 0.0,
            },
        },
        Arc::new(SystemClock),
        Arc::new(StatvfsProbe { path: root }),
    )
    .unwrap();
    let fps: f64 = std::env::var("ALPR_MEM_FPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    sup.set_alpr_options(AlprSiteOptions {
        fps,
        ..Default::default()
    });
    let cams = (0..CAMERAS)
        .map(|i| {
            let mut c = CameraConfig::new(format!("c{i}"), srv.url(&format!("/c{i}")));
            c.segment_seconds = 2;
            c.alpr = alpr;
            c
        })
        .collect();
    let before = status_kb("VmRSS:");
    let r = sup.reconcile(cams, vec![]);
    assert!(r.rejected.is_empty(), "{r:?}");
    let mut samples = Vec::new();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_millis(200));
        samples.push(status_kb("VmRSS:"));
    }
    let h = sup.health();
    sup.shutdown();
    samples.sort_unstable();
    let median = samples[samples.len() / 2];
    let (frames, plates) = h
        .cameras
        .iter()
        .filter_map(|c| c.alpr.as_ref())
        .fold((0, 0), |(f, p), a| (f + a.frames_read, p + a.plates_read));
    let online = h.cameras.iter().filter(|c| c.segments_written > 0).count();
    println!(
        "RESULT start_kb={before} median_kb={median} peak_kb={} frames_read={frames} plates_read={plates} cameras_recording={online}",
        status_kb("VmHWM:")
    );
}

fn field(line: &str, k: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{k}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let seconds: u64 = std::env::var("ALPR_MEM_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    if let Ok(p) = std::env::var("ALPR_MEM_PHASE") {
        let clip = std::env::var("ALPR_MEM_CLIP").unwrap();
        phase(p == "alpr", &clip, seconds);
        return;
    }
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    servers::require_tools();
    let models = camplane_agent::alpr::models::resolve_dir(None);
    camplane_agent::alpr::models::verify(&models)
        .unwrap_or_else(|e| panic!("ALPR models not ready: {e}; run deploy/fetch-models.sh"));
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("plates.mp4");
    media::render_plates(&clip);
    let me = std::env::current_exe().unwrap();
    let mut out = Vec::new();
    for p in ["record", "alpr"] {
        let o = Command::new(&me)
            .env("ALPR_MEM_PHASE", p)
            .env("ALPR_MEM_CLIP", &clip)
            .env("CAMPLANE_MODELS", &models)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        let line = text
            .lines()
            .find(|l| l.starts_with("RESULT"))
            .unwrap_or_else(|| {
                panic!(
                    "phase {p} failed: {text}\n{}",
                    String::from_utf8_lossy(&o.stderr)
                )
            })
            .to_string();
        out.push(line);
    }
    let mb = |kb: u64| kb as f64 / 1024.0;
    println!(
        "agent resident memory, {CAMERAS} cameras 1280x720 25 fps over RTSP, {seconds} s each (median of 200 ms samples / peak VmHWM):"
    );
    for (name, l) in [
        ("recording only (baseline)", &out[0]),
        ("recording + ALPR", &out[1]),
    ] {
        println!(
            "  {name:<26} median {:>7.1} MB  peak {:>7.1} MB  frames read {:>4}  plates read {:>3}  cameras recording {}",
            mb(field(l, "median_kb")),
            mb(field(l, "peak_kb")),
            field(l, "frames_read"),
            field(l, "plates_read"),
            field(l, "cameras_recording"),
        );
    }
    let peak = mb(field(&out[1], "peak_kb"));
    println!(
        "  ALPR adds {:.1} MB at peak (x{:.2} of the baseline); target: peak at most 250 MB (issue 21; 1024 MB in issue 5): {}",
        peak - mb(field(&out[0], "peak_kb")),
        peak / mb(field(&out[0], "peak_kb")).max(1.0),
        if peak <= 250.0 { "met" } else { "MISSED" }
    );
}
