//! The public log's generation, rendering and month arithmetic.

use super::*;
use camplane_config::model::LatLon;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn win(cam: &str, start: &str, end: &str, plates: u64, hits: &[(HitCategory, u64)]) -> FiledWindow {
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
        complaints: Default::default(),
        checkpoint: None,
        city: "Dubuque".into(),
        tz,
        tz_name: "America/Chicago".into(),
        month: Month::parse("2026-10").unwrap(),
        readers: vec![
            ReaderInfo {
                camera: "lpr-a".into(),
                kind: CameraKind::Fixed,
                hidden: vec![],
                locations: vec![
                    loc(42.5, "2026-01-01T12:00:00Z", Some("2026-10-10T12:00:00Z")),
                    loc(42.6, "2026-10-10T12:00:00Z", None),
                ],
            },
            ReaderInfo {
                camera: "lpr-secret".into(),
                kind: CameraKind::Fixed,
                hidden: vec![Span::ALWAYS],
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
    i.complaints.received = 3;
    i.complaints.not_followed = 1;
    let log = build(&i);
    let html = render_html(&log);
    assert!(!html.contains("<script>x"));
    assert!(html.contains("No reader collected data this month."));
    assert_eq!(csv_field("a,b"), "\"a,b\"");
    assert_eq!(csv_field("a\"b"), "\"a\"\"b\"");
    // A reader name an agent made up is never a formula in the public log.
    assert_eq!(csv_field("=cmd|' calc'!A0"), "'=cmd|' calc'!A0");
    let csv = render_csv(&log);
    let cols = csv.lines().next().unwrap().split(',').count();
    for l in csv.lines().filter(|l| !l.contains('"')) {
        assert_eq!(l.split(',').count(), cols, "{l}");
    }
    // The complaint counts the page and log.json carry, the CSV too.
    assert!(
        csv.lines()
            .any(|l| l.starts_with("complaints,") && l.ends_with(",received,3")),
        "{csv}"
    );
    assert!(
        csv.lines().any(|l| l.ends_with(",policy_not_followed,1")),
        "{csv}"
    );
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

#[test]
fn the_months_checkpoint_ends_the_html_and_nothing_else_changes() {
    let plain = render(&build(&input(vec![])));
    let mut i = input(vec![]);
    i.checkpoint = Some("o\n3\nAAAA\n\n\u{2014} o <x>\n".into());
    let with = render(&build(&i));
    let html = String::from_utf8(with[0].1.clone()).unwrap();
    let before = String::from_utf8(plain[0].1.clone()).unwrap();
    let head = before.strip_suffix("</body></html>\n").unwrap();
    assert!(html.starts_with(head), "the page so far is unchanged");
    let block = &html[head.len()..];
    assert!(block.starts_with("<h2 id=\"audit-checkpoint\">"), "{block}");
    assert!(
        block.contains("<pre>o\n3\nAAAA\n\n\u{2014} o &lt;x&gt;\n</pre>"),
        "{block}"
    );
    assert!(block.ends_with("</body></html>\n"));
    assert_eq!(with[1..], plain[1..], "log.csv and log.json unchanged");
}

/// "Databases compared" names the sources of lists served during the month:
/// a case list that lapsed before it began is not named.
#[test]
fn a_list_that_lapsed_before_the_month_is_not_a_database_compared() {
    let list = |source: &str, lapsed: Option<&str>| -> crate::alpr::hotlist::HotlistInfo {
        serde_json::from_value(serde_json::json!({
            "list": format!("{}.stolen_vehicle", source.to_lowercase()),
            "source": source, "category": "stolen_vehicle", "version": 1, "entries": 1,
            "loaded_by": "sgt", "loaded_at": "2026-08-01T00:00:00Z",
            "file": "f.csv", "sha256": "00", "lapsed_at": lapsed,
        }))
        .unwrap()
    };
    let mut i = input(vec![]);
    i.hotlists = vec![
        list("NCIC", None),
        list("CUSTOM", Some("2026-09-10T00:00:00Z")),
        list("STATE_DOT", Some("2026-10-20T00:00:00Z")),
    ];
    let log = build(&i);
    let v = serde_json::to_value(&log).unwrap();
    assert_eq!(
        v["databases"],
        serde_json::json!(["NCIC", "STATE_DOT"]),
        "{}",
        v["databases"]
    );
}
