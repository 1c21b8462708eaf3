//! CPU time to record one RTSP stream: camplane-agent vs `ffmpeg -c copy -f segment`,
//! same input, same run. A 10 s 1280x720 25 fps H.264 clip served in real time by
//! the GStreamer RTSP server (tests/support/rtsp_server.py); each recorder reads it
//! to its end. Three alternating runs each, medians. CPU = utime + stime
//! (the agent: /proc/self/stat deltas; ffmpeg: /usr/bin/time). The agent drops
//! the first GOP of each connection by design (see ingest::Coalescer).

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use camplane_agent::retention::StatvfsProbe;
use camplane_agent::*;
use camplane_testkit::{media::*, servers::*};

fn self_cpu_s() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // fields 14 and 15 (utime, stime) are at 11 and 12 after the comm field
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn main() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("src.mp4");
    make_clip(&clip, "1280x720", 10);
    let srv = RtspServer::start(free_port(), &[&format!("/cam=mp4:{}", clip.display())]);
    let url = srv.url("/cam");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for run in 0..3 {
        // camplane-agent
        let root = dir.path().join(format!("agent{run}"));
        let sup = Supervisor::new(
            SupervisorOptions {
                root: root.clone(),
                ingest: Default::default(),
                disk: DiskPolicy {
                    min_free_bytes: 0,
                    min_free_percent: 0.0,
                },
            },
            Arc::new(SystemClock),
            Arc::new(StatvfsProbe { path: root.clone() }),
        )
        .unwrap();
        let c0 = self_cpu_s();
        let t = Instant::now();
        let mut cam = CameraConfig::new("c", &url);
        cam.segment_seconds = 2;
        sup.reconcile(vec![cam], vec![]);
        wait_until(Duration::from_secs(40), "end of clip", || {
            sup.health().cameras[0].last_error.as_deref() == Some("stream ended")
        });
        sup.shutdown();
        let cpu = self_cpu_s() - c0;
        let pk = sup.packets_recorded("c").unwrap_or(0);
        let pk = if pk == 0 {
            let idx = sup.index();
            let g = idx.lock().unwrap();
            g.segments("c")
                .iter()
                .map(|e| probe(&g.segment_path("c", e)).unwrap().packets)
                .sum()
        } else {
            pk
        };
        println!(
            "run {run} agent : cpu {cpu:.3} s, wall {:.1} s, {pk} packets",
            t.elapsed().as_secs_f64()
        );
        ours.push(cpu);
        // ffmpeg baseline
        let out = dir.path().join(format!("ff{run}"));
        std::fs::create_dir_all(&out).unwrap();
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
            .arg(&url)
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
                "2",
            ])
            .arg(out.join("%03d.ts"))
            .output()
            .expect(
                "the ffmpeg baseline needs /usr/bin/time and ffmpeg: run deploy/install-deps.sh",
            );
        let err = String::from_utf8_lossy(&o.stderr);
        let line = err.lines().find(|l| l.starts_with("CPU ")).unwrap();
        let v: Vec<f64> = line[4..].split(' ').map(|x| x.parse().unwrap()).collect();
        let cpu = v[0] + v[1];
        let pk: u64 = std::fs::read_dir(&out)
            .unwrap()
            .flatten()
            .filter_map(|d| probe(&d.path()))
            .map(|p| p.packets)
            .sum();
        println!(
            "run {run} ffmpeg: cpu {cpu:.3} s, wall {:.1} s, {pk} packets",
            t.elapsed().as_secs_f64()
        );
        theirs.push(cpu);
    }
    ours.sort_by(f64::total_cmp);
    theirs.sort_by(f64::total_cmp);
    println!(
        "CPU per recorded 10 s 720p25 stream (median of 3): camplane-agent {:.3} s, ffmpeg -c copy -f segment {:.3} s",
        ours[1], theirs[1]
    );
}
