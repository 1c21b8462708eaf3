//! Custom and investigative hotlists: the department's own lists, which the
//! state system's rules do not cover. Each is bound to one case
//! (`custom.investigative.{case}`), loaded with `--case`, `--purpose` and
//! `--expires` (at most [`MAX_CASE_LIST_DAYS`] days ahead on the injected
//! clock), and waits in the supervisor approvals queue like a pattern search:
//! a supervisor other than the loader approves (the load takes effect in the
//! same transaction) or rejects it with a reason. At its expiry the list stops
//! being served (agents drop it, and check the expiry on their own clock too)
//! and the `hotlist-lapse` job removes its entries. Extending is a new load
//! with a new approval: nothing else writes a list.
//!
//! Keys: the request is an [`AlprApproval`] under `approvals/alpr/ah-…` whose
//! `hotlist` names the list; the parsed entries wait under
//! `hotlist-pending/{id}` until the decision deletes them.

use crate::alpr::approval::{key as approval_key, AlprApproval, ApprovalState};
use crate::alpr::hotlist::{
    CaseBinding, HotlistInfo, ListData, ListDataRef, LoadMode, LoadOutcome, LoadRequest, DATA, INFO,
};
use crate::alpr::query_machine::{self, Action};
use crate::core::audit::Draft;
use crate::core::auth::Actor;
use crate::core::store::{Compare, Op};
use crate::core::{AuditAction, Controller, KeyChange, KeyStep, KeyWrite};
use crate::{Error, Result};
use camplane_config::hotlist::*;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Prefix of loads waiting for a decision.
pub const PENDING: &str = "hotlist-pending/";

/// A checked load, before it is written (or while it waits for approval).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannedLoad {
    /// The list it loads.
    pub list: String,
    /// Source.
    pub source: HotlistSource,
    /// Category.
    pub category: HitCategory,
    /// File name.
    pub file: String,
    /// SHA-256 of the file.
    pub sha256: String,
    /// Replace, add or remove.
    pub mode: LoadMode,
    /// Set the source's public flag.
    pub public: Option<bool>,
    /// The good rows.
    pub entries: BTreeMap<String, HotlistEntry>,
    /// The rows not loaded.
    pub bad_rows: Vec<BadRow>,
    /// Case, purpose, expiry (custom and investigative lists).
    pub case: Option<CaseBinding>,
    /// Who loaded the file.
    pub loaded_by: String,
}

/// What an approval request for a list shows the supervisor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HotlistLoadSummary {
    /// The list it loads.
    pub list: String,
    /// replace, add or remove.
    pub mode: String,
    /// File name.
    pub file: String,
    /// SHA-256 of the file.
    pub sha256: String,
    /// Good rows.
    pub entries: usize,
    /// Rows not loaded.
    pub bad_rows: usize,
    /// When the list lapses.
    pub expires: Timestamp,
}

/// An approved load's approval, written with it: the key and the revision the
/// decision was made on, the approval's new value, the pending entries' key
/// and the decision's audit entry.
#[derive(Debug, Clone)]
pub struct ApprovedLoad {
    /// The approval's id.
    pub id: String,
    /// Its key.
    pub key: String,
    /// The revision it was decided on (another decision meanwhile loses).
    pub rev: i64,
    /// Its new value.
    pub value: Vec<u8>,
    /// `hotlist-pending/{id}`.
    pub pending_key: String,
    /// The decision's audit entry (the load's details are added).
    pub draft: Draft,
}

pub(crate) fn pending_key(id: &str) -> String {
    format!("{PENDING}{id}")
}

fn text_flag(flag: &str, v: &str, max: usize) -> Result<String> {
    let v = v.trim();
    if v.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "{flag}: a custom or investigative list needs {flag}"
        )));
    }
    if v.chars().count() > max {
        return Err(Error::InvalidArgument(format!(
            "{flag}: {} characters; at most {max}",
            v.chars().count()
        )));
    }
    if let Some(c) = v.chars().find(|c| c.is_control()) {
        return Err(Error::InvalidArgument(format!(
            "{flag}: a control character (U+{:04X}); NUL and control characters are refused",
            u32::from(c)
        )));
    }
    Ok(v.to_string())
}

impl Controller {
    /// The case binding a load must (custom, investigative) or must not (the
    /// state feed) carry, checked: each missing or bad flag is named.
    pub(crate) fn check_case_binding(
        &self,
        req: &LoadRequest,
        now: Timestamp,
    ) -> Result<Option<CaseBinding>> {
        if !needs_case(req.source, req.category) {
            let given: Vec<&str> = [
                ("--case", &req.case_number),
                ("--purpose", &req.purpose),
                ("--expires", &req.expires),
            ]
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(f, _)| f)
            .collect();
            if !given.is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "{}: {} {}; only custom and investigative lists are bound to a case",
                    list_name(req.source, req.category),
                    given.join(", "),
                    if given.len() == 1 { "is" } else { "are" },
                )));
            }
            return Ok(None);
        }
        let case = req.case_number.trim();
        check_case(case).map_err(Error::InvalidArgument)?;
        self.check_case_number(case, "--case: a custom or investigative list")?;
        let purpose = text_flag("--purpose", &req.purpose, MAX_PURPOSE)?;
        if let Some(p) = crate::alpr::search::names_prohibited(&purpose) {
            return Err(Error::InvalidArgument(format!(
                "--purpose names {p}, a purpose the policy prohibits"
            )));
        }
        if req.expires.trim().is_empty() {
            return Err(Error::InvalidArgument(format!(
                "--expires: a custom or investigative list needs --expires (at most {MAX_CASE_LIST_DAYS} days ahead)"
            )));
        }
        let expires = parse_expiry(req.expires.trim())
            .map_err(|e| Error::InvalidArgument(format!("--expires: {e}")))?;
        let latest = now
            .checked_add(jiff::SignedDuration::from_hours(24 * MAX_CASE_LIST_DAYS))
            .map_err(|e| Error::Internal(e.to_string()))?;
        if expires <= now {
            return Err(Error::InvalidArgument(format!(
                "--expires {expires}: already past (now {now})"
            )));
        }
        if expires > latest {
            return Err(Error::InvalidArgument(format!(
                "--expires {expires}: more than {MAX_CASE_LIST_DAYS} days ahead (at most {latest}); extend later with a new load"
            )));
        }
        Ok(Some(CaseBinding {
            case_number: case.to_string(),
            purpose,
            expires,
        }))
    }

    /// Stores a case-bound load to wait for a supervisor: the approval and the
    /// parsed entries in one transaction, audited `hotlist.load.pending`.
    pub(crate) async fn request_case_list(
        &self,
        actor: &Actor,
        load: PlannedLoad,
    ) -> Result<LoadOutcome> {
        let Some(case) = load.case.clone() else {
            return Err(Error::Internal("a case list without its case".into()));
        };
        let now = self.now();
        let id = format!(
            "ah-{}-{}",
            now.as_millisecond(),
            hex::encode(rand::random::<[u8; 4]>())
        );
        let summary = HotlistLoadSummary {
            list: load.list.clone(),
            mode: load.mode.as_str().into(),
            file: load.file.clone(),
            sha256: load.sha256.clone(),
            entries: load.entries.len(),
            bad_rows: load.bad_rows.len(),
            expires: case.expires,
        };
        let a = AlprApproval {
            id: id.clone(),
            state: ApprovalState::Pending,
            requested_by: actor.username.clone(),
            requested_at: now,
            plate: String::new(),
            case_number: case.case_number.clone(),
            purpose: case.purpose.clone(),
            from: now,
            until: case.expires,
            sites: vec![],
            for_agency: None,
            reasons: vec![format!(
                "{} list {}: {} entries ({}) until {}",
                if load.category == HitCategory::Investigative {
                    "investigative"
                } else {
                    "custom"
                },
                load.list,
                load.entries.len(),
                load.mode.as_str(),
                case.expires
            )],
            hotlist: Some(summary.clone()),
            ..AlprApproval::default()
        };
        let mut d = Draft::new(
            &actor.username,
            AuditAction::HotlistLoadPending,
            "AlprApproval",
            &id,
        );
        d.result = "pending: needs a supervisor's approval".into();
        d.details = serde_json::json!({
            "case_number": case.case_number, "purpose": case.purpose, "expires": case.expires,
            "list": load.list, "file": load.file, "sha256": load.sha256,
            "mode": load.mode.as_str(), "entries": load.entries.len(),
            "bad_rows": load.bad_rows.len(), "reasons": a.reasons,
        });
        d.after = Some(serde_json::to_value(&a)?);
        let (akey, pkey) = (approval_key(&id), pending_key(&id));
        let done = self
            .audit
            .commit(
                vec![
                    Compare::ModRevision(akey.clone(), 0),
                    Compare::ModRevision(pkey.clone(), 0),
                ],
                vec![
                    Op::Put(pkey, serde_json::to_vec(&load)?),
                    Op::Put(akey, serde_json::to_vec(&a)?),
                ],
                d,
            )
            .await?;
        if done.is_none() {
            return Err(Error::Conflict("approval id collision; try again".into()));
        }
        Ok(LoadOutcome {
            list: load.list,
            version: 0,
            entries: load.entries.len(),
            upserted: 0,
            removed: 0,
            bad_rows: load.bad_rows,
            // Unchanged until the approval: what the public log names now.
            public: self
                .hotlist_sources()
                .iter()
                .find(|s| s.source == load.source)
                .is_none_or(|s| s.public),
            pending_approval: Some(id),
        })
    }

    /// A supervisor's decision on a case-bound load (the rule:
    /// [`query_machine::next`]). Approving writes the list's next version in
    /// the same transaction as the decision; rejecting drops the entries.
    pub(crate) async fn decide_case_list(
        &self,
        actor: &Actor,
        id: &str,
        action: Action,
        reason: &str,
    ) -> Result<AlprApproval> {
        let akey = approval_key(id);
        let kv = self
            .store
            .get(&akey)
            .await?
            .ok_or_else(|| Error::NotFound(format!("ALPR approval {id}")))?;
        let old: AlprApproval = serde_json::from_slice(&kv.value)?;
        let t = query_machine::next(&old, action, actor).map_err(|r| r.error)?;
        let now = self.now();
        let mut new = old.clone();
        new.state = t.to;
        new.decided_by = Some(actor.username.clone());
        new.decided_at = Some(now);
        new.decision_reason = Some(reason.to_string());
        let mut d = Draft::new(&actor.username, t.audit, "AlprApproval", id);
        d.before = Some(serde_json::to_value(&old)?);
        d.after = Some(serde_json::to_value(&new)?);
        d.details = serde_json::json!({
            "reason": reason, "requested_by": old.requested_by,
            "case_number": old.case_number, "purpose": old.purpose,
            "list": old.hotlist.as_ref().map(|h| &h.list),
            "expires": old.hotlist.as_ref().map(|h| h.expires),
        });
        let pkey = pending_key(id);
        if action == Action::Reject {
            let done = self
                .audit
                .commit(
                    vec![Compare::ModRevision(akey.clone(), kv.mod_revision)],
                    vec![Op::Put(akey, serde_json::to_vec(&new)?), Op::Delete(pkey)],
                    d,
                )
                .await?;
            return match done {
                Some(_) => Ok(new),
                None => Err(Error::FailedPrecondition(format!(
                    "{id} changed while it was decided; look again"
                ))),
            };
        }
        let load: PlannedLoad = match self.store.get(&pkey).await? {
            Some(p) => serde_json::from_slice(&p.value)?,
            None => {
                return Err(Error::FailedPrecondition(format!(
                    "{id}: its entries are gone; load the list again"
                )))
            }
        };
        if let Some(c) = load.case.as_ref().filter(|c| c.expires <= now) {
            return Err(Error::FailedPrecondition(format!(
                "{id}: its expiry {} has passed; load the list again with a new --expires",
                c.expires
            )));
        }
        let approved = ApprovedLoad {
            id: id.to_string(),
            key: akey,
            rev: kv.mod_revision,
            value: serde_json::to_vec(&new)?,
            pending_key: pkey,
            draft: d,
        };
        self.apply_load(actor, &load, Some(approved)).await?;
        Ok(new)
    }

    /// The `hotlist-lapse` job: each case-bound list past its expiry (or with
    /// no case at all, from before lists were bound) gets a last version with
    /// no entries, audited `hotlist.lapse`. Agents already stopped matching it
    /// at the expiry; this keeps no plate of it at the controller.
    pub async fn lapse_hotlists(&self) -> Result<usize> {
        let now = self.now();
        let mut lapsed = 0;
        for info in self.all_hotlists() {
            if info.live(now) || info.lapsed_at.is_some() {
                continue;
            }
            let (ikey, dkey) = (
                format!("{INFO}{}", info.list),
                format!("{DATA}{}", info.list),
            );
            let done = self
                .update_keys(&[ikey.as_str(), dkey.as_str()], |kvs| {
                    let Some(ikv) = &kvs[0] else {
                        return Ok(KeyStep::Keep(false));
                    };
                    let mut i: HotlistInfo = serde_json::from_slice(&ikv.value)?;
                    // An approved extension may have landed meanwhile.
                    if i.live(now) || i.lapsed_at.is_some() {
                        return Ok(KeyStep::Keep(false));
                    }
                    let data: ListData = match &kvs[1] {
                        Some(kv) => serde_json::from_slice(&kv.value)?,
                        None => ListData {
                            version: i.version,
                            entries: BTreeMap::new(),
                        },
                    };
                    let empty = BTreeMap::new();
                    let delta = HotlistDelta::between(&data.entries, &empty);
                    let version = data.version.max(i.version) + 1;
                    i.version = version;
                    i.entries = 0;
                    i.lapsed_at = Some(now);
                    let mut d = Draft::new("system", AuditAction::HotlistLapse, "Hotlist", &i.list);
                    d.details = serde_json::json!({
                        "case_number": i.case.as_ref().map(|c| &c.case_number),
                        "expires": i.expires(), "version": version,
                        "removed": delta.remove.len(),
                    });
                    let mut ops = vec![
                        Op::Put(
                            dkey.clone(),
                            serde_json::to_vec(&ListDataRef {
                                version,
                                entries: &empty,
                            })?,
                        ),
                        Op::Put(
                            format!("{}{}/{version:012}", crate::alpr::hotlist::DELTAS, i.list),
                            serde_json::to_vec(&delta)?,
                        ),
                    ];
                    if version > crate::alpr::hotlist::KEEP_DELTAS {
                        ops.push(Op::Delete(format!(
                            "{}{}/{:012}",
                            crate::alpr::hotlist::DELTAS,
                            i.list,
                            version - crate::alpr::hotlist::KEEP_DELTAS
                        )));
                    }
                    let change = KeyChange {
                        value: KeyWrite::Put(serde_json::to_vec(&i)?),
                        draft: d,
                        ops,
                        staged: vec![],
                    };
                    Ok(KeyStep::Write(Box::new(change), true))
                })
                .await?;
            if done {
                tracing::info!(list = %info.list, "hotlist lapsed at its expiry");
                lapsed += 1;
            }
        }
        Ok(lapsed)
    }
}
