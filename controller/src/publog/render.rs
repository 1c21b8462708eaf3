//! The log rendered as CSV, JSON and HTML (same log, same bytes).

use super::*;

/// The three files of a month, in name order.
pub fn render(log: &PublicLog) -> Vec<(String, Vec<u8>)> {
    let json = serde_json::to_vec_pretty(log).unwrap_or_default();
    vec![
        ("index.html".into(), render_html(log).into_bytes()),
        ("log.csv".into(), render_csv(log).into_bytes()),
        ("log.json".into(), json),
    ]
}

/// One CSV field (quoted, formulas defused): `core::csv::field`.
pub(super) fn csv_field(s: &str) -> String {
    crate::core::csv::field(s)
}

/// One CSV row for a place: reader, first and last day, "lat,lon" in `detail`.
pub(super) fn place_row(s: &mut String, record: &str, reader: &str, l: &Place, blank: &str) {
    let _ = writeln!(
        s,
        "{record},{},{},{},,,{blank},\"{},{}\",",
        csv_field(reader),
        l.from,
        l.until.as_deref().unwrap_or(""),
        l.lat,
        l.lon
    );
}

/// `log.csv`: one table; the `record` column says what each row is.
pub fn render_csv(log: &PublicLog) -> String {
    let cats = HitCategory::ALL.map(|c| c.as_str()).join(",");
    let mut s = format!("record,reader,start,end,plates_read,hits_total,{cats},detail,count\n");
    let hits_cols = |h: &Hits| {
        HitCategory::ALL
            .iter()
            .map(|c| h.get(c).copied().unwrap_or(0).to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let blank = HitCategory::ALL.map(|_| "").join(",");
    for r in &log.readers {
        for p in &r.periods {
            let _ = writeln!(
                s,
                "period,{},{},{},{},{},{},,",
                csv_field(&r.reader),
                p.start,
                p.end,
                p.plates_read,
                p.hits.values().sum::<u64>(),
                hits_cols(&p.hits)
            );
        }
        let _ = writeln!(
            s,
            "reader_total,{},,,{},{},{},{},",
            csv_field(&r.reader),
            r.plates_read,
            r.hits.values().sum::<u64>(),
            hits_cols(&r.hits),
            r.kind
        );
        for l in &r.locations {
            place_row(&mut s, "reader_location", &r.reader, l, &blank);
        }
    }
    for d in &log.days {
        let _ = writeln!(
            s,
            "day,,{},{},{},{},{blank},,",
            d.date, d.date, d.plates_read, d.hits
        );
    }
    let t = &log.totals;
    let _ = writeln!(
        s,
        "month_total,,{},{},{},{},{},,",
        log.days.first().map(|d| d.date.as_str()).unwrap_or(""),
        log.days.last().map(|d| d.date.as_str()).unwrap_or(""),
        t.plates_read,
        t.hits_total,
        hits_cols(&t.hits)
    );
    for (o, n) in &t.case_assists {
        let _ = writeln!(s, "case_assists,,,,,,{blank},{},{n}", csv_field(o));
    }
    let _ = writeln!(s, "arrests,,,,,,{blank},,{}", t.arrests);
    for db in &log.databases {
        let _ = writeln!(s, "database,,,,,,{blank},{},", csv_field(db));
    }
    // The same complaint counts as the page and log.json.
    let c = &log.complaints;
    for (what, n) in [
        ("received", c.received),
        ("decided", c.decided),
        ("appealed", c.appealed),
        ("policy_followed", c.followed),
        ("policy_not_followed", c.not_followed),
    ] {
        let _ = writeln!(s, "complaints,,,,,,{blank},{what},{n}");
    }
    if let Some(u) = &log.last_updated {
        let _ = writeln!(s, "last_updated,,,,,,{blank},{},", csv_field(u));
    }
    for h in &log.location_history {
        for l in &h.locations {
            place_row(&mut s, "location_history", &h.reader, l, &blank);
        }
    }
    s
}

/// Escapes text for HTML (control characters but newlines become spaces).
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() && c != '\n' => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

pub(super) fn label(c: &str) -> String {
    let s = c.replace('_', " ");
    let mut cs = s.chars();
    match cs.next() {
        Some(f) => f.to_uppercase().chain(cs).collect(),
        None => s,
    }
}

pub(super) fn month_name(m: &str) -> String {
    const NAMES: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    match Month::parse(m) {
        Ok(mm) => format!("{} {}", NAMES[(mm.month - 1) as usize], mm.year),
        Err(_) => m.to_string(),
    }
}

/// Shared page style: readable on a phone, no external fonts or scripts.
pub const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem;line-height:1.45;color:#1b1b1b}\
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}\
.scroll{overflow-x:auto}table{border-collapse:collapse;margin:.5rem 0;font-variant-numeric:tabular-nums}\
caption{text-align:left;font-weight:600;padding:.3rem 0}th,td{border:1px solid #bbb;padding:.25rem .5rem;text-align:right}\
th:first-child,td:first-child{text-align:left}td{white-space:nowrap}h3{font-size:1rem;margin-bottom:.2rem}svg{max-width:100%;height:auto}.note{color:#555;font-size:.9rem}";

/// The chart of reads and hits per day, as inline SVG.
pub fn chart_svg(days: &[Day]) -> String {
    let n = days.len().max(1);
    let (w, left, top, panel, gap) = (720.0_f64, 48.0, 20.0, 150.0, 50.0);
    let bw = (w - left - 10.0) / n as f64;
    let max_r = days.iter().map(|d| d.plates_read).max().unwrap_or(0).max(1);
    let max_h = days.iter().map(|d| d.hits).max().unwrap_or(0).max(1);
    let h_panel = 90.0;
    let height = top + panel + gap + h_panel + 30.0;
    let total_r: u64 = days.iter().map(|d| d.plates_read).sum();
    let total_h: u64 = days.iter().map(|d| d.hits).sum();
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {height}\" width=\"{w}\" height=\"{height}\" role=\"img\" aria-labelledby=\"chart-title\">\
<title id=\"chart-title\">Plates read per day (total {total_r}) and hotlist hits per day (total {total_h})</title>\
<style>text{{font-family:sans-serif;font-size:11px;fill:#333}}</style>"
    );
    let _ = write!(
        s,
        "<text x=\"{left}\" y=\"{}\">Plates read per day (max {max_r})</text>",
        top - 6.0
    );
    let base_r = top + panel;
    let base_h = base_r + gap + h_panel;
    let _ = write!(
        s,
        "<text x=\"{left}\" y=\"{}\">Hotlist hits per day (max {max_h})</text>",
        base_r + gap - 6.0
    );
    for (i, d) in days.iter().enumerate() {
        let x = left + i as f64 * bw;
        let hr = panel * d.plates_read as f64 / max_r as f64;
        let hh = h_panel * d.hits as f64 / max_h as f64;
        let _ = write!(
            s,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{hr:.1}\" fill=\"#2b6cb0\"><title>{}: {} plates read</title></rect>",
            base_r - hr,
            (bw - 2.0).max(1.0),
            d.date,
            d.plates_read
        );
        let _ = write!(
            s,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{hh:.1}\" fill=\"#c05621\"><title>{}: {} hits</title></rect>",
            base_h - hh,
            (bw - 2.0).max(1.0),
            d.date,
            d.hits
        );
        let dom = d.date.get(8..10).unwrap_or("");
        if i == 0 || (i + 1) % 5 == 0 {
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{dom}</text>",
                x + bw / 2.0,
                base_h + 16.0
            );
        }
    }
    for (y, v) in [
        (base_r, 0),
        (top, max_r),
        (base_h, 0),
        (base_r + gap, max_h),
    ] {
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{v}</text><line x1=\"{left}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#999\" stroke-width=\"0.5\"/>",
            left - 4.0,
            y + 4.0,
            w - 10.0
        );
    }
    s.push_str("</svg>");
    s
}

pub(super) fn hits_header() -> String {
    HitCategory::ALL
        .iter()
        .map(|c| format!("<th scope=\"col\">{}</th>", esc(&label(c.as_str()))))
        .collect()
}

pub(super) fn hits_cells(h: &Hits) -> String {
    HitCategory::ALL
        .iter()
        .map(|c| format!("<td>{}</td>", h.get(c).copied().unwrap_or(0)))
        .collect()
}

/// `index.html`: the month for people.
pub fn render_html(log: &PublicLog) -> String {
    let title = format!(
        "{}: license plate reader log, {}",
        log.city,
        month_name(&log.month)
    );
    let mut s = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{t}</title><style>{STYLE}</style></head><body>\n<h1>{t}</h1>\n",
        t = esc(&title)
    );
    let _ = writeln!(
        s,
        "<p>Generated from what the city's license plate readers reported; no figure is typed by a person. \
Times are in {} and shown to the minute. {}</p>",
        esc(&log.time_zone),
        match &log.last_updated {
            Some(u) => format!("<strong>Last updated {}</strong>.", esc(u)),
            None => "No reader reported for this month.".into(),
        }
    );
    let _ = writeln!(
        s,
        "<p class=\"note\">Also as <a href=\"log.csv\">CSV</a> and <a href=\"log.json\">JSON</a> with the same numbers.</p>"
    );
    let t = &log.totals;
    let _ = writeln!(s, "<h2>Month totals</h2><div class=\"scroll\"><table><caption>Plates read and hotlist hits, {}</caption>\
<thead><tr><th scope=\"col\">Plates read</th><th scope=\"col\">All hits</th>{}</tr></thead>\
<tbody><tr><td>{}</td><td>{}</td>{}</tr></tbody></table></div>",
        esc(&month_name(&log.month)), hits_header(), t.plates_read, t.hits_total, hits_cells(&t.hits));
    let _ = writeln!(
        s,
        "<h2>Reads and hits per day</h2><figure>{}<figcaption class=\"note\">Blue: plates read per day. Orange: hotlist hits per day.</figcaption></figure>",
        chart_svg(&log.days)
    );
    let _ = write!(
        s,
        "<h2>Case assists</h2><div class=\"scroll\"><table><caption>Case assists by offence ({} in all; {} arrests assisted)</caption>\
<thead><tr><th scope=\"col\">Offence</th><th scope=\"col\">Assists</th></tr></thead><tbody>",
        t.case_assists_total, t.arrests
    );
    if t.case_assists.is_empty() {
        s.push_str("<tr><td>None reported</td><td>0</td></tr>");
    }
    for (o, n) in &t.case_assists {
        let _ = write!(s, "<tr><td>{}</td><td>{n}</td></tr>", esc(&label(o)));
    }
    s.push_str("</tbody></table></div>\n<h2>Databases compared</h2><ul>");
    if log.databases.is_empty() {
        s.push_str("<li>None</li>");
    }
    for d in &log.databases {
        let _ = write!(s, "<li>{}</li>", esc(d));
    }
    s.push_str("</ul><p class=\"note\">Sources the city marks non-public are not named.</p>\n<h2>Readers and their active periods</h2>\n");
    if log.readers.is_empty() {
        s.push_str("<p>No reader collected data this month.</p>\n");
    }
    for r in &log.readers {
        let place = match r.locations.as_slice() {
            [] => String::new(),
            ls => format!(
                "; at {}",
                ls.iter()
                    .map(|l| format!("{}, {}", l.lat, l.lon))
                    .collect::<Vec<_>>()
                    .join(" then ")
            ),
        };
        let _ = write!(
            s,
            "<h3>{} ({}{}): {} plates read, {} hits</h3><div class=\"scroll\"><table><caption>Active periods</caption>\
<thead><tr><th scope=\"col\">From</th><th scope=\"col\">To</th><th scope=\"col\">Plates read</th>{}</tr></thead><tbody>",
            esc(&r.reader),
            esc(&r.kind),
            esc(&place),
            r.plates_read,
            r.hits.values().sum::<u64>(),
            hits_header()
        );
        for p in &r.periods {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td>{}</tr>",
                esc(&p.start),
                esc(&p.end),
                p.plates_read,
                hits_cells(&p.hits)
            );
        }
        s.push_str("</tbody></table></div>\n");
    }
    s.push_str(&location_history_html(&log.location_history));
    s.push_str(&complaints_html(&log.complaints));
    s.push_str(
        "<p class=\"note\">No plate number, image or case number appears in this log.</p>\n",
    );
    if let Some(note) = &log.audit_checkpoint {
        s.push_str(&checkpoint_html(note));
    }
    s.push_str("</body></html>\n");
    s
}

/// The month's last signed checkpoint of the audit log, to be kept: a later
/// rewrite of the log no longer matches it (`camplane audit verify --checkpoint`).
pub fn checkpoint_html(note: &str) -> String {
    format!(
        "<h2 id=\"audit-checkpoint\">Audit log checkpoint</h2>\n<p>The month's last checkpoint of the \
controller's audit log, signed by the controller (a C2SP signed note). Anyone may keep a copy \
and check it later with <code>camplane audit verify --checkpoint FILE</code>.</p>\n<pre>{}</pre>\n",
        esc(note)
    )
}

/// The month's complaints, counted: policy 5.05 has the chief review every
/// complaint, with appeals to the City Manager and the City Council.
pub fn complaints_html(c: &ComplaintCounts) -> String {
    format!(
        "<h2>Complaints</h2><div class=\"scroll\"><table><caption>Complaints about the use of the camera systems this month (no one is named)</caption>\
<thead><tr><th scope=\"col\">Received</th><th scope=\"col\">Decided</th><th scope=\"col\">Appealed</th><th scope=\"col\">Policy followed</th><th scope=\"col\">Policy not followed</th></tr></thead>\
<tbody><tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></tbody></table></div>\n",
        c.received, c.decided, c.appealed, c.followed, c.not_followed
    )
}

/// The table of fixed readers' locations with dates.
pub fn location_history_html(h: &[LocationHistory]) -> String {
    let mut s = String::from(
        "<h2>Fixed reader locations</h2><div class=\"scroll\"><table><caption>Every location of every fixed reader, with dates (confidential readers are left out)</caption>\
<thead><tr><th scope=\"col\">Reader</th><th scope=\"col\">Latitude</th><th scope=\"col\">Longitude</th><th scope=\"col\">From</th><th scope=\"col\">Until</th></tr></thead><tbody>",
    );
    if h.is_empty() {
        s.push_str("<tr><td>None</td><td></td><td></td><td></td><td></td></tr>");
    }
    for r in h {
        for l in &r.locations {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&r.reader),
                l.lat,
                l.lon,
                l.from,
                l.until.as_deref().unwrap_or("now")
            );
        }
    }
    s.push_str("</tbody></table></div>\n");
    s
}

/// The map of fixed readers' locations: exactly the places of
/// [`location_history_html`]'s table (the portal's published set, confidential
/// and covert readers already left out), drawn as inline SVG. Equirectangular,
/// longitude scaled by the cosine of the middle latitude: true enough in shape
/// over a city. A filled dot is where a reader stands now, a ring where one stood.
pub fn reader_map_html(h: &[LocationHistory]) -> String {
    let places: Vec<(&str, &Place, f64, f64)> = h
        .iter()
        .flat_map(|r| r.locations.iter().map(move |l| (r.reader.as_str(), l)))
        .filter_map(|(r, l)| Some((r, l, l.lat.parse::<f64>().ok()?, l.lon.parse::<f64>().ok()?)))
        .filter(|(_, _, la, lo)| la.is_finite() && lo.is_finite())
        .collect();
    let mut s = String::from("<h2>Map of fixed reader locations</h2>");
    if places.is_empty() {
        s.push_str("<p>No fixed reader location to show.</p>\n");
        return s;
    }
    let (mut la0, mut la1, mut lo0, mut lo1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (_, _, la, lo) in &places {
        (la0, la1, lo0, lo1) = (la0.min(*la), la1.max(*la), lo0.min(*lo), lo1.max(*lo));
    }
    let k = ((la0 + la1) / 2.0).to_radians().cos().max(0.01);
    // Degrees of latitude as units; a small extent still gets a frame.
    let (w, hgt) = (((lo1 - lo0) * k).max(0.002), (la1 - la0).max(0.002));
    let span = w.max(hgt);
    let pad = span * 0.08;
    let (vw, vh) = (w + 2.0 * pad, hgt + 2.0 * pad);
    let x = |lo: f64| ((lo - lo0) * k + pad + (w - (lo1 - lo0) * k) / 2.0) * 1000.0 / vw;
    let y = |la: f64| ((la1 - la) + pad + (hgt - (la1 - la0)) / 2.0) * 1000.0 / vw;
    let (pw, ph) = (1000.0, vh * 1000.0 / vw);
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {pw:.0} {ph:.0}\" width=\"{pw:.0}\" height=\"{ph:.0}\" role=\"img\" aria-labelledby=\"reader-map-title\">\
<title id=\"reader-map-title\">Map of {} fixed reader location{} (north up)</title>\
<rect x=\"0\" y=\"0\" width=\"{pw:.0}\" height=\"{ph:.0}\" fill=\"#f7f7f4\" stroke=\"#bbb\"/>",
        places.len(),
        if places.len() == 1 { "" } else { "s" }
    );
    // Earlier places first, so the current ones draw on top.
    let mut order: Vec<_> = places.iter().collect();
    order.sort_by_key(|(_, l, _, _)| l.until.is_none());
    for (reader, l, la, lo) in order {
        let now = l.until.is_none();
        let _ = write!(
            s,
            "<circle class=\"{}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"7\" fill=\"{}\" stroke=\"#1d3557\" stroke-width=\"2\"><title>{}: {}, {} from {} until {}</title></circle>",
            if now { "reader-now" } else { "reader-before" },
            x(*lo),
            y(*la),
            if now { "#1d3557" } else { "none" },
            esc(reader),
            l.lat,
            l.lon,
            l.from,
            l.until.as_deref().unwrap_or("now")
        );
    }
    s.push_str("</svg>\n<p class=\"note\">Filled dot: where a fixed reader stands now. Ring: where one stood before. The table below lists the same places with dates.</p>\n");
    s
}
