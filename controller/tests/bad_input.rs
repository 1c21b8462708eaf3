//! Bad input: an expired token, a forged token, case numbers with
//! SQL or shell injection or 10 kB long, plate patterns that match everything,
//! a reversed and a three-year time range, an export without a proper
//! recipient. Each is a clear refusal: the right gRPC code, a message naming the
//! field, the input not echoed back in full, nothing returned; refused queries
//! and exports are audited (the spec logs them); token refusals happen before
//! anyone is known and write nothing.

use camplane_controller::clock::ManualClock;
use camplane_proto::v1 as pb;
use camplane_testkit::controller::*;
use jiff::{SignedDuration, Timestamp};
use std::sync::Arc;
use std::time::Duration;
use tonic::Code;

fn search_req(plate: &str, case: &str, from: &str, to: &str) -> pb::SearchRequest {
    pb::SearchRequest {
        plate: plate.into(),
        case_number: case.into(),
        purpose: "stolen_vehicle".into(),
        from: from.into(),
        to: to.into(),
        timeout_ms: 1000,
        ..Default::default()
    }
}

/// The refusal is `code`, names `field`, and does not carry `input` back (when
/// the input is longer than 20 characters, not even its whole).
fn assert_refusal(e: &tonic::Status, code: Code, field: &str, input: &str) {
    assert_eq!(e.code(), code, "{e:?}");
    assert!(
        e.message().contains(field),
        "names {field}: {}",
        e.message()
    );
    if input.len() > 20 {
        assert!(
            !e.message().contains(input),
            "echoes the input: {}",
            e.message()
        );
    }
    assert!(e.message().len() < 400, "short: {}", e.message());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let exports = dir.path().join("exports");
    std::fs::create_dir_all(&exports).unwrap();
    let cfg = config_embedded(&dir.path().join("store"));
    let ttl = cfg.auth.token_ttl_minutes;
    let clock = ManualClock::new(Timestamp::now());
    let h = start(cfg, Some(Arc::new(clock.clone()))).await;
    apply(&h, &h.admin, CITY).await.unwrap();
    let op = qualified_user(&h, "op", "alpr_operator", "police").await;
    let chief = qualified_user(&h, "chief", "chief", "police").await;
    let alpr = pb::alpr_client::AlprClient::new(h.channel.clone());
    let now = h.running.controller.now();
    let to = now.to_string();
    let from = (now - SignedDuration::from_hours(24)).to_string();

    // Case numbers, plates, time ranges: InvalidArgument, each audited once.
    let before = audit_log(&h).await.len();
    let long_case = "2".repeat(10_000);
    let three_years_ago = (now - SignedDuration::from_hours(24 * 365 * 3)).to_string();
    let cases: Vec<(pb::SearchRequest, &str, String)> = vec![
        (
            search_req("ABC1234", "26-04711'; DROP TABLE reads; --", &from, &to),
            "case number",
            "26-04711'; DROP TABLE reads; --".into(),
        ),
        (
            search_req("ABC1234", "26-04711 $(rm -rf /) `id`", &from, &to),
            "case number",
            "26-04711 $(rm -rf /) `id`".into(),
        ),
        (
            search_req("ABC1234", &long_case, &from, &to),
            "case number",
            long_case.clone(),
        ),
        (search_req("*", "26-04711", &from, &to), "plate", "*".into()),
        (
            search_req("???*", "26-04711", &from, &to),
            "plate",
            "???*".into(),
        ),
        (
            search_req("ABC1234", "26-04711", &to, &from),
            "from",
            String::new(),
        ),
        (
            search_req("ABC1234", "26-04711", &three_years_ago, &to),
            "time range",
            String::new(),
        ),
        // No `from`, and a `to` with no 30 days before it: refused, not a panic
        // that would drop the connection unaudited.
        (
            search_req("ABC1234", "26-04711", "", "-009999-01-10T00:00:00Z"),
            "--to",
            String::new(),
        ),
    ];
    let n = cases.len();
    for (r, field, input) in cases {
        let e = alpr.clone().search(req(&op, r)).await.unwrap_err();
        assert_refusal(&e, Code::InvalidArgument, field, &input);
    }
    let log = audit_log(&h).await;
    let new = &log[before..];
    assert_eq!(new.len(), n, "each refusal audited once: {new:#?}");
    for e in new {
        assert_eq!(e["action"], "alpr.search");
        assert_eq!(e["actor"], "op");
        assert!(e["result"].as_str().unwrap().starts_with("denied"));
        assert!(
            e["details"]["case_number"].as_str().unwrap().len() <= 64,
            "the audit keeps at most 64 characters of a case number"
        );
    }

    // An export's recipient: missing, without an agency, 10 kB long, or with
    // control characters that would forge a line of the audit display:
    // InvalidArgument naming the recipient, audited.
    let before = audit_log(&h).await.len();
    let long_recipient = format!("{}, Agency", "n".repeat(10_000));
    let recipients = [
        "",
        "A. Jones",
        long_recipient.as_str(),
        "A. Jones, DA\nadmin audit.cleared ok",
        "A. Jones, \u{1b}[2JDA",
    ];
    for recipient in recipients {
        let e = pb::recordings_client::RecordingsClient::new(h.channel.clone())
            .export(req(
                &chief,
                pb::ExportRequest {
                    camera: "cam-1".into(),
                    from: from.clone(),
                    to: to.clone(),
                    case_number: "26-04711".into(),
                    out_dir: exports.display().to_string(),
                    recipient: recipient.into(),
                    masked: false,
                    police_use: false,
                },
            ))
            .await
            .expect_err("refused");
        assert_refusal(&e, Code::InvalidArgument, "recipient", recipient);
    }
    let log = audit_log(&h).await;
    let new = &log[before..];
    assert_eq!(new.len(), recipients.len());
    for e in new {
        assert_eq!(e["action"], "recordings.export");
        assert!(e["result"].as_str().unwrap().starts_with("refused"));
        let r = e["details"]["recipient"].as_str().unwrap();
        assert!(
            r.len() <= 2 * camplane_export::MAX_RECIPIENT && !r.chars().any(char::is_control),
            "bounded and escaped: {r:?}"
        );
    }

    // A forged token: Unauthenticated, nothing returned, nothing written.
    // The leader's hourly checkpoint (the clock passes hours below) is its own
    // background entry, not one of these calls'.
    let calls_log = |log: Vec<serde_json::Value>| -> Vec<serde_json::Value> {
        log.into_iter()
            .filter(|e| e["action"] != "audit.checkpoint")
            .collect()
    };
    let before = calls_log(audit_log(&h).await).len();
    let forged = format!("cpt_{}", "ab".repeat(32));
    let e = alpr
        .clone()
        .search(req(&forged, search_req("ABC1234", "26-04711", &from, &to)))
        .await
        .unwrap_err();
    assert_refusal(&e, Code::Unauthenticated, "token", &forged);
    // An expired token: the same, once the clock passes auth.token_ttl_minutes.
    clock.advance(Duration::from_secs(ttl * 60 + 1));
    let e = alpr
        .clone()
        .search(req(&op, search_req("ABC1234", "26-04711", &from, &to)))
        .await
        .unwrap_err();
    assert_refusal(&e, Code::Unauthenticated, "token expired", &op);
    let e = pb::auth_client::AuthClient::new(h.channel.clone())
        .who_am_i(req(&op, pb::Empty {}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    // The admin's token expired too: sign in again to read the log.
    let mut h = h;
    let pw = h
        .running
        .initial_password
        .clone()
        .unwrap_or_else(|| ADMIN_PW.into());
    h.admin = login(&h.channel, "admin", &pw).await.unwrap();
    let log = calls_log(audit_log(&h).await);
    assert_eq!(
        log.len(),
        before + 1,
        "only the admin's new login: {:#?}",
        &log[before..]
    );
    assert_eq!(log[before]["action"], "login");
    assert!(verify(&h).await.ok);
    h.cancel.cancel();
}
