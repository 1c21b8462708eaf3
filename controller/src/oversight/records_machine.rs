//! External requests to release records, as a pure function. Policy 5.05:
//! "The City's Public Information Officer will review all external requests to
//! release records obtained through security camera surveillance, with
//! consultation and advice from the City Attorney's Office related to these
//! requests prior to the release of any records."
//!
//! ```text
//! (none) --open (pio, city_clerk)--> received --review (pio)--> under review
//!   --advise (city_attorney)--> advised --decide (pio)--> released --fulfil (pio)--> fulfilled
//!                                                     \--> denied
//! ```
//!
//! The decision comes only after the City Attorney's advice; denied and
//! fulfilled requests are closed (their legal hold is released with the step).
//! No store, no clock; every refusal (wrong role first, then a step out of
//! order) carries its audit entry.

use crate::core::audit::AuditAction;
use crate::core::auth::{Actor, Operation};
use crate::core::object::{check, Refusal};
use crate::Error;
use serde::{Deserialize, Serialize};

/// Where a records request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Not opened yet.
    New,
    /// Recorded; waits for the Public Information Officer.
    Received,
    /// The Public Information Officer took it up; waits for the City Attorney.
    UnderReview,
    /// The City Attorney advised; waits for the Public Information Officer's decision.
    Advised,
    /// Release decided; waits to be fulfilled.
    Released,
    /// Denied (closed).
    Denied,
    /// Released and fulfilled (closed).
    Fulfilled,
}

impl Stage {
    /// The name in lists.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::New => "new",
            Stage::Received => "received",
            Stage::UnderReview => "under_review",
            Stage::Advised => "advised",
            Stage::Released => "released",
            Stage::Denied => "denied",
            Stage::Fulfilled => "fulfilled",
        }
    }

    /// Whether it still waits for a decision (and so can be overdue).
    pub fn awaits_decision(self) -> bool {
        matches!(self, Stage::Received | Stage::UnderReview | Stage::Advised)
    }

    /// Whether it is closed (its hold released).
    pub fn is_closed(self) -> bool {
        matches!(self, Stage::Denied | Stage::Fulfilled)
    }
}

/// The Public Information Officer's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Release the records.
    Release,
    /// Deny the request.
    Deny,
}

/// A step on a records request, as named on the CLI (`camplane records-request ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Record a new request.
    Open,
    /// The Public Information Officer takes it up.
    Review,
    /// The City Attorney advises.
    Advise,
    /// The Public Information Officer decides.
    Decide(Decision),
    /// The Public Information Officer fulfils a released request.
    Fulfil,
}

impl Action {
    /// The operation (and so the roles) of the step.
    pub fn operation(self) -> Operation {
        match self {
            Action::Open => Operation::OpenRecordsRequest,
            Action::Advise => Operation::AdviseRecordsRequest,
            Action::Review | Action::Decide(_) | Action::Fulfil => Operation::ReviewRecordsRequest,
        }
    }

    /// The audit action of the step (and of its refusals).
    pub fn audit_action(self) -> AuditAction {
        match self {
            Action::Open => AuditAction::RecordsOpen,
            Action::Review => AuditAction::RecordsReview,
            Action::Advise => AuditAction::RecordsAdvise,
            Action::Decide(_) => AuditAction::RecordsDecide,
            Action::Fulfil => AuditAction::RecordsFulfil,
        }
    }

    /// The stage the step starts from, and what it leads to.
    fn edge(self) -> (Stage, Stage) {
        match self {
            Action::Open => (Stage::New, Stage::Received),
            Action::Review => (Stage::Received, Stage::UnderReview),
            Action::Advise => (Stage::UnderReview, Stage::Advised),
            Action::Decide(Decision::Release) => (Stage::Advised, Stage::Released),
            Action::Decide(Decision::Deny) => (Stage::Advised, Stage::Denied),
            Action::Fulfil => (Stage::Released, Stage::Fulfilled),
        }
    }
}

/// What a permitted step changes and records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The stage after the step.
    pub to: Stage,
    /// Whether the step closes the request (its hold is released with it).
    pub closes: bool,
    /// The audit action recorded with it.
    pub audit: AuditAction,
}

/// One person, one side of the advice: the City Attorney's advice comes from
/// someone other than the officer who reviews and decides (policy 5.05: the
/// officer decides "with consultation and advice from the City Attorney's
/// Office"), whatever roles one user holds. `advised_by` and `reviewed_by`:
/// who took those steps so far. Refused on the record.
pub fn check_people(
    id: &str,
    action: Action,
    actor: &Actor,
    reviewed_by: &[&str],
    advised_by: &[&str],
) -> Result<(), Refusal> {
    let me = actor.username.as_str();
    let clash = match action {
        Action::Advise if reviewed_by.contains(&me) => Some("reviewed it"),
        Action::Decide(_) if advised_by.contains(&me) => Some("gave the legal advice on it"),
        _ => None,
    };
    match clash {
        None => Ok(()),
        Some(what) => Err(Refusal::denied(
            actor,
            action.audit_action(),
            "RecordsRequest",
            id,
            format!("{me} {what}: the advice and the decision are two people's"),
        )),
    }
}

/// The rule: the step `action` by `actor` on the request `id` at `stage`, or why not.
pub fn next(id: &str, stage: Stage, action: Action, actor: &Actor) -> Result<Transition, Refusal> {
    let audit = action.audit_action();
    check(actor, action.operation(), audit).map_err(|mut r| {
        if let Some(d) = r.audit.as_mut() {
            d.kind = "RecordsRequest".into();
            d.name = id.into();
        }
        r
    })?;
    let (from, to) = action.edge();
    if stage == from {
        return Ok(Transition {
            to,
            closes: to.is_closed(),
            audit,
        });
    }
    let error = match (stage, action) {
        (Stage::New, _) => Error::NotFound(format!("records request {id}")),
        (_, Action::Open) => Error::FailedPrecondition(format!("records request {id} is open already")),
        (Stage::Received | Stage::UnderReview, Action::Decide(_)) => Error::FailedPrecondition(format!(
            "records request {id} is {}: the Public Information Officer decides only after the City Attorney has advised",
            stage.as_str()
        )),
        (Stage::Received, Action::Advise) => Error::FailedPrecondition(format!(
            "records request {id} is received: the Public Information Officer reviews it first"
        )),
        (s, _) if s.is_closed() => Error::FailedPrecondition(format!(
            "records request {id} is {} and closed",
            s.as_str()
        )),
        (s, a) => Error::FailedPrecondition(format!(
            "records request {id} is {}; `{}` is out of order",
            s.as_str(),
            match a {
                Action::Open => "open",
                Action::Review => "review",
                Action::Advise => "advise",
                Action::Decide(_) => "decide",
                Action::Fulfil => "fulfil",
            }
        )),
    };
    Err(Refusal::refused(actor, audit, "RecordsRequest", id, error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use camplane_config::model::Role;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Out {
        Ok(Stage),
        Denied,
        Order,
    }

    fn run(stage: Stage, action: Action, roles: &[Role]) -> Out {
        let actor = Actor {
            username: "u".into(),
            roles: roles.to_vec(),
            department: String::new(),
        };
        match next("rr-1", stage, action, &actor) {
            Ok(t) => {
                assert_eq!(t.closes, t.to.is_closed());
                Out::Ok(t.to)
            }
            Err(Refusal {
                error: Error::PermissionDenied(_),
                audit: Some(d),
            }) => {
                assert_eq!(
                    (d.kind.as_str(), d.name.as_str()),
                    ("RecordsRequest", "rr-1")
                );
                Out::Denied
            }
            Err(Refusal {
                error: Error::FailedPrecondition(_) | Error::NotFound(_),
                audit: Some(d),
            }) => {
                assert!(d.result.starts_with("refused"), "{}", d.result);
                Out::Order
            }
            Err(r) => panic!("unexpected {:?}", r.error),
        }
    }

    /// One user holding both pio and city_attorney cannot advise on a
    /// request they reviewed, nor decide one they advised on; someone else can.
    #[test]
    fn the_advice_is_another_persons() {
        let both = Actor {
            username: "ann".into(),
            roles: vec![Role::Pio, Role::CityAttorney],
            department: String::new(),
        };
        let r = check_people("rr-1", Action::Advise, &both, &["ann"], &[]);
        assert!(matches!(
            r,
            Err(Refusal {
                error: Error::PermissionDenied(_),
                audit: Some(_)
            })
        ));
        assert!(check_people("rr-1", Action::Advise, &both, &["bob"], &[]).is_ok());
        let r = check_people(
            "rr-1",
            Action::Decide(Decision::Release),
            &both,
            &["bob"],
            &["ann"],
        );
        assert!(r.is_err());
        assert!(
            check_people(
                "rr-1",
                Action::Decide(Decision::Deny),
                &both,
                &["ann"],
                &["cid"]
            )
            .is_ok(),
            "the reviewing officer decides"
        );
    }

    const STAGES: [Stage; 7] = [
        Stage::New,
        Stage::Received,
        Stage::UnderReview,
        Stage::Advised,
        Stage::Released,
        Stage::Denied,
        Stage::Fulfilled,
    ];

    const ACTIONS: [Action; 6] = [
        Action::Open,
        Action::Review,
        Action::Advise,
        Action::Decide(Decision::Release),
        Action::Decide(Decision::Deny),
        Action::Fulfil,
    ];

    #[test]
    fn the_legitimate_paths() {
        use Stage::*;
        assert_eq!(
            run(New, Action::Open, &[Role::CityClerk]),
            Out::Ok(Received)
        );
        assert_eq!(
            run(Received, Action::Review, &[Role::Pio]),
            Out::Ok(UnderReview)
        );
        assert_eq!(
            run(UnderReview, Action::Advise, &[Role::CityAttorney]),
            Out::Ok(Advised)
        );
        assert_eq!(
            run(Advised, Action::Decide(Decision::Release), &[Role::Pio]),
            Out::Ok(Released)
        );
        assert_eq!(
            run(Released, Action::Fulfil, &[Role::Pio]),
            Out::Ok(Fulfilled)
        );
        assert_eq!(
            run(Advised, Action::Decide(Decision::Deny), &[Role::Pio]),
            Out::Ok(Denied)
        );
    }

    /// Every stage x step x role: the step's own role, from its own stage only.
    #[test]
    fn every_role_for_every_step() {
        for stage in STAGES {
            for action in ACTIONS {
                for r in Role::ALL {
                    let want = if !action.operation().roles().contains(&r) {
                        Out::Denied
                    } else if action.edge().0 == stage {
                        Out::Ok(action.edge().1)
                    } else {
                        Out::Order
                    };
                    assert_eq!(
                        run(stage, action, &[r]),
                        want,
                        "{stage:?} {action:?} by {r}"
                    );
                }
            }
        }
    }

    /// The policy's order: no decision before the City Attorney's advice, and
    /// the attorney never decides.
    #[test]
    fn no_release_without_the_attorneys_advice() {
        for stage in [Stage::Received, Stage::UnderReview] {
            assert_eq!(
                run(stage, Action::Decide(Decision::Release), &[Role::Pio]),
                Out::Order
            );
        }
        assert_eq!(
            run(
                Stage::Advised,
                Action::Decide(Decision::Release),
                &[Role::CityAttorney]
            ),
            Out::Denied
        );
        assert_eq!(
            run(Stage::Advised, Action::Fulfil, &[Role::Pio]),
            Out::Order
        );
        assert_eq!(run(Stage::Denied, Action::Fulfil, &[Role::Pio]), Out::Order);
    }
}
