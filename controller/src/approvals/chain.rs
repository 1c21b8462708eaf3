//! The placement request chain: submit, then department, chief or IS review,
//! City Manager decision; cameras waiting on an approved request follow.

use crate::approvals::binding;
use crate::approvals::request_machine::{self, Action};
use crate::approvals::verdict::{recorded_verdict, CANNOT_CHECK};
use crate::core::auth::Actor;
use crate::core::object::{json, Change, Step, StoredObject};
use crate::core::Controller;
use crate::{Error, Result};
use camplane_config::model::*;

impl Controller {
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

    /// Takes one step of the approval chain (the rule: [`request_machine::next`]):
    /// submitted → (dept_manager) dept_recommended → (chief and/or admin as IS)
    /// reviewed → (city_manager) approved | denied. Rejections end the request.
    /// Steps cannot be skipped or repeated, and only the right role takes each.
    pub async fn act_on_request(
        &self,
        actor: &Actor,
        id: &str,
        action: Action,
        role: Option<Role>,
        comment: &str,
    ) -> Result<StoredObject> {
        if action == Action::Override {
            return self.override_verdict(actor, id, role, comment).await;
        }
        let new = self.step_request(actor, id, action, role, comment).await?;
        let st: PlacementRequestStatus = new.status_as();
        if st.state == RequestState::Approved {
            self.mark_cameras_approved(actor, id).await?;
        }
        Ok(new)
    }

    /// Loads the request, asks the chain for the step and applies it, with its
    /// audit entry.
    pub(crate) async fn step_request(
        &self,
        actor: &Actor,
        id: &str,
        action: Action,
        role: Option<Role>,
        comment: &str,
    ) -> Result<StoredObject> {
        let who = request_machine::Actor {
            user: actor,
            as_role: role,
            comment,
        };
        // A request that could not be checked at submission is checked again at
        // the decision, in case the streets layer has been loaded since.
        let fresh = match (action, self.load(Kind::PlacementRequest, id)) {
            (Action::Approve, Ok(r)) => {
                let st: PlacementRequestStatus = r.status_as();
                if recorded_verdict(st.verdict.as_ref()) == CANNOT_CHECK {
                    let v = self.placement_verdict(id, &r.spec_as()?).await;
                    (recorded_verdict(Some(&v)) != CANNOT_CHECK).then_some(v)
                } else {
                    None
                }
            }
            _ => None,
        };
        self.update(Kind::PlacementRequest, id, |old| {
            let old = old.ok_or_else(|| Error::NotFound(format!("PlacementRequest {id:?}")))?;
            let spec: PlacementRequestSpec = old.spec_as()?;
            let mut st: PlacementRequestStatus = old.status_as();
            if let Some(v) = &fresh {
                if recorded_verdict(st.verdict.as_ref()) == CANNOT_CHECK {
                    st.verdict = Some(v.clone());
                }
            }
            let state = request_machine::State {
                id,
                department: &spec.department,
                status: &st,
                needs_chief: request_machine::needs_chief(spec.covert, Some(spec.purpose)),
            };
            let t = request_machine::next(&state, action, &who)?;
            st.steps.push(t.step(&who, self.clock.now()));
            st.state = t.to;
            let mut new = old.clone();
            new.status = json(&st);
            let details = match &t.verdict {
                Some(verdict) => {
                    serde_json::json!({"role": t.role, "verdict": verdict, "justification": comment})
                }
                None => serde_json::json!({"role": t.role, "comment": comment}),
            };
            let change = Change::put(&actor.username, t.audit, new.clone(), details);
            Ok(Step::Write(Box::new(change), new))
        })
        .await
    }

    /// Checks that `request` is approved and covers this camera.
    /// An edit of an approved, active or suspended camera from `old` to
    /// `new`: its privacy masks are only added to
    /// ([`binding::masks_taken_away`]), and it is still what `request`
    /// approved ([`Controller::request_approved_for`]).
    pub(crate) fn approved_edit(
        &self,
        request: &str,
        camera: &str,
        old: &CameraSpec,
        new: &CameraSpec,
    ) -> Result<()> {
        let masks = binding::masks_taken_away(&old.privacy_masks, &new.privacy_masks);
        if !masks.is_empty() {
            return Err(Error::FailedPrecondition(format!(
                "camera {camera:?} is approved: {}",
                masks.join("; ")
            )));
        }
        self.request_approved_for(request, camera, new)
    }

    pub(crate) fn request_approved_for(
        &self,
        request: &str,
        camera: &str,
        spec: &CameraSpec,
    ) -> Result<()> {
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
        let differ = binding::mismatches(&rs, spec, self.config.placement.binding_tolerance_m);
        if !differ.is_empty() {
            return Err(Error::FailedPrecondition(format!(
                "camera {camera:?} is not what placement request {request} approved: {}",
                differ.join("; ")
            )));
        }
        Ok(())
    }
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
