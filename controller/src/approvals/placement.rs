//! Placement compliance online: GIS layers and placement rules kept as numbered
//! versions in the store, verdicts recorded on placement requests at submission,
//! overrides of a verdict with a written justification, rechecks of the cameras
//! in service and the placement map. The rules themselves live in the
//! `camplane-placement` crate; this module only stores, versions and applies them.
//!
//! Store layout:
//! - `gis/layers/{layer}/{version:08}/{part:03}-{sha}-{attempt}`: the GeoJSON files
//!   of one version of a layer, byte for byte as loaded (not mirrored by the cache:
//!   they are large); `sha` is the content's hash prefix, `attempt` a tag of the
//!   write that stored them (versions before the tag was added lack it);
//! - `gis/rules/{version:08}/000-{sha}-{attempt}`: a rules YAML file;
//! - `meta/gis/{layer}`, `meta/gis/rules`: a small pointer record (current
//!   version and every kept version), mirrored by the cache so every replica
//!   sees a new version at once.
//!
//! A version stays as long as a placement request's verdict names it (the record
//! of what a decision was based on); other old versions are pruned when a new
//! one is loaded.

use super::verdict::{answer_json, request_of, CANNOT_CHECK};
use crate::core::audit::Draft;
use crate::core::auth::{Actor, Operation};
use crate::core::object::{KeyChange, KeyStep, KeyWrite};
use crate::core::store::Op;
use crate::core::{AuditAction, Controller};
use crate::{Error, Result};
use camplane_config::model::{
    CameraSpec, CameraState, Kind, PlacementRequestSpec, PlacementRequestStatus,
};
use camplane_placement::{
    check, Cancel, InvalidPolygons, LayerKind, LayerSet, Layers, Limits, PlacementError, Rules,
};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Every layer the spec names, in its order.
pub const LAYERS: [LayerKind; 5] = [
    LayerKind::Streets,
    LayerKind::CityProperty,
    LayerKind::OtherPublic,
    LayerKind::Kiosks,
    LayerKind::Residential,
];

/// The pseudo-layer name of the placement rules.
pub const RULES: &str = "rules";

/// Parses a layer name (`streets`, `city_property`, ...).
pub fn layer_kind(name: &str) -> Option<LayerKind> {
    LAYERS.into_iter().find(|k| k.as_str() == name)
}

pub(crate) fn pointer_key(name: &str) -> String {
    format!("meta/gis/{name}")
}

/// A file's key: its version, its place and a prefix of its hash, so two
/// controllers racing for one version number never overwrite each other's bytes.
pub(crate) fn part_key(
    name: &str,
    version: u64,
    part: usize,
    bytes: &[u8],
    attempt: &str,
) -> String {
    let h = hex::encode(&Sha256::digest(bytes)[..8]);
    if name == RULES {
        format!("gis/rules/{version:08}/{part:03}-{h}-{attempt}")
    } else {
        format!("gis/layers/{name}/{version:08}/{part:03}-{h}-{attempt}")
    }
}

/// One stored version of a layer (or of the rules).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerVersion {
    /// Its number, from 1.
    pub version: u64,
    /// The files it was loaded from, in order.
    pub files: Vec<String>,
    /// The store key of each file's bytes.
    pub keys: Vec<String>,
    /// Features in all its files (0 for rules).
    pub features: usize,
    /// Total size in bytes.
    pub bytes: u64,
    /// SHA-256 of the files' bytes, in order.
    pub sha256: String,
    /// Whether closed-but-invalid polygons are repaired when it is read.
    #[serde(default)]
    pub repair_polygons: bool,
    /// Who loaded it.
    pub loaded_by: String,
    /// When.
    pub loaded_at: Timestamp,
}

/// The record under `meta/gis/{layer}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LayerPointer {
    /// The version in use.
    pub current: u64,
    /// Every kept version, oldest first.
    pub versions: Vec<LayerVersion>,
}

impl LayerPointer {
    pub(crate) fn current_version(&self) -> Option<&LayerVersion> {
        self.versions.iter().find(|v| v.version == self.current)
    }
}

/// The layer and rule versions a verdict was computed with.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Versions {
    /// Layer name → version, for the layers loaded.
    pub layers: BTreeMap<String, u64>,
    /// Rules version; none: the spec's defaults.
    pub rules: Option<u64>,
}

/// Layers and rules ready for checks.
pub struct Built {
    /// The versions they were built from.
    pub versions: Versions,
    /// The layers.
    pub layers: Layers,
    /// The rules.
    pub rules: Rules,
}

/// The built layers, kept in memory and rebuilt when a version changes.
#[derive(Default)]
pub struct Engine {
    built: tokio::sync::Mutex<Option<Arc<Built>>>,
    /// Blocking placement jobs that stopped on their cancel flag.
    cancelled: std::sync::atomic::AtomicU64,
}

impl Engine {
    /// How many blocking placement jobs (layer checks, builds) stopped
    /// because their client went away or the server was stopping.
    pub fn cancelled_jobs(&self) -> u64 {
        self.cancelled.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The cancel flag of one piece of blocking placement work: set when this
/// guard is dropped (the request's future was dropped: its client hung up)
/// and when the server's shutdown token is cancelled, so neither waits on
/// the work.
pub(crate) struct WorkGuard {
    cancel: Cancel,
    watcher: tokio::task::JoinHandle<()>,
}

impl WorkGuard {
    fn new(shutdown: &tokio_util::sync::CancellationToken) -> WorkGuard {
        let cancel = Cancel::new();
        let (c, s) = (cancel.clone(), shutdown.clone());
        let watcher = tokio::spawn(async move {
            s.cancelled().await;
            c.cancel();
        });
        WorkGuard { cancel, watcher }
    }
}

impl Drop for WorkGuard {
    fn drop(&mut self) {
        self.cancel.cancel();
        self.watcher.abort();
    }
}

/// What a load or rules apply stored.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The new version's record.
    pub version: LayerVersion,
    /// Polygons repaired on load (`file, feature N: problem`).
    pub repairs: Vec<String>,
    /// Old versions removed.
    pub pruned: Vec<u64>,
}

/// One camera's recheck.
#[derive(Debug, Clone, Serialize)]
pub struct RecheckRow {
    /// Camera name.
    pub camera: String,
    /// Its state.
    pub state: CameraState,
    /// Its placement request.
    pub request: Option<String>,
    /// The verdict now.
    pub verdict: String,
    /// The verdict its placement request recorded, if any.
    pub was: Option<String>,
    /// Whether it is out of compliance now: not eligible, and not what its
    /// request was approved with.
    pub out_of_compliance: bool,
    /// The answer now (the spec's JSON).
    pub answer: Value,
    /// With a `residential_view` reason: what the camera's privacy masks
    /// cover, or that it has none ([`super::verdict::residential_view_masks`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privacy_masks: Option<String>,
}

#[derive(Deserialize)]
struct FeatureCount {
    features: Vec<serde::de::IgnoredAny>,
}

pub(crate) fn sha256_of(files: &[(String, Vec<u8>)]) -> String {
    let mut h = Sha256::new();
    for (_, b) in files {
        h.update(b);
    }
    hex::encode(h.finalize())
}

impl Engine {
    /// A placement error as the controller's: a cancellation stays one, and
    /// is counted (here, in the blocking job: the request's future may be
    /// gone already).
    fn cancelled_or(&self, e: PlacementError, what: &str) -> Error {
        match e {
            PlacementError::Cancelled => {
                self.cancelled
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Error::Cancelled(format!("{what}: {e}"))
            }
            e => Error::Internal(format!("{what}: {e}")),
        }
    }
}

impl Controller {
    pub(crate) fn pointer(&self, name: &str) -> Result<(LayerPointer, i64)> {
        match self.cache.get(&pointer_key(name)) {
            Some(kv) => Ok((serde_json::from_slice(&kv.value)?, kv.mod_revision)),
            None => Ok((LayerPointer::default(), 0)),
        }
    }

    /// The versions in use now.
    pub fn placement_versions(&self) -> Result<Versions> {
        let mut v = Versions::default();
        for k in LAYERS {
            let (p, _) = self.pointer(k.as_str())?;
            if p.current > 0 {
                v.layers.insert(k.as_str().into(), p.current);
            }
        }
        let (r, _) = self.pointer(RULES)?;
        v.rules = (r.current > 0).then_some(r.current);
        Ok(v)
    }

    /// Versions of `name` that some placement request's verdict names.
    pub(crate) fn referenced_versions(&self, name: &str) -> Result<BTreeSet<u64>> {
        let mut out = BTreeSet::new();
        for (o, _) in self.list(Kind::PlacementRequest)? {
            let st: PlacementRequestStatus = o.status_as();
            let Some(v) = st.verdict else { continue };
            let n = if name == RULES {
                v["rules"].as_u64()
            } else {
                v["layers"][name].as_u64()
            };
            out.extend(n);
        }
        Ok(out)
    }

    pub(crate) async fn read_parts(
        &self,
        name: &str,
        v: &LayerVersion,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let mut out = Vec::new();
        for (file, key) in v.files.iter().zip(&v.keys) {
            let kv = self.store.get(key).await?.ok_or_else(|| {
                Error::Internal(format!("{name} version {} is missing {key}", v.version))
            })?;
            out.push((file.clone(), kv.value.to_vec()));
        }
        Ok(out)
    }

    /// The layers and rules in use, built (once per set of versions); `None`
    /// when no streets layer is loaded.
    pub async fn placement_built(&self) -> Result<Option<Arc<Built>>> {
        let versions = self.placement_versions()?;
        if !versions.layers.contains_key(LayerKind::Streets.as_str()) {
            return Ok(None);
        }
        let engine = self.wing::<Engine>();
        let mut g = engine.built.lock().await;
        if let Some(b) = g.as_ref().filter(|b| b.versions == versions) {
            return Ok(Some(b.clone()));
        }
        let mut inputs = Vec::new();
        for k in LAYERS {
            let (p, _) = self.pointer(k.as_str())?;
            if let Some(v) = p.current_version() {
                inputs.push((k, v.repair_polygons, self.read_parts(k.as_str(), v).await?));
            }
        }
        let (rp, _) = self.pointer(RULES)?;
        let rules_file = match rp.current_version() {
            Some(v) => self.read_parts(RULES, v).await?.into_iter().next(),
            None => None,
        };
        let vs = versions.clone();
        let limits = Limits::from(&self.config.placement);
        let work = WorkGuard::new(&self.shutdown);
        let cancel = work.cancel.clone();
        let engine_ = engine.clone();
        let built = tokio::task::spawn_blocking(move || -> Result<Built> {
            let rules = match rules_file {
                Some((name, bytes)) => Rules::from_yaml(&bytes, &name)
                    .map_err(|e| Error::Internal(format!("stored rules: {e}")))?,
                None => Rules::default(),
            };
            let mut set = LayerSet::with_limits(limits).cancel_with(cancel);
            for (k, repair, files) in inputs {
                let how = if repair {
                    InvalidPolygons::Repair
                } else {
                    InvalidPolygons::Refuse
                };
                for (name, bytes) in files {
                    set.add_file_with(k, &name, &bytes, how)
                        .map_err(|e| engine_.cancelled_or(e, "stored layer"))?;
                }
            }
            let layers = set
                .try_build(&rules)
                .map_err(|e| engine_.cancelled_or(e, "building layers"))?;
            Ok(Built {
                versions: vs,
                layers,
                rules,
            })
        })
        .await
        .map_err(|e| Error::Internal(format!("building layers: {e}")))?;
        drop(work);
        let built = Arc::new(built?);
        *g = Some(built.clone());
        Ok(Some(built))
    }

    /// The verdict recorded on a placement request at submission:
    /// `{"answer": {...}, "layers": {...}, "rules": n}`; when it could not be
    /// checked, the answer's verdict is `cannot_check` with a reason and a
    /// `note` (placement fails closed: approval then needs an override).
    pub async fn placement_verdict(&self, name: &str, spec: &PlacementRequestSpec) -> Value {
        let cannot = |reason: &str, note: String| json!({"answer": {"verdict": CANNOT_CHECK, "reasons": [reason]}, "note": note});
        let built = match self.placement_built().await {
            Ok(Some(b)) => b,
            Ok(None) => {
                return cannot(
                    "no_streets_layer",
                    "cannot check: no streets layer is loaded (`camplane gis load --layer streets FILE`)".into(),
                )
            }
            Err(e) => {
                tracing::warn!(error = %e, "placement layers could not be built");
                return cannot("layers_unavailable", format!("cannot check: {e}"));
            }
        };
        let mut v = match request_of(name, spec) {
            Ok(req) => json!({"answer": answer_json(&check(&built.layers, &built.rules, &req))}),
            Err(e) => cannot("invalid_request", format!("cannot check: {}", e.message)),
        };
        // A request for a registered camera: its residential_view reason says
        // what the camera's privacy masks cover.
        let masks = spec
            .camera
            .as_deref()
            .and_then(|c| self.load(Kind::Camera, c).ok())
            .and_then(|o| o.spec_as::<CameraSpec>().ok())
            .map(|c| c.privacy_masks)
            .unwrap_or_default();
        if let Some(n) = super::verdict::residential_view_masks(&v["answer"], &masks) {
            v["privacy_masks"] = json!(n);
        }
        v["layers"] = json!(built.versions.layers);
        v["rules"] = json!(built.versions.rules);
        v
    }

    /// Stores a new version of `name` (a layer or the rules) and prunes old
    /// versions that no placement request names. The files' bytes are written
    /// first, then one audited transaction publishes the version in the
    /// pointer and removes the pruned versions' bytes: a reader never sees a
    /// version whose bytes are missing, and the large values stay out of the
    /// audit log and the cache.
    pub(crate) async fn store_version(
        &self,
        actor: &Actor,
        name: &str,
        files: Vec<(String, Vec<u8>)>,
        features: usize,
        repair_polygons: bool,
        repairs: Vec<String>,
    ) -> Result<Loaded> {
        let sha256 = sha256_of(&files);
        let bytes: u64 = files.iter().map(|(_, b)| b.len() as u64).sum();
        let kind = if name == RULES {
            "PlacementRules"
        } else {
            "GisLayer"
        };
        let action = if name == RULES {
            AuditAction::RulesApply
        } else {
            AuditAction::GisLoad
        };
        let key = pointer_key(name);
        let r = self
            .update_key(&key, |kv| {
                let (old, rev): (LayerPointer, i64) = match kv {
                    Some(kv) => (serde_json::from_slice(&kv.value)?, kv.mod_revision),
                    None => (LayerPointer::default(), 0),
                };
                let version = old.versions.iter().map(|v| v.version).max().unwrap_or(0) + 1;
                // A fresh tag per attempt: an attempt that loses deletes exactly
                // what it wrote, never the winner's bytes.
                let attempt = hex::encode(rand::random::<[u8; 4]>());
                let record = LayerVersion {
                    version,
                    files: files.iter().map(|(n, _)| n.clone()).collect(),
                    keys: files
                        .iter()
                        .enumerate()
                        .map(|(i, (_, b))| part_key(name, version, i, b, &attempt))
                        .collect(),
                    features,
                    bytes,
                    sha256: sha256.clone(),
                    repair_polygons,
                    loaded_by: actor.username.clone(),
                    loaded_at: self.clock.now(),
                };
                let referenced = self.referenced_versions(name)?;
                let (kept, pruned): (Vec<LayerVersion>, Vec<LayerVersion>) = old
                    .versions
                    .iter()
                    .cloned()
                    .partition(|v| referenced.contains(&v.version));
                let mut new = LayerPointer {
                    current: version,
                    versions: kept,
                };
                new.versions.push(record.clone());
                let staged: Vec<Op> = files
                    .iter()
                    .zip(&record.keys)
                    .map(|((_, b), k)| Op::Put(k.clone(), b.clone()))
                    .collect();
                let ops: Vec<Op> = pruned
                    .iter()
                    .flat_map(|p| p.keys.iter().map(|k| Op::Delete(k.clone())))
                    .collect();
                let pruned: Vec<u64> = pruned.iter().map(|p| p.version).collect();
                let mut d = Draft::new(&actor.username, action, kind, name);
                d.before = (rev > 0).then(|| json!(old));
                d.after = Some(json!(new));
                d.details = json!({"version": version, "files": record.files, "features": features,
                    "bytes": bytes, "sha256": sha256, "repairs": repairs, "pruned": pruned});
                let change = KeyChange {
                    value: KeyWrite::Put(serde_json::to_vec(&new)?),
                    draft: d,
                    ops,
                    staged,
                };
                let loaded = Loaded {
                    version: record,
                    repairs: repairs.clone(),
                    pruned,
                };
                Ok(KeyStep::Write(Box::new(change), loaded))
            })
            .await;
        match r {
            Err(Error::Conflict(_)) => {
                Err(Error::Conflict(format!("{name} kept changing; try again")))
            }
            r => r,
        }
    }

    pub(crate) async fn refuse(
        &self,
        actor: &Actor,
        action: AuditAction,
        name: &str,
        msg: String,
    ) -> Result<Error> {
        let mut d = Draft::new(&actor.username, action, "", name);
        d.result = format!("refused: {msg}");
        self.audit.record(d).await?;
        Ok(Error::InvalidArgument(msg))
    }

    /// `camplane gis load`: validates the files with the placement library (the
    /// whole version is refused, naming file and feature, if any is bad) and
    /// stores them as the layer's new version.
    pub async fn load_layer(
        &self,
        actor: &Actor,
        layer: &str,
        files: Vec<(String, Vec<u8>)>,
        repair_polygons: bool,
    ) -> Result<Loaded> {
        self.require(actor, Operation::ManagePlacement, AuditAction::GisLoad)
            .await?;
        let Some(kind) = layer_kind(layer) else {
            let names: Vec<&str> = LAYERS.iter().map(|k| k.as_str()).collect();
            return Err(Error::InvalidArgument(format!(
                "unknown layer {layer:?} (one of {})",
                names.join(", ")
            )));
        };
        if files.is_empty() {
            return Err(Error::InvalidArgument("give at least one file".into()));
        }
        let limits = Limits::from(&self.config.placement);
        let work = WorkGuard::new(&self.shutdown);
        let cancel = work.cancel.clone();
        let engine = self.wing::<Engine>();
        let (files, checked) = tokio::task::spawn_blocking(move || {
            let mut set = LayerSet::with_limits(limits).cancel_with(cancel);
            let how = if repair_polygons {
                InvalidPolygons::Repair
            } else {
                InvalidPolygons::Refuse
            };
            let mut repairs = Vec::new();
            let mut features = 0;
            for (name, bytes) in &files {
                match set.add_file_with(kind, name, bytes, how) {
                    Ok(rs) => repairs.extend(
                        rs.into_iter()
                            .map(|r| format!("{name}, feature {}: {}", r.feature, r.problem)),
                    ),
                    Err(PlacementError::Cancelled) => {
                        return (
                            files,
                            Err(engine.cancelled_or(PlacementError::Cancelled, "checking layer")),
                        )
                    }
                    Err(e) => return (files, Err(Error::InvalidArgument(e.to_string()))),
                }
                features += serde_json::from_slice::<FeatureCount>(bytes)
                    .map(|f| f.features.len())
                    .unwrap_or(0);
            }
            (files, Ok((features, repairs)))
        })
        .await
        .map_err(|e| Error::Internal(format!("checking layer: {e}")))?;
        drop(work);
        let (features, repairs) = match checked {
            Ok(x) => x,
            Err(e @ Error::Cancelled(_)) => return Err(e),
            Err(e) => {
                let msg = match e {
                    Error::InvalidArgument(m) => m,
                    e => e.to_string(),
                };
                return Err(self
                    .refuse(
                        actor,
                        AuditAction::GisLoad,
                        layer,
                        format!("{msg}; nothing was stored"),
                    )
                    .await?);
            }
        };
        self.store_version(actor, layer, files, features, repair_polygons, repairs)
            .await
    }

    /// `camplane rules apply`: validates a rules file and stores it as the new
    /// rules version.
    pub async fn apply_rules(&self, actor: &Actor, file: &str, bytes: Vec<u8>) -> Result<Loaded> {
        self.require(actor, Operation::ManagePlacement, AuditAction::RulesApply)
            .await?;
        if let Err(e) = Rules::from_yaml(&bytes, file) {
            return Err(self
                .refuse(
                    actor,
                    AuditAction::RulesApply,
                    RULES,
                    format!("{e}; nothing was stored"),
                )
                .await?);
        }
        self.store_version(
            actor,
            RULES,
            vec![(file.to_string(), bytes)],
            0,
            false,
            vec![],
        )
        .await
    }

    /// `camplane gis list`: every layer and the rules, with their kept versions.
    pub async fn gis_list(&self, actor: &Actor) -> Result<Value> {
        self.require(actor, Operation::ReadObjects, AuditAction::GisList)
            .await?;
        let mut out = Vec::new();
        let names = LAYERS.iter().map(|k| k.as_str()).chain([RULES]);
        for name in names {
            let (p, _) = self.pointer(name)?;
            let referenced = self.referenced_versions(name)?;
            out.push(json!({
                "layer": name,
                "current": (p.current > 0).then_some(p.current),
                "versions": p.versions,
                "referenced": referenced,
            }));
        }
        Ok(Value::Array(out))
    }
}
