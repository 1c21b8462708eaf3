//! Alert verification at a real controller (embedded store, TLS): alerts start
//! unverified; an operator records both checks (verified) or rejects them; only
//! verified alerts are actioned, with a case number in the city's format; steps
//! out of order, bad input and the wrong roles are refused and audited.

use camplane_proto::v1 as pb;
use camplane_testkit::controller::*;
use tonic::Code;

async fn raise(h: &Harness, token: &str, key: &str, plate: &str) -> String {
    let fleet = fleet(h).await;
    let report = serde_json::json!({
        "read_id": format!("1780000000000-{plate}"), "camera": "lpr-1", "plate": plate,
        "time": "2026-06-01T12:00:00Z", "confidence": 0.93,
        "list": "ncic.stolen_vehicle", "source": "NCIC", "category": "stolen_vehicle",
        "list_version": 1, "entry": {"plate": plate, "state": "IA", "reason": "stolen 05/30"},
        "matched_at": "2026-06-01T12:00:01Z",
    });
    assert!(fleet
        .store_report("gw", key, "alert", &serde_json::to_vec(&report).unwrap(), 1)
        .await
        .unwrap());
    let all = alerts(h, token).await;
    all.iter().find(|a| a["plate"] == plate).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn alerts(h: &Harness, token: &str) -> Vec<serde_json::Value> {
    pb::alerts_client::AlertsClient::new(h.channel.clone())
        .list(req(token, pb::AlertsRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .objects
        .iter()
        .map(|o| serde_json::from_slice(&o.json).unwrap())
        .collect()
}

fn verify_req(id: &str, visual: &str, state: &str) -> pb::AlertReviewRequest {
    pb::AlertReviewRequest {
        id: id.into(),
        action: "verify".into(),
        visual: visual.into(),
        state_check: state.into(),
        note: "crop matches; NCIC hit confirmed by dispatch".into(),
        ..Default::default()
    }
}

fn reject_req(id: &str, reason: &str, note: &str) -> pb::AlertReviewRequest {
    pb::AlertReviewRequest {
        id: id.into(),
        action: "reject".into(),
        reason: reason.into(),
        note: note.into(),
        ..Default::default()
    }
}

fn act_req(id: &str, case: &str) -> pb::AlertReviewRequest {
    pb::AlertReviewRequest {
        id: id.into(),
        action: "act".into(),
        case_number: case.into(),
        ..Default::default()
    }
}

async fn review(
    h: &Harness,
    token: &str,
    r: pb::AlertReviewRequest,
) -> Result<serde_json::Value, tonic::Status> {
    let o = pb::alert_review_client::AlertReviewClient::new(h.channel.clone())
        .review(req(token, r))
        .await?
        .into_inner();
    Ok(serde_json::from_slice(&o.json).unwrap())
}

#[tokio::test]
async fn alerts_are_verified_then_actioned_with_a_case_number() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    let op = user(&h, "op", &["alpr_operator"], "police").await;
    qualify_operator(&h, "op", &["alpr_operator"], "2099-01-01T00:00:00Z").await;
    // Holds the role but lacks training and certification.
    let raw = user(&h, "raw", &["alpr_operator"], "police").await;
    let sup = qualified_user(&h, "sup", "supervisor", "police").await;
    let a1 = raise(&h, &op, "k-1", "ABC1234").await;
    let a2 = raise(&h, &op, "k-2", "XYZ999").await;
    let a3 = raise(&h, &op, "k-3", "LMN555").await;
    assert!(alerts(&h, &op)
        .await
        .iter()
        .all(|a| a["status"] == "unverified"));

    // Not verified yet: it cannot be actioned.
    let e = review(&h, &op, act_req(&a1, "26-01234")).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains("unverified"), "{}", e.message());
    // Who may: operators only, and qualified ones.
    let e = review(&h, &sup, verify_req(&a1, "confirmed", "confirmed"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let e = review(&h, &raw, verify_req(&a1, "confirmed", "confirmed"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    // Both checks must be confirmed; a failed one is a rejection.
    let e = review(&h, &op, verify_req(&a1, "confirmed", "mismatch"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("reject"), "{}", e.message());
    // Unknown alert; oversized note.
    let e = review(&h, &op, verify_req("1-gw-nope", "confirmed", "confirmed"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let mut big = verify_req(&a1, "confirmed", "confirmed");
    big.note = "n".repeat(10_000);
    let e = review(&h, &op, big).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);

    // Verify, then act with a case number.
    let v = review(&h, &op, verify_req(&a1, "confirmed", "confirmed"))
        .await
        .unwrap();
    assert_eq!(v["status"], "verified");
    assert_eq!(v["steps"][0]["by"], "op");
    assert_eq!(v["steps"][0]["visual"], "confirmed");
    assert_eq!(v["steps"][0]["state_check"], "confirmed");
    assert!(v["steps"][0]["at"].is_string());
    let e = review(&h, &op, verify_req(&a1, "confirmed", "confirmed"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "verified once");
    for bad in [
        "",
        "26-1",
        "26-01234'; DROP TABLE alerts; --",
        &"9".repeat(10_000),
    ] {
        let e = review(&h, &op, act_req(&a1, bad)).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{bad:.20}");
        assert!(e.message().contains("case number") && !e.message().contains("DROP"));
    }
    let done = review(&h, &op, act_req(&a1, "26-01234")).await.unwrap();
    assert_eq!(done["status"], "actioned");
    assert_eq!(done["case_number"], "26-01234");
    assert_eq!(done["steps"].as_array().unwrap().len(), 2);
    let e = review(&h, &op, reject_req(&a1, "misread", ""))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "actioned is final");

    // Rejections: a known reason; `other` needs a note; rejected alerts go no further.
    let e = review(&h, &op, reject_req(&a2, "looked_odd", ""))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = review(&h, &op, reject_req(&a2, "other", " "))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let r = review(&h, &op, reject_req(&a2, "misread", "8 read as B"))
        .await
        .unwrap();
    assert_eq!(r["status"], "rejected");
    assert_eq!(r["steps"][0]["reason"], "misread");
    let e = review(&h, &op, verify_req(&a2, "confirmed", "confirmed"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    let e = review(&h, &op, act_req(&a2, "26-01234")).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    // A verified alert can still be rejected (the state system changed its mind).
    review(&h, &op, verify_req(&a3, "confirmed", "confirmed"))
        .await
        .unwrap();
    review(&h, &op, reject_req(&a3, "expired_entry", ""))
        .await
        .unwrap();

    // alerts list shows each state.
    let all = alerts(&h, &op).await;
    let state = |id: &str| all.iter().find(|a| a["id"] == id).unwrap()["status"].clone();
    assert_eq!(
        (state(&a1), state(&a2), state(&a3)),
        ("actioned".into(), "rejected".into(), "rejected".into())
    );

    // Every step and refusal is audited with who.
    let log = audit_log(&h).await;
    let of = |action: &str, ok: bool| {
        log.iter()
            .filter(|e| e["action"] == action && (e["result"] == "ok") == ok)
            .count()
    };
    assert_eq!(of("alert.verify", true), 2);
    assert_eq!(of("alert.act", true), 1);
    assert_eq!(of("alert.reject", true), 2);
    // verify: supervisor, unqualified, mismatch, unknown, big note, twice, rejected
    assert_eq!(of("alert.verify", false), 7);
    // act: unverified, 4 bad case numbers, rejected
    assert_eq!(of("alert.act", false), 6);
    // reject: actioned, unknown reason, `other` without a note
    assert_eq!(of("alert.reject", false), 3);
    let acted = log
        .iter()
        .find(|e| e["action"] == "alert.act" && e["result"] == "ok")
        .unwrap();
    assert_eq!(acted["actor"], "op");
    assert_eq!(acted["details"]["case_number"], "26-01234");
    assert_eq!(acted["details"]["from"], "verified");
    assert!(
        log.iter()
            .filter(|e| e["action"] == "alert.act")
            .all(|e| e.to_string().len() < 4000),
        "oversized input is not copied into the log"
    );
    assert!(verify(&h).await.ok);
    h.cancel.cancel();
}
