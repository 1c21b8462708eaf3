//! A network partition between a site and every controller, with real parts: a
//! controller (embedded store, TLS), an agent recording and reading an ALPR
//! camera (rendered plates over a GStreamer RTSP server, the real models), and
//! between them a TCP relay the test cuts: while cut it forwards nothing in
//! either direction and leaves the connections hanging, as a dead link does (no
//! resets, no refusals).
//!
//! For the partition (150 s by default; `CAMPLANE_PARTITION_SECS`) the agent keeps
//! recording, reading plates and raising alerts, all spooled. After it heals the
//! agent's reports arrive exactly once (reports made == stored, alerts at the
//! controller == alerts raised), and the camera's active windows are right: none
//! twice, those of the partition included, every plate read counted.

use camplane_agent::control::Session;
use camplane_proto::v1 as pb;
use camplane_testkit::{agent, controller as ctl, media, servers};
use jiff::{SignedDuration, Timestamp};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Copies one direction; while `cut`, neither reads nor writes (bytes in flight wait).
async fn wait_for<F: FnMut() -> bool>(limit: Duration, what: &str, mut f: F) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn last_health(h: &ctl::Harness) -> Option<Timestamp> {
    let kv = h
        .running
        .controller
        .store
        .get(&format!(
            "{}city-hall-gw",
            camplane_controller::fleet::HEALTH
        ))
        .await
        .unwrap()?;
    let v: serde_json::Value = serde_json::from_slice(&kv.value).unwrap();
    v["received_at"].as_str()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_site_keeps_working_and_reports_exactly_once() {
    let partition = Duration::from_secs(
        std::env::var("CAMPLANE_PARTITION_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(150),
    );
    servers::require_tools();
    let models = camplane_agent::alpr::models::resolve_dir(None);
    camplane_agent::alpr::models::verify(&models)
        .unwrap_or_else(|e| panic!("ALPR models not ready: {e}; run deploy/fetch-models.sh"));
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("plates.mp4");
    media::render_plates(&clip);

    let mut cfg = ctl::config_embedded(&dir.path().join("store"));
    cfg.tls.ca_cert_file = Some(dir.path().join("ca.pem"));
    let h = ctl::start(cfg, None).await;
    ctl::apply(&h, &h.admin, ctl::CITY).await.unwrap();
    let sgt = ctl::qualified_user(&h, "sgt", "supervisor", "police").await;
    let token = agent::enroll_token(&h, "city-hall").await;
    let cam = servers::RtspServer::start(
        servers::free_port(),
        &[&format!("/lpr=mp4:{}", clip.display())],
    );
    agent::approved_lpr(&h, &cam.url("/lpr")).await;
    ctl::upload_hotlist(
        &h.channel,
        &sgt,
        pb::HotlistLoadRequest {
            source: "NCIC".into(),
            category: "stolen_vehicle".into(),
            file_name: "ncic.csv".into(),
            csv: b"plate\nABC1234\n".to_vec(),
            columns_json: String::new(),
            mode: "replace".into(),
            public: None,
            ..Default::default()
        },
    )
    .await
    .unwrap();

    // The agent reaches the controller only through the relay.
    let cut = Arc::new(AtomicBool::new(false));
    let port = servers::relay(h.running.addr.port(), cut.clone()).await;
    let adir = dir.path().join("agent");
    let acfg = agent::config(port, &dir.path().join("ca.pem"), &adir, &token.token);
    let sup = agent::supervisor(&adir);
    sup.set_alpr_options(camplane_agent::alpr::site::AlprSiteOptions {
        models: Some(models),
        fps: 4.0,
        ..Default::default()
    });
    let session = Session::new(acfg, sup.clone()).unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(session.clone().run_reporter(stop.clone()));
    tokio::spawn(session.clone().run(stop.clone()));
    let hotlists = sup.hotlists();
    wait_for(Duration::from_secs(30), "the hotlist at the agent", || {
        hotlists.versions().get("ncic.stolen_vehicle") == Some(&1)
    })
    .await;
    let start = Timestamp::now();
    ctl::camera(&h, &h.admin, "lpr-1", "activate")
        .await
        .unwrap();
    let reads = sup.reads();
    let far = start + SignedDuration::from_hours(2);
    wait_for(Duration::from_secs(60), "a first read", || {
        !reads.find("ABC1234", start, far).is_empty()
    })
    .await;

    // Cut. The agent carries on alone.
    let segs = |sup: &camplane_agent::Supervisor| {
        sup.health()
            .cameras
            .iter()
            .find(|c| c.id == "lpr-1")
            .map_or(0, |c| c.segments_written)
    };
    let (segs0, reads0, made0) = (
        segs(&sup),
        reads.find("ABC1234", start, far).len(),
        session.reports_made(),
    );
    cut.store(true, Ordering::SeqCst);
    let cut_at = Timestamp::now();
    eprintln!("partition for {partition:?}");
    tokio::time::sleep(partition).await;
    let health_seen = last_health(&h).await.unwrap();
    assert!(
        health_seen < cut_at + SignedDuration::from_secs(2),
        "the controller heard from the site during the partition ({health_seen} after the cut at {cut_at})"
    );
    let (segs1, reads1) = (segs(&sup), reads.find("ABC1234", start, far).len());
    assert!(
        segs1 >= segs0 + partition.as_secs() / 2 / 2,
        "kept recording: {segs0} -> {segs1} segments"
    );
    assert!(
        reads1 >= reads0 + (partition.as_secs() / 12 / 2) as usize,
        "kept reading: {reads0} -> {reads1} reads of ABC1234"
    );
    assert!(session.spool_depth() > 0, "reports waited in the spool");
    eprintln!(
        "during the partition: {} segments, {} reads, {} reports spooled",
        segs1 - segs0,
        reads1 - reads0,
        session.reports_made() - made0
    );

    // Heal: everything arrives, once.
    cut.store(false, Ordering::SeqCst);
    let healed = Instant::now();
    let t0 = Instant::now();
    loop {
        let stored = h
            .running
            .controller
            .store
            .list(camplane_controller::fleet::REPORTS)
            .await
            .unwrap()
            .kvs
            .len() as u64;
        let made = session.reports_made() - session.spool_depth() as u64;
        // Health reports superseded during the partition (the controller keeps
        // the latest) count as delivered; some of them reached it first.
        let superseded = session.reports_superseded();
        if session.spool_depth() == 0 && stored <= made && stored + superseded >= made {
            eprintln!(
                "healed: {stored} reports stored after {:?}",
                healed.elapsed()
            );
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(90),
            "after healing: made {made}, stored {stored}, superseded {superseded}, spooled {}",
            session.spool_depth()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let raised: u64 = session.alerts_by_category().values().sum();
    let alerts = h
        .running
        .controller
        .store
        .list(camplane_controller::hotlist::ALERTS)
        .await
        .unwrap()
        .kvs
        .len() as u64;
    assert_eq!(
        alerts, raised,
        "every alert raised reached the controller once"
    );
    assert!(
        raised >= 2,
        "alerts raised during the partition too: {raised}"
    );

    // The camera stops. Its windows (one per playback of the clip, which the
    // RTSP server plays once per connection) were all reported once: none
    // overlaps another, those of the partition arrived after it, and together
    // they count every plate read the agent stored.
    let healed_at = Timestamp::now();
    drop(cam);
    let t0 = Instant::now();
    loop {
        let r = pb::fleet_client::FleetClient::new(h.channel.clone())
            .windows(ctl::req(&h.admin, pb::ListRequest::default()))
            .await
            .unwrap()
            .into_inner();
        let mut ws: Vec<(Timestamp, Timestamp, u64)> = r
            .objects
            .iter()
            .map(|o| serde_json::from_slice::<serde_json::Value>(&o.json).unwrap())
            .filter(|w| w["camera"] == "lpr-1")
            .map(|w| {
                (
                    w["start"].as_str().unwrap().parse().unwrap(),
                    w["end"].as_str().unwrap().parse().unwrap(),
                    w["plates_read"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        ws.sort();
        let plates: u64 = ws.iter().map(|w| w.2).sum();
        let stored_reads = reads.len() as u64;
        let last_ended = ws.last().is_some_and(|w| w.1 > healed_at);
        if plates == stored_reads && last_ended && session.spool_depth() == 0 {
            for pair in ws.windows(2) {
                assert!(pair[0].1 < pair[1].0, "overlapping windows: {pair:?}");
            }
            let during = ws
                .iter()
                .filter(|w| w.0 > cut_at && w.1 < healed_at)
                .count();
            assert!(during >= 1, "windows of the partition reported: {ws:?}");
            eprintln!(
                "{} windows, {during} from the partition, {plates} plates read",
                ws.len()
            );
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "windows count {plates} plates, the agent stored {stored_reads}: {ws:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    stop.cancel();
}
