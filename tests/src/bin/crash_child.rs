//! The child side of the recording crash test (`tests/tests/crash.rs`): records one
//! RTSP camera into a directory until it is killed, printing its progress. A helper
//! binary of the test crate, not a test and not part of the product.
//!
//! `crash-child ROOT URL` prints `RECORDED <packets written> <segments finished>` every
//! 20 ms.

use camplane_agent::ingest::IngestOptions;
use camplane_agent::retention::StatvfsProbe;
use camplane_agent::{CameraConfig, DiskPolicy, Supervisor, SupervisorOptions, SystemClock};
use jiff::SignedDuration;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [root, url] = args.as_slice() else {
        eprintln!("usage: crash-child ROOT RTSP-URL");
        return ExitCode::from(2);
    };
    let root = PathBuf::from(root);
    let opts = SupervisorOptions {
        root: root.clone(),
        // The same ingest settings as the agent's media tests.
        ingest: IngestOptions {
            socket_timeout: Duration::from_secs(2),
            silence_timeout: Duration::from_secs(3),
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(1),
            window_merge_gap: SignedDuration::from_secs(1),
            analyze_us: 1_000_000,
        },
        disk: DiskPolicy {
            min_free_bytes: 0,
            min_free_percent: 0.0,
        },
    };
    let sup = match Supervisor::new(
        opts,
        Arc::new(SystemClock),
        Arc::new(StatvfsProbe { path: root }),
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("crash-child: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut cam = CameraConfig::new("c1", url);
    cam.segment_seconds = 2;
    sup.reconcile(vec![cam], vec![]);
    loop {
        // packets_recorded counts packets whose write (flushed to the file) returned.
        let segments = sup
            .health()
            .cameras
            .into_iter()
            .find(|c| c.id == "c1")
            .map_or(0, |h| h.segments_written);
        println!(
            "RECORDED {} {segments}",
            sup.packets_recorded("c1").unwrap_or(0)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
