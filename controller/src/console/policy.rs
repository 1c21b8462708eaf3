//! The policy page (every signed-in user): the version in force, when it was
//! last reviewed and when the next review is due (flagged when overdue), the
//! reviews with their signoffs, and for the five parties' signers a signoff
//! button on the open review where the review's own rule
//! (`policy_machine::signoff`, pure) lets them sign. Signing calls
//! `Controller::signoff_policy`, what `camplane policy signoff` calls.

use super::html::{self, esc, url_part};
use super::{html_response, redirect, status_of, Console, Signed};
use crate::oversight::policy_machine::{self, Party, ReviewStage, ReviewState};
use axum::body::Body;
use axum::http::{Response, StatusCode};
use std::fmt::Write;

/// `GET /console/policy`.
pub(crate) async fn show(
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
    let ctl = &console.ctl;
    let st = ctl.policy_status();
    let mut b = msg.unwrap_or_default();
    let when = |t: Option<jiff::Timestamp>| {
        t.map(|t| html::when(&t.to_string()))
            .unwrap_or_else(|| "none on record".into())
    };
    if st.review_overdue {
        b.push_str(&html::message(
            "error",
            "The policy's annual review is overdue (policy 5.05: reviewed by the police, Engineering, Information Services, the City Attorney's Office and the City Manager on an annual basis).",
        ));
    }
    let _ = write!(
        b,
        "<section><h2>In force</h2><dl><dt>Version</dt><dd>{}</dd><dt>Text SHA-256</dt><dd><code>{}</code></dd>\
<dt>Took effect</dt><dd>{}</dd><dt>Last review</dt><dd>{}</dd><dt>Next review due</dt><dd>{}</dd></dl></section>",
        esc(&st.version),
        esc(st.sha256.as_deref().unwrap_or("-")),
        esc(&st.took_effect_at.map(|t| html::when(&t.to_string())).unwrap_or_else(|| "from the controller's configuration".into())),
        esc(&when(st.last_review_at)),
        esc(&if st.review_overdue { "now (overdue)".to_string() } else { when(st.review_due) }),
    );
    let reviews = match ctl.policy_reviews().await {
        Ok(r) => r,
        Err(e) => {
            let (s, text) = status_of(&e);
            return html_response(
                s,
                html::page(
                    "Policy",
                    Some(&signed.frame()),
                    &html::message("error", &text),
                ),
            );
        }
    };
    b.push_str("<section><h2>Reviews</h2>");
    if reviews.is_empty() {
        b.push_str(
            "<p>No review has been proposed (`camplane policy propose FILE --version V`).</p>",
        );
    } else {
        b.push_str("<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Version</th><th scope=\"col\">State</th><th scope=\"col\">Proposed</th>");
        for p in Party::ALL {
            let _ = write!(
                b,
                "<th scope=\"col\">{}</th>",
                esc(&p.as_str().replace('_', " "))
            );
        }
        b.push_str("</tr></thead><tbody>");
        for r in &reviews {
            let state = match r.stage {
                ReviewStage::Open => "open",
                ReviewStage::InForce if r.version == st.version => "in force",
                ReviewStage::InForce => "took effect, since replaced",
            };
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{} at {}</td>",
                esc(&r.version),
                state,
                esc(&r.proposed_by),
                esc(&html::when(&r.proposed_at.to_string()))
            );
            for p in Party::ALL {
                let cell = match r.signoffs.get(&p) {
                    Some(s) => format!("{} at {}", esc(&s.by), esc(&html::when(&s.at.to_string()))),
                    None => {
                        // A button where the rule lets this reader sign for `p`.
                        let may = r.stage == ReviewStage::Open
                            && policy_machine::signoff(
                                &signed.actor,
                                &r.version,
                                Some(ReviewState {
                                    version: &r.version,
                                    stage: r.stage,
                                    signoffs: &r.signoffs,
                                }),
                                Some(p),
                            )
                            .is_ok();
                        if may {
                            format!(
                                "<form class=\"inline\" method=\"post\" action=\"/console/policy/{}\">{}<input type=\"hidden\" name=\"party\" value=\"{}\"><button type=\"submit\">Sign off</button></form>",
                                url_part(&r.version),
                                html::csrf_field(&signed.csrf),
                                p.as_str()
                            )
                        } else {
                            "waiting".into()
                        }
                    }
                };
                let _ = write!(b, "<td>{cell}</td>");
            }
            b.push_str("</tr>");
        }
        b.push_str("</tbody></table></div>");
    }
    b.push_str("</section>");
    html_response(status, html::page("Policy", Some(&signed.frame()), &b))
}

/// `POST /console/policy/VERSION`: a signoff, as `camplane policy signoff` does.
pub(crate) async fn signoff(
    console: &Console,
    signed: &Signed,
    version: &str,
    form: &[(String, String)],
) -> Response<Body> {
    match console
        .ctl
        .signoff_policy(&signed.actor, version, html::field(form, "party"))
        .await
    {
        Ok(_) => redirect("/console/policy?signed=1"),
        Err(e) => {
            let (status, text) = status_of(&e);
            page(console, signed, status, Some(html::message("error", &text))).await
        }
    }
}
