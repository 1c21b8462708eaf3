//! Maintenance and testing of the cameras, as pure functions. Policy 5.05:
//! "Maintenance and testing will be the responsibility of the department
//! utilizing the camera system." An "authorized vendor" is drawn from a list
//! the chief keeps, as the ALPR section asks.
//!
//! Who may log: a department manager or an engineer whose department is the
//! camera's (the department's manager answers for the policy; its engineers do
//! the work), or Information Services (`admin`) for any camera. Viewers of the
//! department watch video and do not maintain the equipment.
//!
//! Overdue: a camera in service whose last passed test is older than the
//! interval (or that has none since it was activated), or that has been
//! non-operational for [`NON_OPERATIONAL_DAYS`] days or more.
//!
//! No store, no clock: the wing passes both in.

use crate::core::audit::AuditAction;
use crate::core::auth::{Actor, Operation};
use crate::core::object::{check, Refusal};
use crate::Error;
use camplane_config::model::Role;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// Days a camera may be non-operational before it is flagged overdue.
pub const NON_OPERATIONAL_DAYS: i64 = 7;

/// What was done to a camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaintenanceKind {
    /// A test of the camera (only a passed one resets its interval).
    Test,
    /// A repair.
    Repair,
    /// A cleaning.
    Cleaning,
}

impl FromStr for MaintenanceKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "test" => Ok(MaintenanceKind::Test),
            "repair" => Ok(MaintenanceKind::Repair),
            "cleaning" => Ok(MaintenanceKind::Cleaning),
            _ => Err(Error::InvalidArgument(format!(
                "--kind {:?}: one of test, repair, cleaning",
                s.chars().take(40).collect::<String>()
            ))),
        }
    }
}

/// How it came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaintenanceResult {
    /// Working.
    Ok,
    /// A fault found or left.
    Fault,
}

impl FromStr for MaintenanceResult {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "ok" => Ok(MaintenanceResult::Ok),
            "fault" => Ok(MaintenanceResult::Fault),
            _ => Err(Error::InvalidArgument(format!(
                "--result {:?}: one of ok, fault",
                s.chars().take(40).collect::<String>()
            ))),
        }
    }
}

/// The rule: whether `actor` may log maintenance of `camera`, whose department
/// is `department`, with `vendor` (if any) drawn from `vendors`. A wrong role
/// or department is `denied`, an unlisted vendor `refused`; both audited.
pub fn may_log(
    actor: &Actor,
    camera: &str,
    department: &str,
    vendor: Option<&str>,
    vendors: &[String],
) -> Result<(), Refusal> {
    let audit = AuditAction::MaintenanceLog;
    let named = |mut r: Refusal| {
        if let Some(d) = r.audit.as_mut() {
            d.kind = "Camera".into();
            d.name = camera.into();
        }
        r
    };
    check(actor, Operation::LogMaintenance, audit).map_err(named)?;
    let own = (actor.has(Role::DeptManager) || actor.has(Role::Engineer))
        && !actor.department.is_empty()
        && actor.department == department;
    if !actor.has(Role::Admin) && !own {
        return Err(Refusal::denied(
            actor,
            audit,
            "Camera",
            camera,
            format!(
                "maintenance of camera {camera} is the {department} department's (its managers and engineers) or Information Services'"
            ),
        ));
    }
    if let Some(v) = vendor {
        if !vendors.iter().any(|x| x == v) {
            return Err(Refusal::refused(
                actor,
                audit,
                "Camera",
                camera,
                Error::FailedPrecondition(format!(
                    "vendor {:?} is not on the chief's list of authorized vendors (`camplane maintenance vendors list`)",
                    v.chars().take(80).collect::<String>()
                )),
            ));
        }
    }
    Ok(())
}

/// Why a camera is listed as overdue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Overdue {
    /// Its last passed test is older than the interval.
    TestOverdue {
        /// When it last passed a test.
        last_test: Timestamp,
        /// When the next was due.
        due: Timestamp,
    },
    /// Never passed a test since it was activated, and the interval has run.
    NeverTested {
        /// When it was activated.
        since: Timestamp,
        /// When the first test was due.
        due: Timestamp,
    },
    /// Non-operational for [`NON_OPERATIONAL_DAYS`] days or more.
    NonOperational {
        /// Since when.
        since: Timestamp,
    },
}

impl Overdue {
    /// A line for the CLI.
    pub fn describe(&self) -> String {
        match self {
            Overdue::TestOverdue { last_test, due } => {
                format!("test overdue since {due} (last passed {last_test})")
            }
            Overdue::NeverTested { since, due } => {
                format!("no passed test since activation on {since}; due {due}")
            }
            Overdue::NonOperational { since } => format!("non-operational since {since}"),
        }
    }
}

/// Why an active camera is overdue at `now`: `activated` is when it went into
/// service, `last_ok_test` its latest passed test, `non_operational_since` the
/// controller's flag. Empty: nothing is due.
pub fn overdue(
    activated: Option<Timestamp>,
    last_ok_test: Option<Timestamp>,
    non_operational_since: Option<Timestamp>,
    interval_days: u32,
    now: Timestamp,
) -> Vec<Overdue> {
    let interval = SignedDuration::from_hours(24 * i64::from(interval_days));
    let mut out = Vec::new();
    // A test from before the current activation still counts: the camera
    // was tested, and reactivation does not undo that.
    match (last_ok_test, activated) {
        (Some(t), _) => {
            let due = t + interval;
            if due <= now {
                out.push(Overdue::TestOverdue { last_test: t, due });
            }
        }
        (None, Some(since)) => {
            let due = since + interval;
            if due <= now {
                out.push(Overdue::NeverTested { since, due });
            }
        }
        // No activation time known: the camera is due now.
        (None, None) => out.push(Overdue::NeverTested {
            since: now,
            due: now,
        }),
    }
    if let Some(since) = non_operational_since {
        if since + SignedDuration::from_hours(24 * NON_OPERATIONAL_DAYS) <= now {
            out.push(Overdue::NonOperational { since });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(roles: &[Role], department: &str) -> Actor {
        Actor {
            username: "u".into(),
            roles: roles.to_vec(),
            department: department.into(),
        }
    }

    #[derive(Debug, PartialEq)]
    enum Out {
        Ok,
        Denied,
        Refused,
    }

    fn run(roles: &[Role], department: &str, vendor: Option<&str>) -> Out {
        let vendors = vec!["Acme Video".to_string()];
        match may_log(
            &actor(roles, department),
            "cam-1",
            "parks",
            vendor,
            &vendors,
        ) {
            Ok(()) => Out::Ok,
            Err(Refusal {
                error: Error::PermissionDenied(_),
                audit: Some(d),
            }) => {
                assert!(d.result.starts_with("denied"), "{}", d.result);
                assert_eq!((d.kind.as_str(), d.name.as_str()), ("Camera", "cam-1"));
                assert_eq!(d.action, AuditAction::MaintenanceLog);
                Out::Denied
            }
            Err(Refusal {
                error: Error::FailedPrecondition(_),
                audit: Some(d),
            }) => {
                assert!(d.result.starts_with("refused"), "{}", d.result);
                Out::Refused
            }
            Err(r) => panic!("unexpected {:?}", r.error),
        }
    }

    /// Every role, in the camera's department, another one and none: only
    /// the department's managers and engineers, and Information Services
    /// anywhere, may log.
    #[test]
    fn every_role_in_every_department() {
        for r in Role::ALL {
            for dept in ["parks", "police", ""] {
                let want = match r {
                    Role::Admin => Out::Ok,
                    Role::DeptManager | Role::Engineer if dept == "parks" => Out::Ok,
                    _ => Out::Denied,
                };
                assert_eq!(run(&[r], dept, None), want, "{r} in {dept:?}");
            }
        }
        // A viewer of the department who is also its manager may.
        assert_eq!(
            run(&[Role::Viewer, Role::DeptManager], "parks", None),
            Out::Ok
        );
    }

    #[test]
    fn a_vendor_must_be_on_the_chiefs_list() {
        assert_eq!(run(&[Role::Admin], "", Some("Acme Video")), Out::Ok);
        assert_eq!(run(&[Role::Admin], "", Some("acme video")), Out::Refused);
        assert_eq!(
            run(&[Role::Engineer], "parks", Some("Someone Else")),
            Out::Refused
        );
        // The role and department come first: a stranger learns nothing of the list.
        assert_eq!(run(&[Role::Viewer], "parks", Some("Someone")), Out::Denied);
        assert_eq!(
            run(&[Role::Engineer], "police", Some("Acme Video")),
            Out::Denied
        );
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn overdue_tests_and_non_operational_cameras() {
        let now = at("2026-12-01T00:00:00Z");
        // Tested 89 days ago: fine; 90: due.
        assert!(overdue(None, Some(at("2026-09-03T00:00:00Z")), None, 90, now).is_empty());
        assert_eq!(
            overdue(None, Some(at("2026-09-02T00:00:00Z")), None, 90, now),
            vec![Overdue::TestOverdue {
                last_test: at("2026-09-02T00:00:00Z"),
                due: now
            }]
        );
        // Never tested: counted from activation.
        assert!(overdue(Some(at("2026-11-01T00:00:00Z")), None, None, 90, now).is_empty());
        assert!(matches!(
            overdue(Some(at("2026-08-01T00:00:00Z")), None, None, 90, now)[..],
            [Overdue::NeverTested { .. }]
        ));
        assert!(matches!(
            overdue(None, None, None, 90, now)[..],
            [Overdue::NeverTested { .. }]
        ));
        // Non-operational for 6 days: not yet; 7: flagged (with a fresh test).
        let fresh = Some(at("2026-11-30T00:00:00Z"));
        assert!(overdue(None, fresh, Some(at("2026-11-25T00:00:01Z")), 90, now).is_empty());
        assert_eq!(
            overdue(None, fresh, Some(at("2026-11-24T00:00:00Z")), 90, now),
            vec![Overdue::NonOperational {
                since: at("2026-11-24T00:00:00Z")
            }]
        );
        assert_eq!(
            overdue(
                None,
                Some(at("2026-01-01T00:00:00Z")),
                Some(at("2026-11-01T00:00:00Z")),
                90,
                now
            )
            .len(),
            2
        );
    }

    #[test]
    fn kinds_and_results_parse_and_nothing_else() {
        assert_eq!(
            "test".parse::<MaintenanceKind>().unwrap(),
            MaintenanceKind::Test
        );
        assert_eq!(
            "cleaning".parse::<MaintenanceKind>().unwrap(),
            MaintenanceKind::Cleaning
        );
        assert!("Test".parse::<MaintenanceKind>().is_err());
        assert_eq!(
            "fault".parse::<MaintenanceResult>().unwrap(),
            MaintenanceResult::Fault
        );
        assert!("passed".parse::<MaintenanceResult>().is_err());
    }
}
