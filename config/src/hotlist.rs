//! Hotlists: the lists of plates officers are told about when a reader sees one
//! (stolen vehicles and plates, warrants, ...). One list per source and category;
//! each load makes a new version, and agents receive versions as deltas.
//!
//! The CSV reader here is shared by the controller (which parses what
//! `camplane hotlist load` sends) and the tests: rows that cannot be used are
//! reported with their line number and the good rows are kept.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Where a list comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum HotlistSource {
    /// The FBI's National Crime Information Center.
    #[serde(rename = "NCIC")]
    Ncic,
    /// The state Department of Transportation.
    #[serde(rename = "STATE_DOT")]
    StateDot,
    /// The department's own list.
    #[serde(rename = "CUSTOM")]
    Custom,
}

impl HotlistSource {
    /// Every source.
    pub const ALL: [HotlistSource; 3] = [Self::Ncic, Self::StateDot, Self::Custom];

    /// The name users type (`NCIC`, `STATE_DOT`, `CUSTOM`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ncic => "NCIC",
            Self::StateDot => "STATE_DOT",
            Self::Custom => "CUSTOM",
        }
    }

    /// Parses the name users type (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|x| x.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for HotlistSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The public log's hit categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HitCategory {
    /// A stolen vehicle.
    StolenVehicle,
    /// A stolen plate.
    StolenPlate,
    /// A wanted person associated with the vehicle.
    Warrant,
    /// The registered owner's licence is suspended or revoked.
    SuspendedOrRevokedLicense,
    /// A protection order.
    ProtectionOrder,
    /// The department's investigative (custom) list.
    Investigative,
}

impl HitCategory {
    /// Every category, in the public log's order.
    pub const ALL: [HitCategory; 6] = [
        Self::StolenVehicle,
        Self::StolenPlate,
        Self::Warrant,
        Self::SuspendedOrRevokedLicense,
        Self::ProtectionOrder,
        Self::Investigative,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StolenVehicle => "stolen_vehicle",
            Self::StolenPlate => "stolen_plate",
            Self::Warrant => "warrant",
            Self::SuspendedOrRevokedLicense => "suspended_or_revoked_license",
            Self::ProtectionOrder => "protection_order",
            Self::Investigative => "investigative",
        }
    }

    /// Parses the snake_case name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

impl fmt::Display for HitCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name of the list of one source and category, e.g. `ncic.stolen_vehicle`.
pub fn list_name(source: HotlistSource, category: HitCategory) -> String {
    format!(
        "{}.{}",
        source.as_str().to_ascii_lowercase(),
        category.as_str()
    )
}

/// Whether lists of this source and category are the department's own
/// (custom or investigative) rather than the state feed (NCIC, STATE_DOT). The
/// policy lets the state system's hits through; the department's own lists are
/// bound to a case, a purpose and an expiry, and wait for a supervisor.
pub fn needs_case(source: HotlistSource, category: HitCategory) -> bool {
    source == HotlistSource::Custom || category == HitCategory::Investigative
}

/// Longest case number a case-bound list takes (characters).
pub const MAX_CASE: usize = 32;
/// Longest purpose of a case-bound list (characters).
pub const MAX_PURPOSE: usize = 200;
/// How far ahead a case-bound list may expire (days).
pub const MAX_CASE_LIST_DAYS: i64 = 30;

/// Checks a case number for a case-bound list: 1 to [`MAX_CASE`] ASCII letters,
/// digits, `-` and `_` (it becomes part of the list's name, a store key and the
/// agent's file). The city's format is checked besides, by the controller.
pub fn check_case(case: &str) -> Result<(), String> {
    if case.is_empty() {
        return Err("--case: a custom or investigative list needs a case number".into());
    }
    if case.chars().count() > MAX_CASE
        || !case
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "--case {:?}: at most {MAX_CASE} of A-Z, a-z, 0-9, - and _",
            truncate(case)
        ));
    }
    Ok(())
}

/// The name of a case-bound list: its source and category, then the case,
/// e.g. `custom.investigative.26-01234`. One case, one list: its purpose,
/// expiry and approval are the list's own.
pub fn case_list_name(source: HotlistSource, category: HitCategory, case: &str) -> String {
    format!("{}.{case}", list_name(source, category))
}

/// The source, category and case (of a case-bound list) a list name stands
/// for; `None` for a name no load makes.
pub fn parse_list_name(name: &str) -> Option<(HotlistSource, HitCategory, Option<String>)> {
    let mut parts = name.splitn(3, '.');
    let source = HotlistSource::parse(parts.next()?)?;
    let category = HitCategory::parse(parts.next()?)?;
    let case = parts.next().map(str::to_string);
    if case.as_deref().is_some_and(|c| check_case(c).is_err()) {
        return None;
    }
    Some((source, category, case))
}

/// One plate on a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HotlistEntry {
    /// Upper case letters and digits.
    pub plate: String,
    /// Issuing state (two letters), when the list says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Why it is listed (shown to the officer with the alert).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// After this the entry no longer matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Timestamp>,
}

impl HotlistEntry {
    /// The entry's identity within a list: plate and state.
    pub fn key(&self) -> String {
        format!("{}/{}", self.plate, self.state.as_deref().unwrap_or(""))
    }

    /// Whether it matches reads at `now`.
    pub fn live(&self, now: Timestamp) -> bool {
        self.expires.is_none_or(|e| e > now)
    }
}

/// What a list version changed, as sent to agents.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HotlistDelta {
    /// Entries added or changed (replacing the entry with the same key).
    #[serde(default)]
    pub upsert: Vec<HotlistEntry>,
    /// Keys (`PLATE/STATE`) removed.
    #[serde(default)]
    pub remove: Vec<String>,
}

impl HotlistDelta {
    /// What turns `old` into `new`.
    pub fn between(
        old: &BTreeMap<String, HotlistEntry>,
        new: &BTreeMap<String, HotlistEntry>,
    ) -> HotlistDelta {
        let mut d = HotlistDelta::default();
        for (k, e) in new {
            if old.get(k) != Some(e) {
                d.upsert.push(e.clone());
            }
        }
        for k in old.keys() {
            if !new.contains_key(k) {
                d.remove.push(k.clone());
            }
        }
        d
    }

    /// Applies the delta to a list's entries.
    pub fn apply(&self, entries: &mut BTreeMap<String, HotlistEntry>) {
        for k in &self.remove {
            entries.remove(k);
        }
        for e in &self.upsert {
            entries.insert(e.key(), e.clone());
        }
    }

    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.upsert.is_empty() && self.remove.is_empty()
    }
}

/// One list update for an agent: the whole list (`base_version` 0) or the
/// changes from `base_version` to `version`. `deleted`: the list is gone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HotlistUpdate {
    /// List name (see [`list_name`]).
    pub list: String,
    /// Source.
    pub source: HotlistSource,
    /// Category.
    pub category: HitCategory,
    /// The version this update applies to; 0: a whole list.
    pub base_version: u64,
    /// The version after it.
    pub version: u64,
    /// The list no longer exists; drop it.
    #[serde(default)]
    pub deleted: bool,
    /// The changes (a whole list: everything in `upsert`).
    pub delta: HotlistDelta,
    /// When the whole list lapses (case-bound lists): the agent stops matching
    /// it then on its own clock, whether or not it still hears the controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Timestamp>,
}

/// A read that matched a list, as the agent reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertReport {
    /// The read's id on the agent (unique per agent).
    pub read_id: String,
    /// Camera.
    pub camera: String,
    /// Plate read.
    pub plate: String,
    /// When the plate was seen.
    pub time: Timestamp,
    /// Read confidence in [0, 1].
    pub confidence: f64,
    /// Where (fixed location or the mobile reader's GPS position).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<crate::model::LatLon>,
    /// The list it matched.
    pub list: String,
    /// Source of that list.
    pub source: HotlistSource,
    /// Category of that list.
    pub category: HitCategory,
    /// The list version the agent matched against.
    pub list_version: u64,
    /// The matching entry.
    pub entry: HotlistEntry,
    /// When the agent matched it (the controller's receipt time minus this is
    /// the alert's delivery latency).
    pub matched_at: Timestamp,
}

/// Which CSV column holds each field: a header name or a 1-based index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Columns {
    /// Plate column.
    pub plate: String,
    /// State column (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Reason column (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Expiry column (optional): `YYYY-MM-DD` (end of that day, UTC) or RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<String>,
    /// The first line is a header.
    #[serde(default = "yes")]
    pub header: bool,
}

fn yes() -> bool {
    true
}

impl Default for Columns {
    fn default() -> Self {
        Columns {
            plate: "plate".into(),
            state: Some("state".into()),
            reason: Some("reason".into()),
            expiry: Some("expiry".into()),
            header: true,
        }
    }
}

impl Columns {
    /// Parses `plate=COL,state=COL,reason=COL,expiry=COL` over the defaults;
    /// `state=` (empty) drops a column.
    pub fn parse_spec(spec: &str) -> Result<Columns, String> {
        let mut c = Columns::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("--columns: {part:?} is not FIELD=COLUMN"))?;
            let v = v.trim();
            let opt = (!v.is_empty()).then(|| v.to_string());
            match k.trim() {
                "plate" => c.plate = opt.ok_or("--columns: plate needs a column")?,
                "state" => c.state = opt,
                "reason" => c.reason = opt,
                "expiry" => c.expiry = opt,
                other => {
                    return Err(format!(
                        "--columns: unknown field {other:?} (plate, state, reason, expiry)"
                    ))
                }
            }
        }
        Ok(c)
    }
}

/// A row that was not loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadRow {
    /// 1-based line in the file where the row starts.
    pub line: usize,
    /// Why.
    pub reason: String,
}

/// What a CSV file held.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Good entries by key (a later duplicate is reported, the first kept).
    pub entries: BTreeMap<String, HotlistEntry>,
    /// Rows not loaded.
    pub bad: Vec<BadRow>,
}

/// Most bytes of a field kept (longer ones make the row bad). The limits of the
/// fields a load keeps: plate 2-8 letters and digits (spaces and dashes
/// dropped), state two letters, expiry a date or an RFC 3339 time, reason at
/// most this many bytes. No field may hold NUL or another control character
/// (a reason may span lines: newlines are its only exception), so what an
/// officer reads with an alert is what the file said.
pub const MAX_FIELD: usize = 512;

/// Splits CSV text (RFC 4180: quotes, doubled quotes, newlines in quotes) into
/// records with the line each starts on. An unterminated quote is an error for
/// the record it opens.
/// The records of a file: each with its first line, its fields or why it is bad.
type Records = Vec<(usize, Result<Vec<String>, String>)>;

fn records(text: &str, max: usize, stop: &dyn Fn() -> bool) -> Option<Records> {
    let mut out = Vec::new();
    let mut read = 0usize;
    let mut fields: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut line = 1usize;
    let mut start = 1usize;
    let mut in_quotes = false;
    let mut quoted_field = false;
    let mut chars = text.chars().peekable();
    let mut bad: Option<String> = None;
    while let Some(c) = chars.next() {
        if out.len() > max {
            // The caller refuses the file: no need to split the rest.
            return Some(out);
        }
        read += 1;
        if read.is_multiple_of(STOP_EVERY) && stop() {
            return None;
        }
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() && !quoted_field => {
                in_quotes = true;
                quoted_field = true;
            }
            '"' => {
                bad.get_or_insert_with(|| "a quote inside an unquoted field".into());
            }
            ',' => {
                fields.push(std::mem::take(&mut field));
                quoted_field = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                fields.push(std::mem::take(&mut field));
                quoted_field = false;
                let rec = std::mem::take(&mut fields);
                if !(rec.len() == 1 && rec[0].trim().is_empty()) || bad.is_some() {
                    out.push((start, bad.take().map_or(Ok(rec), Err)));
                }
                line += 1;
                start = line;
            }
            _ => field.push(c),
        }
    }
    if in_quotes {
        out.push((start, Err("unterminated quoted field".into())));
    } else if !field.is_empty() || !fields.is_empty() {
        fields.push(field);
        if !(fields.len() == 1 && fields[0].trim().is_empty()) || bad.is_some() {
            out.push((start, bad.map_or(Ok(fields), Err)));
        }
    }
    Some(out)
}

/// How many characters (while splitting) or rows (while checking) pass
/// between two looks at a parse's stop flag: often enough to stop within
/// milliseconds, rarely enough to cost nothing.
const STOP_EVERY: usize = 1 << 14;

/// Normalises a plate: upper case, spaces and dashes dropped. None when the
/// rest is not 2-8 letters and digits.
pub fn normalize_plate(s: &str) -> Option<String> {
    let p: String = s
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '\t'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    ((2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric())).then_some(p)
}

/// Parses an expiry: an RFC 3339 time, or a date (`YYYY-MM-DD`: the end of
/// that day, UTC).
pub fn parse_expiry(s: &str) -> Result<Timestamp, String> {
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(t);
    }
    if let Ok(d) = s.parse::<jiff::civil::Date>() {
        // The end of that day, UTC.
        if let Ok(z) = d.at(23, 59, 59, 0).to_zoned(jiff::tz::TimeZone::UTC) {
            return Ok(z.timestamp());
        }
    }
    Err(format!(
        "expiry {:?} is not a date (YYYY-MM-DD) or an RFC 3339 time",
        truncate(s)
    ))
}

fn truncate(s: &str) -> String {
    let t: String = s.chars().take(40).collect();
    if t.len() < s.len() {
        format!("{t}...")
    } else {
        t
    }
}

/// The first control character in a field, if any (newlines allowed where
/// `lines`; a CR before a newline is part of the line break).
fn control_char(s: &str, lines: bool) -> Option<char> {
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let line_break = lines && (c == '\n' || (c == '\r' && chars.peek() == Some(&'\n')));
        if c.is_control() && !line_break {
            return Some(c);
        }
    }
    None
}

/// Parses a hotlist CSV. `now`: entries already expired are reported as bad
/// rows. Errors only when the columns cannot be found (nothing is loadable).
pub fn parse_csv(text: &str, cols: &Columns, now: Timestamp) -> Result<Parsed, String> {
    parse_csv_bounded(text, cols, now, usize::MAX)
}

/// [`parse_csv`] of at most `max_rows` rows after the header: a file with
/// more is an error (`more than N rows`) before its rows are checked.
pub fn parse_csv_bounded(
    text: &str,
    cols: &Columns,
    now: Timestamp,
    max_rows: usize,
) -> Result<Parsed, String> {
    parse_csv_stoppable(text, cols, now, max_rows, &|| false)
        .map(|p| p.expect("a parse that is never stopped ends"))
}

/// [`parse_csv_bounded`] that looks at `stop` while it splits and checks the
/// rows, and gives up (`Ok(None)`) once it says so: a large file's parse ends
/// soon after its client went away or the server began to shut down.
pub fn parse_csv_stoppable(
    text: &str,
    cols: &Columns,
    now: Timestamp,
    max_rows: usize,
    stop: &dyn Fn() -> bool,
) -> Result<Option<Parsed>, String> {
    let Some(recs) = records(
        text,
        max_rows.saturating_add(usize::from(cols.header)),
        stop,
    ) else {
        return Ok(None);
    };
    if recs.len() > max_rows.saturating_add(usize::from(cols.header)) {
        return Err(format!("more than {max_rows} rows"));
    }
    let mut it = recs.into_iter();
    let mut parsed = Parsed::default();
    // Column positions (0-based).
    let header: Option<Vec<String>> = if cols.header {
        match it.next() {
            Some((_, Ok(h))) => Some(h.iter().map(|s| s.trim().to_ascii_lowercase()).collect()),
            Some((l, Err(e))) => return Err(format!("line {l}: header: {e}")),
            None => return Err("the file is empty".into()),
        }
    } else {
        None
    };
    let find = |name: &str, required: bool| -> Result<Option<usize>, String> {
        if let Ok(i) = name.parse::<usize>() {
            if i == 0 {
                return Err(format!("column {name}: indexes start at 1"));
            }
            return Ok(Some(i - 1));
        }
        match &header {
            Some(h) => match h.iter().position(|c| *c == name.to_ascii_lowercase()) {
                Some(i) => Ok(Some(i)),
                None if required => Err(format!(
                    "no column named {name:?} in the header ({})",
                    h.join(", ")
                )),
                None => Ok(None),
            },
            None if required => Err(format!(
                "column {name:?}: without a header, columns are given by number"
            )),
            None => Ok(None),
        }
    };
    let defaults = Columns::default();
    // Optional columns left at their default names may be absent from the header.
    let opt = |given: &Option<String>, default: &Option<String>| -> Result<Option<usize>, String> {
        match given {
            Some(n) => find(n, given != default),
            None => Ok(None),
        }
    };
    let pc = find(&cols.plate, true)?.unwrap_or(0);
    let sc = opt(&cols.state, &defaults.state)?;
    let rc = opt(&cols.reason, &defaults.reason)?;
    let ec = opt(&cols.expiry, &defaults.expiry)?;
    for (n, (line, rec)) in it.enumerate() {
        if n % STOP_EVERY == STOP_EVERY - 1 && stop() {
            return Ok(None);
        }
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                parsed.bad.push(BadRow { line, reason: e });
                continue;
            }
        };
        let get = |i: Option<usize>| -> Option<&str> {
            i.and_then(|i| rec.get(i))
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
        };
        if let Some(f) = rec.iter().find(|f| f.len() > MAX_FIELD) {
            parsed.bad.push(BadRow {
                line,
                reason: format!("a field of {} bytes (at most {MAX_FIELD})", f.len()),
            });
            continue;
        }
        let used = [
            ("plate", Some(pc)),
            ("state", sc),
            ("reason", rc),
            ("expiry", ec),
        ];
        let control = used.iter().find_map(|(name, i)| {
            let f = i.and_then(|i| rec.get(i))?.trim();
            control_char(f, *name == "reason").map(|c| (name, c))
        });
        if let Some((name, c)) = control {
            parsed.bad.push(BadRow {
                line,
                reason: format!(
                    "field {name}: a control character (U+{:04X}); NUL and control characters are refused",
                    u32::from(c)
                ),
            });
            continue;
        }
        let Some(raw) = get(Some(pc)) else {
            parsed.bad.push(BadRow {
                line,
                reason: "no plate".into(),
            });
            continue;
        };
        let Some(plate) = normalize_plate(raw) else {
            parsed.bad.push(BadRow {
                line,
                reason: format!("plate {:?} is not 2-8 letters and digits", truncate(raw)),
            });
            continue;
        };
        let state = match get(sc) {
            Some(s) if s.len() == 2 && s.chars().all(|c| c.is_ascii_alphabetic()) => {
                Some(s.to_ascii_uppercase())
            }
            Some(s) => {
                parsed.bad.push(BadRow {
                    line,
                    reason: format!("state {:?} is not a two-letter code", truncate(s)),
                });
                continue;
            }
            None => None,
        };
        let expires = match get(ec).map(parse_expiry) {
            Some(Ok(t)) if t <= now => {
                parsed.bad.push(BadRow {
                    line,
                    reason: format!("expired on {t}"),
                });
                continue;
            }
            Some(Ok(t)) => Some(t),
            Some(Err(e)) => {
                parsed.bad.push(BadRow { line, reason: e });
                continue;
            }
            None => None,
        };
        let reason = get(rc).map(|s| s.replace("\r\n", "\n"));
        let e = HotlistEntry {
            plate,
            state,
            reason,
            expires,
        };
        let k = e.key();
        if parsed.entries.contains_key(&k) {
            parsed.bad.push(BadRow {
                line,
                reason: format!("duplicate of an earlier row for {}", e.plate),
            });
            continue;
        }
        parsed.entries.insert(k, e);
    }
    Ok(Some(parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-06-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn good_and_bad_rows_with_line_numbers() {
        let csv = "plate,state,reason,expiry\n\
                   ABC-1234,IA,stolen 2026-05-30,2027-01-01\n\
                   \n\
                   x,IA,too short,\n\
                   \"XYZ 987\",\"il\",\"reason, with comma\",\n\
                   ABC1234,IA,dup,\n\
                   OLD123,IA,expired,2026-01-01\n\
                   BAD1,Iowa,,\n\
                   GOOD2,,,2026-13-40\n";
        let p = parse_csv(csv, &Columns::default(), now()).unwrap();
        assert_eq!(p.entries.len(), 2, "{:?}", p.entries);
        let e = &p.entries["XYZ987/IL"];
        assert_eq!(e.reason.as_deref(), Some("reason, with comma"));
        assert_eq!(
            p.entries["ABC1234/IA"].expires.unwrap().to_string(),
            "2027-01-01T23:59:59Z"
        );
        let lines: Vec<usize> = p.bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, vec![4, 6, 7, 8, 9], "{:?}", p.bad);
        assert!(p.bad[0].reason.contains("not 2-8"));
        assert!(p.bad[1].reason.contains("duplicate"));
        assert!(p.bad[2].reason.contains("expired"));
        assert!(p.bad[3].reason.contains("two-letter"));
        assert!(p.bad[4].reason.contains("not a date"));
    }

    #[test]
    fn configurable_columns_by_name_and_index() {
        let csv = "Tag;x\nid,LicensePlate,ST\n1,KLM4455,ne\n";
        let c = Columns::parse_spec("plate=LicensePlate,state=ST,reason=,expiry=").unwrap();
        // The first line is not a header of these names.
        assert!(parse_csv(csv, &c, now()).is_err());
        let csv = "id,LicensePlate,ST\n1,KLM4455,ne\n";
        let p = parse_csv(csv, &c, now()).unwrap();
        assert_eq!(p.entries["KLM4455/NE"].state.as_deref(), Some("NE"));
        let mut c = Columns::parse_spec("plate=2,state=3,reason=,expiry=").unwrap();
        c.header = false;
        let p = parse_csv("1,KLM4455,ne\n2,ZZZ111,\n", &c, now()).unwrap();
        assert_eq!(p.entries.len(), 2);
        assert!(Columns::parse_spec("colour=3").is_err());
        assert!(parse_csv("", &Columns::default(), now()).is_err());
    }

    #[test]
    fn multiline_quotes_and_unterminated() {
        let csv = "plate,reason\nAAA111,\"two\nlines\"\nBBB222,x\n\"CCC333,open";
        let c = Columns::parse_spec("state=,expiry=").unwrap();
        let p = parse_csv(csv, &c, now()).unwrap();
        assert_eq!(p.entries.len(), 2);
        assert_eq!(
            p.bad,
            vec![BadRow {
                line: 5,
                reason: "unterminated quoted field".into()
            }]
        );
    }

    #[test]
    fn delta_round_trip() {
        let c = Columns::parse_spec("state=,reason=,expiry=").unwrap();
        let a = parse_csv("plate\nAAA111\nBBB222\n", &c, now())
            .unwrap()
            .entries;
        let b = parse_csv("plate\nBBB222\nCCC333\n", &c, now())
            .unwrap()
            .entries;
        let d = HotlistDelta::between(&a, &b);
        assert_eq!(d.remove, vec!["AAA111/".to_string()]);
        assert_eq!(d.upsert.len(), 1);
        let mut x = a.clone();
        d.apply(&mut x);
        assert_eq!(x, b);
        assert!(HotlistDelta::between(&b, &b).is_empty());
    }

    #[test]
    fn control_characters_are_refused_naming_line_and_field() {
        let csv = "plate,state,reason,expiry\n\
                   NUL1,IA,\"a\0b\",\n\
                   ESC1,IA,\"\x1b[2Jx\",\n\
                   \"TAB\t1\",IA,x,\n\
                   LINES1,IA,\"two\r\nlines\",\n\
                   OK1,IA,fine,\n";
        let p = parse_csv(csv, &Columns::default(), now()).unwrap();
        let bad: Vec<(usize, &str)> = p.bad.iter().map(|b| (b.line, b.reason.as_str())).collect();
        assert_eq!(bad.len(), 3, "{bad:?}");
        assert_eq!(bad[0].0, 2);
        assert!(
            bad[0].1.contains("field reason") && bad[0].1.contains("U+0000"),
            "{bad:?}"
        );
        assert_eq!(bad[1].0, 3);
        assert!(bad[1].1.contains("U+001B"), "{bad:?}");
        assert_eq!(bad[2].0, 4);
        assert!(bad[2].1.contains("field plate"), "{bad:?}");
        // A reason may span lines; the legitimate rows load.
        assert_eq!(p.entries["LINES1/IA"].reason.as_deref(), Some("two\nlines"));
        assert!(p.entries.contains_key("OK1/IA"));
    }

    #[test]
    fn rows_are_bounded() {
        let c = Columns::parse_spec("state=,reason=,expiry=").unwrap();
        let csv = "plate\nAAA111\nBBB222\nCCC333\n";
        assert_eq!(
            parse_csv_bounded(csv, &c, now(), 3).unwrap().entries.len(),
            3
        );
        let e = parse_csv_bounded(csv, &c, now(), 2).unwrap_err();
        assert_eq!(e, "more than 2 rows");
        let mut c = Columns::parse_spec("plate=1,state=,reason=,expiry=").unwrap();
        c.header = false;
        assert!(parse_csv_bounded("AAA111\nBBB222\n", &c, now(), 1).is_err());
        assert!(parse_csv_bounded("AAA111\nBBB222\n", &c, now(), 2).is_ok());
    }

    #[test]
    fn a_stopped_parse_gives_up() {
        let c = Columns::parse_spec("state=,reason=,expiry=").unwrap();
        let csv: String = std::iter::once("plate\n".to_string())
            .chain((0..50_000).map(|i| format!("P{i:06}\n")))
            .collect();
        let full = parse_csv_stoppable(&csv, &c, now(), usize::MAX, &|| false)
            .unwrap()
            .unwrap();
        assert_eq!(full.entries.len(), 50_000);
        // Stopped from the start: gives up while splitting.
        assert!(parse_csv_stoppable(&csv, &c, now(), usize::MAX, &|| true)
            .unwrap()
            .is_none());
        // Stopped later: the flag is looked at again while the rows are checked.
        let looks = std::cell::Cell::new(0);
        let later = || {
            looks.set(looks.get() + 1);
            looks.get() > csv.len() / STOP_EVERY
        };
        assert!(parse_csv_stoppable(&csv, &c, now(), usize::MAX, &later)
            .unwrap()
            .is_none());
    }

    #[test]
    fn case_bound_lists() {
        use HitCategory as C;
        use HotlistSource as S;
        assert!(needs_case(S::Custom, C::StolenVehicle));
        assert!(needs_case(S::Ncic, C::Investigative));
        assert!(!needs_case(S::Ncic, C::StolenVehicle));
        assert!(!needs_case(S::StateDot, C::Warrant));
        assert!(check_case("26-01234").is_ok());
        assert!(check_case("").unwrap_err().contains("--case"));
        for bad in ["a/b", "a.b", "26 1", "x\0", &"9".repeat(MAX_CASE + 1)] {
            assert!(check_case(bad).unwrap_err().contains("--case"), "{bad:?}");
        }
        let n = case_list_name(S::Custom, C::Investigative, "26-01234");
        assert_eq!(n, "custom.investigative.26-01234");
        assert_eq!(
            parse_list_name(&n),
            Some((S::Custom, C::Investigative, Some("26-01234".into())))
        );
        assert_eq!(
            parse_list_name("ncic.stolen_vehicle"),
            Some((S::Ncic, C::StolenVehicle, None))
        );
        assert_eq!(parse_list_name("custom.investigative.a/b"), None);
        assert_eq!(parse_list_name("fbi.warrant"), None);
        assert_eq!(
            parse_expiry("2026-06-30").unwrap().to_string(),
            "2026-06-30T23:59:59Z"
        );
    }

    #[test]
    fn names() {
        assert_eq!(
            list_name(
                HotlistSource::StateDot,
                HitCategory::SuspendedOrRevokedLicense
            ),
            "state_dot.suspended_or_revoked_license"
        );
        assert_eq!(HotlistSource::parse("ncic"), Some(HotlistSource::Ncic));
        assert_eq!(HitCategory::parse("warrant"), Some(HitCategory::Warrant));
        assert_eq!(normalize_plate(" ab-12 c "), Some("AB12C".into()));
        assert_eq!(normalize_plate("ÄB12"), None);
    }
}
