//! The audit page, for those the gRPC audit door answers (`Operation::ReadAudit`):
//! the chain's status (`Controller::audit_verify`, as `camplane audit verify`),
//! the tail in pages (`Controller::audit_tail`, as `camplane audit tail`), and
//! the monthly report to download (`Controller::audit_report`, as `camplane
//! audit report`). Each read is checked and audited by the operation itself.

use super::html::{self, esc};
use super::{html_response, refused, Console, Signed};
use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};
use std::fmt::Write;

/// Entries on one page of the tail.
pub const PAGE: usize = 50;

/// `GET /console/audit[?before=SEQ]`.
pub async fn show(console: &Console, signed: &Signed, query: &str) -> Response<Body> {
    let ctl = &console.ctl;
    let actor = &signed.actor;
    let verification = match ctl.audit_verify(actor).await {
        Ok(v) => v,
        Err(e) => return refused(signed, &e),
    };
    let q = html::pairs(query);
    let before: u64 = html::field(&q, "before").parse().unwrap_or(0);
    let (entries, next_before) = match ctl.audit_tail(actor, PAGE, before).await {
        Ok(t) => t,
        Err(e) => return refused(signed, &e),
    };
    let mut b = String::with_capacity(32 * 1024);
    b.push_str("<section><h2>Chain</h2>");
    match verification.first_broken {
        None => b.push_str(&html::message(
            "note",
            &format!(
                "The chain is intact: {} entries checked. {}",
                verification.entries, verification.message
            ),
        )),
        Some(seq) => b.push_str(&html::message(
            "error",
            &format!(
                "The chain is broken at entry {seq} ({} entries checked): {}",
                verification.entries, verification.message
            ),
        )),
    }
    b.push_str("</section>");

    b.push_str("<section><h2>Monthly report</h2>\
<form class=\"filters\" method=\"get\" action=\"/console/audit/report\">\
<div class=\"field\"><label for=\"f-month\">Month (YYYY-MM)</label>\
<input id=\"f-month\" name=\"month\" required pattern=\"[0-9]{4}-[0-9]{2}\" placeholder=\"2026-11\" inputmode=\"numeric\"></div>\
<div class=\"field\"><label for=\"f-file\">File</label><select id=\"f-file\" name=\"file\">\
<option value=\"html\">report.html</option><option value=\"csv\">report.csv</option></select></div>\
<button type=\"submit\">Download</button></form></section>");

    b.push_str("<section><h2>Latest entries</h2>");
    if entries.is_empty() {
        b.push_str("<p>No entries.</p>");
    } else {
        b.push_str("<div class=\"scroll\"><table><thead><tr><th scope=\"col\">#</th><th scope=\"col\">When</th>\
<th scope=\"col\">Who</th><th scope=\"col\">Action</th><th scope=\"col\">Object</th><th scope=\"col\">Result</th></tr></thead><tbody>");
        // The page comes oldest first; the newest reads first here.
        for e in entries.iter().rev() {
            let object = match (e.kind.as_str(), e.name.as_str()) {
                ("", n) => n.to_string(),
                (k, "") => k.to_string(),
                (k, n) => format!("{k} {n}"),
            };
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                e.seq,
                esc(&html::when(&e.at.to_string())),
                esc(&e.actor),
                esc(&e.action),
                esc(&object),
                esc(&e.result)
            );
        }
        b.push_str("</tbody></table></div>");
    }
    if next_before != 0 {
        let _ = write!(
            b,
            "<p class=\"pager\"><a href=\"/console/audit?before={next_before}\">Older entries</a></p>"
        );
    }
    if before != 0 {
        b.push_str("<p class=\"pager\"><a href=\"/console/audit\">Newest entries</a></p>");
    }
    b.push_str("</section>");
    html_response(
        StatusCode::OK,
        html::page("Audit", Some(&signed.frame()), &b),
    )
}

/// `GET /console/audit/report?month=YYYY-MM&file=html|csv`: one file of the
/// month's report, as an attachment.
pub async fn report(console: &Console, signed: &Signed, query: &str) -> Response<Body> {
    let q = html::pairs(query);
    let month = html::field(&q, "month");
    let csv = html::field(&q, "file") == "csv";
    let r = match console.ctl.audit_report(&signed.actor, month).await {
        Ok(r) => r,
        Err(e) => return refused(signed, &e),
    };
    let (bytes, ctype, ext) = if csv {
        (r.csv, "text/csv; charset=utf-8", "csv")
    } else {
        (r.html, "text/html; charset=utf-8", "html")
    };
    let mut resp = Response::new(Body::from(bytes));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    // The month was checked by `audit_report` (YYYY-MM), so the name is plain.
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"audit-report-{month}.{ext}\""
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}
