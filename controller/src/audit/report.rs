//! The monthly audit report (auditors, admins): computed from the audit log's
//! entries of one calendar month in the city's time zone, as an HTML page and
//! a CSV file. Same entries, same bytes: nothing in the report depends on when
//! or by whom it was made, every table is sorted, and the report names the
//! first and last entry it covers and the last one's hash, tying it to the
//! chain. Making a report is itself audited (`audit.report`, with the SHA-256
//! of both files).
//!
//! Sections: queries per user, case numbers, purposes, refusals, approvals
//! (ALPR queries and placement requests), holds / exports / alert steps,
//! logins and failed logins, and the count of every action.

use crate::core::action::{AuditAction, ReportSection};
use crate::core::audit::{AuditEntry, Draft, ENTRIES};
use crate::core::auth::{Actor, Operation};
use crate::core::Controller;
use crate::publog::esc;
use crate::{Error, Result};
use jiff::civil::Date;
use jiff::Timestamp;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// A rendered report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    /// `report.html`.
    pub html: Vec<u8>,
    /// `report.csv`.
    pub csv: Vec<u8>,
    /// Audit entries in the month.
    pub entries: u64,
}

/// Parses `YYYY-MM`.
fn parse_month(s: &str) -> Result<(i16, i8)> {
    let bad = || {
        Error::InvalidArgument(format!(
            "--month {:?}: give a month as YYYY-MM, e.g. 2026-10",
            s.chars()
                .filter(|c| !c.is_control())
                .take(20)
                .collect::<String>()
        ))
    };
    let (y, m) = s.split_once('-').ok_or_else(bad)?;
    if y.len() != 4 || m.len() != 2 || !(y.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let y: i16 = y.parse().map_err(|_| bad())?;
    let m: i8 = m.parse().map_err(|_| bad())?;
    if !(2000..=2200).contains(&y) || !(1..=12).contains(&m) {
        return Err(bad());
    }
    Ok((y, m))
}

/// One event row (refusals, approvals, holds / exports / alert steps).
struct Event {
    seq: u64,
    at: String,
    user: String,
    action: String,
    subject: String,
    detail: String,
}

/// What the month's entries add up to.
#[derive(Default)]
struct Tally {
    /// user -> metric -> count (ran, refused, pending, reads).
    queries: BTreeMap<String, BTreeMap<&'static str, u64>>,
    /// case number -> (queries, users, purposes).
    cases: BTreeMap<String, (u64, BTreeSet<String>, BTreeSet<String>)>,
    /// purpose -> metric -> count (ran, refused, pending).
    purposes: BTreeMap<String, BTreeMap<&'static str, u64>>,
    refusals: Vec<Event>,
    approvals: Vec<Event>,
    holds_exports_alerts: Vec<Event>,
    /// user -> (logins, failed logins).
    logins: BTreeMap<String, (u64, u64)>,
    /// action -> count.
    actions: BTreeMap<String, u64>,
    /// (department, currency) -> the copies made and their fees.
    fees: BTreeMap<(String, String), FeeTally>,
}

/// A department's copies in the month and what they were charged (policy 5.05:
/// each department sets its fee schedule; the month's report shows it was kept).
#[derive(Default)]
struct FeeTally {
    copies: u64,
    police_use: u64,
    minutes: u64,
    cents: u64,
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(x) => x.clone(),
        other => other.to_string(),
    }
}

/// Cuts `t` to `n` characters (refused input can be long).
fn cut(t: &str, n: usize) -> String {
    let mut out: String = t.chars().take(n).collect();
    if t.chars().count() > n {
        out.push('…');
    }
    out
}

fn refused(e: &AuditEntry) -> bool {
    e.result.starts_with("denied") || e.result.starts_with("refused")
}

impl Tally {
    fn add(&mut self, e: &AuditEntry) {
        *self.actions.entry(e.action.clone()).or_default() += 1;
        let d = &e.details;
        let event = |subject: String, detail: String| Event {
            seq: e.seq,
            at: e.at.to_string(),
            user: e.actor.clone(),
            action: e.action.clone(),
            subject: cut(&subject, 64),
            detail: cut(&detail, 300),
        };
        let action = AuditAction::parse(&e.action);
        let sections = action.map(AuditAction::sections).unwrap_or_default();
        match action {
            Some(AuditAction::AlprSearch | AuditAction::AlprSearchPending) => {
                let metric = if refused(e) {
                    "refused"
                } else if action == Some(AuditAction::AlprSearchPending) {
                    "pending"
                } else {
                    "ran"
                };
                let q = self.queries.entry(e.actor.clone()).or_default();
                *q.entry(metric).or_default() += 1;
                if metric == "ran" {
                    *q.entry("reads").or_default() += d["results"].as_u64().unwrap_or(0);
                }
                let purpose = s(&d["purpose"]);
                if !purpose.is_empty() {
                    *self
                        .purposes
                        .entry(cut(&purpose, 64))
                        .or_default()
                        .entry(metric)
                        .or_default() += 1;
                }
                let case = s(&d["case_number"]);
                if metric != "refused" && !case.is_empty() {
                    let c = self.cases.entry(cut(&case, 64)).or_default();
                    c.0 += 1;
                    c.1.insert(e.actor.clone());
                    if !purpose.is_empty() {
                        c.2.insert(cut(&purpose, 64));
                    }
                }
            }
            Some(AuditAction::RecordingsExport) if !refused(e) => {
                let fee = &d["fee"];
                let currency = match s(&fee["currency"]) {
                    c if c.is_empty() => "-".to_string(),
                    c => cut(&c, 8),
                };
                let department = match s(&fee["department"]) {
                    x if x.is_empty() => s(&d["department"]),
                    x => x,
                };
                let f = self
                    .fees
                    .entry((cut(&department, 64), currency))
                    .or_default();
                f.copies += 1;
                f.police_use += u64::from(d["police_use"].as_bool() == Some(true));
                f.minutes += fee["minutes"].as_u64().unwrap_or(0);
                f.cents += fee["cents"].as_u64().unwrap_or(0);
            }
            Some(AuditAction::Login) => self.logins.entry(e.actor.clone()).or_default().0 += 1,
            Some(AuditAction::LoginFailed) => {
                self.logins.entry(e.actor.clone()).or_default().1 += 1
            }
            _ => {}
        }
        if refused(e) {
            let subject = match s(&d["case_number"]) {
                c if !c.is_empty() => c,
                _ => e.name.clone(),
            };
            self.refusals.push(event(subject, e.result.clone()));
        }
        if sections.contains(&ReportSection::Approvals) {
            let why = [&d["reason"], &d["comment"], &d["reasons"]]
                .into_iter()
                .map(s)
                .find(|x| !x.is_empty())
                .unwrap_or_default();
            let detail = if refused(e) { e.result.clone() } else { why };
            self.approvals.push(event(e.name.clone(), detail));
        }
        if sections.contains(&ReportSection::HoldsExportsAlerts) {
            let detail = if refused(e) {
                e.result.clone()
            } else {
                [
                    ("case", &d["case_number"]),
                    ("reason", &d["reason"]),
                    ("to", &d["to"]),
                ]
                .into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("{k} {}", s(v)))
                .collect::<Vec<_>>()
                .join("; ")
            };
            self.holds_exports_alerts
                .push(event(e.name.clone(), detail));
        }
    }
}

/// The report's header facts.
struct Head<'a> {
    city: &'a str,
    month: &'a str,
    tz: &'a str,
    from: Timestamp,
    until: Timestamp,
    entries: u64,
    first: Option<u64>,
    last: Option<&'a AuditEntry>,
}

/// One CSV field: control characters shown as escapes (what the log holds,
/// visibly), quoted when needed, and a leading `= + - @` defused so a
/// spreadsheet never runs refused input as a formula.
fn csv_field(t: &str) -> String {
    crate::core::csv::field(&camplane_config::text::visible(t))
}

/// A table: a title, column names, rows.
struct Table {
    id: &'static str,
    title: &'static str,
    cols: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

fn tables(t: &Tally) -> Vec<Table> {
    let metric =
        |m: &BTreeMap<&'static str, u64>, k: &str| m.get(k).copied().unwrap_or(0).to_string();
    let events = |id, title, v: &[Event]| Table {
        id,
        title,
        cols: vec!["seq", "at", "user", "action", "subject", "detail"],
        rows: v
            .iter()
            .map(|e| {
                vec![
                    e.seq.to_string(),
                    e.at.clone(),
                    e.user.clone(),
                    e.action.clone(),
                    e.subject.clone(),
                    e.detail.clone(),
                ]
            })
            .collect(),
    };
    vec![
        Table {
            id: "queries_per_user",
            title: "ALPR queries per user",
            cols: vec![
                "user",
                "ran",
                "reads returned",
                "waiting for approval",
                "refused",
            ],
            rows: t
                .queries
                .iter()
                .map(|(u, m)| {
                    vec![
                        u.clone(),
                        metric(m, "ran"),
                        metric(m, "reads"),
                        metric(m, "pending"),
                        metric(m, "refused"),
                    ]
                })
                .collect(),
        },
        Table {
            id: "case_numbers",
            title: "Case numbers queried",
            cols: vec!["case number", "queries", "users", "purposes"],
            rows: t
                .cases
                .iter()
                .map(|(c, (n, users, purposes))| {
                    vec![
                        c.clone(),
                        n.to_string(),
                        users.iter().cloned().collect::<Vec<_>>().join(" "),
                        purposes.iter().cloned().collect::<Vec<_>>().join(" "),
                    ]
                })
                .collect(),
        },
        Table {
            id: "purposes",
            title: "Purposes given",
            cols: vec!["purpose", "ran", "waiting for approval", "refused"],
            rows: t
                .purposes
                .iter()
                .map(|(p, m)| {
                    vec![
                        p.clone(),
                        metric(m, "ran"),
                        metric(m, "pending"),
                        metric(m, "refused"),
                    ]
                })
                .collect(),
        },
        events(
            "refusals",
            "Refusals (every denied or refused request)",
            &t.refusals,
        ),
        events(
            "approvals",
            "Approvals (ALPR queries, placement requests)",
            &t.approvals,
        ),
        events(
            "holds_exports_alerts",
            "Legal holds, exports and alert steps",
            &t.holds_exports_alerts,
        ),
        Table {
            id: "fees",
            title: "Copies and their fees, per department",
            cols: vec![
                "department",
                "copies",
                "police use (no fee)",
                "minutes charged",
                "fees",
            ],
            rows: t
                .fees
                .iter()
                .map(|((dep, cur), f)| {
                    vec![
                        dep.clone(),
                        f.copies.to_string(),
                        f.police_use.to_string(),
                        f.minutes.to_string(),
                        if cur == "-" {
                            "no fee".to_string()
                        } else {
                            format!("{}.{:02} {cur}", f.cents / 100, f.cents % 100)
                        },
                    ]
                })
                .collect(),
        },
        Table {
            id: "logins",
            title: "Logins and failed logins",
            cols: vec!["user", "logins", "failed logins"],
            rows: t
                .logins
                .iter()
                .map(|(u, (ok, bad))| vec![u.clone(), ok.to_string(), bad.to_string()])
                .collect(),
        },
        Table {
            id: "actions",
            title: "All entries by action",
            cols: vec!["action", "entries"],
            rows: t
                .actions
                .iter()
                .map(|(a, n)| vec![a.clone(), n.to_string()])
                .collect(),
        },
    ]
}

fn head_lines(h: &Head) -> Vec<(&'static str, String)> {
    vec![
        ("city", h.city.to_string()),
        ("month", h.month.to_string()),
        ("time zone", h.tz.to_string()),
        ("from", h.from.to_string()),
        ("until", h.until.to_string()),
        ("entries", h.entries.to_string()),
        (
            "first entry",
            h.first.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
        ),
        (
            "last entry",
            h.last
                .map(|e| e.seq.to_string())
                .unwrap_or_else(|| "-".into()),
        ),
        (
            "last entry hash",
            h.last.map(|e| e.hash.clone()).unwrap_or_else(|| "-".into()),
        ),
    ]
}

fn render_csv(h: &Head, ts: &[Table]) -> Vec<u8> {
    let mut o = String::from("section,row,column,value\n");
    for (k, v) in head_lines(h) {
        o.push_str(&format!("report,0,{},{}\n", csv_field(k), csv_field(&v)));
    }
    for t in ts {
        for (i, r) in t.rows.iter().enumerate() {
            for (c, v) in t.cols.iter().zip(r) {
                o.push_str(&format!(
                    "{},{},{},{}\n",
                    t.id,
                    i + 1,
                    csv_field(c),
                    csv_field(v)
                ));
            }
        }
    }
    o.into_bytes()
}

fn render_html(h: &Head, ts: &[Table]) -> Vec<u8> {
    let mut o = String::new();
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    o.push_str(&format!(
        "<title>Audit report {} {}</title>\n",
        esc(h.city),
        esc(h.month)
    ));
    o.push_str("<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:2em}td,th{border:1px solid #999;padding:.2em .5em;text-align:left;vertical-align:top}th{background:#eee}</style>\n</head>\n<body>\n");
    o.push_str(&format!(
        "<h1>Audit report: {}, {}</h1>\n<table id=\"report\">\n",
        esc(h.city),
        esc(h.month)
    ));
    for (k, v) in head_lines(h) {
        o.push_str(&format!(
            "<tr><th>{}</th><td>{}</td></tr>\n",
            esc(k),
            esc(&v)
        ));
    }
    o.push_str("</table>\n");
    for t in ts {
        o.push_str(&format!(
            "<h2 id=\"{}\">{} ({})</h2>\n<table>\n<tr>",
            t.id,
            esc(t.title),
            t.rows.len()
        ));
        for c in &t.cols {
            o.push_str(&format!("<th>{}</th>", esc(c)));
        }
        o.push_str("</tr>\n");
        if t.rows.is_empty() {
            o.push_str(&format!(
                "<tr><td colspan=\"{}\">none</td></tr>\n",
                t.cols.len()
            ));
        }
        for r in &t.rows {
            o.push_str("<tr>");
            for v in r {
                o.push_str(&format!(
                    "<td>{}</td>",
                    esc(&camplane_config::text::visible(v))
                ));
            }
            o.push_str("</tr>\n");
        }
        o.push_str("</table>\n");
    }
    o.push_str("</body>\n</html>\n");
    o.into_bytes()
}

/// The entries of one month, added up.
struct MonthTally {
    tally: Tally,
    entries: u64,
    first: Option<u64>,
    last: Option<AuditEntry>,
}

/// How many entries the tally reads between looks at its cancel token.
const CANCEL_CHECK_EVERY: usize = 1024;

/// Adds up the entries in `kvs` that fall in `[from, until)`; `None` when `stop`
/// is cancelled before the end.
fn tally_month(
    kvs: &[crate::core::store::KeyValue],
    from: Timestamp,
    until: Timestamp,
    kept: &crate::core::sealed::Kept,
    stop: &tokio_util::sync::CancellationToken,
) -> Result<Option<MonthTally>> {
    let mut t = MonthTally {
        tally: Tally::default(),
        entries: 0,
        first: None,
        last: None,
    };
    for (i, kv) in kvs.iter().enumerate() {
        if i % CANCEL_CHECK_EVERY == 0 && stop.is_cancelled() {
            return Ok(None);
        }
        let e: AuditEntry = serde_json::from_slice(&kv.value)?;
        if e.at < from || e.at >= until {
            continue;
        }
        t.entries += 1;
        t.first.get_or_insert(e.seq);
        // Sealed details read as they are kept now (`erased` after 30 days).
        let e = crate::core::sealed::unseal_entry(e, kept)?;
        t.tally.add(&e);
        t.last = Some(e);
    }
    Ok(Some(t))
}

impl Controller {
    /// Makes the report of `month` (`YYYY-MM`, the city's time zone).
    pub async fn audit_report(&self, actor: &Actor, month: &str) -> Result<AuditReport> {
        self.require(actor, Operation::ReadAudit, AuditAction::AuditReport)
            .await?;
        let (y, m) = match parse_month(month) {
            Ok(x) => x,
            Err(e) => {
                let mut d = Draft::new(&actor.username, AuditAction::AuditReport, "", "");
                d.result = format!("refused: {e}");
                self.audit.record(d).await?;
                return Err(e);
            }
        };
        let tz_name = self.config.city.time_zone.clone();
        let tz = jiff::tz::TimeZone::get(&tz_name)
            .map_err(|e| Error::Internal(format!("time zone {tz_name}: {e}")))?;
        let start = Date::new(y, m, 1).map_err(|e| Error::Internal(e.to_string()))?;
        let next = if m == 12 {
            Date::new(y + 1, 1, 1)
        } else {
            Date::new(y, m + 1, 1)
        }
        .map_err(|e| Error::Internal(e.to_string()))?;
        let at = |d: Date| {
            d.to_zoned(tz.clone())
                .map(|z| z.timestamp())
                .map_err(|e| Error::Internal(format!("month start: {e}")))
        };
        let (from, until) = (at(start)?, at(next)?);
        let listed = self.store.list(ENTRIES).await?;
        // The tally runs on a blocking thread and checks this token: it is
        // cancelled when the call is dropped (the client went away) or the
        // server shuts down, so neither waits for a long chain to be read.
        let stop = self.shutdown.child_token();
        let _dropped_with_the_call = stop.clone().drop_guard();
        let t = stop.clone();
        let kept = self.audit.kept_details().await?;
        let tallied =
            tokio::task::spawn_blocking(move || tally_month(&listed.kvs, from, until, &kept, &t))
                .await
                .map_err(|e| Error::Internal(format!("report tally: {e}")))?;
        let Some(month_tally) = tallied? else {
            self.metrics.work_cancelled("report");
            return Err(Error::Cancelled("the audit report was cancelled".into()));
        };
        let MonthTally {
            tally,
            entries,
            first,
            last,
        } = month_tally;
        let month_s = format!("{y:04}-{m:02}");
        let head = Head {
            city: &self.config.city.name,
            month: &month_s,
            tz: &tz_name,
            from,
            until,
            entries,
            first,
            last: last.as_ref(),
        };
        let ts = tables(&tally);
        let report = AuditReport {
            html: render_html(&head, &ts),
            csv: render_csv(&head, &ts),
            entries,
        };
        let mut d = Draft::new(
            &actor.username,
            AuditAction::AuditReport,
            "AuditReport",
            &month_s,
        );
        d.details = serde_json::json!({
            "month": month_s, "entries": entries,
            "html_sha256": hex::encode(Sha256::digest(&report.html)),
            "csv_sha256": hex::encode(Sha256::digest(&report.csv)),
        });
        self.audit.record(d).await?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months() {
        assert_eq!(parse_month("2026-10").unwrap(), (2026, 10));
        for bad in [
            "2026-13",
            "2026-1",
            "26-10",
            "October",
            "2026-10; rm -rf /",
            "",
            "+026-10",
        ] {
            assert!(parse_month(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn escaping() {
        assert_eq!(esc("<b>&\"'"), "&lt;b&gt;&amp;&quot;&#39;");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"x\""), "\"say \"\"x\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_field("a\nb"), "a\\nb");
        assert_eq!(csv_field("x\x1b[2Ky"), "x\\x1b[2Ky");
        assert_eq!(csv_field("26-01234"), "26-01234");
    }

    fn entry(seq: u64, action: &str, result: &str) -> AuditEntry {
        AuditEntry {
            seq,
            at: "2026-10-05T12:00:00Z".parse().unwrap(),
            actor: "alice".into(),
            action: action.into(),
            kind: String::new(),
            name: format!("obj-{seq}"),
            result: result.into(),
            before: None,
            after: None,
            details: serde_json::json!({"case_number": "26-00001"}),
            sealed: String::new(),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    /// The tally stops on its token (the call dropped, the server shutting
    /// down) rather than reading the chain to its end; uncancelled it counts
    /// the month's entries.
    #[test]
    fn the_tally_stops_when_cancelled() {
        let kvs: Vec<crate::core::store::KeyValue> = (1..=3000)
            .map(|seq| crate::core::store::KeyValue {
                key: format!("audit/entries/{seq:012}"),
                value: std::sync::Arc::new(serde_json::to_vec(&entry(seq, "get", "ok")).unwrap()),
                create_revision: seq as i64,
                mod_revision: seq as i64,
            })
            .collect();
        let from: Timestamp = "2026-10-01T00:00:00Z".parse().unwrap();
        let until: Timestamp = "2026-11-01T00:00:00Z".parse().unwrap();
        let stop = tokio_util::sync::CancellationToken::new();
        let t = tally_month(&kvs, from, until, &Default::default(), &stop)
            .unwrap()
            .unwrap();
        assert_eq!((t.entries, t.first), (3000, Some(1)));
        stop.cancel();
        assert!(tally_month(&kvs, from, until, &Default::default(), &stop)
            .unwrap()
            .is_none());
    }

    #[test]
    fn every_section_is_fed_by_its_actions_not_by_name_prefixes() {
        let mut t = Tally::default();
        for (i, a) in [
            "recordings.export",
            "recordings.export.incomplete",
            "hold.create",
            "alert.act",
            "alert.raised",
            "alpr.approval.approve",
            "alpr.approval.list",
            "request.approve",
            "alpr.search.pending",
            "login",
            "login_failed",
            "a.future.action",
        ]
        .into_iter()
        .enumerate()
        {
            t.add(&entry(i as u64 + 1, a, "ok"));
        }
        let names = |v: &[Event]| v.iter().map(|e| e.action.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(&t.holds_exports_alerts),
            [
                "recordings.export",
                "recordings.export.incomplete",
                "hold.create",
                "alert.act"
            ]
        );
        assert_eq!(
            names(&t.approvals),
            [
                "alpr.approval.approve",
                "request.approve",
                "alpr.search.pending"
            ]
        );
        assert_eq!(t.logins["alice"], (1, 1));
        // An action this build does not know is still counted.
        assert_eq!(t.actions["a.future.action"], 1);
        assert!(t.refusals.is_empty());
    }

    #[test]
    fn fees_are_summed_per_department_and_currency() {
        let mut t = Tally::default();
        let fee = |cents: u64, minutes: u64| {
            serde_json::json!({ "department": "police", "currency": "USD",
                "cents": cents, "minutes": minutes, "files": 1 })
        };
        for (i, (details, result)) in [
            (serde_json::json!({ "fee": fee(16_500, 12) }), "ok"),
            (serde_json::json!({ "fee": fee(2_500, 1) }), "ok"),
            (
                serde_json::json!({ "fee": fee(99_999, 99) }),
                "denied: no copy right",
            ),
            (
                serde_json::json!({ "department": "police", "police_use": true, "fee": null }),
                "ok",
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let mut e = entry(i as u64 + 1, "recordings.export", result);
            e.details = details;
            t.add(&e);
        }
        let f = &t.fees[&("police".to_string(), "USD".to_string())];
        assert_eq!(
            (f.copies, f.minutes, f.cents),
            (2, 13, 19_000),
            "the refusal is not a copy"
        );
        let free = &t.fees[&("police".to_string(), "-".to_string())];
        assert_eq!((free.copies, free.police_use), (1, 1));
        let rows = &tables(&t)
            .into_iter()
            .find(|x| x.id == "fees")
            .unwrap()
            .rows;
        assert_eq!(rows[1], ["police", "2", "0", "13", "190.00 USD"]);
    }
}
