//! Helpers the viewing tests share (playback, live view, masks, fees): the
//! CITY fixture's cam-1 on a test camera, approved and active; the real CLI
//! run in-process; the audit entries of one action; and waits for recorded
//! segments, a session's end and a camera's first picture.
#![allow(dead_code)]

use camplane_testkit::controller as ctl;
use clap::Parser;
use jiff::Timestamp;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The manifest of the CITY fixture with its cam-1 on the test camera
/// `rtsp://127.0.0.1:{port}/cam`, assigned to the gateway `city-hall-gw`, with
/// `extra` spec lines after the assignment (e.g. privacy masks, each line
/// indented two spaces).
pub fn cam1_manifest(port: u16, extra: &str) -> String {
    ctl::CITY
        .replace(
            "  placement_request: req-1",
            &format!("  placement_request: req-1\n  agent: city-hall-gw{extra}"),
        )
        .replace(
            "rtsp://127.0.0.1:8554/cam1",
            &format!("rtsp://127.0.0.1:{port}/cam"),
        )
}

/// Applies `manifest` (see [`cam1_manifest`]), takes cam-1's request through
/// the whole chain (the department's manager `mgr`, the chief `chief`, a city
/// manager `cm` made here) and activates the camera.
pub async fn activate_cam1(h: &ctl::Harness, manifest: &str, mgr: &str, chief: &str) {
    ctl::apply(h, &h.admin, manifest).await.unwrap();
    let cm = ctl::user(h, "cm", &["city_manager"], "").await;
    ctl::override_unchecked(h, chief, "req-1").await;
    for (who, action) in [
        (mgr, "recommend"),
        (chief, "recommend"),
        (cm.as_str(), "approve"),
    ] {
        ctl::act(h, who, "req-1", action, "", "").await.unwrap();
    }
    ctl::camera(h, &h.admin, "cam-1", "activate").await.unwrap();
}

/// Waits (up to `limit`) until cam-1 has `n` recorded segments; returns them
/// (path, start, end), oldest first.
pub async fn wait_segments(
    sup: &camplane_agent::Supervisor,
    n: usize,
    limit: Duration,
) -> Vec<(PathBuf, Timestamp, Timestamp)> {
    let segs = || {
        let idx = sup.index();
        let idx = idx.lock().unwrap();
        idx.segments("cam-1")
            .iter()
            .map(|e| (idx.segment_path("cam-1", e), e.start(), e.end()))
            .collect::<Vec<_>>()
    };
    let t0 = Instant::now();
    loop {
        let s = segs();
        if s.len() >= n {
            return s;
        }
        assert!(t0.elapsed() < limit, "no {n} segments recorded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

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
