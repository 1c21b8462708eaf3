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

use crate::core::audit::Draft;
use crate::core::auth::{Actor, Operation};
use crate::core::store::{Op, WatchEvent};
use crate::core::AuditAction;
use crate::core::Controller;
use crate::core::{KeyChange, KeyStep, KeyWrite, Refusal};
use crate::{Error, Result};
use camplane_config::hotlist::*;
use futures::StreamExt;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

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
struct ListData {
    version: u64,
    entries: BTreeMap<String, HotlistEntry>,
}

/// [`ListData`] as written (borrowing the entries).
#[derive(Serialize)]
struct ListDataRef<'a> {
    version: u64,
    entries: &'a BTreeMap<String, HotlistEntry>,
}

/// How a load combines with the current list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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
    /// Every list's current version.
    pub fn hotlists(&self) -> Vec<HotlistInfo> {
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

    /// Lists and sources, for `camplane hotlist list`.
    pub async fn list_hotlists(
        &self,
        actor: &Actor,
    ) -> Result<(Vec<HotlistInfo>, Vec<SourceInfo>)> {
        self.require(actor, Operation::ReadHotlists, AuditAction::HotlistList)
            .await?;
        Ok((self.hotlists(), self.hotlist_sources()))
    }

    /// Loads a hotlist file. Bad rows are reported and the good ones loaded; a
    /// file with no good row changes nothing and is refused.
    pub async fn load_hotlist(&self, actor: &Actor, req: LoadRequest) -> Result<LoadOutcome> {
        self.require(actor, Operation::ManageHotlists, AuditAction::HotlistLoad)
            .await?;
        if req.csv.len() > MAX_FILE {
            return Err(Error::InvalidArgument(format!(
                "{}: {} bytes; at most {MAX_FILE}",
                req.file,
                req.csv.len()
            )));
        }
        let text = std::str::from_utf8(&req.csv)
            .map_err(|e| Error::InvalidArgument(format!("{}: not UTF-8 text ({e})", req.file)))?;
        let now = self.now();
        let parsed = parse_csv(text, &req.columns, now)
            .map_err(|e| Error::InvalidArgument(format!("{}: {e}", req.file)))?;
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
        let list = list_name(req.source, req.category);
        let sha = hex::encode(Sha256::digest(&req.csv));
        let source_key = format!("{SOURCES}{}", req.source.as_str());
        let cur_public = self
            .hotlist_sources()
            .iter()
            .find(|s| s.source == req.source)
            .is_none_or(|s| s.public);
        let public = req.public.unwrap_or(cur_public);
        let first_loaded_at = self
            .hotlists()
            .into_iter()
            .find(|h| h.list == list)
            .map(|h| h.first_loaded_at.unwrap_or(h.loaded_at))
            .or(Some(now));
        let (ikey, dkey) = (info_key(&list), format!("{DATA}{list}"));
        // The pointer and the entries are read, decided on and compared together:
        // a load that lands meanwhile makes this one start again from it.
        self.update_keys(&[ikey.as_str(), dkey.as_str()], |kvs| {
            let data: ListData = match &kvs[1] {
                Some(kv) => serde_json::from_slice(&kv.value)?,
                None => ListData {
                    version: 0,
                    entries: BTreeMap::new(),
                },
            };
            let next = match req.mode {
                LoadMode::Replace => parsed.entries.clone(),
                LoadMode::Add => {
                    let mut next = data.entries.clone();
                    next.extend(parsed.entries.clone());
                    next
                }
                LoadMode::Remove => {
                    let mut next = data.entries.clone();
                    for k in parsed.entries.keys() {
                        next.remove(k);
                    }
                    next
                }
            };
            let delta = HotlistDelta::between(&data.entries, &next);
            let mut ops = Vec::new();
            if req.public.is_some_and(|p| p != cur_public) {
                ops.push(Op::Put(
                    source_key.clone(),
                    serde_json::to_vec(&SourceInfo {
                        source: req.source,
                        public,
                        set_by: actor.username.clone(),
                        set_at: now,
                    })?,
                ));
            }
            let version = if delta.is_empty() && data.version > 0 {
                data.version
            } else {
                data.version + 1
            };
            let mut value = KeyWrite::Leave;
            if version != data.version {
                let info = HotlistInfo {
                    list: list.clone(),
                    source: req.source,
                    category: req.category,
                    version,
                    entries: next.len(),
                    loaded_by: actor.username.clone(),
                    loaded_at: now,
                    first_loaded_at,
                    file: req.file.clone(),
                    sha256: sha.clone(),
                };
                value = KeyWrite::Put(serde_json::to_vec(&info)?);
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
            let mut d = Draft::new(&actor.username, AuditAction::HotlistLoad, "Hotlist", &list);
            d.details = serde_json::json!({
                "file": req.file, "sha256": sha, "mode": format!("{:?}", req.mode).to_lowercase(),
                "version": version, "entries": next.len(), "upserted": delta.upsert.len(),
                "removed": delta.remove.len(), "bad_rows": parsed.bad.len(), "public": public,
            });
            let outcome = LoadOutcome {
                list: list.clone(),
                version,
                entries: next.len(),
                upserted: delta.upsert.len(),
                removed: delta.remove.len(),
                bad_rows: parsed.bad.clone(),
                public,
            };
            let change = KeyChange {
                value,
                draft: d,
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
        })
    }

    /// Alerts received at or after `since`, oldest first.
    pub async fn alerts(&self, actor: &Actor, since: Option<Timestamp>) -> Result<Vec<Alert>> {
        self.require_alert_reader(actor, AuditAction::AlertsList)
            .await?;
        let l = self.store.list(ALERTS).await?;
        let out: Vec<Alert> = l
            .kvs
            .iter()
            .filter_map(|kv| serde_json::from_slice::<Alert>(&kv.value).ok())
            .filter(|a| since.is_none_or(|s| a.received_at >= s))
            .collect();
        let mut d = Draft::new(&actor.username, AuditAction::AlertsList, "Alert", "");
        d.details = serde_json::json!({ "since": since, "alerts": out.len() });
        self.audit.record(d).await?;
        Ok(out)
    }

    /// Alerts are ALPR data: reading them takes the role and, like a search,
    /// training, a valid certification and the current acknowledgement. A
    /// refusal is audited under `what`.
    async fn require_alert_reader(&self, actor: &Actor, what: AuditAction) -> Result<()> {
        self.require(actor, Operation::ReceiveAlerts, what).await?;
        match self.check_qualified(actor) {
            Ok(()) => {}
            Err(Error::PermissionDenied(msg)) => {
                let r = Refusal::denied(actor, what, "Alert", "", msg);
                return Err(self.record_refusal(r).await);
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Streams alerts: those received since `since` (if given), then each new
    /// one as it arrives, until the receiver is dropped.
    pub async fn watch_alerts(
        self: &Arc<Self>,
        actor: &Actor,
        since: Option<Timestamp>,
    ) -> Result<tokio::sync::mpsc::Receiver<Result<Alert>>> {
        self.require_alert_reader(actor, AuditAction::AlertsWatch)
            .await?;
        let mut d = Draft::new(&actor.username, AuditAction::AlertsWatch, "Alert", "");
        d.details = serde_json::json!({ "since": since });
        self.audit.record(d).await?;
        let l = self.store.list(ALERTS).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        for kv in &l.kvs {
            if let Ok(a) = serde_json::from_slice::<Alert>(&kv.value) {
                if since.is_some_and(|s| a.received_at >= s) && tx.send(Ok(a)).await.is_err() {
                    return Ok(rx);
                }
            }
        }
        let mut w = self.store.watch(ALERTS, l.revision + 1).await?;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tx.closed() => return,
                    ev = w.next() => match ev {
                        Some(Ok(WatchEvent::Put(kv))) if kv.create_revision == kv.mod_revision => {
                            if let Ok(a) = serde_json::from_slice::<Alert>(&kv.value) {
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
