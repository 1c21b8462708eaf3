//! The hotlists an agent holds: applied from the controller's updates (whole
//! lists or deltas), persisted under the data directory so matching goes on
//! while the controller is away, and matched against every merged read.

use camplane_config::hotlist::{HitCategory, HotlistEntry, HotlistSource, HotlistUpdate};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// One list as held.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeldList {
    /// Source.
    pub source: HotlistSource,
    /// Category.
    pub category: HitCategory,
    /// Version held.
    pub version: u64,
    /// Entries by key (`PLATE/STATE`).
    pub entries: BTreeMap<String, HotlistEntry>,
    /// When the whole list lapses (a custom or investigative list bound to a
    /// case): from then on it matches nothing, by the agent's own clock, even
    /// if the controller that would drop it is out of reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Timestamp>,
}

impl HeldList {
    /// Whether the list matches reads at `now`.
    pub fn live(&self, now: Timestamp) -> bool {
        self.expires.is_none_or(|e| e > now)
    }
}

/// A read's match on one list.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// List name.
    pub list: String,
    /// Source.
    pub source: HotlistSource,
    /// Category.
    pub category: HitCategory,
    /// Version matched against.
    pub version: u64,
    /// The entry.
    pub entry: HotlistEntry,
}

/// What applying an update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Now at this version (0: the list was dropped).
    Version(u64),
    /// A delta for another base: the agent holds this version and needs the whole list.
    NeedsFull(u64),
}

/// The agent's hotlists; cheap to clone, shared by the session and the reader.
#[derive(Clone, Default)]
pub struct Hotlists {
    /// Lists by name; entries are keyed `PLATE/STATE`, so one plate's entries
    /// are a contiguous range.
    inner: Arc<RwLock<BTreeMap<String, HeldList>>>,
    path: Option<PathBuf>,
}

impl Hotlists {
    /// Empty, not persisted (tests, `alpr read`).
    pub fn in_memory() -> Hotlists {
        Hotlists {
            inner: Arc::default(),
            path: None,
        }
    }

    /// Loads `dir/hotlists.json` if present. A file that cannot be read is set
    /// aside (`.bad`) and the agent starts empty: the controller resends whole lists.
    pub fn open(dir: &Path) -> Hotlists {
        let path = dir.join("hotlists.json");
        let mut lists = BTreeMap::new();
        match std::fs::read(&path) {
            Ok(b) => match serde_json::from_slice::<BTreeMap<String, HeldList>>(&b) {
                Ok(l) => lists = l,
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "hotlists unreadable; set aside, asking for whole lists");
                    let _ = std::fs::rename(&path, path.with_extension("json.bad"));
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(file = %path.display(), error = %e, "hotlists unreadable"),
        }
        Hotlists {
            inner: Arc::new(RwLock::new(lists)),
            path: Some(path),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, HeldList>> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    /// List name -> version held.
    pub fn versions(&self) -> HashMap<String, u64> {
        self.read()
            .iter()
            .map(|(k, l)| (k.clone(), l.version))
            .collect()
    }

    /// Entries held across all lists.
    pub fn len(&self) -> usize {
        self.read().values().map(|l| l.entries.len()).sum()
    }

    /// Whether no list holds anything.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies an update and persists the result before returning.
    pub fn apply(&self, u: &HotlistUpdate) -> crate::Result<Applied> {
        let mut g = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let outcome = if u.deleted {
            g.remove(&u.list);
            Applied::Version(0)
        } else if u.base_version == 0 {
            let mut entries = BTreeMap::new();
            for e in &u.delta.upsert {
                entries.insert(e.key(), e.clone());
            }
            g.insert(
                u.list.clone(),
                HeldList {
                    source: u.source,
                    category: u.category,
                    version: u.version,
                    entries,
                    expires: u.expires,
                },
            );
            Applied::Version(u.version)
        } else {
            match g.get_mut(&u.list) {
                Some(l) if l.version == u.base_version => {
                    u.delta.apply(&mut l.entries);
                    l.version = u.version;
                    l.expires = u.expires;
                    Applied::Version(u.version)
                }
                Some(l) if l.version == u.version => return Ok(Applied::Version(l.version)),
                Some(_) | None => {
                    // Not the base we hold: drop it and ask for the whole list.
                    g.remove(&u.list);
                    Applied::NeedsFull(0)
                }
            }
        };
        if let Some(p) = &self.path {
            let bytes = serde_json::to_vec(&*g)
                .map_err(|e| crate::AgentError::Control(format!("hotlists: {e}")))?;
            // Plates on hotlists are not public: owner-only file.
            crate::fs::write_atomic(p, &bytes, true)?;
        }
        Ok(outcome)
    }

    /// Every live entry matching `plate` (exact, normalised), one per live
    /// list (a lapsed list matches nothing).
    pub fn matches(&self, plate: &str, now: Timestamp) -> Vec<Hit> {
        let prefix = format!("{plate}/");
        let mut out = Vec::new();
        for (n, l) in self.read().iter().filter(|(_, l)| l.live(now)) {
            if let Some(e) = l
                .entries
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .map(|(_, e)| e)
                .find(|e| e.live(now))
            {
                out.push(Hit {
                    list: n.clone(),
                    source: l.source,
                    category: l.category,
                    version: l.version,
                    entry: e.clone(),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use camplane_config::hotlist::HotlistDelta;

    fn e(p: &str, exp: Option<&str>) -> HotlistEntry {
        HotlistEntry {
            plate: p.into(),
            state: Some("IA".into()),
            reason: None,
            expires: exp.map(|s| s.parse().unwrap()),
        }
    }

    fn upd(base: u64, v: u64, up: Vec<HotlistEntry>, rm: Vec<&str>) -> HotlistUpdate {
        HotlistUpdate {
            list: "ncic.stolen_vehicle".into(),
            source: HotlistSource::Ncic,
            category: HitCategory::StolenVehicle,
            base_version: base,
            version: v,
            deleted: false,
            delta: HotlistDelta {
                upsert: up,
                remove: rm.into_iter().map(String::from).collect(),
            },
            expires: None,
        }
    }

    /// A case-bound list lapses at its expiry on the agent's own clock: no
    /// controller is asked, and a restart (from the persisted file) keeps it.
    /// An extension (a new version with a later expiry) revives it.
    #[test]
    fn a_case_list_stops_matching_at_its_expiry_without_the_controller() {
        let dir = tempfile::tempdir().unwrap();
        let h = Hotlists::open(dir.path());
        let t = |s: &str| -> Timestamp { s.parse().unwrap() };
        let mut u = upd(0, 1, vec![e("INV1", None)], vec![]);
        u.list = "custom.investigative.26-01234".into();
        u.source = HotlistSource::Custom;
        u.category = HitCategory::Investigative;
        u.expires = Some(t("2026-06-10T00:00:00Z"));
        h.apply(&u).unwrap();
        // The legitimate path: it matches before its expiry.
        assert_eq!(h.matches("INV1", t("2026-06-09T23:59:59Z")).len(), 1);
        // The side door: the controller is gone, the list is still held, and
        // the clock passes the expiry; nothing matches, before or after a restart.
        assert!(h.matches("INV1", t("2026-06-10T00:00:00Z")).is_empty());
        let again = Hotlists::open(dir.path());
        assert_eq!(again.versions()["custom.investigative.26-01234"], 1);
        assert!(again.matches("INV1", t("2026-06-11T00:00:00Z")).is_empty());
        // A delta carries the list's new expiry (an approved extension).
        let mut ext = upd(1, 2, vec![], vec![]);
        ext.list = u.list.clone();
        ext.expires = Some(t("2026-06-20T00:00:00Z"));
        again.apply(&ext).unwrap();
        assert_eq!(again.matches("INV1", t("2026-06-11T00:00:00Z")).len(), 1);
        assert!(again.matches("INV1", t("2026-06-20T00:00:01Z")).is_empty());
    }

    #[test]
    fn full_then_delta_then_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let h = Hotlists::open(dir.path());
        let now: Timestamp = "2026-06-01T00:00:00Z".parse().unwrap();
        assert_eq!(
            h.apply(&upd(
                0,
                3,
                vec![e("ABC123", None), e("OLD1", Some("2026-01-01T00:00:00Z"))],
                vec![]
            ))
            .unwrap(),
            Applied::Version(3)
        );
        assert_eq!(h.matches("ABC123", now).len(), 1);
        assert!(
            h.matches("OLD1", now).is_empty(),
            "expired entries never match"
        );
        assert!(h.matches("ABC12", now).is_empty());
        h.apply(&upd(3, 4, vec![e("NEW9", None)], vec!["ABC123/IA"]))
            .unwrap();
        assert!(h.matches("ABC123", now).is_empty());
        assert_eq!(h.matches("NEW9", now)[0].version, 4);
        // A delta for a base we do not hold asks for the whole list.
        assert_eq!(
            h.apply(&upd(7, 8, vec![], vec![])).unwrap(),
            Applied::NeedsFull(0)
        );
        assert!(h.versions().is_empty());
        h.apply(&upd(0, 8, vec![e("KEEP1", None)], vec![])).unwrap();
        let again = Hotlists::open(dir.path());
        assert_eq!(again.versions()["ncic.stolen_vehicle"], 8);
        assert_eq!(again.matches("KEEP1", now).len(), 1);
        // A corrupt file is set aside; the agent starts empty.
        std::fs::write(dir.path().join("hotlists.json"), b"{not json").unwrap();
        assert!(Hotlists::open(dir.path()).versions().is_empty());
        assert!(dir.path().join("hotlists.json.bad").exists());
    }
}
