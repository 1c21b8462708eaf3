//! A rolling upgrade: three controllers on a real etcd, three agents that list
//! all of them and report every second, and a client calling the API the whole
//! time. The controllers are restarted one by one. No agent report is lost or
//! stored twice (reports made == reports stored), and every API call that
//! failed failed with a retryable code (`Unavailable`), never with a wrong answer.

use camplane_agent::control::Session;
use camplane_config::agent::AgentConfig;
use camplane_proto::v1 as pb;
use camplane_testkit::servers::{free_port, EtcdServer};
use camplane_testkit::{agent, controller as ctl};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

fn agent_config(
    ports: &[u16],
    ca: &std::path::Path,
    dir: &std::path::Path,
    token: &str,
) -> AgentConfig {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("token"), token).unwrap();
    let controllers: Vec<String> = ports
        .iter()
        .map(|p| format!("https://127.0.0.1:{p}"))
        .collect();
    AgentConfig::parse(
        "agent.yaml",
        &format!(
            "controllers: [{}]\nca_file: {}\nenroll_token_file: {}\ndata_dir: {}\nreport_interval_seconds: 1\nmin_free_bytes: 0\nmin_free_percent: 0\n",
            controllers.join(", "),
            ca.display(),
            dir.join("token").display(),
            dir.display()
        ),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_controllers_one_by_one_loses_nothing() {
    let etcd = EtcdServer::start();
    std::env::set_var("CAMPLANE_TEST_NO_SUCH_VAR", ctl::ADMIN_PW);
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let config = |i: usize| {
        let mut c = ctl::config_etcd(&etcd.endpoint(), "/rolling");
        c.listen = format!("127.0.0.1:{}", ports[i]);
        c.tls.ca_cert_file = Some(dir.path().join(format!("ca-{i}.pem")));
        c
    };
    let mut ctls: Vec<ctl::Harness> = Vec::new();
    for i in 0..3 {
        ctls.push(ctl::start(config(i), None).await);
    }
    std::fs::copy(dir.path().join("ca-0.pem"), &ca).unwrap();
    let admin = ctls[0].admin.clone();
    ctl::apply(&ctls[0], &admin, ctl::CITY).await.unwrap();
    ctl::apply(
        &ctls[0],
        &admin,
        "kind: Site\nname: depot\nspec: {address: x, lat: 42.51, lon: -90.65}\n---\nkind: Site\nname: airport\nspec: {address: y, lat: 42.40, lon: -90.70}\n",
    )
    .await
    .unwrap();

    // Three agents, each listing the controllers in a different order.
    let stop = CancellationToken::new();
    let mut sessions: Vec<Arc<Session>> = Vec::new();
    for (n, site) in ["city-hall", "depot", "airport"].iter().enumerate() {
        let token = agent::enroll_token(&ctls[0], site).await;
        let mut order = ports.clone();
        order.rotate_left(n);
        let adir = dir.path().join(site);
        let s = Session::new(
            agent_config(&order, &ca, &adir, &token.token),
            agent::supervisor(&adir),
        )
        .unwrap();
        tokio::spawn(s.clone().run_reporter(stop.clone()));
        tokio::spawn(s.clone().run(stop.clone()));
        sessions.push(s);
    }
    let connected = |ctls: &[ctl::Harness]| -> usize {
        ctls.iter()
            .map(|h| {
                h.running
                    .controller
                    .wing::<camplane_controller::alpr::search::Hub>()
                    .connected_count()
            })
            .sum()
    };
    let t0 = Instant::now();
    while connected(&ctls) < 3 {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "agents did not connect"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // API load against all three, the whole time.
    let errors: Arc<Mutex<BTreeMap<String, u64>>> = Default::default();
    let calls = Arc::new(AtomicU64::new(0));
    let loading = Arc::new(AtomicBool::new(true));
    let tls = tonic::transport::ClientTlsConfig::new().ca_certificate(
        tonic::transport::Certificate::from_pem(std::fs::read_to_string(&ca).unwrap()),
    );
    let mut load = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let ch = tonic::transport::Endpoint::from_shared(format!("https://127.0.0.1:{port}"))
            .unwrap()
            .tls_config(tls.clone())
            .unwrap()
            .connect_timeout(Duration::from_secs(2))
            .connect_lazy();
        let (errors, calls, loading, admin) = (
            errors.clone(),
            calls.clone(),
            loading.clone(),
            admin.clone(),
        );
        load.push(tokio::spawn(async move {
            let mut n = 0u64;
            while loading.load(Ordering::Relaxed) {
                n += 1;
                let r = if n.is_multiple_of(2) {
                    pb::objects_client::ObjectsClient::new(ch.clone())
                        .get(ctl::req(
                            &admin,
                            pb::GetRequest {
                                kind: "cameras".into(),
                                name: String::new(),
                                ..Default::default()
                            },
                        ))
                        .await
                        .map(|_| ())
                } else {
                    let json =
                        serde_json::to_vec(&serde_json::json!({"display_name": "load"})).unwrap();
                    pb::objects_client::ObjectsClient::new(ch.clone())
                        .apply(ctl::req(
                            &admin,
                            pb::ApplyRequest {
                                objects: vec![pb::Object {
                                    kind: "Department".into(),
                                    name: format!("load-{i}-{n}"),
                                    json,
                                    revision: 0,
                                }],
                                source: "load".into(),
                                dry_run: false,
                            },
                        ))
                        .await
                        .map(|_| ())
                };
                calls.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = r {
                    *errors
                        .lock()
                        .unwrap()
                        .entry(format!(
                            "{:?}: {}",
                            e.code(),
                            e.message().chars().take(80).collect::<String>()
                        ))
                        .or_default() += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                } else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }));
    }

    // The rolling restart.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for i in 0..3 {
        let h = &mut ctls[i];
        h.cancel.cancel();
        let _ = (&mut h.running.task).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let restarted = ctl::start(config(i), None).await;
        ctls[i] = restarted;
        let t0 = Instant::now();
        while connected(&ctls) < 3 {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "agents did not come back after restarting controller {i}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!(
            "controller {i} restarted; agents back after {:?}",
            t0.elapsed()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    loading.store(false, Ordering::Relaxed);
    for l in load {
        l.await.unwrap();
    }

    // Every report made is stored, once.
    let store = ctls[0].running.controller.store.clone();
    let t0 = Instant::now();
    loop {
        let made: u64 = sessions
            .iter()
            .map(|s| s.reports_made() - s.spool_depth() as u64)
            .sum();
        let stored = store
            .list(camplane_controller::fleet::REPORTS)
            .await
            .unwrap()
            .kvs
            .len() as u64;
        if made == stored && sessions.iter().all(|s| s.spool_depth() == 0) {
            eprintln!("reports made and stored: {made}");
            assert!(made >= 30, "reports flowed: {made}");
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "reports made {made} != stored {stored}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.cancel();
    let errors = errors.lock().unwrap().clone();
    let total = calls.load(Ordering::Relaxed);
    eprintln!("API calls: {total}; failed: {errors:?}");
    assert!(total > 100, "{total} calls");
    for (e, n) in &errors {
        // A call sent on a connection the restarting controller was closing
        // gracefully (HTTP/2 GOAWAY, NO_ERROR) was never processed (RFC 9113 §6.8)
        // and may be sent again, but hyper and tonic 0.14 report it as `Internal:
        // h2 protocol error: http2 error` with the GOAWAY reason dropped (hyper PR
        // 4052, grpc-java 1355 for the same mapping). Only that exact error is
        // let through, and only rarely.
        // The same race can end in hyper's `Canceled` ("operation was canceled"):
        // the request was still queued on the closing connection when its
        // dispatcher ended, so it was never written (hyper's client reports a
        // request that was sent and cut off as an incomplete message, which
        // tonic maps to Unavailable). Seen once in 1,692 calls.
        let goaway_race = (e == "Internal: h2 protocol error: http2 error"
            || e == "Cancelled: operation was canceled")
            && *n <= 3;
        assert!(
            e.starts_with("Unavailable") || goaway_race,
            "{n} calls failed with a non-retryable error: {e}"
        );
    }
}
