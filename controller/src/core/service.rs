//! The controller's business logic, independent of the wire: the registry
//! (sites, departments, cameras), placement requests and their approval chain,
//! camera life cycle, users and sessions. The gRPC layer (`api`) only translates.

use crate::core::audit::{AuditLog, Draft, Verification};
use crate::core::auth::{self, Actor, Operation, Session};
use crate::core::cache::Cache;
use crate::core::clock::DynClock;
use crate::core::store::{Compare, DynStore, KeyValue, Op};
use crate::{Error, Result};
use camplane_config::controller::ControllerConfig;
use camplane_config::manifest::Spec;
use camplane_config::model::*;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// An object as stored: `{kind, name, spec, status}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredObject {
    /// Kind name (`Camera`).
    pub kind: String,
    /// Name.
    pub name: String,
    /// What users declared.
    pub spec: Value,
    /// What the controller keeps.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub status: Value,
}

impl StoredObject {
    pub(crate) fn key(kind: Kind, name: &str) -> String {
        format!("{}{name}", kind.prefix())
    }
    pub(crate) fn status_as<T: serde::de::DeserializeOwned + Default>(&self) -> T {
        serde_json::from_value(self.status.clone()).unwrap_or_default()
    }
    pub(crate) fn spec_as<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(self.spec.clone()).map_err(|e| {
            Error::Internal(format!(
                "stored {} {} does not parse: {e}",
                self.kind, self.name
            ))
        })
    }
}

/// The result of applying one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyResult {
    /// Kind.
    pub kind: Kind,
    /// Name.
    pub name: String,
    /// `created`, `configured` or `unchanged`.
    pub action: &'static str,
}

/// The controller.
pub struct Controller {
    /// The store.
    pub store: DynStore,
    /// The watch-fed cache.
    pub cache: Cache,
    /// The clock.
    pub clock: DynClock,
    /// The audit log.
    pub audit: AuditLog,
    /// The config.
    pub config: ControllerConfig,
    /// Per-object locks: writers of one object in this process take turns
    /// instead of racing (compare-and-swap still guards across replicas).
    locks: std::sync::Mutex<
        std::collections::HashMap<String, std::sync::Weak<tokio::sync::Mutex<()>>>,
    >,
    /// Placement layers and rules, built once per set of versions.
    pub placement: crate::approvals::placement::Engine,
    /// Agents connected to this controller (ALPR searches go out through it).
    pub hub: crate::alpr::search::Hub,
    /// Counters for `/metrics`.
    pub metrics: Arc<crate::core::metrics::Metrics>,
}

fn json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

impl Controller {
    /// Builds a controller over a store and starts its cache.
    pub async fn new(
        config: ControllerConfig,
        store: DynStore,
        clock: DynClock,
        cancel: CancellationToken,
    ) -> Result<Arc<Controller>> {
        let cache = Cache::start(store.clone(), cancel).await?;
        let audit = AuditLog::new(store.clone(), cache.clone(), clock.clone());
        Ok(Arc::new(Controller {
            store,
            cache,
            clock,
            audit,
            config,
            locks: Default::default(),
            placement: crate::approvals::placement::Engine::default(),
            hub: crate::alpr::search::Hub::default(),
            metrics: Default::default(),
        }))
    }

    // ---------- sign-in ----------

    /// Creates the first admin when there are no users. Returns the password when
    /// it was generated (to be shown once).
    pub async fn bootstrap_admin(&self, env_password: Option<String>) -> Result<Option<String>> {
        let users = self.store.list(Kind::User.prefix()).await?;
        if !users.kvs.is_empty() {
            return Ok(None);
        }
        let generated = env_password.is_none();
        let password = env_password.unwrap_or_else(auth::new_password);
        let name = self.config.auth.initial_admin.clone();
        let spec = UserSpec {
            display_name: "Initial administrator".into(),
            department: "information-services".into(),
            roles: vec![Role::Admin],
            trained_at: None,
            certified_until: None,
            policy_version: None,
            disabled: false,
        };
        self.create_user(&Actor::system(), &name, spec, &password)
            .await?;
        Ok(generated.then_some(password))
    }

    /// Checks a password and opens a session. Failures are audited too.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(String, Session, Vec<Role>)> {
        let user = self.load(Kind::User, username).ok();
        let hash = self
            .store
            .get(&format!("{}{username}", auth::PASSWORDS))
            .await?;
        let spec: Option<UserSpec> = user.as_ref().and_then(|u| u.spec_as().ok());
        let ok = match (&spec, &hash) {
            (Some(s), Some(h)) => {
                !s.disabled && auth::verify_password(password, &String::from_utf8_lossy(&h.value))
            }
            _ => {
                // Spend the same time as a real check, so names cannot be probed.
                let _ = auth::verify_password(password, "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2Gf6YQ2sQ5FBE0O4dCEr7b0KfLQHppTCsAhYfD9uY9c");
                false
            }
        };
        if !ok {
            let mut d = Draft::new(username, "login_failed", "User", username);
            d.result = "refused: wrong user name or password".into();
            self.audit.record(d).await?;
            return Err(Error::Unauthenticated("wrong user name or password".into()));
        }
        let spec = spec.ok_or_else(|| Error::Internal("user vanished".into()))?;
        let token = auth::new_token();
        let now = self.clock.now();
        let ttl = jiff::SignedDuration::from_mins(self.config.auth.token_ttl_minutes as i64);
        let session = Session {
            username: username.into(),
            created_at: now,
            expires_at: now.checked_add(ttl).unwrap_or(now),
        };
        let key = auth::session_key(&token);
        let mut d = Draft::new(username, "login", "User", username);
        d.details = serde_json::json!({"expires_at": session.expires_at});
        self.audit
            .commit(vec![], vec![Op::Put(key, serde_json::to_vec(&session)?)], d)
            .await?;
        Ok((token, session, spec.roles))
    }

    /// Resolves a bearer token to its user, with the user's current roles.
    pub async fn authenticate(&self, token: &str) -> Result<Actor> {
        // A session opened on another replica a moment ago is found too.
        let kv = self
            .read_through(&auth::session_key(token))
            .await?
            .ok_or_else(|| {
                Error::Unauthenticated("unknown or revoked token; run `camplane login`".into())
            })?;
        let s: Session = serde_json::from_slice(&kv.value)?;
        if s.expires_at <= self.clock.now() {
            return Err(Error::Unauthenticated(
                "token expired; run `camplane login`".into(),
            ));
        }
        let kv = self
            .read_through(&StoredObject::key(Kind::User, &s.username))
            .await?
            .ok_or_else(|| Error::Unauthenticated("user no longer exists".into()))?;
        let user: StoredObject = serde_json::from_slice(&kv.value)?;
        let spec: UserSpec = user.spec_as()?;
        if spec.disabled {
            return Err(Error::Unauthenticated("user is disabled".into()));
        }
        Ok(Actor {
            username: s.username,
            roles: spec.roles,
            department: spec.department,
        })
    }

    /// Ends a session.
    pub async fn logout(&self, token: &str, actor: &Actor) -> Result<()> {
        let d = Draft::new(&actor.username, "logout", "User", &actor.username);
        self.audit
            .commit(vec![], vec![Op::Delete(auth::session_key(token))], d)
            .await?;
        Ok(())
    }

    /// Refuses (and audits the refusal) unless the actor may perform `op`.
    pub async fn require(&self, actor: &Actor, op: Operation, what: &str) -> Result<()> {
        if op.allows(actor) {
            return Ok(());
        }
        let roles: Vec<&str> = op.roles().iter().map(|r| r.as_str()).collect();
        let msg = format!("{what} needs one of the roles {}", roles.join(", "));
        let mut d = Draft::new(&actor.username, what, "", "");
        d.result = format!("denied: {msg}");
        self.audit.record(d).await?;
        Err(Error::PermissionDenied(msg))
    }

    // ---------- generic objects ----------

    async fn lock(&self, kind: Kind, name: &str) -> tokio::sync::OwnedMutexGuard<()> {
        self.lock_key(&StoredObject::key(kind, name)).await
    }

    /// Takes this process's turn on a store key (see `locks`).
    pub(crate) async fn lock_key(&self, key: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let key = key.to_string();
        let m = {
            let mut g = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            if g.len() > 4096 {
                g.retain(|_, w| w.strong_count() > 0);
            }
            match g.get(&key).and_then(|w| w.upgrade()) {
                Some(m) => m,
                None => {
                    let m = Arc::new(tokio::sync::Mutex::new(()));
                    g.insert(key, Arc::downgrade(&m));
                    m
                }
            }
        };
        m.lock_owned().await
    }

    pub(crate) fn load(&self, kind: Kind, name: &str) -> Result<StoredObject> {
        let kv = self
            .cache
            .get(&StoredObject::key(kind, name))
            .ok_or_else(|| Error::NotFound(format!("{kind} {name:?}")))?;
        Ok(serde_json::from_slice(&kv.value)?)
    }

    pub(crate) fn load_kv(
        &self,
        kind: Kind,
        name: &str,
    ) -> Result<Option<(StoredObject, KeyValue)>> {
        match self.cache.get(&StoredObject::key(kind, name)) {
            Some(kv) => Ok(Some((serde_json::from_slice(&kv.value)?, kv))),
            None => Ok(None),
        }
    }

    /// Re-reads a key from the store itself (after a compare failed on a stale cache),
    /// noting it in the cache.
    pub(crate) async fn refresh(&self, key: &str) -> Result<Option<KeyValue>> {
        let kv = self.store.get(key).await?;
        if let Some(kv) = &kv {
            self.cache
                .note_put(key, kv.value.to_vec(), kv.create_revision, kv.mod_revision)
        }
        Ok(kv)
    }

    /// A key from the cache or, when the cache lacks it, from the store itself: what
    /// another replica wrote a moment ago may not have reached this one's cache yet
    /// (its watch lags, or is moving to another etcd member), and "not found" must
    /// not be said of something that exists.
    pub(crate) async fn read_through(&self, key: &str) -> Result<Option<KeyValue>> {
        match self.cache.get(key) {
            Some(kv) => Ok(Some(kv)),
            None => self.refresh(key).await,
        }
    }

    /// Lists the objects of a kind.
    pub fn list(&self, kind: Kind) -> Result<Vec<(StoredObject, i64)>> {
        self.cache
            .list(kind.prefix())
            .into_iter()
            .map(|kv| Ok((serde_json::from_slice(&kv.value)?, kv.mod_revision)))
            .collect()
    }

    /// Reads one object.
    pub async fn get(&self, actor: &Actor, kind: Kind, name: &str) -> Result<(StoredObject, i64)> {
        let op = if kind == Kind::User {
            Operation::ReadUsers
        } else {
            Operation::ReadObjects
        };
        self.require(actor, op, "get").await?;
        let kv = self
            .read_through(&StoredObject::key(kind, name))
            .await?
            .ok_or_else(|| Error::NotFound(format!("{kind} {name:?}")))?;
        Ok((serde_json::from_slice(&kv.value)?, kv.mod_revision))
    }

    /// Reads one object as its stored JSON bytes (no parse, no re-encode: the hot
    /// read path of the API).
    pub async fn get_raw(&self, actor: &Actor, kind: Kind, name: &str) -> Result<KeyValue> {
        let op = if kind == Kind::User {
            Operation::ReadUsers
        } else {
            Operation::ReadObjects
        };
        self.require(actor, op, "get").await?;
        self.read_through(&StoredObject::key(kind, name))
            .await?
            .ok_or_else(|| Error::NotFound(format!("{kind} {name:?}")))
    }

    /// Lists objects, checking the role.
    pub async fn get_all(&self, actor: &Actor, kind: Kind) -> Result<Vec<(StoredObject, i64)>> {
        let op = if kind == Kind::User {
            Operation::ReadUsers
        } else {
            Operation::ReadObjects
        };
        self.require(actor, op, "get").await?;
        self.list(kind)
    }

    /// Writes `new` over whatever is at its key (compare on `prev_rev`), with an
    /// audit entry. `Ok(false)` when the compare failed.
    pub(crate) async fn write(
        &self,
        actor: &Actor,
        action: &str,
        before: Option<&StoredObject>,
        new: &StoredObject,
        prev_rev: i64,
        details: Value,
    ) -> Result<bool> {
        let kind = Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == new.kind)
            .ok_or_else(|| Error::Internal("kind".into()))?;
        let key = StoredObject::key(kind, &new.name);
        let mut d = Draft::new(&actor.username, action, &new.kind, &new.name);
        d.before = before.map(json);
        d.after = Some(json(new));
        d.details = details;
        let done = self
            .audit
            .commit(
                vec![Compare::ModRevision(key.clone(), prev_rev)],
                vec![Op::Put(key.clone(), serde_json::to_vec(new)?)],
                d,
            )
            .await?;
        if done.is_none() {
            self.refresh(&key).await?;
        }
        Ok(done.is_some())
    }

    /// Applies objects declaratively (like `kubectl apply`): all are validated
    /// first, including references between them, and nothing is written if any is
    /// invalid. Applying the same objects again changes nothing.
    pub async fn apply(
        &self,
        actor: &Actor,
        items: Vec<(Kind, String, Vec<u8>)>,
        source: &str,
    ) -> Result<Vec<ApplyResult>> {
        let mut specs = Vec::new();
        let mut problems = Vec::new();
        for (i, (kind, name, json)) in items.iter().enumerate() {
            let at = format!("{source}: object {} ({kind} {name:?})", i + 1);
            if !valid_name(name) {
                problems.push(format!("{at}: name: not a valid name"));
                continue;
            }
            match Spec::from_json(*kind, json) {
                Ok(spec) => {
                    for (path, msg) in spec.validate() {
                        problems.push(format!("{at}: {path}: {msg}"));
                    }
                    specs.push((name.clone(), spec));
                }
                Err(e) => problems.push(format!("{at}: spec: {e}")),
            }
        }
        // Roles: one check per kind present.
        for kind in Kind::ALL {
            if specs.iter().any(|(_, s)| s.kind() == kind) {
                let op = match kind {
                    Kind::PlacementRequest => Operation::SubmitRequest,
                    Kind::User => Operation::ManageUsers,
                    _ => Operation::WriteRegistry,
                };
                self.require(actor, op, &format!("apply {kind}")).await?;
            }
        }
        // References must exist, in the store or in this same apply.
        let exists = |kind: Kind, name: &str| {
            self.cache.get(&StoredObject::key(kind, name)).is_some()
                || specs.iter().any(|(n, s)| s.kind() == kind && n == name)
        };
        for (name, spec) in &specs {
            let mut refs: Vec<(&str, Kind, &str)> = Vec::new();
            match spec {
                Spec::Camera(c) => {
                    refs.push(("spec.site", Kind::Site, &c.site));
                    refs.push(("spec.department", Kind::Department, &c.department));
                    if let Some(a) = &c.agent {
                        refs.push(("spec.agent", Kind::Agent, a));
                    }
                    if let Some(r) = &c.placement_request {
                        refs.push(("spec.placement_request", Kind::PlacementRequest, r));
                    }
                }
                Spec::Agent(a) => refs.push(("spec.site", Kind::Site, &a.site)),
                Spec::LegalHold(_) => problems.push(format!(
                    "{source}: LegalHold {name:?}: place holds with `camplane hold create` (it checks who may place them)"
                )),
                Spec::PlacementRequest(r) => {
                    refs.push(("spec.department", Kind::Department, &r.department));
                    if actor.has(Role::DeptManager)
                        && !actor.has(Role::Admin)
                        && r.department != actor.department
                    {
                        problems.push(format!("{source}: PlacementRequest {name:?}: a department manager submits for their own department ({})", actor.department));
                    }
                }
                Spec::User(_)
                    if self
                        .cache
                        .get(&StoredObject::key(Kind::User, name))
                        .is_none()
                    => {
                        problems.push(format!("{source}: User {name:?}: create users with `camplane user add` (it sets the password); apply updates existing users"));
                    }
                _ => {}
            }
            for (path, kind, target) in refs {
                if !exists(kind, target) {
                    problems.push(format!(
                        "{source}: {} {name:?}: {path}: {kind} {target:?} does not exist",
                        spec.kind()
                    ));
                }
            }
        }
        if !problems.is_empty() {
            return Err(Error::InvalidArgument(problems.join("\n")));
        }
        let mut out = Vec::new();
        for (name, spec) in specs {
            let action = self.apply_one(actor, &name, &spec, source).await?;
            out.push(ApplyResult {
                kind: spec.kind(),
                name,
                action,
            });
        }
        Ok(out)
    }

    async fn apply_one(
        &self,
        actor: &Actor,
        name: &str,
        spec: &Spec,
        source: &str,
    ) -> Result<&'static str> {
        let kind = spec.kind();
        let spec_json = spec.to_json();
        let _turn = self.lock(kind, name).await;
        for _ in 0..16 {
            let now = self.clock.now();
            let existing = self.load_kv(kind, name)?;
            let (new, prev_rev, before, action) = match &existing {
                Some((old, _)) if old.spec == spec_json => return Ok("unchanged"),
                Some((old, kv)) => {
                    let mut new = old.clone();
                    new.spec = spec_json.clone();
                    match spec {
                        Spec::Camera(c) => {
                            let mut st: CameraStatus = old.status_as();
                            let old_spec: CameraSpec = old.spec_as()?;
                            if old_spec.location != c.location {
                                if let Some(last) = st.location_history.last_mut() {
                                    last.until = Some(now);
                                }
                                st.location_history.push(LocationRecord {
                                    location: c.location,
                                    from: now,
                                    until: None,
                                });
                            }
                            new.status = json(&st);
                        }
                        Spec::PlacementRequest(r) => {
                            let mut st: PlacementRequestStatus = old.status_as();
                            if st.state != RequestState::Submitted {
                                return Err(Error::FailedPrecondition(format!(
                                    "PlacementRequest {name:?} is {:?}: its spec cannot change after review started; submit a new request",
                                    st.state
                                )));
                            }
                            // A changed placement gets a fresh verdict; an override
                            // justified the old one only.
                            st.verdict = Some(self.placement_verdict(name, r).await);
                            st.steps.retain(|s| s.action != "override");
                            new.status = json(&st);
                        }
                        _ => {}
                    }
                    (new, kv.mod_revision, Some(old.clone()), "configured")
                }
                None => {
                    let status = match spec {
                        Spec::Camera(c) => {
                            let approved = c
                                .placement_request
                                .as_deref()
                                .is_some_and(|r| self.request_approved_for(r, name, c).is_ok());
                            json(&CameraStatus {
                                state: if approved {
                                    CameraState::Approved
                                } else {
                                    CameraState::Proposed
                                },
                                state_since: Some(now),
                                reason: None,
                                location_history: vec![LocationRecord {
                                    location: c.location,
                                    from: now,
                                    until: None,
                                }],
                                non_operational_since: None,
                            })
                        }
                        Spec::PlacementRequest(r) => json(&PlacementRequestStatus {
                            state: RequestState::Submitted,
                            submitted_by: actor.username.clone(),
                            submitted_at: Some(now),
                            steps: vec![],
                            verdict: Some(self.placement_verdict(name, r).await),
                        }),
                        _ => Value::Null,
                    };
                    (
                        StoredObject {
                            kind: kind.as_str().into(),
                            name: name.into(),
                            spec: spec_json.clone(),
                            status,
                        },
                        0,
                        None,
                        "created",
                    )
                }
            };
            if self
                .write(
                    actor,
                    "apply",
                    before.as_ref(),
                    &new,
                    prev_rev,
                    serde_json::json!({"source": source, "action": action}),
                )
                .await?
            {
                return Ok(action);
            }
        }
        Err(Error::Conflict(format!(
            "{kind} {name:?} kept changing; try again"
        )))
    }

    /// Deletes an object. Active cameras must be retired first, and requests are
    /// records of decisions: they are never deleted.
    pub async fn delete(&self, actor: &Actor, kind: Kind, name: &str) -> Result<()> {
        self.require(
            actor,
            if kind == Kind::User {
                Operation::ManageUsers
            } else {
                Operation::WriteRegistry
            },
            "delete",
        )
        .await?;
        if kind == Kind::PlacementRequest {
            return Err(Error::FailedPrecondition(
                "placement requests are records of decisions and are kept; deny or reject instead"
                    .into(),
            ));
        }
        let key = StoredObject::key(kind, name);
        let _turn = self.lock(kind, name).await;
        for _ in 0..16 {
            let (old, kv) = self
                .load_kv(kind, name)?
                .ok_or_else(|| Error::NotFound(format!("{kind} {name:?}")))?;
            if kind == Kind::Camera {
                let st: CameraStatus = old.status_as();
                if st.state == CameraState::Active {
                    return Err(Error::FailedPrecondition(format!(
                        "camera {name:?} is active: suspend or retire it first"
                    )));
                }
            }
            if kind == Kind::Site || kind == Kind::Department {
                let field = if kind == Kind::Site {
                    "site"
                } else {
                    "department"
                };
                let users: Vec<String> = self
                    .list(Kind::Camera)?
                    .into_iter()
                    .filter(|(c, _)| c.spec.get(field).and_then(|v| v.as_str()) == Some(name))
                    .map(|(c, _)| c.name)
                    .collect();
                if !users.is_empty() {
                    return Err(Error::FailedPrecondition(format!(
                        "{kind} {name:?} still has cameras: {}",
                        users.join(", ")
                    )));
                }
            }
            let mut d = Draft::new(&actor.username, "delete", kind.as_str(), name);
            d.before = Some(json(&old));
            let mut ops = vec![Op::Delete(key.clone())];
            if kind == Kind::User {
                ops.push(Op::Delete(format!("{}{name}", auth::PASSWORDS)));
            }
            if self
                .audit
                .commit(
                    vec![Compare::ModRevision(key.clone(), kv.mod_revision)],
                    ops,
                    d,
                )
                .await?
                .is_some()
            {
                return Ok(());
            }
            self.refresh(&key).await?;
        }
        Err(Error::Conflict(format!(
            "{kind} {name:?} kept changing; try again"
        )))
    }

    // ---------- placement requests ----------

    /// Submits a placement request (a new one; its name is generated when empty).
    pub async fn submit_request(
        &self,
        actor: &Actor,
        name: &str,
        spec: PlacementRequestSpec,
    ) -> Result<StoredObject> {
        let name = if name.is_empty() {
            format!(
                "req-{}-{}",
                self.clock.now().strftime("%Y%m%d"),
                hex::encode(rand::random::<[u8; 3]>())
            )
        } else {
            name.to_string()
        };
        if self
            .cache
            .get(&StoredObject::key(Kind::PlacementRequest, &name))
            .is_some()
        {
            return Err(Error::AlreadyExists(format!("PlacementRequest {name:?}")));
        }
        let json = serde_json::to_vec(&spec)?;
        self.apply(
            actor,
            vec![(Kind::PlacementRequest, name.clone(), json)],
            "request submit",
        )
        .await?;
        self.load(Kind::PlacementRequest, &name)
    }

    /// Takes one step of the approval chain:
    /// submitted → (dept_manager) dept_recommended → (chief and/or admin as IS)
    /// reviewed → (city_manager) approved | denied. Rejections end the request.
    /// Steps cannot be skipped or repeated, and only the right role takes each.
    pub async fn act_on_request(
        &self,
        actor: &Actor,
        id: &str,
        action: &str,
        role: Option<Role>,
        comment: &str,
    ) -> Result<StoredObject> {
        let _turn = self.lock(Kind::PlacementRequest, id).await;
        if action == "override" {
            return self.override_verdict(actor, id, role, comment).await;
        }
        for _ in 0..16 {
            let (old, kv) = self
                .load_kv(Kind::PlacementRequest, id)?
                .ok_or_else(|| Error::NotFound(format!("PlacementRequest {id:?}")))?;
            let spec: PlacementRequestSpec = old.spec_as()?;
            let mut st: PlacementRequestStatus = old.status_as();
            let (op, allowed_actions): (Operation, &[&str]) = match st.state {
                RequestState::Submitted => (Operation::DeptReview, &["recommend", "reject"]),
                RequestState::DeptRecommended => {
                    (Operation::ChiefOrIsReview, &["recommend", "reject"])
                }
                RequestState::Reviewed => {
                    if action == "recommend" || action == "reject" {
                        (Operation::ChiefOrIsReview, &["recommend", "reject"])
                    } else {
                        (Operation::CityManagerDecision, &["approve", "deny"])
                    }
                }
                RequestState::Approved | RequestState::Denied | RequestState::Rejected => {
                    return Err(Error::FailedPrecondition(
                        format!("request {id} is already {:?}: no further steps", st.state)
                            .to_lowercase(),
                    ))
                }
            };
            if !allowed_actions.contains(&action) {
                let need = match st.state {
                    RequestState::Submitted => "the department manager's recommend or reject",
                    RequestState::DeptRecommended => {
                        "the Chief of Police's or Information Services' recommend or reject"
                    }
                    _ => "the City Manager's approve or deny",
                };
                return Err(Error::FailedPrecondition(format!(
                    "request {id} is {}: the next step is {need}, not {action:?}",
                    state_name(st.state)
                )));
            }
            // Which role does the actor act as?
            let candidates: Vec<Role> = op
                .roles()
                .iter()
                .copied()
                .filter(|r| actor.has(*r))
                .collect();
            let role = match role {
                Some(r) if candidates.contains(&r) => r,
                Some(r) => {
                    self.require(
                        &Actor {
                            roles: vec![r],
                            ..actor.clone()
                        },
                        op,
                        &format!("request.{action}"),
                    )
                    .await?;
                    return Err(Error::PermissionDenied(format!(
                        "you do not hold the role {r}"
                    )));
                }
                None => match candidates.first() {
                    Some(r) => *r,
                    None => {
                        self.require(actor, op, &format!("request.{action}"))
                            .await?;
                        unreachable_err()?
                    }
                },
            };
            if role == Role::DeptManager && actor.department != spec.department {
                let msg = format!(
                    "only the manager of department {:?} reviews this request",
                    spec.department
                );
                let mut d = Draft::new(
                    &actor.username,
                    &format!("request.{action}"),
                    "PlacementRequest",
                    id,
                );
                d.result = format!("denied: {msg}");
                self.audit.record(d).await?;
                return Err(Error::PermissionDenied(msg));
            }
            if st.state == RequestState::Reviewed && matches!(action, "recommend" | "reject") {
                // "Chief of Police and/or Information Services": the other one may add
                // a review before the City Manager decides, but nobody reviews twice.
                if st
                    .steps
                    .iter()
                    .any(|s| s.role == role && s.action == "recommend")
                {
                    return Err(Error::FailedPrecondition(format!(
                        "request {id} was already reviewed as {role}"
                    )));
                }
            }
            if action == "approve" {
                crate::approvals::placement::approval_gate(id, &st)?;
            }
            if comment.trim().is_empty() && matches!(action, "reject" | "deny") {
                return Err(Error::InvalidArgument(format!(
                    "a {action} needs a comment saying why"
                )));
            }
            st.steps.push(ApprovalStep {
                action: action.into(),
                role,
                actor: actor.username.clone(),
                at: self.clock.now(),
                comment: comment.into(),
            });
            st.state = match (st.state, action) {
                (_, "reject") => RequestState::Rejected,
                (RequestState::Submitted, "recommend") => RequestState::DeptRecommended,
                (RequestState::DeptRecommended, "recommend")
                | (RequestState::Reviewed, "recommend") => RequestState::Reviewed,
                (RequestState::Reviewed, "approve") => RequestState::Approved,
                (RequestState::Reviewed, "deny") => RequestState::Denied,
                (s, _) => s,
            };
            let mut new = old.clone();
            new.status = json(&st);
            if self
                .write(
                    actor,
                    &format!("request.{action}"),
                    Some(&old),
                    &new,
                    kv.mod_revision,
                    serde_json::json!({"role": role, "comment": comment}),
                )
                .await?
            {
                if st.state == RequestState::Approved {
                    self.mark_cameras_approved(actor, id).await?;
                }
                return Ok(new);
            }
        }
        Err(Error::Conflict(format!(
            "request {id} kept changing; try again"
        )))
    }

    /// Cameras waiting on an approved request move from proposed to approved.
    async fn mark_cameras_approved(&self, actor: &Actor, request: &str) -> Result<()> {
        for (cam, rev) in self.list(Kind::Camera)? {
            let spec: CameraSpec = cam.spec_as()?;
            let mut st: CameraStatus = cam.status_as();
            if spec.placement_request.as_deref() == Some(request)
                && st.state == CameraState::Proposed
                && self.request_approved_for(request, &cam.name, &spec).is_ok()
            {
                st.state = CameraState::Approved;
                st.state_since = Some(self.clock.now());
                let mut new = cam.clone();
                new.status = json(&st);
                self.write(
                    actor,
                    "camera.approved",
                    Some(&cam),
                    &new,
                    rev,
                    serde_json::json!({"request": request}),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Checks that `request` is approved and covers this camera.
    fn request_approved_for(&self, request: &str, camera: &str, spec: &CameraSpec) -> Result<()> {
        let r = self.load(Kind::PlacementRequest, request)?;
        let rs: PlacementRequestSpec = r.spec_as()?;
        let st: PlacementRequestStatus = r.status_as();
        if st.state != RequestState::Approved {
            return Err(Error::FailedPrecondition(format!(
                "placement request {request} is {}, not approved by the City Manager",
                state_name(st.state)
            )));
        }
        if let Some(c) = &rs.camera {
            if c != camera {
                return Err(Error::FailedPrecondition(format!(
                    "placement request {request} is for camera {c:?}, not {camera:?}"
                )));
            }
        }
        if rs.purpose != spec.purpose || rs.kind != spec.kind {
            return Err(Error::FailedPrecondition(format!(
                "placement request {request} approved a {:?} {:?} camera; this one is {:?} {:?}",
                rs.kind, rs.purpose, spec.kind, spec.purpose
            )));
        }
        Ok(())
    }

    // ---------- cameras ----------

    /// Activates, suspends or retires a camera. Activation needs an approved
    /// placement request (the policy's purchasing gate) and, for a temporary
    /// camera, being inside its special-event window.
    pub async fn camera_transition(
        &self,
        actor: &Actor,
        name: &str,
        action: &str,
        reason: &str,
    ) -> Result<StoredObject> {
        self.require(
            actor,
            Operation::CameraLifecycle,
            &format!("camera.{action}"),
        )
        .await?;
        let _turn = self.lock(Kind::Camera, name).await;
        for _ in 0..16 {
            let (old, kv) = self
                .load_kv(Kind::Camera, name)?
                .ok_or_else(|| Error::NotFound(format!("Camera {name:?}")))?;
            let spec: CameraSpec = old.spec_as()?;
            let mut st: CameraStatus = old.status_as();
            let now = self.clock.now();
            let target = match action {
                "activate" => {
                    if st.state == CameraState::Retired {
                        return Err(Error::FailedPrecondition(format!(
                            "camera {name} is retired"
                        )));
                    }
                    if st.state == CameraState::Active {
                        return Ok(old);
                    }
                    let req = spec.placement_request.as_deref().ok_or_else(|| {
                        Error::FailedPrecondition(format!("camera {name} has no placement request: set spec.placement_request to an approved request"))
                    })?;
                    self.request_approved_for(req, name, &spec)?;
                    if let Some(ev) = &spec.special_event {
                        if now < ev.from || now >= ev.until {
                            return Err(Error::FailedPrecondition(format!(
                                "camera {name} is temporary for {:?}: it may be active only from {} until {}",
                                ev.event, ev.from, ev.until
                            )));
                        }
                    }
                    CameraState::Active
                }
                "suspend" => {
                    if st.state != CameraState::Active {
                        return Err(Error::FailedPrecondition(
                            format!("camera {name} is {:?}, not active", st.state).to_lowercase(),
                        ));
                    }
                    CameraState::Suspended
                }
                "retire" => {
                    if st.state == CameraState::Retired {
                        return Ok(old);
                    }
                    CameraState::Retired
                }
                other => {
                    return Err(Error::InvalidArgument(format!(
                        "unknown camera action {other:?} (activate, suspend, retire)"
                    )))
                }
            };
            st.state = target;
            st.state_since = Some(now);
            st.reason = (!reason.is_empty()).then(|| reason.to_string());
            let mut new = old.clone();
            new.status = json(&st);
            if self
                .write(
                    actor,
                    &format!("camera.{action}"),
                    Some(&old),
                    &new,
                    kv.mod_revision,
                    serde_json::json!({"reason": reason}),
                )
                .await?
            {
                return Ok(new);
            }
        }
        Err(Error::Conflict(format!(
            "camera {name} kept changing; try again"
        )))
    }

    /// Level-triggered housekeeping, safe to run again and again and on several
    /// controllers at once (every write is a compare-and-swap): temporary cameras
    /// leave `active` at their end time.
    pub async fn reconcile(&self) -> Result<usize> {
        let now = self.clock.now();
        let mut changed = 0;
        // Runs every second over every camera: only temporary cameras are parsed.
        for kv in self.cache.list(Kind::Camera.prefix()) {
            if !kv.value.windows(15).any(|w| w == b"\"special_event\"") {
                continue;
            }
            let cam: StoredObject = serde_json::from_slice(&kv.value)?;
            let rev = kv.mod_revision;
            let spec: CameraSpec = cam.spec_as()?;
            let mut st: CameraStatus = cam.status_as();
            let Some(ev) = &spec.special_event else {
                continue;
            };
            if st.state == CameraState::Active && now >= ev.until {
                st.state = CameraState::Suspended;
                st.state_since = Some(now);
                st.reason = Some(format!(
                    "special event {:?} ended at {}",
                    ev.event, ev.until
                ));
                let mut new = cam.clone();
                new.status = json(&st);
                if self
                    .write(
                        &Actor::system(),
                        "camera.special_event_ended",
                        Some(&cam),
                        &new,
                        rev,
                        Value::Null,
                    )
                    .await?
                {
                    changed += 1;
                }
            }
        }
        Ok(changed)
    }

    /// Runs [`Controller::reconcile`] every `every` until cancelled.
    pub async fn run_reconciler(
        self: Arc<Self>,
        every: std::time::Duration,
        leader: crate::core::leader::Leadership,
        cancel: CancellationToken,
    ) {
        let mut ticks = 0u64;
        loop {
            if !*leader.borrow() {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(every) => {}
                }
                continue;
            }
            if let Err(e) = self.reconcile().await {
                self.metrics
                    .reconcile_errors
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(error = %e, "reconcile failed; will retry");
            }
            // The 7-day rule reads every agent's health: once a minute is plenty.
            if ticks.is_multiple_of(60) {
                if let Err(e) = self.flag_non_operational().await {
                    tracing::warn!(error = %e, "non-operational check failed; will retry");
                }
            }
            // ALPR alerts past 30 days (unless held), old report keys.
            if ticks.is_multiple_of(300) {
                if let Err(e) = self.sweep_retention().await {
                    tracing::warn!(error = %e, "controller retention sweep failed; will retry");
                }
            }
            // Months that are over and changed since they were published.
            if ticks.is_multiple_of(5) {
                if let Err(e) = self.publish_due().await {
                    self.metrics
                        .publish_errors
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(error = %e, "publishing the public log failed; will retry");
                }
            }
            ticks += 1;
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }

    // ---------- legal holds ----------

    /// Places a legal hold. The Chief of Police places holds for criminal
    /// investigations and court proceedings, the City Manager for other bona fide
    /// uses; the case number must match the city's format.
    pub async fn create_hold(&self, actor: &Actor, spec: LegalHoldSpec) -> Result<StoredObject> {
        let need = match spec.reason {
            HoldReason::CriminalInvestigation | HoldReason::Court => Operation::HoldForCase,
            HoldReason::CityManagerApproved => Operation::HoldCityManager,
        };
        self.require(actor, need, "hold.create").await?;
        let re = regex::Regex::new(&self.config.city.case_number_format)
            .map_err(|e| Error::Internal(format!("case number format: {e}")))?;
        if spec.case_number.len() > 64 || !re.is_match(&spec.case_number) {
            return Err(Error::InvalidArgument(format!(
                "case number {:?} does not match the city's format {}",
                spec.case_number.chars().take(64).collect::<String>(),
                self.config.city.case_number_format
            )));
        }
        let problems = Spec::LegalHold(Box::new(spec.clone())).validate();
        if !problems.is_empty() {
            return Err(Error::InvalidArgument(
                problems
                    .into_iter()
                    .map(|(p, m)| format!("{p}: {m}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            ));
        }
        for c in &spec.cameras {
            if self.load(Kind::Camera, c).is_err() {
                return Err(Error::InvalidArgument(format!(
                    "camera {c:?} does not exist"
                )));
            }
        }
        let name = format!(
            "hold-{}-{}",
            spec.case_number
                .to_ascii_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "-"),
            hex::encode(rand::random::<[u8; 3]>())
        );
        let obj = StoredObject {
            kind: Kind::LegalHold.as_str().into(),
            name: name.clone(),
            spec: json(&spec),
            status: json(&LegalHoldStatus {
                placed_by: actor.username.clone(),
                placed_at: Some(self.clock.now()),
                released_by: None,
                released_at: None,
            }),
        };
        if !self
            .write(
                actor,
                "hold.create",
                None,
                &obj,
                0,
                serde_json::json!({"case_number": spec.case_number, "reason": spec.reason}),
            )
            .await?
        {
            return Err(Error::Conflict("hold name collision; try again".into()));
        }
        Ok(obj)
    }

    /// Releases a hold: what it kept becomes eligible for deletion at the next sweep.
    pub async fn release_hold(&self, actor: &Actor, name: &str) -> Result<StoredObject> {
        let _turn = self.lock(Kind::LegalHold, name).await;
        for _ in 0..16 {
            let (old, kv) = self
                .load_kv(Kind::LegalHold, name)?
                .ok_or_else(|| Error::NotFound(format!("LegalHold {name:?}")))?;
            let spec: LegalHoldSpec = old.spec_as()?;
            let need = match spec.reason {
                HoldReason::CriminalInvestigation | HoldReason::Court => Operation::HoldForCase,
                HoldReason::CityManagerApproved => Operation::HoldCityManager,
            };
            self.require(actor, need, "hold.release").await?;
            let mut st: LegalHoldStatus = old.status_as();
            if st.released_at.is_some() {
                return Ok(old);
            }
            st.released_at = Some(self.clock.now());
            st.released_by = Some(actor.username.clone());
            let mut new = old.clone();
            new.status = json(&st);
            if self
                .write(
                    actor,
                    "hold.release",
                    Some(&old),
                    &new,
                    kv.mod_revision,
                    serde_json::json!({"case_number": spec.case_number}),
                )
                .await?
            {
                return Ok(new);
            }
        }
        Err(Error::Conflict(format!(
            "hold {name} kept changing; try again"
        )))
    }

    /// Holds in force (not released).
    pub fn active_holds(&self) -> Result<Vec<LegalHoldSpec>> {
        let mut out = Vec::new();
        for (h, _) in self.list(Kind::LegalHold)? {
            let st: LegalHoldStatus = h.status_as();
            if st.released_at.is_none() {
                out.push(h.spec_as()?);
            }
        }
        Ok(out)
    }

    // ---------- dummy cameras ----------

    /// Flags active cameras that delivered no video for 7 days (and clears the flag
    /// when video returns). The last video time comes from the agents' health
    /// reports; a camera never heard from counts from its activation.
    pub async fn flag_non_operational(&self) -> Result<usize> {
        let now = self.clock.now();
        let mut last_video: std::collections::HashMap<String, Timestamp> = Default::default();
        for kv in self.store.list(crate::fleet::HEALTH).await?.kvs {
            let Ok(h) = serde_json::from_slice::<Value>(&kv.value) else {
                continue;
            };
            for c in h["health"]["cameras"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                let (Some(id), Some(t)) = (
                    c["id"].as_str(),
                    c["last_packet"]
                        .as_str()
                        .and_then(|t| t.parse::<Timestamp>().ok()),
                ) else {
                    continue;
                };
                let e = last_video.entry(id.to_string()).or_insert(t);
                if t > *e {
                    *e = t;
                }
            }
        }
        let limit = jiff::SignedDuration::from_hours(24 * 7);
        let mut changed = 0;
        for (cam, rev) in self.list(Kind::Camera)? {
            let mut st: CameraStatus = cam.status_as();
            if st.state != CameraState::Active {
                continue;
            }
            let since = st.state_since.unwrap_or(now);
            let last = last_video
                .get(&cam.name)
                .copied()
                .map(|t| t.max(since))
                .unwrap_or(since);
            let dead = now.duration_since(last) >= limit;
            let (action, flag) = match (dead, st.non_operational_since.is_some()) {
                (true, false) => ("camera.flag_non_operational", Some(now)),
                (false, true) => ("camera.video_returned", None),
                _ => continue,
            };
            st.non_operational_since = flag;
            let mut new = cam.clone();
            new.status = json(&st);
            if self
                .write(
                    &Actor::system(),
                    action,
                    Some(&cam),
                    &new,
                    rev,
                    serde_json::json!({"last_video": last}),
                )
                .await?
            {
                changed += 1;
            }
        }
        Ok(changed)
    }

    // ---------- users ----------

    async fn create_user(
        &self,
        actor: &Actor,
        name: &str,
        spec: UserSpec,
        password: &str,
    ) -> Result<StoredObject> {
        if !valid_name(name) {
            return Err(Error::InvalidArgument(format!(
                "user name {name:?} is not valid (lower-case letters, digits, '-', '_', '.')"
            )));
        }
        if password.chars().count() < 12 {
            return Err(Error::InvalidArgument(
                "a password needs at least 12 characters".into(),
            ));
        }
        let key = StoredObject::key(Kind::User, name);
        let obj = StoredObject {
            kind: "User".into(),
            name: name.into(),
            spec: json(&spec),
            status: Value::Null,
        };
        let mut d = Draft::new(&actor.username, "user.add", "User", name);
        d.after = Some(json(&obj));
        let hash = auth::hash_password(password)?;
        let done = self
            .audit
            .commit(
                vec![Compare::ModRevision(key.clone(), 0)],
                vec![
                    Op::Put(key, serde_json::to_vec(&obj)?),
                    Op::Put(format!("{}{name}", auth::PASSWORDS), hash.into_bytes()),
                ],
                d,
            )
            .await?;
        match done {
            Some(_) => Ok(obj),
            None => Err(Error::AlreadyExists(format!("user {name:?}"))),
        }
    }

    /// Adds a user; returns the one-time password when none was given.
    pub async fn add_user(
        &self,
        actor: &Actor,
        name: &str,
        spec: UserSpec,
        password: Option<String>,
    ) -> Result<(StoredObject, Option<String>)> {
        self.require(actor, Operation::ManageUsers, "user.add")
            .await?;
        let problems = Spec::User(spec.clone()).validate();
        if !problems.is_empty() {
            return Err(Error::InvalidArgument(
                problems
                    .into_iter()
                    .map(|(p, m)| format!("{p}: {m}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            ));
        }
        let generated = password.is_none();
        let pw = password.unwrap_or_else(auth::new_password);
        let obj = self.create_user(actor, name, spec, &pw).await?;
        Ok((obj, generated.then_some(pw)))
    }

    /// Grants (or revokes) roles.
    pub async fn grant(
        &self,
        actor: &Actor,
        name: &str,
        roles: &[Role],
        revoke: bool,
    ) -> Result<StoredObject> {
        self.require(actor, Operation::ManageUsers, "user.grant")
            .await?;
        let _turn = self.lock(Kind::User, name).await;
        for _ in 0..16 {
            let (old, kv) = self
                .load_kv(Kind::User, name)?
                .ok_or_else(|| Error::NotFound(format!("user {name:?}")))?;
            let mut spec: UserSpec = old.spec_as()?;
            for r in roles {
                if revoke {
                    spec.roles.retain(|x| x != r);
                } else if !spec.roles.contains(r) {
                    spec.roles.push(*r);
                }
            }
            spec.roles.sort();
            let mut new = old.clone();
            new.spec = json(&spec);
            let action = if revoke { "user.revoke" } else { "user.grant" };
            if self
                .write(
                    actor,
                    action,
                    Some(&old),
                    &new,
                    kv.mod_revision,
                    serde_json::json!({"roles": roles}),
                )
                .await?
            {
                return Ok(new);
            }
        }
        Err(Error::Conflict(format!(
            "user {name} kept changing; try again"
        )))
    }

    // ---------- audit ----------

    /// Walks the audit chain.
    pub async fn audit_verify(&self, actor: &Actor) -> Result<Verification> {
        self.require(actor, Operation::ReadAudit, "audit.verify")
            .await?;
        self.audit.verify().await
    }

    /// The last entries.
    pub async fn audit_tail(
        &self,
        actor: &Actor,
        limit: usize,
    ) -> Result<Vec<crate::core::audit::AuditEntry>> {
        self.require(actor, Operation::ReadAudit, "audit.tail")
            .await?;
        self.audit.tail(limit.clamp(1, 10_000)).await
    }

    /// The time now, by the injected clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }
}

fn unreachable_err() -> Result<Role> {
    Err(Error::Internal("role check passed without a role".into()))
}

pub(crate) fn state_name(s: RequestState) -> &'static str {
    match s {
        RequestState::Submitted => "submitted",
        RequestState::DeptRecommended => "dept_recommended",
        RequestState::Reviewed => "reviewed",
        RequestState::Approved => "approved",
        RequestState::Denied => "denied",
        RequestState::Rejected => "rejected",
    }
}
