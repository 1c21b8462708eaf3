//! The controller's business logic, independent of the wire: the registry
//! (sites, departments, cameras), placement requests and their approval chain,
//! camera life cycle, users and sessions. The gRPC layer (`api`) only translates.

use crate::core::audit::{Draft, Verification};
use crate::core::auth::{self, Actor, Operation, Session};
use crate::core::object::{check, json, Change, Refusal, Step, StoredObject};
use crate::core::store::{Compare, KeyValue, Op};
use crate::core::Controller;
use crate::{Error, Result};
use camplane_config::manifest::Spec;
use camplane_config::model::*;
use jiff::Timestamp;
use serde_json::Value;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

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

impl Controller {
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
        // A request's verdict is computed (async, outside the object's turn) only
        // when the update finds it needs one; then the update runs again with it.
        let mut verdict: Option<Value> = None;
        loop {
            let outcome = self
                .update(kind, name, |existing| {
                    let now = self.clock.now();
                    let new = match existing {
                        Some(old) if old.spec == spec_json => {
                            return Ok(Step::Keep(Some("unchanged")))
                        }
                        Some(old) => {
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
                                Spec::PlacementRequest(_) => {
                                    let mut st: PlacementRequestStatus = old.status_as();
                                    if st.state != RequestState::Submitted {
                                        return Err(Error::FailedPrecondition(format!(
                                            "PlacementRequest {name:?} is {:?}: its spec cannot change after review started; submit a new request",
                                            st.state
                                        )).into());
                                    }
                                    let Some(v) = &verdict else {
                                        return Ok(Step::Keep(None));
                                    };
                                    // A changed placement gets a fresh verdict; an override
                                    // justified the old one only.
                                    st.verdict = Some(v.clone());
                                    st.steps.retain(|s| s.action != "override");
                                    new.status = json(&st);
                                }
                                _ => {}
                            }
                            new
                        }
                        None => {
                            let status = match spec {
                                Spec::Camera(c) => {
                                    let approved = c.placement_request.as_deref().is_some_and(
                                        |r| self.request_approved_for(r, name, c).is_ok(),
                                    );
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
                                Spec::PlacementRequest(_) => {
                                    let Some(v) = &verdict else {
                                        return Ok(Step::Keep(None));
                                    };
                                    json(&PlacementRequestStatus {
                                        state: RequestState::Submitted,
                                        submitted_by: actor.username.clone(),
                                        submitted_at: Some(now),
                                        steps: vec![],
                                        verdict: Some(v.clone()),
                                    })
                                }
                                _ => Value::Null,
                            };
                            StoredObject {
                                kind: kind.as_str().into(),
                                name: name.into(),
                                spec: spec_json.clone(),
                                status,
                            }
                        }
                    };
                    let action = if existing.is_some() {
                        "configured"
                    } else {
                        "created"
                    };
                    let details = serde_json::json!({"source": source, "action": action});
                    let change = Change::put(&actor.username, "apply", new, details);
                    Ok(Step::Write(change, Some(action)))
                })
                .await?;
            match (outcome, spec) {
                (Some(action), _) => return Ok(action),
                (None, Spec::PlacementRequest(r)) if verdict.is_none() => {
                    verdict = Some(self.placement_verdict(name, r).await);
                }
                (None, _) => return Err(Error::Internal("apply: no verdict".into())),
            }
        }
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
        self.update(kind, name, |old| {
            let old = old.ok_or_else(|| Error::NotFound(format!("{kind} {name:?}")))?;
            if kind == Kind::Camera {
                let st: CameraStatus = old.status_as();
                if st.state == CameraState::Active {
                    return Err(Error::FailedPrecondition(format!(
                        "camera {name:?} is active: suspend or retire it first"
                    ))
                    .into());
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
                    ))
                    .into());
                }
            }
            let mut change = Change::delete(&actor.username, "delete", kind, name);
            if kind == Kind::User {
                change
                    .ops
                    .push(Op::Delete(format!("{}{name}", auth::PASSWORDS)));
            }
            Ok(Step::Write(change, ()))
        })
        .await
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
        if action == "override" {
            return self.override_verdict(actor, id, role, comment).await;
        }
        let what = format!("request.{action}");
        let new = self
            .update(Kind::PlacementRequest, id, |old| {
                let old = old.ok_or_else(|| Error::NotFound(format!("PlacementRequest {id:?}")))?;
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
                        )
                        .into())
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
                    ))
                    .into());
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
                        let as_r = Actor {
                            roles: vec![r],
                            ..actor.clone()
                        };
                        check(&as_r, op, &what)?;
                        return Err(Error::PermissionDenied(format!(
                            "you do not hold the role {r}"
                        ))
                        .into());
                    }
                    None => match candidates.first() {
                        Some(r) => *r,
                        None => {
                            check(actor, op, &what)?;
                            return Err(unreachable_err().into());
                        }
                    },
                };
                if role == Role::DeptManager && actor.department != spec.department {
                    let msg = format!(
                        "only the manager of department {:?} reviews this request",
                        spec.department
                    );
                    return Err(Refusal::denied(actor, &what, "PlacementRequest", id, msg));
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
                        ))
                        .into());
                    }
                }
                if action == "approve" {
                    crate::approvals::placement::approval_gate(id, &st)?;
                }
                if comment.trim().is_empty() && matches!(action, "reject" | "deny") {
                    return Err(Error::InvalidArgument(format!(
                        "a {action} needs a comment saying why"
                    ))
                    .into());
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
                let details = serde_json::json!({"role": role, "comment": comment});
                let change = Change::put(&actor.username, &what, new.clone(), details);
                Ok(Step::Write(change, new))
            })
            .await?;
        let st: PlacementRequestStatus = new.status_as();
        if st.state == RequestState::Approved {
            self.mark_cameras_approved(actor, id).await?;
        }
        Ok(new)
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
        self.update(Kind::Camera, name, |old| {
            let old = old.ok_or_else(|| Error::NotFound(format!("Camera {name:?}")))?;
            let spec: CameraSpec = old.spec_as()?;
            let mut st: CameraStatus = old.status_as();
            let now = self.clock.now();
            let target = match action {
                "activate" => {
                    if st.state == CameraState::Retired {
                        return Err(Error::FailedPrecondition(format!(
                            "camera {name} is retired"
                        )).into());
                    }
                    if st.state == CameraState::Active {
                        return Ok(Step::Keep(old.clone()));
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
                            )).into());
                        }
                    }
                    CameraState::Active
                }
                "suspend" => {
                    if st.state != CameraState::Active {
                        return Err(Error::FailedPrecondition(
                            format!("camera {name} is {:?}, not active", st.state).to_lowercase(),
                        ).into());
                    }
                    CameraState::Suspended
                }
                "retire" => {
                    if st.state == CameraState::Retired {
                        return Ok(Step::Keep(old.clone()));
                    }
                    CameraState::Retired
                }
                other => {
                    return Err(Error::InvalidArgument(format!(
                        "unknown camera action {other:?} (activate, suspend, retire)"
                    )).into())
                }
            };
            st.state = target;
            st.state_since = Some(now);
            st.reason = (!reason.is_empty()).then(|| reason.to_string());
            let mut new = old.clone();
            new.status = json(&st);
            let details = serde_json::json!({"reason": reason});
            let change = Change::put(&actor.username, &format!("camera.{action}"), new.clone(), details);
            Ok(Step::Write(change, new))
        })
        .await
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
        self.update(Kind::LegalHold, name, |old| {
            let old = old.ok_or_else(|| Error::NotFound(format!("LegalHold {name:?}")))?;
            let spec: LegalHoldSpec = old.spec_as()?;
            let need = match spec.reason {
                HoldReason::CriminalInvestigation | HoldReason::Court => Operation::HoldForCase,
                HoldReason::CityManagerApproved => Operation::HoldCityManager,
            };
            check(actor, need, "hold.release")?;
            let mut st: LegalHoldStatus = old.status_as();
            if st.released_at.is_some() {
                return Ok(Step::Keep(old.clone()));
            }
            st.released_at = Some(self.clock.now());
            st.released_by = Some(actor.username.clone());
            let mut new = old.clone();
            new.status = json(&st);
            let details = serde_json::json!({"case_number": spec.case_number});
            let change = Change::put(&actor.username, "hold.release", new.clone(), details);
            Ok(Step::Write(change, new))
        })
        .await
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
        self.update(Kind::User, name, |old| {
            let old = old.ok_or_else(|| Error::NotFound(format!("user {name:?}")))?;
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
            let details = serde_json::json!({"roles": roles});
            let change = Change::put(&actor.username, action, new.clone(), details);
            Ok(Step::Write(change, new))
        })
        .await
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
}

fn unreachable_err() -> Error {
    Error::Internal("role check passed without a role".into())
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
