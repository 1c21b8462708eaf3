//! The camera life cycle: activate, suspend, retire; special events ending;
//! cameras that delivered no video for 7 days flagged.

use crate::core::audit::Draft;
use crate::core::auth::{Actor, Operation};
use crate::core::object::{json, Change, Step, StoredObject};
use crate::core::secrets::{CameraCredentials, CREDENTIALS};
use crate::core::AuditAction;
use crate::core::Controller;
use crate::core::{KeyChange, KeyStep};
use crate::publog::{reader_events, ReaderEntry, ReaderHistory};
use crate::registry::camera_machine::{self, Action, Cover};
use crate::{Error, Result};
use camplane_config::model::*;
use jiff::Timestamp;
use serde_json::Value;

impl Controller {
    /// `camplane camera credentials set`: seals camera `name`'s user name and
    /// password under `meta/camera-credentials/NAME` (Information Services).
    /// The audit entry says that they were set, never what they are.
    pub async fn set_camera_credentials(
        &self,
        actor: &Actor,
        name: &str,
        creds: CameraCredentials,
    ) -> Result<()> {
        self.require(
            actor,
            Operation::WriteRegistry,
            AuditAction::CameraCredentialsSet,
        )
        .await?;
        creds.validate()?;
        self.load(Kind::Camera, name)?;
        let sealed = self.camera_secrets().await?.seal(name, &creds)?;
        let key = format!("{CREDENTIALS}{name}");
        self.update_key(&key, |old| {
            let mut d = Draft::new(
                &actor.username,
                AuditAction::CameraCredentialsSet,
                "Camera",
                name,
            );
            d.details = serde_json::json!({ "replaced": old.is_some() });
            Ok(KeyStep::Write(
                Box::new(KeyChange::put(sealed.clone(), d)),
                (),
            ))
        })
        .await
    }

    /// Activates, suspends or retires a camera (the rule: [`camera_machine::next`]).
    /// Activation needs an approved placement request (the policy's purchasing
    /// gate) and, for a temporary camera, being inside its special-event window.
    pub async fn camera_transition(
        &self,
        actor: &Actor,
        name: &str,
        action: Action,
        reason: &str,
    ) -> Result<StoredObject> {
        self.require(actor, Operation::CameraLifecycle, action.audit_action())
            .await?;
        // A reader's history is appended in the same transaction; an entry
        // appended meanwhile (its next key taken) means reading it again.
        for _ in 0..16 {
            let hist = self.reader_history(name).await?;
            let next = hist.next_key();
            let out = self
                .transition_once(actor, name, action, reason, &hist, &next)
                .await?;
            if let Some(o) = out {
                return Ok(o);
            }
        }
        Err(Error::Conflict(format!(
            "Camera {name:?}: its reader history kept changing; try again"
        )))
    }

    async fn transition_once(
        &self,
        actor: &Actor,
        name: &str,
        action: Action,
        reason: &str,
        hist: &ReaderHistory,
        next: &str,
    ) -> Result<Option<StoredObject>> {
        self.update_with(Kind::Camera, name, &[next], |old, also| {
            if also[0].is_some() {
                return Ok(Step::Keep(None));
            }
            let old = old.ok_or_else(|| Error::NotFound(format!("Camera {name:?}")))?;
            let spec: CameraSpec = old.spec_as()?;
            let mut st: CameraStatus = old.status_as();
            let now = self.clock.now();
            // Only activation asks whether the request covers the camera.
            let answer = match (action, spec.placement_request.as_deref()) {
                (Action::Activate, Some(req)) => Some(self.request_approved_for(req, name, &spec)),
                _ => None,
            };
            let state = camera_machine::State {
                name,
                state: st.state,
                cover: cover(spec.placement_request.as_deref(), answer.as_ref()),
                special_event: spec.special_event.as_ref(),
                now,
                held_by: 0,
            };
            let t = camera_machine::next(&state, action, actor)?;
            if !t.write {
                return Ok(Step::Keep(Some(old.clone())));
            }
            let events = reader_events(Some((&spec, st.state)), (&spec, t.to));
            st.state = t.to;
            st.state_since = Some(now);
            st.reason = (!reason.is_empty()).then(|| reason.to_string());
            let mut new = old.clone();
            new.status = json(&st);
            let details = serde_json::json!({"reason": reason});
            let mut change = Change::put(&actor.username, t.audit, new.clone(), details);
            change.ops = hist.append_ops(
                events
                    .into_iter()
                    .map(|e| ReaderEntry::new(name, e, &spec, now, &actor.username))
                    .collect(),
            )?;
            Ok(Step::Write(Box::new(change), Some(new)))
        })
        .await
    }

    /// Cameras waiting on an approved request move from proposed to approved.
    pub(crate) async fn mark_cameras_approved(&self, actor: &Actor, request: &str) -> Result<()> {
        let now = self.clock.now();
        for (cam, rev) in self.list(Kind::Camera)? {
            let spec: CameraSpec = cam.spec_as()?;
            let mut st: CameraStatus = cam.status_as();
            if spec.placement_request.as_deref() != Some(request)
                || st.state != CameraState::Proposed
            {
                continue;
            }
            let answer = self.request_approved_for(request, &cam.name, &spec);
            let state = camera_machine::State {
                name: &cam.name,
                state: st.state,
                cover: cover(Some(request), Some(&answer)),
                special_event: spec.special_event.as_ref(),
                now,
                held_by: 0,
            };
            let Ok(t) = camera_machine::next(&state, Action::Approve, actor) else {
                continue;
            };
            st.state = t.to;
            st.state_since = Some(now);
            let mut new = cam.clone();
            new.status = json(&st);
            self.write(
                actor,
                t.audit,
                Some(&cam),
                &new,
                rev,
                serde_json::json!({"request": request}),
            )
            .await?;
        }
        Ok(())
    }

    /// Level-triggered housekeeping, safe to run again and again and on several
    /// controllers at once (every write is a compare-and-swap): temporary cameras
    /// leave `active` at their end time.
    pub async fn reconcile(&self) -> Result<usize> {
        let now = self.clock.now();
        let system = Actor::system();
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
            if spec.special_event.is_none() {
                continue;
            }
            let state = camera_machine::State {
                name: &cam.name,
                state: st.state,
                cover: Cover::NotAsked,
                special_event: spec.special_event.as_ref(),
                now,
                held_by: 0,
            };
            if let Ok(t) = camera_machine::next(&state, Action::EndSpecialEvent, &system) {
                st.state = t.to;
                st.state_since = Some(now);
                st.reason = t.reason;
                let mut new = cam.clone();
                new.status = json(&st);
                if self
                    .write(&system, t.audit, Some(&cam), &new, rev, Value::Null)
                    .await?
                {
                    changed += 1;
                }
            }
        }
        Ok(changed)
    }

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
                (true, false) => (AuditAction::CameraFlagNonOperational, Some(now)),
                (false, true) => (AuditAction::CameraVideoReturned, None),
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
}

/// The machine's view of a placement request's answer.
fn cover<'a>(request: Option<&str>, answer: Option<&'a Result<()>>) -> Cover<'a> {
    match (request, answer) {
        (None, _) => Cover::NoRequest,
        (Some(_), None) => Cover::NotAsked,
        (Some(_), Some(Ok(()))) => Cover::Approved,
        (Some(_), Some(Err(e))) => Cover::Refused(e),
    }
}
