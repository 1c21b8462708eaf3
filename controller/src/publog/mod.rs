//! The monthly public log of ALPR use (shared/spec/public-log.md), generated from
//! what the agents report, never typed.
//!
//! Inputs, all written by the controller as reports arrive:
//! - `windows/{YYYY-MM}/{camera}/{start_ms:013}-{agent}-{key}`: every active
//!   window (and amendment) an agent reported, filed under the month (in the
//!   city's time zone) its start falls in, stored in the same transaction as the
//!   report itself, so a resent report is filed once.
//! - `case-assists/{YYYY-MM}/{ms:013}-{rand}`: [`CaseAssist`]s entered by officers.
//! - `publog-dirty/{YYYY-MM}`: a marker put with every window and case assist.
//!
//! The leader publishes: once a month's last day is over in the city's time zone,
//! a dirty month is generated again and stored under `publog/{YYYY-MM}` (with the
//! marker deleted in the same transaction, on the condition that no report came
//! meanwhile). A late report from an agent that was offline marks its month dirty
//! again, so the month is republished and says when its data last changed.
//!
//! Generation is a pure function of the stored data: the same data gives the
//! same bytes (sorted maps, no clock reads; "last updated" is when the newest of
//! the month's records arrived).

pub mod portal;

use crate::alpr::hotlist::{HotlistInfo, SourceInfo};
use crate::core::audit::Draft;
use crate::core::auth::{Actor, Operation};
use crate::core::store::{Compare, Op};
use crate::core::Controller;
use crate::{Error, Result};
use camplane_config::hotlist::{HitCategory, HotlistSource};
use camplane_config::model::{CameraKind, CameraSpec, CameraStatus, Kind, LocationRecord, Purpose};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Prefix of filed windows.
pub const WINDOWS: &str = "windows/";
/// Prefix of case assists.
pub const ASSISTS: &str = "case-assists/";
/// Prefix of months that changed since they were published.
pub const DIRTY: &str = "publog-dirty/";
/// Prefix of published months.
pub const PUBLISHED: &str = "publog/";

/// A calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    /// Year.
    pub year: i16,
    /// Month, 1-12.
    pub month: i8,
}

impl Month {
    /// Parses `YYYY-MM`.
    pub fn parse(s: &str) -> Result<Month> {
        let bad = || {
            Error::InvalidArgument(format!(
                "month {:?}: expected YYYY-MM, e.g. 2026-10",
                s.chars().take(20).collect::<String>()
            ))
        };
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let year: i16 = y.parse().map_err(|_| bad())?;
        let month: i8 = m.parse().map_err(|_| bad())?;
        if !(1..=12).contains(&month) || !(1970..=9998).contains(&year) {
            return Err(bad());
        }
        Ok(Month { year, month })
    }

    /// The month holding `t` in `tz`.
    pub fn of(t: Timestamp, tz: &TimeZone) -> Month {
        let d = t.to_zoned(tz.clone()).date();
        Month {
            year: d.year(),
            month: d.month(),
        }
    }

    fn first_day(self) -> Date {
        Date::new(self.year, self.month, 1).unwrap_or(Date::MIN)
    }

    /// The month after.
    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// Its first instant in `tz`.
    pub fn start(self, tz: &TimeZone) -> Timestamp {
        local_midnight(self.first_day(), tz)
    }

    /// The first instant after it in `tz`.
    pub fn end(self, tz: &TimeZone) -> Timestamp {
        self.next().start(tz)
    }

    /// Its days.
    pub fn days(self) -> Vec<Date> {
        let first = self.first_day();
        (0..first.days_in_month())
            .filter_map(|i| first.checked_add(jiff::Span::new().days(i)).ok())
            .collect()
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

fn local_midnight(d: Date, tz: &TimeZone) -> Timestamp {
    d.to_zoned(tz.clone())
        .map(|z| z.timestamp())
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// An assist to a case, entered by an officer. Only the offence and the count
/// of arrests reach the public log; the case number never does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseAssist {
    /// The case number (format checked).
    pub case_number: String,
    /// Offence, a short code such as `vehicle_theft`.
    pub offense: String,
    /// Arrests the reads assisted.
    pub arrests: u32,
    /// The day of the assist, in the city's time zone.
    pub date: Date,
    /// Who entered it.
    pub entered_by: String,
    /// When.
    pub entered_at: Timestamp,
}

/// A window as filed under its month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FiledWindow {
    /// Reporting agent.
    pub agent: String,
    /// When the controller received it.
    pub received_at: Timestamp,
    /// The agent's window (camplane-agent `ActiveWindow`).
    pub window: WindowReport,
}

/// The fields of an agent's active window the log uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowReport {
    /// Camera.
    pub camera: String,
    /// First video.
    pub start: Timestamp,
    /// Last video.
    pub end: Timestamp,
    /// Merged plate reads.
    #[serde(default)]
    pub plates_read: u64,
    /// Reads that hit, by category.
    #[serde(default)]
    pub hits: BTreeMap<HitCategory, u64>,
    /// Counts to add to an earlier window with this camera and start.
    #[serde(default)]
    pub amends: bool,
    /// The next window of this camera continues the same period.
    #[serde(default)]
    pub continues: bool,
}

/// The store ops that file a window report under its month; `None` when the
/// report is not a well-formed window (it is still kept as a report).
pub fn file_window_ops(
    agent: &str,
    key: &str,
    received_at: Timestamp,
    report: &serde_json::Value,
    tz: &TimeZone,
) -> Option<Vec<Op>> {
    let window: WindowReport = serde_json::from_value(report.clone()).ok()?;
    if window.end < window.start || window.camera.is_empty() || window.camera.contains('/') {
        return None;
    }
    let month = Month::of(window.start, tz);
    let rec = FiledWindow {
        agent: agent.into(),
        received_at,
        window,
    };
    let k = format!(
        "{WINDOWS}{month}/{}/{:013}-{agent}-{key}",
        rec.window.camera,
        rec.window.start.as_millisecond().max(0)
    );
    let v = serde_json::to_vec(&rec).ok()?;
    Some(vec![
        Op::Put(k, v),
        Op::Put(format!("{DIRTY}{month}"), Vec::new()),
    ])
}

/// A reader as the public log shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReaderInfo {
    /// Camera id.
    pub camera: String,
    /// Fixed, mobile or temporary.
    pub kind: CameraKind,
    /// Kept out of public pages: shown without name or location.
    pub confidential: bool,
    /// Every location with dates.
    pub locations: Vec<LocationRecord>,
}

/// Everything one month's log is made from.
#[derive(Debug, Clone)]
pub struct MonthInput {
    /// The city's name.
    pub city: String,
    /// The city's time zone.
    pub tz: TimeZone,
    /// Its name.
    pub tz_name: String,
    /// The month.
    pub month: Month,
    /// The ALPR cameras.
    pub readers: Vec<ReaderInfo>,
    /// Registered cameras that are not readers (their windows are left out).
    pub not_readers: std::collections::BTreeSet<String>,
    /// Windows filed under the month.
    pub windows: Vec<FiledWindow>,
    /// Hotlists (current versions) and source settings.
    pub hotlists: Vec<HotlistInfo>,
    /// Sources' public flags.
    pub sources: Vec<SourceInfo>,
    /// Case assists of the month.
    pub assists: Vec<CaseAssist>,
}

/// Counts by hit category, every category present.
pub type Hits = BTreeMap<HitCategory, u64>;

fn zero_hits() -> Hits {
    HitCategory::ALL.iter().map(|c| (*c, 0)).collect()
}

/// One active period of a reader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Period {
    /// Start, to the minute, in the city's time zone.
    pub start: String,
    /// End, to the minute.
    pub end: String,
    /// Plates read.
    pub plates_read: u64,
    /// Hits by category.
    pub hits: Hits,
}

/// A place, to five decimals (about a metre).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Place {
    /// Latitude.
    pub lat: String,
    /// Longitude.
    pub lon: String,
    /// First day there (city time zone).
    pub from: String,
    /// Last day there; none while it still stands there.
    pub until: Option<String>,
}

/// A reader's month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReaderMonth {
    /// Its public name (camera id, or `confidential reader N`).
    pub reader: String,
    /// `fixed`, `mobile`, `temporary` or `unregistered`.
    pub kind: String,
    /// Where a fixed, non-confidential reader stood while it collected this month.
    pub locations: Vec<Place>,
    /// Active periods, oldest first.
    pub periods: Vec<Period>,
    /// Plates read in the month.
    pub plates_read: u64,
    /// Hits in the month.
    pub hits: Hits,
}

/// One day's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Day {
    /// The date.
    pub date: String,
    /// Plates read.
    pub plates_read: u64,
    /// Hits, all categories.
    pub hits: u64,
}

/// The month's totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Plates read.
    pub plates_read: u64,
    /// Hits by category.
    pub hits: Hits,
    /// All hits.
    pub hits_total: u64,
    /// Case assists by offence.
    pub case_assists: BTreeMap<String, u64>,
    /// All case assists.
    pub case_assists_total: u64,
    /// Arrests assisted.
    pub arrests: u64,
}

/// A fixed reader's location history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocationHistory {
    /// Reader.
    pub reader: String,
    /// Places, oldest first.
    pub locations: Vec<Place>,
}

/// One month's public log (`log.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublicLog {
    /// City.
    pub city: String,
    /// `YYYY-MM`.
    pub month: String,
    /// IANA time zone every time is shown in.
    pub time_zone: String,
    /// When the newest record of the month arrived (to the minute), if any.
    pub last_updated: Option<String>,
    /// Hit categories, in order.
    pub categories: Vec<String>,
    /// Hotlist sources the reads were compared with (public ones only).
    pub databases: Vec<String>,
    /// Readers that collected this month.
    pub readers: Vec<ReaderMonth>,
    /// Figures per day.
    pub days: Vec<Day>,
    /// Totals.
    pub totals: Totals,
    /// Every fixed reader's locations with dates (confidential readers left out).
    pub location_history: Vec<LocationHistory>,
}

fn minute(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned(tz.clone())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

fn day(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned(tz.clone()).strftime("%Y-%m-%d").to_string()
}

/// A location record as the public pages show it (dates in `tz`).
pub fn place(r: &LocationRecord, tz: &TimeZone) -> Place {
    Place {
        lat: format!("{:.5}", r.location.lat),
        lon: format!("{:.5}", r.location.lon),
        from: day(r.from, tz),
        until: r.until.map(|u| day(u, tz)),
    }
}

fn add_hits(into: &mut Hits, from: &BTreeMap<HitCategory, u64>) {
    for (c, n) in from {
        *into.entry(*c).or_default() += n;
    }
}

/// Builds the month's log. Pure: the same input gives the same log.
pub fn build(input: &MonthInput) -> PublicLog {
    let tz = &input.tz;
    let (m_start, m_end) = (input.month.start(tz), input.month.end(tz));
    let readers: BTreeMap<&str, &ReaderInfo> = input
        .readers
        .iter()
        .map(|r| (r.camera.as_str(), r))
        .collect();

    // Base windows by (agent, camera, start); amendments add to them.
    let mut base: BTreeMap<(String, String, Timestamp), (WindowReport, Timestamp)> =
        BTreeMap::new();
    let mut amendments = Vec::new();
    let mut last_received: Option<Timestamp> = None;
    for f in &input.windows {
        last_received = last_received.max(Some(f.received_at));
        let w = &f.window;
        // Only readers, and windows of cameras no longer registered that read plates.
        if !readers.contains_key(w.camera.as_str())
            && (w.plates_read == 0 || input.not_readers.contains(&w.camera))
        {
            continue;
        }
        let k = (f.agent.clone(), w.camera.clone(), w.start);
        if w.amends {
            amendments.push((k, w));
        } else {
            base.entry(k).or_insert((w.clone(), f.received_at));
        }
    }
    for (k, a) in amendments {
        match base.get_mut(&k) {
            Some((w, _)) => {
                w.plates_read += a.plates_read;
                add_hits(&mut w.hits, &a.hits);
            }
            None => {
                let mut w = a.clone();
                w.amends = false;
                base.insert(k, (w, Timestamp::UNIX_EPOCH));
            }
        }
    }
    for a in &input.assists {
        last_received = last_received.max(Some(a.entered_at));
    }

    // Per camera, oldest first; a window that continues joins the next into one period.
    let mut by_camera: BTreeMap<String, Vec<WindowReport>> = BTreeMap::new();
    for ((_, cam, _), (w, _)) in base {
        by_camera.entry(cam).or_default().push(w);
    }
    let mut days: BTreeMap<String, (u64, u64)> = input
        .month
        .days()
        .into_iter()
        .map(|d| (d.to_string(), (0, 0)))
        .collect();
    let mut totals = Totals {
        plates_read: 0,
        hits: zero_hits(),
        hits_total: 0,
        case_assists: BTreeMap::new(),
        case_assists_total: 0,
        arrests: 0,
    };
    let mut confidential_n = 0;
    let mut out_readers = Vec::new();
    for (cam, mut ws) in by_camera {
        ws.sort_by_key(|w| (w.start, w.end));
        let info = readers.get(cam.as_str()).copied();
        let confidential = info.is_some_and(|r| r.confidential);
        let name = if confidential {
            confidential_n += 1;
            format!("confidential reader {confidential_n}")
        } else {
            cam.clone()
        };
        let kind = match info.map(|r| r.kind) {
            Some(CameraKind::Fixed) => "fixed",
            Some(CameraKind::Mobile) => "mobile",
            Some(CameraKind::Temporary) => "temporary",
            None => "unregistered",
        };
        let mut periods: Vec<Period> = Vec::new();
        let mut rm = ReaderMonth {
            reader: name,
            kind: kind.into(),
            locations: Vec::new(),
            periods: Vec::new(),
            plates_read: 0,
            hits: zero_hits(),
        };
        let mut joining = false;
        for w in &ws {
            let d = day(w.start, tz);
            if let Some(e) = days.get_mut(&d) {
                e.0 += w.plates_read;
                e.1 += w.hits.values().sum::<u64>();
            }
            rm.plates_read += w.plates_read;
            add_hits(&mut rm.hits, &w.hits);
            match periods.last_mut() {
                Some(p) if joining => {
                    p.end = minute(w.end, tz);
                    p.plates_read += w.plates_read;
                    add_hits(&mut p.hits, &w.hits);
                }
                _ => {
                    let mut hits = zero_hits();
                    add_hits(&mut hits, &w.hits);
                    periods.push(Period {
                        start: minute(w.start, tz),
                        end: minute(w.end, tz),
                        plates_read: w.plates_read,
                        hits,
                    });
                }
            }
            joining = w.continues;
        }
        rm.periods = periods;
        if let (Some(r), "fixed", false) = (info, kind, confidential) {
            rm.locations = r
                .locations
                .iter()
                .filter(|l| l.from < m_end && l.until.is_none_or(|u| u > m_start))
                .map(|l| place(l, tz))
                .collect();
        }
        totals.plates_read += rm.plates_read;
        add_hits(&mut totals.hits, &rm.hits);
        out_readers.push(rm);
    }
    // Confidential readers after the named ones, so their order says nothing.
    out_readers.sort_by_key(|r| r.reader.starts_with("confidential reader "));
    totals.hits_total = totals.hits.values().sum();
    for a in &input.assists {
        *totals.case_assists.entry(a.offense.clone()).or_default() += 1;
        totals.case_assists_total += 1;
        totals.arrests += u64::from(a.arrests);
    }

    // Databases: public sources with a list loaded before the month ended.
    let public: BTreeMap<HotlistSource, bool> =
        input.sources.iter().map(|s| (s.source, s.public)).collect();
    let mut databases: Vec<String> = input
        .hotlists
        .iter()
        .filter(|h| {
            h.first_loaded_at.unwrap_or(h.loaded_at) < m_end
                && public.get(&h.source).copied().unwrap_or(true)
        })
        .map(|h| h.source.as_str().to_string())
        .collect();
    databases.sort();
    databases.dedup();

    let location_history = input
        .readers
        .iter()
        .filter(|r| r.kind == CameraKind::Fixed && !r.confidential && !r.locations.is_empty())
        .map(|r| LocationHistory {
            reader: r.camera.clone(),
            locations: r.locations.iter().map(|l| place(l, tz)).collect(),
        })
        .collect();

    PublicLog {
        city: input.city.clone(),
        month: input.month.to_string(),
        time_zone: input.tz_name.clone(),
        last_updated: last_received.map(|t| minute(t, tz)),
        categories: HitCategory::ALL
            .iter()
            .map(|c| c.as_str().to_string())
            .collect(),
        databases,
        readers: out_readers,
        days: days
            .into_iter()
            .map(|(date, (p, h))| Day {
                date,
                plates_read: p,
                hits: h,
            })
            .collect(),
        totals,
        location_history,
    }
}

/// The three files of a month, in name order.
pub fn render(log: &PublicLog) -> Vec<(String, Vec<u8>)> {
    let json = serde_json::to_vec_pretty(log).unwrap_or_default();
    vec![
        ("index.html".into(), render_html(log).into_bytes()),
        ("log.csv".into(), render_csv(log).into_bytes()),
        ("log.json".into(), json),
    ]
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// One CSV row for a place: reader, first and last day, "lat,lon" in `detail`.
fn place_row(s: &mut String, record: &str, reader: &str, l: &Place, blank: &str) {
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

fn label(c: &str) -> String {
    let s = c.replace('_', " ");
    let mut cs = s.chars();
    match cs.next() {
        Some(f) => f.to_uppercase().chain(cs).collect(),
        None => s,
    }
}

fn month_name(m: &str) -> String {
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

fn hits_header() -> String {
    HitCategory::ALL
        .iter()
        .map(|c| format!("<th scope=\"col\">{}</th>", esc(&label(c.as_str()))))
        .collect()
}

fn hits_cells(h: &Hits) -> String {
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
    s.push_str("<p class=\"note\">No plate number, image or case number appears in this log.</p>\n</body></html>\n");
    s
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

/// A published month as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Published {
    /// `YYYY-MM`.
    pub month: String,
    /// When the data last changed (city time, to the minute).
    pub last_updated: Option<String>,
    /// When this controller published it.
    pub published_at: Timestamp,
    /// How many times it was published (1 the first time).
    pub edition: u32,
    /// Files by name.
    pub files: BTreeMap<String, String>,
}

/// Validates an offence code: lower-case words joined by `_`.
fn check_offense(o: &str) -> Result<()> {
    if o.len() < 2
        || o.len() > 48
        || !o.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        || o.starts_with('_')
    {
        return Err(Error::InvalidArgument(format!(
            "--offense {:?}: a short code of lower-case letters and _, e.g. vehicle_theft",
            o.chars().take(48).collect::<String>()
        )));
    }
    Ok(())
}

impl Controller {
    fn city_tz(&self) -> Result<TimeZone> {
        TimeZone::get(&self.config.city.time_zone).map_err(|e| {
            Error::Internal(format!(
                "city.time_zone {:?}: {e}",
                self.config.city.time_zone
            ))
        })
    }

    /// The city's time zone (the config was checked at start).
    pub fn time_zone(&self) -> TimeZone {
        self.city_tz().unwrap_or(TimeZone::UTC)
    }

    /// Everything a month's log is made from, read from the store.
    pub async fn month_input(&self, month: Month) -> Result<MonthInput> {
        let tz = self.city_tz()?;
        let mut readers = Vec::new();
        let mut not_readers = std::collections::BTreeSet::new();
        for (o, _) in self.list(Kind::Camera)? {
            let Ok(spec) = serde_json::from_value::<CameraSpec>(o.spec.clone()) else {
                continue;
            };
            if !(spec.alpr || spec.purpose == Purpose::Alpr) {
                not_readers.insert(o.name.clone());
                continue;
            }
            let st: CameraStatus = serde_json::from_value(o.status.clone()).unwrap_or_default();
            readers.push(ReaderInfo {
                camera: o.name.clone(),
                kind: spec.kind,
                confidential: spec.confidential || spec.covert,
                locations: st.location_history,
            });
        }
        readers.sort_by(|a, b| a.camera.cmp(&b.camera));
        let l = self.store.list(&format!("{WINDOWS}{month}/")).await?;
        let mut windows = Vec::with_capacity(l.kvs.len());
        for kv in &l.kvs {
            match serde_json::from_slice::<FiledWindow>(&kv.value) {
                Ok(w) => windows.push(w),
                Err(e) => {
                    tracing::warn!(key = %kv.key, error = %e, "unreadable filed window skipped")
                }
            }
        }
        let l = self.store.list(&format!("{ASSISTS}{month}/")).await?;
        let mut assists = Vec::with_capacity(l.kvs.len());
        for kv in &l.kvs {
            if let Ok(a) = serde_json::from_slice::<CaseAssist>(&kv.value) {
                assists.push(a);
            }
        }
        Ok(MonthInput {
            city: self.config.city.name.clone(),
            tz,
            tz_name: self.config.city.time_zone.clone(),
            month,
            readers,
            not_readers,
            windows,
            hotlists: self.hotlists(),
            sources: self.hotlist_sources(),
            assists,
        })
    }

    /// Generates a month's log for a signed-in user (audited). A month that is
    /// not over yet in the city's time zone is refused: its figures would change.
    pub async fn generate_public_log(
        &self,
        actor: &Actor,
        month: &str,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        self.require(actor, Operation::GeneratePublicLog, "publog.generate")
            .await?;
        let m = Month::parse(month)?;
        let tz = self.city_tz()?;
        let end = m.end(&tz);
        if self.now() < end {
            return Err(Error::FailedPrecondition(format!(
                "{m} is not over yet in {}: it ends at {}",
                self.config.city.time_zone,
                minute(end, &tz)
            )));
        }
        let files = render(&build(&self.month_input(m).await?));
        let mut d = Draft::new(
            &actor.username,
            "publog.generate",
            "PublicLog",
            &m.to_string(),
        );
        d.details = serde_json::json!({"files": files.iter().map(|(n, b)| (n.clone(), b.len())).collect::<BTreeMap<_, _>>()});
        self.audit.record(d).await?;
        Ok(files)
    }

    /// Publishes every month that changed and is over (the leader runs this).
    /// Idempotent: a month is republished only when a report or case assist
    /// arrived for it since. Returns the months published.
    pub async fn publish_due(&self) -> Result<Vec<String>> {
        let tz = self.city_tz()?;
        let now = self.now();
        let dirty = self.store.list(DIRTY).await?;
        let mut done = Vec::new();
        for kv in dirty.kvs {
            let name = kv.key.trim_start_matches(DIRTY);
            let Ok(m) = Month::parse(name) else {
                self.store.delete(&kv.key).await?;
                continue;
            };
            if now < m.end(&tz) {
                continue;
            }
            let log = build(&self.month_input(m).await?);
            let files = render(&log);
            let pkey = format!("{PUBLISHED}{m}");
            let prev = self.store.get(&pkey).await?;
            let prev_rec: Option<Published> = prev
                .as_ref()
                .and_then(|p| serde_json::from_slice(&p.value).ok());
            let rec = Published {
                month: m.to_string(),
                last_updated: log.last_updated.clone(),
                published_at: now,
                edition: prev_rec.as_ref().map_or(1, |p| p.edition + 1),
                files: files
                    .into_iter()
                    .map(|(n, b)| (n, String::from_utf8_lossy(&b).into_owned()))
                    .collect(),
            };
            let unchanged = prev_rec.as_ref().is_some_and(|p| p.files == rec.files);
            let mut ops = vec![Op::Delete(kv.key.clone())];
            if !unchanged {
                ops.push(Op::Put(pkey.clone(), serde_json::to_vec(&rec)?));
            }
            let compares = vec![
                Compare::ModRevision(kv.key.clone(), kv.mod_revision),
                Compare::ModRevision(pkey, prev.map_or(0, |p| p.mod_revision)),
            ];
            if unchanged {
                self.store.txn(compares, ops).await?;
                continue;
            }
            let mut d = Draft::new("system", "publog.publish", "PublicLog", &m.to_string());
            d.details =
                serde_json::json!({"edition": rec.edition, "last_updated": rec.last_updated});
            if self.audit.commit(compares, ops, d).await?.is_some() {
                tracing::info!(month = %m, edition = rec.edition, "public log published");
                done.push(m.to_string());
            }
        }
        Ok(done)
    }

    /// Published months, newest first.
    pub async fn published_months(&self) -> Result<Vec<Published>> {
        let l = self.store.list(PUBLISHED).await?;
        let mut v: Vec<Published> = l
            .kvs
            .iter()
            .filter_map(|kv| serde_json::from_slice(&kv.value).ok())
            .collect();
        v.sort_by(|a, b| b.month.cmp(&a.month));
        Ok(v)
    }

    /// One published file, if the month is published.
    pub async fn published_file(&self, month: &str, file: &str) -> Result<Option<String>> {
        let m = Month::parse(month)?;
        let Some(kv) = self.store.get(&format!("{PUBLISHED}{m}")).await? else {
            return Ok(None);
        };
        let p: Published = serde_json::from_slice(&kv.value)?;
        Ok(p.files.get(file).cloned())
    }

    /// Records an assist to a case (ALPR operator, supervisor, chief). Counted by
    /// offence in the month of `date` (today in the city when none is given).
    pub async fn add_case_assist(
        &self,
        actor: &Actor,
        case_number: &str,
        offense: &str,
        arrests: u32,
        date: Option<&str>,
    ) -> Result<CaseAssist> {
        self.require(actor, Operation::RecordCaseAssist, "case_assist.add")
            .await?;
        let re = regex::Regex::new(&self.config.city.case_number_format)
            .map_err(|e| Error::Internal(format!("case number format: {e}")))?;
        if case_number.len() > 64 || !re.is_match(case_number) {
            return Err(Error::InvalidArgument(format!(
                "--case: does not match the city's case number format {}",
                self.config.city.case_number_format
            )));
        }
        check_offense(offense)?;
        if arrests > 1000 {
            return Err(Error::InvalidArgument(format!(
                "--arrests {arrests}: at most 1000"
            )));
        }
        let tz = self.city_tz()?;
        let now = self.now();
        let date: Date = match date {
            None | Some("") => now.to_zoned(tz.clone()).date(),
            Some(d) => d.parse().map_err(|_| {
                Error::InvalidArgument(format!(
                    "--date {:?}: expected YYYY-MM-DD",
                    d.chars().take(20).collect::<String>()
                ))
            })?,
        };
        if local_midnight(date, &tz) > now {
            return Err(Error::InvalidArgument(format!(
                "--date {date}: in the future"
            )));
        }
        let a = CaseAssist {
            case_number: case_number.into(),
            offense: offense.into(),
            arrests,
            date,
            entered_by: actor.username.clone(),
            entered_at: now,
        };
        let month = Month {
            year: date.year(),
            month: date.month(),
        };
        let key = format!(
            "{ASSISTS}{month}/{:013}-{}",
            now.as_millisecond().max(0),
            hex::encode(rand::random::<[u8; 4]>())
        );
        let mut d = Draft::new(&actor.username, "case_assist.add", "CaseAssist", &key);
        d.details = serde_json::json!({"case_number": case_number, "offense": offense, "arrests": arrests, "date": date});
        self.audit
            .commit(
                vec![],
                vec![
                    Op::Put(key, serde_json::to_vec(&a)?),
                    Op::Put(format!("{DIRTY}{month}"), Vec::new()),
                ],
                d,
            )
            .await?;
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use camplane_config::model::LatLon;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn win(
        cam: &str,
        start: &str,
        end: &str,
        plates: u64,
        hits: &[(HitCategory, u64)],
    ) -> FiledWindow {
        FiledWindow {
            agent: "gw".into(),
            received_at: ts(end),
            window: WindowReport {
                camera: cam.into(),
                start: ts(start),
                end: ts(end),
                plates_read: plates,
                hits: hits.iter().copied().collect(),
                amends: false,
                continues: false,
            },
        }
    }

    fn input(windows: Vec<FiledWindow>) -> MonthInput {
        let tz = TimeZone::get("America/Chicago").unwrap();
        let loc = |lat: f64, from: &str, until: Option<&str>| LocationRecord {
            location: LatLon { lat, lon: -90.66 },
            from: ts(from),
            until: until.map(ts),
        };
        MonthInput {
            city: "Dubuque".into(),
            tz,
            tz_name: "America/Chicago".into(),
            month: Month::parse("2026-10").unwrap(),
            readers: vec![
                ReaderInfo {
                    camera: "lpr-a".into(),
                    kind: CameraKind::Fixed,
                    confidential: false,
                    locations: vec![
                        loc(42.5, "2026-01-01T12:00:00Z", Some("2026-10-10T12:00:00Z")),
                        loc(42.6, "2026-10-10T12:00:00Z", None),
                    ],
                },
                ReaderInfo {
                    camera: "lpr-secret".into(),
                    kind: CameraKind::Fixed,
                    confidential: true,
                    locations: vec![loc(42.7, "2026-01-01T12:00:00Z", None)],
                },
            ],
            not_readers: ["cam-1".to_string()].into(),
            windows,
            hotlists: vec![],
            sources: vec![],
            assists: vec![],
        }
    }

    #[test]
    fn months_follow_the_city_time_zone() {
        let tz = TimeZone::get("America/Chicago").unwrap();
        let m = Month::parse("2026-10").unwrap();
        assert_eq!(m.start(&tz), ts("2026-10-01T05:00:00Z"));
        assert_eq!(m.end(&tz), ts("2026-11-01T05:00:00Z"));
        assert_eq!(m.days().len(), 31);
        assert_eq!(Month::of(ts("2026-11-01T04:59:00Z"), &tz), m);
        assert_eq!(
            Month::parse("2026-12").unwrap().next().to_string(),
            "2027-01"
        );
        for bad in ["2026-13", "2026-1", "26-10", "x", "2026-10-01", ""] {
            assert!(Month::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn continued_windows_make_one_period_and_amendments_add() {
        use HitCategory::*;
        let mut a = win(
            "lpr-a",
            "2026-10-02T13:10:00Z",
            "2026-10-02T13:59:59Z",
            10,
            &[(Warrant, 1)],
        );
        a.window.continues = true;
        let b = win(
            "lpr-a",
            "2026-10-02T14:00:00Z",
            "2026-10-02T14:20:00Z",
            5,
            &[],
        );
        let mut amend = win(
            "lpr-a",
            "2026-10-02T14:00:00Z",
            "2026-10-02T14:20:00Z",
            2,
            &[(StolenPlate, 1)],
        );
        amend.window.amends = true;
        amend.received_at = ts("2026-11-03T10:00:00Z");
        let c = win(
            "lpr-secret",
            "2026-10-05T13:00:00Z",
            "2026-10-05T13:30:00Z",
            7,
            &[],
        );
        let other = win(
            "not-a-reader",
            "2026-10-05T13:00:00Z",
            "2026-10-05T13:30:00Z",
            0,
            &[],
        );
        let not_alpr = win(
            "cam-1",
            "2026-10-05T13:00:00Z",
            "2026-10-05T13:30:00Z",
            3,
            &[],
        );
        let log = build(&input(vec![c, amend, b, a, other, not_alpr]));
        assert_eq!(log.readers.len(), 2);
        let r = &log.readers[0];
        assert_eq!(r.reader, "lpr-a");
        assert_eq!(r.periods.len(), 1);
        assert_eq!(r.periods[0].start, "2026-10-02 08:10");
        assert_eq!(r.periods[0].end, "2026-10-02 09:20");
        assert_eq!(r.periods[0].plates_read, 17);
        assert_eq!(r.periods[0].hits[&Warrant], 1);
        assert_eq!(r.periods[0].hits[&StolenPlate], 1);
        assert_eq!(r.locations.len(), 2, "both places it stood in October");
        assert_eq!(log.readers[1].reader, "confidential reader 1");
        assert!(log.readers[1].locations.is_empty());
        assert_eq!(log.totals.plates_read, 24);
        assert_eq!(log.totals.hits_total, 2);
        assert_eq!(log.days[1].plates_read, 17);
        assert_eq!(log.last_updated.as_deref(), Some("2026-11-03 04:00"));
        assert_eq!(
            log.location_history.len(),
            1,
            "confidential reader left out"
        );
        let files = render(&log);
        let all: String = files
            .iter()
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .collect();
        assert!(!all.contains("lpr-secret") && !all.contains("42.70000"));
        // Same data, same bytes, whatever the input order.
        let again = render(&build(&input(vec![
            win(
                "lpr-secret",
                "2026-10-05T13:00:00Z",
                "2026-10-05T13:30:00Z",
                7,
                &[],
            ),
            {
                let mut a = win(
                    "lpr-a",
                    "2026-10-02T13:10:00Z",
                    "2026-10-02T13:59:59Z",
                    10,
                    &[(Warrant, 1)],
                );
                a.window.continues = true;
                a
            },
            {
                let mut m = win(
                    "lpr-a",
                    "2026-10-02T14:00:00Z",
                    "2026-10-02T14:20:00Z",
                    2,
                    &[(StolenPlate, 1)],
                );
                m.window.amends = true;
                m.received_at = ts("2026-11-03T10:00:00Z");
                m
            },
            win(
                "lpr-a",
                "2026-10-02T14:00:00Z",
                "2026-10-02T14:20:00Z",
                5,
                &[],
            ),
        ])));
        assert_eq!(files, again);
    }

    #[test]
    fn html_escapes_and_csv_quotes() {
        let mut i = input(vec![]);
        i.city = "<script>x</script>".into();
        let log = build(&i);
        let html = render_html(&log);
        assert!(!html.contains("<script>x"));
        assert!(html.contains("No reader collected data this month."));
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("a\"b"), "\"a\"\"b\"");
        let csv = render_csv(&log);
        let cols = csv.lines().next().unwrap().split(',').count();
        for l in csv.lines().filter(|l| !l.contains('"')) {
            assert_eq!(l.split(',').count(), cols, "{l}");
        }
    }

    #[test]
    fn offence_codes() {
        assert!(check_offense("vehicle_theft").is_ok());
        for bad in [
            "",
            "x",
            "Vehicle",
            "a b",
            "_x",
            "drop table;",
            &"a".repeat(49),
        ] {
            assert!(check_offense(bad).is_err(), "{bad}");
        }
    }
}
