//! Maintenance and testing of the cameras as stored: one record per entry,
//! the chief's list of authorized vendors, and the cameras whose test is
//! overdue. The rule of who may log, and when a camera is overdue:
//! [`maintenance_machine`].
//!
//! Keys: `maintenance/{camera}/{time-id}` hold [`MaintenanceEntry`] JSON (the
//! time first, so a camera's entries list oldest first);
//! `oversight/maintenance-vendors` holds [`Vendors`]. Both are read from the
//! store itself and written in one transaction with their audit entry.

use crate::core::audit::Draft;
use crate::core::auth::{Actor, Operation};
use crate::core::{AuditAction, Controller, KeyChange, KeyStep};
use crate::oversight::complaints::text;
use crate::oversight::maintenance_machine::{self, MaintenanceKind, MaintenanceResult, Overdue};
use crate::{Error, Result};
use camplane_config::model::{CameraSpec, CameraState, CameraStatus, Kind};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Prefix of maintenance entries.
pub const MAINTENANCE: &str = "maintenance/";
/// The chief's list of authorized vendors.
pub const VENDORS: &str = "oversight/maintenance-vendors";
/// Longest note (characters).
pub const MAX_NOTE: usize = 2000;
/// Longest vendor name (characters).
pub const MAX_VENDOR: usize = 120;

/// One maintenance or test of a camera.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaintenanceEntry {
    /// `{yyyymmddThhmmssZ}-{microseconds}-{random}`: unique per camera, in time order.
    pub id: String,
    /// The camera.
    pub camera: String,
    /// The camera's department when it was logged.
    pub department: String,
    /// Test, repair or cleaning.
    pub kind: MaintenanceKind,
    /// How it came out.
    pub result: MaintenanceResult,
    /// What was done or found.
    pub note: String,
    /// The authorized vendor who did it, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// Who logged it.
    pub by: String,
    /// When.
    pub at: Timestamp,
}

/// What `maintenance log` records.
#[derive(Debug, Clone)]
pub struct NewMaintenance {
    /// The camera.
    pub camera: String,
    /// Test, repair or cleaning.
    pub kind: MaintenanceKind,
    /// How it came out.
    pub result: MaintenanceResult,
    /// What was done or found.
    pub note: String,
    /// The vendor (empty: none).
    pub vendor: String,
}

/// The chief's list of authorized maintenance vendors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Vendors {
    /// Names, sorted.
    pub vendors: Vec<String>,
}

/// A camera listed by `maintenance overdue`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverdueCamera {
    /// The camera.
    pub camera: String,
    /// Its department.
    pub department: String,
    /// Why it is listed.
    pub reasons: Vec<Overdue>,
}

/// Whether `v` is a vendor name: plain text on one line.
fn vendor_name(v: &str) -> Result<String> {
    let v = text("vendor", v, MAX_VENDOR, true)?;
    if v.contains('\n') {
        return Err(Error::InvalidArgument("vendor is one line".into()));
    }
    Ok(v)
}

impl Controller {
    /// The camera named by a request, with its spec and status.
    fn maintained_camera(&self, camera: &str) -> Result<(CameraSpec, CameraStatus)> {
        let o = if camera.len() > 253 {
            None
        } else {
            self.load(Kind::Camera, camera).ok()
        };
        let o = o.ok_or_else(|| {
            Error::NotFound(format!(
                "camera {:?}",
                camera.chars().take(80).collect::<String>()
            ))
        })?;
        Ok((o.spec_as()?, o.status_as()))
    }

    /// The chief's vendor list as stored.
    async fn stored_vendors(&self) -> Result<Vendors> {
        Ok(match self.store.get(VENDORS).await? {
            Some(kv) => serde_json::from_slice(&kv.value)?,
            None => Vendors::default(),
        })
    }

    /// `camplane maintenance log`: the camera's department (managers,
    /// engineers) or Information Services records a maintenance or test.
    pub async fn log_maintenance(
        &self,
        actor: &Actor,
        m: NewMaintenance,
    ) -> Result<MaintenanceEntry> {
        // The role first: someone who may never log learns nothing of cameras.
        self.require(
            actor,
            Operation::LogMaintenance,
            AuditAction::MaintenanceLog,
        )
        .await?;
        let (spec, _) = self.maintained_camera(&m.camera)?;
        let vendor = match m.vendor.trim() {
            "" => None,
            v => Some(vendor_name(v)?),
        };
        let vendors = self.stored_vendors().await?;
        if let Err(r) = maintenance_machine::may_log(
            actor,
            &m.camera,
            &spec.department,
            vendor.as_deref(),
            &vendors.vendors,
        ) {
            return Err(self.record_refusal(r).await);
        }
        let note = text("--note", &m.note, MAX_NOTE, true)?;
        let now = self.now();
        let id = format!(
            "{}-{:06}-{}",
            now.strftime("%Y%m%dT%H%M%SZ"),
            now.subsec_microsecond(),
            hex::encode(rand::random::<[u8; 3]>())
        );
        let e = MaintenanceEntry {
            id: id.clone(),
            camera: m.camera.clone(),
            department: spec.department,
            kind: m.kind,
            result: m.result,
            note,
            vendor,
            by: actor.username.clone(),
            at: now,
        };
        self.update_stored_key(&format!("{MAINTENANCE}{}/{id}", m.camera), |kv| {
            if kv.is_some() {
                return Err(Error::Conflict("maintenance id collision; try again".into()).into());
            }
            let mut d = Draft::new(
                &actor.username,
                AuditAction::MaintenanceLog,
                "Camera",
                &e.camera,
            );
            d.details = serde_json::json!({
                "entry": e.id, "kind": e.kind, "result": e.result, "vendor": e.vendor,
            });
            let change = KeyChange::put(serde_json::to_vec(&e)?, d);
            Ok(KeyStep::Write(Box::new(change), e.clone()))
        })
        .await
    }

    /// `camplane maintenance vendors add|remove`: the chief keeps the list.
    pub async fn change_vendor(&self, actor: &Actor, name: &str, add: bool) -> Result<Vendors> {
        let action = if add {
            AuditAction::MaintenanceVendorAdd
        } else {
            AuditAction::MaintenanceVendorRemove
        };
        self.require(actor, Operation::ManageMaintenanceVendors, action)
            .await?;
        let name = vendor_name(name)?;
        self.update_stored_key(VENDORS, |kv| {
            let mut v: Vendors = kv
                .map(|kv| serde_json::from_slice(&kv.value))
                .transpose()?
                .unwrap_or_default();
            let at = v.vendors.iter().position(|x| *x == name);
            match (add, at) {
                (true, Some(_)) => {
                    return Err(Error::AlreadyExists(format!("vendor {name:?}")).into())
                }
                (false, None) => return Err(Error::NotFound(format!("vendor {name:?}")).into()),
                (true, None) => {
                    v.vendors.push(name.clone());
                    v.vendors.sort();
                }
                (false, Some(i)) => {
                    v.vendors.remove(i);
                }
            }
            let mut d = Draft::new(&actor.username, action, "MaintenanceVendor", &name);
            d.details = serde_json::json!({"vendors": v.vendors.len()});
            let change = KeyChange::put(serde_json::to_vec(&v)?, d);
            Ok(KeyStep::Write(Box::new(change), v))
        })
        .await
    }

    /// Refuses a read of maintenance records to those who may not (audited).
    async fn may_read_maintenance(&self, actor: &Actor) -> Result<()> {
        self.require(
            actor,
            Operation::ReadMaintenance,
            AuditAction::MaintenanceList,
        )
        .await
    }

    /// `camplane maintenance vendors list`.
    pub async fn maintenance_vendors(&self, actor: &Actor) -> Result<Vendors> {
        self.may_read_maintenance(actor).await?;
        self.stored_vendors().await
    }

    /// `camplane maintenance list CAMERA`: its entries, oldest first.
    pub async fn maintenance_log(
        &self,
        actor: &Actor,
        camera: &str,
    ) -> Result<Vec<MaintenanceEntry>> {
        self.may_read_maintenance(actor).await?;
        self.maintained_camera(camera)?;
        self.entries(&format!("{MAINTENANCE}{camera}/")).await
    }

    /// Every entry under `prefix`, in key order (an unreadable one is skipped
    /// and logged).
    async fn entries(&self, prefix: &str) -> Result<Vec<MaintenanceEntry>> {
        let l = self.store.list(prefix).await?;
        let mut out: Vec<(String, MaintenanceEntry)> = l
            .kvs
            .iter()
            .filter_map(|kv| match serde_json::from_slice(&kv.value) {
                Ok(e) => Some((kv.key.clone(), e)),
                Err(e) => {
                    tracing::warn!(key = %kv.key, error = %e, "unreadable maintenance entry skipped");
                    None
                }
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out.into_iter().map(|(_, e)| e).collect())
    }

    /// `camplane maintenance overdue`: active cameras (of `department`, when
    /// given) whose test is overdue or that have been non-operational for a
    /// week, in name order.
    pub async fn maintenance_overdue(
        &self,
        actor: &Actor,
        department: &str,
    ) -> Result<Vec<OverdueCamera>> {
        self.may_read_maintenance(actor).await?;
        let now = self.now();
        let interval = self.config.maintenance.test_interval_days;
        let mut last_ok: BTreeMap<String, Timestamp> = BTreeMap::new();
        for e in self.entries(MAINTENANCE).await? {
            if e.kind == MaintenanceKind::Test && e.result == MaintenanceResult::Ok {
                let t = last_ok.entry(e.camera.clone()).or_insert(e.at);
                *t = (*t).max(e.at);
            }
        }
        let mut out = Vec::new();
        for (o, _) in self.list(Kind::Camera)? {
            let spec: CameraSpec = o.spec_as()?;
            let status: CameraStatus = o.status_as();
            if status.state != CameraState::Active
                || (!department.is_empty() && spec.department != department)
            {
                continue;
            }
            let reasons = maintenance_machine::overdue(
                status.state_since,
                last_ok.get(&o.name).copied(),
                status.non_operational_since,
                interval,
                now,
            );
            if !reasons.is_empty() {
                out.push(OverdueCamera {
                    camera: o.name.clone(),
                    department: spec.department,
                    reasons,
                });
            }
        }
        out.sort_by(|a, b| a.camera.cmp(&b.camera));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_names_are_one_plain_line() {
        assert_eq!(vendor_name(" Acme Video ").unwrap(), "Acme Video");
        assert!(vendor_name("").is_err());
        assert!(vendor_name("a\nb").is_err());
        assert!(vendor_name(&"v".repeat(MAX_VENDOR + 1)).is_err());
    }
}
