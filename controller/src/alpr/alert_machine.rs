//! Alert review as a pure function. Policy 5.05, ALPR Operation: "the officer
//! shall verify an ALPR response through the IOWA system before taking
//! enforcement action that is based solely on an ALPR alert. Additionally, the
//! officer shall visually verify that the license plate and vehicle identifiers
//! match the alert."
//!
//! ```text
//! unverified --verify--> verified --act--> actioned
//!      \                    |
//!       `----reject----> rejected
//! ```
//!
//! No store, no clock: the store code checks the step's input, loads the alert,
//! calls [`next`] and applies the [`Transition`].

use crate::core::audit::AuditAction;
use crate::core::auth::{Actor, Operation};
use crate::core::object::{check, Refusal};
use crate::Error;
use std::str::FromStr;

/// A step on an alert, as named on the wire and in the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Record the visual and state-system checks.
    Verify,
    /// Reject the alert with a reason.
    Reject,
    /// Record the action taken, with its case number.
    Act,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 3] = [Action::Verify, Action::Reject, Action::Act];

    /// The name on the wire (and in the alert's steps).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Verify => "verify",
            Action::Reject => "reject",
            Action::Act => "act",
        }
    }

    /// The audit action of the step (and of its refusals).
    pub fn audit_action(self) -> AuditAction {
        match self {
            Action::Verify => AuditAction::AlertVerify,
            Action::Reject => AuditAction::AlertReject,
            Action::Act => AuditAction::AlertAct,
        }
    }
}

impl FromStr for Action {
    type Err = Error;
    fn from_str(s: &str) -> Result<Action, Error> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| Error::InvalidArgument("action: one of verify, reject, act".into()))
    }
}

/// Where an alert stands (stored as its name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    /// Arrived, nobody checked it yet.
    Unverified,
    /// Both checks confirmed.
    Verified,
    /// Acted on, with a case number.
    Actioned,
    /// Rejected with a reason.
    Rejected,
}

impl AlertState {
    /// Every state.
    pub const ALL: [AlertState; 4] = [
        AlertState::Unverified,
        AlertState::Verified,
        AlertState::Actioned,
        AlertState::Rejected,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Unverified => "unverified",
            AlertState::Verified => "verified",
            AlertState::Actioned => "actioned",
            AlertState::Rejected => "rejected",
        }
    }

    /// The state of a stored name (`None`: not one the review knows).
    pub fn parse(s: &str) -> Option<AlertState> {
        AlertState::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// The alert as the review sees it.
#[derive(Debug, Clone, Copy)]
pub struct State<'a> {
    /// The alert's id.
    pub id: &'a str,
    /// Its stored status (an unknown one takes no step).
    pub status: &'a str,
}

/// What a permitted step changes and records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The alert's state after the step.
    pub to: AlertState,
    /// The audit action recorded with it.
    pub audit: AuditAction,
}

/// The rule: the step `action` by `actor` on the alert `state`, or why not.
pub fn next(state: &State, action: Action, actor: &Actor) -> Result<Transition, Refusal> {
    use AlertState::*;
    check(actor, Operation::VerifyAlerts, action.audit_action())?;
    let (from, to): (&[AlertState], AlertState) = match action {
        Action::Verify => (&[Unverified], Verified),
        Action::Reject => (&[Unverified, Verified], Rejected),
        Action::Act => (&[Verified], Actioned),
    };
    let now = AlertState::parse(state.status);
    if !now.is_some_and(|s| from.contains(&s)) {
        let next = match now {
            Some(Unverified) => "verify it (both checks) or reject it",
            Some(Verified) => "act on it (with a case number) or reject it",
            _ => "no further step",
        };
        return Err(Error::FailedPrecondition(format!(
            "alert {} is {}: cannot {} it ({next})",
            state.id,
            state.status,
            action.as_str()
        ))
        .into());
    }
    Ok(Transition {
        to,
        audit: action.audit_action(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use camplane_config::model::Role;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Out {
        Ok(AlertState),
        /// PermissionDenied, audited as `denied`.
        Denied,
        /// FailedPrecondition: out of order or repeated.
        Order,
    }

    fn run(status: &str, action: Action, roles: &[Role]) -> Out {
        let actor = Actor {
            username: "op".into(),
            roles: roles.to_vec(),
            department: "police".into(),
        };
        match next(&State { id: "a1", status }, action, &actor) {
            Ok(t) => {
                assert_eq!(t.audit, action.audit_action());
                Out::Ok(t.to)
            }
            Err(Refusal {
                error: Error::PermissionDenied(_),
                audit: Some(_),
            }) => Out::Denied,
            Err(Refusal {
                error: Error::FailedPrecondition(_),
                ..
            }) => Out::Order,
            Err(r) => panic!("unexpected refusal {:?}", r.error),
        }
    }

    /// Every state x action x role: only an ALPR operator takes a step, and
    /// only in its order.
    #[test]
    fn every_role_for_every_step() {
        use AlertState::*;
        let table = [
            (Unverified, Action::Verify, Out::Ok(Verified)),
            (Unverified, Action::Reject, Out::Ok(Rejected)),
            (Unverified, Action::Act, Out::Order),
            (Verified, Action::Verify, Out::Order),
            (Verified, Action::Reject, Out::Ok(Rejected)),
            (Verified, Action::Act, Out::Ok(Actioned)),
            (Actioned, Action::Verify, Out::Order),
            (Actioned, Action::Reject, Out::Order),
            (Actioned, Action::Act, Out::Order),
            (Rejected, Action::Verify, Out::Order),
            (Rejected, Action::Reject, Out::Order),
            (Rejected, Action::Act, Out::Order),
        ];
        for (state, action, ok) in table {
            for r in Role::ALL {
                let want = if r == Role::AlprOperator {
                    ok
                } else {
                    Out::Denied
                };
                assert_eq!(
                    run(state.as_str(), action, &[r]),
                    want,
                    "{state:?} {action:?} by {r}"
                );
            }
            assert_eq!(run(state.as_str(), action, &[]), Out::Denied);
        }
        // A status the review does not know takes no step.
        for action in Action::ALL {
            assert_eq!(run("archived", action, &[Role::AlprOperator]), Out::Order);
        }
    }

    #[test]
    fn the_legitimate_path_and_the_messages() {
        let op = Actor {
            username: "op".into(),
            roles: vec![Role::AlprOperator],
            department: "police".into(),
        };
        let mut s = AlertState::Unverified;
        for a in [Action::Verify, Action::Act] {
            s = next(
                &State {
                    id: "a1",
                    status: s.as_str(),
                },
                a,
                &op,
            )
            .unwrap()
            .to;
        }
        assert_eq!(s, AlertState::Actioned);
        let e = next(
            &State {
                id: "a1",
                status: "unverified",
            },
            Action::Act,
            &op,
        )
        .unwrap_err();
        assert_eq!(
            e.error.to_string(),
            Error::FailedPrecondition(
                "alert a1 is unverified: cannot act it (verify it (both checks) or reject it)"
                    .into()
            )
            .to_string()
        );
    }

    #[test]
    fn names_parse() {
        for a in Action::ALL {
            assert_eq!(a.as_str().parse::<Action>().unwrap(), a);
        }
        assert!(matches!(
            "actioned".parse::<Action>(),
            Err(Error::InvalidArgument(_))
        ));
    }
}
