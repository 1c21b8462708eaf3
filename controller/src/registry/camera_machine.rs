//! The camera life cycle as a pure function. Policy 5.05, Installation:
//! "Purchasing will not accept, approve, or process any order for security
//! camera systems without the approval of the City Manager", so a camera is
//! approved (and may be activated) only under an approved placement request
//! that covers it; a temporary camera for a special event is active only
//! within the event; Information Services (the admin role) activates,
//! suspends and retires cameras.
//!
//! ```text
//! proposed --approve--> approved --activate--> active --suspend--> suspended
//!    |  `------------activate-------------------^  ^------activate----'
//!    |                              (event ends: suspended)
//!    `--------------------retire (from any state)--------------------> retired
//! ```
//!
//! No store, no clock: the store code answers whether the placement request
//! covers the camera (only when activating or approving), passes the time in,
//! calls [`next`] and applies the [`Transition`].

use crate::core::audit::{AuditAction, Draft};
use crate::core::auth::{Actor, Operation};
use crate::core::object::{check, Refusal};
use crate::Error;
use camplane_config::model::{CameraState, SpecialEvent};
use jiff::Timestamp;
use std::str::FromStr;

/// A step in a camera's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start recording (admin).
    Activate,
    /// Stop recording for now (admin).
    Suspend,
    /// Take out of service for good (admin).
    Retire,
    /// Follows the City Manager's approval of the camera's request (proposed to approved).
    Approve,
    /// The controller ends a temporary camera at its special event's end.
    EndSpecialEvent,
    /// Delete the camera's object (admin, as for any registry object); an
    /// active camera is suspended or retired first.
    Delete,
}

impl Action {
    /// The actions an operator names (`camplane camera activate|suspend|retire`).
    pub const NAMED: [Action; 3] = [Action::Activate, Action::Suspend, Action::Retire];
    /// Every action.
    pub const ALL: [Action; 6] = [
        Action::Activate,
        Action::Suspend,
        Action::Retire,
        Action::Approve,
        Action::EndSpecialEvent,
        Action::Delete,
    ];

    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Activate => "activate",
            Action::Suspend => "suspend",
            Action::Retire => "retire",
            Action::Approve => "approve",
            Action::EndSpecialEvent => "end_special_event",
            Action::Delete => "delete",
        }
    }

    /// The audit action of the step (and of its refusals).
    pub fn audit_action(self) -> AuditAction {
        match self {
            Action::Activate => AuditAction::CameraActivate,
            Action::Suspend => AuditAction::CameraSuspend,
            Action::Retire => AuditAction::CameraRetire,
            Action::Approve => AuditAction::CameraApproved,
            Action::EndSpecialEvent => AuditAction::CameraSpecialEventEnded,
            Action::Delete => AuditAction::Delete,
        }
    }
}

impl FromStr for Action {
    type Err = Error;
    /// Only the operator's actions parse; the others are the controller's own.
    fn from_str(s: &str) -> Result<Action, Error> {
        Action::NAMED
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "unknown camera action {s:?} (activate, suspend, retire)"
                ))
            })
    }
}

/// Whether the camera's placement request is approved and covers it.
#[derive(Debug, Clone, Copy)]
pub enum Cover<'a> {
    /// The camera names no placement request.
    NoRequest,
    /// Not asked (the step does not need it).
    NotAsked,
    /// Approved by the City Manager and for this camera.
    Approved,
    /// Why not (not found, not approved, another camera, kind or purpose).
    Refused(&'a Error),
}

/// The camera as its life cycle sees it.
#[derive(Debug, Clone, Copy)]
pub struct State<'a> {
    /// The camera's name.
    pub name: &'a str,
    /// Where it stands.
    pub state: CameraState,
    /// Its placement request's answer.
    pub cover: Cover<'a>,
    /// The special event a temporary camera is for.
    pub special_event: Option<&'a SpecialEvent>,
    /// The time now.
    pub now: Timestamp,
    /// How many legal holds in force name it (asked only for a delete: 0
    /// otherwise).
    pub held_by: usize,
}

/// What a permitted step changes and records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The camera's state after the step (a delete: the state it goes in).
    pub to: CameraState,
    /// Whether anything changes (activating an active camera, retiring a
    /// retired one: nothing).
    pub write: bool,
    /// The status reason to record (`None`: the caller's, if any).
    pub reason: Option<String>,
    /// The audit action recorded with it.
    pub audit: AuditAction,
}

impl Transition {
    fn to(to: CameraState, action: Action) -> Transition {
        Transition {
            to,
            write: true,
            reason: None,
            audit: action.audit_action(),
        }
    }
    fn keep(state: CameraState, action: Action) -> Transition {
        Transition {
            write: false,
            ..Transition::to(state, action)
        }
    }
}

/// The same error again (the store code's answer is borrowed; the errors a
/// request check gives all carry their message).
fn again(e: &Error) -> Error {
    match e {
        Error::NotFound(m) => Error::NotFound(m.clone()),
        Error::FailedPrecondition(m) => Error::FailedPrecondition(m.clone()),
        Error::InvalidArgument(m) => Error::InvalidArgument(m.clone()),
        Error::PermissionDenied(m) => Error::PermissionDenied(m.clone()),
        Error::Unavailable(m) => Error::Unavailable(m.clone()),
        other => Error::Internal(
            other
                .to_string()
                .trim_start_matches("internal error: ")
                .into(),
        ),
    }
}

fn precondition(msg: String) -> Refusal {
    Error::FailedPrecondition(msg).into()
}

/// The rule: the step `action` by `actor` on the camera `state`, or why not.
pub fn next(state: &State, action: Action, actor: &Actor) -> Result<Transition, Refusal> {
    let name = state.name;
    match action {
        // The City Manager's approval of the request moves its cameras on; the
        // request chain checked the role.
        Action::Approve => {
            if state.state != CameraState::Proposed {
                return Err(precondition(format!(
                    "camera {name} is {:?}, not proposed",
                    state.state
                )));
            }
            return match state.cover {
                Cover::Approved => Ok(Transition::to(CameraState::Approved, action)),
                Cover::Refused(e) => Err(again(e).into()),
                Cover::NoRequest | Cover::NotAsked => Err(precondition(format!(
                    "camera {name} has no approved placement request"
                ))),
            };
        }
        Action::Delete => check(actor, Operation::WriteRegistry, action.audit_action())?,
        _ => check(actor, Operation::CameraLifecycle, action.audit_action())?,
    }
    match action {
        Action::Activate => {
            if state.state == CameraState::Retired {
                return Err(precondition(format!("camera {name} is retired")));
            }
            if state.state == CameraState::Active {
                return Ok(Transition::keep(CameraState::Active, action));
            }
            match state.cover {
                Cover::Approved => {}
                // A camera that is not what its request approved: a side door
                // tried, so the refusal is on record.
                Cover::Refused(e) => {
                    let error = again(e);
                    let mut d = Draft::new(&actor.username, action.audit_action(), "Camera", name);
                    d.result = format!("denied: {error}");
                    return Err(Refusal {
                        error,
                        audit: Some(Box::new(d)),
                    });
                }
                // A camera without a request going live is the dummy-camera
                // door: refused on the record.
                Cover::NoRequest | Cover::NotAsked => {
                    let error = Error::FailedPrecondition(format!(
                        "camera {name} has no placement request: set spec.placement_request to an approved request"
                    ));
                    let mut d = Draft::new(&actor.username, action.audit_action(), "Camera", name);
                    d.result = format!("refused: {error}");
                    return Err(Refusal {
                        error,
                        audit: Some(Box::new(d)),
                    });
                }
            }
            if let Some(ev) = state.special_event {
                if state.now < ev.from || state.now >= ev.until {
                    let error = Error::FailedPrecondition(format!(
                        "camera {name} is temporary for {:?}: it may be active only from {} until {}",
                        ev.event, ev.from, ev.until
                    ));
                    let mut d = Draft::new(&actor.username, action.audit_action(), "Camera", name);
                    d.result = format!("refused: {error}");
                    return Err(Refusal {
                        error,
                        audit: Some(Box::new(d)),
                    });
                }
            }
            Ok(Transition::to(CameraState::Active, action))
        }
        Action::Suspend => {
            if state.state != CameraState::Active {
                return Err(precondition(
                    format!("camera {name} is {:?}, not active", state.state).to_lowercase(),
                ));
            }
            Ok(Transition::to(CameraState::Suspended, action))
        }
        Action::Retire => {
            if state.state == CameraState::Retired {
                return Ok(Transition::keep(CameraState::Retired, action));
            }
            Ok(Transition::to(CameraState::Retired, action))
        }
        Action::EndSpecialEvent => {
            let ended = state
                .special_event
                .filter(|ev| state.state == CameraState::Active && state.now >= ev.until);
            match ended {
                Some(ev) => Ok(Transition {
                    reason: Some(format!(
                        "special event {:?} ended at {}",
                        ev.event, ev.until
                    )),
                    ..Transition::to(CameraState::Suspended, action)
                }),
                None => Err(precondition(format!(
                    "camera {name} is not an active camera past its special event"
                ))),
            }
        }
        Action::Delete => {
            if state.state == CameraState::Active {
                return Err(precondition(format!(
                    "camera {name:?} is active: suspend or retire it first"
                )));
            }
            // Its holds reach its gateway through the camera's record: deleted,
            // the held recordings would age out there.
            if state.held_by > 0 {
                return Err(precondition(format!(
                    "camera {name:?} is named by {} legal hold(s) in force: its recordings are kept until they are released; delete it after",
                    state.held_by
                )));
            }
            Ok(Transition::to(state.state, action))
        }
        Action::Approve => Err(Error::Internal("approve is decided above".into()).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use camplane_config::model::Role;
    use CameraState::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Out {
        Ok(CameraState),
        /// Allowed, nothing to do.
        Same,
        /// PermissionDenied, audited as `denied`.
        Denied,
        /// FailedPrecondition: out of order, no approved request, outside the event.
        Order,
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn event() -> SpecialEvent {
        SpecialEvent {
            event: "fair".into(),
            from: at("2026-07-01T00:00:00Z"),
            until: at("2026-07-02T00:00:00Z"),
        }
    }

    fn run(s: &State, action: Action, roles: &[Role]) -> Out {
        let actor = Actor {
            username: "u".into(),
            roles: roles.to_vec(),
            department: "is".into(),
        };
        match next(s, action, &actor) {
            Ok(t) if !t.write => Out::Same,
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

    fn state(state: CameraState, cover: Cover<'_>) -> State<'_> {
        State {
            name: "c1",
            state,
            cover,
            special_event: None,
            now: at("2026-07-01T12:00:00Z"),
            held_by: 0,
        }
    }

    #[test]
    fn a_camera_named_by_a_hold_in_force_is_not_deleted() {
        for st in [Proposed, Approved, Suspended, Retired] {
            let held = State {
                held_by: 1,
                ..state(st, Cover::NotAsked)
            };
            assert_eq!(
                run(&held, Action::Delete, &[Role::Admin]),
                Out::Order,
                "{st:?}"
            );
            assert_eq!(
                run(&state(st, Cover::NotAsked), Action::Delete, &[Role::Admin]),
                Out::Ok(st),
                "{st:?}, released"
            );
        }
    }

    /// Every state x operator action x role, with an approved request: only
    /// the admin, and only in order.
    #[test]
    fn every_role_for_every_step() {
        let table = [
            (Proposed, Action::Activate, Out::Ok(Active)),
            (Approved, Action::Activate, Out::Ok(Active)),
            (Active, Action::Activate, Out::Same),
            (Suspended, Action::Activate, Out::Ok(Active)),
            (Retired, Action::Activate, Out::Order),
            (Proposed, Action::Suspend, Out::Order),
            (Approved, Action::Suspend, Out::Order),
            (Active, Action::Suspend, Out::Ok(Suspended)),
            (Suspended, Action::Suspend, Out::Order),
            (Retired, Action::Suspend, Out::Order),
            (Proposed, Action::Retire, Out::Ok(Retired)),
            (Approved, Action::Retire, Out::Ok(Retired)),
            (Active, Action::Retire, Out::Ok(Retired)),
            (Suspended, Action::Retire, Out::Ok(Retired)),
            (Retired, Action::Retire, Out::Same),
            (Proposed, Action::Delete, Out::Ok(Proposed)),
            (Approved, Action::Delete, Out::Ok(Approved)),
            (Active, Action::Delete, Out::Order),
            (Suspended, Action::Delete, Out::Ok(Suspended)),
            (Retired, Action::Delete, Out::Ok(Retired)),
        ];
        for (st, action, ok) in table {
            let s = state(st, Cover::Approved);
            for r in Role::ALL {
                let want = if r == Role::Admin { ok } else { Out::Denied };
                assert_eq!(run(&s, action, &[r]), want, "{st:?} {action:?} by {r}");
            }
            assert_eq!(run(&s, action, &[]), Out::Denied);
        }
    }

    #[test]
    fn activation_needs_an_approved_request_and_the_event() {
        let refused = Error::FailedPrecondition("placement request r is submitted".into());
        for cover in [Cover::NoRequest, Cover::Refused(&refused)] {
            assert_eq!(
                run(&state(Approved, cover), Action::Activate, &[Role::Admin]),
                Out::Order
            );
        }
        let gone = Error::NotFound("PlacementRequest \"r\"".into());
        let e = next(
            &state(Proposed, Cover::Refused(&gone)),
            Action::Activate,
            &Actor::system(),
        )
        .unwrap_err();
        assert_eq!(e.error.to_string(), gone.to_string());
        let ev = event();
        let mut s = state(Approved, Cover::Approved);
        s.special_event = Some(&ev);
        assert_eq!(run(&s, Action::Activate, &[Role::Admin]), Out::Ok(Active));
        for now in ["2026-06-30T23:59:59Z", "2026-07-02T00:00:00Z"] {
            s.now = at(now);
            assert_eq!(
                run(&s, Action::Activate, &[Role::Admin]),
                Out::Order,
                "{now}"
            );
        }
    }

    /// The controller's own steps: approval follows the request (any actor:
    /// the request chain checked the City Manager), the event's end suspends.
    #[test]
    fn the_controllers_steps() {
        for st in [Proposed, Approved, Active, Suspended, Retired] {
            for r in Role::ALL {
                let want = if st == Proposed {
                    Out::Ok(Approved)
                } else {
                    Out::Order
                };
                assert_eq!(
                    run(&state(st, Cover::Approved), Action::Approve, &[r]),
                    want
                );
            }
            assert_eq!(
                run(
                    &state(st, Cover::NoRequest),
                    Action::Approve,
                    &[Role::CityManager]
                ),
                Out::Order
            );
        }
        let ev = event();
        for st in [Proposed, Approved, Active, Suspended, Retired] {
            for (now, ended) in [
                ("2026-07-01T12:00:00Z", false),
                ("2026-07-02T00:00:00Z", true),
            ] {
                let s = State {
                    special_event: Some(&ev),
                    now: at(now),
                    ..state(st, Cover::NotAsked)
                };
                let want = if st == Active && ended {
                    Out::Ok(Suspended)
                } else {
                    Out::Order
                };
                assert_eq!(
                    run(&s, Action::EndSpecialEvent, &[Role::Admin]),
                    want,
                    "{st:?} {now}"
                );
                assert_eq!(
                    run(&s, Action::EndSpecialEvent, &[Role::Viewer]),
                    Out::Denied
                );
            }
        }
        let s = State {
            special_event: Some(&ev),
            now: at("2026-07-03T00:00:00Z"),
            ..state(Active, Cover::NotAsked)
        };
        let t = next(&s, Action::EndSpecialEvent, &Actor::system()).unwrap();
        assert_eq!(
            t.reason.as_deref(),
            Some("special event \"fair\" ended at 2026-07-02T00:00:00Z")
        );
        // A camera without an event never ends.
        assert_eq!(
            run(
                &state(Active, Cover::NotAsked),
                Action::EndSpecialEvent,
                &[Role::Admin]
            ),
            Out::Order
        );
    }

    #[test]
    fn the_legitimate_path() {
        let admin = Actor::system();
        let mut st = Proposed;
        for a in [
            Action::Approve,
            Action::Activate,
            Action::Suspend,
            Action::Activate,
            Action::Retire,
        ] {
            st = next(&state(st, Cover::Approved), a, &admin).unwrap().to;
        }
        assert_eq!(st, Retired);
    }

    #[test]
    fn names_parse() {
        for a in Action::NAMED {
            assert_eq!(a.as_str().parse::<Action>().unwrap(), a);
        }
        let e = "approve".parse::<Action>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid argument: unknown camera action \"approve\" (activate, suspend, retire)"
        );
    }
}
