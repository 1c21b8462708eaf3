//! The camera life cycle: activate, suspend, retire; special events ending;
//! cameras that delivered no video for 7 days flagged.

use crate::core::auth::{Actor, Operation};
use crate::core::object::{json, Change, Step, StoredObject};
use crate::core::AuditAction;
use crate::core::Controller;
use crate::{Error, Result};
use camplane_config::model::*;
use jiff::Timestamp;
use serde_json::Value;

impl Controller {
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
        // A step the life cycle does not have is no request of anything: refused
        // before any role check, so the audit log names only real steps.
        let step = AuditAction::camera_step(action).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "unknown camera action {action:?} (activate, suspend, retire)"
            ))
        })?;
        self.require(actor, Operation::CameraLifecycle, step)
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
            let change = Change::put(&actor.username, step, new.clone(), details);
            Ok(Step::Write(Box::new(change), new))
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
                        AuditAction::CameraSpecialEventEnded,
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
