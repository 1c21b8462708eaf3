//! Controller-side retention, run by the leader. Hotlist alerts carry plates,
//! places and times: they are ALPR data, deleted at 30 days like the reads on the
//! sites, unless an active legal hold covers their camera and time. The agent
//! reports the controller keeps (so that a resent report is stored once) are
//! dropped after 7 days, long after any agent could still resend one (agents
//! resend only what was never acknowledged); the keys of health reports, which
//! every agent sends every interval and which carry no copy of the report, after
//! an hour. The public log's filed windows, the
//! latest health and the audit log are not touched.

use crate::alpr::approval::{AlprApproval, APPROVALS};
use crate::alpr::hotlist::{Alert, ALERTS};
use crate::core::audit::Draft;
use crate::core::object::StoredObject;
use crate::core::sealed::{self, SealedRecord, SEALED};
use crate::core::store::{Compare, Op};
use crate::core::AuditAction;
use crate::core::Controller;
use crate::fleet::REPORTS;
use crate::Result;
use camplane_config::model::{Kind, LegalHoldSpec, LegalHoldStatus, MAX_RETENTION_DAYS};
use jiff::{SignedDuration, Timestamp};

/// Days stored agent reports are kept.
pub const REPORT_DAYS: i64 = 7;
/// Hours the keys of health reports are kept.
pub const HEALTH_KEY_HOURS: i64 = 1;
/// Deletes per store transaction (etcd allows 128 operations).
const PER_TXN: usize = 100;

/// What a sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Alerts deleted.
    pub alerts: usize,
    /// Alerts past 30 days kept because a hold covers them.
    pub alerts_held: usize,
    /// Stored reports deleted.
    pub reports: usize,
    /// Sealed audit details (plate texts, read ids) erased.
    pub sealed: usize,
    /// ALPR approvals whose plate or pattern was erased (30 days after their
    /// last step), and pending case lists' rows deleted with them.
    pub approvals: usize,
}

/// Plate data (alerts, plate texts) are kept past 30 days only by holds that
/// keep plate data ([`LegalHoldSpec::covers_plate_data`]).
fn held(holds: &[LegalHoldSpec], camera: &str, t: Timestamp) -> bool {
    holds.iter().any(|h| h.covers_plate_data(camera, t))
}

impl Controller {
    /// Deletes what is past its time (idempotent: a second sweep finds nothing).
    pub async fn sweep_retention(&self) -> Result<Swept> {
        let now = self.now();
        // From the store, not this replica's cache: a hold placed through
        // another controller a moment ago must already count.
        let holds = self.active_holds_stored().await?;
        let alert_cut = now - SignedDuration::from_hours(24 * i64::from(MAX_RETENTION_DAYS));
        let report_cut = now - SignedDuration::from_hours(24 * REPORT_DAYS);
        let health_cut = now - SignedDuration::from_hours(HEALTH_KEY_HOURS);
        let mut out = Swept::default();
        let mut doomed = Vec::new();
        for kv in self.store.list(ALERTS).await?.kvs {
            let Ok(a) = serde_json::from_slice::<Alert>(&kv.value) else {
                tracing::warn!(key = %kv.key, "unreadable alert kept");
                continue;
            };
            if a.report.time >= alert_cut {
                continue;
            }
            if held(&holds, &a.report.camera, a.report.time) {
                out.alerts_held += 1;
            } else {
                out.alerts += 1;
                doomed.push(kv.key);
            }
        }
        for kv in self.store.list(REPORTS).await?.kvs {
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&kv.value) else {
                continue;
            };
            let cut = if v["kind"] == camplane_proto::kinds::ReportKind::Health.as_str() {
                health_cut
            } else {
                report_cut
            };
            let received = v["received_at"]
                .as_str()
                .and_then(|s| s.parse::<Timestamp>().ok());
            if received.is_some_and(|t| t < cut) {
                out.reports += 1;
                doomed.push(kv.key);
            }
        }
        // Plate texts and read ids in the audit log: erased at 30 days unless a
        // hold covers one of their cameras; the chain keeps their digests.
        for kv in self.store.list(SEALED).await?.kvs {
            let Ok(r) = serde_json::from_slice::<SealedRecord>(&kv.value) else {
                continue;
            };
            if sealed::erasable(&r, now, |c, t| held(&holds, c, t)) {
                out.sealed += 1;
                doomed.push(kv.key);
            }
        }
        // Approvals name the plate or pattern searched for, and a case list's
        // waiting rows are plates: ALPR data, erased 30 days after the
        // approval's last step (the audit entries keep who asked and why).
        let mut scrubbed = Vec::new();
        for kv in self.store.list(APPROVALS).await?.kvs {
            let Ok(mut a) = serde_json::from_slice::<AlprApproval>(&kv.value) else {
                continue;
            };
            let last = [Some(a.requested_at), a.decided_at, a.used_at]
                .into_iter()
                .flatten()
                .max()
                .unwrap_or(a.requested_at);
            if last >= alert_cut || a.plate == sealed::ERASED {
                continue;
            }
            a.plate = sealed::ERASED.into();
            scrubbed.push((kv.key, kv.mod_revision, serde_json::to_vec(&a)?, a.id));
        }
        for (key, rev, value, id) in scrubbed {
            // A decision or run meanwhile wins; the next sweep comes back.
            let done = self
                .store
                .txn(
                    vec![Compare::ModRevision(key.clone(), rev)],
                    vec![
                        Op::Put(key, value),
                        Op::Delete(crate::alpr::case_list::pending_key(&id)),
                    ],
                )
                .await?;
            if done.succeeded {
                out.approvals += 1;
            }
        }
        // Holds placed while this sweep listed: read once more, and what a new
        // hold covers is kept.
        let latest = self.active_holds_stored().await?;
        if latest != holds {
            let before = doomed.len();
            let mut kept = Vec::with_capacity(doomed.len());
            for key in doomed {
                if self.newly_held(&key, &latest).await? {
                    // Kept after all: the sweep's account says so.
                    if key.starts_with(ALERTS) {
                        out.alerts -= 1;
                        out.alerts_held += 1;
                    } else if key.starts_with(SEALED) {
                        out.sealed -= 1;
                    }
                    continue;
                }
                kept.push(key);
            }
            doomed = kept;
            tracing::info!(
                kept = before - doomed.len(),
                "holds placed during the retention sweep"
            );
        }
        for chunk in doomed.chunks(PER_TXN) {
            self.store
                .txn(vec![], chunk.iter().cloned().map(Op::Delete).collect())
                .await?;
        }
        if out.alerts > 0 || out.reports > 0 || out.sealed > 0 || out.approvals > 0 {
            let mut d = Draft::new(
                "system",
                AuditAction::RetentionSweep,
                "Controller",
                "retention",
            );
            d.details = serde_json::json!({
                "alerts_deleted": out.alerts, "alerts_held": out.alerts_held,
                "reports_deleted": out.reports, "alert_days": MAX_RETENTION_DAYS,
                "report_days": REPORT_DAYS, "sealed_details_erased": out.sealed,
                "approvals_erased": out.approvals,
            });
            self.audit.record(d).await?;
            tracing::info!(?out, "retention sweep");
        }
        Ok(out)
    }

    /// Holds in force, read from the store (every replica's writes).
    async fn active_holds_stored(&self) -> Result<Vec<LegalHoldSpec>> {
        let mut out = Vec::new();
        for kv in self.store.list(Kind::LegalHold.prefix()).await?.kvs {
            let o: StoredObject = serde_json::from_slice(&kv.value)?;
            let st: LegalHoldStatus = o.status_as();
            if st.released_at.is_none() {
                out.push(o.spec_as()?);
            }
        }
        Ok(out)
    }

    /// Whether the alert or sealed detail at `key` is covered by `holds`.
    async fn newly_held(&self, key: &str, holds: &[LegalHoldSpec]) -> Result<bool> {
        let Some(kv) = self.store.get(key).await? else {
            return Ok(false);
        };
        if key.starts_with(ALERTS) {
            if let Ok(a) = serde_json::from_slice::<Alert>(&kv.value) {
                return Ok(held(holds, &a.report.camera, a.report.time));
            }
        } else if key.starts_with(SEALED) {
            if let Ok(r) = serde_json::from_slice::<SealedRecord>(&kv.value) {
                return Ok(r.cameras.iter().any(|c| held(holds, c, r.at)));
            }
        }
        Ok(false)
    }
}
