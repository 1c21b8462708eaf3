//! Maintenance and testing (issue 20) against a real controller on both
//! stores: the chief's vendor list, entries logged by the camera's own
//! department (a wrong role, department or vendor refused and audited), and
//! the overdue list once the test interval has run and the camera has been
//! without video for a week.

use camplane_config::model::Role;
use camplane_controller::auth::Actor;
use camplane_controller::clock::ManualClock;
use camplane_proto::v1 as pb;
use camplane_testkit::controller::*;
use camplane_testkit::servers::EtcdServer;
use std::sync::Arc;
use tonic::Code;

fn client(h: &Harness) -> pb::maintenance_client::MaintenanceClient<tonic::transport::Channel> {
    pb::maintenance_client::MaintenanceClient::new(h.channel.clone())
}

async fn log(
    h: &Harness,
    who: &str,
    kind: &str,
    vendor: &str,
) -> Result<serde_json::Value, tonic::Status> {
    client(h)
        .log(req(
            who,
            pb::MaintenanceLogRequest {
                camera: "cam-1".into(),
                kind: kind.into(),
                result: "ok".into(),
                note: "Lens cleaned, picture checked on the monitor.".into(),
                vendor: vendor.into(),
            },
        ))
        .await
        .map(|r| serde_json::from_slice(&r.into_inner().json).unwrap())
}

async fn run_on(cfg: camplane_config::controller::ControllerConfig) {
    let clock = ManualClock::new("2026-11-01T00:00:00Z".parse().unwrap());
    let h = start(cfg, Some(Arc::new(clock.clone()))).await;
    apply(&h, &h.admin, CITY).await.unwrap();
    let mgr = user(&h, "m", &["dept_manager"], "police").await;
    let chief = user(&h, "c", &["chief"], "police").await;
    let cm = user(&h, "cm", &["city_manager"], "").await;
    act(&h, &mgr, "req-1", "recommend", "", "").await.unwrap();
    act(&h, &chief, "req-1", "recommend", "", "").await.unwrap();
    override_unchecked(&h, &chief, "req-1").await;
    act(&h, &cm, "req-1", "approve", "", "").await.unwrap();
    camera(&h, &h.admin, "cam-1", "activate").await.unwrap();
    let eng = user(&h, "eng", &["engineer"], "police").await;
    let parks = user(&h, "eng-parks", &["engineer"], "parks").await;
    let viewer = user(&h, "v", &["viewer"], "police").await;
    let auditor = user(&h, "a", &["auditor"], "").await;

    // The chief keeps the vendor list; nobody else changes it.
    let vendor = |name: &str| pb::MaintenanceVendorRequest { name: name.into() };
    let e = client(&h)
        .add_vendor(req(&mgr, vendor("Acme Video")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    client(&h)
        .add_vendor(req(&chief, vendor("Acme Video")))
        .await
        .unwrap();
    client(&h)
        .add_vendor(req(&chief, vendor("Gone Ltd")))
        .await
        .unwrap();
    client(&h)
        .remove_vendor(req(&chief, vendor("Gone Ltd")))
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(
        &client(&h)
            .vendors(req(&auditor, pb::Empty {}))
            .await
            .unwrap()
            .into_inner()
            .json,
    )
    .unwrap();
    assert_eq!(v["vendors"], serde_json::json!(["Acme Video"]));

    // Wrong role, wrong department, unlisted vendor, unknown kind.
    for (who, code) in [
        (&viewer, Code::PermissionDenied),
        (&parks, Code::PermissionDenied),
        (&chief, Code::PermissionDenied),
    ] {
        let e = log(&h, who, "test", "").await.unwrap_err();
        assert_eq!(e.code(), code, "{e:?}");
    }
    let e = log(&h, &eng, "test", "Gone Ltd").await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    let e = log(&h, &eng, "inspection", "").await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let v = log(&h, &eng, "test", "Acme Video").await.unwrap();
    assert_eq!(
        (v["kind"].as_str(), v["result"].as_str()),
        (Some("test"), Some("ok"))
    );
    assert_eq!(v["department"], "police");
    log(&h, &h.admin, "cleaning", "").await.unwrap();
    let l = client(&h)
        .list(req(
            &auditor,
            pb::MaintenanceCamera {
                camera: "cam-1".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(l.objects.len(), 2);
    let e = client(&h)
        .list(req(
            &viewer,
            pb::MaintenanceCamera {
                camera: "cam-1".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let overdue = client(&h)
        .overdue(req(&auditor, pb::MaintenanceOverdueRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(overdue.objects.is_empty(), "tested just now");

    let log_entries = audit_log(&h).await;
    let on = |action: &str, result: &str| {
        log_entries
            .iter()
            .filter(|e| {
                e["action"] == action && e["result"].as_str().unwrap_or("").starts_with(result)
            })
            .count()
    };
    assert_eq!(on("maintenance.log", "ok"), 2);
    assert!(on("maintenance.log", "denied") >= 3);
    assert!(on("maintenance.log", "refused") >= 1, "unlisted vendor");
    assert_eq!(on("maintenance.vendor_add", "ok"), 2);
    assert_eq!(on("maintenance.vendor_add", "denied"), 1);
    assert_eq!(on("maintenance.vendor_remove", "ok"), 1);
    assert!(on("maintenance.list", "denied") >= 1);

    // 91 days on, without video all the while: the test is overdue and the
    // camera non-operational. (Sessions have expired: ask the controller.)
    let ctl = h.running.controller.clone();
    clock.advance(std::time::Duration::from_secs(7 * 86400 + 1));
    assert_eq!(ctl.flag_non_operational().await.unwrap(), 1);
    clock.advance(std::time::Duration::from_secs(84 * 86400));
    let reader = Actor {
        username: "a".into(),
        roles: vec![Role::Auditor],
        department: String::new(),
    };
    let o = ctl.maintenance_overdue(&reader, "").await.unwrap();
    assert_eq!(o.len(), 1, "{o:?}");
    assert_eq!(o[0].camera, "cam-1");
    let reasons = serde_json::to_value(&o[0].reasons).unwrap();
    let names: Vec<&str> = reasons
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["test_overdue", "non_operational"], "{reasons}");
    assert_eq!(
        ctl.maintenance_overdue(&reader, "police")
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(ctl
        .maintenance_overdue(&reader, "parks")
        .await
        .unwrap()
        .is_empty());
    h.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    run_on(config_embedded(dir.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_on_etcd() {
    let etcd = EtcdServer::start();
    run_on(config_etcd(&etcd.endpoint(), "/maintenance-test")).await;
}
