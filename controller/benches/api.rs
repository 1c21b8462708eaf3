//! Controller API benchmark over loopback gRPC: camera create and get throughput
//! and p50/p99 latency, with the embedded store and with etcd, beside raw etcd
//! put/get through etcd-client measured in the same run.
//!
//! `cargo bench -p camplane-controller --bench api` (needs `etcd` on PATH).
//! Env: BENCH_N (operations per phase, default 4000), BENCH_CONC (in flight, default 32),
//! BENCH_ROUNDS (get rounds, default 5: raw etcd, embedded, etcd in each).

use camplane_config::controller::{
    ControllerConfig, EmbeddedStoreConfig, EtcdStoreConfig, StoreConfig,
};
use camplane_proto::v1 as pb;
use camplane_testkit::controller::{self as ctl, req};
use camplane_testkit::servers::EtcdServer;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

// The controller binary's allocator, so the figures are the product's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

/// A controller started for the bench, with its cameras created.
struct Started {
    h: ctl::Harness,
    create: Stats,
}

async fn start_controller(mut cfg: ControllerConfig, n: usize, conc: usize) -> Started {
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
    let create = run_phase(n, conc, move |i| {
        let (ch, token, cam) = (ch.clone(), token.clone(), cam.clone());
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
    Started { h, create }
}

/// `2n` camera gets through the controller's API.
async fn controller_gets(h: &ctl::Harness, n: usize, conc: usize) -> Stats {
    let (ch, token) = (h.channel.clone(), h.admin.clone());
    run_phase(n * 2, conc, move |i| {
        let (ch, token) = (ch.clone(), token.clone());
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
    .await
}

async fn raw_puts(client: &etcd_client::Client, n: usize, conc: usize) -> Stats {
    let value = Arc::new(vec![b'x'; 400]);
    let c = client.clone();
    run_phase(n, conc, move |i| {
        let mut kv = c.kv_client();
        let v = value.clone();
        async move {
            kv.put(format!("/raw/cam-{i:06}"), v.to_vec(), None)
                .await
                .unwrap();
        }
    })
    .await
}

/// `2n` gets through etcd-client straight to etcd: the baseline.
async fn raw_gets(client: &etcd_client::Client, n: usize, conc: usize) -> Stats {
    let c = client.clone();
    run_phase(n * 2, conc, move |i| {
        let mut kv = c.kv_client();
        async move {
            let r = kv
                .get(format!("/raw/cam-{:06}", i % n), None)
                .await
                .unwrap();
            assert_eq!(r.kvs().len(), 1);
        }
    })
    .await
}

/// The median of the rounds' figures.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
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
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(d)
    };
    let n = env("BENCH_N", 4000);
    let conc = env("BENCH_CONC", 32);
    // The get phases run in rounds, baseline and controllers one after the other in
    // each, so that a shared machine's load falls on all three alike; the ratios are
    // taken within a round and their median reported.
    let rounds = env("BENCH_ROUNDS", 5).max(1);
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
    let etcd = EtcdServer::start();
    let client = etcd_client::Client::connect([etcd.endpoint()], None)
        .await
        .unwrap();
    let rp = raw_puts(&client, n, conc).await;
    let mut et = base.clone();
    et.store = StoreConfig {
        embedded: None,
        etcd: Some(EtcdStoreConfig {
            endpoints: vec![etcd.endpoint()],
            prefix: "/bench".into(),
            lease_seconds: 10,
        }),
    };
    // One controller at a time, its get rounds each beside a baseline round.
    let rounds_of = |cfg: ControllerConfig| {
        let client = client.clone();
        async move {
            let c = start_controller(cfg, n, conc).await;
            let (mut raw, mut ctl) = (Vec::new(), Vec::new());
            for _ in 0..rounds {
                raw.push(raw_gets(&client, n, conc).await);
                ctl.push(controller_gets(&c.h, n, conc).await);
            }
            c.h.cancel.cancel();
            let _ = c.h.running.task.await;
            (c.create, ctl, raw)
        }
    };
    let (ec, egs, ergs) = rounds_of(emb).await;
    let (xc, xgs, xrgs) = rounds_of(et).await;
    // The round whose throughput is the median stands for a phase in the table.
    let mid = |v: &[Stats]| -> Stats {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&a, &b| v[a].per_sec.total_cmp(&v[b].per_sec));
        let s = &v[idx[idx.len() / 2]];
        Stats {
            per_sec: s.per_sec,
            p50: s.p50,
            p99: s.p99,
        }
    };
    let rgs: Vec<Stats> = ergs.into_iter().chain(xrgs).collect();
    let (rg, eg, xg) = (mid(&rgs), mid(&egs), mid(&xgs));
    let (er, xr) = rgs.split_at(egs.len());
    let ratio = |c: &[Stats], r: &[Stats]| {
        median(
            c.iter()
                .zip(r)
                .map(|(c, r)| c.per_sec / r.per_sec)
                .collect(),
        )
    };
    let (e_ratio, x_ratio) = (ratio(&egs, er), ratio(&xgs, xr));
    let p99_ms = |v: &[Stats]| median(v.iter().map(|s| s.p99.as_secs_f64() * 1e3).collect());
    let (e_p99, x_p99, r_p99) = (p99_ms(&egs), p99_ms(&xgs), p99_ms(&rgs));

    println!(
        "\ncontroller API over loopback gRPC, {n} creates, then {rounds} rounds of {} gets each (one controller at a time, a baseline round before each of its rounds), {conc} in flight",
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
    row("controller+embedded: camera get (median round)", &eg);
    row("raw etcd-client: put (baseline)", &rp);
    row("raw etcd-client: get (baseline, median round)", &rg);
    row("controller+etcd: camera create (apply)", &xc);
    row("controller+etcd: camera get (median round)", &xg);
    println!();
    let met = |ok: bool| if ok { "met" } else { "MISSED" };
    println!(
        "targets: embedded >= 5000 gets/s: {:.0} ({}); >= 1000 creates/s: {:.0} ({})",
        eg.per_sec,
        met(eg.per_sec >= 5000.0),
        ec.per_sec,
        met(ec.per_sec >= 1000.0),
    );
    let each = |c: &[Stats], r: &[Stats]| {
        c.iter()
            .zip(r)
            .map(|(c, r)| format!("{:.2}", c.per_sec / r.per_sec))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!(
        "controller get vs raw etcd-client get, median of {rounds} rounds' ratios (>= 3x wanted): embedded {:.2}x ({}; rounds {}), etcd {:.2}x ({}; rounds {})",
        e_ratio,
        met(e_ratio >= 3.0),
        each(&egs, er),
        x_ratio,
        met(x_ratio >= 3.0),
        each(&xgs, xr),
    );
    println!(
        "controller get p99, median of rounds (<= 5 ms wanted): embedded {:.2} ms ({}), etcd {:.2} ms ({}); raw etcd-client get p99 {:.2} ms",
        e_p99,
        met(e_p99 <= 5.0),
        x_p99,
        met(x_p99 <= 5.0),
        r_p99
    );
    println!("controller+etcd vs raw etcd (p50 latency ratio, <= 2.0 wanted): create/put {:.2}, get/get {:.2}",
        xc.p50.as_secs_f64() / rp.p50.as_secs_f64(), xg.p50.as_secs_f64() / rg.p50.as_secs_f64());
    println!("controller+etcd vs raw etcd (throughput ratio raw/controller): create/put {:.2}, get/get {:.2}",
        rp.per_sec / xc.per_sec, rg.per_sec / xg.per_sec);
}
