//! Shared helpers of the controller's integration tests.
#![allow(dead_code)]

use camplane_config::controller::{
    ControllerConfig, EmbeddedStoreConfig, EtcdStoreConfig, StoreConfig,
};
use camplane_controller::clock::DynClock;
use camplane_controller::server::{self, Running};
use camplane_proto::v1 as pb;
use std::path::Path;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

pub const ADMIN_PW: &str = "test-admin-password-1";

pub fn config_embedded(dir: &Path) -> ControllerConfig {
    let mut c = ControllerConfig::parse(
        "test.yaml",
        "city:\n  name: Testville\n  time_zone: America/Chicago\nlisten: 127.0.0.1:0\nstore:\n  embedded:\n    path: /x\nauth:\n  initial_admin_password_env: CAMPLANE_TEST_NO_SUCH_VAR\n",
    )
    .unwrap();
    c.store = StoreConfig {
        embedded: Some(EmbeddedStoreConfig {
            path: dir.to_path_buf(),
        }),
        etcd: None,
    };
    c
}

pub fn config_etcd(endpoint: &str, prefix: &str) -> ControllerConfig {
    let mut c = config_embedded(Path::new("/unused"));
    c.store = StoreConfig {
        embedded: None,
        etcd: Some(EtcdStoreConfig {
            endpoints: vec![endpoint.into()],
            prefix: prefix.into(),
            lease_seconds: 10,
        }),
    };
    c
}

pub struct Harness {
    pub running: Running,
    pub cancel: CancellationToken,
    pub channel: Channel,
    pub admin: String,
}

pub async fn start(config: ControllerConfig, clock: Option<DynClock>) -> Harness {
    let cancel = CancellationToken::new();
    let clock =
        clock.unwrap_or_else(|| std::sync::Arc::new(camplane_controller::clock::SystemClock));
    let running = server::start_with_clock(config, clock, cancel.clone())
        .await
        .expect("controller starts");
    let channel = channel(&running).await;
    let pw = running
        .initial_password
        .clone()
        .unwrap_or_else(|| ADMIN_PW.into());
    let admin = login(&channel, "admin", &pw).await.expect("admin login");
    Harness {
        running,
        cancel,
        channel,
        admin,
    }
}

/// A TLS channel to the controller, trusting its CA.
pub async fn channel(running: &Running) -> Channel {
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(&running.ca_pem));
    tonic::transport::Endpoint::from_shared(format!("https://127.0.0.1:{}", running.addr.port()))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap()
}

pub async fn login(ch: &Channel, user: &str, pw: &str) -> Result<String, tonic::Status> {
    Ok(pb::auth_client::AuthClient::new(ch.clone())
        .login(pb::LoginRequest {
            username: user.into(),
            password: pw.into(),
        })
        .await?
        .into_inner()
        .token)
}

pub fn req<T>(token: &str, msg: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

/// Applies manifest text as `token`.
pub async fn apply(
    h: &Harness,
    token: &str,
    yaml: &str,
) -> Result<Vec<pb::ApplyResult>, tonic::Status> {
    let ms = camplane_config::manifest::parse("test.yaml", yaml).expect("test manifest parses");
    let objects = ms
        .into_iter()
        .map(|m| pb::Object {
            kind: m.spec.kind().as_str().into(),
            name: m.name,
            json: serde_json::to_vec(&m.spec.to_json()).unwrap(),
            revision: 0,
        })
        .collect();
    Ok(pb::objects_client::ObjectsClient::new(h.channel.clone())
        .apply(req(
            token,
            pb::ApplyRequest {
                objects,
                source: "test.yaml".into(),
                dry_run: false,
            },
        ))
        .await?
        .into_inner()
        .results)
}

/// Adds a user with roles and returns their token.
pub async fn user(h: &Harness, name: &str, roles: &[&str], department: &str) -> String {
    let body =
        serde_json::json!({"name": name, "spec": {"roles": roles, "department": department}});
    let pw = format!("{name}-password-123");
    pb::users_client::UsersClient::new(h.channel.clone())
        .add(req(
            &h.admin,
            pb::AddUserRequest {
                json: serde_json::to_vec(&body).unwrap(),
                password: pw.clone(),
            },
        ))
        .await
        .unwrap();
    login(&h.channel, name, &pw).await.unwrap()
}

/// The `User` object of someone trained, certified and acknowledging `policy`: what
/// ALPR searches and exports ask of the person, beside their role.
pub fn qualified_user_yaml(name: &str, role: &str, department: &str, policy: &str) -> String {
    format!(
        "kind: User\nname: {name}\nspec:\n  department: {department}\n  roles: [{role}]\n  trained_at: 2026-01-05T00:00:00Z\n  certified_until: 2099-01-01T00:00:00Z\n  policy_version: \"{policy}\"\n"
    )
}

/// [`user`] with one role, made qualified ([`qualified_user_yaml`]) under the city's
/// current policy; returns their token.
pub async fn qualified_user(h: &Harness, name: &str, role: &str, department: &str) -> String {
    let token = user(h, name, &[role], department).await;
    let policy = &h.running.controller.config.city.policy_version;
    apply(
        h,
        &h.admin,
        &qualified_user_yaml(name, role, department, policy),
    )
    .await
    .unwrap();
    token
}

pub async fn get_json(
    h: &Harness,
    token: &str,
    kind: &str,
    name: &str,
) -> Result<serde_json::Value, tonic::Status> {
    let r = pb::objects_client::ObjectsClient::new(h.channel.clone())
        .get(req(
            token,
            pb::GetRequest {
                kind: kind.into(),
                name: name.into(),
            },
        ))
        .await?
        .into_inner();
    Ok(serde_json::from_slice(&r.objects[0].json).unwrap())
}

pub async fn act(
    h: &Harness,
    token: &str,
    id: &str,
    action: &str,
    role: &str,
    comment: &str,
) -> Result<serde_json::Value, tonic::Status> {
    let r = pb::approvals_client::ApprovalsClient::new(h.channel.clone())
        .act(req(
            token,
            pb::ActRequest {
                id: id.into(),
                action: action.into(),
                role: role.into(),
                comment: comment.into(),
            },
        ))
        .await?
        .into_inner();
    Ok(serde_json::from_slice(&r.json).unwrap())
}

pub async fn camera(
    h: &Harness,
    token: &str,
    name: &str,
    action: &str,
) -> Result<serde_json::Value, tonic::Status> {
    let r = pb::cameras_client::CamerasClient::new(h.channel.clone())
        .transition(req(
            token,
            pb::CameraAction {
                name: name.into(),
                action: action.into(),
                reason: String::new(),
            },
        ))
        .await?
        .into_inner();
    Ok(serde_json::from_slice(&r.json).unwrap())
}

pub async fn verify(h: &Harness) -> pb::VerifyResponse {
    pb::audit_client::AuditClient::new(h.channel.clone())
        .verify(req(&h.admin, pb::Empty {}))
        .await
        .unwrap()
        .into_inner()
}

pub const CITY: &str = r#"
kind: Department
name: police
spec: {display_name: Police}
---
kind: Department
name: parks
spec: {display_name: Parks}
---
kind: Site
name: city-hall
spec: {address: 50 W 13th St, lat: 42.5006, lon: -90.6646}
---
kind: PlacementRequest
name: req-1
spec:
  location: {lat: 42.5006, lon: -90.6646}
  purpose: property_protection
  justification: break-ins at the back door
  funding_source: general fund
  department: police
  kind: fixed
  camera: cam-1
---
kind: Camera
name: cam-1
spec:
  site: city-hall
  department: police
  kind: fixed
  purpose: property_protection
  location: {lat: 42.5006, lon: -90.6646}
  streams: {main: "rtsp://127.0.0.1:8554/cam1"}
  placement_request: req-1
"#;

// ---------- governance helpers ----------

/// Makes `name` (an existing user) a qualified ALPR operator: training done,
/// certification valid until `certified_until`, the current policy acknowledged.
pub async fn qualify_operator(h: &Harness, name: &str, roles: &[&str], certified_until: &str) {
    let policy = &h.running.controller.config.city.policy_version;
    let y = format!(
        "kind: User\nname: {name}\nspec:\n  department: police\n  roles: [{}]\n  trained_at: 2026-01-05T00:00:00Z\n  certified_until: {certified_until}\n  policy_version: \"{policy}\"\n",
        roles.join(", ")
    );
    apply(h, &h.admin, &y).await.unwrap();
}

/// Every audit entry, oldest first, as JSON.
pub async fn audit_log(h: &Harness) -> Vec<serde_json::Value> {
    let tail = pb::audit_client::AuditClient::new(h.channel.clone())
        .tail(req(&h.admin, pb::TailRequest { limit: 10_000 }))
        .await
        .unwrap()
        .into_inner();
    tail.entries
        .iter()
        .map(|e| serde_json::from_slice(&e.json).unwrap())
        .collect()
}

// ---------- end governance helpers ----------
