//! The department compliance report (policy 5.05: "Department Managers are
//! responsible for making sure that the provisions of this AP are adhered
//! to"): for one department and one calendar month in the city's time zone,
//! its cameras and their states, the cameras whose test is overdue or that are
//! non-operational for a week, what the department's users did with video and
//! plate reads (views, exports, searches, refusals, from the audit log), and
//! the open complaints about its cameras (ids and stages only: complainants
//! are not the department's to read).
//!
//! Who may ask: [`may_report`], a pure rule: auditors for any department, a
//! department manager for their own. Making a report is audited
//! (`compliance.report`), refusals too.

use crate::core::audit::{AuditEntry, Draft, ENTRIES};
use crate::core::auth::{Actor, Operation};
use crate::core::object::{check, Refusal};
use crate::core::{AuditAction, Controller};
use crate::oversight::complaint_machine::Stage;
use crate::oversight::maintenance::OverdueCamera;
use crate::{Error, Result};
use camplane_config::model::{
    CameraSpec, CameraState, CameraStatus, FeeScheduleSpec, Kind, UserSpec,
};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One camera of the department as the report lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CameraLine {
    /// The camera.
    pub camera: String,
    /// Its life-cycle state now.
    pub state: CameraState,
    /// Since when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_since: Option<Timestamp>,
    /// Flagged non-operational since (no video for 7 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_operational_since: Option<Timestamp>,
}

/// What one user of the department did in the month.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserActivity {
    /// The user.
    pub user: String,
    /// Viewing sessions started (live and playback).
    pub views: u64,
    /// Recording exports.
    pub exports: u64,
    /// ALPR searches run.
    pub searches: u64,
    /// Their requests refused (any action).
    pub refusals: u64,
}

/// An open complaint about one of the department's cameras.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenComplaint {
    /// Its id.
    pub id: String,
    /// The camera.
    pub camera: String,
    /// Where it stands.
    pub stage: String,
    /// When it was received.
    pub received_at: Timestamp,
}

/// The report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComplianceReport {
    /// The department.
    pub department: String,
    /// The month, `YYYY-MM`.
    pub month: String,
    /// Its first instant.
    pub from: Timestamp,
    /// The next month's first instant.
    pub until: Timestamp,
    /// The department's cameras, by name.
    pub cameras: Vec<CameraLine>,
    /// Cameras in service whose test is overdue or that are non-operational.
    pub overdue: Vec<OverdueCamera>,
    /// Cameras flagged non-operational now.
    pub non_operational: Vec<String>,
    /// The department's users' access in the month, by user name.
    pub activity: Vec<UserActivity>,
    /// Open complaints about its cameras.
    pub open_complaints: Vec<OpenComplaint>,
    /// The department's fee schedule for copies of its video (none: copies
    /// carry no fee).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee_schedule: Option<FeeScheduleSpec>,
    /// Audit entries read for the month.
    pub entries: u64,
}

/// The rule: auditors report on any department; a department manager on
/// their own only.
pub fn may_report(actor: &Actor, department: &str) -> std::result::Result<(), Refusal> {
    let audit = AuditAction::ComplianceReport;
    check(actor, Operation::ReadComplianceReport, audit).map_err(|mut r| {
        if let Some(d) = r.audit.as_mut() {
            d.kind = "Department".into();
            d.name = department.into();
        }
        r
    })?;
    let auditor = actor
        .roles
        .iter()
        .any(|r| Operation::ReadAudit.roles().contains(r));
    if !auditor && actor.department != department {
        return Err(Refusal::denied(
            actor,
            audit,
            "Department",
            department,
            format!(
                "a department manager reports on their own department ({}), not {department}",
                actor.department
            ),
        ));
    }
    Ok(())
}

/// `YYYY-MM` as its first day.
fn month_start(s: &str) -> Result<jiff::civil::Date> {
    let bad = || {
        Error::InvalidArgument(format!(
            "--month {:?}: give a month as YYYY-MM, e.g. 2026-10",
            s.chars()
                .filter(|c| !c.is_control())
                .take(20)
                .collect::<String>()
        ))
    };
    if s.len() != 7 || s.as_bytes()[4] != b'-' {
        return Err(bad());
    }
    format!("{s}-01")
        .parse::<jiff::civil::Date>()
        .ok()
        .filter(|d| (2000..=2200).contains(&d.year()))
        .ok_or_else(bad)
}

/// What an audit entry counts for, by its action.
fn count(a: &mut UserActivity, e: &AuditEntry) {
    let ok = e.result == "ok";
    if e.result.starts_with("denied") || e.result.starts_with("refused") {
        a.refusals += 1;
    }
    match e.action.as_str() {
        "view.start" if ok => a.views += 1,
        "recordings.export" if ok => a.exports += 1,
        "alpr.search" if ok => a.searches += 1,
        _ => {}
    }
}

impl Controller {
    /// `camplane compliance report --department D --month M`.
    pub async fn compliance_report(
        &self,
        actor: &Actor,
        department: &str,
        month: &str,
    ) -> Result<ComplianceReport> {
        let department = department.trim();
        if let Err(r) = may_report(actor, department) {
            return Err(self.record_refusal(r).await);
        }
        if self.load(Kind::Department, department).is_err() {
            return Err(Error::NotFound(format!(
                "--department {:?}: no such department",
                department.chars().take(60).collect::<String>()
            )));
        }
        let tz = self.city_tz_or_utc();
        let start = month_start(month)?;
        let at = |d: jiff::civil::Date| {
            d.to_zoned(tz.clone())
                .map(|z| z.timestamp())
                .map_err(|e| Error::Internal(format!("month start: {e}")))
        };
        let (from, until) = (
            at(start)?,
            at(start
                .last_of_month()
                .tomorrow()
                .map_err(|e| Error::Internal(e.to_string()))?)?,
        );

        let mut cameras = Vec::new();
        let mut mine = BTreeSet::new();
        for (o, _) in self.list(Kind::Camera)? {
            let spec: CameraSpec = o.spec_as()?;
            if spec.department != department {
                continue;
            }
            let st: CameraStatus = o.status_as();
            mine.insert(o.name.clone());
            cameras.push(CameraLine {
                camera: o.name.clone(),
                state: st.state,
                state_since: st.state_since,
                non_operational_since: st.non_operational_since,
            });
        }
        cameras.sort_by(|a, b| a.camera.cmp(&b.camera));
        let non_operational = cameras
            .iter()
            .filter(|c| c.non_operational_since.is_some())
            .map(|c| c.camera.clone())
            .collect();
        let overdue = self.maintenance_overdue(actor, department).await?;

        // The department's users, and what they did in the month.
        let users: BTreeSet<String> = self
            .list(Kind::User)?
            .into_iter()
            .filter(|(o, _)| {
                o.spec_as::<UserSpec>()
                    .is_ok_and(|s| s.department == department)
            })
            .map(|(o, _)| o.name)
            .collect();
        let mut activity: BTreeMap<String, UserActivity> = BTreeMap::new();
        let listed = self.store.list(ENTRIES).await?;
        let mut entries = 0;
        for kv in &listed.kvs {
            let Ok(e) = serde_json::from_slice::<AuditEntry>(&kv.value) else {
                continue;
            };
            if e.at < from || e.at >= until {
                continue;
            }
            entries += 1;
            if users.contains(&e.actor) {
                let a = activity
                    .entry(e.actor.clone())
                    .or_insert_with(|| UserActivity {
                        user: e.actor.clone(),
                        ..Default::default()
                    });
                count(a, &e);
            }
        }

        let open_complaints = self
            .all_complaints()
            .await?
            .into_iter()
            .filter(|c| matches!(c.stage, Stage::Waiting(_)))
            .filter_map(|c| {
                let cam = c.camera.clone().filter(|cam| mine.contains(cam))?;
                Some(OpenComplaint {
                    id: c.id,
                    camera: cam,
                    stage: c.stage.describe(),
                    received_at: c.received_at,
                })
            })
            .collect();
        let report = ComplianceReport {
            department: department.to_string(),
            month: start.strftime("%Y-%m").to_string(),
            from,
            until,
            cameras,
            overdue,
            non_operational,
            activity: activity.into_values().collect(),
            open_complaints,
            fee_schedule: self
                .load(Kind::FeeSchedule, department)
                .ok()
                .and_then(|o| o.spec_as::<FeeScheduleSpec>().ok()),
            entries,
        };
        let mut d = Draft::new(
            &actor.username,
            AuditAction::ComplianceReport,
            "Department",
            department,
        );
        d.details = serde_json::json!({
            "month": report.month, "cameras": report.cameras.len(),
            "overdue": report.overdue.len(), "open_complaints": report.open_complaints.len(),
        });
        self.audit.record(d).await?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use camplane_config::model::Role;

    fn actor(roles: &[Role], department: &str) -> Actor {
        Actor {
            username: "u".into(),
            roles: roles.to_vec(),
            department: department.into(),
        }
    }

    #[test]
    fn auditors_report_on_any_department_managers_on_their_own() {
        assert!(may_report(&actor(&[Role::Auditor], ""), "police").is_ok());
        assert!(may_report(&actor(&[Role::DeptManager], "police"), "police").is_ok());
        let r = may_report(&actor(&[Role::DeptManager], "parks"), "police").unwrap_err();
        assert!(matches!(r.error, Error::PermissionDenied(_)));
        assert_eq!(r.audit.unwrap().name, "police");
        for role in [
            Role::Viewer,
            Role::Chief,
            Role::Engineer,
            Role::AlprOperator,
        ] {
            let r = may_report(&actor(&[role], "police"), "police").unwrap_err();
            assert!(matches!(r.error, Error::PermissionDenied(_)), "{role:?}");
        }
    }

    #[test]
    fn months_are_yyyy_mm() {
        assert_eq!(month_start("2026-11").unwrap().to_string(), "2026-11-01");
        for bad in ["2026-13", "2026-1", "26-11", "2026/11", "", "1999-01"] {
            assert!(month_start(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_activity_counts_what_was_done_and_what_was_refused() {
        let e = |action: &str, result: &str| AuditEntry {
            seq: 1,
            at: "2026-11-02T00:00:00Z".parse().unwrap(),
            actor: "u".into(),
            action: action.into(),
            kind: String::new(),
            name: String::new(),
            result: result.into(),
            before: None,
            after: None,
            details: serde_json::Value::Null,
            sealed: String::new(),
            prev_hash: String::new(),
            hash: String::new(),
        };
        let mut a = UserActivity::default();
        for (action, result) in [
            ("view.start", "ok"),
            ("view.start", "denied: not theirs"),
            ("recordings.export", "ok"),
            ("alpr.search", "ok"),
            ("alpr.search", "refused: no case"),
            ("login", "ok"),
        ] {
            count(&mut a, &e(action, result));
        }
        assert_eq!((a.views, a.exports, a.searches, a.refusals), (1, 1, 1, 2));
    }
}
