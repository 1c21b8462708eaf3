//! How many 1080p30 streams this machine records at once with nothing lost
//! (issue 4; target >= 16 on the 2-core site box).
//!
//! Before anything is timed, the FFmpeg CLI encodes one 1920x1080 30 fps H.264
//! clip (x264 veryfast, High profile with B-frames, fixed 1 s GOP: `-g 30
//! -keyint_min 30 -sc_threshold 0`, ~5 Mbit/s of noisy test pattern so the
//! bitrate is camera-like; cached under CARGO_TARGET_TMPDIR). One GStreamer RTSP
//! server process (tests/support/rtsp_server.py) serves N copies of it as is
//! (`/c0=mp4:CLIP` ... `/cN-1`; no encoding during the bench), in real time,
//! each client from the start of the file. An in-process [`Supervisor`] records
//! all N over RTSP/TCP into 2 s MPEG-TS segments until each stream ends.
//!
//! "Nothing lost": for every camera, the video packets (= frames) in its indexed
//! segments, counted by `ffprobe -count_packets` on each segment, equal the
//! frames the server sent minus the agent's one deliberate skip. The skip: the
//! first RTSP packet of a connection has no timestamp and is dropped, and the
//! packet after it may be the rest of that picture, so recording starts at the
//! second IDR of each connection (see `ingest::Coalescer`). The clip's first
//! two keyframes are at decode positions 0 and k (k = 30 here), and every frame
//! from k on must be in the recording: expected = frames - k, exactly. A count
//! above that is reported as a mismatch too (it would mean the accounting is wrong).
//!
//! For each N (default 1,4,8,12,16,20,24; `CAMPLANE_BENCH_STREAMS=4,8` to pick;
//! stops at the first N that loses anything): frames expected vs recorded per
//! stream (min/max), the agent's CPU (utime+stime of this process from
//! /proc/self/stat, over the wall time from start to the last stream's end),
//! the RTSP server's CPU (its /proc/PID/stat), the rest of the machine (all busy
//! CPU from /proc/stat minus those two: other users of a shared box), steal
//! time, and /proc/loadavg. CPU% is of one core: this box has `nproc` cores, so
//! its ceiling is nproc x 100%. A one-stream baseline `ffmpeg -rtsp_transport
//! tcp -i URL -c copy -f segment -segment_time 2` runs first, same clip.
//!
//! Reconnect backoff is set to 60 s so that a camera whose stream ended does not
//! reconnect (and record the clip a second time) while the others finish.
//!
//! Run: `cargo bench -p camplane-agent --bench streams` (~5 min; the clip
//! encode, ~30 s, only on the first run). First result (2-core VM shared with a
//! CI run, loadavg 6-8, the rest of the machine using 170-200% of its 200%):
//! 1, 4, ..., 24 streams all recorded 570/570 frames per stream; the agent used
//! ~0.75% of a core per stream (17.8% at 24), the RTSP server ~0.6% per stream
//! (14.1% at 24); ffmpeg `-c copy -f segment` used 1.1% for one stream. Largest
//! N with nothing lost: 24, the top of the default steps (target >= 16).
//! `CAMPLANE_BENCH_STREAMS=32,48,64`, same box and load: 32 and 48 recorded
//! 570/570 on every stream (agent 28% / 32%, server 17% / 25%); at 64, 56
//! streams recorded 570/570 but 8 connections failed at RTSP open ("Invalid
//! data found when processing input", failures=1) when all 64 connected to the
//! one Python server at once; with the bench's 60 s backoff they never retried,
//! so that step counts as lost. Counting takes ~1.5 s of ffprobe per stream.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use camplane_agent::ingest::IngestOptions;
use camplane_agent::retention::StatvfsProbe;
use camplane_agent::*;
use camplane_testkit::{media::*, servers::*};

const SIZE: &str = "1920x1080";
const FPS: u32 = 30;
const CLIP_SECS: u32 = 20;
const SEGMENT_SECS: u32 = 2;

fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process (all its threads), in clock ticks.
fn proc_ticks(pid: &str) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some(i) = s.rfind(')') else { return 0.0 };
    let f: Vec<&str> = s[i + 2..].split(' ').collect();
    // fields 14 and 15 (utime, stime) are at 11 and 12 after the comm field
    f.get(11).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0)
}

/// Whole machine from /proc/stat: (busy ticks, steal ticks), all cores.
fn sys_ticks() -> (f64, f64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<f64> = s
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 8 {
        return (0.0, 0.0);
    }
    // user nice system idle iowait irq softirq steal
    let busy = v[0] + v[1] + v[2] + v[5] + v[6];
    (busy, v[7])
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// CPU counters at one instant.
struct Sample {
    at: Instant,
    me: f64,
    server: f64,
    sys: (f64, f64),
}

impl Sample {
    fn take(server_pid: u32) -> Self {
        Sample {
            at: Instant::now(),
            me: proc_ticks("self"),
            server: proc_ticks(&server_pid.to_string()),
            sys: sys_ticks(),
        }
    }
}

/// Percent of one core over an interval: (me, server, rest of machine, steal, wall s).
fn usage(a: &Sample, b: &Sample, tck: f64) -> (f64, f64, f64, f64, f64) {
    let wall = (b.at - a.at).as_secs_f64();
    let pct = |t: f64| 100.0 * t / tck / wall;
    let me = pct(b.me - a.me);
    let server = pct(b.server - a.server);
    let all = pct(b.sys.0 - a.sys.0);
    (
        me,
        server,
        (all - me - server).max(0.0),
        pct(b.sys.1 - a.sys.1),
        wall,
    )
}

/// One RTSP server serving `clip` on `n` mounts, `/c0` …
fn serve(clip: &Path, n: usize) -> RtspServer {
    let mounts: Vec<String> = (0..n)
        .map(|i| format!("/c{i}=mp4:{}", clip.display()))
        .collect();
    let mounts: Vec<&str> = mounts.iter().map(String::as_str).collect();
    RtspServer::start(free_port(), &mounts)
}

/// The clip, and where its first two keyframes are in decode order.
struct Clip {
    path: PathBuf,
    frames: u64,
    second_key: u64,
    kbps: u64,
    profile: String,
    b_frames: String,
}

fn make_clip() -> Clip {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("streams-{SIZE}-{FPS}-{CLIP_SECS}s-g{FPS}-v1.mp4"));
    let analyse = |p: &Path| -> Option<Clip> {
        let o = Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-select_streams",
                "v:0",
                "-show_entries",
                "packet=flags:stream=profile,has_b_frames,width,height:format=bit_rate",
                "-of",
                "default=noprint_wrappers=1",
            ])
            .arg(p)
            .output()
            .ok()?;
        if !o.status.success() {
            return None;
        }
        let text = String::from_utf8_lossy(&o.stdout);
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .unwrap_or("")
                .to_string()
        };
        let flags: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("flags="))
            .collect();
        let keys: Vec<usize> = flags
            .iter()
            .enumerate()
            .filter(|(_, f)| f.starts_with('K'))
            .map(|(i, _)| i)
            .collect();
        if format!("{}x{}", get("width"), get("height")) != SIZE
            || flags.len() as u32 != FPS * CLIP_SECS
            || keys.len() < 2
            || keys[0] != 0
        {
            return None;
        }
        Some(Clip {
            path: p.to_path_buf(),
            frames: flags.len() as u64,
            second_key: keys[1] as u64,
            kbps: get("bit_rate").parse::<u64>().unwrap_or(0) / 1000,
            profile: get("profile"),
            b_frames: get("has_b_frames"),
        })
    };
    if let Some(c) = analyse(&path) {
        return c;
    }
    let t = Instant::now();
    let tmp = dir.join("streams-clip.tmp.mp4");
    let g = FPS.to_string();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc2=size={SIZE}:rate={FPS}"),
        "-t",
        &CLIP_SECS.to_string(),
        // Temporal noise: without it the test pattern compresses to a few
        // hundred kbit/s, far below a real camera.
        "-vf",
        "noise=alls=10:allf=t",
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-g",
        &g,
        "-keyint_min",
        &g,
        "-sc_threshold",
        "0",
        "-b:v",
        "5M",
        "-maxrate",
        "6M",
        "-bufsize",
        "10M",
        tmp.to_str().unwrap(),
    ]);
    std::fs::rename(&tmp, &path).unwrap();
    eprintln!(
        "encoded the clip in {:.1} s (not timed)",
        t.elapsed().as_secs_f64()
    );
    analyse(&path).expect("generated clip has the wrong shape")
}

/// One step's results.
struct Step {
    n: usize,
    expected: u64,
    min: u64,
    max: u64,
    bad: Vec<String>,
    agent: f64,
    server: f64,
    other: f64,
    steal: f64,
    wall: f64,
    load: String,
    probe_s: f64,
}

fn record_step(clip: &Clip, n: usize, tck: f64) -> Step {
    let srv = serve(&clip.path, n);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let sup = Supervisor::new(
        SupervisorOptions {
            root: root.clone(),
            ingest: IngestOptions {
                // No second session after the clip ends (it would record the clip again).
                backoff_base: Duration::from_secs(60),
                backoff_max: Duration::from_secs(60),
                ..Default::default()
            },
            disk: DiskPolicy {
                min_free_bytes: 0,
                min_free_percent: 0.0,
            },
        },
        Arc::new(SystemClock),
        Arc::new(StatvfsProbe { path: root.clone() }),
    )
    .unwrap();
    let ids: Vec<String> = (0..n).map(|i| format!("c{i:02}")).collect();
    let cams: Vec<CameraConfig> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mut c = CameraConfig::new(id, srv.url(&format!("/c{i}")));
            c.segment_seconds = SEGMENT_SECS;
            c
        })
        .collect();
    let a = Sample::take(srv.pid());
    sup.reconcile(cams, vec![]);
    // Each stream ends when the server has sent the whole clip and closes it.
    let limit = Duration::from_secs(u64::from(CLIP_SECS) + 40);
    loop {
        let h = sup.health();
        let done = h.cameras.len() == n
            && h.cameras
                .iter()
                .all(|c| matches!(c.state, CameraState::Offline | CameraState::Stopped));
        if done || a.at.elapsed() > limit {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let b = Sample::take(srv.pid());
    let load = loadavg();
    let health = sup.health();
    let counted: Vec<u64> = ids
        .iter()
        .map(|id| sup.packets_recorded(id).unwrap_or(0))
        .collect();
    sup.shutdown();
    drop(srv);
    let (agent, server, other, steal, wall) = usage(&a, &b, tck);

    let expected = clip.frames - clip.second_key;
    let t = Instant::now();
    let idx = sup.index();
    let g = idx.lock().unwrap();
    let mut bad = Vec::new();
    let (mut min, mut max) = (u64::MAX, 0);
    for (i, id) in ids.iter().enumerate() {
        let segs = g.segments(id);
        let mut frames = 0;
        for e in segs {
            let p = g.segment_path(id, e);
            match probe(&p) {
                Some(pr) => frames += pr.packets,
                None => bad.push(format!("{id}: unreadable segment {}", p.display())),
            }
        }
        let on_disk = std::fs::read_dir(g.camera_dir(id))
            .map(|d| d.flatten().count())
            .unwrap_or(0);
        min = min.min(frames);
        max = max.max(frames);
        let c = &health.cameras[i];
        if frames != expected || counted[i] != frames || on_disk != segs.len() {
            bad.push(format!(
                "{id}: {frames} frames in {} indexed segments ({on_disk} files), agent counted {}, \
                 expected {expected}; state {:?}, reconnects {}, failures {}, last error {:?}",
                segs.len(),
                counted[i],
                c.state,
                c.reconnects,
                c.failures,
                c.last_error
            ));
        }
    }
    Step {
        n,
        expected,
        min,
        max,
        bad,
        agent,
        server,
        other,
        steal,
        wall,
        load,
        probe_s: t.elapsed().as_secs_f64(),
    }
}

/// One stream recorded by `ffmpeg -c copy -f segment`: (cpu %, server cpu %, frames, wall s).
fn ffmpeg_baseline(clip: &Clip, tck: f64) -> (f64, f64, u64, f64) {
    let srv = serve(&clip.path, 1);
    let dir = tempfile::tempdir().unwrap();
    let s0 = proc_ticks(&srv.pid().to_string());
    let t = Instant::now();
    let o = Command::new("/usr/bin/time")
        .args([
            "-f",
            "CPU %U %S",
            "ffmpeg",
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-i",
        ])
        .arg(srv.url("/c0"))
        // Output seek past the first, untimestamped RTSP packet: without it
        // ffmpeg 5.1 stops at once ("first pts and dts value must be set").
        .args([
            "-ss",
            "0.01",
            "-c",
            "copy",
            "-f",
            "segment",
            "-segment_time",
        ])
        .arg(SEGMENT_SECS.to_string())
        .arg(dir.path().join("%03d.ts"))
        .output()
        .expect("the ffmpeg baseline needs /usr/bin/time and ffmpeg: run deploy/install-deps.sh");
    let wall = t.elapsed().as_secs_f64();
    let server = 100.0 * (proc_ticks(&srv.pid().to_string()) - s0) / tck / wall;
    drop(srv);
    let err = String::from_utf8_lossy(&o.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("CPU "))
        .unwrap_or_else(|| panic!("ffmpeg baseline: {err}"));
    let v: Vec<f64> = line[4..].split(' ').map(|x| x.parse().unwrap()).collect();
    let frames = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter_map(|d| probe(&d.path()))
        .map(|p| p.packets)
        .sum();
    (100.0 * (v[0] + v[1]) / wall, server, frames, wall)
}

fn main() {
    require_tools();
    let t_all = Instant::now();
    let steps: Vec<usize> = std::env::var("CAMPLANE_BENCH_STREAMS")
        .unwrap_or_else(|_| "1,4,8,12,16,20,24".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("CAMPLANE_BENCH_STREAMS: numbers, comma-separated")
        })
        .collect();
    let tck = clk_tck();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let clip = make_clip();
    println!(
        "clip: {} frames {SIZE} {FPS} fps H.264 {} (B-frames: has_b_frames={}), {} kbit/s, keyframes every {} frames",
        clip.frames, clip.profile, clip.b_frames, clip.kbps, clip.second_key
    );
    println!(
        "expected per stream: {} sent - {} before the second IDR (first GOP of each connection skipped by design) = {}",
        clip.frames,
        clip.second_key,
        clip.frames - clip.second_key
    );
    println!("machine: {cores} cores, loadavg before: {}", loadavg());

    let (ff_cpu, ff_srv, ff_frames, ff_wall) = ffmpeg_baseline(&clip, tck);
    println!(
        "baseline, 1 stream, ffmpeg -rtsp_transport tcp -c copy -f segment: cpu {ff_cpu:.1}% of a core, \
         RTSP server {ff_srv:.1}%, {ff_frames} frames of {} recorded, wall {ff_wall:.1} s, loadavg {}",
        clip.frames,
        loadavg()
    );

    let mut results = Vec::new();
    for &n in &steps {
        let s = record_step(&clip, n, tck);
        println!(
            "N={:<2}: frames/stream expected {} recorded min {} max {}; agent {:.1}% ({:.2}%/stream), \
             server {:.1}%, rest of machine {:.1}%, steal {:.1}%; wall {:.1} s; loadavg {}; probe {:.1} s; {}",
            s.n,
            s.expected,
            s.min,
            s.max,
            s.agent,
            s.agent / s.n as f64,
            s.server,
            s.other,
            s.steal,
            s.wall,
            s.load,
            s.probe_s,
            if s.bad.is_empty() { "nothing lost" } else { "MISMATCH" }
        );
        for b in &s.bad {
            println!("    {b}");
        }
        let lost = !s.bad.is_empty();
        results.push(s);
        if lost {
            break;
        }
    }

    println!();
    println!("CPU % of one core ({cores} cores = {}%); agent = this process (utime+stime), server = the one GStreamer RTSP server process", cores * 100);
    println!(
        "{:>3} | {:>8} | {:>12} | {:>8} | {:>10} | {:>9} | {:>8} | {:>6} | {:>6} | {:>14} | result",
        "N",
        "expected",
        "recorded min",
        "agent %",
        "agent %/st",
        "server %",
        "other %",
        "steal%",
        "wall s",
        "loadavg"
    );
    for s in &results {
        println!(
            "{:>3} | {:>8} | {:>12} | {:>8.1} | {:>10.2} | {:>9.1} | {:>8.1} | {:>6.1} | {:>6.1} | {:>14} | {}",
            s.n,
            s.expected,
            s.min,
            s.agent,
            s.agent / s.n as f64,
            s.server,
            s.other,
            s.steal,
            s.wall,
            s.load,
            if s.bad.is_empty() { "nothing lost" } else { "LOST / MISMATCH" }
        );
    }
    println!(
        "ffmpeg -c copy -f segment, 1 stream: {ff_cpu:.1}% of a core (server {ff_srv:.1}%), {ff_frames}/{} frames",
        clip.frames
    );
    let best = results
        .iter()
        .take_while(|s| s.bad.is_empty())
        .map(|s| s.n)
        .last();
    let first_loss = results.iter().find(|s| !s.bad.is_empty()).map(|s| s.n);
    match (best, first_loss) {
        (Some(n), Some(l)) => println!("largest N with nothing lost: {n} x 1080p30 (N={l} lost or mismatched)"),
        (Some(n), None) => println!("largest N with nothing lost: {n} x 1080p30 (every step passed: the limit is at or above {n})"),
        (None, _) => println!("largest N with nothing lost: none of the steps tried"),
    }
    println!(
        "loadavg after: {}; total bench time {:.0} s",
        loadavg(),
        t_all.elapsed().as_secs_f64()
    );
}
