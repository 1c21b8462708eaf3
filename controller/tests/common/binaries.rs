//! The real binaries, as a user runs them: `camplane-controller` started on the
//! embedded example config (free ports, a fresh store), and the `camplane` CLI.
//! Included with `#[path]` by the tests of this package only: the binaries' paths
//! exist for those alone.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The controller binary.
pub const CTL: &str = env!("CARGO_BIN_EXE_camplane-controller");
/// The CLI binary.
pub const CLI: &str = env!("CARGO_BIN_EXE_camplane");

/// `config/examples`.
pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/examples")
}

/// A child process killed when dropped.
pub struct Ctl(pub std::process::Child);
impl Drop for Ctl {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A command's stdout then stderr, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A running controller process.
pub struct ExampleController {
    _proc: Ctl,
    /// `https://127.0.0.1:PORT`.
    pub server: String,
    /// The portal's port (`http_listen`).
    pub http_port: u16,
    /// The CA certificate the controller wrote.
    pub ca: PathBuf,
}

/// Starts `camplane-controller` on `config/examples/controller-embedded.yaml` with its
/// store, CA and config under `dir`, gRPC and the portal on free ports, and the given
/// first admin password; returns once it accepts connections.
pub fn start_example_controller(dir: &Path, admin_password: &str) -> ExampleController {
    let port = camplane_controller::testing::free_port();
    let http_port = camplane_controller::testing::free_port();
    let ca = dir.join("ca.pem");
    let cfg = std::fs::read_to_string(examples().join("controller-embedded.yaml"))
        .unwrap()
        .replace(
            "/var/lib/camplane/controller",
            &dir.join("store").display().to_string(),
        )
        .replace("127.0.0.1:7100", &format!("127.0.0.1:{port}"))
        .replace("127.0.0.1:7180", &format!("127.0.0.1:{http_port}"))
        + &format!("tls:\n  ca_cert_file: {}\n", ca.display());
    let cfg_path = dir.join("controller.yaml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let proc = Ctl(Command::new(CTL)
        .arg("--config")
        .arg(&cfg_path)
        .env("CAMPLANE_ADMIN_PASSWORD", admin_password)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap());
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "controller did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    ExampleController {
        _proc: proc,
        server: format!("https://127.0.0.1:{port}"),
        http_port,
        ca,
    }
}

/// Runs `camplane ARGS` with its own home (sign-in), server and CA, `stdin` piped in.
pub fn cli(home: &Path, server: &str, ca: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut c = Command::new(CLI);
    c.args(args)
        .env("CAMPLANE_HOME", home)
        .env("CAMPLANE_SERVER", server)
        .env("CAMPLANE_CA", ca)
        .env_remove("CAMPLANE_TOKEN")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    if let Some(s) = stdin {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}
