//! The monthly public log, end to end with real parts: a controller (embedded
//! store, TLS, an injected clock, the public portal on HTTP) and two agents that
//! enrolled with one-time tokens and report over mutual TLS.
//!
//! Three readers carry known synthetic traffic through October 2026 in
//! America/Chicago: the agent's own window tracker turns the video and plate
//! reads into active windows, and the agents report them the way they report
//! real ones. One reader's gateway is offline until after the month was
//! published; its late reports republish the month. The published numbers
//! must equal the ones computed here from the traffic itself, exactly; no
//! plate or case number may appear in any public file; the page is rendered
//! by a real headless Chromium.

use camplane_agent::control::Session;
use camplane_agent::health::{ActiveWindow, WindowTracker};
use camplane_config::hotlist::HitCategory;
use camplane_controller::clock::ManualClock;
use camplane_proto::v1 as pb;
use camplane_testkit::{agent, controller as ctl, http};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const READERS: &str = r#"
kind: Site
name: depot
spec: {address: 925 Kerper Blvd, lat: 42.5150, lon: -90.6560}
---
kind: Agent
name: city-hall-gw
spec: {site: city-hall}
---
kind: Agent
name: depot-gw
spec: {site: depot}
---
kind: PlacementRequest
name: req-a
spec: {location: {lat: 42.50071, lon: -90.66431}, purpose: alpr, justification: stolen vehicles, funding_source: state grant, department: police, kind: fixed, camera: lpr-a}
---
kind: PlacementRequest
name: req-hidden
spec: {location: {lat: 42.49123, lon: -90.67789}, purpose: alpr, justification: task force, funding_source: state grant, department: police, kind: fixed, camera: lpr-hidden}
---
kind: PlacementRequest
name: req-m
spec: {location: {lat: 42.5150, lon: -90.6560}, purpose: alpr, justification: patrol car, funding_source: state grant, department: police, kind: mobile, camera: lpr-m}
---
kind: Camera
name: lpr-a
spec:
  site: city-hall
  department: police
  kind: fixed
  purpose: alpr
  alpr: true
  location: {lat: 42.50071, lon: -90.66431}
  streams: {main: "rtsp://127.0.0.1:8554/lpr-a"}
  agent: city-hall-gw
  placement_request: req-a
---
kind: Camera
name: lpr-hidden
spec:
  site: city-hall
  department: police
  kind: fixed
  purpose: alpr
  alpr: true
  confidential: true
  confidential_reason: Iowa DCI task force site
  confidential_basis: iowa-code-22.7
  location: {lat: 42.49123, lon: -90.67789}
  streams: {main: "rtsp://127.0.0.1:8554/lpr-hidden"}
  agent: city-hall-gw
  placement_request: req-hidden
---
kind: Camera
name: lpr-m
spec:
  site: depot
  department: police
  kind: mobile
  purpose: alpr
  alpr: true
  location: {lat: 42.5150, lon: -90.6560}
  streams: {main: "rtsp://127.0.0.1:8554/lpr-m"}
  agent: depot-gw
  placement_request: req-m
"#;

/// lpr-a's relocation on Oct 10: a new request for the new place.
const MOVED_REQUEST: &str = r#"
kind: PlacementRequest
name: req-a2
spec: {location: {lat: 42.50222, lon: -90.66111}, purpose: alpr, justification: stolen vehicles, funding_source: state grant, department: police, kind: fixed, camera: lpr-a}
"#;

/// Walks requests through the chain (placement unchecked here: the chief
/// overrides in writing) and returns once each is approved.
async fn approve(h: &ctl::Harness, ids: &[&str], people: &(String, String, String)) {
    let (mgr, chief, cm) = people;
    for id in ids {
        ctl::override_unchecked(h, chief, id).await;
        for (who, action) in [(mgr, "recommend"), (chief, "recommend"), (cm, "approve")] {
            ctl::act(h, who, id, action, "", "").await.unwrap();
        }
    }
}

/// Plates in the hotlists: none may ever appear in public output.
const PLATES: [&str; 4] = ["ABC1234", "XYZ9876", "KLM4455", "SECRET1"];
/// Case numbers of the assists: likewise.
const CASES: [&str; 3] = ["26-00017", "26-31337", "26-04242"];

fn tz() -> TimeZone {
    TimeZone::get("America/Chicago").unwrap()
}

/// A local (Chicago) time.
fn local(s: &str) -> Timestamp {
    format!("{s}[America/Chicago]")
        .parse::<jiff::Zoned>()
        .unwrap()
        .timestamp()
}

fn minute(t: Timestamp) -> String {
    t.to_zoned(tz()).strftime("%Y-%m-%d %H:%M").to_string()
}

/// One stretch of collection: video every 10 s in [start, end), a plate read
/// 45 s in and then every 97 s.
struct Stretch {
    start: Timestamp,
    end: Timestamp,
}

impl Stretch {
    fn videos(&self) -> impl Iterator<Item = Timestamp> + '_ {
        let n = self.end.duration_since(self.start).as_secs() / 10;
        (0..n).map(move |k| self.start + SignedDuration::from_secs(k * 10))
    }
    fn reads(&self) -> impl Iterator<Item = Timestamp> + '_ {
        let n = self.end.duration_since(self.start).as_secs();
        (0..)
            .map(|k| 45 + 97 * k)
            .take_while(move |s| *s < n)
            .map(move |s| self.start + SignedDuration::from_secs(s))
    }
}

/// The hit categories of a camera's `n`-th read (known, deterministic).
fn hits_of(n: u64) -> Vec<HitCategory> {
    let mut v = Vec::new();
    if n % 40 == 7 {
        v.push(HitCategory::StolenVehicle);
    }
    if n % 55 == 3 {
        v.push(HitCategory::Warrant);
    }
    if n.is_multiple_of(101) {
        v.push(HitCategory::Investigative);
    }
    v
}

/// The traffic of each reader.
fn traffic() -> BTreeMap<&'static str, Vec<Stretch>> {
    let mut t: BTreeMap<&'static str, Vec<Stretch>> = BTreeMap::new();
    // lpr-a: every day 07:00-19:00, from Sep 30 to Nov 1 (only October counts);
    // on Oct 15 a 20-minute outage splits the day; the evening of Sep 30 runs
    // past local midnight into October.
    let mut a = vec![Stretch {
        start: local("2026-09-30T19:00"),
        end: local("2026-10-01T02:00"),
    }];
    for d in 1..=31 {
        let day = format!("2026-10-{d:02}");
        if d == 15 {
            a.push(Stretch {
                start: local(&format!("{day}T07:00")),
                end: local(&format!("{day}T10:00")),
            });
            a.push(Stretch {
                start: local(&format!("{day}T10:20")),
                end: local(&format!("{day}T19:00")),
            });
        } else {
            a.push(Stretch {
                start: local(&format!("{day}T07:00")),
                end: local(&format!("{day}T19:00")),
            });
        }
    }
    a.push(Stretch {
        start: local("2026-11-01T07:00"),
        end: local("2026-11-01T09:00"),
    });
    t.insert("lpr-a", a);
    // The confidential reader: continuously from Oct 25 08:00 into November.
    t.insert(
        "lpr-hidden",
        vec![Stretch {
            start: local("2026-10-25T08:00"),
            end: local("2026-11-01T01:00"),
        }],
    );
    // The mobile reader: two shifts on weekdays of the first two weeks.
    let mut m = Vec::new();
    for d in [1, 2, 5, 6, 7, 8, 9, 12, 13, 14] {
        let day = format!("2026-10-{d:02}");
        m.push(Stretch {
            start: local(&format!("{day}T06:30")),
            end: local(&format!("{day}T11:10")),
        });
        m.push(Stretch {
            start: local(&format!("{day}T13:00")),
            end: local(&format!("{day}T17:40")),
        });
    }
    t.insert("lpr-m", m);
    t
}

/// Runs the agent's own window tracker over a reader's traffic; returns the
/// windows it closed and the tracker (for a late read).
fn windows_of(camera: &str, stretches: &[Stretch]) -> (Vec<ActiveWindow>, WindowTracker) {
    let mut w = WindowTracker::new(camera, SignedDuration::from_secs(30));
    let mut n = 0u64;
    for s in stretches {
        let mut reads = s.reads().peekable();
        for v in s.videos() {
            while reads.peek().is_some_and(|r| *r < v) {
                let r = reads.next().unwrap();
                w.plate_read(r, &hits_of(n));
                n += 1;
            }
            w.video(v);
        }
        for r in reads {
            w.plate_read(r, &hits_of(n));
            n += 1;
        }
        w.tick(s.end + SignedDuration::from_secs(3600));
    }
    (w.take_closed(), w)
}

/// One period: start, end, reads, hits by category.
type PeriodRow = (String, String, u64, BTreeMap<String, u64>);

/// What October's log must say, computed from the traffic alone.
#[derive(Default, Debug)]
struct Expected {
    /// Per reader: (start, end, reads, hits by category) per period.
    periods: BTreeMap<&'static str, Vec<PeriodRow>>,
    days: BTreeMap<String, (u64, u64)>,
    reads: u64,
    hits: BTreeMap<String, u64>,
}

fn expected(traffic: &BTreeMap<&'static str, Vec<Stretch>>, late: Option<Timestamp>) -> Expected {
    let (m0, m1) = (local("2026-10-01T00:00"), local("2026-11-01T00:00"));
    let mut e = Expected::default();
    for c in HitCategory::ALL {
        e.hits.insert(c.as_str().into(), 0);
    }
    for (cam, stretches) in traffic {
        let mut n = 0u64;
        let mut periods = Vec::new();
        for s in stretches {
            let videos: Vec<Timestamp> = s.videos().filter(|v| *v >= m0 && *v < m1).collect();
            let mut reads = 0;
            let mut hits: BTreeMap<String, u64> = HitCategory::ALL
                .iter()
                .map(|c| (c.as_str().to_string(), 0))
                .collect();
            for r in s.reads() {
                let hs = hits_of(n);
                n += 1;
                if r < m0 || r >= m1 {
                    continue;
                }
                reads += 1;
                let day = r.to_zoned(tz()).strftime("%Y-%m-%d").to_string();
                let d = e.days.entry(day).or_default();
                d.0 += 1;
                d.1 += hs.len() as u64;
                for h in &hs {
                    *hits.get_mut(h.as_str()).unwrap() += 1;
                    *e.hits.get_mut(h.as_str()).unwrap() += 1;
                }
            }
            if let (Some(first), Some(last)) = (videos.first(), videos.last()) {
                e.reads += reads;
                periods.push((minute(*first), minute(*last), reads, hits));
            }
        }
        e.periods.insert(cam, periods);
    }
    if let Some(t) = late {
        // One late read (a warrant hit) merged into lpr-a's last October period.
        let p = e.periods.get_mut("lpr-a").unwrap().last_mut().unwrap();
        p.2 += 1;
        *p.3.get_mut("warrant").unwrap() += 1;
        e.reads += 1;
        *e.hits.get_mut("warrant").unwrap() += 1;
        let d = e
            .days
            .entry(t.to_zoned(tz()).strftime("%Y-%m-%d").to_string())
            .or_default();
        d.0 += 1;
        d.1 += 1;
    }
    e
}

async fn relogin(h: &mut ctl::Harness) {
    let pw = h.running.initial_password.clone().unwrap();
    h.admin = ctl::login(&h.channel, "admin", &pw).await.unwrap();
}

async fn wait_filed(h: &ctl::Harness, n: usize) {
    let store = h.running.controller.store.clone();
    for _ in 0..300 {
        if store.list("windows/2026-10/").await.unwrap().kvs.len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = store.list("windows/2026-10/").await.unwrap().kvs.len();
    panic!("{got} of {n} October windows filed");
}

async fn wait_edition(h: &ctl::Harness, edition: u32) -> camplane_controller::publog::Published {
    for _ in 0..200 {
        let p = h.running.controller.published_months().await.unwrap();
        if let Some(m) = p.into_iter().find(|m| m.month == "2026-10") {
            if m.edition >= edition {
                return m;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("October 2026 not published (edition {edition}) within 20 s");
}

fn check_numbers(log: &Value, e: &Expected) {
    assert_eq!(log["month"], "2026-10");
    assert_eq!(log["time_zone"], "America/Chicago");
    assert_eq!(log["totals"]["plates_read"], e.reads, "month total reads");
    for (c, n) in &e.hits {
        assert_eq!(log["totals"]["hits"][c], *n, "month hits {c}");
    }
    let days = log["days"].as_array().unwrap();
    assert_eq!(days.len(), 31);
    for d in days {
        let want = e
            .days
            .get(d["date"].as_str().unwrap())
            .copied()
            .unwrap_or((0, 0));
        assert_eq!(
            (d["plates_read"].clone(), d["hits"].clone()),
            (want.0.into(), want.1.into()),
            "day {}",
            d["date"]
        );
    }
    let readers = log["readers"].as_array().unwrap();
    for (cam, periods) in &e.periods {
        if periods.is_empty() {
            continue;
        }
        let name = if *cam == "lpr-hidden" {
            "confidential reader 1"
        } else {
            cam
        };
        let r = readers
            .iter()
            .find(|r| r["reader"] == name)
            .unwrap_or_else(|| panic!("reader {name} missing"));
        let got: Vec<PeriodRow> = r["periods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["start"].as_str().unwrap().to_string(),
                    p["end"].as_str().unwrap().to_string(),
                    p["plates_read"].as_u64().unwrap(),
                    serde_json::from_value(p["hits"].clone()).unwrap(),
                )
            })
            .collect();
        assert_eq!(&got, periods, "periods of {name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_month_of_known_traffic_is_published_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let clock = ManualClock::new("2026-09-20T15:00:00Z".parse().unwrap());
    let mut cfg = ctl::config_embedded(&dir.path().join("store"));
    cfg.tls.ca_cert_file = Some(ca.clone());
    cfg.http_listen = Some("127.0.0.1:0".into());
    let mut h = ctl::start(cfg, Some(Arc::new(clock.clone()))).await;
    let http = h.running.http_addr.expect("portal serving");
    ctl::apply(&h, &h.admin, ctl::CITY).await.unwrap();
    // Information Services registers the readers; keeping lpr-hidden's places
    // from the public is the Police Department's determination: the chief
    // applies its marking.
    let marking = "  confidential: true\n  confidential_reason: Iowa DCI task force site\n  confidential_basis: iowa-code-22.7\n";
    assert!(READERS.contains(marking));
    ctl::apply(&h, &h.admin, &READERS.replace(marking, ""))
        .await
        .unwrap();
    // The readers are in service under approved requests: their history (and
    // so the public list of their places) starts at their activation.
    let people = (
        ctl::user(&h, "mgr", &["dept_manager"], "police").await,
        ctl::user(&h, "chief", &["chief"], "police").await,
        ctl::user(&h, "cm", &["city_manager"], "").await,
    );
    let hidden = READERS
        .split("---\n")
        .find(|d| d.contains("name: lpr-hidden"))
        .unwrap();
    ctl::apply(&h, &people.1, hidden).await.unwrap();
    approve(&h, &["req-a", "req-hidden", "req-m"], &people).await;
    for cam in ["lpr-a", "lpr-hidden", "lpr-m"] {
        ctl::camera(&h, &h.admin, cam, "activate").await.unwrap();
    }

    // Hotlists: NCIC is public, the department's custom list is not.
    let sgt = ctl::qualified_user(&h, "sgt", "supervisor", "police").await;
    let lt = ctl::qualified_user(&h, "lt", "supervisor", "police").await;
    for (source, category, plates, public) in [
        ("NCIC", "stolen_vehicle", "ABC1234,IA\nXYZ9876,IL\n", None),
        ("STATE_DOT", "warrant", "KLM4455,IA\n", None),
        ("CUSTOM", "investigative", "SECRET1,IA\n", Some(false)),
    ] {
        // The department's own list is one case's, and waits for another supervisor.
        let custom = source == "CUSTOM";
        let r = ctl::upload_hotlist(
            &h.channel,
            &sgt,
            pb::HotlistLoadRequest {
                source: source.into(),
                category: category.into(),
                file_name: format!("{source}.csv"),
                csv: format!("plate,state\n{plates}").into_bytes(),
                columns_json: String::new(),
                mode: "replace".into(),
                public,
                case_number: if custom {
                    "26-04711".into()
                } else {
                    String::new()
                },
                purpose: if custom {
                    "stolen_vehicle".into()
                } else {
                    String::new()
                },
                expires: if custom {
                    "2026-10-15".into()
                } else {
                    String::new()
                },
            },
        )
        .await
        .unwrap()
        .into_inner();
        if custom {
            pb::alpr_approvals_client::AlprApprovalsClient::new(h.channel.clone())
                .decide(ctl::req(
                    &lt,
                    pb::AlprApprovalDecision {
                        id: r.pending_approval,
                        approve: true,
                        reason: "case 26-04711".into(),
                    },
                ))
                .await
                .unwrap();
        }
    }

    // lpr-a moves on Oct 10: the log shows both places for October.
    clock.set("2026-10-10T17:00:00Z".parse().unwrap());
    relogin(&mut h).await;
    ctl::apply(&h, &h.admin, MOVED_REQUEST).await.unwrap();
    let people = (
        ctl::login(&h.channel, "mgr", &ctl::user_password("mgr"))
            .await
            .unwrap(),
        ctl::login(&h.channel, "chief", &ctl::user_password("chief"))
            .await
            .unwrap(),
        ctl::login(&h.channel, "cm", &ctl::user_password("cm"))
            .await
            .unwrap(),
    );
    approve(&h, &["req-a2"], &people).await;
    let moved = READERS
        .replace(
            "  location: {lat: 42.50071, lon: -90.66431}",
            "  location: {lat: 42.50222, lon: -90.66111}",
        )
        .replace("placement_request: req-a\n", "placement_request: req-a2\n");
    ctl::apply(&h, &h.admin, &moved).await.unwrap();

    // City Hall's gateway runs; the depot's is offline (spools, sends later).
    let token = agent::enroll_token(&h, "city-hall").await;
    let ch_dir = dir.path().join("city-hall");
    let ch = Session::new(
        agent::config(h.running.addr.port(), &ca, &ch_dir, &token.token),
        agent::supervisor(&ch_dir),
    )
    .unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(ch.clone().run(stop.clone()));

    let all_traffic = traffic();
    let mut trackers = BTreeMap::new();
    let mut filed = 0;
    let mut depot_windows = Vec::new();
    for (cam, stretches) in &all_traffic {
        let (ws, tracker) = windows_of(cam, stretches);
        if *cam == "lpr-m" {
            depot_windows = ws;
            continue;
        }
        let now = Timestamp::now();
        for w in &ws {
            if w.start >= local("2026-10-01T00:00") && w.start < local("2026-11-01T00:00") {
                filed += 1;
            }
            ch.report_window(w, now).unwrap();
        }
        trackers.insert(*cam, tracker);
    }
    assert!(filed > 500, "hourly windows: {filed}");

    // Case assists (operators), entered during October.
    clock.set(local("2026-10-31T23:59"));
    relogin(&mut h).await;
    let op = ctl::user(&h, "op", &["alpr_operator"], "police").await;
    for (case, offense, arrests, date) in [
        (CASES[0], "vehicle_theft", 1, "2026-10-03"),
        (CASES[1], "vehicle_theft", 0, "2026-10-20"),
        (CASES[2], "warrant_service", 2, "2026-10-28"),
    ] {
        pb::public_log_client::PublicLogClient::new(h.channel.clone())
            .add_case_assist(ctl::req(
                &op,
                pb::CaseAssistRequest {
                    case_number: case.into(),
                    offense: offense.into(),
                    arrests,
                    date: date.into(),
                },
            ))
            .await
            .unwrap();
    }
    // Bad input is refused clearly and stores nothing.
    for (case, offense, date, want) in [
        (
            "26-1; DROP TABLE",
            "vehicle_theft",
            "",
            "case number format",
        ),
        (
            &"9".repeat(10_000)[..],
            "vehicle_theft",
            "",
            "case number format",
        ),
        ("26-00018", "Vehicle Theft <b>", "", "--offense"),
        ("26-00018", "vehicle_theft", "2026-12-01", "in the future"),
        ("26-00018", "vehicle_theft", "yesterday", "--date"),
    ] {
        let e = pb::public_log_client::PublicLogClient::new(h.channel.clone())
            .add_case_assist(ctl::req(
                &op,
                pb::CaseAssistRequest {
                    case_number: case.into(),
                    offense: offense.into(),
                    arrests: 0,
                    date: date.into(),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{case:.40}");
        assert!(e.message().contains(want), "{}", e.message());
        assert!(
            !e.message().contains("DROP"),
            "input echoed: {}",
            e.message()
        );
    }
    // Only operators, supervisors and the chief enter assists.
    let e = pb::public_log_client::PublicLogClient::new(h.channel.clone())
        .add_case_assist(ctl::req(
            &h.admin,
            pb::CaseAssistRequest {
                case_number: "26-00019".into(),
                offense: "vehicle_theft".into(),
                arrests: 0,
                date: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied);

    wait_filed(&h, filed).await;
    // The month is not over in Chicago: nothing is published, and generating it is refused.
    let published = h.running.controller.publish_due().await.unwrap();
    assert!(!published.contains(&"2026-10".to_string()), "{published:?}");
    assert!(!h
        .running
        .controller
        .published_months()
        .await
        .unwrap()
        .iter()
        .any(|m| m.month == "2026-10"));
    let e = pb::public_log_client::PublicLogClient::new(h.channel.clone())
        .generate(ctl::req(
            &h.admin,
            pb::PublicLogRequest {
                month: "2026-10".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{}", e.message());
    assert!(
        e.message().contains("2026-10-31 23:59") || e.message().contains("2026-11-01 00:00"),
        "{}",
        e.message()
    );

    // The month ends (local midnight, still CDT: 05:00 UTC); the leader publishes it.
    clock.set("2026-11-01T05:00:30Z".parse().unwrap());
    relogin(&mut h).await;
    let first = wait_edition(&h, 1).await;
    let log: Value = serde_json::from_str(&first.files["log.json"]).unwrap();
    let mut without_depot = traffic();
    without_depot.insert("lpr-m", Vec::new());
    check_numbers(&log, &expected(&without_depot, None));
    assert_eq!(
        log["databases"],
        serde_json::json!(["NCIC", "STATE_DOT"]),
        "non-public sources left out"
    );
    assert_eq!(
        log["totals"]["case_assists"],
        serde_json::json!({"vehicle_theft": 2, "warrant_service": 1})
    );
    assert_eq!(log["totals"]["arrests"], 3);
    let a = log["readers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["reader"] == "lpr-a")
        .unwrap();
    assert_eq!(
        a["locations"].as_array().unwrap().len(),
        2,
        "lpr-a stood in two places in October"
    );
    let history = log["location_history"].as_array().unwrap();
    assert_eq!(
        history.len(),
        1,
        "only lpr-a: lpr-hidden is confidential, lpr-m mobile"
    );
    assert_eq!(history[0]["locations"][0]["until"], "2026-10-10");

    // The portal serves exactly what was published.
    let (status, ctype, body) = http::http_get(http, "/public/2026-10/log.json");
    assert_eq!(status, 200);
    assert!(ctype.starts_with("application/json"), "{ctype}");
    assert_eq!(body, first.files["log.json"]);
    let (status, _, index) = http::http_get(http, "/public/");
    assert_eq!(status, 200);
    assert!(index.contains("href=\"/public/2026-10/\""), "{index}");
    assert!(index.contains("30 days"));
    assert!(index.contains("immigration enforcement"));
    assert!(index.contains("NCIC") && !index.contains("CUSTOM"));
    assert_eq!(http::http_get(http, "/public/2026-08/").0, 404);
    assert_eq!(http::http_get(http, "/public/../etc/passwd").0, 404);
    assert_eq!(http::http_get(http, "/public/2026-10/secret.txt").0, 404);

    // Generating on demand gives the published bytes, twice.
    let gen = || async {
        pb::public_log_client::PublicLogClient::new(h.channel.clone())
            .generate(ctl::req(
                &h.admin,
                pb::PublicLogRequest {
                    month: "2026-10".into(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .files
            .into_iter()
            .map(|f| (f.name, f.content))
            .collect::<BTreeMap<_, _>>()
    };
    let g1 = gen().await;
    assert_eq!(g1, gen().await, "same data, same bytes");
    for (name, body) in &first.files {
        assert_eq!(&g1[name], body.as_bytes(), "{name} as published");
    }

    // The depot's gateway comes back with its October windows spooled, plus a
    // read City Hall's reader merged late; the month is republished.
    clock.set("2026-11-03T16:00:00Z".parse().unwrap());
    relogin(&mut h).await;
    let late_at = local("2026-10-31T18:50");
    let mut tracker = trackers.remove("lpr-a").unwrap();
    tracker.plate_read(late_at, &[HitCategory::Warrant]);
    let amendments = tracker.take_closed();
    assert!(
        amendments.len() == 1 && amendments[0].amends,
        "{amendments:?}"
    );
    ch.report_window(&amendments[0], Timestamp::now()).unwrap();
    let token = agent::enroll_token(&h, "depot").await;
    let depot_dir = dir.path().join("depot");
    let depot = Session::new(
        agent::config(h.running.addr.port(), &ca, &depot_dir, &token.token),
        agent::supervisor(&depot_dir),
    )
    .unwrap();
    for w in &depot_windows {
        depot.report_window(w, Timestamp::now()).unwrap();
    }
    let depot_filed = depot_windows.len();
    tokio::spawn(depot.clone().run(stop.clone()));
    wait_filed(&h, filed + depot_filed + 1).await;
    let second = wait_edition(&h, 2).await;
    let log: Value = serde_json::from_str(&second.files["log.json"]).unwrap();
    check_numbers(&log, &expected(&all_traffic, Some(late_at)));
    assert_eq!(
        log["last_updated"], "2026-11-03 10:00",
        "the page says when its data last changed"
    );
    assert!(second.files["index.html"].contains("Last updated 2026-11-03 10:00"));
    let m = log["readers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["reader"] == "lpr-m")
        .unwrap();
    assert_eq!(m["kind"], "mobile");
    assert!(
        m["locations"].as_array().unwrap().is_empty(),
        "a mobile reader has no fixed place"
    );

    // Nothing secret in any public output: plates, case numbers, the confidential
    // reader's name and place.
    let (_, _, html) = http::http_get(http, "/public/2026-10/");
    let (_, _, csv) = http::http_get(http, "/public/2026-10/log.csv");
    let (_, _, index) = http::http_get(http, "/public/");
    let outputs: Vec<(&str, &str)> = vec![
        ("index.html", &html),
        ("log.csv", &csv),
        ("log.json", &second.files["log.json"]),
        ("portal index", &index),
    ];
    for (name, text) in &outputs {
        for secret in PLATES
            .iter()
            .chain(CASES.iter())
            .chain(["lpr-hidden", "42.49123", "-90.67789", "SECRET"].iter())
        {
            assert!(!text.contains(secret), "{secret} appears in {name}");
        }
        assert!(
            !text.contains("<img") && !text.contains("<script"),
            "{name}"
        );
    }
    assert!(html.contains("<svg") && !html.contains("<script"));
    assert!(
        !html.contains("https://") && !html.contains("src="),
        "no external resources"
    );

    // A real browser renders the month; its visible text carries the figures.
    let chromium = std::path::Path::new("/usr/bin/chromium");
    assert!(
        chromium.is_file(),
        "install chromium: apt-get install -y chromium"
    );
    let png = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("publog-2026-10.png");
    let url = format!("http://{http}/public/2026-10/");
    let profile = dir.path().join("chromium-profile");
    let run = |extra: Vec<String>| {
        let mut cmd = std::process::Command::new(chromium);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=390,2400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(&url);
        cmd
    };
    let mut dump = run(vec!["--dump-dom".into()]);
    let mut shot = run(vec![format!("--screenshot={}", png.display())]);
    let (dom, shot_out) =
        tokio::task::spawn_blocking(move || (dump.output().unwrap(), shot.output().unwrap()))
            .await
            .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
    let visible = strip_tags(&dom);
    let total = log["totals"]["plates_read"].as_u64().unwrap().to_string();
    for want in [
        "Testville: license plate reader log, October 2026",
        "Last updated 2026-11-03 10:00",
        "Month totals",
        total.as_str(),
        "lpr-a",
        "confidential reader 1",
        "Vehicle theft",
        "NCIC",
        "Fixed reader locations",
    ] {
        assert!(
            visible.contains(want),
            "{want:?} not visible in the rendered page: {visible:.2000}"
        );
    }
    let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10 * 1024,
        "screenshot {} is {size} bytes: {}",
        png.display(),
        String::from_utf8_lossy(&shot_out.stderr)
    );
    assert_eq!(&std::fs::read(&png).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
    eprintln!("screenshot: {}", png.display());
    stop.cancel();
}

/// The text of an HTML document, tags removed (script and style contents too).
fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        out.push(' ');
        let after = &rest[i..];
        let skip_to = if after.starts_with("<style") {
            after.find("</style>").map(|j| j + 8)
        } else if after.starts_with("<title") {
            after.find("</title>").map(|j| j + 8)
        } else {
            after.find('>').map(|j| j + 1)
        };
        match skip_to {
            Some(j) => rest = &after[j..],
            None => return out,
        }
    }
    out.push_str(rest);
    out.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}
