//! A viewing session whose controller died without ending it: its mark (held
//! under that controller's lease) is gone, and the leader ends it after the
//! grace, with its `view.end` audited. A session whose mark is there, and one
//! younger than the grace, are left running; an ended one is not touched.

use camplane_controller::clock::ManualClock;
use camplane_controller::store::Op;
use camplane_controller::viewing::{
    held_key, ViewMode, ViewingSession, ORPHANED, ORPHAN_GRACE, SESSIONS,
};
use camplane_testkit::controller::*;
use jiff::Timestamp;
use std::sync::Arc;

fn session(id: &str, started_at: Timestamp) -> ViewingSession {
    ViewingSession {
        id: id.into(),
        user: "chief".into(),
        camera: "cam-1".into(),
        department: "police".into(),
        mode: ViewMode::Live,
        from: None,
        until: None,
        reason: "incident 26-1".into(),
        basis: "installing department".into(),
        masked: true,
        agent: "city-hall-gw".into(),
        started_at,
        ended_at: None,
        bytes: 4096,
        outcome: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_of_a_dead_controller_are_ended_by_the_leader() {
    let dir = tempfile::tempdir().unwrap();
    let t0: Timestamp = "2026-11-02T15:00:00Z".parse().unwrap();
    let clock = ManualClock::new(t0);
    let h = start(config_embedded(dir.path()), Some(Arc::new(clock.clone()))).await;
    let ctl = &h.running.controller;
    let store = &ctl.store;
    let put = |k: String, v: Vec<u8>| async move {
        store.txn(vec![], vec![Op::Put(k, v)]).await.unwrap();
    };
    // Orphaned (no mark), held (its mark there), young (no mark, within the
    // grace), and one already ended.
    let orphan = session("vs-1-orphan", t0);
    let held = session("vs-2-held", t0);
    let mut done = session("vs-3-done", t0);
    done.ended_at = Some(t0);
    done.outcome = Some("completed".into());
    for s in [&orphan, &held, &done] {
        put(s.key(), serde_json::to_vec(s).unwrap()).await;
    }
    put(held_key(&held.id), b"c-elsewhere".to_vec()).await;
    // The leader first sees the orphan without its mark: the grace starts
    // then (a mark missing for a moment ends nothing), whatever its age.
    clock.set(t0 + ORPHAN_GRACE * 3);
    assert_eq!(
        ctl.end_orphaned_sessions().await.unwrap(),
        0,
        "first seen without its mark"
    );
    clock.set(t0 + ORPHAN_GRACE * 4 - jiff::SignedDuration::from_secs(1));
    assert_eq!(
        ctl.end_orphaned_sessions().await.unwrap(),
        0,
        "within the grace"
    );
    let end_at = t0 + ORPHAN_GRACE * 4 + jiff::SignedDuration::from_secs(1);
    clock.set(end_at);
    let young = session("vs-4-young", t0 + ORPHAN_GRACE * 4);
    put(young.key(), serde_json::to_vec(&young).unwrap()).await;
    assert_eq!(ctl.end_orphaned_sessions().await.unwrap(), 1);
    assert_eq!(ctl.end_orphaned_sessions().await.unwrap(), 0, "once");
    // Its holder ending it late finds it ended: nothing more is written.
    let again = ctl.end_viewing(&orphan, 9999, "completed").await.unwrap();
    assert_eq!(again.outcome.as_deref(), Some(ORPHANED));

    let stored = |id: &str| {
        let id = id.to_string();
        async move {
            let kv = store
                .get(&format!("{SESSIONS}{id}"))
                .await
                .unwrap()
                .unwrap();
            serde_json::from_slice::<ViewingSession>(&kv.value).unwrap()
        }
    };
    let o = stored(&orphan.id).await;
    assert_eq!(o.outcome.as_deref(), Some(ORPHANED));
    assert_eq!(o.ended_at, Some(end_at));
    assert_eq!(o.bytes, 4096, "the bytes last recorded");
    assert!(stored(&held.id).await.active());
    assert!(stored(&young.id).await.active());
    assert_eq!(stored(&done.id).await.outcome.as_deref(), Some("completed"));
    let ends: Vec<_> = audit_log(&h)
        .await
        .into_iter()
        .filter(|e| e["action"] == "view.end")
        .collect();
    assert_eq!(ends.len(), 1, "{ends:?}");
    assert_eq!(ends[0]["actor"], "chief");
    assert_eq!(ends[0]["details"]["session"], orphan.id.as_str());
    assert_eq!(ends[0]["details"]["outcome"], ORPHANED);
    assert!(verify(&h).await.ok);
    h.cancel.cancel();
}
