//! The console's cameras page with 10,000 cameras: p50/p99 of a whole HTTPS
//! request (TLS handshake included, one connection per request) for the first
//! page and a filtered page, beside the same listing over gRPC in the same run
//! (`Objects.Get` of kind Camera: its first page, and every page as
//! `camplane get cameras` follows them). Then the map page with every camera
//! drawn over a small synthetic streets layer: its first answer (every verdict
//! checked) and the next ones (verdicts kept per camera revision).
//!
//! `cargo bench -p camplane-controller --bench console`.
//! Env: BENCH_CAMERAS (default 10000), BENCH_N (requests per phase, default 50).

use camplane_proto::v1 as pb;
use camplane_testkit::console::ConsoleClient;
use camplane_testkit::controller::{self as ctl, req};
use std::time::{Duration, Instant};

// The controller binary's allocator, so the figures are the product's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn row(name: &str, mut lat: Vec<Duration>) {
    lat.sort();
    let n = lat.len();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "| {name:<52} | {:>8.2} | {:>8.2} |",
        ms(lat[n / 2]),
        ms(lat[(n * 99 / 100).min(n - 1)])
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let cameras = env("BENCH_CAMERAS", 10_000);
    let n = env("BENCH_N", 50);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ctl::config_embedded(dir.path());
    cfg.console_listen = Some("127.0.0.1:0".into());
    let h = ctl::start(cfg, None).await;
    ctl::apply(
        &h,
        &h.admin,
        "kind: Department\nname: police\nspec: {display_name: Police}\n---\nkind: Department\nname: parks\nspec: {display_name: Parks}\n---\nkind: Site\nname: hq\nspec: {lat: 42.5, lon: -90.6}\n",
    )
    .await
    .unwrap();
    // The cameras, 500 to an apply, four applies in flight.
    let t = Instant::now();
    let batches: Vec<Vec<pb::Object>> = (0..cameras)
        .collect::<Vec<_>>()
        .chunks(500)
        .map(|c| {
            c.iter()
                .map(|i| {
                    let dept = if i % 2 == 0 { "police" } else { "parks" };
                    // A 100 x 100 grid about 2 km across, for the map.
                    let (lat, lon) = (
                        42.49 + (i / 100) as f64 * 2e-4,
                        -90.61 + (i % 100) as f64 * 2.7e-4,
                    );
                    let cam = serde_json::json!({"site": "hq", "department": dept, "kind": "fixed",
                        "purpose": "property_protection", "location": {"lat": lat, "lon": lon},
                        "streams": {"main": "rtsp://127.0.0.1/x"}});
                    pb::Object {
                        kind: "Camera".into(),
                        name: format!("cam-{i:06}"),
                        json: serde_json::to_vec(&cam).unwrap(),
                        revision: 0,
                    }
                })
                .collect()
        })
        .collect();
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(4));
    let mut tasks = Vec::new();
    for objects in batches {
        let (ch, token, sem) = (h.channel.clone(), h.admin.clone(), sem.clone());
        tasks.push(tokio::spawn(async move {
            let _p = sem.acquire().await.unwrap();
            pb::objects_client::ObjectsClient::new(ch)
                .apply(req(
                    &token,
                    pb::ApplyRequest {
                        objects,
                        source: "bench".into(),
                        dry_run: false,
                    },
                ))
                .await
                .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    eprintln!(
        "{cameras} cameras applied in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let mut c = ConsoleClient::new(h.running.console_addr.unwrap(), &h.running.ca_pem);
    let pw = h
        .running
        .initial_password
        .clone()
        .unwrap_or(ctl::ADMIN_PW.into());
    assert_eq!(c.login("admin", &pw).await.status, 303);
    let first = c.get("/console/cameras").await;
    assert!(
        first.body.contains(&format!("{cameras} cameras match")),
        "all listed"
    );
    assert!(first.body.contains("Next 50 cameras"));

    let mut objects = pb::objects_client::ObjectsClient::new(h.channel.clone())
        .max_decoding_message_size(64 << 20);
    // Each phase prints its row as it ends (a slow machine still shows the first ones).
    println!("\n{cameras} cameras, {n} requests each, one after another\n");
    println!("| {:<52} | {:>8} | {:>8} |", "request", "p50 ms", "p99 ms");
    println!("|{:-<54}|{:->10}|{:->10}|", "", "", "");
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let a = c.get("/console/cameras").await;
        lat.push(t.elapsed());
        assert_eq!(a.status, 200);
    }
    row("console GET /console/cameras (HTTPS, new TLS each)", lat);
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        let a = c
            .get(&format!(
                "/console/cameras?department=parks&state=proposed&after=cam-{:06}",
                (i * 37) % cameras
            ))
            .await;
        lat.push(t.elapsed());
        assert_eq!(a.status, 200);
    }
    row("console GET filtered page (department, state, after)", lat);
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = objects
            .get(req(
                &h.admin,
                pb::GetRequest {
                    kind: "Camera".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        lat.push(t.elapsed());
        assert!(!r.objects.is_empty());
    }
    row("gRPC Objects.Get Camera, first page", lat);
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let mut after = String::new();
        let mut got = 0;
        loop {
            let r = objects
                .get(req(
                    &h.admin,
                    pb::GetRequest {
                        kind: "Camera".into(),
                        after: after.clone(),
                        ..Default::default()
                    },
                ))
                .await
                .unwrap()
                .into_inner();
            got += r.objects.len();
            if r.next_after.is_empty() {
                break;
            }
            after = r.next_after;
        }
        lat.push(t.elapsed());
        assert_eq!(got, cameras);
    }
    row("gRPC Objects.Get Camera, every page (get cameras)", lat);

    // The map: a street every 200 m each way across the grid (synthetic).
    let mut features = Vec::new();
    for k in 0..11 {
        let (la, lo) = (42.49 + k as f64 * 0.0018, -90.61 + k as f64 * 0.00245);
        let highway = if k % 5 == 0 {
            "tertiary"
        } else {
            "residential"
        };
        for line in [[[-90.61, la], [-90.583, la]], [[lo, 42.49], [lo, 42.51]]] {
            features.push(
                serde_json::json!({"type": "Feature", "properties": {"highway": highway},
                "geometry": {"type": "LineString", "coordinates": line}}),
            );
        }
    }
    let streets = serde_json::json!({"type": "FeatureCollection", "features": features});
    pb::placement_client::PlacementClient::new(h.channel.clone())
        .load_layer(req(
            &h.admin,
            tokio_stream::iter(pb::LayerUpload::messages(
                "streets",
                false,
                vec![(
                    "streets.geojson".into(),
                    serde_json::to_vec(&streets).unwrap(),
                )],
            )),
        ))
        .await
        .unwrap();
    let t = Instant::now();
    let first = c.get("/console/map").await;
    row(
        "console GET /console/map, first (every verdict)",
        vec![t.elapsed()],
    );
    assert!(first.body.contains(&format!("{cameras} cameras drawn")));
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let a = c.get("/console/map").await;
        lat.push(t.elapsed());
        assert_eq!(a.status, 200);
    }
    row("console GET /console/map (verdicts kept)", lat);
    h.cancel.cancel();
}
