//! Public log generation for a busy month: 30 readers, 3,000,000 plate reads in
//! total, reported as hourly active windows (16 hours a day, 31 days: 14,880
//! windows with their per-period counts). Generating the month (read the filed
//! windows, merge periods, count per day, render HTML with its chart, CSV and
//! JSON) is measured against a plain read of the same per-period records
//! (list the month's keys and parse each) in the same run. Writing the data is
//! not timed.
//!
//! `cargo bench -p camplane-controller --bench publog`
//! Env: BENCH_RUNS (timed runs per phase, default 7).

use camplane_config::controller::ControllerConfig;
use camplane_config::model::{Kind, Role};
use camplane_controller::auth::Actor;
use camplane_controller::clock::ManualClock;
use camplane_controller::publog::{self, FiledWindow, Month};
use camplane_controller::store::Op;
use jiff::SignedDuration;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

// The controller binary's allocator, so the figures are the product's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const READERS: usize = 30;
const TOTAL_READS: u64 = 3_000_000;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ControllerConfig::parse(
        "bench.yaml",
        "city:\n  name: Dubuque\n  time_zone: America/Chicago\nlisten: 127.0.0.1:0\nstore:\n  embedded:\n    path: /x\ntls:\n  enabled: false\nauth:\n  initial_admin_password_env: CAMPLANE_BENCH_NO_VAR\n",
    )
    .unwrap();
    cfg.store.embedded.as_mut().unwrap().path = dir.path().join("store");
    let clock = ManualClock::new("2026-09-01T12:00:00Z".parse().unwrap());
    let cancel = CancellationToken::new();
    let running =
        camplane_controller::server::start_with_clock(cfg, Arc::new(clock.clone()), cancel.clone())
            .await
            .expect("controller");
    let ctl = running.controller.clone();
    // Information Services registers the readers; a tenth are marked confidential,
    // which is the chief's (both roles here, so one apply does it).
    let sys = Actor {
        username: "bench".into(),
        roles: vec![Role::Admin, Role::Chief],
        department: "police".into(),
    };
    let mut objs = vec![
        (
            Kind::Department,
            "police".to_string(),
            br#"{"display_name":"Police"}"#.to_vec(),
        ),
        (
            Kind::Site,
            "hq".to_string(),
            br#"{"address":"50 W 13th St","lat":42.5,"lon":-90.66}"#.to_vec(),
        ),
    ];
    for r in 0..READERS {
        let spec = serde_json::json!({"site":"hq","department":"police","kind":"fixed","purpose":"alpr","alpr":true,
            "confidential": r % 10 == 9,
            "confidential_reason": (r % 10 == 9).then_some("task force site"),
            "confidential_basis": (r % 10 == 9).then_some("iowa-code-22.7"),
            "location":{"lat":42.49 + r as f64 * 0.001,"lon":-90.66},"streams":{"main":format!("rtsp://127.0.0.1/lpr-{r}")}});
        objs.push((
            Kind::Camera,
            format!("lpr-{r:02}"),
            serde_json::to_vec(&spec).unwrap(),
        ));
    }
    ctl.apply(&sys, objs, "bench").await.expect("registry");

    // The month's windows: every reader 06:00-22:00 local each day, cut hourly.
    let tz = ctl.time_zone();
    let month = Month::parse("2026-10").unwrap();
    let m0 = month.start(&tz);
    let per_window = TOTAL_READS / (READERS as u64 * 31 * 16);
    let mut extra = TOTAL_READS - per_window * READERS as u64 * 31 * 16;
    let t0 = Instant::now();
    let mut ops = Vec::new();
    let mut windows = 0usize;
    let mut reads = 0u64;
    for r in 0..READERS {
        for d in 0..31 {
            for h in 6..22 {
                let start = m0 + SignedDuration::from_hours(d * 24 + h);
                let end = start + SignedDuration::from_secs(3599);
                let mut plates = per_window;
                if extra > 0 {
                    plates += 1;
                    extra -= 1;
                }
                reads += plates;
                let w = serde_json::json!({"camera": format!("lpr-{r:02}"), "start": start, "end": end,
                    "plates_read": plates, "hits": {"stolen_vehicle": plates / 150, "warrant": plates / 400},
                    "continues": h < 21});
                let key = format!("w-{r}-{}", start.as_second());
                // One month marker at the end, not one per window (a key once per transaction).
                ops.extend(
                    publog::file_window_ops(
                        "gw",
                        &key,
                        end + SignedDuration::from_secs(5),
                        &w,
                        &tz,
                    )
                    .unwrap()
                    .into_iter()
                    .filter(|op| !op.key().starts_with(publog::DIRTY)),
                );
                windows += 1;
                if ops.len() >= 512 {
                    ctl.store
                        .txn(vec![], std::mem::take(&mut ops))
                        .await
                        .unwrap();
                }
            }
        }
    }
    ops.push(Op::Put(format!("{}{month}", publog::DIRTY), Vec::new()));
    ctl.store.txn(vec![], ops).await.unwrap();
    println!(
        "data: {READERS} readers, {windows} windows, {reads} reads (written in {:.1} s, not timed)",
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(reads, TOTAL_READS);
    clock.set("2026-11-02T12:00:00Z".parse().unwrap());

    let prefix = format!("{}{month}/", publog::WINDOWS);
    let mut base = Vec::new();
    let mut gen = Vec::new();
    let mut bytes = 0;
    for _ in 0..runs {
        // Baseline: a plain read of the same per-period records.
        let t = Instant::now();
        let l = ctl.store.list(&prefix).await.unwrap();
        let parsed: Vec<FiledWindow> = l
            .kvs
            .iter()
            .map(|kv| serde_json::from_slice(&kv.value).unwrap())
            .collect();
        base.push(t.elapsed());
        assert_eq!(parsed.len(), windows);

        // The month generated: the same read, then periods, days, totals and three files.
        let t = Instant::now();
        let log = publog::build(&ctl.month_input(month).await.unwrap());
        let files = publog::render(&log);
        gen.push(t.elapsed());
        assert_eq!(log.totals.plates_read, TOTAL_READS);
        bytes = files.iter().map(|(_, b)| b.len()).sum::<usize>();
    }
    let (b, g) = (median(base), median(gen));
    println!("publog generate ({runs} runs, medians)");
    println!(
        "  plain read of the per-period records (baseline): {:>8.1} ms",
        b.as_secs_f64() * 1e3
    );
    println!(
        "  generate the month (html + csv + json, {} kB):  {:>8.1} ms  ({:.2}x the plain read; target < 2000 ms)",
        bytes / 1024,
        g.as_secs_f64() * 1e3,
        g.as_secs_f64() / b.as_secs_f64()
    );
    cancel.cancel();
}
