//! Privacy masks with real parts: a controller (embedded store, TLS, a clock
//! the test moves), a GStreamer RTSP camera sending SMPTE colour bars, and an
//! agent that records it and burns the camera's mask into what it plays back.
//! Masks that are not right (too few points, outside the frame, a name twice)
//! are refused on apply, each problem named by its field path.
//!
//! Through the real CLI: `camplane view playback` gives an MP4 whose pixels
//! (read back by FFmpeg as grey) are black inside the mask (the left half of
//! the top quarter) and the bars outside; the session and its audit entries
//! say `masked: true`. `--unmasked` without a lift is refused and audited; a
//! viewer cannot lift, the chief cannot lift for over 60 minutes or without a
//! reason (each refusal audited); the chief's lift for the viewer lets
//! `--unmasked` show the bars inside the mask, and once the lift has expired
//! (the controller's clock moved 2 minutes) it is refused again, audited.
//! `recordings export --masked` writes masked segments whose manifest lists
//! them and the originals' hashes, and `export verify` passes.
//!
//! Live view the same way (`camplane view live`): masked by default, shared
//! per (camera, masked), unmasked only while the chief's lift lasts (a running
//! unmasked view ends at its expiry); and in the console's player, where
//! headless Chromium decodes it black inside the mask.

mod common;

use camplane_agent::control::Session;
use camplane_controller::clock::ManualClock;
use camplane_proto::v1 as pb;
use camplane_testkit::console::Browser;
use camplane_testkit::{agent, controller as ctl, servers};
use common::*;
use jiff::{SignedDuration, Timestamp};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const W: usize = 320;
const H: usize = 240;

/// The first picture of `file` as grey bytes (W×H).
fn grey(file: &Path) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .expect("ffmpeg on PATH");
    assert!(out.status.success(), "ffmpeg {}", file.display());
    assert_eq!(out.stdout.len(), W * H, "{}", file.display());
    out.stdout
}

/// The brightest pixel inside the mask (2 pixels in from its edges).
fn brightest_inside(px: &[u8]) -> u8 {
    (2..H / 4 - 2)
        .flat_map(|y| (2..W / 2 - 2).map(move |x| px[y * W + x]))
        .max()
        .unwrap()
}

/// The mean of the pixels inside the mask.
fn mean_inside(px: &[u8]) -> u64 {
    let v: Vec<u64> = (0..H / 4)
        .flat_map(|y| (0..W / 2).map(move |x| u64::from(px[y * W + x])))
        .collect();
    v.iter().sum::<u64>() / v.len() as u64
}

/// Mean absolute difference of two pictures away from the mask (below it,
/// 4 pixels clear of its edge).
fn outside_difference(a: &[u8], b: &[u8]) -> u64 {
    let v: Vec<u64> = (H / 4 + 4..H)
        .flat_map(|y| (0..W).map(move |x| y * W + x))
        .map(|i| u64::from(a[i].abs_diff(b[i])))
        .collect();
    v.iter().sum::<u64>() / v.len() as u64
}

/// A controller with a clock the test moves, a bars camera (`cam-1`) whose
/// mask `window-a` covers the left half of the top quarter, activated, and
/// an agent recording and tapping it.
struct World {
    dir: PathBuf,
    h: ctl::Harness,
    clock: ManualClock,
    sup: Arc<camplane_agent::Supervisor>,
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    cli: Cli,
    /// The camera's manifest as applied.
    assigned: String,
    chief: String,
    _cam: servers::RtspServer,
    _tmp: tempfile::TempDir,
}

impl World {
    async fn start() -> World {
        servers::require_tools();
        let tmp = tempfile::tempdir().unwrap();
        let dir_path = tmp.path().canonicalize().unwrap();
        let port = servers::free_port();
        let cam = servers::RtspServer::start(port, &[&format!("/cam=bars:{W}x{H}")]);
        let ca = dir_path.join("ca.pem");
        let mut cfg = ctl::config_embedded(&dir_path.join("store"));
        cfg.tls.ca_cert_file = Some(ca.clone());
        cfg.console_listen = Some("127.0.0.1:0".into());
        let clock = ManualClock::new(Timestamp::now());
        let h = ctl::start(cfg, Some(Arc::new(clock.clone()))).await;
        ctl::apply(&h, &h.admin, ctl::CITY).await.unwrap();
        let token = agent::enroll_token(&h, "city-hall").await;
        let assigned = cam1_manifest(
            port,
            "\n  privacy_masks:\n    - name: window-a\n      polygon: [[0, 0], [0.5, 0], [0.5, 0.25], [0, 0.25]]",
        );
        let mgr = ctl::user(&h, "m", &["dept_manager"], "police").await;
        let chief = ctl::qualified_user(&h, "c", "chief", "police").await;
        activate_cam1(&h, &assigned, &mgr, &chief).await;

        let adir = dir_path.join("agent");
        let acfg = agent::config(h.running.addr.port(), &ca, &adir, &token.token);
        let sup = agent::supervisor(&adir);
        let session = Session::new(acfg, sup.clone()).unwrap();
        let stop = CancellationToken::new();
        let reporter = tokio::spawn(session.clone().run_reporter(stop.clone()));
        let runner = tokio::spawn(session.clone().run(stop.clone()));
        let tasks = vec![
            tokio::spawn(async move {
                let _ = reporter.await;
            }),
            tokio::spawn(async move {
                let _ = runner.await;
            }),
        ];
        let cli = Cli {
            server: format!("https://127.0.0.1:{}", h.running.addr.port()),
            ca: ca.display().to_string(),
        };
        World {
            dir: dir_path,
            h,
            clock,
            sup,
            stop,
            tasks,
            cli,
            assigned,
            chief,
            _cam: cam,
            _tmp: tmp,
        }
    }

    async fn stop(self) {
        self.stop.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
        self.h.cancel.cancel();
    }

    /// `camplane ARGS` as the holder of `token`; its exit code.
    async fn run(&self, token: &str, args: &[String]) -> i32 {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        self.cli.run(token, &a).await
    }
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// `masks lift` of cam-1 for `user`.
fn lift_args(user: &str, minutes: &str, reason: &str) -> Vec<String> {
    strings(&[
        "masks",
        "lift",
        "--user",
        user,
        "--camera",
        "cam-1",
        "--minutes",
        minutes,
        "--reason",
        reason,
    ])
}

/// Whether `v` holds an entry of `actor` denied with a result saying `says`.
fn denied(v: &[serde_json::Value], actor: &str, says: &str) -> bool {
    v.iter().any(|e| {
        e["actor"] == actor
            && e["result"]
                .as_str()
                .is_some_and(|r| r.starts_with("denied") && r.contains(says))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn masks_are_burned_in_and_lifted_only_by_the_chief_for_a_while() {
    let w = World::start().await;
    let (h, clock, sup, chief) = (&w.h, &w.clock, &w.sup, &w.chief);
    let dir_path = w.dir.clone();
    // Bad masks are refused on apply (the controller's check, whatever the
    // client), every problem named by its field path.
    let ms = camplane_config::manifest::parse("city.yaml", &w.assigned).unwrap();
    let cam = ms.iter().find(|m| m.name == "cam-1").unwrap();
    let mut spec = cam.spec.to_json();
    spec["privacy_masks"] = serde_json::json!([
        {"name": "window-a", "polygon": [[0, 0], [1, 1]]},
        {"name": "window-a", "polygon": [[0, 0], [0.5, 0], [1.5, 0.25]]},
    ]);
    let e = pb::objects_client::ObjectsClient::new(h.channel.clone())
        .apply(ctl::req(
            &h.admin,
            pb::ApplyRequest {
                objects: vec![pb::Object {
                    kind: "Camera".into(),
                    name: "cam-1".into(),
                    json: serde_json::to_vec(&spec).unwrap(),
                    revision: 0,
                }],
                source: "bad.yaml".into(),
                dry_run: false,
            },
        ))
        .await
        .unwrap_err();
    for says in [
        "spec.privacy_masks[0].polygon",
        "at least 3 points",
        "spec.privacy_masks[1].name",
        "spec.privacy_masks[1].polygon[2]",
        "outside the frame",
    ] {
        assert!(e.message().contains(says), "{says}: {}", e.message());
    }

    // Four segments recorded (about 8 s of video); the range skips the first.
    let recorded = wait_segments(sup, 4, Duration::from_secs(60)).await;
    let (from, to) = (recorded[1].1, recorded[2].2);
    let (from_s, to_s) = (from.to_string(), to.to_string());

    let cli = &w.cli;
    let viewer = ctl::qualified_user(h, "v-police", "viewer", "police").await;
    let play = |out: &Path, unmasked: bool| {
        let mut a: Vec<String> = [
            "view",
            "playback",
            "cam-1",
            "--from",
            &from_s,
            "--to",
            &to_s,
            "--out",
            &out.display().to_string(),
            "--reason",
            "incident 7",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if unmasked {
            a.push("--unmasked".into());
        }
        a
    };
    let run = |token: String, args: Vec<String>| async move {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        cli.run(&token, &a).await
    };

    // Masked by default: black inside the mask, the bars outside.
    let masked = dir_path.join("masked.mp4");
    assert_eq!(run(viewer.clone(), play(&masked, false)).await, 0);
    let m = grey(&masked);
    assert!(
        brightest_inside(&m) <= 24,
        "not black inside the mask: {}",
        brightest_inside(&m)
    );
    // The original recording's picture: the same outside the mask, bars inside.
    let original = grey(&recorded[1].0);
    assert!(
        mean_inside(&original) > 100,
        "the bars: {}",
        mean_inside(&original)
    );
    assert!(
        outside_difference(&m, &original) <= 8,
        "the picture outside the mask changed: {}",
        outside_difference(&m, &original)
    );
    let start = entries(h, "view.start").await;
    let start = start
        .iter()
        .find(|e| e["actor"] == "v-police" && e["result"] == "ok")
        .expect("view.start");
    assert_eq!(start["details"]["masked"], true);
    assert_eq!(start["details"]["masks"], serde_json::json!(["window-a"]));
    let id = start["details"]["session"].as_str().unwrap().to_string();
    let t = Instant::now();
    loop {
        let end = entries(h, "view.end").await;
        if let Some(e) = end.iter().find(|e| e["details"]["session"] == id.as_str()) {
            assert_eq!(e["details"]["masked"], true);
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "no view.end");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // --unmasked without a lift: refused, audited.
    let refused = dir_path.join("refused.mp4");
    assert_ne!(run(viewer.clone(), play(&refused, true)).await, 0);
    assert!(
        denied(&entries(h, "view.start").await, "v-police", "masks lift"),
        "unmasked without a lift not audited"
    );

    // Only the chief lifts, for at most 60 minutes, with a reason; audited.
    let lift = |minutes: &str, reason: &str| -> Vec<String> {
        [
            "masks",
            "lift",
            "--user",
            "v-police",
            "--camera",
            "cam-1",
            "--minutes",
            minutes,
            "--reason",
            reason,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    assert_ne!(run(viewer.clone(), lift("10", "me")).await, 0);
    assert!(denied(&entries(h, "mask.lift").await, "v-police", "chief"));
    assert_ne!(run(chief.clone(), lift("61", "too long")).await, 0);
    assert_ne!(run(chief.clone(), lift("10", " ")).await, 0);
    let lifts = entries(h, "mask.lift").await;
    assert_eq!(
        lifts
            .iter()
            .filter(|e| e["actor"] == "c"
                && e["result"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("refused")))
            .count(),
        2,
        "{lifts:?}"
    );
    assert_eq!(
        run(
            chief.clone(),
            lift("1", "case 26-04120: the window is evidence")
        )
        .await,
        0
    );
    let ok = entries(h, "mask.lift").await;
    let ok = ok
        .iter()
        .find(|e| e["result"] == "ok")
        .expect("mask.lift ok");
    assert_eq!(ok["actor"], "c");
    assert_eq!(ok["details"]["user"], "v-police");
    assert_eq!(ok["details"]["minutes"], 1);

    // With the lift: the original, bars inside the mask.
    let unmasked = dir_path.join("unmasked.mp4");
    assert_eq!(run(viewer.clone(), play(&unmasked, true)).await, 0);
    let u = grey(&unmasked);
    assert!(mean_inside(&u) > 100, "masked still: {}", mean_inside(&u));
    let starts = entries(h, "view.start").await;
    assert!(starts.iter().any(|e| e["actor"] == "v-police"
        && e["result"] == "ok"
        && e["details"]["masked"] == false
        && e["details"]["unmasked"] == true));

    // The lift expires: refused again, audited.
    clock.advance(Duration::from_secs(120));
    let late = dir_path.join("late.mp4");
    assert_ne!(run(viewer.clone(), play(&late, true)).await, 0);
    assert!(
        denied(&entries(h, "view.start").await, "v-police", "expired"),
        "an expired lift not audited"
    );
    // Masked viewing goes on.
    let again = dir_path.join("again.mp4");
    assert_eq!(run(viewer.clone(), play(&again, false)).await, 0);
    assert!(brightest_inside(&grey(&again)) <= 24);

    masked_export(h, &w.cli, chief, &dir_path, from, to, &recorded).await;
    w.stop().await;
}

/// Live view of a masked camera, through the real CLI and the gRPC door:
/// masked by default (black inside the mask, the bars outside; the session,
/// `view.start` and `view.end` say `masked: true`); two masked viewers share
/// one agent stream and an unmasked one needs a second; `--unmasked` without
/// a lift is refused and audited; with the chief's lift the original picture
/// (bars inside the mask); a change of the camera's masks ends the masked
/// views running (the lifted one goes on); when the lift expires (the
/// controller's clock moved) a running unmasked view ends, and a new one is
/// refused, audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_view_is_masked_and_unmasked_only_while_the_chiefs_lift_lasts() {
    let w = World::start().await;
    let (h, sup) = (&w.h, &w.sup);
    let viewer = ctl::qualified_user(h, "v-police", "viewer", "police").await;
    wait_for_picture(sup).await;
    let live = |out: &Path, unmasked: bool| {
        let mut a = strings(&[
            "view",
            "live",
            "cam-1",
            "--seconds",
            "2",
            "--out",
            &out.display().to_string(),
            "--reason",
            "watching the door",
        ]);
        if unmasked {
            a.push("--unmasked".into());
        }
        a
    };

    // ---- masked by default ----
    let masked = w.dir.join("live-masked.mp4");
    assert_eq!(
        w.run(&viewer, &live(&masked, false)).await,
        0,
        "masked live view"
    );
    let m = grey(&masked);
    assert!(
        brightest_inside(&m) <= 24,
        "not black inside the mask: {}",
        brightest_inside(&m)
    );
    let below: u64 = m[(H / 4 + 4) * W..]
        .iter()
        .map(|&p| u64::from(p))
        .sum::<u64>()
        / ((H - H / 4 - 4) * W) as u64;
    assert!(below > 60, "the bars outside the mask are gone: {below}");
    let start = last_start(h, "v-police").await;
    assert_eq!(start["details"]["mode"], "live");
    assert_eq!(start["details"]["masked"], true);
    assert_eq!(start["details"]["masks"], serde_json::json!(["window-a"]));
    let id = start["details"]["session"].as_str().unwrap().to_string();
    let end = view_end(h, &id).await;
    assert_eq!(end["details"]["masked"], true);
    assert_eq!(end["details"]["outcome"], "completed");
    assert_eq!(
        end["details"]["bytes"],
        std::fs::metadata(&masked).unwrap().len()
    );

    // ---- --unmasked without a lift: refused, audited ----
    let refused = w.dir.join("live-refused.mp4");
    assert_ne!(w.run(&viewer, &live(&refused, true)).await, 0);
    assert!(
        denied(&entries(h, "view.start").await, "v-police", "masks lift"),
        "an unmasked live view without a lift not audited"
    );

    // ---- the chief's lift: the original picture ----
    assert_eq!(
        w.run(
            &w.chief,
            &lift_args("v-police", "1", "case 26-04121: the door")
        )
        .await,
        0
    );
    let unmasked = w.dir.join("live-unmasked.mp4");
    assert_eq!(w.run(&viewer, &live(&unmasked, true)).await, 0, "lifted");
    let u = grey(&unmasked);
    assert!(mean_inside(&u) > 100, "masked still: {}", mean_inside(&u));
    assert!(
        outside_difference(&m, &u) <= 8,
        "masked and original differ outside the mask: {}",
        outside_difference(&m, &u)
    );
    let start = last_start(h, "v-police").await;
    assert_eq!(start["details"]["masked"], false);
    assert_eq!(start["details"]["unmasked"], true);
    let id = start["details"]["session"].as_str().unwrap().to_string();
    assert_eq!(view_end(h, &id).await["details"]["masked"], false);

    // ---- one agent stream per (camera, masked) ----
    let viewing = pb::viewing_client::ViewingClient::new(h.channel.clone());
    let open = |unmasked: bool| {
        let mut v = viewing.clone();
        let r = ctl::req(
            &viewer,
            pb::LiveRequest {
                camera: "cam-1".into(),
                reason: String::new(),
                unmasked,
                seconds: 0,
            },
        );
        async move { v.live(r).await.unwrap().into_inner() }
    };
    let mut streams = vec![open(false).await, open(false).await];
    for s in &mut streams {
        s.message().await.unwrap().unwrap(); // the session id
        let init = s.message().await.unwrap().unwrap();
        assert_eq!(&init.data[4..8], b"ftyp");
        for _ in 0..5 {
            s.message().await.unwrap().unwrap();
        }
    }
    assert_eq!(
        sup.live().open_streams(),
        1,
        "two masked viewers, one stream"
    );
    let mut plain = open(true).await;
    for _ in 0..5 {
        plain.message().await.unwrap().unwrap();
    }
    assert_eq!(
        sup.live().open_streams(),
        2,
        "a masked and an unmasked stream"
    );
    let relay = h
        .running
        .controller
        .wing::<camplane_controller::viewing::live::Relay>();
    assert_eq!(relay.feeds(), 2);

    // ---- the camera's masks change: masked views end, the lifted one goes on ----
    let two = w.assigned.replace(
        "      polygon: [[0, 0], [0.5, 0], [0.5, 0.25], [0, 0.25]]",
        "      polygon: [[0, 0], [0.5, 0], [0.5, 0.25], [0, 0.25]]\n    - name: window-b\n      polygon: [[0.5, 0.75], [1, 0.75], [1, 1], [0.5, 1]]",
    );
    assert_ne!(two, w.assigned);
    ctl::apply(h, &h.admin, &two).await.unwrap();
    for s in &mut streams {
        let t = Instant::now();
        let st = loop {
            match tokio::time::timeout(Duration::from_secs(10), s.message()).await {
                Ok(Ok(Some(_))) => {}
                Ok(Err(st)) => break st,
                other => panic!("the masked view went on: {other:?}"),
            }
            assert!(t.elapsed() < Duration::from_secs(20), "no end");
        };
        assert_eq!(st.code(), tonic::Code::FailedPrecondition, "{st:?}");
        assert!(st.message().contains("masks changed"), "{}", st.message());
    }
    assert!(entries(h, "view.end")
        .await
        .iter()
        .any(
            |e| e["details"]["outcome"] == "ended: the camera's privacy masks changed"
                && e["details"]["masked"] == true
        ));
    for _ in 0..30 {
        plain.message().await.unwrap().unwrap();
    }
    drop(streams);

    // ---- the lift expires: the unmasked view ends, a new one is refused ----
    w.clock.advance(Duration::from_secs(120));
    let t = Instant::now();
    let st = loop {
        match tokio::time::timeout(Duration::from_secs(10), plain.message()).await {
            Ok(Ok(Some(_))) => {}
            Ok(Err(st)) => break st,
            other => panic!("the unmasked view went on: {other:?}"),
        }
        assert!(t.elapsed() < Duration::from_secs(20), "no end at expiry");
    };
    assert_eq!(st.code(), tonic::Code::PermissionDenied, "{st:?}");
    assert!(st.message().contains("expired"), "{}", st.message());
    let cut = entries(h, "view.end")
        .await
        .into_iter()
        .rfind(|e| e["details"]["masked"] == false && e["details"]["mode"] == "live")
        .expect("the cut view's end");
    assert_eq!(cut["details"]["outcome"], "ended: the lift expired");
    let late = w.dir.join("live-late.mp4");
    assert_ne!(w.run(&viewer, &live(&late, true)).await, 0);
    assert!(
        denied(&entries(h, "view.start").await, "v-police", "expired"),
        "an unmasked live view after the lift expired not audited"
    );
    let t = Instant::now();
    while sup.live().open_streams() != 0 {
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "agent streams stay open after their viewers left"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    w.stop().await;
}

/// Waits until the console's player has played more than a second.
async fn wait_playing(b: &mut Browser) {
    let t = Instant::now();
    loop {
        let v = b
            .eval(
                "(() => { const v = document.getElementById('player-video'); \
                 return [v.currentTime, v.getVideoPlaybackQuality().totalVideoFrames, \
                 document.getElementById('player-status').textContent]; })()",
            )
            .await;
        if v[0].as_f64().unwrap_or(0.0) > 1.0 && v[1].as_u64().unwrap_or(0) > 0 {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(40),
            "the live video did not play: {v}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The decoded picture, as the page shows it: its size, the brightest pixel
/// inside the mask (2 pixels in from its edges) and the mean below it.
async fn picture(b: &mut Browser) -> (u64, u64, f64, f64) {
    let px = b
        .eval(
            "(() => { const v = document.getElementById('player-video'); \
             const c = document.createElement('canvas'); c.width = v.videoWidth; \
             c.height = v.videoHeight; const g = c.getContext('2d'); g.drawImage(v, 0, 0); \
             const d = g.getImageData(0, 0, c.width, c.height).data; \
             const y = (i) => 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2]; \
             let inside = 0, sum = 0, n = 0; \
             for (let r = 2; r < c.height / 4 - 2; r++) for (let x = 2; x < c.width / 2 - 2; x++) \
               inside = Math.max(inside, y((r * c.width + x) * 4)); \
             for (let r = c.height / 4 + 4; r < c.height; r++) for (let x = 0; x < c.width; x++) \
               { sum += y((r * c.width + x) * 4); n++; } \
             return [c.width, c.height, inside, sum / n]; })()",
        )
        .await;
    eprintln!("the browser's picture: {px}");
    (
        px[0].as_u64().unwrap(),
        px[1].as_u64().unwrap(),
        px[2].as_f64().unwrap(),
        px[3].as_f64().unwrap(),
    )
}

/// The player's session id.
async fn session_of(b: &mut Browser) -> String {
    b.eval("document.getElementById('player-video').getAttribute('data-session')")
        .await
        .as_str()
        .unwrap()
        .to_string()
}

/// The console's live player on the masked camera: headless Chromium plays
/// it, and the picture it decoded (drawn onto a canvas and read back) is black
/// inside the mask and the bars outside; the session says `masked: true`. The
/// page offers the original picture only once the chief has lifted the masks
/// for the viewer; then it plays unmasked (the bars inside the mask), audited
/// `masked: false`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_plays_a_masked_camera_live_masked() {
    let w = World::start().await;
    let h = &w.h;
    ctl::qualified_user(h, "v-police", "viewer", "police").await;
    wait_for_picture(&w.sup).await;
    let base = format!("https://{}", h.running.console_addr.unwrap());
    let mut b = Browser::launch().await;
    b.sign_in(&base, "v-police", &ctl::user_password("v-police"))
        .await;
    b.goto(&format!(
        "{base}/console/cameras/cam-1?live=1&reason=masked%20check"
    ))
    .await;
    wait_playing(&mut b).await;
    let (width, height, inside, below) = picture(&mut b).await;
    assert_eq!((width, height), (W as u64, H as u64));
    assert!(
        inside <= 24.0,
        "not black inside the mask in the browser: {inside}"
    );
    assert!(
        below > 60.0,
        "the bars outside the mask are gone in the browser: {below}"
    );
    // No lift: no offer of the original picture.
    assert_eq!(
        b.eval("!!document.querySelector('a.unmasked')").await,
        false,
        "the original picture offered without a lift"
    );
    let shots = std::env::var_os("CAMPLANE_SHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| w.dir.join("shots"));
    b.screenshot(1280, &shots.join("live-masked-1280.png"))
        .await;
    let sid = session_of(&mut b).await;
    let start = entries(h, "view.start")
        .await
        .into_iter()
        .find(|e| e["details"]["session"] == sid.as_str())
        .expect("view.start of the console's live view");
    assert_eq!(start["details"]["mode"], "live");
    assert_eq!(start["details"]["masked"], true);
    b.goto(&format!("{base}/console/cameras")).await;
    assert_eq!(view_end(h, &sid).await["details"]["masked"], true);

    // Asking for the original without a lift: told so, shown masked.
    b.goto(&format!("{base}/console/cameras/cam-1?live=1&unmasked=1"))
        .await;
    b.wait_for("!!document.getElementById('player-video')")
        .await;
    let page = b.eval("document.body.innerText").await;
    assert!(
        page.as_str()
            .unwrap()
            .contains("needs the chief's current lift"),
        "{page}"
    );
    b.goto(&format!("{base}/console/cameras")).await;

    // The chief lifts the masks for the viewer: the page offers the original.
    assert_eq!(
        w.cli
            .run(
                &w.chief,
                &lift_args("v-police", "5", "case 26-04122: the side door")
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
            )
            .await,
        0
    );
    b.goto(&format!(
        "{base}/console/cameras/cam-1?live=1&reason=lifted%20check"
    ))
    .await;
    b.wait_for("!!document.querySelector('a.unmasked')").await;
    b.eval("document.querySelector('a.unmasked').click()").await;
    b.wait_for("location.search.includes('unmasked=1') && !!document.querySelector('a.masked')")
        .await;
    wait_playing(&mut b).await;
    let (_, _, inside, _) = picture(&mut b).await;
    assert!(
        inside > 60.0,
        "the original picture is still black inside the mask: {inside}"
    );
    let sid = session_of(&mut b).await;
    let start = entries(h, "view.start")
        .await
        .into_iter()
        .find(|e| e["details"]["session"] == sid.as_str())
        .expect("view.start of the unmasked live view");
    assert_eq!(start["details"]["masked"], false);
    assert_eq!(start["details"]["unmasked"], true);
    assert_eq!(start["details"]["reason"], "lifted check");
    b.goto(&format!("{base}/console/cameras")).await;
    assert_eq!(view_end(h, &sid).await["details"]["masked"], false);
    drop(b);
    w.stop().await;
}

/// `recordings export --masked`: masked segments, a manifest naming them and
/// the originals' hashes, `export verify` passing, pixels masked.
async fn masked_export(
    h: &ctl::Harness,
    cli: &Cli,
    chief: &str,
    dir: &Path,
    from: Timestamp,
    to: Timestamp,
    recorded: &[(PathBuf, Timestamp, Timestamp)],
) {
    let out = dir.join("export-masked");
    let (from_s, to_s) = (
        from.to_string(),
        (to - SignedDuration::from_millis(1)).to_string(),
    );
    let code = cli
        .run(
            chief,
            &[
                "recordings",
                "export",
                "--camera",
                "cam-1",
                "--from",
                &from_s,
                "--to",
                &to_s,
                "--case",
                "26-04120",
                "--recipient",
                "A. Reporter, Telegraph Herald",
                "--out",
                &out.display().to_string(),
                "--masked",
            ],
        )
        .await;
    assert_eq!(code, 0, "masked export");
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let files = m["masked_files"].as_array().expect("masked_files");
    assert!(!files.is_empty());
    let originals = m["files"].as_array().unwrap();
    assert_eq!(files.len(), originals.len());
    for (f, o) in files.iter().zip(originals) {
        assert_eq!(f["original_sha256"], o["sha256"]);
        let p = recorded
            .iter()
            .find(|(p, _, _)| p.file_name().unwrap().to_str() == o["name"].as_str())
            .expect("an original recorded segment")
            .0
            .clone();
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(
            hex_sha256(&bytes),
            o["sha256"].as_str().unwrap(),
            "the original's hash"
        );
        // The original is not in the export: only the masked file.
        assert!(!out.join(o["name"].as_str().unwrap()).exists());
        let masked = out.join(f["name"].as_str().unwrap());
        assert!(
            brightest_inside(&grey(&masked)) <= 24,
            "{}",
            masked.display()
        );
    }
    assert_eq!(
        cli.run(chief, &["export", "verify", &out.display().to_string()])
            .await,
        0,
        "export verify"
    );
    let ex = entries(h, "recordings.export").await;
    assert!(ex
        .iter()
        .any(|e| e["result"] == "ok" && e["details"]["masked"] == true));
}

fn hex_sha256(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}
