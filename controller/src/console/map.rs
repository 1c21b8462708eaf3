//! The map page, for those `camplane placement map` answers
//! (`Operation::ViewPlacementMap`): the GIS layers in use and every camera the
//! reader may see, drawn on the server as inline SVG (no script, no external
//! tiles). The cameras are the cameras list's rows ([`super::cameras::Rows`]: the same
//! permission and view as `camplane get cameras`, so a covert camera whose
//! whereabouts are hidden from the reader has no position to draw); each is a
//! link to its camera page, filled by its placement verdict now (as `placement
//! recheck` checks it) and outlined by its life-cycle state, with a legend in words.

use super::cameras::{self, Filters, Row};
use super::html::{self, esc, url_part};
use super::{html_response, refused, Console, Signed};
use crate::approvals::placement::{Built, Versions};
use crate::approvals::verdict::{camera_verdict_now, CANNOT_CHECK};
use crate::core::auth::Operation;
use crate::core::{AuditAction, StoredObject};
use axum::body::Body;
use axum::http::{Response, StatusCode};
use camplane_config::model::Kind;
use camplane_placement::proj::LocalProjection;
use camplane_placement::{Layers, StreetClass};
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

/// The verdicts a camera can be drawn with, with their fill and words.
const VERDICTS: [(&str, &str, &str); 6] = [
    ("eligible", "#27ae60", "eligible"),
    ("needs_request", "#2980b9", "needs a request"),
    ("needs_review", "#f39c12", "needs review"),
    ("not_eligible", "#7f8c8d", "not eligible"),
    ("prohibited", "#c0392b", "prohibited"),
    (
        CANNOT_CHECK,
        "#ffffff",
        "cannot be checked (no streets layer)",
    ),
];

/// The life-cycle states, with the outline that tells them apart and words.
const STATES: [(&str, &str); 5] = [
    ("proposed", "dotted outline, pale"),
    ("approved", "dashed outline"),
    ("active", "solid outline"),
    ("suspended", "thick dark red outline"),
    ("retired", "grey outline, pale"),
];

/// What the map keeps between pages: the layers drawn once per set of layer
/// versions, and each camera's verdict per camera revision and layer versions,
/// so a page with 10,000 cameras checks only the cameras changed since.
#[derive(Default)]
pub struct Memo {
    layers: Mutex<Option<(Versions, Arc<Drawing>)>>,
    verdicts: Mutex<(Option<Versions>, VerdictMap)>,
}

/// Camera name to its verdict and the camera revision it was checked at.
type VerdictMap = HashMap<String, (i64, Arc<str>)>;

/// The layers drawn: SVG in the projection's metres (y north, drawn as -y).
struct Drawing {
    svg: String,
    /// min x, min y, max x, max y (metres), when anything was drawn.
    extent: Option<[f64; 4]>,
    proj: LocalProjection,
}

fn class_style(c: StreetClass) -> (&'static str, f64) {
    match c {
        StreetClass::Arterial => ("#c0392b", 4.0),
        StreetClass::MinorArterial => ("#e67e22", 3.2),
        StreetClass::Collector => ("#d4ac0d", 2.6),
        StreetClass::Local => ("#7f8c8d", 1.6),
        StreetClass::Alley => ("#b0b0b0", 1.0),
    }
}

fn grow(e: &mut Option<[f64; 4]>, x: f64, y: f64) {
    *e = Some(match *e {
        None => [x, y, x, y],
        Some([a, b, c, d]) => [a.min(x), b.min(y), c.max(x), d.max(y)],
    });
}

/// Appends one line's path (whole metres: enough for a city map) and grows
/// `extent` to cover it.
fn path_of(
    d: &mut String,
    extent: &mut Option<[f64; 4]>,
    line: impl Iterator<Item = (f64, f64)>,
    close: bool,
) {
    for (k, (x, y)) in line.enumerate() {
        grow(extent, x, y);
        let _ = write!(d, "{}{x:.0} {:.0}", if k == 0 { "M" } else { "L" }, -y);
    }
    if close {
        d.push('Z');
    }
}

/// Draws the layers once (areas, then streets lowest class first, then kiosks).
/// Strokes do not scale with the view box, so lines stay legible at any size.
fn draw_layers(layers: &Layers) -> Drawing {
    let mut svg = String::with_capacity(64 * 1024);
    let mut extent = None;
    for (id, fill, stroke, areas) in [
        ("residential", "#f6d7d7", "#e0a8a8", &layers.residential),
        ("other_public", "#d6e4f5", "#7fa7d6", &layers.other_public),
        ("city_property", "#d5efd9", "#4caf6a", &layers.city_property),
    ] {
        if areas.shapes.is_empty() {
            continue;
        }
        let _ = write!(
            svg,
            "<g class=\"layer-{id}\" fill=\"{fill}\" stroke=\"{stroke}\" fill-rule=\"evenodd\" vector-effect=\"non-scaling-stroke\">"
        );
        for mp in &areas.shapes {
            let mut d = String::new();
            for p in &mp.0 {
                for ring in std::iter::once(p.exterior()).chain(p.interiors()) {
                    path_of(&mut d, &mut extent, ring.0.iter().map(|c| (c.x, c.y)), true);
                }
            }
            let _ = write!(svg, "<path d=\"{d}\"/>");
        }
        svg.push_str("</g>");
    }
    svg.push_str("<g class=\"layer-streets\" fill=\"none\" stroke-linecap=\"round\" stroke-linejoin=\"round\">");
    for class in StreetClass::ALL.iter().rev() {
        let (colour, width) = class_style(*class);
        let mut d = String::new();
        for s in layers.streets.iter().filter(|s| s.class == *class) {
            for l in &s.lines {
                path_of(&mut d, &mut extent, l.0.iter().map(|c| (c.x, c.y)), false);
            }
        }
        if !d.is_empty() {
            // One path per class: a city's streets stay a few elements.
            let _ = write!(
                svg,
                "<path class=\"street-{class}\" d=\"{d}\" stroke=\"{colour}\" stroke-width=\"{width}\" vector-effect=\"non-scaling-stroke\"/>"
            );
        }
    }
    svg.push_str("</g>");
    if !layers.kiosks.is_empty() {
        svg.push_str("<g class=\"layer-kiosks\" fill=\"#8e44ad\">");
        for k in &layers.kiosks {
            grow(&mut extent, k[0], k[1]);
            let _ = write!(
                svg,
                "<circle cx=\"{:.0}\" cy=\"{:.0}\" r=\"3\"><title>911 kiosk</title></circle>",
                k[0], -k[1]
            );
        }
        svg.push_str("</g>");
    }
    Drawing {
        svg,
        extent,
        proj: *layers.projection(),
    }
}

impl Memo {
    /// The layers drawn for `built` (drawn again only when a version changed).
    fn drawing(&self, built: &Built) -> Arc<Drawing> {
        let mut g = self.layers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((v, d)) = g.as_ref() {
            if *v == built.versions {
                return d.clone();
            }
        }
        let d = Arc::new(draw_layers(&built.layers));
        *g = Some((built.versions.clone(), d.clone()));
        d
    }

    /// The verdict of each camera of `rows` now, by name; cameras not seen at
    /// their revision with these layers are checked (on a blocking thread).
    async fn verdicts(
        &self,
        console: &Console,
        built: Option<Arc<Built>>,
        rows: &[&Arc<Row>],
    ) -> HashMap<String, Arc<str>> {
        let Some(built) = built else {
            return rows
                .iter()
                .map(|r| (r.name.clone(), Arc::from(CANNOT_CHECK)))
                .collect();
        };
        let mut out = HashMap::with_capacity(rows.len());
        let mut misses = Vec::new();
        {
            let mut g = self.verdicts.lock().unwrap_or_else(|e| e.into_inner());
            if g.0.as_ref() != Some(&built.versions) {
                *g = (Some(built.versions.clone()), HashMap::new());
            }
            for r in rows {
                match g.1.get(&r.name) {
                    Some((rev, v)) if *rev == r.revision => {
                        out.insert(r.name.clone(), v.clone());
                    }
                    _ => {
                        // The stored camera: its verdict is only drawn where the
                        // reader's row already shows its position.
                        if let Some(kv) = console
                            .ctl
                            .cache
                            .get(&StoredObject::key(Kind::Camera, &r.name))
                        {
                            misses.push((r.name.clone(), kv));
                        }
                    }
                }
            }
        }
        if misses.is_empty() {
            return out;
        }
        let b = built.clone();
        let checked = tokio::task::spawn_blocking(move || {
            misses
                .into_iter()
                .map(|(name, kv)| {
                    let v = match serde_json::from_slice::<StoredObject>(&kv.value) {
                        Ok(o) => camera_verdict_now(&b, &o),
                        Err(_) => CANNOT_CHECK.to_string(),
                    };
                    (name, kv.mod_revision, Arc::<str>::from(v))
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        let mut g = self.verdicts.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = g.0.as_ref() == Some(&built.versions);
        for (name, rev, v) in checked {
            if fresh {
                g.1.insert(name.clone(), (rev, v.clone()));
            }
            out.insert(name, v);
        }
        out
    }
}

/// The fill of a verdict.
fn fill_of(verdict: &str) -> &'static str {
    VERDICTS
        .iter()
        .find(|(v, _, _)| *v == verdict)
        .map(|(_, f, _)| *f)
        .unwrap_or("#ffffff")
}

/// The outline of a state: stroke, width, dash pattern, fill opacity.
fn outline_of(state: &str) -> (&'static str, f64, &'static str, f64) {
    match state {
        "proposed" => ("#1b1f24", 1.5, "1 2", 0.5),
        "approved" => ("#1b1f24", 1.5, "4 2", 1.0),
        "suspended" => ("#7f1d1d", 3.5, "none", 1.0),
        "retired" => ("#9ca3af", 1.5, "none", 0.35),
        _ => ("#1b1f24", 1.5, "none", 1.0),
    }
}

/// A small circle as the legend draws it.
fn swatch(fill: &str, state: &str) -> String {
    let (stroke, w, dash, op) = outline_of(state);
    format!(
        "<svg class=\"swatch\" width=\"20\" height=\"20\" viewBox=\"0 0 20 20\" aria-hidden=\"true\"><circle cx=\"10\" cy=\"10\" r=\"7\" fill=\"{fill}\" fill-opacity=\"{op}\" stroke=\"{stroke}\" stroke-width=\"{w}\" stroke-dasharray=\"{dash}\"/></svg>"
    )
}

/// `GET /console/map`.
pub async fn show(console: &Console, signed: &Signed, query: &str) -> Response<Body> {
    let ctl = &console.ctl;
    let actor = &signed.actor;
    // `camplane placement map`'s permission, then the cameras list's rows
    // (`camplane get cameras`: its permission and its view of each camera).
    let allowed = match ctl
        .require(
            actor,
            Operation::ViewPlacementMap,
            AuditAction::PlacementMap,
        )
        .await
    {
        Ok(()) => {
            ctl.require(actor, Operation::ReadObjects, AuditAction::Get)
                .await
        }
        Err(e) => Err(e),
    };
    let rows = match allowed.and_then(|()| console.rows.current(ctl, actor)) {
        Ok(r) => r,
        Err(e) => return refused(signed, &e),
    };
    let mut filters = Filters::parse(query);
    // Health is not read here: the online filter belongs to the list.
    filters.online.clear();
    filters.after.clear();
    let chosen: Vec<&Arc<Row>> = rows.iter().filter(|r| filters.matches(r, false)).collect();
    let (drawn, hidden): (Vec<&Arc<Row>>, Vec<&Arc<Row>>) =
        chosen.iter().partition(|r| r.location.is_some());
    let (built, built_note) = match ctl.placement_built().await {
        Ok(b) => (b, None),
        Err(e) => {
            tracing::warn!(error = %e, "console map: layers could not be built");
            (
                None,
                Some("The GIS layers could not be read; cameras are drawn without them."),
            )
        }
    };
    let drawing = built.as_ref().map(|b| console.map.drawing(b));
    let verdicts = console.map.verdicts(console, built.clone(), &drawn).await;

    // The layers' own projection (the one every check measures in) when they
    // are loaded; else the same projection centred on the cameras.
    let proj = match &drawing {
        Some(d) => d.proj,
        None => {
            let n = drawn.len().max(1) as f64;
            let (la, lo) = drawn
                .iter()
                .filter_map(|r| r.location)
                .fold((0.0, 0.0), |(a, b), (la, lo)| (a + la, b + lo));
            LocalProjection::new(lo / n, la / n)
        }
    };
    let points: Vec<(f64, f64)> = drawn
        .iter()
        .filter_map(|r| r.location)
        .map(|(lat, lon)| proj.project(lon, lat))
        .collect();
    let mut extent = drawing.as_ref().and_then(|d| d.extent);
    for (x, y) in &points {
        grow(&mut extent, *x, *y);
    }
    let [x0, y0, x1, y1] = extent.unwrap_or([-500.0, -500.0, 500.0, 500.0]);
    let span = (x1 - x0).max(y1 - y0).max(200.0);
    let pad = span * 0.04;
    let (vx, vy, vw, vh) = (
        x0 - pad,
        -y1 - pad,
        (x1 - x0) + 2.0 * pad,
        (y1 - y0) + 2.0 * pad,
    );
    let (vw, vh) = (vw.max(span * 0.3), vh.max(span * 0.3));
    let r = span / 100.0;

    let mut b = String::with_capacity(256 * 1024 + drawn.len() * 200);
    let sites = cameras::names(console, signed, Kind::Site).await;
    let purposes: Vec<(String, String)> = cameras::PURPOSES
        .iter()
        .map(|p| (cameras::purpose_name(*p), cameras::purpose_label(*p)))
        .collect();
    b.push_str("<form class=\"filters\" method=\"get\" action=\"/console/map\">");
    for (name, label, opts, chosen) in [
        ("site", "Site", &sites[..], &filters.site),
        ("category", "Category", &purposes[..], &filters.category),
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
        "<p class=\"count\">{} camera{} drawn",
        drawn.len(),
        if drawn.len() == 1 { "" } else { "s" }
    );
    if !hidden.is_empty() {
        let _ = write!(
            b,
            "; {} not drawn (where they are is not shown to you, or not recorded)",
            hidden.len()
        );
    }
    b.push_str(".</p>");
    if let Some(n) = built_note {
        b.push_str(&html::message("error", n));
    } else if built.is_none() {
        b.push_str(&html::message(
            "note",
            "No streets layer is loaded (`camplane gis load --layer streets FILE`): the map has no layers and no verdict can be checked.",
        ));
    }
    let _ = write!(
        b,
        "<div class=\"map\"><svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"{vx:.0} {vy:.0} {vw:.0} {vh:.0}\" aria-labelledby=\"map-title\" preserveAspectRatio=\"xMidYMid meet\">\
<title id=\"map-title\">Map of {} camera{} and the GIS layers in use</title><rect x=\"{vx:.0}\" y=\"{vy:.0}\" width=\"{vw:.0}\" height=\"{vh:.0}\" fill=\"#fbfaf6\"/>",
        drawn.len(),
        if drawn.len() == 1 { "" } else { "s" }
    );
    if let Some(d) = &drawing {
        b.push_str(&d.svg);
    }
    b.push_str("<g class=\"cameras\">");
    for (row, (x, y)) in drawn.iter().zip(&points) {
        let verdict = verdicts
            .get(&row.name)
            .map(|v| &**v)
            .unwrap_or(CANNOT_CHECK);
        let (stroke, w, dash, op) = outline_of(&row.state);
        let _ = write!(
            b,
            "<a class=\"camera\" href=\"/console/cameras/{}\"><circle cx=\"{x:.0}\" cy=\"{:.0}\" r=\"{r:.1}\" fill=\"{}\" fill-opacity=\"{op}\" stroke=\"{stroke}\" stroke-width=\"{w}\" stroke-dasharray=\"{dash}\" vector-effect=\"non-scaling-stroke\"><title>{}: {}, verdict {}</title></circle></a>",
            url_part(&row.name),
            -y,
            fill_of(verdict),
            esc(&row.name),
            esc(&row.state),
            esc(&verdict.replace('_', " "))
        );
    }
    b.push_str("</g></svg></div>");

    // The legend, in words beside each mark.
    b.push_str("<section class=\"legend\"><h2>Legend</h2><h3>Fill: placement verdict now</h3><ul>");
    for (_, fill, words) in VERDICTS {
        let _ = write!(b, "<li>{}{}</li>", swatch(fill, "active"), esc(words));
    }
    b.push_str("</ul><h3>Outline: state</h3><ul>");
    for (state, words) in STATES {
        let _ = write!(
            b,
            "<li>{}{}: {}</li>",
            swatch("#ffffff", state),
            esc(state),
            esc(words)
        );
    }
    b.push_str("</ul>");
    if drawing.is_some() {
        b.push_str("<h3>Layers</h3><ul>");
        for class in StreetClass::ALL {
            let (colour, _) = class_style(class);
            let _ = write!(
                b,
                "<li><svg class=\"swatch\" width=\"20\" height=\"20\" viewBox=\"0 0 20 20\" aria-hidden=\"true\"><line x1=\"2\" y1=\"10\" x2=\"18\" y2=\"10\" stroke=\"{colour}\" stroke-width=\"3\"/></svg>{} street</li>",
                esc(&class.to_string().replace('_', " "))
            );
        }
        for (fill, words) in [
            ("#d5efd9", "city property"),
            ("#d6e4f5", "other public property"),
            ("#f6d7d7", "residential"),
            ("#8e44ad", "911 kiosk"),
        ] {
            let _ = write!(
                b,
                "<li><svg class=\"swatch\" width=\"20\" height=\"20\" viewBox=\"0 0 20 20\" aria-hidden=\"true\"><rect x=\"3\" y=\"3\" width=\"14\" height=\"14\" fill=\"{fill}\" stroke=\"#888\"/></svg>{words}</li>"
            );
        }
        b.push_str("</ul>");
    }
    b.push_str("<p>Each camera is a link to its page; its name, state and verdict are its tooltip.</p></section>");
    html_response(StatusCode::OK, html::page("Map", Some(&signed.frame()), &b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verdict_and_state_has_words() {
        for (v, fill, words) in VERDICTS {
            assert_eq!(fill_of(v), fill);
            assert!(!words.is_empty());
        }
        let outlines: std::collections::HashSet<_> = STATES
            .iter()
            .map(|(s, _)| format!("{:?}", outline_of(s)))
            .collect();
        assert_eq!(outlines.len(), STATES.len(), "each state drawn its own way");
    }

    #[test]
    fn extents_grow_to_cover_every_point() {
        let mut e = None;
        grow(&mut e, 1.0, 2.0);
        grow(&mut e, -3.0, 5.0);
        assert_eq!(e, Some([-3.0, 2.0, 1.0, 5.0]));
    }
}
