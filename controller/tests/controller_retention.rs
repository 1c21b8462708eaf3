//! Controller-side retention on an injected clock: hotlist alerts (ALPR data)
//! are deleted at 30 days unless a legal hold covers their camera and time; a
//! held alert goes at the first sweep after the hold is released; the stored
//! report keys go after 7 days, those of health reports after an hour; each
//! sweep that deletes is audited, and a second sweep deletes nothing.

use camplane_controller::clock::ManualClock;
use camplane_proto::v1 as pb;
use camplane_testkit::controller::*;
use std::sync::Arc;

const CAMERAS: &str = r#"
kind: Camera
name: lpr-1
spec:
  site: city-hall
  department: police
  kind: fixed
  purpose: alpr
  alpr: true
  location: {lat: 42.5006, lon: -90.6646}
  streams: {main: "rtsp://127.0.0.1:8554/lpr-1"}
---
kind: Camera
name: lpr-2
spec:
  site: city-hall
  department: police
  kind: fixed
  purpose: alpr
  alpr: true
  location: {lat: 42.5007, lon: -90.6647}
  streams: {main: "rtsp://127.0.0.1:8554/lpr-2"}
"#;

async fn alert_count(h: &Harness) -> usize {
    h.running
        .controller
        .store
        .list(camplane_controller::hotlist::ALERTS)
        .await
        .unwrap()
        .kvs
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_go_at_30_days_unless_held_and_report_keys_at_7() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("CAMPLANE_TEST_NO_SUCH_VAR", ADMIN_PW);
    let clock = ManualClock::new("2026-06-02T00:00:00Z".parse().unwrap());
    let mut h = start(config_embedded(dir.path()), Some(Arc::new(clock.clone()))).await;
    apply(&h, &h.admin, CITY).await.unwrap();
    apply(&h, &h.admin, CAMERAS).await.unwrap();
    let ctl = h.running.controller.clone();
    let fleet = camplane_controller::fleet::Fleet {
        ctl: ctl.clone(),
        pki: camplane_controller::pki::Pki::load_or_create(&ctl.store, "Testville", ctl.now())
            .await
            .unwrap(),
        index: Default::default(),
    };
    for (key, camera, plate) in [("a-1", "lpr-1", "ABC1234"), ("a-2", "lpr-2", "XYZ9876")] {
        let report = serde_json::json!({
            "read_id": format!("1780315200000-{plate}"), "camera": camera, "plate": plate,
            "time": "2026-06-01T12:00:00Z", "confidence": 0.93,
            "list": "ncic.stolen_vehicle", "source": "NCIC", "category": "stolen_vehicle",
            "list_version": 1, "entry": {"plate": plate, "state": "IA"},
            "matched_at": "2026-06-01T12:00:01Z",
        });
        assert!(fleet
            .store_report("gw", key, "alert", &serde_json::to_vec(&report).unwrap(), 1)
            .await
            .unwrap());
    }
    // A health report: its key holds no copy (the latest health is kept apart).
    let health = serde_json::json!({"at": "2026-06-02T00:00:00Z", "cameras": [], "disk_free": 1,
        "disk_total": 2, "cpu_percent": null, "mem_total": 3, "mem_available": 1, "alarms": []});
    assert!(fleet
        .store_report(
            "gw",
            "h-1",
            "health",
            &serde_json::to_vec(&health).unwrap(),
            1
        )
        .await
        .unwrap());
    let kv = ctl.store.get("reports/gw/h-1").await.unwrap().unwrap();
    assert!(!String::from_utf8_lossy(&kv.value).contains("disk_free"));
    clock.set("2026-06-02T01:30:00Z".parse().unwrap());
    let s = ctl.sweep_retention().await.unwrap();
    assert_eq!(
        (s.reports, s.alerts),
        (1, 0),
        "health keys go after an hour"
    );

    // A hold on lpr-2 for a criminal investigation covers its alert's time.
    let chief = user(&h, "chief", &["chief"], "police").await;
    let spec = serde_json::json!({"case_number": "26-04711", "cameras": ["lpr-2"],
        "from": "2026-06-01T00:00:00Z", "until": "2026-06-02T00:00:00Z", "reason": "criminal_investigation"});
    let o = pb::holds_client::HoldsClient::new(h.channel.clone())
        .create(req(
            &chief,
            pb::SubmitRequest {
                json: serde_json::to_vec(&spec).unwrap(),
            },
        ))
        .await
        .unwrap()
        .into_inner();

    // The City Manager's hold on lpr-1 for another use keeps its video, not
    // its plate data (the ALPR program keeps plate data past 30 days only for
    // a criminal investigation).
    let cm = user(&h, "cm", &["city_manager"], "police").await;
    let spec = serde_json::json!({"case_number": "26-04712", "cameras": ["lpr-1"],
        "from": "2026-06-01T00:00:00Z", "until": "2026-06-02T00:00:00Z", "reason": "city_manager_approved"});
    pb::holds_client::HoldsClient::new(h.channel.clone())
        .create(req(
            &cm,
            pb::SubmitRequest {
                json: serde_json::to_vec(&spec).unwrap(),
            },
        ))
        .await
        .unwrap();

    // Day 29: nothing goes.
    clock.set("2026-06-30T12:00:00Z".parse().unwrap());
    let s = ctl.sweep_retention().await.unwrap();
    assert_eq!((s.alerts, s.alerts_held), (0, 0));
    assert_eq!(s.reports, 2, "report keys go after 7 days");
    assert_eq!(alert_count(&h).await, 2);

    // Day 31: the unheld alert goes, the held one stays.
    clock.set("2026-07-02T12:00:00Z".parse().unwrap());
    let s = ctl.sweep_retention().await.unwrap();
    assert_eq!((s.alerts, s.alerts_held, s.reports), (1, 1, 0));
    let left = ctl
        .store
        .list(camplane_controller::hotlist::ALERTS)
        .await
        .unwrap();
    assert_eq!(left.kvs.len(), 1);
    assert!(String::from_utf8_lossy(&left.kvs[0].value).contains("XYZ9876"));

    // Released: gone at the next sweep; a second sweep has nothing to do.
    h.admin = login(&h.channel, "admin", ADMIN_PW).await.unwrap();
    let chief = login(&h.channel, "chief", "chief-password-123")
        .await
        .unwrap();
    pb::holds_client::HoldsClient::new(h.channel.clone())
        .release(req(&chief, pb::HoldName { name: o.name }))
        .await
        .unwrap();
    let s = ctl.sweep_retention().await.unwrap();
    assert_eq!((s.alerts, s.alerts_held), (1, 0));
    assert_eq!(alert_count(&h).await, 0);
    assert_eq!(
        ctl.sweep_retention().await.unwrap(),
        Default::default(),
        "idempotent"
    );
    let v = verify(&h).await;
    assert!(v.ok, "{}", v.message);
}
