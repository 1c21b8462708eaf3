//! The public transparency portal: plain HTTP, read-only, no sign-in.
//!
//! - `/public/`: the months published so far, the policy's current facts
//!   (retention, prohibited uses, hotlist sources, cameras and readers by
//!   category) and every fixed reader's location history (a map, then a table).
//! - `/public/{YYYY-MM}/` (`index.html`), `log.csv`, `log.json`: a published month,
//!   exactly as the leader published it.
//!
//! The HTTP door (`api/http.rs`) serves it, with `/metrics`, on the controller's
//! HTTP address.
//!
//! Every controller serves it from the store; only the leader publishes months
//! (see [`crate::publog`]). Nothing here can write, and pages carry a strict
//! content security policy (no scripts, no external anything).

use crate::core::Controller;
use crate::publog::{esc, location_history_html, LocationHistory, STYLE};
use crate::Result;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use camplane_config::model::{
    CameraKind, CameraSpec, CameraState, CameraStatus, Kind, Purpose, MAX_RETENTION_DAYS,
};
use std::collections::BTreeMap;
use std::fmt::Write as _;

fn page(status: StatusCode, ctype: &'static str, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    r
}

fn not_found() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "text/html; charset=utf-8",
        format!("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Not found</title><style>{STYLE}</style></head>\
<body><h1>Not found</h1><p><a href=\"/public/\">The public log</a></p></body></html>\n"),
    )
}

/// The portal page at `path` (the HTTP door in `api/http.rs` serves it).
pub async fn route(ctl: &Controller, path: &str) -> Response {
    if path == "/" || path == "/public" {
        let mut r = StatusCode::MOVED_PERMANENTLY.into_response();
        r.headers_mut()
            .insert(header::LOCATION, HeaderValue::from_static("/public/"));
        return r;
    }
    let Some(rest) = path.strip_prefix("/public/") else {
        return not_found();
    };
    let result = if rest.is_empty() {
        index(ctl)
            .await
            .map(|b| page(StatusCode::OK, "text/html; charset=utf-8", b))
    } else {
        // A month without its slash: its page's relative links (log.csv,
        // log.json) would resolve beside it, so it is sent to the slash.
        if !rest.contains('/') && crate::publog::Month::parse(rest).is_ok() {
            let mut r = StatusCode::MOVED_PERMANENTLY.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("/public/{rest}/")) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            return r;
        }
        let (month, file) = rest.split_once('/').unwrap_or((rest, ""));
        let (file, ctype) = match file {
            "" | "index.html" => ("index.html", "text/html; charset=utf-8"),
            "log.csv" => ("log.csv", "text/csv; charset=utf-8"),
            "log.json" => ("log.json", "application/json"),
            _ => return not_found(),
        };
        if crate::publog::Month::parse(month).is_err() {
            return not_found();
        }
        match ctl.published_file(month, file).await {
            Ok(Some(body)) => Ok(page(StatusCode::OK, ctype, body)),
            Ok(None) => return not_found(),
            Err(e) => Err(e),
        }
    };
    result.unwrap_or_else(|e| {
        tracing::warn!(error = %e, path, "public portal could not answer");
        page(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain; charset=utf-8",
            "The public log is unavailable right now; try again shortly.\n".into(),
        )
    })
}

fn label(s: &str) -> String {
    s.replace('_', " ")
}

/// The policy's review, as the portal states it: when it was last reviewed,
/// and a flag when the annual review is overdue.
fn review_line(p: &crate::oversight::policy_review::PolicyStatus) -> String {
    let day = |t: jiff::Timestamp| t.strftime("%Y-%m-%d").to_string();
    let last = match p.last_review_at {
        Some(t) => format!("Last reviewed {}.", day(t)),
        None => "No review of it is on record yet.".to_string(),
    };
    if p.review_overdue {
        format!("{last} <strong class=\"overdue\">The annual review is overdue.</strong>")
    } else {
        match p.review_due {
            Some(t) => format!("{last} Next review due by {}.", day(t)),
            None => last,
        }
    }
}

/// The portal's front page.
async fn index(ctl: &Controller) -> Result<String> {
    let months = ctl.published_months().await?;
    let tz = ctl.time_zone();
    let city = &ctl.config.city.name;
    let title = format!("{city}: license plate readers and cameras, public log");
    let mut s = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{t}</title><style>{STYLE}</style></head><body>\n<h1>{t}</h1>\n\
<p>The city's policy requires a public log of license plate reader use, updated monthly. \
Each month is generated from what the readers reported and published once the month is over in {}.</p>\n",
        esc(&ctl.config.city.time_zone),
        t = esc(&title)
    );
    s.push_str("<h2>Monthly logs</h2>");
    if months.is_empty() {
        s.push_str("<p>No month has been published yet.</p>\n");
    } else {
        s.push_str("<ul>");
        for m in &months {
            let _ = write!(
                s,
                "<li><a href=\"/public/{m}/\">{m}</a> (<a href=\"/public/{m}/log.csv\">CSV</a>, <a href=\"/public/{m}/log.json\">JSON</a>){}</li>",
                match &m.last_updated {
                    Some(u) => format!(", last updated {}", esc(u)),
                    None => String::new(),
                },
                m = esc(&m.month)
            );
        }
        s.push_str("</ul>\n");
    }

    // Current policy facts.
    let policy = ctl.policy_status();
    let _ = write!(
        s,
        "<h2>Current policy</h2><ul><li>Recordings and plate reads are deleted after at most {MAX_RETENTION_DAYS} days, unless a legal hold for a case covers them.</li>\
<li>Every search of plate reads needs a case number and an allowed purpose, and is audited.</li>\
<li>Prohibited uses, refused and logged: {}.</li><li>Policy version: {}. {}</li></ul>",
        crate::alpr::search::PROHIBITED_PURPOSES
            .iter()
            .map(|p| esc(&label(p)))
            .collect::<Vec<_>>()
            .join("; "),
        esc(&policy.version),
        review_line(&policy)
    );
    let public: BTreeMap<_, _> = ctl
        .hotlist_sources()
        .into_iter()
        .map(|s| (s.source, s.public))
        .collect();
    let mut sources: Vec<&'static str> = ctl
        .hotlists()
        .iter()
        .filter(|h| public.get(&h.source).copied().unwrap_or(true))
        .map(|h| h.source.as_str())
        .collect();
    sources.sort();
    sources.dedup();
    let _ = write!(
        s,
        "<h2>Hotlist sources</h2><p>Reads are compared with: {}. Sources the city marks non-public are not named.</p>",
        if sources.is_empty() {
            "none yet".to_string()
        } else {
            sources.join(", ")
        }
    );

    // Active cameras by category, and readers by kind. Covert investigation
    // cameras are not counted.
    let mut by_cat: BTreeMap<String, u64> = BTreeMap::new();
    let mut readers: BTreeMap<&str, u64> = BTreeMap::new();
    let now = ctl.now();
    let history: Vec<LocationHistory> = ctl
        .reader_infos()
        .await?
        .iter()
        .filter(|r| r.kind == CameraKind::Fixed && !r.hidden_as_of(now))
        .map(|r| LocationHistory {
            reader: r.camera.clone(),
            locations: r
                .public_places(now)
                .iter()
                .map(|l| crate::publog::place(l, &tz))
                .collect(),
        })
        .filter(|h| !h.locations.is_empty())
        .collect();
    for (o, _) in ctl.list(Kind::Camera)? {
        let Ok(spec) = serde_json::from_value::<CameraSpec>(o.spec.clone()) else {
            continue;
        };
        let st: CameraStatus = serde_json::from_value(o.status.clone()).unwrap_or_default();
        let reader = spec.alpr || spec.purpose == Purpose::Alpr;
        if st.state != CameraState::Active || spec.covert {
            continue;
        }
        if reader {
            *readers
                .entry(match spec.kind {
                    CameraKind::Fixed => "fixed",
                    CameraKind::Mobile => "mobile",
                    CameraKind::Temporary => "temporary",
                })
                .or_default() += 1;
        }
        if let Some(c) = spec.purpose.category() {
            *by_cat.entry(format!("Category {c}")).or_default() += 1;
        }
    }
    s.push_str("<h2>Cameras and readers in service</h2><div class=\"scroll\"><table><caption>Active cameras by policy category and plate readers by kind</caption><thead><tr><th scope=\"col\">What</th><th scope=\"col\">Number</th></tr></thead><tbody>");
    for c in ["A", "B", "C", "D"] {
        let k = format!("Category {c}");
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td></tr>",
            match c {
                "A" => "Category A (property protection)",
                "B" => "Category B (personal safety)",
                "C" => "Category C (extended responsibility)",
                _ => "Category D (assist departments)",
            },
            by_cat.get(&k).copied().unwrap_or(0)
        );
    }
    for k in ["fixed", "mobile", "temporary"] {
        let _ = write!(
            s,
            "<tr><td>Plate readers, {k}</td><td>{}</td></tr>",
            readers.get(k).copied().unwrap_or(0)
        );
    }
    s.push_str("</tbody></table></div>\n");
    s.push_str(&crate::publog::reader_map_html(&history));
    s.push_str(&location_history_html(&history));
    s.push_str("<p class=\"note\">No plate number, image or case number appears on these pages.</p>\n</body></html>\n");
    Ok(s)
}
