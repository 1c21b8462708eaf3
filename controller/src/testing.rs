//! Helpers for tests that need real servers: an etcd started on free loopback
//! ports with a temporary data directory. Tests fail (never skip) when the server
//! is not installed, naming the package to install.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback TCP port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// A real etcd server for a test; killed on drop.
pub struct EtcdServer {
    child: Option<Child>,
    dir: tempfile::TempDir,
    client_port: u16,
    peer_port: u16,
}

impl EtcdServer {
    /// Starts etcd and waits until it answers.
    pub fn start() -> EtcdServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = EtcdServer {
            child: None,
            dir,
            client_port: free_port(),
            peer_port: free_port(),
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        // Free ports are picked before etcd binds them, so another test can take one
        // in between: when etcd exits at once, try again on new ports.
        for attempt in 0..4 {
            if attempt > 0 {
                self.client_port = free_port();
                self.peer_port = free_port();
            }
            if self.try_spawn() {
                return;
            }
        }
        panic!(
            "etcd did not start; see {}",
            self.dir.path().join("etcd.log").display()
        );
    }

    fn try_spawn(&mut self) -> bool {
        let bin = which("etcd").unwrap_or_else(|| {
            panic!("etcd is not installed: install it with `apt-get install -y etcd-server` (the test starts it itself)")
        });
        let client = format!("http://127.0.0.1:{}", self.client_port);
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::File::create(self.dir.path().join("etcd.log")).expect("etcd log");
        let mut child = Command::new(bin)
            .arg("--name=test")
            .arg(format!(
                "--data-dir={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=test={peer}"))
            .arg("--log-level=error")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting etcd");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return false; // exited: most likely a port taken meanwhile
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.client_port)).is_ok() {
                std::thread::sleep(Duration::from_millis(200));
                self.child = Some(child);
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// The client URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// Kills the server (its data stays).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same ports and data.
    pub fn restart(&mut self) {
        self.stop();
        // Same ports: clients hold the old endpoint.
        for _ in 0..8 {
            if self.try_spawn() {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!(
            "etcd did not restart; see {}",
            self.dir.path().join("etcd.log").display()
        );
    }

    /// The data directory.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Finds a program on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A real etcd cluster of several members on loopback ports, for quorum tests;
/// killed on drop.
pub struct EtcdCluster {
    members: Vec<Option<Child>>,
    dir: tempfile::TempDir,
    ports: Vec<(u16, u16)>,
}

impl EtcdCluster {
    /// Starts `n` members and waits until every one answers.
    pub fn start(n: usize) -> EtcdCluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let mut c = EtcdCluster {
            members: (0..n).map(|_| None).collect(),
            dir,
            ports,
        };
        for i in 0..n {
            c.spawn(i, "new");
        }
        for i in 0..n {
            c.wait_up(i);
        }
        c
    }

    fn initial_cluster(&self) -> String {
        self.ports
            .iter()
            .enumerate()
            .map(|(i, (_, p))| format!("m{i}=http://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn spawn(&mut self, i: usize, state: &str) {
        let bin = which("etcd").unwrap_or_else(|| {
            panic!("etcd is not installed: install it with `apt-get install -y etcd-server` (the test starts it itself)")
        });
        let (c, p) = self.ports[i];
        let client = format!("http://127.0.0.1:{c}");
        let peer = format!("http://127.0.0.1:{p}");
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("m{i}.log")))
            .expect("etcd log");
        let child = Command::new(bin)
            .arg(format!("--name=m{i}"))
            .arg(format!(
                "--data-dir={}",
                self.dir.path().join(format!("m{i}")).display()
            ))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster={}", self.initial_cluster()))
            .arg(format!("--initial-cluster-state={state}"))
            .arg("--initial-cluster-token=camplane-test")
            .arg("--log-level=error")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting etcd");
        self.members[i] = Some(child);
    }

    fn wait_up(&mut self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.ports[i].0)).is_ok() {
                return;
            }
            if let Some(Ok(Some(_))) = self.members[i].as_mut().map(|c| c.try_wait()) {
                panic!(
                    "etcd member m{i} exited; see {}",
                    self.dir.path().join(format!("m{i}.log")).display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("etcd member m{i} did not open its client port");
    }

    /// Every member's client URL.
    pub fn endpoints(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|(c, _)| format!("http://127.0.0.1:{c}"))
            .collect()
    }

    /// Kills member `i` (its data stays).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts member `i` again on its ports and data; it rejoins the cluster.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i, "existing");
        self.wait_up(i);
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}
