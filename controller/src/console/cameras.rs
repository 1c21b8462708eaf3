//! The cameras pages: the list (filters, pages of [`PAGE`]) through the same
//! permission and view as `camplane get cameras` (rows kept per revision), and one
//! camera's page. No stream address is ever shown, with or without
//! credentials: the pages name what they show field by field.

use super::html::{self, esc, url_part};
use super::{html_response, refused, Console, Signed};
use crate::core::auth::{Actor, Operation};
use crate::core::{AuditAction, Controller, StoredObject};
use crate::registry::views;
use crate::Error;
use axum::body::Body;
use axum::http::{Response, StatusCode};
use camplane_config::model::{Kind, Purpose};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

/// Cameras on one page of the list.
pub const PAGE: usize = 50;

/// The categories a camera can be filtered by (its `purpose`).
pub(super) const PURPOSES: [Purpose; 6] = [
    Purpose::PropertyProtection,
    Purpose::PersonalSafety,
    Purpose::ExtendedResponsibility,
    Purpose::AssistDepartments,
    Purpose::Alpr,
    Purpose::CriminalInvestigation,
];

/// The life-cycle states a camera can be filtered by.
const STATES: [&str; 5] = ["proposed", "approved", "active", "suspended", "retired"];

pub(super) fn purpose_name(p: Purpose) -> String {
    serde_json::to_value(p)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

pub(super) fn purpose_label(p: Purpose) -> String {
    let name = purpose_name(p).replace('_', " ");
    match p.category() {
        Some(c) => format!("{c}: {name}"),
        None => name,
    }
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A camera's life-cycle state as stored (a new camera is `proposed`).
fn state(o: &StoredObject) -> &str {
    match text(&o.status, "state") {
        "" => "proposed",
        s => s,
    }
}

/// The filters of the list, from the query string.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Filters {
    /// Site name.
    pub site: String,
    /// Department name.
    pub department: String,
    /// Purpose (policy category or use) as written in files.
    pub category: String,
    /// Life-cycle state.
    pub state: String,
    /// `yes` (online in its agent's latest health report) or `no`.
    pub online: String,
    /// The page starts after this name.
    pub after: String,
}

impl Filters {
    /// Reads them from a query string.
    pub fn parse(query: &str) -> Filters {
        let p = html::pairs(query);
        let f = |k| html::field(&p, k).chars().take(200).collect::<String>();
        Filters {
            site: f("site"),
            department: f("department"),
            category: f("category"),
            state: f("state"),
            online: f("online"),
            after: f("after"),
        }
    }

    /// Whether `r` passes them (`online`: its camera is online now).
    pub(super) fn matches(&self, r: &Row, online: bool) -> bool {
        let eq = |want: &str, have: &str| want.is_empty() || want == have;
        eq(&self.site, &r.site)
            && eq(&self.department, &r.department)
            && eq(&self.category, &r.purpose)
            && eq(&self.state, &r.state)
            && match self.online.as_str() {
                "yes" => online,
                "no" => !online,
                _ => true,
            }
    }

    /// The query string of these filters starting after `after`.
    fn query(&self, after: &str) -> String {
        let mut q = String::new();
        for (k, v) in [
            ("site", &self.site),
            ("department", &self.department),
            ("category", &self.category),
            ("state", &self.state),
            ("online", &self.online),
        ] {
            if !v.is_empty() {
                let _ = write!(q, "{k}={}&", url_part(v));
            }
        }
        let _ = write!(q, "after={}", url_part(after));
        q
    }
}

/// What the list shows of one camera, taken from the camera as the reader's
/// view ([`views::shown_to`]) has it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Camera name.
    pub name: String,
    /// Site (empty when hidden).
    pub site: String,
    /// Its whereabouts are hidden from this reader.
    pub hidden: bool,
    /// Department.
    pub department: String,
    /// Purpose as written in files.
    pub purpose: String,
    /// Life-cycle state.
    pub state: String,
    /// Where it stands (latitude, longitude), unless hidden from this reader.
    pub location: Option<(f64, f64)>,
    /// The camera's revision the row was made from.
    pub revision: i64,
}

impl Row {
    fn of(o: &StoredObject) -> Row {
        let l = o.spec.get("location");
        let deg = |k| l.and_then(|l| l.get(k)).and_then(Value::as_f64);
        Row {
            name: o.name.clone(),
            site: text(&o.spec, "site").to_string(),
            hidden: o.status.get("location_hidden").is_some(),
            department: text(&o.spec, "department").to_string(),
            purpose: text(&o.spec, "purpose").to_string(),
            state: state(o).to_string(),
            location: deg("lat").zip(deg("lon")),
            revision: 0,
        }
    }
}

/// The list's rows, kept per camera revision and class of reader (those who
/// see covert cameras' whereabouts and those who do not, the only difference
/// the view makes), so a page with 10,000 cameras parses only the cameras
/// changed since the last one.
#[derive(Default)]
pub struct Rows {
    by_class: std::sync::Mutex<[RowMap; 2]>,
}

/// Camera name to its row and the revision it was made from.
type RowMap = HashMap<String, (i64, Arc<Row>)>;

impl Rows {
    /// Every camera's row as `actor` may see it, in name order.
    pub(super) fn current(&self, ctl: &Controller, actor: &Actor) -> crate::Result<Vec<Arc<Row>>> {
        let class = usize::from(views::sees_covert(actor));
        let prefix = Kind::Camera.prefix();
        let kvs = ctl.cache.list(prefix);
        let mut g = self.by_class.lock().unwrap_or_else(|e| e.into_inner());
        // Rebuilt each time from what is current, so deleted cameras drop out.
        let old = std::mem::take(&mut g[class]);
        let mut kept = HashMap::with_capacity(kvs.len());
        let mut out = Vec::with_capacity(kvs.len());
        for kv in kvs {
            let name = &kv.key[prefix.len()..];
            let row = match old.get(name) {
                Some((rev, r)) if *rev == kv.mod_revision => r.clone(),
                _ => {
                    let o: StoredObject = serde_json::from_slice(&kv.value)?;
                    Arc::new(Row {
                        revision: kv.mod_revision,
                        ..Row::of(&views::shown_to(actor, o))
                    })
                }
            };
            kept.insert(name.to_string(), (kv.mod_revision, row.clone()));
            out.push(row);
        }
        g[class] = kept;
        Ok(out)
    }
}

/// One page of rows matching `filters` (in name order, after
/// `filters.after`), whether more follow, and how many match in all.
pub fn select(
    rows: &[Arc<Row>],
    online: &HashMap<String, String>,
    filters: &Filters,
) -> (Vec<Arc<Row>>, bool, usize) {
    let mut page = Vec::with_capacity(PAGE);
    let mut more = false;
    let mut total = 0;
    for r in rows {
        let on = online.get(&r.name).is_some_and(|s| s == "online");
        if !filters.matches(r, on) {
            continue;
        }
        total += 1;
        if r.name.as_str() <= filters.after.as_str() && !filters.after.is_empty() {
            continue;
        }
        if page.len() < PAGE {
            page.push(r.clone());
        } else {
            more = true;
        }
    }
    (page, more, total)
}

impl Console {
    /// Each camera's ingest state in its agent's latest health report (only
    /// for a reader the gRPC `camera status` would answer).
    async fn camera_health(&self, signed: &Signed) -> crate::Result<HashMap<String, Value>> {
        let mut out = HashMap::new();
        for h in self.fleet.health(&signed.actor).await? {
            for c in h.health["cameras"].as_array().into_iter().flatten() {
                if let Some(id) = c["id"].as_str() {
                    let mut c = c.clone();
                    c["agent"] = Value::String(h.agent.clone());
                    c["received_at"] = Value::String(h.received_at.to_string());
                    out.insert(id.to_string(), c);
                }
            }
        }
        Ok(out)
    }
}

/// The names of `kind`'s objects the reader may list, as select options.
pub(super) async fn names(console: &Console, signed: &Signed, kind: Kind) -> Vec<(String, String)> {
    console
        .ctl
        .get_all(&signed.actor, kind)
        .await
        .map(|v| {
            v.into_iter()
                .map(|(o, _)| (o.name.clone(), o.name))
                .collect()
        })
        .unwrap_or_default()
}

/// `GET /console/cameras`.
pub async fn list(console: &Console, signed: &Signed, query: &str) -> Response<Body> {
    let ctl = &console.ctl;
    let actor = &signed.actor;
    // The same permission as `get_all` (and `camplane get cameras`).
    let cameras = match ctl
        .require(actor, Operation::ReadObjects, AuditAction::Get)
        .await
        .and_then(|()| console.rows.current(ctl, actor))
    {
        Ok(c) => c,
        Err(e) => return refused(signed, &e),
    };
    let health = match console.camera_health(signed).await {
        Ok(h) => h,
        Err(e) => return refused(signed, &e),
    };
    let online: HashMap<String, String> = health
        .iter()
        .map(|(k, v)| (k.clone(), text(v, "state").to_string()))
        .collect();
    let sites = names(console, signed, Kind::Site).await;
    let departments = names(console, signed, Kind::Department).await;
    let filters = Filters::parse(query);
    let (page, more, total) = select(&cameras, &online, &filters);
    render_list(
        signed,
        &filters,
        &sites,
        &departments,
        &page,
        more,
        total,
        &online,
    )
}

/// The list page's HTML.
#[allow(clippy::too_many_arguments)]
fn render_list(
    signed: &Signed,
    filters: &Filters,
    sites: &[(String, String)],
    departments: &[(String, String)],
    page: &[Arc<Row>],
    more: bool,
    total: usize,
    online: &HashMap<String, String>,
) -> Response<Body> {
    let purposes: Vec<(String, String)> = PURPOSES
        .iter()
        .map(|p| (purpose_name(*p), purpose_label(*p)))
        .collect();
    let states: Vec<(String, String)> = STATES
        .iter()
        .map(|s| (s.to_string(), s.to_string()))
        .collect();
    let yes_no = [
        ("yes".to_string(), "online".to_string()),
        ("no".to_string(), "not online".to_string()),
    ];
    let mut b = String::with_capacity(16 * 1024);
    b.push_str("<form class=\"filters\" method=\"get\" action=\"/console/cameras\">");
    for (name, label, opts, chosen) in [
        ("site", "Site", sites, &filters.site),
        ("department", "Department", departments, &filters.department),
        ("category", "Category", &purposes[..], &filters.category),
        ("state", "State", &states[..], &filters.state),
        ("online", "Online", &yes_no[..], &filters.online),
    ] {
        let _ = write!(
            b,
            "<div class=\"field\">{}</div>",
            html::select(name, label, opts, chosen)
        );
    }
    b.push_str("<button type=\"submit\">Filter</button></form>");
    let _ = write!(
        b,
        "<p class=\"count\">{total} camera{} match.</p>",
        if total == 1 { "" } else { "s" }
    );
    b.push_str(
        "<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Camera</th><th scope=\"col\">Site</th>\
<th scope=\"col\">Department</th><th scope=\"col\">Category</th><th scope=\"col\">State</th>\
<th scope=\"col\">Online</th></tr></thead><tbody>",
    );
    for o in page {
        let on = online
            .get(&o.name)
            .map(String::as_str)
            .unwrap_or("no report");
        let purpose = &o.purpose;
        let site = match o.site.as_str() {
            "" if o.hidden => "(hidden)",
            s => s,
        };
        let _ = write!(
            b,
            "<tr><td><a href=\"/console/cameras/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            url_part(&o.name),
            esc(&o.name),
            esc(site),
            esc(&o.department),
            esc(&purpose.replace('_', " ")),
            esc(&o.state),
            esc(on)
        );
    }
    b.push_str("</tbody></table></div>");
    if more {
        if let Some(last) = page.last() {
            let _ = write!(
                b,
                "<p class=\"pager\"><a href=\"/console/cameras?{}\">Next {PAGE} cameras</a></p>",
                esc(&filters.query(&last.name))
            );
        }
    }
    if !filters.after.is_empty() {
        b.push_str("<p class=\"pager\"><a href=\"/console/cameras\">First page</a></p>");
    }
    html_response(
        StatusCode::OK,
        html::page("Cameras", Some(&signed.frame()), &b),
    )
}

/// Takes anything that looks like an address out of free text an agent
/// reported (an error may quote the stream's URL).
pub fn scrub(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            if w.contains("://") || w.contains('@') {
                "[address]"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn row(b: &mut String, label: &str, value: &str) {
    if !value.is_empty() {
        let _ = write!(
            b,
            "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
            esc(label),
            esc(value)
        );
    }
}

fn show_value(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        other => other.to_string(),
    }
}

/// `GET /console/cameras/NAME`.
pub async fn show(console: &Console, signed: &Signed, name: &str, query: &str) -> Response<Body> {
    let ctl = &console.ctl;
    let actor = &signed.actor;
    let o = match ctl.get(actor, Kind::Camera, name).await {
        Ok((o, _)) => crate::registry::views::shown_to(actor, o),
        Err(e) => return refused(signed, &e),
    };
    let hidden = o.status.get("location_hidden").is_some();
    let mut b = String::with_capacity(8 * 1024);
    b.push_str("<section><h2>Camera</h2><table class=\"facts\"><tbody>");
    for (label, key) in [
        ("Site", "site"),
        ("Department", "department"),
        ("Kind", "kind"),
        ("Category", "purpose"),
        ("Mount", "mount"),
        ("Room", "room"),
        ("Agent", "agent"),
        ("Retention (days)", "retention_days"),
    ] {
        row(
            &mut b,
            label,
            &show_value(o.spec.get(key).unwrap_or(&Value::Null)),
        );
    }
    for (label, key) in [
        ("Recording", "recording"),
        ("ALPR", "alpr"),
        ("Covert", "covert"),
    ] {
        row(
            &mut b,
            label,
            &show_value(o.spec.get(key).unwrap_or(&Value::Bool(false))),
        );
    }
    if let Some(l) = o.spec.get("location") {
        row(
            &mut b,
            "Location",
            &format!("{}, {}", show_value(&l["lat"]), show_value(&l["lon"])),
        );
    }
    row(&mut b, "Location", text(&o.status, "location_hidden"));
    row(&mut b, "State", state(&o));
    row(
        &mut b,
        "State since",
        &html::when(text(&o.status, "state_since")),
    );
    row(&mut b, "Why", text(&o.status, "reason"));
    row(
        &mut b,
        "No video since",
        text(&o.status, "non_operational_since"),
    );
    b.push_str("</tbody></table></section>");

    // The player and the timeline (recordings, holds, windows).
    b.push_str(&super::player::section(console, signed, &o.name, query).await);

    // Health: the agent's latest report, field by field (never its stream).
    b.push_str("<section><h2>Health</h2>");
    match console.camera_health(signed).await {
        Ok(h) => match h.get(&o.name) {
            Some(c) => {
                b.push_str("<table class=\"facts\"><tbody>");
                for (label, key) in [
                    ("Ingest", "state"),
                    ("Agent", "agent"),
                    ("Reported", "received_at"),
                    ("Frames per second", "fps"),
                    ("Last video", "last_packet"),
                    ("Reconnects", "reconnects"),
                    ("Failed connections", "failures"),
                    ("Segments written", "segments_written"),
                    ("Stream", "stream"),
                ] {
                    row(
                        &mut b,
                        label,
                        &show_value(c.get(key).unwrap_or(&Value::Null)),
                    );
                }
                row(&mut b, "Last error", &scrub(text(c, "last_error")));
                b.push_str("</tbody></table>");
            }
            None => b.push_str("<p>No health report names this camera.</p>"),
        },
        Err(e) => b.push_str(&html::message("error", &super::status_of(&e).1)),
    }
    b.push_str("</section>");

    // Approval history: the steps of its placement request.
    b.push_str("<section><h2>Approval history</h2>");
    let request = text(&o.spec, "placement_request").to_string();
    if request.is_empty() {
        b.push_str("<p>No placement request is named.</p>");
    } else {
        let _ = write!(
            b,
            "<p>Placement request <a href=\"/console/requests/{}\">{}</a></p>",
            url_part(&request),
            esc(&request)
        );
        match ctl.get(actor, Kind::PlacementRequest, &request).await {
            Ok((r, _)) => {
                let r = crate::registry::views::shown_to(actor, r);
                b.push_str(&super::requests::steps_table(&r));
            }
            Err(Error::NotFound(_)) => b.push_str("<p>That request is not on record.</p>"),
            Err(e) => b.push_str(&html::message("error", &super::status_of(&e).1)),
        }
    }
    b.push_str("</section>");

    // Where it stood, unless the reader's view hides where it is.
    b.push_str("<section><h2>Location history</h2>");
    let history = o.status["location_history"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if hidden {
        b.push_str("<p>Hidden (covert camera).</p>");
    } else if history.is_empty() {
        b.push_str("<p>None recorded.</p>");
    } else {
        b.push_str("<table><thead><tr><th scope=\"col\">Location</th><th scope=\"col\">From</th><th scope=\"col\">Until</th></tr></thead><tbody>");
        for h in &history {
            let _ = write!(
                b,
                "<tr><td>{}, {}</td><td>{}</td><td>{}</td></tr>",
                esc(&show_value(&h["location"]["lat"])),
                esc(&show_value(&h["location"]["lon"])),
                esc(&html::when(text(h, "from"))),
                esc(&html::when(text(h, "until")))
            );
        }
        b.push_str("</tbody></table>");
    }
    b.push_str("</section>");

    // Legal holds naming it.
    b.push_str("<section><h2>Legal holds</h2>");
    match ctl.get_all(actor, Kind::LegalHold).await {
        Ok(holds) => {
            let mine: Vec<_> = holds
                .iter()
                .filter(|(h, _)| {
                    h.spec["cameras"]
                        .as_array()
                        .is_some_and(|c| c.iter().any(|c| c.as_str() == Some(&o.name)))
                })
                .collect();
            if mine.is_empty() {
                b.push_str("<p>None.</p>");
            } else {
                b.push_str("<table><thead><tr><th scope=\"col\">Hold</th><th scope=\"col\">Case</th><th scope=\"col\">From</th><th scope=\"col\">Until</th><th scope=\"col\">Released</th></tr></thead><tbody>");
                for (h, _) in mine {
                    let released = show_value(h.status.get("released_at").unwrap_or(&Value::Null));
                    let _ = write!(
                        b,
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        esc(&h.name),
                        esc(text(&h.spec, "case_number")),
                        esc(&html::when(text(&h.spec, "from"))),
                        esc(&html::when(text(&h.spec, "until"))),
                        esc(&if released.is_empty() {
                            "no".into()
                        } else {
                            html::when(&released)
                        })
                    );
                }
                b.push_str("</tbody></table>");
            }
        }
        Err(e) => b.push_str(&html::message("error", &super::status_of(&e).1)),
    }
    b.push_str("</section>");

    // Its latest active-collection windows.
    b.push_str("<section><h2>Recent windows</h2>");
    match console.fleet.windows(actor).await {
        Ok(ws) => {
            let mine: Vec<_> = ws
                .iter()
                .filter(|w| w["camera"] == o.name.as_str())
                .collect();
            if mine.is_empty() {
                b.push_str("<p>None reported.</p>");
            } else {
                b.push_str("<table><thead><tr><th scope=\"col\">Start</th><th scope=\"col\">End</th><th scope=\"col\">Plates read</th></tr></thead><tbody>");
                for w in mine.iter().rev().take(10) {
                    let _ = write!(
                        b,
                        "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                        esc(&html::when(text(w, "start"))),
                        esc(&html::when(text(w, "end"))),
                        esc(&show_value(&w["plates_read"]))
                    );
                }
                b.push_str("</tbody></table>");
            }
        }
        Err(e) => b.push_str(&html::message("error", &super::status_of(&e).1)),
    }
    b.push_str("</section>");
    html_response(
        StatusCode::OK,
        html::page(&format!("Camera {}", o.name), Some(&signed.frame()), &b),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cam(name: &str, site: &str, state: &str) -> Arc<Row> {
        let o: StoredObject = serde_json::from_value(serde_json::json!({
            "kind": "Camera", "name": name,
            "spec": {"site": site, "department": "police", "purpose": "alpr"},
            "status": {"state": state},
        }))
        .unwrap();
        Arc::new(Row::of(&o))
    }

    #[test]
    fn pages_follow_the_filters_and_the_names() {
        let cams: Vec<_> = (0..120)
            .map(|i| {
                cam(
                    &format!("cam-{i:03}"),
                    if i % 2 == 0 { "a" } else { "b" },
                    "active",
                )
            })
            .collect();
        let online: HashMap<String, String> =
            [("cam-000".to_string(), "online".to_string())].into();
        let f = Filters::parse("site=a");
        let (page, more, total) = select(&cams, &online, &f);
        assert_eq!((page.len(), more, total), (PAGE, true, 60));
        let f2 = Filters::parse(&Filters::parse("site=a").query(&page[PAGE - 1].name));
        assert_eq!(f2.site, "a");
        let (page2, more2, _) = select(&cams, &online, &f2);
        assert_eq!((page2.len(), more2), (10, false));
        assert!(page2[0].name > page[PAGE - 1].name);
        let (p, _, total) = select(&cams, &online, &Filters::parse("online=yes"));
        assert_eq!((p.len(), total), (1, 1));
        let (_, _, total) = select(&cams, &online, &Filters::parse("online=no&state=active"));
        assert_eq!(total, 119);
        let (_, _, total) = select(&cams, &online, &Filters::parse("state=retired"));
        assert_eq!(total, 0);
    }

    #[test]
    fn addresses_are_scrubbed_from_reported_errors() {
        assert_eq!(
            scrub("connect rtsp://u:p@10.0.0.9/s failed, user@host"),
            "connect [address] failed, [address]"
        );
    }
}
