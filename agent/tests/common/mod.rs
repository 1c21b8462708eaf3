//! Helpers for tests with real parts: FFmpeg CLI, a GStreamer RTSP server, a garbage server.
//! Missing tools fail the test with the install command (they never skip).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const APT_FFMPEG: &str = "apt-get install -y ffmpeg";
pub const APT_GST: &str = "apt-get install -y python3-gi gir1.2-gst-rtsp-server-1.0 \
gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad";

pub fn require_tools() {
    for tool in ["ffmpeg", "ffprobe"] {
        let ok = Command::new(tool)
            .arg("-version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "{tool} missing: {APT_FFMPEG}");
    }
    let ok = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import gi; gi.require_version('GstRtspServer','1.0'); \
             from gi.repository import Gst, GstRtspServer; Gst.init(None); \
             assert Gst.ElementFactory.find('x264enc') and Gst.ElementFactory.find('tsdemux')",
        ])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "GStreamer RTSP server missing: {APT_GST}");
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/support/rtsp_server.py")
}

/// A running RTSP server; killed on drop.
pub struct RtspServer {
    pub port: u16,
    mounts: Vec<String>,
    child: Option<Child>,
}

impl RtspServer {
    pub fn start(port: u16, mounts: &[&str]) -> Self {
        let mut s = RtspServer {
            port,
            mounts: mounts.iter().map(|m| m.to_string()).collect(),
            child: None,
        };
        s.restart();
        s
    }

    pub fn restart(&mut self) {
        self.kill();
        let mut child = Command::new("/usr/bin/python3")
            .arg(script())
            .arg(self.port.to_string())
            .args(&self.mounts)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start RTSP server ({e}): {APT_GST}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "READY", "RTSP server did not start: {APT_GST}");
        wait_for_port(self.port);
        self.child = Some(child);
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn url(&self, mount: &str) -> String {
        format!("rtsp://127.0.0.1:{}{mount}", self.port)
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn wait_for_port(port: u16) {
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "port {port} never opened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A TCP server that answers every connection with random bytes (a broken camera).
pub fn garbage_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = s;
                let mut x: u64 = 0x9e3779b97f4a7c15;
                let mut buf = vec![0u8; 4096];
                loop {
                    for b in buf.iter_mut() {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        *b = x as u8;
                    }
                    if s.write_all(&buf).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            });
        }
    });
    port
}

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

#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub codec: String,
    pub profile: String,
    pub width: u32,
    pub height: u32,
    pub pix_fmt: String,
    pub packets: u64,
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

pub fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// 1280x720, 12 s, rendered by `deploy/render-plates.sh` (the demo's clip):
/// "ABC1234" moving right (0.5-3 s, upper half), then "XYZ9876" (4-6.5 s, lower
/// half), then "KLM4455" (8-10.5 s), black text on white plate-like boxes.
#[allow(dead_code)]
pub fn render_plates(path: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/render-plates.sh");
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

pub const APT_GPSD: &str = "apt-get install -y gpsd";

/// A real gpsd reading a stand-in GPS receiver (NMEA over TCP at a fixed
/// position); both killed on drop.
pub struct Gpsd {
    pub port: u16,
    feed: Child,
    gpsd: Child,
}

impl Gpsd {
    pub fn start(lat: f64, lon: f64) -> Gpsd {
        let ok = Command::new("gpsd")
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "gpsd missing: {APT_GPSD}");
        let feed_port = free_port();
        let mut feed = Command::new("/usr/bin/python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/support/nmea_feed.py"))
            .args([feed_port.to_string(), lat.to_string(), lon.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 starts the NMEA feed");
        let mut line = String::new();
        BufReader::new(feed.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "READY");
        let port = free_port();
        let gpsd = Command::new("gpsd")
            .args(["-N", "-n", "-b", "-S", &port.to_string()])
            .arg(format!("tcp://127.0.0.1:{feed_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start gpsd ({e}): {APT_GPSD}"));
        wait_for_port(port);
        Gpsd { port, feed, gpsd }
    }
}

impl Drop for Gpsd {
    fn drop(&mut self) {
        for c in [&mut self.gpsd, &mut self.feed] {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
