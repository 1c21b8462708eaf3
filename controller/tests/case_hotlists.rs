//! Custom and investigative hotlists at a real controller on an injected
//! clock: each is one case's list, loaded with a case, a purpose and an
//! expiry at most 30 days ahead; it waits for a supervisor other than the
//! loader, lapses at its expiry (and is then no longer served), and is
//! extended only by a new load with a new approval. Every side door is
//! refused and audited; the legitimate path works. Also the bounds on a
//! hotlist upload (#22): bytes, rows, and control characters in fields.

use camplane_controller::clock::ManualClock;
use camplane_proto::v1 as pb;
use camplane_testkit::controller::*;
use std::sync::Arc;
use tonic::Code;

const LIST: &str = "custom.investigative.26-04711";

fn custom(csv: &str, case: &str, purpose: &str, expires: &str) -> pb::HotlistLoadRequest {
    pb::HotlistLoadRequest {
        source: "CUSTOM".into(),
        category: "investigative".into(),
        file_name: "case.csv".into(),
        csv: csv.as_bytes().to_vec(),
        mode: "replace".into(),
        case_number: case.into(),
        purpose: purpose.into(),
        expires: expires.into(),
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

async fn decide(
    h: &Harness,
    token: &str,
    id: &str,
    approve: bool,
    reason: &str,
) -> Result<serde_json::Value, tonic::Status> {
    let o = pb::alpr_approvals_client::AlprApprovalsClient::new(h.channel.clone())
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

/// Entries of `action` by `actor` whose result starts with `result`.
fn count(log: &[serde_json::Value], action: &str, actor: &str, result: &str) -> usize {
    log.iter()
        .filter(|e| {
            e["action"] == action
                && e["actor"] == actor
                && e["result"].as_str().unwrap_or("").starts_with(result)
        })
        .count()
}

/// Signs the admin and `name` in again (the clock moved past their sessions).
async fn relogin(h: &mut Harness, name: &str) -> String {
    let ctl = h.running.controller.clone();
    h.admin = login(
        &h.channel,
        &ctl.config.auth.initial_admin,
        h.running.initial_password.as_deref().unwrap(),
    )
    .await
    .unwrap();
    login(&h.channel, name, &format!("{name}-password-123"))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_lists_need_a_case_an_approval_and_an_end() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new("2026-06-01T12:00:00Z".parse().unwrap());
    let mut h = start(config_embedded(dir.path()), Some(Arc::new(clock.clone()))).await;
    let sgt = qualified_user(&h, "sgt", "supervisor", "police").await;
    let lt = qualified_user(&h, "lt", "supervisor", "police").await;
    let chief = user(&h, "chief", &["chief"], "police").await;
    let ctl = h.running.controller.clone();
    let csv = "plate,state,reason\nINV1,IA,seen at the burglary\n";

    // Side doors at the load: each missing or bad flag is named, nothing is
    // stored, and each refusal is audited.
    let mut refusals = 0;
    for (case, purpose, expires, flag) in [
        ("", "burglary", "2026-06-10", "--case"),
        ("26-04711", "", "2026-06-10", "--purpose"),
        ("26-04711", "burglary", "", "--expires"),
        ("26-04711", "burglary", "2026-07-02", "--expires"), // more than 30 days
        ("26-04711", "burglary", "2026-07-01T12:00:01Z", "--expires"),
        ("26-04711", "burglary", "2026-05-31", "--expires"), // past
        ("26-04711", "burglary", "next week", "--expires"),
        ("26/04711", "burglary", "2026-06-10", "--case"), // charset
        ("4711", "burglary", "2026-06-10", "--case"),     // the city's format
        ("26-04711", "bur\0glary", "2026-06-10", "--purpose"),
        ("26-04711", &"x".repeat(201), "2026-06-10", "--purpose"),
        // A purpose the policy prohibits, named in the free text.
        (
            "26-04711",
            "immigration_enforcement",
            "2026-06-10",
            "--purpose",
        ),
        (
            "26-04711",
            "Traffic enforcement sweep",
            "2026-06-10",
            "--purpose",
        ),
    ] {
        let e = load(&h, &sgt, custom(csv, case, purpose, expires))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{flag}: {e:?}");
        assert!(e.message().contains(flag), "{flag}: {}", e.message());
        refusals += 1;
    }
    // An NCIC list of the investigative category is the department's too; a
    // state-feed list takes no case.
    let mut q = custom(csv, "", "", "");
    q.source = "NCIC".into();
    let e = load(&h, &sgt, q).await.unwrap_err();
    assert!(e.message().contains("--case"), "{e:?}");
    let mut q = custom(csv, "26-04711", "burglary", "2026-06-10");
    q.category = "stolen_vehicle".into();
    q.source = "NCIC".into();
    let e = load(&h, &sgt, q).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("--case"), "{e:?}");
    refusals += 2;
    assert!(ctl.all_hotlists().is_empty(), "nothing stored");
    let log = audit_log(&h).await;
    assert_eq!(count(&log, "hotlist.load", "sgt", "refused"), refusals);

    // The legitimate load waits for a supervisor: exit 4's id, nothing served.
    // A date is the end of that day, UTC; 30 days ahead to the second is allowed.
    let r = load(
        &h,
        &sgt,
        custom(csv, "26-04711", "burglary", "2026-07-01T12:00:00Z"),
    )
    .await
    .unwrap();
    assert!(r.pending_approval.starts_with("ah-"), "{r:?}");
    let r = load(&h, &sgt, custom(csv, "26-04711", "burglary", "2026-06-10"))
        .await
        .unwrap();
    let id = r.pending_approval.clone();
    assert!(id.starts_with("ah-"), "{r:?}");
    assert_eq!((r.list.as_str(), r.entries, r.version), (LIST, 1, 0));
    assert!(ctl.hotlists().is_empty() && ctl.all_hotlists().is_empty());
    let pending = pb::alpr_approvals_client::AlprApprovalsClient::new(h.channel.clone())
        .list(req(
            &lt,
            pb::AlprApprovalsRequest {
                all: false,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        pending.objects.len(),
        2,
        "both loads in the supervisors' queue"
    );

    // One person, one step: the loader may not approve it, nor the chief (not
    // a supervisor); it is no query to run. Refusals audited; nothing served.
    let e = decide(&h, &sgt, &id, true, "mine").await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("your own"), "{e:?}");
    let e = decide(&h, &chief, &id, true, "ok").await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let e = pb::alpr_approvals_client::AlprApprovalsClient::new(h.channel.clone())
        .run(req(
            &sgt,
            pb::RunApprovedRequest {
                id: id.clone(),
                timeout_ms: 100,
            },
        ))
        .await
        .unwrap_err();
    assert_ne!(e.code(), Code::Ok);
    assert!(ctl.all_hotlists().is_empty());
    let log = audit_log(&h).await;
    assert_eq!(count(&log, "hotlist.load.pending", "sgt", "pending"), 2);
    assert_eq!(count(&log, "alpr.approval.approve", "sgt", "denied"), 1);
    assert_eq!(count(&log, "alpr.approval.approve", "chief", "denied"), 1);

    // Another supervisor approves: the list is served, with its case and expiry.
    let a = decide(&h, &lt, &id, true, "case 26-04711 is open")
        .await
        .unwrap();
    assert_eq!(a["state"], "approved");
    let info = ctl.hotlists();
    assert_eq!(info.len(), 1);
    let i = &info[0];
    assert_eq!((i.list.as_str(), i.version, i.entries), (LIST, 1, 1));
    assert_eq!(
        (i.loaded_by.as_str(), i.approved_by.as_deref()),
        ("sgt", Some("lt"))
    );
    let case = i.case.clone().unwrap();
    assert_eq!(case.case_number, "26-04711");
    assert_eq!(case.expires.to_string(), "2026-06-10T23:59:59Z");
    // The expiry travels with the list to the agents.
    let u = ctl.hotlist_update(i, 0).await.unwrap();
    assert_eq!(u.expires, Some(case.expires));
    assert_eq!(u.delta.upsert[0].plate, "INV1");
    // A decision is final.
    let e = decide(&h, &lt, &id, false, "changed my mind")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    let log = audit_log(&h).await;
    let ok = log
        .iter()
        .find(|e| e["action"] == "alpr.approval.approve" && e["actor"] == "lt")
        .expect("the approval audited");
    assert_eq!(ok["details"]["list"], LIST);
    assert_eq!(ok["details"]["load"]["entries"], 1);

    // Rejection, with a reason: the entries never load.
    let r = load(
        &h,
        &sgt,
        custom("plate\nNEW2\n", "26-04711", "burglary", "2026-06-10"),
    )
    .await
    .unwrap();
    let rejected = r.pending_approval;
    let e = decide(&h, &lt, &rejected, false, " ").await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let a = decide(&h, &lt, &rejected, false, "not part of the case")
        .await
        .unwrap();
    assert_eq!(a["state"], "rejected");
    assert_eq!(ctl.hotlists()[0].version, 1);

    // Extending is a new load with a new approval: until it is approved the
    // old expiry stands, and the list lapses at it.
    let r = load(&h, &sgt, custom(csv, "26-04711", "burglary", "2026-06-25"))
        .await
        .unwrap();
    let extension = r.pending_approval;
    let late = load(&h, &sgt, custom(csv, "26-04711", "burglary", "2026-06-12"))
        .await
        .unwrap()
        .pending_approval;
    // The loader cannot approve the extension, and no apply or edit reaches a
    // list: a Hotlist is no object kind. Both refusals audited.
    let e = decide(&h, &sgt, &extension, true, "mine")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let edit = pb::Object {
        kind: "Hotlist".into(),
        name: LIST.into(),
        json: br#"{"spec": {"expires": "2026-06-30T00:00:00Z"}}"#.to_vec(),
        revision: 0,
    };
    let e = pb::objects_client::ObjectsClient::new(h.channel.clone())
        .apply(req(
            &h.admin,
            pb::ApplyRequest {
                objects: vec![edit],
                source: "edit".into(),
                dry_run: false,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("unknown kind"), "{e:?}");
    let log = audit_log(&h).await;
    assert_eq!(count(&log, "alpr.approval.approve", "sgt", "denied"), 2);
    assert!(log.iter().any(|e| e["action"] == "apply"
        && e["kind"] == "Hotlist"
        && e["result"].as_str().unwrap().starts_with("refused")));
    assert_eq!(ctl.hotlists()[0].expires(), Some(case.expires));
    clock.set("2026-06-11T00:00:00Z".parse().unwrap());
    assert!(ctl.hotlists().is_empty(), "not served past its expiry");
    // The housekeeping job may have lapsed it already; either way, once.
    assert!(ctl.lapse_hotlists().await.unwrap() <= 1);
    assert_eq!(ctl.lapse_hotlists().await.unwrap(), 0, "once");
    let all = ctl.all_hotlists();
    assert_eq!((all[0].version, all[0].entries), (2, 0));
    assert!(all[0].lapsed_at.is_some());
    let u = ctl.hotlist_update(&all[0], 1).await.unwrap();
    assert_eq!(u.delta.remove, vec!["INV1/IA".to_string()]);

    // Sessions have expired with the clock: sign in again.
    let lt = relogin(&mut h, "lt").await;
    decide(&h, &lt, &extension, true, "the case goes on")
        .await
        .unwrap();
    let info = ctl.hotlists();
    assert_eq!(info.len(), 1, "revived by the approved extension");
    assert_eq!((info[0].version, info[0].entries), (3, 1));
    assert!(info[0].lapsed_at.is_none());
    assert_eq!(
        info[0].expires().unwrap().to_string(),
        "2026-06-25T23:59:59Z"
    );
    // A load whose expiry passed while it waited cannot be approved.
    clock.set("2026-06-13T00:00:00Z".parse().unwrap());
    let lt = relogin(&mut h, "lt").await;
    let e = decide(&h, &lt, &late, true, "late").await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("expiry"), "{e:?}");
    assert_eq!(ctl.hotlists()[0].version, 3);

    let log = audit_log(&h).await;
    assert_eq!(count(&log, "hotlist.lapse", "system", "ok"), 1);
    assert_eq!(count(&log, "alpr.approval.approve", "lt", "refused"), 1);
    assert!(verify(&h).await.ok);
    h.cancel.cancel();
}

/// #22: a hotlist upload is bounded in bytes and rows (config keys, named in
/// the refusal with the file), and NUL or control characters in its fields
/// are refused with the line and the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_bounded_and_fields_hold_no_control_characters() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config_embedded(dir.path());
    cfg.hotlists.max_file_bytes = 200;
    cfg.hotlists.max_entries = 3;
    let h = start(cfg, None).await;
    let sgt = qualified_user(&h, "sgt", "supervisor", "police").await;
    let ncic = |name: &str, csv: String| pb::HotlistLoadRequest {
        source: "NCIC".into(),
        category: "stolen_vehicle".into(),
        file_name: name.into(),
        csv: csv.into_bytes(),
        ..Default::default()
    };
    let e = load(
        &h,
        &sgt,
        ncic("big.csv", format!("plate\n{}", "AB1234\n".repeat(30))),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().contains("big.csv") && e.message().contains("hotlists.max_file_bytes"),
        "{e:?}"
    );
    let e = load(&h, &sgt, ncic("many.csv", "plate\nA1\nB2\nC3\nD4\n".into()))
        .await
        .unwrap_err();
    assert!(
        e.message().contains("many.csv") && e.message().contains("hotlists.max_entries"),
        "{e:?}"
    );
    let e = load(&h, &sgt, ncic("a\u{1b}[2J.csv", "plate\nA1\n".into()))
        .await
        .unwrap_err();
    assert!(e.message().contains("file name"), "{e:?}");
    let log = audit_log(&h).await;
    assert_eq!(count(&log, "hotlist.load", "sgt", "refused"), 3);

    // At the limits, and with a bad field on one line: the rest loads.
    let r = load(
        &h,
        &sgt,
        ncic(
            "ok.csv",
            "plate,state,reason\nA1,IA,fine\nB2,IA,\"nul\0here\"\nC3,IA,\"two\nlines\"\n".into(),
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.entries, 2);
    assert_eq!(r.bad_rows.len(), 1);
    assert_eq!(r.bad_rows[0].line, 3);
    assert!(r.bad_rows[0].reason.contains("field reason"), "{r:?}");
    h.cancel.cancel();
}

/// The wire's limit and the config's ceiling agree.
#[test]
fn the_config_ceiling_is_the_wire_limit() {
    assert_eq!(
        camplane_config::controller::HOTLIST_WIRE_MAX_FILE,
        camplane_proto::limits::HOTLIST_MAX_FILE as u64
    );
}
