//! Hotlists and alerts at a real controller (embedded store, TLS): loads with
//! bad rows, an all-bad load that changes nothing, who may load and watch,
//! versions as composed deltas, and alerts stored once per report key and
//! streamed to watchers.

use camplane_config::hotlist::{HotlistDelta, HotlistEntry};
use camplane_proto::v1 as pb;
use camplane_testkit::controller::*;
use std::time::Duration;
use tonic::Code;

fn load_req(source: &str, category: &str, csv: &str, mode: &str) -> pb::HotlistLoadRequest {
    pb::HotlistLoadRequest {
        source: source.into(),
        category: category.into(),
        file_name: "list.csv".into(),
        csv: csv.as_bytes().to_vec(),
        columns_json: String::new(),
        mode: mode.into(),
        public: None,
        ..Default::default()
    }
}

async fn load(
    h: &Harness,
    token: &str,
    r: pb::HotlistLoadRequest,
) -> Result<pb::HotlistLoadResponse, tonic::Status> {
    Ok(upload_hotlist(&h.channel, token, r).await?.into_inner())
}

/// State-system files and the approvals queue are ALPR data: a supervisor
/// without training, a valid certification or the policy acknowledged loads
/// nothing, sees no approval and decides none; each refusal audited.
#[tokio::test]
async fn an_unqualified_supervisor_neither_loads_nor_approves() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    let raw = user(&h, "sup-new", &["supervisor"], "police").await;
    let csv = "plate,state\nABC1234,IA\n";
    let e = load(&h, &raw, load_req("NCIC", "stolen_vehicle", csv, ""))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(h.running.controller.hotlists().is_empty());
    let approvals = pb::alpr_approvals_client::AlprApprovalsClient::new(h.channel.clone());
    let e = approvals
        .clone()
        .list(req(
            &raw,
            pb::AlprApprovalsRequest {
                all: true,
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let e = approvals
        .clone()
        .decide(req(
            &raw,
            pb::AlprApprovalDecision {
                id: "aq-1780000000000-00000000".into(),
                approve: true,
                reason: "x".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let denied: Vec<String> = audit_log(&h)
        .await
        .into_iter()
        .filter(|e| {
            e["actor"] == "sup-new" && e["result"].as_str().unwrap_or("").starts_with("denied")
        })
        .map(|e| e["action"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(denied.len(), 3, "{denied:?}");
}

#[tokio::test]
async fn hotlist_loads_versions_and_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    let sup = qualified_user(&h, "sup", "supervisor", "police").await;
    // Alerts are ALPR data: the operator who reads them is trained, certified
    // and acknowledges the policy; one who is not is refused, audited.
    let op = qualified_user(&h, "op", "alpr_operator", "police").await;
    let raw = user(&h, "op-untrained", &["alpr_operator"], "police").await;
    let eng = user(&h, "eng", &["engineer"], "").await;

    // Only supervisors and the chief load lists.
    let csv =
        "plate,state,reason,expiry\nABC1234,IA,stolen 05/30,2099-01-01\nbad!,IA,x,\nKLM55,,,\n";
    let e = load(&h, &op, load_req("NCIC", "stolen_vehicle", csv, ""))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");

    // Bad rows are reported by line; the good ones load.
    let r = load(&h, &sup, load_req("NCIC", "stolen_vehicle", csv, ""))
        .await
        .unwrap();
    assert_eq!(
        (r.list.as_str(), r.version, r.entries),
        ("ncic.stolen_vehicle", 1, 2)
    );
    assert_eq!(r.bad_rows.len(), 1);
    assert_eq!(r.bad_rows[0].line, 3);
    assert!(r.bad_rows[0].reason.contains("not 2-8"), "{:?}", r.bad_rows);

    // A file with no usable row changes nothing and says why, by line.
    let e = load(
        &h,
        &sup,
        load_req("NCIC", "stolen_vehicle", "plate,state\n!!,IA\nX,Iowa\n", ""),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().contains("line 2") && e.message().contains("line 3"),
        "{}",
        e.message()
    );
    let ctl = &h.running.controller;
    let info = ctl.hotlists();
    assert_eq!(info.len(), 1);
    assert_eq!((info[0].version, info[0].entries), (1, 2));
    // Unknown source, category, columns are named.
    for (s, c, cols, what) in [
        ("FBI", "stolen_vehicle", "", "--source"),
        ("NCIC", "stolen_car", "", "--category"),
        ("NCIC", "warrant", r#"{"plate":"tag"}"#, "tag"),
    ] {
        let mut q = load_req(s, c, csv, "");
        q.columns_json = cols.into();
        let e = load(&h, &sup, q).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().contains(what), "{}", e.message());
    }

    // Same file again: no new version. The next extracts (NEW1 added, then
    // KLM55 gone): new versions, composed as one delta.
    let r = load(&h, &sup, load_req("NCIC", "stolen_vehicle", csv, ""))
        .await
        .unwrap();
    assert_eq!((r.version, r.upserted, r.removed), (1, 0, 0));
    let v2 = "plate,state,reason,expiry\nABC1234,IA,stolen 05/30,2099-01-01\nKLM55,,,\nNEW1,,,\n";
    load(&h, &sup, load_req("NCIC", "stolen_vehicle", v2, "replace"))
        .await
        .unwrap();
    let v3 = "plate,state,reason,expiry\nABC1234,IA,stolen 05/30,2099-01-01\nNEW1,,,\n";
    let r = load(&h, &sup, load_req("NCIC", "stolen_vehicle", v3, "replace"))
        .await
        .unwrap();
    assert_eq!((r.version, r.entries), (3, 2));
    // A plate added or removed by hand is not the state's: refused (the
    // department's own go on a case-bound list), audited, nothing changed.
    for mode in ["add", "remove"] {
        let e = load(
            &h,
            &sup,
            load_req("NCIC", "warrant", "plate\nZZZ999\n", mode),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert!(e.message().contains("--mode replace"), "{e:?}");
    }
    assert_eq!(ctl.hotlists().len(), 1, "no ncic.warrant list");
    let refused: Vec<serde_json::Value> = audit_log(&h)
        .await
        .into_iter()
        .filter(|e| e["action"] == "hotlist.load")
        .collect();
    assert!(
        refused.iter().any(|e| e["name"] == "ncic.warrant"
            && e["result"].as_str().unwrap_or("").starts_with("refused")),
        "{refused:?}"
    );
    let info = ctl.hotlists().pop().unwrap();
    let u = ctl.hotlist_update(&info, 1).await.unwrap();
    assert_eq!((u.base_version, u.version), (1, 3));
    assert_eq!(u.delta.remove, vec!["KLM55/".to_string()]);
    assert_eq!(u.delta.upsert.len(), 1);
    let full = ctl.hotlist_update(&info, 0).await.unwrap();
    assert_eq!(full.base_version, 0);
    let mut m = std::collections::BTreeMap::<String, HotlistEntry>::new();
    // Applying the delta to version 1 gives the whole list at version 3.
    m.insert("ABC1234/IA".into(), full.delta.upsert[0].clone());
    m.insert(
        "KLM55/".into(),
        HotlistEntry {
            plate: "KLM55".into(),
            state: None,
            reason: None,
            expires: None,
        },
    );
    u.delta.apply(&mut m);
    let mut want: Vec<String> = full.delta.upsert.iter().map(|e| e.key()).collect();
    want.sort();
    assert_eq!(m.keys().cloned().collect::<Vec<_>>(), want);
    assert!(!HotlistDelta::between(&m, &m).upsert.iter().any(|_| true));

    // The public flag is per source, and listing shows it. (A custom list is
    // one case's, and takes effect once another supervisor approves it.)
    let mut q = load_req("CUSTOM", "investigative", "plate\nINV1\n", "");
    q.public = Some(false);
    q.case_number = "26-04711".into();
    q.purpose = "burglary".into();
    q.expires = (ctl.now() + std::time::Duration::from_secs(86_400)).to_string();
    let r = load(&h, &sup, q).await.unwrap();
    assert!(r.public, "unchanged until approved");
    let sup2 = qualified_user(&h, "sup2", "supervisor", "police").await;
    pb::alpr_approvals_client::AlprApprovalsClient::new(h.channel.clone())
        .decide(req(
            &sup2,
            pb::AlprApprovalDecision {
                id: r.pending_approval,
                approve: true,
                reason: "case 26-04711".into(),
            },
        ))
        .await
        .unwrap();
    let l = pb::hotlists_client::HotlistsClient::new(h.channel.clone())
        .list(req(&op, pb::Empty {}))
        .await
        .unwrap()
        .into_inner();
    let sources: Vec<serde_json::Value> = serde_json::from_slice(&l.sources_json).unwrap();
    let custom = sources.iter().find(|s| s["source"] == "CUSTOM").unwrap();
    assert_eq!(custom["public"], false);
    let e = pb::hotlists_client::HotlistsClient::new(h.channel.clone())
        .list(req(&eng, pb::Empty {}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);

    // Alerts: an engineer may not watch; an operator's watch gets each alert once,
    // even when the agent resends the report.
    let e = pb::alerts_client::AlertsClient::new(h.channel.clone())
        .watch(req(&eng, pb::AlertsRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    for list in [false, true] {
        let c = pb::alerts_client::AlertsClient::new(h.channel.clone());
        let e = if list {
            c.clone()
                .list(req(&raw, pb::AlertsRequest::default()))
                .await
                .unwrap_err()
        } else {
            c.clone()
                .watch(req(&raw, pb::AlertsRequest::default()))
                .await
                .unwrap_err()
        };
        assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
        assert!(e.message().contains("training"), "{e:?}");
    }
    let log = audit_log(&h).await;
    for action in ["alerts.list", "alerts.watch"] {
        assert!(
            log.iter().any(|e| e["action"] == action
                && e["actor"] == "op-untrained"
                && e["result"].as_str().unwrap().starts_with("denied")),
            "{action} refusal audited"
        );
    }
    let mut watch = pb::alerts_client::AlertsClient::new(h.channel.clone())
        .watch(req(&op, pb::AlertsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    let report = serde_json::json!({
        "read_id": "1780000000000-ABC1234", "camera": "lpr-1", "plate": "ABC1234",
        "time": "2026-06-01T12:00:00Z", "confidence": 0.93,
        "location": {"lat": 42.5, "lon": -90.66},
        "list": "ncic.stolen_vehicle", "source": "NCIC", "category": "stolen_vehicle",
        "list_version": 3, "entry": {"plate": "ABC1234", "state": "IA", "reason": "stolen 05/30"},
        "matched_at": "2026-06-01T12:00:01Z",
    });
    let fleet = fleet(&h).await;
    let bytes = serde_json::to_vec(&report).unwrap();
    assert!(fleet
        .store_report("gw", "a-1", "alert", &bytes, 1)
        .await
        .unwrap());
    assert!(!fleet
        .store_report("gw", "a-1", "alert", &bytes, 1)
        .await
        .unwrap());
    // A malformed alert report is refused and stores nothing.
    assert!(fleet
        .store_report("gw", "a-2", "alert", br#"{"plate": 5}"#, 1)
        .await
        .is_err());
    let got = tokio::time::timeout(Duration::from_secs(5), watch.message())
        .await
        .expect("an alert within 5 s")
        .unwrap()
        .unwrap();
    let a: serde_json::Value = serde_json::from_slice(&got.json).unwrap();
    assert_eq!(a["plate"], "ABC1234");
    assert_eq!(a["status"], "unverified");
    assert_eq!(a["agent"], "gw");
    assert!(
        tokio::time::timeout(Duration::from_millis(500), watch.message())
            .await
            .is_err(),
        "no second alert for a resent report"
    );
    // An open watch checks the right again before each new alert: a second
    // operator's stream ends, with no plate sent, once the certification
    // lapses (refused and audited as at the start); a third's once its
    // session signs out.
    let op2 = qualified_user(&h, "op2", "alpr_operator", "police").await;
    let op3 = qualified_user(&h, "op3", "alpr_operator", "police").await;
    let open = |t: String| {
        let c = pb::alerts_client::AlertsClient::new(h.channel.clone());
        async move {
            c.clone()
                .watch(req(&t, pb::AlertsRequest::default()))
                .await
                .unwrap()
                .into_inner()
        }
    };
    let (mut w2, mut w3) = (open(op2.clone()).await, open(op3.clone()).await);
    apply(
        &h,
        &h.admin,
        &qualified_user_yaml("op2", "alpr_operator", "police", "")
            .replace("2099-01-01", "2026-01-06"),
    )
    .await
    .unwrap();
    pb::auth_client::AuthClient::new(h.channel.clone())
        .logout(req(&op3, pb::Empty {}))
        .await
        .unwrap();
    let mut later = report.clone();
    later["read_id"] = "1780000000001-KQZ4417".into();
    later["plate"] = "KQZ4417".into();
    assert!(fleet
        .store_report(
            "gw",
            "a-3",
            "alert",
            &serde_json::to_vec(&later).unwrap(),
            1
        )
        .await
        .unwrap());
    for (w, code) in [
        (&mut w2, Code::PermissionDenied),
        (&mut w3, Code::Unauthenticated),
    ] {
        let end = tokio::time::timeout(Duration::from_secs(5), w.message())
            .await
            .expect("the stream ends within 5 s");
        let e = end.expect_err("ends with the refusal, not the alert");
        assert_eq!(e.code(), code, "{e:?}");
    }
    assert!(audit_log(&h)
        .await
        .iter()
        .any(|e| e["action"] == "alerts.watch"
            && e["actor"] == "op2"
            && e["result"].as_str().unwrap().starts_with("denied")));
    let all = pb::alerts_client::AlertsClient::new(h.channel.clone())
        .list(req(&op, pb::AlertsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.objects.len(), 2, "ABC1234's and KQZ4417's");
    // Loads and alerts are audited.
    let tail = pb::audit_client::AuditClient::new(h.channel.clone())
        .tail(req(
            &h.admin,
            pb::TailRequest {
                limit: 100,
                before_seq: 0,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let text: String = tail
        .entries
        .iter()
        .map(|e| String::from_utf8_lossy(&e.json).to_string())
        .collect();
    for action in ["hotlist.load", "alert.raised", "alerts.watch"] {
        assert!(text.contains(action), "{action} audited");
    }
    h.cancel.cancel();
}

/// A watch from an old `since` gets the whole backlog, however long (more
/// than its queue holds), each alert audited as delivered, then new ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_replays_a_long_backlog() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    let op = qualified_user(&h, "op", "alpr_operator", "police").await;
    let fleet = fleet(&h).await;
    let n = 300;
    for i in 0..n {
        let report = serde_json::json!({
            "read_id": format!("1780000000000-ABC{i:04}"), "camera": "lpr-1",
            "plate": format!("ABC{i:04}"), "time": "2026-06-01T12:00:00Z", "confidence": 0.9,
            "list": "ncic.stolen_vehicle", "source": "NCIC", "category": "stolen_vehicle",
            "list_version": 1, "entry": {"plate": format!("ABC{i:04}")},
            "matched_at": "2026-06-01T12:00:01Z",
        });
        fleet
            .store_report(
                "gw",
                &format!("a-{i}"),
                "alert",
                &serde_json::to_vec(&report).unwrap(),
                1,
            )
            .await
            .unwrap();
    }
    let mut s = tokio::time::timeout(
        Duration::from_secs(20),
        pb::alerts_client::AlertsClient::new(h.channel.clone()).watch(req(
            &op,
            pb::AlertsRequest {
                since: "2000-01-01T00:00:00Z".into(),
                ..Default::default()
            },
        )),
    )
    .await
    .expect("the watch answers at once, the backlog following")
    .unwrap()
    .into_inner();
    let mut got = 0;
    while got < n {
        tokio::time::timeout(Duration::from_secs(20), s.message())
            .await
            .expect("the backlog keeps coming")
            .unwrap()
            .unwrap();
        got += 1;
    }
    let delivered = audit_log(&h)
        .await
        .iter()
        .filter(|e| e["action"] == "alerts.watch" && e["result"] == "delivered")
        .count();
    assert_eq!(delivered, n);
}
