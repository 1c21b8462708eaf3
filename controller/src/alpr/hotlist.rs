//! Hotlists at the controller: loads (one list per source and category, each
//! load a new version), the deltas agents receive, the per-source public flag
//! the public log reads, and the alerts agents raise when a read matches.
//!
//! Keys:
//! - `meta/hotlists/{list}`: [`HotlistInfo`] (cached, so agent sessions wake on a new version)
//! - `meta/hotlist-sources/{SOURCE}`: [`SourceInfo`] (public or not)
//! - `hotlist-data/{list}`: the whole list at its latest version
//! - `hotlist-delta/{list}/{version:012}`: the change that made that version
//!   (the last [`KEEP_DELTAS`] are kept; an agent further behind gets the whole list)
//! - `alerts/{received_ms:013}-{agent}-{key}`: [`Alert`], written in the same
//!   transaction as the agent's report, so a resent report never makes a second alert.
//!
//! Custom and investigative lists are bound to a case (`alpr/case_list.rs`):
//! one list per case, loaded only through a supervisor's approval, served
//! until its expiry and then lapsed.

pub use crate::alpr::case_list::{ApprovedLoad, PlannedLoad};
use crate::core::audit::Draft;
use crate::core::auth::{Actor, Operation};
use crate::core::store::{Op, WatchEvent};
use crate::core::AuditAction;
use crate::core::Controller;
use crate::core::{KeyChange, KeyStep, KeyWrite};
use crate::{Error, Result};
use camplane_config::hotlist::*;
use futures::StreamExt;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

/// How often an open alert stream checks again that its caller may read
/// alerts (see [`Controller::watch_alerts`]); before each new alert too.
pub const ALERTS_RECHECK: std::time::Duration = std::time::Duration::from_secs(15);

/// Prefix of list descriptions.
pub const INFO: &str = "meta/hotlists/";
/// Prefix of source settings.
pub const SOURCES: &str = "meta/hotlist-sources/";
/// Prefix of whole lists.
pub const DATA: &str = "hotlist-data/";
/// Prefix of deltas.
pub const DELTAS: &str = "hotlist-delta/";
/// Prefix of alerts.
pub const ALERTS: &str = "alerts/";
/// Deltas kept per list.
pub const KEEP_DELTAS: u64 = 32;
/// Largest hotlist file accepted (bytes): the wire limit both ends use.
pub const MAX_FILE: usize = camplane_proto::limits::HOTLIST_MAX_FILE;

/// A list's current version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HotlistInfo {
    /// List name.
    pub list: String,
    /// Source.
    pub source: HotlistSource,
    /// Category.
    pub category: HitCategory,
    /// Current version (1 after the first load).
    pub version: u64,
    /// Entries in it.
    pub entries: usize,
    /// Who loaded the current version, and when.
    pub loaded_by: String,
    /// When.
    pub loaded_at: Timestamp,
    /// When its first version was loaded (the list has been compared with reads since).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_loaded_at: Option<Timestamp>,
    /// The loaded file's name and SHA-256.
    pub file: String,
    /// SHA-256 of the file's bytes.
    pub sha256: String,
    /// A custom or investigative list's case, purpose and expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<CaseBinding>,
    /// The approval its current version was loaded through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
    /// The supervisor who approved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// When it lapsed (its entries removed); a new approved load revives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lapsed_at: Option<Timestamp>,
}

impl HotlistInfo {
    /// Whether it is served (sent to agents, matched) at `now`: a case-bound
    /// list only with its case and before its expiry; one from before lists
    /// were bound (no case) is not served at all.
    pub fn live(&self, now: Timestamp) -> bool {
        if self.lapsed_at.is_some() {
            return false;
        }
        if !needs_case(self.source, self.category) {
            return true;
        }
        self.case.as_ref().is_some_and(|c| c.expires > now)
    }

    /// The list's expiry as agents receive it.
    pub fn expires(&self) -> Option<Timestamp> {
        self.case.as_ref().map(|c| c.expires)
    }
}

/// What binds a custom or investigative list: the case it serves, why, and
/// when it lapses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseBinding {
    /// Case number.
    pub case_number: String,
    /// Why the list is kept.
    pub purpose: String,
    /// When it lapses (at most 30 days after the load).
    pub expires: Timestamp,
}

/// A source's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// Source.
    pub source: HotlistSource,
    /// Named in the public log.
    pub public: bool,
    /// Who set it.
    pub set_by: String,
    /// When.
    pub set_at: Timestamp,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ListData {
    pub(crate) version: u64,
    pub(crate) entries: BTreeMap<String, HotlistEntry>,
}

/// [`ListData`] as written (borrowing the entries).
#[derive(Serialize)]
pub(crate) struct ListDataRef<'a> {
    pub(crate) version: u64,
    pub(crate) entries: &'a BTreeMap<String, HotlistEntry>,
}

/// How a load combines with the current list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadMode {
    /// The file is the whole list (NCIC and state extracts).
    #[default]
    Replace,
    /// Add or update the file's entries.
    Add,
    /// Remove the file's plates.
    Remove,
}

impl LoadMode {
    /// The name users type.
    pub fn as_str(self) -> &'static str {
        match self {
            LoadMode::Replace => "replace",
            LoadMode::Add => "add",
            LoadMode::Remove => "remove",
        }
    }

    /// Parses `replace`, `add`, `remove`.
    pub fn parse(s: &str) -> Option<LoadMode> {
        match s {
            "" | "replace" => Some(LoadMode::Replace),
            "add" => Some(LoadMode::Add),
            "remove" => Some(LoadMode::Remove),
            _ => None,
        }
    }
}

/// One load.
#[derive(Debug, Clone)]
pub struct LoadRequest {
    /// Source.
    pub source: HotlistSource,
    /// Category.
    pub category: HitCategory,
    /// File name (for the audit log).
    pub file: String,
    /// The CSV bytes.
    pub csv: Vec<u8>,
    /// Where the fields are.
    pub columns: Columns,
    /// Replace, add or remove.
    pub mode: LoadMode,
    /// Set the source's public flag.
    pub public: Option<bool>,
    /// `--case` (custom and investigative lists; empty: not given).
    pub case_number: String,
    /// `--purpose` (the same).
    pub purpose: String,
    /// `--expires`: RFC 3339 or a date (the same).
    pub expires: String,
}

/// What a load did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadOutcome {
    /// List name.
    pub list: String,
    /// Its version now.
    pub version: u64,
    /// Entries in it now.
    pub entries: usize,
    /// Entries added or changed by this load.
    pub upserted: usize,
    /// Entries removed by this load.
    pub removed: usize,
    /// Rows not loaded.
    pub bad_rows: Vec<BadRow>,
    /// The source is named in the public log.
    pub public: bool,
    /// The load waits for a supervisor's approval under this id (nothing changed yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_approval: Option<String>,
}

/// An alert: a read that matched a hotlist, as the controller keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// `{received_ms}-{agent}-{report key}`.
    pub id: String,
    /// The agent that raised it.
    pub agent: String,
    /// When the controller received it.
    pub received_at: Timestamp,
    /// `unverified` until an operator records the visual and state-system checks.
    pub status: String,
    /// What the agent saw.
    #[serde(flatten)]
    pub report: AlertReport,
    /// Verification, rejection and action steps, oldest first (governance).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<crate::alpr::alert_review::AlertStep>,
    /// The case number recorded when action was taken on the alert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_number: Option<String>,
}

fn info_key(list: &str) -> String {
    format!("{INFO}{list}")
}

fn delta_key(list: &str, v: u64) -> String {
    format!("{DELTAS}{list}/{v:012}")
}

impl Controller {
    /// The lists served now (sent to agents, named on the portal): every
    /// state-feed list, and each case-bound list until its expiry.
    pub fn hotlists(&self) -> Vec<HotlistInfo> {
        let now = self.now();
        self.all_hotlists()
            .into_iter()
            .filter(|h| h.live(now))
            .collect()
    }

    /// Every list ever loaded, lapsed ones included (the public log's record
    /// of the sources reads were compared with, `hotlist list`).
    pub fn all_hotlists(&self) -> Vec<HotlistInfo> {
        self.cache
            .list(INFO)
            .iter()
            .filter_map(|kv| serde_json::from_slice(&kv.value).ok())
            .collect()
    }

    /// Every source's settings (sources never set are public).
    pub fn hotlist_sources(&self) -> Vec<SourceInfo> {
        HotlistSource::ALL
            .iter()
            .map(|s| {
                self.cache
                    .get(&format!("{SOURCES}{}", s.as_str()))
                    .and_then(|kv| serde_json::from_slice(&kv.value).ok())
                    .unwrap_or(SourceInfo {
                        source: *s,
                        public: true,
                        set_by: String::new(),
                        set_at: Timestamp::UNIX_EPOCH,
                    })
            })
            .collect()
    }

    /// Lists (lapsed ones with `lapsed_at`) and sources, for `camplane hotlist list`.
    pub async fn list_hotlists(
        &self,
        actor: &Actor,
    ) -> Result<(Vec<HotlistInfo>, Vec<SourceInfo>)> {
        self.require(actor, Operation::ReadHotlists, AuditAction::HotlistList)
            .await?;
        Ok((self.all_hotlists(), self.hotlist_sources()))
    }

    /// Loads a hotlist file. Bad rows are reported and the good ones loaded; a
    /// file with no good row changes nothing and is refused. A custom or
    /// investigative list is not loaded here: it waits for a supervisor's
    /// approval (`alpr/case_list.rs`). Refusals are audited.
    pub async fn load_hotlist(&self, actor: &Actor, req: LoadRequest) -> Result<LoadOutcome> {
        // The file is state-system (NCIC, DOT) or case data: for the trained
        // and certified only.
        self.require_qualified(
            actor,
            Operation::ManageHotlists,
            AuditAction::HotlistLoad,
            "Hotlist",
        )
        .await?;
        let name = list_name(req.source, req.category);
        match self.try_load(actor, req).await {
            Ok(o) => Ok(o),
            Err(e @ (Error::InvalidArgument(_) | Error::FailedPrecondition(_))) => {
                Err(self.refused_load(actor, &name, e).await)
            }
            Err(e) => Err(e),
        }
    }

    /// Audits a refused load of `list` (`hotlist.load`, `refused: ...`); the
    /// error to answer with (the audit's own, if it could not be written).
    pub(crate) async fn refused_load(&self, actor: &Actor, list: &str, e: Error) -> Error {
        let mut d = Draft::new(&actor.username, AuditAction::HotlistLoad, "Hotlist", list);
        d.result = format!("refused: {e}");
        match self.audit.record(d).await {
            Ok(_) => e,
            Err(ae) => ae,
        }
    }

    async fn try_load(&self, actor: &Actor, req: LoadRequest) -> Result<LoadOutcome> {
        let limits = &self.config.hotlists;
        let max_bytes = limits.max_file_bytes.min(MAX_FILE as u64);
        if req.csv.len() as u64 > max_bytes {
            return Err(Error::InvalidArgument(format!(
                "{}: {} bytes; at most {max_bytes} (hotlists.max_file_bytes)",
                req.file,
                req.csv.len()
            )));
        }
        if let Some(c) = req.file.chars().find(|c| c.is_control()) {
            return Err(Error::InvalidArgument(format!(
                "the file name has a control character (U+{:04X})",
                u32::from(c)
            )));
        }
        let now = self.now();
        if !needs_case(req.source, req.category) && req.mode != LoadMode::Replace {
            // A state list is the state system's extract, loaded whole: a plate
            // added by hand to it would match as NCIC's without a case, an
            // approval or an expiry (the department's own plates go on a
            // custom or investigative list, which has all three).
            return Err(Error::InvalidArgument(format!(
                "{}: a {} list is loaded whole from the state system's file (--mode replace); plates of the department's own go on a custom or investigative list, bound to a case",
                req.file,
                req.source.as_str()
            )));
        }
        let binding = self.check_case_binding(&req, now)?;
        let sha = hex::encode(Sha256::digest(&req.csv));
        let text = String::from_utf8(req.csv).map_err(|e| {
            Error::InvalidArgument(format!("{}: not UTF-8 text ({})", req.file, e.utf8_error()))
        })?;
        let max_rows = usize::try_from(limits.max_entries).unwrap_or(usize::MAX);
        // A large file parses for a while: on a blocking thread, looking at a
        // token cancelled when this call is dropped (the client went away) or
        // the server shuts down. (The API counts the cancelled load.)
        let stop = self.shutdown.child_token();
        let _dropped_with_the_call = stop.clone().drop_guard();
        let columns = req.columns.clone();
        let parsed = tokio::task::spawn_blocking(move || {
            parse_csv_stoppable(&text, &columns, now, max_rows, &|| stop.is_cancelled())
        })
        .await
        .map_err(|e| Error::Internal(format!("hotlist parse: {e}")))?
        .map_err(|e| {
            let key = if e.starts_with("more than ") {
                " (hotlists.max_entries)"
            } else {
                ""
            };
            Error::InvalidArgument(format!("{}: {e}{key}", req.file))
        })?
        .ok_or_else(|| Error::Cancelled(format!("{}: the load was cancelled", req.file)))?;
        if parsed.entries.is_empty() {
            let shown: Vec<String> = parsed
                .bad
                .iter()
                .take(20)
                .map(|b| format!("line {}: {}", b.line, b.reason))
                .collect();
            return Err(Error::InvalidArgument(format!(
                "{}: no row could be loaded; nothing changed{}{}",
                req.file,
                if shown.is_empty() { "" } else { ":\n  " },
                shown.join("\n  ")
            )));
        }
        let load = PlannedLoad {
            list: match &binding {
                Some(b) => case_list_name(req.source, req.category, &b.case_number),
                None => list_name(req.source, req.category),
            },
            source: req.source,
            category: req.category,
            file: req.file,
            sha256: sha,
            mode: req.mode,
            public: req.public,
            entries: parsed.entries,
            bad_rows: parsed.bad,
            case: binding,
            loaded_by: actor.username.clone(),
        };
        if load.case.is_some() {
            return self.request_case_list(actor, load).await;
        }
        self.apply_load(actor, &load, None).await
    }

    /// Writes `load` as the list's next version (or nothing, when it changes
    /// nothing), audited `hotlist.load`. `approval`: the approved request it
    /// comes from (its key, the approval's new value, the pending entries' key
    /// and the decision's audit entry), written in the same transaction.
    pub(crate) async fn apply_load(
        &self,
        actor: &Actor,
        load: &PlannedLoad,
        approval: Option<ApprovedLoad>,
    ) -> Result<LoadOutcome> {
        let list = load.list.clone();
        let now = self.now();
        let source_key = format!("{SOURCES}{}", load.source.as_str());
        let cur_public = self
            .hotlist_sources()
            .iter()
            .find(|s| s.source == load.source)
            .is_none_or(|s| s.public);
        let public = load.public.unwrap_or(cur_public);
        let (ikey, dkey) = (info_key(&list), format!("{DATA}{list}"));
        let mut keys = vec![ikey.as_str(), dkey.as_str()];
        if let Some(a) = &approval {
            keys.push(&a.key);
            keys.push(&a.pending_key);
        }
        // The pointer and the entries are read, decided on and compared together:
        // a load that lands meanwhile makes this one start again from it.
        self.update_keys(&keys, |kvs| {
            if let Some(a) = &approval {
                if kvs[2].as_ref().map(|kv| kv.mod_revision) != Some(a.rev) || kvs[3].is_none() {
                    return Err(Error::FailedPrecondition(format!(
                        "{} changed while it was decided; look again",
                        a.id
                    ))
                    .into());
                }
            }
            let old_info: Option<HotlistInfo> = match &kvs[0] {
                Some(kv) => Some(serde_json::from_slice(&kv.value)?),
                None => None,
            };
            let data: ListData = match &kvs[1] {
                Some(kv) => serde_json::from_slice(&kv.value)?,
                None => ListData {
                    version: 0,
                    entries: BTreeMap::new(),
                },
            };
            let next = match load.mode {
                LoadMode::Replace => load.entries.clone(),
                LoadMode::Add => {
                    let mut next = data.entries.clone();
                    next.extend(load.entries.clone());
                    next
                }
                LoadMode::Remove => {
                    let mut next = data.entries.clone();
                    for k in load.entries.keys() {
                        next.remove(k);
                    }
                    next
                }
            };
            let delta = HotlistDelta::between(&data.entries, &next);
            let mut ops = Vec::new();
            if load.public.is_some_and(|p| p != cur_public) {
                ops.push(Op::Put(
                    source_key.clone(),
                    serde_json::to_vec(&SourceInfo {
                        source: load.source,
                        public,
                        set_by: actor.username.clone(),
                        set_at: now,
                    })?,
                ));
            }
            // A new case binding (an extension) or a lapsed list revived is a
            // new version even with the same entries: agents learn the expiry
            // with the list.
            let rebound = load.case.is_some()
                && old_info
                    .as_ref()
                    .is_none_or(|i| i.case != load.case || i.lapsed_at.is_some());
            let version = if delta.is_empty() && data.version > 0 && !rebound {
                data.version
            } else {
                data.version + 1
            };
            if version != data.version {
                let first_loaded_at = old_info
                    .as_ref()
                    .map(|h| h.first_loaded_at.unwrap_or(h.loaded_at))
                    .or(Some(now));
                let info = HotlistInfo {
                    list: list.clone(),
                    source: load.source,
                    category: load.category,
                    version,
                    entries: next.len(),
                    loaded_by: load.loaded_by.clone(),
                    loaded_at: now,
                    first_loaded_at,
                    file: load.file.clone(),
                    sha256: load.sha256.clone(),
                    case: load.case.clone(),
                    approval: approval.as_ref().map(|a| a.id.clone()),
                    approved_by: approval.as_ref().map(|_| actor.username.clone()),
                    lapsed_at: None,
                };
                ops.push(Op::Put(ikey.clone(), serde_json::to_vec(&info)?));
                ops.push(Op::Put(
                    dkey.clone(),
                    serde_json::to_vec(&ListDataRef {
                        version,
                        entries: &next,
                    })?,
                ));
                ops.push(Op::Put(
                    delta_key(&list, version),
                    serde_json::to_vec(&delta)?,
                ));
                if version > KEEP_DELTAS {
                    ops.push(Op::Delete(delta_key(&list, version - KEEP_DELTAS)));
                }
            }
            let details = serde_json::json!({
                "file": load.file, "sha256": load.sha256, "mode": load.mode.as_str(),
                "version": version, "entries": next.len(), "upserted": delta.upsert.len(),
                "removed": delta.remove.len(), "bad_rows": load.bad_rows.len(), "public": public,
            });
            let draft = match &approval {
                Some(a) => {
                    ops.push(Op::Put(a.key.clone(), a.value.clone()));
                    ops.push(Op::Delete(a.pending_key.clone()));
                    let mut d = a.draft.clone();
                    if let serde_json::Value::Object(m) = &mut d.details {
                        m.insert("load".into(), details);
                    }
                    d
                }
                None => {
                    let mut d =
                        Draft::new(&actor.username, AuditAction::HotlistLoad, "Hotlist", &list);
                    d.details = details;
                    d
                }
            };
            let outcome = LoadOutcome {
                list: list.clone(),
                version,
                entries: next.len(),
                upserted: delta.upsert.len(),
                removed: delta.remove.len(),
                bad_rows: load.bad_rows.clone(),
                public,
                pending_approval: None,
            };
            let change = KeyChange {
                value: KeyWrite::Leave,
                draft,
                ops,
                staged: vec![],
            };
            Ok(KeyStep::Write(Box::new(change), outcome))
        })
        .await
        .map_err(|e| match e {
            Error::Conflict(_) => {
                Error::Conflict(format!("hotlist {list}: other loads kept winning; retry"))
            }
            e => e,
        })
    }

    /// What brings an agent holding `have` (0: nothing) of `info.list` to its
    /// current version: the composed deltas when all are kept, else the whole list.
    pub async fn hotlist_update(&self, info: &HotlistInfo, have: u64) -> Result<HotlistUpdate> {
        if have > 0 && have < info.version && info.version - have <= KEEP_DELTAS {
            let l = self.store.list(&format!("{DELTAS}{}/", info.list)).await?;
            let mut by_v: BTreeMap<u64, HotlistDelta> = BTreeMap::new();
            for kv in l.kvs {
                let v = kv
                    .key
                    .rsplit('/')
                    .next()
                    .and_then(|s| s.parse::<u64>().ok());
                if let Some(v) = v.filter(|v| *v > have && *v <= info.version) {
                    by_v.insert(v, serde_json::from_slice(&kv.value)?);
                }
            }
            if by_v.len() as u64 == info.version - have {
                // Compose: later changes win for a key.
                let mut up: BTreeMap<String, HotlistEntry> = BTreeMap::new();
                let mut rm: std::collections::BTreeSet<String> = Default::default();
                for d in by_v.values() {
                    for k in &d.remove {
                        up.remove(k);
                        rm.insert(k.clone());
                    }
                    for e in &d.upsert {
                        rm.remove(&e.key());
                        up.insert(e.key(), e.clone());
                    }
                }
                return Ok(HotlistUpdate {
                    list: info.list.clone(),
                    source: info.source,
                    category: info.category,
                    base_version: have,
                    version: info.version,
                    deleted: false,
                    delta: HotlistDelta {
                        upsert: up.into_values().collect(),
                        remove: rm.into_iter().collect(),
                    },
                    expires: info.expires(),
                });
            }
        }
        let data: ListData = match self.store.get(&format!("{DATA}{}", info.list)).await? {
            Some(kv) => serde_json::from_slice(&kv.value)?,
            None => return Err(Error::NotFound(format!("hotlist data {}", info.list))),
        };
        Ok(HotlistUpdate {
            list: info.list.clone(),
            source: info.source,
            category: info.category,
            base_version: 0,
            version: data.version,
            deleted: false,
            delta: HotlistDelta {
                upsert: data.entries.into_values().collect(),
                remove: vec![],
            },
            expires: info.expires(),
        })
    }

    /// One page of the alerts received at or after `since`, oldest first: those
    /// with ids after `after` (all when empty), about
    /// [`REPLY_PAGE_BYTES`](camplane_proto::limits::REPLY_PAGE_BYTES) of them,
    /// and the id to ask after for the next page (empty: none left). Each page
    /// is audited with what it gave.
    pub async fn alerts(
        &self,
        actor: &Actor,
        since: Option<Timestamp>,
        after: &str,
    ) -> Result<(Vec<Alert>, String)> {
        self.require_alert_reader(actor, AuditAction::AlertsList)
            .await?;
        let l = self.store.list(ALERTS).await?;
        // Keys are `alerts/{id}`, listed in key order: the id is the page key.
        let listed = l.kvs.iter().filter_map(|kv| {
            let id = kv.key.strip_prefix(ALERTS)?;
            let a = serde_json::from_slice::<Alert>(&kv.value).ok()?;
            since
                .is_none_or(|s| a.received_at >= s)
                .then(|| (id.to_string(), kv.value.len(), a))
        });
        let (page, next) = crate::core::page::page(
            listed,
            after,
            |(id, _, _)| id.as_str(),
            // The reply carries the alert's JSON and its id (as the name).
            |(id, len, _)| id.len() + len + "Alert".len(),
            camplane_proto::limits::REPLY_PAGE_BYTES,
        );
        let out: Vec<Alert> = page.into_iter().map(|(_, _, a)| a).collect();
        let mut d = Draft::new(&actor.username, AuditAction::AlertsList, "Alert", "");
        d.details = serde_json::json!({ "since": since, "alerts": out.len() });
        if !after.is_empty() {
            d.details["after"] = after.into();
        }
        self.audit.record(d).await?;
        Ok((out, next))
    }

    /// Alerts are ALPR data: reading them takes the role and, like a search,
    /// training, a valid certification and the current acknowledgement. A
    /// refusal is audited under `what`.
    async fn require_alert_reader(&self, actor: &Actor, what: AuditAction) -> Result<()> {
        self.require_qualified(actor, Operation::ReceiveAlerts, what, "Alert")
            .await
    }

    /// One alert given to `watcher` through a watch: audited `alerts.watch`
    /// with the alert (its name, the read it came from, is sealed and erased
    /// with the plate data), its list and camera, before it is sent.
    async fn audit_delivery(&self, watcher: &str, a: &Alert) -> Result<()> {
        let mut d = Draft::new(watcher, AuditAction::AlertsWatch, "Alert", &a.id);
        d.result = "delivered".into();
        d.details = serde_json::json!({ "list": a.report.list, "camera": a.report.camera });
        self.audit.record(d).await.map(|_| ())
    }

    /// Streams alerts: those received since `since` (if given), then each new
    /// one as it arrives, until the receiver is dropped. The right is checked
    /// again with the caller's session `token` before each new alert and every
    /// [`ALERTS_RECHECK`]: signed out, disabled, the role revoked, the
    /// certification lapsed or the policy unacknowledged, and the stream ends
    /// with the refusal (audited as at its start) before another plate leaves.
    pub async fn watch_alerts(
        self: &Arc<Self>,
        actor: &Actor,
        token: &str,
        since: Option<Timestamp>,
    ) -> Result<tokio::sync::mpsc::Receiver<Result<Alert>>> {
        self.require_alert_reader(actor, AuditAction::AlertsWatch)
            .await?;
        let mut d = Draft::new(&actor.username, AuditAction::AlertsWatch, "Alert", "");
        d.details = serde_json::json!({ "since": since });
        self.audit.record(d).await?;
        let l = self.store.list(ALERTS).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let watcher = actor.username.clone();
        // Those since `since` go first, from the task below: sent here, more
        // than the channel holds would wait for a receiver not returned yet.
        let backlog: Vec<Alert> = l
            .kvs
            .iter()
            .filter_map(|kv| serde_json::from_slice::<Alert>(&kv.value).ok())
            .filter(|a| since.is_some_and(|s| a.received_at >= s))
            .collect();
        let mut w = self.store.watch(ALERTS, l.revision + 1).await?;
        // A watch ends with the server too, so a shutdown does not wait on it.
        let shutdown = self.shutdown.clone();
        let (ctl, token) = (self.clone(), token.to_string());
        let mut tick =
            tokio::time::interval_at(tokio::time::Instant::now() + ALERTS_RECHECK, ALERTS_RECHECK);
        tokio::spawn(async move {
            // Whether the caller may still read alerts; a refusal ends the stream.
            let still_allowed = |tx: tokio::sync::mpsc::Sender<Result<Alert>>| {
                let (ctl, token) = (ctl.clone(), token.clone());
                async move {
                    let checked = match ctl.authenticate(&token).await {
                        Ok(actor) => {
                            ctl.require_alert_reader(&actor, AuditAction::AlertsWatch)
                                .await
                        }
                        Err(e) => Err(e),
                    };
                    match checked {
                        Ok(()) => true,
                        // The store out of reach for a moment is not a refusal.
                        Err(Error::Unavailable(_)) => true,
                        Err(e) => {
                            let _ = tx.send(Err(e)).await;
                            false
                        }
                    }
                }
            };
            for a in backlog {
                // Written before the plate leaves; no entry, no alert.
                if let Err(e) = ctl.audit_delivery(&watcher, &a).await {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
                tokio::select! {
                    r = tx.send(Ok(a)) => if r.is_err() { return; },
                    _ = shutdown.cancelled() => return,
                }
            }
            loop {
                tokio::select! {
                    _ = tx.closed() => return,
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => if !still_allowed(tx.clone()).await { return; },
                    ev = w.next() => match ev {
                        Some(Ok(WatchEvent::Put(kv))) if kv.create_revision == kv.mod_revision => {
                            if let Ok(a) = serde_json::from_slice::<Alert>(&kv.value) {
                                if !still_allowed(tx.clone()).await { return; }
                                // Written before the plate leaves; no entry, no alert.
                                if let Err(e) = ctl.audit_delivery(&watcher, &a).await {
                                    let _ = tx.send(Err(e)).await;
                                    return;
                                }
                                if tx.send(Ok(a)).await.is_err() { return; }
                            }
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => { let _ = tx.send(Err(e)).await; return; }
                        None => return,
                    }
                }
            }
        });
        Ok(rx)
    }
}

/// The ops that store an alert beside its report (see `Fleet::store_report`).
pub fn alert_ops(
    agent: &str,
    key: &str,
    received_at: Timestamp,
    json: &serde_json::Value,
) -> Result<(Alert, Op)> {
    let report: AlertReport = serde_json::from_value(json.clone())
        .map_err(|e| Error::InvalidArgument(format!("alert report {key}: {e}")))?;
    let id = format!("{:013}-{agent}-{key}", received_at.as_millisecond());
    let alert = Alert {
        id: id.clone(),
        agent: agent.into(),
        received_at,
        status: "unverified".into(),
        report,
        steps: vec![],
        case_number: None,
    };
    let op = Op::Put(format!("{ALERTS}{id}"), serde_json::to_vec(&alert)?);
    Ok((alert, op))
}
