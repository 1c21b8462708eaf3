//! The ALPR path end to end with real parts: a rendered-plates clip served by a
//! real RTSP server (GStreamer), a real controller (embedded store, TLS), and an
//! agent that enrols, receives its ALPR camera and the hotlists (whole, then a
//! delta), reads the plates with the real PP-OCRv4 models, stores the merged
//! reads with the camera's location, and raises exactly one alert for the plate
//! on the hotlist, streamed to an operator's `alerts watch` within a second of the
//! match. The camera's active window reports the read and the hit by category.

use camplane_agent::control::Session;
use camplane_proto::v1 as pb;
use camplane_testkit::{agent, controller as ctl, http, media, servers};
use jiff::{SignedDuration, Timestamp};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

async fn wait_for<F: FnMut() -> bool>(limit: Duration, what: &str, mut f: F) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn load(h: &ctl::Harness, token: &str, csv: &str, mode: &str) -> pb::HotlistLoadResponse {
    ctl::upload_hotlist(
        &h.channel,
        token,
        pb::HotlistLoadRequest {
            source: "NCIC".into(),
            category: "stolen_vehicle".into(),
            file_name: "ncic.csv".into(),
            csv: csv.as_bytes().to_vec(),
            columns_json: String::new(),
            mode: mode.into(),
            public: None,
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendered_plates_raise_exactly_one_hotlist_alert_at_the_controller() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
    servers::require_tools();
    let models = camplane_agent::alpr::models::resolve_dir(None);
    camplane_agent::alpr::models::verify(&models)
        .unwrap_or_else(|e| panic!("ALPR models not ready: {e}; run deploy/fetch-models.sh"));
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("plates.mp4");
    media::render_plates(&clip);

    let mut cfg = ctl::config_embedded(&dir.path().join("store"));
    cfg.tls.ca_cert_file = Some(dir.path().join("ca.pem"));
    cfg.http_listen = Some("127.0.0.1:0".into());
    let h = ctl::start(cfg.clone(), None).await;
    ctl::apply(&h, &h.admin, ctl::CITY).await.unwrap();
    let sup_user = ctl::qualified_user(&h, "sgt", "supervisor", "police").await;
    // Alerts are ALPR data: the operator who watches them is qualified.
    let op = ctl::qualified_user(&h, "op", "alpr_operator", "police").await;
    let token = agent::enroll_token(&h, "city-hall").await;
    let cam = servers::RtspServer::start(
        servers::free_port(),
        &[&format!("/lpr=mp4:{}", clip.display())],
    );
    agent::approved_lpr(&h, &cam.url("/lpr")).await;

    // The hotlist: ABC1234 is stolen; a bad row is reported by line and skipped.
    let r = load(
        &h,
        &sup_user,
        "plate,state,reason,expiry\nABC1234,IA,stolen 2026-05-30,2099-12-31\nnot a plate!,IA,,\n",
        "replace",
    )
    .await;
    assert_eq!((r.version, r.entries), (1, 1));
    assert_eq!(r.bad_rows.len(), 1);
    assert_eq!(r.bad_rows[0].line, 3);

    // An operator watches alerts.
    let alerts: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let mut watch = pb::alerts_client::AlertsClient::new(h.channel.clone())
        .watch(ctl::req(&op, pb::AlertsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    let sink = alerts.clone();
    tokio::spawn(async move {
        while let Ok(Some(o)) = watch.message().await {
            let mut a: serde_json::Value = serde_json::from_slice(&o.json).unwrap();
            a["seen_by_watcher"] = serde_json::json!(Timestamp::now());
            sink.lock().unwrap().push(a);
        }
    });

    // The agent.
    let adir = dir.path().join("agent");
    let acfg = agent::config(
        h.running.addr.port(),
        &dir.path().join("ca.pem"),
        &adir,
        &token.token,
    );
    let sup = agent::supervisor(&adir);
    sup.set_alpr_options(camplane_agent::alpr::site::AlprSiteOptions {
        models: Some(models),
        fps: 4.0,
        ..Default::default()
    });
    let session = Session::new(acfg, sup.clone()).unwrap();
    let stop = CancellationToken::new();
    let reporter = tokio::spawn(session.clone().run_reporter(stop.clone()));
    let runner = tokio::spawn(session.clone().run(stop.clone()));
    let agent_metrics = camplane_agent::metrics::serve(
        "127.0.0.1:0",
        sup.clone(),
        Some(session.clone()),
        stop.clone(),
    )
    .await
    .unwrap();
    let hotlists = sup.hotlists();
    wait_for(Duration::from_secs(30), "the hotlist at the agent", || {
        hotlists.versions().get("ncic.stolen_vehicle") == Some(&1)
    })
    .await;
    // A second version (the state's next extract, loaded whole) reaches the
    // agent as a delta.
    let r = load(
        &h,
        &sup_user,
        "plate,state,reason,expiry\nABC1234,IA,stolen 2026-05-30,2099-12-31\nQRS4567,,,\n",
        "replace",
    )
    .await;
    assert_eq!((r.version, r.entries), (2, 2));
    wait_for(
        Duration::from_secs(10),
        "hotlist version 2 at the agent",
        || hotlists.versions().get("ncic.stolen_vehicle") == Some(&2),
    )
    .await;
    assert_eq!(hotlists.len(), 2);

    // The camera goes live: the plates are read and ABC1234 raises an alert.
    let start = Timestamp::now();
    ctl::camera(&h, &h.admin, "lpr-1", "activate")
        .await
        .unwrap();
    let reads = sup.reads();
    let far = start + SignedDuration::from_hours(1);
    wait_for(Duration::from_secs(60), "both plates read", || {
        !reads.find("ABC1234", start, far).is_empty()
            && !reads.find("XYZ9876", start, far).is_empty()
    })
    .await;
    let abc = reads.find("ABC1234", start, far);
    let xyz = reads.find("XYZ9876", start, far);
    // Reads carry the fixed reader's location.
    let loc = abc[0].location.expect("a fixed reader's reads are located");
    assert_eq!((loc.lat, loc.lon), (42.5011, -90.6650));
    wait_for(Duration::from_secs(10), "the alert at the watcher", || {
        alerts
            .lock()
            .unwrap()
            .iter()
            .any(|a| a["plate"] == "ABC1234")
    })
    .await;
    // The first playback: one alert for ABC1234, none for XYZ9876 (not listed).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = alerts.lock().unwrap().clone();
    let first_pass: Vec<&serde_json::Value> = got
        .iter()
        .filter(|a| a["time"].as_str().unwrap().parse::<Timestamp>().unwrap() <= xyz[0].time)
        .collect();
    assert_eq!(first_pass.len(), 1, "exactly one alert: {got:#?}");
    let a = first_pass[0];
    assert_eq!(a["plate"], "ABC1234");
    assert_eq!(a["camera"], "lpr-1");
    assert_eq!(a["agent"], "city-hall-gw");
    assert_eq!(a["category"], "stolen_vehicle");
    assert_eq!(a["source"], "NCIC");
    assert_eq!(a["list_version"], 2);
    assert_eq!(a["entry"]["reason"], "stolen 2026-05-30");
    assert_eq!(a["status"], "unverified");
    assert_eq!(a["read_id"], abc[0].id.as_str());
    let ts = |k: &str| a[k].as_str().unwrap().parse::<Timestamp>().unwrap();
    let latency = ts("seen_by_watcher").duration_since(ts("matched_at"));
    assert!(
        latency < SignedDuration::from_secs(1),
        "match to the watcher took {latency:?}"
    );

    // Prometheus metrics on both sides, valid for promtool, with the figures above.
    // The gauge is the stream's state at the scrape: a looped clip reconnecting
    // at that instant reads 0, so wait (briefly) for a scrape that sees it up.
    let mut m = http::scrape(agent_metrics);
    wait_for(Duration::from_secs(15), "the camera up in a scrape", || {
        m = http::scrape(agent_metrics);
        http::sample(&m, "camplane_agent_camera_up{camera=\"lpr-1\"}") == Some(1.0)
    })
    .await;
    http::promtool_check(&m);
    let v = |k: &str| http::sample(&m, k).unwrap_or_else(|| panic!("{k} missing:\n{m}"));
    assert_eq!(v("camplane_agent_camera_up{camera=\"lpr-1\"}"), 1.0);
    assert!(v("camplane_agent_frames_received_total{camera=\"lpr-1\"}") > 10.0);
    assert!(v("camplane_agent_bytes_received_total{camera=\"lpr-1\"}") > 10_000.0);
    assert!(v("camplane_agent_plates_read_total{camera=\"lpr-1\"}") >= 2.0);
    assert_eq!(
        v("camplane_agent_hotlist_hits_total{category=\"stolen_vehicle\"}"),
        1.0
    );
    assert!(m.contains("camplane_agent_spool_depth "));
    let c = http::scrape(h.running.http_addr.unwrap());
    http::promtool_check(&c);
    let v = |k: &str| http::sample(&c, k).unwrap_or_else(|| panic!("{k} missing:\n{c}"));
    assert_eq!(v("camplane_controller_leader"), 1.0);
    assert_eq!(v("camplane_controller_agents_connected"), 1.0);
    assert_eq!(v("camplane_controller_alerts_total"), 1.0);
    assert!(v("camplane_controller_reports_received_total{kind=\"health\"}") >= 1.0);
    assert!(v("camplane_controller_cameras{state=\"active\"}") >= 1.0);
    assert!(
        v("camplane_controller_request_duration_seconds_count{method=\"camplane.v1.Hotlists/Upload\"}") >= 2.0
    );

    // The camera stops: its windows report the plates read and the hit (a read
    // merged after its window was reported arrives as an amendment to it).
    drop(cam);
    let t0 = Instant::now();
    loop {
        let r = pb::fleet_client::FleetClient::new(h.channel.clone())
            .windows(ctl::req(&h.admin, pb::ListRequest::default()))
            .await
            .unwrap()
            .into_inner();
        let ws: Vec<serde_json::Value> = r
            .objects
            .iter()
            .map(|o| serde_json::from_slice(&o.json).unwrap())
            .filter(|w: &serde_json::Value| w["camera"] == "lpr-1")
            .collect();
        let plates: u64 = ws
            .iter()
            .map(|w| w["plates_read"].as_u64().unwrap_or(0))
            .sum();
        let hits: u64 = ws
            .iter()
            .map(|w| w["hits"]["stolen_vehicle"].as_u64().unwrap_or(0))
            .sum();
        if plates >= 2 && hits >= 1 {
            assert!(
                ws.iter().all(|w| w["amends"].is_null()),
                "amendments merged: {ws:?}"
            );
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "windows of lpr-1 never counted both reads and the hit: {ws:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    stop.cancel();
    let _ = reporter.await;
    let _ = runner.await;
    sup.shutdown();
    h.cancel.cancel();
}
