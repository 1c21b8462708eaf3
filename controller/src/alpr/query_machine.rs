//! Supervisor approval of an ALPR query as a pure function. Policy 5.05,
//! Accountability and Safeguards: "Queries that are not covered under the IOWA
//! system requirements shall not be made into the system without Supervisor
//! approval." A supervisor other than the requester decides, once; the
//! requesting operator runs an approved query, once.
//!
//! ```text
//! pending --approve--> approved --run--> used
//!    `----reject-----> rejected
//! ```
//!
//! No store, no clock: the store code loads the approval, calls [`next`] and
//! applies the [`Transition`] (its own time and the query's results).

use crate::alpr::approval::{AlprApproval, ApprovalState};
use crate::core::audit::AuditAction;
use crate::core::auth::{Actor, Operation};
use crate::core::object::{check, Refusal};
use crate::Error;
use std::str::FromStr;

/// A step on a query approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A supervisor approves.
    Approve,
    /// A supervisor rejects.
    Reject,
    /// The requester runs the approved query.
    Run,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 3] = [Action::Approve, Action::Reject, Action::Run];

    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Approve => "approve",
            Action::Reject => "reject",
            Action::Run => "run",
        }
    }

    /// The audit action of the step (and of its refusals).
    pub fn audit_action(self) -> AuditAction {
        match self {
            Action::Approve => AuditAction::AlprApprovalApprove,
            Action::Reject => AuditAction::AlprApprovalReject,
            Action::Run => AuditAction::AlprSearch,
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
                    "unknown approval action {:?} (approve, reject, run)",
                    s.chars().take(40).collect::<String>()
                ))
            })
    }
}

/// What a permitted step changes and records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The approval's state after the step.
    pub to: ApprovalState,
    /// The audit action recorded with it.
    pub audit: AuditAction,
}

/// The rule: the step `action` by `actor` on the approval `state`, or why not.
/// The role is checked first (the store code checks it before loading, too),
/// then who the actor is to this request, then the order.
pub fn next(state: &AlprApproval, action: Action, actor: &Actor) -> Result<Transition, Refusal> {
    let id = &state.id;
    // Its plate was erased with the ALPR data of its time (30 days after its
    // last step): there is nothing left to approve or run.
    if state.plate == crate::core::sealed::ERASED && action != Action::Reject {
        return Err(Error::FailedPrecondition(format!(
            "{id}'s plate was erased 30 days after its last step: ask again"
        ))
        .into());
    }
    match action {
        Action::Approve | Action::Reject => {
            check(actor, Operation::ApproveAlprQuery, action.audit_action())?;
            if state.requested_by == actor.username {
                return Err(Error::PermissionDenied(format!(
                    "{id} is your own request: another supervisor decides it"
                ))
                .into());
            }
            if state.state != ApprovalState::Pending {
                return Err(Error::FailedPrecondition(format!(
                    "{id} is already {} (by {}): a decision is final",
                    state.state.as_str(),
                    state.decided_by.as_deref().unwrap_or("-")
                ))
                .into());
            }
            let to = if action == Action::Approve {
                ApprovalState::Approved
            } else {
                ApprovalState::Rejected
            };
            Ok(Transition {
                to,
                audit: action.audit_action(),
            })
        }
        Action::Run => {
            if state.hotlist.is_some() {
                return Err(Error::FailedPrecondition(format!(
                    "{id} is a hotlist load: it takes effect when approved; nothing runs"
                ))
                .into());
            }
            if !Operation::SearchAlpr.allows(actor) {
                return Err(Error::PermissionDenied(
                    "ALPR searches need the alpr_operator role".into(),
                )
                .into());
            }
            if state.requested_by != actor.username {
                return Err(Error::PermissionDenied(format!(
                    "{id} was requested by {}: only they run it",
                    state.requested_by
                ))
                .into());
            }
            let e = match state.state {
                ApprovalState::Approved => {
                    return Ok(Transition {
                        to: ApprovalState::Used,
                        audit: action.audit_action(),
                    })
                }
                ApprovalState::Pending => {
                    format!("{id} still waits for a supervisor's approval")
                }
                ApprovalState::Rejected => format!(
                    "{id} was rejected by {}: {}",
                    state.decided_by.as_deref().unwrap_or("-"),
                    state.decision_reason.as_deref().unwrap_or("")
                ),
                ApprovalState::Used => format!(
                    "{id} already ran (query {}); an approval runs once",
                    state.query_id.as_deref().unwrap_or("-")
                ),
            };
            Err(Error::FailedPrecondition(e).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use camplane_config::model::Role;
    use jiff::Timestamp;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Out {
        Ok(ApprovalState),
        /// PermissionDenied: a wrong role, or the wrong person for this request.
        Denied,
        /// FailedPrecondition: out of order or repeated.
        Order,
    }

    fn approval(state: ApprovalState) -> AlprApproval {
        crate::alpr::approval::sample("aq-1-ab", state)
    }

    /// An approval whose plate was erased at 30 days is neither approved nor
    /// run; it may still be rejected.
    #[test]
    fn an_erased_approval_is_not_approved_or_run() {
        let sup = Actor {
            username: "sup".into(),
            roles: vec![Role::Supervisor],
            department: "police".into(),
        };
        let mut a = approval(ApprovalState::Pending);
        a.plate = crate::core::sealed::ERASED.into();
        assert!(next(&a, Action::Approve, &sup).is_err());
        assert!(next(&a, Action::Reject, &sup).is_ok());
        a.state = ApprovalState::Approved;
        let op = Actor {
            username: a.requested_by.clone(),
            roles: vec![Role::AlprOperator],
            department: "police".into(),
        };
        assert!(next(&a, Action::Run, &op).is_err());
    }

    fn run(state: ApprovalState, action: Action, who: &str, roles: &[Role]) -> Out {
        let actor = Actor {
            username: who.into(),
            roles: roles.to_vec(),
            department: "police".into(),
        };
        match next(&approval(state), action, &actor) {
            Ok(t) => {
                assert_eq!(t.audit, action.audit_action());
                Out::Ok(t.to)
            }
            Err(r) => match r.error {
                Error::PermissionDenied(_) => Out::Denied,
                Error::FailedPrecondition(_) => Out::Order,
                e => panic!("unexpected refusal {e:?}"),
            },
        }
    }

    /// Every state x action x role, by someone else (a supervisor) and by the
    /// requester (an operator).
    #[test]
    fn every_role_for_every_step() {
        use ApprovalState::*;
        // (state, action, outcome for the role that may, by the one who may)
        let table = [
            (Pending, Action::Approve, Out::Ok(Approved)),
            (Pending, Action::Reject, Out::Ok(Rejected)),
            (Pending, Action::Run, Out::Order),
            (Approved, Action::Approve, Out::Order),
            (Approved, Action::Reject, Out::Order),
            (Approved, Action::Run, Out::Ok(Used)),
            (Rejected, Action::Approve, Out::Order),
            (Rejected, Action::Reject, Out::Order),
            (Rejected, Action::Run, Out::Order),
            (Used, Action::Approve, Out::Order),
            (Used, Action::Reject, Out::Order),
            (Used, Action::Run, Out::Order),
        ];
        for (state, action, ok) in table {
            // Deciding: a supervisor other than the requester.
            // Running: the requester, an operator.
            let (who, may) = match action {
                Action::Run => ("op", Role::AlprOperator),
                _ => ("sup", Role::Supervisor),
            };
            for r in Role::ALL {
                let want = if r == may { ok } else { Out::Denied };
                assert_eq!(
                    run(state, action, who, &[r]),
                    want,
                    "{state:?} {action:?} by {r}"
                );
            }
            assert_eq!(run(state, action, who, &[]), Out::Denied);
            // The wrong person with the right role.
            let other = match action {
                Action::Run => "someone-else",
                _ => "op",
            };
            assert_eq!(
                run(state, action, other, &[may]),
                Out::Denied,
                "{state:?} {action:?} by {other}"
            );
        }
    }

    #[test]
    fn the_legitimate_path() {
        let mut a = approval(ApprovalState::Pending);
        let sup = Actor {
            username: "sup".into(),
            roles: vec![Role::Supervisor],
            department: "police".into(),
        };
        a.state = next(&a, Action::Approve, &sup).unwrap().to;
        let op = Actor {
            username: "op".into(),
            roles: vec![Role::AlprOperator],
            department: "police".into(),
        };
        let t = next(&a, Action::Run, &op).unwrap();
        assert_eq!(
            t,
            Transition {
                to: ApprovalState::Used,
                audit: AuditAction::AlprSearch
            }
        );
    }

    /// A hotlist load is decided like a query (a supervisor, not the loader,
    /// once) and never runs.
    #[test]
    fn a_hotlist_load_is_decided_by_another_supervisor_and_never_runs() {
        let mut a = approval(ApprovalState::Pending);
        a.id = "ah-1-ab".into();
        a.requested_by = "sgt".into();
        a.hotlist = Some(crate::alpr::case_list::HotlistLoadSummary {
            list: "custom.investigative.26-01234".into(),
            mode: "replace".into(),
            file: "f.csv".into(),
            sha256: String::new(),
            entries: 1,
            bad_rows: 0,
            expires: Timestamp::UNIX_EPOCH,
        });
        let who = |n: &str, r: Role| Actor {
            username: n.into(),
            roles: vec![r],
            department: "police".into(),
        };
        let loader = who("sgt", Role::Supervisor);
        let e = next(&a, Action::Approve, &loader).unwrap_err();
        assert!(matches!(e.error, Error::PermissionDenied(_)), "{e:?}");
        let e = next(&a, Action::Approve, &who("chief", Role::Chief)).unwrap_err();
        assert!(matches!(e.error, Error::PermissionDenied(_)), "{e:?}");
        let t = next(&a, Action::Approve, &who("sup", Role::Supervisor)).unwrap();
        assert_eq!(t.to, ApprovalState::Approved);
        for s in [ApprovalState::Pending, ApprovalState::Approved] {
            a.state = s;
            for actor in [&loader, &who("op", Role::AlprOperator)] {
                let e = next(&a, Action::Run, actor).unwrap_err();
                assert!(matches!(e.error, Error::FailedPrecondition(_)), "{e:?}");
            }
        }
    }

    #[test]
    fn names_parse() {
        for a in Action::ALL {
            assert_eq!(a.as_str().parse::<Action>().unwrap(), a);
        }
        assert!(matches!(
            "ok".parse::<Action>(),
            Err(Error::InvalidArgument(_))
        ));
    }
}
