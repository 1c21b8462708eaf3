//! The placement request chain: submit, then department, chief or IS review,
//! City Manager decision; cameras waiting on an approved request follow.

use crate::core::auth::{Actor, Operation};
use crate::core::object::{check, json, Change, Refusal, Step, StoredObject};
use crate::core::AuditAction;
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
        let step = AuditAction::request_step(action);
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
                // Every allowed action is a known step.
                let what = step.ok_or_else(|| Error::Internal(format!("step {action:?}")))?;
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
                        check(&as_r, op, what)?;
                        return Err(Error::PermissionDenied(format!(
                            "you do not hold the role {r}"
                        ))
                        .into());
                    }
                    None => match candidates.first() {
                        Some(r) => *r,
                        None => {
                            check(actor, op, what)?;
                            return Err(unreachable_err().into());
                        }
                    },
                };
                if role == Role::DeptManager && actor.department != spec.department {
                    let msg = format!(
                        "only the manager of department {:?} reviews this request",
                        spec.department
                    );
                    return Err(Refusal::denied(actor, what, "PlacementRequest", id, msg));
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
                    crate::approvals::verdict::approval_gate(id, &st)?;
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
                let change = Change::put(&actor.username, what, new.clone(), details);
                Ok(Step::Write(Box::new(change), new))
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
                    AuditAction::CameraApproved,
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
        if rs.purpose != spec.purpose || rs.kind != spec.kind {
            return Err(Error::FailedPrecondition(format!(
                "placement request {request} approved a {:?} {:?} camera; this one is {:?} {:?}",
                rs.kind, rs.purpose, spec.kind, spec.purpose
            )));
        }
        Ok(())
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
