//! Playback through the controller with real parts: a controller (embedded
//! store, TLS), a GStreamer RTSP camera sending live x264, and an agent that
//! enrols, records it into 2 s MPEG-TS segments, and answers the controller's
//! playback queries by remuxing them into fragmented MP4.
//!
//! Through the real CLI (`camplane view playback`): the police viewer gets an
//! MP4 with fragments, H.264 with the source's codec parameters, whose decoded
//! frames are exactly the recorded ones (no re-encode), lasting the range from
//! the keyframe before it; the session is audited at start (camera, range,
//! reason) and at end (duration, bytes = the file's size); a viewer of another
//! department is refused and the refusal audited; `view sessions` lists the
//! session for the auditor and is refused (audited) to a viewer; a viewer who
//! goes away mid-stream still leaves the session's end in the log.

mod common;

use camplane_agent::control::Session;
use camplane_proto::v1 as pb;
use camplane_testkit::{agent, controller as ctl, servers};
use common::*;
use jiff::SignedDuration;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tonic::Code;

fn ffprobe(args: &[&str], file: &Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json"])
        .args(args)
        .arg(file)
        .output()
        .expect("ffprobe on PATH");
    assert!(out.status.success(), "ffprobe {}", file.display());
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The MD5 of every decoded picture, in order.
fn frame_md5s(file: &Path) -> Vec<String> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args([
            "-map",
            "0:v",
            "-fps_mode",
            "passthrough",
            "-f",
            "framemd5",
            "-",
        ])
        .output()
        .expect("ffmpeg on PATH");
    assert!(out.status.success(), "ffmpeg framemd5 {}", file.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next().map(|s| s.trim().to_string()))
        .filter(|s| !s.is_empty())
        .collect()
}

/// The codec parameters a re-encode would change.
fn codec_params(file: &Path) -> serde_json::Value {
    let mut v = ffprobe(
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,profile,level,width,height,pix_fmt,has_b_frames,refs",
        ],
        file,
    );
    v["streams"][0].take()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playback_is_remuxed_streamed_and_audited() {
    servers::require_tools();
    let dir = tempfile::tempdir().unwrap();
    let dir_path = dir.path().canonicalize().unwrap();
    let port = servers::free_port();
    let _cam = servers::RtspServer::start(port, &["/cam=live:320x240"]);
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
    let sup = agent::supervisor(&adir);
    let session = Session::new(acfg, sup.clone()).unwrap();
    let stop = CancellationToken::new();
    let reporter = tokio::spawn(session.clone().run_reporter(stop.clone()));
    let runner = tokio::spawn(session.clone().run(stop.clone()));

    // Four segments recorded (about 8 s of video).
    let recorded = wait_segments(&sup, 4, Duration::from_secs(60)).await;
    let from = recorded[1].1 + SignedDuration::from_millis(500);
    let to = recorded[3].1 + SignedDuration::from_millis(500);
    let range = to.duration_since(from).as_secs_f64();

    let cli = Cli {
        server: format!("https://127.0.0.1:{}", h.running.addr.port()),
        ca: ca.display().to_string(),
    };
    let viewer = ctl::qualified_user(&h, "v-police", "viewer", "police").await;
    let other = ctl::qualified_user(&h, "v-parks", "viewer", "parks").await;
    let auditor = ctl::qualified_user(&h, "aud", "auditor", "").await;
    let (from_s, to_s) = (from.to_string(), to.to_string());
    let out = dir_path.join("range.mp4");
    let out_s = out.display().to_string();
    let t = Instant::now();
    let code = cli
        .run(
            &viewer,
            &[
                "view",
                "playback",
                "cam-1",
                "--from",
                &from_s,
                "--to",
                &to_s,
                "--out",
                &out_s,
                "--reason",
                "incident 14 review",
            ],
        )
        .await;
    assert_eq!(code, 0, "playback through the CLI");
    eprintln!(
        "playback of {range:.1} s took {:?} ({} bytes)",
        t.elapsed(),
        std::fs::metadata(&out).unwrap().len()
    );

    // An MP4 with fragments, H.264 with the source's parameters.
    let bytes = std::fs::read(&out).unwrap();
    assert!(
        bytes.windows(4).any(|w| w == b"moof"),
        "no moof: not fragmented"
    );
    let fmt = ffprobe(&["-show_entries", "format=format_name,duration"], &out);
    assert!(
        fmt["format"]["format_name"]
            .as_str()
            .unwrap()
            .contains("mp4"),
        "{fmt}"
    );
    let src = codec_params(&recorded[1].0);
    let got = codec_params(&out);
    assert_eq!(got["codec_name"], "h264");
    assert_eq!(got, src, "codec parameters differ from the recording's");
    // From the keyframe at or before `from` (1 s GOPs) to `to`.
    let dur: f64 = fmt["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!(
        dur >= range - 0.2 && dur <= range + 1.2,
        "duration {dur} for a {range} s range"
    );
    // No re-encode: the decoded pictures are the recorded ones, in order.
    let source: Vec<String> = recorded[1..4]
        .iter()
        .flat_map(|(p, _, _)| frame_md5s(p))
        .collect();
    let played = frame_md5s(&out);
    assert!(played.len() >= 20, "{} frames", played.len());
    let at = source
        .iter()
        .position(|m| *m == played[0])
        .expect("the first picture is a recorded one");
    assert_eq!(
        &source[at..at + played.len()],
        &played[..],
        "the pictures are not the recorded ones"
    );

    // Audited at start and at end.
    let start = entries(&h, "view.start").await;
    let start = start
        .iter()
        .find(|e| e["actor"] == "v-police" && e["result"] == "ok")
        .expect("view.start");
    assert_eq!(start["details"]["camera"], "cam-1");
    assert_eq!(start["details"]["mode"], "range");
    assert_eq!(start["details"]["reason"], "incident 14 review");
    assert_eq!(start["details"]["basis"], "installing department");
    let id = start["details"]["session"].as_str().unwrap().to_string();
    let end = entries(&h, "view.end").await;
    let end = end
        .iter()
        .find(|e| e["details"]["session"] == id.as_str())
        .expect("view.end");
    assert_eq!(end["details"]["bytes"], bytes.len() as u64);
    assert_eq!(end["details"]["masked"], false);
    assert_eq!(end["details"]["outcome"], "completed");
    assert!(end["details"]["duration_ms"].as_i64().is_some());

    // A viewer of another department is refused, audited.
    let refused_out = dir_path.join("refused.mp4");
    let code = cli
        .run(
            &other,
            &[
                "view",
                "playback",
                "cam-1",
                "--from",
                &from_s,
                "--to",
                &to_s,
                "--out",
                &refused_out.display().to_string(),
            ],
        )
        .await;
    assert_ne!(code, 0);
    let denied = entries(&h, "view.start").await;
    assert!(
        denied.iter().any(|e| e["actor"] == "v-parks"
            && e["result"]
                .as_str()
                .is_some_and(|r| r.starts_with("denied"))),
        "{denied:?}"
    );

    // `view sessions`: the auditor sees it; a viewer is refused (audited).
    let viewing = pb::viewing_client::ViewingClient::new(h.channel.clone());
    let l = viewing
        .clone()
        .sessions(ctl::req(
            &auditor,
            pb::ViewSessionsRequest { active: false },
        ))
        .await
        .unwrap()
        .into_inner();
    let s: serde_json::Value = l
        .objects
        .iter()
        .map(|o| serde_json::from_slice::<serde_json::Value>(&o.json).unwrap())
        .find(|v| v["id"] == id.as_str())
        .expect("the session is listed");
    assert_eq!(s["user"], "v-police");
    assert_eq!(s["bytes"], bytes.len() as u64);
    let active = viewing
        .clone()
        .sessions(ctl::req(&auditor, pb::ViewSessionsRequest { active: true }))
        .await
        .unwrap()
        .into_inner();
    assert!(
        active.objects.iter().all(|o| o.name != id),
        "ended but active"
    );
    assert_eq!(cli.run(&auditor, &["view", "sessions"]).await, 0);
    let e = viewing
        .clone()
        .sessions(ctl::req(&viewer, pb::ViewSessionsRequest { active: false }))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(entries(&h, "view.sessions")
        .await
        .iter()
        .any(|e| e["actor"] == "v-police"
            && e["result"]
                .as_str()
                .is_some_and(|r| r.starts_with("denied"))));

    // A viewer who goes away after the first message: the end is still audited.
    let mut s = viewing
        .clone()
        .playback(ctl::req(
            &viewer,
            pb::PlaybackRequest {
                camera: "cam-1".into(),
                from: recorded[0].1.to_string(),
                to: recorded[3].2.to_string(),
                reason: String::new(),
                unmasked: false,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let first = s.message().await.unwrap().unwrap();
    let gone = first.session.clone();
    drop(s);
    let t = Instant::now();
    loop {
        let ends = entries(&h, "view.end").await;
        if ends
            .iter()
            .any(|e| e["details"]["session"] == gone.as_str())
        {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "no view.end for {gone}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    stop.cancel();
    let _ = reporter.await;
    let _ = runner.await;
    h.cancel.cancel();
}
