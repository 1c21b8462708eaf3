//! Supervisor approvals of ALPR queries at a real controller (embedded store,
//! TLS): a pattern search and a query for another agency wait for approval
//! instead of running; supervisors (not the requester) approve or reject with a
//! reason; the requesting operator runs an approved query once, with training
//! and certification checked again; every step and every refusal is audited.

use camplane_proto::v1 as pb;
use camplane_testkit::controller::*;
use tonic::Code;

/// A fully qualified operator (training, certification, policy acknowledged).
async fn operator(h: &Harness, name: &str, certified_until: &str) -> String {
    let token = user(h, name, &["alpr_operator"], "police").await;
    set_operator(h, name, certified_until).await;
    token
}

async fn set_operator(h: &Harness, name: &str, certified_until: &str) {
    qualify_operator(h, name, &["alpr_operator"], certified_until).await;
}

fn search_req(plate: &str, case: &str, agency: &str) -> pb::SearchRequest {
    pb::SearchRequest {
        plate: plate.into(),
        case_number: case.into(),
        purpose: "stolen_vehicle".into(),
        from: String::new(),
        to: String::new(),
        sites: vec![],
        timeout_ms: 500,
        for_agency: agency.into(),
    }
}

async fn search(
    h: &Harness,
    token: &str,
    r: pb::SearchRequest,
) -> Result<pb::SearchResponse, tonic::Status> {
    Ok(pb::alpr_client::AlprClient::new(h.channel.clone())
        .search(req(token, r))
        .await?
        .into_inner())
}

fn approvals(
    h: &Harness,
) -> pb::alpr_approvals_client::AlprApprovalsClient<tonic::transport::Channel> {
    pb::alpr_approvals_client::AlprApprovalsClient::new(h.channel.clone())
}

async fn decide(
    h: &Harness,
    token: &str,
    id: &str,
    approve: bool,
    reason: &str,
) -> Result<serde_json::Value, tonic::Status> {
    let o = approvals(h)
        .decide(req(
            token,
            pb::AlprApprovalDecision {
                id: id.into(),
                approve,
                reason: reason.into(),
            },
        ))
        .await?
        .into_inner();
    Ok(serde_json::from_slice(&o.json).unwrap())
}

async fn run(h: &Harness, token: &str, id: &str) -> Result<pb::SearchResponse, tonic::Status> {
    Ok(approvals(h)
        .run(req(
            token,
            pb::RunApprovedRequest {
                id: id.into(),
                timeout_ms: 500,
            },
        ))
        .await?
        .into_inner())
}

async fn list(
    h: &Harness,
    token: &str,
    all: bool,
) -> Result<Vec<serde_json::Value>, tonic::Status> {
    let l = approvals(h)
        .list(req(
            token,
            pb::AlprApprovalsRequest {
                all,
                ..Default::default()
            },
        ))
        .await?
        .into_inner();
    Ok(l.objects
        .iter()
        .map(|o| serde_json::from_slice(&o.json).unwrap())
        .collect())
}

fn with_action<'a>(all: &'a [serde_json::Value], action: &str) -> Vec<&'a serde_json::Value> {
    all.iter().filter(|e| e["action"] == action).collect()
}

#[tokio::test]
async fn pattern_and_agency_queries_wait_for_a_supervisor_and_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config_embedded(dir.path());
    cfg.alpr.verified_agencies = vec!["Iowa DCI".into()];
    let h = start(cfg, None).await;
    let op = operator(&h, "op", "2099-01-01T00:00:00Z").await;
    let op2 = operator(&h, "op2", "2099-01-01T00:00:00Z").await;
    let sup = qualified_user(&h, "sup", "supervisor", "police").await;
    let sup2 = qualified_user(&h, "sup2", "supervisor", "police").await;
    // A supervisor who also queries (and so could approve their own request).
    let both = user(&h, "both", &["supervisor", "alpr_operator"], "police").await;
    qualify_operator(
        &h,
        "both",
        &["alpr_operator", "supervisor"],
        "2099-01-01T00:00:00Z",
    )
    .await;

    // A pattern is not run: it is stored, pending, with why.
    let r = search(&h, &op, search_req("ab?12*", "26-04711", ""))
        .await
        .unwrap();
    let id = r.pending_approval.clone();
    assert!(id.starts_with("aq-"), "{r:?}");
    assert!(r.query_id.is_empty() && r.reads_json == b"[]");
    assert!(r.approval_reasons[0].contains("partial plate"), "{r:?}");
    // Too few fixed characters: refused outright, nothing stored.
    let e = search(&h, &op, search_req("A*", "26-04711", ""))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    // An agency not on the verified list: refused; a verified one: pending.
    let e = search(&h, &op, search_req("ABC1234", "26-04711", "Some Town PD"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(e.message().contains("verified"), "{}", e.message());
    let r2 = search(&h, &op2, search_req("ABC1234", "26-04712", "Iowa DCI"))
        .await
        .unwrap();
    assert!(r2.approval_reasons[0].contains("Iowa DCI"), "{r2:?}");
    let id2 = r2.pending_approval.clone();
    // A pattern with an injected case number is refused before anything is stored.
    let e = search(
        &h,
        &op,
        search_req("AB?12*", "26-04711'; DROP TABLE reads; --", ""),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(!e.message().contains("DROP"), "{}", e.message());
    let own = search(&h, &both, search_req("XYZ*", "26-04713", ""))
        .await
        .unwrap()
        .pending_approval;

    // Only supervisors list; both pending ones are shown, oldest first.
    let e = list(&h, &op, false).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let pending = list(&h, &sup, false).await.unwrap();
    let ids: Vec<&str> = pending.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [id.as_str(), id2.as_str(), own.as_str()]);
    assert_eq!(pending[0]["plate"], "AB?12*");
    assert_eq!(pending[0]["requested_by"], "op");
    assert_eq!(pending[1]["for_agency"], "Iowa DCI");

    // Before approval it does not run.
    let e = run(&h, &op, &id).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains("waits"), "{}", e.message());

    // Bad decisions: operators may not decide; nobody decides their own; a reason
    // is required and bounded; unknown and malformed ids are named.
    let e = decide(&h, &op, &id, true, "ok").await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let e = decide(&h, &both, &own, true, "mine").await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(e.message().contains("own request"), "{}", e.message());
    let e = decide(&h, &sup, &id, true, "  ").await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = decide(&h, &sup, &id, true, &"x".repeat(10_000))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().len() < 200, "{}", e.message());
    let e = decide(&h, &sup, "aq-1-deadbeef", true, "ok")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = decide(&h, &sup, "../../objects/users/admin", true, "ok")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    // Approve; approving again (or rejecting after) is refused: a decision is final.
    let a = decide(
        &h,
        &sup,
        &id,
        true,
        "stolen car seen with a partial plate; case 26-04711",
    )
    .await
    .unwrap();
    assert_eq!(
        (a["state"].as_str(), a["decided_by"].as_str()),
        (Some("approved"), Some("sup"))
    );
    let e = decide(&h, &sup2, &id, true, "again").await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    let e = decide(&h, &sup2, &id, false, "changed my mind")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    // Another supervisor may decide the supervisor-operator's own request.
    decide(&h, &sup, &own, false, "too broad").await.unwrap();
    let e = run(&h, &both, &own).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains("rejected"), "{}", e.message());

    // Only the requester runs it, and only while qualified on the day.
    let e = run(&h, &op2, &id).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    set_operator(&h, "op", "2026-01-31T00:00:00Z").await;
    let e = run(&h, &op, &id).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(e.message().contains("certification"), "{}", e.message());
    set_operator(&h, "op", "2099-01-01T00:00:00Z").await;

    // It runs once.
    let r = run(&h, &op, &id).await.unwrap();
    assert!(r.query_id.starts_with("q-"), "{r:?}");
    assert!(r.pending_approval.is_empty());
    let e = run(&h, &op, &id).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains("once"), "{}", e.message());
    let all = list(&h, &sup, true).await.unwrap();
    let used = all.iter().find(|a| a["id"] == id.as_str()).unwrap();
    assert_eq!(used["state"], "used");
    assert_eq!(used["query_id"], r.query_id.as_str());
    assert_eq!(
        list(&h, &sup, false).await.unwrap().len(),
        1,
        "only the agency query still waits"
    );

    // The agency query: approved, run by its requester.
    decide(&h, &sup2, &id2, true, "DCI request 2026-114, signed")
        .await
        .unwrap();
    run(&h, &op2, &id2).await.unwrap();

    // The audit log tells the whole story, refusals included.
    let log = audit_log(&h).await;
    let pend = with_action(&log, "alpr.search.pending");
    assert_eq!(pend.len(), 3);
    assert_eq!(pend[0]["details"]["case_number"], "26-04711");
    assert_eq!(pend[0]["name"], id.as_str());
    let appr = with_action(&log, "alpr.approval.approve");
    let ok: Vec<_> = appr.iter().filter(|e| e["result"] == "ok").collect();
    assert_eq!(ok.len(), 2);
    assert_eq!(ok[0]["actor"], "sup");
    assert!(ok[0]["details"]["reason"]
        .as_str()
        .unwrap()
        .contains("partial plate"));
    assert_eq!(ok[0]["after"]["state"], "approved");
    // operator, own request, blank reason, 10 kB reason, unknown, malformed, twice
    assert_eq!(
        appr.iter().filter(|e| e["result"] != "ok").count(),
        7,
        "{appr:#?}"
    );
    let big = appr
        .iter()
        .find(|e| e["result"].as_str().unwrap().contains("at most"))
        .unwrap();
    assert!(
        big.to_string().len() < 2000,
        "a refused 10 kB reason is not copied into the log"
    );
    let rej = with_action(&log, "alpr.approval.reject");
    assert_eq!(rej.iter().filter(|e| e["result"] == "ok").count(), 1);
    assert_eq!(rej.iter().filter(|e| e["result"] != "ok").count(), 1);
    let searches = with_action(&log, "alpr.search");
    let ran: Vec<_> = searches.iter().filter(|e| e["result"] == "ok").collect();
    assert_eq!(ran.len(), 2);
    assert_eq!(ran[0]["details"]["approval"], id.as_str());
    assert_eq!(ran[0]["details"]["approved_by"], "sup");
    assert_eq!(ran[0]["details"]["plate"], "AB?12*");
    assert_eq!(ran[1]["details"]["for_agency"], "Iowa DCI");
    // refusals: A*, unverified agency, injected case, run before approval, rejected
    // one, wrong operator, lapsed certification, second run
    assert_eq!(
        searches.iter().filter(|e| e["result"] != "ok").count(),
        8,
        "{searches:#?}"
    );
    assert!(verify(&h).await.ok);
    h.cancel.cancel();
}

/// 30 days means 30 days in the audit log too: a search's plate leaves the
/// chained entry for a salted, sealed detail kept apart; auditors read it back
/// while it is kept; an altered detail breaks `audit verify`; at 30 days the
/// leader's sweep erases it (unless a hold covers its camera) and the chain
/// still verifies, the entry reading `erased`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plate_texts_in_the_audit_log_expire() {
    use camplane_controller::clock::ManualClock;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new("2026-11-01T00:00:00Z".parse().unwrap());
    let h = start(
        config_embedded(dir.path()),
        Some(std::sync::Arc::new(clock.clone())),
    )
    .await;
    let op = qualified_user(&h, "op", "alpr_operator", "police").await;
    search(&h, &op, search_req("KQZ4417", "26-04711", ""))
        .await
        .unwrap();
    let ctl = &h.running.controller;
    // A pattern search waiting for a supervisor, and an alert on a read of the
    // plate (its id and the alert's are made from the read's, plate and all):
    // no plate text stays in the chain through them either.
    let pending = search(&h, &op, search_req("KQZ44*", "26-04711", ""))
        .await
        .unwrap();
    assert!(!pending.pending_approval.is_empty());
    let fleet = fleet(&h).await;
    let alert = serde_json::json!({
        "read_id": "1793500000000-KQZ4417", "camera": "lpr-1", "plate": "KQZ4417",
        "time": "2026-11-01T00:00:00Z", "confidence": 0.93,
        "list": "ncic.stolen_vehicle", "source": "NCIC", "category": "stolen_vehicle",
        "list_version": 1, "entry": {"plate": "KQZ4417"},
        "matched_at": "2026-11-01T00:00:01Z",
    });
    assert!(fleet
        .store_report(
            "gw",
            "a-lpr-1-1793500000000-KQZ4417-ncic.stolen_vehicle",
            "alert",
            &serde_json::to_vec(&alert).unwrap(),
            1
        )
        .await
        .unwrap());
    let raw = ctl.store.list("audit/entries/").await.unwrap();
    let raw_text: String = raw
        .kvs
        .iter()
        .map(|kv| String::from_utf8_lossy(&kv.value).into_owned())
        .collect();
    assert!(
        !raw_text.contains("KQZ44"),
        "the chain holds no plate text: {raw_text}"
    );
    let entry = |log: &[serde_json::Value]| {
        log.iter()
            .rev()
            .find(|e| e["action"] == "alpr.search" && e["actor"] == "op")
            .cloned()
            .unwrap()
    };
    let e = entry(&audit_log(&h).await);
    assert_eq!(
        e["details"]["plate"], "KQZ4417",
        "auditors read it while kept"
    );
    let digest = e["sealed"].as_str().unwrap().to_string();
    let key = format!("audit/sealed/{digest}");

    // An altered detail is named by verify.
    let kept = ctl.store.get(&key).await.unwrap().unwrap();
    let forged = String::from_utf8_lossy(&kept.value).replace("KQZ4417", "KQZ4418");
    ctl.store.put(&key, forged.into_bytes()).await.unwrap();
    let v = ctl.audit.verify().await.unwrap();
    assert_eq!(v.first_broken, e["seq"].as_u64(), "{v:?}");
    ctl.store.put(&key, kept.value.to_vec()).await.unwrap();
    assert!(ctl.audit.verify().await.unwrap().first_broken.is_none());
    // One removed before its 30 days too (it would hide who searched what).
    ctl.store
        .txn(
            vec![],
            vec![camplane_controller::store::Op::Delete(key.clone())],
        )
        .await
        .unwrap();
    let v = ctl.audit.verify().await.unwrap();
    assert_eq!(v.first_broken, e["seq"].as_u64(), "{v:?}");
    assert!(v.message.contains("before its 30 days"), "{v:?}");
    ctl.store.put(&key, kept.value.to_vec()).await.unwrap();
    assert!(ctl.audit.verify().await.unwrap().first_broken.is_none());

    // Day 29: kept. Day 31: erased, and the chain still verifies.
    clock.advance(std::time::Duration::from_secs(29 * 86_400));
    ctl.sweep_retention().await.unwrap();
    assert!(ctl.store.get(&key).await.unwrap().is_some());
    clock.advance(std::time::Duration::from_secs(2 * 86_400));
    let swept = ctl.sweep_retention().await.unwrap();
    assert!(swept.sealed >= 1, "{swept:?}");
    assert!(ctl.store.get(&key).await.unwrap().is_none());
    // The waiting pattern search names its pattern: erased too.
    assert_eq!(swept.approvals, 1, "{swept:?}");
    let stored = ctl
        .store
        .get(&format!(
            "{}{}",
            camplane_controller::alpr::approval::APPROVALS,
            pending.pending_approval
        ))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&stored.value);
    assert!(!text.contains("KQZ44"), "{text}");
    assert!(text.contains("\"erased\""), "{text}");
    let v = ctl.audit.verify().await.unwrap();
    assert!(v.first_broken.is_none(), "{v:?}");
    // Read straight from the log: the admin's session lapsed over the 31 days.
    let (page, _) = ctl.audit.page(1000, 0, 1 << 20).await.unwrap();
    let page: Vec<serde_json::Value> = page
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect();
    let e = entry(&page);
    assert_eq!(e["details"]["plate"], "erased");
    assert_eq!(e["details"]["case_number"], "26-04711", "the rest stays");
    h.cancel.cancel();
}

/// A query approved for another agency is shared only if the agency is still
/// on the verified list when it runs: the city took it off meanwhile, and the
/// run is refused, audited, nothing returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_query_for_an_agency_taken_off_the_list_does_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config_embedded(dir.path());
    cfg.alpr.verified_agencies = vec!["Iowa DCI".into()];
    let h = start(cfg.clone(), None).await;
    let op = operator(&h, "op", "2099-01-01T00:00:00Z").await;
    let sup = qualified_user(&h, "sup", "supervisor", "police").await;
    let r = search(&h, &op, search_req("ABC1234", "26-04711", "Iowa DCI"))
        .await
        .unwrap();
    decide(&h, &sup, &r.pending_approval, true, "DCI case 4711")
        .await
        .unwrap();
    cfg.alpr.verified_agencies = vec![];
    let h = restart(h, cfg).await;
    let e = pb::alpr_approvals_client::AlprApprovalsClient::new(h.channel.clone())
        .run(req(
            &op,
            pb::RunApprovedRequest {
                id: r.pending_approval.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("verified list"), "{e:?}");
    h.stop().await;
}

/// A long queue comes in pages under the reply limit, in the list's order
/// (requested, then id), each approval once; the CLI follows them.
#[tokio::test]
async fn the_approval_queue_comes_in_pages() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    let sup = qualified_user(&h, "sup", "supervisor", "police").await;
    let store = &h.running.controller.store;
    let n = 3000u64;
    let why = "x".repeat(500);
    for batch in (0..n).collect::<Vec<_>>().chunks(100) {
        let ops = batch
            .iter()
            .map(|i| {
                // Two per millisecond, so the page key's id part decides ties.
                let ms = 1_780_000_000_000 + i / 2;
                let id = format!("aq-{ms}-{i:08x}");
                let at = jiff::Timestamp::from_millisecond(ms as i64).unwrap();
                let a = serde_json::json!({
                    "id": id, "state": "pending", "requested_by": "op",
                    "requested_at": at, "plate": "ABC*", "case_number": "26-00001",
                    "purpose": "stolen_vehicle", "from": at, "until": at,
                    "reasons": [why],
                });
                camplane_controller::store::Op::Put(
                    format!("{}{id}", camplane_controller::alpr::approval::APPROVALS),
                    serde_json::to_vec(&a).unwrap(),
                )
            })
            .collect();
        store.txn(vec![], ops).await.unwrap();
    }
    let mut client = approvals(&h);
    let (mut ids, mut after, mut pages) = (Vec::new(), String::new(), 0);
    loop {
        let r = client
            .list(req(
                &sup,
                pb::AlprApprovalsRequest {
                    all: false,
                    after: after.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let bytes: usize = r.objects.iter().map(|o| o.json.len()).sum();
        assert!(bytes <= camplane_proto::limits::REPLY_PAGE_BYTES, "{bytes}");
        pages += 1;
        ids.extend(r.objects.into_iter().map(|o| o.name));
        if r.next_after.is_empty() {
            break;
        }
        assert!(r.next_after > after, "pages move forward");
        after = r.next_after;
    }
    assert!(pages >= 2, "{pages} pages");
    let want: Vec<String> = (0..n)
        .map(|i| format!("aq-{}-{i:08x}", 1_780_000_000_000 + i / 2))
        .collect();
    assert_eq!(ids, want, "every approval once, in order");
}
