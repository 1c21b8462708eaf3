//! Audit completeness: each access the spec lists leaves exactly
//! one new audit entry, with who, when, the case number and purpose where they
//! apply, and the result count for searches; and the chain catches an edited or
//! deleted entry on etcd as on the embedded store.

use camplane_agent::alpr::store::NewRead;
use camplane_agent::control::Session;
use camplane_controller::store::{Op, Store};
use camplane_proto::v1 as pb;
use camplane_testkit::{agent, controller as ctl};
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

async fn head(h: &ctl::Harness) -> u64 {
    ctl::audit_log(h)
        .await
        .last()
        .and_then(|e| e["seq"].as_u64())
        .unwrap_or(0)
}

/// The entries after `since`; exactly one expected. A config push to the agent
/// that the access causes (a hold placed or released reaches its camera's
/// gateway) is its own entry, written when the agent is sent it, and is not
/// counted here.
async fn one_new(h: &ctl::Harness, since: u64, what: &str) -> Value {
    let new: Vec<Value> = ctl::audit_log(h)
        .await
        .into_iter()
        .filter(|e| e["seq"].as_u64().unwrap() > since && e["action"] != "config.push")
        .collect();
    assert_eq!(new.len(), 1, "{what}: exactly one new entry, got {new:#?}");
    let e = new.into_iter().next().unwrap();
    let at: Timestamp = e["at"].as_str().unwrap().parse().unwrap();
    assert!(
        Timestamp::now().duration_since(at) < SignedDuration::from_mins(1),
        "{what}: when"
    );
    e
}

async fn search(
    h: &ctl::Harness,
    token: &str,
    plate: &str,
    case: &str,
    purpose: &str,
) -> Result<pb::SearchResponse, tonic::Status> {
    Ok(pb::alpr_client::AlprClient::new(h.channel.clone())
        .search(ctl::req(
            token,
            pb::SearchRequest {
                plate: plate.into(),
                case_number: case.into(),
                purpose: purpose.into(),
                timeout_ms: 3000,
                ..Default::default()
            },
        ))
        .await?
        .into_inner())
}

async fn export(
    h: &ctl::Harness,
    token: &str,
    from: Timestamp,
    to: Timestamp,
    case: &str,
) -> Result<usize, tonic::Status> {
    let mut s = pb::recordings_client::RecordingsClient::new(h.channel.clone())
        .export(ctl::req(
            token,
            pb::ExportRequest {
                camera: "cam-1".into(),
                from: from.to_string(),
                to: to.to_string(),
                case_number: case.into(),
                out_dir: "/tmp/camplane-audit-test".into(),
                recipient: "A. Jones, Dubuque County Attorney".into(),
                masked: false,
                police_use: false,
            },
        ))
        .await?
        .into_inner();
    let mut n = 0;
    while s.message().await?.is_some() {
        n += 1;
    }
    Ok(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_access_leaves_exactly_one_entry() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let mut cfg = ctl::config_embedded(&dir.path().join("store"));
    cfg.tls.ca_cert_file = Some(ca.clone());
    let h = ctl::start(cfg, None).await;
    ctl::apply(&h, &h.admin, ctl::CITY).await.unwrap();

    // One gateway with a read and a recorded segment.
    let now = Timestamp::now();
    let token = agent::enroll_token(&h, "city-hall").await;
    // Its reader and cam-1, whose recordings it holds, are assigned to it (an
    // agent speaks only for its own cameras, and is asked only about them).
    agent::city_hall_gw_cameras(&h).await;
    let adir = dir.path().join("agent");
    let sup = agent::supervisor(&adir);
    let t = now - SignedDuration::from_hours(2);
    sup.reads()
        .append(
            NewRead {
                camera: "lpr-1".into(),
                plate: "ABC1234".into(),
                confidence: 0.9,
                time: t,
                first: t,
                last: t,
                frames: 3,
                bbox: [0, 0, 10, 10],
                location: None,
            },
            None,
        )
        .unwrap();
    {
        let idx = sup.index();
        let mut idx = idx.lock().unwrap();
        let d = idx.camera_dir("cam-1");
        std::fs::create_dir_all(&d).unwrap();
        let name = camplane_agent::index::segment_file_name(t.as_millisecond(), 7);
        std::fs::write(d.join(&name), b"segment bytes").unwrap();
        let (n, sha) = camplane_agent::record::hash_file(&d.join(&name)).unwrap();
        idx.append(
            "cam-1",
            t.as_millisecond(),
            (t + SignedDuration::from_mins(10)).as_millisecond(),
            n,
            7,
            sha,
        )
        .unwrap();
    }
    let acfg = agent::config(h.running.addr.port(), &ca, &adir, &token.token);
    let session = Session::new(acfg, sup.clone()).unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(session.clone().run(stop.clone()));
    for _ in 0..100 {
        if session.persisted().is_ok_and(|p| p.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let op = ctl::qualified_user(&h, "op", "alpr_operator", "police").await;
    let sup_t = ctl::qualified_user(&h, "sup", "supervisor", "police").await;
    let chief = ctl::qualified_user(&h, "chief", "chief", "police").await;
    let viewer = ctl::qualified_user(&h, "viewer", "viewer", "parks").await;

    // Allowed search: who, case, purpose, result count.
    let s0 = head(&h).await;
    let r = search(&h, &op, "ABC1234", "26-04711", "stolen_vehicle")
        .await
        .unwrap();
    assert_eq!(r.answered, vec!["city-hall-gw"]);
    let e = one_new(&h, s0, "allowed search").await;
    assert_eq!(
        (&e["action"], &e["actor"], &e["result"]),
        (
            &Value::from("alpr.search"),
            &Value::from("op"),
            &Value::from("ok")
        )
    );
    assert_eq!(e["details"]["case_number"], "26-04711");
    assert_eq!(e["details"]["purpose"], "stolen_vehicle");
    assert_eq!(e["details"]["results"], 1);

    // Refused search: bad case number.
    let s0 = head(&h).await;
    search(&h, &op, "ABC1234", "4711", "stolen_vehicle")
        .await
        .unwrap_err();
    let e = one_new(&h, s0, "bad case number").await;
    assert_eq!(e["action"], "alpr.search");
    assert_eq!(e["actor"], "op");
    assert!(e["result"].as_str().unwrap().starts_with("denied"));
    assert_eq!(e["details"]["case_number"], "4711");
    assert_eq!(e["details"]["purpose"], "stolen_vehicle");

    // Refused search: prohibited purpose.
    let s0 = head(&h).await;
    search(&h, &op, "ABC1234", "26-04711", "immigration_enforcement")
        .await
        .unwrap_err();
    let e = one_new(&h, s0, "prohibited purpose").await;
    assert!(e["result"].as_str().unwrap().contains("prohibited"));
    assert_eq!(e["details"]["purpose"], "immigration_enforcement");
    assert_eq!(e["details"]["case_number"], "26-04711");

    // Approval (a supervisor's decision on a pattern query).
    let pending = search(&h, &op, "ABC12*", "26-04711", "stolen_vehicle")
        .await
        .unwrap()
        .pending_approval;
    assert!(!pending.is_empty());
    let s0 = head(&h).await;
    pb::alpr_approvals_client::AlprApprovalsClient::new(h.channel.clone())
        .decide(ctl::req(
            &sup_t,
            pb::AlprApprovalDecision {
                id: pending.clone(),
                approve: true,
                reason: "witness".into(),
            },
        ))
        .await
        .unwrap();
    let e = one_new(&h, s0, "approval").await;
    assert_eq!(e["actor"], "sup");
    assert_eq!(e["name"], pending.as_str());
    assert!(e["action"].as_str().unwrap().starts_with("alpr.approval"));

    // Export.
    let s0 = head(&h).await;
    let n = export(
        &h,
        &chief,
        t - SignedDuration::from_mins(1),
        t + SignedDuration::from_hours(1),
        "26-04711",
    )
    .await
    .unwrap();
    assert_eq!(n, 3, "file, data, manifest");
    let e = one_new(&h, s0, "export").await;
    assert_eq!(e["action"], "recordings.export");
    assert_eq!(e["actor"], "chief");
    assert_eq!(e["result"], "ok");
    assert_eq!(e["details"]["case_number"], "26-04711");
    assert_eq!(e["details"]["files"], 1);

    // Refused export (another department's viewer).
    let s0 = head(&h).await;
    export(
        &h,
        &viewer,
        t - SignedDuration::from_mins(1),
        t + SignedDuration::from_hours(1),
        "26-04711",
    )
    .await
    .unwrap_err();
    let e = one_new(&h, s0, "refused export").await;
    assert_eq!(e["action"], "recordings.export");
    assert_eq!(e["actor"], "viewer");
    assert!(e["result"].as_str().unwrap().starts_with("denied"));
    assert_eq!(e["details"]["case_number"], "26-04711");

    // Hold create and release.
    let s0 = head(&h).await;
    let spec = serde_json::json!({"case_number": "26-04711", "cameras": ["cam-1"],
        "from": "2026-10-01T00:00:00Z", "until": "2026-10-02T00:00:00Z", "reason": "criminal_investigation"});
    let hold = pb::holds_client::HoldsClient::new(h.channel.clone())
        .create(ctl::req(
            &chief,
            pb::SubmitRequest {
                json: serde_json::to_vec(&spec).unwrap(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let e = one_new(&h, s0, "hold create").await;
    assert_eq!(e["actor"], "chief");
    assert!(e["action"].as_str().unwrap().contains("hold"), "{e}");
    assert!(e.to_string().contains("26-04711"), "case number: {e}");
    let s0 = head(&h).await;
    pb::holds_client::HoldsClient::new(h.channel.clone())
        .release(ctl::req(&chief, pb::HoldName { name: hold.name }))
        .await
        .unwrap();
    let e = one_new(&h, s0, "hold release").await;
    assert_eq!(e["actor"], "chief");
    assert!(e["action"].as_str().unwrap().contains("hold"), "{e}");
    assert!(e.to_string().contains("26-04711"), "case number: {e}");

    // Login and failed login.
    let s0 = head(&h).await;
    ctl::login(&h.channel, "op", "op-password-123")
        .await
        .unwrap();
    let e = one_new(&h, s0, "login").await;
    assert_eq!(
        (e["action"].as_str(), e["actor"].as_str()),
        (Some("login"), Some("op"))
    );
    let s0 = head(&h).await;
    ctl::login(&h.channel, "op", "wrong-password")
        .await
        .unwrap_err();
    let e = one_new(&h, s0, "failed login").await;
    assert_eq!(
        (e["action"].as_str(), e["actor"].as_str()),
        (Some("login_failed"), Some("op"))
    );

    assert!(ctl::verify(&h).await.ok);
    stop.cancel();
    h.cancel.cancel();
}

/// Edits one entry's bytes, then deletes another: `audit verify` names each.
async fn tamper(h: &ctl::Harness, store: &dyn Store, edit: u64, delete: u64) {
    let key = camplane_controller::audit::entry_key(edit);
    let orig = store.get(&key).await.unwrap().unwrap().value.to_vec();
    // One byte of the stored JSON changed (the actor's first letter).
    let mut bytes = orig.clone();
    let at = String::from_utf8_lossy(&bytes)
        .find("\"actor\":\"")
        .unwrap()
        + 9;
    bytes[at] ^= 0x20;
    store
        .txn(vec![], vec![Op::Put(key.clone(), bytes)])
        .await
        .unwrap();
    let v = ctl::verify(h).await;
    assert!(!v.ok);
    assert_eq!(v.first_broken_seq, edit, "{}", v.message);
    store.txn(vec![], vec![Op::Put(key, orig)]).await.unwrap();
    assert!(ctl::verify(h).await.ok);
    store
        .txn(
            vec![],
            vec![Op::Delete(camplane_controller::audit::entry_key(delete))],
        )
        .await
        .unwrap();
    let v = ctl::verify(h).await;
    assert!(!v.ok);
    assert_eq!(v.first_broken_seq, delete, "{}", v.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edited_or_deleted_entry_is_named_on_both_stores() {
    std::env::set_var("CAMPLANE_TEST_NO_SUCH_VAR", ctl::ADMIN_PW);
    let dir = tempfile::tempdir().unwrap();
    let h = ctl::start(ctl::config_embedded(dir.path()), None).await;
    ctl::apply(&h, &h.admin, ctl::CITY).await.unwrap();
    let store = h.running.controller.store.clone();
    tamper(&h, &*store, 2, 4).await;
    h.cancel.cancel();

    let etcd = camplane_testkit::servers::EtcdServer::start();
    let h = ctl::start(ctl::config_etcd(&etcd.endpoint(), "/audit"), None).await;
    ctl::apply(&h, &h.admin, ctl::CITY).await.unwrap();
    let store = h.running.controller.store.clone();
    tamper(&h, &*store, 3, 5).await;
    h.cancel.cancel();
}
