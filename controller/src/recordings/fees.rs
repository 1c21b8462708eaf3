//! Fees for copies of City video, as pure functions. Policy 5.05: "Individual
//! City departments will establish ... fee schedules for reproduction of City
//! video." Each department keeps one `FeeSchedule` (named after it; its
//! manager or an admin applies it: [`may_set`]). A copy for someone outside
//! (a fulfilled records request; an export to its `--recipient`) is charged
//! by the schedule of the camera's department: [`fee`] of the minutes of
//! video the copy covers ([`video_minutes`]) and its files. The charge is
//! recorded as a [`Fee`] (with the schedule it used, so the record stands
//! when the schedule changes) in the export's audit entry and manifest, and
//! on the request. A department without a schedule charges nothing
//! (`schedule: null`). The police's own copies (`--police-use`: a case's
//! evidence, the prosecutor) carry no fee; only the police say so
//! ([`charged`]). Every export still names its recipient: the policy's log
//! identifies whoever was given the video.
//!
//! No store, no clock: the caller reads the schedule and the segments.

use crate::core::auth::Actor;
use crate::core::object::Refusal;
use crate::core::AuditAction;
use camplane_config::model::{FeeScheduleSpec, Kind, Role, DEFAULT_CURRENCY};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A copy's fee as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fee {
    /// The department whose schedule applies (the camera's).
    pub department: String,
    /// The schedule as it was applied; `None`: the department has none.
    pub schedule: Option<FeeScheduleSpec>,
    /// Minutes of video charged (started minutes count whole).
    pub minutes: u64,
    /// Files in the copy.
    pub files: u64,
    /// The schedule's currency.
    pub currency: String,
    /// The fee, in cents of `currency`.
    pub cents: u64,
}

impl Fee {
    /// The fee for `minutes` and `files` under `department`'s `schedule` (none: no fee).
    pub fn charge(
        department: &str,
        schedule: Option<FeeScheduleSpec>,
        minutes: u64,
        files: u64,
    ) -> Fee {
        let cents = schedule.as_ref().map_or(0, |s| fee(s, minutes, files));
        Fee {
            department: department.to_string(),
            currency: schedule
                .as_ref()
                .map_or_else(|| DEFAULT_CURRENCY.to_string(), |s| s.currency.clone()),
            schedule,
            minutes,
            files,
            cents,
        }
    }

    /// `$12.50 USD` style, for people.
    pub fn shown(&self) -> String {
        format!(
            "{}.{:02} {}",
            self.cents / 100,
            self.cents % 100,
            self.currency
        )
    }
}

/// The rule: `base + per_minute × minutes + per_file × files`, in cents. The
/// schedule's amounts were checked on apply (0..=`MAX_FEE_CENTS`); a negative
/// one (a record from outside the check) counts as 0; the sum saturates
/// rather than wrap.
pub fn fee(schedule: &FeeScheduleSpec, minutes: u64, files: u64) -> u64 {
    let c = |v: i64| u64::try_from(v).unwrap_or(0);
    c(schedule.base_cents)
        .saturating_add(c(schedule.per_minute_cents).saturating_mul(minutes))
        .saturating_add(c(schedule.per_file_cents).saturating_mul(files))
}

/// The minutes of video a copy covers: the parts of its segments (start, end)
/// inside `from..until`, summed, a started minute counting whole. The
/// requester pays for the range asked, not for the ends of the first and last
/// segments that stick out of it.
pub fn video_minutes(
    segments: &[(Timestamp, Timestamp)],
    from: Timestamp,
    until: Timestamp,
) -> u64 {
    let ms: i64 = segments
        .iter()
        .map(|(s, e)| {
            let (s, e) = ((*s).max(from), (*e).min(until));
            if e > s {
                e.as_millisecond() - s.as_millisecond()
            } else {
                0
            }
        })
        .sum();
    u64::try_from(ms).unwrap_or(0).div_ceil(60_000)
}

/// Whether an export is charged: yes, unless it is the police's own use,
/// which only the police claim (the chief, or a member of the police
/// department); anyone else claiming it is refused (`PermissionDenied`,
/// audited by the caller with the export).
pub fn charged(police_use: bool, actor: &Actor) -> Result<bool, crate::Error> {
    if !police_use {
        return Ok(true);
    }
    if actor.has(Role::Chief) || actor.department == super::POLICE_DEPARTMENT {
        return Ok(false);
    }
    Err(crate::Error::PermissionDenied(format!(
        "--police-use: {} is not of the police; a copy for anyone else is charged by its department's fee schedule",
        actor.username
    )))
}

/// Who may apply `department`'s fee schedule: an admin, or that department's
/// manager ("Individual City departments will establish ... fee schedules").
/// The role itself was checked before (`Operation::SetFeeSchedule`); this is
/// the department. The refusal carries its audit entry.
pub fn may_set(actor: &Actor, department: &str) -> Result<(), Refusal> {
    if actor.has(Role::Admin)
        || (actor.has(Role::DeptManager)
            && !actor.department.is_empty()
            && actor.department == department)
    {
        return Ok(());
    }
    Err(Refusal::denied(
        actor,
        AuditAction::ApplyKind(Kind::FeeSchedule),
        Kind::FeeSchedule.as_str(),
        department,
        format!(
            "a department's fee schedule is set by its own manager or an admin ({} manages {:?})",
            actor.username,
            if actor.department.is_empty() {
                "no department"
            } else {
                actor.department.as_str()
            }
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(base: i64, minute: i64, file: i64) -> FeeScheduleSpec {
        FeeScheduleSpec {
            currency: "USD".into(),
            base_cents: base,
            per_minute_cents: minute,
            per_file_cents: file,
        }
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn the_fee_is_base_plus_minutes_plus_files() {
        let s = schedule(500, 25, 100);
        assert_eq!(fee(&s, 0, 0), 500);
        assert_eq!(fee(&s, 10, 0), 750);
        assert_eq!(fee(&s, 10, 3), 1050);
        assert_eq!(fee(&schedule(0, 0, 0), 1440, 720), 0, "a free schedule");
        // The largest amounts over a day of 2-second files do not overflow.
        let max = camplane_config::model::MAX_FEE_CENTS;
        assert_eq!(
            fee(&schedule(max, max, max), 1440, 43_200),
            1_000_000 * (1 + 1440 + 43_200)
        );
        // Even unchecked values neither wrap nor go negative.
        assert_eq!(fee(&schedule(i64::MAX, i64::MAX, 0), u64::MAX, 0), u64::MAX);
        assert_eq!(fee(&schedule(-500, 10, 0), 1, 0), 10);
    }

    #[test]
    fn minutes_count_the_range_asked_a_started_minute_whole() {
        let (from, until) = (t("2026-11-01T10:00:00Z"), t("2026-11-01T10:10:00Z"));
        // Two 60-s segments sticking out of both ends: 30 s + 30 s inside.
        let segs = [
            (t("2026-11-01T09:59:30Z"), t("2026-11-01T10:00:30Z")),
            (t("2026-11-01T10:09:30Z"), t("2026-11-01T10:10:30Z")),
        ];
        assert_eq!(video_minutes(&segs, from, until), 1);
        assert_eq!(
            video_minutes(&segs[..1], from, until),
            1,
            "30 s is a started minute"
        );
        assert_eq!(video_minutes(&[], from, until), 0);
        // Ten minutes of 2-s segments are ten minutes; one more second is eleven.
        let mut whole = Vec::new();
        let mut s = from;
        while s < until {
            let e = s + jiff::SignedDuration::from_secs(2);
            whole.push((s, e));
            s = e;
        }
        assert_eq!(video_minutes(&whole, from, until), 10);
        let later = until + jiff::SignedDuration::from_secs(1);
        whole.push((until, later));
        assert_eq!(video_minutes(&whole, from, later), 11);
        // A segment outside the range counts nothing.
        assert_eq!(
            video_minutes(
                &[(t("2026-11-01T11:00:00Z"), t("2026-11-01T11:01:00Z"))],
                from,
                until
            ),
            0
        );
    }

    #[test]
    fn a_department_without_a_schedule_charges_nothing() {
        let f = Fee::charge("parks", None, 10, 3);
        assert_eq!((f.cents, f.currency.as_str()), (0, "USD"));
        let f = Fee::charge("parks", Some(schedule(500, 25, 100)), 10, 3);
        assert_eq!(f.cents, 1050);
        assert_eq!(f.shown(), "10.50 USD");
    }

    /// Only the police claim police use (no fee); everyone else's copies are
    /// charged.
    #[test]
    fn only_the_police_copy_without_a_fee() {
        let actor = |role: Role, dept: &str| Actor {
            username: "u".into(),
            roles: vec![role],
            department: dept.into(),
        };
        for r in Role::ALL {
            for dept in ["police", "parks", ""] {
                let a = actor(r, dept);
                assert!(charged(false, &a).unwrap(), "{r} of {dept:?}");
                let police = r == Role::Chief || dept == "police";
                match charged(true, &a) {
                    Ok(c) => assert!(police && !c, "{r} of {dept:?}"),
                    Err(crate::Error::PermissionDenied(m)) => {
                        assert!(!police, "{r} of {dept:?}");
                        assert!(m.contains("--police-use"), "{m}");
                    }
                    Err(e) => panic!("{e:?}"),
                }
            }
        }
    }

    /// Every role, own department and another: only admins and the
    /// department's own manager.
    #[test]
    fn only_the_departments_manager_or_an_admin_sets_its_schedule() {
        for r in Role::ALL {
            for dept in ["parks", "police", ""] {
                let a = Actor {
                    username: "u".into(),
                    roles: vec![r],
                    department: dept.into(),
                };
                let want = r == Role::Admin || (r == Role::DeptManager && dept == "parks");
                match may_set(&a, "parks") {
                    Ok(()) => assert!(want, "{r} of {dept:?}"),
                    Err(Refusal {
                        error: crate::Error::PermissionDenied(_),
                        audit: Some(d),
                    }) => {
                        assert!(!want, "{r} of {dept:?}");
                        assert_eq!((d.kind.as_str(), d.name.as_str()), ("FeeSchedule", "parks"));
                        assert!(d.result.starts_with("denied"));
                    }
                    Err(r) => panic!("{:?}", r.error),
                }
            }
        }
    }
}
