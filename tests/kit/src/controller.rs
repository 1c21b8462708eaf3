//! A controller in the test process: configs, start, sign-in, requests, manifests,
//! the audit log, the city fixture; and the example config's controller on its own
//! runtime (for tests that run the `camplane` binary against it).

use camplane_config::controller::{
    ControllerConfig, EmbeddedStoreConfig, EtcdStoreConfig, StoreConfig,
};
use camplane_controller::clock::DynClock;
use camplane_controller::server::{self, Running};
use camplane_proto::v1 as pb;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// The first admin's password where the test sets it (otherwise the controller's
/// generated one is used).
pub const ADMIN_PW: &str = "test-admin-password-1";

/// The first city manager of the test configs (`auth.initial_city_manager`):
/// the second person who confirms the governing grants the tests ask for.
pub const FIRST_CITY_MANAGER: &str = "first-cm";

/// The password the first city manager is left with (its generated one-time
/// password is changed to it through `passwd`).
pub const CITY_MANAGER_PW: &str = "test-city-manager-password-1";

/// The admin [`Harness::second_admin`] adds (confirmed by the first city
/// manager) to confirm grants of `city_manager`.
pub const SECOND_ADMIN: &str = "second-admin";

/// The policy text the test configs and the example config point at.
pub fn policy_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/policy/camera-policy-summary.txt")
}

/// A controller config on the embedded store in `dir`, TLS on, any free port.
pub fn config_embedded(dir: &Path) -> ControllerConfig {
    let mut c = ControllerConfig::parse(
        "test.yaml",
        "city:\n  name: Testville\n  time_zone: America/Chicago\nlisten: 127.0.0.1:0\nstore:\n  embedded:\n    path: /x\nauth:\n  initial_admin_password_env: CAMPLANE_TEST_NO_SUCH_VAR\n",
    )
    .unwrap();
    with_governance(&mut c);
    c.store = StoreConfig {
        embedded: Some(EmbeddedStoreConfig {
            path: dir.to_path_buf(),
        }),
        etcd: None,
    };
    c
}

/// Sets what governance needs in a test config: the first city manager (its
/// password generated, as its variable is unset) and the policy text.
pub fn with_governance(c: &mut ControllerConfig) {
    c.auth.initial_city_manager = Some(FIRST_CITY_MANAGER.into());
    c.auth.initial_city_manager_password_env = "CAMPLANE_TEST_NO_SUCH_CM_VAR".into();
    c.city.policy_file = Some(policy_file());
}

/// [`config_embedded`] on etcd at `endpoint` under `prefix`.
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

/// A controller running in the test process, with a channel to it and the admin's token.
pub struct Harness {
    /// The running controller.
    pub running: Running,
    /// Stops it.
    pub cancel: CancellationToken,
    /// gRPC to it (TLS when its config has TLS on).
    pub channel: Channel,
    /// The admin's session token.
    pub admin: String,
    /// The first city manager's session token, when the config names one.
    pub city_manager: Option<String>,
    /// A second admin's token, added on first need ([`Harness::second_admin`]).
    pub second: std::sync::Arc<tokio::sync::OnceCell<String>>,
}

impl Harness {
    /// The token of a second admin (added by the first, confirmed by the first
    /// city manager), who confirms grants of `city_manager`.
    pub async fn second_admin(&self) -> String {
        self.second
            .get_or_init(|| async {
                let cm = self
                    .city_manager
                    .clone()
                    .expect("a second admin is confirmed by the first city manager");
                user_on(
                    &self.channel,
                    &self.admin,
                    SECOND_ADMIN,
                    &["admin"],
                    "information-services",
                    &Deciders {
                        city_manager: Some(cm),
                        second_admin: None,
                    },
                )
                .await
            })
            .await
            .clone()
    }

    /// Who decides this harness's governing grants (a second admin is added
    /// when `roles` asks for `city_manager`).
    pub async fn deciders(&self, roles: &[&str]) -> Deciders {
        let second_admin = if roles.contains(&"city_manager") {
            Some(self.second_admin().await)
        } else {
            None
        };
        Deciders {
            city_manager: self.city_manager.clone(),
            second_admin,
        }
    }
}

/// The second people of governing grants: the city manager's token, and a
/// second admin's (for grants of `city_manager`).
#[derive(Debug, Clone, Default)]
pub struct Deciders {
    /// Confirms grants of admin, chief and auditor.
    pub city_manager: Option<String>,
    /// Confirms grants of city_manager.
    pub second_admin: Option<String>,
}

/// Starts a controller on `config` (the system clock unless `clock`) and signs the
/// admin in: with the generated first password, else [`ADMIN_PW`].
pub async fn start(config: ControllerConfig, clock: Option<DynClock>) -> Harness {
    let cancel = CancellationToken::new();
    let clock =
        clock.unwrap_or_else(|| std::sync::Arc::new(camplane_controller::clock::SystemClock));
    let tls = config.tls.enabled;
    let mut running = server::start_with_clock(config, clock, cancel.clone())
        .await
        .expect("controller starts");
    let channel = if tls {
        channel(&running).await
    } else {
        plain_channel(&running).await
    };
    let pw = running
        .initial_password
        .clone()
        .unwrap_or_else(|| ADMIN_PW.into());
    let admin = login(&channel, "admin", &pw).await.expect("admin login");
    if let Some(generated) = running.initial_password.clone() {
        // A generated first password is one-time: change it through the real
        // `passwd` path, and keep the new one where tests sign in again from.
        let changed = format!("{generated}-changed");
        change_password(&channel, &admin, &generated, &changed)
            .await
            .expect("the admin changes its one-time password");
        running.initial_password = Some(changed);
    }
    let city_manager = match running.controller.config.auth.initial_city_manager.clone() {
        Some(cm) => match running.initial_city_manager_password.take() {
            Some(generated) => {
                let t = login(&channel, &cm, &generated)
                    .await
                    .expect("first city manager login");
                change_password(&channel, &t, &generated, CITY_MANAGER_PW)
                    .await
                    .expect("the first city manager changes its one-time password");
                Some(t)
            }
            // A store started before: signed in as it was left.
            None => login(&channel, &cm, CITY_MANAGER_PW).await.ok(),
        },
        None => None,
    };
    // A leader signs an audit checkpoint (an audit entry) as its lead begins, in
    // the background: wait for it, so tests that count entries start from a quiet log.
    if *running.leader.borrow() {
        let t = Instant::now();
        while running
            .controller
            .latest_checkpoint()
            .await
            .expect("reading the latest checkpoint")
            .is_none()
        {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "no audit checkpoint 20 s after the start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Harness {
        running,
        cancel,
        channel,
        admin,
        city_manager,
        second: Default::default(),
    }
}

/// A controller started again on the same config after its harness stopped.
pub struct Restarted {
    /// The new one.
    pub running: Running,
    /// Stops it.
    pub cancel: CancellationToken,
    /// gRPC to it.
    pub channel: Channel,
}

impl Restarted {
    /// Stops it and waits for its tasks.
    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = self.running.task.await;
    }
}

/// Stops `h`, then starts a controller on `config` again (the same store),
/// retrying while the embedded store's lock is still held by the old tasks
/// (at most 10 s). Sessions are in the store: the old tokens sign in to it.
pub async fn restart(h: Harness, config: ControllerConfig) -> Restarted {
    {
        // Everything of the old one goes at the end of this block (the
        // controller's handle in `running` holds its store).
        let Harness {
            running, cancel, ..
        } = h;
        cancel.cancel();
        let _ = running.task.await;
    }
    let cancel = CancellationToken::new();
    for _ in 0..100 {
        match server::start_with_clock(
            config.clone(),
            std::sync::Arc::new(camplane_controller::clock::SystemClock),
            cancel.clone(),
        )
        .await
        {
            Ok(running) => {
                let channel = channel(&running).await;
                return Restarted {
                    running,
                    cancel,
                    channel,
                };
            }
            Err(e) if e.to_string().contains("in use") => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await
            }
            Err(e) => panic!("controller restarts: {e}"),
        }
    }
    panic!("the old controller did not let its store go within 10 s")
}

/// A TLS channel to the controller, trusting its CA.
pub async fn channel(running: &Running) -> Channel {
    tls_channel(running.addr.port(), &running.ca_pem, None).await
}

/// A TLS channel to a controller on the loopback `port` whose CA is `ca_pem`, as an
/// agent when `identity` (certificate and key PEM) is given.
pub async fn tls_channel(port: u16, ca_pem: &str, identity: Option<(&str, &str)>) -> Channel {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca_pem));
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    Endpoint::from_shared(format!("https://127.0.0.1:{port}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect_timeout(Duration::from_secs(30))
        .connect()
        .await
        .unwrap()
}

/// A plaintext channel to a controller whose TLS is off.
pub async fn plain_channel(running: &Running) -> Channel {
    Endpoint::from_shared(format!("http://{}", running.addr))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// Signs `user` in; their session token.
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

/// `camplane passwd` as the holder of `token`: from `old` to `new`.
pub async fn change_password(
    ch: &Channel,
    token: &str,
    old: &str,
    new: &str,
) -> Result<(), tonic::Status> {
    pb::auth_client::AuthClient::new(ch.clone())
        .change_password(req(
            token,
            pb::ChangePasswordRequest {
                old_password: old.into(),
                new_password: new.into(),
            },
        ))
        .await?;
    Ok(())
}

/// The one-time password [`user`] adds `name` with (changed at once to
/// [`user_password`]).
pub fn one_time_password(name: &str) -> String {
    format!("{name}-one-time-123")
}

/// The password [`user`] leaves `name` with.
pub fn user_password(name: &str) -> String {
    format!("{name}-password-123")
}

/// A request carrying `token` as its bearer.
pub fn req<T>(token: &str, msg: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

/// Loads a hotlist as `token` the way the CLI does: `r`'s file streamed in
/// chunks through `Hotlists.Upload` (any size up to the controller's limit).
pub async fn upload_hotlist(
    ch: &Channel,
    token: &str,
    r: pb::HotlistLoadRequest,
) -> Result<tonic::Response<pb::HotlistLoadResponse>, tonic::Status> {
    pb::hotlists_client::HotlistsClient::new(ch.clone())
        .upload(req(
            token,
            tokio_stream::iter(pb::HotlistUpload::messages(r)),
        ))
        .await
}

/// Applies manifest text as `token`.
pub async fn apply(
    h: &Harness,
    token: &str,
    yaml: &str,
) -> Result<Vec<pb::ApplyResult>, tonic::Status> {
    apply_on(&h.channel, token, yaml).await
}

/// [`apply`] on any channel (a controller in another process).
pub async fn apply_on(
    ch: &Channel,
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
    Ok(pb::objects_client::ObjectsClient::new(ch.clone())
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

/// Adds a user with roles, changes their one-time password to
/// [`user_password`] through `passwd`, and returns their token. Governing
/// roles take their two steps: the admin asks, the harness's city manager (a
/// second admin for `city_manager`) confirms.
pub async fn user(h: &Harness, name: &str, roles: &[&str], department: &str) -> String {
    let deciders = h.deciders(roles).await;
    user_on(&h.channel, &h.admin, name, roles, department, &deciders).await
}

/// [`user`] on any channel, added by `admin` (a token), governing grants
/// confirmed by `deciders`.
pub async fn user_on(
    ch: &Channel,
    admin: &str,
    name: &str,
    roles: &[&str],
    department: &str,
    deciders: &Deciders,
) -> String {
    let body =
        serde_json::json!({"name": name, "spec": {"roles": roles, "department": department}});
    let one_time = one_time_password(name);
    let added = pb::users_client::UsersClient::new(ch.clone())
        .add(req(
            admin,
            pb::AddUserRequest {
                json: serde_json::to_vec(&body).unwrap(),
                password: one_time.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    confirm_grants(ch, &added.pending_grants, deciders).await;
    // The admin's password is one-time: the user changes it first, as a person
    // would, and their session then works for everything.
    let token = login(ch, name, &one_time).await.unwrap();
    change_password(ch, &token, &one_time, &user_password(name))
        .await
        .unwrap();
    token
}

/// Confirms each pending grant as its decider (`user grants confirm`).
pub async fn confirm_grants(ch: &Channel, grants: &[pb::RoleGrant], deciders: &Deciders) {
    for g in grants {
        let v: serde_json::Value = serde_json::from_slice(&g.json).unwrap();
        let by = if v["role"] == "city_manager" {
            &deciders.second_admin
        } else {
            &deciders.city_manager
        };
        let by = by
            .as_deref()
            .unwrap_or_else(|| panic!("nobody to confirm {v}"));
        decide_grant(ch, by, &g.id, true, "")
            .await
            .unwrap_or_else(|e| panic!("confirming {v}: {e}"));
    }
}

/// `camplane user grants confirm|reject ID` as `token`.
pub async fn decide_grant(
    ch: &Channel,
    token: &str,
    id: &str,
    confirm: bool,
    reason: &str,
) -> Result<serde_json::Value, tonic::Status> {
    let g = pb::users_client::UsersClient::new(ch.clone())
        .decide_grant(req(
            token,
            pb::DecideGrantRequest {
                id: id.into(),
                confirm,
                reason: reason.into(),
            },
        ))
        .await?
        .into_inner();
    Ok(serde_json::from_slice(&g.json).unwrap())
}

/// `camplane policy acknowledge` as the holder of `token` (whose password is
/// `password`): the policy shown, then acknowledged as shown.
pub async fn acknowledge_policy(
    ch: &Channel,
    token: &str,
    password: &str,
) -> Result<pb::PolicyInfo, tonic::Status> {
    let mut c = pb::users_client::UsersClient::new(ch.clone());
    let p = c.policy(req(token, pb::Empty {})).await?.into_inner();
    Ok(c.acknowledge_policy(req(
        token,
        pb::AcknowledgePolicyRequest {
            password: password.into(),
            version: p.version,
            sha256: p.sha256,
        },
    ))
    .await?
    .into_inner())
}

/// The `User` object of someone trained and certified: what ALPR searches and
/// exports ask of the person, beside their role and their own acknowledgement
/// of the policy (`policy` is the version they are to acknowledge, themselves).
pub fn qualified_user_yaml(name: &str, role: &str, department: &str, policy: &str) -> String {
    let _ = policy;
    format!(
        "kind: User\nname: {name}\nspec:\n  department: {department}\n  roles: [{role}]\n  trained_at: 2026-01-05T00:00:00Z\n  certified_until: 2099-01-01T00:00:00Z\n"
    )
}

/// [`user`] with one role, made qualified ([`qualified_user_yaml`], then the
/// user's own `policy acknowledge`) under the city's current policy; returns
/// their token.
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
    acknowledge_policy(&h.channel, &token, &user_password(name))
        .await
        .unwrap();
    token
}

/// One object's stored JSON (`{kind, name, spec, status}`).
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
                ..Default::default()
            },
        ))
        .await?
        .into_inner();
    Ok(serde_json::from_slice(&r.objects[0].json).unwrap())
}

/// Every object of `kind`, following the pages as the CLI does, and how many
/// pages came. Each reply is read with a limit of
/// [`REPLY_PAGE_BYTES`](camplane_proto::limits::REPLY_PAGE_BYTES), so one
/// larger fails here.
pub async fn list_objects(
    h: &Harness,
    token: &str,
    kind: &str,
) -> Result<(Vec<serde_json::Value>, usize), tonic::Status> {
    let mut client = pb::objects_client::ObjectsClient::new(h.channel.clone())
        .max_decoding_message_size(camplane_proto::limits::REPLY_PAGE_BYTES);
    let (mut out, mut pages, mut after) = (Vec::new(), 0, String::new());
    loop {
        let r = client
            .get(req(
                token,
                pb::GetRequest {
                    kind: kind.into(),
                    name: String::new(),
                    after: after.clone(),
                },
            ))
            .await?
            .into_inner();
        pages += 1;
        out.extend(
            r.objects
                .iter()
                .map(|o| serde_json::from_slice(&o.json).unwrap()),
        );
        if r.next_after.is_empty() {
            return Ok((out, pages));
        }
        assert!(r.next_after > after, "the pages move on");
        after = r.next_after;
    }
}

/// Acts on placement request `id` (recommend, approve, …); the request afterwards.
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

/// The written justification of an override in a test city with no streets
/// layer loaded: placement fails closed, so such a request is approved only
/// after the chief or an engineer overrides its `cannot_check` verdict.
pub const UNCHECKED: &str = "no streets layer in this test city: placement checked on site";

/// Overrides request `id`'s `cannot_check` verdict (the caller is the chief or
/// an engineer) with [`UNCHECKED`].
pub async fn override_unchecked(h: &Harness, token: &str, id: &str) {
    act(h, token, id, "override", "", UNCHECKED)
        .await
        .unwrap_or_else(|e| panic!("override of {id}: {e}"));
}

/// A camera life-cycle step (`action`) on `name`; the camera afterwards.
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

/// The audit chain's verification, as the admin.
pub async fn verify(h: &Harness) -> pb::VerifyResponse {
    pb::audit_client::AuditClient::new(h.channel.clone())
        .verify(req(&h.admin, pb::Empty {}))
        .await
        .unwrap()
        .into_inner()
}

/// Two departments, City Hall, and one camera on its placement request.
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

/// Makes `name` (an existing user added by [`user`]) a qualified ALPR operator:
/// training done, certification valid until `certified_until` (the admin's
/// apply), the current policy acknowledged (the user's own, with their password).
pub async fn qualify_operator(h: &Harness, name: &str, roles: &[&str], certified_until: &str) {
    let y = format!(
        "kind: User\nname: {name}\nspec:\n  department: police\n  roles: [{}]\n  trained_at: 2026-01-05T00:00:00Z\n  certified_until: {certified_until}\n",
        roles.join(", ")
    );
    apply(h, &h.admin, &y).await.unwrap();
    let token = login(&h.channel, name, &user_password(name)).await.unwrap();
    acknowledge_policy(&h.channel, &token, &user_password(name))
        .await
        .unwrap();
}

/// The store keys under `prefix`, in key order (read from the store).
pub async fn stored_keys(h: &Harness, prefix: &str) -> Vec<String> {
    h.running
        .controller
        .store
        .list(prefix)
        .await
        .expect("the store lists")
        .kvs
        .into_iter()
        .map(|kv| kv.key)
        .collect()
}

/// Every audit entry, oldest first, as JSON (read page by page, newest first,
/// as `audit tail` does).
pub async fn audit_log(h: &Harness) -> Vec<serde_json::Value> {
    let mut pages = Vec::new();
    let mut before = 0;
    loop {
        let page = pb::audit_client::AuditClient::new(h.channel.clone())
            .tail(req(
                &h.admin,
                pb::TailRequest {
                    limit: 1000,
                    before_seq: before,
                },
            ))
            .await
            .unwrap()
            .into_inner();
        before = page.next_before;
        let done = page.entries.is_empty() || before == 0;
        pages.push(page.entries);
        if done {
            break;
        }
    }
    pages
        .into_iter()
        .rev()
        .flatten()
        .map(|e| serde_json::from_slice(&e.json).unwrap())
        .collect()
}

/// The monthly audit report: (report.html, report.csv, entries), its chunks joined.
pub async fn audit_report(
    h: &Harness,
    token: &str,
    month: &str,
) -> Result<(Vec<u8>, Vec<u8>, u64), tonic::Status> {
    let mut s = pb::audit_reports_client::AuditReportsClient::new(h.channel.clone())
        .monthly(req(
            token,
            pb::AuditReportRequest {
                month: month.into(),
            },
        ))
        .await?
        .into_inner();
    let (mut html, mut csv, mut entries) = (Vec::new(), Vec::new(), 0);
    while let Some(c) = s.message().await? {
        entries = c.entries;
        match c.file.as_str() {
            "report.html" => html.extend_from_slice(&c.data),
            "report.csv" => csv.extend_from_slice(&c.data),
            other => panic!("unexpected report file {other:?}"),
        }
    }
    Ok((html, csv, entries))
}

/// `config/examples`.
pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/examples")
}

/// A running controller; stopped when dropped.
pub struct ExampleController {
    runtime: Option<tokio::runtime::Runtime>,
    running: Option<server::Running>,
    cancel: CancellationToken,
    /// `https://127.0.0.1:PORT`.
    pub server: String,
    /// The portal's port (`http_listen`).
    pub http_port: u16,
    /// The CA certificate the controller wrote.
    pub ca: PathBuf,
}

impl Drop for ExampleController {
    fn drop(&mut self) {
        self.cancel.cancel();
        if let Some(rt) = self.runtime.take() {
            {
                let _in_runtime = rt.enter();
                drop(self.running.take());
            }
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

/// The first city manager's password in [`start_example_controller`] (its
/// name is the example config's `auth.initial_city_manager`).
pub const EXAMPLE_CITY_MANAGER_PW: &str = "example-city-manager-password";

/// Starts the controller on `config/examples/controller-embedded.yaml` with its
/// store, CA and config under `dir`, gRPC and the portal on free ports, and the
/// given first admin password; returns once it accepts connections.
pub fn start_example_controller(dir: &Path, admin_password: &str) -> ExampleController {
    let port = crate::servers::free_port();
    let http_port = crate::servers::free_port();
    let console_port = crate::servers::free_port();
    let ca = dir.join("ca.pem");
    // Each controller of this process reads its own variable.
    let pw_env = format!("CAMPLANE_TEST_ADMIN_PASSWORD_{port}");
    std::env::set_var(&pw_env, admin_password);
    let cm_env = format!("CAMPLANE_TEST_CITY_MANAGER_PASSWORD_{port}");
    std::env::set_var(&cm_env, EXAMPLE_CITY_MANAGER_PW);
    let cfg = std::fs::read_to_string(examples().join("controller-embedded.yaml"))
        .unwrap()
        .replace(
            "/var/lib/camplane/controller",
            &dir.join("store").display().to_string(),
        )
        .replace(
            "/var/lib/camplane/keys/",
            &format!("{}/", dir.join("keys").display()),
        )
        .replace("127.0.0.1:7100", &format!("127.0.0.1:{port}"))
        .replace("127.0.0.1:7180", &format!("127.0.0.1:{http_port}"))
        .replace("127.0.0.1:7443", &format!("127.0.0.1:{console_port}"))
        .replace(
            "initial_admin_password_env: CAMPLANE_ADMIN_PASSWORD",
            &format!("initial_admin_password_env: {pw_env}"),
        )
        .replace(
            "initial_city_manager_password_env: CAMPLANE_CITY_MANAGER_PASSWORD",
            &format!("initial_city_manager_password_env: {cm_env}"),
        )
        .replace(
            "config/policy/camera-policy-summary.txt",
            &policy_file().display().to_string(),
        )
        + &format!("tls:\n  ca_cert_file: {}\n", ca.display());
    let cfg_path = dir.join("controller.yaml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let config = ControllerConfig::load(&cfg_path).expect("the example config loads");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cancel = CancellationToken::new();
    let running = runtime
        .block_on(server::start(config, cancel.clone()))
        .expect("controller starts");
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "controller did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    ExampleController {
        runtime: Some(runtime),
        running: Some(running),
        cancel,
        server: format!("https://127.0.0.1:{port}"),
        http_port,
        ca,
    }
}

/// The fleet wing over `h`'s controller, to store reports as an agent's session
/// does (`Fleet::store_report`) without an agent.
pub async fn fleet(h: &Harness) -> camplane_controller::fleet::Fleet {
    let ctl = &h.running.controller;
    camplane_controller::fleet::Fleet {
        ctl: ctl.clone(),
        pki: camplane_controller::pki::Pki::load_or_create(
            &ctl.store,
            &ctl.config.city.name,
            ctl.now(),
        )
        .await
        .expect("the controller's CA"),
        index: Default::default(),
    }
}
