//! Real servers for tests: etcd (one member or a cluster) on free loopback ports with
//! a temporary data directory, a GStreamer RTSP server, gpsd on a stand-in receiver,
//! and a broken camera. Tests fail (never skip) when a server is not installed,
//! naming the command that installs it.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Installs FFmpeg's command-line tools.
pub const APT_FFMPEG: &str = "apt-get install -y ffmpeg";
/// Installs the GStreamer RTSP server the media tests stream from.
pub const APT_GST: &str = "apt-get install -y python3-gi gir1.2-gst-rtsp-server-1.0 \
gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad";
/// Installs gpsd.
pub const APT_GPSD: &str = "apt-get install -y gpsd";

/// A free loopback TCP port for a server a test starts, drawn below the kernel's
/// ephemeral range.
///
/// A port the kernel hands out for `bind(0)` lies in the ephemeral range, the same
/// range every outgoing connection takes its local port from. Between this call and
/// the server's own bind, a client connection of a test running beside it could take
/// that port (CI saw `AddrInUse` on a controller's console port). Below the range no
/// connection is given a port, and each port is handed out once per process; the
/// start is spread by process id for test binaries that run at the same time.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let (lo, hi) = below_ephemeral();
    let span = hi - lo;
    // The first call seeds the counter; a race between two first calls only
    // moves the start.
    if NEXT.load(Ordering::Relaxed) == 0 {
        let seed = (std::process::id() * 7919) % span;
        let _ = NEXT.compare_exchange(0, seed + 1, Ordering::Relaxed, Ordering::Relaxed);
    }
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (lo + n % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {lo}..{hi}")
}

/// Ports from 20000 up to the start of the kernel's ephemeral range
/// (`/proc/sys/net/ipv4/ip_local_port_range`; Linux's default is 32768-60999), or
/// those above the range when it leaves too few below it.
fn below_ephemeral() -> (u32, u32) {
    let range: Vec<u32> = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    match range[..] {
        [start, _] if start > 21000 => (20000, start),
        [_, end] if end < 64000 => (end + 1, 65536),
        _ => (20000, 32768),
    }
}

/// A real etcd server for a test; killed on drop.
pub struct EtcdServer {
    child: Option<Child>,
    dir: tempfile::TempDir,
    client_port: u16,
    peer_port: u16,
}

impl EtcdServer {
    /// Starts etcd and waits until it answers.
    pub fn start() -> EtcdServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = EtcdServer {
            child: None,
            dir,
            client_port: free_port(),
            peer_port: free_port(),
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        // Free ports are picked before etcd binds them, so another test can take one
        // in between: when etcd exits at once, try again on new ports.
        for attempt in 0..4 {
            if attempt > 0 {
                self.client_port = free_port();
                self.peer_port = free_port();
            }
            if self.try_spawn() {
                return;
            }
        }
        panic!(
            "etcd did not start; see {}",
            self.dir.path().join("etcd.log").display()
        );
    }

    fn try_spawn(&mut self) -> bool {
        let bin = which("etcd").unwrap_or_else(|| {
            panic!("etcd is not installed: install it with `apt-get install -y etcd-server` (the test starts it itself)")
        });
        let client = format!("http://127.0.0.1:{}", self.client_port);
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::File::create(self.dir.path().join("etcd.log")).expect("etcd log");
        let mut child = Command::new(bin)
            .arg("--name=test")
            .arg(format!(
                "--data-dir={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=test={peer}"))
            .arg("--log-level=error")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting etcd");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return false; // exited: most likely a port taken meanwhile
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.client_port)).is_ok() {
                std::thread::sleep(Duration::from_millis(200));
                self.child = Some(child);
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// The client URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// Kills the server (its data stays).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same ports and data.
    pub fn restart(&mut self) {
        self.stop();
        // Same ports: clients hold the old endpoint.
        for _ in 0..8 {
            if self.try_spawn() {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!(
            "etcd did not restart; see {}",
            self.dir.path().join("etcd.log").display()
        );
    }

    /// The data directory.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Finds a program on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A real etcd cluster of several members on loopback ports, for quorum tests;
/// killed on drop.
pub struct EtcdCluster {
    members: Vec<Option<Child>>,
    dir: tempfile::TempDir,
    ports: Vec<(u16, u16)>,
}

impl EtcdCluster {
    /// Starts `n` members and waits until every one answers.
    pub fn start(n: usize) -> EtcdCluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let mut c = EtcdCluster {
            members: (0..n).map(|_| None).collect(),
            dir,
            ports,
        };
        for i in 0..n {
            c.spawn(i, "new");
        }
        for i in 0..n {
            c.wait_up(i);
        }
        c
    }

    fn initial_cluster(&self) -> String {
        self.ports
            .iter()
            .enumerate()
            .map(|(i, (_, p))| format!("m{i}=http://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn spawn(&mut self, i: usize, state: &str) {
        let bin = which("etcd").unwrap_or_else(|| {
            panic!("etcd is not installed: install it with `apt-get install -y etcd-server` (the test starts it itself)")
        });
        let (c, p) = self.ports[i];
        let client = format!("http://127.0.0.1:{c}");
        let peer = format!("http://127.0.0.1:{p}");
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("m{i}.log")))
            .expect("etcd log");
        let child = Command::new(bin)
            .arg(format!("--name=m{i}"))
            .arg(format!(
                "--data-dir={}",
                self.dir.path().join(format!("m{i}")).display()
            ))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster={}", self.initial_cluster()))
            .arg(format!("--initial-cluster-state={state}"))
            .arg("--initial-cluster-token=camplane-test")
            .arg("--log-level=error")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting etcd");
        self.members[i] = Some(child);
    }

    fn wait_up(&mut self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.ports[i].0)).is_ok() {
                return;
            }
            if let Some(Ok(Some(_))) = self.members[i].as_mut().map(|c| c.try_wait()) {
                panic!(
                    "etcd member m{i} exited; see {}",
                    self.dir.path().join(format!("m{i}.log")).display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("etcd member m{i} did not open its client port");
    }

    /// Every member's client URL.
    pub fn endpoints(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|(c, _)| format!("http://127.0.0.1:{c}"))
            .collect()
    }

    /// Kills member `i` (its data stays).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts member `i` again on its ports and data; it rejoins the cluster.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i, "existing");
        self.wait_up(i);
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

/// Fails the test, naming the install command, unless FFmpeg's tools and a GStreamer
/// RTSP server that encodes H.264 are installed.
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

/// `tests/support/rtsp_server.py`, the GStreamer RTSP server.
pub fn script() -> PathBuf {
    support().join("rtsp_server.py")
}

/// `tests/support`: the scripts the servers run.
fn support() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../support")
}

/// A running RTSP server; killed on drop.
pub struct RtspServer {
    /// The port it serves on.
    pub port: u16,
    mounts: Vec<String>,
    child: Option<Child>,
}

impl RtspServer {
    /// Serves each of `mounts` (`/path=clip`, as `rtsp_server.py` takes them) on `port`.
    pub fn start(port: u16, mounts: &[&str]) -> Self {
        let mut s = RtspServer {
            port,
            mounts: mounts.iter().map(|m| m.to_string()).collect(),
            child: None,
        };
        s.restart();
        s
    }

    /// Starts it again (or the first time) on the same port and mounts.
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

    /// Stops the server (a camera gone).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The server process's id (for benches that measure its CPU time).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the RTSP server runs").id()
    }

    /// The `rtsp://` URL of one mount.
    pub fn url(&self, mount: &str) -> String {
        format!("rtsp://127.0.0.1:{}{mount}", self.port)
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits (at most 10 s) until something listens on the loopback `port`.
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

/// Polls `f` every 100 ms until it holds, failing the test after `limit`; returns
/// how long it took.
pub fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    t.elapsed()
}

/// A real gpsd reading a stand-in GPS receiver (NMEA over TCP at a fixed
/// position); both killed on drop.
pub struct Gpsd {
    /// gpsd's client port.
    pub port: u16,
    feed: Child,
    gpsd: Child,
}

impl Gpsd {
    /// Starts the feed at (`lat`, `lon`) and gpsd reading it.
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
            .arg(support().join("nmea_feed.py"))
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

/// Copies `r` to `w`, holding while `cut` is set.
async fn pump(
    mut r: tokio::net::tcp::OwnedReadHalf,
    mut w: tokio::net::tcp::OwnedWriteHalf,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        while cut.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let n = match tokio::io::AsyncReadExt::read(&mut r, &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while cut.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if tokio::io::AsyncWriteExt::write_all(&mut w, &buf[..n])
            .await
            .is_err()
        {
            return;
        }
    }
}

/// A TCP relay on loopback to `target` that a test can cut (nothing passes
/// while `cut` is set): a partition, or a query held surely in flight while the
/// server behind it dies. Returns the relay's port.
pub async fn relay(target: u16, cut: std::sync::Arc<std::sync::atomic::AtomicBool>) -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = l.accept().await {
            let cut = cut.clone();
            tokio::spawn(async move {
                let Ok(out) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await else {
                    return;
                };
                let (ri, wi) = inbound.into_split();
                let (ro, wo) = out.into_split();
                tokio::join!(pump(ri, wo, cut.clone()), pump(ro, wi, cut));
            });
        }
    });
    port
}
