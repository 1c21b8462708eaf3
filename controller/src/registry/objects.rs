//! Object access and declarative apply: reads with a role check, `apply` (all
//! validated first, then written one by one through `update`), and delete.

use crate::core::audit::Draft;
use crate::core::auth::{self, Actor, Operation};
use crate::core::object::{json, Change, Refusal, Step, StoredObject};
use crate::core::store::{KeyValue, Op};
use crate::core::AuditAction;
use crate::core::Controller;
use crate::publog::{
    confidential_problems, reader_events, ReaderEntry, ReaderEvent, ReaderHistory,
};
use crate::registry::{camera_machine, grant_machine, hold_machine, views};
use crate::{Error, Result};
use camplane_config::manifest::Spec;
use camplane_config::model::*;
use serde_json::Value;

/// The longest `source` (the files an apply came from) kept in the audit log.
pub const SOURCE_MAX_CHARS: usize = 512;

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
    /// Reads one object.
    pub async fn get(&self, actor: &Actor, kind: Kind, name: &str) -> Result<(StoredObject, i64)> {
        let op = if kind == Kind::User {
            Operation::ReadUsers
        } else {
            Operation::ReadObjects
        };
        self.require(actor, op, AuditAction::Get).await?;
        let kv = self
            .read_through(&StoredObject::key(kind, name))
            .await?
            .ok_or_else(|| Error::NotFound(format!("{kind} {name:?}")))?;
        Ok((serde_json::from_slice(&kv.value)?, kv.mod_revision))
    }

    /// Reads one object as the JSON bytes the actor may see: the hot read path of
    /// the API, parsed and re-encoded once per revision and view ([`ShownMemo`]).
    pub async fn get_raw(&self, actor: &Actor, kind: Kind, name: &str) -> Result<KeyValue> {
        let op = if kind == Kind::User {
            Operation::ReadUsers
        } else {
            Operation::ReadObjects
        };
        self.require(actor, op, AuditAction::Get).await?;
        let key = StoredObject::key(kind, name);
        let mut kv = self
            .read_through(&key)
            .await?
            .ok_or_else(|| Error::NotFound(format!("{kind} {name:?}")))?;
        // The view depends on the record and on one fact of the actor: whether
        // they see covert placements. Made once per revision and view.
        let view = views::sees_covert(actor);
        let memo = self.wing::<ShownMemo>();
        if let Some(shown) = memo.get(&key, kv.mod_revision, view) {
            kv.value = shown;
            return Ok(kv);
        }
        let obj: StoredObject = serde_json::from_slice(&kv.value)?;
        let shown = std::sync::Arc::new(serde_json::to_vec(&views::shown_to(actor, obj))?);
        memo.put(key, kv.mod_revision, view, shown.clone());
        kv.value = shown;
        Ok(kv)
    }

    /// Lists objects, checking the role.
    pub async fn get_all(&self, actor: &Actor, kind: Kind) -> Result<Vec<(StoredObject, i64)>> {
        let op = if kind == Kind::User {
            Operation::ReadUsers
        } else {
            Operation::ReadObjects
        };
        self.require(actor, op, AuditAction::Get).await?;
        Ok(self
            .list(kind)?
            .into_iter()
            .map(|(o, rev)| (views::shown_to(actor, o), rev))
            .collect())
    }

    /// Like [`Controller::get_all`] from the object after `after` on, parsed
    /// only as it is taken: a page of a long list costs its own objects, not
    /// the whole list's.
    pub async fn get_after(
        &self,
        actor: &Actor,
        kind: Kind,
        after: &str,
    ) -> Result<impl Iterator<Item = Result<(StoredObject, i64)>> + use<'_>> {
        let op = if kind == Kind::User {
            Operation::ReadUsers
        } else {
            Operation::ReadObjects
        };
        self.require(actor, op, AuditAction::Get).await?;
        let actor = actor.clone();
        Ok(self
            .cache
            .list_after(kind.prefix(), after)
            .into_iter()
            .map(move |kv| {
                let o: StoredObject = serde_json::from_slice(&kv.value)?;
                Ok((views::shown_to(&actor, o), kv.mod_revision))
            }))
    }

    /// Refuses, audited, an apply that names a kind the registry does not hold
    /// (a hotlist, say: lists change only through a load and, for a case's
    /// list, its approval).
    pub async fn refuse_unknown_kind(&self, actor: &Actor, kind: &str, name: &str) -> Error {
        let shown = |s: &str| s.chars().take(64).collect::<String>();
        let e = Error::InvalidArgument(format!(
            "unknown kind {:?} (Site, Department, Camera, PlacementRequest, User, FeeSchedule)",
            shown(kind)
        ));
        let mut d = Draft::new(
            &actor.username,
            AuditAction::Apply,
            &shown(kind),
            &shown(name),
        );
        d.result = format!("refused: {e}");
        match self.audit.record(d).await {
            Ok(_) => e,
            Err(ae) => ae,
        }
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
        // The source names the files applied and is copied into every audit
        // entry: bounded and printable, checked before anything else.
        if source.chars().count() > SOURCE_MAX_CHARS || source.chars().any(char::is_control) {
            return Err(Error::InvalidArgument(format!(
                "apply: source: at most {SOURCE_MAX_CHARS} printable characters (the files applied)"
            )));
        }
        let mut specs = Vec::new();
        let mut problems = Vec::new();
        // Confidential markings without their reason or basis: a side door
        // tried, so each refusal is on record.
        let mut marking_refused: Vec<(String, String)> = Vec::new();
        for (i, (kind, name, json)) in items.iter().enumerate() {
            let at = format!("{source}: object {} ({kind} {name:?})", i + 1);
            let name_ok = if *kind == Kind::User {
                auth::valid_user_name(name)
            } else {
                valid_name(name)
            };
            if !name_ok {
                problems.push(format!("{at}: name: not a valid name"));
                continue;
            }
            match Spec::from_json(*kind, json) {
                Ok(spec) => {
                    for (path, msg) in spec.validate() {
                        problems.push(format!("{at}: {path}: {msg}"));
                    }
                    if let Spec::Camera(c) = &spec {
                        let bases = &self.config.publog.confidential_bases;
                        let found: Vec<String> = confidential_problems(c, bases)
                            .into_iter()
                            .map(|(path, msg)| format!("{at}: {path}: {msg}"))
                            .collect();
                        if !found.is_empty() {
                            marking_refused.push((name.clone(), found.join("; ")));
                            problems.extend(found);
                        }
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
                    Kind::FeeSchedule => Operation::SetFeeSchedule,
                    _ => Operation::WriteRegistry,
                };
                // The chief applies cameras' confidential markings, and nothing
                // else of them (`readers::check_marking`, per camera).
                if kind == Kind::Camera
                    && !op.allows(actor)
                    && Operation::MarkReaderConfidential.allows(actor)
                {
                    continue;
                }
                self.require(actor, op, AuditAction::ApplyKind(kind))
                    .await?;
            }
        }
        // A fee schedule is its own department's (or an admin's): a manager
        // applying another's is denied, audited.
        for (name, spec) in &specs {
            if let Spec::FeeSchedule(_) = spec {
                if let Err(r) = crate::recordings::fees::may_set(actor, name) {
                    return Err(self.record_refusal(r).await);
                }
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
                // Named after its department, which must exist.
                Spec::FeeSchedule(_) => refs.push(("name", Kind::Department, name)),
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
            for (name, why) in marking_refused {
                let mut d = Draft::new(
                    &actor.username,
                    AuditAction::ReaderConfidential,
                    "Camera",
                    &name,
                );
                d.result = format!("refused: {why}");
                self.audit.record(d).await?;
            }
            return Err(Error::InvalidArgument(problems.join("\n")));
        }
        let mut out = Vec::new();
        // Edits of users take the kept-roles turn (the last admin stays).
        let _turn = if specs.iter().any(|(_, s)| s.kind() == Kind::User) {
            Some(self.kept_roles_turn().await)
        } else {
            None
        };
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
            // A camera's reader history is appended in the same transaction; an
            // entry appended meanwhile (its next key taken) means reading it again.
            let hist = match spec {
                Spec::Camera(_) => self.reader_history(name).await?,
                _ => ReaderHistory::default(),
            };
            let next = hist.next_key();
            // A user's edit compares the other kept-role holders' records.
            let holder_keys = match spec {
                Spec::User(_) => self.kept_holder_keys(name)?,
                _ => Vec::new(),
            };
            let also: Vec<&str> = match spec {
                Spec::Camera(_) => vec![next.as_str()],
                Spec::User(_) => holder_keys.iter().map(String::as_str).collect(),
                _ => vec![],
            };
            let mut moved = false;
            let outcome = self
                .update_with(kind, name, &also, |existing, taken| {
                    if matches!(spec, Spec::Camera(_)) && taken.first().is_some_and(|t| t.is_some()) {
                        moved = true;
                        return Ok(Step::Keep(None));
                    }
                    let now = self.clock.now();
                    let mut events: Vec<(ReaderEvent, CameraSpec)> = Vec::new();
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
                                    crate::publog::check_marking(
                                        actor,
                                        name,
                                        Some(&old_spec),
                                        c,
                                    )?;
                                    // An approval binds the camera for its life: a change of
                                    // an approved, active or suspended camera is checked
                                    // against its approved request again.
                                    if matches!(
                                        st.state,
                                        CameraState::Approved
                                            | CameraState::Active
                                            | CameraState::Suspended
                                    ) {
                                        let req = c.placement_request.as_deref().ok_or_else(|| {
                                            Error::FailedPrecondition(format!(
                                                "Camera {name:?} is {}: it keeps the placement request that approved it",
                                                format!("{:?}", st.state).to_lowercase()
                                            ))
                                        })?;
                                        let bound = self.approved_edit(req, name, &old_spec, c);
                                        if let Err(error) = bound {
                                            let mut d = Draft::new(
                                                &actor.username,
                                                AuditAction::ApplyKind(Kind::Camera),
                                                "Camera",
                                                name,
                                            );
                                            d.result = format!("denied: {error}");
                                            return Err(Refusal {
                                                error,
                                                audit: Some(Box::new(d)),
                                            });
                                        }
                                    }
                                    // A camera moved to another gateway leaves its
                                    // recordings on the old one: remembered, so that
                                    // its holds still reach them.
                                    if let Some(from) = old_spec.agent.as_deref() {
                                        if c.agent.as_deref() != Some(from) {
                                            st.former_agents = with_former_agent(
                                                std::mem::take(&mut st.former_agents),
                                                from,
                                            );
                                        }
                                    }
                                    events = reader_events(
                                        Some((&old_spec, st.state)),
                                        (c.as_ref(), st.state),
                                    )
                                    .into_iter()
                                    .map(|e| (e, c.as_ref().clone()))
                                    .collect();
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
                                Spec::User(u) => {
                                    let old_spec: UserSpec = old.spec_as()?;
                                    grant_machine::check_user_edit(name, &old_spec, u, actor)?;
                                    let others = crate::registry::users::held_in(taken);
                                    grant_machine::check_last_holder(
                                        name,
                                        grant_machine::effective_roles(&old_spec),
                                        grant_machine::effective_roles(u),
                                        |r| others.iter().filter(|x| **x == r).count(),
                                        AuditAction::ApplyKind(Kind::User),
                                        actor,
                                    )?;
                                }
                                Spec::PlacementRequest(_) => {
                                    // The new spec's department was checked above; the
                                    // request being replaced must be the actor's own
                                    // department's too, or a manager could take over
                                    // (and then recommend) another department's request.
                                    let old_department = old
                                        .spec
                                        .get("department")
                                        .and_then(|d| d.as_str())
                                        .unwrap_or_default();
                                    if actor.has(Role::DeptManager)
                                        && !actor.has(Role::Admin)
                                        && old_department != actor.department
                                    {
                                        return Err(Refusal::denied(
                                            actor,
                                            AuditAction::ApplyKind(Kind::PlacementRequest),
                                            "PlacementRequest",
                                            name,
                                            format!(
                                                "PlacementRequest {name:?} is the {old_department} department's: a department manager edits their own department's requests ({})",
                                                actor.department
                                            ),
                                        ));
                                    }
                                    let mut st: PlacementRequestStatus = old.status_as();
                                    if st.state != RequestState::Submitted {
                                        // An edit after approval started: on the record.
                                        return Err(Refusal::refused(
                                            actor,
                                            AuditAction::ApplyKind(Kind::PlacementRequest),
                                            "PlacementRequest",
                                            name,
                                            Error::FailedPrecondition(format!(
                                                "PlacementRequest {name:?} is {:?}: its spec cannot change after review started; submit a new request",
                                                st.state
                                            )),
                                        ));
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
                                    crate::publog::check_marking(actor, name, None, c)?;
                                    let approved = c.placement_request.as_deref().is_some_and(
                                        |r| self.request_approved_for(r, name, c).is_ok(),
                                    );
                                    let state = if approved {
                                        CameraState::Approved
                                    } else {
                                        CameraState::Proposed
                                    };
                                    events = reader_events(None, (c.as_ref(), state))
                                        .into_iter()
                                        .map(|e| (e, c.as_ref().clone()))
                                        .collect();
                                    json(&CameraStatus {
                                        state,
                                        state_since: Some(now),
                                        reason: None,
                                        location_history: vec![LocationRecord {
                                            location: c.location,
                                            from: now,
                                            until: None,
                                        }],
                                        non_operational_since: None,
                                        former_agents: vec![],
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
                    let mut details = serde_json::json!({"source": source, "action": action});
                    // A confidential marking (or its lifting) is its own audited
                    // action, with its basis, reason and effective time.
                    let mut audit = AuditAction::Apply;
                    for (e, c) in &events {
                        let marking = match e {
                            ReaderEvent::Confidential => AuditAction::ReaderConfidential,
                            ReaderEvent::Public => AuditAction::ReaderPublic,
                            _ => continue,
                        };
                        audit = marking;
                        details["confidential"] = serde_json::json!({
                            "basis": c.confidential_basis,
                            "reason": c.confidential_reason,
                            "effective": now,
                        });
                    }
                    let mut change = Change::put(&actor.username, audit, new, details);
                    change.ops = hist.append_ops(
                        events
                            .iter()
                            .map(|(e, c)| ReaderEntry::new(name, *e, c, now, &actor.username))
                            .collect(),
                    )?;
                    Ok(Step::Write(Box::new(change), Some(action)))
                })
                .await?;
            if moved {
                continue;
            }
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
        if kind == Kind::LegalHold {
            // Before the role check, so that everyone who tries learns the way a
            // hold ends (the check in the update below covers a hold made meanwhile).
            if let Ok(old) = self.load(Kind::LegalHold, name) {
                let r = hold_machine::delete(name, &hold_state(&old)?, actor);
                return Err(self.record_refusal(r).await);
            }
        }
        self.require(
            actor,
            if kind == Kind::User {
                Operation::ManageUsers
            } else {
                Operation::WriteRegistry
            },
            AuditAction::Delete,
        )
        .await?;
        let _turn = if kind == Kind::User {
            Some(self.kept_roles_turn().await)
        } else {
            None
        };
        if kind == Kind::PlacementRequest {
            return Err(Error::FailedPrecondition(
                "placement requests are records of decisions and are kept; deny or reject instead"
                    .into(),
            ));
        }
        // A user's deletion compares the other kept-role holders' records.
        let holder_keys = if kind == Kind::User {
            self.kept_holder_keys(name)?
        } else {
            Vec::new()
        };
        let also: Vec<&str> = holder_keys.iter().map(String::as_str).collect();
        self.update_with(kind, name, &also, |old, holders| {
            let old = old.ok_or_else(|| Error::NotFound(format!("{kind} {name:?}")))?;
            if kind == Kind::LegalHold {
                // A hold ends only through its release (hold_machine::delete says how).
                return Err(hold_machine::delete(name, &hold_state(old)?, actor));
            }
            if kind == Kind::Agent && old.status_as::<AgentStatus>().revoked {
                // Deleting it and enrolling the name anew would bring it back unrevoked.
                return Err(Refusal::denied(
                    actor,
                    AuditAction::Delete,
                    "Agent",
                    name,
                    format!(
                        "agent {name} is revoked and kept so that its name cannot come back; `camplane agent reinstate {name} --reason TEXT` lets it enrol again"
                    ),
                ));
            }
            if kind == Kind::Camera {
                let st: CameraStatus = old.status_as();
                // Only the state decides a delete (a spec that no longer parses still goes).
                let held_by = self
                    .active_holds()?
                    .iter()
                    .filter(|h| h.cameras.iter().any(|c| c == name))
                    .count();
                let state = camera_machine::State {
                    name,
                    state: st.state,
                    cover: camera_machine::Cover::NotAsked,
                    special_event: None,
                    now: self.clock.now(),
                    held_by,
                };
                // Out of order (active, or held) is a refusal on record too.
                camera_machine::next(&state, camera_machine::Action::Delete, actor).map_err(
                    |r| match r.audit {
                        Some(_) => r,
                        None => {
                            Refusal::refused(actor, AuditAction::Delete, "Camera", name, r.error)
                        }
                    },
                )?;
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
            let mut change = Change::delete(&actor.username, AuditAction::Delete, kind, name);
            if kind == Kind::User {
                // The last admin or city manager stays; the user's sessions end
                // with it (and any left are refused: they name the old id).
                let others = crate::registry::users::held_in(holders);
                if let Ok(spec) = old.spec_as::<UserSpec>() {
                    grant_machine::check_last_holder(
                        name,
                        grant_machine::effective_roles(&spec),
                        &[],
                        |r| others.iter().filter(|x| **x == r).count(),
                        AuditAction::Delete,
                        actor,
                    )?;
                }
                change
                    .ops
                    .push(Op::Delete(format!("{}{name}", auth::PASSWORDS)));
                let id = auth::user_id_of(&old.status).unwrap_or_default();
                change
                    .ops
                    .extend(self.sessions_of(id, name).into_iter().map(Op::Delete));
            }
            Ok(Step::Write(Box::new(change), ()))
        })
        .await
    }
}

/// A stored hold as its rule sees it.
fn hold_state(old: &StoredObject) -> Result<hold_machine::State> {
    let spec: LegalHoldSpec = old.spec_as()?;
    let st: LegalHoldStatus = old.status_as();
    Ok(hold_machine::State {
        reason: spec.reason,
        stage: if st.released_at.is_some() {
            hold_machine::Stage::Released
        } else {
            hold_machine::Stage::InForce
        },
    })
}

/// Objects as [`Controller::get_raw`] answers them: per key, the revision they were
/// made from and the bytes of each view (`sees_covert` false, true). A newer
/// revision replaces the entry. Bounded; emptied when full (it only saves the
/// parse and re-encode of the hot read path).
#[derive(Default)]
struct ShownMemo(std::sync::Mutex<std::collections::HashMap<String, Shown>>);

/// Keys [`ShownMemo`] keeps at most (about 400 bytes a camera, two views: a few
/// MB at most).
const SHOWN_MAX: usize = 8192;

struct Shown {
    rev: i64,
    views: [Option<std::sync::Arc<Vec<u8>>>; 2],
}

impl ShownMemo {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Shown>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, key: &str, rev: i64, covert: bool) -> Option<std::sync::Arc<Vec<u8>>> {
        let g = self.lock();
        let s = g.get(key).filter(|s| s.rev == rev)?;
        s.views[usize::from(covert)].clone()
    }

    fn put(&self, key: String, rev: i64, covert: bool, bytes: std::sync::Arc<Vec<u8>>) {
        let mut g = self.lock();
        if g.len() >= SHOWN_MAX && !g.contains_key(&key) {
            g.clear();
        }
        let e = g.entry(key).or_insert(Shown {
            rev,
            views: [None, None],
        });
        if e.rev != rev {
            *e = Shown {
                rev,
                views: [None, None],
            };
        }
        e.views[usize::from(covert)] = Some(bytes);
    }
}

#[cfg(test)]
mod shown_memo_tests {
    use super::*;

    #[test]
    fn a_view_is_kept_per_revision_and_per_covert_sight() {
        let m = ShownMemo::default();
        let a = std::sync::Arc::new(b"plain".to_vec());
        let b = std::sync::Arc::new(b"with place".to_vec());
        m.put("k".into(), 5, false, a.clone());
        m.put("k".into(), 5, true, b.clone());
        assert_eq!(m.get("k", 5, false), Some(a));
        assert_eq!(m.get("k", 5, true), Some(b));
        // Another revision is never answered from the old one's bytes.
        assert_eq!(m.get("k", 6, false), None);
        m.put("k".into(), 6, false, std::sync::Arc::new(b"new".to_vec()));
        assert_eq!(
            m.get("k", 6, true),
            None,
            "the old revision's views are gone"
        );
        assert_eq!(m.get("k", 5, true), None);
    }
}
