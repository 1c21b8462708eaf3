//! Traces over OTLP: a case-numbered search run with the real CLI, served by the
//! real controller binary and fanned out to a real agent binary, is one trace
//! across the three processes. The test runs an OTLP/gRPC trace collector (the
//! receiving end, outside the city's systems) and checks that the agent's span
//! is a child of the controller's request span, which is a child of the CLI's.

use camplane_testkit::servers::free_port;
use camplane_testkit::{controller as ctl, http};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One received span: service, name, trace id, span id, parent span id, attributes.
#[derive(Debug, Clone)]
struct Got {
    service: String,
    name: String,
    trace: Vec<u8>,
    id: Vec<u8>,
    parent: Vec<u8>,
    attrs: String,
}

#[derive(Default, Clone)]
struct Collector(Arc<Mutex<Vec<Got>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut g = self.0.lock().unwrap();
        for rs in req.into_inner().resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .map(|a| format!("{:?}", a.value))
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for s in ss.spans {
                    g.push(Got {
                        service: service.clone(),
                        name: s.name.clone(),
                        trace: s.trace_id.clone(),
                        id: s.span_id.clone(),
                        parent: s.parent_span_id.clone(),
                        attrs: format!("{:?}", s.attributes),
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let p = exe.parent().unwrap().parent().unwrap().join(name);
    assert!(
        p.is_file(),
        "{} is not built: cargo build --bins",
        p.display()
    );
    p
}

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Env {
    dir: PathBuf,
    server: String,
    otlp: String,
}

impl Env {
    fn cli(&self, home: &str, args: &[&str], stdin: Option<&str>) -> Output {
        use std::io::Write;
        let mut c = Command::new(bin("camplane"))
            .args(args)
            .env("CAMPLANE_HOME", self.dir.join(home))
            .env("CAMPLANE_SERVER", &self.server)
            .env("CAMPLANE_CA", self.dir.join("ca.pem"))
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &self.otlp)
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin
            .take()
            .unwrap()
            .write_all(stdin.unwrap_or("").as_bytes())
            .unwrap();
        c.wait_with_output().unwrap()
    }
    fn ok(&self, home: &str, args: &[&str], stdin: Option<&str>) -> String {
        let o = self.cli(home, args, stdin);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.status.success(), "camplane {args:?}: {text}");
        text
    }
}

fn wait_port(port: u16, what: &str) {
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{what} did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_is_one_trace_across_cli_controller_and_agent() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let otlp = format!("http://{}", listener.local_addr().unwrap());
    let c2 = collector.clone();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(c2))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .unwrap();
    });

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let (port, http) = (free_port(), free_port());
    std::fs::write(
        dir.join("controller.yaml"),
        format!(
            "city:\n  name: Dubuque\n  time_zone: America/Chicago\n  policy_file: {}\nlisten: 127.0.0.1:{port}\nhttp_listen: 127.0.0.1:{http}\nstore:\n  embedded:\n    path: {}\nauth:\n  initial_admin_password_env: TRACE_ADMIN_PW\ntls:\n  ca_cert_file: {}\n",
            ctl::policy_file().display(),
            dir.join("store").display(),
            dir.join("ca.pem").display()
        ),
    )
    .unwrap();
    let log = |n: &str| std::fs::File::create(dir.join(n)).unwrap();
    let _ctl = Proc(
        Command::new(bin("camplane-controller"))
            .arg("--config")
            .arg(dir.join("controller.yaml"))
            .env("TRACE_ADMIN_PW", "trace-admin-password")
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp)
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .stdout(log("controller.out"))
            .stderr(log("controller.log"))
            .spawn()
            .unwrap(),
    );
    wait_port(port, "the controller");
    let t0 = Instant::now();
    while !dir.join("ca.pem").exists() {
        assert!(t0.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(50));
    }
    let env = Env {
        dir: dir.clone(),
        server: format!("https://127.0.0.1:{port}"),
        otlp: otlp.clone(),
    };
    env.ok(
        "admin",
        &["login", "--password-stdin"],
        Some("trace-admin-password\n"),
    );
    let city = dir.join("city.yaml");
    std::fs::write(
        &city,
        "kind: Department\nname: police\nspec: {display_name: Police}\n---\nkind: Site\nname: city-hall\nspec: {address: 50 W 13th St, lat: 42.5006, lon: -90.6646}\n",
    )
    .unwrap();
    env.ok("admin", &["apply", "-f", city.to_str().unwrap()], None);
    env.ok(
        "admin",
        &[
            "user",
            "add",
            "op",
            "--role",
            "alpr_operator",
            "--department",
            "police",
            "--password-stdin",
        ],
        Some("op-one-time-123\n"),
    );
    // The admin set a one-time password: op changes it before anything else.
    env.ok(
        "op",
        &["login", "-u", "op", "--password-stdin"],
        Some("op-one-time-123\n"),
    );
    env.ok(
        "op",
        &["passwd", "--password-stdin"],
        Some("op-one-time-123\nop-password-123\n"),
    );
    let user = dir.join("op.yaml");
    std::fs::write(
        &user,
        ctl::qualified_user_yaml("op", "alpr_operator", "police", "AP-5.05-2023-08-07"),
    )
    .unwrap();
    env.ok("admin", &["apply", "-f", user.to_str().unwrap()], None);
    // The operator acknowledges the policy themselves.
    env.ok(
        "op",
        &["policy", "acknowledge", "--password-stdin"],
        Some("op-password-123\n"),
    );
    let token = env.ok(
        "admin",
        &["agent", "enroll", "--site", "city-hall", "--name", "gw"],
        None,
    );
    let token = token.lines().last().unwrap().trim().to_string();
    std::fs::write(dir.join("token"), token).unwrap();
    std::fs::write(
        dir.join("agent.yaml"),
        format!(
            "controllers: [https://127.0.0.1:{port}]\nca_file: {}\nenroll_token_file: {}\ndata_dir: {}\nreport_interval_seconds: 1\nmin_free_bytes: 0\nmin_free_percent: 0\n",
            dir.join("ca.pem").display(),
            dir.join("token").display(),
            dir.join("agent").display()
        ),
    )
    .unwrap();
    let _agent = Proc(
        Command::new(bin("camplane-agent"))
            .arg("--config")
            .arg(dir.join("agent.yaml"))
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp)
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .stdout(log("agent.out"))
            .stderr(log("agent.log"))
            .spawn()
            .unwrap(),
    );
    // Connected: the controller's metrics say so.
    let t0 = Instant::now();
    loop {
        let m = metrics(http);
        if m.contains("camplane_controller_agents_connected 1") {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "agent never connected: {}",
            std::fs::read_to_string(dir.join("agent.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    env.ok(
        "op",
        &["login", "-u", "op", "--password-stdin"],
        Some("op-password-123\n"),
    );
    let out = env.ok(
        "op",
        &[
            "search",
            "plate",
            "ABC1234",
            "--case",
            "26-04711",
            "--purpose",
            "stolen_vehicle",
            "-o",
            "json",
        ],
        None,
    );
    assert!(!out.contains("unreachable\":[{"), "{out}");

    // The three services' spans arrive; the agent's query continues the controller's
    // request, which continues the CLI's command.
    let t0 = Instant::now();
    let (cli, req, query) = loop {
        let spans = collector.0.lock().unwrap().clone();
        let query = spans
            .iter()
            .find(|s| s.name == "alpr.query" && s.service.contains("camplane-agent"))
            .cloned();
        let req = spans
            .iter()
            .find(|s| {
                s.name == "grpc.request"
                    && s.service.contains("camplane-controller")
                    && s.attrs.contains("camplane.v1.Alpr/Search")
            })
            .cloned();
        let cli = query.as_ref().and_then(|q| {
            spans
                .iter()
                .find(|s| {
                    s.name == "camplane" && s.trace == q.trace && s.service.contains("\"camplane\"")
                })
                .cloned()
        });
        if let (Some(c), Some(r), Some(q)) = (cli, req, query) {
            break (c, r, q);
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "spans received: {:#?}",
            spans
                .iter()
                .map(|s| (&s.service, &s.name))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(req.trace, query.trace, "one trace");
    assert_eq!(cli.trace, req.trace, "one trace from the CLI on");
    assert_eq!(
        query.parent, req.id,
        "the agent's span is a child of the controller's request"
    );
    assert_eq!(
        req.parent, cli.id,
        "the controller's request is a child of the CLI's command"
    );
    assert!(cli.parent.is_empty(), "the CLI's command is the root");
    // Plates stay out of traces.
    let all = collector.0.lock().unwrap().clone();
    assert!(
        !all.iter().any(|s| s.attrs.contains("ABC1234")),
        "a plate in a span's attributes"
    );
}

fn metrics(port: u16) -> String {
    http::try_http_get(([127, 0, 0, 1], port).into(), "/metrics")
        .map(|(_, _, b)| b)
        .unwrap_or_default()
}
