//! The ALPR search page, plate crops, and query approvals. A search is
//! `Controller::search` (what `camplane search` calls): the wing checks the
//! case number, purpose, plate and range, refuses and audits as for gRPC, and
//! sends a partial plate to the approvals queue. Each result's crop is fetched
//! through `/console/crops/READ?case=…` by `Controller::fetch_crop` (what
//! `camplane search crop` calls), audited with the case number. Supervisors
//! decide pending queries with `Controller::decide_alpr_query`; the operator
//! who asked runs an approved one with `Controller::run_approved_query`.

use super::html::{self, esc, url_part};
use super::{html_response, redirect, refused, status_of, Console, Signed};
use crate::alpr::approval::{AlprApproval, ApprovalState};
use crate::alpr::query_machine::Action;
use crate::alpr::search::{Hub, SearchOutcome, SearchRequest, ALLOWED_PURPOSES};
use crate::core::auth::{Actor, Operation};
use crate::core::object::check;
use crate::core::AuditAction;
use crate::Error;
use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};
use jiff::Timestamp;
use std::fmt::Write;
use std::time::Duration;

/// How long a search waits for the agents (the CLI's default).
const AGENT_WAIT: Duration = Duration::from_secs(5);

/// The most reads one results page lists (each with a crop fetched lazily).
const LISTED: usize = 500;

/// Whether `actor`'s roles search ALPR data: they get the page in the navigation.
pub fn searches(actor: &Actor) -> bool {
    Operation::SearchAlpr.allows(actor)
}

/// Whether `actor`'s roles decide query approvals.
fn decides(actor: &Actor) -> bool {
    Operation::ApproveAlprQuery.allows(actor)
}

/// Whether `actor` gets the approvals page: supervisors decide there, and
/// operators run their approved queries there.
pub fn sees_approvals(actor: &Actor) -> bool {
    decides(actor) || searches(actor)
}

/// A time from the form: RFC 3339, or a `datetime-local` value read as UTC;
/// empty is none (the wing's default).
fn form_time(s: &str) -> Result<Option<Timestamp>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(Some(t));
    }
    s.parse::<jiff::civil::DateTime>()
        .ok()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| Some(z.timestamp()))
        .ok_or_else(|| {
            format!(
                "{:?} is not a time (YYYY-MM-DDTHH:MM, UTC)",
                s.chars().take(40).collect::<String>()
            )
        })
}

/// The search form, filled with what was asked (`form`).
fn search_form(b: &mut String, csrf: &str, form: &[(String, String)]) {
    let f = |k| esc(html::field(form, k));
    let _ = write!(
        b,
        "<form class=\"step search\" method=\"post\" action=\"/console/search\">{}\
<label for=\"s-plate\">Plate, full or partial (? one character, * any)</label>\
<input id=\"s-plate\" name=\"plate\" value=\"{}\" autocomplete=\"off\" autocapitalize=\"characters\" spellcheck=\"false\">\
<label for=\"s-case\">Case number (required)</label>\
<input id=\"s-case\" name=\"case_number\" value=\"{}\" aria-required=\"true\" autocomplete=\"off\">\
<label for=\"s-purpose\">Purpose (required)</label><select id=\"s-purpose\" name=\"purpose\" aria-required=\"true\"><option value=\"\">choose one</option>",
        html::csrf_field(csrf),
        f("plate"),
        f("case_number"),
    );
    let chosen = html::field(form, "purpose");
    for p in ALLOWED_PURPOSES {
        let sel = if p == chosen { " selected" } else { "" };
        let _ = write!(
            b,
            "<option value=\"{p}\"{sel}>{}</option>",
            esc(&p.replace('_', " "))
        );
    }
    let _ = write!(
        b,
        "</select>\
<label for=\"s-from\">From (UTC; empty: 30 days before the end)</label>\
<input id=\"s-from\" name=\"from\" type=\"datetime-local\" value=\"{}\">\
<label for=\"s-to\">To (UTC; empty: now)</label>\
<input id=\"s-to\" name=\"to\" type=\"datetime-local\" value=\"{}\">\
<label for=\"s-site\">Site (empty: every site)</label>\
<input id=\"s-site\" name=\"site\" value=\"{}\" autocomplete=\"off\">\
<button type=\"submit\">Search</button></form>",
        f("from"),
        f("to"),
        f("site"),
    );
}

fn page(signed: &Signed, status: StatusCode, title: &str, body: &str) -> Response<Body> {
    html_response(status, html::page(title, Some(&signed.frame()), body))
}

/// `GET /console/search`: the form, for the roles that may search (the
/// role table's own check; only a search asked is audited).
pub async fn form(signed: &Signed) -> Response<Body> {
    if let Err(r) = check(
        &signed.actor,
        Operation::SearchAlpr,
        AuditAction::AlprSearch,
    ) {
        return refused(signed, &r.error);
    }
    let mut b = String::from(
        "<p>Every search is audited with its case number and purpose. A partial plate is not searched at once: it waits for a supervisor's approval.</p>",
    );
    search_form(&mut b, &signed.csrf, &[]);
    page(signed, StatusCode::OK, "ALPR search", &b)
}

/// `POST /console/search`: the search, as `camplane search` asks it; the
/// results, the approval it waits for, or the wing's refusal, under the form.
pub async fn run(console: &Console, signed: &Signed, form: &[(String, String)]) -> Response<Body> {
    let f = |k| html::field(form, k).trim().to_string();
    let site = f("site");
    let mut req = SearchRequest {
        plate: f("plate"),
        case_number: f("case_number"),
        purpose: f("purpose"),
        from: None,
        until: None,
        sites: if site.is_empty() { vec![] } else { vec![site] },
        timeout: AGENT_WAIT,
        for_agency: None,
    };
    let times = form_time(&f("from")).and_then(|a| Ok((a, form_time(&f("to"))?)));
    let out = match times {
        Ok((from, until)) => {
            req.from = from;
            req.until = until;
            console
                .ctl
                .search(&console.ctl.wing::<Hub>(), &signed.actor, req.clone())
                .await
        }
        // Refused as the wing refuses a search, so the attempt is audited too.
        Err(msg) => Err(console
            .ctl
            .refuse_search(&signed.actor, &req, Error::InvalidArgument(msg))
            .await),
    };
    let mut b = String::new();
    let status = match out {
        Ok(o) => {
            match &o.pending_approval {
                Some(id) => pending(&mut b, signed, id, &o.approval_reasons, &req.case_number),
                None => results(&mut b, &o, &req.case_number, &signed.csrf),
            }
            StatusCode::OK
        }
        Err(e) => {
            let (status, text) = status_of(&e);
            b.push_str(&html::message("error", &format!("Search refused: {text}")));
            status
        }
    };
    search_form(&mut b, &signed.csrf, form);
    page(signed, status, "ALPR search", &b)
}

/// What a search that waits for approval says, with the form that runs it
/// once it is approved.
fn pending(b: &mut String, signed: &Signed, id: &str, reasons: &[String], case: &str) {
    b.push_str(&html::message(
        "note",
        &format!(
            "Not searched yet: this search waits for a supervisor's approval as {id} ({}). Once it is approved, run it from the approvals page, or here.",
            reasons.join("; ")
        ),
    ));
    run_form(b, &signed.csrf, id, case);
}

/// The form that runs an approved query (`id` empty: typed in), with the case
/// number its crops are fetched under.
fn run_form(b: &mut String, csrf: &str, id: &str, case: &str) {
    let _ = write!(
        b,
        "<form class=\"step\" method=\"post\" action=\"/console/approvals\">{}\
<input type=\"hidden\" name=\"action\" value=\"run\">\
<label for=\"r-id\">Approval id</label><input id=\"r-id\" name=\"id\" value=\"{}\" autocomplete=\"off\">\
<label for=\"r-case\">Case number (for the crops)</label><input id=\"r-case\" name=\"case_number\" value=\"{}\" autocomplete=\"off\">\
<button type=\"submit\">Run the approved query</button></form>",
        html::csrf_field(csrf),
        esc(id),
        esc(case)
    );
}

fn text<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v.get(key).and_then(serde_json::Value::as_str).unwrap_or("")
}

/// A search's reads: site, camera, time, plate and its crop (fetched with
/// the case number, through the console).
fn results(b: &mut String, o: &SearchOutcome, case: &str, csrf: &str) {
    let _ = write!(
        b,
        "<section><h2>Results</h2><p>Query {}: {} reads from {} agents.</p>",
        esc(&o.query_id),
        o.reads.len(),
        o.answered.len()
    );
    if !o.unreachable.is_empty() {
        let who = o
            .unreachable
            .iter()
            .map(|(a, why)| format!("{a} ({why})"))
            .collect::<Vec<_>>()
            .join("; ");
        b.push_str(&html::message(
            "error",
            &format!("Did not answer, so their reads are missing: {who}"),
        ));
    }
    if o.reads.is_empty() {
        b.push_str("<p>No reads.</p></section>");
        return;
    }
    b.push_str("<div class=\"scroll\"><table class=\"reads\"><thead><tr><th scope=\"col\">Site</th><th scope=\"col\">Camera</th><th scope=\"col\">Time</th><th scope=\"col\">Plate</th><th scope=\"col\">Crop</th></tr></thead><tbody>");
    for r in o.reads.iter().take(LISTED) {
        let (id, site) = (text(r, "id"), text(r, "site"));
        let crop = if r.get("crop").is_some_and(|c| !c.is_null()) && !id.is_empty() {
            format!(
                "<img class=\"crop\" src=\"/console/crops/{}?case={}&amp;site={}&amp;csrf={}\" alt=\"Crop of read {}\" loading=\"lazy\">",
                url_part(id),
                url_part(case),
                url_part(site),
                url_part(csrf),
                esc(id)
            )
        } else {
            "none".into()
        };
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{crop}</td></tr>",
            esc(site),
            esc(text(r, "camera")),
            esc(&html::when(text(r, "time"))),
            esc(text(r, "plate")),
        );
    }
    b.push_str("</tbody></table></div>");
    if o.reads.len() > LISTED {
        let _ = write!(
            b,
            "<p>The first {LISTED} of {} reads; narrow the time range for the rest.</p>",
            o.reads.len()
        );
    }
    b.push_str("</section>");
}

/// `GET /console/crops/READ?case=…&site=…&csrf=…`: one read's JPEG crop,
/// fetched from the agents under the case number as `camplane search crop`
/// does (audited), never cached. A GET that fetches plate data and is audited
/// under the operator's name carries the session's CSRF token, so a page of
/// another site cannot make an operator's browser ask it (refused, audited).
pub async fn crop(
    console: &Console,
    signed: &Signed,
    token: &str,
    read_id: &str,
    query: &str,
    path: &str,
) -> Response<Body> {
    let q = html::pairs(query);
    if !console.csrf_ok(token, html::field(&q, "csrf")) {
        return console
            .csrf_refused(signed, Some(AuditAction::AlprCrop), path)
            .await;
    }
    let site = html::field(&q, "site");
    let sites = if site.is_empty() {
        vec![]
    } else {
        vec![site.to_string()]
    };
    match console
        .ctl
        .fetch_crop(
            &console.ctl.wing::<Hub>(),
            &signed.actor,
            read_id,
            html::field(&q, "case"),
            &sites,
        )
        .await
    {
        Ok((jpeg, _, _)) => {
            let mut r = Response::new(Body::from(jpeg));
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => refused(signed, &e),
    }
}

/// `GET /console/approvals` (`all`: decided ones too; `done`: the decision
/// just taken): the pending queries with approve and reject forms for
/// supervisors, the run form for operators. Anyone else gets the wing's refusal.
pub async fn approvals(console: &Console, signed: &Signed, query: &str) -> Response<Body> {
    let q = html::pairs(query);
    let msg = html::field(&q, "done")
        .parse::<Action>()
        .ok()
        .map(|a| html::message("note", &format!("Your {} was recorded.", a.as_str())));
    let all = html::field(&q, "all") == "1";
    let after = html::field(&q, "after");
    render_approvals(console, signed, StatusCode::OK, msg, all, after).await
}

/// Most approvals one page lists (as the users page).
pub const APPROVALS_PAGE: usize = 50;

/// The page of `list` (in the wing's order: requested, then id) after the approval
/// `after` (the first page when `after` is empty or names none of them: approvals
/// are never deleted, so only a made-up id misses), and whether more follow.
fn approvals_page<'a>(list: &'a [AlprApproval], after: &str) -> (&'a [AlprApproval], bool) {
    let start = match after {
        "" => 0,
        id => list.iter().position(|a| a.id == id).map_or(0, |i| i + 1),
    };
    let end = (start + APPROVALS_PAGE).min(list.len());
    (&list[start..end], end < list.len())
}

async fn render_approvals(
    console: &Console,
    signed: &Signed,
    status: StatusCode,
    msg: Option<String>,
    all: bool,
    after: &str,
) -> Response<Body> {
    let actor = &signed.actor;
    let mut b = msg.unwrap_or_default();
    if decides(actor) || !searches(actor) {
        let list = match console.ctl.alpr_approvals(actor, all).await {
            Ok(l) => l,
            Err(e) => return refused(signed, &e),
        };
        let _ = write!(
            b,
            "<section><h2>{} ({})</h2>",
            if all {
                "All requests"
            } else {
                "Waiting for a decision"
            },
            list.len()
        );
        if list.is_empty() {
            b.push_str("<p>Nothing is waiting.</p>");
        }
        let (shown, more) = approvals_page(&list, after);
        for a in shown {
            approval_card(&mut b, a, &signed.csrf);
        }
        let all_q = if all { "all=1&" } else { "" };
        if let (true, Some(last)) = (more, shown.last()) {
            let _ = write!(
                b,
                "<p class=\"pager\"><a href=\"/console/approvals?{all_q}after={}\">Next {APPROVALS_PAGE}</a></p>",
                url_part(&last.id)
            );
        }
        if !after.is_empty() {
            let _ = write!(
                b,
                "<p class=\"pager\"><a href=\"/console/approvals{}\">First page</a></p>",
                if all { "?all=1" } else { "" }
            );
        }
        b.push_str(if all {
            "<p><a href=\"/console/approvals\">Only those waiting</a></p></section>"
        } else {
            "<p><a href=\"/console/approvals?all=1\">Decided ones too</a></p></section>"
        });
    }
    if searches(actor) {
        b.push_str("<section><h2>Run an approved query</h2><p>A query you asked for runs once, after a supervisor approved it.</p>");
        run_form(&mut b, &signed.csrf, "", "");
        b.push_str("</section>");
    }
    page(signed, status, "Query approvals", &b)
}

fn fact(b: &mut String, label: &str, value: &str) {
    if !value.is_empty() {
        let _ = write!(
            b,
            "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
            esc(label),
            esc(value)
        );
    }
}

/// One approval: what was asked and why it waits, and (pending) the decision forms.
fn approval_card(b: &mut String, a: &AlprApproval, csrf: &str) {
    let _ = write!(
        b,
        "<article class=\"approval\" id=\"ap-{}\"><h3>{} <span class=\"state\">{}</span></h3><table class=\"facts\"><tbody>",
        esc(&a.id),
        esc(&a.id),
        a.state.as_str()
    );
    let kind = if a.hotlist.is_some() {
        "hotlist load"
    } else {
        "query"
    };
    fact(b, "Kind", kind);
    fact(b, "Requested by", &a.requested_by);
    fact(b, "At", &html::when(&a.requested_at.to_string()));
    fact(b, "Plate", &a.plate);
    fact(b, "Case number", &a.case_number);
    fact(b, "Purpose", &a.purpose.replace('_', " "));
    fact(
        b,
        "Range",
        &format!(
            "{} to {}",
            html::when(&a.from.to_string()),
            html::when(&a.until.to_string())
        ),
    );
    fact(b, "Sites", &a.sites.join(", "));
    fact(b, "For agency", a.for_agency.as_deref().unwrap_or(""));
    fact(b, "Why it waits", &a.reasons.join("; "));
    fact(b, "Decided by", a.decided_by.as_deref().unwrap_or(""));
    fact(b, "Decision", a.decision_reason.as_deref().unwrap_or(""));
    b.push_str("</tbody></table>");
    if a.state == ApprovalState::Pending {
        let n = esc(&a.id);
        for (action, label, words) in [
            (Action::Approve, "Approve", "Why it is approved"),
            (Action::Reject, "Deny", "Why it is denied"),
        ] {
            let s = action.as_str();
            let _ = write!(
                b,
                "<form class=\"step\" method=\"post\" action=\"/console/approvals\">{}\
<input type=\"hidden\" name=\"id\" value=\"{n}\"><input type=\"hidden\" name=\"action\" value=\"{s}\">\
<label for=\"{s}-{n}\">{words}</label><textarea id=\"{s}-{n}\" name=\"reason\" rows=\"2\"></textarea>\
<button type=\"submit\">{label}</button></form>",
                html::csrf_field(csrf)
            );
        }
    }
    b.push_str("</article>");
}

/// `POST /console/approvals` (`id`, `action`: approve or reject with
/// `reason`, as `camplane approvals approve|reject`; run with `case_number`
/// for the crops, as `camplane search run`).
pub async fn decide(
    console: &Console,
    signed: &Signed,
    form: &[(String, String)],
) -> Response<Body> {
    let id = html::field(form, "id").trim();
    let action = match html::field(form, "action").parse::<Action>() {
        Ok(a) => a,
        Err(e) => return refused(signed, &e),
    };
    if action == Action::Run {
        let case = html::field(form, "case_number").trim();
        return match console
            .ctl
            .run_approved_query(&console.ctl.wing::<Hub>(), &signed.actor, id, AGENT_WAIT)
            .await
        {
            Ok(o) => {
                let mut b = html::message("note", &format!("Approved query {id} ran."));
                results(&mut b, &o, case, &signed.csrf);
                page(signed, StatusCode::OK, "Query approvals", &b)
            }
            Err(e) => refusal(console, signed, &e).await,
        };
    }
    let reason = html::field(form, "reason");
    match console
        .ctl
        .decide_alpr_query(&signed.actor, id, action, reason)
        .await
    {
        Ok(_) => redirect(&format!("/console/approvals?done={}", action.as_str())),
        Err(e) => refusal(console, signed, &e).await,
    }
}

/// The approvals page again with the wing's refusal.
async fn refusal(console: &Console, signed: &Signed, e: &Error) -> Response<Body> {
    let (status, text) = status_of(e);
    render_approvals(
        console,
        signed,
        status,
        Some(html::message("error", &text)),
        false,
        "",
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approvals(n: usize) -> Vec<AlprApproval> {
        (0..n)
            .map(|i| {
                let id = format!("aq-{}-0000", 1_780_000_000_000u64 + i as u64);
                crate::alpr::approval::sample(&id, ApprovalState::Pending)
            })
            .collect()
    }

    /// Following each page's last id walks the whole list once, in order; an id
    /// that names none starts again at the first page.
    #[test]
    fn approval_pages_cover_the_list_once() {
        let list = approvals(2 * APPROVALS_PAGE + 7);
        let (mut seen, mut after, mut pages) = (Vec::new(), String::new(), 0);
        loop {
            let (page, more) = approvals_page(&list, &after);
            assert!(page.len() <= APPROVALS_PAGE);
            seen.extend(page.iter().map(|a| a.id.clone()));
            pages += 1;
            if !more {
                break;
            }
            after = page.last().unwrap().id.clone();
        }
        assert_eq!(pages, 3);
        assert_eq!(seen, list.iter().map(|a| a.id.clone()).collect::<Vec<_>>());
        let (page, more) = approvals_page(&list, "aq-made-up");
        assert_eq!((page[0].id.as_str(), more), (list[0].id.as_str(), true));
        let (page, more) = approvals_page(&list[..3], "");
        assert_eq!((page.len(), more), (3, false));
        assert!(approvals_page(&[], "").0.is_empty());
    }

    #[test]
    fn form_times_are_rfc3339_or_local_utc() {
        assert_eq!(form_time(" ").unwrap(), None);
        assert_eq!(
            form_time("2026-12-03T10:30").unwrap(),
            Some("2026-12-03T10:30:00Z".parse().unwrap())
        );
        assert_eq!(
            form_time("2026-12-03T10:30:00-06:00").unwrap(),
            Some("2026-12-03T16:30:00Z".parse().unwrap())
        );
        assert!(form_time("yesterday").is_err());
    }

    #[test]
    fn results_escape_what_agents_send_and_fetch_crops_with_the_case() {
        let o = SearchOutcome {
            query_id: "q-1".into(),
            reads: vec![
                serde_json::json!({"id": "1780000000000-ABC1234", "camera": "<cam>", "plate": "ABC1234",
                    "time": "2026-06-01T12:00:00Z", "crop": "c.jpg", "site": "depot"}),
                serde_json::json!({"id": "1780000000001-ABC1234", "camera": "cam-2", "plate": "ABC1234",
                    "time": "2026-06-01T12:01:00Z", "crop": null, "site": "depot"}),
            ],
            answered: vec!["depot-gw".into()],
            unreachable: vec![("airport-gw".into(), "offline".into())],
            pending_approval: None,
            approval_reasons: vec![],
        };
        let mut b = String::new();
        results(&mut b, &o, "26-01234", "c5f");
        assert!(b.contains(
            "src=\"/console/crops/1780000000000-ABC1234?case=26-01234&amp;site=depot&amp;csrf=c5f\""
        ));
        assert_eq!(
            b.matches("<img").count(),
            1,
            "a read without a crop has none"
        );
        assert!(b.contains("&lt;cam&gt;") && !b.contains("<cam>"));
        assert!(b.contains("airport-gw (offline)"));
        assert!(b.contains("2026-06-01 12:00:00 UTC"));
    }
}
