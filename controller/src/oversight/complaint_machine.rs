//! Complaints about the use of the camera systems, as a pure function. Policy
//! 5.05: "The Chief of Police will review any complaints regarding the
//! utilization of surveillance camera systems and determine whether this policy
//! is being followed. Appeals of a decision made by the Chief of Police will be
//! made to the City Manager ... An appeal of the City Manager's decision may be
//! taken to the City Council." The Council's decision is recorded by the city
//! clerk.
//!
//! ```text
//! (none) --file--> filed --decide (chief)--> decided by the chief
//!   --appeal--> appealed to the City Manager --decide (city_manager)--> decided by the City Manager
//!   --appeal--> appealed to the Council --decide (city_clerk records it)--> decided by the Council (final)
//! ```
//!
//! No store, no clock: the wing calls [`next`] and applies the [`Transition`],
//! stamping it with its own time. Every refusal (wrong role, step out of
//! order) carries its audit entry.

use crate::core::audit::AuditAction;
use crate::core::auth::{Actor, Operation};
use crate::core::object::{check, Refusal};
use crate::Error;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// Who decides at a level of the complaint path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// The Chief of Police reviews every complaint first.
    Chief,
    /// The City Manager hears an appeal of the chief's decision.
    CityManager,
    /// The City Council hears an appeal of the City Manager's (recorded by the
    /// city clerk); its decision is final.
    Council,
}

impl Level {
    /// Every level, in the order a complaint climbs them.
    pub const ALL: [Level; 3] = [Level::Chief, Level::CityManager, Level::Council];

    /// The name on the CLI (`--as chief|city_manager|city_clerk`: the role that
    /// records the level's decision).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Chief => "chief",
            Level::CityManager => "city_manager",
            Level::Council => "council",
        }
    }

    /// The role that records the level's decision, as `--as` names it.
    pub fn recorder(self) -> &'static str {
        match self {
            Level::Chief => "chief",
            Level::CityManager => "city_manager",
            Level::Council => "city_clerk",
        }
    }

    /// The level an appeal of this level's decision goes to.
    pub fn above(self) -> Option<Level> {
        match self {
            Level::Chief => Some(Level::CityManager),
            Level::CityManager => Some(Level::Council),
            Level::Council => None,
        }
    }

    /// The operation that records the level's decision.
    pub fn operation(self) -> Operation {
        match self {
            Level::Chief => Operation::DecideComplaint,
            Level::CityManager => Operation::DecideComplaintAppeal,
            Level::Council => Operation::RecordCouncilDecision,
        }
    }

    /// The level whose decision `--as ROLE` records (`council` is accepted for
    /// `city_clerk`).
    pub fn by_recorder(s: &str) -> Option<Level> {
        match s {
            "chief" => Some(Level::Chief),
            "city_manager" => Some(Level::CityManager),
            "city_clerk" | "council" => Some(Level::Council),
            _ => None,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Level::Chief => "the Chief of Police",
            Level::CityManager => "the City Manager",
            Level::Council => "the City Council",
        }
    }
}

/// Whether the policy was being followed, as a decision finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The policy was followed.
    Followed,
    /// The policy was not followed.
    NotFollowed,
}

impl Outcome {
    /// The name in records and the public summary.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Followed => "followed",
            Outcome::NotFollowed => "not_followed",
        }
    }
}

/// Where a complaint stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stage", content = "level", rename_all = "snake_case")]
pub enum Stage {
    /// Not filed yet.
    New,
    /// Waiting for the decision of a level (the chief's, or an appeal's).
    Waiting(Level),
    /// Decided at a level; an appeal may take it to the next.
    Decided(Level),
}

impl Stage {
    /// A short description for lists and messages.
    pub fn describe(self) -> String {
        match self {
            Stage::New => "not filed".into(),
            Stage::Waiting(Level::Chief) => "waiting for the chief's decision".into(),
            Stage::Waiting(l) => format!("appealed: waiting for {}", l.title()),
            Stage::Decided(Level::Council) => "decided by the City Council (final)".into(),
            Stage::Decided(l) => format!("decided by {}", l.title()),
        }
    }

    /// Whether nothing more can happen to it.
    pub fn is_final(self) -> bool {
        self == Stage::Decided(Level::Council)
    }
}

/// A step on a complaint, as named on the CLI (`camplane complaint ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Record a new complaint.
    File,
    /// Record a level's decision; `as_level` is what `--as` named, if anything.
    Decide {
        /// The level the decider says they decide at.
        as_level: Option<Level>,
    },
    /// Take the last decision to the next level.
    Appeal,
}

impl Action {
    /// The audit action of the step (and of its refusals).
    pub fn audit_action(self) -> AuditAction {
        match self {
            Action::File => AuditAction::ComplaintFile,
            Action::Decide { .. } => AuditAction::ComplaintDecide,
            Action::Appeal => AuditAction::ComplaintAppeal,
        }
    }
}

impl FromStr for Outcome {
    type Err = Error;
    fn from_str(s: &str) -> Result<Outcome, Error> {
        match s {
            "followed" => Ok(Outcome::Followed),
            "not_followed" | "not-followed" => Ok(Outcome::NotFollowed),
            _ => Err(Error::InvalidArgument(format!(
                "unknown outcome {:?} (followed, not_followed)",
                s.chars().take(40).collect::<String>()
            ))),
        }
    }
}

/// What a permitted step changes and records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The complaint's stage after the step.
    pub to: Stage,
    /// The level the step concerns (decided at, or appealed to).
    pub level: Level,
    /// The audit action recorded with it.
    pub audit: AuditAction,
}

/// The rule: the step `action` by `actor` on a complaint at `stage` (named
/// `id` in refusals), or why not.
pub fn next(id: &str, stage: Stage, action: Action, actor: &Actor) -> Result<Transition, Refusal> {
    let audit = action.audit_action();
    let order = |msg: String| {
        Refusal::refused(
            actor,
            audit,
            "Complaint",
            id,
            Error::FailedPrecondition(msg),
        )
    };
    let named = |r: Refusal| name_refusal(r, id);
    // The role first, whatever the stage: someone who may not take the step
    // is told so, and learns nothing of where the complaint stands.
    let op = match action {
        Action::File => Operation::FileComplaint,
        Action::Appeal => Operation::RecordAppeal,
        Action::Decide { as_level } => as_level
            .or(match stage {
                Stage::Waiting(l) | Stage::Decided(l) => Some(l),
                Stage::New => None,
            })
            .unwrap_or(Level::Chief)
            .operation(),
    };
    check(actor, op, audit).map_err(named)?;
    match (stage, action) {
        (Stage::New, Action::File) => Ok(Transition {
            to: Stage::Waiting(Level::Chief),
            level: Level::Chief,
            audit,
        }),
        (Stage::New, _) => Err(Refusal::refused(
            actor,
            audit,
            "Complaint",
            id,
            Error::NotFound(format!("complaint {id}")),
        )),
        (_, Action::File) => Err(order(format!("complaint {id} is filed already"))),
        (Stage::Waiting(level), Action::Decide { as_level }) => match as_level {
            Some(l) if l != level => Err(order(format!(
                "complaint {id} is {}: a decision --as {} is out of order",
                stage.describe(),
                l.recorder()
            ))),
            _ => Ok(Transition {
                to: Stage::Decided(level),
                level,
                audit,
            }),
        },
        (Stage::Decided(level), Action::Decide { .. }) => Err(order(match level.above() {
            Some(up) => format!(
                "complaint {id} is decided by {}; a new decision needs an appeal to {} first (`camplane complaint appeal {id}`)",
                level.title(),
                up.title()
            ),
            None => format!("complaint {id} is decided by the City Council; that decision is final"),
        })),
        (Stage::Waiting(level), Action::Appeal) => Err(order(format!(
            "complaint {id} is {}; only a decision can be appealed",
            Stage::Waiting(level).describe()
        ))),
        (Stage::Decided(level), Action::Appeal) => match level.above() {
            Some(up) => Ok(Transition {
                to: Stage::Waiting(up),
                level: up,
                audit,
            }),
            None => Err(order(format!(
                "complaint {id} is decided by the City Council; that decision is final"
            ))),
        },
    }
}

/// An appeal goes to someone else: whoever decided the complaint at a lower
/// level does not decide (or record) it again at the next, whatever roles
/// they hold (the chief who is also City Manager, say). `decided_by`: who
/// recorded its decisions so far. Refused on the record.
pub fn check_decider(
    id: &str,
    action: Action,
    actor: &Actor,
    decided_by: &[&str],
) -> Result<(), Refusal> {
    if matches!(action, Action::Decide { .. }) && decided_by.contains(&actor.username.as_str()) {
        return Err(Refusal::denied(
            actor,
            action.audit_action(),
            "Complaint",
            id,
            format!(
                "{} decided complaint {id} before: its appeal is decided by someone else",
                actor.username
            ),
        ));
    }
    Ok(())
}

/// A role refusal with the complaint named in its audit entry.
fn name_refusal(mut r: Refusal, id: &str) -> Refusal {
    if let Some(d) = r.audit.as_mut() {
        d.kind = "Complaint".into();
        d.name = id.into();
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use camplane_config::model::Role;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Out {
        Ok(Stage),
        /// PermissionDenied, audited as `denied`.
        Denied,
        /// Out of order, audited as `refused`.
        Order,
    }

    fn actor(roles: &[Role]) -> Actor {
        Actor {
            username: "u".into(),
            roles: roles.to_vec(),
            department: "police".into(),
        }
    }

    /// One user who is chief and City Manager decides the complaint once:
    /// its appeal goes to someone else.
    #[test]
    fn an_appeal_goes_to_someone_else() {
        let both = Actor {
            username: "pat".into(),
            roles: vec![Role::Chief, Role::CityManager],
            department: "police".into(),
        };
        let decide = Action::Decide { as_level: None };
        let r = check_decider("cp-1", decide, &both, &["pat"]);
        assert!(matches!(
            r,
            Err(Refusal {
                error: Error::PermissionDenied(_),
                audit: Some(_)
            })
        ));
        assert!(check_decider("cp-1", decide, &both, &["kim"]).is_ok());
        assert!(check_decider("cp-1", Action::Appeal, &both, &["pat"]).is_ok());
    }

    fn run(stage: Stage, action: Action, roles: &[Role]) -> Out {
        match next("cp-1", stage, action, &actor(roles)) {
            Ok(t) => {
                assert_eq!(t.audit, action.audit_action());
                Out::Ok(t.to)
            }
            Err(Refusal {
                error: Error::PermissionDenied(_),
                audit: Some(d),
            }) => {
                assert!(d.result.starts_with("denied"), "{}", d.result);
                assert_eq!((d.kind.as_str(), d.name.as_str()), ("Complaint", "cp-1"));
                Out::Denied
            }
            Err(Refusal {
                error: Error::FailedPrecondition(_) | Error::NotFound(_),
                audit: Some(d),
            }) => {
                assert!(d.result.starts_with("refused"), "{}", d.result);
                assert_eq!(d.action, action.audit_action());
                Out::Order
            }
            Err(r) => panic!(
                "unexpected refusal {:?} (audited: {})",
                r.error,
                r.audit.is_some()
            ),
        }
    }

    fn who_may(op: Operation) -> Vec<Role> {
        op.roles().to_vec()
    }

    /// The legitimate path through every level.
    #[test]
    fn a_complaint_climbs_to_the_council_and_stops() {
        use Level::*;
        use Stage::*;
        let d = |l| Action::Decide { as_level: Some(l) };
        assert_eq!(
            run(New, Action::File, &[Role::CityClerk]),
            Out::Ok(Waiting(Chief))
        );
        assert_eq!(
            run(Waiting(Chief), d(Chief), &[Role::Chief]),
            Out::Ok(Decided(Chief))
        );
        assert_eq!(
            run(Decided(Chief), Action::Appeal, &[Role::CityClerk]),
            Out::Ok(Waiting(CityManager))
        );
        assert_eq!(
            run(Waiting(CityManager), d(CityManager), &[Role::CityManager]),
            Out::Ok(Decided(CityManager))
        );
        assert_eq!(
            run(Decided(CityManager), Action::Appeal, &[Role::CityManager]),
            Out::Ok(Waiting(Council))
        );
        assert_eq!(
            run(Waiting(Council), d(Council), &[Role::CityClerk]),
            Out::Ok(Decided(Council))
        );
        assert_eq!(
            run(Decided(Council), Action::Appeal, &[Role::CityClerk]),
            Out::Order
        );
        assert!(Decided(Council).is_final());
        // Without --as, the decision is the waiting level's.
        assert_eq!(
            run(
                Waiting(CityManager),
                Action::Decide { as_level: None },
                &[Role::CityManager]
            ),
            Out::Ok(Decided(CityManager))
        );
    }

    /// Every stage x step x role: only the level's own role decides, only the
    /// clerk and the City Manager's office record appeals, nothing out of
    /// order; a wrong role is denied before the stage is looked at.
    #[test]
    fn every_role_for_every_step() {
        use Level::*;
        use Stage::*;
        let stages = [
            New,
            Waiting(Chief),
            Decided(Chief),
            Waiting(CityManager),
            Decided(CityManager),
            Waiting(Council),
            Decided(Council),
        ];
        let mut actions = vec![
            Action::File,
            Action::Appeal,
            Action::Decide { as_level: None },
        ];
        actions.extend(Level::ALL.map(|l| Action::Decide { as_level: Some(l) }));
        for stage in stages {
            for action in &actions {
                for r in Role::ALL {
                    let got = run(stage, *action, &[r]);
                    let op = match *action {
                        Action::File => Operation::FileComplaint,
                        Action::Appeal => Operation::RecordAppeal,
                        Action::Decide { as_level } => as_level
                            .or(match stage {
                                Waiting(l) | Decided(l) => Some(l),
                                New => None,
                            })
                            .unwrap_or(Chief)
                            .operation(),
                    };
                    let want = if !who_may(op).contains(&r) {
                        Out::Denied
                    } else {
                        match (stage, *action) {
                            (New, Action::File) => Out::Ok(Waiting(Chief)),
                            (New, _) | (_, Action::File) => Out::Order,
                            (Waiting(l), Action::Decide { as_level }) => {
                                if as_level.unwrap_or(l) != l {
                                    Out::Order
                                } else {
                                    Out::Ok(Decided(l))
                                }
                            }
                            (Decided(_), Action::Decide { .. }) => Out::Order,
                            (Decided(l), Action::Appeal) => match l.above() {
                                Some(up) => Out::Ok(Waiting(up)),
                                None => Out::Order,
                            },
                            (Waiting(_), Action::Appeal) => Out::Order,
                        }
                    };
                    assert_eq!(got, want, "{stage:?} {action:?} by {r}");
                }
            }
        }
    }

    /// The deciders are who the policy names, and nobody else.
    #[test]
    fn the_deciders_are_the_policys() {
        assert_eq!(Level::Chief.operation().roles(), &[Role::Chief]);
        assert_eq!(Level::CityManager.operation().roles(), &[Role::CityManager]);
        assert_eq!(Level::Council.operation().roles(), &[Role::CityClerk]);
        for l in Level::ALL {
            assert_eq!(Level::by_recorder(l.recorder()), Some(l));
        }
        assert_eq!(Level::by_recorder("council"), Some(Level::Council));
        assert_eq!(Level::by_recorder("admin"), None);
    }

    #[test]
    fn outcomes_parse_both_spellings_and_nothing_else() {
        assert_eq!("followed".parse::<Outcome>().unwrap(), Outcome::Followed);
        assert_eq!(
            "not-followed".parse::<Outcome>().unwrap(),
            Outcome::NotFollowed
        );
        assert_eq!(
            "not_followed".parse::<Outcome>().unwrap(),
            Outcome::NotFollowed
        );
        assert!("maybe".parse::<Outcome>().is_err());
    }
}
