//! The monthly audit report at a real controller on a manual clock: a month of
//! activity (logins, failed logins, searches, a refused one with hostile input,
//! an approved pattern, a hold, alert steps) and activity just outside the month
//! in the city's time zone; the report counts exactly the month's entries, is
//! byte-for-byte the same when made again, escapes what users typed, is only for
//! auditors and admins, and its making is audited.

use camplane_controller::clock::ManualClock;
use camplane_proto::v1 as pb;
use camplane_testkit::controller::*;
use std::sync::Arc;
use tonic::Code;

fn search_req(plate: &str, case: &str, purpose: &str) -> pb::SearchRequest {
    pb::SearchRequest {
        plate: plate.into(),
        case_number: case.into(),
        purpose: purpose.into(),
        timeout_ms: 200,
        ..Default::default()
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

/// The report's files, joined from their chunks.
#[derive(Debug)]
struct Report {
    html: Vec<u8>,
    csv: Vec<u8>,
    entries: u64,
}

async fn report(h: &Harness, token: &str, month: &str) -> Result<Report, tonic::Status> {
    let (html, csv, entries) = audit_report(h, token, month).await?;
    Ok(Report { html, csv, entries })
}

/// The CSV's value at (section, row, column).
fn cell(csv: &str, section: &str, row: usize, col: &str) -> Option<String> {
    csv.lines()
        .filter_map(|l| {
            let mut it = l.splitn(4, ',');
            Some((it.next()?, it.next()?, it.next()?, it.next()?))
        })
        .find(|(s, r, c, _)| *s == section && *r == row.to_string() && *c == col)
        .map(|(_, _, _, v)| v.to_string())
}

/// The row number of the row whose `col` is `value` in `section`.
fn row_of(csv: &str, section: &str, col: &str, value: &str) -> Option<usize> {
    csv.lines()
        .filter_map(|l| {
            let mut it = l.splitn(4, ',');
            Some((it.next()?, it.next()?, it.next()?, it.next()?))
        })
        .find(|(s, _, c, v)| *s == section && *c == col && *v == value)
        .and_then(|(_, r, _, _)| r.parse().ok())
}

#[tokio::test]
async fn monthly_report_counts_the_months_entries_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new("2026-09-30T12:00:00Z".parse().unwrap());
    let h = start(config_embedded(dir.path()), Some(Arc::new(clock.clone()))).await;
    // September (city time, America/Chicago): setup.
    apply(&h, &h.admin, CITY).await.unwrap();
    let pw = |u: &str| format!("{u}-password-123");
    user(&h, "op", &["alpr_operator"], "police").await;
    qualify_operator(&h, "op", &["alpr_operator"], "2099-01-01T00:00:00Z").await;
    qualified_user(&h, "sup", "supervisor", "police").await;
    user(&h, "chief", &["chief"], "police").await;
    user(&h, "aud", &["auditor"], "").await;
    user(&h, "viewer", &["viewer"], "police").await;
    // 03:00 UTC on 1 October is still 30 September in Chicago.
    clock.set("2026-10-01T03:00:00Z".parse().unwrap());
    login(&h.channel, "op", "wrong-password").await.unwrap_err();

    // October.
    clock.set("2026-10-02T15:00:00Z".parse().unwrap());
    login(&h.channel, "op", "wrong-password").await.unwrap_err();
    login(&h.channel, "op", "wrong-again-password")
        .await
        .unwrap_err();
    let op = login(&h.channel, "op", &pw("op")).await.unwrap();
    let sup = login(&h.channel, "sup", &pw("sup")).await.unwrap();
    let chief = login(&h.channel, "chief", &pw("chief")).await.unwrap();
    search(&h, &op, search_req("ABC1234", "26-04711", "stolen_vehicle"))
        .await
        .unwrap();
    search(&h, &op, search_req("ABC1234", "26-04711", "warrant"))
        .await
        .unwrap();
    search(&h, &op, search_req("KLM555", "26-04999", "missing_person"))
        .await
        .unwrap();
    search(
        &h,
        &op,
        search_req("ABC1234", "26-04711", "immigration_enforcement"),
    )
    .await
    .unwrap_err();
    let hostile = "<script>alert(1)</script>";
    search(&h, &op, search_req("ABC1234", hostile, "stolen_vehicle"))
        .await
        .unwrap_err();
    search(
        &h,
        &op,
        search_req("ABC1234", "=HYPERLINK(\"x\")", "stolen_vehicle"),
    )
    .await
    .unwrap_err();
    let pending = search(&h, &op, search_req("AB?12*", "26-05000", "stolen_vehicle"))
        .await
        .unwrap()
        .pending_approval;
    pb::alpr_approvals_client::AlprApprovalsClient::new(h.channel.clone())
        .decide(req(
            &sup,
            pb::AlprApprovalDecision {
                id: pending.clone(),
                approve: true,
                reason: "witness saw AB?12".into(),
            },
        ))
        .await
        .unwrap();
    let hold = serde_json::json!({"case_number": "26-04711", "cameras": ["cam-1"], "from": "2026-10-01T00:00:00Z", "until": "2026-10-02T00:00:00Z", "reason": "criminal_investigation"});
    pb::holds_client::HoldsClient::new(h.channel.clone())
        .create(req(
            &chief,
            pb::SubmitRequest {
                json: serde_json::to_vec(&hold).unwrap(),
            },
        ))
        .await
        .unwrap();
    // The last instant of October in Chicago (04:59 UTC on 1 November).
    clock.set("2026-11-01T04:59:59Z".parse().unwrap());
    let op = login(&h.channel, "op", &pw("op")).await.unwrap();
    search(&h, &op, search_req("ZZZ999", "26-04712", "warrant"))
        .await
        .unwrap();

    // November (from 05:00 UTC): not in October's report.
    clock.set("2026-11-01T05:00:00Z".parse().unwrap());
    search(&h, &op, search_req("NOV1111", "26-09999", "warrant"))
        .await
        .unwrap();
    let aud = login(&h.channel, "aud", &pw("aud")).await.unwrap();
    let viewer = login(&h.channel, "viewer", &pw("viewer")).await.unwrap();

    // Who may: auditors and admins; bad months are refused.
    let e = report(&h, &viewer, "2026-10").await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let e = report(&h, &op, "2026-10").await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    for bad in ["2026-13", "October", "2026-10/../../etc", ""] {
        let e = report(&h, &aud, bad).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{bad}");
        assert!(e.message().contains("YYYY-MM"), "{}", e.message());
    }

    let r = report(&h, &aud, "2026-10").await.unwrap();
    let csv = String::from_utf8(r.csv.clone()).unwrap();
    let html = String::from_utf8(r.html.clone()).unwrap();
    // Queries per user: ran 4 (3 + the last instant), 1 waiting, 3 refused.
    let row = row_of(&csv, "queries_per_user", "user", "op").expect(&csv);
    assert_eq!(
        cell(&csv, "queries_per_user", row, "ran").as_deref(),
        Some("4")
    );
    assert_eq!(
        cell(&csv, "queries_per_user", row, "waiting for approval").as_deref(),
        Some("1")
    );
    assert_eq!(
        cell(&csv, "queries_per_user", row, "refused").as_deref(),
        Some("3")
    );
    // Case numbers: 26-04711 twice (two purposes), the pending one, not November's.
    let row = row_of(&csv, "case_numbers", "case number", "26-04711").expect(&csv);
    assert_eq!(
        cell(&csv, "case_numbers", row, "queries").as_deref(),
        Some("2")
    );
    assert_eq!(
        cell(&csv, "case_numbers", row, "purposes").as_deref(),
        Some("stolen_vehicle warrant")
    );
    assert!(row_of(&csv, "case_numbers", "case number", "26-05000").is_some());
    assert!(row_of(&csv, "case_numbers", "case number", "26-04712").is_some());
    assert!(
        !csv.contains("26-09999"),
        "November's query is not in October"
    );
    // Purposes, the prohibited attempt included.
    let row = row_of(&csv, "purposes", "purpose", "immigration_enforcement").expect(&csv);
    assert_eq!(cell(&csv, "purposes", row, "refused").as_deref(), Some("1"));
    // Logins: October's only (the September failure is not counted).
    let row = row_of(&csv, "logins", "user", "op").expect(&csv);
    assert_eq!(cell(&csv, "logins", row, "logins").as_deref(), Some("2"));
    assert_eq!(
        cell(&csv, "logins", row, "failed logins").as_deref(),
        Some("2")
    );
    // Approvals and holds.
    assert!(
        row_of(&csv, "approvals", "action", "alpr.approval.approve").is_some(),
        "{csv}"
    );
    assert!(row_of(&csv, "approvals", "action", "alpr.search.pending").is_some());
    assert!(row_of(&csv, "holds_exports_alerts", "action", "hold.create").is_some());
    let refusals = csv
        .lines()
        .filter(|l| l.starts_with("refusals,") && l.contains(",action,"))
        .count();
    assert_eq!(refusals, 5, "3 searches and 2 failed logins: {csv}");
    // What users typed is escaped: no markup in the HTML, no formula in the CSV.
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&lt;script&gt;"));
    assert!(!csv.lines().any(|l| l.contains(",=")), "{csv}");
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
    assert!(html.contains("America/Chicago"));

    // Same data, same bytes (the report's own entries are in November).
    let admin_pw = h
        .running
        .initial_password
        .clone()
        .unwrap_or(ADMIN_PW.into());
    let admin = login(&h.channel, "admin", &admin_pw).await.unwrap();
    let h = Harness { admin, ..h };
    let again = report(&h, &h.admin, "2026-10").await.unwrap();
    assert_eq!(again.html, r.html);
    assert_eq!(again.csv, r.csv);
    assert_eq!(again.entries, r.entries);
    // An empty month is a report too.
    let empty = report(&h, &aud, "2025-01").await.unwrap();
    assert_eq!(empty.entries, 0);

    // Making the report is audited, with the files' hashes; refusals too.
    let log = audit_log(&h).await;
    let made: Vec<_> = log
        .iter()
        .filter(|e| e["action"] == "audit.report")
        .collect();
    let ok: Vec<_> = made.iter().filter(|e| e["result"] == "ok").collect();
    assert_eq!(ok.len(), 3);
    assert_eq!(ok[0]["actor"], "aud");
    assert_eq!(ok[0]["details"]["month"], "2026-10");
    assert_eq!(ok[0]["details"]["csv_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(made.len() - ok.len(), 6, "2 roles + 4 bad months refused");
    assert!(verify(&h).await.ok);
    h.cancel.cancel();
}
