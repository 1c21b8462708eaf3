//! The legal holds page (the chief and the City Manager): holds in force and
//! released, a form to place one, and a release button where the hold's own
//! rule (`hold_machine::next`, pure) lets the reader release it. Placing calls
//! `Controller::create_hold` and releasing `Controller::release_hold`, what
//! `camplane hold create|release` call; a records request's hold is shown but
//! ends only with its request.

use super::html::{self, esc, url_part};
use super::{html_response, redirect, refused, status_of, Console, Signed};
use crate::core::auth::{Actor, Operation};
use crate::registry::hold_machine::{self, Action, Stage};
use axum::body::Body;
use axum::http::{Response, StatusCode};
use camplane_config::model::{HoldReason, Kind, LegalHoldSpec, LegalHoldStatus};
use std::fmt::Write;

/// The reasons a hold can be placed for by hand, with their labels.
const REASONS: [(HoldReason, &str, &str); 3] = [
    (
        HoldReason::CriminalInvestigation,
        "criminal_investigation",
        "Criminal investigation (the chief)",
    ),
    (HoldReason::Court, "court", "Court proceeding (the chief)"),
    (
        HoldReason::CityManagerApproved,
        "city_manager_approved",
        "Other bona fide use (the City Manager)",
    ),
];

/// Whether `actor` places holds (the chief, the City Manager): they get the page.
pub fn places_holds(actor: &Actor) -> bool {
    Operation::HoldForCase.allows(actor) || Operation::HoldCityManager.allows(actor)
}

fn reason_name(r: HoldReason) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// `GET /console/holds`.
pub(crate) async fn list(
    console: &Console,
    signed: &Signed,
    msg: Option<String>,
) -> Response<Body> {
    page(console, signed, StatusCode::OK, msg).await
}

async fn page(
    console: &Console,
    signed: &Signed,
    status: StatusCode,
    msg: Option<String>,
) -> Response<Body> {
    let actor = &signed.actor;
    if !places_holds(actor) {
        return refused(
            signed,
            &crate::Error::PermissionDenied(
                "legal holds are placed and released by the chief and the City Manager".into(),
            ),
        );
    }
    let all = match console.ctl.get_all(actor, Kind::LegalHold).await {
        Ok(a) => a,
        Err(e) => return refused(signed, &e),
    };
    let mut b = msg.unwrap_or_default();
    b.push_str("<section><h2>Holds</h2>");
    if all.is_empty() {
        b.push_str("<p>No legal holds.</p>");
    } else {
        b.push_str("<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Hold</th><th scope=\"col\">Case</th><th scope=\"col\">Reason</th><th scope=\"col\">Cameras</th><th scope=\"col\">From</th><th scope=\"col\">Until</th><th scope=\"col\">Placed</th><th scope=\"col\">State</th></tr></thead><tbody>");
        for (o, _) in all.iter().rev() {
            let Ok(spec) = o.spec_as::<LegalHoldSpec>() else {
                continue;
            };
            let st: LegalHoldStatus = o.status_as();
            let stage = if st.released_at.is_some() {
                Stage::Released
            } else {
                Stage::InForce
            };
            let state = match (&st.released_by, st.released_at) {
                (Some(by), Some(at)) => {
                    format!("released by {by} at {}", html::when(&at.to_string()))
                }
                _ => "in force".into(),
            };
            let may_release = stage == Stage::InForce
                && hold_machine::next(
                    &hold_machine::State {
                        reason: spec.reason,
                        stage,
                    },
                    Action::Release,
                    actor,
                )
                .is_ok();
            let release = if may_release {
                format!(
                    "<form class=\"inline\" method=\"post\" action=\"/console/holds/{}\">{}<button type=\"submit\">Release</button></form>",
                    url_part(&o.name),
                    html::csrf_field(&signed.csrf)
                )
            } else {
                String::new()
            };
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} at {}</td><td>{} {release}</td></tr>",
                esc(&o.name),
                esc(&spec.case_number),
                esc(&reason_name(spec.reason).replace('_', " ")),
                esc(&spec.cameras.join(", ")),
                esc(&html::when(&spec.from.to_string())),
                esc(&html::when(&spec.until.to_string())),
                esc(&st.placed_by),
                esc(&html::when(&st.placed_at.map(|t| t.to_string()).unwrap_or_default())),
                esc(&state),
            );
        }
        b.push_str("</tbody></table></div>");
    }
    b.push_str("</section>");
    // The reasons this reader may place a hold for, by the hold's own rule.
    let mine: Vec<(String, String)> = REASONS
        .iter()
        .filter(|(r, _, _)| {
            hold_machine::next(
                &hold_machine::State {
                    reason: *r,
                    stage: Stage::New,
                },
                Action::Place,
                actor,
            )
            .is_ok()
        })
        .map(|(_, v, l)| (v.to_string(), l.to_string()))
        .collect();
    if !mine.is_empty() {
        let _ = write!(
            b,
            "<section><h2>Place a hold</h2><form method=\"post\" action=\"/console/holds\">{}\
<label for=\"h-case\">Case number</label><input id=\"h-case\" name=\"case\" required>\
<label for=\"h-cameras\">Cameras (comma-separated)</label><input id=\"h-cameras\" name=\"cameras\" required>\
<label for=\"h-from\">From (RFC 3339, e.g. 2026-10-01T00:00:00Z)</label><input id=\"h-from\" name=\"from\" required>\
<label for=\"h-to\">Until (RFC 3339)</label><input id=\"h-to\" name=\"to\" required>\
{}<button type=\"submit\">Place the hold</button></form></section>",
            html::csrf_field(&signed.csrf),
            html::select("reason", "Reason", &mine, "")
        );
    }
    html_response(status, html::page("Legal holds", Some(&signed.frame()), &b))
}

/// `POST /console/holds`: places a hold as `camplane hold create` does.
pub(crate) async fn create(
    console: &Console,
    signed: &Signed,
    form: &[(String, String)],
) -> Response<Body> {
    let spec = serde_json::json!({
        "case_number": html::field(form, "case").trim(),
        "cameras": html::field(form, "cameras").split(',').map(str::trim).filter(|c| !c.is_empty()).collect::<Vec<_>>(),
        "from": html::field(form, "from").trim(),
        "until": html::field(form, "to").trim(),
        "reason": html::field(form, "reason"),
    });
    let spec: LegalHoldSpec = match serde_json::from_value(spec) {
        Ok(s) => s,
        Err(e) => {
            let msg = format!(
                "The hold was not placed: {e} (times are RFC 3339; the reason is one of the list)."
            );
            return page(
                console,
                signed,
                StatusCode::BAD_REQUEST,
                Some(html::message("error", &msg)),
            )
            .await;
        }
    };
    match console.ctl.create_hold(&signed.actor, spec).await {
        Ok(o) => {
            page(
                console,
                signed,
                StatusCode::OK,
                Some(html::message("note", &format!("Hold {} placed.", o.name))),
            )
            .await
        }
        Err(e) => {
            let (status, text) = status_of(&e);
            page(console, signed, status, Some(html::message("error", &text))).await
        }
    }
}

/// `POST /console/holds/NAME`: releases it as `camplane hold release` does.
pub(crate) async fn release(console: &Console, signed: &Signed, name: &str) -> Response<Body> {
    match console.ctl.release_hold(&signed.actor, name).await {
        Ok(_) => redirect("/console/holds?released=1"),
        Err(e) => {
            let (status, text) = status_of(&e);
            page(console, signed, status, Some(html::message("error", &text))).await
        }
    }
}
