//! Helpers the viewing tests share (playback, live view, masks, fees): the
//! real CLI run in-process, the audit entries of one action, and waits for a
//! session's end and for a camera's first picture.
#![allow(dead_code)]

use camplane_testkit::controller as ctl;
use clap::Parser;
use std::time::{Duration, Instant};

/// The `camplane` CLI against one controller.
pub struct Cli {
    /// The controller's address.
    pub server: String,
    /// Its CA file.
    pub ca: String,
}

impl Cli {
    /// Runs `camplane ARGS` as the holder of `token`; its exit code.
    pub async fn run(&self, token: &str, args: &[&str]) -> i32 {
        let mut a = vec![
            "camplane",
            "--server",
            &self.server,
            "--ca",
            &self.ca,
            "--token",
            token,
        ];
        a.extend_from_slice(args);
        let cli = camplane_cli::Cli::try_parse_from(a).unwrap();
        match camplane_cli::run(cli).await {
            Ok(code) => code,
            Err(e) => {
                eprintln!("camplane: {e:#}");
                1
            }
        }
    }
}

/// The audit entries of `action`, oldest first.
pub async fn entries(h: &ctl::Harness, action: &str) -> Vec<serde_json::Value> {
    ctl::audit_log(h)
        .await
        .into_iter()
        .filter(|e| e["action"] == action)
        .collect()
}

/// The session's `view.end`, waited for (30 s).
pub async fn view_end(h: &ctl::Harness, session: &str) -> serde_json::Value {
    let t = Instant::now();
    loop {
        if let Some(e) = entries(h, "view.end")
            .await
            .into_iter()
            .find(|e| e["details"]["session"] == session)
        {
            return e;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "no view.end for {session}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The newest `view.start` of `user` that was let through.
pub async fn last_start(h: &ctl::Harness, user: &str) -> serde_json::Value {
    entries(h, "view.start")
        .await
        .into_iter()
        .rfind(|e| e["actor"] == user && e["result"] == "ok")
        .expect("view.start")
}

/// Waits until the camera's tap has a picture to start a stream with.
pub async fn wait_for_picture(sup: &camplane_agent::Supervisor) {
    let t = Instant::now();
    loop {
        if sup
            .live()
            .get("cam-1")
            .is_some_and(|t| t.subscribe().is_ok())
        {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "no live picture from the camera"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
