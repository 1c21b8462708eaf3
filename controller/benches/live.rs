//! Live view through the controller, with real parts: a controller (embedded
//! store, TLS), a GStreamer RTSP camera (x264, 25 fps, 1 s GOP,
//! LIVE_BENCH_SIZE, default 640x360@4000: about 4 Mb/s of noise), and an in-process agent tapping it.
//!
//! Printed, each beside a baseline from the same run:
//! - request → first frame (`Viewing.Live` called → first fMP4 fragment in
//!   hand, each a cold start: the agent stream closed between runs), beside a
//!   direct RTSP open → first video packet (FFmpeg, what going around the
//!   controller costs);
//! - frame arrival at the agent (the ingest thread hands it to the tap) →
//!   delivered to the viewer, p50/p99 (frames matched by their bytes), beside
//!   arrival → a subscriber of the tap inside the agent (the agent's own part);
//! - LIVE_BENCH_VIEWERS (default 100) concurrent viewers on one controller for
//!   LIVE_BENCH_SECONDS (default 10): the same latency over all of them, the
//!   fragments they missed (slow viewers skip ahead), and the process's CPU
//!   and RSS beside one viewer's. Controller, agent and viewers share this
//!   process: the CPU and memory are theirs together.
//! - gateway CPU per stream (LIVE_BENCH_CPU_SECONDS each, default 10): the
//!   process's CPU with one unmasked viewer, then (the camera given a privacy
//!   mask, the left half of the top quarter) one masked viewer, each minus the
//!   same process with no viewer (recording only), and of the masked one the
//!   masker's own thread (`live-mask`); beside them the camera's ingest thread
//!   (what the gateway spends on the camera anyway) and the `ffmpeg` CLI doing
//!   the masked job on the same stream (decode + drawbox + libx264
//!   ultrafast/zerolatency, one thread each, as the masker): its CPU. The
//!   process figures hold the controller's relay and the viewer's reading too
//!   (all in this process): an upper bound of the gateway's part.
//!
//! LIVE_BENCH_PARTS (default `first,viewers,gateway`) picks the parts; the
//! issue's figure is for 1080p: `LIVE_BENCH_SIZE=1920x1080@4000`.
//!
//! `cargo bench -p camplane-controller --bench live`

use camplane_agent::control::Session;
use camplane_agent::live::TapMsg;
use camplane_proto::v1 as pb;
use camplane_testkit::{agent, controller as ctl, servers};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

// The controller binary's allocator, so the figures are the product's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn pct(v: &[Duration], p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    let mut v = v.to_vec();
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// The last 16 bytes of a frame's last NAL unit: the same in the camera's
/// access unit and in the fragment's sample.
fn tail(data: &[u8]) -> [u8; 16] {
    let mut e = data.len();
    while e > 0 && data[e - 1] == 0 {
        e -= 1;
    }
    let mut k = [0u8; 16];
    let s = e.saturating_sub(16);
    k[16 - (e - s)..].copy_from_slice(&data[s..e]);
    k
}

/// (CPU seconds, RSS bytes) of this process.
fn usage() -> (f64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    let rss = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0);
    (ticks / 100.0, rss * 1024)
}

type Arrivals = Arc<Mutex<HashMap<[u8; 16], Instant>>>;

/// Reads one viewer's stream for `until`, recording arrival → delivery of
/// each fragment; returns (latencies, bytes).
async fn watch(
    mut s: tonic::Streaming<pb::PlaybackChunk>,
    arrivals: Arrivals,
    until: Instant,
) -> (Vec<Duration>, u64) {
    let mut lat = Vec::new();
    let mut bytes = 0u64;
    while Instant::now() < until {
        let m = match tokio::time::timeout(Duration::from_secs(5), s.message()).await {
            Ok(Ok(Some(m))) => m,
            _ => break,
        };
        bytes += m.data.len() as u64;
        if m.data.len() > 8 && &m.data[4..8] == b"moof" {
            let now = Instant::now();
            if let Some(a) = arrivals.lock().unwrap().get(&tail(&m.data)) {
                lat.push(now.duration_since(*a));
            }
        }
    }
    (lat, bytes)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    servers::require_tools();
    let viewers = env("LIVE_BENCH_VIEWERS", 100);
    let seconds = env("LIVE_BENCH_SECONDS", 10) as u64;
    let runs = env("LIVE_BENCH_RUNS", 10);
    let size = std::env::var("LIVE_BENCH_SIZE").unwrap_or_else(|_| "640x360@4000".into());
    let parts =
        std::env::var("LIVE_BENCH_PARTS").unwrap_or_else(|_| "first,viewers,gateway".into());
    let part = |p: &str| parts.split(',').any(|x| x.trim() == p);
    let dir = tempfile::tempdir().unwrap();
    let dir_path = dir.path().canonicalize().unwrap();
    let port = servers::free_port();
    let mount = format!("/cam=live:{size}");
    let _cam = servers::RtspServer::start(port, &[&mount]);
    let ca = dir_path.join("ca.pem");
    let mut cfg = ctl::config_embedded(&dir_path.join("store"));
    cfg.tls.ca_cert_file = Some(ca.clone());
    let h = ctl::start(cfg, None).await;
    ctl::apply(&h, &h.admin, ctl::CITY).await.unwrap();
    let token = agent::enroll_token(&h, "city-hall").await;
    let url = format!("rtsp://127.0.0.1:{port}/cam");
    let assigned = ctl::CITY
        .replace(
            "  placement_request: req-1",
            "  placement_request: req-1\n  agent: city-hall-gw",
        )
        .replace("rtsp://127.0.0.1:8554/cam1", &url);
    ctl::apply(&h, &h.admin, &assigned).await.unwrap();
    let mgr = ctl::user(&h, "m", &["dept_manager"], "police").await;
    let chief = ctl::user(&h, "c", &["chief"], "police").await;
    let cm = ctl::user(&h, "cm", &["city_manager"], "").await;
    ctl::override_unchecked(&h, &chief, "req-1").await;
    for (who, action) in [(&mgr, "recommend"), (&chief, "recommend"), (&cm, "approve")] {
        ctl::act(&h, who, "req-1", action, "", "").await.unwrap();
    }
    ctl::camera(&h, &h.admin, "cam-1", "activate")
        .await
        .unwrap();
    let adir = dir_path.join("agent");
    let acfg = agent::config(h.running.addr.port(), &ca, &adir, &token.token);
    let sup = agent::supervisor(&adir);
    let session = Session::new(acfg, sup.clone()).unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(session.clone().run(stop.clone()));
    let t = Instant::now();
    let tap = loop {
        if let Some(t) = sup.live().get("cam-1") {
            if t.subscribe().is_ok() {
                break t;
            }
        }
        assert!(t.elapsed() < Duration::from_secs(60), "no picture");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let viewer = ctl::qualified_user(&h, "v-police", "viewer", "police").await;

    // The agent's own part: arrival → a subscriber of the tap.
    let arrivals: Arrivals = Arc::default();
    let inside: Arc<Mutex<Vec<Duration>>> = Arc::default();
    {
        let (_, _, mut rx) = tap.subscribe().unwrap();
        let (arrivals, inside) = (arrivals.clone(), inside.clone());
        tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                if let TapMsg::Frame(f) = m {
                    inside.lock().unwrap().push(f.arrived.elapsed());
                    let mut a = arrivals.lock().unwrap();
                    if a.len() > 10_000 {
                        a.clear();
                    }
                    a.insert(tail(&f.data), f.arrived);
                }
            }
        });
    }

    let channels: Vec<tonic::transport::Channel> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(ctl::channel(&h.running).await);
        }
        v
    };
    let open = |i: usize| {
        let mut c = pb::viewing_client::ViewingClient::new(channels[i % channels.len()].clone())
            .max_decoding_message_size(camplane_proto::limits::MEDIA_MAX_MESSAGE);
        let r = ctl::req(
            &viewer,
            pb::LiveRequest {
                camera: "cam-1".into(),
                reason: "bench".into(),
                unmasked: false,
                seconds: 0,
            },
        );
        async move { c.live(r).await.unwrap().into_inner() }
    };

    // ---- request → first frame, cold ----
    let mut first = Vec::new();
    for _ in 0..if part("first") { runs } else { 0 } {
        let t = Instant::now();
        let mut s = open(0).await;
        loop {
            let m = s.message().await.unwrap().unwrap();
            if m.data.len() > 8 && &m.data[4..8] == b"moof" {
                break;
            }
        }
        first.push(t.elapsed());
        drop(s);
        let t = Instant::now();
        while sup.live().open_streams() != 0 && t.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let mut direct = Vec::new();
    for _ in 0..if part("first") { runs.min(5) } else { 0 } {
        let url = url.clone();
        let d = tokio::task::spawn_blocking(move || {
            let cfg = camplane_agent::CameraConfig::new("cam-1", url);
            camplane_agent::ingest::time_to_first_video(
                &cfg,
                &camplane_agent::ingest::IngestOptions::default(),
            )
            .unwrap()
        })
        .await
        .unwrap();
        direct.push(d);
    }
    if part("first") {
        println!(
            "request → first frame ({runs} cold starts): p50 {} p99 {}   (target ≤ 1 s)",
            ms(pct(&first, 0.5)),
            ms(pct(&first, 0.99))
        );
        println!(
            "  baseline, RTSP open → first video packet, direct (FFmpeg): p50 {} p99 {}",
            ms(pct(&direct, 0.5)),
            ms(pct(&direct, 0.99))
        );
    }

    // ---- one viewer, then N ----
    let counts: &[usize] = if part("viewers") { &[1, viewers] } else { &[] };
    for &n in counts {
        inside.lock().unwrap().clear();
        let (cpu0, rss0) = usage();
        let until = Instant::now() + Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        for i in 0..n {
            let s = open(i).await;
            tasks.push(tokio::spawn(watch(s, arrivals.clone(), until)));
        }
        let mut lat = Vec::new();
        let mut bytes = 0;
        for t in tasks {
            let (l, b) = t.await.unwrap();
            lat.extend(l);
            bytes += b;
        }
        let (cpu1, rss1) = usage();
        let inside_v = inside.lock().unwrap().clone();
        let per = bytes as f64 * 8.0 / seconds as f64 / n as f64 / 1e6;
        println!(
            "{n} viewer(s), {seconds} s, {per:.2} Mb/s each: arrival at the agent → delivered p50 {} p99 {}   (target ≤ 300 ms / ≤ 1 s)",
            ms(pct(&lat, 0.5)),
            ms(pct(&lat, 0.99)),
        );
        println!(
            "  baseline, arrival → a subscriber of the tap in the agent: p50 {} p99 {}",
            ms(pct(&inside_v, 0.5)),
            ms(pct(&inside_v, 0.99))
        );
        println!(
            "  process (controller + agent + viewers) CPU {:.0}% of a core, RSS {:.0} MiB ({:+.1} MiB); {} fragments delivered of ~{} sent (the rest skipped by slow viewers)",
            (cpu1 - cpu0) / seconds as f64 * 100.0,
            rss1 as f64 / 1048576.0,
            (rss1 as f64 - rss0 as f64) / 1048576.0,
            lat.len(),
            n as u64 * 25 * seconds,
        );
        let t = Instant::now();
        while sup.live().open_streams() != 0 && t.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    if part("gateway") {
        let masked = assigned.replace(
            "  agent: city-hall-gw",
            "  agent: city-hall-gw\n  privacy_masks:\n    - name: window-a\n      polygon: [[0, 0], [0.5, 0], [0.5, 0.25], [0, 0.25]]",
        );
        gateway_cpu(&h, &sup, &open, &arrivals, &masked, &url, &size).await;
    }
    stop.cancel();
    h.cancel.cancel();
}

/// CPU seconds of this process's threads named `name`.
fn thread_cpu(name: &str) -> f64 {
    let mut t = 0.0;
    for e in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let f: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        t += f.get(11).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0)
            + f.get(12).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    }
    t / 100.0
}

/// The gateway's extra CPU per live stream, unmasked and masked, beside the
/// same process with no viewer, the camera's ingest thread and the `ffmpeg`
/// CLI doing the masked job (see the module doc).
async fn gateway_cpu<F, Fut>(
    h: &ctl::Harness,
    sup: &camplane_agent::Supervisor,
    open: &F,
    arrivals: &Arrivals,
    masked_manifest: &str,
    url: &str,
    size: &str,
) where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = tonic::Streaming<pb::PlaybackChunk>>,
{
    let secs = env("LIVE_BENCH_CPU_SECONDS", 10) as u64;
    let settle = || async {
        let t = Instant::now();
        while sup.live().open_streams() != 0 && t.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    // (process CPU, ingest thread CPU, masker thread CPU) over `secs`, with
    // one viewer reading or none.
    let measure = |viewer: bool| async move {
        settle().await;
        let s = if viewer { Some(open(0).await) } else { None };
        // The stream running (past its start) before counting.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (p0, i0, m0) = (
            usage().0,
            thread_cpu("ingest-cam-1"),
            thread_cpu("live-mask"),
        );
        let until = Instant::now() + Duration::from_secs(secs);
        let got = match s {
            Some(s) => watch(s, arrivals.clone(), until).await.1,
            None => {
                tokio::time::sleep_until(until.into()).await;
                0
            }
        };
        let (p1, i1, m1) = (
            usage().0,
            thread_cpu("ingest-cam-1"),
            thread_cpu("live-mask"),
        );
        let pc = |a: f64, b: f64| (b - a) / secs as f64 * 100.0;
        (pc(p0, p1), pc(i0, i1), pc(m0, m1), got)
    };
    let (idle, ingest, _, _) = measure(false).await;
    let (plain, _, _, plain_bytes) = measure(true).await;
    ctl::apply(h, &h.admin, masked_manifest)
        .await
        .expect("the camera with a mask");
    let (masked, _, masker, masked_bytes) = measure(true).await;
    settle().await;
    // The same masked job by the ffmpeg CLI on the same stream, one thread
    // for decoding and one for encoding as the masker: its CPU (the child's
    // rusage, taken by python3 once it exits).
    let script = format!(
        "import resource,subprocess;subprocess.run(['ffmpeg','-v','error','-rtsp_transport','tcp','-threads','1','-i','{url}','-t','{secs}','-vf','drawbox=x=0:y=0:w=iw/2:h=ih/4:color=black:t=fill','-c:v','libx264','-preset','ultrafast','-tune','zerolatency','-threads','1','-f','null','-']);r=resource.getrusage(resource.RUSAGE_CHILDREN);print(r.ru_utime+r.ru_stime)"
    );
    let out = tokio::process::Command::new("/usr/bin/python3")
        .args(["-c", &script])
        .output()
        .await
        .expect("python3 and ffmpeg");
    let ff: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(f64::NAN);
    let ff = ff / secs as f64 * 100.0;
    println!(
        "gateway CPU per live stream ({size}, {secs} s each; dev profile unless built with --release):"
    );
    println!(
        "  unmasked: +{:.1}% of a core ({:.2} Mb/s)   (target ≤ 2%)",
        plain - idle,
        plain_bytes as f64 * 8.0 / secs as f64 / 1e6
    );
    println!(
        "  masked:   +{:.1}% of a core, of which the masker thread {masker:.1}% ({:.2} Mb/s)   (target ≤ 30%)",
        masked - idle,
        masked_bytes as f64 * 8.0 / secs as f64 / 1e6
    );
    println!(
        "  baselines: the process with no viewer {idle:.1}% (recording; its ingest thread {ingest:.1}%); ffmpeg CLI decode + drawbox + libx264 ultrafast on the same stream {ff:.1}%"
    );
    println!("  (the process figures include the controller's relay and the viewer: an upper bound of the gateway's part)");
}
