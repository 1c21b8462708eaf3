//! The store conformance suite against both implementations: the embedded store
//! and a real etcd server started by the test.

use camplane_controller::store::embedded::EmbeddedStore;
use camplane_controller::store::etcd::EtcdStore;
use camplane_controller::store::{conformance, DynStore, Store};
use camplane_controller::Error;
use camplane_testkit::servers::EtcdServer;
use futures::StreamExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_passes_conformance() {
    let root = tempfile::tempdir().unwrap();
    let n = AtomicUsize::new(0);
    conformance::run_all(|| {
        let dir = root
            .path()
            .join(format!("s{}", n.fetch_add(1, Ordering::SeqCst)));
        async move { Arc::new(EmbeddedStore::open(&dir).unwrap()) as DynStore }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_store_passes_conformance() {
    let etcd = EtcdServer::start();
    let ep = vec![etcd.endpoint()];
    let n = AtomicUsize::new(0);
    conformance::run_all(|| {
        let prefix = format!("/conf{}", n.fetch_add(1, Ordering::SeqCst));
        let ep = ep.clone();
        async move { Arc::new(EtcdStore::connect(&ep, &prefix).await.unwrap()) as DynStore }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_watch_resumes_and_requests_recover_after_etcd_restart() {
    let mut etcd = EtcdServer::start();
    let s = EtcdStore::connect(&[etcd.endpoint()], "/r").await.unwrap();
    let r0 = s.put("w/a", b"1".to_vec()).await.unwrap();
    let mut w = s.watch("w/", r0).await.unwrap();
    let e = tokio::time::timeout(Duration::from_secs(10), w.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(e.revision(), r0);

    etcd.stop();
    // While etcd is down, requests fail with Unavailable (not hang, not panic).
    let err = s.put("w/b", b"2".to_vec()).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err}");
    let status: tonic::Status = err.into();
    assert_eq!(status.code(), tonic::Code::Unavailable);

    etcd.restart();
    // Requests recover once etcd is back, and the watch resumes with no gap.
    let mut rb = None;
    for _ in 0..50 {
        match s.put("w/b", b"2".to_vec()).await {
            Ok(r) => {
                rb = Some(r);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let rb = rb.expect("etcd came back");
    let rc = s.put("w/c", b"3".to_vec()).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let e = tokio::time::timeout(Duration::from_secs(20), w.next())
            .await
            .expect("watch resumed")
            .unwrap()
            .unwrap();
        seen.push(e.revision());
    }
    assert_eq!(seen, vec![rb, rc]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_chunks_of_replaced_values_are_pruned() {
    let etcd = EtcdServer::start();
    let s = EtcdStore::connect(&[etcd.endpoint()], "/gc").await.unwrap();
    let big = vec![7u8; 3 * 1024 * 1024];
    s.put("layer", big.clone()).await.unwrap();
    s.put("layer", big.clone()).await.unwrap();
    let count = |s: EtcdStore| async move {
        let mut kv = s.client().kv_client();
        kv.get(
            "/gc/c/",
            Some(
                etcd_client::GetOptions::new()
                    .with_prefix()
                    .with_count_only(),
            ),
        )
        .await
        .unwrap()
        .count()
    };
    assert_eq!(
        count(s.clone()).await,
        3,
        "only the live value's 3 chunks remain"
    );
    // A failed compare leaves no chunks behind either.
    assert!(
        !s.compare_and_swap("layer", 1, big.clone())
            .await
            .unwrap()
            .succeeded
    );
    assert_eq!(count(s.clone()).await, 3);
    s.delete("layer").await.unwrap();
    assert_eq!(count(s.clone()).await, 0);
    // A 50 MB layer (a large city's streets) goes through.
    let huge: Vec<u8> = (0..50 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    s.put("streets", huge.clone()).await.unwrap();
    assert_eq!(
        s.get("streets").await.unwrap().unwrap().value.as_slice(),
        &huge[..]
    );
}
