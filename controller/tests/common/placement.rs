//! The placement tests' harness, shared by controller/tests/placement_online.rs and
//! cli/tests/placement.rs: a controller started in the test process (embedded store or
//! etcd, TLS), users, manifests and placement requests over gRPC, and the spec's
//! worked-example places.
#![allow(dead_code)]

use camplane_config::controller::{ControllerConfig, EmbeddedStoreConfig, StoreConfig};
use camplane_controller::server::{self, Running};
use camplane_proto::v1 as pb;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

pub const ADMIN_PW: &str = "test-admin-password-1";
pub const PW_ENV: &str = "CAMPLANE_PLACEMENT_TEST_ADMIN_PW";

/// The shared GIS data; `CAMPLANE_DATA_DIR` (holding `gis/`) overrides it.
pub fn gis_dir() -> PathBuf {
    let d = match std::env::var_os("CAMPLANE_DATA_DIR") {
        Some(d) => PathBuf::from(d).join("gis"),
        None => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/data/gis"
        )),
    };
    assert!(
        d.join("reynoldstown/streets.geojson").is_file(),
        "GIS test data is missing: expected {} (set CAMPLANE_DATA_DIR to the folder holding gis/)",
        d.display()
    );
    d
}

pub fn rt(file: &str) -> PathBuf {
    gis_dir().join("reynoldstown").join(file)
}

pub fn config(store: StoreConfig) -> ControllerConfig {
    let mut c = ControllerConfig::parse(
        "test.yaml",
        &format!("city:\n  name: Testville\n  time_zone: America/New_York\nlisten: 127.0.0.1:0\nstore:\n  embedded:\n    path: /x\nauth:\n  initial_admin_password_env: {PW_ENV}\ntls:\n  enabled: false\n"),
    )
    .unwrap();
    c.store = store;
    c
}

pub fn embedded(dir: &Path) -> StoreConfig {
    StoreConfig {
        embedded: Some(EmbeddedStoreConfig {
            path: dir.to_path_buf(),
        }),
        etcd: None,
    }
}

pub struct Harness {
    pub running: Running,
    pub cancel: CancellationToken,
    pub channel: Channel,
    pub admin: String,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

pub async fn start(store: StoreConfig) -> Harness {
    std::env::set_var(PW_ENV, ADMIN_PW);
    let cancel = CancellationToken::new();
    let running = server::start(config(store), cancel.clone())
        .await
        .expect("controller starts");
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", running.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let admin = login(&channel, "admin", ADMIN_PW)
        .await
        .expect("admin login");
    Harness {
        running,
        cancel,
        channel,
        admin,
    }
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

pub async fn user(h: &Harness, name: &str, roles: &[&str], department: &str) -> String {
    let body = json!({"name": name, "spec": {"roles": roles, "department": department}});
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

pub async fn apply(h: &Harness, token: &str, yaml: &str) -> Result<(), tonic::Status> {
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
    pb::objects_client::ObjectsClient::new(h.channel.clone())
        .apply(req(
            token,
            pb::ApplyRequest {
                objects,
                source: "test.yaml".into(),
                dry_run: false,
            },
        ))
        .await?;
    Ok(())
}
/// Submits a placement request at (lat, lon) with extra spec fields.
pub async fn submit(
    h: &Harness,
    token: &str,
    name: &str,
    lat: f64,
    lon: f64,
    extra: Value,
) -> Value {
    let mut spec = json!({
        "location": {"lat": lat, "lon": lon},
        "purpose": "property_protection",
        "justification": "break-ins",
        "funding_source": "general fund",
        "department": "police",
        "kind": "fixed",
    });
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    let r = pb::approvals_client::ApprovalsClient::new(h.channel.clone())
        .submit(req(
            token,
            pb::SubmitRequest {
                json: serde_json::to_vec(&json!({"name": name, "spec": spec})).unwrap(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    serde_json::from_slice(&r.json).unwrap()
}
pub const CITY: &str = r#"
kind: Department
name: police
spec: {display_name: Police}
---
kind: Site
name: memorial-drive
spec: {address: Memorial Dr SE, lat: 33.7466848, lon: -84.360234}
"#;

/// ex-1 of the spec: eligible by street class (Memorial Drive, 7.4 m).
pub const EX1: (f64, f64) = (33.7466848, -84.360234);
/// ex-2 of the spec: needs_review (intersecting street, residential view 0.4317).
pub const EX2: (f64, f64) = (33.7461199, -84.3590487);
