//! Reader history (issue #16): the public list of current and previous reader
//! locations comes from an append-only record of its own, which outlives the
//! camera record; a confidential marking needs a reason and a basis from the
//! controller config, is audited, and hides the reader only from its date.

use camplane_controller::clock::ManualClock;
use camplane_controller::publog;
use camplane_proto::v1 as pb;
use camplane_testkit::agent::approved_lpr;
use camplane_testkit::controller::*;
use serde_json::Value;
use std::sync::Arc;
use tonic::Code;

async fn relogin(h: &mut Harness) {
    let pw = h
        .running
        .initial_password
        .clone()
        .unwrap_or_else(|| ADMIN_PW.into());
    h.admin = login(&h.channel, "admin", &pw).await.unwrap();
}

/// The month's `log.json`, generated on demand.
async fn month_log(h: &Harness, month: &str) -> (Value, String) {
    let files = pb::public_log_client::PublicLogClient::new(h.channel.clone())
        .generate(req(
            &h.admin,
            pb::PublicLogRequest {
                month: month.into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .files;
    let all: String = files
        .iter()
        .map(|f| String::from_utf8_lossy(&f.content).into_owned())
        .collect();
    let json = files.iter().find(|f| f.name == "log.json").unwrap();
    (serde_json::from_slice(&json.content).unwrap(), all)
}

/// Files one window of `lpr-1` with plate reads, as an agent's report would be.
async fn file_window(h: &Harness, start: &str, end: &str) {
    let ctl = &h.running.controller;
    let w = serde_json::json!({"camera": "lpr-1", "start": start, "end": end, "plates_read": 12});
    let ops = publog::file_window_ops(
        "city-hall-gw",
        start,
        end.parse().unwrap(),
        &w,
        &ctl.time_zone(),
    )
    .unwrap();
    ctl.store.txn(vec![], ops).await.unwrap();
}

fn entries_of(log: &[Value], action: &str) -> Vec<Value> {
    log.iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_readers_history_stays_in_the_public_log() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new("2026-09-20T15:00:00Z".parse().unwrap());
    let mut h = start(config_embedded(dir.path()), Some(Arc::new(clock.clone()))).await;
    apply(&h, &h.admin, CITY).await.unwrap();
    // The reader's gateway is registered (its token is not used).
    camplane_testkit::agent::enroll_token(&h, "city-hall").await;
    approved_lpr(&h, "rtsp://127.0.0.1:8554/lpr").await;
    camera(&h, &h.admin, "lpr-1", "activate").await.unwrap();
    let store = h.running.controller.store.clone();
    assert_eq!(
        store
            .list("readers/history/lpr-1/")
            .await
            .unwrap()
            .kvs
            .len(),
        1,
        "the activation is on record"
    );

    // Side doors: an active reader's record cannot go, and no apply reaches the history.
    let e = pb::objects_client::ObjectsClient::new(h.channel.clone())
        .delete(req(
            &h.admin,
            pb::DeleteRequest {
                kind: "Camera".into(),
                name: "lpr-1".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{}", e.message());
    let e = pb::objects_client::ObjectsClient::new(h.channel.clone())
        .apply(req(
            &h.admin,
            pb::ApplyRequest {
                objects: vec![pb::Object {
                    kind: "ReaderHistory".into(),
                    name: "lpr-1".into(),
                    json: br#"{"entries": []}"#.to_vec(),
                    revision: 0,
                }],
                source: "test.yaml".into(),
                dry_run: false,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{}", e.message());
    let log = audit_log(&h).await;
    assert!(
        log.iter().any(|e| e["action"] == "apply"
            && e["kind"] == "ReaderHistory"
            && e["result"].as_str().unwrap_or("").starts_with("refused")),
        "the refused apply is on record"
    );

    // Retired on Oct 20 and its record deleted: the history stays.
    clock.set("2026-10-20T15:00:00Z".parse().unwrap());
    relogin(&mut h).await;
    camera(&h, &h.admin, "lpr-1", "retire").await.unwrap();
    pb::objects_client::ObjectsClient::new(h.channel.clone())
        .delete(req(
            &h.admin,
            pb::DeleteRequest {
                kind: "Camera".into(),
                name: "lpr-1".into(),
            },
        ))
        .await
        .unwrap();
    assert_eq!(
        store
            .list("readers/history/lpr-1/")
            .await
            .unwrap()
            .kvs
            .len(),
        2,
        "activation and retirement kept"
    );
    clock.set("2026-11-02T15:00:00Z".parse().unwrap());
    relogin(&mut h).await;
    let (log, _) = month_log(&h, "2026-10").await;
    let history = log["location_history"].as_array().unwrap();
    assert_eq!(history.len(), 1, "{log}");
    assert_eq!(history[0]["reader"], "lpr-1");
    assert_eq!(history[0]["locations"][0]["from"], "2026-09-20");
    assert_eq!(history[0]["locations"][0]["until"], "2026-10-20");

    // A camera made again under the name continues the history, never over it.
    approved_lpr_again(&h).await;
    camera(&h, &h.admin, "lpr-1", "activate").await.unwrap();
    let kvs = store.list("readers/history/lpr-1/").await.unwrap().kvs;
    assert_eq!(kvs.len(), 3, "appended, the first two unchanged");
    assert!(kvs[2].key.ends_with("0000000002"));
}

/// Registers `lpr-1` again (the request stays approved).
async fn approved_lpr_again(h: &Harness) {
    apply(
        h,
        &h.admin,
        &camplane_testkit::agent::LPR.replace("RTSP_URL", "rtsp://127.0.0.1:8554/lpr"),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confidential_needs_a_reason_and_hides_only_from_its_date() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new("2026-09-20T15:00:00Z".parse().unwrap());
    let mut h = start(config_embedded(dir.path()), Some(Arc::new(clock.clone()))).await;
    apply(&h, &h.admin, CITY).await.unwrap();
    // The chief, made while the city manager's session is fresh (a grant of
    // chief takes their confirmation).
    user(&h, "chief", &["chief"], "police").await;
    // The reader's gateway is registered (its token is not used).
    camplane_testkit::agent::enroll_token(&h, "city-hall").await;
    approved_lpr(&h, "rtsp://127.0.0.1:8554/lpr").await;
    camera(&h, &h.admin, "lpr-1", "activate").await.unwrap();
    file_window(&h, "2026-10-05T14:00:00Z", "2026-10-05T14:59:00Z").await;

    // Marked on Nov 10.
    clock.set("2026-11-10T15:00:00Z".parse().unwrap());
    relogin(&mut h).await;
    let lpr = camplane_testkit::agent::LPR.replace("RTSP_URL", "rtsp://127.0.0.1:8554/lpr");
    // Side door: the flag alone is refused, naming both fields, and audited.
    let bare = format!("{lpr}  confidential: true\n");
    let e = apply(&h, &h.admin, &bare).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().contains("spec.confidential_reason")
            && e.message().contains("spec.confidential_basis"),
        "{}",
        e.message()
    );
    let unlisted = format!(
        "{lpr}  confidential: true\n  confidential_reason: task force site\n  confidential_basis: we-said-so\n"
    );
    let e = apply(&h, &h.admin, &unlisted).await.unwrap_err();
    assert!(e.message().contains("iowa-code-22.7"), "{}", e.message());
    let refused = entries_of(&audit_log(&h).await, "reader.confidential");
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(refused
        .iter()
        .all(|e| e["result"].as_str().unwrap().starts_with("refused")));
    // The marking is the Police Department's determination (policy 5.05):
    // Information Services' is refused, audited; the chief's, with a reason and
    // a listed basis, is made, audited. The chief changes nothing else.
    let marked = format!(
        "{lpr}  confidential: true\n  confidential_reason: Iowa DCI task force site\n  confidential_basis: iowa-code-22.7\n"
    );
    let e = apply(&h, &h.admin, &marked).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("Police Department"), "{e:?}");
    let chief = login(&h.channel, "chief", &user_password("chief"))
        .await
        .unwrap();
    // The camera's document alone (the request is not the chief's to apply).
    let camera_doc = marked.rsplit("---\n").next().unwrap().to_string();
    let elsewhere = camera_doc.replace("42.5011", "42.6011");
    assert_ne!(elsewhere, camera_doc);
    let e = apply(&h, &chief, &elsewhere).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("changes only"), "{e:?}");
    apply(&h, &chief, &camera_doc).await.unwrap();
    let entries = entries_of(&audit_log(&h).await, "reader.confidential");
    assert!(entries
        .iter()
        .any(|e| e["actor"] == "admin" && e["result"].as_str().unwrap().starts_with("denied")));
    let ok = entries.last().unwrap();
    assert_eq!(ok["actor"], "chief");
    assert_eq!(ok["details"]["confidential"]["basis"], "iowa-code-22.7");
    assert_eq!(
        ok["details"]["confidential"]["reason"],
        "Iowa DCI task force site"
    );
    file_window(&h, "2026-12-05T14:00:00Z", "2026-12-05T14:59:00Z").await;

    clock.set("2027-01-02T15:00:00Z".parse().unwrap());
    relogin(&mut h).await;
    // October, before the marking: shown by name, with its place.
    let (oct, _) = month_log(&h, "2026-10").await;
    assert_eq!(oct["readers"][0]["reader"], "lpr-1", "{oct}");
    assert_eq!(oct["readers"][0]["locations"].as_array().unwrap().len(), 1);
    assert_eq!(oct["location_history"][0]["reader"], "lpr-1");
    // December, after it: hidden.
    let (dec, all) = month_log(&h, "2026-12").await;
    assert_eq!(
        dec["readers"][0]["reader"], "confidential reader 1",
        "{dec}"
    );
    assert!(dec["location_history"].as_array().unwrap().is_empty());
    assert!(!all.contains("lpr-1") && !all.contains("42.5011"), "{all}");
}
