//! Extra gateway CPU per 1080p30 masked stream: camplane's `Masker` (decode,
//! fill the masks, libx264 ultrafast/zerolatency) beside `ffmpeg -vf drawbox
//! -c:v libx264 -preset ultrafast -tune zerolatency` on the same clip, same run.
//! A 10 s 1920x1080 30 fps H.264 clip (1 s GOPs) in MPEG-TS, read from a file
//! (demuxing is in both figures); one mask over the left half of the top quarter
//! (drawbox: the same box). Three alternating runs each, medians. CPU = utime +
//! stime (ours: /proc/self/stat deltas, x264's threads included; ffmpeg:
//! /usr/bin/time). The figure is CPU seconds per stream-second (a share of one
//! core); the target is at most 30% of a core.

use std::process::Command;

use camplane_agent::mask::{Masker, MaskerOptions};
use camplane_config::model::PrivacyMask;
use ffmpeg_next as ff;

const SECS: f64 = 10.0;

fn self_cpu_s() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // fields 14 and 15 (utime, stime) are at 11 and 12 after the comm field
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One pass of the clip through a Masker; returns (CPU s, packets out).
fn ours(clip: &std::path::Path, masks: &[PrivacyMask]) -> (f64, usize) {
    let c0 = self_cpu_s();
    let mut ictx = ff::format::input(&clip).unwrap();
    let ist = ictx.streams().best(ff::media::Type::Video).unwrap();
    let (vi, tb, rate) = (ist.index(), ist.time_base(), ist.avg_frame_rate());
    let mut m = Masker::with_options(
        ist.parameters(),
        tb,
        masks,
        MaskerOptions {
            frame_rate: rate,
            ..MaskerOptions::default()
        },
    )
    .unwrap();
    let mut n = 0;
    for (s, p) in ictx.packets() {
        if s.index() == vi {
            n += m.push(&p).unwrap().len();
        }
    }
    n += m.flush().unwrap().len();
    (self_cpu_s() - c0, n)
}

/// One pass through ffmpeg's drawbox and libx264; returns CPU s.
fn theirs(clip: &std::path::Path) -> f64 {
    let o = Command::new("/usr/bin/time")
        .args(["-f", "CPU %U %S", "ffmpeg", "-v", "error", "-i"])
        .arg(clip)
        .args([
            "-vf",
            "drawbox=x=0:y=0:w=960:h=270:color=black:t=fill",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-f",
            "null",
            "-",
        ])
        .output()
        .expect("the ffmpeg baseline needs /usr/bin/time and ffmpeg");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    let line = err.lines().find(|l| l.starts_with("CPU ")).unwrap();
    let v: Vec<f64> = line[4..].split(' ').map(|x| x.parse().unwrap()).collect();
    v[0] + v[1]
}

fn main() {
    camplane_agent::ffmpeg::init_ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.ts");
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=1920x1080:rate=30")
        .args([
            "-t", "10", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "veryfast", "-g",
            "30", "-f", "mpegts",
        ])
        .arg(&clip)
        .status()
        .expect("ffmpeg on PATH");
    assert!(st.success());
    let masks = [PrivacyMask {
        name: "window".into(),
        polygon: vec![[0.0, 0.0], [0.5, 0.0], [0.5, 0.25], [0.0, 0.25]],
    }];
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for run in 0..3 {
        let (cpu, n) = ours(&clip, &masks);
        println!("run {run} camplane Masker : cpu {cpu:.2} s, {n} packets");
        a.push(cpu);
        let cpu = theirs(&clip);
        println!("run {run} ffmpeg drawbox  : cpu {cpu:.2} s");
        b.push(cpu);
    }
    let (a, b) = (median(a) / SECS, median(b) / SECS);
    println!(
        "masked 1080p30 stream, CPU per stream-second (medians of 3): camplane Masker {:.1}% of a core, ffmpeg decode+drawbox+libx264 ultrafast {:.1}% of a core (ratio {:.2}); target <= 30%",
        a * 100.0,
        b * 100.0,
        a / b
    );
}
