//! Legal holds as a pure function. Policy 5.05, Storage and Retention:
//! recordings are erased after about 30 days "unless retained as part of a
//! criminal investigation or court proceedings (criminal or civil), or other
//! bona fide use as approved by the City Manager or designee". The Chief of
//! Police places and releases holds for investigations and court proceedings,
//! the City Manager those for other bona fide uses.
//!
//! ```text
//! (none) --place--> in force --release--> released (release again: nothing to do)
//! ```
//!
//! No store, no clock: the store code calls [`next`] and applies the
//! [`Transition`] (stamping it with its own time).

use crate::core::audit::AuditAction;
use crate::core::auth::{Actor, Operation};
use crate::core::object::{check, Refusal};
use crate::Error;
use camplane_config::model::HoldReason;
use std::str::FromStr;

/// A step on a hold, as named in the CLI (`camplane hold create|release`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Place a new hold.
    Place,
    /// Release a hold in force.
    Release,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 2] = [Action::Place, Action::Release];

    /// The name on the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Place => "create",
            Action::Release => "release",
        }
    }

    /// The audit action of the step (and of its refusals).
    pub fn audit_action(self) -> AuditAction {
        match self {
            Action::Place => AuditAction::HoldCreate,
            Action::Release => AuditAction::HoldRelease,
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
                    "unknown hold action {:?} (create, release)",
                    s.chars().take(40).collect::<String>()
                ))
            })
    }
}

/// Where a hold stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Not placed yet.
    New,
    /// Placed and not released: what it covers is kept.
    InForce,
    /// Released: what it kept goes at the next sweep.
    Released,
}

/// The hold as the rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    /// Why it is (to be) held: decides who places and releases it.
    pub reason: HoldReason,
    /// Where it stands.
    pub stage: Stage,
}

/// What a permitted step changes and records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The hold's stage after the step.
    pub to: Stage,
    /// Whether anything changes (releasing a released hold does not).
    pub write: bool,
    /// The audit action recorded with it.
    pub audit: AuditAction,
}

/// The operation that places and releases holds of this reason.
pub fn operation(reason: HoldReason) -> Operation {
    match reason {
        HoldReason::CriminalInvestigation | HoldReason::Court => Operation::HoldForCase,
        HoldReason::CityManagerApproved => Operation::HoldCityManager,
        HoldReason::RecordsRequest => Operation::ReviewRecordsRequest,
    }
}

/// The rule: the step `action` by `actor` on the hold `state`, or why not.
pub fn next(state: &State, action: Action, actor: &Actor) -> Result<Transition, Refusal> {
    if state.reason == HoldReason::RecordsRequest {
        // Its one home is the records request's rule (`oversight`): placed
        // when a request covering recordings opens, released when it closes.
        return Err(Refusal::refused(
            actor,
            action.audit_action(),
            "LegalHold",
            "",
            Error::FailedPrecondition(
                "a records request's hold is placed and released with its request (`camplane records-request`), never by hand".into(),
            ),
        ));
    }
    check(actor, operation(state.reason), action.audit_action())?;
    let (to, write) = match (state.stage, action) {
        (Stage::New, Action::Place) => (Stage::InForce, true),
        (Stage::InForce, Action::Release) => (Stage::Released, true),
        (Stage::Released, Action::Release) => (Stage::Released, false),
        (Stage::New, Action::Release) => {
            return Err(Error::NotFound("the hold is not placed".into()).into())
        }
        (_, Action::Place) => {
            return Err(Error::AlreadyExists("the hold is placed already".into()).into())
        }
    };
    Ok(Transition {
        to,
        write,
        audit: action.audit_action(),
    })
}

/// The generic `camplane delete hold NAME`: always refused, audited as a
/// denied `delete`. A hold ends only by its release, by the roles [`next`]
/// allows, which leaves the record of who released it and when; a released hold
/// stays as the record of the case's hold.
pub fn delete(name: &str, state: &State, actor: &Actor) -> Refusal {
    let roles = operation(state.reason)
        .roles()
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let name: String = name.chars().take(80).collect();
    let msg = match state.stage {
        Stage::Released => format!(
            "legal hold {name} is released and kept as its record; holds are never deleted (a hold in force ends through `camplane hold release {name}`)"
        ),
        Stage::New | Stage::InForce => format!(
            "legal hold {name} is not deleted: it ends only through `camplane hold release {name}` (by {roles})"
        ),
    };
    Refusal::denied(actor, AuditAction::Delete, "LegalHold", &name, msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use camplane_config::model::Role;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Out {
        Ok(Stage, bool),
        /// PermissionDenied, audited as `denied`.
        Denied,
        /// Out of order: releasing what was never placed, placing twice.
        Order,
    }

    fn run(reason: HoldReason, stage: Stage, action: Action, roles: &[Role]) -> Out {
        let actor = Actor {
            username: "u".into(),
            roles: roles.to_vec(),
            department: "police".into(),
        };
        match next(&State { reason, stage }, action, &actor) {
            Ok(t) => {
                assert_eq!(t.audit, action.audit_action());
                Out::Ok(t.to, t.write)
            }
            Err(Refusal {
                error: Error::PermissionDenied(_),
                audit: Some(_),
            }) => Out::Denied,
            Err(Refusal {
                error: Error::NotFound(_) | Error::AlreadyExists(_),
                ..
            }) => Out::Order,
            Err(r) => panic!("unexpected refusal {:?}", r.error),
        }
    }

    /// Every reason x stage x action x role.
    #[test]
    fn every_role_for_every_step() {
        use Stage::*;
        let steps = [
            (New, Action::Place, Out::Ok(InForce, true)),
            (New, Action::Release, Out::Order),
            (InForce, Action::Place, Out::Order),
            (InForce, Action::Release, Out::Ok(Released, true)),
            (Released, Action::Place, Out::Order),
            (Released, Action::Release, Out::Ok(Released, false)),
        ];
        let reasons = [
            (HoldReason::CriminalInvestigation, Role::Chief),
            (HoldReason::Court, Role::Chief),
            (HoldReason::CityManagerApproved, Role::CityManager),
        ];
        for (reason, may) in reasons {
            for (stage, action, ok) in steps {
                for r in Role::ALL {
                    let want = if r == may { ok } else { Out::Denied };
                    assert_eq!(
                        run(reason, stage, action, &[r]),
                        want,
                        "{reason:?} {stage:?} {action:?} by {r}"
                    );
                }
                assert_eq!(run(reason, stage, action, &[]), Out::Denied);
            }
        }
    }

    #[test]
    fn the_legitimate_path() {
        let chief = Actor {
            username: "chief".into(),
            roles: vec![Role::Chief],
            department: "police".into(),
        };
        let mut s = State {
            reason: HoldReason::Court,
            stage: Stage::New,
        };
        for a in [Action::Place, Action::Release] {
            s.stage = next(&s, a, &chief).unwrap().to;
        }
        assert_eq!(s.stage, Stage::Released);
        // The denial names the roles that may.
        let e = next(
            &s,
            Action::Release,
            &Actor {
                roles: vec![Role::Admin],
                ..chief
            },
        )
        .unwrap_err();
        assert_eq!(
            e.error.to_string(),
            Error::PermissionDenied("hold.release needs one of the roles chief".into()).to_string()
        );
    }

    /// Nobody deletes a hold, in any stage, whatever their roles; the refusal is
    /// audited and names the way a hold ends.
    #[test]
    fn a_hold_is_never_deleted() {
        for reason in [HoldReason::Court, HoldReason::CityManagerApproved] {
            for stage in [Stage::InForce, Stage::Released] {
                for r in Role::ALL {
                    let actor = Actor {
                        username: "u".into(),
                        roles: vec![r],
                        department: String::new(),
                    };
                    let e = delete("hold-1", &State { reason, stage }, &actor);
                    assert!(matches!(e.error, Error::PermissionDenied(_)));
                    assert!(e.audit.is_some(), "the refusal is audited");
                    assert!(
                        e.error.to_string().contains("camplane hold release hold-1"),
                        "{}",
                        e.error
                    );
                }
            }
        }
    }

    #[test]
    fn names_parse() {
        for a in Action::ALL {
            assert_eq!(a.as_str().parse::<Action>().unwrap(), a);
        }
        assert!(matches!(
            "place".parse::<Action>(),
            Err(Error::InvalidArgument(_))
        ));
    }
}
