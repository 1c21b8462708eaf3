//! Live view through the controller with real parts: a controller (embedded
//! store, TLS), a GStreamer RTSP camera sending live x264, and an agent that
//! records it and taps it for live view.
//!
//! Through the real CLI (`camplane view live CAM --seconds 3 --out f.mp4`):
//! an MP4 ffprobe reads as H.264, its first frame a keyframe, its frames
//! spanning about 3 s; `view.start` and `view.end` with mode live and bytes =
//! the file's size. Two viewers of one camera share one agent stream (the
//! agent's open-stream count is 1), which closes when both leave; while one
//! stops reading, the other gets every frame in real time and the stalled one
//! skips ahead. A viewer of
//! another department is refused, audited. The camera's RTSP server killed
//! mid-view, then the agent stopped mid-view: each time the CLI exits non-zero
//! with the reason, and `view.end` is recorded with the failure.

mod common;

use camplane_agent::control::Session;
use camplane_agent::ingest::IngestOptions;
use camplane_proto::v1 as pb;
use camplane_testkit::{agent, controller as ctl, servers};
use common::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

fn ffprobe(args: &[&str], file: &Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json"])
        .args(args)
        .arg(file)
        .output()
        .expect("ffprobe on PATH");
    assert!(
        out.status.success(),
        "ffprobe {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The first picture of `file` as grey bytes (`w`×`h`), read by FFmpeg.
fn first_picture_grey(file: &Path, w: usize, h: usize) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .expect("ffmpeg on PATH");
    assert!(out.status.success(), "ffmpeg {}", file.display());
    assert_eq!(out.stdout.len(), w * h, "{}", file.display());
    out.stdout
}

/// The session's `view.end`, waited for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_view_is_shared_audited_and_ends_cleanly() {
    servers::require_tools();
    let dir = tempfile::tempdir().unwrap();
    let dir_path = dir.path().canonicalize().unwrap();
    let port = servers::free_port();
    // About 1.5 Mb/s, so a viewer that stops reading fills its buffers soon.
    let mut cam = servers::RtspServer::start(port, &["/cam=live:320x240@1500"]);
    let ca = dir_path.join("ca.pem");
    let mut cfg = ctl::config_embedded(&dir_path.join("store"));
    cfg.tls.ca_cert_file = Some(ca.clone());
    let h = ctl::start(cfg, None).await;
    ctl::apply(&h, &h.admin, ctl::CITY).await.unwrap();
    let token = agent::enroll_token(&h, "city-hall").await;
    let assigned = cam1_manifest(port, "");
    let mgr = ctl::user(&h, "m", &["dept_manager"], "police").await;
    let chief = ctl::user(&h, "c", &["chief"], "police").await;
    activate_cam1(&h, &assigned, &mgr, &chief).await;

    let adir = dir_path.join("agent");
    let acfg = agent::config(h.running.addr.port(), &ca, &adir, &token.token);
    // A killed camera is noticed within a couple of seconds.
    let sup = agent::supervisor_with(
        &adir,
        IngestOptions {
            socket_timeout: Duration::from_secs(2),
            silence_timeout: Duration::from_secs(2),
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(1),
            window_merge_gap: jiff::SignedDuration::from_secs(1),
            ..Default::default()
        },
    );
    let session = Session::new(acfg, sup.clone()).unwrap();
    let stop = CancellationToken::new();
    let reporter = tokio::spawn(session.clone().run_reporter(stop.clone()));
    let runner = tokio::spawn(session.clone().run(stop.clone()));
    wait_for_picture(&sup).await;

    let cli = Cli {
        server: format!("https://127.0.0.1:{}", h.running.addr.port()),
        ca: ca.display().to_string(),
    };
    let viewer = ctl::qualified_user(&h, "v-police", "viewer", "police").await;
    let other = ctl::qualified_user(&h, "v-parks", "viewer", "parks").await;

    // ---- 3 s through the CLI ----
    let out = dir_path.join("live.mp4");
    let out_s = out.display().to_string();
    let t = Instant::now();
    let code = cli
        .run(
            &viewer,
            &[
                "view",
                "live",
                "cam-1",
                "--seconds",
                "3",
                "--out",
                &out_s,
                "--reason",
                "watching the entrance",
            ],
        )
        .await;
    assert_eq!(code, 0, "live view through the CLI");
    eprintln!("3 s of live view took {:?}", t.elapsed());
    let bytes = std::fs::read(&out).unwrap();
    assert!(bytes.windows(4).any(|w| w == b"moof"), "not fragmented");
    let st = ffprobe(
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height",
        ],
        &out,
    );
    assert_eq!(st["streams"][0]["codec_name"], "h264", "{st}");
    assert_eq!(st["streams"][0]["width"], 320);
    let fr = ffprobe(
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=key_frame,pts_time,best_effort_timestamp_time",
        ],
        &out,
    );
    let frames = fr["frames"].as_array().unwrap();
    assert!(frames.len() >= 50, "{} frames decoded", frames.len());
    assert_eq!(frames[0]["key_frame"], 1, "the first frame is a keyframe");
    let time = |f: &serde_json::Value| -> f64 {
        f["pts_time"]
            .as_str()
            .or(f["best_effort_timestamp_time"].as_str())
            .unwrap()
            .parse()
            .unwrap()
    };
    let span = time(frames.last().unwrap()) - time(&frames[0]);
    assert!(
        (2.5..=3.5).contains(&span),
        "frames span {span} s for --seconds 3"
    );
    let start = last_start(&h, "v-police").await;
    assert_eq!(start["details"]["mode"], "live");
    assert_eq!(start["details"]["reason"], "watching the entrance");
    assert_eq!(start["details"]["basis"], "installing department");
    let id = start["details"]["session"].as_str().unwrap().to_string();
    let end = view_end(&h, &id).await;
    assert_eq!(end["details"]["mode"], "live");
    assert_eq!(end["details"]["bytes"], bytes.len() as u64);
    assert_eq!(end["details"]["masked"], false);
    assert_eq!(end["details"]["outcome"], "completed");
    assert!(end["details"]["duration_ms"].as_i64().unwrap() > 0);

    // ---- two viewers share one agent stream ----
    let viewing = pb::viewing_client::ViewingClient::new(h.channel.clone());
    let live = |token: &str| {
        let mut v = viewing.clone();
        let r = ctl::req(
            token,
            pb::LiveRequest {
                camera: "cam-1".into(),
                reason: String::new(),
                unmasked: false,
                seconds: 0,
            },
        );
        async move { v.live(r).await.unwrap().into_inner() }
    };
    let mut a = live(&viewer).await;
    // b on its own connection with small HTTP/2 windows: when it stops
    // reading, the controller's sends to it stop soon.
    let small = tonic::transport::Endpoint::from_shared(format!(
        "https://127.0.0.1:{}",
        h.running.addr.port()
    ))
    .unwrap()
    .tls_config(
        tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(&h.running.ca_pem)),
    )
    .unwrap()
    .initial_stream_window_size(16 << 10)
    .initial_connection_window_size(64 << 10)
    .connect()
    .await
    .unwrap();
    let mut b = pb::viewing_client::ViewingClient::new(small)
        .live(ctl::req(
            &viewer,
            pb::LiveRequest {
                camera: "cam-1".into(),
                reason: String::new(),
                unmasked: false,
                seconds: 0,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let mut sessions = vec![];
    for s in [&mut a, &mut b] {
        let first = s.message().await.unwrap().unwrap();
        sessions.push(first.session);
        let init = s.message().await.unwrap().unwrap();
        assert_eq!(&init.data[4..8], b"ftyp", "the init segment comes first");
        let key = s.message().await.unwrap().unwrap();
        assert_eq!(&key.data[4..8], b"moof");
        for _ in 0..10 {
            s.message().await.unwrap().unwrap();
        }
    }
    assert_eq!(sup.live().open_streams(), 1, "one agent stream for both");
    // Each running session is marked as this controller's, under its lease
    // (a controller that dies loses the marks and the leader ends the sessions).
    let store = &h.running.controller.store;
    for s in &sessions {
        let mark = store
            .get(&camplane_controller::viewing::held_key(s))
            .await
            .unwrap();
        assert!(mark.is_some(), "session {s} is marked while it runs");
    }
    // b stops reading: a keeps getting the camera in real time; b's queue
    // fills and it skips ahead, and reads on from a keyframe afterwards.
    let relay = h
        .running
        .controller
        .wing::<camplane_controller::viewing::live::Relay>();
    let skipped = relay.skipped();
    let t = Instant::now();
    let mut n = 0;
    while relay.skipped() == skipped {
        a.message().await.unwrap().unwrap();
        n += 1;
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the stalled viewer never skipped"
        );
    }
    let secs = t.elapsed().as_secs_f64();
    assert!(
        n as f64 >= secs * 25.0 * 0.8,
        "the reading viewer got {n} fragments in {secs:.1} s (25 fps)"
    );
    for _ in 0..200 {
        b.message().await.unwrap().unwrap();
    }
    drop(a);
    drop(b);
    let t = Instant::now();
    while sup.live().open_streams() != 0 {
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "the agent stream stays open after its viewers left"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for s in &sessions {
        assert_eq!(view_end(&h, s).await["details"]["outcome"], "viewer gone");
        let mark = store
            .get(&camplane_controller::viewing::held_key(s))
            .await
            .unwrap();
        assert!(mark.is_none(), "session {s}'s mark goes with its end");
    }

    // ---- another department is refused, audited ----
    let refused = dir_path.join("refused.mp4");
    let code = cli
        .run(
            &other,
            &[
                "view",
                "live",
                "cam-1",
                "--seconds",
                "3",
                "--out",
                &refused.display().to_string(),
            ],
        )
        .await;
    assert_ne!(code, 0);
    assert!(
        entries(&h, "view.start")
            .await
            .iter()
            .any(|e| e["actor"] == "v-parks"
                && e["details"]["mode"] == "live"
                && e["result"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("denied"))),
        "the refusal is audited"
    );

    // ---- the viewer signs out mid-view: the view ends, with why ----
    let t2 = ctl::login(&h.channel, "v-police", &ctl::user_password("v-police"))
        .await
        .unwrap();
    let mut v = live(&t2).await;
    let sid = v.message().await.unwrap().unwrap().session;
    v.message().await.unwrap().unwrap();
    pb::auth_client::AuthClient::new(h.channel.clone())
        .logout(ctl::req(&t2, pb::Empty {}))
        .await
        .unwrap();
    let t = Instant::now();
    let e = loop {
        match v.message().await {
            Ok(Some(_)) => assert!(
                t.elapsed() < Duration::from_secs(15),
                "still streaming 15 s after the sign-out"
            ),
            Ok(None) => panic!("the view ended without its reason"),
            Err(e) => break e,
        }
    };
    assert_eq!(e.code(), tonic::Code::Unauthenticated, "{e:?}");
    let outcome = view_end(&h, &sid).await["details"]["outcome"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(outcome.starts_with("ended: access withdrawn"), "{outcome}");

    // ---- the camera dies mid-view ----
    let cut = dir_path.join("cut.mp4");
    let cut_s = cut.display().to_string();
    let args = ["view", "live", "cam-1", "--seconds", "60", "--out", &cut_s];
    let (code, ()) = tokio::join!(cli.run(&viewer, &args), async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        cam.kill();
    });
    assert_ne!(code, 0, "a view whose camera died fails");
    let id = last_start(&h, "v-police").await["details"]["session"]
        .as_str()
        .unwrap()
        .to_string();
    let end = view_end(&h, &id).await;
    let outcome = end["details"]["outcome"].as_str().unwrap();
    assert!(
        outcome.starts_with("failed") && outcome.contains("cam-1"),
        "{outcome}"
    );
    assert!(std::fs::metadata(&cut).unwrap().len() > 0);

    // ---- the agent dies mid-view ----
    cam.restart();
    wait_for_picture(&sup).await;
    let gone = dir_path.join("gone.mp4");
    let gone_s = gone.display().to_string();
    let args = ["view", "live", "cam-1", "--seconds", "60", "--out", &gone_s];
    let (code, ()) = tokio::join!(cli.run(&viewer, &args), async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        stop.cancel();
    });
    assert_ne!(code, 0, "a view whose agent died fails");
    let id = last_start(&h, "v-police").await["details"]["session"]
        .as_str()
        .unwrap()
        .to_string();
    let end = view_end(&h, &id).await;
    assert!(
        end["details"]["outcome"]
            .as_str()
            .unwrap()
            .starts_with("failed"),
        "{end}"
    );

    let _ = reporter.await;
    let _ = runner.await;
    h.cancel.cancel();
}

/// Two controllers on etcd; the agent holds its session with controller 0.
/// Viewers of controller 1 are fed from controller 0's relay over the peer
/// link, sharing its one agent stream with controller 0's own viewer; the CLI
/// through controller 1 gets the camera now, audited there; once the camera
/// has a privacy mask, masked (black inside it, the bars outside), the masks
/// burned in as controller 0 reads them. Controller 0 shut down mid-view: its
/// viewer's stream closes with the reason, the end logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_that_does_not_hold_the_agent_relays_its_live_view() {
    servers::require_tools();
    let etcd = servers::EtcdCluster::start(1);
    // Both controllers start with the same first admin password.
    std::env::set_var("CAMPLANE_TEST_NO_SUCH_VAR", ctl::ADMIN_PW);
    let dir = tempfile::tempdir().unwrap();
    let dir_path = dir.path().canonicalize().unwrap();
    let port = servers::free_port();
    // Colour bars (bright all over): the masked view below shows its mask.
    let _cam = servers::RtspServer::start(port, &["/cam=bars:320x240"]);
    let ca = dir_path.join("ca.pem");
    let mut hs = Vec::new();
    for _ in 0..2 {
        let mut c = ctl::config_etcd(&etcd.endpoints()[0], "/live");
        c.listen = format!("127.0.0.1:{}", servers::free_port());
        c.tls.ca_cert_file = Some(ca.clone());
        hs.push(ctl::start(c, None).await);
    }
    let (h0, h1) = (&hs[0], &hs[1]);
    ctl::apply(h0, &h0.admin, ctl::CITY).await.unwrap();
    let token = agent::enroll_token(h0, "city-hall").await;
    let assigned = cam1_manifest(port, "");
    let mgr = ctl::user(h0, "m", &["dept_manager"], "police").await;
    let chief = ctl::user(h0, "c", &["chief"], "police").await;
    activate_cam1(h0, &assigned, &mgr, &chief).await;
    let adir = dir_path.join("agent");
    let acfg = agent::config(h0.running.addr.port(), &ca, &adir, &token.token);
    let sup = agent::supervisor(&adir);
    let session = Session::new(acfg, sup.clone()).unwrap();
    let stop = CancellationToken::new();
    let runner = tokio::spawn(session.clone().run(stop.clone()));
    wait_for_picture(&sup).await;
    // Controller 1 finds the agent through its presence record.
    let t = Instant::now();
    while h1
        .running
        .controller
        .store
        .get("presence/city-hall-gw")
        .await
        .unwrap()
        .is_none()
    {
        assert!(t.elapsed() < Duration::from_secs(30), "no presence record");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let viewer = ctl::qualified_user(h0, "v-police", "viewer", "police").await;

    // Two viewers on controller 1, one on controller 0: one agent stream.
    let live = |h: &ctl::Harness| {
        let mut v = pb::viewing_client::ViewingClient::new(h.channel.clone());
        let r = ctl::req(
            &viewer,
            pb::LiveRequest {
                camera: "cam-1".into(),
                reason: "peer".into(),
                unmasked: false,
                seconds: 0,
            },
        );
        async move { v.live(r).await.unwrap().into_inner() }
    };
    let mut streams = vec![live(h1).await, live(h1).await, live(h0).await];
    for s in &mut streams {
        assert!(!s.message().await.unwrap().unwrap().session.is_empty());
        let init = s.message().await.unwrap().unwrap();
        assert_eq!(&init.data[4..8], b"ftyp", "the init segment comes first");
        for _ in 0..10 {
            s.message().await.unwrap().unwrap();
        }
    }
    assert_eq!(
        sup.live().open_streams(),
        1,
        "one agent stream for all three"
    );
    drop(streams);
    let t = Instant::now();
    while sup.live().open_streams() != 0 {
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "the agent stream stays open"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The CLI through controller 1.
    let cli = Cli {
        server: format!("https://127.0.0.1:{}", h1.running.addr.port()),
        ca: ca.display().to_string(),
    };
    let out = dir_path.join("peer.mp4");
    let out_s = out.display().to_string();
    let code = cli
        .run(
            &viewer,
            &["view", "live", "cam-1", "--seconds", "2", "--out", &out_s],
        )
        .await;
    assert_eq!(code, 0, "live view through the other controller");
    let fr = ffprobe(
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name:frame=key_frame",
        ],
        &out,
    );
    assert_eq!(fr["streams"][0]["codec_name"], "h264");
    assert_eq!(fr["frames"][0]["key_frame"], 1);
    let id = last_start(h1, "v-police").await["details"]["session"]
        .as_str()
        .unwrap()
        .to_string();
    let end = view_end(h1, &id).await;
    assert_eq!(
        end["details"]["bytes"],
        std::fs::metadata(&out).unwrap().len()
    );
    assert_eq!(end["details"]["outcome"], "completed");

    // The camera given a privacy mask (the left half of the top quarter):
    // through controller 1 the view is masked, burned in at the agent with
    // the masks controller 0 (holding it) reads from the camera's spec.
    let masked = assigned.replace(
        "  agent: city-hall-gw",
        "  agent: city-hall-gw\n  privacy_masks:\n    - name: window-a\n      polygon: [[0, 0], [0.5, 0], [0.5, 0.25], [0, 0.25]]",
    );
    ctl::apply(h0, &h0.admin, &masked).await.unwrap();
    let t = Instant::now();
    while ctl::get_json(h1, &h1.admin, "Camera", "cam-1")
        .await
        .unwrap()["spec"]["privacy_masks"]
        .as_array()
        .is_none_or(|m| m.is_empty())
    {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "controller 1 never saw the mask"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = dir_path.join("peer-masked.mp4");
    let out_s = out.display().to_string();
    let code = cli
        .run(
            &viewer,
            &["view", "live", "cam-1", "--seconds", "2", "--out", &out_s],
        )
        .await;
    assert_eq!(code, 0, "masked live view through the other controller");
    let px = first_picture_grey(&out, 320, 240);
    let inside = (2..58)
        .flat_map(|y| (2..158).map(move |x| (x, y)))
        .map(|(x, y)| px[y * 320 + x])
        .max()
        .unwrap();
    assert!(inside <= 24, "not black inside the mask: {inside}");
    let below = px[64 * 320..].iter().map(|&p| u64::from(p)).sum::<u64>() / (176 * 320);
    assert!(below > 60, "the bars outside the mask are gone: {below}");
    let start = last_start(h1, "v-police").await;
    assert_eq!(start["details"]["masked"], true);
    let id = start["details"]["session"].as_str().unwrap().to_string();
    assert_eq!(view_end(h1, &id).await["details"]["masked"], true);

    // Controller 0 shuts down mid-view: its viewer gets a closed stream with
    // the reason, and the end is in the log (read through controller 1).
    let mut s = live(h0).await;
    let id = s.message().await.unwrap().unwrap().session;
    for _ in 0..5 {
        s.message().await.unwrap().unwrap();
    }
    h0.cancel.cancel();
    let t = Instant::now();
    let e = loop {
        match tokio::time::timeout(Duration::from_secs(15), s.message()).await {
            Ok(Ok(Some(_))) => {}
            Ok(Ok(None)) => panic!("the stream ended without a reason"),
            Ok(Err(e)) => break e,
            Err(_) => panic!("the stream did not end at shutdown"),
        }
        assert!(t.elapsed() < Duration::from_secs(15));
    };
    assert!(e.message().contains("shutting down"), "{e:?}");
    let end = view_end(h1, &id).await;
    assert_eq!(end["details"]["outcome"], "controller shutting down");

    stop.cancel();
    let _ = runner.await;
    for h in &hs {
        h.cancel.cancel();
    }
}
