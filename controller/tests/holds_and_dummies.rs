//! Legal holds (who may place them, the case-number format, pushed to agents;
//! they end only by their release, never by the generic delete) and the 7-day
//! dummy-camera rule, on an injected clock.

use camplane_controller::clock::ManualClock;
use camplane_proto::v1 as pb;
use camplane_testkit::controller::*;
use std::sync::Arc;
use tonic::Code;

async fn hold(
    h: &Harness,
    token: &str,
    case: &str,
    reason: &str,
) -> Result<serde_json::Value, tonic::Status> {
    let spec = serde_json::json!({"case_number": case, "cameras": ["cam-1"], "from": "2026-10-01T00:00:00Z", "until": "2026-10-02T00:00:00Z", "reason": reason});
    let o = pb::holds_client::HoldsClient::new(h.channel.clone())
        .create(req(
            token,
            pb::SubmitRequest {
                json: serde_json::to_vec(&spec).unwrap(),
            },
        ))
        .await?
        .into_inner();
    Ok(serde_json::from_slice(&o.json).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_need_the_right_role_and_case_number_and_reach_agents() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("CAMPLANE_TEST_NO_SUCH_VAR", ADMIN_PW);
    let h = start(config_embedded(dir.path()), None).await;
    apply(&h, &h.admin, CITY).await.unwrap();
    let chief = user(&h, "chief", &["chief"], "police").await;
    let cm = user(&h, "cm", &["city_manager"], "").await;
    let op = user(&h, "op", &["alpr_operator"], "police").await;
    assert_eq!(
        hold(&h, &op, "24-01234", "court").await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert_eq!(
        hold(&h, &cm, "24-01234", "court").await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert_eq!(
        hold(&h, &chief, "24-01234", "city_manager_approved")
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    for bad in ["", "1234", "24-01234; DROP TABLE", &"9".repeat(10_000)] {
        let e = hold(&h, &chief, bad, "court").await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{bad:.20}");
        assert!(
            e.message().len() < 400,
            "the refusal does not echo 10 kB back"
        );
    }
    let held = hold(&h, &chief, "24-01234", "criminal_investigation")
        .await
        .unwrap();
    hold(&h, &cm, "24-01235", "city_manager_approved")
        .await
        .unwrap();
    let name = held["name"].as_str().unwrap().to_string();
    // Holds cannot be applied as manifests (that would skip the role check).
    let m = "kind: LegalHold\nname: sneaky\nspec:\n  case_number: 24-00001\n  cameras: [cam-1]\n  from: 2026-10-01T00:00:00Z\n  until: 2026-10-02T00:00:00Z\n  reason: court\n";
    let e = apply(&h, &h.admin, m).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().contains("camplane hold create"),
        "{}",
        e.message()
    );
    assert_eq!(h.running.controller.active_holds().unwrap().len(), 2);
    // Released by the chief: no longer in force.
    assert_eq!(
        pb::holds_client::HoldsClient::new(h.channel.clone())
            .release(req(&cm, pb::HoldName { name: name.clone() }))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    pb::holds_client::HoldsClient::new(h.channel.clone())
        .release(req(&chief, pb::HoldName { name }))
        .await
        .unwrap();
    let active = h.running.controller.active_holds().unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].case_number, "24-01235");
    assert!(verify(&h).await.ok);
}

async fn delete_hold(h: &Harness, token: &str, name: &str) -> Result<(), tonic::Status> {
    pb::objects_client::ObjectsClient::new(h.channel.clone())
        .delete(req(
            token,
            pb::DeleteRequest {
                kind: "hold".into(),
                name: name.into(),
            },
        ))
        .await
        .map(|_| ())
}

/// `camplane delete hold NAME` is no way around the release: refused for the
/// admin (who may delete other objects) and the chief alike, in force or
/// released, audited, naming `camplane hold release`; the release still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_ends_only_by_its_release() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    apply(&h, &h.admin, CITY).await.unwrap();
    let chief = user(&h, "chief", &["chief"], "police").await;
    let held = hold(&h, &chief, "24-01234", "criminal_investigation")
        .await
        .unwrap();
    let name = held["name"].as_str().unwrap().to_string();
    let ctl = h.running.controller.clone();
    for who in [&h.admin, &chief] {
        let before = audit_log(&h).await.len();
        let e = delete_hold(&h, who, &name).await.unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
        assert!(
            e.message()
                .contains(&format!("camplane hold release {name}")),
            "{}",
            e.message()
        );
        let log = audit_log(&h).await;
        let new = &log[before..];
        assert_eq!(new.len(), 1, "{new:#?}");
        assert_eq!(new[0]["action"], "delete");
        assert_eq!(new[0]["name"], name.as_str());
        assert!(new[0]["result"].as_str().unwrap().starts_with("denied"));
        assert_eq!(ctl.active_holds().unwrap().len(), 1, "still in force");
    }
    // Nor does deleting its camera get round it (its holds reach the gateway
    // through the camera's record): refused while the hold is in force, audited.
    let delete_cam1 = || {
        let mut c = pb::objects_client::ObjectsClient::new(h.channel.clone());
        let r = req(
            &h.admin,
            pb::DeleteRequest {
                kind: "Camera".into(),
                name: "cam-1".into(),
            },
        );
        async move { c.delete(r).await }
    };
    let e = delete_cam1().await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("legal hold"), "{e:?}");
    assert!(audit_log(&h).await.iter().any(|e| e["action"] == "delete"
        && e["name"] == "cam-1"
        && e["result"].as_str().unwrap().starts_with("refused")));
    // The legitimate end: the chief releases it.
    pb::holds_client::HoldsClient::new(h.channel.clone())
        .release(req(&chief, pb::HoldName { name: name.clone() }))
        .await
        .unwrap();
    assert!(ctl.active_holds().unwrap().is_empty());
    // Released, its camera (not active) may go.
    delete_cam1().await.unwrap();
    // Released, it stays as the record of the hold.
    let e = delete_hold(&h, &h.admin, &name).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let rec = get_json(&h, &h.admin, "holds", &name).await.unwrap();
    assert_eq!(rec["status"]["released_by"], "chief");
    // A hold that does not exist is NotFound, as before.
    let e = delete_hold(&h, &h.admin, "no-such-hold").await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert!(verify(&h).await.ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_camera_without_video_for_7_days_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("CAMPLANE_TEST_NO_SUCH_VAR", ADMIN_PW);
    let clock = ManualClock::new("2026-11-01T00:00:00Z".parse().unwrap());
    let h = start(config_embedded(dir.path()), Some(Arc::new(clock.clone()))).await;
    apply(&h, &h.admin, CITY).await.unwrap();
    let mgr = user(&h, "m", &["dept_manager"], "police").await;
    let chief = user(&h, "c", &["chief"], "police").await;
    let cm = user(&h, "cm", &["city_manager"], "").await;
    act(&h, &mgr, "req-1", "recommend", "", "").await.unwrap();
    act(&h, &chief, "req-1", "recommend", "", "").await.unwrap();
    override_unchecked(&h, &chief, "req-1").await;
    act(&h, &cm, "req-1", "approve", "", "").await.unwrap();
    camera(&h, &h.admin, "cam-1", "activate").await.unwrap();
    let ctl = h.running.controller.clone();
    clock.advance(std::time::Duration::from_secs(6 * 86400));
    assert_eq!(ctl.flag_non_operational().await.unwrap(), 0);
    clock.advance(std::time::Duration::from_secs(86400 + 1));
    assert_eq!(ctl.flag_non_operational().await.unwrap(), 1);
    // (a week passed: sign in again)
    let admin = login(&h.channel, "admin", ADMIN_PW).await.unwrap();
    let cam = get_json(&h, &admin, "cameras", "cam-1").await.unwrap();
    assert!(cam["status"]["non_operational_since"].is_string(), "{cam}");
    assert_eq!(ctl.flag_non_operational().await.unwrap(), 0, "idempotent");
    // Video returns (an agent reports a fresh packet): the flag clears.
    let now = clock.now_string();
    let health = serde_json::json!({"agent": "gw", "received_at": now, "config_revision": 1, "health": {"cameras": [{"id": "cam-1", "last_packet": now}]}});
    ctl.store
        .put("health/gw", serde_json::to_vec(&health).unwrap())
        .await
        .unwrap();
    assert_eq!(ctl.flag_non_operational().await.unwrap(), 1);
    let cam = get_json(&h, &admin, "cameras", "cam-1").await.unwrap();
    assert!(
        cam["status"].get("non_operational_since").is_none(),
        "{cam}"
    );
}

trait NowString {
    fn now_string(&self) -> String;
}
impl NowString for ManualClock {
    fn now_string(&self) -> String {
        camplane_controller::clock::Clock::now(self).to_string()
    }
}
