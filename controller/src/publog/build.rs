//! The month's inputs as stored and [`build`]: a pure function from them to the log.

use super::*;

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

/// A reader as the public log shows it (from its history: [`reader_info`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReaderInfo {
    /// Camera id.
    pub camera: String,
    /// Fixed, mobile or temporary.
    pub kind: CameraKind,
    /// When it is kept out of public pages (shown without name or location),
    /// oldest first: from each confidential marking until it is lifted.
    pub hidden: Vec<Span>,
    /// Every location with dates.
    pub locations: Vec<LocationRecord>,
}

impl ReaderInfo {
    /// Whether it is kept out of public pages at `t`.
    pub fn hidden_at(&self, t: Timestamp) -> bool {
        self.hidden
            .iter()
            .any(|h| h.from <= t && h.until.is_none_or(|u| t < u))
    }

    /// Whether it was hidden as `end` came (a reader confidential then is
    /// left out of the list of locations of a log made as of `end`).
    pub fn hidden_as_of(&self, end: Timestamp) -> bool {
        self.hidden
            .iter()
            .any(|h| h.from < end && h.until.is_none_or(|u| u >= end))
    }

    /// Its places as known at `end`, each cut to the times it was not hidden:
    /// a marking hides the reader from its date on, never before.
    pub fn public_places(&self, end: Timestamp) -> Vec<LocationRecord> {
        let mut out = Vec::new();
        for l in self.locations.iter().filter(|l| l.from < end) {
            // A place that ended after `end` was still current at `end`.
            let until = l.until.filter(|u| *u < end);
            let stop = until.unwrap_or(end);
            let mut cursor = l.from;
            for h in self.hidden.iter().filter(|h| h.from < stop) {
                let h_end = h.until.filter(|u| *u < end);
                if h_end.is_some_and(|u| u <= cursor) {
                    continue;
                }
                if h.from > cursor {
                    out.push(LocationRecord {
                        location: l.location,
                        from: cursor,
                        until: Some(h.from),
                    });
                }
                match h_end {
                    Some(u) => cursor = cursor.max(u),
                    None => cursor = stop,
                }
                if cursor >= stop {
                    break;
                }
            }
            if cursor < stop {
                out.push(LocationRecord {
                    location: l.location,
                    from: cursor,
                    until,
                });
            }
        }
        out
    }
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
    /// Hotlists (current versions, lapsed case lists included: a month's
    /// sources stay what they were) and source settings.
    pub hotlists: Vec<HotlistInfo>,
    /// Sources' public flags.
    pub sources: Vec<SourceInfo>,
    /// Case assists of the month.
    pub assists: Vec<CaseAssist>,
    /// The month's last signed checkpoint of the audit chain (the note), if any.
    pub checkpoint: Option<String>,
    /// What happened to complaints in the month, counted (no names, no text).
    pub complaints: ComplaintCounts,
}

/// Counts by hit category, every category present.
pub type Hits = BTreeMap<HitCategory, u64>;

pub(super) fn zero_hits() -> Hits {
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
    /// Complaints about the use of the cameras: received, decided, appealed,
    /// and the month's findings by outcome. Names no one.
    #[serde(default)]
    pub complaints: ComplaintCounts,
    /// The month's last signed checkpoint of the audit log, shown at the end of
    /// `index.html` only (log.json and log.csv keep their format).
    #[serde(skip)]
    pub audit_checkpoint: Option<String>,
}

pub(super) fn minute(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned(tz.clone())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

pub(super) fn day(t: Timestamp, tz: &TimeZone) -> String {
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

pub(super) fn add_hits(into: &mut Hits, from: &BTreeMap<HitCategory, u64>) {
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

    // Per camera, oldest first; a window that continues joins the next into one
    // period. A reader marked confidential is hidden from the marking on: its
    // windows after it go under a confidential name, those before keep its own.
    let mut by_camera: BTreeMap<(String, bool), Vec<WindowReport>> = BTreeMap::new();
    for ((_, cam, _), (w, _)) in base {
        let hidden = readers
            .get(cam.as_str())
            .is_some_and(|r| r.hidden_at(w.start));
        by_camera.entry((cam, hidden)).or_default().push(w);
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
    for ((cam, confidential), mut ws) in by_camera {
        ws.sort_by_key(|w| (w.start, w.end));
        let info = readers.get(cam.as_str()).copied();
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
                .public_places(m_end)
                .iter()
                .filter(|l| l.until.is_none_or(|u| u > m_start))
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

    // Databases: public sources with a list served during the month (loaded
    // before it ended, not lapsed or expired before it began).
    let public: BTreeMap<HotlistSource, bool> =
        input.sources.iter().map(|s| (s.source, s.public)).collect();
    let mut databases: Vec<String> = input
        .hotlists
        .iter()
        .filter(|h| {
            let gone_before = h.lapsed_at.is_some_and(|l| l <= m_start)
                || h.case.as_ref().is_some_and(|c| c.expires <= m_start);
            h.first_loaded_at.unwrap_or(h.loaded_at) < m_end
                && !gone_before
                && public.get(&h.source).copied().unwrap_or(true)
        })
        .map(|h| h.source.as_str().to_string())
        .collect();
    databases.sort();
    databases.dedup();

    // As the month ended: what was known by then, without the hidden stretches.
    let location_history = input
        .readers
        .iter()
        .filter(|r| r.kind == CameraKind::Fixed && !r.hidden_as_of(m_end))
        .map(|r| LocationHistory {
            reader: r.camera.clone(),
            locations: r
                .public_places(m_end)
                .iter()
                .map(|l| place(l, tz))
                .collect(),
        })
        .filter(|h| !h.locations.is_empty())
        .collect();

    PublicLog {
        audit_checkpoint: input.checkpoint.clone(),
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
        complaints: input.complaints.clone(),
    }
}
