//! The alerts page: hotlist alerts, unverified first, each with the review
//! steps the alert machine (`alert_machine::next`, pure) lets its reader take,
//! and those steps, each through `Controller::review_alert` (what `camplane
//! alerts verify|reject|act` calls). The list is `Controller::alerts` page by
//! page, as `camplane alerts list` reads it; new alerts arrive without a
//! reload over server-sent events fed by `Controller::watch_alerts` (what
//! `camplane alerts watch` calls). Refusals and audit entries are the gRPC ones.

use super::html::{self, esc, url_part};
use super::{html_response, redirect, refused, status_of, Console, Signed};
use crate::alpr::alert_machine::{self, Action, AlertState};
use crate::alpr::alert_review::{AlertAction, REJECT_REASONS};
use crate::alpr::hotlist::Alert;
use crate::core::auth::{Actor, Operation};
use crate::core::Controller;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use jiff::Timestamp;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

/// The most pages of alerts one view reads (each page is one audited
/// `alerts list` call of about 1 MiB).
const MAX_PAGES: usize = 64;

/// The most reviewed (actioned or rejected) alerts shown, newest first.
const REVIEWED: usize = 50;

/// How often an open event stream checks that its session still holds (and
/// sends a comment line, so proxies keep it open).
const SESSION_CHECK: Duration = Duration::from_secs(15);

/// Whether `actor`'s roles receive alerts: they get the page in the
/// navigation (the page itself is the wing's answer).
pub fn receives(actor: &Actor) -> bool {
    Operation::ReceiveAlerts.allows(actor)
}

/// The element id of an alert's card (the id percent-encoded: any text is safe).
fn card_id(id: &str) -> String {
    format!("alert-{}", url_part(id))
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

fn when(t: Timestamp) -> String {
    html::when(&t.to_string())
}

/// The steps the alert machine would let `actor` take on `a` now.
fn my_steps(actor: &Actor, a: &Alert) -> Vec<Action> {
    let state = alert_machine::State {
        id: &a.id,
        status: &a.status,
    };
    Action::ALL
        .into_iter()
        .filter(|s| alert_machine::next(&state, *s, actor).is_ok())
        .collect()
}

/// The form of one step on alert `a` (element ids from the card's, so a card
/// sent over the event stream never clashes with the page's).
fn step_form(b: &mut String, a: &Alert, csrf: &str, action: Action) {
    let n = url_part(&a.id);
    let s = action.as_str();
    let _ = write!(
        b,
        "<form class=\"step\" method=\"post\" action=\"/console/alerts/{n}\">{}\
<input type=\"hidden\" name=\"action\" value=\"{s}\">",
        html::csrf_field(csrf)
    );
    match action {
        Action::Verify => {
            let _ = write!(
                b,
                "<div class=\"check\"><input type=\"checkbox\" id=\"vis-{n}\" name=\"visual\" value=\"confirmed\">\
<label for=\"vis-{n}\">Visual check: the plate and vehicle match the alert</label></div>\
<div class=\"check\"><input type=\"checkbox\" id=\"sc-{n}\" name=\"state_check\" value=\"confirmed\">\
<label for=\"sc-{n}\">State-system check: the entry is still wanted</label></div>"
            );
        }
        Action::Reject => {
            let _ = write!(
                b,
                "<label for=\"why-{n}\">Why it is rejected</label><select id=\"why-{n}\" name=\"reason\">"
            );
            for r in REJECT_REASONS {
                let _ = write!(
                    b,
                    "<option value=\"{r}\">{}</option>",
                    esc(&r.replace('_', " "))
                );
            }
            b.push_str("</select>");
        }
        Action::Act => {
            // The policy asks for a case number here; the wing checks it.
            let _ = write!(
                b,
                "<label for=\"case-{n}\">Case number (required)</label>\
<input id=\"case-{n}\" name=\"case_number\" aria-required=\"true\" autocomplete=\"off\">"
            );
        }
    }
    let label = match action {
        Action::Verify => "Verify",
        Action::Reject => "Reject",
        Action::Act => "Record the action taken",
    };
    let _ = write!(
        b,
        "<label for=\"note-{s}-{n}\">Note</label><textarea id=\"note-{s}-{n}\" name=\"note\" rows=\"2\"></textarea>\
<button type=\"submit\">{label}</button></form>"
    );
}

/// One alert as a card: what was seen, what it matched, its steps, and the
/// forms of the steps its reader may take.
pub fn card(a: &Alert, actor: &Actor, csrf: &str) -> String {
    let r = &a.report;
    let mut b = String::with_capacity(2048);
    let _ = write!(
        b,
        "<article class=\"alert {}\" id=\"{}\"><h3>{} <span class=\"state\">{}</span></h3><table class=\"facts\"><tbody>",
        esc(&a.status),
        esc(&card_id(&a.id)),
        esc(&r.plate),
        esc(&a.status)
    );
    fact(&mut b, "Seen", &when(r.time));
    fact(&mut b, "Camera", &r.camera);
    fact(&mut b, "Agent", &a.agent);
    fact(
        &mut b,
        "List",
        &format!(
            "{} ({}, {})",
            r.list,
            r.source.as_str(),
            r.category.as_str()
        ),
    );
    let entry = [r.entry.state.as_deref(), r.entry.reason.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(": ");
    fact(&mut b, "Entry", &entry);
    fact(
        &mut b,
        "Confidence",
        &format!("{:.0}%", r.confidence * 100.0),
    );
    fact(&mut b, "Received", &when(a.received_at));
    fact(
        &mut b,
        "Case number",
        a.case_number.as_deref().unwrap_or(""),
    );
    for s in &a.steps {
        let what = [
            s.reason.as_deref(),
            s.case_number.as_deref(),
            (!s.note.is_empty()).then_some(s.note.as_str()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("; ");
        fact(
            &mut b,
            &format!("Step: {}", s.action),
            &format!(
                "{} at {}{}{what}",
                s.by,
                when(s.at),
                if what.is_empty() { "" } else { ": " }
            ),
        );
    }
    b.push_str("</tbody></table>");
    for s in my_steps(actor, a) {
        step_form(&mut b, a, csrf, s);
    }
    b.push_str("</article>");
    b
}

/// `GET /console/alerts` (`done`: the step just taken, from the redirect).
pub async fn list(console: &Console, signed: &Signed, query: &str) -> Response<Body> {
    let q = html::pairs(query);
    let msg = html::field(&q, "done")
        .parse::<Action>()
        .ok()
        .map(|a| html::message("note", &format!("Your {} was recorded.", a.as_str())));
    render(console, signed, StatusCode::OK, msg).await
}

async fn render(
    console: &Console,
    signed: &Signed,
    status: StatusCode,
    msg: Option<String>,
) -> Response<Body> {
    // Taken before the list is read: the event stream starts here, so an
    // alert stored meanwhile is sent too (the script skips the ones shown).
    let since = console.ctl.now();
    let mut all: Vec<Alert> = Vec::new();
    let mut after = String::new();
    let mut cut = false;
    for i in 0.. {
        match console.ctl.alerts(&signed.actor, None, &after).await {
            Ok((page, next)) => {
                all.extend(page);
                if next.is_empty() {
                    break;
                }
                if i + 1 == MAX_PAGES {
                    cut = true;
                    break;
                }
                after = next;
            }
            Err(e) => return refused(signed, &e),
        }
    }
    // Newest first within each group.
    all.reverse();
    let of = |s: AlertState| all.iter().filter(move |a| a.status == s.as_str());
    let mut b = msg.unwrap_or_default();
    if cut {
        b.push_str(&html::message(
            "error",
            "There are more alerts than one page shows; the newest are left out. Use `camplane alerts list`.",
        ));
    }
    let _ = write!(
        b,
        "<p id=\"alerts-live\" class=\"live\" role=\"status\" aria-live=\"polite\"></p>\
<section><h2>Unverified</h2><div id=\"alerts-new\" data-since=\"{}\">",
        esc(&since.to_string())
    );
    let mut n = 0;
    for a in of(AlertState::Unverified) {
        b.push_str(&card(a, &signed.actor, &signed.csrf));
        n += 1;
    }
    b.push_str("</div>");
    if n == 0 {
        b.push_str("<p id=\"alerts-none\">No unverified alerts.</p>");
    }
    b.push_str("</section><section><h2>Verified, waiting for action</h2>");
    let mut n = 0;
    for a in of(AlertState::Verified) {
        b.push_str(&card(a, &signed.actor, &signed.csrf));
        n += 1;
    }
    if n == 0 {
        b.push_str("<p>None.</p>");
    }
    b.push_str("</section><section><h2>Reviewed</h2>");
    let reviewed: Vec<&Alert> = all
        .iter()
        .filter(|a| {
            !matches!(
                AlertState::parse(&a.status),
                Some(AlertState::Unverified | AlertState::Verified)
            )
        })
        .collect();
    if reviewed.is_empty() {
        b.push_str("<p>None.</p>");
    } else {
        b.push_str("<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Plate</th><th scope=\"col\">State</th><th scope=\"col\">Case number</th><th scope=\"col\">Camera</th><th scope=\"col\">Seen</th><th scope=\"col\">Last step</th></tr></thead><tbody>");
        for a in reviewed.iter().take(REVIEWED) {
            let last = a
                .steps
                .last()
                .map(|s| format!("{} by {}", s.action, s.by))
                .unwrap_or_default();
            let _ = write!(
                b,
                "<tr id=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&card_id(&a.id)),
                esc(&a.report.plate),
                esc(&a.status),
                esc(a.case_number.as_deref().unwrap_or("")),
                esc(&a.report.camera),
                esc(&when(a.report.time)),
                esc(&last)
            );
        }
        b.push_str("</tbody></table></div>");
        if reviewed.len() > REVIEWED {
            let _ = write!(
                b,
                "<p>The latest {REVIEWED} of {} reviewed alerts.</p>",
                reviewed.len()
            );
        }
    }
    b.push_str("</section><script src=\"/console/static/console.js\"></script>");
    html_response(status, html::page("Alerts", Some(&signed.frame()), &b))
}

/// `POST /console/alerts/ID`: a review step (`action`: verify, reject or act,
/// with `visual`, `state_check`, `reason`, `case_number`, `note`) as `camplane
/// alerts ACTION ID` takes it; then back to the alerts page. A refusal is the
/// page again with the wing's words.
pub async fn act(
    console: &Console,
    signed: &Signed,
    id: &str,
    form: &[(String, String)],
) -> Response<Body> {
    let f = |k| html::field(form, k).to_string();
    let action = match f("action").parse::<Action>() {
        Ok(Action::Verify) => AlertAction::Verify {
            visual: f("visual"),
            state_check: f("state_check"),
            note: f("note"),
        },
        Ok(Action::Reject) => AlertAction::Reject {
            reason: f("reason"),
            note: f("note"),
        },
        Ok(Action::Act) => AlertAction::Act {
            case_number: f("case_number").trim().to_string(),
            note: f("note"),
        },
        Err(e) => return refused(signed, &e),
    };
    let kind = action.kind();
    match console.ctl.review_alert(&signed.actor, id, action).await {
        Ok(_) => redirect(&format!("/console/alerts?done={}", kind.as_str())),
        Err(e) => {
            let (status, text) = status_of(&e);
            render(console, signed, status, Some(html::message("error", &text))).await
        }
    }
}

/// Where an event stream starts: the page's `since`, or just after the last
/// alert the browser got (`Last-Event-ID`, whose id starts with its received
/// milliseconds) when it reconnects; the later of the two.
fn stream_since(query: &str, headers: &HeaderMap) -> Option<Timestamp> {
    let q = html::pairs(query);
    let page = html::field(&q, "since").parse::<Timestamp>().ok();
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split('-').next())
        .and_then(|ms| ms.parse::<i64>().ok())
        .and_then(|ms| Timestamp::from_millisecond(ms).ok());
    page.max(last)
}

/// One alert as a server-sent event: `event: alert`, its id (when it is one
/// line), and its card, one `data:` line per line.
fn event(a: &Alert, actor: &Actor, csrf: &str) -> String {
    let mut s = String::from("event: alert\n");
    if !a.id.contains(['\n', '\r', '\0']) {
        let _ = writeln!(s, "id: {}", a.id);
    }
    for line in card(a, actor, csrf).split(['\n', '\r']) {
        let _ = writeln!(s, "data: {line}");
    }
    s.push('\n');
    s
}

/// What an open event stream holds between events.
struct Live {
    ctl: Arc<Controller>,
    rx: tokio::sync::mpsc::Receiver<crate::Result<Alert>>,
    token: String,
    actor: Actor,
    csrf: String,
    tick: tokio::time::Interval,
}

impl Live {
    /// The next bytes to send, or `None` when the stream ends: the controller
    /// shuts down, the watch ends, or the session is gone (checked before
    /// each alert is sent, and every [`SESSION_CHECK`]).
    async fn next(&mut self) -> Option<String> {
        let alert = tokio::select! {
            () = self.ctl.shutdown.cancelled() => return None,
            a = self.rx.recv() => match a {
                Some(Ok(a)) => Some(a),
                _ => return None,
            },
            _ = self.tick.tick() => None,
        };
        self.actor = self.ctl.authenticate(&self.token).await.ok()?;
        Some(match alert {
            Some(a) => event(&a, &self.actor, &self.csrf),
            None => ": session holds\n\n".into(),
        })
    }
}

/// `GET /console/alerts/events`: the new alerts as server-sent events, from
/// `Controller::watch_alerts` for the signed-in session (refused and audited
/// as `alerts watch` is). The stream ends when the controller shuts down or
/// the session is gone.
pub async fn events(
    console: &Console,
    signed: &Signed,
    token: &str,
    query: &str,
    headers: &HeaderMap,
) -> Response<Body> {
    let since = stream_since(query, headers);
    let rx = match console.ctl.watch_alerts(&signed.actor, token, since).await {
        Ok(rx) => rx,
        Err(e) => return refused(signed, &e),
    };
    let live = Live {
        ctl: console.ctl.clone(),
        rx,
        token: token.to_string(),
        actor: signed.actor.clone(),
        csrf: signed.csrf.clone(),
        tick: tokio::time::interval_at(tokio::time::Instant::now() + SESSION_CHECK, SESSION_CHECK),
    };
    // The first bytes go out at once, so the browser sees the stream open.
    let first = futures::stream::once(async { "retry: 5000\n\n".to_string() });
    let rest = futures::stream::unfold(live, |mut live| async move {
        live.next().await.map(|s| (s, live))
    });
    use futures::StreamExt;
    let body = first
        .chain(rest)
        .map(|s| Ok::<_, std::convert::Infallible>(bytes::Bytes::from(s)));
    let mut r = Response::new(Body::from_stream(body));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Proxies must not hold the events back.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_starts_at_the_later_of_page_and_last_event() {
        let mut h = HeaderMap::new();
        assert_eq!(stream_since("", &h), None);
        let page = "2026-12-03T10:00:00Z";
        assert_eq!(
            stream_since(&format!("since={page}"), &h),
            Some(page.parse().unwrap())
        );
        h.insert(
            "last-event-id",
            HeaderValue::from_static("1796292000000-gw-k-1"),
        );
        let last = Timestamp::from_millisecond(1_796_292_000_000).unwrap();
        assert_eq!(stream_since("", &h), Some(last));
        assert_eq!(
            stream_since("since=2000-01-01T00:00:00Z", &h),
            Some(last),
            "the later one"
        );
        h.insert("last-event-id", HeaderValue::from_static("junk"));
        assert_eq!(stream_since("since=nonsense", &h), None);
    }

    fn alert(status: &str, reason: &str) -> Alert {
        serde_json::from_value(serde_json::json!({
            "id": "1780000000000-gw-k-1", "agent": "gw", "received_at": "2026-06-01T12:00:02Z",
            "status": status, "read_id": "1780000000000-ABC1234", "camera": "lpr-1",
            "plate": "ABC1234", "time": "2026-06-01T12:00:00Z", "confidence": 0.93,
            "list": "ncic.stolen_vehicle", "source": "NCIC", "category": "stolen_vehicle",
            "list_version": 1, "entry": {"plate": "ABC1234", "state": "IA", "reason": reason},
            "matched_at": "2026-06-01T12:00:01Z",
        }))
        .unwrap()
    }

    fn actor(role: camplane_config::model::Role) -> Actor {
        Actor {
            username: "op".into(),
            roles: vec![role],
            department: "police".into(),
        }
    }

    #[test]
    fn a_card_offers_the_steps_the_machine_allows_and_escapes_the_agents_words() {
        use camplane_config::model::Role;
        let op = actor(Role::AlprOperator);
        let c = card(&alert("unverified", "<img src=x>"), &op, "tok");
        assert!(c.contains("&lt;img src=x&gt;") && !c.contains("<img"));
        assert!(c.contains("value=\"verify\"") && c.contains("value=\"reject\""));
        assert!(!c.contains("value=\"act\""));
        let c = card(&alert("verified", "stolen"), &op, "tok");
        assert!(c.contains("value=\"act\"") && c.contains("name=\"case_number\""));
        assert!(!c.contains("value=\"verify\""));
        // A supervisor receives alerts but takes no review step.
        let c = card(
            &alert("unverified", "stolen"),
            &actor(Role::Supervisor),
            "tok",
        );
        assert!(!c.contains("<form"));
        // An event is the card, one data line per line, named and with its id.
        let e = event(&alert("unverified", "a\nb"), &op, "tok");
        assert!(e.starts_with("event: alert\nid: 1780000000000-gw-k-1\ndata: <article"));
        assert!(e.ends_with("</article>\n\n"));
        assert!(e
            .lines()
            .filter(|l| !l.is_empty())
            .all(|l| l.starts_with("event:") || l.starts_with("id:") || l.starts_with("data:")));
    }

    #[test]
    fn card_ids_are_safe_for_any_alert_id() {
        assert_eq!(card_id("1-gw-k/1\"<"), "alert-1-gw-k%2F1%22%3C");
    }
}
