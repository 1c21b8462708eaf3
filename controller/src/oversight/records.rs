//! External requests to release records as stored, with their statutory
//! deadline and the legal hold that keeps what they cover. The rule of who
//! takes which step when: [`records_machine`].
//!
//! Keys: `oversight/records/{id}` hold [`RecordsRequest`] JSON, read from the
//! store itself. A request that names a camera and a range places a legal hold
//! (`LegalHold` `hold-{id}`, reason `records_request`, case number the
//! request's id) in the same transaction as its opening, so the video cannot
//! be erased while it waits; the step that closes it (a denial, a fulfilment)
//! releases that hold in its own transaction. The requester's name stays in
//! the record: audit entries name the request by id.
//!
//! A released request that covers recordings is fulfilled with a copy
//! (`records-request fulfil ID --out DIR`): [`Controller::plan_records_fulfilment`]
//! checks the step and plans a masked export tied to the request
//! (`recordings::plan_release`, its fee from the camera's department's
//! schedule); once its signed manifest is sent, [`Controller::finish_records_fulfilment`]
//! records the fee and the manifest's SHA-256 on the request, closes it and
//! releases its hold, in one transaction with its audit entry. Such a request
//! is never fulfilled without its copy.

use crate::core::audit::Draft;
use crate::core::auth::{Actor, Operation};
use crate::core::object::{json, Refusal, StoredObject};
use crate::core::store::Op;
use crate::core::{AuditAction, Controller, KeyChange, KeyStep};
use crate::oversight::complaints::{shown, text, MAX_FROM, MAX_TEXT};
use crate::oversight::records_machine::{self, Action, Decision, Stage};
use crate::recordings::fees::Fee;
use crate::recordings::{ExportPlan, ReleaseExport, MAX_EXPORT_HOURS};
use crate::{Error, Result};
use camplane_config::model::{HoldReason, Kind, LegalHoldSpec, LegalHoldStatus};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// Prefix of records requests.
pub const RECORDS: &str = "oversight/records/";
/// Requests in one page of a list.
pub const PAGE: usize = 100;

/// A step after opening.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// The Public Information Officer took it up.
    Review,
    /// The City Attorney advised.
    Advise,
    /// The Public Information Officer decided.
    Decide,
    /// Fulfilled.
    Fulfil,
}

/// One step after opening.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordsStep {
    /// Which.
    pub step: StepKind,
    /// Who.
    pub by: String,
    /// When.
    pub at: Timestamp,
    /// The advice, or the decision's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// An external request to release records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordsRequest {
    /// `rr-{yyyymmdd}-{random}`.
    pub id: String,
    /// Who asked (personal: never published, never in the audit log).
    pub requester: String,
    /// What they ask for.
    pub describe: String,
    /// The camera whose recordings it covers, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera: Option<String>,
    /// Start of the range it covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Timestamp>,
    /// End of the range it covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
    /// When the city received it.
    pub received_at: Timestamp,
    /// The decision is due by then (`records.response_days` after receipt).
    pub due: Timestamp,
    /// Who recorded it, and when.
    pub opened_by: String,
    /// When.
    pub opened_at: Timestamp,
    /// Where it stands.
    pub stage: Stage,
    /// The legal hold it placed, if it covers recordings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<String>,
    /// The decision, once made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// Steps after opening, oldest first.
    #[serde(default)]
    pub steps: Vec<RecordsStep>,
    /// The fee charged for the copy that fulfilled it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee: Option<Fee>,
    /// The copy that fulfilled it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export: Option<FulfilledExport>,
}

/// The copy that fulfilled a request, as recorded on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FulfilledExport {
    /// SHA-256 (hex) of the signed manifest file as sent.
    pub manifest_sha256: String,
    /// The export's own audit entry (`recordings.export`).
    pub audit_seq: u64,
    /// Files in the copy (masked).
    pub files: usize,
}

impl RecordsRequest {
    /// Whether its decision is late at `now`.
    pub fn overdue(&self, now: Timestamp) -> bool {
        self.stage.awaits_decision() && now > self.due
    }
}

/// What `records-request open` records.
#[derive(Debug, Clone, Default)]
pub struct NewRecordsRequest {
    /// Who asked.
    pub requester: String,
    /// When it was received (RFC 3339 or `YYYY-MM-DD`; empty: now).
    pub received: String,
    /// What they ask for.
    pub describe: String,
    /// A camera whose recordings it covers (empty: none).
    pub camera: String,
    /// The range's start (RFC 3339).
    pub from: String,
    /// The range's end (RFC 3339).
    pub to: String,
}

fn key(id: &str) -> String {
    format!("{RECORDS}{id}")
}

fn valid_id(id: &str) -> bool {
    id.len() <= 40
        && id.starts_with("rr-")
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn hold_name(id: &str) -> String {
    format!("hold-{id}")
}

fn time(field: &str, s: &str) -> Result<Timestamp> {
    s.trim().parse().map_err(|_| {
        Error::InvalidArgument(format!(
            "{field} {:?} is not an RFC 3339 time",
            s.chars().take(40).collect::<String>()
        ))
    })
}

impl Controller {
    /// `camplane records-request open`: the Public Information Officer or the
    /// clerk records a request; one covering a camera's recordings places a
    /// legal hold on them in the same transaction.
    pub async fn open_records_request(
        &self,
        actor: &Actor,
        r: NewRecordsRequest,
    ) -> Result<RecordsRequest> {
        let now = self.now();
        let id = format!(
            "rr-{}-{}",
            now.to_zoned(self.city_tz_or_utc()).strftime("%Y%m%d"),
            hex::encode(rand::random::<[u8; 3]>())
        );
        let t = match records_machine::next(&id, Stage::New, Action::Open, actor) {
            Ok(t) => t,
            Err(r) => return Err(self.record_refusal(r).await),
        };
        let requester = text("--requester", &r.requester, MAX_FROM, true)?;
        let describe = text("--describe", &r.describe, MAX_TEXT, true)?;
        let received_at = self.received_at(&r.received)?;
        let (camera, from, until) = match (r.camera.trim(), r.from.trim(), r.to.trim()) {
            ("", "", "") => (None, None, None),
            (cam, f, u) if !cam.is_empty() && !f.is_empty() && !u.is_empty() => {
                if cam.len() > 253 || self.load(Kind::Camera, cam).is_err() {
                    return Err(Error::InvalidArgument(format!(
                        "--camera {:?}: no such camera",
                        cam.chars().take(80).collect::<String>()
                    )));
                }
                let (f, u) = (time("--from", f)?, time("--to", u)?);
                if f >= u {
                    return Err(Error::InvalidArgument("--from must be before --to".into()));
                }
                // What is released is one export: a longer request could never be fulfilled.
                if u.duration_since(f) > SignedDuration::from_hours(MAX_EXPORT_HOURS) {
                    return Err(Error::InvalidArgument(format!(
                        "--from/--to: one request covers at most {MAX_EXPORT_HOURS} hours of a camera (one copy); open one per day"
                    )));
                }
                (Some(cam.to_string()), Some(f), Some(u))
            }
            _ => return Err(Error::InvalidArgument(
                "--camera, --from and --to go together (a request for recordings names all three)"
                    .into(),
            )),
        };
        let days = i64::from(self.config.records.response_days);
        let due = received_at
            .checked_add(SignedDuration::from_hours(24 * days))
            .map_err(|e| Error::InvalidArgument(format!("deadline: {e}")))?;
        let hold = camera.as_ref().map(|_| hold_name(&id));
        let rr = RecordsRequest {
            id: id.clone(),
            requester,
            describe,
            camera: camera.clone(),
            from,
            until,
            received_at,
            due,
            opened_by: actor.username.clone(),
            opened_at: now,
            stage: t.to,
            hold: hold.clone(),
            decision: None,
            steps: Vec::new(),
            fee: None,
            export: None,
        };
        let hold_obj = match (&camera, from, until, &hold) {
            (Some(cam), Some(f), Some(u), Some(name)) => Some(StoredObject {
                kind: Kind::LegalHold.as_str().into(),
                name: name.clone(),
                spec: json(&LegalHoldSpec {
                    case_number: id.clone(),
                    cameras: vec![cam.clone()],
                    from: f,
                    until: u,
                    reason: HoldReason::RecordsRequest,
                }),
                status: json(&LegalHoldStatus {
                    placed_by: actor.username.clone(),
                    placed_at: Some(now),
                    released_by: None,
                    released_at: None,
                }),
            }),
            _ => None,
        };
        let hold_key = StoredObject::key(Kind::LegalHold, &hold_name(&id));
        self.update_keys(&[&key(&id), &hold_key], |kvs| {
            if kvs.iter().any(Option::is_some) {
                return Err(
                    Error::Conflict("records request id collision; try again".into()).into(),
                );
            }
            let mut d = Draft::new(&actor.username, t.audit, "RecordsRequest", &id);
            d.details = serde_json::json!({
                "camera": rr.camera, "from": rr.from, "until": rr.until,
                "received_at": rr.received_at, "due": rr.due, "hold": rr.hold,
            });
            let mut change = KeyChange::put(serde_json::to_vec(&rr)?, d);
            if let Some(h) = &hold_obj {
                change
                    .ops
                    .push(Op::Put(hold_key.clone(), serde_json::to_vec(h)?));
            }
            Ok(KeyStep::Write(Box::new(change), rr.clone()))
        })
        .await
    }

    /// A step after opening: `review`, `advise` (with `text`), `decide` (with
    /// its reason in `text`), `fulfil`. `as_role`, when given (`--as pio`),
    /// must be the step's own role. A step that closes the request releases
    /// its hold in the same transaction.
    pub async fn records_step(
        &self,
        actor: &Actor,
        id: &str,
        action: Action,
        text_in: &str,
        as_role: &str,
    ) -> Result<RecordsRequest> {
        let audit = action.audit_action();
        let step_role = action
            .operation()
            .roles()
            .first()
            .map(|r| r.as_str())
            .unwrap_or("");
        let as_role = as_role.trim();
        if !as_role.is_empty() && as_role != step_role {
            return Err(Error::InvalidArgument(format!(
                "--as {:?}: this step is the {step_role}'s",
                as_role.chars().take(40).collect::<String>()
            )));
        }
        let needs_text = matches!(action, Action::Advise | Action::Decide(_));
        let field = if action == Action::Advise {
            "--advice"
        } else {
            "--reason"
        };
        if !valid_id(id) {
            let shown = shown(id);
            let r = match records_machine::next(&shown, Stage::New, action, actor) {
                Err(r) => r,
                Ok(_) => Refusal::refused(
                    actor,
                    audit,
                    "RecordsRequest",
                    &shown,
                    Error::NotFound(format!("records request {shown}")),
                ),
            };
            return Err(self.record_refusal(r).await);
        }
        let body = if needs_text {
            Some(text(field, text_in, MAX_TEXT, true)?)
        } else {
            None
        };
        let now = self.now();
        let hold_key = StoredObject::key(Kind::LegalHold, &hold_name(id));
        self.update_keys(&[&key(id), &hold_key], |kvs| {
            let old: Option<RecordsRequest> = kvs[0]
                .as_ref()
                .map(|kv| serde_json::from_slice(&kv.value))
                .transpose()?;
            let stage = old.as_ref().map_or(Stage::New, |r| r.stage);
            let t = records_machine::next(id, stage, action, actor)?;
            let Some(old) = old else {
                return Err(Error::NotFound(format!("records request {id}")).into());
            };
            let by = |k: StepKind| -> Vec<&str> {
                old.steps
                    .iter()
                    .filter(|s| s.step == k)
                    .map(|s| s.by.as_str())
                    .collect()
            };
            records_machine::check_people(
                id,
                action,
                actor,
                &by(StepKind::Review),
                &by(StepKind::Advise),
            )?;
            if action == Action::Fulfil {
                if let Some(cam) = &old.camera {
                    // Its copy comes with its fee and manifest: `--out DIR`.
                    return Err(Refusal::refused(
                        actor,
                        t.audit,
                        "RecordsRequest",
                        id,
                        Error::FailedPrecondition(format!(
                            "records request {id} covers camera {cam}'s recordings: fulfil it with `--out DIR` (a masked copy with its fee)"
                        )),
                    ));
                }
            }
            let mut new = old.clone();
            new.stage = t.to;
            if let Action::Decide(d) = action {
                new.decision = Some(d);
            }
            new.steps.push(RecordsStep {
                step: match action {
                    Action::Open | Action::Review => StepKind::Review,
                    Action::Advise => StepKind::Advise,
                    Action::Decide(_) => StepKind::Decide,
                    Action::Fulfil => StepKind::Fulfil,
                },
                by: actor.username.clone(),
                at: now,
                text: body.clone(),
            });
            let mut d = Draft::new(&actor.username, t.audit, "RecordsRequest", id);
            d.details = serde_json::json!({
                "stage": new.stage, "decision": new.decision, "text": body,
            });
            let mut change = KeyChange::put(serde_json::to_vec(&new)?, d);
            if t.closes {
                release_hold(&mut change, kvs[1].as_ref(), &hold_key, actor, now)?;
            }
            Ok(KeyStep::Write(Box::new(change), new))
        })
        .await
    }

    /// `camplane records-request fulfil ID --out DIR`, first half: the step is
    /// checked (the Public Information Officer, a request released; refusals
    /// audited `records.fulfil`) and the masked copy of what it covers is
    /// planned and audited (`recordings.export`, with the request's id and
    /// its fee). The caller streams the plan, then calls
    /// [`Controller::finish_records_fulfilment`].
    pub async fn plan_records_fulfilment(
        &self,
        hub: &crate::alpr::search::Hub,
        actor: &Actor,
        id: &str,
        out_dir: &str,
    ) -> Result<ExportPlan> {
        let audit = Action::Fulfil.audit_action();
        let refuse = |error: Error| Refusal::refused(actor, audit, "RecordsRequest", id, error);
        if !valid_id(id) {
            let shown = shown(id);
            let r = match records_machine::next(&shown, Stage::New, Action::Fulfil, actor) {
                Err(r) => r,
                Ok(_) => Refusal::refused(
                    actor,
                    audit,
                    "RecordsRequest",
                    &shown,
                    Error::NotFound(format!("records request {shown}")),
                ),
            };
            return Err(self.record_refusal(r).await);
        }
        let old: Option<RecordsRequest> = self
            .store
            .get(&key(id))
            .await?
            .map(|kv| serde_json::from_slice(&kv.value))
            .transpose()?;
        let stage = old.as_ref().map_or(Stage::New, |r| r.stage);
        if let Err(r) = records_machine::next(id, stage, Action::Fulfil, actor) {
            return Err(self.record_refusal(r).await);
        }
        let Some(rr) = old else {
            return Err(Error::NotFound(format!("records request {id}")));
        };
        let (Some(camera), Some(from), Some(until)) = (rr.camera.clone(), rr.from, rr.until) else {
            return Err(self
                .record_refusal(refuse(Error::FailedPrecondition(format!(
                    "records request {id} covers no recordings: fulfil it without --out"
                ))))
                .await);
        };
        self.plan_release(
            hub,
            actor,
            &ReleaseExport {
                request: id.to_string(),
                camera,
                from,
                until,
                out_dir: out_dir.to_string(),
            },
        )
        .await
    }

    /// `records-request fulfil ID --out DIR`, second half, once the copy's
    /// signed manifest (`manifest` as sent) went out: the request is fulfilled
    /// with its fee and the manifest's SHA-256, closed, and its hold released,
    /// in one transaction audited `records.fulfil`. The step is checked again
    /// (a request closed meanwhile is refused, audited).
    pub async fn finish_records_fulfilment(
        &self,
        actor: &Actor,
        plan: &ExportPlan,
        manifest: &[u8],
    ) -> Result<RecordsRequest> {
        use sha2::{Digest, Sha256};
        let id = plan
            .records_request
            .as_deref()
            .ok_or_else(|| Error::Internal("fulfilment without its request".into()))?;
        let export = FulfilledExport {
            manifest_sha256: hex::encode(Sha256::digest(manifest)),
            audit_seq: plan.audit_seq,
            files: plan.segments.len(),
        };
        let now = self.now();
        let hold_key = StoredObject::key(Kind::LegalHold, &hold_name(id));
        self.update_keys(&[&key(id), &hold_key], |kvs| {
            let old: Option<RecordsRequest> = kvs[0]
                .as_ref()
                .map(|kv| serde_json::from_slice(&kv.value))
                .transpose()?;
            let stage = old.as_ref().map_or(Stage::New, |r| r.stage);
            let t = records_machine::next(id, stage, Action::Fulfil, actor)?;
            let Some(old) = old else {
                return Err(Error::NotFound(format!("records request {id}")).into());
            };
            let mut new = old.clone();
            new.stage = t.to;
            new.fee = plan.fee.clone();
            new.export = Some(export.clone());
            new.steps.push(RecordsStep {
                step: StepKind::Fulfil,
                by: actor.username.clone(),
                at: now,
                text: None,
            });
            let mut d = Draft::new(&actor.username, t.audit, "RecordsRequest", id);
            d.details = serde_json::json!({
                "stage": new.stage, "decision": new.decision, "camera": new.camera,
                "fee": new.fee, "manifest_sha256": export.manifest_sha256,
                "export_audit_seq": export.audit_seq, "files": export.files,
            });
            let mut change = KeyChange::put(serde_json::to_vec(&new)?, d);
            if t.closes {
                release_hold(&mut change, kvs[1].as_ref(), &hold_key, actor, now)?;
            }
            Ok(KeyStep::Write(Box::new(change), new))
        })
        .await
    }

    /// `camplane records-request list`: requests in id order after `after`, a
    /// page at a time; `open`: those not closed; `overdue`: those whose
    /// decision is past its deadline.
    pub async fn records_requests(
        &self,
        actor: &Actor,
        open: bool,
        overdue: bool,
        after: &str,
    ) -> Result<(Vec<RecordsRequest>, String)> {
        self.require(
            actor,
            Operation::ReadRecordsRequests,
            AuditAction::RecordsList,
        )
        .await?;
        let now = self.now();
        let mut all = self.all_records_requests().await?;
        all.retain(|r| {
            (after.is_empty() || r.id.as_str() > after)
                && (!open || !r.stage.is_closed())
                && (!overdue || r.overdue(now))
        });
        let next = if all.len() > PAGE {
            all.truncate(PAGE);
            all.last().map(|r| r.id.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok((all, next))
    }

    /// `camplane records-request show`.
    pub async fn records_request(&self, actor: &Actor, id: &str) -> Result<RecordsRequest> {
        self.require(
            actor,
            Operation::ReadRecordsRequests,
            AuditAction::RecordsList,
        )
        .await?;
        if !valid_id(id) {
            return Err(Error::NotFound(format!("records request {}", shown(id))));
        }
        let kv = self
            .store
            .get(&key(id))
            .await?
            .ok_or_else(|| Error::NotFound(format!("records request {id}")))?;
        Ok(serde_json::from_slice(&kv.value)?)
    }

    /// Every records request, in id order (an unreadable record is skipped and logged).
    pub async fn all_records_requests(&self) -> Result<Vec<RecordsRequest>> {
        let l = self.store.list(RECORDS).await?;
        let mut out: Vec<RecordsRequest> = l
            .kvs
            .iter()
            .filter_map(|kv| match serde_json::from_slice(&kv.value) {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::warn!(key = %kv.key, error = %e, "unreadable records request skipped");
                    None
                }
            })
            .collect();
        out.sort_by(|a: &RecordsRequest, b| a.id.cmp(&b.id));
        Ok(out)
    }
}

/// Releases the request's hold (`kv`, if placed and still in force) in the
/// closing step's transaction, named in its audit entry.
fn release_hold(
    change: &mut KeyChange,
    kv: Option<&crate::core::store::KeyValue>,
    hold_key: &str,
    actor: &Actor,
    now: Timestamp,
) -> Result<()> {
    let Some(kv) = kv else {
        return Ok(());
    };
    let mut h: StoredObject = serde_json::from_slice(&kv.value)?;
    let mut st: LegalHoldStatus = h.status_as();
    if st.released_at.is_none() {
        st.released_at = Some(now);
        st.released_by = Some(actor.username.clone());
        h.status = json(&st);
        change
            .ops
            .push(Op::Put(hold_key.to_string(), serde_json::to_vec(&h)?));
        change.draft.details["hold_released"] = serde_json::json!(h.name);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn overdue_is_only_for_requests_waiting_for_a_decision() {
        let mut r = RecordsRequest {
            id: "rr-1".into(),
            requester: "R".into(),
            describe: "d".into(),
            camera: None,
            from: None,
            until: None,
            received_at: at("2026-11-01T00:00:00Z"),
            due: at("2026-11-21T00:00:00Z"),
            opened_by: "pio".into(),
            opened_at: at("2026-11-01T00:00:00Z"),
            stage: Stage::UnderReview,
            hold: None,
            decision: None,
            steps: vec![],
            fee: None,
            export: None,
        };
        assert!(!r.overdue(at("2026-11-20T23:59:59Z")));
        assert!(r.overdue(at("2026-11-21T00:00:01Z")));
        for s in [Stage::Released, Stage::Denied, Stage::Fulfilled] {
            r.stage = s;
            assert!(!r.overdue(at("2027-01-01T00:00:00Z")), "{s:?}");
        }
    }

    #[test]
    fn ids_are_the_controllers_own_shape() {
        assert!(valid_id("rr-20261203-a1b2c3"));
        for bad in ["", "cp-1", "rr-../x", "RR-1"] {
            assert!(!valid_id(bad), "{bad}");
        }
    }
}
