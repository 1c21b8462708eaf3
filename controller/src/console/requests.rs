//! The placement requests pages: "waiting for me", a request's page with the
//! steps its reader may take, and those steps, each through
//! `Controller::act_on_request` (what `camplane request recommend|reject|
//! approve|deny|override` calls). Which forms a page offers is asked of the
//! chain's own rule (`request_machine::next`, pure) on the stored request; the
//! step itself is decided again by the same rule when it is taken.

use super::html::{self, esc, url_part};
use super::{html_response, redirect, refused, status_of, Console, Signed};
use crate::approvals::request_machine::{self, Action};
use crate::approvals::verdict::recorded_verdict;
use crate::core::auth::{Actor, Operation};
use crate::core::StoredObject;
use crate::Error;
use axum::body::Body;
use axum::http::{Response, StatusCode};
use camplane_config::model::{Kind, PlacementRequestSpec, PlacementRequestStatus};
use serde_json::Value;
use std::fmt::Write;

/// The most requests the "all requests" table lists.
const LISTED: usize = 200;

/// Whether `actor` holds a role of the chain (submits, reviews, decides or
/// overrides): they get the requests page in the navigation.
pub fn takes_part(actor: &Actor) -> bool {
    [
        Operation::SubmitRequest,
        Operation::DeptReview,
        Operation::ChiefOrIsReview,
        Operation::CityManagerDecision,
        Operation::PlacementOverride,
    ]
    .iter()
    .any(|op| op.allows(actor))
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The steps the chain's rule would let `actor` take on the stored request
/// `o` now (an approval also when a denial would be let through: the decision
/// checks the placement verdict again, and its refusal then says why).
pub fn my_steps(actor: &Actor, o: &StoredObject) -> Vec<Action> {
    let status: PlacementRequestStatus = o.status_as();
    let state = request_machine::State {
        id: &o.name,
        department: text(&o.spec, "department"),
        status: &status,
        needs_chief: request_machine::needs_chief(
            o.spec["covert"].as_bool().unwrap_or(false),
            serde_json::from_value(o.spec["purpose"].clone()).ok(),
        ),
    };
    let who = request_machine::Actor {
        user: actor,
        as_role: None,
        // Words are checked when the step is taken; the form asks for them.
        comment: "-",
    };
    let ok = |a| request_machine::next(&state, a, &who).is_ok();
    let mut steps: Vec<Action> = Action::ALL.into_iter().filter(|a| ok(*a)).collect();
    if !steps.contains(&Action::Approve) && steps.contains(&Action::Deny) {
        steps.insert(0, Action::Approve);
    }
    steps
}

/// The steps taken on a request, as a table.
pub fn steps_table(r: &StoredObject) -> String {
    let steps = r.status["steps"].as_array().cloned().unwrap_or_default();
    let mut b = String::new();
    let _ = write!(
        b,
        "<p>State: <strong>{}</strong>; submitted by {} at {}.</p>",
        esc(text(&r.status, "state")),
        esc(text(&r.status, "submitted_by")),
        esc(&html::when(text(&r.status, "submitted_at")))
    );
    if steps.is_empty() {
        b.push_str("<p>No step taken yet.</p>");
        return b;
    }
    b.push_str("<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Step</th><th scope=\"col\">As</th><th scope=\"col\">By</th><th scope=\"col\">At</th><th scope=\"col\">Comment</th></tr></thead><tbody>");
    for s in &steps {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(text(s, "action")),
            esc(text(s, "role")),
            esc(text(s, "actor")),
            esc(&html::when(text(s, "at"))),
            esc(text(s, "comment"))
        );
    }
    b.push_str("</tbody></table></div>");
    b
}

fn request_row(b: &mut String, o: &StoredObject) {
    let _ = write!(
        b,
        "<tr><td><a href=\"/console/requests/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        url_part(&o.name),
        esc(&o.name),
        esc(text(&o.spec, "department")),
        esc(&text(&o.spec, "purpose").replace('_', " ")),
        esc(text(&o.status, "state")),
        esc(&html::when(text(&o.status, "submitted_at"))),
    );
}

const HEAD: &str = "<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Request</th><th scope=\"col\">Department</th><th scope=\"col\">Purpose</th><th scope=\"col\">State</th><th scope=\"col\">Submitted</th></tr></thead><tbody>";

/// `GET /console/requests`: those waiting for the reader, then all of them.
pub async fn list(console: &Console, signed: &Signed) -> Response<Body> {
    let actor = &signed.actor;
    let all = match console.ctl.get_all(actor, Kind::PlacementRequest).await {
        Ok(a) => a,
        Err(e) => return refused(signed, &e),
    };
    // The rule reads the stored request; the page shows the reader's view.
    let mut waiting = String::new();
    let mut n = 0;
    for (o, _) in &all {
        let raw = console
            .ctl
            .load(Kind::PlacementRequest, &o.name)
            .unwrap_or_else(|_| o.clone());
        if !my_steps(actor, &raw).is_empty() {
            request_row(&mut waiting, o);
            n += 1;
        }
    }
    let mut b = String::new();
    if submits(actor) {
        b.push_str("<p><a href=\"/console/requests/new\">New placement request</a> (its placement verdict is shown before it is sent)</p>");
    }
    b.push_str("<section><h2>Waiting for you</h2>");
    if n == 0 {
        b.push_str("<p>Nothing is waiting for you.</p>");
    } else {
        let _ = write!(b, "{HEAD}{waiting}</tbody></table></div>");
    }
    b.push_str("</section><section><h2>All requests</h2>");
    if all.is_empty() {
        b.push_str("<p>No requests.</p>");
    } else {
        b.push_str(HEAD);
        for (o, _) in all.iter().rev().take(LISTED) {
            request_row(&mut b, o);
        }
        b.push_str("</tbody></table></div>");
        if all.len() > LISTED {
            let _ = write!(
                b,
                "<p>The latest {LISTED} by name of {} requests.</p>",
                all.len()
            );
        }
    }
    b.push_str("</section>");
    html_response(
        StatusCode::OK,
        html::page("Placement requests", Some(&signed.frame()), &b),
    )
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

/// The form of one step.
fn step_form(b: &mut String, name: &str, csrf: &str, action: Action) {
    let (label, words, required) = match action {
        Action::Recommend => ("Recommend", "Comment", false),
        Action::Reject => ("Reject", "Why it is rejected", true),
        Action::Approve => ("Approve", "Comment", false),
        Action::Deny => ("Deny", "Why it is denied", true),
        Action::Override => (
            "Override the placement verdict",
            "Written justification",
            true,
        ),
    };
    let a = action.as_str();
    let _ = write!(
        b,
        "<form class=\"step\" method=\"post\" action=\"/console/requests/{}\">{}\
<input type=\"hidden\" name=\"action\" value=\"{a}\">\
<label for=\"c-{a}\">{}</label><textarea id=\"c-{a}\" name=\"comment\" rows=\"2\"{}></textarea>\
<button type=\"submit\" name=\"do\" value=\"{a}\">{}</button></form>",
        url_part(name),
        html::csrf_field(csrf),
        esc(words),
        if required { " required" } else { "" },
        esc(label)
    );
}

/// `GET /console/requests/NAME` (`done`: the step just taken, from the redirect).
pub async fn show(
    console: &Console,
    signed: &Signed,
    name: &str,
    done: Option<&str>,
) -> Response<Body> {
    let msg = done.map(|d| {
        html::message(
            "note",
            &format!(
                "Your {} was recorded.",
                d.chars().take(20).collect::<String>()
            ),
        )
    });
    render(console, signed, name, StatusCode::OK, msg).await
}

async fn render(
    console: &Console,
    signed: &Signed,
    name: &str,
    status: StatusCode,
    msg: Option<String>,
) -> Response<Body> {
    let actor = &signed.actor;
    let raw = match console.ctl.get(actor, Kind::PlacementRequest, name).await {
        Ok((o, _)) => o,
        Err(e) => return refused(signed, &e),
    };
    let o = crate::registry::views::shown_to(actor, raw.clone());
    let mut b = msg.unwrap_or_default();
    b.push_str("<section><h2>Request</h2><table class=\"facts\"><tbody>");
    for (label, key) in [
        ("Department", "department"),
        ("Purpose", "purpose"),
        ("Kind", "kind"),
        ("Mount", "mount"),
        ("Camera", "camera"),
        ("Justification", "justification"),
        ("Funding", "funding_source"),
    ] {
        fact(&mut b, label, text(&o.spec, key));
    }
    if o.spec["covert"].as_bool() == Some(true) {
        fact(&mut b, "Covert", "yes");
    }
    if let Some(l) = o.spec.get("location") {
        fact(&mut b, "Location", &format!("{}, {}", l["lat"], l["lon"]));
    }
    fact(&mut b, "Location", text(&o.status, "location_hidden"));
    let st: PlacementRequestStatus = raw.status_as();
    fact(
        &mut b,
        "Placement verdict",
        recorded_verdict(st.verdict.as_ref()),
    );
    b.push_str("</tbody></table></section><section><h2>Steps</h2>");
    b.push_str(&steps_table(&o));
    b.push_str("</section>");
    let steps = my_steps(actor, &raw);
    if !steps.is_empty() {
        b.push_str("<section><h2>Your step</h2>");
        for a in steps {
            step_form(&mut b, &o.name, &signed.csrf, a);
        }
        b.push_str("</section>");
    }
    html_response(
        status,
        html::page(&format!("Request {}", o.name), Some(&signed.frame()), &b),
    )
}

/// `POST /console/requests/NAME`: a step (`action`, `comment`), as `camplane
/// request ACTION NAME` takes it; then back to the request's page.
pub async fn act(
    console: &Console,
    signed: &Signed,
    name: &str,
    form: &[(String, String)],
) -> Response<Body> {
    let action: Action = match html::field(form, "action").parse() {
        Ok(a) => a,
        Err(e) => return refused(signed, &e),
    };
    let comment = html::field(form, "comment");
    match console
        .ctl
        .act_on_request(&signed.actor, name, action, None, comment)
        .await
    {
        Ok(_) => redirect(&format!(
            "/console/requests/{}?done={}",
            url_part(name),
            action.as_str()
        )),
        Err(e @ Error::NotFound(_)) => refused(signed, &e),
        Err(e) => {
            let (status, text) = status_of(&e);
            render(
                console,
                signed,
                name,
                status,
                Some(html::message("error", &text)),
            )
            .await
        }
    }
}

/// Whether `actor` submits placement requests (a department manager, IS).
pub fn submits(actor: &Actor) -> bool {
    Operation::SubmitRequest.allows(actor)
}

/// The new request form, filled with `form` (after a preview or a refusal).
fn new_form(signed: &Signed, form: &[(String, String)], verdict: Option<&Value>) -> String {
    let f = |k: &str| esc(html::field(form, k));
    let department = if form.is_empty() {
        esc(&signed.actor.department)
    } else {
        f("department")
    };
    let purposes: Vec<(String, String)> = super::cameras::PURPOSES
        .iter()
        .map(|p| {
            (
                super::cameras::purpose_name(*p),
                super::cameras::purpose_label(*p),
            )
        })
        .collect();
    let kinds =
        [("fixed", "Fixed"), ("mobile", "Mobile")].map(|(v, l)| (v.to_string(), l.to_string()));
    let mounts =
        [("outdoor", "Outdoor"), ("indoor", "Indoor")].map(|(v, l)| (v.to_string(), l.to_string()));
    let mut b = String::new();
    if let Some(v) = verdict {
        let answer = &v["answer"];
        let reasons: Vec<&str> = answer["reasons"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let _ = write!(
            b,
            "<section class=\"preview\"><h2>Placement verdict before sending</h2><p>Verdict: <strong>{}</strong>{}</p>{}</section>",
            esc(answer["verdict"].as_str().unwrap_or(super::super::approvals::verdict::CANNOT_CHECK)),
            if reasons.is_empty() {
                String::new()
            } else {
                format!("; reasons: {}", esc(&reasons.join(", ")))
            },
            v["note"]
                .as_str()
                .map(|n| format!("<p>{}</p>", esc(n)))
                .unwrap_or_default()
        );
    }
    let _ = write!(
        b,
        "<section><h2>New placement request</h2><form method=\"post\" action=\"/console/requests/new\">{}\
<label for=\"n-lat\">Latitude</label><input id=\"n-lat\" name=\"lat\" inputmode=\"decimal\" required value=\"{}\">\
<label for=\"n-lon\">Longitude</label><input id=\"n-lon\" name=\"lon\" inputmode=\"decimal\" required value=\"{}\">\
{}{}{}\
<label for=\"n-department\">Department</label><input id=\"n-department\" name=\"department\" required value=\"{department}\">\
<label for=\"n-camera\">Camera it is for (optional)</label><input id=\"n-camera\" name=\"camera\" value=\"{}\">\
<label for=\"n-just\">Justification</label><textarea id=\"n-just\" name=\"justification\" rows=\"3\" required>{}</textarea>\
<label for=\"n-fund\">Funding source</label><input id=\"n-fund\" name=\"funding_source\" required value=\"{}\">\
<button type=\"submit\" name=\"do\" value=\"preview\">Check the placement first</button> \
<button type=\"submit\" name=\"do\" value=\"submit\">Submit the request</button></form></section>",
        html::csrf_field(&signed.csrf),
        f("lat"),
        f("lon"),
        html::select("purpose", "Purpose", &purposes, html::field(form, "purpose")),
        html::select("kind", "Kind", &kinds, html::field(form, "kind")),
        html::select("mount", "Mount", &mounts, html::field(form, "mount")),
        f("camera"),
        f("justification"),
        f("funding_source"),
    );
    b
}

/// The spec a new request form describes, or what is wrong with it.
fn spec_of(form: &[(String, String)]) -> Result<PlacementRequestSpec, Error> {
    let num = |k: &str| {
        html::field(form, k)
            .trim()
            .parse::<f64>()
            .map_err(|_| Error::InvalidArgument(format!("{k}: a number in decimal degrees")))
    };
    let mut spec = serde_json::json!({
        "location": {"lat": num("lat")?, "lon": num("lon")?},
        "purpose": html::field(form, "purpose"),
        "kind": html::field(form, "kind"),
        "justification": html::field(form, "justification").trim(),
        "funding_source": html::field(form, "funding_source").trim(),
        "department": html::field(form, "department").trim(),
    });
    if !html::field(form, "mount").is_empty() {
        spec["mount"] = html::field(form, "mount").into();
    }
    let camera = html::field(form, "camera").trim();
    if !camera.is_empty() {
        spec["camera"] = camera.into();
    }
    serde_json::from_value(spec).map_err(|e| Error::InvalidArgument(format!("the request: {e}")))
}

/// `GET /console/requests/new`.
pub async fn new_page(signed: &Signed) -> Response<Body> {
    if !submits(&signed.actor) {
        return refused(
            signed,
            &Error::PermissionDenied(
                "placement requests are submitted by department managers and Information Services"
                    .into(),
            ),
        );
    }
    html_response(
        StatusCode::OK,
        html::page(
            "New placement request",
            Some(&signed.frame()),
            &new_form(signed, &[], None),
        ),
    )
}

/// `POST /console/requests/new`: `do=preview` shows the placement verdict the
/// request would get (`Controller::placement_verdict`, nothing stored);
/// `do=submit` submits it as `camplane request submit` does.
pub async fn create(
    console: &Console,
    signed: &Signed,
    form: &[(String, String)],
) -> Response<Body> {
    let again = |status, msg: String, verdict: Option<&Value>| {
        let mut b = html::message("error", &msg);
        b.push_str(&new_form(signed, form, verdict));
        html_response(
            status,
            html::page("New placement request", Some(&signed.frame()), &b),
        )
    };
    let spec = match spec_of(form) {
        Ok(s) => s,
        Err(e) => {
            let (status, text) = status_of(&e);
            return again(status, text, None);
        }
    };
    if html::field(form, "do") == "preview" {
        if !submits(&signed.actor) {
            return refused(
                signed,
                &Error::PermissionDenied("placement requests are submitted by department managers and Information Services".into()),
            );
        }
        let v = console.ctl.placement_verdict("preview", &spec).await;
        return html_response(
            StatusCode::OK,
            html::page(
                "New placement request",
                Some(&signed.frame()),
                &new_form(signed, form, Some(&v)),
            ),
        );
    }
    match console.ctl.submit_request(&signed.actor, "", spec).await {
        Ok(o) => redirect(&format!(
            "/console/requests/{}?done=submission",
            url_part(&o.name)
        )),
        Err(e) => {
            let (status, text) = status_of(&e);
            again(status, text, None)
        }
    }
}
