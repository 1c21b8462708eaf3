//! A real controller on the example config and the real `camplane` binary, as a
//! user runs them. The controller runs in this test process (the test kit's
//! `start_example_controller`, on its own runtime, over TLS on free ports): only
//! this package builds the `camplane` binary, and the controller's binary belongs
//! to another package, so starting the controller's library here is the robust way
//! to have both up to date. What is left here needs this package's binary.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The CLI binary.
pub const CLI: &str = env!("CARGO_BIN_EXE_camplane");

/// A command's stdout then stderr, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
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
