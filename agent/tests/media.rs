//! Recording through the agent's ingest with a real RTSP server and FFmpeg.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use camplane_agent::index::Index;
use camplane_agent::record::hash_file;
use camplane_agent::retention::{FixedProbe, StatvfsProbe};
use camplane_agent::*;
use camplane_testkit::{media::*, servers::*};
use jiff::{SignedDuration, Timestamp};

fn opts(root: &Path) -> SupervisorOptions {
    SupervisorOptions {
        root: root.to_path_buf(),
        ingest: ingest_opts(),
        disk: DiskPolicy {
            min_free_bytes: 0,
            min_free_percent: 0.0,
        },
    }
}

fn ingest_opts() -> camplane_agent::ingest::IngestOptions {
    camplane_agent::ingest::IngestOptions {
        socket_timeout: Duration::from_secs(2),
        silence_timeout: Duration::from_secs(3),
        backoff_base: Duration::from_millis(200),
        backoff_max: Duration::from_secs(1),
        window_merge_gap: SignedDuration::from_secs(1),
        analyze_us: 1_000_000,
    }
}

fn cam(id: &str, url: &str, seg: u32) -> CameraConfig {
    let mut c = CameraConfig::new(id, url);
    c.segment_seconds = seg;
    c
}

fn real_supervisor(root: &Path) -> Supervisor {
    Supervisor::new(
        opts(root),
        Arc::new(SystemClock),
        Arc::new(StatvfsProbe { path: root.into() }),
    )
    .unwrap()
}

fn segs(sup: &Supervisor, id: &str) -> Vec<(std::path::PathBuf, index::Entry)> {
    let idx = sup.index();
    let g = idx.lock().unwrap();
    g.segments(id)
        .iter()
        .map(|e| (g.segment_path(id, e), *e))
        .collect()
}

fn cam_health(sup: &Supervisor, id: &str) -> CameraHealth {
    sup.health()
        .cameras
        .into_iter()
        .find(|c| c.id == id)
        .unwrap()
}

#[test]
fn records_rtsp_without_reencode_hashed_and_chained() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("src.mp4");
    make_clip(&clip, "640x360", 10);
    let src = probe(&clip).unwrap();
    let srv = RtspServer::start(free_port(), &[&format!("/cam=mp4:{}", clip.display())]);
    let root = dir.path().join("rec");
    let sup = real_supervisor(&root);
    let r = sup.reconcile(vec![cam("c1", &srv.url("/cam"), 2)], vec![]);
    assert_eq!(r.started, ["c1"]);
    // Idempotent: same input, nothing happens.
    assert_eq!(
        sup.reconcile(vec![cam("c1", &srv.url("/cam"), 2)], vec![]),
        Default::default()
    );
    wait_until(Duration::from_secs(30), "3 segments", || {
        segs(&sup, "c1").len() >= 3
    });
    let h = cam_health(&sup, "c1");
    assert_eq!(h.state, CameraState::Online, "{h:?}");
    assert!(h.fps > 15.0 && h.fps < 35.0, "{h:?}");
    assert!(h.bytes_per_sec > 1000.0);
    assert_eq!(h.stream.as_deref(), Some("h264 640x360"));
    assert!(h.recording_lag.unwrap() < SignedDuration::from_secs(5));
    sup.shutdown();
    let all = segs(&sup, "c1");
    for (path, e) in &all {
        let p = probe(path).unwrap_or_else(|| panic!("{} unplayable", path.display()));
        assert_eq!(
            (&p.codec, &p.profile, p.width, p.height, &p.pix_fmt),
            (
                &src.codec,
                &src.profile,
                src.width,
                src.height,
                &src.pix_fmt
            ),
            "same codec parameters as the source (no re-encode)"
        );
        assert!(
            decodes_cleanly(path),
            "{} decodes with errors",
            path.display()
        );
        assert_eq!(hash_file(path).unwrap(), (e.size, e.sha256), "index hash");
    }
    // Full segments (not the first or the last cut by shutdown) hold ~2 s (50 frames).
    let mid = probe(&all[1].0).unwrap();
    assert!((45..=80).contains(&mid.packets), "{mid:?}");
    assert!(mid.duration > 1.5 && mid.duration < 3.5, "{mid:?}");
    sup.index().lock().unwrap().verify_chain("c1").unwrap();
    assert_eq!(all[1].1.prev_sha256, all[0].1.sha256);
    // The index reopens to the same content.
    let reopened = Index::open(&root).unwrap();
    assert_eq!(reopened.segments("c1").len(), all.len());
}

#[test]
fn camera_drops_and_returns_without_operator() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let mut srv = RtspServer::start(free_port(), &["/live=live:320x240"]);
    let sup = real_supervisor(&dir.path().join("rec"));
    sup.reconcile(vec![cam("c1", &srv.url("/live"), 1)], vec![]);
    wait_until(Duration::from_secs(20), "first segments", || {
        segs(&sup, "c1").len() >= 2
    });
    srv.kill();
    wait_until(Duration::from_secs(15), "camera offline", || {
        cam_health(&sup, "c1").state != CameraState::Online
    });
    let before = segs(&sup, "c1").len();
    let h = cam_health(&sup, "c1");
    assert!(h.last_error.is_some(), "{h:?}");
    std::thread::sleep(Duration::from_secs(2)); // gap longer than the window merge gap
    srv.restart();
    wait_until(Duration::from_secs(30), "recording resumes", || {
        segs(&sup, "c1").len() >= before + 2
    });
    let h = cam_health(&sup, "c1");
    assert_eq!(h.state, CameraState::Online);
    assert!(h.reconnects >= 1, "{h:?}");
    let windows = sup.take_windows();
    assert!(!windows.is_empty(), "the drop closed a window");
    assert!(sup.take_windows().is_empty(), "windows are handed out once");
    assert_eq!(sup.active_windows().len(), 1);
    sup.shutdown();
    for (p, _) in segs(&sup, "c1") {
        assert!(probe(&p).is_some(), "{} unplayable", p.display());
    }
}

#[test]
fn bad_cameras_do_not_disturb_a_good_one() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let srv = RtspServer::start(free_port(), &["/live=live:320x240"]);
    let garbage = garbage_server();
    let sup = real_supervisor(&dir.path().join("rec"));
    let r = sup.reconcile(
        vec![
            cam("good", &srv.url("/live"), 1),
            cam(
                "unreachable",
                &format!("rtsp://127.0.0.1:{}/x", free_port()),
                1,
            ),
            cam("garbage", &format!("rtsp://127.0.0.1:{garbage}/x"), 1),
            cam("garbage-tcp", &format!("tcp://127.0.0.1:{garbage}"), 1),
            cam("wrong-path", &srv.url("/nope"), 1),
            cam("../evil", "rtsp://x", 1),
        ],
        vec![],
    );
    assert_eq!(r.rejected.len(), 1, "{r:?}");
    assert_eq!(r.rejected[0].path, "[5].id");
    wait_until(Duration::from_secs(30), "good camera records", || {
        segs(&sup, "good").len() >= 3
    });
    wait_until(Duration::from_secs(20), "bad cameras report", || {
        sup.health()
            .cameras
            .iter()
            .filter(|c| c.id != "good")
            .all(|c| c.last_error.is_some() && c.failures >= 1)
    });
    let h = sup.health();
    for c in &h.cameras {
        if c.id == "good" {
            assert_eq!(c.state, CameraState::Online, "{c:?}");
        } else {
            assert_ne!(c.state, CameraState::Online, "{c:?}");
            assert_eq!(segs(&sup, &c.id).len(), 0);
        }
    }
    // Removing the bad ones leaves the good one running untouched.
    let r = sup.reconcile(vec![cam("good", &srv.url("/live"), 1)], vec![]);
    assert_eq!(r.stopped.len(), 4, "{r:?}");
    assert!(r.restarted.is_empty());
    sup.shutdown();
}

#[test]
fn resolution_change_starts_a_new_segment() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let (a, b, ab) = (
        dir.path().join("a.ts"),
        dir.path().join("b.ts"),
        dir.path().join("ab.ts"),
    );
    for (p, size, off) in [(&a, "640x360", "0"), (&b, "320x240", "3")] {
        let src = format!("testsrc=size={size}:rate=25");
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &src,
            "-t",
            "3",
            "-pix_fmt",
            "yuv420p",
            "-c:v",
            "libx264",
            "-g",
            "25",
            "-preset",
            "veryfast",
            "-output_ts_offset",
            off,
            "-f",
            "mpegts",
            p.to_str().unwrap(),
        ]);
    }
    let mut bytes = std::fs::read(&a).unwrap();
    bytes.extend(std::fs::read(&b).unwrap());
    std::fs::write(&ab, bytes).unwrap();
    let srv = RtspServer::start(free_port(), &[&format!("/cam=ts:{}", ab.display())]);
    let sup = real_supervisor(&dir.path().join("rec"));
    sup.reconcile(vec![cam("c1", &srv.url("/cam"), 60)], vec![]);
    wait_until(Duration::from_secs(30), "two segments", || {
        segs(&sup, "c1").len() >= 2
    });
    sup.shutdown();
    let all = segs(&sup, "c1");
    let p0 = probe(&all[0].0).unwrap();
    let p1 = probe(&all[1].0).unwrap();
    assert_eq!((p0.width, p0.height), (640, 360), "{p0:?}");
    assert_eq!((p1.width, p1.height), (320, 240), "{p1:?}");
    assert!(decodes_cleanly(&all[1].0));
}

#[test]
fn retention_holds_and_full_disk_on_recorded_segments() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let srv = RtspServer::start(free_port(), &["/live=live:320x240"]);
    let t0: Timestamp = "2025-03-01T00:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let probe_ = Arc::new(FixedProbe::new(1 << 40, 1 << 40));
    let mut o = opts(&dir.path().join("rec"));
    o.disk.min_free_bytes = 1 << 30;
    let sup = Supervisor::new(o, clock.clone(), probe_.clone()).unwrap();
    sup.reconcile(vec![cam("c1", &srv.url("/live"), 1)], vec![]);
    // Each recorded second is stamped one hour apart on the fake clock.
    let mut n = 0;
    while segs(&sup, "c1").len() < 6 {
        std::thread::sleep(Duration::from_millis(250));
        clock.advance(SignedDuration::from_mins(15));
        n += 1;
        assert!(n < 200, "recording never produced 6 segments");
    }
    sup.reconcile(vec![], vec![]);
    sup.shutdown();
    let all = segs(&sup, "c1");
    let n = all.len();
    let last = &all[n - 1].1;
    assert!(last.end_ms > last.start_ms, "{last:?}");
    // Hold the newest segment only.
    let hold = LegalHold {
        case_number: "25-00042".into(),
        cameras: vec!["c1".into()],
        from: last.start(),
        until: last.end(),
        reason: HoldReason::Court.into(),
    };
    sup.reconcile(vec![], vec![hold.clone()]);

    // Full disk: the oldest unheld goes first, the held one stays, an alarm is raised.
    probe_.set((1 << 30) - all[0].1.size, 1 << 40);
    let r = sup.sweep();
    assert_eq!((r.expired_deleted, r.pressure_deleted), (0, 1), "{r:?}");
    assert!(!all[0].0.exists(), "oldest unheld file removed");
    assert!(all[1].0.exists());
    assert!(sup
        .health()
        .alarms
        .iter()
        .any(|a| a.starts_with("disk_pressure")));
    // Everything unheld gone and still short: alarm says so, held data stays.
    probe_.set(0, 1 << 40);
    let r = sup.sweep();
    assert_eq!(r.pressure_deleted, n - 2);
    assert!(!r.alarm.unwrap().resolved);
    assert!(all[n - 1].0.exists(), "held segment never deleted");
    assert_eq!(segs(&sup, "c1").len(), 1);
    probe_.set(1 << 40, 1 << 40);
    assert!(sup.sweep().alarm.is_none());
    assert!(sup.health().alarms.is_empty(), "alarm clears");

    // Day 31: past retention, the held segment survives.
    clock.advance(SignedDuration::from_hours(24 * 31));
    let r = sup.sweep();
    assert_eq!((r.held_kept, r.expired_deleted), (1, 0), "{r:?}");
    assert!(all[n - 1].0.exists());
    // Release the hold: gone at the next sweep, file and index entry.
    sup.reconcile(vec![], vec![]);
    let r = sup.sweep();
    assert_eq!(r.expired_deleted, 1);
    assert!(!all[n - 1].0.exists());
    assert!(segs(&sup, "c1").is_empty());
    drop(sup);
    assert!(Index::open(dir.path().join("rec")).unwrap().is_empty());
}

/// A camera restarted by a config change while it records: the new run waits
/// for the old one to stop before it recovers what the old one left, so the
/// segment the old run was writing is finished once, by it, and every index
/// hash matches its file.
#[test]
fn a_restarted_camera_keeps_every_segment_hash_true() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let srv = RtspServer::start(free_port(), &["/live=live:320x240"]);
    let root = dir.path().join("rec");
    let sup = real_supervisor(&root);
    let mut c = cam("c1", &srv.url("/live"), 1);
    sup.reconcile(vec![c.clone()], vec![]);
    for round in 0..3 {
        let have = segs(&sup, "c1").len();
        wait_until(Duration::from_secs(30), "two more segments", || {
            segs(&sup, "c1").len() >= have + 2
        });
        // Mid-segment: any change to the camera's config restarts it.
        std::thread::sleep(Duration::from_millis(300));
        c.retention_days = 20 + round;
        let r = sup.reconcile(vec![c.clone()], vec![]);
        assert_eq!(r.restarted, ["c1"]);
    }
    let have = segs(&sup, "c1").len();
    wait_until(
        Duration::from_secs(30),
        "recording after the restarts",
        || segs(&sup, "c1").len() >= have + 2,
    );
    sup.shutdown();
    let all = segs(&sup, "c1");
    let mut files = std::collections::BTreeSet::new();
    for (path, e) in &all {
        assert!(
            files.insert(path.clone()),
            "{} indexed twice",
            path.display()
        );
        assert_eq!(
            hash_file(path).unwrap(),
            (e.size, e.sha256),
            "{}: the index hash no longer matches the file",
            path.display()
        );
    }
    sup.index().lock().unwrap().verify_chain("c1").unwrap();
}
