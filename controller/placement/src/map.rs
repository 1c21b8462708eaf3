//! An SVG map of the layers and checked cameras: standalone, no external resources.

use std::fmt::Write as _;

use geo::{BoundingRect, LineString, MultiPolygon};

use crate::answer::{Answer, Verdict};
use crate::check::sector_polygon;
use crate::layers::Layers;
use crate::request::Request;
use crate::rules::StreetClass;

fn class_style(c: StreetClass) -> (&'static str, f64) {
    match c {
        StreetClass::Arterial => ("#c0392b", 7.0),
        StreetClass::MinorArterial => ("#e67e22", 5.5),
        StreetClass::Collector => ("#f1c40f", 4.5),
        StreetClass::Local => ("#7f8c8d", 3.0),
        StreetClass::Alley => ("#b0b0b0", 1.8),
    }
}

fn verdict_colour(v: Verdict) -> &'static str {
    match v {
        Verdict::Eligible => "#27ae60",
        Verdict::NeedsRequest => "#2980b9",
        Verdict::NeedsReview => "#f39c12",
        Verdict::NotEligible => "#7f8c8d",
        Verdict::Prohibited => "#c0392b",
    }
}

fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Eligible => "eligible",
        Verdict::NeedsRequest => "needs_request",
        Verdict::NeedsReview => "needs_review",
        Verdict::NotEligible => "not_eligible",
        Verdict::Prohibited => "prohibited",
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// SVG y grows downwards: draw (x, -y).
fn path_of_ring(out: &mut String, ring: &LineString<f64>) {
    for (k, c) in ring.0.iter().enumerate() {
        let _ = write!(
            out,
            "{}{:.1},{:.1}",
            if k == 0 { "M" } else { "L" },
            c.x,
            -c.y
        );
    }
    out.push('Z');
}

fn area_paths(
    out: &mut String,
    shapes: &[MultiPolygon<f64>],
    fill: &str,
    stroke: &str,
    label: &str,
) {
    if shapes.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        r#"<g id="{label}" fill="{fill}" stroke="{stroke}" stroke-width="0.8" fill-rule="evenodd">"#
    );
    for mp in shapes {
        let mut d = String::new();
        for p in &mp.0 {
            path_of_ring(&mut d, p.exterior());
            for h in p.interiors() {
                path_of_ring(&mut d, h);
            }
        }
        let _ = writeln!(out, r#"<path d="{d}"/>"#);
    }
    out.push_str("</g>\n");
}

/// Renders the layers and the cameras (coloured by verdict, with their view
/// sectors) as a standalone SVG document in the layers' projected metres.
pub fn render_svg(layers: &Layers, cameras: &[(Request, Answer)]) -> String {
    // Extent: every street, area and camera.
    let mut bb: Option<(f64, f64, f64, f64)> = None;
    let mut grow = |x: f64, y: f64| {
        bb = Some(match bb {
            None => (x, y, x, y),
            Some((a, b, c, d)) => (a.min(x), b.min(y), c.max(x), d.max(y)),
        })
    };
    for s in &layers.streets {
        for l in &s.lines {
            if let Some(r) = l.bounding_rect() {
                grow(r.min().x, r.min().y);
                grow(r.max().x, r.max().y);
            }
        }
    }
    for mp in layers
        .city_property
        .shapes
        .iter()
        .chain(&layers.other_public.shapes)
    {
        if let Some(r) = mp.bounding_rect() {
            grow(r.min().x, r.min().y);
            grow(r.max().x, r.max().y);
        }
    }
    let cams: Vec<[f64; 2]> = cameras
        .iter()
        .map(|(r, _)| layers.project(r.lon, r.lat))
        .collect();
    for (c, (r, _)) in cams.iter().zip(cameras) {
        let reach = r.view.map(|v| v.range_m).unwrap_or(0.0);
        grow(c[0] - reach, c[1] - reach);
        grow(c[0] + reach, c[1] + reach);
    }
    for k in &layers.kiosks {
        grow(k[0], k[1]);
    }
    let (x0, y0, x1, y1) = bb.unwrap_or((-100.0, -100.0, 100.0, 100.0));
    let pad = 40.0 + 0.03 * (x1 - x0).max(y1 - y0);
    let (vx, vy, vw, vh) = (
        x0 - pad,
        -y1 - pad - 60.0,
        x1 - x0 + 2.0 * pad,
        y1 - y0 + 2.0 * pad + 60.0,
    );
    let scale = (vw.max(vh) / 1000.0).max(0.05);

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="{vx:.1} {vy:.1} {vw:.1} {vh:.1}" width="1000" height="{:.0}" font-family="sans-serif">"#,
        1000.0 * vh / vw
    );
    let _ = writeln!(out, "<title>camplane placement map</title>");
    let _ = writeln!(
        out,
        r##"<rect x="{vx:.1}" y="{vy:.1}" width="{vw:.1}" height="{vh:.1}" fill="#fbfaf6"/>"##
    );

    area_paths(
        &mut out,
        &layers.residential.shapes,
        "#f6d7d7",
        "#e0a8a8",
        "residential",
    );
    area_paths(
        &mut out,
        &layers.other_public.shapes,
        "#d6e4f5",
        "#7fa7d6",
        "other_public",
    );
    area_paths(
        &mut out,
        &layers.city_property.shapes,
        "#d5efd9",
        "#4caf6a",
        "city_property",
    );

    // Streets, lowest class first so arterials draw on top.
    out.push_str(
        "<g id=\"streets\" fill=\"none\" stroke-linecap=\"round\" stroke-linejoin=\"round\">\n",
    );
    for class in StreetClass::ALL.iter().rev() {
        let (colour, width) = class_style(*class);
        let _ = writeln!(
            out,
            r#"<g class="{class}" stroke="{colour}" stroke-width="{:.2}">"#,
            width * scale
        );
        for s in layers.streets.iter().filter(|s| s.class == *class) {
            for l in &s.lines {
                let mut d = String::new();
                for (k, c) in l.0.iter().enumerate() {
                    let _ = write!(
                        d,
                        "{}{:.1},{:.1}",
                        if k == 0 { "M" } else { "L" },
                        c.x,
                        -c.y
                    );
                }
                match &s.name {
                    Some(n) => {
                        let _ =
                            writeln!(out, r#"<path d="{d}"><title>{}</title></path>"#, escape(n));
                    }
                    None => {
                        let _ = writeln!(out, r#"<path d="{d}"/>"#);
                    }
                }
            }
        }
        out.push_str("</g>\n");
    }
    out.push_str("</g>\n");

    if !layers.kiosks.is_empty() {
        out.push_str("<g id=\"kiosks\" fill=\"#8e44ad\">\n");
        for k in &layers.kiosks {
            let _ = writeln!(
                out,
                r#"<rect x="{:.1}" y="{:.1}" width="{w:.1}" height="{w:.1}"><title>911 kiosk</title></rect>"#,
                k[0] - 4.0 * scale,
                -k[1] - 4.0 * scale,
                w = 8.0 * scale
            );
        }
        out.push_str("</g>\n");
    }

    out.push_str("<g id=\"cameras\">\n");
    for (c, (req, ans)) in cams.iter().zip(cameras) {
        let colour = verdict_colour(ans.verdict);
        if let Some(v) = &req.view {
            let mut d = String::new();
            path_of_ring(&mut d, sector_polygon(*c, v).exterior());
            let _ = writeln!(
                out,
                r#"<path class="sector" d="{d}" fill="{colour}" fill-opacity="0.25" stroke="{colour}" stroke-width="{:.2}"/>"#,
                scale
            );
        }
        let _ = writeln!(
            out,
            r##"<circle class="camera" cx="{:.1}" cy="{:.1}" r="{:.1}" fill="{colour}" stroke="#222" stroke-width="{:.2}"><title>{}: {}</title></circle>"##,
            c[0],
            -c[1],
            6.0 * scale,
            scale,
            escape(&ans.id),
            verdict_name(ans.verdict)
        );
    }
    out.push_str("</g>\n");

    // Title and legend, top left.
    let fs = 14.0 * scale;
    let (lx, mut ly) = (vx + 10.0 * scale, vy + 20.0 * scale);
    let _ = writeln!(out, r##"<g id="legend" font-size="{fs:.1}" fill="#222">"##);
    let _ = writeln!(
        out,
        r#"<text x="{lx:.1}" y="{ly:.1}" font-size="{:.1}" font-weight="bold">Camera placement map</text>"#,
        fs * 1.3
    );
    ly += fs * 1.8;
    for class in StreetClass::ALL {
        let (colour, width) = class_style(class);
        let _ = writeln!(
            out,
            r#"<line x1="{lx:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{colour}" stroke-width="{:.2}"/><text x="{:.1}" y="{ly:.1}">{class}</text>"#,
            lx + 3.0 * fs,
            width * scale,
            lx + 3.5 * fs,
            y = ly - fs * 0.35
        );
        ly += fs * 1.3;
    }
    for (name, fill) in [
        ("city property", "#d5efd9"),
        ("other public", "#d6e4f5"),
        ("residential", "#f6d7d7"),
    ] {
        let _ = writeln!(
            out,
            r##"<rect x="{lx:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{fill}" stroke="#888" stroke-width="{:.2}"/><text x="{:.1}" y="{ly:.1}">{name}</text>"##,
            ly - fs * 0.8,
            3.0 * fs,
            fs * 0.8,
            scale * 0.5,
            lx + 3.5 * fs
        );
        ly += fs * 1.3;
    }
    for v in [
        Verdict::Eligible,
        Verdict::NeedsRequest,
        Verdict::NeedsReview,
        Verdict::NotEligible,
        Verdict::Prohibited,
    ] {
        let _ = writeln!(
            out,
            r##"<circle cx="{:.1}" cy="{:.1}" r="{:.1}" fill="{}" stroke="#222" stroke-width="{:.2}"/><text x="{:.1}" y="{ly:.1}">camera: {}</text>"##,
            lx + 1.5 * fs,
            ly - fs * 0.35,
            fs * 0.4,
            verdict_colour(v),
            scale * 0.5,
            lx + 3.5 * fs,
            verdict_name(v)
        );
        ly += fs * 1.3;
    }
    out.push_str("</g>\n</svg>\n");
    out
}
