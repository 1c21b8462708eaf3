//! Controller API benchmark over loopback gRPC: camera create and get throughput
//! and p50/p99 latency, with the embedded store and with etcd, beside raw etcd
//! put/get through etcd-client measured in the same run.
//!
//! `cargo bench -p camplane-controller --bench api` (needs `etcd` on PATH).
//! Env: BENCH_N (operations per phase, default 4000), BENCH_CONC (in flight, default 32).

use camplane_config::controller::{
    ControllerConfig, EmbeddedStoreConfig, EtcdStoreConfig, StoreConfig,
};
use camplane_proto::v1 as pb;
use camplane_testkit::controller::{self as ctl, req};
use camplane_testkit::servers::EtcdServer;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

struct Stats {
    per_sec: f64,
    p50: Duration,
    p99: Duration,
}

fn stats(mut lat: Vec<Duration>, wall: Duration) -> Stats {
    lat.sort();
    let n = lat.len();
    Stats {
        per_sec: n as f64 / wall.as_secs_f64(),
        p50: lat[n / 2],
        p99: lat[(n * 99 / 100).min(n - 1)],
    }
}

async fn run_phase<F, Fut>(n: usize, conc: usize, f: F) -> Stats
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let f = Arc::new(f);
    let sem = Arc::new(Semaphore::new(conc));
    let start = Instant::now();
    let mut hs = Vec::with_capacity(n);
    for i in 0..n {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let f = f.clone();
        hs.push(tokio::spawn(async move {
            let t = Instant::now();
            f(i).await;
            drop(permit);
            t.elapsed()
        }));
    }
    let mut lat = Vec::with_capacity(n);
    for h in hs {
        lat.push(h.await.unwrap());
    }
    stats(lat, start.elapsed())
}

async fn bench_controller(
    label: &str,
    mut cfg: ControllerConfig,
    n: usize,
    conc: usize,
) -> (Stats, Stats) {
    cfg.listen = "127.0.0.1:0".into();
    std::env::set_var("CAMPLANE_BENCH_PW", ctl::ADMIN_PW);
    cfg.auth.initial_admin_password_env = "CAMPLANE_BENCH_PW".into();
    // Plaintext, like the raw etcd baseline beside it.
    cfg.tls.enabled = false;
    let h = ctl::start(cfg, None).await;
    let (ch, token) = (h.channel.clone(), h.admin.clone());
    let setup = r#"[{"kind":"Department","name":"police","json":{"display_name":"P"}},{"kind":"Site","name":"hq","json":{"lat":42.5,"lon":-90.6}}]"#;
    let setup: Vec<serde_json::Value> = serde_json::from_str(setup).unwrap();
    let objects = setup
        .iter()
        .map(|o| pb::Object {
            kind: o["kind"].as_str().unwrap().into(),
            name: o["name"].as_str().unwrap().into(),
            json: serde_json::to_vec(&o["json"]).unwrap(),
            revision: 0,
        })
        .collect();
    pb::objects_client::ObjectsClient::new(ch.clone())
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
    let cam = serde_json::json!({"site":"hq","department":"police","kind":"fixed","purpose":"property_protection","location":{"lat":42.5,"lon":-90.6},"streams":{"main":"rtsp://127.0.0.1/x"}});
    let cam = Arc::new(serde_json::to_vec(&cam).unwrap());
    let (c2, t2) = (ch.clone(), token.clone());
    let create = run_phase(n, conc, move |i| {
        let (ch, token, cam) = (c2.clone(), t2.clone(), cam.clone());
        async move {
            let o = pb::Object {
                kind: "Camera".into(),
                name: format!("cam-{i:06}"),
                json: cam.to_vec(),
                revision: 0,
            };
            pb::objects_client::ObjectsClient::new(ch)
                .apply(req(
                    &token,
                    pb::ApplyRequest {
                        objects: vec![o],
                        source: "bench".into(),
                        dry_run: false,
                    },
                ))
                .await
                .unwrap();
        }
    })
    .await;
    let (c3, t3) = (ch.clone(), token.clone());
    let get = run_phase(n * 2, conc, move |i| {
        let (ch, token) = (c3.clone(), t3.clone());
        async move {
            let r = pb::objects_client::ObjectsClient::new(ch)
                .get(req(
                    &token,
                    pb::GetRequest {
                        kind: "Camera".into(),
                        name: format!("cam-{:06}", i % n),
                        ..Default::default()
                    },
                ))
                .await
                .unwrap();
            assert_eq!(r.get_ref().objects.len(), 1);
        }
    })
    .await;
    eprintln!("{label}: done");
    h.cancel.cancel();
    let _ = h.running.task.await;
    (create, get)
}

async fn bench_raw_etcd(endpoint: &str, n: usize, conc: usize) -> (Stats, Stats) {
    let client = etcd_client::Client::connect([endpoint], None)
        .await
        .unwrap();
    let value = Arc::new(vec![b'x'; 400]);
    let c = client.clone();
    let v = value.clone();
    let put = run_phase(n, conc, move |i| {
        let mut kv = c.kv_client();
        let v = v.clone();
        async move {
            kv.put(format!("/raw/cam-{i:06}"), v.to_vec(), None)
                .await
                .unwrap();
        }
    })
    .await;
    let c = client.clone();
    let get = run_phase(n * 2, conc, move |i| {
        let mut kv = c.kv_client();
        async move {
            let r = kv
                .get(format!("/raw/cam-{:06}", i % n), None)
                .await
                .unwrap();
            assert_eq!(r.kvs().len(), 1);
        }
    })
    .await;
    (put, get)
}

fn row(name: &str, s: &Stats) {
    println!(
        "| {name:<44} | {:>10.0} | {:>8.2} | {:>8.2} |",
        s.per_sec,
        s.p50.as_secs_f64() * 1e3,
        s.p99.as_secs_f64() * 1e3
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4000);
    let conc: usize = std::env::var("BENCH_CONC")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(32);
    let base = ControllerConfig::parse(
        "bench.yaml",
        "city:\n  name: Bench\n  time_zone: America/Chicago\nstore:\n  embedded:\n    path: /x\n",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut emb = base.clone();
    emb.store = StoreConfig {
        embedded: Some(EmbeddedStoreConfig {
            path: dir.path().join("store"),
        }),
        etcd: None,
    };
    let (ec, eg) = bench_controller("embedded", emb, n, conc).await;

    let etcd = EtcdServer::start();
    let (rp, rg) = bench_raw_etcd(&etcd.endpoint(), n, conc).await;
    let mut et = base.clone();
    et.store = StoreConfig {
        embedded: None,
        etcd: Some(EtcdStoreConfig {
            endpoints: vec![etcd.endpoint()],
            prefix: "/bench".into(),
            lease_seconds: 10,
        }),
    };
    let (xc, xg) = bench_controller("etcd", et, n, conc).await;

    println!(
        "\ncontroller API over loopback gRPC, {n} creates and {} gets, {conc} in flight",
        2 * n
    );
    println!(
        "| {:<44} | {:>10} | {:>8} | {:>8} |",
        "operation", "ops/s", "p50 ms", "p99 ms"
    );
    println!(
        "|{}|{}|{}|{}|",
        "-".repeat(46),
        "-".repeat(12),
        "-".repeat(10),
        "-".repeat(10)
    );
    row("controller+embedded: camera create (apply)", &ec);
    row("controller+embedded: camera get", &eg);
    row("raw etcd-client: put (baseline)", &rp);
    row("raw etcd-client: get (baseline)", &rg);
    row("controller+etcd: camera create (apply)", &xc);
    row("controller+etcd: camera get", &xg);
    println!();
    println!(
        "targets: embedded >= 5000 gets/s: {:.0} ({}); >= 1000 creates/s: {:.0} ({})",
        eg.per_sec,
        if eg.per_sec >= 5000.0 {
            "met"
        } else {
            "MISSED"
        },
        ec.per_sec,
        if ec.per_sec >= 1000.0 {
            "met"
        } else {
            "MISSED"
        }
    );
    let met = |ok: bool| if ok { "met" } else { "MISSED" };
    println!(
        "controller get vs raw etcd-client get, same run (>= 3x wanted): embedded {:.0}/s = {:.2}x ({}), etcd {:.0}/s = {:.2}x ({}), raw {:.0}/s",
        eg.per_sec,
        eg.per_sec / rg.per_sec,
        met(eg.per_sec >= 3.0 * rg.per_sec),
        xg.per_sec,
        xg.per_sec / rg.per_sec,
        met(xg.per_sec >= 3.0 * rg.per_sec),
        rg.per_sec
    );
    println!(
        "controller get p99 (<= 5 ms wanted): embedded {:.2} ms ({}), etcd {:.2} ms ({}); raw etcd-client get p99 {:.2} ms",
        eg.p99.as_secs_f64() * 1e3,
        met(eg.p99 <= Duration::from_millis(5)),
        xg.p99.as_secs_f64() * 1e3,
        met(xg.p99 <= Duration::from_millis(5)),
        rg.p99.as_secs_f64() * 1e3
    );
    println!("controller+etcd vs raw etcd (p50 latency ratio, <= 2.0 wanted): create/put {:.2}, get/get {:.2}",
        xc.p50.as_secs_f64() / rp.p50.as_secs_f64(), xg.p50.as_secs_f64() / rg.p50.as_secs_f64());
    println!("controller+etcd vs raw etcd (throughput ratio raw/controller): create/put {:.2}, get/get {:.2}",
        rp.per_sec / xc.per_sec, rg.per_sec / xg.per_sec);
}
