//! The console's browser player (issue 19) with real parts: a controller
//! (embedded store, TLS, the console), a GStreamer RTSP camera sending live
//! x264, and an agent recording it into 2 s MPEG-TS segments and answering
//! playback queries with fragmented MP4.
//!
//! - The camera page shows a police viewer the player and a timeline of the
//!   recorded ranges and of a legal hold the chief placed; a viewer of
//!   another department sees why they may not watch, and no player.
//! - The WebSocket (`playback.ws`) refuses a request without a session, a
//!   cross-site or missing `Origin` (before the upgrade), and a viewer of
//!   another department (after it, with `refused: …`, audited `view.start`
//!   as the gRPC door audits it); the police viewer gets `{"session",
//!   "mime"}` with the init segment's codec, then fMP4; closing the socket
//!   mid-stream leaves `view.end` (`viewer gone`), as does one sending more
//!   than `pause`/`resume` (cut off).
//! - Headless Chromium plays a recorded range from the page: the video's
//!   `currentTime` advances and frames are decoded; leaving the page ends the
//!   session (`view.end`).
//! - Live from the page (`?live=1`, `live.ws`): Chromium plays it; leaving
//!   ends it (`view.end`, mode live, `viewer gone`).
//! - The agent going away mid-view: the viewer is told `failed: …` and the
//!   end is recorded.
//! - A range from the recording's first segment plays whole (`completed`).

mod common;

use camplane_agent::control::Session;
use camplane_testkit::console::{Browser, ConsoleClient};
use camplane_testkit::{agent, controller as ctl, servers};
use common::{activate_cam1, cam1_manifest, entries, view_end, wait_segments};
use futures::{SinkExt, StreamExt};
use jiff::SignedDuration;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, Message};
use tokio_util::sync::CancellationToken;

type Ws = tokio_tungstenite::WebSocketStream<camplane_testkit::console::ConsoleTls>;

/// Opens the player's WebSocket at `path` with `c`'s cookie (if any) and
/// `origin` (if any).
async fn ws(c: &ConsoleClient, path: &str, origin: Option<&str>) -> Result<Ws, tungstenite::Error> {
    let tls = c.connect_tls().await;
    let mut req = format!("wss://localhost:{}{path}", c.addr().port())
        .into_client_request()
        .unwrap();
    if let Some(o) = origin {
        req.headers_mut().insert("origin", o.parse().unwrap());
    }
    if let Some(ck) = &c.cookie {
        req.headers_mut().insert("cookie", ck.parse().unwrap());
    }
    tokio_tungstenite::client_async(req, tls)
        .await
        .map(|(s, _)| s)
}

fn refused_with(r: Result<Ws, tungstenite::Error>, status: u16, what: &str) {
    match r {
        Err(tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), status, "{what}")
        }
        Err(e) => panic!("{what}: {e}"),
        Ok(_) => panic!("{what}: the WebSocket was opened"),
    }
}

/// The next message within 30 s (`None`: the stream ended).
async fn next(s: &mut Ws) -> Option<Message> {
    match tokio::time::timeout(Duration::from_secs(30), s.next()).await {
        Ok(Some(Ok(m))) => Some(m),
        Ok(Some(Err(_))) | Ok(None) => None,
        Err(_) => panic!("no message within 30 s"),
    }
}

/// Resumes a paused range and reads it to its end: the last text message
/// (what the viewer is told).
async fn resume_to_the_end(s: &mut Ws) -> String {
    s.send(Message::text("resume")).await.unwrap();
    let mut last = String::new();
    while let Some(m) = next(s).await {
        match m {
            Message::Text(t) => last = t.to_string(),
            Message::Close(_) => break,
            _ => {}
        }
    }
    last
}

/// The session id of the police viewer's playback with `reason`, once started.
async fn wait_for_start(h: &ctl::Harness, reason: &str) -> String {
    let t = Instant::now();
    loop {
        if let Some(e) = entries(h, "view.start").await.into_iter().find(|e| {
            e["actor"] == "v-police" && e["result"] == "ok" && e["details"]["reason"] == reason
        }) {
            return e["details"]["session"].as_str().unwrap().to_string();
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "no view.start for {reason}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn signed_in(h: &ctl::Harness, name: &str) -> ConsoleClient {
    let mut c = ConsoleClient::new(h.running.console_addr.unwrap(), &h.running.ca_pem);
    let a = c.login(name, &ctl::user_password(name)).await;
    assert_eq!(a.status, 303, "{name} signs in: {}", a.body);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_console_plays_a_recorded_range_in_the_browser() {
    servers::require_tools();
    let dir = tempfile::tempdir().unwrap();
    let dir_path = dir.path().canonicalize().unwrap();
    let port = servers::free_port();
    let _cam = servers::RtspServer::start(port, &["/cam=live:320x240"]);
    let ca = dir_path.join("ca.pem");
    let mut cfg = ctl::config_embedded(&dir_path.join("store"));
    cfg.tls.ca_cert_file = Some(ca.clone());
    cfg.console_listen = Some("127.0.0.1:0".into());
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

    // Six segments recorded (about 12 s of video).
    let recorded = wait_segments(&sup, 6, Duration::from_secs(90)).await;
    let from = recorded[0].1;
    let to = recorded[5].2;

    ctl::qualified_user(&h, "v-police", "viewer", "police").await;
    ctl::qualified_user(&h, "v-parks", "viewer", "parks").await;
    let mut viewer = signed_in(&h, "v-police").await;
    let mut other = signed_in(&h, "v-parks").await;
    let mut chief_c = signed_in(&h, "c").await;
    let origin = format!("https://localhost:{}", viewer.addr().port());

    // The chief places a hold on the camera over the recorded range.
    let a = chief_c.get("/console/holds").await;
    let csrf = a.csrf();
    let hold_from = (from - SignedDuration::from_mins(5)).to_string();
    let hold_to = (to + SignedDuration::from_secs(1)).to_string();
    let a = chief_c
        .post(
            "/console/holds",
            &[
                ("csrf", &csrf),
                ("case", "26-04712"),
                ("cameras", "cam-1"),
                ("from", &hold_from),
                ("to", &hold_to),
                ("reason", "criminal_investigation"),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);

    // The page: the player and the timeline for the police viewer.
    let page = viewer.get("/console/cameras/cam-1").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("id=\"player-video\""), "{}", page.body);
    assert!(page
        .body
        .contains("/console/cameras/cam-1/playback.ws?from="));
    assert!(page.body.contains("class=\"tl-rec\""), "{}", page.body);
    assert!(page.body.contains("class=\"tl-slot\""));
    assert!(
        page.body.contains("class=\"tl-hold\"") && page.body.contains("case 26-04712"),
        "the hold is on the timeline: {}",
        page.body
    );
    assert!(!page.body.contains("<script>"), "no inline script");
    // Without the script, a timeline slot is a link to the page playing from there.
    let href = page
        .body
        .split("class=\"tl-slot\" href=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a slot link")
        .replace("&amp;", "&");
    let at = href
        .split("at=")
        .nth(1)
        .and_then(|r| r.split('&').next())
        .unwrap()
        .to_string();
    let seek = viewer.get(href.split('#').next().unwrap()).await;
    assert_eq!(seek.status, 200, "{href}");
    assert!(
        seek.body
            .contains(&format!("playback.ws?from={at}&amp;to=")),
        "the player starts at {at}: {}",
        seek.body
    );
    // Another department's viewer: told why, no player.
    let page = other.get("/console/cameras/cam-1").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("You may not watch this camera"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("player-video"));
    assert!(!page.body.contains("class=\"tl-rec\""));

    let path = format!(
        "/console/cameras/cam-1/playback.ws?from={}&to={}&reason=incident%2017",
        from, to
    );
    // Refused before the upgrade: no session, another site, no Origin.
    let nobody = ConsoleClient::new(h.running.console_addr.unwrap(), &h.running.ca_pem);
    refused_with(ws(&nobody, &path, Some(&origin)).await, 401, "no session");
    refused_with(
        ws(&viewer, &path, Some("https://evil.example")).await,
        403,
        "cross-site",
    );
    refused_with(ws(&viewer, &path, None).await, 403, "no Origin");

    // Another department's viewer: refused after the upgrade, audited.
    let mut s = ws(&other, &path, Some(&origin)).await.expect("upgrade");
    match next(&mut s).await {
        Some(Message::Text(t)) => assert!(t.starts_with("refused: "), "{t}"),
        m => panic!("no refusal: {m:?}"),
    }
    let denied = entries(&h, "view.start").await;
    assert!(
        denied.iter().any(|e| e["actor"] == "v-parks"
            && e["result"]
                .as_str()
                .is_some_and(|r| r.starts_with("denied"))),
        "{denied:?}"
    );

    // The police viewer closes the socket while the session runs (it said
    // `pause` first, so nothing more is pulled): the end is recorded.
    let gone_path = format!("{path}-gone");
    let mut s = ws(&viewer, &gone_path, Some(&origin))
        .await
        .expect("upgrade");
    s.send(Message::text("pause")).await.unwrap();
    let gone = wait_for_start(&h, "incident 17-gone").await;
    let _ = s.close(None).await;
    drop(s);
    // A viewer sending more than `pause` or `resume` (10 KB) is cut off, its
    // session ended as gone.
    let big_path = format!("{path}-big");
    let mut s = ws(&viewer, &big_path, Some(&origin))
        .await
        .expect("upgrade");
    s.send(Message::text("pause")).await.unwrap();
    let big = wait_for_start(&h, "incident 17-big").await;
    let _ = s.send(Message::text("x".repeat(10_000))).await;
    let end = view_end(&h, &big).await;
    assert_eq!(end["details"]["outcome"], "viewer gone", "{end}");
    drop(s);
    let end = view_end(&h, &gone).await;
    assert_eq!(end["details"]["outcome"], "viewer gone", "{end}");
    assert_eq!(end["actor"], "v-police");

    // The viewer signs out (in another tab) while a range is paused: once the
    // access re-check has come round, the range ends for the viewer with why,
    // recorded as such, and nothing more is played.
    let out_tab = signed_in(&h, "v-police").await;
    let out_token = out_tab
        .cookie
        .as_deref()
        .and_then(|c| c.split(';').next())
        .and_then(|c| c.split_once('='))
        .map(|(_, t)| t.to_string())
        .expect("the session cookie");
    let out_path = format!("{path}-out");
    let mut s = ws(&out_tab, &out_path, Some(&origin))
        .await
        .expect("upgrade");
    s.send(Message::text("pause")).await.unwrap();
    let out = wait_for_start(&h, "incident 17-out").await;
    camplane_proto::v1::auth_client::AuthClient::new(h.channel.clone())
        .logout(ctl::req(&out_token, camplane_proto::v1::Empty {}))
        .await
        .unwrap();
    tokio::time::sleep(
        camplane_controller::viewing::live::ACCESS_RECHECK + Duration::from_millis(500),
    )
    .await;
    let last = resume_to_the_end(&mut s).await;
    assert!(last.starts_with("access withdrawn"), "{last}");
    let end = view_end(&h, &out).await;
    assert!(
        end["details"]["outcome"]
            .as_str()
            .is_some_and(|o| o.starts_with("ended: access withdrawn")),
        "{end}"
    );

    // A whole range: the session and codec, the init segment first, then
    // fMP4, and `completed` at the end, the bytes counted. The range starts
    // at the recording's first segment.
    let mut s = ws(&viewer, &path, Some(&origin)).await.expect("upgrade");
    let hello = match next(&mut s).await {
        Some(Message::Text(t)) => serde_json::from_str::<serde_json::Value>(&t).unwrap(),
        m => panic!("no hello: {m:?}"),
    };
    assert!(
        hello["mime"]
            .as_str()
            .unwrap()
            .starts_with("video/mp4; codecs=\"avc1."),
        "{hello}"
    );
    let id = hello["session"].as_str().unwrap().to_string();
    let mut bytes = 0u64;
    let mut last = String::new();
    while let Some(m) = next(&mut s).await {
        match m {
            Message::Binary(b) => {
                if bytes == 0 {
                    assert!(b.windows(4).any(|w| w == b"moov"), "the init segment first");
                }
                bytes += b.len() as u64
            }
            Message::Text(t) => last = t.to_string(),
            Message::Close(_) => break,
            _ => {}
        }
    }
    assert_eq!(last, "completed");
    let start = entries(&h, "view.start").await;
    let start = start
        .iter()
        .find(|e| e["details"]["session"] == id.as_str())
        .expect("view.start");
    assert_eq!(start["actor"], "v-police");
    assert_eq!(start["details"]["reason"], "incident 17");
    assert_eq!(start["details"]["mode"], "range");
    let end = view_end(&h, &id).await;
    assert_eq!(end["details"]["outcome"], "completed");
    assert_eq!(end["details"]["bytes"], bytes);
    assert!(bytes > 0);

    // Headless Chromium plays the range from the page.
    let base = format!("https://127.0.0.1:{}", viewer.addr().port());
    let mut b = Browser::launch().await;
    b.sign_in(&base, "v-police", &ctl::user_password("v-police"))
        .await;
    b.goto(&format!(
        "{base}/console/cameras/cam-1?at={}&reason=chromium",
        recorded[1].1
    ))
    .await;
    let t = Instant::now();
    let (played, frames) = loop {
        let v = b
            .eval(
                "(() => { const v = document.getElementById('player-video'); \
                 return [v.currentTime, v.getVideoPlaybackQuality().totalVideoFrames, \
                 document.getElementById('player-status').textContent]; })()",
            )
            .await;
        let (ct, frames) = (v[0].as_f64().unwrap_or(0.0), v[1].as_u64().unwrap_or(0));
        if ct > 1.0 && frames > 0 {
            break (ct, frames);
        }
        assert!(
            t.elapsed() < Duration::from_secs(40),
            "the video did not play: {v}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    eprintln!("chromium played {played:.2} s, {frames} frames decoded");
    let shots = std::env::var_os("CAMPLANE_SHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir_path.join("shots"));
    b.screenshot(1280, &shots.join("player-1280.png")).await;
    b.screenshot(390, &shots.join("player-390.png")).await;
    let sid = b
        .eval("document.getElementById('player-video').getAttribute('data-session')")
        .await
        .as_str()
        .unwrap()
        .to_string();
    // Leaving the page closes the socket: the session's end is recorded.
    b.goto(&format!("{base}/console/cameras")).await;
    let end = view_end(&h, &sid).await;
    assert_eq!(end["actor"], "v-police");

    // Live from the page: the same player on `live.ws`, audited as live.
    b.goto(&format!(
        "{base}/console/cameras/cam-1?live=1&reason=live%20check"
    ))
    .await;
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
            eprintln!("chromium played live: {v}");
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(40),
            "the live video did not play: {v}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    b.screenshot(1280, &shots.join("live-1280.png")).await;
    let live_id = b
        .eval("document.getElementById('player-video').getAttribute('data-session')")
        .await
        .as_str()
        .unwrap()
        .to_string();
    b.goto(&format!("{base}/console/cameras")).await;
    let end = view_end(&h, &live_id).await;
    assert_eq!(end["details"]["mode"], "live", "{end}");
    assert_eq!(end["details"]["outcome"], "viewer gone", "{end}");
    let start = entries(&h, "view.start").await;
    let start = start
        .iter()
        .find(|e| e["details"]["session"] == live_id.as_str())
        .expect("view.start of the live view");
    assert_eq!(start["details"]["reason"], "live check");
    drop(b);

    // The agent going away mid-view ends it for the viewer with the reason,
    // and the end is recorded.
    let failing_path = format!("{path}-agent");
    let mut s = ws(&viewer, &failing_path, Some(&origin))
        .await
        .expect("upgrade");
    s.send(Message::text("pause")).await.unwrap();
    let failing = wait_for_start(&h, "incident 17-agent").await;
    stop.cancel();
    let _ = reporter.await;
    let _ = runner.await;
    let last = resume_to_the_end(&mut s).await;
    assert!(last.starts_with("failed: "), "{last}");
    let end = view_end(&h, &failing).await;
    assert!(
        end["details"]["outcome"]
            .as_str()
            .is_some_and(|o| o.starts_with("failed")),
        "{end}"
    );
    h.cancel.cancel();
}
