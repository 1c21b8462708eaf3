//! FFmpeg for tests: test clips, probes, clean decodes, the demo's plate clip.

use crate::servers::APT_FFMPEG;
use std::path::Path;
use std::process::Command;

/// Runs `ffmpeg` quietly with `args`; fails the test on any error.
pub fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ffmpeg ({e}): {APT_FFMPEG}"));
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// H.264 test clip, 4:2:0, 1 s GOP at 25 fps.
pub fn make_clip(path: &Path, size: &str, secs: u32) {
    let src = format!("testsrc=size={size}:rate=25");
    let t = secs.to_string();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &src,
        "-t",
        &t,
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        "libx264",
        "-g",
        "25",
        "-preset",
        "veryfast",
        path.to_str().unwrap(),
    ]);
}

/// What ffprobe says of a file's first video stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// `codec_name`.
    pub codec: String,
    /// `profile`.
    pub profile: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `pix_fmt`.
    pub pix_fmt: String,
    /// Packets read.
    pub packets: u64,
    /// The container's duration in seconds.
    pub duration: f64,
}

/// ffprobe of the first video stream; None if unplayable.
pub fn probe(path: &Path) -> Option<Probe> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_packets",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,profile,width,height,pix_fmt,nb_read_packets:format=duration",
            "-of",
            "default=noprint_wrappers=1",
        ])
        .arg(path)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or("")
            .to_string()
    };
    Some(Probe {
        codec: get("codec_name"),
        profile: get("profile"),
        width: get("width").parse().ok()?,
        height: get("height").parse().ok()?,
        pix_fmt: get("pix_fmt"),
        packets: get("nb_read_packets").parse().unwrap_or(0),
        duration: get("duration").parse().unwrap_or(0.0),
    })
}

/// Decodes the whole file; true if FFmpeg reports no error.
pub fn decodes_cleanly(path: &Path) -> bool {
    Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .is_ok_and(|o| {
            let ok = o.status.success() && o.stderr.is_empty();
            if !ok {
                eprintln!(
                    "decode {}: {}",
                    path.display(),
                    String::from_utf8_lossy(&o.stderr)
                );
                if let Ok(keep) = std::env::var("CAMPLANE_KEEP_BAD") {
                    let _ = std::fs::copy(path, Path::new(&keep).join(path.file_name().unwrap()));
                }
            }
            ok
        })
}

/// 1280x720, 12 s, rendered by `deploy/render-plates.sh` (the demo's clip):
/// "ABC1234" moving right (0.5-3 s, upper half), then "XYZ9876" (4-6.5 s, lower
/// half), then "KLM4455" (8-10.5 s), black text on white plate-like boxes.
pub fn render_plates(path: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/render-plates.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}
