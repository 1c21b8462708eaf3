//! A custom (case-bound) hotlist between a real controller and a real agent:
//! it reaches the agent only once another supervisor approves it, with its
//! expiry, and at that expiry (the controller's injected clock) the controller
//! stops serving it and the agent drops it. The agent's own check of the
//! expiry, with no controller at all, is `camplane_agent::hotlist`'s unit test.

use camplane_agent::control::Session;
use camplane_controller::clock::ManualClock;
use camplane_proto::v1 as pb;
use camplane_testkit::{agent, controller as ctl};
use jiff::Timestamp;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const LIST: &str = "custom.investigative.26-04711";

async fn wait_for<F: FnMut() -> bool>(limit: Duration, what: &str, mut f: F) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_list_reaches_agents_on_approval_and_leaves_at_its_expiry() {
    let dir = tempfile::tempdir().unwrap();
    // Near the real time: the agent's certificate is checked on the real clock.
    let start = Timestamp::now();
    let clock = ManualClock::new(start);
    let mut cfg = ctl::config_embedded(&dir.path().join("store"));
    cfg.tls.ca_cert_file = Some(dir.path().join("ca.pem"));
    let h = ctl::start(cfg, Some(Arc::new(clock.clone()))).await;
    ctl::apply(&h, &h.admin, ctl::CITY).await.unwrap();
    let sgt = ctl::qualified_user(&h, "sgt", "supervisor", "police").await;
    let lt = ctl::qualified_user(&h, "lt", "supervisor", "police").await;
    let token = agent::enroll_token(&h, "city-hall").await;
    // The gateway reads plates (an approved reader, not yet live): lists go to
    // it. A second gateway on the site reads none and is never sent one.
    agent::approved_lpr(&h, "rtsp://127.0.0.1:9/not-live").await;
    let plain_token = pb::fleet_client::FleetClient::new(h.channel.clone())
        .create_enroll_token(ctl::req(
            &h.admin,
            pb::EnrollTokenRequest {
                site: "city-hall".into(),
                agent: "plain-gw".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let pdir = dir.path().join("plain");
    let plain = agent::supervisor(&pdir);
    let plain_session = Session::new(
        agent::config(
            h.running.addr.port(),
            &dir.path().join("ca.pem"),
            &pdir,
            &plain_token.token,
        ),
        plain.clone(),
    )
    .unwrap();
    let adir = dir.path().join("agent");
    let acfg = agent::config(
        h.running.addr.port(),
        &dir.path().join("ca.pem"),
        &adir,
        &token.token,
    );
    let sup = agent::supervisor(&adir);
    let session = Session::new(acfg, sup.clone()).unwrap();
    let stop = CancellationToken::new();
    let runner = tokio::spawn(session.clone().run(stop.clone()));
    let plain_runner = tokio::spawn(plain_session.clone().run(stop.clone()));
    let hotlists = sup.hotlists();

    let expires = start + Duration::from_secs(3 * 86_400);
    let r = ctl::upload_hotlist(
        &h.channel,
        &sgt,
        pb::HotlistLoadRequest {
            source: "CUSTOM".into(),
            category: "investigative".into(),
            file_name: "case.csv".into(),
            csv: b"plate,state\nINV1,IA\n".to_vec(),
            case_number: "26-04711".into(),
            purpose: "burglary".into(),
            expires: expires.to_string(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .into_inner();
    // Waiting for approval, the list is nowhere: the agent holds nothing.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(hotlists.versions().is_empty(), "{:?}", hotlists.versions());
    pb::alpr_approvals_client::AlprApprovalsClient::new(h.channel.clone())
        .decide(ctl::req(
            &lt,
            pb::AlprApprovalDecision {
                id: r.pending_approval,
                approve: true,
                reason: "case 26-04711 is open".into(),
            },
        ))
        .await
        .unwrap();
    wait_for(
        Duration::from_secs(30),
        "the case list at the agent",
        || hotlists.versions().get(LIST) == Some(&1),
    )
    .await;
    // The plain gateway, connected all along, past a tick of its session: nothing.
    wait_for(
        Duration::from_secs(30),
        "the plain gateway's config",
        || plain_session.persisted().is_ok_and(|p| p.is_some()),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(
        plain.hotlists().versions().is_empty(),
        "{:?}",
        plain.hotlists().versions()
    );
    // Its expiry came with it: the agent matches before, not at it.
    assert_eq!(hotlists.matches("INV1", start).len(), 1);
    assert!(hotlists.matches("INV1", expires).is_empty());

    // Past the expiry the controller no longer serves it, and the agent drops it.
    clock.set(expires + Duration::from_secs(1));
    assert!(h.running.controller.hotlists().is_empty());
    wait_for(Duration::from_secs(30), "the lapsed list dropped", || {
        !hotlists.versions().contains_key(LIST)
    })
    .await;
    stop.cancel();
    let _ = runner.await;
    let _ = plain_runner.await;
    h.cancel.cancel();
}
