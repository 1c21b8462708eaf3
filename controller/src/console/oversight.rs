//! The oversight pages: complaints and their appeals (the chief, the City
//! Manager, the city clerk, auditors), external requests to release records
//! with their statutory deadlines and the overdue ones flagged (the Public
//! Information Officer, the City Attorney, the clerk, auditors), and the
//! cameras whose maintenance test is overdue (those who read maintenance).
//!
//! Each page calls the wing operation its CLI command calls (`complaints`,
//! `file_complaint`, `decide_complaint`, `appeal_complaint`,
//! `records_requests`, `records_step`, `maintenance_overdue`,
//! `compliance_report`) with the signed-in `Actor`. Which step a row offers
//! is asked of the pure rule (`complaint_machine::next`,
//! `records_machine::next`) on the stored stage; the step is decided again
//! when taken. Fulfilling a records request writes a masked copy to a
//! directory, so it stays the CLI's (`camplane records-request fulfil ID --out DIR`).

use super::html::{self, esc, url_part};
use super::{html_response, redirect, refused, status_of, Console, Signed};
use crate::core::auth::{Actor, Operation};
use crate::oversight::complaint_machine::{self, Action, Outcome};
use crate::oversight::complaints::NewComplaint;
use crate::oversight::records_machine::{self, Action as RAction, Decision};
use axum::body::Body;
use axum::http::{Response, StatusCode};
use std::fmt::Write;

/// Whether `actor` reads complaints (they get the page).
pub fn reads_complaints(actor: &Actor) -> bool {
    Operation::ReadComplaints.allows(actor)
}

/// Whether `actor` reads records requests.
pub fn reads_records(actor: &Actor) -> bool {
    Operation::ReadRecordsRequests.allows(actor)
}

/// Whether `actor` reads maintenance records.
pub fn reads_maintenance(actor: &Actor) -> bool {
    Operation::ReadMaintenance.allows(actor)
}

/// Cents as an amount, `12.50`.
fn cents(c: i64) -> String {
    format!("{}.{:02}", c / 100, (c % 100).abs())
}

fn day(t: jiff::Timestamp) -> String {
    html::when(&t.to_string())
}

/// `GET /console/complaints`.
pub(crate) async fn complaints(
    console: &Console,
    signed: &Signed,
    status: StatusCode,
    msg: Option<String>,
) -> Response<Body> {
    let actor = &signed.actor;
    let (all, _) = match console.ctl.complaints(actor, false, "").await {
        Ok(x) => x,
        Err(e) => return refused(signed, &e),
    };
    let mut b = msg.unwrap_or_default();
    b.push_str("<section><h2>Complaints</h2>");
    if all.is_empty() {
        b.push_str("<p>No complaints.</p>");
    } else {
        b.push_str("<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Complaint</th><th scope=\"col\">Camera</th><th scope=\"col\">Received</th><th scope=\"col\">About</th><th scope=\"col\">Stage</th><th scope=\"col\">Steps</th></tr></thead><tbody>");
        for c in all.iter().rev() {
            let mut steps = String::new();
            let decide = Action::Decide { as_level: None };
            if complaint_machine::next(&c.id, c.stage, decide, actor).is_ok() {
                let outcomes = [
                    (
                        "followed".to_string(),
                        "The policy was followed".to_string(),
                    ),
                    (
                        "not_followed".to_string(),
                        "The policy was not followed".to_string(),
                    ),
                ];
                let _ = write!(
                    steps,
                    "<form method=\"post\" action=\"/console/complaints/{id}\">{csrf}<input type=\"hidden\" name=\"action\" value=\"decide\">{sel}<label for=\"f-{id}\">Finding</label><textarea id=\"f-{id}\" name=\"finding\" required></textarea><button type=\"submit\">Decide</button></form>",
                    id = url_part(&c.id),
                    csrf = html::csrf_field(&signed.csrf),
                    sel = html::select("outcome", "Finding on the policy", &outcomes, "")
                );
            }
            if complaint_machine::next(&c.id, c.stage, Action::Appeal, actor).is_ok() {
                let _ = write!(
                    steps,
                    "<form class=\"inline\" method=\"post\" action=\"/console/complaints/{}\">{}<input type=\"hidden\" name=\"action\" value=\"appeal\"><button type=\"submit\">Record an appeal</button></form>",
                    url_part(&c.id),
                    html::csrf_field(&signed.csrf)
                );
            }
            let findings: Vec<String> = c
                .steps
                .iter()
                .filter_map(|s| {
                    s.outcome.map(|o| {
                        format!(
                            "{} ({}): {}",
                            s.level.as_str(),
                            o.as_str().replace('_', " "),
                            s.finding.as_deref().unwrap_or("")
                        )
                    })
                })
                .collect();
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td><td>{steps}</td></tr>",
                esc(&c.id),
                esc(c.camera.as_deref().unwrap_or("-")),
                esc(&day(c.received_at)),
                esc(&c.about),
                esc(&c.stage.describe()),
                if findings.is_empty() {
                    String::new()
                } else {
                    format!("<br>{}", esc(&findings.join("; ")))
                },
            );
        }
        b.push_str("</tbody></table></div>");
    }
    b.push_str("</section>");
    if Operation::FileComplaint.allows(actor) {
        let _ = write!(
            b,
            "<section><h2>Record a complaint</h2><form method=\"post\" action=\"/console/complaints\">{}\
<label for=\"c-from\">From (kept in the record only, never published)</label><input id=\"c-from\" name=\"from\" required>\
<label for=\"c-about\">What it says</label><textarea id=\"c-about\" name=\"about\" required></textarea>\
<label for=\"c-camera\">Camera (optional)</label><input id=\"c-camera\" name=\"camera\">\
<label for=\"c-received\">Received (YYYY-MM-DD, optional: today)</label><input id=\"c-received\" name=\"received\">\
<button type=\"submit\">Record the complaint</button></form></section>",
            html::csrf_field(&signed.csrf)
        );
    }
    html_response(status, html::page("Complaints", Some(&signed.frame()), &b))
}

/// `POST /console/complaints`: files one, as `camplane complaint file` does.
pub(crate) async fn file(
    console: &Console,
    signed: &Signed,
    form: &[(String, String)],
) -> Response<Body> {
    let c = NewComplaint {
        from: html::field(form, "from").to_string(),
        about: html::field(form, "about").to_string(),
        camera: html::field(form, "camera").to_string(),
        received: html::field(form, "received").to_string(),
    };
    match console.ctl.file_complaint(&signed.actor, c).await {
        Ok(c) => redirect(&format!("/console/complaints?filed={}", url_part(&c.id))),
        Err(e) => {
            let (status, text) = status_of(&e);
            complaints(console, signed, status, Some(html::message("error", &text))).await
        }
    }
}

/// `POST /console/complaints/ID`: a decision or an appeal, as `camplane
/// complaint decide|appeal` do.
pub(crate) async fn step(
    console: &Console,
    signed: &Signed,
    id: &str,
    form: &[(String, String)],
) -> Response<Body> {
    let ctl = &console.ctl;
    let done = match html::field(form, "action") {
        "decide" => match html::field(form, "outcome").parse::<Outcome>() {
            Ok(o) => {
                ctl.decide_complaint(&signed.actor, id, o, html::field(form, "finding"), "")
                    .await
            }
            Err(e) => Err(e),
        },
        "appeal" => ctl.appeal_complaint(&signed.actor, id).await,
        _ => Err(crate::Error::InvalidArgument(
            "action: decide or appeal".into(),
        )),
    };
    match done {
        Ok(_) => redirect("/console/complaints?done=1"),
        Err(e) => {
            let (status, text) = status_of(&e);
            complaints(console, signed, status, Some(html::message("error", &text))).await
        }
    }
}

/// The step forms a records request's row offers `actor` (the rule decides).
fn record_steps(signed: &Signed, r: &crate::oversight::records::RecordsRequest) -> String {
    let actor = &signed.actor;
    let may = |a: RAction| records_machine::next(&r.id, r.stage, a, actor).is_ok();
    let form = |action: &str, extra: &str, label: &str| {
        format!(
            "<form method=\"post\" action=\"/console/records/{id}\">{csrf}<input type=\"hidden\" name=\"action\" value=\"{action}\">{extra}<button type=\"submit\">{label}</button></form>",
            id = url_part(&r.id),
            csrf = html::csrf_field(&signed.csrf),
        )
    };
    let mut out = String::new();
    if may(RAction::Review) {
        out.push_str(&form("review", "", "Take up for review"));
    }
    if may(RAction::Advise) {
        out.push_str(&form(
            "advise",
            &format!("<label for=\"a-{id}\">Advice</label><textarea id=\"a-{id}\" name=\"text\" required></textarea>", id = esc(&r.id)),
            "Record the advice",
        ));
    }
    if may(RAction::Decide(Decision::Release)) {
        let choices = [
            ("release".to_string(), "Release".to_string()),
            ("deny".to_string(), "Deny".to_string()),
        ];
        out.push_str(&form(
            "decide",
            &format!(
                "{}<label for=\"d-{id}\">Reason</label><textarea id=\"d-{id}\" name=\"text\" required></textarea>",
                html::select("decision", "Decision", &choices, ""),
                id = esc(&r.id)
            ),
            "Decide",
        ));
    }
    out
}

/// `POST /console/records/ID`: review, advise or decide, as `camplane
/// records-request review|advise|decide` do.
pub(crate) async fn record_step(
    console: &Console,
    signed: &Signed,
    id: &str,
    form: &[(String, String)],
) -> Response<Body> {
    let action = match (html::field(form, "action"), html::field(form, "decision")) {
        ("review", _) => Ok(RAction::Review),
        ("advise", _) => Ok(RAction::Advise),
        ("decide", "release") => Ok(RAction::Decide(Decision::Release)),
        ("decide", "deny") => Ok(RAction::Decide(Decision::Deny)),
        _ => Err(crate::Error::InvalidArgument(
            "action: review, advise or decide (release or deny)".into(),
        )),
    };
    let done = match action {
        Ok(a) => {
            console
                .ctl
                .records_step(&signed.actor, id, a, html::field(form, "text"), "")
                .await
        }
        Err(e) => Err(e),
    };
    match done {
        Ok(_) => redirect("/console/records?done=1"),
        Err(e) => {
            let (status, text) = status_of(&e);
            records(console, signed, status, Some(html::message("error", &text))).await
        }
    }
}

/// `GET /console/records`: the requests, their deadlines, the overdue ones first.
pub(crate) async fn records(
    console: &Console,
    signed: &Signed,
    status: StatusCode,
    msg: Option<String>,
) -> Response<Body> {
    let actor = &signed.actor;
    let (mut all, _) = match console.ctl.records_requests(actor, false, false, "").await {
        Ok(x) => x,
        Err(e) => return refused(signed, &e),
    };
    let now = console.ctl.now();
    let overdue = all.iter().filter(|r| r.overdue(now)).count();
    all.sort_by_key(|r| (!r.overdue(now), r.stage.is_closed(), r.due));
    let mut b = msg.unwrap_or_default();
    if overdue > 0 {
        b.push_str(&html::message(
            "error",
            &format!("{overdue} request(s) past their statutory deadline without a decision."),
        ));
    }
    b.push_str("<section><h2>Requests to release records</h2>");
    if all.is_empty() {
        b.push_str("<p>No requests.</p>");
    } else {
        b.push_str("<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Request</th><th scope=\"col\">Requester</th><th scope=\"col\">Received</th><th scope=\"col\">Deadline</th><th scope=\"col\">Camera and range</th><th scope=\"col\">Stage</th><th scope=\"col\">Hold</th><th scope=\"col\">Steps</th></tr></thead><tbody>");
        for r in &all {
            let range = match (&r.camera, r.from, r.until) {
                (Some(c), Some(f), Some(u)) => format!("{c}: {} to {}", day(f), day(u)),
                (Some(c), _, _) => c.clone(),
                _ => "-".into(),
            };
            let _ = write!(
                b,
                "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                if r.overdue(now) { " class=\"overdue\"" } else { "" },
                esc(&r.id),
                esc(&r.requester),
                esc(&day(r.received_at)),
                esc(&day(r.due)),
                if r.overdue(now) { " <strong>overdue</strong>" } else { "" },
                esc(&range),
                esc(&r.stage.as_str().replace('_', " ")),
                esc(r.hold.as_deref().unwrap_or("-")),
                record_steps(signed, r),
            );
        }
        b.push_str("</tbody></table></div>");
    }
    b.push_str("<p>A released request is fulfilled with its masked copy and fee: <code>camplane records-request fulfil ID --out DIR</code>.</p></section>");
    html_response(
        status,
        html::page("Records requests", Some(&signed.frame()), &b),
    )
}

/// `GET /console/maintenance`: cameras whose test is overdue or that are
/// non-operational for a week (a department manager's own department).
pub(crate) async fn maintenance(console: &Console, signed: &Signed) -> Response<Body> {
    let actor = &signed.actor;
    let department = if actor.roles.iter().all(|r| {
        matches!(
            r,
            camplane_config::model::Role::DeptManager | camplane_config::model::Role::Engineer
        )
    }) {
        actor.department.clone()
    } else {
        String::new()
    };
    let all = match console.ctl.maintenance_overdue(actor, &department).await {
        Ok(x) => x,
        Err(e) => return refused(signed, &e),
    };
    let mut b = String::from("<section><h2>Overdue tests and non-operational cameras</h2>");
    if !department.is_empty() {
        let _ = write!(b, "<p>Department {}.</p>", esc(&department));
    }
    if all.is_empty() {
        b.push_str("<p>None: every camera in service passed a test within its interval.</p>");
    } else {
        b.push_str("<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Camera</th><th scope=\"col\">Department</th><th scope=\"col\">Why</th></tr></thead><tbody>");
        for o in &all {
            let why: Vec<String> = o
                .reasons
                .iter()
                .map(|r| {
                    serde_json::to_value(r)
                        .ok()
                        .and_then(|v| v["reason"].as_str().map(|s| s.replace('_', " ")))
                        .unwrap_or_default()
                })
                .collect();
            let _ = write!(
                b,
                "<tr><td><a href=\"/console/cameras/{}\">{}</a></td><td>{}</td><td>{}</td></tr>",
                url_part(&o.camera),
                esc(&o.camera),
                esc(&o.department),
                esc(&why.join(", "))
            );
        }
        b.push_str("</tbody></table></div>");
    }
    b.push_str("<p>Log a test, repair or cleaning: <code>camplane maintenance log CAMERA --kind test --result ok --note TEXT</code>.</p></section>");
    html_response(
        StatusCode::OK,
        html::page("Maintenance", Some(&signed.frame()), &b),
    )
}

/// Whether `actor` reads compliance reports (department managers, auditors).
pub fn reads_compliance(actor: &Actor) -> bool {
    Operation::ReadComplianceReport.allows(actor)
}

/// `GET /console/compliance[?department=D&month=YYYY-MM]`: a department's
/// month (`camplane compliance report`); a manager's own department by default.
pub(crate) async fn compliance(console: &Console, signed: &Signed, query: &str) -> Response<Body> {
    let pairs = html::pairs(query);
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    let department = match get("department") {
        d if d.is_empty() => signed.actor.department.clone(),
        d => d,
    };
    let month = match get("month") {
        m if m.is_empty() => console
            .ctl
            .now()
            .to_zoned(console.ctl.time_zone())
            .strftime("%Y-%m")
            .to_string(),
        m => m,
    };
    let mut b = format!(
        "<form method=\"get\" action=\"/console/compliance\"><label for=\"c-dept\">Department</label><input id=\"c-dept\" name=\"department\" value=\"{}\"><label for=\"c-month\">Month (YYYY-MM)</label><input id=\"c-month\" name=\"month\" value=\"{}\"><button type=\"submit\">Show</button></form>",
        esc(&department),
        esc(&month)
    );
    if department.is_empty() {
        b.push_str("<p>Name a department.</p>");
        return html_response(
            StatusCode::OK,
            html::page("Compliance", Some(&signed.frame()), &b),
        );
    }
    let r = match console
        .ctl
        .compliance_report(&signed.actor, &department, &month)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            let (status, text) = status_of(&e);
            b.push_str(&html::message("error", &text));
            return html_response(status, html::page("Compliance", Some(&signed.frame()), &b));
        }
    };
    let _ = write!(
        b,
        "<section><h2>{} in {}</h2><h3>Cameras</h3><div class=\"scroll\"><table><thead><tr><th scope=\"col\">Camera</th><th scope=\"col\">State</th><th scope=\"col\">Non-operational since</th></tr></thead><tbody>",
        esc(&r.department),
        esc(&r.month)
    );
    for c in &r.cameras {
        let _ = write!(
            b,
            "<tr><td><a href=\"/console/cameras/{}\">{}</a></td><td>{}</td><td>{}</td></tr>",
            url_part(&c.camera),
            esc(&c.camera),
            esc(&serde_json::to_value(c.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()),
            esc(&c
                .non_operational_since
                .map(day)
                .unwrap_or_else(|| "-".into())),
        );
    }
    b.push_str("</tbody></table></div>");
    let _ = write!(
        b,
        "<h3>Overdue tests or non-operational ({})</h3><ul>",
        r.overdue.len()
    );
    for o in &r.overdue {
        let _ = write!(b, "<li>{}</li>", esc(&o.camera));
    }
    b.push_str("</ul><h3>Access by the department's users</h3><div class=\"scroll\"><table><thead><tr><th scope=\"col\">User</th><th scope=\"col\">Views</th><th scope=\"col\">Exports</th><th scope=\"col\">Searches</th><th scope=\"col\">Refusals</th></tr></thead><tbody>");
    for a in &r.activity {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&a.user),
            a.views,
            a.exports,
            a.searches,
            a.refusals
        );
    }
    let _ = write!(
        b,
        "</tbody></table></div><h3>Open complaints about its cameras ({})</h3><ul>",
        r.open_complaints.len()
    );
    for c in &r.open_complaints {
        let _ = write!(
            b,
            "<li>{} ({}): {}</li>",
            esc(&c.id),
            esc(&c.camera),
            esc(&c.stage)
        );
    }
    b.push_str("</ul><h3>Fee schedule</h3>");
    match &r.fee_schedule {
        Some(f) => {
            let _ = write!(
                b,
                "<p>Copies of its video for outside recipients: {c} {} per copy, {c} {} per minute of video, {c} {} per file (`kind: FeeSchedule`, name {}).</p>",
                cents(f.base_cents),
                cents(f.per_minute_cents),
                cents(f.per_file_cents),
                esc(&r.department),
                c = esc(&f.currency)
            );
        }
        None => b.push_str("<p>None: copies of its video carry no fee until the department applies a <code>kind: FeeSchedule</code>.</p>"),
    }
    b.push_str("</section>");
    html_response(
        StatusCode::OK,
        html::page("Compliance", Some(&signed.frame()), &b),
    )
}
