//! Exact-plate search across the sites, with the agents spread over several
//! controllers. SEARCH_BENCH_CONTROLLERS controllers (default 3: on a
//! three-member etcd the bench starts; 1: the embedded store), TLS, and
//! SEARCH_BENCH_AGENTS in-process agents (default 20; real `Session`s over
//! mutual TLS, real read stores), agent i connected to controller i mod N, each
//! holding SEARCH_BENCH_READS plate reads (default 1,000,000) spread over 30
//! days: a fixed set of 2,000 repeated plates plus a target plate read once a
//! day. Generating them (the read store's batch append) is not timed.
//!
//! Timed: SEARCH_BENCH_RUNS (default 50) case-numbered 30-day searches of the
//! target plate through controller 0's gRPC API (check, fan-out: its own
//! agents over their control streams, the others' forwarded to the
//! controllers holding them (Peer.Ask), merge, audit entry), p50/p99. Beside
//! them, in the same run: the same search limited to the sites controller 0
//! holds itself (no forwarding), and one agent's local read index
//! (`ReadStore::find`). Target (issue 17): p50 ≤ 100 ms across 20 sites ×
//! 1,000,000 reads over 3 controllers.
//!
//! `cargo bench -p camplane-controller --bench search`

use camplane_agent::alpr::store::NewRead;
use camplane_agent::control::Session;
use camplane_config::controller::ControllerConfig;
use camplane_proto::v1 as pb;
use camplane_testkit::agent;
use camplane_testkit::controller::{self as ctl, req};
use camplane_testkit::servers;
use jiff::{SignedDuration, Timestamp};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

// The controller binary's allocator, so the figures are the product's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PLATES: usize = 2_000;
const TARGET: &str = "TGT4711";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn pct(v: &[Duration], p: f64) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let per_agent = env("SEARCH_BENCH_READS", 1_000_000);
    let runs = env("SEARCH_BENCH_RUNS", 50);
    let agents_n = env("SEARCH_BENCH_AGENTS", 20);
    let controllers = env("SEARCH_BENCH_CONTROLLERS", 3).max(1);
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    // Every controller reads the same first admin password.
    std::env::set_var("CAMPLANE_BENCH_ADMIN_PW", ctl::ADMIN_PW);
    let base = || {
        let mut cfg = ControllerConfig::parse(
            "bench.yaml",
            "city:\n  name: Dubuque\n  time_zone: America/Chicago\nlisten: 127.0.0.1:0\nstore:\n  embedded:\n    path: /x\nauth:\n  initial_admin_password_env: CAMPLANE_BENCH_ADMIN_PW\n",
        )
        .unwrap();
        cfg.tls.ca_cert_file = Some(ca.clone());
        ctl::with_governance(&mut cfg);
        cfg
    };
    let etcd = (controllers > 1).then(|| servers::EtcdCluster::start(3));
    let mut hs = Vec::new();
    for i in 0..controllers {
        let mut cfg = base();
        match &etcd {
            Some(e) => {
                let mut c = ctl::config_etcd(&e.endpoints()[i % 3], "/search-bench");
                c.store.etcd.as_mut().unwrap().endpoints = e.endpoints();
                cfg.store = c.store;
                cfg.listen = format!("127.0.0.1:{}", servers::free_port());
            }
            None => cfg.store.embedded.as_mut().unwrap().path = dir.path().join("store"),
        }
        hs.push(ctl::start(cfg, None).await);
    }
    let h = &hs[0];
    let (ch, admin) = (h.channel.clone(), h.admin.clone());
    let mut objects = vec![pb::Object {
        kind: "Department".into(),
        name: "police".into(),
        json: br#"{"display_name":"Police"}"#.to_vec(),
        revision: 0,
    }];
    for i in 0..agents_n {
        objects.push(pb::Object {
            kind: "Site".into(),
            name: format!("site-{i}"),
            json: serde_json::to_vec(
                &serde_json::json!({"address": format!("{i} Main St"), "lat": 42.5, "lon": -90.66}),
            )
            .unwrap(),
            revision: 0,
        });
    }
    pb::objects_client::ObjectsClient::new(ch.clone())
        .apply(req(
            &admin,
            pb::ApplyRequest {
                objects,
                source: "bench".into(),
                dry_run: false,
            },
        ))
        .await
        .unwrap();
    let op_spec = serde_json::json!({"name": "op", "spec": {"roles": ["alpr_operator"], "department": "police",
        "trained_at": "2026-01-05T00:00:00Z", "certified_until": "2099-01-01T00:00:00Z"}});
    pb::users_client::UsersClient::new(ch.clone())
        .add(req(
            &admin,
            pb::AddUserRequest {
                json: serde_json::to_vec(&op_spec).unwrap(),
                password: "bench-operator-one-time".into(),
            },
        ))
        .await
        .unwrap();
    // The admin's password is one-time: the operator changes it first.
    let op = ctl::login(&ch, "op", "bench-operator-one-time")
        .await
        .unwrap();
    ctl::change_password(
        &ch,
        &op,
        "bench-operator-one-time",
        "bench-operator-password",
    )
    .await
    .unwrap();
    // The operator acknowledges the policy themselves.
    ctl::acknowledge_policy(&ch, &op, "bench-operator-password")
        .await
        .unwrap();

    // Agents and their reads (not timed).
    let now = Timestamp::now();
    let from = now - SignedDuration::from_hours(24 * 30);
    let span_ms = (now.as_millisecond() - from.as_millisecond() - 1) as u64;
    let t_gen = Instant::now();
    let stop = CancellationToken::new();
    let mut sups = Vec::new();
    for i in 0..agents_n {
        let site = format!("site-{i}");
        let token = agent::enroll_token(h, &site).await.token;
        // The agent's reader: reads of a camera not assigned to the agent that
        // answers are left out of a search.
        let cam = format!(
            "kind: Camera\nname: lpr-{i}\nspec:\n  site: {site}\n  department: police\n  kind: fixed\n  purpose: alpr\n  location: {{lat: 42.5, lon: -90.66}}\n  streams: {{main: \"rtsp://127.0.0.1:8554/lpr-{i}\"}}\n  agent: {site}-gw\n"
        );
        ctl::apply(h, &admin, &cam).await.unwrap();
        let adir = dir.path().join(&site);
        let port = hs[i % controllers].running.addr.port();
        let mut acfg = agent::config(port, &ca, &adir, &token);
        // Reports once a minute: the bench times searches, not reporting.
        acfg.report_interval_seconds = 60;
        let sup = agent::supervisor_with(&adir, Default::default());
        let reads = sup.reads();
        let camera = format!("lpr-{i}");
        let mut rng: u64 = 0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1);
        let mut next = || {
            // xorshift64*: deterministic, no dependency
            rng ^= rng >> 12;
            rng ^= rng << 25;
            rng ^= rng >> 27;
            rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        let mut done = 0;
        while done < per_agent {
            let n = (per_agent - done).min(200_000);
            let mut batch = Vec::with_capacity(n);
            for k in 0..n {
                let idx = done + k;
                // The target plate once a day, the rest from the repeated set.
                let (plate, ms) = if idx % (per_agent / 30).max(1) == 0 {
                    let day = (idx / (per_agent / 30).max(1)) as i64;
                    (
                        TARGET.to_string(),
                        from.as_millisecond() + day * 86_400_000 + 3_600_000,
                    )
                } else {
                    let r = next();
                    (
                        format!("P{:05}", r % PLATES as u64),
                        from.as_millisecond() + ((r >> 20) % span_ms) as i64,
                    )
                };
                let t = Timestamp::from_millisecond(ms.min(now.as_millisecond() - 1)).unwrap();
                batch.push(NewRead {
                    camera: camera.clone(),
                    plate,
                    confidence: 0.9,
                    time: t,
                    first: t,
                    last: t,
                    frames: 3,
                    bbox: [0, 0, 120, 40],
                    location: None,
                });
            }
            reads.append_batch(batch).unwrap();
            done += n;
        }
        let session = Session::new(acfg, sup.clone()).unwrap();
        tokio::spawn(session.run(stop.clone()));
        sups.push(sup);
    }
    let hub_ready = Instant::now();
    let connected = || {
        hs.iter()
            .map(|h| {
                h.running
                    .controller
                    .wing::<camplane_controller::alpr::search::Hub>()
                    .connected_count()
            })
            .sum::<usize>()
    };
    while connected() < agents_n {
        assert!(
            hub_ready.elapsed() < Duration::from_secs(60),
            "agents did not connect"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "generated {} reads on {agents_n} agents in {:.1?}",
        per_agent * agents_n,
        t_gen.elapsed()
    );

    // Timed: searches through the controller.
    let alpr = pb::alpr_client::AlprClient::new(ch.clone());
    // The sites controller 0 holds itself (agents 0, N, 2N, ...).
    let local_sites: Vec<String> = (0..agents_n)
        .step_by(controllers)
        .map(|i| format!("site-{i}"))
        .collect();
    let search = |sites: Vec<String>| {
        let mut alpr = alpr.clone();
        let op = op.clone();
        async move {
            alpr.search(req(
                &op,
                pb::SearchRequest {
                    plate: TARGET.into(),
                    case_number: "26-04711".into(),
                    purpose: "stolen_vehicle".into(),
                    from: from.to_string(),
                    to: now.to_string(),
                    sites,
                    timeout_ms: 10_000,
                    for_agency: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
        }
    };
    // Every agent's presence record is written (a forwarded query needs it).
    while h
        .running
        .controller
        .store
        .list("presence/")
        .await
        .unwrap()
        .kvs
        .len()
        < agents_n
    {
        assert!(
            hub_ready.elapsed() < Duration::from_secs(120),
            "presence records"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let warm = search(vec![]).await;
    let found: Vec<serde_json::Value> = serde_json::from_slice(&warm.reads_json).unwrap();
    assert_eq!(warm.answered.len(), agents_n, "{:?}", warm.unreachable);
    assert!(
        found.len() >= agents_n * 30,
        "every site's daily target read: {} found",
        found.len()
    );
    // Interleaved, so both see the same machine load.
    let mut times = Vec::with_capacity(runs);
    let mut local_times = Vec::with_capacity(runs);
    let mut local_found = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let r = search(vec![]).await;
        times.push(t.elapsed());
        assert_eq!(r.answered.len(), agents_n);
        let t = Instant::now();
        let r = search(local_sites.clone()).await;
        local_times.push(t.elapsed());
        local_found = serde_json::from_slice::<Vec<serde_json::Value>>(&r.reads_json)
            .unwrap()
            .len();
    }
    // Baseline: one agent's local read index, same plate and range.
    let local = sups[0].reads();
    let mut base = Vec::with_capacity(runs);
    let mut local_n = 0;
    for _ in 0..runs {
        let t = Instant::now();
        local_n = local.find(TARGET, from, now).len();
        base.push(t.elapsed());
    }
    println!(
        "search: {agents_n} agents x {per_agent} reads over 30 days on {controllers} controller(s), exact plate, {runs} searches"
    );
    println!(
        "  every site, through controller 0 (gRPC, TLS, fan-out, forwarding, audit): {} reads, p50 {:.2?}, p99 {:.2?}",
        found.len(),
        pct(&times, 0.5),
        pct(&times, 0.99)
    );
    println!(
        "  baseline, controller 0's own {} sites only (no forwarding):       {local_found} reads, p50 {:.2?}, p99 {:.2?}",
        local_sites.len(),
        pct(&local_times, 0.5),
        pct(&local_times, 0.99)
    );
    println!(
        "  baseline, one agent's ReadStore::find:              {local_n} reads, p50 {:.2?}, p99 {:.2?}",
        pct(&base, 0.5),
        pct(&base, 0.99)
    );
    println!(
        "  target p50 <= 100 ms: {}",
        if pct(&times, 0.5) <= Duration::from_millis(100) {
            "met"
        } else {
            "NOT met"
        }
    );
    stop.cancel();
    for h in &hs {
        h.cancel.cancel();
    }
}
