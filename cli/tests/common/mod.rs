//! A real controller on the example config and the real `camplane` binary, as a
//! user runs them. The controller runs in this test process (on its own
//! runtime, over TLS on free ports): only this package builds the `camplane`
//! binary, and the controller's binary belongs to another package, so starting
//! the controller's library here is the robust way to have both up to date.
#![allow(dead_code)]

use camplane_config::controller::ControllerConfig;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The CLI binary.
pub const CLI: &str = env!("CARGO_BIN_EXE_camplane");

/// `config/examples`.
pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/examples")
}

/// A command's stdout then stderr, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A running controller; stopped when dropped.
pub struct ExampleController {
    runtime: Option<tokio::runtime::Runtime>,
    running: Option<camplane_controller::server::Running>,
    cancel: CancellationToken,
    /// `https://127.0.0.1:PORT`.
    pub server: String,
    /// The portal's port (`http_listen`).
    pub http_port: u16,
    /// The CA certificate the controller wrote.
    pub ca: PathBuf,
}

impl Drop for ExampleController {
    fn drop(&mut self) {
        self.cancel.cancel();
        if let Some(rt) = self.runtime.take() {
            {
                let _in_runtime = rt.enter();
                drop(self.running.take());
            }
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

/// Starts the controller on `config/examples/controller-embedded.yaml` with its
/// store, CA and config under `dir`, gRPC and the portal on free ports, and the
/// given first admin password; returns once it accepts connections.
pub fn start_example_controller(dir: &Path, admin_password: &str) -> ExampleController {
    let port = camplane_controller::testing::free_port();
    let http_port = camplane_controller::testing::free_port();
    let ca = dir.join("ca.pem");
    // Each controller of this process reads its own variable.
    let pw_env = format!("CAMPLANE_TEST_ADMIN_PASSWORD_{port}");
    std::env::set_var(&pw_env, admin_password);
    let cfg = std::fs::read_to_string(examples().join("controller-embedded.yaml"))
        .unwrap()
        .replace(
            "/var/lib/camplane/controller",
            &dir.join("store").display().to_string(),
        )
        .replace("127.0.0.1:7100", &format!("127.0.0.1:{port}"))
        .replace("127.0.0.1:7180", &format!("127.0.0.1:{http_port}"))
        .replace(
            "initial_admin_password_env: CAMPLANE_ADMIN_PASSWORD",
            &format!("initial_admin_password_env: {pw_env}"),
        )
        + &format!("tls:\n  ca_cert_file: {}\n", ca.display());
    let cfg_path = dir.join("controller.yaml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let config = ControllerConfig::load(&cfg_path).expect("the example config loads");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cancel = CancellationToken::new();
    let running = runtime
        .block_on(camplane_controller::server::start(config, cancel.clone()))
        .expect("controller starts");
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "controller did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    ExampleController {
        runtime: Some(runtime),
        running: Some(running),
        cancel,
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
