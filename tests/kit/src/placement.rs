//! The placement tests' harness (the controller's placement_online and the CLI's
//! placement tests): a controller started in the test process (embedded store or
//! etcd, plaintext gRPC), users, manifests and placement requests, and the spec's
//! worked-example places on the shared GIS data.

use crate::controller as ctl;
use camplane_config::controller::{ControllerConfig, EmbeddedStoreConfig, StoreConfig};
use camplane_proto::v1 as pb;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

pub use crate::controller::{login, req, user, ADMIN_PW};

/// The variable the first admin's password is read from.
pub const PW_ENV: &str = "CAMPLANE_PLACEMENT_TEST_ADMIN_PW";

/// The shared GIS data; `CAMPLANE_DATA_DIR` (holding `gis/`) overrides it.
pub fn gis_dir() -> PathBuf {
    let d = match std::env::var_os("CAMPLANE_DATA_DIR") {
        Some(d) => PathBuf::from(d).join("gis"),
        None => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/gis"
        )),
    };
    assert!(
        d.join("reynoldstown/streets.geojson").is_file(),
        "GIS test data is missing: expected {} (set CAMPLANE_DATA_DIR to the folder holding gis/)",
        d.display()
    );
    d
}

/// A file of the Reynoldstown layers.
pub fn rt(file: &str) -> PathBuf {
    gis_dir().join("reynoldstown").join(file)
}

/// The placement tests' controller config: plaintext, on `store`.
pub fn config(store: StoreConfig) -> ControllerConfig {
    let mut c = ControllerConfig::parse(
        "test.yaml",
        &format!("city:\n  name: Testville\n  time_zone: America/New_York\nlisten: 127.0.0.1:0\nstore:\n  embedded:\n    path: /x\nauth:\n  initial_admin_password_env: {PW_ENV}\ntls:\n  enabled: false\n"),
    )
    .unwrap();
    ctl::with_governance(&mut c);
    c.store = store;
    c
}

/// The embedded store in `dir`.
pub fn embedded(dir: &Path) -> StoreConfig {
    StoreConfig {
        embedded: Some(EmbeddedStoreConfig {
            path: dir.to_path_buf(),
        }),
        etcd: None,
    }
}

/// A [`ctl::Harness`] on plaintext gRPC that stops its controller when dropped.
pub struct Harness(ctl::Harness);

impl std::ops::Deref for Harness {
    type Target = ctl::Harness;
    fn deref(&self) -> &ctl::Harness {
        &self.0
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.0.cancel.cancel();
    }
}

/// Starts the placement tests' controller on `store`, the admin signed in with [`ADMIN_PW`].
pub async fn start(store: StoreConfig) -> Harness {
    std::env::set_var(PW_ENV, ADMIN_PW);
    Harness(ctl::start(config(store), None).await)
}

/// Applies manifest text as `token`.
pub async fn apply(h: &Harness, token: &str, yaml: &str) -> Result<(), tonic::Status> {
    ctl::apply(h, token, yaml).await.map(|_| ())
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
/// The police and the Memorial Drive site.
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
