//! The gateway's cost of reading video (issue 21): 4 ALPR cameras, 1280x720 at 25
//! fps, read at 2 frames/s, a traffic clip with plates driving past. Target: the
//! agent's CPU at most 0.5 core with every plate in the clip read once per camera.
//!
//! The parent renders the clip (FFmpeg only; fonts-dejavu-core): a still, textured
//! background (blurred noise, like asphalt) with sensor noise on every frame, and
//! [`PLATES`]: vehicles (a dark box) carrying white plates with black text, of 7
//! sizes (characters about 13 to 52 px high), at different speeds (50 to 330 px/s)
//! and directions, entering and leaving the frame, some at once. One GStreamer RTSP
//! server serves it on 4 mounts; the clip ends (and replays on reconnect) after
//! [`CLIP_S`] s, so a camera watched for `ALPR_VIDEO_SECONDS` (default CLIP_S + 2.5)
//! sees it once.
//!
//! Four phases, each in its own child process (this binary re-executed with
//! `ALPR_VIDEO_PHASE`), each an in-process [`Supervisor`] with the 4 cameras:
//! - `record`: recording only (what the gateway pays without ALPR);
//! - `decode`: recording + ALPR decoding and sampling, with models that do not load;
//! - `images`: recording + ALPR as before video reading: every sampled frame read
//!   whole (motion gating and track re-look off) by the float models, the baseline;
//! - `video`: recording + ALPR with motion gating and track re-look, at the shipped
//!   precision (`models::SHIPPED_PRECISION`, mixed: the int8 detector for the first look, the
//!   float models for the rest), the default;
//! - `video-fp32`: `video` with `alpr_precision: fp32` (the float models alone).
//!
//! Each prints the process's CPU (utime + stime from /proc/self/stat, the same
//! figure as getrusage(RUSAGE_SELF)) over the wall time, as cores; frames read and
//! dropped, detector calls (whole frames or windows), still frames skipped; plates
//! rendered against plates stored per camera: read once (exact text), missed, read
//! more than once (duplicates), and other texts stored; and the peak resident
//! memory (VmHWM).
//!
//! Run: `cargo bench -p camplane-agent --bench alpr_video` (needs the models:
//! deploy/fetch-models.sh).

use camplane_testkit::process::status_kb;
use camplane_testkit::servers;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use camplane_agent::alpr::models::Precision;
use camplane_agent::alpr::site::AlprSiteOptions;
use camplane_agent::ingest::IngestOptions;
use camplane_agent::retention::StatvfsProbe;
use camplane_agent::{CameraConfig, DiskPolicy, Supervisor, SupervisorOptions, SystemClock};

const CAMERAS: usize = 4;

/// The clip's length, s: the last plate leaves at 40 s; 3 s of empty road after.
const CLIP_S: f64 = 43.0;

/// One plate driving past: text, font size (px; the plate is 5 x 1.67 of it, as
/// deploy/render-plates.sh's 72 px on 360 x 120), on screen from `t0` to `t1` s,
/// its top-left corner going from (x0, y0) to (x1, y1) in that time, and the
/// vehicle's colour.
struct Plate {
    text: &'static str,
    size: u32,
    t0: f64,
    t1: f64,
    from: (f64, f64),
    to: (f64, f64),
    body: &'static str,
}

const fn p(
    text: &'static str,
    size: u32,
    t: (f64, f64),
    from: (f64, f64),
    to: (f64, f64),
    body: &'static str,
) -> Plate {
    Plate {
        text,
        size,
        t0: t.0,
        t1: t.1,
        from,
        to,
        body,
    }
}

/// The clip's plates, in the US 3-letter 4-digit and California formats.
const PLATES: [Plate; 12] = [
    p(
        "ABC1234",
        72,
        (2.0, 7.0),
        (-360.0, 400.0),
        (1280.0, 380.0),
        "0x202428",
    ),
    p(
        "XYZ9876",
        56,
        (4.0, 12.0),
        (1280.0, 150.0),
        (-280.0, 150.0),
        "0x7a1c1c",
    ),
    p(
        "KLM4455",
        44,
        (8.0, 14.0),
        (-220.0, 560.0),
        (1280.0, 560.0),
        "0x1c3a7a",
    ),
    p(
        "7TRK482",
        36,
        (11.0, 21.0),
        (200.0, 720.0),
        (900.0, 250.0),
        "0x303030",
    ),
    p(
        "GHW2381",
        28,
        (14.0, 20.0),
        (1280.0, 300.0),
        (-140.0, 300.0),
        "0x5a5a20",
    ),
    p(
        "DPN5567",
        22,
        (17.0, 25.0),
        (-110.0, 470.0),
        (1280.0, 480.0),
        "0x202428",
    ),
    p(
        "RTZ8841",
        64,
        (21.0, 26.0),
        (-320.0, 90.0),
        (1280.0, 100.0),
        "0x1c5a3a",
    ),
    p(
        "MVC3092",
        18,
        (24.0, 32.0),
        (1280.0, 620.0),
        (-90.0, 620.0),
        "0x7a1c1c",
    ),
    p(
        "FJK7710",
        40,
        (27.0, 37.0),
        (300.0, 200.0),
        (800.0, 200.0),
        "0x1c3a7a",
    ),
    p(
        "WPL6624",
        50,
        (30.0, 36.0),
        (-250.0, 440.0),
        (1280.0, 450.0),
        "0x303030",
    ),
    p(
        "HNX1958",
        32,
        (33.0, 39.0),
        (1280.0, 330.0),
        (-160.0, 330.0),
        "0x5a5a20",
    ),
    p(
        "CSE4087",
        24,
        (34.0, 40.0),
        (-120.0, 570.0),
        (1280.0, 570.0),
        "0x202428",
    ),
];

/// The FFmpeg filter drawing one vehicle and its plate.
fn draw(pl: &Plate, font: &str) -> String {
    let (pw, ph) = (5 * pl.size, pl.size * 5 / 3);
    let d = pl.t1 - pl.t0;
    let x = format!(
        "({}+({})*(t-{})/{d})",
        pl.from.0,
        pl.to.0 - pl.from.0,
        pl.t0
    );
    let y = format!(
        "({}+({})*(t-{})/{d})",
        pl.from.1,
        pl.to.1 - pl.from.1,
        pl.t0
    );
    let en = format!("between(t,{},{})", pl.t0, pl.t1);
    // The vehicle's rear: 2.4 plates wide, 2.2 high, the plate low in the middle.
    let (bw, bh) = (pw * 12 / 5, ph * 11 / 5);
    let (bx, by) = (pw * 7 / 10, ph * 3 / 2);
    format!(
        "drawbox=x='{x}-{bx}':y='{y}-{by}':w={bw}:h={bh}:color={}:t=fill:enable='{en}',\
         drawbox=x='{x}':y='{y}':w={pw}:h={ph}:color=white:t=fill:enable='{en}',\
         drawtext=fontfile={font}:text={}:fontsize={}:fontcolor=black:x='{x}+{}':y='{y}+{}':enable='{en}'",
        pl.body,
        pl.text,
        pl.size,
        pl.size * 20 / 72,
        pl.size * 25 / 72,
    )
}

fn render(dir: &Path) -> std::path::PathBuf {
    let font = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";
    assert!(
        Path::new(font).exists(),
        "font {font} missing: apt-get install -y fonts-dejavu-core"
    );
    let bg = dir.join("road.png");
    let run = |args: &[&str]| {
        let o = Command::new("ffmpeg")
            .args(["-loglevel", "error", "-y"])
            .args(args)
            .output()
            .expect("ffmpeg runs");
        assert!(
            o.status.success(),
            "ffmpeg {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    // A still texture: uniform noise, blurred to grain about 3 px across.
    run(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=0x585e64:s=1280x720:d=1,noise=alls=60:allf=u,boxblur=2:1",
        "-frames:v",
        "1",
        bg.to_str().unwrap(),
    ]);
    let mut vf: Vec<String> = PLATES.iter().map(|p| draw(p, font)).collect();
    // Sensor noise, new on every frame.
    vf.push("noise=alls=6:allf=t+u".into());
    vf.push("format=yuv420p".into());
    let clip = dir.join("traffic.mp4");
    run(&[
        "-loop",
        "1",
        "-framerate",
        "25",
        "-t",
        &CLIP_S.to_string(),
        "-i",
        bg.to_str().unwrap(),
        "-vf",
        &vf.join(","),
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "25",
        clip.to_str().unwrap(),
    ]);
    clip
}

/// This process's CPU time so far (user + system), s: fields 14 and 15 of
/// /proc/self/stat, in clock ticks (100 per second on Linux).
fn cpu_s() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // rest starts at field 3 (state): utime is field 14, stime 15.
    (f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)) as f64 / 100.0
}

fn phase(name: &str, clip: &str, seconds: f64) {
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
    let mut opts = AlprSiteOptions::default();
    if name == "decode" {
        // Models that do not load: frames are decoded and sampled, never read.
        opts.models = Some(dir.path().join("no-models"));
    }
    if name == "video-fp32" {
        opts.precision = Precision::Fp32;
    }
    if name == "images" {
        // The pipeline before video reading: the float models, every frame whole.
        opts.precision = Precision::Fp32;
        opts.motion = None;
        opts.track_relook = false;
    }
    sup.set_alpr_options(opts);
    let cams = (0..CAMERAS)
        .map(|i| {
            let mut c = CameraConfig::new(format!("c{i}"), srv.url(&format!("/c{i}")));
            c.segment_seconds = 2;
            c.alpr = name != "record";
            c
        })
        .collect();
    let (c0, t0) = (cpu_s(), Instant::now());
    let r = sup.reconcile(cams, vec![]);
    assert!(r.rejected.is_empty(), "{r:?}");
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let h = sup.health();
    sup.shutdown();
    let (cpu, wall) = (cpu_s() - c0, t0.elapsed().as_secs_f64());
    let sum = |f: &dyn Fn(&camplane_agent::health::AlprHealth) -> u64| -> u64 {
        h.cameras
            .iter()
            .filter_map(|c| c.alpr.as_ref())
            .map(f)
            .sum()
    };
    let (mut once, mut missed, mut dup, mut other) = (0, 0, 0, Vec::new());
    let mut missed_texts = Vec::new();
    let reads = sup.reads();
    let (from, until) = (jiff::Timestamp::MIN, jiff::Timestamp::MAX);
    for i in 0..CAMERAS {
        let got = reads.list(&format!("c{i}"), from, until);
        if std::env::var_os("ALPR_VIDEO_VERBOSE").is_some() {
            let t0 = got.iter().map(|r| r.first).min();
            for r in &got {
                let s = |t: jiff::Timestamp| t0.map_or(0.0, |z| t.duration_since(z).as_secs_f64());
                eprintln!(
                    "c{i} {:<8} {:>5.1}..{:>5.1} s frames {:>2} box {:?}",
                    r.plate,
                    s(r.first),
                    s(r.last),
                    r.frames,
                    r.bbox
                );
            }
        }
        for pl in &PLATES {
            match got.iter().filter(|r| r.plate == pl.text).count() {
                0 => {
                    missed += 1;
                    missed_texts.push(pl.text);
                }
                1 => once += 1,
                n => dup += n - 1,
            }
        }
        other.extend(
            got.iter()
                .filter(|r| !PLATES.iter().any(|p| p.text == r.plate))
                .map(|r| r.plate.clone()),
        );
    }
    let online = h.cameras.iter().filter(|c| c.segments_written > 0).count();
    println!(
        "RESULT cpu_s={cpu:.2} wall_s={wall:.2} frames_read={} frames_dropped={} detector_calls={} frames_still={} once={once} missed={missed} duplicates={dup} other={} peak_kb={} cameras_recording={online} missed_texts={} other_texts={}",
        sum(&|a| a.frames_read),
        sum(&|a| a.frames_dropped),
        sum(&|a| a.detector_calls),
        sum(&|a| a.frames_still),
        other.len(),
        status_kb("VmHWM:"),
        missed_texts.join(","),
        other.join(","),
    );
}

fn field(line: &str, k: &str) -> f64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{k}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn main() {
    let seconds: f64 = std::env::var("ALPR_VIDEO_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CLIP_S + 2.5);
    if let Ok(p) = std::env::var("ALPR_VIDEO_PHASE") {
        let clip = std::env::var("ALPR_VIDEO_CLIP").unwrap();
        phase(&p, &clip, seconds);
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
    let clip = render(dir.path());
    let me = std::env::current_exe().unwrap();
    let phases: Vec<String> = std::env::var("ALPR_VIDEO_PHASES")
        .unwrap_or_else(|_| "record,decode,images,video,video-fp32".into())
        .split(',')
        .map(str::to_string)
        .collect();
    let mut out = Vec::new();
    for p in &phases {
        let o = Command::new(&me)
            .env("ALPR_VIDEO_PHASE", p)
            .env("ALPR_VIDEO_CLIP", &clip)
            .env("CAMPLANE_MODELS", &models)
            .stderr(std::process::Stdio::inherit())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        let line = text
            .lines()
            .find(|l| l.starts_with("RESULT"))
            .unwrap_or_else(|| panic!("phase {p} failed (its errors above): {text}"))
            .to_string();
        out.push((p.clone(), line));
    }
    let rendered = PLATES.len() * CAMERAS;
    println!(
        "{CAMERAS} cameras 1280x720 25 fps over RTSP, ALPR at 2 frames/s, {:.0} s each; {} plates rendered per camera ({rendered} in all), characters 13-52 px:",
        seconds,
        PLATES.len()
    );
    fn label(p: &str) -> &str {
        match p {
            "record" => "recording only",
            "decode" => "ALPR decoding and sampling only",
            "images" => "ALPR, every frame whole (before)",
            "video" => "ALPR, motion-gated (now, mixed)",
            "video-fp32" => "ALPR, motion-gated, fp32",
            other => other,
        }
    }
    let mut cores = std::collections::HashMap::new();
    for (p, l) in &out {
        let c = field(l, "cpu_s") / field(l, "wall_s").max(1e-3);
        cores.insert(p.clone(), c);
        println!(
            "  {:<34} CPU {:>5.3} cores ({:>6.1} s / {:>5.1} s)  peak {:>6.1} MB  cameras recording {}",
            label(p),
            c,
            field(l, "cpu_s"),
            field(l, "wall_s"),
            field(l, "peak_kb") / 1024.0,
            field(l, "cameras_recording"),
        );
        if p != "record" && p != "decode" {
            println!(
                "  {:<34} frames read {:>4} (dropped {:>3}, still {:>3}), detector calls {:>4}; plates read once {:>2}/{rendered}, missed {:>2}, duplicates {:>2}, other texts {:>2}",
                "",
                field(l, "frames_read"),
                field(l, "frames_dropped"),
                field(l, "frames_still"),
                field(l, "detector_calls"),
                field(l, "once"),
                field(l, "missed"),
                field(l, "duplicates"),
                field(l, "other"),
            );
            for (k, says) in [("missed_texts", "missed"), ("other_texts", "other texts")] {
                if let Some(t) = l
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix(&format!("{k}=")))
                {
                    if !t.is_empty() {
                        println!("  {:<34} {says}: {t}", "");
                    }
                }
            }
        }
    }
    // What reading (less decoding) costs per frame read, and what a camera set would
    // cost with none dropped (the reader thread keeps up): the baseline drops most
    // sampled frames on a busy machine, which lowers its measured CPU.
    let dec = out
        .iter()
        .find(|(p, _)| p == "decode")
        .map(|(_, l)| field(l, "cpu_s"));
    if let Some(dec) = dec {
        for (p, l) in out
            .iter()
            .filter(|(p, _)| p == "images" || p.starts_with("video"))
        {
            let read = (field(l, "cpu_s") - dec).max(0.0);
            let frames = field(l, "frames_read").max(1.0);
            let all = frames + field(l, "frames_dropped");
            let wall = field(l, "wall_s").max(1e-3);
            println!(
                "  {:<34} reading {:>5.1} CPU ms per frame read; with no frame dropped: {:.3} cores",
                label(p),
                1000.0 * read / frames,
                (dec + read / frames * all) / wall
            );
        }
    }
    if let (Some(v), Some(i)) = (cores.get("video"), cores.get("images")) {
        let rec = cores.get("record").copied().unwrap_or(0.0);
        println!(
            "  motion-gated / every frame: x{:.2} of the CPU; reading alone (less recording): {:.3} vs {:.3} cores (x{:.2})",
            v / i.max(1e-9),
            v - rec,
            i - rec,
            (v - rec) / (i - rec).max(1e-9)
        );
    }
    for p in ["video", "video-fp32"] {
        let (Some(v), Some((_, l))) = (cores.get(p), out.iter().find(|(q, _)| q == p)) else {
            continue;
        };
        let all_once = field(l, "once") as usize == rendered && field(l, "duplicates") == 0.0;
        println!(
            "  target ({}): at most 0.5 core with every plate read once: {:.3} cores, {}: {}",
            label(p),
            v,
            if all_once {
                "every plate read once"
            } else {
                "NOT every plate read once"
            },
            if *v <= 0.5 && all_once {
                "met"
            } else {
                "MISSED"
            }
        );
    }
}
