//! The controller end to end over gRPC: approvals, roles, the activation gate,
//! temporary cameras, bad input, the audit chain, a corrupted store.

use camplane_controller::clock::ManualClock;
use camplane_controller::store::{Op, Store};
use camplane_proto::v1 as pb;
use camplane_testkit::controller::*;
use std::sync::Arc;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_chain_gates_activation() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("CAMPLANE_TEST_NO_SUCH_VAR", ADMIN_PW);
    let h = start(config_embedded(dir.path()), None).await;
    let r = apply(&h, &h.admin, CITY).await.unwrap();
    assert!(r.iter().all(|a| a.action == "created"), "{r:?}");
    // Idempotent: the same file again changes nothing.
    let r = apply(&h, &h.admin, CITY).await.unwrap();
    assert!(r.iter().all(|a| a.action == "unchanged"), "{r:?}");

    let mgr = user(&h, "pd-manager", &["dept_manager"], "police").await;
    let parks_mgr = user(&h, "parks-manager", &["dept_manager"], "parks").await;
    let chief = user(&h, "chief", &["chief"], "police").await;
    let cm = user(&h, "city-manager", &["city_manager"], "city-manager").await;

    // No activation before approval.
    let e = camera(&h, &h.admin, "cam-1", "activate").await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");

    // Out of order: the City Manager cannot approve a request still at the department.
    let e = act(&h, &cm, "req-1", "approve", "", "").await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    // Wrong role: the chief cannot take the department manager's step.
    let e = act(&h, &chief, "req-1", "recommend", "", "")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    // Wrong department's manager.
    let e = act(&h, &parks_mgr, "req-1", "recommend", "", "")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    // Nor can that manager take the request over by rewriting it as their own
    // department's (and then recommend it): refused, audited, the spec kept.
    let taken = "kind: PlacementRequest\nname: req-1\nspec:\n  location: {lat: 42.5006, lon: -90.6646}\n  purpose: property_protection\n  justification: parks needs it\n  funding_source: general fund\n  department: parks\n  kind: fixed\n  camera: cam-1\n";
    let e = apply(&h, &parks_mgr, taken).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("own department"), "{e:?}");
    assert!(audit_log(&h)
        .await
        .iter()
        .any(|e| e["action"] == "apply PlacementRequest"
            && e["actor"] == "parks-manager"
            && e["result"]
                .as_str()
                .is_some_and(|r| r.starts_with("denied") && r.contains("own department"))));
    let st = get_json(&h, &h.admin, "requests", "req-1").await.unwrap();
    assert_eq!(
        st["status"]["state"], "submitted",
        "state unchanged after refusals"
    );
    assert_eq!(st["spec"]["department"], "police");

    act(&h, &mgr, "req-1", "recommend", "", "needed")
        .await
        .unwrap();
    // Repeating a step is refused.
    let e = act(&h, &mgr, "req-1", "recommend", "", "again")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    act(&h, &chief, "req-1", "recommend", "", "supports")
        .await
        .unwrap();
    // Information Services may add its review too, once.
    act(&h, &h.admin, "req-1", "recommend", "admin", "network ok")
        .await
        .unwrap();
    let e = act(&h, &h.admin, "req-1", "recommend", "admin", "twice")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    // A denial needs a reason.
    let e = act(&h, &cm, "req-1", "deny", "", "").await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    // Placement fails closed: with no streets layer the verdict is cannot_check,
    // and the City Manager's approval is refused (and audited) until the layer
    // is loaded or the chief or an engineer overrides with a justification.
    let st = get_json(&h, &h.admin, "requests", "req-1").await.unwrap();
    assert_eq!(st["status"]["verdict"]["answer"]["verdict"], "cannot_check");
    let e = act(&h, &cm, "req-1", "approve", "", "approved")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(
        e.message().contains("cannot_check") && e.message().contains("gis load"),
        "{e:?}"
    );
    assert!(audit_log(&h)
        .await
        .iter()
        .any(|e| e["action"] == "request.approve"
            && e["result"]
                .as_str()
                .is_some_and(|r| r.starts_with("refused") && r.contains("cannot_check"))));
    override_unchecked(&h, &chief, "req-1").await;
    let v = act(&h, &cm, "req-1", "approve", "", "approved")
        .await
        .unwrap();
    assert_eq!(v["status"]["state"], "approved");
    let steps = v["status"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 5);
    assert_eq!(steps[0]["actor"], "pd-manager");
    assert_eq!(steps[3]["action"], "override");
    assert_eq!(steps[4]["role"], "city_manager");
    // Decided requests take no more steps.
    assert_eq!(
        act(&h, &cm, "req-1", "deny", "", "x")
            .await
            .unwrap_err()
            .code(),
        Code::FailedPrecondition
    );

    // The camera moved to approved and can now be activated, by an admin only.
    let cam = get_json(&h, &h.admin, "cameras", "cam-1").await.unwrap();
    assert_eq!(cam["status"]["state"], "approved");
    assert_eq!(
        camera(&h, &chief, "cam-1", "activate")
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    let cam = camera(&h, &h.admin, "cam-1", "activate").await.unwrap();
    assert_eq!(cam["status"]["state"], "active");
    // An active camera cannot be deleted.
    let e = camplane_proto::v1::objects_client::ObjectsClient::new(h.channel.clone())
        .delete(req(
            &h.admin,
            camplane_proto::v1::DeleteRequest {
                kind: "Camera".into(),
                name: "cam-1".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);

    // Every step is in the audit log, and the chain verifies.
    let v = verify(&h).await;
    assert!(v.ok, "{}", v.message);
    assert!(v.entries > 15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_camera_leaves_active_at_its_end() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("CAMPLANE_TEST_NO_SUCH_VAR", ADMIN_PW);
    let clock = ManualClock::new("2027-07-04T20:00:00Z".parse().unwrap());
    let h = start(config_embedded(dir.path()), Some(Arc::new(clock.clone()))).await;
    let temp = CITY
        .replace("  kind: fixed\n  camera: cam-1", "  kind: temporary\n  camera: cam-1\n  temporary: {event: fireworks, from: \"2027-07-04T16:00:00Z\", until: \"2027-07-05T02:00:00Z\"}")
        .replace("  kind: fixed\n  purpose", "  kind: temporary\n  purpose")
        .replace("  placement_request: req-1", "  placement_request: req-1\n  special_event: {event: fireworks, from: \"2027-07-04T16:00:00Z\", until: \"2027-07-05T02:00:00Z\"}");
    apply(&h, &h.admin, &temp).await.unwrap();
    let mgr = user(&h, "m", &["dept_manager"], "police").await;
    let chief = user(&h, "c", &["chief"], "police").await;
    let cm = user(&h, "cm", &["city_manager"], "").await;
    act(&h, &mgr, "req-1", "recommend", "", "").await.unwrap();
    act(&h, &chief, "req-1", "recommend", "", "").await.unwrap();
    override_unchecked(&h, &chief, "req-1").await;
    act(&h, &cm, "req-1", "approve", "", "").await.unwrap();
    camera(&h, &h.admin, "cam-1", "activate").await.unwrap();
    h.running.controller.reconcile().await.unwrap();
    assert_eq!(
        get_json(&h, &h.admin, "cameras", "cam-1").await.unwrap()["status"]["state"],
        "active"
    );
    clock.set("2027-07-05T02:00:01Z".parse().unwrap());
    assert_eq!(h.running.controller.reconcile().await.unwrap(), 1);
    let cam = get_json(&h, &h.admin, "cameras", "cam-1").await.unwrap();
    assert_eq!(cam["status"]["state"], "suspended");
    assert!(cam["status"]["reason"]
        .as_str()
        .unwrap()
        .contains("fireworks"));
    // Outside its window it cannot be activated again.
    assert_eq!(
        camera(&h, &h.admin, "cam-1", "activate")
            .await
            .unwrap_err()
            .code(),
        Code::FailedPrecondition
    );
    // Idempotent: running again changes nothing.
    assert_eq!(h.running.controller.reconcile().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("CAMPLANE_TEST_NO_SUCH_VAR", ADMIN_PW);
    let h = start(config_embedded(dir.path()), None).await;
    // A camera whose site does not exist, beside valid objects: nothing is written.
    let bad = CITY.replace(
        "  site: city-hall\n  department: police\n  kind: fixed",
        "  site: no-such-site\n  department: police\n  kind: fixed",
    );
    let e = apply(&h, &h.admin, &bad).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("no-such-site"), "{}", e.message());
    let e = get_json(&h, &h.admin, "departments", "police")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "nothing was written");
    // Unknown fields sent over the wire are refused too.
    let objects = vec![camplane_proto::v1::Object {
        kind: "Site".into(),
        name: "x".into(),
        json: br#"{"lat": 1, "lon": 2, "colour": "red"}"#.to_vec(),
        revision: 0,
    }];
    let e = camplane_proto::v1::objects_client::ObjectsClient::new(h.channel.clone())
        .apply(req(
            &h.admin,
            camplane_proto::v1::ApplyRequest {
                objects,
                source: "wire".into(),
                dry_run: false,
            },
        ))
        .await
        .unwrap_err();
    assert!(e.message().contains("colour"), "{}", e.message());
    // Garbage JSON does not crash the server.
    let objects = vec![camplane_proto::v1::Object {
        kind: "Camera".into(),
        name: "y".into(),
        json: b"\xff\x00{".to_vec(),
        revision: 0,
    }];
    let e = camplane_proto::v1::objects_client::ObjectsClient::new(h.channel.clone())
        .apply(req(
            &h.admin,
            camplane_proto::v1::ApplyRequest {
                objects,
                source: "wire".into(),
                dry_run: false,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    // No token, a forged token, wrong password.
    let e = camplane_proto::v1::objects_client::ObjectsClient::new(h.channel.clone())
        .get(tonic::Request::new(camplane_proto::v1::GetRequest {
            kind: "cameras".into(),
            name: String::new(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    let e = get_json(&h, "cpt_forged", "cameras", "").await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert_eq!(
        login(&h.channel, "admin", "wrong")
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    assert!(verify(&h).await.ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_expire_by_the_injected_clock() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("CAMPLANE_TEST_NO_SUCH_VAR", ADMIN_PW);
    let clock = ManualClock::new("2026-11-01T08:00:00Z".parse().unwrap());
    let h = start(config_embedded(dir.path()), Some(Arc::new(clock.clone()))).await;
    assert!(get_json(&h, &h.admin, "users", "admin").await.is_ok());
    clock.advance(std::time::Duration::from_secs(8 * 3600 + 1));
    assert_eq!(
        get_json(&h, &h.admin, "users", "admin")
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_with_the_audit_log_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("CAMPLANE_TEST_NO_SUCH_VAR", ADMIN_PW);
    let h = start(config_embedded(dir.path()), None).await;
    apply(&h, &h.admin, CITY).await.unwrap();
    assert!(verify(&h).await.ok);
    let store = h.running.controller.store.clone();
    tamper_and_check(&h, &*store).await;
}

/// Edits entry 4, then removes entry 6, checking verify names each.
pub async fn tamper_and_check(h: &Harness, store: &dyn Store) {
    let key = camplane_controller::audit::entry_key(4);
    let kv = store.get(&key).await.unwrap().unwrap();
    let orig = kv.value.to_vec();
    let edited = String::from_utf8(orig.clone())
        .unwrap()
        .replace("\"admin\"", "\"mallory\"");
    store.put(&key, edited.into_bytes()).await.unwrap();
    let v = verify(h).await;
    assert!(!v.ok);
    assert_eq!(v.first_broken_seq, 4, "{}", v.message);
    store.put(&key, orig).await.unwrap();
    assert!(verify(h).await.ok);
    store
        .txn(
            vec![],
            vec![Op::Delete(camplane_controller::audit::entry_key(6))],
        )
        .await
        .unwrap();
    let v = verify(h).await;
    assert!(!v.ok);
    assert_eq!(v.first_broken_seq, 6, "{}", v.message);
}

/// An entry stored past the head, outside any transaction that moved it, is
/// not the chain's: named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_added_past_the_head_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("CAMPLANE_TEST_NO_SUCH_VAR", ADMIN_PW);
    let h = start(config_embedded(dir.path()), None).await;
    apply(&h, &h.admin, CITY).await.unwrap();
    let v = verify(&h).await;
    assert!(v.ok, "{}", v.message);
    let store = h.running.controller.store.clone();
    let last = store.list("audit/entries/").await.unwrap().kvs.len() as u64;
    let copy = store
        .get(&camplane_controller::audit::entry_key(last))
        .await
        .unwrap()
        .unwrap();
    store
        .put(
            &camplane_controller::audit::entry_key(last + 1),
            copy.value.to_vec(),
        )
        .await
        .unwrap();
    let v = verify(&h).await;
    assert!(!v.ok);
    assert!(v.message.contains("outside the chain"), "{}", v.message);
}

/// `audit verify` while the log grows: entries committed while it reads are
/// not taken for removed ones (the head is read before the entries).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_while_entries_are_written_finds_no_false_break() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("CAMPLANE_TEST_NO_SUCH_VAR", ADMIN_PW);
    let h = start(config_embedded(dir.path()), None).await;
    apply(&h, &h.admin, CITY).await.unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let writer = {
        let (channel, admin, stop) = (h.channel.clone(), h.admin.clone(), stop.clone());
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.is_cancelled() {
                i += 1;
                let doc =
                    format!("kind: Department\nname: parks\nspec: {{display_name: Parks {i}}}\n");
                apply_on(&channel, &admin, &doc).await.unwrap();
            }
            i
        })
    };
    for _ in 0..40 {
        let v = verify(&h).await;
        assert!(v.ok, "{}", v.message);
    }
    stop.cancel();
    assert!(writer.await.unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_store_file_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("CAMPLANE_TEST_NO_SUCH_VAR", ADMIN_PW);
    {
        let h = start(config_embedded(dir.path()), None).await;
        apply(&h, &h.admin, CITY).await.unwrap();
        h.cancel.cancel();
        let _ = h.running.task.await;
        drop(h.running.controller);
    }
    // Give the store's writer thread time to close (its handle is dropped with the controller).
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let data = dir.path().join("data");
    let mut bytes = std::fs::read(&data).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&data, &bytes).unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    let err = camplane_controller::server::start(config_embedded(dir.path()), cancel)
        .await
        .err()
        .expect("refuses");
    let msg = err.to_string();
    assert!(
        msg.contains("damaged at byte") && msg.contains(&data.display().to_string()),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_changes_keep_one_intact_chain() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("CAMPLANE_TEST_NO_SUCH_VAR", ADMIN_PW);
    let h = Arc::new(start(config_embedded(dir.path()), None).await);
    apply(&h, &h.admin, CITY).await.unwrap();
    let before = verify(&h).await.entries;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            // Distinct cameras (grouped into shared transactions) and the same
            // camera from many clients (must serialize, no lost update).
            let own = CITY
                .split("---")
                .last()
                .unwrap()
                .replace("name: cam-1", &format!("name: cam-x{i}"))
                .replace("  placement_request: req-1\n", "");
            apply(&h, &h.admin, &own).await.unwrap();
            let same = CITY
                .split("---")
                .last()
                .unwrap()
                .replace("cam1\"}", &format!("cam1-{i}\"}}"));
            apply(&h, &h.admin, &same).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let v = verify(&h).await;
    assert!(v.ok, "{}", v.message);
    assert_eq!(v.entries, before + 80, "one entry per change");
}

/// Separation of duties over gRPC: an admin cannot grant itself a role or set
/// its own training; a user holding the department manager's and the chief's
/// roles cannot take two steps of one request. Each refusal is audited, and
/// the legitimate path (another person, another admin's edit) still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separation_of_duties() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("CAMPLANE_TEST_NO_SUCH_VAR", ADMIN_PW);
    let h = start(config_embedded(dir.path()), None).await;
    apply(&h, &h.admin, CITY).await.unwrap();
    let admin_name = h.running.controller.config.auth.initial_admin.clone();
    let grant = |token: String, who: String, role: &'static str| {
        let ch = h.channel.clone();
        async move {
            pb::users_client::UsersClient::new(ch)
                .grant(req(
                    &token,
                    pb::GrantRequest {
                        username: who,
                        roles: vec![role.into()],
                        revoke: false,
                    },
                ))
                .await
        }
    };
    let e = grant(h.admin.clone(), admin_name.clone(), "chief")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("their own roles"), "{e:?}");
    // Its own training and certification: refused, naming the fields.
    let own = format!(
        "kind: User\nname: {admin_name}\nspec:\n  department: information-services\n  roles: [admin]\n  trained_at: 2026-01-05T00:00:00Z\n  certified_until: 2099-01-01T00:00:00Z\n"
    );
    let e = apply(&h, &h.admin, &own).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("trained_at"), "{e:?}");

    // Someone else's roles are the admin's job.
    let both = user(&h, "pd-both", &["dept_manager"], "police").await;
    let asked = grant(h.admin.clone(), "pd-both".into(), "chief")
        .await
        .unwrap()
        .into_inner();
    // A governing role: the city manager confirms the admin's grant.
    confirm_grants(&h.channel, &asked.pending_grants, &h.deciders(&[]).await).await;
    let cm = user(&h, "city-manager", &["city_manager"], "city-manager").await;
    let chief = user(&h, "chief", &["chief"], "police").await;
    act(&h, &both, "req-1", "recommend", "dept_manager", "needed")
        .await
        .unwrap();
    let e = act(&h, &both, "req-1", "recommend", "chief", "supports too")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("different person"), "{e:?}");
    act(&h, &chief, "req-1", "recommend", "", "supports")
        .await
        .unwrap();
    override_unchecked(&h, &chief, "req-1").await;
    act(&h, &cm, "req-1", "approve", "", "approved")
        .await
        .unwrap();

    let log = audit_log(&h).await;
    let denied = |action: &str, needle: &str| audited_denial(&log, action, needle);
    assert!(
        denied("user.grant", "their own roles"),
        "self-grant audited"
    );
    assert!(denied("apply User", "trained_at"), "self-edit audited");
    assert!(
        denied("request.recommend", "different person"),
        "second step audited"
    );
}

/// An approval binds the camera: a camera moved 100 m, turned to ALPR, or made
/// covert after approval is refused at activation and as an edit of the active
/// camera, naming every field that differs; the refusals are audited, and the
/// camera as approved activates and takes a harmless edit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_binds_the_camera() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("CAMPLANE_TEST_NO_SUCH_VAR", ADMIN_PW);
    let h = start(config_embedded(dir.path()), None).await;
    apply(&h, &h.admin, CITY).await.unwrap();
    let mgr = user(&h, "pd-manager", &["dept_manager"], "police").await;
    let chief = user(&h, "chief", &["chief"], "police").await;
    let cm = user(&h, "city-manager", &["city_manager"], "city-manager").await;
    let cam1 = CITY.split("---").last().unwrap();
    // Registered about 111 m north of where its request places it.
    let moved = cam1.replace(
        "location: {lat: 42.5006, lon: -90.6646}",
        "location: {lat: 42.5016, lon: -90.6646}",
    );
    apply(&h, &h.admin, &moved).await.unwrap();
    override_unchecked(&h, &chief, "req-1").await;
    for (who, step) in [(&mgr, "recommend"), (&chief, "recommend"), (&cm, "approve")] {
        act(&h, who, "req-1", step, "", "ok").await.unwrap();
    }
    let st = get_json(&h, &h.admin, "cameras", "cam-1").await.unwrap();
    assert_eq!(
        st["status"]["state"], "proposed",
        "the approval did not cover it"
    );
    let e = camera(&h, &h.admin, "cam-1", "activate").await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("location: 111"), "{e:?}");
    // Back where it was approved: it activates.
    apply(&h, &h.admin, cam1).await.unwrap();
    camera(&h, &h.admin, "cam-1", "activate").await.unwrap();
    // An edit of the active camera is checked again, every field named.
    let side_door = cam1.replace(
        "  placement_request: req-1",
        "  placement_request: req-1\n  alpr: true\n  covert: true",
    );
    let e = apply(&h, &h.admin, &side_door).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    for f in ["alpr:", "covert:"] {
        assert!(e.message().contains(f), "{f} not named: {e:?}");
    }
    let st = get_json(&h, &h.admin, "cameras", "cam-1").await.unwrap();
    assert_eq!(
        st["spec"]["alpr"],
        serde_json::Value::Null,
        "nothing stored"
    );
    // A harmless edit (the recording switch) still goes through.
    let harmless = cam1.replace(
        "  placement_request: req-1",
        "  placement_request: req-1\n  recording: false",
    );
    apply(&h, &h.admin, &harmless).await.unwrap();
    // A privacy mask may be added to the active camera, never taken away or
    // redrawn by an edit (a new request does that; the chief lifts one for a
    // view); nor may the camera move to another department.
    let masked = format!(
        "{harmless}  privacy_masks:\n  - name: window\n    polygon: [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5]]\n"
    );
    apply(&h, &h.admin, &masked).await.unwrap();
    let e = apply(&h, &h.admin, &harmless).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("privacy_masks.0"), "{e:?}");
    let redrawn = masked.replace("[0.5, 0.5]]", "[0.1, 0.1]]");
    assert!(
        apply(&h, &h.admin, &redrawn).await.is_err(),
        "redrawn smaller"
    );
    let parks = masked.replace("department: police", "department: parks");
    let e = apply(&h, &h.admin, &parks).await.unwrap_err();
    assert!(e.message().contains("department:"), "{e:?}");
    let st = get_json(&h, &h.admin, "cameras", "cam-1").await.unwrap();
    assert_eq!(
        st["spec"]["privacy_masks"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(st["spec"]["department"], "police");
    let log = audit_log(&h).await;
    let denied = |action: &str, needle: &str| audited_denial(&log, action, needle);
    assert!(
        denied("apply Camera", "privacy_masks.0"),
        "mask removal refusal audited"
    );
    assert!(
        denied("camera.activate", "location"),
        "activation refusal audited"
    );
    assert!(denied("apply Camera", "alpr"), "edit refusal audited");
}

/// Whether the log holds a refusal of `action` whose result mentions `needle`.
fn audited_denial(log: &[serde_json::Value], action: &str, needle: &str) -> bool {
    log.iter().any(|e| {
        e["action"] == action
            && e["result"]
                .as_str()
                .is_some_and(|r| r.starts_with("denied") && r.contains(needle))
    })
}

/// Camera credentials are secrets: a stream address with a password in it is
/// refused by apply (naming the command to use); only Information Services sets
/// them (a viewer is refused, audited); they are stored sealed, never shown by
/// `get` or written to the audit log, and go only into the address the camera's
/// agent is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn camera_credentials_stay_secret() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("CAMPLANE_TEST_NO_SUCH_VAR", ADMIN_PW);
    let h = start(config_embedded(dir.path()), None).await;
    apply(&h, &h.admin, CITY).await.unwrap();
    let secret = "Zq7-unguessable-camera-pw";
    let cam1 = CITY.split("---").last().unwrap();
    let with_pw = cam1.replace(
        "rtsp://127.0.0.1:8554/cam1",
        &format!("rtsp://svc:{secret}@127.0.0.1:8554/cam1"),
    );
    let e = camplane_config::manifest::parse("c.yaml", &with_pw).unwrap_err();
    assert!(
        e.to_string().contains("camplane camera credentials set"),
        "{e}"
    );
    let set = |token: String, password: &str| {
        let ch = h.channel.clone();
        let password = password.to_string();
        async move {
            pb::cameras_client::CamerasClient::new(ch)
                .set_credentials(req(
                    &token,
                    pb::CameraCredentialsRequest {
                        camera: "cam-1".into(),
                        username: "svc".into(),
                        password,
                    },
                ))
                .await
        }
    };
    let viewer = user(&h, "clerk", &["viewer"], "police").await;
    let e = set(viewer, secret).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let e = set(h.admin.clone(), "").await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    set(h.admin.clone(), secret).await.unwrap();

    let ctl = &h.running.controller;
    let (main, _) = ctl.agent_stream_urls("cam-1", "rtsp://127.0.0.1:8554/cam1", None);
    assert_eq!(main, format!("rtsp://svc:{secret}@127.0.0.1:8554/cam1"));
    let shown = get_json(&h, &h.admin, "cameras", "cam-1").await.unwrap();
    assert_eq!(
        shown["spec"]["streams"]["main"],
        "rtsp://127.0.0.1:8554/cam1"
    );
    let log = audit_log(&h).await;
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains(secret), "the audit log holds no credential");
    assert!(log.iter().any(|e| e["action"] == "camera.credentials_set"
        && e["result"]
            .as_str()
            .is_some_and(|r| r.starts_with("denied"))));
    assert!(log
        .iter()
        .any(|e| e["action"] == "camera.credentials_set" && e["result"] == "ok"));
    let stored = ctl
        .store
        .get("meta/camera-credentials/cam-1")
        .await
        .unwrap()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&stored.value).contains(secret),
        "sealed at rest"
    );
}

/// The roles of the users' record now.
async fn roles_of(h: &Harness, name: &str) -> Vec<String> {
    let u = get_json(h, &h.admin, "User", name).await.unwrap();
    u["spec"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect()
}

/// `user grant` / `user grants …` over gRPC as `token`: the pending grants asked.
async fn ask(
    h: &Harness,
    token: &str,
    who: &str,
    role: &str,
) -> Result<Vec<pb::RoleGrant>, tonic::Status> {
    Ok(pb::users_client::UsersClient::new(h.channel.clone())
        .grant(req(
            token,
            pb::GrantRequest {
                username: who.into(),
                roles: vec![role.into()],
                revoke: false,
            },
        ))
        .await?
        .into_inner()
        .pending_grants)
}

/// Governing roles take two people: an admin's grant of chief, auditor or admin
/// (and `user add` with one) only asks; the city manager from the config
/// confirms or rejects; a grant of city_manager is confirmed by a second admin.
/// Every side door (the asker confirming, the admin's apply, the wrong decider,
/// twice, a user deleted meanwhile) is refused and audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn governing_roles_take_two_people() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    let ch = h.channel.clone();
    let cm = h
        .city_manager
        .clone()
        .expect("the first city manager from the config");
    assert_eq!(roles_of(&h, FIRST_CITY_MANAGER).await, ["city_manager"]);
    let v = user(&h, "vera", &["viewer"], "police").await;

    // The admin asks: pending, not held; listed for the city manager.
    let asked = ask(&h, &h.admin, "vera", "chief").await.unwrap();
    assert_eq!(asked.len(), 1);
    let id = asked[0].id.clone();
    assert!(id.starts_with("rg-"), "{id}");
    assert_eq!(roles_of(&h, "vera").await, ["viewer"]);
    let listed = pb::users_client::UsersClient::new(ch.clone())
        .list_grants(req(&cm, pb::Empty {}))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.grants.iter().any(|g| g.id == id));
    // Side doors: the asker confirms; the user confirms their own; the
    // admin's apply adds the role; a viewer lists.
    let e = decide_grant(&ch, &h.admin, &id, true, "")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let e = decide_grant(&ch, &v, &id, true, "").await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let e = apply(
        &h,
        &h.admin,
        "kind: User\nname: vera\nspec:\n  department: police\n  roles: [chief, viewer]\n",
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("two people"), "{e:?}");
    assert_eq!(roles_of(&h, "vera").await, ["viewer"]);
    // Nor does a city manager decide a grant of their own.
    let own = ask(&h, &h.admin, FIRST_CITY_MANAGER, "chief")
        .await
        .unwrap();
    let e = decide_grant(&ch, &cm, &own[0].id, true, "")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    // The city manager confirms: held, once.
    let g = decide_grant(&ch, &cm, &id, true, "").await.unwrap();
    assert_eq!(g["state"], "confirmed");
    assert_eq!(roles_of(&h, "vera").await, ["chief", "viewer"]);
    let e = decide_grant(&ch, &cm, &id, true, "").await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");

    // `user add` with a governing role: added without it, one grant pending;
    // the city manager rejects it with a reason.
    let added = pb::users_client::UsersClient::new(ch.clone())
        .add(req(
            &h.admin,
            pb::AddUserRequest {
                json: serde_json::to_vec(&serde_json::json!({"name": "aldo", "spec": {"roles": ["auditor", "viewer"], "department": "city"}})).unwrap(),
                password: "aldo-one-time-123".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(added.pending_grants.len(), 1);
    assert_eq!(roles_of(&h, "aldo").await, ["viewer"]);
    let rid = added.pending_grants[0].id.clone();
    let e = decide_grant(&ch, &cm, &rid, false, "").await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let g = decide_grant(&ch, &cm, &rid, false, "no audit duties")
        .await
        .unwrap();
    assert_eq!(g["state"], "rejected");
    assert_eq!(roles_of(&h, "aldo").await, ["viewer"]);

    // A grant to a user deleted meanwhile is refused.
    let gone = ask(&h, &h.admin, "aldo", "chief").await.unwrap();
    pb::objects_client::ObjectsClient::new(ch.clone())
        .delete(req(
            &h.admin,
            pb::DeleteRequest {
                kind: "User".into(),
                name: "aldo".into(),
            },
        ))
        .await
        .unwrap();
    let e = decide_grant(&ch, &cm, &gone[0].id, true, "")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("deleted"), "{e:?}");

    // city_manager: not the city manager's to confirm; a second admin does.
    let cmg = ask(&h, &h.admin, "vera", "city_manager").await.unwrap();
    let e = decide_grant(&ch, &cm, &cmg[0].id, true, "")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    // Not by the admin who asked for it either: a second admin.
    let e = decide_grant(&ch, &h.admin, &cmg[0].id, true, "")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("second person"), "{e:?}");
    let second = h.second_admin().await;
    decide_grant(&ch, &second, &cmg[0].id, true, "")
        .await
        .unwrap();
    assert_eq!(
        roles_of(&h, "vera").await,
        ["chief", "city_manager", "viewer"]
    );

    let log = audit_log(&h).await;
    let count = |a: &str| log.iter().filter(|e| e["action"] == a).count();
    // vera's chief, first-cm's chief, aldo's auditor and chief, vera's
    // city_manager, the second admin's admin.
    assert_eq!(count("user.grant.request"), 6);
    assert!(count("user.grant.confirm") >= 3);
    assert!(count("user.grant.reject") >= 1);
    assert!(audited_denial(&log, "user.grant.confirm", "second person"));
    assert!(audited_denial(&log, "user.grant.confirm", "their own"));
    assert!(audited_denial(&log, "user.grant.confirm", "decided by"));
    assert!(audited_denial(&log, "apply User", "two people"));
    assert!(log.iter().any(|e| e["action"] == "user.grant.confirm"
        && e["result"].as_str().unwrap().contains("deleted")));
    h.cancel.cancel();
}

/// Users acknowledge the policy themselves: shown its version and SHA-256,
/// with their own password again; recorded on their own record. An admin's
/// apply of anyone's policy_version is refused (audited), as is a wrong password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_acknowledge_the_policy_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    let op = user(&h, "op", &["alpr_operator"], "police").await;
    let policy = h.running.controller.config.city.policy_version.clone();
    // The side door: the admin sets it. Refused, audited, nothing recorded.
    let e = apply(
        &h,
        &h.admin,
        &format!("kind: User\nname: op\nspec:\n  department: police\n  roles: [alpr_operator]\n  policy_version: \"{policy}\"\n"),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("policy acknowledge"), "{e:?}");
    // A wrong password: refused, counted as a failed sign-in.
    let e = acknowledge_policy(&h.channel, &op, "not-the-password")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    let u = get_json(&h, &h.admin, "User", "op").await.unwrap();
    assert!(u["status"]["acknowledged_at"].is_null(), "{u}");
    // What was shown must still be the policy.
    let e = pb::users_client::UsersClient::new(h.channel.clone())
        .acknowledge_policy(req(
            &op,
            pb::AcknowledgePolicyRequest {
                password: user_password("op"),
                version: policy.clone(),
                sha256: "0".repeat(64),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    // The legitimate path.
    let text = std::fs::read(policy_file()).unwrap();
    let p = acknowledge_policy(&h.channel, &op, &user_password("op"))
        .await
        .unwrap();
    assert_eq!(p.version, policy);
    assert_eq!(
        p.sha256,
        camplane_controller::core::auth::policy_sha256(&text)
    );
    let u = get_json(&h, &h.admin, "User", "op").await.unwrap();
    assert_eq!(u["status"]["policy_version"], policy.as_str());
    assert_eq!(u["status"]["policy_sha256"], p.sha256.as_str());
    assert!(u["status"]["acknowledged_at"].is_string(), "{u}");
    let log = audit_log(&h).await;
    assert!(audited_denial(&log, "apply User", "policy acknowledge"));
    assert!(log.iter().any(|e| e["action"] == "login_failed"
        && e["result"].as_str().unwrap().contains("policy acknowledge")));
    assert!(log.iter().any(|e| e["action"] == "policy.acknowledge"
        && e["actor"] == "op"
        && e["result"].as_str().unwrap().starts_with("refused")));
    let acks: Vec<_> = log
        .iter()
        .filter(|e| e["action"] == "policy.acknowledge" && e["result"] == "ok")
        .collect();
    assert_eq!(acks.len(), 1, "{acks:#?}");
    assert_eq!(acks[0]["actor"], "op");
    assert_eq!(acks[0]["details"]["sha256"], p.sha256.as_str());
    h.cancel.cancel();
}

/// Without `auth.initial_city_manager` a new store has no city manager: a
/// governing grant stays pending, and its audit entry says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_first_city_manager_governing_grants_stay_pending() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config_embedded(dir.path());
    c.auth.initial_city_manager = None;
    let h = start(c, None).await;
    assert!(h.city_manager.is_none());
    user(&h, "vera", &["viewer"], "police").await;
    let asked = ask(&h, &h.admin, "vera", "chief").await.unwrap();
    assert_eq!(asked.len(), 1);
    assert_eq!(roles_of(&h, "vera").await, ["viewer"]);
    let log = audit_log(&h).await;
    let e = log
        .iter()
        .find(|e| e["action"] == "user.grant.request")
        .unwrap();
    assert!(
        e["result"]
            .as_str()
            .unwrap()
            .contains("no city manager yet"),
        "{e}"
    );
    h.cancel.cancel();
}

/// Where a covert camera is: every reply that carries its request or camera goes
/// through the reader's view, so the department manager who recommends it, the
/// city manager who approves it and an engineer read no location, site or view
/// in `get`, `requests show` or the reply to their own step; the chief, admins
/// and auditors do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn covert_locations_are_shown_to_few() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    let city = CITY
        .replace(
            "  purpose: property_protection\n  justification: break-ins at the back door",
            "  purpose: criminal_investigation\n  covert: true\n  justification: a case needs it",
        )
        .replace(
            "  purpose: property_protection\n  location: {lat: 42.5006, lon: -90.6646}\n  streams",
            "  purpose: criminal_investigation\n  covert: true\n  location: {lat: 42.5006, lon: -90.6646}\n  streams",
        );
    assert_eq!(city.matches("covert: true").count(), 2, "{city}");
    apply(&h, &h.admin, &city).await.unwrap();
    let mgr = user(&h, "pd-manager", &["dept_manager"], "police").await;
    let eng = user(&h, "eng", &["engineer"], "public-works").await;
    let chief = user(&h, "chief", &["chief"], "police").await;
    let hidden = |o: &serde_json::Value| {
        o["spec"].get("location").is_none()
            && o["spec"].get("site").is_none()
            && o["status"]["location_hidden"].is_string()
    };
    // The reply to the manager's own step.
    let r = act(&h, &mgr, "req-1", "recommend", "", "needed")
        .await
        .unwrap();
    assert!(hidden(&r), "{r}");
    for who in [&mgr, &eng] {
        for (kind, name) in [("requests", "req-1"), ("cameras", "cam-1")] {
            let o = get_json(&h, who, kind, name).await.unwrap();
            assert!(hidden(&o), "{kind} {o}");
        }
    }
    let r = act(&h, &chief, "req-1", "recommend", "", "supports")
        .await
        .unwrap();
    assert_eq!(r["spec"]["location"]["lat"], 42.5006, "the chief sees it");
    for who in [&chief, &h.admin] {
        let o = get_json(&h, who, "cameras", "cam-1").await.unwrap();
        assert_eq!(o["spec"]["site"], "city-hall");
    }
    h.cancel.cancel();
}
