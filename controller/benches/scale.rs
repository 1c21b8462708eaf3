//! Many agents against one controller and against three: a load generator of
//! simulated agents (real enrolment, real gRPC over mutual TLS, one connection
//! and control stream each, many per process) against real controller processes.
//!
//! For each fleet size it prints:
//! - the time from a config change (a camera activated or suspended through the
//!   API) to its agent receiving the new config: p50 and p99 over many changes;
//! - the controller's resident memory per connected agent (RSS after the agents
//!   connected minus before, divided by the agents);
//! - the controller's CPU per 1,000 reports per second (reports sent by all the
//!   agents at a fixed total rate for a while; CPU from /proc).
//!
//! With three controllers on etcd it also prints the leader's failover time
//! (median of several kills).
//!
//! The config change times are printed beside a baseline from the same run: the
//! same controllers restarted with `CAMPLANE_BENCH_BROADCAST_WAKES` (every change
//! wakes every agent session, as before wakes were targeted), the same agents
//! reconnected, the same changes timed.
//!
//! `cargo bench -p camplane-controller --bench scale`
//! Env: SCALE_AGENTS (default "1000,5000,10000"), SCALE_CONTROLLERS (default "1,3"),
//! SCALE_CHANGES (config changes timed per run, default 60), SCALE_REPORTS_PER_SEC
//! (default 1000), SCALE_FAILOVERS (default 3), SCALE_BASELINE (0: skip the broadcast
//! baseline). Needs etcd on PATH for three.

use camplane_proto::v1 as pb;
use camplane_testkit::controller::{apply_on, login, req, tls_channel, user_on, Deciders};
use camplane_testkit::servers::{free_port, EtcdServer};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Semaphore};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

// The controller binary's allocator, so the figures are the product's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PW: &str = "scale-admin-password";
/// The first city manager's password (it confirms the chief's grant).
const CM_PW: &str = "scale-city-manager-password";
/// Agents that get a camera whose activation is timed.
const PROBES: usize = 40;

fn env_list(name: &str, default: &str) -> Vec<usize> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

struct Proc(Option<Child>);
impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Resident memory of a process, in bytes.
fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// CPU seconds (user + system) a process used so far.
fn cpu_secs(pid: u32) -> f64 {
    let ticks = 100.0; // USER_HZ on Linux
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1;
            let f: Vec<&str> = after.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / ticks)
        })
        .unwrap_or(0.0)
}

fn metric(port: u16, name: &str) -> Option<f64> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut t = String::new();
    s.read_to_string(&mut t).ok()?;
    t.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

struct Controller {
    proc: Proc,
    port: u16,
    http: u16,
    cfg: PathBuf,
}

impl Controller {
    fn pid(&self) -> u32 {
        self.proc.0.as_ref().map_or(0, |c| c.id())
    }
    fn spawn(cfg: &Path, port: u16) -> Proc {
        Self::spawn_with(cfg, port, false)
    }
    /// `broadcast`: every fleet change wakes every session (the baseline).
    fn spawn_with(cfg: &Path, port: u16, broadcast: bool) -> Proc {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(cfg.with_extension("log"))
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_camplane-controller"));
        if broadcast {
            cmd.env(camplane_controller::fleet::BROADCAST_WAKES_ENV, "1");
        }
        let child = cmd
            .arg("--config")
            .arg(cfg)
            .env("SCALE_PW", PW)
            .env("SCALE_CM_PW", CM_PW)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("camplane-controller");
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "controller did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Proc(Some(child))
    }
}

fn start_controllers(dir: &Path, n: usize, etcd: Option<&EtcdServer>) -> Vec<Controller> {
    let mut out = Vec::new();
    for i in 0..n {
        let (port, http) = (free_port(), free_port());
        let store = match etcd {
            Some(e) => format!(
                "store:\n  etcd:\n    endpoints: [{}]\n    prefix: /scale\n    lease_seconds: 5\n",
                e.endpoint()
            ),
            None => format!(
                "store:\n  embedded:\n    path: {}\n",
                dir.join("store").display()
            ),
        };
        let cfg = dir.join(format!("controller-{i}.yaml"));
        std::fs::write(
            &cfg,
            format!(
                "city:\n  name: Bench\n  time_zone: America/Chicago\nlisten: 127.0.0.1:{port}\nhttp_listen: 127.0.0.1:{http}\n{store}auth:\n  initial_admin_password_env: SCALE_PW\n  initial_city_manager: cm\n  initial_city_manager_password_env: SCALE_CM_PW\n  token_ttl_minutes: 1440\ntls:\n  ca_cert_file: {}\n",
                dir.join(format!("ca-{i}.pem")).display()
            ),
        )
        .unwrap();
        let proc = Controller::spawn(&cfg, port);
        let t0 = Instant::now();
        while !dir.join(format!("ca-{i}.pem")).exists() {
            assert!(t0.elapsed() < Duration::from_secs(30));
            std::thread::sleep(Duration::from_millis(20));
        }
        out.push(Controller {
            proc,
            port,
            http,
            cfg,
        });
    }
    out
}

/// A simulated agent's identity.
struct Identity2 {
    name: String,
    cert: String,
    key: String,
}

async fn enroll(ch: Channel, admin: String, name: String) -> Identity2 {
    let t = pb::fleet_client::FleetClient::new(ch.clone())
        .create_enroll_token(req(
            &admin,
            pb::EnrollTokenRequest {
                site: "hq".into(),
                agent: name.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::default();
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "camplane-agent");
    let csr = p.serialize_request(&key).unwrap().pem().unwrap();
    let r = pb::fleet_client::FleetClient::new(ch)
        .enroll(pb::EnrollRequest {
            token: t.token,
            csr_pem: csr,
        })
        .await
        .unwrap()
        .into_inner();
    Identity2 {
        name,
        cert: r.cert_pem,
        key: key.serialize_pem(),
    }
}

/// A connected simulated agent: its outbound stream, and (for probes) the
/// number of cameras in the last config received, with when it arrived.
struct SimAgent {
    out: mpsc::Sender<pb::AgentMessage>,
    seen: watch::Receiver<(usize, Instant)>,
}

/// Connects like an agent does: on failure it tries again (a quarter second
/// later, up to 40 times); the failures are counted in `retries`.
async fn connect(
    id: &Identity2,
    port: u16,
    ca: &str,
    acked: Arc<AtomicU64>,
    retries: Arc<std::sync::Mutex<Vec<String>>>,
) -> SimAgent {
    let mut n = 0;
    loop {
        match try_connect(id, port, ca, acked.clone()).await {
            Ok(s) => return s,
            Err(e) => {
                retries.lock().unwrap().push(format!("{}: {e}", id.name));
                n += 1;
                assert!(n < 40, "{} could not connect: {e}", id.name);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

async fn try_connect(
    id: &Identity2,
    port: u16,
    ca: &str,
    acked: Arc<AtomicU64>,
) -> Result<SimAgent, String> {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
    tls = tls.identity(Identity::from_pem(&id.cert, &id.key));
    let ch = Endpoint::from_shared(format!("https://127.0.0.1:{port}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect_timeout(Duration::from_secs(30))
        .connect()
        .await
        .map_err(|e| format!("connect: {e:?}"))?;
    let (tx, rx) = mpsc::channel::<pb::AgentMessage>(16);
    tx.send(pb::AgentMessage {
        msg: Some(pb::agent_message::Msg::Hello(pb::Hello {
            agent: id.name.clone(),
            config_revision: 0,
            version: "scale-sim".into(),
            hotlists: Default::default(),
        })),
    })
    .await
    .map_err(|e| e.to_string())?;
    let mut inbound = pb::fleet_client::FleetClient::new(ch)
        .control(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .map_err(|e| format!("control: {} {}", e.code(), e.message()))?
        .into_inner();
    let (seen_tx, seen) = watch::channel((usize::MAX, Instant::now()));
    let back = tx.clone();
    tokio::spawn(async move {
        while let Ok(Some(m)) = inbound.message().await {
            match m.msg {
                Some(pb::controller_message::Msg::Config(c)) => {
                    let n = serde_json::from_slice::<serde_json::Value>(&c.json)
                        .ok()
                        .and_then(|v| v["cameras"].as_array().map(|a| a.len()))
                        .unwrap_or(0);
                    let _ = seen_tx.send((n, Instant::now()));
                    let _ = back
                        .send(pb::AgentMessage {
                            msg: Some(pb::agent_message::Msg::Ack(pb::Ack {
                                revision: c.revision,
                            })),
                        })
                        .await;
                }
                Some(pb::controller_message::Msg::ReportAck(_)) => {
                    acked.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
    });
    Ok(SimAgent { out: tx, seen })
}

/// Connects every agent (agent i to controller i % n), 64 handshakes at a time.
async fn connect_all(
    ids: &Arc<Vec<Identity2>>,
    ctls: &[Controller],
    ca: &str,
    acked: Arc<AtomicU64>,
) -> Vec<SimAgent> {
    let n_ctl = ctls.len();
    let retries: Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let sem = Arc::new(Semaphore::new(64));
    let mut hs = Vec::new();
    for i in 0..ids.len() {
        let (ids, ca, sem, acked, retries) = (
            ids.clone(),
            ca.to_string(),
            sem.clone(),
            acked.clone(),
            retries.clone(),
        );
        let port = ctls[i % n_ctl].port;
        hs.push(tokio::spawn(async move {
            let _p = sem.acquire_owned().await.unwrap();
            connect(&ids[i], port, &ca, acked, retries).await
        }));
    }
    let mut sims = Vec::new();
    for h in hs {
        sims.push(h.await.unwrap());
    }
    let r = retries.lock().unwrap();
    if let Some(e) = r.first() {
        eprintln!("  {} connection attempts retried, e.g. {e}", r.len());
    }
    sims
}

/// Waits until every agent is connected and has its first config.
async fn wait_connected(ctls: &[Controller], sims: &[SimAgent], n_agents: usize, t0: Instant) {
    let https: Vec<u16> = ctls.iter().map(|c| c.http).collect();
    loop {
        let connected: f64 = https
            .iter()
            .filter_map(|p| metric(*p, "camplane_controller_agents_connected"))
            .sum();
        if connected as usize >= n_agents {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(600),
            "{connected} of {n_agents} connected"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "  connected {n_agents} agents in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    for s in sims {
        let mut w = s.seen.clone();
        let _ = tokio::time::timeout(
            Duration::from_secs(60),
            w.wait_for(|(n, _)| *n != usize::MAX),
        )
        .await;
    }
}

/// Config change to agent: activates or suspends a probe's camera through the
/// channel's controller, `changes` times; the time until its agent has the config.
/// One change first is not timed: it waits behind whatever the connections left
/// queued (each session's first push is audited), up to two minutes.
async fn time_changes(
    ch: &Channel,
    admin: &str,
    sims: &[SimAgent],
    probes: usize,
    changes: usize,
) -> Vec<Duration> {
    let mut lat = Vec::new();
    for k in 0..=changes {
        let p = k % probes;
        let mut w = sims[p].seen.clone();
        let before = w.borrow().0;
        let action = if before == 0 { "activate" } else { "suspend" };
        let want = usize::from(before == 0);
        let t = Instant::now();
        pb::cameras_client::CamerasClient::new(ch.clone())
            .transition(req(
                admin,
                pb::CameraAction {
                    name: format!("cam-{p}"),
                    action: action.into(),
                    reason: "scale".into(),
                },
            ))
            .await
            .unwrap();
        let limit = Duration::from_secs(if k == 0 { 120 } else { 30 });
        let got = tokio::time::timeout(limit, w.wait_for(|(n, _)| *n == want))
            .await
            .expect("config change never reached its agent")
            .unwrap()
            .1;
        if k > 0 {
            lat.push(got.duration_since(t));
        }
    }
    lat
}

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
}

async fn run(n_agents: usize, n_ctl: usize) {
    let dir = tempfile::tempdir().unwrap();
    let etcd = (n_ctl > 1).then(EtcdServer::start);
    let mut ctls = start_controllers(dir.path(), n_ctl, etcd.as_ref());
    let ca = std::fs::read_to_string(dir.path().join("ca-0.pem")).unwrap();
    let ch = tls_channel(ctls[0].port, &ca, None).await;
    let admin = login(&ch, "admin", PW).await.unwrap();
    apply_on(
        &ch,
        &admin,
        "kind: Department\nname: police\nspec: {display_name: Police}\n---\nkind: Site\nname: hq\nspec: {address: x, lat: 42.5, lon: -90.66}\n",
    )
    .await
    .unwrap();
    // The city manager is the config's first one; it confirms the chief's grant.
    let cm = login(&ch, "cm", CM_PW).await.unwrap();
    let deciders = Deciders {
        city_manager: Some(cm.clone()),
        second_admin: None,
    };
    let (mgr, chief) = (
        user_on(&ch, &admin, "mgr", &["dept_manager"], "police", &deciders).await,
        user_on(&ch, &admin, "chief", &["chief"], "police", &deciders).await,
    );

    // Enrol every agent (not timed), 32 at a time.
    let t0 = Instant::now();
    let sem = Arc::new(Semaphore::new(32));
    let mut hs = Vec::new();
    for i in 0..n_agents {
        let (ch, admin, sem) = (ch.clone(), admin.clone(), sem.clone());
        hs.push(tokio::spawn(async move {
            let _p = sem.acquire_owned().await.unwrap();
            enroll(ch, admin, format!("ag-{i:05}")).await
        }));
    }
    let mut ids = Vec::new();
    for h in hs {
        ids.push(h.await.unwrap());
    }
    // Probe agents get a camera with an approved placement request (inactive).
    let probes = PROBES.min(n_agents);
    for p in 0..probes {
        apply_on(&ch, &admin, &format!(
            "kind: PlacementRequest\nname: req-{p}\nspec:\n  location: {{lat: 42.5, lon: -90.66}}\n  purpose: property_protection\n  justification: scale\n  funding_source: bench\n  department: police\n  kind: fixed\n  camera: cam-{p}\n---\nkind: Camera\nname: cam-{p}\nspec:\n  site: hq\n  department: police\n  kind: fixed\n  purpose: property_protection\n  location: {{lat: 42.5, lon: -90.66}}\n  streams: {{main: \"rtsp://127.0.0.1/cam-{p}\"}}\n  placement_request: req-{p}\n  agent: ag-{p:05}\n"
        )).await.unwrap();
        // No streets layer here: placement fails closed until the chief overrides.
        for (who, action, role, comment) in [
            (&mgr, "recommend", "dept_manager", "ok"),
            (&chief, "recommend", "chief", "ok"),
            (
                &chief,
                "override",
                "",
                camplane_testkit::controller::UNCHECKED,
            ),
            (&cm, "approve", "city_manager", "ok"),
        ] {
            pb::approvals_client::ApprovalsClient::new(ch.clone())
                .act(req(
                    who,
                    pb::ActRequest {
                        id: format!("req-{p}"),
                        action: action.into(),
                        role: role.into(),
                        comment: comment.into(),
                    },
                ))
                .await
                .unwrap();
        }
    }
    eprintln!(
        "  enrolled {n_agents} agents in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let ids = Arc::new(ids);
    // The baseline: the same changes with every change waking every session.
    let base = if env_num("SCALE_BASELINE", 1) != 0 {
        for c in ctls.iter_mut() {
            if let Some(mut p) = c.proc.0.take() {
                let _ = p.kill();
                let _ = p.wait();
            }
            c.proc = Controller::spawn_with(&c.cfg, c.port, true);
        }
        let ch = tls_channel(ctls[0].port, &ca, None).await;
        let t0 = Instant::now();
        let sims = connect_all(&ids, &ctls, &ca, Arc::default()).await;
        wait_connected(&ctls, &sims, n_agents, t0).await;
        let lat = time_changes(&ch, &admin, &sims, probes, env_num("SCALE_CHANGES", 60)).await;
        drop(sims);
        Some((pct(lat.clone(), 0.5), pct(lat, 0.99)))
    } else {
        None
    };
    // Restart the controllers so that their memory is that of a controller holding
    // this registry with no agent connected (not what enrolment left allocated).
    for c in ctls.iter_mut() {
        if let Some(mut p) = c.proc.0.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
        c.proc = Controller::spawn(&c.cfg, c.port);
    }
    let ch = tls_channel(ctls[0].port, &ca, None).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_before: Vec<u64> = ctls.iter().map(|c| rss(c.pid())).collect();

    let t0 = Instant::now();
    let acked = Arc::new(AtomicU64::new(0));
    let sims = connect_all(&ids, &ctls, &ca, acked.clone()).await;
    wait_connected(&ctls, &sims, n_agents, t0).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_after: Vec<u64> = ctls.iter().map(|c| rss(c.pid())).collect();
    let per_agent = (rss_after.iter().sum::<u64>() as f64 - rss_before.iter().sum::<u64>() as f64)
        / n_agents as f64;

    let changes = env_num("SCALE_CHANGES", 60);
    let lat = time_changes(&ch, &admin, &sims, probes, changes).await;
    let (p50, p99) = (pct(lat.clone(), 0.5), pct(lat, 0.99));

    // Reports: all agents together at a fixed rate; controller CPU per 1,000/s.
    let rate = env_num("SCALE_REPORTS_PER_SEC", 1000) as u64;
    let secs = 10u64;
    let cpu0: f64 = ctls.iter().map(|c| cpu_secs(c.pid())).sum();
    let acked0 = acked.load(Ordering::Relaxed);
    let t0 = Instant::now();
    let total = rate * secs;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let per_tick = (rate / 100).max(1);
    let mut sent = 0u64;
    while sent < total {
        tick.tick().await;
        for _ in 0..per_tick {
            let s = &sims[(sent as usize) % n_agents];
            let json = serde_json::to_vec(&serde_json::json!({"at": "2026-11-26T00:00:00Z", "cameras": [], "disk_free": 1, "disk_total": 2, "mem_total": 3, "mem_available": 1, "alarms": []})).unwrap();
            let _ = s.out.try_send(pb::AgentMessage {
                msg: Some(pb::agent_message::Msg::Report(pb::Report {
                    key: format!("h-{sent}"),
                    kind: "health".into(),
                    json,
                })),
            });
            sent += 1;
        }
    }
    while acked.load(Ordering::Relaxed) - acked0 < total * 95 / 100
        && t0.elapsed() < Duration::from_secs(secs * 4)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let wall = t0.elapsed().as_secs_f64();
    let done = acked.load(Ordering::Relaxed) - acked0;
    let cpu = ctls.iter().map(|c| cpu_secs(c.pid())).sum::<f64>() - cpu0;
    let per_k = cpu / wall / (done as f64 / wall / 1000.0);

    println!(
        "{n_ctl} controller(s), {n_agents:>6} agents: config change -> agent p50 {:>7.1} ms, p99 {:>7.1} ms ({changes} changes; every session woken, same run: {}) | controller memory {:>6.1} kB/agent (RSS {} -> {} MB) | reports {:.0}/s acked, CPU {:.3} cores per 1,000 reports/s",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        base.map_or("not run".into(), |(b50, b99)| format!(
            "p50 {:.1} ms, p99 {:.1} ms",
            b50.as_secs_f64() * 1e3,
            b99.as_secs_f64() * 1e3
        )),
        per_agent / 1024.0,
        rss_before.iter().sum::<u64>() >> 20,
        rss_after.iter().sum::<u64>() >> 20,
        done as f64 / wall,
        per_k,
    );

    // Failover, three controllers: kill the leader, time until another leads.
    if n_ctl > 1 {
        let mut times = Vec::new();
        for _ in 0..env_num("SCALE_FAILOVERS", 3) {
            let leader = (0..n_ctl)
                .find(|i| metric(ctls[*i].http, "camplane_controller_leader") == Some(1.0))
                .expect("a leader");
            let t = Instant::now();
            if let Some(mut c) = ctls[leader].proc.0.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
            loop {
                if (0..n_ctl).any(|i| {
                    i != leader && metric(ctls[i].http, "camplane_controller_leader") == Some(1.0)
                }) {
                    break;
                }
                assert!(t.elapsed() < Duration::from_secs(60), "no new leader");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            times.push(t.elapsed());
            let cfg = ctls[leader].cfg.clone();
            ctls[leader].proc = Controller::spawn(&cfg, ctls[leader].port);
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let each: Vec<String> = times
            .iter()
            .map(|t| format!("{:.2}", t.as_secs_f64()))
            .collect();
        println!(
            "{n_ctl} controllers, {n_agents:>6} agents: leader failover median {:.2} s over {} kills (lease 5 s): {} s",
            pct(times.clone(), 0.5).as_secs_f64(),
            times.len(),
            each.join(", ")
        );
    }
    drop(sims);
    drop(ctls);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let agents = env_list("SCALE_AGENTS", "1000,5000,10000");
    let controllers = env_list("SCALE_CONTROLLERS", "1,3");
    println!("scale: simulated agents over mutual TLS against real controller processes");
    for c in &controllers {
        for a in &agents {
            eprintln!("-- {c} controller(s), {a} agents");
            run(*a, *c).await;
        }
    }
}
