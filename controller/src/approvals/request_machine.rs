//! The placement request chain as a pure function: who may take which step of
//! a request in which state. Policy 5.05, Installation: the department manager
//! recommends, the Chief of Police and/or Information Services review, the City
//! Manager approves or denies; a placement verdict the rules do not allow needs
//! a written override (law enforcement or traffic safety) first.
//!
//! ```text
//! submitted --recommend--> dept_recommended --recommend--> reviewed --approve--> approved
//!     |                          |                        | (2nd review) `--deny--> denied
//!     `--------reject------------+----------reject--------'-----------------> rejected
//! ```
//!
//! No store, no clock: the store code loads the request, calls [`next`] and
//! applies the [`Transition`] (stamping the step with its own time).

use crate::approvals::chain::state_name;
use crate::approvals::verdict::{approval_gate, override_roles, recorded_verdict, roles_text};
use crate::core::audit::AuditAction;
use crate::core::auth::{self, Operation};
use crate::core::object::{check, Refusal};
use crate::Error;
use camplane_config::model::{ApprovalStep, PlacementRequestStatus, RequestState, Role};
use jiff::Timestamp;
use std::str::FromStr;

/// A step of the chain, as named on the wire and in the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A review step passes the request on.
    Recommend,
    /// A review step ends the request (needs a comment).
    Reject,
    /// The City Manager approves.
    Approve,
    /// The City Manager denies (needs a comment).
    Deny,
    /// The chief or an engineer overrides the placement verdict (needs a justification).
    Override,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 5] = [
        Action::Recommend,
        Action::Reject,
        Action::Approve,
        Action::Deny,
        Action::Override,
    ];

    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Recommend => "recommend",
            Action::Reject => "reject",
            Action::Approve => "approve",
            Action::Deny => "deny",
            Action::Override => "override",
        }
    }

    /// The audit action of the step (and of its refusals).
    pub fn audit_action(self) -> AuditAction {
        match self {
            Action::Recommend => AuditAction::RequestRecommend,
            Action::Reject => AuditAction::RequestReject,
            Action::Approve => AuditAction::RequestApprove,
            Action::Deny => AuditAction::RequestDeny,
            Action::Override => AuditAction::RequestOverride,
        }
    }
}

impl FromStr for Action {
    type Err = Error;
    fn from_str(s: &str) -> Result<Action, Error> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "unknown request action {:?} (recommend, reject, approve, deny, override)",
                    s.chars().take(40).collect::<String>()
                ))
            })
    }
}

/// The request as the chain sees it.
#[derive(Debug, Clone, Copy)]
pub struct State<'a> {
    /// The request's name.
    pub id: &'a str,
    /// The department that asked (its manager takes the first step).
    pub department: &'a str,
    /// Where it stands, its steps and its placement verdict.
    pub status: &'a PlacementRequestStatus,
    /// Police work (a covert camera, or one for a criminal investigation,
    /// which lifts the prohibited-room and covert rules of placement): the
    /// City Manager approves it only after the Chief of Police has reviewed or
    /// overridden it.
    pub needs_chief: bool,
}

/// Whether a request is police work whose approval needs the chief's step
/// ([`State::needs_chief`]): a covert camera, or one for a criminal
/// investigation.
pub fn needs_chief(covert: bool, purpose: Option<camplane_config::model::Purpose>) -> bool {
    covert || purpose == Some(camplane_config::model::Purpose::CriminalInvestigation)
}

/// Who takes the step, as which role (`None`: the first one that fits), with
/// what words (a comment, or an override's justification).
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    /// The signed-in user.
    pub user: &'a auth::Actor,
    /// The role asked for (`--as`).
    pub as_role: Option<Role>,
    /// The comment or justification.
    pub comment: &'a str,
}

/// What a permitted step changes and records.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The request's state after the step.
    pub to: RequestState,
    /// The step appended to the request.
    pub action: Action,
    /// The role it was taken as.
    pub role: Role,
    /// The audit action recorded with it.
    pub audit: AuditAction,
    /// For an override: the verdict it overrides.
    pub verdict: Option<String>,
}

impl Transition {
    /// The step entry to append, stamped `at`.
    pub fn step(&self, actor: &Actor, at: Timestamp) -> ApprovalStep {
        ApprovalStep {
            action: self.action.as_str().into(),
            role: self.role,
            actor: actor.user.username.clone(),
            at,
            comment: actor.comment.into(),
            overrode: match self.action {
                Action::Override => self.verdict.clone(),
                _ => None,
            },
        }
    }
}

/// The refusal an override without a justification gets (checked before the
/// request is even looked up).
pub fn check_justification(comment: &str) -> Result<(), Error> {
    if comment.trim().is_empty() {
        return Err(Error::InvalidArgument(
            "an override needs a written justification (--justification TEXT)".into(),
        ));
    }
    Ok(())
}

fn terminal(s: RequestState) -> bool {
    matches!(
        s,
        RequestState::Approved | RequestState::Denied | RequestState::Rejected
    )
}

/// The chain's rule: the step `action` by `actor` on `state`, or why not.
pub fn next(state: &State, action: Action, actor: &Actor) -> Result<Transition, Refusal> {
    if action == Action::Override {
        return next_override(state, actor);
    }
    let id = state.id;
    let st = state.status;
    let what = action.audit_action();
    use Action::*;
    let (op, allowed): (Operation, &[Action]) = match st.state {
        RequestState::Submitted => (Operation::DeptReview, &[Recommend, Reject]),
        RequestState::DeptRecommended => (Operation::ChiefOrIsReview, &[Recommend, Reject]),
        RequestState::Reviewed if matches!(action, Recommend | Reject) => {
            (Operation::ChiefOrIsReview, &[Recommend, Reject])
        }
        RequestState::Reviewed => (Operation::CityManagerDecision, &[Approve, Deny]),
        RequestState::Approved | RequestState::Denied | RequestState::Rejected => {
            return Err(Error::FailedPrecondition(
                format!("request {id} is already {:?}: no further steps", st.state).to_lowercase(),
            )
            .into())
        }
    };
    if !allowed.contains(&action) {
        let need = match st.state {
            RequestState::Submitted => "the department manager's recommend or reject",
            RequestState::DeptRecommended => {
                "the Chief of Police's or Information Services' recommend or reject"
            }
            _ => "the City Manager's approve or deny",
        };
        return Err(Error::FailedPrecondition(format!(
            "request {id} is {}: the next step is {need}, not {:?}",
            state_name(st.state),
            action.as_str()
        ))
        .into());
    }
    let user = actor.user;
    // Which role does the actor act as?
    let candidates: Vec<Role> = op
        .roles()
        .iter()
        .copied()
        .filter(|r| user.has(*r))
        .collect();
    let role = match actor.as_role {
        Some(r) if candidates.contains(&r) => r,
        Some(r) => {
            let as_r = auth::Actor {
                roles: vec![r],
                ..user.clone()
            };
            check(&as_r, op, what)?;
            return Err(Error::PermissionDenied(format!("you do not hold the role {r}")).into());
        }
        None => match candidates.first() {
            Some(r) => *r,
            None => {
                check(user, op, what)?;
                return Err(Error::Internal("role check passed without a role".into()).into());
            }
        },
    };
    if role == Role::DeptManager && user.department != state.department {
        let msg = format!(
            "only the manager of department {:?} reviews this request",
            state.department
        );
        return Err(Refusal::denied(user, what, "PlacementRequest", id, msg));
    }
    // "Chief of Police and/or Information Services": the other one may add a
    // review before the City Manager decides, but nobody reviews twice.
    if st.state == RequestState::Reviewed
        && matches!(action, Recommend | Reject)
        && st
            .steps
            .iter()
            .any(|s| s.role == role && s.action == "recommend")
    {
        let e = Error::FailedPrecondition(format!("request {id} was already reviewed as {role}"));
        return Err(Refusal::refused(user, what, "PlacementRequest", id, e));
    }
    // Separation of duties: one person takes one step of a request's chain,
    // whatever roles they hold (an override is a justification, not a step).
    if let Some(prev) = st
        .steps
        .iter()
        .find(|s| s.actor == user.username && s.action != Action::Override.as_str())
    {
        let msg = format!(
            "{} already took a step of request {id} ({} as {}); each step of the chain is taken by a different person",
            user.username, prev.action, prev.role
        );
        return Err(Refusal::denied(user, what, "PlacementRequest", id, msg));
    }
    if action == Approve {
        // Audited: an approval the placement verdict does not allow (placement
        // fails closed: `cannot_check` too) is a refusal on the record.
        approval_gate(id, st)
            .map_err(|e| Refusal::refused(user, what, "PlacementRequest", id, e))?;
        // Covert use and criminal investigations are the Police Department's
        // (policy 5.05): the chief's own step (a review or an override) must
        // be on the request. Refused on the record.
        if state.needs_chief && !st.steps.iter().any(|s| s.role == Role::Chief) {
            let e = Error::FailedPrecondition(format!(
                "request {id} is for a covert camera or a criminal investigation: the City Manager approves it only after the Chief of Police has reviewed it"
            ));
            return Err(Refusal::refused(user, what, "PlacementRequest", id, e));
        }
    }
    if actor.comment.trim().is_empty() && matches!(action, Reject | Deny) {
        return Err(Error::InvalidArgument(format!(
            "a {} needs a comment saying why",
            action.as_str()
        ))
        .into());
    }
    let to = match (st.state, action) {
        (_, Reject) => RequestState::Rejected,
        (RequestState::Submitted, Recommend) => RequestState::DeptRecommended,
        (_, Recommend) => RequestState::Reviewed,
        (_, Approve) => RequestState::Approved,
        (_, Deny) => RequestState::Denied,
        (s, Override) => s,
    };
    Ok(Transition {
        to,
        action,
        role,
        audit: what,
        verdict: None,
    })
}

/// An override: the chief (law enforcement) or an engineer (traffic safety)
/// records a written justification; a covert camera outside a criminal
/// investigation needs the chief, a prohibited room nobody.
fn next_override(state: &State, actor: &Actor) -> Result<Transition, Refusal> {
    let (id, st, user) = (state.id, state.status, actor.user);
    let what = Action::Override.audit_action();
    check(user, Operation::PlacementOverride, what)?;
    check_justification(actor.comment)?;
    if terminal(st.state) {
        return Err(Error::FailedPrecondition(format!(
            "request {id} is already {}: no further steps",
            state_name(st.state)
        ))
        .into());
    }
    let verdict = recorded_verdict(st.verdict.as_ref()).to_string();
    let Some(allowed) = override_roles(id, st.verdict.as_ref())? else {
        return Err(Error::FailedPrecondition(format!(
            "request {id}'s placement verdict is {verdict}: there is nothing to override"
        ))
        .into());
    };
    let held: Vec<Role> = allowed.iter().copied().filter(|r| user.has(*r)).collect();
    let role = match actor.as_role {
        Some(r) if held.contains(&r) => r,
        None if !held.is_empty() => held[0],
        r => {
            let msg = match r {
                Some(r) if !user.has(r) => format!("you do not hold the role {r}"),
                _ => format!(
                    "overriding a {verdict} verdict needs the role {}",
                    roles_text(allowed)
                ),
            };
            return Err(Refusal::denied(user, what, "PlacementRequest", id, msg));
        }
    };
    if st.steps.iter().any(|s| {
        s.action == "override"
            && s.role == role
            && s.overrode.as_deref().is_none_or(|v| v == verdict)
    }) {
        return Err(Error::FailedPrecondition(format!(
            "request {id} already has an override by the {role}"
        ))
        .into());
    }
    Ok(Transition {
        to: st.state,
        action: Action::Override,
        role,
        audit: what,
        verdict: Some(verdict),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use Action::*;
    use RequestState::*;

    /// What a refusal is, as the caller and the audit log see it.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Out {
        Ok(RequestState),
        /// PermissionDenied, audited as `denied`.
        Denied,
        /// PermissionDenied, not audited (a role asked for and not held).
        NotHeld,
        /// FailedPrecondition: out of order, repeated, or the verdict gate.
        Order,
        /// InvalidArgument: a missing comment.
        Invalid,
    }

    fn classify(r: Result<Transition, Refusal>) -> Out {
        match r {
            Ok(t) => Out::Ok(t.to),
            Err(Refusal {
                error: Error::PermissionDenied(_),
                audit: Some(_),
            }) => Out::Denied,
            Err(Refusal {
                error: Error::PermissionDenied(_),
                audit: None,
            }) => Out::NotHeld,
            Err(Refusal {
                error: Error::FailedPrecondition(_),
                ..
            }) => Out::Order,
            Err(Refusal {
                error: Error::InvalidArgument(_),
                ..
            }) => Out::Invalid,
            Err(r) => panic!("unexpected refusal {:?}", r.error),
        }
    }

    fn user(roles: &[Role], department: &str) -> auth::Actor {
        auth::Actor {
            username: "u".into(),
            roles: roles.to_vec(),
            department: department.into(),
        }
    }

    fn status(
        state: RequestState,
        steps: &[(&str, Role)],
        verdict: Option<&str>,
    ) -> PlacementRequestStatus {
        PlacementRequestStatus {
            state,
            steps: steps
                .iter()
                .map(|(a, r)| ApprovalStep {
                    action: (*a).into(),
                    role: *r,
                    actor: "x".into(),
                    at: Timestamp::UNIX_EPOCH,
                    comment: "c".into(),
                    overrode: None,
                })
                .collect(),
            verdict: verdict.map(|v| json!({"answer": {"verdict": v, "reasons": []}})),
            ..Default::default()
        }
    }

    fn run(
        st: &PlacementRequestStatus,
        action: Action,
        roles: &[Role],
        as_role: Option<Role>,
    ) -> Out {
        let u = user(roles, "parks");
        let s = State {
            id: "r1",
            department: "parks",
            status: st,
            needs_chief: false,
        };
        let a = Actor {
            user: &u,
            as_role,
            comment: "because",
        };
        classify(next(&s, action, &a))
    }

    /// For each state x action: the roles that may take it (and where it leads);
    /// every other role gets `other`.
    #[test]
    fn every_role_for_every_step() {
        use Role::*;
        let reviewed = status(
            Reviewed,
            &[("recommend", DeptManager), ("recommend", Chief)],
            Some("eligible"),
        );
        let table: Vec<(PlacementRequestStatus, Action, &[Role], Out, Out)> = vec![
            // (state, action, roles that may, their outcome, everyone else's)
            (
                status(Submitted, &[], None),
                Recommend,
                &[DeptManager],
                Out::Ok(DeptRecommended),
                Out::Denied,
            ),
            (
                status(Submitted, &[], None),
                Reject,
                &[DeptManager],
                Out::Ok(Rejected),
                Out::Denied,
            ),
            (
                status(Submitted, &[], None),
                Approve,
                &[],
                Out::Order,
                Out::Order,
            ),
            (
                status(Submitted, &[], None),
                Deny,
                &[],
                Out::Order,
                Out::Order,
            ),
            (
                status(DeptRecommended, &[], None),
                Recommend,
                &[Chief, Admin],
                Out::Ok(Reviewed),
                Out::Denied,
            ),
            (
                status(DeptRecommended, &[], None),
                Reject,
                &[Chief, Admin],
                Out::Ok(Rejected),
                Out::Denied,
            ),
            (
                status(DeptRecommended, &[], None),
                Approve,
                &[],
                Out::Order,
                Out::Order,
            ),
            (
                status(DeptRecommended, &[], None),
                Deny,
                &[],
                Out::Order,
                Out::Order,
            ),
            // The chief reviewed: only Information Services may add a review.
            (
                reviewed.clone(),
                Recommend,
                &[Admin],
                Out::Ok(Reviewed),
                Out::Denied,
            ),
            (
                reviewed.clone(),
                Reject,
                &[Admin],
                Out::Ok(Rejected),
                Out::Denied,
            ),
            (
                reviewed.clone(),
                Approve,
                &[CityManager],
                Out::Ok(Approved),
                Out::Denied,
            ),
            (
                reviewed.clone(),
                Deny,
                &[CityManager],
                Out::Ok(Denied),
                Out::Denied,
            ),
        ];
        for (st, action, may, ok, other) in table {
            for r in Role::ALL {
                let want = if may.contains(&r) { ok } else { other };
                // The chief's second review is out of order, not a wrong role.
                let want =
                    if st.state == Reviewed && r == Chief && matches!(action, Recommend | Reject) {
                        Out::Order
                    } else {
                        want
                    };
                assert_eq!(
                    run(&st, action, &[r], None),
                    want,
                    "{:?} {action:?} by {r}",
                    st.state
                );
            }
            assert_eq!(
                run(&st, action, &[], None),
                other,
                "{:?} {action:?} by nobody",
                st.state
            );
        }
        // Nothing follows an end, for anyone (an override is refused to a role
        // that never overrides before the request is looked at).
        for end in [Approved, Denied, Rejected] {
            for action in Action::ALL {
                for r in Role::ALL {
                    let want = if action == Override && !matches!(r, Chief | Engineer) {
                        Out::Denied
                    } else {
                        Out::Order
                    };
                    assert_eq!(
                        run(&status(end, &[], None), action, &[r], None),
                        want,
                        "{end:?} {action:?} by {r}"
                    );
                }
            }
        }
    }

    #[test]
    fn as_role_and_department() {
        use Role::*;
        let st = status(DeptRecommended, &[], None);
        // Both review roles held: `--as` picks, a role not held is refused.
        assert_eq!(
            run(&st, Recommend, &[Chief, Admin], Some(Admin)),
            Out::Ok(Reviewed)
        );
        assert_eq!(run(&st, Recommend, &[Chief], Some(Admin)), Out::NotHeld);
        // A role that does not take this step at all: audited as denied.
        assert_eq!(
            run(&st, Recommend, &[Chief, CityManager], Some(CityManager)),
            Out::Denied
        );
        // Another department's manager.
        let u = user(&[DeptManager], "police");
        let st = status(Submitted, &[], None);
        let s = State {
            id: "r1",
            department: "parks",
            status: &st,
            needs_chief: false,
        };
        let a = Actor {
            user: &u,
            as_role: None,
            comment: "",
        };
        assert_eq!(classify(next(&s, Recommend, &a)), Out::Denied);
    }

    #[test]
    fn words_and_the_verdict_gate() {
        use Role::*;
        let u = user(&[CityManager], "city");
        let gated = status(Reviewed, &[("recommend", Chief)], Some("not_eligible"));
        let s = State {
            id: "r1",
            department: "parks",
            status: &gated,
            needs_chief: false,
        };
        let a = Actor {
            user: &u,
            as_role: None,
            comment: "",
        };
        assert_eq!(classify(next(&s, Approve, &a)), Out::Order);
        assert_eq!(classify(next(&s, Deny, &a)), Out::Invalid);
        let overridden = status(
            Reviewed,
            &[("recommend", Chief), ("override", Engineer)],
            Some("not_eligible"),
        );
        let s = State {
            status: &overridden,
            ..s
        };
        assert_eq!(classify(next(&s, Approve, &a)), Out::Ok(Approved));
        let e = next(
            &State {
                status: &status(Submitted, &[], None),
                ..s
            },
            Approve,
            &a,
        )
        .unwrap_err();
        assert_eq!(
            e.error.to_string(),
            Error::FailedPrecondition("request r1 is submitted: the next step is the department manager's recommend or reject, not \"approve\"".into()).to_string()
        );
    }

    #[test]
    fn overrides() {
        use Role::*;
        let cases: Vec<(Option<&str>, &[Role], Out)> = vec![
            (Some("not_eligible"), &[Chief, Engineer], Out::Ok(Reviewed)),
            (Some("needs_review"), &[Chief, Engineer], Out::Ok(Reviewed)),
            (Some("prohibited"), &[Chief], Out::Ok(Reviewed)),
            (Some("eligible"), &[], Out::Order),
            // Placement fails closed: unchecked needs an override like not_eligible.
            (Some("cannot_check"), &[Chief, Engineer], Out::Ok(Reviewed)),
            (None, &[Chief, Engineer], Out::Ok(Reviewed)),
        ];
        for (verdict, may, ok) in cases {
            let st = status(Reviewed, &[], verdict);
            for r in Role::ALL {
                let want = if may.contains(&r) {
                    ok
                } else if matches!(r, Chief | Engineer) {
                    // Holds an override role, but not one this verdict takes (or nothing to override).
                    if may.is_empty() {
                        Out::Order
                    } else {
                        Out::Denied
                    }
                } else {
                    Out::Denied
                };
                assert_eq!(run(&st, Override, &[r], None), want, "{verdict:?} by {r}");
            }
        }
        // Twice by the same role; after the end; without a justification.
        let st = status(Reviewed, &[("override", Chief)], Some("not_eligible"));
        assert_eq!(run(&st, Override, &[Chief], None), Out::Order);
        assert_eq!(run(&st, Override, &[Engineer], None), Out::Ok(Reviewed));
        assert_eq!(
            run(
                &status(Approved, &[], Some("not_eligible")),
                Override,
                &[Chief],
                None
            ),
            Out::Order
        );
        let u = user(&[Chief], "police");
        let st = status(Submitted, &[], Some("not_eligible"));
        let s = State {
            id: "r1",
            department: "parks",
            status: &st,
            needs_chief: false,
        };
        let a = Actor {
            user: &u,
            as_role: None,
            comment: " ",
        };
        assert_eq!(classify(next(&s, Override, &a)), Out::Invalid);
        // A prohibited room: nobody.
        let mut st = status(Reviewed, &[], None);
        st.verdict =
            Some(json!({"answer": {"verdict": "prohibited", "reasons": ["prohibited_room"]}}));
        assert_eq!(run(&st, Override, &[Chief], None), Out::Order);
    }

    #[test]
    fn the_legitimate_path() {
        use Role::*;
        let mut st = status(Submitted, &[], Some("eligible"));
        for (action, role, to) in [
            (Recommend, DeptManager, DeptRecommended),
            (Recommend, Chief, Reviewed),
            (Recommend, Admin, Reviewed),
            (Approve, CityManager, Approved),
        ] {
            // Four people: one person takes one step.
            let u = auth::Actor {
                username: format!("{role}"),
                ..user(&[role], "parks")
            };
            let s = State {
                id: "r1",
                department: "parks",
                status: &st,
                needs_chief: false,
            };
            let a = Actor {
                user: &u,
                as_role: None,
                comment: "ok",
            };
            let t = next(&s, action, &a).unwrap();
            assert_eq!((t.to, t.role, t.audit), (to, role, action.audit_action()));
            st.steps.push(t.step(&a, Timestamp::UNIX_EPOCH));
            st.state = t.to;
        }
        assert_eq!(st.steps.len(), 4);
    }

    /// Separation of duties: a user holding several roles cannot take two steps
    /// of one request (recommend twice under two roles, or recommend then
    /// decide); the refusal is audited. A different person takes the next step.
    #[test]
    fn one_person_takes_one_step() {
        use Role::*;
        let everything = user(&[DeptManager, Chief, Admin, CityManager], "parks");
        let steps_by = |who: &str, steps: &[(&str, Role)]| {
            let mut st = status(Submitted, steps, Some("eligible"));
            for s in &mut st.steps {
                s.actor = who.into();
            }
            st
        };
        let try_as = |st: &PlacementRequestStatus, action: Action, who: &auth::Actor| {
            let s = State {
                id: "r1",
                department: "parks",
                status: st,
                needs_chief: false,
            };
            classify(next(
                &s,
                action,
                &Actor {
                    user: who,
                    as_role: None,
                    comment: "because",
                },
            ))
        };
        // Recommended as department manager by "u": u may not review as chief.
        let mut st = steps_by("u", &[("recommend", DeptManager)]);
        st.state = DeptRecommended;
        assert_eq!(try_as(&st, Recommend, &everything), Out::Denied);
        assert_eq!(try_as(&st, Reject, &everything), Out::Denied);
        // Reviewed with u's recommendation in it: u may not decide.
        let mut st = steps_by("u", &[("recommend", DeptManager), ("recommend", Chief)]);
        st.state = Reviewed;
        st.steps[0].actor = "mgr".into();
        assert_eq!(try_as(&st, Approve, &everything), Out::Denied);
        assert_eq!(try_as(&st, Deny, &everything), Out::Denied);
        // Someone else may.
        let cm = auth::Actor {
            username: "cm".into(),
            ..user(&[CityManager], "city")
        };
        assert_eq!(try_as(&st, Approve, &cm), Out::Ok(Approved));
        // An override by the chief is not a step: the chief may still review.
        let mut st = steps_by("u", &[("override", Chief)]);
        st.state = DeptRecommended;
        st.steps.insert(
            0,
            ApprovalStep {
                action: "recommend".into(),
                role: DeptManager,
                actor: "mgr".into(),
                at: Timestamp::UNIX_EPOCH,
                comment: "c".into(),
                overrode: None,
            },
        );
        assert_eq!(try_as(&st, Recommend, &everything), Out::Ok(Reviewed));
    }

    /// A covert camera's request reaches the City Manager through Information
    /// Services alone: approval is refused until the chief has taken a step.
    #[test]
    fn covert_needs_the_chief() {
        use Role::*;
        let cm = auth::Actor {
            username: "cm".into(),
            ..user(&[CityManager], "city")
        };
        // The City Manager's approval, as the rule answers it.
        let decide = |steps: &[(&str, Role)], needs_chief: bool| {
            let st = status(Reviewed, steps, Some("eligible"));
            let s = State {
                id: "r1",
                department: "parks",
                status: &st,
                needs_chief,
            };
            next(
                &s,
                Approve,
                &Actor {
                    user: &cm,
                    as_role: None,
                    comment: "ok",
                },
            )
        };
        let approve =
            |steps: &[(&str, Role)], needs_chief: bool| classify(decide(steps, needs_chief));
        let is_only = [("recommend", DeptManager), ("recommend", Admin)];
        assert_eq!(approve(&is_only, true), Out::Order);
        assert_eq!(approve(&is_only, false), Out::Ok(Approved));
        let with_chief = [("recommend", DeptManager), ("recommend", Chief)];
        assert_eq!(approve(&with_chief, true), Out::Ok(Approved));
        // A criminal investigation lifts the placement rules for prohibited
        // rooms and covert use: police work, the chief's step too, whichever
        // department asks.
        use camplane_config::model::Purpose;
        assert!(needs_chief(false, Some(Purpose::CriminalInvestigation)));
        assert!(!needs_chief(false, Some(Purpose::PropertyProtection)));
        assert_eq!(
            approve(
                &is_only,
                needs_chief(false, Some(Purpose::CriminalInvestigation))
            ),
            Out::Order
        );
        // The refusal is on the record.
        assert!(matches!(
            decide(&is_only, true),
            Err(Refusal { audit: Some(_), .. })
        ));
    }

    #[test]
    fn names_parse() {
        for a in Action::ALL {
            assert_eq!(a.as_str().parse::<Action>().unwrap(), a);
        }
        let e = "approved".parse::<Action>().unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
        assert!(e
            .to_string()
            .contains("recommend, reject, approve, deny, override"));
    }
}
