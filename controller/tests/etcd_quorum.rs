//! Controllers on a real three-member etcd cluster: with one member killed they
//! keep serving reads and writes; with two killed (no quorum) writes fail clearly
//! with `Unavailable` and nothing half-written is left; when quorum returns,
//! writes resume and the audit chain verifies.
//!
//! A write that etcd received but could not confirm may still be committed when
//! the quorum returns (etcd's semantics); such a write is whole (the change and
//! its audit entry in one transaction) or absent, never half.

use camplane_testkit::controller::*;
use camplane_testkit::servers::EtcdCluster;
use std::time::{Duration, Instant};
use tonic::Code;

fn config(endpoints: &[String]) -> camplane_config::controller::ControllerConfig {
    let mut c = config_etcd(&endpoints[0], "/quorum");
    c.store.etcd.as_mut().unwrap().endpoints = endpoints.to_vec();
    c
}

fn dept(name: &str) -> String {
    format!("kind: Department\nname: {name}\nspec: {{display_name: {name}}}\n")
}

/// A user write (a new department), retried for up to `limit` while the store
/// answers `Unavailable`; returns when it first succeeded.
async fn write_within(h: &Harness, name: &str, limit: Duration) -> Duration {
    let t0 = Instant::now();
    loop {
        match apply(h, &h.admin, &dept(name)).await {
            Ok(_) => return t0.elapsed(),
            Err(e) if e.code() == Code::Unavailable && t0.elapsed() < limit => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("writing {name} after {:?}: {e:?}", t0.elapsed()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_member_lost_keeps_serving_two_lost_fail_clearly_then_resume() {
    let mut etcd = EtcdCluster::start(3);
    std::env::set_var("CAMPLANE_TEST_NO_SUCH_VAR", ADMIN_PW);
    let a = start(config(&etcd.endpoints()), None).await;
    let b = start(config(&etcd.endpoints()), None).await;
    apply(&a, &a.admin, CITY).await.unwrap();

    // One member down: both controllers keep serving (a new etcd leader may
    // take an election, a second or two).
    etcd.kill(0);
    let took = write_within(&a, "one-down-a", Duration::from_secs(15)).await;
    eprintln!("write with one member down after {took:?}");
    write_within(&b, "one-down-b", Duration::from_secs(15)).await;
    let r = get_json(&b, &b.admin, "departments", "one-down-a").await;
    assert!(r.is_ok(), "read with one member down: {r:?}");
    let v = verify(&b).await;
    assert!(v.ok, "{}", v.message);
    let before = verify(&a).await.entries;

    // Two down: no quorum. Writes fail with Unavailable, within the store's timeout.
    etcd.kill(1);
    let t0 = Instant::now();
    let e = apply(&a, &a.admin, &dept("no-quorum-a")).await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    assert!(e.message().contains("etcd"), "{}", e.message());
    assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());
    let e = apply(&b, &b.admin, &dept("no-quorum-b")).await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");

    // Quorum returns: writes resume, and nothing of the failed writes was kept.
    etcd.restart(0);
    etcd.restart(1);
    let took = write_within(&a, "quorum-back", Duration::from_secs(30)).await;
    eprintln!("write after quorum returned: {took:?}");
    let v = verify(&b).await;
    assert!(v.ok, "no half-written change: {}", v.message);
    assert!(v.entries > before);
    let tail = camplane_proto::v1::audit_client::AuditClient::new(a.channel.clone())
        .tail(req(
            &a.admin,
            camplane_proto::v1::TailRequest {
                limit: 1000,
                before_seq: 0,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    for maybe in ["no-quorum-a", "no-quorum-b"] {
        let stored = get_json(&a, &a.admin, "departments", maybe).await.is_ok();
        let audited = tail.entries.iter().any(|e| {
            serde_json::from_slice::<serde_json::Value>(&e.json).is_ok_and(|v| v["name"] == maybe)
        });
        eprintln!("{maybe}: stored {stored}, audited {audited}");
        assert_eq!(
            stored, audited,
            "{maybe}: the change and its audit entry together or neither"
        );
    }
    // Replicas agree again (b sees a's write through its watch).
    let t0 = Instant::now();
    while get_json(&b, &b.admin, "departments", "quorum-back")
        .await
        .is_err()
    {
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "b never saw the write"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
