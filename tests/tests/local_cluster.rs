//! `deploy/local-cluster.sh` brings up a working cluster (three etcd members,
//! three controllers, agents recording demo cameras), and the cluster survives
//! the loss of its leader under load: the test kills the leading controller;
//! another leads within the lease time, the agents reconnect to the survivors,
//! and every report the agents made is stored exactly once (reports are keyed,
//! so a report resent after the kill is not stored twice).
//!
//! Real processes throughout: the release script, the built binaries, etcd,
//! the GStreamer RTSP server; the test reads Prometheus metrics and etcd.

use camplane_testkit::http::{sample, try_http_get};
use camplane_testkit::servers::wait_until;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BASE: u16 = 9300;
const AGENTS: usize = 3;

/// The directory of the built binaries (beside this test's executable).
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    for b in ["camplane", "camplane-controller", "camplane-agent"] {
        assert!(
            dir.join(b).is_file(),
            "{} is not built: run `cargo build --bins` (cargo test --workspace builds it)",
            dir.join(b).display()
        );
    }
    dir
}

struct Cluster {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // SIGTERM: the script's trap stops everything it started.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

fn http(port: u16, path: &str) -> Option<String> {
    try_http_get(([127, 0, 0, 1], port).into(), path).map(|(_, _, b)| b)
}

/// A metric from a controller (index 0-2), or None when it is down.
fn ctl_metric(i: u16, series: &str) -> Option<f64> {
    sample(&http(BASE + 80 + i, "/metrics")?, series)
}

fn agent_metric(a: usize, series: &str) -> Option<f64> {
    sample(&http(BASE + 90 + a as u16, "/metrics")?, series)
}

/// Report keys stored in etcd, read with etcdctl.
fn stored_reports() -> usize {
    let o = Command::new("etcdctl")
        .args([
            &format!("--endpoints=http://127.0.0.1:{}", BASE + 16279),
            "get",
            "/camplane/local/k/reports/",
            "--prefix",
            "--keys-only",
        ])
        .env("ETCDCTL_API", "3")
        .output()
        .expect("etcdctl: apt-get install -y etcd-client");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.starts_with("/camplane/local/k/reports/"))
        .count()
}

fn start() -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let log = std::fs::File::create(dir.path().join("script.log")).unwrap();
    let child = Command::new("bash")
        .arg(root.join("deploy/local-cluster.sh"))
        .env("CAMPLANE_BIN", bin_dir())
        .env("CAMPLANE_CLUSTER_DIR", dir.path().join("data"))
        .env("AGENTS", AGENTS.to_string())
        .env("PORT_BASE", BASE.to_string())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut c = Cluster { child, dir };
    let ready = c.dir.path().join("data/ready");
    let t0 = Instant::now();
    while !ready.exists() {
        if let Ok(Some(st)) = c.child.try_wait() {
            panic!(
                "local-cluster.sh exited ({st}): {}",
                std::fs::read_to_string(c.dir.path().join("script.log")).unwrap_or_default()
            );
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "cluster not ready");
        std::thread::sleep(Duration::from_millis(200));
    }
    c
}

#[test]
fn local_cluster_survives_the_loss_of_its_leader() {
    let c = start();
    let connected = |alive: &[u16]| -> f64 {
        alive
            .iter()
            .filter_map(|i| ctl_metric(*i, "camplane_controller_agents_connected"))
            .sum()
    };
    wait_until(Duration::from_secs(60), "all agents connected", || {
        connected(&[0, 1, 2]) == AGENTS as f64
    });
    wait_until(Duration::from_secs(60), "every camera recording", || {
        (1..=AGENTS).all(|a| {
            agent_metric(
                a,
                &format!("camplane_agent_segments_written_total{{camera=\"cam-{a}\"}}"),
            )
            .is_some_and(|n| n >= 1.0)
        })
    });
    let leaders: Vec<u16> = (0..3)
        .filter(|i| ctl_metric(*i, "camplane_controller_leader") == Some(1.0))
        .collect();
    assert_eq!(leaders.len(), 1, "exactly one leader: {leaders:?}");
    let leader = leaders[0];

    // Kill the leader (pids: etcd 0-2, then controllers 0-2).
    let pids: Vec<String> = std::fs::read_to_string(c.dir.path().join("data/pids"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let pid = &pids[3 + leader as usize];
    assert!(Command::new("kill")
        .args(["-9", pid])
        .status()
        .unwrap()
        .success());
    let alive: Vec<u16> = (0..3).filter(|i| *i != leader).collect();
    let takeover = wait_until(Duration::from_secs(10), "a new leader", || {
        alive
            .iter()
            .filter(|i| ctl_metric(**i, "camplane_controller_leader") == Some(1.0))
            .count()
            == 1
    });
    eprintln!("leader {leader} killed; takeover after {takeover:?} (lease 5 s)");
    let reconnect = wait_until(
        Duration::from_secs(30),
        "agents back on the survivors",
        || connected(&alive) == AGENTS as f64,
    );
    eprintln!("all agents reconnected after {reconnect:?}");

    // Every report made is stored once: made - still spooled == stored.
    let mut last;
    let t0 = Instant::now();
    while !{
        let mut made = 0.0;
        let mut up = true;
        for a in 1..=AGENTS {
            match (
                agent_metric(a, "camplane_agent_reports_made_total"),
                agent_metric(a, "camplane_agent_spool_depth"),
            ) {
                (Some(m), Some(d)) => made += m - d,
                _ => up = false,
            }
        }
        let stored = stored_reports();
        last = (made, stored);
        // Agents report every 2 s: read again if one was made in between.
        up && made as usize == stored
    } {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "reports made (minus spooled) {} != stored {}",
            last.0,
            last.1
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("reports made and stored: {} == {}", last.0, last.1);
    assert!(last.1 > AGENTS * 3, "reports flowed: {last:?}");
}
