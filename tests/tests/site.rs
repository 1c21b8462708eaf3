//! A whole site end to end with real parts: a controller (embedded store, TLS), a
//! GStreamer RTSP camera, and an agent that enrols with a one-time token, gets its
//! camera over the mutual-TLS control stream, records it with FFmpeg, reports
//! health, and keeps recording and spooling while the controller is down; after
//! the controller returns, every report arrives exactly once.

use camplane_agent::control::Session;
use camplane_proto::v1 as pb;
use camplane_testkit::{agent, controller as ctl, servers};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

async fn wait_for<F: FnMut() -> bool>(limit: Duration, what: &str, mut f: F) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn segments(dir: &std::path::Path) -> usize {
    walk(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "ts"))
        .count()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_enrols_records_and_reports_exactly_once_across_a_controller_outage() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
    servers::require_tools();
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("CAMPLANE_TEST_NO_SUCH_VAR", ctl::ADMIN_PW);
    let port = servers::free_port();
    let mut cam = servers::RtspServer::start(port, &["/cam=live:320x240"]);

    // The controller, on a fixed port so it can come back at the same address.
    let ctl_port = servers::free_port();
    let mut cfg = ctl::config_embedded(&dir.path().join("store"));
    cfg.listen = format!("127.0.0.1:{ctl_port}");
    cfg.tls.ca_cert_file = Some(dir.path().join("ca.pem"));
    let h = ctl::start(cfg.clone(), None).await;
    ctl::apply(&h, &h.admin, ctl::CITY).await.unwrap();
    let token = agent::enroll_token(&h, "city-hall").await;
    assert_eq!(token.agent, "city-hall-gw");
    // Assign the camera to the gateway, approve and activate it.
    let assigned = ctl::CITY
        .replace(
            "  placement_request: req-1",
            "  placement_request: req-1\n  agent: city-hall-gw\n  retention_days: 7",
        )
        .replace("rtsp://127.0.0.1:8554/cam1", &cam.url("/cam"));
    ctl::apply(&h, &h.admin, &assigned).await.unwrap();
    let mgr = ctl::user(&h, "m", &["dept_manager"], "police").await;
    let chief = ctl::user(&h, "c", &["chief"], "police").await;
    let cm = ctl::user(&h, "cm", &["city_manager"], "").await;
    ctl::act(&h, &mgr, "req-1", "recommend", "", "")
        .await
        .unwrap();
    ctl::act(&h, &chief, "req-1", "recommend", "", "")
        .await
        .unwrap();
    ctl::override_unchecked(&h, &chief, "req-1").await;
    ctl::act(&h, &cm, "req-1", "approve", "", "").await.unwrap();
    ctl::camera(&h, &h.admin, "cam-1", "activate")
        .await
        .unwrap();

    // The agent, in this process, with its own data directory.
    let adir = dir.path().join("agent");
    let acfg = agent::config(ctl_port, &dir.path().join("ca.pem"), &adir, &token.token);
    let rec = adir.join("recordings");
    let sup = agent::supervisor(&adir);
    let session = Session::new(acfg, sup.clone()).unwrap();
    let stop = CancellationToken::new();
    let reporter = tokio::spawn(session.clone().run_reporter(stop.clone()));
    let runner = tokio::spawn(session.clone().run(stop.clone()));

    // Enrolled, configured, recording, and its health reaches the controller.
    wait_for(Duration::from_secs(30), "recorded segments", || {
        segments(&rec) >= 2
    })
    .await;
    let fleet = pb::fleet_client::FleetClient::new(h.channel.clone());
    let t0 = Instant::now();
    loop {
        let st = fleet
            .clone()
            .camera_status(ctl::req(&h.admin, pb::ListRequest::default()))
            .await
            .unwrap()
            .into_inner();
        let online = st.objects.iter().any(|o| {
            let v: serde_json::Value = serde_json::from_slice(&o.json).unwrap();
            v["health"]["cameras"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["id"] == "cam-1" && c["state"] == "online")
            })
        });
        if online {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "camera status never showed cam-1 online: {st:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The config push is in the audit log.
    let tail = pb::audit_client::AuditClient::new(h.channel.clone())
        .tail(ctl::req(
            &h.admin,
            pb::TailRequest {
                limit: 50,
                before_seq: 0,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(tail
        .entries
        .iter()
        .any(|e| String::from_utf8_lossy(&e.json).contains("config.push")));

    // A legal hold on the camera reaches the agent with its config.
    let chief = ctl::user(&h, "chief2", &["chief"], "police").await;
    let spec = serde_json::json!({"case_number": "26-04711", "cameras": ["cam-1"], "from": "2026-01-01T00:00:00Z", "until": "2027-01-01T00:00:00Z", "reason": "criminal_investigation"});
    pb::holds_client::HoldsClient::new(h.channel.clone())
        .create(ctl::req(
            &chief,
            pb::SubmitRequest {
                json: serde_json::to_vec(&spec).unwrap(),
            },
        ))
        .await
        .unwrap();
    wait_for(
        Duration::from_secs(20),
        "the hold in the agent's config",
        || {
            session
                .persisted()
                .ok()
                .flatten()
                .is_some_and(|p| p.desired.holds.iter().any(|h| h.case_number == "26-04711"))
        },
    )
    .await;

    // The controller goes away: the agent keeps recording and spools its reports.
    h.cancel.cancel();
    let _ = h.running.task.await;
    drop(h.running.controller);
    drop(h.channel);
    let before = segments(&rec);
    wait_for(
        Duration::from_secs(20),
        "spooled reports while the controller is down",
        || session.spool_depth() >= 3,
    )
    .await;
    wait_for(
        Duration::from_secs(20),
        "recording while the controller is down",
        || segments(&rec) > before,
    )
    .await;

    // It returns at the same address: the spool drains, every report exactly once.
    let mut h2 = None;
    for _ in 0..50 {
        match camplane_controller::server::start(cfg.clone(), CancellationToken::new()).await {
            Ok(r) => {
                h2 = Some(r);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let h2 = h2.expect("controller restarts");
    wait_for(Duration::from_secs(30), "the spool to drain", || {
        session.spool_depth() == 0
    })
    .await;

    // The camera drops for longer than the report interval: its active window
    // closes, is reported, and the controller lists it.
    cam.kill();
    let ch2 = ctl::channel(&h2).await;
    let admin2 = ctl::login(&ch2, "admin", ctl::ADMIN_PW).await.unwrap();
    let t0 = Instant::now();
    let windows = loop {
        let r = pb::fleet_client::FleetClient::new(ch2.clone())
            .windows(ctl::req(&admin2, pb::ListRequest::default()))
            .await
            .unwrap()
            .into_inner();
        // A period still going on at a whole hour is reported in pieces: wait for its end.
        let ended = r.objects.iter().any(|o| {
            serde_json::from_slice::<serde_json::Value>(&o.json)
                .is_ok_and(|w| w["continues"].is_null())
        });
        if ended {
            break r.objects;
        }
        if t0.elapsed() > Duration::from_secs(40) {
            let l = h2
                .controller
                .store
                .list(camplane_controller::fleet::REPORTS)
                .await
                .unwrap();
            let kinds: Vec<String> = l
                .kvs
                .iter()
                .map(|kv| {
                    serde_json::from_slice::<serde_json::Value>(&kv.value).unwrap()["kind"]
                        .to_string()
                })
                .collect();
            let health = sup.health();
            panic!("no active window was reported after the camera dropped; stored kinds {kinds:?}; health {health:?}; active {:?}", sup.active_windows());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let w: serde_json::Value = serde_json::from_slice(&windows[0].json).unwrap();
    assert_eq!(w["camera"], "cam-1");
    assert_eq!(w["agent"], "city-hall-gw");
    let (start, end): (jiff::Timestamp, jiff::Timestamp) = (
        w["start"].as_str().unwrap().parse().unwrap(),
        w["end"].as_str().unwrap().parse().unwrap(),
    );
    assert!(
        end.duration_since(start) > jiff::SignedDuration::from_secs(5),
        "one window across the controller outage: {w}"
    );
    stop.cancel();
    let _ = reporter.await;
    let _ = runner.await;
    // Anything spooled after the last drain is still pending; count both sides now.
    let stored: Vec<serde_json::Value> = h2
        .controller
        .store
        .list(&format!(
            "{}city-hall-gw/",
            camplane_controller::fleet::REPORTS
        ))
        .await
        .unwrap()
        .kvs
        .iter()
        .map(|kv| serde_json::from_slice(&kv.value).unwrap())
        .collect();
    let made = session.reports_made();
    let pending = session.spool_depth() as u64;
    // Health reports made while the controller was away may be superseded by
    // newer ones (the controller keeps the latest); some reached it first.
    let superseded = session.reports_superseded();
    assert!(
        stored.len() as u64 + pending <= made && stored.len() as u64 + pending + superseded >= made,
        "reports made ({made}) = stored ({}) + still spooled ({pending}), less at most the \
         {superseded} superseded health reports; none lost, none twice",
        stored.len()
    );
    assert!(stored.len() >= 5);
    // Health reports made it; the camera's window is still open (it never dropped),
    // so no closed window was reported, and none was invented.
    assert!(stored
        .iter()
        .all(|r| r["kind"] == "health" || r["kind"] == "windows"));
    sup.shutdown();
}
