//! Controllers on a real etcd: two replicas see each other's writes through the
//! watch, and audit tampering is caught on etcd too.

mod common;
use camplane_controller::testing::EtcdServer;
use common::*;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_controllers_share_state_through_watch() {
    let etcd = EtcdServer::start();
    std::env::set_var("CAMPLANE_TEST_NO_SUCH_VAR", ADMIN_PW);
    let a = start(config_etcd(&etcd.endpoint(), "/city"), None).await;
    let b = start(config_etcd(&etcd.endpoint(), "/city"), None).await;
    // A's admin token works on B: sessions live in the store.
    let t0 = Instant::now();
    apply(&a, &a.admin, CITY).await.unwrap();
    loop {
        if get_json(&b, &a.admin, "cameras", "cam-1").await.is_ok() {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "B never saw A's write"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!("replica saw the write after {:?}", t0.elapsed());
    // Writes through both replicas interleave on one audit chain.
    let mgr = user(&b, "m", &["dept_manager"], "police").await;
    act(&a, &mgr, "req-1", "recommend", "", "").await.unwrap();
    let v = verify(&b).await;
    assert!(v.ok, "{}", v.message);
    let store = a.running.controller.store.clone();
    workflow_tamper(&b, &*store).await;
}

async fn workflow_tamper(h: &Harness, store: &dyn camplane_controller::store::Store) {
    use camplane_controller::store::Op;
    let key = camplane_controller::audit::entry_key(3);
    let kv = store.get(&key).await.unwrap().unwrap();
    let edited = String::from_utf8(kv.value.to_vec())
        .unwrap()
        .replace("\"ok\"", "\"OK\"");
    store
        .txn(vec![], vec![Op::Put(key, edited.into_bytes())])
        .await
        .unwrap();
    let v = verify(h).await;
    assert!(!v.ok);
    assert_eq!(v.first_broken_seq, 3, "{}", v.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_outage_gives_unavailable_then_recovers() {
    let mut etcd = EtcdServer::start();
    std::env::set_var("CAMPLANE_TEST_NO_SUCH_VAR", ADMIN_PW);
    let h = start(config_etcd(&etcd.endpoint(), "/outage"), None).await;
    apply(&h, &h.admin, CITY).await.unwrap();
    etcd.stop();
    let e = camera(&h, &h.admin, "cam-1", "retire").await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");
    etcd.restart();
    let mut ok = false;
    for _ in 0..50 {
        if camera(&h, &h.admin, "cam-1", "retire").await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ok, "controller recovered when etcd returned");
    let v = verify(&h).await;
    assert!(v.ok, "no half-written change: {}", v.message);
    assert_eq!(
        get_json(&h, &h.admin, "cameras", "cam-1").await.unwrap()["status"]["state"],
        "retired"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_and_a_quick_takeover() {
    let etcd = EtcdServer::start();
    std::env::set_var("CAMPLANE_TEST_NO_SUCH_VAR", ADMIN_PW);
    let mut ca = config_etcd(&etcd.endpoint(), "/lead");
    if let Some(e) = ca.store.etcd.as_mut() {
        e.lease_seconds = 2;
    }
    let a = start(ca.clone(), None).await;
    let b = start(ca, None).await;
    let leaders = |a: &Harness, b: &Harness| {
        (*a.running.leader.borrow() as u8) + (*b.running.leader.borrow() as u8)
    };
    let t0 = Instant::now();
    while leaders(&a, &b) != 1 {
        assert!(t0.elapsed() < Duration::from_secs(10), "no leader elected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(leaders(&a, &b), 1, "exactly one leader, and it stays");
    let (old, new) = if *a.running.leader.borrow() {
        (a, b)
    } else {
        (b, a)
    };
    old.cancel.cancel();
    let t1 = Instant::now();
    while !*new.running.leader.borrow() {
        assert!(
            t1.elapsed() < Duration::from_secs(10),
            "no takeover within the lease time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("takeover after {:?}", t1.elapsed());
}
